// SPDX-License-Identifier: MIT
/*
 * The mds's sessions, open files and orphans, on a real store: a file
 * unlinked or renamed over while open keeps its data until the last
 * release, the session's end or expiry, or (after a restart) the grace
 * period without a declaration (which ends once every session declared); retried namespace changes run once;
 * "." and ".." are refused as Linux refuses them; O_TRUNC and O_APPEND.
 */
#include <stdio.h>

#include "check.h"
#include "common/log.h"
#include "mds_util.h"

/* Straight from the store: whatever session is there or not. */
static int getattr(uint64_t ino, struct zc_attr *a)
{
	int st;

	pthread_mutex_lock(&mds_lock);
	st = get_attr(ino, a);
	pthread_mutex_unlock(&mds_lock);
	return st;
}

static bool exists(uint64_t ino)
{
	struct zc_attr a;

	return getattr(ino, &a) == ZC_OK;
}

static int release(uint64_t session, uint64_t ino, uint64_t handle, uint64_t size)
{
	return t_release(session, ino, handle, size, size ? ZC_REL_SIZE : 0);
}

/* Renews; with n > 0 declares those (handle, ino) pairs as open for
 * reading and writing. */
static int renew(uint64_t session, int n, const uint64_t *pairs)
{
	struct treq *r = treq_new(session, 0);

	zc_put_u64(&r->c, 0);
	zc_put_u8(&r->c, n > 0);
	zc_put_u32(&r->c, n);
	for (int i = 0; i < n; i++) {
		zc_put_u64(&r->c, pairs[2 * i]);
		zc_put_u64(&r->c, pairs[2 * i + 1]);
		zc_put_u8(&r->c, ZC_OPEN_READ | ZC_OPEN_WRITE);
	}
	return treq_send(r, ZC_CLTOMA_SESSION_RENEW);
}

static uint64_t append(uint64_t session, uint64_t ino, uint32_t len)
{
	struct treq *r = treq_new(session, 0);
	struct zc_cur c;

	zc_put_u64(&r->c, ino);
	zc_put_u32(&r->c, len);
	if (treq_send(r, ZC_CLTOMA_APPEND))
		return UINT64_MAX;
	c = t_answer();
	return zc_get_u64(&c);
}

static int setsize(uint64_t session, uint64_t ino, uint64_t size)
{
	struct treq *r = treq_new(session, 0);

	zc_put_u64(&r->c, ino);
	zc_put_u64(&r->c, size);
	zc_put_u64(&r->c, 1700000000);
	zc_put_u32(&r->c, 0);
	return treq_send(r, ZC_CLTOMA_SETSIZE);
}

/* Each change a new sequence number, except where a retry is meant. */
static uint64_t seq_counter = 100;
#define SEQ (++seq_counter)

