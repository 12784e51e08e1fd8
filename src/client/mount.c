// SPDX-License-Identifier: MIT
/*
 * zcfs mount: the FUSE client (libfuse 3 low-level API).  Metadata
 * operations are one call to the mds each; file data goes through read.c
 * and write.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client.h"
#include "client_i.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"

struct zc_client zc_cl = { .attr_timeout = 1.0, .entry_timeout = 1.0, .mds_timeout_s = 300 };

void zc_attr_to_stat(const struct zc_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = a->size;
	st->st_blksize = 65536;
	st->st_blocks = (a->size + 511) / 512;
	st->st_atim.tv_sec = a->atime_s;
	st->st_atim.tv_nsec = a->atime_ns;
	st->st_mtim.tv_sec = a->mtime_s;
	st->st_mtim.tv_nsec = a->mtime_ns;
	st->st_ctim.tv_sec = a->ctime_s;
	st->st_ctim.tv_nsec = a->ctime_ns;
}

/* The folders' attributes that end the answer to a change of names (as
 * the mds has them after it), kept for the GETATTRs the kernel sends next.
 * Read from a copy of the cursor: what follows is never an error. */
static void keep_dirs(struct zc_cur c)
{
	struct zc_attr d;

	while (zc_cur_left(&c)) {
		zc_get_attr(&c, &d);
		if (c.err || !S_ISDIR(d.mode))
			return;
		d.ino = zc_ino_fuse(d.ino);
		zc_attr_keep(&d);
	}
}

int zc_mds_attr_call(fuse_req_t req, uint16_t type, const void *args, size_t len,
		     struct zc_attr *a)
{
	struct zc_call call;
	struct zc_cur c;
	int err = zc_mds_call(req, type, args, len, &call);

	/* An unlink or a rename, even one whose answer was lost, may have
	 * changed the link count or ctime of an inode it does not name. */
	if (type == ZC_CLTOMA_UNLINK || type == ZC_CLTOMA_RMDIR || type == ZC_CLTOMA_RENAME)
		zc_attr_forget(0);
	if (err)
		return err;
	c = zc_cur_init(call.resp, call.resp_len);
	if (a) {
		zc_get_attr(&c, a);
		a->ino = zc_ino_fuse(a->ino);
	}
	err = c.err ? -EIO : 0;
	if (!err && type == ZC_CLTOMA_LINK)
		zc_attr_keep(a);	/* its link count went up */
	if (!err && (type == ZC_CLTOMA_MKNOD || type == ZC_CLTOMA_SYMLINK ||
		     type == ZC_CLTOMA_LINK || type == ZC_CLTOMA_UNLINK ||
		     type == ZC_CLTOMA_RMDIR || type == ZC_CLTOMA_RENAME))
		keep_dirs(c);
	zc_call_free_resp(&call);
	return err;
}

/* A size this client wrote but has not told the mds yet counts. */
static void merge_local(struct zc_attr *a)
{
	struct zc_inode *in = zc_inode_find(a->ino);

	if (!in)
		return;
	pthread_mutex_lock(&in->lock);
	if (in->size_dirty && in->size > a->size) {
		a->size = in->size;
		a->mtime_s = in->mtime_s;
		a->mtime_ns = in->mtime_ns;
	}
	pthread_mutex_unlock(&in->lock);
	zc_inode_close(in);
}

static void release_fh(fuse_req_t req, struct zc_fh *fh, uint64_t flock_owner, bool flock);
static void unlock_owner(fuse_req_t req, uint64_t ino, uint64_t owner, int kind);

static void reply_err(fuse_req_t req, int err)
{
	/* Answers, not failures: these do not count as errors. */
	if (err && err != -ENOENT && err != -EEXIST && err != -ENOTEMPTY && err != -ENODATA &&
	    err != -EOPNOTSUPP && err != -EAGAIN && err != -EINTR)
		zc_cl.n.errors++;
	fuse_reply_err(req, -err);
}

