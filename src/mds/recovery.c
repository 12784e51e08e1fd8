// SPDX-License-Identifier: MIT
/*
 * Replica sets, versions and re-replication.
 *
 * The replica rows of a chunk say which copies are current; the version is
 * a fence.  Whenever the set shrinks (a replica missed a write, served bad
 * data, or its server is gone past the grace period) the survivors move to
 * a new version: a client holding the old layout is refused (ESTALE) and
 * asks again, and a dropped replica can never be taken for current.
 *
 * A copy to a new replica runs with the chunk marked busy: the mds answers
 * writers "again" until the copy is in the set, so that no write can land
 * on the old replicas only while the new one is being filled.  Readers are
 * not held up.  Network calls are made without mds_lock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/pack.h"
#include "common/util.h"
#include "mds.h"
#include "rpc/rpc.h"

#define MAX_BUSY 64
#define COPIES_PER_ROUND 4
#define FULL_SCAN_NS (5ULL * 1000000000ULL)

struct recovery_stats mds_rec;
unsigned mds_grace_s = 10;
unsigned mds_recovery_rate = 256;

static uint64_t busy[MAX_BUSY];
static int nbusy;
static pthread_mutex_t kick_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t kick_cv = PTHREAD_COND_INITIALIZER;
static bool kicked;

bool chunk_busy(uint64_t id)
{
	for (int i = 0; i < nbusy; i++)
		if (busy[i] == id)
			return true;
	return false;
}

static void busy_del(uint64_t id)
{
	for (int i = 0; i < nbusy; i++)
		if (busy[i] == id) {
			busy[i] = busy[--nbusy];
			return;
		}
}

void mds_recovery_kick(void)
{
	pthread_mutex_lock(&kick_lock);
	kicked = true;
	pthread_cond_signal(&kick_cv);
	pthread_mutex_unlock(&kick_lock);
}

/* One order to a chunk server.  Returns 0 or -errno; frees the answer
 * unless resp is wanted (then the caller frees call->resp). */
static int order(const struct zc_replica *r, uint16_t type, const void *args, size_t len,
		 uint32_t timeout_ms, struct zc_call *call)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(r->port) };
	struct zc_call local;
	struct zc_conn *conn;
	int err;

	if (!call)
		call = &local;
	memset(call, 0, sizeof(*call));
	call->type = type;
	call->req[0] = (struct iovec){ (void *)args, len };
	call->timeout_ms = timeout_ms;
	sa.sin_addr.s_addr = r->ip;
	conn = zc_conn_get(&sa, &err);
	if (!conn)
		return err;
	err = zc_call_sync(conn, call);
	zc_conn_put(conn);
	if (call == &local)
		zc_call_free_resp(call);
	return err;
}

/* Drops a replica from its chunk's set, unless it is the last one: a copy
 * with one bad block still holds the rest of the chunk.  Returns a
 * zc_status; *kept tells whether it stayed. */
static int drop_replica_or_keep(uint64_t id, uint32_t cs, bool *kept)
{
	*kept = mds_int(0, "SELECT count(*) FROM replica WHERE chunk=? AND cs<>?", "ii",
			(int64_t)id, (int64_t)cs) == 0;
	if (*kept) {
		zc_warn("mds: chunk %016" PRIx64 ": keeping the replica on chunk server %u, the"
			" last one", id, cs);
		return ZC_OK;
	}
	/* Versioned: a fresh copy made later on the same server is not hit. */
	if (mds_run("INSERT OR REPLACE INTO gc(chunk, cs, version) VALUES(?1, ?2,"
		    " (SELECT version FROM chunk WHERE id=?1))", "ii", (int64_t)id, (int64_t)cs) ||
	    mds_run("DELETE FROM replica WHERE chunk=? AND cs=?", "ii", (int64_t)id, (int64_t)cs))
		return ZC_ST_IO;
	return ZC_OK;
}

static int drop_replica(uint64_t id, uint32_t cs)
{
	bool kept;

	return drop_replica_or_keep(id, cs, &kept);
}

int mds_replica_bad(uint64_t id, uint32_t cs)
{
	bool kept;
	int st;

	if (mds_begin())
		return ZC_ST_IO;
	st = drop_replica_or_keep(id, cs, &kept);
	if (mds_end(st))
		return ZC_ST_IO;
	if (!kept)
		zc_warn("mds: chunk %016" PRIx64 ": replica on chunk server %u is damaged;"
			" dropped", id, cs);
	mds_recovery_kick();
	return ZC_OK;
}

