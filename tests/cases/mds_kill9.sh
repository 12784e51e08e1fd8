# SPDX-License-Identifier: MIT
# one read path (no file data is read)
# Acknowledged metadata changes survive kill -9 of the mds (group commit:
# an answer leaves only once its batch is committed).  Three processes
# create, rename, chmod and unlink files in folders of their own, each
# logging an operation only after it returned success; the mds is killed
# with -9 in the middle and `zcfs up` brings it back while they go on
# (operations in flight wait for it and complete after).  Then every
# logged operation is in the namespace, as a fresh client sees it: created
# files there, renamed ones under the new name, unlinked ones gone, modes
# as set; nothing else, and no operation failed.
. "$(dirname "$0")/../lib.sh"
start_cluster --cs 1 --replicas 1

conf() { sed -n "s/^$1=//p" "$D/cluster.conf"; }
WORKERS=3
MODES=(600 640 604 700 755 444 711 620)

# work DIR LOG: the operations, one after the other; "op args" lines in LOG
# for those that returned 0, "FAIL op args" for the others.  unlink(1),
# not rm: no question about a read-only file, no -f hiding a missing one.
work() {
	local d=$1 log=$2 i=0 m
	umask 022
	mk() { : > "$1"; }
	did() { # "op args" command...
		local line=$1
		shift
		if "$@" 2>/dev/null; then echo "$line" >> "$log"; else echo "FAIL $line" >> "$log"; fi
	}
	mkdir "$d" || { echo "FAIL mkdir $d" >> "$log"; return 1; }
	while [ ! -e "$T/stop" ]; do
		did "create f$i" mk "$d/f$i"
		case $((i % 4)) in
		1)	did "rename f$i r$i" mv "$d/f$i" "$d/r$i" ;;
		2)	m=${MODES[$((i / 4 % 8))]}
			did "chmod f$i $m" chmod "$m" "$d/f$i" ;;
		3)	did "unlink f$((i - 1))" unlink "$d/f$((i - 1))"
			if [ $i -ge 6 ]; then	# the one renamed two steps ago
				m=${MODES[$((i % 8))]}
				did "chmod r$((i - 2)) $m" chmod "$m" "$d/r$((i - 2))"
			fi ;;
		esac
		i=$((i + 1))
	done
	return 0
}

# expected LOG: "name mode" of every file the logged operations leave.
expected() {
	awk '$1 == "create" { m[$2] = 644 }
	     $1 == "rename" { m[$3] = m[$2]; delete m[$2] }
	     $1 == "chmod" { m[$2] = $3 }
	     $1 == "unlink" { delete m[$2] }
	     END { for (n in m) print n, m[n] }' "$1" | sort
}

pids=
for k in $(seq 1 $WORKERS); do
	work "$M/w$k" "$T/log$k" &
	pids="$pids $!"
done
EXTRA_PIDS="$EXTRA_PIDS $pids"
acked() { cat "$T"/log* 2>/dev/null | grep -vc '^FAIL'; }
sleep 3
mds=$(conf pid.mds)
before=$(acked)
kill -9 "$mds"
echo "mds (pid $mds) killed with -9 after $before acknowledged operations"
check "operations were acknowledged before the kill ($before)" [ "$before" -gt 30 ]
sleep 1
"$ZCFS" up --dir "$D" --mount "$M" > "$T/up.out" 2>&1
expect "zcfs up restarts the mds" 0 $?
check "a new mds runs" sh -c "[ '$(conf pid.mds)' != '$mds' ] && kill -0 '$(conf pid.mds)'"
# They go on (the ones in flight at the kill first) for a while.
for _ in $(seq 1 40); do
	[ $(($(acked) - before)) -ge 60 ] && break
	sleep 0.25
done
sleep 1
touch "$T/stop"
for p in $pids; do
	wait_pid "$p" 60
	expect "worker $p ended" 0 $?
done
after=$(acked)
echo "$after operations acknowledged in all, $((after - before)) after the kill"
check "operations went on after the restart" [ $((after - before)) -gt 0 ]
expect "no operation failed" "" "$(grep -h '^FAIL' "$T"/log* | head -n 5 | paste -s -d '|')"

# What the mds has, through a client that cached nothing of it.
M2=$T/mnt2
if mount_client "$M2"; then
	for k in $(seq 1 $WORKERS); do
		expected "$T/log$k" > "$T/want$k"
		find "$M2/w$k" -mindepth 1 -maxdepth 1 -printf '%f %m\n' | sort > "$T/got$k"
		if cmp -s "$T/want$k" "$T/got$k"; then
			ok "worker $k: all $(wc -l < "$T/log$k") acknowledged operations are there" \
				"($(wc -l < "$T/got$k") files, modes as set)"
		else
			fail "worker $k: namespace differs from its acknowledged operations"
			diff "$T/want$k" "$T/got$k" | head -n 20
		fi
	done
else
	fail "a second client mounts"
fi
check "no failed commit in the mds log" sh -c "! grep -h 'commit of a batch\|rolled back a batch' '$D'/mds*.log"
"$ZCFS" status --dir "$D" | grep '^store:'
finish
