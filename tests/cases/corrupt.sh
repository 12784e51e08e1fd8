# SPDX-License-Identifier: MIT
# A chunk file corrupted on disk is detected: the read fails with EIO
# instead of returning wrong bytes, and the chunk server logs it.
. "$(dirname "$0")/../lib.sh"
start_cluster --replicas 1

mkdata "$T/f" $((2 * 1048576)) corrupt
cp "$T/f" "$M/f"
check "file reads back" cmp "$T/f" "$M/f"
chunk=$(find "$D"/cs*/chunks -name '*.chk' -size +1M | head -n 1)
check "one chunk file holds the data" test -n "$chunk"
# Flip one byte in the data part (after the 8 KiB header), 1 MiB in.
off=$((8192 + 1048576 + 77))
b=$(od -An -tu1 -j $off -N1 "$chunk" | tr -d ' ')
printf "$(printf '\\%03o' $(( (b + 1) % 256 )))" | dd of="$chunk" bs=1 seek=$off conv=notrunc status=none
echo 3 > /proc/sys/vm/drop_caches
out=$(dd if="$M/f" of=/dev/null bs=1M iflag=direct 2>&1)
check "read of the corrupted block fails" [ $? -ne 0 ]
check "with EIO" grep -q "Input/output error" <<< "$out"
check "the untouched first MiB still reads" cmp <(head -c 1048576 "$T/f") \
	<(dd if="$M/f" bs=1M count=1 iflag=direct 2>/dev/null)
check "the chunk server logged the mismatch" grep -q "checksum mismatch" "$D"/cs*.log
finish
