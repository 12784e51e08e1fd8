// SPDX-License-Identifier: MIT
/*
 * File data: the read path (FUSE read -> segments -> READ calls to chunk
 * servers -> one reply), writes, truncate and fsync.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client_i.h"
#include "reply.h"
#include "common/log.h"
#include "common/util.h"

#define INODE_BUCKETS 256
#define BUF_POOL 32
#define READ_TIMEOUT_MS 20000
#define ZC_ZC_MIN 8192	/* smallest read sent zero-copy */

static pthread_mutex_t inodes_lock = PTHREAD_MUTEX_INITIALIZER;
static struct zc_inode *inodes[INODE_BUCKETS];

/* ---- open inodes ---- */

struct zc_inode *zc_inode_open(uint64_t ino)
{
	struct zc_inode *in;

	pthread_mutex_lock(&inodes_lock);
	for (in = inodes[ino % INODE_BUCKETS]; in; in = in->next)
		if (in->ino == ino)
			break;
	if (!in) {
		in = calloc(1, sizeof(*in));
		if (!in)
			goto out;
		in->ino = ino;
		pthread_mutex_init(&in->lock, NULL);
		pthread_mutex_init(&in->flush_lock, NULL);
		in->next = inodes[ino % INODE_BUCKETS];
		inodes[ino % INODE_BUCKETS] = in;
	}
	in->opens++;
out:
	pthread_mutex_unlock(&inodes_lock);
	return in;
}

void zc_inode_opened(struct zc_inode *in, uint64_t size, bool truncated)
{
	pthread_mutex_lock(&in->lock);
	if (truncated)
		in->size_dirty = false;
	/* Close-to-open: what the mds says at open wins, unless this client
	 * has written and not told the mds yet. */
	if (!in->size_dirty)
		in->size = size;
	/* Layouts may have changed since the last open. */
	for (uint32_t i = 0; i < in->nlocs; i++)
		if (truncated || !in->locs[i].dirty)
			in->locs[i].valid = in->locs[i].dirty = false;
	pthread_mutex_unlock(&in->lock);
}

bool zc_inode_take_dirty(struct zc_inode *in, uint64_t *size, int64_t *mtime_s,
			 uint32_t *mtime_ns)
{
	bool dirty;

	pthread_mutex_lock(&in->lock);
	dirty = in->size_dirty;
	*size = in->size;
	*mtime_s = in->mtime_s;
	*mtime_ns = in->mtime_ns;
	in->size_dirty = false;
	pthread_mutex_unlock(&in->lock);
	return dirty;
}

struct zc_inode *zc_inode_find(uint64_t ino)
{
	struct zc_inode *in;

	pthread_mutex_lock(&inodes_lock);
	for (in = inodes[ino % INODE_BUCKETS]; in; in = in->next)
		if (in->ino == ino)
			break;
	if (in)
		in->opens++;
	pthread_mutex_unlock(&inodes_lock);
	return in;
}

void zc_inode_close(struct zc_inode *in)
{
	struct zc_inode **pp;

	pthread_mutex_lock(&inodes_lock);
	if (--in->opens > 0) {
		pthread_mutex_unlock(&inodes_lock);
		return;
	}
	for (pp = &inodes[in->ino % INODE_BUCKETS]; *pp != in; pp = &(*pp)->next)
		;
	*pp = in->next;
	pthread_mutex_unlock(&inodes_lock);
	pthread_mutex_destroy(&in->lock);
	pthread_mutex_destroy(&in->flush_lock);
	free(in->locs);
	free(in);
}

