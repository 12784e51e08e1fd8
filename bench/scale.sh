#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Scale (issue 11): a namespace of N files and a directory of DIRN entries,
# on a cluster of its own (one chunk server, one copy).
#
#   namespace  P processes (bench/mkfiles.c, built here) make N empty files
#              between them (open O_WRONLY|O_CREAT|O_EXCL + close, as
#              touch does), each in folders of its own of 1000 files.  The
#              create rate of every window of 10,000 files, the last one's
#              against the first's; at every tenth of N the mds's VmRSS,
#              the size of its SQLite store (meta.db + meta.db-wal) and the
#              CPU time per file of the mds, the mount and the creating
#              processes, with what the rest of the machine used meanwhile
#              (a shared machine's noise, which the rates alone hide).
#   directory  one folder filled to DIRN/10 entries, then to DIRN (same
#              tool, P processes); at each size: `ls -f | wc -l` after
#              dropping the caches (RUNS times, median) with the READDIRs
#              it took, and stat(2) of 1000 distinct random names in it,
#              cold (caches dropped: what the mds read from the disk per
#              name is shown) and again 2 s later (the kernel's entries
#              expired: one LOOKUP each at the mds, its store in memory).
#   at the end, the time of one statfs and one `zcfs status` (both count
#              every inode).
#
# usage: [ZCFS=build/zcfs] bench/scale.sh [N] [P] [DIRN] [RUNS]
#        (defaults: 1000000, 4, 100000, 3; a quick try: bench/scale.sh 50000 2)
# Progress on stderr; prints a markdown report.  Needs root (drop_caches).
set -euo pipefail
N=${1:-1000000}
P=${2:-4}
DIRN=${3:-100000}
RUNS=${4:-3}
W=10000			# files per window
[ "$N" -lt $((10 * W)) ] && W=$((N / 10 > 0 ? N / 10 : 1))
STEP=$((N / 10 / W * W))	# a memory sample every STEP files
[ "$STEP" -lt "$W" ] && STEP=$W
SMALL=$((DIRN / 10))
LOOKUPS=1000
. "$(dirname "$0")/lib.sh"

cc -O2 -Wall -o "$T/mkfiles" "$ROOT/bench/mkfiles.c"
log "starting a cluster (1 chunk server, 1 copy)"
"$ZCFS" up --dir "$T/d" --mount "$T/m" --cs 1 --replicas 1 >/dev/null
conf() { sed -n "s/^$1=//p" "$T/d/cluster.conf"; }
MDS_PID=$(conf pid.mds)
MOUNT_PID=$(conf pid.mount)
now() { date +%s%N; }
kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
dbsize() {
	local s=0 f
	for f in "$T/d/mds/meta.db" "$T/d/mds/meta.db-wal"; do
		[ -e "$f" ] && s=$((s + $(stat -c %s "$f")))
	done
	echo "$s"
}
CS_PID=$(conf pid.cs1)
HZ=$(getconf CLK_TCK)
ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }	# utime + stime
busy() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }	# all CPUs
# files, mds VmRSS KiB, mount VmRSS KiB, store bytes, CPU ticks of the mds,
# the mount and the chunk server, CPU us of the creating processes ($2),
# busy ticks of the machine, 1-minute load, time ns
sample() {
	echo "$1 $(kib "$MDS_PID" VmRSS) $(kib "$MOUNT_PID" VmRSS) $(dbsize)" \
		"$(ticks "$MDS_PID") $(ticks "$MOUNT_PID") $(ticks "$CS_PID") ${2:-0} $(busy)" \
		"$(cut -d' ' -f1 /proc/loadavg) $(now)"
}
cold() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# ---- a namespace of N files ----
mkdir "$T/m/ns"
sample 0 > "$T/samples"
log "namespace: $P processes make $N files, folders of 1000 (windows of $W)"
"$T/mkfiles" -p "$P" -n "$N" -d 1000 -w "$W" "$T/m/ns" | tee "$T/windows" |
	while read -r f ns cpu; do
		[ "$f" = done ] && continue
		if [ $((f % STEP)) -eq 0 ]; then
			sample "$f" "$cpu" >> "$T/samples"
			log "$f files, $((ns / 1000000000)) s; mds VmRSS $(kib "$MDS_PID" VmRSS) kB"
		fi
	done
MDS_HWM=$(kib "$MDS_PID" VmHWM)
# Rate of each window: W files over the time since the previous one's end.
awk -v w="$W" '$1 != "done" { printf "%d %.0f\n", $1, w * 1e9 / ($2 - prev); prev = $2 }' \
	"$T/windows" > "$T/rates"
