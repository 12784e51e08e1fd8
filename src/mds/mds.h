/* SPDX-License-Identifier: MIT */
/* Metadata server internals. */
#ifndef ZC_MDS_H
#define ZC_MDS_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* store.c: SQLite access; callers hold the mds lock. */
int mds_store_open(const char *dir);
void mds_store_close(void);
/* Binds args by fmt ('i' int64_t, 't' text, 'b' blob + int length). */
sqlite3_stmt *mds_q(const char *sql, const char *fmt, ...);
int mds_run(const char *sql, const char *fmt, ...);
int64_t mds_int(int64_t dflt, const char *sql, const char *fmt, ...);
/*
 * One change: mds_begin() opens a savepoint in the open batch (group
 * commit, store.c), mds_end(err) keeps it (err 0) or undoes it; returns
 * err or -EIO.  In a request (mds_request_begin) the batch is committed
 * before the answer (mds_request_end); elsewhere at mds_end, so a thread
 * that serves no request finds its change on disk when mds_end returns.
 */
int mds_begin(void);
int mds_end(int err);
/* The calling thread serves a request: its changes wait for the answer. */
void mds_request_begin(void);
/* Waits until the batch the request touched (changed, or read while it
 * was open) is committed; the first waiter commits it for all.  Returns
 * st, or ZC_ST_IO (answer emptied back to start) if the commit failed.
 * mds_lock not held. */
struct zc_cur;
int mds_request_end(int st, struct zc_cur *o, size_t start);
/* From now on this thread's requests return without waiting: it sends
 * their answers with mds_reply (the network). */
void mds_answer_later(void);
/* Waits until batch epoch is committed (0: nothing to wait for), leading
 * the commit if nobody does.  Returns 0 or -EIO (it failed).  mds_lock not
 * held. */
int mds_commit_wait(uint64_t epoch);
/* Everything changed so far is on disk when it returns (before a chunk
 * server hears of a change).  0 or -EIO.  mds_lock not held. */
int mds_sync(void);
/* The batch the calling thread's last request waited for (0: none), and
 * the last batch committed (or failed): a request is answered only once
 * the second is at least the first. */
uint64_t mds_request_epoch(void);
uint64_t mds_committed_epoch(void);
/* Commits that wrote something, the changes they carried, the time they
 * took (ns, the fsync mostly). */
void mds_commit_stats(uint64_t *commits, uint64_t *changes, uint64_t *ns);
/* Takes mds_lock for a change or a read of the uncommitted store: it
 * waits while a batch commits (the commit runs without mds_lock). */
void mds_lock_store(void);
/* From on to off, the calling thread's queries read what is committed
 * only (a second connection): no wait for a commit, and none while one
 * runs.  mds_lock held (plain pthread_mutex_lock is enough). */
void mds_read_committed(bool on);
/* A committed-only read while the open batch moved or removed names. */
bool mds_tree_uncommitted(void);
/* Returns the next value of a persistent counter (first is 1). */
int64_t mds_meta_next(const char *key);

/* ---- backup.c: copies of the store, restores ---- */

/* Copies the SQLite store at src to dst, consistently while an mds writes
 * it (one read transaction; WAL), a step at a time with progress(done,
 * total pages, arg) after each (may be NULL), through dst.tmp, fsynced
 * and renamed.  Returns 0 or -errno, having logged why. */
int mds_store_copy(const char *src, const char *dst,
		   void (*progress)(int done, int total, void *arg), void *arg);
/* Is path a sound zcfs store (integrity_check, tables, root)?  0, or
 * -EINVAL / -errno having logged why. */
int mds_store_check(const char *path);
/* Puts the store in file into dir: checks it; a store already there is
 * refused (-EEXIST) unless force, which moves it aside with a timestamp.
 * Returns 0 or -errno, having logged why.  Then mds_store_open and
 * mds_store_restored. */
int mds_store_restore(const char *file, const char *dir, bool force);
/* Makes a freshly restored store safe for a cluster that lived on after
 * the backup (backup.c says how).  0 or -EIO.  mds_lock held. */