int zc_inode_flush_size(fuse_req_t req, struct zc_inode *in)
{
	uint8_t buf[32];
	struct zc_cur c = zc_cur_init(buf, sizeof(buf));
	uint64_t size;
	int64_t ms;
	uint32_t mns;
	int err;

	pthread_mutex_lock(&in->flush_lock);
	if (!zc_inode_take_dirty(in, &size, &ms, &mns)) {
		pthread_mutex_unlock(&in->flush_lock);
		return 0;
	}
	zc_put_u64(&c, in->ino);
	zc_put_u64(&c, size);
	zc_put_u64(&c, ms);
	zc_put_u32(&c, mns);
	err = zc_mds_run(req, ZC_CLTOMA_SETSIZE, buf, c.pos);
	if (err) {
		pthread_mutex_lock(&in->lock);
		in->size_dirty = true;
		pthread_mutex_unlock(&in->lock);
	}
	pthread_mutex_unlock(&in->flush_lock);
	return err;
}

void zc_inode_flush_all(void)
{
	struct zc_inode **dirty = NULL;
	size_t n = 0, cap = 0;

	/* Referenced under the table lock, flushed outside it: a slow mds
	 * must not hold up opens. */
	pthread_mutex_lock(&inodes_lock);
	for (int b = 0; b < INODE_BUCKETS; b++)
		for (struct zc_inode *in = inodes[b]; in; in = in->next) {
			if (!in->size_dirty)
				continue;
			if (n == cap) {
				struct zc_inode **nd = realloc(dirty, (cap = cap ? 2 * cap : 16) *
							       sizeof(*nd));

				if (!nd)
					break;
				dirty = nd;
			}
			in->opens++;
			dirty[n++] = in;
		}
	pthread_mutex_unlock(&inodes_lock);
	for (size_t i = 0; i < n; i++) {
		if (zc_inode_flush_size(NULL, dirty[i]))
			zc_err("client: inode %" PRIu64 ": size not saved", dirty[i]->ino);
		zc_inode_close(dirty[i]);
	}
	free(dirty);
}

/* ---- chunk locations ---- */

static void store_loc(struct zc_inode *in, uint32_t idx, const struct zc_loc *l, bool for_write)
{
	pthread_mutex_lock(&in->lock);
	if (idx >= in->nlocs) {
		uint32_t n = ZC_MAX(idx + 1, in->nlocs * 2);
		struct zc_ocache *nl = realloc(in->locs, n * sizeof(*nl));

		if (!nl) {
			pthread_mutex_unlock(&in->lock);
			return;	/* not cached, still correct */
		}
		memset(nl + in->nlocs, 0, (n - in->nlocs) * sizeof(*nl));
		in->locs = nl;
		in->nlocs = n;
	}
	in->locs[idx].loc = *l;
	in->locs[idx].valid = true;
	in->locs[idx].for_write = for_write;
	pthread_mutex_unlock(&in->lock);
}

void zc_io_known_loc(struct zc_inode *in, uint32_t idx, const struct zc_loc *l)
{
	store_loc(in, idx, l, true);
}

/* Decodes "size:64 loc" and caches the location. */
static int take_loc(struct zc_inode *in, uint32_t idx, struct zc_call *call, struct zc_loc *l,
		    bool for_write)
{
	struct zc_cur c = zc_cur_init(call->resp, call->resp_len);

	zc_get_u64(&c);	/* the size at the mds; ours is at least as new */
	zc_get_loc(&c, l);
	zc_call_free_resp(call);
	if (c.err || (l->id && !l->nrep)) {
		zc_err("client: bad chunk location for inode %" PRIu64 " chunk %u", in->ino, idx);
		return -EIO;
	}
	store_loc(in, idx, l, for_write);
	return 0;
}

/* A capability is renewed this long before it runs out, so that I/O in
 * flight never meets its end (a chunk server refusing it is retried too). */
#define CAP_MARGIN_S 10

static bool cap_fresh(const struct zc_loc *l)
{
	return !l->id || l->cap.expiry > (uint64_t)time(NULL) + CAP_MARGIN_S;
}

/* Copies the location of chunk idx into *l, asking the mds (and with
 * alloc, creating the chunk) when it is not cached, or when fresh is set.
 * Returns 0 or -errno (-EAGAIN: the chunk is being copied, write later). */
static int fetch_loc(fuse_req_t req, struct zc_inode *in, uint32_t idx, bool alloc, bool fresh,
		     struct zc_loc *l)
{
	uint8_t args[16];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	struct zc_call call;
	int err;

