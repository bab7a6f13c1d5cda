/*
 * dsn.h — the interface of the dsn part: delivery status notifications
 * (RFC 3461-3464) and, with the MIME helper's part, message conversion.
 */
#ifndef TERN_DSN_H
#define TERN_DSN_H

#include "core/core.h"

struct conf;

/* dsn_*.c: delivery status notifications */

/* RFC 3464 2.3.3: the Action field */
enum dsn_action {
	DSN_FAILED = 0,
	DSN_DELAYED,
	DSN_DELIVERED,
	DSN_RELAYED,
	DSN_EXPANDED,
	DSN_ACTION_COUNT
};

/* One recipient of a report (RFC 3464 2.3). Strings: "" when absent. */
struct dsn_rcpt {
	const char *addr; /* Final-Recipient, rfc822 */
	const char *orcpt; /* Original-Recipient: "addr-type;address" */
	const char *reason; /* what happened, as the queue kept it */
	const char *remote_mta; /* Remote-MTA: a host name */
	bool from_peer; /* the reason holds the peer's own reply */
	/* delivered to an alias's or list's several mailboxes: "expanded"
	 * in a success report (RFC 3461 6.2.7.3), with how many */
	uint32_t expanded;
};

/* A report about one message and one action, its recipients grouped. */
struct dsn_report {
	enum dsn_action action;
	const char *hostname; /* Reporting-MTA, From: MAILER-DAEMON@ */
	const char *to; /* the original sender */
	const char *envid; /* Original-Envelope-Id */
	const char *boundary; /* unique per report */
	const char *msgid; /* the report's Message-ID, without <> */
	uint64_t arrival; /* seconds: Arrival-Date */
	uint64_t now; /* seconds: Date, Last-Attempt-Date */
	uint64_t retry_until; /* seconds: Will-Retry-Until (delayed) */
	const struct dsn_rcpt *rcpts;
	uint32_t nrcpt;
	bool headers_only; /* text/rfc822-headers, else message/rfc822 */
};

/*
 * RFC 3462/3464: the report's header, the human-readable part, the
 * message/delivery-status part and the header of the third part; the
 * original (or its header section) follows, then dsn_report_end().
 * -ENOSPC when b is too small (nothing partial is meant to be sent).
 */
int dsn_report_fmt(struct buf *b, const struct dsn_report *r);
int dsn_report_end(struct buf *b, const struct dsn_report *r);
/*
 * From a reason as the queue keeps it ("example.org: 550 5.1.1 no such
 * user", "example.org: connection refused") the Status (RFC 3463, one
 * fitting the action) and the SMTP reply for Diagnostic-Code ("" none).
 */
void dsn_reason_split(const char *reason, enum dsn_action a, char status[16],
    const char **reply);
/* RFC 5322 3.3 date of t (seconds), in UTC. */
void dsn_date(uint64_t t, char *out, size_t size);

#if ENABLE_DSN
/* What dsn_init() takes from the start-up arena. */
#define DSN_ARENA (128 * 1024)
/* Register the generator with the delivery scheduler. */
void dsn_init(const struct conf *c);
#else
#define DSN_ARENA 0
static inline void
dsn_init(const struct conf *c)
{
	(void)c;
}
#endif

#endif
