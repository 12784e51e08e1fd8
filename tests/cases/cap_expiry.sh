# SPDX-License-Identifier: MIT
# one read path
# Chunk capabilities last 20 s here: a client that keeps a file open and
# reads and writes it for longer renews them before they run out, so no
# I/O fails and no chunk server ever refuses one.
. "$(dirname "$0")/../lib.sh"
start_cluster --cs 2 --replicas 2 --cap-life 20

mkdata "$T/f" $((8 * 1048576)) cap
cp "$T/f" "$M/f"
exec 5< "$M/f"		# the file stays open: its layouts stay cached
errors=0
end=$(( $(date +%s) + 45 ))
i=0
while [ "$(date +%s)" -lt "$end" ]; do
	blk=$(( i % 8 ))
	head -c 1048576 /dev/urandom > "$T/blk"
	dd if="$T/blk" of="$M/f" bs=1M seek=$blk count=1 conv=notrunc oflag=direct status=none ||
		errors=$((errors + 1))
	dd if="$T/blk" of="$T/f" bs=1M seek=$blk count=1 conv=notrunc status=none
	cmp -s "$T/blk" <(dd if="$M/f" bs=1M skip=$blk count=1 iflag=direct status=none) ||
		errors=$((errors + 1))
	i=$((i + 1))
	sleep 1
done
exec 5<&-
expect "no read or write failed over two capability lifetimes ($i rounds)" 0 "$errors"
check "the file is what was written" cmp "$T/f" "$M/f"
check "no chunk server refused a capability" \
	bash -c '! grep -h "refused: capability" "$1"/cs*.log' _ "$D"
finish
