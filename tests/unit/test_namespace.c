// SPDX-License-Identifier: MIT
/*
 * The mds's client request handlers against a real store in a temporary
 * folder, answer by answer and row by row: directories, files, links,
 * symlinks, renames (over files, over directories, into themselves, with
 * NOREPLACE), removals, "." and "..", the sticky bit, attribute changes and
 * who may make them, setuid and setgid dropped, then chunks: placement on the servers that are up
 * (the goal, never twice on one), a second allocation answering the same
 * chunk, holes, sizes that grow and truncates that drop chunks (queued for
 * deletion on their servers), appends, versions in layouts and
 * capabilities for the session, and the refusals on the way (not open for
 * writing, out of range, no server up).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "check.h"
#include "common/log.h"
#include "common/util.h"
#include "mds_util.h"

static uint64_t sess, seq = 1;

static int attr_of(struct zc_attr *a)
{
	struct zc_cur c = t_answer();

	zc_get_attr(&c, a);
	return c.err ? -1 : 0;
}

/* MKNOD (a directory, a fifo...) in parent; returns its ino, 0 on error. */
static uint64_t mknod_in(uint64_t parent, const char *name, uint32_t mode, int *st)
{
	return t_mknod(sess, seq++, parent, name, mode, st);
}

static int name_in(uint16_t type, uint64_t parent, const char *name)
{
	struct treq *r = treq_new(sess, seq++);

	zc_put_u64(&r->c, parent);
	zc_put_str(&r->c, name, strlen(name));
	return treq_send(r, type);
}

/* LOOKUP: the ino of parent/name, 0 if none. */
static uint64_t lookup(uint64_t parent, const char *name)
{
	struct zc_attr a;

	return name_in(ZC_CLTOMA_LOOKUP, parent, name) || attr_of(&a) ? 0 : a.ino;
}

static int getattr(uint64_t ino, struct zc_attr *a)
{
	struct treq *r = treq_new(sess, 0);
	int st;

	zc_put_u64(&r->c, ino);
	st = treq_send(r, ZC_CLTOMA_GETATTR);
	return st ? st : attr_of(a);
}

static int rename_in(uint64_t p, const char *from, uint64_t np, const char *to, uint32_t flags)
{
	struct treq *r = treq_new(sess, seq++);

	zc_put_u64(&r->c, p);
	zc_put_str(&r->c, from, strlen(from));
	zc_put_u64(&r->c, np);
	zc_put_str(&r->c, to, strlen(to));
	zc_put_u32(&r->c, flags);
	return treq_send(r, ZC_CLTOMA_RENAME);
}

static int link_to(uint64_t ino, uint64_t parent, const char *name)
{
	struct treq *r = treq_new(sess, seq++);

	zc_put_u64(&r->c, ino);
	zc_put_u64(&r->c, parent);
	zc_put_str(&r->c, name, strlen(name));
	return treq_send(r, ZC_CLTOMA_LINK);
}

static int setattr(uint64_t ino, uint32_t valid, uint32_t mode, uint32_t uid, uint32_t gid,
		   uint64_t size)
{
	return t_setattr(sess, seq++, ino, valid, mode, uid, gid, size);
}

/* CHUNK_ALLOC or CHUNK_GET of (ino, idx): the layout and the size. */
static int chunk(uint16_t type, uint64_t ino, uint32_t idx, struct zc_loc *l, uint64_t *size)
{
	struct treq *r = treq_new(sess, 0);
	struct zc_cur c;
	int st;

	zc_put_u64(&r->c, ino);
	zc_put_u32(&r->c, idx);
	st = treq_send(r, type);
	if (st)
		return st;
	c = t_answer();
	*size = zc_get_u64(&c);
	zc_get_loc(&c, l);
	return c.err || zc_cur_left(&c) ? -1 : 0;
}

static int setsize(uint64_t ino, uint64_t size)
{
	struct treq *r = treq_new(sess, seq++);

	zc_put_u64(&r->c, ino);
	zc_put_u64(&r->c, size);
	zc_put_u64(&r->c, 3000);
	zc_put_u32(&r->c, 3);
	return treq_send(r, ZC_CLTOMA_SETSIZE);
}

static int append(uint64_t ino, uint32_t len, uint64_t *off)
{
	struct treq *r = treq_new(sess, seq++);
	struct zc_cur c;
	int st;

	zc_put_u64(&r->c, ino);
	zc_put_u32(&r->c, len);
	st = treq_send(r, ZC_CLTOMA_APPEND);
	c = t_answer();
	*off = st ? 0 : zc_get_u64(&c);
	return st;
}

