// SPDX-License-Identifier: MIT
/*
 * zcfs mds: the metadata server.  Namespace and layout live in the store
 * (store.c); the chunk-server registry and client counters live in memory
 * and are rebuilt from heartbeats.  One lock serialises all requests: the
 * store is one SQLite connection and every change is one transaction.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "common/wire.h"
#include "mds.h"
#include "rpc/rpc.h"

#define MAX_CLIENTS 64
#define MAX_COUNTERS 96
#define GC_BATCH 1024

struct client_info {
	char id[64];
	uint64_t last;
	uint32_t metrics_ip;	/* its /metrics endpoint (port 0: none) */
	uint16_t metrics_port;
	int n;
	char names[MAX_COUNTERS][32];
	uint64_t vals[MAX_COUNTERS];
};

pthread_mutex_t mds_lock = PTHREAD_MUTEX_INITIALIZER;
struct cs_info css[MDS_MAX_CS];
int ncs;
unsigned replicas_goal = 1;
unsigned mds_cap_life_s = 300;
const char *mds_creds_path = "/etc/zcfs/credentials";
static struct client_info clients[MAX_CLIENTS];
/* Requests served, by type, and the time they took (from the frame read
 * to the answer ready: waiting for the lock included); `zcfs status` shows
 * their counts and means, /metrics the histograms. */
static struct zc_hist ops[ZC_TYPE_MAX];
/* Requests answered with an error, by wire status. */
static atomic_ullong op_errors[ZC_ST_MAX];
/* Our /metrics endpoint (port 0: none), for status. */
static uint32_t metrics_ip;
static uint16_t metrics_port;
/* The peer of the request this thread serves: a client's STATS that says
 * "my address" (ip 0) means this one. */
static __thread uint32_t req_peer_ip;
static uint64_t started_ns;
#define WARMUP_NS (15ULL * 1000000000ULL)

/* ---- helpers ---- */

static void now_ts(int64_t *s, uint32_t *ns)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	*s = t.tv_sec;
	*ns = t.tv_nsec;
}

int get_attr(uint64_t ino, struct zc_attr *a)
{
	sqlite3_stmt *st = mds_q("SELECT mode, nlink, uid, gid, rdev, size, atime_s, atime_ns,"
				 " mtime_s, mtime_ns, ctime_s, ctime_ns FROM inode WHERE ino=?",
				 "i", (int64_t)ino);
	int rc;

	if (!st)
		return ZC_ST_IO;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? ZC_ST_NOENT : ZC_ST_IO;
	}
	a->ino = ino;
	a->mode = sqlite3_column_int64(st, 0);
	a->nlink = sqlite3_column_int64(st, 1);
	a->uid = sqlite3_column_int64(st, 2);
	a->gid = sqlite3_column_int64(st, 3);
	a->rdev = sqlite3_column_int64(st, 4);
	a->size = sqlite3_column_int64(st, 5);
	a->atime_s = sqlite3_column_int64(st, 6);
	a->atime_ns = sqlite3_column_int64(st, 7);
	a->mtime_s = sqlite3_column_int64(st, 8);
	a->mtime_ns = sqlite3_column_int64(st, 9);
	a->ctime_s = sqlite3_column_int64(st, 10);
	a->ctime_ns = sqlite3_column_int64(st, 11);
	sqlite3_reset(st);
	return ZC_OK;
}

static int st_of(int err)
{
	return err ? ZC_ST_IO : ZC_OK;
}

/* Marks a directory changed (an entry came or went). */
static int touch_dir(uint64_t ino, int nlink_delta)
{
	int64_t s;
	uint32_t ns;

	now_ts(&s, &ns);
	return st_of(mds_run("UPDATE inode SET nlink=nlink+?, mtime_s=?, mtime_ns=?, ctime_s=?,"
			     " ctime_ns=? WHERE ino=?", "iiiiii", (int64_t)nlink_delta, s,
			     (int64_t)ns, s, (int64_t)ns, (int64_t)ino));
}

static int lookup_ino(uint64_t parent, const char *name, uint64_t *ino)
{
	int64_t v = mds_int(-1, "SELECT ino FROM dentry WHERE parent=? AND name=?", "it",
			    (int64_t)parent, name);

	if (v < 0)
		return ZC_ST_NOENT;
	*ino = v;
	return ZC_OK;
}

/*
 * The directory a name operation works in: inside the caller's export, a
 * directory, and the caller may do want there (search to look a name up,
 * write and search to change one).  d gets its attributes.
 */
static int dir_access(const struct mds_who *w, uint64_t dir, int want, struct zc_attr *d)
{
	int st = mds_reach(w, dir);

	if (st || (st = get_attr(dir, d)))
		return st;
	if (!S_ISDIR(d->mode))
		return ZC_ST_NOTDIR;
	return mds_may(w, d, want) ? ZC_OK : ZC_ST_ACCES;
}

/* The sticky bit: in such a directory only root, the directory's owner or
 * the entry's may remove or rename an entry. */
static bool sticky_ok(const struct mds_who *w, const struct zc_attr *dir, const struct zc_attr *a)
{
	return !(dir->mode & S_ISVTX) || w->uid == 0 || w->uid == a->uid || w->uid == dir->uid;
}

#define MAY_CHANGE (MDS_MAY_WRITE | MDS_MAY_EXEC)

int mds_drop_chunks(uint64_t ino, uint64_t first)
{
	if (mds_run("INSERT OR IGNORE INTO gc(chunk, cs) SELECT r.chunk, r.cs FROM replica r"
		    " JOIN chunk c ON c.id=r.chunk WHERE c.ino=? AND c.idx>=?", "ii",
		    (int64_t)ino, (int64_t)first) ||
	    mds_run("DELETE FROM replica WHERE chunk IN (SELECT id FROM chunk WHERE ino=?"
		    " AND idx>=?)", "ii", (int64_t)ino, (int64_t)first) ||
	    mds_run("DELETE FROM chunk WHERE ino=? AND idx>=?", "ii", (int64_t)ino,
		    (int64_t)first))
		return ZC_ST_IO;
	return ZC_OK;
}

int mds_free_inode(uint64_t ino)
{
	int st = mds_drop_chunks(ino, 0);

	if (!st && (mds_locks_drop_ino(ino) ||
		    mds_run("DELETE FROM inode WHERE ino=?", "i", (int64_t)ino)))
		st = ZC_ST_IO;
	return st;
}

/*
 * Drops one link to ino.  With the last one a directory goes at once; a
 * file becomes an orphan (nlink 0, no name), freed now unless a session
 * has it open (then at its last release, see session.c).
 */
static int unlink_ino(uint64_t ino)
{
	struct zc_attr a;
	int64_t s;
	uint32_t ns;
	int st = get_attr(ino, &a);

	if (st)
		return st;
	if (S_ISDIR(a.mode))
		return mds_free_inode(ino);
	now_ts(&s, &ns);
	if (mds_run("UPDATE inode SET nlink=max(nlink-1, 0), ctime_s=?, ctime_ns=? WHERE ino=?",
		    "iii", s, (int64_t)ns, (int64_t)ino))
		return ZC_ST_IO;
	return a.nlink <= 1 ? mds_orphan_check(ino) : ZC_OK;
}

int mds_truncate(uint64_t ino, uint64_t size, bool touch, struct zc_attr *out)
{
	struct zc_attr a;
	int64_t s;
	uint32_t ns;
	int st = get_attr(ino, &a);

	if (st)
		return st;
	if (S_ISDIR(a.mode))
		return ZC_ST_ISDIR;
	if (!S_ISREG(a.mode))
		return ZC_ST_INVAL;
	if (size > (1ULL << 50))
		return ZC_ST_FBIG;
	if (size < a.size && (st = mds_drop_chunks(ino, (size + ZC_CHUNK_SIZE - 1) / ZC_CHUNK_SIZE)))
		return st;
	now_ts(&s, &ns);
	if (size != a.size || touch) {
		if (mds_run("UPDATE inode SET size=?, mtime_s=?, mtime_ns=?, ctime_s=?, ctime_ns=?"
			    " WHERE ino=?", "iiiiii", (int64_t)size, s, (int64_t)ns, s, (int64_t)ns,
			    (int64_t)ino))
			return ZC_ST_IO;
	}
	return get_attr(ino, out);
}

int mds_grow(uint64_t ino, uint64_t size, int64_t mtime_s, uint32_t mtime_ns)
{
	if (mds_run("UPDATE inode SET size=max(size, ?), mtime_s=?, mtime_ns=?, ctime_s=?,"
		    " ctime_ns=? WHERE ino=?", "iiiiii", (int64_t)size, mtime_s, (int64_t)mtime_ns,
		    mtime_s, (int64_t)mtime_ns, (int64_t)ino))
		return ZC_ST_IO;
	return ZC_OK;
}

/*
 * "." and ".." are in every directory and are never entries: making one
 * finds it there (EEXIST), removing or renaming one is refused as Linux
 * refuses it.  (A slash or a NUL never passes the decoder.)
 */
static bool dots(const char *name)
{
	return name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
}

/* ---- namespace operations (mds_lock held, inside a transaction) ---- */

/* Makes a name and its inode, owned by the caller (after squash). */
static int op_mknod(const struct mds_who *w, uint64_t parent, const char *name, uint32_t mode,
		    uint32_t rdev, const char *target, struct zc_attr *out)
{
	struct zc_attr d;
	uint64_t ino;
	int64_t s, size = target ? (int64_t)strlen(target) : 0;
	uint32_t ns, gid = w->gid;
	int st = dir_access(w, parent, MAY_CHANGE, &d);

	if (st)
		return st;
	if (dots(name) || !lookup_ino(parent, name, &ino))
		return ZC_ST_EXIST;
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFIFO: case S_IFSOCK:
	case S_IFCHR: case S_IFBLK:
		break;
	default:
		return ZC_ST_INVAL;
	}
	/* As Linux (inode_init_owner): a setgid directory gives what is made
	 * in it its group, and a directory its setgid too; a group-executable
	 * setgid file made by one outside that group loses the bit. */
	if (d.mode & S_ISGID) {
		gid = d.gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	if (!S_ISDIR(mode) && (mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) && w->uid &&
	    !mds_in_group(w, gid))
		mode &= ~S_ISGID;
	now_ts(&s, &ns);
	/* A directory's replica goal passes on to what is made in it. */
	if (mds_run("INSERT INTO inode(mode, nlink, uid, gid, rdev, size, atime_s, atime_ns,"
		    " mtime_s, mtime_ns, ctime_s, ctime_ns, target, goal)"
		    " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
		    " (SELECT goal FROM inode WHERE ino=?))", "iiiiiiiiiiiiti",
		    (int64_t)mode, (int64_t)(S_ISDIR(mode) ? 2 : 1), (int64_t)w->uid, (int64_t)gid,
		    (int64_t)rdev, size, s, (int64_t)ns, s, (int64_t)ns, s, (int64_t)ns, target,
		    (int64_t)parent))
		return ZC_ST_IO;
	ino = mds_int(0, "SELECT last_insert_rowid()", "");
	if (mds_run("INSERT INTO dentry(parent, name, ino) VALUES(?, ?, ?)", "iti",
		    (int64_t)parent, name, (int64_t)ino))
		return ZC_ST_IO;
	st = touch_dir(parent, S_ISDIR(mode) ? 1 : 0);
	mds_tree_add(w, ino);
	return st ? st : get_attr(ino, out);
}

static int op_link(const struct mds_who *w, uint64_t ino, uint64_t parent, const char *name,
		   struct zc_attr *out)
{
	struct zc_attr a, d;
	uint64_t other;
	int64_t s;
	uint32_t ns;
	/* Inside, not just open: a link would bring an outside file in. */
	int st = mds_inside(w, ino) ? ZC_OK : ZC_ST_PERM;

