#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every unit test program (BUILD/tests/*) and every mount case
# (tests/cases/*.sh), each under a timeout, and ends with the line
# "N passed, N failed, N skipped".  Exit 77 means skip; with
# ZCFS_TEST_REQUIRE_FUSE=1 a skip counts as a failure.
# usage: tests/run.sh BUILD_DIR [NAME-FILTER]
#
# ZCFS_TEST_FILTER=TEXT: only the tests whose name holds TEXT (names as
#   printed: unit/test_rpc, case/replication, case/replication-copy).
# ZCFS_TEST_REPEAT=N: runs each test N times in a row (default 1), e.g. to
#   show that a case never hangs:
#     ZCFS_TEST_REPEAT=20 ZCFS_TEST_FILTER=case/replication make test
#   (both read paths, so 40 runs; each under its own timeout, a hang shows
#   as "FAIL (timeout ...)"; every run keeps its log, NAME.runK.log).
# ZCFS_TEST_NOFILE=N: the soft open-files limit of the mount cases
#   (default 1024; empty: the caller's), see below.
set -u
B=${1:-build}
FILTER=${2:-${ZCFS_TEST_FILTER:-}}
REPEAT=${ZCFS_TEST_REPEAT:-1}
NOFILE=${ZCFS_TEST_NOFILE-1024}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOGS="$ROOT/$B/test-logs"
mkdir -p "$LOGS"
export ZCFS="$ROOT/$B/zcfs"
pass=0 fail=0 skip=0 failed="" whyfail=""

run_one() { # name timeout cmd...
	local name=$1 limit=$2 rc start log run line
	shift 2
	[ -n "$FILTER" ] && [[ "$name" != *$FILTER* ]] && return
	for run in $(seq 1 "$REPEAT"); do
		log="$LOGS/${name//\//_}.log"
		[ "$REPEAT" -gt 1 ] && log="$LOGS/${name//\//_}.run$run.log"
		start=$(date +%s)
		if [ "$REPEAT" -gt 1 ]; then
			printf '%-40s ' "$name ($run/$REPEAT)"
		else
			printf '%-40s ' "$name"
		fi
		timeout -k 10 "$limit" "$@" >"$log" 2>&1
		rc=$?
		local took=$(( $(date +%s) - start ))
		if [ $rc -eq 0 ]; then
			pass=$((pass + 1)); echo "PASS (${took}s)"
		elif [ $rc -eq 77 ] && [ "${ZCFS_TEST_REQUIRE_FUSE:-0}" != 1 ]; then
			skip=$((skip + 1)); echo "SKIP ($(tail -n 1 "$log"))"
		else
			fail=$((fail + 1)); failed="$failed $name"
			[ "$REPEAT" -gt 1 ] && failed="$failed#$run"
			[ $rc -eq 124 ] && echo "FAIL (timeout after ${limit}s)" || echo "FAIL (exit $rc, ${took}s)"
			[ $rc -eq 77 ] && echo "    skipped, but ZCFS_TEST_REQUIRE_FUSE=1"
			tail -n 25 "$log" | sed 's/^/    | /'
			# Its first failed checks, again at the very end (a CI log may
			# keep only the end, where the daemons' logs fill the tail).
			whyfail+=$'\n'"  $name:"
			while IFS= read -r line; do whyfail+=$'\n'"    $line"; done \
				< <(grep -E '^(FAIL|zcfs: )|SUMMARY: [A-Za-z]*Sanitizer|runtime error:' "$log" | head -n 8)
		fi
	done
}

for t in "$ROOT/$B"/tests/*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	run_one "unit/$(basename "$t")" 120 "$t"
done
# Mount cases run with a soft limit of 1024 open files, the default of
# most systems (systemd services and login sessions) and the limit under
# which issue 9 had every write fail after 1,000 small files: a developer's
# or CI's shell may allow far more and hide such a wall.  Only the soft
# limit: a daemon may raise its own up to the hard one, as the chunk server
# does.  (small_files and many_chunks lower the hard limit too, for the
# cluster they start.)
if [ -n "$NOFILE" ]; then
	ulimit -Sn "$NOFILE" ||
		echo "warning: cannot set the soft open-files limit to $NOFILE (hard: $(ulimit -Hn))"
fi
# Every mount case runs with both read paths, but for those that say
# "# one read path" in their header (no read through the mount that matters).
for c in "$ROOT"/tests/cases/*.sh; do
	[ -f "$c" ] || continue
	ZCFS_ZEROCOPY=1 run_one "case/$(basename "$c" .sh)" 900 bash "$c"
	grep -q '^# one read path' "$c" && continue
	ZCFS_ZEROCOPY=0 run_one "case/$(basename "$c" .sh)-copy" 900 bash "$c"
done
[ -n "$failed" ] && echo "failed:$failed (logs in $LOGS)$whyfail"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
