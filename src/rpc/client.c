// SPDX-License-Identifier: MIT
/*
 * Client side of the RPC layer: connections, xid matching, destinations.
 *
 * Ownership: a call sits in its connection's pending list from
 * zc_call_start() until it is taken out, under the connection's lock: by
 * the receiver thread (on its response, on its deadline, or when the
 * connection dies), which then completes it, or by its caller withdrawing
 * it (zc_call_end_or), and then done() never runs.  Nobody keeps a pointer
 * to a pending call across a release of the lock, so the one who took it
 * out is the only one who touches it: done() runs at most once, and once
 * done() has run or the withdrawal succeeded the caller's memory (the call
 * is often on its stack) is not touched again.  While its request is still
 * being written (CALL_SENDING) a call is nobody's to take: the receiver
 * waits for zc_call_start() to let go, and a caller withdraws only after
 * zc_call_start() returned.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/util.h"
#include "rpc.h"

#define DEFAULT_TIMEOUT_MS 30000
#define CONNECT_TIMEOUT_MS 2000
#define TICK_MS 250
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

struct zc_conn {
	pthread_mutex_t lock;		/* pending, dead, refs, sending */
	pthread_cond_t cond;		/* a call stopped sending */
	pthread_mutex_t send_lock;	/* one frame at a time on the wire */
	int fd;
	bool dead;
	int refs;
	uint64_t next_xid;
	struct zc_call *pending;
	char name[32];
	uint8_t scratch[16384];		/* payloads nobody waits for */
};

/* A call whose request is still being written: its response must wait. */
#define CALL_SENDING(call) ((call)->status == -1)

static void conn_free(struct zc_conn *c)
{
	close(c->fd);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->send_lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}

void zc_conn_put(struct zc_conn *c)
{
	int left;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	left = --c->refs;
	pthread_mutex_unlock(&c->lock);
	if (!left)
		conn_free(c);
}

const char *zc_conn_name(const struct zc_conn *c)
{
	return c->name;
}

void zc_conn_kill(struct zc_conn *c)
{
	/* The receiver sees EOF and fails what is pending. */
	shutdown(c->fd, SHUT_RDWR);
}

static void complete(struct zc_call *call, int err)
{
	call->err = err;
	call->done(call);
}

/*
 * Takes the call with this xid out of pending, waiting while it is still
 * being sent.  Returns NULL if nobody waits for it.  Only a call found in
 * pending under the lock is returned: while we waited, its sender may have
 * let go and its caller withdrawn it and returned (the call was on its
 * stack), so the search starts again and a pointer seen before the wait is
 * never used.
 */
static struct zc_call *take(struct zc_conn *c, uint64_t xid)
{
	struct zc_call **pp, *call;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		for (pp = &c->pending; (call = *pp) && call->xid != xid; pp = &call->next)
			;
		if (!call || !CALL_SENDING(call))
			break;
		pthread_cond_wait(&c->cond, &c->lock);
	}
	if (call)
		*pp = call->next;
	pthread_mutex_unlock(&c->lock);
	return call;
}

static void expire(struct zc_conn *c, uint64_t now)
{
	struct zc_call **pp, *call, *gone = NULL;

	pthread_mutex_lock(&c->lock);
	for (pp = &c->pending; (call = *pp);) {
		if (call->deadline <= now && !CALL_SENDING(call)) {
			*pp = call->next;
			call->next = gone;
			gone = call;
		} else {
			pp = &call->next;
		}
	}
	pthread_mutex_unlock(&c->lock);
	while ((call = gone)) {
		gone = call->next;
		zc_warn("rpc %s: call type %u xid %llu timed out", c->name, call->type,
			(unsigned long long)call->xid);
		complete(call, -ETIMEDOUT);
	}
}

/* Nothing to read for a while: expire overdue calls; -ETIMEDOUT once
 * this frame's own deadline has passed. */
static int idle(struct zc_conn *c, uint64_t deadline)
{
	uint64_t now = zc_now_ns();

	expire(c, now);
	return now > deadline ? -ETIMEDOUT : 0;
}