	if (st || (st = dir_access(w, parent, MAY_CHANGE, &d)) || (st = get_attr(ino, &a)))
		return st;
	if (S_ISDIR(a.mode))
		return ZC_ST_PERM;
	if (!a.nlink)		/* an orphan gets no new name, as on Linux */
		return ZC_ST_NOENT;
	if (dots(name) || !lookup_ino(parent, name, &other))
		return ZC_ST_EXIST;
	now_ts(&s, &ns);
	if (mds_run("INSERT INTO dentry(parent, name, ino) VALUES(?, ?, ?)", "iti",
		    (int64_t)parent, name, (int64_t)ino) ||
	    mds_run("UPDATE inode SET nlink=nlink+1, ctime_s=?, ctime_ns=? WHERE ino=?", "iii", s,
		    (int64_t)ns, (int64_t)ino))
		return ZC_ST_IO;
	st = touch_dir(parent, 0);
	return st ? st : get_attr(ino, out);
}

static int op_remove(const struct mds_who *w, uint64_t parent, const char *name, bool dir)
{
	struct zc_attr a, d;
	uint64_t ino;
	int st;

	if ((st = dir_access(w, parent, MAY_CHANGE, &d)))
		return st;
	if (dots(name))	/* as rmdir(2) and unlink(2) answer */
		return !dir ? ZC_ST_ISDIR : name[1] ? ZC_ST_NOTEMPTY : ZC_ST_INVAL;
	if ((st = lookup_ino(parent, name, &ino)) || (st = get_attr(ino, &a)))
		return st;
	if (!sticky_ok(w, &d, &a))
		return ZC_ST_PERM;
	if (dir && !S_ISDIR(a.mode))
		return ZC_ST_NOTDIR;
	if (!dir && S_ISDIR(a.mode))
		return ZC_ST_ISDIR;
	if (dir && mds_int(0, "SELECT 1 FROM dentry WHERE parent=? LIMIT 1", "i", (int64_t)ino))
		return ZC_ST_NOTEMPTY;
	if (mds_run("DELETE FROM dentry WHERE parent=? AND name=?", "it", (int64_t)parent, name))
		return ZC_ST_IO;
	mds_tree_gen++;	/* the name may have been its way into an export */
	st = unlink_ino(ino);
	return st ? st : touch_dir(parent, dir ? -1 : 0);
}

/* Is dir the same as, or below, top? */
static bool is_below(uint64_t dir, uint64_t top)
{
	for (int depth = 0; depth < 4096; depth++) {
		if (dir == top)
			return true;
		if (dir == ZC_ROOT_INO)
			return false;
		dir = mds_int(ZC_ROOT_INO, "SELECT parent FROM dentry WHERE ino=?", "i",
			      (int64_t)dir);
	}
	return true;	/* a loop: refuse */
}

/* RENAME_EXCHANGE: the two names swap what they name, both must exist. */
static int op_exchange(const struct mds_who *w, uint64_t parent, const char *name,
		       uint64_t nparent, const char *nname)
{
	struct zc_attr a, b, pd, nd;
	uint64_t ino, other;
	int64_t s;
	uint32_t ns;
	int da, db, st;

	if ((st = dir_access(w, parent, MAY_CHANGE, &pd)) ||
	    (st = dir_access(w, nparent, MAY_CHANGE, &nd)))
		return st;
	if (dots(name) || dots(nname))
		return ZC_ST_BUSY;
	if ((st = lookup_ino(parent, name, &ino)) || (st = get_attr(ino, &a)) ||
	    (st = lookup_ino(nparent, nname, &other)) || (st = get_attr(other, &b)))
		return st;
	if (!sticky_ok(w, &pd, &a) || !sticky_ok(w, &nd, &b))
		return ZC_ST_PERM;
	if (ino == other)
		return ZC_OK;
	da = S_ISDIR(a.mode);
	db = S_ISDIR(b.mode);
	/* Directories that change parent: writable ("..") and not into
	 * themselves. */
	if (parent != nparent && ((da && !mds_may(w, &a, MDS_MAY_WRITE)) ||
				  (db && !mds_may(w, &b, MDS_MAY_WRITE))))
		return ZC_ST_ACCES;
	if ((da && is_below(nparent, ino)) || (db && is_below(parent, other)))
		return ZC_ST_INVAL;
	now_ts(&s, &ns);
	mds_tree_gen++;
	if (mds_run("UPDATE dentry SET ino=? WHERE parent=? AND name=?", "iit", (int64_t)other,
		    (int64_t)parent, name) ||
	    mds_run("UPDATE dentry SET ino=? WHERE parent=? AND name=?", "iit", (int64_t)ino,
		    (int64_t)nparent, nname) ||
	    mds_run("UPDATE inode SET ctime_s=?, ctime_ns=? WHERE ino IN (?, ?)", "iiii", s,
		    (int64_t)ns, (int64_t)ino, (int64_t)other))
		return ZC_ST_IO;
	if (parent == nparent)
		return touch_dir(parent, 0);
	/* A directory's ".." counts in its parent's links. */
	return (st = touch_dir(parent, db - da)) ? st : touch_dir(nparent, da - db);
}

static int op_rename(const struct mds_who *w, uint64_t parent, const char *name,
		     uint64_t nparent, const char *nname, uint32_t flags)
{
	struct zc_attr a, b, pd, nd;
	uint64_t ino, other;
	int64_t s;
	uint32_t ns;
	int st;

	if (flags == ZC_RENAME_EXCHANGE)
		return op_exchange(w, parent, name, nparent, nname);
	if (flags & ~ZC_RENAME_NOREPLACE)
		return ZC_ST_INVAL;	/* RENAME_WHITEOUT, or two at once */
	if ((st = dir_access(w, parent, MAY_CHANGE, &pd)) ||
	    (st = dir_access(w, nparent, MAY_CHANGE, &nd)))
		return st;
	if (dots(name) || dots(nname))	/* as rename(2) answers */
		return ZC_ST_BUSY;
	if ((st = lookup_ino(parent, name, &ino)) || (st = get_attr(ino, &a)))
		return st;
	if (!sticky_ok(w, &pd, &a))
		return ZC_ST_PERM;
	/* A directory moving elsewhere changes its "..": as Linux, it must
	 * be writable. */
	if (S_ISDIR(a.mode) && parent != nparent && !mds_may(w, &a, MDS_MAY_WRITE))
		return ZC_ST_ACCES;
	if (parent == nparent && !strcmp(name, nname))
		return ZC_OK;
	if (S_ISDIR(a.mode) && is_below(nparent, ino))
		return ZC_ST_INVAL;
	if (!lookup_ino(nparent, nname, &other)) {
		if (flags & ZC_RENAME_NOREPLACE)
			return ZC_ST_EXIST;
		if (other == ino)	/* two links to one file: POSIX says no-op */
			return ZC_OK;
		if ((st = get_attr(other, &b)))
			return st;
		if (!sticky_ok(w, &nd, &b))
			return ZC_ST_PERM;
		if (S_ISDIR(a.mode) && !S_ISDIR(b.mode))
			return ZC_ST_NOTDIR;
		if (!S_ISDIR(a.mode) && S_ISDIR(b.mode))
			return ZC_ST_ISDIR;
		if (S_ISDIR(b.mode) &&
		    mds_int(0, "SELECT 1 FROM dentry WHERE parent=? LIMIT 1", "i", (int64_t)other))
			return ZC_ST_NOTEMPTY;
		if (mds_run("DELETE FROM dentry WHERE parent=? AND name=?", "it",
			    (int64_t)nparent, nname) || (st = unlink_ino(other)))
			return st ? st : ZC_ST_IO;
		if (S_ISDIR(b.mode) && (st = touch_dir(nparent, -1)))
			return st;
	}
	now_ts(&s, &ns);
	mds_tree_gen++;	/* what is below it may have left an export */
	if (mds_run("UPDATE dentry SET parent=?, name=? WHERE parent=? AND name=?", "itit",
		    (int64_t)nparent, nname, (int64_t)parent, name) ||
	    mds_run("UPDATE inode SET ctime_s=?, ctime_ns=? WHERE ino=?", "iii", s, (int64_t)ns,
		    (int64_t)ino))
		return ZC_ST_IO;
	if (S_ISDIR(a.mode) && parent != nparent) {
		if ((st = touch_dir(parent, -1)) || (st = touch_dir(nparent, 1)))
			return st;
		return ZC_OK;
	}
	if ((st = touch_dir(parent, 0)))
		return st;
	return parent != nparent ? touch_dir(nparent, 0) : ZC_OK;
}

int mds_kill_privs(const struct mds_who *w, uint64_t ino, struct zc_attr *a)
{
	uint32_t m = mds_mode_killed(w, a);

	if (!w->uid || m == a->mode)
		return ZC_OK;
	if (mds_run("UPDATE inode SET mode=? WHERE ino=?", "ii", (int64_t)m, (int64_t)ino))
		return ZC_ST_IO;
	a->mode = m;
	return ZC_OK;
}

/* The caller may write the file, or has it open for writing. */
static bool writer(const struct mds_who *w, uint64_t ino, const struct zc_attr *a)
{
	return mds_may(w, a, MDS_MAY_WRITE) || !mds_open_check(w, ino, ZC_OPEN_WRITE);
}

/* Who may change what, as Linux says: chmod and explicit times the owner
 * (or root), but a writer may drop setuid/setgid (the kernel sends that
 * before a write or truncation: file_remove_privs; the truncation may
 * have dropped them already); chown root only;
 * chgrp the owner to a group it is in; times "now" the owner or a writer;
 * the size a writer, or a session with the file open for writing
 * (ftruncate). */
static int setattr_allowed(const struct mds_who *w, uint64_t ino, const struct zc_attr *a,
			   uint32_t valid, uint32_t mode, uint32_t uid, uint32_t gid)
{
	bool root = w->uid == 0, owner = root || w->uid == a->uid;
	uint32_t old = a->mode & 07777, new = mode & 07777;
	bool drops = S_ISREG(a->mode) && !(new & ~old) &&
		     !((old & ~new) & ~(uint32_t)(S_ISUID | S_ISGID));
	int st;

	if ((valid & ZC_SET_MODE) && !owner && !(drops && writer(w, ino, a)))
		return ZC_ST_PERM;
	if ((valid & (ZC_SET_ATIME | ZC_SET_MTIME)) && !owner)
		return ZC_ST_PERM;
	if ((valid & ZC_SET_UID) && !root && !(w->uid == a->uid && uid == a->uid))
		return ZC_ST_PERM;
	if ((valid & ZC_SET_GID) && !root &&
	    !(w->uid == a->uid && (gid == a->gid || mds_in_group(w, gid))))
		return ZC_ST_PERM;
	if ((valid & (ZC_SET_ATIME_NOW | ZC_SET_MTIME_NOW)) && !owner &&
	    !mds_may(w, a, MDS_MAY_WRITE))
		return ZC_ST_ACCES;
	if ((valid & ZC_SET_SIZE) && !mds_may(w, a, MDS_MAY_WRITE) &&
	    (st = mds_open_check(w, ino, ZC_OPEN_WRITE)))
		return st == ZC_ST_PERM ? ZC_ST_ACCES : st;
	return ZC_OK;
}

static int op_setattr(const struct mds_who *w, uint64_t ino, uint32_t valid, struct zc_cur *in,
		      struct zc_attr *out)
{
	struct zc_attr a;
	uint32_t mode = zc_get_u32(in), uid = zc_get_u32(in), gid = zc_get_u32(in);
	uint64_t size = zc_get_u64(in);
	int64_t at_s = zc_get_u64(in), now_s;
	uint32_t at_ns = zc_get_u32(in);
	int64_t mt_s = zc_get_u64(in), wm_s = 0;
	uint32_t mt_ns = zc_get_u32(in), now_ns, wm_ns = 0;
	int st;

