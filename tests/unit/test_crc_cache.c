// SPDX-License-Identifier: MIT
/*
 * The chunk server's record of blocks verified since their last write:
 * a second read skips their CRC; a write brings its blocks back to being
 * checked, and so do a truncate, a version change, a stay out of the table
 * and a minute's wait; a file changed by another process is checked
 * again; rot that nothing shows is served from the record until the
 * scrubber, which never trusts it, finds it; a damaged block never read is
 * caught by the read.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "common/log.h"
#include "common/util.h"
#include "cs/cs.h"

#define BS ZC_BLOCK_SIZE
#define LEN (4 * BS + 1000)	/* five blocks, the last one short */

static char dir[] = "/tmp/zcfs-crcc-XXXXXX";
static unsigned long v0, s0;

/* Blocks checked and skipped by reads since the last call. */
static void counted(unsigned long *checked, unsigned long *skipped)
{
	*checked = cs_blocks_verified - v0;
	*skipped = cs_blocks_skipped - s0;
	v0 = cs_blocks_verified;
	s0 = cs_blocks_skipped;
}

static int rd(struct cs_chunk *c, uint32_t version, uint32_t off, uint32_t len)
{
	int err = cs_chunk_read_begin(c, version, off, &len);

	if (!err)
		cs_chunk_read_end(c);
	return err;
}

static char *path_of(uint64_t id)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/chunks/%02x/%016" PRIx64 ".chk", dir,
		 (unsigned)(id & 0xff), id);
	return path;
}

/* Another process writes one byte of the data. */
static void flip(uint64_t id, uint32_t off)
{
	int fd = open(path_of(id), O_RDWR);
	uint8_t b = 0;

	CHECK_GE(fd, 0);
	CHECK_EQ(pread(fd, &b, 1, ZC_CHUNK_HDR + off), 1);
	b ^= 0x10;
	CHECK_EQ(pwrite(fd, &b, 1, ZC_CHUNK_HDR + off), 1);
	close(fd);
}

/* Bit rot: the file's ctime does not move.  Played by making the record
 * hold for the ctime the flip left. */
static void rot(struct cs_chunk *c, uint32_t off)
{
	struct stat st;

	flip(c->id, off);
	CHECK_EQ(stat(path_of(c->id), &st), 0);
	pthread_mutex_lock(&c->vlock);
	c->vstamp = (uint64_t)st.st_ctim.tv_sec * 1000000000 + (uint64_t)st.st_ctim.tv_nsec;
	pthread_mutex_unlock(&c->vlock);
}

