// SPDX-License-Identifier: MIT
/*
 * Metrics: histograms, the text exposition format, and the /metrics
 * endpoint (libmicrohttpd, its own polling thread: a scrape never holds a
 * thread of the daemon's).
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "rpc/rpc.h"
#include "util.h"
#include "wire.h"

const uint64_t zc_hist_bound_ns[ZC_HIST_BOUNDS] = {
	50000,	    100000,	 250000,     500000,	 1000000,    2500000,
	5000000,    10000000,	 25000000,   50000000,	 100000000,  250000000,
	500000000,  1000000000,	 2500000000, 5000000000, 10000000000,
};

void zc_hist_add(struct zc_hist *h, uint64_t ns)
{
	unsigned i = 0;

	while (i < ZC_HIST_BOUNDS && ns > zc_hist_bound_ns[i])
		i++;
	atomic_fetch_add_explicit(&h->n[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

uint64_t zc_hist_count(const struct zc_hist *h)
{
	uint64_t n = 0;

	for (unsigned i = 0; i <= ZC_HIST_BOUNDS; i++)
		n += atomic_load_explicit(&h->n[i], memory_order_relaxed);
	return n;
}

/* ---- the text format ---- */

void zc_metrics_printf(struct zc_mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = -EINVAL;
			return;
		}
		if ((size_t)n < room) {
			b->len += n;
			return;
		}
		size_t cap = ZC_MAX(b->cap * 2, b->len + n + 4096);
		char *p = realloc(b->p, cap);

		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

void zc_metrics_family(struct zc_mbuf *b, const char *name, const char *type, const char *help)
{
	zc_metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void zc_metrics_u64(struct zc_mbuf *b, const char *name, const char *labels, uint64_t v)
{
	zc_metrics_printf(b, "%s%s%s%s %llu\n", name, labels ? "{" : "", labels ? labels : "",
			  labels ? "}" : "", (unsigned long long)v);
}

void zc_metrics_one(struct zc_mbuf *b, const char *name, const char *type, const char *help,
		    uint64_t v)
{
	zc_metrics_family(b, name, type, help);
	zc_metrics_u64(b, name, NULL, v);
}

void zc_metrics_f64(struct zc_mbuf *b, const char *name, const char *labels, double v)
{
	zc_metrics_printf(b, "%s%s%s%s %.9g\n", name, labels ? "{" : "", labels ? labels : "",
			  labels ? "}" : "", v);
}

void zc_metrics_hist(struct zc_mbuf *b, const char *name, const char *labels,
		     const struct zc_hist *h)
{
	const char *sep = labels ? "," : "";
	uint64_t cum = 0;

	labels = labels ? labels : "";
	/* One pass over the buckets: _count is the +Inf bucket by
	 * construction, whatever adds run meanwhile. */
	for (unsigned i = 0; i <= ZC_HIST_BOUNDS; i++) {
		cum += atomic_load_explicit(&h->n[i], memory_order_relaxed);
		if (i < ZC_HIST_BOUNDS)
			zc_metrics_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
					  zc_hist_bound_ns[i] / 1e9, (unsigned long long)cum);
		else
			zc_metrics_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
					  (unsigned long long)cum);
	}
	zc_metrics_printf(b, "%s_sum%s%s%s %.9f\n", name, labels[0] ? "{" : "", labels,
			  labels[0] ? "}" : "", zc_hist_sum_ns(h) / 1e9);
	zc_metrics_printf(b, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
			  labels[0] ? "}" : "", (unsigned long long)cum);
}

void zc_metrics_rpc_errors(struct zc_mbuf *b, const char *prefix)
{
	char name[96];

	snprintf(name, sizeof(name), "%s_rpc_errors_total", prefix);
	zc_metrics_family(b, name, "counter",
			  "Frames refused as malformed, and handshakes that failed.");
	zc_metrics_u64(b, name, "kind=\"bad_frame\"", zc_rpc_bad_frames);
	zc_metrics_u64(b, name, "kind=\"auth_failure\"", zc_rpc_auth_failures);
}

void zc_metrics_type_hists(struct zc_mbuf *b, const char *name, const char *help,
			   const struct zc_hist *h, size_t n)
{
	char label[64];

	zc_metrics_family(b, name, "histogram", help);
	for (size_t t = 0; t < n; t++) {
		if (!zc_hist_count(&h[t]))
			continue;
		snprintf(label, sizeof(label), "op=\"%s\"", zc_type_name(t));
		zc_metrics_hist(b, name, label, &h[t]);
	}
}

