// SPDX-License-Identifier: MIT
/*
 * zcfs cs: the chunk server.  Serves READ straight from the page cache:
 * response header with MSG_MORE, then sendfile of the checked range.
 * Registers with the mds, reports its chunks, heartbeats, and deletes the
 * chunks the mds names in heartbeat answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pack.h"
#include "common/pipe.h"
#include "common/util.h"
#include "common/wire.h"
#include "cs.h"
#include "rpc/rpc.h"

#define HEARTBEAT_MS 1000

static const char *data_dir;
static struct sockaddr_in mds_addr, my_addr;
static uint8_t uuid[16];
static volatile sig_atomic_t stopping;
static _Atomic unsigned long crc_errors;	/* blocks found bad, by reads and the scrubber */
static _Atomic unsigned long cs_cap_refusals;	/* requests refused for their capability */
/* For /metrics: requests by type (time from the frame read to the answer
 * sent), answers by error status, bytes sent by READ and by copies
 * (WRITE's, by route, are with do_write). */
static struct zc_hist req_hist[ZC_TYPE_MAX];
static atomic_ullong req_errors[ZC_ST_MAX];
static atomic_ullong read_bytes, copy_bytes;
static struct sockaddr_in metrics_addr;	/* port 0: no metrics */
static uint32_t my_id;			/* as the mds registered us */
static uint32_t scrub_rate_mib = 32;	/* background checking, MiB/s; 0: off */
/* Pause before each pass: an hour, so that a store of small chunks is not
 * walked again and again beside the work it serves. */
static uint32_t scrub_interval_s = 3600;
/* A chunk costs its scrub an open, a look-up and a CRC setup whatever its
 * length: each counts as at least this much against the rate (4 KiB
 * chunks at 32 MiB/s: 512 a second, not 8,000). */
#define SCRUB_MIN_CHARGE (64u << 10)

static int status_of(int err)
{
	return err == -EBADMSG ? ZC_ST_CRC : zc_errno_status(err);
}

/* Every answer goes through here: error statuses are counted. */
static int reply(struct zc_srv_conn *c, const struct zc_hdr *h, int status, const void *p,
		 uint32_t len)
{
	if (status > ZC_OK && status < ZC_ST_MAX)
		atomic_fetch_add_explicit(&req_errors[status], 1, memory_order_relaxed);
	return zc_srv_reply(c, h, status, p, len);
}

/*
 * Does the request's capability let this peer do want on the chunk?  A
 * client's must have been given to its session; a chunk server passes on
 * the client's (chain) or mints its own (copies).  The last CAP_SEEN
 * capabilities that passed on a connection are kept: reads of a few
 * chunks cost one HMAC each (1.2 us, bench/RESULTS.md), not one a read.
 * Refusals are logged and answered ZC_ST_DENIED.
 */
#define CAP_SEEN 16

struct cap_seen {
	struct {
		uint64_t id;
		uint32_t version;
		struct zc_cap cap;
	} e[CAP_SEEN];
	unsigned next;		/* the slot the next one takes */
};

static bool cap_same(const struct zc_cap *a, const struct zc_cap *b)
{
	return a->rights == b->rights && a->expiry == b->expiry && a->session == b->session &&
	       !memcmp(a->mac, b->mac, ZC_CAP_MAC);
}

static const char *cap_refused(struct zc_srv_conn *c, const struct zc_cap *cap, uint64_t id,
			       uint32_t version, uint8_t want)
{
	struct cap_seen *seen = c->priv;
	uint64_t session = c->role == ZC_ROLE_CLIENT ? c->peer_session : 0;
	int err;

	if (zc_auth.role == ZC_ROLE_NONE)	/* tests of the bare handlers */
		return NULL;
	if ((cap->rights & want) != want || (uint64_t)time(NULL) > cap->expiry)
		seen = NULL;	/* zc_cap_check says why */
	for (unsigned i = 0; seen && i < CAP_SEEN; i++)
		if (seen->e[i].id == id && seen->e[i].version == version &&
		    cap_same(&seen->e[i].cap, cap))
			return NULL;
	err = zc_cap_check(cap, id, version, want, session);
	if (err) {
		cs_cap_refusals++;
		return err == -EKEYEXPIRED ? "expired" : "forged, for another session, or without"
							   " the right";
	}
	if (!c->priv && !(c->priv = calloc(1, sizeof(*seen))))
		return NULL;
	seen = c->priv;
	seen->e[seen->next].id = id;
	seen->e[seen->next].version = version;
	seen->e[seen->next].cap = *cap;
	seen->next = (seen->next + 1) % CAP_SEEN;
	return NULL;
}

static int refuse_cap(struct zc_srv_conn *c, const struct zc_hdr *h, uint64_t id,
		      const char *why)
{
	zc_warn("cs: %s: request type %u on chunk %016" PRIx64 " refused: capability %s", c->name,
		h->type, id, why);
	return reply(c, h, ZC_ST_DENIED, NULL, 0);
}

static void conn_closed(struct zc_srv_conn *c)
{
	free(c->priv);
}

