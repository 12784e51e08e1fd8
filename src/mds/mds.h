/* SPDX-License-Identifier: MIT */
/* Metadata server internals. */
#ifndef ZC_MDS_H
#define ZC_MDS_H

#include <sqlite3.h>
#include <stdint.h>

/* store.c: SQLite access; callers hold the mds lock. */
int mds_store_open(const char *dir);
void mds_store_close(void);
/* Binds args by fmt ('i' int64_t, 't' text, 'b' blob + int length). */
sqlite3_stmt *mds_q(const char *sql, const char *fmt, ...);
int mds_run(const char *sql, const char *fmt, ...);
int64_t mds_int(int64_t dflt, const char *sql, const char *fmt, ...);
int mds_begin(void);
/* Commits if err is 0, else rolls back; returns err or -EIO. */
int mds_end(int err);
/* Returns the next value of a persistent counter (first is 1). */
int64_t mds_meta_next(const char *key);

/* ---- mds.c: registry and namespace helpers; callers hold mds_lock ---- */

#include <pthread.h>
#include <stdbool.h>

#include "common/wire.h"

#define MDS_MAX_CS 256
#define MDS_DOWN_NS (5ULL * 1000000000ULL)	/* no heartbeat this long: down */

struct cs_info {
	uint32_t id;
	uint32_t ip;		/* network order */
	uint16_t port;
	uint64_t total, free;
	uint32_t nchunks;
	uint64_t last_hb;	/* monotonic ns; 0: never since start */
	uint64_t down_since;	/* monotonic ns it was first seen down; 0: up */
};

extern pthread_mutex_t mds_lock;
extern struct cs_info css[MDS_MAX_CS];
extern int ncs;
extern unsigned replicas_goal;	/* for files and directories that set none */

bool cs_up(const struct cs_info *cs);
struct cs_info *cs_find(uint32_t id);
int get_attr(uint64_t ino, struct zc_attr *a);
/* Location of chunk idx of ino (id 0: a hole).  Returns a zc_status. */
int load_loc(uint64_t ino, uint32_t idx, struct zc_loc *l);
/* Creates chunk idx of ino on the least loaded chunk servers if missing;
 * ZC_ST_AGAIN while the chunk is being copied.  Returns a zc_status. */
int alloc_chunk(uint64_t ino, uint32_t idx, struct zc_loc *l);
/* Up to max up chunk servers with room, least loaded first, not holding
 * a replica in skip (may be NULL).  Returns how many. */
int pick_servers(struct cs_info **out, int max, const struct zc_loc *skip);
/* The replicas an inode wants: its own goal, or the default. */
unsigned inode_goal(uint64_t ino);
/* The same from the inode's goal column (0: the default). */
unsigned goal_of(unsigned own);

/* ---- recovery.c: replica sets, versions, re-replication ---- */

struct recovery_stats {
	uint64_t under_replicated;	/* chunks with fewer good replicas than wanted */
	uint64_t bad;			/* chunks with no readable replica */
	uint64_t bytes_left;		/* data still to copy to reach the goals */
	uint64_t copies_done, copies_failed;
};
extern struct recovery_stats mds_rec;
extern unsigned mds_grace_s;		/* a chunk server down this long loses its replicas */
extern unsigned mds_recovery_rate;	/* MiB/s per copy */

/* Is the chunk being copied (writers must wait)?  mds_lock held. */
bool chunk_busy(uint64_t id);
/*
 * A client saw replicas fail: drops them from the chunk's set (write
 * failures and bad data always, unreachable ones if the server is down),
 * moves the survivors to a new version, and answers the new layout.
 * Takes mds_lock itself.  Returns a zc_status.
 */
int mds_chunk_failed(uint64_t ino, uint32_t idx, uint64_t id, uint32_t version,
		     const uint32_t *cs, int n, int reason, struct zc_loc *out, uint64_t *size);
/* Drops one replica (the scrubber found it damaged).  mds_lock held. */
int mds_replica_bad(uint64_t id, uint32_t cs);
/* Starts the thread that restores replica counts.  Returns 0 or -errno. */
int mds_recovery_start(void);
/* Wakes it now (a server came or went, a replica failed, a goal changed). */
void mds_recovery_kick(void);

int zc_cmd_mds(int argc, char **argv);

#endif
