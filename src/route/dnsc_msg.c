/*
 * dnsc_msg.c — DNS messages, pure: host names between text and wire form,
 * the query, and the validation of an answer (RFC 1035 4.1, RFC 2181,
 * RFC 2308, RFC 3596), plus the MX ordering of RFC 5321 5.1 / RFC 7505.
 * No I/O, no logging, no clock.
 *
 * Invariants of the answer parser: every read is checked against the
 * packet's length (offsets, never pointers past it); a compression
 * pointer must point before the start of the name fragment that holds it
 * (so the targets strictly decrease: no loops), and a name stays within
 * 255 octets; the section counts must fit the packet (11 octets per
 * record at least) and every record of every section must parse; rdata
 * of A, AAAA, MX, CNAME and SOA must fill its length exactly. Only
 * records owned by the asked name, or by the names its CNAME chain
 * (bounded by DNSC_CNAME_MAX) leads to, are taken.
 */
#include <string.h>

#include "route/dnsc.h"

#define DNSC_F_QR 0x8000u
#define DNSC_F_TC 0x0200u
#define DNSC_F_RD 0x0100u
#define DNSC_RR_MIN 11 /* root owner, type, class, ttl, rdlength */
#define DNSC_PTR_MAX 64

/* The fixed part of a record, and where its rdata is. */
struct dnsc_rrhdr {
	uint8_t owner[DNSC_WIRE_MAX];
	uint16_t owner_len;
	uint16_t type;
	uint16_t klass;
	uint32_t ttl;
	size_t rdoff;
	uint16_t rdlen;
};

struct dnsc_pkt {
	const uint8_t *p;
	size_t len;
	uint16_t an, ns, ar;
	size_t an_off; /* first answer record */
	size_t ns_off; /* first authority record */
};

static int
dnsc_get16(const struct dnsc_pkt *k, size_t off, uint16_t *v)
{
	if (off > k->len || k->len - off < 2) {
		return -EBADMSG;
	}
	*v = (uint16_t)((k->p[off] << 8) | k->p[off + 1]);
	return 0;
}

static int
dnsc_get32(const struct dnsc_pkt *k, size_t off, uint32_t *v)
{
	uint16_t hi, lo;

	if (dnsc_get16(k, off, &hi) < 0 || dnsc_get16(k, off + 2, &lo) < 0) {
		return -EBADMSG;
	}
	*v = ((uint32_t)hi << 16) | lo;
	return 0;
}

static void
dnsc_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint8_t
dnsc_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

static bool
dnsc_label_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * Read the (possibly compressed) name at *off into out (lowercase, wire
 * form with the root label); *off moves past the name where it stands.
 */
static int
dnsc_name_read(const struct dnsc_pkt *k, size_t *off, uint8_t *out,
    uint16_t *out_len)
{
	size_t pos = *off, frag, end = 0, n = 0;
	unsigned hops = 0;
	uint8_t c, i;

	frag = pos; /* where the current run of labels began */
	for (;;) {
		if (pos >= k->len) {
			return -EBADMSG;
		}
		c = k->p[pos];
		if ((c & 0xc0) == 0xc0) {
			uint16_t ptr;

			if (dnsc_get16(k, pos, &ptr) < 0) {
				return -EBADMSG;
			}
			ptr &= 0x3fff;
			/* RFC 1035 4.1.4: a prior occurrence; strictly
			 * before this fragment, so no loop */
			if (ptr >= frag || ++hops > DNSC_PTR_MAX) {
				return -EBADMSG;
			}
			if (end == 0) {
				end = pos + 2;
			}
			pos = frag = ptr;
			continue;
		}
		if ((c & 0xc0) != 0) {
			return -EBADMSG; /* RFC 6891: extended labels unused */
		}
		/* room for this label and, after it, the root label */
		if (c > k->len - pos - 1 ||
		    n + 1 + c + (c != 0) > DNSC_WIRE_MAX) {
			return -EBADMSG;
		}
		out[n++] = c;
		for (i = 0; i < c; i++) {
			out[n++] = dnsc_lower(k->p[pos + 1 + i]);
		}
		pos += 1u + c;
		if (c == 0) {
			break;
		}
	}
	*off = end != 0 ? end : pos;
	*out_len = (uint16_t)n;
	return 0;
}

