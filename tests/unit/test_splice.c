// SPDX-License-Identifier: MIT
/*
 * Zero-copy receives (rpc/client.c, rx_splice): a response payload spliced
 * from the socket into the call's pipe, over a Unix socketpair and over
 * loopback TCP, whole or arriving in pieces with pauses between them (the
 * splice resumes across each wake-up); a pipe too small for the payload
 * (its bytes and the rest go to memory, counted as a fallback); a peer that
 * closes halfway (the call fails, the connection goes); an error status;
 * a response larger than the call allows (a bad frame); and the next call
 * on the connection is not confused by any of it.
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "common/log.h"
#include "common/pack.h"
#include "common/util.h"
#include "rpc/rpc.h"

#define BIG (1U << 20)

static uint8_t data[BIG];

static int read_req(int fd, struct zc_hdr *h)
{
	uint8_t raw[ZC_HDR_LEN], p[256];

	if (zc_read_full(fd, raw, sizeof(raw)) || zc_hdr_decode(raw, h) || h->len > sizeof(p))
		return -1;
	return zc_read_full(fd, p, h->len);
}

static void send_hdr(int fd, const struct zc_hdr *req, int status, uint32_t len)
{
	uint8_t raw[ZC_HDR_LEN];
	struct zc_hdr h = { .type = req->type, .flags = ZC_F_RESP, .status = status,
			    .len = len, .xid = req->xid };

	zc_hdr_encode(raw, &h);
	zc_write_full(fd, raw, sizeof(raw));
}

/* How the test's server answers one READ. */
struct plan {
	int fd;
	uint32_t len;		/* payload announced */
	uint32_t piece;		/* sent in pieces this long... */
	unsigned pause_ms;	/* ...with this pause after each */
	uint32_t close_at;	/* < len: closes after this many bytes */
	int status;
	uint32_t cap;		/* the call's dest_cap (0: 1 MiB) */
};

static void *server(void *arg)
{
	struct plan *p = arg;
	struct zc_hdr h;
	uint32_t sent = 0;

	if (read_req(p->fd, &h))
		return NULL;
	send_hdr(p->fd, &h, p->status, p->len);
	while (sent < p->len && sent < p->close_at) {
		uint32_t n = ZC_MIN(ZC_MIN(p->piece, p->len - sent), p->close_at - sent);

		if (zc_write_full(p->fd, data + sent, n))
			break;
		sent += n;
		if (p->pause_ms)
			usleep(p->pause_ms * 1000);
	}
	if (p->close_at < p->len)
		shutdown(p->fd, SHUT_WR);
	return NULL;
}

static int tcp_pair(int *srv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int lfd = zc_tcp_listen(&sa), fd;

	if (lfd < 0 || getsockname(lfd, (struct sockaddr *)&sa, &sl))
		return -1;
	fd = zc_tcp_connect(&sa, 1000);
	*srv = accept(lfd, NULL, NULL);
	close(lfd);
	return *srv < 0 ? -1 : fd;
}

static struct zc_conn *pair(bool tcp, int *srv)
{
	int sv[2];

