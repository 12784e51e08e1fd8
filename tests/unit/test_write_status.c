// SPDX-License-Identifier: MIT
/*
 * The statuses a chunk server answers to a WRITE, one per replica of the
 * chain: a server that answers none, too many (n + 1, 255) or fewer bytes
 * than it counts never makes the client write past its list of failed
 * replicas (ZC_MAX_REPLICAS long, issue 10), and is itself counted failed.
 */
#include "check.h"
#include "client/client_i.h"

/* The list the client keeps, with a guard after it. */
static struct {
	uint32_t failed[ZC_MAX_REPLICAS];
	uint32_t guard[4];
} out;

static struct zc_loc loc(int nrep)
{
	struct zc_loc l = { .id = 0x42, .version = 1, .nrep = nrep };

	for (int i = 0; i < nrep; i++)
		l.rep[i] = (struct zc_replica){ .cs_id = 10 + i, .ip = htonl(0x7f000001),
						.port = 9000 + i };
	return l;
}

/* Parses "count" then len - 1 status bytes, every one st; returns the
 * number failed and checks the list. */
static int parse(const struct zc_loc *l, uint8_t count, size_t len, uint8_t st, int *stale)
{
	uint8_t *resp = malloc(len ? len : 1);	/* exactly len: ASan sees a read past */
	int n;

	if (len)
		resp[0] = count;
	if (len > 1)
		memset(resp + 1, st, len - 1);
	memset(&out, 0, sizeof(out));
	memset(out.guard, 0xa5, sizeof(out.guard));
	n = zc_write_statuses(resp, len, l, true, out.failed, stale);
	free(resp);
	CHECK_GE(n, 0);
	CHECK(n <= l->nrep);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(out.guard[i], 0xa5a5a5a5);
	/* Each failed replica is one of the chain, and only once. */
	for (int i = 0; i < n && i < ZC_MAX_REPLICAS; i++) {
		CHECK_GE(out.failed[i], 10);
		CHECK(out.failed[i] < 10U + l->nrep);
		for (int j = 0; j < i; j++)
			CHECK_NE(out.failed[i], out.failed[j]);
	}
	return n;
}

static void replicas(int nrep)
{
	struct zc_loc l = loc(nrep);
	int stale;

	/* n statuses: as a good server answers. */
	CHECK_EQ(parse(&l, nrep, 1 + nrep, ZC_OK, &stale), 0);
	CHECK_EQ(stale, 0);
	CHECK_EQ(parse(&l, nrep, 1 + nrep, ZC_ST_IO, &stale), nrep);
	CHECK_EQ(parse(&l, nrep, 1 + nrep, ZC_ST_AGAIN, &stale), 0);
	CHECK_EQ(stale, nrep);

	/* 0 statuses, or none at all: the first replica failed. */
	CHECK_EQ(parse(&l, 0, 1, ZC_OK, &stale), 1);
	CHECK_EQ(out.failed[0], 10);
	CHECK_EQ(parse(&l, 0, 0, ZC_OK, &stale), 1);
	CHECK_EQ(out.failed[0], 10);

	/* n + 1 and 255 statuses: never more than nrep entries. */
	CHECK_EQ(parse(&l, nrep + 1, 2 + nrep, ZC_OK, &stale), 1);
	CHECK_EQ(out.failed[0], 10);
	CHECK_EQ(parse(&l, nrep + 1, 2 + nrep, ZC_ST_IO, &stale), nrep);
	CHECK_EQ(parse(&l, 255, 256, ZC_OK, &stale), 1);
	CHECK_EQ(parse(&l, 255, 256, ZC_ST_IO, &stale), nrep);
	CHECK_EQ(parse(&l, 255, 256, ZC_ST_STALE, &stale), 1);
	CHECK_EQ(stale, nrep);

	/* Counts more than it carries: cut short. */
	CHECK_EQ(parse(&l, nrep, nrep, ZC_OK, &stale), 1);
	CHECK_EQ(parse(&l, 255, 1 + nrep, ZC_ST_IO, &stale), nrep);
	CHECK_EQ(parse(&l, 255, 3, ZC_ST_IO, &stale), nrep == 1 ? 1 : 2);
}

int main(void)
{
	replicas(1);
	replicas(3);
	replicas(ZC_MAX_REPLICAS);
	return check_done();
}
