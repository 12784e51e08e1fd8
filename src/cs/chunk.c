// SPDX-License-Identifier: MIT
/*
 * Chunk files.  One file per chunk, DIR/chunks/XX/ID.chk:
 *
 *   0     magic:32 format:32 chunk_id:64 version:32   (rest of page zero)
 *   4096  crc[1024]:32  CRC32C of each 64 KiB block of data
 *   8192  data; the data length is the file size minus 8192
 *
 * crc[i] covers bytes [i*64K, min((i+1)*64K, len)) of data; blocks past the
 * end are 0.  Data starts page-aligned so that reads can go out of the page
 * cache with sendfile and be checked through a read-only mapping.
 *
 * Locking: a chunk's rwlock is taken shared by reads (check + send) and
 * exclusive by writes, truncates and deletion, so a reader never sends
 * bytes that do not match the checksums it just verified.
 *
 * The table is a cache: a chunk in it holds an open file, a mapping and its
 * checksums.  Chunks nobody uses sit on an LRU list and the oldest are
 * closed past cs_chunk_max (sized from RLIMIT_NOFILE), so a server with a
 * million chunks holds a bounded number of files and mappings.  The table
 * lock is never held across disk I/O: a chunk being loaded or deleted is in
 * the table in that state, and others wanting the same chunk wait for it
 * (table_cv) while the rest go on.
 *
 * Verified blocks: each chunk in the table keeps a bitmap of the blocks
 * checked good since their last write (vbits), and reads skip the CRC of
 * those: hot data is checked about once a minute, not at every read.
 * Our writes clear their blocks' bits, truncates and version changes the
 * whole map; the scrubber checks every block whatever the map says.  The
 * map holds while the file's ctime is the one recorded (vstamp) at our
 * last change or at load: another process writing the file moves it, and
 * the next read that would skip a block empties the map first, as it does
 * once the map is a minute old (TRUST_NS).  Rot on the disk moves no
 * ctime: a page read again from it goes unchecked until then, the chunk's
 * eviction or the scrubber's pass (HACKING.md).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc.h"
#include "common/log.h"
#include "common/pack.h"
#include "common/util.h"
#include "cs.h"

#define CHUNK_MAGIC 0x4b43435aU	/* "ZCCK" */
#define CRC_OFF 4096
#define NBUCKETS 1024
#define MAP_STEP (1U << 20)
#define TRUST_NS (60 * 1000000000ULL)	/* a record is emptied this long after it began */

static char base[4096];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t table_cv = PTHREAD_COND_INITIALIZER;	/* a load or delete ended */
static struct cs_chunk *table[NBUCKETS];
static struct cs_chunk lru = { .lru_prev = &lru, .lru_next = &lru };	/* unused, newest first */
static unsigned ncached;	/* in the table */
static unsigned nchunks;	/* on disk */
static uint8_t dir_dirty[256 / 8];	/* folders with entries not yet synced */
unsigned cs_chunk_max = 1024;
_Atomic unsigned long cs_blocks_verified, cs_blocks_skipped;

static void chunk_path(uint64_t id, char *out, size_t len)
{
	snprintf(out, len, "%s/chunks/%02x/%016" PRIx64 ".chk", base, (unsigned)(id & 0xff), id);
}

static int write_meta(int fd, uint64_t id, uint32_t version)
{
	uint8_t m[64] = { 0 };
	struct zc_cur c = zc_cur_init(m, sizeof(m));

	zc_put_u32(&c, CHUNK_MAGIC);
	zc_put_u32(&c, 1);
	zc_put_u64(&c, id);
	zc_put_u32(&c, version);
	return zc_pwrite_full(fd, m, sizeof(m), 0);
}

