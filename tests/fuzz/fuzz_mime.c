/*
 * fuzz_mime.c — the 8bit/binary -> 7bit converter (src/dsn/mime_*.c) on
 * arbitrary messages. The plan pass takes every byte; when it says
 * CONVERT, the emit pass is run whole and in pseudo-random pieces (seeded
 * from the input, so a replay is exact) into a small output buffer.
 *
 * Properties (abort on violation): every way of feeding gives the same
 * text, of the size the counting pass gave; a feed never writes past the
 * room it was given (mime_out_put panics otherwise) and consumes no more
 * than given, and at least one byte when the room is there; the text is
 * 7bit (octets 1-127, CR and LF only as CRLF, lines of at most 998
 * octets); CLEAN and IMPOSSIBLE come from the plan alone (a second plan
 * pass agrees); IMPOSSIBLE has a reason.
 */
#include <string.h>

#include "fuzz.h"

#include "dsn/dsn.h"

static struct mime_conv fuzz_conv;
static unsigned char fuzz_text[2][1 << 20];

static uint64_t
fuzz_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* The emit pass; piece 0: random pieces. Returns the length written. */
static size_t
fuzz_emit(const uint8_t *data, size_t size, size_t piece, uint64_t seed,
    unsigned char *text)
{
	unsigned char stage[MIME_OUT_RESERVE + 97];
	struct mime_out o;
	size_t pos = 0, len = 0, n, used;
	bool ended;

	mime_conv_start(&fuzz_conv, MIME_PASS_EMIT);
	for (;;) {
		o = (struct mime_out){ stage, 0, sizeof(stage), 0 };
		while (pos < size && o.cap - o.len >= MIME_OUT_RESERVE) {
			n = piece != 0 ? piece : 1 + fuzz_rand(&seed) % 64;
			n = n < size - pos ? n : size - pos;
			used = mime_conv_feed(&fuzz_conv, data + pos, n, &o);
			FUZZ_CHECK(used <= n && used > 0);
			pos += used;
		}
		ended = pos == size && o.cap - o.len >= MIME_OUT_RESERVE;
		if (ended) {
			mime_conv_end(&fuzz_conv, &o);
		}
		FUZZ_CHECK(len + o.len <= sizeof(fuzz_text[0]));
		memcpy(text + len, stage, o.len);
		len += o.len;
		if (ended) {
			return len;
		}
	}
}

static void
fuzz_check_7bit(const unsigned char *t, size_t n)
{
	size_t k, col = 0;

	for (k = 0; k < n; k++) {
		FUZZ_CHECK(t[k] > 0 && t[k] < 128);
		if (t[k] == '\r') {
			FUZZ_CHECK(k + 1 < n && t[k + 1] == '\n');
		} else if (t[k] == '\n') {
			FUZZ_CHECK(k > 0 && t[k - 1] == '\r');
			col = 0;
		} else {
			col++;
			FUZZ_CHECK(col <= 998);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_out count = { NULL, 0, 0, 0 };
	enum mime_verdict v;
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ size;
	size_t a, b;

	if (size > 65536) {
		return 0; /* the text grows at most about 3 times */
	}
	mime_conv_start(&fuzz_conv, MIME_PASS_PLAN);
	FUZZ_CHECK(mime_conv_feed(&fuzz_conv, data, size, &count) == size);
	mime_conv_end(&fuzz_conv, &count);
	v = fuzz_conv.verdict;
	FUZZ_CHECK((v == MIME_V_IMPOSSIBLE) == (fuzz_conv.why != NULL));
	if (v != MIME_V_CONVERT) {
		return 0;
	}
	if (size > 0) {
		seed ^= data[0] | (uint64_t)data[size - 1] << 8;
	}
	mime_conv_start(&fuzz_conv, MIME_PASS_EMIT);
	mime_conv_feed(&fuzz_conv, data, size, &count);
	mime_conv_end(&fuzz_conv, &count);
	a = fuzz_emit(data, size, size + 1, seed, fuzz_text[0]);
	FUZZ_CHECK(a == count.total);
	fuzz_check_7bit(fuzz_text[0], a);
	b = fuzz_emit(data, size, 0, seed, fuzz_text[1]);
	FUZZ_CHECK(a == b && memcmp(fuzz_text[0], fuzz_text[1], a) == 0);
	b = fuzz_emit(data, size, 1, seed, fuzz_text[1]);
	FUZZ_CHECK(a == b && memcmp(fuzz_text[0], fuzz_text[1], a) == 0);
	return 0;
}
