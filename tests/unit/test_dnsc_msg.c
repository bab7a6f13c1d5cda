/*
 * test_dnsc_msg.c — the resolver's pure parts: host names in text and
 * wire form, the query (RFC 1035 4.1), the validation of answers (id,
 * question, QR, opcode, RCODE, section counts, compression pointers
 * bounded and loop-free, rdata lengths, CNAME chains, RFC 2181 TTLs,
 * RFC 2308 negative TTLs), the MX order of RFC 5321 5.1 and the null MX
 * of RFC 7505 (src/route/dnsc_msg.c); the cache with a fake clock
 * (dnsc_cache.c); resolv.conf and server address parsing (dnsc.c).
 *
 * The asynchronous client (dnsc.c, dnsc_mx.c) runs on the real event loop
 * against two UDP servers inside this process: answers, the cache (a hit
 * completes from the loop, not inside dnsc_query), time-out and the next
 * server, cancellation, stale handles, an empty pool (-ENOMEM), MX
 * resolution and its cancellation.
 *
 * Packets are made by hand: with the small builder below, or as bytes.
 * Golden cases: golden/dnsc/NAME.in hold "TYPE NAME" on the first line
 * and the answer in hex (real answers of Debian's dnsmasq); the .ref is
 * the rendering of what the parser took from it.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tu.h"

#include "route/dnsc.h"

/* ---- a packet builder ----------------------------------------------------- */

struct pk {
	uint8_t b[8192];
	size_t n;
};

static void
pk_u8(struct pk *p, unsigned v)
{
	assert_true(p->n < sizeof(p->b));
	p->b[p->n++] = (uint8_t)v;
}

static void
pk_u16(struct pk *p, unsigned v)
{
	pk_u8(p, (v >> 8) & 0xff);
	pk_u8(p, v & 0xff);
}

static void
pk_u32(struct pk *p, uint32_t v)
{
	pk_u16(p, v >> 16);
	pk_u16(p, v & 0xffff);
}

static void
pk_bytes(struct pk *p, const void *d, size_t n)
{
	assert_true(p->n + n <= sizeof(p->b));
	memcpy(p->b + p->n, d, n);
	p->n += n;
}

/* An uncompressed name; "" is the root. */
static void
pk_name(struct pk *p, const char *name)
{
	const char *s = name, *dot;

	while (*s != '\0') {
		dot = strchr(s, '.');
		size_t l = dot != NULL ? (size_t)(dot - s) : strlen(s);

		pk_u8(p, (unsigned)l);
		pk_bytes(p, s, l);
		s += l;
		if (*s == '.') {
			s++;
		}
	}
	pk_u8(p, 0);
}

static void
pk_ptr(struct pk *p, unsigned off)
{
	pk_u16(p, 0xc000u | off);
}

#define ID 0x1234u
#define F_ANSWER 0x8180u /* QR RD RA */

static void
pk_hdr(struct pk *p, unsigned id, unsigned flags, unsigned qd, unsigned an,
    unsigned ns, unsigned ar)
{
	p->n = 0;
	pk_u16(p, id);
	pk_u16(p, flags);
	pk_u16(p, qd);
	pk_u16(p, an);
	pk_u16(p, ns);
	pk_u16(p, ar);
}

static void
pk_question(struct pk *p, const char *name, unsigned type)
{
	pk_name(p, name);
	pk_u16(p, type);
	pk_u16(p, DNSC_C_IN);
}

static void
pk_rr(struct pk *p, const char *owner, unsigned type, uint32_t ttl,
    unsigned rdlen)
{
	pk_name(p, owner);
	pk_u16(p, type);
	pk_u16(p, DNSC_C_IN);
	pk_u32(p, ttl);
	pk_u16(p, rdlen);
}

static void
pk_a(struct pk *p, const char *owner, uint32_t ttl, const char *addr)
{
	uint8_t a[4];

	assert_int_equal(inet_pton(AF_INET, addr, a), 1);
	pk_rr(p, owner, DNSC_T_A, ttl, 4);
	pk_bytes(p, a, 4);
}

static void
pk_aaaa(struct pk *p, const char *owner, uint32_t ttl, const char *addr)
{
	uint8_t a[16];

	assert_int_equal(inet_pton(AF_INET6, addr, a), 1);
	pk_rr(p, owner, DNSC_T_AAAA, ttl, 16);
	pk_bytes(p, a, 16);
}

static void
pk_mx(struct pk *p, const char *owner, uint32_t ttl, unsigned pref,
    const char *host)
{
	pk_rr(p, owner, DNSC_T_MX, ttl,
	    2 + strlen(host) + (host[0] != '\0') + 1);
	pk_u16(p, pref);
	pk_name(p, host);
}

static void
pk_cname(struct pk *p, const char *owner, uint32_t ttl, const char *target)
{
	pk_rr(p, owner, DNSC_T_CNAME, ttl, strlen(target) + 2);
	pk_name(p, target);
}

static void
pk_soa(struct pk *p, const char *zone, uint32_t ttl, uint32_t minimum)
{
	pk_rr(p, zone, DNSC_T_SOA, ttl,
	    (strlen("ns.") + strlen(zone) + 2) +
	        (strlen("host.") + strlen(zone) + 2) + 20);
	{
		char mname[300], rname[300];

		snprintf(mname, sizeof(mname), "ns.%s", zone);
		snprintf(rname, sizeof(rname), "host.%s", zone);
		pk_name(p, mname);
		pk_name(p, rname);
	}
	pk_u32(p, 2026112801);
	pk_u32(p, 3600);
	pk_u32(p, 600);
	pk_u32(p, 86400);
	pk_u32(p, minimum);
}

/* ---- parsing helpers ------------------------------------------------------ */

static struct dnsc_question
question(const char *name, uint16_t type)
{
	struct dnsc_question q;

	assert_int_equal(dnsc_question_init(&q, name, type, ID), 0);
	return q;
}

/* Parse a copy of exactly len bytes (ASan sees any read past it). */
static int
parse_n(const uint8_t *b, size_t len, const struct dnsc_question *q,
    struct dnsc_answer *a)
{
	uint8_t *c = (uint8_t *)tu_dup((const char *)b, len);
	int rc;

	memset(a, 0x5a, sizeof(*a));
	rc = dnsc_msg_parse(c, len, q, a);
	free(c);
	assert_true(rc == 0 || rc == -EBADMSG || rc == -EPROTO);
	if (rc == 0) {
		assert_true(a->nrr <= DNSC_RR_MAX);
		assert_true(a->names_len <= DNSC_NAMES_MAX);
		assert_true(a->status <= DNSC_S_TRUNCATED);
		assert_true(a->ttl <= DNSC_TTL_MAX);
	}
	return rc;
}

static int
parse(const struct pk *p, const char *name, uint16_t type,
    struct dnsc_answer *a)
{
	struct dnsc_question q = question(name, type);

	return parse_n(p->b, p->n, &q, a);
}

static void
assert_addr(const struct dnsc_answer *a, uint32_t i, const char *text)
{
	char got[INET6_ADDRSTRLEN];

	assert_true(i < a->nrr);
	assert_non_null(
	    inet_ntop(a->rr[i].type == DNSC_T_A ? AF_INET : AF_INET6,
	        a->rr[i].addr, got, sizeof(got)));
	assert_string_equal(got, text);
}

/* ---- names and queries ---------------------------------------------------- */

static void
test_name_to_wire(void **state)
{
	uint8_t w[DNSC_WIRE_MAX];
	char name[300];
	int n;

	n = dnsc_name_to_wire("Mail.Example.TEST", w, sizeof(w));
	assert_int_equal(n, 19);
	tu_assert_mem_eq((char *)w, 19, "\4mail\7example\4test\0", 19);
	assert_int_equal(dnsc_name_to_wire("example.test.", w, sizeof(w)), 14);
	assert_int_equal(dnsc_name_to_wire("_dmarc.x-y.test", w, sizeof(w)),
	    17);
	assert_int_equal(dnsc_name_to_wire("", w, sizeof(w)), -EINVAL);
	assert_int_equal(dnsc_name_to_wire(".", w, sizeof(w)), -EINVAL);
	assert_int_equal(dnsc_name_to_wire("a..b", w, sizeof(w)), -EINVAL);
	assert_int_equal(dnsc_name_to_wire(".a", w, sizeof(w)), -EINVAL);
	assert_int_equal(dnsc_name_to_wire("a.b..", w, sizeof(w)), -EINVAL);
	assert_int_equal(dnsc_name_to_wire("a b.test", w, sizeof(w)), -EINVAL);
	assert_int_equal(dnsc_name_to_wire("a\\.b", w, sizeof(w)), -EINVAL);
	assert_int_equal(dnsc_name_to_wire("[127.0.0.1]", w, sizeof(w)),
	    -EINVAL);
	assert_int_equal(dnsc_name_to_wire("b\xc3\xbc.test", w, sizeof(w)),
	    -EINVAL);
	/* RFC 1035 2.3.4: labels of 63 octets, names of 255 */
	memset(name, 'a', 63);
	strcpy(name + 63, ".test");
	assert_int_equal(dnsc_name_to_wire(name, w, sizeof(w)), 70);
	memset(name, 'a', 64);
	strcpy(name + 64, ".test");
	assert_int_equal(dnsc_name_to_wire(name, w, sizeof(w)), -EINVAL);
	/* 4 labels of 63 (+ dots) = 255 text octets: too long */
	memset(name, 'a', 255);
	name[63] = name[127] = name[191] = '.';
	name[255] = '\0';
	assert_int_equal(dnsc_name_to_wire(name, w, sizeof(w)), -EINVAL);
	/* 253 text octets: 255 in wire form, the most there is */
	name[253] = '\0';
	assert_int_equal(dnsc_name_to_wire(name, w, sizeof(w)), 255);
	assert_int_equal(dnsc_name_to_wire(name, w, 254), -EINVAL);
}

