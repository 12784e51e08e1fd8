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
 * not held up.  Network calls are made without mds_lock, and only once
 * the store has what they say on disk (mds_sync: group commit).
 *
 * Chunks that need work (too few good replicas, too many, being copied)
 * are kept in a work table, fed by the events that cause them: replicas
 * dropped (a failed write, bad data, a missed version, a server past its
 * grace period), a server going down (its chunks, by the replica_cs index),
 * a server coming back (chunks waiting for one are looked at again), a goal
 * change, a REPORT that fixes a version.  The recovery thread looks at the
 * queued chunks a page at a time, with mds_lock released between pages, and
 * starts copies in threads of their own.  A slow walk over every chunk, a
 * page at a time by chunk id, catches what no event announced (a chunk
 * allocated on fewer servers than its goal, a new server raising goals).
 *
 * The status figures (mds_rec.under_replicated, bad, bytes_left) are kept
 * incrementally: every chunk that is not healthy is in the work table and
 * carries its share of them; a chunk found healthy leaves the table and
 * takes its share along.  A chunk is only in the figures once it was
 * looked at, by an event or by the walk.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/pack.h"
#include "common/util.h"
#include "mds.h"
#include "rpc/rpc.h"

#define MAX_BUSY 64
#define MAX_COPIES 4			/* copies running at once */
#define STEP 512			/* chunks looked at per page under mds_lock */
#define WALK_STEP_MS 100		/* between two pages of the walk */
#define WALK_EVERY_NS (5ULL * 1000000000ULL)	/* between two walk starts */
#define FIRST_WALK_NS (2ULL * 1000000000ULL)	/* after the start */
#define RETRY_NS (2ULL * 1000000000ULL)	/* after a failed copy */
#define IDLE_MS 1000

struct recovery_stats mds_rec;
unsigned mds_grace_s = 10;
unsigned mds_recovery_rate = 256;
unsigned mds_copy_timeout_ms;

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

/* ---- the work table (mds_lock held) ---- */

enum wstate {
	W_READY = 1,	/* in the ready queue: to be looked at */
	W_COPY,		/* in the copy queue: wants one more replica */
	W_BUSY,		/* being copied: looked at again when the copy ends */
	W_RETRY,	/* a copy failed: in the retry queue until retry_at */
	W_PARKED,	/* nothing to do now (no source, no target): a server
			   coming back, or the walk, looks at it again */
};

struct work {
	uint64_t id;		/* 0: a free slot */
	uint64_t bytes;		/* its share of mds_rec.bytes_left */
	uint64_t retry_at;
	uint32_t pass;		/* the walk's pass when it was last looked at */
	uint8_t state;
	bool under, bad;	/* its share of the other two figures */
};

/* Open addressing, linear probing, at most half full. */
static struct work *wt;
static size_t wcap, wn;

/* Queues of chunk ids; an id whose entry has moved to another state since
 * it was queued is skipped when it comes out. */
struct fifo {
	uint64_t *v;
	size_t cap, head, n;
};
static struct fifo readyq, copyq, retryq;
static int ncopies;
static uint64_t walk_cursor, walk_next, walk_step_at;
static uint32_t walk_pass;
static bool walking;

static size_t slot_of(uint64_t id)
{
	return (id * 0x9e3779b97f4a7c15ULL) >> 17 & (wcap - 1);
}

static struct work *work_find(uint64_t id)
{
	if (!wcap)
		return NULL;
	for (size_t i = slot_of(id);; i = (i + 1) & (wcap - 1)) {
		if (wt[i].id == id)
			return &wt[i];
		if (!wt[i].id)
			return NULL;
	}
}

static int work_grow(void)
{
	size_t ocap = wcap, ncap = wcap ? wcap * 2 : 1024;
	struct work *old = wt, *nw = calloc(ncap, sizeof(*nw));

	if (!nw)
		return -ENOMEM;
	wt = nw;
	wcap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		size_t k;

		if (!old[i].id)
			continue;
		for (k = slot_of(old[i].id); wt[k].id; k = (k + 1) & (wcap - 1))
			;
		wt[k] = old[i];
	}
	free(old);
	return 0;
}

