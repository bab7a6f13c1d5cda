/*
 * dsn.h — the interface of the dsn part: delivery status notifications
 * (RFC 3461-3464), MIME 8bit -> 7bit conversion and RFC 5322 helpers
 * (DESIGN.md 3). The report builder and the converter are pure: bytes in,
 * bytes out, no I/O, no logging, no allocation.
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
/* Reports from now on use c (host name, badmail, ndr-copy, limits). */
void dsn_reload(const struct conf *c);
#else
#define DSN_ARENA 0
static inline void
dsn_init(const struct conf *c)
{
	(void)c;
}
static inline void
dsn_reload(const struct conf *c)
{
	(void)c;
}
#endif

/* mime_*.c: 8bit/binary -> 7bit conversion */

/*
 * RFC 6152 3 / RFC 3030 3: a message with 8-bit or binary content going
 * to a peer that cannot take it is converted to 7bit: the leaf parts that
 * need it are re-encoded (text/... as quoted-printable, the rest as
 * base64), recursively through multipart/... and message/rfc822; headers,
 * boundaries, preambles and everything already 7bit are copied.
 *
 * The converter is one streaming state machine with bounded state, run
 * over the stored text more than once: MIME_PASS_PLAN learns, for every
 * entity (a header section), what its body needs and whether conversion
 * is possible at all; MIME_PASS_EMIT then writes (or only counts) the
 * converted text. The same bytes give the same walk, so the plan found in
 * the first pass fits the second.
 */
#define MIME_DEPTH_MAX 16 /* nested multiparts with their boundaries */
#define MIME_ENTITIES_MAX 512 /* header sections in one message */
#define MIME_BOUNDARY_MAX 70 /* RFC 2046 5.1.1 */
#define MIME_LINE_PEEK 128 /* start of a line kept to find boundaries */
#define MIME_FIELD_MAX 1024 /* Content-Type and friends, unfolded */
#define MIME_OUT_RESERVE 1536 /* output room that one input byte may need */

enum mime_pass { MIME_PASS_PLAN, MIME_PASS_EMIT };

/* What a message needs (the result of the plan pass). */
enum mime_verdict {
	MIME_V_CLEAN = 0, /* already 7bit: send it as it is */
	MIME_V_CONVERT, /* convert */
	MIME_V_IMPOSSIBLE, /* 5.6.3: see the reason */
};

/* What happens to an entity's Content-Transfer-Encoding. */
enum mime_action {
	MIME_A_KEEP = 0,
	MIME_A_7BIT, /* declared 8bit/binary, content 7bit: relabel */
	MIME_A_QP,
	MIME_A_B64,
};

/* The Content-Type and Content-Transfer-Encoding of one header section. */
enum mime_cte {
	MIME_CTE_NONE = 0,
	MIME_CTE_7BIT,
	MIME_CTE_8BIT,
	MIME_CTE_BINARY,
	MIME_CTE_QP,
	MIME_CTE_BASE64,
	MIME_CTE_OTHER,
};

enum mime_kind {
	MIME_K_TEXT = 0, /* text/..., and the default */
	MIME_K_MULTIPART,
	MIME_K_RFC822, /* message/rfc822 */
	MIME_K_MSG_STRICT, /* message/partial, message/external-body */
	MIME_K_OTHER,
};

struct mime_ctype {
	enum mime_kind kind;
	bool bad; /* present but unreadable */
	char boundary[MIME_BOUNDARY_MAX + 1];
	uint8_t boundary_len; /* 0: none (or too long: bad_boundary) */
	bool bad_boundary;
	bool digest; /* multipart/digest */
};

/* mime_scan.c: the pure header-field pieces. */
/* "Name:" at the start of a header line: the name's length, or -1. */
int mime_field_name(const char *s, size_t n);
/* A Content-Type value (RFC 2045 5.1, comments and quoting included). */
void mime_ctype_parse(const char *s, size_t n, struct mime_ctype *ct);
enum mime_cte mime_cte_parse(const char *s, size_t n);
/* Is line s[0..n) (no line end) "--boundary" or "--boundary--"? 1/2, 0 */
int mime_boundary_match(const char *s, size_t n, const char *b, size_t blen);

