/*
 * test_smtp_param.c — MAIL and RCPT parameters (src/smtp/smtp_param.c):
 * RFC 5321 4.1.2 (esmtp-keyword, esmtp-value, SP separated; keywords are
 * case-insensitive), 4.1.1.11 (555 for parameters not offered), RFC 1870
 * (SIZE=1*20DIGIT), RFC 6152 (BODY=7BIT|8BITMIME), RFC 3030 (BODY=BINARYMIME
 * only when offered), RFC 6531 (SMTPUTF8,
 * no value).
 *
 * Golden cases: golden/smtp_param/NAME.in hold an options line ("mail" or
 * "rcpt" and the extensions offered: size 8bitmime smtputf8 binarymime)
 * and the
 * parameter text, leading space included, on the second.
 */
#include <stdlib.h>

#include "tu.h"

#include "smtp/smtp.h"

#define EXT_ALL \
	(SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8 | SMTP_EXT_DSN)

static enum smtp_r
mail_params_n(const char *s, size_t len, unsigned ext,
    struct smtp_mail_params *p)
{
	char *c = tu_dup(s, len);
	enum smtp_r r;

	memset(p, 0xa5, sizeof(*p));
	r = smtp_mail_params_parse(c, len, ext, p);
	free(c);
	assert_true(r >= SMTP_R_NONE && r < SMTP_R_COUNT);
	if (r == SMTP_R_NONE) {
		/* nothing the server did not offer */
		assert_true(p->has_size || p->size == 0);
		assert_true(!p->has_size || (ext & SMTP_EXT_SIZE));
		assert_true(
		    p->body == SMTP_BODY_NONE || (ext & SMTP_EXT_8BITMIME));
		assert_true(!p->smtputf8 || (ext & SMTP_EXT_SMTPUTF8));
	}
	return r;
}

static enum smtp_r
mail_params(const char *s, unsigned ext, struct smtp_mail_params *p)
{
	return mail_params_n(s, strlen(s), ext, p);
}

static enum smtp_r
rcpt_params_p(const char *s, unsigned ext, struct smtp_rcpt_params *p)
{
	char *c = tu_dup(s, strlen(s));
	enum smtp_r r;

	memset(p, 0xa5, sizeof(*p));
	r = smtp_rcpt_params_parse(c, strlen(s), ext, p);
	free(c);
	assert_true(r >= SMTP_R_NONE && r < SMTP_R_COUNT);
	if (r == SMTP_R_NONE) {
		assert_true((p->notify == 0 && p->orcpt[0] == '\0') ||
		    (ext & SMTP_EXT_DSN));
	}
	return r;
}

static enum smtp_r
rcpt_params(const char *s, unsigned ext)
{
	struct smtp_rcpt_params p;
	char *c = tu_dup(s, strlen(s));
	enum smtp_r r = smtp_rcpt_params_parse(c, strlen(s), ext, &p);

	free(c);
	assert_true(r >= SMTP_R_NONE && r < SMTP_R_COUNT);
	return r;
}

static void
test_empty(void **state)
{
	struct smtp_mail_params p;

	assert_int_equal(mail_params("", EXT_ALL, &p), SMTP_R_NONE);
	assert_false(p.has_size);
	assert_int_equal(p.size, 0);
	assert_int_equal(p.body, SMTP_BODY_NONE);
	assert_false(p.smtputf8);
	assert_int_equal(mail_params("", 0, &p), SMTP_R_NONE);
}

static void
test_size(void **state)
{
	struct smtp_mail_params p;

	assert_int_equal(mail_params(" SIZE=1000", EXT_ALL, &p), SMTP_R_NONE);
	assert_true(p.has_size);
	assert_int_equal(p.size, 1000);
	assert_int_equal(p.body, SMTP_BODY_NONE);
	assert_false(p.smtputf8);
	assert_int_equal(mail_params(" SIZE=0", SMTP_EXT_SIZE, &p),
	    SMTP_R_NONE);
	assert_true(p.has_size);
	assert_int_equal(p.size, 0);
	assert_int_equal(mail_params(" SIZE=00042", SMTP_EXT_SIZE, &p),
	    SMTP_R_NONE);
	assert_int_equal(p.size, 42);
	assert_int_equal(mail_params(" SIZE=18446744073709551615",
	                     SMTP_EXT_SIZE, &p),
	    SMTP_R_NONE);
	assert_true(p.size == UINT64_MAX);
	assert_int_equal(mail_params(" SIZE=4294967296", SMTP_EXT_SIZE, &p),
	    SMTP_R_NONE);
	assert_true(p.size == 4294967296ull);
}

