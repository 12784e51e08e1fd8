# SPDX-License-Identifier: MIT
# Helpers for mount cases: a private cluster per case, cleaned up by PID
# on any exit.  Source it, then call start_cluster.
set -u
ZCFS=${ZCFS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/zcfs}
FAILS=0

need_fuse() {
	if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
		echo "FUSE not available (/dev/fuse or fusermount3 missing)"
		exit 77
	fi
}

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
# check "what" command...: the command must succeed
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
# check_fails "what" command...: the command must fail
check_fails() { local what=$1; shift; if "$@" 2>/dev/null; then fail "$what (succeeded)"; else ok "$what"; fi; }

T=$(mktemp -d /tmp/zcfs-case.XXXXXX)
D=$T/data
M=$T/mnt

cluster_pids() {
	[ -f "$D/cluster.conf" ] && sed -n 's/^pid\.[a-z0-9]*=\([1-9][0-9]*\)$/\1/p' "$D/cluster.conf"
}

cleanup() {
	local rc=$?
	set +e
	"$ZCFS" down --dir "$D" >/dev/null 2>&1
	for p in $(cluster_pids) ${EXTRA_PIDS:-}; do
		kill -9 "$p" 2>/dev/null
	done
	if grep -q " $M " /proc/mounts 2>/dev/null; then
		fusermount3 -u -z "$M" 2>/dev/null || umount -l "$M" 2>/dev/null
	fi
	# A sanitizer report in any daemon's log fails the case.
	if grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$D"/*.log 2>/dev/null; then
		echo "FAIL: sanitizer report in a daemon log"
		grep -h -A 12 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$D"/*.log | head -n 60
		[ "$rc" -eq 0 ] && rc=1
	fi
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

# Every chunk of a file has N replicas, all on servers that are up.
all_replicas() { # file N
	local out
	out=$("$ZCFS" getattr "$1") || return 1
	echo "$out" | grep '^chunk' | awk -v n="$2" '{ ok = 0; for (i = 1; i <= NF; i++) if ($i ~ /\(ok\)$/) ok++;
		if (ok != n || $0 ~ /down|copying/) bad = 1 } END { exit bad }'
}

# Waits up to $3 seconds for a pattern in a file.
wait_grep() {
	for _ in $(seq 1 $(( $3 * 4 ))); do grep -q "$1" "$2" && return 0; sleep 0.25; done
	return 1
}

# Retries a command for up to $1 seconds.
eventually() {
	local limit=$1
	shift
	for _ in $(seq 1 $(( limit * 4 ))); do "$@" && return 0; sleep 0.25; done
	"$@"
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

finish() {
	if [ "$FAILS" -ne 0 ]; then
		echo "$FAILS checks failed"
		exit 1
	fi
	echo "all checks passed"
	exit 0
}