int
dnsc_name_to_wire(const char *name, uint8_t *wire, size_t size)
{
	size_t len = strlen(name), i, n = 0, lab = 0;

	if (len > 0 && name[len - 1] == '.') {
		len--;
	}
	if (len == 0 || len > DNSC_NAME_MAX || size < len + 2) {
		return -EINVAL;
	}
	wire[n++] = 0; /* the first label's length, filled in below */
	for (i = 0; i <= len; i++) {
		uint8_t c = i < len ? (uint8_t)name[i] : '.';

		if (c == '.') {
			size_t ll = n - lab - 1;

			if (ll == 0 || ll > DNSC_LABEL_MAX) {
				return -EINVAL;
			}
			wire[lab] = (uint8_t)ll;
			lab = n;
			wire[n++] = 0;
			continue;
		}
		if (!dnsc_label_char(c)) {
			return -EINVAL;
		}
		wire[n++] = dnsc_lower(c);
	}
	return (int)n;
}

int
dnsc_name_to_text(const uint8_t *wire, size_t len, char *out, size_t size)
{
	size_t i = 0, n = 0;
	uint8_t c, j;

	if (size == 0) {
		return -EINVAL;
	}
	while (i < len && wire[i] != 0) {
		c = wire[i];
		if (c > DNSC_LABEL_MAX || c >= len - i || n + c + 2 > size) {
			return -EINVAL;
		}
		if (n > 0) {
			out[n++] = '.';
		}
		for (j = 1; j <= c; j++) {
			if (!dnsc_label_char(wire[i + j])) {
				return -EINVAL;
			}
			out[n++] = (char)dnsc_lower(wire[i + j]);
		}
		i += 1u + c;
	}
	if (i >= len) {
		return -EINVAL; /* no root label */
	}
	out[n] = '\0';
	return (int)n;
}

int
dnsc_question_init(struct dnsc_question *q, const char *name, uint16_t type,
    uint16_t id)
{
	int n = dnsc_name_to_wire(name, q->wire, sizeof(q->wire));

	if (n < 0) {
		return n;
	}
	q->wire_len = (uint16_t)n;
	q->type = type;
	q->id = id;
	return 0;
}

int
dnsc_msg_query(const struct dnsc_question *q, uint8_t *out, size_t size)
{
	size_t n = DNSC_HDR_LEN + q->wire_len + 4u;

	if (size < n) {
		return -EMSGSIZE;
	}
	memset(out, 0, DNSC_HDR_LEN);
	dnsc_put16(out, q->id);
	dnsc_put16(out + 2, DNSC_F_RD);
	dnsc_put16(out + 4, 1); /* QDCOUNT */
	memcpy(out + DNSC_HDR_LEN, q->wire, q->wire_len);
	dnsc_put16(out + DNSC_HDR_LEN + q->wire_len, q->type);
	dnsc_put16(out + DNSC_HDR_LEN + q->wire_len + 2, DNSC_C_IN);
	return (int)n;
}

/* The record at *off; *off moves past it. */
static int
dnsc_rr_next(const struct dnsc_pkt *k, size_t *off, struct dnsc_rrhdr *h)
{
	size_t o = *off;

	if (dnsc_name_read(k, &o, h->owner, &h->owner_len) < 0 ||
	    dnsc_get16(k, o, &h->type) < 0 ||
	    dnsc_get16(k, o + 2, &h->klass) < 0 ||
	    dnsc_get32(k, o + 4, &h->ttl) < 0 ||
	    dnsc_get16(k, o + 8, &h->rdlen) < 0) {
		return -EBADMSG;
	}
	h->rdoff = o + 10;
	if (h->rdlen > k->len - h->rdoff) {
		return -EBADMSG;
	}
	/* RFC 2181 8: a TTL with the top bit set means zero */
	if (h->ttl & 0x80000000u) {
		h->ttl = 0;
	}
	*off = h->rdoff + h->rdlen;
	return 0;
}

