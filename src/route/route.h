/*
 * route.h — routing and the delivery scheduler (dsched): the scheduler
 * feeds committed messages to the delivery agents (local mailboxes, and
 * the SMTP client for recipients to relay) and retries what they defer;
 * the router picks a connector for a recipient domain.
 *
 * An agent (a deliver part) registers a submit function; jobs carry a
 * message's place in the journal and which recipients to deliver, and
 * come back with a result for each through dsched_done() on the loop.
 */
#ifndef TERN_ROUTE_H
#define TERN_ROUTE_H

#include "conf/conf.h"
#include <time.h>

#include "queue/queue.h"
#include "route/dnsc.h" /* the resolver: set up by main, used by the router */

enum dsched_kind { DSCHED_LOCAL, DSCHED_RELAY };

/*
 * Distinct reasons kept per job: each recipient's own reason goes into its
 * DSN (Diagnostic-Code), so this is sized for a job's worth of different
 * replies (a peer that names the recipient in each); past it the job's
 * latest reason stands for the rest.
 */
#define DSCHED_REPLIES 32
#define DSCHED_REPLY_LEN 160
#define DSCHED_MTAS 7 /* distinct remote MTAs named per job (Remote-MTA) */
#define DSCHED_N_RELAYED 0x80 /* handed to a peer without DSN */

struct dsched_job {
	struct queue_span span;
	enum dsched_kind kind;
	uint64_t size; /* of the message text */
	uint32_t nrcpt;
	uint8_t want[CONFIG_SMTPD_RCPT_MAX]; /* 1: deliver recipient i */
	uint8_t result[CONFIG_SMTPD_RCPT_MAX]; /* enum queue_rcpt_state */
	char reply[256]; /* why, for what did not work (default) */
	uint8_t why[CONFIG_SMTPD_RCPT_MAX]; /* 0: reply, else replies[n-1] */
	char replies[DSCHED_REPLIES][DSCHED_REPLY_LEN];
	uint32_t nreplies;
	/* per recipient: DSCHED_N_RELAYED | index+1 into mtas (0: none) */
	uint8_t note[CONFIG_SMTPD_RCPT_MAX];
	char mtas[DSCHED_MTAS][64];
	uint32_t nmtas;
	struct dsched_job *next; /* the agent's own queue */
};

struct dsched_agent {
	const char *name;
	/* Take the job (on the loop thread); its result comes later. */
	void (*submit)(struct dsched_job *j);
};

void dsched_init(const struct conf *c, const struct dsched_agent *local,
    const struct dsched_agent *relay);
/* Retry, expiry and delay notices from now on follow c (reload). */
void dsched_reload(const struct conf *c);
/* The reason for recipient i (kept per recipient, as far as room goes). */
void dsched_job_reply(struct dsched_job *j, uint32_t i, const char *why);
/* The remote MTA recipient i met; relayed: it offered no DSN. */
void dsched_job_mta(struct dsched_job *j, uint32_t i, const char *host,
    bool relayed);
/* The reason kept for recipient i ("" when none). */
const char *dsched_job_why(const struct dsched_job *j, uint32_t i);

/*
 * The DSN generator's hook, called once per delivery round of a message
 * (its local job and the relay job after it: the first job's results are
 * carried into the last) after the results are in the journal and before
 * the message may be done: j->result[i] holds the final state of each
 * recipient the round had (want[i] != 0; j->kind is the last job's);
 * delay_due says the delay notice is due now for the deferred ones. When
 * no carry is free the round is reported job by job.
 */
typedef void (*dsched_report_fn)(struct queue_msg *m,
    const struct dsched_job *j, bool delay_due);
void dsched_set_report(dsched_report_fn fn);

/*
 * dsched_carry.c (the scheduler's own): a local job's results kept until
 * the relay job of the same round ends, for one report per action.
 */
void dsched_carry_init(void);
/* Keep j's results for the next job of its message; false: no room. */
bool dsched_carry_keep(const struct dsched_job *j, bool deferred);
/* Add what was kept to j (want, result, reason); true: some deferred. */
bool dsched_carry_merge(struct queue_msg *m, struct dsched_job *j);
void dsched_carry_drop(uint64_t id);
void dsched_carry_sweep(void);
/* At start-up: the carry a restart cut off, rebuilt from the index. */
void dsched_carry_recovered(struct queue_msg *m, bool expired);

/* An agent finished a job (call on the loop thread). */
void dsched_done(struct dsched_job *j);
/* Deliver what is waiting now (ternctl queue flush). */
void dsched_flush(void);

/* ---- the router ----------------------------------------------------- */

struct router_route {
	const struct conf_connector *cn; /* NULL: DNS MX, port 25 */
	bool closed; /* the connectors for it are outside their schedules */
};

/*
 * The route for a recipient domain now: the cheapest connector whose
 * address space matches and whose schedule is open (equal costs share
 * the load); none matching: DNS MX. Pure but for the clock and chance.
 */
void router_pick(const struct conf *c, const char *domain, time_t now,
    struct router_route *r);

/* ---- targets: where to connect for a route -------------------------- */

struct route_target {
	struct net_addr addr;
	char host[256]; /* the name it came from, for logs and reports */
};

#define ROUTE_TARGETS_MAX 8

/*
 * The addresses to try in order for a domain on a route: smart hosts as
 * given, or the domain's MX hosts (RFC 5321 5.1). fn is called once,
 * maybe before this returns, with 0 and the list, or -ENOENT (no such
 * domain), -EHOSTUNREACH (null MX, RFC 7505) or another negative errno
 * for a temporary failure.
 */
typedef void (*route_targets_fn)(struct handle owner, int rc,
    const struct route_target *t, uint32_t n);
/* The one taker of targets (the SMTP client) registers its callback. */
void route_targets_init(route_targets_fn fn);
void route_targets(const struct router_route *r, const char *domain,
    struct handle owner);

#endif
