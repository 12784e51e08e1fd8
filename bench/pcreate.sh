#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Parallel creates: P processes at once, each creating N empty files in a
# folder of its own (open O_CREAT + close, no data), then P processes
# removing them; on zcfs (one chunk server, one copy).  Files per second,
# all processes together; medians over RUNS runs.  With `zcfs status
# --json` after each phase: the mds's commits and changes committed (how
# many changes shared one fsync).
#
# usage: bench/pcreate.sh [RUNS] [P] [N]      (defaults: 3, 4, 1000)
set -euo pipefail
RUNS=${1:-3}
P=${2:-4}
N=${3:-1000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ZCFS=${ZCFS:-$ROOT/build/zcfs}
T=$(mktemp -d /tmp/zcfs-pcreate.XXXXXX)
log() { echo "bench: $*" >&2; }

cleanup() {
	set +e
	"$ZCFS" down --dir "$T/d" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT

log "starting a cluster (1 chunk server, 1 copy)"
"$ZCFS" up --dir "$T/d" --mount "$T/zc" --cs 1 --replicas 1 >/dev/null
now() { date +%s%N; }
rate() { echo $(( $3 * 1000000000 / ($2 - $1) )); }
mk() { local i; for ((i = 0; i < N; i++)); do : > "$1/f$i"; done; }
# One rm per folder: the unlinks back to back, not a fork each.
rmall() { (cd "$1" && find . -maxdepth 1 -name 'f*' -print0 | xargs -0 rm -f); }
counts() {
	"$ZCFS" status --dir "$T/d" --json 2>/dev/null |
		sed -n 's/.*"commits":\([0-9]*\),"changes_committed":\([0-9]*\).*/\1 \2/p'
}
: > "$T/raw"
for r in $(seq 1 "$RUNS"); do
	d=$T/zc/r$r
	for k in $(seq 1 "$P"); do mkdir -p "$d/p$k"; done
	c0=$(counts)
	s=$(now)
	for k in $(seq 1 "$P"); do mk "$d/p$k" & done
	wait
	e=$(now)
	c1=$(counts)
	echo "create $(rate "$s" "$e" $((P * N)))" >> "$T/raw"
	s=$(now)
	for k in $(seq 1 "$P"); do rmall "$d/p$k" & done
	wait
	e=$(now)
	echo "unlink $(rate "$s" "$e" $((P * N)))" >> "$T/raw"
	if [ -n "$c0" ] && [ -n "$c1" ]; then
		set -- $c0 $c1
		log "run $r: creates: $(( $3 - $1 )) commits for $(( $4 - $2 )) changes"
		set -- "$RUNS" "$P" "$N"
	fi
	rm -rf "$d"
done
med() { awk -v o="$1" '$1 == o { print $2 }' "$T/raw" | sort -n |
	awk '{ a[NR] = $1 } END { print NR % 2 ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
echo "$P processes x $N empty files, files per second, medians of $RUNS runs:" \
	"create $(med create), unlink $(med unlink)"
