/*
 * dsn.c — the DSN generator (RFC 3461 6, RFC 3464): the delivery scheduler
 * hands it each job's results; it decides, recipient by recipient, which
 * report is owed (failure, delay, success, relayed) after what each asked
 * with NOTIFY (none: FAILURE,DELAY; NEVER: nothing), groups the
 * recipients of a message per action, and submits one report per message
 * and action through the queue as a new message from <> to the original
 * sender. A job here is a delivery round: the scheduler carries the
 * results of a message's local job to the relay job that follows it
 * (dsched_carry.c), so local and relayed recipients share the report;
 * whether one was delivered locally or relayed is the queue's per
 * recipient relay flag, not the job's kind. RET and a size limit choose between the whole original and its
 * header section; an 8-bit original is returned as headers only, so the
 * report stays 7-bit (RFC 3462 2).
 *
 * Never a report about a message with a null reverse-path (RFC 3461 6.2,
 * RFC 5321 4.5.5): its failure (a double bounce) is written to the badmail
 * directory with a log line. ndr-copy adds an administrator as a second
 * envelope recipient of each failure report (a Bcc).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "dsn/dsn.h"
#include "queue/queue.h"
#include "route/route.h"

#define DSN_PER_REPORT 50 /* recipients listed in one report */
#define DSN_TEXT (64 * 1024) /* the report without the original */
#define DSN_PIECE 4000 /* body record size */

struct dsn_item {
	char addr[256];
	char orcpt[501];
	uint32_t i; /* the recipient's index in the message */
	uint32_t boxes; /* RCPT records of this address (alias expansion) */
};

/* What one read of the journal gathers for one action. */
struct dsn_gather {
	const struct queue_msg *m;
	const struct dsched_job *j;
	enum dsn_action action;
	uint32_t skip; /* matching recipients already reported */
	uint32_t n;
	uint32_t more; /* matching recipients past this report */
	struct queue_envelope env;
	struct dsn_item *items;
};

/* Streaming the original into the report, or into a badmail file. */
struct dsn_copy {
	struct queue_msg *nm; /* the report, or NULL */
	int fd; /* the badmail file, or -1 */
	uint64_t left; /* bytes still allowed */
	bool headers_only;
	bool header_done;
	uint8_t eol; /* CR LF CR LF progress */
	int rc;
};

static struct {
	const struct conf *conf;
	struct dsn_item *items;
	char *text;
	struct queue_waiter qwait;
	uint64_t reports;
} dsn;

/* ---- which recipients, which action ----------------------------------- */

/* The action a recipient's result calls for, or DSN_ACTION_COUNT. */
static enum dsn_action
dsn_action_of(const struct queue_msg *m, const struct dsched_job *j, uint32_t i,
    bool delay_due)
{
	switch ((enum queue_rcpt_state)j->result[i]) {
	case QUEUE_R_FAILED:
		return DSN_FAILED;
	case QUEUE_R_DEFERRED:
		return delay_due ? DSN_DELAYED : DSN_ACTION_COUNT;
	case QUEUE_R_DELIVERED:
		if (!queue_rcpt_relay(m, i)) { /* the round's local job */
			return DSN_DELIVERED;
		}
		/* to a peer with DSN, the NOTIFY went on: its report */
		return (j->note[i] & DSCHED_N_RELAYED) ? DSN_RELAYED :
		                                         DSN_ACTION_COUNT;
	default:
		return DSN_ACTION_COUNT;
	}
}

/* RFC 3461 4.1: did the recipient ask for this report? */
static bool
dsn_wanted(uint8_t notify, enum dsn_action a)
{
	if (notify == 0) {
		notify = QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY;
	}
	switch (a) {
	case DSN_FAILED:
		return notify & QUEUE_NOTIFY_FAILURE;
	case DSN_DELAYED:
		return notify & QUEUE_NOTIFY_DELAY;
	default:
		return notify & QUEUE_NOTIFY_SUCCESS;
	}
}

static int
dsn_gather_env(void *ctx, const struct queue_envelope *e)
{
	((struct dsn_gather *)ctx)->env = *e;
	return 0;
}

