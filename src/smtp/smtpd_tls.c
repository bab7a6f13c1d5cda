/*
 * smtpd_tls.c — STARTTLS in the server (RFC 3207), built with CONFIG_TLS.
 *
 * STARTTLS is offered only by a virtual server with a usable certificate
 * (smtpd_tls_offer). Its 220 goes out in cleartext, then the handshake
 * runs on the session's socket with the command time-out; a client that
 * stalls is dropped when it runs out and its TLS slot returns to the pool.
 *
 * Invariants (RFC 3207 4.2, CVE-2011-0411): whatever the client pipelined
 * in cleartext behind STARTTLS is discarded, never executed; after the
 * handshake the session is as after the greeting (no HELO, no
 * transaction), and the client must say EHLO again.
 */
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "smtp/smtpd_int.h"
#include "tls/tls.h"

void
smtpd_cmd_starttls(struct smtpd_session *s, const struct smtp_cmd *c)
{
	int rc;

	if (s->srv->tls_cert == NULL) {
		smtpd_reply(s, SMTP_R_NOT_IMPLEMENTED); /* not offered */
	} else if (c->arg_len != 0) {
		smtpd_reply(s, SMTP_R_SYNTAX_NOARGS, "STARTTLS");
	} else if (smtpd_tls_active(s)) {
		smtpd_reply(s, SMTP_R_TLS_ACTIVE);
	} else if (s->state == SMTPD_S_CONNECTED) {
		smtpd_reply(s, SMTP_R_NEED_HELO);
	} else if (s->state != SMTPD_S_HELO) {
		smtpd_reply(s, SMTP_R_TLS_IN_TXN);
	} else if (s->srv->tls_cred == NULL) {
		/* configured, but the certificate could not be loaded */
		smtpd_reply(s, SMTP_R_TLS_UNAVAILABLE);
	} else {
		rc = tls_conn_accept(s->srv, s->io.fd, &s->tls_hs);
		if (rc < 0) {
			log_warn("%s smtp in starttls refused reason=%s", s->id,
			    rc == -ENOMEM ? "tls-pool" : "tls-setup");
			smtpd_reply(s, SMTP_R_TLS_UNAVAILABLE);
			return;
		}
		smtpd_reply(s, SMTP_R_STARTTLS_GO);
	}
}

/* The handshake is done: the session starts again (RFC 3207 4.2). */
static void
smtpd_tls_done(struct smtpd_session *s)
{
	s->tls = s->tls_hs;
	s->tls_hs = NULL;
	log_info("%s smtp in starttls version=%s cipher=%s", s->id,
	    tls_conn_version(s->tls), tls_conn_cipher(s->tls));
	smtpd_txn_end(s);
	s->helo[0] = '\0';
	s->auth_user[0] = '\0'; /* an AUTH in cleartext is forgotten too */
	s->esmtp = false;
	smtpd_set_state(s, SMTPD_S_CONNECTED);
	ev_timer_start(&s->timer, s->srv->timeout_command_ms, s->timer.fn);
	smtpd_resume(s); /* reads on; input mbedTLS holds is run now */
}

static void
smtpd_tls_step(struct smtpd_session *s)
{
	uint32_t want = EV_READ;
	ssize_t w;
	int rc;

	/* the 220 (and replies before it) in cleartext first */
	while (buf_size(&s->out) > 0) {
		w = net_write(s->io.fd, buf_data(&s->out), buf_size(&s->out));
		if (w == -EAGAIN) {
			ev_io_set(&s->io, EPOLLOUT);
			return;
		}
		if (w < 0) {
			smtpd_close(s, "write-error");
			return;
		}
		buf_consume(&s->out, (size_t)w);
	}
	rc = tls_conn_handshake(s->tls_hs, &want);
	if (rc == -EAGAIN) {
		ev_io_set(&s->io, want == EV_WRITE ? EPOLLOUT : EPOLLIN);
		return;
	}
	if (rc < 0) {
		log_info("%s smtp in starttls failed client=%s reason=\"%s\"",
		    s->id, s->peer_ip, tls_conn_error(s->tls_hs));
		smtpd_close(s, "tls-failed");
		return;
	}
	smtpd_tls_done(s);
}

void
smtpd_tls_start(struct smtpd_session *s)
{
	size_t n = buf_size(&s->in);

	if (n > 0) {
		/* CVE-2011-0411: cleartext injected before the handshake */
		log_info("%s smtp in starttls discarded=%zu client=%s", s->id,
		    n, s->peer_ip);
	}
	buf_reset(&s->in);
	smtpd_tls_step(s);
}

void
smtpd_tls_on_io(struct smtpd_session *s, uint32_t events)
{
	smtpd_tls_step(s);
}

ssize_t
smtpd_tls_read(struct smtpd_session *s, void *buf, size_t n)
{
	uint32_t want;

	return tls_conn_read(s->tls, buf, n, &want);
}

ssize_t
smtpd_tls_write(struct smtpd_session *s, const void *buf, size_t n)
{
	uint32_t want;

	return tls_conn_write(s->tls, buf, n, &want);
}

bool
smtpd_tls_pending(const struct smtpd_session *s)
{
	return tls_conn_pending(s->tls);
}

void
smtpd_tls_close(struct smtpd_session *s)
{
	tls_conn_free(s->tls, true);
	tls_conn_free(s->tls_hs, false);
	s->tls = NULL;
	s->tls_hs = NULL;
}

const char *
smtpd_tls_trace(const struct smtpd_session *s, char *buf, size_t size)
{
	if (!smtpd_tls_active(s)) {
		return "";
	}
	snprintf(buf, size, "\r\n\t(version=%s cipher=%s)",
	    tls_conn_version(s->tls), tls_conn_cipher(s->tls));
	return buf;
}
