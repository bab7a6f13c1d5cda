/*
 * tls_conn.c — one TLS connection over a non-blocking file descriptor:
 * the handshake, reads and writes, from a fixed pool (CONFIG_POOL_TLS).
 *
 * mbedTLS reads and writes through the two callbacks below (net_read and
 * net_write: no SIGPIPE), so the caller's event loop stays in charge: a
 * call that cannot go on returns -EAGAIN and says whether it waits to
 * read or to write. mbedTLS errors become negative errno values here.
 *
 * Invariants: a write that returned -EAGAIN is repeated with the same
 * length (mbedTLS has part of that record queued already); after a read,
 * tls_conn_pending() tells whether decrypted bytes wait in mbedTLS's
 * buffer, which no readiness event would report.
 */
#include <stdio.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/x509_crt.h>

#include "net/net.h"
#include "tls/tls_int.h"

struct tls_conn {
	mbedtls_ssl_context ssl;
	int fd;
	size_t wpend; /* length of a write that returned -EAGAIN */
	bool setup;
	char err[96];
};

static struct pool tls_conns;

int
tls_conn_pool_init(void)
{
	return pool_init(&tls_conns, "tls", sizeof(struct tls_conn),
	    CONFIG_POOL_TLS);
}

uint32_t
tls_conn_used(void)
{
	return tls_g.ready ? pool_used(&tls_conns) : 0;
}

static int
tls_conn_send(void *ctx, const unsigned char *buf, size_t len)
{
	ssize_t w = net_write(((struct tls_conn *)ctx)->fd, buf, len);

	if (w == -EAGAIN) {
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	}
	return w < 0 ? MBEDTLS_ERR_NET_SEND_FAILED : (int)w;
}

static int
tls_conn_recv(void *ctx, unsigned char *buf, size_t len)
{
	ssize_t r = net_read(((struct tls_conn *)ctx)->fd, buf, len);

	if (r == -EAGAIN) {
		return MBEDTLS_ERR_SSL_WANT_READ;
	}
	if (r == -ECONNRESET) {
		return MBEDTLS_ERR_NET_CONN_RESET;
	}
	return r < 0 ? MBEDTLS_ERR_NET_RECV_FAILED : (int)r;
}

static int
tls_conn_new(const struct tls_cred *cred, int fd, struct tls_conn **out)
{
	struct tls_conn *t = pool_get(&tls_conns, NULL);

	if (t == NULL) {
		return -ENOMEM;
	}
	memset(t, 0, sizeof(*t));
	t->fd = fd;
	mbedtls_ssl_init(&t->ssl);
	if (mbedtls_ssl_setup(&t->ssl, tls_cred_conf(cred)) != 0) {
		mbedtls_ssl_free(&t->ssl);
		pool_put(&tls_conns, t);
		return -ENOMEM; /* the heap is short: like an empty pool */
	}
	t->setup = true;
	mbedtls_ssl_set_bio(&t->ssl, t, tls_conn_send, tls_conn_recv, NULL);
	*out = t;
	return 0;
}

int
tls_conn_accept(const struct conf_server *s, int fd, struct tls_conn **out)
{
	if (s->tls_cred == NULL) {
		return -ENOENT;
	}
	return tls_conn_new(s->tls_cred, fd, out);
}

int
tls_conn_connect(const struct conf *c, const struct conf_connector *cn, int fd,
    const char *host, struct tls_conn **out)
{
	const struct tls_cred *cred = cn != NULL ? cn->tls_cred : c->tls_cred;
	bool named = host != NULL && host[0] != '\0' && host[0] != '[';
	int rc;

	if (cred == NULL) {
		return -ENOENT; /* its CA bundle could not be loaded */
	}
	if (tls_cred_verifies(cred) && !named) {
		return -EINVAL; /* an address literal: no name to check */
	}
	rc = tls_conn_new(cred, fd, out);
	if (rc == 0 && named && mbedtls_ssl_set_hostname(&(*out)->ssl, host)) {
		tls_conn_free(*out, false);
		return -EINVAL;
	}
	return rc;
}

