// SPDX-License-Identifier: MIT
/*
 * The metadata store: namespace, attributes and file layout in SQLite (WAL,
 * synchronous=FULL: a change is on disk before it is acknowledged).
 * Callers hold mds_lock.
 *
 * Group commit.  The store keeps one transaction open, the batch (BEGIN
 * IMMEDIATE at the first change after a commit); each change
 * (mds_begin ... mds_end) is a SAVEPOINT in it, so that a failed change
 * undoes only itself.  A request's answer waits until the batch it touched
 * (changed, or only read while it was open: it may have seen its changes)
 * is committed: the first waiter of a batch COMMITs, one fsync for every
 * change in it, while the others sleep; requests that come meanwhile join
 * the next batch.  A read when no batch is open answers at once.  The
 * namespace reads (lookup, getattr, readdir...) read what is committed
 * only, on a second connection (mds_read_committed): they never wait, and
 * run during a COMMIT, which the leader runs without mds_lock (everyone
 * else who uses db waits in mds_lock_store meanwhile).  Threads that serve no request (recovery, session
 * expiry, start-up) commit at their mds_end, as before: nothing stays
 * uncommitted with nobody waiting for it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "mds.h"

static sqlite3 *db;
/* A second connection, read-only: it sees only what is committed.  The
 * reads that serve lookup, getattr, readdir (mds_read_committed) use it:
 * they answer at once, and run while a batch commits. */
static sqlite3 *rdb;
static __thread bool committed_only;
/* The leader runs COMMIT without mds_lock (committing, mds_lock): until
 * it is done, nobody else may use db (mds_lock_store waits), but the
 * committed-only reads go on. */
static bool committing;
static __thread bool in_commit;	/* this thread is the one committing */
static pthread_cond_t store_cv = PTHREAD_COND_INITIALIZER;

/* The open batch (mds_lock). */
static bool in_tx;		/* BEGIN IMMEDIATE ran, no COMMIT yet */
static uint64_t batch;		/* its epoch: done_epoch + 1 */
static unsigned batch_changes;	/* its changes that wrote rows */
static int depth;		/* savepoints open */
static int sp_mark;		/* sqlite3_total_changes() when the outer one began */
static uint64_t tree_gen_at_open;	/* mds_tree_gen when it began */
static _Atomic uint64_t open_epoch;	/* batch while in_tx, else 0: read without mds_lock */

/* Batches ended (commit_lock; written with mds_lock held too). */
static pthread_mutex_t commit_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t commit_cv = PTHREAD_COND_INITIALIZER;
static uint64_t done_epoch;	/* the last batch that ended, committed or not */
static bool leading;		/* a waiter is committing for the others */
static unsigned running;	/* requests under way, not waiting for a commit */
static bool gathering;		/* the leader waits for them to join its batch */
/* How long a leader waits at most for the requests under way (each holds
 * mds_lock some tens of microseconds) before it commits without them. */
#define GATHER_NS 1000000L
#define FAILED_KEPT 16
static uint64_t failed[FAILED_KEPT];	/* the last batches whose commit failed */
static uint64_t nfailed;
static _Atomic unsigned long long n_commits, n_changes, commit_ns;

/* The request this thread serves, if any: its changes are committed
 * before its answer, not at their mds_end. */
