/*
 * smtpc_tls.c — STARTTLS in the SMTP client (RFC 3207), built with
 * CONFIG_TLS: the connector's policy, and the TLS connection under the
 * client's reads and writes.
 *
 * Policies (RFC 7435 for the opportunistic one):
 *   none           never STARTTLS
 *   opportunistic  STARTTLS when the peer offers it; a failed handshake
 *                  is retried in cleartext on a new connection
 *   required       STARTTLS or a temporary failure (4.7.4 / 4.7.5); the
 *                  certificate is not checked; never cleartext
 *   verify         as required, and the chain must lead to the CA bundle
 *                  and name the host (the MX or smart host name)
 */
#include <stdio.h>

#include "deliver/smtpc.h"
#include "tls/tls.h"

enum smtpc_tls_do
smtpc_tls_decide(const struct conf_connector *cn, unsigned caps,
    bool cleartext_retry)
{
	enum conf_tls_policy p = cn != NULL ? cn->tls : CONF_TLS_OPPORTUNISTIC;

	if (p == CONF_TLS_NONE) {
		return SMTPC_TLS_SKIP;
	}
	if (p == CONF_TLS_OPPORTUNISTIC) {
		return (caps & SMTPC_CAP_STARTTLS) && !cleartext_retry ?
		    SMTPC_TLS_START :
		    SMTPC_TLS_SKIP;
	}
	return (caps & SMTPC_CAP_STARTTLS) ? SMTPC_TLS_START : SMTPC_TLS_FAIL;
}

bool
smtpc_tls_mandatory(const struct conf_connector *cn)
{
	return cn != NULL &&
	    (cn->tls == CONF_TLS_REQUIRED || cn->tls == CONF_TLS_VERIFY);
}

int
smtpc_tls_begin(const struct conf *c, const struct conf_connector *cn, int fd,
    const char *host, struct tls_conn **out)
{
	return tls_conn_connect(c, cn, fd, host, out);
}

int
smtpc_tls_handshake(struct tls_conn *t, uint32_t *want, char *why, size_t size)
{
	int rc = tls_conn_handshake(t, want);

	if (rc < 0 && rc != -EAGAIN) {
		snprintf(why, size, "4.7.5 TLS handshake failed: %s",
		    tls_conn_error(t));
	}
	return rc;
}

ssize_t
smtpc_io_read(struct tls_conn *t, int fd, void *buf, size_t n)
{
	uint32_t want;

	return t != NULL ? tls_conn_read(t, buf, n, &want) :
	                   net_read(fd, buf, n);
}

ssize_t
smtpc_io_write(struct tls_conn *t, int fd, const void *buf, size_t n)
{
	uint32_t want;

	return t != NULL ? tls_conn_write(t, buf, n, &want) :
	                   net_write(fd, buf, n);
}

bool
smtpc_tls_pending(const struct tls_conn *t)
{
	return t != NULL && tls_conn_pending(t);
}

void
smtpc_tls_free(struct tls_conn **t, bool notify)
{
	tls_conn_free(*t, notify);
	*t = NULL;
}

void
smtpc_tls_describe(const struct tls_conn *t, char *buf, size_t size)
{
	snprintf(buf, size, "version=%s cipher=%s", tls_conn_version(t),
	    tls_conn_cipher(t));
}
