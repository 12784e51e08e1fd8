# SPDX-License-Identifier: MIT
# Two clients of one cluster: open(O_TRUNC); O_APPEND from both at once;
# a file unlinked or renamed over on one client while open on the other;
# flock and fcntl locks across clients (conflicts, byte ranges, F_GETLK,
# waiting, EINTR, release on unlock, process death and lease expiry);
# sizes and mtimes written on one client as stat shows them on the other;
# `zcfs down` unmounting a client that `zcfs mount --dir` added.
. "$(dirname "$0")/../lib.sh"
need_fuse
need_lockf
LEASE=3
start_cluster --cs 2 --replicas 1 --lease $LEASE
M2=$T/mnt2
mount_client "$M2" || exit 1
M2_PID=$CLIENT_PID

# The bytes of a file, escaped as zc_lockf prints them ("hi\n").
bytes() { lockf -r -n "$1" read 0 4096; }
md5() { md5sum < "$1" | cut -c1-32; }
size_of() { stat -c %s "$1" 2>/dev/null || echo none; }
exists() { if [ -e "$1" ]; then echo present; else echo absent; fi; }
# Waits until the clock has left second $1: times set after it differ.
after_second() { while [ "$(date +%s)" -le "$1" ]; do sleep 0.1; done; }
# Are the mtime and the ctime of a file both after second $2?
newer() { [ "$(stat -c %Y "$1")" -gt "$2" ] && [ "$(stat -c %Z "$1")" -gt "$2" ]; }
state() { if running "$1"; then echo running; else echo stopped; fi; }

# -- open(O_TRUNC): data, size, mtime and ctime, on both clients
printf 'hello world\n' > "$M/t"
within 3 "client 2 reads what client 1 wrote" 'hello world\n' bytes "$M2/t"
touch -d @1000000000 "$M/t"
c0=$(stat -c %Z "$M/t")
after_second "$c0"
printf 'hi\n' > "$M/t"
expect "client 1: O_TRUNC and a write leave exactly the new bytes" 'hi\n' "$(bytes "$M/t")"
within 3 "client 2: exactly the new bytes" 'hi\n' bytes "$M2/t"
t1=$(stat -c '%s %Y %Z' "$M/t")
check "client 1: mtime and ctime after $c0 (size mtime ctime: $t1)" newer "$M/t" "$c0"
within 3 "client 2: size, mtime and ctime as on client 1" "$t1" stat -c '%s %Y %Z' "$M2/t"
# An O_TRUNC open alone, nothing written.
touch -d @1000000000 "$M/t"
c0=$(stat -c %Z "$M/t")
after_second "$c0"
: > "$M/t"
t1=$(stat -c '%s %Y %Z' "$M/t")
expect "client 1: open(O_TRUNC) alone: size 0" 0 "$(size_of "$M/t")"
check "client 1: and mtime and ctime after $c0 (size mtime ctime: $t1)" newer "$M/t" "$c0"
within 3 "client 2: the same size and times" "$t1" stat -c '%s %Y %Z' "$M2/t"
expect "client 2: nothing left to read" "" "$(bytes "$M2/t")"

# -- O_APPEND from both clients at once: 64-byte lines, none torn or lost
N=200
pad=$(printf '%055d' 0)
appender() { # dir tag
	for i in $(seq 1 $N); do
		printf '%s %05d %s\n' "$2" "$i" "$pad" >> "$1/app"
	done
}
# "COUNT in order", or where one writer's lines went out of order.
writer_lines() { # file tag
	awk -v t="$2" '$1 == t { n++; if ($2 + 0 != n && !bad) bad = NR }
		END { if (bad) print n + 0 " lines, out of order at line " bad
		      else print n + 0 " in order" }' "$1"
}
: > "$M/app"
appender "$M" A &
a1=$!
appender "$M2" B &
a2=$!
EXTRA_PIDS="$EXTRA_PIDS $a1 $a2"
wait_pid $a1 120
r1=$?
wait_pid $a2 120
expect "both appenders finished without an error" "0 0" "$r1 $?"
within 3 "client 1: the size is the sum of the appends" $((2 * N * 64)) size_of "$M/app"
within 3 "client 2: the same size" $((2 * N * 64)) size_of "$M2/app"
expect "no torn or mixed line" 0 "$(grep -c -v -E "^[AB] [0-9]{5} $pad\$" "$M/app")"
expect "client 1's lines: all, in order" "$N in order" "$(writer_lines "$M/app" A)"
expect "client 2's lines: all, in order" "$N in order" "$(writer_lines "$M/app" B)"
within 3 "both clients read the same bytes" "$(md5 "$M/app")" md5 "$M2/app"
echo "the appenders alternated $(awk 'NR > 1 && $1 != p { s++ } { p = $1 } END { print s + 0 }' \
	"$M/app") times"

