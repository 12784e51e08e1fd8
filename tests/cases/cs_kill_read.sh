# SPDX-License-Identifier: MIT
# A chunk server killed during a large read: the reader gets the right
# bytes or EIO, never wrong bytes; no request hangs and no pipe or
# descriptor leaks in the client.
. "$(dirname "$0")/../lib.sh"
start_cluster --cs 2 --replicas 1

mkdata "$T/f" $((384 * 1048576)) kill
cp "$T/f" "$M/f"
mpid=$(sed -n 's/^pid\.mount=//p' "$D/cluster.conf")
# Descriptors other than pipes (pipes are pooled, counted apart).
fds() { ls -l "/proc/$mpid/fd" | grep -c -v -e pipe -e '^total'; }
pipe_fds() { ls -l "/proc/$mpid/fd" | grep -c pipe; }

# Warm up: connections and the pipe pool as a large read leaves them.
dd if="$M/f" of=/dev/null bs=1M iflag=direct status=none
cat "$M/f" > /dev/null
before=$(fds)

# Read the file over and over, in both modes; kill a chunk server under
# the readers.  Every pass must be whole and right, or fail with EIO after
# right bytes only.
victim=$(sed -n 's/^pid\.cs1=//p' "$D/cluster.conf")
reader() { # mode
	local flag=; [ "$1" = direct ] && flag=iflag=direct
	for i in $(seq 1 40); do
		dd if="$M/f" of="$T/out.$1" bs=1M $flag 2>"$T/err.$1" || return 1
		cmp -s "$T/f" "$T/out.$1" || { echo "$1 pass $i: wrong bytes"; return 2; }
	done
}
reader direct & r1=$!
reader buffered & r2=$!
EXTRA_PIDS="$r1 $r2"
sleep 0.4
kill -9 "$victim"
for mode in direct buffered; do
	if [ $mode = direct ]; then wait $r1; else wait $r2; fi
	rc=$?
	size=$(stat -c %s "$T/out.$mode")
	check "$mode: the pass cut by the kill failed, not wrong bytes" [ $rc = 1 ]
	check "$mode: it failed with EIO" grep -q "Input/output error" "$T/err.$mode"
	check "$mode: the $size bytes before the error are right" cmp -n "$size" "$T/f" "$T/out.$mode"
done
check "the mount still answers" ls "$M/f"
sleep 2
after=$(fds)
pipes=$(counter pipes_open)
threads=$(ls "/proc/$mpid/task" | wc -l)
echo "client fds before $before, after $after; pipes open: $pipes, pipe fds $(pipe_fds), threads $threads"
check "no descriptor leaked" [ "$after" -le "$before" ]
check "idle pipes stay within the pool" [ "$pipes" -le 128 ]
# Ours, plus at most one pipe per thread inside libfuse.
check "no pipe leaked" [ "$(pipe_fds)" -le $((2 * pipes + 2 * threads)) ]
check "retries or errors were counted" [ "$(( $(counter errors) + $(counter read_retries) ))" -gt 0 ]
finish
