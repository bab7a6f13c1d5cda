/*
 * test_smtp_reply.c — the reply table and its formatter
 * (src/smtp/smtp_reply.c): every id has a reply with a basic code of RFC
 * 5321 4.2.3, an enhanced code of RFC 3463 whose class matches (none on
 * 3xx), one-line printable text with only %s/%u/%llu conversions; "code enh
 * text CRLF" on the wire, "-" for a continuation (4.2.1); all or nothing
 * when the buffer is full.
 */
#include <ctype.h>
#include <stdlib.h>

#include "tu.h"

#include "smtp/smtp.h"

static bool
reply_code_known(unsigned code)
{
	static const unsigned codes[] = { 211, 214, 220, 221, 235, 250, 251,
		252, 334, 354, 421, 450, 451, 452, 454, 455, 500, 501, 502, 503,
		504, 530, 534, 535, 538, 550, 551, 552, 553, 554, 555 };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(codes); i++) {
		if (codes[i] == code) {
			return true;
		}
	}
	return false;
}

/* RFC 3463: class "." subject "." detail, 1-3 digits each. */
static bool
reply_enh_valid(const char *e, unsigned code)
{
	int parts = 0;
	int digits = 0;

	if (e[0] != (char)('0' + code / 100) || e[1] != '.') {
		return false;
	}
	for (; *e != '\0'; e++) {
		if (isdigit((unsigned char)*e)) {
			if (++digits > 3) {
				return false;
			}
		} else if (*e == '.' && digits > 0) {
			parts++;
			digits = 0;
		} else {
			return false;
		}
	}
	return parts == 2 && digits > 0;
}

static void
test_table(void **state)
{
	int r;

	for (r = SMTP_R_NONE + 1; r < SMTP_R_COUNT; r++) {
		const struct smtp_reply *rp = smtp_reply_get((enum smtp_r)r);
		const char *t;

		assert_non_null(rp);
		if (!reply_code_known(rp->code)) {
			fail_msg("reply %d: code %u", r, rp->code);
		}
		assert_non_null(rp->enh);
		assert_non_null(rp->text);
		if (rp->code / 100 == 3 || rp->code / 100 == 1) {
			assert_string_equal(rp->enh, "");
		} else if (rp->enh[0] != '\0' &&
		    !reply_enh_valid(rp->enh, rp->code)) {
			fail_msg("reply %d: %u with enhanced code \"%s\"", r,
			    rp->code, rp->enh);
		}
		assert_true(rp->text[0] != '\0');
		for (t = rp->text; *t != '\0'; t++) {
			assert_true(*t >= 0x20 && *t < 0x7f);
			if (*t == '%') {
				t++;
				if (strncmp(t, "llu", 3) == 0) {
					t += 2;
				} else if (*t != 's' && *t != 'u' &&
				    *t != '%') {
					fail_msg("reply %d: conversion %%%c", r,
					    *t);
				}
			}
		}
	}
}

/* RFC 3463 / 2034: all replies but the greeting, HELO/EHLO and 354. */
static void
test_enhanced_present(void **state)
{
	int r;

	for (r = SMTP_R_NONE + 1; r < SMTP_R_COUNT; r++) {
		const struct smtp_reply *rp = smtp_reply_get((enum smtp_r)r);

		if (r == SMTP_R_GREETING || r == SMTP_R_HELO ||
		    r == SMTP_R_EHLO_FIRST || rp->code == 354 ||
		    rp->code == 334) {
			continue;
		}
		if (rp->enh[0] == '\0') {
			fail_msg("reply %d (%u) has no enhanced code", r,
			    rp->code);
		}
	}
}

/*
 * RFC 5321 4.2: 220, 221 and 421 begin with the server's domain (not the
 * 220 to STARTTLS, whose text RFC 3207 4 gives).
 */
