#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sequential 1 MiB direct writes: zcfs with 1 and 3 replicas (chain
# replication), and libfuse's passthrough_ll example writing a local file
# as the reference.  Medians over RUNS runs, targets interleaved.
#
# usage: bench/write.sh [RUNS] [MB]      (defaults: 3, 512)
set -euo pipefail
RUNS=${1:-3}
MB=${2:-512}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build
ZCFS=$B/zcfs
T=$(mktemp -d /tmp/zcfs-wbench.XXXXXX)
PTLL_PID=""

cleanup() {
	set +e
	grep -q " $T/ptll " /proc/mounts && fusermount3 -u -z "$T/ptll"
	"$ZCFS" down --dir "$T/d" >/dev/null 2>&1
	[ -n "$PTLL_PID" ] && kill "$PTLL_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$B/bench" "$T/ptll" "$T/src"
cc -O2 -o "$B/bench/passthrough_ll" /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c \
	$(pkg-config --cflags --libs fuse3)
"$ZCFS" up --dir "$T/d" --mount "$T/zc" >/dev/null
mkdir -p "$T/zc/r1" "$T/zc/r3"
"$ZCFS" setattr --replicas 1 "$T/zc/r1"
"$ZCFS" setattr --replicas 3 "$T/zc/r3"
"$B/bench/passthrough_ll" -f -o source="$T/src",cache=never "$T/ptll" 2>/dev/null &
PTLL_PID=$!
for _ in $(seq 50); do grep -q " $T/ptll " /proc/mounts && break; sleep 0.1; done

dir_of() { case $1 in r1) echo "$T/zc/r1" ;; r3) echo "$T/zc/r3" ;; ptll) echo "$T/ptll" ;; esac; }
: > "$T/raw"
for r in $(seq 1 "$RUNS"); do
	echo "bench: write run $r of $RUNS" >&2
	for tgt in r1 r3 ptll; do
		f="$(dir_of $tgt)/w$r"
		fio --name=w --filename="$f" --rw=write --bs=1M --direct=1 --ioengine=psync \
			--size=${MB}M --end_fsync=1 --output-format=terse --terse-version=3 2>/dev/null |
			tail -n 1 | awk -F';' -v t=$tgt '{ printf "%s\t%.1f\n", t, $48 / 1024 }'
		rm -f "$f"
	done >> "$T/raw"
done
echo "Sequential 1 MiB direct writes of $MB MiB with a closing fsync, medians of $RUNS runs:"
echo
echo "| target | MiB/s |"
echo "|---|---:|"
for tgt in r1 r3 ptll; do
	v=$(awk -v t=$tgt '$1 == t { print $2 }' "$T/raw" | sort -n | awk '{ a[NR] = $1 }
		END { print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
	case $tgt in
	r1) name="zcfs, 1 replica" ;; r3) name="zcfs, 3 replicas (chain)" ;;
	ptll) name="passthrough_ll (local file)" ;;
	esac
	echo "| $name | $v |"
done
