// SPDX-License-Identifier: MIT
/*
 * The chunk server's request handlers (cs.c) on a real chunk folder, with
 * capabilities checked as a chunk server with the cluster key checks them:
 * a client connection (its ticket's session known) sends READ, WRITE,
 * TRUNCATE and FSYNC, the mds's orders SETVERSION, INFO and DELETE.
 * Capabilities missing, forged, of another session, chunk or version,
 * expired or without the right are refused (DENIED) before anything is
 * touched; good ones read and write the bytes; versions fence old
 * layouts (STALE); a damaged block is answered CRC; malformed requests are
 * INVAL and unknown ones NOTSUP; a WRITE forwards down its chain and
 * answers every replica's status: a next replica that cannot be reached
 * is named, a live one (this same handler behind zc_srv_run) answers OK.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "common/auth.h"
#include "common/log.h"
#include "common/pack.h"
#include "common/util.h"
#include "common/wire.h"
#include "cs/cs.h"
#include "rpc/rpc.h"

#define SESSION 77
#define ID 0x1234
#define MIB (1U << 20)

static char dir[] = "/tmp/zcfs-cs-handlers-XXXXXX";
static uint8_t *data;

/* One connection to the handlers: our end reads the replies. */
static struct zc_srv_conn conn;
static int peer_fd;
static uint64_t next_xid = 1;

/* The answer to the last request. */
static int st;
static uint8_t ans[2 * MIB];
static uint32_t ans_len;

struct serve_arg {
	struct zc_hdr h;
	uint8_t *payload;
	int ret;
};

static void *serve_one(void *arg)
{
	struct serve_arg *a = arg;

	a->ret = cs_serve(&conn, &a->h, a->payload);
	return NULL;
}

/* Sends a request of type with payload p to the handler and reads its
 * reply (status into st, payload into ans).  Returns the handler's
 * return value. */
static int req(uint16_t type, const void *p, uint32_t len)
{
	static uint8_t buf[2 * MIB];
	struct serve_arg a = { .h = { .type = type, .len = len, .xid = next_xid++ },
			       .payload = buf };
	uint8_t raw[ZC_HDR_LEN];
	struct zc_hdr h;
	pthread_t th;

	memcpy(buf, p, len);
	st = -1;
	ans_len = 0;
	/* The reply may be larger than the socket holds: read it meanwhile. */
	if (pthread_create(&th, NULL, serve_one, &a))
		return -1;
	if (zc_read_full(peer_fd, raw, sizeof(raw)) || zc_hdr_decode(raw, &h) ||
	    h.xid != a.h.xid || !(h.flags & ZC_F_RESP) || h.len > sizeof(ans) ||
	    zc_read_full(peer_fd, ans, h.len)) {
		fprintf(stderr, "no good reply to request type %u\n", type);
	} else {
		st = h.status;
		ans_len = h.len;
	}
	pthread_join(th, NULL);
	return a.ret;
}

static struct zc_cap cap_for(uint64_t id, uint32_t version, uint8_t rights, int64_t life,
			     uint64_t session)
{
	struct zc_cap cap;

	zc_cap_mint(&cap, id, version, rights, (uint64_t)(time(NULL) + life), session);
	return cap;
}

static struct zc_cap good_cap(uint32_t version, uint8_t rights)
{
	return cap_for(ID, version, rights, 300, SESSION);
}

static int do_read(uint64_t id, uint32_t version, uint32_t off, uint32_t len,
		   struct zc_cap cap)
{
	uint8_t b[128];
	struct zc_cur c = zc_cur_init(b, sizeof(b));

	zc_put_u64(&c, id);
	zc_put_u32(&c, version);
	zc_put_u32(&c, off);
	zc_put_u32(&c, len);
	zc_put_cap(&c, &cap);
	return req(ZC_CLTOCS_READ, b, c.pos);
}

/* A WRITE to the chain of nchain more replicas (ports on 127.0.0.1). */
static int do_write(uint32_t version, uint32_t off, const void *p, uint32_t len,
		    struct zc_cap cap, int nchain, const uint16_t *ports)
{
	static uint8_t b[MIB + 256];
	struct zc_cur c = zc_cur_init(b, sizeof(b));
	uint32_t lo = htonl(INADDR_LOOPBACK);