/* The entry of id, made (state 0, no share) if missing.  NULL: no memory.
 * Pointers into the table last until the next work_add or work_del. */
static struct work *work_add(uint64_t id)
{
	struct work *w = work_find(id);
	size_t k;

	if (w)
		return w;
	if ((wn + 1) * 2 > wcap && work_grow()) {
		zc_err("mds: recovery: no memory to queue chunk %016" PRIx64 "; the walk will"
		       " find it", id);
		return NULL;
	}
	for (k = slot_of(id); wt[k].id; k = (k + 1) & (wcap - 1))
		;
	wt[k] = (struct work){ .id = id };
	wn++;
	return &wt[k];
}

/* Sets a chunk's share of the figures. */
static void work_share(struct work *w, bool under, bool bad, uint64_t bytes)
{
	mds_rec.under_replicated += (uint64_t)under - w->under;
	mds_rec.bad += (uint64_t)bad - w->bad;
	mds_rec.bytes_left += bytes - w->bytes;
	w->under = under;
	w->bad = bad;
	w->bytes = bytes;
}

/* Removes a healthy (or gone) chunk, its share with it. */
static void work_del(uint64_t id)
{
	struct work *w = work_find(id);
	size_t i, j;

	if (!w)
		return;
	work_share(w, false, false, 0);
	/* Backward shift: later members of the probe run move up into the
	 * hole unless their home slot lies after it. */
	i = j = w - wt;
	for (;;) {
		size_t k;

		j = (j + 1) & (wcap - 1);
		if (!wt[j].id)
			break;
		k = slot_of(wt[j].id);
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		wt[i] = wt[j];
		i = j;
	}
	wt[i].id = 0;
	wn--;
}

static int fifo_push(struct fifo *f, uint64_t id)
{
	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 1024;
		uint64_t *nv = malloc(ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		for (size_t i = 0; i < f->n; i++)
			nv[i] = f->v[(f->head + i) % f->cap];
		free(f->v);
		f->v = nv;
		f->cap = ncap;
		f->head = 0;
	}
	f->v[(f->head + f->n++) % f->cap] = id;
	return 0;
}

static bool fifo_peek(const struct fifo *f, uint64_t *id)
{
	if (!f->n)
		return false;
	*id = f->v[f->head];
	return true;
}

static bool fifo_pop(struct fifo *f, uint64_t *id)
{
	if (!fifo_peek(f, id))
		return false;
	f->head = (f->head + 1) % f->cap;
	f->n--;
	return true;
}

/* Moves an entry to a state, queueing its id where that state wants it.
 * A queue that cannot grow parks the chunk: the walk comes back to it. */
static void work_set(struct work *w, enum wstate s)
{
	struct fifo *f = s == W_READY ? &readyq : s == W_COPY ? &copyq :
			 s == W_RETRY ? &retryq : NULL;

	w->state = s;
	if (s == W_RETRY)
		w->retry_at = zc_now_ns() + RETRY_NS;
	if (f && fifo_push(f, w->id))
		w->state = W_PARKED;
}

void mds_recovery_queue(uint64_t id)
{
	struct work *w = work_add(id);

	/* A chunk being copied is looked at when its copy ends anyway. */
	if (w && w->state != W_READY && w->state != W_BUSY)
		work_set(w, W_READY);
}

void mds_recovery_queue_ino(uint64_t ino)
{
	sqlite3_stmt *q = mds_q("SELECT id FROM chunk WHERE ino=?", "i", (int64_t)ino);

	while (q && sqlite3_step(q) == SQLITE_ROW)
		mds_recovery_queue(sqlite3_column_int64(q, 0));
	if (q)
		sqlite3_reset(q);
	mds_recovery_kick();
}

