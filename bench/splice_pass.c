// SPDX-License-Identifier: MIT
/*
 * The FUSE ceiling for the benchmarks: a minimal low-level FUSE file system
 * with one file, "data", whose reads are answered by splicing straight from
 * a local file (fuse_reply_data with an fd buffer).  No network, no copy in
 * user space: what FUSE itself allows on this machine.
 *
 * usage: splice_pass BACKING_FILE MOUNTPOINT [-f]
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int backing = -1;
static struct stat bst;

static void fill(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == 1) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = bst.st_size;
	}
}

static void sp_init(void *d, struct fuse_conn_info *c)
{
	(void)d;
	c->max_write = 1 << 20;
	c->max_readahead = 1 << 20;
	c->max_background = 64;
	c->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_ASYNC_DIO;
}

static void sp_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e = { .ino = 2, .attr_timeout = 60, .entry_timeout = 60 };

	if (parent != 1 || strcmp(name, "data")) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill(2, &e.attr);
	fuse_reply_entry(req, &e);
}

static void sp_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	fill(ino, &st);
	fuse_reply_attr(req, &st, 60);
}

static void sp_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != 2) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->keep_cache = 0;
	fuse_reply_open(req, fi);
}

static void sp_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	(void)ino;
	(void)fi;
	if (off >= bst.st_size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if ((off_t)size > bst.st_size - off)
		buf.buf[0].size = bst.st_size - off;
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = backing;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static const struct fuse_lowlevel_ops ops = {
	.init = sp_init,
	.lookup = sp_lookup,
	.getattr = sp_getattr,
	.open = sp_open,
	.read = sp_read,
};

int main(int argc, char **argv)
{
	char *fargv[] = { argv[0], "-o", "fsname=splice_pass", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
	struct fuse_session *se;
	struct fuse_loop_config *lc;
	int ret;

	if (argc < 3) {
		fprintf(stderr, "usage: %s BACKING_FILE MOUNTPOINT [-f]\n", argv[0]);
		return 2;
	}
	backing = open(argv[1], O_RDONLY);
	if (backing < 0 || fstat(backing, &bst)) {
		perror(argv[1]);
		return 1;
	}
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se || fuse_set_signal_handlers(se) || fuse_session_mount(se, argv[2]))
		return 1;
	fuse_daemonize(argc > 3 && !strcmp(argv[3], "-f"));
	lc = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(lc, 16);
	ret = fuse_session_loop_mt(se, lc);
	fuse_loop_cfg_destroy(lc);
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	return ret ? 1 : 0;
}