struct rx_wait {
	struct zc_conn *c;
	uint64_t deadline;
};

static int rx_idle(void *arg)
{
	struct rx_wait *w = arg;

	return idle(w->c, w->deadline);
}

/* Reads exactly len bytes; gives up at deadline, expiring calls meanwhile
 * (recv returns every second: SO_RCVTIMEO). */
static int rx_full(struct zc_conn *c, void *buf, size_t len, uint64_t deadline)
{
	struct rx_wait w = { c, deadline };

	return zc_recv_full(c->fd, buf, len, 0, rx_idle, &w);
}

static int rx_discard(struct zc_conn *c, size_t len, uint64_t deadline)
{
	while (len) {
		size_t n = ZC_MIN(len, sizeof(c->scratch));
		int err = rx_full(c, c->scratch, n, deadline);

		if (err)
			return err;
		len -= n;
	}
	return 0;
}

/*
 * ZC destination: splices exactly len payload bytes from the socket into
 * the call's pipe, resuming across wake-ups, before the next frame is
 * read.  The pipe was sized for the payload, but a socket's bytes can come
 * in more fragments than the pipe has slots: then the bytes already in the
 * pipe and the rest of the payload go to the call's memory destination.
 */
/* Waits up to a tick for bytes to splice; expires calls when none came. */
static int rx_poll_idle(void *arg)
{
	struct rx_wait *w = arg;
	struct pollfd pfd = { .fd = w->c->fd, .events = POLLIN };
	int n = poll(&pfd, 1, TICK_MS);

	if (n < 0 && errno != EINTR)
		return -errno;
	return n > 0 ? 0 : idle(w->c, w->deadline);
}

static int rx_splice(struct zc_conn *c, struct zc_call *call, uint32_t len, uint64_t deadline)
{
	struct rx_wait w = { c, deadline };
	size_t got = 0;
	int err;

	call->in_pipe = true;
	err = zc_splice_in(c->fd, call->pipe[1], len, &got, rx_poll_idle, &w);
	if (err != -ENOBUFS)
		return err;
	/* Out of pipe slots: fall back to memory for this payload. */
	zc_rpc_pipe_fallbacks++;
	call->in_pipe = false;
	err = zc_read_full(call->pipe[0], call->dest, got);
	if (!err)
		err = rx_full(c, call->dest + got, len - got, deadline);
	return err;
}

