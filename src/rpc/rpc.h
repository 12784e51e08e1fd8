/* SPDX-License-Identifier: MIT */
/*
 * RPC layer: frames (include/zcfs/proto.h) over TCP.
 *
 * Client side: one connection per peer, many calls in flight, matched by
 * xid.  Each call names where its response payload goes (its destination):
 * into the caller's memory (dest), or into a buffer the layer allocates.
 * A receiver thread per connection reads every response and completes its
 * call; a broken connection completes every pending call with an error.
 *
 * Server side: an accept loop and one thread per connection that reads a
 * frame, calls the handler and lets it reply, in order.
 */
#ifndef ZC_RPC_H
#define ZC_RPC_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "zcfs/proto.h"

struct zc_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t flags;
	int32_t status;
	uint32_t len;
	uint64_t xid;
};

void zc_hdr_encode(uint8_t out[ZC_HDR_LEN], const struct zc_hdr *h);
/* Decodes and checks magic, flags and the payload limit.
 * Returns 0, -EPROTO (not a zcfs frame) or -EMSGSIZE (payload too big). */
int zc_hdr_decode(const uint8_t in[ZC_HDR_LEN], struct zc_hdr *h);

/* ---- client side ---- */

struct zc_conn;
struct zc_call;
typedef void (*zc_call_done_fn)(struct zc_call *call);

struct zc_call {
	/* filled by the caller */
	uint16_t type;
	uint16_t flags;		/* request flags (ZC_F_COPY) */
	struct iovec req[2];	/* request payload: arguments, then data */
	int req_pipe;		/* > 0: req[1]'s iov_len bytes are spliced from
				   this pipe (read end), iov_base unused; the
				   pipe is drained by the send, also when it
				   fails (keep a tee(2) copy to retry) */
	void *dest;		/* response payload goes here (≤ dest_cap)... */
	uint32_t dest_cap;	/* ...or, if dest is NULL, into ->resp (freed by
				   zc_call_free_resp) */
	bool to_pipe;		/* ZC: splice the payload into pipe[1] instead;
				   if the pipe fills up first, its bytes and
				   the rest go to dest (which must be set) */
	int pipe[2];
	uint32_t timeout_ms;	/* 0: default */
	zc_call_done_fn done;
	void *arg;
	/* results, valid in done() */
	int err;		/* 0, or -errno: transport error or the status */
	int status;		/* wire status; ZC_OK on transport error too */
	uint8_t *resp;		/* the payload: dest, or a malloc'd buffer */
	uint32_t resp_len;
	bool in_pipe;		/* the payload (resp_len bytes) is in the pipe */
	/* private */
	uint64_t xid;
	uint64_t deadline;
	struct zc_call *next;
};

/* Gets a connection to peer, reusing a live one; connects if needed, with
 * back-off after failures.  Returns a referenced connection, or NULL with
 * *err set (-ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH while backing off). */
struct zc_conn *zc_conn_get(const struct sockaddr_in *peer, int *err);
void zc_conn_put(struct zc_conn *c);
const char *zc_conn_name(const struct zc_conn *c);
/* Connects to peer and runs the handshake (common/auth.h) as this
 * process's role: a connection of its own, not shared through
 * zc_conn_get.  Returns NULL with *err set (-EACCES: refused). */
struct zc_conn *zc_conn_open(const struct sockaddr_in *peer, int *err);
/* Wraps an already connected socket (tests).  Returns NULL on ENOMEM. */
struct zc_conn *zc_conn_from_fd(int fd, const char *name);
/* Breaks the connection: every pending call completes with -ECONNRESET. */
void zc_conn_kill(struct zc_conn *c);

/*
 * Starts a call.  Returns 0, and then done() runs exactly once, on the
 * connection's receiver thread (or -ETIMEDOUT from its timer); or returns
 * -ENOTCONN/-EIO and done() never runs.
 */
int zc_call_start(struct zc_conn *c, struct zc_call *call);
/* Runs a call and waits for it.  Returns call->err. */
int zc_call_sync(struct zc_conn *c, struct zc_call *call);

/* The two halves of zc_call_sync, to do other work while a call runs:
 * begin returns as zc_call_start; end waits and returns call->err. */