static void test_names(void)
{
	struct zc_attr a, d;
	uint64_t dir, sub, f, g, v, sym, fifo;
	struct treq *r;
	struct zc_cur c;
	char target[64];
	int st;

	dir = mknod_in(ZC_ROOT_INO, "d", S_IFDIR | 0755, &st);
	CHECK_EQ(st, ZC_OK);
	CHECK_EQ(getattr(dir, &a), 0);
	CHECK_EQ(a.mode, S_IFDIR | 0755);
	CHECK_EQ(a.nlink, 2);
	CHECK_EQ(getattr(ZC_ROOT_INO, &d), 0);
	CHECK_EQ(d.nlink, 3);	/* the new directory's ".." */
	CHECK_EQ(lookup(ZC_ROOT_INO, "d"), dir);
	mknod_in(ZC_ROOT_INO, "d", S_IFDIR | 0755, &st);
	CHECK_EQ(st, ZC_ST_EXIST);
	mknod_in(ZC_ROOT_INO, ".", S_IFDIR | 0755, &st);
	CHECK_EQ(st, ZC_ST_EXIST);
	mknod_in(ZC_ROOT_INO, "bad", 0170000 | 0644, &st);	/* no such type */
	CHECK_EQ(st, ZC_ST_INVAL);
	mknod_in(99999, "x", S_IFREG | 0644, &st);
	CHECK_EQ(st, ZC_ST_NOENT);

	f = t_create_in(sess, seq++, 1, dir, "f", &st);
	CHECK_EQ(st, ZC_OK);
	mknod_in(f, "x", S_IFREG | 0644, &st);	/* a file is no directory */
	CHECK_EQ(st, ZC_ST_NOTDIR);
	fifo = mknod_in(dir, "p", S_IFIFO | 0600, &st);
	CHECK_EQ(st, ZC_OK);
	CHECK_EQ(getattr(fifo, &a), 0);
	CHECK_EQ(a.mode, S_IFIFO | 0600);

	/* Symlinks: the target as given, its length the size. */
	r = treq_new(sess, seq++);
	zc_put_u64(&r->c, dir);
	zc_put_u32(&r->c, 0);
	zc_put_u32(&r->c, 0);
	zc_put_str(&r->c, "s", 1);
	zc_put_str(&r->c, "../some/where", 13);
	CHECK_EQ(treq_send(r, ZC_CLTOMA_SYMLINK), ZC_OK);
	CHECK_EQ(attr_of(&a), 0);
	sym = a.ino;
	CHECK_EQ(a.size, 13);
	CHECK_EQ(a.mode & S_IFMT, S_IFLNK);
	r = treq_new(sess, 0);
	zc_put_u64(&r->c, sym);
	CHECK_EQ(treq_send(r, ZC_CLTOMA_READLINK), ZC_OK);
	c = t_answer();
	zc_get_str(&c, target, sizeof(target), false);
	CHECK_STR(target, "../some/where");
	r = treq_new(sess, 0);
	zc_put_u64(&r->c, f);
	CHECK_EQ(treq_send(r, ZC_CLTOMA_READLINK), ZC_ST_INVAL);	/* not a symlink */

	/* Hard links count; a directory gets none. */
	CHECK_EQ(link_to(f, ZC_ROOT_INO, "g"), ZC_OK);
	CHECK_EQ(getattr(f, &a), 0);
	CHECK_EQ(a.nlink, 2);
	CHECK_EQ(link_to(dir, ZC_ROOT_INO, "dl"), ZC_ST_PERM);
	CHECK_EQ(link_to(f, ZC_ROOT_INO, "g"), ZC_ST_EXIST);
	CHECK_EQ(name_in(ZC_CLTOMA_UNLINK, dir, "f"), ZC_OK);
	CHECK_EQ(getattr(f, &a), 0);
	CHECK_EQ(a.nlink, 1);
	CHECK_EQ(lookup(dir, "f"), 0);
	g = lookup(ZC_ROOT_INO, "g");
	CHECK_EQ(g, f);

	/* Removals: the right kind, "." and "..", not empty. */
	CHECK_EQ(name_in(ZC_CLTOMA_RMDIR, ZC_ROOT_INO, "g"), ZC_ST_NOTDIR);
	CHECK_EQ(name_in(ZC_CLTOMA_UNLINK, ZC_ROOT_INO, "d"), ZC_ST_ISDIR);
	CHECK_EQ(name_in(ZC_CLTOMA_RMDIR, ZC_ROOT_INO, "d"), ZC_ST_NOTEMPTY);
	CHECK_EQ(name_in(ZC_CLTOMA_RMDIR, dir, "."), ZC_ST_INVAL);
	CHECK_EQ(name_in(ZC_CLTOMA_RMDIR, dir, ".."), ZC_ST_NOTEMPTY);
	CHECK_EQ(name_in(ZC_CLTOMA_UNLINK, dir, ".."), ZC_ST_ISDIR);
	CHECK_EQ(name_in(ZC_CLTOMA_UNLINK, dir, "nothing"), ZC_ST_NOENT);

	/* Renames: in place, across directories, over a file (which goes),
	 * with NOREPLACE, over the wrong kind, into itself. */
	sub = mknod_in(dir, "sub", S_IFDIR | 0755, &st);
	CHECK_EQ(st, ZC_OK);
	CHECK_EQ(rename_in(ZC_ROOT_INO, "g", ZC_ROOT_INO, "g", 0), ZC_OK);	/* itself */
	CHECK_EQ(rename_in(ZC_ROOT_INO, "g", dir, "g2", 0), ZC_OK);
	CHECK_EQ(lookup(dir, "g2"), f);
	CHECK_EQ(lookup(ZC_ROOT_INO, "g"), 0);
	t_create_in(sess, seq++, 2, dir, "victim", &st);
	CHECK_EQ(st, ZC_OK);
	CHECK_EQ(rename_in(dir, "g2", dir, "victim", ZC_RENAME_NOREPLACE), ZC_ST_EXIST);
	/* EXCHANGE: the two names swap what they name, and back. */
	v = lookup(dir, "victim");
	CHECK_EQ(rename_in(dir, "g2", dir, "victim", ZC_RENAME_EXCHANGE), ZC_OK);
	CHECK_EQ(lookup(dir, "victim"), f);
	CHECK_EQ(lookup(dir, "g2"), v);
	CHECK_EQ(rename_in(dir, "g2", dir, "victim", ZC_RENAME_EXCHANGE), ZC_OK);
	CHECK_EQ(lookup(dir, "g2"), f);
	CHECK_EQ(rename_in(dir, "g2", dir, "none", ZC_RENAME_EXCHANGE), ZC_ST_NOENT);
	CHECK_EQ(rename_in(dir, "g2", dir, "victim", ZC_RENAME_EXCHANGE | ZC_RENAME_NOREPLACE),
		 ZC_ST_INVAL);
	CHECK_EQ(rename_in(dir, "g2", dir, "victim", 0), ZC_OK);
	CHECK_EQ(lookup(dir, "victim"), f);
	CHECK_EQ(rename_in(dir, "victim", dir, "sub", 0), ZC_ST_ISDIR);
	CHECK_EQ(rename_in(dir, "sub", dir, "victim", 0), ZC_ST_NOTDIR);
	CHECK_EQ(rename_in(ZC_ROOT_INO, "d", sub, "loop", 0), ZC_ST_INVAL);
	CHECK_EQ(rename_in(ZC_ROOT_INO, "d", dir, "d", 0), ZC_ST_INVAL);
	CHECK_EQ(rename_in(dir, ".", ZC_ROOT_INO, "x", 0), ZC_ST_BUSY);
	CHECK_EQ(rename_in(dir, "none", ZC_ROOT_INO, "x", 0), ZC_ST_NOENT);
	/* A directory moving out: the link counts follow its "..". */
	CHECK_EQ(rename_in(dir, "sub", ZC_ROOT_INO, "sub", 0), ZC_OK);
	CHECK_EQ(getattr(dir, &a), 0);
	CHECK_EQ(a.nlink, 2);
	CHECK_EQ(getattr(ZC_ROOT_INO, &a), 0);
	CHECK_EQ(a.nlink, 4);
	/* A directory and a file exchanged across directories: the counts
	 * follow; a directory never into itself. */
	CHECK_EQ(rename_in(ZC_ROOT_INO, "sub", dir, "victim", ZC_RENAME_EXCHANGE), ZC_OK);
	CHECK_EQ(lookup(dir, "victim"), sub);
	CHECK_EQ(getattr(ZC_ROOT_INO, &a), 0);
	CHECK_EQ(a.nlink, 3);
	CHECK_EQ(getattr(dir, &a), 0);
	CHECK_EQ(a.nlink, 3);
	CHECK_EQ(rename_in(ZC_ROOT_INO, "sub", dir, "victim", ZC_RENAME_EXCHANGE), ZC_OK);
	CHECK_EQ(lookup(ZC_ROOT_INO, "sub"), sub);
	CHECK_EQ(getattr(ZC_ROOT_INO, &a), 0);
	CHECK_EQ(a.nlink, 4);
	CHECK_EQ(getattr(dir, &a), 0);
	CHECK_EQ(a.nlink, 2);
	CHECK_EQ(rename_in(ZC_ROOT_INO, "d", dir, "victim", ZC_RENAME_EXCHANGE), ZC_ST_INVAL);
	/* Over an empty directory: it goes; the count drops again. */
	mknod_in(dir, "empty", S_IFDIR | 0755, &st);
	CHECK_EQ(rename_in(ZC_ROOT_INO, "sub", dir, "empty", 0), ZC_OK);
	CHECK_EQ(getattr(ZC_ROOT_INO, &a), 0);
	CHECK_EQ(a.nlink, 3);
	CHECK_EQ(lookup(dir, "empty"), sub);
	CHECK_EQ(name_in(ZC_CLTOMA_RMDIR, dir, "empty"), ZC_OK);
	CHECK_EQ(getattr(sub, &a), ZC_ST_NOENT);

	/* The last name of a file not open anywhere: the inode goes. */
	CHECK_EQ(name_in(ZC_CLTOMA_UNLINK, dir, "s"), ZC_OK);
	CHECK_EQ(getattr(sym, &a), ZC_ST_NOENT);
	CHECK_EQ(mds_int(-1, "SELECT count(*) FROM dentry WHERE ino=?", "i", (int64_t)sym), 0);
}

