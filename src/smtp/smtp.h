/*
 * smtp.h — the interface of the SMTP part: pure protocol pieces (command,
 * path, parameter and DATA-stream parsers, the reply table) and the
 * receiving server (smtpd).
 *
 * The parsers take bytes and give structs or a reply id; they do no I/O,
 * no logging and no policy, so they are unit-tested and fuzzed alone.
 */
#ifndef TERN_SMTP_H
#define TERN_SMTP_H

#include "conf/conf.h"
#include "core/core.h"

/* RFC 5321 4.5.3.1: size limits, in octets */
#define SMTP_CMD_LINE_MAX 512 /* 4.5.3.1.4, including CRLF */
/* RFC 3461 4: DSN adds 100 to MAIL (ENVID, RET), 500 to RCPT (ORCPT) */
#define SMTP_CMD_LINE_MAX_MAIL (SMTP_CMD_LINE_MAX + 100)
#define SMTP_CMD_LINE_MAX_RCPT (SMTP_CMD_LINE_MAX + 500)
#define SMTP_PATH_MAX 256 /* 4.5.3.1.3, including the brackets */
#define SMTP_LOCAL_MAX 64 /* 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX 255 /* 4.5.3.1.2 */
#define SMTP_TEXT_LINE_MAX 1000 /* 4.5.3.1.6, including CRLF */

/* ---- replies ----------------------------------------------------------- */

/*
 * Every reply the server can give, with its enhanced status code
 * (RFC 3463, RFC 2034). The text may hold printf conversions, filled by
 * the caller; the table is the one place to read them all.
 */
enum smtp_r {
	SMTP_R_NONE = 0, /* success of a parser: no reply */
	SMTP_R_GREETING,
	SMTP_R_EHLO_FIRST,
	SMTP_R_HELO,
	SMTP_R_OK,
	SMTP_R_MAIL_OK,
	SMTP_R_RCPT_OK,
	SMTP_R_DATA_GO,
	SMTP_R_QUEUED,
	SMTP_R_BYE,
	SMTP_R_HELP,
	SMTP_R_VRFY_OK_BOX,
	SMTP_R_VRFY_CANNOT,
	SMTP_R_TOO_MANY_SESSIONS,
	SMTP_R_SERVER_BUSY,
	SMTP_R_TIMEOUT,
	SMTP_R_SHUTDOWN,
	SMTP_R_TOO_MANY_ERRORS,
	SMTP_R_TOO_MANY_MESSAGES,
	SMTP_R_LOCAL_ERROR,
	SMTP_R_NO_TXN,
	SMTP_R_NO_STORAGE,
	SMTP_R_COMMIT_FAILED,
	SMTP_R_TOO_MANY_RCPTS,
	SMTP_R_UNRECOGNIZED,
	SMTP_R_LINE_TOO_LONG,
	SMTP_R_BARE_NEWLINE_CMD,
	SMTP_R_NUL_IN_CMD,
	SMTP_R_SYNTAX_HELO,
	SMTP_R_SYNTAX_DOMAIN,
	SMTP_R_SYNTAX_MAIL,
	SMTP_R_SYNTAX_RCPT,
	SMTP_R_SYNTAX_NOARGS,
	SMTP_R_SYNTAX_VRFY,
	SMTP_R_BAD_SENDER,
	SMTP_R_BAD_RCPT,
	SMTP_R_PATH_TOO_LONG_MAIL,
	SMTP_R_PATH_TOO_LONG_RCPT,
	SMTP_R_LOCAL_TOO_LONG_MAIL,
	SMTP_R_LOCAL_TOO_LONG_RCPT,
	SMTP_R_NON_ASCII,
	SMTP_R_PARAM_UNKNOWN,
	SMTP_R_PARAM_BAD,
	SMTP_R_PARAM_DUP,
	SMTP_R_NEED_HELO,
	SMTP_R_NESTED_MAIL,
	SMTP_R_NEED_MAIL,
	SMTP_R_NEED_RCPT,
	SMTP_R_NO_VALID_RCPT,
	SMTP_R_EXPN_DISABLED,
	SMTP_R_NOT_IMPLEMENTED,
	SMTP_R_USER_UNKNOWN,
	SMTP_R_RELAY_DENIED,
	SMTP_R_SIZE_EXCEEDED,
	SMTP_R_SESSION_SIZE,
	SMTP_R_MSG_TOO_BIG,
	SMTP_R_HOPS,
	SMTP_R_BARE_NEWLINE_DATA,
	SMTP_R_DATA_LINE_TOO_LONG,
	SMTP_R_NUL_IN_DATA,
	SMTP_R_PREGREET,
	SMTP_R_BDAT_OK,
	SMTP_R_BDAT_SYNTAX,
	SMTP_R_DATA_IN_BDAT,
	SMTP_R_DSN_NOTIFY_BAD,
	SMTP_R_DSN_ORCPT_BAD,
	SMTP_R_DSN_RET_BAD,
	SMTP_R_DSN_ENVID_BAD,
	SMTP_R_DSN_TOO_LONG,
	SMTP_R_DATA_BINARYMIME,
	/* STARTTLS (RFC 3207) */
	SMTP_R_STARTTLS_GO,
	SMTP_R_TLS_UNAVAILABLE,
	SMTP_R_TLS_REQUIRED,
	SMTP_R_TLS_ACTIVE,
	SMTP_R_TLS_IN_TXN,
	/* SMTP AUTH (RFC 4954) */
	SMTP_R_AUTH_OK,
	SMTP_R_AUTH_CHALLENGE,
	SMTP_R_AUTH_FAILED,
	SMTP_R_AUTH_ENCRYPT,
	SMTP_R_AUTH_WEAK,
	SMTP_R_AUTH_B64,
	SMTP_R_AUTH_CANCEL,
	SMTP_R_AUTH_TWICE,
	SMTP_R_AUTH_IN_TXN,
	SMTP_R_AUTH_MECH,
	SMTP_R_AUTH_SYNTAX,
	SMTP_R_AUTH_TEMP,
	SMTP_R_AUTH_TOO_MANY,
	SMTP_R_AUTH_TOO_LONG,
	SMTP_R_COUNT
};