/* Runs a call whose answer is an attr and replies with an entry. */
static void entry_call(fuse_req_t req, uint16_t type, const void *args, size_t len)
{
	struct fuse_entry_param e = { .generation = 1 };
	struct zc_attr a;
	int err = zc_mds_attr_call(req, type, args, len, &a);

	if (err == -ENOENT && type == ZC_CLTOMA_LOOKUP) {
		/* negative entry, cached like a positive one */
		e.entry_timeout = zc_cl.entry_timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (err) {
		reply_err(req, err);
		return;
	}
	merge_local(&a);
	e.ino = a.ino;
	e.attr_timeout = zc_cl.attr_timeout;
	e.entry_timeout = zc_cl.entry_timeout;
	zc_attr_to_stat(&a, &e.attr);
	fuse_reply_entry(req, &e);
}

/* Runs a call whose answer is an attr and replies with it. */
static void attr_call(fuse_req_t req, uint16_t type, const void *args, size_t len)
{
	struct zc_attr a;
	struct stat st;
	int err = zc_mds_attr_call(req, type, args, len, &a);

	if (err) {
		reply_err(req, err);
		return;
	}
	merge_local(&a);
	zc_attr_to_stat(&a, &st);
	fuse_reply_attr(req, &st, zc_cl.attr_timeout);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	uint8_t args[8 + 2 + ZC_MAX_NAME];
	struct zc_cur c = zc_cur_init(args, sizeof(args));

	if (strlen(name) > ZC_MAX_NAME) {
		reply_err(req, -ENAMETOOLONG);
		return;
	}
	zc_put_u64(&c, zc_ino_mds(parent));
	zc_put_str(&c, name, strlen(name));
	entry_call(req, ZC_CLTOMA_LOOKUP, args, c.pos);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	uint8_t args[8];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	struct zc_attr a;
	struct stat st;

	(void)fi;
	if (zc_attr_take(ino, &a)) {
		zc_cl.n.attr_kept++;
		merge_local(&a);
		zc_attr_to_stat(&a, &st);
		fuse_reply_attr(req, &st, zc_cl.attr_timeout);
		return;
	}
	zc_put_u64(&c, zc_ino_mds(ino));
	attr_call(req, ZC_CLTOMA_GETATTR, args, c.pos);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *st, int to_set,
		       struct fuse_file_info *fi)
{
	uint8_t args[112];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	struct zc_inode *in;
	struct zc_attr a;
	struct stat out;
	uint64_t gsize = 0;
	int64_t gms = 0;
	uint32_t valid = 0, gmns = 0;
	int err;

	(void)fi;
	zc_attr_forget(ino);	/* a truncate alone keeps nothing new */
	if (to_set & FUSE_SET_ATTR_SIZE) {
		err = zc_io_truncate(req, zc_ino_mds(ino), st->st_size, false, &a);
		if (err) {
			reply_err(req, err);
			return;
		}
		to_set &= ~FUSE_SET_ATTR_SIZE;
		if (!to_set) {
			zc_attr_to_stat(&a, &out);
			fuse_reply_attr(req, &out, zc_cl.attr_timeout);
			return;
		}
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		valid |= ZC_SET_MODE;
	if (to_set & FUSE_SET_ATTR_UID)
		valid |= ZC_SET_UID;
	if (to_set & FUSE_SET_ATTR_GID)
		valid |= ZC_SET_GID;
	if (to_set & FUSE_SET_ATTR_ATIME)
		valid |= (to_set & FUSE_SET_ATTR_ATIME_NOW) ? ZC_SET_ATIME_NOW : ZC_SET_ATIME;
	if (to_set & FUSE_SET_ATTR_MTIME)
		valid |= (to_set & FUSE_SET_ATTR_MTIME_NOW) ? ZC_SET_MTIME_NOW : ZC_SET_MTIME;
	/* Sizes written and not told yet go with it (ZC_SET_GROW): the
	 * SETSIZE at close then has nothing left to say. */
	in = zc_inode_find(ino);
	if (in) {
		pthread_mutex_lock(&in->flush_lock);
		pthread_mutex_lock(&in->lock);
		if (in->size_dirty) {
			valid |= ZC_SET_GROW;
			gsize = in->size;
			gms = in->mtime_s;
			gmns = in->mtime_ns;
		}
		pthread_mutex_unlock(&in->lock);
	}
	zc_put_u64(&c, zc_ino_mds(ino));
	zc_put_u32(&c, valid);
	zc_put_u32(&c, st->st_mode);
	zc_put_u32(&c, st->st_uid);
	zc_put_u32(&c, st->st_gid);
	zc_put_u64(&c, gsize);
	zc_put_u64(&c, st->st_atim.tv_sec);
	zc_put_u32(&c, st->st_atim.tv_nsec);
	zc_put_u64(&c, st->st_mtim.tv_sec);
	zc_put_u32(&c, st->st_mtim.tv_nsec);
	if (valid & ZC_SET_GROW) {
		zc_put_u64(&c, gms);
		zc_put_u32(&c, gmns);
	}
	err = zc_mds_attr_call(req, ZC_CLTOMA_SETATTR, args, c.pos, &a);
	if (in) {
		pthread_mutex_lock(&in->lock);
		/* Told, unless written again meanwhile (or refused). */
		if (!err && (valid & ZC_SET_GROW) && a.size >= gsize && in->size == gsize &&
		    in->mtime_s == gms && in->mtime_ns == gmns)
			in->size_dirty = false;
		pthread_mutex_unlock(&in->lock);
		pthread_mutex_unlock(&in->flush_lock);
		zc_inode_close(in);
	}
	if (err) {
		reply_err(req, err);
		return;
	}
	merge_local(&a);
	zc_attr_keep(&a);	/* a chown next asks for them first */
	zc_attr_to_stat(&a, &out);
	fuse_reply_attr(req, &out, zc_cl.attr_timeout);
}

static void do_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev, struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	uint8_t args[8 + 8 + 16 + 2 + ZC_MAX_NAME + 1];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	struct fuse_entry_param e = { .generation = 1 };
	struct zc_inode *in = NULL;
	struct zc_fh *fh = NULL;
	struct zc_call call;
	struct zc_attr a;
	struct zc_loc loc;
	bool have_loc = false;
	int err;

	if (strlen(name) > ZC_MAX_NAME) {
		reply_err(req, -ENAMETOOLONG);
		return;
	}
	if (fi) {
		/* create: the file is made and opened in one step. */
		fh = zc_fh_new(NULL, fi->flags);
		if (!fh) {
			reply_err(req, -ENOMEM);
			return;
		}
		zc_put_u64(&c, fh->handle);
	}
	zc_put_u64(&c, zc_ino_mds(parent));
	zc_put_u32(&c, mode & ~ctx->umask);
	zc_put_u32(&c, ctx->uid);
	zc_put_u32(&c, ctx->gid);
	zc_put_u32(&c, rdev);
	zc_put_str(&c, name, strlen(name));
	if (!fi) {
		entry_call(req, ZC_CLTOMA_MKNOD, args, c.pos);
		return;
	}
	/* Opened for writing: the mds places chunk 0 in the same step. */
	zc_put_u8(&c, (fi->flags & O_ACCMODE) != O_RDONLY ? ZC_CREATE_CHUNK : 0);
	err = zc_mds_call(req, ZC_CLTOMA_CREATE, args, c.pos, &call);
	if (!err) {
		struct zc_cur r = zc_cur_init(call.resp, call.resp_len);

		zc_get_attr(&r, &a);
		a.ino = zc_ino_fuse(a.ino);
		if (zc_cur_left(&r)) {
			zc_get_u64(&r);
			zc_get_loc(&r, &loc);
			have_loc = !r.err && loc.id && loc.nrep;
		}
		err = r.err ? -EIO : 0;
		if (!err)
			keep_dirs(r);
		zc_call_free_resp(&call);
	}
	in = err ? NULL : zc_inode_open(a.ino);
	if (!err && !in)
		err = -ENOMEM;
	if (err) {
		zc_fh_free(fh);
		reply_err(req, err);
		return;
	}
	zc_inode_opened(in, a.size, true, (fi->flags & O_ACCMODE) != O_RDONLY);
	if (have_loc)
		zc_io_known_loc(in, 0, &loc);
	zc_fh_set_inode(fh, in);
	fi->fh = (uintptr_t)fh;
	fi->direct_io = (fi->flags & O_APPEND) != 0;
	e.ino = a.ino;
	e.attr_timeout = zc_cl.attr_timeout;
	e.entry_timeout = zc_cl.entry_timeout;
	zc_attr_to_stat(&a, &e.attr);
	if (fuse_reply_create(req, &e, fi))
		release_fh(NULL, fh, 0, 0);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	do_mknod(req, parent, name, mode, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	do_mknod(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	do_mknod(req, parent, name, S_IFREG | (mode & 07777), 0, fi);
}

static void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	uint8_t args[8 + 8 + 4 + ZC_MAX_NAME + ZC_MAX_PATH];
	struct zc_cur c = zc_cur_init(args, sizeof(args));

	if (strlen(name) > ZC_MAX_NAME || strlen(target) > ZC_MAX_PATH) {
		reply_err(req, -ENAMETOOLONG);
		return;
	}
	zc_put_u64(&c, zc_ino_mds(parent));
	zc_put_u32(&c, ctx->uid);
	zc_put_u32(&c, ctx->gid);
	zc_put_str(&c, name, strlen(name));
	zc_put_str(&c, target, strlen(target));
	entry_call(req, ZC_CLTOMA_SYMLINK, args, c.pos);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	uint8_t args[16 + 2 + ZC_MAX_NAME];
	struct zc_cur c = zc_cur_init(args, sizeof(args));

	if (strlen(name) > ZC_MAX_NAME) {
		reply_err(req, -ENAMETOOLONG);
		return;
	}
	zc_put_u64(&c, zc_ino_mds(ino));
	zc_put_u64(&c, zc_ino_mds(parent));
	zc_put_str(&c, name, strlen(name));
	entry_call(req, ZC_CLTOMA_LINK, args, c.pos);
}

static void do_remove(fuse_req_t req, uint16_t type, fuse_ino_t parent, const char *name)
{
	uint8_t args[8 + 2 + ZC_MAX_NAME];
	struct zc_cur c = zc_cur_init(args, sizeof(args));

	if (strlen(name) > ZC_MAX_NAME) {
		reply_err(req, -ENAMETOOLONG);
		return;
	}
	zc_put_u64(&c, zc_ino_mds(parent));
	zc_put_str(&c, name, strlen(name));
	reply_err(req, zc_mds_attr_call(req, type, args, c.pos, NULL));
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, ZC_CLTOMA_UNLINK, parent, name);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, ZC_CLTOMA_RMDIR, parent, name);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t nparent,
		      const char *nname, unsigned int flags)
{
	uint8_t args[8 + 8 + 4 + 4 + 2 * ZC_MAX_NAME];
	struct zc_cur c = zc_cur_init(args, sizeof(args));

	if (strlen(name) > ZC_MAX_NAME || strlen(nname) > ZC_MAX_NAME) {
		reply_err(req, -ENAMETOOLONG);
		return;
	}
	zc_put_u64(&c, zc_ino_mds(parent));
	zc_put_str(&c, name, strlen(name));
	zc_put_u64(&c, zc_ino_mds(nparent));
	zc_put_str(&c, nname, strlen(nname));
	zc_put_u32(&c, flags);
	reply_err(req, zc_mds_attr_call(req, ZC_CLTOMA_RENAME, args, c.pos, NULL));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	uint8_t args[8];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	char target[ZC_MAX_PATH + 1];
	struct zc_call call;
	int err;

	zc_put_u64(&c, zc_ino_mds(ino));
	err = zc_mds_call(req, ZC_CLTOMA_READLINK, args, c.pos, &call);
	if (err) {
		reply_err(req, err);
		return;
	}
	c = zc_cur_init(call.resp, call.resp_len);
	zc_get_str(&c, target, sizeof(target), false);
	zc_call_free_resp(&call);
	if (c.err)
		reply_err(req, -EIO);
	else
		fuse_reply_readlink(req, target);
}

