// SPDX-License-Identifier: MIT
/*
 * The chunk server's table of open chunks: it stays within cs_chunk_max
 * files however many chunks are used, an evicted chunk comes back from
 * disk with its bytes, and a deletion waiting for a slow reader of one
 * chunk holds up that chunk only (the re-replication hang: the table lock
 * was held across that wait, so every other chunk stopped too).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/log.h"
#include "common/util.h"
#include "cs/cs.h"

static void *deleter(void *arg)
{
	cs_chunk_delete(*(uint64_t *)arg);
	return NULL;
}

int main(void)
{
	char dir[] = "/tmp/zcfs-table-XXXXXX", cmd[128];
	uint8_t buf[100], out[100];
	struct cs_chunk *c, *x;
	uint64_t victim = 7;
	uint32_t len;
	pthread_t t;
	int err;

	zc_log_init("test", ZC_LOG_ERR, NULL);
	CHECK_NE(mkdtemp(dir), NULL);
	CHECK_EQ(cs_chunk_init(dir), 0);
	cs_chunk_max = 8;

	/* 200 chunks of a few bytes each: never more than 8 open at rest. */
	for (uint64_t id = 1; id <= 200; id++) {
		memset(buf, (int)id, sizeof(buf));
		c = cs_chunk_get(id, 1, true, &err);
		CHECK_NE(c, NULL);
		if (!c)
			continue;
		CHECK_EQ(cs_chunk_write(c, 1, 0, buf, sizeof(buf)), 0);
		CHECK(c->map_len < ZC_CHUNK_SIZE);	/* a small chunk, a small mapping */
		cs_chunk_put(c);
		CHECK_LE(cs_chunk_cached(), 8);
	}
	CHECK_EQ(cs_chunk_count(), 200);
	/* The first ones were closed; they come back from disk. */
	c = cs_chunk_get(3, 0, false, &err);
	CHECK_NE(c, NULL);
	len = sizeof(out);
	CHECK_EQ(cs_chunk_read_begin(c, 1, 0, &len), 0);
	CHECK_EQ(len, sizeof(out));
	memcpy(out, c->map, len);
	cs_chunk_read_end(c);
	memset(buf, 3, sizeof(buf));
	CHECK_MEM(out, buf, sizeof(out));
	cs_chunk_put(c);

	/* A reader holds chunk 7 (as a slow sendfile does); its deletion
	 * waits, and meanwhile every other chunk is served. */
	x = cs_chunk_get(victim, 1, false, &err);
	CHECK_NE(x, NULL);
	len = 10;
	CHECK_EQ(cs_chunk_read_begin(x, 1, 0, &len), 0);
	CHECK_EQ(pthread_create(&t, NULL, deleter, &victim), 0);
	usleep(100000);
	for (uint64_t id = 100; id < 140; id++) {	/* loads, evictions, writes */
		c = cs_chunk_get(id, 1, false, &err);
		CHECK_NE(c, NULL);
		if (c) {
			CHECK_EQ(cs_chunk_write(c, 1, 0, buf, 10), 0);
			cs_chunk_put(c);
		}
	}
	c = cs_chunk_get(500, 1, true, &err);	/* a new one */
	CHECK_NE(c, NULL);
	if (c)
		cs_chunk_put(c);
	cs_chunk_read_end(x);
	cs_chunk_put(x);
	pthread_join(t, NULL);
	CHECK_EQ(cs_chunk_get(victim, 1, false, &err), NULL);
	CHECK_EQ(err, -ENOENT);
	CHECK_EQ(cs_chunk_count(), 200);	/* one gone, one made */
	CHECK_LE(cs_chunk_cached(), 8);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ(system(cmd), 0);
	return check_done();
}
