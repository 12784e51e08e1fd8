// SPDX-License-Identifier: MIT
/*
 * The read path (FUSE read -> segments -> READ calls to chunk servers ->
 * one reply), with its pools of read buffers and zero-copy pipes.
 *
 * A read is split at chunk boundaries into segments.  Each data segment is
 * a READ call whose response payload lands in the reply buffer at the
 * segment's place; holes and bytes past a chunk's end are zeros.  The calls
 * run concurrently and the last one to complete sends the reply, on the
 * receiver thread, so a FUSE worker never waits for a chunk server.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "client_i.h"
#include "reply.h"
#include "common/log.h"
#include "common/pipe.h"
#include "common/util.h"

#define BUF_POOL 32
#define READ_TIMEOUT_MS 20000
#define ZC_ZC_MIN 8192	/* smallest read sent zero-copy */

/* ---- read buffers: page-aligned, kept for reuse ---- */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static void *pool[BUF_POOL];
static int npool;

static void *buf_get(void)
{
	void *b = NULL;

	pthread_mutex_lock(&pool_lock);
	if (npool)
		b = pool[--npool];
	pthread_mutex_unlock(&pool_lock);
	/* Page-aligned: the kernel copies into misaligned buffers several
	 * times slower (DESIGN.md). */
	if (!b && posix_memalign(&b, 4096, ZC_MAX_IO))
		b = NULL;
	return b;
}

