# SPDX-License-Identifier: MIT
# Metrics: `zcfs up` turns on /metrics on every daemon it starts, `zcfs
# status --json` says where (key metrics), each endpoint answers the
# Prometheus text format during I/O, its counters grow with the I/O (bytes
# by the route run.sh selects, requests, a histogram), other paths are 404,
# and `zcfs top --iterations 2` shows a row per chunk server and client.
. "$(dirname "$0")/../lib.sh"
start_cluster --cs 2 --replicas 2

# http_get URL: the answer, headers then body, without CRs (bash's /dev/tcp:
# no HTTP client needed).
http_get() {
	local hp=${1#http://} path
	path=/${hp#*/}
	hp=${hp%%/*}
	exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hp" >&3
	timeout 5 cat <&3 | tr -d '\r'
	exec 3<&-
}
http_code() { http_get "$1" | head -n 1 | cut -d ' ' -f 2; }
scrape() { http_get "$1" | sed '1,/^$/d'; }

# sample NAME [LABELS] < BODY: the sum of NAME's samples whose labels hold LABELS.
sample() {
	awk -v n="$1" -v want="${2:-}" '
		/^#/ { next }
		{ name = $1; sub(/\{.*/, "", name)
		  if (name == n && (want == "" || index($1, want))) s += $2 }
		END { printf "%.0f\n", s }'
}

# format BODY_FILE: every line is a HELP, a TYPE or a sample that parses;
# every sample's family has HELP and TYPE; every name starts zcfs_.
format() {
	awk '
		/^# HELP / { help[$3] = 1; next }
		/^# TYPE / { type[$3] = $4
			if ($4 !~ /^(counter|gauge|histogram)$/) { print "bad TYPE: " $0; bad++ }
			next }
		/^#/ { print "stray comment: " $0; bad++; next }
		{
			if ($0 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*\})? (-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|\+Inf|NaN)$/) {
				print "not a sample: " $0; bad++; next
			}
			name = $0; sub(/[{ ].*/, "", name)
			fam = name
			if (!(fam in type)) sub(/_(bucket|sum|count)$/, "", fam)
			if (name !~ /^zcfs_/) { print "not zcfs_: " name; bad++ }
			if (!(fam in type) || !(fam in help)) { print "no HELP/TYPE for " name; bad++ }
			else if (fam != name && type[fam] != "histogram") { print "not a histogram: " name; bad++ }
			n++
		}
		END { if (!n) { print "no samples"; bad++ }; exit bad > 0 }' "$1"
}

# The endpoints: the mds's first (top level), then each chunk server's, then
# the client's, once it has told the mds (its STATS, every second).
urls() {
	"$ZCFS" status --dir "$D" --json | grep -o '"metrics":"http://127.0.0.1:[0-9]*/metrics"' |
		cut -d '"' -f 4
}
count_urls() { urls | wc -l; }
within 10 "the mds, 2 chunk servers and the client have a metrics URL" 4 count_urls
mapfile -t U < <(urls)
MDS_URL=${U[0]:-} CS1_URL=${U[1]:-} CS2_URL=${U[2]:-} CL_URL=${U[3]:-}
echo "endpoints: ${U[*]}"
json_starts() { "$ZCFS" status --dir "$D" --json | grep -q '^{"metrics":"http://127.0.0.1:'; }
check "the JSON starts with the mds's own URL" json_starts
plain_shows() {
	local out
	out=$("$ZCFS" status --dir "$D")
	echo "$out" | grep -q '^metrics: http://127.0.0.1:' &&
		[ "$(echo "$out" | grep -c '  http://127.0.0.1:[0-9]*/metrics$')" = 2 ] &&
		echo "$out" | grep -q '(.* ms ago, metrics http://127.0.0.1:[0-9]*/metrics):'
}
check "plain status shows the mds's, each chunk server's and the client's" plain_shows
content_type() { http_get "$1" | sed '/^$/q' | grep -qix 'content-type: text/plain; version=0.0.4'; }
for u in "${U[@]}"; do
	expect "$u answers 200" 200 "$(http_code "$u")"
	check "$u says Content-Type text/plain; version=0.0.4" content_type "$u"
	expect "${u%/metrics}/other is 404" 404 "$(http_code "${u%/metrics}/other")"
