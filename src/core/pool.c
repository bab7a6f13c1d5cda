/*
 * pool.c — typed fixed pools. Objects are handed out LIFO so that a lightly
 * loaded server keeps touching the same few pages. A handle {slot, gen}
 * names an object across asynchronous completions: once the object is put
 * back its generation moves on and pool_find() answers NULL.
 */
#include <string.h>

#include "core/core.h"

int
pool_init(struct pool *p, const char *name, size_t elem, uint32_t cap)
{
	uint32_t i;

	memset(p, 0, sizeof(*p));
	p->name = name;
	p->elem = (elem + 15) & ~(size_t)15;
	p->cap = cap;
	p->limit = cap;
	p->mem = arena_alloc(p->elem * cap);
	p->free_slots = arena_alloc(sizeof(uint32_t) * cap);
	p->gens = arena_alloc(sizeof(uint32_t) * cap);
	for (i = 0; i < cap; i++) {
		p->free_slots[i] = cap - 1 - i; /* slot 0 comes out first */
	}
	p->nfree = cap;
	return 0;
}

void
pool_set_limit(struct pool *p, uint32_t limit)
{
	p->limit = limit == 0 || limit > p->cap ? p->cap : limit;
}

uint32_t
pool_used(const struct pool *p)
{
	return p->cap - p->nfree;
}

void *
pool_get(struct pool *p, struct handle *h)
{
	uint32_t slot;
	void *obj;

	if (p->nfree == 0 || pool_used(p) >= p->limit) {
		return NULL;
	}
	slot = p->free_slots[--p->nfree];
	p->gens[slot]++; /* even -> odd: in use */
	obj = p->mem + (size_t)slot * p->elem;
	if (h != NULL) {
		h->slot = slot;
		h->gen = p->gens[slot];
	}
	return obj;
}

void
pool_put(struct pool *p, void *obj)
{
	size_t off = (size_t)((char *)obj - p->mem);
	uint32_t slot = (uint32_t)(off / p->elem);

	if ((char *)obj < p->mem || slot >= p->cap || off % p->elem != 0 ||
	    (p->gens[slot] & 1) == 0) {
		panic("pool %s: bad put of %p", p->name, obj);
	}
	p->gens[slot]++; /* odd -> even: free */
	p->free_slots[p->nfree++] = slot;
}

void *
pool_find(struct pool *p, struct handle h)
{
	if (h.slot >= p->cap || p->gens[h.slot] != h.gen || (h.gen & 1) == 0) {
		return NULL;
	}
	return p->mem + (size_t)h.slot * p->elem;
}

void *
pool_next(struct pool *p, uint32_t *slot)
{
	for (; *slot < p->cap; (*slot)++) {
		if (p->gens[*slot] & 1) {
			return p->mem + (size_t)(*slot)++ * p->elem;
		}
	}
	return NULL;
}
