/*
 * test_smtp_path.c — reverse- and forward-paths (src/smtp/smtp_path.c),
 * RFC 5321 4.1.2 (Path, Mailbox, Local-part, Domain, address literals),
 * 4.1.3 (IPv4/IPv6 literals), 4.1.1.3 and appendix C (source routes,
 * accepted and dropped), 4.5.3.1 (64/255/256 octet limits), RFC 6531
 * (UTF-8 only with SMTPUTF8, and then valid UTF-8 only), and EHLO domain
 * validation (smtp_domain_valid).
 *
 * Golden cases: golden/smtp_path/NAME.in hold an options line (mail|rcpt,
 * null, utf8, postmaster; or "domain [utf8]") and the text on the second.
 */
#include <stdlib.h>

#include "tu.h"

#include "smtp/smtp.h"

#define MAIL_FLAGS SMTP_PATH_NULL

static enum smtp_r
path_parse_n(const char *s, size_t len, unsigned flags, bool is_mail,
    struct smtp_path *path, size_t *used)
{
	char *p = tu_dup(s, len);
	enum smtp_r r;

	memset(path, 0x5a, sizeof(*path));
	*used = (size_t)-1;
	r = smtp_path_parse(p, len, flags, is_mail, path, used);
	free(p);
	assert_true(r >= SMTP_R_NONE && r < SMTP_R_COUNT);
	if (r == SMTP_R_NONE) {
		size_t alen = strnlen(path->addr, sizeof(path->addr));

		assert_true(*used <= len);
		assert_true(alen < sizeof(path->addr));
		assert_true(path->domain_off <= alen);
		if (path->is_null) {
			assert_string_equal(path->addr, "");
		}
		if (!(flags & SMTP_PATH_UTF8)) {
			size_t i;

			assert_false(path->has_utf8);
			for (i = 0; i < alen; i++) {
				assert_true(
				    (unsigned char)path->addr[i] < 0x80);
			}
		}
	}
	return r;
}

static enum smtp_r
path_parse(const char *s, unsigned flags, bool is_mail, struct smtp_path *path)
{
	size_t used;
	enum smtp_r r = path_parse_n(s, strlen(s), flags, is_mail, path, &used);

	if (r == SMTP_R_NONE) {
		assert_int_equal(used, strlen(s));
	}
	return r;
}

/* Accepted as a sender and as a recipient, giving `addr`. */
static void
assert_path(const char *s, const char *addr, size_t local_len)
{
	struct smtp_path p;

	assert_int_equal(path_parse(s, MAIL_FLAGS, true, &p), SMTP_R_NONE);
	assert_string_equal(p.addr, addr);
	assert_false(p.is_null);
	assert_int_equal(p.local_len, local_len);
	assert_int_equal(p.domain_off, local_len + 1);
	assert_int_equal(p.addr[local_len], '@');
	assert_int_equal(path_parse(s, 0, false, &p), SMTP_R_NONE);
	assert_string_equal(p.addr, addr);
}

/* Refused as a sender (5.1.7 family) and as a recipient (5.1.3 family). */
static void
assert_bad_path_flags(const char *s, size_t len, unsigned flags)
{
	struct smtp_path p;
	size_t used;
	enum smtp_r r;

	r = path_parse_n(s, len, flags | MAIL_FLAGS, true, &p, &used);
	if (r == SMTP_R_NONE) {
		fail_msg("sender accepted: \"%s\" -> \"%s\"", s, p.addr);
	}
	assert_true(
	    smtp_reply_get(r)->code == 501 || smtp_reply_get(r)->code == 553);
	r = path_parse_n(s, len, flags, false, &p, &used);
	if (r == SMTP_R_NONE) {
		fail_msg("recipient accepted: \"%s\" -> \"%s\"", s, p.addr);
	}
	assert_true(
	    smtp_reply_get(r)->code == 501 || smtp_reply_get(r)->code == 553);
}

static void
assert_bad_path(const char *s)
{
	assert_bad_path_flags(s, strlen(s), 0);
}

