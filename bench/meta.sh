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
rate() { echo $(( $3 * 1000000000 / ($2 - $1) )); }
: > "$T/raw"

for r in $(seq 1 "$RUNS"); do
	for tgt in zc local; do
		log "run $r of $RUNS: $tgt"
		d=$T/$tgt/r$r
		mkdir -p "$d"
		s=$(now); tar xf "$T/inc.tar" -C "$d"; e=$(now)
		echo "$tgt untar $(rate "$s" "$e" "$ENTRIES")" >> "$T/raw"
		sync
		echo 3 > /proc/sys/vm/drop_caches
		s=$(now); find "$d" -printf '%s\n' > /dev/null; e=$(now)
		echo "$tgt find $(rate "$s" "$e" "$ENTRIES")" >> "$T/raw"
		s=$(now); rm -rf "$d/include"; e=$(now)
		echo "$tgt rm $(rate "$s" "$e" "$ENTRIES")" >> "$T/raw"
		mkdir "$d/small"
		s=$(now)
		for i in $(seq 1 "$N"); do cp "$T/src" "$d/small/f$i"; done
		e=$(now)
		echo "$tgt create $(rate "$s" "$e" "$N")" >> "$T/raw"
		s=$(now)
		rm -f "$d"/small/f*	# one process: unlink(2) after unlink(2)
		e=$(now)
		echo "$tgt unlink $(rate "$s" "$e" "$N")" >> "$T/raw"
		s=$(now)
		for k in 1 2 3 4; do
			mkdir "$d/p$k"
			tar xf "$T/inc.tar" -C "$d/p$k" &
		done
		wait
		e=$(now)
		echo "$tgt untar4 $(rate "$s" "$e" $((4 * ENTRIES)))" >> "$T/raw"
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