TOTAL_NS=$(awk '$1 == "done" { print $3 }' "$T/windows")

# ---- one directory of SMALL, then DIRN entries ----
BIG=$T/m/big
mkdir "$BIG"
# Requests of one type the mds has served so far (zcfs status --json).
served() {
	"$ZCFS" status --dir "$T/d" --json |
		sed -n "s/.*\"$1\":{\"n\":\([0-9]*\).*/\1/p" | grep . || echo 0
}
# Bytes the mds has read from the disk so far.
rbytes() { awk '$1 == "read_bytes:" { print $2 }' "/proc/$MDS_PID/io"; }
# At each size: the fill rate; RUNS cold listings (median ms, names, the
# mds's READDIRs per listing); cold stat of LOOKUPS names, then the same
# names again once the kernel's entries have expired (entry_timeout 1 s:
# a LOOKUP each, the store's pages now cached), with the LOOKUPs the mds
# saw in each pass and what the mds read from the disk in the cold one.
measure() {	# FILES_BEFORE FILES_AFTER
	local s e r n rd0 lk0 lk1 ms fill io0 io1
	log "directory: $1 -> $2 entries"
	s=$(now)
	"$T/mkfiles" -p "$P" -n $(($2 - $1)) -s "$1" -d 0 -w $(($2 - $1)) "$BIG" > /dev/null
	e=$(now)
	fill=$(((e - s) / 1000000))
	: > "$T/ls"
	rd0=$(served readdir)
	for r in $(seq 1 "$RUNS"); do
		cold
		s=$(now)
		n=$(ls -f "$BIG" | wc -l)
		e=$(now)
		echo "$(((e - s) / 1000000))" >> "$T/ls"
	done
	ms=$(med < "$T/ls")
	echo "$2 $(($2 - $1)) $fill $ms $n $((($(served readdir) - rd0) / RUNS))" \
		> "$T/dir.$2"
	lk0=$(served lookup)
	cold
	io0=$(rbytes)
	read -r _ cm cp50 cp99 _ < <("$T/mkfiles" -L "$LOOKUPS" -n "$2" "$BIG")
	io1=$(rbytes)
	lk1=$(served lookup)
	sleep 2
	read -r _ wm wp50 wp99 _ < <("$T/mkfiles" -L "$LOOKUPS" -n "$2" "$BIG")
	echo "$cm $cp50 $cp99 $((lk1 - lk0)) $wm $wp50 $wp99 $(($(served lookup) - lk1))" \
		"$(awk -v b=$((io1 - io0)) -v n="$LOOKUPS" 'BEGIN { printf "%.1f", b / 1024 / n }')" \
		>> "$T/dir.$2"
	log "  ls -f: $ms ms for $n names; stat: mean $cm us cold, $wm us again"
}
med() { sort -n | awk '{ a[NR] = $1 } END { print NR ? a[int((NR + 1) / 2)] : 0 }'; }
measure 0 "$SMALL"
measure "$SMALL" "$DIRN"
sample $((N + DIRN)) > "$T/final"
s=$(now); stat -f "$T/m" > /dev/null; e=$(now)
STATFS_MS=$(((e - s) / 1000000))
s=$(now); "$ZCFS" status --dir "$T/d" > /dev/null; e=$(now)
STATUS_MS=$(((e - s) / 1000000))

# ---- report ----
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
FIRST=$(awk 'NR == 1 { print $2 }' "$T/rates")
LAST=$(awk 'END { print $2 }' "$T/rates")
LASTF=$(awk 'END { print $1 }' "$T/rates")
FIRST5=$(head -n 5 "$T/rates" | awk '{ print $2 }' | med)
LAST5=$(tail -n 5 "$T/rates" | awk '{ print $2 }' | med)
echo "## $N files by $P processes (folders of 1000), then a folder of $DIRN"
echo
echo "$(uname -r), $(nproc) CPUs, 1-minute load at the end $(cut -d' ' -f1 /proc/loadavg)."
echo "All $N files in $(awk -v n="$TOTAL_NS" 'BEGIN { printf "%.0f", n / 1e9 }') s:" \
	"$((N * 1000000000 / TOTAL_NS)) files/s overall."
echo
echo "Each row: the $STEP files up to it.  CPU per file: user + system time of" \
	"the mds, the mount (FUSE daemon) and the $P creating processes (the kernel's" \
	"FUSE work in their system calls included), over the files made; others:" \
	"what every other process of the machine used, in % of its $(nproc) CPUs."
