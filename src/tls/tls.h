/*
 * tls.h — the TLS part: the only code that calls mbedtls_* or psa_*.
 *
 * - Credentials and settings (tls_ctx.c): each virtual server's
 *   certificate chain and key (PEM, RSA or ECDSA) and the outbound
 *   configurations (without verification, or verifying against a CA
 *   bundle) are loaded into the configuration object (struct conf), so a
 *   configuration built by a reload carries its own.
 * - Connections (tls_conn.c): a struct tls_conn from a fixed pool
 *   (CONFIG_POOL_TLS) runs a non-blocking handshake, reads and writes over
 *   a file descriptor. Results are bytes, -EAGAIN with *want set to
 *   EV_READ or EV_WRITE, or a negative errno; mbedTLS's errors are
 *   converted here and never leave the part.
 * - TLS 1.2 and 1.3 only, ECDHE with AES-GCM or ChaCha20-Poly1305, no
 *   renegotiation, no session resumption.
 * - Memory: mbedTLS allocates from a heap of its own, reserved in the
 *   start-up arena and sized from the pool (tls_init), never from malloc.
 */
#ifndef TERN_TLS_H
#define TERN_TLS_H

#include "conf/conf.h"
#include "core/core.h"

struct tls_conn;

/* "mbedTLS 3.6.6" */
const char *tls_library_version(void);
/* A known-answer check of the linked library (SHA-256 of "abc"). */
bool tls_selftest(void);

/*
 * The heap (from the arena), the random generator, PSA crypto and the
 * connection pool. Once, before any other call of this part (the first
 * tls_conf_load() does it).
 */
int tls_init(void);

#if ENABLE_TLS
/* What tls_init() takes from the start-up arena. */
size_t tls_arena_size(void);
/*
 * Load what the configuration names: each server's certificate and key,
 * the outbound settings and CA bundles. A server whose certificate cannot
 * be loaded keeps running without STARTTLS: the reason is logged as a
 * warning ("FILE:LINE: warning: ..."). Returns the number of warnings.
 */
int tls_conf_load(struct conf *c);
/* Release what tls_conf_load() loaded into c. */
void tls_conf_unload(struct conf *c);
/* TLS connections in use (handshakes included), for ternctl stats */
uint32_t tls_conn_used(void);
#else
static inline size_t
tls_arena_size(void)
{
	return 0;
}
static inline int
tls_conf_load(struct conf *c)
{
	return 0;
}
static inline void
tls_conf_unload(struct conf *c)
{
}
static inline uint32_t
tls_conn_used(void)
{
	return 0;
}
#endif
/* Does the server have a usable certificate (STARTTLS offered)? */
bool tls_server_ready(const struct conf_server *s);

/* An inbound connection on fd (STARTTLS answered); -ENOMEM: pool empty. */
int tls_conn_accept(const struct conf_server *s, int fd, struct tls_conn **out);
/*
 * An outbound connection on fd. host: the name to send (SNI) and, with
 * verification, to match the certificate against.
 */
int tls_conn_connect(const struct conf *c, const struct conf_connector *cn,
    int fd, const char *host, struct tls_conn **out);
/* 0 when done, -EAGAIN (*want: EV_READ/EV_WRITE), or a negative errno. */
int tls_conn_handshake(struct tls_conn *t, uint32_t *want);
/* > 0 bytes, 0 at the end (close_notify or EOF), -EAGAIN, -errno. */
ssize_t tls_conn_read(struct tls_conn *t, void *buf, size_t n, uint32_t *want);
/*
 * Bytes written (<= n), -EAGAIN or -errno. After -EAGAIN call again with
 * the same data at the front of buf (more may follow it).
 */
ssize_t
tls_conn_write(struct tls_conn *t, const void *buf, size_t n, uint32_t *want);
/* Decrypted input is buffered: read again without waiting for the fd. */
bool tls_conn_pending(const struct tls_conn *t);
/* Best effort close_notify, then the connection goes back to the pool. */
void tls_conn_free(struct tls_conn *t, bool notify);
/* "TLSv1.3", "TLS_AES_256_GCM_SHA384" */
const char *tls_conn_version(const struct tls_conn *t);
const char *tls_conn_cipher(const struct tls_conn *t);
/* Why the handshake failed, for the log ("certificate not trusted"). */
const char *tls_conn_error(const struct tls_conn *t);
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