# -- a file unlinked or renamed over on one client while open on another:
# reads, writes and fstat through the descriptor work (nlink 0), and the
# file is freed at the last close.  The same steps run on a local file
# system give the expected output.
seq 1 200000 > "$T/victim"	# 1288895 bytes
held_while_removed() { # dir1 dir2 unlink|rename out: the holder (pid $BG) on dir1
	local f=victim-$3
	cp "$T/victim" "$2/$f"
	[ "$3" = rename ] && echo replacement > "$2/new"
	# sleep 1.5: past the attribute timeout, when client 2's change must show.
	lockf_bg "$4" "$1/$f" read 0 12 echo opened wait-file "$4.go" sleep 1.5 fstat \
		read 0 12 read 1000000 24 write 1288895 tail write 2000000 end fstat \
		read 1288890 15 read 1999998 8 fsync fstat echo done wait-file "$4.close"
	wait_grep '^opened$' "$4" 10 || return 1
	if [ "$3" = unlink ]; then rm "$2/$f"; else mv "$2/new" "$2/$f"; fi
	echo 3 > /proc/sys/vm/drop_caches	# what the holder reads next comes from the servers
	touch "$4.go"
	wait_grep '^done$' "$4" 30
}
counts() { echo "inodes $(cluster inodes) chunks $(cluster chunks)"; }
mkdir "$T/local"
for how in unlink rename; do
	held_while_removed "$T/local" "$T/local" $how "$T/local-$how"
	touch "$T/local-$how.close"
	wait_pid "$BG" 10
	[ "$how" = rename ] && keep=1 || keep=0	# the replacement stays
	i0=$(cluster inodes)
	c0=$(cluster chunks)
	held_while_removed "$M" "$M2" $how "$T/$how"
	holder=$BG
	if [ $how = unlink ]; then
		within 3 "client 1: the name is gone" absent exists "$M/victim-$how"
	else
		within 3 "client 1: the name is the replacement" replacement cat "$M/victim-$how"
	fi
	expect "while open the file is kept" \
		"inodes $((${i0:-0} + 1 + keep)) chunks $((${c0:-0} + 1 + keep))" "$(counts)"
	touch "$T/$how.close"
	wait_pid "$holder" 10
	expect "the holder closed and exited" 0 $?
	expect "$how on client 2 while open on client 1: the holder reads, writes and fstats" \
		"$(lines "$T/local-$how")" "$(lines "$T/$how")"
	within 10 "after the last close the file is freed" \
		"inodes $((${i0:-0} + keep)) chunks $((${c0:-0} + keep))" counts
done

# -- fcntl locks across clients
: > "$M/lk"
lockf_bg "$T/h1" "$M/lk" wr 0 100 rd 200 100 echo locked wait-file "$T/h1.un" un 0 100 \
	echo unlocked hold
h1=$BG
wait_grep '^locked$' "$T/h1" 10
expect "client 1: a holder takes [0,100) for writing, [200,300) for reading" "ok|ok|locked" \
	"$(lines "$T/h1")"
expect "client 2: a write lock in the holder's write range is refused" EAGAIN \
	"$(lockf "$M2/lk" wr 50 10)"
expect "client 2: a read lock in the write range is refused" EAGAIN "$(lockf "$M2/lk" rd 99 5)"
expect "client 2: a read lock in the read range is granted" ok "$(lockf "$M2/lk" rd 250 10)"
expect "client 2: a write lock in the read range is refused" EAGAIN "$(lockf "$M2/lk" wr 250 10)"
expect "client 2: the range between them is free" ok "$(lockf "$M2/lk" wr 100 100)"
expect "client 2: from the end of the read range to EOF is free" ok "$(lockf "$M2/lk" wr 300 0)"
expect "client 1, another process: refused as well" EAGAIN "$(lockf "$M/lk" wr 0 1)"
expect "client 2: F_GETLK shows the holder's write lock" "wr 0 100 $h1" \
	"$(lockf "$M2/lk" get wr 50 10)"
expect "client 2: F_GETLK for writing in the read range shows the read lock" "rd 200 100 $h1" \
	"$(lockf "$M2/lk" get wr 250 100)"
