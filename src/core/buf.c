/*
 * buf.c — bounded buffers over caller memory. Appends never grow: they
 * answer -ENOSPC and leave the buffer as it was.
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"

void
buf_init(struct buf *b, void *mem, size_t cap)
{
	b->mem = mem;
	b->cap = (uint32_t)cap;
	b->off = 0;
	b->len = 0;
}

void
buf_reset(struct buf *b)
{
	b->off = 0;
	b->len = 0;
}

void
buf_compact(struct buf *b)
{
	if (b->off == 0) {
		return;
	}
	if (b->off < b->len) {
		memmove(b->mem, b->mem + b->off, b->len - b->off);
	}
	b->len -= b->off;
	b->off = 0;
}

void
buf_commit(struct buf *b, size_t n)
{
	if (n > buf_room(b)) {
		panic("buf_commit past the end (%zu > %zu)", n, buf_room(b));
	}
	b->len += (uint32_t)n;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n > buf_size(b)) {
		panic("buf_consume past the data (%zu > %zu)", n, buf_size(b));
	}
	b->off += (uint32_t)n;
	if (b->off == b->len) {
		b->off = 0;
		b->len = 0;
	}
}

int
buf_append(struct buf *b, const void *data, size_t n)
{
	if (n > buf_room(b)) {
		buf_compact(b);
		if (n > buf_room(b)) {
			return -ENOSPC;
		}
	}
	memcpy(b->mem + b->len, data, n);
	b->len += (uint32_t)n;
	return 0;
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	buf_compact(b);
	va_copy(aq, ap);
	n = vsnprintf(b->mem + b->len, buf_room(b), fmt, aq);
	va_end(aq);
	if (n < 0 || (size_t)n >= buf_room(b)) {
		return -ENOSPC;
	}
	b->len += (uint32_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

size_t
buf_line_len(const struct buf *b)
{
	const char *lf = memchr(buf_data(b), '\n', buf_size(b));

	return lf == NULL ? 0 : (size_t)(lf - buf_data(b)) + 1;
}