static void
test_simple(void **state)
{
	struct smtp_path p;
	size_t used;

	assert_path("<alice@example.com>", "alice@example.com", 5);
	assert_path("<a@b>", "a@b", 1);
	assert_path("<first.last@sub.example.org>",
	    "first.last@sub.example.org", 10);
	assert_path("<user+tag@example.com>", "user+tag@example.com", 8);
	assert_path("<a!#$%&'*+-/=?^_`{|}~@example.com>",
	    "a!#$%&'*+-/=?^_`{|}~@example.com", 20);
	assert_path("<x@mail-1.example-2.com>", "x@mail-1.example-2.com", 1);
	assert_path("<x@123.example>", "x@123.example", 1);
	assert_int_equal(path_parse("<alice@example.com>", MAIL_FLAGS, true,
	                     &p),
	    SMTP_R_NONE);
	assert_false(p.has_utf8);
	assert_false(p.domain_literal);
	assert_false(p.is_null);
	/* the text after the path is left for the parameters */
	assert_int_equal(path_parse_n("<a@b.example> SIZE=10", 21, MAIL_FLAGS,
	                     true, &p, &used),
	    SMTP_R_NONE);
	assert_int_equal(used, 13);
	assert_string_equal(p.addr, "a@b.example");
}

/* RFC 5321 2.4: the local part is case-sensitive: kept as written. */
static void
test_case_kept(void **state)
{
	struct smtp_path p;

	assert_int_equal(path_parse("<Alice.Smith@Example.COM>", 0, false, &p),
	    SMTP_R_NONE);
	assert_memory_equal(p.addr, "Alice.Smith@", 12);
	assert_true(strcasecmp(p.addr + p.domain_off, "example.com") == 0);
}

static void
test_null(void **state)
{
	struct smtp_path p;
	size_t used;

	assert_int_equal(path_parse("<>", SMTP_PATH_NULL, true, &p),
	    SMTP_R_NONE);
	assert_true(p.is_null);
	assert_string_equal(p.addr, "");
	assert_int_equal(path_parse_n("<> BODY=7BIT", 12, SMTP_PATH_NULL, true,
	                     &p, &used),
	    SMTP_R_NONE);
	assert_int_equal(used, 2);
	assert_true(p.is_null);
	/* no null forward-path */
	assert_int_equal(path_parse("<>", 0, false, &p), SMTP_R_BAD_RCPT);
	assert_int_not_equal(path_parse("<>", 0, true, &p), SMTP_R_NONE);
}

/* RFC 5321 4.1.1.3: RCPT TO:<Postmaster> without a domain. */
static void
test_postmaster(void **state)
{
	struct smtp_path p;

	assert_int_equal(path_parse("<Postmaster>", SMTP_PATH_POSTMASTER, false,
	                     &p),
	    SMTP_R_NONE);
	assert_false(p.is_null);
	assert_int_equal(strncasecmp(p.addr, "postmaster", 10), 0);
	assert_int_equal(path_parse("<postmaster>", SMTP_PATH_POSTMASTER, false,
	                     &p),
	    SMTP_R_NONE);
	assert_int_equal(path_parse("<POSTMASTER>", SMTP_PATH_POSTMASTER, false,
	                     &p),
	    SMTP_R_NONE);
	assert_int_not_equal(path_parse("<Postmaster>", 0, false, &p),
	    SMTP_R_NONE);
	assert_int_not_equal(path_parse("<postmasterx>", SMTP_PATH_POSTMASTER,
	                         false, &p),
	    SMTP_R_NONE);
	assert_int_not_equal(path_parse("<abuse>", SMTP_PATH_POSTMASTER, false,
	                         &p),
	    SMTP_R_NONE);
	assert_path("<postmaster@example.com>", "postmaster@example.com", 10);
}

/* RFC 5321 4.1.1.3, appendix C: source routes are accepted and dropped. */
static void
test_source_route(void **state)
{
	assert_path("<@relay.example:bob@example.org>", "bob@example.org", 3);
	assert_path("<@r1.example,@r2.example:bob@example.org>",
	    "bob@example.org", 3);
	assert_bad_path("<@:bob@example.org>");
	assert_bad_path("<@r1.example,bob@example.org>");
	assert_bad_path("<@r1.example:>");
	assert_bad_path("<@r1.example,:bob@example.org>");
	assert_bad_path("<@r1..example:bob@example.org>");
	assert_bad_path("<r1.example:bob@example.org>");
}

