/*
 * tls_ctx.c — TLS settings: mbedTLS's heap, the random generator, and the
 * credentials a configuration names. Each virtual server with `tls cert
 * FILE key FILE` gets a server configuration holding its chain and key;
 * each connector an outbound one (no verification, or verification
 * against its CA bundle and the peer's host name), and the configuration
 * a default outbound one for mail routed without a connector. They hang
 * off the struct conf they were loaded for, so a reload loads its own.
 *
 * Invariants: only TLS 1.2 (RFC 5246) and 1.3 (RFC 8446); ECDHE over
 * x25519, P-256, P-384; AEAD suites only; no renegotiation (none is
 * compiled in); mbedTLS allocates only from tls_heap, a block of the
 * start-up arena (MBEDTLS_MEMORY_BUFFER_ALLOC_C), never from malloc.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/bignum.h>
#include <mbedtls/build_info.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/memory_buffer_alloc.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "tls/tls_int.h"

#define TLS_FILE_MAX (4 * 1024 * 1024) /* a CA bundle is ~200 KiB */
#define TLS_NOMEM "out of TLS memory (CONFIG_TLS_CRED_KB)"

struct tls_cred {
	mbedtls_ssl_config conf;
	mbedtls_x509_crt chain; /* server: own chain; client: CA bundle */
	mbedtls_pk_context key;
	uint32_t refs; /* connectors sharing one CA bundle */
	bool verify;
};

struct tls_global tls_g;

static const int tls_suites[] = {
	MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
	MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	0,
};

static const uint16_t tls_groups[] = {
	MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
	MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
	MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1,
	MBEDTLS_SSL_IANA_TLS_GROUP_NONE,
};

size_t
tls_arena_size(void)
{
	return (size_t)CONFIG_POOL_TLS * CONFIG_TLS_SESSION_KB * 1024 +
	    (size_t)CONFIG_TLS_CRED_KB * 1024 +
	    (size_t)CONFIG_POOL_TLS * (sizeof(mbedtls_ssl_context) + 256);
}

/*
 * mbedtls_memory_buffer_alloc_init() zeroes the whole heap, which would
 * make every page of it resident at start. The arena's pages were zero
 * already and only the first block header (at the start) matters: give
 * the rest back, so pages become resident only as connections use them.
 */
static void
tls_heap_untouch(char *mem, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t from = ((uintptr_t)mem + 256 + (uintptr_t)page - 1) &
	    ~((uintptr_t)page - 1);
	uintptr_t to = ((uintptr_t)mem + len) & ~((uintptr_t)page - 1);

	if (page > 0 && to > from) {
		(void)madvise((void *)from, to - from, MADV_DONTNEED);
	}
}

int
tls_init(void)
{
	size_t heap = (size_t)CONFIG_POOL_TLS * CONFIG_TLS_SESSION_KB * 1024 +
	    (size_t)CONFIG_TLS_CRED_KB * 1024;
	char *mem;
	int rc;

	if (tls_g.ready) {
		return 0;
	}
	/* everything mbedTLS allocates comes from here (no malloc) */
	mem = arena_alloc(heap);
	mbedtls_memory_buffer_alloc_init((unsigned char *)mem, heap);
	tls_heap_untouch(mem, heap);
	mbedtls_entropy_init(&tls_g.entropy);
	mbedtls_ctr_drbg_init(&tls_g.drbg);
	rc = mbedtls_ctr_drbg_seed(&tls_g.drbg, mbedtls_entropy_func,
	    &tls_g.entropy, (const unsigned char *)"tern", 4);
	if (rc != 0 || psa_crypto_init() != PSA_SUCCESS) {
		return -EIO;
	}
	rc = tls_conn_pool_init();
	if (rc < 0) {
		return rc;
	}
	tls_g.ready = true;
	return 0;
}