const char *zc_metrics_status_label(int status)
{
	static const char *const labels[ZC_ST_MAX] = {
		[ZC_OK] = "ok",
		[ZC_ST_NOENT] = "noent",
		[ZC_ST_EXIST] = "exist",
		[ZC_ST_NOTDIR] = "notdir",
		[ZC_ST_ISDIR] = "isdir",
		[ZC_ST_NOTEMPTY] = "notempty",
		[ZC_ST_INVAL] = "inval",
		[ZC_ST_NOSPACE] = "nospace",
		[ZC_ST_IO] = "io",
		[ZC_ST_CRC] = "crc",
		[ZC_ST_STALE] = "stale",
		[ZC_ST_NOCS] = "nocs",
		[ZC_ST_NAMETOOLONG] = "nametoolong",
		[ZC_ST_PERM] = "perm",
		[ZC_ST_NOTSUP] = "notsup",
		[ZC_ST_FBIG] = "fbig",
		[ZC_ST_AGAIN] = "again",
		[ZC_ST_BADSESSION] = "badsession",
		[ZC_ST_BUSY] = "busy",
		[ZC_ST_NOLCK] = "nolck",
		[ZC_ST_DENIED] = "denied",
		[ZC_ST_ROFS] = "rofs",
		[ZC_ST_ACCES] = "acces",
		[ZC_ST_UNDECLARED] = "undeclared",
	};

	return status >= 0 && status < ZC_ST_MAX && labels[status] ? labels[status] : "other";
}

void zc_metrics_statuses(struct zc_mbuf *b, const char *name, const char *help,
			 const atomic_ullong *n)
{
	char label[48];

	zc_metrics_family(b, name, "counter", help);
	for (int st = ZC_OK + 1; st < ZC_ST_MAX; st++) {
		snprintf(label, sizeof(label), "status=\"%s\"", zc_metrics_status_label(st));
		zc_metrics_u64(b, name, label, atomic_load_explicit(&n[st], memory_order_relaxed));
	}
}

/* ---- the endpoint ---- */

static struct MHD_Daemon *httpd;
static zc_metrics_fn render;

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **con_cls)
{
	static const char not_found[] = "not found: try GET /metrics\n";
	static const char failed[] = "out of memory\n";
	struct zc_mbuf b = { 0 };
	struct MHD_Response *r;
	unsigned code = MHD_HTTP_OK;
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	(void)upload;
	(void)upload_len;
	(void)con_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) || strcmp(url, "/metrics")) {
		code = MHD_HTTP_NOT_FOUND;
		r = MHD_create_response_from_buffer(sizeof(not_found) - 1, (void *)not_found,
						    MHD_RESPMEM_PERSISTENT);
	} else {
		render(&b);
		if (b.err) {
			free(b.p);
			code = MHD_HTTP_INTERNAL_SERVER_ERROR;
			r = MHD_create_response_from_buffer(sizeof(failed) - 1, (void *)failed,
							    MHD_RESPMEM_PERSISTENT);
		} else {
			r = MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_FREE);
			if (!r)
				free(b.p);
		}
	}
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				code == MHD_HTTP_OK ? "text/plain; version=0.0.4" : "text/plain");
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

int zc_metrics_listen(const char *addr, struct sockaddr_in *bound)
{
	socklen_t sl = sizeof(*bound);
	int fd;

	if (zc_parse_addr(addr, bound))
		return -EINVAL;
	fd = zc_tcp_listen(bound);
	if (fd < 0)
		return fd;
	getsockname(fd, (struct sockaddr *)bound, &sl);
	return fd;
}

int zc_metrics_serve(int lfd, zc_metrics_fn fn)
{
	sigset_t all, was;

	if (httpd)
		return -EBUSY;
	render = fn;
	/* Its thread takes none of the daemon's signals (they stop loops
	 * that wait in other threads). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &was);
	httpd = MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
				 answer, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
				 MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
				 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &was, NULL);
	if (!httpd)
		return -EIO;
	return 0;
}

void zc_metrics_stop(void)
{
	if (!httpd)
		return;
	/* It closes the listening socket too. */
	MHD_stop_daemon(httpd);
	httpd = NULL;
}

void zc_metrics_url(uint32_t ip, uint16_t port, char *out, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	char addr[32];

	sa.sin_addr.s_addr = ip;
	if (!port) {
		snprintf(out, len, "%s", "");
		return;
	}
	snprintf(out, len, "http://%s/metrics", zc_fmt_addr(&sa, addr, sizeof(addr)));
}
