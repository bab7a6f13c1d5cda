/*
 * test_smtp_cmd.c — the command line parser (src/smtp/smtp_cmd.c):
 * RFC 5321 2.4 (verbs are case-insensitive), 4.1.1 (verb SP argument
 * CRLF), 4.5.3.1.4 (512 octets with CRLF), 2.3.8 (CRLF only: a bare CR
 * or LF is refused, the SMTP smuggling family), and no NUL.
 *
 * Every line is handed over in a buffer of exactly its length, so an
 * over-read is an ASan error. Golden cases: golden/smtp_cmd/NAME.in hold a
 * raw line; the rendering is "verb=NAME arg=TEXT" or "reply=CODE ...".
 */
#include <stdlib.h>

#include "tu.h"

#include "smtp/smtp.h"

static enum smtp_r
cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd)
{
	char *p = tu_dup(line, len);
	enum smtp_r r;

	memset(cmd, 0xa5, sizeof(*cmd));
	r = smtp_cmd_parse(p, len, cmd);
	if (r == SMTP_R_NONE) {
		/* the argument lies inside the line, before its CRLF */
		assert_true(cmd->arg >= p);
		assert_true(cmd->arg_len <= len);
		assert_true(cmd->arg + cmd->arg_len <= p + len - 2);
		cmd->arg = line + (cmd->arg - p); /* into the caller's copy */
	}
	free(p);
	return r;
}

#define CMD(s, cmd) cmd_parse((s), sizeof(s) - 1, (cmd))

static void
assert_cmd(const char *line, size_t len, enum smtp_verb verb, const char *arg)
{
	struct smtp_cmd cmd;

	assert_int_equal(cmd_parse(line, len, &cmd), SMTP_R_NONE);
	assert_int_equal(cmd.verb, verb);
	tu_assert_mem_eq(cmd.arg, cmd.arg_len, arg, strlen(arg));
}

#define ASSERT_CMD(s, verb, arg) assert_cmd((s), sizeof(s) - 1, (verb), (arg))

static void
test_verbs(void **state)
{
	ASSERT_CMD("HELO relay.example\r\n", SMTP_V_HELO, "relay.example");
	ASSERT_CMD("EHLO client.example\r\n", SMTP_V_EHLO, "client.example");
	ASSERT_CMD("MAIL FROM:<a@b.example>\r\n", SMTP_V_MAIL,
	    "FROM:<a@b.example>");
	ASSERT_CMD("RCPT TO:<c@d.example>\r\n", SMTP_V_RCPT,
	    "TO:<c@d.example>");
	ASSERT_CMD("DATA\r\n", SMTP_V_DATA, "");
	ASSERT_CMD("RSET\r\n", SMTP_V_RSET, "");
	ASSERT_CMD("NOOP\r\n", SMTP_V_NOOP, "");
	ASSERT_CMD("QUIT\r\n", SMTP_V_QUIT, "");
	ASSERT_CMD("HELP\r\n", SMTP_V_HELP, "");
	ASSERT_CMD("HELP MAIL\r\n", SMTP_V_HELP, "MAIL");
	ASSERT_CMD("VRFY postmaster\r\n", SMTP_V_VRFY, "postmaster");
	ASSERT_CMD("EXPN staff\r\n", SMTP_V_EXPN, "staff");
	ASSERT_CMD("BDAT 1024 LAST\r\n", SMTP_V_BDAT, "1024 LAST");
	ASSERT_CMD("STARTTLS\r\n", SMTP_V_STARTTLS, "");
	ASSERT_CMD("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", SMTP_V_AUTH,
	    "PLAIN AGFsaWNlAHNlY3JldA==");
	ASSERT_CMD("ETRN @example.com\r\n", SMTP_V_ETRN, "@example.com");
}