struct smtp_reply {
	uint16_t code;
	const char *enh; /* "" for replies without one (220, 354) */
	const char *text; /* may hold printf conversions */
};

const struct smtp_reply *smtp_reply_get(enum smtp_r r);
/* Append "code enh text\r\n" to b; -ENOSPC if it does not fit. */
int smtp_reply_fmt(struct buf *b, enum smtp_r r, ...);
int smtp_reply_vfmt(struct buf *b, bool last, enum smtp_r r, va_list ap);

/* ---- commands -------------------------------------------------------- */

enum smtp_verb {
	SMTP_V_UNKNOWN = 0,
	SMTP_V_HELO,
	SMTP_V_EHLO,
	SMTP_V_MAIL,
	SMTP_V_RCPT,
	SMTP_V_DATA,
	SMTP_V_RSET,
	SMTP_V_NOOP,
	SMTP_V_QUIT,
	SMTP_V_HELP,
	SMTP_V_VRFY,
	SMTP_V_EXPN,
	SMTP_V_BDAT,
	SMTP_V_STARTTLS,
	SMTP_V_AUTH,
	SMTP_V_ETRN,
	SMTP_V_COUNT
};

struct smtp_cmd {
	enum smtp_verb verb;
	const char *arg; /* after the verb and its space; not terminated */
	size_t arg_len;
};

/*
 * One command line (CRLF included) -> verb and argument. Refuses over-long
 * lines, a line that does not end in CRLF (bare LF), bare CR and NUL.
 */
enum smtp_r smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd);
const char *smtp_verb_name(enum smtp_verb v);

/* ---- paths (RFC 5321 4.1.2) ------------------------------------------ */

