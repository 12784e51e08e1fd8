#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# zcfs read benchmarks, every target interleaved in the same run (this
# machine is shared and noisy), medians over RUNS runs.
#
# Targets, all reading the same bytes:
#   zc      zcfs mount, zero-copy read path (default)
#   copy    a second zcfs mount of the same cluster with -o zerocopy=0
#   splice  bench/splice_pass.c: FUSE replying from a local file with splice
#           (the ceiling FUSE allows here)
#   ptll    libfuse's passthrough_ll example as Debian ships it
#   local   the local file, from the page cache (always buffered)
#
# usage: bench/run.sh [RUNS] [FILE_MB]      (defaults: 5, 2048)
# Prints a markdown report; bench/RESULTS.md keeps the last one committed.
set -euo pipefail
RUNS=${1:-5}
MB=${2:-2048}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build
ZCFS=$B/zcfs
T=$(mktemp -d /tmp/zcfs-bench.XXXXXX)
PIDS=""
log() { echo "bench: $*" >&2; }

cleanup() {
	set +e
	for m in "$T/copy" "$T/splice" "$T/ptll"; do
		grep -q " $m " /proc/mounts && fusermount3 -u -z "$m"
	done
	"$ZCFS" down --dir "$T/d" >/dev/null 2>&1
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	sleep 0.5
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

wait_mount() { for _ in $(seq 50); do grep -q " $1 " /proc/mounts && return 0; sleep 0.1; done; return 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

mkdir -p "$B/bench"
cc -O2 -o "$B/bench/splice_pass" "$ROOT/bench/splice_pass.c" $(pkg-config --cflags --libs fuse3)
cc -O2 -o "$B/bench/passthrough_ll" /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c \
	$(pkg-config --cflags --libs fuse3)

log "starting a cluster and two clients (zero-copy and copy)"
"$ZCFS" up --dir "$T/d" --mount "$T/zc" >/dev/null
MDS=$(sed -n 's/^mds=//p' "$T/d/cluster.conf")
ZC_PID=$(sed -n 's/^pid\.mount=//p' "$T/d/cluster.conf")
mkdir -p "$T/copy" "$T/splice" "$T/ptll" "$T/src"
"$ZCFS" mount --mds "$MDS" --credential "$T/d/admin.cred" "$T/copy" -f -o zerocopy=0 \
	--log "$T/d/mount-copy.log" &
COPY_PID=$!
PIDS="$PIDS $COPY_PID"
wait_mount "$T/copy"

log "writing a $MB MiB file"
head -c $((MB * 1048576)) < <(openssl enc -aes-128-ctr -pass pass:bench -nosalt -pbkdf2 \
	-in /dev/zero 2>/dev/null) > "$T/src/f"
cp "$T/src/f" "$T/zc/f"
sync
cmp "$T/src/f" "$T/copy/f" || { log "copy mount reads wrong bytes"; exit 1; }

"$B/bench/splice_pass" "$T/src/f" "$T/splice" -f &
SPLICE_PID=$!
PIDS="$PIDS $SPLICE_PID"
"$B/bench/passthrough_ll" -f -o source="$T/src",cache=never "$T/ptll" &
PTLL_PID=$!
PIDS="$PIDS $PTLL_PID"
wait_mount "$T/splice"
wait_mount "$T/ptll"
cat "$T/src/f" > /dev/null	# local page cache warm, as the chunk servers' is

file_of() {
	case $1 in
	zc) echo "$T/zc/f" ;; copy) echo "$T/copy/f" ;; splice) echo "$T/splice/data" ;;
	ptll) echo "$T/ptll/f" ;; local) echo "$T/src/f" ;;
	esac
}
pid_of() {
	case $1 in
	zc) echo "$ZC_PID" ;; copy) echo "$COPY_PID" ;; splice) echo "$SPLICE_PID" ;;
	ptll) echo "$PTLL_PID" ;; local) echo "" ;;
	esac
}

# fio terse v3: 7 read bandwidth KiB/s, 8 IOPS, 16 clat mean us, then
# "99.000000%=N" among the percentiles; 6 KiB read.
fio_case() { # name target extra fio args...
	local name=$1 tgt=$2 file pid t0 t1 out
	shift 2
	file=$(file_of "$tgt")
	pid=$(pid_of "$tgt")
	[ -n "$pid" ] && t0=$(cpu_ticks "$pid")
	# The local reference is the page cache: O_DIRECT there would read the disk.
	[ "$tgt" = local ] && set -- "$@" --direct=0
	out=$(fio --name="$name" --filename="$file" --readonly --rw=read --output-format=terse \
		--terse-version=3 "$@" 2>"$T/fio.err" | tail -n 1) || log "fio $name on $tgt failed: $(head -c 300 "$T/fio.err")"
	[ -n "$pid" ] && t1=$(cpu_ticks "$pid")
	echo "$out" | awk -F';' -v name="$name" -v tgt="$tgt" -v ticks="${t1:-0}" -v t0="${t0:-0}" \
		-v hz="$(getconf CLK_TCK)" '{
		p99 = 0
		for (i = 18; i <= 37; i++) if ($i ~ /^99.000000%=/) { split($i, a, "="); p99 = a[2] }
		kib = $6; cpu = (ticks - t0) / hz
		printf "%s\t%s\t%.1f\t%.0f\t%.1f\t%.0f\t%.3f\n", name, tgt, $7 / 1024, $8, $16, p99,
			(kib > 0 ? cpu / (kib / 1048576) : 0)
	}'
}

