// SPDX-License-Identifier: MIT
/*
 * What the client knows of its open files: the table of open inodes (one
 * per inode, shared by every handle of it, with the size and mtime written
 * here and not yet told to the mds) and each inode's cache of chunk
 * locations (the layouts the mds gave out, with their capabilities), plus
 * the chunk servers' read latencies that order a layout's replicas; and
 * the attributes kept from the mds's answers to changes, for the GETATTR
 * the kernel sends because of them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_i.h"
#include "common/log.h"
#include "common/util.h"

#define INODE_BUCKETS 256

static pthread_mutex_t inodes_lock = PTHREAD_MUTEX_INITIALIZER;
static struct zc_inode *inodes[INODE_BUCKETS];

/* ---- open inodes ---- */

/* The table's entry for ino, or NULL.  inodes_lock held. */
static struct zc_inode *lookup(uint64_t ino)
{
	struct zc_inode *in;

	for (in = inodes[ino % INODE_BUCKETS]; in; in = in->next)
		if (in->ino == ino)
			break;
	return in;
}

struct zc_inode *zc_inode_open(uint64_t ino)
{
	struct zc_inode *in;

	pthread_mutex_lock(&inodes_lock);
	in = lookup(ino);
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

void zc_inode_opened(struct zc_inode *in, uint64_t size, bool truncated, bool writing)
{
	pthread_mutex_lock(&in->lock);
	/* Its chunk 0 may have been placed and never written: write.c,
	 * make_chunk0. */
	in->unwritten0 |= writing && !size;
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
	in = lookup(ino);
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

int zc_fetch_loc(fuse_req_t req, struct zc_inode *in, uint32_t idx, bool alloc, bool fresh,
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

int zc_report_failed(fuse_req_t req, struct zc_inode *in, uint32_t idx, const struct zc_loc *l,
		     const uint32_t *cs, int n, int reason, struct zc_loc *out)
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

void zc_order_replicas(struct zc_loc *l)
{
	for (int i = 1; i < l->nrep; i++)
		for (int j = i; j > 0 && atomic_load(&lat_us[l->rep[j].cs_id & 255]) <
					atomic_load(&lat_us[l->rep[j - 1].cs_id & 255]); j--) {
			struct zc_replica t = l->rep[j];

			l->rep[j] = l->rep[j - 1];
			l->rep[j - 1] = t;
		}
}

void zc_note_latency(uint32_t cs_id, uint64_t ns)
{
	unsigned old = atomic_load(&lat_us[cs_id & 255]), now = ns / 1000;

	atomic_store(&lat_us[cs_id & 255], old ? (old * 7 + now) / 8 : ZC_MAX(now, 1));
}

void zc_forget_locs(struct zc_inode *in, uint32_t from)
{
	pthread_mutex_lock(&in->lock);
	for (uint32_t i = from; i < in->nlocs; i++)
		in->locs[i].valid = in->locs[i].dirty = false;
	pthread_mutex_unlock(&in->lock);
}

struct zc_conn *zc_replica_conn(const struct zc_replica *r, int *err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(r->port) };

	sa.sin_addr.s_addr = r->ip;
	return zc_conn_get(&sa, err);
}

/* ---- attributes kept from answers to changes ---- */

/*
 * The kernel drops what it knows of a folder's attributes when an entry is
 * made or removed in it, and asks again (GETATTR) at the next permission
 * check there: once per file of an untar or an rm -rf.  It asks for a
 * file's attributes before every chown too.  The mds's answer to the
 * change already said what they are now (for a chown, the last setattr's
 * answer did), so they are kept here, and each kept set answers at most
 * one GETATTR, taken within the attribute timeout: no older than what the
 * kernel itself would have kept.  A setattr, write, open, fallocate or
 * setxattr forgets its inode's; an unlink or rename forgets all (it changes
 * the link count of an inode it does not name here).
 */
#define KEPT_SLOTS 256

static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kept {
	struct zc_attr a;	/* ino 0: empty */
	uint64_t at, gen;	/* monotonic ns; the generation it was kept in */
} kept[KEPT_SLOTS];
static uint64_t kept_gen = 1;
/* Moves with every keep and forget: something changed on this client. */
static atomic_ullong epoch;

uint64_t zc_attr_epoch(void)
{
	return atomic_load(&epoch);
}

bool zc_attr_fresh(uint64_t at)
{
	return zc_now_ns() - at < (uint64_t)(zc_cl.attr_timeout * 1e9);
}

void zc_attr_keep(const struct zc_attr *a)
{
	struct kept *k = &kept[a->ino % KEPT_SLOTS];

	atomic_fetch_add(&epoch, 1);
	if (!zc_cl.attr_timeout)
		return;
	pthread_mutex_lock(&kept_lock);
	/* Two answers for one inode may come in either order: the later
	 * change (its ctime) wins. */
	if (!(k->a.ino == a->ino && k->gen == kept_gen &&
	      (k->a.ctime_s > a->ctime_s ||
	       (k->a.ctime_s == a->ctime_s && k->a.ctime_ns > a->ctime_ns))))
		*k = (struct kept){ *a, zc_now_ns(), kept_gen };
	pthread_mutex_unlock(&kept_lock);
}

bool zc_attr_take(uint64_t ino, struct zc_attr *a)
{
	struct kept *k = &kept[ino % KEPT_SLOTS];
	bool ok;

	pthread_mutex_lock(&kept_lock);
	ok = k->a.ino == ino && k->gen == kept_gen && zc_attr_fresh(k->at);
	if (ok)
		*a = k->a;
	if (k->a.ino == ino)
		k->a.ino = 0;
	pthread_mutex_unlock(&kept_lock);
	return ok;
}

void zc_attr_forget(uint64_t ino)
{
	atomic_fetch_add(&epoch, 1);
	pthread_mutex_lock(&kept_lock);
	if (!ino)
		kept_gen++;
	else if (kept[ino % KEPT_SLOTS].a.ino == ino)
		kept[ino % KEPT_SLOTS].a.ino = 0;
	pthread_mutex_unlock(&kept_lock);
}
