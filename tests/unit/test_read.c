// SPDX-License-Identifier: MIT
/*
 * The client's read path (client/read.c: segments, READ calls, retries,
 * the reply) without FUSE, against the real mds handlers on a store in a
 * temporary folder and the real chunk server handlers on a chunk folder,
 * both served in this process over loopback TCP by one RPC server.
 *
 * This test plays the kernel: libfuse's reply calls (fuse_reply_buf,
 * fuse_reply_data, fuse_reply_err) and the request's context are defined
 * here, so that what a read answers is captured; fuse_reply_data copies
 * the reply's pipes and memory with libfuse's own fuse_buf_copy, as
 * libfuse does when it cannot splice.  Every read is compared with what
 * the file holds, byte for byte, in both modes (zero-copy pipes, copies):
 *
 * - a read across a chunk boundary: two segments, two READ calls;
 * - a chunk shorter than the file (its tail reads as zeros), a chunk
 *   that is a hole inside the file (no call), a read clipped at the end of
 *   the file, a read at or past the end (empty);
 * - a version change behind the client's cached layout: the server says
 *   STALE, the client asks the mds again and reads the new version (a
 *   retry counted);
 * - a replica whose server cannot be reached is skipped; one that drops
 *   the connection mid-request is reported to the mds (which keeps it: its
 *   server heartbeats) and the read goes on to the next replica;
 * - no replica left to try: EIO, never wrong bytes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "client/client_i.h"
#include "common/log.h"
#include "common/pipe.h"
#include "common/util.h"
#include "cs/cs.h"
#include "mds_util.h"
#include "rpc/rpc.h"

#define MIB (1U << 20)
#define CHUNK ZC_CHUNK_SIZE

/* ---- the kernel's side of FUSE ---- */

struct fuse_req {
	pthread_mutex_t m;
	pthread_cond_t cv;
	bool done;
	int err;
	size_t len;
	uint8_t *buf;
};

static int answer(fuse_req_t req, int err, size_t len)
{
	pthread_mutex_lock(&req->m);
	if (req->done) {
		fprintf(stderr, "a request answered twice: expected one answer, got two\n");
		check_failures++;
	}
	req->err = err;
	req->len = len;
	req->done = true;
	pthread_cond_broadcast(&req->cv);
	pthread_mutex_unlock(&req->m);
	return 0;
}

int fuse_reply_err(fuse_req_t req, int err)
{
	return answer(req, err, 0);
}

int fuse_reply_buf(fuse_req_t req, const char *buf, size_t size)
{
	if (size)
		memcpy(req->buf, buf, size);
	return answer(req, 0, size);
}

int fuse_reply_data(fuse_req_t req, struct fuse_bufvec *bufv, enum fuse_buf_copy_flags flags)
{
	size_t size = fuse_buf_size(bufv);
	struct fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
	ssize_t n;

	(void)flags;
	dst.buf[0].mem = req->buf;
	n = fuse_buf_copy(&dst, bufv, 0);
	return answer(req, n < 0 ? (int)-n : 0, n < 0 ? 0 : (size_t)n);
}

static struct fuse_ctx ctx;	/* root */

const struct fuse_ctx *fuse_req_ctx(fuse_req_t req)
{
	(void)req;
	return &ctx;
}

int fuse_req_getgroups(fuse_req_t req, int size, gid_t list[])
{
	(void)req;
	(void)size;
	(void)list;
	return 0;
}

int fuse_req_interrupted(fuse_req_t req)
{
	(void)req;
	return 0;
}

/* ---- the servers: the mds's and the chunk server's handlers ---- */

static int serve(struct zc_srv_conn *c, const struct zc_hdr *h, uint8_t *payload)
{
	static __thread uint8_t out[256 << 10];
	struct zc_cur o = zc_cur_init(out, sizeof(out));
	int st;

	if (h->type >= ZC_CLTOCS_READ)
		return cs_serve(c, h, payload);
	st = mds_client_request("admin", h->type, payload, h->len, &o);
	return zc_srv_reply(c, h, st, out, o.pos);
}

static void *run_server(void *arg)
{
	zc_srv_run(*(int *)arg, serve, cs_serve_end, NULL);
	return NULL;
}