	pthread_mutex_lock(&in->lock);
	if (!fresh && idx < in->nlocs && in->locs[idx].valid &&
	    (!alloc || (in->locs[idx].loc.id && in->locs[idx].for_write)) &&
	    cap_fresh(&in->locs[idx].loc)) {
		*l = in->locs[idx].loc;
		pthread_mutex_unlock(&in->lock);
		return 0;
	}
	pthread_mutex_unlock(&in->lock);

	zc_put_u64(&c, in->ino);
	zc_put_u32(&c, idx);
	err = zc_mds_call(req, alloc ? ZC_CLTOMA_CHUNK_ALLOC : ZC_CLTOMA_CHUNK_GET, args, c.pos,
			  &call);
	return err ? err : take_loc(in, idx, &call, l, alloc);
}

/* Tells the mds that replicas failed (reason 0: missed a write, 1: bad
 * data, 2: unreachable) and takes the layout it answers. */
static int report_failed(fuse_req_t req, struct zc_inode *in, uint32_t idx,
			 const struct zc_loc *l, const uint32_t *cs, int n, int reason,
			 struct zc_loc *out)
{
	uint8_t args[32 + 4 * ZC_MAX_REPLICAS];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	struct zc_call call;
	int err;

	zc_put_u64(&c, in->ino);
	zc_put_u32(&c, idx);
	zc_put_u64(&c, l->id);
	zc_put_u32(&c, l->version);
	zc_put_u8(&c, reason);
	zc_put_u8(&c, n);
	for (int i = 0; i < n; i++)
		zc_put_u32(&c, cs[i]);
	err = zc_mds_call(req, ZC_CLTOMA_CHUNK_FAILED, args, c.pos, &call);
	return err ? err : take_loc(in, idx, &call, out, reason == 0);
}

/* Per chunk server read latency (EWMA, us): reads go to the fastest. */
static atomic_uint lat_us[256];

static void order_replicas(struct zc_loc *l)
{
	for (int i = 1; i < l->nrep; i++)
		for (int j = i; j > 0 && atomic_load(&lat_us[l->rep[j].cs_id & 255]) <
					atomic_load(&lat_us[l->rep[j - 1].cs_id & 255]); j--) {
			struct zc_replica t = l->rep[j];

			l->rep[j] = l->rep[j - 1];
			l->rep[j - 1] = t;
		}
}

static void note_latency(uint32_t cs_id, uint64_t ns)
{
	unsigned old = atomic_load(&lat_us[cs_id & 255]), now = ns / 1000;

	atomic_store(&lat_us[cs_id & 255], old ? (old * 7 + now) / 8 : ZC_MAX(now, 1));
}

static void forget_locs(struct zc_inode *in, uint32_t from)
{
	pthread_mutex_lock(&in->lock);
	for (uint32_t i = from; i < in->nlocs; i++)
		in->locs[i].valid = in->locs[i].dirty = false;
	pthread_mutex_unlock(&in->lock);
}

static struct zc_conn *replica_conn(const struct zc_replica *r, int *err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(r->port) };

	sa.sin_addr.s_addr = r->ip;
	return zc_conn_get(&sa, err);
}

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

/* ---- pipes for zero-copy segments ---- */

/*
 * A pipe holds one segment's payload from the socket until the reply.
 * Sized for four times the largest segment: a socket's bytes may come in
 * fragments smaller than a page, one pipe slot each.
 */
#define PIPE_SIZE (4 * ZC_MAX_IO)
#define PIPE_POOL 128

struct zpipe {
	int fd[2];
	struct zpipe *next;
};

static pthread_mutex_t pipes_lock = PTHREAD_MUTEX_INITIALIZER;
static struct zpipe *pipes;
static int npipes;
static atomic_int pipes_open;

static struct zpipe *pipe_get(void)
{
	struct zpipe *p;

