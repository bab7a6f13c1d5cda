/*
 * dsn_report.c — the bytes of a delivery status notification (pure: a
 * struct in, text out). RFC 3462 multipart/report with
 * report-type=delivery-status: a plain-English part, the
 * message/delivery-status part of RFC 3464 (per-message fields, then a
 * block per recipient), then the original as message/rfc822 or its
 * header section as text/rfc822-headers. Everything written here is
 * 7-bit (RFC 3462 2): values from outside are cleaned of control and
 * 8-bit bytes, so no field can be forged by a peer's reply.
 */
#include <string.h>
#include <time.h>

#include "dsn/dsn.h"

static const char *const dsn_action_names[DSN_ACTION_COUNT] = { "failed",
	"delayed", "delivered", "relayed", "expanded" };

static const char *const dsn_subjects[DSN_ACTION_COUNT] = {
	"Undelivered Mail Returned to Sender",
	"Delayed Mail (still being retried)",
	"Successful Mail Delivery Report",
	"Relayed Mail Report",
	"Mail Expanded to Several Recipients",
};

static const char *const dsn_intros[DSN_ACTION_COUNT] = {
	"I'm sorry to have to tell you that your message could not be\r\n"
	"delivered to one or more recipients. The reason for each is "
	"below.\r\n",
	"Your message could not be delivered yet to one or more recipients.\r\n"
	"This is only a warning: the mail system keeps trying, and you do\r\n"
	"not need to send the message again.\r\n",
	"Your message was delivered to the mailboxes listed below.\r\n",
	"Your message was handed on to a mail server that does not report\r\n"
	"delivery status. It reached that server for the recipients below;\r\n"
	"you will hear nothing more about them from this mail system.\r\n",
	"Your message was delivered to the list or alias below, which\r\n"
	"passed it on to its members.\r\n",
};

