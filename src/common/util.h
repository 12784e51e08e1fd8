/* SPDX-License-Identifier: MIT */
#ifndef ZC_UTIL_H
#define ZC_UTIL_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "zcfs/proto.h"

#define ZC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ZC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ZC_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Wire status <-> errno, the only place they are converted. */
int zc_status_errno(int status);
int zc_errno_status(int err);
const char *zc_status_str(int status);

/* Monotonic clock in nanoseconds. */
uint64_t zc_now_ns(void);

/* "host:port" (IPv4 or a name) -> sockaddr.  Returns 0 or -EINVAL. */
int zc_parse_addr(const char *s, struct sockaddr_in *sa);
/* Formats "a.b.c.d:port" into buf (at least 24 bytes); returns buf. */
char *zc_fmt_addr(const struct sockaddr_in *sa, char *buf, size_t len);

/* TCP listening socket; port 0 picks a free one (read it back with
 * getsockname).  Returns the fd or -errno. */
int zc_tcp_listen(const struct sockaddr_in *sa);
/* Blocking TCP connect with a timeout in ms.  Returns the fd or -errno. */
int zc_tcp_connect(const struct sockaddr_in *sa, int timeout_ms);

/* Whole reads and writes on blocking descriptors: return 0 or -errno;
 * -EPIPE when the peer closed before all bytes came. */
int zc_read_full(int fd, void *buf, size_t len);
/* Decodes in place the \040-style escapes /proc/self/mounts and mountinfo
 * write for a blank, tab, newline or backslash in a path.  Returns s. */
char *zc_unescape_mnt(char *s);
/* s as the inside of a JSON string (quotes, backslashes and control
 * characters escaped) in out, cut to fit cap bytes.  Returns out. */
char *zc_json_str(const char *s, char *out, size_t cap);
/* Receives exactly len bytes from a socket with recv flags; each time
 * none are there (EAGAIN: MSG_DONTWAIT, or SO_RCVTIMEO ran out) calls
 * wait(arg), which returns 0 to go on or -errno to give up with.
 * Returns 0, -ECONNRESET at end of stream, or -errno. */
int zc_recv_full(int fd, void *buf, size_t len, int flags, int (*wait)(void *arg), void *arg);
int zc_write_full(int fd, const void *buf, size_t len);
int zc_pread_full(int fd, void *buf, size_t len, off_t off);
int zc_pwrite_full(int fd, const void *buf, size_t len, off_t off);
/* Moves len bytes from a pipe to fd (a socket; a file at *off, which
 * advances, when off is not NULL) with splice(2): no copy through user
 * space.  0, or -errno (-EPIPE: the pipe ran dry); on an error the bytes
 * not moved are drained from the pipe. */
int zc_splice_all(int pipe_rd, int fd, off_t *off, size_t len);
/* Moves len bytes from a socket into a pipe with splice(2), counting them
 * in *got; each time none are there calls wait(arg) as zc_recv_full does.
 * Returns 0, -ECONNRESET at end of stream, -ENOBUFS when bytes wait in the
 * socket but the pipe has no room left (a socket's bytes may take more
 * pipe slots than pages), or -errno. */
int zc_splice_in(int sock, int pipe_wr, size_t len, size_t *got, int (*wait)(void *arg),
		 void *arg);

/* Raises the soft limit of open files to the hard one and logs it.
 * Returns the limit now in force. */
long zc_raise_nofile(const char *who);

/* Starts a detached thread.  Returns 0 or -errno. */
int zc_thread_start(void *(*fn)(void *), void *arg);

/* Locks DIR/LOCK so that one daemon at a time uses the folder, waiting up
 * to 5 s for a holder that is exiting.  Returns the lock's fd, -EBUSY if
 * another holds it, or -errno. */
int zc_lock_dir(const char *dir);

#endif
