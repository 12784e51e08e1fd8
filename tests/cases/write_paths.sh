# SPDX-License-Identifier: MIT
# Writes at every alignment around checksum-block (64 KiB) and chunk
# (64 MiB) boundaries, sizes from 1 B to 4 MiB, buffered and direct,
# overwrites, appends and sparse writes, on 2 replicas: the file reads
# back as the same writes made to a local file.  run.sh runs it with
# zero-copy writes (WRITE payloads spliced from libfuse's pipe to the
# chunk server) and with -o zerocopy=0 (through memory); the client's
# route counters must say which route the bytes took.
. "$(dirname "$0")/../lib.sh"
start_cluster --cs 2 --replicas 2

C=$((64 * 1048576))
B=65536
L=$T/local
F=$M/f
mkdata "$T/src" $((5 * 1048576)) writes
: > "$L"
: > "$F"

# w SIZE OFFSET [direct]: SIZE bytes of src (from an offset of its own, so
# that overwrites change bytes) written at OFFSET of both files.
n=0
w() {
	local size=$1 at=$2 flag=
	[ "${3:-}" = direct ] && flag=oflag=direct,seek_bytes || flag=oflag=seek_bytes
	n=$((n + 1))
	for f in "$L" "$F"; do
		dd if="$T/src" of="$f" bs="$size" count=1 skip=$(( (n * 4099) % 1048576 )) seek="$at" \
			iflag=skip_bytes "$flag" conv=notrunc status=none 2>/dev/null ||
			{ [ "$f" = "$F" ] && fail "write of $size at $at ($3) failed"; }
	done
}

# Around a checksum block and around the first chunk boundary, each size.
for size in 1 4095 4096 4097 65536 1048576 4194304; do
	for at in 0 $((B - 1)) $B $((B + 1)) $((C - size / 2 - 1)) $((C - 1)) $C $((C + 4096)); do
		w "$size" "$at"
	done
done
# Direct writes: aligned sizes and offsets only (O_DIRECT's rule).
for size in 4096 65536 1048576 4194304; do
	for at in 0 $B $((C - 1048576)) $((C - 4096)) $C; do
		w "$size" "$at" direct
	done
done
# Overwrites in the middle of what is there, and far past the end (a hole).
w 100000 123457
w 3000000 $((C - 1500000))
w 5000 $((3 * C + 17))
check "size as local" [ "$(stat -c %s "$F")" = "$(stat -c %s "$L")" ]
echo 3 > /proc/sys/vm/drop_caches
check "every write reads back as locally" cmp "$L" "$F"

# Appends, small and large, interleaved with a plain write.
for size in 1 70000 1048576 333; do
	head -c "$size" "$T/src" | tee -a "$L" >> "$F"
done
echo 3 > /proc/sys/vm/drop_caches
check "appends read back as locally" cmp "$L" "$F"
check "the file is on 2 replicas" all_replicas "$F" 2

# The route the bytes took.
sleep 2.5	# counters reach the mds once a second
zc=$(counter write_zc_bytes)
copy=$(counter write_copy_bytes)
echo "bytes written zero-copy: $zc, through memory: $copy"
if [ "$ZCFS_ZEROCOPY" = 1 ]; then
	check "large writes went zero-copy" [ "${zc:-0}" -gt $((20 * 1048576)) ]
	check "small writes went through memory" [ "${copy:-0}" -gt 0 ]
else
	check "zerocopy=0: nothing zero-copy" [ "${zc:-1}" = 0 ]
	check "zerocopy=0: everything through memory" [ "${copy:-0}" -gt $((20 * 1048576)) ]
fi
check "no pipe left open beyond the pool" [ "$(counter pipes_open)" -le 128 ]

# The chunk servers' route: a stopped server logs the bytes it spliced from
# the socket into its files (and on to the next replica) and those it took
# through memory (writes under 64 KiB, and everything a zerocopy=0 client
# sends).
"$ZCFS" down --dir "$D" >/dev/null || fail "zcfs down"
cs_bytes() { sed -n "s/.*writes: \([0-9]*\) bytes spliced, \([0-9]*\) copied.*/\\$1/p" "$D"/cs*.log |
	awk '{ s += $1 } END { print s + 0 }'; }
spliced=$(cs_bytes 1)
copied=$(cs_bytes 2)
echo "chunk servers: $spliced bytes spliced, $copied copied"
if [ "$ZCFS_ZEROCOPY" = 1 ]; then
	# Both replicas: the first from the client, the second from the first.
	check "chunk servers spliced the large writes" [ "$spliced" -gt $((40 * 1048576)) ]
	check "chunk servers copied the small writes" [ "$copied" -gt 0 ]
else
	check "zerocopy=0: chunk servers spliced nothing" [ "$spliced" = 0 ]
	check "zerocopy=0: chunk servers copied everything" [ "$copied" -gt $((40 * 1048576)) ]
fi
finish
