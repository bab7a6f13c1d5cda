/*
 * test_core_pool.c — fixed pools and the start-up arena (src/core/pool.c,
 * src/core/arena.c): zeroed arena memory, LIFO reuse, generation handles
 * that go stale on release, the runtime limit, walking the objects in use,
 * and panics on bad releases. Pool objects are not cleared on reuse
 * (core.h): the caller initialises them.
 */
#include <stdlib.h>

#include "tu.h"

#include "core/core.h"

struct obj {
	uint64_t a;
	char name[20];
};

static void
test_arena_aligned_zeroed(void **state)
{
	size_t before = arena_used();
	char *p = arena_alloc(3);
	char *q = arena_alloc(100);
	size_t i;

	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal((uintptr_t)p % 64, 0);
	assert_int_equal((uintptr_t)q % 64, 0);
	assert_true(q >= p + 3);
	for (i = 0; i < 100; i++) {
		assert_int_equal(q[i], 0);
	}
	assert_true(arena_used() >= before + 103);
}

static void
test_get_distinct(void **state)
{
	struct pool p;
	struct handle h1;
	struct handle h2;
	struct obj *a;
	struct obj *b;

	assert_int_equal(pool_init(&p, "t", sizeof(struct obj), 4), 0);
	assert_int_equal(pool_used(&p), 0);
	a = pool_get(&p, &h1);
	b = pool_get(&p, &h2);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_int_not_equal(h1.slot, h2.slot);
	assert_int_equal(pool_used(&p), 2);
	assert_ptr_equal(pool_find(&p, h1), a);
	assert_ptr_equal(pool_find(&p, h2), b);
	/* objects do not overlap */
	assert_true((char *)b >= (char *)a + sizeof(*a) ||
	    (char *)a >= (char *)b + sizeof(*b));
}

static void
test_elem_aligned(void **state)
{
	struct pool p;
	char *a;
	char *b;

	assert_int_equal(pool_init(&p, "t", 3, 4), 0);
	a = pool_get(&p, NULL);
	b = pool_get(&p, NULL);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal((uintptr_t)a % 16, 0);
	assert_int_equal((uintptr_t)b % 16, 0);
}

static void
test_empty_answers_null(void **state)
{
	struct pool p;
	struct handle h;
	void *o[3];

	assert_int_equal(pool_init(&p, "t", 8, 3), 0);
	o[0] = pool_get(&p, &h);
	o[1] = pool_get(&p, &h);
	o[2] = pool_get(&p, &h);
	assert_non_null(o[2]);
	assert_null(pool_get(&p, &h));
	assert_null(pool_get(&p, NULL));
	assert_int_equal(pool_used(&p), 3);
	pool_put(&p, o[1]);
	assert_ptr_equal(pool_get(&p, NULL), o[1]);
}

static void
test_reuse_lifo(void **state)
{
	struct pool p;
	struct handle h1;
	struct handle h2;
	struct obj *a;
	struct obj *b;

	assert_int_equal(pool_init(&p, "t", sizeof(struct obj), 8), 0);
	a = pool_get(&p, &h1);
	(void)pool_get(&p, NULL);
	a->a = 42;
	memcpy(a->name, "dirty", 6);
	pool_put(&p, a);
	assert_int_equal(pool_used(&p), 1);
	b = pool_get(&p, &h2);
	assert_ptr_equal(a, b); /* the warm one first */
	assert_int_equal(h1.slot, h2.slot);
	assert_int_not_equal(h1.gen, h2.gen);
}

static void
test_stale_handle(void **state)
{
	struct pool p;
	struct handle h;
	struct handle h2;
	struct handle bad;
	void *a;

	assert_int_equal(pool_init(&p, "t", 8, 2), 0);
	a = pool_get(&p, &h);
	assert_ptr_equal(pool_find(&p, h), a);
	pool_put(&p, a);
	assert_null(pool_find(&p, h));
	/* reused slot: the old handle still finds nothing */
	assert_ptr_equal(pool_get(&p, &h2), a);
	assert_null(pool_find(&p, h));
	assert_ptr_equal(pool_find(&p, h2), a);
	bad = h2;
	bad.slot = 2;
	assert_null(pool_find(&p, bad));
	bad.slot = UINT32_MAX;
	assert_null(pool_find(&p, bad));
	/* a never-used slot (generation 0) */
	bad.slot = 1;
	bad.gen = 0;
	assert_null(pool_find(&p, bad));
	/* a zeroed handle never finds anything */
	memset(&bad, 0, sizeof(bad));
	assert_null(pool_find(&p, bad));
}

