# SPDX-License-Identifier: MIT
# one read path
# Who may mount what, on a live cluster: a credential sees only its
# export's subtree, a read-only one changes nothing, root_squash makes a
# root client's files 65534's, the mds checks mode bits itself, and one
# with no line cannot mount.  Exports change with SIGHUP, no restart.
. "$(dirname "$0")/../lib.sh"
start_cluster --cs 1 --replicas 1

mkdir -p "$M/proj/a/sub" "$M/proj/b" "$M/secret"
chmod 755 "$M/proj/a"
echo alpha > "$M/proj/a/f"
echo beta > "$M/proj/b/g"
echo hidden > "$M/secret/s"
chmod 600 "$M/proj/a/f"
for n in sub ro stranger; do
	"$ZCFS" keygen client $n "$T/$n.cred" --add-to "$D/credentials" ||
		{ echo "keygen failed"; exit 1; }
done
cat > "$D/exports" <<X
admin /        rw
sub   /proj/a  rw root_squash
ro    /proj    ro
X
kill -HUP "$(sed -n 's/^pid\.mds=//p' "$D/cluster.conf")"
check "the mds read the exports at SIGHUP" wait_grep "exports .*: 3 entries" "$D/mds.log" 10 ||
	grep -i export "$D/mds.log" | tail -3

# A subtree.
MOUNT_CRED=$T/sub.cred mount_client "$T/m_sub"
check "the subtree's client is mounted" [ -n "$CLIENT_PID" ]
expect "its root is the export's folder" "f sub" "$(ls "$T/m_sub" | paste -s -d ' ')"
check_fails "root_squash: root may not write in root's 0755 folder" \
	sh -c "echo new > '$T/m_sub/new'"
chmod 1777 "$M/proj/a"
check "it writes once the folder lets everyone" sh -c "echo new > '$T/m_sub/new'"
expect "root_squash: root's new file belongs to 65534" "65534:65534" \
	"$(stat -c %u:%g "$M/proj/a/new")"
check_fails "root_squash: the 0600 file of root is not readable" cat "$T/m_sub/f"
check "the admin sees the file made there" grep -qx new "$M/proj/a/new"

# Read-only.
MOUNT_CRED=$T/ro.cred mount_client "$T/m_ro"
expect "the read-only client reads" beta "$(cat "$T/m_ro/b/g")"
out=$(sh -c "echo x > '$T/m_ro/b/new'" 2>&1)
check "a write is refused with EROFS" grep -q "Read-only file system" <<< "$out"
check_fails "mkdir is refused" mkdir "$T/m_ro/c"
check_fails "unlink is refused" rm -f "$T/m_ro/b/g"
check "nothing changed" [ -f "$M/proj/b/g" ] && [ ! -e "$M/proj/b/new" ]

# No line: no mount.
mkdir -p "$T/m_str"
check_fails "a credential with no exports line cannot mount" \
	timeout 20 "$ZCFS" mount --dir "$D" --credential "$T/stranger.cred" "$T/m_str" -f \
	--log "$D/client-stranger.log"
check "the mds said why" grep -q "stranger" "$D/mds.log"

# Exports change without a restart: the subtree client loses its line.
cat > "$D/exports" <<X
admin /        rw
ro    /proj    ro
X
kill -HUP "$(sed -n 's/^pid\.mds=//p' "$D/cluster.conf")"
check "reloaded" wait_grep "exports .*: 2 entries" "$D/mds.log" 10
check "the subtree client is refused from then on" \
	eventually 10 sh -c "! ls '$T/m_sub/' >/dev/null 2>&1 || ! cat '$T/m_sub/new' >/dev/null 2>&1"
check "the admin still has everything" grep -qx hidden "$M/secret/s"
finish