	zc_put_u64(&c, ID);
	zc_put_u32(&c, version);
	zc_put_u32(&c, off);
	zc_put_u32(&c, len);
	zc_put_cap(&c, &cap);
	zc_put_u8(&c, nchain);
	for (int i = 0; i < nchain; i++) {
		zc_put_bytes(&c, &lo, 4);
		zc_put_u16(&c, ports[i]);
	}
	zc_put_bytes(&c, p, len);
	return req(ZC_CLTOCS_WRITE, b, c.pos);
}

static int do_truncate(uint32_t version, uint32_t len, struct zc_cap cap)
{
	uint8_t b[128];
	struct zc_cur c = zc_cur_init(b, sizeof(b));

	zc_put_u64(&c, ID);
	zc_put_u32(&c, version);
	zc_put_u32(&c, len);
	zc_put_cap(&c, &cap);
	return req(ZC_CLTOCS_TRUNCATE, b, c.pos);
}

static int order(uint16_t type, uint64_t id, uint32_t v1, uint32_t v2)
{
	uint8_t b[32];
	struct zc_cur c = zc_cur_init(b, sizeof(b));

	zc_put_u64(&c, id);
	if (type != ZC_MATOCS_DELETE)
		zc_put_u32(&c, v1);
	if (type == ZC_MATOCS_SETVERSION)
		zc_put_u32(&c, v2);
	return req(type, b, c.pos);
}

/* The statuses a WRITE answered, as "n:8 status:8...". */
static void check_statuses(int n, const int *want)
{
	CHECK_EQ(st, ZC_OK);
	CHECK_EQ(ans_len, 1 + n);
	CHECK_EQ(ans[0], n);
	for (int i = 0; i < n && i + 1 < (int)ans_len; i++)
		CHECK_EQ(ans[1 + i], want[i]);
}

/* A chunk server behind zc_srv_run with the same handler: the next hop. */
static void *run_server(void *arg)
{
	zc_srv_run(*(int *)arg, cs_serve, cs_serve_end, NULL);
	return NULL;
}

static void test_caps(void)
{
	struct zc_cap none = { 0 }, c;

	/* Nothing is created by a refused WRITE. */
	do_write(1, 0, data, 4096, none, 0, NULL);
	CHECK_EQ(st, ZC_ST_DENIED);
	do_write(1, 0, data, 4096, good_cap(1, ZC_CAP_READ), 0, NULL);
	CHECK_EQ(st, ZC_ST_DENIED);
	do_read(ID, 1, 0, 10, good_cap(1, ZC_CAP_READ | ZC_CAP_WRITE));
	CHECK_EQ(st, ZC_ST_NOENT);

	/* A good one writes; every replica's status comes back. */
	do_write(1, 1000, data, 300000, good_cap(1, ZC_CAP_READ | ZC_CAP_WRITE), 0, NULL);
	check_statuses(1, (int[]){ ZC_OK });
	do_read(ID, 1, 1000, 300000, good_cap(1, ZC_CAP_READ));
	CHECK_EQ(st, ZC_OK);
	CHECK_EQ(ans_len, 300000);
	CHECK_MEM(ans, data, 300000);
	/* Again on the same connection: the capability seen before passes. */
	do_read(ID, 1, 1000, 10, good_cap(1, ZC_CAP_READ));
	CHECK_EQ(st, ZC_OK);

	/* Refused: without the right, another session, chunk or version,
	 * expired, forged. */
	do_read(ID, 1, 0, 10, good_cap(1, ZC_CAP_WRITE));
	CHECK_EQ(st, ZC_ST_DENIED);
	do_read(ID, 1, 0, 10, cap_for(ID, 1, ZC_CAP_READ, 300, SESSION + 1));
	CHECK_EQ(st, ZC_ST_DENIED);
	do_read(ID, 1, 0, 10, cap_for(ID + 1, 1, ZC_CAP_READ, 300, SESSION));
	CHECK_EQ(st, ZC_ST_DENIED);
	do_read(ID, 1, 0, 10, good_cap(2, ZC_CAP_READ));
	CHECK_EQ(st, ZC_ST_DENIED);
	do_read(ID, 1, 0, 10, cap_for(ID, 1, ZC_CAP_READ, -10, SESSION));
	CHECK_EQ(st, ZC_ST_DENIED);
	c = good_cap(1, ZC_CAP_READ);
	c.mac[3] ^= 1;
	do_read(ID, 1, 0, 10, c);
	CHECK_EQ(st, ZC_ST_DENIED);
	c = good_cap(1, ZC_CAP_READ);
	c.rights |= ZC_CAP_WRITE;	/* more rights than were minted */
	do_write(1, 0, data, 10, c, 0, NULL);
	CHECK_EQ(st, ZC_ST_DENIED);
	do_truncate(1, 10, good_cap(1, ZC_CAP_READ));
	CHECK_EQ(st, ZC_ST_DENIED);
	/* None of that changed the bytes. */
	do_read(ID, 1, 0, 301000, good_cap(1, ZC_CAP_READ));
	CHECK_EQ(ans_len, 301000);
	CHECK_EQ(ans[0], 0);
	CHECK_MEM(ans + 1000, data, 300000);
}

