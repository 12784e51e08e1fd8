# SPDX-License-Identifier: MIT
# Helpers for mount cases: a private cluster per case, cleaned up by PID
# on any exit.  Source it, then call start_cluster.
set -u
# lib.sh is in tests/: the build is in its parent.
ZCFS=${ZCFS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/zcfs}
# The lock and I/O script runner of tests/tools (make tools), next to zcfs.
ZCFS_LOCKF=${ZCFS_LOCKF:-$(dirname "$ZCFS")/tools/zc_lockf}
# The scale cases' maker of files and chunk files, READ client and REPORT
# watcher (tests/tools/zc_many.c).
ZCFS_MANY=${ZCFS_MANY:-$(dirname "$ZCFS")/tools/zc_many}
# Plays a hostile peer (tests/tools/zc_hostile.c).
ZCFS_HOSTILE=${ZCFS_HOSTILE:-$(dirname "$ZCFS")/tools/zc_hostile}
# Reads a folder a page at a time while it changes (tests/tools/zc_dirstep.c).
ZCFS_DIRSTEP=${ZCFS_DIRSTEP:-$(dirname "$ZCFS")/tools/zc_dirstep}
# Daemons a case starts never read the machine's /etc/zcfs/zcfs.conf.
export ZCFS_CONFIG=
FAILS=0
# Started by the case and killed by the cleanup: EXTRA_PIDS (test processes),
# CLIENT_PIDS and CLIENT_MOUNTS (more clients of the cluster, mount_client).
EXTRA_PIDS=
CLIENT_PIDS=
CLIENT_MOUNTS=

need_fuse() {
	if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
		echo "FUSE not available (/dev/fuse or fusermount3 missing)"
		exit 77
	fi
}

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
# The last lines a checked command printed, joined by " | " (what it got).
said() { tail -n "${2:-3}" "$1" | tr -s '\n' '|' | sed 's/|$//; s/|/ | /g'; }
# check "what" command...: the command must succeed.  It runs in this
# shell (functions may set variables); what it prints is shown after it,
# and a failure names the command as it ran (its arguments expanded: the
# values it compared), its exit status and the end of its output.
check() {
	local what=$1 rc out=$T/.check.$BASHPID
	shift
	"$@" > "$out" 2>&1
	rc=$?
	cat "$out"
	if [ $rc -eq 0 ]; then
		ok "$what"
	elif [ -s "$out" ]; then
		fail "$what: expected success of: $*; got exit $rc: $(said "$out")"
	else
		fail "$what: expected success of: $*; got exit $rc"
	fi
	rm -f "$out"
}
# check_fails "what" command...: the command must fail
check_fails() {
	local what=$1 out=$T/.check.$BASHPID
	shift
	if ! "$@" > "$out" 2>&1; then
		ok "$what"
	else
		cat "$out"
		fail "$what: expected failure of: $*; got success$([ -s "$out" ] && echo ": $(said "$out")")"
	fi
	rm -f "$out"
}

T=$(mktemp -d /tmp/zcfs-case.XXXXXX)
D=$T/data
M=$T/mnt

cluster_pids() {
	[ -f "$D/cluster.conf" ] && sed -n 's/^pid\.[a-z0-9]*=\([1-9][0-9]*\)$/\1/p' "$D/cluster.conf"
}

# Is pid a live (not zombie) child of this shell?  Only such pids are
# killed: a pid reaped and reused since is someone else's.
mine() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	set -- ${st##*) }	# state ppid ...
	[ "$1" != Z ] && [ "$2" = $$ ]
}

# kill_bg PID...: SIGKILL to background jobs of this shell, without the
# shell's "Killed" notice.
kill_bg() {
	local p
	for p in "$@"; do
		mine "$p" || continue
		disown "$p" 2>/dev/null
		kill -9 "$p" 2>/dev/null
	done
}