#define SMTP_PATH_NULL 0x1u /* "<>" allowed (reverse-path) */
#define SMTP_PATH_UTF8 0x2u /* SMTPUTF8 given: UTF-8 allowed (RFC 6531) */
#define SMTP_PATH_POSTMASTER 0x4u /* bare "<Postmaster>" allowed (RCPT) */

struct smtp_path {
	char addr[SMTP_PATH_MAX]; /* local@domain, NUL-terminated; "" for <> */
	uint16_t local_len; /* bytes of the local part as written */
	uint16_t domain_off; /* offset of the domain in addr */
	bool is_null;
	bool has_utf8;
	bool domain_literal;
};

/*
 * Parse "<path>" at the start of s; *used gets the bytes taken. A source
 * route (<@a,@b:user@c>) is accepted and dropped (RFC 5321 4.1.1.3, C).
 * is_mail selects the reply ids for MAIL (sender) or RCPT (recipient).
 */
enum smtp_r smtp_path_parse(const char *s, size_t len, unsigned flags,
    bool is_mail, struct smtp_path *path, size_t *used);
/* A domain or address literal as in EHLO (RFC 5321 4.1.1.1). */
bool smtp_domain_valid(const char *s, size_t len, bool allow_utf8);

/* ---- ESMTP parameters ---------------------------------------------- */

/* Stored in the journal as a byte: the values must not change. */
enum smtp_body {
	SMTP_BODY_NONE,
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
	SMTP_BODY_BINARYMIME, /* RFC 3030 3: only with BDAT */
};

/* RFC 3461 4.3, 4.4: DSN parameter lengths (the xtext as sent) */
#define SMTP_ENVID_MAX 100
#define SMTP_ORCPT_MAX 500

/* RFC 3461 4.3: RET= */
enum smtp_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

/* RFC 3461 4.1: NOTIFY= (none of them: absent) */
#define SMTP_NOTIFY_NEVER 0x1u
#define SMTP_NOTIFY_SUCCESS 0x2u
#define SMTP_NOTIFY_FAILURE 0x4u
#define SMTP_NOTIFY_DELAY 0x8u

struct smtp_mail_params {
	uint64_t size; /* SIZE=, 0 when absent */
	enum smtp_body body; /* BODY= */
	bool has_size;
	bool smtputf8; /* SMTPUTF8 */
	uint8_t ret; /* enum smtp_ret */
	bool has_envid;
	char envid[SMTP_ENVID_MAX + 1]; /* ENVID=, xtext decoded */
	bool has_auth; /* AUTH=xtext or AUTH=<> (RFC 4954 5), checked only */
};

struct smtp_rcpt_params {
	uint8_t notify; /* SMTP_NOTIFY_*, 0 when absent */
	/* ORCPT=: "addr-type;address", the address xtext decoded; "" absent */
	char orcpt[SMTP_ORCPT_MAX + 1];
};

/* Which extensions the server offers: unknown ones are 555 5.5.4. */
#define SMTP_EXT_SIZE 0x1u
#define SMTP_EXT_8BITMIME 0x2u
#define SMTP_EXT_SMTPUTF8 0x4u
#define SMTP_EXT_DSN 0x8u
#define SMTP_EXT_BINARYMIME 0x20u /* with CHUNKING */
#define SMTP_EXT_AUTH 0x40u /* AUTH= on MAIL (RFC 4954 5) */

/* The text after a MAIL path: " KEY[=VALUE] ..." (leading space included). */
enum smtp_r smtp_mail_params_parse(const char *s, size_t len, unsigned ext,
    struct smtp_mail_params *p);
/* The text after a RCPT path: NOTIFY and ORCPT (RFC 3461 4.1, 4.2). */
enum smtp_r smtp_rcpt_params_parse(const char *s, size_t len, unsigned ext,
    struct smtp_rcpt_params *p);

