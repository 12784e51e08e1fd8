// SPDX-License-Identifier: MIT
/*
 * Writes (one piece per chunk, sent down the chain of its replicas; the
 * replicas that miss one are reported to the mds), fsync and truncate.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client_i.h"
#include "common/log.h"
#include "common/pipe.h"
#include "common/util.h"

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

static int truncate_chunk(const struct zc_loc *l, uint32_t len);

/*
 * Before the first write past chunk 0 of a file opened here empty, for
 * writing (made here, say): CREATE places chunk 0 without its servers
 * knowing, and
 * once this write lands that chunk is inside the file, where it must read
 * as zeros, not fail as lost; so it is made on them now (ZC_TRUNC_GROW,
 * which never cuts what another client may have written there).
 */
static int make_chunk0(fuse_req_t req, struct zc_inode *in)
{
	struct zc_loc l;
	bool todo;
	int err;

	pthread_mutex_lock(&in->lock);
	todo = in->unwritten0;
	in->unwritten0 = false;
	pthread_mutex_unlock(&in->lock);
	if (!todo)
		return 0;
	/* Is there a chunk 0 (a reader's layout: none is placed for it)? */
	err = zc_fetch_loc(req, in, 0, false, false, &l);
	if (!err && l.id && !(err = zc_fetch_loc(req, in, 0, true, false, &l)) && l.id)
		err = truncate_chunk(&l, ZC_TRUNC_GROW);
	if (err) {
		pthread_mutex_lock(&in->lock);
		in->unwritten0 = true;
		pthread_mutex_unlock(&in->lock);
		zc_warn("client: inode %" PRIu64 ": chunk 0 not made on its servers: %s", in->ino,
			strerror(-err));
	}
	return err;
}

/*
 * Writes one piece (len bytes at coff of chunk idx) to every replica: to
 * the first, which passes it down the chain.  The bytes come from src.buf,
 * or (zero-copy) from the head of src.pipe, which it leaves there (the
 * caller drops them once sent).  A replica that misses the write is
 * reported to the mds, which drops it and answers a layout without it; the
 * write is then sent again.  Returns 0 once every replica of the current
 * layout has it, -EIO, or -ENOBUFS: no pipe to tee the piece into, before
 * anything was sent.
 */
static int write_piece(fuse_req_t req, struct zc_inode *in, uint32_t idx, uint32_t coff,
		       struct zc_wsrc src, uint32_t len)
{
	uint64_t deadline = zc_now_ns() + 60 * 1000000000ULL;
	bool fresh = false;
	int err = 0, stale_rounds = 0, denied = 0;

