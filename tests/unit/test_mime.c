/*
 * test_mime.c — the 8bit/binary -> 7bit converter (src/dsn/mime_*.c):
 * the header pieces (RFC 2045 5.1 Content-Type and its boundary, 6.1
 * Content-Transfer-Encoding, RFC 2046 5.1.1 boundary lines), the two
 * encoders (RFC 2045 6.7 quoted-printable, 6.8 base64) and whole
 * messages as golden files.
 *
 * Golden cases: golden/mime/NAME.in is a stored message; the .ref is the
 * plan's verdict and, when it converts, the converted text (one output
 * line per .ref line). Every case is converted fed whole, byte by byte
 * and in odd pieces into a small output buffer: the texts must agree and
 * their size must equal the counting pass's. tests/integ/test_mime.py
 * decodes the converted golden texts with Python's email package and
 * compares every leaf with the original.
 */
#include <stdlib.h>

#include "tu.h"

#include "dsn/dsn.h"

/* ---- the header pieces ------------------------------------------------ */

static void
ctype(const char *s, struct mime_ctype *ct)
{
	char *c = tu_dup(s, strlen(s));

	mime_ctype_parse(c, strlen(s), ct);
	free(c);
}

static void
test_ctype(void **state)
{
	struct mime_ctype ct;

	ctype("text/plain; charset=utf-8", &ct);
	assert_int_equal(ct.kind, MIME_K_TEXT);
	assert_int_equal(ct.boundary_len, 0);
	ctype(" Multipart/Mixed ; (a comment; boundary=no)\r\n boundary=\"a "
	      "b;c\"",
	    &ct);
	assert_int_equal(ct.kind, MIME_K_MULTIPART);
	assert_string_equal(ct.boundary, "a b;c");
	ctype("multipart/digest; boundary=xyz; boundary=second", &ct);
	assert_true(ct.digest);
	assert_string_equal(ct.boundary, "xyz");
	ctype("message/rfc822", &ct);
	assert_int_equal(ct.kind, MIME_K_RFC822);
	ctype("message/partial; id=1", &ct);
	assert_int_equal(ct.kind, MIME_K_MSG_STRICT);
	ctype("application/octet-stream", &ct);
	assert_int_equal(ct.kind, MIME_K_OTHER);
	/* RFC 2045 5.2: unreadable is text/plain */
	ctype("garbage", &ct);
	assert_int_equal(ct.kind, MIME_K_TEXT);
	assert_true(ct.bad);
	ctype("multipart/mixed; boundary=\"\"", &ct);
	assert_true(ct.bad_boundary);
	/* RFC 2046 5.1.1: at most 70 characters */
	ctype("multipart/mixed; boundary=1234567890123456789012345678901234567"
	      "8901234567890123456789012345678901",
	    &ct);
	assert_true(ct.bad_boundary);
	assert_int_equal(ct.boundary_len, 0);
}

static void
test_cte(void **state)
{
	assert_int_equal(mime_cte_parse(" 8BIT ", 6), MIME_CTE_8BIT);
	assert_int_equal(mime_cte_parse("7bit (plain)", 12), MIME_CTE_7BIT);
	assert_int_equal(mime_cte_parse("binary", 6), MIME_CTE_BINARY);
	assert_int_equal(mime_cte_parse("Quoted-Printable", 16), MIME_CTE_QP);
	assert_int_equal(mime_cte_parse("base64", 6), MIME_CTE_BASE64);
	assert_int_equal(mime_cte_parse("x-uuencode", 10), MIME_CTE_OTHER);
	assert_int_equal(mime_cte_parse("base64 junk", 11), MIME_CTE_OTHER);
	assert_int_equal(mime_cte_parse("  ", 2), MIME_CTE_NONE);
}

