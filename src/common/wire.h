/* SPDX-License-Identifier: MIT */
/* Encoders and decoders for the compound blocks of the wire protocol. */
#ifndef ZC_WIRE_H
#define ZC_WIRE_H

#include <stdint.h>

#include "common/auth.h"
#include "common/pack.h"
#include "zcfs/proto.h"

struct zc_attr {
	uint64_t ino;
	uint32_t mode, nlink, uid, gid, rdev;
	uint64_t size;
	int64_t atime_s, mtime_s, ctime_s;
	uint32_t atime_ns, mtime_ns, ctime_ns;
};

struct zc_replica {
	uint32_t cs_id;
	uint32_t ip;		/* network byte order */
	uint16_t port;		/* host byte order */
};

/* Where one chunk of a file lives.  id 0: a hole, no chunk. */
struct zc_loc {
	uint64_t id;
	uint32_t version;
	uint8_t nrep;
	struct zc_replica rep[ZC_MAX_REPLICAS];
	struct zc_cap cap;	/* what the holder may do with it (auth.h) */
};

/* Namespace changes that must not run twice: the mds keeps their answers
 * under (session, seq) and answers a retry with them. */
bool zc_type_replayed(uint16_t type);
/* A message type's name, lower case without its family ("lookup"). */
const char *zc_type_name(uint16_t type);

void zc_put_attr(struct zc_cur *c, const struct zc_attr *a);
void zc_get_attr(struct zc_cur *c, struct zc_attr *a);
/* A capability: rights:8 expiry:64 session:64 mac[ZC_CAP_MAC]. */
void zc_put_cap(struct zc_cur *c, const struct zc_cap *cap);
void zc_get_cap(struct zc_cur *c, struct zc_cap *cap);
void zc_put_loc(struct zc_cur *c, const struct zc_loc *l);
/* Sets c->err on a replica count above ZC_MAX_REPLICAS. */
void zc_get_loc(struct zc_cur *c, struct zc_loc *l);

#endif
