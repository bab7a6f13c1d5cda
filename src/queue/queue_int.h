/*
 * queue_int.h — inside the queue part only: the index entry and the
 * functions queue_index.c gives queue_msg.c.
 */
#ifndef TERN_QUEUE_INT_H
#define TERN_QUEUE_INT_H

#include "queue/jrnl.h"

enum qmsg_state {
	QMSG_BUILDING = 0, /* records being appended */
	QMSG_COMMITTING, /* COMMIT appended, waiting for the sync */
	QMSG_LIVE, /* durable: acknowledged and being delivered */
};

struct queue_msg {
	uint64_t id;
	uint64_t arrival;
	uint64_t size; /* body bytes */
	uint64_t seg_first;
	uint64_t off_first; /* the MSG record */
	uint64_t seg_last;
	uint64_t off_end; /* just past the COMMIT record */
	uint64_t seg_commit;
	uint64_t commit_seq;
	uint64_t next_retry;
	uint64_t epoch; /* journal failures seen when it began */
	struct queue_msg *hnext;
	struct queue_msg *cnext; /* waiting for the sync */
	struct handle owner;
	queue_commit_fn commit_fn;
	uint32_t nrcpt;
	uint32_t ndone;
	uint32_t attempts;
	uint8_t state;
	uint8_t sched; /* the scheduler's */
	uint8_t dsn; /* QUEUE_DSN_* */
	char idtext[QUEUE_ID_TEXT];
	char last_reply[128]; /* the latest reason a recipient was not delivered */
	bool copying; /* a copy is being written further on */
	uint64_t copy_seg; /* where the copy's MSG record is */
	uint64_t copy_off;
	uint32_t copy_results; /* RESULT records seen in the copy (replay) */
	uint64_t copy_commit_seg;
	uint64_t copy_off_end;
	uint8_t relay[(CONFIG_SMTPD_RCPT_MAX + 7) / 8]; /* bit i: not local */
	uint8_t rcpt[CONFIG_SMTPD_RCPT_MAX]; /* enum queue_rcpt_state */
};

/* Each record of one message, in order (COMMIT excluded); non-zero stops. */
typedef int (*queue_raw_fn)(void *ctx, const struct jrnl_hdr *h,
    const unsigned char *payload);
int queue_read_raw(const char *spool, const struct queue_span *sp,
    queue_raw_fn fn, void *ctx);
/* The copy of m is durable at (seg, off): drop the pins before it. */
void qidx_repin(struct queue_msg *m, uint64_t seg, uint64_t off);
/* The oldest segment other than the one being written, or 0. */
uint64_t qidx_oldest_segment(void);

/* queue_msg.c: wait for the sync of m's COMMIT */
void queue_pending_add(struct queue_msg *m);
/* queue_copy.c */
void queue_copy_durable(struct queue_msg *m, int rc);

void qidx_init(void);
struct queue_msg *qidx_find(uint64_t id);
struct queue_msg *qidx_new(uint64_t id);
void qidx_free(struct queue_msg *m);
void qidx_pin(struct queue_msg *m, uint64_t seg, uint64_t off);
void qidx_seg_add(uint64_t seg);
void qidx_settle(struct queue_report *rep);
uint32_t qidx_count(void);
uint32_t qidx_nsegments(void);
struct queue_msg *qidx_next(uint32_t *slot);

#endif
