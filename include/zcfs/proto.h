/* SPDX-License-Identifier: MIT */
/*
 * zcfs wire protocol: every message, status code and limit on the wire.
 *
 * All integers are little-endian.  Every message is one frame:
 *
 *   frame header (ZC_HDR_LEN bytes)
 *     magic:32 type:16 flags:16 status:32 len:32 xid:64
 *   payload (len bytes)
 *
 * A request and its response share type and xid; the response has
 * ZC_F_RESP set in flags and a zc_status in status.  A response with a
 * non-zero status carries no payload.
 *
 * Every CLTOMA request payload starts with session:64 seq:64 ack:64
 * uid:32 gid:32 ngroups:8 then ngroups times gid:32, then the arguments
 * listed below.  session is the mount's session (0: none, allowed only for
 * SESSION_NEW, STATUS and STATS); seq numbers a namespace change (0 for
 * anything else) so that a retry after a lost answer gets the first answer
 * again instead of running twice; ack is the lowest seq the client still
 * waits for (the mds may forget the answers below it).
 *
 * uid, gid and the groups (at most ZC_MAX_GROUPS) are the identity of the
 * process that asked; requests a client makes for itself (renewals, size
 * flushes, releases) send 0, 0 and no groups.  The mds maps the identity as
 * the session's export says (root_squash, all_squash) and checks
 * permissions with it as the kernel does, except where a request is
 * allowed by the session's open handles: CHUNK_ALLOC, APPEND, SETSIZE,
 * TRUNC_PREP and RELEASE with a size need the inode open for writing by
 * the session (TRUNC_PREP and a SETATTR of the size: or write permission).
 * An inode outside the export's subtree, not open by the session, is
 * refused (ZC_ST_PERM); a change on a read-only export is ZC_ST_ROFS.
 * The uid and gid fields of MKNOD, CREATE and SYMLINK are not used: the
 * new inode belongs to the caller's identity.
 *
 * Strings are name_len:16 followed by the bytes, no terminator.
 * "attr" below is the ZC_ATTR_LEN-byte block described at struct zc_attr;
 * "dattr" is the attr of a folder whose names the request changed, as it
 * is after the change (the client answers the kernel's next GETATTR of the
 * folder with it).
 * "loc" is a chunk location: chunk_id:64 version:32 nrep:8 then nrep times
 * (cs_id:32 ip:32 port:16) with ip in network byte order, then "cap".
 * "cap" is a chunk capability (src/common/auth.h): rights:8 expiry:64
 * session:64 mac[16], minted by the mds, checked by chunk servers.
 */
#ifndef ZCFS_PROTO_H
#define ZCFS_PROTO_H

#include <stdint.h>

#define ZC_MAGIC	0x3146435aU	/* "ZCF1" */
#define ZC_HDR_LEN	24
#define ZC_F_RESP	0x0001
/* A WRITE whose sender copies (-o zerocopy=0): its chunk servers take the
 * copying route too, so one run compares both routes end to end. */
#define ZC_F_COPY	0x0002

/* Limits checked on every frame received. */
#define ZC_MAX_IO	(1U << 20)		/* largest READ/WRITE payload */
#define ZC_MAX_META	(4U << 20)		/* largest non-data payload */
#define ZC_MAX_FRAME	(ZC_MAX_META)		/* payload limit of any frame */
#define ZC_MAX_NAME	255
#define ZC_MAX_PATH	4096
#define ZC_MAX_REPLICAS	8
#define ZC_REPORT_PAGE	8192			/* chunks per REPORT */

#define ZC_CHUNK_SIZE	(64ULL << 20)
#define ZC_BLOCK_SIZE	(64U << 10)		/* one CRC32C per block */
#define ZC_BLOCKS_PER_CHUNK (ZC_CHUNK_SIZE / ZC_BLOCK_SIZE)
#define ZC_ROOT_INO	1
#define ZC_MAX_GROUPS	32	/* supplementary groups sent with a request */

