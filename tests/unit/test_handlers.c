// SPDX-License-Identifier: MIT
/*
 * The mds's table of client request handlers, from outside: every client
 * request type is served (a request with no arguments is malformed, never
 * "not supported"), a type nobody serves is NOTSUP, every change is
 * refused on a read-only export before it runs and every read is not,
 * and truncated arguments never crash a handler.
 */
#include <errno.h>
#include <stdio.h>

#include "check.h"
#include "common/log.h"
#include "common/util.h"
#include "mds_util.h"

/* The types a client sends, and whether each changes the store. */
static const struct {
	uint16_t type;
	bool change;
} types[] = {
	{ ZC_CLTOMA_LOOKUP, false }, { ZC_CLTOMA_GETATTR, false },
	{ ZC_CLTOMA_SETATTR, true }, { ZC_CLTOMA_MKNOD, true }, { ZC_CLTOMA_SYMLINK, true },
	{ ZC_CLTOMA_LINK, true }, { ZC_CLTOMA_UNLINK, true }, { ZC_CLTOMA_RMDIR, true },
	{ ZC_CLTOMA_RENAME, true }, { ZC_CLTOMA_READLINK, false }, { ZC_CLTOMA_READDIR, false },
	{ ZC_CLTOMA_STATFS, false }, { ZC_CLTOMA_CHUNK_GET, false },
	{ ZC_CLTOMA_CHUNK_ALLOC, true }, { ZC_CLTOMA_SETSIZE, true },
	{ ZC_CLTOMA_TRUNC_PREP, true }, { ZC_CLTOMA_STATS, false }, { ZC_CLTOMA_STATUS, false },
	{ ZC_CLTOMA_CHUNK_FAILED, false }, { ZC_CLTOMA_SETGOAL, true },
	{ ZC_CLTOMA_LAYOUT, false }, { ZC_CLTOMA_SESSION_NEW, false },
	{ ZC_CLTOMA_SESSION_RENEW, false }, { ZC_CLTOMA_SESSION_END, false },
	{ ZC_CLTOMA_OPEN, false }, { ZC_CLTOMA_CREATE, true }, { ZC_CLTOMA_RELEASE, false },
	{ ZC_CLTOMA_LOCK, false }, { ZC_CLTOMA_GETLK, false }, { ZC_CLTOMA_APPEND, true },
};

static char exports_path[300];

static int exports(const char *text)
{
	FILE *f = fopen(exports_path, "w");

	if (!f)
		return -errno;
	fputs(text, f);
	fclose(f);
	return mds_exports_load(exports_path);
}

int main(void)
{
	uint64_t rw, ro;
	struct treq *r;
	int st;

	zc_log_init("test", ZC_LOG_ERR, NULL);
	if (t_store_open() || t_cred_add("reader")) {
		fprintf(stderr, "cannot open a store in %s\n", t_dir);
		return 1;
	}
	snprintf(exports_path, sizeof(exports_path), "%s/exports", t_dir);
	CHECK_EQ(exports("admin / rw\nreader / ro\n"), 0);
	rw = t_session_new("rw");
	t_peer = "reader";
	ro = t_session_new("ro");
	t_peer = "admin";
	CHECK(rw);
	CHECK(ro);

	/* Every type is served: no arguments is malformed (or, for what needs
	 * none, an answer), never NOTSUP. */
	for (size_t i = 0; i < ZC_ARRAY_SIZE(types); i++) {
		rw = t_session_new("rw");	/* SESSION_END ends one */
		r = treq_new(rw, 0);
		st = treq_send(r, types[i].type);
		if (st == ZC_ST_NOTSUP)
			fprintf(stderr, "type %u (%s) is not served\n", types[i].type,
				zc_type_name(types[i].type));
		CHECK_NE(st, ZC_ST_NOTSUP);
	}
	/* A type in the client range that nobody serves, and one past it. */
	r = treq_new(rw, 0);
	CHECK_EQ(treq_send(r, ZC_CLTOMA_APPEND + 1), ZC_ST_NOTSUP);
	r = treq_new(rw, 0);
	CHECK_EQ(treq_send(r, ZC_CSTOMA_REGISTER - 1), ZC_ST_NOTSUP);

	/* Read-only: every change refused before its arguments are looked
	 * at; reads get as far as their arguments. */
	t_peer = "reader";
	for (size_t i = 0; i < ZC_ARRAY_SIZE(types); i++) {
		ro = t_session_new("ro");
		r = treq_new(ro, 0);
		st = treq_send(r, types[i].type);
		if (types[i].change && st != ZC_ST_ROFS)
			fprintf(stderr, "change %s not refused read-only: %d\n",
				zc_type_name(types[i].type), st);
		CHECK(!types[i].change || st == ZC_ST_ROFS);
		CHECK(types[i].change || st != ZC_ST_ROFS);
	}
	t_peer = "admin";

	/* Arguments cut at every length: malformed, never a crash or a
	 * half-made change. */
	rw = t_session_new("rw");
	for (size_t i = 0; i < ZC_ARRAY_SIZE(types); i++) {
		for (size_t cut = 0; cut < 40; cut += 3) {
			r = treq_new(rw, 0);
			for (size_t k = 0; k < cut; k++)
				zc_put_u8(&r->c, 1);
			if (treq_send(r, types[i].type) == ZC_ST_BADSESSION)
				rw = t_session_new("rw");
		}
	}
	CHECK_NE(t_session_new("still-serving"), 0);
	CHECK_EQ(mds_int(0, "SELECT count(*) FROM inode", ""), 1);	/* only the root */
	t_store_remove();
	unlink(exports_path);
	rmdir(t_dir);
	return check_done();
}
