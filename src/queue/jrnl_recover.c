/*
 * jrnl_recover.c — replaying the journal at start-up (and for `tern
 * journal check`). Every segment is read in order, every record's CRC
 * checked. The first broken record of the last segment is a torn tail:
 * what follows was never acknowledged (the 250 waits for the sync), so it
 * is cut off. A broken record in an older segment is damage: it is
 * skipped by searching for the next valid record, and counted. Replay
 * changes nothing but that cut, so it can be interrupted and run again.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/jrnl.h"

#define JRNL_MAX_SEGMENTS 65536

static int
jrnl_seg_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Exactly 16 lowercase hex digits and ".seg", as the writer names them. */
static bool
jrnl_segment_name(const char *name)
{
	size_t k;

	if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0) {
		return false;
	}
	for (k = 0; k < 16; k++) {
		if (!((name[k] >= '0' && name[k] <= '9') ||
		        (name[k] >= 'a' && name[k] <= 'f'))) {
			return false;
		}
	}
	return true;
}

/* Segment numbers in spool, ascending; *n of them in a malloc'ed array. */
static int
jrnl_list(const char *spool, uint64_t **segs, size_t *n)
{
	DIR *d = opendir(spool);
	struct dirent *de;
	size_t cap = 64;
	uint64_t *v;

	*n = 0;
	if (d == NULL) {
		return -errno;
	}
	v = malloc(cap * sizeof(*v));
	if (v == NULL) {
		closedir(d);
		return -ENOMEM;
	}
	while ((de = readdir(d)) != NULL) {
		unsigned long long s;

		if (!jrnl_segment_name(de->d_name) || *n >= JRNL_MAX_SEGMENTS) {
			continue;
		}
		s = strtoull(de->d_name, NULL, 16);
		if (s == 0) {
			continue;
		}
		if (*n == cap) {
			uint64_t *nv = realloc(v, 2 * cap * sizeof(*v));

			if (nv == NULL) {
				break;
			}
			v = nv;
			cap *= 2;
		}
		v[(*n)++] = s;
	}
	closedir(d);
	qsort(v, *n, sizeof(*v), jrnl_seg_cmp);
	*segs = v;
	return 0;
}

/* Next offset where a valid record starts, searching 8-byte steps. */
static size_t
jrnl_resync(const unsigned char *p, size_t size, size_t off)
{
	struct jrnl_hdr h;

	for (off += 8; off + JRNL_HDR <= size; off += 8) {
		if (le_get16(p + off) == JRNL_MAGIC &&
		    jrnl_rec_check(p + off, size - off, &h) == 1) {
			return off;
		}
	}
	return size;
}

/* How much of the tail after end is not zeros (written, then torn). */
static uint64_t
jrnl_torn_bytes(const unsigned char *p, size_t size, size_t end)
{
	size_t k, last = end;

	for (k = end; k < size; k++) {
		if (p[k] != 0) {
			last = k + 1;
		}
	}
	return last - end;
}

/* Walk one mapped segment; returns where valid data ends. */
static size_t
jrnl_walk(const unsigned char *p, size_t size, uint64_t seg, bool last,
    const struct jrnl_replay *rp, struct queue_report *rep, uint64_t *maxseq)
{
	struct jrnl_hdr h;
	size_t off = 0;
	int r;

	while (off < size) {
		r = jrnl_rec_check(p + off, size - off, &h);
		if (r == 0 && (last || jrnl_torn_bytes(p, size, off) == 0)) {
			return off; /* zeros to the end: the clean end */
		}
		if (r == 0) {
			/* zeros, then records: a hole in an older segment */
			rep->bad_records++;
			off = jrnl_resync(p, size, off);
			continue;
		}
		if (r < 0) {
			if (last) {
				return off; /* a torn tail */
			}
			rep->bad_records++;
			off = jrnl_resync(p, size, off);
			continue;
		}
		rep->records++;
		*maxseq = MAX(*maxseq, h.seq);
		rp->rec(rp->ctx, seg, off, &h, p + off + JRNL_HDR);
		off += jrnl_rec_size(h.len);
	}
	return off;
}

static int
jrnl_replay_one(const char *spool, uint64_t seg, bool last, bool fix,
    const struct jrnl_replay *rp, struct queue_report *rep, uint64_t *maxseq)
{
	char path[PATH_MAX];
	struct stat sb;
	unsigned char *p = NULL;
	size_t end, size;
	uint64_t torn;
	int fd, rc = 0;

	if (jrnl_segment_path(path, sizeof(path), spool, seg) < 0) {
		return -ENAMETOOLONG;
	}
	fd = open(path, (fix ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		rc = -errno;
		goto fail;
	}
	size = (size_t)sb.st_size;
	rep->segments++;
	if (size > 0) {
		p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			rc = -errno;
			p = NULL;
			goto fail;
		}
	}
	end = p != NULL ? jrnl_walk(p, size, seg, last, rp, rep, maxseq) : 0;
	torn = p != NULL ? jrnl_torn_bytes(p, size, end) : 0;
	if (last && torn > 0) {
		rep->torn++;
		rep->torn_bytes += torn;
		if (fix && (ftruncate(fd, (off_t)end) < 0 || fsync(fd) < 0)) {
			rc = -errno;
		}
	}
fail:
	if (p != NULL) {
		munmap(p, size);
	}
	if (fd >= 0) {
		close(fd);
	}
	return rc;
}

int
jrnl_replay(const char *spool, bool fix, const struct jrnl_replay *rp,
    struct queue_report *rep, uint64_t *next_seg, uint64_t *next_seq)
{
	uint64_t *segs = NULL, maxseq = 0;
	size_t n = 0, k;
	int rc;

	memset(rep, 0, sizeof(*rep));
	rc = jrnl_list(spool, &segs, &n);
	if (rc < 0) {
		return rc;
	}
	for (k = 0; k < n && rc == 0; k++) {
		rc = jrnl_replay_one(spool, segs[k], k + 1 == n, fix, rp, rep,
		    &maxseq);
	}
	*next_seg = n > 0 ? segs[n - 1] + 1 : 1;
	*next_seq = maxseq;
	free(segs);
	return rc;
}
