// SPDX-License-Identifier: MIT
/*
 * Authentication: key files (modes, garbage), capabilities (every field
 * bound, expiry), tickets, and the handshake between processes of each
 * pair of roles over a socketpair, with wrong keys, unknown names, fake
 * servers, expired tickets, a wrong first frame and a peer that stalls.
 * Every daemon runs the same code on its connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "common/auth.h"
#include "common/log.h"
#include "common/util.h"
#include "rpc/rpc.h"

static char dir[] = "/tmp/zcfs-auth-test-XXXXXX";
static char creds_path[128];

static void path_of(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	CHECK_GE(fd, 0);
	CHECK(!zc_write_full(fd, text, strlen(text)));
	fchmod(fd, mode);
	close(fd);
}

static void test_key_files(void)
{
	char p[128], name[ZC_CRED_NAME + 1];
	uint8_t k1[ZC_KEY_LEN], k2[ZC_KEY_LEN];

	path_of(p, sizeof(p), "k");
	CHECK_EQ(zc_key_create(p), 0);
	CHECK_EQ(zc_key_create(p), -EEXIST);	/* never overwritten */
	CHECK_EQ(zc_key_load(p, k1), 0);
	chmod(p, 0640);
	CHECK_EQ(zc_key_load(p, k2), -EPERM);	/* group may read it: refused */
	chmod(p, 0604);
	CHECK_EQ(zc_key_load(p, k2), -EPERM);
	path_of(p, sizeof(p), "k2");
	CHECK_EQ(zc_key_create(p), 0);
	CHECK_EQ(zc_key_load(p, k2), 0);
	CHECK(memcmp(k1, k2, ZC_KEY_LEN));	/* random each time */
	path_of(p, sizeof(p), "bad");
	write_file(p, "not a key\n", 0600);
	CHECK_EQ(zc_key_load(p, k1), -EINVAL);
	write_file(p, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", 0600);
	CHECK_EQ(zc_key_load(p, k1), -EINVAL);	/* 63 digits */
	path_of(p, sizeof(p), "none");
	CHECK_EQ(zc_key_load(p, k1), -ENOENT);

	path_of(p, sizeof(p), "c");
	CHECK_EQ(zc_cred_create(p, "bad name"), -EINVAL);
	CHECK_EQ(zc_cred_create(p, "alice"), 0);
	CHECK_EQ(zc_cred_load(p, name, k1), 0);
	CHECK(!strcmp(name, "alice"));
	CHECK(zc_cred_name_ok("node-7.rack_2"));
	CHECK(!zc_cred_name_ok(""));
	CHECK(!zc_cred_name_ok("a/b"));
	/* A credentials file holds the same lines. */
	CHECK_EQ(zc_creds_find(p, "alice", k2), 0);
	CHECK_MEM(k1, k2, ZC_KEY_LEN);
	CHECK_EQ(zc_creds_find(p, "bob", k2), -ENOENT);
	chmod(p, 0644);
	CHECK_EQ(zc_creds_find(p, "alice", k2), -EPERM);
}