/* RFC 5321 2.4: verbs are not case sensitive; the argument is kept. */
static void
test_verb_case(void **state)
{
	ASSERT_CMD("mail from:<A@B.example>\r\n", SMTP_V_MAIL,
	    "from:<A@B.example>");
	ASSERT_CMD("Rcpt To:<x@y.example>\r\n", SMTP_V_RCPT,
	    "To:<x@y.example>");
	ASSERT_CMD("qUiT\r\n", SMTP_V_QUIT, "");
	ASSERT_CMD("starttls\r\n", SMTP_V_STARTTLS, "");
	ASSERT_CMD("ehlo MiXeD.Example\r\n", SMTP_V_EHLO, "MiXeD.Example");
}

/* RFC 5321 4.1.1.9: NOOP may carry a string, which is ignored. */
static void
test_noop_arg(void **state)
{
	ASSERT_CMD("NOOP hello there\r\n", SMTP_V_NOOP, "hello there");
}

/* The name of every verb parses back to that verb. */
static void
test_verb_names(void **state)
{
	char line[64];
	struct smtp_cmd cmd;
	enum smtp_r r;
	int v;

	assert_non_null(smtp_verb_name(SMTP_V_UNKNOWN));
	for (v = SMTP_V_UNKNOWN + 1; v < SMTP_V_COUNT; v++) {
		const char *name = smtp_verb_name((enum smtp_verb)v);
		size_t n;

		assert_non_null(name);
		n = (size_t)snprintf(line, sizeof(line), "%s\r\n", name);
		r = cmd_parse(line, n, &cmd);
		/* a verb that needs an argument may be refused, never unknown */
		assert_int_not_equal(r, SMTP_R_UNRECOGNIZED);
		if (r == SMTP_R_NONE) {
			assert_int_equal(cmd.verb, v);
		}
	}
	assert_string_equal(smtp_verb_name(SMTP_V_MAIL), "MAIL");
	assert_string_equal(smtp_verb_name(SMTP_V_STARTTLS), "STARTTLS");
}

static void
test_unknown(void **state)
{
	struct smtp_cmd cmd;

	assert_int_equal(CMD("XYZZY\r\n", &cmd), SMTP_R_UNRECOGNIZED);
	assert_int_equal(CMD("MAI\r\n", &cmd), SMTP_R_UNRECOGNIZED);
	assert_int_equal(CMD("MAILFROM:<a@b>\r\n", &cmd), SMTP_R_UNRECOGNIZED);
	assert_int_equal(CMD("DATAX\r\n", &cmd), SMTP_R_UNRECOGNIZED);
	assert_int_equal(CMD("QUITE\r\n", &cmd), SMTP_R_UNRECOGNIZED);
	assert_int_equal(CMD("GET / HTTP/1.1\r\n", &cmd), SMTP_R_UNRECOGNIZED);
	assert_int_equal(CMD("M\xc3\x84IL FROM:<a@b>\r\n", &cmd),
	    SMTP_R_UNRECOGNIZED);
	assert_int_equal(CMD("STARTTLSX\r\n", &cmd), SMTP_R_UNRECOGNIZED);
}

static void
test_empty_line(void **state)
{
	struct smtp_cmd cmd;

	/* an empty command line is a syntax error, nothing else */
	assert_int_equal(smtp_reply_get(CMD("\r\n", &cmd))->code, 500);
}

/* RFC 5321 2.3.8: lines end in CRLF; a bare LF is refused. */
static void
test_bare_lf(void **state)
{
	struct smtp_cmd cmd;

	assert_int_equal(CMD("NOOP\n", &cmd), SMTP_R_BARE_NEWLINE_CMD);
	assert_int_equal(CMD("MAIL FROM:<a@b.example>\n", &cmd),
	    SMTP_R_BARE_NEWLINE_CMD);
	assert_int_equal(CMD("\n", &cmd), SMTP_R_BARE_NEWLINE_CMD);
	/* an LF inside: two commands would hide in one line */
	assert_int_equal(CMD("NOOP\nQUIT\r\n", &cmd), SMTP_R_BARE_NEWLINE_CMD);
	assert_int_equal(CMD("RCPT TO:<a@b>\n\r\n", &cmd),
	    SMTP_R_BARE_NEWLINE_CMD);
}

