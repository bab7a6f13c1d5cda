/*
 * sasl_md4.c — MD4 (RFC 1320) for the NT hash of NTLM: mbedTLS dropped MD4
 * in 3.0. Only this use; MD4 is broken as a general hash. The NT hash is
 * MD4 of the password in UTF-16LE (MS-NLMP 3.3.1).
 */
#include <string.h>

#include "sasl/sasl.h"
#include "tls/tls.h"

#define SASL_ROTL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define SASL_F(x, y, z) (((x) & (y)) | (~(x) & (z)))
#define SASL_G(x, y, z) (((x) & (y)) | ((x) & (z)) | ((y) & (z)))
#define SASL_H(x, y, z) ((x) ^ (y) ^ (z))

static void
sasl_md4_block(uint32_t st[4], const uint8_t blk[64])
{
	static const uint8_t r1[4] = { 3, 7, 11, 19 }, r2[4] = { 3, 5, 9, 13 },
	                     r3[4] = { 3, 9, 11, 15 };
	static const uint8_t o3[16] = { 0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13,
		3, 11, 7, 15 };
	uint32_t x[16], v[4], t;
	int i;

	for (i = 0; i < 16; i++) {
		x[i] = le_get32(blk + 4 * i);
	}
	memcpy(v, st, sizeof(v));
	/* each step updates v[(-i) mod 4] from the other three, rotated */
	for (i = 0; i < 16; i++) { /* round 1 */
		uint32_t *a = &v[(4 - i % 4) % 4], b = v[(5 - i % 4) % 4],
		         c = v[(6 - i % 4) % 4], d = v[(7 - i % 4) % 4];

		t = *a + SASL_F(b, c, d) + x[i];
		*a = SASL_ROTL(t, r1[i % 4]);
	}
	for (i = 0; i < 16; i++) { /* round 2 */
		uint32_t *a = &v[(4 - i % 4) % 4], b = v[(5 - i % 4) % 4],
		         c = v[(6 - i % 4) % 4], d = v[(7 - i % 4) % 4];
		int k = (i % 4) * 4 + i / 4;

		t = *a + SASL_G(b, c, d) + x[k] + 0x5a827999u;
		*a = SASL_ROTL(t, r2[i % 4]);
	}
	for (i = 0; i < 16; i++) { /* round 3 */
		uint32_t *a = &v[(4 - i % 4) % 4], b = v[(5 - i % 4) % 4],
		         c = v[(6 - i % 4) % 4], d = v[(7 - i % 4) % 4];

		t = *a + SASL_H(b, c, d) + x[o3[i]] + 0x6ed9eba1u;
		*a = SASL_ROTL(t, r3[i % 4]);
	}
	for (i = 0; i < 4; i++) {
		st[i] += v[i];
	}
}

void
sasl_md4(const void *data, size_t len, uint8_t out[16])
{
	uint32_t st[4] = { 0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u };
	const uint8_t *p = data;
	uint8_t blk[64];
	size_t left = len, tail;
	int i;

	for (; left >= 64; left -= 64, p += 64) {
		sasl_md4_block(st, p);
	}
	/* RFC 1320 3.1-3.2: 0x80, zeros to 56 mod 64, bit length LE */
	memset(blk, 0, sizeof(blk));
	memcpy(blk, p, left);
	blk[left] = 0x80;
	tail = left;
	if (tail >= 56) {
		sasl_md4_block(st, blk);
		memset(blk, 0, sizeof(blk));
	}
	le_put64(blk + 56, (uint64_t)len * 8);
	sasl_md4_block(st, blk);
	for (i = 0; i < 4; i++) {
		le_put32(out + 4 * i, st[i]);
	}
}

/* UTF-8 -> UTF-16LE (surrogate pairs above the BMP); length or -EINVAL. */
static int
sasl_md4_utf16(const char *s, size_t len, uint8_t *out, size_t size)
{
	size_t i = 0, n = 0;

	while (i < len) {
		uint8_t c = (uint8_t)s[i];
		uint32_t cp;
		int extra = c < 0x80 ? 0 :
		    c >= 0xf0        ? 3 :
		    c >= 0xe0        ? 2 :
		    c >= 0xc2        ? 1 :
		                       -1;

		if (extra < 0 || i + (size_t)extra >= len + (extra == 0)) {
			return -EINVAL;
		}
		cp = extra == 0 ? c : c & (0x3fu >> extra);
		for (i++; extra > 0; extra--, i++) {
			if (((uint8_t)s[i] & 0xc0) != 0x80) {
				return -EINVAL;
			}
			cp = (cp << 6) | ((uint8_t)s[i] & 0x3f);
		}
		if (cp > 0x10ffff || n + 4 > size) {
			return -EINVAL;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			le_put16(out + n, (uint16_t)(0xd800 + (cp >> 10)));
			le_put16(out + n + 2,
			    (uint16_t)(0xdc00 + (cp & 0x3ff)));
			n += 4;
		} else {
			le_put16(out + n, (uint16_t)cp);
			n += 2;
		}
	}
	return (int)n;
}

int
sasl_nt_hash(const char *pw, size_t pwlen, uint8_t out[16])
{
	uint8_t u[2 * SASL_PASS_MAX + 4];
	int n = sasl_md4_utf16(pw, pwlen, u, sizeof(u));

	if (n < 0) {
		return n;
	}
	sasl_md4(u, (size_t)n, out);
	tls_zero(u, sizeof(u));
	return 0;
}
