// SPDX-License-Identifier: MIT
/*
 * Answers that wait for their commit (group commit, store.c) without
 * holding up their connection.
 *
 * A connection's requests are served in order by its thread, and a mount
 * sends all its metadata requests over one connection: if that thread
 * waited for each answer's commit before reading the next request, one
 * mount's parallel work (four untars) would get one fsync per change, as
 * before.  So an answer whose batch is not committed yet is held when the
 * next request is already there: the thread serves that one first (it
 * joins the same batch), and commits (or waits for the leader's commit)
 * once nothing more is waiting, MAX_HELD answers are held, or the oldest
 * has waited HOLD_NS; then it sends every held answer, ZC_ST_IO for those
 * whose batch failed.  Answers that depend on nothing uncommitted leave at
 * once, possibly before held ones: the client matches answers by xid.
 *
 * Held answers are the connection thread's own (thread-local): only it
 * sends on its connection.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "mds.h"
#include "rpc/rpc.h"

#define MAX_HELD 64
#define HOLD_NS 2000000ULL	/* the oldest held answer waits no longer for more requests */

struct held {
	struct zc_hdr h;
	int st;
	uint64_t epoch;
	uint32_t len;
	uint8_t *p;
};

static __thread struct held held[MAX_HELD];
static __thread int nheld;
static __thread uint64_t held_since;	/* monotonic ns the oldest was held */

/* Sends held answers whose batch ended (all of them if all): committed as
 * they were, failed as ZC_ST_IO.  Returns 0 or the first send error. */
static int send_held(struct zc_srv_conn *c, bool all)
{
	uint64_t done = mds_committed_epoch();
	int err = 0, kept = 0;

	for (int i = 0; i < nheld; i++) {
		struct held *a = &held[i];

		if (!all && a->epoch > done) {
			held[kept++] = *a;
			continue;
		}
		/* Ended: this answers at once, with its batch's fate. */
		if (mds_commit_wait(a->epoch))
			a->st = ZC_ST_IO;
		if (!err)
			err = zc_srv_reply(c, &a->h, a->st, a->p, a->st ? 0 : a->len);
		free(a->p);
	}
	nheld = kept;
	return err;
}

/* Waits for every held answer's batch, then sends them all. */
static int flush(struct zc_srv_conn *c)
{
	uint64_t last = 0;

	for (int i = 0; i < nheld; i++)
		last = ZC_MAX(last, held[i].epoch);
	mds_commit_wait(last);	/* each one's fate is asked again when sent */
	return send_held(c, true);
}

/* Is another request already waiting on the connection? */
static bool more_to_read(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0;
}

int mds_reply(struct zc_srv_conn *c, const struct zc_hdr *h, int st, const void *p, uint32_t len)
{
	uint64_t e = mds_request_epoch();
	struct held *a;
	int err;

	if (nheld && (err = send_held(c, false)))
		return err;
	if (!e)		/* it saw nothing uncommitted */
		return zc_srv_reply(c, h, st, p, len);
	if (nheld < MAX_HELD && (!nheld || zc_now_ns() - held_since < HOLD_NS) &&
	    more_to_read(c->fd)) {
		a = &held[nheld];
		*a = (struct held){ .h = *h, .st = st, .epoch = e, .len = st ? 0 : len };
		if (!a->len || (a->p = malloc(a->len))) {
			if (a->len)
				memcpy(a->p, p, a->len);
			if (!nheld++)
				held_since = zc_now_ns();
			return 0;
		}
	}
	if ((err = flush(c)))
		return err;
	if (mds_commit_wait(e))
		st = ZC_ST_IO;
	return zc_srv_reply(c, h, st, p, st ? 0 : len);
}

void mds_reply_close(struct zc_srv_conn *c)
{
	/* The peer may be gone, but what its answers said goes to disk now,
	 * not whenever someone else commits. */
	flush(c);
}