/* A name that fills the rest of a record's rdata from off. */
static int
dnsc_rdata_name(const struct dnsc_pkt *k, const struct dnsc_rrhdr *h,
    size_t off, uint8_t *out, uint16_t *out_len)
{
	struct dnsc_pkt sub = *k;
	size_t o = off;

	/* no part of the name itself may lie past the rdata */
	sub.len = h->rdoff + h->rdlen;
	if (dnsc_name_read(&sub, &o, out, out_len) < 0 || o != sub.len) {
		return -EBADMSG;
	}
	return 0;
}

static bool
dnsc_owner_is(const struct dnsc_rrhdr *h, const uint8_t *name, uint16_t len)
{
	return h->klass == DNSC_C_IN && h->owner_len == len &&
	    memcmp(h->owner, name, len) == 0;
}

/* RFC 2308 3 and 5: the negative TTL is min(SOA TTL, SOA MINIMUM). */
static int
dnsc_soa_ttl(const struct dnsc_pkt *k, const struct dnsc_rrhdr *h,
    uint32_t *ttl)
{
	uint8_t tmp[DNSC_WIRE_MAX];
	uint16_t tl;
	uint32_t min;
	size_t o = h->rdoff;
	struct dnsc_pkt sub = *k;

	sub.len = h->rdoff + h->rdlen;
	if (dnsc_name_read(&sub, &o, tmp, &tl) < 0 ||
	    dnsc_name_read(&sub, &o, tmp, &tl) < 0 || o + 20 != sub.len ||
	    dnsc_get32(&sub, o + 16, &min) < 0) {
		return -EBADMSG;
	}
	if (min & 0x80000000u) {
		min = 0;
	}
	*ttl = MIN(h->ttl, min);
	return 0;
}

/* Walk count records from *off, checking each; note an SOA's TTL. */
static int
dnsc_section_walk(const struct dnsc_pkt *k, size_t *off, uint16_t count,
    uint32_t *soa_ttl)
{
	struct dnsc_rrhdr h;
	uint16_t i;

	for (i = 0; i < count; i++) {
		if (dnsc_rr_next(k, off, &h) < 0) {
			return -EBADMSG;
		}
		if (soa_ttl != NULL && h.type == DNSC_T_SOA &&
		    h.klass == DNSC_C_IN && dnsc_soa_ttl(k, &h, soa_ttl) < 0) {
			return -EBADMSG;
		}
	}
	return 0;
}

/* Header and question: is this an answer to q? */
static int
dnsc_msg_header(struct dnsc_pkt *k, const struct dnsc_question *q,
    uint16_t *flags, size_t *off)
{
	uint8_t qname[DNSC_WIRE_MAX];
	uint16_t id, qd, qlen, qtype, qclass;

	if (k->len < DNSC_HDR_LEN) {
		return -EPROTO; /* not even an id: nothing of ours */
	}
	dnsc_get16(k, 0, &id);
	dnsc_get16(k, 2, flags);
	dnsc_get16(k, 4, &qd);
	dnsc_get16(k, 6, &k->an);
	dnsc_get16(k, 8, &k->ns);
	dnsc_get16(k, 10, &k->ar);
	if (id != q->id || !(*flags & DNSC_F_QR) ||
	    ((*flags >> 11) & 0xf) != 0 || qd != 1) {
		return -EPROTO;
	}
	*off = DNSC_HDR_LEN;
	if (dnsc_name_read(k, off, qname, &qlen) < 0 ||
	    dnsc_get16(k, *off, &qtype) < 0 ||
	    dnsc_get16(k, *off + 2, &qclass) < 0) {
		return -EBADMSG;
	}
	*off += 4;
	if (qlen != q->wire_len || memcmp(qname, q->wire, qlen) != 0 ||
	    qtype != q->type || qclass != DNSC_C_IN) {
		return -EPROTO;
	}
	return 0;
}

/*
 * Follow the CNAME chain from q's name inside the answer section; name
 * gets the last name of the chain.
 */
static int
dnsc_follow_cname(const struct dnsc_pkt *k, const struct dnsc_question *q,
    struct dnsc_answer *a, uint8_t *name, uint16_t *name_len)
{
	struct dnsc_rrhdr h;
	unsigned links;
	uint16_t i;
	size_t off;
	bool found;

