// SPDX-License-Identifier: MIT
/*
 * Backups of the store and restores from one.
 *
 * A backup (zcfs backup) opens the store file itself, read-only, next to a
 * running mds: one read transaction pins the last committed state (WAL:
 * the mds goes on writing and committing meanwhile, the copy never sees
 * a batch in the making), and SQLite's online backup copies it a step of
 * pages at a time into FILE.tmp, fsynced and renamed to FILE.
 *
 * A restore (zcfs mds --restore) checks the file, moves a store already
 * in the folder aside (never deletes it), copies the file in, and then
 * makes the store safe for a cluster that lived on after the backup:
 *
 * - chunk ids, inode numbers and session ids jump 2^32 ahead, so that
 *   nothing allocated after the backup (chunk files on the servers, inodes
 *   and sessions clients still hold) is ever given out again;
 * - chunks the old mds made after the backup (ids in that gap) are kept
 *   on the chunk servers, not deleted: the store moved aside still names
 *   them (REPORT counts them);
 * - versions: a replica may be ahead of the backup (written after it) or
 *   behind it (dropped after it as stale, and never told).  Each member's
 *   reported version is noted (table restore_seen); one that reports a
 *   version newer than the record raises the record to it, and members
 *   that reported less are dropped (deleted at their version); a member
 *   that reports less than the record is dropped unless it is the last.
 *   So the newest copy wins and no stale one is taken for current;
 * - sessions, locks and saved answers go: they belong to clients of the
 *   old store.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "mds.h"

#define STEP_PAGES 256		/* 1 MiB of 4 KiB pages per backup step */
#define RESTORE_GAP ((int64_t)1 << 32)

static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

static int fsync_parent(const char *path)
{
	char *copy = strdup(path);
	int err;

	if (!copy)
		return -ENOMEM;
	err = fsync_path(dirname(copy), O_RDONLY | O_DIRECTORY);
	free(copy);
	return err;
}

/* Removes path and SQLite's files beside it.  0 or -errno. */
static int remove_db(const char *path)
{
	static const char *const sides[] = { "", "-journal", "-wal", "-shm" };
	char side[4200];

	for (size_t i = 0; i < ZC_ARRAY_SIZE(sides); i++) {
		snprintf(side, sizeof(side), "%s%s", path, sides[i]);
		if (unlink(side) && errno != ENOENT)
			return -errno;
	}
	return 0;
}

int mds_store_copy(const char *src, const char *dst,
		   void (*progress)(int done, int total, void *arg), void *arg)
{
	char tmp[4200];
	sqlite3 *from = NULL, *to = NULL;
	sqlite3_backup *b;
	int rc, err = -EIO;

	snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
	err = remove_db(tmp);
	if (err) {
		zc_err("backup: cannot remove the old %s: %s", tmp, strerror(-err));
		return err;
	}
	err = -EIO;
	rc = sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		zc_err("backup: cannot open %s: %s", src, from ? sqlite3_errmsg(from) : "no memory");
		goto out;
	}
	sqlite3_busy_timeout(from, 5000);
	/* One read transaction for the whole copy: every step reads the same
	 * committed state, and the mds's commits meanwhile (WAL) neither wait
	 * for us nor make the copy start over. */
	if (sqlite3_exec(from, "BEGIN; SELECT count(*) FROM sqlite_master;", NULL, NULL,
			 NULL) != SQLITE_OK) {
		zc_err("backup: cannot read %s: %s", src, sqlite3_errmsg(from));
		goto out;
	}
	rc = sqlite3_open_v2(tmp, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		zc_err("backup: cannot create %s: %s", tmp, to ? sqlite3_errmsg(to) : "no memory");
		goto out;
	}
	b = sqlite3_backup_init(to, "main", from, "main");
	if (!b) {
		zc_err("backup: cannot start copying %s: %s", src, sqlite3_errmsg(to));
		goto out;
	}
	do {
		rc = sqlite3_backup_step(b, STEP_PAGES);
		if (progress)
			progress(sqlite3_backup_pagecount(b) - sqlite3_backup_remaining(b),
				 sqlite3_backup_pagecount(b), arg);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			usleep(10000);
	} while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		zc_err("backup: copy of %s failed: %s", src, sqlite3_errstr(rc));
		goto out;
	}
	/* The copy says WAL as its source does: one self-contained file is
	 * what a backup should be. */
	if (sqlite3_exec(to, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK) {
		zc_err("backup: %s: %s", tmp, sqlite3_errmsg(to));
		goto out;
	}
	err = 0;
out:
	sqlite3_close(to);
	sqlite3_close(from);
	if (!err && ((err = fsync_path(tmp, O_RDONLY)) || rename(tmp, dst) ||
		     (err = fsync_parent(dst)))) {
		err = err ? err : -errno;
		zc_err("backup: cannot put %s in place: %s", dst, strerror(-err));
	}
	if (err)
		remove_db(tmp);
	return err;
}