	if (valid & ZC_SET_GROW) {
		wm_s = zc_get_u64(in);
		wm_ns = zc_get_u32(in);
	}
	if (in->err || at_ns >= 1000000000U || mt_ns >= 1000000000U || wm_ns >= 1000000000U ||
	    ((valid & ZC_SET_GROW) && ((valid & ZC_SET_SIZE) || size > (1ULL << 50))))
		return ZC_ST_INVAL;
	if ((st = mds_reach(w, ino)) || (st = get_attr(ino, &a)) ||
	    (st = setattr_allowed(w, ino, &a, valid, mode, uid, gid)))
		return st;
	/* The writer's size first, as its SETSIZE would have (h_setsize). */
	if ((valid & ZC_SET_GROW) && !mds_open_check(w, ino, ZC_OPEN_WRITE) &&
	    ((st = mds_grow(ino, size, wm_s, wm_ns)) || (st = get_attr(ino, &a))))
		return st;
	/* Linux moves mtime and ctime even when the size stays (do_truncate). */
	if ((valid & ZC_SET_SIZE) && (st = mds_truncate(ino, size, true, &a)))
		return st;
	now_ts(&now_s, &now_ns);
	if ((valid & ZC_SET_SIZE) && w->uid)
		a.mode = mds_mode_killed(w, &a);
	if (valid & ZC_SET_MODE) {
		a.mode = (a.mode & S_IFMT) | (mode & 07777);
		/* As Linux: setgid stays only for root or a member of the group. */
		if (w->uid && !mds_in_group(w, (valid & ZC_SET_GID) ? gid : a.gid))
			a.mode &= ~S_ISGID;
	}
	/* chown drops them whoever asks (unless the mode comes with it: the
	 * kernel works it out so, fuse_setattr). */
	if ((valid & (ZC_SET_UID | ZC_SET_GID)) && !(valid & ZC_SET_MODE))
		a.mode = mds_mode_killed(w, &a);
	if (valid & ZC_SET_UID)
		a.uid = uid;
	if (valid & ZC_SET_GID)
		a.gid = gid;
	if (valid & ZC_SET_ATIME_NOW) {
		a.atime_s = now_s;
		a.atime_ns = now_ns;
	} else if (valid & ZC_SET_ATIME) {
		a.atime_s = at_s;
		a.atime_ns = at_ns;
	}
	if (valid & ZC_SET_MTIME_NOW) {
		a.mtime_s = now_s;
		a.mtime_ns = now_ns;
	} else if (valid & ZC_SET_MTIME) {
		a.mtime_s = mt_s;
		a.mtime_ns = mt_ns;
	}
	a.ctime_s = now_s;
	a.ctime_ns = now_ns;
	if (mds_run("UPDATE inode SET mode=?, uid=?, gid=?, size=?, atime_s=?, atime_ns=?,"
		    " mtime_s=?, mtime_ns=?, ctime_s=?, ctime_ns=? WHERE ino=?", "iiiiiiiiiii",
		    (int64_t)a.mode, (int64_t)a.uid, (int64_t)a.gid, (int64_t)a.size, a.atime_s,
		    (int64_t)a.atime_ns, a.mtime_s, (int64_t)a.mtime_ns, a.ctime_s,
		    (int64_t)a.ctime_ns, (int64_t)ino))
		return ZC_ST_IO;
	*out = a;
	return ZC_OK;
}

/* ---- chunks and chunk servers ---- */

bool cs_up(const struct cs_info *cs)
{
	return cs->last_hb && zc_now_ns() - cs->last_hb < MDS_DOWN_NS;
}

struct cs_info *cs_find(uint32_t id)
{
	for (int i = 0; i < ncs; i++)
		if (css[i].id == id)
			return &css[i];
	return NULL;
}

int load_loc(uint64_t ino, uint32_t idx, struct zc_loc *l)
{
	sqlite3_stmt *st;

	memset(l, 0, sizeof(*l));
	st = mds_q("SELECT id, version FROM chunk WHERE ino=? AND idx=?", "ii", (int64_t)ino,
		   (int64_t)idx);
	if (!st)
		return ZC_ST_IO;
	if (sqlite3_step(st) == SQLITE_ROW) {
		l->id = sqlite3_column_int64(st, 0);
		l->version = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (!l->id)
		return ZC_OK;
	st = mds_q("SELECT cs FROM replica WHERE chunk=?", "i", (int64_t)l->id);
	if (!st)
		return ZC_ST_IO;
	while (sqlite3_step(st) == SQLITE_ROW && l->nrep < ZC_MAX_REPLICAS) {
		struct cs_info *cs = cs_find(sqlite3_column_int64(st, 0));

		if (!cs)
			continue;
		l->rep[l->nrep].cs_id = cs->id;
		l->rep[l->nrep].ip = cs->ip;
		l->rep[l->nrep].port = cs->port;
		l->nrep++;
	}
	sqlite3_reset(st);
	return ZC_OK;
}

/* Fewest chunks first: servers on one disk report the same free space, and
 * ordering by it alone would pile every chunk on one of them. */
static int by_load(const void *a, const void *b)
{
	const struct cs_info *x = *(struct cs_info *const *)a, *y = *(struct cs_info *const *)b;

	if (x->nchunks != y->nchunks)
		return x->nchunks < y->nchunks ? -1 : 1;
	return x->free < y->free ? 1 : x->free > y->free ? -1 : 0;
}

int pick_servers(struct cs_info **out, int max, const struct zc_loc *skip)
{
	struct cs_info *up[MDS_MAX_CS];
	uint64_t most = 0;
	int n = 0;

	for (int i = 0; i < ncs; i++)
		if (cs_up(&css[i]) && css[i].free > most)
			most = css[i].free;
	/* Servers with at least half the free space of the emptiest one
	 * qualify; among them the least loaded go first. */
	for (int i = 0; i < ncs; i++) {
		bool taken = false;

		for (int k = 0; skip && k < skip->nrep; k++)
			taken |= skip->rep[k].cs_id == css[i].id;
		if (!taken && cs_up(&css[i]) && css[i].free >= most / 2 &&
		    css[i].free >= ZC_CHUNK_SIZE)
			up[n++] = &css[i];
	}
	qsort(up, n, sizeof(up[0]), by_load);
	n = ZC_MIN(n, max);
	memcpy(out, up, n * sizeof(up[0]));
	return n;
}

unsigned goal_of(unsigned own)
{
	unsigned g = own ? own : replicas_goal;

	/* Never more than there are chunk servers. */
	return ZC_MAX(1, ZC_MIN(g, (unsigned)ncs));
}

unsigned inode_goal(uint64_t ino)
{
	return goal_of(mds_int(0, "SELECT goal FROM inode WHERE ino=?", "i", (int64_t)ino));
}

int alloc_chunk(uint64_t ino, uint32_t idx, struct zc_loc *l)
{
	struct cs_info *up[ZC_MAX_REPLICAS];
	int n, st = load_loc(ino, idx, l);
	int64_t id;

	if (st)
		return st;
	if (l->id)
		return chunk_busy(l->id) ? ZC_ST_AGAIN : ZC_OK;
	n = pick_servers(up, inode_goal(ino), NULL);
	if (!n)	/* just started: the servers have not all come back yet */
		return zc_now_ns() - started_ns < WARMUP_NS ? ZC_ST_AGAIN : ZC_ST_NOCS;
	id = mds_meta_next("next_chunk");
	if (id < 0 || mds_run("INSERT INTO chunk(ino, idx, id, version) VALUES(?, ?, ?, 1)",
			      "iii", (int64_t)ino, (int64_t)idx, id))
		return ZC_ST_IO;
	for (int i = 0; i < n; i++) {
		if (mds_run("INSERT INTO replica(chunk, cs) VALUES(?, ?)", "ii", id,
			    (int64_t)up[i]->id))
			return ZC_ST_IO;
		up[i]->nchunks++;	/* until its next heartbeat says */
	}
	if ((unsigned)n < inode_goal(ino))	/* fewer servers up than wanted */
		mds_recovery_queue(id);
	return load_loc(ino, idx, l);
}

/* ---- status ---- */

static void status_text(struct zc_cur *o, bool json)
{
	char buf[1024], addr[32], url[64], esc[512];
	int up = 0, n;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint64_t now = zc_now_ns();
	int64_t files = mds_int(0, "SELECT count(*) FROM inode", "");
	int64_t chunks = mds_int(0, "SELECT count(*) FROM chunk", "");
	int64_t orphans = mds_int(0, "SELECT count(*) FROM inode WHERE nlink=0", "");
	uint64_t commits, changed, commit_ns;

	mds_commit_stats(&commits, &changed, &commit_ns);

	for (int i = 0; i < ncs; i++)
		up += cs_up(&css[i]);
	zc_metrics_url(metrics_ip, metrics_port, url, sizeof(url));
#define OUT(...) do { n = snprintf(buf, sizeof(buf), __VA_ARGS__); \
	zc_put_bytes(o, buf, ZC_MIN((size_t)n, sizeof(buf) - 1)); } while (0)
	if (json)
		OUT("{\"metrics\":\"%s\",\"cs_up\":%d,\"cs_down\":%d,\"inodes\":%lld,\"chunks\":%lld,"
		    "\"chunks_under_replicated\":%llu,\"chunks_bad\":%llu,"
		    "\"recovery_bytes_left\":%llu,\"copies_done\":%llu,\"copies_failed\":%llu,"
		    "\"sessions\":%d,\"open_files\":%llu,\"orphans\":%lld,"
		    "\"chunk_servers\":[", url, up, ncs - up, (long long)files, (long long)chunks,
		    (unsigned long long)mds_rec.under_replicated, (unsigned long long)mds_rec.bad,
		    (unsigned long long)mds_rec.bytes_left,
		    (unsigned long long)mds_rec.copies_done,
		    (unsigned long long)mds_rec.copies_failed, mds_session_count(),
		    (unsigned long long)mds_open_count(), (long long)orphans);
	else
		OUT("chunk servers: %d up, %d down; inodes: %lld; chunks: %lld\n"
		    "sessions: %d, %llu open files, %lld orphans%s\n"
		    "health: %s; %llu chunks under-replicated, %llu unreadable;"
		    " recovery: %llu MiB left, %llu copies done\n"
		    "metrics: %s\n"
		    "  %-4s %-21s %-5s %12s %12s %8s  %s\n", up, ncs - up, (long long)files,
		    (long long)chunks, mds_session_count(), (unsigned long long)mds_open_count(),
		    (long long)orphans, mds_in_grace() ? " (grace period after a restart)" : "",
		    mds_rec.bad ? "DATA UNAVAILABLE" : mds_rec.under_replicated ? "DEGRADED" : "OK",
		    (unsigned long long)mds_rec.under_replicated, (unsigned long long)mds_rec.bad,
		    (unsigned long long)(mds_rec.bytes_left >> 20),
		    (unsigned long long)mds_rec.copies_done, url[0] ? url : "off", "id", "address",
		    "state", "total", "free", "chunks", "metrics");
	for (int i = 0; i < ncs; i++) {
		struct cs_info *cs = &css[i];

		sa.sin_addr.s_addr = cs->ip;
		sa.sin_port = htons(cs->port);
		zc_fmt_addr(&sa, addr, sizeof(addr));
		zc_metrics_url(cs->metrics_ip, cs->metrics_port, url, sizeof(url));
		if (json)
			OUT("%s{\"id\":%u,\"addr\":\"%s\",\"up\":%s,\"total\":%llu,\"free\":%llu,"
			    "\"chunks\":%u,\"metrics\":\"%s\"}", i ? "," : "", cs->id, addr,
			    cs_up(cs) ? "true" : "false", (unsigned long long)cs->total,
			    (unsigned long long)cs->free, cs->nchunks, url);
		else
			OUT("  %-4u %-21s %-5s %12llu %12llu %8u  %s\n", cs->id, addr,
			    cs_up(cs) ? "up" : "down", (unsigned long long)cs->total,
			    (unsigned long long)cs->free, cs->nchunks, url[0] ? url : "-");
	}
	if (json)
		OUT("],\"commits\":%llu,\"changes_committed\":%llu,\"commit_mean_us\":%llu",
		    (unsigned long long)commits, (unsigned long long)changed,
		    (unsigned long long)(commits ? commit_ns / commits / 1000 : 0));
	else
		OUT("store: %llu commits of %llu changes (%.1f per commit, %llu us each)\n",
		    (unsigned long long)commits, (unsigned long long)changed,
		    commits ? (double)changed / commits : 0.0,
		    (unsigned long long)(commits ? commit_ns / commits / 1000 : 0));
	OUT(json ? ",\"ops\":{" : "mds requests (count, mean us):");
	for (int t = 0, first = 1, k = 0; t < ZC_TYPE_MAX; t++) {
		unsigned long long n = zc_hist_count(&ops[t]);
		unsigned long long us = n ? zc_hist_sum_ns(&ops[t]) / n / 1000 : 0;

		if (!n)
			continue;
		if (json)
			OUT("%s\"%s\":{\"n\":%llu,\"mean_us\":%llu}", first ? "" : ",",
			    zc_type_name(t), n, us);
		else
			OUT("%s%s %llu %llu", k++ % 4 ? "; " : "\n  ", zc_type_name(t), n, us);
		first = 0;
	}
	OUT(json ? "},\"clients\":[" : "\nclients:\n");
	for (int i = 0, first = 1; i < MAX_CLIENTS; i++) {
		struct client_info *c = &clients[i];

		if (!c->id[0] || now - c->last > 60ULL * 1000000000ULL)
			continue;
		zc_metrics_url(c->metrics_ip, c->metrics_port, url, sizeof(url));
		OUT(json ? "%s{\"id\":\"%s\",\"age_ms\":%llu,\"metrics\":\"%s\",\"counters\":{" :
			   "%s  %s (%llu ms ago, metrics %s):",
		    json && !first ? "," : "", json ? zc_json_str(c->id, esc, sizeof(esc)) : c->id,
		    (unsigned long long)((now - c->last) / 1000000),
		    url[0] || json ? url : "off");
		first = 0;
		for (int k = 0; k < c->n; k++)
			OUT(json ? "%s\"%s\":%llu" : "%s %s=%llu", json && k ? "," : "",
			    json ? zc_json_str(c->names[k], esc, sizeof(esc)) : c->names[k],
			    (unsigned long long)c->vals[k]);
		OUT(json ? "}}" : "\n");
	}
	OUT(json ? "]}\n" : "");
#undef OUT
}