	if (idx && (err = make_chunk0(req, in)))
		return -EIO;
	while (zc_now_ns() < deadline) {
		uint8_t args[64 + 6 * ZC_MAX_REPLICAS];
		struct zc_cur c = zc_cur_init(args, sizeof(args));
		struct zc_call call = { .type = ZC_CLTOCS_WRITE, .timeout_ms = 20000 };
		uint32_t failed[ZC_MAX_REPLICAS];
		int nfailed = 0, stale = 0;
		struct zc_conn *conn;
		struct zpipe *q = NULL;
		struct zc_loc l;
		uint64_t asked = zc_now_ns();

		err = zc_fetch_loc(req, in, idx, true, fresh, &l);
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
		call.req[1] = (struct iovec){ (void *)src.buf, len };
		if (!src.buf && !(q = zc_pipe_tee(src.pipe, len)))
			return -ENOBUFS;
		call.req_pipe = q ? q->fd[0] : 0;
		call.flags = zc_cl.zerocopy ? 0 : ZC_F_COPY;
		conn = zc_replica_conn(&l.rep[0], &err);
		if (conn) {
			err = zc_call_sync(conn, &call);
			zc_conn_put(conn);
		}
		zc_pipe_put(q);	/* emptied by the send, or closed */
		q = NULL;
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
			if (zc_report_failed(req, in, idx, &l, failed, nfailed, 0, &l)) {
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
	if (!idx)
		in->unwritten0 = false;
	pthread_mutex_unlock(&in->lock);
	return 0;
}

int zc_io_allocate(fuse_req_t req, struct zc_inode *in, uint64_t end)
{
	struct zc_attr a;
	bool grows;

	pthread_mutex_lock(&in->lock);
	grows = end > in->size;
	pthread_mutex_unlock(&in->lock);
	return grows ? zc_io_truncate(req, in->ino, end, true, &a) : 0;
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
	/* setuid/setgid dropped: the kernel's copy of the mode is old. */
	if (zc_cur_left(&c) && zc_get_u8(&c) && zc_cl.se)
		fuse_lowlevel_notify_inval_inode(zc_cl.se, zc_ino_fuse(in->ino), -1, 0);
	zc_call_free_resp(&call);
	return c.err || *off < 0 ? -EIO : 0;
}

/* /dev/null, where the bytes of a piece sent from libfuse's pipe go. */
static int null_fd(void)
{
	static _Atomic int fd = -1;
	int f = atomic_load(&fd), expect = -1;

	if (f >= 0)
		return f;
	f = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (f >= 0 && !atomic_compare_exchange_strong(&fd, &expect, f)) {
		close(f);
		f = expect;
	}
	return f;
}

/* The rest of a WRITE in libfuse's pipe, into memory: the copy route. */
static char *pipe_to_mem(int pipe, size_t len)
{
	char *b = malloc(len ? len : 1);

	if (b && zc_read_full(pipe, b, len)) {
		free(b);
		return NULL;
	}
	return b;
}

bool zc_io_write(fuse_req_t req, struct zc_inode *in, struct zc_wsrc src, size_t size, off_t off,
		 bool append)
{
	struct timespec now;
	char *copied = NULL;
	size_t done = 0, from = 0;	/* src.buf holds the bytes from from on */
	bool drained = src.buf != NULL;	/* nothing of it left in a pipe */
	int err = 0;

	zc_cl.n.writes++;
	if (append && size && (err = append_at(req, in, size, &off))) {
		zc_cl.n.errors++;
		fuse_reply_err(req, -err);
		return drained;
	}
	if (off < 0 || (uint64_t)off + size > (1ULL << 50)) {
		fuse_reply_err(req, EFBIG);
		return drained;
	}
	while (done < size) {
		uint64_t at = off + done;
		uint32_t coff = at % ZC_CHUNK_SIZE;
		uint32_t n = ZC_MIN(size - done, ZC_CHUNK_SIZE - coff);
		struct zc_wsrc piece = { src.buf ? src.buf + (done - from) : NULL, src.pipe };

		err = write_piece(req, in, at / ZC_CHUNK_SIZE, coff, piece, n);
		if (err == -ENOBUFS && !src.buf) {
			/* No pipe to tee into: the rest from memory. */
			if (!(copied = pipe_to_mem(src.pipe, size - done))) {
				err = -EIO;
				break;
			}
			src.buf = copied;
			from = done;
			drained = true;
			continue;
		}
		if (!err && !src.buf && zc_splice_all(src.pipe, null_fd(), NULL, n))
			err = -EIO;	/* sent, but the pipe is out of step */
		if (err)
			break;
		if (src.buf)
			zc_cl.n.write_copy_bytes += n;
		else
			zc_cl.n.write_zc_bytes += n;
		done += n;
	}
	free(copied);
	drained |= done == size;
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
		return drained;
	}
	fuse_reply_write(req, done);
	return drained;
}

/* Sends one argument block to every replica of a chunk. */
static int to_replicas(const struct zc_loc *l, uint16_t type, const void *args, size_t len)
{
	int err = 0;

	for (int i = 0; i < l->nrep && !err; i++) {
		struct zc_call call = { .type = type };
		struct zc_conn *conn = zc_replica_conn(&l->rep[i], &err);

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

/* TRUNCATE of chunk l to len on its replicas.  0 or -EIO. */
static int truncate_chunk(const struct zc_loc *l, uint32_t len)
{
	uint8_t args[96];
	struct zc_cur c = zc_cur_init(args, sizeof(args));

	zc_put_u64(&c, l->id);
	zc_put_u32(&c, l->version);
	zc_put_u32(&c, len);
	zc_put_cap(&c, &l->cap);
	return to_replicas(l, ZC_CLTOCS_TRUNCATE, args, c.pos) ? -EIO : 0;
}

int zc_io_truncate(fuse_req_t req, uint64_t ino, uint64_t size, bool grow,
		   struct zc_attr *out)
{
	struct zc_inode *in = zc_inode_find(ino);
	uint32_t g = grow ? ZC_TRUNC_GROW : 0;
	uint8_t args[96];
	struct zc_cur c = zc_cur_init(args, sizeof(args));
	struct timespec now;
	struct zc_call call;
	struct zc_loc l, old = { 0 };
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
	if (zc_cur_left(&c))
		zc_get_loc(&c, &old);
	zc_call_free_resp(&call);
	if (c.err) {
		err = -EIO;
		goto out_put;
	}
	/* Cut the chunk holding the new end before the size moves, so that
	 * growing the file later never shows bytes from before the cut (when
	 * growing only, never cut).  The chunk holding the old end, if the
	 * file grows past it, is made on its servers if it never was. */
	if ((l.id && (err = truncate_chunk(&l, (size % ZC_CHUNK_SIZE) | g))) ||
	    (old.id && (err = truncate_chunk(&old, ZC_TRUNC_GROW))))
		goto out_put;
	if (in) {	/* chunk 0 was made above, or cut, or is outside */
		pthread_mutex_lock(&in->lock);
		in->unwritten0 = false;
		pthread_mutex_unlock(&in->lock);
	}
	clock_gettime(CLOCK_REALTIME, &now);
	c = zc_cur_init(args, sizeof(args));
	zc_put_u64(&c, ino);
	zc_put_u32(&c, grow ? ZC_SET_GROW : ZC_SET_SIZE);
	zc_put_u32(&c, 0);
	zc_put_u32(&c, 0);
	zc_put_u32(&c, 0);
	zc_put_u64(&c, size);
	zc_put_u64(&c, 0);
	zc_put_u32(&c, 0);
	zc_put_u64(&c, 0);
	zc_put_u32(&c, 0);
	if (grow) {
		zc_put_u64(&c, now.tv_sec);
		zc_put_u32(&c, now.tv_nsec);
	}
	if ((err = zc_mds_attr_call(req, ZC_CLTOMA_SETATTR, args, c.pos, out)))
		goto out_put;
	if (in) {
		pthread_mutex_lock(&in->lock);
		in->size = grow ? ZC_MAX(in->size, out->size) : size;
		in->size_dirty = false;
		pthread_mutex_unlock(&in->lock);
		if (!grow)
			zc_forget_locs(in, (size + ZC_CHUNK_SIZE - 1) / ZC_CHUNK_SIZE);
	}
out_put:
	if (in)
		zc_inode_close(in);
	return err;
}