static void
test_boundary(void **state)
{
	assert_int_equal(mime_boundary_match("--b", 3, "b", 1), 1);
	assert_int_equal(mime_boundary_match("--b--", 5, "b", 1), 2);
	assert_int_equal(mime_boundary_match("--b-- \t", 7, "b", 1), 2);
	assert_int_equal(mime_boundary_match("--b \t", 5, "b", 1), 1);
	assert_int_equal(mime_boundary_match("--bx", 4, "b", 1), 0);
	assert_int_equal(mime_boundary_match("--b-", 4, "b", 1), 0);
	assert_int_equal(mime_boundary_match("-b", 2, "b", 1), 0);
	assert_int_equal(mime_boundary_match("--", 2, "b", 1), 0);
	assert_int_equal(mime_field_name("Subject: x", 10), 7);
	assert_int_equal(mime_field_name("Sub ject: x", 11), -1);
	assert_int_equal(mime_field_name(": x", 3), -1);
	assert_int_equal(mime_field_name("no colon", 8), -1);
}

/* ---- the encoders ------------------------------------------------------ */

#define ENC(how, lit, eof, out) enc((how), (lit), sizeof(lit) - 1, (eof), (out))

static size_t
enc(enum mime_action how, const char *in, size_t n, bool eof, char *out)
{
	struct mime_enc e;
	struct mime_out o = { (unsigned char *)out, 0, 4096, 0 };
	size_t k;

	mime_enc_start(&e, how);
	for (k = 0; k < n; k++) { /* byte by byte: the state carries */
		mime_enc_put(&e, (const unsigned char *)in + k, 1, &o);
	}
	mime_enc_end(&e, eof, &o);
	out[o.len] = '\0';
	return o.len;
}

static void
test_qp(void **state)
{
	char out[4096], in[200];

	ENC(MIME_A_QP, "caf\xc3\xa9 = ok\r\n", false, out);
	assert_string_equal(out, "caf=C3=A9 =3D ok\r\n");
	/* rule 3: white space before a line end or the end is encoded */
	ENC(MIME_A_QP, "a \r\nb\t", false, out);
	assert_string_equal(out, "a=20\r\nb=09");
	/* a dot at the start of a line; a bare CR or LF stays faithful */
	ENC(MIME_A_QP, ".\r\n.x\ry\nz", false, out);
	assert_string_equal(out, "=2E\r\n=2Ex=0Dy=0Az");
	/* at the end of the text: a soft break adds no line end */
	ENC(MIME_A_QP, "abc", true, out);
	assert_string_equal(out, "abc=\r\n");
	/* lines of at most 76 characters, soft breaks included */
	memset(in, 'x', 100);
	enc(MIME_A_QP, in, 100, false, out);
	assert_int_equal(strchr(out, '\r') - out, 76);
	assert_memory_equal(out + 75, "=\r\n", 3);
	memset(in, 0xff, 100);
	enc(MIME_A_QP, in, 100, false, out);
	assert_int_equal(strchr(out, '\r') - out, 76);
}

static void
test_b64(void **state)
{
	char out[4096], in[120];

	/* RFC 4648 10 */
	ENC(MIME_A_B64, "foobar", false, out);
	assert_string_equal(out, "Zm9vYmFy");
	ENC(MIME_A_B64, "fooba", false, out);
	assert_string_equal(out, "Zm9vYmE=");
	ENC(MIME_A_B64, "f", true, out);
	assert_string_equal(out, "Zg==\r\n");
	ENC(MIME_A_B64, "", true, out);
	assert_string_equal(out, "");
	memset(in, 0, sizeof(in));
	enc(MIME_A_B64, in, 120, false, out);
	assert_int_equal(strchr(out, '\r') - out, 76);
	assert_int_equal(strlen(out), 160 + 4); /* 76 + 76 + 8, no CRLF last */
}

/* ---- whole messages ---------------------------------------------------- */

struct conv_res {
	enum mime_verdict verdict;
	const char *why;
	unsigned char *text;
	size_t len;
	uint64_t counted;
};