/* Chunk id's row: ino, idx, version.  Returns false if it is gone. */
static bool chunk_row(uint64_t id, uint64_t *ino, uint32_t *idx, uint32_t *version)
{
	sqlite3_stmt *q = mds_q("SELECT ino, idx, version FROM chunk WHERE id=?", "i",
				(int64_t)id);
	bool found = q && sqlite3_step(q) == SQLITE_ROW;

	if (found) {
		*ino = sqlite3_column_int64(q, 0);
		*idx = sqlite3_column_int64(q, 1);
		*version = sqlite3_column_int64(q, 2);
	}
	if (q)
		sqlite3_reset(q);
	return found;
}

/* Moves a chunk's set to version+1 in the store (mds_lock held) and
 * returns the up members to tell, in *to. */
static int bump(uint64_t ino, uint32_t idx, uint64_t id, uint32_t version, struct zc_loc *to)
{
	if (mds_run("UPDATE chunk SET version=? WHERE id=?", "ii", (int64_t)version + 1,
		    (int64_t)id))
		return ZC_ST_IO;
	return load_loc(ino, idx, to);
}

/* Tells the members their new version (no lock held); drops those that do
 * not take it (never the last): they keep the old version and must not
 * count as current. */
static void tell_version(const struct zc_loc *l, uint32_t old)
{
	uint8_t args[16];
	struct zc_cur c = zc_cur_init(args, sizeof(args));

	zc_put_u64(&c, l->id);
	zc_put_u32(&c, old);
	zc_put_u32(&c, l->version);
	for (int i = 0; i < l->nrep; i++) {
		int err;

		/* Every member, even one that looks down: a member left at the old
		 * version would refuse every write from now on. */
		err = order(&l->rep[i], ZC_MATOCS_SETVERSION, args, c.pos, 5000, NULL);
		if (!err)
			continue;
		zc_warn("mds: chunk %016" PRIx64 ": chunk server %u missed version %u (%s);"
			" dropping its replica", l->id, l->rep[i].cs_id, l->version, strerror(-err));
		pthread_mutex_lock(&mds_lock);
		if (!mds_begin())
			mds_end(drop_replica(l->id, l->rep[i].cs_id));
		pthread_mutex_unlock(&mds_lock);
	}
}

int mds_chunk_failed(uint64_t ino, uint32_t idx, uint64_t id, uint32_t version,
		     const uint32_t *cs, int n, int reason, struct zc_loc *out, uint64_t *size)
{
	struct zc_loc l;
	struct zc_attr a;
	uint64_t rino;
	uint32_t ridx, v;
	int st = ZC_OK, dropped = 0;

	pthread_mutex_lock(&mds_lock);
	if (chunk_busy(id)) {
		/* Being copied: writers wait (a layout handed out now would let
		 * writes miss the copy). */
		st = ZC_ST_AGAIN;
		goto out_unlock;
	}
	if (chunk_row(id, &rino, &ridx, &v) && rino == ino && ridx == idx && v == version) {
		if (mds_begin()) {
			st = ZC_ST_IO;
			goto out_unlock;
		}
		for (int i = 0; i < n && !st; i++) {
			struct cs_info *s = cs_find(cs[i]);

			/* "Unreachable" from one client while the server heartbeats
			 * is not enough to throw a replica away. */
			bool kept;

			if (reason == 2 && s && cs_up(s))
				continue;
			st = drop_replica_or_keep(id, cs[i], &kept);
			if (kept)
				continue;
			dropped++;
			zc_warn("mds: chunk %016" PRIx64 ": dropped replica on chunk server %u (%s)",
				id, cs[i], reason == 0 ? "missed a write" :
				reason == 1 ? "bad data" : "unreachable");
		}
		if (!st && dropped)
			st = bump(ino, idx, id, version, &l);
		if (mds_end(st)) {
			st = ZC_ST_IO;
			goto out_unlock;
		}
	}
	pthread_mutex_unlock(&mds_lock);
	if (dropped) {
		tell_version(&l, version);
		mds_recovery_kick();
	}
	pthread_mutex_lock(&mds_lock);
	if (!(st = get_attr(ino, &a)))
		st = load_loc(ino, idx, out);
	*size = a.size;
out_unlock:
	pthread_mutex_unlock(&mds_lock);
	return st;
}