	memcpy(name, q->wire, q->wire_len);
	*name_len = q->wire_len;
	for (links = 0;; links++) {
		found = false;
		off = k->an_off;
		for (i = 0; i < k->an && !found; i++) {
			dnsc_rr_next(k, &off, &h); /* checked by the walk */
			found = h.type == DNSC_T_CNAME &&
			    dnsc_owner_is(&h, name, *name_len);
		}
		if (!found) {
			return 0;
		}
		if (links == DNSC_CNAME_MAX ||
		    dnsc_rdata_name(k, &h, h.rdoff, name, name_len) < 0) {
			return -EBADMSG; /* too long a chain, a loop, or bad */
		}
		a->via_cname = true;
		a->ttl = MIN(a->ttl, h.ttl);
	}
}

/*
 * An MX record's preference and exchange (text); 1 if the exchange is
 * not a host name we could use.
 */
static int
dnsc_mx_rdata(const struct dnsc_pkt *k, const struct dnsc_rrhdr *h,
    uint16_t *pref, char *text, size_t size)
{
	uint8_t wire[DNSC_WIRE_MAX];
	uint16_t wl;

	if (h->rdlen < 3 || dnsc_get16(k, h->rdoff, pref) < 0 ||
	    dnsc_rdata_name(k, h, h->rdoff + 2, wire, &wl) < 0) {
		return -EBADMSG;
	}
	return dnsc_name_to_text(wire, wl, text, size) < 0 ? 1 : 0;
}

/* Remove kept MX record i and its name. */
static void
dnsc_drop(struct dnsc_answer *a, uint16_t i)
{
	uint16_t off = a->rr[i].name, j;
	size_t len = strlen(a->names + off) + 1;

	memmove(a->names + off, a->names + off + len, a->names_len - off - len);
	a->names_len = (uint16_t)(a->names_len - len);
	for (j = 0; j < a->nrr; j++) {
		if (a->rr[j].name > off) {
			a->rr[j].name = (uint16_t)(a->rr[j].name - len);
		}
	}
	memmove(&a->rr[i], &a->rr[i + 1], (a->nrr - i - 1u) * sizeof(a->rr[0]));
	a->nrr--;
}

/*
 * Room for one more record with tl octets of name: when full, MX records
 * of a worse preference than pref make way (RFC 5321 5.1: the best ones
 * matter); false if there is no room.
 */
static bool
dnsc_room(struct dnsc_answer *a, uint16_t type, uint16_t pref, size_t tl)
{
	uint16_t i, worst;

	while (a->nrr == DNSC_RR_MAX || tl > sizeof(a->names) - a->names_len) {
		if (type != DNSC_T_MX || a->nrr == 0) {
			return false;
		}
		for (worst = 0, i = 1; i < a->nrr; i++) {
			if (a->rr[i].pref >= a->rr[worst].pref) {
				worst = i;
			}
		}
		if (a->rr[worst].pref <= pref) {
			return false;
		}
		dnsc_drop(a, worst);
		a->skipped++;
	}
	return true;
}

/* One record of the asked type for the chain's last name. */
static int
dnsc_take(const struct dnsc_pkt *k, const struct dnsc_rrhdr *h,
    struct dnsc_answer *a)
{
	char text[DNSC_NAME_MAX + 1];
	struct dnsc_rr rr;
	size_t tl = 0;
	int rc = 0;

	memset(&rr, 0, sizeof(rr));
	rr.type = h->type;
	if ((h->type == DNSC_T_A && h->rdlen != 4) ||
	    (h->type == DNSC_T_AAAA && h->rdlen != 16)) {
		return -EBADMSG;
	}
	if (h->type == DNSC_T_MX) {
		rc = dnsc_mx_rdata(k, h, &rr.pref, text, sizeof(text));
		tl = rc == 0 ? strlen(text) + 1 : 0;
	} else if (h->type == DNSC_T_A || h->type == DNSC_T_AAAA) {
		memcpy(rr.addr, k->p + h->rdoff, h->rdlen);
	}
	if (rc < 0) {
		return rc;
	}
	a->ttl = MIN(a->ttl, h->ttl);
	if (rc > 0 || !dnsc_room(a, h->type, rr.pref, tl)) {
		a->skipped++; /* unusable, or no room: the answer goes on */
		return 0;
	}
	if (tl > 0) {
		rr.name = a->names_len;
		memcpy(a->names + a->names_len, text, tl);
		a->names_len = (uint16_t)(a->names_len + tl);
	}
	a->rr[a->nrr++] = rr;
	return 0;
}