/* Every chunk with a replica on a server (one indexed query). */
static int queue_server(uint32_t cs)
{
	sqlite3_stmt *q = mds_q("SELECT chunk FROM replica WHERE cs=?", "i", (int64_t)cs);
	int n = 0;

	while (q && sqlite3_step(q) == SQLITE_ROW) {
		mds_recovery_queue(sqlite3_column_int64(q, 0));
		n++;
	}
	if (q)
		sqlite3_reset(q);
	return n;
}

void mds_recovery_server_up(struct cs_info *cs, bool is_new)
{
	int n = 0;

	/*
	 * What waited for a source or a target may go now.  Its own chunks
	 * need no look: while it was down they were queued, and a copy that
	 * replaced one of its replicas trimmed the set at its end.
	 */
	for (size_t i = 0; i < wcap; i++)
		if (wt[i].id && wt[i].state == W_PARKED) {
			work_set(&wt[i], W_READY);
			n++;
		}
	/* A new server raises goals clamped to the number of servers. */
	if (is_new)
		mds_recovery_walk_now();
	if (n)
		zc_info("mds: chunk server %u is up: %d waiting chunks to look at again",
			cs->id, n);
	mds_recovery_kick();
}

void mds_recovery_walk_now(void)
{
	walk_next = 0;
	mds_recovery_kick();
}

/* ---- replicas and versions ---- */

/* One order to a chunk server over the connection shared by all orders to
 * it.  Returns 0 or -errno; frees the answer unless resp is wanted (then
 * the caller frees call->resp). */
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

/*
 * One order on a connection of its own, closed after the answer.  A chunk
 * server serves a connection's requests in order: a copy (seconds, up to
 * the timeout) on the shared connection would hold up every SETVERSION
 * behind it, and a SETVERSION that times out drops a healthy replica.
 */
static int order_apart(const struct zc_replica *r, uint16_t type, const void *args, size_t len,
		       uint32_t timeout_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(r->port) };
	struct zc_call call = { .type = type, .timeout_ms = timeout_ms };
	struct zc_conn *conn;
	int err;

	sa.sin_addr.s_addr = r->ip;
	call.req[0] = (struct iovec){ (void *)args, len };
	conn = zc_conn_open(&sa, &err);
	if (!conn)
		return err;
	err = zc_call_sync(conn, &call);
	zc_call_free_resp(&call);
	zc_conn_kill(conn);
	zc_conn_put(conn);
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
	if (!kept) {
		zc_warn("mds: chunk %016" PRIx64 ": replica on chunk server %u is damaged;"
			" dropped", id, cs);
		mds_recovery_queue(id);
		mds_recovery_kick();
	}
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

	/* Servers hear of a version only once the store has it on disk (a
	 * bump made by a request is committed with its batch); a failed
	 * commit took the bump back. */
	if (mds_sync())
		return;
	zc_put_u64(&c, l->id);
	zc_put_u32(&c, old);
	zc_put_u32(&c, l->version);
	for (int i = 0; i < l->nrep; i++) {
		int err;

		/* Every member, even one that looks down: a member left at the old
		 * version would refuse every write from now on. */
		err = order(&l->rep[i], ZC_MATOCS_SETVERSION, args, c.pos, 5000, NULL);
		/* Already past it: a later bump (a copy, another client's report)
		 * got there first.  That member is current, not behind. */
		if (!err || err == -ESTALE)
			continue;
		zc_warn("mds: chunk %016" PRIx64 ": chunk server %u missed version %u (%s);"
			" dropping its replica", l->id, l->rep[i].cs_id, l->version, strerror(-err));
		mds_lock_store();
		if (!mds_begin() && !mds_end(drop_replica(l->id, l->rep[i].cs_id)))
			mds_recovery_queue(l->id);
		pthread_mutex_unlock(&mds_lock);
		mds_recovery_kick();
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

	mds_lock_store();
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
	if (dropped)
		tell_version(&l, version);
	mds_lock_store();
	if (dropped) {
		/* Only now: a copy readied before the survivors took their
		 * version would bump it under our feet. */
		mds_recovery_queue(id);
		mds_recovery_kick();
	}
	/* A copy that started meanwhile: its new version is not for writers
	 * until the copy is in the set. */
	if (chunk_busy(id)) {
		st = ZC_ST_AGAIN;
		goto out_unlock;
	}
	if (!(st = get_attr(ino, &a)))
		st = load_loc(ino, idx, out);
	*size = a.size;
out_unlock:
	pthread_mutex_unlock(&mds_lock);
	return st;
}