expect "client 2: F_GETLK for reading in the read range: unlocked" unlocked \
	"$(lockf "$M2/lk" get rd 220 5)"
expect "client 2: F_GETLK between the ranges: unlocked" unlocked "$(lockf "$M2/lk" get wr 100 100)"
expect "client 1, another process: F_GETLK shows the holder" "wr 0 100 $h1" \
	"$(lockf "$M/lk" get wr 0 0)"

lockf_bg "$T/w1" "$M2/lk" echo waiting wrw 0 1 echo got hold
w1=$BG
wait_grep '^waiting$' "$T/w1" 10
sleep 1	# nothing to wait for: it must simply still be waiting a while later
expect "client 2: F_SETLKW waits while client 1 holds the range" waiting "$(lines "$T/w1")"
touch "$T/h1.un"
wait_grep '^holding$' "$T/w1" 10
wait_grep '^holding$' "$T/h1" 5
expect "client 2: F_SETLKW gets the lock once client 1 unlocks" "waiting|ok|got|holding" \
	"$(lines "$T/w1")"
expect "client 1: the holder unlocked" "ok|ok|locked|ok|ok|unlocked|holding" "$(lines "$T/h1")"
expect "client 1: F_SETLKW interrupted by SIGALRM fails with EINTR" "ok|EINTR|after" \
	"$(LOCKF_TIMEOUT=15 lockf "$M/lk" alarm 1 wrw 0 1 echo after)"
expect "client 1: still refused before client 2's holder dies" EAGAIN "$(lockf "$M/lk" wr 0 1)"
kill_bg "$w1"
within 3 "client 1: the lock is free once client 2's holder is killed" ok lockf "$M/lk" wr 0 1
expect "client 2: the read range of the client 1 holder is still held" EAGAIN \
	"$(lockf "$M2/lk" wr 200 1)"
kill_bg "$h1"
within 3 "client 2: free once the client 1 holder is killed" ok lockf "$M2/lk" wr 0 0

# -- flock across clients
lockf_bg "$T/f1" "$M/lk" fex echo locked hold
f1=$BG
wait_grep '^holding$' "$T/f1" 10
expect "client 1: a holder takes LOCK_EX" "ok|locked|holding" "$(lines "$T/f1")"
expect "client 2: LOCK_EX|LOCK_NB is refused" EWOULDBLOCK "$(lockf "$M2/lk" fexnb)"
expect "client 2: LOCK_SH|LOCK_NB is refused" EWOULDBLOCK "$(lockf "$M2/lk" fshnb)"
expect "client 1, another process: refused as well" EWOULDBLOCK "$(lockf "$M/lk" fexnb)"
expect "client 2: flock does not block fcntl locks" ok "$(lockf "$M2/lk" wr 0 0)"
expect "client 2: LOCK_EX waits and SIGALRM interrupts it with EINTR" "ok|EINTR" \
	"$(LOCKF_TIMEOUT=15 lockf "$M2/lk" alarm 1 fex)"
kill_bg "$f1"
within 3 "client 2: LOCK_EX granted once the holder is killed" ok lockf "$M2/lk" fexnb
lockf_bg "$T/f2" "$M/lk" fsh echo locked wait-file "$T/f2.un" fun echo unlocked hold
f2=$BG
wait_grep '^locked$' "$T/f2" 10
expect "client 2: LOCK_SH beside a LOCK_SH on client 1" ok "$(lockf "$M2/lk" fshnb)"
expect "client 2: LOCK_EX|LOCK_NB refused beside it" EWOULDBLOCK "$(lockf "$M2/lk" fexnb)"
lockf_bg "$T/fw" "$M2/lk" echo waiting fex echo got
fw=$BG
wait_grep '^waiting$' "$T/fw" 10
sleep 1	# as above: still waiting a while later
expect "client 2: LOCK_EX waits while client 1 holds LOCK_SH" waiting "$(lines "$T/fw")"
touch "$T/f2.un"
wait_pid "$fw" 10
expect "client 2: LOCK_EX granted once client 1 unlocks" "waiting|ok|got" "$(lines "$T/fw")"
kill_bg "$f2"

# -- a size written on client 1 is seen by stat on client 2
: > "$M/sz"
touch -d @1000000000 "$M/sz"
within 3 "client 2 sees the empty file" "0 1000000000" stat -c '%s %Y' "$M2/sz"
a100=$(printf '%0100d' 0)
lockf_bg "$T/sz" "$M/sz" write 0 "$a100" fsync echo synced wait-file "$T/sz.go" \
	write 100 "$a100" close echo closed