int mds_store_restored(void);
/* Was the store restored from a backup?  Then chunk ids from *from to
 * *to (excluded) may have been made by the mds after the backup: such
 * chunks are kept on the servers. */
bool mds_store_restored_gap(int64_t *from, int64_t *to);
enum { MDS_SEEN_OK, MDS_SEEN_RAISED, MDS_SEEN_STALE, MDS_SEEN_FIX };
/* A restored store's look at version v, which member cs reports of chunk
 * recorded at version have (REPORT, in a change): MDS_SEEN_OK, _RAISED
 * (the record follows v; members seen at an older one dropped), _STALE
 * (this one dropped), _FIX (behind but the only copy: move it to have),
 * or -EIO.  *dropped counts the replicas dropped. */
int mds_restored_member(uint64_t chunk, uint32_t cs, uint32_t have, uint32_t v,
			unsigned *dropped);

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
	/* Down past the grace period: its replicas with a copy elsewhere leave
	 * the sets, a page a round, from chunk expire_cursor on. */
	bool expired;		/* all of them are gone */
	uint64_t expire_cursor;
	uint64_t expire_dropped;
	uint32_t metrics_ip;	/* its /metrics endpoint (port 0: none) */
	uint16_t metrics_port;
};

extern pthread_mutex_t mds_lock;
extern struct cs_info css[MDS_MAX_CS];
extern int ncs;
extern unsigned replicas_goal;	/* for files and directories that set none */
extern unsigned mds_cap_life_s;	/* chunk capabilities last this long */
extern const char *mds_creds_path; /* client credentials (auth.h) */

bool cs_up(const struct cs_info *cs);
/* Puts a layout for a client of session, with a capability for rights
 * (ZC_CAP_*) on the chunk. */
void mds_put_client_loc(struct zc_cur *o, struct zc_loc *l, uint64_t session, uint8_t rights);
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
extern unsigned mds_copy_timeout_ms;	/* a copy given up after this; 0: from the rate */

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
/* Readies the store for recovery (indexes).  Returns 0 or -errno. */
int mds_recovery_init(void);
/* mds_recovery_init, then starts the thread that restores replica counts.
 * Returns 0 or -errno. */
int mds_recovery_start(void);
/* Wakes it now. */
void mds_recovery_kick(void);
/* Queues a chunk to be looked at (a replica went, a version was fixed), or
 * every chunk of an inode (its goal changed).  mds_lock held. */
void mds_recovery_queue(uint64_t id);
void mds_recovery_queue_ino(uint64_t ino);
/* A server registered or heartbeats again (is_new: one more server than
 * before): chunks waiting for a source or a target go again.  mds_lock held. */
void mds_recovery_server_up(struct cs_info *cs, bool is_new);
/* Starts a walk over every chunk now (the safety net; it also runs by
 * itself every few seconds).  mds_lock held. */
void mds_recovery_walk_now(void);
/* One round of the recovery thread: takes mds_lock, looks at a page of
 * queued chunks, starts copies, walks a page.  Returns how many ms to wait
 * before the next (tests call it instead of running the thread). */
int mds_recovery_round(void);

/* ---- mds.c: changes shared with sessions (mds_lock held, in a transaction) ---- */

/* Frees an inode: its chunks (queued for deletion), its locks, its row. */
int mds_free_inode(uint64_t ino);
/* Forgets every chunk of ino from index first on and queues their deletion
 * on their servers (in a transaction).  Returns a zc_status. */
int mds_drop_chunks(uint64_t ino, uint64_t first);
/* Sets a regular file's size, dropping chunks past it; with touch, mtime
 * and ctime become now even if the size stays.  Answers the new attr. */
int mds_truncate(uint64_t ino, uint64_t size, bool touch, struct zc_attr *out);
/* A writer's size (grows only) and mtime.  Returns a zc_status. */
int mds_grow(uint64_t ino, uint64_t size, int64_t mtime_s, uint32_t mtime_ns);

/* ---- exports.c: which credential may mount what (mds_lock held) ---- */