/* Receives one response.  Returns 0, or -errno when the connection must go. */
static int rx_one(struct zc_conn *c)
{
	uint8_t raw[ZC_HDR_LEN];
	struct zc_hdr h;
	struct zc_call *call;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	uint64_t deadline;
	int err;

	err = poll(&pfd, 1, TICK_MS);
	if (err <= 0) {
		expire(c, zc_now_ns());
		return err < 0 && errno != EINTR ? -errno : 0;
	}
	deadline = zc_now_ns() + DEFAULT_TIMEOUT_MS * 1000000ULL;
	err = rx_full(c, raw, sizeof(raw), deadline);
	if (err)
		return err;
	err = zc_hdr_decode(raw, &h);
	if (!err && !(h.flags & ZC_F_RESP))
		err = -EPROTO;
	if (!err && h.status != ZC_OK && h.len)
		err = -EPROTO;
	if (err) {
		zc_rpc_bad_frames++;
		zc_err("rpc %s: bad frame (type %u len %u): %s, closing", c->name, h.type,
		       h.len, strerror(-err));
		return err;
	}
	call = take(c, h.xid);
	if (!call) {
		zc_debug("rpc %s: late response xid %llu dropped", c->name,
			 (unsigned long long)h.xid);
		return rx_discard(c, h.len, deadline);
	}
	if (call->type != h.type) {
		zc_rpc_bad_frames++;
		zc_err("rpc %s: response type %u for call type %u, closing", c->name, h.type,
		       call->type);
		complete(call, -EPROTO);
		return -EPROTO;
	}
	call->status = h.status;
	call->resp_len = h.len;
	if (call->to_pipe && (!call->dest || h.len > call->dest_cap)) {
		zc_rpc_bad_frames++;
		zc_err("rpc %s: response of %u bytes for a %u-byte destination, closing",
		       c->name, h.len, call->dest_cap);
		complete(call, -EPROTO);
		return -EPROTO;
	}
	if (call->to_pipe) {
		call->resp = call->dest;
		err = rx_splice(c, call, h.len, ZC_MAX(deadline, call->deadline));
		if (err) {
			complete(call, err);
			return err;
		}
		complete(call, h.status ? -zc_status_errno(h.status) : 0);
		return 0;
	}
	if (call->dest) {
		if (h.len > call->dest_cap) {
			zc_rpc_bad_frames++;
			zc_err("rpc %s: response of %u bytes for a %u-byte destination, closing",
			       c->name, h.len, call->dest_cap);
			complete(call, -EPROTO);
			return -EPROTO;
		}
		call->resp = call->dest;
	} else if (h.len) {
		call->resp = malloc(h.len);
		if (!call->resp) {
			complete(call, -ENOMEM);
			return rx_discard(c, h.len, deadline);
		}
	}
	if (call->deadline > deadline)
		deadline = call->deadline;
	err = rx_full(c, call->resp, h.len, deadline);
	if (err) {
		zc_call_free_resp(call);
		complete(call, err);
		return err;
	}
	complete(call, h.status ? -zc_status_errno(h.status) : 0);
	return 0;
}

static void *rx_thread(void *arg)
{
	struct zc_conn *c = arg;
	struct zc_call *call;
	int err;

	while (!(err = rx_one(c)))
		;
	if (err != -ECONNRESET)
		zc_warn("rpc %s: connection lost: %s", c->name, strerror(-err));
	shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_lock(&c->lock);
	c->dead = true;
	while (c->pending) {
		call = c->pending;
		if (CALL_SENDING(call)) {
			pthread_cond_wait(&c->cond, &c->lock);
			continue;
		}
		c->pending = call->next;
		pthread_mutex_unlock(&c->lock);
		complete(call, -ECONNRESET);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	zc_conn_put(c);
	return NULL;
}

struct zc_conn *zc_conn_from_fd(int fd, const char *name)
{
	struct zc_conn *c = calloc(1, sizeof(*c));
	struct timeval tv = { .tv_sec = 1 };
	pthread_attr_t attr;
	pthread_t tid;

	if (!c)
		return NULL;
	c->fd = fd;
	c->refs = 2;	/* the caller's and the receiver's */
	c->next_xid = 1;
	snprintf(c->name, sizeof(c->name), "%s", name);
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->send_lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	/* recv gives up after a second so that the receiver can expire calls
	 * even while a peer stalls in the middle of a frame. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	tv.tv_sec = DEFAULT_TIMEOUT_MS / 1000;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&tid, &attr, rx_thread, c)) {
		pthread_attr_destroy(&attr);
		c->fd = -1;
		conn_free(c);
		return NULL;
	}
	pthread_attr_destroy(&attr);
	return c;
}

static int send_frame(struct zc_conn *c, struct zc_call *call)
{
	uint8_t raw[ZC_HDR_LEN];
	struct zc_hdr h = { .type = call->type, .flags = call->flags, .xid = call->xid };
	struct iovec iov[3] = { { raw, sizeof(raw) }, call->req[0], call->req[1] };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 3 };
	int err = 0;

	h.len = call->req[0].iov_len + call->req[1].iov_len;
	zc_hdr_encode(raw, &h);
	if (call->req_pipe > 0)
		msg.msg_iovlen = 2;	/* the data follows from the pipe */
	pthread_mutex_lock(&c->send_lock);
	while (msg.msg_iovlen) {
		ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | (call->req_pipe > 0 ? MSG_MORE : 0));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		while (msg.msg_iovlen && (size_t)n >= msg.msg_iov->iov_len) {
			n -= msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen) {
			msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + n;
			msg.msg_iov->iov_len -= n;
		}
	}
	if (!err && call->req_pipe > 0)
		err = zc_splice_all(call->req_pipe, c->fd, NULL, call->req[1].iov_len);
	pthread_mutex_unlock(&c->send_lock);
	return err;
}

