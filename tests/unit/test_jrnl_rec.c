/*
 * test_jrnl_rec.c — the journal's record framing and payload coding
 * (src/queue/jrnl_rec.c, format in src/queue/jrnl.h) and CRC-32C
 * (src/core/crc32c.c, RFC 3720 B.4).
 *
 * A record is a 32-byte header ("TJ", type, flags, length, sequence, id,
 * CRC-32C of bytes 0-23 and the payload, a zero word), the payload, and
 * zeros to a multiple of 8; every integer little-endian whatever the host.
 * jrnl_rec_check() says 1 (valid), 0 (zeros: the clean end) or -1
 * (broken). Records are checked in buffers of exactly `avail` bytes, so a
 * read past what the caller gave is an ASan error. CRC values are checked
 * against a bitwise reference written here from the polynomial, not
 * against the table of crc32c.c.
 */
#include <stdlib.h>

#include "tu.h"

#include "queue/jrnl.h"

#define JRNL_T_PAYLOAD_MAX (JRNL_REC_MAX - JRNL_HDR)

/* CRC-32C bit by bit (reflected polynomial 0x82F63B78), for reference. */
static uint32_t
jrnl_t_crc_ref(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;
	int k;

	crc = ~crc;
	while (len-- > 0) {
		crc ^= *p++;
		for (k = 0; k < 8; k++) {
			crc = (crc & 1) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
		}
	}
	return ~crc;
}

/* A small deterministic generator (xorshift64*), so failures repeat. */
static uint64_t
jrnl_t_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static void
jrnl_t_fill(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t s = seed | 1;
	size_t i;

	for (i = 0; i < n; i++) {
		p[i] = (unsigned char)(jrnl_t_rand(&s) >> 56);
	}
}

/*
 * A whole record in a malloc'ed buffer of exactly jrnl_rec_size(len)
 * bytes (or `extra` more zero bytes after it).
 */
static unsigned char *
jrnl_t_rec(struct jrnl_hdr *h, const void *payload, size_t extra)
{
	size_t rs = jrnl_rec_size(h->len);
	unsigned char *r = calloc(1, rs + extra);

	assert_non_null(r);
	jrnl_hdr_fmt(r, h, payload);
	if (h->len > 0) {
		memcpy(r + JRNL_HDR, payload, h->len);
	}
	return r;
}

/* jrnl_rec_check on a copy of exactly avail bytes. */
static int
jrnl_t_check(const unsigned char *p, size_t avail, struct jrnl_hdr *h)
{
	unsigned char *c = malloc(avail == 0 ? 1 : avail);
	int r;

	assert_non_null(c);
	memcpy(c, p, avail);
	r = jrnl_rec_check(c, avail, h);
	free(c);
	return r;
}

static void
jrnl_t_hdr_equal(const struct jrnl_hdr *a, const struct jrnl_hdr *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->len, b->len);
	assert_true(a->seq == b->seq);
	assert_true(a->id == b->id);
	assert_int_equal(a->crc, b->crc);
}

/* ---- CRC-32C ------------------------------------------------------------- */

