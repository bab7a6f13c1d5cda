/*
 * smtpc_mime.c — the relay client's side of RFC 6152 3 and RFC 3030 3: a
 * message whose body the peer cannot take as it is (8BITMIME to a peer
 * without 8BITMIME, BINARYMIME to one without BINARYMIME and CHUNKING)
 * is converted to 7bit on the way out (src/dsn/mime_conv.c).
 *
 * Before MAIL, two passes over the stored text decide: the plan pass
 * (is it 7bit already? can it be converted?) and a counting pass for an
 * exact SIZE=. Both read the journal through a cursor and keep nothing
 * of the text; they run on the event loop in steps of SMTPC_MIME_STEP
 * octets (a few milliseconds each), so other sessions are served in
 * between. Then the text is read a third time and converted as it is
 * sent.
 */
#include <string.h>

#include "deliver/smtpc.h"

static int
smtpc_mime_pass_start(struct smtpc_mime *m, enum mime_pass pass)
{
	int rc = queue_cursor_open(&m->cur, &m->span);

	if (rc < 0) {
		return rc;
	}
	m->cur_open = true;
	m->count = (struct mime_out){ NULL, 0, 0, 0 };
	mime_conv_start(&m->conv, pass);
	return 0;
}

int
smtpc_mime_plan_start(struct smtpc_mime *m, const struct queue_span *sp)
{
	m->span = *sp;
	m->why = NULL;
	m->counting = false;
	return smtpc_mime_pass_start(m, MIME_PASS_PLAN);
}

/*
 * Up to SMTPC_MIME_STEP octets of the plan pass, then of the counting
 * pass: 1 when there is more to do, 0 when the plan is made (*size set
 * when it converts), or a negative errno.
 */
int
smtpc_mime_plan_step(struct smtpc_mime *m, uint64_t *size)
{
	size_t done = 0, n;
	const void *p;
	int rc;

	while (done < SMTPC_MIME_STEP) {
		rc = queue_cursor_next(&m->cur, &p, &n);
		if (rc < 0) {
			smtpc_mime_close(m);
			return rc;
		}
		if (rc == 0) {
			break;
		}
		mime_conv_feed(&m->conv, p, n, &m->count); /* takes all */
		done += n;
	}
	if (done >= SMTPC_MIME_STEP) {
		return 1;
	}
	mime_conv_end(&m->conv, &m->count);
	smtpc_mime_close(m);
	if (m->counting) {
		*size = m->count.total;
		m->conv.verdict = MIME_V_CONVERT;
		return 0;
	}
	m->why = m->conv.why;
	if (m->conv.verdict != MIME_V_CONVERT) {
		return 0;
	}
	m->counting = true;
	rc = smtpc_mime_pass_start(m, MIME_PASS_EMIT);
	return rc < 0 ? rc : 1;
}

int
smtpc_mime_open(struct smtpc_mime *m, const struct queue_span *sp)
{
	int rc = queue_cursor_open(&m->cur, sp);

	if (rc < 0) {
		return rc;
	}
	m->cur_open = true;
	m->piece = NULL;
	m->piece_len = m->piece_off = 0;
	m->ended = false;
	mime_conv_start(&m->conv, MIME_PASS_EMIT);
	return 0;
}

/* Like queue_cursor_next(), for the converted text. */
int
smtpc_mime_next(struct smtpc_mime *m, const void **p, size_t *n)
{
	struct mime_out o = { m->stage, 0, sizeof(m->stage), 0 };
	const void *q;
	int rc;

	while (!m->ended && o.cap - o.len >= MIME_OUT_RESERVE) {
		if (m->piece_off == m->piece_len) {
			rc = queue_cursor_next(&m->cur, &q, &m->piece_len);
			if (rc < 0) {
				return rc;
			}
			if (rc == 0) {
				mime_conv_end(&m->conv, &o);
				m->ended = true;
				break;
			}
			m->piece = q;
			m->piece_off = 0;
		}
		m->piece_off += mime_conv_feed(&m->conv,
		    m->piece + m->piece_off, m->piece_len - m->piece_off, &o);
	}
	*p = m->stage;
	*n = o.len;
	return o.len > 0 ? 1 : 0;
}

void
smtpc_mime_close(struct smtpc_mime *m)
{
	if (m->cur_open) {
		queue_cursor_close(&m->cur);
		m->cur_open = false;
	}
}
