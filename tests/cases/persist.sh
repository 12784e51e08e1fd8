# SPDX-License-Identifier: MIT
# Data survives `zcfs down` + `zcfs up`, and kill -9 of every daemon after
# sync (stale mount and stale pid files left behind).
. "$(dirname "$0")/../lib.sh"
start_cluster

mkdata "$T/f1" $((70 * 1048576)) one
mkdata "$T/f2" 12345 two
mkdir -p "$M/d/e"
cp "$T/f1" "$M/d/f1"
cp "$T/f2" "$M/d/e/f2"
ln -s e/f2 "$M/d/link"
chmod 0640 "$M/d/e/f2"
check "files readable before restart" cmp "$T/f1" "$M/d/f1"

"$ZCFS" down --dir "$D" || fail "zcfs down"
check "no FUSE mount left after down" sh -c "! grep -q ' $M ' /proc/mounts"
for p in $(sed -n 's/^pid\.[a-z0-9]*=//p' "$D/cluster.conf"); do
	[ "$p" = 0 ] || fail "pid $p still recorded after down"
done
start_cluster
check "f1 after down/up" cmp "$T/f1" "$M/d/f1"
check "f2 after down/up" cmp "$T/f2" "$M/d/e/f2"
check "symlink after down/up" [ "$(readlink "$M/d/link")" = e/f2 ]
check "mode after down/up" [ "$(stat -c %a "$M/d/e/f2")" = 640 ]

# Write more, sync, then kill -9 everything.
mkdata "$T/f3" $((3 * 1048576 + 17)) three
cp "$T/f3" "$M/d/f3"
sync
for p in $(cluster_pids); do kill -9 "$p"; done
sleep 0.5
check "the mount is stale after kill -9" sh -c "! ls '$M' >/dev/null 2>&1"
start_cluster
check "f1 after kill -9" cmp "$T/f1" "$M/d/f1"
check "f3 after kill -9" cmp "$T/f3" "$M/d/f3"
check "listing after kill -9" [ "$(ls "$M/d" | tr '\n' ' ')" = "e f1 f3 link " ]
# Metadata acknowledged just before the kill survives.
mkdir "$M/acked"
kill -9 "$(sed -n 's/^pid\.mds=//p' "$D/cluster.conf")"
"$ZCFS" up --dir "$D" --mount "$M" >/dev/null || fail "up after mds kill"
check "mkdir acknowledged before kill -9 of the mds" test -d "$M/acked"
check "up twice is harmless" "$ZCFS" up --dir "$D" --mount "$M"
finish