static void
test_crc_vectors(void **state)
{
	unsigned char buf[32];
	size_t i;

	/* RFC 3720 B.4 */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(crc32c_update(0, buf, 32), 0x8a9136aau);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(crc32c_update(0, buf, 32), 0x62a8ab43u);
	for (i = 0; i < 32; i++) {
		buf[i] = (unsigned char)i;
	}
	assert_int_equal(crc32c_update(0, buf, 32), 0x46dd794eu);
	for (i = 0; i < 32; i++) {
		buf[i] = (unsigned char)(31 - i);
	}
	assert_int_equal(crc32c_update(0, buf, 32), 0x113fdb5cu);
	/* the check value of the CRC catalogue */
	assert_int_equal(crc32c_update(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(jrnl_t_crc_ref(0, "123456789", 9), 0xe3069283u);
	/* nothing leaves it as it was */
	assert_int_equal(crc32c_update(0, "", 0), 0);
	assert_int_equal(crc32c_update(0x12345678u, buf, 0), 0x12345678u);
}

/* Fed in two pieces, split anywhere, it is the same; equal to the reference. */
static void
test_crc_pieces(void **state)
{
	unsigned char buf[300];
	uint32_t whole;
	size_t n, k;

	jrnl_t_fill(buf, sizeof(buf), 7);
	for (n = 0; n <= sizeof(buf); n += (n < 40 ? 1 : 37)) {
		whole = crc32c_update(0, buf, n);
		assert_int_equal(whole, jrnl_t_crc_ref(0, buf, n));
		for (k = 0; k <= n; k++) {
			assert_int_equal(crc32c_update(crc32c_update(0, buf, k),
			                     buf + k, n - k),
			    whole);
		}
	}
}

/* ---- framing ------------------------------------------------------------- */

static void
test_rec_size(void **state)
{
	size_t n;

	assert_int_equal(jrnl_rec_size(0), 32);
	assert_int_equal(jrnl_rec_size(1), 40);
	assert_int_equal(jrnl_rec_size(8), 40);
	assert_int_equal(jrnl_rec_size(9), 48);
	assert_int_equal(jrnl_rec_size(4096), 4128);
	assert_int_equal(jrnl_rec_size(JRNL_T_PAYLOAD_MAX), JRNL_REC_MAX);
	for (n = 0; n <= 5000; n++) {
		size_t rs = jrnl_rec_size(n);

		assert_int_equal(rs % 8, 0);
		assert_true(rs >= JRNL_HDR + n);
		assert_true(rs < JRNL_HDR + n + 8);
	}
}

/* The header's bytes are where jrnl.h says, little-endian. */
static void
test_hdr_layout(void **state)
{
	static const unsigned char payload[3] = { 'a', 'b', 'c' };
	struct jrnl_hdr h = { .type = JRNL_BODY,
		.flags = 0x81,
		.len = 3,
		.seq = 0x0102030405060708ULL,
		.id = 0x1112131415161718ULL };
	unsigned char out[JRNL_HDR];
	static const unsigned char want[24] = { 'T', 'J', 3, 0x81, 3, 0, 0, 0,
		8, 7, 6, 5, 4, 3, 2, 1, 0x18, 0x17, 0x16, 0x15, 0x14, 0x13,
		0x12, 0x11 };
	uint32_t crc;

	memset(out, 0xee, sizeof(out));
	jrnl_hdr_fmt(out, &h, payload);
	tu_assert_mem_eq((const char *)out, 24, (const char *)want, 24);
	crc = jrnl_t_crc_ref(jrnl_t_crc_ref(0, want, 24), payload, 3);
	assert_int_equal(h.crc, crc);
	assert_int_equal(out[24], crc & 0xff);
	assert_int_equal(out[25], (crc >> 8) & 0xff);
	assert_int_equal(out[26], (crc >> 16) & 0xff);
	assert_int_equal(out[27], crc >> 24);
	assert_int_equal(out[28] | out[29] | out[30] | out[31], 0);
}

/*
 * A record typed in byte by byte decodes to these values on any host;
 * the CRC is the reference's, written down once.
 */
static void
test_hand_built(void **state)
{
	static const unsigned char rec[40] = {
		0x54, 0x4a, 0x05, 0x00, 0x05, 0x00, 0x00, 0x00, /* RESULT, 5 */
		0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, /* seq */
		0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, /* id */
		0x00, 0x00, 0x00, 0x00, /* CRC, filled below */
		0x00, 0x00, 0x00, 0x00, /* zero */
		'h', 'e', 'l', 'l', 'o', 0, 0, 0, /* payload, padding */
	};
	unsigned char r[40], f[JRNL_HDR];
	struct jrnl_hdr h, h2;
	uint32_t crc;

	crc = jrnl_t_crc_ref(jrnl_t_crc_ref(0, rec, 24), rec + 32, 5);
	assert_int_equal(crc, 0x9ef43e5cu);
	memcpy(r, rec, sizeof(r));
	r[24] = (unsigned char)crc;
	r[25] = (unsigned char)(crc >> 8);
	r[26] = (unsigned char)(crc >> 16);
	r[27] = (unsigned char)(crc >> 24);
	memset(&h, 0, sizeof(h));
	assert_int_equal(jrnl_t_check(r, sizeof(r), &h), 1);
	assert_int_equal(h.type, JRNL_RESULT);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.len, 5);
	assert_true(h.seq == 0x0123456789abcdefULL);
	assert_true(h.id == 0xfedcba9876543210ULL);
	assert_int_equal(h.crc, crc);
	/* and the formatter writes the very same bytes */
	h2 = h;
	h2.crc = 0;
	jrnl_hdr_fmt(f, &h2, rec + 32);
	tu_assert_mem_eq((const char *)f, JRNL_HDR, (const char *)r, JRNL_HDR);
	jrnl_t_hdr_equal(&h, &h2);
	/* a big-endian writer's record would not pass */
	r[4] = 0;
	r[7] = 5;
	assert_int_equal(jrnl_t_check(r, sizeof(r), &h), -1);
}

/* Every type, flags, extreme numbers, payload lengths 0 to the maximum. */
static void
test_round_trip(void **state)
{
	static const uint64_t nums[] = { 0, 1, 0x80, 0xffffffffULL,
		0x0123456789abcdefULL, UINT64_MAX };
	static unsigned char payload[JRNL_T_PAYLOAD_MAX];
	struct jrnl_hdr h, got;
	unsigned char *r;
	size_t len, rs, i;
	int type;

	jrnl_t_fill(payload, sizeof(payload), 11);
	for (type = JRNL_MSG; type <= JRNL_DONE; type++) {
		for (len = 0; len <= JRNL_T_PAYLOAD_MAX;
		     len += (len < 70   ? 1 :
		             len < 4000 ? 129 :
		                          1)) {
			i = (len + (size_t)type) % ARRAY_SIZE(nums);
			memset(&h, 0, sizeof(h));
			h.type = (uint8_t)type;
			h.flags = (len & 1) ? JRNL_F_COPY : 0;
			h.len = (uint32_t)len;
			h.seq = nums[i];
			h.id = nums[ARRAY_SIZE(nums) - 1 - i];
			rs = jrnl_rec_size(len);
			r = jrnl_t_rec(&h, payload, 64);
			assert_int_equal(h.crc,
			    jrnl_t_crc_ref(jrnl_t_crc_ref(0, r, 24), payload,
			        len));
			/* exactly its size, or followed by zeros */
			memset(&got, 0, sizeof(got));
			assert_int_equal(jrnl_t_check(r, rs, &got), 1);
			jrnl_t_hdr_equal(&got, &h);
			assert_int_equal(jrnl_t_check(r, rs + 64, &got), 1);
			jrnl_t_hdr_equal(&got, &h);
			/* the zeros after it are the clean end */
			assert_int_equal(jrnl_t_check(r + rs, 64, &got), 0);
			/* one byte less, even of padding, is cut short */
			assert_int_equal(jrnl_t_check(r, rs - 1, &got), -1);
			free(r);
		}
	}
}

/* A payload of the maximum is the limit: one byte more is refused. */
static void
test_length_limit(void **state)
{
	static unsigned char payload[JRNL_T_PAYLOAD_MAX + 8];
	struct jrnl_hdr h = { .type = JRNL_BODY, .seq = 1, .id = 2 }, got;
	unsigned char *r;
	size_t rs;

	h.len = JRNL_T_PAYLOAD_MAX + 1;
	rs = jrnl_rec_size(h.len);
	r = jrnl_t_rec(&h, payload, 0);
	assert_int_equal(jrnl_t_check(r, rs, &got), -1);
	free(r);
	/* a huge length: refused on the length, never read */
	h.len = 4;
	r = jrnl_t_rec(&h, "abcd", 0);
	le_put32(r + 4, UINT32_MAX);
	assert_int_equal(jrnl_t_check(r, jrnl_rec_size(4), &got), -1);
	le_put32(r + 4, JRNL_T_PAYLOAD_MAX + 1);
	assert_int_equal(jrnl_t_check(r, jrnl_rec_size(4), &got), -1);
	free(r);
}

/* Length beyond what is there: every avail short of the record. */
static void
test_cut_short(void **state)
{
	static const char text[] =
	    "a piece of the message text, 45 bytes long..";
	struct jrnl_hdr h = { .type = JRNL_BODY, .seq = 9, .id = 77 }, got;
	unsigned char *r;
	size_t rs, a;

	h.len = sizeof(text) - 1;
	rs = jrnl_rec_size(h.len);
	r = jrnl_t_rec(&h, text, 0);
	assert_int_equal(jrnl_t_check(r, 0, &got), 0); /* nothing: clean */
	for (a = 1; a < rs; a++) {
		if (jrnl_t_check(r, a, &got) != -1) {
			fail_msg("cut to %zu of %zu bytes: not broken", a, rs);
		}
	}
	assert_int_equal(jrnl_t_check(r, rs, &got), 1);
	free(r);
}

/* Zeros are the clean end, however few; anything else short is broken. */
static void
test_zeros(void **state)
{
	unsigned char z[64];
	struct jrnl_hdr h;
	size_t a, k;

	memset(z, 0, sizeof(z));
	for (a = 0; a <= sizeof(z); a++) {
		assert_int_equal(jrnl_t_check(z, a, &h), 0);
	}
	/* a non-zero byte within the first 32: broken, not the end */
	for (k = 0; k < JRNL_HDR; k++) {
		z[k] = 1;
		for (a = k + 1; a <= sizeof(z); a++) {
			if (jrnl_t_check(z, a, &h) != -1) {
				fail_msg("byte %zu set, avail %zu: not broken",
				    k, a);
			}
		}
		z[k] = 0;
	}
}

static void
test_bad_magic(void **state)
{
	static const uint16_t magics[] = { 0x4a55, 0x544a /* "JT" */, 0x0000,
		0xffff, 0x4b54 };
	struct jrnl_hdr h = { .type = JRNL_COMMIT, .len = 4, .seq = 3, .id = 4 };
	struct jrnl_hdr got;
	unsigned char *r;
	size_t i;

	r = jrnl_t_rec(&h, "abcd", 0);
	for (i = 0; i < ARRAY_SIZE(magics); i++) {
		le_put16(r, magics[i]);
		assert_int_equal(jrnl_t_check(r, jrnl_rec_size(4), &got), -1);
	}
	free(r);
}

/* Types outside 1..7 are refused even with a correct CRC. */
static void
test_bad_type(void **state)
{
	static const uint8_t types[] = { 0, 9, 10, 0x80, 0xff };
	struct jrnl_hdr h = { .len = 2, .seq = 1, .id = 1 }, got;
	unsigned char *r;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		h.type = types[i];
		r = jrnl_t_rec(&h, "xy", 0);
		assert_int_equal(jrnl_t_check(r, jrnl_rec_size(2), &got), -1);
		free(r);
	}
}

