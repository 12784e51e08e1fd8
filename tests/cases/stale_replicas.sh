# SPDX-License-Identifier: MIT
# Stop two of three chunk servers, overwrite a file, bring them back: their
# replicas are stale, detected and replaced, never served, and the stale
# copies' files are gone from their folders.
. "$(dirname "$0")/../lib.sh"
start_cluster --cs 3 --replicas 3 --grace 2

CHUNK=$((64 * 1048576))
mkdata "$T/old" $((100 * 1048576)) old
mkdata "$T/new" $((100 * 1048576)) new
cp "$T/old" "$M/f"
check "three replicas" all_replicas "$M/f" 3

# A chunk file's version (its header: magic:32 format:32 id:64 version:32)
# and whether its data is the given bytes of a file (from chunk index idx).
file_version() { od -An -tu4 -j16 -N4 "$1" | tr -d ' '; }
holds() { # chunk-file data-file idx
	local len=$(( $(stat -c %s "$1") - 8192 ))
	cmp -s <(tail -c +8193 "$1") <(tail -c +$(( $3 * CHUNK + 1 )) "$2" | head -c "$len")
}
# The replica files of servers 2 and 3 before the overwrite:
# "idx path version" lines.
"$ZCFS" getattr "$M/f" | sed -n 's/^chunk \([0-9]*\) id \([0-9a-f]*\) .*/\1 \2/p' > "$T/chunks"
: > "$T/old.files"
while read -r idx id; do
	for i in 2 3; do
		for f in "$D"/cs$i/chunks/*/"$id".chk; do
			[ -f "$f" ] && echo "$idx $f $(file_version "$f")" >> "$T/old.files"
		done
	done
done < "$T/chunks"
expect "two chunks of 100 MiB" 2 "$(wc -l < "$T/chunks")"
expect "servers 2 and 3 hold a file of each chunk" 4 "$(wc -l < "$T/old.files")"
all_hold() { # data-file: every file listed holds its bytes
	local idx f v
	while read -r idx f v; do
		holds "$f" "$1" "$idx" || { echo "$f (chunk $idx) does not hold $1's bytes"; return 1; }
	done < "$T/old.files"
}
check "the files hold the old bytes" all_hold "$T/old"

# SIGTERM: a clean stop, as an operator's maintenance would do.
kill "$(cs_pid 2)" "$(cs_pid 3)"
check "two servers down" wait_cluster cs_down 2 20
check "overwrite with one server left" dd if="$T/new" of="$M/f" bs=1M conv=notrunc status=none
check "the new bytes read back" cmp "$T/new" "$M/f"
"$ZCFS" up --dir "$D" --mount "$M" >/dev/null	# restarts the stopped servers
check "all three back" wait_cluster cs_up 3 20
check "stale replicas replaced: three good replicas again" wait_cluster chunks_under_replicated 0 150
check "every chunk on three live servers" eventually 60 all_replicas "$M/f" 3

# Each old copy's file is gone, or is now a newer version holding the new
# bytes (the repair copied the chunk there again under the same name).
old_copies_gone() {
	local idx f v now bad=0
	while read -r idx f v; do
		[ -f "$f" ] || continue
		now=$(file_version "$f")
		if [ "$now" -le "$v" ]; then
			echo "$f: still version $now (the stale copy was version $v)"
			bad=1
		elif ! holds "$f" "$T/new" "$idx"; then
			echo "$f: version $now (was $v), but not the new bytes of chunk $idx"
			bad=1
		fi
	done < "$T/old.files"
	return $bad
}
check "the stale servers deleted their old copies" eventually 20 old_copies_gone
# Only the repaired replicas are left to serve: stop the one that stayed.
kill "$(cs_pid 1)"
check "one server down" wait_cluster cs_down 1 20
echo 3 > /proc/sys/vm/drop_caches
check "the repaired replicas serve the new bytes, never the old" cmp "$T/new" "$M/f"
check "direct reads too" cmp "$T/new" <(dd if="$M/f" bs=1M iflag=direct status=none)
finish