/* ---- looking at one chunk (mds_lock held, in a transaction) ---- */

/* What the walk's page query already has of a chunk. */
struct crow {
	uint64_t ino, size;
	uint32_t idx;
	unsigned goal;
};

static bool crow_get(uint64_t id, struct crow *r)
{
	sqlite3_stmt *q = mds_q("SELECT c.ino, c.idx, i.size, i.goal FROM chunk c"
				" JOIN inode i ON i.ino=c.ino WHERE c.id=?", "i", (int64_t)id);
	bool found = q && sqlite3_step(q) == SQLITE_ROW;

	if (found) {
		r->ino = sqlite3_column_int64(q, 0);
		r->idx = sqlite3_column_int64(q, 1);
		r->size = sqlite3_column_int64(q, 2);
		r->goal = goal_of(sqlite3_column_int64(q, 3));
	}
	if (q)
		sqlite3_reset(q);
	return found;
}

/*
 * Counts a chunk's good replicas, trims those past its goal (down ones
 * first; never while it is being copied) and sets its share of the
 * figures.  Returns the state it wants: 0 (healthy or gone: it left the
 * table), W_COPY, or W_PARKED (no good replica to copy from).
 */
static int look_at(uint64_t id, const struct crow *given)
{
	struct crow row;
	const struct crow *r = given;
	struct { uint32_t cs; bool up; } rep[2 * ZC_MAX_REPLICAS];
	unsigned good = 0, nrep = 0;
	uint64_t len;
	sqlite3_stmt *q;
	struct work *w;

	if (!r) {
		if (!crow_get(id, &row)) {
			work_del(id);
			return 0;
		}
		r = &row;
	}
	q = mds_q("SELECT cs FROM replica WHERE chunk=?", "i", (int64_t)id);
	while (q && sqlite3_step(q) == SQLITE_ROW && nrep < ZC_ARRAY_SIZE(rep)) {
		struct cs_info *cs = cs_find(sqlite3_column_int64(q, 0));

		if (!cs)
			continue;
		rep[nrep].cs = cs->id;
		rep[nrep].up = cs_up(cs);
		good += rep[nrep++].up;
	}
	if (q)
		sqlite3_reset(q);
	if (good >= r->goal && nrep > r->goal && !chunk_busy(id)) {
		/* A goal went down, or a copy replaced a replica on a server
		 * that is down: drop the extras, down ones first. */
		unsigned extra = nrep - r->goal;

		for (int pass = 0; pass < 2 && extra; pass++)
			for (int i = nrep - 1; i >= 0 && extra; i--) {
				bool up = rep[i].up;

				if ((pass == 0 && up) || (pass == 1 && !up) ||
				    (up && good <= r->goal))
					continue;
				if (drop_replica(id, rep[i].cs))
					continue;
				extra--;
				good -= up;
			}
	}
	if (good >= r->goal) {
		work_del(id);
		return 0;
	}
	len = r->size > (uint64_t)r->idx * ZC_CHUNK_SIZE ?
		ZC_MIN(ZC_CHUNK_SIZE, r->size - (uint64_t)r->idx * ZC_CHUNK_SIZE) : 0;
	if (!len && !mds_ino_open(r->ino) && !mds_in_grace() &&
	    mds_drop_chunks(r->ino, r->idx) == ZC_OK) {
		/* Past the end of a file nobody has open: nothing of it can
		 * be read, and a chunk placed for a write that never came (a
		 * file made by touch) has no copy anywhere to copy from.  It
		 * goes, with those after it; a later write places anew. */
		work_del(id);
		return 0;
	}
	w = work_add(id);
	if (!w)
		return 0;
	work_share(w, true, !good, (r->goal - good) * len);
	w->pass = walk_pass;
	return good ? W_COPY : W_PARKED;
}

