// SPDX-License-Identifier: MIT
/*
 * zcfs cs: the chunk server.  Serves READ straight from the page cache:
 * response header with MSG_MORE, then sendfile of the checked range.
 * Registers with the mds, reports its chunks, heartbeats, and deletes the
 * chunks the mds names in heartbeat answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/log.h"
#include "common/pack.h"
#include "common/util.h"
#include "cs.h"
#include "rpc/rpc.h"

#define HEARTBEAT_MS 1000

static const char *data_dir;
static struct sockaddr_in mds_addr, my_addr;
static uint8_t uuid[16];
static volatile sig_atomic_t stopping;
static unsigned long crc_errors;

static int status_of(int err)
{
	return err == -EBADMSG ? ZC_ST_CRC : zc_errno_status(err);
}

static int do_read(struct zc_srv_conn *c, const struct zc_hdr *h, struct zc_cur *in)
{
	uint64_t id = zc_get_u64(in);
	uint32_t version = zc_get_u32(in), off = zc_get_u32(in), len = zc_get_u32(in);
	struct cs_chunk *ch;
	off_t pos;
	int err;

	if (in->err || len > ZC_MAX_IO)
		return zc_srv_reply(c, h, ZC_ST_INVAL, NULL, 0);
	ch = cs_chunk_get(id, version, false, &err);
	if (!ch)
		return zc_srv_reply(c, h, status_of(err), NULL, 0);
	err = cs_chunk_read_begin(ch, version, off, &len);
	if (err) {
		if (err == -EBADMSG)
			crc_errors++;
		zc_warn("cs: read chunk %016" PRIx64 " for %s: %s", id, c->name, strerror(-err));
		cs_chunk_put(ch);
		return zc_srv_reply(c, h, status_of(err), NULL, 0);
	}
	err = zc_srv_reply_hdr(c, h, len);
	pos = ZC_CHUNK_HDR + (off_t)off;
	while (!err && len) {
		ssize_t n = sendfile(c->fd, ch->fd, &pos, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)	/* the peer sees a short frame and drops us */
			err = n < 0 ? -errno : -EIO;
		else
			len -= n;
	}
	cs_chunk_read_end(ch);
	cs_chunk_put(ch);
	return err;
}

static int handle(struct zc_srv_conn *c, const struct zc_hdr *h, uint8_t *payload)
{
	struct zc_cur in = zc_cur_init(payload, h->len);
	struct cs_chunk *ch;
	uint64_t id;
	uint32_t version, off, len;
	int err = 0;

	switch (h->type) {
	case ZC_CLTOCS_READ:
		return do_read(c, h, &in);
	case ZC_CLTOCS_WRITE:
		id = zc_get_u64(&in);
		version = zc_get_u32(&in);
		off = zc_get_u32(&in);
		len = zc_get_u32(&in);
		if (in.err || len != zc_cur_left(&in) || len > ZC_MAX_IO) {
			zc_warn("cs: %s: malformed WRITE (%u bytes)", c->name, h->len);
			return zc_srv_reply(c, h, ZC_ST_INVAL, NULL, 0);
		}
		ch = cs_chunk_get(id, version, true, &err);
		if (ch) {
			err = cs_chunk_write(ch, version, off, in.p + in.pos, len);
			cs_chunk_put(ch);
		}
		break;
	case ZC_CLTOCS_TRUNCATE:
		id = zc_get_u64(&in);
		version = zc_get_u32(&in);
		len = zc_get_u32(&in);
		if (in.err)
			return zc_srv_reply(c, h, ZC_ST_INVAL, NULL, 0);
		ch = cs_chunk_get(id, version, true, &err);
		if (ch) {
			err = cs_chunk_truncate(ch, version, len);
			cs_chunk_put(ch);
		}
		break;
	case ZC_CLTOCS_FSYNC:
		id = zc_get_u64(&in);
		if (in.err)
			return zc_srv_reply(c, h, ZC_ST_INVAL, NULL, 0);
		ch = cs_chunk_get(id, 0, false, &err);
		if (ch) {
			err = cs_chunk_sync(ch);
			cs_chunk_put(ch);
		} else if (err == -ENOENT) {
			err = 0;	/* nothing written, nothing to sync */
		}
		break;
	default:
		zc_warn("cs: %s: unknown request type %u", c->name, h->type);
		return zc_srv_reply(c, h, ZC_ST_NOTSUP, NULL, 0);
	}
	if (err)
		zc_warn("cs: %s: request type %u on chunk %016" PRIx64 ": %s", c->name, h->type, id,
			strerror(-err));
	return zc_srv_reply(c, h, err ? status_of(err) : ZC_OK, NULL, 0);
}