/* ---- metrics (GET /metrics, README "Metrics and zcfs top") ---- */

static void render_metrics(struct zc_mbuf *b)
{
	static struct {
		uint32_t id, nchunks;
		bool up;
	} cs[MDS_MAX_CS];	/* one scrape at a time: the server's thread */
	struct recovery_stats rec;
	uint64_t opens, commits, changes, commit_ns;
	int n, sessions, up = 0;
	char label[32];

	/* A copy under the plain lock: no wait for a commit in flight. */
	pthread_mutex_lock(&mds_lock);
	rec = mds_rec;
	n = ncs;
	for (int i = 0; i < n; i++) {
		cs[i].id = css[i].id;
		cs[i].nchunks = css[i].nchunks;
		cs[i].up = cs_up(&css[i]);
		up += cs[i].up;
	}
	sessions = mds_session_count();
	opens = mds_open_count();
	mds_commit_stats(&commits, &changes, &commit_ns);
	pthread_mutex_unlock(&mds_lock);

	zc_metrics_type_hists(b, "zcfs_mds_request_duration_seconds",
			      "Requests served, by message type: time from the frame read to the"
			      " answer ready (the commit not included).", ops, ZC_TYPE_MAX);
	zc_metrics_statuses(b, "zcfs_mds_request_errors_total",
			    "Requests answered with an error, by wire status.", op_errors);
	zc_metrics_rpc_errors(b, "zcfs_mds");
	zc_metrics_family(b, "zcfs_mds_chunk_servers", "gauge",
			  "Chunk servers known, by state (down: no heartbeat for 5 s).");
	zc_metrics_u64(b, "zcfs_mds_chunk_servers", "state=\"up\"", up);
	zc_metrics_u64(b, "zcfs_mds_chunk_servers", "state=\"down\"", n - up);
	zc_metrics_family(b, "zcfs_mds_chunk_server_chunks", "gauge",
			  "Chunks each chunk server holds, as its last heartbeat said.");
	for (int i = 0; i < n; i++) {
		snprintf(label, sizeof(label), "cs=\"%u\"", cs[i].id);
		zc_metrics_u64(b, "zcfs_mds_chunk_server_chunks", label, cs[i].nchunks);
	}
	zc_metrics_one(b, "zcfs_mds_chunks_under_replicated", "gauge",
		       "Chunks with fewer good replicas than their goal.", rec.under_replicated);
	zc_metrics_one(b, "zcfs_mds_chunks_bad", "gauge",
		       "Chunks with no readable replica.", rec.bad);
	zc_metrics_one(b, "zcfs_mds_recovery_left_bytes", "gauge",
		       "Data still to copy to bring every chunk to its goal.", rec.bytes_left);
	zc_metrics_family(b, "zcfs_mds_recovery_copies_total", "counter",
			  "Re-replication copies, by result.");
	zc_metrics_u64(b, "zcfs_mds_recovery_copies_total", "result=\"done\"", rec.copies_done);
	zc_metrics_u64(b, "zcfs_mds_recovery_copies_total", "result=\"failed\"",
		       rec.copies_failed);
	zc_metrics_one(b, "zcfs_mds_sessions", "gauge",
		       "Client sessions.", sessions);
	zc_metrics_one(b, "zcfs_mds_open_files", "gauge",
		       "Files open by clients.", opens);
	zc_metrics_one(b, "zcfs_mds_connections", "gauge",
		       "Connections served (clients and chunk servers).", zc_srv_conns());
	zc_metrics_one(b, "zcfs_mds_commits_total", "counter",
		       "Store commits that wrote something (one fsync each).", commits);
	zc_metrics_one(b, "zcfs_mds_committed_changes_total", "counter",
		       "Changes those commits carried.", changes);
	zc_metrics_family(b, "zcfs_mds_commit_seconds_total", "counter",
			  "Time spent committing.");
	zc_metrics_f64(b, "zcfs_mds_commit_seconds_total", NULL, commit_ns / 1e9);
}

/* The text `zcfs getattr` shows: goal, then every chunk and its replicas. */
static int layout_text(uint64_t ino, struct zc_cur *o)
{
	struct zc_attr a;
	char line[256];
	sqlite3_stmt *q;
	int st = get_attr(ino, &a), n;
	unsigned own;

	if (st)
		return st;
	own = mds_int(0, "SELECT goal FROM inode WHERE ino=?", "i", (int64_t)ino);
	n = snprintf(line, sizeof(line), "inode %llu size %llu replicas %u%s\n",
		     (unsigned long long)ino, (unsigned long long)a.size, inode_goal(ino),
		     own ? "" : " (default)");
	zc_put_bytes(o, line, n);
	q = mds_q("SELECT idx, id, version FROM chunk WHERE ino=? ORDER BY idx", "i", (int64_t)ino);
	while (q && sqlite3_step(q) == SQLITE_ROW && zc_cur_left(o) > 1024) {
		uint32_t idx = sqlite3_column_int64(q, 0);
		uint64_t id = sqlite3_column_int64(q, 1);
		struct zc_loc l;

		if (load_loc(ino, idx, &l))
			continue;
		n = snprintf(line, sizeof(line), "chunk %u id %016llx version %u%s:", idx,
			     (unsigned long long)id, l.version, chunk_busy(id) ? " (copying)" : "");
		zc_put_bytes(o, line, n);
		for (int i = 0; i < l.nrep; i++) {
			struct cs_info *cs = cs_find(l.rep[i].cs_id);

			n = snprintf(line, sizeof(line), " cs%u(%s)", l.rep[i].cs_id,
				     cs && cs_up(cs) ? "ok" : "down");
			zc_put_bytes(o, line, n);
		}
		zc_put_bytes(o, "\n", 1);
	}
	if (q)
		sqlite3_reset(q);
	return ZC_OK;
}

/* ---- request handlers ---- */

/* Reply payloads are built here: big enough for a READDIR batch. */
#define OUT_CAP (256U << 10)

/* The prefix of every client request (proto.h). */
struct creq {
	uint64_t session, seq, ack;
};

/*
 * A layout for a client, with the capability that lets it use the chunk
 * (rights ZC_CAP_*) for the session, for mds_cap_life_s seconds.  A hole
 * needs none.
 */
void mds_put_client_loc(struct zc_cur *o, struct zc_loc *l, uint64_t session, uint8_t rights)
{
	memset(&l->cap, 0, sizeof(l->cap));
	if (l->id)
		zc_cap_mint(&l->cap, l->id, l->version, rights,
			    (uint64_t)time(NULL) + mds_cap_life_s, session);
	zc_put_loc(o, l);
}

/* APPEND: reserves len bytes at the end of the file; answers where, and
 * whether the mode changed. */
static int op_append(const struct mds_who *w, uint64_t ino, uint32_t len, struct zc_cur *o)
{
	struct zc_attr a;
	int64_t s;
	uint32_t ns, killed;
	int st = get_attr(ino, &a);

	if (st)
		return st;
	if (!S_ISREG(a.mode))
		return ZC_ST_INVAL;
	if (a.size + len > (1ULL << 50))
		return ZC_ST_FBIG;
	now_ts(&s, &ns);
	if ((st = mds_grow(ino, a.size + len, s, ns)))
		return st;
	/* An O_APPEND write bypasses the kernel's file_remove_privs (FUSE
	 * direct I/O): setuid and setgid are dropped here. */
	killed = a.mode;
	if ((st = mds_kill_privs(w, ino, &a)))
		return st;
	zc_put_u64(o, a.size);
	zc_put_u8(o, killed != a.mode);
	return ZC_OK;
}

/* An inode the caller reaches, with its attributes, that it may access
 * so (MDS_MAY_*). */
static int may_access(const struct mds_who *w, uint64_t ino, int want, struct zc_attr *a)
{
	int st = mds_reach(w, ino);

	if (st || (st = get_attr(ino, a)))
		return st;
	return mds_may(w, a, want) ? ZC_OK : ZC_ST_ACCES;
}

/* Chunk locations to read: the session has the file open, or the caller
 * may read it. */
static int readable(const struct mds_who *w, uint64_t ino, struct zc_attr *a)
{
	int st = may_access(w, ino, MDS_MAY_READ, a);

	if (st != ZC_ST_ACCES)
		return st;
	st = mds_open_check(w, ino, 0);
	return st == ZC_ST_PERM ? ZC_ST_ACCES : st;
}

/* Chunks, appends and sizes written: only through a handle open for
 * writing (what open(2) checked). */
static int writable(const struct mds_who *w, uint16_t type, uint64_t ino)
{
	int st = mds_open_check(w, ino, ZC_OPEN_WRITE);

	if (st == ZC_ST_PERM)
		zc_warn("mds: session %" PRIu64 " of '%s': inode %" PRIu64 " is not open for"
			" writing; request type %u refused", w->session, w->peer, ino, type);
	return st;
}

