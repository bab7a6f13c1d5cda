/*
 * queue_msg.c — the queue's life cycle of a message on the event loop:
 * begin, recipients, body, commit (group commit through the writer; the
 * owner is called back once it is durable), results, done; recovery at
 * start-up, and the offline check.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "conf/conf.h"
#include "queue/queue_int.h"

static struct {
	const char *spool;
	uint64_t reserve; /* free bytes below which MAIL gets 452 */
	uint64_t epoch; /* journal failures so far */
	uint64_t commits;
	struct queue_msg *pending; /* waiting for the sync, in seq order */
	struct queue_msg **pending_tail;
	struct queue_waiter *waiters;
	queue_due_fn due;
	struct queue_report *replay_rep; /* while replaying */
	bool started;
} queue = { .pending_tail = &queue.pending };

const char *
queue_spool(void)
{
	return queue.spool;
}

static uint64_t
queue_new_id(void)
{
	static uint64_t last;
	struct timespec ts;
	uint64_t id;

	/* microseconds since the epoch: unique, sortable by arrival */
	clock_gettime(CLOCK_REALTIME, &ts);
	id = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	if (id <= last) {
		id = last + 1;
	}
	last = id;
	return id;
}

/* ---- appending ---------------------------------------------------------- */

static int
queue_append(struct queue_msg *m, uint8_t type, const void *p, size_t n)
{
	struct jrnl_pos pos;
	int rc;

	rc = jrnl_append(type, 0, m->id, p, n, &pos);
	if (rc < 0) {
		return rc;
	}
	qidx_pin(m, pos.seg, pos.off);
	if (type == JRNL_COMMIT) {
		m->commit_seq = pos.seq;
		m->seg_commit = pos.seg;
		m->off_end = pos.off + jrnl_rec_size(n);
	}
	return 0;
}

static bool
queue_space_ok(uint64_t want)
{
	struct statvfs sv;

	if (statvfs(queue.spool, &sv) < 0) {
		return true; /* cannot tell: the write will say */
	}
	return (uint64_t)sv.f_bavail * sv.f_frsize >= queue.reserve + want;
}

int
queue_space_check(uint64_t size_hint)
{
	return queue_space_ok(size_hint) ? 0 : -ENOSPC;
}