static void
test_bare_cr(void **state)
{
	struct smtp_cmd cmd;

	assert_int_equal(CMD("NOOP\rQUIT\r\n", &cmd), SMTP_R_BARE_NEWLINE_CMD);
	assert_int_equal(CMD("RSET\r\r\n", &cmd), SMTP_R_BARE_NEWLINE_CMD);
	assert_int_equal(CMD("MAIL FROM:<a@b>\r \r\n", &cmd),
	    SMTP_R_BARE_NEWLINE_CMD);
	assert_int_equal(CMD("\r\r\n", &cmd), SMTP_R_BARE_NEWLINE_CMD);
}

static void
test_no_line_end(void **state)
{
	struct smtp_cmd cmd;

	/* not a whole line: refused with a 500, never accepted */
	assert_int_equal(smtp_reply_get(CMD("QUIT", &cmd))->code, 500);
	assert_int_equal(smtp_reply_get(CMD("QUIT\r", &cmd))->code, 500);
	assert_int_equal(smtp_reply_get(cmd_parse("", 0, &cmd))->code, 500);
}

static void
test_nul(void **state)
{
	struct smtp_cmd cmd;

	assert_int_equal(CMD("RSET\0\r\n", &cmd), SMTP_R_NUL_IN_CMD);
	assert_int_equal(CMD("MAIL FROM:<a\0@b.example>\r\n", &cmd),
	    SMTP_R_NUL_IN_CMD);
	assert_int_equal(CMD("\0QUIT\r\n", &cmd), SMTP_R_NUL_IN_CMD);
	assert_int_equal(CMD("EHLO x\0\r\n", &cmd), SMTP_R_NUL_IN_CMD);
}

/* RFC 5321 4.5.3.1.4: 512 octets including CRLF. */
static void
test_line_length(void **state)
{
	char line[SMTP_CMD_LINE_MAX + 64];
	struct smtp_cmd cmd;
	size_t n;

	memcpy(line, "NOOP ", 5);
	for (n = 5; n < SMTP_CMD_LINE_MAX - 2; n++) {
		line[n] = 'x';
	}
	line[n++] = '\r';
	line[n++] = '\n';
	assert_int_equal(n, 512);
	assert_int_equal(cmd_parse(line, n, &cmd), SMTP_R_NONE);
	assert_int_equal(cmd.verb, SMTP_V_NOOP);
	assert_int_equal(cmd.arg_len, 512 - 7);

	memcpy(line + 510, "x\r\n", 3);
	assert_int_equal(cmd_parse(line, 513, &cmd), SMTP_R_LINE_TOO_LONG);
	memset(line, 'A', sizeof(line));
	memcpy(line + sizeof(line) - 2, "\r\n", 2);
	assert_int_equal(cmd_parse(line, sizeof(line), &cmd),
	    SMTP_R_LINE_TOO_LONG);
}

/* A long MAIL line near the limit is still one command. */
static void
test_long_mail(void **state)
{
	char line[SMTP_CMD_LINE_MAX_MAIL + 16];
	struct smtp_cmd cmd;
	size_t n = 0;

	n += (size_t)snprintf(line, sizeof(line), "MAIL FROM:<");
	while (n < 600) { /* past 512 + 100 (RFC 3461 4) */
		line[n++] = 'a';
	}
	memcpy(line + n, "@b.example>\r\n", 13);
	n += 13;
	assert_true(n > SMTP_CMD_LINE_MAX_MAIL);
	assert_int_equal(cmd_parse(line, n, &cmd), SMTP_R_LINE_TOO_LONG);
	n = 480;
	memcpy(line + n, "@b.example>\r\n", 13);
	n += 13;
	assert_int_equal(cmd_parse(line, n, &cmd), SMTP_R_NONE);
	assert_int_equal(cmd.verb, SMTP_V_MAIL);
	assert_int_equal(cmd.arg_len, n - 7);
}

