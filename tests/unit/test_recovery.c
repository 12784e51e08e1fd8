// SPDX-License-Identifier: MIT
/*
 * The mds's recovery decisions on a real store, with the chunk servers
 * faked by one RPC server in this process (every fake server registers
 * with its address): a dropped replica, a server down, a goal change and
 * a chunk nobody announced are queued, counted and copied; a copy waiting
 * for a target goes when a server comes back; a copy runs on a connection
 * of its own, so a version bump to its target is not held up behind it;
 * a copy that times out fails alone, the replicas stay; REPORT pages are
 * bounded and their answers fit.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "check.h"
#include "common/log.h"
#include "common/util.h"
#include "mds_util.h"
#include "rpc/rpc.h"

#define NCS 3
#define MIB (1ULL << 20)

/* ---- the fake chunk servers ---- */

enum { REPL_OK, REPL_GATE, REPL_HANG };

static pthread_mutex_t fk_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fk_cv = PTHREAD_COND_INITIALIZER;
static int repl_mode;
static bool gate_open;
static uint64_t gate_chunk;	/* a SETVERSION of it opens the gate too */
static bool repl_saw_setversion, gate_passed;
static int setversions, replicates;

static int fake_cs(struct zc_srv_conn *c, const struct zc_hdr *h, uint8_t *payload)
{
	struct zc_cur in = zc_cur_init(payload, h->len);
	uint64_t id = zc_get_u64(&in);

	pthread_mutex_lock(&fk_lock);
	if (h->type == ZC_MATOCS_SETVERSION) {
		setversions++;
		if (gate_chunk && id == gate_chunk) {
			gate_open = true;
			pthread_cond_broadcast(&fk_cv);
		}
	} else if (h->type == ZC_MATOCS_REPLICATE) {
		replicates++;
		if (repl_mode == REPL_GATE) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 10;
			while (!gate_open &&
			       !pthread_cond_timedwait(&fk_cv, &fk_lock, &ts))
				;
			/* The first copy through the gate tells. */
			if (!gate_passed)
				repl_saw_setversion = gate_open;
			gate_passed = true;
		} else if (repl_mode == REPL_HANG) {
			pthread_mutex_unlock(&fk_lock);
			usleep(1500 * 1000);
			pthread_mutex_lock(&fk_lock);
		}
	}
	pthread_mutex_unlock(&fk_lock);
	return zc_srv_reply(c, h, ZC_OK, NULL, 0);
}

static void *serve(void *arg)
{
	zc_srv_run(*(int *)arg, fake_cs, NULL, NULL);
	return NULL;
}

/* ---- driving the mds ---- */

static uint16_t fake_port;
static uint32_t cs_id[NCS];
static bool alive[NCS];

static uint32_t cs_register(int i)
{
	alive[i] = true;
	return t_cs_register(0x5a, i, fake_port);
}

static int heartbeat(int i)
{
	uint8_t req[32];
	struct zc_cur c = zc_cur_init(req, sizeof(req));

	zc_put_u32(&c, cs_id[i]);
	zc_put_u64(&c, 1ULL << 40);
	zc_put_u64(&c, 1ULL << 40);
	zc_put_u32(&c, 0);
	return t_cs_send(ZC_CSTOMA_HEARTBEAT, req, c.pos);
}

/* Servers not heartbeating for MDS_DOWN_NS are down. */
static void set_down(int i)
{
	pthread_mutex_lock(&mds_lock);
	cs_find(cs_id[i])->last_hb = zc_now_ns() - MDS_DOWN_NS - 1000000000ULL;
	pthread_mutex_unlock(&mds_lock);
	alive[i] = false;
}

static void beat(void)
{
	for (int i = 0; i < NCS; i++)
		if (alive[i])
			heartbeat(i);
}

/* Rounds of recovery (and heartbeats) until cond holds or ms pass. */
static bool until(bool (*cond)(void), int ms)
{
	for (int t = 0; t < ms; t += 20) {
		beat();
		mds_recovery_round();
		if (cond())
			return true;
		usleep(20 * 1000);
	}
	return cond();
}

