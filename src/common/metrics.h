/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics: counters and fixed-bucket latency histograms that
 * the I/O paths bump with relaxed atomics (no lock), the text exposition
 * format 0.0.4 to render them, and an HTTP server (libmicrohttpd) that
 * answers GET /metrics with what the daemon's render function writes.
 * Each daemon keeps its own counters and renders its own families.
 */
#ifndef ZC_METRICS_H
#define ZC_METRICS_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Upper bounds of the latency buckets, in ns: 50 us to 10 s.  A value
 * falls in the first bucket whose bound it does not pass (le). */
#define ZC_HIST_BOUNDS 17
extern const uint64_t zc_hist_bound_ns[ZC_HIST_BOUNDS];

struct zc_hist {
	atomic_ullong n[ZC_HIST_BOUNDS + 1];	/* per bucket, not cumulative; the
						   last one: above every bound */
	atomic_ullong sum_ns;
};

/* Counts one observation of ns nanoseconds (relaxed: a scrape may see the
 * bucket before the sum). */
void zc_hist_add(struct zc_hist *h, uint64_t ns);
/* Observations so far: the sum of the buckets. */
uint64_t zc_hist_count(const struct zc_hist *h);
static inline uint64_t zc_hist_sum_ns(const struct zc_hist *h)
{
	return atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
}

/* What a scrape answers, built by the daemon's render function. */
struct zc_mbuf {
	char *p;
	size_t len, cap;
	int err;		/* -ENOMEM: the answer is incomplete */
};

void zc_metrics_printf(struct zc_mbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void zc_metrics_family(struct zc_mbuf *b, const char *name, const char *type,
		       const char *help);
/* One sample: name{labels} value; labels (may be NULL) as `op="read"`. */
void zc_metrics_u64(struct zc_mbuf *b, const char *name, const char *labels, uint64_t v);
/* A family of one unlabelled sample: HELP, TYPE and the value. */
void zc_metrics_one(struct zc_mbuf *b, const char *name, const char *type, const char *help,
		    uint64_t v);
void zc_metrics_f64(struct zc_mbuf *b, const char *name, const char *labels, double v);
/* A histogram in seconds: name_bucket{labels,le="..."} (cumulative, the
 * last le="+Inf"), name_sum, name_count (= the +Inf bucket). */
void zc_metrics_hist(struct zc_mbuf *b, const char *name, const char *labels,
		     const struct zc_hist *h);
/* The RPC layer's error counters of this process, as
 * PREFIX_rpc_errors_total{kind="bad_frame"|"auth_failure"}. */
void zc_metrics_rpc_errors(struct zc_mbuf *b, const char *prefix);

/* A histogram family with one histogram per message type that has been
 * seen (op="lookup", zc_type_name), from an array of n indexed by type. */
void zc_metrics_type_hists(struct zc_mbuf *b, const char *name, const char *help,
			   const struct zc_hist *h, size_t n);
/* A counter family of answers by wire status, status="noent" ..., from an
 * array of ZC_ST_MAX indexed by status (ZC_OK not shown). */
void zc_metrics_statuses(struct zc_mbuf *b, const char *name, const char *help,
			 const atomic_ullong *n);
/* The label of a wire status ("noent", "io", ...). */
const char *zc_metrics_status_label(int status);

typedef void (*zc_metrics_fn)(struct zc_mbuf *b);

/* Binds a listening socket to addr ("ADDR:PORT"; port 0: a free one) and
 * puts the address bound in *bound.  Returns the socket or -errno
 * (-EINVAL: not an address). */
int zc_metrics_listen(const char *addr, struct sockaddr_in *bound);
/*
 * Serves lfd from libmicrohttpd's own polling thread: GET /metrics answers
 * what fn renders (Content-Type text/plain; version=0.0.4), anything else
 * 404.  At most 16 connections, each closed after 10 s idle.  One server a
 * process; start it after any fork (daemonizing).  Returns 0 (lfd is the
 * server's then) or -errno (lfd is still the caller's).
 */
int zc_metrics_serve(int lfd, zc_metrics_fn fn);
/* Stops the server; its socket is closed. */
void zc_metrics_stop(void);
/* "http://a.b.c.d:PORT/metrics" into out; "" for port 0 (no metrics). */
void zc_metrics_url(uint32_t ip, uint16_t port, char *out, size_t len);

#endif
