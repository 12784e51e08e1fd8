/* SPDX-License-Identifier: MIT */
/* FUSE client internals. */
#ifndef ZC_CLIENT_I_H
#define ZC_CLIENT_I_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/metrics.h"
#include "common/pipe.h"
#include "common/util.h"
#include "common/wire.h"
#include "rpc/rpc.h"

/* FUSE operations timed for /metrics (the others are one mds call each,
 * timed by type in mds_calls). */
enum zc_fop { ZC_FOP_READ, ZC_FOP_WRITE, ZC_FOP_FSYNC, ZC_FOP_FLUSH, ZC_FOP_N };

/* Counters reported to the mds every second and shown by `zcfs status`;
 * GET /metrics renders them too (client/metrics.c). */
struct zc_counters {
	atomic_ullong meta_ops, reads, read_bytes, writes, write_bytes, errors;
	atomic_ullong read_zc_bytes;	/* replied from pipes: no user-space copy */
	atomic_ullong read_copy_bytes;	/* replied through user memory */
	atomic_ullong write_zc_bytes;	/* spliced from libfuse's pipe to the socket */
	atomic_ullong write_copy_bytes;	/* sent from user memory */
	atomic_ullong zc_fallback_segs;	/* ZC wanted, no pipe to be had */
	atomic_ullong zc_fallback_replies; /* sampled: libfuse copied a ZC reply */
	atomic_ullong read_zero_bytes;	/* holes and chunk tails */
	atomic_ullong read_retries, write_retries;
	atomic_ullong rq_le4k, rq_le64k, rq_le256k, rq_le1m;	/* reads by size */
	atomic_ullong attr_kept;	/* GETATTRs answered from a change's answer */
	/* Round trips to the mds by request type (CLTOMA types are below
	 * 64), and the time they took. */
	struct zc_hist mds_calls[64];
	/* FUSE requests from their arrival to the reply. */
	struct zc_hist fuse_ops[ZC_FOP_N];
};

struct zc_client {
	struct sockaddr_in mds;
	char mds_str[64];
	bool zerocopy;
	double attr_timeout, entry_timeout;
	unsigned mds_timeout_s;	/* calls wait this long for an mds that is away */
	volatile bool stopping;	/* unmounting: calls stop waiting */
	struct fuse_session *se;	/* for notifications to the kernel */
	char id[96];
	uint8_t id_msg[128];	/* the id as a wire string, for new sessions */
	size_t id_msg_len;
	struct sockaddr_in metrics;	/* its /metrics endpoint (port 0: none) */
	struct zc_counters n;
};

extern struct zc_client zc_cl;

/* metrics.c: GET /metrics of the mount.  Binds addr before the mount
 * daemonizes (a bad address stops it there); serving starts after, in
 * the process that stays.  0 or -errno, logged. */
int zc_client_metrics_listen(const char *addr);
void zc_client_metrics_serve(void);
/* Notes one FUSE request of kind op that arrived at t0 (zc_now_ns). */
static inline void zc_fop_done(enum zc_fop op, uint64_t t0)
{
	zc_hist_add(&zc_cl.n.fuse_ops[op], zc_now_ns() - t0);
}

/* Per-inode state for open files, shared by every handle of the inode. */
struct zc_ocache {
	struct zc_loc loc;
	bool valid;
	bool for_write;		/* came from the mds's write path (CHUNK_ALLOC or
				   CHUNK_FAILED), which holds writers off a chunk
				   being copied; a reader's layout is never
				   used to write */
	bool dirty;		/* written since the last fsync */
};

struct zc_inode {
	uint64_t ino;
	int opens;
	pthread_mutex_t lock;
	/* One size flush at a time, held across its call: a release waits
	 * for a flush in flight, which its handle may be what allows. */
	pthread_mutex_t flush_lock;
	uint64_t size;		/* as this client knows it */
	bool size_dirty;	/* written (grown, or mtime moved), not yet told
				   to the mds */
	bool posix_locked;	/* this client took fcntl locks on it: a close
				   releases its owner's */
	bool unwritten0;	/* opened here empty, for writing, chunk 0 not
				   written since: it may exist on no chunk
				   server (write.c, make_chunk0) */
	int64_t mtime_s;
	uint32_t mtime_ns;
	uint32_t nlocs;
	struct zc_ocache *locs;	/* by chunk index */
	struct zc_inode *next;
};

