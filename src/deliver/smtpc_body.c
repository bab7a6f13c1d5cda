/*
 * smtpc_body.c — the SMTP client's text: how the body goes to the peer
 * (as declared, or planned for 7bit conversion through smtpc_mime.c),
 * DATA with dot-stuffing and CRLF line ends, or BDAT chunks.
 */
#include <stdio.h>
#include <string.h>

#include "deliver/smtpc_int.h"

void
smtpc_body_close(struct smtpc *s)
{
	if (s->cur_open) {
		queue_cursor_close(&s->cur);
		s->cur_open = false;
	}
	smtpc_mime_close(&s->mime);
}

/* The plan is made (rc 0) or failed: what it says. */
static int
smtpc_body_planned(struct smtpc *s, int rc)
{
	bool peer8 = (s->caps & SMTPC_CAP_8BITMIME) != 0;

	if (rc < 0) {
		smtpc_settle_open(s, 0, "the queue could not be read", false);
		smtpc_finish(s);
		return -1;
	}
	if (s->mime.conv.verdict == MIME_V_IMPOSSIBLE) {
		char why[200];
		struct buf b;

		buf_init(&b, why, sizeof(why) - 1);
		buf_printf(&b, "5.6.3 conversion to 7bit impossible: %s",
		    s->mime.why);
		why[buf_size(&b)] = '\0';
		smtpc_settle_open(s, 554, why, false);
		smtpc_finish(s);
		return -1;
	}
	s->convert = s->mime.conv.verdict == MIME_V_CONVERT;
	if (!s->convert) {
		s->send_size = s->job->size; /* 7bit already: as it is */
	}
	s->body_out = peer8 ? SMTPC_BODY_7BIT : 0;
	s->planned = true;
	log_info("%016llx smtp out body=%s size=%llu",
	    (unsigned long long)s->job->span.id,
	    s->convert ? "converted-7bit" : "7bit-as-is",
	    (unsigned long long)s->send_size);
	return 1;
}

static void
smtpc_body_on_plan(struct ev_timer *t)
{
	struct smtpc *s = container_of(t, struct smtpc, timer);
	int rc = smtpc_mime_plan_step(&s->mime, &s->send_size);

	if (rc > 0) {
		ev_timer_start(&s->timer, 0, smtpc_body_on_plan);
		return;
	}
	if (smtpc_body_planned(s, rc) > 0) {
		s->state = SC_ENVELOPE;
		smtpc_wait(s);
		smtpc_envelope(s);
	}
}

/*
 * How the body goes to this peer (RFC 6152 3, RFC 3030 3): as declared
 * when the peer takes it, else converted to 7bit. 1: go on; 0: the plan
 * is being made in steps (smtpc_envelope() is called again); -1: the
 * open recipients were failed instead (handled).
 */
int
smtpc_body_plan(struct smtpc *s)
{
	uint8_t body = s->env.body;
	int rc;

	s->convert = false;
	s->send_size = s->job->size;
	s->body_out = body == SMTPC_BODY_8BITMIME ||
	        body == SMTPC_BODY_BINARYMIME ?
	    body :
	    0;
	if ((body == SMTPC_BODY_8BITMIME && (s->caps & SMTPC_CAP_8BITMIME)) ||
	    (body == SMTPC_BODY_BINARYMIME &&
	        (s->caps & SMTPC_CAP_BINARYMIME) &&
	        (s->caps & SMTPC_CAP_CHUNKING)) ||
	    s->body_out == 0) {
		return 1;
	}
	rc = smtpc_mime_plan_start(&s->mime, &s->job->span);
	if (rc < 0) {
		return smtpc_body_planned(s, rc);
	}
	s->state = SC_PLAN;
	ev_timer_start(&s->timer, 0, smtpc_body_on_plan);
	return 0;
}

void
smtpc_body_start(struct smtpc *s)
{
	int rc = s->convert ? smtpc_mime_open(&s->mime, &s->job->span) :
	                      queue_cursor_open(&s->cur, &s->job->span);

	if (rc < 0) {
		smtpc_settle_open(s, 0, "the queue could not be read", false);
		smtpc_finish(s);
		return;
	}
	s->cur_open = !s->convert;
	s->piece = NULL;
	s->piece_len = s->piece_off = 0;
	s->text_done = false;
	s->prev = '\n';
	s->bdat_due = 0;
	s->bdat_bad = 0;
	if (s->caps & SMTPC_CAP_CHUNKING) {
		s->state = SC_BDAT;
		smtpc_body_pump(s);
	} else {
		smtpc_send(s, "DATA\r\n");
		s->state = SC_DATA;
		smtpc_flush(s);
	}
}