	if (tcp) {
		sv[0] = tcp_pair(srv);
		return sv[0] < 0 ? NULL : zc_conn_from_fd(sv[0], "tcp");
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return NULL;
	*srv = sv[1];
	return zc_conn_from_fd(sv[0], "unix");
}

static int pipe_held(int fd)
{
	int n = -1;

	ioctl(fd, FIONREAD, &n);
	return n;
}

/*
 * One READ answered by plan p into a pipe of pipe_size bytes.  want_err is
 * the call's result; with 0 the payload must be where in_pipe says, whole.
 * Returns the call's in_pipe.
 */
static bool one(const char *what, bool tcp, struct plan p, int pipe_size, int want_err)
{
	static uint8_t dest[BIG], got[BIG];
	struct zc_call call = { .type = ZC_CLTOCS_READ, .dest = dest,
				.dest_cap = p.cap ? p.cap : BIG, .to_pipe = true };
	struct zc_conn *c = pair(tcp, &p.fd);
	uint8_t arg = 1;
	pthread_t th;
	int fds[2];

	fprintf(stderr, "-- %s (%s)\n", what, tcp ? "tcp" : "unix");
	CHECK(c);
	if (!c)
		return false;
	CHECK_EQ(pipe(fds), 0);
	CHECK_GE(fcntl(fds[1], F_SETPIPE_SZ, pipe_size), pipe_size);
	call.pipe[0] = fds[0];
	call.pipe[1] = fds[1];
	call.req[0] = (struct iovec){ &arg, 1 };
	memset(dest, 0, sizeof(dest));
	CHECK_EQ(pthread_create(&th, NULL, server, &p), 0);
	CHECK_EQ(zc_call_sync(c, &call), want_err);
	pthread_join(th, NULL);
	if (!want_err && !call.err) {
		CHECK_EQ(call.resp_len, p.len);
		if (call.in_pipe) {
			CHECK_EQ(pipe_held(fds[0]), p.len);
			CHECK_EQ(zc_read_full(fds[0], got, p.len), 0);
			CHECK_MEM(got, data, p.len);
		} else {
			CHECK_EQ(pipe_held(fds[0]), 0);	/* its bytes went to dest */
			CHECK_MEM(dest, data, p.len);
		}
	}
	/* The connection goes on after a good or refused answer, not after
	 * a peer that left. */
	if (p.close_at >= p.len) {
		struct plan q = { .len = 100, .piece = 100, .close_at = UINT32_MAX, .fd = p.fd };
		struct zc_call next = { .type = ZC_CLTOCS_READ, .dest = dest, .dest_cap = BIG };

		next.req[0] = (struct iovec){ &arg, 1 };
		CHECK_EQ(pthread_create(&th, NULL, server, &q), 0);
		CHECK_EQ(zc_call_sync(c, &next), 0);
		pthread_join(th, NULL);
		CHECK_EQ(next.resp_len, 100);
		CHECK_MEM(dest, data, 100);
	}
	close(fds[0]);
	close(fds[1]);
	close(p.fd);
	zc_conn_put(c);
	return call.in_pipe;
}

int main(void)
{
	unsigned long fallbacks, bad;

	zc_log_init("test", ZC_LOG_ERR, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 131 + i / 4099);

	for (int tcp = 0; tcp < 2; tcp++) {
		fallbacks = zc_rpc_pipe_fallbacks;
		/* Whole, at once. */
		CHECK(one("1 MiB at once", tcp, (struct plan){ .len = BIG, .piece = BIG,
			  .close_at = UINT32_MAX }, 4 * BIG, 0));
		/* In pieces with pauses: the splice waits and resumes, each
		 * time from where it was. */
		CHECK(one("64 KiB in 7 pieces, 30 ms apart", tcp, (struct plan){ .len = 65536,
			  .piece = 10000, .pause_ms = 30, .close_at = UINT32_MAX }, 1 << 20, 0));
		CHECK(one("odd pieces", tcp, (struct plan){ .len = 300001, .piece = 4097,
			  .pause_ms = 1, .close_at = UINT32_MAX }, 1 << 20, 0));
		/* Nothing but a header: an empty payload. */
		CHECK(one("empty", tcp, (struct plan){ .len = 0, .piece = 1,
			  .close_at = UINT32_MAX }, 4096, 0));
		CHECK_EQ(zc_rpc_pipe_fallbacks - fallbacks, 0);
		/* A pipe of one page for 256 KiB, sent in pieces: it fills, and
		 * the payload goes to memory. */
		CHECK(!one("pipe too small", tcp, (struct plan){ .len = 262144, .piece = 8192,
			   .pause_ms = 1, .close_at = UINT32_MAX }, 4096, 0));
		CHECK_EQ(zc_rpc_pipe_fallbacks - fallbacks, 1);
		/* An error status carries no payload. */
		one("error status", tcp, (struct plan){ .len = 0, .piece = 1, .status = ZC_ST_CRC,
		    .close_at = UINT32_MAX }, 4096, -zc_status_errno(ZC_ST_CRC));
		/* The peer leaves halfway through the payload. */
		one("peer closes halfway", tcp, (struct plan){ .len = 200000, .piece = 50000,
		    .pause_ms = 5, .close_at = 100000 }, 1 << 20, -ECONNRESET);
		/* More than the call allows: refused before a byte is spliced. */
		bad = zc_rpc_bad_frames;
		one("larger than the destination", tcp, (struct plan){ .len = 1000, .cap = 999,
		    .piece = 1, .close_at = 0 }, 4096, -EPROTO);
		CHECK_EQ(zc_rpc_bad_frames - bad, 1);
	}
	usleep(100000);	/* let receiver threads drop their references */
	return check_done();
}