static int do_read(struct zc_srv_conn *c, const struct zc_hdr *h, struct zc_cur *in)
{
	uint64_t id = zc_get_u64(in);
	uint32_t version = zc_get_u32(in), off = zc_get_u32(in), len = zc_get_u32(in);
	struct zc_cap cap;
	struct cs_chunk *ch;
	const char *why;
	off_t pos;
	int err;

	zc_get_cap(in, &cap);
	if (in->err || len > ZC_MAX_IO)
		return reply(c, h, ZC_ST_INVAL, NULL, 0);
	if ((why = cap_refused(c, &cap, id, version, ZC_CAP_READ)))
		return refuse_cap(c, h, id, why);
	ch = cs_chunk_get(id, version, false, &err);
	if (!ch)
		return reply(c, h, status_of(err), NULL, 0);
	err = cs_chunk_read_begin(ch, version, off, &len);
	if (err) {
		if (err == -EBADMSG)
			crc_errors++;
		zc_warn("cs: read chunk %016" PRIx64 " for %s: %s", id, c->name, strerror(-err));
		cs_chunk_put(ch);
		return reply(c, h, status_of(err), NULL, 0);
	}
	err = zc_srv_reply_hdr(c, h, len);
	pos = ZC_CHUNK_HDR + (off_t)off;
	while (!err && len) {
		ssize_t n = sendfile(c->fd, ch->fd, &pos, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {	/* the peer sees a short frame and drops us */
			err = n < 0 ? -errno : -EIO;
		} else {
			len -= n;
			atomic_fetch_add_explicit(&read_bytes, n, memory_order_relaxed);
		}
	}
	cs_chunk_read_end(ch);
	cs_chunk_put(ch);
	return err;
}

static struct zc_conn *peer_conn(uint32_t ip, uint16_t port, int *err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };

	sa.sin_addr.s_addr = ip;
	return zc_conn_get(&sa, err);
}

/*
 * WRITEs of at least WRITE_ZC_MIN bytes whose sender did not ask for the
 * copying route are streamed: the payload goes from the socket into a pipe
 * (splice), is duplicated for the next replica (tee) and spliced into the
 * chunk file; its checksums are computed from the page cache.  Smaller
 * ones come whole in memory, as every other request does.
 */
#define WRITE_ZC_MIN (64 * 1024)
/* A WRITE's arguments: id, version, off, len, capability, chain length,
 * then address and port of each further replica. */
#define WRITE_HEAD (8 + 4 + 4 + 4 + 1 + 8 + 8 + ZC_CAP_MAC + 1)

/* Bytes written by WRITE (ours of a chain), by route. */
static atomic_ullong write_zc_bytes, write_copy_bytes;

static bool stream_write(const struct zc_hdr *h)
{
	return h->type == ZC_CLTOCS_WRITE && !(h->flags & ZC_F_COPY) && h->len >= WRITE_ZC_MIN;
}

struct write_args {
	uint64_t id;
	uint32_t version, off, len;
	struct zc_cap cap;
	uint8_t nchain;
	uint32_t ip[ZC_MAX_REPLICAS];
	uint16_t port[ZC_MAX_REPLICAS];
};

static void get_write_args(struct zc_cur *in, struct write_args *a)
{
	a->id = zc_get_u64(in);
	a->version = zc_get_u32(in);
	a->off = zc_get_u32(in);
	a->len = zc_get_u32(in);
	zc_get_cap(in, &a->cap);
	a->nchain = zc_get_u8(in);
	if (a->nchain >= ZC_MAX_REPLICAS)
		in->err = true;
	for (int i = 0; i < a->nchain && !in->err; i++) {
		uint8_t *p = zc_cur_take(in, 4);

		if (p)
			memcpy(&a->ip[i], p, 4);
		a->port[i] = zc_get_u16(in);
	}
}

/* A WRITE's bytes: in memory (buf), or in a pipe (p: zero-copy). */
struct write_data {
	const uint8_t *buf;
	struct zpipe *p;
	uint8_t *own;		/* buf, when allocated here */
};

/* Moves the data to memory: the first have of its len bytes from the pipe
 * (the rest, if any, the caller receives into own + have). */
static int data_to_memory(struct write_data *d, uint32_t have, uint32_t len)
{
	int err = 0;

	d->buf = d->own = malloc(len);
	if (!d->own)
		return -ENOMEM;
	if (have)
		err = zc_read_full(d->p->fd[0], d->own, have);
	zc_pipe_put(d->p);
	d->p = NULL;
	return err;
}

/* A streamed WRITE's arguments, straight from the socket. */
static int recv_write_args(struct zc_srv_conn *c, struct zc_cur *in, uint8_t *raw)
{
	uint32_t more;
	int err = zc_srv_recv(c, raw, WRITE_HEAD);

	if (err)
		return err;
	/* A chain too long is refused once parsed. */
	more = raw[WRITE_HEAD - 1] < ZC_MAX_REPLICAS ? 6 * raw[WRITE_HEAD - 1] : 0;
	err = zc_srv_recv(c, raw + WRITE_HEAD, more);
	*in = zc_cur_init(raw, WRITE_HEAD + more);
	return err;
}

/* A streamed WRITE's len bytes, from the socket into a pipe; into memory
 * when no pipe can be had or it fills up. */
static int recv_write_data(struct zc_srv_conn *c, uint32_t len, struct write_data *d)
{
	size_t got = 0;
	int err = -ENOBUFS;

	d->p = zc_pipe_get();
	if (d->p)
		err = zc_srv_splice(c, d->p->fd[1], len, &got);
	if (err != -ENOBUFS)
		return err;
	err = data_to_memory(d, got, len);
	return err ? err : zc_srv_recv(c, d->own + got, len - got);
}

/*
 * Chain replication: forward the write to the next replica (with the rest
 * of the chain) while writing here; answer with the status of every
 * replica from this one down, so that the client knows which missed it.
 * in holds the whole request, or is NULL for a streamed one.
 */
