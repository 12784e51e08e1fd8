# SPDX-License-Identifier: MIT
# Reads at every alignment around chunk boundaries, holes and EOF return
# the right bytes, buffered and direct.
. "$(dirname "$0")/../lib.sh"
start_cluster

C=$((64 * 1048576))
L=$T/local
# The same sparse file locally and in the mount: data around the first
# chunk boundary, a hole, data just inside the third chunk, a tail hole.
mkdata "$T/d1" 10000 one
mkdata "$T/d2" 70000 two
for f in "$L" "$M/sparse"; do
	truncate -s $((3 * C + 100)) "$f"
	dd if="$T/d1" of="$f" bs=1M seek=$((C - 5000)) oflag=seek_bytes conv=notrunc status=none
	dd if="$T/d2" of="$f" bs=1M seek=$((2 * C + 1)) oflag=seek_bytes conv=notrunc status=none
done
check "same size" [ "$(stat -c %s "$L")" = "$(stat -c %s "$M/sparse")" ]
echo 3 > /proc/sys/vm/drop_caches

bad=0
for off in 0 1 $((C - 5001)) $((C - 5000)) $((C - 4999)) $((C - 4096)) $((C - 1)) $C \
	$((C + 1)) $((C + 4095)) $((C + 4999)) $((C + 5000)) $((2 * C - 1)) $((2 * C)) \
	$((2 * C + 1)) $((2 * C + 4096)) $((2 * C + 69999)) $((2 * C + 70001)) \
	$((3 * C - 1)) $((3 * C + 99)) $((3 * C + 100)); do
	for len in 1 4095 4096 8192 65539 1048576 1500000; do
		want=$(dd if="$L" bs=1M skip=$off count=$len iflag=skip_bytes,count_bytes status=none | md5sum)
		got=$(dd if="$M/sparse" bs=1M skip=$off count=$len iflag=skip_bytes,count_bytes status=none | md5sum)
		[ "$want" = "$got" ] || { bad=$((bad + 1)); echo "buffered off $off len $len differs"; }
		got=$(dd if="$M/sparse" bs=1M skip=$off count=$len iflag=skip_bytes,count_bytes,direct status=none | md5sum)
		[ "$want" = "$got" ] || { bad=$((bad + 1)); echo "direct off $off len $len differs"; }
	done
done
check "every alignment reads the right bytes" [ $bad = 0 ]
check "whole file" cmp "$L" "$M/sparse"
check "whole file, direct 1 MiB" cmp "$L" <(dd if="$M/sparse" bs=1M iflag=direct status=none)
# Buffered reads keep several 1 MiB requests in flight: the mount raised
# its readahead after the kernel set it from INIT (to 1 MiB).
ra=$(cat "/sys/class/bdi/$(mountpoint -d "$M")/read_ahead_kb")
check "readahead 16 MiB (read_ahead_kb: expected 16384, got $ra)" [ "$ra" = 16384 ]
finish