	pthread_mutex_lock(&pipes_lock);
	p = pipes;
	if (p) {
		pipes = p->next;
		npipes--;
	}
	pthread_mutex_unlock(&pipes_lock);
	if (p)
		return p;
	p = malloc(sizeof(*p));
	if (!p)
		return NULL;
	if (pipe2(p->fd, O_CLOEXEC)) {
		free(p);
		return NULL;
	}
	if (fcntl(p->fd[1], F_SETPIPE_SZ, PIPE_SIZE) < (int)PIPE_SIZE) {
		static atomic_int warned;

		if (!atomic_exchange(&warned, 1))
			zc_warn("client: cannot size a pipe to %d bytes (%s): reads fall back to"
				" copying", PIPE_SIZE, strerror(errno));
		close(p->fd[0]);
		close(p->fd[1]);
		free(p);
		return NULL;
	}
	atomic_fetch_add(&pipes_open, 1);
	return p;
}

/* A pipe that still holds bytes (a reply not sent, a receive cut short)
 * is closed, never reused dirty. */
static void pipe_put(struct zpipe *p)
{
	int held = 0;

	if (!p)
		return;
	if (ioctl(p->fd[0], FIONREAD, &held) || held) {
		zc_debug("client: closing a pipe left with %d bytes", held);
		goto out_close;
	}
	pthread_mutex_lock(&pipes_lock);
	if (npipes < PIPE_POOL) {
		p->next = pipes;
		pipes = p;
		npipes++;
		p = NULL;
	}
	pthread_mutex_unlock(&pipes_lock);
	if (!p)
		return;
out_close:
	close(p->fd[0]);
	close(p->fd[1]);
	free(p);
	atomic_fetch_sub(&pipes_open, 1);
}

int zc_io_pipes_open(void)
{
	return atomic_load(&pipes_open);
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
	zc_cl.n.read_zc_bytes += zc_reply_bytes(&r, ZC_SEG_ZC);
	zc_cl.n.read_copy_bytes += zc_reply_bytes(&r, ZC_SEG_MEM);
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
	for (int i = 0; i < rd->nseg; i++)
		pipe_put(rd->seg[i].pipe);
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
		struct zc_conn *conn = replica_conn(r, &err);

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
		pipe_put(s->pipe);
		s->pipe = pipe_get();
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
			if (!fetch_loc(rd->req, s->in, s->idx, false, true, &l) && l.id) {
				s->loc = l;
				order_replicas(&s->loc);
				s->tries = 0;
			}
		}
	} else {
		/* Bad data or no answer: the mds decides whether the replica goes,
		 * and answers the layout to go on with. */
		struct zc_loc l;
		uint32_t cs = r->cs_id;
		bool bad = call->status == ZC_ST_CRC || call->status == ZC_ST_NOENT;
		int err = report_failed(rd->req, s->in, s->idx, &s->loc, &cs, 1, bad ? 1 : 2, &l);

		/* The chunk is being copied (the mds holds writers, not readers):
		 * read on with the layout as it is now. */
		if (err == -EAGAIN)
			err = fetch_loc(rd->req, s->in, s->idx, false, true, &l);
		if (!err && l.id && l.version != s->loc.version && s->refetches++ < 40) {
			/* Without the bad replica; the others are worth a try again. */
			s->loc = l;
			order_replicas(&s->loc);
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
		note_latency(s->loc.rep[s->tries - 1].cs_id, zc_now_ns() - s->started);
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
	uint64_t fsize;
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
		err = fetch_loc(req, in, at / ZC_CHUNK_SIZE, false, false, &s->loc);
		if (err)
			break;
		order_replicas(&s->loc);
		if (!s->loc.id) {	/* a hole */
			memset(rd->buf + s->pos, 0, s->len);
			zc_cl.n.read_zero_bytes += s->len;
			continue;
		}
		if (zc && !(s->pipe = pipe_get()))
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

/* ---- writes ---- */

/* Adds a replica that missed a write to failed (n long), once, never past
 * its end.  Returns the new length. */
static int add_failed(uint32_t *failed, int n, uint32_t cs_id)
{
	for (int i = 0; i < n; i++)
		if (failed[i] == cs_id)
			return n;
	if (n < ZC_MAX_REPLICAS)
		failed[n++] = cs_id;
	return n;
}

int zc_write_statuses(const void *resp, size_t len, const struct zc_loc *l, bool stale_ok,
		      uint32_t failed[ZC_MAX_REPLICAS], int *stale)
{
	struct zc_cur r = zc_cur_init((void *)resp, len);
	int nrep = ZC_MIN(l->nrep, ZC_MAX_REPLICAS), nfailed = 0;
	uint8_t n = zc_get_u8(&r);

	*stale = 0;
	for (int i = 0; i < n && i < nrep; i++) {
		uint8_t st = zc_get_u8(&r);

		if (r.err)
			break;
		if (st == ZC_ST_AGAIN || (st == ZC_ST_STALE && stale_ok))
			(*stale)++;
		else if (st != ZC_OK)
			nfailed = add_failed(failed, nfailed, l->rep[i].cs_id);
	}
	/* A status for every replica of the chain, no more, no less: anything
	 * else is a broken (or lying) first replica, which answered. */
	if (r.err || n != nrep) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(l->rep[0].port) };
		char name[32];

		sa.sin_addr.s_addr = l->rep[0].ip;
		zc_warn("client: chunk server %u (%s): WRITE of chunk %016" PRIx64 " answered %u"
			" statuses in %zu bytes for %d replicas", l->rep[0].cs_id,
			zc_fmt_addr(&sa, name, sizeof(name)), l->id, n, len, nrep);
		nfailed = add_failed(failed, nfailed, l->rep[0].cs_id);
	}
	return nfailed;
}

