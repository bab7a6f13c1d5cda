/*
 * crc32c.c — CRC-32C (Castagnoli, RFC 3720 B.4), the checksum of every
 * journal record. Table-driven, byte order independent; the table is
 * computed once at start-up (1 KiB).
 */
#include "core/core.h"

static uint32_t crc32c_table[256];

static void
crc32c_init(void)
{
	uint32_t i, k, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++) {
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		}
		crc32c_table[i] = c;
	}
}

uint32_t
crc32c_update(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	if (crc32c_table[1] == 0) {
		crc32c_init();
	}
	crc = ~crc;
	while (len-- > 0) {
		crc = crc32c_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	}
	return ~crc;
}
