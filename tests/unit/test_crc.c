// SPDX-License-Identifier: MIT
/* CRC32C through ISA-L: the standard check value and continuation. */
#include "check.h"
#include "common/crc.h"

int main(void)
{
	static uint8_t big[1 << 20];

	CHECK_EQ(zc_crc32c(0, "123456789", 9), 0xe3069283U);
	CHECK_EQ(zc_crc32c(0, "", 0), 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 131 + 7);
	uint32_t whole = zc_crc32c(0, big, sizeof(big));

	/* Continuing over pieces gives the CRC of the whole. */
	CHECK_EQ(zc_crc32c(zc_crc32c(0, big, 12345), big + 12345, sizeof(big) - 12345), whole);
	/* One flipped bit changes it. */
	big[777] ^= 1;
	CHECK_NE(zc_crc32c(0, big, sizeof(big)), whole);
	return check_done();
}