static int read_meta(int fd, uint64_t *id, uint32_t *version)
{
	uint8_t m[64];
	struct zc_cur c = zc_cur_init(m, sizeof(m));
	int err = zc_pread_full(fd, m, sizeof(m), 0);

	if (err)
		return err == -EPIPE ? -EBADMSG : err;
	if (zc_get_u32(&c) != CHUNK_MAGIC || zc_get_u32(&c) != 1)
		return -EBADMSG;
	*id = zc_get_u64(&c);
	*version = zc_get_u32(&c);
	return 0;
}

static void chunk_free(struct cs_chunk *c)
{
	if (c->map)
		munmap(c->map, c->map_len);
	if (c->fd >= 0)
		close(c->fd);
	pthread_rwlock_destroy(&c->lock);
	pthread_mutex_destroy(&c->vlock);
	free(c);
}

/* ---- the record of verified blocks ---- */

/* The file's ctime, which every write moves (ours or not); 0 if unknown. */
static uint64_t ctime_ns(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		return 0;
	return (uint64_t)st.st_ctim.tv_sec * 1000000000 + (uint64_t)st.st_ctim.tv_nsec;
}

static bool vbit(const uint64_t *bits, uint32_t b)
{
	return bits[b / 64] >> (b % 64) & 1;
}

/* vlock held.  Forgets every block if the file changed since the record's
 * stamp (a write not ours), or once the record is a minute old: a page
 * dropped from the cache and read again from the disk is checked then. */
static void vcheck(struct cs_chunk *c)
{
	uint64_t now = ctime_ns(c->fd), t = zc_now_ns();

	if (now && now == c->vstamp && t - c->vsince < TRUST_NS)
		return;
	memset(c->vbits, 0, sizeof(c->vbits));
	c->vstamp = now;
	c->vsince = t;
	c->vgen++;
}

/* Before a change of ours (chunk locked exclusive): a change behind our
 * back must not pass for ours once vafter stamps the file again. */
static void vbefore(struct cs_chunk *c)
{
	pthread_mutex_lock(&c->vlock);
	for (unsigned i = 0; i < ZC_BLOCKS_PER_CHUNK / 64; i++) {
		if (c->vbits[i]) {
			vcheck(c);
			break;
		}
	}
	pthread_mutex_unlock(&c->vlock);
}

/* After it: blocks [first, last] are checked again at their next read. */
static void vafter(struct cs_chunk *c, uint32_t first, uint32_t last)
{
	pthread_mutex_lock(&c->vlock);
	for (uint32_t b = first; b <= last && b < ZC_BLOCKS_PER_CHUNK; b++)
		c->vbits[b / 64] &= ~(1ULL << (b % 64));
	c->vstamp = ctime_ns(c->fd);
	c->vgen++;
	pthread_mutex_unlock(&c->vlock);
}

/*
 * Maps the data up to need bytes at least (in MiB steps): a one-block
 * chunk costs a small mapping, never 64 MiB.  The mapping is only read
 * below c->len, so it may reach past the end of a file that shrank.
 * Called at load and, with the chunk locked exclusive, when it grows.
 */
static int map_upto(struct cs_chunk *c, uint32_t need)
{
	size_t len = ZC_MIN(((size_t)need + MAP_STEP - 1) / MAP_STEP * MAP_STEP, ZC_CHUNK_SIZE);
	void *m;

	if (len <= c->map_len)
		return 0;
	m = c->map ? mremap(c->map, c->map_len, len, MREMAP_MAYMOVE)
		   : mmap(NULL, len, PROT_READ, MAP_SHARED, c->fd, ZC_CHUNK_HDR);
	if (m == MAP_FAILED)
		return -errno;
	c->map = m;
	c->map_len = len;
	return 0;
}

/*
 * Opens (or with create, makes) the chunk's file, loads its checksums and
 * maps it.  *created tells whether the file is new.  No table lock held.
 */
