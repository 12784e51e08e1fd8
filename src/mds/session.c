// SPDX-License-Identifier: MIT
/*
 * Sessions, open files, orphans and the replay cache.
 *
 * A mount is a session: created at mount, renewed by the client every few
 * seconds, ended at unmount or when its lease runs out.  Session rows are
 * in the store, so a restarted mds knows every session and gives each a
 * fresh lease (the grace period) to come back.
 *
 * A session belongs to the credential that started it (the connection's
 * peer_id, stored with it) and to that credential's export: requests
 * naming it from another credential are refused.
 *
 * Open files are kept in memory only, as (session, handle, ino, access):
 * opening and closing cost no disk write.  A client that sees a new mds
 * boot id in a renewal answer declares every file it has open again, and
 * nothing is freed on the strength of the open table during the grace
 * period.  Until a session has declared, a request that only its open
 * handles could allow is answered ZC_ST_UNDECLARED: the client declares
 * and asks again.
 *
 * An inode whose last name goes while some session has it open is an
 * orphan (nlink 0, no dentry): it keeps its chunks until the last handle
 * is released, its session ends, or (after a restart) the grace period
 * passes without anyone declaring it.  The grace period ends early once
 * every session from before the start has declared its open files.
 *
 * The replay cache makes namespace changes exactly-once across retries:
 * the answer of each change is stored, in the change's own transaction,
 * under (session, seq); a retry with the same pair gets it back.
 *
 * Everything here runs under mds_lock.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/util.h"
#include "mds.h"

#define OPEN_BUCKETS 4096
#define MAX_SESSIONS 4096
#define MAX_OPENS (4U << 20)	/* open handles, all sessions together */

struct session {
	uint64_t id;
	uint64_t expires;	/* monotonic ns */
	bool pending;		/* from before the start, its opens not declared yet */
	char name[96];
	char peer[64];		/* the credential that started it */
	uint64_t ticket_expiry;	/* the ticket last given, wrapped */
	uint8_t ticket[ZC_KEY_LEN];
	uint64_t root;		/* its export's root inode */
	struct mds_tree_cache *tree;	/* inodes found inside root (NULL: root is /) */
	struct session *next;
};

struct open_rec {
	uint64_t session, handle, ino;
	uint8_t access;		/* ZC_OPEN_READ, ZC_OPEN_WRITE */
	struct open_rec *next;
};

unsigned mds_lease_s = 20;
uint64_t mds_boot_id;
static uint64_t grace_until;	/* monotonic ns: orphans are not swept before */
static bool swept;		/* the sweep after the grace period is done */
static struct session *sessions;
static int nsessions, npending;
static struct open_rec *opens[OPEN_BUCKETS];
static uint64_t nopens;

static uint64_t lease_ns(void)
{
	return (uint64_t)mds_lease_s * 1000000000ULL;
}

