/*
 * smtpd_data.c — the message text: the trace header, DATA (the 354 and
 * the text streamed through the scanner into the journal), and the end
 * of data that DATA and BDAT share: the verdict, the commit, and the 250
 * sent from the journal's commit callback once the message is on stable
 * storage, never before (RFC 5321 4.1.1.4, 6.1).
 */
#include <stdio.h>
#include <string.h>

#include "smtp/smtpd_int.h"

/*
 * The "with" word: RFC 3848 (ESMTPS after STARTTLS, ESMTPA after AUTH)
 * and RFC 6531 4.3 (UTF8SMTP, UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA).
 */
static const char *
smtpd_data_protocol(const struct smtpd_session *s, char *out, size_t size)
{
	/* RFC 3848 / RFC 6531 4.3 "with" values: [utf8][tls][auth] */
	static const char *const with[2][2][2] = {
		{ { "ESMTP", "ESMTPA" }, { "ESMTPS", "ESMTPSA" } },
		{ { "UTF8SMTP", "UTF8SMTPA" }, { "UTF8SMTPS", "UTF8SMTPSA" } },
	};

	if (!s->esmtp) {
		return "SMTP";
	}
	return with[s->txn->params.smtputf8][smtpd_tls_active(s)]
	           [smtpd_authenticated(s)];
}

/* Received (RFC 5321 4.4, RFC 5322 3.6.7); Return-Path comes at delivery */
int
smtpd_msg_stage(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;
	char hdr[1024], date[64], proto[16], tls[128];
	struct buf b;

	smtp_data_init(&t->data, s->srv->max_line_length);
	buf_init(&b, hdr, sizeof(hdr));
	date_rfc5322(date, sizeof(date));
	if (buf_printf(&b,
	        "Received: from %s ([%s])\r\n\tby %s (tern) with %s%s id %s",
	        s->helo, s->peer_ip, smtpd_hostname(s),
	        smtpd_data_protocol(s, proto, sizeof(proto)),
	        smtpd_tls_trace(s, tls, sizeof(tls)),
	        queue_msg_idtext(t->qm)) < 0 ||
	    (t->nrcpt == 1 &&
	        buf_printf(&b, "\r\n\tfor <%s>", t->first_rcpt) < 0) ||
	    buf_printf(&b, "; %s\r\n", date) < 0) {
		return -ENOSPC;
	}
	return queue_msg_body(t->qm, buf_data(&b), buf_size(&b));
}

void
smtpd_msg_write(struct smtpd_session *s, const char *p, size_t n)
{
	struct smtpd_txn *t = s->txn;

	if (n == 0 || t->failed || smtpd_msg_oversize(s, t->data.size)) {
		return;
	}
	if (queue_msg_body(t->qm, p, n) < 0) {
		t->failed = true; /* 451 at the end of data */
	}
}

void
smtpd_data_begin(struct smtpd_session *s)
{
	if (!s->txn->failed && !smtpd_journal_ready(s, SMTPD_ROOM_STAGE)) {
		return;
	}
	if (s->txn->failed || smtpd_msg_stage(s) < 0) {
		smtpd_txn_end(s);
		smtpd_set_state(s, SMTPD_S_HELO);
		smtpd_reply(s, SMTP_R_LOCAL_ERROR);
		return;
	}
	smtpd_set_state(s, SMTPD_S_DATA);
	ev_timer_start(&s->timer, s->srv->timeout_data_ms, s->timer.fn);
	smtpd_reply(s, SMTP_R_DATA_GO);
}

bool
smtpd_msg_oversize(const struct smtpd_session *s, uint64_t size)
{
	const struct conf_server *srv = s->srv;

	return (srv->max_message_size != 0 && size > srv->max_message_size) ||
	    (srv->max_session_size != 0 &&
	        s->session_bytes + size > srv->max_session_size);
}

/* The verdict at the end of data; the reply says it. */
static enum smtp_r
smtpd_data_verdict(struct smtpd_session *s, bool bdat)
{
	const struct smtp_data *d = &s->txn->data;
	const struct conf_server *srv = s->srv;

	if (s->txn->failed) {
		return SMTP_R_LOCAL_ERROR;
	}
	if (srv->max_message_size != 0 && d->size > srv->max_message_size) {
		return SMTP_R_MSG_TOO_BIG; /* RFC 1870 6.2 */
	}
	if (srv->max_session_size != 0 &&
	    s->session_bytes + d->size > srv->max_session_size) {
		return SMTP_R_SESSION_SIZE;
	}
	if ((d->flags & SMTP_DATA_NUL) && !bdat) {
		return SMTP_R_NUL_IN_DATA;
	}
	if ((d->flags & SMTP_DATA_LONG_LINE) && !bdat) {
		return SMTP_R_DATA_LINE_TOO_LONG;
	}
	if (srv->max_hops != 0 && d->received > srv->max_hops) {
		return SMTP_R_HOPS; /* RFC 5321 6.3 */
	}
	return SMTP_R_NONE;
}

