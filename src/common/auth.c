// SPDX-License-Identifier: MIT
/* Keys, the connection handshake, tickets and capabilities (auth.h). */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/auth.h"
#include "common/pack.h"
#include "common/util.h"
#include "rpc/rpc.h"

struct zc_auth zc_auth;
static pthread_mutex_t ticket_lock = PTHREAD_MUTEX_INITIALIZER;

void zc_auth_thread_end(void)
{
	OPENSSL_thread_stop();
}

void zc_auth_set_ticket(uint64_t session, uint64_t expiry, const uint8_t wrapped[ZC_KEY_LEN])
{
	pthread_mutex_lock(&ticket_lock);
	zc_ticket_wrap(zc_auth.secret, session, expiry, wrapped, zc_auth.ticket_key);
	zc_auth.ticket_session = session;
	zc_auth.ticket_expiry = expiry;
	pthread_mutex_unlock(&ticket_lock);
}

/* ---- MACs ---- */

void zc_hmac(const uint8_t key[ZC_KEY_LEN], uint8_t out[ZC_MAC_LEN], int n, ...)
{
	uint8_t buf[1024];
	size_t len = 0;
	unsigned olen = ZC_MAC_LEN;
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		const void *p = va_arg(ap, const void *);
		size_t l = va_arg(ap, size_t);

		/* Callers pass small, fixed-size parts: a longer message is a bug. */
		if (len + l > sizeof(buf))
			abort();
		memcpy(buf + len, p, l);
		len += l;
	}
	va_end(ap);
	HMAC(EVP_sha256(), key, ZC_KEY_LEN, buf, len, out, &olen);
}

bool zc_mac_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

/* ---- key files ---- */

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int zc_key_parse(const char *hex, uint8_t key[ZC_KEY_LEN])
{
	for (int i = 0; i < ZC_KEY_LEN; i++) {
		int hi = hex_digit(hex[2 * i]), lo = hi < 0 ? -1 : hex_digit(hex[2 * i + 1]);

		if (lo < 0)
			return -EINVAL;
		key[i] = hi << 4 | lo;
	}
	return hex[2 * ZC_KEY_LEN] && hex[2 * ZC_KEY_LEN] != '\n' ? -EINVAL : 0;
}

void zc_key_hex(const uint8_t key[ZC_KEY_LEN], char out[2 * ZC_KEY_LEN + 1])
{
	for (int i = 0; i < ZC_KEY_LEN; i++)
		sprintf(out + 2 * i, "%02x", key[i]);
}

bool zc_cred_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n && n <= ZC_CRED_NAME &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* A secret's file: regular, and no one but its owner may read it.
 * Returns 0, -EINVAL or -EPERM. */
static int private_file(int fd)
{
	struct stat st;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		return -EINVAL;
	return st.st_mode & 077 ? -EPERM : 0;
}

/* Reads a small secret file, refusing one that group or others may read. */
static int read_secret_file(const char *path, char *buf, size_t cap)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	int err;

	if (fd < 0)
		return -errno;
	if ((err = private_file(fd))) {
		close(fd);
		return err;
	}
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

int zc_key_load(const char *path, uint8_t key[ZC_KEY_LEN])
{
	char buf[256];
	int err = read_secret_file(path, buf, sizeof(buf));

	return err ? err : zc_key_parse(buf, key);
}

int zc_cred_load(const char *path, char name[ZC_CRED_NAME + 1], uint8_t secret[ZC_KEY_LEN])
{
	char buf[256], hex[2 * ZC_KEY_LEN + 2];
	int err = read_secret_file(path, buf, sizeof(buf));

	if (err)
		return err;
	if (sscanf(buf, "%63s %65s", name, hex) != 2 || !zc_cred_name_ok(name))
		return -EINVAL;
	return zc_key_parse(hex, secret);
}

/* Writes text to a new file of mode 0600; -EEXIST if it is there. */
static int write_secret_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int err;

	if (fd < 0)
		return -errno;
	err = zc_write_full(fd, text, strlen(text));
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	if (err)
		unlink(path);
	return err;
}

static int random_key(uint8_t key[ZC_KEY_LEN], char hex[2 * ZC_KEY_LEN + 1])
{
	if (getrandom(key, ZC_KEY_LEN, 0) != ZC_KEY_LEN)
		return -EIO;
	zc_key_hex(key, hex);
	return 0;
}

