/*
 * test_smtp_data.c — the DATA stream scanner (src/smtp/smtp_data.c):
 * RFC 5321 4.1.1.4 (the data ends with CRLF "." CRLF), 4.5.2
 * (transparency: a leading dot is removed), 2.3.8 (no bare CR or LF: the
 * SMTP smuggling family is refused, never taken as an end of data),
 * 4.5.3.1.6 (text lines of at most 1000 octets with CRLF), 6.3 (Received
 * headers are counted for loop detection).
 *
 * Every input is also fed in pieces of 1, 2, 3, 5 and 64 bytes, and
 * scanned in place (out == in, as smtpd does): the result must not depend
 * on where the network split it. Golden cases:
 * golden/smtp_data/NAME.in hold an options line ("line_max=N") and then the
 * raw stream, untouched.
 */
#include <stdlib.h>

#include "tu.h"

#include "smtp/smtp.h"

struct data_res {
	char *out;
	size_t outlen;
	size_t consumed;
	enum smtp_data_state state;
	uint32_t flags;
	uint32_t received;
	uint64_t size;
	bool in_header;
};

/* Feed in pieces of `chunk`; in place (out == in) as smtpd does, or not. */
static void
data_run(const char *in, size_t len, uint32_t line_max, size_t chunk,
    bool in_place, struct data_res *res)
{
	struct smtp_data d;
	size_t pos = 0;

	memset(res, 0, sizeof(*res));
	res->out = malloc(len + 1);
	assert_non_null(res->out);
	smtp_data_init(&d, line_max);
	assert_int_equal(d.state, SMTP_DS_BOL);
	assert_int_equal(d.flags, 0);
	assert_int_equal(d.size, 0);
	assert_int_equal(d.received, 0);
	while (pos < len) {
		size_t n = MIN(chunk, len - pos);
		char *ci = tu_dup(in + pos, n);
		char *co = in_place ? ci : malloc(n); /* exactly the room */
		size_t ol = (size_t)-1;
		size_t c;

		assert_non_null(co);
		c = smtp_data_scan(&d, ci, n, co, &ol);
		assert_true(c <= n);
		assert_true(ol <= n);
		memcpy(res->out + res->outlen, co, ol);
		res->outlen += ol;
		pos += c;
		if (co != ci) {
			free(co);
		}
		free(ci);
		/* the message never grows: dots are only taken away */
		assert_true(res->outlen <= pos);
		if (d.state == SMTP_DS_DONE ||
		    (d.flags & SMTP_DATA_BARE_NL) != 0) {
			break;
		}
		assert_int_equal(c, n); /* all of it unless the end was found */
	}
	res->consumed = pos;
	res->state = d.state;
	res->flags = d.flags;
	res->received = d.received;
	res->size = d.size;
	res->in_header = d.in_header;
	assert_int_equal(res->size, res->outlen);
}

/* The result of feeding it whole, checked equal for smaller pieces. */
static void
data_check(const char *in, size_t len, uint32_t line_max,
    struct data_res *whole)
{
	static const size_t chunks[] = { 1, 2, 3, 5, 64, SIZE_MAX };
	struct data_res r;
	size_t i;

	data_run(in, len, line_max, len == 0 ? 1 : len, false, whole);
	for (i = 0; i < 2 * ARRAY_SIZE(chunks); i++) {
		data_run(in, len, line_max, chunks[i / 2], i % 2 == 1, &r);
		if (r.consumed != whole->consumed || r.state != whole->state ||
		    r.flags != whole->flags || r.received != whole->received ||
		    r.in_header != whole->in_header) {
			fail_msg("pieces of %zu%s: consumed %zu state %d flags "
			         "%u "
			         "received %u; whole: %zu %d %u %u",
			    chunks[i / 2], i % 2 == 1 ? " in place" : "",
			    r.consumed, r.state, r.flags, r.received,
			    whole->consumed, whole->state, whole->flags,
			    whole->received);
		}
		tu_assert_mem_eq(r.out, r.outlen, whole->out, whole->outlen);
		free(r.out);
	}
}

/* A message that ends cleanly with the expected output. */
static void
assert_message(const char *in, size_t len, const char *out, size_t consumed)
{
	struct data_res r;

	data_check(in, len, 1000, &r);
	assert_int_equal(r.state, SMTP_DS_DONE);
	assert_int_equal(r.flags, 0);
	assert_int_equal(r.consumed, consumed);
	tu_assert_mem_eq(r.out, r.outlen, out, strlen(out));
	free(r.out);
}

#define MSG(in, out) assert_message((in), sizeof(in) - 1, (out), sizeof(in) - 1)

