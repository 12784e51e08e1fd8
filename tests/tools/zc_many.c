// SPDX-License-Identifier: MIT
/*
 * zc_many: many files and many chunks for the scale cases (small_files,
 * many_chunks), and a look at the wire between a chunk server and the mds.
 *
 * usage:
 *   zc_many files DIR N
 *	makes N files DIR/dNNN/fNNNNN (100 a folder) of sizes from 1 B to
 *	100 KiB: first the sizes around the 4 KiB page and the 64 KiB
 *	checksum block, then spread evenly over the powers of two (most
 *	files small, as in a source tree); sizes and bytes depend on the
 *	file's number only.  Prints "N files, B bytes".
 *   zc_many chunks [-v VERSION] [-d] DIR SPEC...
 *	writes chunk files as a chunk server keeps them (format 1, see
 *	src/cs/chunk.c) in DIR/chunks/XX/ID.chk.  SPEC is ID or ID+COUNT
 *	(ID in hex, COUNT in decimal).  A chunk's length and bytes depend on
 *	its id only: 1 B to 4 KiB, one in a thousand 150,000 B (three
 *	checksum blocks).  -v: the version (default 1); -d: damaged, one
 *	data byte changed after its checksum was taken.
 *   zc_many read KEYFILE HOST:PORT VERSION SPEC...
 *	READs every chunk named, whole, from a chunk server (as a peer chunk
 *	server copying would: the cluster key in KEYFILE for the handshake,
 *	capabilities of its own making) and checks its
 *	bytes against what `chunks` writes.  One line per chunk: "ID ok", or
 *	"ID STATUS" (the wire status: STALE, NOENT, CRC, ...), or "ID short
 *	GOT of WANT", or "ID wrong byte at OFF".  Exit 1 unless all are ok.
 *   zc_many proxy UPSTREAM LOG IDS
 *	listens on 127.0.0.1 (a free port) and forwards every connection to
 *	UPSTREAM (the mds), looking at the frames: LOG gets "listening
 *	ADDR:PORT" first, then "register", "report N" for each REPORT
 *	request (N chunks in it) and "answer D F" for each REPORT answer (D
 *	chunks to delete, F versions to fix); IDS gets "report ID" for every
 *	chunk reported, "delete ID" for every one the mds ordered deleted and
 *	"bad ID" for every CHUNK_BAD (a damaged chunk the scrubber found).
 *	Runs until killed.
 *
 * Links libzcfs.a for CRC32C and whole I/O; the wire constants come from
 * proto.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/crc.h"
#include "common/util.h"
#include "common/wire.h"
#include "rpc/rpc.h"
#include "zcfs/proto.h"

/* The chunk file format (src/cs/chunk.c), format 1. */
#define CHUNK_MAGIC 0x4b43435aU	/* "ZCCK" */
#define CHUNK_CRC_OFF 4096
#define CHUNK_DATA_OFF 8192

#define MAX_FILE (100 << 10)

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "zc_many: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

/* ---- deterministic bytes ---- */

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* len bytes of the stream seeded by seed (the same seed, the same bytes). */
static void fill(uint64_t seed, uint8_t *buf, size_t len)
{
	uint64_t s = mix(seed) | 1;

	for (size_t i = 0; i < len; i += 8) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		for (size_t k = 0; k < 8 && i + k < len; k++)
			buf[i + k] = (uint8_t)(s >> (8 * k));
	}
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- files ---- */

static size_t file_size(unsigned long i)
{
	/* Around the page and the checksum block, and both ends. */
	static const size_t edges[] = { 1, 2, 4095, 4096, 4097, 65535, 65536, 65537,
					 MAX_FILE - 1, MAX_FILE };
	uint64_t r = mix(i * 2 + 1);
	unsigned k;
	size_t lo, hi;

	if (i < sizeof(edges) / sizeof(edges[0]))
		return edges[i];
	/* A power of two first (2^0 .. 2^16), then a size in [2^k, 2^(k+1)). */
	k = r % 17;
	lo = (size_t)1 << k;
	hi = ((size_t)2 << k) - 1;
	if (hi > MAX_FILE)
		hi = MAX_FILE;
	return lo + (r >> 8) % (hi - lo + 1);
}

