// SPDX-License-Identifier: MIT
/* Server side of the RPC layer: accept loop, one thread per connection. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/util.h"
#include "rpc.h"

#define IDLE_POLL_MS 500
#define HANDSHAKE_MS 5000	/* a peer has this long to prove who it is */
#define KEEP_BUF (ZC_MAX_IO + 4096)	/* a buffer larger than this is not kept */

static volatile sig_atomic_t stopping;
static atomic_uint nconns;
unsigned zc_srv_max_conns = 1024;
unsigned zc_srv_frame_ms = 30000;

unsigned zc_srv_conns(void)
{
	return atomic_load_explicit(&nconns, memory_order_relaxed);
}

struct srv {
	zc_srv_handler handler;
	zc_srv_close_fn on_close;
	void *ctx;
};

struct conn_arg {
	struct srv *srv;
	struct zc_srv_conn conn;
};

void zc_srv_stop(void)
{
	stopping = 1;
}

static int send_hdr(struct zc_srv_conn *c, const struct zc_hdr *req, int status,
		    uint32_t len, int more)
{
	uint8_t raw[ZC_HDR_LEN];
	struct zc_hdr h = { .type = req->type, .flags = ZC_F_RESP, .status = status,
			    .len = len, .xid = req->xid };
	ssize_t n;

	zc_hdr_encode(raw, &h);
	do
		n = send(c->fd, raw, sizeof(raw), MSG_NOSIGNAL | more);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n != sizeof(raw))	/* an empty socket buffer takes 24 bytes whole */
		return zc_write_full(c->fd, raw + n, sizeof(raw) - n);
	return 0;
}

int zc_srv_reply_hdr(struct zc_srv_conn *c, const struct zc_hdr *h, uint32_t len)
{
	/* MSG_MORE with nothing to follow would hold the header back ~200 ms. */
	return send_hdr(c, h, ZC_OK, len, len ? MSG_MORE : 0);
}

int zc_srv_reply(struct zc_srv_conn *c, const struct zc_hdr *h, int status,
		 const void *p, uint32_t len)
{
	int err;

	if (status != ZC_OK)
		len = 0;
	err = send_hdr(c, h, status, len, len ? MSG_MORE : 0);
	if (!err && len)
		err = zc_write_full(c->fd, p, len);
	return err;
}

static int wait_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (!stopping) {
		int n = poll(&pfd, 1, IDLE_POLL_MS);

		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
	return -ESHUTDOWN;
}

struct frame_wait {
	int fd;
	uint64_t deadline;
};

/* Waits for more of a frame that must be whole by its deadline: a peer
 * that trickles bytes does not hold a thread for ever. */
static int frame_wait(void *arg)
{
	struct frame_wait *w = arg;
	struct pollfd pfd = { .fd = w->fd, .events = POLLIN };
	uint64_t now = zc_now_ns();

	if (now >= w->deadline || stopping)
		return -ETIMEDOUT;
	if (poll(&pfd, 1, ZC_MIN((w->deadline - now) / 1000000 + 1, IDLE_POLL_MS)) < 0 &&
	    errno != EINTR)
		return -errno;
	return 0;
}

static int read_by(int fd, void *buf, size_t len, uint64_t deadline)
{
	struct frame_wait w = { fd, deadline };

	return zc_recv_full(fd, buf, len, MSG_DONTWAIT, frame_wait, &w);
}

bool (*zc_srv_stream)(const struct zc_hdr *h);

int zc_srv_recv(struct zc_srv_conn *c, void *buf, uint32_t len)
{
	int err;

	if (len > c->left)
		return -EPROTO;
	err = read_by(c->fd, buf, len, c->deadline);
	if (!err)
		c->left -= len;
	return err;
}

int zc_srv_splice(struct zc_srv_conn *c, int pipe_wr, uint32_t len, size_t *got)
{
	struct frame_wait w = { c->fd, c->deadline };
	size_t before = *got;
	int err;

	if (len > c->left)
		return -EPROTO;
	err = zc_splice_in(c->fd, pipe_wr, before + len, got, frame_wait, &w);
	c->left -= *got - before;
	return err;
}

/* What a streamed request's handler left of its payload: read, dropped. */
static int drain(struct zc_srv_conn *c, uint8_t *buf, uint32_t cap)
{
	while (c->left) {
		int err = zc_srv_recv(c, buf, ZC_MIN(c->left, cap));

		if (err)
			return err;
	}
	return 0;
}

static int authenticate(struct zc_srv_conn *c)
{
	struct timeval tv = { .tv_sec = zc_srv_frame_ms / 1000,
			      .tv_usec = zc_srv_frame_ms % 1000 * 1000 };
	const char *why = "";
	int err;

	if (zc_auth.role != ZC_ROLE_NONE) {
		err = zc_auth_accept(c->fd, HANDSHAKE_MS, &c->role, c->peer_id, &c->peer_session,
				     &why);
		if (err) {
			zc_rpc_auth_failures++;
			zc_warn("rpc %s: authentication failed: %s; closing", c->name, why);
			return err;
		}
	}
	/* Replies to a peer that stops reading give up after this long. */
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return 0;
}

