/*
 * smtp_param.c — ESMTP parameters after the MAIL and RCPT paths
 * (RFC 5321 4.1.2 Mail-parameters): SIZE (RFC 1870), BODY (RFC 6152;
 * BINARYMIME only when CHUNKING is offered, RFC 3030 3), SMTPUTF8
 * (RFC 6531), and DSN (RFC 3461 4): RET and ENVID on MAIL, NOTIFY and
 * ORCPT on RCPT, with xtext (RFC 3461 4). A parameter of an extension the
 * server does not offer is 555 5.5.4 (RFC 5321 4.1.1.11); a bad,
 * duplicated or over-long value 501 5.5.4.
 *
 *   esmtp-param = esmtp-keyword ["=" esmtp-value]
 *   esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 *   esmtp-value = 1*(%d33-60 / %d62-126)
 */
#include <errno.h>
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
smtp_param_body(const struct smtp_param *p, unsigned ext, enum smtp_body *body)
{
	if (p->val == NULL) {
		return SMTP_R_PARAM_BAD;
	}
	if (str_ieq(p->val, p->val_len, "7BIT", 4)) {
		*body = SMTP_BODY_7BIT;
	} else if (str_ieq(p->val, p->val_len, "8BITMIME", 8)) {
		*body = SMTP_BODY_8BITMIME;
	} else if (str_ieq(p->val, p->val_len, "BINARYMIME", 10) &&
	    (ext & SMTP_EXT_BINARYMIME)) {
		*body = SMTP_BODY_BINARYMIME;
	} else {
		return SMTP_R_PARAM_BAD;
	}
	return SMTP_R_NONE;
}

/* ---- xtext (RFC 3461 4) ----------------------------------------------- */

static int
smtp_param_hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1; /* "two upper case hexadecimal digits" */
}

/* xtext = *( xchar / hexchar ); xchar = %d33-42 / %d44-60 / %d62-126 */
int
smtp_xtext_decode(const char *s, size_t len, char *out, size_t size)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			int hi = i + 2 < len ? smtp_param_hexval(s[i + 1]) : -1;
			int lo = hi >= 0 ? smtp_param_hexval(s[i + 2]) : -1;

			if (lo < 0 || (hi == 0 && lo == 0)) {
				return -EINVAL; /* NUL cannot be in a string */
			}
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return -EINVAL;
		}
		if (n + 1 >= size) {
			return -ENAMETOOLONG;
		}
		out[n++] = (char)c;
	}
	if (size == 0) {
		return -ENAMETOOLONG;
	}
	out[n] = '\0';
	return 0;
}

int
smtp_xtext_encode(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = c >= 33 && c <= 126 && c != '+' && c != '=';

		if (n + (plain ? 1 : 3) >= size) {
			return -ENAMETOOLONG;
		}
		if (plain) {
			out[n++] = (char)c;
		} else {
			out[n++] = '+';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	if (size == 0) {
		return -ENAMETOOLONG;
	}
	out[n] = '\0';
	return 0;
}

/* The decoded value is printable US-ASCII (RFC 3461 4.4, 4.2). */
static bool
smtp_param_printable(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 32 || (unsigned char)*s > 126) {
			return false;
		}
	}
	return true;
}

/* ---- DSN (RFC 3461 4.1-4.4) -------------------------------------------- */

static enum smtp_r
smtp_param_ret(const struct smtp_param *p, struct smtp_mail_params *mp)
{
	if (mp->ret != SMTP_RET_NONE) {
		return SMTP_R_PARAM_DUP;
	}
	if (p->val != NULL && str_ieq(p->val, p->val_len, "FULL", 4)) {
		mp->ret = SMTP_RET_FULL;
	} else if (p->val != NULL && str_ieq(p->val, p->val_len, "HDRS", 4)) {
		mp->ret = SMTP_RET_HDRS;
	} else {
		return SMTP_R_DSN_RET_BAD;
	}
	return SMTP_R_NONE;
}

static enum smtp_r
smtp_param_envid(const struct smtp_param *p, struct smtp_mail_params *mp)
{
	if (mp->has_envid) {
		return SMTP_R_PARAM_DUP;
	}
	if (p->val == NULL) {
		return SMTP_R_DSN_ENVID_BAD;
	}
	if (p->val_len > SMTP_ENVID_MAX) {
		return SMTP_R_DSN_TOO_LONG;
	}
	if (smtp_xtext_decode(p->val, p->val_len, mp->envid,
	        sizeof(mp->envid)) < 0 ||
	    !smtp_param_printable(mp->envid)) {
		return SMTP_R_DSN_ENVID_BAD;
	}
	mp->has_envid = true;
	return SMTP_R_NONE;
}