static void
test_simple(void **state)
{
	MSG("Subject: hi\r\n\r\nHello\r\n.\r\n",
	    "Subject: hi\r\n\r\nHello\r\n");
	MSG("a\r\n.\r\n", "a\r\n");
	MSG("\r\n.\r\n", "\r\n");
	MSG("\r\n\r\n\r\n.\r\n", "\r\n\r\n\r\n");
}

/* Right after the 354 the scanner is at the start of a line. */
static void
test_empty_message(void **state)
{
	MSG(".\r\n", "");
}

/* Bytes after the end belong to the next (pipelined) command. */
static void
test_pipelined(void **state)
{
	static const char in[] = "a\r\n.\r\nQUIT\r\n";
	static const char in2[] = ".\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n";

	assert_message(in, sizeof(in) - 1, "a\r\n", 6);
	assert_message(in2, sizeof(in2) - 1, "", 3);
}

static void
test_not_done(void **state)
{
	static const char *parts[] = { "", "a", "a\r", "a\r\n", "a\r\n.",
		"a\r\n.\r", "a\r\nb\r\n", "a.\r\n", "a\r\n..\r\n",
		"a\r\n. \r\n", "a\r\n.x\r\n" };
	struct data_res r;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(parts); i++) {
		data_check(parts[i], strlen(parts[i]), 1000, &r);
		assert_int_not_equal(r.state, SMTP_DS_DONE);
		assert_int_equal(r.flags, 0);
		assert_int_equal(r.consumed, strlen(parts[i]));
		free(r.out);
	}
}

/* RFC 5321 4.5.2: the first dot of a line is removed. */
static void
test_dot_stuffing(void **state)
{
	MSG("..\r\n.\r\n", ".\r\n");
	MSG("..a\r\n.\r\n", ".a\r\n");
	MSG("...\r\n.\r\n", "..\r\n");
	MSG("a\r\n..\r\nb\r\n.\r\n", "a\r\n.\r\nb\r\n");
	/* not stuffed by the client: still removed */
	MSG(".a\r\n.\r\n", "a\r\n");
	MSG(". \r\n.\r\n", " \r\n");
	/* a dot inside a line stays */
	MSG("a.b\r\n.\r\n", "a.b\r\n");
	MSG("a.\r\n.\r\n", "a.\r\n");
	MSG("a\r\n.\r\n", "a\r\n");
}

/* 8-bit and binary bytes pass through (8BITMIME); CRLF is kept. */
static void
test_eight_bit(void **state)
{
	MSG("\xff\xfe\x80\r\n\x01\x7f\r\n.\r\n",
	    "\xff\xfe\x80\r\n\x01\x7f\r\n");
	MSG("\t tab\r\n.\r\n", "\t tab\r\n");
}

/*
 * A stream that must be refused as a bare CR/LF: the flag is set and the
 * scan stopped at the offending byte (a CR is judged by the next one), so
 * nothing after it is taken as an end of data or as the next command.
 * The state it stops in is the scanner's affair (smtpd checks the flag
 * first).
 */
static void
assert_bare(const char *in, size_t len, size_t bad_at)
{
	struct data_res r;

	data_check(in, len, 1000, &r);
	if (!(r.flags & SMTP_DATA_BARE_NL)) {
		fail_msg("bare CR/LF at %zu not flagged", bad_at);
	}
	if (r.consumed > bad_at + 2) {
		fail_msg("bare CR/LF at %zu: scan went on to %zu", bad_at,
		    r.consumed);
	}
	free(r.out);
}

#define BARE(in, at) assert_bare((in), sizeof(in) - 1, (at))

/*
 * The SMTP smuggling family (CVE-2023-51764/5/6): an end of data made of
 * bare LF or CR that a downstream server would take for CRLF.CRLF.
 */
static void
test_smuggling(void **state)
{
	BARE("a\n.\r\nMAIL FROM:<x@y>\r\n", 1);
	BARE("a\r\n.\nMAIL FROM:<x@y>\r\n", 4);
	BARE("a\n.\nMAIL FROM:<x@y>\r\n", 1);
	BARE("a\r.\r\nMAIL FROM:<x@y>\r\n", 1);
	BARE("a\r\n.\rMAIL FROM:<x@y>\r\n", 4);
	BARE("a\r.\rMAIL FROM:<x@y>\r\n", 1);
	BARE("a\r\n\n.\r\n", 3);
	BARE("a\r\r\n.\r\n", 1);
	BARE("\n.\r\n", 0);
	BARE(".\n", 1);
	BARE(".\r.\r\n", 1);
	BARE("\r\n.\n\r\n", 3);
}

