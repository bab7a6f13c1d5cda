/*
 * dsched.c — the delivery scheduler: messages become due when their
 * COMMIT is durable (or at start-up, after recovery), and again at their
 * retry time; each due message goes to the agent as a job from a fixed
 * pool; results go to the journal; a message whose recipients are all
 * final is done. Retries follow the configured schedule; past the expiry
 * time the remaining recipients fail.
 */
#include <string.h>
#include <time.h>

#include "route/route.h"

#define DSCHED_TICK_MS 1000

static struct {
	const struct conf *conf;
	const struct dsched_agent *local;
	const struct dsched_agent *relay;
	struct pool jobs;
	uint64_t *due; /* ring of message ids */
	uint32_t due_head, due_len;
	struct ev_timer tick;
	struct dsched_job *waiting; /* results waiting for journal room */
	struct queue_waiter qwait;
	dsched_report_fn report; /* the DSN generator, if any */
} dsched;

void
dsched_set_report(dsched_report_fn fn)
{
	dsched.report = fn;
}

#define DSCHED_QUEUED 0x1 /* in the due ring */
#define DSCHED_COUNTED 0x2 /* this round's local job counted an attempt */
#define DSCHED_TURN 0x4 /* the local job is over: the relay agent's turn */

/*
 * Being delivered, or waiting in the due ring for a job: copy-forward
 * leaves it alone, since a message being copied is dropped from the ring
 * and would wait for its next retry (after a restart, hours).
 */
static bool
dsched_busy(uint64_t id)
{
	struct queue_msg *m = queue_lookup(id);
	struct dsched_job *j;
	uint32_t slot = 0;

	if (m != NULL && (*queue_msg_sched(m) & DSCHED_QUEUED)) {
		return true;
	}

	while ((j = pool_next(&dsched.jobs, &slot)) != NULL) {
		if (j->span.id == id) {
			return true;
		}
	}
	return false;
}

static void
dsched_push(uint64_t id)
{
	struct queue_msg *m = queue_lookup(id);

	if (m == NULL || (*queue_msg_sched(m) & DSCHED_QUEUED) ||
	    dsched.due_len == CONFIG_QUEUE_MAX_MESSAGES) {
		return;
	}
	*queue_msg_sched(m) |= DSCHED_QUEUED;
	dsched.due[(dsched.due_head + dsched.due_len++) %
	    CONFIG_QUEUE_MAX_MESSAGES] = id;
}

/*
 * Which agent next: local recipients first, then those to relay (a round);
 * after the local job of a round, the relay agent's turn, whatever the
 * local one deferred.
 */
static bool
dsched_pick_kind(struct queue_msg *m, enum dsched_kind *kind)
{
	uint32_t i, n = queue_msg_nrcpt(m);
	bool relay = false, turn = *queue_msg_sched(m) & DSCHED_TURN;

	*queue_msg_sched(m) &= (uint8_t)~DSCHED_TURN;
	for (i = 0; i < n; i++) {
		enum queue_rcpt_state st = queue_rcpt_state(m, i);

		if (st != QUEUE_R_PENDING && st != QUEUE_R_DEFERRED) {
			continue;
		}
		if (!queue_rcpt_relay(m, i) && !turn) {
			*kind = DSCHED_LOCAL;
			return true;
		}
		relay = true;
	}
	*kind = DSCHED_RELAY;
	return relay;
}

