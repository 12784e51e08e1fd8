// SPDX-License-Identifier: MIT
/*
 * The client's side of the mds: calls that ride out an mds restart, the
 * mount's session, and the table of open handles.
 *
 * Every call to the mds waits while the mds is away (refused, reset,
 * timed out), retrying, for up to mds_timeout seconds.  Namespace changes
 * carry a sequence number so that a retry of a change whose answer was
 * lost gets the first answer back instead of running twice.
 *
 * Interrupts (a signal to the application: FUSE INTERRUPT).  A call that
 * has been sent is never given up on one: it waits for its answer (or for
 * its connection to fail, or its own timeout).  An interrupt ends the wait
 * with EINTR only between attempts, while the mds is away, and not even
 * then for a namespace change that may have reached the mds: that one asks
 * again under its sequence number until the first answer comes back (or
 * mds_timeout).  Linux lets a file system answer an interrupted request
 * normally, and EINTR for a change that ran is a lie the application pays
 * for: bash retries an open() that failed with EINTR, and its O_CREAT then
 * met the file the first try made (EEXIST); a lock taken at the mds but
 * answered EINTR stays taken.  Lock waits give up on an interrupt between
 * their attempts (mount.c, lock_wait); only unmounting (zc_cl.stopping)
 * withdraws calls in flight.
 *
 * Every call carries the identity of the process behind the FUSE request
 * (uid, gid, supplementary groups), which the mds checks permissions
 * with; the groups come from /proc, read at most about once a second per
 * process.
 *
 * The session is created at mount and renewed every quarter lease.  When
 * a renewal answers a new boot id (the mds restarted), or the mds answers
 * that it has not heard of our open files since it started, the client
 * declares every handle it has open again, so that files unlinked while
 * open keep their data and writes go on; a session that expired (the
 * client was away too long) is replaced by a new one, and its locks are
 * gone.
 *
 * The session's export may be a directory below the root of zcfs: the
 * mds names it at SESSION_NEW, and FUSE's root (nodeid 1) stands for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_i.h"
#include "common/auth.h"
#include "common/log.h"
#include "common/util.h"

#define MAX_INFLIGHT 256
#define GROUP_SLOTS 64
#define GROUP_TTL_NS 1000000000ULL
/* session seq ack, then uid gid ngroups groups */
#define PREFIX_MAX (24 + 9 + 4 * ZC_MAX_GROUPS)

/* Recursive: declaring opens again may find the session gone and start a
 * new one, which declares them. */
static pthread_mutex_t sess_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static _Atomic uint64_t session;
static uint64_t boot;		/* the mds boot id our opens were declared to */
static uint32_t lease_ms = 20000;
static _Atomic uint64_t root_ino = ZC_ROOT_INO;	/* the export's root at the mds */

/* Sequence numbers of namespace changes still waiting for an answer. */
static pthread_mutex_t seq_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t next_seq = 1, inflight[MAX_INFLIGHT];

/* Open handles, for declaring them again. */
static pthread_mutex_t fh_lock = PTHREAD_MUTEX_INITIALIZER;
static struct zc_fh *fhs;
static size_t nfh;
static atomic_ullong next_handle = 1;

/* Supplementary groups of recent callers, by pid (direct-mapped). */
struct group_slot {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	uint64_t at;		/* monotonic ns; 0: empty */
	int n;
	gid_t g[ZC_MAX_GROUPS];
};

static pthread_mutex_t group_lock = PTHREAD_MUTEX_INITIALIZER;
static struct group_slot group_slots[GROUP_SLOTS];

/* ---- inode numbers ---- */

uint64_t zc_ino_mds(uint64_t ino)
{
	return ino == FUSE_ROOT_ID ? atomic_load(&root_ino) : ino;
}

uint64_t zc_ino_fuse(uint64_t ino)
{
	return ino == atomic_load(&root_ino) ? FUSE_ROOT_ID : ino;
}

