// SPDX-License-Identifier: MIT
#include "wire.h"

void zc_put_attr(struct zc_cur *c, const struct zc_attr *a)
{
	zc_put_u64(c, a->ino);
	zc_put_u32(c, a->mode);
	zc_put_u32(c, a->nlink);
	zc_put_u32(c, a->uid);
	zc_put_u32(c, a->gid);
	zc_put_u32(c, a->rdev);
	zc_put_u64(c, a->size);
	zc_put_u64(c, (uint64_t)a->atime_s);
	zc_put_u32(c, a->atime_ns);
	zc_put_u64(c, (uint64_t)a->mtime_s);
	zc_put_u32(c, a->mtime_ns);
	zc_put_u64(c, (uint64_t)a->ctime_s);
	zc_put_u32(c, a->ctime_ns);
}

void zc_get_attr(struct zc_cur *c, struct zc_attr *a)
{
	a->ino = zc_get_u64(c);
	a->mode = zc_get_u32(c);
	a->nlink = zc_get_u32(c);
	a->uid = zc_get_u32(c);
	a->gid = zc_get_u32(c);
	a->rdev = zc_get_u32(c);
	a->size = zc_get_u64(c);
	a->atime_s = (int64_t)zc_get_u64(c);
	a->atime_ns = zc_get_u32(c);
	a->mtime_s = (int64_t)zc_get_u64(c);
	a->mtime_ns = zc_get_u32(c);
	a->ctime_s = (int64_t)zc_get_u64(c);
	a->ctime_ns = zc_get_u32(c);
	if (a->atime_ns >= 1000000000U || a->mtime_ns >= 1000000000U ||
	    a->ctime_ns >= 1000000000U)
		c->err = true;
}

void zc_put_loc(struct zc_cur *c, const struct zc_loc *l)
{
	zc_put_u64(c, l->id);
	zc_put_u32(c, l->version);
	zc_put_u8(c, l->nrep);
	for (int i = 0; i < l->nrep; i++) {
		zc_put_u32(c, l->rep[i].cs_id);
		zc_put_bytes(c, &l->rep[i].ip, 4);
		zc_put_u16(c, l->rep[i].port);
	}
	zc_put_cap(c, &l->cap);
}

void zc_put_cap(struct zc_cur *c, const struct zc_cap *cap)
{
	zc_put_u8(c, cap->rights);
	zc_put_u64(c, cap->expiry);
	zc_put_u64(c, cap->session);
	zc_put_bytes(c, cap->mac, ZC_CAP_MAC);
}

void zc_get_cap(struct zc_cur *c, struct zc_cap *cap)
{
	uint8_t *mac;

	cap->rights = zc_get_u8(c);
	cap->expiry = zc_get_u64(c);
	cap->session = zc_get_u64(c);
	mac = zc_cur_take(c, ZC_CAP_MAC);
	if (mac)
		memcpy(cap->mac, mac, ZC_CAP_MAC);
	else
		memset(cap->mac, 0, ZC_CAP_MAC);
}

void zc_get_loc(struct zc_cur *c, struct zc_loc *l)
{
	l->id = zc_get_u64(c);
	l->version = zc_get_u32(c);
	l->nrep = zc_get_u8(c);
	if (l->nrep > ZC_MAX_REPLICAS) {
		c->err = true;
		l->nrep = 0;
		return;
	}
	for (int i = 0; i < l->nrep; i++) {
		uint8_t *ip;

		l->rep[i].cs_id = zc_get_u32(c);
		ip = zc_cur_take(c, 4);
		l->rep[i].ip = 0;
		if (ip)
			memcpy(&l->rep[i].ip, ip, 4);
		l->rep[i].port = zc_get_u16(c);
	}
	zc_get_cap(c, &l->cap);
}

bool zc_type_replayed(uint16_t type)
{
	switch (type) {
	case ZC_CLTOMA_MKNOD: case ZC_CLTOMA_CREATE: case ZC_CLTOMA_SYMLINK:
	case ZC_CLTOMA_LINK: case ZC_CLTOMA_UNLINK: case ZC_CLTOMA_RMDIR:
	case ZC_CLTOMA_RENAME:
		return true;
	}
	return false;
}

const char *zc_type_name(uint16_t type)
{
	static const char *const names[ZC_TYPE_MAX] = {
		[ZC_AUTH_HELLO] = "hello",
		[ZC_AUTH_PROOF] = "proof",
		[ZC_CLTOCS_FSYNC] = "fsync",
		[ZC_CLTOCS_READ] = "read",
		[ZC_CLTOCS_TRUNCATE] = "truncate",
		[ZC_CLTOCS_WRITE] = "write",
		[ZC_CLTOMA_APPEND] = "append",
		[ZC_CLTOMA_CHUNK_ALLOC] = "chunk_alloc",
		[ZC_CLTOMA_CHUNK_FAILED] = "chunk_failed",
		[ZC_CLTOMA_CHUNK_GET] = "chunk_get",
		[ZC_CLTOMA_CREATE] = "create",
		[ZC_CLTOMA_GETATTR] = "getattr",
		[ZC_CLTOMA_GETLK] = "getlk",
		[ZC_CLTOMA_LAYOUT] = "layout",
		[ZC_CLTOMA_LINK] = "link",
		[ZC_CLTOMA_LOCK] = "lock",
		[ZC_CLTOMA_LOOKUP] = "lookup",
		[ZC_CLTOMA_MKNOD] = "mknod",
		[ZC_CLTOMA_OPEN] = "open",
		[ZC_CLTOMA_READDIR] = "readdir",
		[ZC_CLTOMA_READLINK] = "readlink",
		[ZC_CLTOMA_RELEASE] = "release",
		[ZC_CLTOMA_RENAME] = "rename",
		[ZC_CLTOMA_RMDIR] = "rmdir",
		[ZC_CLTOMA_SESSION_END] = "session_end",
		[ZC_CLTOMA_SESSION_NEW] = "session_new",
		[ZC_CLTOMA_SESSION_RENEW] = "session_renew",
		[ZC_CLTOMA_SETATTR] = "setattr",
		[ZC_CLTOMA_SETGOAL] = "setgoal",
		[ZC_CLTOMA_SETSIZE] = "setsize",
		[ZC_CLTOMA_STATFS] = "statfs",
		[ZC_CLTOMA_STATS] = "stats",
		[ZC_CLTOMA_STATUS] = "status",
		[ZC_CLTOMA_SYMLINK] = "symlink",
		[ZC_CLTOMA_TRUNC_PREP] = "trunc_prep",
		[ZC_CLTOMA_UNLINK] = "unlink",
		[ZC_CSTOMA_CHUNK_BAD] = "chunk_bad",
		[ZC_CSTOMA_HEARTBEAT] = "heartbeat",
		[ZC_CSTOMA_REGISTER] = "register",
		[ZC_CSTOMA_REPORT] = "report",
		[ZC_MATOCS_DELETE] = "delete",
		[ZC_MATOCS_INFO] = "info",
		[ZC_MATOCS_REPLICATE] = "replicate",
		[ZC_MATOCS_SETVERSION] = "setversion",
	};

	return type < ZC_TYPE_MAX && names[type] ? names[type] : "unknown";
}
