/*
 * smtpd_bdat.c — CHUNKING (RFC 3030): "BDAT <size> [LAST]" followed by
 * exactly <size> octets, no dot-stuffing, no end marker. The octets are
 * always consumed, also when the command is refused, so the stream stays
 * framed; only a size that cannot be read (not a number, absurdly long)
 * leaves no way to find the next command, and closes the session.
 */
#include <string.h>

#include "smtp/smtpd_int.h"

#define SMTPD_BDAT_DIGITS 18 /* beyond 10^18 octets a size is absurd */

/* "<size> [LAST]" -> size and last; false when it cannot be framed. */
static bool
smtpd_bdat_parse(const struct smtp_cmd *c, uint64_t *size, bool *last)
{
	size_t i = 0;
	uint64_t v = 0;

	while (i < c->arg_len && c->arg[i] >= '0' && c->arg[i] <= '9') {
		if (i == SMTPD_BDAT_DIGITS) {
			return false;
		}
		v = v * 10 + (uint64_t)(c->arg[i++] - '0');
	}
	if (i == 0) {
		return false;
	}
	*size = v;
	*last = false;
	if (i == c->arg_len) {
		return true;
	}
	if (c->arg[i] != ' ') {
		return false;
	}
	while (i < c->arg_len && c->arg[i] == ' ') {
		i++;
	}
	*last = str_ieq(c->arg + i, c->arg_len - i, "LAST", 4);
	return *last;
}

/* Why this chunk cannot be part of a transaction, or SMTP_R_NONE. */
static enum smtp_r
smtpd_bdat_sequence(const struct smtpd_session *s)
{
	switch (s->state) {
	case SMTPD_S_RCPT:
	case SMTPD_S_BDAT:
		return SMTP_R_NONE;
	case SMTPD_S_CONNECTED:
		return SMTP_R_NEED_HELO;
	case SMTPD_S_MAIL:
		return SMTP_R_NO_VALID_RCPT;
	default:
		return SMTP_R_NEED_MAIL;
	}
}

void
smtpd_cmd_bdat(struct smtpd_session *s, const struct smtp_cmd *c)
{
	uint64_t size;
	bool last;

	if (!smtpd_bdat_parse(c, &size, &last)) {
		/* the octets that follow cannot be told from commands */
		smtpd_txn_end(s);
		smtpd_reply_close(s, SMTP_R_BDAT_SYNTAX);
		return;
	}
	if (smtpd_bdat_sequence(s) == SMTP_R_NONE && s->state == SMTPD_S_RCPT &&
	    !smtpd_journal_ready(s, SMTPD_ROOM_STAGE)) {
		return;
	}
	s->chunk_active = true;
	s->chunk_left = size;
	s->chunk_last = last;
	s->chunk_reply = (uint8_t)smtpd_bdat_sequence(s);
	if (s->chunk_reply == SMTP_R_NONE && s->state == SMTPD_S_RCPT &&
	    smtpd_msg_stage(s) < 0) {
		s->txn->failed = true; /* 451 when the chunk is in */
	}
	if (s->chunk_reply == SMTP_R_NONE) {
		smtpd_set_state(s, SMTPD_S_BDAT);
	}
	ev_timer_start(&s->timer, s->srv->timeout_data_ms, s->timer.fn);
}

/* The whole chunk is in: the reply for it. */
static void
smtpd_bdat_done(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;
	enum smtp_r r = (enum smtp_r)s->chunk_reply;

	s->chunk_active = false;
	ev_timer_start(&s->timer, s->srv->timeout_command_ms, s->timer.fn);
	if (r != SMTP_R_NONE) {
		smtpd_reply(s, r);
		return;
	}
	if (s->chunk_last) {
		smtpd_msg_end(s, true);
		return;
	}
	if (smtpd_msg_oversize(s, t->data.size)) {
		/* RFC 3030 2: the transaction fails; later chunks get 503 */
		smtpd_txn_end(s);
		smtpd_set_state(s, SMTPD_S_HELO);
		smtpd_reply(s, SMTP_R_MSG_TOO_BIG);
		return;
	}
	smtpd_reply(s, SMTP_R_BDAT_OK, (unsigned long long)t->data.size);
}

static void
smtpd_bdat_wake(struct queue_waiter *w)
{
	smtpd_resume(container_of(w, struct smtpd_session, qwait));
}

bool
smtpd_bdat_feed(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;
	size_t n = (size_t)MIN((uint64_t)buf_size(&s->in), s->chunk_left);
	const char *p = buf_data(&s->in);

	if (n == 0 && s->chunk_left > 0) {
		return false;
	}
	if (s->chunk_reply == SMTP_R_NONE && n > 0) {
		s->qwait.fn = smtpd_bdat_wake;
		if (!queue_body_ready(n, &s->qwait)) {
			smtpd_pause(
			    s); /* back-pressure: the writer is behind */
			return false;
		}
		smtp_data_inspect(&t->data, p, n);
		smtpd_msg_write(s, p, n);
	}
	buf_consume(&s->in, n);
	s->chunk_left -= n;
	if (s->chunk_left == 0) {
		smtpd_bdat_done(s);
	}
	return true;
}