/* ---- the caller's identity ---- */

/* The caller's groups (at most ZC_MAX_GROUPS), from the cache while
 * fresh: fuse_req_getgroups reads /proc each time. */
static int groups_of(fuse_req_t req, const struct fuse_ctx *ctx, gid_t *out)
{
	struct group_slot *slot = &group_slots[(unsigned)ctx->pid % GROUP_SLOTS];
	uint64_t now = zc_now_ns();
	int n;

	pthread_mutex_lock(&group_lock);
	if (slot->at && slot->pid == ctx->pid && slot->uid == ctx->uid && slot->gid == ctx->gid &&
	    now - slot->at < GROUP_TTL_NS) {
		n = slot->n;
		memcpy(out, slot->g, n * sizeof(*out));
		pthread_mutex_unlock(&group_lock);
		return n;
	}
	pthread_mutex_unlock(&group_lock);
	n = fuse_req_getgroups(req, ZC_MAX_GROUPS, out);
	n = n < 0 ? 0 : ZC_MIN(n, ZC_MAX_GROUPS);	/* the first ones only */
	pthread_mutex_lock(&group_lock);
	*slot = (struct group_slot){ .pid = ctx->pid, .uid = ctx->uid, .gid = ctx->gid,
				     .at = now, .n = n };
	memcpy(slot->g, out, n * sizeof(*out));
	pthread_mutex_unlock(&group_lock);
	return n;
}

/* "uid gid ngroups groups" of the process behind req; the client's own
 * requests (no req) are 0, 0 and no groups. */
static void put_identity(struct zc_cur *c, fuse_req_t req)
{
	const struct fuse_ctx *ctx = req ? fuse_req_ctx(req) : NULL;
	gid_t g[ZC_MAX_GROUPS];
	int n = ctx ? groups_of(req, ctx, g) : 0;

	zc_put_u32(c, ctx ? ctx->uid : 0);
	zc_put_u32(c, ctx ? ctx->gid : 0);
	zc_put_u8(c, n);
	for (int i = 0; i < n; i++)
		zc_put_u32(c, g[i]);
}

uint8_t zc_open_access(int flags)
{
	switch (flags & O_ACCMODE) {
	case O_WRONLY:
		return ZC_OPEN_WRITE;
	case O_RDWR:
		return ZC_OPEN_READ | ZC_OPEN_WRITE;
	}
	return ZC_OPEN_READ;
}

/* Takes a sequence number; *ack is the lowest one still in flight. */
static uint64_t seq_take(uint64_t *ack)
{
	uint64_t seq, low;
	int slot = -1;

	pthread_mutex_lock(&seq_lock);
	seq = next_seq++;
	low = seq;
	for (int i = 0; i < MAX_INFLIGHT; i++) {
		if (!inflight[i] && slot < 0)
			slot = i;
		else if (inflight[i] && inflight[i] < low)
			low = inflight[i];
	}
	if (slot >= 0)
		inflight[slot] = seq;
	else
		low = 0;	/* table full: let the mds keep everything */
	pthread_mutex_unlock(&seq_lock);
	*ack = low;
	return seq;
}

static void seq_done(uint64_t seq)
{
	pthread_mutex_lock(&seq_lock);
	for (int i = 0; i < MAX_INFLIGHT; i++)
		if (inflight[i] == seq)
			inflight[i] = 0;
	pthread_mutex_unlock(&seq_lock);
}

/* Unmounting: nobody waits for answers any more. */
static bool stopping(void *arg)
{
	(void)arg;
	return zc_cl.stopping;
}

/* The mds did not answer: it is away (restarting) rather than saying no. */
static bool away(int err)
{
	return err == -ECONNREFUSED || err == -ECONNRESET || err == -ETIMEDOUT ||
	       err == -ENOTCONN || err == -EHOSTUNREACH || err == -EPIPE ||
	       err == -ECONNABORTED || err == -ENETUNREACH;
}