int zc_key_create(const char *path)
{
	uint8_t key[ZC_KEY_LEN];
	char hex[2 * ZC_KEY_LEN + 1], line[2 * ZC_KEY_LEN + 2];
	int err = random_key(key, hex);

	if (err)
		return err;
	snprintf(line, sizeof(line), "%s\n", hex);
	return write_secret_file(path, line);
}

int zc_cred_create(const char *path, const char *name)
{
	uint8_t key[ZC_KEY_LEN];
	char hex[2 * ZC_KEY_LEN + 1], line[ZC_CRED_NAME + 2 * ZC_KEY_LEN + 3];
	int err;

	if (!zc_cred_name_ok(name))
		return -EINVAL;
	if ((err = random_key(key, hex)))
		return err;
	snprintf(line, sizeof(line), "%s %s\n", name, hex);
	return write_secret_file(path, line);
}

/* ---- tickets and capabilities ---- */

void zc_ticket_key(const uint8_t cluster[ZC_KEY_LEN], uint64_t session, uint64_t expiry,
		   uint8_t key[ZC_KEY_LEN])
{
	uint8_t b[16];
	struct zc_cur c = zc_cur_init(b, sizeof(b));

	zc_put_u64(&c, session);
	zc_put_u64(&c, expiry);
	zc_hmac(cluster, key, 2, "zcfs-ticket", (size_t)11, b, sizeof(b));
}

void zc_ticket_wrap(const uint8_t secret[ZC_KEY_LEN], uint64_t session, uint64_t expiry,
		    const uint8_t in[ZC_KEY_LEN], uint8_t out[ZC_KEY_LEN])
{
	uint8_t b[16], pad[ZC_MAC_LEN];
	struct zc_cur c = zc_cur_init(b, sizeof(b));

	/* A pad of its own for every (session, expiry): wrapping twice is
	 * unwrapping. */
	zc_put_u64(&c, session);
	zc_put_u64(&c, expiry);
	zc_hmac(secret, pad, 2, "zcfs-wrap", (size_t)9, b, sizeof(b));
	for (int i = 0; i < ZC_KEY_LEN; i++)
		out[i] = in[i] ^ pad[i];
}

static void cap_mac(uint8_t mac[ZC_MAC_LEN], uint64_t chunk, uint32_t version, uint8_t rights,
		    uint64_t expiry, uint64_t session)
{
	uint8_t b[29];
	struct zc_cur c = zc_cur_init(b, sizeof(b));

	zc_put_u64(&c, chunk);
	zc_put_u32(&c, version);
	zc_put_u8(&c, rights);
	zc_put_u64(&c, expiry);
	zc_put_u64(&c, session);
	zc_hmac(zc_auth.cluster, mac, 2, "zcfs-cap", (size_t)8, b, sizeof(b));
}

void zc_cap_mint(struct zc_cap *cap, uint64_t chunk, uint32_t version, uint8_t rights,
		 uint64_t expiry, uint64_t session)
{
	uint8_t mac[ZC_MAC_LEN];

	cap->rights = rights;
	cap->expiry = expiry;
	cap->session = session;
	cap_mac(mac, chunk, version, rights, expiry, session);
	memcpy(cap->mac, mac, ZC_CAP_MAC);
}

int zc_cap_check(const struct zc_cap *cap, uint64_t chunk, uint32_t version, uint8_t want,
		 uint64_t session)
{
	uint8_t mac[ZC_MAC_LEN];

	cap_mac(mac, chunk, version, cap->rights, cap->expiry, cap->session);
	if (!zc_mac_equal(mac, cap->mac, ZC_CAP_MAC))
		return -EACCES;
	if ((cap->rights & want) != want || (session && cap->session != session))
		return -EACCES;
	if ((uint64_t)time(NULL) > cap->expiry)
		return -EKEYEXPIRED;
	return 0;
}

/* ---- the handshake ---- */

/* What both MACs cover: every field of HELLO and of its answer. */
struct transcript {
	uint8_t b[2 + 1 + ZC_NONCE_LEN + 2 + ZC_CRED_NAME + 16 + 1 + ZC_NONCE_LEN];
	size_t len;
};

static void transcript_hello(struct transcript *t, const uint8_t *hello, size_t len)
{
	memcpy(t->b, hello, len);
	t->len = len;
}

static void transcript_answer(struct transcript *t, uint8_t role, const uint8_t *nonce)
{
	t->b[t->len++] = role;
	memcpy(t->b + t->len, nonce, ZC_NONCE_LEN);
	t->len += ZC_NONCE_LEN;
}