static void test_reads(void)
{
	struct zc_cap r = good_cap(1, ZC_CAP_READ);

	/* Past the end: short, then empty. */
	do_read(ID, 1, 300000, 65536, r);
	CHECK_EQ(st, ZC_OK);
	CHECK_EQ(ans_len, 1000);
	CHECK_MEM(ans, data + 299000, 1000);
	do_read(ID, 1, 10 * MIB, 4096, r);
	CHECK_EQ(st, ZC_OK);
	CHECK_EQ(ans_len, 0);
	/* Past the chunk, more than one I/O: refused. */
	do_read(ID, 1, ZC_CHUNK_SIZE - 5, 10, r);
	CHECK_EQ(st, ZC_ST_INVAL);
	do_read(ID, 1, 0, ZC_MAX_IO + 1, r);
	CHECK_EQ(st, ZC_ST_INVAL);
	/* Cut short: malformed. */
	req(ZC_CLTOCS_READ, "\1\2\3", 3);
	CHECK_EQ(st, ZC_ST_INVAL);
	/* An old layout's version, with its own good capability: STALE. */
	do_read(ID, 2, 0, 10, good_cap(2, ZC_CAP_READ));
	CHECK_EQ(st, ZC_ST_STALE);
}

static void test_writes(void)
{
	struct zc_cap rw = good_cap(1, ZC_CAP_READ | ZC_CAP_WRITE);
	static uint8_t b[256];
	struct zc_cur c = zc_cur_init(b, sizeof(b));

	/* Overwrite inside, then across a block boundary. */
	do_write(1, 65530, data + 7, 20, rw, 0, NULL);
	check_statuses(1, (int[]){ ZC_OK });
	do_read(ID, 1, 65530, 20, good_cap(1, ZC_CAP_READ));
	CHECK_MEM(ans, data + 7, 20);
	/* Past the chunk's end: the replica says INVAL. */
	do_write(1, ZC_CHUNK_SIZE - 10, data, 11, rw, 0, NULL);
	check_statuses(1, (int[]){ ZC_ST_INVAL });
	/* Another version: STALE, nothing written. */
	do_write(2, 0, data, 10, good_cap(2, ZC_CAP_READ | ZC_CAP_WRITE), 0, NULL);
	check_statuses(1, (int[]){ ZC_ST_STALE });
	/* Malformed: the length says more than came, a chain too long, no
	 * bytes. */
	zc_put_u64(&c, ID);
	zc_put_u32(&c, 1);
	zc_put_u32(&c, 0);
	zc_put_u32(&c, 100);	/* 100 bytes announced, 10 sent */
	zc_put_cap(&c, &rw);
	zc_put_u8(&c, 0);
	zc_put_bytes(&c, data, 10);
	req(ZC_CLTOCS_WRITE, b, c.pos);
	CHECK_EQ(st, ZC_ST_INVAL);
	do_write(1, 0, data, 10, rw, ZC_MAX_REPLICAS, (uint16_t[ZC_MAX_REPLICAS]){ 1 });
	CHECK_EQ(st, ZC_ST_INVAL);
	do_write(1, 0, data, 0, rw, 0, NULL);
	CHECK_EQ(st, ZC_ST_INVAL);
}