/* One line of the exports file. */
struct mds_export {
	char name[64];		/* the credential name */
	char *path;		/* in zcfs, from the root: "/" or "/a/b" */
	bool ro;
	bool root_squash, all_squash;
	uint32_t squash_uid, squash_gid;	/* root_squash maps uid 0 and gid 0 to these */
	uint32_t all_uid, all_gid;		/* all_squash maps everyone to these */
	uint64_t root;		/* path's inode when last looked up (0: not there) */
};

/*
 * Reads the exports file at path.  A missing file means every
 * authenticated client may mount / read-write without squash.  Returns 0,
 * or -EINVAL (a bad line, logged with file:line and why) or another
 * -errno; on error the exports in force stay.
 */
int mds_exports_load(const char *path);
/* Reads path again at every SIGHUP, on a thread of its own; blocks SIGHUP
 * in the caller first, so call it before any other thread starts. */
int mds_exports_watch(const char *path);
/* The export of a credential, or NULL if it may not mount. */
struct mds_export *mds_export_find(const char *name);
/* Looks the export's path up again; sets e->root.  Returns a zc_status. */
int mds_export_resolve(struct mds_export *e);

/* ---- access.c: who asks, and what it may do (mds_lock held) ---- */

#define MDS_MAY_EXEC	1
#define MDS_MAY_WRITE	2
#define MDS_MAY_READ	4

/* Inodes a session's requests found inside its export (positive answers
 * only), direct-mapped by inode; emptied when the tree changes. */
#define MDS_TREE_SLOTS 512
struct mds_tree_cache {
	uint64_t gen;
	uint64_t ino[MDS_TREE_SLOTS];
};

/* The caller of one client request. */
struct mds_who {
	const char *peer;		/* the connection's credential */
	uint64_t session;		/* 0: none */
	uint32_t uid, gid;		/* after squash */
	uint32_t ngroups;
	uint32_t groups[ZC_MAX_GROUPS];
	struct mds_export *exp;		/* NULL: not exported (STATUS, STATS only) */
	bool ro;			/* a read-only export */
	uint64_t root;			/* the session's root inode */
	bool pending;			/* opens not declared since a restart */
	struct mds_tree_cache *tree;	/* NULL: the root is "/" */
};

/* Bumped by every change that may take an inode out of a subtree. */
extern uint64_t mds_tree_gen;
/* Decodes "uid gid ngroups groups" after the session prefix.  Returns a
 * zc_status. */
int mds_who_decode(struct mds_who *w, struct zc_cur *in);
/* Squashes the identity as the export says and binds the request to its
 * session.  Returns a zc_status (PERM: not exported, BADSESSION). */
int mds_who_check(struct mds_who *w, uint16_t type);
bool mds_in_group(const struct mds_who *w, uint32_t gid);
/* The mode Linux leaves after a chown (by anyone), or a write or
 * truncation by a caller without CAP_FSETID (here: not root): no setuid;
 * no setgid if group-executable, or if the caller is neither root nor in
 * the group.  Only regular files change. */
uint32_t mds_mode_killed(const struct mds_who *w, const struct zc_attr *a);
/* The same, stored, after a write or truncation by w (root: nothing). */
int mds_kill_privs(const struct mds_who *w, uint64_t ino, struct zc_attr *a);
/* May the caller access an inode of these attributes so (MDS_MAY_*)? */
bool mds_may(const struct mds_who *w, const struct zc_attr *a, int want);
/* Is ino inside the session's export (every inode is, for "/")? */
bool mds_inside(const struct mds_who *w, uint64_t ino);
/* Is ino inside the session's export, or open by the session?  Returns
 * ZC_OK, ZC_ST_PERM or ZC_ST_UNDECLARED. */
int mds_reach(const struct mds_who *w, uint64_t ino);
/* Remembers an inode known to be inside the export (just made or found). */
void mds_tree_add(const struct mds_who *w, uint64_t ino);

/* ---- session.c: sessions, open files, orphans, replay (mds_lock held) ---- */

extern unsigned mds_lease_s;	/* a session not renewed this long ends */
extern uint64_t mds_boot_id;	/* changes at every start */
/* Loads the sessions of the store, each with a fresh lease.  0 or -errno. */
int mds_sessions_load(void);
/* Starts the thread that expires sessions.  0 or -errno. */
int mds_sessions_start(void);
/* Ends sessions past their lease; after the grace period, sweeps orphans. */
void mds_sessions_tick(void);
bool mds_session_known(uint64_t id);
int mds_session_count(void);
uint64_t mds_open_count(void);
/* Since the start, less than a lease: clients may not have declared their
 * open files yet, so no orphan is freed. */