static void
test_name_to_text(void **state)
{
	char out[DNSC_NAME_MAX + 1];

	assert_int_equal(dnsc_name_to_text((const uint8_t *)"\3mx1\4test\0", 10,
	                     out, sizeof(out)),
	    8);
	assert_string_equal(out, "mx1.test");
	assert_int_equal(dnsc_name_to_text((const uint8_t *)"\0", 1, out,
	                     sizeof(out)),
	    0);
	assert_string_equal(out, "");
	/* no root label, a label past the end, bytes of no host name */
	assert_int_equal(dnsc_name_to_text((const uint8_t *)"\3mx1", 4, out,
	                     sizeof(out)),
	    -EINVAL);
	assert_int_equal(dnsc_name_to_text((const uint8_t *)"\7mx1\0", 5, out,
	                     sizeof(out)),
	    -EINVAL);
	assert_int_equal(dnsc_name_to_text((const uint8_t *)"\3m x\0", 5, out,
	                     sizeof(out)),
	    -EINVAL);
	assert_int_equal(dnsc_name_to_text((const uint8_t *)"\3m.x\0", 5, out,
	                     sizeof(out)),
	    -EINVAL);
	assert_int_equal(dnsc_name_to_text((const uint8_t *)"\3mx1\4test\0", 10,
	                     out, 8),
	    -EINVAL);
}

static void
test_query_bytes(void **state)
{
	static const char want[] = "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00"
	                           "\x00\x00\7example\4test\0\x00\x0f\x00\x01";
	struct dnsc_question q = question("EXAMPLE.test.", DNSC_T_MX);
	uint8_t out[DNSC_QUERY_MAX];
	int n = dnsc_msg_query(&q, out, sizeof(out));

	assert_int_equal(n, sizeof(want) - 1);
	tu_assert_mem_eq((char *)out, (size_t)n, want, sizeof(want) - 1);
	assert_int_equal(dnsc_msg_query(&q, out, (size_t)n - 1), -EMSGSIZE);
	assert_int_equal(dnsc_question_init(&q, "a..b", DNSC_T_A, 1), -EINVAL);
}

/* ---- answers ---------------------------------------------------------------- */

/* example.test MX: 10 mx1, 20 mx2, compressed as servers do. */
static const uint8_t mx_compressed[] = { 0x12, 0x34, 0x81, 0x80, 0x00, 0x01,
	0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
	/* 12: question example.test MX IN */
	7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0, 0x00,
	0x0f, 0x00, 0x01,
	/* 30: c00c MX IN ttl 300, rdlen 8: 10 mx1.<c00c> */
	0xc0, 0x0c, 0x00, 0x0f, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x08,
	0x00, 0x0a, 3, 'm', 'x', '1', 0xc0, 0x0c,
	/* 50: c00c MX IN ttl 200, rdlen 8: 20 MX2.<c00c> */
	0xc0, 0x0c, 0x00, 0x0f, 0x00, 0x01, 0x00, 0x00, 0x00, 0xc8, 0x00, 0x08,
	0x00, 0x14, 3, 'M', 'X', '2', 0xc0, 0x0c };

static void
test_mx_compressed(void **state)
{
	struct dnsc_question q = question("example.test", DNSC_T_MX);
	struct dnsc_answer a;

	assert_int_equal(parse_n(mx_compressed, sizeof(mx_compressed), &q, &a),
	    0);
	assert_int_equal(a.status, DNSC_S_OK);
	assert_int_equal(dnsc_answer_rc(&a), 0);
	assert_int_equal(a.nrr, 2);
	assert_int_equal(a.rr[0].pref, 10);
	assert_string_equal(dnsc_rr_name(&a, 0), "mx1.example.test");
	assert_int_equal(a.rr[1].pref, 20);
	assert_string_equal(dnsc_rr_name(&a, 1), "mx2.example.test");
	assert_int_equal(a.ttl, 200);
	assert_false(a.via_cname);
	assert_string_equal(dnsc_rr_name(&a, 2), "");
}

static void
test_truncated_prefixes(void **state)
{
	struct dnsc_question q = question("example.test", DNSC_T_MX);
	struct dnsc_answer a;
	size_t len;

	/* every packet cut short is malformed, never read past; without
	 * a whole header it is not even an answer */
	for (len = 0; len < sizeof(mx_compressed); len++) {
		assert_int_equal(parse_n(mx_compressed, len, &q, &a),
		    len < 12 ? -EPROTO : -EBADMSG);
	}
}

static void
test_a_aaaa(void **state)
{
	struct dnsc_answer a;
	struct pk p;

	pk_hdr(&p, ID, F_ANSWER, 1, 3, 0, 0);
	pk_question(&p, "mx.test", DNSC_T_A);
	pk_a(&p, "mx.test", 60, "192.0.2.1");
	pk_a(&p, "MX.TEST", 30, "192.0.2.2");
	pk_a(&p, "other.test", 5, "192.0.2.9"); /* not ours: ignored */
	assert_int_equal(parse(&p, "mx.test", DNSC_T_A, &a), 0);
	assert_int_equal(a.status, DNSC_S_OK);
	assert_int_equal(a.nrr, 2);
	assert_addr(&a, 0, "192.0.2.1");
	assert_addr(&a, 1, "192.0.2.2");
	assert_int_equal(a.ttl, 30);

	pk_hdr(&p, ID, F_ANSWER, 1, 1, 0, 0);
	pk_question(&p, "mx.test", DNSC_T_AAAA);
	pk_aaaa(&p, "mx.test", 60, "2001:db8::25");
	assert_int_equal(parse(&p, "mx.test", DNSC_T_AAAA, &a), 0);
	assert_int_equal(a.nrr, 1);
	assert_int_equal(a.rr[0].type, DNSC_T_AAAA);
	assert_addr(&a, 0, "2001:db8::25");
	/* an A record in an AAAA answer is not taken */
	pk_hdr(&p, ID, F_ANSWER, 1, 1, 0, 0);
	pk_question(&p, "mx.test", DNSC_T_AAAA);
	pk_a(&p, "mx.test", 60, "192.0.2.1");
	assert_int_equal(parse(&p, "mx.test", DNSC_T_AAAA, &a), 0);
	assert_int_equal(a.status, DNSC_S_NODATA);
}