/*
 * Every single-bit flip in what the CRC covers (bytes 0-23 and the
 * payload) and in the CRC itself is caught; so is every pair of flips
 * (CRC-32C's Hamming distance on short records).
 */
static void
test_bit_flips(void **state)
{
	static const char text[] = "RCPT to flip!";
	struct jrnl_hdr h = { .type = JRNL_RCPT,
		.flags = 0,
		.seq = 0x1234,
		.id = 0xabcdef },
	                got;
	unsigned char *r;
	size_t rs, nbits, b, c;
	size_t bits[(JRNL_HDR + sizeof(text)) * 8];

	h.len = sizeof(text) - 1;
	rs = jrnl_rec_size(h.len);
	r = jrnl_t_rec(&h, text, 0);
	nbits = 0;
	for (b = 0; b < (JRNL_HDR + h.len) * 8; b++) {
		if (b / 8 < 28 || b / 8 >= JRNL_HDR) {
			bits[nbits++] = b;
		}
	}
	for (b = 0; b < nbits; b++) {
		r[bits[b] / 8] ^= (unsigned char)(1u << (bits[b] % 8));
		if (jrnl_t_check(r, rs, &got) != -1) {
			fail_msg("flip of byte %zu bit %zu not caught",
			    bits[b] / 8, bits[b] % 8);
		}
		for (c = b + 1; c < nbits; c++) {
			r[bits[c] / 8] ^= (unsigned char)(1u << (bits[c] % 8));
			if (jrnl_rec_check(r, rs, &got) == 1) {
				fail_msg("flips of bits %zu and %zu not caught",
				    bits[b], bits[c]);
			}
			r[bits[c] / 8] ^= (unsigned char)(1u << (bits[c] % 8));
		}
		r[bits[b] / 8] ^= (unsigned char)(1u << (bits[b] % 8));
	}
	assert_int_equal(jrnl_t_check(r, rs, &got), 1);
	free(r);
}

