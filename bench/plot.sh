#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Draws bench/RESULTS.md's tables as PNG charts in bench/plots/ with
# gnuplot (Debian: apt-get install gnuplot-nox; this script installs
# nothing):
#
#   reads_mibs.png   sequential reads, MiB/s: zc vs copy vs the references
#   reads_iops.png   4 KiB random reads, IOPS: the same targets
#   reads_cpu.png    the FUSE daemon's CPU seconds per GiB read
#   writes.png       1 MiB direct writes, MiB/s: replicas, zero-copy vs copy
#   metadata.png     untar, find, rm, create, unlink: zcfs vs a local disk
#   scale.png        create rate and mds memory up to a million files
#
# Each chart is drawn from the first table under its section heading whose
# header has the columns it needs; cells that are no number ("-", text)
# are left out.  usage: bench/plot.sh [RESULTS.md] [OUT_DIR]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RESULTS=${1:-$HERE/RESULTS.md}
OUT=${2:-$HERE/plots}
if ! command -v gnuplot >/dev/null; then
	echo "plot.sh: gnuplot is missing: apt-get install gnuplot-nox" >&2
	exit 1
fi
[ -r "$RESULTS" ] || { echo "plot.sh: cannot read $RESULTS" >&2; exit 1; }
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/zcfs-plot.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
if gnuplot -e 'set terminal' 2>&1 | grep -q pngcairo; then
	TERM_PNG="pngcairo size 900,520 font 'sans,10'"
else
	TERM_PNG="png size 900,520"
fi

# table SECTION HEADER: the rows (tab-separated cells, trimmed) of the
# first table after the "## ...SECTION..." heading whose header row matches
# the regular expression HEADER; nothing if there is none.
table() {
	awk -v sect="$1" -v head="$2" '
		function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
		/^## / { insect = index($0, sect) > 0; state = 0; next }
		!insect || done { next }
		/^\|/ {
			if (state == 0 && $0 ~ head) { state = 1; next }
			if (state == 1) { state = 2; next }	# the |---| line
			if (state == 2) {
				n = split($0, c, "|"); line = ""
				for (i = 2; i < n; i++) line = line (i > 2 ? "\t" : "") trim(c[i])
				print line
			}
			next
		}
		state == 2 { done = 1 }
	' "$RESULTS"
}

# num CELL: its first number (thousands separators dropped), or "?".
num() {
	awk -v s="$1" 'BEGIN { gsub(/,/, "", s)
		if (match(s, /-?[0-9]+(\.[0-9]+)?/)) print substr(s, RSTART, RLENGTH); else print "?" }'
}

# pivot COL: table rows "case target values..." to one line per case with
# the COLth cell of each target (zc copy splice ptll local).
pivot() {
	awk -F'\t' -v col="$1" '
		function num(s) { gsub(/,/, "", s)
			return match(s, /-?[0-9]+(\.[0-9]+)?/) ? substr(s, RSTART, RLENGTH) : "?" }
		{ if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }; v[$1, $2] = num($col) }
		END {
			print "case\tzc\tcopy\tsplice\tptll\tlocal"
			for (i = 1; i <= n; i++) {
				c = order[i]; line = c
				split("zc copy splice ptll local", t, " ")
				for (j = 1; j <= 5; j++) line = line "\t" ((c, t[j]) in v ? v[c, t[j]] : "?")
				print line
			}
		}'
}

drawn=""
# bars DATA PNG TITLE YLABEL [LOG]: clustered bars, one cluster per row,
# one bar per column after the first.
bars() {
	local ncol
	ncol=$(head -n 1 "$1" | awk -F'\t' '{ print NF }')
	gnuplot <<-EOF
		set terminal $TERM_PNG
		set output '$2'
		set title "$3" noenhanced
		set ylabel "$4"
		set datafile separator "\t"
		set datafile missing "?"
		set style data histograms
		set style histogram clustered gap 1
		set style fill solid 0.85 border -1
		set boxwidth 0.9
		set key top right autotitle columnheader noenhanced
		set grid ytics
		set yrange [0:*]
		${5:+set logscale y; set yrange [*:*]}
		set xtics nomirror noenhanced
		plot for [i=2:$ncol] '$1' using i:xtic(1)
	EOF
	drawn="$drawn $(basename "$2")"
}