static void test_caps(void)
{
	struct zc_cap cap, bad;
	uint64_t now = time(NULL);

	zc_cap_mint(&cap, 42, 7, ZC_CAP_READ | ZC_CAP_WRITE, now + 60, 9);
	CHECK_EQ(zc_cap_check(&cap, 42, 7, ZC_CAP_WRITE, 9), 0);
	CHECK_EQ(zc_cap_check(&cap, 42, 7, ZC_CAP_READ, 0), 0);	/* chain: any session */
	CHECK_EQ(zc_cap_check(&cap, 43, 7, ZC_CAP_READ, 9), -EACCES);
	CHECK_EQ(zc_cap_check(&cap, 42, 8, ZC_CAP_READ, 9), -EACCES);
	CHECK_EQ(zc_cap_check(&cap, 42, 7, ZC_CAP_READ, 10), -EACCES);
	bad = cap;
	bad.rights |= 0x80;
	CHECK_EQ(zc_cap_check(&bad, 42, 7, ZC_CAP_READ, 9), -EACCES);
	bad = cap;
	bad.expiry += 3600;	/* a longer life is a forgery */
	CHECK_EQ(zc_cap_check(&bad, 42, 7, ZC_CAP_READ, 9), -EACCES);
	bad = cap;
	bad.mac[ZC_CAP_MAC - 1] ^= 1;
	CHECK_EQ(zc_cap_check(&bad, 42, 7, ZC_CAP_READ, 9), -EACCES);
	memset(&bad, 0, sizeof(bad));	/* none at all */
	CHECK_EQ(zc_cap_check(&bad, 42, 7, ZC_CAP_READ, 0), -EACCES);
	zc_cap_mint(&cap, 42, 7, ZC_CAP_READ, now + 60, 9);
	CHECK_EQ(zc_cap_check(&cap, 42, 7, ZC_CAP_WRITE, 9), -EACCES);	/* read-only */
	zc_cap_mint(&cap, 42, 7, ZC_CAP_READ, now - 1, 9);
	CHECK_EQ(zc_cap_check(&cap, 42, 7, ZC_CAP_READ, 9), -EKEYEXPIRED);
}

static void test_ticket(void)
{
	uint8_t secret[ZC_KEY_LEN] = { 1 }, key[ZC_KEY_LEN], wrapped[ZC_KEY_LEN];

	zc_ticket_key(zc_auth.cluster, 5, 1000, key);
	zc_ticket_wrap(secret, 5, 1000, key, wrapped);
	CHECK(memcmp(key, wrapped, ZC_KEY_LEN));
	memcpy(zc_auth.secret, secret, ZC_KEY_LEN);
	zc_auth_set_ticket(5, 1000, wrapped);
	CHECK_MEM(zc_auth.ticket_key, key, ZC_KEY_LEN);
	CHECK_EQ(zc_auth.ticket_session, 5);
}

/* ---- handshakes between two processes ---- */

struct side {
	enum zc_role role;
	const uint8_t *cluster;		/* NULL: none */
	const char *name;		/* client credential */
	const uint8_t *secret;
	uint64_t tsess, texp;		/* client ticket */
};

struct result {
	int err;
	uint8_t role;
	char peer_id[ZC_CRED_NAME + 1];
	uint64_t session;
};

static void take_side(const struct side *s)
{
	memset(&zc_auth, 0, sizeof(zc_auth));
	zc_auth.role = s->role;
	if (s->cluster) {
		memcpy(zc_auth.cluster, s->cluster, ZC_KEY_LEN);
		zc_auth.have_cluster = true;
	}
	if (s->name) {
		snprintf(zc_auth.name, sizeof(zc_auth.name), "%s", s->name);
		memcpy(zc_auth.secret, s->secret, ZC_KEY_LEN);
	}
	if (s->tsess) {
		uint8_t key[ZC_KEY_LEN], wrapped[ZC_KEY_LEN];

		zc_ticket_key(s->cluster ? s->cluster : zc_auth.cluster, s->tsess, s->texp, key);
		zc_ticket_wrap(zc_auth.secret, s->tsess, s->texp, key, wrapped);
		zc_auth_set_ticket(s->tsess, s->texp, wrapped);
	}
}

static int secret_of(const char *name, uint8_t secret[ZC_KEY_LEN])
{
	return zc_creds_find(creds_path, name, secret);
}

/*
 * Runs the server side in a child and the client side here.  raw, when
 * set, is sent by the client instead of a handshake (NULL with stall:
 * nothing at all).  Returns the client's result; *srv gets the server's.
 */