/*
 * The zero word (bytes 28-31) and the padding are covered by nothing:
 * jrnl.h says they are zero, but a reader takes a record whatever they
 * hold. What it reads stays right; this pins the behaviour down.
 */
static void
test_unchecked_bytes(void **state)
{
	struct jrnl_hdr h = { .type = JRNL_BODY, .seq = 5, .id = 6, .len = 3 };
	struct jrnl_hdr got;
	unsigned char *r;
	size_t rs, k;

	rs = jrnl_rec_size(h.len);
	r = jrnl_t_rec(&h, "abc", 0);
	for (k = 28; k < rs; k++) {
		if (k >= JRNL_HDR && k < JRNL_HDR + h.len) {
			continue;
		}
		r[k] ^= 0x01;
		assert_int_equal(jrnl_t_check(r, rs, &got), 1);
		jrnl_t_hdr_equal(&got, &h);
		r[k] ^= 0x01;
	}
	free(r);
}

/* Random bytes never crash it, and "valid" always fits in avail. */
static void
test_random_bytes(void **state)
{
	static unsigned char buf[512];
	struct jrnl_hdr h;
	uint64_t s = 99;
	int i, r;
	size_t avail;

	for (i = 0; i < 20000; i++) {
		avail = (size_t)(jrnl_t_rand(&s) % sizeof(buf));
		jrnl_t_fill(buf, avail, jrnl_t_rand(&s));
		if (i % 3 == 0 && avail >= 2) {
			le_put16(buf, JRNL_MAGIC);
		}
		r = jrnl_t_check(buf, avail, &h);
		assert_true(r >= -1 && r <= 1);
		if (r == 1) {
			assert_true(jrnl_rec_size(h.len) <= avail);
		}
	}
}

