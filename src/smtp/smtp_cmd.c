/*
 * smtp_cmd.c — one command line to a verb and its argument.
 *
 * RFC 5321 2.3.8: lines end in CRLF; a bare CR or LF is not a line end and
 * is refused here rather than guessed at (the root of SMTP smuggling).
 * RFC 5321 4.5.3.1.4: a command line is at most 512 octets with its CRLF.
 * Verbs are case-insensitive (2.4).
 */
#include <string.h>

#include "smtp/smtp.h"

static const char *const smtp_verbs[SMTP_V_COUNT] = {
	[SMTP_V_UNKNOWN] = "?",
	[SMTP_V_HELO] = "HELO",
	[SMTP_V_EHLO] = "EHLO",
	[SMTP_V_MAIL] = "MAIL",
	[SMTP_V_RCPT] = "RCPT",
	[SMTP_V_DATA] = "DATA",
	[SMTP_V_RSET] = "RSET",
	[SMTP_V_NOOP] = "NOOP",
	[SMTP_V_QUIT] = "QUIT",
	[SMTP_V_HELP] = "HELP",
	[SMTP_V_VRFY] = "VRFY",
	[SMTP_V_EXPN] = "EXPN",
	[SMTP_V_BDAT] = "BDAT",
	[SMTP_V_STARTTLS] = "STARTTLS",
	[SMTP_V_AUTH] = "AUTH",
	[SMTP_V_ETRN] = "ETRN",
};

const char *
smtp_verb_name(enum smtp_verb v)
{
	return (unsigned)v < SMTP_V_COUNT ? smtp_verbs[v] : "?";
}

static enum smtp_verb
smtp_cmd_lookup(const char *s, size_t len)
{
	unsigned v;

	for (v = SMTP_V_UNKNOWN + 1; v < SMTP_V_COUNT; v++) {
		if (str_ieq(s, len, smtp_verbs[v], strlen(smtp_verbs[v]))) {
			return (enum smtp_verb)v;
		}
	}
	return SMTP_V_UNKNOWN;
}

enum smtp_r
smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd)
{
	size_t n, i;

	memset(cmd, 0, sizeof(*cmd));
	if (len > SMTP_CMD_LINE_MAX_RCPT) {
		return SMTP_R_LINE_TOO_LONG;
	}
	if (len < 2 || line[len - 1] != '\n' || line[len - 2] != '\r') {
		return SMTP_R_BARE_NEWLINE_CMD;
	}
	n = len - 2;
	for (i = 0; i < n; i++) {
		if (line[i] == '\r' || line[i] == '\n') {
			return SMTP_R_BARE_NEWLINE_CMD;
		}
		if (line[i] == '\0') {
			return SMTP_R_NUL_IN_CMD;
		}
	}
	for (i = 0; i < n && line[i] != ' '; i++) {
		;
	}
	cmd->verb = smtp_cmd_lookup(line, i);
	if (len > (cmd->verb == SMTP_V_RCPT        ? SMTP_CMD_LINE_MAX_RCPT :
	                  cmd->verb == SMTP_V_MAIL ? SMTP_CMD_LINE_MAX_MAIL :
	                                             SMTP_CMD_LINE_MAX)) {
		cmd->verb = SMTP_V_UNKNOWN;
		return SMTP_R_LINE_TOO_LONG;
	}
	if (cmd->verb == SMTP_V_UNKNOWN) {
		return SMTP_R_UNRECOGNIZED;
	}
	if (i < n) {
		i++; /* the one space after the verb */
	}
	/* Trailing white space is common and harmless: drop it. */
	while (n > i && (line[n - 1] == ' ' || line[n - 1] == '\t')) {
		n--;
	}
	cmd->arg = line + i;
	cmd->arg_len = n - i;
	return SMTP_R_NONE;
}