int mds_store_check(const char *path)
{
	static const char *const tables[] = { "inode", "dentry", "chunk", "replica", "cs",
					      "gc", "meta" };
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int err = -EINVAL, rc;

	if (access(path, R_OK)) {
		err = -errno;
		zc_err("mds: %s: %s", path, strerror(errno));
		return err;
	}
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		zc_err("mds: cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
		goto out;
	}
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL) != SQLITE_OK) {
		zc_err("mds: %s is not an SQLite database: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(q, 0), "ok")) {
		zc_err("mds: %s fails SQLite's integrity check: %s", path,
		       rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0)
					: sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_finalize(q);
	q = NULL;
	for (size_t i = 0; i < ZC_ARRAY_SIZE(tables); i++) {
		sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
				   -1, &q, NULL);
		sqlite3_bind_text(q, 1, tables[i], -1, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_ROW) {
			zc_err("mds: %s is not a zcfs store: it has no table '%s'", path, tables[i]);
			goto out;
		}
		sqlite3_finalize(q);
		q = NULL;
	}
	sqlite3_prepare_v2(db, "SELECT mode FROM inode WHERE ino=1", -1, &q, NULL);
	if (sqlite3_step(q) != SQLITE_ROW || !S_ISDIR(sqlite3_column_int64(q, 0))) {
		zc_err("mds: %s is not a zcfs store: no root directory", path);
		goto out;
	}
	err = 0;
out:
	sqlite3_finalize(q);
	sqlite3_close(db);
	return err;
}

int mds_store_restore(const char *file, const char *dir, bool force)
{
	static const char *const sides[] = { "", "-wal", "-shm" };
	char path[4200], aside[4300], from[4300], to[4400], stamp[32];
	char *real_file, *real_path;
	struct tm tm;
	time_t now = time(NULL);
	bool there;
	int err;

	if ((err = mds_store_check(file)))
		return err;
	snprintf(path, sizeof(path), "%s/meta.db", dir);
	real_file = realpath(file, NULL);
	real_path = realpath(path, NULL);
	there = real_file && real_path && !strcmp(real_file, real_path);
	free(real_file);
	free(real_path);
	if (there) {
		zc_err("mds: %s is the store of %s itself: nothing to restore", file, dir);
		return -EINVAL;
	}
	there = !access(path, F_OK);
	snprintf(from, sizeof(from), "%s-wal", path);
	there |= !access(from, F_OK);
	if (there && !force) {
		zc_err("mds: %s already holds a store (meta.db): not restoring over it; --force"
		       " moves it aside (meta.db.before-restore-TIME) and restores", dir);
		return -EEXIST;
	}
	if (there) {
		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
		snprintf(aside, sizeof(aside), "%s.before-restore-%s", path, stamp);
		/* The WAL goes with its database: together they are the store. */
		for (size_t i = 0; i < ZC_ARRAY_SIZE(sides); i++) {
			snprintf(from, sizeof(from), "%s%s", path, sides[i]);
			snprintf(to, sizeof(to), "%s%s", aside, sides[i]);
			if (rename(from, to) && errno != ENOENT) {
				err = -errno;
				zc_err("mds: cannot move %s aside: %s", from, strerror(errno));
				return err;
			}
		}
		zc_warn("mds: the store in %s moved aside to %s", dir, aside);
	}
	if ((err = mds_store_copy(file, path, NULL, NULL)))
		return err;
	zc_info("mds: store restored from %s into %s", file, path);
	return 0;
}