/* Beyond 64 bits: refused, or saturated; never wrapped to a small size. */
static void
test_size_overflow(void **state)
{
	static const char *big[] = { " SIZE=18446744073709551616",
		" SIZE=99999999999999999999", " SIZE=184467440737095516150",
		" SIZE=123456789012345678901234567890" };
	struct smtp_mail_params p;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(big); i++) {
		enum smtp_r r = mail_params(big[i], SMTP_EXT_SIZE, &p);

		if (r == SMTP_R_NONE) {
			if (p.size != UINT64_MAX) {
				fail_msg("\"%s\" gave size %llu", big[i],
				    (unsigned long long)p.size);
			}
		} else {
			assert_int_equal(r, SMTP_R_PARAM_BAD);
		}
	}
}

static void
test_size_bad(void **state)
{
	static const char *bad[] = { " SIZE=", " SIZE", " SIZE=abc", " SIZE=-1",
		" SIZE=+1", " SIZE=1k", " SIZE=1.5", " SIZE=0x10", " SIZE==1",
		" SIZE=1=2", " SIZE=1\x01", " SIZE=1\xff", " SIZE=\xd9\xa1" };
	struct smtp_mail_params p;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		enum smtp_r r = mail_params(bad[i], EXT_ALL, &p);

		if (r != SMTP_R_PARAM_BAD) {
			fail_msg("\"%s\": reply %d, not PARAM_BAD", bad[i], r);
		}
	}
}

static void
test_body(void **state)
{
	struct smtp_mail_params p;

	assert_int_equal(mail_params(" BODY=8BITMIME", EXT_ALL, &p),
	    SMTP_R_NONE);
	assert_int_equal(p.body, SMTP_BODY_8BITMIME);
	assert_false(p.has_size);
	assert_int_equal(mail_params(" BODY=7BIT", SMTP_EXT_8BITMIME, &p),
	    SMTP_R_NONE);
	assert_int_equal(p.body, SMTP_BODY_7BIT);
	assert_int_equal(mail_params(" body=8bitmime", SMTP_EXT_8BITMIME, &p),
	    SMTP_R_NONE);
	assert_int_equal(p.body, SMTP_BODY_8BITMIME);
	assert_int_equal(mail_params(" Body=7Bit", SMTP_EXT_8BITMIME, &p),
	    SMTP_R_NONE);
	assert_int_equal(p.body, SMTP_BODY_7BIT);
	assert_int_equal(mail_params(" BODY=", EXT_ALL, &p), SMTP_R_PARAM_BAD);
	assert_int_equal(mail_params(" BODY", EXT_ALL, &p), SMTP_R_PARAM_BAD);
	assert_int_equal(mail_params(" BODY=8BIT", EXT_ALL, &p),
	    SMTP_R_PARAM_BAD);
	assert_int_equal(mail_params(" BODY=8BITMIMEX", EXT_ALL, &p),
	    SMTP_R_PARAM_BAD);
	assert_int_equal(mail_params(" BODY=7BI", EXT_ALL, &p),
	    SMTP_R_PARAM_BAD);
}

/* RFC 3030 3: BINARYMIME only when it is offered (with CHUNKING). */
static void
test_body_binarymime(void **state)
{
	struct smtp_mail_params p;
	enum smtp_r r = mail_params(" BODY=BINARYMIME", EXT_ALL, &p);

	assert_true(r == SMTP_R_PARAM_BAD || r == SMTP_R_PARAM_UNKNOWN);
	assert_int_equal(mail_params(" BODY=binarymime",
	                     EXT_ALL | SMTP_EXT_BINARYMIME, &p),
	    SMTP_R_NONE);
	assert_int_equal(p.body, SMTP_BODY_BINARYMIME);
	assert_int_equal(mail_params(" BODY=BINARYMIME BODY=8BITMIME",
	                     EXT_ALL | SMTP_EXT_BINARYMIME, &p),
	    SMTP_R_PARAM_DUP);
	/* BINARYMIME is not a word of 8BITMIME alone */
	assert_int_equal(mail_params(" BODY=BINARYMIME", SMTP_EXT_BINARYMIME,
	                     &p),
	    SMTP_R_PARAM_UNKNOWN);
}