# ---- reads: zero-copy vs copy vs the references ----
table "Reads: zero-copy vs copy" "[|] case [|] target [|] MiB/s" > "$TMP/reads"
if [ -s "$TMP/reads" ]; then
	grep -v '^rand' "$TMP/reads" | pivot 3 > "$TMP/reads_mibs"
	bars "$TMP/reads_mibs" "$OUT/reads_mibs.png" \
		"Sequential reads (bench/run.sh): zcfs zero-copy vs copy vs FUSE references" "MiB/s"
	grep '^rand' "$TMP/reads" | pivot 4 > "$TMP/reads_iops"
	bars "$TMP/reads_iops" "$OUT/reads_iops.png" \
		"4 KiB random reads (bench/run.sh): zcfs zero-copy vs copy vs FUSE references" "IOPS"
	pivot 7 < "$TMP/reads" | cut -f 1-5 > "$TMP/reads_cpu"
	bars "$TMP/reads_cpu" "$OUT/reads_cpu.png" \
		"FUSE daemon CPU per GiB read (zcfs: the client only; log scale)" "CPU s/GiB" log
fi

# ---- writes: zero-copy and copy mounts, the quiet-machine run ----
table "On a quiet machine" "[|] target [|] MiB/s [|] client CPU" > "$TMP/writes"
if [ -s "$TMP/writes" ]; then
	{
		printf 'target\tMiB/s\n'
		while IFS=$'\t' read -r target mibs _; do
			printf '%s\t%s\n' "$target" "$(num "$mibs")"
		done < "$TMP/writes"
	} | sed 's/zcfs, //; s/ (chain)//; s/ (local file)//' > "$TMP/writes_mibs"
	bars "$TMP/writes_mibs" "$OUT/writes.png" \
		"1 MiB direct writes (bench/write.sh): zcfs vs passthrough_ll on a local file" "MiB/s"
fi

# ---- metadata: zcfs vs a local disk, the quiet-machine runs of bench/meta.sh ----
# Cells "ZCFS / LOCAL = RATIO"; the last such column is the latest run.
table "On a quiet machine" "[|] job [|] run 1: zcfs / local" \
	> "$TMP/meta"
if [ -s "$TMP/meta" ]; then
	awk -F'\t' '
		BEGIN { OFS = "\t"; print "job", "zcfs", "local disk" }
		{
			last = ""
			for (i = 2; i <= NF; i++) if ($i ~ /[0-9] *\/ *[0-9]/) last = $i
			if (last == "") next
			split(last, p, "/"); gsub(/[^0-9.]/, "", p[1]); split(p[2], q, "=")
			gsub(/[^0-9.]/, "", q[1])
			job = $1; sub(/ \(.*\)$/, "", job)	# "create 4 KiB (a cp each)"
			print job, p[1], q[1]
		}' "$TMP/meta" > "$TMP/meta_rates"
	bars "$TMP/meta_rates" "$OUT/metadata.png" \
		"Metadata (bench/meta.sh): zcfs vs a local disk, entries or files per second (log scale)" \
		"per second" log
fi

# ---- scale: a million files ----
table "Scale: a million files" "[|] files [|] rate of the" > "$TMP/scale"
if [ -s "$TMP/scale" ]; then
	while IFS=$'\t' read -r files rate median _ _ _ _ _ mds _ db; do
		printf '%s\t%s\t%s\t%s\t%s\n' "$(num "$files")" "$(num "$rate")" "$(num "$median")" \
			"$(num "$mds")" "$(num "$db")"
	done < "$TMP/scale" > "$TMP/scale_rows"
	gnuplot <<-EOF
		set terminal $TERM_PNG
		set output '$OUT/scale.png'
		set title "A million files (bench/scale.sh): create rate and the mds's size" noenhanced
		set datafile separator "\t"
		set datafile missing "?"
		set xlabel "files in the file system"
		set ylabel "files/s"
		set y2label "MiB"
		set ytics nomirror
		set y2tics
		set yrange [0:*]
		set y2range [0:*]
		set format x "%.0s%c"
		set grid ytics
		set key below
		plot '$TMP/scale_rows' using 1:2 with linespoints lw 2 title "create rate, last 10,000", \
		     '' using 1:3 with linespoints lw 2 title "create rate, median window", \
		     '' using 1:4 axes x1y2 with lines lw 2 dt 2 title "mds VmRSS (MiB)", \
		     '' using 1:5 axes x1y2 with lines lw 2 dt 3 title "meta.db + wal (MiB)"
	EOF
	drawn="$drawn scale.png"
fi

[ -n "$drawn" ] || { echo "plot.sh: no table of $RESULTS found to draw" >&2; exit 1; }
echo "plot.sh: drew$drawn in $OUT"