int mds_store_restored(void)
{
	int64_t chunk, session;
	int st;

	if (mds_begin())
		return -EIO;
	chunk = mds_int(1, "SELECT v FROM meta WHERE k='next_chunk'", "");
	session = mds_int(1, "SELECT v FROM meta WHERE k='next_session'", "");
	st = mds_run("INSERT OR REPLACE INTO meta(k, v) VALUES('restored_at', ?)", "i",
		     (int64_t)time(NULL)) ||
	     mds_run("INSERT OR REPLACE INTO meta(k, v) VALUES('restored_chunks_from', ?)", "i",
		     chunk) ||
	     mds_run("INSERT OR REPLACE INTO meta(k, v) VALUES('restored_chunks_to', ?)", "i",
		     chunk + RESTORE_GAP) ||
	     mds_run("INSERT OR REPLACE INTO meta(k, v) VALUES('next_chunk', ?)", "i",
		     chunk + RESTORE_GAP) ||
	     mds_run("INSERT OR REPLACE INTO meta(k, v) VALUES('next_session', ?)", "i",
		     session + RESTORE_GAP) ||
	     mds_run("UPDATE sqlite_sequence SET seq=seq+? WHERE name='inode'", "i",
		     RESTORE_GAP) ||
	     mds_run("DELETE FROM session", "") || mds_run("DELETE FROM lock", "") ||
	     mds_run("DELETE FROM replay", "") ||
	     mds_run("CREATE TABLE IF NOT EXISTS restore_seen(chunk INTEGER NOT NULL,"
		     " cs INTEGER NOT NULL, version INTEGER NOT NULL, PRIMARY KEY(chunk, cs))"
		     " WITHOUT ROWID", "") ||
	     mds_run("DELETE FROM restore_seen", "");
	if (mds_end(st ? -EIO : 0))
		return -EIO;
	zc_info("mds: restored store: chunk ids from %" PRId64 " and inode numbers jump 2^32"
		" ahead; chunks %" PRId64 "..%" PRId64 " on the chunk servers are kept", chunk,
		chunk, chunk + RESTORE_GAP - 1);
	return 0;
}

bool mds_store_restored_gap(int64_t *from, int64_t *to)
{
	*from = mds_int(-1, "SELECT v FROM meta WHERE k='restored_chunks_from'", "");
	*to = mds_int(-1, "SELECT v FROM meta WHERE k='restored_chunks_to'", "");
	return *from >= 0;
}

/* Drops cs's replica of chunk, its copy to be deleted at version v or older. */
static int drop_seen(uint64_t chunk, uint32_t cs, int64_t v)
{
	if (mds_run("INSERT OR REPLACE INTO gc(chunk, cs, version) VALUES(?, ?, ?)", "iii",
		    (int64_t)chunk, (int64_t)cs, v) ||
	    mds_run("DELETE FROM replica WHERE chunk=? AND cs=?", "ii", (int64_t)chunk,
		    (int64_t)cs) ||
	    mds_run("DELETE FROM restore_seen WHERE chunk=? AND cs=?", "ii", (int64_t)chunk,
		    (int64_t)cs))
		return -EIO;
	return 0;
}

int mds_restored_member(uint64_t chunk, uint32_t cs, uint32_t have, uint32_t v,
			unsigned *dropped)
{
	sqlite3_stmt *q;
	int64_t others;

	if (v == have)
		return mds_run("INSERT OR REPLACE INTO restore_seen(chunk, cs, version)"
			       " VALUES(?, ?, ?)", "iii", (int64_t)chunk, (int64_t)cs,
			       (int64_t)v) ? -EIO : MDS_SEEN_OK;
	if (v > have) {
		/* Written after the backup: the record follows the newest copy,
		 * and members seen at an older one are stale. */
		uint32_t stale[ZC_MAX_REPLICAS * 4];
		int64_t sv[ZC_MAX_REPLICAS * 4];
		int n = 0;

		q = mds_q("SELECT s.cs, s.version FROM restore_seen s JOIN replica r ON"
			  " r.chunk=s.chunk AND r.cs=s.cs WHERE s.chunk=? AND s.cs<>? AND"
			  " s.version<?", "iii", (int64_t)chunk, (int64_t)cs, (int64_t)v);
		while (q && sqlite3_step(q) == SQLITE_ROW && n < (int)ZC_ARRAY_SIZE(stale)) {
			stale[n] = sqlite3_column_int64(q, 0);
			sv[n++] = sqlite3_column_int64(q, 1);
		}
		if (!q)
			return -EIO;
		sqlite3_reset(q);
		for (int i = 0; i < n; i++) {
			if (drop_seen(chunk, stale[i], sv[i]))
				return -EIO;
			++*dropped;
		}
		if (mds_run("UPDATE chunk SET version=? WHERE id=?", "ii", (int64_t)v,
			    (int64_t)chunk) ||
		    mds_run("INSERT OR REPLACE INTO restore_seen(chunk, cs, version)"
			    " VALUES(?, ?, ?)", "iii", (int64_t)chunk, (int64_t)cs, (int64_t)v))
			return -EIO;
		return MDS_SEEN_RAISED;
	}
	/* Behind the record: dropped after the backup, or an older copy of
	 * one the newest raised.  Kept only if nothing else holds the chunk. */
	others = mds_int(0, "SELECT count(*) FROM replica WHERE chunk=? AND cs<>?", "ii",
			 (int64_t)chunk, (int64_t)cs);
	if (!others)
		return MDS_SEEN_FIX;
	if (drop_seen(chunk, cs, v))
		return -EIO;
	++*dropped;
	return MDS_SEEN_STALE;
}
