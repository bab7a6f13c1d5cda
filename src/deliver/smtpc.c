/*
 * smtpc.c — the SMTP client: relays the recipients of a job that are not
 * local, domain by domain. For each domain the router picks a route, the
 * route gives the addresses to try in order (smart hosts, or MX hosts);
 * the client connects, reads the greeting, says EHLO (HELO if refused),
 * sends MAIL and the RCPTs (all at once when the peer offers PIPELINING,
 * RFC 2920), then the text: BDAT chunks when the peer offers CHUNKING
 * (RFC 3030), DATA with dot-stuffing otherwise. Each recipient gets the
 * peer's reply: 2xx delivered, 4xx deferred, 5xx failed. A connection
 * failure, a time-out or a 4xx/5xx greeting before the end moves on to
 * the next address; when none is left the rest is deferred.
 *
 * The text streams from the journal through a cursor; nothing holds a
 * whole message. A bare CR or LF in the stored text (possible only after
 * BDAT) is written as CRLF, so a next hop cannot be smuggled to.
 *
 * The body goes as it was declared (RFC 6152, RFC 3030): 8BITMIME to a
 * peer offering 8BITMIME, BINARYMIME (always in BDAT) to one offering
 * BINARYMIME and CHUNKING; otherwise it is converted to 7bit on the way
 * (smtpc_mime.c), or the recipients fail with 5.6.3 when it cannot be.
 * A message declared 7BIT (or without BODY=) is trusted and sent as it is.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "deliver/smtpc_int.h"

struct smtpc_global smtpc_g;

static void smtpc_next_domain(struct smtpc *s);
static void smtpc_next_target(struct smtpc *s, const char *why);
static void smtpc_tls_failed(struct smtpc *s, const char *why);

/* ---- results ---------------------------------------------------------- */

static void
smtpc_set(struct smtpc *s, uint32_t k, enum queue_rcpt_state st, unsigned code,
    const char *text)
{
	struct dsched_job *j = s->job;

	if (s->final[k] != 0) {
		return;
	}
	s->final[k] = (uint8_t)st;
	j->result[s->idx[k]] = (uint8_t)st;
	j->want[s->idx[k]] = 2; /* settled in this job */
	if (s->tnext > 0 && code != 0) {
		dsched_job_mta(j, s->idx[k], s->targets[s->tnext - 1].host,
		    st == QUEUE_R_DELIVERED && !(s->caps & SMTPC_CAP_DSN));
	}
	if (st != QUEUE_R_DELIVERED) {
		char why[DSCHED_REPLY_LEN];
		struct buf b;

		buf_init(&b, why, sizeof(why));
		if ((code != 0 ?
		            buf_printf(&b, "%s: %u %s", s->domain, code, text) :
		            buf_printf(&b, "%s: %s", s->domain, text)) < 0) {
			str_copy(why, text, sizeof(why));
		}
		dsched_job_reply(j, s->idx[k], why);
	}
	log_info("%016llx smtp out rcpt=<%s> status=%s reply=%u %s",
	    (unsigned long long)j->span.id, s->addr[k],
	    st == QUEUE_R_DELIVERED    ? "sent" :
	        st == QUEUE_R_DEFERRED ? "deferred" :
	                                 "failed",
	    code, text);
}

/* What a reply code does to the recipients still open. */
void
smtpc_settle_open(struct smtpc *s, unsigned code, const char *text,
    bool only_accepted)
{
	enum queue_rcpt_state st = code >= 200 && code < 300 ?
	    QUEUE_R_DELIVERED :
	    code >= 500 ? QUEUE_R_FAILED :
	                  QUEUE_R_DEFERRED;
	uint32_t k;

	for (k = 0; k < s->nr; k++) {
		if (!only_accepted || s->accepted[k]) {
			smtpc_set(s, k, st, code, text);
		}
	}
}

/* ---- the connection ---------------------------------------------------- */