static int
dsn_gather_rcpt(void *ctx, uint32_t i, const struct queue_rcpt *r)
{
	struct dsn_gather *g = ctx;
	struct dsn_item *it;

	if (i >= g->j->nrcpt || !g->j->want[i] ||
	    dsn_action_of(g->m, g->j, i, true) != g->action) {
		return 0;
	}
	/* the null sender gets nothing, but its failures go to badmail */
	if (g->env.from[0] != '\0' && !dsn_wanted(r->notify, g->action)) {
		return 0;
	}
	/*
	 * An alias or list is one RCPT record per mailbox, one after the
	 * other, with the address the client gave: one entry for them.
	 */
	if (g->n > 0 && g->items[g->n - 1].i + g->items[g->n - 1].boxes == i &&
	    strcmp(g->items[g->n - 1].addr, r->addr) == 0) {
		g->items[g->n - 1].boxes++;
		return 0;
	}
	if (g->skip > 0) {
		g->skip--;
		return 0;
	}
	if (g->n == DSN_PER_REPORT) {
		g->more++;
		return 0;
	}
	it = &g->items[g->n++];
	str_copy(it->addr, r->addr, sizeof(it->addr));
	str_copy(it->orcpt, r->orcpt, sizeof(it->orcpt));
	it->i = i;
	it->boxes = 1;
	return 0;
}

/* ---- the original, streamed ------------------------------------------- */

static int
dsn_copy_out(struct dsn_copy *c, const char *p, size_t n)
{
	size_t k;

	for (k = 0; k < n && c->rc == 0; k += DSN_PIECE) {
		size_t m = MIN(DSN_PIECE, n - k);

		if (c->nm != NULL) {
			c->rc = queue_msg_body(c->nm, p + k, m);
		} else if (write(c->fd, p + k, m) != (ssize_t)m) {
			c->rc = -EIO;
		}
	}
	return c->rc;
}

/* Body pieces of the original: all of it, or up to its blank line. */
static int
dsn_copy_body(void *ctx, const void *data, size_t n)
{
	static const char eoh[] = "\r\n\r\n";
	struct dsn_copy *c = ctx;
	const char *p = data;
	size_t k = 0;

	if (c->headers_only) {
		for (; k < n && c->eol < 4; k++) {
			c->eol = p[k] == eoh[c->eol] ? (uint8_t)(c->eol + 1) :
			    p[k] == '\r'             ? 1 :
			                               0;
		}
		n = c->eol == 4 ? k - 2 : n; /* keep one CRLF of the two */
		c->header_done = c->eol == 4;
	}
	n = (size_t)MIN((uint64_t)n, c->left);
	c->left -= n;
	if (n > 0 && dsn_copy_out(c, p, n) < 0) {
		return c->rc;
	}
	return c->header_done || c->left == 0 ? 1 : 0;
}

/* ---- badmail: a double bounce ------------------------------------------ */

static void
dsn_badmail(struct queue_msg *m, const struct queue_span *sp,
    const char *reason)
{
	const char *dir = dsn.conf->badmail;
	struct queue_reader rd = { NULL, NULL, NULL, dsn_copy_body };
	struct dsn_copy c = { NULL, -1, UINT64_MAX, false, false, 0, 0 };
	char path[PATH_MAX], head[600];
	int n;

	if (fs_mkdirs(dir) < 0 ||
	    snprintf(path, sizeof(path), "%s/%s.eml", dir,
	        queue_msg_idtext(m)) >= (int)sizeof(path)) {
		log_warn("%s dsn badmail dir=%s failed", queue_msg_idtext(m),
		    dir);
		return;
	}
	c.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (c.fd < 0) {
		log_warn("%s dsn badmail file=%s error=%s", queue_msg_idtext(m),
		    path, strerror(errno));
		return;
	}
	n = snprintf(head, sizeof(head),
	    "X-Tern-Badmail: undeliverable with a null reverse-path\r\n"
	    "X-Tern-Queue-Id: %s\r\nX-Tern-Reason: %.400s\r\n",
	    queue_msg_idtext(m), reason);
	rd.ctx = &c;
	(void)dsn_copy_out(&c, head, (size_t)MIN(n, (int)sizeof(head) - 1));
	if (c.rc == 0) {
		c.rc = queue_read(queue_spool(), sp, &rd);
	}
	if (c.rc == 0 && fsync(c.fd) < 0) {
		c.rc = -errno;
	}
	close(c.fd);
	log_warn("%s dsn double-bounce badmail=%s reason=%s%s",
	    queue_msg_idtext(m), path, reason, c.rc < 0 ? " (incomplete)" : "");
}

/* ---- the report, as a new message --------------------------------------- */

/* The recipients of the report for addr: local mailboxes, or relayed. */
static int
dsn_add_rcpt(struct queue_msg *nm, const char *addr)
{
	const char *at = strrchr(addr, '@'), *mbox[64];
	const struct conf_domain *d;
	char domain[256];
	uint32_t k, n;
	int rc = 0;

	if (at == NULL || at == addr) {
		return -EINVAL;
	}
	str_copy(domain, at + 1, sizeof(domain));
	for (k = 0; domain[k] != '\0'; k++) {
		if (domain[k] >= 'A' && domain[k] <= 'Z') {
			domain[k] = (char)(domain[k] - 'A' + 'a');
		}
	}
	d = conf_domain_find(dsn.conf, domain, strlen(domain));
	if (d == NULL || d->kind != CONF_DOMAIN_LOCAL) {
		return queue_msg_rcpt(nm, addr, domain, "");
	}
	n = conf_local_expand(d, addr, (size_t)(at - addr), mbox,
	    ARRAY_SIZE(mbox));
	if (n == 0) {
		return -ENOENT; /* no such local mailbox any more */
	}
	for (k = 0; k < n && rc == 0; k++) {
		rc = queue_msg_rcpt(nm, addr, d->name, mbox[k]);
	}
	return rc;
}

