/* SPDX-License-Identifier: MIT */
/*
 * Helpers for unit tests of the mds: a real store in a temporary folder,
 * and client requests built and answered in process (no network).
 *
 * Requests come from credential t_peer ("admin" unless a test says
 * otherwise; with no exports file loaded every credential may do
 * anything) with identity t_uid, t_gid and t_groups (root, no groups).
 */
#ifndef ZC_TEST_MDS_UTIL_H
#define ZC_TEST_MDS_UTIL_H

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/pack.h"
#include "common/wire.h"
#include "mds/mds.h"
#include "rpc/rpc.h"

static char t_dir[] = "/tmp/zcfs-mds-test-XXXXXX";
static char t_creds[64];
static uint8_t t_out[256 << 10];
static size_t t_out_len;
static const char *t_peer = "admin";
static uint32_t t_uid, t_gid, t_ngroups, t_groups[ZC_MAX_GROUPS];

/* A request being built: the session prefix with the identity, then
 * arguments. */
struct treq {
	uint8_t buf[8192];
	struct zc_cur c;
};

static inline struct treq *treq_new(uint64_t session, uint64_t seq)
{
	static struct treq r;

	r.c = zc_cur_init(r.buf, sizeof(r.buf));
	zc_put_u64(&r.c, session);
	zc_put_u64(&r.c, seq);
	zc_put_u64(&r.c, seq);	/* ack: nothing older is awaited */
	zc_put_u32(&r.c, t_uid);
	zc_put_u32(&r.c, t_gid);
	zc_put_u8(&r.c, t_ngroups);
	for (uint32_t i = 0; i < t_ngroups; i++)
		zc_put_u32(&r.c, t_groups[i]);
	return &r;
}

/* Sends it; the answer is in t_out / t_out_len.  Returns the zc_status. */
static inline int treq_send(struct treq *r, uint16_t type)
{
	struct zc_cur o = zc_cur_init(t_out, sizeof(t_out));
	int st = mds_client_request(t_peer, type, r->buf, r->c.pos, &o);

	t_out_len = o.pos;
	return st;
}

/* OPEN of ino under handle with ZC_OPEN_* flags.  Returns the status. */
static inline int t_open(uint64_t session, uint64_t ino, uint64_t handle, uint32_t flags)
{
	struct treq *r = treq_new(session, 0);

	zc_put_u64(&r->c, ino);
	zc_put_u64(&r->c, handle);
	zc_put_u32(&r->c, flags);
	return treq_send(r, ZC_CLTOMA_OPEN);
}

static inline struct zc_cur t_answer(void)
{
	return zc_cur_init(t_out, t_out_len);
}

/* A store, and a credentials file with "admin" in it (sessions get
 * tickets wrapped under its secret). */
static inline int t_store_open(void)
{
	if (!mkdtemp(t_dir))
		return -1;
	snprintf(t_creds, sizeof(t_creds), "%s/credentials", t_dir);
	if (zc_cred_create(t_creds, "admin"))
		return -1;
	mds_creds_path = t_creds;
	return mds_store_open(t_dir) || mds_sessions_load() ? -1 : 0;
}

/* One more credential in the credentials file (sessions of a credential
 * get tickets wrapped under its secret). */
static inline int t_cred_add(const char *name)
{
	char path[96], line[160];
	FILE *in, *out;
	int ok;

	snprintf(path, sizeof(path), "%s/one.cred", t_dir);
	if (zc_cred_create(path, name))
		return -1;
	in = fopen(path, "r");
	out = fopen(t_creds, "a");
	ok = in && out && fgets(line, sizeof(line), in) && fputs(line, out) >= 0;
	if (in)
		fclose(in);
	if (out)
		fclose(out);
	unlink(path);
	return ok ? 0 : -1;
}

/* Closes and opens the store again, as an mds restart does. */
static inline int t_store_restart(void)
{
	mds_store_close();
	return mds_store_open(t_dir) || mds_sessions_load() ? -1 : 0;
}

static inline void t_store_remove(void)
{
	char path[256];

	mds_store_close();
	for (const char *f = "meta.db\0meta.db-wal\0meta.db-shm\0credentials\0"; *f;
	     f += strlen(f) + 1) {
		snprintf(path, sizeof(path), "%s/%s", t_dir, f);
		unlink(path);
	}
	rmdir(t_dir);
}

static inline uint64_t t_session_new(const char *name)
{
	struct treq *r = treq_new(0, 0);
	struct zc_cur a;

	zc_put_str(&r->c, name, strlen(name));
	if (treq_send(r, ZC_CLTOMA_SESSION_NEW))
		return 0;
	a = t_answer();
	return zc_get_u64(&a);
}

/* A request from a chunk server (one connection for all); the answer is
 * in t_out / t_out_len.  Returns the zc_status. */
static inline int t_cs_send(uint16_t type, uint8_t *p, size_t len)
{
	static struct zc_srv_conn peer = { .fd = -1, .name = "test-cs" };
	struct zc_cur o = zc_cur_init(t_out, sizeof(t_out));
	int st = mds_cs_request(&peer, type, p, len, &o);

	t_out_len = o.pos;
	return st;
}

/* REGISTER of a chunk server (uuid from tag and i) listening on port;
 * returns the id the mds gave it, 0 on error. */
