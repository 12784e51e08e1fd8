// SPDX-License-Identifier: MIT
/*
 * zc_hostile: plays a hostile peer against a running cluster (the
 * hostile_peer case).
 *
 *   zc_hostile noauth ADDR:PORT TYPE [U64...]
 *       sends one request of TYPE (payload: the numbers, 8 bytes each)
 *       without the handshake; prints "closed" if the peer hung up
 *       without answering (exit 0) or "answered STATUS" (exit 1).
 *   zc_hostile stall ADDR:PORT SECONDS
 *       connects and says nothing; exit 0 if the peer hangs up within
 *       SECONDS (prints after how long).
 *   zc_hostile caps MDS CRED INO
 *       a client with a real credential: takes the layout of INO's first
 *       chunk (a read capability), then tries what it must not: reads
 *       with no, a forged and another chunk's capability, a write and a
 *       truncate with the read capability, a DELETE order on a client
 *       connection.  Prints one line per try; exit 0 if every one was
 *       refused and the honest read worked.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/pack.h"
#include "common/util.h"
#include "common/wire.h"
#include "rpc/rpc.h"

static int connect_to(const char *addr)
{
	struct sockaddr_in sa;

	if (zc_parse_addr(addr, &sa))
		return -EINVAL;
	return zc_tcp_connect(&sa, 2000);
}

/* Waits for the peer to hang up (or answer) for up to ms.  Returns 0 when
 * it closed, 1 when it answered, -ETIMEDOUT. */
static int peer_closes(int fd, int ms, struct zc_hdr *h)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint8_t raw[ZC_HDR_LEN];
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return -ETIMEDOUT;
	n = recv(fd, raw, sizeof(raw), MSG_WAITALL);
	if (n <= 0)
		return 0;
	if (n == sizeof(raw) && !zc_hdr_decode(raw, h))
		return 1;
	return 0;
}

static int cmd_noauth(int argc, char **argv)
{
	uint8_t buf[ZC_HDR_LEN + 8 * 16];
	struct zc_hdr h = { .type = atoi(argv[3]), .xid = 1 };
	struct zc_cur c = zc_cur_init(buf + ZC_HDR_LEN, sizeof(buf) - ZC_HDR_LEN);
	int fd = connect_to(argv[2]), r;

	if (fd < 0)
		return 2;
	for (int i = 4; i < argc && i < 20; i++)
		zc_put_u64(&c, strtoull(argv[i], NULL, 0));
	h.len = c.pos;
	zc_hdr_encode(buf, &h);
	zc_write_full(fd, buf, ZC_HDR_LEN + c.pos);
	r = peer_closes(fd, 10000, &h);
	close(fd);
	if (r == 1) {
		printf("answered %d\n", h.status);
		return 1;
	}
	printf(r ? "no answer and still open\n" : "closed\n");
	return r ? 1 : 0;
}

static int cmd_stall(char **argv)
{
	int fd = connect_to(argv[2]), r;
	uint64_t t0 = zc_now_ns();
	struct zc_hdr h;

	if (fd < 0)
		return 2;
	r = peer_closes(fd, atoi(argv[3]) * 1000, &h);
	close(fd);
	printf("%s after %.1f s\n", r == 0 ? "closed" : "not closed",
	       (zc_now_ns() - t0) / 1e9);
	return r == 0 ? 0 : 1;
}

/* ---- caps ---- */

static struct zc_conn *mds;
static uint64_t session;

static int mds_call(uint16_t type, const void *args, size_t len, struct zc_call *call)
{
	uint8_t buf[512];
	struct zc_cur c = zc_cur_init(buf, sizeof(buf));

	zc_put_u64(&c, session);
	zc_put_u64(&c, 0);
	zc_put_u64(&c, 0);
	zc_put_u32(&c, 0);	/* as root, no groups */
	zc_put_u32(&c, 0);
	zc_put_u8(&c, 0);
	zc_put_bytes(&c, args, len);
	*call = (struct zc_call){ .type = type };
	call->req[0] = (struct iovec){ buf, c.pos };
	return zc_call_sync(mds, call);
}

static int cs_call(const struct zc_loc *l, uint16_t type, const void *args, size_t len,
		   const void *data, size_t dlen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(l->rep[0].port) };
	struct zc_call call = { .type = type, .timeout_ms = 5000 };
	struct zc_conn *c;
	int err;

	sa.sin_addr.s_addr = l->rep[0].ip;
	if (!(c = zc_conn_get(&sa, &err)))
		return err;
	call.req[0] = (struct iovec){ (void *)args, len };
	call.req[1] = (struct iovec){ (void *)data, dlen };
	err = zc_call_sync(c, &call);
	zc_call_free_resp(&call);
	zc_conn_put(c);
	return err;
}

static int read_with(const struct zc_loc *l, uint64_t id, const struct zc_cap *cap)
{
	uint8_t a[64];
	struct zc_cur c = zc_cur_init(a, sizeof(a));

	zc_put_u64(&c, id);
	zc_put_u32(&c, l->version);
	zc_put_u32(&c, 0);
	zc_put_u32(&c, 4096);
	zc_put_cap(&c, cap);
	return cs_call(l, ZC_CLTOCS_READ, a, c.pos, NULL, 0);
}