int main(void)
{
	static uint8_t data[LEN];
	struct cs_chunk *c;
	unsigned long checked, skipped;
	char cmd[128];
	int err;

	zc_log_init("test", ZC_LOG_ERR, NULL);
	CHECK_NE(mkdtemp(dir), NULL);
	CHECK_EQ(cs_chunk_init(dir), 0);
	for (uint32_t i = 0; i < LEN; i++)
		data[i] = (uint8_t)(i * 2654435761U >> 11);

	c = cs_chunk_get(1, 1, true, &err);
	CHECK_NE(c, NULL);
	if (!c)
		return 1;
	CHECK_EQ(cs_chunk_write(c, 1, 0, data, LEN), 0);
	counted(&checked, &skipped);

	/* Read twice: the second read checks nothing. */
	CHECK_EQ(rd(c, 1, 0, LEN), 0);
	counted(&checked, &skipped);
	CHECK_EQ(checked, 5);
	CHECK_EQ(skipped, 0);
	CHECK_EQ(rd(c, 1, 0, LEN), 0);
	counted(&checked, &skipped);
	CHECK_EQ(checked, 0);
	CHECK_EQ(skipped, 5);
	/* A 4 KiB read inside a verified block. */
	CHECK_EQ(rd(c, 1, 3 * BS + 4096, 4096), 0);
	counted(&checked, &skipped);
	CHECK_EQ(checked, 0);
	CHECK_EQ(skipped, 1);

	/* A minute on, the record is emptied: pages may have been read again
	 * from the disk meanwhile. */
	pthread_mutex_lock(&c->vlock);
	c->vsince -= 61 * 1000000000ULL;
	pthread_mutex_unlock(&c->vlock);
	CHECK_EQ(rd(c, 1, 0, LEN), 0);
	CHECK_EQ(rd(c, 1, 0, LEN), 0);
	counted(&checked, &skipped);
	CHECK_EQ(checked, 5);
	CHECK_EQ(skipped, 5);

	/* A write into block 2: that block is checked again, only it. */
	CHECK_EQ(cs_chunk_write(c, 1, 2 * BS + 100, data, 50), 0);
	CHECK_EQ(rd(c, 1, 0, LEN), 0);
	counted(&checked, &skipped);
	CHECK_EQ(checked, 1);
	CHECK_EQ(skipped, 4);
	/* A write past the end, in the last block: that block. */
	CHECK_EQ(cs_chunk_write(c, 1, LEN + 100, data, 10), 0);
	CHECK_EQ(rd(c, 1, 0, LEN + 110), 0);
	counted(&checked, &skipped);
	CHECK_EQ(checked, 1);
	CHECK_EQ(skipped, 4);

	/* Another process writes a verified block (the ctime moves): the next
	 * read checks the chunk again and fails.  A coarse ctime clock ticks at
	 * most every 10 ms: let it. */
	usleep(20000);
	flip(1, BS + 7);
	CHECK_EQ(rd(c, 1, BS, 100), -EBADMSG);
	CHECK_EQ(rd(c, 1, 0, 100), 0);	/* block 0 is good; checked again */
	counted(&checked, &skipped);
	CHECK_EQ(checked, 2);
	CHECK_EQ(skipped, 0);
	flip(1, BS + 7);	/* repaired, behind our back again */
	CHECK_EQ(rd(c, 1, 0, LEN), 0);
	CHECK_EQ(cs_chunk_scrub(c), 0);
	counted(&checked, &skipped);

	/* Rot that moves no ctime, in a verified block: reads trust the record
	 * (the trade-off), the scrubber does not, and finds it; from then on
	 * the reads see it too. */
	rot(c, 3 * BS + 1);
	CHECK_EQ(rd(c, 1, 3 * BS, 100), 0);
	counted(&checked, &skipped);
	CHECK_EQ(checked, 0);
	CHECK_EQ(skipped, 1);
	CHECK_EQ(cs_chunk_scrub(c), -EBADMSG);
	CHECK_EQ(rd(c, 1, 3 * BS, 100), -EBADMSG);
	CHECK_EQ(cs_chunk_scrub(c), -EBADMSG);
	/* The scrubber's own checks count for reads once it passed. */
	CHECK_EQ(cs_chunk_write(c, 1, 3 * BS, data + 3 * BS, 100), 0);
	CHECK_EQ(cs_chunk_scrub(c), 0);
	counted(&checked, &skipped);
	CHECK_EQ(rd(c, 1, 0, LEN), 0);
	counted(&checked, &skipped);
	CHECK_EQ(checked, 0);
	CHECK_EQ(skipped, 5);

	/* Damage in a block never read since its last write: the read finds
	 * it, whatever the ctime says. */
	CHECK_EQ(cs_chunk_write(c, 1, 4 * BS, data, 10), 0);
	rot(c, 4 * BS + 500);
	CHECK_EQ(rd(c, 1, 4 * BS + 400, 200), -EBADMSG);
	counted(&checked, &skipped);
	CHECK_EQ(checked, 1);
	CHECK_EQ(cs_chunk_write(c, 1, 4 * BS, data, 1000), 0);	/* good again */

	/* A version change or a truncate: everything is checked again. */
	CHECK_EQ(rd(c, 1, 0, LEN), 0);
	CHECK_EQ(rd(c, 1, 0, LEN), 0);
	counted(&checked, &skipped);
	CHECK_EQ(cs_chunk_set_version(c, 2), 0);
	CHECK_EQ(rd(c, 2, 0, LEN), 0);
	counted(&checked, &skipped);
	CHECK_EQ(checked, 5);
	CHECK_EQ(skipped, 0);
	CHECK_EQ(cs_chunk_set_version(c, 2), 0);	/* no change: the record stays */
	CHECK_EQ(cs_chunk_truncate(c, 2, LEN), 0);
	CHECK_EQ(rd(c, 2, 0, LEN), 0);
	counted(&checked, &skipped);
	CHECK_EQ(checked, 5);
	CHECK_EQ(skipped, 0);
	cs_chunk_put(c);

	/* Out of the table and back: checked again, the record went with it. */
	cs_chunk_max = 2;
	for (uint64_t id = 2; id <= 4; id++) {
		struct cs_chunk *o = cs_chunk_get(id, 1, true, &err);

		CHECK_NE(o, NULL);
		if (o) {
			CHECK_EQ(cs_chunk_write(o, 1, 0, data, 10), 0);
			cs_chunk_put(o);
		}
	}
	c = cs_chunk_get(1, 2, false, &err);
	CHECK_NE(c, NULL);
	if (!c)
		return 1;
	counted(&checked, &skipped);
	CHECK_EQ(rd(c, 2, 0, LEN), 0);
	counted(&checked, &skipped);
	CHECK_EQ(checked, 5);
	CHECK_EQ(skipped, 0);
	CHECK_EQ(rd(c, 2, 0, LEN), 0);
	counted(&checked, &skipped);
	CHECK_EQ(checked, 0);
	CHECK_EQ(skipped, 5);
	cs_chunk_put(c);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ(system(cmd), 0);
	return check_done();
}