static void test_attrs(void)
{
	struct zc_attr a;
	uint64_t f, sticky;
	int st;

	f = t_create(sess, seq++, 10, "attrs", &st);
	CHECK_EQ(st, ZC_OK);
	CHECK_EQ(setattr(f, ZC_SET_MODE | ZC_SET_UID | ZC_SET_GID | ZC_SET_ATIME | ZC_SET_MTIME,
			 04755, 1000, 1000, 0), ZC_OK);
	CHECK_EQ(attr_of(&a), 0);
	CHECK_EQ(a.mode, S_IFREG | 04755);
	CHECK_EQ(a.uid, 1000);
	CHECK_EQ(a.gid, 1000);
	CHECK_EQ(a.atime_s, 1000);
	CHECK_EQ(a.atime_ns, 1);
	CHECK_EQ(a.mtime_s, 2000);
	CHECK_EQ(a.mtime_ns, 2);
	CHECK_EQ(setattr(f, ZC_SET_SIZE, 0, 0, 0, 12345), ZC_OK);
	CHECK_EQ(attr_of(&a), 0);
	CHECK_EQ(a.size, 12345);
	CHECK_EQ(setattr(f, ZC_SET_SIZE, 0, 0, 0, (1ULL << 50) + 1), ZC_ST_FBIG);

	/* As uid 2000, not the owner: no chmod, chown or times; as the
	 * owner (1000) chmod, and chgrp only to a group it is in. */
	t_uid = 2000;
	t_gid = 2000;
	CHECK_EQ(setattr(f, ZC_SET_MODE, 0777, 0, 0, 0), ZC_ST_PERM);
	CHECK_EQ(setattr(f, ZC_SET_UID, 0, 2000, 0, 0), ZC_ST_PERM);
	CHECK_EQ(setattr(f, ZC_SET_MTIME, 0, 0, 0, 0), ZC_ST_PERM);
	CHECK_EQ(setattr(f, ZC_SET_MTIME_NOW, 0, 0, 0, 0), ZC_ST_ACCES);	/* 0755: no write */
	t_uid = 1000;
	t_gid = 1000;
	CHECK_EQ(setattr(f, ZC_SET_MODE, 02644, 0, 0, 0), ZC_OK);
	CHECK_EQ(attr_of(&a), 0);
	CHECK_EQ(a.mode, S_IFREG | 02644);
	CHECK_EQ(setattr(f, ZC_SET_GID, 0, 0, 4242, 0), ZC_ST_PERM);
	CHECK_EQ(setattr(f, ZC_SET_UID, 0, 1001, 0, 0), ZC_ST_PERM);	/* chown: root only */
	/* Bad times are refused before anything. */
	t_uid = t_gid = 0;
	{
		struct treq *r = treq_new(sess, seq++);

		zc_put_u64(&r->c, f);
		zc_put_u32(&r->c, ZC_SET_ATIME);
		zc_put_u32(&r->c, 0);
		zc_put_u32(&r->c, 0);
		zc_put_u32(&r->c, 0);
		zc_put_u64(&r->c, 0);
		zc_put_u64(&r->c, 1);
		zc_put_u32(&r->c, 1000000000U);
		zc_put_u64(&r->c, 1);
		zc_put_u32(&r->c, 0);
		CHECK_EQ(treq_send(r, ZC_CLTOMA_SETATTR), ZC_ST_INVAL);
	}

	/* A sticky directory: another user's file stays. */
	sticky = mknod_in(ZC_ROOT_INO, "tmp", S_IFDIR | 01777, &st);
	CHECK_EQ(st, ZC_OK);
	t_uid = t_gid = 1000;
	t_create_in(sess, seq++, 11, sticky, "mine", &st);
	CHECK_EQ(st, ZC_OK);
	t_uid = t_gid = 2000;
	CHECK_EQ(name_in(ZC_CLTOMA_UNLINK, sticky, "mine"), ZC_ST_PERM);
	CHECK_EQ(rename_in(sticky, "mine", sticky, "yours", 0), ZC_ST_PERM);
	/* Nor may it make a name in a directory it cannot write. */
	mknod_in(ZC_ROOT_INO, "x", S_IFREG | 0644, &st);
	CHECK_EQ(st, ZC_ST_ACCES);
	t_uid = t_gid = 1000;
	CHECK_EQ(name_in(ZC_CLTOMA_UNLINK, sticky, "mine"), ZC_OK);
	t_uid = t_gid = 0;
}

