# SPDX-License-Identifier: MIT
# Stop two of three chunk servers, overwrite a file, bring them back: their
# replicas are stale, detected and replaced, never served.
. "$(dirname "$0")/../lib.sh"
start_cluster --cs 3 --replicas 3 --grace 2

mkdata "$T/old" $((100 * 1048576)) old
mkdata "$T/new" $((100 * 1048576)) new
cp "$T/old" "$M/f"
check "three replicas" all_replicas "$M/f" 3
# SIGTERM: a clean stop, as an operator's maintenance would do.
kill "$(cs_pid 2)" "$(cs_pid 3)"
check "two servers down" wait_cluster cs_down 2 20
check "overwrite with one server left" dd if="$T/new" of="$M/f" bs=1M conv=notrunc status=none
check "the new bytes read back" cmp "$T/new" "$M/f"
"$ZCFS" up --dir "$D" --mount "$M" >/dev/null	# restarts the stopped servers
check "all three back" wait_cluster cs_up 3 20
check "stale replicas replaced: three good replicas again" wait_cluster chunks_under_replicated 0 150
check "every chunk on three live servers" eventually 60 all_replicas "$M/f" 3
check "the stale servers deleted their old copies" wait_grep "stale or orphan" "$D/mds.log" 10
# Only the repaired replicas are left to serve: stop the one that stayed.
kill "$(cs_pid 1)"
check "one server down" wait_cluster cs_down 1 20
echo 3 > /proc/sys/vm/drop_caches
check "the repaired replicas serve the new bytes, never the old" cmp "$T/new" "$M/f"
check "direct reads too" cmp "$T/new" <(dd if="$M/f" bs=1M iflag=direct status=none)
finish