static inline uint32_t t_cs_register(uint8_t tag, int i, uint16_t port)
{
	uint8_t req[64], uuid[16] = { tag, (uint8_t)(i + 1) };
	uint32_t ip = htonl(INADDR_LOOPBACK);
	struct zc_cur c = zc_cur_init(req, sizeof(req)), a;

	zc_put_bytes(&c, uuid, 16);
	zc_put_bytes(&c, &ip, 4);
	zc_put_u16(&c, port);
	zc_put_u64(&c, 1ULL << 40);
	zc_put_u64(&c, 1ULL << 40);
	if (t_cs_send(ZC_CSTOMA_REGISTER, req, c.pos))
		return 0;
	a = t_answer();
	return zc_get_u32(&a);
}

/* SETATTR of the fields in valid (ZC_SET_*); explicit times are atime
 * 1000.000000001, mtime 2000.000000002.  The answer's attr is in t_out. */
static inline int t_setattr(uint64_t session, uint64_t seq, uint64_t ino, uint32_t valid,
			    uint32_t mode, uint32_t uid, uint32_t gid, uint64_t size)
{
	struct treq *r = treq_new(session, seq);

	zc_put_u64(&r->c, ino);
	zc_put_u32(&r->c, valid);
	zc_put_u32(&r->c, mode);
	zc_put_u32(&r->c, uid);
	zc_put_u32(&r->c, gid);
	zc_put_u64(&r->c, size);
	zc_put_u64(&r->c, 1000);
	zc_put_u32(&r->c, 1);
	zc_put_u64(&r->c, 2000);
	zc_put_u32(&r->c, 2);
	return treq_send(r, ZC_CLTOMA_SETATTR);
}

/* MKNOD of name in parent (a directory, a file, a fifo...); returns its
 * ino, 0 on error (*st says which). */
static inline uint64_t t_mknod(uint64_t session, uint64_t seq, uint64_t parent, const char *name,
			       uint32_t mode, int *st)
{
	struct treq *r = treq_new(session, seq);
	struct zc_attr a;
	struct zc_cur c;

	zc_put_u64(&r->c, parent);
	zc_put_u32(&r->c, mode);
	zc_put_u32(&r->c, 0);
	zc_put_u32(&r->c, 0);
	zc_put_u32(&r->c, 0);
	zc_put_str(&r->c, name, strlen(name));
	if ((*st = treq_send(r, ZC_CLTOMA_MKNOD)))
		return 0;
	c = t_answer();
	zc_get_attr(&c, &a);
	return c.err ? 0 : a.ino;
}

/* RELEASE of handle on ino, with size (and an mtime of 2023) if flags
 * say ZC_REL_SIZE.  Returns the zc_status. */
static inline int t_release(uint64_t session, uint64_t ino, uint64_t handle, uint64_t size,
			    uint32_t flags)
{
	struct treq *r = treq_new(session, 0);

	zc_put_u64(&r->c, ino);
	zc_put_u64(&r->c, handle);
	zc_put_u64(&r->c, size);
	zc_put_u64(&r->c, 1700000000);
	zc_put_u32(&r->c, 0);
	zc_put_u32(&r->c, flags);
	return treq_send(r, ZC_CLTOMA_RELEASE);
}

/* CREATE of a regular file in dir, opened as handle; returns its ino. */
static inline uint64_t t_create_in(uint64_t session, uint64_t seq, uint64_t handle, uint64_t dir,
				   const char *name, int *st)
{
	struct treq *r = treq_new(session, seq);
	struct zc_attr a;
	struct zc_cur c;

	zc_put_u64(&r->c, handle);
	zc_put_u64(&r->c, dir);
	zc_put_u32(&r->c, S_IFREG | 0644);
	zc_put_u32(&r->c, 0);
	zc_put_u32(&r->c, 0);
	zc_put_u32(&r->c, 0);
	zc_put_str(&r->c, name, strlen(name));
	zc_put_u8(&r->c, 0);	/* no chunk placed with it */
	*st = treq_send(r, ZC_CLTOMA_CREATE);
	if (*st)
		return 0;
	c = t_answer();
	zc_get_attr(&c, &a);
	return a.ino;
}

/* CREATE of a regular file in the root, opened as handle; returns its ino. */
static inline uint64_t t_create(uint64_t session, uint64_t seq, uint64_t handle, const char *name,
				int *st)
{
	return t_create_in(session, seq, handle, ZC_ROOT_INO, name, st);
}

static inline int t_name_op(uint16_t type, uint64_t session, uint64_t seq, const char *name)
{
	struct treq *r = treq_new(session, seq);

	zc_put_u64(&r->c, ZC_ROOT_INO);
	zc_put_str(&r->c, name, strlen(name));
	return treq_send(r, type);
}

/* RENAME of from to to, both in the root. */
static inline int t_rename(uint64_t session, uint64_t seq, const char *from, const char *to)
{
	struct treq *r = treq_new(session, seq);

	zc_put_u64(&r->c, ZC_ROOT_INO);
	zc_put_str(&r->c, from, strlen(from));
	zc_put_u64(&r->c, ZC_ROOT_INO);
	zc_put_str(&r->c, to, strlen(to));
	zc_put_u32(&r->c, 0);
	return treq_send(r, ZC_CLTOMA_RENAME);
}

#endif