static void
test_bare_in_text(void **state)
{
	BARE("abc\ndef\r\n.\r\n", 3);
	BARE("abc\rdef\r\n.\r\n", 3);
	BARE("Subject: x\r\n\r\nbody\n\r\n.\r\n", 18);
	BARE("\r\r\n.\r\n", 0);
	BARE("\n", 0);
}

/* NUL: flagged (554 after the end), and the end is still found. */
static void
test_nul(void **state)
{
	static const char in[] = "a\0b\r\n.\r\n";
	static const char in2[] = "\0\r\n.\r\nQUIT\r\n";
	struct data_res r;

	data_check(in, sizeof(in) - 1, 1000, &r);
	assert_int_equal(r.state, SMTP_DS_DONE);
	assert_int_equal(r.flags, SMTP_DATA_NUL);
	assert_int_equal(r.consumed, sizeof(in) - 1);
	free(r.out);
	data_check(in2, sizeof(in2) - 1, 1000, &r);
	assert_int_equal(r.state, SMTP_DS_DONE);
	assert_int_equal(r.flags, SMTP_DATA_NUL);
	assert_int_equal(r.consumed, 6);
	free(r.out);
}

/* line_max includes the CRLF (RFC 5321 4.5.3.1.6). */
static void
test_long_line(void **state)
{
	static const char ok[] = "12345678\r\nabcdefgh\r\n.\r\n";
	static const char bad[] = "123456789\r\n.\r\nQUIT\r\n";
	struct data_res r;

	data_check(ok, sizeof(ok) - 1, 10, &r);
	assert_int_equal(r.state, SMTP_DS_DONE);
	assert_int_equal(r.flags, 0);
	tu_assert_mem_eq(r.out, r.outlen, "12345678\r\nabcdefgh\r\n", 20);
	free(r.out);
	/* flagged, and the scan goes on to the end of data */
	data_check(bad, sizeof(bad) - 1, 10, &r);
	assert_int_equal(r.state, SMTP_DS_DONE);
	assert_int_equal(r.flags, SMTP_DATA_LONG_LINE);
	assert_int_equal(r.consumed, 14);
	free(r.out);
}

static void
test_long_line_1000(void **state)
{
	static char in[4096];
	struct data_res r;
	size_t n;

	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n.\r\n", 5);
	n = 1003;
	data_check(in, n, 1000, &r);
	assert_int_equal(r.state, SMTP_DS_DONE);
	assert_int_equal(r.flags, 0);
	assert_int_equal(r.outlen, 1000);
	free(r.out);
	memset(in, 'x', 999);
	memcpy(in + 999, "\r\n.\r\n", 5);
	n = 1004;
	data_check(in, n, 1000, &r);
	assert_int_equal(r.state, SMTP_DS_DONE);
	assert_int_equal(r.flags, SMTP_DATA_LONG_LINE);
	free(r.out);
	/* far longer than any buffer: still one flag, still the end */
	memset(in, 'y', 4000);
	memcpy(in + 4000, "\r\n.\r\n", 5);
	n = 4005;
	data_check(in, n, 1000, &r);
	assert_int_equal(r.state, SMTP_DS_DONE);
	assert_int_equal(r.flags, SMTP_DATA_LONG_LINE);
	assert_int_equal(r.consumed, n);
	free(r.out);
}

static void
test_flags_combine(void **state)
{
	static const char in[] = "12345678901\r\na\0\r\n.\r\n";
	struct data_res r;

	data_check(in, sizeof(in) - 1, 10, &r);
	assert_int_equal(r.state, SMTP_DS_DONE);
	assert_int_equal(r.flags, SMTP_DATA_LONG_LINE | SMTP_DATA_NUL);
	free(r.out);
}

static uint32_t
data_received(const char *in)
{
	struct data_res r;
	uint32_t n;

	data_check(in, strlen(in), 1000, &r);
	assert_int_equal(r.state, SMTP_DS_DONE);
	assert_int_equal(r.flags, 0);
	n = r.received;
	free(r.out);
	return n;
}