static void
smtpc_close(struct smtpc *s)
{
	int fd = s->io.fd;

	ev_timer_stop(&s->timer);
	smtpc_tls_free(&s->tls, true);
	smtpc_tls_free(&s->tls_hs, false);
	if (fd >= 0) {
		ev_io_stop(&s->io);
		net_close(fd);
	}
	s->io.fd = -1;
	smtpc_auth_end(&s->auth);
	smtpc_conn_release(s);
	smtpc_body_close(s);
}

static void
smtpc_on_timer(struct ev_timer *t)
{
	struct smtpc *s = container_of(t, struct smtpc, timer);

	if (s->state == SC_TLS) {
		smtpc_tls_failed(s, "4.7.5 TLS handshake timed out");
		return;
	}
	smtpc_next_target(s, "timed out");
}

void
smtpc_wait(struct smtpc *s)
{
	if (s->state == SC_PLAN) {
		return; /* the timer drives the planning steps */
	}
	ev_timer_start(&s->timer,
	    s->state == SC_CONNECT ? s->conf->queue.connect_timeout_ms :
	                             s->conf->queue.reply_timeout_ms,
	    smtpc_on_timer);
}

void
smtpc_send(struct smtpc *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (buf_vprintf(&s->out, fmt, ap) < 0) {
		panic("smtpc command does not fit");
	}
	va_end(ap);
}

/* Write what is queued; false when the connection broke (handled). */
bool
smtpc_flush(struct smtpc *s)
{
	ssize_t w;

	while (buf_size(&s->out) > 0) {
		w = smtpc_io_write(s->tls, s->io.fd, buf_data(&s->out),
		    buf_size(&s->out));
		if (w == -EAGAIN) {
			ev_io_set(&s->io, EPOLLIN | EPOLLOUT);
			return true;
		}
		if (w < 0) {
			smtpc_next_target(s, "connection lost while sending");
			return false;
		}
		buf_consume(&s->out, (size_t)w);
	}
	ev_io_set(&s->io, EPOLLIN);
	return true;
}

/* The domain is finished on this connection: QUIT, then the next domain. */
void
smtpc_finish(struct smtpc *s)
{
	smtpc_body_close(s);
	if (smtpc_conn_park(s)) {
		smtpc_next_domain(s);
		return;
	}
	if (s->io.fd >= 0 && s->state != SC_CONNECT) {
		buf_reset(&s->out);
		smtpc_send(s, "QUIT\r\n");
		(void)smtpc_io_write(s->tls, s->io.fd, buf_data(&s->out),
		    buf_size(&s->out));
	}
	smtpc_close(s);
	smtpc_next_domain(s);
}

static void
smtpc_connect(struct smtpc *s)
{
	const struct route_target *t = &s->targets[s->tnext++];
	int fd = net_connect(&t->addr);

	buf_reset(&s->in);
	buf_reset(&s->out);
	s->caps = 0;
	s->peer_size = 0;
	s->nmsgs = 0;
	s->reused = false;
	s->state = SC_CONNECT;
	if (!s->slot) {
		struct smtpc_dest *d = smtpc_conn_dest(s->key, true);

		if (d != NULL) {
			d->active++;
			s->slot = true;
		}
	}
	if (fd < 0 || ev_io_start(&s->io, fd, EPOLLOUT, smtpc_on_io) < 0) {
		net_close(fd);
		s->io.fd = -1;
		smtpc_next_target(s, "cannot connect");
		return;
	}
	smtpc_wait(s);
}

/* This address did not work out: the next one, or defer what is open. */
static void
smtpc_next_target(struct smtpc *s, const char *why)
{
	smtpc_close(s);
	if (s->tnext > 0) {
		log_info("%016llx smtp out host=%s %s",
		    (unsigned long long)s->job->span.id,
		    s->targets[s->tnext - 1].host, why);
	}
	if (s->reused) {
		s->reused = false; /* the kept connection had gone stale */
		s->ntargets = s->tnext = 0;
		route_targets(&s->route, s->domain, s->h);
		return;
	}
	if (s->tnext < s->ntargets) {
		smtpc_connect(s);
		return;
	}
	smtpc_settle_open(s, 0, why, false); /* 0: deferred */
	smtpc_next_domain(s);
}

