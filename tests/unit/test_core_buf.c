/*
 * test_core_buf.c — bounded buffers (src/core/buf.c): appends never grow
 * the buffer and leave it as it was on -ENOSPC; consume/commit past the
 * end are broken invariants (panic); line lengths for the command reader.
 */
#include "tu.h"

#include "core/core.h"

static void
test_init_empty(void **state)
{
	char mem[16];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(buf_size(&b), 0);
	assert_int_equal(buf_room(&b), 16);
	assert_ptr_equal(buf_data(&b), mem);
	assert_ptr_equal(buf_tail(&b), mem);
	assert_int_equal(buf_line_len(&b), 0);
}

static void
test_append_fits_exactly(void **state)
{
	char mem[8];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(buf_append(&b, "abcd", 4), 0);
	assert_int_equal(buf_append(&b, "efgh", 4), 0);
	assert_int_equal(buf_size(&b), 8);
	assert_int_equal(buf_room(&b), 0);
	tu_assert_mem_eq(buf_data(&b), buf_size(&b), "abcdefgh", 8);
}

static void
test_append_nospc_unchanged(void **state)
{
	char mem[8];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(buf_append(&b, "abcdef", 6), 0);
	assert_int_equal(buf_append(&b, "xyz", 3), -ENOSPC);
	assert_int_equal(buf_size(&b), 6);
	tu_assert_mem_eq(buf_data(&b), buf_size(&b), "abcdef", 6);
	assert_int_equal(buf_append(&b, "xy", 2), 0);
	tu_assert_mem_eq(buf_data(&b), buf_size(&b), "abcdefxy", 8);
}

static void
test_append_zero(void **state)
{
	char mem[4];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(buf_append(&b, "abcd", 4), 0);
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_int_equal(buf_size(&b), 4);
}

static void
test_append_compacts(void **state)
{
	char mem[8];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(buf_append(&b, "abcdefgh", 8), 0);
	buf_consume(&b, 5);
	assert_int_equal(buf_size(&b), 3);
	assert_int_equal(buf_room(&b), 0);
	/* the room behind the consumed bytes is reclaimed */
	assert_int_equal(buf_append(&b, "12345", 5), 0);
	tu_assert_mem_eq(buf_data(&b), buf_size(&b), "fgh12345", 8);
	assert_int_equal(buf_append(&b, "9", 1), -ENOSPC);
	tu_assert_mem_eq(buf_data(&b), buf_size(&b), "fgh12345", 8);
}

static void
test_consume_all_resets(void **state)
{
	char mem[8];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(buf_append(&b, "abc", 3), 0);
	buf_consume(&b, 1);
	assert_int_equal(buf_size(&b), 2);
	assert_int_equal(*buf_data(&b), 'b');
	buf_consume(&b, 2);
	assert_int_equal(buf_size(&b), 0);
	assert_int_equal(buf_room(&b), 8);
	assert_ptr_equal(buf_tail(&b), mem);
}

static void
test_consume_zero(void **state)
{
	char mem[8];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	buf_consume(&b, 0);
	assert_int_equal(buf_size(&b), 0);
	assert_int_equal(buf_append(&b, "ab", 2), 0);
	buf_consume(&b, 0);
	assert_int_equal(buf_size(&b), 2);
}

static void
test_compact(void **state)
{
	char mem[8];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	buf_compact(&b);
	assert_int_equal(buf_size(&b), 0);
	assert_int_equal(buf_append(&b, "abcdef", 6), 0);
	buf_consume(&b, 4);
	buf_compact(&b);
	assert_ptr_equal(buf_data(&b), mem);
	assert_int_equal(buf_size(&b), 2);
	assert_int_equal(buf_room(&b), 6);
	tu_assert_mem_eq(buf_data(&b), buf_size(&b), "ef", 2);
}

static void
test_commit(void **state)
{
	char mem[8];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	memcpy(buf_tail(&b), "xyz", 3);
	buf_commit(&b, 3);
	tu_assert_mem_eq(buf_data(&b), buf_size(&b), "xyz", 3);
	buf_commit(&b, 0);
	assert_int_equal(buf_size(&b), 3);
	buf_commit(&b, buf_room(&b));
	assert_int_equal(buf_room(&b), 0);
}

