// SPDX-License-Identifier: MIT
#include "util.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const struct {
	int status, err;
	const char *name;
} status_map[] = {
	{ ZC_OK, 0, "ok" },
	{ ZC_ST_NOENT, ENOENT, "no such entry" },
	{ ZC_ST_EXIST, EEXIST, "exists" },
	{ ZC_ST_NOTDIR, ENOTDIR, "not a directory" },
	{ ZC_ST_ISDIR, EISDIR, "is a directory" },
	{ ZC_ST_NOTEMPTY, ENOTEMPTY, "directory not empty" },
	{ ZC_ST_INVAL, EINVAL, "invalid request" },
	{ ZC_ST_NOSPACE, ENOSPC, "no space" },
	{ ZC_ST_IO, EIO, "I/O error" },
	{ ZC_ST_CRC, EIO, "checksum mismatch" },
	{ ZC_ST_STALE, ESTALE, "stale chunk version" },
	{ ZC_ST_NOCS, ENOSPC, "no chunk server available" },
	{ ZC_ST_NAMETOOLONG, ENAMETOOLONG, "name too long" },
	{ ZC_ST_PERM, EPERM, "not permitted" },
	{ ZC_ST_NOTSUP, EOPNOTSUPP, "not supported" },
	{ ZC_ST_FBIG, EFBIG, "file too large" },
	{ ZC_ST_AGAIN, EAGAIN, "busy, try again" },
	{ ZC_ST_BADSESSION, ENOLINK, "unknown session" },
	{ ZC_ST_BUSY, EBUSY, "busy" },
	{ ZC_ST_NOLCK, ENOLCK, "too many locks" },
	{ ZC_ST_DENIED, EKEYREJECTED, "capability refused" },
	{ ZC_ST_ROFS, EROFS, "read-only export" },
	{ ZC_ST_ACCES, EACCES, "permission denied" },
	{ ZC_ST_UNDECLARED, EREMCHG, "open files not declared since the mds restarted" },
};

int zc_status_errno(int status)
{
	for (size_t i = 0; i < ZC_ARRAY_SIZE(status_map); i++)
		if (status_map[i].status == status)
			return status_map[i].err;
	return EIO;
}

int zc_errno_status(int err)
{
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < ZC_ARRAY_SIZE(status_map); i++)
		if (status_map[i].err == err)
			return status_map[i].status;
	return ZC_ST_IO;
}

const char *zc_status_str(int status)
{
	for (size_t i = 0; i < ZC_ARRAY_SIZE(status_map); i++)
		if (status_map[i].status == status)
			return status_map[i].name;
	return "unknown status";
}

uint64_t zc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int zc_parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[256];
	const char *colon = strrchr(s, ':');
	struct addrinfo hints = { .ai_family = AF_INET }, *res;
	char *end;
	long port;
	size_t hl;

	if (!colon || colon == s)
		return -EINVAL;
	hl = colon - s;
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = 0;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 0 || port > 65535)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) == 1)
		return 0;
	if (getaddrinfo(host, NULL, &hints, &res))
		return -EINVAL;
	sa->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}

char *zc_fmt_addr(const struct sockaddr_in *sa, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, ntohs(sa->sin_port));
	return buf;
}

static void tune(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int zc_tcp_listen(const struct sockaddr_in *sa)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) || listen(fd, 128)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int zc_tcp_connect(const struct sockaddr_in *sa, int timeout_ms)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int err = 0;
	socklen_t el = sizeof(err);
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa))) {
		if (errno != EINPROGRESS) {
			err = -errno;
			goto out_close;
		}
		if (poll(&pfd, 1, timeout_ms) != 1) {
			err = -ETIMEDOUT;
			goto out_close;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
			err = -(err ? err : errno);
			goto out_close;
		}
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	tune(fd);
	return fd;
out_close:
	close(fd);
	return err;
}