/* A chunk server that takes a request and drops the connection. */
static void *run_dropper(void *arg)
{
	int lfd = *(int *)arg;

	for (;;) {
		uint8_t b[64];
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			return NULL;
		if (read(fd, b, sizeof(b)) > 0)
			shutdown(fd, SHUT_RDWR);
		close(fd);
	}
}

static int listen_any(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = zc_tcp_listen(&sa);

	if (fd < 0 || getsockname(fd, (struct sockaddr *)&sa, &sl))
		return -1;
	*port = ntohs(sa.sin_port);
	return fd;
}

/* ---- files: made through the mds, bytes put in the chunk folder ---- */

static uint64_t sess;
static char cs_dir[] = "/tmp/zcfs-read-cs-XXXXXX";

static uint8_t byte_at(uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 13) + 1);
}

static uint64_t alloc(uint64_t ino, uint32_t idx, struct zc_loc *l)
{
	struct treq *r = treq_new(sess, 0);
	struct zc_cur c;

	zc_put_u64(&r->c, ino);
	zc_put_u32(&r->c, idx);
	if (treq_send(r, ZC_CLTOMA_CHUNK_ALLOC))
		return 0;
	c = t_answer();
	zc_get_u64(&c);
	zc_get_loc(&c, l);
	return c.err ? 0 : l->id;
}

/* Puts the file's bytes [from, to) of chunk idx into its chunk file. */
static void put_bytes(uint64_t ino, uint32_t idx, uint64_t from, uint64_t to)
{
	static uint8_t buf[MIB];
	struct zc_loc l;
	struct cs_chunk *ch;
	int err;

	CHECK_NE(alloc(ino, idx, &l), 0);
	ch = cs_chunk_get(l.id, l.version, true, &err);
	CHECK(ch);
	for (uint64_t at = from; ch && at < to; at += MIB) {
		uint32_t n = ZC_MIN(MIB, to - at);

		for (uint32_t i = 0; i < n; i++)
			buf[i] = byte_at(idx * CHUNK + at + i);
		CHECK_EQ(cs_chunk_write(ch, l.version, at, buf, n), 0);
	}
	if (ch)
		cs_chunk_put(ch);
}

static uint64_t make_file(const char *name, uint64_t size)
{
	static uint64_t handle = 100, seq = 100;
	struct treq *r;
	uint64_t ino;
	int st;

	ino = t_create(sess, seq++, handle++, name, &st);
	CHECK_EQ(st, ZC_OK);
	r = treq_new(sess, seq++);
	zc_put_u64(&r->c, ino);
	zc_put_u64(&r->c, size);
	zc_put_u64(&r->c, 1);
	zc_put_u32(&r->c, 0);
	CHECK_EQ(treq_send(r, ZC_CLTOMA_SETSIZE), ZC_OK);
	return ino;
}

/* A statement on the store while the servers may use it. */
#define LOCKED(x) ({ int _r; mds_lock_store(); _r = (x); pthread_mutex_unlock(&mds_lock); _r; })

/* ---- reads through the client ---- */

static uint8_t got[MIB], want[MIB];

/* What a read of [off, off+size) answers, from the bytes put: holes
 * and tails are zeros; clipped at the file's size. */
static size_t expect(uint64_t fsize, const uint64_t (*data)[2], int ndata, uint64_t off,
		     size_t size)
{
	size_t n = off >= fsize ? 0 : ZC_MIN(size, ZC_MIN(ZC_MAX_IO, fsize - off));

	memset(want, 0, n);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < ndata; k++)
			if (off + i >= data[k][0] && off + i < data[k][1])
				want[i] = byte_at(off + i);
	return n;
}

/* Reads through zc_io_read, in one mode; returns the error it answered. */
static int client_read(struct zc_inode *in, uint64_t off, size_t size, bool zc, size_t *len)
{
	struct fuse_req req = { .m = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
				.buf = got };

	zc_cl.zerocopy = zc;
	memset(got, 0xee, sizeof(got));
	zc_io_read(&req, in, size, off);
	pthread_mutex_lock(&req.m);
	while (!req.done)
		pthread_cond_wait(&req.cv, &req.m);
	pthread_mutex_unlock(&req.m);
	*len = req.len;
	return req.err;
}