static struct session *find(uint64_t id)
{
	for (struct session *s = sessions; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

bool mds_session_known(uint64_t id)
{
	return id && find(id);
}

int mds_session_count(void)
{
	return nsessions;
}

uint64_t mds_open_count(void)
{
	return nopens;
}

static struct session *add(uint64_t id, const char *name, const char *peer, uint64_t root)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->id = id;
	s->expires = zc_now_ns() + lease_ns();
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	s->root = root;
	/* No cache is no harm: the subtree is then walked every time. */
	if (root != ZC_ROOT_INO)
		s->tree = calloc(1, sizeof(*s->tree));
	s->next = sessions;
	sessions = s;
	nsessions++;
	return s;
}

int mds_sessions_load(void)
{
	sqlite3_stmt *q = mds_q("SELECT id, name, peer, root FROM session", "");

	/* What was in memory is gone with a restart (and between tests). */
	while (sessions) {
		struct session *s = sessions;

		sessions = s->next;
		free(s->tree);
		free(s);
	}
	nsessions = npending = 0;
	for (int b = 0; b < OPEN_BUCKETS; b++)
		while (opens[b]) {
			struct open_rec *r = opens[b];

			opens[b] = r->next;
			free(r);
		}
	nopens = 0;
	if (getrandom(&mds_boot_id, sizeof(mds_boot_id), 0) != sizeof(mds_boot_id))
		mds_boot_id = zc_now_ns() ^ ((uint64_t)getpid() << 32);
	mds_boot_id |= 1;	/* never 0: a client that saw no boot yet */
	grace_until = zc_now_ns() + lease_ns();
	while (q && sqlite3_step(q) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(q, 1);
		const char *peer = (const char *)sqlite3_column_text(q, 2);
		uint64_t root = sqlite3_column_int64(q, 3);	/* none in older stores */

		struct session *s = add(sqlite3_column_int64(q, 0), name ? name : "?",
					peer ? peer : "", root ? root : ZC_ROOT_INO);

		if (!s)
			break;
		s->pending = true;
		npending++;
	}
	if (q)
		sqlite3_reset(q);
	if (nsessions)
		zc_info("mds: %d sessions from before the restart have %u s to come back",
			nsessions, mds_lease_s);
	swept = !nsessions;	/* nobody to wait for */
	return q ? 0 : -EIO;
}

bool mds_in_grace(void)
{
	return !swept;
}

/* ---- open handles, by inode ---- */

bool mds_ino_open(uint64_t ino)
{
	for (struct open_rec *r = opens[ino % OPEN_BUCKETS]; r; r = r->next)
		if (r->ino == ino)
			return true;
	return false;
}

static int open_add(uint64_t session, uint64_t handle, uint64_t ino, uint8_t access)
{
	struct open_rec **head = &opens[ino % OPEN_BUCKETS], *r;

	for (r = *head; r; r = r->next)
		if (r->session == session && r->handle == handle && r->ino == ino)
			return 0;	/* a retry */
	if (nopens >= MAX_OPENS)
		return -ENFILE;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	*r = (struct open_rec){ session, handle, ino, access, *head };
	*head = r;
	nopens++;
	return 0;
}

int mds_open_check(const struct mds_who *w, uint64_t ino, unsigned access)
{
	for (struct open_rec *r = opens[ino % OPEN_BUCKETS]; r; r = r->next)
		if (r->session == w->session && r->ino == ino && (r->access & access) == access)
			return ZC_OK;
	return w->pending ? ZC_ST_UNDECLARED : ZC_ST_PERM;
}

static void open_del(uint64_t session, uint64_t handle, uint64_t ino)
{
	for (struct open_rec **pp = &opens[ino % OPEN_BUCKETS], *r; (r = *pp); pp = &r->next)
		if (r->session == session && r->handle == handle && r->ino == ino) {
			*pp = r->next;
			free(r);
			nopens--;
			return;
		}
}

/*
 * Drops every handle of a session.  Returns the inodes it had open (the
 * caller frees the array) so that orphans among them can go.
 */
static uint64_t *open_drop_session(uint64_t session, size_t *n)
{
	uint64_t *inos = NULL;
	size_t cap = 0;

	*n = 0;
	for (int b = 0; b < OPEN_BUCKETS; b++)
		for (struct open_rec **pp = &opens[b], *r; (r = *pp);) {
			if (r->session != session) {
				pp = &r->next;
				continue;
			}
			if (*n == cap) {
				uint64_t *ni = realloc(inos, (cap = cap ? 2 * cap : 64) *
							     sizeof(*ni));

				if (ni)
					inos = ni;
			}
			if (*n < cap)
				inos[(*n)++] = r->ino;
			*pp = r->next;
			free(r);
			nopens--;
		}
	return inos;
}

/* ---- orphans ---- */

int mds_orphan_check(uint64_t ino)
{
	int64_t nlink = mds_int(-1, "SELECT nlink FROM inode WHERE ino=?", "i", (int64_t)ino);

	if (nlink != 0 || mds_ino_open(ino) || mds_in_grace())
		return ZC_OK;
	zc_debug("mds: orphan inode %" PRIu64 " freed", ino);
	return mds_free_inode(ino);
}

/* Frees what the sessions' ends left unopened, in one transaction. */
static void orphans_check_all(const uint64_t *inos, size_t n)
{
	int st = ZC_OK;

	if (!n || mds_begin())
		return;
	for (size_t i = 0; i < n && !st; i++)
		st = mds_orphan_check(inos[i]);
	if (mds_end(st))
		zc_err("mds: freeing orphans failed");
}

/* After the grace period: orphans nobody declared open are freed. */
static void sweep(void)
{
	sqlite3_stmt *q = mds_q("SELECT ino FROM inode WHERE nlink=0", "");
	uint64_t *inos = NULL;
	size_t n = 0, cap = 0;

	swept = true;
	while (q && sqlite3_step(q) == SQLITE_ROW) {
		if (n == cap) {
			uint64_t *ni = realloc(inos, (cap = cap ? 2 * cap : 64) * sizeof(*ni));

			if (!ni)
				break;
			inos = ni;
		}
		inos[n++] = sqlite3_column_int64(q, 0);
	}
	if (q)
		sqlite3_reset(q);
	if (n)
		zc_info("mds: grace period over; %zu orphan inodes to check", n);
	orphans_check_all(inos, n);
	free(inos);
}

/* ---- session life ---- */

static int session_end(struct session *s, const char *why)
{
	struct session **pp;
	uint64_t *inos;
	size_t n;
	int st;

	zc_info("mds: session %" PRIu64 " (%s) %s", s->id, s->name, why);
	inos = open_drop_session(s->id, &n);
	if (mds_begin())
		st = ZC_ST_IO;
	else
		st = mds_end(mds_locks_drop_session(s->id) ||
			     mds_run("DELETE FROM replay WHERE session=?", "i", (int64_t)s->id) ||
			     mds_run("DELETE FROM session WHERE id=?", "i", (int64_t)s->id)
			     ? -EIO : 0) ? ZC_ST_IO : ZC_OK;
	for (pp = &sessions; *pp != s; pp = &(*pp)->next)
		;
	*pp = s->next;
	nsessions--;
	npending -= s->pending;
	free(s->tree);
	free(s);
	orphans_check_all(inos, n);
	free(inos);
	return st;
}

void mds_sessions_tick(void)
{
	uint64_t now = zc_now_ns();
	struct session *s, *next;

	for (s = sessions; s; s = next) {
		next = s->next;
		if (now > s->expires)
			session_end(s, "expired: its locks and open files are released");
	}
	/* Once every session from before the start has declared its open
	 * files (or is gone), the open table is whole: no need to wait. */
	if (!swept && (!npending || now > grace_until))
		sweep();
}

/*
 * The ticket a session's client shows chunk servers: expiry:64 and the
 * key, wrapped under the client's secret (auth.h).  Expiries fall on
 * half-hour marks, so a renewal most often finds the one it gave last.
 */
#define TICKET_STEP_S 1800

static int put_ticket(struct session *s, struct zc_cur *o)
{
	uint64_t expiry = ((uint64_t)time(NULL) / TICKET_STEP_S + 2) * TICKET_STEP_S;

	if (expiry != s->ticket_expiry) {
		uint8_t secret[ZC_KEY_LEN], key[ZC_KEY_LEN];

		if (zc_creds_find(mds_creds_path, s->peer, secret)) {
			zc_warn("mds: session %" PRIu64 ": credential '%s' is gone; no ticket",
				s->id, s->peer);
			return ZC_ST_PERM;
		}
		zc_ticket_key(zc_auth.cluster, s->id, expiry, key);
		zc_ticket_wrap(secret, s->id, expiry, key, s->ticket);
		s->ticket_expiry = expiry;
	}
	zc_put_u64(o, s->ticket_expiry);
	zc_put_bytes(o, s->ticket, ZC_KEY_LEN);
	return ZC_OK;
}

/* SESSION_NEW, for w's credential in its export (mds_who_check found
 * it); *root is the export's root inode. */
static int do_new(const struct mds_who *w, struct zc_cur *in, struct zc_cur *o, uint64_t *root)
{
	struct session *s;
	char name[96];
	int64_t id;
	int st;

	zc_get_str(in, name, sizeof(name), false);
	if (in->err || !name[0])
		return ZC_ST_INVAL;
	if (nsessions >= MAX_SESSIONS)
		return ZC_ST_NOSPACE;
	if ((st = mds_export_resolve(w->exp))) {
		zc_warn("mds: session for %s (credential '%s') refused: its export %s is not a"
			" directory of zcfs", name, w->peer, w->exp->path);
		return st;
	}
	*root = w->exp->root;
	if (mds_begin())
		return ZC_ST_IO;
	id = mds_meta_next("next_session");
	if (mds_end(id < 0 || mds_run("INSERT INTO session(id, name, peer, root) VALUES(?, ?, ?, ?)",
				      "itti", id, name, w->peer, (int64_t)*root) ? -EIO : 0))
		return ZC_ST_IO;
	if (!(s = add(id, name, w->peer, *root)))
		return ZC_ST_NOSPACE;
	zc_info("mds: session %" PRId64 " started by %s (credential '%s', export %s %s)", id, name,
		w->peer, w->exp->path, w->ro ? "ro" : "rw");
	zc_put_u64(o, id);
	zc_put_u64(o, mds_boot_id);
	zc_put_u32(o, mds_lease_s * 1000);
	return put_ticket(s, o);
}

/*
 * One declared open: kept with its access, but not outside the export
 * (an orphan, with no name to tell, is taken on trust) and never for
 * writing on a read-only export.  Returns 1 if taken, 0 if not, or
 * -errno.
 */
static int declare_one(const struct mds_who *w, uint64_t handle, uint64_t ino, uint8_t access)
{
	if (!mds_inside(w, ino) &&
	    mds_int(-1, "SELECT nlink FROM inode WHERE ino=?", "i", (int64_t)ino) != 0)
		return 0;
	if (w->ro)
		access &= ~ZC_OPEN_WRITE;
	if (open_add(w->session, handle, ino, access & (ZC_OPEN_READ | ZC_OPEN_WRITE)))
		return -ENOSPC;
	return 1;
}

static int do_renew(const struct mds_who *w, struct session *s, struct zc_cur *in,
		    struct zc_cur *o)
{
	uint64_t boot = zc_get_u64(in);
	uint8_t declare = zc_get_u8(in);
	uint32_t n = zc_get_u32(in), refused = 0;

