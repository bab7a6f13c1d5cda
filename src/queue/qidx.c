/*
 * qidx.c — the in-memory index of the queue: a fixed pool of
 * entries (CONFIG_QUEUE_MAX_MESSAGES) found by id through a hash table,
 * and the table of segments with how many live messages each holds.
 * A message pins every segment from its first record to its last, so a
 * segment is deleted only when nothing it holds can still be needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_int.h"

#define QIDX_SEGS CONFIG_QUEUE_MAX_SEGMENTS
#define QIDX_REPLAY_SLACK (4 * CONFIG_POOL_TRANSACTIONS)

static struct pool qidx_pool;
static struct queue_msg **qidx_hash;
static uint32_t qidx_mask;
static struct qidx_seg {
	uint64_t seg;
	uint32_t live;
} qidx_segs[QIDX_SEGS];
static uint32_t qidx_nsegs;
static bool qidx_sweeping; /* only once the writer runs */

_Static_assert(QIDX_SEGS >= 4, "too few segments");

void
qidx_init(void)
{
	uint32_t n = 1;

	/*
	 * Recovery also meets messages that never committed (cut off by a
	 * crash) and frees them only at the end: room for those beyond the
	 * limit that serving keeps to.
	 */
	pool_init(&qidx_pool, "queue-msg", sizeof(struct queue_msg),
	    CONFIG_QUEUE_MAX_MESSAGES + QIDX_REPLAY_SLACK);
	pool_set_limit(&qidx_pool,
	    CONFIG_QUEUE_MAX_MESSAGES + QIDX_REPLAY_SLACK);
	while (n < 2u * CONFIG_QUEUE_MAX_MESSAGES) {
		n <<= 1;
	}
	qidx_hash = arena_alloc(sizeof(*qidx_hash) * n);
	qidx_mask = n - 1;
}

static uint32_t
qidx_bucket(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (uint32_t)id & qidx_mask;
}

struct queue_msg *
qidx_find(uint64_t id)
{
	struct queue_msg *m;

	for (m = qidx_hash[qidx_bucket(id)]; m != NULL; m = m->hnext) {
		if (m->id == id) {
			return m;
		}
	}
	return NULL;
}

struct queue_msg *
qidx_new(uint64_t id)
{
	struct queue_msg *m = pool_get(&qidx_pool, NULL);
	uint32_t b;

	if (m == NULL) {
		return NULL;
	}
	memset(m, 0, offsetof(struct queue_msg, relay));
	m->id = id;
	b = qidx_bucket(id);
	m->hnext = qidx_hash[b];
	qidx_hash[b] = m;
	return m;
}

static struct qidx_seg *
qidx_seg_find(uint64_t seg, bool add)
{
	uint32_t k;

	for (k = 0; k < qidx_nsegs; k++) {
		if (qidx_segs[k].seg == seg) {
			return &qidx_segs[k];
		}
	}
	if (!add || qidx_nsegs == QIDX_SEGS) {
		return NULL;
	}
	qidx_segs[qidx_nsegs].seg = seg;
	qidx_segs[qidx_nsegs].live = 0;
	return &qidx_segs[qidx_nsegs++];
}

void
qidx_seg_add(uint64_t seg)
{
	if (qidx_seg_find(seg, true) == NULL) {
		log_warn("queue segments=%u: table full "
		         "(CONFIG_QUEUE_MAX_SEGMENTS)",
		    qidx_nsegs);
	}
}

/* m's records now reach segment seg: pin what it did not pin yet. */
void
qidx_pin(struct queue_msg *m, uint64_t seg, uint64_t off)
{
	struct qidx_seg *s;
	uint64_t k;

	if (m->seg_first == 0) {
		m->seg_first = m->seg_last = seg;
		m->off_first = off;
		s = qidx_seg_find(seg, true);
		if (s != NULL) {
			s->live++;
		}
		return;
	}
	for (k = m->seg_last + 1; k <= seg; k++) {
		s = qidx_seg_find(k, true);
		if (s != NULL) {
			s->live++;
		}
	}
	m->seg_last = MAX(m->seg_last, seg);
}

/*
 * Segments go oldest first, and only while nothing in them is live: a
 * later segment may hold the RESULT and DONE records of a message whose
 * MSG record is in an earlier one, so deleting out of order could bring a
 * finished message back at the next start. Copy-forward moves what is
 * left in the oldest segment out of the way.
 */
static void
qidx_seg_sweep(void)
{
	uint64_t cur;
	uint32_t k, oldest;

	if (!qidx_sweeping) {
		return;
	}
	cur = jrnl_current_segment();
	while (qidx_nsegs > 0) {
		oldest = 0;
		for (k = 1; k < qidx_nsegs; k++) {
			if (qidx_segs[k].seg < qidx_segs[oldest].seg) {
				oldest = k;
			}
		}
		if (qidx_segs[oldest].live != 0 ||
		    qidx_segs[oldest].seg >= cur) {
			return;
		}
		jrnl_segment_release(qidx_segs[oldest].seg);
		qidx_segs[oldest] = qidx_segs[--qidx_nsegs];
	}
}

void
qidx_free(struct queue_msg *m)
{
	struct queue_msg **pp = &qidx_hash[qidx_bucket(m->id)];
	struct qidx_seg *s;
	uint64_t k;

	while (*pp != m) {
		pp = &(*pp)->hnext;
	}
	*pp = m->hnext;
	for (k = m->seg_first; k != 0 && k <= m->seg_last; k++) {
		s = qidx_seg_find(k, false);
		if (s != NULL && s->live > 0) {
			s->live--;
		}
	}
	pool_put(&qidx_pool, m);
	qidx_seg_sweep();
}

/* After recovery: drop what never committed, then delete empty segments. */
void
qidx_settle(struct queue_report *rep)
{
	struct queue_msg *m;
	uint32_t slot = 0;

	while ((m = pool_next(&qidx_pool, &slot)) != NULL) {
		m->copying = false; /* a copy without its COMMIT: the original */
		if (m->state != QMSG_LIVE) {
			rep->dropped++;
			qidx_free(m);
		} else {
			rep->messages++;
		}
	}
	qidx_sweeping = true;
	pool_set_limit(&qidx_pool, CONFIG_QUEUE_MAX_MESSAGES);
	qidx_seg_sweep();
}

uint32_t
qidx_count(void)
{
	return pool_used(&qidx_pool);
}

uint32_t
qidx_nsegments(void)
{
	return qidx_nsegs;
}

struct queue_msg *
qidx_next(uint32_t *slot)
{
	return pool_next(&qidx_pool, slot);
}

void
qidx_repin(struct queue_msg *m, uint64_t seg, uint64_t off)
{
	struct qidx_seg *s;
	uint64_t k;

	for (k = m->seg_first; k != 0 && k < seg; k++) {
		s = qidx_seg_find(k, false);
		if (s != NULL && s->live > 0) {
			s->live--;
		}
	}
	m->seg_first = seg;
	m->off_first = off;
	qidx_seg_sweep();
}

uint64_t
qidx_oldest_segment(void)
{
	uint64_t cur = jrnl_current_segment(), oldest = 0;
	uint32_t k;

	for (k = 0; k < qidx_nsegs; k++) {
		if (qidx_segs[k].seg < cur && qidx_segs[k].live > 0 &&
		    (oldest == 0 || qidx_segs[k].seg < oldest)) {
			oldest = qidx_segs[k].seg;
		}
	}
	return oldest;
}