static void
test_domain_first(void **state)
{
	int r;

	for (r = SMTP_R_NONE + 1; r < SMTP_R_COUNT; r++) {
		const struct smtp_reply *rp = smtp_reply_get((enum smtp_r)r);

		if (r == SMTP_R_STARTTLS_GO) {
			continue;
		}
		if (rp->code == 220 || rp->code == 221 || rp->code == 421) {
			if (strncmp(rp->text, "%s ", 3) != 0) {
				fail_msg("reply %d (%u): \"%s\"", r, rp->code,
				    rp->text);
			}
		}
	}
}

static void
test_selected(void **state)
{
	assert_int_equal(smtp_reply_get(SMTP_R_OK)->code, 250);
	assert_int_equal(smtp_reply_get(SMTP_R_DATA_GO)->code, 354);
	assert_int_equal(smtp_reply_get(SMTP_R_UNRECOGNIZED)->code, 500);
	assert_int_equal(smtp_reply_get(SMTP_R_NEED_MAIL)->code, 503);
	assert_string_equal(smtp_reply_get(SMTP_R_NEED_MAIL)->enh, "5.5.1");
	/* RFC 5321 4.1.1.11 / RFC 3463: unknown parameters are 555 5.5.4 */
	assert_int_equal(smtp_reply_get(SMTP_R_PARAM_UNKNOWN)->code, 555);
	assert_string_equal(smtp_reply_get(SMTP_R_PARAM_UNKNOWN)->enh, "5.5.4");
	/* RFC 6531 3.5: non-ASCII address without SMTPUTF8 */
	assert_int_equal(smtp_reply_get(SMTP_R_NON_ASCII)->code, 553);
	assert_string_equal(smtp_reply_get(SMTP_R_NON_ASCII)->enh, "5.6.7");
	/* RFC 1870: over the fixed maximum message size */
	assert_int_equal(smtp_reply_get(SMTP_R_SIZE_EXCEEDED)->code, 552);
	assert_string_equal(smtp_reply_get(SMTP_R_SIZE_EXCEEDED)->enh, "5.3.4");
	/* temporary failures are 4xx */
	assert_int_equal(smtp_reply_get(SMTP_R_TOO_MANY_SESSIONS)->code / 100,
	    4);
	assert_int_equal(smtp_reply_get(SMTP_R_NO_TXN)->code, 452);
	assert_int_equal(smtp_reply_get(SMTP_R_LOCAL_ERROR)->code / 100, 4);
}

static int
fmt_more(struct buf *b, bool last, enum smtp_r r, ...)
{
	va_list ap;
	int rc;

	va_start(ap, r);
	rc = smtp_reply_vfmt(b, last, r, ap);
	va_end(ap);
	return rc;
}

#define ASSERT_BUF(b, s) \
	tu_assert_mem_eq(buf_data(b), buf_size(b), (s), strlen(s))

static void
test_fmt(void **state)
{
	char mem[512];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(smtp_reply_fmt(&b, SMTP_R_OK), 0);
	ASSERT_BUF(&b, "250 2.0.0 OK\r\n");
	buf_reset(&b);
	assert_int_equal(smtp_reply_fmt(&b, SMTP_R_DATA_GO), 0);
	ASSERT_BUF(&b, "354 End data with <CR><LF>.<CR><LF>\r\n");
	buf_reset(&b);
	assert_int_equal(smtp_reply_fmt(&b, SMTP_R_MAIL_OK, "a@b.example"), 0);
	ASSERT_BUF(&b, "250 2.1.0 Sender <a@b.example> OK\r\n");
	buf_reset(&b);
	assert_int_equal(smtp_reply_fmt(&b, SMTP_R_GREETING, "mx.example"), 0);
	ASSERT_BUF(&b, "220 mx.example ESMTP tern\r\n");
	buf_reset(&b);
	assert_int_equal(smtp_reply_fmt(&b, SMTP_R_HOPS, 31u), 0);
	ASSERT_BUF(&b,
	    "554 5.4.6 Too many hops (31 Received headers), "
	    "mail loop?\r\n");
	buf_reset(&b);
	assert_int_equal(smtp_reply_fmt(&b, SMTP_R_DATA_LINE_TOO_LONG, 1000u),
	    0);
	ASSERT_BUF(&b,
	    "554 5.6.0 Message refused: line longer than 1000 "
	    "octets\r\n");
}

