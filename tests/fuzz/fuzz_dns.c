/*
 * fuzz_dns.c — arbitrary bytes as the answer to a fixed question
 * (example.test, types MX, A and AAAA; the id fixed, and also taken from
 * the input so that the fuzzer gets past the id check), through
 * dnsc_msg_parse, then the MX ordering and the cache, as the resolver
 * does with an answer (src/route/dnsc_msg.c, dnsc_cache.c).
 *
 * Properties (abort on violation): the parser answers 0, -EBADMSG or
 * -EPROTO and nothing else, the same twice; an answer holds at most
 * DNSC_RR_MAX records, all of the asked type, with TTLs within their caps;
 * a failure status carries no record; every MX exchange is a host name
 * that makes a query again (or the root); the MX order is by preference
 * with no host twice, and a null MX is a lone root exchange; the cache
 * gives back what it was given, with the TTL it had.
 */
#include <string.h>

#include "fuzz.h"

#include "route/dnsc.h"

#define FUZZ_DNS_NAME "example.test"

static void
fuzz_dns_mx(const struct dnsc_answer *a)
{
	struct dnsc_mx_host h[DNSC_MX_HOSTS];
	int n = dnsc_msg_mx_order(a, h, DNSC_MX_HOSTS);
	int i, j;

	if (n == DNSC_E_NULLMX) {
		FUZZ_CHECK(a->nrr == 1 && dnsc_rr_name(a, 0)[0] == '\0');
		return;
	}
	FUZZ_CHECK(n >= 0 && n <= DNSC_MX_HOSTS && n <= a->nrr);
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(h[i].name[0] != '\0');
		FUZZ_CHECK(i == 0 || h[i - 1].pref <= h[i].pref);
		for (j = 0; j < i; j++) {
			FUZZ_CHECK(strcmp(h[i].name, h[j].name) != 0);
		}
	}
}

static void
fuzz_dns_records(const struct dnsc_answer *a, uint16_t type)
{
	struct dnsc_question q;
	uint32_t i;

	for (i = 0; i < a->nrr; i++) {
		const char *name;

		FUZZ_CHECK(a->rr[i].type == type);
		if (type != DNSC_T_MX) {
			continue;
		}
		FUZZ_CHECK(a->rr[i].name < a->names_len);
		name = dnsc_rr_name(a, i);
		FUZZ_CHECK(
		    memchr(name, '\0', a->names_len - a->rr[i].name) != NULL);
		FUZZ_CHECK(strlen(name) <= DNSC_NAME_MAX);
		/* a host name the resolver can ask about, or the root */
		FUZZ_CHECK(name[0] == '\0' ||
		    dnsc_question_init(&q, name, DNSC_T_A, 1) == 0);
	}
}

static void
fuzz_dns_cache(const struct dnsc_answer *a, uint16_t type)
{
	static struct dnsc_centry mem[2];
	struct dnsc_cache c;
	struct dnsc_answer out;
	bool kept;

	dnsc_cache_init(&c, mem, 2);
	dnsc_cache_flush(&c);
	dnsc_cache_put(&c, 5000, FUZZ_DNS_NAME, type, a);
	kept = dnsc_cache_get(&c, 5000, FUZZ_DNS_NAME, type, &out);
	FUZZ_CHECK(kept == (a->ttl > 0 && a->status <= DNSC_S_NXDOMAIN));
	if (kept) {
		FUZZ_CHECK(out.ttl == a->ttl && out.nrr == a->nrr);
		FUZZ_CHECK(out.status == a->status);
		FUZZ_CHECK(
		    memcmp(out.rr, a->rr, sizeof(a->rr[0]) * a->nrr) == 0);
		FUZZ_CHECK(!dnsc_cache_get(&c, 5000 + (uint64_t)a->ttl * 1000u,
		    FUZZ_DNS_NAME, type, &out));
	}
}

static void
fuzz_dns_one(const uint8_t *data, size_t size, uint16_t type, uint16_t id)
{
	struct dnsc_question q;
	struct dnsc_answer a, b;
	int rc, rc2;

	FUZZ_CHECK(dnsc_question_init(&q, FUZZ_DNS_NAME, type, id) == 0);
	rc = dnsc_msg_parse(data, size, &q, &a);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -EPROTO);
	rc2 = dnsc_msg_parse(data, size, &q, &b);
	FUZZ_CHECK(rc == rc2);
	if (rc < 0) {
		return;
	}
	FUZZ_CHECK(a.status == b.status && a.nrr == b.nrr && a.ttl == b.ttl &&
	    a.names_len == b.names_len);
	FUZZ_CHECK(a.type == type);
	FUZZ_CHECK(a.status <= DNSC_S_TRUNCATED);
	FUZZ_CHECK(a.nrr <= DNSC_RR_MAX);
	FUZZ_CHECK(a.names_len <= DNSC_NAMES_MAX);
	FUZZ_CHECK(a.ttl <= DNSC_TTL_MAX);
	if (a.status != DNSC_S_OK) {
		FUZZ_CHECK(a.nrr == 0);
	}
	if (a.status == DNSC_S_NODATA || a.status == DNSC_S_NXDOMAIN) {
		FUZZ_CHECK(a.ttl <= DNSC_NEG_TTL_MAX);
	}
	FUZZ_CHECK((dnsc_answer_rc(&a) == 0) == (a.status == DNSC_S_OK));
	fuzz_dns_records(&a, type);
	if (type == DNSC_T_MX && a.status == DNSC_S_OK) {
		fuzz_dns_mx(&a);
	}
	fuzz_dns_cache(&a, type);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t types[] = { DNSC_T_MX, DNSC_T_A, DNSC_T_AAAA };
	uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		fuzz_dns_one(data, size, types[i], 0x1234);
		if (id != 0x1234) {
			fuzz_dns_one(data, size, types[i], id);
		}
	}
	return 0;
}