SZ=$((MB < 1024 ? MB : 1024))M
run_all() {
	local tgts="zc copy splice ptll local"
	for tgt in $tgts; do
		fio_case seq1m_psync "$tgt" --bs=1M --direct=1 --ioengine=psync --size=$SZ
		fio_case seq1m_aio8 "$tgt" --bs=1M --direct=1 --ioengine=libaio --iodepth=8 --size=$SZ
		fio_case buffered_2g "$tgt" --bs=1M --direct=0 --ioengine=psync
		fio_case rand4k_psync "$tgt" --rw=randread --bs=4k --direct=1 --ioengine=psync \
			--runtime=4 --time_based
		fio_case rand4k_aio8 "$tgt" --rw=randread --bs=4k --direct=1 --ioengine=libaio \
			--iodepth=8 --runtime=4 --time_based
	done
}

RAW=$T/raw.tsv
: > "$RAW"
for r in $(seq 1 "$RUNS"); do
	log "run $r of $RUNS"
	run_all >> "$RAW"
done

# Bytes through read/recv in the client during a 1 GiB direct read.
syscall_bytes() { # target
	local pid file
	pid=$(pid_of "$1")
	file=$(file_of "$1")
	strace -f -qq -p "$pid" -e trace=read,readv,recvfrom,recvmsg,pread64 -e signal=none \
		-o "$T/strace.$1" &
	local sp=$!
	sleep 1
	dd if="$file" of=/dev/null bs=1M count=1024 iflag=direct status=none
	sleep 0.5
	kill "$sp"
	wait "$sp" 2>/dev/null || true
	awk '/ = [0-9]+$/ { n += $NF } END { printf "%.1f", n / 1048576 }' "$T/strace.$1"
}
ZC_MB=$(syscall_bytes zc)
COPY_MB=$(syscall_bytes copy)
sleep 1.5
STATUS=$("$ZCFS" status --dir "$T/d")

awk -F'\t' -v runs="$RUNS" -v mb="$MB" -v zcb="$ZC_MB" -v cpb="$COPY_MB" '
function median(key,   n, i, j, t, v) {
	n = split(vals[key], v, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
{ for (f = 3; f <= 7; f++) vals[$1 SUBSEP $2 SUBSEP f] = vals[$1 SUBSEP $2 SUBSEP f] " " $f
  if (!seen[$1]++) cases[++nc] = $1 }
END {
	split("zc copy splice ptll local", tg, " ")
	printf "Medians of %d runs, targets interleaved; file %d MiB.\n\n", runs, mb
	printf "| case | target | MiB/s | IOPS | mean lat us | p99 lat us | daemon CPU s/GiB |\n"
	printf "|---|---|---:|---:|---:|---:|---:|\n"
	for (c = 1; c <= nc; c++) for (t = 1; t <= 5; t++) {
		k = cases[c] SUBSEP tg[t]
		if (!((k SUBSEP 3) in vals)) continue
		printf "| %s | %s | %.0f | %.0f | %.0f | %.0f | %s |\n", cases[c], tg[t],
			median(k SUBSEP 3), median(k SUBSEP 4), median(k SUBSEP 5), median(k SUBSEP 6),
			(tg[t] == "local" ? "-" : sprintf("%.3f", median(k SUBSEP 7)))
	}
	printf "\n| case | zc / copy MiB/s | zc / splice ceiling | zc / copy CPU per GiB |\n|---|---:|---:|---:|\n"
	for (c = 1; c <= nc; c++) {
		z = median(cases[c] SUBSEP "zc" SUBSEP 3); p = median(cases[c] SUBSEP "copy" SUBSEP 3)
		s = median(cases[c] SUBSEP "splice" SUBSEP 3)
		zc = median(cases[c] SUBSEP "zc" SUBSEP 7); pc = median(cases[c] SUBSEP "copy" SUBSEP 7)
		printf "| %s | %.2f | %.2f | %s |\n", cases[c], (p ? z / p : 0), (s ? z / s : 0),
			(pc > 0 ? sprintf("%.2f", zc / pc) : "-")
	}
	printf "\nBytes through read/readv/recv*/pread in the client during a 1 GiB direct read (strace):"
	printf " zero-copy %s MiB, copy %s MiB.\n", zcb, cpb
}' "$RAW"
echo
echo "Client counters after the run (zcfs status):"
echo
echo '```'
echo "$STATUS" | sed -n '/^clients:/,$p'
echo '```'
