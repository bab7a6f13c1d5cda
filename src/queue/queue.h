/*
 * queue.h — the mail queue: an append-only journal of segment files with
 * group commit, crash recovery and an in-memory index (DESIGN.md 2).
 *
 * A message is a run of records: MSG (envelope), RCPT (one per
 * recipient), BODY (the text, in pieces, interleaved with other
 * messages'), COMMIT. It exists once COMMIT is on stable storage; only
 * then does the server say 250. Later RESULT records say what happened to
 * each recipient and DONE ends it. Segments whose messages are all done
 * are deleted; nothing is rewritten in place.
 *
 * Writing and syncing happen on one writer thread, so the event loop
 * never waits for the disk; completions come back through an eventfd.
 */
#ifndef TERN_QUEUE_H
#define TERN_QUEUE_H

#include "core/core.h"

struct conf;

#define QUEUE_ID_TEXT 17 /* 16 hex digits and NUL */

/* DSN NOTIFY bits as stored (the same values as SMTP_NOTIFY_*) */
#define QUEUE_NOTIFY_NEVER 0x1u
#define QUEUE_NOTIFY_SUCCESS 0x2u
#define QUEUE_NOTIFY_FAILURE 0x4u
#define QUEUE_NOTIFY_DELAY 0x8u

enum queue_rcpt_state {
	QUEUE_R_PENDING = 0,
	QUEUE_R_DELIVERED,
	QUEUE_R_DEFERRED,
	QUEUE_R_FAILED,
};

/* The envelope as the server knows it at the start of the message. */
struct queue_env {
	const char *from; /* "" for the null reverse-path */
	const char *helo;
	const char *client; /* address text */
	const char *server; /* virtual server name */
	uint64_t size_hint; /* SIZE=, 0 when not given */
	uint8_t body; /* enum smtp_body */
	bool smtputf8;
	uint8_t ret; /* DSN RET= (enum smtp_ret), 0 when absent */
	const char *envid; /* DSN ENVID=, decoded; NULL or "" when absent */
};

/* A recipient's DSN parameters (RFC 3461 4.1, 4.2). */
struct queue_dsn {
	uint8_t notify; /* SMTP_NOTIFY_* bits, 0 when absent */
	const char *orcpt; /* "addr-type;address" decoded, "" when absent */
};

/*
 * One recipient as stored: the address and, for local ones, the domain and
 * mailbox; a recipient to relay has its domain and an empty mailbox.
 */
struct queue_rcpt {
	char addr[256];
	char domain[256];
	char mailbox[65];
	enum queue_rcpt_state state;
	char reply[256]; /* the last reply or reason */
	uint8_t notify; /* DSN NOTIFY bits, 0 when absent */
	char orcpt[501]; /* DSN ORCPT "addr-type;address", "" when absent */
};

struct queue_msg; /* an index entry */

/* A session waiting for journal buffer space (intrusive, one-shot). */
struct queue_waiter;
typedef void (*queue_wake_fn)(struct queue_waiter *w);
struct queue_waiter {
	struct queue_waiter *next;
	queue_wake_fn fn;
	bool queued;
};

typedef void (*queue_commit_fn)(struct handle h, int rc);

/* ---- start-up, recovery --------------------------------------------- */

struct queue_report {
	uint32_t segments;
	uint64_t records;
	uint32_t messages; /* committed and not done */
	uint32_t dropped; /* never committed: not acknowledged, dropped */
	uint32_t torn; /* segments whose tail was cut */
	uint64_t torn_bytes;
	uint32_t bad_records; /* CRC errors skipped in older segments */
};

/* Recover the spool (or create it) and start the writer thread. */
int queue_init(const struct conf *c, struct queue_report *rep);
/* Offline: what recovery of DIR would do, printed; nothing is changed. */
int queue_check(const char *dir, struct queue_report *rep, bool verbose);
/* Let queued writes finish, stop the thread. */
void queue_fini(void);

/* ---- receiving --------------------------------------------------------- */

/* Is there room in the spool for a message of about this size? */
int queue_space_check(uint64_t size_hint);
/*
 * Start a message: -ENOMEM when the index is full, -ENOSPC when the spool
 * is short of space (both 452 4.3.1), -EIO when the journal failed.
 */
int queue_msg_begin(const struct queue_env *env, struct queue_msg **out);
int queue_msg_rcpt(struct queue_msg *m, const char *addr, const char *domain,
    const char *mailbox);
/* The same with the recipient's DSN parameters (dsn may be NULL). */
int queue_msg_rcpt_dsn(struct queue_msg *m, const char *addr,
    const char *domain, const char *mailbox, const struct queue_dsn *dsn);
/* Room for n more body bytes now? If not, w is called when there is. */
bool queue_body_ready(size_t n, struct queue_waiter *w);
void queue_wait_cancel(struct queue_waiter *w);
int queue_msg_body(struct queue_msg *m, const void *data, size_t n);
/* Seal the message; fn(h, 0) once it is durable, fn(h, -errno) if not. */
int queue_msg_commit(struct queue_msg *m, struct handle h, queue_commit_fn fn);
/* A message that will not be committed (refused, client gone). */
void queue_msg_abort(struct queue_msg *m);
const char *queue_msg_idtext(const struct queue_msg *m);