/* RFC 3461 4: RCPT may be 500 and MAIL 100 octets longer (DSN). */
static void
test_dsn_lengths(void **state)
{
	char line[SMTP_CMD_LINE_MAX_RCPT + 8];
	struct smtp_cmd cmd;

	memset(line, 'x', sizeof(line));
	memcpy(line, "RCPT TO:<a@b> ORCPT=rfc822;", 27);
	memcpy(line + SMTP_CMD_LINE_MAX_RCPT - 2, "\r\n", 2);
	assert_int_equal(cmd_parse(line, SMTP_CMD_LINE_MAX_RCPT, &cmd),
	    SMTP_R_NONE);
	assert_int_equal(cmd.verb, SMTP_V_RCPT);
	memcpy(line + SMTP_CMD_LINE_MAX_RCPT - 2, "x\r\n", 3);
	assert_int_equal(cmd_parse(line, SMTP_CMD_LINE_MAX_RCPT + 1, &cmd),
	    SMTP_R_LINE_TOO_LONG);
	memcpy(line, "MAIL FROM:<a@b> ENVID=", 22);
	memcpy(line + SMTP_CMD_LINE_MAX_MAIL - 2, "\r\n", 2);
	assert_int_equal(cmd_parse(line, SMTP_CMD_LINE_MAX_MAIL, &cmd),
	    SMTP_R_NONE);
	memcpy(line + SMTP_CMD_LINE_MAX_MAIL - 2, "x\r\n", 3);
	assert_int_equal(cmd_parse(line, SMTP_CMD_LINE_MAX_MAIL + 1, &cmd),
	    SMTP_R_LINE_TOO_LONG);
	/* other verbs keep 512 */
	memcpy(line, "VRFY ", 5);
	memcpy(line + SMTP_CMD_LINE_MAX, "\r\n", 2);
	assert_int_equal(cmd_parse(line, SMTP_CMD_LINE_MAX + 2, &cmd),
	    SMTP_R_LINE_TOO_LONG);
}

/* Every reply the parser gives is one of the command-line replies. */
static void
test_reply_ids(void **state)
{
	static const char *lines[] = { "\r\n", "\n", "\r", "x", " ", "MAIL",
		"MAIL \r\n", " MAIL FROM:<a@b>\r\n", "\tQUIT\r\n", "QUIT \r\n",
		"DATA x\r\n", "RCPT\r\n", "HELO\r\n" };
	struct smtp_cmd cmd;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(lines); i++) {
		enum smtp_r r = cmd_parse(lines[i], strlen(lines[i]), &cmd);

		assert_true(r >= SMTP_R_NONE && r < SMTP_R_COUNT);
		if (r != SMTP_R_NONE) {
			unsigned code = smtp_reply_get(r)->code;

			assert_true(code == 500 || code == 501);
		} else {
			assert_true(cmd.verb > SMTP_V_UNKNOWN &&
			    cmd.verb < SMTP_V_COUNT);
		}
	}
}

static void
cmd_render(const char *in, size_t len, struct tu_out *o)
{
	struct smtp_cmd cmd;
	enum smtp_r r = cmd_parse(in, len, &cmd);

	if (r != SMTP_R_NONE) {
		tu_out_reply(o, r);
		return;
	}
	tu_outf(o, "verb=%s arg=", smtp_verb_name(cmd.verb));
	tu_out_esc(o, cmd.arg, cmd.arg_len);
	tu_outf(o, "\n");
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbs),
		cmocka_unit_test(test_verb_case),
		cmocka_unit_test(test_noop_arg),
		cmocka_unit_test(test_verb_names),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_empty_line),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_bare_cr),
		cmocka_unit_test(test_no_line_end),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_long_mail),
		cmocka_unit_test(test_dsn_lengths),
		cmocka_unit_test(test_reply_ids),
	};

	return tu_run("smtp_cmd", tests, ARRAY_SIZE(tests), "smtp_cmd",
	    cmd_render);
}
