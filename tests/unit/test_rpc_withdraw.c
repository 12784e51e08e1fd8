// SPDX-License-Identifier: MIT
/*
 * Withdrawn calls against answers, expiry and dead connections, many times
 * over.  Caller threads share a connection whose peer (this test) answers
 * in random order after random short delays, drops some requests, goes
 * quiet now and then (so the receiver expires calls on its tick) and at the
 * end of each round closes the connection under calls still pending.  Each
 * caller gives up on its call at a random moment (a stop() that fires, or
 * a deadline), right after zc_call_begin too: that is when an answer can
 * arrive while the request is still being sent (the receiver waits in
 * take() for the sender to let go).
 *
 * Whatever happens, once zc_call_end_or returns the call is the caller's
 * again: nothing may complete it or write into it.  A call's memory is kept
 * for a while after that, poisoned with a done() that counts (late_dones
 * must stay 0), then freed (under ASan, a touch is a use-after-free).  An
 * answered call must carry its own request's bytes back.
 *
 * ZCFS_RACE_SECONDS: how long to run (default 4).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "common/log.h"
#include "common/util.h"
#include "rpc/rpc.h"

#define CALLERS 6
#define RING 32		/* calls a caller keeps poisoned before freeing them */
#define OUTSTANDING 24	/* requests the peer holds before it must answer one */

static atomic_int late_dones, wrong_answers;
static atomic_long n_ok, n_intr, n_timedout, n_expired, n_reset, n_started, n_withdraw_tries;

static unsigned rnd(unsigned *seed, unsigned n)
{
	return (unsigned)rand_r(seed) % n;
}

/* ---- the peer ---- */

struct peer {
	int fd;
	atomic_bool stop;
	unsigned seed;
	pthread_t tid;
};

struct held {
	struct zc_hdr h;
	uint8_t tag[8];
};

static void answer(int fd, const struct held *r)
{
	uint8_t raw[ZC_HDR_LEN];
	struct zc_hdr h = { .type = r->h.type, .flags = ZC_F_RESP, .len = sizeof(r->tag),
			    .xid = r->h.xid };

	zc_hdr_encode(raw, &h);
	if (!zc_write_full(fd, raw, sizeof(raw)))
		zc_write_full(fd, r->tag, sizeof(r->tag));
}

static void *peer_run(void *arg)
{
	struct peer *p = arg;
	struct held held[OUTSTANDING];
	int n = 0;
	uint64_t quiet_at = zc_now_ns() + (50 + rnd(&p->seed, 200)) * 1000000ULL;

	while (!atomic_load(&p->stop)) {
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		uint8_t raw[ZC_HDR_LEN];

		if (zc_now_ns() > quiet_at) {
			/* Neither read nor answer for longer than the receiver's
			 * tick: it expires overdue calls while callers give up. */
			usleep(260000 + rnd(&p->seed, 40000));
			quiet_at = zc_now_ns() + (100 + rnd(&p->seed, 400)) * 1000000ULL;
		}
		if (n < OUTSTANDING && poll(&pfd, 1, rnd(&p->seed, 2)) == 1) {
			struct held *r = &held[n];

			if (zc_read_full(p->fd, raw, sizeof(raw)) || zc_hdr_decode(raw, &r->h) ||
			    r->h.len != sizeof(r->tag) ||
			    zc_read_full(p->fd, r->tag, sizeof(r->tag)))
				break;
			if (rnd(&p->seed, 16))	/* one in 16 is never answered */
				n++;
			/* Often answered at once: the answer may beat the sender. */
			if (n && !rnd(&p->seed, 2)) {
				answer(p->fd, &held[--n]);
				continue;
			}
		}
		if (n && (n == OUTSTANDING || !rnd(&p->seed, 3))) {
			int i = rnd(&p->seed, n);

			if (rnd(&p->seed, 4) == 0)
				usleep(rnd(&p->seed, 300));
			answer(p->fd, &held[i]);
			held[i] = held[--n];
		}
	}
	close(p->fd);	/* the receiver fails whatever is still pending */
	return NULL;
}

/* ---- the callers ---- */

struct slot {
	struct zc_call call;
	struct zc_wait w;
	uint8_t tag[8];
	uint8_t dest[8];
	unsigned stop_checks;	/* stop() fires at this check (0: never) */
	unsigned checks;
};

static void late_done(struct zc_call *call)
{
	(void)call;
	atomic_fetch_add(&late_dones, 1);
}

static bool stop_now(void *arg)
{
	struct slot *s = arg;

	s->checks++;
	atomic_fetch_add(&n_withdraw_tries, 1);
	return s->stop_checks && s->checks >= s->stop_checks;
}

struct caller {
	struct zc_conn *conn;
	int id;
	unsigned seed;
	struct slot *ring[RING];
	unsigned ring_at;
	uint64_t iter;
	pthread_t tid;
};

/* The call is its caller's again: poison it and keep it a while. */
static void retire(struct caller *cl, struct slot *s)
{
	memset(s, 0, sizeof(*s));
	s->call.type = ZC_CLTOMA_GETATTR;	/* a stale take would match it... */
	s->call.done = late_done;		/* ...and complete it here */
	free(cl->ring[cl->ring_at]);
	cl->ring[cl->ring_at] = s;
	cl->ring_at = (cl->ring_at + 1) % RING;
}

/* One call, given up in one of several ways.  Returns false once the
 * connection is dead. */
