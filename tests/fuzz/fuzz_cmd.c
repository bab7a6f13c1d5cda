/*
 * fuzz_cmd.c — the command line path of the server: the input is cut into
 * lines at LF as smtpd reads them (and is also tried whole); each goes
 * through smtp_cmd_parse, then MAIL/RCPT arguments through
 * smtp_path_parse and the parameter parsers, and HELO/EHLO arguments
 * through smtp_domain_valid, as smtpd_cmd.c does. The raw input is also
 * given to the path parser directly.
 *
 * Properties (abort on violation): replies are table entries; an accepted
 * line is a whole CRLF line of at most 512 octets with no NUL, bare CR or
 * LF; an accepted path is NUL-terminated, within its limits, ASCII unless
 * SMTPUTF8 allowed it and then well-formed UTF-8, parses again to itself,
 * and allowing UTF-8 only widens what is accepted; offering extensions
 * only widens the parameters accepted, and never sets one not offered.
 * Every argument is handed over in a buffer of its exact size.
 */
#include <string.h>

#include "fuzz.h"

#include "smtp/smtp.h"

#define FUZZ_EXT_ALL \
	(SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8 | SMTP_EXT_DSN)

static void
fuzz_reply_ok(enum smtp_r r)
{
	FUZZ_CHECK((unsigned)r < SMTP_R_COUNT);
	if (r != SMTP_R_NONE) {
		/* panics on an id without a table entry */
		FUZZ_CHECK(smtp_reply_get(r)->code >= 400);
	}
}

static char *
fuzz_dup(const char *s, size_t len)
{
	char *p = malloc(len == 0 ? 1 : len);

	FUZZ_CHECK(p != NULL);
	if (len > 0) {
		memcpy(p, s, len);
	}
	return p;
}

/* RFC 3629: well-formed UTF-8, no overlongs, surrogates or > U+10FFFF. */
static bool
fuzz_utf8_ok(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		unsigned n;
		unsigned cp;
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (k = 1; k <= n; k++) {
			if (i + k >= len || (s[i + k] & 0xc0) != 0x80) {
				return false;
			}
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			return false;
		}
		i += n + 1;
	}
	return true;
}

static void
fuzz_path_props(const struct smtp_path *p, size_t used, size_t len,
    unsigned flags)
{
	size_t alen = strnlen(p->addr, sizeof(p->addr));
	size_t i;

	FUZZ_CHECK(used <= len);
	FUZZ_CHECK(used >= 2);
	FUZZ_CHECK(alen < sizeof(p->addr));
	FUZZ_CHECK(p->domain_off <= alen);
	FUZZ_CHECK(p->local_len <= alen);
	FUZZ_CHECK(!p->is_null || (alen == 0 && (flags & SMTP_PATH_NULL)));
	if (p->has_utf8) {
		FUZZ_CHECK(flags & SMTP_PATH_UTF8);
	}
	for (i = 0; i < alen; i++) {
		unsigned char c = (unsigned char)p->addr[i];

		/* no controls, spaces only inside a quoted local part */
		FUZZ_CHECK(c > 0x20 || (c == ' ' && i < p->local_len));
		FUZZ_CHECK(c != 0x7f);
		FUZZ_CHECK(c < 0x80 || p->has_utf8);
	}
	FUZZ_CHECK(fuzz_utf8_ok((const unsigned char *)p->addr, alen));
	if (!p->is_null && p->domain_off > 0 && p->domain_off < alen) {
		/* local@domain: the domain stands alone as a valid one */
		FUZZ_CHECK(p->local_len >= 1 && p->local_len <= SMTP_LOCAL_MAX);
		FUZZ_CHECK(p->addr[p->domain_off - 1] == '@');
		FUZZ_CHECK(smtp_domain_valid(p->addr + p->domain_off,
		    alen - p->domain_off, true));
	}
}