static void
test_smtputf8(void **state)
{
	struct smtp_mail_params p;

	assert_int_equal(mail_params(" SMTPUTF8", EXT_ALL, &p), SMTP_R_NONE);
	assert_true(p.smtputf8);
	assert_int_equal(mail_params(" smtputf8", SMTP_EXT_SMTPUTF8, &p),
	    SMTP_R_NONE);
	assert_true(p.smtputf8);
	assert_int_equal(mail_params(" SMTPUTF8=yes", EXT_ALL, &p),
	    SMTP_R_PARAM_BAD);
	assert_int_equal(mail_params(" SMTPUTF8=", EXT_ALL, &p),
	    SMTP_R_PARAM_BAD);
}

/* RFC 5321 4.1.1.11: parameters the server did not offer: 555. */
static void
test_not_offered(void **state)
{
	struct smtp_mail_params p;

	assert_int_equal(mail_params(" SIZE=10", 0, &p), SMTP_R_PARAM_UNKNOWN);
	assert_int_equal(mail_params(" SIZE=10",
	                     SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8, &p),
	    SMTP_R_PARAM_UNKNOWN);
	assert_int_equal(mail_params(" BODY=8BITMIME", SMTP_EXT_SIZE, &p),
	    SMTP_R_PARAM_UNKNOWN);
	assert_int_equal(mail_params(" SMTPUTF8", SMTP_EXT_SIZE, &p),
	    SMTP_R_PARAM_UNKNOWN);
}

static void
test_unknown(void **state)
{
	static const char *unknown[] = { " FOO=bar", " FOO", " AUTH=<>", " X-FOO=1", " SIZEX=10",
		" SIZ=10", " SIZE=10 FOO=bar", " MT-PRIORITY=3" };
	struct smtp_mail_params p;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(unknown); i++) {
		enum smtp_r r = mail_params(unknown[i], EXT_ALL, &p);

		if (r != SMTP_R_PARAM_UNKNOWN) {
			fail_msg("\"%s\": reply %d, not PARAM_UNKNOWN",
			    unknown[i], r);
		}
	}
}

static void
test_combined(void **state)
{
	struct smtp_mail_params p;

	assert_int_equal(mail_params(" SIZE=2048 BODY=8BITMIME SMTPUTF8",
	                     EXT_ALL, &p),
	    SMTP_R_NONE);
	assert_true(p.has_size);
	assert_int_equal(p.size, 2048);
	assert_int_equal(p.body, SMTP_BODY_8BITMIME);
	assert_true(p.smtputf8);
	assert_int_equal(mail_params(" SMTPUTF8 BODY=7BIT SIZE=1", EXT_ALL, &p),
	    SMTP_R_NONE);
	assert_int_equal(p.size, 1);
	assert_int_equal(p.body, SMTP_BODY_7BIT);
	assert_true(p.smtputf8);
}

static void
test_duplicate(void **state)
{
	struct smtp_mail_params p;

	assert_int_equal(mail_params(" SIZE=1 SIZE=2", EXT_ALL, &p),
	    SMTP_R_PARAM_DUP);
	assert_int_equal(mail_params(" SIZE=1 size=1", EXT_ALL, &p),
	    SMTP_R_PARAM_DUP);
	assert_int_equal(mail_params(" BODY=7BIT BODY=8BITMIME", EXT_ALL, &p),
	    SMTP_R_PARAM_DUP);
	assert_int_equal(mail_params(" SMTPUTF8 SIZE=5 SMTPUTF8", EXT_ALL, &p),
	    SMTP_R_PARAM_DUP);
}

/* Malformed parameter lists are refused (501 or 555), never accepted. */
static void
test_syntax(void **state)
{
	static const char *bad[] = { "SIZE=10", "x", " =10", " -X", " SI_ZE=1",
		" SIZE=10\r\n", " SIZE=10\t", " \xc3\xa9=1", " SIZE=1\0" };
	struct smtp_mail_params p;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		size_t len = i == ARRAY_SIZE(bad) - 1 ? 8 : strlen(bad[i]);
		enum smtp_r r = mail_params_n(bad[i], len, EXT_ALL, &p);
		unsigned code = r == SMTP_R_NONE ? 0 : smtp_reply_get(r)->code;

		if (code != 501 && code != 555) {
			fail_msg("\"%s\": reply %d (%u)", bad[i], r, code);
		}
	}
}