/*
 * An open directory: the mds answers a READDIR with as many entries as
 * fit DIR_ANSWER, the kernel asks for a page's worth at a time.  What did
 * not fit is kept for the kernel's next call, which continues where the
 * last stopped; and the end of the folder, once known, answers the last
 * call (the one that finds nothing more) without a round trip.  A read
 * from the start (the first, or after rewinddir) asks the mds again.
 */
#define DIR_ANSWER (64U << 10)	/* some 600 entries; held per open folder */

struct zc_dir {
	pthread_mutex_t lock;
	struct zc_call call;	/* the last answer (call.resp), if have */
	struct zc_cur c;	/* its entries not handed to the kernel yet */
	uint32_t left;		/* how many */
	off_t at;		/* the kernel's offset they start at */
	bool have;
	bool end;		/* the folder ends at offset at (kept without an answer) */
	uint64_t epoch, fetched;	/* zc_attr_epoch() and monotonic ns then */
};

/* Forgets the kept answer, and the end mark. */
static void dir_drop(struct zc_dir *d)
{
	if (d->have)
		zc_call_free_resp(&d->call);
	d->have = false;
	d->left = 0;
	d->end = false;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zc_dir *d = calloc(1, sizeof(*d));

	(void)ino;
	if (d)
		pthread_mutex_init(&d->lock, NULL);
	fi->fh = (uintptr_t)d;	/* none: each call asks the mds */
	if (fuse_reply_open(req, fi) && d) {	/* interrupted: no releasedir */
		pthread_mutex_destroy(&d->lock);
		free(d);
	}
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zc_dir *d = (struct zc_dir *)(uintptr_t)fi->fh;

	(void)ino;
	if (d) {
		dir_drop(d);
		pthread_mutex_destroy(&d->lock);
		free(d);
	}
	fuse_reply_err(req, 0);
}

/* Entries of folder ino from the kernel's offset off, in d (fresh from the
 * mds unless d holds them).  Returns 0 or -errno. */
static int dir_fill(fuse_req_t req, fuse_ino_t ino, off_t off, struct zc_dir *d)
{
	uint8_t args[20];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	int err;

	/* Kept entries go to the kernel with their attributes and names
	 * cached: not once anything changed here, nor past the timeout. */
	if (d->at == off && (d->left || d->end) && d->epoch == zc_attr_epoch() &&
	    zc_attr_fresh(d->fetched))
		return 0;
	dir_drop(d);
	d->epoch = zc_attr_epoch();
	d->fetched = zc_now_ns();
	zc_put_u64(&c, zc_ino_mds(ino));
	zc_put_u64(&c, off - 2);
	zc_put_u32(&c, DIR_ANSWER);
	if ((err = zc_mds_call(req, ZC_CLTOMA_READDIR, args, c.pos, &d->call)))
		return err;
	d->have = true;
	d->c = zc_cur_init(d->call.resp, d->call.resp_len);
	d->left = zc_get_u32(&d->c);
	d->at = off;
	if (d->c.err) {
		dir_drop(d);
		return -EIO;
	}
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus,
		       struct fuse_file_info *fi)
{
	struct zc_dir *d = (struct zc_dir *)(uintptr_t)fi->fh, one = { .have = false };
	char *buf = malloc(size), name[ZC_MAX_NAME + 1];
	size_t used = 0;
	int err = 0;

	if (!buf) {
		reply_err(req, -ENOMEM);
		return;
	}
	if (!d)
		d = &one;	/* no memory at opendir: nothing kept */
	else
		pthread_mutex_lock(&d->lock);
	if (!off)		/* from the start: nothing kept holds */
		dir_drop(d);
	/* Offsets: 1 is ".", 2 is "..", entry cookie k is k + 2. */
	for (; off < 2; off++) {
		struct fuse_entry_param e = { .attr.st_mode = S_IFDIR, .attr.st_ino = ino };
		const char *n = off ? ".." : ".";
		size_t need = plus ? fuse_add_direntry_plus(req, buf + used, size - used, n, &e,
							      off + 1)
				   : fuse_add_direntry(req, buf + used, size - used, n, &e.attr,
						       off + 1);

		if (need > size - used)
			goto out_reply;
		used += need;
	}
	if ((err = dir_fill(req, ino, off, d)))
		goto out_reply;
	for (; d->left; d->left--) {
		struct zc_cur at = d->c;	/* this entry, if it does not fit */
		struct fuse_entry_param e = { .generation = 1 };
		uint64_t cookie = zc_get_u64(&d->c);
		struct zc_attr a;
		size_t need;

		zc_get_str(&d->c, name, sizeof(name), true);
		zc_get_attr(&d->c, &a);
		if (d->c.err)
			break;
		a.ino = zc_ino_fuse(a.ino);
		e.ino = a.ino;
		e.attr_timeout = zc_cl.attr_timeout;
		e.entry_timeout = zc_cl.entry_timeout;
		zc_attr_to_stat(&a, &e.attr);
		if (plus)
			need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e,
						      cookie + 2);
		else
			need = fuse_add_direntry(req, buf + used, size - used, name, &e.attr,
						 cookie + 2);
		if (need > size - used) {
			d->c = at;	/* for the next call */
			break;
		}
		used += need;
		d->at = cookie + 2;
	}
	if (d->c.err) {
		dir_drop(d);	/* a short answer: the rest is asked for again */
	} else if (d->have && !d->left) {
		bool end = zc_cur_left(&d->c) && zc_get_u8(&d->c);

		dir_drop(d);
		d->end = end;
	}