static void
test_bad_rdata(void **state)
{
	struct dnsc_answer a;
	struct pk p;

	/* A with 5 octets, AAAA with 4 */
	pk_hdr(&p, ID, F_ANSWER, 1, 1, 0, 0);
	pk_question(&p, "mx.test", DNSC_T_A);
	pk_rr(&p, "mx.test", DNSC_T_A, 60, 5);
	pk_bytes(&p, "\1\2\3\4\5", 5);
	assert_int_equal(parse(&p, "mx.test", DNSC_T_A, &a), -EBADMSG);
	pk_hdr(&p, ID, F_ANSWER, 1, 1, 0, 0);
	pk_question(&p, "mx.test", DNSC_T_AAAA);
	pk_rr(&p, "mx.test", DNSC_T_AAAA, 60, 4);
	pk_bytes(&p, "\1\2\3\4", 4);
	assert_int_equal(parse(&p, "mx.test", DNSC_T_AAAA, &a), -EBADMSG);
	/* rdlength past the end of the packet */
	pk_hdr(&p, ID, F_ANSWER, 1, 1, 0, 0);
	pk_question(&p, "mx.test", DNSC_T_A);
	pk_rr(&p, "mx.test", DNSC_T_A, 60, 40);
	pk_bytes(&p, "\1\2\3\4", 4);
	assert_int_equal(parse(&p, "mx.test", DNSC_T_A, &a), -EBADMSG);
	/* MX exchange running past its rdata, or not filling it */
	pk_hdr(&p, ID, F_ANSWER, 1, 1, 0, 0);
	pk_question(&p, "x.test", DNSC_T_MX);
	pk_rr(&p, "x.test", DNSC_T_MX, 60, 5);
	pk_u16(&p, 10);
	pk_name(&p, "mx.test");
	assert_int_equal(parse(&p, "x.test", DNSC_T_MX, &a), -EBADMSG);
	pk_hdr(&p, ID, F_ANSWER, 1, 1, 0, 0);
	pk_question(&p, "x.test", DNSC_T_MX);
	pk_rr(&p, "x.test", DNSC_T_MX, 60, 12);
	pk_u16(&p, 10);
	pk_name(&p, "mx.test");
	pk_u8(&p, 0);
	assert_int_equal(parse(&p, "x.test", DNSC_T_MX, &a), -EBADMSG);
	/* MX of 2 octets: no exchange */
	pk_hdr(&p, ID, F_ANSWER, 1, 1, 0, 0);
	pk_question(&p, "x.test", DNSC_T_MX);
	pk_rr(&p, "x.test", DNSC_T_MX, 60, 2);
	pk_u16(&p, 10);
	assert_int_equal(parse(&p, "x.test", DNSC_T_MX, &a), -EBADMSG);
}

static void
test_mx_bad_exchange_skipped(void **state)
{
	struct dnsc_mx_host h[DNSC_MX_HOSTS];
	struct dnsc_answer a;
	struct pk p;

	/* a well-formed record naming no host name: skipped, not fatal */
	pk_hdr(&p, ID, F_ANSWER, 1, 2, 0, 0);
	pk_question(&p, "x.test", DNSC_T_MX);
	pk_mx(&p, "x.test", 60, 10, "bad host.test");
	pk_mx(&p, "x.test", 60, 20, "mx.test");
	assert_int_equal(parse(&p, "x.test", DNSC_T_MX, &a), 0);
	assert_int_equal(a.nrr, 1);
	assert_int_equal(a.skipped, 1);
	assert_string_equal(dnsc_rr_name(&a, 0), "mx.test");
	/* only bad ones: an answer with no usable host */
	pk_hdr(&p, ID, F_ANSWER, 1, 1, 0, 0);
	pk_question(&p, "x.test", DNSC_T_MX);
	pk_mx(&p, "x.test", 60, 10, "bad host.test");
	assert_int_equal(parse(&p, "x.test", DNSC_T_MX, &a), 0);
	assert_int_equal(a.status, DNSC_S_OK);
	assert_int_equal(a.nrr, 0);
	assert_int_equal(dnsc_msg_mx_order(&a, h, DNSC_MX_HOSTS), 0);
}

static void
test_cname_chain(void **state)
{
	struct dnsc_answer a;
	struct pk p;

	pk_hdr(&p, ID, F_ANSWER, 1, 4, 0, 0);
	pk_question(&p, "www.test", DNSC_T_A);
	/* out of order on purpose: the chain is followed, not the order */
	pk_a(&p, "host.test", 300, "192.0.2.7");
	pk_cname(&p, "c1.test", 40, "host.test");
	pk_cname(&p, "www.test", 600, "c1.test");
	pk_a(&p, "www.test", 300, "192.0.2.66"); /* beside a CNAME: no */
	assert_int_equal(parse(&p, "www.test", DNSC_T_A, &a), 0);
	assert_int_equal(a.status, DNSC_S_OK);
	assert_true(a.via_cname);
	assert_int_equal(a.nrr, 1);
	assert_addr(&a, 0, "192.0.2.7");
	assert_int_equal(a.ttl, 40); /* the chain's least TTL */

	/* a chain to a name without the type: NODATA for it */
	pk_hdr(&p, ID, F_ANSWER, 1, 1, 1, 0);
	pk_question(&p, "www.test", DNSC_T_MX);
	pk_cname(&p, "www.test", 600, "host.test");
	pk_soa(&p, "test", 3600, 120);
	assert_int_equal(parse(&p, "www.test", DNSC_T_MX, &a), 0);
	assert_int_equal(a.status, DNSC_S_NODATA);
	assert_int_equal(a.ttl, 120);
}

static void
test_cname_bounded(void **state)
{
	char from[32], to[32];
	struct dnsc_answer a;
	struct pk p;
	int i;

	/* DNSC_CNAME_MAX links are followed... */
	pk_hdr(&p, ID, F_ANSWER, 1, DNSC_CNAME_MAX + 1, 0, 0);
	pk_question(&p, "c0.test", DNSC_T_A);
	for (i = 0; i < DNSC_CNAME_MAX; i++) {
		snprintf(from, sizeof(from), "c%d.test", i);
		snprintf(to, sizeof(to), "c%d.test", i + 1);
		pk_cname(&p, from, 60, to);
	}
	pk_a(&p, to, 60, "192.0.2.1");
	assert_int_equal(parse(&p, "c0.test", DNSC_T_A, &a), 0);
	assert_int_equal(a.nrr, 1);
	/* ... one more is too many */
	pk_hdr(&p, ID, F_ANSWER, 1, DNSC_CNAME_MAX + 2, 0, 0);
	pk_question(&p, "c0.test", DNSC_T_A);
	for (i = 0; i <= DNSC_CNAME_MAX; i++) {
		snprintf(from, sizeof(from), "c%d.test", i);
		snprintf(to, sizeof(to), "c%d.test", i + 1);
		pk_cname(&p, from, 60, to);
	}
	pk_a(&p, to, 60, "192.0.2.1");
	assert_int_equal(parse(&p, "c0.test", DNSC_T_A, &a), -EBADMSG);
	/* a loop */
	pk_hdr(&p, ID, F_ANSWER, 1, 2, 0, 0);
	pk_question(&p, "a.test", DNSC_T_A);
	pk_cname(&p, "a.test", 60, "b.test");
	pk_cname(&p, "b.test", 60, "a.test");
	assert_int_equal(parse(&p, "a.test", DNSC_T_A, &a), -EBADMSG);
}

static void
test_pointer_loops(void **state)
{
	struct dnsc_question q = question("example.test", DNSC_T_MX);
	struct dnsc_answer a;
	uint8_t b[sizeof(mx_compressed)];

	/* the first owner points to itself (offset 30) */
	memcpy(b, mx_compressed, sizeof(b));
	b[31] = 30;
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EBADMSG);
	/* ... forward, to the second owner (50) */
	b[31] = 50;
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EBADMSG);
	/* the exchange "mx1" + pointer back to its own label (44) */
	memcpy(b, mx_compressed, sizeof(b));
	b[49] = 44;
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EBADMSG);
	/* a pointer past the end */
	b[48] = 0xff;
	b[49] = 0xff;
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EBADMSG);
	/* a label type 01 (0x40, extended) */
	memcpy(b, mx_compressed, sizeof(b));
	b[44] = 0x43;
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EBADMSG);
	/* the question by pointer into the header: no loop, no match */
	{
		static const uint8_t hp[] = { 0x12, 0x34, 0x81, 0x80, 0x00,
			0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x04,
			0x00, 0x0f, 0x00, 0x01 };

		assert_true(parse_n(hp, sizeof(hp), &q, &a) < 0);
	}
}

static void
test_pointer_chain_ok(void **state)
{
	struct dnsc_answer a;
	struct pk p;
	size_t q_off, mx_off;

	/* www -> ptr to "mx1.<ptr question>": pointers that chain back */
	pk_hdr(&p, ID, F_ANSWER, 1, 2, 0, 0);
	q_off = p.n;
	pk_question(&p, "example.test", DNSC_T_MX);
	pk_ptr(&p, (unsigned)q_off);
	pk_u16(&p, DNSC_T_MX);
	pk_u16(&p, DNSC_C_IN);
	pk_u32(&p, 60);
	pk_u16(&p, 8);
	pk_u16(&p, 10);
	mx_off = p.n;
	pk_u8(&p, 3);
	pk_bytes(&p, "mx1", 3);
	pk_ptr(&p, (unsigned)q_off);
	pk_ptr(&p, (unsigned)q_off);
	pk_u16(&p, DNSC_T_MX);
	pk_u16(&p, DNSC_C_IN);
	pk_u32(&p, 60);
	pk_u16(&p, 8);
	pk_u16(&p, 20);
	pk_u8(&p, 3);
	pk_bytes(&p, "www", 3);
	pk_ptr(&p, (unsigned)mx_off);
	assert_int_equal(parse(&p, "example.test", DNSC_T_MX, &a), 0);
	assert_int_equal(a.nrr, 2);
	assert_string_equal(dnsc_rr_name(&a, 1), "www.mx1.example.test");
}

