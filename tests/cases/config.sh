# SPDX-License-Identifier: MIT
# Configuration files: an mds, chunk servers and a mount started from
# them use their values (addresses, folders, logs, -o options); the
# command line wins over the file; $ZCFS_CONFIG names the default file;
# bad keys, lines, sections and values are refused with the file, the line
# and the key, exit code 2.  The systemd units pass systemd-analyze verify
# where systemd-analyze is installed.
. "$(dirname "$0")/../lib.sh"
need_fuse

hand_keys || { echo "keygen failed"; exit 1; }
common="key-file=$D/cluster.key"
ini "$D/mds.conf" mds "dir=$D/mds" "listen=127.0.0.1:0" "replicas=2" "grace=30" \
	"log=$D/mds.log" "$common" "credentials=$D/credentials"
hand_start "$ZCFS" mds -f --config "$D/mds.conf"
MDS_PID=$BG
MDS=$(hand_mds_addr "$D/mds.log")
check "the mds took its log and listen address from the file ($MDS)" \
	test -n "$MDS" -a -f "$D/mds/meta.db"
check "... and its replica count" grep -q "serving $D/mds on $MDS, 2 replicas" "$D/mds.log"

ini "$D/cs.conf" cs "dir=$D/cs1" "mds=$MDS" "log=$D/cs1.log" "$common"
hand_start "$ZCFS" cs -f --config "$D/cs.conf"
# The same file, but the command line names another folder and log: a
# second chunk server (the first holds the lock of cs1).
hand_start "$ZCFS" cs -f --config "$D/cs.conf" --dir "$D/cs2" --log="$D/cs2.log"
within 15 "two chunk servers up, one from the file, one with options over it" 2 hand_cs_up "$MDS"
check "the first uses the file's folder" grep -q "serving $D/cs1 on" "$D/cs1.log"
check "the second the command line's" grep -q "serving $D/cs2 on" "$D/cs2.log"
check "... and not the file's log" sh -c "! grep -q 'serving $D/cs2' '$D/cs1.log'"

# The mount: address, credential and an -o option from the file; the
# command line's -o wins over the file's.
ini "$D/mount.conf" mount "mds=$MDS" "credential=$D/node1.cred" "log=$D/mount.log" \
	"zerocopy=0" "attr_timeout=2"
mkdir -p "$M"
hand_start "$ZCFS" mount -f --config "$D/mount.conf" "$M"
MOUNT_PID=$BG
check "mounted from a configuration file" hand_mounted "$M"
check "zerocopy=0 from the file" grep -q "mounted, mds $MDS, zerocopy=0" "$D/mount.log"
mkdata "$T/f" $((3 * 1048576)) config
check "write and read back" sh -c "cp '$T/f' '$M/f' && cmp '$T/f' '$M/f'"
fusermount3 -u "$M"
wait_pid "$MOUNT_PID" 10
hand_start "$ZCFS" mount -f --config "$D/mount.conf" "$M" -o zerocopy=1
MOUNT_PID=$BG
check "mounted again" hand_mounted "$M"
check "-o zerocopy=1 on the command line beats the file's 0" \
	grep -q "mounted, mds $MDS, zerocopy=1" "$D/mount.log"
check "the same file is there" cmp "$T/f" "$M/f"
fusermount3 -u "$M"
wait_pid "$MOUNT_PID" 10

# $ZCFS_CONFIG names the file a daemon reads without --config.
kill "$MDS_PID"
wait_pid "$MDS_PID" 10
ini "$D/mds.conf" mds "dir=$D/mds" "listen=$MDS" "log=$D/mds2.log" "$common" \
	"credentials=$D/credentials"
ZCFS_CONFIG=$D/mds.conf hand_start "$ZCFS" mds -f
check "\$ZCFS_CONFIG: the mds serves its store again on $MDS" \
	wait_grep "serving $D/mds on $MDS" "$D/mds2.log" 10
within 15 "the chunk servers come back to it" 2 hand_cs_up "$MDS"