enum zc_type {
	/* client -> mds (CLTOMA) */
	ZC_CLTOMA_LOOKUP = 1,	/* parent:64 name -> attr */
	ZC_CLTOMA_GETATTR,	/* ino:64 -> attr */
	ZC_CLTOMA_SETATTR,	/* ino:64 valid:32 mode:32 uid:32 gid:32 size:64
				   atime_s:64 atime_ns:32 mtime_s:64 mtime_ns:32
				   [wmtime_s:64 wmtime_ns:32 with ZC_SET_GROW]
				   -> attr (ZC_SET_* bits in valid) */
	ZC_CLTOMA_MKNOD,	/* parent:64 mode:32 uid:32 gid:32 rdev:32 name
				   -> attr dattr (regular files, fifos, sockets,
				   dirs) */
	ZC_CLTOMA_SYMLINK,	/* parent:64 uid:32 gid:32 name target -> attr dattr */
	ZC_CLTOMA_LINK,		/* ino:64 newparent:64 name -> attr dattr */
	ZC_CLTOMA_UNLINK,	/* parent:64 name -> dattr */
	ZC_CLTOMA_RMDIR,	/* parent:64 name -> dattr */
	ZC_CLTOMA_RENAME,	/* parent:64 name newparent:64 newname flags:32
				   -> dattr (parent's), then dattr (newparent's)
				   if another folder */
	ZC_CLTOMA_READLINK,	/* ino:64 -> target */
	ZC_CLTOMA_READDIR,	/* ino:64 cookie:64 max:32 -> count:32 then count
				   times (cookie:64 name attr), then end:8 (1:
				   no entry follows the last) */
	ZC_CLTOMA_STATFS,	/* () -> total:64 free:64 files:64 */
	ZC_CLTOMA_CHUNK_GET,	/* ino:64 idx:32 -> size:64 loc (chunk_id 0 = hole) */
	ZC_CLTOMA_CHUNK_ALLOC,	/* ino:64 idx:32 -> size:64 loc */
	ZC_CLTOMA_SETSIZE,	/* ino:64 size:64 mtime_s:64 mtime_ns:32
				   -> attr; grows only (a write's end) */
	ZC_CLTOMA_TRUNC_PREP,	/* ino:64 size:64 -> loc of chunk holding size,
				   then, when size grows the file past the
				   chunk holding its old end, that chunk's loc
				   (placed, maybe never written: the client
				   makes sure it exists, ZC_TRUNC_GROW) */
	ZC_CLTOMA_STATS,	/* client counters: id string, n:16 then
				   n times (name value:64), then optionally
				   metrics_ip:32 metrics_port:16 (its /metrics
				   endpoint; ip 0: the address the message came
				   from, port 0: none) -> () */
	ZC_CLTOMA_STATUS,	/* json:32 -> text (the cluster's state) */
	ZC_CLTOMA_CHUNK_FAILED,	/* ino:64 idx:32 chunk_id:64 version:32 n:8 then n times
				   cs_id:32 (replicas that failed a write, or served
				   bad data) -> size:64 loc (the chunk's new layout) */
	ZC_CLTOMA_SETGOAL,	/* ino:64 goal:8 -> attr (replicas wanted; a directory
				   passes it on to what is created in it) */
	ZC_CLTOMA_LAYOUT,	/* ino:64 -> text (goal, chunks, replicas, states) */
	ZC_CLTOMA_SESSION_NEW,	/* name -> session:64 boot:64 lease_ms:32 ...
				   root_ino:64, always the last 8 bytes of the
				   answer: the export's root, which the client
				   shows as its root (nodeid 1) */
	ZC_CLTOMA_SESSION_RENEW, /* boot:64 declare:8 n:32 then n times (handle:64
				   ino:64 access:8) -> boot:64 lease_ms:32.  A
				   client seeing a new boot (the mds restarted), or
				   answered ZC_ST_UNDECLARED, renews again with
				   declare=1 and every file it has open, each with
				   its ZC_OPEN_READ / ZC_OPEN_WRITE bits */
	ZC_CLTOMA_SESSION_END,	/* () -> () : drops the session's opens and locks */
	ZC_CLTOMA_OPEN,		/* ino:64 handle:64 flags:32 -> attr (ZC_OPEN_*);
				   the file stays even if unlinked until released */
	ZC_CLTOMA_CREATE,	/* handle:64 then as MKNOD, then flags:8 -> attr, and
				   opened for reading and writing; then size:64
				   loc of chunk 0 to write: with ZC_CREATE_CHUNK
				   and a chunk server to be had, a placed chunk (a
				   small file costs no CHUNK_ALLOC), else chunk_id
				   0 nrep 0; then dattr */
	ZC_CLTOMA_RELEASE,	/* ino:64 handle:64 size:64 mtime_s:64 mtime_ns:32
				   flags:32 -> () (ZC_REL_SIZE: size and mtime as
				   SETSIZE) */
	ZC_CLTOMA_LOCK,		/* ino:64 owner:64 pid:32 kind:8 type:8 start:64
				   end:64 -> () ; ZC_ST_AGAIN on a conflict */
	ZC_CLTOMA_GETLK,	/* ino:64 owner:64 type:8 start:64 end:64 -> found:8
				   then type:8 start:64 end:64 pid:32 */
	ZC_CLTOMA_APPEND,	/* ino:64 len:32 -> off:64 killed:8 : reserves
				   [off, off+len) at the end of the file for an
				   O_APPEND write; killed: setuid/setgid dropped */

