/*
 * conf_parse.c — the configuration language's syntax: words, "quoted
 * strings" (with \" and \\), { } blocks, # comments, one statement per
 * line, `include FILE` spliced in place. Pure: files come through the
 * io->read callback. See CONFIG.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf_int.h"

#define CONF_ARGS_MAX 64
#define CONF_INCLUDE_DEPTH 8

enum conf_tok {
	CONF_T_EOF,
	CONF_T_WORD,
	CONF_T_LBRACE,
	CONF_T_RBRACE,
	CONF_T_NL,
	CONF_T_ERROR
};

struct conf_lex {
	struct conf_ctx *cx;
	const char *file;
	const char *s;
	size_t len;
	size_t i;
	int line;
	char *word; /* CONF_T_WORD */
};

struct conf_mem {
	struct conf_mem *next;
	size_t used;
	size_t cap;
	char data[];
};

void *
conf_alloc(struct conf_ctx *cx, size_t n)
{
	struct conf_mem *m = cx->mem;
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (m == NULL || m->cap - m->used < n) {
		size_t cap = n > 16384 ? n : 16384;

		m = calloc(1, sizeof(*m) + cap);
		if (m == NULL) {
			fatal("out of memory loading the configuration");
		}
		m->cap = cap;
		m->next = cx->mem;
		cx->mem = m;
	}
	p = m->data + m->used;
	m->used += n;
	return p;
}