struct zc_wait {
	pthread_mutex_t m;
	pthread_cond_t cv;
	bool done;
};
int zc_call_begin(struct zc_conn *c, struct zc_call *call, struct zc_wait *w);
int zc_call_end(struct zc_call *call, struct zc_wait *w);
/* As zc_call_end, but gives up waiting at deadline (monotonic ns) or when
 * stop(arg) says so: then the call is withdrawn (its answer, if one
 * comes, is dropped) and -ETIMEDOUT or -EINTR returned; if the receiver
 * took the call first, its result is waited for and returned instead.
 * Either way nothing touches call or w once this returns.  A withdrawn
 * request may still have reached the peer and run there. */
int zc_call_end_or(struct zc_conn *c, struct zc_call *call, struct zc_wait *w,
		   uint64_t deadline, bool (*stop)(void *arg), void *arg);
void zc_call_free_resp(struct zc_call *call);

/* ---- server side ---- */

struct zc_srv_conn {
	int fd;
	struct sockaddr_in peer;
	char name[32];
	/* Who the peer proved to be in the handshake (common/auth.h): its
	 * role (ZC_ROLE_*), a client's credential name, and for a client at
	 * a chunk server the session its ticket names. */
	uint8_t role;
	char peer_id[64];
	uint64_t peer_session;
	uint32_t bound_id;	/* mds: the chunk server id this connection
				   registered (0: none yet) */
	void *ctx;		/* the server's context */
	void *priv;		/* per-connection state for the handler */
	/* A streamed request (zc_srv_stream): its payload bytes still in the
	 * socket, and by when they must all have come. */
	uint32_t left;
	uint64_t deadline;
};

/* Handles one request; must send exactly one reply (zc_srv_reply*) unless
 * it returns < 0, which closes the connection. */
typedef int (*zc_srv_handler)(struct zc_srv_conn *c, const struct zc_hdr *h,
			      uint8_t *payload);
typedef void (*zc_srv_close_fn)(struct zc_srv_conn *c);

/* Accepts connections on lfd until zc_srv_stop(); one thread each.
 * Returns 0 when stopped. */
int zc_srv_run(int lfd, zc_srv_handler handler, zc_srv_close_fn on_close, void *ctx);
void zc_srv_stop(void);

/* Requests whose payload the handler takes from the socket itself (into a
 * pipe: zero-copy), when this says so for a request's header: the handler
 * gets payload NULL and c->left = h->len, and reads the payload with
 * zc_srv_recv and zc_srv_splice, in order.  What it leaves is read and
 * dropped before the next request.  Set it before zc_srv_run(). */
extern bool (*zc_srv_stream)(const struct zc_hdr *h);
/* The next len bytes of a streamed request, into buf.  0 or -errno
 * (-EPROTO: fewer than len are left). */
int zc_srv_recv(struct zc_srv_conn *c, void *buf, uint32_t len);
/* The next len bytes of a streamed request, into a pipe; *got counts the
 * bytes moved.  0, -ENOBUFS (the pipe is full: take the rest with
 * zc_srv_recv) or -errno as zc_srv_recv. */
int zc_srv_splice(struct zc_srv_conn *c, int pipe_wr, uint32_t len, size_t *got);

/* Sends the response to h with status and payload.  Returns 0 or -errno. */
int zc_srv_reply(struct zc_srv_conn *c, const struct zc_hdr *h, int status,
		 const void *p, uint32_t len);
/* Sends only a response header announcing len payload bytes that the
 * caller then writes itself (MSG_MORE: they leave as one stream). */
int zc_srv_reply_hdr(struct zc_srv_conn *c, const struct zc_hdr *h, uint32_t len);

/* Connections a server keeps at most (one thread each); more are closed
 * at once with a log line.  Set it before zc_srv_run(). */
extern unsigned zc_srv_max_conns;
/* Connections served now (a metric). */
unsigned zc_srv_conns(void);
/* A peer that starts a frame must send it whole within this long (a slow
 * sender does not hold a thread for ever); the reply to a peer that does
 * not read is given up after this long too.  Default 30 s. */
extern unsigned zc_srv_frame_ms;

/* Counters: frames refused; handshakes failed; ZC payloads that did not
 * fit their pipe. */
extern _Atomic unsigned long zc_rpc_bad_frames;
extern _Atomic unsigned long zc_rpc_auth_failures;
extern _Atomic unsigned long zc_rpc_pipe_fallbacks;

#endif