static int shake(const struct side *cl, const struct side *sv, const void *raw, size_t rawlen,
		 bool stall, struct result *srv)
{
	int sp[2], rp[2], cerr = 0;
	const char *why = "";
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) || pipe(rp))
		return -EIO;
	pid = fork();
	if (pid == 0) {
		struct result r = { 0 };

		close(sp[0]);
		take_side(sv);
		zc_auth.client_secret = secret_of;
		r.err = zc_auth_accept(sp[1], 300, &r.role, r.peer_id, &r.session, &why);
		zc_write_full(rp[1], &r, sizeof(r));
		_exit(0);
	}
	close(sp[1]);
	close(rp[1]);
	if (raw) {
		zc_write_full(sp[0], raw, rawlen);
	} else if (!stall) {
		take_side(cl);
		cerr = zc_auth_connect(sp[0], 1000, &why);
	}
	memset(srv, 0, sizeof(*srv));
	srv->err = -999;
	zc_read_full(rp[0], srv, sizeof(*srv));
	waitpid(pid, NULL, 0);
	close(sp[0]);
	close(rp[0]);
	return cerr;
}

static void test_handshakes(void)
{
	uint8_t cluster[ZC_KEY_LEN], other[ZC_KEY_LEN], secret[ZC_KEY_LEN], wrong[ZC_KEY_LEN];
	char name[ZC_CRED_NAME + 1], p[128];
	uint64_t now = time(NULL);
	struct result r;
	int err;

	path_of(creds_path, sizeof(creds_path), "credentials");
	CHECK_EQ(zc_cred_create(creds_path, "admin"), 0);
	CHECK_EQ(zc_cred_load(creds_path, name, secret), 0);
	path_of(p, sizeof(p), "cluster.key");
	CHECK_EQ(zc_key_create(p), 0);
	CHECK_EQ(zc_key_load(p, cluster), 0);
	memcpy(other, cluster, ZC_KEY_LEN);
	other[0] ^= 1;
	memcpy(wrong, secret, ZC_KEY_LEN);
	wrong[5] ^= 0x10;

	struct side mds = { .role = ZC_ROLE_MDS, .cluster = cluster };
	struct side cs = { .role = ZC_ROLE_CS, .cluster = cluster };
	struct side client = { .role = ZC_ROLE_CLIENT, .name = "admin", .secret = secret };

	/* client -> mds: the credential's name reaches the mds */
	err = shake(&client, &mds, NULL, 0, false, &r);
	CHECK_EQ(err, 0);
	CHECK_EQ(r.err, 0);
	CHECK_EQ(r.role, ZC_ROLE_CLIENT);
	CHECK(!strcmp(r.peer_id, "admin"));
	/* a wrong secret, an unknown name */
	client.secret = wrong;
	err = shake(&client, &mds, NULL, 0, false, &r);
	CHECK_EQ(err, -EACCES);
	CHECK_EQ(r.err, -EACCES);
	client.secret = secret;
	client.name = "mallory";
	err = shake(&client, &mds, NULL, 0, false, &r);
	CHECK_EQ(err, -EACCES);
	CHECK_EQ(r.err, -EACCES);
	client.name = "admin";
	/* chunk server <-> mds, both ways, and a chunk server with another key */
	CHECK_EQ(shake(&cs, &mds, NULL, 0, false, &r), 0);
	CHECK_EQ(r.err, 0);
	CHECK_EQ(r.role, ZC_ROLE_CS);
	CHECK_EQ(shake(&mds, &cs, NULL, 0, false, &r), 0);
	CHECK_EQ(r.role, ZC_ROLE_MDS);
	CHECK_EQ(shake(&cs, &cs, NULL, 0, false, &r), 0);	/* chain forwards */
	cs.cluster = other;
	CHECK_EQ(shake(&cs, &mds, NULL, 0, false, &r), -EACCES);	/* a fake server */
	CHECK_EQ(r.err, -EACCES);
	CHECK_EQ(shake(&mds, &cs, NULL, 0, false, &r), -EACCES);
	cs.cluster = cluster;
	/* a client may not connect to a client, nor an mds to an mds */
	CHECK_EQ(shake(&mds, &mds, NULL, 0, false, &r), -EACCES);
	CHECK_EQ(r.err, -EACCES);
	/* client -> chunk server: with its ticket (from the mds, which holds
	 * the cluster key); the session reaches the server */
	client.cluster = cluster;
	client.tsess = 77;
	client.texp = now + 600;
	CHECK_EQ(shake(&client, &cs, NULL, 0, false, &r), 0);
	CHECK_EQ(r.err, 0);
	CHECK_EQ(r.session, 77);
	client.texp = now - 5;		/* expired */
	CHECK_EQ(shake(&client, &cs, NULL, 0, false, &r), -EACCES);
	CHECK_EQ(r.err, -EACCES);
	client.tsess = 0;		/* none yet */
	CHECK_EQ(shake(&client, &cs, NULL, 0, false, &r), -EACCES);
	{
		/* a ticket made with another cluster key (a forged ticket) */
		struct side forged = client;

		forged.tsess = 77;
		forged.texp = now + 600;
		forged.cluster = other;
		CHECK_EQ(shake(&forged, &cs, NULL, 0, false, &r), -EACCES);
		CHECK_EQ(r.err, -EACCES);
	}
	/* a request instead of the handshake: closed without an answer */
	{
		uint8_t raw[ZC_HDR_LEN + 8] = { 0 };
		struct zc_hdr h = { .type = ZC_MATOCS_DELETE, .len = 8 };

		zc_hdr_encode(raw, &h);
		shake(NULL, &cs, raw, sizeof(raw), false, &r);
		CHECK_EQ(r.err, -EPROTO);
		static const char http[] = "GET / HTTP/1.0\r\nHost: zcfs\r\n\r\n";

		shake(NULL, &mds, http, sizeof(http) - 1, false, &r);
		CHECK_EQ(r.err, -EPROTO);
	}
	/* a peer that says nothing: given up after the timeout */
	{
		uint64_t t0 = zc_now_ns();

		shake(NULL, &mds, NULL, 0, true, &r);
		CHECK_EQ(r.err, -ETIMEDOUT);
		CHECK_LT(zc_now_ns() - t0, 3000000000ULL);
	}
}

