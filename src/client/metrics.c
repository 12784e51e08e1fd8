// SPDX-License-Identifier: MIT
/*
 * GET /metrics of the mount: the counters of zc_cl.n (the same ones the
 * stats thread sends to the mds every second) in the Prometheus format.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client_i.h"
#include "common/log.h"
#include "common/util.h"

static int metrics_fd = -1;

static void render(struct zc_mbuf *b)
{
	static const char *const fops[ZC_FOP_N] = {
		[ZC_FOP_READ] = "read", [ZC_FOP_WRITE] = "write",
		[ZC_FOP_FSYNC] = "fsync", [ZC_FOP_FLUSH] = "flush",
	};
	struct zc_counters *n = &zc_cl.n;
	char label[32];

	zc_metrics_family(b, "zcfs_mount_fuse_request_duration_seconds", "histogram",
			  "FUSE data requests, by operation: time from the request to the reply.");
	for (int op = 0; op < ZC_FOP_N; op++) {
		snprintf(label, sizeof(label), "op=\"%s\"", fops[op]);
		zc_metrics_hist(b, "zcfs_mount_fuse_request_duration_seconds", label,
				&n->fuse_ops[op]);
	}
	zc_metrics_type_hists(b, "zcfs_mount_mds_request_duration_seconds",
			      "Round trips to the mds, by message type (retries while it is away"
			      " included).", n->mds_calls, ZC_ARRAY_SIZE(n->mds_calls));
	zc_metrics_family(b, "zcfs_mount_read_bytes_total", "counter",
			  "Bytes read, by route: zerocopy (spliced from the chunk server's"
			  " socket to /dev/fuse), copy (through user memory), zero (holes and"
			  " chunk tails).");
	zc_metrics_u64(b, "zcfs_mount_read_bytes_total", "route=\"zerocopy\"", n->read_zc_bytes);
	zc_metrics_u64(b, "zcfs_mount_read_bytes_total", "route=\"copy\"", n->read_copy_bytes);
	zc_metrics_u64(b, "zcfs_mount_read_bytes_total", "route=\"zero\"", n->read_zero_bytes);
	zc_metrics_family(b, "zcfs_mount_write_bytes_total", "counter",
			  "Bytes written, by route: zerocopy (spliced from libfuse's pipe to the"
			  " socket), copy (from user memory).");
	zc_metrics_u64(b, "zcfs_mount_write_bytes_total", "route=\"zerocopy\"", n->write_zc_bytes);
	zc_metrics_u64(b, "zcfs_mount_write_bytes_total", "route=\"copy\"", n->write_copy_bytes);
	zc_metrics_family(b, "zcfs_mount_reads_by_size_total", "counter",
			  "FUSE reads by size, at most: 4 KiB, 64 KiB, 256 KiB, 1 MiB.");
	zc_metrics_u64(b, "zcfs_mount_reads_by_size_total", "size=\"4k\"", n->rq_le4k);
	zc_metrics_u64(b, "zcfs_mount_reads_by_size_total", "size=\"64k\"", n->rq_le64k);
	zc_metrics_u64(b, "zcfs_mount_reads_by_size_total", "size=\"256k\"", n->rq_le256k);
	zc_metrics_u64(b, "zcfs_mount_reads_by_size_total", "size=\"1m\"", n->rq_le1m);
	zc_metrics_one(b, "zcfs_mount_getattr_kept_total", "counter",
		       "GETATTRs answered with the attributes the mds sent with a change"
		       " (no round trip).", n->attr_kept);
	zc_metrics_one(b, "zcfs_mount_errors_total", "counter",
		       "FUSE requests answered with an error (not ENOENT, EEXIST and other"
		       " answers).", n->errors);
	zc_metrics_family(b, "zcfs_mount_retries_total", "counter",
			  "Reads and writes of a chunk sent again (another replica, a new"
			  " layout).");
	zc_metrics_u64(b, "zcfs_mount_retries_total", "op=\"read\"", n->read_retries);
	zc_metrics_u64(b, "zcfs_mount_retries_total", "op=\"write\"", n->write_retries);
	zc_metrics_family(b, "zcfs_mount_zerocopy_fallbacks_total", "counter",
			  "Zero-copy wanted but copied: read segments without a pipe, replies"
			  " libfuse copied (sampled), payloads larger than their pipe.");
	zc_metrics_u64(b, "zcfs_mount_zerocopy_fallbacks_total", "kind=\"segment\"",
		       n->zc_fallback_segs);
	zc_metrics_u64(b, "zcfs_mount_zerocopy_fallbacks_total", "kind=\"reply\"",
		       n->zc_fallback_replies);
	zc_metrics_u64(b, "zcfs_mount_zerocopy_fallbacks_total", "kind=\"rpc_pipe\"",
		       zc_rpc_pipe_fallbacks);
	zc_metrics_rpc_errors(b, "zcfs_mount");
	zc_metrics_one(b, "zcfs_mount_pipes_open", "gauge",
		       "Pipes open for zero-copy reads and writes.", zc_pipes_open());
	zc_metrics_one(b, "zcfs_mount_zerocopy", "gauge",
		       "1: the zero-copy read and write paths are on (-o zerocopy).",
		       zc_cl.zerocopy);
}

int zc_client_metrics_listen(const char *addr)
{
	metrics_fd = zc_metrics_listen(addr, &zc_cl.metrics);
	if (metrics_fd < 0) {
		zc_err("mount: cannot serve metrics on %s: %s", addr, strerror(-metrics_fd));
		memset(&zc_cl.metrics, 0, sizeof(zc_cl.metrics));
		return metrics_fd;
	}
	return 0;
}

void zc_client_metrics_serve(void)
{
	char url[64];
	int err;

	if (metrics_fd < 0)
		return;
	err = zc_metrics_serve(metrics_fd, render);
	if (err) {
		zc_err("mount: cannot serve metrics: %s; going on without", strerror(-err));
		close(metrics_fd);
		memset(&zc_cl.metrics, 0, sizeof(zc_cl.metrics));
	} else {
		zc_metrics_url(zc_cl.metrics.sin_addr.s_addr, ntohs(zc_cl.metrics.sin_port), url,
			       sizeof(url));
		zc_info("mount: metrics at %s", url);
	}
	metrics_fd = -1;
}
