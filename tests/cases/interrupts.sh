# SPDX-License-Identifier: MIT
# File system calls interrupted by signals (FUSE INTERRUPT), by the
# hundred: creates and writes from the shell itself while its short
# background jobs end (SIGCHLD), dd under a storm of SIGUSR1 (which it
# catches), mkdir, create and rename from a program whose own child keeps
# signalling it, and mkdir, mv and dd killed by `timeout -s INT` at random
# moments.  A call the mds has been sent is answered for what it did, so
# none of them may fail (no EINTR, and above all no EEXIST when the
# shell retries an open that was answered EINTR although it had created
# the file); what a killed command did is either done or not, never half
# (a renamed file is in exactly one place, a written one holds a prefix of
# its bytes).  The mount must live through it all: its receiver thread
# used to complete a call its caller had withdrawn and returned from, and
# jump to a function pointer on a dead stack frame.
# one read path
. "$(dirname "$0")/../lib.sh"
need_fuse
command -v perl >/dev/null || { echo "perl missing"; exit 1; }
start_cluster --cs 2 --replicas 2
MOUNT_PID=$(sed -n 's/^pid\.mount=//p' "$D/cluster.conf")
N=${ZCFS_INTR_N:-300}

# -- creates and writes by the shell, SIGCHLD all the time
mkdir "$M/a"
bad=0
for i in $(seq 1 "$N"); do
	sleep 0.00$((RANDOM % 3)) &
	echo "line $i" 2>>"$T/a.err" > "$M/a/f$i" || bad=$((bad + 1))
done
wait
echo "shell creates: $bad of $N failed"
sed 's/f[0-9]*:/fN:/' "$T/a.err" | sort | uniq -c | head
expect "no shell create failed with EEXIST" 0 "$(grep -c 'File exists' "$T/a.err")"
expect "no shell create or write failed" 0 "$bad"
missing=0
for i in $(seq 1 "$N"); do
	[ "$(cat "$M/a/f$i" 2>/dev/null)" = "line $i" ] || missing=$((missing + 1))
done
expect "every file the shell created holds its line" 0 "$missing"

# -- dd under SIGUSR1 (dd prints its statistics and goes on)
mkdata "$T/src" 1048576 interrupts
# Signals only once dd has opened its output: it has its handlers by then.
dd_storm() { # to
	local p
	dd if="$T/src" of="$1" bs=16k 2>/dev/null &
	p=$!
	while running "$p" && ! ls -l "/proc/$p/fd" 2>/dev/null | grep -q -- "$1"; do :; done
	while running "$p"; do
		kill -USR1 "$p" 2>/dev/null
		sleep 0.00$((RANDOM % 3))
	done
	wait "$p"
}
mkdir "$M/dd"
bad=0
for i in $(seq 1 20); do
	dd_storm "$M/dd/s$i"
	rc=$?
	[ $rc = 0 ] || { bad=$((bad + 1)); echo "dd $i: exit $rc"; }
done
expect "dd under SIGUSR1: every copy succeeded" 0 "$bad"
bad=0
for i in $(seq 1 20); do
	cmp -s "$T/src" "$M/dd/s$i" || bad=$((bad + 1))
done
expect "dd under SIGUSR1: every copy holds the source's bytes" 0 "$bad"

# -- mkdir, create, write and rename from a program signalled all the time
perl - "$M/p" "$N" > "$T/p.out" 2>&1 <<'EOF'
use strict;
my ($dir, $n) = @ARGV;
my $hits = 0;
$SIG{USR1} = sub { $hits++ };
my $parent = $$;
my $kid = fork();
die "fork: $!" unless defined $kid;
if (!$kid) {
	while (kill('USR1', $parent)) { select(undef, undef, undef, rand(0.002)); }
	exit 0;
}
mkdir $dir or print "mkdir $dir: $!\n";
for my $i (1 .. $n) {
	mkdir "$dir/m$i" or print "mkdir m$i: $!\n";
	if (open(my $f, '>', "$dir/m$i/f")) {
		print $f "perl $i\n";
		close($f) or print "close m$i/f: $!\n";
	} else {
		print "create m$i/f: $!\n";
	}
	rename("$dir/m$i/f", "$dir/m$i/g") or print "rename m$i/f: $!\n";
	rename("$dir/m$i", "$dir/n$i") or print "rename m$i: $!\n";
}
kill('KILL', $kid);
waitpid($kid, 0);
print "signals: $hits\n";
EOF
grep '^signals:' "$T/p.out"
grep -v '^signals:' "$T/p.out" | sed 's/[0-9][0-9]*/N/g' | sort | uniq -c | head
check "the signals reached the program" grep -q '^signals: [1-9]' "$T/p.out"
expect "no mkdir, create, write or rename failed under signals" "" \
	"$(grep -v '^signals:' "$T/p.out" | head -n 5)"
