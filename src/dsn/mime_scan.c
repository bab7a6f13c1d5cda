/*
 * mime_scan.c — the pure pieces of MIME header parsing that the converter
 * needs: a header field's name (RFC 5322 2.2), the Content-Type value
 * with its boundary parameter (RFC 2045 5.1, RFC 2046 5.1.1), the
 * Content-Transfer-Encoding value (RFC 2045 6.1) and boundary lines
 * (RFC 2046 5.1.1: "--" boundary ["--"] then optional linear white
 * space). Comments and quoted strings are understood; RFC 2231 parameter
 * continuations are not (a boundary written that way is not found).
 */
#include <string.h>

#include "dsn/dsn.h"

int
mime_field_name(const char *s, size_t n)
{
	size_t k;

	/* RFC 5322 2.2: ftext is %d33-57 / %d59-126 */
	for (k = 0; k < n; k++) {
		unsigned char c = (unsigned char)s[k];

		if (c == ':') {
			return k > 0 ? (int)k : -1;
		}
		if (c < 33 || c > 126) {
			return -1;
		}
	}
	return -1;
}

/* Comments (nested, with quoted pairs) and white space, line ends too. */
static size_t
mime_scan_cfws(const char *s, size_t n, size_t k)
{
	unsigned depth = 0;

	while (k < n) {
		char c = s[k];

		if (depth > 0 && c == '\\' && k + 1 < n) {
			k += 2;
			continue;
		}
		if (c == '(') {
			depth++;
		} else if (c == ')' && depth > 0) {
			depth--;
		} else if (depth == 0 && c != ' ' && c != '\t' && c != '\r' &&
		    c != '\n') {
			break;
		}
		k++;
	}
	return k;
}