static int do_write(struct zc_srv_conn *c, const struct zc_hdr *h, struct zc_cur *in)
{
	uint8_t raw[WRITE_HEAD + 6 * ZC_MAX_REPLICAS], st[ZC_MAX_REPLICAS];
	uint8_t out[1 + ZC_MAX_REPLICAS], args[64 + 6 * ZC_MAX_REPLICAS];
	struct write_args a;
	struct write_data d = { 0 };
	struct zc_call fwd = { .type = ZC_CLTOCS_WRITE, .flags = h->flags & ZC_F_COPY };
	struct zc_cur sin;
	struct zc_wait w;
	struct zc_conn *next = NULL;
	struct zpipe *q = NULL;
	struct cs_chunk *ch;
	const char *why;
	uint32_t left;
	int err = 0, n;

	if (!in && (err = recv_write_args(c, in = &sin, raw)))
		return err;
	get_write_args(in, &a);
	left = in == &sin ? c->left : zc_cur_left(in);
	if (in->err || a.len != left || !a.len || a.len > ZC_MAX_IO) {
		zc_warn("cs: %s: malformed WRITE (%u bytes)", c->name, h->len);
		return reply(c, h, ZC_ST_INVAL, NULL, 0);
	}
	if ((why = cap_refused(c, &a.cap, a.id, a.version, ZC_CAP_WRITE)))
		return refuse_cap(c, h, a.id, why);
	if (in != &sin)
		d.buf = in->p + in->pos;
	else if ((err = recv_write_data(c, a.len, &d)))
		goto out;
	n = 1 + a.nchain;
	memset(st, ZC_ST_AGAIN, sizeof(st));
	if (a.nchain) {
		struct zc_cur o = zc_cur_init(args, sizeof(args));

		zc_put_u64(&o, a.id);
		zc_put_u32(&o, a.version);
		zc_put_u32(&o, a.off);
		zc_put_u32(&o, a.len);
		zc_put_cap(&o, &a.cap);
		zc_put_u8(&o, a.nchain - 1);
		for (int i = 1; i < a.nchain; i++) {
			zc_put_bytes(&o, &a.ip[i], 4);
			zc_put_u16(&o, a.port[i]);
		}
		/* The next replica gets its own duplicate of the pipe's pages. */
		if (d.p && !(q = zc_pipe_tee(d.p->fd[0], a.len)) &&
		    (err = data_to_memory(&d, a.len, a.len)))
			goto out;
		fwd.req[0] = (struct iovec){ args, o.pos };
		fwd.req[1] = (struct iovec){ (void *)d.buf, a.len };
		fwd.req_pipe = q ? q->fd[0] : 0;
		next = peer_conn(a.ip[0], a.port[0], &err);
		if (!next || zc_call_begin(next, &fwd, &w)) {
			st[1] = ZC_ST_IO;
			zc_conn_put(next);
			next = NULL;
		}
		zc_pipe_put(q);	/* emptied by the send, or closed */
	}
	ch = cs_chunk_get(a.id, a.version, true, &err);
	if (ch) {
		err = d.p ? cs_chunk_write_pipe(ch, a.version, a.off, d.p->fd[0], a.len)
			  : cs_chunk_write(ch, a.version, a.off, d.buf, a.len);
		cs_chunk_put(ch);
		if (!err)
			atomic_fetch_add_explicit(d.p ? &write_zc_bytes : &write_copy_bytes, a.len,
						  memory_order_relaxed);
	}
	if (err)
		zc_warn("cs: %s: write of chunk %016" PRIx64 ": %s", c->name, a.id, strerror(-err));
	st[0] = err ? status_of(err) : ZC_OK;
	if (next) {
		err = zc_call_end(&fwd, &w);
		if (err) {
			zc_warn("cs: forwarding chunk %016" PRIx64 " to %s: %s", a.id,
				zc_conn_name(next), strerror(-err));
			st[1] = ZC_ST_IO;
		} else {
			struct zc_cur r = zc_cur_init(fwd.resp, fwd.resp_len);
			uint8_t k = zc_get_u8(&r);

			for (int i = 0; i < k && i < a.nchain && !r.err; i++)
				st[1 + i] = zc_get_u8(&r);
			if (r.err || k != a.nchain)
				st[1] = ZC_ST_IO;
		}
		zc_call_free_resp(&fwd);
		zc_conn_put(next);
	}
	out[0] = n;
	memcpy(out + 1, st, n);
	err = reply(c, h, ZC_OK, out, 1 + n);
out:
	zc_pipe_put(d.p);	/* emptied into the file, or closed */
	free(d.own);
	return err;
}