/* Looks at up to STEP queued chunks.  Returns how many are left. */
static size_t ready_step(void)
{
	uint64_t id;
	int n = 0;

	if (!readyq.n || mds_begin())
		return readyq.n;
	while (n < STEP && fifo_pop(&readyq, &id)) {
		struct work *w = work_find(id);
		int s;

		if (!w || w->state != W_READY)
			continue;
		n++;
		s = look_at(id, NULL);
		if (s && (w = work_find(id)))
			work_set(w, s);
	}
	if (mds_end(0))
		zc_err("mds: recovery: cannot commit replica changes");
	return readyq.n;
}

/* One page of the walk over every chunk, by chunk id. */
static void walk_step(void)
{
	sqlite3_stmt *q;
	struct {
		uint64_t id;
		struct crow r;
	} page[STEP];
	int n = 0;

	if (mds_begin())
		return;
	q = mds_q("SELECT c.id, c.ino, c.idx, i.size, i.goal FROM chunk c JOIN inode i"
		  " ON i.ino=c.ino WHERE c.id>? ORDER BY c.id LIMIT ?", "ii",
		  (int64_t)walk_cursor, (int64_t)STEP);
	while (q && sqlite3_step(q) == SQLITE_ROW && n < STEP) {
		page[n].id = sqlite3_column_int64(q, 0);
		page[n].r.ino = sqlite3_column_int64(q, 1);
		page[n].r.idx = sqlite3_column_int64(q, 2);
		page[n].r.size = sqlite3_column_int64(q, 3);
		page[n].r.goal = goal_of(sqlite3_column_int64(q, 4));
		n++;
	}
	if (q)
		sqlite3_reset(q);
	for (int i = 0; i < n; i++) {
		struct work *w = work_find(page[i].id);
		int s;

		/* Queued chunks are someone else's; parked ones get a new look. */
		if (w && w->state != W_PARKED)
			continue;
		s = look_at(page[i].id, &page[i].r);
		if (s && (w = work_find(page[i].id)) && w->state != s)
			work_set(w, s);
	}
	if (mds_end(0))
		zc_err("mds: recovery: cannot commit replica changes");
	if (n == STEP) {
		walk_cursor = page[n - 1].id;
		return;
	}
	/* A parked chunk the whole pass did not look at is gone (a file
	 * removed): a look takes it and its share out. */
	for (size_t i = 0; i < wcap; i++)
		if (wt[i].id && wt[i].state == W_PARKED && wt[i].pass != walk_pass)
			work_set(&wt[i], W_READY);
	walking = false;
	walk_cursor = 0;
}

/* ---- copies ---- */

struct copy {
	uint64_t id;
	uint32_t old;			/* the version before the copy's bump */
	struct zc_loc l;		/* the members, at the new version */
	struct zc_replica src, target;
};

/* How long a copy may take before it is given up: four times what the
 * rate allows, never under 30 s. */
static uint32_t copy_timeout_ms(void)
{
	uint64_t ms = 4 * (ZC_CHUNK_SIZE >> 20) * 1000 / ZC_MAX(mds_recovery_rate, 1U);

	if (mds_copy_timeout_ms)
		return mds_copy_timeout_ms;
	return ZC_MAX(ms, 30000);
}