done

# Data: 16 MiB, on both servers; the client's and servers' write counters
# before and after.
for u in "$CL_URL" "$CS1_URL"; do scrape "$u" > "$T/prewrite.$(basename "${u%/metrics}")"; done
dd if=/dev/urandom of="$M/f" bs=1M count=16 status=none
check "the file is there" [ "$(stat -c %s "$M/f")" = 16777216 ]
for u in "$CL_URL" "$CS1_URL"; do scrape "$u" > "$T/postwrite.$(basename "${u%/metrics}")"; done
wgrew() { # WHAT URL NAME [LABELS]
	local x y
	x=$(sample "$3" "${4:-}" < "$T/prewrite.$(basename "${2%/metrics}")")
	y=$(sample "$3" "${4:-}" < "$T/postwrite.$(basename "${2%/metrics}")")
	check "$1 grew by the file at least ($x -> $y)" [ "$((y - x))" -ge 16777216 ]
}
[ "$ZCFS_ZEROCOPY" = 1 ] && wroute=zerocopy || wroute=copy
wgrew "client: bytes written by the $wroute route" "$CL_URL" zcfs_mount_write_bytes_total \
	"route=\"$wroute\""
wgrew "chunk server: bytes written by the $wroute route (2 replicas: every server has them)" \
	"$CS1_URL" zcfs_cs_write_bytes_total "route=\"$wroute\""
w0=$(sample zcfs_mount_fuse_request_duration_seconds_count 'op="write"' < "$T/prewrite.$(basename "${CL_URL%/metrics}")")
w1=$(sample zcfs_mount_fuse_request_duration_seconds_count 'op="write"' < "$T/postwrite.$(basename "${CL_URL%/metrics}")")
check "client: FUSE writes counted ($w0 -> $w1)" [ "$w1" -gt "$w0" ]

# Before, during and after reads through the mount (direct: every read
# reaches the client).
for u in "${U[@]}"; do scrape "$u" > "$T/before.$(basename "${u%/metrics}")"; done
( while [ ! -e "$T/stop" ]; do dd if="$M/f" of=/dev/null bs=1M iflag=direct status=none; done ) &
READER=$!
EXTRA_PIDS="$EXTRA_PIDS $READER"
sleep 1
for u in "${U[@]}"; do
	f=$T/during.$(basename "${u%/metrics}")
	scrape "$u" > "$f"
	check "$u during I/O: the text format ($(wc -l < "$f") lines)" format "$f"
done
"$ZCFS" top --dir "$D" --iterations 2 > "$T/top" 2>&1
top_rc=$?
touch "$T/stop"
check "the reader stops" wait_pid "$READER" 30
for u in "${U[@]}"; do scrape "$u" > "$T/after.$(basename "${u%/metrics}")"; done
b() { echo "$T/$1.$(basename "${2%/metrics}")"; }

# grows WHAT URL NAME [LABELS]: the sample grew from before to after.
grows() {
	local x y
	x=$(sample "$3" "${4:-}" < "$(b before "$2")")
	y=$(sample "$3" "${4:-}" < "$(b after "$2")")
	check "$1 grew ($x -> $y)" [ "$y" -gt "$x" ]
}
[ "$ZCFS_ZEROCOPY" = 1 ] && route=zerocopy || route=copy
grows "client: bytes read by the $route route" "$CL_URL" zcfs_mount_read_bytes_total "route=\"$route\""
grows "client: FUSE reads" "$CL_URL" zcfs_mount_fuse_request_duration_seconds_count 'op="read"'
grows "client: mds round trips" "$CL_URL" zcfs_mount_mds_request_duration_seconds_count
cs_before=$(( $(sample zcfs_cs_read_bytes_total < "$(b before "$CS1_URL")") + \
	$(sample zcfs_cs_read_bytes_total < "$(b before "$CS2_URL")") ))