/* The whole file, NUL-terminated (PEM parsing wants the NUL counted). */
static int
tls_read_file(const char *path, unsigned char **data, size_t *len)
{
	struct stat st;
	ssize_t r;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0) {
		return -errno;
	}
	if (fstat(fd, &st) < 0 || st.st_size > TLS_FILE_MAX) {
		close(fd);
		return -EFBIG;
	}
	*data = mbedtls_calloc(1, (size_t)st.st_size + 1);
	if (*data == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		r = read(fd, *data + got, (size_t)st.st_size - got);
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			break;
		}
		got += (size_t)r;
	}
	close(fd);
	if (rc < 0) {
		mbedtls_free(*data);
		return rc;
	}
	*len = got + 1;
	return 0;
}

static void
tls_cred_free(struct tls_cred *t)
{
	if (t == NULL || --t->refs > 0) {
		return;
	}
	mbedtls_ssl_config_free(&t->conf);
	mbedtls_x509_crt_free(&t->chain);
	mbedtls_pk_free(&t->key);
	mbedtls_free(t);
}

static struct tls_cred *
tls_cred_new(int endpoint)
{
	struct tls_cred *t = mbedtls_calloc(1, sizeof(*t));

	if (t == NULL) {
		return NULL;
	}
	t->refs = 1;
	mbedtls_ssl_config_init(&t->conf);
	mbedtls_x509_crt_init(&t->chain);
	mbedtls_pk_init(&t->key);
	if (mbedtls_ssl_config_defaults(&t->conf, endpoint,
	        MBEDTLS_SSL_TRANSPORT_STREAM,
	        MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
		tls_cred_free(t);
		return NULL;
	}
	mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &tls_g.drbg);
	mbedtls_ssl_conf_min_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_ciphersuites(&t->conf, tls_suites);
	mbedtls_ssl_conf_groups(&t->conf, tls_groups);
	mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_NONE);
	return t;
}

/* A certificate chain (PEM) or a key into t; a reason on failure. */
static const char *
tls_load_pem(struct tls_cred *t, const char *path, bool key)
{
	unsigned char *data = NULL;
	size_t len = 0;
	int rc;

	rc = tls_read_file(path, &data, &len);
	if (rc < 0) {
		return rc == -ENOENT ? "no such file" :
		    rc == -EACCES    ? "permission denied" :
		    rc == -ENOMEM    ? TLS_NOMEM :
		                       "cannot be read";
	}
	if (key) {
		rc = mbedtls_pk_parse_key(&t->key, data, len, NULL, 0,
		    mbedtls_ctr_drbg_random, &tls_g.drbg);
	} else {
		rc = mbedtls_x509_crt_parse(&t->chain, data, len);
	}
	mbedtls_platform_zeroize(data, len);
	mbedtls_free(data);
	if (rc == MBEDTLS_ERR_X509_ALLOC_FAILED ||
	    rc == MBEDTLS_ERR_PK_ALLOC_FAILED ||
	    rc == MBEDTLS_ERR_MPI_ALLOC_FAILED) {
		return TLS_NOMEM; /* a reload loads beside the running one */
	}
	if (key && rc != 0) {
		return "not a PEM private key (RSA or EC, unencrypted)";
	}
	if (!key && rc < 0) {
		return "not a PEM certificate";
	}
	return NULL;
}

/* One virtual server's credentials, or a warning and none. */
static int
tls_server_load(const struct conf *c, struct conf_server *s)
{
	struct tls_cred *t;
	const char *why = NULL, *what = s->tls_cert;

	if (s->tls_cert == NULL && s->tls_require) {
		log_warn("%s:%d: warning: server %s: tls require yes without "
		         "tls "
		         "cert: every MAIL gets 530",
		    c->source, s->tls_line, s->name);
		return 1;
	}
	if (s->tls_cert == NULL) {
		return 0;
	}
	t = tls_cred_new(MBEDTLS_SSL_IS_SERVER);
	if (t == NULL) {
		why = TLS_NOMEM;
	}
	if (why == NULL) {
		why = tls_load_pem(t, s->tls_cert, false);
	}
	if (why == NULL) {
		what = s->tls_key;
		why = tls_load_pem(t, s->tls_key, true);
	}
	if (why == NULL &&
	    mbedtls_pk_check_pair(&t->chain.pk, &t->key,
	        mbedtls_ctr_drbg_random, &tls_g.drbg) != 0) {
		why = "the key does not match the certificate";
	}
	if (why == NULL &&
	    mbedtls_ssl_conf_own_cert(&t->conf, &t->chain, &t->key) != 0) {
		why = "cannot be used";
	}
	if (why != NULL) {
		log_warn("%s:%d: warning: server %s: tls %s: %s; STARTTLS not "
		         "offered",
		    c->source, s->tls_line, s->name, what, why);
		tls_cred_free(t);
		return 1;
	}
	s->tls_cred = t;
	return 0;
}