/* Three chunk servers up, each with a TiB free. */
/* setuid and setgid after writes, truncations, appends and chown, as
 * Linux leaves them (mds_mode_killed), and who may drop them. */
static void test_privs(void)
{
	struct zc_attr a;
	uint64_t f, off;
	int st;

	f = t_create(sess, seq++, 12, "privs", &st);
	CHECK_EQ(st, ZC_OK);
	/* chown by root drops setuid and a group-executable setgid. */
	CHECK_EQ(setattr(f, ZC_SET_MODE, 06777, 0, 0, 0), ZC_OK);
	CHECK_EQ(setattr(f, ZC_SET_UID | ZC_SET_GID, 0, 1000, 1000, 0), ZC_OK);
	CHECK_EQ(attr_of(&a), 0);
	CHECK_EQ(a.mode, S_IFREG | 0777);
	/* Root's setgid without group-execute stays through a chown. */
	CHECK_EQ(setattr(f, ZC_SET_MODE, 02767, 0, 0, 0), ZC_OK);
	CHECK_EQ(setattr(f, ZC_SET_GID, 0, 0, 1001, 0), ZC_OK);
	CHECK_EQ(attr_of(&a), 0);
	CHECK_EQ(a.mode, S_IFREG | 02767);

	/* Another user who may write: may drop the bits (what the kernel
	 * sends before its write), nothing else; its truncation drops them. */
	CHECK_EQ(setattr(f, ZC_SET_MODE, 06777, 0, 0, 0), ZC_OK);
	t_uid = t_gid = 2000;
	CHECK_EQ(setattr(f, ZC_SET_MODE, 06776, 0, 0, 0), ZC_ST_PERM);
	CHECK_EQ(setattr(f, ZC_SET_MODE, 02777, 0, 0, 0), ZC_OK);
	CHECK_EQ(attr_of(&a), 0);
	CHECK_EQ(a.mode, S_IFREG | 0777);	/* not in group 1001: setgid too */
	t_uid = t_gid = 0;
	CHECK_EQ(setattr(f, ZC_SET_MODE, 06777, 0, 0, 0), ZC_OK);
	t_uid = t_gid = 2000;
	CHECK_EQ(setattr(f, ZC_SET_SIZE, 0, 0, 0, 10), ZC_OK);
	CHECK_EQ(attr_of(&a), 0);
	CHECK_EQ(a.mode, S_IFREG | 0777);
	CHECK_EQ(a.size, 10);
	/* The same with the mode after the truncation dropped them. */
	CHECK_EQ(setattr(f, ZC_SET_MODE, 0777, 0, 0, 0), ZC_OK);

	/* An append by that user drops them and says so; root's does not. */
	t_uid = t_gid = 0;
	CHECK_EQ(setattr(f, ZC_SET_MODE, 06777, 0, 0, 0), ZC_OK);
	CHECK_EQ(append(f, 5, &off), ZC_OK);
	CHECK_EQ(off, 10);
	CHECK_EQ(getattr(f, &a), 0);
	CHECK_EQ(a.mode, S_IFREG | 06777);
	t_uid = t_gid = 2000;
	CHECK_EQ(append(f, 5, &off), ZC_OK);
	{
		struct zc_cur c = t_answer();

		CHECK_EQ(zc_get_u64(&c), 15);
		CHECK_EQ(zc_get_u8(&c), 1);
		CHECK_EQ(c.err, 0);
	}
	t_uid = t_gid = 0;
	CHECK_EQ(getattr(f, &a), 0);
	CHECK_EQ(a.mode, S_IFREG | 0777);

	/* One who may not write (and has it open nowhere) drops nothing. */
	f = mknod_in(ZC_ROOT_INO, "privs2", S_IFREG | 06755, &st);
	CHECK_EQ(st, ZC_OK);
	t_uid = t_gid = 2000;
	CHECK_EQ(setattr(f, ZC_SET_MODE, 0755, 0, 0, 0), ZC_ST_PERM);
	t_uid = t_gid = 0;
	CHECK_EQ(getattr(f, &a), 0);
	CHECK_EQ(a.mode, S_IFREG | 06755);
}