static struct loc_view {
	struct zc_loc l;
	int up;
} view(uint64_t ino, uint32_t idx)
{
	struct loc_view v = { 0 };

	pthread_mutex_lock(&mds_lock);
	load_loc(ino, idx, &v.l);
	for (int i = 0; i < v.l.nrep; i++)
		v.up += cs_up(cs_find(v.l.rep[i].cs_id));
	pthread_mutex_unlock(&mds_lock);
	return v;
}

static bool has(const struct zc_loc *l, uint32_t cs)
{
	for (int i = 0; i < l->nrep; i++)
		if (l->rep[i].cs_id == cs)
			return true;
	return false;
}

static uint64_t rec(int what)
{
	uint64_t v;

	pthread_mutex_lock(&mds_lock);
	v = what == 0 ? mds_rec.under_replicated : what == 1 ? mds_rec.bad :
	    what == 2 ? mds_rec.bytes_left : what == 3 ? mds_rec.copies_done :
	    mds_rec.copies_failed;
	pthread_mutex_unlock(&mds_lock);
	return v;
}

static uint64_t the_ino;
static uint64_t the_session;	/* it has the_ino open for writing */
static int nchunks;
static uint64_t want_done;

static bool healthy(void)
{
	if (rec(0) || rec(1))
		return false;
	for (int i = 0; i < nchunks; i++) {
		struct loc_view v = view(the_ino, i);

		bool busy;

		if (v.up != 2 || v.l.nrep != 2)
			return false;
		pthread_mutex_lock(&mds_lock);
		busy = chunk_busy(v.l.id);
		pthread_mutex_unlock(&mds_lock);
		if (busy)
			return false;
	}
	return true;
}

static bool copies_reached(void)
{
	return rec(3) >= want_done;
}

static bool one_bad(void)
{
	return rec(1) == 1;
}

static bool failed_one(void)
{
	return rec(4) >= 1;
}

static int alloc(uint64_t ino, uint32_t idx, struct zc_loc *l)
{
	struct treq *r = treq_new(the_session, 0);
	struct zc_cur a;
	int st;

	zc_put_u64(&r->c, ino);
	zc_put_u32(&r->c, idx);
	st = treq_send(r, ZC_CLTOMA_CHUNK_ALLOC);
	a = t_answer();
	zc_get_u64(&a);
	zc_get_loc(&a, l);
	return st;
}

static int chunk_bad(uint32_t cs, uint64_t chunk)
{
	uint8_t req[16];
	struct zc_cur c = zc_cur_init(req, sizeof(req));

	zc_put_u32(&c, cs);
	zc_put_u64(&c, chunk);
	return t_cs_send(ZC_CSTOMA_CHUNK_BAD, req, c.pos);
}

static int chunk_failed(uint64_t ino, uint32_t idx, const struct zc_loc *l, uint32_t cs)
{
	struct treq *r = treq_new(the_session, 0);

	zc_put_u64(&r->c, ino);
	zc_put_u32(&r->c, idx);
	zc_put_u64(&r->c, l->id);
	zc_put_u32(&r->c, l->version);
	zc_put_u8(&r->c, 0);	/* missed a write */
	zc_put_u8(&r->c, 1);
	zc_put_u32(&r->c, cs);
	return treq_send(r, ZC_CLTOMA_CHUNK_FAILED);
}

static int setgoal(uint64_t ino, uint8_t goal)
{
	struct treq *r = treq_new(the_session, 0);

	zc_put_u64(&r->c, ino);
	zc_put_u8(&r->c, goal);
	return treq_send(r, ZC_CLTOMA_SETGOAL);
}

static void set_repl(int mode, uint64_t chunk)
{
	pthread_mutex_lock(&fk_lock);
	repl_mode = mode;
	gate_open = mode != REPL_GATE;
	gate_chunk = chunk;
	repl_saw_setversion = false;
	gate_passed = false;
	pthread_cond_broadcast(&fk_cv);
	pthread_mutex_unlock(&fk_lock);
}

static int index_of(uint32_t cs)
{
	for (int i = 0; i < NCS; i++)
		if (cs_id[i] == cs)
			return i;
	return -1;
}

/* REPORT pages: too big is refused; full pages of deletions and of
 * version moves are answered whole. */