/* mbedTLS's error -> errno, and a reason for the log. */
static int
tls_conn_errno(struct tls_conn *t, int rc, uint32_t *want)
{
	uint32_t flags;

	switch (rc) {
	case MBEDTLS_ERR_SSL_WANT_READ:
		*want = EV_READ;
		return -EAGAIN;
	case MBEDTLS_ERR_SSL_WANT_WRITE:
		*want = EV_WRITE;
		return -EAGAIN;
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
	case MBEDTLS_ERR_SSL_CONN_EOF:
		str_copy(t->err, "connection closed", sizeof(t->err));
		return 0;
	case MBEDTLS_ERR_NET_CONN_RESET:
	case MBEDTLS_ERR_NET_RECV_FAILED:
	case MBEDTLS_ERR_NET_SEND_FAILED:
		str_copy(t->err, "connection lost", sizeof(t->err));
		return -ECONNRESET;
	case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
		flags = mbedtls_ssl_get_verify_result(&t->ssl);
		str_copy(t->err,
		    (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) ?
		        "certificate does not match the host name" :
		        (flags & MBEDTLS_X509_BADCERT_EXPIRED) ?
		        "certificate expired" :
		        "certificate not trusted",
		    sizeof(t->err));
		return -EPROTO;
	default:
		mbedtls_strerror(rc, t->err, sizeof(t->err));
		return -EPROTO;
	}
}

int
tls_conn_handshake(struct tls_conn *t, uint32_t *want)
{
	int rc = mbedtls_ssl_handshake(&t->ssl);

	if (rc == 0) {
		return 0;
	}
	rc = tls_conn_errno(t, rc, want);
	return rc == 0 ? -ECONNRESET : rc; /* EOF before the end: an error */
}

ssize_t
tls_conn_read(struct tls_conn *t, void *buf, size_t n, uint32_t *want)
{
	int rc = mbedtls_ssl_read(&t->ssl, buf, n);

	return rc >= 0 ? rc : tls_conn_errno(t, rc, want);
}

ssize_t
tls_conn_write(struct tls_conn *t, const void *buf, size_t n, uint32_t *want)
{
	int rc;

	if (t->wpend != 0) {
		n = MIN(n, t->wpend); /* the same record again */
	}
	rc = mbedtls_ssl_write(&t->ssl, buf, n);
	if (rc == MBEDTLS_ERR_SSL_WANT_WRITE ||
	    rc == MBEDTLS_ERR_SSL_WANT_READ) {
		t->wpend = n;
	} else {
		t->wpend = 0;
	}
	if (rc >= 0) {
		return rc;
	}
	rc = tls_conn_errno(t, rc, want);
	return rc == 0 ? -EPIPE : rc;
}

bool
tls_conn_pending(const struct tls_conn *t)
{
	return mbedtls_ssl_check_pending(&t->ssl) != 0;
}

void
tls_conn_free(struct tls_conn *t, bool notify)
{
	if (t == NULL) {
		return;
	}
	if (notify && t->setup) {
		(void)mbedtls_ssl_close_notify(&t->ssl); /* best effort */
	}
	mbedtls_ssl_free(&t->ssl);
	pool_put(&tls_conns, t);
}

const char *
tls_conn_version(const struct tls_conn *t)
{
	return mbedtls_ssl_get_version(&t->ssl);
}

/* The IANA names (RFC 8446 B.4, RFC 5289, RFC 7905) of tern's suites */
const char *
tls_conn_cipher(const struct tls_conn *t)
{
	static const struct {
		int id;
		const char *name;
	} names[] = {
		{ MBEDTLS_TLS1_3_AES_256_GCM_SHA384, "TLS_AES_256_GCM_SHA384" },
		{ MBEDTLS_TLS1_3_AES_128_GCM_SHA256, "TLS_AES_128_GCM_SHA256" },
		{ MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
		    "TLS_CHACHA20_POLY1305_SHA256" },
		{ MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" },
		{ MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" },
		{ MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" },
		{ MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" },
		{ MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" },
		{ MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" },
	};
	int id = mbedtls_ssl_get_ciphersuite_id_from_ssl(&t->ssl);
	size_t k;

	for (k = 0; k < ARRAY_SIZE(names); k++) {
		if (names[k].id == id) {
			return names[k].name;
		}
	}
	return mbedtls_ssl_get_ciphersuite(&t->ssl);
}

const char *
tls_conn_error(const struct tls_conn *t)
{
	return t->err[0] != '\0' ? t->err : "unknown";
}