/* ---- payload coding ------------------------------------------------------ */

static void
test_put_bytes(void **state)
{
	static const unsigned char want[] = { 0xa5, 0x04, 0x03, 0x02, 0x01,
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x03, 0x00, 'a',
		'b', 'c', 0x00, 0x00 };
	unsigned char buf[64];
	struct jrnl_enc e = { buf, 0, sizeof(buf), false };

	jrnl_put8(&e, 0xa5);
	jrnl_put32(&e, 0x01020304u);
	jrnl_put64(&e, 0x0102030405060708ULL);
	jrnl_putstr(&e, "abc");
	jrnl_putstr(&e, "");
	assert_false(e.overflow);
	tu_assert_mem_eq((const char *)buf, e.len, (const char *)want,
	    sizeof(want));
}

static void
test_put_overflow(void **state)
{
	unsigned char buf[32];
	size_t cap;

	/* each put fits exactly, or fails without writing past cap */
	for (cap = 0; cap <= 20; cap++) {
		struct jrnl_enc e = { buf, 0, cap, false };

		memset(buf, 0xee, sizeof(buf));
		jrnl_put8(&e, 1);
		jrnl_put32(&e, 2);
		jrnl_put64(&e, 3);
		jrnl_putstr(&e, "xyz"); /* 2 + 3 */
		assert_int_equal(e.overflow, cap < 18);
		assert_true(e.len <= cap);
		assert_int_equal(e.len,
		    cap >= 18     ? 18 :
		        cap >= 13 ? 13 :
		        cap >= 5  ? 5 :
		        cap >= 1  ? 1 :
		                    0);
		assert_int_equal(buf[cap], 0xee);
		/* once full it stays failed, even for what would fit */
		if (e.overflow) {
			size_t len = e.len;

			e.cap = sizeof(buf);
			jrnl_put8(&e, 9);
			jrnl_putstr(&e, "");
			assert_int_equal(e.len, len);
			assert_true(e.overflow);
		}
	}
}

