/*
 * crc32c.c — CRC-32C (Castagnoli, RFC 3720 B.4), the checksum of every
 * journal record. Slicing-by-8 tables (8 KiB, computed once at start-up):
 * eight bytes a step, byte order independent, no CPU-specific code.
 */
#include "core/core.h"

static uint32_t crc32c_table[8][256];

static void
crc32c_init(void)
{
	uint32_t i, k, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++) {
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		}
		crc32c_table[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		c = crc32c_table[0][i];
		for (k = 1; k < 8; k++) {
			c = crc32c_table[0][c & 0xff] ^ (c >> 8);
			crc32c_table[k][i] = c;
		}
	}
}

uint32_t
crc32c_update(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t lo, hi;

	if (crc32c_table[0][1] == 0) {
		crc32c_init();
	}
	crc = ~crc;
	while (len >= 8) {
		lo = crc ^
		    ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
		        (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
		    (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
		crc = crc32c_table[7][lo & 0xff] ^
		    crc32c_table[6][(lo >> 8) & 0xff] ^
		    crc32c_table[5][(lo >> 16) & 0xff] ^
		    crc32c_table[4][lo >> 24] ^ crc32c_table[3][hi & 0xff] ^
		    crc32c_table[2][(hi >> 8) & 0xff] ^
		    crc32c_table[1][(hi >> 16) & 0xff] ^
		    crc32c_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len-- > 0) {
		crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	}
	return ~crc;
}