/* Copies a chunk from another replica, at most rate MiB/s. */
static int replicate(uint64_t id, uint32_t version, uint32_t ip, uint16_t port, uint32_t rate)
{
	uint8_t args[64], *buf;
	struct zc_cap cap;
	struct zc_cur a = zc_cur_init(args, sizeof(args));
	struct zc_call call = { .type = ZC_MATOCS_INFO, .timeout_ms = 10000 };
	struct zc_conn *src;
	struct cs_chunk *ch = NULL;
	uint32_t len = 0, done = 0;
	uint64_t start = zc_now_ns();
	int err;

	src = peer_conn(ip, port, &err);
	if (!src)
		return err;
	zc_put_u64(&a, id);
	zc_put_u32(&a, version);
	call.req[0] = (struct iovec){ args, a.pos };
	err = zc_call_sync(src, &call);
	if (!err) {
		struct zc_cur r = zc_cur_init(call.resp, call.resp_len);

		len = zc_get_u32(&r);
		if (r.err || len > ZC_CHUNK_SIZE)
			err = -EPROTO;
	}
	zc_call_free_resp(&call);
	buf = malloc(ZC_MAX_IO);
	if (err || !buf)
		goto out;
	/* Reads of a copy carry a capability of our own making (we hold the
	 * cluster key), good for the copy's timeout. */
	zc_cap_mint(&cap, id, version, ZC_CAP_READ, (uint64_t)time(NULL) + 3600, 0);
	cs_chunk_delete(id);	/* an old copy of ours is stale */
	ch = cs_chunk_get(id, version, true, &err);
	if (!ch)
		goto out;
	if (!len)
		err = cs_chunk_truncate(ch, version, 0);
	while (!err && done < len) {
		uint32_t n = ZC_MIN(ZC_MAX_IO, len - done);
		struct zc_call rd = { .type = ZC_CLTOCS_READ, .dest = buf, .dest_cap = n,
				      .timeout_ms = 10000 };
		uint64_t due;

		a = zc_cur_init(args, sizeof(args));
		zc_put_u64(&a, id);
		zc_put_u32(&a, version);
		zc_put_u32(&a, done);
		zc_put_u32(&a, n);
		zc_put_cap(&a, &cap);
		rd.req[0] = (struct iovec){ args, a.pos };
		err = zc_call_sync(src, &rd);
		if (!err && rd.resp_len != n)
			err = -EIO;
		if (!err)
			err = cs_chunk_write(ch, version, done, buf, n);
		if (!err)
			atomic_fetch_add_explicit(&copy_bytes, n, memory_order_relaxed);
		done += n;
		/* Keep to the rate: recovery must not starve clients. */
		due = start + (uint64_t)done * 1000000000ULL / ((uint64_t)ZC_MAX(rate, 1) << 20);
		if (!err && zc_now_ns() < due)
			usleep((due - zc_now_ns()) / 1000);
	}
	if (!err)
		err = cs_chunk_sync(ch);
out:
	if (ch)
		cs_chunk_put(ch);
	if (err && ch)
		cs_chunk_delete(id);
	free(buf);
	zc_conn_put(src);
	return err;
}

/* Orders from the mds about one chunk. */
static int do_order(struct zc_srv_conn *c, const struct zc_hdr *h, struct zc_cur *in)
{
	uint64_t id = zc_get_u64(in);
	uint32_t v1 = zc_get_u32(in), v2, rate, len = 0, digest = 0;
	uint8_t out[8], *ipb;
	struct zc_cur o = zc_cur_init(out, sizeof(out));
	struct cs_chunk *ch;
	uint32_t ip = 0;
	uint16_t port;
	int err = 0;

	switch (h->type) {
	case ZC_MATOCS_SETVERSION:
		v2 = zc_get_u32(in);
		if (in->err)
			break;
		ch = cs_chunk_get(id, v1, false, &err);
		if (ch) {
			err = cs_chunk_set_version(ch, v2);
			cs_chunk_put(ch);
		} else if (err == -ENOENT) {
			err = 0;	/* nothing written here yet: nothing to move */
		}
		break;
	case ZC_MATOCS_REPLICATE:
		ipb = zc_cur_take(in, 4);
		if (ipb)
			memcpy(&ip, ipb, 4);
		port = zc_get_u16(in);
		rate = zc_get_u32(in);
		if (in->err)
			break;
		err = replicate(id, v1, ip, port, rate);
		zc_info("cs: copy of chunk %016" PRIx64 " v%u from the mds's order: %s", id, v1,
			err ? strerror(-err) : "done");
		break;
	case ZC_MATOCS_INFO:
		if (in->err)
			break;
		ch = cs_chunk_get(id, v1, false, &err);
		if (ch) {
			err = cs_chunk_info(ch, v1, &len, &digest);
			cs_chunk_put(ch);
		}
		zc_put_u32(&o, len);
		zc_put_u32(&o, digest);
		break;
	}
	if (in->err) {
		zc_warn("cs: %s: malformed order type %u", c->name, h->type);
		return reply(c, h, ZC_ST_INVAL, NULL, 0);
	}
	if (err && h->type != ZC_MATOCS_REPLICATE)
		zc_warn("cs: %s: order %u on chunk %016" PRIx64 ": %s", c->name, h->type, id,
			strerror(-err));
	return reply(c, h, err ? status_of(err) : ZC_OK, out, o.pos);
}