static void
test_quoted(void **state)
{
	struct smtp_path p;

	assert_path("<\"john doe\"@example.com>", "\"john doe\"@example.com",
	    10);
	assert_path("<\"a\\\"b\"@example.com>", "\"a\\\"b\"@example.com", 6);
	assert_path("<\"a@b\"@example.com>", "\"a@b\"@example.com", 5);
	assert_int_equal(path_parse("<\"x y\"@example.com>", 0, false, &p),
	    SMTP_R_NONE);
	/* RFC 5321 4.1.2: qtextSMTP and quoted-pairSMTP have no controls */
	assert_bad_path("<\"a\x01"
	                "b\"@example.com>");
	assert_bad_path("<\"a\\\x01"
	                "b\"@example.com>");
	assert_bad_path("<\"a\tb\"@example.com>");
	assert_bad_path("<\"ab@example.com>");
	assert_bad_path("<\"ab\"c@example.com>");
	assert_bad_path("<\"ab\\\"@example.com>");
}

static void
test_bad_local(void **state)
{
	assert_bad_path("<.a@example.com>");
	assert_bad_path("<a.@example.com>");
	assert_bad_path("<a..b@example.com>");
	assert_bad_path("<@example.com>");
	assert_bad_path("<a b@example.com>");
	assert_bad_path("<a(b)@example.com>");
	assert_bad_path("<a,b@example.com>");
	assert_bad_path("<a;b@example.com>");
	assert_bad_path("<a:b@example.com>");
	assert_bad_path("<a[b@example.com>");
	assert_bad_path("<a\\b@example.com>");
	assert_bad_path("<a<b@example.com>");
	assert_bad_path("<a\"b@example.com>");
	assert_bad_path("<a\x01"
	                "b@example.com>");
	assert_bad_path("<a\x7f"
	                "b@example.com>");
	assert_bad_path("<a@b@example.com>");
	assert_bad_path_flags("<a\0b@example.com>", 17, 0);
}

static void
test_bad_domain(void **state)
{
	assert_bad_path("<a@>");
	assert_bad_path("<a@-example.com>");
	assert_bad_path("<a@example-.com>");
	assert_bad_path("<a@example..com>");
	assert_bad_path("<a@.example.com>");
	assert_bad_path("<a@example.com.>");
	assert_bad_path("<a@exa mple.com>");
	assert_bad_path("<a@example.com >");
	assert_bad_path("<a@exa(mple.com>");
	assert_bad_path("<a@example.com\x01>");
}

static void
test_bad_syntax(void **state)
{
	assert_bad_path("");
	assert_bad_path("<");
	assert_bad_path(">");
	assert_bad_path("<a@example.com");
	assert_bad_path("a@example.com>");
	assert_bad_path("a@example.com");
	assert_bad_path("<abc>");
	assert_bad_path("< a@example.com>");
	assert_bad_path("<<a@example.com>>");
	assert_bad_path("<a@example.com\r\n>");
	assert_bad_path("<\n>");
}

/* RFC 5321 4.1.3 */
static void
test_address_literal(void **state)
{
	struct smtp_path p;

	assert_path("<a@[192.0.2.1]>", "a@[192.0.2.1]", 1);
	assert_int_equal(path_parse("<a@[192.0.2.1]>", 0, false, &p),
	    SMTP_R_NONE);
	assert_true(p.domain_literal);
	assert_path("<a@[IPv6:2001:db8::1]>", "a@[IPv6:2001:db8::1]", 1);
	assert_path("<a@[IPv6:::1]>", "a@[IPv6:::1]", 1);
	assert_path("<a@[IPv6:2001:db8:0:0:0:0:0:1]>",
	    "a@[IPv6:2001:db8:0:0:0:0:0:1]", 1);
	assert_path("<a@[IPv6:::ffff:192.0.2.1]>", "a@[IPv6:::ffff:192.0.2.1]",
	    1);
	assert_path("<a@[0.0.0.0]>", "a@[0.0.0.0]", 1);
	assert_path("<a@[255.255.255.255]>", "a@[255.255.255.255]", 1);
	assert_int_equal(path_parse("<a@example.com>", 0, false, &p),
	    SMTP_R_NONE);
	assert_false(p.domain_literal);
	assert_bad_path("<a@[192.0.2.256]>");
	assert_bad_path("<a@[192.0.2]>");
	assert_bad_path("<a@[192.0.2.1.5]>");
	assert_bad_path("<a@[192.0.2.]>");
	assert_bad_path("<a@[1920.0.2.1]>");
	assert_bad_path("<a@[]>");
	assert_bad_path("<a@[192.0.2.1>");
	assert_bad_path("<a@192.0.2.1]>");
	assert_bad_path("<a@[IPv6:]>");
	assert_bad_path("<a@[IPv6:2001:db8::g]>");
	assert_bad_path("<a@[IPv6:12345::1]>");
	assert_bad_path("<a@[IPv6:1::2::3]>");
	assert_bad_path("<a@[IPv6:1:2:3:4:5:6:7:8:9]>");
	assert_bad_path("<a@[IPv6:1:2:3:4:5:6:7]>");
	assert_bad_path("<a@[IPv6:2001:db8:::1]>");
	assert_bad_path("<a@[192.0.2.1]x>");
	assert_bad_path("<a@[192.0.2.1].example>");
	/* a NUL is not the end of the literal (found by fuzz_cmd) */
	assert_bad_path_flags("<a@[192.0.2.2\0]>", 17, 0);
	assert_bad_path_flags("<a@[192.0.2.2\0"
	                      "2]>",
	    18, 0);
	assert_bad_path_flags("<a@[IPv6:::1\0]>", 16, 0);
}