static void
test_counts(void **state)
{
	struct dnsc_question q = question("example.test", DNSC_T_MX);
	struct dnsc_answer a;
	uint8_t b[sizeof(mx_compressed)];

	memcpy(b, mx_compressed, sizeof(b));
	b[6] = 0xff; /* ANCOUNT 65282 */
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EBADMSG);
	memcpy(b, mx_compressed, sizeof(b));
	b[7] = 3; /* one record more than there is */
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EBADMSG);
	memcpy(b, mx_compressed, sizeof(b));
	b[11] = 1; /* an additional record that is not there */
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EBADMSG);
	memcpy(b, mx_compressed, sizeof(b));
	b[9] = 1; /* authority */
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EBADMSG);
	memcpy(b, mx_compressed, sizeof(b));
	b[7] = 1; /* fewer: the second record is trailing bytes */
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), 0);
	assert_int_equal(a.nrr, 1);
}

static void
test_not_an_answer(void **state)
{
	struct dnsc_question q = question("example.test", DNSC_T_MX);
	struct dnsc_answer a;
	uint8_t b[sizeof(mx_compressed)];

	memcpy(b, mx_compressed, sizeof(b));
	b[1] = 0x35; /* id */
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EPROTO);
	memcpy(b, mx_compressed, sizeof(b));
	b[2] = 0x01; /* QR clear: a query */
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EPROTO);
	memcpy(b, mx_compressed, sizeof(b));
	b[2] = 0x81 | (2 << 3); /* opcode STATUS */
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EPROTO);
	memcpy(b, mx_compressed, sizeof(b));
	b[5] = 0; /* no question */
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EPROTO);
	memcpy(b, mx_compressed, sizeof(b));
	b[5] = 2;
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EPROTO);
	memcpy(b, mx_compressed, sizeof(b));
	b[14] = 'y'; /* eyample.test */
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EPROTO);
	memcpy(b, mx_compressed, sizeof(b));
	b[27] = 0x01; /* type A */
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EPROTO);
	memcpy(b, mx_compressed, sizeof(b));
	b[29] = 0x03; /* class CH */
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), -EPROTO);
	/* case does not matter (RFC 4343) */
	memcpy(b, mx_compressed, sizeof(b));
	b[13] = 'E';
	assert_int_equal(parse_n(b, sizeof(b), &q, &a), 0);
	assert_int_equal(a.nrr, 2);
}

static void
test_rcodes(void **state)
{
	struct dnsc_answer a;
	struct pk p;

	pk_hdr(&p, ID, F_ANSWER | 3, 1, 0, 1, 0);
	pk_question(&p, "nosuch.test", DNSC_T_MX);
	pk_soa(&p, "test", 300, 3600);
	assert_int_equal(parse(&p, "nosuch.test", DNSC_T_MX, &a), 0);
	assert_int_equal(a.status, DNSC_S_NXDOMAIN);
	assert_int_equal(dnsc_answer_rc(&a), DNSC_E_NXDOMAIN);
	assert_int_equal(a.ttl, 300); /* RFC 2308 5: min(TTL, MINIMUM) */
	assert_int_equal(a.nrr, 0);

	pk_hdr(&p, ID, F_ANSWER | 3, 1, 0, 1, 0);
	pk_question(&p, "nosuch.test", DNSC_T_MX);
	pk_soa(&p, "test", 86400, 86400);
	assert_int_equal(parse(&p, "nosuch.test", DNSC_T_MX, &a), 0);
	assert_int_equal(a.ttl, DNSC_NEG_TTL_MAX);

	pk_hdr(&p, ID, F_ANSWER | 3, 1, 0, 0, 0);
	pk_question(&p, "nosuch.test", DNSC_T_MX);
	assert_int_equal(parse(&p, "nosuch.test", DNSC_T_MX, &a), 0);
	assert_int_equal(a.status, DNSC_S_NXDOMAIN);
	assert_int_equal(a.ttl, 0); /* no SOA: not to be cached */

	for (unsigned rc = 1; rc < 16; rc++) {
		if (rc == 3) {
			continue;
		}
		pk_hdr(&p, ID, F_ANSWER | rc, 1, 0, 0, 0);
		pk_question(&p, "x.test", DNSC_T_A);
		assert_int_equal(parse(&p, "x.test", DNSC_T_A, &a), 0);
		assert_int_equal(a.status, DNSC_S_SERVFAIL);
		assert_int_equal(a.rcode, rc);
		assert_int_equal(dnsc_answer_rc(&a), DNSC_E_SERVFAIL);
	}
	/* NODATA: NOERROR, no record of the type, SOA in authority */
	pk_hdr(&p, ID, F_ANSWER, 1, 0, 1, 0);
	pk_question(&p, "x.test", DNSC_T_MX);
	pk_soa(&p, "test", 60, 30);
	assert_int_equal(parse(&p, "x.test", DNSC_T_MX, &a), 0);
	assert_int_equal(a.status, DNSC_S_NODATA);
	assert_int_equal(dnsc_answer_rc(&a), DNSC_E_NODATA);
	assert_int_equal(a.ttl, 30);
	/* a malformed SOA is a malformed answer */
	pk_hdr(&p, ID, F_ANSWER, 1, 0, 1, 0);
	pk_question(&p, "x.test", DNSC_T_MX);
	pk_rr(&p, "test", DNSC_T_SOA, 60, 3);
	pk_bytes(&p, "\0\0\0", 3);
	assert_int_equal(parse(&p, "x.test", DNSC_T_MX, &a), -EBADMSG);
}

static void
test_truncated_flag(void **state)
{
	struct dnsc_answer a;
	struct pk p;

	/* TC: whatever follows the question may be cut anywhere */
	pk_hdr(&p, ID, F_ANSWER | 0x0200, 1, 40, 0, 0);
	pk_question(&p, "x.test", DNSC_T_MX);
	pk_bytes(&p, "\xc0\x0c\x00", 3);
	assert_int_equal(parse(&p, "x.test", DNSC_T_MX, &a), 0);
	assert_int_equal(a.status, DNSC_S_TRUNCATED);
	/* but it must still answer our question */
	pk_hdr(&p, ID + 1, F_ANSWER | 0x0200, 1, 40, 0, 0);
	pk_question(&p, "x.test", DNSC_T_MX);
	assert_int_equal(parse(&p, "x.test", DNSC_T_MX, &a), -EPROTO);
}

static void
test_ttl_rules(void **state)
{
	struct dnsc_answer a;
	struct pk p;

	/* RFC 2181 8: the top bit set means 0 */
	pk_hdr(&p, ID, F_ANSWER, 1, 2, 0, 0);
	pk_question(&p, "x.test", DNSC_T_A);
	pk_a(&p, "x.test", 0x80000001u, "192.0.2.1");
	pk_a(&p, "x.test", 100, "192.0.2.2");
	assert_int_equal(parse(&p, "x.test", DNSC_T_A, &a), 0);
	assert_int_equal(a.ttl, 0);
	pk_hdr(&p, ID, F_ANSWER, 1, 1, 0, 0);
	pk_question(&p, "x.test", DNSC_T_A);
	pk_a(&p, "x.test", 0x7fffffffu, "192.0.2.1");
	assert_int_equal(parse(&p, "x.test", DNSC_T_A, &a), 0);
	assert_int_equal(a.ttl, DNSC_TTL_MAX);
}

static void
test_other_class_and_owner(void **state)
{
	struct dnsc_answer a;
	struct pk p;

	pk_hdr(&p, ID, F_ANSWER, 1, 2, 0, 1);
	pk_question(&p, "x.test", DNSC_T_A);
	pk_name(&p, "x.test"); /* class CHAOS */
	pk_u16(&p, DNSC_T_A);
	pk_u16(&p, 3);
	pk_u32(&p, 60);
	pk_u16(&p, 4);
	pk_bytes(&p, "\1\2\3\4", 4);
	pk_a(&p, "y.test", 60, "192.0.2.1");
	/* EDNS OPT in the additional section: walked, not taken */
	pk_u8(&p, 0);
	pk_u16(&p, 41);
	pk_u16(&p, 1232);
	pk_u32(&p, 0);
	pk_u16(&p, 0);
	assert_int_equal(parse(&p, "x.test", DNSC_T_A, &a), 0);
	assert_int_equal(a.status, DNSC_S_NODATA);
}

