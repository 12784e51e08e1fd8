// SPDX-License-Identifier: MIT
#include <errno.h>

#include "common/pack.h"
#include "rpc.h"

_Atomic unsigned long zc_rpc_bad_frames;
_Atomic unsigned long zc_rpc_auth_failures;
_Atomic unsigned long zc_rpc_pipe_fallbacks;

void zc_hdr_encode(uint8_t out[ZC_HDR_LEN], const struct zc_hdr *h)
{
	struct zc_cur c = zc_cur_init(out, ZC_HDR_LEN);

	zc_put_u32(&c, ZC_MAGIC);
	zc_put_u16(&c, h->type);
	zc_put_u16(&c, h->flags);
	zc_put_u32(&c, (uint32_t)h->status);
	zc_put_u32(&c, h->len);
	zc_put_u64(&c, h->xid);
}

int zc_hdr_decode(const uint8_t in[ZC_HDR_LEN], struct zc_hdr *h)
{
	struct zc_cur c = zc_cur_init((uint8_t *)in, ZC_HDR_LEN);

	h->magic = zc_get_u32(&c);
	h->type = zc_get_u16(&c);
	h->flags = zc_get_u16(&c);
	h->status = (int32_t)zc_get_u32(&c);
	h->len = zc_get_u32(&c);
	h->xid = zc_get_u64(&c);
	if (h->magic != ZC_MAGIC || (h->flags & ~(ZC_F_RESP | ZC_F_COPY)))
		return -EPROTO;
	if (h->status < 0 || h->status >= ZC_ST_MAX)
		return -EPROTO;
	if (h->len > ZC_MAX_FRAME)
		return -EMSGSIZE;
	return 0;
}