static int chunk_load(struct cs_chunk *c, uint32_t version, bool create, bool *created)
{
	char path[4200];
	struct stat st;
	uint64_t fid;
	uint8_t raw[CRC_OFF];
	int err;

	*created = false;
	chunk_path(c->id, path, sizeof(path));
	c->fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0644);
	if (c->fd < 0 && create && errno == EEXIST)
		c->fd = open(path, O_RDWR | O_CLOEXEC);
	if (c->fd < 0)
		return -errno;
	if (fstat(c->fd, &st))
		return -errno;
	if (st.st_size == 0) {	/* new: header only, no data and no 64 MiB file */
		c->version = version;
		*created = true;
		if ((err = write_meta(c->fd, c->id, version)) ||
		    (err = ftruncate(c->fd, ZC_CHUNK_HDR) ? -errno : 0))
			return err;
		st.st_size = ZC_CHUNK_HDR;
	} else {
		if ((err = read_meta(c->fd, &fid, &c->version)))
			return err;
		if (fid != c->id || st.st_size < ZC_CHUNK_HDR ||
		    st.st_size > (off_t)(ZC_CHUNK_HDR + ZC_CHUNK_SIZE)) {
			zc_err("cs: chunk file %s is damaged (id %" PRIx64 ", size %lld)", path,
			       fid, (long long)st.st_size);
			return -EBADMSG;
		}
		if ((err = zc_pread_full(c->fd, raw, sizeof(raw), CRC_OFF)))
			return err;
		for (unsigned i = 0; i < ZC_BLOCKS_PER_CHUNK; i++) {
			struct zc_cur cur = zc_cur_init(raw + 4 * i, 4);

			c->crc[i] = zc_get_u32(&cur);
		}
	}
	c->len = st.st_size - ZC_CHUNK_HDR;
	c->vstamp = ctime_ns(c->fd);	/* nothing verified yet */
	c->vsince = zc_now_ns();
	return map_upto(c, c->len);
}

/* ---- the table (table_lock held) ---- */

static struct cs_chunk **find(uint64_t id)
{
	struct cs_chunk **pp;

	for (pp = &table[id % NBUCKETS]; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id)
			break;
	return pp;
}

static void lru_del(struct cs_chunk *c)
{
	c->lru_prev->lru_next = c->lru_next;
	c->lru_next->lru_prev = c->lru_prev;
	c->lru_prev = c->lru_next = NULL;
}

/* At the head (newest), or with cold at the tail (the first to go). */
static void lru_add(struct cs_chunk *c, bool cold)
{
	struct cs_chunk *after = cold ? lru.lru_prev : &lru;

	c->lru_prev = after;
	c->lru_next = after->lru_next;
	after->lru_next->lru_prev = c;
	after->lru_next = c;
}

static void unhash(struct cs_chunk *c)
{
	struct cs_chunk **pp = find(c->id);

	if (*pp == c) {
		*pp = c->next;
		ncached--;
	}
}

/* Takes unused chunks out past the limit; the caller frees them unlocked. */
static struct cs_chunk *evict(void)
{
	struct cs_chunk *gone = NULL;

	while (ncached > cs_chunk_max && lru.lru_prev != &lru) {
		struct cs_chunk *c = lru.lru_prev;

		lru_del(c);
		unhash(c);
		c->next = gone;
		gone = c;
	}
	return gone;
}

static void free_list(struct cs_chunk *c)
{
	while (c) {
		struct cs_chunk *next = c->next;

		chunk_free(c);
		c = next;
	}
}

static void mark_dir(uint64_t id, bool dirty)
{
	uint8_t bit = 1 << (id & 7);

	if (dirty)
		dir_dirty[(id & 0xff) / 8] |= bit;
	else
		dir_dirty[(id & 0xff) / 8] &= ~bit;
}

/* The chunk's entry once nobody is loading or deleting it, or NULL. */
static struct cs_chunk *find_settled(uint64_t id)
{
	struct cs_chunk *c;

	while ((c = *find(id)) && (c->loading || c->deleting))
		pthread_cond_wait(&table_cv, &table_lock);
	return c;
}

