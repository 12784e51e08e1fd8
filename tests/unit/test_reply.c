// SPDX-License-Identifier: MIT
/*
 * The reply builder: every mix of ZC (pipe), MEM and ZERO segments gives
 * exactly the right bytes through libfuse's own buffer copy, and wrong
 * coverage (too short, too long, an empty segment, a pipe holding fewer or
 * more bytes than its segment) is refused before anything is sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "check.h"
#include "client/reply.h"

static uint8_t src[3][65536];

static int filled_pipe(const void *p, size_t n, int fd[2])
{
	if (pipe(fd))
		return -1;
	fcntl(fd[1], F_SETPIPE_SZ, 1 << 20);
	return write(fd[1], p, n) == (ssize_t)n ? 0 : -1;
}

/* Builds the reply described by kinds ("Z" zc, "M" mem, "0" zero, each of
 * the given length) and checks the bytes libfuse would send. */
static void mix(const char *kinds, const size_t *lens)
{
	struct zc_reply r = { 0 };
	static uint8_t want[1 << 20], got[1 << 20];
	int fds[8][2], nf = 0;
	size_t at = 0;

	for (int i = 0; kinds[i]; i++) {
		const uint8_t *data = src[i % 3];

		if (kinds[i] == 'Z') {
			CHECK_EQ(filled_pipe(data, lens[i], fds[nf]), 0);
			CHECK_EQ(zc_reply_add(&r, ZC_SEG_ZC, lens[i], fds[nf][0], NULL), 0);
			nf++;
			memcpy(want + at, data, lens[i]);
		} else if (kinds[i] == 'M') {
			CHECK_EQ(zc_reply_add(&r, ZC_SEG_MEM, lens[i], -1, data), 0);
			memcpy(want + at, data, lens[i]);
		} else {
			CHECK_EQ(zc_reply_add(&r, ZC_SEG_ZERO, lens[i], -1, NULL), 0);
			memset(want + at, 0, lens[i]);
		}
		at += lens[i];
	}
	r.size = at;
	CHECK_EQ(zc_reply_build(&r), 0);
	struct fuse_bufvec dst = FUSE_BUFVEC_INIT(at);

	dst.buf[0].mem = got;
	memset(got, 0xee, at);
	CHECK_EQ(fuse_buf_copy(&dst, &r.bv, 0), at);
	if (memcmp(got, want, at))
		fprintf(stderr, "mix %s: wrong bytes\n", kinds);
	CHECK_MEM(got, want, at);
	for (int i = 0; i < nf; i++) {
		close(fds[i][0]);
		close(fds[i][1]);
	}
}

int main(void)
{
	struct zc_reply r;
	int fd[2];

	for (int k = 0; k < 3; k++)
		for (size_t i = 0; i < sizeof(src[k]); i++)
			src[k][i] = (uint8_t)(i * 7 + k * 101 + 1);

	mix("Z", (size_t[]){ 65536 });
	mix("M", (size_t[]){ 4096 });
	mix("0", (size_t[]){ 1 << 20 });
	mix("Z0", (size_t[]){ 1000, 64536 });			/* a chunk's tail */
	mix("ZZ", (size_t[]){ 40000, 25536 });			/* across a chunk boundary */
	mix("Z0Z", (size_t[]){ 4096, 8192, 12288 });
	mix("MZ0", (size_t[]){ 100, 65536, 3 });
	mix("0Z", (size_t[]){ 5000, 60000 });			/* hole then data */
	mix("0M0", (size_t[]){ 1, 1, 1 });

	/* Adjacent holes merge into one segment. */
	memset(&r, 0, sizeof(r));
	zc_reply_add(&r, ZC_SEG_ZERO, 10, -1, NULL);
	zc_reply_add(&r, ZC_SEG_ZERO, 20, -1, NULL);
	CHECK_EQ(r.n, 1);
	CHECK_EQ(r.seg[0].len, 30);

	/* Coverage too short, too long; nothing at all; an empty segment. */
	memset(&r, 0, sizeof(r));
	zc_reply_add(&r, ZC_SEG_MEM, 100, -1, src[0]);
	r.size = 101;
	CHECK_EQ(zc_reply_build(&r), -EINVAL);
	r.size = 99;
	CHECK_EQ(zc_reply_build(&r), -EINVAL);
	r.size = 100;
	CHECK_EQ(zc_reply_build(&r), 0);
	memset(&r, 0, sizeof(r));
	CHECK_EQ(zc_reply_build(&r), -EINVAL);
	zc_reply_add(&r, ZC_SEG_MEM, 0, -1, src[0]);
	CHECK_EQ(zc_reply_build(&r), -EINVAL);
	memset(&r, 0, sizeof(r));
	zc_reply_add(&r, ZC_SEG_MEM, 10, -1, NULL);
	r.size = 10;
	CHECK_EQ(zc_reply_build(&r), -EINVAL);

	/* A pipe holding fewer bytes than its segment (a short receive)... */
	CHECK_EQ(filled_pipe(src[0], 1000, fd), 0);
	memset(&r, 0, sizeof(r));
	zc_reply_add(&r, ZC_SEG_ZC, 2000, fd[0], NULL);
	r.size = 2000;
	CHECK_EQ(zc_reply_build(&r), -EINVAL);
	/* ...or more (stale bytes left from an earlier use). */
	memset(&r, 0, sizeof(r));
	zc_reply_add(&r, ZC_SEG_ZC, 500, fd[0], NULL);
	zc_reply_add(&r, ZC_SEG_ZERO, 1500, -1, NULL);
	r.size = 2000;
	CHECK_EQ(zc_reply_build(&r), -EINVAL);
	close(fd[0]);
	close(fd[1]);
	/* A bad descriptor, an unknown kind, too many segments. */
	memset(&r, 0, sizeof(r));
	zc_reply_add(&r, ZC_SEG_ZC, 10, -1, NULL);
	r.size = 10;
	CHECK_EQ(zc_reply_build(&r), -EINVAL);
	memset(&r, 0, sizeof(r));
	zc_reply_add(&r, (enum zc_seg_kind)42, 10, -1, src[0]);
	r.size = 10;
	CHECK_EQ(zc_reply_build(&r), -EINVAL);
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < ZC_REPLY_MAX_SEGS; i++)
		CHECK_EQ(zc_reply_add(&r, i % 2 ? ZC_SEG_ZERO : ZC_SEG_MEM, 1, -1, src[0]), 0);
	CHECK_EQ(zc_reply_add(&r, ZC_SEG_MEM, 1, -1, src[0]), -E2BIG);
	return check_done();
}
