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
#include "common/log.h"
#include "common/pack.h"
#include "common/util.h"
#include "common/wire.h"
#include "cs.h"
#include "rpc/rpc.h"

#define HEARTBEAT_MS 1000

static const char *data_dir;
static struct sockaddr_in mds_addr, my_addr;
static uint8_t uuid[16];
static volatile sig_atomic_t stopping;
static unsigned long crc_errors;
static _Atomic unsigned long cs_cap_refusals;	/* requests refused for their capability */
static uint32_t my_id;			/* as the mds registered us */
static uint32_t scrub_rate_mib = 32;	/* background checking, MiB/s; 0: off */
static uint32_t scrub_interval_s = 30;	/* pause before each pass */

static int status_of(int err)
{
	return err == -EBADMSG ? ZC_ST_CRC : zc_errno_status(err);
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
	return zc_srv_reply(c, h, ZC_ST_DENIED, NULL, 0);
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
		return zc_srv_reply(c, h, ZC_ST_INVAL, NULL, 0);
	if ((why = cap_refused(c, &cap, id, version, ZC_CAP_READ)))
		return refuse_cap(c, h, id, why);
	ch = cs_chunk_get(id, version, false, &err);
	if (!ch)
		return zc_srv_reply(c, h, status_of(err), NULL, 0);
	err = cs_chunk_read_begin(ch, version, off, &len);
	if (err) {
		if (err == -EBADMSG)
			crc_errors++;
		zc_warn("cs: read chunk %016" PRIx64 " for %s: %s", id, c->name, strerror(-err));
		cs_chunk_put(ch);
		return zc_srv_reply(c, h, status_of(err), NULL, 0);
	}
	err = zc_srv_reply_hdr(c, h, len);
	pos = ZC_CHUNK_HDR + (off_t)off;
	while (!err && len) {
		ssize_t n = sendfile(c->fd, ch->fd, &pos, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)	/* the peer sees a short frame and drops us */
			err = n < 0 ? -errno : -EIO;
		else
			len -= n;
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
 * Chain replication: forward the write to the next replica (with the rest
 * of the chain) while writing here; answer with the status of every
 * replica from this one down, so that the client knows which missed it.
 */
static int do_write(struct zc_srv_conn *c, const struct zc_hdr *h, struct zc_cur *in)
{
	uint64_t id = zc_get_u64(in);
	uint32_t version = zc_get_u32(in), off = zc_get_u32(in), len = zc_get_u32(in);
	struct zc_cap cap;
	uint8_t nchain, st[ZC_MAX_REPLICAS], out[1 + ZC_MAX_REPLICAS];
	uint32_t ip[ZC_MAX_REPLICAS];
	uint16_t port[ZC_MAX_REPLICAS];
	uint8_t args[64 + 6 * ZC_MAX_REPLICAS];
	const char *why;
	struct zc_call fwd = { .type = ZC_CLTOCS_WRITE };
	struct zc_wait w;
	struct zc_conn *next = NULL;
	struct cs_chunk *ch;
	const uint8_t *data;
	int err = 0, n;

	zc_get_cap(in, &cap);
	nchain = zc_get_u8(in);
	for (int i = 0; i < nchain && i < ZC_MAX_REPLICAS; i++) {
		uint8_t *p = zc_cur_take(in, 4);

		ip[i] = 0;
		if (p)
			memcpy(&ip[i], p, 4);
		port[i] = zc_get_u16(in);
	}
	if (in->err || nchain >= ZC_MAX_REPLICAS || len != zc_cur_left(in) || !len ||
	    len > ZC_MAX_IO) {
		zc_warn("cs: %s: malformed WRITE (%u bytes)", c->name, h->len);
		return zc_srv_reply(c, h, ZC_ST_INVAL, NULL, 0);
	}
	if ((why = cap_refused(c, &cap, id, version, ZC_CAP_WRITE)))
		return refuse_cap(c, h, id, why);
	data = in->p + in->pos;
	n = 1 + nchain;
	memset(st, ZC_ST_AGAIN, sizeof(st));
	if (nchain) {
		struct zc_cur a = zc_cur_init(args, sizeof(args));

		zc_put_u64(&a, id);
		zc_put_u32(&a, version);
		zc_put_u32(&a, off);
		zc_put_u32(&a, len);
		zc_put_cap(&a, &cap);
		zc_put_u8(&a, nchain - 1);
		for (int i = 1; i < nchain; i++) {
			zc_put_bytes(&a, &ip[i], 4);
			zc_put_u16(&a, port[i]);
		}
		fwd.req[0] = (struct iovec){ args, a.pos };
		fwd.req[1] = (struct iovec){ (void *)data, len };
		next = peer_conn(ip[0], port[0], &err);
		if (!next || zc_call_begin(next, &fwd, &w)) {
			st[1] = ZC_ST_IO;
			zc_conn_put(next);
			next = NULL;
		}
	}
	ch = cs_chunk_get(id, version, true, &err);
	if (ch) {
		err = cs_chunk_write(ch, version, off, data, len);
		cs_chunk_put(ch);
	}
	if (err)
		zc_warn("cs: %s: write of chunk %016" PRIx64 ": %s", c->name, id, strerror(-err));
	st[0] = err ? status_of(err) : ZC_OK;
	if (next) {
		err = zc_call_end(&fwd, &w);
		if (err) {
			zc_warn("cs: forwarding chunk %016" PRIx64 " to %s: %s", id,
				zc_conn_name(next), strerror(-err));
			st[1] = ZC_ST_IO;
		} else {
			struct zc_cur r = zc_cur_init(fwd.resp, fwd.resp_len);
			uint8_t k = zc_get_u8(&r);

			for (int i = 0; i < k && i < nchain && !r.err; i++)
				st[1 + i] = zc_get_u8(&r);
			if (r.err || k != nchain)
				st[1] = ZC_ST_IO;
		}
		zc_call_free_resp(&fwd);
		zc_conn_put(next);
	}
	out[0] = n;
	memcpy(out + 1, st, n);
	return zc_srv_reply(c, h, ZC_OK, out, 1 + n);
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
		return zc_srv_reply(c, h, ZC_ST_INVAL, NULL, 0);
	}
	if (err && h->type != ZC_MATOCS_REPLICATE)
		zc_warn("cs: %s: order %u on chunk %016" PRIx64 ": %s", c->name, h->type, id,
			strerror(-err));
	return zc_srv_reply(c, h, err ? status_of(err) : ZC_OK, out, o.pos);
}

static int handle(struct zc_srv_conn *c, const struct zc_hdr *h, uint8_t *payload)
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
		return do_write(c, h, &in);
	case ZC_MATOCS_SETVERSION:
	case ZC_MATOCS_REPLICATE:
	case ZC_MATOCS_INFO:
		return do_order(c, h, &in);
	case ZC_MATOCS_DELETE:
		id = zc_get_u64(&in);
		if (in.err)
			return zc_srv_reply(c, h, ZC_ST_INVAL, NULL, 0);
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
			return zc_srv_reply(c, h, ZC_ST_INVAL, NULL, 0);
		if ((why = cap_refused(c, &cap, id, version, ZC_CAP_WRITE)))
			return refuse_cap(c, h, id, why);
		ch = cs_chunk_get(id, version, true, &err);
		if (ch) {
			err = cs_chunk_truncate(ch, version, len);
			cs_chunk_put(ch);
		}
		break;
	}
	case ZC_CLTOCS_FSYNC:
		id = zc_get_u64(&in);
		if (in.err)
			return zc_srv_reply(c, h, ZC_ST_INVAL, NULL, 0);
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
		return zc_srv_reply(c, h, ZC_ST_NOTSUP, NULL, 0);
	}
	if (err)
		zc_warn("cs: %s: request type %u on chunk %016" PRIx64 ": %s", c->name, h->type, id,
			strerror(-err));
	return zc_srv_reply(c, h, err ? status_of(err) : ZC_OK, NULL, 0);
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
			for (uint64_t us = (uint64_t)len * 1000000 / ((uint64_t)scrub_rate_mib << 20);
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

static void usage(void)
{
	fprintf(stderr, "usage: zcfs cs --dir DIR --listen ADDR:PORT --mds ADDR:PORT"
			" [--scrub-rate MIB_PER_S] [--scrub-interval S]\n"
			"               [--key-file FILE] [--log FILE] [--log-level LEVEL] [-f]\n"
			"  --key-file: the cluster key (default /etc/zcfs/cluster.key)\n");
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *listen_at = "127.0.0.1:0", *mds = NULL, *log = NULL;
	const char *key_file = "/etc/zcfs/cluster.key";
	char addr[32];
	int c, lfd, lockfd, level = ZC_LOG_INFO, err;
	socklen_t sl = sizeof(my_addr);
	long nofile;
	pthread_t hb, scrub;

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
	if (pthread_create(&hb, NULL, heartbeat_thread, NULL) ||
	    pthread_create(&scrub, NULL, scrub_thread, NULL)) {
		zc_err("cs: no heartbeat or scrubber thread");
		return 1;
	}
	zc_srv_run(lfd, handle, conn_closed, NULL);
	stopping = 1;
	pthread_join(hb, NULL);
	pthread_join(scrub, NULL);
	zc_info("cs: stopped (%lu checksum errors seen, %lu requests refused for their"
		" capability; reads checked %lu blocks and skipped %lu verified since their"
		" last write)", crc_errors, cs_cap_refusals, cs_blocks_verified, cs_blocks_skipped);
	close(lfd);
	close(lockfd);
	return 0;
}
