// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#include "reply.h"
#include "zcfs/proto.h"

_Static_assert(offsetof(struct zc_reply, more) ==
	       offsetof(struct zc_reply, bv) + sizeof(struct fuse_bufvec),
	       "zc_reply.more must continue bv.buf");

/* Holes are sent from here: never written. */
static const char zeros[ZC_MAX_IO];

int zc_reply_add(struct zc_reply *r, enum zc_seg_kind kind, size_t len, int fd,
		 const void *mem)
{
	if (kind == ZC_SEG_ZERO && r->n && r->seg[r->n - 1].kind == ZC_SEG_ZERO) {
		r->seg[r->n - 1].len += len;
		return 0;
	}
	if (r->n == ZC_REPLY_MAX_SEGS)
		return -E2BIG;
	r->seg[r->n++] = (struct zc_reply_seg){ .kind = kind, .len = len, .fd = fd, .mem = mem };
	return 0;
}

size_t zc_reply_bytes(const struct zc_reply *r, enum zc_seg_kind kind)
{
	size_t n = 0;

	for (int i = 0; i < r->n; i++)
		if (r->seg[i].kind == kind)
			n += r->seg[i].len;
	return n;
}

int zc_reply_build(struct zc_reply *r)
{
	/* r->more[] continues r->bv.buf[1] in memory: index through a pointer. */
	struct fuse_buf *bufs = r->bv.buf;
	size_t total = 0;

	if (r->n < 1 || r->n > ZC_REPLY_MAX_SEGS || r->size > ZC_MAX_IO)
		return -EINVAL;
	for (int i = 0; i < r->n; i++) {
		const struct zc_reply_seg *s = &r->seg[i];
		struct fuse_buf *b = bufs + i;
		int held;

		if (!s->len || s->len > r->size - total)
			return -EINVAL;
		total += s->len;
		memset(b, 0, sizeof(*b));
		b->size = s->len;
		switch (s->kind) {
		case ZC_SEG_ZC:
			/* Exactly the bytes that arrived: no fewer (a short
			 * receive), no more (stale bytes of an earlier use). */
			if (s->fd < 0 || ioctl(s->fd, FIONREAD, &held) || (size_t)held != s->len)
				return -EINVAL;
			b->flags = FUSE_BUF_IS_FD;
			b->fd = s->fd;
			break;
		case ZC_SEG_MEM:
			if (!s->mem)
				return -EINVAL;
			b->mem = (void *)s->mem;
			break;
		case ZC_SEG_ZERO:
			b->mem = (void *)zeros;
			break;
		default:
			return -EINVAL;
		}
	}
	if (total != r->size)
		return -EINVAL;
	r->bv.count = r->n;
	r->bv.idx = 0;
	r->bv.off = 0;
	return 0;
}