char *
conf_strdup(struct conf_ctx *cx, const char *s, size_t n)
{
	char *p = conf_alloc(cx, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
conf_mem_free(struct conf_mem *m)
{
	struct conf_mem *next;

	for (; m != NULL; m = next) {
		next = m->next;
		free(m);
	}
}

void
conf_error(struct conf_ctx *cx, const char *file, int line, const char *fmt,
    ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cx->errors++;
	if (cx->io != NULL && cx->io->report != NULL) {
		cx->io->report(cx->io->ctx, file, line, msg);
	}
}

static enum conf_tok
conf_lex_quoted(struct conf_lex *lx)
{
	char buf[1024];
	size_t n = 0;

	lx->i++;
	while (lx->i < lx->len && lx->s[lx->i] != '"') {
		char c = lx->s[lx->i];

		if (c == '\n') {
			break;
		}
		if (c == '\\' && lx->i + 1 < lx->len &&
		    (lx->s[lx->i + 1] == '"' || lx->s[lx->i + 1] == '\\')) {
			c = lx->s[++lx->i];
		}
		if (n + 1 >= sizeof(buf)) {
			conf_error(lx->cx, lx->file, lx->line,
			    "string too long");
			return CONF_T_ERROR;
		}
		buf[n++] = c;
		lx->i++;
	}
	if (lx->i >= lx->len || lx->s[lx->i] != '"') {
		conf_error(lx->cx, lx->file, lx->line, "unterminated string");
		return CONF_T_ERROR;
	}
	lx->i++;
	lx->word = conf_strdup(lx->cx, buf, n);
	return CONF_T_WORD;
}

static enum conf_tok
conf_lex_next(struct conf_lex *lx)
{
	size_t start;
	char c;

	for (;;) {
		if (lx->i >= lx->len) {
			return CONF_T_EOF;
		}
		c = lx->s[lx->i];
		if (c == '#') {
			while (lx->i < lx->len && lx->s[lx->i] != '\n') {
				lx->i++;
			}
		} else if (c == ' ' || c == '\t' || c == '\r') {
			lx->i++;
		} else {
			break;
		}
	}
	switch (c) {
	case '\n':
		lx->i++;
		lx->line++;
		return CONF_T_NL;
	case '{':
		lx->i++;
		return CONF_T_LBRACE;
	case '}':
		lx->i++;
		return CONF_T_RBRACE;
	case '"':
		return conf_lex_quoted(lx);
	case '\0':
		lx->i++; /* past it, or the error repeats forever */
		conf_error(lx->cx, lx->file, lx->line, "NUL byte in file");
		return CONF_T_ERROR;
	}
	start = lx->i;
	while (lx->i < lx->len &&
	    strchr(" \t\r\n{}#\"", lx->s[lx->i]) == NULL &&
	    lx->s[lx->i] != '\0') {
		lx->i++;
	}
	lx->word = conf_strdup(lx->cx, lx->s + start, lx->i - start);
	return CONF_T_WORD;
}

static struct conf_stmt *
conf_parse_block(struct conf_lex *lx, bool nested, struct conf_stmt ***tail);

/* Relative includes are relative to the including file's directory. */
static char *
conf_include_path(struct conf_ctx *cx, const char *from, const char *path)
{
	const char *slash = strrchr(from, '/');
	size_t dir;
	char *p;

	if (path[0] == '/' || slash == NULL) {
		return conf_strdup(cx, path, strlen(path));
	}
	dir = (size_t)(slash - from) + 1;
	p = conf_alloc(cx, dir + strlen(path) + 1);
	memcpy(p, from, dir);
	strcpy(p + dir, path);
	return p;
}

static void
conf_include(struct conf_lex *lx, struct conf_stmt *st,
    struct conf_stmt ***tail)
{
	struct conf_lex sub;
	char *path, *text = NULL;
	size_t len = 0;
	int rc;

	if (st->nargs != 2 || st->has_block) {
		conf_error(lx->cx, st->file, st->line,
		    "include takes one file name");
		return;
	}
	if (lx->cx->depth >= CONF_INCLUDE_DEPTH) {
		conf_error(lx->cx, st->file, st->line,
		    "includes nested too deep");
		return;
	}
	path = conf_include_path(lx->cx, st->file, st->args[1]);
	rc = lx->cx->io->read(lx->cx->io->ctx, path, &text, &len);
	if (rc < 0) {
		conf_error(lx->cx, st->file, st->line, "cannot read %s: %s",
		    path, strerror(-rc));
		return;
	}
	sub = (struct conf_lex){ .cx = lx->cx,
		.file = path,
		.s = text,
		.len = len,
		.line = 1 };
	lx->cx->depth++;
	conf_parse_block(&sub, false, tail);
	lx->cx->depth--;
	free(text);
}

/* One statement's words up to NL, "{" or "}"; the terminator is returned. */
static enum conf_tok
conf_parse_words(struct conf_lex *lx, struct conf_stmt *st, enum conf_tok t)
{
	char *args[CONF_ARGS_MAX];
	uint32_t n = 0;

	while (t == CONF_T_WORD) {
		if (n == CONF_ARGS_MAX) {
			conf_error(lx->cx, lx->file, lx->line,
			    "too many words");
			return CONF_T_ERROR;
		}
		args[n++] = lx->word;
		t = conf_lex_next(lx);
	}
	st->args = conf_alloc(lx->cx, sizeof(char *) * n);
	if (n > 0) {
		memcpy(st->args, args, sizeof(char *) * n);
	}
	st->nargs = n;
	return t;
}

/* Skip to the end of the line after an error. */
static enum conf_tok
conf_parse_skip(struct conf_lex *lx, enum conf_tok t)
{
	while (t != CONF_T_NL && t != CONF_T_EOF) {
		t = conf_lex_next(lx);
	}
	return t;
}

static struct conf_stmt *
conf_parse_block(struct conf_lex *lx, bool nested, struct conf_stmt ***tail)
{
	struct conf_stmt *first = NULL, **link = tail ? *tail : &first, *st;
	int open_line = lx->line;
	enum conf_tok t = conf_lex_next(lx);

	for (;;) {
		while (t == CONF_T_NL) {
			t = conf_lex_next(lx);
		}
		if (t == CONF_T_EOF) {
			if (nested) {
				conf_error(lx->cx, lx->file, open_line,
				    "missing } for the block opened here");
			}
			break;
		}
		if (t == CONF_T_RBRACE) {
			if (!nested) {
				conf_error(lx->cx, lx->file, lx->line,
				    "unexpected }");
				t = conf_lex_next(lx);
				continue;
			}
			break;
		}
		if (t != CONF_T_WORD) {
			if (t == CONF_T_LBRACE) {
				conf_error(lx->cx, lx->file, lx->line,
				    "{ without a keyword");
			}
			t = conf_parse_skip(lx, conf_lex_next(lx));
			continue;
		}
		st = conf_alloc(lx->cx, sizeof(*st));
		st->file = lx->file;
		st->line = lx->line;
		t = conf_parse_words(lx, st, t);
		if (t == CONF_T_ERROR) {
			t = conf_parse_skip(lx, conf_lex_next(lx));
			continue;
		}
		if (t == CONF_T_LBRACE) {
			st->has_block = true;
			st->block = conf_parse_block(lx, true, NULL);
			t = conf_lex_next(lx);
		}
		if (st->nargs > 0 && strcmp(st->args[0], "include") == 0 &&
		    !nested) {
			conf_include(lx, st, &link);
			continue;
		}
		*link = st;
		link = &st->next;
	}
	if (tail != NULL) {
		*tail = link;
	}
	return first;
}

struct conf_stmt *
conf_stmts_parse(struct conf_ctx *cx, const char *file, const char *text,
    size_t len)
{
	struct conf_lex lx = { .cx = cx,
		.file = file,
		.s = text,
		.len = len,
		.line = 1 };
	struct conf_stmt *first = NULL, **tail = &first;

	conf_parse_block(&lx, false, &tail);
	return first;
}