/* NOTIFY = "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ) */
static enum smtp_r
smtp_param_notify(const struct smtp_param *p, struct smtp_rcpt_params *rp)
{
	static const struct {
		const char *name;
		uint8_t bit;
	} kw[] = { { "NEVER", SMTP_NOTIFY_NEVER },
		{ "SUCCESS", SMTP_NOTIFY_SUCCESS },
		{ "FAILURE", SMTP_NOTIFY_FAILURE },
		{ "DELAY", SMTP_NOTIFY_DELAY } };
	size_t i = 0, k, start;

	if (rp->notify != 0) {
		return SMTP_R_PARAM_DUP;
	}
	if (p->val == NULL) {
		return SMTP_R_DSN_NOTIFY_BAD;
	}
	while (i <= p->val_len) {
		start = i;
		while (i < p->val_len && p->val[i] != ',') {
			i++;
		}
		for (k = 0; k < ARRAY_SIZE(kw); k++) {
			if (str_ieq(p->val + start, i - start, kw[k].name,
			        strlen(kw[k].name))) {
				break;
			}
		}
		if (k == ARRAY_SIZE(kw) || (rp->notify & kw[k].bit)) {
			return SMTP_R_DSN_NOTIFY_BAD; /* unknown or repeated */
		}
		rp->notify |= kw[k].bit;
		i++;
	}
	if ((rp->notify & SMTP_NOTIFY_NEVER) &&
	    rp->notify != SMTP_NOTIFY_NEVER) {
		return SMTP_R_DSN_NOTIFY_BAD; /* NEVER stands alone */
	}
	return SMTP_R_NONE;
}

/* ORCPT = addr-type ";" xtext; addr-type = atom (RFC 3461 4.2) */
static enum smtp_r
smtp_param_orcpt(const struct smtp_param *p, struct smtp_rcpt_params *rp)
{
	size_t k, semi;

	if (rp->orcpt[0] != '\0') {
		return SMTP_R_PARAM_DUP;
	}
	if (p->val == NULL) {
		return SMTP_R_DSN_ORCPT_BAD;
	}
	if (p->val_len > SMTP_ORCPT_MAX) {
		return SMTP_R_DSN_TOO_LONG;
	}
	for (semi = 0; semi < p->val_len && p->val[semi] != ';'; semi++) {
		if (!smtp_param_keychar((unsigned char)p->val[semi], false)) {
			return SMTP_R_DSN_ORCPT_BAD;
		}
	}
	if (semi == 0 || semi + 1 >= p->val_len) {
		return SMTP_R_DSN_ORCPT_BAD;
	}
	for (k = 0; k <= semi; k++) {
		rp->orcpt[k] = p->val[k];
	}
	if (smtp_xtext_decode(p->val + semi + 1, p->val_len - semi - 1,
	        rp->orcpt + semi + 1, sizeof(rp->orcpt) - semi - 1) < 0 ||
	    !smtp_param_printable(rp->orcpt + semi + 1)) {
		rp->orcpt[0] = '\0';
		return SMTP_R_DSN_ORCPT_BAD;
	}
	return SMTP_R_NONE;
}

/* RFC 4954 5: AUTH=<> or a mailbox in xtext; checked, not kept */
static enum smtp_r
smtp_param_auth(const struct smtp_param *p)
{
	char scratch[SMTP_PATH_MAX];

	if (p->val == NULL) {
		return SMTP_R_PARAM_BAD;
	}
	if (p->val_len == 2 && memcmp(p->val, "<>", 2) == 0) {
		return SMTP_R_NONE;
	}
	return smtp_xtext_decode(p->val, p->val_len, scratch, sizeof(scratch)) <
	        0 ?
	    SMTP_R_PARAM_BAD :
	    SMTP_R_NONE;
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
		return smtp_param_body(p, ext, &mp->body);
	}
	if (smtp_param_is(p, "SMTPUTF8") && (ext & SMTP_EXT_SMTPUTF8)) {
		if (mp->smtputf8) {
			return SMTP_R_PARAM_DUP;
		}
		mp->smtputf8 = true;
		return p->val == NULL ? SMTP_R_NONE : SMTP_R_PARAM_BAD;
	}
	if (smtp_param_is(p, "RET") && (ext & SMTP_EXT_DSN)) {
		return smtp_param_ret(p, mp);
	}
	if (smtp_param_is(p, "ENVID") && (ext & SMTP_EXT_DSN)) {
		return smtp_param_envid(p, mp);
	}
	if (smtp_param_is(p, "AUTH") && (ext & SMTP_EXT_AUTH)) {
		if (mp->has_auth) {
			return SMTP_R_PARAM_DUP;
		}
		mp->has_auth = true;
		return smtp_param_auth(p);
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

static enum smtp_r
smtp_param_rcpt_one(const struct smtp_param *p, unsigned ext,
    struct smtp_rcpt_params *rp)
{
	if (smtp_param_is(p, "NOTIFY") && (ext & SMTP_EXT_DSN)) {
		return smtp_param_notify(p, rp);
	}
	if (smtp_param_is(p, "ORCPT") && (ext & SMTP_EXT_DSN)) {
		return smtp_param_orcpt(p, rp);
	}
	return SMTP_R_PARAM_UNKNOWN;
}

enum smtp_r
smtp_rcpt_params_parse(const char *s, size_t len, unsigned ext,
    struct smtp_rcpt_params *rp)
{
	struct smtp_param p;
	enum smtp_r r;
	size_t i = 0;

	memset(rp, 0, sizeof(*rp));
	while (smtp_param_next(s, len, &i, &p, &r)) {
		r = smtp_param_rcpt_one(&p, ext, rp);
		if (r != SMTP_R_NONE) {
			return r;
		}
	}
	return r;
}