/* A new entry holding the chunk's place, with one reference, or NULL. */
static struct cs_chunk *add_entry(uint64_t id)
{
	struct cs_chunk *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->id = id;
	c->fd = -1;
	c->refs = 1;
	pthread_rwlock_init(&c->lock, NULL);
	pthread_mutex_init(&c->vlock, NULL);
	c->next = table[id % NBUCKETS];
	table[id % NBUCKETS] = c;
	ncached++;
	return c;
}

struct cs_chunk *cs_chunk_get(uint64_t id, uint32_t version, bool create, int *err)
{
	struct cs_chunk *c, *gone;
	bool created;

	pthread_mutex_lock(&table_lock);
	c = find_settled(id);
	if (c) {
		if (!c->refs++)
			lru_del(c);
		pthread_mutex_unlock(&table_lock);
		return c;
	}
	c = add_entry(id);
	if (!c) {
		pthread_mutex_unlock(&table_lock);
		*err = -ENOMEM;
		return NULL;
	}
	c->loading = true;
	pthread_mutex_unlock(&table_lock);

	*err = chunk_load(c, version, create, &created);

	pthread_mutex_lock(&table_lock);
	c->loading = false;
	if (*err) {
		unhash(c);	/* nobody took it meanwhile: they wait */
	} else if (created) {
		nchunks++;
		mark_dir(id, true);
	}
	gone = evict();
	pthread_cond_broadcast(&table_cv);
	pthread_mutex_unlock(&table_lock);
	free_list(gone);
	if (*err) {
		chunk_free(c);
		return NULL;
	}
	return c;
}

static void put(struct cs_chunk *c, bool cold)
{
	struct cs_chunk *gone = NULL;

	pthread_mutex_lock(&table_lock);
	if (--c->refs) {
		pthread_mutex_unlock(&table_lock);
		return;
	}
	if (c->deleted) {	/* already out of the table */
		c->next = gone;
		gone = c;
	} else {
		lru_add(c, cold);
		gone = evict();
	}
	pthread_mutex_unlock(&table_lock);
	free_list(gone);
}

void cs_chunk_put(struct cs_chunk *c)
{
	put(c, false);
}

void cs_chunk_put_cold(struct cs_chunk *c)
{
	put(c, true);
}

unsigned cs_chunk_count(void)
{
	return nchunks;
}

unsigned cs_chunk_cached(void)
{
	return ncached;
}

/*
 * Checks blocks [first, last] against their checksums (chunk locked
 * shared).  A read (trust) skips the blocks verified since their last
 * write.  Blocks checked good are recorded, unless the record lost bits
 * meanwhile: what we checked may predate the change that cleared them.
 * A mismatch empties the record.
 */
static int verify(struct cs_chunk *c, uint32_t first, uint32_t last, bool trust)
{
	uint64_t had[ZC_BLOCKS_PER_CHUNK / 64], ok[ZC_BLOCKS_PER_CHUNK / 64] = { 0 }, gen;
	unsigned long checked = 0;
	int err = 0;

	pthread_mutex_lock(&c->vlock);
	for (uint32_t b = first; trust && b <= last; b++) {
		if (vbit(c->vbits, b)) {	/* about to trust it: is the file as we left it? */
			vcheck(c);
			break;
		}
	}
	memcpy(had, c->vbits, sizeof(had));
	gen = c->vgen;
	pthread_mutex_unlock(&c->vlock);

	for (uint32_t b = first; b <= last; b++) {
		uint32_t start = b * ZC_BLOCK_SIZE;
		uint32_t n = ZC_MIN(ZC_BLOCK_SIZE, c->len - start);

		if (trust && vbit(had, b))
			continue;
		checked++;
		if (zc_crc32c(0, c->map + start, n) != c->crc[b]) {
			zc_err("cs: chunk %016" PRIx64 " block %u: checksum mismatch", c->id, b);
			err = -EBADMSG;
			break;
		}
		ok[b / 64] |= 1ULL << (b % 64);
	}

	pthread_mutex_lock(&c->vlock);
	if (err) {
		memset(c->vbits, 0, sizeof(c->vbits));
		c->vgen++;
	} else if (gen == c->vgen) {
		for (uint32_t i = first / 64; i <= last / 64; i++)
			c->vbits[i] |= ok[i];
	}
	pthread_mutex_unlock(&c->vlock);
	if (trust) {
		cs_blocks_verified += checked;
		if (!err)
			cs_blocks_skipped += last - first + 1 - checked;
	}
	return err;
}

