# SPDX-License-Identifier: MIT
# A tree of mixed files (empty, 1 byte, 4 KiB +-1, 64 MiB +-1 across chunk
# boundaries, 200 MiB) copied in and read back byte for byte; reads at odd
# offsets across chunk boundaries, buffered and direct.
. "$(dirname "$0")/../lib.sh"
start_cluster

SRC=$T/src
mkdir -p "$SRC/sub/deeper"
: > "$SRC/empty"
mkdata "$SRC/one" 1 a
mkdata "$SRC/sub/4095" 4095 b
mkdata "$SRC/sub/4096" 4096 c
mkdata "$SRC/sub/4097" 4097 d
mkdata "$SRC/sub/deeper/64m-1" $((64 * 1048576 - 1)) e
mkdata "$SRC/sub/deeper/64m" $((64 * 1048576)) f
mkdata "$SRC/sub/deeper/64m+1" $((64 * 1048576 + 1)) g
mkdata "$SRC/big" $((200 * 1048576)) h

check "cp -r into the mount" cp -r "$SRC" "$M/tree"
for f in $(cd "$SRC" && find . -type f); do
	check "cmp $f" cmp "$SRC/$f" "$M/tree/$f"
done
check "sizes as the source" diff <(cd "$SRC" && find . -type f -printf '%p %s\n' | sort) \
	<(cd "$M/tree" && find . -type f -printf '%p %s\n' | sort)

# Drop the client's page cache: reads must come from the chunk servers.
echo 3 > /proc/sys/vm/drop_caches
check "cmp big after dropping caches" cmp "$SRC/big" "$M/tree/big"

# Odd offsets and lengths around the 64 MiB boundary, buffered and direct.
C=$((64 * 1048576))
for off in $((C - 4097)) $((C - 1)) $C $((C + 1)) $((2 * C - 12345)) $((3 * C - 1))
do
	for len in 1 4095 65537 1048576 3000000; do
		a=$(tail -c +$((off + 1)) "$SRC/big" | head -c $len | md5sum)
		b=$(tail -c +$((off + 1)) "$M/tree/big" | head -c $len | md5sum)
		[ "$a" = "$b" ] || fail "buffered read at $off len $len: expected the source's" \
			"bytes, got: $(cmp <(tail -c +$((off + 1)) "$SRC/big" | head -c $len) \
				<(tail -c +$((off + 1)) "$M/tree/big" | head -c $len) 2>&1 | head -n 1)"
	done
done
ok "buffered reads at odd offsets"
for blk in 0 63 64 65 127 128 199; do
	a=$(dd if="$SRC/big" bs=1M skip=$blk count=1 2>/dev/null | md5sum)
	b=$(dd if="$M/tree/big" bs=1M skip=$blk count=1 iflag=direct 2>/dev/null | md5sum)
	[ "$a" = "$b" ] || fail "direct 1 MiB read of block $blk: expected the source's bytes," \
		"got: $(cmp <(dd if="$SRC/big" bs=1M skip=$blk count=1 2>/dev/null) \
			<(dd if="$M/tree/big" bs=1M skip=$blk count=1 iflag=direct 2>/dev/null) 2>&1 |
			head -n 1)"
done
ok "direct reads"
a=$(md5sum < "$SRC/big")
b=$(dd if="$M/tree/big" bs=4M iflag=direct 2>/dev/null | md5sum)
check "direct read of the whole file in 4 MiB requests" [ "$a" = "$b" ]
# Reads past the end return nothing.
check "read past EOF is empty" [ "$(dd if="$M/tree/one" bs=1 skip=5 count=10 2>/dev/null | wc -c)" = 0 ]
finish
