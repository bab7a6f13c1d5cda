/*
 * test_core_str.c — string helpers, ids and dates (src/core/str.c):
 * str_copy truncates and always terminates, str_ieq folds ASCII only,
 * str_sanitize keeps log lines printable and unquotable.
 */
#include <ctype.h>

#include "tu.h"

#include "core/core.h"

static void
test_copy(void **state)
{
	char d[8];

	memset(d, 'x', sizeof(d));
	assert_int_equal(str_copy(d, "abc", sizeof(d)), 3);
	assert_string_equal(d, "abc");
	assert_int_equal(str_copy(d, "0123456789", sizeof(d)), 10);
	assert_string_equal(d, "0123456");
	assert_int_equal(str_copy(d, "0123456", sizeof(d)), 7);
	assert_string_equal(d, "0123456");
	assert_int_equal(str_copy(d, "", sizeof(d)), 0);
	assert_string_equal(d, "");
	d[0] = 'q';
	assert_int_equal(str_copy(d, "abc", 0), 3);
	assert_int_equal(d[0], 'q');
	assert_int_equal(str_copy(d, "abc", 1), 3);
	assert_string_equal(d, "");
}

static void
test_ieq(void **state)
{
	assert_true(str_ieq("MAIL", 4, "mail", 4));
	assert_true(str_ieq("MaIl", 4, "mAiL", 4));
	assert_true(str_ieq("", 0, "", 0));
	assert_false(str_ieq("MAIL", 4, "MAI", 3));
	assert_false(str_ieq("MAIL", 4, "MAIX", 4));
	/* only ASCII letters fold: '@' (0x40) is not '`' (0x60) */
	assert_false(str_ieq("@", 1, "`", 1));
	assert_false(str_ieq("[", 1, "{", 1));
	/* no locale folding of 8-bit bytes */
	assert_false(str_ieq("\xc4", 1, "\xe4", 1));
	assert_true(str_ieq("a\0b", 3, "A\0B", 3));
	assert_false(str_ieq("a\0b", 3, "a\0c", 3));
}

static void
test_sanitize(void **state)
{
	char d[16];

	str_sanitize(d, sizeof(d), "hello", 5);
	assert_string_equal(d, "hello");
	str_sanitize(d, sizeof(d), "a\r\nb\0c\x7f\xff", 8);
	assert_string_equal(d, "a??b?c??");
	/* quotes and backslashes would break key="value" log fields */
	str_sanitize(d, sizeof(d), "\"x\\", 3);
	assert_string_equal(d, "?x?");
	str_sanitize(d, 4, "abcdef", 6);
	assert_string_equal(d, "abc");
	str_sanitize(d, sizeof(d), "", 0);
	assert_string_equal(d, "");
	d[0] = 'z';
	str_sanitize(d, 0, "abc", 3);
	assert_int_equal(d[0], 'z');
}

static void
test_id(void **state)
{
	char a[11];
	char b[11];
	int i;

	rand_id(a);
	rand_id(b);
	assert_int_equal(strlen(a), 10);
	assert_int_equal(strlen(b), 10);
	assert_string_not_equal(a, b);
	for (i = 0; i < 10; i++) {
		assert_true(isdigit((unsigned char)a[i]) ||
		    (a[i] >= 'a' && a[i] <= 'f'));
	}
}

static void
test_rand(void **state)
{
	unsigned char x[32];
	unsigned char y[32];

	memset(x, 0, sizeof(x));
	memset(y, 0, sizeof(y));
	assert_int_equal(rand_bytes(x, sizeof(x)), 0);
	assert_int_equal(rand_bytes(y, sizeof(y)), 0);
	assert_memory_not_equal(x, y, sizeof(x));
	assert_int_equal(rand_bytes(x, 0), 0);
}

static void
test_date(void **state)
{
	static const char *days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
		"Sun" };
	char d[64];
	size_t i;
	bool day = false;

	/* RFC 5322 3.3: "Sat, 28 Nov 2026 14:45:05 +0000" */
	date_rfc5322(d, sizeof(d));
	assert_int_equal(strlen(d), 31);
	for (i = 0; i < ARRAY_SIZE(days); i++) {
		day = day || strncmp(d, days[i], 3) == 0;
	}
	assert_true(day);
	assert_int_equal(d[3], ',');
	assert_int_equal(d[4], ' ');
	assert_int_equal(d[19], ':');
	assert_int_equal(d[22], ':');
	assert_true(d[26] == '+' || d[26] == '-');
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_ieq),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_rand),
		cmocka_unit_test(test_date),
	};

	return tu_run("core_str", tests, ARRAY_SIZE(tests), NULL, NULL);
}