/* TRUNC_PREP: a handle open for writing, or write permission. */
static int truncatable(const struct mds_who *w, uint64_t ino)
{
	struct zc_attr a;
	int open = mds_open_check(w, ino, ZC_OPEN_WRITE), st;

	if (!open)
		return ZC_OK;
	st = may_access(w, ino, MDS_MAY_WRITE, &a);
	/* Not allowed yet, but a handle not declared yet may allow it. */
	return st == ZC_ST_ACCES && open == ZC_ST_UNDECLARED ? open : st;
}

/* ---- client requests: one handler each (the table below) ---- */

/* A client request being served: its prefix, who asks, its arguments and
 * the answer being built.  mds_lock held. */
struct req {
	const struct creq *rq;
	struct mds_who *w;
	struct zc_cur *in, *o;
	uint16_t type;
};

static int h_session(struct req *r)
{
	return mds_session_handle(r->type, r->w, r->in, r->o);
}

static int h_lock(struct req *r)
{
	struct zc_cur peek = *r->in;	/* LOCK and GETLK start with ino */
	int st = mds_reach(r->w, zc_get_u64(&peek));

	return st ? st : mds_lock_handle(r->type, r->rq->session, r->in, r->o);
}

static int h_lookup(struct req *r)
{
	char name[ZC_MAX_NAME + 1];
	uint64_t parent = zc_get_u64(r->in), ino;
	struct zc_attr a;
	int st;

	zc_get_str(r->in, name, sizeof(name), true);
	if (r->in->err)
		return ZC_ST_INVAL;
	/* ".." is never an entry: above the export's root too, NOENT. */
	if (!(st = dir_access(r->w, parent, MDS_MAY_EXEC, &a)) &&
	    !(st = lookup_ino(parent, name, &ino)) && !(st = get_attr(ino, &a))) {
		mds_tree_add(r->w, ino);
		zc_put_attr(r->o, &a);
	}
	return st;
}

static int h_getattr(struct req *r)
{
	uint64_t ino = zc_get_u64(r->in);
	struct zc_attr a;
	int st;

	if (r->in->err)
		return ZC_ST_INVAL;
	if (!(st = mds_reach(r->w, ino)) && !(st = get_attr(ino, &a)))
		zc_put_attr(r->o, &a);
	return st;
}

static int h_readlink(struct req *r)
{
	uint64_t ino = zc_get_u64(r->in);
	const unsigned char *t;
	sqlite3_stmt *q;
	int st;

	if (r->in->err)
		return ZC_ST_INVAL;
	if ((st = mds_reach(r->w, ino)))
		return st;
	if (!(q = mds_q("SELECT target FROM inode WHERE ino=?", "i", (int64_t)ino)))
		return ZC_ST_IO;
	if (sqlite3_step(q) == SQLITE_ROW && (t = sqlite3_column_text(q, 0)))
		zc_put_str(r->o, (const char *)t, strlen((const char *)t));
	else
		st = ZC_ST_INVAL;
	sqlite3_reset(q);
	return st;
}

static int h_readdir(struct req *r)
{
	uint64_t ino = zc_get_u64(r->in), cookie = zc_get_u64(r->in);
	uint32_t max = zc_get_u32(r->in), count = 0;
	struct zc_cur *o = r->o, fix;
	size_t count_pos;
	struct zc_attr a;
	sqlite3_stmt *q;
	bool end = false;
	int st, rc;

	if (r->in->err)
		return ZC_ST_INVAL;
	if ((st = dir_access(r->w, ino, MDS_MAY_READ, &a)))
		return st;
	max = ZC_MIN(max, OUT_CAP - 5);
	count_pos = o->pos;
	zc_put_u32(o, 0);
	q = mds_q("SELECT id, name, ino FROM dentry WHERE parent=? AND id>? ORDER BY id", "ii",
		  (int64_t)ino, (int64_t)cookie);
	if (!q)
		return ZC_ST_IO;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(q, 1);
		size_t nl = strlen(n);

		if (o->pos - count_pos + 8 + 2 + nl + ZC_ATTR_LEN > max)
			break;
		if (get_attr(sqlite3_column_int64(q, 2), &a))
			continue;
		zc_put_u64(o, sqlite3_column_int64(q, 0));
		zc_put_str(o, n, nl);
		zc_put_attr(o, &a);
		count++;
	}
	end = rc == SQLITE_DONE;	/* not after a failed step: the client asks again */
	sqlite3_reset(q);
	zc_put_u8(o, end);	/* the client needs no call to learn it */
	fix = zc_cur_init(o->p + count_pos, 4);
	zc_put_u32(&fix, count);
	return ZC_OK;
}

static int h_statfs(struct req *r)
{
	static int64_t files;
	static uint64_t files_at;
	uint64_t total = 0, free = 0;

	for (int i = 0; i < ncs; i++)
		if (cs_up(&css[i])) {
			total += css[i].total;
			free += css[i].free;
		}
	zc_put_u64(r->o, total / ZC_MAX(replicas_goal, 1));
	zc_put_u64(r->o, free / ZC_MAX(replicas_goal, 1));
	/* Counting a million inodes takes some 20 ms under mds_lock: df's
	 * file count may be 5 s old. */
	if (!files_at || zc_now_ns() - files_at > 5000000000ULL) {
		files = mds_int(0, "SELECT count(*) FROM inode", "");
		files_at = zc_now_ns();
	}
	zc_put_u64(r->o, files);
	return ZC_OK;
}

static int h_chunk_get(struct req *r)
{
	uint64_t ino = zc_get_u64(r->in);
	uint32_t idx = zc_get_u32(r->in);
	struct zc_attr a;
	struct zc_loc l;
	int st;

	if (r->in->err)
		return ZC_ST_INVAL;
	if ((st = readable(r->w, ino, &a)) || (st = load_loc(ino, idx, &l)))
		return st;
	zc_put_u64(r->o, a.size);
	mds_put_client_loc(r->o, &l, r->rq->session, ZC_CAP_READ);
	return ZC_OK;
}

static int h_layout(struct req *r)
{
	uint64_t ino = zc_get_u64(r->in);
	struct zc_attr a;
	int st;

	if (r->in->err)
		return ZC_ST_INVAL;
	if ((st = may_access(r->w, ino, MDS_MAY_READ, &a)))
		return st;
	return layout_text(ino, r->o);
}

static int h_status(struct req *r)
{
	uint32_t json = zc_get_u32(r->in);

	if (r->in->err)
		return ZC_ST_INVAL;
	status_text(r->o, json != 0);
	return ZC_OK;
}

static int h_stats(struct req *r)
{
	char id[ZC_MAX_NAME + 1], name[ZC_MAX_NAME + 1];
	struct client_info *c = NULL;
	uint16_t n;

	zc_get_str(r->in, id, sizeof(id), false);
	n = zc_get_u16(r->in);
	if (r->in->err || !id[0])
		return ZC_ST_INVAL;
	for (int i = 0; i < MAX_CLIENTS && !c; i++)
		if (!strcmp(clients[i].id, id))
			c = &clients[i];
	for (int i = 0; i < MAX_CLIENTS && !c; i++)
		if (!clients[i].id[0] || zc_now_ns() - clients[i].last > 300ULL * 1000000000ULL)
			c = &clients[i];
	if (!c)
		return ZC_OK;
	snprintf(c->id, sizeof(c->id), "%.63s", id);
	c->last = zc_now_ns();
	c->n = 0;
	for (int i = 0; i < n && !r->in->err; i++) {
		uint64_t v;

		zc_get_str(r->in, name, sizeof(name), true);
		v = zc_get_u64(r->in);
		if (!r->in->err && c->n < MAX_COUNTERS) {
			snprintf(c->names[c->n], sizeof(c->names[0]), "%.31s", name);
			c->vals[c->n++] = v;
		}
	}
	/* Then its metrics endpoint, from clients that have one. */
	c->metrics_ip = 0;
	c->metrics_port = 0;
	if (zc_cur_left(r->in) == 6) {
		uint8_t *ip = zc_cur_take(r->in, 4);

		memcpy(&c->metrics_ip, ip, 4);
		c->metrics_port = zc_get_u16(r->in);
		if (!c->metrics_ip && c->metrics_port)
			c->metrics_ip = req_peer_ip;
	}
	return r->in->err || zc_cur_left(r->in) ? ZC_ST_INVAL : ZC_OK;
}

/* ---- changes (in a transaction, see handle_client) ---- */

static int h_setattr(struct req *r)
{
	uint64_t ino = zc_get_u64(r->in);
	uint32_t valid = zc_get_u32(r->in);
	struct zc_attr a;
	int st = r->in->err ? ZC_ST_INVAL : op_setattr(r->w, ino, valid, r->in, &a);

	if (!st)
		zc_put_attr(r->o, &a);
	return st;
}

/*
 * A change to the names in a directory answers with the directory's
 * attributes as they are now, after the rest of its answer: the kernel
 * drops what it knew of them and asks again at the next permission check
 * in there, which the client then answers without a round trip
 * (client/inode.c, zc_attr_keep).
 */
static int put_dir_attr(struct req *r, uint64_t dir)
{
	struct zc_attr a;
	int st = get_attr(dir, &a);

	if (!st)
		zc_put_attr(r->o, &a);
	return st;
}

/* MKNOD, and CREATE (handle:64 first: the new file is opened under it). */
static int h_mknod(struct req *r)
{
	uint64_t handle = r->type == ZC_CLTOMA_CREATE ? zc_get_u64(r->in) : 0;
	uint64_t parent = zc_get_u64(r->in);
	uint32_t mode = zc_get_u32(r->in), rdev;
	char name[ZC_MAX_NAME + 1];
	struct zc_attr a;
	struct zc_loc l = { 0 };
	uint8_t flags;
	int st;

	zc_get_u32(r->in);	/* uid, gid: the caller's identity is used */
	zc_get_u32(r->in);
	rdev = zc_get_u32(r->in);
	zc_get_str(r->in, name, sizeof(name), true);
	flags = r->type == ZC_CLTOMA_CREATE ? zc_get_u8(r->in) : 0;
	if (r->in->err || S_ISLNK(mode) || (r->type == ZC_CLTOMA_CREATE && !S_ISREG(mode)))
		return ZC_ST_INVAL;
	st = op_mknod(r->w, parent, name, mode, rdev, NULL, &a);
	if (!st && r->type == ZC_CLTOMA_CREATE)
		st = mds_open_created(r->rq->session, handle, a.ino);
	if (st)
		return st;
	zc_put_attr(r->o, &a);
	if (r->type != ZC_CLTOMA_CREATE)
		return put_dir_attr(r, parent);
	/* The first chunk of a file opened for writing, placed in the same
	 * step: a small file costs no CHUNK_ALLOC.  No server to be had is
	 * no error here: the write asks again and says so.  Without one the
	 * answer holds an empty place (id 0). */
	if ((flags & ZC_CREATE_CHUNK) && (st = alloc_chunk(a.ino, 0, &l))) {
		if (st == ZC_ST_IO)
			return st;
		l = (struct zc_loc){ 0 };
	}
	zc_put_u64(r->o, 0);
	if (l.id)
		mds_put_client_loc(r->o, &l, r->rq->session, ZC_CAP_READ | ZC_CAP_WRITE);
	else
		zc_put_loc(r->o, &l);
	return put_dir_attr(r, parent);
}

static int h_symlink(struct req *r)
{
	uint64_t parent = zc_get_u64(r->in);
	char name[ZC_MAX_NAME + 1], target[ZC_MAX_PATH + 1];
	struct zc_attr a;
	int st;

	zc_get_u32(r->in);	/* uid, gid: the caller's identity is used */
	zc_get_u32(r->in);
	zc_get_str(r->in, name, sizeof(name), true);
	zc_get_str(r->in, target, sizeof(target), false);
	if (r->in->err || !target[0])
		return ZC_ST_INVAL;
	if ((st = op_mknod(r->w, parent, name, S_IFLNK | 0777, 0, target, &a)))
		return st;
	zc_put_attr(r->o, &a);
	return put_dir_attr(r, parent);
}

