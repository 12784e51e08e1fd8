// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: every decoder in src/common and src/rpc that a peer's
 * bytes reach and that runs in process.  Any input must decode or be
 * refused, never read out of bounds, and what is accepted must hold:
 *
 * - frame headers (zc_hdr_decode): within the limits, and encoding what
 *   was decoded gives the same 24 bytes back;
 * - attributes, locations (with their capabilities), capabilities and
 *   strings (wire.c, pack.h): what decodes encodes back to the bytes it
 *   took; a string is as long as it says, a name is not empty and has no
 *   '/' or NUL;
 * - capability checks (zc_cap_check): a capability off the wire never
 *   passes unless it is exactly the one the cluster key mints;
 * - the handshake, both sides (zc_auth_accept as an mds and as a chunk
 *   server, zc_auth_connect as a client): the input plays the peer and can
 *   never pass without the key;
 * - the RPC client's receiver (rpc/client.c: rx_one, rx_splice): the input
 *   is what a server answers to one call, into memory or into a pipe; the
 *   call completes once, with a payload no larger than allowed.
 *
 * The first input byte picks the socket targets (they cost a thread or a
 * socket pair each); the pure decoders run on every input.  Run with
 * `make fuzz`.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/util.h"
#include "common/wire.h"
#include "rpc/rpc.h"

#define TRAP(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static const uint8_t secret[ZC_KEY_LEN] = { 1, 2, 3 };

static int client_secret(const char *name, uint8_t out[ZC_KEY_LEN])
{
	if (strcmp(name, "fuzz"))
		return -ENOENT;
	memcpy(out, secret, ZC_KEY_LEN);
	return 0;
}

/* The bytes c consumed from start re-encoded by put must equal them. */
static void same_bytes(const uint8_t *start, size_t len, const uint8_t *enc, size_t enc_len)
{
	TRAP(len == enc_len);
	TRAP(!memcmp(start, enc, len));
}

static void blocks(const uint8_t *data, size_t size)
{
	uint8_t enc[4096];
	struct zc_hdr h;
	struct zc_attr a;
	struct zc_loc l;
	struct zc_cap cap, minted;
	char name[ZC_MAX_NAME + 1];
	struct zc_cur c, e;
	size_t at, n;

	if (size >= ZC_HDR_LEN && !zc_hdr_decode(data, &h)) {
		TRAP(h.len <= ZC_MAX_FRAME && h.status >= 0 && h.status < ZC_ST_MAX);
		zc_hdr_encode(enc, &h);
		same_bytes(data, ZC_HDR_LEN, enc, ZC_HDR_LEN);
		TRAP(zc_type_name(h.type) != NULL);
		TRAP(zc_status_str(h.status) != NULL);
	}

	c = zc_cur_init((void *)data, size);
	zc_get_attr(&c, &a);
	if (!c.err) {
		TRAP(a.atime_ns < 1000000000U && a.mtime_ns < 1000000000U &&
		     a.ctime_ns < 1000000000U);
		e = zc_cur_init(enc, sizeof(enc));
		zc_put_attr(&e, &a);
		same_bytes(data, c.pos, enc, e.pos);
	}

	c = zc_cur_init((void *)data, size);
	zc_get_loc(&c, &l);
	if (!c.err) {
		e = zc_cur_init(enc, sizeof(enc));
		zc_put_loc(&e, &l);
		same_bytes(data, c.pos, enc, e.pos);
		/* Off the wire, never the key's. */
		zc_cap_mint(&minted, l.id, l.version, l.cap.rights, l.cap.expiry, l.cap.session);
		if (!zc_cap_check(&l.cap, l.id, l.version, l.cap.rights, l.cap.session))
			TRAP(!memcmp(minted.mac, l.cap.mac, ZC_CAP_MAC));
	}

	c = zc_cur_init((void *)data, size);
	zc_get_cap(&c, &cap);
	if (!c.err) {
		e = zc_cur_init(enc, sizeof(enc));
		zc_put_cap(&e, &cap);
		same_bytes(data, c.pos, enc, e.pos);
	}

	for (int as_name = 0; as_name < 2; as_name++) {
		c = zc_cur_init((void *)data, size);
		n = zc_get_str(&c, name, sizeof(name), as_name);
		if (c.err) {
			TRAP(name[0] == 0);
			continue;
		}
		TRAP(n < sizeof(name) && strlen(name) == n && c.pos == 2 + n);
		TRAP(!memcmp(name, data + 2, n));
		if (as_name)
			TRAP(n > 0 && !strchr(name, '/'));
	}

	/* A whole frame's worth of small integers, to the end. */
	c = zc_cur_init((void *)data, size);
	for (at = 0; zc_cur_left(&c) >= 4; at += 4)
		zc_get_u32(&c);
	TRAP(!c.err && at == size / 4 * 4);
	zc_get_u32(&c);
	TRAP(c.err);	/* fewer than 4 bytes left: a short read always fails */

	/* Which peer may send which type, as each role sees it. */
	for (int me = ZC_ROLE_NONE; size >= 3 && me <= ZC_ROLE_MDS; me++) {
		zc_auth.role = me;
		TRAP(zc_role_may_send(data[0] & 7, data[1] | data[2] << 8) || me != ZC_ROLE_NONE);
	}
	zc_auth.role = ZC_ROLE_NONE;
}

