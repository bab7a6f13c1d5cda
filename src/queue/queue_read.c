/*
 * queue_read.c — reading one message back from the journal, on any
 * thread (the delivery workers): its records lie between the MSG record
 * and the COMMIT, interleaved with other messages', and are picked out by
 * id, each CRC checked again.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/queue_int.h"

struct queue_read_state {
	const struct queue_reader *rd;
	uint32_t nrcpt;
};

static int
queue_read_rec(void *ctx, const struct jrnl_hdr *h,
    const unsigned char *payload)
{
	struct queue_read_state *st = ctx;
	struct jrnl_dec d = { payload, h->len, 0, false };
	struct queue_rcpt r;
	char from[256];
	uint64_t arrival;

	switch (h->type) {
	case JRNL_MSG:
		arrival = jrnl_get64(&d);
		jrnl_get64(&d);
		jrnl_get8(&d);
		jrnl_get8(&d);
		jrnl_getstr(&d, from, sizeof(from));
		return d.bad    ? -EBADMSG :
		    st->rd->env ? st->rd->env(st->rd->ctx, from, arrival) :
		                  0;
	case JRNL_RCPT:
		memset(&r, 0, sizeof(r));
		jrnl_get32(&d);
		jrnl_getstr(&d, r.addr, sizeof(r.addr));
		jrnl_getstr(&d, r.domain, sizeof(r.domain));
		jrnl_getstr(&d, r.mailbox, sizeof(r.mailbox));
		if (d.bad) {
			return -EBADMSG;
		}
		return st->rd->rcpt ?
		    st->rd->rcpt(st->rd->ctx, st->nrcpt++, &r) :
		    0;
	case JRNL_BODY:
		return st->rd->body ?
		    st->rd->body(st->rd->ctx, payload, h->len) :
		    0;
	default:
		return 0;
	}
}

static int
queue_read_seg(const char *spool, uint64_t seg, uint64_t from, uint64_t to,
    uint64_t id, queue_raw_fn fn, void *ctx)
{
	char path[PATH_MAX];
	struct jrnl_hdr h;
	struct stat sb;
	unsigned char *p;
	uint64_t off;
	size_t size;
	int fd, rc = 0, r;

	if (jrnl_segment_path(path, sizeof(path), spool, seg) < 0) {
		return -ENAMETOOLONG;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	if (fstat(fd, &sb) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	size = (size_t)sb.st_size;
	to = MIN(to, (uint64_t)size);
	p = size > 0 ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	close(fd);
	if (p == MAP_FAILED || p == NULL) {
		return p == NULL ? -EBADMSG : -errno;
	}
	for (off = from; off < to && rc == 0;) {
		r = jrnl_rec_check(p + off, size - off, &h);
		if (r == 0 && to == (uint64_t)size) {
			break; /* the clean end of a segment the message went past */
		}
		if (r <= 0) {
			rc = -EBADMSG;
			break;
		}
		if (h.id == id && h.type != JRNL_COMMIT) {
			rc = fn(ctx, &h, p + off + JRNL_HDR);
		}
		if (h.id == id && h.type == JRNL_COMMIT) {
			break;
		}
		off += jrnl_rec_size(h.len);
	}
	munmap(p, size);
	return rc;
}

int
queue_read_raw(const char *spool, const struct queue_span *sp, queue_raw_fn fn,
    void *ctx)
{
	uint64_t seg;
	int rc = 0;

	for (seg = sp->seg_first; seg <= sp->seg_last && rc == 0; seg++) {
		rc = queue_read_seg(spool, seg,
		    seg == sp->seg_first ? sp->off_first : 0,
		    seg == sp->seg_last ? sp->off_end : UINT64_MAX, sp->id, fn,
		    ctx);
	}
	return rc;
}

int
queue_read(const char *spool, const struct queue_span *sp,
    const struct queue_reader *rd)
{
	struct queue_read_state st = { rd, 0 };

	return queue_read_raw(spool, sp, queue_read_rec, &st);
}
