// SPDX-License-Identifier: MIT
/* The metrics module: histogram buckets, the text format, the endpoint. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "common/metrics.h"
#include "common/util.h"

/* The text must hold line (a whole line). */
#define CHECK_LINE(text, line) do { \
	if (!has_line(text, line)) { \
		fprintf(stderr, "%s:%d: expected the line '%s' in:\n%s\n", __FILE__, __LINE__, \
			line, text); \
		check_failures++; \
	} \
} while (0)

static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, line, n) && (p[n] == '\n' || !p[n]))
			return 1;
	return 0;
}

static unsigned long long bucket(const struct zc_hist *h, unsigned i)
{
	return atomic_load(&h->n[i]);
}

static void buckets(void)
{
	static struct zc_hist h;

	/* A value on a bound belongs to that bound's bucket (le). */
	zc_hist_add(&h, 0);
	zc_hist_add(&h, 50000);
	zc_hist_add(&h, 50001);
	zc_hist_add(&h, 1000000);	/* 1 ms */
	zc_hist_add(&h, 1000001);
	zc_hist_add(&h, 10000000000ULL);	/* 10 s: the last bound */
	zc_hist_add(&h, 10000000001ULL);	/* past it: +Inf only */
	CHECK_EQ(bucket(&h, 0), 2);
	CHECK_EQ(bucket(&h, 1), 1);
	CHECK_EQ(zc_hist_bound_ns[4], 1000000);
	CHECK_EQ(bucket(&h, 4), 1);
	CHECK_EQ(bucket(&h, 5), 1);
	CHECK_EQ(bucket(&h, ZC_HIST_BOUNDS - 1), 1);
	CHECK_EQ(bucket(&h, ZC_HIST_BOUNDS), 1);
	CHECK_EQ(zc_hist_count(&h), 7);
	CHECK_EQ(zc_hist_sum_ns(&h), 0 + 50000 + 50001 + 1000000 + 1000001 + 10000000000ULL +
					    10000000001ULL);
	/* Bounds rise. */
	for (unsigned i = 1; i < ZC_HIST_BOUNDS; i++)
		CHECK(zc_hist_bound_ns[i] > zc_hist_bound_ns[i - 1]);
}

static void rendering(void)
{
	static struct zc_hist h;
	struct zc_mbuf b = { 0 };
	static atomic_ullong st[ZC_ST_MAX];
	char line[128];

	zc_hist_add(&h, 40000);		/* 0.04 ms */
	zc_hist_add(&h, 3000000);	/* 3 ms */
	zc_hist_add(&h, 20000000000ULL);	/* 20 s */
	zc_metrics_family(&b, "zcfs_t_seconds", "histogram", "Test histogram.");
	zc_metrics_hist(&b, "zcfs_t_seconds", "op=\"read\"", &h);
	zc_metrics_hist(&b, "zcfs_u_seconds", NULL, &h);
	zc_metrics_family(&b, "zcfs_t_total", "counter", "A counter.");
	zc_metrics_u64(&b, "zcfs_t_total", NULL, 18446744073709551615ULL);
	zc_metrics_u64(&b, "zcfs_t_total", "kind=\"x\"", 7);
	zc_metrics_f64(&b, "zcfs_t_ratio", NULL, 0.5);
	atomic_store(&st[ZC_ST_NOENT], 3);
	zc_metrics_statuses(&b, "zcfs_t_errors_total", "Errors.", st);
	CHECK_EQ(b.err, 0);
	CHECK(b.p != NULL);
	if (!b.p)
		return;
	CHECK_EQ(strlen(b.p), b.len);
	CHECK_LINE(b.p, "# HELP zcfs_t_seconds Test histogram.");
	CHECK_LINE(b.p, "# TYPE zcfs_t_seconds histogram");
	CHECK_LINE(b.p, "zcfs_t_seconds_bucket{op=\"read\",le=\"5e-05\"} 1");
	CHECK_LINE(b.p, "zcfs_t_seconds_bucket{op=\"read\",le=\"0.0025\"} 1");
	CHECK_LINE(b.p, "zcfs_t_seconds_bucket{op=\"read\",le=\"0.005\"} 2");
	CHECK_LINE(b.p, "zcfs_t_seconds_bucket{op=\"read\",le=\"10\"} 2");
	CHECK_LINE(b.p, "zcfs_t_seconds_bucket{op=\"read\",le=\"+Inf\"} 3");
	CHECK_LINE(b.p, "zcfs_t_seconds_sum{op=\"read\"} 20.003040000");
	CHECK_LINE(b.p, "zcfs_t_seconds_count{op=\"read\"} 3");
	CHECK_LINE(b.p, "zcfs_u_seconds_bucket{le=\"+Inf\"} 3");
	CHECK_LINE(b.p, "zcfs_u_seconds_count 3");
	CHECK_LINE(b.p, "zcfs_t_total 18446744073709551615");
	CHECK_LINE(b.p, "zcfs_t_total{kind=\"x\"} 7");
	CHECK_LINE(b.p, "zcfs_t_ratio 0.5");
	CHECK_LINE(b.p, "# TYPE zcfs_t_errors_total counter");
	CHECK_LINE(b.p, "zcfs_t_errors_total{status=\"noent\"} 3");
	CHECK_LINE(b.p, "zcfs_t_errors_total{status=\"io\"} 0");
	/* Every bucket line is there, in order, each at least the one before. */
	{
		unsigned long long last = 0, v;
		int n = 0;

		for (const char *p = b.p; (p = strstr(p, "zcfs_t_seconds_bucket{")); p++) {
			CHECK(sscanf(strchr(p, '}'), "} %llu", &v) == 1);
			CHECK(v >= last);
			last = v;
			n++;
		}
		CHECK_EQ(n, ZC_HIST_BOUNDS + 1);
	}
	free(b.p);

	/* Growing past the first allocation. */
	b = (struct zc_mbuf){ 0 };
	for (int i = 0; i < 5000; i++) {
		snprintf(line, sizeof(line), "kind=\"k%d\"", i);
		zc_metrics_u64(&b, "zcfs_t_many_total", line, i);
	}
	CHECK_EQ(b.err, 0);
	CHECK_LINE(b.p, "zcfs_t_many_total{kind=\"k0\"} 0");
	CHECK_LINE(b.p, "zcfs_t_many_total{kind=\"k4999\"} 4999");
	free(b.p);

	for (int s = ZC_OK; s < ZC_ST_MAX; s++)
		if (!strcmp(zc_metrics_status_label(s), "other")) {
			fprintf(stderr, "status %d has no label\n", s);
			check_failures++;
		}
	CHECK_STR(zc_metrics_status_label(ZC_ST_MAX), "other");
	CHECK_STR(zc_metrics_status_label(-1), "other");
}