/* ---- the recovery thread ---- */

/* Copies one under-replicated chunk to one more server.  Returns true if
 * a copy was made. */
static bool copy_one(uint64_t id)
{
	struct cs_info *t[1];
	struct zc_loc l;
	struct zc_replica target, src = { 0 };
	uint64_t ino;
	uint32_t idx, v;
	uint8_t args[32];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	bool have_src = false;
	int err, st;

	pthread_mutex_lock(&mds_lock);
	if (!chunk_row(id, &ino, &idx, &v) || chunk_busy(id) || nbusy == MAX_BUSY ||
	    load_loc(ino, idx, &l) || pick_servers(t, 1, &l) != 1)
		goto out_unlock;
	for (int i = 0; i < l.nrep && !have_src; i++) {
		struct cs_info *s = cs_find(l.rep[i].cs_id);

		if (s && cs_up(s)) {
			src = l.rep[i];
			have_src = true;
		}
	}
	if (!have_src || mds_begin())
		goto out_unlock;
	st = bump(ino, idx, id, v, &l);
	if (mds_end(st))
		goto out_unlock;
	busy[nbusy++] = id;
	target = (struct zc_replica){ t[0]->id, t[0]->ip, t[0]->port };
	t[0]->nchunks++;
	pthread_mutex_unlock(&mds_lock);

	/* Fence writers holding the old layout, then copy. */
	tell_version(&l, v);
	zc_put_u64(&c, id);
	zc_put_u32(&c, v + 1);
	zc_put_bytes(&c, &src.ip, 4);
	zc_put_u16(&c, src.port);
	zc_put_u32(&c, mds_recovery_rate);
	/* 64 MiB at the default rate takes a quarter second: a copy still
	 * running after 30 s is stuck (seen, cause not found yet) and is given
	 * up, so that recovery moves on and tries again. */
	err = order(&target, ZC_MATOCS_REPLICATE, args, c.pos, 30000, NULL);

	pthread_mutex_lock(&mds_lock);
	if (!err && !(chunk_row(id, &ino, &idx, &v) && v == l.version))
		err = -ESTALE;	/* deleted or moved on meanwhile */
	if (!err && (mds_begin() ||
		     mds_end(mds_run("INSERT OR IGNORE INTO replica(chunk, cs) VALUES(?, ?)",
				     "ii", (int64_t)id, (int64_t)target.cs_id) ||
			     mds_run("DELETE FROM gc WHERE chunk=? AND cs=?", "ii", (int64_t)id,
				     (int64_t)target.cs_id))))
		err = -EIO;
	busy_del(id);
	if (err)
		mds_rec.copies_failed++;
	else
		mds_rec.copies_done++;
	pthread_mutex_unlock(&mds_lock);
	if (err) {
		uint8_t del[8];
		struct zc_cur d = zc_cur_init(del, sizeof(del));

		zc_put_u64(&d, id);
		order(&target, ZC_MATOCS_DELETE, del, d.pos, 5000, NULL);
	}
	zc_info("mds: chunk %016" PRIx64 " v%u copied from chunk server %u to %u: %s", id,
		l.version, src.cs_id, target.cs_id, err ? strerror(-err) : "done");
	return !err;
out_unlock:
	pthread_mutex_unlock(&mds_lock);
	return false;
}

/* Servers down past the grace period lose their replicas. */
static void expire_servers(void)
{
	uint64_t now = zc_now_ns();

	for (int i = 0; i < ncs; i++) {
		struct cs_info *cs = &css[i];
		int64_t n;

		if (cs_up(cs)) {
			cs->down_since = 0;
			continue;
		}
		if (!cs->down_since) {
			cs->down_since = now;
			if (cs->last_hb)
				zc_warn("mds: chunk server %u stopped heartbeating", cs->id);
			continue;
		}
		if (now - cs->down_since < (uint64_t)mds_grace_s * 1000000000ULL)
			continue;
		/* Replicas with a copy elsewhere go; a last copy stays, so that the
		 * data is back when its server is. */
		n = mds_int(0, "SELECT count(*) FROM replica r WHERE cs=?1 AND EXISTS (SELECT 1"
			    " FROM replica o WHERE o.chunk=r.chunk AND o.cs<>?1)", "i",
			    (int64_t)cs->id);
		if (!n || mds_begin())
			continue;
		if (mds_end(mds_run("INSERT OR REPLACE INTO gc(chunk, cs, version) SELECT r.chunk,"
				    " r.cs, c.version FROM replica r JOIN chunk c ON c.id=r.chunk"
				    " WHERE r.cs=?1 AND EXISTS (SELECT 1 FROM replica o"
				    " WHERE o.chunk=r.chunk AND o.cs<>?1)", "i", (int64_t)cs->id) ||
			    mds_run("DELETE FROM replica WHERE cs=?1 AND EXISTS (SELECT 1 FROM"
				    " replica o WHERE o.chunk=replica.chunk AND o.cs<>?1)", "i",
				    (int64_t)cs->id)))
			continue;
		zc_warn("mds: chunk server %u down for %u s: its %lld replicas are dropped and will"
			" be copied elsewhere", cs->id, mds_grace_s, (long long)n);
	}
}