/* The emit pass in pieces of `piece` into an output of `room`. */
static void
conv_emit(struct mime_conv *c, const char *in, size_t len, size_t piece,
    size_t room, struct conv_res *r)
{
	unsigned char *stage = malloc(room);
	struct mime_out o;
	size_t pos = 0, used;

	assert_non_null(stage);
	r->text = malloc(len * 4 + 65536);
	r->len = 0;
	mime_conv_start(c, MIME_PASS_EMIT);
	for (;;) {
		o = (struct mime_out){ stage, 0, room, 0 };
		while (pos < len && o.cap - o.len >= MIME_OUT_RESERVE) {
			char *p = tu_dup(in + pos, MIN(piece, len - pos));

			used = mime_conv_feed(c, p, MIN(piece, len - pos), &o);
			free(p);
			assert_true(used <= piece);
			pos += used;
		}
		if (pos == len && o.cap - o.len >= MIME_OUT_RESERVE) {
			mime_conv_end(c, &o);
			memcpy(r->text + r->len, stage, o.len);
			r->len += o.len;
			break;
		}
		memcpy(r->text + r->len, stage, o.len);
		r->len += o.len;
	}
	free(stage);
}

static void
conv_run(const char *in, size_t len, size_t piece, size_t room,
    struct conv_res *r)
{
	static struct mime_conv c;
	struct mime_out count = { NULL, 0, 0, 0 };
	size_t pos;

	memset(r, 0, sizeof(*r));
	mime_conv_start(&c, MIME_PASS_PLAN);
	for (pos = 0; pos < len; pos += MIN(piece, len - pos)) {
		assert_int_equal(mime_conv_feed(&c, in + pos,
		                     MIN(piece, len - pos), &count),
		    MIN(piece, len - pos));
	}
	mime_conv_end(&c, &count);
	r->verdict = c.verdict;
	r->why = c.why;
	if (r->verdict != MIME_V_CONVERT) {
		return;
	}
	mime_conv_start(&c, MIME_PASS_EMIT);
	mime_conv_feed(&c, in, len, &count);
	mime_conv_end(&c, &count);
	r->counted = count.total;
	conv_emit(&c, in, len, piece, room, r);
	assert_int_equal(r->len, r->counted);
}

/* The converted text is 7bit: short CRLF lines, no NUL, no 8-bit. */
static void
conv_check_7bit(const unsigned char *t, size_t n)
{
	size_t k, col = 0;

	for (k = 0; k < n; k++) {
		assert_true(t[k] > 0 && t[k] < 128);
		if (t[k] == '\r') {
			assert_true(k + 1 < n && t[k + 1] == '\n');
		} else if (t[k] == '\n') {
			assert_true(k > 0 && t[k - 1] == '\r');
			col = 0;
		} else {
			assert_true(++col <= 998);
		}
	}
}

static void
mime_render(const char *in, size_t len, struct tu_out *o)
{
	static const char *const v[] = { "CLEAN", "CONVERT", "IMPOSSIBLE" };
	static const size_t pieces[] = { 1, 7, 4093 };
	struct conv_res whole, r;
	size_t k, start = 0;

	conv_run(in, len, len + 1, 1 << 20, &whole);
	tu_outf(o, "verdict=%s\n", v[whole.verdict]);
	if (whole.verdict == MIME_V_IMPOSSIBLE) {
		tu_outf(o, "why=%s\n", whole.why);
	}
	if (whole.verdict != MIME_V_CONVERT) {
		return;
	}
	conv_check_7bit(whole.text, whole.len);
	for (k = 0; k < ARRAY_SIZE(pieces); k++) {
		conv_run(in, len, pieces[k], MIME_OUT_RESERVE + 5 + k, &r);
		tu_assert_mem_eq((char *)r.text, r.len, (char *)whole.text,
		    whole.len);
		free(r.text);
	}
	tu_outf(o, "size=%zu\n", whole.len);
	for (k = 0; k < whole.len; k++) {
		if (whole.text[k] == '\n' || k + 1 == whole.len) {
			tu_out_esc(o, (char *)whole.text + start,
			    k + 1 - start);
			tu_outf(o, "\n");
			start = k + 1;
		}
	}
	free(whole.text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctype),
		cmocka_unit_test(test_cte),
		cmocka_unit_test(test_boundary),
		cmocka_unit_test(test_qp),
		cmocka_unit_test(test_b64),
	};

	return tu_run("mime", tests, ARRAY_SIZE(tests), "mime", mime_render);
}