/* RFC 5321 4.2.1: "250-" continues, "250 " ends a multi-line reply. */
static void
test_multiline(void **state)
{
	char mem[512];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(fmt_more(&b, false, SMTP_R_EHLO_FIRST, "mx.example",
	                     "client.example", "192.0.2.1"),
	    0);
	assert_int_equal(fmt_more(&b, false, SMTP_R_HELP, "PIPELINING"), 0);
	assert_int_equal(fmt_more(&b, true, SMTP_R_HELP, "SIZE 1000"), 0);
	ASSERT_BUF(&b,
	    "250-mx.example Hello client.example [192.0.2.1]\r\n"
	    "214-2.0.0 PIPELINING\r\n214 2.0.0 SIZE 1000\r\n");
}

/* Replies pile up behind what is already queued, compacting if need be. */
static void
test_append(void **state)
{
	char mem[40];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(buf_append(&b, "xxxxxxxxxxxxxxxxxxxxxxxxxx", 26), 0);
	buf_consume(&b, 24);
	assert_int_equal(smtp_reply_fmt(&b, SMTP_R_OK), 0);
	ASSERT_BUF(&b, "xx250 2.0.0 OK\r\n");
	assert_int_equal(smtp_reply_fmt(&b, SMTP_R_OK), 0);
	ASSERT_BUF(&b, "xx250 2.0.0 OK\r\n250 2.0.0 OK\r\n");
}

static void
test_nospc(void **state)
{
	char mem[64];
	struct buf b;
	size_t cap;

	/* every size too small leaves the buffer exactly as it was */
	for (cap = 0; cap < 14; cap++) {
		buf_init(&b, mem, cap);
		assert_int_equal(smtp_reply_fmt(&b, SMTP_R_OK), -ENOSPC);
		assert_int_equal(buf_size(&b), 0);
	}
	buf_init(&b, mem, 14);
	assert_int_equal(smtp_reply_fmt(&b, SMTP_R_OK), 0);
	ASSERT_BUF(&b, "250 2.0.0 OK\r\n");
	for (cap = 3; cap < 40; cap++) {
		buf_init(&b, mem, cap);
		assert_int_equal(buf_append(&b, "abc", 3), 0);
		if (smtp_reply_fmt(&b, SMTP_R_MAIL_OK, "someone@example.com") !=
		    0) {
			ASSERT_BUF(&b, "abc");
		} else {
			ASSERT_BUF(&b,
			    "abc250 2.1.0 Sender "
			    "<someone@example.com> OK\r\n");
		}
	}
}

static void
reply_do_get(void *arg)
{
	(void)smtp_reply_get((enum smtp_r)(intptr_t)arg);
}

/* Asking for a reply that does not exist is a broken invariant. */
static void
test_get_invalid_panics(void **state)
{
	assert_true(tu_dies(reply_do_get, (void *)(intptr_t)SMTP_R_NONE));
	assert_true(tu_dies(reply_do_get, (void *)(intptr_t)SMTP_R_COUNT));
	assert_true(tu_dies(reply_do_get, (void *)(intptr_t)-1));
	assert_false(tu_dies(reply_do_get, (void *)(intptr_t)SMTP_R_OK));
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_enhanced_present),
		cmocka_unit_test(test_domain_first),
		cmocka_unit_test(test_selected),
		cmocka_unit_test(test_fmt),
		cmocka_unit_test(test_multiline),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_nospc),
		cmocka_unit_test(test_get_invalid_panics),
	};

	return tu_run("smtp_reply", tests, ARRAY_SIZE(tests), NULL, NULL);
}