static void
fill(char *p, size_t n, char c)
{
	memset(p, c, n);
}

/* RFC 5321 4.5.3.1.1: local part at most 64 octets. */
static void
test_local_length(void **state)
{
	char s[128];
	struct smtp_path p;

	s[0] = '<';
	fill(s + 1, 64, 'l');
	memcpy(s + 65, "@example.com>", 14);
	assert_int_equal(path_parse(s, MAIL_FLAGS, true, &p), SMTP_R_NONE);
	assert_int_equal(p.local_len, 64);
	fill(s + 1, 65, 'l');
	memcpy(s + 66, "@example.com>", 14);
	assert_int_equal(path_parse(s, MAIL_FLAGS, true, &p),
	    SMTP_R_LOCAL_TOO_LONG_MAIL);
	assert_int_equal(path_parse(s, 0, false, &p),
	    SMTP_R_LOCAL_TOO_LONG_RCPT);
}

/* A valid domain of n octets (n >= 3): labels of 62 octets or fewer. */
static void
make_domain(char *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		d[i] = (i + 1) % 63 == 0 ? '.' : 'd';
	}
	if (d[n - 1] == '.') {
		d[n - 2] = '.';
		d[n - 1] = 'd';
	}
	d[n] = '\0';
}

/* RFC 5321 4.5.3.1.3: path at most 256 octets with the brackets. */
static void
test_path_length(void **state)
{
	char s[400];
	struct smtp_path p;

	/* <64 @ 189> = 256 */
	s[0] = '<';
	fill(s + 1, 64, 'l');
	s[65] = '@';
	make_domain(s + 66, 189);
	strcat(s, ">");
	assert_int_equal(strlen(s), 256);
	assert_int_equal(path_parse(s, MAIL_FLAGS, true, &p), SMTP_R_NONE);
	assert_int_equal(strlen(p.addr), 254);
	/* 257 */
	make_domain(s + 66, 190);
	strcat(s, ">");
	assert_int_equal(strlen(s), 257);
	assert_int_equal(path_parse(s, MAIL_FLAGS, true, &p),
	    SMTP_R_PATH_TOO_LONG_MAIL);
	assert_int_equal(path_parse(s, 0, false, &p),
	    SMTP_R_PATH_TOO_LONG_RCPT);
	/* far longer: still refused, nothing overflows */
	fill(s + 1, 20, 'l');
	s[21] = '@';
	make_domain(s + 22, 370);
	strcat(s, ">");
	assert_int_equal(path_parse(s, MAIL_FLAGS, true, &p),
	    SMTP_R_PATH_TOO_LONG_MAIL);
}

/* RFC 1035 2.3.4: labels of at most 63 octets. */
static void
test_label_length(void **state)
{
	char s[128];
	struct smtp_path p;

	memcpy(s, "<a@", 3);
	fill(s + 3, 63, 'x');
	memcpy(s + 66, ".example>", 10);
	assert_int_equal(path_parse(s, 0, false, &p), SMTP_R_NONE);
	fill(s + 3, 64, 'x');
	memcpy(s + 67, ".example>", 10);
	assert_int_not_equal(path_parse(s, 0, false, &p), SMTP_R_NONE);
}