static int refused(const char *what, int err, int *bad)
{
	bool ok = err == -EKEYREJECTED || err == -ECONNRESET;

	printf("%-44s %s (%s)\n", what, ok ? "refused" : "ALLOWED", strerror(-err));
	*bad += !ok;
	return 0;
}

static int cmd_caps(char **argv)
{
	struct sockaddr_in sa;
	struct zc_call call;
	struct zc_cur c;
	struct zc_loc l;
	struct zc_cap cap;
	uint8_t a[96], name[64];
	int err, bad = 0;

	if (zc_auth_client(argv[3]) || zc_parse_addr(argv[2], &sa))
		return 2;
	if (!(mds = zc_conn_get(&sa, &err))) {
		fprintf(stderr, "mds: %s\n", strerror(-err));
		return 2;
	}
	c = zc_cur_init(name, sizeof(name));
	zc_put_str(&c, "zc_hostile", 10);
	if ((err = mds_call(ZC_CLTOMA_SESSION_NEW, name, c.pos, &call))) {
		fprintf(stderr, "session: %s\n", strerror(-err));
		return 2;
	}
	c = zc_cur_init(call.resp, call.resp_len);
	session = zc_get_u64(&c);
	zc_get_u64(&c);
	zc_get_u32(&c);
	{
		uint64_t texp = zc_get_u64(&c);
		uint8_t *t = zc_cur_take(&c, ZC_KEY_LEN);

		if (c.err || !t)
			return 2;
		zc_auth_set_ticket(session, texp, t);
	}
	zc_call_free_resp(&call);
	c = zc_cur_init(a, sizeof(a));
	zc_put_u64(&c, strtoull(argv[4], NULL, 0));
	zc_put_u32(&c, 0);
	if ((err = mds_call(ZC_CLTOMA_CHUNK_GET, a, c.pos, &call))) {
		fprintf(stderr, "layout: %s\n", strerror(-err));
		return 2;
	}
	c = zc_cur_init(call.resp, call.resp_len);
	zc_get_u64(&c);
	zc_get_loc(&c, &l);
	zc_call_free_resp(&call);
	if (c.err || !l.id || !l.nrep)
		return 2;

	err = read_with(&l, l.id, &l.cap);
	printf("%-44s %s\n", "read with the mds's capability", err ? strerror(-err) : "ok");
	bad += err != 0;
	memset(&cap, 0, sizeof(cap));
	refused("read with no capability", read_with(&l, l.id, &cap), &bad);
	cap = l.cap;
	cap.mac[0] ^= 1;
	refused("read with a forged capability", read_with(&l, l.id, &cap), &bad);
	cap = l.cap;
	cap.expiry += 86400;
	refused("read with a capability made to last longer", read_with(&l, l.id, &cap), &bad);
	refused("read of another chunk with this capability", read_with(&l, l.id + 1, &l.cap),
		&bad);
	{
		static uint8_t data[4096];

		c = zc_cur_init(a, sizeof(a));
		zc_put_u64(&c, l.id);
		zc_put_u32(&c, l.version);
		zc_put_u32(&c, 0);
		zc_put_u32(&c, sizeof(data));
		zc_put_cap(&c, &l.cap);
		zc_put_u8(&c, 0);
		refused("write with a read capability",
			cs_call(&l, ZC_CLTOCS_WRITE, a, c.pos, data, sizeof(data)), &bad);
		c = zc_cur_init(a, sizeof(a));
		zc_put_u64(&c, l.id);
		zc_put_u32(&c, l.version);
		zc_put_u32(&c, 0);
		zc_put_cap(&c, &l.cap);
		refused("truncate with a read capability",
			cs_call(&l, ZC_CLTOCS_TRUNCATE, a, c.pos, NULL, 0), &bad);
		c = zc_cur_init(a, sizeof(a));
		zc_put_u64(&c, l.id);
		refused("DELETE order from a client",
			cs_call(&l, ZC_MATOCS_DELETE, a, c.pos, NULL, 0), &bad);
	}
	err = read_with(&l, l.id, &l.cap);
	printf("%-44s %s\n", "read with the mds's capability again", err ? strerror(-err) : "ok");
	bad += err != 0;
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	zc_log_init("hostile", ZC_LOG_ERR, NULL);
	if (argc >= 4 && !strcmp(argv[1], "noauth"))
		return cmd_noauth(argc, argv);
	if (argc == 4 && !strcmp(argv[1], "stall"))
		return cmd_stall(argv);
	if (argc == 5 && !strcmp(argv[1], "caps"))
		return cmd_caps(argv);
	fprintf(stderr, "usage: zc_hostile noauth ADDR:PORT TYPE [U64...] | stall ADDR:PORT S |"
			" caps MDS CRED INO\n");
	return 2;
}