/* ---- STARTTLS (RFC 3207; the policy in smtpc_tls.c) -------------------- */

/* After EHLO: true when STARTTLS was sent or TLS is missing (handled). */
static bool
smtpc_starttls(struct smtpc *s)
{
	enum smtpc_tls_do d;

	if (s->tls != NULL) {
		return false; /* the EHLO after the handshake */
	}
	d = smtpc_tls_decide(s->route.cn, s->caps, s->notls == s->tnext);
	if (d == SMTPC_TLS_FAIL) {
		smtpc_next_target(s,
		    "4.7.4 TLS required but the peer does not offer STARTTLS");
		return true;
	}
	if (d == SMTPC_TLS_SKIP) {
		return false;
	}
	smtpc_send(s, "STARTTLS\r\n");
	s->state = SC_STARTTLS;
	smtpc_flush(s);
	return true;
}

/* A failed handshake: another target, or this one again in cleartext. */
static void
smtpc_tls_failed(struct smtpc *s, const char *why)
{
	if (smtpc_tls_mandatory(s->route.cn)) {
		smtpc_next_target(s, why);
		return;
	}
	log_info("%016llx smtp out host=%s %s; again without TLS",
	    (unsigned long long)s->job->span.id, s->targets[s->tnext - 1].host,
	    why);
	smtpc_close(s);
	s->notls = s->tnext--;
	smtpc_connect(s);
}

static void
smtpc_tls_step(struct smtpc *s)
{
	uint32_t want = EV_READ;
	char why[160] = "";
	int rc = smtpc_tls_handshake(s->tls_hs, &want, why, sizeof(why));

	if (rc == -EAGAIN) {
		ev_io_set(&s->io, want == EV_WRITE ? EPOLLOUT : EPOLLIN);
		return;
	}
	if (rc < 0) {
		smtpc_tls_failed(s, why);
		return;
	}
	s->tls = s->tls_hs;
	s->tls_hs = NULL;
	smtpc_tls_describe(s->tls, why, sizeof(why));
	log_info("%016llx smtp out host=%s starttls %s",
	    (unsigned long long)s->job->span.id, s->targets[s->tnext - 1].host,
	    why);
	/* RFC 3207 4.2: forget what the peer said before, ask again */
	s->caps = 0;
	smtpc_send(s, "EHLO %s\r\n", s->conf->hostname);
	s->state = SC_EHLO;
	smtpc_wait(s);
	smtpc_flush(s);
}

static void
smtpc_on_starttls(struct smtpc *s, const struct smtpc_reply *r)
{
	const struct route_target *t = &s->targets[s->tnext - 1];
	int rc;

	if (r->code != 220) {
		if (smtpc_tls_mandatory(s->route.cn)) {
			smtpc_next_target(s, "4.7.0 the peer refused STARTTLS");
		} else {
			smtpc_envelope(s); /* opportunistic: on in cleartext */
		}
		return;
	}
	buf_reset(&s->in); /* nothing from before the handshake counts */
	rc = smtpc_tls_begin(s->conf, s->route.cn, s->io.fd, t->host,
	    &s->tls_hs);
	if (rc < 0) {
		smtpc_tls_failed(s,
		    rc == -ENOMEM ? "4.7.0 no TLS connection free" :
		        rc == -ENOENT ?
		                    "4.7.5 the CA bundle could not be loaded" :
		                    "4.7.5 no host name to verify");
		return;
	}
	s->state = SC_TLS;
	smtpc_tls_step(s);
}

/* ---- the transaction --------------------------------------------------- */

/* RFC 3461 4: xtext of s into b (the bytes to send); false if no room. */
static bool
smtpc_xtext(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		int rc = c >= 33 && c <= 126 && c != '+' && c != '=' ?
		    buf_printf(b, "%c", c) :
		    buf_printf(b, "+%c%c", hex[c >> 4], hex[c & 15]);

		if (rc < 0) {
			return false;
		}
	}
	return true;
}

