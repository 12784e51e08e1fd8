# SPDX-License-Identifier: MIT
# Chunk servers on three separate hosts: network namespaces joined by veth
# pairs to a bridge, all created and removed by this test.  The mds and the
# client stay on this host.  Writes replicate across hosts (chain
# replication hops between namespaces) and reads survive losing one host.
# Every daemon takes its options from a configuration file (README).
. "$(dirname "$0")/../lib.sh"
need_fuse
command -v ip >/dev/null || { echo "iproute2 missing"; exit 1; }

N=$$
BR=zcbr$N
NET=10.199.$(( N % 200 + 20 ))
NSS=""
PIDS=""
netns_cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	grep -q " $M " /proc/mounts && fusermount3 -u -z "$M"
	for ns in $NSS; do ip netns del "$ns" 2>/dev/null; done
	ip link del "$BR" 2>/dev/null
}
trap 'rc=$?; netns_cleanup; (exit $rc); cleanup' EXIT

ip link add "$BR" type bridge || { echo "cannot create a bridge"; exit 1; }
ip addr add "$NET.1/24" dev "$BR"
ip link set "$BR" up
for i in 1 2 3; do
	ns=zcns$N-$i
	ip netns add "$ns"
	NSS="$NSS $ns"
	ip link add "zcv$N-$i" type veth peer name eth0 netns "$ns"
	ip link set "zcv$N-$i" master "$BR" up
	ip -n "$ns" addr add "$NET.1$i/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
done

mkdir -p "$D" "$M"
# The secrets, as README's "Running on several machines" makes them: one
# cluster key copied to every host, a credential for the client; each
# daemon's options in a configuration file of its host.
"$ZCFS" keygen cluster "$D/cluster.key"
"$ZCFS" keygen client node1 "$D/node1.cred" --add-to "$D/credentials"
for i in 1 2 3; do
	mkdir -p "$D/cs$i"
	cp -p "$D/cluster.key" "$D/cs$i/cluster.key"
done
MDS=$NET.1:$(( 20000 + N % 20000 ))
ini "$D/mds.conf" mds "dir=$D/mds" "listen=$MDS" "replicas=3" "grace=2" "log=$D/mds.log" \
	"key-file=$D/cluster.key" "credentials=$D/credentials"
"$ZCFS" mds -f --config "$D/mds.conf" &
PIDS="$PIDS $!"
sleep 0.5
for i in 1 2 3; do
	ini "$D/cs$i/zcfs.conf" cs "dir=$D/cs$i" "listen=$NET.1$i:9422" "mds=$MDS" \
		"log=$D/cs$i.log" "key-file=$D/cs$i/cluster.key"
	ip netns exec "zcns$N-$i" "$ZCFS" cs -f --config "$D/cs$i/zcfs.conf" &
	PIDS="$PIDS $!"
	eval "CS$i=$!"
done
for _ in $(seq 1 40); do
	[ "$(hand_cs_up "$MDS")" = 3 ] && break
	sleep 0.25
done
ini "$D/mount.conf" mount "mds=$MDS" "credential=$D/node1.cred" "zerocopy=$ZCFS_ZEROCOPY" \
	"log=$D/mount.log"
"$ZCFS" mount -f --config "$D/mount.conf" "$M" &
PIDS="$PIDS $!"
for _ in $(seq 1 40); do grep -q " $M " /proc/mounts && break; sleep 0.25; done
check "mounted against an mds whose chunk servers live in namespaces" grep -q " $M " /proc/mounts
check "each daemon took its log from its configuration file" \
	sh -c "grep -q 'serving $D/mds on $MDS' '$D/mds.log' && grep -q 'mounted, mds $MDS' '$D/mount.log'"
check "three chunk servers registered from three hosts" sh -c \
	"'$ZCFS' status --mds '$MDS' --credential '$D/node1.cred' | grep -c '$NET.1[123]:9422 *up' | grep -qx 3"

mkdata "$T/f" $((150 * 1048576)) netns
check "write across hosts" cp "$T/f" "$M/f"
expect "150 MiB is three chunks" 3 "$("$ZCFS" getattr "$M/f" | grep -c '^chunk')"
check "every chunk on the three hosts" replica_sets "$M/f" 3 "1 2 3"
for i in 1 2 3; do
	check "host $i holds replica files" sh -c "ls '$D/cs$i/chunks/'*/ | grep -q chk"
done
echo 3 > /proc/sys/vm/drop_caches
check "read back" cmp "$T/f" "$M/f"
kill -9 "$CS2"
echo 3 > /proc/sys/vm/drop_caches
check "read back with one host gone" cmp "$T/f" "$M/f"
check "direct read with one host gone" cmp "$T/f" <(dd if="$M/f" bs=1M iflag=direct status=none)
finish