static void buf_put(void *b)
{
	pthread_mutex_lock(&pool_lock);
	if (npool < BUF_POOL) {
		pool[npool++] = b;
		b = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	free(b);
}

/*
 * libfuse copies a spliced reply through memory, silently, when it cannot
 * splice (its pipe cannot grow, splice broke): it then read()s our pipes.
 * Every 16th reply per thread, count read syscalls around the reply.
 */
static long thread_syscr(void)
{
	char buf[512], *p;
	int fd = open("/proc/thread-self/io", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strstr(buf, "syscr:");
	return p ? strtol(p + 6, NULL, 10) : -1;
}

/* ---- the read path ---- */

struct rd;

struct seg {
	struct zc_call call;
	struct rd *rd;
	struct zc_inode *in;
	uint32_t idx;		/* chunk index in the file */
	int refetches;		/* layouts asked again after ESTALE */
	uint64_t started;
	struct zc_loc loc;
	struct zpipe *pipe;	/* ZC destination, or NULL for memory */
	uint32_t coff;		/* offset in the chunk */
	uint32_t pos, len;	/* place in the reply */
	int tries;
	uint8_t call_args[64];	/* the READ's arguments */
};

struct rd {
	fuse_req_t req;
	uint64_t t0;		/* when the request came (for /metrics) */
	uint8_t *buf;		/* MEM segments, and ZC segments' fallback */
	size_t size;
	atomic_int pending;	/* segments in flight, plus one while issuing */
	atomic_int err;
	int nseg;
	struct seg seg[];
};

static void reply_zc(struct rd *rd)
{
	static __thread unsigned replies;
	struct zc_reply r = { .size = rd->size };
	long before = -1, after;
	int err = 0;

	for (int i = 0; i < rd->nseg && !err; i++) {
		struct seg *s = &rd->seg[i];

		if (!s->loc.id) {
			err = zc_reply_add(&r, ZC_SEG_ZERO, s->len, -1, NULL);
		} else if (s->call.in_pipe) {
			if (s->call.resp_len)
				err = zc_reply_add(&r, ZC_SEG_ZC, s->call.resp_len,
						   s->pipe->fd[0], NULL);
			if (!err && s->call.resp_len < s->len)
				err = zc_reply_add(&r, ZC_SEG_ZERO, s->len - s->call.resp_len, -1,
						   NULL);
		} else {
			err = zc_reply_add(&r, ZC_SEG_MEM, s->len, -1, rd->buf + s->pos);
		}
	}
	if (!err)
		err = zc_reply_build(&r);
	if (err) {
		/* Never send what we cannot account for. */
		zc_err("client: read reply of %zu bytes does not add up; EIO", rd->size);
		zc_cl.n.errors++;
		fuse_reply_err(rd->req, EIO);
		return;
	}
	/* Counted before the reply: once it is sent, the read is over. */
	zc_cl.n.read_zc_bytes += zc_reply_bytes(&r, ZC_SEG_ZC);
	zc_cl.n.read_copy_bytes += zc_reply_bytes(&r, ZC_SEG_MEM);
	if (replies++ % 16 == 0)
		before = thread_syscr();
	err = fuse_reply_data(rd->req, &r.bv, FUSE_BUF_SPLICE_MOVE);
	/* The second look is itself one read syscall. */
	if (before >= 0 && (after = thread_syscr()) > before + 1) {
		static atomic_int warned;

		zc_cl.n.zc_fallback_replies++;
		if (!atomic_exchange(&warned, 1))
			zc_warn("client: libfuse copied a zero-copy reply (splice unavailable)");
	}
	if (err)
		zc_debug("client: read reply not delivered: %s", strerror(-err));
}

static void rd_finish(struct rd *rd)
{
	int err = atomic_load(&rd->err);
	bool zc = false;

	for (int i = 0; i < rd->nseg; i++)
		zc |= rd->seg[i].pipe != NULL;
	if (err) {
		zc_cl.n.errors++;
		fuse_reply_err(rd->req, -err);
	} else if (zc) {
		reply_zc(rd);
	} else {
		zc_cl.n.read_copy_bytes += rd->size;
		fuse_reply_buf(rd->req, (const char *)rd->buf, rd->size);
	}
	zc_fop_done(ZC_FOP_READ, rd->t0);
	for (int i = 0; i < rd->nseg; i++)
		zc_pipe_put(rd->seg[i].pipe);
	buf_put(rd->buf);
	free(rd);
}

static void rd_put(struct rd *rd)
{
	if (atomic_fetch_sub(&rd->pending, 1) == 1)
		rd_finish(rd);
}

/* Sends the segment's READ to its next replica.  Returns 0 if a call is
 * in flight (seg_done will run), else -errno. */
static int seg_issue(struct seg *s)
{
	struct zc_cur c;
	int err = -EIO;

	while (s->tries < s->loc.nrep) {
		const struct zc_replica *r = &s->loc.rep[s->tries++];
		struct zc_conn *conn = zc_replica_conn(r, &err);

		if (!conn)
			continue;
		/* The layout may have changed since the last try: its version
		 * goes in the arguments. */
		c = zc_cur_init(s->call_args, sizeof(s->call_args));
		zc_put_u64(&c, s->loc.id);
		zc_put_u32(&c, s->loc.version);
		zc_put_u32(&c, s->coff);
		zc_put_u32(&c, s->len);
		zc_put_cap(&c, &s->loc.cap);
		s->call.req[0] = (struct iovec){ s->call_args, c.pos };
		s->started = zc_now_ns();
		if (s->pipe) {
			s->call.to_pipe = true;
			s->call.pipe[0] = s->pipe->fd[0];
			s->call.pipe[1] = s->pipe->fd[1];
		}
		err = zc_call_start(conn, &s->call);
		zc_conn_put(conn);
		if (!err)
			return 0;
	}
	return err;
}

/*
 * A failed segment: report the replica or ask for the new layout, then try
 * again.  This talks to the mds and may sleep, so it runs on a thread of
 * its own, never on a connection's receiver: a receiver waiting for the
 * mds stops draining its socket, and a chunk server blocked sending to it
 * can hold up the very order the mds is waiting on.
 */
static void *seg_retry(void *arg)
{
	struct seg *s = arg;
	struct zc_call *call = &s->call;
	struct rd *rd = s->rd;
	const struct zc_replica *r = &s->loc.rep[s->tries - 1];

	zc_warn("client: read of chunk %016" PRIx64 " (%u bytes at %u) from chunk server %u: %s",
		s->loc.id, s->len, s->coff, r->cs_id,
		call->status ? zc_status_str(call->status) : strerror(-call->err));
	if (s->pipe) {
		/* Bytes of the failed attempt may sit in the pipe: start clean. */
		zc_pipe_put(s->pipe);
		s->pipe = zc_pipe_get();
		s->call.to_pipe = false;
	}
	if (call->err == -ESTALE || call->err == -EKEYREJECTED) {
		/* The layout moved on (a replica dropped, a copy made), or its
		 * capability ran out: ask again.  The mds records a new version
		 * before it tells the servers, so give them a moment. */
		struct zc_loc l;

		if (s->refetches < 40) {
			usleep(5000 * ZC_MIN(s->refetches, 10));
			s->refetches++;
			if (!zc_fetch_loc(rd->req, s->in, s->idx, false, true, &l) && l.id) {
				s->loc = l;
				zc_order_replicas(&s->loc);
				s->tries = 0;
			}
		}
	} else {
		/* Bad data or no answer: the mds decides whether the replica goes,
		 * and answers the layout to go on with. */
		struct zc_loc l;
		uint32_t cs = r->cs_id;
		bool bad = call->status == ZC_ST_CRC || call->status == ZC_ST_NOENT;
		int err = zc_report_failed(rd->req, s->in, s->idx, &s->loc, &cs, 1, bad ? 1 : 2,
					   &l);

		/* The chunk is being copied (the mds holds writers, not readers):
		 * read on with the layout as it is now. */
		if (err == -EAGAIN)
			err = zc_fetch_loc(rd->req, s->in, s->idx, false, true, &l);
		if (!err && l.id && l.version != s->loc.version && s->refetches++ < 40) {
			/* Without the bad replica; the others are worth a try again. */
			s->loc = l;
			zc_order_replicas(&s->loc);
			s->tries = 0;
		}
	}
	if (s->tries < s->loc.nrep) {
		zc_cl.n.read_retries++;
		if (!seg_issue(s))
			return NULL;
	}
	atomic_store(&rd->err, -EIO);
	rd_put(rd);
	return NULL;
}

static void seg_done(struct zc_call *call)
{
	struct seg *s = (struct seg *)call;
	struct rd *rd = s->rd;

	if (!call->err) {
		zc_note_latency(s->loc.rep[s->tries - 1].cs_id, zc_now_ns() - s->started);
		/* Fewer bytes than asked: the chunk ends there; the rest is a
		 * hole inside the file and reads as zeros. */
		if (call->resp_len < s->len) {
			if (!call->in_pipe)
				memset(rd->buf + s->pos + call->resp_len, 0,
				       s->len - call->resp_len);
			zc_cl.n.read_zero_bytes += s->len - call->resp_len;
		}
		rd_put(rd);
		return;
	}
	if (zc_thread_start(seg_retry, s)) {
		atomic_store(&rd->err, -EIO);
		rd_put(rd);
	}
}

void zc_io_read(fuse_req_t req, struct zc_inode *in, size_t size, off_t off)
{
	uint64_t fsize, t0 = zc_now_ns();
	size_t pos = 0;
	int nseg, err = 0;
	bool zc;
	struct rd *rd;

	zc_cl.n.reads++;
	if (size <= 4096)
		zc_cl.n.rq_le4k++;
	else if (size <= 65536)
		zc_cl.n.rq_le64k++;
	else if (size <= 262144)
		zc_cl.n.rq_le256k++;
	else
		zc_cl.n.rq_le1m++;
	pthread_mutex_lock(&in->lock);
	fsize = in->size;
	pthread_mutex_unlock(&in->lock);
	if (off < 0 || (uint64_t)off >= fsize || !size) {
		fuse_reply_buf(req, NULL, 0);
		zc_fop_done(ZC_FOP_READ, t0);
		return;
	}
	size = ZC_MIN(size, ZC_MIN((uint64_t)ZC_MAX_IO, fsize - off));
	/* Below two pages libfuse copies anyway: receive into memory. */
	zc = zc_cl.zerocopy && size >= ZC_ZC_MIN;
	nseg = (int)(((off + size - 1) / ZC_CHUNK_SIZE) - (off / ZC_CHUNK_SIZE)) + 1;
	rd = calloc(1, sizeof(*rd) + nseg * sizeof(rd->seg[0]));
	if (!rd || !(rd->buf = buf_get())) {
		free(rd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rd->req = req;
	rd->t0 = t0;
	rd->size = size;
	rd->nseg = nseg;
	atomic_init(&rd->pending, 1);
	zc_cl.n.read_bytes += size;
	for (int i = 0; i < nseg && !err; i++) {
		uint64_t at = off + pos;
		struct seg *s = &rd->seg[i];

		s->rd = rd;
		s->in = in;
		s->idx = at / ZC_CHUNK_SIZE;
		s->pos = pos;
		s->coff = at % ZC_CHUNK_SIZE;
		s->len = ZC_MIN(size - pos, ZC_CHUNK_SIZE - s->coff);
		pos += s->len;
		err = zc_fetch_loc(req, in, at / ZC_CHUNK_SIZE, false, false, &s->loc);
		if (err)
			break;
		zc_order_replicas(&s->loc);
		if (!s->loc.id) {	/* a hole */
			memset(rd->buf + s->pos, 0, s->len);
			zc_cl.n.read_zero_bytes += s->len;
			continue;
		}
		if (zc && !(s->pipe = zc_pipe_get()))
			zc_cl.n.zc_fallback_segs++;
		s->call.type = ZC_CLTOCS_READ;
		s->call.dest = rd->buf + s->pos;
		s->call.dest_cap = s->len;
		s->call.timeout_ms = READ_TIMEOUT_MS;
		s->call.done = seg_done;
		atomic_fetch_add(&rd->pending, 1);
		err = seg_issue(s);
		if (err)
			atomic_fetch_sub(&rd->pending, 1);
	}
	/* Whatever failed on the way to the data, the application sees EIO. */
	if (err)
		atomic_store(&rd->err, err == -ENOMEM ? -ENOMEM : -EIO);
	rd_put(rd);
}