static bool
dsched_start(struct queue_msg *m)
{
	struct queue_info qi;
	struct dsched_job *j;
	uint32_t i, n = queue_msg_nrcpt(m);
	enum dsched_kind kind;

	if (!dsched_pick_kind(m, &kind)) {
		queue_msg_done(m); /* nothing left to do */
		return true;
	}
	j = pool_get(&dsched.jobs, NULL);
	if (j == NULL) {
		return false;
	}
	queue_msg_span(m, &j->span);
	queue_msg_info(m, &qi);
	j->size = qi.size;
	j->kind = kind;
	j->nrcpt = n;
	j->reply[0] = '\0';
	j->nreplies = 0;
	j->nmtas = 0;
	memset(j->why, 0, n);
	memset(j->note, 0, n);
	for (i = 0; i < n; i++) {
		enum queue_rcpt_state st = queue_rcpt_state(m, i);

		j->want[i] = (st == QUEUE_R_PENDING ||
		                 st == QUEUE_R_DEFERRED) &&
		    queue_rcpt_relay(m, i) == (kind == DSCHED_RELAY);
		j->result[i] = (uint8_t)st;
	}
	(kind == DSCHED_LOCAL ? dsched.local : dsched.relay)->submit(j);
	return true;
}

/*
 * Start what is due while jobs are free. An agent may finish a job inside
 * its submit (nothing to do for it), and dsched_done() calls back here:
 * the inner call returns at once and this loop carries on.
 */
static void
dsched_run(void)
{
	static bool running;
	struct queue_msg *m;

	if (running) {
		return;
	}
	running = true;
	while (dsched.due_len > 0) {
		uint64_t id = dsched.due[dsched.due_head];

		m = queue_lookup(id);
		if (m != NULL) {
			*queue_msg_sched(m) &= (uint8_t)~DSCHED_QUEUED;
		}
		if (m != NULL && (dsched_busy(id) || queue_msg_copying(m))) {
			m = NULL; /* its result or its copy's sync decides */
		}
		if (m != NULL &&
		    pool_used(&dsched.jobs) == CONFIG_DSCHED_JOBS) {
			*queue_msg_sched(m) |= DSCHED_QUEUED;
			break; /* no free job: on the next result */
		}
		dsched.due_head = (dsched.due_head + 1) %
		    CONFIG_QUEUE_MAX_MESSAGES;
		dsched.due_len--;
		if (m != NULL) {
			dsched_start(m);
		}
	}
	running = false;
}

static void
dsched_on_due(struct queue_msg *m)
{
	dsched_push(queue_msg_id(m));
	dsched_run();
}

/* The delay before attempt number n (1 = the first retry). */
static uint64_t
dsched_retry_delay(uint32_t n)
{
	const struct conf *c = dsched.conf;
	uint32_t k = n == 0 ? 0 : n - 1;

	if (k >= c->queue.nretry) {
		k = c->queue.nretry - 1;
	}
	return c->queue.retry_ms[k] / 1000u +
	    (c->queue.retry_ms[k] % 1000u != 0);
}

void
dsched_job_reply(struct dsched_job *j, uint32_t i, const char *why)
{
	uint32_t k;

	str_copy(j->reply, why, sizeof(j->reply));
	for (k = 0; k < j->nreplies; k++) {
		if (strcmp(j->replies[k], why) == 0) {
			break;
		}
	}
	if (k == j->nreplies && j->nreplies < DSCHED_REPLIES) {
		str_copy(j->replies[j->nreplies++], why, DSCHED_REPLY_LEN);
	}
	j->why[i] = k < j->nreplies ? (uint8_t)(k + 1) : 0;
}

const char *
dsched_job_why(const struct dsched_job *j, uint32_t i)
{
	return j->why[i] != 0 ? j->replies[j->why[i] - 1] : j->reply;
}

void
dsched_job_mta(struct dsched_job *j, uint32_t i, const char *host, bool relayed)
{
	uint32_t k;

	for (k = 0; k < j->nmtas; k++) {
		if (strcmp(j->mtas[k], host) == 0) {
			break;
		}
	}
	if (k == j->nmtas && j->nmtas < DSCHED_MTAS) {
		str_copy(j->mtas[j->nmtas++], host, sizeof(j->mtas[0]));
	}
	j->note[i] = (uint8_t)((relayed ? DSCHED_N_RELAYED : 0) |
	    (k < j->nmtas ? k + 1 : 0));
}