/*
 * Writes one piece inside one chunk to every replica: to the first, which
 * passes it down the chain.  A replica that misses the write is reported
 * to the mds, which drops it and answers a layout without it; the write is
 * then sent again.  Returns 0 once every replica of the current layout has
 * it, or -EIO.
 */
static int write_piece(fuse_req_t req, struct zc_inode *in, uint32_t idx, uint32_t coff,
		       const char *buf, uint32_t len)
{
	uint64_t deadline = zc_now_ns() + 60 * 1000000000ULL;
	bool fresh = false;
	int err = 0, stale_rounds = 0, denied = 0;

	while (zc_now_ns() < deadline) {
		uint8_t args[64 + 6 * ZC_MAX_REPLICAS];
		struct zc_cur c = zc_cur_init(args, sizeof(args));
		struct zc_call call = { .type = ZC_CLTOCS_WRITE, .timeout_ms = 20000 };
		uint32_t failed[ZC_MAX_REPLICAS];
		int nfailed = 0, stale = 0;
		struct zc_conn *conn;
		struct zc_loc l;
		uint64_t asked = zc_now_ns();

		err = fetch_loc(req, in, idx, true, fresh, &l);
		fresh = false;
		/* Time spent waiting for an mds that was away is not held
		 * against the chunk servers. */
		deadline += zc_now_ns() - asked;
		if (err == -EINTR)
			return err;
		if (err == -EAGAIN) {	/* being copied, or the mds has just started */
			usleep(50000);
			fresh = true;
			continue;
		}
		if (err)
			return -EIO;
		if (!l.nrep)
			return -EIO;
		zc_put_u64(&c, l.id);
		zc_put_u32(&c, l.version);
		zc_put_u32(&c, coff);
		zc_put_u32(&c, len);
		zc_put_cap(&c, &l.cap);
		zc_put_u8(&c, l.nrep - 1);
		for (int i = 1; i < l.nrep; i++) {
			zc_put_bytes(&c, &l.rep[i].ip, 4);
			zc_put_u16(&c, l.rep[i].port);
		}
		call.req[0] = (struct iovec){ args, c.pos };
		call.req[1] = (struct iovec){ (void *)buf, len };
		conn = replica_conn(&l.rep[0], &err);
		if (conn) {
			err = zc_call_sync(conn, &call);
			zc_conn_put(conn);
		}
		if (err == -EKEYREJECTED && denied++ < 3) {
			/* The capability ran out on the way: a new one, and again. */
			fresh = true;
			continue;
		}
		if (err) {
			zc_warn("client: write of chunk %016" PRIx64 " to chunk server %u: %s", l.id,
				l.rep[0].cs_id, strerror(-err));
			nfailed = add_failed(failed, nfailed, l.rep[0].cs_id);
		} else {
			/* ESTALE: the layout moved on, ask again; but a replica that
			 * keeps refusing the mds's own layout is behind. */
			nfailed = zc_write_statuses(call.resp, call.resp_len, &l, stale_rounds < 25,
						    failed, &stale);
			zc_call_free_resp(&call);
		}
		if (!nfailed && !stale)
			break;
		if (nfailed) {
			zc_warn("client: chunk %016" PRIx64 ": %d replicas missed a write; telling"
				" the mds", l.id, nfailed);
			if (report_failed(req, in, idx, &l, failed, nfailed, 0, &l)) {
				usleep(50000);	/* busy or unreachable: ask again */
				fresh = true;
			}
		} else {
			fresh = true;
			stale_rounds++;
			usleep(20000);
		}
		zc_cl.n.write_retries++;
		err = -EIO;
	}
	if (err)
		return -EIO;
	pthread_mutex_lock(&in->lock);
	if (idx < in->nlocs)
		in->locs[idx].dirty = true;
	pthread_mutex_unlock(&in->lock);
	return 0;
}