static void test_roles(void)
{
	zc_auth.role = ZC_ROLE_MDS;
	CHECK(zc_role_may_send(ZC_ROLE_CLIENT, ZC_CLTOMA_UNLINK));
	CHECK(!zc_role_may_send(ZC_ROLE_CLIENT, ZC_CSTOMA_REGISTER));
	CHECK(zc_role_may_send(ZC_ROLE_CS, ZC_CSTOMA_HEARTBEAT));
	CHECK(!zc_role_may_send(ZC_ROLE_CS, ZC_CLTOMA_SETATTR));
	CHECK(!zc_role_may_send(ZC_ROLE_CLIENT, ZC_AUTH_HELLO));
	zc_auth.role = ZC_ROLE_CS;
	CHECK(zc_role_may_send(ZC_ROLE_CLIENT, ZC_CLTOCS_READ));
	CHECK(zc_role_may_send(ZC_ROLE_CLIENT, ZC_CLTOCS_TRUNCATE));
	CHECK(!zc_role_may_send(ZC_ROLE_CLIENT, ZC_MATOCS_DELETE));
	CHECK(!zc_role_may_send(ZC_ROLE_CLIENT, ZC_MATOCS_REPLICATE));
	CHECK(zc_role_may_send(ZC_ROLE_CS, ZC_CLTOCS_WRITE));
	CHECK(!zc_role_may_send(ZC_ROLE_CS, ZC_MATOCS_DELETE));
	CHECK(zc_role_may_send(ZC_ROLE_MDS, ZC_MATOCS_DELETE));
	CHECK(!zc_role_may_send(ZC_ROLE_MDS, ZC_CLTOCS_WRITE));
	CHECK(!zc_role_may_send(ZC_ROLE_NONE, ZC_CLTOCS_READ));
}

int main(void)
{
	zc_log_init("test", ZC_LOG_ERR, NULL);
	if (!mkdtemp(dir))
		return 1;
	test_key_files();
	memset(zc_auth.cluster, 3, ZC_KEY_LEN);
	test_caps();
	test_ticket();
	test_handshakes();
	test_roles();
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		CHECK(!system(cmd));
	}
	return check_done();
}
