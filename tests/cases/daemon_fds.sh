# SPDX-License-Identifier: MIT
# one read path
# The daemons `zcfs up` starts hold no descriptor but their own (issue 10):
# none the shell that ran up had open (here 7, a file, and 8, a pipe whose
# reader would otherwise never see its end), none of up's own (the log and
# /dev/null it opened for them, the lock of DIR), both at the first start
# and when up starts a daemon again.  And what they open themselves is
# close-on-exec, so that nothing they start inherits it either.
. "$(dirname "$0")/../lib.sh"
need_fuse

exec 7>"$T/inherited"
exec 8> >(cat > /dev/null)
READER=$!
EXTRA_PIDS="$EXTRA_PIDS $READER"
PIPE=$(readlink /proc/$$/fd/8)
start_cluster
exec 7>&- 8>&-
check "the pipe's reader sees its end once the shell closed it" wait_gone "$READER" 10
# Reaped before any I/O on the mount: a SIGCHLD that interrupts a create
# there can fail it (reported with issue 10).
running "$READER" || wait "$READER" 2>/dev/null

# leaked PID: the descriptors above 2 of PID that are not its own, one a line.
leaked() {
	local fd to
	for fd in $(ls "/proc/$1/fd"); do
		[ "$fd" -gt 2 ] || continue
		to=$(readlink "/proc/$1/fd/$fd") || continue
		case $to in
		"$T/inherited" | "$PIPE" | *.log | /dev/null | "$D/LOCK") echo "fd $fd -> $to" ;;
		esac
	done
}
# no_leaks NAME PID: checks that leaked PID finds nothing.
no_leaks() {
	local got
	got=$(leaked "$2")
	[ -n "$got" ] && echo "$1 (pid $2) holds:" && echo "$got"
	check "$1 holds no inherited descriptor" [ -z "$got" ]
}
# not_cloexec PID: its descriptors above 2 without O_CLOEXEC (02000000).
not_cloexec() {
	local f fd flags
	for f in /proc/"$1"/fdinfo/*; do
		fd=${f##*/}
		[ "$fd" -gt 2 ] || continue
		flags=$(sed -n 's/^flags:[[:space:]]*//p' "$f" 2>/dev/null) || continue
		[ -n "$flags" ] && (( (8#$flags & 8#2000000) == 0 )) &&
			echo "fd $fd -> $(readlink "/proc/$1/fd/$fd")"
	done
}
all_cloexec() {
	local got
	got=$(not_cloexec "$2")
	[ -n "$got" ] && echo "$1 (pid $2), not close-on-exec:" && echo "$got"
	check "$1: every descriptor is close-on-exec" [ -z "$got" ]
}
pid_of() { sed -n "s/^pid\.$1=//p" "$D/cluster.conf"; }

echo data > "$M/f"
check "the mount works" [ "$(cat "$M/f")" = data ]
for who in mds cs1 cs2 cs3 mount; do
	no_leaks "$who" "$(pid_of $who)"
	all_cloexec "$who" "$(pid_of $who)"
done

# Started again by up (a chunk server killed), from a shell with fd 7 open.
kill -9 "$(pid_of cs2)"
wait_gone "$(pid_of cs2)" 10
exec 7>"$T/inherited"
"$ZCFS" up --dir "$D" >/dev/null || fail "zcfs up again"
exec 7>&-
no_leaks "cs2 started again" "$(pid_of cs2)"
finish