static void
dsn_on_commit(struct handle h, int rc)
{
	if (rc < 0) {
		log_warn("dsn report commit failed error=%s", strerror(-rc));
	}
}

static void
dsn_wake(struct queue_waiter *w)
{
}

/* Room in the journal for n bytes now (never waits: the loop goes on). */
static bool
dsn_room(size_t n)
{
	bool ok = queue_body_ready(n, &dsn.qwait);

	queue_wait_cancel(&dsn.qwait);
	return ok;
}

static void
dsn_fill(struct dsn_report *r, struct dsn_rcpt *rc, const struct dsn_gather *g)
{
	uint32_t k;

	for (k = 0; k < g->n; k++) {
		const struct dsn_item *it = &g->items[k];
		uint8_t mta = g->j->note[it->i] & (uint8_t)~DSCHED_N_RELAYED;

		rc[k].addr = it->addr;
		rc[k].orcpt = it->orcpt;
		rc[k].reason = g->action == DSN_DELIVERED ||
		        g->action == DSN_RELAYED ?
		    "" :
		    dsched_job_why(g->j, it->i);
		rc[k].remote_mta = mta != 0 && mta <= g->j->nmtas ?
		    g->j->mtas[mta - 1] :
		    "";
		rc[k].from_peer = mta != 0;
		rc[k].expanded = it->boxes;
	}
	r->rcpts = rc;
	r->nrcpt = g->n;
}

/* Whole original or headers: RET, the action, the size, 8-bit text. */
static bool
dsn_headers_only(const struct dsn_gather *g, uint64_t size)
{
	if (g->env.body >= 2 || g->env.smtputf8) {
		return true; /* keep the report 7-bit (RFC 3462 2) */
	}
	if (size > dsn.conf->queue.dsn_max_original) {
		return true;
	}
	if (g->env.ret != 0) {
		return g->env.ret == 2; /* RET=HDRS */
	}
	return g->action != DSN_FAILED; /* only a bounce returns it all */
}

static int
dsn_submit_text(struct queue_msg *nm, struct dsn_report *r,
    const struct queue_span *sp)
{
	struct queue_reader rd = { NULL, NULL, NULL, dsn_copy_body };
	struct dsn_copy c = { nm, -1, dsn.conf->queue.dsn_max_original,
		r->headers_only, false, 0, 0 };
	struct buf b;
	int rc;

	buf_init(&b, dsn.text, DSN_TEXT);
	rc = dsn_report_fmt(&b, r);
	if (rc == 0) {
		rc = dsn_copy_out(&c, buf_data(&b), buf_size(&b));
	}
	rd.ctx = &c;
	if (rc == 0) {
		rc = queue_read(queue_spool(), sp, &rd);
		rc = rc < 0 ? rc : c.rc;
	}
	buf_init(&b, dsn.text, DSN_TEXT);
	if (rc == 0) {
		rc = dsn_report_end(&b, r);
	}
	if (rc == 0) {
		rc = dsn_copy_out(&c, buf_data(&b), buf_size(&b));
	}
	return rc;
}

