// SPDX-License-Identifier: MIT
/*
 * The metadata store: namespace, attributes and file layout in SQLite (WAL,
 * synchronous=FULL: a change is on disk before it is acknowledged).
 * Callers hold mds_lock; every change runs in one transaction.
 */
#include <errno.h>
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
static struct {
	const char *sql;
	sqlite3_stmt *st;
} cache[160];

/* Prepares (once per SQL literal), resets and binds: 'i' int64, 't' text,
 * 'b' blob (pointer, int length). */
static sqlite3_stmt *vq(const char *sql, const char *fmt, va_list ap)
{
	sqlite3_stmt *st = NULL;
	size_t i;

	for (i = 0; i < ZC_ARRAY_SIZE(cache) && cache[i].sql; i++)
		if (cache[i].sql == sql) {
			st = cache[i].st;
			break;
		}
	if (!st) {
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
			zc_err("mds: sql prepare failed: %s: %s", sqlite3_errmsg(db), sql);
			return NULL;
		}
		if (i < ZC_ARRAY_SIZE(cache)) {
			cache[i].sql = sql;
			cache[i].st = st;
		} else {
			zc_err("mds: statement cache full (raise its size): %s", sql);
		}
	}
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

int mds_begin(void)
{
	return mds_run("BEGIN IMMEDIATE", "");
}

int mds_end(int err)
{
	if (err) {
		mds_run("ROLLBACK", "");
		return err;
	}
	if (mds_run("COMMIT", "")) {
		mds_run("ROLLBACK", "");
		return -EIO;
	}
	return 0;
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
	for (size_t i = 0; i < ZC_ARRAY_SIZE(cache) && cache[i].sql; i++) {
		sqlite3_finalize(cache[i].st);
		cache[i].sql = NULL;
	}
	sqlite3_close(db);
	db = NULL;
}