/* One attempt, waiting for the answer until deadline or unmount (never
 * for an interrupt: see the top).  *sent: whether the request may have
 * left. */
static int call_once(struct zc_call *call, uint64_t deadline, bool *sent)
{
	uint64_t t0 = zc_now_ns();
	struct zc_conn *conn;
	struct zc_wait w;
	int err;

	*sent = false;
	conn = zc_conn_get(&zc_cl.mds, &err);
	if (!conn)
		return err;
	if (!zc_call_begin(conn, call, &w)) {
		*sent = true;
		err = zc_call_end_or(conn, call, &w, deadline, stopping, NULL);
	} else {
		err = zc_call_end(call, &w);
	}
	zc_conn_put(conn);
	if (call->type < ZC_ARRAY_SIZE(zc_cl.n.mds_calls))
		zc_hist_add(&zc_cl.n.mds_calls[call->type], zc_now_ns() - t0);
	return err;
}

static int session_recover(uint64_t failed);
static int declare_again(void);

int zc_mds_call(fuse_req_t req, uint16_t type, const void *args, size_t len,
		struct zc_call *call)
{
	uint64_t start = zc_now_ns();
	uint64_t deadline = start + (uint64_t)zc_cl.mds_timeout_s * 1000000000ULL;
	uint64_t seq = 0, ack = 0, sess;
	uint8_t pre[PREFIX_MAX], who[PREFIX_MAX - 24];
	struct zc_cur wc = zc_cur_init(who, sizeof(who));
	bool warned = false, sent, may_have_run = false;
	int err, tries = 0;

	if (zc_type_replayed(type))
		seq = seq_take(&ack);
	zc_cl.n.meta_ops++;
	put_identity(&wc, req);
	for (;;) {
		struct zc_cur c = zc_cur_init(pre, sizeof(pre));

		sess = atomic_load(&session);
		zc_put_u64(&c, sess);
		zc_put_u64(&c, seq);
		zc_put_u64(&c, ack);
		zc_put_bytes(&c, who, wc.pos);
		memset(call, 0, sizeof(*call));
		call->type = type;
		call->req[0] = (struct iovec){ pre, c.pos };
		call->req[1] = (struct iovec){ (void *)args, len };
		err = call_once(call, deadline, &sent);
		if (err == -ENOLINK && type != ZC_CLTOMA_SESSION_NEW && tries++ < 3 &&
		    !session_recover(sess))
			continue;
		/* The mds restarted and waits for our open files. */
		if (err == -EREMCHG && tries++ < 3 && !declare_again())
			continue;
		if (!away(err) || zc_now_ns() >= deadline)
			break;
		/* No answer: a change sent may have run, and only its replay
		 * tells; anything else may stop waiting for the mds. */
		may_have_run |= seq && sent;
		if (zc_cl.stopping || (req && !may_have_run && fuse_req_interrupted(req))) {
			err = -EINTR;
			break;
		}
		if (!warned) {
			zc_warn("client: mds %s unreachable (%s); request %u waits for it",
				zc_cl.mds_str, strerror(-err), type);
			warned = true;
		}
		usleep(200000);
	}
	if (warned && !err)
		zc_info("client: mds %s answered request %u after %llu ms", zc_cl.mds_str, type,
			(unsigned long long)((zc_now_ns() - start) / 1000000));
	if (seq)
		seq_done(seq);
	if (err == -EINTR)
		return -EINTR;
	return away(err) ? -EIO : err;
}

int zc_mds_run(fuse_req_t req, uint16_t type, const void *args, size_t len)
{
	struct zc_call call;
	int err = zc_mds_call(req, type, args, len, &call);

	if (!err)
		zc_call_free_resp(&call);
	return err;
}

/* ---- open handles ---- */

struct zc_fh *zc_fh_new(struct zc_inode *in, uint32_t flags)
{
	struct zc_fh *fh = calloc(1, sizeof(*fh));

