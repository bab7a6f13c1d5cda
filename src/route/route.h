/*
 * route.h — routing and the delivery scheduler (dsched). For now the
 * scheduler feeds committed messages to the local delivery agent and
 * retries what it defers; the router, connectors and DNS come with
 * relaying.
 *
 * An agent (a deliver part) registers a submit function; jobs carry a
 * message's place in the journal and which recipients to deliver, and
 * come back with a result for each through dsched_done() on the loop.
 */
#ifndef TERN_ROUTE_H
#define TERN_ROUTE_H

#include "conf/conf.h"
#include "queue/queue.h"

struct dsched_job {
	struct queue_span span;
	uint32_t nrcpt;
	uint8_t want[CONFIG_SMTPD_RCPT_MAX]; /* 1: deliver recipient i */
	uint8_t result[CONFIG_SMTPD_RCPT_MAX]; /* enum queue_rcpt_state */
	char reply[256]; /* why, for what did not work */
	struct dsched_job *next; /* the agent's own queue */
};

struct dsched_agent {
	const char *name;
	/* Take the job (on the loop thread); its result comes later. */
	void (*submit)(struct dsched_job *j);
};

void dsched_init(const struct conf *c, const struct dsched_agent *local);
/* An agent finished a job (call on the loop thread). */
void dsched_done(struct dsched_job *j);
/* Deliver what is waiting now (ternctl queue flush). */
void dsched_flush(void);

#endif