static int serve(struct zc_srv_conn *c, const struct zc_hdr *h, uint8_t *payload)
{
	struct zc_cur in = zc_cur_init(payload, h->len);
	struct cs_chunk *ch;
	uint64_t id;
	uint32_t version, len;
	int err = 0;

	switch (h->type) {
	case ZC_CLTOCS_READ:
		return do_read(c, h, &in);
	case ZC_CLTOCS_WRITE:
		/* Streamed (zc_srv_stream): the payload is still in the socket. */
		return do_write(c, h, c->left ? NULL : &in);
	case ZC_MATOCS_SETVERSION:
	case ZC_MATOCS_REPLICATE:
	case ZC_MATOCS_INFO:
		return do_order(c, h, &in);
	case ZC_MATOCS_DELETE:
		id = zc_get_u64(&in);
		if (in.err)
			return reply(c, h, ZC_ST_INVAL, NULL, 0);
		err = cs_chunk_delete(id);
		if (err == -ENOENT)
			err = 0;
		break;
	case ZC_CLTOCS_TRUNCATE: {
		struct zc_cap cap;
		const char *why;

		id = zc_get_u64(&in);
		version = zc_get_u32(&in);
		len = zc_get_u32(&in);
		zc_get_cap(&in, &cap);
		if (in.err)
			return reply(c, h, ZC_ST_INVAL, NULL, 0);
		if ((why = cap_refused(c, &cap, id, version, ZC_CAP_WRITE)))
			return refuse_cap(c, h, id, why);
		ch = cs_chunk_get(id, version, true, &err);
		if (ch) {
			err = (len & ZC_TRUNC_GROW) ? cs_chunk_grow(ch, version, len & ~ZC_TRUNC_GROW)
						    : cs_chunk_truncate(ch, version, len);
			cs_chunk_put(ch);
		}
		break;
	}
	case ZC_CLTOCS_FSYNC:
		id = zc_get_u64(&in);
		if (in.err)
			return reply(c, h, ZC_ST_INVAL, NULL, 0);
		ch = cs_chunk_get(id, 0, false, &err);
		if (ch) {
			err = cs_chunk_sync(ch);
			cs_chunk_put(ch);
		} else if (err == -ENOENT) {
			err = 0;	/* nothing written, nothing to sync */
		}
		break;
	default:
		zc_warn("cs: %s: unknown request type %u", c->name, h->type);
		return reply(c, h, ZC_ST_NOTSUP, NULL, 0);
	}
	if (err)
		zc_warn("cs: %s: request type %u on chunk %016" PRIx64 ": %s", c->name, h->type, id,
			strerror(-err));
	return reply(c, h, err ? status_of(err) : ZC_OK, NULL, 0);
}

static int handle(struct zc_srv_conn *c, const struct zc_hdr *h, uint8_t *payload)
{
	uint64_t t0 = zc_now_ns();
	int ret = serve(c, h, payload);

	if (h->type < ZC_TYPE_MAX)
		zc_hist_add(&req_hist[h->type], zc_now_ns() - t0);
	return ret;
}

int cs_serve(struct zc_srv_conn *c, const struct zc_hdr *h, uint8_t *payload)
{
	return handle(c, h, payload);
}

void cs_serve_end(struct zc_srv_conn *c)
{
	conn_closed(c);
}

/* ---- talking to the mds ---- */

static void space(uint64_t *total, uint64_t *avail)
{
	struct statvfs sv;

	*total = *avail = 0;
	if (!statvfs(data_dir, &sv)) {
		*total = (uint64_t)sv.f_blocks * sv.f_frsize;
		*avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	}
}

static int mds_call(uint16_t type, void *req, size_t len, struct zc_call *call)
{
	struct zc_conn *conn;
	int err;

	memset(call, 0, sizeof(*call));
	call->type = type;
	call->req[0] = (struct iovec){ req, len };
	call->timeout_ms = 10000;
	conn = zc_conn_get(&mds_addr, &err);
	if (!conn)
		return err;
	err = zc_call_sync(conn, call);
	zc_conn_put(conn);
	return err;
}

/* Deletes the chunks listed as n:32 then n times chunk_id:64, or with
 * versioned, n times (chunk_id:64 version:32): then a copy newer than
 * that version (made since the order was given) stays. */
static void delete_listed(struct zc_cur *in, bool versioned)
{
	uint32_t n = zc_get_u32(in), done = 0;

	for (uint32_t i = 0; i < n && !in->err; i++) {
		uint64_t id = zc_get_u64(in);
		uint32_t upto = versioned ? zc_get_u32(in) : UINT32_MAX;
		struct cs_chunk *ch;
		int err;

		if (in->err)
			break;
		ch = cs_chunk_get(id, 0, false, &err);
		if (ch) {
			bool newer = ch->version > upto;

			cs_chunk_put(ch);
			if (newer)
				continue;
		}
		err = cs_chunk_delete(id);
		if (err && err != -ENOENT)
			zc_warn("cs: delete chunk %016" PRIx64 ": %s", id, strerror(-err));
		done += !err;
	}
	if (done)
		zc_info("cs: deleted %u chunks on the mds's order", done);
}

/* Applies the version fixes listed as n:32 then n times (chunk_id:64
 * version:32): replicas the mds counts as current but which missed a bump
 * (an mds restart between its record and its order). */
static void fix_versions(struct zc_cur *in)
{
	uint32_t n = zc_get_u32(in);

	for (uint32_t i = 0; i < n && !in->err; i++) {
		uint64_t id = zc_get_u64(in);
		uint32_t v = zc_get_u32(in);
		struct cs_chunk *ch;
		int err;

		if (in->err)
			break;
		ch = cs_chunk_get(id, v, false, &err);
		if (!ch)
			continue;
		err = cs_chunk_set_version(ch, v);
		cs_chunk_put(ch);
		zc_info("cs: chunk %016" PRIx64 " to version %u on the mds's word: %s", id, v,
			err ? strerror(-err) : "done");
	}
}

struct scan {
	uint64_t *ids;
	size_t n, cap;
};

static void add_id(uint64_t id, uint32_t version, void *arg)
{
	struct scan *sc = arg;

	(void)version;
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 1024;
		uint64_t *n = realloc(sc->ids, cap * sizeof(*n));

		if (!n)
			return;
		sc->ids = n;
		sc->cap = cap;
	}
	sc->ids[sc->n++] = id;
}

