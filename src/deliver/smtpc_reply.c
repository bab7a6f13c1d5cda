/*
 * smtpc_reply.c — the SMTP client's reading of replies (RFC 5321 4.2):
 * one or more lines "ddd-text", the last "ddd text", all with one code;
 * and the EHLO keywords a peer offers (RFC 5321 4.1.1.1). Pure: bytes in,
 * struct out.
 */
#include <stdlib.h>
#include <string.h>

#include "deliver/smtpc.h"

/* A line of a reply without its CRLF: 0 more lines, 1 last, -1 broken. */
static int
smtpc_reply_line(const char *s, size_t n, unsigned *code)
{
	unsigned c;

	if (n < 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9') {
		return -1;
	}
	c = (unsigned)(s[0] - '0') * 100 + (unsigned)(s[1] - '0') * 10 +
	    (unsigned)(s[2] - '0');
	if (*code != 0 && *code != c) {
		return -1; /* all lines of a reply share one code */
	}
	*code = c;
	if (n == 3 || s[3] == ' ') {
		return 1;
	}
	return s[3] == '-' ? 0 : -1;
}

static void
smtpc_reply_keyword(struct smtpc_reply *r, const char *s, size_t n)
{
	char word[32];
	size_t k;

	for (k = 0; k < n && k < sizeof(word) - 1 && s[k] != ' '; k++) {
		word[k] = (char)(s[k] >= 'a' && s[k] <= 'z' ? s[k] - 32 : s[k]);
	}
	word[k] = '\0';
	if (strcmp(word, "PIPELINING") == 0) {
		r->caps |= SMTPC_CAP_PIPELINING;
	} else if (strcmp(word, "CHUNKING") == 0) {
		r->caps |= SMTPC_CAP_CHUNKING;
	} else if (strcmp(word, "8BITMIME") == 0) {
		r->caps |= SMTPC_CAP_8BITMIME;
	} else if (strcmp(word, "BINARYMIME") == 0) {
		r->caps |= SMTPC_CAP_BINARYMIME;
	} else if (strcmp(word, "SMTPUTF8") == 0) {
		r->caps |= SMTPC_CAP_SMTPUTF8;
	} else if (strcmp(word, "DSN") == 0) {
		r->caps |= SMTPC_CAP_DSN;
	} else if (strcmp(word, "STARTTLS") == 0) {
		r->caps |= SMTPC_CAP_STARTTLS;
	} else if (strcmp(word, "AUTH") == 0 && k < n) {
		r->auth |= smtpc_auth_keyword(s + k + 1, n - k - 1);
	} else if (strcmp(word, "SIZE") == 0) {
		r->caps |= SMTPC_CAP_SIZE;
		r->size = k < n ? strtoull(s + k + 1, NULL, 10) : 0;
	}
}

int
smtpc_reply_parse(const char *buf, size_t len, bool ehlo, struct smtpc_reply *r,
    size_t *used)
{
	size_t off = 0, n;
	const char *lf;
	int last;

	memset(r, 0, sizeof(*r));
	while (off < len) {
		lf = memchr(buf + off, '\n', len - off);
		if (lf == NULL) {
			/* a line longer than any reply may be is an error */
			return len - off > SMTPC_LINE_MAX ? -1 : 0;
		}
		n = (size_t)(lf - (buf + off));
		if (n > 0 && buf[off + n - 1] == '\r') {
			n--;
		}
		last = smtpc_reply_line(buf + off, n, &r->code);
		if (last < 0) {
			return -1;
		}
		if (r->lines++ == 0) { /* the first line's text, for reports */
			size_t t = n > 4 ? n - 4 : 0;

			t = t < sizeof(r->text) - 1 ? t : sizeof(r->text) - 1;
			memcpy(r->text, buf + off + 4, t);
			r->text[t] = '\0';
		} else if (ehlo && n > 4) {
			smtpc_reply_keyword(r, buf + off + 4, n - 4);
		}
		off = (size_t)(lf - buf) + 1;
		if (last) {
			*used = off;
			return 1;
		}
	}
	return 0;
}