/*
 * Readies a copy of an under-replicated chunk to one more server: picks
 * the source and the target, moves the set to a new version and marks the
 * chunk busy.  Returns 0, -EAGAIN (no longer under-replicated: look again),
 * -ENOSPC (no source or no target now), -EIO.
 */
static int copy_prepare(uint64_t id, struct copy *cp)
{
	struct cs_info *t[1];
	uint64_t ino;
	uint32_t idx, v;
	unsigned goal, good = 0;
	int st;

	if (!chunk_row(id, &ino, &idx, &v) || chunk_busy(id))
		return -EAGAIN;
	if (nbusy == MAX_BUSY || load_loc(ino, idx, &cp->l))
		return -EIO;
	goal = inode_goal(ino);
	for (int i = 0; i < cp->l.nrep; i++) {
		struct cs_info *s = cs_find(cp->l.rep[i].cs_id);

		if (s && cs_up(s) && !good++)
			cp->src = cp->l.rep[i];
	}
	if (good >= goal)
		return -EAGAIN;
	if (!good || pick_servers(t, 1, &cp->l) != 1)
		return -ENOSPC;
	if (mds_begin())
		return -EIO;
	st = bump(ino, idx, id, v, &cp->l);
	if (mds_end(st))
		return -EIO;
	cp->id = id;
	cp->old = v;
	cp->target = (struct zc_replica){ t[0]->id, t[0]->ip, t[0]->port };
	busy[nbusy++] = id;
	t[0]->nchunks++;	/* until its next heartbeat says */
	return 0;
}

static void *copy_thread(void *arg)
{
	struct copy *cp = arg;
	uint64_t id = cp->id, ino;
	uint32_t idx, v;
	uint8_t args[32];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	struct work *w;
	int err;

	/* Fence writers holding the old layout, then copy. */
	tell_version(&cp->l, cp->old);
	zc_put_u64(&c, id);
	zc_put_u32(&c, cp->l.version);
	zc_put_bytes(&c, &cp->src.ip, 4);
	zc_put_u16(&c, cp->src.port);
	zc_put_u32(&c, mds_recovery_rate);
	err = order_apart(&cp->target, ZC_MATOCS_REPLICATE, args, c.pos, copy_timeout_ms());

	mds_lock_store();
	if (err == -ENOENT) {
		struct crow r;

		/* The source has no file for it.  A chunk wholly past the end
		 * of its file was never written (placed for a write that did
		 * not come): the target needs no file either, the copy is
		 * done.  Otherwise the source lost its copy: it goes from the
		 * set, and the next copy comes from another replica. */
		if (crow_get(id, &r) && r.size <= (uint64_t)r.idx * ZC_CHUNK_SIZE)
			err = 0;
		else if (!mds_begin())
			mds_end(drop_replica(id, cp->src.cs_id));
	}
	if (!err && !(chunk_row(id, &ino, &idx, &v) && v == cp->l.version))
		err = -ESTALE;	/* deleted or moved on meanwhile */
	if (!err && (mds_begin() ||
		     mds_end(mds_run("INSERT OR IGNORE INTO replica(chunk, cs) VALUES(?, ?)",
				     "ii", (int64_t)id, (int64_t)cp->target.cs_id) ||
			     mds_run("DELETE FROM gc WHERE chunk=? AND cs=?", "ii", (int64_t)id,
				     (int64_t)cp->target.cs_id))))
		err = -EIO;
	/* Whatever the target holds of a failed copy goes at its next
	 * heartbeat, even if the copy ends there after we gave up on it. */
	if (err && !mds_begin())
		mds_end(mds_run("INSERT OR REPLACE INTO gc(chunk, cs, version) VALUES(?, ?, ?)",
				"iii", (int64_t)id, (int64_t)cp->target.cs_id,
				(int64_t)cp->l.version));
	busy_del(id);
	ncopies--;
	if (err)
		mds_rec.copies_failed++;
	else
		mds_rec.copies_done++;
	/* The copy's end is the chunk's next look: it may want more copies,
	 * or have a replica too many; a failed copy waits a little. */
	w = work_add(id);
	if (w)
		work_set(w, err && err != -ESTALE ? W_RETRY : W_READY);
	pthread_mutex_unlock(&mds_lock);
	zc_info("mds: chunk %016" PRIx64 " v%u copied from chunk server %u to %u: %s", id,
		cp->l.version, cp->src.cs_id, cp->target.cs_id, err ? strerror(-err) : "done");
	free(cp);
	mds_recovery_kick();
	return NULL;
}