bool mds_in_grace(void);
/* SESSION_NEW / RENEW / END, OPEN, RELEASE.  Returns a zc_status. */
int mds_session_handle(uint16_t type, struct mds_who *w, struct zc_cur *in, struct zc_cur *o);
/* Fills w's session part (root, tree cache, pending) if the session is
 * there and was started by w's credential.  Returns a zc_status. */
int mds_session_who(struct mds_who *w);
int mds_open_created(uint64_t session, uint64_t handle, uint64_t ino);
bool mds_ino_open(uint64_t ino);
/* Has w's session ino open with at least access (ZC_OPEN_READ/WRITE bits;
 * 0: any)?  Returns ZC_OK, ZC_ST_UNDECLARED (it has not declared its opens
 * since a restart) or ZC_ST_PERM. */
int mds_open_check(const struct mds_who *w, uint64_t ino, unsigned access);
/* Frees ino if it is an orphan nobody has open (in a transaction). */
int mds_orphan_check(uint64_t ino);
/* The stored answer of (session, seq), if that change already ran. */
int mds_replay_find(uint64_t session, uint64_t seq, struct zc_cur *o, bool *found);
/* Stores an answer; forgets the session's answers below ack. */
int mds_replay_save(uint64_t session, uint64_t seq, uint64_t ack, const void *p, size_t len);

/* ---- locks.c ---- */

struct lk_range {
	int64_t lo, hi;		/* inclusive; hi ZC_LK_EOF: to the end of file */
	uint32_t pid;
	uint8_t type;		/* ZC_LK_READ, ZC_LK_WRITE (ZC_LK_UNLOCK in requests) */
};

/*
 * One owner's POSIX locks after a request: ranges cut where the request
 * covers them, the request added (unless it unlocks), neighbours of one
 * type merged; sorted.  Returns the count, or -ENOLCK past max.
 */
int lk_apply(const struct lk_range *cur, int n, const struct lk_range *req, struct lk_range *out,
	     int max);
/* LOCK and GETLK.  Returns a zc_status (ZC_ST_AGAIN: a conflict). */
int mds_lock_handle(uint16_t type, uint64_t session, struct zc_cur *in, struct zc_cur *o);
int mds_locks_drop_session(uint64_t session);
int mds_locks_drop_ino(uint64_t ino);

/*
 * Serves one client request (CLTOMA: the session prefix, then the
 * arguments) from a connection that proved credential peer (""
 * if none), answering into o.  Takes mds_lock.  Returns a zc_status.
 * The network loop calls it; unit tests call it straight.
 */
int mds_client_request(const char *peer, uint16_t type, uint8_t *payload, uint32_t len,
		       struct zc_cur *o);
/*
 * Serves one chunk-server request (CSTOMA) from connection c (its name and
 * peer address are used), answering into o, which must hold
 * MDS_CS_ANSWER_MAX bytes (a full REPORT page's answer: every chunk to
 * delete, or every chunk to move).  Takes mds_lock.  Returns a zc_status.
 */
struct zc_srv_conn;
#define MDS_CS_ANSWER_MAX (8 + 12 * ZC_REPORT_PAGE)
int mds_cs_request(struct zc_srv_conn *c, uint16_t type, uint8_t *payload, uint32_t len,
		   struct zc_cur *o);

/* ---- reply.c: answers after their commit, the connection going on ---- */

struct zc_hdr;
/* Sends the answer of the request this thread just served once the batch
 * it touched is committed (ZC_ST_IO if that failed): at once if it touched
 * none; held while the next request is already there.  Returns 0 or a
 * send error. */
int mds_reply(struct zc_srv_conn *c, const struct zc_hdr *h, int st, const void *p,
	      uint32_t len);
/* The connection ends: its held answers' batches are committed. */
void mds_reply_close(struct zc_srv_conn *c);

int zc_cmd_mds(int argc, char **argv);

#endif