# Refusals: exit code 2, and the file, the line and the key named.
refused() { # what ROLE CONFIG-TEXT EXPECTED-MESSAGE
	local out rc
	printf '%b' "$3" > "$T/bad.conf"
	out=$("$ZCFS" "$2" -f --config "$T/bad.conf" --dir "$T/never" 2>&1)
	rc=$?
	if [ $rc -eq 2 ] && [ "$(printf '%s' "$out" | head -n 1)" = "zcfs $2: $T/bad.conf:$4" ] &&
		[ ! -e "$T/never" ]; then
		ok "$1"
	else
		fail "$1: expected exit 2 and 'zcfs $2: $T/bad.conf:$4', got $rc and '$out'"
	fi
}
refused "an unknown key" mds "[mds]\n# comment\n\ndir = /x\n\n\nlistn = 1.2.3.4:5\n" \
	"7: unknown key 'listn'"
refused "an unknown key of a chunk server" cs "[cs]\nreplicas = 3\n" "2: unknown key 'replicas'"
refused "an unknown section" mds "; top\n[mdss]\ndir = /x\n" \
	"2: unknown section '[mdss]' (the sections are [mds], [cs] and [mount])"
refused "a key outside a section" mds "dir = /x\n" \
	"1: key 'dir' outside a section ([mds], [cs] or [mount])"
refused "a line that is no key = value" mds "[mds]\nlisten 1.2.3.4:5\n" \
	"2: bad line 'listen 1.2.3.4:5' (KEY = VALUE or [SECTION])"
refused "a bad line in another role's section" cs "[mds]\ndir /x\n" \
	"2: bad line 'dir /x' (KEY = VALUE or [SECTION])"
refused "a key without its value" cs "[cs]\nmds =\n" "2: key 'mds' needs a value"
refused "a restore from a file" mds "[mds]\nrestore = /tmp/b.db\n" \
	"2: 'restore' cannot be set in a configuration file"
refused "--force from a file" mds "[mds]\nforce = sure\n" \
	"2: 'force' cannot be set in a configuration file"
printf '[mount]\nzerocopy = 1\nnosuch = 2\n' > "$T/bad.conf"
out=$("$ZCFS" mount --config "$T/bad.conf" "$M" 2>&1)
rc=$?
expect "a mount's unknown key: exit code 2" 2 "$rc"
expect "... and why" "zcfs mount: $T/bad.conf:3: unknown key 'nosuch'" \
	"$(printf '%s' "$out" | head -n 1)"
out=$("$ZCFS" mds --config "$T/missing.conf" --dir "$T/never" 2>&1)
rc=$?
expect "a configuration file named and missing: exit code 2" 2 "$rc"
expect "... and why" "zcfs mds: $T/missing.conf: No such file or directory" "$out"
out=$(ZCFS_CONFIG=$T/missing.conf "$ZCFS" cs --dir "$T/never" 2>&1)
expect "\$ZCFS_CONFIG naming a missing file" \
	"zcfs cs: $T/missing.conf: No such file or directory" "$out"

# The systemd units: what systemd-analyze says of them, pointed at this
# build (it checks that ExecStart's program exists) and instantiated.
UNITS="$(dirname "$0")/../../contrib/systemd"
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T/units"
	for u in "$UNITS"/*.service; do
		sed "s|/usr/local/bin/zcfs|$ZCFS|g" "$u" > "$T/units/$(basename "$u")"
	done
	cp "$T/units/zcfs-cs@.service" "$T/units/zcfs-cs@disk1.service"
	cp "$T/units/zcfs-mount@.service" "$T/units/zcfs-mount@mnt-zcfs.service"
	out=$(cd "$T/units" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
		"$T/units/zcfs-mds.service" "$T/units/zcfs-cs@disk1.service" \
		"$T/units/zcfs-mount@mnt-zcfs.service" 2>&1)
	rc=$?
	# It warns of a bad setting (and goes on) with exit code 0: any line
	# about our units fails.  Complaints about units of this machine that
	# ours do not name (a host with broken units of its own) are not ours.
	ours=$(printf '%s\n' "$out" | grep 'zcfs' || true)
	if [ -z "$ours" ]; then
		ok "systemd-analyze verify: the units are sound (exit $rc${out:+; it said: $out})"
	else
		fail "systemd-analyze verify (exit $rc): $ours"
	fi
else
	echo "systemd-analyze missing: the units not verified"
fi
finish
