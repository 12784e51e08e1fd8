#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Small files, as everyday work makes them: N files of 4 KiB copied in one
# by one (lookup, create, write, close), read back with cat, then removed
# with rm -rf; on zcfs (one chunk server, one copy) and on a local folder
# of the disk under /tmp as the baseline, in the same run.  Files per
# second, medians over RUNS runs, targets interleaved.
#
# usage: bench/smallfiles.sh [RUNS] [N]      (defaults: 3, 1000)
set -euo pipefail
RUNS=${1:-3}
N=${2:-1000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ZCFS=${ZCFS:-$ROOT/build/zcfs}
T=$(mktemp -d /tmp/zcfs-sbench.XXXXXX)

cleanup() {
	set +e
	"$ZCFS" down --dir "$T/d" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT

"$ZCFS" up --dir "$T/d" --mount "$T/zc" --cs 1 --replicas 1 >/dev/null
mkdir -p "$T/local"
head -c 4096 /dev/urandom > "$T/src"
now() { date +%s%N; }
rate() { echo $(( N * 1000000000 / ($2 - $1) )); }
: > "$T/raw"
for r in $(seq 1 "$RUNS"); do
	echo "bench: small files run $r of $RUNS" >&2
	for tgt in zc local; do
		d=$T/$tgt/r$r
		mkdir "$d"
		s=$(now)
		for i in $(seq 1 "$N"); do cp "$T/src" "$d/f$i"; done
		e=$(now)
		echo "$tgt create $(rate "$s" "$e")" >> "$T/raw"
		sync
		s=$(now)
		for i in $(seq 1 "$N"); do cat "$d/f$i" > /dev/null; done
		e=$(now)
		echo "$tgt read $(rate "$s" "$e")" >> "$T/raw"
		s=$(now)
		rm -rf "$d"
		e=$(now)
		echo "$tgt remove $(rate "$s" "$e")" >> "$T/raw"
	done
done
med() { awk -v t="$1" -v o="$2" '$1 == t && $2 == o { print $3 }' "$T/raw" | sort -n |
	awk '{ a[NR] = $1 } END { print NR % 2 ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
echo "$N files of 4 KiB, files per second, medians of $RUNS runs:"
echo
echo "| step | zcfs | local | zcfs / local |"
echo "|---|---:|---:|---:|"
for op in create read remove; do
	z=$(med zc $op)
	l=$(med local $op)
	echo "| $op | $z | $l | $(awk -v z="$z" -v l="$l" 'BEGIN { printf "%.2f", z / l }') |"
done