static void render(struct zc_mbuf *b)
{
	zc_metrics_family(b, "zcfs_test_up", "gauge", "Always 1.");
	zc_metrics_u64(b, "zcfs_test_up", NULL, 1);
}

/* One request to the server at port; the whole answer into out. */
static int ask(uint16_t port, const char *req, char *out, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	size_t got = 0;
	ssize_t n;
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = zc_tcp_connect(&sa, 2000);
	if (fd < 0)
		return fd;
	if (zc_write_full(fd, req, strlen(req))) {
		close(fd);
		return -EIO;
	}
	while (got + 1 < len && (n = read(fd, out + got, len - got - 1)) > 0)
		got += n;
	out[got] = 0;
	close(fd);
	return 0;
}

static void endpoint(void)
{
	struct sockaddr_in sa, sa2;
	char out[8192], url[64];
	int fd = zc_metrics_listen("127.0.0.1:0", &sa), fd2;
	uint16_t port = ntohs(sa.sin_port);

	CHECK_EQ(zc_metrics_listen("nowhere", &sa2), -EINVAL);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(port != 0);
	/* Taken: a second bind of the port fails. */
	snprintf(url, sizeof(url), "127.0.0.1:%u", port);
	fd2 = zc_metrics_listen(url, &sa2);
	CHECK(fd2 < 0);
	if (fd2 >= 0)
		close(fd2);
	CHECK_EQ(zc_metrics_serve(fd, render), 0);
	CHECK_EQ(zc_metrics_serve(fd, render), -EBUSY);

	CHECK_EQ(ask(port, "GET /metrics HTTP/1.0\r\n\r\n", out, sizeof(out)), 0);
	CHECK(!strncmp(out, "HTTP/1.0 200", 12) || !strncmp(out, "HTTP/1.1 200", 12));
	if (!strcasestr(out, "\r\nContent-Type: text/plain; version=0.0.4\r\n")) {
		fprintf(stderr, "expected Content-Type text/plain; version=0.0.4 in:\n%s\n", out);
		check_failures++;
	}
	CHECK(strstr(out, "\r\n\r\n# HELP zcfs_test_up Always 1.\n# TYPE zcfs_test_up gauge\n"
			  "zcfs_test_up 1\n") != NULL);

	CHECK_EQ(ask(port, "GET /other HTTP/1.0\r\n\r\n", out, sizeof(out)), 0);
	if (strncmp(out + 8, " 404", 4)) {
		fprintf(stderr, "expected a 404 for /other, got:\n%s\n", out);
		check_failures++;
	}
	CHECK_EQ(ask(port, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n", out,
		     sizeof(out)), 0);
	if (strncmp(out + 8, " 404", 4)) {
		fprintf(stderr, "expected a 404 for POST /metrics, got:\n%s\n", out);
		check_failures++;
	}
	/* Not HTTP at all: an error answer, and the server goes on. */
	CHECK_EQ(ask(port, "\x01\x02garbage\r\n\r\n", out, sizeof(out)), 0);
	CHECK_EQ(ask(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out,
		     sizeof(out)), 0);
	CHECK(!strncmp(out, "HTTP/1.1 200", 12));

	zc_metrics_stop();
	CHECK(ask(port, "GET /metrics HTTP/1.0\r\n\r\n", out, sizeof(out)) < 0);

	zc_metrics_url(sa.sin_addr.s_addr, port, url, sizeof(url));
	snprintf(out, sizeof(out), "http://127.0.0.1:%u/metrics", port);
	CHECK_STR(url, out);
	zc_metrics_url(0, 0, url, sizeof(url));
	CHECK_STR(url, "");
}

int main(void)
{
	buckets();
	rendering();
	endpoint();
	return check_done();
}
