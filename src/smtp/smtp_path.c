/*
 * smtp_path.c — Reverse-path and Forward-path (RFC 5321 4.1.2), domains
 * (4.1.1.1 and 4.1.3 address literals) and their UTF-8 forms (RFC 6531 3.3).
 *
 *   Path = "<" [ A-d-l ":" ] Mailbox ">"      A-d-l is accepted and dropped
 *   Mailbox = Local-part "@" ( Domain / address-literal )
 *   Local-part = Dot-string / Quoted-string
 *
 * Limits (4.5.3.1): local part 64, domain 255, path 256 with the brackets.
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp.h"

struct smtp_path_scan {
	const char *s;
	size_t len;
	size_t i;
	bool utf8_ok;
	bool saw_utf8;
	bool bad_utf8;
};

static bool
smtp_path_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* Length of a well-formed UTF-8 sequence at s (RFC 3629), or 0. */
static size_t
smtp_path_utf8_len(const unsigned char *s, size_t len)
{
	uint32_t cp;
	size_t n, k;

	if (s[0] < 0xc2 || s[0] > 0xf4) {
		return 0;
	}
	n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	if (n > len) {
		return 0;
	}
	cp = s[0] & (0x3f >> (n - 1));
	for (k = 1; k < n; k++) {
		if ((s[k] & 0xc0) != 0x80) {
			return 0;
		}
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		return 0;
	}
	return n;
}

/* A UTF-8 character at the cursor: consumed if allowed. */
static bool
smtp_path_take_utf8(struct smtp_path_scan *ps)
{
	size_t n;

	if ((unsigned char)ps->s[ps->i] < 0x80) {
		return false;
	}
	ps->saw_utf8 = true;
	n = smtp_path_utf8_len((const unsigned char *)ps->s + ps->i,
	    ps->len - ps->i);
	if (n == 0 || !ps->utf8_ok) {
		ps->bad_utf8 = n == 0;
		return false;
	}
	ps->i += n;
	return true;
}