/* RFC 6531 3.3: UTF-8 in addresses only with SMTPUTF8. */
static void
test_utf8(void **state)
{
	struct smtp_path p;

	assert_int_equal(path_parse("<j\xc3\xb6ran@example.com>", MAIL_FLAGS,
	                     true, &p),
	    SMTP_R_NON_ASCII);
	assert_int_equal(path_parse("<a@b\xc3\xbc"
	                            "cher.example>",
	                     0, false, &p),
	    SMTP_R_NON_ASCII);
	assert_int_equal(path_parse("<j\xc3\xb6ran@example.com>",
	                     MAIL_FLAGS | SMTP_PATH_UTF8, true, &p),
	    SMTP_R_NONE);
	assert_true(p.has_utf8);
	assert_string_equal(p.addr, "j\xc3\xb6ran@example.com");
	assert_int_equal(p.local_len, 6);
	assert_int_equal(path_parse("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b"
	                            "\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a>",
	                     SMTP_PATH_UTF8, false, &p),
	    SMTP_R_NONE);
	assert_true(p.has_utf8);
	/* ASCII under SMTPUTF8 is not flagged */
	assert_int_equal(path_parse("<a@example.com>", SMTP_PATH_UTF8, false,
	                     &p),
	    SMTP_R_NONE);
	assert_false(p.has_utf8);
}

/* RFC 6531 3.3 / RFC 3629: only well-formed UTF-8 is allowed. */
static void
test_utf8_invalid(void **state)
{
	static const char *bad[] = {
		"<\xff@example.com>", /* never in UTF-8 */
		"<a\x80"
		"b@example.com>", /* lone continuation */
		"<\xc3@example.com>", /* truncated */
		"<\xc0\x80@example.com>", /* overlong NUL */
		"<\xc1\xbf@example.com>", /* overlong */
		"<\xe0\x80\xaf@example.com>", /* overlong '/' */
		"<\xed\xa0\x80@example.com>", /* surrogate */
		"<\xf4\x90\x80\x80@example.com>", /* above U+10FFFF */
		"<\xf8\x88\x80\x80\x80@example.com>", /* 5-byte form */
		"<a@exa\xffmple.com>",
		"<a@ex\xc3"
		"ample.com>",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_bad_path_flags(bad[i], strlen(bad[i]), SMTP_PATH_UTF8);
	}
}

/* What was accepted parses again, alone and in brackets, to itself. */
static void
test_reparse(void **state)
{
	static const char *ok[] = { "<a@b.example>", "<\"q x\"@b.example>",
		"<@r.example:u@b.example>", "<u@[192.0.2.7]>",
		"<u@[IPv6:2001:db8::7]>", "<x.y.z@a-b.c-d.example>" };
	struct smtp_path p;
	struct smtp_path q;
	char s[SMTP_PATH_MAX + 8];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		assert_int_equal(path_parse(ok[i], 0, false, &p), SMTP_R_NONE);
		snprintf(s, sizeof(s), "<%s>", p.addr);
		assert_int_equal(path_parse(s, 0, false, &q), SMTP_R_NONE);
		assert_string_equal(p.addr, q.addr);
		assert_int_equal(p.local_len, q.local_len);
		assert_int_equal(p.domain_off, q.domain_off);
		assert_int_equal(p.domain_literal, q.domain_literal);
		assert_true(smtp_domain_valid(p.addr + p.domain_off,
		    strlen(p.addr + p.domain_off), false));
	}
}

static bool
dom_valid(const char *s, bool utf8)
{
	char *p = tu_dup(s, strlen(s));
	bool v = smtp_domain_valid(p, strlen(s), utf8);

	free(p);
	return v;
}