	if (!fh)
		return NULL;
	fh->in = in;
	fh->flags = flags;
	fh->handle = atomic_fetch_add(&next_handle, 1);
	pthread_mutex_lock(&fh_lock);
	fh->next = fhs;
	if (fhs)
		fhs->prev = fh;
	fhs = fh;
	nfh++;
	pthread_mutex_unlock(&fh_lock);
	return fh;
}

void zc_fh_set_inode(struct zc_fh *fh, struct zc_inode *in)
{
	pthread_mutex_lock(&fh_lock);
	fh->in = in;
	pthread_mutex_unlock(&fh_lock);
}

void zc_fh_free(struct zc_fh *fh)
{
	pthread_mutex_lock(&fh_lock);
	if (fh->prev)
		fh->prev->next = fh->next;
	else
		fhs = fh->next;
	if (fh->next)
		fh->next->prev = fh->prev;
	nfh--;
	pthread_mutex_unlock(&fh_lock);
	free(fh);
}

/* ---- the session ---- */

/* Reads "boot:64 lease_ms:32" (renewals, and new sessions after their
 * id).  Returns 1 when the boot is new (the mds restarted), 0, or -EIO. */
/* "boot:64 lease_ms:32 ticket_expiry:64 ticket[32]" of session s. */
static int take_renewal(struct zc_cur *c, uint64_t s)
{
	uint64_t b = zc_get_u64(c);
	uint32_t l = zc_get_u32(c);
	uint64_t texp = zc_get_u64(c);
	uint8_t *ticket = zc_cur_take(c, ZC_KEY_LEN);

	if (c->err || !b || !l || !ticket)
		return -EIO;
	lease_ms = l;
	zc_auth_set_ticket(s, texp, ticket);
	if (b == boot)
		return 0;
	boot = b;
	return 1;
}

/* The export's root: the last 8 bytes of a SESSION_NEW answer, whatever
 * comes before them.  Returns 0 or -EIO. */
static int take_root(const struct zc_call *call)
{
	struct zc_cur c;
	uint64_t r;

	if (call->resp_len < 28)
		return -EIO;
	c = zc_cur_init(call->resp + call->resp_len - 8, 8);
	r = zc_get_u64(&c);
	if (c.err || !r)
		return -EIO;
	if (r != atomic_load(&root_ino))
		zc_info("client: the export's root is inode %" PRIu64, r);
	atomic_store(&root_ino, r);
	return 0;
}

/* Starts a session: "name" -> "session:64 boot:64 lease_ms:32 ... root:64". */
static int session_new(void)
{
	struct zc_call call;
	struct zc_cur c;
	uint64_t s;
	int err = zc_mds_call(NULL, ZC_CLTOMA_SESSION_NEW, zc_cl.id_msg, zc_cl.id_msg_len, &call);

	if (err)
		return err;
	c = zc_cur_init(call.resp, call.resp_len);
	s = zc_get_u64(&c);
	err = take_renewal(&c, s);
	if (err >= 0)
		err = take_root(&call);
	zc_call_free_resp(&call);
	if (err < 0 || !s)
		return -EIO;
	atomic_store(&session, s);
	return 0;
}

