/*
 * queue_copy.c — copying long-lived messages forward, so that an old
 * segment held by a few deferred messages can be deleted. A copy is the
 * message's records appended again (the MSG record flagged as a copy, the
 * same id), a new COMMIT, and RESULT records restating each recipient.
 * Only when that COMMIT is durable does the index move to the copy and let
 * the old segment go; a copy cut short by a crash has no COMMIT and
 * recovery keeps the original. Nothing is rewritten in place.
 *
 * The old records are read on the event loop: a bounded amount per call,
 * from a segment the page cache usually still has.
 */
#include <string.h>

#include "queue/queue_int.h"

#define QUEUE_COPY_BUDGET (4u * 1024 * 1024) /* bytes copied per call */

struct queue_copy_ctx {
	struct queue_msg *m;
};

static int
queue_copy_rec(void *ctx, const struct jrnl_hdr *h,
    const unsigned char *payload)
{
	struct queue_copy_ctx *cc = ctx;
	struct jrnl_pos pos;
	int rc;

	if (h->type == JRNL_RESULT || h->type == JRNL_DONE ||
	    h->type == JRNL_NOTE) {
		return 0; /* restated after the COMMIT */
	}
	rc = jrnl_append(h->type, h->type == JRNL_MSG ? JRNL_F_COPY : 0, h->id,
	    payload, h->len, &pos);
	if (rc < 0) {
		return rc;
	}
	if (h->type == JRNL_MSG) {
		cc->m->copy_seg = pos.seg;
		cc->m->copy_off = pos.off;
	}
	qidx_pin(cc->m, pos.seg, pos.off);
	return 0;
}

static int
queue_copy_results(struct queue_msg *m)
{
	unsigned char buf[300];
	struct jrnl_pos pos;
	uint32_t i;
	int rc = 0;

	for (i = 0; i < m->nrcpt && rc == 0; i++) {
		struct jrnl_enc e = { buf, 0, sizeof(buf), false };

		if (m->rcpt[i] == QUEUE_R_PENDING) {
			continue;
		}
		jrnl_put32(&e, i);
		jrnl_put8(&e, m->rcpt[i]);
		jrnl_put64(&e, m->next_retry);
		jrnl_putstr(&e,
		    m->rcpt[i] == QUEUE_R_DELIVERED ? "delivered" :
		                                      m->last_reply);
		rc = jrnl_append(JRNL_RESULT, 0, m->id, buf, e.len, &pos);
	}
	if (rc == 0 && (m->dsn & QUEUE_DSN_DELAYED)) {
		uint8_t note = JRNL_NOTE_DELAY; /* the delay notice stays sent */

		rc = jrnl_append(JRNL_NOTE, 0, m->id, &note, 1, &pos);
	}
	return rc;
}

/* Copy one message; 0 when the copy is written and waits for the sync. */
static int
queue_copy_one(struct queue_msg *m)
{
	struct queue_copy_ctx cc = { m };
	unsigned char buf[16];
	struct jrnl_enc e = { buf, 0, sizeof(buf), false };
	struct queue_span sp;
	struct jrnl_pos pos;
	int rc;

	queue_msg_span(m, &sp);
	m->copying = true;
	m->copy_results = 0;
	rc = queue_read_raw(queue_spool(), &sp, queue_copy_rec, &cc);
	if (rc == 0) {
		/* before the COMMIT: a copy that counts has its states */
		rc = queue_copy_results(m);
	}
	if (rc == 0) {
		jrnl_put64(&e, m->size);
		jrnl_put32(&e, m->nrcpt);
		rc = jrnl_append(JRNL_COMMIT, 0, m->id, buf, e.len, &pos);
	}
	if (rc == 0) {
		m->commit_seq = pos.seq;
		m->copy_commit_seg = pos.seg;
		m->copy_off_end = pos.off + jrnl_rec_size(e.len);
	}
	if (rc < 0) {
		m->copying = false; /* no COMMIT: recovery ignores the pieces */
		return rc;
	}
	queue_pending_add(m);
	return 0;
}

/* The copy's COMMIT is durable (rc 0) or failed: move to it, or stay. */
void
queue_copy_durable(struct queue_msg *m, int rc)
{
	m->copying = false;
	if (rc < 0) {
		return;
	}
	m->seg_commit = m->copy_commit_seg;
	m->off_end = m->copy_off_end;
	qidx_repin(m, m->copy_seg, m->copy_off);
}

void
queue_gc(uint64_t now, bool (*busy)(uint64_t id))
{
	uint64_t oldest = qidx_oldest_segment(), budget = QUEUE_COPY_BUDGET;
	struct queue_msg *m;
	uint32_t slot = 0;

	if (oldest == 0) {
		return;
	}
	while (budget > 0 && (m = qidx_next(&slot)) != NULL) {
		/* deferred and waiting: the ones that hold segments long */
		if (m->state != QMSG_LIVE || m->copying ||
		    m->seg_first != oldest || m->next_retry <= now ||
		    busy(m->id)) {
			continue;
		}
		if (!jrnl_room(m->size + (size_t)m->nrcpt * 700 + 1024) ||
		    queue_copy_one(m) < 0) {
			return; /* the buffers are full: later */
		}
		log_info("%s queue copied-forward from-segment=%llx", m->idtext,
		    (unsigned long long)oldest);
		budget = m->size >= budget ? 0 : budget - m->size;
	}
}

bool
queue_msg_copying(const struct queue_msg *m)
{
	return m->copying;
}