static int cmd_files(int argc, char **argv)
{
	static uint8_t buf[MAX_FILE];
	unsigned long n, total = 0;
	char path[4200];

	if (argc != 2)
		die("usage: zc_many files DIR N");
	n = strtoul(argv[1], NULL, 10);
	if (mkdir(argv[0], 0755) && errno != EEXIST)
		die("mkdir %s: %s", argv[0], strerror(errno));
	for (unsigned long i = 0; i < n; i++) {
		size_t len = file_size(i);
		int fd;

		if (i % 100 == 0) {
			snprintf(path, sizeof(path), "%s/d%03lu", argv[0], i / 100);
			if (mkdir(path, 0755) && errno != EEXIST)
				die("mkdir %s: %s", path, strerror(errno));
		}
		snprintf(path, sizeof(path), "%s/d%03lu/f%05lu", argv[0], i / 100, i);
		fill(i, buf, len);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || zc_write_full(fd, buf, len) || close(fd))
			die("write %s: %s", path, strerror(errno));
		total += len;
	}
	printf("%lu files, %lu bytes\n", n, total);
	return 0;
}

/* ---- chunks ---- */

static uint32_t chunk_len(uint64_t id)
{
	uint64_t h = mix(id ^ 0xc0ffee);

	return h % 1000 == 0 ? 150000 : 1 + (h >> 16) % 4096;
}

/* Parses ID or ID+COUNT. */
static void parse_spec(const char *s, uint64_t *first, uint64_t *count)
{
	char *end;

	errno = 0;
	*first = strtoull(s, &end, 16);
	*count = 1;
	if (*end == '+')
		*count = strtoull(end + 1, &end, 10);
	if (errno || *end || end == s || !*count)
		die("bad chunk spec '%s' (ID or ID+COUNT, ID in hex)", s);
}

static void write_chunk(const char *dir, uint64_t id, uint32_t version, bool damaged)
{
	static uint8_t data[150000], meta[64], crcs[4 * ZC_BLOCKS_PER_CHUNK];
	uint32_t len = chunk_len(id), nblocks = (len + ZC_BLOCK_SIZE - 1) / ZC_BLOCK_SIZE;
	char path[4200];
	int fd;

	fill(id, data, len);
	memset(meta, 0, sizeof(meta));
	put32(meta, CHUNK_MAGIC);
	put32(meta + 4, 1);
	put64(meta + 8, id);
	put32(meta + 16, version);
	for (uint32_t b = 0; b < nblocks; b++) {
		uint32_t off = b * ZC_BLOCK_SIZE;

		put32(crcs + 4 * b, zc_crc32c(0, data + off, len - off < ZC_BLOCK_SIZE ?
						       len - off : ZC_BLOCK_SIZE));
	}
	if (damaged)
		data[len / 2] ^= 0x5a;
	snprintf(path, sizeof(path), "%s/chunks/%02x", dir, (unsigned)(id & 0xff));
	if (mkdir(path, 0755) && errno != EEXIST)
		die("mkdir %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/chunks/%02x/%016" PRIx64 ".chk", dir,
		 (unsigned)(id & 0xff), id);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || pwrite(fd, meta, sizeof(meta), 0) != sizeof(meta) ||
	    pwrite(fd, crcs, 4 * nblocks, CHUNK_CRC_OFF) != (ssize_t)(4 * nblocks) ||
	    pwrite(fd, data, len, CHUNK_DATA_OFF) != (ssize_t)len || close(fd))
		die("write %s: %s", path, strerror(errno));
}