/*
 * The scrubber: re-reads every chunk at a limited rate and tells the mds
 * about checksum errors, so that bad replicas are replaced before a client
 * needs them.
 */
static void *scrub_thread(void *arg)
{
	(void)arg;
	while (!stopping) {
		struct scan sc = { 0 };

		for (uint32_t i = 0; i < scrub_interval_s && !stopping; i++)
			sleep(1);
		if (!scrub_rate_mib || !my_id)
			continue;
		cs_chunk_scan(add_id, &sc);
		for (size_t i = 0; i < sc.n && !stopping; i++) {
			struct cs_chunk *ch;
			uint32_t len;
			int err;

			ch = cs_chunk_get(sc.ids[i], 0, false, &err);
			if (!ch)
				continue;
			len = ch->len;
			err = cs_chunk_scrub(ch);
			cs_chunk_put_cold(ch);	/* looked at once: not worth a place */
			if (err == -EBADMSG) {
				uint8_t req[12];
				struct zc_cur c = zc_cur_init(req, sizeof(req));
				struct zc_call call;

				crc_errors++;
				zc_err("cs: scrub: chunk %016" PRIx64 " is damaged; telling the mds",
				       sc.ids[i]);
				zc_put_u32(&c, my_id);
				zc_put_u64(&c, sc.ids[i]);
				if (!mds_call(ZC_CSTOMA_CHUNK_BAD, req, c.pos, &call))
					zc_call_free_resp(&call);
			}
			/* Keep to the rate, in slices so that a stop is not held up. */
			for (uint64_t us = (uint64_t)ZC_MAX(len, SCRUB_MIN_CHARGE) * 1000000 /
					   ((uint64_t)scrub_rate_mib << 20);
			     us && !stopping; us -= ZC_MIN(us, 100000))
				usleep(ZC_MIN(us, 100000));
		}
		free(sc.ids);
	}
	return NULL;
}

struct report {
	uint8_t *buf;		/* (chunk_id:64 version:32) per chunk */
	size_t n, cap;
};

static void add_report(uint64_t id, uint32_t version, void *arg)
{
	struct report *r = arg;
	struct zc_cur c;

	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 4096;
		uint8_t *nb = realloc(r->buf, cap * 12);

		if (!nb)
			return;	/* reported next time */
		r->buf = nb;
		r->cap = cap;
	}
	c = zc_cur_init(r->buf + 12 * r->n++, 12);
	zc_put_u64(&c, id);
	zc_put_u32(&c, version);
}

/* Reports every chunk, in pages; the mds answers each page with the
 * chunks it does not know (deleted here) and versions to fix. */
static int report(uint32_t id)
{
	struct report r = { 0 };
	uint8_t *page = malloc(8 + 12 * ZC_REPORT_PAGE);
	uint64_t start = zc_now_ns();
	size_t done = 0, pages = 0;
	int err = page ? 0 : -ENOMEM;

	if (!err)
		err = cs_chunk_scan(add_report, &r);
	while (!err && (done < r.n || !pages)) {
		size_t n = ZC_MIN(r.n - done, ZC_REPORT_PAGE);
		struct zc_cur c = zc_cur_init(page, 8 + 12 * n);
		struct zc_call call;

		zc_put_u32(&c, id);
		zc_put_u32(&c, n);
		zc_put_bytes(&c, r.buf + 12 * done, 12 * n);
		err = mds_call(ZC_CSTOMA_REPORT, page, c.pos, &call);
		if (!err) {
			struct zc_cur in = zc_cur_init(call.resp, call.resp_len);

			delete_listed(&in, false);
			fix_versions(&in);
			zc_call_free_resp(&call);
		}
		done += n;
		pages++;
	}
	if (!err)
		zc_info("cs: registered with the mds as chunk server %u, %zu chunks reported in"
			" %zu pages in %llu ms", id, r.n, pages,
			(unsigned long long)((zc_now_ns() - start) / 1000000));
	free(r.buf);
	free(page);
	return err;
}

static int register_cs(uint32_t *id)
{
	uint8_t req[64];
	struct zc_cur c = zc_cur_init(req, sizeof(req));
	struct zc_call call;
	uint64_t total, avail;
	int err;

	space(&total, &avail);
	zc_put_bytes(&c, uuid, sizeof(uuid));
	zc_put_bytes(&c, &my_addr.sin_addr.s_addr, 4);
	zc_put_u16(&c, ntohs(my_addr.sin_port));
	zc_put_u64(&c, total);
	zc_put_u64(&c, avail);
	if (metrics_addr.sin_port) {
		zc_put_bytes(&c, &metrics_addr.sin_addr.s_addr, 4);
		zc_put_u16(&c, ntohs(metrics_addr.sin_port));
	}
	err = mds_call(ZC_CSTOMA_REGISTER, req, c.pos, &call);
	if (err)
		return err;
	c = zc_cur_init(call.resp, call.resp_len);
	*id = zc_get_u32(&c);
	zc_call_free_resp(&call);
	return c.err ? -EPROTO : report(*id);
}