int cs_chunk_read_begin(struct cs_chunk *c, uint32_t version, uint32_t off, uint32_t *len)
{
	int err;

	pthread_rwlock_rdlock(&c->lock);
	if (c->deleted) {
		err = -ENOENT;
		goto out_unlock;
	}
	if (c->version != version) {
		err = -ESTALE;
		goto out_unlock;
	}
	if ((uint64_t)off + *len > ZC_CHUNK_SIZE) {
		err = -EINVAL;
		goto out_unlock;
	}
	*len = off >= c->len ? 0 : ZC_MIN(*len, c->len - off);
	if (!*len)
		return 0;
	err = verify(c, off / ZC_BLOCK_SIZE, (off + *len - 1) / ZC_BLOCK_SIZE, true);
	if (!err)
		return 0;
out_unlock:
	pthread_rwlock_unlock(&c->lock);
	return err;
}

void cs_chunk_read_end(struct cs_chunk *c)
{
	pthread_rwlock_unlock(&c->lock);
}

/* Recomputes checksums of blocks [first, last] (data already on disk,
 * newly written bytes in buf at off) and stores them in the header. */
static int update_crcs(struct cs_chunk *c, uint32_t first, uint32_t last, const uint8_t *buf,
		       uint32_t off, uint32_t len)
{
	uint8_t raw[CRC_OFF];
	struct zc_cur cur;

	for (uint32_t b = first; b <= last && b < ZC_BLOCKS_PER_CHUNK; b++) {
		uint32_t start = b * ZC_BLOCK_SIZE;
		uint32_t n = start >= c->len ? 0 : ZC_MIN(ZC_BLOCK_SIZE, c->len - start);

		if (buf && start >= off && start + n <= off + len)
			c->crc[b] = zc_crc32c(0, buf + (start - off), n);
		else
			c->crc[b] = zc_crc32c(0, c->map + start, n);
	}
	cur = zc_cur_init(raw, sizeof(raw));
	for (uint32_t b = first; b <= last && b < ZC_BLOCKS_PER_CHUNK; b++)
		zc_put_u32(&cur, c->crc[b]);
	return zc_pwrite_full(c->fd, raw, cur.pos, CRC_OFF + 4 * first);
}

/* Writes len bytes at off from buf, or (buf NULL) from the pipe whose read
 * end is pipe_rd: spliced into the file, and their checksums computed from
 * the page cache through the mapping, never from a copy. */
static int chunk_write(struct cs_chunk *c, uint32_t version, uint32_t off, const void *buf,
		       int pipe_rd, uint32_t len)
{
	uint32_t old, end = off + len;
	off_t at = ZC_CHUNK_HDR + (off_t)off;
	int err;

	if (!len || (uint64_t)off + len > ZC_CHUNK_SIZE)
		return -EINVAL;
	pthread_rwlock_wrlock(&c->lock);
	if (c->deleted) {
		err = -ENOENT;
		goto out_unlock;
	}
	if (c->version != version) {
		err = -ESTALE;
		goto out_unlock;
	}
	old = c->len;
	vbefore(c);
	err = buf ? zc_pwrite_full(c->fd, buf, len, at) : zc_splice_all(pipe_rd, c->fd, &at, len);
	if (!err)
		err = map_upto(c, end);
	if (!err) {
		if (end > c->len)
			c->len = end;
		/* Blocks from the old end up to the write hold zeros now: they
		 * are covered too. */
		err = update_crcs(c, ZC_MIN(off, old) / ZC_BLOCK_SIZE, (end - 1) / ZC_BLOCK_SIZE,
				  buf, off, len);
	}
	vafter(c, ZC_MIN(off, old) / ZC_BLOCK_SIZE, (end - 1) / ZC_BLOCK_SIZE);
out_unlock:
	pthread_rwlock_unlock(&c->lock);
	return err;
}