static void
test_rcpt(void **state)
{
	assert_int_equal(rcpt_params("", EXT_ALL), SMTP_R_NONE);
	assert_int_equal(rcpt_params("", 0), SMTP_R_NONE);
	assert_int_equal(rcpt_params(" NOTIFY=NEVER", EXT_ALL), SMTP_R_NONE);
	assert_int_equal(rcpt_params(" ORCPT=rfc822;a@b.example", EXT_ALL),
	    SMTP_R_NONE);
	/* DSN not offered: its parameters are unknown (555) */
	assert_int_equal(rcpt_params(" NOTIFY=NEVER", EXT_ALL & ~SMTP_EXT_DSN),
	    SMTP_R_PARAM_UNKNOWN);
	assert_int_equal(rcpt_params(" ORCPT=rfc822;a@b.example",
	                     EXT_ALL & ~SMTP_EXT_DSN),
	    SMTP_R_PARAM_UNKNOWN);
	assert_int_equal(rcpt_params(" FOO", 0), SMTP_R_PARAM_UNKNOWN);
	/* SIZE, BODY and SMTPUTF8 are MAIL parameters only */
	assert_int_equal(rcpt_params(" SIZE=10", EXT_ALL),
	    SMTP_R_PARAM_UNKNOWN);
	assert_int_equal(rcpt_params(" BODY=8BITMIME", EXT_ALL),
	    SMTP_R_PARAM_UNKNOWN);
	assert_int_equal(rcpt_params(" SMTPUTF8", EXT_ALL),
	    SMTP_R_PARAM_UNKNOWN);
	assert_int_not_equal(rcpt_params("garbage", EXT_ALL), SMTP_R_NONE);
}

/* RFC 3461 4.3, 4.4: RET and ENVID */
static void
test_dsn_mail(void **state)
{
	struct smtp_mail_params p;
	char envid[120];

	assert_int_equal(mail_params(" RET=FULL", EXT_ALL, &p), SMTP_R_NONE);
	assert_int_equal(p.ret, SMTP_RET_FULL);
	assert_false(p.has_envid);
	assert_int_equal(mail_params(" ret=hdrs", EXT_ALL, &p), SMTP_R_NONE);
	assert_int_equal(p.ret, SMTP_RET_HDRS);
	assert_int_equal(mail_params(" RET=ALL", EXT_ALL, &p),
	    SMTP_R_DSN_RET_BAD);
	assert_int_equal(mail_params(" RET", EXT_ALL, &p), SMTP_R_DSN_RET_BAD);
	assert_int_equal(mail_params(" RET=FULL RET=HDRS", EXT_ALL, &p),
	    SMTP_R_PARAM_DUP);
	assert_int_equal(mail_params(" ENVID=QQ+2B1+3D2", EXT_ALL, &p),
	    SMTP_R_NONE);
	assert_true(p.has_envid);
	assert_string_equal(p.envid, "QQ+1=2");
	assert_int_equal(p.ret, SMTP_RET_NONE);
	assert_int_equal(mail_params(" ENVID=a ENVID=b", EXT_ALL, &p),
	    SMTP_R_PARAM_DUP);
	assert_int_equal(mail_params(" ENVID", EXT_ALL, &p),
	    SMTP_R_DSN_ENVID_BAD);
	/* "+" needs two upper-case hex digits */
	assert_int_equal(mail_params(" ENVID=a+2", EXT_ALL, &p),
	    SMTP_R_DSN_ENVID_BAD);
	assert_int_equal(mail_params(" ENVID=a+2b", EXT_ALL, &p),
	    SMTP_R_DSN_ENVID_BAD);
	assert_int_equal(mail_params(" ENVID=a+ZZ", EXT_ALL, &p),
	    SMTP_R_DSN_ENVID_BAD);
	/* decoded, it must be printable (RFC 3461 4.4) */
	assert_int_equal(mail_params(" ENVID=a+0Ab", EXT_ALL, &p),
	    SMTP_R_DSN_ENVID_BAD);
	assert_int_equal(mail_params(" ENVID=a+20b", EXT_ALL, &p),
	    SMTP_R_NONE);
	assert_string_equal(p.envid, "a b");
	memset(envid, 'x', sizeof(envid));
	memcpy(envid, " ENVID=", 7);
	envid[7 + 100] = '\0';
	assert_int_equal(mail_params(envid, EXT_ALL, &p), SMTP_R_NONE);
	assert_int_equal(strlen(p.envid), 100);
	envid[7 + 100] = 'x';
	envid[7 + 101] = '\0';
	assert_int_equal(mail_params(envid, EXT_ALL, &p), SMTP_R_DSN_TOO_LONG);
	assert_int_equal(mail_params(" RET=FULL", EXT_ALL & ~SMTP_EXT_DSN, &p),
	    SMTP_R_PARAM_UNKNOWN);
	assert_int_equal(mail_params(" SIZE=10 RET=HDRS ENVID=x BODY=7BIT",
	                     EXT_ALL, &p),
	    SMTP_R_NONE);
	assert_int_equal(p.ret, SMTP_RET_HDRS);
	assert_int_equal(p.size, 10);
}

