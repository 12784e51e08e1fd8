// SPDX-License-Identifier: MIT
/*
 * Cluster-wide locks: the range arithmetic of one owner's POSIX locks
 * (split, merge, replace), and the lock table of the mds on a real store:
 * conflicts between owners and sessions, byte ranges, F_GETLK, flock
 * apart from fcntl, release by owner, by session end and by expiry, and
 * locks that survive a restart.
 */
#include <errno.h>
#include <stdio.h>

#include "check.h"
#include "common/log.h"
#include "mds_util.h"

#define R ZC_LK_READ
#define W ZC_LK_WRITE
#define U ZC_LK_UNLOCK
#define EOF_ ZC_LK_EOF

static struct lk_range cur[16], out[16];
static int ncur;

/* Applies a request to cur; returns the new count (cur updated). */
static int apply(int type, int64_t lo, int64_t hi)
{
	struct lk_range req = { .lo = lo, .hi = hi, .type = type, .pid = 7 };
	int n = lk_apply(cur, ncur, &req, out, 16);

	if (n >= 0) {
		memcpy(cur, out, n * sizeof(*out));
		ncur = n;
	}
	return n;
}

static bool is(int i, int type, int64_t lo, int64_t hi)
{
	bool ok = i < ncur && cur[i].type == type && cur[i].lo == lo && cur[i].hi == hi;

	if (!ok)
		fprintf(stderr, "range %d: expected %d [%lld, %lld], got %d [%lld, %lld]\n", i, type,
			(long long)lo, (long long)hi, i < ncur ? cur[i].type : -1,
			i < ncur ? (long long)cur[i].lo : -1, i < ncur ? (long long)cur[i].hi : -1);
	return ok;
}

static void ranges(void)
{
	CHECK_EQ(apply(W, 10, 19), 1);
	CHECK(is(0, W, 10, 19));
	CHECK_EQ(apply(W, 20, 29), 1);		/* touching, same type: one */
	CHECK(is(0, W, 10, 29));
	CHECK_EQ(apply(U, 15, 24), 2);		/* a hole in the middle */
	CHECK(is(0, W, 10, 14));
	CHECK(is(1, W, 25, 29));
	CHECK_EQ(apply(R, 12, 26), 3);		/* another type over both */
	CHECK(is(0, W, 10, 11));
	CHECK(is(1, R, 12, 26));
	CHECK(is(2, W, 27, 29));
	CHECK_EQ(apply(R, 0, EOF_), 1);		/* everything, to the end */
	CHECK(is(0, R, 0, EOF_));
	CHECK_EQ(apply(U, 100, EOF_), 1);
	CHECK(is(0, R, 0, 99));
	CHECK_EQ(apply(W, 100, EOF_), 2);	/* touching, other type: two */
	CHECK(is(0, R, 0, 99));
	CHECK(is(1, W, 100, EOF_));
	CHECK_EQ(apply(U, 0, EOF_), 0);
	for (int i = 0; i < 8; i++)		/* every other byte */
		apply(W, 2 * i, 2 * i);
	CHECK_EQ(ncur, 8);
	for (int i = 8; i < 16; i++)
		apply(W, 2 * i, 2 * i);
	CHECK_EQ(ncur, 16);
	CHECK_EQ(apply(W, 100, 100), -ENOLCK);	/* past the table */
	CHECK_EQ(ncur, 16);
	CHECK_EQ(apply(W, 0, 31), 1);		/* and filled back in */
}

static int lock(uint64_t session, uint64_t owner, int kind, int type, int64_t lo, int64_t hi)
{
	struct treq *r = treq_new(session, 0);

	zc_put_u64(&r->c, ZC_ROOT_INO);
	zc_put_u64(&r->c, owner);
	zc_put_u32(&r->c, 1000 + owner);
	zc_put_u8(&r->c, kind);
	zc_put_u8(&r->c, type);
	zc_put_u64(&r->c, lo);
	zc_put_u64(&r->c, hi);
	return treq_send(r, ZC_CLTOMA_LOCK);
}

#define POSIX(s, o, t, lo, hi) lock(s, o, ZC_LK_POSIX, t, lo, hi)
#define FLOCK(s, o, t) lock(s, o, ZC_LK_FLOCK, t, 0, EOF_)

/* F_GETLK: 0 with *found filled, 1 if nothing conflicts, or -status. */
static int getlk(uint64_t session, uint64_t owner, int type, int64_t lo, int64_t hi,
		 struct lk_range *found)
{
	struct treq *r = treq_new(session, 0);
	struct zc_cur c;
	int st;

	zc_put_u64(&r->c, ZC_ROOT_INO);
	zc_put_u64(&r->c, owner);
	zc_put_u8(&r->c, type);
	zc_put_u64(&r->c, lo);
	zc_put_u64(&r->c, hi);
	if ((st = treq_send(r, ZC_CLTOMA_GETLK)))
		return -st;
	c = t_answer();
	if (!zc_get_u8(&c))
		return 1;
	found->type = zc_get_u8(&c);
	found->lo = zc_get_u64(&c);
	found->hi = zc_get_u64(&c);
	found->pid = zc_get_u32(&c);
	return c.err ? -ZC_ST_IO : 0;
}