static void test_chain(void)
{
	struct zc_cap rw = good_cap(1, ZC_CAP_READ | ZC_CAP_WRITE);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int lfd = zc_tcp_listen(&sa), dead;
	uint16_t ports[2];
	pthread_t th;

	/* A port nobody listens on: the next replica is named as missing
	 * the write, ours has it. */
	dead = zc_tcp_listen(&sa);
	CHECK_GE(dead, 0);
	getsockname(dead, (struct sockaddr *)&sa, &sl);
	ports[0] = ntohs(sa.sin_port);
	close(dead);
	do_write(1, 0, data + 100, 5000, rw, 1, ports);
	check_statuses(2, (int[]){ ZC_OK, ZC_ST_IO });
	do_read(ID, 1, 0, 5000, good_cap(1, ZC_CAP_READ));
	CHECK_MEM(ans, data + 100, 5000);

	/* A live next replica (this handler again, on its own connection, as
	 * a chunk server: the cluster key's handshake) answers for itself
	 * and for the rest of the chain after it, here the dead port. */
	CHECK_GE(lfd, 0);
	sa.sin_port = 0;
	sl = sizeof(sa);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	CHECK_EQ(pthread_create(&th, NULL, run_server, &lfd), 0);
	ports[1] = ports[0];
	ports[0] = ntohs(sa.sin_port);
	do_write(1, 8, data + 200, 3000, rw, 1, ports);
	check_statuses(2, (int[]){ ZC_OK, ZC_OK });
	do_write(1, 8, data + 200, 3000, rw, 2, ports);
	check_statuses(3, (int[]){ ZC_OK, ZC_OK, ZC_ST_IO });
	do_read(ID, 1, 8, 3000, good_cap(1, ZC_CAP_READ));
	CHECK_MEM(ans, data + 200, 3000);
	zc_srv_stop();
	pthread_join(th, NULL);
	close(lfd);
}

static void test_truncate_sync(void)
{
	struct zc_cap rw = good_cap(1, ZC_CAP_READ | ZC_CAP_WRITE);
	uint8_t b[16];
	struct zc_cur c = zc_cur_init(b, sizeof(b));

	do_truncate(1, 2000, rw);
	CHECK_EQ(st, ZC_OK);
	do_read(ID, 1, 0, 65536, good_cap(1, ZC_CAP_READ));
	CHECK_EQ(ans_len, 2000);
	do_truncate(1, 100000, rw);
	CHECK_EQ(st, ZC_OK);
	do_read(ID, 1, 1990, 20, good_cap(1, ZC_CAP_READ));
	CHECK_EQ(ans_len, 20);
	CHECK_EQ(ans[10], 0);	/* grown: zeros */
	do_truncate(1, ZC_CHUNK_SIZE + 1, rw);
	CHECK_EQ(st, ZC_ST_INVAL);
	do_truncate(2, 10, good_cap(2, ZC_CAP_WRITE));
	CHECK_EQ(st, ZC_ST_STALE);
	req(ZC_CLTOCS_TRUNCATE, b, 5);
	CHECK_EQ(st, ZC_ST_INVAL);
	/* FSYNC of a chunk held, and of one never written. */
	zc_put_u64(&c, ID);
	req(ZC_CLTOCS_FSYNC, b, c.pos);
	CHECK_EQ(st, ZC_OK);
	c = zc_cur_init(b, sizeof(b));
	zc_put_u64(&c, ID + 99);
	req(ZC_CLTOCS_FSYNC, b, c.pos);
	CHECK_EQ(st, ZC_OK);
	req(ZC_CLTOCS_FSYNC, b, 3);
	CHECK_EQ(st, ZC_ST_INVAL);
}