out_reply:
	if (d == &one)
		dir_drop(d);
	else
		pthread_mutex_unlock(&d->lock);
	if (err)
		reply_err(req, err);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, false, fi);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, true, fi);
}

/* Tells the mds a handle is gone, with what it wrote, and frees it. */
static void release_fh(fuse_req_t req, struct zc_fh *fh, uint64_t flock_owner, bool flock)
{
	struct zc_inode *in = fh->in;
	uint64_t handle = fh->handle;
	uint8_t args[48];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	uint64_t size;
	int64_t ms;
	uint32_t mns;
	bool dirty;
	int err;

	/* What it wrote first, while the handle still allows it (a restarted
	 * mds that has not heard of it yet is told of it again). */
	zc_inode_flush_size(req, in);
	/* Out of the table first: a declaration to a restarted mds must not
	 * bring back a handle the mds has just let go. */
	zc_fh_free(fh);
	if (flock)
		unlock_owner(req, in->ino, flock_owner, ZC_LK_FLOCK);
	dirty = zc_inode_take_dirty(in, &size, &ms, &mns);
	zc_put_u64(&c, in->ino);
	zc_put_u64(&c, handle);
	zc_put_u64(&c, size);
	zc_put_u64(&c, ms);
	zc_put_u32(&c, mns);
	zc_put_u32(&c, dirty ? ZC_REL_SIZE : 0);
	err = zc_mds_run(req, ZC_CLTOMA_RELEASE, args, c.pos);
	if (err)
		zc_err("client: inode %" PRIu64 ": release not told to the mds%s: %s", in->ino,
		       dirty ? " (size not saved)" : "", strerror(-err));
	zc_inode_close(in);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	uint8_t args[20];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	bool trunc = (fi->flags & O_TRUNC) != 0;	/* as Linux, even with O_RDONLY */
	struct zc_attr a;
	struct zc_inode *in;
	struct zc_fh *fh;
	int err;

	zc_attr_forget(ino);	/* O_TRUNC moves its size and mtime */
	in = zc_inode_open(ino);
	fh = in ? zc_fh_new(in, fi->flags) : NULL;
	if (!fh) {
		if (in)
			zc_inode_close(in);
		reply_err(req, -ENOMEM);
		return;
	}
	/* Close-to-open: the size the mds has now.  O_TRUNC (which libfuse
	 * asks the kernel to pass here) cuts the file in the same call. */
	zc_put_u64(&c, zc_ino_mds(ino));
	zc_put_u64(&c, fh->handle);
	zc_put_u32(&c, (trunc ? ZC_OPEN_TRUNC : 0) | zc_open_access(fi->flags));
	err = zc_mds_attr_call(req, ZC_CLTOMA_OPEN, args, c.pos, &a);
	if (err) {
		zc_fh_free(fh);
		zc_inode_close(in);
		reply_err(req, err);
		return;
	}
	zc_inode_opened(in, a.size, trunc, (fi->flags & O_ACCMODE) != O_RDONLY);
	/* The mds may have dropped setuid/setgid: the kernel's mode is old. */
	if (trunc && fuse_req_ctx(req)->uid && zc_cl.se)
		fuse_lowlevel_notify_inval_inode(zc_cl.se, ino, -1, 0);
	fi->fh = (uintptr_t)fh;
	fi->keep_cache = 0;	/* drop pages cached before: close-to-open */
	/* O_APPEND writes go where the mds says the end is, not where this
	 * kernel thinks it is: past the page cache, so that it never holds
	 * bytes at the place the kernel guessed. */
	fi->direct_io = (fi->flags & O_APPEND) != 0;
	if (fuse_reply_open(req, fi))
		release_fh(NULL, fh, 0, false);
}

static struct zc_fh *fh_of(struct fuse_file_info *fi)
{
	return (struct zc_fh *)(uintptr_t)fi->fh;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)ino;
	zc_io_read(req, fh_of(fi)->in, size, off);
}

/* With zerocopy=1 libfuse splices a large WRITE into a pipe (SPLICE_READ)
 * and hands that here: its bytes go on to the chunk server by splice. */
static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
			 struct fuse_file_info *fi)
{
	struct zc_fh *fh = fh_of(fi);
	struct fuse_buf *b = &bufv->buf[bufv->idx];
	struct zc_wsrc src = { .buf = b->mem };
	size_t size = fuse_buf_size(bufv);
	uint64_t t0 = zc_now_ns();

	if (bufv->count - bufv->idx != 1 || bufv->off ||
	    ((b->flags & FUSE_BUF_IS_FD) && (b->flags & FUSE_BUF_FD_SEEK))) {
		reply_err(req, -EIO);	/* not what libfuse 3 hands a write */
		return;
	}
	if (b->flags & FUSE_BUF_IS_FD) {
		src.buf = NULL;
		src.pipe = b->fd;
	}
	/* Its mtime moves: the kernel's GETATTR after the reply must not find
	 * attributes kept before (forgotten again after: a setattr answered
	 * meanwhile may have kept its own). */
	zc_attr_forget(ino);
	/* Told consumed only when it is: libfuse drops a pipe left with bytes. */
	if (zc_io_write(req, fh->in, src, size, off, (fh->flags & O_APPEND) != 0))
		bufv->idx = bufv->count;
	zc_attr_forget(ino);
	zc_fop_done(ZC_FOP_WRITE, t0);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zc_inode *in = fh_of(fi)->in;
	uint64_t t0 = zc_now_ns();
	int err;

	(void)ino;
	/* close(2): a process's fcntl locks on the file go with any of its
	 * descriptors (POSIX), and others see what it wrote. */
	if (in->posix_locked)
		unlock_owner(req, in->ino, fi->lock_owner, ZC_LK_POSIX);
	err = zc_inode_flush_size(req, in);
	reply_err(req, err);
	zc_fop_done(ZC_FOP_FLUSH, t0);
}

/* fallocate(2): chunk servers take space as bytes arrive, so there is
 * nothing to reserve; mode 0 grows the file, KEEP_SIZE does nothing.
 * Punching holes and zeroing ranges are not supported. */
