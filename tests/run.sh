#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every unit test program (BUILD/tests/*) and every mount case
# (tests/cases/*.sh), each under a timeout, and ends with the line
# "N passed, N failed, N skipped".  Exit 77 means skip; with
# ZCFS_TEST_REQUIRE_FUSE=1 a skip counts as a failure.
# usage: tests/run.sh BUILD_DIR [NAME-FILTER]
set -u
B=${1:-build}
FILTER=${2:-${ZCFS_TEST_FILTER:-}}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOGS="$ROOT/$B/test-logs"
mkdir -p "$LOGS"
export ZCFS="$ROOT/$B/zcfs"
pass=0 fail=0 skip=0 failed=""

run_one() { # name timeout cmd...
	local name=$1 limit=$2 rc start
	shift 2
	[ -n "$FILTER" ] && [[ "$name" != *$FILTER* ]] && return
	start=$(date +%s)
	printf '%-40s ' "$name"
	timeout -k 10 "$limit" "$@" >"$LOGS/${name//\//_}.log" 2>&1
	rc=$?
	local took=$(( $(date +%s) - start ))
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1)); echo "PASS (${took}s)"
	elif [ $rc -eq 77 ] && [ "${ZCFS_TEST_REQUIRE_FUSE:-0}" != 1 ]; then
		skip=$((skip + 1)); echo "SKIP ($(tail -n 1 "$LOGS/${name//\//_}.log"))"
	else
		fail=$((fail + 1)); failed="$failed $name"
		[ $rc -eq 124 ] && echo "FAIL (timeout after ${limit}s)" || echo "FAIL (exit $rc, ${took}s)"
		[ $rc -eq 77 ] && echo "    skipped, but ZCFS_TEST_REQUIRE_FUSE=1"
		tail -n 25 "$LOGS/${name//\//_}.log" | sed 's/^/    | /'
	fi
}

for t in "$ROOT/$B"/tests/*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	run_one "unit/$(basename "$t")" 120 "$t"
done
# Every mount case runs with both read paths.
for c in "$ROOT"/tests/cases/*.sh; do
	[ -f "$c" ] || continue
	ZCFS_ZEROCOPY=1 run_one "case/$(basename "$c" .sh)" 900 bash "$c"
	ZCFS_ZEROCOPY=0 run_one "case/$(basename "$c" .sh)-copy" 900 bash "$c"
done
[ -n "$failed" ] && echo "failed:$failed (logs in $LOGS)"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