/* Output: bytes into p[0..cap), or only counted when p is NULL. */
struct mime_out {
	unsigned char *p;
	size_t len;
	size_t cap;
	uint64_t total; /* every byte written or counted */
};

/* mime_enc.c: the two encoders, streaming (RFC 2045 6.7, 6.8). */
struct mime_enc {
	enum mime_action how; /* MIME_A_QP or MIME_A_B64 */
	uint8_t col; /* output column */
	uint8_t nhold; /* b64: bytes held; qp: 1 when hold is a WSP or CR */
	unsigned char hold[3];
	bool any; /* output written */
};
void mime_enc_start(struct mime_enc *e, enum mime_action how);
void mime_enc_put(struct mime_enc *e, const unsigned char *p, size_t n,
    struct mime_out *o);
/*
 * The end of the content. Without eof the output may end inside a line
 * (the delimiter's CRLF follows); with eof the line is ended so that it
 * decodes to nothing more (a soft line break for quoted-printable).
 */
void mime_enc_end(struct mime_enc *e, bool eof, struct mime_out *o);
void mime_out_put(struct mime_out *o, const void *p, size_t n);

/* mime_conv.c: the converter. */
struct mime_frame {
	char boundary[MIME_BOUNDARY_MAX + 1];
	uint8_t len;
	bool digest; /* multipart/digest: parts default to message/rfc822 */
	bool is_mime; /* the message owning it has MIME-Version */
};

struct mime_conv {
	enum mime_pass pass;
	enum mime_verdict verdict;
	const char *why; /* MIME_V_IMPOSSIBLE: the reason */
	uint8_t plan[MIME_ENTITIES_MAX]; /* enum mime_action per entity */
	/* the walk */
	uint8_t state;
	uint8_t depth;
	struct mime_frame frames[MIME_DEPTH_MAX];
	uint32_t entity; /* the current entity's index (+1; 0: none yet) */
	uint32_t nentities;
	bool dirty; /* something is not 7bit */
	bool overflow; /* more than MIME_ENTITIES_MAX entities */
	bool ambiguous; /* a boundary reused inside its own multipart */
	bool long_header; /* a header line over 998 octets */
	bool is_mime; /* the current message has MIME-Version */
	bool part_digest; /* the header section is a part of a digest */
	bool msg_header; /* the header section is a message's */
	/* the current header section */
	bool h_mime_version;
	bool h_ctype_seen;
	bool h_cte_seen;
	bool h_bad;
	bool h_drop; /* the field being copied is dropped */
	uint8_t h_want; /* the field being collected: 1 ctype, 2 cte, 3 mv */
	struct mime_ctype ct;
	enum mime_cte cte;
	char field[MIME_FIELD_MAX];
	size_t field_len;
	/* the current body region */
	uint8_t r_kind; /* leaf, preamble, epilogue */
	uint8_t r_flags;
	bool r_text;
	const char *r_why; /* why it could not be re-encoded, if it must */
	enum mime_action r_how;
	struct mime_enc enc;
	bool r_out; /* the region wrote something */
	/* the current line */
	char peek[MIME_LINE_PEEK];
	size_t peek_len;
	size_t line_len; /* bytes of this line so far */
	bool in_line; /* past the peek: streaming the rest of the line */
	bool line_cr; /* a CR seen, its LF not yet */
	bool line_complete; /* peek[] holds the whole line */
	bool boundary_line; /* this line is a boundary: its rest is dropped */
	bool blank_line; /* this line ended a header section */
	uint8_t held_eol; /* the last line's end, not yet placed: 0, 1 or 2 */
	char held[2];
};

/* Start a pass; EMIT keeps the plan of the PLAN pass before it. */
void mime_conv_start(struct mime_conv *c, enum mime_pass pass);
/*
 * Feed stored text; returns the bytes consumed: all of them, or fewer
 * when o has less than MIME_OUT_RESERVE bytes of room (counting: never).
 */
size_t mime_conv_feed(struct mime_conv *c, const void *in, size_t n,
    struct mime_out *o);
/* The end of the text (o needs MIME_OUT_RESERVE of room). */
void mime_conv_end(struct mime_conv *c, struct mime_out *o);

#endif
