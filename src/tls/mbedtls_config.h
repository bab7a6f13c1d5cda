/*
 * mbedtls_config.h - tern's mbedTLS 3.6 configuration.
 *
 * Selected with -DMBEDTLS_CONFIG_FILE='<mbedtls_config.h>' -Isrc/tls (see
 * tools/deps.mk), for the library build and for tern's own src/tls/ files
 * alike, so both see the same structures.  The angle brackets matter:
 * "mbedtls_config.h" in quotes would be looked up first next to
 * mbedtls/build_info.h and find mbedTLS's own default config there.
 *
 * A small static build for an MTA:
 * - TLS 1.2 and 1.3, server and client (STARTTLS both ways, RFC 3207;
 *   SMTP over TLS, RFC 8314), ECDHE over x25519, secp256r1 and secp384r1,
 *   AES-GCM and ChaCha20-Poly1305 only: no CBC, no static RSA key exchange.
 * - RSA (PKCS#1 v1.5 and PSS) and ECDSA certificates, X.509 and PEM parsing
 *   from memory: no file system access (MBEDTLS_FS_IO off), no sockets (tern
 *   does its own I/O through BIO callbacks), no threads, no timing module.
 * - Hashes for SASL: MD5 (CRAM-MD5), SHA-1/256/512 with HMAC, PBKDF2 (SCRAM),
 *   HKDF, base64.
 * - Entropy comes only from mbedtls_hardware_poll(), which tern implements
 *   over getrandom() (src/tls/tls_entropy.c): on musl mbedTLS would otherwise
 *   read /dev/random, which a chroot or a FROM-scratch container lacks.
 *
 * mbedtls/check_config.h is included by mbedtls/build_info.h after this file
 * (3.x), so inconsistent choices fail the build; it is not included here.
 *
 * Kconfig: tern's generated autoconf.h (#define CONFIG_X 1) is included:
 * CONFIG_TLS_OUT_KB sizes the output records.  Changing it rebuilds the
 * library (tools/deps.mk).
 */
#ifndef TERN_MBEDTLS_CONFIG_H
#define TERN_MBEDTLS_CONFIG_H

#include "autoconf.h"

/* System support */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE /* X.509 validity periods */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY /* lets tern hook calloc/free */
/* tern: every mbedTLS allocation from one block of the start-up arena */
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
#define MBEDTLS_MEMORY_ALIGN_MULTIPLE 16 /* its default 4 misaligns structs */
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_ENTROPY_HARDWARE_ALT /* tern: mbedtls_hardware_poll() */

/* Random numbers: entropy pool feeding CTR_DRBG (PSA uses the same) */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C

/* Big numbers, public keys */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_OID_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21 /* RSASSA-PSS: TLS 1.3 rsa_pss_rsae */
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECDSA_DETERMINISTIC /* RFC 6979: no RNG in signatures */
#define MBEDTLS_HMAC_DRBG_C /* needed by the line above */

/* Symmetric ciphers: AEAD only */
#define MBEDTLS_CIPHER_C
#define MBEDTLS_AES_C
#define MBEDTLS_AESNI_C /* x86_64 AES-NI, runtime detected */
#define MBEDTLS_AES_ROM_TABLES /* tables in .rodata, not RAM */
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C

/* Hashes, MACs, key derivation */
#define MBEDTLS_MD_C /* also HMAC: mbedtls_md_hmac*() */
#define MBEDTLS_MD5_C /* CRAM-MD5 (RFC 2195) */
#define MBEDTLS_SHA1_C /* SCRAM-SHA-1, old certificates */
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C
#define MBEDTLS_HKDF_C /* TLS 1.3 key schedule */
#define MBEDTLS_PKCS5_C /* PBKDF2 (SCRAM, RFC 5802) */
#define MBEDTLS_BASE64_C

/* PSA crypto: TLS 1.3 is built on it; call psa_crypto_init() at start */
#define MBEDTLS_PSA_CRYPTO_C
/* key slots grow with the handshakes in flight (from tern's TLS heap) */
#define MBEDTLS_PSA_KEY_STORE_DYNAMIC

/* X.509 */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT /* else "no suitable certificate" */
#define MBEDTLS_PEM_PARSE_C

/* TLS */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE /* middleboxes (RFC 8446 D.4) */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET /* RFC 7627 */
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE /* TLS 1.3 needs it */
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES
/*
 * Not here, on purpose: MBEDTLS_SSL_RENEGOTIATION (no renegotiation),
 * MBEDTLS_SSL_SESSION_TICKETS and the session cache (no resumption), CBC
 * and static-RSA suites. Input records stay 16 KiB (a peer may send
 * them); output records are as large as Kconfig's TLS_OUT_KB, which the
 * certificate chain must fit in.
 */
#ifdef CONFIG_TLS_OUT_KB
#define MBEDTLS_SSL_OUT_CONTENT_LEN (CONFIG_TLS_OUT_KB * 1024)
#endif

/* Diagnostics: mbedtls_strerror() for log lines, version for the banner */
#define MBEDTLS_ERROR_C
#define MBEDTLS_VERSION_C

#endif /* TERN_MBEDTLS_CONFIG_H */
