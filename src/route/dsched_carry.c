/*
 * dsched_carry.c — results carried from a message's local job to the relay
 * job that follows it in the same delivery round, so that the DSN
 * generator sees the round as one job and writes one report per message
 * and action (RFC 3461 6.2), grouping local and relayed recipients.
 *
 * A carry holds which recipients the earlier job finished and their
 * reasons (the journal keeps only a message's last one); their states are
 * in the queue index. Only a local job is carried: the relay agent's turn
 * comes last in a round, so nothing follows it. The pool is small and
 * fixed; when it is empty the scheduler reports at once, as it would
 * without carries. A carry lives in memory only: after a restart
 * dsched_carry_recovered() rebuilds one from the index where a round was
 * cut in two (see there), so a report is not lost, at worst sent twice.
 */
#include <string.h>

#include "route/route.h"

#define DSCHED_CARRY_REASONS 4 /* distinct reasons kept (local: one) */

struct dsched_carry {
	uint64_t id;
	bool deferred; /* the earlier job deferred some (delay notice) */
	/* per recipient: 0 not carried, 1 reply, k + 2 replies[k] */
	uint8_t why[CONFIG_SMTPD_RCPT_MAX];
	char reply[256];
	char replies[DSCHED_CARRY_REASONS][DSCHED_REPLY_LEN];
	uint32_t nreplies;
};

static struct pool dsched_carries;

void
dsched_carry_init(void)
{
	pool_init(&dsched_carries, "dsched-carry", sizeof(struct dsched_carry),
	    CONFIG_DSCHED_JOBS);
}

static struct dsched_carry *
dsched_carry_find(uint64_t id)
{
	struct dsched_carry *c;
	uint32_t slot = 0;

	while ((c = pool_next(&dsched_carries, &slot)) != NULL) {
		if (c->id == id) {
			return c;
		}
	}
	return NULL;
}

static struct dsched_carry *
dsched_carry_get(uint64_t id)
{
	struct dsched_carry *c = dsched_carry_find(id);

	if (c == NULL && (c = pool_get(&dsched_carries, NULL)) != NULL) {
		memset(c, 0, sizeof(*c));
		c->id = id;
	}
	return c;
}

/* The code of reason text in c: 1 (the default) when the table is full. */
static uint8_t
dsched_carry_reason(struct dsched_carry *c, const char *text)
{
	uint32_t k;

	for (k = 0; k < c->nreplies; k++) {
		if (strcmp(c->replies[k], text) == 0) {
			return (uint8_t)(k + 2);
		}
	}
	if (c->nreplies == DSCHED_CARRY_REASONS) {
		return 1;
	}
	str_copy(c->replies[c->nreplies++], text, DSCHED_REPLY_LEN);
	return (uint8_t)(k + 2);
}

bool
dsched_carry_keep(const struct dsched_job *j, bool deferred)
{
	struct dsched_carry *c = dsched_carry_get(j->span.id);
	uint32_t i;

	if (c == NULL) {
		return false; /* no room: report now */
	}
	str_copy(c->reply, j->reply, sizeof(c->reply));
	c->deferred |= deferred;
	for (i = 0; i < j->nrcpt; i++) {
		if (j->want[i]) {
			c->why[i] = j->why[i] == 0 ?
			    1 :
			    dsched_carry_reason(c, dsched_job_why(j, i));
		}
	}
	return true;
}

bool
dsched_carry_merge(struct queue_msg *m, struct dsched_job *j)
{
	struct dsched_carry *c = dsched_carry_find(j->span.id);
	char reply[sizeof(j->reply)];
	uint32_t i;
	bool deferred;

	if (c == NULL) {
		return false;
	}
	str_copy(reply, j->reply, sizeof(reply)); /* the job's own default */
	for (i = 0; i < j->nrcpt && i < queue_msg_nrcpt(m); i++) {
		enum queue_rcpt_state st = queue_rcpt_state(m, i);

		if (c->why[i] == 0 || j->want[i]) {
			continue;
		}
		j->want[i] = 1;
		j->result[i] = (uint8_t)st;
		j->note[i] = 0;
		if (st != QUEUE_R_DELIVERED) {
			dsched_job_reply(j, i,
			    c->why[i] == 1 ? c->reply :
			                     c->replies[c->why[i] - 2]);
		}
	}
	str_copy(j->reply, reply, sizeof(j->reply));
	deferred = c->deferred;
	pool_put(&dsched_carries, c);
	return deferred;
}

void
dsched_carry_drop(uint64_t id)
{
	struct dsched_carry *c = dsched_carry_find(id);

	if (c != NULL) {
		pool_put(&dsched_carries, c);
	}
}

/* Carries of messages no longer queued (deleted by hand) go. */
void
dsched_carry_sweep(void)
{
	struct dsched_carry *c;
	uint32_t slot = 0;

	while ((c = pool_next(&dsched_carries, &slot)) != NULL) {
		if (queue_lookup(c->id) == NULL) {
			pool_put(&dsched_carries, c);
		}
	}
}

/*
 * At start-up: a round cut by a restart after its local job. Relay
 * recipients still pending (the first round), or deferred past the
 * expiry time (a round ends with none deferred then): the local
 * recipients the cut round finished, or failed, were carried and not yet
 * reported. Their reason is the message's last one the journal kept.
 */
void
dsched_carry_recovered(struct queue_msg *m, bool expired)
{
	struct queue_info qi;
	struct dsched_carry *c = NULL;
	uint32_t i, n = queue_msg_nrcpt(m);
	bool pending = false, deferred = false;

	for (i = 0; i < n; i++) {
		enum queue_rcpt_state st = queue_rcpt_state(m, i);

		pending |= queue_rcpt_relay(m, i) && st == QUEUE_R_PENDING;
		deferred |= queue_rcpt_relay(m, i) && st == QUEUE_R_DEFERRED;
	}
	if (!pending && !(expired && deferred)) {
		return;
	}
	queue_msg_info(m, &qi);
	for (i = 0; i < n; i++) {
		enum queue_rcpt_state st = queue_rcpt_state(m, i);

		if (queue_rcpt_relay(m, i) || st == QUEUE_R_PENDING ||
		    (!pending && st != QUEUE_R_FAILED)) {
			continue;
		}
		if (c == NULL &&
		    (c = dsched_carry_get(queue_msg_id(m))) == NULL) {
			return;
		}
		c->why[i] = 1;
		c->deferred |= st == QUEUE_R_DEFERRED;
	}
	if (c != NULL) {
		str_copy(c->reply, qi.last_reply, sizeof(c->reply));
	}
}