static bool
smtp_path_atext(unsigned char c)
{
	return smtp_path_alnum(c) ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* sub-domain = Let-dig [Ldh-str]; U-labels with SMTPUTF8 */
static bool
smtp_path_label(struct smtp_path_scan *ps, bool underscore)
{
	size_t start = ps->i;
	char last = '\0';

	while (ps->i < ps->len) {
		unsigned char c = (unsigned char)ps->s[ps->i];

		if (smtp_path_alnum(c) || (c == '-' && ps->i > start) ||
		    (c == '_' && underscore)) {
			last = (char)c;
			ps->i++;
		} else if (c >= 0x80 && smtp_path_take_utf8(ps)) {
			last = 'x';
		} else {
			break;
		}
	}
	return ps->i > start && last != '-' && ps->i - start <= 63;
}

static bool
smtp_path_literal(struct smtp_path_scan *ps)
{
	const char *close;
	char tmp[64];
	unsigned char addr[16];
	size_t n;

	ps->i++; /* "[" */
	close = memchr(ps->s + ps->i, ']', ps->len - ps->i);
	if (close == NULL) {
		return false;
	}
	n = (size_t)(close - (ps->s + ps->i));
	if (n == 0 || n >= sizeof(tmp) || memchr(ps->s + ps->i, '\0', n)) {
		return false;
	}
	memcpy(tmp, ps->s + ps->i, n);
	tmp[n] = '\0';
	ps->i += n + 1;
	if (strncasecmp(tmp, "IPv6:", 5) == 0) {
		return inet_pton(AF_INET6, tmp + 5, addr) == 1;
	}
	/* inet_pton takes exactly dotted-quad decimal for AF_INET */
	return inet_pton(AF_INET, tmp, addr) == 1;
}

static bool
smtp_path_domain(struct smtp_path_scan *ps, bool underscore, bool *literal)
{
	size_t start = ps->i;

	*literal = false;
	if (ps->i < ps->len && ps->s[ps->i] == '[') {
		*literal = true;
		return smtp_path_literal(ps);
	}
	for (;;) {
		if (!smtp_path_label(ps, underscore)) {
			return false;
		}
		if (ps->i >= ps->len || ps->s[ps->i] != '.') {
			break;
		}
		ps->i++;
	}
	return ps->i - start <= SMTP_DOMAIN_MAX;
}

bool
smtp_domain_valid(const char *s, size_t len, bool allow_utf8)
{
	struct smtp_path_scan ps = { s, len, 0, allow_utf8, false, false };
	bool literal;

	/* EHLO names: Windows hosts send NetBIOS names with "_"; accept. */
	return len > 0 && smtp_path_domain(&ps, true, &literal) && ps.i == len;
}

static bool
smtp_path_dot_string(struct smtp_path_scan *ps)
{
	size_t start;

	for (;;) {
		start = ps->i;
		while (ps->i < ps->len) {
			unsigned char c = (unsigned char)ps->s[ps->i];

			if (smtp_path_atext(c)) {
				ps->i++;
			} else if (!(c >= 0x80 && smtp_path_take_utf8(ps))) {
				break;
			}
		}
		if (ps->i == start) {
			return false; /* empty atom: leading, double or end dot */
		}
		if (ps->i >= ps->len || ps->s[ps->i] != '.') {
			return true;
		}
		ps->i++;
	}
}

static bool
smtp_path_quoted(struct smtp_path_scan *ps)
{
	ps->i++; /* DQUOTE */
	while (ps->i < ps->len) {
		unsigned char c = (unsigned char)ps->s[ps->i];

		if (c == '"') {
			ps->i++;
			return true;
		}
		if (c == '\\') {
			if (ps->i + 1 >= ps->len ||
			    (unsigned char)ps->s[ps->i + 1] < 32 ||
			    (unsigned char)ps->s[ps->i + 1] > 126) {
				return false;
			}
			ps->i += 2;
		} else if (c >= 32 && c <= 126) {
			ps->i++;
		} else if (!(c >= 0x80 && smtp_path_take_utf8(ps))) {
			return false;
		}
	}
	return false;
}

/* A-d-l = At-domain *( "," At-domain ) ":" — skipped (4.1.1.3, appendix C) */
static bool
smtp_path_skip_route(struct smtp_path_scan *ps)
{
	bool literal;

	for (;;) {
		if (ps->i >= ps->len || ps->s[ps->i] != '@') {
			return false;
		}
		ps->i++;
		if (!smtp_path_domain(ps, false, &literal)) {
			return false;
		}
		if (ps->i < ps->len && ps->s[ps->i] == ',') {
			ps->i++;
			continue;
		}
		if (ps->i < ps->len && ps->s[ps->i] == ':') {
			ps->i++;
			return true;
		}
		return false;
	}
}

/* Where the path ends: the ">" outside a quoted string, or 0. */
static size_t
smtp_path_end(const char *s, size_t len)
{
	bool quoted = false;
	size_t i;

	for (i = 1; i < len; i++) {
		if (quoted && s[i] == '\\') {
			i++;
		} else if (s[i] == '"') {
			quoted = !quoted;
		} else if (s[i] == '>' && !quoted) {
			return i;
		}
	}
	return 0;
}

static enum smtp_r
smtp_path_mailbox(struct smtp_path_scan *ps, unsigned flags, bool is_mail,
    struct smtp_path *path)
{
	enum smtp_r bad = is_mail ? SMTP_R_BAD_SENDER : SMTP_R_BAD_RCPT;
	size_t local_start = ps->i, local_len, dom_start;
	bool ok;

	ok = ps->i < ps->len && ps->s[ps->i] == '"' ? smtp_path_quoted(ps) :
	                                              smtp_path_dot_string(ps);
	local_len = ps->i - local_start;
	if (ps->saw_utf8 && !ps->utf8_ok && !ps->bad_utf8) {
		return SMTP_R_NON_ASCII;
	}
	if (!ok) {
		return bad;
	}
	if (ps->i == ps->len && (flags & SMTP_PATH_POSTMASTER) &&
	    str_ieq(ps->s + local_start, local_len, "postmaster", 10)) {
		path->local_len = (uint16_t)local_len;
		path->domain_off = (uint16_t)local_len;
		memcpy(path->addr, "postmaster", 11);
		return SMTP_R_NONE;
	}
	if (local_len > SMTP_LOCAL_MAX) {
		return is_mail ? SMTP_R_LOCAL_TOO_LONG_MAIL :
		                 SMTP_R_LOCAL_TOO_LONG_RCPT;
	}
	if (ps->i >= ps->len || ps->s[ps->i] != '@') {
		return bad;
	}
	ps->i++;
	dom_start = ps->i;
	ok = smtp_path_domain(ps, false, &path->domain_literal);
	if (ps->saw_utf8 && !ps->utf8_ok && !ps->bad_utf8) {
		return SMTP_R_NON_ASCII;
	}
	if (!ok || ps->i != ps->len) {
		return bad;
	}
	memcpy(path->addr, ps->s + local_start, ps->len - local_start);
	path->addr[ps->len - local_start] = '\0';
	path->local_len = (uint16_t)local_len;
	path->domain_off = (uint16_t)(dom_start - local_start);
	return SMTP_R_NONE;
}

enum smtp_r
smtp_path_parse(const char *s, size_t len, unsigned flags, bool is_mail,
    struct smtp_path *path, size_t *used)
{
	struct smtp_path_scan ps;
	enum smtp_r r;
	size_t end;

	memset(path, 0, sizeof(*path));
	*used = 0;
	if (len == 0 || s[0] != '<') {
		return is_mail ? SMTP_R_SYNTAX_MAIL : SMTP_R_SYNTAX_RCPT;
	}
	end = smtp_path_end(s, len);
	if (end == 0) {
		return is_mail ? SMTP_R_BAD_SENDER : SMTP_R_BAD_RCPT;
	}
	if (end + 1 > SMTP_PATH_MAX) {
		return is_mail ? SMTP_R_PATH_TOO_LONG_MAIL :
		                 SMTP_R_PATH_TOO_LONG_RCPT;
	}
	*used = end + 1;
	if (end == 1) {
		if (!(flags & SMTP_PATH_NULL)) {
			return is_mail ? SMTP_R_BAD_SENDER : SMTP_R_BAD_RCPT;
		}
		path->is_null = true;
		return SMTP_R_NONE;
	}
	ps = (struct smtp_path_scan){ s + 1, end - 1, 0,
		(flags & SMTP_PATH_UTF8) != 0, false, false };
	if (ps.s[0] == '@' && !smtp_path_skip_route(&ps)) {
		return is_mail ? SMTP_R_BAD_SENDER : SMTP_R_BAD_RCPT;
	}
	r = smtp_path_mailbox(&ps, flags, is_mail, path);
	path->has_utf8 = ps.saw_utf8;
	return r;
}
