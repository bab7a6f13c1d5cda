/*
 * tu.h — shared helpers of tern's unit tests: cmocka's headers in the
 * order it needs, a small text renderer for golden files, a runner that
 * adds one cmocka test per golden case, and a check that a call panics.
 *
 * Golden cases live in tests/unit/golden/<parser>/NAME.in with the
 * expected rendering in NAME.ref. GOLDEN_DIR overrides the directory
 * (default: tests/unit/golden, relative to the repository root);
 * GOLDEN_UPDATE=1 rewrites every .ref from what the parser gives.
 */
#ifndef TERN_TESTS_TU_H
#define TERN_TESTS_TU_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define TU_OUT_MAX 65536

struct tu_out {
	size_t len;
	char text[TU_OUT_MAX];
};

void tu_out_reset(struct tu_out *o);
void tu_outf(struct tu_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Bytes as text: printable ASCII as is, '\\' doubled, others \xHH. */
void tu_out_esc(struct tu_out *o, const char *s, size_t len);

/* Render the parser's answer to one .in file. */
typedef void (*tu_render_fn)(const char *in, size_t len, struct tu_out *o);

/*
 * Run the fixed tests plus one test per golden case of `parser` (none when
 * parser is NULL) as one cmocka group; returns the number of failures.
 */
int tu_run(const char *group, const struct CMUnitTest *fixed, size_t nfixed,
    const char *parser, tu_render_fn render);

/* True if fn(arg) ends the process abnormally (panic -> abort). */
bool tu_dies(void (*fn)(void *), void *arg);

/*
 * Split a golden .in into its first line (options) and the rest with one
 * trailing LF removed (the text under test). Returns false without an LF.
 */
bool tu_split_opts(const char *in, size_t len, const char **opts,
    size_t *opts_len, const char **text, size_t *text_len);
/* Is `word` one of the space-separated words of opts? */
bool tu_opt(const char *opts, size_t opts_len, const char *word);
/* The value of "key=value" among the words of opts, or dflt. */
unsigned long tu_opt_num(const char *opts, size_t opts_len, const char *key,
    unsigned long dflt);

/* A copy of len bytes in a buffer of exactly that size (ASan sees over-reads). */
char *tu_dup(const char *s, size_t len);
/* "reply=CODE ENH TEXT\n" for a parser's answer (range-checked). */
void tu_out_reply(struct tu_out *o, int r);

/* assert_true with the bytes shown on failure. */
#define tu_assert_mem_eq(a, alen, b, blen) \
	tu_assert_mem_eq_at((a), (alen), (b), (blen), __FILE__, __LINE__)
void tu_assert_mem_eq_at(const char *a, size_t alen, const char *b, size_t blen,
    const char *file, int line);

#endif