/* Starts copies of queued chunks while there is room for them. */
static void start_copies(void)
{
	uint64_t id;

	while (ncopies < MAX_COPIES && fifo_pop(&copyq, &id)) {
		struct work *w = work_find(id);
		struct copy *cp;
		int err;

		if (!w || w->state != W_COPY)
			continue;
		cp = calloc(1, sizeof(*cp));
		err = cp ? copy_prepare(id, cp) : -ENOMEM;
		w = work_find(id);
		if (err) {
			free(cp);
			if (w)
				work_set(w, err == -EAGAIN ? W_READY : err == -ENOSPC ? W_PARKED
										  : W_RETRY);
			continue;
		}
		w->state = W_BUSY;
		ncopies++;
		err = zc_thread_start(copy_thread, cp);
		if (err) {
			/* The set is at the new version already: tell it here. */
			zc_err("mds: chunk %016" PRIx64 ": no thread for its copy: %s", id,
			       strerror(-err));
			busy_del(id);
			ncopies--;
			work_set(w, W_RETRY);
			pthread_mutex_unlock(&mds_lock);
			tell_version(&cp->l, cp->old);
			mds_lock_store();
			free(cp);
			break;
		}
	}
}

/* Failed copies whose pause is over go back to the ready queue. */
static void retry_due(void)
{
	uint64_t id, now = zc_now_ns();

	while (fifo_peek(&retryq, &id)) {
		struct work *w = work_find(id);

		if (w && w->state == W_RETRY && w->retry_at > now)
			break;
		fifo_pop(&retryq, &id);
		if (w && w->state == W_RETRY)
			work_set(w, W_READY);
	}
}

/* ---- servers ---- */

/* Drops a page of a server's replicas that have a copy elsewhere (a last
 * copy stays, so that the data is back when its server is).  Returns how
 * many it looked at (STEP: there may be more), or -EIO. */
static int expire_page(struct cs_info *cs)
{
	uint64_t ids[STEP];
	bool dropped[STEP];
	sqlite3_stmt *q;
	int n = 0, st = ZC_OK;

	q = mds_q("SELECT chunk FROM replica WHERE cs=? AND chunk>? ORDER BY chunk LIMIT ?",
		  "iii", (int64_t)cs->id, (int64_t)cs->expire_cursor, (int64_t)STEP);
	while (q && sqlite3_step(q) == SQLITE_ROW && n < STEP)
		ids[n++] = sqlite3_column_int64(q, 0);
	if (q)
		sqlite3_reset(q);
	if (!n)
		return 0;
	if (mds_begin())
		return -EIO;
	for (int i = 0; i < n && !st; i++) {
		bool kept = true;

		/* Quiet about last copies: a server down holds many. */
		if (mds_int(0, "SELECT count(*) FROM replica WHERE chunk=? AND cs<>?", "ii",
			    (int64_t)ids[i], (int64_t)cs->id))
			st = drop_replica_or_keep(ids[i], cs->id, &kept);
		dropped[i] = !kept;
	}
	if (mds_end(st))
		return -EIO;
	for (int i = 0; i < n; i++)
		if (dropped[i]) {
			mds_recovery_queue(ids[i]);
			cs->expire_dropped++;
		}
	cs->expire_cursor = ids[n - 1];
	return n;
}

/* A server that stops heartbeating: its chunks are looked at (copies start
 * at once); past the grace period its replicas leave the sets. */