static int cmd_chunks(int argc, char **argv)
{
	uint32_t version = 1;
	bool damaged = false;
	unsigned long made = 0;
	char path[4200];
	int i = 0;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-d"))
			damaged = true;
		else if (!strcmp(argv[i], "-v") && i + 1 < argc)
			version = strtoul(argv[++i], NULL, 10);
		else
			die("unknown option %s", argv[i]);
	}
	if (argc - i < 2)
		die("usage: zc_many chunks [-v VERSION] [-d] DIR SPEC...");
	snprintf(path, sizeof(path), "%s/chunks", argv[i]);
	if (mkdir(argv[i], 0755) && errno != EEXIST)
		die("mkdir %s: %s", argv[i], strerror(errno));
	if (mkdir(path, 0755) && errno != EEXIST)
		die("mkdir %s: %s", path, strerror(errno));
	for (int s = i + 1; s < argc; s++) {
		uint64_t first, count;

		parse_spec(argv[s], &first, &count);
		for (uint64_t k = 0; k < count; k++, made++)
			write_chunk(argv[i], first + k, version, damaged);
	}
	printf("%lu chunks\n", made);
	return 0;
}

/* ---- the wire ---- */

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || colon - s >= (long)sizeof(host))
		return -1;
	memcpy(host, s, colon - s);
	host[colon - s] = 0;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int dial(const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

static const char *status_name(uint32_t st)
{
	static const char *const names[ZC_ST_MAX] = {
		[ZC_OK] = "OK", [ZC_ST_NOENT] = "NOENT", [ZC_ST_EXIST] = "EXIST",
		[ZC_ST_NOTDIR] = "NOTDIR", [ZC_ST_ISDIR] = "ISDIR",
		[ZC_ST_NOTEMPTY] = "NOTEMPTY", [ZC_ST_INVAL] = "INVAL",
		[ZC_ST_NOSPACE] = "NOSPACE", [ZC_ST_IO] = "IO", [ZC_ST_CRC] = "CRC",
		[ZC_ST_STALE] = "STALE", [ZC_ST_NOCS] = "NOCS",
		[ZC_ST_NAMETOOLONG] = "NAMETOOLONG", [ZC_ST_PERM] = "PERM",
		[ZC_ST_NOTSUP] = "NOTSUP", [ZC_ST_FBIG] = "FBIG", [ZC_ST_AGAIN] = "AGAIN",
		[ZC_ST_BADSESSION] = "BADSESSION", [ZC_ST_BUSY] = "BUSY",
		[ZC_ST_NOLCK] = "NOLCK", [ZC_ST_DENIED] = "DENIED", [ZC_ST_ROFS] = "ROFS",
		[ZC_ST_ACCES] = "ACCES", [ZC_ST_UNDECLARED] = "UNDECLARED",
	};

	return st < ZC_ST_MAX && names[st] ? names[st] : "UNKNOWN-STATUS";
}

/* Reads one chunk whole and prints what came back.  Returns 1 if ok. */
static int read_chunk(int fd, uint64_t id, uint32_t version, uint64_t xid)
{
	static uint8_t got[ZC_MAX_IO], want[150000];
	uint8_t req[ZC_HDR_LEN + 64], hdr[ZC_HDR_LEN];
	struct zc_cur c = zc_cur_init(req + ZC_HDR_LEN, sizeof(req) - ZC_HDR_LEN);
	struct zc_hdr h = { .type = ZC_CLTOCS_READ, .xid = xid };
	uint32_t st, len, wlen = chunk_len(id);
	struct zc_cap cap;

	zc_cap_mint(&cap, id, version, ZC_CAP_READ, (uint64_t)time(NULL) + 600, 0);
	zc_put_u64(&c, id);
	zc_put_u32(&c, version);
	zc_put_u32(&c, 0);
	zc_put_u32(&c, ZC_MAX_IO);
	zc_put_cap(&c, &cap);
	h.len = c.pos;
	zc_hdr_encode(req, &h);
	if (zc_write_full(fd, req, ZC_HDR_LEN + c.pos) || zc_read_full(fd, hdr, sizeof(hdr)))
		die("read of chunk %016" PRIx64 ": connection lost", id);
	st = get32(hdr + 8);
	len = get32(hdr + 12);
	if (get32(hdr) != ZC_MAGIC || !(hdr[6] & ZC_F_RESP) || get64(hdr + 16) != xid ||
	    len > ZC_MAX_IO || (st && len))
		die("read of chunk %016" PRIx64 ": bad answer (status %u, %u bytes)", id, st, len);
	if (zc_read_full(fd, got, len))
		die("read of chunk %016" PRIx64 ": connection lost in the data", id);
	if (st) {
		printf("%016" PRIx64 " %s\n", id, status_name(st));
		return 0;
	}
	if (len != wlen) {
		printf("%016" PRIx64 " short %u of %u\n", id, len, wlen);
		return 0;
	}
	fill(id, want, wlen);
	for (uint32_t i = 0; i < len; i++)
		if (got[i] != want[i]) {
			printf("%016" PRIx64 " wrong byte at %u\n", id, i);
			return 0;
		}
	printf("%016" PRIx64 " ok\n", id);
	return 1;
}

static int cmd_read(int argc, char **argv)
{
	struct sockaddr_in sa;
	uint32_t version;
	uint64_t xid = 1;
	int fd, bad = 0;

	const char *why;

	if (argc < 4)
		die("usage: zc_many read KEYFILE HOST:PORT VERSION SPEC...");
	if (zc_auth_server(ZC_ROLE_CS, argv[0]))
		exit(1);
	argc--;
	argv++;
	if (parse_addr(argv[0], &sa))
		die("bad address %s", argv[0]);
	version = strtoul(argv[1], NULL, 10);
	fd = dial(&sa);
	if (fd < 0)
		die("connect to %s: %s", argv[0], strerror(errno));
	if (zc_auth_connect(fd, 5000, &why))
		die("handshake with %s: %s", argv[0], why);
	for (int s = 2; s < argc; s++) {
		uint64_t first, count;

		parse_spec(argv[s], &first, &count);
		for (uint64_t k = 0; k < count; k++)
			bad += !read_chunk(fd, first + k, version, xid++);
	}
	close(fd);
	return bad ? 1 : 0;
}

/* ---- proxy ---- */

#define MAX_PAIRS 64

/* One direction of a forwarded connection, cut into frames. */
struct side {
	int fd;
	uint8_t *buf;
	size_t have, cap;
};

static FILE *plog, *pids;

static void frame_seen(const uint8_t *f, uint32_t len)
{
	uint16_t type = f[4] | f[5] << 8, flags = f[6] | f[7] << 8;
	const uint8_t *p = f + ZC_HDR_LEN;
	bool resp = flags & ZC_F_RESP;

	if (type == ZC_CSTOMA_REGISTER && !resp) {
		fprintf(plog, "register\n");
	} else if (type == ZC_CSTOMA_REPORT && !resp && len >= 8) {
		uint32_t n = get32(p + 4);

		fprintf(plog, "report %u\n", n);
		for (uint32_t i = 0; i < n && 8 + 12 * (i + 1) <= len; i++)
			fprintf(pids, "report %016" PRIx64 "\n", get64(p + 8 + 12 * i));
	} else if (type == ZC_CSTOMA_CHUNK_BAD && !resp && len >= 12) {
		fprintf(pids, "bad %016" PRIx64 "\n", get64(p + 4));
	} else if (type == ZC_CSTOMA_REPORT && resp && len >= 4) {
		uint32_t d = get32(p), f = 0;

		for (uint32_t i = 0; i < d && 4 + 8 * (i + 1) <= len; i++)
			fprintf(pids, "delete %016" PRIx64 "\n", get64(p + 4 + 8 * i));
		if (4 + 8 * (uint64_t)d + 4 <= len)
			f = get32(p + 4 + 8 * d);
		fprintf(plog, "answer %u %u\n", d, f);
	}
	fflush(plog);
	fflush(pids);
}

/* Takes n more bytes of a direction and looks at every frame completed. */
static void side_feed(struct side *s, const uint8_t *in, size_t n)
{
	size_t used = 0;

	if (s->have + n > s->cap) {
		s->cap = (s->have + n) * 2;
		s->buf = realloc(s->buf, s->cap);
		if (!s->buf)
			die("out of memory");
	}
	memcpy(s->buf + s->have, in, n);
	s->have += n;
	while (s->have - used >= ZC_HDR_LEN) {
		uint32_t len = get32(s->buf + used + 12);

		if (s->have - used < ZC_HDR_LEN + (size_t)len)
			break;
		frame_seen(s->buf + used, len);
		used += ZC_HDR_LEN + len;
	}
	memmove(s->buf, s->buf + used, s->have - used);
	s->have -= used;
}

static int cmd_proxy(int argc, char **argv)
{
	struct sockaddr_in up, me = { .sin_family = AF_INET };
	struct side sides[2 * MAX_PAIRS];	/* 2k: from the peer, 2k+1: from upstream */
	socklen_t sl = sizeof(me);
	static uint8_t buf[1 << 16];
	int lfd, one = 1, npairs = 0;

	if (argc != 3 || parse_addr(argv[0], &up))
		die("usage: zc_many proxy UPSTREAM_HOST:PORT LOG IDS");
	plog = fopen(argv[1], "a");
	pids = fopen(argv[2], "a");
	if (!plog || !pids)
		die("cannot open %s or %s", argv[1], argv[2]);
	signal(SIGPIPE, SIG_IGN);
	me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&me, sizeof(me)) || listen(lfd, 16) ||
	    getsockname(lfd, (struct sockaddr *)&me, &sl))
		die("listen: %s", strerror(errno));
	fprintf(plog, "listening 127.0.0.1:%u\n", ntohs(me.sin_port));
	fflush(plog);
	for (;;) {
		struct pollfd pf[1 + 2 * MAX_PAIRS];

		pf[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int i = 0; i < 2 * npairs; i++)
			pf[1 + i] = (struct pollfd){ .fd = sides[i].fd, .events = POLLIN };
		if (poll(pf, 1 + 2 * npairs, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		for (int i = 0; i < 2 * npairs; i++) {
			struct side *s = &sides[i], *other = &sides[i ^ 1];
			ssize_t n;

			if (!pf[1 + i].revents || s->fd < 0)
				continue;
			n = read(s->fd, buf, sizeof(buf));
			if (n > 0 && !zc_write_full(other->fd, buf, n)) {
				side_feed(s, buf, n);
				continue;
			}
			/* One end closed: close the pair; its slot is reused below. */
			close(s->fd);
			close(other->fd);
			s->fd = other->fd = -1;
		}
		/* Drop closed pairs, moving the last one in. */
		for (int k = 0; k < npairs;) {
			if (sides[2 * k].fd >= 0) {
				k++;
				continue;
			}
			free(sides[2 * k].buf);
			free(sides[2 * k + 1].buf);
			npairs--;
			sides[2 * k] = sides[2 * npairs];
			sides[2 * k + 1] = sides[2 * npairs + 1];
		}
		if (pf[0].revents & POLLIN) {
			int a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), b;

			if (a < 0)
				continue;
			b = npairs < MAX_PAIRS ? dial(&up) : -1;
			if (b < 0) {
				fprintf(plog, "cannot reach %s: %s\n", argv[0], strerror(errno));
				fflush(plog);
				close(a);
				continue;
			}
			setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			sides[2 * npairs] = (struct side){ .fd = a };
			sides[2 * npairs + 1] = (struct side){ .fd = b };
			npairs++;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: zc_many files|chunks|read|proxy ... (see the top of zc_many.c)");
	if (!strcmp(argv[1], "files"))
		return cmd_files(argc - 2, argv + 2);
	if (!strcmp(argv[1], "chunks"))
		return cmd_chunks(argc - 2, argv + 2);
	if (!strcmp(argv[1], "read"))
		return cmd_read(argc - 2, argv + 2);
	if (!strcmp(argv[1], "proxy"))
		return cmd_proxy(argc - 2, argv + 2);
	die("unknown command %s", argv[1]);
}