static void test_orders(void)
{
	struct zc_cur c;
	uint32_t len, digest;

	/* INFO: the length and a digest of the checksums. */
	order(ZC_MATOCS_INFO, ID, 1, 0);
	CHECK_EQ(st, ZC_OK);
	CHECK_EQ(ans_len, 8);
	c = zc_cur_init(ans, ans_len);
	len = zc_get_u32(&c);
	digest = zc_get_u32(&c);
	CHECK_EQ(len, 100000);
	order(ZC_MATOCS_INFO, ID, 2, 0);
	CHECK_EQ(st, ZC_ST_STALE);
	order(ZC_MATOCS_INFO, ID + 99, 1, 0);
	CHECK_EQ(st, ZC_ST_NOENT);
	/* SETVERSION moves it on: the old version is fenced out. */
	order(ZC_MATOCS_SETVERSION, ID, 1, 3);
	CHECK_EQ(st, ZC_OK);
	do_read(ID, 1, 0, 10, good_cap(1, ZC_CAP_READ));
	CHECK_EQ(st, ZC_ST_STALE);
	do_read(ID, 3, 0, 10, good_cap(3, ZC_CAP_READ));
	CHECK_EQ(st, ZC_OK);
	order(ZC_MATOCS_INFO, ID, 3, 0);
	c = zc_cur_init(ans, ans_len);
	CHECK_EQ(zc_get_u32(&c), 100000);
	CHECK_EQ(zc_get_u32(&c), digest);	/* the same bytes */
	/* Again (an order repeated): nothing to do; backwards: refused. */
	order(ZC_MATOCS_SETVERSION, ID, 3, 3);
	CHECK_EQ(st, ZC_OK);
	order(ZC_MATOCS_SETVERSION, ID, 3, 2);
	CHECK_EQ(st, ZC_ST_STALE);
	/* A chunk this server never had: nothing to move. */
	order(ZC_MATOCS_SETVERSION, ID + 99, 1, 2);
	CHECK_EQ(st, ZC_OK);
	req(ZC_MATOCS_SETVERSION, ans, 9);
	CHECK_EQ(st, ZC_ST_INVAL);
	/* A type nobody serves here. */
	req(ZC_CLTOMA_LOOKUP, ans, 0);
	CHECK_EQ(st, ZC_ST_NOTSUP);
}

static void test_damage(void)
{
	char path[256];
	uint8_t b;
	int fd;

	/* A byte flipped on disk behind the server's back: the block is
	 * answered CRC, never served; others still are. */
	snprintf(path, sizeof(path), "%s/chunks/%02x/%016" PRIx64 ".chk", dir, ID & 0xff,
		 (uint64_t)ID);
	fd = open(path, O_RDWR);
	CHECK_GE(fd, 0);
	CHECK_EQ(pread(fd, &b, 1, ZC_CHUNK_HDR + 70000), 1);
	b ^= 0x10;
	CHECK_EQ(pwrite(fd, &b, 1, ZC_CHUNK_HDR + 70000), 1);
	close(fd);
	do_read(ID, 3, 69000, 2000, good_cap(3, ZC_CAP_READ));
	CHECK_EQ(st, ZC_ST_CRC);
	do_read(ID, 3, 0, 1000, good_cap(3, ZC_CAP_READ));
	CHECK_EQ(st, ZC_OK);
	/* DELETE, then it is gone; deleting again is no error. */
	order(ZC_MATOCS_DELETE, ID, 0, 0);
	CHECK_EQ(st, ZC_OK);
	do_read(ID, 3, 0, 10, good_cap(3, ZC_CAP_READ));
	CHECK_EQ(st, ZC_ST_NOENT);
	CHECK_NE(access(path, F_OK), 0);
	order(ZC_MATOCS_DELETE, ID, 0, 0);
	CHECK_EQ(st, ZC_OK);
	req(ZC_MATOCS_DELETE, ans, 2);
	CHECK_EQ(st, ZC_ST_INVAL);
}

int main(void)
{
	char cmd[128];
	int sv[2];

	zc_log_init("test", ZC_LOG_ERR, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir) || cs_chunk_init(dir) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		fprintf(stderr, "cannot set up a chunk folder in %s\n", dir);
		return 1;
	}
	data = malloc(MIB);
	for (uint32_t i = 0; i < MIB; i++)
		data[i] = (uint8_t)(i * 2654435761U >> 11);
	/* A chunk server with the cluster key; the connection is a client's
	 * whose ticket named SESSION. */
	zc_auth.role = ZC_ROLE_CS;
	memset(zc_auth.cluster, 0x5a, ZC_KEY_LEN);
	zc_auth.have_cluster = true;
	conn = (struct zc_srv_conn){ .fd = sv[0], .role = ZC_ROLE_CLIENT,
				     .peer_session = SESSION, .name = "test client" };
	peer_fd = sv[1];

	test_caps();
	test_reads();
	test_writes();
	test_chain();
	test_truncate_sync();
	test_orders();
	test_damage();

	cs_serve_end(&conn);
	close(sv[0]);
	close(sv[1]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ(system(cmd), 0);
	free(data);
	return check_done();
}