/* Where an O_APPEND write goes: the mds reserves the bytes at the end. */
static int append_at(fuse_req_t req, struct zc_inode *in, size_t size, off_t *off)
{
	uint8_t args[12];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	struct zc_call call;
	int err;

	/* What this client wrote before is part of the end. */
	if ((err = zc_inode_flush_size(req, in)))
		return err;
	zc_put_u64(&c, in->ino);
	zc_put_u32(&c, size);
	if ((err = zc_mds_call(req, ZC_CLTOMA_APPEND, args, c.pos, &call)))
		return err;
	c = zc_cur_init(call.resp, call.resp_len);
	*off = zc_get_u64(&c);
	zc_call_free_resp(&call);
	return c.err || *off < 0 ? -EIO : 0;
}

void zc_io_write(fuse_req_t req, struct zc_inode *in, const char *buf, size_t size, off_t off,
		 bool append)
{
	struct timespec now;
	size_t done = 0;
	int err = 0;

	zc_cl.n.writes++;
	if (append && size && (err = append_at(req, in, size, &off))) {
		zc_cl.n.errors++;
		fuse_reply_err(req, -err);
		return;
	}
	if (off < 0 || (uint64_t)off + size > (1ULL << 50)) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	while (done < size) {
		uint64_t at = off + done;
		uint32_t coff = at % ZC_CHUNK_SIZE;
		uint32_t n = ZC_MIN(size - done, ZC_CHUNK_SIZE - coff);

		err = write_piece(req, in, at / ZC_CHUNK_SIZE, coff, buf + done, n);
		if (err)
			break;
		done += n;
	}
	if (done) {
		clock_gettime(CLOCK_REALTIME, &now);
		pthread_mutex_lock(&in->lock);
		if ((uint64_t)off + done > in->size)
			in->size = off + done;
		/* The size, or at least the mtime, moved; an append's the mds
		 * set when it gave out the place. */
		if (!append)
			in->size_dirty = true;
		in->mtime_s = now.tv_sec;
		in->mtime_ns = now.tv_nsec;
		pthread_mutex_unlock(&in->lock);
		zc_cl.n.write_bytes += done;
	}
	if (err && !done) {
		zc_cl.n.errors++;
		fuse_reply_err(req, -err);
		return;
	}
	fuse_reply_write(req, done);
}