int
queue_msg_begin(const struct queue_env *env, struct queue_msg **out)
{
	unsigned char buf[2048];
	struct jrnl_enc e = { buf, 0, sizeof(buf), false };
	struct queue_msg *m;
	int rc;

	*out = NULL;
	if (!queue_space_ok(env->size_hint)) {
		return -ENOSPC;
	}
	m = qidx_new(queue_new_id());
	if (m == NULL) {
		return -ENOMEM;
	}
	m->arrival = (uint64_t)time(NULL);
	m->epoch = queue.epoch;
	snprintf(m->idtext, sizeof(m->idtext), "%016llx",
	    (unsigned long long)m->id);
	jrnl_put64(&e, m->arrival);
	jrnl_put64(&e, env->size_hint);
	jrnl_put8(&e, env->body);
	jrnl_put8(&e, env->smtputf8);
	jrnl_putstr(&e, env->from);
	jrnl_putstr(&e, env->helo);
	jrnl_putstr(&e, env->client);
	jrnl_putstr(&e, env->server);
	/* RFC 3461: after the original fields, so older records still read */
	jrnl_put8(&e, env->ret);
	jrnl_putstr(&e, env->envid != NULL ? env->envid : "");
	rc = e.overflow ? -EMSGSIZE : queue_append(m, JRNL_MSG, buf, e.len);
	if (rc < 0) {
		qidx_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

static void
queue_rcpt_set_kind(struct queue_msg *m, uint32_t i, bool relay)
{
	uint8_t bit = (uint8_t)(1u << (i % 8));

	m->relay[i / 8] = (uint8_t)(relay ? m->relay[i / 8] | bit :
	                                    m->relay[i / 8] & ~bit);
}

bool
queue_rcpt_relay(const struct queue_msg *m, uint32_t i)
{
	return i < m->nrcpt && (m->relay[i / 8] & (1u << (i % 8))) != 0;
}

int
queue_msg_rcpt_dsn(struct queue_msg *m, const char *addr, const char *domain,
    const char *mailbox, const struct queue_dsn *dsn)
{
	unsigned char buf[1600];
	struct jrnl_enc e = { buf, 0, sizeof(buf), false };
	int rc;

	if (m->nrcpt >= CONFIG_SMTPD_RCPT_MAX) {
		return -E2BIG;
	}
	jrnl_put32(&e, m->nrcpt);
	jrnl_putstr(&e, addr);
	jrnl_putstr(&e, domain);
	jrnl_putstr(&e, mailbox);
	jrnl_put8(&e, dsn != NULL ? dsn->notify : 0);
	jrnl_putstr(&e, dsn != NULL && dsn->orcpt != NULL ? dsn->orcpt : "");
	rc = e.overflow ? -EMSGSIZE : queue_append(m, JRNL_RCPT, buf, e.len);
	if (rc == 0) {
		queue_rcpt_set_kind(m, m->nrcpt, mailbox[0] == '\0');
		m->rcpt[m->nrcpt++] = QUEUE_R_PENDING;
		if (dsn != NULL && (dsn->notify & QUEUE_NOTIFY_SUCCESS)) {
			m->dsn |= QUEUE_DSN_SUCCESS;
		}
	}
	return rc;
}

int
queue_msg_rcpt(struct queue_msg *m, const char *addr, const char *domain,
    const char *mailbox)
{
	return queue_msg_rcpt_dsn(m, addr, domain, mailbox, NULL);
}

unsigned
queue_msg_dsn_flags(const struct queue_msg *m)
{
	return m->dsn;
}

/* The delay notice went out: a NOTE record says so (synced with others). */
int
queue_msg_delay_noted(struct queue_msg *m)
{
	uint8_t note = JRNL_NOTE_DELAY;

	m->dsn |= QUEUE_DSN_DELAYED;
	return queue_append(m, JRNL_NOTE, &note, 1);
}

bool
queue_body_ready(size_t n, struct queue_waiter *w)
{
	if (jrnl_room(n)) {
		return true;
	}
	if (!w->queued) {
		w->queued = true;
		w->next = queue.waiters;
		queue.waiters = w;
	}
	return false;
}

void
queue_wait_cancel(struct queue_waiter *w)
{
	struct queue_waiter **pp;

	if (!w->queued) {
		return;
	}
	for (pp = &queue.waiters; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	w->queued = false;
}

/* The writer freed a buffer: every waiter tries again. */
static void
queue_on_space(void)
{
	struct queue_waiter *w = queue.waiters, *next;

	queue.waiters = NULL;
	for (; w != NULL; w = next) {
		next = w->next;
		w->queued = false;
		w->fn(w);
	}
}

int
queue_msg_body(struct queue_msg *m, const void *data, size_t n)
{
	int rc = queue_append(m, JRNL_BODY, data, n);

	if (rc == 0) {
		m->size += n;
	}
	return rc;
}

int
queue_msg_commit(struct queue_msg *m, struct handle h, queue_commit_fn fn)
{
	unsigned char buf[16];
	struct jrnl_enc e = { buf, 0, sizeof(buf), false };
	int rc;

	if (m->epoch != queue.epoch) {
		return -EIO; /* part of it was in a failed write */
	}
	jrnl_put64(&e, m->size);
	jrnl_put32(&e, m->nrcpt);
	rc = queue_append(m, JRNL_COMMIT, buf, e.len);
	if (rc < 0) {
		return rc;
	}
	m->state = QMSG_COMMITTING;
	m->owner = h;
	m->commit_fn = fn;
	queue_pending_add(m);
	queue.commits++;
	return 0;
}

void
queue_pending_add(struct queue_msg *m)
{
	m->cnext = NULL;
	*queue.pending_tail = m;
	queue.pending_tail = &m->cnext;
	jrnl_sync();
}

void
queue_msg_abort(struct queue_msg *m)
{
	if (m->state == QMSG_BUILDING) {
		/* no COMMIT; the ABORT lets recovery free its entry early */
		(void)jrnl_append(JRNL_ABORT, 0, m->id, NULL, 0, NULL);
		qidx_free(m);
	} else if (m->state == QMSG_COMMITTING) {
		m->commit_fn = NULL; /* the owner is gone; the mail is not */
	}
}

/* The writer made everything up to seq durable, or failed (rc < 0). */
static void
queue_on_durable(uint64_t seq, int rc)
{
	struct queue_msg *m;

	if (rc < 0) {
		queue.epoch++; /* messages being built cannot commit now */
	}
	while (
	    (m = queue.pending) != NULL && (rc < 0 || m->commit_seq <= seq)) {
		queue.pending = m->cnext;
		if (queue.pending == NULL) {
			queue.pending_tail = &queue.pending;
		}
		if (m->copying) {
			queue_copy_durable(m, rc);
			continue;
		}
		if (m->commit_fn != NULL) {
			m->commit_fn(m->owner, rc);
		}
		if (rc < 0) {
			/*
			 * The client got 451; the COMMIT may still reach the
			 * disk of the abandoned segment. An ABORT record in the
			 * new one keeps recovery from delivering it anyway.
			 */
			if (jrnl_append(JRNL_ABORT, 0, m->id, NULL, 0, NULL) <
			    0) {
				log_warn("queue id=%s abort record not written",
				    m->idtext);
			}
			qidx_free(m);
			continue;
		}
		m->state = QMSG_LIVE;
		if (queue.due != NULL) {
			queue.due(m);
		}
	}
	if (rc < 0) {
		jrnl_sync(); /* the ABORT records, on stable storage soon */
	}
}

/* ---- delivering ---------------------------------------------------------- */

void
queue_set_due(queue_due_fn fn)
{
	queue.due = fn;
}

uint64_t
queue_msg_id(const struct queue_msg *m)
{
	return m->id;
}

const char *
queue_msg_idtext(const struct queue_msg *m)
{
	return m->idtext;
}

uint8_t *
queue_msg_sched(struct queue_msg *m)
{
	return &m->sched;
}

uint32_t
queue_msg_nrcpt(const struct queue_msg *m)
{
	return m->nrcpt;
}

enum queue_rcpt_state
queue_rcpt_state(const struct queue_msg *m, uint32_t i)
{
	return i < m->nrcpt ? (enum queue_rcpt_state)m->rcpt[i] :
	                      QUEUE_R_FAILED;
}

void
queue_msg_span(const struct queue_msg *m, struct queue_span *sp)
{
	sp->id = m->id;
	sp->seg_first = m->seg_first;
	sp->off_first = m->off_first;
	sp->seg_last = m->seg_commit;
	sp->off_end = m->off_end;
}

int
queue_msg_result(struct queue_msg *m, uint32_t i, enum queue_rcpt_state st,
    const char *reply, uint64_t retry_at)
{
	unsigned char buf[600];
	struct jrnl_enc e = { buf, 0, sizeof(buf), false };
	char r[sizeof(m->last_reply)]; /* what replay can read back */

	if (i >= m->nrcpt) {
		return -EINVAL;
	}
	str_copy(r, reply, sizeof(r));
	jrnl_put32(&e, i);
	jrnl_put8(&e, (uint8_t)st);
	jrnl_put64(&e, retry_at);
	jrnl_putstr(&e, r);
	if (st == QUEUE_R_DELIVERED || st == QUEUE_R_FAILED) {
		if (m->rcpt[i] != QUEUE_R_DELIVERED &&
		    m->rcpt[i] != QUEUE_R_FAILED) {
			m->ndone++;
		}
	}
	m->rcpt[i] = (uint8_t)st;
	if (st == QUEUE_R_DEFERRED) {
		m->next_retry = retry_at;
	}
	if (st != QUEUE_R_DELIVERED) {
		str_copy(m->last_reply, r, sizeof(m->last_reply));
	}
	/* not synced on its own: a lost result means one more attempt */
	return queue_append(m, JRNL_RESULT, buf, e.len);
}

void
queue_msg_retry_at(struct queue_msg *m, uint64_t t)
{
	m->next_retry = t;
	m->attempts++;
}

void
queue_msg_done(struct queue_msg *m)
{
	if (queue_append(m, JRNL_DONE, NULL, 0) < 0) {
		log_warn("queue id=%s done record not written (kept)",
		    m->idtext);
	}
	qidx_free(m);
}

void
queue_msg_info(const struct queue_msg *m, struct queue_info *qi)
{
	memset(qi, 0, sizeof(*qi));
	snprintf(qi->id, sizeof(qi->id), "%016llx", (unsigned long long)m->id);
	qi->arrival = m->arrival;
	qi->size = m->size;
	qi->next_retry = m->next_retry;
	qi->nrcpt = m->nrcpt;
	qi->ndone = m->ndone;
	qi->attempts = m->attempts;
	queue_msg_span(m, &qi->span);
	str_copy(qi->last_reply, m->last_reply, sizeof(qi->last_reply));
}

void
queue_foreach(queue_info_fn fn, void *ctx)
{
	struct queue_info qi;
	struct queue_msg *m;
	uint32_t slot = 0;

	while ((m = qidx_next(&slot)) != NULL) {
		if (m->state == QMSG_LIVE) {
			queue_msg_info(m, &qi);
			fn(ctx, &qi);
		}
	}
}

struct queue_msg *
queue_find(const char *idtext)
{
	unsigned long long id;
	char *end;

	id = strtoull(idtext, &end, 16);
	if (*idtext == '\0' || *end != '\0') {
		return NULL;
	}
	return qidx_find(id);
}

struct queue_msg *
queue_lookup(uint64_t id)
{
	return qidx_find(id);
}

void
queue_get_stats(struct queue_stats *st)
{
	memset(st, 0, sizeof(*st));
	jrnl_stats(&st->bytes_written, &st->syncs);
	st->commits = queue.commits;
	st->segments = qidx_nsegments();
	st->messages = qidx_count();
}

/* ---- recovery ------------------------------------------------------------ */

/* Forget what replay built of a message, keeping its id and pins. */
static void
queue_replay_reset(struct queue_msg *m)
{
	m->nrcpt = 0;
	m->ndone = 0;
	m->size = 0;
	m->attempts = 0;
	m->next_retry = 0;
	m->last_reply[0] = '\0';
	m->copying = false;
	m->copy_results = 0;
	m->dsn = 0;
	m->state = QMSG_BUILDING;
}

/* Recipients with a state other than pending: what a copy restates. */
static uint32_t
queue_settled_rcpts(const struct queue_msg *m)
{
	uint32_t i, n = 0;

	for (i = 0; i < m->nrcpt; i++) {
		n += m->rcpt[i] != QUEUE_R_PENDING;
	}
	return n;
}

static void
queue_replay_rec(void *ctx, uint64_t seg, uint64_t off,
    const struct jrnl_hdr *h, const unsigned char *payload)
{
	struct jrnl_dec d = { payload, h->len, 0, false };
	struct queue_msg *m = qidx_find(h->id);
	uint32_t i;
	uint8_t st;

	qidx_seg_add(seg);
	if (h->type == JRNL_MSG) {
		if (m != NULL && (h->flags & JRNL_F_COPY) &&
		    m->state != QMSG_LIVE) {
			/*
			 * What came before is an unfinished copy of a message
			 * whose original is gone: this copy starts it over.
			 */
			qidx_pin(m, seg, off);
			qidx_repin(m, seg, off);
			queue_replay_reset(m);
			return;
		}
		if (m != NULL) {
			if (h->flags & JRNL_F_COPY) {
				/* a copy: it counts once its COMMIT is read */
				m->copying = true;
				m->copy_seg = seg;
				m->copy_off = off;
				m->copy_results = 0;
				qidx_pin(m, seg, off);
			}
			return;
		}
		m = qidx_new(h->id);
		if (m == NULL) {
			fatal("queue: more messages in %s than the index holds "
			      "(CONFIG_QUEUE_MAX_MESSAGES=%d)",
			    queue.spool, CONFIG_QUEUE_MAX_MESSAGES);
		}
		m->arrival = jrnl_get64(&d);
		snprintf(m->idtext, sizeof(m->idtext), "%016llx",
		    (unsigned long long)m->id);
	}
	if (m == NULL) {
		return; /* a result or done of a message already gone */
	}
	qidx_pin(m, seg, off);
	switch (h->type) {
	case JRNL_RCPT:
		if (!m->copying && m->nrcpt < CONFIG_SMTPD_RCPT_MAX) {
			char skip[256], mailbox[65];

			jrnl_get32(&d);
			jrnl_getstr(&d, skip, sizeof(skip));
			jrnl_getstr(&d, skip, sizeof(skip));
			jrnl_getstr(&d, mailbox, sizeof(mailbox));
			if (d.off < d.len &&
			    (jrnl_get8(&d) & QUEUE_NOTIFY_SUCCESS)) {
				m->dsn |= QUEUE_DSN_SUCCESS;
			}
			queue_rcpt_set_kind(m, m->nrcpt, mailbox[0] == '\0');
			m->rcpt[m->nrcpt++] = QUEUE_R_PENDING;
		}
		break;
	case JRNL_BODY:
		m->size += m->copying ? 0 : h->len;
		break;
	case JRNL_COMMIT:
		if (m->copying) {
			m->copy_commit_seg = seg;
			m->copy_off_end = off + jrnl_rec_size(h->len);
			/* a copy counts only with every state restated in it */
			queue_copy_durable(m,
			    m->copy_results == queue_settled_rcpts(m) ? 0 :
			                                                -EIO);
			break;
		}
		m->state = QMSG_LIVE;
		m->seg_commit = seg;
		m->off_end = off + jrnl_rec_size(h->len);
		break;
	case JRNL_RESULT:
		i = jrnl_get32(&d);
		st = jrnl_get8(&d);
		m->copy_results += m->copying;
		if (!d.bad && i < m->nrcpt) {
			if ((st == QUEUE_R_DELIVERED || st == QUEUE_R_FAILED) &&
			    m->rcpt[i] != QUEUE_R_DELIVERED &&
			    m->rcpt[i] != QUEUE_R_FAILED) {
				m->ndone++;
			}
			uint64_t retry = jrnl_get64(&d);

			m->rcpt[i] = st;
			if (st == QUEUE_R_DEFERRED && retry != m->next_retry) {
				/* one attempt defers its recipients together */
				m->next_retry = retry;
				m->attempts++;
			}
			if (st != QUEUE_R_DELIVERED) {
				jrnl_getstr_cut(&d, m->last_reply,
				    sizeof(m->last_reply));
			}
		}
		break;
	case JRNL_NOTE:
		if (jrnl_get8(&d) == JRNL_NOTE_DELAY) {
			m->dsn |= QUEUE_DSN_DELAYED;
		}
		break;
	case JRNL_ABORT:
		if (m->state != QMSG_LIVE && queue.replay_rep != NULL) {
			queue.replay_rep->dropped++; /* never acknowledged */
		}
		qidx_free(m);
		break;
	case JRNL_DONE:
		qidx_free(m);
		break;
	}
}

int
queue_init(const struct conf *c, struct queue_report *rep)
{
	struct jrnl_replay rp = { NULL, queue_replay_rec };
	uint64_t seg, seq;
	int rc;

	queue.spool = c->spool;
	queue.reserve = 2 * c->queue.segment_bytes;
	crc32c_update(0, "", 0); /* the table, before any thread */
	rc = fs_mkdirs(c->spool);
	if (rc < 0) {
		return rc;
	}
	qidx_init();
	queue.replay_rep = rep;
	rc = jrnl_replay(c->spool, true, &rp, rep, &seg, &seq);
	queue.replay_rep = NULL;
	if (rc < 0) {
		return rc;
	}
	rc = jrnl_writer_start(c->spool, seg, seq, c->queue.segment_bytes,
	    queue_on_durable, queue_on_space);
	if (rc < 0) {
		return rc;
	}
	qidx_settle(rep);
	queue.started = true;
	return 0;
}

void
queue_fini(void)
{
	if (queue.started) {
		jrnl_writer_stop();
	}
}

/* ---- the offline check ---------------------------------------------------- */

struct queue_check_ctx {
	bool verbose;
};

static const char *const queue_type_names[] = { "?", "msg", "rcpt", "body",
	"commit", "result", "done", "abort", "note" };

/* The DSN fields of a MSG or RCPT record, when it has them. */
static void
queue_check_dsn(const struct jrnl_hdr *h, const unsigned char *payload)
{
	struct jrnl_dec d = { payload, h->len, 0, false };
	bool msg = h->type == JRNL_MSG;
	char s[501];
	uint8_t v;
	int k;

	if (msg) {
		jrnl_get64(&d);
		jrnl_get64(&d);
		jrnl_get8(&d);
		jrnl_get8(&d);
	} else {
		jrnl_get32(&d);
	}
	for (k = 0; k < (msg ? 4 : 3); k++) {
		jrnl_getstr_cut(&d, s, sizeof(s));
	}
	if (d.bad || d.off >= d.len) {
		return; /* a record from before DSN */
	}
	v = jrnl_get8(&d);
	jrnl_getstr_cut(&d, s, sizeof(s));
	if (!d.bad && (v != 0 || s[0] != '\0')) {
		printf(msg ? " ret=%u envid=%s" : " notify=0x%x orcpt=%s",
		    (unsigned)v, s[0] != '\0' ? s : "-");
	}
}

static void
queue_check_rec(void *ctx, uint64_t seg, uint64_t off, const struct jrnl_hdr *h,
    const unsigned char *payload)
{
	struct queue_check_ctx *cc = ctx;

	if (cc->verbose && h->type != JRNL_BODY) {
		printf("%016llx+%llu seq=%llu %s id=%016llx len=%u",
		    (unsigned long long)seg, (unsigned long long)off,
		    (unsigned long long)h->seq, queue_type_names[h->type],
		    (unsigned long long)h->id, h->len);
		if (h->type == JRNL_MSG || h->type == JRNL_RCPT) {
			queue_check_dsn(h, payload);
		}
		printf("\n");
	}
	queue_replay_rec(NULL, seg, off, h, payload);
}

int
queue_check(const char *dir, struct queue_report *rep, bool verbose)
{
	struct queue_check_ctx cc = { verbose };
	struct jrnl_replay rp = { &cc, queue_check_rec };
	uint64_t seg, seq;
	int rc;

	queue.spool = dir;
	qidx_init();
	queue.replay_rep = rep;
	rc = jrnl_replay(dir, false, &rp, rep, &seg, &seq);
	queue.replay_rep = NULL;
	if (rc == 0) {
		struct queue_msg *m;
		uint32_t slot = 0;

		while ((m = qidx_next(&slot)) != NULL) {
			if (m->state != QMSG_LIVE) {
				rep->dropped++;
			} else {
				rep->messages++;
			}
		}
	}
	return rc;
}