static int h_link(struct req *r)
{
	uint64_t ino = zc_get_u64(r->in), parent = zc_get_u64(r->in);
	char name[ZC_MAX_NAME + 1];
	struct zc_attr a;
	int st;

	zc_get_str(r->in, name, sizeof(name), true);
	if (r->in->err)
		return ZC_ST_INVAL;
	if ((st = op_link(r->w, ino, parent, name, &a)))
		return st;
	zc_put_attr(r->o, &a);
	return put_dir_attr(r, parent);
}

/* UNLINK and RMDIR */
static int h_remove(struct req *r)
{
	uint64_t parent = zc_get_u64(r->in);
	char name[ZC_MAX_NAME + 1];
	int st;

	zc_get_str(r->in, name, sizeof(name), true);
	if (r->in->err)
		return ZC_ST_INVAL;
	st = op_remove(r->w, parent, name, r->type == ZC_CLTOMA_RMDIR);
	return st ? st : put_dir_attr(r, parent);
}

/* RENAME: the attributes of both directories follow (one if the same). */
static int h_rename(struct req *r)
{
	char name[ZC_MAX_NAME + 1], nname[ZC_MAX_NAME + 1];
	uint64_t parent = zc_get_u64(r->in), nparent;
	uint32_t flags;
	int st;

	zc_get_str(r->in, name, sizeof(name), true);
	nparent = zc_get_u64(r->in);
	zc_get_str(r->in, nname, sizeof(nname), true);
	flags = zc_get_u32(r->in);
	if (r->in->err)
		return ZC_ST_INVAL;
	if ((st = op_rename(r->w, parent, name, nparent, nname, flags)) ||
	    (st = put_dir_attr(r, parent)))
		return st;
	return nparent == parent ? ZC_OK : put_dir_attr(r, nparent);
}

static int h_chunk_alloc(struct req *r)
{
	uint64_t ino = zc_get_u64(r->in);
	uint32_t idx = zc_get_u32(r->in);
	struct zc_attr a;
	struct zc_loc l;
	int st;

	if (r->in->err || idx >= (1U << 24))
		return ZC_ST_INVAL;
	if ((st = writable(r->w, r->type, ino)) || (st = get_attr(ino, &a)))
		return st;
	if (!S_ISREG(a.mode))
		return ZC_ST_INVAL;
	if ((st = alloc_chunk(ino, idx, &l)))
		return st;
	zc_put_u64(r->o, a.size);
	mds_put_client_loc(r->o, &l, r->rq->session, ZC_CAP_READ | ZC_CAP_WRITE);
	return ZC_OK;
}

static int h_setsize(struct req *r)
{
	uint64_t ino = zc_get_u64(r->in), size = zc_get_u64(r->in);
	int64_t ms = zc_get_u64(r->in);
	uint32_t mns = zc_get_u32(r->in);
	struct zc_attr a;
	int st;

	if (r->in->err || mns >= 1000000000U || size > (1ULL << 50))
		return ZC_ST_INVAL;
	if (!(st = writable(r->w, r->type, ino)) && !(st = mds_grow(ino, size, ms, mns)) &&
	    !(st = get_attr(ino, &a)))
		zc_put_attr(r->o, &a);
	return st;
}

static int h_append(struct req *r)
{
	uint64_t ino = zc_get_u64(r->in);
	uint32_t len = zc_get_u32(r->in);
	int st;

	if (r->in->err || len > ZC_MAX_IO)
		return ZC_ST_INVAL;
	return (st = writable(r->w, r->type, ino)) ? st : op_append(r->w, ino, len, r->o);
}

static int h_setgoal(struct req *r)
{
	uint64_t ino = zc_get_u64(r->in);
	uint32_t goal = zc_get_u8(r->in);
	struct zc_attr a;
	int st;

	if (r->in->err || goal > ZC_MAX_REPLICAS)
		return ZC_ST_INVAL;
	/* As setting a user.* xattr: a writer (zcfs setattr --replicas). */
	if ((st = may_access(r->w, ino, MDS_MAY_WRITE, &a)))
		return st;
	if (mds_run("UPDATE inode SET goal=? WHERE ino=?", "ii", (int64_t)goal, (int64_t)ino))
		return ZC_ST_IO;
	if ((st = get_attr(ino, &a)))
		return st;
	zc_put_attr(r->o, &a);
	mds_recovery_queue_ino(ino);
	return ZC_OK;
}

static int h_trunc_prep(struct req *r)
{
	uint64_t ino = zc_get_u64(r->in), size = zc_get_u64(r->in);
	struct zc_attr a;
	struct zc_loc l;
	int st;

	if (r->in->err)
		return ZC_ST_INVAL;
	if (size > (1ULL << 50))
		return ZC_ST_FBIG;
	if ((st = truncatable(r->w, ino)) || (st = get_attr(ino, &a)))
		return st;
	memset(&l, 0, sizeof(l));
	if (size % ZC_CHUNK_SIZE && (st = load_loc(ino, size / ZC_CHUNK_SIZE, &l)))
		return st;
	mds_put_client_loc(r->o, &l, r->rq->session, ZC_CAP_READ | ZC_CAP_WRITE);
	/* Growing past the chunk holding the old end: that chunk may have
	 * been placed and never written (CREATE places chunk 0), so exist on
	 * no server; inside the file now, it must read as zeros, not fail. */
	if (size > a.size && a.size / ZC_CHUNK_SIZE != size / ZC_CHUNK_SIZE) {
		if ((st = load_loc(ino, a.size / ZC_CHUNK_SIZE, &l)))
			return st;
		mds_put_client_loc(r->o, &l, r->rq->session, ZC_CAP_READ | ZC_CAP_WRITE);
	}
	return ZC_OK;
}

#define OP_CHANGE 1	/* changes the store: a transaction, refused read-only */
#define OP_COMMITTED 2	/* reads what is committed only: never waits for a commit */

static const struct {
	int (*fn)(struct req *r);
	unsigned flags;
} handlers[ZC_CSTOMA_REGISTER] = {
	[ZC_CLTOMA_SESSION_NEW] = { h_session, 0 },
	[ZC_CLTOMA_SESSION_RENEW] = { h_session, 0 },
	[ZC_CLTOMA_SESSION_END] = { h_session, 0 },
	[ZC_CLTOMA_OPEN] = { h_session, 0 },
	[ZC_CLTOMA_RELEASE] = { h_session, 0 },
	[ZC_CLTOMA_LOCK] = { h_lock, 0 },
	[ZC_CLTOMA_GETLK] = { h_lock, 0 },
	[ZC_CLTOMA_LOOKUP] = { h_lookup, OP_COMMITTED },
	[ZC_CLTOMA_GETATTR] = { h_getattr, OP_COMMITTED },
	[ZC_CLTOMA_READLINK] = { h_readlink, OP_COMMITTED },
	[ZC_CLTOMA_READDIR] = { h_readdir, OP_COMMITTED },
	[ZC_CLTOMA_STATFS] = { h_statfs, OP_COMMITTED },
	[ZC_CLTOMA_CHUNK_GET] = { h_chunk_get, 0 },
	[ZC_CLTOMA_LAYOUT] = { h_layout, 0 },
	[ZC_CLTOMA_STATUS] = { h_status, 0 },
	[ZC_CLTOMA_STATS] = { h_stats, 0 },
	[ZC_CLTOMA_SETATTR] = { h_setattr, OP_CHANGE },
	[ZC_CLTOMA_MKNOD] = { h_mknod, OP_CHANGE },
	[ZC_CLTOMA_CREATE] = { h_mknod, OP_CHANGE },
	[ZC_CLTOMA_SYMLINK] = { h_symlink, OP_CHANGE },
	[ZC_CLTOMA_LINK] = { h_link, OP_CHANGE },
	[ZC_CLTOMA_UNLINK] = { h_remove, OP_CHANGE },
	[ZC_CLTOMA_RMDIR] = { h_remove, OP_CHANGE },
	[ZC_CLTOMA_RENAME] = { h_rename, OP_CHANGE },
	[ZC_CLTOMA_CHUNK_ALLOC] = { h_chunk_alloc, OP_CHANGE },
	[ZC_CLTOMA_SETSIZE] = { h_setsize, OP_CHANGE },
	[ZC_CLTOMA_APPEND] = { h_append, OP_CHANGE },
	[ZC_CLTOMA_SETGOAL] = { h_setgoal, OP_CHANGE },
	[ZC_CLTOMA_TRUNC_PREP] = { h_trunc_prep, OP_CHANGE },
	/* CHUNK_FAILED talks to chunk servers: mds_client_request serves it
	 * without the lock (handle_failed). */
};

/* Requests that change the file system: refused on a read-only export. */
static bool changes(uint16_t type)
{
	return type < ZC_ARRAY_SIZE(handlers) && (handlers[type].flags & OP_CHANGE);
}

/*
 * Serves one client request with its handler.  A change runs in a
 * transaction of its own, and one the client may retry (zc_type_replayed)
 * stores its answer under (session, seq) in it: a retry gets that answer
 * again instead of running twice.
 */
static int handle_client(uint16_t type, const struct creq *rq, struct mds_who *w,
			 struct zc_cur *in, struct zc_cur *o)
{
	struct req r = { rq, w, in, o, type };
	size_t start = o->pos;
	bool replay;
	int st;

	if (type >= ZC_ARRAY_SIZE(handlers) || !handlers[type].fn)
		return ZC_ST_NOTSUP;
	if (!(handlers[type].flags & OP_CHANGE))
		return handlers[type].fn(&r);
	if (mds_begin())
		return ZC_ST_IO;
	replay = zc_type_replayed(type) && rq->seq && mds_session_known(rq->session);
	if (replay) {
		bool found;

		st = mds_replay_find(rq->session, rq->seq, o, &found);
		if (!st && found && type == ZC_CLTOMA_CREATE) {
			/* A retry of a create that ran: the file is opened under
			 * the retry's handle (the first of its arguments). */
			struct zc_cur a = zc_cur_init(o->p + start, o->pos - start);
			uint64_t handle = zc_get_u64(in);

			st = mds_open_created(rq->session, handle, zc_get_u64(&a));
		}
		if (st || found)
			return mds_end(st) < 0 ? ZC_ST_IO : st;
	}
	st = handlers[type].fn(&r);
	if (!st && o->err)
		st = ZC_ST_IO;
	if (!st && replay)
		st = mds_replay_save(rq->session, rq->seq, rq->ack, o->p + start, o->pos - start);
	return mds_end(st) < 0 ? ZC_ST_IO : st;
}

/* A chunk server's request we refuse: one line with the peer and why. */
static int cs_refuse(const struct zc_srv_conn *c, uint16_t type, const char *why)
{
	zc_warn("mds: %s: chunk server request type %u refused: %s", c->name, type, why);
	return ZC_ST_INVAL;
}

/* Every answer of a chunk server request fits in one reply buffer. */
_Static_assert(MDS_CS_ANSWER_MAX <= OUT_CAP, "a REPORT page's answer must fit");
_Static_assert(4 + 12 * GC_BATCH <= OUT_CAP, "a HEARTBEAT's answer must fit");

/*
 * One page of a chunk server's REPORT: the chunks it holds that are not
 * current replicas there are to be deleted; the current ones it holds at
 * another version are to be moved to it.  One indexed look-up per chunk,
 * all in one transaction.
 */
