#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Metadata and small files, as everyday work does them, on zcfs (one chunk
# server, one copy) and on a local folder of the disk under /tmp as the
# baseline, in the same run, targets interleaved; medians over RUNS runs.
#
#   untar     tar xf of /usr/include (entries per second)
#   find      cold `find -printf %s` over that tree (entries per second;
#             caches dropped first)
#   rm        rm -rf of that tree (entries per second)
#   create    N files: create, write 4 KiB, close (files per second)
#   unlink    unlink of those files by one rm (files per second)
#   untar4    4 untars at once into their own folders (aggregate entries
#             per second, and its ratio to one untar)
#
# usage: bench/meta.sh [RUNS] [N]      (defaults: 3, 2000)
# Prints a markdown report; bench/RESULTS.md keeps the last one committed.
set -euo pipefail
RUNS=${1:-3}
N=${2:-2000}
. "$(dirname "$0")/lib.sh"

log "starting a cluster (1 chunk server, 1 copy)"
"$ZCFS" up --dir "$T/d" --mount "$T/zc" --cs 1 --replicas 1 >/dev/null
mkdir -p "$T/local"
tar cf "$T/inc.tar" -C /usr include 2>/dev/null
ENTRIES=$(tar tf "$T/inc.tar" | wc -l)
head -c 4096 /dev/urandom > "$T/src"
now() { date +%s%N; }
# The mds's totals from `zcfs status --json`: requests, their handling time
# (us), commits, and commit time (us, each commit's WAL append and fsync).
mds_totals() {
	"$ZCFS" status --dir "$T/d" --json | tr -d '\n' | awk '{
		c = $0; sub(/.*"commits":/, "", c); sub(/[^0-9].*/, "", c)
		m = $0; sub(/.*"commit_mean_us":/, "", m); sub(/[^0-9].*/, "", m)
		o = $0; sub(/.*"ops":\{/, "", o); sub(/\},"clients".*/, "", o)
		n = 0; us = 0
		while (match(o, /"n":[0-9]+,"mean_us":[0-9]+/)) {
			split(substr(o, RSTART, RLENGTH), f, /[:,]/)
			n += f[2]; us += f[2] * f[4]; o = substr(o, RSTART + RLENGTH)
		}
		print n, us, c, c * m }'
}
# job START_NS END_NS ENTRIES BEFORE AFTER: one line of the breakdown.
breakdown() {
	echo "$1 $(( ($3 - $2) / 1000 )) $4 $5 $6" | awk '{
		printf "%s %.0f %.2f %.2f %.0f %.0f\n", $1, $2 / $3, ($8 - $4) / $3,
			($10 - $6) / $3, ($9 - $5) / $3, ($11 - $7) / $3 }' >> "$T/where"
}
# timed JOB ENTRIES TARGET COMMAND...: runs it, records its rate (and for
# zcfs where its time went).
timed() {
	local job=$1 n=$2 tgt=$3 s e before after
	shift 3
	[ "$tgt" = zc ] && before=$(mds_totals)
	s=$(now); "$@"; e=$(now)
	echo "$tgt $job $(rate "$s" "$e" "$n")" >> "$T/raw"
	if [ "$tgt" = zc ]; then
		after=$(mds_totals)
		breakdown "$job" "$s" "$e" "$n" "$before" "$after"
	fi
}
: > "$T/where"
rate() { echo $(( $3 * 1000000000 / ($2 - $1) )); }
: > "$T/raw"

for r in $(seq 1 "$RUNS"); do
	for tgt in zc local; do
		log "run $r of $RUNS: $tgt"
		d=$T/$tgt/r$r
		mkdir -p "$d"
		timed untar "$ENTRIES" "$tgt" tar xf "$T/inc.tar" -C "$d"
		sync
		echo 3 > /proc/sys/vm/drop_caches
		timed find "$ENTRIES" "$tgt" sh -c 'find "$1" -printf "%s\n" > /dev/null' - "$d"
		timed rm "$ENTRIES" "$tgt" rm -rf "$d/include"
		mkdir "$d/small"
		timed create "$N" "$tgt" sh -c 'for i in $(seq 1 "$2"); do cp "$1" "$3/f$i"; done' - \
			"$T/src" "$N" "$d/small"
		# one process: unlink(2) after unlink(2)
		timed unlink "$N" "$tgt" sh -c 'rm -f "$1"/f*' - "$d/small"
		timed untar4 $((4 * ENTRIES)) "$tgt" sh -c 'for k in 1 2 3 4; do
			mkdir "$2/p$k"; tar xf "$1" -C "$2/p$k" & done; wait' - "$T/inc.tar" "$d"
		rm -rf "$d"
	done
done

med() { awk -v t="$1" -v o="$2" '$1 == t && $2 == o { print $3 }' "$T/raw" | sort -n |
	awk '{ a[NR] = $1 } END { print NR % 2 ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b ? a / b : 0 }'; }
echo "/usr/include: $ENTRIES entries; $N files of 4 KiB; per second, medians of $RUNS runs."
echo
echo "| job | zcfs | local | zcfs / local |"
echo "|---|---:|---:|---:|"
for op in untar find rm create unlink untar4; do
	z=$(med zc $op)
	l=$(med local $op)
	echo "| $op | $z | $l | $(ratio "$z" "$l") |"
done
echo
echo "4 untars at once / one untar: zcfs $(ratio "$(med zc untar4)" "$(med zc untar)")," \
	"local $(ratio "$(med local untar4)" "$(med local untar)")"
echo
echo "Where zcfs's time went, per entry (medians of $RUNS runs; from the mds's"
echo "counters in \`zcfs status --json\`): wall time, requests the mds handled,"
echo "commits (each a WAL append and fsync), time in those commits, and time"
echo "the mds spent handling requests; the rest is the client, the kernel's"
echo "FUSE and the round trips."
echo
echo "| job | wall us | mds requests | commits | commit us | mds handling us |"
echo "|---|---:|---:|---:|---:|---:|"
for op in untar find rm create unlink untar4; do
	printf '| %s |' "$op"
	for col in 2 3 4 5 6; do
		printf ' %s |' "$(awk -v o="$op" -v c="$col" '$1 == o { print $c }' "$T/where" | sort -n |
			awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
	done
	echo
done
