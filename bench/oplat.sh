#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Single metadata operations (bench/oplat.c: fchmod, fchown, create +
# close, unlink, stat of a missing name), two builds side by side: a
# cluster of each (one chunk server, one copy) up at once, measured in
# alternation, ROUNDS rounds of N operations each; medians of the rounds'
# means, in microseconds.
#
# usage: ZCFS_A=old/build/zcfs ZCFS_B=build/zcfs bench/oplat.sh [ROUNDS] [N]
#        (defaults: 10, 300; ZCFS_A and ZCFS_B default to build/zcfs)
set -euo pipefail
ROUNDS=${1:-10}
N=${2:-300}
. "$(dirname "$0")/lib.sh"
A=${ZCFS_A:-$ZCFS}
B=${ZCFS_B:-$ZCFS}
trap '"$A" down --dir "$T/a" >/dev/null 2>&1; "$B" down --dir "$T/b" >/dev/null 2>&1; cleanup' EXIT

cc -O2 -Wall -o "$T/oplat" "$ROOT/bench/oplat.c"
log "starting a cluster of $A and one of $B"
"$A" up --dir "$T/a" --mount "$T/ma" --cs 1 --replicas 1 >/dev/null
"$B" up --dir "$T/b" --mount "$T/mb" --cs 1 --replicas 1 >/dev/null
for r in $(seq 1 "$ROUNDS"); do
	log "round $r of $ROUNDS"
	for t in a b; do
		"$T/oplat" "$T/m$t" "$N" | sed "s/^/$t /" >> "$T/raw"
	done
done
med() { awk -v t="$1" -v o="$2" '$1 == t && $2 == o { print $3 }' "$T/raw" | sort -n |
	awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "A: $A"
echo "B: $B"
echo "$N operations a round, medians of $ROUNDS rounds (us)."
echo
echo "| operation | A | B | B / A |"
echo "|---|---:|---:|---:|"
for op in fchmod fchown create unlink lookup-missing; do
	a=$(med a "$op")
	b=$(med b "$op")
	echo "| $op | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a ? b / a : 0 }') |"
done