static int
dnsc_collect(const struct dnsc_pkt *k, const struct dnsc_question *q,
    struct dnsc_answer *a)
{
	uint8_t name[DNSC_WIRE_MAX];
	uint16_t name_len, i;
	struct dnsc_rrhdr h;
	size_t off;

	if (dnsc_follow_cname(k, q, a, name, &name_len) < 0) {
		return -EBADMSG;
	}
	off = k->an_off;
	for (i = 0; i < k->an; i++) {
		dnsc_rr_next(k, &off, &h);
		if (h.type == q->type && dnsc_owner_is(&h, name, name_len) &&
		    dnsc_take(k, &h, a) < 0) {
			return -EBADMSG;
		}
	}
	return 0;
}

int
dnsc_msg_parse(const uint8_t *pkt, size_t len, const struct dnsc_question *q,
    struct dnsc_answer *a)
{
	struct dnsc_pkt k = { .p = pkt, .len = len };
	uint32_t soa_ttl = 0;
	uint16_t flags;
	size_t off;
	int rc;

	memset(a, 0, offsetof(struct dnsc_answer, rr));
	a->type = q->type;
	rc = dnsc_msg_header(&k, q, &flags, &off);
	if (rc < 0) {
		return rc;
	}
	a->rcode = (uint8_t)(flags & 0xf);
	if (flags & DNSC_F_TC) {
		a->status = DNSC_S_TRUNCATED;
		return 0; /* the rest may be cut anywhere */
	}
	if ((size_t)k.an + k.ns + k.ar > (len - off) / DNSC_RR_MIN) {
		return -EBADMSG;
	}
	k.an_off = off;
	if (dnsc_section_walk(&k, &off, k.an, NULL) < 0) {
		return -EBADMSG;
	}
	k.ns_off = off;
	if (dnsc_section_walk(&k, &off, k.ns, &soa_ttl) < 0 ||
	    dnsc_section_walk(&k, &off, k.ar, NULL) < 0) {
		return -EBADMSG;
	}
	if (a->rcode != 0 && a->rcode != 3) {
		a->status = DNSC_S_SERVFAIL;
		return 0;
	}
	a->ttl = DNSC_TTL_MAX;
	if (dnsc_collect(&k, q, a) < 0) {
		return -EBADMSG;
	}
	if (a->rcode == 3 || (a->nrr == 0 && a->skipped == 0)) {
		a->status = a->rcode == 3 ? DNSC_S_NXDOMAIN : DNSC_S_NODATA;
		a->ttl = MIN(soa_ttl, DNSC_NEG_TTL_MAX);
		a->nrr = 0;
		a->names_len = 0;
	}
	return 0;
}

int
dnsc_answer_rc(const struct dnsc_answer *a)
{
	switch (a->status) {
	case DNSC_S_OK:
		return 0;
	case DNSC_S_NODATA:
		return DNSC_E_NODATA;
	case DNSC_S_NXDOMAIN:
		return DNSC_E_NXDOMAIN;
	default:
		return DNSC_E_SERVFAIL;
	}
}

const char *
dnsc_rr_name(const struct dnsc_answer *a, uint32_t i)
{
	if (i >= a->nrr || a->rr[i].name >= a->names_len) {
		return "";
	}
	return a->names + a->rr[i].name;
}

const char *
dnsc_type_name(uint16_t type)
{
	switch (type) {
	case DNSC_T_A:
		return "a";
	case DNSC_T_AAAA:
		return "aaaa";
	case DNSC_T_MX:
		return "mx";
	case DNSC_T_CNAME:
		return "cname";
	case DNSC_T_SOA:
		return "soa";
	default:
		return "other";
	}
}