missing=0
for i in $(seq 1 "$N"); do
	[ "$(cat "$M/p/n$i/g" 2>/dev/null)" = "perl $i" ] || missing=$((missing + 1))
done
expect "every directory and file is where its renames put it, with its line" 0 "$missing"

# -- commands killed at random moments: done or not, never half
mkdir "$M/k"
for i in $(seq 1 60); do
	echo "k $i" > "$M/k/a$i"
done
for i in $(seq 1 60); do
	timeout -s INT 0.00$((RANDOM % 8)) mkdir "$M/k/d$i" 2>/dev/null
	echo "$i $?" >> "$T/k.mkdir"
	timeout -s INT 0.00$((RANDOM % 8)) mv "$M/k/a$i" "$M/k/b$i" 2>/dev/null
	echo "$i $?" >> "$T/k.mv"
	timeout -s INT 0.0$((RANDOM % 5)) dd if="$T/src" of="$M/k/w$i" bs=4k 2>/dev/null
	echo "$i $?" >> "$T/k.dd"
done
echo "exit codes of killed commands (mkdir, mv, dd):"
for f in mkdir mv dd; do
	echo "  $f: $(cut -d' ' -f2 "$T/k.$f" | sort -n | uniq -c | tr -s ' ' | paste -s -d,)"
done
bad=0
while read -r i rc; do
	[ "$rc" = 0 ] && [ ! -d "$M/k/d$i" ] && { echo "mkdir d$i succeeded, no directory"; bad=$((bad + 1)); }
done < "$T/k.mkdir"
expect "every mkdir that succeeded left its directory" 0 "$bad"
bad=0
while read -r i rc; do
	n=0
	[ -e "$M/k/a$i" ] && n=$((n + 1))
	[ -e "$M/k/b$i" ] && n=$((n + 1))
	if [ $n != 1 ]; then
		echo "a$i/b$i: $n copies (mv exit $rc)"; bad=$((bad + 1))
	elif [ "$(cat "$M/k/a$i" "$M/k/b$i" 2>/dev/null)" != "k $i" ]; then
		echo "a$i/b$i: wrong content"; bad=$((bad + 1))
	elif [ "$rc" = 0 ] && [ ! -e "$M/k/b$i" ]; then
		echo "mv a$i succeeded, but b$i is missing"; bad=$((bad + 1))
	fi
done < "$T/k.mv"
expect "every file a killed mv touched is in exactly one place with its content" 0 "$bad"
bad=0
while read -r i rc; do
	[ -e "$M/k/w$i" ] || continue
	size=$(stat -c %s "$M/k/w$i")
	if [ "$rc" = 0 ] && [ "$size" != 1048576 ]; then
		echo "dd w$i succeeded with $size bytes"; bad=$((bad + 1))
	elif ! cmp -s -n "$size" "$T/src" "$M/k/w$i"; then
		echo "w$i: its $size bytes are not the source's"; bad=$((bad + 1))
	fi
done < "$T/k.dd"
expect "every file a killed dd wrote holds a prefix of the source" 0 "$bad"

# -- the mount lived through it
check "the mount process runs" running "$MOUNT_PID"
check "stat of the mount works" stat "$M/a/f1"
echo after > "$M/after"
expect "a file made after the storm reads back" after "$(cat "$M/after" 2>/dev/null)"
expect "the mount log has no crash, bad frame or late answer taken for a wrong call" "" \
	"$(grep -E 'Sanitizer|SEGV|bad frame|closing|response type' "$D/mount.log" | head -n 5)"
finish
