# SPDX-License-Identifier: MIT
# one read path
# zcfs up and down with mount points a shell must never see (issue 10): a
# quote that ends the quoting of a command line, command substitutions,
# blanks (which /proc/mounts writes as \040).  A dead mount there (the
# client killed with -9) is cleared by `up` run again and by `down`, and no
# command in the path runs: it would leave a file "pwned" in the folder
# zcfs runs in.  A mount point with a newline is refused (cluster.conf
# holds one value a line).
. "$(dirname "$0")/../lib.sh"
need_fuse
cd "$T" || exit 1

# No blank: /proc/mounts shows it as it is, and the old code passed it to
# sh -c "fusermount3 -u -z '%s' ...".
P1=$T/$(printf "a'%s'b" '$(touch${IFS}pwned)')
P2="$T/it's a \$(touch pwned) \`touch pwned\`; touch pwned dir"

fuse_at() { case $(stat -f -c %T "$1" 2>/dev/null) in fuse*) return 0 ;; esac; return 1; }
# Not a mount point (not even a dead one): on the file system of its folder.
unmounted() { [ "$(stat -c %d "$1" 2>/dev/null)" = "$(stat -c %d "$T")" ]; }
NL="$T/nl
pid.mds=1"
hostile_cleanup() {
	local p
	# A cluster the newline's up should not have started.
	[ -e "$T/nl-data/cluster.conf" ] && "$ZCFS" down --dir "$T/nl-data" >/dev/null 2>&1
	# Mounts may be stacked there (an old zcfs mounted over a dead one).
	for p in "$P1" "$P2" "$NL"; do
		for _ in 1 2 3; do
			unmounted "$p" && break
			fusermount3 -u -z "$p" 2>/dev/null || umount -l "$p" 2>/dev/null
		done
	done
}
trap 'rc=$?; hostile_cleanup; (exit $rc); cleanup' EXIT

mount_pid() { sed -n 's/^pid\.mount=//p' "$D/cluster.conf"; }
kill_client() {
	local p
	p=$(mount_pid)
	kill -9 "$p"
	wait_gone "$p" 10
	check "$1: the mount is dead after kill -9 of the client" \
		sh -c '! stat -f "$1" >/dev/null 2>&1' _ "$2"
}

for P in "$P1" "$P2"; do
	n=$([ "$P" = "$P1" ] && echo "quote" || echo "blanks")
	"$ZCFS" up --dir "$D" --mount "$P" -o "zerocopy=$ZCFS_ZEROCOPY" >/dev/null ||
		fail "$n: zcfs up"
	check "$n: mounted" fuse_at "$P"
	echo hello > "$P/f"
	check "$n: a file written" [ "$(cat "$P/f" 2>/dev/null)" = hello ]

	kill_client "$n" "$P"
	"$ZCFS" up --dir "$D" >/dev/null || fail "$n: zcfs up again"
	check "$n: up again clears the dead mount and mounts again" fuse_at "$P"
	check "$n: the file after up again" [ "$(cat "$P/f" 2>/dev/null)" = hello ]

	kill_client "$n" "$P"
	"$ZCFS" down --dir "$D" >/dev/null || fail "$n: zcfs down"
	check "$n: down clears the dead mount" unmounted "$P"

	"$ZCFS" up --dir "$D" >/dev/null || fail "$n: zcfs up after down"
	check "$n: the file after down and up" [ "$(cat "$P/f" 2>/dev/null)" = hello ]
	"$ZCFS" down --dir "$D" >/dev/null || fail "$n: zcfs down of a live client"
	check "$n: down unmounts" unmounted "$P"
	check "$n: no command from the path ran" [ ! -e "$T/pwned" ]
done

check_fails "a mount point with a newline is refused" \
	"$ZCFS" up --dir "$T/nl-data" --mount "$NL" -o "zerocopy=$ZCFS_ZEROCOPY"
check "nothing recorded for it" [ ! -e "$T/nl-data/cluster.conf" ]
check "no command from any path ran" [ ! -e "$T/pwned" ]
finish