cleanup() {
	local rc=$?
	set +e
	# Test processes first: they may hold files open on the mounts.
	kill_bg $EXTRA_PIDS
	# More clients: unmounting ends their session loop; then kill the rest.
	for m in $CLIENT_MOUNTS; do
		grep -q " $m " /proc/mounts && { fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m"; }
	done
	for p in $CLIENT_PIDS; do
		for _ in $(seq 1 12); do mine "$p" || break; sleep 0.25; done
		kill_bg "$p"
	done
	"$ZCFS" down --dir "$D" >/dev/null 2>&1
	for p in $(cluster_pids); do
		kill -9 "$p" 2>/dev/null
	done
	if grep -q " $M " /proc/mounts 2>/dev/null; then
		fusermount3 -u -z "$M" 2>/dev/null || umount -l "$M" 2>/dev/null
	fi
	# A sanitizer report in any daemon's log fails the case.
	# Its gist goes on FAIL lines, which the runner repeats at the very end
	# (a CI log may keep only that): the first report's kind and the first
	# frames in zcfs's own sources.
	local f
	for f in $(grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$D"/*.log 2>/dev/null); do
		echo "FAIL: sanitizer report in ${f##*/}: $(grep -m 1 -h -E \
			"ERROR: (Address|Leak)Sanitizer|runtime error:" "$f" | cut -c 1-200)"
		grep -E "^ +#[0-9]+ .* in .*(src|tests)/" "$f" | head -n 4 | sed 's/^ */FAIL:   /'
		grep -h -A 30 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$f" | head -n 60
		[ "$rc" -eq 0 ] && rc=1
	done
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		for f in "$D"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }; done
	fi
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The read path under test: run.sh runs every case in both modes.
ZCFS_ZEROCOPY=${ZCFS_ZEROCOPY:-1}

start_cluster() { # extra args for zcfs up
	need_fuse
	"$ZCFS" up --dir "$D" --mount "$M" -o "zerocopy=$ZCFS_ZEROCOPY" "$@" ||
		{ echo "zcfs up failed"; exit 1; }
}

# A cluster-wide number from `zcfs status --json` (cs_up, chunks_bad, ...).
cluster() {
	"$ZCFS" status --dir "$D" --json | tr ',{}' '\n\n\n' | sed -n "s/^\"$1\":\([0-9]*\)$/\1/p" | head -n1
}

# Waits up to $3 seconds until cluster value $1 is $2.
wait_cluster() {
	for _ in $(seq 1 $(( $3 * 4 ))); do
		[ "$(cluster "$1")" = "$2" ] && return 0
		sleep 0.25
	done
	echo "$1 is $(cluster "$1"), not $2, after $3 s"
	return 1
}

# replica_sets FILE N [SERVERS]: every chunk of FILE (and at least one)
# has exactly N replicas, on N distinct servers that are up, none being
# copied; with SERVERS ("1 2 3"), on exactly those.  A failure prints each
# chunk line that is not so, and why.
replica_sets() {
	local out
	out=$("$ZCFS" getattr "$1" 2>&1) || { echo "zcfs getattr $1: $out"; return 1; }
	echo "$out" | awk -v n="$2" -v want="${3:-}" '
		/^chunk/ {
			chunks++; ok = 0; ids = ""; delete seen; dup = 0
			for (i = 1; i <= NF; i++)
				if ($i ~ /^cs[0-9]+\((ok|down)\)$/) {
					id = $i; sub(/^cs/, "", id); sub(/\(.*/, "", id)
					if (id in seen) dup = 1
					seen[id] = 1; ids = ids " " id
					if ($i ~ /\(ok\)$/) ok++
				}
			why = ""
			if (ok != n) why = why " expected " n " good replicas, got " ok ";"
			if (dup) why = why " a server listed twice;"
			if ($0 ~ /copying/) why = why " being copied;"
			if ($0 ~ /down/) why = why " a replica on a server that is down;"
			if (want != "") {
				split(want, w, " "); m = 0
				for (k in w) { m++; if (!(w[k] in seen)) why = why " nothing on cs" w[k] ";" }
				if (m != length(seen)) why = why " expected servers " want ", got" ids ";"
			}
			if (why != "") { print $0 " <-" why; bad = 1 }
		}
		END {
			if (!chunks) { print "no chunk lines in zcfs getattr"; bad = 1 }
			exit bad
		}'
}

# Every chunk of a file has N replicas, all on servers that are up.
all_replicas() { replica_sets "$1" "$2"; }

# Waits up to $3 seconds for a pattern in a file.
wait_grep() {
	for _ in $(seq 1 $(( $3 * 4 ))); do grep -q "$1" "$2" && return 0; sleep 0.25; done
	echo "no line matching '$1' in $2 after $3 s"
	return 1
}

# Retries a command for up to $1 seconds.
eventually() {
	local limit=$1
	shift
	for _ in $(seq 1 $(( limit * 4 ))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
	"$@"	# the last try shows what it got
}

cs_pid() { sed -n "s/^pid\.cs$1=//p" "$D/cluster.conf"; }

# A client counter from `zcfs status --json`.
counter() {
	"$ZCFS" status --dir "$D" --json | tr ',{}' '\n\n\n' | sed -n "s/^\"$1\":\([0-9]*\)$/\1/p" | head -n1
}

restart_cluster() {
	"$ZCFS" down --dir "$D" || fail "zcfs down"
	start_cluster "$@"
}

# Writes N bytes of reproducible pseudo-random data to a file.
mkdata() { # file bytes seed
	head -c "$2" < <(openssl enc -aes-128-ctr -pass "pass:$3" -nosalt -pbkdf2 -in /dev/zero 2>/dev/null) > "$1"
}

# expect "what" WANT GOT: passes when GOT is WANT, else shows both.
expect() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: expected '$2', got '$3'"; fi
}

# within S "what" WANT command...: the command's output becomes WANT within
# S seconds (it runs every 0.25 s); a failure shows the last output.
within() {
	local limit=$1 what=$2 want=$3 got
	shift 3
	for _ in $(seq 1 $(( limit * 4 ))); do
		got=$("$@" 2>&1)
		if [ "$got" = "$want" ]; then ok "$what"; return 0; fi
		sleep 0.25
	done
	fail "$what: expected '$want' within $limit s, got '$got'"
	return 1
}

# Is pid running (not a zombie)?
running() { [ -e "/proc/$1" ] && ! grep -q '^[0-9]* (.*) Z ' "/proc/$1/stat" 2>/dev/null; }

# wait_pid PID S: waits up to S seconds for a background job of this shell
# to end and returns its exit status, or 124 (as timeout(1)) if it still runs.
wait_pid() {
	for _ in $(seq 1 $(( $2 * 4 ))); do
		running "$1" || break
		sleep 0.25
	done
	running "$1" && return 124
	wait "$1"
}

need_lockf() {
	[ -x "$ZCFS_LOCKF" ] || { echo "$ZCFS_LOCKF missing: make tools"; exit 1; }
}

need_many() {
	[ -x "$ZCFS_MANY" ] || { echo "$ZCFS_MANY missing: make tools"; exit 1; }
}

# Is zcfs built with AddressSanitizer (make test-asan)?  Its shadow memory
# and quarantine make memory figures meaningless.
sanitized() { grep -q -a -m 1 __asan_init "$ZCFS"; }

# What a process holds: open descriptors; memory in KiB (VmRSS, or
# RssAnon, RssFile); chunk files mapped (lines of its maps naming a .chk
# file); its open-files limit, "SOFT HARD".
proc_fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
proc_mem() { sed -n "s/^${2:-VmRSS}:[[:space:]]*\([0-9]*\) kB$/\1/p" "/proc/$1/status" 2>/dev/null; }
proc_chunk_maps() { grep -c '\.chk' "/proc/$1/maps" 2>/dev/null; }
proc_nofile() { awk '/^Max open files/ { print $4, $5 }' "/proc/$1/limits" 2>/dev/null; }

# watch_proc PID FILE: samples PID every 0.25 s in the background until it
# ends or the sampler is stopped (kill_bg $WATCH, or the cleanup): one line
# "fds vmrss_kib chunk_maps rssanon_kib" per sample, appended to FILE.
watch_proc() {
	local pid=$1 out=$2
	(
		while running "$pid"; do
			echo "$(proc_fds "$pid") $(proc_mem "$pid") $(proc_chunk_maps "$pid")" \
				"$(proc_mem "$pid" RssAnon)" >> "$out"
			sleep 0.25
		done
	) &
	WATCH=$!
	EXTRA_PIDS="$EXTRA_PIDS $WATCH"
}

# peak FILE COLUMN: the largest value in a column of watch_proc's samples.
peak() { cat "$1" 2>/dev/null | awk -v c="$2" '$c > m { m = $c } END { print m + 0 }'; }

# bounded SAMPLES LIMIT MAX_RSS_MIB LOG [FROM]: checks what watch_proc saw
# of a chunk server: at every sample fewer than LIMIT descriptors open and
# fewer than LIMIT chunk files mapped (a mapping is a chunk in use: no more
# than the open ones), VmRSS below MAX_RSS_MIB (not under ASan), and no
# "Too many open files" in its LOG (from line FROM on); prints the peaks.
bounded() {
	local fds maps rss anon
	fds=$(peak "$1" 1)
	rss=$(( $(peak "$1" 2) / 1024 ))
	maps=$(peak "$1" 3)
	anon=$(( $(peak "$1" 4) / 1024 ))
	echo "peaks over $(cat "$1" 2>/dev/null | wc -l) samples: $fds descriptors," \
		"$maps chunk files mapped, VmRSS $rss MiB (RssAnon $anon MiB)"
	check "descriptors stayed below the limit of $2 (peak $fds)" [ "$fds" -lt "$2" ]
	check "chunk files mapped at once stayed below $2 (peak $maps)" [ "$maps" -lt "$2" ]
	if sanitized; then
		echo "VmRSS not checked under ASan (its shadow memory and quarantine)"
	else
		check "VmRSS stayed below $3 MiB (peak $rss MiB)" [ "$rss" -lt "$3" ]
	fi
	check "never out of descriptors (no EMFILE in $(basename "$4"))" \
		sh -c "! tail -n +${5:-1} '$4' | grep -m 3 'Too many open files'"
}

# wait_gone PID S: waits up to S seconds for a process (not necessarily a
# child of this shell) to end.
wait_gone() {
	for _ in $(seq 1 $(( $2 * 4 ))); do running "$1" || return 0; sleep 0.25; done
	! running "$1"
}

# lockf ARGS...: runs zc_lockf (killed after $LOCKF_TIMEOUT s, default 60)
# and prints its output lines joined by '|', e.g. "ok|EAGAIN".
lockf() {
	timeout -k 5 "${LOCKF_TIMEOUT:-60}" "$ZCFS_LOCKF" "$@" 2>&1 | paste -s -d '|'
}

# lockf_bg OUT ARGS...: runs zc_lockf in the background, its output in the
# file OUT; its pid in $BG, killed by the cleanup.
lockf_bg() {
	local out=$1
	shift
	"$ZCFS_LOCKF" "$@" > "$out" 2>&1 &
	BG=$!
	EXTRA_PIDS="$EXTRA_PIDS $BG"
}

# lines FILE: the file's lines joined by '|' (compare with lockf's output).
lines() { paste -s -d '|' "$1"; }

# mount_client MNT [OPTS]: mounts one more client of the case's cluster at
# MNT (in the foreground, as a background job of this shell; log in
# $D/client-NAME.log) and waits until it is a FUSE mount.  Its pid is in
# $CLIENT_PID; the cleanup unmounts it and kills it.  Returns 1 if it does
# not come up within 15 s.
mount_client() {
	local mnt=$1 log
	log=$D/client-$(basename "$1").log
	mkdir -p "$mnt"
	"$ZCFS" mount --dir "$D" ${MOUNT_CRED:+--credential "$MOUNT_CRED"} "$mnt" -f \
		-o "zerocopy=$ZCFS_ZEROCOPY${2:+,$2}" --log "$log" >> "$log" 2>&1 &
	CLIENT_PID=$!
	CLIENT_PIDS="$CLIENT_PIDS $CLIENT_PID"
	CLIENT_MOUNTS="$CLIENT_MOUNTS $mnt"
	for _ in $(seq 1 60); do
		case $(stat -f -c %T "$mnt" 2>/dev/null) in fuse*) return 0 ;; esac
		running "$CLIENT_PID" || break
		sleep 0.25
	done
	echo "zcfs mount --dir $D $mnt did not come up (log: $log)"
	return 1
}

finish() {
	if [ "$FAILS" -ne 0 ]; then
		echo "$FAILS checks failed"
		exit 1
	fi
	echo "all checks passed"
	exit 0
}

# ---- clusters started by hand from configuration files, as on several
# machines (README "Running on several machines"): config.sh, netns.sh,
# backup.sh.  hand_keys makes the cluster key and the credential node1 in
# $D; ini writes a configuration file; hand_start runs a daemon in the
# background (its pid in $BG, killed by the cleanup).

hand_keys() {
	mkdir -p "$D"
	"$ZCFS" keygen cluster "$D/cluster.key" >/dev/null &&
		"$ZCFS" keygen client node1 "$D/node1.cred" --add-to "$D/credentials" >/dev/null
}

# ini FILE SECTION KEY=VALUE...: a configuration file with one section.
ini() {
	local f=$1
	printf '# written by %s\n[%s]\n' "$(basename "$0")" "$2" > "$f"
	shift 2
	for kv in "$@"; do printf '%s = %s\n' "${kv%%=*}" "${kv#*=}" >> "$f"; done
}

hand_start() {
	"$@" &
	BG=$!
	EXTRA_PIDS="$EXTRA_PIDS $BG"
}

# hand_mds_addr LOG: the address an mds serves on, from its log.
hand_mds_addr() {
	wait_grep 'mds: serving .* on ' "$1" 10 &&
		sed -n 's/.*mds: serving .* on \([0-9.]*:[0-9]*\),.*/\1/p' "$1" | tail -n 1
}

# hand_cs_up MDS: how many chunk servers the mds at MDS counts up.
hand_cs_up() {
	"$ZCFS" status --mds "$1" --credential "$D/node1.cred" --json 2>/dev/null |
		sed -n 's/.*"cs_up":\([0-9]*\).*/\1/p'
}

# hand_mounted MNT: waits up to 15 s for a FUSE mount at MNT.
hand_mounted() {
	for _ in $(seq 1 60); do
		case $(stat -f -c %T "$1" 2>/dev/null) in fuse*) return 0 ;; esac
		sleep 0.25
	done
	return 1
}