/* RFC 3461 4.1, 4.2: NOTIFY and ORCPT */
static void
test_dsn_rcpt(void **state)
{
	struct smtp_rcpt_params p;
	char orcpt[560];

	assert_int_equal(rcpt_params_p(" NOTIFY=NEVER", EXT_ALL, &p),
	    SMTP_R_NONE);
	assert_int_equal(p.notify, SMTP_NOTIFY_NEVER);
	assert_int_equal(
	    rcpt_params_p(" NOTIFY=success,Delay,FAILURE", EXT_ALL, &p),
	    SMTP_R_NONE);
	assert_int_equal(p.notify,
	    SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY | SMTP_NOTIFY_FAILURE);
	assert_string_equal(p.orcpt, "");
	assert_int_equal(rcpt_params_p(" NOTIFY=NEVER,SUCCESS", EXT_ALL, &p),
	    SMTP_R_DSN_NOTIFY_BAD);
	assert_int_equal(rcpt_params_p(" NOTIFY=DELAY,NEVER", EXT_ALL, &p),
	    SMTP_R_DSN_NOTIFY_BAD);
	assert_int_equal(rcpt_params_p(" NOTIFY=SUCCESS,SUCCESS", EXT_ALL, &p),
	    SMTP_R_DSN_NOTIFY_BAD);
	assert_int_equal(rcpt_params_p(" NOTIFY=SUCCESS,", EXT_ALL, &p),
	    SMTP_R_DSN_NOTIFY_BAD);
	assert_int_equal(rcpt_params_p(" NOTIFY=,DELAY", EXT_ALL, &p),
	    SMTP_R_DSN_NOTIFY_BAD);
	assert_int_equal(rcpt_params_p(" NOTIFY=ALWAYS", EXT_ALL, &p),
	    SMTP_R_DSN_NOTIFY_BAD);
	assert_int_equal(rcpt_params_p(" NOTIFY", EXT_ALL, &p),
	    SMTP_R_DSN_NOTIFY_BAD);
	assert_int_equal(
	    rcpt_params_p(" NOTIFY=DELAY NOTIFY=DELAY", EXT_ALL, &p),
	    SMTP_R_PARAM_DUP);
	assert_int_equal(
	    rcpt_params_p(" ORCPT=rfc822;Bob+40example.org NOTIFY=FAILURE",
	        EXT_ALL, &p),
	    SMTP_R_NONE);
	assert_string_equal(p.orcpt, "rfc822;Bob@example.org");
	assert_int_equal(p.notify, SMTP_NOTIFY_FAILURE);
	assert_int_equal(rcpt_params_p(" ORCPT=rfc822", EXT_ALL, &p),
	    SMTP_R_DSN_ORCPT_BAD);
	assert_int_equal(rcpt_params_p(" ORCPT=;a@b", EXT_ALL, &p),
	    SMTP_R_DSN_ORCPT_BAD);
	assert_int_equal(rcpt_params_p(" ORCPT=rfc822;", EXT_ALL, &p),
	    SMTP_R_DSN_ORCPT_BAD);
	assert_int_equal(rcpt_params_p(" ORCPT=rfc822;a+4", EXT_ALL, &p),
	    SMTP_R_DSN_ORCPT_BAD);
	assert_int_equal(rcpt_params_p(" ORCPT=rfc822;a+00b", EXT_ALL, &p),
	    SMTP_R_DSN_ORCPT_BAD);
	assert_int_equal(rcpt_params_p(" ORCPT=rfc.822;a", EXT_ALL, &p),
	    SMTP_R_DSN_ORCPT_BAD);
	assert_int_equal(rcpt_params_p(" ORCPT=rfc822;a ORCPT=rfc822;b",
	                     EXT_ALL, &p),
	    SMTP_R_PARAM_DUP);
	memset(orcpt, 'x', sizeof(orcpt));
	memcpy(orcpt, " ORCPT=rfc822;", 14);
	orcpt[7 + 500] = '\0';
	assert_int_equal(rcpt_params_p(orcpt, EXT_ALL, &p), SMTP_R_NONE);
	assert_int_equal(strlen(p.orcpt), 500);
	orcpt[7 + 500] = 'x';
	orcpt[7 + 501] = '\0';
	assert_int_equal(rcpt_params_p(orcpt, EXT_ALL, &p),
	    SMTP_R_DSN_TOO_LONG);
}

