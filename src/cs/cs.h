/* SPDX-License-Identifier: MIT */
/* Chunk server internals. */
#ifndef ZC_CS_H
#define ZC_CS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "zcfs/proto.h"

#define ZC_CHUNK_HDR 8192	/* data starts here in a chunk file */

struct cs_chunk {
	uint64_t id;
	uint32_t version;
	uint32_t len;		/* data bytes */
	int fd;
	uint8_t *map;		/* read-only mapping of the data (NULL while empty)... */
	size_t map_len;		/* ...this long, at least len */
	bool deleted;		/* gone: every use fails with ENOENT */
	/* under the table lock: */
	bool loading, deleting;	/* others wanting it wait */
	int refs;
	struct cs_chunk *next;	/* in its hash bucket */
	struct cs_chunk *lru_prev, *lru_next;	/* while unused */
	pthread_rwlock_t lock;
	uint32_t crc[ZC_BLOCKS_PER_CHUNK];
	/* Blocks verified since their last write, at this version, while the
	 * file's ctime stays vstamp: reads skip their checksum (chunk.c). */
	pthread_mutex_t vlock;	/* over the record: the four below */
	uint64_t vstamp;	/* the file's ctime (ns) the record holds for */
	uint64_t vsince;	/* zc_now_ns() when it was last emptied */
	uint64_t vgen;		/* moves whenever bits are taken away */
	uint64_t vbits[ZC_BLOCKS_PER_CHUNK / 64];
};

/* Blocks reads checked, and skipped as verified since their last write. */
extern _Atomic unsigned long cs_blocks_verified, cs_blocks_skipped;

/* How many chunks the table keeps open (files and mappings), at most,
 * besides those in use.  Set from RLIMIT_NOFILE at start. */
extern unsigned cs_chunk_max;

int cs_chunk_init(const char *dir);
/* Calls fn for every chunk file found.  Returns 0 or -errno. */
int cs_chunk_scan(void (*fn)(uint64_t id, uint32_t version, void *arg), void *arg);
/* Returns a referenced chunk, or NULL with *err (-ENOENT if missing and
 * !create, -EBADMSG if its file is damaged). */
struct cs_chunk *cs_chunk_get(uint64_t id, uint32_t version, bool create, int *err);
void cs_chunk_put(struct cs_chunk *c);
/* The same, for a chunk used once (the scrubber): the first to be closed. */
void cs_chunk_put_cold(struct cs_chunk *c);
unsigned cs_chunk_count(void);
/* Chunks open in the table now. */
unsigned cs_chunk_cached(void);

/* Checks version and bounds, clamps *len to the data present and verifies
 * the checksums of the blocks covered (but those verified since their last
 * write).  On 0 the chunk stays locked shared until cs_chunk_read_end();
 * errors: -ESTALE, -EINVAL, -EBADMSG (checksum), -ENOENT (deleted). */
int cs_chunk_read_begin(struct cs_chunk *c, uint32_t version, uint32_t off, uint32_t *len);
void cs_chunk_read_end(struct cs_chunk *c);
/* Returns 0 or -errno (-ESTALE, -EINVAL, -ENOSPC, -EIO). */
int cs_chunk_write(struct cs_chunk *c, uint32_t version, uint32_t off, const void *buf,
		   uint32_t len);
/* The same, the bytes taken from a pipe (spliced into the file). */
int cs_chunk_write_pipe(struct cs_chunk *c, uint32_t version, uint32_t off, int pipe_rd,
			uint32_t len);
int cs_chunk_truncate(struct cs_chunk *c, uint32_t version, uint32_t len);
/* The same, but only ever longer: a chunk already len or longer stays. */
int cs_chunk_grow(struct cs_chunk *c, uint32_t version, uint32_t len);
int cs_chunk_sync(struct cs_chunk *c);
int cs_chunk_delete(uint64_t id);
/* Moves the chunk forward to version new (idempotent).  -ESTALE if it is
 * already past it. */
int cs_chunk_set_version(struct cs_chunk *c, uint32_t new);
/* Data length and a digest of the block checksums, to compare replicas. */
int cs_chunk_info(struct cs_chunk *c, uint32_t version, uint32_t *len, uint32_t *digest);
/* Checks every block, whatever reads verified before; -EBADMSG on a
 * checksum mismatch. */
int cs_chunk_scrub(struct cs_chunk *c);

int zc_cmd_cs(int argc, char **argv);

/* The chunk server's request handler and its end of a connection, as
 * zc_srv_run calls them (tests serve a chunk folder in process with them):
 * c->fd gets exactly one reply; < 0 closes the connection. */
struct zc_srv_conn;
struct zc_hdr;
int cs_serve(struct zc_srv_conn *c, const struct zc_hdr *h, uint8_t *payload);
void cs_serve_end(struct zc_srv_conn *c);

#endif
