/*
 * fuzz_data.c — the DATA stream scanner. The input is the stream after
 * the 354; it is scanned whole, byte by byte, in pseudo-random pieces
 * (seeded from the input, so a replay is exact) and in place (out == in,
 * as smtpd does), with line_max 1000 and a small one.
 *
 * Properties (abort on violation): every way of feeding gives the same
 * bytes out, consumed count, flags, Received count and state; each call
 * consumes no more than given and writes no more than it consumed room
 * for (an exactly sized out buffer: ASan sees the rest); consumed is all
 * the input unless the end was found or a bare CR/LF stopped it; size
 * counts the output. A plain model of RFC 5321 4.1.1.4 / 4.5.2 (lines,
 * CRLF "." CRLF, dot removal, bare CR/LF, NUL, over-long lines, Received
 * in the header section) must agree.
 */
#include <string.h>

#include "fuzz.h"

#include "smtp/smtp.h"

struct fuzz_res {
	char *out;
	size_t outlen;
	size_t consumed;
	enum smtp_data_state state;
	uint32_t flags;
	uint32_t received;
};

/* What RFC 5321 says about the stream, computed line by line. */
struct fuzz_model {
	bool done; /* CRLF "." CRLF found, no bare CR/LF before */
	bool bare; /* a bare CR or LF before any end */
	size_t bare_at; /* its offset */
	size_t end; /* offset after the end line */
	size_t lines_end; /* offset after the last whole line */
	char *out; /* whole lines, dots removed */
	size_t outlen;
	uint32_t received;
	bool received_sure; /* no header line started with a dot */
	bool nul;
	bool long_line;
	bool long_sure; /* the dot does not decide a line's length */
};

static uint64_t
fuzz_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* chunk 0: pseudo-random pieces from seed */
static void
fuzz_scan(const char *in, size_t len, uint32_t line_max, size_t chunk,
    uint64_t seed, bool in_place, struct fuzz_res *res)
{
	struct smtp_data d;
	size_t pos = 0;

	memset(res, 0, sizeof(*res));
	res->out = malloc(len + 1);
	FUZZ_CHECK(res->out != NULL);
	smtp_data_init(&d, line_max);
	while (pos < len) {
		size_t n = chunk != 0 ? chunk : 1 + fuzz_rand(&seed) % 97;
		char *ci;
		char *co;
		size_t ol = (size_t)-1;
		size_t c;

		n = n < len - pos ? n : len - pos;
		ci = malloc(n);
		FUZZ_CHECK(ci != NULL);
		memcpy(ci, in + pos, n);
		co = in_place ? ci : malloc(n);
		FUZZ_CHECK(co != NULL);
		c = smtp_data_scan(&d, ci, n, co, &ol);
		FUZZ_CHECK(c <= n);
		FUZZ_CHECK(ol <= n);
		memcpy(res->out + res->outlen, co, ol);
		res->outlen += ol;
		pos += c;
		if (co != ci) {
			free(co);
		}
		free(ci);
		FUZZ_CHECK(res->outlen <= pos);
		FUZZ_CHECK(d.size == res->outlen);
		if (d.state == SMTP_DS_DONE || (d.flags & SMTP_DATA_BARE_NL)) {
			break;
		}
		FUZZ_CHECK(c == n);
	}
	res->consumed = pos;
	res->state = d.state;
	res->flags = d.flags;
	res->received = d.received;
}

static void
fuzz_same(const struct fuzz_res *a, const struct fuzz_res *b)
{
	FUZZ_CHECK(a->consumed == b->consumed);
	FUZZ_CHECK(a->state == b->state);
	FUZZ_CHECK(a->flags == b->flags);
	FUZZ_CHECK(a->received == b->received);
	FUZZ_CHECK(a->outlen == b->outlen);
	FUZZ_CHECK(memcmp(a->out, b->out, a->outlen) == 0);
}

static bool
fuzz_is_received(const char *l, size_t n)
{
	static const char name[] = "received:";
	size_t i;

	if (n < sizeof(name) - 1) {
		return false;
	}
	for (i = 0; i < sizeof(name) - 1; i++) {
		char c = l[i];

		if (c >= 'A' && c <= 'Z') {
			c = (char)(c - 'A' + 'a');
		}
		if (c != name[i]) {
			return false;
		}
	}
	return true;
}

