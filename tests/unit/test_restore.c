// SPDX-License-Identifier: MIT
/*
 * Backups and restores of the mds's store (mds/backup.c): a copy taken
 * while a change is open holds only what was committed; a restore refuses
 * to overwrite a store unless forced, and then moves it aside; a file that
 * is no store is refused; the restored store gives out no id the old one
 * may have used; chunk servers' REPORTs against it keep chunks made after
 * the backup, make the record follow a newer copy, and drop stale ones.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <unistd.h>

#include "check.h"
#include "common/log.h"
#include "common/util.h"
#include "mds_util.h"
#include "rpc/rpc.h"

#define NCS 3

static uint32_t cs_id[NCS];

static void sql(const char *q, const char *fmt, int64_t a, int64_t b, int64_t c)
{
	pthread_mutex_lock(&mds_lock);
	mds_begin();
	if (!fmt[0])
		CHECK_EQ(mds_run(q, ""), 0);
	else if (!fmt[1])
		CHECK_EQ(mds_run(q, fmt, a), 0);
	else if (!fmt[2])
		CHECK_EQ(mds_run(q, fmt, a, b), 0);
	else
		CHECK_EQ(mds_run(q, fmt, a, b, c), 0);
	mds_end(0);
	pthread_mutex_unlock(&mds_lock);
}

static int64_t num(const char *q, int64_t a, int64_t b)
{
	int64_t v;

	pthread_mutex_lock(&mds_lock);
	v = mds_int(-1, q, "ii", a, b);
	pthread_mutex_unlock(&mds_lock);
	return v;
}

/* A chunk with its version and replicas on the servers listed (-1 ends). */
static void chunk(int64_t id, int64_t version, int r0, int r1, int r2)
{
	int rs[3] = { r0, r1, r2 };

	sql("INSERT INTO chunk(ino, idx, id, version) VALUES(1000, ?, ?, ?)", "iii", id, id,
	    version);
	for (int i = 0; i < 3 && rs[i] >= 0; i++)
		sql("INSERT INTO replica(chunk, cs) VALUES(?, ?)", "ii", id, cs_id[rs[i]], 0);
}

static bool member(int64_t id, int i)
{
	return num("SELECT count(*) FROM replica WHERE chunk=? AND cs=?", id, cs_id[i]) == 1;
}

/* The answer of a REPORT: the chunks to delete and the version fixes, as
 * text "d:ID ... f:ID@V ...". */
static const char *report(int i, const uint64_t *ids, const uint32_t *versions, int n)
{
	static char text[512];
	uint8_t page[8 + 12 * 16];
	struct zc_cur c = zc_cur_init(page, sizeof(page)), a;
	size_t len = 0;
	uint32_t k;

	zc_put_u32(&c, cs_id[i]);
	zc_put_u32(&c, n);
	for (int j = 0; j < n; j++) {
		zc_put_u64(&c, ids[j]);
		zc_put_u32(&c, versions[j]);
	}
	text[0] = 0;
	if (t_cs_send(ZC_CSTOMA_REPORT, page, c.pos) != ZC_OK)
		return "refused";
	a = t_answer();
	k = zc_get_u32(&a);
	for (uint32_t j = 0; j < k; j++)
		len += snprintf(text + len, sizeof(text) - len, "d:%llu ",
				(unsigned long long)zc_get_u64(&a));
	k = zc_get_u32(&a);
	for (uint32_t j = 0; j < k; j++) {
		unsigned long long id = zc_get_u64(&a);

		len += snprintf(text + len, sizeof(text) - len, "f:%llu@%u ", id, zc_get_u32(&a));
	}
	if (a.err)
		return "truncated";
	if (len)
		text[len - 1] = 0;
	return text;
}