/* The delay notice is due: deferred past the delay, and not sent yet. */
static bool
dsched_delay_due(struct queue_msg *m, const struct queue_info *qi, uint64_t now)
{
	uint64_t d = dsched.conf->queue.delay_notice_ms;

	return d != 0 && !(queue_msg_dsn_flags(m) & QUEUE_DSN_DELAYED) &&
	    now * 1000u >= qi->arrival * 1000u + d;
}

static void dsched_apply(struct dsched_job *j);

/* Room in the journal again: the results that waited for it. */
static void
dsched_wake(struct queue_waiter *w)
{
	struct dsched_job *j = dsched.waiting, *next;

	dsched.waiting = NULL;
	for (; j != NULL; j = next) {
		next = j->next;
		dsched_done(j);
	}
}

/*
 * A job's results go to the journal (a RESULT record per recipient, maybe
 * DONE); when its buffers are full they wait, never get lost.
 */
void
dsched_done(struct dsched_job *j)
{
	dsched.qwait.fn = dsched_wake;
	if (!queue_body_ready((size_t)j->nrcpt * 200 + 256, &dsched.qwait)) {
		j->next = dsched.waiting;
		dsched.waiting = j;
		return;
	}
	dsched_apply(j);
}

/*
 * What is left after a job: untried, the relay agent's turn in this round
 * (it comes after the local one); open, the message is not done.
 */
static void
dsched_left(struct queue_msg *m, const struct dsched_job *j, bool *untried,
    bool *open)
{
	uint32_t i;

	*untried = *open = false;
	for (i = 0; i < j->nrcpt; i++) {
		enum queue_rcpt_state st = queue_rcpt_state(m, i);

		*untried |= j->kind == DSCHED_LOCAL && queue_rcpt_relay(m, i) &&
		    (st == QUEUE_R_PENDING || st == QUEUE_R_DEFERRED);
		*open |= st == QUEUE_R_PENDING || st == QUEUE_R_DEFERRED;
	}
}

static bool
dsched_pending(struct queue_msg *m)
{
	uint32_t i;

	for (i = 0; i < queue_msg_nrcpt(m); i++) {
		if (queue_rcpt_state(m, i) == QUEUE_R_PENDING) {
			return true;
		}
	}
	return false;
}

/*
 * The DSN generator sees a round (the local job and the relay job after
 * it) as one job: the local job's results are carried, not reported.
 */
static void
dsched_report_round(struct queue_msg *m, struct dsched_job *j, bool untried,
    bool deferred, bool delay_due)
{
	if (dsched.report != NULL && untried &&
	    dsched_carry_keep(j, deferred)) {
		return;
	}
	deferred |= dsched_carry_merge(m, j); /* and frees the carry */
	if (dsched.report != NULL) {
		dsched.report(m, j, deferred && delay_due);
	}
}

