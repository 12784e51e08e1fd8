// SPDX-License-Identifier: MIT
/*
 * Group commit in the mds store: changes arriving together share one
 * transaction and one fsync, each is answered only once it is committed,
 * a failed change undoes only itself, and what was answered survives a
 * kill -9 of the process that answered it.
 *
 * "Committed" is checked from outside the mds's own bookkeeping too: a
 * second SQLite connection to the store sees only committed transactions.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "check.h"
#include "mds_util.h"
#include "common/util.h"
#include "rpc/rpc.h"

#define THREADS 8
#define PER_THREAD 200

/* Another connection to the store: it sees committed data only.  One per
 * thread: statements under way on a connection share one snapshot. */
static __thread sqlite3 *peek_db;
static uint64_t dir_ino, main_session;

/* Does a committed transaction hold name in dir? */
static bool committed_name(uint64_t dir, const char *name)
{
	sqlite3_stmt *q;
	bool found;
	int rc;

	if (sqlite3_prepare_v2(peek_db, "SELECT 1 FROM dentry WHERE parent=? AND name=?", -1, &q,
			       NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_int64(q, 1, (int64_t)dir);
	sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	found = rc == SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		fprintf(stderr, "looking for %s: %s\n", name, sqlite3_errmsg(peek_db));
	sqlite3_finalize(q);
	return found;
}

static int64_t committed_meta(const char *k)
{
	sqlite3_stmt *q;
	int64_t v = -1;

	if (sqlite3_prepare_v2(peek_db, "SELECT v FROM meta WHERE k=?", -1, &q, NULL) != SQLITE_OK)
		return -2;
	sqlite3_bind_text(q, 1, k, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

static int peek_open(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/meta.db", t_dir);
	return sqlite3_open_v2(path, &peek_db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK ? 0 : -1;
}

static void peek_close(void)
{
	sqlite3_close(peek_db);
	peek_db = NULL;
}

/* What every client request starts with: session, seq, ack, and the
 * caller's identity (root, no groups). */
static void put_head(struct zc_cur *c, uint64_t session, uint64_t seq)
{
	zc_put_u64(c, session);
	zc_put_u64(c, seq);
	zc_put_u64(c, seq);
	zc_put_u32(c, 0);
	zc_put_u32(c, 0);
	zc_put_u8(c, 0);
}

/* One MKNOD of a regular file (or a folder) from this thread's own buffers.
 * Returns the status; *epoch is the batch its answer waited for. */
static int mknod_in(uint64_t session, uint64_t seq, uint64_t dir, const char *name, uint32_t mode,
		    uint64_t *ino, uint64_t *epoch)
{
	uint8_t buf[512], out[512];
	struct zc_cur c = zc_cur_init(buf, sizeof(buf)), o = zc_cur_init(out, sizeof(out));
	struct zc_attr a;
	int st;

	put_head(&c, session, seq);
	zc_put_u64(&c, dir);
	zc_put_u32(&c, mode);
	zc_put_u32(&c, 0);
	zc_put_u32(&c, 0);
	zc_put_u32(&c, 0);
	zc_put_str(&c, name, strlen(name));
	st = mds_client_request(t_peer, ZC_CLTOMA_MKNOD, buf, c.pos, &o);
	if (epoch)
		*epoch = mds_request_epoch();
	if (!st && ino) {
		struct zc_cur r = zc_cur_init(out, o.pos);

		zc_get_attr(&r, &a);
		*ino = r.err ? 0 : a.ino;
	}
	return st;
}

static int getattr_of(uint64_t ino, uint64_t *epoch)
{
	uint8_t buf[128], out[256];
	struct zc_cur c = zc_cur_init(buf, sizeof(buf)), o = zc_cur_init(out, sizeof(out));
	int st;

	put_head(&c, main_session, 0);
	zc_put_u64(&c, ino);
	st = mds_client_request(t_peer, ZC_CLTOMA_GETATTR, buf, c.pos, &o);
	*epoch = mds_request_epoch();
	return st;
}

/* LOOKUP of name in dir: its status. */
static int lookup_of(uint64_t dir, const char *name)
{
	uint8_t buf[256], out[256];
	struct zc_cur c = zc_cur_init(buf, sizeof(buf)), o = zc_cur_init(out, sizeof(out));

	put_head(&c, main_session, 0);
	zc_put_u64(&c, dir);
	zc_put_str(&c, name, strlen(name));
	return mds_client_request(t_peer, ZC_CLTOMA_LOOKUP, buf, c.pos, &o);
}

/* ---- many threads, many changes ---- */

struct worker {
	int id;
	uint64_t session;
	pthread_barrier_t *start;
	int ok, bad_status, early, unseen, no_epoch;
};

static void *worker(void *arg)
{
	struct worker *w = arg;
	char name[64];

	CHECK(!peek_open());
	pthread_barrier_wait(w->start);
	for (int i = 0; i < PER_THREAD; i++) {
		uint64_t epoch;
		int st;

		snprintf(name, sizeof(name), "t%d-%d", w->id, i);
		st = mknod_in(w->session, i + 1, dir_ino, name, S_IFREG | 0644, NULL, &epoch);
		if (st) {
			w->bad_status++;
			continue;
		}
		w->ok++;
		/* Answered: its batch is committed, by the mds's count and
		 * by what another connection sees. */
		if (!epoch)
			w->no_epoch++;
		if (mds_committed_epoch() < epoch)
			w->early++;
		if (!committed_name(dir_ino, name))
			w->unseen++;
		/* And by a lookup, which reads what is committed only, while
		 * the others' batches commit. */
		if (lookup_of(dir_ino, name) != ZC_OK)
			w->unseen++;
	}
	peek_close();
	return NULL;
}

static void many_threads(void)
{
	pthread_t th[THREADS];
	struct worker w[THREADS];
	pthread_barrier_t start;
	uint64_t c0, n0, c1, n1, ns;
	int ok = 0;

	pthread_barrier_init(&start, NULL, THREADS);
	mds_commit_stats(&c0, &n0, &ns);
	for (int i = 0; i < THREADS; i++) {
		char name[32];

		snprintf(name, sizeof(name), "gc-%d", i);
		w[i] = (struct worker){ .id = i, .session = t_session_new(name), .start = &start };
		CHECK(w[i].session);
		CHECK(!pthread_create(&th[i], NULL, worker, &w[i]));
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(w[i].bad_status, 0);
		CHECK_EQ(w[i].no_epoch, 0);
		CHECK_EQ(w[i].early, 0);
		CHECK_EQ(w[i].unseen, 0);
		ok += w[i].ok;
	}
	pthread_barrier_destroy(&start);
	mds_commit_stats(&c1, &n1, &ns);
	CHECK_EQ(ok, THREADS * PER_THREAD);
	CHECK_GE(n1 - n0, (uint64_t)ok);
	/* Several changes per fsync: well below one commit per change. */
	CHECK_GT(c1 - c0, 0);
	CHECK_LE((c1 - c0) * 2, n1 - n0);
	printf("%d changes from %d threads: %llu commits, %.1f changes per commit\n", ok, THREADS,
	       (unsigned long long)(c1 - c0), c1 > c0 ? (double)(n1 - n0) / (c1 - c0) : 0.0);
}

/* ---- a failed change among others of its batch ---- */

struct dup_arg {
	int id, round;
	uint64_t session;
	pthread_barrier_t *start;
	int st;
	bool seen;
	uint64_t epoch;
};

static void *dup_worker(void *arg)
{
	struct dup_arg *d = arg;
	char name[64];

	/* Thread 0 makes an existing name again; the others new ones. */
	if (d->id)
		snprintf(name, sizeof(name), "d%d-%d", d->round, d->id);
	else
		snprintf(name, sizeof(name), "taken");
	pthread_barrier_wait(d->start);
	d->st = mknod_in(d->session, 0, dir_ino, name, S_IFREG | 0600, NULL, &d->epoch);
	if (d->id && !d->st) {
		CHECK(!peek_open());
		d->seen = committed_name(dir_ino, name);
		peek_close();
	}
	return NULL;
}

static void failed_in_batch(void)
{
	uint64_t taken, e, s = t_session_new("dup");
	int shared = 0, rounds = 0;

	CHECK(s);
	CHECK_EQ(mknod_in(s, 0, dir_ino, "taken", S_IFREG | 0644, &taken, &e), ZC_OK);
	/* Until the refused one shared its batch with kept ones a few times. */
	for (int r = 0; r < 200 && shared < 3; r++, rounds++) {
		pthread_t th[THREADS];
		struct dup_arg d[THREADS];
		pthread_barrier_t start;
		bool with_kept = false;

		pthread_barrier_init(&start, NULL, THREADS);
		for (int i = 0; i < THREADS; i++) {
			d[i] = (struct dup_arg){ .id = i, .round = r, .session = s, .start = &start };
			CHECK(!pthread_create(&th[i], NULL, dup_worker, &d[i]));
		}
		for (int i = 0; i < THREADS; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&start);
		CHECK_EQ(d[0].st, ZC_ST_EXIST);
		for (int i = 1; i < THREADS; i++) {
			char name[64];

			snprintf(name, sizeof(name), "d%d-%d", r, i);
			CHECK_EQ(d[i].st, ZC_OK);
			CHECK(d[i].seen);
			with_kept |= d[i].epoch == d[0].epoch;
		}
		shared += with_kept;
	}
	printf("a refused change shared its batch with kept ones in %d of %d rounds\n", shared,
	       rounds);
	CHECK_GT(shared, 0);
	/* The name kept its first inode. */
	CHECK_EQ(mds_int(0, "SELECT ino FROM dentry WHERE parent=? AND name='taken'", "i",
			 (int64_t)dir_ino), taken);
}

/* ---- the batch, step by step ---- */

static pthread_barrier_t step;
static uint64_t reader_epoch;
static int reader_st;

static void *reader(void *arg)
{
	(void)arg;
	reader_st = getattr_of(ZC_ROOT_INO, &reader_epoch);
	pthread_barrier_wait(&step);
	return NULL;
}

static void batch_steps(void)
{
	uint8_t out[16];
	struct zc_cur o = zc_cur_init(out, sizeof(out));
	uint64_t c0, n0, c1, n1, ns, e, before;
	pthread_t th;
	int st;

	/* A read with nothing pending waits for nothing. */
	CHECK_EQ(getattr_of(ZC_ROOT_INO, &e), ZC_OK);
	CHECK_EQ(e, 0);

	/* Three changes of one request, the middle one failing: one batch,
	 * one commit, the failed one undone alone. */
	mds_commit_stats(&c0, &n0, &ns);
	before = mds_committed_epoch();
	mds_request_begin();
	mds_lock_store();
	CHECK(!mds_begin());
	CHECK(!mds_run("INSERT INTO meta(k, v) VALUES('gc-a', 1)", ""));
	CHECK_EQ(mds_end(0), 0);
	CHECK(!mds_begin());
	CHECK(!mds_run("INSERT INTO meta(k, v) VALUES('gc-b', 2)", ""));
	CHECK_EQ(mds_end(-EEXIST), -EEXIST);
	CHECK(!mds_begin());
	CHECK(!mds_run("INSERT INTO meta(k, v) VALUES('gc-c', 3)", ""));
	CHECK_EQ(mds_end(0), 0);
	pthread_mutex_unlock(&mds_lock);
	/* Not committed yet: nobody waited for it. */
	CHECK_EQ(committed_meta("gc-a"), -1);
	CHECK_EQ(mds_committed_epoch(), before);

	/* A getattr reads what is committed only: while it is open, it
	 * answers at once and leaves it open. */
	pthread_barrier_init(&step, NULL, 2);
	CHECK(!pthread_create(&th, NULL, reader, NULL));
	pthread_barrier_wait(&step);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&step);
	CHECK_EQ(reader_st, ZC_OK);
	CHECK_EQ(reader_epoch, 0);
	CHECK_EQ(mds_committed_epoch(), before);
	CHECK_EQ(committed_meta("gc-a"), -1);

	/* The request that made them waits for their batch, and commits it. */
	st = mds_request_end(ZC_OK, &o, 0);
	CHECK_EQ(st, ZC_OK);
	CHECK_EQ(mds_request_epoch(), before + 1);
	CHECK_GE(mds_committed_epoch(), before + 1);
	CHECK_EQ(committed_meta("gc-a"), 1);
	CHECK_EQ(committed_meta("gc-b"), -1);
	CHECK_EQ(committed_meta("gc-c"), 3);
	mds_commit_stats(&c1, &n1, &ns);
	CHECK_EQ(c1 - c0, 1);
	CHECK_EQ(n1 - n0, 2);

	/* A thread serving no request commits at its mds_end. */
	mds_lock_store();
	CHECK(!mds_begin());
	CHECK(!mds_run("INSERT INTO meta(k, v) VALUES('gc-d', 4)", ""));
	CHECK_EQ(mds_end(0), 0);
	pthread_mutex_unlock(&mds_lock);
	CHECK_EQ(committed_meta("gc-d"), 4);

	/* mds_sync: whatever a request left open is on disk after it. */
	mds_request_begin();
	mds_lock_store();
	CHECK(!mds_begin());
	CHECK(!mds_run("INSERT INTO meta(k, v) VALUES('gc-e', 5)", ""));
	CHECK_EQ(mds_end(0), 0);
	pthread_mutex_unlock(&mds_lock);
	CHECK_EQ(committed_meta("gc-e"), -1);
	CHECK_EQ(mds_sync(), 0);
	CHECK_EQ(committed_meta("gc-e"), 5);
	CHECK_EQ(mds_request_end(ZC_OK, &o, 0), ZC_OK);
}

/* ---- answers held on a connection (the network path) ---- */

/* A MKNOD in the root served as the network does: the request returns at
 * once, mds_reply sends (or holds) its answer on c. */
static int net_mknod(struct zc_srv_conn *c, uint64_t xid, const char *name)
{
	uint8_t buf[512], out[512];
	struct zc_cur q = zc_cur_init(buf, sizeof(buf)), o = zc_cur_init(out, sizeof(out));
	struct zc_hdr h = { .type = ZC_CLTOMA_MKNOD, .xid = xid };
	int st;

	put_head(&q, main_session, 0);
	zc_put_u64(&q, dir_ino);
	zc_put_u32(&q, S_IFREG | 0644);
	zc_put_u32(&q, 0);
	zc_put_u32(&q, 0);
	zc_put_u32(&q, 0);
	zc_put_str(&q, name, strlen(name));
	st = mds_client_request(t_peer, h.type, buf, q.pos, &o);
	return mds_reply(c, &h, st, out, o.pos) ? -1 : st;
}

static bool readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0;
}

/* One answer frame from fd: its xid, or 0. */
static uint64_t answer_xid(int fd, int *status)
{
	uint8_t raw[ZC_HDR_LEN], body[512];
	struct zc_hdr h;

	if (zc_read_full(fd, raw, sizeof(raw)) || zc_hdr_decode(raw, &h) || h.len > sizeof(body) ||
	    (h.len && zc_read_full(fd, body, h.len)))
		return 0;
	*status = h.status;
	return h.xid;
}

static void *held_answers(void *arg)
{
	struct zc_srv_conn c = { .fd = -1 };
	uint64_t before = mds_committed_epoch(), x1, x2;
	int sv[2], st1 = -1, st2 = -1;
	char b;

	(void)arg;
	CHECK(!peek_open());
	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	c.fd = sv[0];
	mds_answer_later();
	/* The next request is already there: the first answer is held,
	 * uncommitted. */
	CHECK_EQ(write(sv[1], "x", 1), 1);
	CHECK_EQ(net_mknod(&c, 11, "held-1"), ZC_OK);
	CHECK_GT(mds_request_epoch(), before);
	CHECK(!readable(sv[1]));
	CHECK(!committed_name(dir_ino, "held-1"));
	/* A lookup sees what is committed only: not yet the name. */
	CHECK_EQ(lookup_of(dir_ino, "held-1"), ZC_ST_NOENT);
	CHECK_EQ(read(sv[0], &b, 1), 1);
	/* Nothing more to read: one commit for both, then both answers. */
	CHECK_EQ(net_mknod(&c, 12, "held-2"), ZC_OK);
	CHECK(readable(sv[1]));
	x1 = answer_xid(sv[1], &st1);
	x2 = answer_xid(sv[1], &st2);
	CHECK_EQ(x1, 11);
	CHECK_EQ(x2, 12);
	CHECK_EQ(st1, ZC_OK);
	CHECK_EQ(st2, ZC_OK);
	CHECK(committed_name(dir_ino, "held-1"));
	CHECK(committed_name(dir_ino, "held-2"));
	CHECK_EQ(mds_committed_epoch(), before + 1);
	CHECK_EQ(lookup_of(dir_ino, "held-1"), ZC_OK);
	/* A refused change while nothing else is open: answered at once,
	 * after its (empty) batch ended. */
	CHECK_EQ(net_mknod(&c, 13, "held-1"), ZC_ST_EXIST);
	CHECK_EQ(answer_xid(sv[1], &st1), 13);
	CHECK_EQ(st1, ZC_ST_EXIST);
	/* A connection closing with answers held: their batch goes to disk. */
	CHECK_EQ(write(sv[1], "x", 1), 1);
	CHECK_EQ(net_mknod(&c, 14, "held-3"), ZC_OK);
	CHECK(!committed_name(dir_ino, "held-3"));
	mds_reply_close(&c);
	CHECK(committed_name(dir_ino, "held-3"));
	close(sv[0]);
	close(sv[1]);
	peek_close();
	return NULL;
}

/* ---- kill -9 of the process answering ---- */

/* A child runs four threads of MKNODs and writes each name to the pipe
 * only after its answer; the parent kills it with -9 midway, then every
 * name it read must be in the store. */
struct killed_arg {
	int id, fd;
	uint64_t session;
};

static void *killed_worker(void *arg)
{
	struct killed_arg *k = arg;
	char name[64];

	for (int i = 0;; i++) {
		int n = snprintf(name, sizeof(name), "k%d-%d", k->id, i);

		if (mknod_in(k->session, i + 1, ZC_ROOT_INO, name, S_IFREG | 0644, NULL, NULL))
			continue;
		name[n] = '\n';
		if (write(k->fd, name, n + 1) != n + 1)
			_exit(3);
	}
	return NULL;
}

static void killed(void)
{
	int fds[2], status, answered = 0, missing = 0;
	char buf[256];
	pid_t pid;
	FILE *in;

	CHECK(!pipe(fds));
	pid = fork();
	if (!pid) {
		struct killed_arg k[4];
		pthread_t th;

		close(fds[0]);
		if (mds_store_open(t_dir) || mds_sessions_load())
			_exit(2);
		for (int i = 0; i < 4; i++) {
			char name[32];

			snprintf(name, sizeof(name), "killed-%d", i);
			k[i] = (struct killed_arg){ .id = i, .fd = fds[1],
						    .session = t_session_new(name) };
			if (!k[i].session || pthread_create(&th, NULL, killed_worker, &k[i]))
				_exit(2);
		}
		for (;;)
			pause();
	}
	close(fds[1]);
	usleep(700 * 1000);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status));
	CHECK_EQ(WTERMSIG(status), SIGKILL);
	in = fdopen(fds[0], "r");
	CHECK(in);
	if (!in)
		return;
	CHECK(!mds_store_open(t_dir));
	CHECK(!mds_sessions_load());
	while (fgets(buf, sizeof(buf), in)) {
		size_t n = strcspn(buf, "\n");

		if (buf[n] != '\n')
			break;	/* a line cut by the kill */
		buf[n] = 0;
		answered++;
		if (!mds_int(0, "SELECT count(*) FROM dentry WHERE parent=1 AND name=?", "t", buf) &&
		    missing++ < 5)
			fprintf(stderr, "answered but lost: %s\n", buf);
	}
	fclose(in);
	printf("killed with -9 after %d answered changes: %d lost\n", answered, missing);
	CHECK_GT(answered, 0);
	CHECK_EQ(missing, 0);
}

int main(void)
{
	uint64_t e;

	if (!mkdtemp(t_dir))
		return 1;
	snprintf(t_creds, sizeof(t_creds), "%s/credentials", t_dir);
	if (zc_cred_create(t_creds, "admin"))
		return 1;
	mds_creds_path = t_creds;

	/* First, before this process has the store open. */
	killed();

	CHECK(!peek_open());
	main_session = t_session_new("main");
	CHECK(main_session);
	CHECK_EQ(mknod_in(main_session, 0, ZC_ROOT_INO, "d", S_IFDIR | 0755, &dir_ino, &e), ZC_OK);
	CHECK(dir_ino);
	CHECK(committed_name(ZC_ROOT_INO, "d"));

	batch_steps();
	{
		pthread_t th;	/* mds_answer_later is for the thread's life */

		CHECK(!pthread_create(&th, NULL, held_answers, NULL));
		pthread_join(th, NULL);
	}
	many_threads();
	failed_in_batch();

	/* Everything answered OK is there after a restart. */
	peek_close();
	CHECK(!t_store_restart());
	CHECK_EQ(mds_int(0, "SELECT count(*) FROM dentry WHERE parent=? AND name LIKE 't%-%'", "i",
			 (int64_t)dir_ino), THREADS * PER_THREAD);
	CHECK_EQ(mds_int(0, "SELECT count(*) FROM meta WHERE k IN ('gc-a', 'gc-c', 'gc-d',"
			 " 'gc-e')", ""), 4);
	CHECK_EQ(mds_int(0, "SELECT count(*) FROM meta WHERE k='gc-b'", ""), 0);
	t_store_remove();
	return check_done();
}