void
dsn_date(uint64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, size, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* s without CR, LF, other controls or 8-bit bytes, at most max bytes */
static int
dsn_put_clean(struct buf *b, const char *s, size_t max)
{
	char tmp[600];
	size_t n = 0;

	for (; *s != '\0' && n < max && n < sizeof(tmp) - 1; s++) {
		unsigned char c = (unsigned char)*s;

		tmp[n++] = c >= 32 && c <= 126 ? (char)c :
		    c == '\t'                  ? ' ' :
		                                 '?';
	}
	tmp[n] = '\0';
	return buf_printf(b, "%s", tmp);
}

static bool
dsn_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

/* "d.d{1,3}.d{1,3}" at s: its length, else 0 (RFC 3463 2) */
static size_t
dsn_enh_len(const char *s)
{
	size_t i = 0, part, digits;

	if (s[0] < '2' || s[0] > '5' || s[1] != '.') {
		return 0;
	}
	i = 2;
	for (part = 0; part < 2; part++) {
		for (digits = 0; dsn_isdigit(s[i]) && digits < 3; digits++) {
			i++;
		}
		if (digits == 0 || (part == 0 && s[i] != '.')) {
			return 0;
		}
		i += part == 0;
	}
	return dsn_isdigit(s[i]) ? 0 : i;
}

void
dsn_reason_split(const char *reason, enum dsn_action a, char status[16],
    const char **reply)
{
	const char *p = strstr(reason, ": "), *code;
	size_t n;

	*reply = "";
	code = p != NULL ? p + 2 : reason;
	if (dsn_isdigit(code[0]) && dsn_isdigit(code[1]) &&
	    dsn_isdigit(code[2]) && (code[3] == ' ' || code[3] == '\0')) {
		*reply = code;
	}
	status[0] = '\0';
	if (**reply != '\0' && (n = dsn_enh_len(code + 4)) != 0 && n < 16) {
		memcpy(status, code + 4, n);
		status[n] = '\0';
	}
	/* the Status fits the Action: 5 failed, 4 delayed, 2 the rest */
	if (a == DSN_FAILED && status[0] != '5') {
		strcpy(status, (*reply)[0] == '5' ? "5.0.0" : "5.4.7");
	} else if (a == DSN_DELAYED && status[0] != '4') {
		strcpy(status, "4.0.0");
	} else if (a != DSN_FAILED && a != DSN_DELAYED && status[0] != '2') {
		strcpy(status, "2.0.0");
	}
}

static int
dsn_fmt_header(struct buf *b, const struct dsn_report *r, const char *date)
{
	int rc = 0;

	rc |= buf_printf(b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n",
	    r->hostname);
	rc |= buf_printf(b, "To: <");
	rc |= dsn_put_clean(b, r->to, 256);
	rc |= buf_printf(b,
	    ">\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\n"
	    "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n\r\n"
	    "This is a MIME-encapsulated message.\r\n\r\n",
	    dsn_subjects[r->action], date, r->msgid, r->boundary);
	return rc;
}

static int
dsn_fmt_human_rcpt(struct buf *b, const struct dsn_report *r,
    const struct dsn_rcpt *rc)
{
	static const char *const what[DSN_ACTION_COUNT] = { "delivery failed",
		"delivery delayed, still trying", "delivered",
		"handed on to the next server", "delivered to the members" };
	const char *reply;
	char status[16];
	int e = 0;

	dsn_reason_split(rc->reason, r->action, status, &reply);
	e |= buf_printf(b, "<");
	e |= dsn_put_clean(b, rc->addr, 256);
	if (rc->expanded > 1 && r->action == DSN_DELIVERED) {
		e |= buf_printf(b,
		    ">: delivered to %u mailboxes (alias or list)\r\n",
		    rc->expanded);
	} else {
		e |= buf_printf(b, ">: %s\r\n", what[r->action]);
	}
	if (rc->remote_mta[0] != '\0') {
		e |= buf_printf(b, "    Server: ");
		e |= dsn_put_clean(b, rc->remote_mta, 255);
		e |= buf_printf(b, "\r\n");
	}
	if (rc->reason[0] != '\0' &&
	    (r->action == DSN_FAILED || r->action == DSN_DELAYED)) {
		bool peer = rc->from_peer && reply[0] != '\0';

		e |= buf_printf(b,
		    peer ? "    The server said: " : "    Reason: ");
		e |= dsn_put_clean(b, peer ? reply : rc->reason, 400);
		e |= buf_printf(b, "\r\n");
	}
	return e;
}

static int
dsn_fmt_human(struct buf *b, const struct dsn_report *r)
{
	char until[64];
	uint32_t k;
	int e = 0;

	e |= buf_printf(b,
	    "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Description: Notification\r\n\r\n"
	    "This is the mail system at host %s.\r\n\r\n%s",
	    r->boundary, r->hostname, dsn_intros[r->action]);
	if (r->action == DSN_DELAYED && r->retry_until != 0) {
		dsn_date(r->retry_until, until, sizeof(until));
		e |= buf_printf(b, "It will be tried until %s.\r\n", until);
	}
	e |= buf_printf(b, "\r\n");
	for (k = 0; k < r->nrcpt; k++) {
		e |= dsn_fmt_human_rcpt(b, r, &r->rcpts[k]);
	}
	e |= buf_printf(b, "\r\n%s\r\n\r\n",
	    r->headers_only ? "The header of your message is attached." :
	                      "Your message is attached.");
	return e;
}

/* RFC 3464 2.3: one recipient's fields */
static int
dsn_fmt_status_rcpt(struct buf *b, const struct dsn_report *r,
    const struct dsn_rcpt *rc, const char *date)
{
	const char *reply;
	char status[16], until[64];
	int e = 0;

	dsn_reason_split(rc->reason, r->action, status, &reply);
	e |= buf_printf(b, "\r\n");
	if (rc->orcpt[0] != '\0') {
		e |= buf_printf(b, "Original-Recipient: ");
		e |= dsn_put_clean(b, rc->orcpt, 520);
		e |= buf_printf(b, "\r\n");
	}
	e |= buf_printf(b, "Final-Recipient: rfc822; ");
	e |= dsn_put_clean(b, rc->addr, 256);
	e |= buf_printf(b, "\r\nAction: %s\r\nStatus: %s\r\n",
	    rc->expanded > 1 && r->action == DSN_DELIVERED ?
	        dsn_action_names[DSN_EXPANDED] :
	        dsn_action_names[r->action],
	    status);
	if (rc->remote_mta[0] != '\0') {
		e |= buf_printf(b, "Remote-MTA: dns; ");
		e |= dsn_put_clean(b, rc->remote_mta, 255);
		e |= buf_printf(b, "\r\n");
	}
	if (rc->from_peer && reply[0] != '\0') {
		e |= buf_printf(b, "Diagnostic-Code: smtp; ");
		e |= dsn_put_clean(b, reply, 400);
		e |= buf_printf(b, "\r\n");
	}
	e |= buf_printf(b, "Last-Attempt-Date: %s\r\n", date);
	if (r->action == DSN_DELAYED && r->retry_until != 0) {
		dsn_date(r->retry_until, until, sizeof(until));
		e |= buf_printf(b, "Will-Retry-Until: %s\r\n", until);
	}
	return e;
}

static int
dsn_fmt_status(struct buf *b, const struct dsn_report *r, const char *date)
{
	char arrival[64];
	uint32_t k;
	int e = 0;

	dsn_date(r->arrival, arrival, sizeof(arrival));
	e |= buf_printf(b,
	    "--%s\r\nContent-Type: message/delivery-status\r\n"
	    "Content-Description: Delivery report\r\n\r\n"
	    "Reporting-MTA: dns; %s\r\n",
	    r->boundary, r->hostname);
	if (r->envid[0] != '\0') {
		e |= buf_printf(b, "Original-Envelope-Id: ");
		e |= dsn_put_clean(b, r->envid, 100);
		e |= buf_printf(b, "\r\n");
	}
	e |= buf_printf(b, "Arrival-Date: %s\r\n", arrival);
	for (k = 0; k < r->nrcpt; k++) {
		e |= dsn_fmt_status_rcpt(b, r, &r->rcpts[k], date);
	}
	e |= buf_printf(b, "\r\n");
	return e;
}

int
dsn_report_fmt(struct buf *b, const struct dsn_report *r)
{
	char date[64];
	int e = 0;

	if (r->action >= DSN_ACTION_COUNT) {
		return -EINVAL;
	}
	dsn_date(r->now, date, sizeof(date));
	e |= dsn_fmt_header(b, r, date);
	e |= dsn_fmt_human(b, r);
	e |= dsn_fmt_status(b, r, date);
	e |= buf_printf(b, "--%s\r\nContent-Type: %s\r\n", r->boundary,
	    r->headers_only ? "text/rfc822-headers" : "message/rfc822");
	e |= buf_printf(b, "Content-Description: %s\r\n\r\n",
	    r->headers_only ? "Header of the original message" :
	                      "The original message");
	return e != 0 ? -ENOSPC : 0;
}

int
dsn_report_end(struct buf *b, const struct dsn_report *r)
{
	return buf_printf(b, "\r\n--%s--\r\n", r->boundary) != 0 ? -ENOSPC : 0;
}