static void proof(const uint8_t key[ZC_KEY_LEN], const struct transcript *t, bool server,
		  uint8_t mac[ZC_MAC_LEN])
{
	const char *label = server ? "zcfs-auth-1 server" : "zcfs-auth-1 client";

	zc_hmac(key, mac, 2, label, strlen(label), t->b, t->len);
}

static void set_timeouts(int fd, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int send_msg(int fd, uint16_t type, uint16_t flags, int status, const void *p,
		    uint32_t len)
{
	uint8_t raw[ZC_HDR_LEN];
	struct zc_hdr h = { .type = type, .flags = flags, .status = status, .len = len };
	int err;

	zc_hdr_encode(raw, &h);
	err = zc_write_full(fd, raw, sizeof(raw));
	return err || !len ? err : zc_write_full(fd, p, len);
}

/* Reads one frame of the handshake: of type, a response or not, at most
 * cap bytes.  Returns its length or -errno, with *why for the log. */
static int recv_msg(int fd, uint16_t type, bool resp, uint8_t *buf, uint32_t cap, int *status,
		    const char **why)
{
	uint8_t raw[ZC_HDR_LEN];
	struct zc_hdr h;
	int err = zc_read_full(fd, raw, sizeof(raw));

	if (err) {
		*why = err == -EAGAIN ? "timed out" : "connection closed";
		return err == -EAGAIN ? -ETIMEDOUT : err;
	}
	if (zc_hdr_decode(raw, &h) || h.type != type || !(h.flags & ZC_F_RESP) != !resp ||
	    h.len > cap) {
		*why = h.type == type ? "malformed handshake frame"
				      : "a frame other than the handshake's first";
		return -EPROTO;
	}
	if ((err = zc_read_full(fd, buf, h.len))) {
		*why = err == -EAGAIN ? "timed out" : "connection closed";
		return err == -EAGAIN ? -ETIMEDOUT : err;
	}
	*status = h.status;
	return h.len;
}

int zc_auth_connect(int fd, unsigned timeout_ms, const char **why)
{
	uint8_t hello[sizeof(((struct transcript *)0)->b)], nonce[ZC_NONCE_LEN];
	uint8_t ans[1 + ZC_NONCE_LEN + ZC_MAC_LEN], mac[ZC_MAC_LEN], key[ZC_KEY_LEN];
	struct zc_cur c = zc_cur_init(hello, sizeof(hello));
	struct transcript t;
	uint8_t srole, ticket_key[ZC_KEY_LEN];
	uint64_t tsess, texp;
	int n, status, err;
	bool client = zc_auth.role == ZC_ROLE_CLIENT, server_ok;

	if (getrandom(nonce, sizeof(nonce), 0) != sizeof(nonce)) {
		*why = "no random bytes";
		return -EIO;
	}
	set_timeouts(fd, timeout_ms);
	pthread_mutex_lock(&ticket_lock);
	tsess = client ? zc_auth.ticket_session : 0;
	texp = client ? zc_auth.ticket_expiry : 0;
	memcpy(ticket_key, zc_auth.ticket_key, ZC_KEY_LEN);
	pthread_mutex_unlock(&ticket_lock);
	zc_put_u16(&c, ZC_AUTH_VERSION);
	zc_put_u8(&c, zc_auth.role);
	zc_put_bytes(&c, nonce, sizeof(nonce));
	zc_put_str(&c, client ? zc_auth.name : "", client ? strlen(zc_auth.name) : 0);
	zc_put_u64(&c, tsess);
	zc_put_u64(&c, texp);
	transcript_hello(&t, hello, c.pos);
	if ((err = send_msg(fd, ZC_AUTH_HELLO, 0, ZC_OK, hello, c.pos))) {
		*why = "connection closed";
		return err;
	}
	n = recv_msg(fd, ZC_AUTH_HELLO, true, ans, sizeof(ans), &status, why);
	if (n < 0)
		return n;
	if (status != ZC_OK || n != sizeof(ans)) {
		*why = "the peer refused our credentials";
		return -EACCES;
	}
	srole = ans[0];
	if (client && srole == ZC_ROLE_MDS)
		memcpy(key, zc_auth.secret, ZC_KEY_LEN);
	else if (client && srole == ZC_ROLE_CS && tsess)
		memcpy(key, ticket_key, ZC_KEY_LEN);
	else if (!client && zc_auth.have_cluster && (srole == ZC_ROLE_CS || srole == ZC_ROLE_MDS))
		memcpy(key, zc_auth.cluster, ZC_KEY_LEN);
	else {
		*why = "the peer's role is not one we talk to";
		return -EACCES;
	}
	transcript_answer(&t, srole, ans + 1);
	proof(key, &t, true, mac);
	server_ok = zc_mac_equal(mac, ans + 1 + ZC_NONCE_LEN, ZC_MAC_LEN);
	/* Our proof goes even when the peer's failed, so that its log too
	 * says which key is wrong (it reveals nothing of the key). */
	proof(key, &t, false, mac);
	if ((err = send_msg(fd, ZC_AUTH_PROOF, 0, ZC_OK, mac, sizeof(mac)))) {
		*why = "connection closed";
		return err;
	}
	if (!server_ok) {
		*why = "the peer's proof does not match our key (different keys or secrets)";
		return -EACCES;
	}
	n = recv_msg(fd, ZC_AUTH_PROOF, true, ans, 0, &status, why);
	if (n < 0)
		return n;
	if (status != ZC_OK) {
		*why = "the peer refused our proof";
		return -EACCES;
	}
	return 0;
}

/* The key a peer of role prole must hold to talk to us; NULL if we do not
 * talk to such a peer. */
static const char *server_key(uint8_t prole, const char *name, uint64_t tsess, uint64_t texp,
			      uint8_t key[ZC_KEY_LEN])
{
	enum zc_role me = zc_auth.role;

	if (prole == ZC_ROLE_CLIENT && me == ZC_ROLE_MDS) {
		if (!zc_auth.client_secret || zc_auth.client_secret(name, key))
			return "unknown credential";
		return NULL;
	}
	if (prole == ZC_ROLE_CLIENT && me == ZC_ROLE_CS) {
		if (!tsess)
			return "a client without a ticket";
		if ((uint64_t)time(NULL) > texp)
			return "an expired ticket";
		zc_ticket_key(zc_auth.cluster, tsess, texp, key);
		return NULL;
	}
	if ((prole == ZC_ROLE_CS && (me == ZC_ROLE_MDS || me == ZC_ROLE_CS)) ||
	    (prole == ZC_ROLE_MDS && me == ZC_ROLE_CS)) {
		memcpy(key, zc_auth.cluster, ZC_KEY_LEN);
		return NULL;
	}
	return "a role that may not connect here";
}

int zc_auth_accept(int fd, unsigned timeout_ms, uint8_t *role, char peer_id[ZC_CRED_NAME + 1],
		   uint64_t *peer_session, const char **why)
{
	uint8_t hello[sizeof(((struct transcript *)0)->b)], nonce[ZC_NONCE_LEN];
	uint8_t ans[1 + ZC_NONCE_LEN + ZC_MAC_LEN], mac[ZC_MAC_LEN], key[ZC_KEY_LEN];
	char name[ZC_CRED_NAME + 1];
	struct transcript t;
	struct zc_cur c;
	uint64_t tsess, texp;
	uint8_t prole;
	int n, status;

	set_timeouts(fd, timeout_ms);
	n = recv_msg(fd, ZC_AUTH_HELLO, false, hello, sizeof(hello) - 1 - ZC_NONCE_LEN, &status,
		     why);
	if (n < 0)
		return n;
	c = zc_cur_init(hello, n);
	if (zc_get_u16(&c) != ZC_AUTH_VERSION) {
		*why = "another handshake version";
		send_msg(fd, ZC_AUTH_HELLO, ZC_F_RESP, ZC_ST_NOTSUP, NULL, 0);
		return -EPROTO;
	}
	prole = zc_get_u8(&c);
	zc_cur_take(&c, ZC_NONCE_LEN);
	zc_get_str(&c, name, sizeof(name), false);
	tsess = zc_get_u64(&c);
	texp = zc_get_u64(&c);
	if (c.err || zc_cur_left(&c) || (name[0] && !zc_cred_name_ok(name))) {
		*why = "malformed handshake frame";
		return -EPROTO;
	}
	if ((*why = server_key(prole, name, tsess, texp, key))) {
		send_msg(fd, ZC_AUTH_HELLO, ZC_F_RESP, ZC_ST_PERM, NULL, 0);
		return -EACCES;
	}
	if (getrandom(nonce, sizeof(nonce), 0) != sizeof(nonce)) {
		*why = "no random bytes";
		return -EIO;
	}
	transcript_hello(&t, hello, n);
	transcript_answer(&t, zc_auth.role, nonce);
	ans[0] = zc_auth.role;
	memcpy(ans + 1, nonce, ZC_NONCE_LEN);
	proof(key, &t, true, ans + 1 + ZC_NONCE_LEN);
	if (send_msg(fd, ZC_AUTH_HELLO, ZC_F_RESP, ZC_OK, ans, sizeof(ans))) {
		*why = "connection closed";
		return -EPIPE;
	}
	n = recv_msg(fd, ZC_AUTH_PROOF, false, mac, sizeof(mac), &status, why);
	if (n < 0)
		return n;
	proof(key, &t, false, ans);
	if (n != ZC_MAC_LEN || !zc_mac_equal(mac, ans, ZC_MAC_LEN)) {
		*why = prole == ZC_ROLE_CLIENT && zc_auth.role == ZC_ROLE_MDS
			? "wrong secret for its credential" : "wrong key";
		send_msg(fd, ZC_AUTH_PROOF, ZC_F_RESP, ZC_ST_PERM, NULL, 0);
		return -EACCES;
	}
	if (send_msg(fd, ZC_AUTH_PROOF, ZC_F_RESP, ZC_OK, NULL, 0)) {
		*why = "connection closed";
		return -EPIPE;
	}
	*role = prole;
	snprintf(peer_id, ZC_CRED_NAME + 1, "%s", name);
	*peer_session = prole == ZC_ROLE_CLIENT && zc_auth.role == ZC_ROLE_CS ? tsess : 0;
	return 0;
}

bool zc_role_may_send(uint8_t prole, uint16_t type)
{
	enum zc_role me = zc_auth.role;

	if (me == ZC_ROLE_NONE)		/* tests of the bare RPC layer */
		return true;
	if (me == ZC_ROLE_MDS)
		return (prole == ZC_ROLE_CLIENT && type >= 1 && type < ZC_CSTOMA_REGISTER) ||
		       (prole == ZC_ROLE_CS && type >= ZC_CSTOMA_REGISTER && type < ZC_CLTOCS_READ);
	if (me != ZC_ROLE_CS)
		return false;
	switch (prole) {
	case ZC_ROLE_CLIENT:
		return type >= ZC_CLTOCS_READ && type <= ZC_CLTOCS_FSYNC;
	case ZC_ROLE_CS:	/* chain forwards and copies */
		return type == ZC_CLTOCS_READ || type == ZC_CLTOCS_WRITE || type == ZC_MATOCS_INFO;
	case ZC_ROLE_MDS:
		return type >= ZC_MATOCS_SETVERSION && type < ZC_AUTH_HELLO;
	}
	return false;
}

/* ---- set-up ---- */

const char *zc_key_strerror(int err)
{
	switch (err) {
	case -EPERM:
		return "group or others may read it (chmod 600 it)";
	case -EINVAL:
		return "not a zcfs key file";
	}
	return strerror(-err);
}

/* OpenSSL frees its state from an atexit handler by default, while our
 * other threads (receivers, renewals, handshakes under way) may still be
 * in it: a daemon's exit could then hang or crash.  The process's end
 * frees it all anyway. */
static void crypto_init(void)
{
	OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
}

int zc_auth_server(enum zc_role role, const char *key_file)
{
	int err;

	crypto_init();
	err = zc_key_load(key_file, zc_auth.cluster);

	if (err) {
		fprintf(stderr, "zcfs: cluster key %s: %s\n", key_file, zc_key_strerror(err));
		return err;
	}
	zc_auth.have_cluster = true;
	zc_auth.role = role;
	return 0;
}

int zc_auth_client(const char *cred_file)
{
	int err;

	crypto_init();
	err = zc_cred_load(cred_file, zc_auth.name, zc_auth.secret);

	if (err) {
		fprintf(stderr, "zcfs: credential %s: %s\n", cred_file, zc_key_strerror(err));
		return err;
	}
	zc_auth.role = ZC_ROLE_CLIENT;
	return 0;
}

int zc_creds_find(const char *path, const char *name, uint8_t secret[ZC_KEY_LEN])
{
	char line[256], n[ZC_CRED_NAME + 1], hex[2 * ZC_KEY_LEN + 2];
	int err = -ENOENT, bad;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	if ((bad = private_file(fileno(f)))) {
		fclose(f);
		return bad;
	}
	while (err && fgets(line, sizeof(line), f))
		if (line[0] != '#' && sscanf(line, "%63s %65s", n, hex) == 2 && !strcmp(n, name))
			err = zc_key_parse(hex, secret);
	fclose(f);
	return err;
}
