/*
 * test_dsn_report.c — the bytes of a delivery status notification
 * (src/dsn/dsn_report.c): RFC 3462 multipart/report, RFC 3464 fields, the
 * Status chosen from a reason (RFC 3463), and that nothing from outside
 * (a peer's reply, an address) can break the report's lines or its 7 bits.
 *
 * Golden cases: golden/dsn_report/NAME.in hold an options line
 * ("action=N" 0 failed .. 4 expanded, "headers", "envid") and one
 * recipient a line: addr|orcpt|reason|remote-mta|peer|boxes (peer: 1 if
 * the reason is the peer's reply; boxes: mailboxes an alias reached). The .ref is the report with CRLF shown as
 * LF, followed by the original's place and the end.
 */
#include <stdlib.h>

#include "tu.h"

#include "dsn/dsn.h"

#define T_ARRIVAL 1795867200u /* Sat, 28 Nov 2026 12:00:00 +0000 */

static const struct dsn_report t_base = { DSN_FAILED, "mx.example.net",
	"sender@example.com", "", "B0UND/ary", "0001.dsn@mx.example.net",
	T_ARRIVAL, T_ARRIVAL + 3600, T_ARRIVAL + 2 * 86400, NULL, 0, false };

/* Every line ends in CRLF; nothing but printable ASCII and tab. */
static void
t_check_7bit(const char *s, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++) {
		unsigned char c = (unsigned char)s[k];

		if (c == '\n') {
			assert_true(k > 0 && s[k - 1] == '\r');
		} else if (c == '\r') {
			assert_true(k + 1 < n && s[k + 1] == '\n');
		} else {
			assert_true((c >= 32 && c <= 126) || c == '\t');
		}
	}
}

static void
t_split(const char *reason, enum dsn_action a, const char *status,
    const char *reply)
{
	const char *r;
	char st[16];

	dsn_reason_split(reason, a, st, &r);
	assert_string_equal(st, status);
	assert_string_equal(r, reply);
}

static void
test_reason_split(void **state)
{
	t_split("example.org: 550 5.1.1 no such user", DSN_FAILED, "5.1.1",
	    "550 5.1.1 no such user");
	t_split("example.org: 550 no such user", DSN_FAILED, "5.0.0",
	    "550 no such user");
	/* expiry after temporary failures: failed, so a 5.x.x status */
	t_split("example.org: 451 4.3.0 try later", DSN_FAILED, "5.4.7",
	    "451 4.3.0 try later");
	t_split("example.org: connection refused", DSN_FAILED, "5.4.7", "");
	t_split("example.org: 451 4.3.0 try later", DSN_DELAYED, "4.3.0",
	    "451 4.3.0 try later");
	t_split("example.org: connection refused", DSN_DELAYED, "4.0.0", "");
	t_split("", DSN_DELIVERED, "2.0.0", "");
	t_split("250 2.6.0 queued as X", DSN_RELAYED, "2.6.0",
	    "250 2.6.0 queued as X");
	/* not an enhanced code: too many digits, or no dot */
	t_split("x: 550 5.1234.1 bad", DSN_FAILED, "5.0.0", "550 5.1234.1 bad");
	t_split("x: 550 5.1 bad", DSN_FAILED, "5.0.0", "550 5.1 bad");
	t_split("x: 55 5.1.1 bad", DSN_FAILED, "5.4.7", "");
}

