// SPDX-License-Identifier: MIT
/*
 * Streamed requests (zc_srv_stream): the handler takes the payload from
 * the socket itself, its arguments into memory and the rest into a pipe,
 * across partial arrivals; a pipe that fills up (more socket fragments
 * than slots) says -ENOBUFS and the rest can be received into memory;
 * what a handler leaves is dropped and the next request on the connection
 * is served.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "common/log.h"
#include "common/util.h"
#include "rpc/rpc.h"

#define STREAM_TYPE ZC_CLTOCS_WRITE

static int enobufs_seen;

static bool streamed(const struct zc_hdr *h)
{
	return h->type == STREAM_TYPE;
}

/* Payload: take:32 (bytes to take, from here on), then bytes.  Answers
 * take:32 and the sum of the bytes taken; the rest is left in the socket. */
static int handler(struct zc_srv_conn *c, const struct zc_hdr *h, uint8_t *payload)
{
	static uint8_t mem[1 << 20];
	uint8_t arg[4], out[8];
	uint32_t take, sum = 0;
	size_t got = 0;
	int p[2], err;

	if (!streamed(h))
		return zc_srv_reply(c, h, ZC_OK, payload, h->len);
	if (payload || c->left != h->len)
		return -EPROTO;
	err = zc_srv_recv(c, arg, 4);
	if (err)
		return err;
	take = arg[0] | arg[1] << 8 | arg[2] << 16 | (uint32_t)arg[3] << 24;
	if (take > c->left || take > sizeof(mem))
		return zc_srv_reply(c, h, ZC_ST_INVAL, NULL, 0);
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	err = zc_srv_splice(c, p[1], take, &got);
	if (err == -ENOBUFS)
		enobufs_seen++;
	if (!err || err == -ENOBUFS)
		err = zc_read_full(p[0], mem, got);
	if (!err)
		err = zc_srv_recv(c, mem + got, take - got);
	close(p[0]);
	close(p[1]);
	if (err)
		return err;
	for (uint32_t i = 0; i < take; i++)
		sum += mem[i];
	memcpy(out, &take, 4);
	memcpy(out + 4, &sum, 4);
	return zc_srv_reply(c, h, ZC_OK, out, 8);
}

static void *serve(void *arg)
{
	zc_srv_run(*(int *)arg, handler, NULL, NULL);
	return NULL;
}

static uint8_t data[1 << 20];

/* Sends a streamed request of len payload bytes asking the handler to take
 * take of them, in pieces of step bytes with a pause between, then an echo
 * request; checks both answers. */
static void one(int fd, uint32_t len, uint32_t take, uint32_t step, useconds_t pause)
{
	uint8_t raw[ZC_HDR_LEN], ans[ZC_HDR_LEN + 8];
	struct zc_hdr h = { .type = STREAM_TYPE, .len = 4 + len, .xid = 1 }, r;
	uint32_t sum = 0, vals[2];

	zc_hdr_encode(raw, &h);
	CHECK_EQ(zc_write_full(fd, raw, sizeof(raw)), 0);
	CHECK_EQ(zc_write_full(fd, &take, 4), 0);
	for (uint32_t off = 0; off < len; off += step) {
		CHECK_EQ(zc_write_full(fd, data + off, ZC_MIN(step, len - off)), 0);
		if (pause)
			usleep(pause);
	}
	for (uint32_t i = 0; i < take; i++)
		sum += data[i];
	CHECK_EQ(zc_read_full(fd, ans, sizeof(ans)), 0);
	CHECK_EQ(zc_hdr_decode(ans, &r), 0);
	CHECK_EQ(r.xid, 1);
	CHECK_EQ(r.len, 8);
	memcpy(vals, ans + ZC_HDR_LEN, 8);
	CHECK_EQ(vals[0], take);
	CHECK_EQ(vals[1], sum);

	/* The connection is in step: an echo comes back as sent. */
	h = (struct zc_hdr){ .type = ZC_CLTOMA_GETATTR, .len = 3, .xid = 2 };
	zc_hdr_encode(raw, &h);
	CHECK_EQ(zc_write_full(fd, raw, sizeof(raw)), 0);
	CHECK_EQ(zc_write_full(fd, "abc", 3), 0);
	CHECK_EQ(zc_read_full(fd, ans, ZC_HDR_LEN + 3), 0);
	CHECK_EQ(zc_hdr_decode(ans, &r), 0);
	CHECK_EQ(r.xid, 2);
	CHECK(!memcmp(ans + ZC_HDR_LEN, "abc", 3));
}

int main(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	pthread_t t;
	int lfd, fd, one_ = 1;

	zc_log_init("test", ZC_LOG_ERR, NULL);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + (i >> 9));
	zc_srv_stream = streamed;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = zc_tcp_listen(&sa);
	CHECK(lfd >= 0);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	pthread_create(&t, NULL, serve, &lfd);
	fd = zc_tcp_connect(&sa, 1000);
	CHECK(fd >= 0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one_, sizeof(one_));

	/* All of it, in one go; then a part, the rest dropped by the server. */
	one(fd, 60000, 60000, 60000, 0);
	one(fd, 60000, 1000, 60000, 0);
	/* Arriving in pieces, with pauses: the splice resumes. */
	one(fd, 50000, 50000, 7000, 20000);
	/* Nothing taken: all dropped. */
	one(fd, 30000, 0, 30000, 0);
	/* 64 small segments into a default pipe of 16 slots: it fills up
	 * (-ENOBUFS), the rest comes through memory, the bytes are right. */
	one(fd, 64 * 100, 64 * 100, 100, 2000);
	CHECK(enobufs_seen >= 1);
	if (enobufs_seen < 1)
		fprintf(stderr, "expected a full pipe (-ENOBUFS) at least once, saw %d\n",
			enobufs_seen);
	close(fd);

	zc_srv_stop();
	pthread_join(t, NULL);
	close(lfd);
	usleep(100000);
	return check_done();
}
