#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Parallel creates: P processes at once, each creating N empty files in a
# folder of its own (open O_CREAT + close, no data), on one mount of a
# cluster with one chunk server and one copy; files per second, all
# processes together, medians over RUNS runs.  A second build (ZCFS_B)
# runs on a cluster of its own, interleaved run by run with the first, so
# that a shared machine's noise falls on both.  With SLOW_FSYNC_US=2000
# every fsync of the clusters takes 2 ms more (bench/slow_fsync.c): what
# group commit buys on a disk slower to flush than this one.  The mds's
# commits and changes committed (zcfs status --json) are printed for the
# builds that count them.
#
# usage: [ZCFS=build/zcfs] [ZCFS_B=other/zcfs] [SLOW_FSYNC_US=US]
#        bench/pcreate.sh [RUNS] [P] [N]          (defaults: 3, 4, 1000)
set -euo pipefail
RUNS=${1:-3}
P=${2:-4}
N=${3:-1000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ZCFS=${ZCFS:-$ROOT/build/zcfs}
T=$(mktemp -d /tmp/zcfs-pcreate.XXXXXX)
BINS=("$ZCFS")
[ -n "${ZCFS_B:-}" ] && BINS+=("$ZCFS_B")
log() { echo "bench: $*" >&2; }

cleanup() {
	set +e
	for i in "${!BINS[@]}"; do "${BINS[$i]}" down --dir "$T/d$i" >/dev/null 2>&1; done
	rm -rf "$T"
}
trap cleanup EXIT

PRELOAD=
if [ -n "${SLOW_FSYNC_US:-}" ]; then
	cc -O2 -shared -fPIC -o "$T/slow_fsync.so" "$ROOT/bench/slow_fsync.c" -ldl
	PRELOAD=$T/slow_fsync.so
	export SLOW_FSYNC_US
	log "every fsync takes $SLOW_FSYNC_US us more"
fi
for i in "${!BINS[@]}"; do
	log "starting a cluster of ${BINS[$i]} (1 chunk server, 1 copy)"
	LD_PRELOAD=$PRELOAD "${BINS[$i]}" up --dir "$T/d$i" --mount "$T/m$i" --cs 1 --replicas 1 \
		>/dev/null
done
now() { date +%s%N; }
mk() { local i; for ((i = 0; i < N; i++)); do : > "$1/f$i"; done; }
counts() {
	"${BINS[$1]}" status --dir "$T/d$1" --json 2>/dev/null |
		sed -n 's/.*"commits":\([0-9]*\),"changes_committed":\([0-9]*\).*/\1 \2/p'
}
: > "$T/raw"
for r in $(seq 1 "$RUNS"); do
	for i in "${!BINS[@]}"; do
		d=$T/m$i/r$r
		for k in $(seq 1 "$P"); do mkdir -p "$d/p$k"; done
		c0=$(counts "$i")
		s=$(now)
		for k in $(seq 1 "$P"); do mk "$d/p$k" & done
		wait
		e=$(now)
		c1=$(counts "$i")
		echo "$i $(( P * N * 1000000000 / (e - s) ))" >> "$T/raw"
		if [ -n "$c0" ] && [ -n "$c1" ]; then
			read -r a b <<< "$c0"
			read -r x y <<< "$c1"
			log "run $r, ${BINS[$i]}: $((x - a)) commits for $((y - b)) changes"
		fi
		rm -rf "$d"
	done
done
med() { awk -v b="$1" '$1 == b { print $2 }' "$T/raw" | sort -n |
	awk '{ a[NR] = $1 } END { print NR % 2 ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
echo "$P processes x $N empty files, one mount${SLOW_FSYNC_US:+, fsync +$SLOW_FSYNC_US us};" \
	"files per second, medians of $RUNS runs:"
for i in "${!BINS[@]}"; do
	echo "  ${BINS[$i]}: $(med "$i") ($(awk -v b="$i" '$1 == b { printf "%s ", $2 }' "$T/raw"))"
done