static int report_page(struct zc_srv_conn *c, uint32_t id, struct zc_cur *in, struct zc_cur *o)
{
	/* mds_lock held: one page's fixes at a time. */
	static struct {
		uint64_t id;
		uint32_t version;
	} fix[ZC_REPORT_PAGE];
	uint32_t count, bad = 0, nfix = 0, newer = 0, raised = 0;
	unsigned dropped = 0;
	size_t count_pos;
	int64_t next, gap_from, gap_to;
	bool restored;
	int st = ZC_OK;

	count = zc_get_u32(in);
	if (in->err)
		return cs_refuse(c, ZC_CSTOMA_REPORT, "truncated");
	if (count > ZC_REPORT_PAGE) {
		zc_warn("mds: %s: chunk server %u sent a REPORT page of %u chunks, more than %u;"
			" refused", c->name, id, count, ZC_REPORT_PAGE);
		return ZC_ST_INVAL;
	}
	if (count > zc_cur_left(in) / 12)
		return cs_refuse(c, ZC_CSTOMA_REPORT, "fewer chunks than announced");
	count_pos = o->pos;
	zc_put_u32(o, 0);
	if (mds_begin())
		return ZC_ST_IO;
	next = mds_int(1, "SELECT v FROM meta WHERE k='next_chunk'", "");
	restored = mds_store_restored_gap(&gap_from, &gap_to);
	for (uint32_t i = 0; i < count && !st; i++) {
		uint64_t chunk = zc_get_u64(in);
		uint32_t version = zc_get_u32(in);
		sqlite3_stmt *q = mds_q("SELECT c.version, EXISTS (SELECT 1 FROM replica r WHERE"
					" r.chunk=c.id AND r.cs=?2) FROM chunk c WHERE c.id=?1",
					"ii", (int64_t)chunk, (int64_t)id);
		int64_t have = -1;
		bool mine = false;
		int rc;

		if (!q) {
			st = ZC_ST_IO;
			break;
		}
		rc = sqlite3_step(q);
		if (rc == SQLITE_ROW) {
			have = sqlite3_column_int64(q, 0);
			mine = sqlite3_column_int64(q, 1);
		} else if (rc != SQLITE_DONE) {
			st = ZC_ST_IO;
		}
		sqlite3_reset(q);
		if (st)
			break;
		if (mine && restored) {
			/* The store is older than the servers: backup.c. */
			rc = mds_restored_member(chunk, id, have, version, &dropped);
			if (rc < 0) {
				st = ZC_ST_IO;
				break;
			}
			raised += rc == MDS_SEEN_RAISED;
			if (rc == MDS_SEEN_RAISED || rc == MDS_SEEN_STALE)
				mds_recovery_queue(chunk);
			if (rc != MDS_SEEN_FIX)
				continue;
		}
		if (mine) {
			/* A member that missed a version bump: set it right. */
			if ((uint32_t)have != version) {
				fix[nfix].id = chunk;
				fix[nfix++].version = have;
			}
			continue;
		}
		if ((int64_t)chunk >= next ||
		    (restored && (int64_t)chunk >= gap_from && (int64_t)chunk < gap_to)) {
			newer++;
			continue;
		}
		zc_put_u64(o, chunk);
		bad++;
	}
	if (mds_end(st))
		return ZC_ST_IO;
	struct zc_cur cnt = zc_cur_init(o->p + count_pos, 4);

	zc_put_u32(&cnt, bad);
	zc_put_u32(o, nfix);
	for (uint32_t i = 0; i < nfix; i++) {
		zc_put_u64(o, fix[i].id);
		zc_put_u32(o, fix[i].version);
		mds_recovery_queue(fix[i].id);
	}
	if (nfix || raised || dropped)
		mds_recovery_kick();
	if (newer)
		zc_warn("mds: chunk server %u reports %u chunks newer than this metadata; kept",
			id, newer);
	if (raised || dropped)
		zc_warn("mds: chunk server %u: %u chunks written after the backup this store was"
			" restored from (their version follows), %u older replicas dropped", id,
			raised, dropped);
	if (bad || nfix)
		zc_info("mds: chunk server %u: %u stale or orphan chunks to delete, %u to"
			" move to the current version", id, bad, nfix);
	return o->err ? ZC_ST_NOSPACE : ZC_OK;
}

/* The chunk server a request names: known, and (once the handshake is
 * on) the one that registered on this connection, not another. */
static struct cs_info *cs_of(const struct zc_srv_conn *c, uint16_t type, uint32_t id,
			     const struct zc_cur *in)
{
	if (in->err) {
		cs_refuse(c, type, "truncated");
		return NULL;
	}
	if (zc_auth.role != ZC_ROLE_NONE && id != c->bound_id) {
		cs_refuse(c, type, c->bound_id ? "names another chunk server than its own"
					       : "not registered on this connection");
		return NULL;
	}
	if (!cs_find(id))
		cs_refuse(c, type, "unknown chunk server");
	return cs_find(id);
}

static int handle_cs(struct zc_srv_conn *c, uint16_t type, struct zc_cur *in, struct zc_cur *o)
{
	struct cs_info *cs;
	uint32_t id, n;
	int st = ZC_OK;

	switch (type) {
	case ZC_CSTOMA_REGISTER: {
		uint8_t *uuid = zc_cur_take(in, 16);
		uint32_t ip, m_ip = 0;
		uint16_t port, m_port = 0;
		uint64_t total, free;
		bool is_new = false;

		uint8_t *ipb = zc_cur_take(in, 4);

		ip = 0;
		if (ipb)
			memcpy(&ip, ipb, 4);
		port = zc_get_u16(in);
		total = zc_get_u64(in);
		free = zc_get_u64(in);
		if (zc_cur_left(in) == 6) {	/* its metrics endpoint */
			memcpy(&m_ip, zc_cur_take(in, 4), 4);
			m_port = zc_get_u16(in);
		}
		if (in->err || zc_cur_left(in) || !port || !uuid)
			return cs_refuse(c, type, "malformed REGISTER");
		if (!ip)	/* listening on any address: the one it came from */
			ip = c->peer.sin_addr.s_addr;
		if (!m_ip && m_port)
			m_ip = c->peer.sin_addr.s_addr;
		if (mds_begin())
			return ZC_ST_IO;
		id = mds_int(0, "SELECT id FROM cs WHERE uuid=?", "b", uuid, 16);
		if (!id) {
			id = mds_int(0, "SELECT coalesce(max(id), 0) + 1 FROM cs", "");
			st = mds_run("INSERT INTO cs(id, uuid, ip, port) VALUES(?, ?, ?, ?)", "ibii",
				     (int64_t)id, uuid, 16, (int64_t)ip, (int64_t)port) ? ZC_ST_IO : 0;
		} else {
			st = mds_run("UPDATE cs SET ip=?, port=? WHERE id=?", "iii", (int64_t)ip,
				     (int64_t)port, (int64_t)id) ? ZC_ST_IO : 0;
		}
		if (mds_end(st))
			return ZC_ST_IO;
		cs = cs_find(id);
		if (!cs) {
			if (ncs == MDS_MAX_CS)
				return ZC_ST_NOSPACE;
			cs = &css[ncs++];
			is_new = true;
		}
		*cs = (struct cs_info){ .id = id, .ip = ip, .port = port, .total = total,
					.free = free, .last_hb = zc_now_ns(),
					.metrics_ip = m_ip, .metrics_port = m_port };
		zc_info("mds: chunk server %u registered from %s", id, c->name);
		c->bound_id = id;
		mds_recovery_server_up(cs, is_new);
		zc_put_u32(o, id);
		return ZC_OK;
	}
	case ZC_CSTOMA_HEARTBEAT: {
		sqlite3_stmt *q;
		size_t count_pos;
		bool was_up;

		id = zc_get_u32(in);
		if (!(cs = cs_of(c, type, id, in)))
			return ZC_ST_INVAL;
		was_up = cs_up(cs);
		cs->total = zc_get_u64(in);
		cs->free = zc_get_u64(in);
		cs->nchunks = zc_get_u32(in);
		cs->last_hb = zc_now_ns();
		if (!was_up) {
			zc_info("mds: chunk server %u (%s) is up", id, c->name);
			mds_recovery_server_up(cs, false);
		}
		count_pos = o->pos;
		zc_put_u32(o, 0);
		n = 0;
		if (mds_begin())
			return ZC_ST_IO;
		q = mds_q("SELECT chunk, version FROM gc WHERE cs=? ORDER BY chunk LIMIT ?", "ii",
			  (int64_t)id, (int64_t)GC_BATCH);
		while (q && sqlite3_step(q) == SQLITE_ROW) {
			zc_put_u64(o, sqlite3_column_int64(q, 0));
			zc_put_u32(o, sqlite3_column_int64(q, 1));
			n++;
		}
		if (q)
			sqlite3_reset(q);
		/* Sent is done: a chunk the server fails to drop comes back as an
		 * orphan in its next report. */
		st = mds_run("DELETE FROM gc WHERE cs=?1 AND chunk IN (SELECT chunk FROM gc"
			     " WHERE cs=?1 ORDER BY chunk LIMIT ?2)", "ii", (int64_t)id,
			     (int64_t)GC_BATCH) ? ZC_ST_IO : 0;
		if (mds_end(st))
			return ZC_ST_IO;
		struct zc_cur fix = zc_cur_init(o->p + count_pos, 4);

		zc_put_u32(&fix, n);
		return ZC_OK;
	}
	case ZC_CSTOMA_REPORT:
		id = zc_get_u32(in);
		if (!cs_of(c, type, id, in))
			return ZC_ST_INVAL;
		return report_page(c, id, in, o);
	case ZC_CSTOMA_CHUNK_BAD: {
		uint64_t chunk;

		id = zc_get_u32(in);
		chunk = zc_get_u64(in);
		if (!cs_of(c, type, id, in))
			return ZC_ST_INVAL;
		return mds_replica_bad(chunk, id);
	}
	}
	return ZC_ST_NOTSUP;
}

static int cs_request(struct zc_srv_conn *c, uint16_t type, uint8_t *payload, uint32_t len,
		      struct zc_cur *o)
{
	struct zc_cur in = zc_cur_init(payload, len);
	int st;

	mds_lock_store();
	st = handle_cs(c, type, &in, o);
	pthread_mutex_unlock(&mds_lock);
	return st;
}

/* Answers, as to clients, only once what they say is on disk (group
 * commit, store.c): an id, deletions, versions. */
int mds_cs_request(struct zc_srv_conn *c, uint16_t type, uint8_t *payload, uint32_t len,
		   struct zc_cur *o)
{
	size_t start = o->pos;

	mds_request_begin();
	return mds_request_end(cs_request(c, type, payload, len, o), o, start);
}

/* CHUNK_FAILED from a writer needs the file open for writing; from a
 * reader, what a read needs.  mds_lock held. */
static int failed_allowed(const struct mds_who *w, uint64_t ino, uint8_t reason)
{
	struct zc_attr a;

	if (reason == 0)	/* missed a write */
		return w->ro ? ZC_ST_ROFS : writable(w, ZC_CLTOMA_CHUNK_FAILED, ino);
	return readable(w, ino, &a);
}

/* CHUNK_FAILED talks to chunk servers: it takes mds_lock itself, and
 * only for the checks. */
static int handle_failed(struct mds_who *w, struct zc_cur *in, struct zc_cur *o)
{
	uint64_t ino = zc_get_u64(in), id, size = 0;
	uint32_t idx = zc_get_u32(in), version, cs[ZC_MAX_REPLICAS];
	uint8_t n, reason;
	struct zc_loc l;
	int st;

	id = zc_get_u64(in);
	version = zc_get_u32(in);
	reason = zc_get_u8(in);
	n = zc_get_u8(in);
	for (int i = 0; i < n && i < ZC_MAX_REPLICAS; i++)
		cs[i] = zc_get_u32(in);
	if (in->err || n > ZC_MAX_REPLICAS || reason > 2)
		return ZC_ST_INVAL;
	mds_lock_store();
	st = mds_who_check(w, ZC_CLTOMA_CHUNK_FAILED);
	if (!st)
		st = failed_allowed(w, ino, reason);
	pthread_mutex_unlock(&mds_lock);
	if (st)
		return st;
	st = mds_chunk_failed(ino, idx, id, version, cs, n, reason, &l, &size);
	if (!st) {
		zc_put_u64(o, size);
		mds_put_client_loc(o, &l, w->session,
				  reason == 0 ? ZC_CAP_READ | ZC_CAP_WRITE : ZC_CAP_READ);
	}
	return st;
}