/* One loop for the four whole-transfer helpers; off < 0: no offset. */
static int io_full(int fd, void *buf, size_t len, off_t off, bool wr)
{
	char *p = buf;

	while (len) {
		ssize_t n;

		if (wr && off < 0) {
			n = send(fd, p, len, MSG_NOSIGNAL);
			if (n < 0 && errno == ENOTSOCK)
				n = write(fd, p, len);
		} else if (wr) {
			n = pwrite(fd, p, len, off);
		} else {
			n = off < 0 ? read(fd, p, len) : pread(fd, p, len, off);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0 && !wr)
			return -EPIPE;
		p += n;
		len -= n;
		if (off >= 0)
			off += n;
	}
	return 0;
}

int zc_recv_full(int fd, void *buf, size_t len, int flags, int (*wait)(void *arg), void *arg)
{
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, flags);

		if (n > 0) {
			p += n;
			len -= n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if ((n = wait(arg)))
			return n;
	}
	return 0;
}

int zc_read_full(int fd, void *buf, size_t len)
{
	return io_full(fd, buf, len, -1, false);
}

int zc_splice_all(int pipe_rd, int fd, off_t *off, size_t len)
{
	char sink[4096];
	int err = 0;

	while (len) {
		ssize_t n = splice(pipe_rd, NULL, fd, off, len, SPLICE_F_MOVE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EPIPE;
			break;
		}
		len -= n;
	}
	/* What could not go: out of the pipe, so that it can serve again. */
	while (err && err != -EPIPE && len) {
		ssize_t n = read(pipe_rd, sink, ZC_MIN(len, sizeof(sink)));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len -= n;
	}
	return err;
}

int zc_splice_in(int sock, int pipe_wr, size_t len, size_t *got, int (*wait)(void *arg),
		 void *arg)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	bool waiting = false;	/* bytes were there, yet none moved */

	while (*got < len) {
		ssize_t n = splice(sock, NULL, pipe_wr, NULL, len - *got,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		int err;

		if (n > 0) {
			*got += n;
			waiting = false;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		/* EAGAIN: the socket is empty, or the pipe full.  Bytes there
		 * twice in a row with nothing moved: the pipe. */
		if (poll(&pfd, 1, 0) > 0) {
			if (waiting)
				return -ENOBUFS;
			waiting = true;
			continue;
		}
		waiting = false;
		if ((err = wait(arg)))
			return err;
	}
	return 0;
}

int zc_write_full(int fd, const void *buf, size_t len)
{
	return io_full(fd, (void *)buf, len, -1, true);
}

int zc_pread_full(int fd, void *buf, size_t len, off_t off)
{
	return io_full(fd, buf, len, off, false);
}

int zc_pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	return io_full(fd, (void *)buf, len, off, true);
}

int zc_lock_dir(const char *dir)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/LOCK", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	/* A daemon killed a moment ago still holds it while it exits (its
	 * command line is already gone, so `zcfs up` starts the next one):
	 * give it a few seconds. */
	for (int i = 0; flock(fd, LOCK_EX | LOCK_NB); i++) {
		if (i == 50) {
			close(fd);
			return -EBUSY;
		}
		usleep(100000);
	}
	return fd;
}

int zc_thread_start(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	int err;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return -err;
}

long zc_raise_nofile(const char *who)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
		else
			zc_info("%s: open files limit raised from %llu to %llu", who,
				(unsigned long long)was, (unsigned long long)rl.rlim_cur);
	}
	return rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)ZC_MIN(rl.rlim_cur, 1UL << 30);
}

/* /proc/self/mounts writes a blank, tab, newline or backslash in a path
 * as \040, \011, \012, \134: decodes them in place. */
char *zc_unescape_mnt(char *s)
{
	char *o = s;

	for (char *p = s; *p; p++, o++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*o = (p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0');
			p += 3;
		} else {
			*o = *p;
		}
	}
	*o = 0;
	return s;
}

char *zc_json_str(const char *s, char *out, size_t cap)
{
	size_t n = 0;

	for (; *s && n + 7 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			out[n++] = '\\';
			out[n++] = ch;
		} else if (ch < 0x20) {
			n += snprintf(out + n, cap - n, "\\u%04x", ch);
		} else {
			out[n++] = ch;
		}
	}
	if (cap)
		out[n] = 0;
	return out;
}