/* RFC 3461 4: xtext both ways */
static void
test_xtext(void **state)
{
	char out[64], back[64];

	assert_int_equal(smtp_xtext_encode("a+b=c d\x7f", out, sizeof(out)),
	    0);
	assert_string_equal(out, "a+2Bb+3Dc+20d+7F");
	assert_int_equal(
	    smtp_xtext_decode(out, strlen(out), back, sizeof(back)), 0);
	assert_string_equal(back, "a+b=c d\x7f");
	assert_int_equal(smtp_xtext_encode("abc", out, 4), 0);
	assert_int_equal(smtp_xtext_encode("abcd", out, 4), -ENAMETOOLONG);
	assert_int_equal(smtp_xtext_encode("a+", out, 4), -ENAMETOOLONG);
	assert_int_equal(smtp_xtext_decode("abcd", 4, out, 4), -ENAMETOOLONG);
	assert_int_equal(smtp_xtext_decode("a=b", 3, out, sizeof(out)),
	    -EINVAL);
	assert_int_equal(smtp_xtext_decode("a b", 3, out, sizeof(out)),
	    -EINVAL);
	assert_int_equal(smtp_xtext_decode("+", 1, out, sizeof(out)),
	    -EINVAL);
	assert_int_equal(smtp_xtext_decode("", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

static unsigned
param_ext(const char *opts, size_t olen)
{
	unsigned ext = 0;

	ext |= tu_opt(opts, olen, "size") ? SMTP_EXT_SIZE : 0;
	ext |= tu_opt(opts, olen, "8bitmime") ? SMTP_EXT_8BITMIME : 0;
	ext |= tu_opt(opts, olen, "smtputf8") ? SMTP_EXT_SMTPUTF8 : 0;
	ext |= tu_opt(opts, olen, "dsn") ? SMTP_EXT_DSN : 0;
	ext |= tu_opt(opts, olen, "binarymime") ? SMTP_EXT_BINARYMIME : 0;
	return ext;
}

static void
param_render(const char *in, size_t len, struct tu_out *o)
{
	static const char *bodies[] = { "NONE", "7BIT", "8BITMIME",
		"BINARYMIME" };
	struct smtp_mail_params p;
	const char *opts;
	const char *text;
	size_t olen;
	size_t tlen;
	enum smtp_r r;

	if (!tu_split_opts(in, len, &opts, &olen, &text, &tlen)) {
		fail_msg("golden .in without an options line");
	}
	if (tu_opt(opts, olen, "rcpt")) {
		struct smtp_rcpt_params rp;
		char *t = tu_dup(text, tlen);

		r = smtp_rcpt_params_parse(t, tlen, param_ext(opts, olen), &rp);
		free(t);
		if (r == SMTP_R_NONE && (rp.notify != 0 || rp.orcpt[0] != '\0')) {
			tu_outf(o, "ok notify=0x%x orcpt=%s\n", rp.notify,
			    rp.orcpt);
		} else if (r == SMTP_R_NONE) {
			tu_outf(o, "ok\n");
		} else {
			tu_out_reply(o, r);
		}
		return;
	}
	r = mail_params_n(text, tlen, param_ext(opts, olen), &p);
	if (r != SMTP_R_NONE) {
		tu_out_reply(o, r);
		return;
	}
	tu_outf(o, "size=%llu has_size=%d body=%s smtputf8=%d",
	    (unsigned long long)p.size, p.has_size,
	    (unsigned)p.body < 4 ? bodies[p.body] : "?", p.smtputf8);
	if (p.ret != SMTP_RET_NONE || p.has_envid) {
		tu_outf(o, " ret=%u envid=%s", p.ret,
		    p.has_envid ? p.envid : "-");
	}
	tu_outf(o, "\n");
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_size_overflow),
		cmocka_unit_test(test_size_bad),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_body_binarymime),
		cmocka_unit_test(test_smtputf8),
		cmocka_unit_test(test_not_offered),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_combined),
		cmocka_unit_test(test_duplicate),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_rcpt),
		cmocka_unit_test(test_dsn_mail),
		cmocka_unit_test(test_dsn_rcpt),
		cmocka_unit_test(test_xtext),
	};

	return tu_run("smtp_param", tests, ARRAY_SIZE(tests), "smtp_param",
	    param_render);
}