/*
 * An outbound configuration. Without verification the peer's certificate
 * is not checked (opportunistic TLS protects against passive listeners
 * only, RFC 7435); with it, the chain must lead to the CA bundle and the
 * certificate must name the host (RFC 6125), set per connection.
 */
static int
tls_client_load(const struct conf *c, const char *ca, int line,
    struct tls_cred **out)
{
	struct tls_cred *t = tls_cred_new(MBEDTLS_SSL_IS_CLIENT);
	const char *why = NULL;

	if (t == NULL) {
		why = TLS_NOMEM;
	} else if (ca != NULL) {
		why = tls_load_pem(t, ca, false);
		if (why == NULL) {
			mbedtls_ssl_conf_ca_chain(&t->conf, &t->chain, NULL);
			mbedtls_ssl_conf_authmode(&t->conf,
			    MBEDTLS_SSL_VERIFY_REQUIRED);
			t->verify = true;
		}
	}
	if (why != NULL) {
		/* verify without its bundle: every delivery waits (4.7.5) */
		log_warn("%s:%d: warning: tls ca %s: %s; deliveries that "
		         "need verification are deferred",
		    c->source, line, ca != NULL ? ca : "", why);
		tls_cred_free(t);
		return 1;
	}
	*out = t;
	return 0;
}

/* An earlier connector's verifying configuration with the same bundle. */
static struct tls_cred *
tls_ca_shared(struct conf *c, uint32_t upto, const char *ca)
{
	uint32_t k;

	for (k = 0; k < upto; k++) {
		struct conf_connector *cn = &c->connectors[k];

		if (cn->tls == CONF_TLS_VERIFY && cn->tls_cred != NULL &&
		    strcmp(cn->tls_ca, ca) == 0) {
			cn->tls_cred->refs++;
			return cn->tls_cred;
		}
	}
	return NULL;
}

int
tls_conf_load(struct conf *c)
{
	struct conf_connector *cn;
	uint32_t k;
	int warnings = 0;

	if (tls_init() < 0) {
		log_warn("TLS cannot start: no STARTTLS");
		return 1;
	}
	for (k = 0; k < c->nservers; k++) {
		warnings += tls_server_load(c, &c->servers[k]);
	}
	warnings += tls_client_load(c, NULL, 0, &c->tls_cred);
	for (k = 0; k < c->nconnectors; k++) {
		cn = &c->connectors[k];
		if (cn->tls == CONF_TLS_NONE) {
			continue;
		}
		if (cn->tls == CONF_TLS_VERIFY) {
			cn->tls_cred = tls_ca_shared(c, k, cn->tls_ca);
		}
		if (cn->tls_cred != NULL) {
			continue; /* one parsed copy of a CA bundle */
		}
		warnings += tls_client_load(c,
		    cn->tls == CONF_TLS_VERIFY ? cn->tls_ca : NULL,
		    cn->tls_line, &cn->tls_cred);
	}
	return warnings;
}

void
tls_conf_unload(struct conf *c)
{
	uint32_t k;

	for (k = 0; k < c->nservers; k++) {
		tls_cred_free(c->servers[k].tls_cred);
		c->servers[k].tls_cred = NULL;
	}
	for (k = 0; k < c->nconnectors; k++) {
		tls_cred_free(c->connectors[k].tls_cred);
		c->connectors[k].tls_cred = NULL;
	}
	tls_cred_free(c->tls_cred);
	c->tls_cred = NULL;
}

bool
tls_server_ready(const struct conf_server *s)
{
	return s->tls_cred != NULL;
}

const mbedtls_ssl_config *
tls_cred_conf(const struct tls_cred *t)
{
	return &t->conf;
}

bool
tls_cred_verifies(const struct tls_cred *t)
{
	return t->verify;
}