static void
buf_do_overconsume(void *arg)
{
	char mem[8];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	(void)buf_append(&b, "abc", 3);
	buf_consume(&b, 4);
}

static void
buf_do_overcommit(void *arg)
{
	char mem[8];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	(void)buf_append(&b, "abc", 3);
	buf_commit(&b, 6);
}

static void
test_overrun_panics(void **state)
{
	assert_true(tu_dies(buf_do_overconsume, NULL));
	assert_true(tu_dies(buf_do_overcommit, NULL));
}

static void
test_printf(void **state)
{
	char mem[32];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(buf_printf(&b, "%u %s", 250u, "OK"), 0);
	assert_int_equal(buf_printf(&b, "%s", ""), 0);
	assert_int_equal(buf_printf(&b, "/%d", -1), 0);
	tu_assert_mem_eq(buf_data(&b), buf_size(&b), "250 OK/-1", 9);
}

static void
test_printf_nospc_unchanged(void **state)
{
	char mem[8];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(buf_append(&b, "ab", 2), 0);
	assert_int_equal(buf_printf(&b, "%s", "0123456789"), -ENOSPC);
	tu_assert_mem_eq(buf_data(&b), buf_size(&b), "ab", 2);
	/* five of six free bytes: fits whatever the terminator needs */
	assert_int_equal(buf_printf(&b, "%s", "cdefg"), 0);
	tu_assert_mem_eq(buf_data(&b), buf_size(&b), "abcdefg", 7);
}

static void
test_printf_exact_room(void **state)
{
	char mem[8];
	struct buf b;
	int rc;

	/*
	 * Text exactly as long as the room: either it fits whole, or
	 * -ENOSPC leaves the buffer as it was (never a truncated text).
	 */
	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(buf_append(&b, "ab", 2), 0);
	rc = buf_printf(&b, "%s", "cdefgh");
	if (rc == 0) {
		tu_assert_mem_eq(buf_data(&b), buf_size(&b), "abcdefgh", 8);
	} else {
		assert_int_equal(rc, -ENOSPC);
		tu_assert_mem_eq(buf_data(&b), buf_size(&b), "ab", 2);
	}
}

static void
test_printf_compacts(void **state)
{
	char mem[8];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(buf_append(&b, "abcdefg", 7), 0);
	buf_consume(&b, 6);
	assert_int_equal(buf_printf(&b, "%s", "12345"), 0);
	tu_assert_mem_eq(buf_data(&b), buf_size(&b), "g12345", 6);
}

static void
test_line_len(void **state)
{
	char mem[32];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(buf_append(&b, "NOOP", 4), 0);
	assert_int_equal(buf_line_len(&b), 0);
	assert_int_equal(buf_append(&b, "\r\nQUIT\r\n", 8), 0);
	assert_int_equal(buf_line_len(&b), 6);
	buf_consume(&b, 6);
	assert_int_equal(buf_line_len(&b), 6);
	buf_consume(&b, 6);
	assert_int_equal(buf_line_len(&b), 0);
	/* a bare LF ends a "line" too: the command parser refuses it */
	assert_int_equal(buf_append(&b, "\n", 1), 0);
	assert_int_equal(buf_line_len(&b), 1);
}

static void
test_line_len_nul(void **state)
{
	char mem[16];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(buf_append(&b, "a\0b\r\n", 5), 0);
	assert_int_equal(buf_line_len(&b), 5);
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_empty),
		cmocka_unit_test(test_append_fits_exactly),
		cmocka_unit_test(test_append_nospc_unchanged),
		cmocka_unit_test(test_append_zero),
		cmocka_unit_test(test_append_compacts),
		cmocka_unit_test(test_consume_all_resets),
		cmocka_unit_test(test_consume_zero),
		cmocka_unit_test(test_compact),
		cmocka_unit_test(test_commit),
		cmocka_unit_test(test_overrun_panics),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_printf_nospc_unchanged),
		cmocka_unit_test(test_printf_exact_room),
		cmocka_unit_test(test_printf_compacts),
		cmocka_unit_test(test_line_len),
		cmocka_unit_test(test_line_len_nul),
	};

	return tu_run("core_buf", tests, ARRAY_SIZE(tests), NULL, NULL);
}
