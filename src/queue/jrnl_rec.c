/*
 * jrnl_rec.c — journal records: header framing with CRC-32C, and the
 * bounded encoders and decoders of their payloads. Pure: bytes in, bytes
 * out, so they are unit-tested and fuzzed alone.
 */
#include <string.h>

#include "queue/jrnl.h"

static uint32_t
jrnl_crc(const unsigned char *hdr, const void *payload, size_t len)
{
	return crc32c_update(crc32c_update(0, hdr, 24), payload, len);
}

void
jrnl_hdr_fmt(unsigned char out[JRNL_HDR], struct jrnl_hdr *h,
    const void *payload)
{
	memset(out, 0, JRNL_HDR);
	le_put16(out, JRNL_MAGIC);
	out[2] = h->type;
	out[3] = h->flags;
	le_put32(out + 4, h->len);
	le_put64(out + 8, h->seq);
	le_put64(out + 16, h->id);
	h->crc = jrnl_crc(out, payload, h->len);
	le_put32(out + 24, h->crc);
}

static bool
jrnl_all_zero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != 0) {
			return false;
		}
	}
	return true;
}

int
jrnl_rec_frame(const unsigned char *p, size_t avail, struct jrnl_hdr *h)
{
	if (avail < JRNL_HDR) {
		return jrnl_all_zero(p, avail) ? 0 : -1;
	}
	if (le_get16(p) != JRNL_MAGIC) {
		return jrnl_all_zero(p, JRNL_HDR) ? 0 : -1;
	}
	h->type = p[2];
	h->flags = p[3];
	h->len = le_get32(p + 4);
	h->seq = le_get64(p + 8);
	h->id = le_get64(p + 16);
	h->crc = le_get32(p + 24);
	if (h->type < JRNL_MSG || h->type > JRNL_NOTE ||
	    h->len > JRNL_REC_MAX - JRNL_HDR || jrnl_rec_size(h->len) > avail) {
		return -1;
	}
	return 1;
}

bool
jrnl_rec_crc_ok(const unsigned char *p, const struct jrnl_hdr *h)
{
	return jrnl_crc(p, p + JRNL_HDR, h->len) == h->crc;
}

int
jrnl_rec_check(const unsigned char *p, size_t avail, struct jrnl_hdr *h)
{
	int r = jrnl_rec_frame(p, avail, h);

	return r > 0 && !jrnl_rec_crc_ok(p, h) ? -1 : r;
}

static unsigned char *
jrnl_room_for(struct jrnl_enc *e, size_t n)
{
	unsigned char *p;

	if (e->overflow || e->cap - e->len < n) {
		e->overflow = true;
		return NULL;
	}
	p = e->p + e->len;
	e->len += n;
	return p;
}

void
jrnl_put8(struct jrnl_enc *e, uint8_t v)
{
	unsigned char *p = jrnl_room_for(e, 1);

	if (p != NULL) {
		*p = v;
	}
}

void
jrnl_put32(struct jrnl_enc *e, uint32_t v)
{
	unsigned char *p = jrnl_room_for(e, 4);

	if (p != NULL) {
		le_put32(p, v);
	}
}

void
jrnl_put64(struct jrnl_enc *e, uint64_t v)
{
	unsigned char *p = jrnl_room_for(e, 8);

	if (p != NULL) {
		le_put64(p, v);
	}
}

/* u16 length, then the bytes */
void
jrnl_putstr(struct jrnl_enc *e, const char *s)
{
	size_t n = strlen(s);
	unsigned char *p;

	if (n > 0xffff) {
		e->overflow = true;
		return;
	}
	p = jrnl_room_for(e, 2 + n);
	if (p != NULL) {
		le_put16(p, (uint16_t)n);
		memcpy(p + 2, s, n);
	}
}

static const unsigned char *
jrnl_take(struct jrnl_dec *d, size_t n)
{
	const unsigned char *p;

	if (d->bad || d->len - d->off < n) {
		d->bad = true;
		return NULL;
	}
	p = d->p + d->off;
	d->off += n;
	return p;
}

uint8_t
jrnl_get8(struct jrnl_dec *d)
{
	const unsigned char *p = jrnl_take(d, 1);

	return p != NULL ? *p : 0;
}

uint32_t
jrnl_get32(struct jrnl_dec *d)
{
	const unsigned char *p = jrnl_take(d, 4);

	return p != NULL ? le_get32(p) : 0;
}

uint64_t
jrnl_get64(struct jrnl_dec *d)
{
	const unsigned char *p = jrnl_take(d, 8);

	return p != NULL ? le_get64(p) : 0;
}

/* u16 length and bytes into out; too long: bad, or cut when cut is set */
static void
jrnl_getstr_to(struct jrnl_dec *d, char *out, size_t size, bool cut)
{
	const unsigned char *lp = jrnl_take(d, 2);
	const unsigned char *p;
	size_t n;

	out[0] = '\0';
	if (lp == NULL) {
		return;
	}
	n = le_get16(lp);
	p = jrnl_take(d, n);
	if (p == NULL) {
		return;
	}
	if (n >= size && !cut) {
		d->bad = true;
		return;
	}
	n = MIN(n, size - 1);
	memcpy(out, p, n);
	out[n] = '\0';
}

void
jrnl_getstr(struct jrnl_dec *d, char *out, size_t size)
{
	jrnl_getstr_to(d, out, size, false);
}

void
jrnl_getstr_cut(struct jrnl_dec *d, char *out, size_t size)
{
	jrnl_getstr_to(d, out, size, true);
}