/* Received: header fields of the header section (RFC 5321 6.3). */
static void
test_received(void **state)
{
	assert_int_equal(data_received("Subject: x\r\n\r\nbody\r\n.\r\n"), 0);
	assert_int_equal(data_received("Received: from a\r\n"
	                               "Received: from b\r\n\tby c\r\nSubject: "
	                               "x\r\n\r\nbody\r\n.\r\n"),
	    2);
	/* field names are case-insensitive (RFC 5322 1.2.2) */
	assert_int_equal(data_received("received: a\r\nRECEIVED: b\r\n"
	                               "ReCeIvEd: c\r\n\r\n.\r\n"),
	    3);
	assert_int_equal(data_received("Received:\r\n\r\n.\r\n"), 1);
	/* other fields that merely start alike */
	assert_int_equal(data_received("Received-SPF: pass\r\n"
	                               "X-Received: x\r\nReceivedx: "
	                               "y\r\nReceive: z\r\n\r\n.\r\n"),
	    0);
	/* a folded continuation is not a new field */
	assert_int_equal(data_received("Subject: a\r\n Received: b\r\n"
	                               "\tReceived: c\r\n\r\n.\r\n"),
	    0);
	/* the body does not count */
	assert_int_equal(data_received("Received: a\r\n\r\nReceived: b\r\n"
	                               "Received: c\r\n.\r\n"),
	    1);
	assert_int_equal(data_received("\r\nReceived: a\r\n.\r\n"), 0);
}

static void
test_received_many(void **state)
{
	static char in[100 * 40 + 64];
	struct data_res r;
	size_t n = 0;
	int i;

	for (i = 0; i < 100; i++) {
		n += (size_t)sprintf(in + n, "Received: from h%d by x\r\n", i);
	}
	n += (size_t)sprintf(in + n, "\r\nbody\r\n.\r\n");
	data_check(in, n, 1000, &r);
	assert_int_equal(r.state, SMTP_DS_DONE);
	assert_int_equal(r.received, 100);
	assert_int_equal(r.consumed, n);
	tu_assert_mem_eq(r.out, r.outlen, in, n - 3);
	free(r.out);
}

static void
test_header_state(void **state)
{
	struct data_res r;

	data_check("Subject: x\r\n", 12, 1000, &r);
	assert_true(r.in_header);
	free(r.out);
	data_check("Subject: x\r\n\r\nbody", 18, 1000, &r);
	assert_false(r.in_header);
	free(r.out);
}

static void
test_zero_input(void **state)
{
	struct smtp_data d;
	char out[1];
	size_t ol = 99;

	smtp_data_init(&d, 1000);
	assert_int_equal(smtp_data_scan(&d, "", 0, out, &ol), 0);
	assert_int_equal(ol, 0);
	assert_int_equal(d.state, SMTP_DS_BOL);
	assert_int_equal(d.line_max, 1000);
}

static const char *
data_state_name(enum smtp_data_state s)
{
	static const char *names[] = { "BOL", "TEXT", "CR", "DOT", "DOT_CR",
		"DONE" };

	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "?";
}

static void
data_render(const char *in, size_t len, struct tu_out *o)
{
	const char *nl = memchr(in, '\n', len);
	const char *text;
	struct data_res r;
	size_t tlen;

	if (nl == NULL) {
		fail_msg("golden .in without an options line");
	}
	text = nl + 1;
	tlen = len - (size_t)(text - in);
	data_check(text, tlen,
	    (uint32_t)tu_opt_num(in, (size_t)(nl - in), "line_max", 1000), &r);
	if (r.flags & SMTP_DATA_BARE_NL) {
		/* where it stops and in which state is the scanner's affair */
		tu_outf(o, "refused=BARE_NL\n");
		free(r.out);
		return;
	}
	tu_outf(o, "state=%s consumed=%zu received=%u flags=%s%s%s%s\n",
	    data_state_name(r.state), r.consumed, r.received,
	    r.flags == 0 ? "0" : "",
	    (r.flags & SMTP_DATA_LONG_LINE) ? "LONG_LINE" : "",
	    r.flags == (SMTP_DATA_LONG_LINE | SMTP_DATA_NUL) ? "|" : "",
	    (r.flags & SMTP_DATA_NUL) ? "NUL" : "");
	if (r.flags == 0) {
		/* a refused message is never stored: its bytes do not matter */
		tu_outf(o, "size=%llu out=", (unsigned long long)r.size);
		tu_out_esc(o, r.out, r.outlen);
		tu_outf(o, "\n");
	}
	free(r.out);
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_not_done),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_eight_bit),
		cmocka_unit_test(test_smuggling),
		cmocka_unit_test(test_bare_in_text),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_long_line_1000),
		cmocka_unit_test(test_flags_combine),
		cmocka_unit_test(test_received),
		cmocka_unit_test(test_received_many),
		cmocka_unit_test(test_header_state),
		cmocka_unit_test(test_zero_input),
	};

	return tu_run("smtp_data", tests, ARRAY_SIZE(tests), "smtp_data",
	    data_render);
}
