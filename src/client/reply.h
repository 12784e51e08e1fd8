/* SPDX-License-Identifier: MIT */
/*
 * The reply builder: a FUSE read reply as an ordered list of segments, the
 * user-space twin of the krpc patch's FUSE_OUT_KRPCZC chunk list.  Each
 * segment is a pipe already holding bytes that came from the network (ZC),
 * user memory (MEM) or a hole (ZERO).  The list must cover the reply
 * exactly, and each pipe must hold exactly its segment's bytes, or nothing
 * is sent.
 */
#ifndef ZC_REPLY_H
#define ZC_REPLY_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stddef.h>
#include <stdint.h>

#define ZC_REPLY_MAX_SEGS 8

enum zc_seg_kind { ZC_SEG_ZC = 1, ZC_SEG_MEM, ZC_SEG_ZERO };

struct zc_reply_seg {
	enum zc_seg_kind kind;
	size_t len;
	int fd;			/* ZC: the pipe's read end */
	const void *mem;	/* MEM */
};

struct zc_reply {
	size_t size;		/* the reply's length */
	int n;
	struct zc_reply_seg seg[ZC_REPLY_MAX_SEGS];
	/* the fuse_bufvec handed to libfuse, built by zc_reply_build();
	 * its buf[1] runs on into more[] */
	struct fuse_bufvec bv;
	struct fuse_buf more[ZC_REPLY_MAX_SEGS - 1];
};

/* Appends a segment; adjacent ZERO segments merge.  Returns 0 or -E2BIG. */
int zc_reply_add(struct zc_reply *r, enum zc_seg_kind kind, size_t len, int fd,
		 const void *mem);
/*
 * Checks the segments and fills r->bv.  Returns 0, or -EINVAL when they do
 * not cover exactly r->size, a segment is empty or unknown, or a pipe does
 * not hold exactly its segment's bytes.
 */
int zc_reply_build(struct zc_reply *r);
/* Bytes of each kind, for counters. */
size_t zc_reply_bytes(const struct zc_reply *r, enum zc_seg_kind kind);

#endif