	if (in->err || n > zc_cur_left(in) / 17)
		return ZC_ST_INVAL;
	if (declare) {
		size_t dropped;

		free(open_drop_session(s->id, &dropped));
		for (uint32_t i = 0; i < n; i++) {
			uint64_t handle = zc_get_u64(in), ino = zc_get_u64(in);
			int taken = declare_one(w, handle, ino, zc_get_u8(in));

			if (taken < 0)
				return ZC_ST_NOSPACE;
			refused += !taken;
		}
		if (refused)
			zc_warn("mds: session %" PRIu64 " (%s): %u of the open files it declared are"
				" outside its export %s; not taken", s->id, s->name, refused,
				w->exp->path);
		zc_info("mds: session %" PRIu64 " (%s) is back with %u open files", s->id,
			s->name, n - refused);
		if (s->pending) {
			s->pending = false;
			npending--;
		}
	}
	(void)boot;
	s->expires = zc_now_ns() + lease_ns();
	zc_put_u64(o, mds_boot_id);
	zc_put_u32(o, mds_lease_s * 1000);
	return put_ticket(s, o);
}

/* open(2)'s checks: read and write as the access mode says; O_TRUNC
 * writes whatever the mode. */
static int open_allowed(const struct mds_who *w, const struct zc_attr *a, uint32_t flags)
{
	int want = 0;

	if (flags & ZC_OPEN_READ)
		want |= MDS_MAY_READ;
	if (flags & (ZC_OPEN_WRITE | ZC_OPEN_TRUNC))
		want |= MDS_MAY_WRITE;
	if ((want & MDS_MAY_WRITE) && w->ro)
		return ZC_ST_ROFS;
	return mds_may(w, a, want) ? ZC_OK : ZC_ST_ACCES;
}

/* OPEN: ino handle flags -> attr.  O_TRUNC cuts the file in the same step. */
static int do_open(const struct mds_who *w, struct session *s, struct zc_cur *in,
		   struct zc_cur *o)
{
	uint64_t ino = zc_get_u64(in), handle = zc_get_u64(in);
	uint32_t flags = zc_get_u32(in);
	struct zc_attr a;
	int st;