static void *heartbeat_thread(void *arg)
{
	uint32_t id = 0;
	unsigned backoff_ms = HEARTBEAT_MS;
	bool registered = false;

	(void)arg;
	while (!stopping) {
		uint8_t req[32];
		struct zc_cur c = zc_cur_init(req, sizeof(req));
		struct zc_call call;
		uint64_t total, avail;
		int err;

		if (!registered) {
			err = register_cs(&id);
			if (err) {
				/* Each try walks the whole folder: back off. */
				zc_warn("cs: cannot register with the mds: %s (next try in %u ms)",
					strerror(-err), backoff_ms);
				for (unsigned ms = 0; ms < backoff_ms && !stopping; ms += 100)
					usleep(100000);
				backoff_ms = ZC_MIN(backoff_ms * 2, 5000);
				continue;
			}
			registered = true;
			backoff_ms = HEARTBEAT_MS;
			my_id = id;
		}
		space(&total, &avail);
		zc_put_u32(&c, id);
		zc_put_u64(&c, total);
		zc_put_u64(&c, avail);
		zc_put_u32(&c, cs_chunk_count());
		err = mds_call(ZC_CSTOMA_HEARTBEAT, req, c.pos, &call);
		if (err) {
			/* A restarted mds does not know us until we register again. */
			zc_warn("cs: heartbeat failed: %s", strerror(-err));
			registered = false;
		} else {
			struct zc_cur in = zc_cur_init(call.resp, call.resp_len);

			delete_listed(&in, true);
			zc_call_free_resp(&call);
		}
		usleep(HEARTBEAT_MS * 1000);
	}
	return NULL;
}

/* ---- metrics (GET /metrics, README "Metrics and zcfs top") ---- */

static void render_metrics(struct zc_mbuf *b)
{
	uint64_t total, avail;

	space(&total, &avail);
	zc_metrics_type_hists(b, "zcfs_cs_request_duration_seconds",
			      "Requests served, by message type: time from the frame read to the"
			      " answer sent.", req_hist, ZC_TYPE_MAX);
	zc_metrics_statuses(b, "zcfs_cs_request_errors_total",
			    "Requests answered with an error, by wire status.", req_errors);
	zc_metrics_one(b, "zcfs_cs_read_bytes_total", "counter",
		       "Bytes sent by READ (sendfile from the page cache).", read_bytes);
	zc_metrics_family(b, "zcfs_cs_write_bytes_total", "counter",
			  "Bytes written here by WRITE (this server's part of a chain), by route:"
			  " spliced from the socket into the file, or received into memory.");
	zc_metrics_u64(b, "zcfs_cs_write_bytes_total", "route=\"zerocopy\"", write_zc_bytes);
	zc_metrics_u64(b, "zcfs_cs_write_bytes_total", "route=\"copy\"", write_copy_bytes);
	zc_metrics_one(b, "zcfs_cs_copy_bytes_total", "counter",
		       "Bytes copied here from other replicas (re-replication).", copy_bytes);
	zc_metrics_family(b, "zcfs_cs_errors_total", "counter",
			  "Errors by kind: blocks failing their CRC32C (reads and the scrubber),"
			  " requests refused for their capability.");
	zc_metrics_u64(b, "zcfs_cs_errors_total", "kind=\"checksum\"", crc_errors);
	zc_metrics_u64(b, "zcfs_cs_errors_total", "kind=\"capability\"", cs_cap_refusals);
	zc_metrics_rpc_errors(b, "zcfs_cs");
	zc_metrics_family(b, "zcfs_cs_blocks_checked_total", "counter",
			  "Blocks reads covered: checked, or skipped as verified since their last"
			  " write.");
	zc_metrics_u64(b, "zcfs_cs_blocks_checked_total", "result=\"verified\"",
		       cs_blocks_verified);
	zc_metrics_u64(b, "zcfs_cs_blocks_checked_total", "result=\"skipped\"",
		       cs_blocks_skipped);
	zc_metrics_one(b, "zcfs_cs_chunks", "gauge",
		       "Chunks held.", cs_chunk_count());
	zc_metrics_one(b, "zcfs_cs_open_chunk_files", "gauge",
		       "Chunk files open in the chunk table (in use and cached).",
		       cs_chunk_cached());
	zc_metrics_one(b, "zcfs_cs_connections", "gauge",
		       "Connections served (clients, other chunk servers, the mds).",
		       zc_srv_conns());
	zc_metrics_one(b, "zcfs_cs_disk_total_bytes", "gauge",
		       "Size of the file system holding the chunks.", total);
	zc_metrics_one(b, "zcfs_cs_disk_free_bytes", "gauge",
		       "Space left there for chunks.", avail);
	zc_metrics_one(b, "zcfs_cs_registered", "gauge",
		       "The id the mds registered this server under (0: not yet).", my_id);
}

/* ---- main ---- */

static int load_uuid(const char *dir)
{
	char path[4200];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/uuid", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		err = zc_read_full(fd, uuid, sizeof(uuid));
		close(fd);
		return err;
	}
	if (getrandom(uuid, sizeof(uuid), 0) != sizeof(uuid))
		return -EIO;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	err = zc_write_full(fd, uuid, sizeof(uuid));
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
	zc_srv_stop();
}