static void *conn_thread(void *arg)
{
	struct conn_arg *a = arg;
	struct zc_srv_conn *c = &a->conn;
	uint8_t raw[ZC_HDR_LEN], *buf = NULL;
	uint32_t cap = 0;
	struct zc_hdr h;
	uint64_t deadline;
	int err;

	zc_debug("rpc %s: accepted", c->name);
	if (authenticate(c))
		goto out;	/* said why */
	for (;;) {
		err = wait_readable(c->fd);
		if (err)
			break;
		deadline = zc_now_ns() + zc_srv_frame_ms * 1000000ULL;
		err = read_by(c->fd, raw, sizeof(raw), deadline);
		if (err)
			break;
		err = zc_hdr_decode(raw, &h);
		if (!err && (h.flags & ZC_F_RESP))
			err = -EPROTO;
		if (err) {
			zc_rpc_bad_frames++;
			zc_err("rpc %s: bad frame (type %u len %u): %s, closing", c->name, h.type,
			       h.len, strerror(-err));
			break;
		}
		if (!zc_role_may_send(c->role, h.type)) {
			zc_rpc_bad_frames++;
			zc_err("rpc %s: request type %u is not for a peer of its role (%u%s%s),"
			       " closing", c->name, h.type, c->role, c->peer_id[0] ? " " : "",
			       c->peer_id);
			err = -EPERM;
			break;
		}
		if (zc_srv_stream && zc_srv_stream(&h)) {
			uint8_t sink[4096];

			c->left = h.len;
			c->deadline = deadline;
			err = a->srv->handler(c, &h, NULL);
			if (!err)
				err = drain(c, sink, sizeof(sink));
			if (err)
				break;
			continue;
		}
		if (h.len > cap) {
			uint8_t *nb = realloc(buf, h.len);

			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
			cap = h.len;
		}
		err = read_by(c->fd, buf, h.len, deadline);
		if (err)
			break;
		err = a->srv->handler(c, &h, buf);
		if (err)
			break;
		if (cap > KEEP_BUF) {	/* one large frame: do not keep its room */
			free(buf);
			buf = NULL;
			cap = 0;
		}
	}
	if (err == -EPIPE || err == -ECONNRESET || err == -ESHUTDOWN)
		zc_debug("rpc %s: closed", c->name);
	else if (err == -ETIMEDOUT)
		zc_warn("rpc %s: a frame not sent whole within %u ms; closing", c->name,
			zc_srv_frame_ms);
	else if (err != -EPERM && err != -EPROTO && err != -EMSGSIZE)
		zc_warn("rpc %s: closing connection: %s", c->name, strerror(-err));
out:
	if (a->srv->on_close)
		a->srv->on_close(c);
	close(c->fd);
	free(buf);
	free(a);
	zc_auth_thread_end();
	atomic_fetch_sub(&nconns, 1);
	return NULL;
}

int zc_srv_run(int lfd, zc_srv_handler handler, zc_srv_close_fn on_close, void *ctx)
{
	static struct srv srv;	/* outlives this call: threads may linger */
	uint64_t last_refusal = 0;
	pthread_attr_t attr;

	srv = (struct srv){ handler, on_close, ctx };

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (!stopping) {
		struct sockaddr_in peer;
		socklen_t pl = sizeof(peer);
		struct conn_arg *a;
		pthread_t tid;
		int fd, one = 1;

		if (wait_readable(lfd))
			break;
		fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (atomic_load(&nconns) >= zc_srv_max_conns) {
			char name[32];
			uint64_t now = zc_now_ns();

			/* One line a second at most: a flood must not fill the log. */
			if (now - last_refusal > 1000000000ULL)
				zc_warn("rpc %s: connection refused: %u connections open, the limit",
					zc_fmt_addr(&peer, name, sizeof(name)), zc_srv_max_conns);
			last_refusal = now;
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
		a = calloc(1, sizeof(*a));
		if (!a) {
			close(fd);
			continue;
		}
		a->srv = &srv;
		a->conn.fd = fd;
		a->conn.peer = peer;
		a->conn.ctx = ctx;
		zc_fmt_addr(&peer, a->conn.name, sizeof(a->conn.name));
		atomic_fetch_add(&nconns, 1);
		if (pthread_create(&tid, &attr, conn_thread, a)) {
			zc_err("rpc %s: no thread for connection", a->conn.name);
			close(fd);
			free(a);
			atomic_fetch_sub(&nconns, 1);
		}
	}
	pthread_attr_destroy(&attr);
	/* Connection threads see stopping within IDLE_POLL_MS, once the
	 * handler under way is done: the caller tears down what handlers
	 * use only after they are gone. */
	for (int i = 0; i < 100 && atomic_load(&nconns); i++)
		usleep(50000);
	if (atomic_load(&nconns))
		zc_warn("rpc: %u connections still busy 5 s after the stop", atomic_load(&nconns));
	return 0;
}
