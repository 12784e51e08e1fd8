// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the frame header parser and the decoders of the blocks
 * peers send (attr, loc, strings).  Any input must decode or be refused,
 * never read out of bounds.  Run with `make fuzz`.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"
#include "rpc/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zc_hdr h;
	struct zc_attr a;
	struct zc_loc l;
	char name[ZC_MAX_NAME + 1];
	struct zc_cur c;

	if (size >= ZC_HDR_LEN && !zc_hdr_decode(data, &h)) {
		if (h.len > ZC_MAX_FRAME || h.status >= ZC_ST_MAX)
			__builtin_trap();	/* accepted what the limits refuse */
	}
	c = zc_cur_init((void *)data, size);
	zc_get_attr(&c, &a);
	zc_get_loc(&c, &l);
	if (!c.err && l.nrep > ZC_MAX_REPLICAS)
		__builtin_trap();
	zc_get_str(&c, name, sizeof(name), true);
	zc_get_str(&c, name, sizeof(name), false);
	while (zc_cur_left(&c))
		zc_get_u32(&c);
	return 0;
}