/* Writes the input as the peer's bytes and ends the stream. */
static int peer(const uint8_t *data, size_t size, int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -1;
	/* The pair's buffer holds a few hundred KiB; inputs are smaller. */
	if (size && zc_write_full(sv[1], data, size)) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	shutdown(sv[1], SHUT_WR);
	return 0;
}

static void handshake(const uint8_t *data, size_t size, enum zc_role me, bool accept_side)
{
	char peer_id[ZC_CRED_NAME + 1];
	uint64_t session;
	const char *why = NULL;
	uint8_t role;
	int sv[2];

	if (peer(data, size, sv))
		return;
	zc_auth.role = me;
	if (accept_side)
		TRAP(zc_auth_accept(sv[0], 100, &role, peer_id, &session, &why) != 0);
	else
		TRAP(zc_auth_connect(sv[0], 100, &why) != 0);
	TRAP(why != NULL);
	zc_auth.role = ZC_ROLE_NONE;
	close(sv[0]);
	close(sv[1]);
}

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static int dones;

static void on_done(struct zc_call *call)
{
	(void)call;
	pthread_mutex_lock(&done_lock);
	dones++;
	pthread_cond_broadcast(&done_cv);
	pthread_mutex_unlock(&done_lock);
}

/* The input answers one call (xid 1): into memory, or spliced to a pipe. */
static void receive(const uint8_t *data, size_t size, bool to_pipe)
{
	static uint8_t dest[4096];
	struct zc_call call = { .type = ZC_CLTOCS_READ, .dest = dest, .dest_cap = sizeof(dest),
				.to_pipe = to_pipe, .timeout_ms = 2000, .done = on_done };
	uint8_t arg = 0;
	struct zc_conn *conn;
	int sv[2], fds[2] = { -1, -1 };

	if (to_pipe && pipe2(fds, O_CLOEXEC))
		return;
	call.pipe[0] = fds[0];
	call.pipe[1] = fds[1];
	call.req[0] = (struct iovec){ &arg, 1 };
	if (peer(data, size, sv))
		goto out_pipe;
	conn = zc_conn_from_fd(sv[0], "fuzz");
	if (!conn) {
		close(sv[0]);
		goto out_peer;
	}
	pthread_mutex_lock(&done_lock);
	dones = 0;
	pthread_mutex_unlock(&done_lock);
	if (zc_call_start(conn, &call) == 0) {
		pthread_mutex_lock(&done_lock);
		while (!dones)
			pthread_cond_wait(&done_cv, &done_lock);
		pthread_mutex_unlock(&done_lock);
		TRAP(dones == 1);
		if (!call.err)
			TRAP(call.resp_len <= sizeof(dest));
	}
	zc_conn_put(conn);	/* the receiver lets go at the end of the stream */
out_peer:
	close(sv[1]);
out_pipe:
	if (to_pipe) {
		close(fds[0]);
		close(fds[1]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;

	if (!init) {
		zc_log_init("fuzz", ZC_LOG_ERR, NULL);
		memset(zc_auth.cluster, 7, ZC_KEY_LEN);
		zc_auth.have_cluster = true;
		zc_auth.client_secret = client_secret;
		init = true;
	}
	blocks(data, size);
	if (!size)
		return 0;
	switch (data[0] % 8) {
	case 0: handshake(data + 1, size - 1, ZC_ROLE_MDS, true); break;
	case 1: handshake(data + 1, size - 1, ZC_ROLE_CS, true); break;
	case 2: handshake(data + 1, size - 1, ZC_ROLE_CLIENT, false); break;
	case 3: handshake(data + 1, size - 1, ZC_ROLE_CS, false); break;
	case 4: receive(data + 1, size - 1, false); break;
	case 5: receive(data + 1, size - 1, true); break;
	}
	return 0;
}