int main(void)
{
	struct zc_attr a;
	uint64_t s1, s2, f, g, h, k, x, z, r1, r2;
	int st;

	zc_log_init("test", ZC_LOG_ERR, NULL);
	mds_lease_s = 1;
	if (t_store_open()) {
		fprintf(stderr, "cannot open a store in %s\n", t_dir);
		return 1;
	}
	s1 = t_session_new("client-1");
	s2 = t_session_new("client-2");
	CHECK(s1);
	CHECK(s2);
	CHECK_NE(s1, s2);
	CHECK_EQ(mds_session_count(), 2);
	CHECK_EQ(t_open(999, ZC_ROOT_INO, 1, 0), ZC_ST_BADSESSION);

	/* Unlinked by another client while open: kept until released. */
	f = t_create(s1, SEQ, 100, "f", &st);
	CHECK_EQ(st, ZC_OK);
	CHECK_EQ(mds_open_count(), 1);
	CHECK_EQ(t_name_op(ZC_CLTOMA_UNLINK, s2, SEQ, "f"), ZC_OK);
	CHECK_EQ(getattr(f, &a), ZC_OK);
	CHECK_EQ(a.nlink, 0);
	CHECK_EQ(t_name_op(ZC_CLTOMA_LOOKUP, s1, 0, "f"), ZC_ST_NOENT);
	CHECK_EQ(release(s1, f, 100, 4096), ZC_OK);	/* with a size: still freed */
	CHECK(!exists(f));
	CHECK_EQ(mds_open_count(), 0);

	/* Not open: freed at once.  Open twice: freed at the second release. */
	g = t_create(s1, SEQ, 101, "g", &st);
	CHECK_EQ(release(s1, g, 101, 0), ZC_OK);
	CHECK_EQ(t_name_op(ZC_CLTOMA_UNLINK, s1, SEQ, "g"), ZC_OK);
	CHECK(!exists(g));
	g = t_create(s1, SEQ, 102, "g", &st);
	CHECK_EQ(t_open(s2, g, 200, 0), ZC_OK);
	CHECK_EQ(t_name_op(ZC_CLTOMA_UNLINK, s1, SEQ, "g"), ZC_OK);
	CHECK_EQ(release(s1, g, 102, 0), ZC_OK);
	CHECK(exists(g));
	CHECK_EQ(release(s2, g, 200, 0), ZC_OK);
	CHECK(!exists(g));

	/* Renamed over while open. */
	h = t_create(s1, SEQ, 103, "h", &st);
	k = t_create(s2, SEQ, 201, "k", &st);
	CHECK_EQ(t_rename(s2, SEQ, "k", "h"), ZC_OK);
	CHECK(exists(h));
	CHECK_EQ(getattr(h, &a), ZC_OK);
	CHECK_EQ(a.nlink, 0);
	CHECK_EQ(release(s1, h, 103, 0), ZC_OK);
	CHECK(!exists(h));
	CHECK_EQ(release(s2, k, 201, 0), ZC_OK);
	CHECK(exists(k));

	/* A retried change runs once: the same answer, not EEXIST/ENOENT. */
	CHECK_EQ(t_name_op(ZC_CLTOMA_LOOKUP, s1, 0, "h"), ZC_OK);
	r1 = t_create(s1, 7, 104, "r", &st);
	CHECK_EQ(st, ZC_OK);
	r2 = t_create(s1, 7, 104, "r", &st);
	CHECK_EQ(st, ZC_OK);
	CHECK_EQ(r1, r2);
	t_create(s1, SEQ, 105, "r", &st);
	CHECK_EQ(st, ZC_ST_EXIST);
	CHECK_EQ(t_name_op(ZC_CLTOMA_UNLINK, s1, 9, "r"), ZC_OK);
	CHECK_EQ(t_name_op(ZC_CLTOMA_UNLINK, s1, 9, "r"), ZC_OK);
	CHECK_EQ(t_name_op(ZC_CLTOMA_UNLINK, s1, SEQ, "r"), ZC_ST_NOENT);
	CHECK_EQ(release(s1, r1, 104, 0), ZC_OK);
	CHECK(!exists(r1));

	/* "." and "..": as Linux answers mkdir, unlink, rmdir, rename. */
	t_create(s1, SEQ, 106, ".", &st);
	CHECK_EQ(st, ZC_ST_EXIST);
	t_create(s1, SEQ, 106, "..", &st);
	CHECK_EQ(st, ZC_ST_EXIST);
	CHECK_EQ(t_name_op(ZC_CLTOMA_UNLINK, s1, SEQ, "."), ZC_ST_ISDIR);
	CHECK_EQ(t_name_op(ZC_CLTOMA_RMDIR, s1, SEQ, "."), ZC_ST_INVAL);
	CHECK_EQ(t_name_op(ZC_CLTOMA_RMDIR, s1, SEQ, ".."), ZC_ST_NOTEMPTY);
	CHECK_EQ(t_rename(s1, SEQ, "k", ".."), ZC_ST_BUSY);
	CHECK_EQ(t_rename(s1, SEQ, ".", "k2"), ZC_ST_BUSY);
	CHECK_EQ(mds_open_count(), 0);

	/* O_TRUNC at open; appends get consecutive places. */
	CHECK_EQ(t_open(s1, k, 111, ZC_OPEN_WRITE), ZC_OK);
	CHECK_EQ(setsize(s1, k, 100000), ZC_OK);
	CHECK_EQ(release(s1, k, 111, 0), ZC_OK);
	CHECK_EQ(t_open(s1, k, 107, ZC_OPEN_TRUNC | ZC_OPEN_WRITE), ZC_OK);
	CHECK_EQ(getattr(k, &a), ZC_OK);
	CHECK_EQ(a.size, 0);
	CHECK_EQ(append(s1, k, 10), 0);
	CHECK_EQ(append(s1, k, 7), 10);
	CHECK_EQ(getattr(k, &a), ZC_OK);
	CHECK_EQ(a.size, 17);
	CHECK_EQ(release(s1, k, 107, 0), ZC_OK);
	CHECK_EQ(append(s1, k, 1), UINT64_MAX);	/* no longer open */
	CHECK_EQ(append(s1, ZC_ROOT_INO, 1), UINT64_MAX);	/* not a file */

	/* Expiry: the session that stops renewing loses its orphans. */
	x = t_create(s2, SEQ, 202, "x", &st);
	CHECK_EQ(t_name_op(ZC_CLTOMA_UNLINK, s1, SEQ, "x"), ZC_OK);
	CHECK(exists(x));
	usleep(1100 * 1000);
	CHECK_EQ(renew(s1, 0, NULL), ZC_OK);
	mds_sessions_tick();
	CHECK_EQ(mds_session_count(), 1);
	CHECK(!exists(x));
	CHECK_EQ(renew(s2, 0, NULL), ZC_ST_BADSESSION);

	/* Restart: sessions come back from the store; an orphan declared
	 * again survives the grace period, one not declared is freed. */
	x = t_create(s1, SEQ, 108, "x", &st);
	z = t_create(s1, SEQ, 109, "z", &st);
	CHECK_EQ(t_name_op(ZC_CLTOMA_UNLINK, s1, SEQ, "x"), ZC_OK);
	CHECK_EQ(t_name_op(ZC_CLTOMA_UNLINK, s1, SEQ, "z"), ZC_OK);
	CHECK(!t_store_restart());
	CHECK_EQ(mds_session_count(), 1);
	CHECK_EQ(mds_open_count(), 0);
	CHECK(mds_in_grace());
	mds_sessions_tick();
	CHECK(exists(x));
	CHECK(exists(z));
	/* Every session from before has declared: the grace ends early. */
	CHECK_EQ(renew(s1, 1, (uint64_t[]){ 108, x }), ZC_OK);
	mds_sessions_tick();
	CHECK(!mds_in_grace());
	CHECK(exists(x));
	CHECK(!exists(z));
	CHECK_EQ(release(s1, x, 108, 0), ZC_OK);
	CHECK(!exists(x));

	/* A session's end releases what it held. */
	x = t_create(s1, SEQ, 110, "x", &st);
	CHECK_EQ(t_name_op(ZC_CLTOMA_UNLINK, s1, SEQ, "x"), ZC_OK);
	CHECK_EQ(treq_send(treq_new(s1, 0), ZC_CLTOMA_SESSION_END), ZC_OK);
	CHECK(!exists(x));
	CHECK_EQ(mds_session_count(), 0);
	t_store_remove();
	return check_done();
}
