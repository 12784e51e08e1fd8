# SPDX-License-Identifier: MIT
# one read path
# A peer without the cluster's keys gets nothing: what a short script did
# before authentication (DELETE orders to every chunk server, UNLINK and
# SETATTR to the mds, a chunk server registering, a stalled handshake) is
# refused with a log line, and a client with a real credential cannot use
# chunks beyond the capabilities the mds gave it.  The files stay whole.
. "$(dirname "$0")/../lib.sh"
[ -x "$ZCFS_HOSTILE" ] || { echo "$ZCFS_HOSTILE missing: make tools"; exit 1; }
start_cluster --cs 2 --replicas 2

mkdata "$T/a" $((3 * 1048576)) a
cp "$T/a" "$M/a"
mkdir "$M/d"
chmod 755 "$M"
ino=$(stat -c %i "$M/a")
sync
mds=$(sed -n 's/^mds=//p' "$D/cluster.conf")
cs1=127.0.0.1:$(sed -n 's/^port\.cs1=//p' "$D/cluster.conf")
cs2=127.0.0.1:$(sed -n 's/^port\.cs2=//p' "$D/cluster.conf")

check "the keys are mode 0600" \
	[ "$(stat -c %a "$D/cluster.key" "$D/admin.cred" "$D/credentials" | sort -u)" = 600 ]

# Type numbers from include/zcfs/proto.h.
UNLINK=7 SETATTR=3 REGISTER=64 DELETE=163 REPLICATE=161 READ=128
for cs in "$cs1" "$cs2"; do
	for id in 1 2 3; do
		check "DELETE of chunk $id at $cs without a handshake: closed" \
			"$ZCFS_HOSTILE" noauth "$cs" $DELETE $id
	done
	check "REPLICATE order at $cs without a handshake: closed" \
		"$ZCFS_HOSTILE" noauth "$cs" $REPLICATE 1 1 0x0100007f 9
	check "READ at $cs without a handshake: closed" "$ZCFS_HOSTILE" noauth "$cs" $READ 1 1 0
done
check "UNLINK at the mds without a handshake: closed" \
	"$ZCFS_HOSTILE" noauth "$mds" $UNLINK 0 0 0 1 0x0161
check "SETATTR of the root at the mds without a handshake: closed" \
	"$ZCFS_HOSTILE" noauth "$mds" $SETATTR 0 0 0 1 1 0x1ff
check "REGISTER as a chunk server without the key: closed" \
	"$ZCFS_HOSTILE" noauth "$mds" $REGISTER 1 2 3
check "a peer that stalls in the handshake is cut off within 8 s" \
	"$ZCFS_HOSTILE" stall "$mds" 8
check "the mds logged each refusal with the peer's address" \
	wait_grep "rpc 127.0.0.1:[0-9]*: authentication failed: a frame other than" "$D/mds.log" 5
check "the mds logged the stalled peer" wait_grep "authentication failed: timed out" \
	"$D/mds.log" 5
check "the chunk servers logged theirs" wait_grep "authentication failed" "$D/cs1.log" 5

# A client with a real credential, beyond its capabilities.
check "a client's forged, widened or misused capabilities are refused" \
	"$ZCFS_HOSTILE" caps "$mds" "$D/admin.cred" "$ino"
check "the chunk server logged a refused capability" \
	grep -q "refused: capability" "$D/cs1.log" "$D/cs2.log"

# A credential named "admin" with another secret, and one others may read.
echo "admin $(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" > "$T/wrong.cred"
chmod 600 "$T/wrong.cred"
check_fails "status with a wrong secret is refused" \
	"$ZCFS" status --dir "$D" --credential "$T/wrong.cred"
check "the mds says which credential failed" \
	wait_grep "authentication failed: wrong secret for its credential" "$D/mds.log" 5
chmod 644 "$T/wrong.cred"
out=$("$ZCFS" status --dir "$D" --credential "$T/wrong.cred" 2>&1)
check "a credential file others may read is refused, saying so" grep -q "chmod 600" <<< "$out"

cp "$D/cluster.key" "$T/open.key"
chmod 644 "$T/open.key"
out=$("$ZCFS" cs --dir "$T/cs-x" --listen 127.0.0.1:0 --mds "$mds" --key-file "$T/open.key" 2>&1)
check "a chunk server refuses a cluster key others may read" grep -q "chmod 600" <<< "$out"
out=$("$ZCFS" mds --dir "$T/mds-x" --listen 127.0.0.1:0 --key-file "$T/open.key" 2>&1)
check "so does the mds" grep -q "chmod 600" <<< "$out"

check "the files are whole" cmp "$T/a" "$M/a"
echo 3 > /proc/sys/vm/drop_caches
check "and read back from the chunk servers" cmp "$T/a" "$M/a"
check "the root's mode is as it was" [ "$(stat -c %a "$M")" = 755 ]
check "both chunk servers still up" wait_cluster cs_up 2 5
finish
