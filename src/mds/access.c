// SPDX-License-Identifier: MIT
/*
 * Who asks, and what it may do.
 *
 * Every client request carries the identity of the process behind it
 * (proto.h).  The mds squashes it as the session's export says, then
 * checks what the request touches as the kernel does with
 * default_permissions: the mode bits, with uid 0 passing all but an exec
 * check on a file with no x bit.  A session sees only its export's
 * subtree: a directory is inside if its parent chain reaches the export's
 * root, any other inode if one of its names is in a directory inside, and
 * a file the session has open stays reachable wherever it goes (unlinked,
 * renamed away).  The answers found inside are kept per session so that
 * steady-state requests do not walk; any removal or rename empties them.
 *
 * Everything here runs under mds_lock.
 */
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "mds.h"

#define MAX_NAMES 64	/* names of one inode looked at for the subtree */
#define MAX_DEPTH 4096

uint64_t mds_tree_gen = 1;

int mds_who_decode(struct mds_who *w, struct zc_cur *in)
{
	w->uid = zc_get_u32(in);
	w->gid = zc_get_u32(in);
	w->ngroups = zc_get_u8(in);
	if (in->err || w->ngroups > ZC_MAX_GROUPS)
		return ZC_ST_INVAL;
	for (uint32_t i = 0; i < w->ngroups; i++)
		w->groups[i] = zc_get_u32(in);
	return in->err ? ZC_ST_INVAL : ZC_OK;
}

/* As nfsd does: root_squash maps 0 (uid, gid, each group) to the squash
 * identity; all_squash maps everyone and drops the groups. */
static void squash(struct mds_who *w, const struct mds_export *e)
{
	if (e->all_squash) {
		w->uid = e->all_uid;
		w->gid = e->all_gid;
		w->ngroups = 0;
		return;
	}
	if (!e->root_squash)
		return;
	if (w->uid == 0)
		w->uid = e->squash_uid;
	if (w->gid == 0)
		w->gid = e->squash_gid;
	for (uint32_t i = 0; i < w->ngroups; i++)
		if (w->groups[i] == 0)
			w->groups[i] = e->squash_gid;
}

int mds_who_check(struct mds_who *w, uint16_t type)
{
	int st;

	w->root = ZC_ROOT_INO;
	w->exp = mds_export_find(w->peer);
	/* These touch no file. */
	if (type == ZC_CLTOMA_STATUS || type == ZC_CLTOMA_STATS)
		return ZC_OK;
	if (!w->exp) {
		zc_warn("mds: credential '%s' has no line in the exports: %s refused", w->peer,
			type == ZC_CLTOMA_SESSION_NEW ? "new session" : "request");
		return ZC_ST_PERM;
	}
	squash(w, w->exp);
	w->ro = w->exp->ro;
	if (type == ZC_CLTOMA_SESSION_NEW)
		return ZC_OK;
	if ((st = mds_session_who(w)))
		return st;
	if (w->exp->root != w->root) {
		zc_warn("mds: session %" PRIu64 " of '%s': its export %s is not the directory it"
			" mounted any more; refused (mount again)", w->session, w->peer,
			w->exp->path);
		return ZC_ST_PERM;
	}
	return ZC_OK;
}

bool mds_in_group(const struct mds_who *w, uint32_t gid)
{
	if (w->gid == gid)
		return true;
	for (uint32_t i = 0; i < w->ngroups; i++)
		if (w->groups[i] == gid)
			return true;
	return false;
}

uint32_t mds_mode_killed(const struct mds_who *w, const struct zc_attr *a)
{
	uint32_t m = a->mode;

	if (!S_ISREG(m))
		return m;
	m &= ~S_ISUID;
	if ((m & S_ISGID) && ((m & S_IXGRP) || (w->uid && !mds_in_group(w, a->gid))))
		m &= ~S_ISGID;
	return m;
}

bool mds_may(const struct mds_who *w, const struct zc_attr *a, int want)
{
	unsigned bits;

	if (w->uid == 0)
		return !(want & MDS_MAY_EXEC) || S_ISDIR(a->mode) || (a->mode & 0111);
	if (w->uid == a->uid)
		bits = a->mode >> 6;
	else if (mds_in_group(w, a->gid))
		bits = a->mode >> 3;
	else
		bits = a->mode;
	return (bits & 7 & want) == (unsigned)want;
}

/* ---- the subtree ---- */

static struct mds_tree_cache *tree_of(const struct mds_who *w)
{
	struct mds_tree_cache *t = w->tree;

	if (t && t->gen != mds_tree_gen) {
		memset(t->ino, 0, sizeof(t->ino));
		t->gen = mds_tree_gen;
	}
	return t;
}

void mds_tree_add(const struct mds_who *w, uint64_t ino)
{
	struct mds_tree_cache *t = tree_of(w);

	/* Found in what is committed, where it may still be inside. */
	if (t && !mds_tree_uncommitted())
		t->ino[ino % MDS_TREE_SLOTS] = ino;
}

static bool tree_has(const struct mds_who *w, uint64_t ino)
{
	struct mds_tree_cache *t = tree_of(w);

	return t && t->ino[ino % MDS_TREE_SLOTS] == ino;
}

/* Is a directory the root or below it?  It has one name: walk up, and
 * remember the directories passed on the way to a yes. */
static bool dir_inside(const struct mds_who *w, uint64_t dir)
{
	uint64_t seen[MAX_NAMES];
	int n = 0;

	for (int depth = 0; dir && depth < MAX_DEPTH; depth++) {
		if (dir == w->root || tree_has(w, dir)) {
			for (int i = 0; i < n; i++)
				mds_tree_add(w, seen[i]);
			return true;
		}
		if (dir == ZC_ROOT_INO)
			return false;
		if (n < MAX_NAMES)
			seen[n++] = dir;
		dir = mds_int(0, "SELECT parent FROM dentry WHERE ino=? LIMIT 1", "i", (int64_t)dir);
	}
	return false;
}

/* Is one of ino's names in a directory inside? */
static bool inside(const struct mds_who *w, uint64_t ino)
{
	uint64_t parent[MAX_NAMES];
	sqlite3_stmt *q;
	int n = 0;

	if (ino == w->root || tree_has(w, ino))
		return true;
	q = mds_q("SELECT parent FROM dentry WHERE ino=? LIMIT 64", "i", (int64_t)ino);
	while (q && n < MAX_NAMES && sqlite3_step(q) == SQLITE_ROW)
		parent[n++] = sqlite3_column_int64(q, 0);
	if (q)
		sqlite3_reset(q);
	for (int i = 0; i < n; i++)
		if (dir_inside(w, parent[i])) {
			mds_tree_add(w, ino);
			return true;
		}
	return false;
}

bool mds_inside(const struct mds_who *w, uint64_t ino)
{
	return w->root == ZC_ROOT_INO || inside(w, ino);
}

int mds_reach(const struct mds_who *w, uint64_t ino)
{
	int st;

	if (mds_inside(w, ino))
		return ZC_OK;
	st = mds_open_check(w, ino, 0);
	/* Gone (a name cached by the kernel after a removal): as on "/". */
	if (st == ZC_ST_PERM && !mds_int(0, "SELECT count(*) FROM inode WHERE ino=?", "i",
					 (int64_t)ino))
		return ZC_ST_NOENT;
	if (st == ZC_ST_PERM)
		zc_warn("mds: session %" PRIu64 " of '%s': inode %" PRIu64 " is outside its"
			" export %s; refused", w->session, w->peer, ino, w->exp ? w->exp->path : "?");
	return st;
}