int cs_chunk_write(struct cs_chunk *c, uint32_t version, uint32_t off, const void *buf,
		   uint32_t len)
{
	return chunk_write(c, version, off, buf, -1, len);
}

int cs_chunk_write_pipe(struct cs_chunk *c, uint32_t version, uint32_t off, int pipe_rd,
			uint32_t len)
{
	return chunk_write(c, version, off, NULL, pipe_rd, len);
}

static int resize(struct cs_chunk *c, uint32_t version, uint32_t len, bool grow_only)
{
	uint32_t old, first, last;
	int err;

	if (len > ZC_CHUNK_SIZE)
		return -EINVAL;
	pthread_rwlock_wrlock(&c->lock);
	if (c->version != version || c->deleted) {
		err = c->deleted ? -ENOENT : -ESTALE;
		goto out_unlock;
	}
	old = c->len;
	if (grow_only && len <= old) {
		err = 0;
		goto out_unlock;
	}
	err = ftruncate(c->fd, ZC_CHUNK_HDR + (off_t)len) ? -errno : map_upto(c, len);
	if (!err) {
		c->len = len;
		first = ZC_MIN(old, len) / ZC_BLOCK_SIZE;
		last = ZC_MAX(old, len) / ZC_BLOCK_SIZE;
		err = update_crcs(c, first, ZC_MIN(last, ZC_BLOCKS_PER_CHUNK - 1), NULL, 0, 0);
	}
	vafter(c, 0, ZC_BLOCKS_PER_CHUNK - 1);	/* rare: the whole record goes */
out_unlock:
	pthread_rwlock_unlock(&c->lock);
	return err;
}

int cs_chunk_truncate(struct cs_chunk *c, uint32_t version, uint32_t len)
{
	return resize(c, version, len, false);
}

int cs_chunk_grow(struct cs_chunk *c, uint32_t version, uint32_t len)
{
	return resize(c, version, len, true);
}

int cs_chunk_sync(struct cs_chunk *c)
{
	char path[4200];
	bool dirty;
	int dfd, err = 0;

	if (fdatasync(c->fd))
		return -errno;
	/* The directory entry of a new chunk file too: one fsync of its folder
	 * covers every chunk made there since the last one. */
	pthread_mutex_lock(&table_lock);
	dirty = dir_dirty[(c->id & 0xff) / 8] & (1 << (c->id & 7));
	mark_dir(c->id, false);
	pthread_mutex_unlock(&table_lock);
	if (!dirty)
		return 0;
	chunk_path(c->id, path, sizeof(path));
	*strrchr(path, '/') = 0;
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd))
		err = -errno;
	if (dfd >= 0)
		close(dfd);
	if (err) {
		pthread_mutex_lock(&table_lock);
		mark_dir(c->id, true);
		pthread_mutex_unlock(&table_lock);
	}
	return err;
}

/*
 * Deletes a chunk: marked deleting in the table so that nobody loads it
 * meanwhile, then (without the table lock) waits for its readers and
 * removes the file.  A reader holding it across a slow send holds up this
 * chunk's deletion only, never the table.
 */
int cs_chunk_delete(uint64_t id)
{
	char path[4200];
	struct cs_chunk *c;
	int err = 0;

	pthread_mutex_lock(&table_lock);
	c = find_settled(id);
	if (!c) {	/* not cached: a stand-in holds its place */
		c = add_entry(id);
		if (!c) {
			pthread_mutex_unlock(&table_lock);
			return -ENOMEM;
		}
	} else if (!c->refs++) {
		lru_del(c);
	}
	c->deleting = true;
	pthread_mutex_unlock(&table_lock);

	pthread_rwlock_wrlock(&c->lock);	/* no reader mid-send */
	c->deleted = true;
	pthread_rwlock_unlock(&c->lock);
	chunk_path(id, path, sizeof(path));
	if (unlink(path))
		err = -errno;

	pthread_mutex_lock(&table_lock);
	unhash(c);
	c->deleting = false;
	if (!err && nchunks)
		nchunks--;
	pthread_cond_broadcast(&table_cv);
	c = --c->refs ? NULL : c;	/* the last user frees it */
	pthread_mutex_unlock(&table_lock);
	if (c)
		chunk_free(c);
	return err;
}