static void
test_too_many_records(void **state)
{
	struct dnsc_answer a;
	char addr[32];
	struct pk p;
	int i;

	pk_hdr(&p, ID, F_ANSWER, 1, DNSC_RR_MAX + 4, 0, 0);
	pk_question(&p, "x.test", DNSC_T_A);
	for (i = 0; i < DNSC_RR_MAX + 4; i++) {
		snprintf(addr, sizeof(addr), "192.0.2.%d", i + 1);
		pk_a(&p, "x.test", 60, addr);
	}
	assert_int_equal(parse(&p, "x.test", DNSC_T_A, &a), 0);
	assert_int_equal(a.nrr, DNSC_RR_MAX);
	assert_int_equal(a.skipped, 4);
	assert_addr(&a, DNSC_RR_MAX - 1, "192.0.2.16");
}

/* Long MX names (80 octets) with preferences falling: the best stay. */
static void
test_mx_best_kept(void **state)
{
	char host[128], want[128];
	struct dnsc_answer a;
	struct pk p;
	uint32_t i, nmx = 14;

	pk_hdr(&p, ID, F_ANSWER, 1, (unsigned)nmx, 0, 0);
	pk_question(&p, "x.test", DNSC_T_MX);
	for (i = 0; i < nmx; i++) {
		snprintf(host, sizeof(host),
		    "mx%02u-aaaaaaaaaaaaaaaaaaaaa."
		    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
		    "ccccccccccccccccc.test",
		    i);
		assert_int_equal(strlen(host), 80);
		pk_mx(&p, "x.test", 60, 100 - i, host);
	}
	assert_int_equal(parse(&p, "x.test", DNSC_T_MX, &a), 0);
	/* 1024 octets of names hold 12 of them: the 2 worst made way */
	assert_int_equal(a.nrr, 12);
	assert_int_equal(a.skipped, 2);
	for (i = 0; i < a.nrr; i++) {
		uint32_t k = 100 - a.rr[i].pref;

		assert_true(k >= 2 && k < nmx);
		snprintf(want, sizeof(want),
		    "mx%02u-aaaaaaaaaaaaaaaaaaaaa."
		    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
		    "ccccccccccccccccc.test",
		    k);
		assert_string_equal(dnsc_rr_name(&a, i), want);
	}
	/* more records than slots: the lowest preferences stay */
	pk_hdr(&p, ID, F_ANSWER, 1, 20, 0, 0);
	pk_question(&p, "x.test", DNSC_T_MX);
	for (i = 0; i < 20; i++) {
		snprintf(host, sizeof(host), "m%u.test", i);
		pk_mx(&p, "x.test", 60, 100 - i, host);
	}
	assert_int_equal(parse(&p, "x.test", DNSC_T_MX, &a), 0);
	assert_int_equal(a.nrr, DNSC_RR_MAX);
	assert_int_equal(a.skipped, 20 - DNSC_RR_MAX);
	for (i = 0; i < a.nrr; i++) {
		assert_true(a.rr[i].pref <= 96);
		snprintf(want, sizeof(want), "m%u.test", 100 - a.rr[i].pref);
		assert_string_equal(dnsc_rr_name(&a, i), want);
	}
}

/* ---- MX order and null MX ---------------------------------------------------- */

static void
test_null_mx(void **state)
{
	struct dnsc_mx_host h[DNSC_MX_HOSTS];
	struct dnsc_answer a;
	struct pk p;

	pk_hdr(&p, ID, F_ANSWER, 1, 1, 0, 0);
	pk_question(&p, "nomail.test", DNSC_T_MX);
	pk_mx(&p, "nomail.test", 3600, 0, "");
	assert_int_equal(parse(&p, "nomail.test", DNSC_T_MX, &a), 0);
	assert_int_equal(a.nrr, 1);
	assert_string_equal(dnsc_rr_name(&a, 0), "");
	assert_int_equal(dnsc_msg_mx_order(&a, h, DNSC_MX_HOSTS),
	    DNSC_E_NULLMX);
	assert_true(dnsc_permanent(DNSC_E_NULLMX));
	/* a null MX among real ones is no host; the others stand */
	pk_hdr(&p, ID, F_ANSWER, 1, 2, 0, 0);
	pk_question(&p, "mixed.test", DNSC_T_MX);
	pk_mx(&p, "mixed.test", 3600, 0, "");
	pk_mx(&p, "mixed.test", 3600, 10, "mx.mixed.test");
	assert_int_equal(parse(&p, "mixed.test", DNSC_T_MX, &a), 0);
	assert_int_equal(dnsc_msg_mx_order(&a, h, DNSC_MX_HOSTS), 1);
	assert_string_equal(h[0].name, "mx.mixed.test");
}

static void
test_mx_order(void **state)
{
	struct dnsc_mx_host h[DNSC_MX_HOSTS];
	struct dnsc_answer a;
	struct pk p;
	int first_a = 0, first_b = 0, i, n;

	pk_hdr(&p, ID, F_ANSWER, 1, 5, 0, 0);
	pk_question(&p, "x.test", DNSC_T_MX);
	pk_mx(&p, "x.test", 60, 30, "c.test");
	pk_mx(&p, "x.test", 60, 10, "a.test");
	pk_mx(&p, "x.test", 60, 20, "d.test");
	pk_mx(&p, "x.test", 60, 10, "b.test");
	pk_mx(&p, "x.test", 60, 5, "D.test"); /* d again: its best pref */
	assert_int_equal(parse(&p, "x.test", DNSC_T_MX, &a), 0);
	assert_int_equal(a.nrr, 5);
	for (i = 0; i < 200; i++) {
		n = dnsc_msg_mx_order(&a, h, DNSC_MX_HOSTS);
		assert_int_equal(n, 4);
		assert_string_equal(h[0].name, "d.test");
		assert_int_equal(h[0].pref, 5);
		assert_int_equal(h[1].pref, 10);
		assert_int_equal(h[2].pref, 10);
		assert_string_equal(h[3].name, "c.test");
		assert_true((strcmp(h[1].name, "a.test") == 0 &&
		                strcmp(h[2].name, "b.test") == 0) ||
		    (strcmp(h[1].name, "b.test") == 0 &&
		        strcmp(h[2].name, "a.test") == 0));
		first_a += h[1].name[0] == 'a';
		first_b += h[1].name[0] == 'b';
	}
	/* RFC 5321 5.1: equal preferences in random order (both seen) */
	assert_true(first_a > 20 && first_b > 20);
	assert_int_equal(dnsc_msg_mx_order(&a, h, 2), 2);
	assert_int_equal(h[0].pref, 5);
	assert_int_equal(h[1].pref, 10);
}

/* ---- cache with a fake clock ---------------------------------------------------- */

static struct dnsc_answer
answer_a(uint32_t ttl, uint8_t last)
{
	struct dnsc_answer a;

	memset(&a, 0, sizeof(a));
	a.type = DNSC_T_A;
	a.status = DNSC_S_OK;
	a.ttl = ttl;
	a.nrr = 1;
	a.rr[0].type = DNSC_T_A;
	a.rr[0].addr[0] = 192;
	a.rr[0].addr[3] = last;
	return a;
}

