#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Where the CPU goes on the read or the write path: a cluster of 3 chunk
# servers (3 replicas), a 1 GiB file, fio 1 MiB direct at QD8 (read) or
# QD1 (write) on the zero-copy mount (or a -o zerocopy=0 one with COPY=1),
# `perf record -a -g` for SECONDS, then the top symbols per process
# (client = the mount, cs = the chunk servers together, fio, other).
#
# usage: bench/profile.sh read|write [SECONDS]     (default 10; PERF_OUT=FILE keeps perf.data)
set -euo pipefail
WHAT=${1:?read or write}
SECS=${2:-10}
. "$(dirname "$0")/lib.sh"
command -v perf >/dev/null || { echo "perf is not installed (Debian: linux-perf)" >&2; exit 1; }

log "starting a cluster (3 chunk servers, 3 replicas)"
"$ZCFS" up --dir "$T/d" --mount "$T/zc" --cs 3 --replicas 3 >/dev/null
MNT=$T/zc
CLIENT=$(sed -n 's/^pid\.mount=//p' "$T/d/cluster.conf")
if [ "${COPY:-0}" = 1 ]; then
	MNT=$T/copy
	mkdir -p "$MNT"
	"$ZCFS" mount --mds "$(sed -n 's/^mds=//p' "$T/d/cluster.conf")" \
		--credential "$T/d/admin.cred" "$MNT" -f -o zerocopy=0 --log "$T/d/copy.log" &
	CLIENT=$!
	trap '"$ZCFS" down --dir "$T/d" >/dev/null 2>&1; kill $CLIENT 2>/dev/null; rm -rf "$T"' EXIT
	for _ in $(seq 50); do grep -q " $MNT " /proc/mounts && break; sleep 0.1; done
fi
CS=$(sed -n 's/^pid\.cs[0-9]*=//p' "$T/d/cluster.conf" | paste -s -d,)
if [ "$WHAT" = read ]; then
	log "writing 1 GiB to read"
	dd if=/dev/urandom of="$MNT/f" bs=1M count=1024 status=none
	job=(--rw=read --iodepth=8 --ioengine=libaio)
else
	job=(--rw=write --iodepth=1 --ioengine=psync)
fi
fio --name=p --filename="$MNT/f" --bs=1M --direct=1 --size=1G --runtime=$((SECS + 4)) \
	--time_based "${job[@]}" --output-format=terse --terse-version=3 > "$T/fio" 2>/dev/null &
FIO=$!
sleep 2
log "perf record -a -g for $SECS s during fio $WHAT"
perf record -q -a -g -o "$T/perf.data" -- sleep "$SECS" 2>/dev/null
# perf names threads: the threads of the mount and of the chunk servers.
tids() { for p in "$@"; do ls "/proc/$p/task"; done | paste -s -d, -; }
CLIENT_T=$(tids "$CLIENT")
CS_T=$(tids ${CS//,/ })
wait $FIO
if [ -n "${PERF_OUT:-}" ]; then cp "$T/perf.data" "$PERF_OUT"; fi
awk -F';' -v w="$WHAT" '{ printf "fio %s: %.0f MiB/s\n", w, (w == "read" ? $7 : $48) / 1024 }' "$T/fio"
# Samples by process group, then the top symbols of each.
perf report -i "$T/perf.data" --no-children --sort pid,sym -g none --stdio 2>/dev/null |
	awk -v client=",$CLIENT_T," -v cs=",$CS_T," '
	/^ *[0-9.]+%/ {
		pct = $1; sub(/%/, "", pct)
		split($2, p, ":"); pid = p[1] + 0
		who = "other"
		if (index(client, "," pid ",")) who = "client"
		else if (index(cs, "," pid ",")) who = "cs"
		else if ($2 ~ /fio/) who = "fio"
		else if ($2 ~ /swapper/) who = "idle"
		sym = $0; sub(/.*\] /, "", sym)
		tot[who] += pct; s[who, sym] += pct
	}
	END {
		for (w in tot) printf "%-6s %5.1f%% of all samples\n", w, tot[w]
		for (k in s) { split(k, a, SUBSEP); if (s[k] >= 0.5) printf "  %-6s %5.1f%%  %s\n", a[1], s[k], a[2] }
	}' | sort -k1,1 -k2,2nr