int main(void)
{
	char store[128], backup[128], junk[256], pattern[160];
	uint64_t s, ino_before, ino_after;
	glob_t g;
	int st;

	zc_log_init("test", getenv("ZCFS_TEST_VERBOSE") ? ZC_LOG_DEBUG : ZC_LOG_ERR, NULL);
	replicas_goal = 3;
	if (t_store_open() || mds_recovery_init()) {
		fprintf(stderr, "cannot open a store in %s\n", t_dir);
		return 1;
	}
	snprintf(store, sizeof(store), "%s/meta.db", t_dir);
	snprintf(backup, sizeof(backup), "%s/backup.db", t_dir);
	for (int i = 0; i < NCS; i++) {
		cs_id[i] = t_cs_register(0x7e, i, 9 + i);
		CHECK(cs_id[i]);
	}
	s = t_session_new("restore");
	ino_before = t_create(s, 1, 1, "before", &st);
	CHECK_EQ(st, ZC_OK);
	sql("INSERT OR REPLACE INTO meta(k, v) VALUES('next_chunk', 100)", "", 0, 0, 0);
	chunk(10, 3, 0, 1, 2);	/* written after the backup on 0 and 1, 2 dropped */
	chunk(11, 5, 0, 1, -1);	/* 0 dropped after the backup */
	chunk(12, 2, 0, -1, -1);	/* a lone replica that missed a bump */
	chunk(13, 4, 0, 1, 2);	/* nothing happened to it */

	/* A change under way is not in the copy: only what is committed. */
	pthread_mutex_lock(&mds_lock);
	CHECK_EQ(mds_begin(), 0);
	CHECK_EQ(mds_run("INSERT INTO chunk(ino, idx, id, version) VALUES(1000, 99, 99, 1)", ""),
		 0);
	CHECK_EQ(mds_store_copy(store, backup, NULL, NULL), 0);
	mds_end(0);
	pthread_mutex_unlock(&mds_lock);
	snprintf(junk, sizeof(junk), "%s.tmp", backup);
	CHECK(access(junk, F_OK) && errno == ENOENT);
	CHECK_EQ(mds_store_check(backup), 0);

	/* After the backup: a file, and the chunk ids it got. */
	t_create(s, 2, 2, "after", &st);
	CHECK_EQ(st, ZC_OK);
	sql("UPDATE meta SET v=200 WHERE k='next_chunk'", "", 0, 0, 0);

	/* Files that are no store are refused. */
	CHECK_EQ(mds_store_check(t_creds), -EINVAL);
	snprintf(junk, sizeof(junk), "%s/nothing.db", t_dir);
	CHECK(mds_store_check(junk) < 0);

	/* A store is there: refused without force, moved aside with it. */
	mds_store_close();
	CHECK_EQ(mds_store_restore(backup, t_dir, false), -EEXIST);
	CHECK_EQ(mds_store_restore(store, t_dir, true), -EINVAL);	/* itself */
	CHECK_EQ(mds_store_restore(backup, t_dir, true), 0);
	snprintf(pattern, sizeof(pattern), "%s/meta.db.before-restore-*", t_dir);
	CHECK(glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc >= 1);
	CHECK_EQ(mds_store_open(t_dir), 0);
	pthread_mutex_lock(&mds_lock);
	CHECK_EQ(mds_store_restored(), 0);
	pthread_mutex_unlock(&mds_lock);
	CHECK_EQ(mds_sessions_load(), 0);

	/* The namespace of the backup: "before" there, "after" and the
	 * uncommitted chunk not; the old session gone. */
	CHECK_EQ(num("SELECT count(*) FROM dentry WHERE name='before' AND ?=?", 0, 0), 1);
	CHECK_EQ(num("SELECT count(*) FROM dentry WHERE name='after' AND ?=?", 0, 0), 0);
	CHECK_EQ(num("SELECT count(*) FROM chunk WHERE id=99 AND ?=?", 0, 0), 0);
	CHECK_EQ(num("SELECT count(*) FROM session WHERE ?=?", 0, 0), 0);
	/* Nothing the old store may have given out after the backup comes
	 * again: chunk ids and inode numbers jump. */
	CHECK_EQ(num("SELECT v FROM meta WHERE k='next_chunk' AND ?=?", 0, 0), 100 + (1LL << 32));
	s = t_session_new("restore2");
	CHECK(s);
	ino_after = t_create(s, 1, 1, "new", &st);
	CHECK_EQ(st, ZC_OK);
	CHECK(ino_after > ino_before + (1ULL << 32));

	/* Chunk servers come back with what they hold now. */
	for (int i = 0; i < NCS; i++)
		CHECK_EQ(t_cs_register(0x7e, i, 9 + i), cs_id[i]);
	/* Server 2: chunk 10 at the backup's version (it was dropped after),
	 * 13 current, 150 made after the backup (kept), 50 unknown (deleted). */
	CHECK_STR(report(2, (uint64_t[]){ 10, 13, 150, 50 }, (uint32_t[]){ 3, 4, 1, 1 }, 4),
		  "d:50");
	CHECK(member(10, 2));
	/* Server 0: 10 newer than the record, which follows it, and server
	 * 2's older copy is dropped (deleted at its version); 11 behind while
	 * server 1 holds it: dropped; 12 behind, alone: moved up. */
	CHECK_STR(report(0, (uint64_t[]){ 10, 11, 12, 13 }, (uint32_t[]){ 4, 4, 1, 4 }, 4),
		  "f:12@2");
	CHECK_EQ(num("SELECT version FROM chunk WHERE id=? AND ?=0", 10, 0), 4);
	CHECK(member(10, 0) && !member(10, 2));
	CHECK_EQ(num("SELECT version FROM gc WHERE chunk=? AND cs=?", 10, cs_id[2]), 3);
	CHECK(!member(11, 0) && member(11, 1));
	CHECK_EQ(num("SELECT version FROM gc WHERE chunk=? AND cs=?", 11, cs_id[0]), 4);
	CHECK(member(12, 0));
	/* Server 1: 10 at the new version stays a member; 11 current. */
	CHECK_STR(report(1, (uint64_t[]){ 10, 11, 13 }, (uint32_t[]){ 4, 5, 4 }, 3), "");
	CHECK(member(10, 1) && member(11, 1) && member(13, 1));
	CHECK_EQ(num("SELECT count(*) FROM replica WHERE chunk=? AND ?=0", 13, 0), 3);

	/* Server 2 again (a restart): its copy of 10 is no replica now. */
	CHECK_STR(report(2, (uint64_t[]){ 10, 150 }, (uint32_t[]){ 3, 1 }, 2), "d:10");

	for (size_t i = 0; i < g.gl_pathc; i++)
		unlink(g.gl_pathv[i]);
	globfree(&g);
	unlink(backup);
	t_store_remove();
	return check_done();
}
