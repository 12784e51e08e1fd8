# SPDX-License-Identifier: MIT
# kill -9 of the mds during a large write and a large read, then `zcfs up`
# again: it restarts only the mds, on the same port.  Both transfers finish
# without an error and with the right bytes; the same client process stays
# mounted, and what it holds stays intact: a file open with a write lock on
# it, and a file unlinked while open.
. "$(dirname "$0")/../lib.sh"
need_fuse
need_lockf
start_cluster --cs 2 --replicas 2

conf() { sed -n "s/^$1=//p" "$D/cluster.conf"; }
# The file offset of descriptor $2 of process $1 (0 once it is gone).
pos() { sed -n 's/^pos:[[:space:]]*//p' "/proc/$1/fdinfo/$2" 2>/dev/null | grep . || echo 0; }
mds0=$(conf mds)
mount0=$(conf pid.mount)
cs0="$(conf pid.cs1) $(conf pid.cs2)"

SIZE=$((400 * 1048576))
mkdata "$T/w" $SIZE write
mkdata "$T/r" $SIZE read
cp "$T/r" "$M/r"
mkdata "$T/gone" $((8 * 1048576)) gone
cp "$T/gone" "$M/gone"

# A process holding a write lock on a file it keeps open, and one holding
# open a file that is then unlinked.
lockf_bg "$T/lk.out" "$M/lk" write 0 "locked data" fsync wr 0 0 echo locked \
	wait-file "$T/lk.go" read 0 11 fstat echo end wait-file "$T/lk.exit"
lk=$BG
lockf_bg "$T/gone.out" -r -n "$M/gone" read 0 16 echo opened wait-file "$T/gone.go" fstat \
	read 5000000 16 read 8388600 16 echo end wait-file "$T/gone.exit"
gone=$BG
wait_grep '^locked$' "$T/lk.out" 10
wait_grep '^opened$' "$T/gone.out" 10
expect "a process writes a file and locks it" "ok|ok|ok|locked" "$(lines "$T/lk.out")"
expect "another process is refused the lock" EAGAIN "$(lockf "$M/lk" wr 0 0)"
rm "$M/gone"

# The transfers: a buffered write and 16 KiB direct reads (several seconds
# each), killed in the middle once both are past their first 32 MiB.
echo 3 > /proc/sys/vm/drop_caches
dd if="$T/w" of="$M/w" bs=1M conv=fsync status=none 2> "$T/w.err" &
wr=$!
dd if="$M/r" of="$T/r.out" bs=16k iflag=direct status=none 2> "$T/r.err" &
rd=$!
EXTRA_PIDS="$EXTRA_PIDS $wr $rd"
under_way() { [ "$(pos $wr 1)" -ge $((32 << 20)) ] && [ "$(pos $rd 0)" -ge $((32 << 20)) ]; }
if eventually 30 under_way; then
	ok "the write and the read got under way"
else
	fail "the write and the read past 32 MiB within 30 s: at $(pos $wr 1) and $(pos $rd 0)"
fi
mds=$(conf pid.mds)
kill -9 "$mds"
at_kill="$(running $wr && echo writing) $(running $rd && echo reading)"
echo "at the kill: $(pos $wr 1) bytes written, $(pos $rd 0) read, of $SIZE each"
expect "the write and the read were still running when the mds died" "writing reading" "$at_kill"
# While the mds is away an operation that needs it waits; Ctrl-C (SIGINT)
# still ends it.
t0=$(date +%s%N)
timeout -s INT 1 stat "$M/never-made" > /dev/null 2>&1
rc=$?
took=$(( ($(date +%s%N) - t0) / 1000000 ))
check "a lookup waiting for the mds ends at Ctrl-C (exit $rc after $took ms)" \
	[ "$rc" = 124 -a "$took" -lt 4000 ]
sleep 2	# the mds stays away a while; the client waits for it

out=$("$ZCFS" up --dir "$D" --mount "$M" 2>&1)
rc=$?
echo "$out"
expect "zcfs up again succeeds" 0 $rc
expect "the mds listens at the same address" "$mds0" "$(conf mds)"
new=$(conf pid.mds)
check "a new mds process runs (pid $new, was $mds)" sh -c "[ '$new' != '$mds' ] && kill -0 '$new'"
expect "the same client process, still running" "$mount0 running" \
	"$(conf pid.mount) $(running "$mount0" && echo running)"
expect "the chunk servers were left alone" "$cs0" "$(conf pid.cs1) $(conf pid.cs2)"
expect "still mounted" fuseblk "$(stat -f -c %T "$M" 2>&1)"

# "exit STATUS" and what dd said, or that it still runs (wait_pid gave 124).
ended() { # status errfile pid
	[ "$1" = 124 ] && running "$3" && { echo "still running after 120 s"; return; }
	local err
	err=$(tr '\n' ' ' < "$2")
	echo "exit $1${err:+: $err}"
}
wait_pid $wr 120
expect "the write finished without an error" "exit 0" "$(ended $? "$T/w.err" $wr)"
wait_pid $rd 120
expect "the read finished without an error" "exit 0" "$(ended $? "$T/r.err" $rd)"
expect "the written file has the full size" $SIZE "$(stat -c %s "$M/w" 2>&1)"
check "the written file has the right bytes" cmp "$T/w" <(dd if="$M/w" bs=1M iflag=direct status=none)
check "the read got the right bytes" cmp "$T/r" "$T/r.out"

# What the client held open across the restart.
echo 3 > /proc/sys/vm/drop_caches	# reads come from the chunk servers
touch "$T/lk.go" "$T/gone.go"
wait_grep '^end$' "$T/lk.out" 20
wait_grep '^end$' "$T/gone.out" 20
expect "the lock holder still reads its file" "ok|ok|ok|locked|ok|locked data|size 11 nlink 1|end" \
	"$(lines "$T/lk.out")"
want="$(lockf -r "$T/gone" read 0 16)|opened|ok|size $((8 * 1048576)) nlink 0"
want="$want|$(lockf -r "$T/gone" read 5000000 16)|$(lockf -r "$T/gone" read 8388600 16)|end"
expect "the unlinked file still reads right through its descriptor" "$want" \
	"$(lines "$T/gone.out")"
expect "another process is still refused the lock" EAGAIN "$(lockf "$M/lk" wr 0 0)"
expect "F_GETLK shows the holder's lock" "wr 0 0 $lk" "$(lockf "$M/lk" get wr 0 0)"
M2=$T/mnt2
if mount_client "$M2"; then
	expect "another client is refused the lock too" EAGAIN "$(lockf "$M2/lk" wr 0 0)"
else
	fail "a second client mounts"
	M2=
fi
touch "$T/lk.exit"
wait_pid "$lk" 10
expect "the lock holder exited" 0 $?
within 3 "the lock is free once its holder is gone" ok lockf "$M/lk" wr 0 0
[ -n "$M2" ] && within 3 "for the other client too" ok lockf "$M2/lk" wr 0 0
inodes=$(cluster inodes)
touch "$T/gone.exit"
wait_pid "$gone" 10
expect "the holder of the unlinked file exited" 0 $?
within 10 "the unlinked file is freed at its last close" $((inodes - 1)) cluster inodes
finish