static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	zc_attr_forget(ino);	/* its size may move */
	if (mode & ~FALLOC_FL_KEEP_SIZE) {
		reply_err(req, -EOPNOTSUPP);
		return;
	}
	if (off < 0 || len <= 0) {
		reply_err(req, -EINVAL);
		return;
	}
	if ((uint64_t)off + (uint64_t)len > (1ULL << 50)) {
		reply_err(req, -EFBIG);
		return;
	}
	reply_err(req, (mode & FALLOC_FL_KEEP_SIZE) ? 0 : zc_io_allocate(req, fh_of(fi)->in, off + len));
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	uint64_t t0 = zc_now_ns();

	(void)ino;
	(void)datasync;
	reply_err(req, zc_io_fsync(req, fh_of(fi)->in));
	zc_fop_done(ZC_FOP_FSYNC, t0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	release_fh(req, fh_of(fi), fi->lock_owner, fi->flock_release);
	fuse_reply_err(req, 0);
}

/* ---- locks: held by the mds for the whole cluster ---- */

static int lock_call(fuse_req_t req, uint64_t ino, uint64_t owner, uint32_t pid, int kind,
		     int type, int64_t lo, int64_t hi)
{
	uint8_t args[48];
	struct zc_cur c = zc_cur_init(args, sizeof(args));

	zc_put_u64(&c, zc_ino_mds(ino));
	zc_put_u64(&c, owner);
	zc_put_u32(&c, pid);
	zc_put_u8(&c, kind);
	zc_put_u8(&c, type);
	zc_put_u64(&c, lo);
	zc_put_u64(&c, hi);
	return zc_mds_run(req, ZC_CLTOMA_LOCK, args, c.pos);
}

static void unlock_owner(fuse_req_t req, uint64_t ino, uint64_t owner, int kind)
{
	int err = lock_call(req, ino, owner, 0, kind, ZC_LK_UNLOCK, 0, ZC_LK_EOF);

	if (err && err != -ENOENT)
		zc_err("client: inode %" PRIu64 ": locks of owner %" PRIx64 " not released: %s",
		       ino, owner, strerror(-err));
}

/*
 * Takes a lock, waiting if asked: the mds answers a conflict at once, so
 * a waiter asks again, a little less often each time, until it gets the
 * lock or the application's signal interrupts it (EINTR).
 */
static int lock_wait(fuse_req_t req, uint64_t ino, uint64_t owner, uint32_t pid, int kind,
		     int type, int64_t lo, int64_t hi, bool wait)
{
	unsigned pause_us = 2000;
	int err;

	for (;;) {
		err = lock_call(req, ino, owner, pid, kind, type, lo, hi);
		if (err != -EAGAIN || !wait)
			return err;
		if (fuse_req_interrupted(req))
			return -EINTR;
		usleep(pause_us);
		pause_us = ZC_MIN(pause_us * 2, 100000);
	}
}

static int lk_type(short t)
{
	return t == F_RDLCK ? ZC_LK_READ : t == F_WRLCK ? ZC_LK_WRITE : ZC_LK_UNLOCK;
}

static void op_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct flock *lock)
{
	uint8_t args[48];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	struct zc_call call;
	int64_t lo = lock->l_start, hi = lock->l_len ? lock->l_start + lock->l_len - 1 : ZC_LK_EOF;
	int err;

	zc_put_u64(&c, zc_ino_mds(ino));
	zc_put_u64(&c, fi->lock_owner);
	zc_put_u8(&c, lk_type(lock->l_type));
	zc_put_u64(&c, lo);
	zc_put_u64(&c, hi);
	err = zc_mds_call(req, ZC_CLTOMA_GETLK, args, c.pos, &call);
	if (err) {
		reply_err(req, err);
		return;
	}
	c = zc_cur_init(call.resp, call.resp_len);
	if (zc_get_u8(&c)) {
		uint8_t type = zc_get_u8(&c);

		lo = zc_get_u64(&c);
		hi = zc_get_u64(&c);
		lock->l_type = type == ZC_LK_WRITE ? F_WRLCK : F_RDLCK;
		lock->l_whence = SEEK_SET;
		lock->l_start = lo;
		lock->l_len = hi == ZC_LK_EOF ? 0 : hi - lo + 1;
		lock->l_pid = zc_get_u32(&c);
	} else {
		lock->l_type = F_UNLCK;
	}
	zc_call_free_resp(&call);
	if (c.err)
		reply_err(req, -EIO);
	else
		fuse_reply_lock(req, lock);
}

static void op_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct flock *lock, int sleep)
{
	struct zc_inode *in = fh_of(fi)->in;
	int type = lk_type(lock->l_type);
	int64_t lo = lock->l_start, hi = lock->l_len ? lock->l_start + lock->l_len - 1 : ZC_LK_EOF;
	int err;

	if (lo < 0 || hi < lo) {
		reply_err(req, -EINVAL);
		return;
	}
	if (type != ZC_LK_UNLOCK)
		in->posix_locked = true;	/* before: a close racing the grant unlocks */
	err = lock_wait(req, ino, fi->lock_owner, lock->l_pid, ZC_LK_POSIX, type, lo, hi, sleep);
	reply_err(req, err);
}

static void op_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	int type = (op & LOCK_SH) ? ZC_LK_READ : (op & LOCK_EX) ? ZC_LK_WRITE : ZC_LK_UNLOCK;
	int err;

	err = lock_wait(req, ino, fi->lock_owner, fuse_req_ctx(req)->pid, ZC_LK_FLOCK, type, 0,
			ZC_LK_EOF, !(op & LOCK_NB));
	reply_err(req, err);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv = { .f_bsize = 65536, .f_frsize = 4096, .f_namemax = ZC_MAX_NAME };
	struct zc_call call;
	struct zc_cur c;
	int err;

	(void)ino;
	err = zc_mds_call(req, ZC_CLTOMA_STATFS, NULL, 0, &call);
	if (err) {
		reply_err(req, err);
		return;
	}
	c = zc_cur_init(call.resp, call.resp_len);
	sv.f_blocks = zc_get_u64(&c) / sv.f_frsize;
	sv.f_bfree = sv.f_bavail = zc_get_u64(&c) / sv.f_frsize;
	sv.f_files = zc_get_u64(&c);
	sv.f_ffree = sv.f_favail = 1ULL << 32;
	sv.f_files += sv.f_ffree;
	zc_call_free_resp(&call);
	if (c.err)
		reply_err(req, -EIO);
	else
		fuse_reply_statfs(req, &sv);
}

/*
 * zcfs's own attributes, for `zcfs setattr` / `zcfs getattr`:
 * user.zcfs.replicas (read and write) and user.zcfs.layout (read).  They
 * are not listed, so that copies do not carry them along.
 */