static int
dsn_submit(struct queue_msg *m, const struct dsn_gather *g,
    const struct queue_span *sp, uint64_t size, bool small)
{
	static const struct queue_env env0 = { "", NULL, "127.0.0.1", "dsn", 0,
		1, false, 0, NULL };
	struct queue_env env = env0;
	struct dsn_rcpt rcpts[DSN_PER_REPORT];
	struct dsn_report r = { g->action, dsn.conf->hostname, g->env.from,
		g->env.envid, NULL, NULL, g->env.arrival, (uint64_t)time(NULL),
		0, NULL, 0, dsn_headers_only(g, size) };
	char boundary[80], msgid[300], rid[11];
	struct queue_msg *nm;
	int rc;

	if (small || (!r.headers_only && !dsn_room(size + DSN_TEXT))) {
		r.headers_only = true; /* the journal is busy: keep it small */
	}
	if (!dsn_room(DSN_TEXT * 2)) {
		return -EAGAIN;
	}
	env.helo = dsn.conf->hostname;
	env.smtputf8 = g->env.smtputf8; /* the sender may need it (RFC 6531) */
	rc = queue_msg_begin(&env, &nm);
	if (rc < 0) {
		return rc;
	}
	rc = dsn_add_rcpt(nm, g->env.from);
	if (rc == 0 && g->action == DSN_FAILED &&
	    dsn.conf->queue.ndr_copy != NULL) {
		rc = dsn_add_rcpt(nm, dsn.conf->queue.ndr_copy);
	}
	rand_id(rid);
	snprintf(boundary, sizeof(boundary), "%s/%s/%s", queue_msg_idtext(nm),
	    rid, "tern-dsn");
	snprintf(msgid, sizeof(msgid), "%s.dsn@%.250s", queue_msg_idtext(nm),
	    dsn.conf->hostname);
	r.boundary = boundary;
	r.msgid = msgid;
	r.retry_until = g->env.arrival + dsn.conf->queue.expire_ms / 1000u;
	dsn_fill(&r, rcpts, g);
	if (rc == 0) {
		rc = dsn_submit_text(nm, &r, sp);
	}
	if (rc == 0) {
		rc = queue_msg_commit(nm, (struct handle){ 0, 0 },
		    dsn_on_commit);
	}
	if (rc < 0) {
		queue_msg_abort(nm);
		return rc;
	}
	dsn.reports++;
	log_info("%s dsn action=%s report=%s rcpts=%u to=<%s>%s",
	    queue_msg_idtext(m),
	    (const char *[]){ "failed", "delayed", "delivered", "relayed",
	        "expanded" }[g->action],
	    queue_msg_idtext(nm), g->n, g->env.from,
	    r.headers_only ? " ret=hdrs" : "");
	return 0;
}

/* All reports of one action for one message (DSN_PER_REPORT at a time). */
static void
dsn_action(struct queue_msg *m, const struct dsched_job *j, enum dsn_action a)
{
	struct dsn_gather g;
	struct queue_reader rd = { &g, dsn_gather_env, dsn_gather_rcpt, NULL };
	struct queue_info qi;
	int rc;

	memset(&g, 0, sizeof(g));
	g.m = m;
	g.j = j;
	g.action = a;
	g.items = dsn.items;
	queue_msg_info(m, &qi);
	do {
		g.n = g.more = 0;
		rc = queue_read(queue_spool(), &j->span, &rd);
		if (rc < 0 || g.n == 0) {
			break;
		}
		if (g.env.from[0] == '\0') {
			if (a == DSN_FAILED) {
				dsn_badmail(m, &j->span,
				    dsched_job_why(j, g.items[0].i));
			}
			return; /* never a report about a report */
		}
		rc = dsn_submit(m, &g, &j->span, qi.size, false);
		if (rc == -EAGAIN) { /* the journal filled: the headers only */
			rc = dsn_submit(m, &g, &j->span, qi.size, true);
		}
		if (rc == -ENOENT && a == DSN_FAILED) {
			/* a local sender without a mailbox: no one to tell */
			dsn_badmail(m, &j->span, "the sender has no mailbox");
			return;
		}
		g.skip += g.n;
	} while (rc == 0 && g.more > 0);
	if (rc < 0) {
		log_warn("%s dsn report not written error=%s",
		    queue_msg_idtext(m), strerror(-rc));
	}
}

/* The scheduler's hook: after a job's results are in the journal. */
static void
dsn_on_results(struct queue_msg *m, const struct dsched_job *j, bool delay_due)
{
	bool need[DSN_ACTION_COUNT] = { false };
	bool success = queue_msg_dsn_flags(m) & QUEUE_DSN_SUCCESS;
	uint32_t i;
	int a;

	for (i = 0; i < j->nrcpt; i++) {
		enum dsn_action act = j->want[i] ?
		    dsn_action_of(m, j, i, delay_due) :
		    DSN_ACTION_COUNT;

		if (act < DSN_ACTION_COUNT &&
		    (success || act == DSN_FAILED || act == DSN_DELAYED)) {
			need[act] = true;
		}
	}
	for (a = 0; a < DSN_ACTION_COUNT; a++) {
		if (need[a]) {
			dsn_action(m, j, (enum dsn_action)a);
		}
	}
	if (delay_due && queue_msg_delay_noted(m) < 0) {
		log_warn("%s dsn delay note not written", queue_msg_idtext(m));
	}
}

void
dsn_init(const struct conf *c)
{
	dsn.conf = c;
	dsn.items = arena_alloc(sizeof(struct dsn_item) * DSN_PER_REPORT);
	dsn.text = arena_alloc(DSN_TEXT);
	dsn.qwait.fn = dsn_wake;
	dsched_set_report(dsn_on_results);
}

void
dsn_reload(const struct conf *c)
{
	dsn.conf = c; /* read afresh for each report, never kept */
}