/* ---- talking to the mds ---- */

static void space(uint64_t *total, uint64_t *avail)
{
	struct statvfs sv;

	*total = *avail = 0;
	if (!statvfs(data_dir, &sv)) {
		*total = (uint64_t)sv.f_blocks * sv.f_frsize;
		*avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	}
}

static int mds_call(uint16_t type, void *req, size_t len, struct zc_call *call)
{
	struct zc_conn *conn;
	int err;

	memset(call, 0, sizeof(*call));
	call->type = type;
	call->req[0] = (struct iovec){ req, len };
	call->timeout_ms = 10000;
	conn = zc_conn_get(&mds_addr, &err);
	if (!conn)
		return err;
	err = zc_call_sync(conn, call);
	zc_conn_put(conn);
	return err;
}

/* Deletes the chunks listed as n:32 then n times chunk_id:64. */
static void delete_listed(struct zc_call *call)
{
	struct zc_cur in = zc_cur_init(call->resp, call->resp_len);
	uint32_t n = zc_get_u32(&in);

	for (uint32_t i = 0; i < n && !in.err; i++) {
		uint64_t id = zc_get_u64(&in);
		int err;

		if (in.err)
			break;
		err = cs_chunk_delete(id);
		if (err && err != -ENOENT)
			zc_warn("cs: delete chunk %016" PRIx64 ": %s", id, strerror(-err));
	}
	if (n)
		zc_info("cs: deleted %u chunks on the mds's order", n);
}

struct report {
	uint8_t *buf;
	struct zc_cur cur;
	uint32_t n;
};

static void add_report(uint64_t id, uint32_t version, void *arg)
{
	struct report *r = arg;

	if (zc_cur_left(&r->cur) < 12) {
		size_t cap = r->cur.len * 2;
		uint8_t *nb = realloc(r->buf, cap);

		if (!nb)
			return;
		r->buf = nb;
		r->cur.p = nb;
		r->cur.len = cap;
	}
	zc_put_u64(&r->cur, id);
	zc_put_u32(&r->cur, version);
	r->n++;
}

static int register_cs(uint32_t *id)
{
	uint8_t req[64];
	struct zc_cur c = zc_cur_init(req, sizeof(req));
	struct zc_call call;
	struct report r = { .buf = malloc(65536) };
	uint64_t total, avail;
	int err;

	space(&total, &avail);
	zc_put_bytes(&c, uuid, sizeof(uuid));
	zc_put_bytes(&c, &my_addr.sin_addr.s_addr, 4);
	zc_put_u16(&c, ntohs(my_addr.sin_port));
	zc_put_u64(&c, total);
	zc_put_u64(&c, avail);
	err = mds_call(ZC_CSTOMA_REGISTER, req, c.pos, &call);
	if (err)
		goto out_free;
	c = zc_cur_init(call.resp, call.resp_len);
	*id = zc_get_u32(&c);
	zc_call_free_resp(&call);
	if (c.err) {
		err = -EPROTO;
		goto out_free;
	}
	/* Report every chunk; the mds answers with the ones it does not know. */
	if (!r.buf) {
		err = -ENOMEM;
		goto out_free;
	}
	r.cur = zc_cur_init(r.buf, 65536);
	zc_put_u32(&r.cur, *id);
	zc_put_u32(&r.cur, 0);
	cs_chunk_scan(add_report, &r);
	c = zc_cur_init(r.buf + 4, 4);
	zc_put_u32(&c, r.n);
	if (r.cur.pos > ZC_MAX_FRAME) {
		zc_warn("cs: %u chunks are too many to report at once; report skipped", r.n);
		goto out_free;
	}
	err = mds_call(ZC_CSTOMA_REPORT, r.buf, r.cur.pos, &call);
	if (!err) {
		delete_listed(&call);
		zc_call_free_resp(&call);
	}
	zc_info("cs: registered with the mds as chunk server %u, %u chunks reported", *id, r.n);
out_free:
	free(r.buf);
	return err;
}

