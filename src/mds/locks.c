// SPDX-License-Identifier: MIT
/*
 * Advisory locks, cluster-wide: flock(2) and fcntl(2) record locks.
 *
 * The store holds every granted lock as (ino, session, owner, kind, type,
 * lo, hi, pid), so locks survive an mds restart as they were.  An owner is
 * the client's FUSE lock owner within its session.  flock locks are whole
 * file and one per owner; POSIX locks are byte ranges, split and merged
 * per owner as fcntl does.  The two kinds never conflict with each other
 * (as on Linux).  A request that conflicts is answered ZC_ST_AGAIN at once:
 * a client that wants to wait asks again (no request sleeps in the mds).
 *
 * Runs under mds_lock, each change in one transaction.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "mds.h"

#define MAX_RANGES 1024		/* POSIX locks per owner and inode */

static bool overlap(const struct lk_range *a, const struct lk_range *b)
{
	return a->lo <= b->hi && b->lo <= a->hi;
}

/* Touching or overlapping: [0,4] and [5,9] merge into [0,9]. */
static bool touch(const struct lk_range *a, const struct lk_range *b)
{
	return (a->hi == INT64_MAX || a->hi + 1 >= b->lo) && (b->hi == INT64_MAX || b->hi + 1 >= a->lo);
}