/* Declares every open handle to the mds (after it restarted). */
static int declare(void)
{
	struct zc_cur c, fix;
	struct zc_call call;
	uint8_t *buf;
	size_t cap, n_at;
	uint32_t n = 0;
	int err;

	pthread_mutex_lock(&fh_lock);
	cap = 8 + 1 + 4 + nfh * 17;
	buf = malloc(cap);
	if (!buf) {
		pthread_mutex_unlock(&fh_lock);
		return -ENOMEM;
	}
	c = zc_cur_init(buf, cap);
	zc_put_u64(&c, boot);
	zc_put_u8(&c, 1);
	n_at = c.pos;
	zc_put_u32(&c, 0);
	for (struct zc_fh *fh = fhs; fh; fh = fh->next) {
		if (!fh->in)	/* a create still on its way */
			continue;
		zc_put_u64(&c, fh->handle);
		zc_put_u64(&c, fh->in->ino);
		zc_put_u8(&c, zc_open_access(fh->flags));
		n++;
	}
	pthread_mutex_unlock(&fh_lock);
	fix = zc_cur_init(buf + n_at, 4);
	zc_put_u32(&fix, n);
	err = zc_mds_call(NULL, ZC_CLTOMA_SESSION_RENEW, buf, c.pos, &call);
	free(buf);
	if (err)
		return err;
	/* Declared to this boot: the next renewal need not do it again. */
	c = zc_cur_init(call.resp, call.resp_len);
	err = take_renewal(&c, atomic_load(&session));
	zc_call_free_resp(&call);
	return err < 0 ? err : 0;
}

/* The mds answered that it has not heard of our open files since it
 * started (a request came before the renewal that would tell us). */
static int declare_again(void)
{
	int err;

	pthread_mutex_lock(&sess_lock);
	zc_info("client: the mds restarted and asks for our open files; declaring %zu", nfh);
	err = declare();
	pthread_mutex_unlock(&sess_lock);
	return err;
}

/* The session is unknown to the mds (it expired): start a new one. */
static int session_recover(uint64_t failed)
{
	int err = 0;

	pthread_mutex_lock(&sess_lock);
	if (atomic_load(&session) == failed) {
		zc_err("client: session %" PRIu64 " is gone at the mds (expired while this client"
		       " was away): its locks are lost; starting a new one", failed);
		err = session_new();
		if (!err)
			err = declare();
	}
	pthread_mutex_unlock(&sess_lock);
	return err;
}

void zc_session_init(void)
{
	struct zc_cur c = zc_cur_init(zc_cl.id_msg, sizeof(zc_cl.id_msg));

	zc_put_str(&c, zc_cl.id, strlen(zc_cl.id));
	zc_cl.id_msg_len = c.pos;
}

int zc_session_start(void)
{
	int err;

	pthread_mutex_lock(&sess_lock);
	/* An operation may have found no session and made one already. */
	err = atomic_load(&session) ? 0 : session_new();
	pthread_mutex_unlock(&sess_lock);
	if (err)
		return err;
	zc_info("client: session %" PRIu64 " with the mds, lease %u ms",
		(uint64_t)atomic_load(&session), lease_ms);
	return 0;
}

void zc_session_renew(void)
{
	uint8_t buf[16];
	struct zc_cur c = zc_cur_init(buf, sizeof(buf));
	struct zc_call call;
	int err;

	pthread_mutex_lock(&sess_lock);
	zc_put_u64(&c, boot);
	zc_put_u8(&c, 0);
	zc_put_u32(&c, 0);
	pthread_mutex_unlock(&sess_lock);
	err = zc_mds_call(NULL, ZC_CLTOMA_SESSION_RENEW, buf, c.pos, &call);
	if (err) {
		if (err != -EINTR)
			zc_warn("client: session renewal failed: %s", strerror(-err));
		return;
	}
	pthread_mutex_lock(&sess_lock);
	c = zc_cur_init(call.resp, call.resp_len);
	err = take_renewal(&c, atomic_load(&session));
	zc_call_free_resp(&call);
	if (err > 0) {
		zc_info("client: the mds restarted; declaring %zu open files again", nfh);
		err = declare();
		if (err)
			zc_err("client: open files not declared: %s", strerror(-err));
	}
	pthread_mutex_unlock(&sess_lock);
}

unsigned zc_session_renew_ms(void)
{
	return ZC_MAX(lease_ms / 4, 100);
}

void zc_session_end(void)
{
	if (!atomic_load(&session))
		return;
	zc_mds_run(NULL, ZC_CLTOMA_SESSION_END, NULL, 0);
	atomic_store(&session, 0);
}
