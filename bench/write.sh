#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sequential 1 MiB direct writes: zcfs with 1 and 3 replicas (chain
# replication), each through a zero-copy mount (WRITE payloads spliced from
# libfuse's pipe to the chunk server's socket) and through a second mount
# of the same cluster with -o zerocopy=0 (payloads read into memory and
# sent from there); libfuse's passthrough_ll example writing a local file
# as the reference.  MiB/s and the client's CPU seconds per GiB written,
# medians over RUNS runs, targets interleaved.
#
# usage: bench/write.sh [RUNS] [MB]      (defaults: 3, 512)
set -euo pipefail
RUNS=${1:-3}
MB=${2:-512}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build
ZCFS=$B/zcfs
T=$(mktemp -d /tmp/zcfs-wbench.XXXXXX)
PIDS=""

cleanup() {
	set +e
	for m in "$T/copy" "$T/ptll"; do
		grep -q " $m " /proc/mounts && fusermount3 -u -z "$m"
	done
	"$ZCFS" down --dir "$T/d" >/dev/null 2>&1
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

wait_mount() { for _ in $(seq 50); do grep -q " $1 " /proc/mounts && return 0; sleep 0.1; done; return 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The chunk servers' CPU ticks, all of them together.
cs_ticks() { for p in $CS_PIDS; do cpu_ticks "$p"; done | awk '{ s += $1 } END { print s + 0 }'; }

mkdir -p "$B/bench" "$T/ptll" "$T/src" "$T/copy"
cc -O2 -o "$B/bench/passthrough_ll" /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c \
	$(pkg-config --cflags --libs fuse3)
"$ZCFS" up --dir "$T/d" --mount "$T/zc" >/dev/null
MDS=$(sed -n 's/^mds=//p' "$T/d/cluster.conf")
ZC_PID=$(sed -n 's/^pid\.mount=//p' "$T/d/cluster.conf")
CS_PIDS=$(sed -n 's/^pid\.cs[0-9]*=//p' "$T/d/cluster.conf")
"$ZCFS" mount --mds "$MDS" --credential "$T/d/admin.cred" "$T/copy" -f -o zerocopy=0 \
	--log "$T/d/mount-copy.log" &
COPY_PID=$!
PIDS="$PIDS $COPY_PID"
wait_mount "$T/copy"
mkdir -p "$T/zc/r1" "$T/zc/r3"
"$ZCFS" setattr --replicas 1 "$T/zc/r1"
"$ZCFS" setattr --replicas 3 "$T/zc/r3"
"$B/bench/passthrough_ll" -f -o source="$T/src",cache=never "$T/ptll" 2>/dev/null &
PIDS="$PIDS $!"
wait_mount "$T/ptll"

file_of() {
	case $1 in
	r1-zc) echo "$T/zc/r1/w$2" ;; r1-copy) echo "$T/copy/r1/w$2" ;;
	r3-zc) echo "$T/zc/r3/w$2" ;; r3-copy) echo "$T/copy/r3/w$2" ;;
	ptll) echo "$T/ptll/w$2" ;;
	esac
}
pid_of() { case $1 in *-zc) echo "$ZC_PID" ;; *-copy) echo "$COPY_PID" ;; esac; }
hz=$(getconf CLK_TCK)
: > "$T/raw"
for r in $(seq 1 "$RUNS"); do
	echo "bench: write run $r of $RUNS" >&2
	for tgt in r1-zc r1-copy r3-zc r3-copy ptll; do
		f=$(file_of $tgt "$r")
		pid=$(pid_of $tgt)
		t0=0
		[ -n "$pid" ] && t0=$(cpu_ticks "$pid")
		s0=$(cs_ticks)
		mibs=$(fio --name=w --filename="$f" --rw=write --bs=1M --direct=1 --ioengine=psync \
			--size=${MB}M --end_fsync=1 --output-format=terse --terse-version=3 2>/dev/null |
			tail -n 1 | awk -F';' '{ printf "%.1f", $48 / 1024 }')
		cpu=-
		[ -n "$pid" ] && cpu=$(awk -v a="$t0" -v b="$(cpu_ticks "$pid")" -v hz="$hz" -v mb="$MB" \
			'BEGIN { printf "%.2f", (b - a) / hz / (mb / 1024) }')
		scpu=-
		[ -n "$pid" ] && scpu=$(awk -v a="$s0" -v b="$(cs_ticks)" -v hz="$hz" -v mb="$MB" \
			'BEGIN { printf "%.2f", (b - a) / hz / (mb / 1024) }')
		printf '%s\t%s\t%s\t%s\n' "$tgt" "$mibs" "$cpu" "$scpu" >> "$T/raw"
		rm -f "$f"
	done
done
med() { # target column
	awk -v t="$1" -v c="$2" '$1 == t && $c != "-" { print $c }' "$T/raw" | sort -n |
		awk '{ a[NR] = $1 } END { if (!NR) print "-"; else print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
echo "Sequential 1 MiB direct writes of $MB MiB with a closing fsync, medians of $RUNS runs"
echo "(CPU: user + system seconds per GiB written, of the mount process and of"
echo "all chunk servers together; on loopback a sender's CPU time includes much"
echo "of its receiver's TCP processing):"
echo
echo "| target | MiB/s | client CPU s/GiB | chunk servers' CPU s/GiB |"
echo "|---|---:|---:|---:|"
for tgt in r1-zc r1-copy r3-zc r3-copy ptll; do
	case $tgt in
	r1-zc) name="zcfs, 1 replica, zero-copy" ;; r1-copy) name="zcfs, 1 replica, copy" ;;
	r3-zc) name="zcfs, 3 replicas (chain), zero-copy" ;;
	r3-copy) name="zcfs, 3 replicas (chain), copy" ;;
	ptll) name="passthrough_ll (local file)" ;;
	esac
	echo "| $name | $(med $tgt 2) | $(med $tgt 3) | $(med $tgt 4) |"
done
echo
z1=$(med r1-zc 2); c1=$(med r1-copy 2); z3=$(med r3-zc 2); c3=$(med r3-copy 2)
echo "zero-copy / copy, MiB/s: 1 replica $(awk -v a="$z1" -v b="$c1" 'BEGIN { printf "%.2f", a / b }')," \
	"3 replicas $(awk -v a="$z3" -v b="$c3" 'BEGIN { printf "%.2f", a / b }');" \
	"client CPU per GiB, 3 replicas: $(awk -v a="$(med r3-zc 3)" -v b="$(med r3-copy 3)" \
		'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }');" \
	"chunk servers' CPU per GiB, 3 replicas: $(awk -v a="$(med r3-zc 4)" -v b="$(med r3-copy 4)" \
		'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