static void
test_domain_valid(void **state)
{
	static const char *good[] = { "example.com", "localhost", "a",
		"mail-1.example.com", "123.example", "xn--bcher-kva.example",
		"A.B.C.D.E.F", "[192.0.2.1]", "[0.0.0.0]", "[IPv6:2001:db8::1]",
		"[IPv6:::1]", "[IPv6:::]", "[IPv6:2001:db8:0:0:0:0:0:1]",
		"[IPv6:fe80::1:2:3:4]", "[IPv6:::ffff:192.0.2.1]",
		"[IPv6:2001:db8::192.0.2.1]" };
	static const char *bad[] = { "", ".", "..", "a..b", ".a", "a.", "-a",
		"a-", "a-.b", "a.-b", "a b", "a@b", "a,b", "[192.0.2.1",
		"192.0.2.1]", "[192.0.2.256]", "[1.2.3]", "[1.2.3.4.5]",
		"[1.2.3.4].x", "[]", "[IPv6:]", "[IPv6:1:2:3:4:5:6:7:8:9]",
		"[IPv6:1::2::3]", "[IPv6:12345::]", "[IPv6:::g]",
		"[IPv6:1:2:3:4:5:6:7]", "[ 192.0.2.1]", "exa\tmple.com",
		"example.com\r\n" };
	char d[300];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		if (!dom_valid(good[i], false)) {
			fail_msg("domain refused: \"%s\"", good[i]);
		}
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		if (dom_valid(bad[i], false) || dom_valid(bad[i], true)) {
			fail_msg("domain accepted: \"%s\"", bad[i]);
		}
	}
	assert_false(smtp_domain_valid("exa\0mple.com", 12, false));
	/* RFC 1035: labels of 63, names of 255 at most */
	fill(d, 63, 'x');
	memcpy(d + 63, ".example", 9);
	assert_true(dom_valid(d, false));
	fill(d, 64, 'x');
	memcpy(d + 64, ".example", 9);
	assert_false(dom_valid(d, false));
	make_domain(d, 255);
	assert_true(dom_valid(d, false));
	make_domain(d, 256);
	assert_false(dom_valid(d, false));
	make_domain(d, 299);
	assert_false(dom_valid(d, false));
	/* U-labels only under SMTPUTF8 */
	assert_false(dom_valid("b\xc3\xbc"
	                       "cher.example",
	    false));
	assert_true(dom_valid("b\xc3\xbc"
	                      "cher.example",
	    true));
	assert_false(dom_valid("b\xff"
	                       "cher.example",
	    true));
}

/*
 * RFC 5321 4.1.2: sub-domain = Let-dig [Ldh-str]: letters, digits and
 * hyphens only; an underscore is not a host name character (RFC 952,
 * RFC 1123 2.1). Addresses keep to that. EHLO names are let through on
 * purpose (smtp_path.c: Windows hosts send NetBIOS names with "_").
 */
static void
test_domain_underscore(void **state)
{
	struct smtp_path p;

	assert_int_not_equal(path_parse("<u@a_b.example>", 0, false, &p),
	    SMTP_R_NONE);
	assert_int_not_equal(path_parse("<u@a_b.example>", MAIL_FLAGS, true,
	                         &p),
	    SMTP_R_NONE);
	assert_true(dom_valid("win_host.example", false));
}

static void
path_render(const char *in, size_t len, struct tu_out *o)
{
	const char *opts;
	const char *text;
	size_t olen;
	size_t tlen;
	unsigned flags = 0;
	struct smtp_path p;
	size_t used;
	enum smtp_r r;

	if (!tu_split_opts(in, len, &opts, &olen, &text, &tlen)) {
		fail_msg("golden .in without an options line");
	}
	if (tu_opt(opts, olen, "domain")) {
		char *t = tu_dup(text, tlen);

		tu_outf(o, "valid=%d\n",
		    smtp_domain_valid(t, tlen, tu_opt(opts, olen, "utf8")));
		free(t);
		return;
	}
	flags |= tu_opt(opts, olen, "null") ? SMTP_PATH_NULL : 0;
	flags |= tu_opt(opts, olen, "utf8") ? SMTP_PATH_UTF8 : 0;
	flags |= tu_opt(opts, olen, "postmaster") ? SMTP_PATH_POSTMASTER : 0;
	r = path_parse_n(text, tlen, flags, tu_opt(opts, olen, "mail"), &p,
	    &used);
	if (r != SMTP_R_NONE) {
		tu_out_reply(o, r);
		return;
	}
	tu_outf(o, "addr=");
	tu_out_esc(o, p.addr, strlen(p.addr));
	tu_outf(o, " local_len=%u domain=", p.local_len);
	tu_out_esc(o, p.addr + p.domain_off, strlen(p.addr + p.domain_off));
	tu_outf(o, " null=%d utf8=%d literal=%d used=%zu\n", p.is_null,
	    p.has_utf8, p.domain_literal, used);
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_case_kept),
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_postmaster),
		cmocka_unit_test(test_source_route),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_bad_local),
		cmocka_unit_test(test_bad_domain),
		cmocka_unit_test(test_bad_syntax),
		cmocka_unit_test(test_address_literal),
		cmocka_unit_test(test_local_length),
		cmocka_unit_test(test_path_length),
		cmocka_unit_test(test_label_length),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_utf8_invalid),
		cmocka_unit_test(test_reparse),
		cmocka_unit_test(test_domain_valid),
		cmocka_unit_test(test_domain_underscore),
	};

	return tu_run("smtp_path", tests, ARRAY_SIZE(tests), "smtp_path",
	    path_render);
}
