/*
 * fs.c — file-system helpers the queue and the delivery agents share:
 * creating directory paths, syncing a directory (so a created or renamed
 * entry survives a crash), and writing a whole buffer.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

int
fs_mkdirs(const char *path)
{
	char tmp[PATH_MAX];
	size_t k;

	if (str_copy(tmp, path, sizeof(tmp)) >= sizeof(tmp)) {
		return -ENAMETOOLONG;
	}
	for (k = 1; tmp[k] != '\0'; k++) {
		if (tmp[k] == '/') {
			tmp[k] = '\0';
			if (mkdir(tmp, 0750) < 0 && errno != EEXIST) {
				return -errno;
			}
			tmp[k] = '/';
		}
	}
	return mkdir(tmp, 0750) < 0 && errno != EEXIST ? -errno : 0;
}

int
fs_sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0) {
		return -errno;
	}
	if (fsync(fd) < 0) {
		rc = -errno;
	}
	close(fd);
	return rc;
}

int
fs_pwrite_all(int fd, const void *buf, size_t len, int64_t off)
{
	const char *p = buf;
	ssize_t w;

	while (len > 0) {
		w = off < 0 ? write(fd, p, len) :
		              pwrite(fd, p, len, (off_t)off);
		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		p += w;
		len -= (size_t)w;
		off = off < 0 ? off : off + w;
	}
	return 0;
}