#define XATTR_REPLICAS "user.zcfs.replicas"
#define XATTR_LAYOUT "user.zcfs.layout"

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	uint8_t args[9];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	char num[8];
	long goal;

	(void)flags;
	if (strcmp(name, XATTR_REPLICAS)) {
		reply_err(req, -EOPNOTSUPP);
		return;
	}
	if (!size || size >= sizeof(num)) {
		reply_err(req, -EINVAL);
		return;
	}
	memcpy(num, value, size);
	num[size] = 0;
	goal = strtol(num, NULL, 10);
	if (goal < 0 || goal > ZC_MAX_REPLICAS) {
		reply_err(req, -EINVAL);
		return;
	}
	zc_put_u64(&c, zc_ino_mds(ino));
	zc_put_u8(&c, goal);
	zc_attr_forget(ino);	/* its ctime moves */
	reply_err(req, zc_mds_run(req, ZC_CLTOMA_SETGOAL, args, c.pos));
}

ssize_t zc_layout_goal(const char *text, size_t len, const char **goal)
{
	const char *p = text ? memmem(text, len, "replicas ", 9) : NULL;
	size_t n = 0;

	if (!p)
		return -EIO;
	p += 9;
	/* The text has no terminator: never look past len. */
	while (p + n < text + len && p[n] >= '0' && p[n] <= '9')
		n++;
	if (!n)
		return -EIO;
	*goal = p;
	return n;
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	uint8_t args[8];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	struct zc_call call;
	const char *text;
	ssize_t len;
	int err;

	if (strcmp(name, XATTR_REPLICAS) && strcmp(name, XATTR_LAYOUT)) {
		reply_err(req, -ENODATA);
		return;
	}
	zc_put_u64(&c, zc_ino_mds(ino));
	err = zc_mds_call(req, ZC_CLTOMA_LAYOUT, args, c.pos, &call);
	if (err) {
		reply_err(req, err);
		return;
	}
	text = (const char *)call.resp;
	len = call.resp_len;
	if (!strcmp(name, XATTR_REPLICAS)) {
		len = zc_layout_goal(text, len, &text);
		if (len < 0) {
			zc_call_free_resp(&call);
			reply_err(req, -EIO);
			return;
		}
	}
	if (!size)
		fuse_reply_xattr(req, len);
	else if (size < (size_t)len)
		reply_err(req, -ERANGE);
	else
		fuse_reply_buf(req, text, len);
	zc_call_free_resp(&call);
}

/* op_init ran: the kernel takes our INIT reply next. */
static atomic_bool fuse_inited;