static void
test_cache_ttl(void **state)
{
	struct dnsc_centry *mem = calloc(4, sizeof(*mem));
	struct dnsc_answer a = answer_a(10, 1), out;
	struct dnsc_cache c;

	assert_non_null(mem);
	dnsc_cache_init(&c, mem, 4);
	assert_false(dnsc_cache_get(&c, 1000, "x.test", DNSC_T_A, &out));
	dnsc_cache_put(&c, 1000, "x.test", DNSC_T_A, &a);
	assert_true(dnsc_cache_get(&c, 1000, "X.Test", DNSC_T_A, &out));
	assert_int_equal(out.ttl, 10);
	assert_int_equal(out.rr[0].addr[3], 1);
	assert_false(dnsc_cache_get(&c, 1000, "x.test", DNSC_T_AAAA, &out));
	assert_true(dnsc_cache_get(&c, 5500, "x.test", DNSC_T_A, &out));
	assert_int_equal(out.ttl, 6); /* 5.5 s left, rounded up */
	assert_true(dnsc_cache_get(&c, 10999, "x.test", DNSC_T_A, &out));
	assert_int_equal(out.ttl, 1);
	assert_false(dnsc_cache_get(&c, 11000, "x.test", DNSC_T_A, &out));
	assert_false(dnsc_cache_get(&c, 5000, "x.test", DNSC_T_A, &out));
	/* TTL 0 and failures are not kept */
	a = answer_a(0, 2);
	dnsc_cache_put(&c, 1000, "zero.test", DNSC_T_A, &a);
	assert_false(dnsc_cache_get(&c, 1000, "zero.test", DNSC_T_A, &out));
	a = answer_a(60, 2);
	a.status = DNSC_S_SERVFAIL;
	dnsc_cache_put(&c, 1000, "fail.test", DNSC_T_A, &a);
	assert_false(dnsc_cache_get(&c, 1000, "fail.test", DNSC_T_A, &out));
	/* negative answers with their TTL */
	memset(&a, 0, sizeof(a));
	a.type = DNSC_T_MX;
	a.status = DNSC_S_NXDOMAIN;
	a.ttl = 30;
	dnsc_cache_put(&c, 1000, "nosuch.test", DNSC_T_MX, &a);
	assert_true(dnsc_cache_get(&c, 20000, "nosuch.test", DNSC_T_MX, &out));
	assert_int_equal(dnsc_answer_rc(&out), DNSC_E_NXDOMAIN);
	assert_false(dnsc_cache_get(&c, 31000, "nosuch.test", DNSC_T_MX, &out));
	/* a new answer replaces the old one for the key */
	a = answer_a(100, 7);
	dnsc_cache_put(&c, 1000, "x.test", DNSC_T_A, &a);
	a = answer_a(100, 8);
	dnsc_cache_put(&c, 2000, "x.test", DNSC_T_A, &a);
	assert_true(dnsc_cache_get(&c, 2000, "x.test", DNSC_T_A, &out));
	assert_int_equal(out.rr[0].addr[3], 8);
	assert_int_equal(c.evictions, 0);
	free(mem);
}

static void
test_cache_eviction(void **state)
{
	struct dnsc_centry *mem = calloc(2, sizeof(*mem));
	struct dnsc_answer a, out;
	struct dnsc_cache c;

	assert_non_null(mem);
	dnsc_cache_init(&c, mem, 2);
	a = answer_a(100, 1);
	dnsc_cache_put(&c, 0, "one.test", DNSC_T_A, &a);
	a = answer_a(5, 2);
	dnsc_cache_put(&c, 0, "two.test", DNSC_T_A, &a);
	/* full: the oldest goes */
	a = answer_a(100, 3);
	dnsc_cache_put(&c, 1000, "three.test", DNSC_T_A, &a);
	assert_int_equal(c.evictions, 1);
	assert_false(dnsc_cache_get(&c, 1000, "one.test", DNSC_T_A, &out));
	assert_true(dnsc_cache_get(&c, 1000, "two.test", DNSC_T_A, &out));
	assert_true(dnsc_cache_get(&c, 1000, "three.test", DNSC_T_A, &out));
	/* an expired entry goes before the oldest live one */
	a = answer_a(100, 4);
	dnsc_cache_put(&c, 6000, "four.test", DNSC_T_A, &a);
	assert_int_equal(c.evictions, 1);
	assert_true(dnsc_cache_get(&c, 6000, "three.test", DNSC_T_A, &out));
	assert_true(dnsc_cache_get(&c, 6000, "four.test", DNSC_T_A, &out));
	dnsc_cache_flush(&c);
	assert_false(dnsc_cache_get(&c, 6000, "four.test", DNSC_T_A, &out));
	/* no entries: nothing kept, nothing breaks */
	dnsc_cache_init(&c, NULL, 0);
	dnsc_cache_put(&c, 0, "one.test", DNSC_T_A, &a);
	assert_false(dnsc_cache_get(&c, 0, "one.test", DNSC_T_A, &out));
	free(mem);
}

/* ---- configuration ------------------------------------------------------------ */

static void
test_resolv_parse(void **state)
{
	static const char text[] =
	    "# generated\n"
	    "search example.test\n"
	    "nameserver 192.0.2.53 \n"
	    "nameserver\t2001:db8::53\r\n"
	    "; comment\n"
	    "nameserver not-an-address\n"
	    "nameserver fe80::1%eth0\n"
	    "options ndots:2 timeout:3 attempts:4 rotate\n"
	    "nameserver 192.0.2.54 # trailing comment\n"
	    "nameserver 192.0.2.55\n"
	    "nameserver 192.0.2.56\n"
	    "nameserver 192.0.2.57";
	struct dnsc_conf c;
	char out[NET_ADDR_TEXT];

	memset(&c, 0, sizeof(c));
	assert_int_equal(dnsc_resolv_parse(text, strlen(text), &c), 4);
	assert_int_equal(c.nservers, DNSC_SERVERS_MAX);
	net_addr_fmt(&c.servers[0], out, sizeof(out));
	assert_string_equal(out, "192.0.2.53:53");
	net_addr_fmt(&c.servers[1], out, sizeof(out));
	assert_string_equal(out, "[2001:db8::53]:53");
	net_addr_fmt(&c.servers[3], out, sizeof(out));
	assert_string_equal(out, "192.0.2.55:53");
	assert_int_equal(c.timeout_ms, 3000);
	assert_int_equal(c.attempts, 4);
	memset(&c, 0, sizeof(c));
	assert_int_equal(dnsc_resolv_parse("", 0, &c), 0);
	assert_int_equal(dnsc_conf_resolv(&c, "/nonexistent/resolv.conf"),
	    -ENOENT);
	assert_int_equal(c.timeout_ms, DNSC_TIMEOUT_MS);
}

static void
test_server_parse(void **state)
{
	struct net_addr a;
	char out[NET_ADDR_TEXT];

	assert_int_equal(dnsc_server_parse("127.0.0.1:5353", &a), 0);
	net_addr_fmt(&a, out, sizeof(out));
	assert_string_equal(out, "127.0.0.1:5353");
	assert_int_equal(dnsc_server_parse("192.0.2.1", &a), 0);
	net_addr_fmt(&a, out, sizeof(out));
	assert_string_equal(out, "192.0.2.1:53");
	assert_int_equal(dnsc_server_parse("[::1]:5353", &a), 0);
	net_addr_fmt(&a, out, sizeof(out));
	assert_string_equal(out, "[::1]:5353");
	assert_int_equal(dnsc_server_parse("::1", &a), 0);
	net_addr_fmt(&a, out, sizeof(out));
	assert_string_equal(out, "[::1]:53");
	assert_int_equal(dnsc_server_parse("[2001:db8::1]", &a), 0);
	net_addr_fmt(&a, out, sizeof(out));
	assert_string_equal(out, "[2001:db8::1]:53");
	assert_int_equal(dnsc_server_parse("ns.example.test", &a), -EINVAL);
	assert_int_equal(dnsc_server_parse("127.0.0.1:0", &a), -EINVAL);
	assert_int_equal(dnsc_server_parse("", &a), -EINVAL);
	assert_int_equal(dnsc_server_parse("[]", &a), -EINVAL);
}

static void
test_errors(void **state)
{
	assert_string_equal(dnsc_strerror(0), "ok");
	assert_string_equal(dnsc_strerror(DNSC_E_NXDOMAIN), "nxdomain");
	assert_string_equal(dnsc_strerror(DNSC_E_NODATA), "nodata");
	assert_string_equal(dnsc_strerror(DNSC_E_NULLMX), "null-mx");
	assert_string_equal(dnsc_strerror(DNSC_E_SERVFAIL), "servfail");
	assert_string_equal(dnsc_strerror(DNSC_E_TIMEOUT), "timeout");
	assert_string_equal(dnsc_strerror(-ENOMEM), "no-memory");
	assert_true(dnsc_permanent(DNSC_E_NXDOMAIN));
	assert_true(dnsc_permanent(DNSC_E_NODATA));
	assert_false(dnsc_permanent(DNSC_E_SERVFAIL));
	assert_false(dnsc_permanent(DNSC_E_TIMEOUT));
	assert_false(dnsc_permanent(-ENOMEM));
	assert_false(dnsc_permanent(DNSC_E_BADANSWER));
	assert_int_equal(dnsc_type_parse("MX"), DNSC_T_MX);
	assert_int_equal(dnsc_type_parse("aaaa"), DNSC_T_AAAA);
	assert_int_equal(dnsc_type_parse("a"), DNSC_T_A);
	assert_int_equal(dnsc_type_parse("txt"), 0);
	assert_int_equal(dnsc_type_parse(""), 0);
}

/* ---- the asynchronous client against servers in this process ------------------ */

enum srv_mode { SRV_ANSWER, SRV_SILENT };

struct srv {
	struct ev_io io;
	struct net_addr addr;
	enum srv_mode mode;
	unsigned nq;
};

static struct srv srvs[2];