int zc_call_start(struct zc_conn *c, struct zc_call *call)
{
	uint32_t len = call->req[0].iov_len + call->req[1].iov_len;
	int err;

	if (len > ZC_MAX_FRAME || call->req[0].iov_len > ZC_MAX_FRAME)
		return -EMSGSIZE;
	call->err = 0;
	call->resp = NULL;
	call->resp_len = 0;
	call->in_pipe = false;
	call->status = -1;	/* CALL_SENDING */
	call->deadline = zc_now_ns() +
		(uint64_t)(call->timeout_ms ? call->timeout_ms : DEFAULT_TIMEOUT_MS) * 1000000ULL;
	pthread_mutex_lock(&c->lock);
	if (c->dead) {
		pthread_mutex_unlock(&c->lock);
		return -ENOTCONN;
	}
	call->xid = c->next_xid++;
	call->next = c->pending;
	c->pending = call;
	pthread_mutex_unlock(&c->lock);

	err = send_frame(c, call);
	if (err) {
		zc_warn("rpc %s: send of type %u failed: %s", c->name, call->type, strerror(-err));
		zc_conn_kill(c);
	}
	pthread_mutex_lock(&c->lock);
	call->status = ZC_OK;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static void wake(struct zc_call *call)
{
	struct zc_wait *w = call->arg;

	pthread_mutex_lock(&w->m);
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->m);
}

int zc_call_begin(struct zc_conn *c, struct zc_call *call, struct zc_wait *w)
{
	int err;

	pthread_mutex_init(&w->m, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->done = false;
	call->done = wake;
	call->arg = w;
	err = zc_call_start(c, call);
	if (err) {
		call->err = err;
		w->done = true;
	}
	return err;
}

int zc_call_end(struct zc_call *call, struct zc_wait *w)
{
	pthread_mutex_lock(&w->m);
	while (!w->done)
		pthread_cond_wait(&w->cv, &w->m);
	pthread_mutex_unlock(&w->m);
	pthread_mutex_destroy(&w->m);
	pthread_cond_destroy(&w->cv);
	return call->err;
}

/* Takes a call out of pending if the receiver has not taken it yet: then
 * done() will never run.  If it returns false, done() runs (or ran). */
static bool withdraw(struct zc_conn *c, struct zc_call *call)
{
	struct zc_call **pp;
	bool found = false;

	pthread_mutex_lock(&c->lock);
	for (pp = &c->pending; *pp; pp = &(*pp)->next)
		if (*pp == call) {
			*pp = call->next;
			found = true;
			break;
		}
	pthread_mutex_unlock(&c->lock);
	return found;
}

int zc_call_end_or(struct zc_conn *c, struct zc_call *call, struct zc_wait *w,
		   uint64_t deadline, bool (*stop)(void *arg), void *arg)
{
	int err = 0;

	pthread_mutex_lock(&w->m);
	while (!w->done) {
		struct timespec ts;

		if (zc_now_ns() >= deadline)
			err = -ETIMEDOUT;
		else if (stop && stop(arg))
			err = -EINTR;
		if (err && withdraw(c, call)) {
			call->err = err;
			break;
		}
		/* Already taken by the receiver: its answer is on the way. */
		err = 0;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->cv, &w->m, &ts);
	}
	pthread_mutex_unlock(&w->m);
	pthread_mutex_destroy(&w->m);
	pthread_cond_destroy(&w->cv);
	return call->err;
}

int zc_call_sync(struct zc_conn *c, struct zc_call *call)
{
	struct zc_wait w;

	zc_call_begin(c, call, &w);
	return zc_call_end(call, &w);
}