cs_after=$(( $(sample zcfs_cs_read_bytes_total < "$(b after "$CS1_URL")") + \
	$(sample zcfs_cs_read_bytes_total < "$(b after "$CS2_URL")") ))
check "chunk servers: bytes sent by READ grew ($cs_before -> $cs_after)" [ "$cs_after" -gt "$cs_before" ]
reads_after=$(( $(sample zcfs_cs_request_duration_seconds_count 'op="read"' < "$(b after "$CS1_URL")") + \
	$(sample zcfs_cs_request_duration_seconds_count 'op="read"' < "$(b after "$CS2_URL")") ))
reads_before=$(( $(sample zcfs_cs_request_duration_seconds_count 'op="read"' < "$(b before "$CS1_URL")") + \
	$(sample zcfs_cs_request_duration_seconds_count 'op="read"' < "$(b before "$CS2_URL")") ))
check "chunk servers: READ requests grew ($reads_before -> $reads_after)" [ "$reads_after" -gt "$reads_before" ]
grows "mds: requests" "$MDS_URL" zcfs_mds_request_duration_seconds_count
check "the client's bytes read, all routes, cover the file at least" \
	[ "$(sample zcfs_mount_read_bytes_total < "$(b after "$CL_URL")")" -ge 16777216 ]
expect "the mds counts 2 chunk servers up" 2 \
	"$(sample zcfs_mds_chunk_servers 'state="up"' < "$(b after "$MDS_URL")")"
expect "chunk server 1 holds the file's chunk" 1 "$(sample zcfs_cs_chunks < "$(b after "$CS1_URL")")"

# One histogram: the client's reads.  Buckets cumulative (never less than
# the one before), the last +Inf, and _count equals it.
hist() {
	grep '^zcfs_mount_fuse_request_duration_seconds_bucket{op="read",' "$(b after "$CL_URL")"
}
expect "the read histogram has 18 buckets" 18 "$(hist | wc -l)"
expect "the last is +Inf" 'le="+Inf"}' "$(hist | tail -n 1 | grep -o 'le="+Inf"}')"
cumulative() { hist | awk '{ if ($2 < last) bad = 1; last = $2 } END { exit bad }'; }
check "its buckets are cumulative" cumulative
inf=$(hist | tail -n 1 | awk '{ print $2 }')
count=$(sample zcfs_mount_fuse_request_duration_seconds_count 'op="read"' < "$(b after "$CL_URL")")
expect "its _count equals the +Inf bucket" "$inf" "$count"
check "it counted reads" [ "${count:-0}" -gt 0 ]

# zcfs top, two views (no terminal: one block each).
echo "--- zcfs top"
cat "$T/top"
expect "zcfs top --iterations 2 exits 0" 0 "$top_rc"
expect "two views" 2 "$(grep -c '^zcfs top ' "$T/top")"
expect "a health line in each" 2 "$(grep -c '^health OK: chunk servers 2 up, 0 down' "$T/top")"
expect "a table header in each" 2 "$(grep -c '^ROLE  *NAME  *R MiB/s  *W MiB/s  *R IOPS  *W IOPS' "$T/top")"
expect "one row per chunk server in each view" 4 "$(grep -c '^cs  ' "$T/top")"
expect "one row per client in each view" 2 "$(grep -c '^client ' "$T/top")"
check "every row has numbers: MiB/s, IOPS, errors" \
	awk '/^(cs|client) / { if ($(NF-7) !~ /^[0-9.]+$/ || $(NF-6) !~ /^[0-9.]+$/ ||
		$(NF-5) !~ /^[0-9]+$/ || $(NF-4) !~ /^[0-9]+$/ || $NF !~ /^[0-9]+$/) bad = 1; n++ }
		END { exit bad || n != 6 }' "$T/top"
client_read() { grep '^client ' "$T/top" | tail -n 1 | awk '{ exit !($(NF-5) > 0) }'; }
check "the client read in the last view (R IOPS > 0)" client_read
check "the mds line shows requests/s" grep -q '^mds: [0-9]* requests/s' "$T/top"

finish