static void servers_up(int n)
{
	ncs = n;
	for (int i = 0; i < n; i++)
		css[i] = (struct cs_info){ .id = i + 1, .ip = htonl(INADDR_LOOPBACK),
					   .port = 9000 + i, .total = 1ULL << 40,
					   .free = 1ULL << 40, .last_hb = zc_now_ns() };
}

static void test_chunks(void)
{
	struct zc_loc l, m;
	uint64_t f, size, off, ro;
	int st;

	servers_up(3);
	replicas_goal = 2;
	f = t_create(sess, seq++, 20, "data", &st);	/* open for writing as handle 20 */
	CHECK_EQ(st, ZC_OK);

	/* Placed on two distinct servers that are up, at version 1, with a
	 * capability for this session to read and write. */
	CHECK_EQ(chunk(ZC_CLTOMA_CHUNK_ALLOC, f, 0, &l, &size), 0);
	CHECK_NE(l.id, 0);
	CHECK_EQ(l.version, 1);
	CHECK_EQ(l.nrep, 2);
	CHECK_NE(l.rep[0].cs_id, l.rep[1].cs_id);
	CHECK_EQ(l.cap.session, sess);
	CHECK_EQ(l.cap.rights, ZC_CAP_READ | ZC_CAP_WRITE);
	CHECK_GT(l.cap.expiry, (uint64_t)time(NULL));
	CHECK_EQ(size, 0);
	/* Again: the same chunk, not a second one. */
	CHECK_EQ(chunk(ZC_CLTOMA_CHUNK_ALLOC, f, 0, &m, &size), 0);
	CHECK_EQ(m.id, l.id);
	CHECK_EQ(mds_int(-1, "SELECT count(*) FROM chunk WHERE ino=?", "i", (int64_t)f), 1);
	/* A reader's layout: the same chunk and version, read only. */
	CHECK_EQ(chunk(ZC_CLTOMA_CHUNK_GET, f, 0, &m, &size), 0);
	CHECK_EQ(m.id, l.id);
	CHECK_EQ(m.version, 1);
	CHECK_EQ(m.nrep, 2);
	CHECK_EQ(m.cap.rights, ZC_CAP_READ);
	/* A chunk never written: a hole, no capability needed. */
	CHECK_EQ(chunk(ZC_CLTOMA_CHUNK_GET, f, 5, &m, &size), 0);
	CHECK_EQ(m.id, 0);
	CHECK_EQ(m.nrep, 0);
	/* A goal above the servers there are: all of them, once each. */
	replicas_goal = 5;
	CHECK_EQ(chunk(ZC_CLTOMA_CHUNK_ALLOC, f, 1, &m, &size), 0);
	CHECK_EQ(m.nrep, 3);
	CHECK_NE(m.id, l.id);
	replicas_goal = 2;
	CHECK_EQ(chunk(ZC_CLTOMA_CHUNK_ALLOC, f, 1U << 24, &m, &size), ZC_ST_INVAL);

	/* Sizes: SETSIZE only grows; the chunk count follows a truncate. */
	CHECK_EQ(setsize(f, 3 * ZC_CHUNK_SIZE), ZC_OK);
	CHECK_EQ(setsize(f, 100), ZC_OK);
	CHECK_EQ(chunk(ZC_CLTOMA_CHUNK_GET, f, 0, &m, &size), 0);
	CHECK_EQ(size, 3 * ZC_CHUNK_SIZE);
	CHECK_EQ(chunk(ZC_CLTOMA_CHUNK_ALLOC, f, 2, &m, &size), 0);
	CHECK_EQ(mds_int(-1, "SELECT count(*) FROM chunk WHERE ino=?", "i", (int64_t)f), 3);
	CHECK_EQ(setattr(f, ZC_SET_SIZE, 0, 0, 0, ZC_CHUNK_SIZE + 10), ZC_OK);
	CHECK_EQ(mds_int(-1, "SELECT count(*) FROM chunk WHERE ino=?", "i", (int64_t)f), 2);
	/* The dropped chunk's replicas wait for their servers' next
	 * heartbeat to be deleted. */
	CHECK_EQ(mds_int(-1, "SELECT count(*) FROM gc WHERE chunk=?", "i", (int64_t)m.id), 2);
	CHECK_EQ(mds_int(-1, "SELECT count(*) FROM replica WHERE chunk=?", "i", (int64_t)m.id), 0);
	/* TRUNC_PREP: the layout of the chunk the new end falls in. */
	{
		struct treq *r = treq_new(sess, seq++);
		struct zc_cur c;

		zc_put_u64(&r->c, f);
		zc_put_u64(&r->c, 100);
		CHECK_EQ(treq_send(r, ZC_CLTOMA_TRUNC_PREP), ZC_OK);
		c = t_answer();
		zc_get_loc(&c, &m);
		CHECK(!c.err);
		CHECK_EQ(m.id, l.id);
		CHECK_EQ(m.cap.rights, ZC_CAP_READ | ZC_CAP_WRITE);
		CHECK_EQ(zc_cur_left(&c), 0);	/* shrinking: nothing more */
	}
	/* Growing past the chunk of the old end (chunk 1, at 64 MiB + 10):
	 * the new end's chunk (4: none, a hole), then chunk 1's layout, which
	 * the client makes sure exists on its servers. */
	{
		struct treq *r = treq_new(sess, seq++);
		struct zc_cur c;

		zc_put_u64(&r->c, f);
		zc_put_u64(&r->c, 4 * ZC_CHUNK_SIZE + 5);
		CHECK_EQ(treq_send(r, ZC_CLTOMA_TRUNC_PREP), ZC_OK);
		c = t_answer();
		zc_get_loc(&c, &m);
		CHECK_EQ(m.id, 0);
		zc_get_loc(&c, &m);
		CHECK(!c.err);
		CHECK_EQ(m.id, (uint64_t)mds_int(0, "SELECT id FROM chunk WHERE ino=? AND idx=1", "i",
						 (int64_t)f));
		CHECK_EQ(m.nrep, 3);
		CHECK_EQ(m.cap.rights, ZC_CAP_READ | ZC_CAP_WRITE);
	}

	/* Appends reserve their bytes at the end, one after the other. */
	CHECK_EQ(append(f, 1000, &off), ZC_OK);
	CHECK_EQ(off, ZC_CHUNK_SIZE + 10);
	CHECK_EQ(append(f, 24, &off), ZC_OK);
	CHECK_EQ(off, ZC_CHUNK_SIZE + 1010);
	CHECK_EQ(append(f, ZC_MAX_IO + 1, &off), ZC_ST_INVAL);

	/* Versions: what the store says is what layouts say, with a
	 * capability for that version. */
	CHECK_EQ(mds_run("UPDATE chunk SET version=7 WHERE id=?", "i", (int64_t)l.id), 0);
	CHECK_EQ(chunk(ZC_CLTOMA_CHUNK_GET, f, 0, &m, &size), 0);
	CHECK_EQ(m.version, 7);
	zc_auth.have_cluster = true;	/* capabilities checked as a server would */
	CHECK_EQ(zc_cap_check(&m.cap, m.id, 7, ZC_CAP_READ, sess), 0);
	CHECK_NE(zc_cap_check(&m.cap, m.id, 1, ZC_CAP_READ, sess), 0);

	/* Not open for writing: no chunk, size or append for this session. */
	ro = t_create(sess, seq++, 21, "ro", &st);
	CHECK_EQ(st, ZC_OK);
	{
		struct treq *r = treq_new(sess, 0);

		zc_put_u64(&r->c, ro);
		zc_put_u64(&r->c, 21);
		zc_put_u64(&r->c, 0);
		zc_put_u64(&r->c, 0);
		zc_put_u32(&r->c, 0);
		zc_put_u32(&r->c, 0);
		CHECK_EQ(treq_send(r, ZC_CLTOMA_RELEASE), ZC_OK);
	}
	CHECK_EQ(t_open(sess, ro, 22, ZC_OPEN_READ), ZC_OK);
	CHECK_EQ(chunk(ZC_CLTOMA_CHUNK_ALLOC, ro, 0, &m, &size), ZC_ST_PERM);
	CHECK_EQ(setsize(ro, 10), ZC_ST_PERM);
	CHECK_EQ(append(ro, 10, &off), ZC_ST_PERM);
	CHECK_EQ(mds_int(-1, "SELECT count(*) FROM chunk WHERE ino=?", "i", (int64_t)ro), 0);

	/* No server up (all silent too long): no place for a new chunk. */
	for (int i = 0; i < ncs; i++)
		css[i].last_hb = 1;
	CHECK_EQ(chunk(ZC_CLTOMA_CHUNK_ALLOC, f, 3, &m, &size), ZC_ST_NOCS);
	CHECK_EQ(mds_int(-1, "SELECT count(*) FROM chunk WHERE ino=?", "i", (int64_t)f), 2);
	/* ...but the chunks there are are still given out (the client finds
	 * their servers down by itself). */
	CHECK_EQ(chunk(ZC_CLTOMA_CHUNK_GET, f, 0, &m, &size), 0);
	CHECK_EQ(m.id, l.id);
	servers_up(3);

	/* Removing the file queues every replica of its chunks for deletion. */
	CHECK_EQ(name_in(ZC_CLTOMA_UNLINK, ZC_ROOT_INO, "data"), ZC_OK);
	CHECK_EQ(t_release(sess, f, 20, 0, 0), ZC_OK);	/* its last open */
	CHECK_EQ(mds_int(-1, "SELECT count(*) FROM chunk WHERE ino=?", "i", (int64_t)f), 0);
	CHECK_EQ(mds_int(-1, "SELECT count(*) FROM gc WHERE chunk=?", "i", (int64_t)l.id), 2);
	CHECK_EQ(getattr(f, &(struct zc_attr){ 0 }), ZC_ST_NOENT);
}