/* Parse "<addr>" again: the same address must come back. */
static void
fuzz_path_reparse(const struct smtp_path *p, unsigned flags, bool is_mail)
{
	char s[SMTP_PATH_MAX + 2];
	struct smtp_path q;
	size_t alen = strlen(p->addr);
	size_t used;
	char *c;
	enum smtp_r r;

	s[0] = '<';
	memcpy(s + 1, p->addr, alen);
	s[alen + 1] = '>';
	c = fuzz_dup(s, alen + 2);
	r = smtp_path_parse(c, alen + 2, flags, is_mail, &q, &used);
	free(c);
	FUZZ_CHECK(r == SMTP_R_NONE);
	FUZZ_CHECK(used == alen + 2);
	FUZZ_CHECK(strcmp(p->addr, q.addr) == 0);
	FUZZ_CHECK(p->is_null == q.is_null);
	/* a dropped source route may have held the UTF-8 */
	FUZZ_CHECK(!q.has_utf8 || p->has_utf8);
	FUZZ_CHECK(p->domain_off == q.domain_off);
	FUZZ_CHECK(p->domain_literal == q.domain_literal);
}

static void
fuzz_mail_params(const char *s, size_t len)
{
	struct smtp_mail_params all;
	struct smtp_mail_params none;
	char *c = fuzz_dup(s, len);
	enum smtp_r ra = smtp_mail_params_parse(c, len, FUZZ_EXT_ALL, &all);
	enum smtp_r rn = smtp_mail_params_parse(c, len, 0, &none);

	free(c);
	fuzz_reply_ok(ra);
	fuzz_reply_ok(rn);
	if (rn == SMTP_R_NONE) {
		FUZZ_CHECK(!none.has_size && none.size == 0);
		FUZZ_CHECK(none.body == SMTP_BODY_NONE && !none.smtputf8);
		FUZZ_CHECK(ra == SMTP_R_NONE);
	}
	if (ra == SMTP_R_NONE) {
		FUZZ_CHECK(all.has_size || all.size == 0);
		FUZZ_CHECK(all.body == SMTP_BODY_NONE ||
		    all.body == SMTP_BODY_7BIT ||
		    all.body == SMTP_BODY_8BITMIME);
	}
}

static void
fuzz_rcpt_params(const char *s, size_t len)
{
	struct smtp_rcpt_params p;
	char *c = fuzz_dup(s, len);
	enum smtp_r ra = smtp_rcpt_params_parse(c, len, FUZZ_EXT_ALL, &p);
	enum smtp_r rn;

	/* DSN: what was taken is within its limits, NEVER stands alone */
	FUZZ_CHECK(ra != SMTP_R_NONE ||
	    (strlen(p.orcpt) <= SMTP_ORCPT_MAX &&
	        ((p.notify & SMTP_NOTIFY_NEVER) == 0 ||
	            p.notify == SMTP_NOTIFY_NEVER)));
	rn = smtp_rcpt_params_parse(c, len, 0, &p);

	free(c);
	fuzz_reply_ok(ra);
	fuzz_reply_ok(rn);
	FUZZ_CHECK(rn != SMTP_R_NONE || ra == SMTP_R_NONE);
}

/* A path with the flags smtpd uses, then what follows it as parameters. */
static void
fuzz_path(const char *s, size_t len, bool is_mail)
{
	unsigned base = is_mail ? SMTP_PATH_NULL : SMTP_PATH_POSTMASTER;
	struct smtp_path pa;
	struct smtp_path pu;
	size_t ua = 0;
	size_t uu = 0;
	char *c = fuzz_dup(s, len);
	enum smtp_r ra = smtp_path_parse(c, len, base, is_mail, &pa, &ua);
	enum smtp_r ru = smtp_path_parse(c, len, base | SMTP_PATH_UTF8, is_mail,
	    &pu, &uu);

	free(c);
	fuzz_reply_ok(ra);
	fuzz_reply_ok(ru);
	if (ra == SMTP_R_NONE) {
		fuzz_path_props(&pa, ua, len, base);
		FUZZ_CHECK(!pa.has_utf8);
		fuzz_path_reparse(&pa, base, is_mail);
		/* allowing UTF-8 takes nothing away */
		FUZZ_CHECK(ru == SMTP_R_NONE);
		FUZZ_CHECK(uu == ua && strcmp(pa.addr, pu.addr) == 0);
	}
	if (ru == SMTP_R_NONE) {
		fuzz_path_props(&pu, uu, len, base | SMTP_PATH_UTF8);
		fuzz_path_reparse(&pu, base | SMTP_PATH_UTF8, is_mail);
		if (is_mail) {
			fuzz_mail_params(s + uu, len - uu);
		} else {
			fuzz_rcpt_params(s + uu, len - uu);
		}
	}
}