static void expire_servers(void)
{
	uint64_t now = zc_now_ns();

	for (int i = 0; i < ncs; i++) {
		struct cs_info *cs = &css[i];
		int n;

		if (cs_up(cs)) {
			cs->down_since = 0;
			cs->expired = false;
			cs->expire_cursor = 0;
			cs->expire_dropped = 0;
			continue;
		}
		if (!cs->down_since) {
			cs->down_since = now;
			/* One not seen since our start: the walk looks at its chunks. */
			if (!cs->last_hb)
				continue;
			n = queue_server(cs->id);
			zc_warn("mds: chunk server %u stopped heartbeating; %d chunks to look at",
				cs->id, n);
			continue;
		}
		if (cs->expired ||
		    now - cs->down_since < (uint64_t)mds_grace_s * 1000000000ULL)
			continue;
		n = expire_page(cs);
		if (n < 0) {
			zc_err("mds: chunk server %u down for %u s: cannot drop its replicas",
			       cs->id, mds_grace_s);
			continue;	/* next round */
		}
		if (n == STEP)
			continue;
		cs->expired = true;
		if (cs->expire_dropped)
			zc_warn("mds: chunk server %u down for %u s: its %llu replicas are dropped"
				" and will be copied elsewhere", cs->id, mds_grace_s,
				(unsigned long long)cs->expire_dropped);
	}
}

/* ---- the recovery thread ---- */

int mds_recovery_round(void)
{
	uint64_t now;
	size_t left;
	int wait_ms = IDLE_MS;

	mds_lock_store();
	expire_servers();
	retry_due();
	left = ready_step();
	start_copies();
	now = zc_now_ns();
	if (!walking && now >= walk_next) {
		walking = true;
		walk_pass++;
		walk_next = now + WALK_EVERY_NS;
		walk_step_at = 0;
	}
	/* The walk is the safety net: it yields to queued work. */
	if (walking && !left && now >= walk_step_at) {
		walk_step();
		walk_step_at = now + WALK_STEP_MS * 1000000ULL;
		start_copies();
	}
	if (walking)
		wait_ms = WALK_STEP_MS;
	for (int i = 0; i < ncs; i++)
		if (css[i].down_since && !css[i].expired && css[i].expire_cursor)
			left = 1;	/* in the middle of dropping a server's replicas */
	if (retryq.n)
		wait_ms = ZC_MIN(wait_ms, (int)(RETRY_NS / 1000000));
	if (left || readyq.n)
		wait_ms = 1;	/* let others have mds_lock between pages */
	pthread_mutex_unlock(&mds_lock);
	return wait_ms;
}

static void *recovery_thread(void *arg)
{
	(void)arg;
	/* Chunk servers register again within a heartbeat or two of a
	 * start: a walk before that would find every chunk unreadable. */
	mds_lock_store();
	walk_next = zc_now_ns() + FIRST_WALK_NS;
	pthread_mutex_unlock(&mds_lock);
	for (;;) {
		int ms = mds_recovery_round();
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&kick_lock);
		if (!kicked)
			pthread_cond_timedwait(&kick_cv, &kick_lock, &ts);
		kicked = false;
		pthread_mutex_unlock(&kick_lock);
	}
	return NULL;
}

int mds_recovery_init(void)
{
	/* Indexes for the queries by server: a server's chunks when it goes
	 * down, its deletions at each heartbeat.  Made here, not in the
	 * schema, so that stores made before them get them too. */
	if (mds_run("CREATE INDEX IF NOT EXISTS replica_cs ON replica(cs)", "") ||
	    mds_run("CREATE INDEX IF NOT EXISTS gc_cs ON gc(cs, chunk)", ""))
		return -EIO;
	return 0;
}

int mds_recovery_start(void)
{
	int err = mds_recovery_init();

	return err ? err : zc_thread_start(recovery_thread, NULL);
}
