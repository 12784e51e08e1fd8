// SPDX-License-Identifier: MIT
/*
 * RPC client over a socketpair, with this test playing the server:
 * xid matching out of order, MEM destinations, errors, timeouts and late
 * answers, and bad frames (garbage, oversized, truncated) that must close
 * the connection and fail the calls, never crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "common/log.h"
#include "common/pack.h"
#include "common/util.h"
#include "rpc/rpc.h"

static int read_req(int fd, struct zc_hdr *h, uint8_t *payload, size_t cap)
{
	uint8_t raw[ZC_HDR_LEN];

	if (zc_read_full(fd, raw, sizeof(raw)) || zc_hdr_decode(raw, h) || h->len > cap)
		return -1;
	return zc_read_full(fd, payload, h->len);
}

static void send_resp(int fd, const struct zc_hdr *req, int status, const void *p, uint32_t len)
{
	uint8_t raw[ZC_HDR_LEN];
	struct zc_hdr h = { .type = req->type, .flags = ZC_F_RESP, .status = status,
			    .len = len, .xid = req->xid };

	zc_hdr_encode(raw, &h);
	zc_write_full(fd, raw, sizeof(raw));
	if (len)
		zc_write_full(fd, p, len);
}

static struct zc_conn *pair(int *srv)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return NULL;
	*srv = sv[1];
	return zc_conn_from_fd(sv[0], "test");
}

/* ---- many calls, answered in reverse order ---- */

#define N 8
static struct zc_call calls[N];
static uint8_t dests[N][16];
static int done_count;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void on_done(struct zc_call *call)
{
	(void)call;
	pthread_mutex_lock(&m);
	done_count++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&m);
}

static void wait_done(int n)
{
	pthread_mutex_lock(&m);
	while (done_count < n)
		pthread_cond_wait(&cv, &m);
	pthread_mutex_unlock(&m);
}

