#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Prints line and branch coverage per folder of src/ (and per file into
# BUILD/coverage.txt) from the gcov counters a --coverage build left in
# BUILD (make coverage).
# usage: tests/coverage.sh BUILD_DIR
set -eu
B=${1:-build-cov}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
command -v gcovr >/dev/null || { echo "gcovr missing: scripts/install-deps.sh"; exit 1; }
find "$B" -name '*.gcda' | grep -q . || { echo "no counters in $B: run make coverage"; exit 1; }
json=$B/coverage.json
# Branches the compiler made for itself (on lines with no code of ours)
# are left out.
gcovr --root . --filter 'src/' --exclude-unreachable-branches -j 2 \
	--json-summary "$json" --txt "$B/coverage.txt" "$B" >/dev/null
python3 - "$json" <<'PY'
import json, sys
from collections import defaultdict
d = json.load(open(sys.argv[1]))
tot = defaultdict(lambda: [0, 0, 0, 0])
for f in d["files"]:
    parts = f["filename"].split("/")
    folder = "/".join(parts[:2]) if len(parts) > 2 else parts[0]
    for key, k in (("line_covered", 0), ("line_total", 1),
                   ("branch_covered", 2), ("branch_total", 3)):
        tot[folder][k] += f[key]
        tot["all of src/"][k] += f[key]
pct = lambda a, b: "%5.1f%%" % (100.0 * a / b) if b else "   - "
print("%-14s %14s %7s %16s %7s" % ("folder", "lines", "", "branches", ""))
for folder in sorted(tot, key=lambda x: (x == "all of src/", x)):
    lc, lt, bc, bt = tot[folder]
    print("%-14s %6d / %6d %7s %7d / %6d %7s" % (folder, lc, lt, pct(lc, lt), bc, bt, pct(bc, bt)))
PY
echo "per file: $B/coverage.txt"
