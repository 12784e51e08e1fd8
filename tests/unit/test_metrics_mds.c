// SPDX-License-Identifier: MIT
/*
 * How the mds learns the metrics endpoints: the optional end of REGISTER
 * (chunk servers) and of STATS (clients), every other length refused, and
 * `zcfs status --json` giving them under "metrics".
 */
#include <arpa/inet.h>
#include <errno.h>

#include "check.h"
#include "common/log.h"
#include "common/util.h"
#include "mds_util.h"
#include "rpc/rpc.h"

static struct zc_srv_conn peer = { .fd = -1, .name = "test-cs" };

/* The status JSON, in t_out, as a string. */
static const char *status_json(void)
{
	static char text[sizeof(t_out) + 1];
	struct treq *r = treq_new(0, 0);

	zc_put_u32(&r->c, 1);
	if (treq_send(r, ZC_CLTOMA_STATUS))
		return "";
	memcpy(text, t_out, t_out_len);
	text[t_out_len] = 0;
	return text;
}

#define CHECK_HAS(text, want) do { \
	const char *_t = (text), *_w = (want); \
	if (!strstr(_t, _w)) { \
		fprintf(stderr, "%s:%d: expected '%s' in: %s\n", __FILE__, __LINE__, _w, _t); \
		check_failures++; \
	} \
} while (0)

/* REGISTER of chunk server n; tail (tail_len bytes) after the fields. */
static int reg(int n, const void *tail, size_t tail_len)
{
	uint8_t req[64], uuid[16] = { 0x77, (uint8_t)n };
	uint32_t ip = htonl(INADDR_LOOPBACK);
	struct zc_cur c = zc_cur_init(req, sizeof(req));
	struct zc_cur o = zc_cur_init(t_out, sizeof(t_out));
	int st;

	zc_put_bytes(&c, uuid, 16);
	zc_put_bytes(&c, &ip, 4);
	zc_put_u16(&c, 5000 + n);
	zc_put_u64(&c, 1ULL << 40);
	zc_put_u64(&c, 1ULL << 30);
	zc_put_bytes(&c, tail, tail_len);
	st = mds_cs_request(&peer, ZC_CSTOMA_REGISTER, req, c.pos, &o);
	t_out_len = o.pos;
	return st;
}

/* STATS of client id with one counter, then tail. */
static int stats(const char *id, const void *tail, size_t tail_len)
{
	struct treq *r = treq_new(0, 0);

	zc_put_str(&r->c, id, strlen(id));
	zc_put_u16(&r->c, 1);
	zc_put_str(&r->c, "reads", 5);
	zc_put_u64(&r->c, 42);
	zc_put_bytes(&r->c, tail, tail_len);
	return treq_send(r, ZC_CLTOMA_STATS);
}

/* ip:32 (network order) port:16, as the wire has them. */
static void endpoint(uint8_t out[6], const char *ip, uint16_t port)
{
	struct zc_cur c = zc_cur_init(out, 6);
	uint32_t a = 0;

	inet_pton(AF_INET, ip, &a);
	zc_put_bytes(&c, &a, 4);
	zc_put_u16(&c, port);
}

int main(void)
{
	uint8_t tail[8];
	const char *js;

	zc_log_init("test", getenv("ZCFS_TEST_VERBOSE") ? ZC_LOG_DEBUG : ZC_LOG_ERR, NULL);
	if (t_store_open() || mds_recovery_init()) {
		fprintf(stderr, "cannot open a store in %s\n", t_dir);
		return 1;
	}
	inet_pton(AF_INET, "127.0.0.9", &peer.peer.sin_addr);

	/* Chunk servers: without an endpoint, with one, with "where I came
	 * from" (ip 0), and malformed ends. */
	CHECK_EQ(reg(1, NULL, 0), ZC_OK);
	endpoint(tail, "127.0.0.5", 9101);
	CHECK_EQ(reg(2, tail, 6), ZC_OK);
	endpoint(tail, "0.0.0.0", 9102);
	CHECK_EQ(reg(3, tail, 6), ZC_OK);
	CHECK_EQ(reg(4, tail, 5), ZC_ST_INVAL);
	CHECK_EQ(reg(4, tail, 7), ZC_ST_INVAL);
	CHECK_EQ(reg(4, tail, 1), ZC_ST_INVAL);
	js = status_json();
	CHECK_HAS(js, "{\"metrics\":\"\",\"cs_up\":3,");
	CHECK_HAS(js, "\"addr\":\"127.0.0.1:5001\",\"up\":true,\"total\":1099511627776,"
		      "\"free\":1073741824,\"chunks\":0,\"metrics\":\"\"}");
	CHECK_HAS(js, "\"metrics\":\"http://127.0.0.5:9101/metrics\"}");
	CHECK_HAS(js, "\"metrics\":\"http://127.0.0.9:9102/metrics\"}");
	/* Registering again without one forgets it. */
	CHECK_EQ(reg(2, NULL, 0), ZC_OK);
	CHECK(!strstr(status_json(), "9101"));

	/* Clients: the same at the end of STATS. */
	CHECK_EQ(stats("host:/a", NULL, 0), ZC_OK);
	endpoint(tail, "127.0.0.6", 9201);
	CHECK_EQ(stats("host:/b", tail, 6), ZC_OK);
	CHECK_EQ(stats("host:/c", tail, 4), ZC_ST_INVAL);
	CHECK_EQ(stats("host:/c", tail, 8), ZC_ST_INVAL);
	js = status_json();
	CHECK_HAS(js, "{\"id\":\"host:/a\",\"age_ms\":");
	CHECK_HAS(js, "\"metrics\":\"\",\"counters\":{\"reads\":42}}");
	CHECK_HAS(js, "\"metrics\":\"http://127.0.0.6:9201/metrics\",\"counters\":{\"reads\":42}}");
	/* Counters cut short: refused, never read past the end. */
	{
		struct treq *r = treq_new(0, 0);

		zc_put_str(&r->c, "host:/d", 7);
		zc_put_u16(&r->c, 3);
		zc_put_str(&r->c, "reads", 5);
		CHECK_EQ(treq_send(r, ZC_CLTOMA_STATS), ZC_ST_INVAL);
	}
	/* Plain status shows them too. */
	{
		struct treq *r = treq_new(0, 0);

		zc_put_u32(&r->c, 0);
		CHECK_EQ(treq_send(r, ZC_CLTOMA_STATUS), ZC_OK);
		t_out[ZC_MIN(t_out_len, sizeof(t_out) - 1)] = 0;
		CHECK_HAS((char *)t_out, "\nmetrics: off\n");
		CHECK_HAS((char *)t_out, "  http://127.0.0.9:9102/metrics\n");
		CHECK_HAS((char *)t_out, "host:/b (");
		CHECK_HAS((char *)t_out, "metrics http://127.0.0.6:9201/metrics):");
	}
	t_store_remove();
	return check_done();
}