sz=$BG
wait_grep '^synced$' "$T/sz" 10
check "client 1: the write set the mtime (now $(stat -c %Y "$M/sz"), was 1000000000)" \
	[ "$(stat -c %Y "$M/sz")" -gt 1000000000 ]
within 2 "client 2: size and mtime after client 1's fsync" "$(stat -c '%s %Y' "$M/sz")" \
	stat -c '%s %Y' "$M2/sz"
touch "$T/sz.go"
wait_pid "$sz" 10
expect "the writer wrote and closed" "ok|ok|synced|ok|ok|ok|closed" "$(lines "$T/sz")"
within 2 "client 2: size and mtime after client 1's close" "$(stat -c '%s %Y' "$M/sz")" \
	stat -c '%s %Y' "$M2/sz"

# A writer that keeps writing, without fsync or close: 40 x 4 KiB in 10 s.
blk=$(printf '%04096d' 0)
steps=()
for i in $(seq 0 39); do steps+=(write $((i * 4096)) "$blk" sleep 0.25); done
lockf_bg "$T/grow" "$M/grow" "${steps[@]}" echo written hold
grow=$BG
bigger() { [ "$(size_of "$M2/grow")" -gt "$1" ] 2>/dev/null; }
if eventually 5 bigger 0; then
	s1=$(size_of "$M2/grow")
	ok "client 2 sees the file being written grow within 5 s (to $s1)"
	if eventually 5 bigger "$s1"; then
		ok "and grow again within 5 s more (to $(size_of "$M2/grow"))"
	else
		fail "client 2: the size stayed at $s1 for 5 s while client 1 wrote"
	fi
else
	fail "client 2: the size of the file being written stayed '$(size_of "$M2/grow")' for 5 s"
fi
wait_grep '^holding$' "$T/grow" 20
within 5 "client 2: the whole size while the writer still holds it open, never synced" \
	$((40 * 4096)) size_of "$M2/grow"
kill_bg "$grow"

# -- a file made on client 1 and held open there, written on client 2 only
# past its first chunk: that chunk (placed when the file was made, never
# written) reads as zeros on both clients, not as lost (EIO)
lockf_bg "$T/made" "$M/made" hold
made=$BG
wait_grep '^holding$' "$T/made" 10
check "client 2 writes 4 KiB at 100 MiB" \
	dd if=/dev/urandom of="$M2/made" bs=4k seek=25600 count=1 conv=notrunc status=none
check "client 2 reads the first chunk: zeros" \
	cmp <(head -c 64M "$M2/made") <(head -c 64M /dev/zero)
within 3 "client 1 sees the size" $((100 * 1048576 + 4096)) size_of "$M/made"
check "client 1 reads the first chunk: zeros" \
	cmp <(head -c 64M "$M/made") <(head -c 64M /dev/zero)
kill_bg "$made"

# -- client 2's mount process killed while a process on it holds locks:
# they stay until client 2's session lease runs out, then go.
lockf_bg "$T/lease" "$M2/lease" wr 0 0 fex echo locked hold
wait_grep '^holding$' "$T/lease" 10
expect "client 2: a holder takes a fcntl lock and a flock" "ok|ok|locked|holding" \
	"$(lines "$T/lease")"
kill_bg "$M2_PID"
t0=$(date +%s%N)
expect "right after client 2 dies its fcntl lock still holds" EAGAIN "$(lockf "$M/lease" wr 0 0)"
expect "and its flock" EWOULDBLOCK "$(lockf "$M/lease" fexnb)"
within $((LEASE + 5)) "client 1 gets the fcntl lock after the $LEASE s lease" ok \
	lockf "$M/lease" wr 0 0 &&
	echo "granted $(( ($(date +%s%N) - t0) / 1000000 )) ms after the kill"
within 2 "and the flock" ok lockf "$M/lease" fexnb

# -- zcfs down also unmounts the clients zcfs mount --dir added
M3=$T/mnt3
if mount_client "$M3"; then
	m3=$CLIENT_PID
	"$ZCFS" down --dir "$D" > /dev/null
	within 10 "zcfs down unmounts a client added by zcfs mount --dir" absent \
		sh -c "grep -q ' $M3 ' /proc/mounts && echo present || echo absent"
	within 10 "and stops its process" stopped state "$m3"
else
	fail "a third client mounts"
fi
finish