/* RFC 3461 4.1, 4.2: what a recipient asked, to a peer that offers DSN. */
static void
smtpc_rcpt(struct smtpc *s, uint32_t k)
{
	smtpc_send(s, "RCPT TO:<%s>", s->addr[k]);
	if ((s->caps & SMTPC_CAP_DSN) && s->notify[k] != 0) {
		static const char *const names[] = { "NEVER", "SUCCESS",
			"FAILURE", "DELAY" };
		const char *sep = " NOTIFY=";
		uint32_t bit;

		for (bit = 0; bit < ARRAY_SIZE(names); bit++) {
			if (s->notify[k] & (1u << bit)) {
				smtpc_send(s, "%s%s", sep, names[bit]);
				sep = ",";
			}
		}
	}
	if ((s->caps & SMTPC_CAP_DSN) && s->orcpt[k] != 0) {
		smtpc_send(s, " ORCPT=%s", s->orcpt_mem + s->orcpt[k] - 1);
	}
	smtpc_send(s, "\r\n");
}

/* RFC 3461 4.3, 4.4: RET and ENVID on MAIL, to a peer that offers DSN. */
static void
smtpc_mail_dsn(struct smtpc *s)
{
	char x[3 * sizeof(s->env.envid)];
	struct buf b;

	if (!(s->caps & SMTPC_CAP_DSN)) {
		return;
	}
	if (s->env.ret != 0) {
		smtpc_send(s, " RET=%s", s->env.ret == 1 ? "FULL" : "HDRS");
	}
	buf_init(&b, x, sizeof(x) - 1);
	if (s->env.envid[0] != '\0' && smtpc_xtext(&b, s->env.envid)) {
		x[buf_size(&b)] = '\0';
		smtpc_send(s, " ENVID=%s", x);
	}
}

void
smtpc_envelope(struct smtpc *s)
{
	static const char *const body_names[] = { "", "7BIT", "8BITMIME",
		"BINARYMIME" };
	uint32_t k;

	if (s->env.smtputf8 && !(s->caps & SMTPC_CAP_SMTPUTF8)) {
		smtpc_settle_open(s, 553, "5.6.7 the peer has no SMTPUTF8",
		    false);
		smtpc_finish(s);
		return;
	}
	if (!s->planned && smtpc_body_plan(s) <= 0) {
		return;
	}
	s->planned = false; /* the next transaction makes its own */
	if ((s->caps & SMTPC_CAP_SIZE) && s->peer_size != 0 &&
	    s->send_size > s->peer_size) {
		smtpc_settle_open(s, 552,
		    "5.3.4 message larger than the peer's "
		    "SIZE limit",
		    false);
		smtpc_finish(s);
		return;
	}
	s->clean = false;
	smtpc_send(s, "MAIL FROM:<%s>", s->env.from);
	if (s->caps & SMTPC_CAP_SIZE) {
		/* RFC 1870: what will be sent, trace headers included */
		smtpc_send(s, " SIZE=%llu", (unsigned long long)s->send_size);
	}
	if (s->body_out != 0) {
		smtpc_send(s, " BODY=%s", body_names[s->body_out]);
	}
	if (s->env.smtputf8) {
		smtpc_send(s, " SMTPUTF8");
	}
	smtpc_mail_dsn(s);
	smtpc_send(s, "\r\n");
	s->sent = 1;
	s->replied = 0;
	s->naccepted = 0;
	s->mail_code = 0;
	memset(s->accepted, 0, sizeof(s->accepted));
	for (k = 0; k < s->nr && (s->caps & SMTPC_CAP_PIPELINING); k++) {
		smtpc_rcpt(s, k);
		s->sent++;
	}
	s->state = SC_ENVELOPE;
	smtpc_flush(s);
}