	/* chunk server -> mds (CSTOMA) */
	ZC_CSTOMA_REGISTER = 64, /* uuid(16 bytes) ip:32 port:16 total:64 free:64,
				   then optionally metrics_ip:32 metrics_port:16
				   (as in STATS) -> cs_id:32 */
	ZC_CSTOMA_HEARTBEAT,	/* cs_id:32 total:64 free:64 nchunks:32
				   -> n:32 then n times (chunk_id:64 version:32):
				   delete the chunk if its version is not newer */
	ZC_CSTOMA_REPORT,	/* cs_id:32 n:32 then n times (chunk_id:64 version:32)
				   -> n:32 then n times chunk_id:64 (delete), then
				   m:32 then m times (chunk_id:64 version:32) (replicas
				   to move to that version).  Sent in pages of at most
				   ZC_REPORT_PAGE chunks, each answered by itself */
	ZC_CSTOMA_CHUNK_BAD,	/* cs_id:32 chunk_id:64 -> () (the scrubber found a
				   checksum error) */

	/* client -> chunk server (CLTOCS) */
	ZC_CLTOCS_READ = 128,	/* chunk_id:64 version:32 off:32 len:32 cap
				   -> raw bytes (≤ len; fewer = past the chunk's end) */
	ZC_CLTOCS_WRITE,	/* chunk_id:64 version:32 off:32 len:32 cap nchain:8 then
				   nchain times (ip:32 port:16), then len bytes
				   -> n:8 then n times status:8, one per replica from
				   this one down the chain.  Creates the chunk if
				   missing; forwards to the chain's next replica
				   with the rest of the chain (chain replication) */
	ZC_CLTOCS_TRUNCATE,	/* chunk_id:64 version:32 len:32 cap -> ()
				   (len | ZC_TRUNC_GROW: never shorter) */
	ZC_CLTOCS_FSYNC,	/* chunk_id:64 -> () */

	/* mds -> chunk server (MATOCS) */
	ZC_MATOCS_SETVERSION = 160, /* chunk_id:64 old:32 new:32 -> () ; moves the
				   chunk forward to new (never back) */
	ZC_MATOCS_REPLICATE,	/* chunk_id:64 version:32 ip:32 port:16 rate_mib:32
				   -> () ; copy the chunk from that replica */
	ZC_MATOCS_INFO,		/* chunk_id:64 version:32 -> len:32 digest:32 (CRC32C
				   over the block checksums) */
	ZC_MATOCS_DELETE,	/* chunk_id:64 -> () */