/* One open of a file (fi->fh). */
struct zc_fh {
	struct zc_inode *in;
	uint64_t handle;	/* names it at the mds */
	uint32_t flags;		/* open(2) flags */
	struct zc_fh *next, *prev;
};

/* session.c: calls to the mds, the session, open handles. */
/*
 * Runs a call to the mds and waits for the answer, riding out an mds that
 * is away for up to mds_timeout (then -EIO); req (may be NULL) lets the
 * application's interrupt end a wait for an mds that is away (-EINTR),
 * never a call in flight nor a namespace change that may have run (see
 * session.c).  Returns 0 or -errno; on 0 the caller frees call->resp with
 * zc_call_free_resp().
 */
int zc_mds_call(fuse_req_t req, uint16_t type, const void *args, size_t len,
		struct zc_call *call);
/* The same for a call whose answer carries nothing.  Returns 0 or -errno. */
int zc_mds_run(fuse_req_t req, uint16_t type, const void *args, size_t len);
/* FUSE's root (nodeid 1) is the export's root at the mds, which may be
 * another inode: ino_mds maps an inode number going to the mds, ino_fuse
 * one coming from it.  Every other number is the same on both sides. */
uint64_t zc_ino_mds(uint64_t ino);
uint64_t zc_ino_fuse(uint64_t ino);
/* open(2) flags' access mode as ZC_OPEN_READ / ZC_OPEN_WRITE bits. */
uint8_t zc_open_access(int flags);
/* Sets the name sessions are started under (from zc_cl.id). */
void zc_session_init(void);
int zc_session_start(void);
/* Renews the lease; declares the open files again after an mds restart. */
void zc_session_renew(void);
unsigned zc_session_renew_ms(void);
void zc_session_end(void);
struct zc_fh *zc_fh_new(struct zc_inode *in, uint32_t flags);
void zc_fh_set_inode(struct zc_fh *fh, struct zc_inode *in);
void zc_fh_free(struct zc_fh *fh);

/* mount.c: the FUSE operations, locks, main. */
/* Runs a call to the mds whose answer is an attr (into a; NULL: the answer
 * has none), and keeps the folders' attributes that end the answer to a
 * change of names.  Returns 0 or -errno. */
int zc_mds_attr_call(fuse_req_t req, uint16_t type, const void *args, size_t len,
		     struct zc_attr *a);
void zc_attr_to_stat(const struct zc_attr *a, struct stat *st);
/* The goal in the mds's layout text "inode N size S replicas R ...", len
 * bytes with no terminator: points *goal at R's digits and returns how many
 * there are, or -EIO. */
ssize_t zc_layout_goal(const char *text, size_t len, const char **goal);

/* inode.c: the open inodes and the chunk locations cached for them. */
struct zc_inode *zc_inode_open(uint64_t ino);
/* The open inode, referenced (zc_inode_close() it), or NULL. */
struct zc_inode *zc_inode_find(uint64_t ino);
void zc_inode_close(struct zc_inode *in);
/* Pushes a size grown by writes, and the mtime, to the mds.  Returns 0 or
 * -errno. */
int zc_inode_flush_size(fuse_req_t req, struct zc_inode *in);
/* Pushes every open inode's size and mtime (each second, and at unmount). */
void zc_inode_flush_all(void);
/* Takes what the mds says at open or create: its size, unless this client
 * wrote more; after O_TRUNC, nothing this client knew of the data holds. */
void zc_inode_opened(struct zc_inode *in, uint64_t size, bool truncated, bool writing);
/* The size and mtime a release leaves with the mds (and clears them). */
bool zc_inode_take_dirty(struct zc_inode *in, uint64_t *size, int64_t *mtime_s,
			 uint32_t *mtime_ns);
/* Attributes (a->ino in FUSE's numbering) from the mds's answer to a
 * change, kept to answer the GETATTR the change makes the kernel send. */