static __thread bool in_request;
static __thread bool counted;		/* in running */
static __thread uint64_t need;		/* the batch its answer waits for; 0: none */
static __thread uint64_t last_need;	/* the same for the last request answered */
static __thread bool answer_later;	/* its caller waits (mds_reply), not mds_request_end */

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS inode(ino INTEGER PRIMARY KEY AUTOINCREMENT,"
	" mode INTEGER NOT NULL, nlink INTEGER NOT NULL, uid INTEGER, gid INTEGER,"
	" rdev INTEGER, size INTEGER NOT NULL DEFAULT 0,"
	" atime_s INTEGER, atime_ns INTEGER, mtime_s INTEGER, mtime_ns INTEGER,"
	" ctime_s INTEGER, ctime_ns INTEGER, target TEXT, goal INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS dentry(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" parent INTEGER NOT NULL, name TEXT NOT NULL, ino INTEGER NOT NULL,"
	" UNIQUE(parent, name));"
	"CREATE INDEX IF NOT EXISTS dentry_ino ON dentry(ino);"
	/* READDIR reads a directory in id order from a cookie.  This index
	 * is in (parent, id) order (id is the rowid): a batch reads only its
	 * own entries, where UNIQUE(parent, name) made every batch read and
	 * sort the whole directory.  Older stores get it when opened. */
	"CREATE INDEX IF NOT EXISTS dentry_parent ON dentry(parent);"
	"CREATE TABLE IF NOT EXISTS chunk(ino INTEGER NOT NULL, idx INTEGER NOT NULL,"
	" id INTEGER NOT NULL UNIQUE, version INTEGER NOT NULL,"
	" PRIMARY KEY(ino, idx)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS replica(chunk INTEGER NOT NULL, cs INTEGER NOT NULL,"
	" PRIMARY KEY(chunk, cs)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS cs(id INTEGER PRIMARY KEY, uuid BLOB UNIQUE,"
	" ip INTEGER, port INTEGER);"
	"CREATE TABLE IF NOT EXISTS gc(chunk INTEGER NOT NULL, cs INTEGER NOT NULL,"
	" version INTEGER NOT NULL DEFAULT 4294967295,"
	" PRIMARY KEY(chunk, cs)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER);"
	"CREATE INDEX IF NOT EXISTS inode_orphan ON inode(nlink) WHERE nlink=0;"
	"CREATE TABLE IF NOT EXISTS session(id INTEGER PRIMARY KEY, name TEXT, peer TEXT,"
	" root INTEGER);"
	"CREATE TABLE IF NOT EXISTS replay(session INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" reply BLOB, PRIMARY KEY(session, seq)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS lock(ino INTEGER NOT NULL, session INTEGER NOT NULL,"
	" owner INTEGER NOT NULL, kind INTEGER NOT NULL, type INTEGER NOT NULL,"
	" lo INTEGER NOT NULL, hi INTEGER NOT NULL, pid INTEGER);"
	"CREATE INDEX IF NOT EXISTS lock_ino ON lock(ino, kind);"
	"CREATE INDEX IF NOT EXISTS lock_session ON lock(session);";

/* ---- statement helpers ---- */

/* One prepared statement per SQL literal in the code (some 90 today):
 * one not kept here would be prepared again at every use and never
 * finalized. */
struct stmt_cache {
	const char *sql;
	sqlite3_stmt *st;
};
static struct stmt_cache cache[160], rcache[48];	/* db's, rdb's */

/* Prepares (once per SQL literal), resets and binds: 'i' int64, 't' text,
 * 'b' blob (pointer, int length). */
static sqlite3_stmt *vq(const char *sql, const char *fmt, va_list ap)
{
	struct stmt_cache *c = committed_only ? rcache : cache;
	size_t i, n = committed_only ? ZC_ARRAY_SIZE(rcache) : ZC_ARRAY_SIZE(cache);
	sqlite3 *conn = committed_only ? rdb : db;
	sqlite3_stmt *st = NULL;

	for (i = 0; i < n && c[i].sql; i++)
		if (c[i].sql == sql) {
			st = c[i].st;
			break;
		}
	if (!st) {
		if (sqlite3_prepare_v2(conn, sql, -1, &st, NULL) != SQLITE_OK) {
			zc_err("mds: sql prepare failed: %s: %s", sqlite3_errmsg(conn), sql);
			return NULL;
		}
		if (i < n) {
			c[i].sql = sql;
			c[i].st = st;
		} else {
			zc_err("mds: statement cache full (raise its size): %s", sql);
		}
	}
	if (committing && !committed_only && !in_commit)
		zc_err("mds: the store used during a commit (a bug): %s", sql);
	/* Whatever a request reads of db while a batch is open may be of
	 * that batch: its answer waits for the commit.  rdb has none of it. */
	if (in_tx && !committed_only)
		need = batch;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	for (int n = 1; *fmt; fmt++, n++) {
		if (*fmt == 'i') {
			sqlite3_bind_int64(st, n, va_arg(ap, int64_t));
		} else if (*fmt == 't') {
			sqlite3_bind_text(st, n, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
		} else {
			const void *p = va_arg(ap, const void *);

			sqlite3_bind_blob(st, n, p, va_arg(ap, int), SQLITE_TRANSIENT);
		}
	}
	return st;
}

sqlite3_stmt *mds_q(const char *sql, const char *fmt, ...)
{
	va_list ap;
	sqlite3_stmt *st;

	va_start(ap, fmt);
	st = vq(sql, fmt, ap);
	va_end(ap);
	return st;
}

int mds_run(const char *sql, const char *fmt, ...)
{
	va_list ap;
	sqlite3_stmt *st;
	int rc;

	va_start(ap, fmt);
	st = vq(sql, fmt, ap);
	va_end(ap);
	if (!st)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		zc_err("mds: sql failed: %s: %s", sqlite3_errmsg(db), sql);
		return -EIO;
	}
	return 0;
}

int64_t mds_int(int64_t dflt, const char *sql, const char *fmt, ...)
{
	va_list ap;
	sqlite3_stmt *st;
	int64_t v = dflt;

	va_start(ap, fmt);
	st = vq(sql, fmt, ap);
	va_end(ap);
	if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	return v;
}

/* ---- transactions: one batch, a savepoint per change ---- */

/* Was batch e's commit a failure?  commit_lock held.  One older than the
 * failures kept in mind counts as failed: a wrong IO, never a wrong OK. */
static bool batch_failed(uint64_t e)
{
	for (uint64_t i = 0; i < nfailed && i < FAILED_KEPT; i++)
		if (failed[i] == e)
			return true;
	return nfailed > FAILED_KEPT && e < failed[nfailed % FAILED_KEPT];
}

/*
 * Ends the open batch: COMMIT (one fsync for all its changes), or, if the
 * store already dropped the transaction (an I/O error, a full disk) or
 * the commit fails, rolls it back: every request of the batch is then
 * answered IO.  mds_lock held.  Returns 0 or -EIO.
 */
static int batch_commit(void)
{
	if (sqlite3_get_autocommit(db)) {
		zc_err("mds: the store rolled back a batch of %u changes by itself (%s); their"
		       " requests are answered IO", batch_changes, sqlite3_errmsg(db));
		return -EIO;
	}
	if (mds_run("COMMIT", "")) {
		zc_err("mds: commit of a batch of %u changes failed; their requests are answered"
		       " IO", batch_changes);
		if (!sqlite3_get_autocommit(db))
			mds_run("ROLLBACK", "");
		return -EIO;
	}
	return 0;
}

/* The batch is over, committed (err 0) or not: its requests may go.
 * mds_lock held. */
static void batch_done(int err, uint64_t t0)
{
	if (!err && batch_changes) {
		n_commits++;
		n_changes += batch_changes;
		commit_ns += zc_now_ns() - t0;
	}
	in_tx = false;
	depth = 0;
	open_epoch = 0;
	pthread_mutex_lock(&commit_lock);
	done_epoch = batch;
	if (err)
		failed[nfailed++ % FAILED_KEPT] = batch;
	pthread_cond_broadcast(&commit_cv);
	pthread_mutex_unlock(&commit_lock);
}

static int batch_end(void)
{
	uint64_t t0 = zc_now_ns();
	int err;

	if (!in_tx)
		return 0;
	err = batch_commit();
	batch_done(err, t0);
	return err;
}

/* The leader's commit of batch e, if still open: COMMIT runs without
 * mds_lock, so that committed-only reads go on meanwhile; everyone else
 * who uses db waits (mds_lock_store). */
static void lead_commit(uint64_t e)
{
	uint64_t t0;
	int err;

	mds_lock_store();
	if (in_tx && batch <= e) {
		t0 = zc_now_ns();
		committing = true;
		pthread_mutex_unlock(&mds_lock);
		in_commit = true;
		err = batch_commit();
		in_commit = false;
		pthread_mutex_lock(&mds_lock);
		committing = false;
		batch_done(err, t0);
		pthread_cond_broadcast(&store_cv);
	}
	pthread_mutex_unlock(&mds_lock);
}

void mds_lock_store(void)
{
	pthread_mutex_lock(&mds_lock);
	while (committing)
		pthread_cond_wait(&store_cv, &mds_lock);
}

void mds_read_committed(bool on)
{
	/* A statement left stepping would hold rdb's read transaction, and
	 * with it an old snapshot, into the next request: reset them as each
	 * committed read ends (every one does, so none is left at a start). */
	for (sqlite3_stmt *p = NULL; !on && (p = sqlite3_next_stmt(rdb, p));)
		if (sqlite3_stmt_busy(p))
			sqlite3_reset(p);
	committed_only = on;
}

/* Does what the store holds uncommitted move or remove names (access.c's
 * subtree answers): then a committed-only read's answer is not for the
 * subtree cache. */
bool mds_tree_uncommitted(void)
{
	return committed_only && in_tx && mds_tree_gen != tree_gen_at_open;
}

int mds_begin(void)
{
	if (in_tx && sqlite3_get_autocommit(db))
		batch_end();	/* dropped by the store: fails its requests */
	if (!in_tx) {
		if (mds_run("BEGIN IMMEDIATE", ""))
			return -EIO;
		in_tx = true;
		tree_gen_at_open = mds_tree_gen;
		batch = done_epoch + 1;
		batch_changes = 0;
		depth = 0;
		open_epoch = batch;
	}
	need = batch;
	if (mds_run("SAVEPOINT c", "")) {
		if (!in_request && !depth)
			batch_end();
		return -EIO;
	}
	if (!depth++)
		sp_mark = sqlite3_total_changes(db);
	return 0;
}

int mds_end(int err)
{
	int ret = err;

	if (!depth) {
		zc_err("mds: a change ended that did not begin");
		return err ? err : -EIO;
	}
	depth--;
	if (!in_tx || sqlite3_get_autocommit(db)) {
		ret = err ? err : -EIO;		/* gone with its batch */
		batch_end();			/* which fails its requests */
	} else if (err) {
		if (mds_run("ROLLBACK TO c", "") || mds_run("RELEASE c", "")) {
			mds_run("ROLLBACK", "");	/* cannot undo only this one */
			batch_end();
		}
	} else if (mds_run("RELEASE c", "")) {
		ret = -EIO;
		if (mds_run("ROLLBACK TO c", "") || mds_run("RELEASE c", "")) {
			mds_run("ROLLBACK", "");
			batch_end();
		}
	} else if (!depth && sqlite3_total_changes(db) != sp_mark) {
		batch_changes++;
	}
	if (!depth && !in_request && in_tx && batch_end() && !ret)
		ret = -EIO;
	return ret;
}

/* Requests under way are "running" until they first wait for a commit
 * (at their end, or before telling a chunk server something: what follows
 * may be slow): a leader gives them a moment to join its batch.
 * commit_lock held. */
static void run_less(void)
{
	if (!counted)
		return;
	counted = false;
	if (!--running && gathering)
		pthread_cond_broadcast(&commit_cv);
}

/* Waits for batch e, leading its commit if nobody does.  commit_lock
 * held.  Returns 0 or -EIO. */
static int wait_for(uint64_t e)
{
	while (e && done_epoch < e) {
		struct timespec until;

		if (leading) {
			pthread_cond_wait(&commit_cv, &commit_lock);
			continue;
		}
		/* The leader: the batch is still open (only one ever is, and it
		 * is e).  Requests under way join it first, for a moment at
		 * most; everything in it then shares one COMMIT. */
		leading = true;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += GATHER_NS;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		gathering = true;
		while (running && done_epoch < e &&
		       pthread_cond_timedwait(&commit_cv, &commit_lock, &until) != ETIMEDOUT)
			;
		gathering = false;
		pthread_mutex_unlock(&commit_lock);
		lead_commit(e);
		pthread_mutex_lock(&commit_lock);
		leading = false;
		pthread_cond_broadcast(&commit_cv);
		if (done_epoch < e) {
			zc_err("mds: batch %llu was never opened: nothing to wait for",
			       (unsigned long long)e);
			return -EIO;
		}
	}
	return e && batch_failed(e) ? -EIO : 0;
}

int mds_commit_wait(uint64_t e)
{
	int err;

	pthread_mutex_lock(&commit_lock);
	run_less();
	err = wait_for(e);
	pthread_mutex_unlock(&commit_lock);
	return err;
}

int mds_sync(void)
{
	return mds_commit_wait(open_epoch);
}

void mds_request_begin(void)
{
	in_request = true;
	need = 0;
	pthread_mutex_lock(&commit_lock);
	running++;
	counted = true;
	pthread_mutex_unlock(&commit_lock);
}

int mds_request_end(int st, struct zc_cur *o, size_t start)
{
	uint64_t e = need;
	int err;

	pthread_mutex_lock(&commit_lock);
	run_less();
	in_request = false;
	err = answer_later ? 0 : wait_for(e);
	pthread_mutex_unlock(&commit_lock);
	last_need = e;
	if (err) {
		o->pos = start;		/* what the answer said did not happen */
		return ZC_ST_IO;
	}
	return st;
}

void mds_answer_later(void)
{
	answer_later = true;
}

uint64_t mds_request_epoch(void)
{
	return last_need;
}

uint64_t mds_committed_epoch(void)
{
	uint64_t e;

	pthread_mutex_lock(&commit_lock);
	e = done_epoch;
	pthread_mutex_unlock(&commit_lock);
	return e;
}

void mds_commit_stats(uint64_t *commits, uint64_t *changes, uint64_t *ns)
{
	*commits = n_commits;
	*changes = n_changes;
	*ns = commit_ns;
}

int64_t mds_meta_next(const char *key)
{
	int64_t v = mds_int(1, "SELECT v FROM meta WHERE k=?", "t", key);

	if (mds_run("INSERT OR REPLACE INTO meta(k, v) VALUES(?, ?)", "ti", key, v + 1))
		return -EIO;
	return v;
}

/* ---- open and close ---- */

/* Adds a column that stores made by older versions lack.  0 or -EIO. */
static int add_column(const char *table, const char *column, const char *type)
{
	char sql[256];
	sqlite3_stmt *q;
	bool have;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name=?2", -1, &q,
			       NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, column, -1, SQLITE_STATIC);
	have = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	if (have)
		return 0;
	snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s", table, column, type);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		zc_err("mds: cannot add %s.%s: %s", table, column, sqlite3_errmsg(db));
		return -EIO;
	}
	return 0;
}

