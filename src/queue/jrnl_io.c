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
	return fs_pwrite_all(fd, buf, len, (int64_t)off);
}

int
jrnl_io_datasync(int fd)
{
	return fdatasync(fd) < 0 ? -errno : 0;
}