void zc_attr_keep(const struct zc_attr *a);
/* The kept attributes of ino, once, if kept within the attribute timeout. */
bool zc_attr_take(uint64_t ino, struct zc_attr *a);
/* Forgets ino's kept attributes; ino 0: everyone's. */
void zc_attr_forget(uint64_t ino);
/* A number that moves with every keep and forget (every change made
 * through this client): a kept folder listing older than it is stale. */
uint64_t zc_attr_epoch(void);
/* Was monotonic time at (ns) within the attribute timeout? */
bool zc_attr_fresh(uint64_t at);
/* A layout to write chunk idx with, given by the mds with a create. */
void zc_io_known_loc(struct zc_inode *in, uint32_t idx, const struct zc_loc *l);
/* Copies the location of chunk idx into *l, asking the mds (and with
 * alloc, creating the chunk) when it is not cached, or when fresh is set.
 * Returns 0 or -errno (-EAGAIN: the chunk is being copied, write later). */
int zc_fetch_loc(fuse_req_t req, struct zc_inode *in, uint32_t idx, bool alloc, bool fresh,
		 struct zc_loc *l);
/* Tells the mds that replicas failed (reason 0: missed a write, 1: bad
 * data, 2: unreachable) and takes the layout it answers. */
int zc_report_failed(fuse_req_t req, struct zc_inode *in, uint32_t idx, const struct zc_loc *l,
		     const uint32_t *cs, int n, int reason, struct zc_loc *out);
/* Sorts l's replicas fastest first, by the read latencies noted so far. */
void zc_order_replicas(struct zc_loc *l);
/* Notes how long a read from chunk server cs_id took. */
void zc_note_latency(uint32_t cs_id, uint64_t ns);
/* Drops the cached locations of chunks from index from on (a truncate). */
void zc_forget_locs(struct zc_inode *in, uint32_t from);
/* A connection to a replica's chunk server (zc_conn_put() it), or NULL and
 * -errno in *err. */
struct zc_conn *zc_replica_conn(const struct zc_replica *r, int *err);

/* read.c: the read path, with its pools of buffers and zero-copy pipes. */
void zc_io_read(fuse_req_t req, struct zc_inode *in, size_t size, off_t off);

/* write.c: writes to every replica of a chunk, fsync and truncate. */
/* A WRITE's bytes: in memory (buf), or in the pipe libfuse spliced the
 * request into (buf NULL, pipe its read end): zero-copy. */
struct zc_wsrc {
	const char *buf;
	int pipe;
};
/* append: at the end of the file as the mds knows it, whatever off says.
 * Replies.  Returns whether src's pipe gave all its size bytes (false:
 * libfuse must not reuse it). */
bool zc_io_write(fuse_req_t req, struct zc_inode *in, struct zc_wsrc src, size_t size, off_t off,
		 bool append);
int zc_io_fsync(fuse_req_t req, struct zc_inode *in);
/* fallocate(2) without KEEP_SIZE: the file grows to end if shorter (no
 * space is reserved: chunk servers take it as bytes arrive). */
int zc_io_allocate(fuse_req_t req, struct zc_inode *in, uint64_t end);
/* Shrinks or grows the file: truncates the chunk at the new end on its
 * chunk servers, then sets the size at the mds; grow: only ever longer
 * (what another client wrote past size stays).  Returns 0 or -errno. */
int zc_io_truncate(fuse_req_t req, uint64_t ino, uint64_t size, bool grow,
		   struct zc_attr *out);
/*
 * Reads a WRITE's answer, "n:8 then status:8 per replica of l's chain".
 * The replicas that missed the write go into failed, each once; an answer
 * cut short or with other than l->nrep statuses counts against l->rep[0],
 * which sent it.  *stale counts the replicas asking for a fresh layout
 * (AGAIN; STALE if stale_ok).  Returns how many are in failed (at most
 * l->nrep).
 */
int zc_write_statuses(const void *resp, size_t len, const struct zc_loc *l, bool stale_ok,
		      uint32_t failed[ZC_MAX_REPLICAS], int *stale);

#endif
