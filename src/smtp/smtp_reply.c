/*
 * smtp_reply.c — the reply table: every reply the server gives, with its
 * basic code (RFC 5321 4.2) and enhanced status code (RFC 3463, RFC 2034).
 * Multi-line replies (EHLO, HELP) repeat the code with "-" (4.2.1).
 */
#include <stdio.h>

#include "smtp/smtp.h"

static const struct smtp_reply smtp_replies[SMTP_R_COUNT] = {
	[SMTP_R_GREETING] = { 220, "", "%s ESMTP tern" },
	[SMTP_R_EHLO_FIRST] = { 250, "", "%s Hello %s [%s]" },
	[SMTP_R_HELO] = { 250, "", "%s Hello %s [%s]" },
	[SMTP_R_OK] = { 250, "2.0.0", "OK" },
	[SMTP_R_MAIL_OK] = { 250, "2.1.0", "Sender <%s> OK" },
	[SMTP_R_RCPT_OK] = { 250, "2.1.5", "Recipient <%s> OK" },
	[SMTP_R_DATA_GO] = { 354, "", "End data with <CR><LF>.<CR><LF>" },
	[SMTP_R_QUEUED] = { 250, "2.0.0", "OK id=%s" },
	[SMTP_R_BYE] = { 221, "2.0.0", "%s closing connection" },
	[SMTP_R_HELP] = { 214, "2.0.0", "%s" },
	[SMTP_R_VRFY_OK_BOX] = { 250, "2.1.5", "<%s@%s>" },
	[SMTP_R_VRFY_CANNOT] = { 252, "2.0.0",
	    "Cannot VRFY user, but will accept message and attempt delivery" },
	[SMTP_R_TOO_MANY_SESSIONS] = { 421, "4.3.2",
	    "%s Too many connections, try again later" },
	[SMTP_R_SERVER_BUSY] = { 421, "4.3.2",
	    "%s Service not available, try again later" },
	[SMTP_R_TIMEOUT] = { 421, "4.4.2",
	    "%s Timeout exceeded, closing connection" },
	[SMTP_R_SHUTDOWN] = { 421, "4.3.2", "%s Service shutting down" },
	[SMTP_R_TOO_MANY_ERRORS] = { 421, "4.7.0",
	    "%s Too many errors, closing connection" },
	[SMTP_R_TOO_MANY_MESSAGES] = { 421, "4.7.0",
	    "%s Too many messages in this connection, closing" },
	[SMTP_R_LOCAL_ERROR] = { 451, "4.3.0",
	    "Local error in processing, try again later" },
	[SMTP_R_NO_TXN] = { 452, "4.3.1",
	    "Insufficient system resources, try again later" },
	[SMTP_R_NO_STORAGE] = { 452, "4.3.1",
	    "Insufficient system storage, try again later" },
	[SMTP_R_COMMIT_FAILED] = { 451, "4.3.0",
	    "Local error: the message could not be stored, try again later" },
	[SMTP_R_TOO_MANY_RCPTS] = { 452, "4.5.3", "Too many recipients" },
	[SMTP_R_UNRECOGNIZED] = { 500, "5.5.2",
	    "Syntax error, command unrecognized" },
	[SMTP_R_LINE_TOO_LONG] = { 500, "5.5.2", "Line too long" },
	[SMTP_R_BARE_NEWLINE_CMD] = { 500, "5.5.2",
	    "Syntax error, bare CR or LF in command" },
	[SMTP_R_NUL_IN_CMD] = { 500, "5.5.2", "Syntax error, NUL in command" },
	[SMTP_R_SYNTAX_HELO] = { 501, "5.5.4", "Syntax: %s hostname" },
	[SMTP_R_SYNTAX_DOMAIN] = { 501, "5.5.4", "Invalid domain name" },
	[SMTP_R_SYNTAX_MAIL] = { 501, "5.5.4",
	    "Syntax: MAIL FROM:<address> [parameters]" },
	[SMTP_R_SYNTAX_RCPT] = { 501, "5.5.4",
	    "Syntax: RCPT TO:<address> [parameters]" },
	[SMTP_R_SYNTAX_NOARGS] = { 501, "5.5.4", "Syntax: %s (no arguments)" },
	[SMTP_R_SYNTAX_VRFY] = { 501, "5.5.4", "Syntax: VRFY address" },
	[SMTP_R_BAD_SENDER] = { 501, "5.1.7", "Bad sender address syntax" },
	[SMTP_R_BAD_RCPT] = { 501, "5.1.3", "Bad recipient address syntax" },
	[SMTP_R_PATH_TOO_LONG_MAIL] = { 501, "5.1.7", "Path too long" },
	[SMTP_R_PATH_TOO_LONG_RCPT] = { 501, "5.1.3", "Path too long" },
	[SMTP_R_LOCAL_TOO_LONG_MAIL] = { 501, "5.1.7", "Local part too long" },
	[SMTP_R_LOCAL_TOO_LONG_RCPT] = { 501, "5.1.3", "Local part too long" },
	[SMTP_R_NON_ASCII] = { 553, "5.6.7",
	    "Non-ASCII address without SMTPUTF8" },
	[SMTP_R_PARAM_UNKNOWN] = { 555, "5.5.4",
	    "Parameter not recognized or not implemented" },
	[SMTP_R_PARAM_BAD] = { 501, "5.5.4", "Invalid parameter value" },
	[SMTP_R_PARAM_DUP] = { 501, "5.5.4", "Duplicate parameter" },
	[SMTP_R_DSN_NOTIFY_BAD] = { 501, "5.5.4",
	    "Invalid NOTIFY: NEVER, or any of SUCCESS, FAILURE, DELAY" },
	[SMTP_R_DSN_ORCPT_BAD] = { 501, "5.5.4",
	    "Invalid ORCPT: addr-type;xtext" },
	[SMTP_R_DSN_RET_BAD] = { 501, "5.5.4", "Invalid RET: FULL or HDRS" },
	[SMTP_R_DSN_ENVID_BAD] = { 501, "5.5.4",
	    "Invalid ENVID: printable xtext" },
	[SMTP_R_DSN_TOO_LONG] = { 501, "5.5.4",
	    "ENVID longer than 100 or ORCPT longer than 500 characters" },
	[SMTP_R_NEED_HELO] = { 503, "5.5.1",
	    "Bad sequence of commands, send HELO/EHLO first" },
	[SMTP_R_NESTED_MAIL] = { 503, "5.5.1",
	    "Bad sequence of commands, sender already given" },
	[SMTP_R_NEED_MAIL] = { 503, "5.5.1",
	    "Bad sequence of commands, need MAIL first" },
	[SMTP_R_NEED_RCPT] = { 503, "5.5.1",
	    "Bad sequence of commands, need RCPT first" },
	[SMTP_R_NO_VALID_RCPT] = { 554, "5.5.1", "No valid recipients" },
	[SMTP_R_EXPN_DISABLED] = { 502, "5.5.1", "EXPN not available" },
	[SMTP_R_NOT_IMPLEMENTED] = { 502, "5.5.1", "Command not implemented" },
	[SMTP_R_USER_UNKNOWN] = { 550, "5.1.1",
	    "<%s>: Recipient address rejected: user unknown" },
	[SMTP_R_RELAY_DENIED] = { 550, "5.7.1", "<%s>: Relay access denied" },
	[SMTP_R_SIZE_EXCEEDED] = { 552, "5.3.4",
	    "Message size exceeds fixed maximum message size" },
	[SMTP_R_SESSION_SIZE] = { 552, "5.3.4", "Session size limit exceeded" },
	[SMTP_R_MSG_TOO_BIG] = { 552, "5.3.4",
	    "Message size exceeds fixed maximum message size" },
	[SMTP_R_HOPS] = { 554, "5.4.6",
	    "Too many hops (%u Received headers), mail loop?" },
	[SMTP_R_BARE_NEWLINE_DATA] = { 554, "5.6.0",
	    "Message refused: bare CR or LF in message text" },
	[SMTP_R_DATA_LINE_TOO_LONG] = { 554, "5.6.0",
	    "Message refused: line longer than %u octets" },
	[SMTP_R_NUL_IN_DATA] = { 554, "5.6.0",
	    "Message refused: NUL in message text" },
	[SMTP_R_BDAT_OK] = { 250, "2.0.0", "%llu octets received" },
	[SMTP_R_BDAT_SYNTAX] = { 501, "5.5.4",
	    "Syntax: BDAT size [LAST]; cannot find the next command, closing" },
	[SMTP_R_DATA_IN_BDAT] = { 503, "5.5.1",
	    "Bad sequence of commands, BDAT transaction in progress" },
	[SMTP_R_DATA_BINARYMIME] = { 503, "5.5.1",
	    "Bad sequence of commands, BODY=BINARYMIME needs BDAT" },
	[SMTP_R_AUTH_OK] = { 235, "2.7.0", "Authentication successful" },
	[SMTP_R_AUTH_CHALLENGE] = { 334, "", "%s" },
	[SMTP_R_AUTH_FAILED] = { 535, "5.7.8",
	    "Authentication credentials invalid" },
	[SMTP_R_AUTH_ENCRYPT] = { 538, "5.7.11",
	    "Encryption required for requested authentication mechanism" },
	[SMTP_R_AUTH_WEAK] = { 534, "5.7.9",
	    "Authentication mechanism is too weak for this user" },
	[SMTP_R_AUTH_B64] = { 501, "5.5.2",
	    "Cannot decode the response (base64)" },
	[SMTP_R_AUTH_CANCEL] = { 501, "5.7.0", "Authentication cancelled" },
	[SMTP_R_AUTH_TWICE] = { 503, "5.5.1",
	    "Bad sequence of commands, already authenticated" },
	[SMTP_R_AUTH_IN_TXN] = { 503, "5.5.1",
	    "Bad sequence of commands, AUTH not allowed in a transaction" },
	[SMTP_R_AUTH_MECH] = { 504, "5.5.4",
	    "Unrecognized authentication type" },
	[SMTP_R_AUTH_SYNTAX] = { 501, "5.5.4",
	    "Syntax: AUTH mechanism [initial-response]" },
	[SMTP_R_AUTH_TEMP] = { 454, "4.7.0",
	    "Temporary authentication failure" },
	[SMTP_R_AUTH_TOO_MANY] = { 421, "4.7.0",
	    "%s Too many authentication failures, closing connection" },
	[SMTP_R_AUTH_TOO_LONG] = { 500, "5.5.6",
	    "Authentication exchange line is too long" },
	[SMTP_R_PREGREET] = { 554, "5.5.1",
	    "%s Protocol error: command sent before the greeting" },
	/* STARTTLS: RFC 3207 4, RFC 3463 5.7.0 / 4.7.0 */
	[SMTP_R_STARTTLS_GO] = { 220, "2.0.0", "Ready to start TLS" },
	[SMTP_R_TLS_UNAVAILABLE] = { 454, "4.7.0",
	    "TLS not available due to temporary reason" },
	[SMTP_R_TLS_REQUIRED] = { 530, "5.7.0",
	    "Must issue a STARTTLS command first" },
	[SMTP_R_TLS_ACTIVE] = { 503, "5.5.1",
	    "Bad sequence of commands, TLS already active" },
	[SMTP_R_TLS_IN_TXN] = { 503, "5.5.1",
	    "Bad sequence of commands, mail transaction in progress" },
};

const struct smtp_reply *
smtp_reply_get(enum smtp_r r)
{
	if ((unsigned)r >= SMTP_R_COUNT || smtp_replies[r].code == 0) {
		panic("no reply %d", (int)r);
	}
	return &smtp_replies[r];
}

int
smtp_reply_vfmt(struct buf *b, bool last, enum smtp_r r, va_list ap)
{
	const struct smtp_reply *rp = smtp_reply_get(r);
	struct buf save;
	int rc;

	buf_compact(b);
	save = *b;
	rc = buf_printf(b, "%u%c%s%s", rp->code, last ? ' ' : '-', rp->enh,
	    rp->enh[0] != '\0' ? " " : "");
	if (rc == 0) {
		rc = buf_vprintf(b, rp->text, ap);
	}
	if (rc == 0) {
		rc = buf_append(b, "\r\n", 2);
	}
	if (rc != 0) {
		b->off = save.off; /* all or nothing */
		b->len = save.len;
	}
	return rc;
}

int
smtp_reply_fmt(struct buf *b, enum smtp_r r, ...)
{
	va_list ap;
	int rc;

	va_start(ap, r);
	rc = smtp_reply_vfmt(b, true, r, ap);
	va_end(ap);
	return rc;
}