/* A, MX and negative answers from a small zone under "test". */
static void
srv_answer(struct srv *s, const uint8_t *b, size_t n, struct pk *p)
{
	char name[256];
	size_t qend = 12, o = 0;
	unsigned qtype;

	while (qend < n && b[qend] != 0 && o + b[qend] + 1 < sizeof(name)) {
		if (o > 0) {
			name[o++] = '.';
		}
		memcpy(name + o, b + qend + 1, b[qend]);
		o += b[qend];
		qend += 1u + b[qend];
	}
	name[o] = '\0';
	qend += 5;
	assert_true(qend <= n);
	qtype = (unsigned)(b[qend - 4] << 8 | b[qend - 3]);
	p->n = 0;
	pk_u16(p, (unsigned)(b[0] << 8 | b[1]));
	if (strncmp(name, "nx", 2) == 0) {
		pk_u16(p, F_ANSWER | 3);
		pk_u16(p, 1);
		pk_u16(p, 0);
		pk_u16(p, 1);
		pk_u16(p, 0);
		pk_bytes(p, b + 12, qend - 12);
		pk_soa(p, "test", 30, 30);
		return;
	}
	pk_u16(p, F_ANSWER);
	pk_u16(p, 1);
	pk_u16(p, qtype == DNSC_T_A || qtype == DNSC_T_MX ? 2 : 0);
	pk_u16(p, qtype == DNSC_T_A || qtype == DNSC_T_MX ? 0 : 1);
	pk_u16(p, 0);
	pk_bytes(p, b + 12, qend - 12);
	if (qtype == DNSC_T_A) {
		pk_a(p, name, 60, "192.0.2.1");
		pk_a(p, name, 60, s == &srvs[0] ? "192.0.2.2" : "192.0.2.3");
	} else if (qtype == DNSC_T_MX) {
		pk_mx(p, name, 60, 10, "h1.mx.test");
		pk_mx(p, name, 60, 10, "h2.mx.test");
	} else {
		pk_soa(p, "test", 60, 60);
	}
}

static void
srv_on_read(struct ev_io *io, uint32_t events)
{
	struct srv *s = container_of(io, struct srv, io);
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	static struct pk p;
	uint8_t b[512];
	ssize_t n;

	n = recvfrom(io->fd, b, sizeof(b), 0, (struct sockaddr *)&peer, &plen);
	if (n < 17) {
		return;
	}
	s->nq++;
	if (s->mode == SRV_SILENT) {
		return;
	}
	srv_answer(s, b, (size_t)n, &p);
	assert_int_equal(sendto(io->fd, p.b, p.n, 0, (struct sockaddr *)&peer,
	                     plen),
	    (ssize_t)p.n);
}

static void
srv_start(struct srv *s)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	memset(&s->addr, 0, sizeof(s->addr));
	s->addr.u.in4.sin_family = AF_INET;
	s->addr.u.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->addr.len = sizeof(s->addr.u.in4);
	assert_int_equal(bind(fd, &s->addr.u.sa, s->addr.len), 0);
	assert_int_equal(getsockname(fd, &s->addr.u.sa, &s->addr.len), 0);
	assert_int_equal(ev_io_start(&s->io, fd, EV_READ, srv_on_read), 0);
	s->mode = SRV_ANSWER;
	s->nq = 0;
}

/* What the completions saw. */
static struct {
	unsigned calls;
	int rc;
	struct handle owner;
	uint32_t tag;
	struct dnsc_answer ans;
	struct dnsc_mx_result mx;
	bool in_call; /* inside dnsc_query: a completion there is a bug */
	bool stop_after; /* ev_break on the completion */
} seen;

static struct ev_timer guard;
static bool guard_fired;

static void
guard_fn(struct ev_timer *t)
{
	guard_fired = true;
	ev_break();
}

/* Run the loop until a completion breaks it or ms pass; true if one did. */
static bool
run_loop(uint64_t ms)
{
	guard_fired = false;
	ev_timer_start(&guard, ms, guard_fn);
	assert_int_equal(ev_run(), 0);
	ev_timer_stop(&guard);
	return !guard_fired;
}

static void
on_answer(struct handle owner, uint32_t tag, int rc,
    const struct dnsc_answer *ans)
{
	assert_false(seen.in_call);
	seen.calls++;
	seen.rc = rc;
	seen.owner = owner;
	seen.tag = tag;
	seen.ans = *ans;
	if (seen.stop_after) {
		ev_break();
	}
}

static void
on_mx(struct handle owner, uint32_t tag, int rc, const struct dnsc_mx_result *r)
{
	seen.calls++;
	seen.rc = rc;
	seen.owner = owner;
	seen.tag = tag;
	seen.mx = *r;
	ev_break();
}

static int
ask(const char *name, uint16_t type, uint32_t tag, struct handle *q)
{
	struct handle owner = { 7, 13 };
	int rc;

	seen.in_call = true;
	rc = dnsc_query(name, type, on_answer, owner, tag, q);
	seen.in_call = false;
	return rc;
}

static uint32_t
in_flight(void)
{
	struct dnsc_stats st;

	dnsc_get_stats(&st);
	return st.in_flight;
}

static void
test_client_answer_and_cache(void **state)
{
	struct net_addr both[2];
	struct dnsc_stats st;
	struct handle q;

	assert_int_equal(ask("x.test", DNSC_T_A, 1, &q), -ENOTCONN);
	srv_start(&srvs[0]);
	srv_start(&srvs[1]);
	both[0] = srvs[0].addr;
	both[1] = srvs[1].addr;
	assert_int_equal(dnsc_init(both, 2), 0);
	dnsc_set_timeouts(100, 1);
	memset(&seen, 0, sizeof(seen));
	seen.stop_after = true;
	assert_int_equal(ask("Host.Test.", DNSC_T_A, 42, &q), 0);
	assert_int_equal(seen.calls, 0);
	assert_true(run_loop(2000));
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.rc, 0);
	assert_int_equal(seen.tag, 42);
	assert_int_equal(seen.owner.slot, 7);
	assert_int_equal(seen.owner.gen, 13);
	assert_int_equal(seen.ans.nrr, 2);
	assert_addr(&seen.ans, 1, "192.0.2.2");
	assert_int_equal(srvs[0].nq, 1);
	assert_int_equal(in_flight(), 0);
	/* again: from the cache, still from the loop, no query sent */
	assert_int_equal(ask("host.test", DNSC_T_A, 43, NULL), 0);
	assert_int_equal(seen.calls, 1);
	assert_true(run_loop(2000));
	assert_int_equal(seen.calls, 2);
	assert_int_equal(seen.rc, 0);
	assert_int_equal(seen.tag, 43);
	assert_int_equal(seen.ans.nrr, 2);
	assert_true(seen.ans.ttl >= 59 && seen.ans.ttl <= 60);
	assert_int_equal(srvs[0].nq, 1);
	dnsc_get_stats(&st);
	assert_int_equal(st.cache_hits, 1);
	/* NXDOMAIN, cached with its SOA TTL */
	assert_int_equal(ask("nx.test", DNSC_T_A, 44, NULL), 0);
	assert_true(run_loop(2000));
	assert_int_equal(seen.rc, DNSC_E_NXDOMAIN);
	assert_int_equal(ask("nx.test", DNSC_T_A, 45, NULL), 0);
	assert_true(run_loop(2000));
	assert_int_equal(seen.rc, DNSC_E_NXDOMAIN);
	assert_int_equal(srvs[0].nq, 2);
	assert_int_equal(ask("bad..name", DNSC_T_A, 46, NULL), -EINVAL);
}

static void
test_client_next_server(void **state)
{
	memset(&seen, 0, sizeof(seen));
	seen.stop_after = true;
	srvs[0].mode = SRV_SILENT;
	srvs[0].nq = srvs[1].nq = 0;
	assert_int_equal(ask("next.test", DNSC_T_A, 1, NULL), 0);
	assert_true(run_loop(3000));
	assert_int_equal(seen.rc, 0);
	assert_addr(&seen.ans, 1, "192.0.2.3");
	assert_int_equal(srvs[0].nq, 1);
	assert_int_equal(srvs[1].nq, 1);
	/* both silent: one round of 100 ms each, then a time-out */
	srvs[1].mode = SRV_SILENT;
	assert_int_equal(ask("silent.test", DNSC_T_A, 2, NULL), 0);
	assert_true(run_loop(3000));
	assert_int_equal(seen.rc, DNSC_E_TIMEOUT);
	assert_int_equal(seen.ans.nrr, 0);
	assert_int_equal(srvs[0].nq + srvs[1].nq, 4);
	assert_int_equal(in_flight(), 0);
	srvs[0].mode = srvs[1].mode = SRV_ANSWER;
}