/* A string's length is a u16: 65535 bytes go, 65536 do not. */
static void
test_putstr_limit(void **state)
{
	size_t n = 0x10000;
	char *s = malloc(n + 1);
	unsigned char *buf = malloc(n + 2);
	struct jrnl_enc e = { buf, 0, n + 2, false };

	assert_non_null(s);
	assert_non_null(buf);
	memset(s, 'q', n);
	s[n - 1] = '\0';
	jrnl_putstr(&e, s);
	assert_false(e.overflow);
	assert_int_equal(e.len, 2 + 0xffff);
	assert_int_equal(buf[0], 0xff);
	assert_int_equal(buf[1], 0xff);
	s[n - 1] = 'q';
	s[n] = '\0';
	e.len = 0;
	jrnl_putstr(&e, s);
	assert_true(e.overflow);
	assert_int_equal(e.len, 0);
	free(s);
	free(buf);
}

static void
test_get_round_trip(void **state)
{
	unsigned char buf[128];
	struct jrnl_enc e = { buf, 0, sizeof(buf), false };
	struct jrnl_dec d;
	char out[16];

	jrnl_put8(&e, 0xfe);
	jrnl_put32(&e, 0xdeadbeefu);
	jrnl_put64(&e, 0xfedcba9876543210ULL);
	jrnl_putstr(&e, "hello");
	jrnl_putstr(&e, "");
	jrnl_putstr(&e, "fifteen chars..");
	d = (struct jrnl_dec){ buf, e.len, 0, false };
	assert_int_equal(jrnl_get8(&d), 0xfe);
	assert_int_equal(jrnl_get32(&d), 0xdeadbeefu);
	assert_true(jrnl_get64(&d) == 0xfedcba9876543210ULL);
	jrnl_getstr(&d, out, sizeof(out));
	assert_string_equal(out, "hello");
	jrnl_getstr(&d, out, sizeof(out));
	assert_string_equal(out, "");
	jrnl_getstr(&d, out, sizeof(out)); /* 15 + NUL: exactly fits */
	assert_string_equal(out, "fifteen chars..");
	assert_false(d.bad);
	assert_int_equal(d.off, d.len);
	/* past the end: bad, zeros, and it stays bad */
	assert_int_equal(jrnl_get8(&d), 0);
	assert_true(d.bad);
}

/* Little-endian whatever the host: the bytes decide. */
static void
test_get_bytes(void **state)
{
	static const unsigned char in[] = { 0x80, 0x78, 0x56, 0x34, 0x12, 0x01,
		0, 0, 0, 0, 0, 0, 0x80, 2, 0, 'o', 'k' };
	struct jrnl_dec d = { in, sizeof(in), 0, false };
	char out[8];

	assert_int_equal(jrnl_get8(&d), 0x80);
	assert_int_equal(jrnl_get32(&d), 0x12345678u);
	assert_true(jrnl_get64(&d) == 0x8000000000000001ULL);
	jrnl_getstr(&d, out, sizeof(out));
	assert_string_equal(out, "ok");
	assert_false(d.bad);
}

