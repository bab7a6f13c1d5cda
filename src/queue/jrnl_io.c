/*
 * jrnl_io.c — the journal's writes and syncs, plainly. A build with
 * CONFIG_DEBUG_FAULTS uses jrnl_fault.c instead.
 */
#include <unistd.h>

#include "queue/jrnl.h"

void
jrnl_io_init(void)
{
}

int
jrnl_io_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;
	ssize_t w;

	while (len > 0) {
		w = pwrite(fd, p, len, (off_t)off);
		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		p += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int
jrnl_io_datasync(int fd)
{
	return fdatasync(fd) < 0 ? -errno : 0;
}
