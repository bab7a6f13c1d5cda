/*
 * rand.c — random bytes from the kernel (getrandom(2): no /dev needed, so
 * it works in an empty chroot or a FROM-scratch container) and ids.
 */
#include <stdio.h>
#include <sys/random.h>

#include "core/core.h"

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
rand_id(char out[11])
{
	static uint64_t next;

	if (next == 0) {
		rand_bytes(&next, sizeof(next));
		next |= 1;
	}
	snprintf(out, 11, "%010llx",
	    (unsigned long long)(next++ & 0xffffffffffULL));
}
