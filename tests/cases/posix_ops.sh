# SPDX-License-Identifier: MIT
# mkdir/rmdir/mv/ln/ln -s/rm/truncate/chmod/touch/fallocate behave as on a
# local file system: the same script runs in a local folder and in the
# mount, and the resulting trees (names, types, sizes, modes, link counts,
# groups, targets, bytes) and every command's success or failure must match.
. "$(dirname "$0")/../lib.sh"
start_cluster

ops() { # run in the folder given; prints one line per command: its result
	cd "$1" || exit 1
	r() { if "$@" 2>/dev/null; then echo "ok   $*"; else echo "fail $*"; fi; }
	r mkdir a
	r mkdir a/b a/c
	r mkdir a                        # exists
	r touch a/b/f1
	r sh -c 'echo hello > a/b/f2'
	r sh -c 'printf "%s" "0123456789" > a/t'
	r truncate -s 5 a/t               # shrink
	r truncate -s 100000 a/t          # grow: a hole of zeros
	r truncate -s 70000000 a/b/f1     # past a chunk boundary, all hole
	r sh -c 'printf xyz | dd of=a/b/f1 bs=1 seek=67108863 conv=notrunc status=none'
	r truncate -s 67108864 a/b/f1     # cut inside the written bytes
	r truncate -s 67108870 a/b/f1     # and grow again: zeros, not old bytes
	r ln a/b/f2 a/hard
	r ln a/b a/dirlink                # hard link to a dir: refused
	r ln -s ../b/f2 a/c/sym
	r ln -s /nowhere a/dangling
	r cat a/c/sym
	r mv a/b/f2 a/c/moved
	r cat a/c/sym                     # now dangling
	r mv a/c/moved a/hard             # rename over a link to the same file
	r mv a/t a/c                      # into a directory
	r sh -c 'echo new > a/over; echo old > a/victim; mv a/over a/victim'
	r rmdir a/c                       # not empty
	r rm a/c/t
	r rmdir a/b/nothere
	r mv a/c a/b/c2                   # move a directory
	r mv a a/b/c2/inside              # into itself: refused
	r chmod 0600 a/victim
	r chmod 4755 a/hard
	r touch -m -d '2001-02-03 04:05:06' a/victim
	# Times and modes set while the file is open after writes (tar, cp -p,
	# rsync do it before close): the close must not move them.
	r sh -c 'exec 5>a/w; printf aaaa >&5; chmod 640 a/w; printf bbbbbb >&5; touch -m -d @5 a/w'
	r rm a/dangling
	r rm a/b                          # a directory: refused
	r mkdir -p deep/1/2/3/4/5
	r rm -r deep/1/2
	r sh -c 'for i in $(seq 1 300); do echo $i > many_$i; done'
	r sh -c 'rm many_1*'
	r sh -c 'ls | wc -l'
	r mkfifo fifo
	r sh -c 'exec 3<>fifo; echo through >&3; head -n1 <&3'
	# A setgid directory: its group for what is made in it, its setgid
	# for directories.
	r mkdir sg
	r chgrp 2000 sg
	r chmod 2775 sg
	r sh -c 'umask 022; touch sg/f; mkdir sg/d; mkfifo sg/p; ln -s f sg/l'
	# Files made and then written or grown past their first chunk only:
	# that chunk, never written, reads as zeros (md5sum below reads it).
	r sh -c 'printf x | dd of=sparse bs=4k seek=17000 conv=notrunc status=none'
	r sh -c 'touch grown; truncate -s 65M grown'
	r sh -c 'touch late; printf x | dd of=late bs=4k seek=17000 conv=notrunc status=none'
	r fallocate -l 65M fa65
	# fallocate grows a file (KEEP_SIZE does not); posix_fallocate through
	# a write-only descriptor of a file with data.
	r fallocate -l 1M fa
	r fallocate -n -l 2M fa
	r sh -c 'head -c 200000 /dev/zero | tr "\0" y > pf'
	r python3 -c 'import os; os.posix_fallocate(os.open("pf", os.O_WRONLY), 0, 300000)'
	# renameat2 RENAME_EXCHANGE: files, a file and a directory across
	# directories, a directory into itself (refused), a missing name.
	x() { python3 -c 'import ctypes, os, sys
l = ctypes.CDLL(None, use_errno=True)
sys.exit(l.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), 2) != 0)' "$@"; }
	r sh -c 'echo A > xa; echo B > xb; mkdir -p xd/sub xe; echo F > xe/f'
	r x xa xb
	r x xa xe/f
	r x xd xb
	r x xb xb/sub
	r x xa nothere
	# truncate to the same size moves mtime; past the largest size: EFBIG.
	r sh -c 'echo x > tt; truncate -s 2 tt; touch -m -d @100 tt; truncate -s 2 tt; [ $(stat -c %Y tt) -gt 100 ]'
	r sh -c 'truncate -s 2000000000000000 tt 2>&1 | grep -q "too large"'
}