/*
 * RFC 3461 4: xtext. Decode s[0..len) into out (size): -EINVAL for a
 * character outside xchar or a "+" not followed by two upper-case hex
 * digits or "+00" (NUL), -ENAMETOOLONG when it does not fit. Encode
 * writes the xtext of a string, -ENAMETOOLONG when it does not fit.
 */
int smtp_xtext_decode(const char *s, size_t len, char *out, size_t size);
int smtp_xtext_encode(const char *s, char *out, size_t size);

/* ---- the DATA stream (RFC 5321 4.1.1.4, 4.5.2) ---------------------- */

/*
 * A byte-at-a-time scanner that survives any split of the input: it ends
 * the message only at CRLF.CRLF, removes dot-stuffing, counts the Received
 * headers, and flags bare CR, bare LF (the SMTP smuggling family), NUL and
 * over-long lines. Output is the message as it will be stored, CRLF kept.
 */
enum smtp_data_state {
	SMTP_DS_BOL = 0, /* at the start of a line */
	SMTP_DS_TEXT, /* inside a line */
	SMTP_DS_CR, /* CR seen inside a line */
	SMTP_DS_DOT, /* "." at the start of a line */
	SMTP_DS_DOT_CR, /* ".\r" at the start of a line */
	SMTP_DS_DONE /* the end of data, or a stop: see the flags */
};

#define SMTP_DATA_BARE_NL 0x1u /* bare CR or LF: the message is refused */
#define SMTP_DATA_LONG_LINE 0x2u
#define SMTP_DATA_NUL 0x4u

struct smtp_data {
	enum smtp_data_state state;
	uint32_t flags;
	uint32_t line_len; /* bytes in the current line so far */
	uint32_t line_max; /* including CRLF */
	uint32_t received; /* Received: headers in the header section */
	uint64_t size; /* bytes of message output so far */
	bool in_header;
	char hdr[10]; /* start of the current header line */
	uint8_t hdr_len;
};

void smtp_data_init(struct smtp_data *d, uint32_t line_max);
/*
 * Scan in[0..inlen); write message bytes to out (room >= inlen).
 * Returns the bytes of in consumed: all of them, or fewer when the end
 * of data was found (state SMTP_DS_DONE). *outlen gets the bytes written.
 * A bare CR or LF stops the scan at once (flag SMTP_DATA_BARE_NL).
 */
size_t smtp_data_scan(struct smtp_data *d, const char *in, size_t inlen,
    char *out, size_t *outlen);

/*
 * BDAT content (RFC 3030) has no transparency and no end marker: count
 * its size and the Received headers of its header section only.
 */
void smtp_data_inspect(struct smtp_data *d, const char *in, size_t inlen);

/* ---- the receiving server --------------------------------------------- */

/* Pools and listeners from the configuration; sessions start on accept. */
int smtpd_init(const struct conf *conf);
/* Stop accepting, end idle sessions with 421, let busy ones finish. */
void smtpd_shutdown(void);
/* The grace time is over: end every session now. */
void smtpd_kill_all(void);
uint32_t smtpd_sessions_active(void);

/*
 * Reload, in two steps: prepare binds the listen addresses the new
 * configuration adds (errors reported, nothing changes); then either
 * commit (new sessions use c, removed addresses are closed, sessions in
 * progress keep theirs) or abort (the new sockets are closed).
 */
int
smtpd_reload_prepare(const struct conf *c, conf_report_fn report, void *ctx);
void smtpd_reload_commit(const struct conf *c);
void smtpd_reload_abort(void);

#if ENABLE_SASL
/* The AUTH user database of c->users into c->userdb (start, reload). */
int smtpd_users_load(struct conf *c, conf_report_fn report, void *ctx);
void smtpd_users_unload(struct conf *c);
#else
static inline int
smtpd_users_load(struct conf *c, conf_report_fn report, void *ctx)
{
	return 0;
}
static inline void
smtpd_users_unload(struct conf *c)
{
}
#endif

#endif
