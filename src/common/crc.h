/* SPDX-License-Identifier: MIT */
#ifndef ZC_CRC_H
#define ZC_CRC_H

#include <stddef.h>
#include <stdint.h>

/* CRC32C (Castagnoli, as iSCSI and ext4) of len bytes, continuing from crc
 * (0 to start).  zc_crc32c(0, "123456789", 9) == 0xe3069283. */
uint32_t zc_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
