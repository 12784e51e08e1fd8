# SPDX-License-Identifier: MIT
# Empty files made for writing (touch, `: >`, a file held open and never
# written) get a chunk placed that no chunk server has a file for.  A
# server lost must not leave them under-replicated for ever: a closed
# file's never-written chunk is dropped, an open one's copy completes
# without data; afterwards they are written and read back.
. "$(dirname "$0")/../lib.sh"
start_cluster --cs 3 --replicas 2 --grace 2

for i in 1 2 3 4 5; do touch "$M/t$i"; done
: > "$M/e"
exec 7> "$M/held"	# open for writing, nothing written yet
check "the empty files are there" [ "$(find "$M" -type f -size 0 | wc -l)" = 7 ]

kill "$(cs_pid 1)"
check "one server down" wait_cluster cs_down 1 20
check "the mds saw it stop" wait_grep "stopped heartbeating" "$D/mds.log" 20
sleep 5	# past the grace period (2 s): its replicas are looked at
under=
wait_cluster chunks_under_replicated 0 40 || under=$(cluster chunks_under_replicated)
check "no chunk left under-replicated (expected 0, got ${under:-0})" [ -z "$under" ]
check "none unreadable" [ "$(cluster chunks_bad)" = 0 ]

mkdata "$T/bytes" 300000 empty
cat "$T/bytes" >&7
exec 7>&-
check "the held file, written after the loss, reads back" cmp "$T/bytes" "$M/held"
check "on 2 replicas" all_replicas "$M/held" 2
cp "$T/bytes" "$M/t1"
check "a touched file, written after the loss, reads back" cmp "$T/bytes" "$M/t1"
check "on 2 replicas too" all_replicas "$M/t1" 2
check "the others still empty" [ "$(find "$M" -type f -size 0 | wc -l)" = 5 ]
finish