/* Sends one argument block to every replica of a chunk. */
static int to_replicas(const struct zc_loc *l, uint16_t type, const void *args, size_t len)
{
	int err = 0;

	for (int i = 0; i < l->nrep && !err; i++) {
		struct zc_call call = { .type = type };
		struct zc_conn *conn = replica_conn(&l->rep[i], &err);

		if (!conn)
			break;
		call.req[0] = (struct iovec){ (void *)args, len };
		err = zc_call_sync(conn, &call);
		zc_call_free_resp(&call);
		if (err)
			zc_warn("client: request %u on chunk %016" PRIx64 " at %s: %s", type, l->id,
				zc_conn_name(conn), strerror(-err));
		zc_conn_put(conn);
	}
	return err;
}

int zc_io_fsync(fuse_req_t req, struct zc_inode *in)
{
	int err = 0;

	for (uint32_t i = 0; !err; i++) {
		struct zc_loc l;
		uint8_t args[8];
		struct zc_cur c = zc_cur_init(args, sizeof(args));

		pthread_mutex_lock(&in->lock);
		if (i >= in->nlocs) {
			pthread_mutex_unlock(&in->lock);
			break;
		}
		if (!in->locs[i].dirty || !in->locs[i].valid) {
			pthread_mutex_unlock(&in->lock);
			continue;
		}
		l = in->locs[i].loc;
		in->locs[i].dirty = false;
		pthread_mutex_unlock(&in->lock);
		zc_put_u64(&c, l.id);
		err = to_replicas(&l, ZC_CLTOCS_FSYNC, args, c.pos);
		if (err) {
			pthread_mutex_lock(&in->lock);
			in->locs[i].dirty = true;
			pthread_mutex_unlock(&in->lock);
		}
	}
	if (!err)
		err = zc_inode_flush_size(req, in);
	return err == -EINTR ? err : err ? -EIO : 0;
}

int zc_io_truncate(fuse_req_t req, uint64_t ino, uint64_t size, struct zc_attr *out)
{
	struct zc_inode *in = zc_inode_find(ino);
	uint8_t args[96];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	struct zc_call call;
	struct zc_loc l;
	int err;

	/* Tell the mds what was written first, so that its size is the one we
	 * cut from. */
	if (in && (err = zc_inode_flush_size(req, in)))
		goto out_put;
	zc_put_u64(&c, ino);
	zc_put_u64(&c, size);
	if ((err = zc_mds_call(req, ZC_CLTOMA_TRUNC_PREP, args, c.pos, &call)))
		goto out_put;
	c = zc_cur_init(call.resp, call.resp_len);
	zc_get_loc(&c, &l);
	zc_call_free_resp(&call);
	if (c.err) {
		err = -EIO;
		goto out_put;
	}
	if (l.id) {
		/* Cut the chunk holding the new end before the size moves, so that
		 * growing the file later never shows bytes from before the cut. */
		c = zc_cur_init(args, sizeof(args));
		zc_put_u64(&c, l.id);
		zc_put_u32(&c, l.version);
		zc_put_u32(&c, size % ZC_CHUNK_SIZE);
		zc_put_cap(&c, &l.cap);
		if ((err = to_replicas(&l, ZC_CLTOCS_TRUNCATE, args, c.pos))) {
			err = -EIO;
			goto out_put;
		}
	}
	c = zc_cur_init(args, sizeof(args));
	zc_put_u64(&c, ino);
	zc_put_u32(&c, ZC_SET_SIZE);
	zc_put_u32(&c, 0);
	zc_put_u32(&c, 0);
	zc_put_u32(&c, 0);
	zc_put_u64(&c, size);
	zc_put_u64(&c, 0);
	zc_put_u32(&c, 0);
	zc_put_u64(&c, 0);
	zc_put_u32(&c, 0);
	if ((err = zc_mds_attr_call(req, ZC_CLTOMA_SETATTR, args, c.pos, out)))
		goto out_put;
	if (in) {
		pthread_mutex_lock(&in->lock);
		in->size = size;
		in->size_dirty = false;
		pthread_mutex_unlock(&in->lock);
		forget_locs(in, (size + ZC_CHUNK_SIZE - 1) / ZC_CHUNK_SIZE);
	}
out_put:
	if (in)
		zc_inode_close(in);
	return err;
}