/* One whole line [pos, eol) ending in CRLF at eol; false at the end. */
static bool
fuzz_model_line(struct fuzz_model *m, const char *in, size_t pos, size_t eol,
    uint32_t line_max, bool *in_header)
{
	const char *l = in + pos;
	size_t n = eol - pos;
	bool dot = n > 0 && l[0] == '.';
	bool long_wire = n + 2 > line_max;
	bool long_text = n + 2 - (dot ? 1 : 0) > line_max;

	if (n == 1 && dot) {
		m->done = true;
		m->end = eol + 2;
		return false;
	}
	m->long_line = m->long_line || long_wire;
	m->long_sure = m->long_sure && long_wire == long_text;
	if (memchr(l, '\0', n) != NULL) {
		m->nul = true;
	}
	if (*in_header) {
		if (n == 0) {
			*in_header = false;
		} else if (dot) {
			m->received_sure = false;
		} else if (fuzz_is_received(l, n)) {
			m->received++;
		}
	}
	if (dot) {
		l++;
		n--;
	}
	memcpy(m->out + m->outlen, l, n);
	memcpy(m->out + m->outlen + n, "\r\n", 2);
	m->outlen += n + 2;
	m->lines_end = eol + 2;
	return true;
}

static void
fuzz_model_run(const char *in, size_t len, uint32_t line_max,
    struct fuzz_model *m)
{
	bool in_header = true;
	size_t pos = 0;
	size_t i;

	memset(m, 0, sizeof(*m));
	m->out = malloc(len + 2);
	FUZZ_CHECK(m->out != NULL);
	m->received_sure = true;
	m->long_sure = true;
	for (i = 0; i < len; i++) {
		if (in[i] == '\n') {
			m->bare = true; /* no CR before it */
			m->bare_at = i;
			return;
		}
		if (in[i] != '\r') {
			continue;
		}
		if (i + 1 == len) {
			return; /* undecided yet */
		}
		if (in[i + 1] != '\n') {
			m->bare = true;
			m->bare_at = i;
			return;
		}
		if (!fuzz_model_line(m, in, pos, i, line_max, &in_header)) {
			return;
		}
		i++;
		pos = i + 1;
	}
}

static void
fuzz_against_model(const char *in, size_t len, uint32_t line_max,
    const struct fuzz_res *r)
{
	struct fuzz_model m;

	fuzz_model_run(in, len, line_max, &m);
	if (m.bare) {
		FUZZ_CHECK(r->flags & SMTP_DATA_BARE_NL);
		/* stopped at it: a CR is judged by the byte after it */
		FUZZ_CHECK(r->consumed <= m.bare_at + 2);
		/* the whole lines before it came out as they should */
		FUZZ_CHECK(r->outlen >= m.outlen || r->consumed < m.lines_end);
	} else {
		FUZZ_CHECK(!(r->flags & SMTP_DATA_BARE_NL));
	}
	if (m.done) {
		FUZZ_CHECK(r->state == SMTP_DS_DONE);
		FUZZ_CHECK(r->consumed == m.end);
		FUZZ_CHECK(r->outlen == m.outlen);
		FUZZ_CHECK(memcmp(r->out, m.out, m.outlen) == 0);
		FUZZ_CHECK(!!(r->flags & SMTP_DATA_NUL) == m.nul);
		if (m.long_sure) {
			FUZZ_CHECK(
			    !!(r->flags & SMTP_DATA_LONG_LINE) == m.long_line);
		}
		if (m.received_sure) {
			FUZZ_CHECK(r->received == m.received);
		}
	} else if (!m.bare) {
		FUZZ_CHECK(r->state != SMTP_DS_DONE);
		FUZZ_CHECK(r->consumed == len);
		/* whole lines are out; a partial one at most in part */
		FUZZ_CHECK(r->outlen >= m.outlen);
		FUZZ_CHECK(memcmp(r->out, m.out, m.outlen) == 0);
		FUZZ_CHECK(r->outlen - m.outlen <= len - m.lines_end);
		if (m.nul) {
			FUZZ_CHECK(r->flags & SMTP_DATA_NUL);
		}
		if (m.long_sure && m.long_line) {
			FUZZ_CHECK(r->flags & SMTP_DATA_LONG_LINE);
		}
	}
	free(m.out);
}

static void
fuzz_data_one(const char *in, size_t len, uint32_t line_max, uint64_t seed)
{
	struct fuzz_res whole;
	struct fuzz_res r;
	int i;

	fuzz_scan(in, len, line_max, len == 0 ? 1 : len, 0, false, &whole);
	fuzz_against_model(in, len, line_max, &whole);
	for (i = 0; i < 4; i++) {
		size_t chunk = i == 0 ? 1 : 0;

		fuzz_scan(in, len, line_max, chunk, seed + (uint64_t)i, i >= 2,
		    &r);
		fuzz_same(&whole, &r);
		free(r.out);
	}
	free(whole.out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	size_t i;

	for (i = 0; i < size; i++) {
		seed = (seed ^ data[i]) * 0x100000001b3ull;
	}
	seed |= 1;
	fuzz_data_one(in, size, 1000, seed);
	fuzz_data_one(in, size, 16, seed);
	return 0;
}
