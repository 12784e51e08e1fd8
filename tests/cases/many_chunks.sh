# SPDX-License-Identifier: MIT
# One chunk server with 100,000 chunks, under `ulimit -n 1024`, soft and
# hard: it starts, reports every chunk to the mds in pages of at most
# ZC_REPORT_PAGE chunks, serves reads of them, and its descriptors, mapped
# chunk files and memory stay bounded while its scrubber walks them all.
#
# zc_many writes the chunk files straight into the server's folder, with
# ids from 2^32 up: above the mds's next chunk id, so that the mds keeps
# them as chunks of newer metadata (only unknown chunks below it are
# ordered deleted).  Making them chunks of real files would take 100,000
# synchronous transactions at the mds, or rows written into its store
# behind its back.  Beside them: 100 files written through the mount
# (chunks the mds knows: kept, and read back through the mount); the
# chunks of 100 removed files planted again (unknown ids below the
# counter: the mds must order each one deleted, whatever page it comes
# in); 8 of the 100,000 damaged (the scrubber must find each and tell
# the mds, so it walked that far).  The chunk server is started by hand,
# its calls to the mds going through `zc_many proxy`, which shows the
# REPORT pages, their answers and the CHUNK_BADs on the wire.  A sample of
# the 100,000 is read with READ by `zc_many read`.
#
# one read path: the client's read path plays no part (run.sh runs it once)
. "$(dirname "$0")/../lib.sh"
need_fuse
need_many
N=${ZCFS_MANY_CHUNKS:-100000}
BASE=100000000	# hex: 2^32, far above any chunk id the mds gives out here
PAGE=$(sed -n 's/^#define ZC_REPORT_PAGE[[:space:]]*\([0-9]*\).*/\1/p' \
	"$(dirname "$0")/../../include/zcfs/proto.h")
PAGE=${PAGE:-8192}
# The chunk server's VmRSS allowed: a few MiB of its own, an index of the
# chunks (tens of bytes each: a few MiB for 100,000) and a bounded set of
# open ones with their 4 KiB of checksums.  One that keeps every chunk's
# entry with its checksums needs 400 MiB.
MAX_RSS_MIB=256

( ulimit -n 1024 && start_cluster --cs 1 --replicas 1 ) ||
	{ echo "no cluster started under ulimit -n 1024"; exit 1; }