/* ---- delivering -------------------------------------------------------- */

/* Called for each message that has become durable or is due for retry. */
typedef void (*queue_due_fn)(struct queue_msg *m);
void queue_set_due(queue_due_fn fn);
uint64_t queue_msg_id(const struct queue_msg *m);
uint32_t queue_msg_nrcpt(const struct queue_msg *m);
enum queue_rcpt_state queue_rcpt_state(const struct queue_msg *m, uint32_t i);
/* Recipient i goes to another host (no local mailbox). */
bool queue_rcpt_relay(const struct queue_msg *m, uint32_t i);
/* Journal position of a message, for a reader on another thread. */
struct queue_span {
	uint64_t id;
	uint64_t seg_first;
	uint64_t off_first;
	uint64_t seg_last;
	uint64_t off_end; /* just past the COMMIT record */
};
void queue_msg_span(const struct queue_msg *m, struct queue_span *sp);
/* A byte of the entry that belongs to the scheduler (zero at first). */
uint8_t *queue_msg_sched(struct queue_msg *m);
/* Record what happened to recipient i (appended with the next commit). */
int queue_msg_result(struct queue_msg *m, uint32_t i, enum queue_rcpt_state st,
    const char *reply, uint64_t retry_at);
/*
 * DSN bookkeeping of a message: QUEUE_DSN_SUCCESS, some recipient asked
 * NOTIFY=SUCCESS (known without reading the journal); QUEUE_DSN_DELAYED,
 * the delay notice went out (a NOTE record: once, across restarts).
 */
#define QUEUE_DSN_SUCCESS 0x1u
#define QUEUE_DSN_DELAYED 0x2u
unsigned queue_msg_dsn_flags(const struct queue_msg *m);
int queue_msg_delay_noted(struct queue_msg *m);
/* All recipients final: the message is done and leaves the index. */
void queue_msg_done(struct queue_msg *m);
/* The message is due again at time t (seconds, wall clock). */
void queue_msg_retry_at(struct queue_msg *m, uint64_t t);

/*
 * Copy deferred messages of the oldest segment forward so it can go; busy
 * says which messages are being delivered (those stay). Call now and then.
 */
void queue_gc(uint64_t now, bool (*busy)(uint64_t id));
/* Being copied: not to be delivered until the copy is settled. */
bool queue_msg_copying(const struct queue_msg *m);

/* ---- reading the journal (any thread) -------------------------------- */

/*
 * Walk the records of one message in order: the envelope fields, each
 * recipient and each body piece. The callbacks run on the caller's
 * thread; return non-zero to stop.
 */
struct queue_envelope {
	char from[256];
	uint64_t arrival;
	uint64_t size_hint;
	uint8_t body; /* enum smtp_body */
	bool smtputf8;
	uint8_t ret; /* DSN RET= */
	char envid[101]; /* DSN ENVID=, "" when absent */
};

struct queue_reader {
	void *ctx;
	int (*env)(void *ctx, const struct queue_envelope *e);
	int (*rcpt)(void *ctx, uint32_t i, const struct queue_rcpt *r);
	int (*body)(void *ctx, const void *data, size_t n);
};
int queue_read(const char *spool, const struct queue_span *sp,
    const struct queue_reader *rd);

/*
 * The message text piece by piece, for a reader on the event loop that
 * must stop when its socket is full (the relay client). The segments are
 * mapped read-only; queue_cursor_close() unmaps them.
 */
struct queue_cursor {
	struct queue_span sp;
	uint64_t seg;
	uint64_t off;
	const unsigned char *map;
	size_t map_len;
	bool done;
};
int queue_cursor_open(struct queue_cursor *c, const struct queue_span *sp);
/* 1 with the next piece in p and n, 0 at the end, or a negative errno. */
int queue_cursor_next(struct queue_cursor *c, const void **p, size_t *n);
void queue_cursor_close(struct queue_cursor *c);

/* ---- inspection (ternctl, mailq) --------------------------------------- */

struct queue_info {
	char id[QUEUE_ID_TEXT];
	uint64_t arrival; /* seconds, wall clock */
	uint64_t size;
	uint64_t next_retry;
	uint32_t nrcpt;
	uint32_t ndone;
	uint32_t attempts;
	struct queue_span span;
	char last_reply[128];
};
typedef void (*queue_info_fn)(void *ctx, const struct queue_info *qi);
void queue_foreach(queue_info_fn fn, void *ctx);
struct queue_msg *queue_find(const char *idtext);
struct queue_msg *queue_lookup(uint64_t id);
void queue_msg_info(const struct queue_msg *m, struct queue_info *qi);
const char *queue_spool(void);

struct queue_stats {
	uint64_t bytes_written; /* to segment files */
	uint64_t syncs;
	uint64_t commits;
	uint32_t segments;
	uint32_t messages;
};
void queue_get_stats(struct queue_stats *st);

#endif
