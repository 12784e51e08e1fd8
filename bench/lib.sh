# SPDX-License-Identifier: MIT
# Sourced by the bench scripts that run one cluster in a temporary folder:
# ROOT, ZCFS (build/zcfs unless set), T (the folder, removed at exit with
# the cluster under T/d stopped), log (progress on stderr).
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ZCFS=${ZCFS:-$ROOT/build/zcfs}
T=$(mktemp -d "/tmp/zcfs-$(basename "$0" .sh).XXXXXX")
log() { echo "bench: $*" >&2; }

cleanup() {
	set +e
	"$ZCFS" down --dir "$T/d" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