/* A peer's reply with CR LF, NUL-free controls and 8-bit bytes. */
static void
test_hostile_values(void **state)
{
	static char mem[16384];
	struct dsn_rcpt rc = { "a@b.example\r\nX-Evil: 1", "rfc822;\x80\xff@x",
		"x: 550 5.1.1 bad\r\nAction: delivered\x01", "mx\r\n.b.example",
		true, 0 };
	struct dsn_report r = t_base;
	struct buf b;

	r.rcpts = &rc;
	r.nrcpt = 1;
	r.envid = "e\r\nnv";
	r.to = "s@x\r\nBcc: victim@y";
	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(dsn_report_fmt(&b, &r), 0);
	assert_int_equal(dsn_report_end(&b, &r), 0);
	t_check_7bit(buf_data(&b), buf_size(&b));
	mem[buf_size(&b) < sizeof(mem) ? buf_size(&b) : sizeof(mem) - 1] = 0;
	assert_null(strstr(mem, "\r\nX-Evil"));
	assert_null(strstr(mem, "\r\nBcc:"));
	assert_null(strstr(mem, "\r\nAction: delivered"));
	assert_non_null(strstr(mem, "\r\nAction: failed\r\n"));
}

static void
test_no_room(void **state)
{
	static char mem[600];
	struct dsn_rcpt rc = { "a@b.example", "", "x: 550 5.1.1 bad", "", true,
		0 };
	struct dsn_report r = t_base;
	struct buf b;

	r.rcpts = &rc;
	r.nrcpt = 1;
	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(dsn_report_fmt(&b, &r), -ENOSPC);
	r.action = DSN_ACTION_COUNT;
	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(dsn_report_fmt(&b, &r), -EINVAL);
}

static void
test_date(void **state)
{
	char d[64];

	dsn_date(T_ARRIVAL, d, sizeof(d));
	assert_string_equal(d, "Sat, 28 Nov 2026 12:00:00 +0000");
}

/* "field|field|..." -> up to n fields, NUL-terminated in place */
static size_t
t_fields(char *line, char **f, size_t n)
{
	size_t k = 0;

	f[k++] = line;
	for (; *line != '\0' && k < n; line++) {
		if (*line == '|') {
			*line = '\0';
			f[k++] = line + 1;
		}
	}
	return k;
}

static void
report_render(const char *in, size_t len, struct tu_out *o)
{
	static char mem[65536];
	struct dsn_rcpt rcpts[8];
	struct dsn_report r = t_base;
	const char *opts, *text;
	size_t olen, tlen, k;
	char *t, *line, *save = NULL;
	struct buf b;
	int rc;

	if (!tu_split_opts(in, len, &opts, &olen, &text, &tlen)) {
		fail_msg("golden .in without an options line");
	}
	r.action = (enum dsn_action)tu_opt_num(opts, olen, "action", 0);
	r.headers_only = tu_opt(opts, olen, "headers");
	r.envid = tu_opt(opts, olen, "envid") ? "QQ314159" : "";
	t = tu_dup(text, tlen + 1);
	t[tlen] = '\0';
	for (line = strtok_r(t, "\n", &save); line != NULL && r.nrcpt < 8;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[6] = { "", "", "", "", "0", "1" };

		t_fields(line, f, 6);
		rcpts[r.nrcpt] = (struct dsn_rcpt){ f[0], f[1], f[2], f[3],
			f[4][0] == '1', (uint32_t)strtoul(f[5], NULL, 10) };
		r.nrcpt++;
	}
	r.rcpts = rcpts;
	buf_init(&b, mem, sizeof(mem));
	rc = dsn_report_fmt(&b, &r);
	if (rc == 0) {
		buf_printf(&b, "[the original]");
		rc = dsn_report_end(&b, &r);
	}
	if (rc != 0) {
		tu_outf(o, "error=%d\n", rc);
	} else {
		t_check_7bit(buf_data(&b), buf_size(&b));
		for (k = 0; k < buf_size(&b); k++) {
			if (mem[k] != '\r') {
				tu_outf(o, "%c", mem[k]);
			}
		}
	}
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason_split),
		cmocka_unit_test(test_hostile_values),
		cmocka_unit_test(test_no_room),
		cmocka_unit_test(test_date),
	};

	return tu_run("dsn_report", tests, ARRAY_SIZE(tests), "dsn_report",
	    report_render);
}
