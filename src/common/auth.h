/* SPDX-License-Identifier: MIT */
/*
 * Authentication: keys, the connection handshake, tickets and chunk
 * capabilities.  Every MAC is HMAC-SHA256 (OpenSSL) and every comparison
 * of secrets is constant-time (CRYPTO_memcmp).
 *
 * Keys.  The cluster key is shared by the mds and the chunk servers; a
 * client credential (a name and a secret) is known to its mount and to
 * the mds's credentials file.  Both are 32 random bytes (getrandom),
 * stored as hex in files of mode 0600: a key file that group or others
 * may read is refused.
 *
 *   cluster key file:  one line, 64 hex digits
 *   credential file:   one line, "NAME HEX"
 *   credentials file:  (the mds's) any number of "NAME HEX" lines, '#'
 *                      comments
 *
 * Handshake, before any other frame on a connection (proto.h, ZC_AUTH_*):
 *
 *   C -> S  HELLO   version:16 role:8 nonce[32] name ticket_session:64
 *                   ticket_expiry:64
 *   S -> C  (resp)  role:8 nonce[32] mac_s[32]
 *   C -> S  PROOF   mac_c[32]
 *   S -> C  (resp)  ()
 *
 * with mac_x = HMAC(K, "zcfs-auth-1 " x || transcript), the transcript
 * being both messages' fields in order, and K chosen by the server from
 * the two roles: a client's credential secret at the mds, the client's
 * ticket key at a chunk server, the cluster key between the mds and
 * chunk servers.  A client gets its ticket (session, expiry and the key
 * HMAC(cluster, "ticket" session expiry)) from the mds with its session,
 * wrapped under its own secret.
 *
 * Capability (per chunk in a layout given to a client):
 *   rights:8 expiry:64 session:64 mac[ZC_CAP_MAC]
 *   mac = HMAC(cluster, "zcfs-cap" chunk_id:64 version:32 rights:8 expiry:64
 *              session:64), truncated
 */
#ifndef ZC_AUTH_H
#define ZC_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZC_KEY_LEN	32
#define ZC_NONCE_LEN	32
#define ZC_MAC_LEN	32
#define ZC_CAP_MAC	16	/* HMAC-SHA256 truncated to 128 bits */
#define ZC_AUTH_VERSION	1
#define ZC_CRED_NAME	63	/* longest credential name */

enum zc_role {
	ZC_ROLE_NONE = 0,
	ZC_ROLE_CLIENT,
	ZC_ROLE_CS,
	ZC_ROLE_MDS,
};

#define ZC_CAP_READ	0x01
#define ZC_CAP_WRITE	0x02

/* A chunk capability as carried in a layout. */
struct zc_cap {
	uint8_t rights;
	uint64_t expiry;	/* wall clock, seconds */
	uint64_t session;	/* the client session it was given to */
	uint8_t mac[ZC_CAP_MAC];
};

/* What this process is and holds; set once at start. */
struct zc_auth {
	enum zc_role role;
	uint8_t cluster[ZC_KEY_LEN];	/* mds, chunk server */
	bool have_cluster;
	char name[ZC_CRED_NAME + 1];	/* client */
	uint8_t secret[ZC_KEY_LEN];	/* client */
	/* client: the ticket for chunk servers, from the mds
	   (zc_auth_set_ticket) */
	uint64_t ticket_session, ticket_expiry;
	uint8_t ticket_key[ZC_KEY_LEN];
	/* mds: a client's secret by name; returns 0 or -ENOENT */
	int (*client_secret)(const char *name, uint8_t secret[ZC_KEY_LEN]);
};

extern struct zc_auth zc_auth;

/* Key files.  Return 0 or -errno (-EPERM: readable by group or others,
 * -EINVAL: not a key).  create writes a fresh key with mode 0600 and
 * fails with -EEXIST if the file is there. */
int zc_key_load(const char *path, uint8_t key[ZC_KEY_LEN]);
int zc_key_create(const char *path);
int zc_cred_load(const char *path, char name[ZC_CRED_NAME + 1], uint8_t secret[ZC_KEY_LEN]);
int zc_cred_create(const char *path, const char *name);
/* A credential name: 1-63 of [A-Za-z0-9._-]. */
bool zc_cred_name_ok(const char *name);
/* Parses 64 hex digits.  Returns 0 or -EINVAL. */
int zc_key_parse(const char *hex, uint8_t key[ZC_KEY_LEN]);
void zc_key_hex(const uint8_t key[ZC_KEY_LEN], char out[2 * ZC_KEY_LEN + 1]);

/* A reason for a key file error of the functions above. */
const char *zc_key_strerror(int err);
/* Sets this process up as a server of role with the cluster key in
 * key_file, or as a client with the credential in cred_file.  Return 0
 * or -errno, having said why on stderr. */
int zc_auth_server(enum zc_role role, const char *key_file);
int zc_auth_client(const char *cred_file);
/* The secret of credential name in a credentials file (mode 0600, lines
 * "NAME HEX").  Returns 0, -ENOENT or -errno. */
int zc_creds_find(const char *path, const char *name, uint8_t secret[ZC_KEY_LEN]);

/* HMAC-SHA256 over the concatenation of n (pointer, length) parts. */
void zc_hmac(const uint8_t key[ZC_KEY_LEN], uint8_t out[ZC_MAC_LEN], int n, ...);
bool zc_mac_equal(const void *a, const void *b, size_t len);

/* Handshake on a connected blocking socket, each side within timeout_ms.
 * Client side: proves zc_auth's identity for its role.  Server side: fills
 * role, peer_id (a client's name) and peer_session (a ticket's session).
 * Both return 0, or -errno with *why set to a reason for the log. */
int zc_auth_connect(int fd, unsigned timeout_ms, const char **why);
/* A thread that ran handshakes or HMACs ends: frees OpenSSL's state of it
 * now, not in a destructor that may run after the process's exit began. */
void zc_auth_thread_end(void);
int zc_auth_accept(int fd, unsigned timeout_ms, uint8_t *role, char peer_id[ZC_CRED_NAME + 1],
		   uint64_t *peer_session, const char **why);

/* May a peer of role prole send a request of type to this process
 * (zc_auth.role)?  Everything may while the role is unset (tests). */
bool zc_role_may_send(uint8_t prole, uint16_t type);

/* Tickets (mds side): the key of (session, expiry), and the wrapped form
 * sent to a client; the client unwraps with its secret. */
void zc_ticket_key(const uint8_t cluster[ZC_KEY_LEN], uint64_t session, uint64_t expiry,
		   uint8_t key[ZC_KEY_LEN]);
void zc_ticket_wrap(const uint8_t secret[ZC_KEY_LEN], uint64_t session, uint64_t expiry,
		    const uint8_t in[ZC_KEY_LEN], uint8_t out[ZC_KEY_LEN]);

/* Client: takes the ticket the mds gave (expiry, wrapped key). */
void zc_auth_set_ticket(uint64_t session, uint64_t expiry, const uint8_t wrapped[ZC_KEY_LEN]);

/* Capabilities (mds mints, chunk servers check). */
void zc_cap_mint(struct zc_cap *cap, uint64_t chunk, uint32_t version, uint8_t rights,
		 uint64_t expiry, uint64_t session);
/* 0 if cap grants want on (chunk, version) now, and (session not 0) was
 * given to session; else -EACCES (forged, wrong rights or session) or
 * -EKEYEXPIRED. */
int zc_cap_check(const struct zc_cap *cap, uint64_t chunk, uint32_t version, uint8_t want,
		 uint64_t session);

#endif