static void test_report(void)
{
	static uint8_t page[8 + 12 * (ZC_REPORT_PAGE + 1)];
	struct zc_cur c, a;
	uint32_t n, m;
	bool all = true;

	/* Chunks below the next id that do not exist: orphans to delete. */
	pthread_mutex_lock(&mds_lock);
	mds_run("UPDATE meta SET v=1000000 WHERE k='next_chunk'", "");
	pthread_mutex_unlock(&mds_lock);
	c = zc_cur_init(page, sizeof(page));
	zc_put_u32(&c, cs_id[0]);
	zc_put_u32(&c, ZC_REPORT_PAGE + 1);
	for (int i = 0; i < ZC_REPORT_PAGE + 1; i++) {
		zc_put_u64(&c, 500000 + i);
		zc_put_u32(&c, 1);
	}
	CHECK_EQ(t_cs_send(ZC_CSTOMA_REPORT, page, c.pos), ZC_ST_INVAL);
	c = zc_cur_init(page + 4, 4);
	zc_put_u32(&c, ZC_REPORT_PAGE);
	CHECK_EQ(t_cs_send(ZC_CSTOMA_REPORT, page, 8 + 12 * ZC_REPORT_PAGE), ZC_OK);
	a = t_answer();
	n = zc_get_u32(&a);
	CHECK_EQ(n, ZC_REPORT_PAGE);
	for (uint32_t i = 0; i < n; i++)
		all &= zc_get_u64(&a) == 500000 + i;
	CHECK(all);
	CHECK_EQ(zc_get_u32(&a), 0);
	CHECK(!a.err);
	CHECK_EQ(zc_cur_left(&a), 0);

	/* A page of current replicas at an old version: every one moves. */
	pthread_mutex_lock(&mds_lock);
	mds_begin();
	for (int i = 0; i < ZC_REPORT_PAGE; i++) {
		mds_run("INSERT INTO chunk(ino, idx, id, version) VALUES(?, ?, ?, 7)", "iii",
			(int64_t)the_ino, (int64_t)(100000 + i), (int64_t)(600000 + i));
		mds_run("INSERT INTO replica(chunk, cs) VALUES(?, ?)", "ii", (int64_t)(600000 + i),
			(int64_t)cs_id[0]);
	}
	mds_end(0);
	pthread_mutex_unlock(&mds_lock);
	c = zc_cur_init(page, sizeof(page));
	zc_put_u32(&c, cs_id[0]);
	zc_put_u32(&c, ZC_REPORT_PAGE);
	for (int i = 0; i < ZC_REPORT_PAGE; i++) {
		zc_put_u64(&c, 600000 + i);
		zc_put_u32(&c, 6);
	}
	CHECK_EQ(t_cs_send(ZC_CSTOMA_REPORT, page, c.pos), ZC_OK);
	CHECK_EQ(t_out_len, 8 + 12 * ZC_REPORT_PAGE);
	a = t_answer();
	CHECK_EQ(zc_get_u32(&a), 0);
	m = zc_get_u32(&a);
	CHECK_EQ(m, ZC_REPORT_PAGE);
	all = true;
	for (uint32_t i = 0; i < m; i++) {
		all &= zc_get_u64(&a) == 600000 + i;
		all &= zc_get_u32(&a) == 7;
	}
	CHECK(all);
	CHECK(!a.err);
}