/* One envelope reply: the MAIL's first, then the RCPTs' in order. */
static void
smtpc_on_envelope(struct smtpc *s, const struct smtpc_reply *r)
{
	uint32_t k = s->replied++;

	if (k == 0) {
		s->mail_code = r->code;
		if (r->code / 100 != 2) {
			smtpc_settle_open(s, r->code, r->text, false);
		}
	} else if (s->mail_code / 100 == 2) {
		if (r->code / 100 == 2) {
			s->accepted[k - 1] = true;
			s->naccepted++;
		} else {
			smtpc_set(s, k - 1,
			    r->code >= 500 ? QUEUE_R_FAILED : QUEUE_R_DEFERRED,
			    r->code, r->text);
		}
	}
	if (!(s->caps & SMTPC_CAP_PIPELINING) && s->mail_code / 100 == 2 &&
	    s->sent <= s->nr) {
		smtpc_rcpt(s, s->sent - 1);
		s->sent++;
		smtpc_flush(s);
		return;
	}
	if (s->replied < s->sent) {
		return;
	}
	if (s->naccepted == 0) {
		smtpc_finish(s);
		return;
	}
	smtpc_body_start(s);
}

/* AUTH could not be done or was refused: the messages wait (4xx). */
static void
smtpc_auth_refused(struct smtpc *s, const char *why)
{
	log_info("%016llx smtp out host=%s auth failed reason=%s",
	    (unsigned long long)s->job->span.id,
	    s->tnext > 0 ? s->targets[s->tnext - 1].host : "-", why);
	smtpc_settle_open(s, 0, why, false); /* 0: deferred */
	s->clean = false; /* never kept for another message */
	smtpc_finish(s);
}

/* After EHLO/HELO: AUTH first if the connector asks for it. */
static void
smtpc_after_ehlo(struct smtpc *s, unsigned offered)
{
	char why[200];
	int rc = smtpc_auth_begin(&s->auth, s->conf, s->route.cn, offered,
	    s->tls != NULL, &s->out, why, sizeof(why));

	if (rc < 0) {
		smtpc_auth_refused(s, why);
	} else if (rc > 0) {
		s->state = SC_AUTH;
		smtpc_flush(s);
	} else {
		smtpc_envelope(s);
	}
}

static void
smtpc_on_reply(struct smtpc *s, const struct smtpc_reply *r)
{
	char why[200];
	int rc;

	switch (s->state) {
	case SC_GREET:
		if (r->code / 100 != 2) {
			smtpc_next_target(s, "greeting refused");
			return;
		}
		smtpc_send(s, "EHLO %s\r\n", s->conf->hostname);
		s->state = SC_EHLO;
		smtpc_flush(s);
		return;
	case SC_EHLO:
	case SC_HELO:
		if (r->code / 100 == 2) {
			s->caps = s->state == SC_EHLO ? r->caps : 0;
			s->peer_size = r->size;
			if (!smtpc_starttls(s)) {
				smtpc_after_ehlo(s,
				    s->state == SC_EHLO ? r->auth : 0);
			}
		} else if (s->state == SC_EHLO && r->code >= 500) {
			smtpc_send(s, "HELO %s\r\n", s->conf->hostname);
			s->state = SC_HELO;
			smtpc_flush(s);
		} else {
			smtpc_next_target(s, "EHLO/HELO refused");
		}
		return;
	case SC_AUTH:
		rc = smtpc_auth_reply(&s->auth, r, &s->out, why, sizeof(why));
		if (rc < 0) {
			smtpc_auth_refused(s, why);
		} else if (rc > 0) {
			smtpc_flush(s);
		} else {
			smtpc_envelope(s);
		}
		return;
	case SC_ENVELOPE:
		smtpc_on_envelope(s, r);
		return;
	case SC_DATA:
		if (r->code != 354) {
			smtpc_settle_open(s, r->code, r->text, true);
			smtpc_finish(s);
			return;
		}
		s->state = SC_BODY;
		smtpc_body_pump(s);
		return;
	case SC_DOT:
		smtpc_settle_open(s, r->code, r->text, true);
		s->clean = true;
		s->nmsgs++;
		smtpc_finish(s);
		return;
	case SC_BDAT:
		smtpc_body_on_bdat(s, r);
		return;
	case SC_STARTTLS:
		smtpc_on_starttls(s, r);
		return;
	default:
		return;
	}
}

