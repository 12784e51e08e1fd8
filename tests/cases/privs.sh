# SPDX-License-Identifier: MIT
# one read path
# setuid and setgid go as on a local file system: a write, an append or a
# truncation by a user other than the owner (no CAP_FSETID) succeeds and
# drops them; root's write keeps them; chown and chgrp drop setuid (and a
# group-executable setgid) whoever asks.  The same script runs in a local
# folder and in the mount; every result and mode must match.  (A writer that
# is not the owner used to get EPERM from the mds, which refused the mode
# change the kernel sends before such a write, and an O_APPEND write kept
# both bits: FUSE's direct I/O skips the kernel's clearing.)  Not covered:
# setgid without group-execute (2767) written by one outside the group,
# which Linux clears and FUSE's kernel side does not ask of the file
# system (fuse_setattr works out the bits itself; the FUSE_HANDLE_KILLPRIV
# that would hand it to us is not passed on by libfuse 3.14).
. "$(dirname "$0")/../lib.sh"
start_cluster
# The unprivileged user reaches both folders.
chmod 711 "$T"

privs() { # run in the folder given; one line per step: its result and mode
	cd "$1" || exit 1
	mk() { rm -f "$1"; echo hello > "$1"; chown 1000:1000 "$1"; chmod "$2" "$1"; }
	as() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@" 2>/dev/null; }
	res() { echo "$1 $2: rc $3, mode $(stat -c %a "$4"), $(head -c 12 "$4" | tr '\n' ' ')"; }
	for m in 6777 4777 2777 6757 0777; do
		mk w $m; as sh -c 'printf X | dd of=w conv=notrunc status=none'
		res "other's write" $m $? w
		mk a $m; as sh -c 'echo more >> a'
		res "other's append" $m $? a
		mk t $m; as truncate -s 2 t
		res "other's truncate" $m $? t
		mk o $m; as sh -c ': > o'
		res "other's O_TRUNC" $m $? o
		mk r $m; printf Y | dd of=r conv=notrunc status=none
		res "root's write" $m $? r
		mk p $m; echo more >> p
		res "root's append" $m $? p
		mk c $m; chown 1001 c
		res "root's chown" $m $? c
		mk g $m; chgrp 1001 g
		res "root's chgrp" $m $? g
	done
	# Without write permission nothing changes, the bits included.
	mk n 6755; as sh -c 'echo more >> n'
	res "other's append, no permission" 6755 $? n
	as chmod 755 n
	res "other's chmod" 6755 $? n
}

mkdir "$T/local"
chmod 755 "$T/local"
privs "$T/local" > "$T/local.out"
privs "$M" > "$T/mnt.out"
cat "$T/mnt.out"
check "every step gives the result and mode it gives locally" diff "$T/local.out" "$T/mnt.out"
echo 3 > /proc/sys/vm/drop_caches
check "and the mds kept those modes" diff <(cd "$T/local" && stat -c '%n %a' ./* | sort) \
	<(cd "$M" && stat -c '%n %a' ./* | sort)
finish