int main(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	struct zc_loc l[8];
	struct loc_view v;
	pthread_t t;
	int lfd, st, down;
	uint64_t s;

	zc_log_init("test", getenv("ZCFS_TEST_VERBOSE") ? ZC_LOG_DEBUG : ZC_LOG_ERR, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = zc_tcp_listen(&sa);
	if (lfd < 0 || getsockname(lfd, (struct sockaddr *)&sa, &sl))
		return 77;
	fake_port = ntohs(sa.sin_port);
	pthread_create(&t, NULL, serve, &lfd);
	replicas_goal = 2;
	mds_grace_s = 1;
	if (t_store_open() || mds_recovery_init()) {
		fprintf(stderr, "cannot open a store in %s\n", t_dir);
		return 1;
	}
	for (int i = 0; i < NCS; i++) {
		cs_id[i] = cs_register(i);
		CHECK(cs_id[i]);
	}

	s = the_session = t_session_new("rec");
	/* A file of four full chunks, two replicas each. */
	the_ino = t_create(s, 1, 1, "f", &st);
	CHECK_EQ(st, ZC_OK);
	nchunks = 4;
	for (int i = 0; i < nchunks; i++) {
		CHECK_EQ(alloc(the_ino, i, &l[i]), ZC_OK);
		CHECK_EQ(l[i].nrep, 2);
	}
	{
		struct treq *r = treq_new(s, 0);

		zc_put_u64(&r->c, the_ino);
		zc_put_u64(&r->c, nchunks * ZC_CHUNK_SIZE);
		zc_put_u64(&r->c, 1700000000);
		zc_put_u32(&r->c, 0);
		CHECK_EQ(treq_send(r, ZC_CLTOMA_SETSIZE), ZC_OK);
	}
	CHECK(until(healthy, 2000));
	CHECK_EQ(rec(3), 0);

	/* A damaged replica: counted at the next round, copied, healthy. */
	set_repl(REPL_GATE, 0);
	CHECK_EQ(chunk_bad(l[0].rep[0].cs_id, l[0].id), ZC_OK);
	mds_recovery_round();
	CHECK_EQ(rec(0), 1);
	CHECK_EQ(rec(1), 0);
	CHECK_EQ(rec(2), 64 * MIB);
	pthread_mutex_lock(&mds_lock);
	CHECK(chunk_busy(l[0].id));
	pthread_mutex_unlock(&mds_lock);
	set_repl(REPL_OK, 0);
	want_done = 1;
	CHECK(until(copies_reached, 5000));
	CHECK(until(healthy, 2000));
	CHECK_EQ(rec(2), 0);

	/*
	 * A copy in progress does not hold up a version bump to its target:
	 * the copy of chunk 2 waits until the server sees chunk 1's bump,
	 * which a failed write to chunk 1 causes meanwhile.
	 */
	l[1] = view(the_ino, 1).l;
	l[2] = view(the_ino, 2).l;
	set_repl(REPL_GATE, l[1].id);
	CHECK_EQ(chunk_bad(l[2].rep[0].cs_id, l[2].id), ZC_OK);
	mds_recovery_round();
	for (int i = 0; i < 200 && replicates < 2; i++)
		usleep(10 * 1000);
	CHECK_EQ(replicates, 2);
	CHECK_EQ(chunk_failed(the_ino, 1, &l[1], l[1].rep[0].cs_id), ZC_OK);
	v = view(the_ino, 1);
	CHECK_EQ(v.l.nrep, 1);		/* the survivor took its new version */
	CHECK_EQ(v.l.version, l[1].version + 1);
	want_done = 2;
	CHECK(until(copies_reached, 5000));
	CHECK(repl_saw_setversion);
	set_repl(REPL_OK, 0);
	want_done = 3;
	CHECK(until(copies_reached, 5000));
	CHECK(until(healthy, 3000));
	CHECK_EQ(rec(4), 0);

	/* A copy that times out fails alone: the replicas stay, the chunk is
	 * still counted, and a later copy makes it. */
	mds_copy_timeout_ms = 300;
	set_repl(REPL_HANG, 0);
	l[3] = view(the_ino, 3).l;
	CHECK_EQ(chunk_bad(l[3].rep[0].cs_id, l[3].id), ZC_OK);
	CHECK(until(failed_one, 3000));
	v = view(the_ino, 3);
	CHECK_EQ(v.l.nrep, 1);
	CHECK(has(&v.l, l[3].rep[1].cs_id));
	mds_recovery_round();
	CHECK_EQ(rec(0), 1);
	mds_copy_timeout_ms = 0;
	set_repl(REPL_OK, 0);
	want_done = 4;
	CHECK(until(copies_reached, 6000));
	CHECK(until(healthy, 3000));

	/* A server down: its chunks are counted at once and copied to the
	 * third; past the grace period it leaves the sets. */
	down = index_of(view(the_ino, 0).l.rep[0].cs_id);
	set_down(down);
	mds_recovery_round();
	CHECK_GE(rec(0), 1);
	CHECK(until(healthy, 6000));
	for (int i = 0; i < nchunks; i++) {
		v = view(the_ino, i);
		CHECK(!has(&v.l, cs_id[down]));
	}

	/* A second server down: nowhere to copy, the chunks wait (counted);
	 * the first one back takes the copies. */
	{
		int other = -1;

		for (int i = 0; i < NCS; i++)
			if (i != down && (other < 0 || i < other))
				other = i;
		set_down(other);
		for (int i = 0; i < 5; i++)
			mds_recovery_round();
		CHECK_EQ(rec(0), (uint64_t)nchunks);
		CHECK_EQ(rec(1), 0);
		CHECK_EQ(rec(2), nchunks * 64 * MIB);
		want_done = rec(3);
		usleep(100 * 1000);
		mds_recovery_round();
		CHECK_EQ(rec(3), want_done);	/* no target: no copy */
		CHECK_EQ(heartbeat(down), ZC_OK);	/* back */
		alive[down] = true;
		CHECK(until(healthy, 6000));
		CHECK_EQ(heartbeat(other), ZC_OK);
		alive[other] = true;
	}

	/* A goal change queues the file's chunks: up to three, back to two. */
	want_done = rec(3) + nchunks;	/* before: the copies are quick */
	CHECK_EQ(setgoal(the_ino, 3), ZC_OK);
	mds_recovery_round();
	CHECK_EQ(rec(0), (uint64_t)nchunks);
	CHECK(until(copies_reached, 6000));
	CHECK_EQ(setgoal(the_ino, 2), ZC_OK);
	CHECK(until(healthy, 3000));

	/* A chunk no event announced (one replica for a goal of two): the
	 * walk finds it. */
	pthread_mutex_lock(&mds_lock);
	mds_begin();
	{
		int64_t id = mds_meta_next("next_chunk");

		mds_run("INSERT INTO chunk(ino, idx, id, version) VALUES(?, ?, ?, 1)", "iii",
			(int64_t)the_ino, (int64_t)nchunks, id);
		mds_run("INSERT INTO replica(chunk, cs) VALUES(?, ?)", "ii", id,
			(int64_t)cs_id[0]);
	}
	mds_end(0);
	nchunks++;
	mds_recovery_walk_now();
	pthread_mutex_unlock(&mds_lock);
	mds_recovery_round();
	CHECK_EQ(rec(0), 1);
	CHECK_EQ(rec(2), 0);	/* past the file's end: no bytes */
	CHECK(until(healthy, 5000));

	/* A chunk with no replica left waits, counted as unreadable; its
	 * file removed, it leaves the figures at the end of the next walk. */
	{
		struct zc_loc g;
		int st;
		uint64_t ino = t_mknod(s, 0, ZC_ROOT_INO, "g", S_IFREG | 0644, &st);

		CHECK_EQ(st, ZC_OK);
		/* Written through a handle (4 KiB), closed before it goes. */
		CHECK_EQ(t_open(s, ino, 2, ZC_OPEN_WRITE), ZC_OK);
		CHECK_EQ(alloc(ino, 0, &g), ZC_OK);
		CHECK_EQ(t_release(s, ino, 2, 4096, ZC_REL_SIZE), ZC_OK);
		pthread_mutex_lock(&mds_lock);
		mds_run("DELETE FROM replica WHERE chunk=?", "i", (int64_t)g.id);
		mds_recovery_walk_now();
		pthread_mutex_unlock(&mds_lock);
		CHECK(until(one_bad, 3000));
		CHECK_EQ(rec(0), 1);
		CHECK_EQ(t_name_op(ZC_CLTOMA_UNLINK, s, 0, "g"), ZC_OK);
		pthread_mutex_lock(&mds_lock);
		mds_recovery_walk_now();
		pthread_mutex_unlock(&mds_lock);
		CHECK(until(healthy, 3000));
		CHECK_EQ(rec(1), 0);
	}

	/* A chunk placed for a write that never came (an empty file opened
	 * for writing, closed) whose replicas are all gone is not data lost:
	 * past the end of a file nobody has open, it is dropped, and the
	 * figures stay healthy. */
	{
		struct zc_loc g;
		int64_t left;
		int st;
		uint64_t ino = t_mknod(s, 0, ZC_ROOT_INO, "empty", S_IFREG | 0644, &st);

		CHECK_EQ(st, ZC_OK);
		CHECK_EQ(t_open(s, ino, 3, ZC_OPEN_WRITE), ZC_OK);
		CHECK_EQ(alloc(ino, 0, &g), ZC_OK);
		CHECK_EQ(t_release(s, ino, 3, 0, 0), ZC_OK);
		pthread_mutex_lock(&mds_lock);
		mds_run("DELETE FROM replica WHERE chunk=?", "i", (int64_t)g.id);
		mds_recovery_walk_now();
		pthread_mutex_unlock(&mds_lock);
		CHECK(until(healthy, 3000));
		CHECK_EQ(rec(1), 0);
		pthread_mutex_lock(&mds_lock);
		left = mds_int(-1, "SELECT count(*) FROM chunk WHERE id=?", "i", (int64_t)g.id);
		pthread_mutex_unlock(&mds_lock);
		if (left != 0)
			fprintf(stderr, "the never-written chunk: expected no row, got %lld\n",
				(long long)left);
		CHECK_EQ(left, 0);
		CHECK_EQ(t_name_op(ZC_CLTOMA_UNLINK, s, 0, "empty"), ZC_OK);
	}

	/* The last close of a file written to 10 bytes: a chunk placed past
	 * its end (for a write that never came) goes with it; chunk 0 stays. */
	{
		struct zc_loc g0, g1;
		int st;
		uint64_t ino = t_mknod(s, 0, ZC_ROOT_INO, "short", S_IFREG | 0644, &st);

		CHECK_EQ(st, ZC_OK);
		CHECK_EQ(t_open(s, ino, 4, ZC_OPEN_WRITE), ZC_OK);
		CHECK_EQ(alloc(ino, 0, &g0), ZC_OK);
		CHECK_EQ(alloc(ino, 1, &g1), ZC_OK);
		CHECK_EQ(t_release(s, ino, 4, 10, ZC_REL_SIZE), ZC_OK);
		pthread_mutex_lock(&mds_lock);
		CHECK_EQ(mds_int(-1, "SELECT count(*) FROM chunk WHERE id=?", "i", (int64_t)g0.id), 1);
		CHECK_EQ(mds_int(-1, "SELECT count(*) FROM chunk WHERE id=?", "i", (int64_t)g1.id), 0);
		CHECK_GT(mds_int(-1, "SELECT count(*) FROM gc WHERE chunk=?", "i", (int64_t)g1.id), 0);
		pthread_mutex_unlock(&mds_lock);
		CHECK_EQ(t_name_op(ZC_CLTOMA_UNLINK, s, 0, "short"), ZC_OK);
	}

	test_report();
	/* A create for writing places chunk 0 with it: a layout with a
	 * capability to write, and CHUNK_ALLOC then finds the same chunk. */
	{
		struct treq *r = treq_new(s, 7);
		struct zc_attr a, pa;
		struct zc_loc cl, again;
		struct zc_cur c;

		zc_put_u64(&r->c, 77);		/* handle */
		zc_put_u64(&r->c, ZC_ROOT_INO);
		zc_put_u32(&r->c, S_IFREG | 0644);
		zc_put_u32(&r->c, 0);
		zc_put_u32(&r->c, 0);
		zc_put_u32(&r->c, 0);
		zc_put_str(&r->c, "small", 5);
		zc_put_u8(&r->c, ZC_CREATE_CHUNK);
		CHECK_EQ(treq_send(r, ZC_CLTOMA_CREATE), ZC_OK);
		c = t_answer();
		zc_get_attr(&c, &a);
		CHECK_EQ(zc_get_u64(&c), 0);
		zc_get_loc(&c, &cl);
		zc_get_attr(&c, &pa);	/* the folder's, as it is now */
		CHECK(!c.err);
		CHECK(!zc_cur_left(&c));
		CHECK_EQ(pa.ino, ZC_ROOT_INO);
		CHECK(S_ISDIR(pa.mode));
		CHECK_NE(cl.id, 0);
		CHECK_EQ(cl.nrep, 2);
		CHECK_EQ(zc_cap_check(&cl.cap, cl.id, cl.version, ZC_CAP_WRITE, s), 0);
		CHECK_EQ(alloc(a.ino, 0, &again), ZC_OK);
		CHECK_EQ(again.id, cl.id);
	}

	t_store_remove();
	zc_srv_stop();
	close(lfd);
	return check_done();
}