/* smtpd: "FROM:" / "TO:" case-insensitively, then optional spaces. */
static void
fuzz_after_prefix(const struct smtp_cmd *c, const char *pfx, bool is_mail)
{
	size_t n = strlen(pfx);
	size_t i;

	if (c->arg_len < n || !str_ieq(c->arg, n, pfx, n)) {
		return;
	}
	for (i = n; i < c->arg_len && c->arg[i] == ' '; i++) {
	}
	fuzz_path(c->arg + i, c->arg_len - i, is_mail);
}

static void
fuzz_domain(const char *s, size_t len)
{
	char *c = fuzz_dup(s, len);
	bool ascii = smtp_domain_valid(c, len, false);
	bool utf8 = smtp_domain_valid(c, len, true);
	size_t i;

	free(c);
	FUZZ_CHECK(!ascii || utf8);
	if (utf8) {
		FUZZ_CHECK(len > 0);
		for (i = 0; i < len; i++) {
			unsigned char ch = (unsigned char)s[i];

			FUZZ_CHECK(ch > 0x20 && ch != 0x7f);
			FUZZ_CHECK(ch < 0x80 || !ascii);
		}
		FUZZ_CHECK(fuzz_utf8_ok((const unsigned char *)s, len));
	}
}

static void
fuzz_line(const char *line, size_t len)
{
	struct smtp_cmd c;
	enum smtp_r r;
	const char *name;
	size_t i;

	r = smtp_cmd_parse(line, len, &c);
	fuzz_reply_ok(r);
	if (r != SMTP_R_NONE) {
		return;
	}
	/* a whole CRLF line within the limit, nothing hidden in it */
	FUZZ_CHECK(len >= 2 &&
	    len <= (c.verb == SMTP_V_RCPT        ? SMTP_CMD_LINE_MAX_RCPT :
	                   c.verb == SMTP_V_MAIL ? SMTP_CMD_LINE_MAX_MAIL :
	                                           SMTP_CMD_LINE_MAX));
	FUZZ_CHECK(line[len - 2] == '\r' && line[len - 1] == '\n');
	for (i = 0; i < len - 2; i++) {
		FUZZ_CHECK(
		    line[i] != '\0' && line[i] != '\r' && line[i] != '\n');
	}
	FUZZ_CHECK(c.verb > SMTP_V_UNKNOWN && c.verb < SMTP_V_COUNT);
	FUZZ_CHECK(c.arg >= line && c.arg + c.arg_len <= line + len - 2);
	name = smtp_verb_name(c.verb);
	FUZZ_CHECK(name != NULL && strlen(name) <= len - 2);
	FUZZ_CHECK(str_ieq(line, strlen(name), name, strlen(name)));
	switch (c.verb) {
	case SMTP_V_MAIL:
		fuzz_after_prefix(&c, "FROM:", true);
		break;
	case SMTP_V_RCPT:
		fuzz_after_prefix(&c, "TO:", false);
		break;
	case SMTP_V_HELO:
	case SMTP_V_EHLO:
		fuzz_domain(c.arg, c.arg_len);
		break;
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	size_t pos = 0;
	char *c;

	/* line by line, as the session cuts them (up to and with the LF) */
	while (pos < size) {
		const char *lf = memchr(s + pos, '\n', size - pos);
		size_t n = lf == NULL ? size - pos :
		                        (size_t)(lf - (s + pos)) + 1;

		c = fuzz_dup(s + pos, n);
		fuzz_line(c, n);
		free(c);
		pos += n;
	}
	c = fuzz_dup(s, size);
	fuzz_line(c, size);
	free(c);
	fuzz_path(s, size, true);
	fuzz_path(s, size, false);
	fuzz_domain(s, size);
	return 0;
}