/* RFC 2045 5.1: token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials> */
static bool
mime_scan_tokenchar(char c)
{
	return (unsigned char)c > 32 && (unsigned char)c < 127 &&
	    strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static size_t
mime_scan_token(const char *s, size_t n, size_t k)
{
	while (k < n && mime_scan_tokenchar(s[k])) {
		k++;
	}
	return k;
}

static bool
mime_scan_is(const char *s, size_t a, size_t b, const char *word)
{
	return str_ieq(s + a, b - a, word, strlen(word));
}

/* A parameter value: token or quoted-string, unquoted into out. */
static size_t
mime_scan_value(const char *s, size_t n, size_t k, char *out, size_t cap,
    size_t *outlen, bool *overflow)
{
	size_t e;

	*outlen = 0;
	*overflow = false;
	if (k < n && s[k] == '"') {
		for (k++; k < n && s[k] != '"'; k++) {
			if (s[k] == '\\' && k + 1 < n) {
				k++;
			}
			if (s[k] == '\r' || s[k] == '\n') {
				continue; /* folding inside the quotes */
			}
			if (*outlen < cap) {
				out[(*outlen)++] = s[k];
			} else {
				*overflow = true;
			}
		}
		return k < n ? k + 1 : k;
	}
	e = mime_scan_token(s, n, k);
	if (e - k > cap) {
		*overflow = true;
	} else {
		memcpy(out, s + k, e - k);
		*outlen = e - k;
	}
	return e;
}

static void
mime_scan_kind(const char *s, size_t t0, size_t t1, size_t u0, size_t u1,
    struct mime_ctype *ct)
{
	if (mime_scan_is(s, t0, t1, "text")) {
		ct->kind = MIME_K_TEXT;
	} else if (mime_scan_is(s, t0, t1, "multipart")) {
		ct->kind = MIME_K_MULTIPART;
		ct->digest = mime_scan_is(s, u0, u1, "digest");
	} else if (!mime_scan_is(s, t0, t1, "message")) {
		ct->kind = MIME_K_OTHER;
	} else if (mime_scan_is(s, u0, u1, "rfc822")) {
		ct->kind = MIME_K_RFC822;
	} else if (mime_scan_is(s, u0, u1, "partial") ||
	    mime_scan_is(s, u0, u1, "external-body")) {
		ct->kind = MIME_K_MSG_STRICT; /* RFC 2046 5.2.2.1, 5.2.3.1 */
	} else {
		ct->kind = MIME_K_OTHER;
	}
}

/* The parameters after type/subtype: only boundary matters here. */
static void
mime_scan_params(const char *s, size_t n, size_t k, struct mime_ctype *ct)
{
	char val[MIME_BOUNDARY_MAX + 1];
	size_t a0, a1, vlen;
	bool over, seen = false;

	for (;;) {
		k = mime_scan_cfws(s, n, k);
		if (k >= n || s[k] != ';') {
			return;
		}
		k = mime_scan_cfws(s, n, k + 1);
		a0 = k;
		a1 = k = mime_scan_token(s, n, k);
		k = mime_scan_cfws(s, n, k);
		if (a1 == a0 || k >= n || s[k] != '=') {
			return;
		}
		k = mime_scan_cfws(s, n, k + 1);
		k = mime_scan_value(s, n, k, val, MIME_BOUNDARY_MAX, &vlen,
		    &over);
		if (!seen && mime_scan_is(s, a0, a1, "boundary")) {
			seen = true;
			ct->bad_boundary = over || vlen == 0;
			if (!ct->bad_boundary) {
				memcpy(ct->boundary, val, vlen);
				ct->boundary[vlen] = '\0';
				ct->boundary_len = (uint8_t)vlen;
			}
		}
	}
}

void
mime_ctype_parse(const char *s, size_t n, struct mime_ctype *ct)
{
	size_t t0, t1, u0, u1, k;

	memset(ct, 0, sizeof(*ct));
	k = mime_scan_cfws(s, n, 0);
	t0 = k;
	t1 = k = mime_scan_token(s, n, k);
	k = mime_scan_cfws(s, n, k);
	if (t1 == t0 || k >= n || s[k] != '/') {
		/* RFC 2045 5.2: an unreadable Content-Type is text/plain */
		ct->kind = MIME_K_TEXT;
		ct->bad = true;
		return;
	}
	k = mime_scan_cfws(s, n, k + 1);
	u0 = k;
	u1 = k = mime_scan_token(s, n, k);
	if (u1 == u0) {
		ct->kind = MIME_K_TEXT;
		ct->bad = true;
		return;
	}
	mime_scan_kind(s, t0, t1, u0, u1, ct);
	mime_scan_params(s, n, k, ct);
}

enum mime_cte
mime_cte_parse(const char *s, size_t n)
{
	static const struct {
		const char *name;
		enum mime_cte cte;
	} names[] = {
		{ "7bit", MIME_CTE_7BIT },
		{ "8bit", MIME_CTE_8BIT },
		{ "binary", MIME_CTE_BINARY },
		{ "quoted-printable", MIME_CTE_QP },
		{ "base64", MIME_CTE_BASE64 },
	};
	size_t k = mime_scan_cfws(s, n, 0), e, i;

	e = mime_scan_token(s, n, k);
	if (e == k) {
		return MIME_CTE_NONE; /* empty: the default, 7bit */
	}
	if (mime_scan_cfws(s, n, e) != n) {
		return MIME_CTE_OTHER;
	}
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (mime_scan_is(s, k, e, names[i].name)) {
			return names[i].cte;
		}
	}
	return MIME_CTE_OTHER;
}

int
mime_boundary_match(const char *s, size_t n, const char *b, size_t blen)
{
	size_t k;
	int kind = 1;

	if (n < blen + 2 || s[0] != '-' || s[1] != '-' ||
	    memcmp(s + 2, b, blen) != 0) {
		return 0;
	}
	k = blen + 2;
	if (k + 2 <= n && s[k] == '-' && s[k + 1] == '-') {
		kind = 2;
		k += 2;
	}
	for (; k < n; k++) {
		if (s[k] != ' ' && s[k] != '\t') {
			return 0;
		}
	}
	return kind;
}