	if (in->err)
		return ZC_ST_INVAL;
	if ((st = mds_reach(w, ino)) || (st = get_attr(ino, &a)) ||
	    (st = open_allowed(w, &a, flags)))
		return st;
	if ((flags & ZC_OPEN_TRUNC) && S_ISREG(a.mode)) {
		if (mds_begin())
			return ZC_ST_IO;
		st = mds_truncate(ino, 0, true, &a);
		/* The kernel leaves it to us (FUSE's atomic O_TRUNC). */
		if (!st)
			st = mds_kill_privs(w, ino, &a);
		if ((st = mds_end(st) < 0 ? ZC_ST_IO : st))
			return st;
	}
	if (S_ISREG(a.mode) &&
	    open_add(s->id, handle, ino, flags & (ZC_OPEN_READ | ZC_OPEN_WRITE)))
		return ZC_ST_NOSPACE;
	zc_put_attr(o, &a);
	return ZC_OK;
}

/* Records a handle opened by CREATE (mds.c makes the file).  As open(2)
 * with O_CREAT, a new file is opened whatever its mode says: for reading
 * and writing. */
int mds_open_created(uint64_t session, uint64_t handle, uint64_t ino)
{
	return open_add(session, handle, ino, ZC_OPEN_READ | ZC_OPEN_WRITE) ? ZC_ST_NOSPACE
									    : ZC_OK;
}

/*
 * RELEASE: the size and mtime a writer leaves, then the handle goes.  The
 * size only from a session that has the file open for writing (this
 * handle or another); without, the handle still goes and the answer says
 * the size was refused.
 */
static int do_release(const struct mds_who *w, struct session *s, struct zc_cur *in)
{
	uint64_t ino = zc_get_u64(in), handle = zc_get_u64(in), size = zc_get_u64(in);
	int64_t ms = zc_get_u64(in);
	uint32_t mns = zc_get_u32(in), flags = zc_get_u32(in);
	int refused = ZC_OK, st = ZC_OK;
	int64_t first;
	bool last;

	if (in->err || mns >= 1000000000U || size > (1ULL << 50))
		return ZC_ST_INVAL;
	if (flags & ZC_REL_SIZE) {
		refused = w->ro ? ZC_ST_ROFS : mds_open_check(w, ino, ZC_OPEN_WRITE);
		if (refused == ZC_ST_UNDECLARED)
			return refused;
		if (refused) {
			zc_warn("mds: session %" PRIu64 " (%s): release of inode %" PRIu64 " with a"
				" size, not open for writing: size refused", s->id, s->name, ino);
			flags &= ~ZC_REL_SIZE;
		}
	}
	open_del(s->id, handle, ino);
	last = !mds_ino_open(ino) && !mds_in_grace();
	/* Most releases change nothing in the store: no transaction. */
	if (!(flags & ZC_REL_SIZE) &&
	    !(last && mds_int(-1, "SELECT nlink FROM inode WHERE ino=?", "i", (int64_t)ino) == 0))
		return refused;
	if (mds_begin())
		return ZC_ST_IO;
	if (flags & ZC_REL_SIZE)
		st = mds_grow(ino, size, ms, mns);
	if (!st)
		st = mds_orphan_check(ino);
	/* The last close of a file written here: chunks past the end hold
	 * nothing anyone can read (one CREATE placed for a write that never
	 * came), and would be inside the file, never written, if it grew:
	 * they go.  (Not worth a commit of its own for a file closed
	 * unwritten, as after touch: a writer past such a chunk makes it on
	 * its servers first, see the client's make_chunk0.) */
	if (!st && last &&
	    (first = mds_int(-1, "SELECT (size + ?) / ? FROM inode WHERE ino=?", "iii",
			     (int64_t)ZC_CHUNK_SIZE - 1, (int64_t)ZC_CHUNK_SIZE, (int64_t)ino)) >= 0)
		st = mds_drop_chunks(ino, first);
	if (mds_end(st) < 0)
		return ZC_ST_IO;
	return st ? st : refused;
}

static void *session_thread(void *arg)
{
	(void)arg;
	for (;;) {
		usleep(250000);
		mds_lock_store();
		mds_sessions_tick();
		pthread_mutex_unlock(&mds_lock);
	}
	return NULL;
}

int mds_sessions_start(void)
{
	return zc_thread_start(session_thread, NULL);
}

int mds_session_who(struct mds_who *w)
{
	struct session *s = w->session ? find(w->session) : NULL;

	if (!s)
		return ZC_ST_BADSESSION;
	if (strcmp(s->peer, w->peer)) {
		zc_warn("mds: session %" PRIu64 " (%s) of credential '%s' named by credential"
			" '%s': refused", s->id, s->name, s->peer, w->peer);
		return ZC_ST_BADSESSION;
	}
	w->root = s->root;
	w->tree = s->tree;
	w->pending = s->pending;
	return ZC_OK;
}

int mds_session_handle(uint16_t type, struct mds_who *w, struct zc_cur *in, struct zc_cur *o)
{
	struct session *s;
	uint64_t root;
	int st;

	if (type == ZC_CLTOMA_SESSION_NEW) {
		st = do_new(w, in, o, &root);
		/* Last in the answer, whatever else it carries (proto.h). */
		if (!st)
			zc_put_u64(o, root);
		return st;
	}
	s = w->session ? find(w->session) : NULL;
	if (!s)		/* mds_who_check saw it is w's */
		return ZC_ST_BADSESSION;
	switch (type) {
	case ZC_CLTOMA_SESSION_RENEW:
		return do_renew(w, s, in, o);
	case ZC_CLTOMA_SESSION_END:
		return session_end(s, "ended by its client");
	case ZC_CLTOMA_OPEN:
		return do_open(w, s, in, o);
	case ZC_CLTOMA_RELEASE:
		return do_release(w, s, in);
	}
	return ZC_ST_NOTSUP;
}

/* ---- replay cache ---- */

int mds_replay_find(uint64_t session, uint64_t seq, struct zc_cur *o, bool *found)
{
	sqlite3_stmt *q = mds_q("SELECT reply FROM replay WHERE session=? AND seq=?", "ii",
				(int64_t)session, (int64_t)seq);

	*found = false;
	if (!q)
		return ZC_ST_IO;
	if (sqlite3_step(q) == SQLITE_ROW) {
		*found = true;
		if (sqlite3_column_bytes(q, 0))
			zc_put_bytes(o, sqlite3_column_blob(q, 0), sqlite3_column_bytes(q, 0));
	}
	sqlite3_reset(q);
	return ZC_OK;
}

int mds_replay_save(uint64_t session, uint64_t seq, uint64_t ack, const void *p, size_t len)
{
	if (mds_run("DELETE FROM replay WHERE session=? AND seq<?", "ii", (int64_t)session,
		    (int64_t)ack) ||
	    mds_run("INSERT OR REPLACE INTO replay(session, seq, reply) VALUES(?, ?, ?)", "iib",
		    (int64_t)session, (int64_t)seq, p, (int)len))
		return ZC_ST_IO;
	return ZC_OK;
}
