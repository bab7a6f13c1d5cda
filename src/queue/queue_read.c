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
	struct queue_envelope e;

	switch (h->type) {
	case JRNL_MSG:
		e.arrival = jrnl_get64(&d);
		e.size_hint = jrnl_get64(&d);
		e.body = jrnl_get8(&d);
		e.smtputf8 = jrnl_get8(&d) != 0;
		jrnl_getstr(&d, e.from, sizeof(e.from));
		e.ret = 0;
		e.envid[0] = '\0';
		if (d.off < d.len) { /* DSN fields after helo, client, server */
			char skip[256];

			jrnl_getstr_cut(&d, skip, sizeof(skip));
			jrnl_getstr_cut(&d, skip, sizeof(skip));
			jrnl_getstr_cut(&d, skip, sizeof(skip));
			if (d.off < d.len) {
				e.ret = jrnl_get8(&d);
				jrnl_getstr(&d, e.envid, sizeof(e.envid));
			}
		}
		if (d.bad) {
			return -EBADMSG;
		}
		return st->rd->env ? st->rd->env(st->rd->ctx, &e) : 0;
	case JRNL_RCPT:
		memset(&r, 0, sizeof(r));
		jrnl_get32(&d);
		jrnl_getstr(&d, r.addr, sizeof(r.addr));
		jrnl_getstr(&d, r.domain, sizeof(r.domain));
		jrnl_getstr(&d, r.mailbox, sizeof(r.mailbox));
		if (d.off < d.len) { /* DSN: NOTIFY, ORCPT */
			r.notify = jrnl_get8(&d);
			jrnl_getstr(&d, r.orcpt, sizeof(r.orcpt));
		}
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

/* Map a whole segment read-only; an empty one is broken. */
static int
queue_seg_map(const char *spool, uint64_t seg, const unsigned char **map,
    size_t *len)
{
	char path[PATH_MAX];
	struct stat sb;
	void *p;
	int fd, rc;

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
	if (sb.st_size == 0) {
		close(fd);
		return -EBADMSG;
	}
	p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		return -errno;
	}
	*map = p;
	*len = (size_t)sb.st_size;
	return 0;
}

/* The record at off: framing only for other messages', the CRC for id's. */
static int
queue_seg_rec(const unsigned char *p, size_t size, uint64_t off, uint64_t id,
    struct jrnl_hdr *h)
{
	int r = jrnl_rec_frame(p + off, size - off, h);

	return r > 0 && h->id == id && !jrnl_rec_crc_ok(p + off, h) ? -1 : r;
}

static int
queue_read_seg(const char *spool, uint64_t seg, uint64_t from, uint64_t to,
    uint64_t id, queue_raw_fn fn, void *ctx)
{
	const unsigned char *p;
	struct jrnl_hdr h;
	uint64_t off;
	size_t size;
	int rc, r;

	rc = queue_seg_map(spool, seg, &p, &size);
	if (rc < 0) {
		return rc;
	}
	to = MIN(to, (uint64_t)size);
	for (off = from; off < to && rc == 0;) {
		r = queue_seg_rec(p, size, off, id, &h);
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
	munmap((void *)p, size);
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

/* ---- the cursor ------------------------------------------------------ */

static void
queue_cursor_unmap(struct queue_cursor *c)
{
	if (c->map != NULL) {
		munmap((void *)c->map, c->map_len);
		c->map = NULL;
	}
}

static int
queue_cursor_map(struct queue_cursor *c)
{
	queue_cursor_unmap(c);
	return queue_seg_map(queue_spool(), c->seg, &c->map, &c->map_len);
}

int
queue_cursor_open(struct queue_cursor *c, const struct queue_span *sp)
{
	memset(c, 0, sizeof(*c));
	c->sp = *sp;
	c->seg = sp->seg_first;
	c->off = sp->off_first;
	return queue_cursor_map(c);
}

int
queue_cursor_next(struct queue_cursor *c, const void **p, size_t *n)
{
	struct jrnl_hdr h;
	int r, rc;

	while (!c->done) {
		uint64_t end = c->seg == c->sp.seg_last ? c->sp.off_end :
		                                          (uint64_t)c->map_len;

		if (c->off >= end || c->off >= c->map_len) {
			if (c->seg >= c->sp.seg_last) {
				c->done = true;
				break;
			}
			c->seg++;
			c->off = 0;
			rc = queue_cursor_map(c);
			if (rc < 0) {
				return rc;
			}
			continue;
		}
		r = queue_seg_rec(c->map, c->map_len, c->off, c->sp.id, &h);
		if (r == 0 && c->seg != c->sp.seg_last) {
			c->off =
			    c->map_len; /* the rest of this segment is empty */
			continue;
		}
		if (r <= 0) {
			return -EBADMSG;
		}
		c->off += jrnl_rec_size(h.len);
		if (h.id == c->sp.id && h.type == JRNL_BODY) {
			*p = c->map + c->off - jrnl_rec_size(h.len) + JRNL_HDR;
			*n = h.len;
			return 1;
		}
		if (h.id == c->sp.id && h.type == JRNL_COMMIT) {
			c->done = true;
		}
	}
	return 0;
}

void
queue_cursor_close(struct queue_cursor *c)
{
	queue_cursor_unmap(c);
}