static void *heartbeat_thread(void *arg)
{
	uint32_t id = 0;
	bool registered = false;

	(void)arg;
	while (!stopping) {
		uint8_t req[32];
		struct zc_cur c = zc_cur_init(req, sizeof(req));
		struct zc_call call;
		uint64_t total, avail;
		int err;

		if (!registered) {
			err = register_cs(&id);
			if (err) {
				zc_warn("cs: cannot register with the mds: %s", strerror(-err));
				usleep(HEARTBEAT_MS * 1000);
				continue;
			}
			registered = true;
		}
		space(&total, &avail);
		zc_put_u32(&c, id);
		zc_put_u64(&c, total);
		zc_put_u64(&c, avail);
		zc_put_u32(&c, cs_chunk_count());
		err = mds_call(ZC_CSTOMA_HEARTBEAT, req, c.pos, &call);
		if (err) {
			/* A restarted mds does not know us until we register again. */
			zc_warn("cs: heartbeat failed: %s", strerror(-err));
			registered = false;
		} else {
			delete_listed(&call);
			zc_call_free_resp(&call);
		}
		usleep(HEARTBEAT_MS * 1000);
	}
	return NULL;
}

/* ---- main ---- */

static int load_uuid(const char *dir)
{
	char path[4200];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/uuid", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		err = zc_read_full(fd, uuid, sizeof(uuid));
		close(fd);
		return err;
	}
	if (getrandom(uuid, sizeof(uuid), 0) != sizeof(uuid))
		return -EIO;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	err = zc_write_full(fd, uuid, sizeof(uuid));
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
	zc_srv_stop();
}

static void usage(void)
{
	fprintf(stderr, "usage: zcfs cs --dir DIR --listen ADDR:PORT --mds ADDR:PORT"
			" [--log FILE] [--log-level LEVEL] [-f]\n");
}

int zc_cmd_cs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "mds", required_argument, NULL, 'm' },
		{ "log", required_argument, NULL, 'L' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *listen_at = "127.0.0.1:0", *mds = NULL, *log = NULL;
	char path[4200], addr[32];
	int c, lfd, lockfd, level = ZC_LOG_INFO, err;
	socklen_t sl = sizeof(my_addr);
	pthread_t hb;

	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data_dir = optarg; break;
		case 'l': listen_at = optarg; break;
		case 'm': mds = optarg; break;
		case 'L': log = optarg; break;
		case 'v': level = zc_log_parse_level(optarg); break;
		case 'f': break;
		default: usage(); return c == 'h' ? 0 : 2;
		}
	}
	if (!data_dir || !mds || level < 0 || zc_parse_addr(listen_at, &my_addr) ||
	    zc_parse_addr(mds, &mds_addr)) {
		usage();
		return 2;
	}
	if (zc_log_init("cs", level, log)) {
		fprintf(stderr, "cs: cannot open log %s\n", log);
		return 1;
	}
	mkdir(data_dir, 0755);
	snprintf(path, sizeof(path), "%s/LOCK", data_dir);
	lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB)) {
		zc_err("cs: cannot lock %s: %s", data_dir,
		       errno == EWOULDBLOCK ? "another chunk server uses it" : strerror(errno));
		return 1;
	}
	if ((err = load_uuid(data_dir)) || (err = cs_chunk_init(data_dir))) {
		zc_err("cs: cannot set up %s: %s", data_dir, strerror(-err));
		return 1;
	}
	lfd = zc_tcp_listen(&my_addr);
	if (lfd < 0) {
		zc_err("cs: cannot listen on %s: %s", listen_at, strerror(-lfd));
		return 1;
	}
	getsockname(lfd, (struct sockaddr *)&my_addr, &sl);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	zc_info("cs: serving %s on %s, mds %s", data_dir, zc_fmt_addr(&my_addr, addr,
		sizeof(addr)), mds);
	if (pthread_create(&hb, NULL, heartbeat_thread, NULL)) {
		zc_err("cs: no heartbeat thread");
		return 1;
	}
	zc_srv_run(lfd, handle, NULL, NULL);
	stopping = 1;
	pthread_join(hb, NULL);
	zc_info("cs: stopped (%lu checksum errors seen)", crc_errors);
	close(lfd);
	close(lockfd);
	return 0;
}
