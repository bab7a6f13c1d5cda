/*
 * smtp_data.c — the DATA stream scanner (RFC 5321 4.1.1.4, 4.5.2, 2.3.8).
 *
 * The message ends only at CRLF "." CRLF. A line starting with "." has the
 * dot removed (transparency). CR and LF appear only together as CRLF: a
 * bare one ends the scan at once (flag SMTP_DATA_BARE_NL) because a server
 * that guesses at line ends can be made to see a message end the next hop
 * does not see (SMTP smuggling). NUL and lines longer than the limit are
 * flagged and the scan goes on to the real end, so the session stays in
 * step with the client. The scanner keeps all of its state in struct
 * smtp_data and gives the same result however the input is split.
 */
#include <string.h>

#include "smtp/smtp.h"

void
smtp_data_init(struct smtp_data *d, uint32_t line_max)
{
	memset(d, 0, sizeof(*d));
	d->state = SMTP_DS_BOL;
	d->line_max = line_max;
	d->in_header = true;
}

/* A line of the header section ended: count Received: (RFC 5321 6.3). */
static void
smtp_data_line_end(struct smtp_data *d)
{
	if (d->in_header) {
		if (d->line_len == 0) {
			d->in_header = false;
		} else if (d->hdr_len >= 9 &&
		    str_ieq(d->hdr, 9, "received:", 9)) {
			d->received++;
		}
	}
	if (d->line_len + 2 > d->line_max) {
		d->flags |= SMTP_DATA_LONG_LINE;
	}
	d->line_len = 0;
	d->hdr_len = 0;
}

/* One octet of line text (not CR, not LF). */
static void
smtp_data_text(struct smtp_data *d, char c, char *out, size_t *o)
{
	if (c == '\0') {
		d->flags |= SMTP_DATA_NUL;
	}
	if (d->in_header && d->hdr_len < sizeof(d->hdr) &&
	    d->hdr_len == d->line_len) {
		d->hdr[d->hdr_len++] = c;
	}
	d->line_len++;
	out[(*o)++] = c;
}

size_t
smtp_data_scan(struct smtp_data *d, const char *in, size_t inlen, char *out,
    size_t *outlen)
{
	size_t i, o = 0;
	char c;

	for (i = 0; i < inlen && d->state != SMTP_DS_DONE; i++) {
		c = in[i];
		switch (d->state) {
		case SMTP_DS_BOL:
			if (c == '.') {
				/* RFC 5321 4.5.3.1.6: the stuffed dot does not
				 * count toward the line length */
				d->state = SMTP_DS_DOT;
				break;
			}
			/* fall through */
		case SMTP_DS_TEXT:
			if (c == '\n') {
				goto bare;
			}
			if (c == '\r') {
				out[o++] = c;
				d->state = SMTP_DS_CR;
				break;
			}
			smtp_data_text(d, c, out, &o);
			d->state = SMTP_DS_TEXT;
			break;
		case SMTP_DS_CR:
			if (c != '\n') {
				goto bare;
			}
			out[o++] = c;
			smtp_data_line_end(d);
			d->state = SMTP_DS_BOL;
			break;
		case SMTP_DS_DOT:
			if (c == '\r') {
				d->state = SMTP_DS_DOT_CR;
				break;
			}
			if (c == '\n') {
				goto bare;
			}
			smtp_data_text(d, c, out, &o); /* the dot is dropped */
			d->state = SMTP_DS_TEXT;
			break;
		case SMTP_DS_DOT_CR:
			if (c != '\n') {
				goto bare;
			}
			d->state = SMTP_DS_DONE;
			break;
		case SMTP_DS_DONE:
			break;
		}
	}
	d->size += o;
	*outlen = o;
	return i;
bare:
	d->flags |= SMTP_DATA_BARE_NL;
	d->state = SMTP_DS_DONE;
	d->size += o;
	*outlen = o;
	return i;
}

void
smtp_data_inspect(struct smtp_data *d, const char *in, size_t inlen)
{
	size_t i;

	d->size += inlen;
	for (i = 0; i < inlen && d->in_header; i++) {
		if (in[i] == '\n') {
			smtp_data_line_end(d);
		} else if (in[i] != '\r') {
			if (d->hdr_len < sizeof(d->hdr) &&
			    d->hdr_len == d->line_len) {
				d->hdr[d->hdr_len++] = in[i];
			}
			d->line_len++;
		}
	}
	d->line_len = d->in_header ? d->line_len : 0;
}