/* Counts replicas of every chunk; trims extras; picks chunks to copy. */
static int scan(uint64_t *todo, int max)
{
	struct recovery_stats r = { .copies_done = mds_rec.copies_done,
				    .copies_failed = mds_rec.copies_failed };
	sqlite3_stmt *q = mds_q("SELECT c.id, c.ino, c.idx, i.size, i.goal FROM chunk c"
				" JOIN inode i ON i.ino = c.ino ORDER BY c.id", "");
	int n = 0;

	while (q && sqlite3_step(q) == SQLITE_ROW) {
		uint64_t id = sqlite3_column_int64(q, 0), ino = sqlite3_column_int64(q, 1);
		uint32_t idx = sqlite3_column_int64(q, 2);
		uint64_t size = sqlite3_column_int64(q, 3);
		uint64_t len = size > (uint64_t)idx * ZC_CHUNK_SIZE ?
			ZC_MIN(ZC_CHUNK_SIZE, size - (uint64_t)idx * ZC_CHUNK_SIZE) : 0;
		unsigned goal = goal_of(sqlite3_column_int64(q, 4)), good = 0;
		struct zc_loc l;

		if (load_loc(ino, idx, &l))
			continue;
		for (int i = 0; i < l.nrep; i++) {
			struct cs_info *cs = cs_find(l.rep[i].cs_id);

			good += cs && cs_up(cs);
		}
		if (!good)
			r.bad++;
		if (good < goal) {
			r.under_replicated++;
			r.bytes_left += (goal - good) * len;
			if (good && n < max && !chunk_busy(id))
				todo[n++] = id;
		} else if (l.nrep > goal && !chunk_busy(id)) {
			/* A goal went down: drop the extras, down ones first. */
			int extra = l.nrep - goal;

			for (int pass = 0; pass < 2 && extra; pass++)
				for (int i = l.nrep - 1; i >= 0 && extra; i--) {
					struct cs_info *cs = cs_find(l.rep[i].cs_id);
					bool up = cs && cs_up(cs);

					if ((pass == 0 && up) || (pass == 1 && !up) ||
					    (up && good <= goal))
						continue;
					if (mds_begin() || mds_end(drop_replica(id, l.rep[i].cs_id)))
						continue;
					extra--;
					good -= up;
				}
		}
	}
	if (q)
		sqlite3_reset(q);
	mds_rec = r;
	return n;
}

static void *recovery_thread(void *arg)
{
	uint64_t last_scan = 0;

	(void)arg;
	for (;;) {
		uint64_t todo[COPIES_PER_ROUND];
		struct timespec ts;
		bool kick;
		int n = 0;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_mutex_lock(&kick_lock);
		if (!kicked)
			pthread_cond_timedwait(&kick_cv, &kick_lock, &ts);
		kick = kicked;
		kicked = false;
		pthread_mutex_unlock(&kick_lock);

		pthread_mutex_lock(&mds_lock);
		expire_servers();
		if (kick || mds_rec.under_replicated || zc_now_ns() - last_scan > FULL_SCAN_NS) {
			n = scan(todo, COPIES_PER_ROUND);
			last_scan = zc_now_ns();
		}
		pthread_mutex_unlock(&mds_lock);
		bool progress = false;

		for (int i = 0; i < n; i++)
			progress |= copy_one(todo[i]);
		if (progress)
			mds_recovery_kick();	/* more may be waiting */
	}
	return NULL;
}

int mds_recovery_start(void)
{
	return zc_thread_start(recovery_thread, NULL);
}