dirs() { # in the folder given: each change of names, then what stat says of
	# the folders (link count; m, c: mtime, ctime moved) and of the file
	# (link count, ctime moved): the mount answers the kernel's GETATTRs
	# after a change with the attributes the mds sent with it.
	cd "$1" || exit 1
	mkdir p q && echo data > p/f && ln p/f p/keep
	at() { stat -c '%h %.9Y %.9Z' "$1"; }
	moved() { # BEFORE AFTER: "N m c"
		set -- $1 $2
		echo "$4$([ "$2" = "$5" ] || echo ' m')$([ "$3" = "$6" ] || echo ' c')"
	}
	step() {
		local p0 q0 k0
		p0=$(at p); q0=$(at q); k0=$(at p/keep)
		sleep 0.02	# coarser clocks than the mds's tell the change apart
		"$@" > /dev/null 2>&1 || echo "fail $*"
		echo "$*: p $(moved "$p0" "$(at p)"); q $(moved "$q0" "$(at q)");" \
			"file $(moved "$k0" "$(at p/keep)")"
	}
	step touch p/new
	step mkdir p/d
	step ln p/f q/g
	step mv p/f p/f2
	step mv p/f2 q/f3
	step rm q/g
	step rm q/f3
	step rmdir p/d
	step mv p/new q/new
	step chmod 700 q
	step chown 1:1 p/keep
}

tree() { # a listing that must be the same on both sides
	cd "$1" && find . -mindepth 1 \( -type f -o -type l -o -type d -o -type p \) \
		-printf '%p %y %m %n %s %g %l\n' | sed 's/ d \([0-9]*\) \([0-9]*\) [0-9]* / d \1 \2 - /' | sort
	find . -type f -print0 | sort -z | xargs -0 md5sum
	stat -c '%n %Y' ./victim 2>/dev/null
	stat -c '%n %s %Y %a' ./w 2>/dev/null
}

mkdir "$T/local"
ops "$T/local" > "$T/local.ops"
ops "$M" > "$T/mnt.ops"
check "every command succeeds or fails as locally" diff "$T/local.ops" "$T/mnt.ops"
dirs "$T/local" > "$T/local.dirs"
kept0=$(counter attr_kept)
dirs "$M" > "$T/mnt.dirs"
check "folders' and files' attributes after each change are as locally" \
	diff "$T/local.dirs" "$T/mnt.dirs"
sleep 1.2	# counters reach the mds each second
check "GETATTRs after changes were answered from their answers" \
	[ "$(counter attr_kept)" -ge $((kept0 + 8)) ]
check "the trees match" diff <(tree "$T/local") <(tree "$M")
check "a hole reads as zeros" cmp <(head -c 67108863 /dev/zero) <(head -c 67108863 "$M/a/b/f1")
check "bytes after a cut and regrow are zeros" \
	[ "$(tail -c 7 "$M/a/b/f1" | od -An -c | tr -d ' ')" = 'x\0\0\0\0\0\0' ]
check "nlink of a file with two names" [ "$(stat -c %h "$M/a/hard")" = "$(stat -c %h "$T/local/a/hard")" ]
check "statfs works" df "$M"
# tar x sets each file's times, owner and mode on its open descriptor after
# writing it; tar d then compares sizes, modes, times and bytes.
mkdir -p "$T/src/d/e"
for i in 1 2 3 4 5 6; do
	head -c $((i * 3000)) /dev/urandom > "$T/src/d/f$i"
	chmod 6$((i % 5))4 "$T/src/d/f$i"
	touch -m -d "@$((1000000000 + i * 86400))" "$T/src/d/f$i"
done
echo small > "$T/src/d/e/s"
touch -m -d @1234567890 "$T/src/d/e/s" "$T/src/d/e" "$T/src/d"
tar cf "$T/src.tar" -C "$T/src" d
mkdir "$M/untar"
check "tar x into the mount" tar xf "$T/src.tar" -C "$M/untar"
echo 3 > /proc/sys/vm/drop_caches
check "tar d finds every size, mode, time and byte as archived" \
	sh -c "cd '$M/untar' && tar df '$T/src.tar'"
check "ls -la works" ls -la "$M/a/b"
# A folder longer than one answer of the mds (the client hands the kernel
# what one answer holds a page at a time): every name once; a listing
# from the start again (rewinddir) sees a name made since, also in a
# folder that was empty.
mkdir "$M/big"
(cd "$M/big" && seq 1 3000 | sed 's/^/entry-with-a-longer-name-/' | xargs touch)
check "a folder of 3,000 lists every name once" \
	[ "$(ls -f "$M/big" | grep '^entry-' | sort -u | wc -l)/$(ls -f "$M/big" | wc -l)" = 3000/3002 ]
check "find sees them all" [ "$(find "$M/big" -type f | wc -l)" = 3000 ]
mkdir "$M/empty"
check "rewinddir on an open folder sees names made since" python3 -c '
import os, sys
def seen(path):
	fd = os.open(path, os.O_RDONLY)
	first = os.listdir(fd)		# reads to the end, then rewinds
	open(os.path.join(path, "made-since"), "w").close()
	again = os.listdir(fd)
	return "made-since" not in first and "made-since" in again and len(again) == len(first) + 1
sys.exit(not (seen(sys.argv[1]) and seen(sys.argv[2])))' "$M/empty" "$M/big"
# ... and entries kept from one answer bring back nothing changed since.
mkdir "$M/step"
(cd "$M/step" && seq -f 'f%03g' 0 199 | xargs touch)
echo 2 > /proc/sys/vm/drop_caches
check "a folder read a page at a time shows an unlink and a chmod made between pages" \
	"$ZCFS_DIRSTEP" "$M/step"
# A truncate after a chmod on one descriptor: fstat after a read (which
# makes the kernel ask for the attributes again) tells the new size.
check "ftruncate after fchmod: fstat tells the new size" python3 -c '
import os, sys
p = sys.argv[1]
with open(p, "wb") as f:
	f.write(b"x" * 100000)
fd = os.open(p, os.O_RDWR)
os.fchmod(fd, 0o640)
os.ftruncate(fd, 10)
os.pread(fd, 4096, 0)
sys.exit(os.fstat(fd).st_size != 10)' "$M/trunc-after-chmod"
finish
