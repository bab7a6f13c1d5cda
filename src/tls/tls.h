/*
 * tls.h — the TLS part: the only code that calls mbedtls_* or psa_*.
 * For now it proves the build pipeline (mbedTLS from Debian's source,
 * configured from Kconfig, linked statically) and gives mbedTLS its
 * entropy from getrandom(); STARTTLS arrives with its own issue.
 */
#ifndef TERN_TLS_H
#define TERN_TLS_H

#include "core/core.h"

/* "mbedTLS 3.6.6" */
const char *tls_library_version(void);
/* A known-answer check of the linked library (SHA-256 of "abc"). */
bool tls_selftest(void);

/* ---- tls_crypto.c: hashes for SASL ------------------------------------ */

#define TLS_MD5_LEN 16
#define TLS_SHA256_LEN 32
#define TLS_SHA512_LEN 64

/* An incremental SHA-512 (SHA-crypt needs many updates); opaque. */
struct tls_sha512 {
	uint64_t opaque[40];
};

void tls_md5(const void *data, size_t len, uint8_t out[TLS_MD5_LEN]);
void tls_sha256(const void *data, size_t len, uint8_t out[TLS_SHA256_LEN]);
void tls_sha512_start(struct tls_sha512 *h);
void tls_sha512_update(struct tls_sha512 *h, const void *data, size_t len);
/* Writes the digest and wipes the state. */
void tls_sha512_finish(struct tls_sha512 *h, uint8_t out[TLS_SHA512_LEN]);
void tls_hmac_sha256(const void *key, size_t klen, const void *data, size_t len,
    uint8_t out[TLS_SHA256_LEN]);
void tls_hmac_md5(const void *key, size_t klen, const void *data, size_t len,
    uint8_t out[TLS_MD5_LEN]);
/*
 * HMAC-MD5 split at the key (RFC 2104, as CRAM-MD5 secrets are kept): the
 * MD5 states after the inner and outer padded key blocks. The context
 * lets the server check a CRAM-MD5 digest without the password.
 */
void tls_hmac_md5_ctx(const void *key, size_t klen, uint32_t ctx[8]);
void tls_hmac_md5_resume(const uint32_t ctx[8], const void *data, size_t len,
    uint8_t out[TLS_MD5_LEN]);
/* PBKDF2-HMAC-SHA-256 (RFC 8018 5.2); 0 or -EINVAL. */
int tls_pbkdf2_sha256(const void *pw, size_t pwlen, const void *salt,
    size_t slen, uint32_t iter, uint8_t *out, size_t outlen);
/* Constant-time equality of two byte strings of the same length. */
bool tls_ct_equal(const void *a, const void *b, size_t len);
/* Zero memory in a way the compiler cannot drop (secrets). */
void tls_zero(void *p, size_t len);

#endif