static void
smtpc_read(struct smtpc *s)
{
	struct smtpc_reply r;
	size_t used;
	ssize_t n;
	int rc;

again:
	buf_compact(&s->in);
	n = smtpc_io_read(s->tls, s->io.fd, buf_tail(&s->in), buf_room(&s->in));
	if (n == -EAGAIN) {
		return;
	}
	if (n <= 0) {
		smtpc_next_target(s, "connection closed by the peer");
		return;
	}
	buf_commit(&s->in, (size_t)n);
	smtpc_wait(s);
	while (s->io.fd >= 0 && buf_size(&s->in) > 0) {
		rc = smtpc_reply_parse(buf_data(&s->in), buf_size(&s->in),
		    s->state == SC_EHLO, &r, &used);
		if (rc < 0) {
			smtpc_next_target(s, "the peer does not speak SMTP");
			return;
		}
		if (rc == 0) {
			break;
		}
		buf_consume(&s->in, used);
		smtpc_on_reply(s, &r);
	}
	if (s->io.fd >= 0 && smtpc_tls_pending(s->tls)) {
		goto again; /* decrypted input that epoll cannot see */
	}
}

void
smtpc_on_io(struct ev_io *io, uint32_t events)
{
	struct smtpc *s = container_of(io, struct smtpc, io);
	int rc;

	if (s->state == SC_CONNECT) {
		rc = net_connect_result(io->fd);
		if (rc < 0) {
			smtpc_next_target(s,
			    "connection refused or unreachable");
			return;
		}
		s->state = SC_GREET;
		ev_io_set(io, EPOLLIN);
		smtpc_wait(s);
		return;
	}
	if (s->state == SC_TLS) {
		smtpc_tls_step(s);
		return;
	}
	if (events & EPOLLOUT) {
		smtpc_body_pump(s);
		if (s->io.fd < 0) {
			return;
		}
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		smtpc_read(s);
	}
}

/* ---- jobs and domains -------------------------------------------------- */

struct smtpc_collect {
	struct smtpc *s;
};

static int
smtpc_collect_env(void *ctx, const struct queue_envelope *e)
{
	struct smtpc *s = ((struct smtpc_collect *)ctx)->s;

	s->env = *e;
	return 0;
}

/* The next open recipients of the first domain that has any. */
static int
smtpc_collect_rcpt(void *ctx, uint32_t i, const struct queue_rcpt *r)
{
	struct smtpc *s = ((struct smtpc_collect *)ctx)->s;

	if (i >= s->job->nrcpt || s->job->want[i] != 1 ||
	    s->nr == SMTPC_BATCH) {
		return 0;
	}
	if (s->nr == 0) {
		str_copy(s->domain, r->domain, sizeof(s->domain));
	} else if (strcmp(s->domain, r->domain) != 0) {
		return 0;
	}
	s->idx[s->nr] = i;
	str_copy(s->addr[s->nr], r->addr, sizeof(s->addr[0]));
	s->final[s->nr] = 0;
	s->notify[s->nr] = r->notify;
	s->orcpt[s->nr] = 0;
	if (r->orcpt[0] != '\0') {
		struct buf b;

		buf_init(&b, s->orcpt_mem + s->orcpt_used,
		    sizeof(s->orcpt_mem) - s->orcpt_used - 1);
		/* the addr-type and ";" are plain xchars */
		if (smtpc_xtext(&b, r->orcpt)) {
			s->orcpt_mem[s->orcpt_used + buf_size(&b)] = '\0';
			s->orcpt[s->nr] = (uint16_t)(s->orcpt_used + 1);
			s->orcpt_used = (uint16_t)(s->orcpt_used +
			    buf_size(&b) + 1);
		}
	}
	s->nr++;
	return 0;
}

static int
smtpc_collect_stop(void *ctx, const void *data, size_t n)
{
	return 1; /* the recipients come before the text */
}

static void
smtpc_on_targets(struct handle h, int rc, const struct route_target *t,
    uint32_t n)
{
	struct smtpc *s = pool_find(&smtpc_g.conns, h);

	if (s == NULL) {
		return;
	}
	if (rc == -ENOENT || rc == -EHOSTUNREACH) {
		smtpc_settle_open(s, 550,
		    rc == -ENOENT ?
		        "5.1.2 no such domain" :
		        "5.1.10 the domain accepts no mail (null MX)",
		    false);
		smtpc_next_domain(s);
		return;
	}
	if (rc < 0 || n == 0) {
		smtpc_settle_open(s, 0, "no address to deliver to (DNS)",
		    false);
		smtpc_next_domain(s);
		return;
	}
	memcpy(s->targets, t, sizeof(*t) * n);
	s->ntargets = n;
	s->tnext = 0;
	s->notls = 0;
	smtpc_connect(s);
}

