// SPDX-License-Identifier: MIT
/*
 * READDIR at the mds: a directory read in small batches from cookie to
 * cookie gives every entry once, in cookie order, none of another
 * directory's, and goes on past entries removed meanwhile; and each batch
 * is read through the index on dentry(parent) (with the rowid that is
 * the cookie), not by reading and sorting the whole directory as
 * UNIQUE(parent, name) alone made it do (quadratic listings: 100,000
 * entries took 40-60 times as long as 10,000, bench/RESULTS.md).  A store
 * made before the index gets it when it is opened.  rmdir and rename over
 * a directory still see whether it is empty.
 */
#include <stdio.h>

#include "check.h"
#include "common/log.h"
#include "mds_util.h"

#define FILES 300

/* h_readdir's query, as mds.c has it. */
#define READDIR_SQL "SELECT id, name, ino FROM dentry WHERE parent=? AND id>? ORDER BY id"

static uint64_t seq = 1;

static uint64_t mkdir_in(uint64_t session, uint64_t parent, const char *name)
{
	int st;

	return t_mknod(session, seq++, parent, name, S_IFDIR | 0755, &st);
}

/* UNLINK or RMDIR of name in parent. */
static int name_op(uint16_t type, uint64_t session, uint64_t parent, const char *name)
{
	struct treq *r = treq_new(session, seq++);

	zc_put_u64(&r->c, parent);
	zc_put_str(&r->c, name, strlen(name));
	return treq_send(r, type);
}

/* Runs sql on a connection of its own to the store (which sees what is
 * committed); for EXPLAIN QUERY PLAN, tells whether the plan uses
 * dentry_parent with no sort.  A statement the store keeps would not do:
 * an EXPLAIN is not prepared again when the schema changes. */
static bool plan_ok(const char *sql, bool write)
{
	bool index = false, sort = false;
	char path[128];
	sqlite3_stmt *q;
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/meta.db", t_dir);
	if (sqlite3_open_v2(path, &db, write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY,
			    NULL) != SQLITE_OK)
		return false;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK) {
		while (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_count(q) > 3) {
			const char *d = (const char *)sqlite3_column_text(q, 3);

			fprintf(stderr, "readdir plan: %s\n", d ? d : "");
			index |= d && strstr(d, "USING INDEX dentry_parent");
			sort |= d && strstr(d, "TEMP B-TREE");
		}
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
	return index && !sort;
}

#define PLAN_OK() plan_ok("EXPLAIN QUERY PLAN " READDIR_SQL, false)

/* Reads dir in batches of at most max bytes; seen[i] counts name fI.
 * Returns the entries read, -1 on a bad answer or cookies out of order. */
static int read_all(uint64_t session, uint64_t dir, uint32_t max, int *seen, int *batches)
{
	uint64_t cookie = 0;
	int total = 0;

	*batches = 0;
	for (;;) {
		struct treq *r = treq_new(session, 0);
		struct zc_cur c;
		uint32_t count;

		zc_put_u64(&r->c, dir);
		zc_put_u64(&r->c, cookie);
		zc_put_u32(&r->c, max);
		if (treq_send(r, ZC_CLTOMA_READDIR))
			return -1;
		c = t_answer();
		count = zc_get_u32(&c);
		if (!count)
			return c.err ? -1 : total;
		++*batches;
		for (uint32_t i = 0; i < count; i++) {
			char name[ZC_MAX_NAME + 1];
			uint64_t next = zc_get_u64(&c);
			struct zc_attr a;
			int k;

			zc_get_str(&c, name, sizeof(name), true);
			zc_get_attr(&c, &a);
			if (c.err || next <= cookie || sscanf(name, "f%d", &k) != 1 || k < 0 ||
			    k >= FILES)
				return -1;
			seen[k]++;
			cookie = next;
			total++;
		}
	}
}

int main(void)
{
	int seen[FILES], st, batches, n;
	uint64_t session, a, b;
	char name[32];

	zc_log_init("test", ZC_LOG_ERR, NULL);
	if (t_store_open()) {
		fprintf(stderr, "cannot open a store in %s\n", t_dir);
		return 1;
	}
	session = t_session_new("readdir");
	a = mkdir_in(session, ZC_ROOT_INO, "a");
	b = mkdir_in(session, ZC_ROOT_INO, "b");
	CHECK(session);
	CHECK(a);
	CHECK(b);

	CHECK(PLAN_OK());

	/* Two directories filled in turn: their entries interleave in the
	 * table. */
	for (int i = 0; i < FILES; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		t_create_in(session, seq++, 2 * i + 1, a, name, &st);
		CHECK_EQ(st, ZC_OK);
		t_create_in(session, seq++, 2 * i + 2, b, name, &st);
		CHECK_EQ(st, ZC_OK);
	}
	memset(seen, 0, sizeof(seen));
	n = read_all(session, a, 1024, seen, &batches);
	CHECK_EQ(n, FILES);
	CHECK_GT(batches, 10);	/* small batches, each going on from a cookie */
	for (int i = 0; i < FILES; i++)
		CHECK_EQ(seen[i], 1);

	/* Every other entry of b goes: the rest still come, once each. */
	for (int i = 0; i < FILES; i += 2) {
		snprintf(name, sizeof(name), "f%d", i);
		CHECK_EQ(name_op(ZC_CLTOMA_UNLINK, session, b, name), ZC_OK);
	}
	memset(seen, 0, sizeof(seen));
	n = read_all(session, b, 700, seen, &batches);
	CHECK_EQ(n, FILES / 2);
	for (int i = 0; i < FILES; i++)
		CHECK_EQ(seen[i], i % 2);

	/* A store of an older version, without the index, gets it back when
	 * it is opened. */
	mds_store_close();
	plan_ok("DROP INDEX dentry_parent", true);
	CHECK(!PLAN_OK());
	CHECK(!mds_store_open(t_dir));
	CHECK(!mds_sessions_load());
	CHECK(PLAN_OK());
	memset(seen, 0, sizeof(seen));
	CHECK_EQ(read_all(session, a, 4096, seen, &batches), FILES);

	/* Whether a directory is empty (rmdir, rename over it) looks at its
	 * first entry only: still right. */
	CHECK(mkdir_in(session, ZC_ROOT_INO, "empty"));
	CHECK_EQ(name_op(ZC_CLTOMA_RMDIR, session, ZC_ROOT_INO, "a"), ZC_ST_NOTEMPTY);
	CHECK_EQ(t_rename(session, seq++, "empty", "b"), ZC_ST_NOTEMPTY);
	CHECK_EQ(t_rename(session, seq++, "b", "empty"), ZC_OK);	/* b's entries go along */
	CHECK_EQ(name_op(ZC_CLTOMA_RMDIR, session, ZC_ROOT_INO, "empty"), ZC_ST_NOTEMPTY);
	for (int i = 1; i < FILES; i += 2) {
		snprintf(name, sizeof(name), "f%d", i);
		CHECK_EQ(name_op(ZC_CLTOMA_UNLINK, session, b, name), ZC_OK);
	}
	CHECK_EQ(name_op(ZC_CLTOMA_RMDIR, session, ZC_ROOT_INO, "empty"), ZC_OK);

	t_store_remove();
	return check_done();
}