	/* the handshake that starts every connection (src/common/auth.h) */
	ZC_AUTH_HELLO = 192,	/* version:16 role:8 nonce[32] name session:64
				   expiry:64 -> role:8 nonce[32] mac[32] */
	ZC_AUTH_PROOF,		/* mac[32] -> () */

	ZC_TYPE_MAX
};

/* SETATTR valid bits */
#define ZC_SET_MODE	0x01
#define ZC_SET_UID	0x02
#define ZC_SET_GID	0x04
#define ZC_SET_SIZE	0x08
#define ZC_SET_ATIME	0x10
#define ZC_SET_MTIME	0x20
#define ZC_SET_ATIME_NOW 0x40
#define ZC_SET_MTIME_NOW 0x80
/* What SETSIZE does, first, in the same change: size at least size: (the
 * writer's, not told yet), mtime wmtime (its last write); ignored unless
 * the session has the file open for writing.  A setattr after writes
 * (tar's utimens, chown, chmod) so spares the SETSIZE at close. */
#define ZC_SET_GROW	0x100

/* In TRUNCATE's len: make the chunk file if it is missing and grow it to
 * len, never cut it (a chunk file's missing tail reads as zeros). */
#define ZC_TRUNC_GROW	0x80000000U

/* OPEN flags */
#define ZC_OPEN_TRUNC	0x01	/* O_TRUNC: size 0, mtime and ctime now */
#define ZC_OPEN_READ	0x02	/* open(2)'s access mode: O_RDONLY or O_RDWR */
#define ZC_OPEN_WRITE	0x04	/* O_WRONLY or O_RDWR */

/* CREATE flags */
#define ZC_CREATE_CHUNK	0x01	/* opened for writing: place chunk 0 now */

/* RELEASE flags */
#define ZC_REL_SIZE	0x01

/* Locks: kind, type, and the end of a range that runs to the end of file. */
#define ZC_LK_POSIX	0
#define ZC_LK_FLOCK	1
#define ZC_LK_UNLOCK	0
#define ZC_LK_READ	1
#define ZC_LK_WRITE	2
#define ZC_LK_EOF	INT64_MAX

/* RENAME flags (as renameat2) */
#define ZC_RENAME_NOREPLACE 1
#define ZC_RENAME_EXCHANGE  2

/* Wire status codes: kept apart from errno, converted in zc_status_errno(). */
enum zc_status {
	ZC_OK = 0,
	ZC_ST_NOENT,
	ZC_ST_EXIST,
	ZC_ST_NOTDIR,
	ZC_ST_ISDIR,
	ZC_ST_NOTEMPTY,
	ZC_ST_INVAL,		/* malformed request */
	ZC_ST_NOSPACE,
	ZC_ST_IO,
	ZC_ST_CRC,		/* stored data failed its checksum */
	ZC_ST_STALE,		/* chunk version mismatch */
	ZC_ST_NOCS,		/* no chunk server available */
	ZC_ST_NAMETOOLONG,
	ZC_ST_PERM,
	ZC_ST_NOTSUP,
	ZC_ST_FBIG,
	ZC_ST_AGAIN,		/* busy, try again */
	ZC_ST_BADSESSION,	/* unknown or expired session: start a new one */
	ZC_ST_BUSY,
	ZC_ST_NOLCK,		/* too many lock ranges */
	ZC_ST_DENIED,		/* chunk capability missing, forged, expired or
				   without the right: ask the mds again */
	ZC_ST_ROFS,		/* a change on a read-only export */
	ZC_ST_ACCES,		/* the mode bits refuse it */
	ZC_ST_UNDECLARED,	/* the mds restarted and the session has not
				   declared its open files yet: declare, retry */
	ZC_ST_MAX
};

/*
 * attr block, ZC_ATTR_LEN bytes:
 * ino:64 mode:32 nlink:32 uid:32 gid:32 rdev:32 size:64
 * atime_s:64 atime_ns:32 mtime_s:64 mtime_ns:32 ctime_s:64 ctime_ns:32
 */
#define ZC_ATTR_LEN 72

#endif