static int client_request(const char *peer, uint16_t type, uint8_t *payload, uint32_t len,
			  struct zc_cur *o)
{
	struct zc_cur in = zc_cur_init(payload, len);
	struct mds_who w = { .peer = peer ? peer : "" };
	struct creq rq;
	bool committed;
	int st;

	rq.session = zc_get_u64(&in);
	rq.seq = zc_get_u64(&in);
	rq.ack = zc_get_u64(&in);
	w.session = rq.session;
	if (in.err || mds_who_decode(&w, &in))
		return ZC_ST_INVAL;
	if (type == ZC_CLTOMA_CHUNK_FAILED)
		return handle_failed(&w, &in, o);
	committed = type < ZC_ARRAY_SIZE(handlers) && (handlers[type].flags & OP_COMMITTED);
	if (committed) {	/* runs while a batch commits */
		pthread_mutex_lock(&mds_lock);
		mds_read_committed(true);
	} else {
		mds_lock_store();
	}
	st = mds_who_check(&w, type);
	if (!st && w.ro && changes(type))
		st = ZC_ST_ROFS;
	if (!st)
		st = handle_client(type, &rq, &w, &in, o);
	if (committed)
		mds_read_committed(false);
	pthread_mutex_unlock(&mds_lock);
	return st;
}

/* The answer leaves only once the batch the request changed or read is
 * committed (group commit, store.c). */
int mds_client_request(const char *peer, uint16_t type, uint8_t *payload, uint32_t len,
		       struct zc_cur *o)
{
	size_t start = o->pos;

	mds_request_begin();
	return mds_request_end(client_request(peer, type, payload, len, o), o, start);
}

static int serve(struct zc_srv_conn *c, const struct zc_hdr *h, uint8_t *payload)
{
	uint8_t *out = c->priv;
	uint64_t t0 = zc_now_ns();
	struct zc_cur o;
	int st;

	if (!out) {
		out = c->priv = malloc(OUT_CAP);
		if (!out)
			return -ENOMEM;
	}
	o = zc_cur_init(out, OUT_CAP);
	req_peer_ip = c->peer.sin_addr.s_addr;
	if (h->type >= ZC_CSTOMA_REGISTER && h->type < ZC_CLTOCS_READ) {
		/* Refusals there say why themselves. */
		st = mds_cs_request(c, h->type, payload, h->len, &o);
	} else {
		st = mds_client_request(c->peer_id, h->type, payload, h->len, &o);
		if (st == ZC_ST_INVAL)
			zc_warn("mds: %s: malformed request type %u (%u bytes)", c->name, h->type,
				h->len);
	}
	if (h->type < ZC_TYPE_MAX)
		zc_hist_add(&ops[h->type], zc_now_ns() - t0);
	if (st > ZC_OK && st < ZC_ST_MAX)
		atomic_fetch_add_explicit(&op_errors[st], 1, memory_order_relaxed);
	return mds_reply(c, h, st, out, o.pos);
}

/* Answers leave once on disk, while the connection's next requests are
 * served (reply.c). */
static int handle(struct zc_srv_conn *c, const struct zc_hdr *h, uint8_t *payload)
{
	mds_answer_later();
	return serve(c, h, payload);
}

static void conn_closed(struct zc_srv_conn *c)
{
	/* Its heartbeats stop; it counts as down MDS_DOWN_NS after the last. */
	if (c->bound_id)
		zc_warn("mds: chunk server %u (%s): connection closed", c->bound_id, c->name);
	mds_reply_close(c);
	free(c->priv);
}

/* ---- main ---- */

static void on_signal(int sig)
{
	(void)sig;
	zc_srv_stop();
}

static void load_registry(void)
{
	sqlite3_stmt *q = mds_q("SELECT id, ip, port FROM cs ORDER BY id", "");

	while (q && sqlite3_step(q) == SQLITE_ROW && ncs < MDS_MAX_CS) {
		css[ncs].id = sqlite3_column_int64(q, 0);
		css[ncs].ip = sqlite3_column_int64(q, 1);
		css[ncs].port = sqlite3_column_int64(q, 2);
		ncs++;
	}
	if (q)
		sqlite3_reset(q);
}

static void usage(void)
{
	fprintf(stderr, "usage: zcfs mds --dir DIR --listen ADDR:PORT [--replicas R]"
			" [--grace SECONDS] [--recovery-rate MIB_PER_S]\n"
			"                [--lease SECONDS] [--key-file FILE] [--credentials FILE]\n"
			"                [--cap-life SECONDS] [--exports FILE] [--log FILE]\n"
			"                [--log-level LEVEL] [--metrics ADDR:PORT] [--config FILE]\n"
			"                [--restore FILE [--force]] [-f]\n"
			"  --config: options from section [mds] of this file (default"
			" /etc/zcfs/zcfs.conf)\n"
			"  --restore: start from a backup (zcfs backup); --force moves a store\n"
			"             already in DIR aside (meta.db.before-restore-TIME)\n"
			"  --key-file: the cluster key (default /etc/zcfs/cluster.key)\n"
			"  --credentials: the clients' credentials, lines \"NAME HEX\", mode 0600,\n"
			"                 read at each client connection (default"
			" /etc/zcfs/credentials)\n"
			"  --exports: what each credential may mount (default DIR/exports)\n"
			"  --metrics: serve Prometheus metrics at http://ADDR:PORT/metrics\n");
}

/* Serves /metrics at addr (after the exports' watcher: SIGHUP stays
 * blocked in the server's thread).  Returns 0 or -errno, logged. */
static int mds_metrics_start(const char *addr)
{
	struct sockaddr_in sa;
	char url[64];
	int fd = zc_metrics_listen(addr, &sa), err;

	if (fd < 0) {
		zc_err("mds: cannot serve metrics on %s: %s", addr, strerror(-fd));
		return fd;
	}
	err = zc_metrics_serve(fd, render_metrics);
	if (err) {
		close(fd);
		zc_err("mds: cannot serve metrics on %s: %s", addr, strerror(-err));
		return err;
	}
	metrics_ip = sa.sin_addr.s_addr;
	metrics_port = ntohs(sa.sin_port);
	zc_metrics_url(metrics_ip, metrics_port, url, sizeof(url));
	zc_info("mds: metrics at %s", url);
	return 0;
}

static int client_secret(const char *name, uint8_t secret[ZC_KEY_LEN])
{
	int err = zc_creds_find(mds_creds_path, name, secret);

	if (err && err != -ENOENT)
		zc_err("mds: credentials %s: %s", mds_creds_path, zc_key_strerror(err));
	return err;
}

int zc_cmd_mds(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "replicas", required_argument, NULL, 'r' },
		{ "grace", required_argument, NULL, 'g' },
		{ "recovery-rate", required_argument, NULL, 'R' },
		{ "lease", required_argument, NULL, 'e' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "credentials", required_argument, NULL, 'C' },
		{ "cap-life", required_argument, NULL, 'c' },
		{ "exports", required_argument, NULL, 'x' },
		{ "log", required_argument, NULL, 'L' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "restore", required_argument, NULL, 'B' },
		{ "force", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	/* Not from a file: each start would restore again. */
	static const char *const cli_only[] = { "restore", "force", NULL };
	static struct zc_args ca;	/* the options point into it */
	const char *key_file = "/etc/zcfs/cluster.key", *restore = NULL;
	const char *metrics_at = NULL;
	const char *dir = NULL, *listen_at = "127.0.0.1:9420", *log = NULL, *exports = NULL;
	static char exports_path[4096];
	struct sockaddr_in sa;
	int c, lfd, lockfd, level = ZC_LOG_INFO;
	bool force = false;
	char addr[32];

	if (zc_config_args("mds", opts, "fh", cli_only, argc, argv, &ca))
		return 2;
	argc = ca.argc;
	argv = ca.argv;
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'l': listen_at = optarg; break;
		case 'r': replicas_goal = atoi(optarg); break;
		case 'g': mds_grace_s = atoi(optarg); break;
		case 'R': mds_recovery_rate = atoi(optarg); break;
		case 'e': mds_lease_s = atoi(optarg); break;
		case 'k': key_file = optarg; break;
		case 'C': mds_creds_path = optarg; break;
		case 'c': mds_cap_life_s = atoi(optarg); break;
		case 'x': exports = optarg; break;
		case 'L': log = optarg; break;
		case 'v': level = zc_log_parse_level(optarg); break;
		case 'M': metrics_at = optarg; break;
		case 'B': restore = optarg; break;
		case 'F': force = true; break;
		case 'f': break;	/* always in the foreground */
		default: usage(); return c == 'h' ? 0 : 2;
		}
	}
	if (!dir || level < 0 || replicas_goal < 1 || replicas_goal > ZC_MAX_REPLICAS ||
	    mds_lease_s < 1 || mds_lease_s > 3600 || mds_cap_life_s < 20 ||
	    mds_cap_life_s > 86400 || zc_parse_addr(listen_at, &sa)) {
		usage();
		return 2;
	}
	if (zc_log_init("mds", level, log)) {
		fprintf(stderr, "mds: cannot open log %s\n", log);
		return 1;
	}
	if (zc_auth_server(ZC_ROLE_MDS, key_file)) {
		zc_err("mds: no usable cluster key in %s", key_file);
		return 1;
	}
	zc_auth.client_secret = client_secret;
	if (access(mds_creds_path, R_OK))
		zc_warn("mds: no client credentials in %s yet: no client can connect", mds_creds_path);
	mkdir(dir, 0755);
	lockfd = zc_lock_dir(dir);
	if (lockfd < 0) {
		zc_err("mds: cannot lock %s: %s", dir,
		       lockfd == -EBUSY ? "another mds uses it" : strerror(-lockfd));
		return 1;
	}
	started_ns = zc_now_ns();
	if (restore && mds_store_restore(restore, dir, force))
		return 1;
	if (mds_store_open(dir) || (restore && mds_store_restored()) || mds_sessions_load())
		return 1;
	snprintf(exports_path, sizeof(exports_path), "%s%s", exports ? exports : dir,
		 exports ? "" : "/exports");
	/* Before any other thread: SIGHUP goes to the one that reloads. */
	if (mds_exports_load(exports_path) || mds_exports_watch(exports_path)) {
		zc_err("mds: exports not loaded: not starting");
		return 1;
	}
	load_registry();
	lfd = zc_tcp_listen(&sa);
	if (lfd < 0) {
		zc_err("mds: cannot listen on %s: %s", listen_at, strerror(-lfd));
		return 1;
	}
	/* Most descriptors are connections: a client or a server each. */
	zc_srv_max_conns = ZC_MAX(8, ZC_MIN(zc_raise_nofile("mds") - 64, 65536));
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	{
		socklen_t sl = sizeof(sa);

		getsockname(lfd, (struct sockaddr *)&sa, &sl);
	}
	if (mds_recovery_start() || mds_sessions_start()) {
		zc_err("mds: no recovery or session thread");
		return 1;
	}
	if (metrics_at && mds_metrics_start(metrics_at))
		return 1;
	zc_info("mds: serving %s on %s, %u replicas by default, grace %u s, session lease %u s",
		dir, zc_fmt_addr(&sa, addr, sizeof(addr)), replicas_goal, mds_grace_s, mds_lease_s);
	zc_srv_run(lfd, handle, conn_closed, NULL);
	zc_metrics_stop();
	mds_lock_store();
	mds_store_close();
	zc_info("mds: stopped");
	close(lfd);
	close(lockfd);
	return 0;
}