static void
smtpc_next_domain(struct smtpc *s)
{
	struct smtpc_collect cc = { s };
	struct queue_reader rd = { &cc, smtpc_collect_env, smtpc_collect_rcpt,
		smtpc_collect_stop };
	const struct conf_domain *d;
	int rc;

	s->nr = 0;
	s->orcpt_used = 0;
	rc = queue_read(queue_spool(), &s->job->span, &rd);
	if (rc < 0 || s->nr == 0) {
		if (rc < 0) {
			str_copy(s->job->reply, "the queue could not be read",
			    sizeof(s->job->reply));
		}
		struct dsched_job *j = s->job;

		conf_drop(s->conf);
		s->conf = NULL;
		pool_put(&smtpc_g.conns,
		    s); /* first: the scheduler may start more */
		dsched_done(j);
		return;
	}
	d = conf_domain_find(s->conf, s->domain, strlen(s->domain));
	if (d != NULL && d->kind == CONF_DOMAIN_HOLD) {
		smtpc_settle_open(s, 0, "held for the domain (ETRN)", false);
		smtpc_next_domain(s);
		return;
	}
	router_pick(s->conf, s->domain, time(NULL), &s->route);
	if (s->route.closed) {
		smtpc_settle_open(s, 0, "waiting for the connector's schedule",
		    false);
		smtpc_next_domain(s);
		return;
	}
	if (s->route.cn != NULL && s->route.cn->max_message_size != 0 &&
	    s->job->size > s->route.cn->max_message_size) {
		smtpc_settle_open(s, 552,
		    "5.3.4 message too large for the connector", false);
		smtpc_next_domain(s);
		return;
	}
	smtpc_conn_key(s);
	smtpc_conn_start_route(s);
}

static void
smtpc_submit(struct dsched_job *j)
{
	struct handle h;
	struct smtpc *s = pool_get(&smtpc_g.conns, &h);
	uint32_t i;

	for (i = 0; i < j->nrcpt; i++) {
		if (j->want[i]) {
			j->result[i] = QUEUE_R_DEFERRED;
		}
	}
	if (s == NULL) {
		str_copy(j->reply, "no outbound connection free",
		    sizeof(j->reply));
		dsched_done(j);
		return;
	}
	memset(s, 0, offsetof(struct smtpc, inmem));
	s->mime.cur_open = false;
	s->h = h;
	s->io.fd = -1;
	s->job = j;
	s->conf = conf_hold(
	    smtpc_g.conf); /* a reload applies from the next job */
	buf_init(&s->in, s->inmem, sizeof(s->inmem));
	buf_init(&s->out, s->outmem, sizeof(s->outmem));
	smtpc_next_domain(s);
}

static const struct dsched_agent smtpc_agent = { "smtp", smtpc_submit };

int
smtpc_init(const struct conf *c, const struct dsched_agent **agent)
{
	smtpc_g.conf = c;
	pool_init(&smtpc_g.conns, "smtpc", sizeof(struct smtpc),
	    CONFIG_DSCHED_JOBS);
	route_targets_init(smtpc_on_targets);
	*agent = &smtpc_agent;
	return 0;
}

/*
 * A reload: jobs from now on use c (those running keep theirs); the kept
 * connections belong to the old configuration (their TLS settings, their
 * connector) and are closed.
 */
void
smtpc_reload(const struct conf *c)
{
	uint32_t k;

	smtpc_g.conf = c;
	for (k = 0; k < ARRAY_SIZE(smtpc_g.idle); k++) {
		if (smtpc_g.idle[k].used) {
			smtpc_conn_idle_close(&smtpc_g.idle[k], true);
		}
	}
}