static bool one_call(struct caller *cl)
{
	struct slot *s = calloc(1, sizeof(*s));
	uint64_t deadline = UINT64_MAX;
	unsigned how = rnd(&cl->seed, 40);
	int err;

	if (!s)
		return false;
	/* Unique among calls: the caller, then its count. */
	s->tag[0] = (uint8_t)cl->id;
	for (int i = 1; i < 8; i++)
		s->tag[i] = (uint8_t)(cl->iter >> (8 * (i - 1)));
	cl->iter++;
	s->call.type = ZC_CLTOMA_GETATTR;
	s->call.req[0] = (struct iovec){ s->tag, sizeof(s->tag) };
	if (rnd(&cl->seed, 2)) {
		s->call.dest = s->dest;
		s->call.dest_cap = sizeof(s->dest);
	}
	/* Short rpc timeouts: the receiver expires them on its next tick. */
	s->call.timeout_ms = rnd(&cl->seed, 3) ? 0 : 1 + rnd(&cl->seed, 20);
	if (how < 12) {
		s->stop_checks = 1;	/* at once (right after the send), or soon */
	} else if (how < 20) {
		deadline = zc_now_ns() + rnd(&cl->seed, 400) * 1000ULL;
	} else if (how < 21) {
		s->stop_checks = 2;	/* after one wait */
	} else if (how < 36) {
		deadline = zc_now_ns() + 20 * 1000000ULL;	/* mostly answered */
	} else {
		/* Only the answer, the receiver's expiry or the connection's
		 * end finish it. */
		s->call.timeout_ms = 1 + rnd(&cl->seed, 20);
	}
	err = zc_call_begin(cl->conn, &s->call, &s->w);
	if (err) {
		zc_call_end(&s->call, &s->w);
		free(s);
		return false;
	}
	atomic_fetch_add(&n_started, 1);
	if (how >= 4 && how < 12)
		usleep(rnd(&cl->seed, 150));
	err = zc_call_end_or(cl->conn, &s->call, &s->w, deadline, stop_now, s);
	switch (err) {
	case 0:
		atomic_fetch_add(&n_ok, 1);
		if (s->call.resp_len != sizeof(s->tag) || !s->call.resp ||
		    memcmp(s->call.resp, s->tag, sizeof(s->tag)) ||
		    (s->call.dest && s->call.resp != s->dest))
			atomic_fetch_add(&wrong_answers, 1);
		break;
	case -EINTR:
		atomic_fetch_add(&n_intr, 1);
		break;
	case -ETIMEDOUT:
		/* No deadline of ours: the receiver expired it. */
		atomic_fetch_add(deadline == UINT64_MAX ? &n_expired : &n_timedout, 1);
		break;
	case -ECONNRESET:
		atomic_fetch_add(&n_reset, 1);
		break;
	default:
		fprintf(stderr, "call ended with %s\n", strerror(-err));
		atomic_fetch_add(&wrong_answers, 1);
	}
	zc_call_free_resp(&s->call);
	retire(cl, s);
	return true;
}

static void *caller_run(void *arg)
{
	struct caller *cl = arg;

	while (one_call(cl))
		;
	return NULL;
}

static void round_once(unsigned seed, unsigned ms)
{
	struct caller cl[CALLERS];
	struct peer p = { .seed = seed };
	struct zc_conn *c;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		CHECK(!"socketpair");
		return;
	}
	c = zc_conn_from_fd(sv[0], "race");
	CHECK_NE(c, NULL);
	if (!c)
		return;
	p.fd = sv[1];
	pthread_create(&p.tid, NULL, peer_run, &p);
	for (int i = 0; i < CALLERS; i++) {
		cl[i] = (struct caller){ .conn = c, .id = i, .seed = seed * 31 + i };
		pthread_create(&cl[i].tid, NULL, caller_run, &cl[i]);
	}
	usleep(ms * 1000);
	atomic_store(&p.stop, true);	/* the connection dies under calls */
	pthread_join(p.tid, NULL);
	for (int i = 0; i < CALLERS; i++) {
		pthread_join(cl[i].tid, NULL);
		for (int j = 0; j < RING; j++)
			free(cl[i].ring[j]);
	}
	zc_conn_put(c);
}

int main(void)
{
	const char *env = getenv("ZCFS_RACE_SECONDS");
	uint64_t end = zc_now_ns() + (env ? atoi(env) : 4) * 1000000000ULL;
	unsigned seed = (unsigned)zc_now_ns(), rounds = 0;

	zc_log_init("test", ZC_LOG_ERR, NULL);
	fprintf(stderr, "seed %u\n", seed);
	srand(seed);
	while (zc_now_ns() < end) {
		round_once(seed + rounds, 50 + (unsigned)rand() % 600);
		rounds++;
	}
	usleep(100000);	/* let receiver threads drop their references */
	fprintf(stderr,
		"%u rounds, %ld calls: %ld answered, %ld withdrawn on stop, %ld at their "
		"deadline, %ld expired by the receiver, %ld reset; %ld stop checks\n",
		rounds, atomic_load(&n_started), atomic_load(&n_ok), atomic_load(&n_intr),
		atomic_load(&n_timedout), atomic_load(&n_expired), atomic_load(&n_reset),
		atomic_load(&n_withdraw_tries));
	CHECK_EQ(atomic_load(&late_dones), 0);
	CHECK_EQ(atomic_load(&wrong_answers), 0);
	CHECK_GT(atomic_load(&n_ok), 0);
	CHECK_GT(atomic_load(&n_intr), 0);
	CHECK_GT(atomic_load(&n_timedout), 0);
	CHECK_GT(atomic_load(&n_expired), 0);
	CHECK_GT(atomic_load(&n_reset), 0);
	return check_done();
}