/* Serves /metrics at addr.  Returns 0 or -errno, logged. */
static int metrics_start(const char *addr)
{
	char url[64];
	int fd = zc_metrics_listen(addr, &metrics_addr), err;

	if (fd < 0) {
		zc_err("cs: cannot serve metrics on %s: %s", addr, strerror(-fd));
		return fd;
	}
	err = zc_metrics_serve(fd, render_metrics);
	if (err) {
		close(fd);
		zc_err("cs: cannot serve metrics on %s: %s", addr, strerror(-err));
		memset(&metrics_addr, 0, sizeof(metrics_addr));
		return err;
	}
	zc_metrics_url(metrics_addr.sin_addr.s_addr, ntohs(metrics_addr.sin_port), url,
		       sizeof(url));
	zc_info("cs: metrics at %s", url);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: zcfs cs --dir DIR --listen ADDR:PORT --mds ADDR:PORT"
			" [--scrub-rate MIB_PER_S] [--scrub-interval S]\n"
			"               [--key-file FILE] [--log FILE] [--log-level LEVEL]"
			" [--metrics ADDR:PORT] [--config FILE] [-f]\n"
			"  --scrub-rate: how fast the scrubber re-reads chunks (default 32;"
			" 0: never)\n"
			"  --scrub-interval: the pause before each of its passes (default 3600)\n"
			"  --key-file: the cluster key (default /etc/zcfs/cluster.key)\n"
			"  --metrics: serve Prometheus metrics at http://ADDR:PORT/metrics\n"
			"  --config: options from section [cs] of this file (default"
			" /etc/zcfs/zcfs.conf)\n");
}

int zc_cmd_cs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "mds", required_argument, NULL, 'm' },
		{ "log", required_argument, NULL, 'L' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "scrub-rate", required_argument, NULL, 's' },
		{ "scrub-interval", required_argument, NULL, 'S' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static struct zc_args ca;	/* the options point into it */
	const char *listen_at = "127.0.0.1:0", *mds = NULL, *log = NULL, *metrics_at = NULL;
	const char *key_file = "/etc/zcfs/cluster.key";
	char addr[32];
	int c, lfd, lockfd, level = ZC_LOG_INFO, err;
	socklen_t sl = sizeof(my_addr);
	long nofile;
	pthread_t hb, scrub;

	if (zc_config_args("cs", opts, "fh", NULL, argc, argv, &ca))
		return 2;
	argc = ca.argc;
	argv = ca.argv;

	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data_dir = optarg; break;
		case 'l': listen_at = optarg; break;
		case 'm': mds = optarg; break;
		case 'L': log = optarg; break;
		case 'v': level = zc_log_parse_level(optarg); break;
		case 's': scrub_rate_mib = atoi(optarg); break;
		case 'S': scrub_interval_s = atoi(optarg); break;
		case 'k': key_file = optarg; break;
		case 'M': metrics_at = optarg; break;
		case 'f': break;
		default: usage(); return c == 'h' ? 0 : 2;
		}
	}
	if (!data_dir || !mds || level < 0 || zc_parse_addr(listen_at, &my_addr) ||
	    zc_parse_addr(mds, &mds_addr)) {
		usage();
		return 2;
	}
	if (zc_log_init("cs", level, log)) {
		fprintf(stderr, "cs: cannot open log %s\n", log);
		return 1;
	}
	if (zc_auth_server(ZC_ROLE_CS, key_file)) {
		zc_err("cs: no usable cluster key in %s", key_file);
		return 1;
	}
	mkdir(data_dir, 0755);
	lockfd = zc_lock_dir(data_dir);
	if (lockfd < 0) {
		zc_err("cs: cannot lock %s: %s", data_dir,
		       lockfd == -EBUSY ? "another chunk server uses it" : strerror(-lockfd));
		return 1;
	}
	if ((err = load_uuid(data_dir)) || (err = cs_chunk_init(data_dir))) {
		zc_err("cs: cannot set up %s: %s", data_dir, strerror(-err));
		return 1;
	}
	lfd = zc_tcp_listen(&my_addr);
	if (lfd < 0) {
		zc_err("cs: cannot listen on %s: %s", listen_at, strerror(-lfd));
		return 1;
	}
	getsockname(lfd, (struct sockaddr *)&my_addr, &sl);
	/* Half the descriptors for chunk files, a quarter for connections to
	 * us; the rest for ours to others, pipes and the folder walk. */
	nofile = zc_raise_nofile("cs");
	cs_chunk_max = ZC_MAX(16, ZC_MIN(nofile / 2, 4096));
	zc_srv_max_conns = ZC_MAX(8, ZC_MIN(nofile / 4, 4096));
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	zc_info("cs: serving %s on %s, mds %s; up to %u chunk files open, %u connections",
		data_dir, zc_fmt_addr(&my_addr, addr, sizeof(addr)), mds, cs_chunk_max,
		zc_srv_max_conns);
	/* Before registering: the mds hears of the endpoint then. */
	if (metrics_at && metrics_start(metrics_at))
		return 1;
	if (pthread_create(&hb, NULL, heartbeat_thread, NULL) ||
	    pthread_create(&scrub, NULL, scrub_thread, NULL)) {
		zc_err("cs: no heartbeat or scrubber thread");
		return 1;
	}
	zc_srv_stream = stream_write;
	zc_srv_run(lfd, handle, conn_closed, NULL);
	stopping = 1;
	pthread_join(hb, NULL);
	pthread_join(scrub, NULL);
	zc_metrics_stop();
	zc_info("cs: stopped (%lu checksum errors seen, %lu requests refused for their"
		" capability; reads checked %lu blocks and skipped %lu verified since their"
		" last write; writes: %llu bytes spliced, %llu copied)", crc_errors,
		cs_cap_refusals, cs_blocks_verified, cs_blocks_skipped,
		(unsigned long long)write_zc_bytes, (unsigned long long)write_copy_bytes);
	close(lfd);
	close(lockfd);
	return 0;
}