static void test_replay(void)
{
	uint64_t a, b;
	int st;

	/* A create retried under the same seq (its answer was lost) gets the
	 * same file back, not a second one or EEXIST. */
	a = t_create(sess, 9000, 30, "once", &st);
	CHECK_EQ(st, ZC_OK);
	b = t_create(sess, 9000, 31, "once", &st);
	CHECK_EQ(st, ZC_OK);
	CHECK_EQ(b, a);
	CHECK_EQ(mds_int(-1, "SELECT count(*) FROM dentry WHERE name='once'", ""), 1);
	/* A new seq is a new request. */
	t_create(sess, 9001, 32, "once", &st);
	CHECK_EQ(st, ZC_ST_EXIST);
}

/* The folders' attributes after what the answer says before them
 * (skip attributes of the entry first): what GETATTR says of them now. */
static void check_dir_attrs(int skip, uint64_t d1, uint64_t d2)
{
	struct zc_cur c = t_answer();
	struct zc_attr a, now;
	uint64_t dirs[2] = { d1, d2 };
	struct zc_attr got[2];
	int n = d2 ? 2 : 1;

	for (int i = 0; i < skip; i++)
		zc_get_attr(&c, &a);
	for (int i = 0; i < n; i++)
		zc_get_attr(&c, &got[i]);
	CHECK(!c.err);
	CHECK_EQ(zc_cur_left(&c), 0);
	for (int i = 0; i < n; i++) {
		CHECK_EQ(getattr(dirs[i], &now), 0);
		CHECK_EQ(got[i].ino, dirs[i]);
		CHECK_EQ(got[i].nlink, now.nlink);
		CHECK_EQ(got[i].mtime_s, now.mtime_s);
		CHECK_EQ(got[i].mtime_ns, now.mtime_ns);
		CHECK_EQ(got[i].ctime_ns, now.ctime_ns);
	}
}

