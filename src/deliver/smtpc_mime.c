/*
 * smtpc_mime.c — the relay client's side of RFC 6152 3 and RFC 3030 3: a
 * message whose body the peer cannot take as it is (8BITMIME to a peer
 * without 8BITMIME, BINARYMIME to one without BINARYMIME and CHUNKING)
 * is converted to 7bit on the way out (src/dsn/mime_conv.c).
 *
 * Before MAIL, two passes over the stored text decide: the plan pass
 * (is it 7bit already? can it be converted?) and a counting pass for an
 * exact SIZE=. Both read the journal through a cursor and keep nothing
 * of the text; they run on the event loop, so their cost is the CPU time
 * of reading a mapped message twice (conversion is the rare path). Then
 * the text is read a third time and converted as it is sent.
 */
#include <string.h>

#include "deliver/smtpc.h"

/* Run one pass of the converter over the whole stored text. */
static int
smtpc_mime_pass(struct smtpc_mime *m, const struct queue_span *sp,
    enum mime_pass pass, uint64_t *total)
{
	struct queue_cursor cur;
	struct mime_out o = { NULL, 0, 0, 0 };
	const void *p;
	size_t n;
	int rc = queue_cursor_open(&cur, sp);

	if (rc < 0) {
		return rc;
	}
	mime_conv_start(&m->conv, pass);
	while ((rc = queue_cursor_next(&cur, &p, &n)) > 0) {
		mime_conv_feed(&m->conv, p, n, &o); /* counting takes all */
	}
	queue_cursor_close(&cur);
	if (rc < 0) {
		return rc;
	}
	mime_conv_end(&m->conv, &o);
	*total = o.total;
	return 0;
}

int
smtpc_mime_plan(struct smtpc_mime *m, const struct queue_span *sp,
    uint64_t *size)
{
	uint64_t total;
	int rc = smtpc_mime_pass(m, sp, MIME_PASS_PLAN, &total);

	if (rc < 0) {
		return rc;
	}
	if (m->conv.verdict == MIME_V_CONVERT) {
		m->why = NULL;
		rc = smtpc_mime_pass(m, sp, MIME_PASS_EMIT, size);
		m->conv.verdict = MIME_V_CONVERT;
		return rc;
	}
	m->why = m->conv.why;
	return 0;
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