void zc_call_free_resp(struct zc_call *call)
{
	if (call->resp && call->resp != call->dest)
		free(call->resp);
	call->resp = NULL;
}

/* ---- peers ---- */

struct peer {
	struct sockaddr_in sa;
	struct zc_conn *conn;
	bool connecting;	/* a thread is connecting: others wait */
	uint64_t retry_at;
	uint32_t backoff_ms;
	struct peer *next;
};

static pthread_mutex_t peers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t peers_cv = PTHREAD_COND_INITIALIZER;	/* a connect ended */
static struct peer *peers;

/* A live connection of the peer, referenced, or NULL.  peers_lock held. */
static struct zc_conn *live(struct peer *p)
{
	struct zc_conn *c = p->conn;
	bool dead;

	if (!c)
		return NULL;
	pthread_mutex_lock(&c->lock);
	dead = c->dead;
	if (!dead)
		c->refs++;
	pthread_mutex_unlock(&c->lock);
	if (!dead)
		return c;
	zc_conn_put(c);
	p->conn = NULL;
	return NULL;
}

struct zc_conn *zc_conn_open(const struct sockaddr_in *sa, int *err)
{
	struct zc_conn *c;
	const char *why = "";
	char name[32];
	int fd;

	zc_fmt_addr(sa, name, sizeof(name));
	fd = zc_tcp_connect(sa, CONNECT_TIMEOUT_MS);
	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	if (zc_auth.role != ZC_ROLE_NONE && (*err = zc_auth_connect(fd, CONNECT_TIMEOUT_MS * 2,
								      &why))) {
		zc_rpc_auth_failures++;
		zc_err("rpc %s: authentication failed: %s", name, why);
		close(fd);
		return NULL;
	}
	c = zc_conn_from_fd(fd, name);
	if (!c) {
		close(fd);
		*err = -ENOMEM;
	}
	return c;
}

/*
 * The connect runs without peers_lock: a peer that takes seconds to
 * answer holds up only the callers that want that peer.
 */
struct zc_conn *zc_conn_get(const struct sockaddr_in *sa, int *err)
{
	struct peer *p;
	struct zc_conn *c = NULL;
	char name[32];

	pthread_mutex_lock(&peers_lock);
	for (p = peers; p; p = p->next)
		if (p->sa.sin_addr.s_addr == sa->sin_addr.s_addr && p->sa.sin_port == sa->sin_port)
			break;
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p) {
			*err = -ENOMEM;
			goto out;
		}
		p->sa = *sa;
		p->next = peers;
		peers = p;
	}
	while (p->connecting)
		pthread_cond_wait(&peers_cv, &peers_lock);
	if ((c = live(p)))
		goto out;
	if (zc_now_ns() < p->retry_at) {
		*err = -EHOSTUNREACH;
		goto out;
	}
	p->connecting = true;
	pthread_mutex_unlock(&peers_lock);

	zc_fmt_addr(sa, name, sizeof(name));
	c = zc_conn_open(sa, err);

	pthread_mutex_lock(&peers_lock);
	p->connecting = false;
	pthread_cond_broadcast(&peers_cv);
	if (!c) {
		p->backoff_ms = p->backoff_ms ? ZC_MIN(p->backoff_ms * 2, BACKOFF_MAX_MS)
					      : BACKOFF_MIN_MS;
		p->retry_at = zc_now_ns() + p->backoff_ms * 1000000ULL;
		zc_warn("rpc %s: connect failed: %s (next try in %u ms)", name, strerror(-*err),
			p->backoff_ms);
		goto out;
	}
	p->backoff_ms = 0;
	p->conn = c;	/* the table keeps the first reference... */
	zc_debug("rpc %s: connected", name);
	pthread_mutex_lock(&c->lock);	/* ...and the caller gets another */
	c->refs++;
	pthread_mutex_unlock(&c->lock);
out:
	pthread_mutex_unlock(&peers_lock);
	return c;
}