static int by_lo(const void *x, const void *y)
{
	const struct lk_range *a = x, *b = y;

	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

int lk_apply(const struct lk_range *cur, int n, const struct lk_range *req, struct lk_range *out,
	     int max)
{
	int k = 0, m;

	for (int i = 0; i < n; i++) {
		const struct lk_range *r = &cur[i];

		if (!overlap(r, req)) {
			if (k == max)
				return -ENOLCK;
			out[k++] = *r;
			continue;
		}
		/* What sticks out on either side of the request stays. */
		if (r->lo < req->lo) {
			if (k == max)
				return -ENOLCK;
			out[k] = *r;
			out[k++].hi = req->lo - 1;
		}
		if (r->hi > req->hi) {
			if (k == max)
				return -ENOLCK;
			out[k] = *r;
			out[k++].lo = req->hi + 1;
		}
	}
	if (req->type != ZC_LK_UNLOCK) {
		if (k == max)
			return -ENOLCK;
		out[k++] = *req;
	}
	qsort(out, k, sizeof(*out), by_lo);
	/* Neighbours of one type become one range. */
	m = 0;
	for (int i = 0; i < k; i++) {
		if (m && out[m - 1].type == out[i].type && touch(&out[m - 1], &out[i])) {
			out[m - 1].hi = ZC_MAX(out[m - 1].hi, out[i].hi);
			out[m - 1].pid = out[i].pid;
			continue;
		}
		out[m++] = out[i];
	}
	return m;
}

/* The first lock of another owner that conflicts with req, if any. */
static int conflict(uint64_t ino, uint64_t session, uint64_t owner, int kind,
		    const struct lk_range *req, struct lk_range *found)
{
	sqlite3_stmt *q = mds_q("SELECT type, lo, hi, pid FROM lock WHERE ino=? AND kind=?"
				" AND NOT (session=? AND owner=?) AND lo<=? AND hi>=?"
				" AND (type=2 OR ?=2) ORDER BY lo LIMIT 1", "iiiiiii",
				(int64_t)ino, (int64_t)kind, (int64_t)session, (int64_t)owner,
				req->hi, req->lo, (int64_t)req->type);
	int rc;

	if (!q)
		return -EIO;
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW && found) {
		found->type = sqlite3_column_int64(q, 0);
		found->lo = sqlite3_column_int64(q, 1);
		found->hi = sqlite3_column_int64(q, 2);
		found->pid = sqlite3_column_int64(q, 3);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -EIO;
	return rc == SQLITE_ROW;
}

static int lock_set(uint64_t ino, uint64_t session, uint64_t owner, int kind,
		    const struct lk_range *req)
{
	struct lk_range *cur = NULL, *out = NULL;
	sqlite3_stmt *q;
	int n = 0, st = ZC_OK, k;

	if (req->type != ZC_LK_UNLOCK) {
		k = conflict(ino, session, owner, kind, req, NULL);
		if (k)
			return k < 0 ? ZC_ST_IO : ZC_ST_AGAIN;
	}
	if (kind == ZC_LK_FLOCK) {
		if (mds_run("DELETE FROM lock WHERE ino=? AND kind=1 AND session=? AND owner=?",
			    "iii", (int64_t)ino, (int64_t)session, (int64_t)owner))
			return ZC_ST_IO;
		if (req->type != ZC_LK_UNLOCK &&
		    mds_run("INSERT INTO lock(ino, session, owner, kind, type, lo, hi, pid)"
			    " VALUES(?, ?, ?, 1, ?, 0, ?, ?)", "iiiiii", (int64_t)ino,
			    (int64_t)session, (int64_t)owner, (int64_t)req->type, ZC_LK_EOF,
			    (int64_t)req->pid))
			return ZC_ST_IO;
		return ZC_OK;
	}
	cur = malloc(MAX_RANGES * sizeof(*cur));
	out = malloc((MAX_RANGES + 2) * sizeof(*out));
	if (!cur || !out) {
		st = ZC_ST_NOSPACE;
		goto out_free;
	}
	q = mds_q("SELECT type, lo, hi, pid FROM lock WHERE ino=? AND kind=0 AND session=?"
		  " AND owner=?", "iii", (int64_t)ino, (int64_t)session, (int64_t)owner);
	while (q && n < MAX_RANGES && sqlite3_step(q) == SQLITE_ROW) {
		cur[n].type = sqlite3_column_int64(q, 0);
		cur[n].lo = sqlite3_column_int64(q, 1);
		cur[n].hi = sqlite3_column_int64(q, 2);
		cur[n++].pid = sqlite3_column_int64(q, 3);
	}
	if (q)
		sqlite3_reset(q);
	k = lk_apply(cur, n, req, out, MAX_RANGES);
	if (k < 0) {
		st = ZC_ST_NOLCK;
		goto out_free;
	}
	if (mds_run("DELETE FROM lock WHERE ino=? AND kind=0 AND session=? AND owner=?", "iii",
		    (int64_t)ino, (int64_t)session, (int64_t)owner)) {
		st = ZC_ST_IO;
		goto out_free;
	}
	for (int i = 0; i < k && !st; i++)
		if (mds_run("INSERT INTO lock(ino, session, owner, kind, type, lo, hi, pid)"
			    " VALUES(?, ?, ?, 0, ?, ?, ?, ?)", "iiiiiii", (int64_t)ino,
			    (int64_t)session, (int64_t)owner, (int64_t)out[i].type, out[i].lo,
			    out[i].hi, (int64_t)out[i].pid))
			st = ZC_ST_IO;
out_free:
	free(cur);
	free(out);
	return st;
}

/* Decodes "type:8 lo:64 hi:64" into a range; refuses what fcntl would. */
static void get_range(struct zc_cur *in, struct lk_range *r)
{
	r->type = zc_get_u8(in);
	r->lo = (int64_t)zc_get_u64(in);
	r->hi = (int64_t)zc_get_u64(in);
	if (r->type > ZC_LK_WRITE || r->lo < 0 || r->hi < r->lo)
		in->err = true;
}

int mds_lock_handle(uint16_t type, uint64_t session, struct zc_cur *in, struct zc_cur *o)
{
	uint64_t ino = zc_get_u64(in), owner = zc_get_u64(in);
	struct lk_range r = { 0 }, found;
	uint8_t kind = ZC_LK_POSIX;
	int st, k;

	if (type == ZC_CLTOMA_LOCK) {
		r.pid = zc_get_u32(in);
		kind = zc_get_u8(in);
	}
	get_range(in, &r);
	if (in->err || kind > ZC_LK_FLOCK)
		return ZC_ST_INVAL;
	if (!mds_session_known(session))
		return ZC_ST_BADSESSION;
	if (type == ZC_CLTOMA_GETLK) {
		k = r.type == ZC_LK_UNLOCK ? 0 : conflict(ino, session, owner, ZC_LK_POSIX, &r,
							    &found);
		if (k < 0)
			return ZC_ST_IO;
		zc_put_u8(o, k);
		if (k) {
			zc_put_u8(o, found.type);
			zc_put_u64(o, found.lo);
			zc_put_u64(o, found.hi);
			zc_put_u32(o, found.pid);
		}
		return ZC_OK;
	}
	if (!mds_int(0, "SELECT count(*) FROM inode WHERE ino=?", "i", (int64_t)ino))
		return ZC_ST_NOENT;
	if (mds_begin())
		return ZC_ST_IO;
	st = lock_set(ino, session, owner, kind, &r);
	return mds_end(st) < 0 ? ZC_ST_IO : st;
}

int mds_locks_drop_session(uint64_t session)
{
	return mds_run("DELETE FROM lock WHERE session=?", "i", (int64_t)session);
}

int mds_locks_drop_ino(uint64_t ino)
{
	return mds_run("DELETE FROM lock WHERE ino=?", "i", (int64_t)ino);
}