/* A change to the names in a folder answers with the folder's attributes
 * as they are after it (the client answers the kernel's next GETATTR of
 * the folder with them), both folders' for a rename between two. */
static void test_dir_answers(void)
{
	uint64_t a, b, f;
	int st;

	a = mknod_in(ZC_ROOT_INO, "da", S_IFDIR | 0755, &st);
	CHECK_NE(a, 0);
	check_dir_attrs(1, ZC_ROOT_INO, 0);
	b = mknod_in(a, "db", S_IFDIR | 0755, &st);
	CHECK_NE(b, 0);
	check_dir_attrs(1, a, 0);	/* its nlink went up */
	f = mknod_in(a, "f", S_IFREG | 0644, &st);
	CHECK_NE(f, 0);
	check_dir_attrs(1, a, 0);
	CHECK_EQ(link_to(f, b, "g"), ZC_OK);
	check_dir_attrs(1, b, 0);
	CHECK_EQ(rename_in(a, "f", a, "f2", 0), ZC_OK);
	check_dir_attrs(0, a, 0);
	CHECK_EQ(rename_in(a, "f2", b, "f3", 0), ZC_OK);
	check_dir_attrs(0, a, b);
	CHECK_EQ(name_in(ZC_CLTOMA_UNLINK, b, "g"), ZC_OK);
	check_dir_attrs(0, b, 0);
	CHECK_EQ(name_in(ZC_CLTOMA_UNLINK, b, "f3"), ZC_OK);
	CHECK_EQ(name_in(ZC_CLTOMA_RMDIR, a, "db"), ZC_OK);
	check_dir_attrs(0, a, 0);	/* its nlink went down */
	/* A refusal says nothing more. */
	CHECK_EQ(name_in(ZC_CLTOMA_RMDIR, a, "db"), ZC_ST_NOENT);
}

int main(void)
{
	zc_log_init("test", ZC_LOG_ERR, NULL);
	if (t_store_open() || mds_recovery_init()) {
		fprintf(stderr, "cannot open a store in %s\n", t_dir);
		return 1;
	}
	memset(zc_auth.cluster, 0x33, ZC_KEY_LEN);
	sess = t_session_new("namespace");
	CHECK_NE(sess, 0);
	test_names();
	test_attrs();
	test_privs();
	test_chunks();
	test_replay();
	test_dir_answers();
	/* Everything survives a restart of the store. */
	CHECK_EQ(t_store_restart(), 0);
	CHECK_NE(lookup(ZC_ROOT_INO, "d"), 0);
	t_store_remove();
	return check_done();
}
