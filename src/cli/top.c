// SPDX-License-Identifier: MIT
/*
 * zcfs top: a live view of a cluster, like iostat.  Every interval it asks
 * the mds for its status (JSON: health, and where each chunk server's and
 * client's /metrics is), scrapes every endpoint with a plain HTTP/1.0 GET,
 * and prints rates from the difference with the previous scrape of the
 * same endpoint: MiB/s, IOPS, mean latency, errors.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/util.h"

#define MAX_TARGETS 256
#define MAX_BODY (16U << 20)	/* a scrape larger than this is refused */
#define HTTP_MS 2000

/* ---- just enough JSON: the status the mds writes ---- */

static const char *ws(const char *p)
{
	while (p && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

/* The end of the string starting at p ("), or NULL. */
static const char *skip_str(const char *p)
{
	for (p++; *p && *p != '"'; p++)
		if (*p == '\\' && !*++p)
			return NULL;
	return *p ? p + 1 : NULL;
}

/* The end of the value at p, or NULL if it is cut or malformed. */
static const char *skip_value(const char *p)
{
	int depth = 0;

	p = ws(p);
	if (!p || !*p)
		return NULL;
	if (*p != '"' && *p != '{' && *p != '[') {	/* a number or a literal */
		while (*p && !strchr(",}] \n\r\t", *p))
			p++;
		return p;
	}
	do {
		if (!*p)
			return NULL;
		if (*p == '"') {
			if (!(p = skip_str(p)))
				return NULL;
			continue;
		}
		if (*p == '{' || *p == '[')
			depth++;
		else if (*p == '}' || *p == ']')
			depth--;
		p++;
	} while (depth > 0);
	return p;
}

/* The value of key in the object at obj ({), or NULL. */
static const char *get(const char *obj, const char *key)
{
	size_t kl = strlen(key);
	const char *p = ws(obj);

	if (!p || *p != '{')
		return NULL;
	p = ws(p + 1);
	while (p && *p == '"') {
		const char *k = p + 1, *end = skip_str(p);
		bool hit;

		if (!end)
			return NULL;
		hit = (size_t)(end - 1 - k) == kl && !memcmp(k, key, kl);
		p = ws(end);
		if (*p != ':')
			return NULL;
		p = ws(p + 1);
		if (hit)
			return p;
		p = ws(skip_value(p));
		if (p && *p == ',')
			p = ws(p + 1);
	}
	return NULL;
}

static double num(const char *obj, const char *key)
{
	const char *v = get(obj, key);

	if (!v)
		return NAN;
	if (!strncmp(v, "true", 4))
		return 1;
	if (!strncmp(v, "false", 5))
		return 0;
	return strtod(v, NULL);
}

/* The string value of key into out ("" if none). */
static void str(const char *obj, const char *key, char *out, size_t len)
{
	const char *v = get(obj, key);
	size_t n = 0;

	out[0] = 0;
	if (!v || *v != '"')
		return;
	for (v++; *v && *v != '"' && n + 1 < len; v++) {
		if (*v == '\\' && v[1])
			v++;
		out[n++] = *v;
	}
	out[n] = 0;
}

/* The next element of an array: call with the '[' first, then with what
 * it returned.  NULL at the end. */
static const char *next_elem(const char *p, bool first)
{
	p = ws(first ? p + 1 : skip_value(p));
	if (p && !first && *p == ',')
		p = ws(p + 1);
	return p && *p && *p != ']' ? p : NULL;
}

/* ---- the text format: sums of samples ---- */

/*
 * The sum of the samples of name whose labels hold want (`op="read"`;
 * NULL: any).  Lines that are not samples are skipped.
 */
static double msum(const char *body, const char *name, const char *want)
{
	size_t nl = strlen(name);
	double sum = 0;

	for (const char *p = body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *eol = strchrnul(p, '\n'), *v;

		if (*p == '#' || strncmp(p, name, nl) || (p[nl] != '{' && p[nl] != ' '))
			continue;
		if (p[nl] == '{') {
			const char *close = memchr(p + nl, '}', eol - p - nl);

			if (!close)
				continue;
			if (want && !memmem(p + nl, close - p - nl, want, strlen(want)))
				continue;
			v = close + 1;
		} else {
			if (want)
				continue;
			v = p + nl;
		}
		sum += strtod(v, NULL);
	}
	return sum;
}

/* ---- scraping ---- */

/* GET of an http://ADDR:PORT/PATH URL.  Returns the body (free it) or
 * NULL with *err. */
static char *http_get(const char *url, int *err)
{
	char host[64], req[256], *buf = NULL, *body = NULL;
	const char *path;
	size_t len = 0, cap = 0;
	struct sockaddr_in sa;
	struct timeval tv = { .tv_sec = HTTP_MS / 1000 };
	int fd, n;

	*err = -EINVAL;
	if (strncmp(url, "http://", 7))
		return NULL;
	path = strchr(url + 7, '/');
	if (!path || (size_t)(path - url - 7) >= sizeof(host))
		return NULL;
	memcpy(host, url + 7, path - url - 7);
	host[path - url - 7] = 0;
	if (zc_parse_addr(host, &sa))
		return NULL;
	fd = zc_tcp_connect(&sa, HTTP_MS);
	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host);
	*err = n < (int)sizeof(req) ? zc_write_full(fd, req, n) : -EINVAL;
	while (!*err) {
		ssize_t got;

		if (len + 65536 + 1 > cap) {
			char *nb = cap + 65536 > MAX_BODY ? NULL : realloc(buf, cap + 65536 + 1);

			if (!nb) {
				*err = -EFBIG;
				break;
			}
			buf = nb;
			cap += 65536 + 1;
		}
		got = read(fd, buf + len, cap - len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			*err = errno == EAGAIN ? -ETIMEDOUT : -errno;
		else if (!got)
			break;
		else
			len += got;
	}
	close(fd);
	if (!*err) {
		char *start;

		buf[len] = 0;
		start = strstr(buf, "\r\n\r\n");
		if (strncmp(buf, "HTTP/1.", 7) || strncmp(buf + 8, " 200", 4) || !start)
			*err = -EPROTO;
		else
			body = strdup(start + 4);
		if (!*err && !body)
			*err = -ENOMEM;
	}
	free(buf);
	return body;
}

struct target {
	char role[8];		/* "cs", "client" */
	char name[128];
	char url[96];
	bool down;		/* a chunk server the mds counts down */
	char *body;		/* the last scrape (NULL: failed) */
	int err;
	uint64_t at;		/* when, zc_now_ns */
};

struct view {
	char status[4096];	/* the health lines */
	struct target mds;
	struct target t[MAX_TARGETS];
	int n;
};

static void drop(struct view *v)
{
	free(v->mds.body);
	for (int i = 0; i < v->n; i++)
		free(v->t[i].body);
	memset(v, 0, sizeof(*v));
}

static void scrape(struct target *t)
{
	t->body = t->url[0] ? http_get(t->url, &t->err) : NULL;
	if (!t->url[0])
		t->err = -ENOENT;
	t->at = zc_now_ns();
}

/* An endpoint bound to any address: reach it where the mds is. */
static void localize(char *url, size_t len, const char *mds)
{
	char out[256];
	const char *colon = strrchr(mds, ':');
	int n;

	if (strncmp(url, "http://0.0.0.0:", 15) || !colon)
		return;
	n = snprintf(out, sizeof(out), "http://%.*s%s", (int)(colon - mds), mds, url + 14);
	if (n > 0 && (size_t)n < len)
		memcpy(url, out, n + 1);
}

/* Asks the mds for its status and scrapes every endpoint it names. */
static int look(const char *mds, struct view *v)
{
	char *json, addr[32];
	const char *p;
	double bad, under, left;
	int err = zc_cli_mds_status(mds, true, &json);

	memset(v, 0, sizeof(*v));
	if (err)
		return err;
	snprintf(v->mds.role, sizeof(v->mds.role), "mds");
	snprintf(v->mds.name, sizeof(v->mds.name), "%s", mds);
	str(json, "metrics", v->mds.url, sizeof(v->mds.url));
	localize(v->mds.url, sizeof(v->mds.url), mds);
	bad = num(json, "chunks_bad");
	under = num(json, "chunks_under_replicated");
	left = num(json, "recovery_bytes_left");
	snprintf(v->status, sizeof(v->status),
		 "health %s: chunk servers %.0f up, %.0f down; chunks under-replicated %.0f,"
		 " bad %.0f; recovery left %.0f MiB; sessions %.0f",
		 bad > 0 ? "DATA UNAVAILABLE" : under > 0 ? "DEGRADED" : "OK",
		 num(json, "cs_up"), num(json, "cs_down"), under, bad, left / 1048576,
		 num(json, "sessions"));
	p = get(json, "chunk_servers");
	for (p = p && *p == '[' ? next_elem(p, true) : NULL; p && v->n < MAX_TARGETS;
	     p = next_elem(p, false)) {
		struct target *t = &v->t[v->n++];

		snprintf(t->role, sizeof(t->role), "cs");
		str(p, "addr", addr, sizeof(addr));
		snprintf(t->name, sizeof(t->name), "%.0f %s", num(p, "id"), addr);
		str(p, "metrics", t->url, sizeof(t->url));
		t->down = num(p, "up") == 0;
	}
	p = get(json, "clients");
	for (p = p && *p == '[' ? next_elem(p, true) : NULL; p && v->n < MAX_TARGETS;
	     p = next_elem(p, false)) {
		struct target *t = &v->t[v->n++];

		snprintf(t->role, sizeof(t->role), "client");
		str(p, "id", t->name, sizeof(t->name));
		str(p, "metrics", t->url, sizeof(t->url));
	}
	free(json);
	scrape(&v->mds);
	for (int i = 0; i < v->n; i++)
		scrape(&v->t[i]);
	return 0;
}

/* ---- the view ---- */

/* The same endpoint in the previous look, if it was scraped. */
static const struct target *before(const struct view *old, const struct target *t)
{
	if (!strcmp(old->mds.url, t->url))
		return old->mds.body ? &old->mds : NULL;
	for (int i = 0; i < old->n; i++)
		if (old->t[i].body && !strcmp(old->t[i].url, t->url))
			return &old->t[i];
	return NULL;
}

/* What grew between two scrapes. */
static double delta(const struct target *a, const struct target *b, const char *name,
		    const char *want)
{
	return msum(b->body, name, want) - msum(a->body, name, want);
}

/* "12.3" or "-" for a mean over no operation. */
static void mean_ms(char *out, size_t len, double sum_s, double count)
{
	if (count > 0)
		snprintf(out, len, "%.2f", sum_s * 1000 / count);
	else
		snprintf(out, len, "-");
}

static void row(const struct target *a, const struct target *b)
{
	bool cs = !strcmp(b->role, "cs");
	const char *p = cs ? "zcfs_cs" : "zcfs_mount";
	char name[64], hist_c[96], hist_s[96], rl[16], wl[16], zc[16];
	double dt, rb, wb, rn, wn, rsum, wsum, errs;
	size_t nl = strlen(b->name);

	/* A long client id: its end says more (the mount point). */
	snprintf(name, sizeof(name), "%s%s", nl > 30 ? ".." : "", b->name + (nl > 30 ? nl - 28 : 0));
	if (!b->body || !a) {
		printf("%-6s %-30s  %s\n", b->role, name,
		       b->down ? "down" :
		       !b->url[0] ? "no metrics endpoint" :
		       !b->body ? "unreachable" : "(first look)");
		return;
	}
	dt = (b->at - a->at) / 1e9;
	snprintf(hist_c, sizeof(hist_c), "%s_%s_duration_seconds_count", p,
		 cs ? "request" : "fuse_request");
	snprintf(hist_s, sizeof(hist_s), "%s_%s_duration_seconds_sum", p,
		 cs ? "request" : "fuse_request");
	rn = delta(a, b, hist_c, "op=\"read\"");
	wn = delta(a, b, hist_c, "op=\"write\"");
	rsum = delta(a, b, hist_s, "op=\"read\"");
	wsum = delta(a, b, hist_s, "op=\"write\"");
	if (cs) {
		rb = delta(a, b, "zcfs_cs_read_bytes_total", NULL);
		wb = delta(a, b, "zcfs_cs_write_bytes_total", NULL);
		errs = delta(a, b, "zcfs_cs_request_errors_total", NULL);
		snprintf(zc, sizeof(zc), "-");
	} else {
		rb = delta(a, b, "zcfs_mount_read_bytes_total", NULL);
		wb = delta(a, b, "zcfs_mount_write_bytes_total", NULL);
		errs = delta(a, b, "zcfs_mount_errors_total", NULL);
		if (rb > 0)
			snprintf(zc, sizeof(zc), "%.0f",
				 100 * delta(a, b, "zcfs_mount_read_bytes_total",
					     "route=\"zerocopy\"") / rb);
		else
			snprintf(zc, sizeof(zc), "-");
	}
	mean_ms(rl, sizeof(rl), rsum, rn);
	mean_ms(wl, sizeof(wl), wsum, wn);
	printf("%-6s %-30s %9.1f %9.1f %8.0f %8.0f %8s %8s %5s %6.0f\n", b->role, name,
	       rb / dt / 1048576, wb / dt / 1048576, rn / dt, wn / dt, rl, wl, zc, errs);
}

static void show(const struct view *old, const struct view *v, double interval, bool tty)
{
	const struct target *m = before(old, &v->mds);
	char stamp[32];
	time_t now = time(NULL);

	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", localtime(&now));
	if (tty)
		printf("\033[H\033[J");
	printf("zcfs top  %s  mds %s  every %.1f s\n%s\n", stamp, v->mds.name, interval, v->status);
	if (m && v->mds.body) {
		double dt = (v->mds.at - m->at) / 1e9;
		double n = delta(m, &v->mds, "zcfs_mds_request_duration_seconds_count", NULL);
		double s = delta(m, &v->mds, "zcfs_mds_request_duration_seconds_sum", NULL);
		char ms[16];

		mean_ms(ms, sizeof(ms), s, n);
		printf("mds: %.0f requests/s, mean %s ms, %.0f errors\n", n / dt, ms,
		       delta(m, &v->mds, "zcfs_mds_request_errors_total", NULL));
	} else {
		printf("mds: %s\n", v->mds.url[0] ? "metrics unreachable" : "no metrics endpoint");
	}
	printf("\n%-6s %-30s %9s %9s %8s %8s %8s %8s %5s %6s\n", "ROLE", "NAME", "R MiB/s",
	       "W MiB/s", "R IOPS", "W IOPS", "R ms", "W ms", "ZC%", "ERRORS");
	for (int i = 0; i < v->n; i++)
		row(before(old, &v->t[i]), &v->t[i]);
	if (!tty)
		printf("\n");
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: zcfs top [--dir DIR | --mds ADDR:PORT] [--credential FILE]\n"
		"                [--iterations N] [--interval S]\n"
		"  every S seconds (default 1), per chunk server and client: read and write\n"
		"  MiB/s, IOPS, mean latency, the share of bytes read zero-copy, errors;\n"
		"  cluster health on top.  From the daemons' /metrics endpoints, which\n"
		"  `zcfs status --json` lists (key metrics); N views, then it stops\n"
		"  (default: until interrupted)\n");
}

int zc_cmd_top(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "mds", required_argument, NULL, 'm' },
		{ "credential", required_argument, NULL, 'c' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "interval", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = "./zcfs-data", *mds = NULL, *cred = NULL;
	static struct view views[2];
	char addr[64], *end;
	double interval = 1;
	long iterations = -1;
	bool tty = isatty(STDOUT_FILENO);
	int c, err, cur = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'm': mds = optarg; break;
		case 'c': cred = optarg; break;
		case 'n':
			iterations = strtol(optarg, &end, 10);
			if (*end || iterations < 1)
				iterations = 0;
			break;
		case 'i':
			interval = strtod(optarg, &end);
			if (*end || !(interval >= 0.1 && interval <= 3600))
				interval = 0;
			break;
		default: usage(); return c == 'h' ? 0 : 2;
		}
	}
	if (optind != argc || !iterations || !interval) {
		usage();
		return 2;
	}
	if (zc_cli_credential(cred, mds && !cred ? NULL : dir))
		return 1;
	if (!mds) {
		err = zc_cluster_mds(dir, addr, sizeof(addr));
		if (err) {
			fprintf(stderr, "zcfs: no cluster recorded in %s (use --mds)\n", dir);
			return 1;
		}
		mds = addr;
	}
	zc_log_init("top", ZC_LOG_ERR, NULL);
	/* A first look to take differences from. */
	err = look(mds, &views[cur]);
	for (long i = 0; !err && (iterations < 0 || i < iterations); i++) {
		usleep((useconds_t)(interval * 1e6));
		drop(&views[!cur]);
		err = look(mds, &views[!cur]);
		if (!err)
			show(&views[cur], &views[!cur], interval, tty);
		cur = !cur;
	}
	drop(&views[0]);
	drop(&views[1]);
	if (err) {
		fprintf(stderr, "zcfs: mds %s: %s\n", mds, strerror(-err));
		return 1;
	}
	return 0;
}