static void table(void)
{
	uint64_t s1 = t_session_new("one"), s2 = t_session_new("two");
	struct lk_range f;

	CHECK(s1);
	CHECK(s2);
	CHECK_EQ(POSIX(999, 1, W, 0, 9), ZC_ST_BADSESSION);
	CHECK_EQ(POSIX(s1, 1, W, 0, 9), ZC_OK);
	CHECK_EQ(POSIX(s1, 1, W, 0, 9), ZC_OK);		/* a retry: the same */
	CHECK_EQ(POSIX(s2, 1, W, 5, 5), ZC_ST_AGAIN);	/* same owner id, other session */
	CHECK_EQ(POSIX(s1, 2, R, 9, 20), ZC_ST_AGAIN);	/* same session, other owner */
	CHECK_EQ(POSIX(s2, 1, R, 10, 20), ZC_OK);		/* next to it: no conflict */
	CHECK_EQ(POSIX(s1, 3, R, 15, 30), ZC_OK);		/* readers share */
	CHECK_EQ(POSIX(s1, 3, W, 15, 30), ZC_ST_AGAIN);	/* but not an upgrade */
	CHECK_EQ(getlk(s2, 9, W, 0, 100, &f), 0);
	CHECK_EQ(f.type, W);
	CHECK_EQ(f.lo, 0);
	CHECK_EQ(f.hi, 9);
	CHECK_EQ(f.pid, 1001);
	CHECK_EQ(getlk(s2, 9, R, 10, 100, &f), 1);	/* readers only there */
	CHECK_EQ(getlk(s1, 1, W, 0, 9, &f), 1);		/* its own lock */
	CHECK_EQ(getlk(s1, 1, W, 0, 12, &f), 0);
	CHECK_EQ(f.type, R);
	CHECK_EQ(f.lo, 10);
	CHECK_EQ(f.hi, 20);
	CHECK_EQ(f.pid, 1001);
	CHECK_EQ(POSIX(s1, 1, U, 0, 4), ZC_OK);		/* half of it goes */
	CHECK_EQ(POSIX(s2, 4, W, 0, 4), ZC_OK);
	CHECK_EQ(POSIX(s2, 4, W, 5, 5), ZC_ST_AGAIN);

	/* flock and fcntl locks live apart, as on Linux. */
	CHECK_EQ(FLOCK(s1, 5, W), ZC_OK);
	CHECK_EQ(FLOCK(s2, 6, R), ZC_ST_AGAIN);
	CHECK_EQ(FLOCK(s1, 5, R), ZC_OK);		/* downgrade */
	CHECK_EQ(FLOCK(s2, 6, R), ZC_OK);
	CHECK_EQ(FLOCK(s2, 6, W), ZC_ST_AGAIN);
	CHECK_EQ(FLOCK(s1, 5, U), ZC_OK);
	CHECK_EQ(FLOCK(s2, 6, W), ZC_OK);

	/* Locks are in the store: a restart keeps them. */
	CHECK(!t_store_restart());
	CHECK_EQ(POSIX(s2, 4, W, 5, 5), ZC_ST_AGAIN);
	CHECK_EQ(FLOCK(s1, 5, R), ZC_ST_AGAIN);

	/* A session that ends or expires loses them. */
	CHECK_EQ(treq_send(treq_new(s2, 0), ZC_CLTOMA_SESSION_END), ZC_OK);
	CHECK_EQ(FLOCK(s1, 5, W), ZC_OK);
	CHECK_EQ(POSIX(s1, 7, W, 0, EOF_), ZC_ST_AGAIN);	/* s1's own owner 1 and 3 */
	CHECK_EQ(POSIX(s1, 1, U, 0, EOF_), ZC_OK);
	CHECK_EQ(POSIX(s1, 3, U, 0, EOF_), ZC_OK);
	s2 = t_session_new("three");
	CHECK_EQ(POSIX(s1, 7, W, 0, EOF_), ZC_OK);
	CHECK_EQ(POSIX(s2, 1, R, 50, 60), ZC_ST_AGAIN);
	usleep(1100 * 1000);
	{
		struct treq *r = treq_new(s2, 0);

		zc_put_u64(&r->c, 0);
		zc_put_u8(&r->c, 0);
		zc_put_u32(&r->c, 0);
		CHECK_EQ(treq_send(r, ZC_CLTOMA_SESSION_RENEW), ZC_OK);
	}
	mds_sessions_tick();				/* s1 expired, s2 renewed */
	CHECK_EQ(POSIX(s2, 1, W, 50, 60), ZC_OK);

	/* Bad requests: inverted or negative ranges, unknown kinds. */
	CHECK_EQ(POSIX(s2, 1, W, 10, 5), ZC_ST_INVAL);
	CHECK_EQ(POSIX(s2, 1, W, -1, 5), ZC_ST_INVAL);
	CHECK_EQ(lock(s2, 1, 9, W, 0, 1), ZC_ST_INVAL);
	CHECK_EQ(POSIX(s2, 1, 3, 0, 1), ZC_ST_INVAL);
}

int main(void)
{
	zc_log_init("test", ZC_LOG_ERR, NULL);
	ranges();
	mds_lease_s = 1;
	if (t_store_open()) {
		fprintf(stderr, "cannot open a store in %s\n", t_dir);
		return 1;
	}
	table();
	t_store_remove();
	return check_done();
}
