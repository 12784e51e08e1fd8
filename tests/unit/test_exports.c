// SPDX-License-Identifier: MIT
/*
 * Exports and permissions at the mds, on a real store: the exports file
 * (good lines, each kind of bad line, a missing file), sessions bound to
 * their credential (also after a restart), a subtree export refusing what
 * is outside it (also after a rename takes a file out), a read-only export
 * refusing changes, root_squash and all_squash owning what they create,
 * and the mode-bit checks: a non-owner writing a 0644 file, an unlink in a
 * sticky directory, chown by non-root, chgrp to a group one is not in.
 */
#include <errno.h>
#include <stdio.h>

#include "check.h"
#include "common/log.h"
#include "common/util.h"
#include "mds_util.h"

static char exports_path[300];

static int write_exports(const char *text)
{
	FILE *f = fopen(exports_path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int load(const char *text)
{
	int err;

	if (write_exports(text))
		return -999;
	mds_lock_store();
	err = mds_exports_load(exports_path);
	pthread_mutex_unlock(&mds_lock);
	return err;
}

static struct mds_export *find(const char *name)
{
	struct mds_export *e;

	mds_lock_store();
	e = mds_export_find(name);
	pthread_mutex_unlock(&mds_lock);
	return e;
}

/* SESSION_NEW as credential peer; *root gets the last 8 bytes. */
static uint64_t session_as(const char *peer, uint64_t *root, int *st)
{
	const char *saved = t_peer;
	struct treq *r = treq_new(0, 0);
	struct zc_cur a;
	uint64_t s;

	t_peer = peer;
	zc_put_str(&r->c, "test", 4);
	*st = treq_send(r, ZC_CLTOMA_SESSION_NEW);
	t_peer = saved;
	if (*st)
		return 0;
	a = t_answer();
	s = zc_get_u64(&a);
	a = zc_cur_init(t_out + t_out_len - 8, 8);
	*root = zc_get_u64(&a);
	return s;
}

static void as(const char *peer, uint32_t uid, uint32_t gid)
{
	t_peer = peer;
	t_uid = uid;
	t_gid = gid;
	t_ngroups = 0;
}

static uint64_t mk(uint64_t s, uint64_t parent, const char *name, uint32_t mode, int *st)
{
	struct treq *r = treq_new(s, 0);
	struct zc_attr a;
	struct zc_cur c;

	zc_put_u64(&r->c, parent);
	zc_put_u32(&r->c, mode);
	zc_put_u32(&r->c, 4242);	/* not used: the caller's identity is */
	zc_put_u32(&r->c, 4242);
	zc_put_u32(&r->c, 0);
	zc_put_str(&r->c, name, strlen(name));
	*st = treq_send(r, ZC_CLTOMA_MKNOD);
	if (*st)
		return 0;
	c = t_answer();
	zc_get_attr(&c, &a);
	return a.ino;
}

static int getattr(uint64_t s, uint64_t ino, struct zc_attr *a)
{
	struct treq *r = treq_new(s, 0);
	struct zc_cur c;
	int st;

	zc_put_u64(&r->c, ino);
	st = treq_send(r, ZC_CLTOMA_GETATTR);
	c = t_answer();
	if (!st)
		zc_get_attr(&c, a);
	return st;
}

static int lookup(uint64_t s, uint64_t parent, const char *name)
{
	struct treq *r = treq_new(s, 0);

	zc_put_u64(&r->c, parent);
	zc_put_str(&r->c, name, strlen(name));
	return treq_send(r, ZC_CLTOMA_LOOKUP);
}

static int name_op(uint16_t type, uint64_t s, uint64_t parent, const char *name)
{
	struct treq *r = treq_new(s, 0);

	zc_put_u64(&r->c, parent);
	zc_put_str(&r->c, name, strlen(name));
	return treq_send(r, type);
}

static int rename_to(uint64_t s, uint64_t parent, const char *name, uint64_t nparent,
		     const char *nname)
{
	struct treq *r = treq_new(s, 0);

	zc_put_u64(&r->c, parent);
	zc_put_str(&r->c, name, strlen(name));
	zc_put_u64(&r->c, nparent);
	zc_put_str(&r->c, nname, strlen(nname));
	zc_put_u32(&r->c, 0);
	return treq_send(r, ZC_CLTOMA_RENAME);
}

static int alloc(uint64_t s, uint64_t ino)
{
	struct treq *r = treq_new(s, 0);

	zc_put_u64(&r->c, ino);
	zc_put_u32(&r->c, 0);
	return treq_send(r, ZC_CLTOMA_CHUNK_ALLOC);
}

static int declare(uint64_t s, uint64_t handle, uint64_t ino, uint8_t access)
{
	struct treq *r = treq_new(s, 0);

	zc_put_u64(&r->c, 0);
	zc_put_u8(&r->c, 1);
	zc_put_u32(&r->c, 1);
	zc_put_u64(&r->c, handle);
	zc_put_u64(&r->c, ino);
	zc_put_u8(&r->c, access);
	return treq_send(r, ZC_CLTOMA_SESSION_RENEW);
}

static void test_parse(void)
{
	struct mds_export *e;

	/* Good lines: comments, blank lines, every option. */
	CHECK_EQ(load("# who may mount what\n"
		      "\n"
		      "alice /        rw\n"
		      "bob   /proj    ro root_squash   # the build farm\n"
		      "carol //proj/a/ rw root_squash=1000:1001 all_squash=2000:3000\n"), 0);
	CHECK((e = find("alice")));
	if (e) {
		CHECK_STR(e->path, "/");
		CHECK_EQ(e->ro, 0);
		CHECK_EQ(e->root_squash, 0);
		CHECK_EQ(e->all_squash, 0);
		CHECK_EQ(e->root, ZC_ROOT_INO);
	}
	CHECK((e = find("bob")));
	if (e) {
		CHECK_STR(e->path, "/proj");
		CHECK_EQ(e->ro, 1);
		CHECK_EQ(e->root_squash, 1);
		CHECK_EQ(e->squash_uid, 65534);
		CHECK_EQ(e->squash_gid, 65534);
		CHECK_EQ(e->root, 0);
	}
	CHECK((e = find("carol")));
	if (e) {
		CHECK_STR(e->path, "/proj/a");
		CHECK_EQ(e->root_squash, 1);
		CHECK_EQ(e->squash_uid, 1000);
		CHECK_EQ(e->squash_gid, 1001);
		CHECK_EQ(e->all_squash, 1);
		CHECK_EQ(e->all_uid, 2000);
		CHECK_EQ(e->all_gid, 3000);
	}
	CHECK(!find("dave"));

	/* Each bad line is refused, and the exports in force stay. */
	static const char *const bad[] = {
		"x /\n",				/* no rw|ro */
		"x proj rw\n",				/* relative */
		"x /a/../b rw\n",			/* .. */
		"x /a/./b rw\n",			/* . */
		"x / rwx\n",
		"x / rw nosquash\n",			/* unknown option */
		"x / rw all_squash\n",			/* needs UID:GID */
		"x / rw root_squash=abc\n",
		"x / rw all_squash=1:\n",
		"x / rw all_squash=1:2 all_squash=3:4\n",
		"bad/name / rw\n",
		"x / rw\nx /proj ro\n",		/* one line per NAME */
		"x / rw\n  oops\n",
	};
	for (size_t i = 0; i < ZC_ARRAY_SIZE(bad); i++) {
		CHECK_EQ(load(bad[i]), -EINVAL);
		CHECK(find("alice"));
		CHECK(find("bob"));
		CHECK(!find("x"));
	}

	/* No file: everyone may mount / read-write without squash. */
	unlink(exports_path);
	mds_lock_store();
	CHECK_EQ(mds_exports_load(exports_path), 0);
	pthread_mutex_unlock(&mds_lock);
	CHECK((e = find("anyone")));
	if (e) {
		CHECK_STR(e->path, "/");
		CHECK_EQ(e->ro, 0);
		CHECK_EQ(e->root_squash, 0);
		CHECK_EQ(e->all_squash, 0);
	}
}

int main(void)
{
	struct zc_attr a;
	uint64_t admin, sub, ro, sq, allsq, other, root, proj, pa, secret, f, g, sticky, mine,
		 owned, dir;
	int st;

	zc_log_init("test", ZC_LOG_WARN, NULL);
	if (t_store_open() || t_cred_add("sub") || t_cred_add("ro_user") ||
	    t_cred_add("squashed") || t_cred_add("allsq") || t_cred_add("missing")) {
		fprintf(stderr, "cannot open a store in %s\n", t_dir);
		return 1;
	}
	snprintf(exports_path, sizeof(exports_path), "%s/exports", t_dir);
	test_parse();

	/* A tree made while there is no exports file. */
	admin = session_as("admin", &root, &st);
	CHECK(admin);
	CHECK_EQ(root, ZC_ROOT_INO);
	proj = mk(admin, ZC_ROOT_INO, "proj", S_IFDIR | 0777, &st);
	pa = mk(admin, proj, "a", S_IFDIR | 0777, &st);
	other = mk(admin, ZC_ROOT_INO, "other", S_IFDIR | 0755, &st);
	secret = mk(admin, other, "secret", S_IFREG | 0644, &st);
	sticky = mk(admin, ZC_ROOT_INO, "sticky", S_IFDIR | 01777, &st);
	owned = mk(admin, proj, "owned", S_IFREG | 0644, &st);
	CHECK(proj);
	CHECK(pa);
	CHECK(other);
	CHECK(secret);
	CHECK(sticky);
	CHECK(owned);

	CHECK_EQ(load("admin    /       rw\n"
		      "sub      /proj/a rw\n"
		      "ro_user  /proj   ro\n"
		      "squashed /proj   rw root_squash\n"
		      "allsq    /proj   rw all_squash=2000:2001\n"
		      "missing  /nothere rw\n"), 0);

	/* Not in the exports: no session; an export not there: none either. */
	CHECK(!session_as("stranger", &root, &st));
	CHECK_EQ(st, ZC_ST_PERM);
	CHECK(!session_as("missing", &root, &st));
	CHECK_EQ(st, ZC_ST_NOENT);

	/* A session is its credential's: another one naming it is refused. */
	sub = session_as("sub", &root, &st);
	CHECK(sub);
	CHECK_EQ(root, pa);
	as("admin", 0, 0);
	CHECK_EQ(getattr(sub, pa, &a), ZC_ST_BADSESSION);
	as("sub", 0, 0);
	CHECK_EQ(getattr(sub, pa, &a), ZC_OK);

	/* Subtree: what is outside is refused, ".." above the root is not
	 * there; what is made inside is reachable. */
	CHECK_EQ(getattr(sub, secret, &a), ZC_ST_PERM);
	CHECK_EQ(getattr(sub, ZC_ROOT_INO, &a), ZC_ST_PERM);
	CHECK_EQ(getattr(sub, proj, &a), ZC_ST_PERM);
	CHECK_EQ(lookup(sub, other, "secret"), ZC_ST_PERM);
	CHECK_EQ(lookup(sub, pa, ".."), ZC_ST_NOENT);
	CHECK_EQ(t_open(sub, secret, 1, ZC_OPEN_READ), ZC_ST_PERM);
	CHECK_EQ(rename_to(sub, pa, "x", other, "y"), ZC_ST_PERM);
	dir = mk(sub, pa, "d", S_IFDIR | 0755, &st);
	f = mk(sub, dir, "f", S_IFREG | 0644, &st);
	CHECK(dir);
	CHECK(f);
	CHECK_EQ(getattr(sub, f, &a), ZC_OK);
	/* A link from outside would let it in: refused. */
	{
		struct treq *r = treq_new(sub, 0);

		zc_put_u64(&r->c, secret);
		zc_put_u64(&r->c, pa);
		zc_put_str(&r->c, "stolen", 6);
		CHECK_EQ(treq_send(r, ZC_CLTOMA_LINK), ZC_ST_PERM);
	}
	/* Moved out by someone else: no longer reachable (the cache forgets). */
	as("admin", 0, 0);
	CHECK_EQ(rename_to(admin, dir, "f", other, "f"), ZC_OK);
	as("sub", 0, 0);
	CHECK_EQ(getattr(sub, f, &a), ZC_ST_PERM);
	/* ... unless the session has it open. */
	as("admin", 0, 0);
	CHECK_EQ(rename_to(admin, other, "f", dir, "f"), ZC_OK);
	as("sub", 0, 0);
	CHECK_EQ(t_open(sub, f, 7, ZC_OPEN_READ | ZC_OPEN_WRITE), ZC_OK);
	as("admin", 0, 0);
	CHECK_EQ(rename_to(admin, dir, "f", other, "f"), ZC_OK);
	as("sub", 0, 0);
	CHECK_EQ(getattr(sub, f, &a), ZC_OK);
	CHECK_EQ(alloc(sub, f), ZC_ST_NOCS);	/* allowed; no chunk server here */
	as("admin", 0, 0);
	CHECK_EQ(rename_to(admin, other, "f", dir, "f"), ZC_OK);

	/* After a restart: sessions are still their credential's; until a
	 * session declares its opens, what only they allow waits. */
	CHECK(!t_store_restart());
	as("admin", 0, 0);
	CHECK_EQ(getattr(sub, pa, &a), ZC_ST_BADSESSION);
	as("sub", 0, 0);
	CHECK_EQ(getattr(sub, pa, &a), ZC_OK);
	CHECK_EQ(alloc(sub, f), ZC_ST_UNDECLARED);
	CHECK_EQ(declare(sub, 7, f, ZC_OPEN_WRITE), ZC_OK);
	CHECK_EQ(alloc(sub, f), ZC_ST_NOCS);
	CHECK_EQ(declare(sub, 7, f, ZC_OPEN_READ), ZC_OK);
	CHECK_EQ(alloc(sub, f), ZC_ST_PERM);
	/* A declared file outside the export, with a name there, is not taken. */
	CHECK_EQ(declare(sub, 8, secret, ZC_OPEN_READ), ZC_OK);
	CHECK_EQ(getattr(sub, secret, &a), ZC_ST_PERM);

	/* Read-only: reading works, every change is refused. */
	as("ro_user", 1000, 1000);
	ro = session_as("ro_user", &root, &st);
	CHECK(ro);
	CHECK_EQ(root, proj);
	CHECK_EQ(t_open(ro, owned, 1, ZC_OPEN_READ), ZC_OK);
	CHECK_EQ(t_open(ro, owned, 2, ZC_OPEN_WRITE), ZC_ST_ROFS);
	CHECK_EQ(t_open(ro, owned, 3, ZC_OPEN_READ | ZC_OPEN_TRUNC), ZC_ST_ROFS);
	mk(ro, proj, "new", S_IFREG | 0644, &st);
	CHECK_EQ(st, ZC_ST_ROFS);
	CHECK_EQ(name_op(ZC_CLTOMA_UNLINK, ro, proj, "owned"), ZC_ST_ROFS);
	CHECK_EQ(t_setattr(ro, 0, owned, ZC_SET_MTIME_NOW, 0, 0, 0, 0), ZC_ST_ROFS);
	CHECK_EQ(alloc(ro, owned), ZC_ST_ROFS);
	CHECK_EQ(getattr(ro, owned, &a), ZC_OK);

	/* root_squash: root makes files as 65534:65534; all_squash: as
	 * the export's identity, whoever asks. */
	as("squashed", 0, 0);
	sq = session_as("squashed", &root, &st);
	g = mk(sq, proj, "by-root", S_IFREG | 0644, &st);
	CHECK_EQ(st, ZC_OK);
	CHECK_EQ(getattr(sq, g, &a), ZC_OK);
	CHECK_EQ(a.uid, 65534);
	CHECK_EQ(a.gid, 65534);
	CHECK_EQ(t_open(sq, owned, 1, ZC_OPEN_WRITE), ZC_ST_ACCES);	/* root's 0644 */
	as("allsq", 1000, 1000);
	allsq = session_as("allsq", &root, &st);
	g = mk(allsq, proj, "by-anyone", S_IFREG | 0644, &st);
	CHECK_EQ(getattr(allsq, g, &a), ZC_OK);
	CHECK_EQ(a.uid, 2000);
	CHECK_EQ(a.gid, 2001);

	/* Mode bits, as uid 1000 on the "/" export. */
	as("admin", 1000, 1000);
	admin = session_as("admin", &root, &st);
	CHECK_EQ(t_open(admin, owned, 1, ZC_OPEN_WRITE), ZC_ST_ACCES);
	CHECK_EQ(t_open(admin, owned, 2, ZC_OPEN_READ), ZC_OK);
	CHECK_EQ(alloc(admin, owned), ZC_ST_PERM);	/* open for reading only */
	CHECK_EQ(t_setattr(admin, 0, owned, ZC_SET_SIZE, 0, 0, 0, 0), ZC_ST_ACCES);
	CHECK_EQ(t_setattr(admin, 0, owned, ZC_SET_MODE, 0666, 0, 0, 0), ZC_ST_PERM);
	CHECK_EQ(t_setattr(admin, 0, owned, ZC_SET_MTIME, 0, 0, 0, 0), ZC_ST_PERM);
	CHECK_EQ(t_setattr(admin, 0, owned, ZC_SET_MTIME_NOW, 0, 0, 0, 0), ZC_ST_ACCES);
	mk(admin, ZC_ROOT_INO, "nope", S_IFDIR | 0755, &st);	/* / is root's 0755 */
	CHECK_EQ(st, ZC_ST_ACCES);
	CHECK_EQ(lookup(admin, other, "secret"), ZC_OK);

	/* Sticky directory: only the entry's owner (or the dir's, or root)
	 * removes it. */
	mine = mk(admin, sticky, "mine", S_IFREG | 0666, &st);
	CHECK_EQ(getattr(admin, mine, &a), ZC_OK);
	CHECK_EQ(a.uid, 1000);
	as("admin", 1001, 1001);
	CHECK_EQ(name_op(ZC_CLTOMA_UNLINK, admin, sticky, "mine"), ZC_ST_PERM);
	CHECK_EQ(rename_to(admin, sticky, "mine", sticky, "taken"), ZC_ST_PERM);
	CHECK_EQ(t_open(admin, mine, 3, ZC_OPEN_WRITE), ZC_OK);	/* 0666 */

	/* chown: root only; chgrp: the owner, to a group it is in. */
	as("admin", 1000, 1000);
	CHECK_EQ(t_setattr(admin, 0, mine, ZC_SET_UID, 0, 1001, 0, 0), ZC_ST_PERM);
	CHECK_EQ(t_setattr(admin, 0, mine, ZC_SET_GID, 0, 0, 50, 0), ZC_ST_PERM);
	t_ngroups = 1;
	t_groups[0] = 50;
	CHECK_EQ(t_setattr(admin, 0, mine, ZC_SET_GID, 0, 0, 50, 0), ZC_OK);
	CHECK_EQ(t_setattr(admin, 0, mine, ZC_SET_MODE, 0600, 0, 0, 0), ZC_OK);
	as("admin", 1001, 1001);
	CHECK_EQ(t_setattr(admin, 0, mine, ZC_SET_MODE, 0666, 0, 0, 0), ZC_ST_PERM);
	as("admin", 0, 0);
	CHECK_EQ(t_setattr(admin, 0, mine, ZC_SET_UID, 0, 1001, 0, 0), ZC_OK);
	CHECK_EQ(getattr(admin, mine, &a), ZC_OK);
	CHECK_EQ(a.uid, 1001);
	CHECK_EQ(a.gid, 50);
	as("admin", 1000, 1000);
	CHECK_EQ(name_op(ZC_CLTOMA_UNLINK, admin, sticky, "mine"), ZC_ST_PERM);
	as("admin", 1001, 1001);
	CHECK_EQ(name_op(ZC_CLTOMA_UNLINK, admin, sticky, "mine"), ZC_OK);

	/* Requests need a session now (STATUS does not). */
	as("admin", 0, 0);
	CHECK_EQ(getattr(0, ZC_ROOT_INO, &a), ZC_ST_BADSESSION);
	{
		struct treq *r = treq_new(0, 0);

		zc_put_u32(&r->c, 0);
		CHECK_EQ(treq_send(r, ZC_CLTOMA_STATUS), ZC_OK);
	}
	unlink(exports_path);
	t_store_remove();
	return check_done();
}
