/*
 * smtp_param.c — ESMTP parameters after the MAIL and RCPT paths
 * (RFC 5321 4.1.2 Mail-parameters): SIZE (RFC 1870), BODY (RFC 6152),
 * SMTPUTF8 (RFC 6531). A parameter of an extension the server does not
 * offer is 555 5.5.4 (RFC 5321 4.1.1.11); a bad value 501 5.5.4.
 *
 *   esmtp-param = esmtp-keyword ["=" esmtp-value]
 *   esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 *   esmtp-value = 1*(%d33-60 / %d62-126)
 */
#include <string.h>

#include "smtp/smtp.h"

struct smtp_param {
	const char *key;
	size_t key_len;
	const char *val; /* NULL when there is no "=" */
	size_t val_len;
};

static bool
smtp_param_keychar(unsigned char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c == '-' && !first);
}

/* Next parameter from s[*i..len); false at the end, r set on bad syntax. */
static bool
smtp_param_next(const char *s, size_t len, size_t *i, struct smtp_param *p,
    enum smtp_r *r)
{
	size_t k = *i;

	*r = SMTP_R_NONE;
	if (k >= len) {
		return false;
	}
	if (s[k] != ' ') {
		*r = SMTP_R_PARAM_BAD;
		return false;
	}
	while (k < len && s[k] == ' ') {
		k++;
	}
	if (k >= len) {
		return false;
	}
	p->key = s + k;
	while (k < len &&
	    smtp_param_keychar((unsigned char)s[k], s + k == p->key)) {
		k++;
	}
	p->key_len = (size_t)(s + k - p->key);
	p->val = NULL;
	p->val_len = 0;
	if (k < len && s[k] == '=') {
		p->val = s + ++k;
		while (k < len && (unsigned char)s[k] >= 33 &&
		    (unsigned char)s[k] <= 126 && s[k] != '=') {
			k++;
		}
		p->val_len = (size_t)(s + k - p->val);
		if (p->val_len == 0) {
			*r = SMTP_R_PARAM_BAD;
			return false;
		}
	}
	if (p->key_len == 0 || (k < len && s[k] != ' ')) {
		*r = SMTP_R_PARAM_BAD;
		return false;
	}
	*i = k;
	return true;
}

static bool
smtp_param_is(const struct smtp_param *p, const char *key)
{
	return str_ieq(p->key, p->key_len, key, strlen(key));
}

/* RFC 1870: size-value = 1*20DIGIT; a value that overflows is refused. */
static enum smtp_r
smtp_param_size(const struct smtp_param *p, uint64_t *size)
{
	uint64_t v = 0;
	size_t k;

	if (p->val == NULL || p->val_len > 20) {
		return SMTP_R_PARAM_BAD;
	}
	for (k = 0; k < p->val_len; k++) {
		unsigned d = (unsigned char)p->val[k] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10) {
			return SMTP_R_PARAM_BAD;
		}
		v = v * 10 + d;
	}
	*size = v;
	return SMTP_R_NONE;
}

static enum smtp_r
smtp_param_body(const struct smtp_param *p, enum smtp_body *body)
{
	if (p->val == NULL) {
		return SMTP_R_PARAM_BAD;
	}
	if (str_ieq(p->val, p->val_len, "7BIT", 4)) {
		*body = SMTP_BODY_7BIT;
	} else if (str_ieq(p->val, p->val_len, "8BITMIME", 8)) {
		*body = SMTP_BODY_8BITMIME;
	} else {
		return SMTP_R_PARAM_BAD;
	}
	return SMTP_R_NONE;
}

/* RFC 4954 5: AUTH=<> or a mailbox in xtext (RFC 3461 4: "+" HEX HEX) */
static enum smtp_r
smtp_param_xtext(const struct smtp_param *p)
{
	size_t k;

	if (p->val == NULL) {
		return SMTP_R_PARAM_BAD;
	}
	if (p->val_len == 2 && memcmp(p->val, "<>", 2) == 0) {
		return SMTP_R_NONE;
	}
	for (k = 0; k < p->val_len; k++) {
		if (p->val[k] != '+') {
			continue;
		}
		if (k + 2 >= p->val_len ||
		    !strchr("0123456789ABCDEF", p->val[k + 1]) ||
		    !strchr("0123456789ABCDEF", p->val[k + 2])) {
			return SMTP_R_PARAM_BAD;
		}
		k += 2;
	}
	return SMTP_R_NONE;
}

static enum smtp_r
smtp_param_mail_one(const struct smtp_param *p, unsigned ext,
    struct smtp_mail_params *mp)
{
	if (smtp_param_is(p, "SIZE") && (ext & SMTP_EXT_SIZE)) {
		if (mp->has_size) {
			return SMTP_R_PARAM_DUP;
		}
		mp->has_size = true;
		return smtp_param_size(p, &mp->size);
	}
	if (smtp_param_is(p, "BODY") && (ext & SMTP_EXT_8BITMIME)) {
		if (mp->body != SMTP_BODY_NONE) {
			return SMTP_R_PARAM_DUP;
		}
		return smtp_param_body(p, &mp->body);
	}
	if (smtp_param_is(p, "SMTPUTF8") && (ext & SMTP_EXT_SMTPUTF8)) {
		if (mp->smtputf8) {
			return SMTP_R_PARAM_DUP;
		}
		mp->smtputf8 = true;
		return p->val == NULL ? SMTP_R_NONE : SMTP_R_PARAM_BAD;
	}
	if (smtp_param_is(p, "AUTH") && (ext & SMTP_EXT_AUTH)) {
		if (mp->has_auth) {
			return SMTP_R_PARAM_DUP;
		}
		mp->has_auth = true;
		return smtp_param_xtext(p);
	}
	return SMTP_R_PARAM_UNKNOWN;
}

enum smtp_r
smtp_mail_params_parse(const char *s, size_t len, unsigned ext,
    struct smtp_mail_params *mp)
{
	struct smtp_param p;
	enum smtp_r r;
	size_t i = 0;

	memset(mp, 0, sizeof(*mp));
	while (smtp_param_next(s, len, &i, &p, &r)) {
		r = smtp_param_mail_one(&p, ext, mp);
		if (r != SMTP_R_NONE) {
			return r;
		}
	}
	return r;
}

enum smtp_r
smtp_rcpt_params_parse(const char *s, size_t len, unsigned ext)
{
	struct smtp_param p;
	enum smtp_r r;
	size_t i = 0;

	if (smtp_param_next(s, len, &i, &p, &r)) {
		return SMTP_R_PARAM_UNKNOWN; /* DSN's NOTIFY/ORCPT come later */
	}
	return r;
}