echo
echo "| files | rate of the $W ending here (files/s) | median window (files/s) |" \
	"mds CPU us/file | mount CPU us/file | creators' CPU us/file | others' CPU % |" \
	"load | mds VmRSS MiB | mount VmRSS MiB | meta.db + wal MiB |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
prev=
while read -r f mds mnt db tm tn tc mk bz ld t; do
	if [ -z "$prev" ]; then
		echo "| $f | - | - | - | - | - | - | $ld | $(mib $((mds * 1024))) |" \
			"$(mib $((mnt * 1024))) | $(mib "$db") |"
	else
		r=$(awk -v f="$f" '$1 == f { print $2 }' "$T/rates")
		m=$(awk -v f="$f" -v s="$STEP" '$1 > f - s && $1 <= f { print $2 }' "$T/rates" | med)
		echo "$prev $f $tm $tn $tc $mk $bz $t" | awk -v hz="$HZ" -v cpus="$(nproc)" '{
			df = $12 - $1; tmds = $13 - $5; tmnt = $14 - $6; tcs = $15 - $7
			mk = $16 - $8; others = $17 - $9 - tmds - tmnt - tcs - mk * hz / 1e6
			secs = ($18 - $11) / 1e9
			if (others < 0)
				others = 0
			printf "%.0f %.0f %.0f %.0f\n", tmds * 1e6 / hz / df, tmnt * 1e6 / hz / df,
				mk / df, others / hz / secs / cpus * 100 }' > "$T/cpu"
		read -r cm cn ck co < "$T/cpu"
		echo "| $f | $r | $m | $cm | $cn | $ck | $co | $ld | $(mib $((mds * 1024))) |" \
			"$(mib $((mnt * 1024))) | $(mib "$db") |"
	fi
	prev="$f $mds $mnt $db $tm $tn $tc $mk $bz $ld $t"
done < "$T/samples"
echo
echo "- first $W: $FIRST files/s; last $W (to $LASTF): $LAST files/s;" \
	"last / first **$(ratio "$LAST" "$FIRST")**"
echo "- median of the first 5 windows $FIRST5, of the last 5 $LAST5:" \
	"$(ratio "$LAST5" "$FIRST5")"
echo "- slowest window $(awk '{ print $2 }' "$T/rates" | sort -n | head -n 1)," \
	"fastest $(awk '{ print $2 }' "$T/rates" | sort -n | tail -n 1) files/s"
echo "- mds peak VmRSS (VmHWM) $(mib $((MDS_HWM * 1024))) MiB"
echo
echo "| entries | fill (files/s) | cold \`ls -f\` ms (median of $RUNS) | names listed |" \
	"READDIRs per listing | cold stat, mean us (p50, p99) | mds LOOKUPs |" \
	"mds disk reads per cold stat, KiB | stat again after 2 s, mean us (p50, p99) |" \
	"mds LOOKUPs |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for f in "$SMALL" "$DIRN"; do
	{ read -r size made fill ms n rd; read -r cm cp50 cp99 cl wm wp50 wp99 wl io; } \
		< "$T/dir.$f"
	echo "| $size | $((made * 1000 / (fill ? fill : 1))) | $ms | $n | $rd |" \
		"$cm ($cp50, $cp99) | $cl | $io | $wm ($wp50, $wp99) | $wl |"
done
{ read -r _ _ _ LS_SMALL _ _; read -r LK_SMALL _ _ _ WK_SMALL _; } < "$T/dir.$SMALL"
{ read -r _ _ _ LS_BIG _ _; read -r LK_BIG _ _ _ WK_BIG _; } < "$T/dir.$DIRN"
echo
echo "- listing $DIRN / $SMALL: **$(ratio "$LS_BIG" "$LS_SMALL")** (linear: $((DIRN / SMALL)));" \
	"stat mean $DIRN / $SMALL: cold **$(ratio "$LK_BIG" "$LK_SMALL")**," \
	"again **$(ratio "$WK_BIG" "$WK_SMALL")**"
echo "- at the end: statfs (\`stat -f\`) $STATFS_MS ms, \`zcfs status\` $STATUS_MS ms"
read -r _ mds mnt db < "$T/final"
echo "- at the end ($((N + DIRN)) files): mds VmRSS $(mib $((mds * 1024))) MiB," \
	"mount VmRSS $(mib $((mnt * 1024))) MiB, store $(mib "$db") MiB"