CSD=$D/cs1
conf() { sed -n "s/^$1=//p" "$D/cluster.conf"; }
# How many of the chunks listed in file $1 have a chunk file.
present() {
	local n=0 id
	while read -r id; do [ -e "$CSD/chunks/${id: -2}/$id.chk" ] && n=$((n + 1)); done < "$1"
	echo $n
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# -- 200 files through the mount, then the first 100 removed
"$ZCFS_MANY" files "$T/src" 200 > /dev/null || exit 1
check "200 files written through the mount" cp -r "$T/src" "$M/f"
for f in "$M"/f/d000/*; do
	"$ZCFS" getattr "$f" | sed -n 's/^chunk 0 id \([0-9a-f]*\) .*/\1/p'
done > "$T/removed.ids"
expect "the 100 files to remove have a chunk each" 100 "$(sort -u "$T/removed.ids" | wc -l)"
rm -r "$M/f/d000" "$T/src/d000"
within 30 "the chunk server deleted their chunks" 0 present "$T/removed.ids"

# -- the chunk server stopped, its chunks are planted
cs=$(cs_pid 1)
kill "$cs"
check "the chunk server stopped" wait_gone "$cs" 15
t=$(now_ms)
"$ZCFS_MANY" chunks "$CSD" "$BASE+$N" > /dev/null || exit 1
echo "made $N chunk files in $(( $(now_ms) - t )) ms"
# Damaged: 8 spread over the ids, so over the folders and the pages.
DAMAGED=$(for k in 0 1 2 3 4 5 6 7; do printf '%016x\n' $(( 0x$BASE + k * N / 8 + 3 )); done)
"$ZCFS_MANY" chunks -d "$CSD" $DAMAGED > /dev/null || exit 1
# The removed files' chunks, back from the dead.
"$ZCFS_MANY" chunks "$CSD" $(cat "$T/removed.ids") > /dev/null || exit 1
expect "chunk files in the server's folder" $((N + 200)) \
	"$(find "$CSD/chunks" -name '*.chk' | wc -l)"

# -- started again by hand, under the same limits, scrubbing every second;
# it talks to the mds through the proxy
: > "$T/proxy.log"
"$ZCFS_MANY" proxy "$(conf mds)" "$T/proxy.log" "$T/proxy.ids" &
EXTRA_PIDS="$EXTRA_PIDS $!"
wait_grep '^listening ' "$T/proxy.log" 10 || { echo "the proxy did not start"; exit 1; }
PORT=$(conf port.cs1)
LOG=$D/cs1-again.log
t0=$(now_ms)
( ulimit -n 1024 && exec "$ZCFS" cs -f --dir "$CSD" --listen "127.0.0.1:$PORT" \
	--mds "$(sed -n 's/^listening //p' "$T/proxy.log")" --scrub-interval 1 \
	--scrub-rate 256 --log "$LOG" --key-file "$D/cluster.key" ) >> "$LOG" 2>&1 &
cs=$!
EXTRA_PIDS="$EXTRA_PIDS $cs"
watch_proc "$cs" "$T/cs.samples"
w=$WATCH
if wait_grep "registered with the mds" "$LOG" 300; then
	reg_ms=$(( $(now_ms) - t0 ))
	ok "it registered in $reg_ms ms"
else
	fail "it registered within 300 s"
	reg_ms=none
fi
line=$(grep -m 1 "registered with the mds" "$LOG")
echo "$line"
expect "it reported every chunk in its folder" $((N + 200)) \
	"$(sed -n 's/.*, \([0-9]*\) chunks reported.*/\1/p' <<< "$line")"
pages=$(grep -c '^report ' "$T/proxy.log")
largest=$(awk '$1 == "report" && $2 > m { m = $2 } END { print m + 0 }' "$T/proxy.log")
echo "on the wire: $pages REPORTs, the largest of $largest chunks"
expect "one registration" 1 "$(grep -c '^register$' "$T/proxy.log")"
check "in pages of at most $PAGE chunks (the largest: $largest)" [ "$largest" -le "$PAGE" ]
if grep -q " in [0-9]* pages" <<< "$line"; then
	expect "the pages its log names are those on the wire" "$pages" \
		"$(sed -n 's/.* in \([0-9]*\) pages.*/\1/p' <<< "$line")"
fi
expect "each page answered by the mds" "$pages" "$(grep -c '^answer ' "$T/proxy.log")"
expect "every chunk reported once" "$((N + 200)) $((N + 200))" \
	"$(grep -c '^report ' "$T/proxy.ids") $(sed -n 's/^report //p' "$T/proxy.ids" | sort -u | wc -l)"
check "the mds ordered deleted exactly the removed files' chunks" \
	diff <(sort "$T/removed.ids") <(sed -n 's/^delete //p' "$T/proxy.ids" | sort)
expect "and no version to fix" 0 "$(awk '$1 == "answer" { f += $3 } END { print f + 0 }' \
	"$T/proxy.log")"
within 30 "the chunk server deleted them" 0 present "$T/removed.ids"
expect "and kept every other chunk" $((N + 100)) "$(find "$CSD/chunks" -name '*.chk' | wc -l)"
server_chunks() {
	"$ZCFS" status --dir "$D" --json | sed -n 's/.*"chunk_servers":\[{[^]]*"chunks":\([0-9]*\).*/\1/p'
}
within 30 "its heartbeats tell the mds how many it holds" $((N + 100)) server_chunks

# -- reads: the files through the mount, chunks with READ
echo 3 > /proc/sys/vm/drop_caches
check "the 100 files left read back through the mount" diff -r "$T/src" "$M/f"
# ok|STATUS counts of `zc_many read`, e.g. "1000 ok" or "990 ok|10 NOENT".
outcomes() {
	"$ZCFS_MANY" read "$D/cluster.key" "127.0.0.1:$PORT" "$@" | awk '{ $1 = ""; print substr($0, 2) }' |
		sort | uniq -c | awk '{ n = $1; $1 = ""; print n $0 }' | paste -s -d '|'
}
SAMPLE=$(for k in $(seq 0 999); do printf '%016x\n' $(( 0x$BASE + (k * N / 1000 + 1) % N )); done |
	sort -u | grep -v -x -F "$DAMAGED")
n=$(wc -w <<< "$SAMPLE")
t=$(now_ms)
expect "$n chunks across the $N read whole with READ, every byte right" "$n ok" \
	"$(outcomes 1 $SAMPLE)"
echo "$n READs in $(( $(now_ms) - t )) ms"
expect "a READ with another version is refused" "1 STALE" "$(outcomes 2 "$BASE")"
expect "a chunk it does not have is not found" "1 NOENT" \
	"$(outcomes 1 "$(printf '%x' $(( 0x$BASE + N )))")"

# -- the scrubber's pass: it reaches every damaged chunk and tells the mds
# (CHUNK_BAD, seen by the proxy: no log wording involved)
scrubbed() { sed -n 's/^bad //p' "$T/proxy.ids" | sort -u | grep -c -x -F "$DAMAGED"; }
within 180 "the scrubber found the 8 damaged chunks among the $N" 8 scrubbed &&
	echo "the scrubber had found them $(( ($(now_ms) - t0) / 1000 )) s after the start"
# Read only now: a server telling the mds of a damaged chunk it was asked
# for would have done the scrubber's work.
expect "the damaged ones are refused, not served" "8 CRC" "$(outcomes 1 $DAMAGED)"
sleep 2	# a little of its next pass
kill_bg "$w"
echo "figures at $N chunks: registration $reg_ms ms in $pages pages;" \
	"now $(proc_fds "$cs") descriptors, VmRSS $(( $(proc_mem "$cs") / 1024 )) MiB;" \
	"the mds: VmRSS $(( $(proc_mem "$(conf pid.mds)") / 1024 )) MiB"
echo "chunk server, limit 1024, from its start through the scrub:"
bounded "$T/cs.samples" 1024 $MAX_RSS_MIB "$LOG"
finish
