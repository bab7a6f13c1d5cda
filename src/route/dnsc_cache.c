/*
 * dnsc_cache.c — the resolver's cache: a fixed array of entries (sized
 * by CONFIG_DNS_CACHE_ENTRIES, carved from the arena at start), keyed by
 * (name, type), each kept until its TTL runs out. Positive answers keep
 * the least TTL of the records used (capped at DNSC_TTL_MAX); NXDOMAIN
 * and NODATA keep the SOA's negative TTL (RFC 2308 5, capped at
 * DNSC_NEG_TTL_MAX); nothing with TTL 0 and no failures are kept. When
 * full, an expired entry is replaced, else the oldest one.
 *
 * The clock is the caller's (milliseconds), so tests can move it. A
 * lookup is a scan of 32-bit hashes: the array is small and hot.
 */
#include <string.h>

#include "route/dnsc.h"

void
dnsc_cache_init(struct dnsc_cache *c, struct dnsc_centry *mem, uint32_t n)
{
	memset(c, 0, sizeof(*c));
	c->e = mem;
	c->n = mem == NULL ? 0 : n;
}

void
dnsc_cache_flush(struct dnsc_cache *c)
{
	uint32_t i;

	for (i = 0; i < c->n; i++) {
		c->e[i].expires = 0;
	}
}

/* FNV-1a over the lowercase name and the type. */
static uint32_t
dnsc_cache_hash(const char *name, uint16_t type)
{
	uint32_t h = 2166136261u ^ type;
	const unsigned char *p;

	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		unsigned char ch = *p >= 'A' && *p <= 'Z' ? *p + 32 : *p;

		h = (h ^ ch) * 16777619u;
	}
	return h;
}

static struct dnsc_centry *
dnsc_cache_find(struct dnsc_cache *c, const char *name, uint16_t type,
    uint32_t hash)
{
	size_t len = strlen(name);
	uint32_t i;

	for (i = 0; i < c->n; i++) {
		struct dnsc_centry *e = &c->e[i];

		if (e->expires != 0 && e->hash == hash && e->type == type &&
		    str_ieq(e->name, strlen(e->name), name, len)) {
			return e;
		}
	}
	return NULL;
}

bool
dnsc_cache_get(struct dnsc_cache *c, uint64_t now_ms, const char *name,
    uint16_t type, struct dnsc_answer *out)
{
	struct dnsc_centry *e;

	e = dnsc_cache_find(c, name, type, dnsc_cache_hash(name, type));
	if (e != NULL && e->expires <= now_ms) {
		e->expires = 0; /* expired: free for the next answer */
		e = NULL;
	}
	if (e == NULL) {
		c->misses++;
		return false;
	}
	*out = e->ans;
	/* what is left, rounded up: a last second is still a second */
	out->ttl = (uint32_t)((e->expires - now_ms + 999) / 1000);
	c->hits++;
	return true;
}

/* The entry to fill: an empty or expired one, else the oldest. */
static struct dnsc_centry *
dnsc_cache_victim(struct dnsc_cache *c, uint64_t now_ms)
{
	struct dnsc_centry *old = &c->e[0];
	uint32_t i;

	for (i = 0; i < c->n; i++) {
		struct dnsc_centry *e = &c->e[i];

		if (e->expires <= now_ms) {
			return e;
		}
		if (e->stored < old->stored) {
			old = e;
		}
	}
	c->evictions++;
	return old;
}

void
dnsc_cache_put(struct dnsc_cache *c, uint64_t now_ms, const char *name,
    uint16_t type, const struct dnsc_answer *a)
{
	uint32_t hash = dnsc_cache_hash(name, type);
	struct dnsc_centry *e;

	if (c->n == 0 || a->ttl == 0 || strlen(name) > DNSC_NAME_MAX ||
	    (a->status != DNSC_S_OK && a->status != DNSC_S_NODATA &&
	        a->status != DNSC_S_NXDOMAIN)) {
		return;
	}
	e = dnsc_cache_find(c, name, type, hash);
	if (e == NULL) {
		e = dnsc_cache_victim(c, now_ms);
	}
	e->hash = hash;
	e->type = type;
	str_copy(e->name, name, sizeof(e->name));
	e->ans = *a;
	e->stored = ++c->stamp;
	e->expires = now_ms + (uint64_t)MIN(a->ttl, DNSC_TTL_MAX) * 1000u;
}