static void
test_limit(void **state)
{
	struct pool p;
	void *a;
	void *b;

	assert_int_equal(pool_init(&p, "t", 8, 4), 0);
	pool_set_limit(&p, 2);
	a = pool_get(&p, NULL);
	b = pool_get(&p, NULL);
	assert_non_null(a);
	assert_non_null(b);
	assert_null(pool_get(&p, NULL));
	pool_put(&p, a);
	assert_non_null(pool_get(&p, NULL));
	/* lowering below the use: nothing more until enough come back */
	pool_set_limit(&p, 1);
	assert_null(pool_get(&p, NULL));
	/* 0 or above capacity means the capacity */
	pool_set_limit(&p, 0);
	assert_non_null(pool_get(&p, NULL));
	assert_non_null(pool_get(&p, NULL));
	assert_null(pool_get(&p, NULL));
	pool_set_limit(&p, 100);
	assert_null(pool_get(&p, NULL));
	assert_int_equal(pool_used(&p), 4);
}

static void
test_churn(void **state)
{
	struct pool p;
	struct handle h[16];
	void *o[16];
	unsigned i;
	unsigned round;

	assert_int_equal(pool_init(&p, "t", 24, 16), 0);
	for (round = 0; round < 100; round++) {
		for (i = 0; i < 16; i++) {
			o[i] = pool_get(&p, &h[i]);
			assert_non_null(o[i]);
		}
		assert_null(pool_get(&p, NULL));
		for (i = 0; i < 16; i += 1 + round % 3) {
			pool_put(&p, o[i]);
			assert_null(pool_find(&p, h[i]));
			o[i] = NULL;
		}
		for (i = 0; i < 16; i++) {
			if (o[i] != NULL) {
				assert_ptr_equal(pool_find(&p, h[i]), o[i]);
				pool_put(&p, o[i]);
			}
		}
		assert_int_equal(pool_used(&p), 0);
	}
}

/* pool_next walks the objects in use, in slot order, each once. */
static void
test_next(void **state)
{
	struct pool p;
	void *o[6];
	uint32_t slot = 0;
	unsigned i;
	unsigned n;
	void *x;

	assert_int_equal(pool_init(&p, "t", 16, 6), 0);
	assert_null(pool_next(&p, &slot));
	for (i = 0; i < 6; i++) {
		o[i] = pool_get(&p, NULL);
	}
	pool_put(&p, o[1]);
	pool_put(&p, o[4]);
	slot = 0;
	n = 0;
	while ((x = pool_next(&p, &slot)) != NULL) {
		char *prev = n == 0 ? NULL : o[n - 1];

		assert_true(x != o[1] && x != o[4]);
		assert_true(prev == NULL || (char *)x > prev);
		o[n++] = x;
		assert_true(n <= 4);
	}
	assert_int_equal(n, 4);
	assert_null(pool_next(&p, &slot));
	/* freeing the object just returned does not derail the walk */
	slot = 0;
	n = 0;
	while ((x = pool_next(&p, &slot)) != NULL) {
		pool_put(&p, x);
		n++;
	}
	assert_int_equal(n, 4);
	assert_int_equal(pool_used(&p), 0);
}

static struct pool pool_death;

static void
pool_do_double_put(void *arg)
{
	void *a = pool_get(&pool_death, NULL);

	pool_put(&pool_death, a);
	pool_put(&pool_death, a);
}

static void
pool_do_foreign_put(void *arg)
{
	static char other[64];

	pool_put(&pool_death, other);
}

static void
pool_do_misaligned_put(void *arg)
{
	char *a = pool_get(&pool_death, NULL);

	pool_put(&pool_death, a + 1);
}

static void
pool_do_arena_sealed(void *arg)
{
	arena_seal();
	(void)arena_alloc(16);
}

static void
test_bad_put_panics(void **state)
{
	assert_int_equal(pool_init(&pool_death, "death", 32, 4), 0);
	assert_true(tu_dies(pool_do_double_put, NULL));
	assert_true(tu_dies(pool_do_foreign_put, NULL));
	assert_true(tu_dies(pool_do_misaligned_put, NULL));
	/* in the child only: the parent's arena stays open */
	assert_true(tu_dies(pool_do_arena_sealed, NULL));
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_aligned_zeroed),
		cmocka_unit_test(test_get_distinct),
		cmocka_unit_test(test_elem_aligned),
		cmocka_unit_test(test_empty_answers_null),
		cmocka_unit_test(test_reuse_lifo),
		cmocka_unit_test(test_next),
		cmocka_unit_test(test_stale_handle),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_churn),
		cmocka_unit_test(test_bad_put_panics),
	};

	if (arena_init(64u << 20) != 0) {
		return 1;
	}
	return tu_run("core_pool", tests, ARRAY_SIZE(tests), NULL, NULL);
}