int mds_store_open(const char *dir)
{
	char path[4096];
	struct timespec now;
	int rc;

	snprintf(path, sizeof(path), "%s/meta.db", dir);
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		zc_err("mds: cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
		return -EIO;
	}
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
			 NULL) != SQLITE_OK ||
	    sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		zc_err("mds: cannot set up %s: %s", path, sqlite3_errmsg(db));
		return -EIO;
	}
	/* Sessions belong to a credential and its export's root. */
	if (add_column("session", "peer", "TEXT") || add_column("session", "root", "INTEGER"))
		return -EIO;
	rc = sqlite3_open_v2(path, &rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		zc_err("mds: cannot open %s to read: %s", path, rdb ? sqlite3_errmsg(rdb) : "no memory");
		return -EIO;
	}
	sqlite3_busy_timeout(rdb, 5000);
	/* Each connection caches pages of its own: 2 MiB by default held
	 * only the names of a folder of 10,000, not of one of 100,000. */
	if (sqlite3_exec(db, "PRAGMA cache_size=-32768", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(rdb, "PRAGMA cache_size=-32768", NULL, NULL, NULL) != SQLITE_OK) {
		zc_err("mds: cannot size the page caches of %s: %s", path, sqlite3_errmsg(db));
		return -EIO;
	}
	if (!mds_int(0, "SELECT count(*) FROM inode WHERE ino=1", "")) {
		clock_gettime(CLOCK_REALTIME, &now);
		if (mds_run("INSERT INTO inode(ino, mode, nlink, uid, gid, rdev, size, atime_s,"
			    " atime_ns, mtime_s, mtime_ns, ctime_s, ctime_ns)"
			    " VALUES(1, ?, 2, 0, 0, 0, 0, ?, ?, ?, ?, ?, ?)", "iiiiiii",
			    (int64_t)(S_IFDIR | 0755), (int64_t)now.tv_sec, (int64_t)now.tv_nsec,
			    (int64_t)now.tv_sec, (int64_t)now.tv_nsec, (int64_t)now.tv_sec,
			    (int64_t)now.tv_nsec))
			return -EIO;
		zc_info("mds: new file system created in %s", path);
	}
	return 0;
}

void mds_store_close(void)
{
	batch_end();	/* what no answer waits for any more still goes to disk */
	for (size_t i = 0; i < ZC_ARRAY_SIZE(cache) && cache[i].sql; i++) {
		sqlite3_finalize(cache[i].st);
		cache[i].sql = NULL;
	}
	for (size_t i = 0; i < ZC_ARRAY_SIZE(rcache) && rcache[i].sql; i++) {
		sqlite3_finalize(rcache[i].st);
		rcache[i].sql = NULL;
	}
	sqlite3_close(rdb);
	sqlite3_close(db);
	rdb = db = NULL;
}
