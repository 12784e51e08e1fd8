# SPDX-License-Identifier: MIT
# Three replicas on four chunk servers: kill -9 a chunk server during a
# 1 GiB read and during a 1 GiB write (the transfer is checked to be under
# way when the server is gone); both complete with the right bytes and
# every chunk is back at three good replicas afterwards.  A byte
# flipped in one replica is caught, reported and the replica replaced.
. "$(dirname "$0")/../lib.sh"
start_cluster --cs 4 --replicas 3 --grace 2 --scrub-interval 1

G=$((1024 * 1048576))
mkdata "$T/a" $G alpha
check "write 1 GiB" cp "$T/a" "$M/a"
check "three replicas of every chunk" all_replicas "$M/a" 3
check "zcfs getattr shows the goal" sh -c "'$ZCFS' getattr '$M/a' | grep -q 'replicas 3'"

# io_bytes PID FIELD: what a process has read (rchar) or written (wchar).
io_bytes() { sed -n "s/^$2: //p" "/proc/$1/io" 2>/dev/null; }
# kill_mid PID FIELD N "what": once PID has moved 64 MiB, kills chunk
# server N and checks that the transfer was still under way when the
# server was gone: more than nothing and less than all of it done, and
# PID still running afterwards (else the retry counter must have grown).
kill_mid() {
	local pid=$1 field=$2 cs=$3 what=$4 at cpid retries before after
	for _ in $(seq 1 120); do
		at=$(io_bytes "$pid" "$field")
		[ "${at:-0}" -ge $((64 * 1048576)) ] && break
		sleep 0.25
	done
	before=$(counter "$retries_counter")
	cpid=$(cs_pid "$cs")
	kill -9 "$cpid"
	check "chunk server $cs is gone" wait_gone "$cpid" 10
	if running "$pid"; then
		at=$(io_bytes "$pid" "$field")
		echo "$what: $((at / 1048576)) MiB of 1024 done when chunk server $cs was gone"
		check "the kill landed during the $what (done: $at of $G bytes)" \
			[ "$at" -gt 0 -a "$at" -lt "$G" ]
	else
		# Over already: only the retries can show the kill came first.
		sleep 2	# the client's counters reach the mds each second
		after=$(counter "$retries_counter")
		check "the $what ended before the kill was seen: then it retried" \
			[ "${after:-0}" -gt "${before:-0}" ]
	fi
}

# -- kill a chunk server during a 1 GiB read
echo 3 > /proc/sys/vm/drop_caches
# 128 KiB direct requests: slow enough that the kill lands mid-read.  dd
# feeds cmp through a FIFO: its own counters say how far the read got.
mkfifo "$T/fifo"
cmp "$T/a" "$T/fifo" > "$T/cmp.out" 2>&1 &
checker=$!
dd if="$M/a" of="$T/fifo" bs=128k iflag=direct 2> "$T/dd.err" &
reader=$!
EXTRA_PIDS="$checker $reader"
retries_counter=read_retries
kill_mid $reader rchar 1 read
wait $reader
expect "the 1 GiB read through a chunk server's death ends well (dd's status)" 0 $?
wait $checker
expect "and returns the right bytes (cmp's status; $(cat "$T/cmp.out"))" 0 $?
echo "reads retried on another replica: $(counter read_retries)"
check "recovery: three good replicas again" wait_cluster chunks_under_replicated 0 150
check "every chunk on three live servers" eventually 60 all_replicas "$M/a" 3
"$ZCFS" up --dir "$D" --mount "$M" >/dev/null	# restarts the dead server
check "the dead server is back" wait_cluster cs_up 4 20

# -- kill a chunk server during a 1 GiB write
mkdata "$T/b" $G bravo
dd if="$T/b" of="$M/b" bs=1M 2> "$T/dd.err" &
writer=$!
EXTRA_PIDS=$writer
retries_counter=write_retries
kill_mid $writer wchar 2 write
wait $writer
expect "1 GiB write through a chunk server's death completes (dd's status; $(tail -n 1 "$T/dd.err"))" 0 $?
echo "writes retried: $(counter write_retries)"
check "the written file reads back right" cmp "$T/b" "$M/b"
check "recovery after the write" wait_cluster chunks_under_replicated 0 150
check "every chunk of the new file on three live servers" eventually 60 all_replicas "$M/b" 3
echo 3 > /proc/sys/vm/drop_caches
check "both files still right" sh -c "cmp '$T/a' '$M/a' && cmp '$T/b' '$M/b'"
"$ZCFS" up --dir "$D" --mount "$M" >/dev/null
check "all four servers up" wait_cluster cs_up 4 20

# -- a flipped byte in one replica (alone, so that the scrubber gets to it soon)
rm "$M/a" "$M/b"
mkdata "$T/c" $((3 * 1048576)) charlie
cp "$T/c" "$M/c"
chunk=$("$ZCFS" getattr "$M/c" | sed -n 's/^chunk 0 id \([0-9a-f]*\) .*/\1/p')
file=$(ls "$D"/cs*/chunks/*/"$chunk".chk | head -n 1)
check "found a replica file of the chunk" test -f "$file"
off=$((8192 + 1048576 + 5))
b=$(od -An -tu1 -j $off -N1 "$file" | tr -d ' ')
printf "$(printf '\\%03o' $(( (b + 1) % 256 )))" | dd of="$file" bs=1 seek=$off conv=notrunc status=none
echo 3 > /proc/sys/vm/drop_caches
for i in 1 2 3 4 5; do
	cmp "$T/c" <(dd if="$M/c" bs=1M iflag=direct 2>"$T/dd.err") ||
		fail "read $i: $(cat "$T/dd.err" | head -n 2)"
done
check "the damage was reported and the replica dropped" wait_grep "bad data\|is damaged" "$D/mds.log" 60
check "the chunk is back at three replicas" wait_cluster chunks_under_replicated 0 150
check "three good replicas of the damaged chunk" eventually 60 all_replicas "$M/c" 3
good_byte() { [ ! -f "$file" ] || [ "$(od -An -tu1 -j $off -N1 "$file" | tr -d ' ')" = "$b" ]; }
wait_good() { for _ in $(seq 1 40); do good_byte && return 0; sleep 0.25; done; return 1; }
check "the damaged copy was deleted or replaced by a good one" wait_good
check "reads right" cmp "$T/c" "$M/c"
finish