uint16_t
dnsc_type_parse(const char *s)
{
	static const uint16_t types[] = { DNSC_T_A, DNSC_T_AAAA, DNSC_T_MX };
	size_t i, n = strlen(s);

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		const char *t = dnsc_type_name(types[i]);

		if (str_ieq(s, n, t, strlen(t))) {
			return types[i];
		}
	}
	return 0;
}

const char *
dnsc_strerror(int rc)
{
	switch (rc) {
	case 0:
		return "ok";
	case DNSC_E_NXDOMAIN:
		return "nxdomain";
	case DNSC_E_NODATA:
		return "nodata";
	case DNSC_E_NULLMX:
		return "null-mx";
	case DNSC_E_SERVFAIL:
		return "servfail";
	case DNSC_E_TIMEOUT:
		return "timeout";
	case DNSC_E_BADANSWER:
		return "bad-answer";
	case -ENOMEM:
		return "no-memory";
	case -EINVAL:
		return "bad-name";
	case -EMSGSIZE:
		return "answer-too-long";
	case -ECONNREFUSED:
		return "refused";
	case -ENOTCONN:
		return "no-resolver";
	default:
		return "network-error";
	}
}

bool
dnsc_permanent(int rc)
{
	return rc == DNSC_E_NXDOMAIN || rc == DNSC_E_NODATA ||
	    rc == DNSC_E_NULLMX || rc == -EINVAL;
}

/* ---- MX ordering ------------------------------------------------------- */

static void
dnsc_mx_sort(struct dnsc_mx_host *h, uint32_t n)
{
	struct dnsc_mx_host t;
	uint32_t i, j;

	for (i = 1; i < n; i++) { /* stable insertion sort, n <= 16 */
		t = h[i];
		for (j = i; j > 0 && h[j - 1].pref > t.pref; j--) {
			h[j] = h[j - 1];
		}
		h[j] = t;
	}
}

/* RFC 5321 5.1: hosts of equal preference are tried in random order. */
static void
dnsc_mx_shuffle(struct dnsc_mx_host *h, uint32_t n)
{
	uint32_t rnd[DNSC_RR_MAX];
	uint32_t i = 0, j, k, run;
	struct dnsc_mx_host t;

	if (rand_bytes(rnd, sizeof(rnd)) < 0) {
		return; /* by preference alone */
	}
	while (i < n) {
		for (run = 1; i + run < n && h[i + run].pref == h[i].pref;
		     run++) {
		}
		for (j = run - 1; j > 0; j--) { /* Fisher-Yates */
			k = rnd[(i + j) % DNSC_RR_MAX] % (j + 1);
			t = h[i + j];
			h[i + j] = h[i + k];
			h[i + k] = t;
		}
		i += run;
	}
}

int
dnsc_msg_mx_order(const struct dnsc_answer *a, struct dnsc_mx_host *h,
    uint32_t max)
{
	struct dnsc_mx_host all[DNSC_RR_MAX];
	uint32_t i, j, n = 0;

	/*
	 * RFC 7505 3: a single record "0 ." says the domain takes no mail
	 * (a lone root exchange of another preference is taken alike)
	 */
	if (a->nrr == 1 && a->skipped == 0 && dnsc_rr_name(a, 0)[0] == '\0') {
		return DNSC_E_NULLMX;
	}
	for (i = 0; i < a->nrr && i < DNSC_RR_MAX; i++) {
		const char *name = dnsc_rr_name(a, i);

		if (a->rr[i].type != DNSC_T_MX || name[0] == '\0') {
			continue; /* a null MX among others is no host */
		}
		for (j = 0; j < n && strcmp(all[j].name, name) != 0; j++) {
		}
		if (j < n) { /* the same host twice: its best preference */
			all[j].pref = MIN(all[j].pref, a->rr[i].pref);
			continue;
		}
		all[n].pref = a->rr[i].pref;
		all[n].rc = 0;
		str_copy(all[n].name, name, sizeof(all[n].name));
		n++;
	}
	dnsc_mx_sort(all, n);
	dnsc_mx_shuffle(all, n);
	n = MIN(n, max);
	memcpy(h, all, n * sizeof(*h));
	return (int)n;
}
