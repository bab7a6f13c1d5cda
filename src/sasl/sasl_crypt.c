/*
 * sasl_crypt.c — SHA-crypt with SHA-512 ("$6$", Ulrich Drepper, "Unix
 * crypt using SHA-256 and SHA-512", 2007), the password hash of the user
 * database for PLAIN and LOGIN. Its own code over tls_sha512_*: libcrypt
 * is not linked (static musl). Salt at most 16 characters; rounds from
 * 1000 to 999999999, 5000 when not given (the spec's defaults).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sasl/sasl.h"
#include "tls/tls.h"

#define SASL_CRYPT_SALT_MAX 16

static const char sasl_crypt_b64[] =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* The setting "$6$[rounds=N$]salt[$...]": rounds, salt, explicit? */
static int
sasl_crypt_setting(const char *s, uint32_t *rounds, const char **salt,
    size_t *slen, bool *explicit_rounds)
{
	if (strncmp(s, "$6$", 3) != 0) {
		return -EINVAL;
	}
	s += 3;
	*rounds = SASL_CRYPT_ROUNDS;
	*explicit_rounds = false;
	if (strncmp(s, "rounds=", 7) == 0) {
		char *end;
		unsigned long v = strtoul(s + 7, &end, 10);

		if (end == s + 7 || *end != '$') {
			return -EINVAL;
		}
		*rounds = v < 1000 ? 1000 :
		    v > 999999999  ? 999999999 :
		                     (uint32_t)v;
		*explicit_rounds = true;
		s = end + 1;
	}
	*salt = s;
	for (*slen = 0;
	     s[*slen] != '\0' && s[*slen] != '$' && *slen < SASL_CRYPT_SALT_MAX;
	     (*slen)++) {
		;
	}
	return 0;
}

/* Add "src" repeated to cover len bytes (the P' and S' sequences). */
static void
sasl_crypt_repeat(struct tls_sha512 *h, const uint8_t *src, size_t len)
{
	for (; len >= 64; len -= 64) {
		tls_sha512_update(h, src, 64);
	}
	tls_sha512_update(h, src, len);
}

static void
sasl_crypt_digest(const char *pw, size_t pwlen, const char *salt, size_t slen,
    uint32_t rounds, uint8_t c[64])
{
	struct tls_sha512 h;
	uint8_t b[64], dp[64], ds[64];
	size_t i;
	uint32_t r;

	tls_sha512_start(&h); /* B = H(P S P) */
	tls_sha512_update(&h, pw, pwlen);
	tls_sha512_update(&h, salt, slen);
	tls_sha512_update(&h, pw, pwlen);
	tls_sha512_finish(&h, b);
	tls_sha512_start(&h); /* A */
	tls_sha512_update(&h, pw, pwlen);
	tls_sha512_update(&h, salt, slen);
	sasl_crypt_repeat(&h, b, pwlen);
	for (i = pwlen; i > 0; i >>= 1) {
		if (i & 1) {
			tls_sha512_update(&h, b, 64);
		} else {
			tls_sha512_update(&h, pw, pwlen);
		}
	}
	tls_sha512_finish(&h, c);
	tls_sha512_start(&h); /* DP = H(P repeated |P| times) */
	for (i = 0; i < pwlen; i++) {
		tls_sha512_update(&h, pw, pwlen);
	}
	tls_sha512_finish(&h, dp);
	tls_sha512_start(&h); /* DS = H(S repeated 16 + A[0] times) */
	for (i = 0; i < 16u + c[0]; i++) {
		tls_sha512_update(&h, salt, slen);
	}
	tls_sha512_finish(&h, ds);
	for (r = 0; r < rounds; r++) {
		tls_sha512_start(&h);
		if (r & 1) {
			sasl_crypt_repeat(&h, dp, pwlen);
		} else {
			tls_sha512_update(&h, c, 64);
		}
		if (r % 3 != 0) {
			sasl_crypt_repeat(&h, ds, slen);
		}
		if (r % 7 != 0) {
			sasl_crypt_repeat(&h, dp, pwlen);
		}
		if (r & 1) {
			tls_sha512_update(&h, c, 64);
		} else {
			sasl_crypt_repeat(&h, dp, pwlen);
		}
		tls_sha512_finish(&h, c);
	}
	tls_zero(b, sizeof(b));
	tls_zero(dp, sizeof(dp));
	tls_zero(ds, sizeof(ds));
}

static const uint8_t sasl_crypt_order[21][3] = { { 0, 21, 42 }, { 22, 43, 1 },
	{ 44, 2, 23 }, { 3, 24, 45 }, { 25, 46, 4 }, { 47, 5, 26 },
	{ 6, 27, 48 }, { 28, 49, 7 }, { 50, 8, 29 }, { 9, 30, 51 },
	{ 31, 52, 10 }, { 53, 11, 32 }, { 12, 33, 54 }, { 34, 55, 13 },
	{ 56, 14, 35 }, { 15, 36, 57 }, { 37, 58, 16 }, { 59, 17, 38 },
	{ 18, 39, 60 }, { 40, 61, 19 }, { 62, 20, 41 } };

static void
sasl_crypt_enc(char **o, uint8_t b2, uint8_t b1, uint8_t b0, int n)
{
	uint32_t w = ((uint32_t)b2 << 16) | ((uint32_t)b1 << 8) | b0;

	while (n-- > 0) {
		*(*o)++ = sasl_crypt_b64[w & 0x3f];
		w >>= 6;
	}
}

int
sasl_crypt_sha512(const char *pw, size_t pwlen, const char *setting, char *out,
    size_t size)
{
	const char *salt;
	size_t slen;
	uint32_t rounds;
	bool explicit_rounds;
	uint8_t c[64];
	char hash[90], *o = hash;
	int i, n;

	if (sasl_crypt_setting(setting, &rounds, &salt, &slen,
	        &explicit_rounds) < 0) {
		return -EINVAL;
	}
	sasl_crypt_digest(pw, pwlen, salt, slen, rounds, c);
	for (i = 0; i < 21; i++) { /* the spec's byte order */
		sasl_crypt_enc(&o, c[sasl_crypt_order[i][0]],
		    c[sasl_crypt_order[i][1]], c[sasl_crypt_order[i][2]], 4);
	}
	sasl_crypt_enc(&o, 0, 0, c[63], 2);
	*o = '\0';
	tls_zero(c, sizeof(c));
	if (explicit_rounds) {
		n = snprintf(out, size, "$6$rounds=%u$%.*s$%s", rounds,
		    (int)slen, salt, hash);
	} else {
		n = snprintf(out, size, "$6$%.*s$%s", (int)slen, salt, hash);
	}
	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

bool
sasl_crypt_check(const char *pw, size_t pwlen, const char *stored)
{
	char got[128];
	size_t n = strlen(stored);
	bool ok;

	if (n >= sizeof(got) ||
	    sasl_crypt_sha512(pw, pwlen, stored, got, sizeof(got)) < 0) {
		return false;
	}
	ok = strlen(got) == n && tls_ct_equal(got, stored, n);
	tls_zero(got, sizeof(got));
	return ok;
}