static void
dsched_apply(struct dsched_job *j)
{
	struct queue_msg *m;
	struct queue_info qi;
	uint64_t now = (uint64_t)time(NULL), retry;
	bool expired, deferred = false, untried, open, counted;
	const char *why;
	uint32_t i;

	m = queue_lookup(j->span.id);
	if (m == NULL) {
		dsched_carry_drop(j->span.id);
		pool_put(&dsched.jobs, j);
		dsched_run();
		return;
	}
	queue_msg_info(m, &qi);
	expired = now >= qi.arrival + dsched.conf->queue.expire_ms / 1000u;
	/* one attempt per round: the relay job after a deferring local one */
	counted = j->kind == DSCHED_RELAY &&
	    (*queue_msg_sched(m) & DSCHED_COUNTED);
	*queue_msg_sched(m) &= (uint8_t)~DSCHED_COUNTED;
	retry = now + dsched_retry_delay(qi.attempts + !counted);
	for (i = 0; i < j->nrcpt; i++) {
		enum queue_rcpt_state st = (enum queue_rcpt_state)j->result[i];

		if (!j->want[i]) {
			continue;
		}
		if (st != QUEUE_R_DELIVERED && st != QUEUE_R_FAILED) {
			st = expired ? QUEUE_R_FAILED : QUEUE_R_DEFERRED;
			deferred |= !expired;
		}
		why = st == QUEUE_R_DELIVERED ? "delivered" :
		                                dsched_job_why(j, i);
		j->result[i] = (uint8_t)st; /* final, for the report */
		queue_msg_result(m, i, st, why,
		    st == QUEUE_R_DEFERRED ? retry : 0);
		log_info("%s queue rcpt=%u status=%s%s%s", queue_msg_idtext(m),
		    i,
		    st == QUEUE_R_DELIVERED    ? "delivered" :
		        st == QUEUE_R_DEFERRED ? "deferred" :
		                                 "failed",
		    st == QUEUE_R_DELIVERED ? "" : " reason=",
		    st == QUEUE_R_DELIVERED ? "" : why);
	}
	dsched_left(m, j, &untried, &open);
	if (deferred && !counted) {
		queue_msg_retry_at(m, retry);
	}
	if (deferred && untried) {
		*queue_msg_sched(m) |= DSCHED_COUNTED;
	}
	dsched_report_round(m, j, untried, deferred,
	    dsched_delay_due(m, &qi, now));
	if (untried) {
		*queue_msg_sched(m) |= DSCHED_TURN;
		dsched_push(queue_msg_id(m)); /* the other agent's turn */
	} else if (dsched_pending(m)) {
		dsched_push(queue_msg_id(m)); /* never tried yet */
	} else if (!open) {
		queue_msg_done(m);
	}
	pool_put(&dsched.jobs, j);
	dsched_run();
}

struct dsched_scan {
	uint64_t now;
	bool all;
};

static void
dsched_scan_one(void *ctx, const struct queue_info *qi)
{
	struct dsched_scan *sc = ctx;

	if (qi->next_retry != 0 && (sc->all || qi->next_retry <= sc->now)) {
		dsched_push(qi->span.id);
	}
}

static void
dsched_on_tick(struct ev_timer *t)
{
	struct dsched_scan sc = { (uint64_t)time(NULL), false };

	queue_foreach(dsched_scan_one, &sc);
	dsched_run();
	dsched_carry_sweep();
	queue_gc(sc.now, dsched_busy);
	ev_timer_start(t, DSCHED_TICK_MS, dsched_on_tick);
}

void
dsched_flush(void)
{
	struct dsched_scan sc = { (uint64_t)time(NULL), true };

	queue_foreach(dsched_scan_one, &sc);
	dsched_run();
}

/* After recovery: everything in the queue is due (a restart retries). */
static void
dsched_recovered(void *ctx, const struct queue_info *qi)
{
	uint64_t now = (uint64_t)time(NULL);
	struct queue_msg *m = queue_lookup(qi->span.id);

	if (m != NULL) {
		dsched_carry_recovered(m,
		    now >= qi->arrival + dsched.conf->queue.expire_ms / 1000u);
	}
	dsched_push(qi->span.id);
}

void
dsched_init(const struct conf *c, const struct dsched_agent *local,
    const struct dsched_agent *relay)
{
	dsched.conf = c;
	dsched.local = local;
	dsched.relay = relay;
	pool_init(&dsched.jobs, "dsched-job", sizeof(struct dsched_job),
	    CONFIG_DSCHED_JOBS);
	dsched_carry_init();
	dsched.due = arena_alloc(sizeof(uint64_t) * CONFIG_QUEUE_MAX_MESSAGES);
	queue_set_due(dsched_on_due);
	queue_foreach(dsched_recovered, NULL);
	dsched_run();
	ev_timer_start(&dsched.tick, DSCHED_TICK_MS, dsched_on_tick);
}

void
dsched_reload(const struct conf *c)
{
	dsched.conf = c; /* read at each use, never kept */
}