/* Decoding a payload cut anywhere: bad, never a read past len (ASan). */
static void
test_get_truncated(void **state)
{
	unsigned char buf[64];
	struct jrnl_enc e = { buf, 0, sizeof(buf), false };
	size_t full, cut;

	jrnl_put8(&e, 1);
	jrnl_put32(&e, 2);
	jrnl_put64(&e, 3);
	jrnl_putstr(&e, "string");
	jrnl_put32(&e, 4);
	full = e.len;
	for (cut = 0; cut <= full; cut++) {
		unsigned char *c = malloc(cut == 0 ? 1 : cut);
		struct jrnl_dec d = { c, cut, 0, false };
		char out[32];
		uint8_t v8;
		uint32_t v32, w32;
		uint64_t v64;

		assert_non_null(c);
		memcpy(c, buf, cut);
		v8 = jrnl_get8(&d);
		v32 = jrnl_get32(&d);
		v64 = jrnl_get64(&d);
		jrnl_getstr(&d, out, sizeof(out));
		w32 = jrnl_get32(&d);
		assert_int_equal(d.bad, cut < full);
		assert_true(d.off <= cut);
		if (!d.bad) {
			assert_int_equal(v8, 1);
			assert_int_equal(v32, 2);
			assert_true(v64 == 3);
			assert_string_equal(out, "string");
			assert_int_equal(w32, 4);
		}
		if (cut < 1 + 4 + 8 + 2 + 6) {
			assert_string_equal(out, ""); /* no half string */
		}
		free(c);
	}
}

/* A string longer than the room for it is bad, and out stays a string. */
static void
test_getstr_too_long(void **state)
{
	unsigned char buf[64];
	struct jrnl_enc e = { buf, 0, sizeof(buf), false };
	struct jrnl_dec d;
	char out[8];

	jrnl_putstr(&e, "12345678"); /* 8 bytes need 9 */
	jrnl_putstr(&e, "ok");
	d = (struct jrnl_dec){ buf, e.len, 0, false };
	memset(out, 'x', sizeof(out));
	jrnl_getstr(&d, out, sizeof(out));
	assert_true(d.bad);
	assert_string_equal(out, "");
	/* bad is sticky: the next one, though fine, is not read */
	jrnl_getstr(&d, out, sizeof(out));
	assert_true(d.bad);
	assert_string_equal(out, "");
	/* one byte of room more and it goes */
	{
		char out9[9];

		d = (struct jrnl_dec){ buf, e.len, 0, false };
		jrnl_getstr(&d, out9, sizeof(out9));
		assert_false(d.bad);
		assert_string_equal(out9, "12345678");
	}
	/* a length that claims more than the payload holds */
	buf[0] = 0xff;
	buf[1] = 0xff;
	d = (struct jrnl_dec){ buf, e.len, 0, false };
	jrnl_getstr(&d, out, sizeof(out));
	assert_true(d.bad);
	assert_string_equal(out, "");
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_vectors),
		cmocka_unit_test(test_crc_pieces),
		cmocka_unit_test(test_rec_size),
		cmocka_unit_test(test_hdr_layout),
		cmocka_unit_test(test_hand_built),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_cut_short),
		cmocka_unit_test(test_zeros),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_bad_type),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_unchecked_bytes),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_put_bytes),
		cmocka_unit_test(test_put_overflow),
		cmocka_unit_test(test_putstr_limit),
		cmocka_unit_test(test_get_round_trip),
		cmocka_unit_test(test_get_bytes),
		cmocka_unit_test(test_get_truncated),
		cmocka_unit_test(test_getstr_too_long),
	};

	return tu_run("jrnl_rec", tests, ARRAY_SIZE(tests), NULL, NULL);
}
