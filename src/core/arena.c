/*
 * arena.c — start-up memory. One anonymous mapping, carved front to back
 * while the process starts; sealed before the first connection so that
 * nothing on the serving path allocates. Untouched pages cost no RSS, so
 * pools may be sized for the maximum load.
 */
#include <sys/mman.h>

#include "core/core.h"

static char *arena_base;
static size_t arena_size;
static size_t arena_off;
static bool arena_sealed;

int
arena_init(size_t bytes)
{
	void *p;

	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		return -errno;
	}
	arena_base = p;
	arena_size = bytes;
	arena_off = 0;
	arena_sealed = false;
	return 0;
}

void *
arena_alloc(size_t bytes)
{
	size_t off = (arena_off + 63) & ~(size_t)63;

	if (arena_sealed) {
		panic("arena_alloc(%zu) after start-up", bytes);
	}
	if (arena_base == NULL || bytes > arena_size - off) {
		fatal("start-up memory exhausted (%zu bytes wanted, %zu left); "
		      "lower the pool sizes",
		    bytes, arena_size - off);
	}
	arena_off = off + bytes;
	return arena_base + off; /* anonymous pages are zero */
}

void
arena_seal(void)
{
	arena_sealed = true;
}

size_t
arena_used(void)
{
	return arena_off;
}
