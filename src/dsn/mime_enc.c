/*
 * mime_enc.c — the two content transfer encodings the converter writes,
 * streaming, with a few bytes of state:
 *
 * quoted-printable (RFC 2045 6.7): printable ASCII but "=" as it is, the
 * rest as =XX; lines of at most 76 characters with soft breaks ("="
 * CRLF); a space or tab before a line end encoded (rule 3); an input CRLF
 * is a hard line break. A "." at the start of a line is written =2E so
 * that no line of the output is a lone dot, whatever the transport does.
 * A CR or LF that is not part of a CRLF is written =0D / =0A (the
 * converter gives such text to base64 instead, but the encoder stays
 * faithful to any input).
 *
 * base64 (RFC 2045 6.8): 76-character lines.
 */
#include <string.h>

#include "dsn/dsn.h"

#define MIME_QP_LINE 76

static const char mime_enc_hex[] = "0123456789ABCDEF";
static const char mime_enc_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
mime_out_put(struct mime_out *o, const void *p, size_t n)
{
	if (o->p != NULL) {
		if (n > o->cap - o->len) {
			panic("mime output overrun (%zu > %zu)", n,
			    o->cap - o->len);
		}
		memcpy(o->p + o->len, p, n);
		o->len += n;
	}
	o->total += n;
}

void
mime_enc_start(struct mime_enc *e, enum mime_action how)
{
	memset(e, 0, sizeof(*e));
	e->how = how;
}

/* One quoted-printable unit: c literally, or =XX. */
static void
mime_enc_qp_unit(struct mime_enc *e, unsigned char c, bool literal,
    struct mime_out *o)
{
	char t[3];
	size_t n = literal ? 1 : 3;

	if (e->col + n > MIME_QP_LINE - 1) {
		mime_out_put(o, "=\r\n", 3); /* soft line break */
		e->col = 0;
	}
	if (literal && c == '.' && e->col == 0) {
		literal = false;
		n = 3;
	}
	if (literal) {
		t[0] = (char)c;
	} else {
		t[0] = '=';
		t[1] = mime_enc_hex[c >> 4];
		t[2] = mime_enc_hex[c & 15];
	}
	mime_out_put(o, t, n);
	e->col = (uint8_t)(e->col + n);
	e->any = true;
}

/* The held space, tab or CR, now that what follows is known. */
static void
mime_enc_qp_release(struct mime_enc *e, unsigned char next, bool end,
    struct mime_out *o)
{
	unsigned char h = e->hold[0];

	if (e->nhold == 0) {
		return;
	}
	e->nhold = 0;
	if (h == '\r') {
		if (!end && next == '\n') {
			return; /* the caller writes the hard break */
		}
		mime_enc_qp_unit(e, h, false, o);
		return;
	}
	/* rule 3: white space before a line end (or the end) is encoded */
	mime_enc_qp_unit(e, h, !end && next != '\r' && next != '\n', o);
}

static void
mime_enc_qp_byte(struct mime_enc *e, unsigned char c, struct mime_out *o)
{
	bool held_cr = e->nhold == 1 && e->hold[0] == '\r';

	mime_enc_qp_release(e, c, false, o);
	if (c == '\n' && held_cr) {
		mime_out_put(o, "\r\n", 2);
		e->col = 0;
		e->any = true;
		return;
	}
	if (c == ' ' || c == '\t' || c == '\r') {
		e->hold[0] = c;
		e->nhold = 1;
		return;
	}
	mime_enc_qp_unit(e, c, c >= 33 && c <= 126 && c != '=', o);
}

static void
mime_enc_b64_quad(struct mime_enc *e, const unsigned char *in, size_t n,
    struct mime_out *o)
{
	uint32_t v = (uint32_t)in[0] << 16 |
	    (uint32_t)(n > 1 ? in[1] : 0) << 8 | (n > 2 ? in[2] : 0);
	char t[4];

	if (e->col >= MIME_QP_LINE) {
		mime_out_put(o, "\r\n", 2);
		e->col = 0;
	}
	t[0] = mime_enc_b64[(v >> 18) & 63];
	t[1] = mime_enc_b64[(v >> 12) & 63];
	t[2] = n > 1 ? mime_enc_b64[(v >> 6) & 63] : '=';
	t[3] = n > 2 ? mime_enc_b64[v & 63] : '=';
	mime_out_put(o, t, 4);
	e->col = (uint8_t)(e->col + 4);
	e->any = true;
}

void
mime_enc_put(struct mime_enc *e, const unsigned char *p, size_t n,
    struct mime_out *o)
{
	size_t k;

	for (k = 0; k < n; k++) {
		if (e->how == MIME_A_QP) {
			mime_enc_qp_byte(e, p[k], o);
			continue;
		}
		e->hold[e->nhold++] = p[k];
		if (e->nhold == 3) {
			mime_enc_b64_quad(e, e->hold, 3, o);
			e->nhold = 0;
		}
	}
}

void
mime_enc_end(struct mime_enc *e, bool eof, struct mime_out *o)
{
	if (e->how == MIME_A_QP) {
		mime_enc_qp_release(e, 0, true, o);
		if (eof && e->col > 0) {
			mime_out_put(o, "=\r\n", 3); /* adds no line break */
			e->col = 0;
		}
		return;
	}
	if (e->nhold > 0) {
		mime_enc_b64_quad(e, e->hold, e->nhold, o);
		e->nhold = 0;
	}
	if (eof && e->col > 0) {
		mime_out_put(o, "\r\n", 2);
		e->col = 0;
	}
}