/* DATA: dot-stuffing (RFC 5321 4.5.2) and CRLF line ends. */
static void
smtpc_body_stuff(struct smtpc *s, const unsigned char *p, size_t n,
    size_t *used)
{
	size_t k = 0, run;

	while (k < n && buf_room(&s->out) >= 4) {
		char c = (char)p[k];

		if (s->prev == '\r' && c != '\n') {
			buf_append(&s->out, "\n",
			    1); /* bare CR: make it CRLF */
			s->prev = '\n';
		}
		if (c == '\n' && s->prev != '\r') {
			buf_append(&s->out, "\r", 1); /* bare LF: likewise */
		}
		if (c == '.' && s->prev == '\n') {
			buf_append(&s->out, ".", 1);
		}
		/* the rest of the line up to a CR or LF goes as it is */
		run = 1;
		while (c != '\r' && c != '\n' && k + run < n &&
		    run < buf_room(&s->out) - 3 && p[k + run] != '\r' &&
		    p[k + run] != '\n') {
			run++;
		}
		buf_append(&s->out, p + k, run);
		s->prev = (char)p[k + run - 1];
		k += run;
	}
	*used = k;
}

/* Next stored piece of text; false at the end (or on error: handled). */
static bool
smtpc_body_piece(struct smtpc *s)
{
	const void *p;
	int rc;

	if (s->piece != NULL && s->piece_off < s->piece_len) {
		return true;
	}
	rc = s->convert ? smtpc_mime_next(&s->mime, &p, &s->piece_len) :
	                  queue_cursor_next(&s->cur, &p, &s->piece_len);
	if (rc <= 0) {
		s->piece = NULL;
		s->text_done = true;
		return false;
	}
	s->piece = p;
	s->piece_off = 0;
	return true;
}

static void
smtpc_body_pump_data(struct smtpc *s)
{
	size_t used;

	while (buf_room(&s->out) > 16 && smtpc_body_piece(s)) {
		smtpc_body_stuff(s, s->piece + s->piece_off,
		    s->piece_len - s->piece_off, &used);
		s->piece_off += used;
	}
	if (s->text_done && buf_room(&s->out) >= 8) {
		if (s->prev == '\r') {
			buf_append(&s->out, "\n", 1);
		} else if (s->prev != '\n') {
			buf_append(&s->out, "\r\n", 2);
		}
		buf_append(&s->out, ".\r\n", 3);
		s->state = SC_DOT;
	}
}

/* BDAT: the chunk's header goes in front once its size is known. */
static void
smtpc_body_pump_bdat(struct smtpc *s)
{
	char hdr[SMTPC_BDAT_HDR];
	size_t size = 0, n;
	int h;

	if (buf_size(&s->out) > 0 || s->state != SC_BDAT || s->text_done) {
		return;
	}
	buf_reset(&s->out);
	buf_commit(&s->out, SMTPC_BDAT_HDR);
	while (size < SMTPC_CHUNK && smtpc_body_piece(s)) {
		n = MIN(SMTPC_CHUNK - size, s->piece_len - s->piece_off);
		buf_append(&s->out, s->piece + s->piece_off, n);
		s->piece_off += n;
		size += n;
	}
	smtpc_body_piece(s); /* is there more? */
	h = snprintf(hdr, sizeof(hdr), "BDAT %zu%s\r\n", size,
	    s->text_done ? " LAST" : "");
	buf_consume(&s->out, SMTPC_BDAT_HDR - (size_t)h);
	memcpy(s->out.mem + s->out.off, hdr, (size_t)h);
	s->bdat_due++;
}

void
smtpc_body_pump(struct smtpc *s)
{
	for (;;) {
		if (s->state == SC_BODY) {
			smtpc_body_pump_data(s);
		} else if (s->state == SC_BDAT) {
			smtpc_body_pump_bdat(s);
		}
		if (!smtpc_flush(s)) {
			return;
		}
		if (buf_size(&s->out) > 0 ||
		    (s->state != SC_BODY && s->state != SC_BDAT) ||
		    (s->state == SC_BDAT && (s->text_done || s->bdat_bad))) {
			return; /* the socket is full, or all is sent */
		}
	}
}

void
smtpc_body_on_bdat(struct smtpc *s, const struct smtpc_reply *r)
{
	s->bdat_due--;
	if (r->code / 100 != 2 && s->bdat_bad == 0) {
		s->bdat_bad = r->code;
		str_copy(s->bdat_text, r->text, sizeof(s->bdat_text));
	}
	if (s->bdat_due > 0 || (!s->text_done && s->bdat_bad == 0)) {
		smtpc_body_pump(s);
		return;
	}
	if (s->bdat_bad != 0) {
		smtpc_settle_open(s, s->bdat_bad, s->bdat_text, true);
	} else {
		smtpc_settle_open(s, r->code, r->text, true);
	}
	s->clean = true;
	s->nmsgs++;
	smtpc_finish(s);
}
