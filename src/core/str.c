/*
 * str.c — string helpers the C libraries do not agree on (glibc 2.36 has
 * no strlcpy), random bytes, ids and RFC 5322 dates.
 */
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <stdio.h>

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
		if (str_lower((unsigned char)a[i]) != str_lower((unsigned char)b[i])) {
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

		dst[i] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
	}
	dst[i] = '\0';
}

int
rand_bytes(void *buf, size_t n)
{
	char *p = buf;
	ssize_t r;

	while (n > 0) {
		r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

void
id_new(char out[11])
{
	static uint64_t next;

	if (next == 0) {
		rand_bytes(&next, sizeof(next));
		next |= 1;
	}
	snprintf(out, 11, "%010llx",
	    (unsigned long long)(next++ & 0xffffffffffULL));
}

void
time_rfc5322(char *out, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(out, size, "%a, %d %b %Y %H:%M:%S %z", &tm);
}
