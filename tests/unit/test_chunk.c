// SPDX-License-Identifier: MIT
/*
 * Chunk files: write/read with checksums across block boundaries, holes,
 * truncate both ways, version checks, reload from disk, and a flipped byte
 * on disk detected instead of served.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/log.h"
#include "common/util.h"
#include "cs/cs.h"

static uint8_t *data;

static int read_back(struct cs_chunk *c, uint32_t off, uint32_t len, uint8_t *out,
		     uint32_t *got)
{
	int err = cs_chunk_read_begin(c, 1, off, &len);

	if (err)
		return err;
	*got = len;
	memcpy(out, c->map + off, len);
	cs_chunk_read_end(c);
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/zcfs-chunk-XXXXXX", cmd[128], path[256];
	static uint8_t out[1 << 20];
	struct cs_chunk *c;
	uint32_t got;
	int err, fd;

	zc_log_init("test", ZC_LOG_ERR, NULL);
	CHECK_NE(mkdtemp(dir), NULL);
	CHECK_EQ(cs_chunk_init(dir), 0);
	data = malloc(3 << 20);
	for (int i = 0; i < 3 << 20; i++)
		data[i] = (uint8_t)(i * 2654435761U >> 13);

	CHECK_EQ(cs_chunk_get(42, 1, false, &err), NULL);
	CHECK_EQ(err, -ENOENT);
	c = cs_chunk_get(42, 1, true, &err);
	CHECK_NE(c, NULL);
	if (!c)
		return 1;
	/* An unaligned write spanning several 64 KiB blocks. */
	CHECK_EQ(cs_chunk_write(c, 1, 1000, data, 200000), 0);
	CHECK_EQ(c->len, 201000);
	CHECK_EQ(read_back(c, 1000, 200000, out, &got), 0);
	CHECK_EQ(got, 200000);
	CHECK_MEM(out, data, 200000);
	/* Bytes before the first write read as zeros. */
	CHECK_EQ(read_back(c, 0, 1000, out, &got), 0);
	CHECK_EQ(got, 1000);
	CHECK_EQ(out[0], 0);
	CHECK_EQ(out[999], 0);
	/* A read past the end is short; far past it is empty. */
	CHECK_EQ(read_back(c, 200000, 65536, out, &got), 0);
	CHECK_EQ(got, 1000);
	CHECK_EQ(read_back(c, 5 << 20, 4096, out, &got), 0);
	CHECK_EQ(got, 0);
	/* A write leaving a hole of zeros behind the old end. */
	CHECK_EQ(cs_chunk_write(c, 1, 1 << 20, data, 4096), 0);
	CHECK_EQ(read_back(c, 300000, 4096, out, &got), 0);
	CHECK_EQ(got, 4096);
	CHECK_EQ(out[0], 0);
	CHECK_EQ(out[4095], 0);
	CHECK_EQ(read_back(c, 1 << 20, 4096, out, &got), 0);
	CHECK_MEM(out, data, 4096);
	/* Overwrite in the middle of a block. */
	CHECK_EQ(cs_chunk_write(c, 1, 70000, data + 500, 10), 0);
	CHECK_EQ(read_back(c, 69990, 30, out, &got), 0);
	CHECK_MEM(out + 10, data + 500, 10);
	CHECK_MEM(out, data + 69990 - 1000, 10);
	/* Bounds and versions. */
	CHECK_EQ(cs_chunk_write(c, 1, ZC_CHUNK_SIZE - 10, data, 11), -EINVAL);
	CHECK_EQ(cs_chunk_write(c, 2, 0, data, 11), -ESTALE);
	got = 10;
	CHECK_EQ(cs_chunk_read_begin(c, 2, 0, &got), -ESTALE);
	got = 10;
	CHECK_EQ(cs_chunk_read_begin(c, 1, ZC_CHUNK_SIZE - 5, &got), -EINVAL);
	/* Truncate down into a block, then grow: the tail reads as zeros. */
	CHECK_EQ(cs_chunk_truncate(c, 1, 100001), 0);
	CHECK_EQ(cs_chunk_truncate(c, 1, 300000), 0);
	CHECK_EQ(read_back(c, 100000, 4, out, &got), 0);
	CHECK_EQ(got, 4);
	CHECK_EQ(out[0], data[99000]);
	CHECK_EQ(out[1], 0);
	CHECK_EQ(out[3], 0);
	/* Growing only: never shorter, longer when asked. */
	CHECK_EQ(cs_chunk_grow(c, 1, 1000), 0);
	CHECK_EQ(read_back(c, 100000, 1, out, &got), 0);
	CHECK_EQ(got, 1);
	CHECK_EQ(out[0], data[99000]);
	CHECK_EQ(cs_chunk_grow(c, 1, 400000), 0);
	CHECK_EQ(read_back(c, 399990, 10, out, &got), 0);
	CHECK_EQ(got, 10);
	CHECK_EQ(out[9], 0);
	CHECK_EQ(cs_chunk_grow(c, 2, 500000), -ESTALE);
	CHECK_EQ(cs_chunk_sync(c), 0);
	cs_chunk_put(c);

	/* Delete and reload from disk: checksums come back from the file. */
	c = cs_chunk_get(43, 7, true, &err);
	CHECK_NE(c, NULL);
	CHECK_EQ(cs_chunk_write(c, 7, 0, data, 3 << 20 > 1 << 20 ? 1 << 20 : 0), 0);
	cs_chunk_put(c);
	CHECK_EQ(cs_chunk_delete(43), 0);
	CHECK_EQ(cs_chunk_get(43, 7, false, &err), NULL);

	/* Flip one byte in the data on disk, behind the server's back. */
	snprintf(path, sizeof(path), "%s/chunks/2a/%016" PRIx64 ".chk", dir, (uint64_t)42);
	fd = open(path, O_RDWR);
	CHECK_GE(fd, 0);
	uint8_t b;

	CHECK_EQ(pread(fd, &b, 1, ZC_CHUNK_HDR + 5000), 1);
	b ^= 0x40;
	CHECK_EQ(pwrite(fd, &b, 1, ZC_CHUNK_HDR + 5000), 1);
	close(fd);
	c = cs_chunk_get(42, 1, false, &err);
	CHECK_NE(c, NULL);
	got = 100;
	CHECK_EQ(cs_chunk_read_begin(c, 1, 4000, &got), -EBADMSG);
	/* Other blocks are still served. */
	CHECK_EQ(read_back(c, 70000, 10, out, &got), 0);
	CHECK_MEM(out, data + 500, 10);
	cs_chunk_put(c);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ(system(cmd), 0);
	free(data);
	return check_done();
}
