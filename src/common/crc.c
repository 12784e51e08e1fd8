// SPDX-License-Identifier: MIT
#include "crc.h"

#include <isa-l/crc.h>
#include <limits.h>

uint32_t zc_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	/* ISA-L takes and returns the raw register: invert on the way in and
	 * out to get the standard CRC32C that can be continued. */
	crc = ~crc;
	while (len) {
		int n = len > INT_MAX ? INT_MAX : (int)len;

		crc = crc32_iscsi((unsigned char *)p, n, crc);
		p += n;
		len -= n;
	}
	return ~crc;
}