static void
test_client_cancel_and_stale(void **state)
{
	struct handle q1, q2;

	memset(&seen, 0, sizeof(seen));
	srvs[0].mode = SRV_SILENT;
	srvs[1].mode = SRV_SILENT;
	assert_int_equal(ask("c1.test", DNSC_T_A, 1, &q1), 0);
	dnsc_cancel(q1);
	assert_int_equal(in_flight(), 0);
	/* the slot comes back with another generation... */
	assert_int_equal(ask("c2.test", DNSC_T_A, 2, &q2), 0);
	assert_int_equal(q2.slot, q1.slot);
	assert_true(q2.gen != q1.gen);
	/* ... so the old handle no longer cancels anything */
	dnsc_cancel(q1);
	dnsc_cancel(q1);
	assert_int_equal(in_flight(), 1);
	srvs[0].mode = srvs[1].mode = SRV_ANSWER;
	dnsc_cancel(q2);
	assert_false(run_loop(400)); /* nothing completes */
	assert_int_equal(seen.calls, 0);
	assert_int_equal(in_flight(), 0);
}

static void
test_client_pool_empty(void **state)
{
	struct handle q[CONFIG_POOL_DNS_QUERIES];
	char name[32];
	uint32_t i;

	memset(&seen, 0, sizeof(seen));
	srvs[0].mode = srvs[1].mode = SRV_SILENT;
	for (i = 0; i < CONFIG_POOL_DNS_QUERIES; i++) {
		snprintf(name, sizeof(name), "p%u.test", i);
		assert_int_equal(ask(name, DNSC_T_A, i, &q[i]), 0);
	}
	/* an empty pool is an answer, at once */
	assert_int_equal(ask("one-more.test", DNSC_T_A, 0, NULL), -ENOMEM);
	assert_int_equal(dnsc_mx_resolve("mx.test", 0, on_mx,
	                     (struct handle){ 1, 1 }, 0, NULL),
	    -ENOMEM);
	assert_int_equal(in_flight(), CONFIG_POOL_DNS_QUERIES);
	for (i = 0; i < CONFIG_POOL_DNS_QUERIES; i++) {
		dnsc_cancel(q[i]);
	}
	assert_int_equal(in_flight(), 0);
	assert_int_equal(seen.calls, 0);
	srvs[0].mode = srvs[1].mode = SRV_ANSWER;
}

static void
test_client_mx(void **state)
{
	struct handle owner = { 3, 5 }, h;
	char text[INET6_ADDRSTRLEN];
	uint32_t i;

	dnsc_cache_clear();
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(dnsc_mx_resolve("MX.test.", 0, on_mx, owner, 9, &h),
	    0);
	assert_true(run_loop(3000));
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.rc, 0);
	assert_int_equal(seen.tag, 9);
	assert_int_equal(seen.owner.slot, 3);
	assert_false(seen.mx.implicit);
	assert_int_equal(seen.mx.nhosts, 2);
	assert_int_equal(seen.mx.naddrs, 4); /* 2 A each, no AAAA */
	for (i = 0; i < seen.mx.naddrs; i++) {
		struct net_addr a;

		/* host by host, in the order of the hosts */
		assert_int_equal(seen.mx.addrs[i].host, i / 2);
		dnsc_mx_addr(&seen.mx, i, 2525, &a);
		net_addr_host(&a, text, sizeof(text));
		assert_string_equal(text, i % 2 ? "192.0.2.2" : "192.0.2.1");
		assert_int_equal(ntohs(a.u.in4.sin_port), 2525);
	}
	assert_int_equal(seen.mx.hosts[0].rc, 0);
	assert_int_equal(in_flight(), 0);
	/* NXDOMAIN for the domain */
	assert_int_equal(dnsc_mx_resolve("nx-domain.test", 0, on_mx, owner, 10,
	                     NULL),
	    0);
	assert_true(run_loop(3000));
	assert_int_equal(seen.rc, DNSC_E_NXDOMAIN);
	/* cancelled half-way: no completion, every query released */
	dnsc_cache_clear();
	seen.calls = 0;
	srvs[0].mode = srvs[1].mode = SRV_SILENT;
	assert_int_equal(dnsc_mx_resolve("mx.test", 0, on_mx, owner, 11, &h),
	    0);
	assert_int_equal(in_flight(), 1);
	dnsc_mx_cancel(h);
	dnsc_mx_cancel(h);
	assert_int_equal(in_flight(), 0);
	assert_false(run_loop(300));
	assert_int_equal(seen.calls, 0);
	srvs[0].mode = srvs[1].mode = SRV_ANSWER;
	assert_int_equal(dnsc_mx_resolve("a..b", 0, on_mx, owner, 12, NULL),
	    -EINVAL);
	dnsc_fini();
	assert_int_equal(ask("x.test", DNSC_T_A, 1, NULL), -ENOTCONN);
}

/* ---- golden cases: real answers -------------------------------------------------- */

static int
dnsc_hex(int c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	return -1;
}

static void
render(const char *in, size_t len, struct tu_out *o)
{
	const char *opts, *text;
	size_t olen, tlen, i, n = 0;
	char type[16], name[300];
	static uint8_t pkt[8192];
	struct dnsc_question q;
	struct dnsc_answer a;
	uint32_t k;
	int hi = -1, rc;

	assert_true(tu_split_opts(in, len, &opts, &olen, &text, &tlen));
	assert_int_equal(sscanf(opts, "%15s %299s", type, name), 2);
	for (i = 0; i < tlen; i++) {
		int v = dnsc_hex(text[i]);

		if (v < 0) {
			continue;
		}
		if (hi < 0) {
			hi = v;
		} else {
			assert_true(n < sizeof(pkt));
			pkt[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	assert_true(n >= 2);
	assert_int_equal(dnsc_question_init(&q, name, dnsc_type_parse(type),
	                     (uint16_t)(pkt[0] << 8 | pkt[1])),
	    0);
	rc = parse_n(pkt, n, &q, &a);
	tu_outf(o, "rc=%d\n", rc);
	if (rc < 0) {
		return;
	}
	tu_outf(o,
	    "status=%u rcode=%u result=%s ttl=%u records=%u skipped=%u%s\n",
	    a.status, a.rcode, dnsc_strerror(dnsc_answer_rc(&a)), a.ttl, a.nrr,
	    a.skipped, a.via_cname ? " cname" : "");
	for (k = 0; k < a.nrr; k++) {
		char addr[INET6_ADDRSTRLEN];

		if (a.rr[k].type == DNSC_T_MX) {
			tu_outf(o, "mx %u %s\n", a.rr[k].pref,
			    dnsc_rr_name(&a, k));
			continue;
		}
		inet_ntop(a.rr[k].type == DNSC_T_A ? AF_INET : AF_INET6,
		    a.rr[k].addr, addr, sizeof(addr));
		tu_outf(o, "%s %s\n", dnsc_type_name(a.rr[k].type), addr);
	}
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_to_wire),
		cmocka_unit_test(test_name_to_text),
		cmocka_unit_test(test_query_bytes),
		cmocka_unit_test(test_mx_compressed),
		cmocka_unit_test(test_truncated_prefixes),
		cmocka_unit_test(test_a_aaaa),
		cmocka_unit_test(test_bad_rdata),
		cmocka_unit_test(test_mx_bad_exchange_skipped),
		cmocka_unit_test(test_cname_chain),
		cmocka_unit_test(test_cname_bounded),
		cmocka_unit_test(test_pointer_loops),
		cmocka_unit_test(test_pointer_chain_ok),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_not_an_answer),
		cmocka_unit_test(test_rcodes),
		cmocka_unit_test(test_truncated_flag),
		cmocka_unit_test(test_ttl_rules),
		cmocka_unit_test(test_other_class_and_owner),
		cmocka_unit_test(test_too_many_records),
		cmocka_unit_test(test_mx_best_kept),
		cmocka_unit_test(test_null_mx),
		cmocka_unit_test(test_mx_order),
		cmocka_unit_test(test_cache_ttl),
		cmocka_unit_test(test_cache_eviction),
		cmocka_unit_test(test_resolv_parse),
		cmocka_unit_test(test_server_parse),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_client_answer_and_cache),
		cmocka_unit_test(test_client_next_server),
		cmocka_unit_test(test_client_cancel_and_stale),
		cmocka_unit_test(test_client_pool_empty),
		cmocka_unit_test(test_client_mx),
	};

	log_open(false, LOG_L_WARN);
	if (arena_init(dnsc_arena_size() + (4u << 20)) != 0 ||
	    ev_init(DNSC_TIMERS + 8) != 0) {
		return 1;
	}
	return tu_run("dnsc_msg", tests, ARRAY_SIZE(tests), "dnsc", render);
}
