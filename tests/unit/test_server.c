// SPDX-License-Identifier: MIT
/* RPC server: answers good frames; garbage, oversized and truncated frames
 * close that connection only, and the server keeps serving others. */
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "common/log.h"
#include "common/util.h"
#include "rpc/rpc.h"

static int handled;

static int echo(struct zc_srv_conn *c, const struct zc_hdr *h, uint8_t *payload)
{
	handled++;
	return zc_srv_reply(c, h, ZC_OK, payload, h->len);
}

static void *serve(void *arg)
{
	zc_srv_run(*(int *)arg, echo, NULL, NULL);
	return NULL;
}

static int dial(const struct sockaddr_in *sa)
{
	return zc_tcp_connect(sa, 1000);
}

/* Sends raw bytes and tells whether the server then closed on us. */
static int closed_after(const struct sockaddr_in *sa, const void *p, size_t n)
{
	char b;
	int fd = dial(sa), r;
	struct timeval tv = { .tv_sec = 3 };

	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	zc_write_full(fd, p, n);
	r = recv(fd, &b, 1, 0);
	close(fd);
	return r == 0;
}

int main(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	pthread_t t;
	int lfd, fd;
	uint8_t raw[ZC_HDR_LEN];
	struct zc_hdr h = { .type = ZC_CLTOMA_GETATTR, .len = 5, .xid = 9 };

	zc_log_init("test", ZC_LOG_ERR, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = zc_tcp_listen(&sa);
	CHECK_GE(lfd, 0);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	pthread_create(&t, NULL, serve, &lfd);

	CHECK(closed_after(&sa, "GET / HTTP/1.0\r\n\r\n123456", 24));
	h.len = ZC_MAX_FRAME + 1;
	zc_hdr_encode(raw, &h);
	CHECK(closed_after(&sa, raw, sizeof(raw)));
	h.len = 5;
	h.flags = ZC_F_RESP;	/* a response where a request belongs */
	zc_hdr_encode(raw, &h);
	CHECK(closed_after(&sa, raw, sizeof(raw)));
	h.flags = 0;

	/* A peer that trickles a frame, a byte every 100 ms, is cut off once
	 * the frame is not whole by the deadline (here 500 ms). */
	zc_srv_frame_ms = 500;
	{
		char b;
		int tf = dial(&sa), n = 0;
		uint64_t t0 = zc_now_ns();

		h.len = 5;
		zc_hdr_encode(raw, &h);
		CHECK_GE(tf, 0);
		for (; n < 40; n++) {
			if (send(tf, n < ZC_HDR_LEN ? (const void *)&raw[n] : "x", 1,
				 MSG_NOSIGNAL) != 1)
				break;
			usleep(100000);
			if (recv(tf, &b, 1, MSG_DONTWAIT) == 0)
				break;
		}
		CHECK_LT(n, 15);	/* closed after about 5 bytes, well before 29 */
		CHECK_LT(zc_now_ns() - t0, 2000000000ULL);
		close(tf);
	}
	zc_srv_frame_ms = 30000;

	/* A good request on a fresh connection is answered. */
	fd = dial(&sa);
	CHECK_GE(fd, 0);
	struct zc_conn *c = zc_conn_from_fd(fd, "srv");
	struct zc_call call = { .type = ZC_CLTOMA_GETATTR };

	call.req[0] = (struct iovec){ "hello", 5 };
	CHECK_EQ(zc_call_sync(c, &call), 0);
	CHECK_EQ(call.resp_len, 5);
	CHECK_MEM(call.resp, "hello", 5);
	zc_call_free_resp(&call);
	zc_conn_put(c);
	CHECK_EQ(handled, 1);
	CHECK_GE(zc_rpc_bad_frames, 3);

	zc_srv_stop();
	pthread_join(t, NULL);
	close(lfd);
	usleep(100000);
	return check_done();
}