static void test_out_of_order(void)
{
	int srv;
	struct zc_conn *c = pair(&srv);
	struct zc_hdr reqs[N];
	uint8_t payload[64], tag[N];

	CHECK_NE(c, NULL);
	done_count = 0;
	for (int i = 0; i < N; i++) {
		tag[i] = i;
		calls[i] = (struct zc_call){ .type = ZC_CLTOCS_READ, .dest = dests[i],
					     .dest_cap = sizeof(dests[i]), .done = on_done };
		calls[i].req[0] = (struct iovec){ &tag[i], 1 };
		CHECK_EQ(zc_call_start(c, &calls[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		CHECK_EQ(read_req(srv, &reqs[i], payload, sizeof(payload)), 0);
		CHECK_EQ(reqs[i].len, 1);
		CHECK_EQ(payload[0], i);
	}
	for (int i = N - 1; i >= 0; i--) {
		uint8_t answer[16];

		memset(answer, 'a' + i, sizeof(answer));
		/* call 3 gets an error status, call 5 a short payload */
		if (i == 3)
			send_resp(srv, &reqs[i], ZC_ST_CRC, NULL, 0);
		else
			send_resp(srv, &reqs[i], ZC_OK, answer, i == 5 ? 4 : 16);
	}
	wait_done(N);
	for (int i = 0; i < N; i++) {
		if (i == 3) {
			CHECK_EQ(calls[i].err, -EIO);
			CHECK_EQ(calls[i].status, ZC_ST_CRC);
			continue;
		}
		CHECK_EQ(calls[i].err, 0);
		CHECK_EQ(calls[i].resp_len, i == 5 ? 4 : 16);
		CHECK_EQ(calls[i].resp, dests[i]);
		CHECK_EQ(dests[i][0], 'a' + i);
	}
	close(srv);
	zc_conn_put(c);
}

/* ---- a reply into a malloc'd buffer, and a call that times out ---- */

static void *answer_late(void *arg)
{
	int srv = *(int *)arg;
	struct zc_hdr h1, h2;
	uint8_t p[64];

	read_req(srv, &h1, p, sizeof(p));	/* will time out */
	usleep(600 * 1000);
	send_resp(srv, &h1, ZC_OK, "late", 4);	/* dropped: nobody waits */
	read_req(srv, &h2, p, sizeof(p));
	send_resp(srv, &h2, ZC_OK, "fresh", 5);
	return NULL;
}

static void test_timeout(void)
{
	int srv;
	struct zc_conn *c = pair(&srv);
	struct zc_call a = { .type = ZC_CLTOMA_GETATTR, .timeout_ms = 200 };
	struct zc_call b = { .type = ZC_CLTOMA_GETATTR };
	pthread_t t;
	uint64_t start = zc_now_ns();

	pthread_create(&t, NULL, answer_late, &srv);
	CHECK_EQ(zc_call_sync(c, &a), -ETIMEDOUT);
	CHECK_LT((zc_now_ns() - start) / 1000000, 2000);
	/* The connection still works; the late answer did not confuse it. */
	CHECK_EQ(zc_call_sync(c, &b), 0);
	CHECK_EQ(b.resp_len, 5);
	CHECK(b.resp);
	CHECK_MEM(b.resp, "fresh", 5);
	zc_call_free_resp(&b);
	pthread_join(t, NULL);
	close(srv);
	zc_conn_put(c);
}

/* ---- bad frames close the connection and fail pending calls ---- */

/* Each case counts exactly bad_frames refused frames (zc_rpc_bad_frames):
 * a frame cut short by the peer's close is a lost connection, not one. */
static void bad_frame_case(const char *what, void (*send_bad)(int fd, const struct zc_hdr *req),
			   unsigned long bad_frames)
{
	int srv;
	struct zc_conn *c = pair(&srv);
	uint8_t dest[8], p[64];
	struct zc_call a = { .type = ZC_CLTOCS_READ, .dest = dest, .dest_cap = sizeof(dest) };
	struct zc_call b = { .type = ZC_CLTOMA_GETATTR };
	struct zc_hdr h;
	unsigned long bad_before = zc_rpc_bad_frames;

	done_count = 0;
	a.done = on_done;
	b.done = on_done;
	CHECK_EQ(zc_call_start(c, &a), 0);
	CHECK_EQ(zc_call_start(c, &b), 0);
	CHECK_EQ(read_req(srv, &h, p, sizeof(p)), 0);
	send_bad(srv, &h);
	wait_done(2);
	if (a.err == 0 || b.err == 0 || zc_rpc_bad_frames - bad_before != bad_frames)
		fprintf(stderr, "%s: a call succeeded over a bad frame, or a wrong count\n", what);
	CHECK_LT(a.err, 0);
	CHECK_LT(b.err, 0);
	CHECK_EQ(zc_rpc_bad_frames - bad_before, bad_frames);
	/* A new call on the dead connection is refused, not hung. */
	struct zc_call d = { .type = ZC_CLTOMA_GETATTR };

	CHECK_EQ(zc_call_sync(c, &d), -ENOTCONN);
	close(srv);
	zc_conn_put(c);
}

static void garbage(int fd, const struct zc_hdr *req)
{
	(void)req;
	zc_write_full(fd, "this is not a zcfs frame at all", 31);
}

static void too_big_for_dest(int fd, const struct zc_hdr *req)
{
	uint8_t junk[64] = { 0 };

	send_resp(fd, req, ZC_OK, junk, sizeof(junk));	/* dest holds 8 */
}

static void oversized(int fd, const struct zc_hdr *req)
{
	uint8_t raw[ZC_HDR_LEN];
	struct zc_hdr h = { .type = req->type, .flags = ZC_F_RESP, .len = ZC_MAX_FRAME + 1,
			    .xid = req->xid };

	zc_hdr_encode(raw, &h);
	zc_write_full(fd, raw, sizeof(raw));
}

static void truncated(int fd, const struct zc_hdr *req)
{
	uint8_t raw[ZC_HDR_LEN];
	struct zc_hdr h = { .type = req->type, .flags = ZC_F_RESP, .len = 8, .xid = req->xid };

	zc_hdr_encode(raw, &h);
	zc_write_full(fd, raw, sizeof(raw));
	zc_write_full(fd, "abc", 3);
	shutdown(fd, SHUT_WR);	/* 5 bytes never come */
}

static void error_with_payload(int fd, const struct zc_hdr *req)
{
	uint8_t raw[ZC_HDR_LEN];
	struct zc_hdr h = { .type = req->type, .flags = ZC_F_RESP, .status = ZC_ST_IO, .len = 4,
			    .xid = req->xid };

	zc_hdr_encode(raw, &h);
	zc_write_full(fd, raw, sizeof(raw));
	zc_write_full(fd, "oops", 4);
}

static void wrong_type(int fd, const struct zc_hdr *req)
{
	struct zc_hdr h = *req;

	h.type = ZC_CLTOMA_STATFS;
	send_resp(fd, &h, ZC_OK, NULL, 0);
}

static void not_a_response(int fd, const struct zc_hdr *req)
{
	uint8_t raw[ZC_HDR_LEN];
	struct zc_hdr h = { .type = req->type, .xid = req->xid };

	zc_hdr_encode(raw, &h);
	zc_write_full(fd, raw, sizeof(raw));
}

/* ---- a request whose data comes from a pipe (zero-copy writes) ---- */

#define PIPED (200 * 1024)
static uint8_t piped_got[16 + PIPED];
static int piped_srv;

static void *piped_server(void *arg)
{
	struct zc_hdr h;

	(void)arg;
	if (!read_req(piped_srv, &h, piped_got, sizeof(piped_got)) && h.len == sizeof(piped_got))
		send_resp(piped_srv, &h, ZC_OK, NULL, 0);
	return NULL;
}

static void test_req_from_pipe(void)
{
	static uint8_t data[PIPED];
	uint8_t args[16] = "sixteen bytes..";
	struct zc_call call = { .type = 9 };
	struct zc_conn *c = pair(&piped_srv);
	pthread_t th;
	int p[2];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	CHECK(c);
	CHECK(!pipe(p));
	CHECK_GE(fcntl(p[1], F_SETPIPE_SZ, 1 << 20), PIPED);
	CHECK_EQ(zc_write_full(p[1], data, sizeof(data)), 0);
	CHECK(!pthread_create(&th, NULL, piped_server, NULL));
	call.req[0] = (struct iovec){ args, sizeof(args) };
	call.req[1] = (struct iovec){ NULL, sizeof(data) };
	call.req_pipe = p[0];
	CHECK_EQ(zc_call_sync(c, &call), 0);
	pthread_join(th, NULL);
	CHECK_MEM(piped_got, args, sizeof(args));
	CHECK_MEM(piped_got + sizeof(args), data, sizeof(data));
	/* The pipe gave all it had: nothing left to read. */
	CHECK_EQ(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	CHECK_LT(read(p[0], data, 1), 0);
	CHECK_EQ(errno, EAGAIN);
	zc_call_free_resp(&call);
	close(p[0]);
	close(p[1]);
	close(piped_srv);
	zc_conn_put(c);
}

int main(void)
{
	uint8_t raw[ZC_HDR_LEN];
	struct zc_hdr h = { .type = 5, .flags = ZC_F_RESP, .status = 2, .len = 77, .xid = 1ULL << 40 },
		      g;

	zc_log_init("test", ZC_LOG_ERR, NULL);
	zc_hdr_encode(raw, &h);
	CHECK_EQ(zc_hdr_decode(raw, &g), 0);
	CHECK_EQ(g.type, 5);
	CHECK_EQ(g.flags, ZC_F_RESP);
	CHECK_EQ(g.status, 2);
	CHECK_EQ(g.len, 77);
	CHECK_EQ(g.xid, 1ULL << 40);
	raw[0] ^= 1;
	CHECK_EQ(zc_hdr_decode(raw, &g), -EPROTO);
	h.len = ZC_MAX_FRAME + 1;
	zc_hdr_encode(raw, &h);
	CHECK_EQ(zc_hdr_decode(raw, &g), -EMSGSIZE);
	h.len = 0;
	h.flags = 0x80;
	zc_hdr_encode(raw, &h);
	CHECK_EQ(zc_hdr_decode(raw, &g), -EPROTO);
	h.flags = 0;
	h.status = ZC_ST_MAX;
	zc_hdr_encode(raw, &h);
	CHECK_EQ(zc_hdr_decode(raw, &g), -EPROTO);

	test_out_of_order();
	test_timeout();
	test_req_from_pipe();
	bad_frame_case("garbage", garbage, 1);
	bad_frame_case("too big for destination", too_big_for_dest, 1);
	bad_frame_case("oversized", oversized, 1);
	bad_frame_case("truncated", truncated, 0);
	bad_frame_case("error with payload", error_with_payload, 1);
	bad_frame_case("wrong type", wrong_type, 1);
	bad_frame_case("a request, not a response", not_a_response, 1);
	CHECK_EQ(zc_rpc_bad_frames, 6);
	usleep(100000);	/* let receiver threads drop their references */
	return check_done();
}
