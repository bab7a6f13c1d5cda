/*
 * str.c — string helpers the C libraries do not agree on (glibc 2.36 has
 * no strlcpy).
 */
#include <string.h>

#include "core/core.h"

size_t
str_copy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size > 0) {
		size_t k = n < size - 1 ? n : size - 1;

		memcpy(dst, src, k);
		dst[k] = '\0';
	}
	return n;
}

static int
str_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

bool
str_ieq(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	if (alen != blen) {
		return false;
	}
	for (i = 0; i < alen; i++) {
		if (str_lower((unsigned char)a[i]) !=
		    str_lower((unsigned char)b[i])) {
			return false;
		}
	}
	return true;
}

void
str_sanitize(char *dst, size_t size, const char *src, size_t len)
{
	size_t i;

	if (size == 0) {
		return;
	}
	for (i = 0; i < len && i < size - 1; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ?
		    (char)c :
		    '?';
	}
	dst[i] = '\0';
}