/* A read in both modes must answer exactly the expected bytes. */
static void read_ok(const char *what, struct zc_inode *in, uint64_t fsize,
		    const uint64_t (*data)[2], int ndata, uint64_t off, size_t size)
{
	size_t n = expect(fsize, data, ndata, off, size), len;

	for (int zc = 0; zc < 2; zc++) {
		uint64_t zc_bytes = zc_cl.n.read_zc_bytes;

		fprintf(stderr, "-- %s (%s)\n", what, zc ? "zero-copy" : "copy");
		CHECK_EQ(client_read(in, off, size, zc, &len), 0);
		CHECK_EQ(len, n);
		CHECK_MEM(got, want, n);
		/* Zero-copy replies come from pipes (but for tiny reads and
		 * replies of holes only). */
		if (!zc)
			CHECK_EQ(zc_cl.n.read_zc_bytes, zc_bytes);
	}
}

int main(void)
{
	static const uint64_t f_data[][2] = { { CHUNK - MIB, CHUNK - 256 * 1024 },
					      { CHUNK, CHUNK + MIB } };
	static const uint64_t h_data[][2] = { { CHUNK, CHUNK + 512 * 1024 } };
	uint64_t f_size = CHUNK + 2 * MIB, h_size = CHUNK + 512 * 1024, f, h, retries;
	struct zc_inode *fi, *hi;
	struct zc_loc l;
	uint16_t port, dead_port, drop_port;
	int lfd, dfd, err;
	pthread_t th;
	size_t len;
	char cmd[128];

	zc_log_init("test", ZC_LOG_ERR, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (t_store_open() || mds_recovery_init() || !mkdtemp(cs_dir) || cs_chunk_init(cs_dir)) {
		fprintf(stderr, "cannot set up a store in %s or chunks in %s\n", t_dir, cs_dir);
		return 1;
	}
	lfd = listen_any(&port);
	CHECK_GE(lfd, 0);
	CHECK_EQ(pthread_create(&th, NULL, run_server, &lfd), 0);
	/* A port nobody listens on, and a server that drops what it gets. */
	dfd = listen_any(&dead_port);
	close(dfd);
	dfd = listen_any(&drop_port);
	CHECK_EQ(pthread_create(&th, NULL, run_dropper, &dfd), 0);
	/* The registry: chunk servers 1 and 4 are this process (one folder),
	 * 2 the dropper, 3 the dead port; all heartbeat.  (Replicas nobody
	 * has read from yet keep the store's order, by id: 2 before 4.) */
	ncs = 4;
	for (int i = 0; i < ncs; i++)
		css[i] = (struct cs_info){ .id = i + 1, .ip = htonl(INADDR_LOOPBACK),
					   .port = i == 1 ? drop_port : i == 2 ? dead_port : port,
					   .total = 1ULL << 40, .free = 1ULL << 40,
					   .last_hb = zc_now_ns() };
	replicas_goal = 1;
	css[1].free = css[2].free = css[3].free = 0;	/* new chunks on server 1 */

	/* The client of this process. */
	zc_cl.mds.sin_family = AF_INET;
	zc_cl.mds.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	zc_cl.mds.sin_port = htons(port);
	snprintf(zc_cl.mds_str, sizeof(zc_cl.mds_str), "127.0.0.1:%u", port);
	snprintf(zc_cl.id, sizeof(zc_cl.id), "test:read");
	zc_cl.mds_timeout_s = 5;
	zc_session_init();
	CHECK_EQ(zc_session_start(), 0);
	sess = t_session_new("writer");	/* makes the files */

	/* f: chunk 0 holds data only in its last MiB but 256 KiB (its tail
	 * and all before are zeros), chunk 1 its first MiB of two. */
	f = make_file("f", f_size);
	put_bytes(f, 0, CHUNK - MIB, CHUNK - 256 * 1024);
	put_bytes(f, 1, 0, MIB);
	/* h: chunk 0 a hole (never written), chunk 1 half a MiB. */
	h = make_file("h", h_size);
	put_bytes(h, 1, 0, 512 * 1024);
	fi = zc_inode_open(f);
	zc_inode_opened(fi, f_size, false, false);
	hi = zc_inode_open(h);
	zc_inode_opened(hi, h_size, false, false);

	read_ok("1 MiB across the chunk boundary, the first chunk short", fi, f_size, f_data, 2,
		CHUNK - 512 * 1024, MIB);
	read_ok("inside the data", fi, f_size, f_data, 2, CHUNK - MIB + 4096, 128 * 1024);
	read_ok("a chunk's zeros before its data", fi, f_size, f_data, 2, 4096, 65536);
	read_ok("clipped at the end of the file", fi, f_size, f_data, 2, f_size - 1000, MIB);
	read_ok("small", fi, f_size, f_data, 2, CHUNK - 300000, 100);
	read_ok("at the end of the file", fi, f_size, f_data, 2, f_size, 4096);
	read_ok("a hole, then data", hi, h_size, h_data, 1, CHUNK - 256 * 1024, 512 * 1024);
	read_ok("a hole only", hi, h_size, h_data, 1, 0, MIB);

	/* The chunk moves to version 2 behind the client's cached layout:
	 * STALE from the server, a fresh layout from the mds, the new bytes. */
	CHECK_NE(alloc(f, 1, &l), 0);
	{
		struct cs_chunk *ch = cs_chunk_get(l.id, 1, false, &err);

		CHECK(ch);
		CHECK_EQ(LOCKED(mds_run("UPDATE chunk SET version=2 WHERE id=?", "i", (int64_t)l.id)), 0);
		CHECK_EQ(cs_chunk_set_version(ch, 2), 0);
		cs_chunk_put(ch);
	}
	retries = zc_cl.n.read_retries;
	read_ok("after a version change", fi, f_size, f_data, 2, CHUNK + 4096, 8192);
	CHECK_EQ(zc_cl.n.read_retries - retries, 1);	/* the first mode's read */

	/* Replicas: the dead port (3, never read from: it goes first), then
	 * ours: skipped without a retry.  The dropper (2) first, then ours
	 * (4): reported, then the next one. */
	CHECK_EQ(LOCKED(mds_run("DELETE FROM replica WHERE chunk=?", "i", (int64_t)l.id)), 0);
	CHECK_EQ(LOCKED(mds_run("INSERT INTO replica(chunk, cs) VALUES(?, 3), (?, 1)", "ii",
			 (int64_t)l.id, (int64_t)l.id)), 0);
	zc_forget_locs(fi, 0);
	retries = zc_cl.n.read_retries;
	read_ok("a replica that cannot be reached", fi, f_size, f_data, 2, CHUNK, 65536);
	CHECK_EQ(zc_cl.n.read_retries - retries, 0);
	CHECK_EQ(LOCKED(mds_run("DELETE FROM replica WHERE chunk=?", "i", (int64_t)l.id)), 0);
	CHECK_EQ(LOCKED(mds_run("INSERT INTO replica(chunk, cs) VALUES(?, 2), (?, 4)", "ii",
			 (int64_t)l.id, (int64_t)l.id)), 0);
	zc_forget_locs(fi, 0);
	retries = zc_cl.n.read_retries;
	read_ok("a replica that drops the connection", fi, f_size, f_data, 2, CHUNK + 1000, 300000);
	CHECK_GE(zc_cl.n.read_retries - retries, 1);
	/* The mds kept it: its server still heartbeats. */
	CHECK_EQ(LOCKED(mds_int(-1, "SELECT count(*) FROM replica WHERE chunk=? AND cs=2", "i",
				(int64_t)l.id)), 1);

	/* Nothing left to read from: EIO, nothing else. */
	CHECK_EQ(LOCKED(mds_run("DELETE FROM replica WHERE chunk=?", "i", (int64_t)l.id)), 0);
	CHECK_EQ(LOCKED(mds_run("INSERT INTO replica(chunk, cs) VALUES(?, 2)", "i", (int64_t)l.id)), 0);
	zc_forget_locs(fi, 0);
	for (int zc = 0; zc < 2; zc++) {
		CHECK_EQ(client_read(fi, CHUNK, 65536, zc, &len), EIO);
		CHECK_EQ(len, 0);
	}
	/* And a read of the other chunk is not held up by it. */
	read_ok("the other chunk still reads", fi, f_size, f_data, 2, CHUNK - MIB, 65536);

	CHECK_LE(zc_pipes_open(), 128);
	zc_inode_close(fi);
	zc_inode_close(hi);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", cs_dir);
	CHECK_EQ(system(cmd), 0);
	t_store_remove();
	return check_done();
}