/* The journal's answer: durable (rc 0), or not (the client retries). */
static void
smtpd_on_commit(struct handle h, int rc)
{
	struct smtpd_session *s = smtpd_session_find(h);
	struct smtpd_txn *t;

	if (s == NULL || s->state != SMTPD_S_COMMIT) {
		return; /* the client left; the message stays queued */
	}
	t = s->txn;
	smtpd_set_state(s, SMTPD_S_HELO);
	if (rc < 0) {
		log_err("%s smtp in id=%s commit-error=%s", s->id,
		    queue_msg_idtext(t->qm), strerror(-rc));
		t->qm = NULL; /* the queue dropped it */
		smtpd_reply(s, SMTP_R_COMMIT_FAILED);
	} else {
		s->session_bytes += t->data.size;
		s->messages++;
		log_info("%s smtp in id=%s accepted from=<%s> nrcpt=%u "
		         "size=%llu%s%s",
		    s->id, queue_msg_idtext(t->qm), t->from.addr, t->nrcpt,
		    (unsigned long long)t->data.size,
		    smtpd_authenticated(s) ? " user=" : "", s->auth_user);
		smtpd_reply(s, SMTP_R_QUEUED, queue_msg_idtext(t->qm));
		t->qm = NULL; /* the queue's now */
	}
	smtpd_txn_end(s);
	smtpd_resume(s);
}

static void
smtpd_commit_retry(struct queue_waiter *w)
{
	struct smtpd_session *s = container_of(w, struct smtpd_session, qwait);
	int rc;

	s->qwait.fn = smtpd_commit_retry;
	if (!queue_body_ready(256, &s->qwait)) {
		return; /* still full: the next wake */
	}
	rc = queue_msg_commit(s->txn->qm, s->h, smtpd_on_commit);
	if (rc < 0) {
		log_err("%s smtp in id=%s commit-error=%s", s->id,
		    queue_msg_idtext(s->txn->qm), strerror(-rc));
		smtpd_set_state(s, SMTPD_S_HELO);
		smtpd_reply(s, SMTP_R_COMMIT_FAILED);
		smtpd_txn_end(s);
		smtpd_resume(s);
	}
}

void
smtpd_msg_end(struct smtpd_session *s, bool bdat)
{
	struct smtpd_txn *t = s->txn;
	enum smtp_r r = smtpd_data_verdict(s, bdat);
	int rc;

	smtpd_set_state(s, SMTPD_S_HELO);
	ev_timer_start(&s->timer, s->srv->timeout_command_ms, s->timer.fn);
	if (r != SMTP_R_NONE) {
		log_info("%s smtp in id=%s refused size=%llu reply=%u", s->id,
		    queue_msg_idtext(t->qm), (unsigned long long)t->data.size,
		    smtp_reply_get(r)->code);
		smtpd_reply(s, r,
		    r == SMTP_R_HOPS ? t->data.received :
		                       s->srv->max_line_length);
		smtpd_txn_end(s);
		return;
	}
	rc = queue_msg_commit(t->qm, s->h, smtpd_on_commit);
	if (rc == -EAGAIN) {
		/* the journal's buffers are full: commit when there is room */
		smtpd_set_state(s, SMTPD_S_COMMIT);
		s->qwait.fn = smtpd_commit_retry;
		if (!queue_body_ready(256, &s->qwait)) {
			smtpd_pause(s);
			return;
		}
		rc = queue_msg_commit(t->qm, s->h, smtpd_on_commit);
	}
	if (rc < 0) {
		log_err("%s smtp in id=%s commit-error=%s", s->id,
		    queue_msg_idtext(t->qm), strerror(-rc));
		smtpd_reply(s, SMTP_R_COMMIT_FAILED);
		smtpd_txn_end(s);
		return;
	}
	smtpd_set_state(s, SMTPD_S_COMMIT);
	smtpd_pause(s);
}

/* Journal space again: go on reading the message. */
static void
smtpd_data_wake(struct queue_waiter *w)
{
	struct smtpd_session *s = container_of(w, struct smtpd_session, qwait);

	smtpd_resume(s);
}

bool
smtpd_data_feed(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;
	size_t used, out;
	char *p;

	if (buf_size(&s->in) == 0) {
		return false;
	}
	s->qwait.fn = smtpd_data_wake;
	if (!queue_body_ready(buf_size(&s->in), &s->qwait)) {
		smtpd_pause(s); /* back-pressure: the writer is behind */
		return false;
	}
	/* in place: the scanner never writes ahead of what it read */
	p = s->in.mem + s->in.off;
	used = smtp_data_scan(&t->data, p, buf_size(&s->in), p, &out);
	if (t->data.flags & SMTP_DATA_BARE_NL) {
		/* the client and we disagree on where lines end: stop here */
		log_info("%s smtp in id=%s refused reason=bare-cr-or-lf", s->id,
		    queue_msg_idtext(t->qm));
		smtpd_txn_end(s);
		smtpd_reply_close(s, SMTP_R_BARE_NEWLINE_DATA);
		return false;
	}
	if (!(t->data.flags & (SMTP_DATA_NUL | SMTP_DATA_LONG_LINE))) {
		smtpd_msg_write(s, p, out);
	}
	buf_consume(&s->in, used);
	if (t->data.state == SMTP_DS_DONE) {
		smtpd_msg_end(s, false);
	}
	return true;
}
