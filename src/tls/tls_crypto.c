/*
 * tls_crypto.c — small wrappers over mbedTLS's hashes for the SASL part
 * (src/sasl/), so that every mbedtls_* call stays in src/tls/: MD5,
 * SHA-256, SHA-512, HMAC-MD5 (also split at the key, RFC 2104, for the
 * CRAM-MD5 secrets of the user database), HMAC-SHA-256, PBKDF2-HMAC-
 * SHA-256 (RFC 8018), a constant-time comparison and a secure zero.
 *
 * The hash functions cannot fail on valid arguments with the
 * configuration of mbedtls_config.h (software implementations); a failure
 * there is a broken build, so it panics.
 */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS /* the MD5 state for HMAC contexts */
#include <string.h>

#include <mbedtls/constant_time.h>
#include <mbedtls/md.h>
#include <mbedtls/md5.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>
#include "tls/tls.h"

_Static_assert(sizeof(mbedtls_sha512_context) <= sizeof(struct tls_sha512),
    "struct tls_sha512 too small");

static void
tls_crypto_check(int rc, const char *what)
{
	if (rc != 0) {
		panic("mbedtls %s: -0x%04x", what, (unsigned)-rc);
	}
}

void
tls_md5(const void *data, size_t len, uint8_t out[TLS_MD5_LEN])
{
	tls_crypto_check(mbedtls_md5(data, len, out), "md5");
}

void
tls_sha256(const void *data, size_t len, uint8_t out[TLS_SHA256_LEN])
{
	tls_crypto_check(mbedtls_sha256(data, len, out, 0), "sha256");
}

void
tls_sha512_start(struct tls_sha512 *h)
{
	mbedtls_sha512_context *c = (mbedtls_sha512_context *)(void *)h;

	mbedtls_sha512_init(c);
	tls_crypto_check(mbedtls_sha512_starts(c, 0), "sha512");
}

void
tls_sha512_update(struct tls_sha512 *h, const void *data, size_t len)
{
	mbedtls_sha512_context *c = (mbedtls_sha512_context *)(void *)h;

	tls_crypto_check(mbedtls_sha512_update(c, data, len), "sha512");
}

void
tls_sha512_finish(struct tls_sha512 *h, uint8_t out[TLS_SHA512_LEN])
{
	mbedtls_sha512_context *c = (mbedtls_sha512_context *)(void *)h;

	tls_crypto_check(mbedtls_sha512_finish(c, out), "sha512");
	mbedtls_sha512_free(c);
}

static void
tls_hmac(mbedtls_md_type_t t, const void *key, size_t klen, const void *data,
    size_t len, uint8_t *out)
{
	tls_crypto_check(mbedtls_md_hmac(mbedtls_md_info_from_type(t), key,
	                     klen, data, len, out),
	    "hmac");
}

void
tls_hmac_sha256(const void *key, size_t klen, const void *data, size_t len,
    uint8_t out[TLS_SHA256_LEN])
{
	tls_hmac(MBEDTLS_MD_SHA256, key, klen, data, len, out);
}

void
tls_hmac_md5(const void *key, size_t klen, const void *data, size_t len,
    uint8_t out[TLS_MD5_LEN])
{
	tls_hmac(MBEDTLS_MD_MD5, key, klen, data, len, out);
}

/* RFC 2104: K' = K (or MD5(K) when longer than a block), padded to 64. */
void
tls_hmac_md5_ctx(const void *key, size_t klen, uint32_t ctx[8])
{
	uint8_t k[64] = { 0 }, pad[64];
	mbedtls_md5_context m;
	size_t i;
	int half;

	if (klen > sizeof(k)) {
		tls_md5(key, klen, k);
	} else {
		memcpy(k, key, klen);
	}
	for (half = 0; half < 2; half++) {
		for (i = 0; i < sizeof(pad); i++) {
			pad[i] = (uint8_t)(k[i] ^ (half == 0 ? 0x36 : 0x5c));
		}
		mbedtls_md5_init(&m);
		tls_crypto_check(mbedtls_md5_starts(&m), "md5");
		tls_crypto_check(mbedtls_md5_update(&m, pad, sizeof(pad)),
		    "md5");
		memcpy(ctx + 4 * half, m.state, sizeof(m.state));
		mbedtls_md5_free(&m);
	}
	tls_zero(k, sizeof(k));
	tls_zero(pad, sizeof(pad));
}

static void
tls_md5_resume(const uint32_t state[4], const void *data, size_t len,
    uint8_t out[TLS_MD5_LEN])
{
	mbedtls_md5_context m;

	mbedtls_md5_init(&m);
	tls_crypto_check(mbedtls_md5_starts(&m), "md5");
	memcpy(m.state, state, sizeof(m.state));
	m.total[0] = 64; /* one block (the padded key) is in the state */
	tls_crypto_check(mbedtls_md5_update(&m, data, len), "md5");
	tls_crypto_check(mbedtls_md5_finish(&m, out), "md5");
	mbedtls_md5_free(&m);
}

void
tls_hmac_md5_resume(const uint32_t ctx[8], const void *data, size_t len,
    uint8_t out[TLS_MD5_LEN])
{
	uint8_t inner[TLS_MD5_LEN];

	tls_md5_resume(ctx, data, len, inner);
	tls_md5_resume(ctx + 4, inner, sizeof(inner), out);
}

int
tls_pbkdf2_sha256(const void *pw, size_t pwlen, const void *salt, size_t slen,
    uint32_t iter, uint8_t *out, size_t outlen)
{
	if (iter == 0 || outlen > UINT32_MAX) {
		return -EINVAL;
	}
	return mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA256, pw, pwlen, salt,
	           slen, iter, (uint32_t)outlen, out) == 0 ?
	    0 :
	    -EINVAL;
}

bool
tls_ct_equal(const void *a, const void *b, size_t len)
{
	return mbedtls_ct_memcmp(a, b, len) == 0;
}

void
tls_zero(void *p, size_t len)
{
	mbedtls_platform_zeroize(p, len);
}