static void op_init(void *data, struct fuse_conn_info *conn)
{
	(void)data;
	conn->max_write = ZC_MAX_IO;
	conn->max_readahead = ZC_MAX_IO;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	if (conn->capable & FUSE_CAP_ASYNC_DIO)
		conn->want |= FUSE_CAP_ASYNC_DIO;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* Zero-copy replies: libfuse splices our pipes into /dev/fuse; and
	 * writes: it splices each request into a pipe of its own, whose
	 * WRITE payload op_write_buf sends on without reading it. */
	if (zc_cl.zerocopy && (conn->capable & FUSE_CAP_SPLICE_WRITE))
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	else
		conn->want &= ~(FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	if (zc_cl.zerocopy && (conn->capable & FUSE_CAP_SPLICE_READ))
		conn->want |= FUSE_CAP_SPLICE_READ;
	else
		conn->want &= ~FUSE_CAP_SPLICE_READ;
	zc_info("client: FUSE init: max_write %u, max_readahead %u, capable 0x%x, want 0x%x",
		conn->max_write, conn->max_readahead, conn->capable, conn->want);
	atomic_store(&fuse_inited, true);
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write_buf = op_write_buf,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.fallocate = op_fallocate,
	.opendir = op_opendir,
	.releasedir = op_releasedir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.getlk = op_getlk,
	.setlk = op_setlk,
	.flock = op_flock,
	.statfs = op_statfs,
	.create = op_create,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
};

/* ---- kernel settings ---- */

static int read_num(const char *path, long *v)
{
	char buf[32];
	FILE *f = fopen(path, "re");
	int ok;

	if (!f)
		return -errno;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (!ok)
		return -EIO;
	*v = strtol(buf, NULL, 10);
	return 0;
}

static int write_num(const char *path, long v)
{
	FILE *f = fopen(path, "we");
	int err = 0;

	if (!f)
		return -errno;
	if (fprintf(f, "%ld\n", v) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

/*
 * A 1 MiB reply needs pipes larger than the default fs.pipe-max-size
 * (1 MiB): ours hold a segment in socket fragments, libfuse's holds header
 * and payload.  Without this libfuse silently copies.  Needs root.
 */
static void raise_pipe_max(void)
{
	const char *path = "/proc/sys/fs/pipe-max-size";
	long v = 0;
	int err;

	if (read_num(path, &v) || v >= 4L * ZC_MAX_IO)
		return;
	err = write_num(path, 4L * ZC_MAX_IO);
	if (err)
		zc_warn("client: cannot raise %s from %ld (%s): zero-copy reads will copy", path, v,
			strerror(-err));
	else
		zc_info("client: raised %s from %ld to %ld for zero-copy reads", path, v,
			4L * ZC_MAX_IO);
}

/*
 * Buffered reads: the kernel reads ahead at most the bdi's read_ahead_kb,
 * which it sets from INIT's max_readahead (a request, 1 MiB) when it takes
 * our INIT reply.  After that, raise it so that several 1 MiB readahead
 * requests are in flight (bench/RESULTS.md, issue 12).
 */
#define READAHEAD_KB (16 * 1024)

static void raise_readahead(const char *mnt)
{
	char line[8192], path[128];
	unsigned maj, min;
	bool found = false;
	FILE *f;
	int err;

	for (int i = 0; i < 100 && !atomic_load(&fuse_inited); i++)
		usleep(100000);
	usleep(100000);	/* the reply leaves right after op_init */
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	while (!found && fgets(line, sizeof(line), f)) {
		char at[4096];

		found = sscanf(line, "%*d %*d %u:%u %*s %4095s", &maj, &min, at) == 3 &&
			!strcmp(zc_unescape_mnt(at), mnt);
	}
	fclose(f);
	if (!found)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
	err = write_num(path, READAHEAD_KB);
	if (err)
		zc_warn("client: cannot set %s: %s", path, strerror(-err));
	else
		zc_info("client: read_ahead_kb %d for %s", READAHEAD_KB, mnt);
}

/* ---- counters to the mds ---- */

static void *session_thread(void *arg)
{
	(void)arg;
	for (;;) {
		usleep(zc_session_renew_ms() * 1000);
		zc_session_renew();
	}
	return NULL;
}

static void *stats_thread(void *arg)
{
	static const struct {
		const char *name;
		size_t off;
	} names[] = {
#define C(x) { #x, offsetof(struct zc_counters, x) }
		C(meta_ops), C(reads), C(read_bytes), C(writes), C(write_bytes), C(errors),
		C(read_zc_bytes), C(read_copy_bytes), C(read_zero_bytes), C(read_retries), C(write_retries),
		C(write_zc_bytes), C(write_copy_bytes),
		C(zc_fallback_segs), C(zc_fallback_replies),
		C(rq_le4k), C(rq_le64k), C(rq_le256k), C(rq_le1m), C(attr_kept),
#undef C
	};
	uint8_t buf[6144];

	raise_readahead(arg);
	for (;;) {
		struct zc_cur c = zc_cur_init(buf, sizeof(buf)), fix;
		uint16_t n = ZC_ARRAY_SIZE(names) + 5;
		size_t n_at;

		sleep(1);
		/* A writer that never closes still shows its file growing. */
		zc_inode_flush_all();
		zc_put_str(&c, zc_cl.id, strlen(zc_cl.id));
		n_at = c.pos;
		zc_put_u16(&c, 0);
		for (size_t i = 0; i < ZC_ARRAY_SIZE(names); i++) {
			zc_put_str(&c, names[i].name, strlen(names[i].name));
			zc_put_u64(&c, atomic_load((atomic_ullong *)((char *)&zc_cl.n +
								    names[i].off)));
		}
		zc_put_str(&c, "zerocopy", 8);
		zc_put_u64(&c, zc_cl.zerocopy);
		zc_put_str(&c, "pipes_open", 10);
		zc_put_u64(&c, zc_pipes_open());
		zc_put_str(&c, "rpc_pipe_fallbacks", 18);
		zc_put_u64(&c, zc_rpc_pipe_fallbacks);
		zc_put_str(&c, "rpc_bad_frames", 14);
		zc_put_u64(&c, zc_rpc_bad_frames);
		zc_put_str(&c, "rpc_auth_failures", 17);
		zc_put_u64(&c, zc_rpc_auth_failures);
		/* Round trips to the mds by type: "mds.lookup" the count,
		 * "mds.lookup.us" the mean time. */
		for (size_t t = 0; t < ZC_ARRAY_SIZE(zc_cl.n.mds_calls); t++) {
			unsigned long long calls = zc_hist_count(&zc_cl.n.mds_calls[t]);
			char name[40];

			if (!calls || t == ZC_CLTOMA_STATS)
				continue;
			snprintf(name, sizeof(name), "mds.%s", zc_type_name(t));
			zc_put_str(&c, name, strlen(name));
			zc_put_u64(&c, calls);
			strcat(name, ".us");
			zc_put_str(&c, name, strlen(name));
			zc_put_u64(&c, zc_hist_sum_ns(&zc_cl.n.mds_calls[t]) / calls / 1000);
			n += 2;
		}
		fix = zc_cur_init(buf + n_at, 2);
		zc_put_u16(&fix, n);
		/* Where our /metrics is (proto.h, STATS). */
		if (zc_cl.metrics.sin_port) {
			zc_put_bytes(&c, &zc_cl.metrics.sin_addr.s_addr, 4);
			zc_put_u16(&c, ntohs(zc_cl.metrics.sin_port));
		}
		zc_mds_run(NULL, ZC_CLTOMA_STATS, buf, c.pos);
	}
	return NULL;
}

/* ---- main ---- */

/* SIGTERM: operations waiting for the mds give up, and the loop ends. */
static void on_stop(int sig)
{
	(void)sig;
	zc_cl.stopping = true;
	fuse_session_exit(zc_cl.se);
}

struct mount_opts {
	char *mds;
	char *dir;
	char *credential;
	char *log;
	char *log_level;
	char *metrics;
	int zerocopy;
	double attr_timeout, entry_timeout;
	unsigned mds_timeout;
	int help;
};

#define MOPT(t, p) { t, offsetof(struct mount_opts, p), 1 }
static const struct fuse_opt mount_optspec[] = {
	MOPT("--mds=%s", mds),
	MOPT("mds=%s", mds),
	MOPT("--dir=%s", dir),
	MOPT("--credential=%s", credential),
	MOPT("credential=%s", credential),
	MOPT("--log=%s", log),
	MOPT("--log-level=%s", log_level),
	MOPT("--metrics=%s", metrics),
	MOPT("zerocopy=%d", zerocopy),
	MOPT("attr_timeout=%lf", attr_timeout),
	MOPT("entry_timeout=%lf", entry_timeout),
	MOPT("mds_timeout=%u", mds_timeout),
	/* The -o options as long ones too: keys of a configuration file. */
	MOPT("--zerocopy=%d", zerocopy),
	MOPT("--attr_timeout=%lf", attr_timeout),
	MOPT("--entry_timeout=%lf", entry_timeout),
	MOPT("--mds_timeout=%u", mds_timeout),
	MOPT("--help", help),
	MOPT("-h", help),
	FUSE_OPT_END
};

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)data;
	(void)outargs;
	(void)arg;
	(void)key;
	return 1;	/* keep everything else for libfuse */
}

/* mount_optspec's long options ("--name=%s", "--name") as a getopt table
 * in out (max entries with the end), names in names: the keys section
 * [mount] of a configuration file may hold, with no code of their own. */
static void long_opts(struct option *out, char (*names)[32], size_t max)
{
	size_t n = 0, len;

	for (const struct fuse_opt *o = mount_optspec; o->templ && n + 1 < max; o++) {
		if (strncmp(o->templ, "--", 2))
			continue;
		len = strcspn(o->templ + 2, "=");
		snprintf(names[n], 32, "%.*s", (int)len, o->templ + 2);
		out[n] = (struct option){ names[n], o->templ[2 + len] ? required_argument
								    : no_argument, NULL, 0 };
		n++;
	}
	out[n] = (struct option){ 0 };
}

int zc_cmd_mount(int argc, char **argv)
{
	struct option lopts[ZC_ARRAY_SIZE(mount_optspec)];
	char lnames[ZC_ARRAY_SIZE(mount_optspec)][32];
	struct zc_args ca;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct mount_opts mo = { .zerocopy = 1, .attr_timeout = 1.0, .entry_timeout = 1.0,
				 .mds_timeout = 300 };
	struct fuse_cmdline_opts fo;
	struct fuse_session *se;
	struct fuse_loop_config *lc;
	char host[64];
	int ret = 1, level = ZC_LOG_INFO;

	/* A client of the cluster `zcfs up --dir` runs reads no default file,
	 * as the cluster's own daemons: its mds is the cluster's. */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--dir") || !strncmp(argv[i], "--dir=", 6))
			setenv("ZCFS_CONFIG", "", 0);
	long_opts(lopts, lnames, ZC_ARRAY_SIZE(lopts));
	if (zc_config_args("mount", lopts, "o:", NULL, argc, argv, &ca))
		return 2;
	argc = ca.argc;
	argv = ca.argv;
	/* Accept "--mds ADDR" as well as "--mds=ADDR". */
	for (int i = 0; i < argc; i++) {
		if (i + 1 < argc && (!strcmp(argv[i], "--mds") || !strcmp(argv[i], "--log") ||
				     !strcmp(argv[i], "--log-level") || !strcmp(argv[i], "--dir") ||
				     !strcmp(argv[i], "--credential") || !strcmp(argv[i], "--metrics"))) {
			char *joined = malloc(strlen(argv[i]) + strlen(argv[i + 1]) + 2);

			if (!joined)
				return 1;
			sprintf(joined, "%s=%s", argv[i], argv[i + 1]);
			fuse_opt_add_arg(&args, joined);
			free(joined);
			i++;
		} else {
			fuse_opt_add_arg(&args, argv[i]);
		}
	}
	zc_config_free(&ca);	/* args has copies */
	if (fuse_opt_parse(&args, &mo, mount_optspec, opt_proc) == -1)
		return 2;
	if (mo.help) {
		printf("usage: zcfs mount --mds ADDR:PORT | --dir DIR  MOUNTPOINT [-f] [-o opt,...]\n"
		       "  --dir DIR: one more client of the cluster `zcfs up --dir DIR` runs\n"
		       "  --credential FILE: this client's credential (default DIR/admin.cred\n"
		       "                     with --dir, else /etc/zcfs/client.cred)\n"
		       "  --metrics ADDR:PORT: serve Prometheus metrics at http://ADDR:PORT/metrics\n"
		       "  --config FILE: options from section [mount] of this file (default\n"
		       "                 /etc/zcfs/zcfs.conf); -o options are long ones too\n"
		       "  zcfs options: --log FILE, --log-level LEVEL, -o\n"
		       "    zerocopy=0|1        zero-copy reads and writes (default 1)\n"
		       "    attr_timeout=S      how long attributes are cached (default 1 s)\n"
		       "    entry_timeout=S     how long names are cached (default 1 s)\n"
		       "    mds_timeout=S       how long operations wait for an mds that is away\n"
		       "                        before failing with EIO (default 300 s)\n\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		fuse_opt_free_args(&args);
		return 0;
	}
	if (mo.dir && !mo.mds) {
		char addr[64];

		if (zc_cluster_mds(mo.dir, addr, sizeof(addr))) {
			fprintf(stderr, "zcfs: no cluster recorded in %s\n", mo.dir);
			fuse_opt_free_args(&args);
			return 1;
		}
		mo.mds = strdup(addr);
	}
	if (fuse_parse_cmdline(&args, &fo) || !fo.mountpoint || !mo.mds ||
	    zc_parse_addr(mo.mds, &zc_cl.mds) ||
	    (mo.log_level && (level = zc_log_parse_level(mo.log_level)) < 0)) {
		fprintf(stderr, "usage: zcfs mount --mds ADDR:PORT | --dir DIR  MOUNTPOINT [-f]"
				" [-o opt,...]\n");
		fuse_opt_free_args(&args);
		return 2;
	}
	if (zc_log_init("mount", level, mo.log)) {
		fprintf(stderr, "mount: cannot open log %s\n", mo.log);
		return 1;
	}
	if (zc_cli_credential(mo.credential, mo.dir) ||
	    (mo.metrics && zc_client_metrics_listen(mo.metrics))) {
		fuse_opt_free_args(&args);
		return 1;
	}
	zc_cl.zerocopy = mo.zerocopy != 0;
	zc_cl.attr_timeout = ZC_MAX(mo.attr_timeout, 0.0);
	zc_cl.entry_timeout = ZC_MAX(mo.entry_timeout, 0.0);
	snprintf(zc_cl.mds_str, sizeof(zc_cl.mds_str), "%s", mo.mds);
	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = 0;
	snprintf(zc_cl.id, sizeof(zc_cl.id), "%s:%s", host, fo.mountpoint);
	zc_session_init();
	/* noatime: reads never move atime here (no request tells us of one),
	 * and the mount says so. */
	fuse_opt_add_arg(&args, "-odefault_permissions,fsname=zcfs,subtype=zcfs,noatime");
	if (getuid() == 0)
		fuse_opt_add_arg(&args, "-oallow_other");
	signal(SIGPIPE, SIG_IGN);

	zc_raise_nofile("mount");
	if (zc_cl.zerocopy)
		raise_pipe_max();
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se)
		goto out_args;
	if (fuse_set_signal_handlers(se))
		goto out_session;
	zc_cl.se = se;
	{
		/* No SA_RESTART (signal() would set it): the loop's wait must
		 * return to see the session end. */
		struct sigaction sa = { .sa_handler = on_stop };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	if (fuse_session_mount(se, fo.mountpoint)) {
		zc_err("mount: cannot mount on %s", fo.mountpoint);
		goto out_signals;
	}
	zc_info("mount: %s mounted, mds %s, zerocopy=%d", fo.mountpoint, mo.mds, zc_cl.zerocopy);
	fuse_daemonize(fo.foreground);
	zc_client_metrics_serve();
	/* After daemonizing: the session's connection has a thread. */
	zc_cl.mds_timeout_s = ZC_MIN(mo.mds_timeout, 15);
	if (zc_session_start()) {
		zc_err("mount: no session with the mds %s; unmounting", mo.mds);
		goto out_unmount;
	}
	zc_cl.mds_timeout_s = mo.mds_timeout;
	if (mo.dir && zc_cluster_add_mount(mo.dir, getpid(), fo.mountpoint))
		zc_warn("mount: cannot record this mount in %s: `zcfs down` will not stop it",
			mo.dir);
	if (zc_thread_start(stats_thread, fo.mountpoint) || zc_thread_start(session_thread, NULL))
		zc_err("mount: no stats or session thread");
	lc = fuse_loop_cfg_create();
	/* Lock waiters and calls waiting for a restarting mds each hold a
	 * worker; an interrupt (Ctrl-C) needs one more to be read. */
	fuse_loop_cfg_set_max_threads(lc, 64);
	fuse_loop_cfg_set_idle_threads(lc, 8);
	ret = fo.singlethread ? fuse_session_loop(se) : fuse_session_loop_mt(se, lc);
	fuse_loop_cfg_destroy(lc);
	zc_metrics_stop();
	/* Leaving: what was written and the session's end, but do not wait
	 * long for an mds that is away.  (The workers are gone.) */
	zc_cl.stopping = false;
	zc_cl.mds_timeout_s = ZC_MIN(mo.mds_timeout, 5);
	zc_inode_flush_all();
	zc_session_end();
	zc_cl.stopping = true;
	if (mo.dir)
		zc_cluster_del_mount(mo.dir, getpid());
out_unmount:
	fuse_session_unmount(se);
	zc_info("mount: %s unmounted", fo.mountpoint);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	zc_cl.se = NULL;
	fuse_session_destroy(se);
out_args:
	free(fo.mountpoint);
	fuse_opt_free_args(&args);
	free(mo.mds);
	free(mo.dir);
	free(mo.credential);
	free(mo.log);
	free(mo.log_level);
	free(mo.metrics);
	return ret ? 1 : 0;
}