int cs_chunk_init(const char *dir)
{
	char path[4200];

	snprintf(base, sizeof(base), "%s", dir);
	snprintf(path, sizeof(path), "%s/chunks", dir);
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	for (int i = 0; i < 256; i++) {
		snprintf(path, sizeof(path), "%s/chunks/%02x", dir, i);
		if (mkdir(path, 0755) && errno != EEXIST)
			return -errno;
	}
	return 0;
}

int cs_chunk_scan(void (*fn)(uint64_t id, uint32_t version, void *arg), void *arg)
{
	char path[4200];

	nchunks = 0;
	for (int i = 0; i < 256; i++) {
		DIR *d;
		struct dirent *e;

		snprintf(path, sizeof(path), "%s/chunks/%02x", base, i);
		d = opendir(path);
		if (!d)
			return -errno;
		while ((e = readdir(d))) {
			uint64_t id, fid;
			uint32_t version;
			char *end;
			int fd;

			if (e->d_name[0] == '.')
				continue;
			id = strtoull(e->d_name, &end, 16);
			if (strcmp(end, ".chk"))
				continue;
			snprintf(path, sizeof(path), "%s/chunks/%02x/%.40s", base, i, e->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0 || read_meta(fd, &fid, &version) || fid != id) {
				zc_warn("cs: skipping damaged chunk file %s", path);
				if (fd >= 0)
					close(fd);
				continue;
			}
			close(fd);
			nchunks++;
			fn(id, version, arg);
		}
		closedir(d);
	}
	return 0;
}

int cs_chunk_set_version(struct cs_chunk *c, uint32_t new)
{
	int err = 0;

	/* Versions only go forward: two bumps racing end at the larger. */
	pthread_rwlock_wrlock(&c->lock);
	if (c->deleted)
		err = -ENOENT;
	else if (c->version > new)
		err = -ESTALE;
	else if (c->version != new && !(err = write_meta(c->fd, c->id, new))) {
		c->version = new;
		vafter(c, 0, ZC_BLOCKS_PER_CHUNK - 1);	/* the record was for the old one */
	}
	pthread_rwlock_unlock(&c->lock);
	return err;
}

int cs_chunk_info(struct cs_chunk *c, uint32_t version, uint32_t *len, uint32_t *digest)
{
	uint8_t raw[4];
	uint32_t crc = 0;
	int err = 0;

	pthread_rwlock_rdlock(&c->lock);
	if (c->deleted) {
		err = -ENOENT;
	} else if (c->version != version) {
		err = -ESTALE;
	} else {
		uint32_t n = (c->len + ZC_BLOCK_SIZE - 1) / ZC_BLOCK_SIZE;

		for (uint32_t b = 0; b < n; b++) {
			struct zc_cur cur = zc_cur_init(raw, sizeof(raw));

			zc_put_u32(&cur, c->crc[b]);
			crc = zc_crc32c(crc, raw, sizeof(raw));
		}
		*len = c->len;
		*digest = crc;
	}
	pthread_rwlock_unlock(&c->lock);
	return err;
}

int cs_chunk_scrub(struct cs_chunk *c)
{
	int err = 0;

	pthread_rwlock_rdlock(&c->lock);
	if (!c->deleted && c->len)
		err = verify(c, 0, (c->len - 1) / ZC_BLOCK_SIZE, false);
	pthread_rwlock_unlock(&c->lock);
	return err;
}
