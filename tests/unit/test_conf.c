/*
 * test_conf.c — the configuration parser (src/conf/, interface conf.h;
 * the language of config/example.conf and ../shared/CONFIG.md): the
 * embedded default and the annotated example load without errors and
 * give what they say; documented defaults; sizes (K/M/G, 1024-based),
 * durations (ms/s/m/h/d), switches; quoting and comments; includes
 * through conf_io (relative to the including file, top level only, no
 * endless recursion); every error reported with its file and line, all
 * of them in one run, and no struct conf when there are errors; lookups.
 *
 * Texts are handed over in buffers of exactly their length (no NUL after
 * them), so a lexer that reads past len is an ASan error. Golden cases:
 * golden/conf/NAME.in is a configuration, NAME.ref its rendering.
 */
#include <stdlib.h>

#include "tu.h"

#include "conf/conf.h"

#define CONF_ERR_MAX 64

struct conf_errs {
	int n;
	struct {
		char file[256];
		int line;
		char msg[256];
	} e[CONF_ERR_MAX];
	/* included files: name -> text */
	const char *inc_name[4];
	const char *inc_text[4];
	int reads;
	char last_read[256];
};

static void
conf_t_report(void *ctx, const char *file, int line, const char *msg)
{
	struct conf_errs *x = ctx;

	assert_non_null(file);
	assert_non_null(msg);
	assert_true(msg[0] != '\0');
	if (x->n < CONF_ERR_MAX) {
		str_copy(x->e[x->n].file, file, sizeof(x->e[x->n].file));
		x->e[x->n].line = line;
		str_copy(x->e[x->n].msg, msg, sizeof(x->e[x->n].msg));
	}
	x->n++;
	if (x->n > 10000) {
		/* longjmp out of the parser: it reports the same thing forever */
		fail_msg("error flood: %s:%d: %s", file, line, msg);
	}
}

/* The text of an include, malloc'd (the parser frees it), not terminated. */
static int
conf_t_read(void *ctx, const char *path, char **text, size_t *len)
{
	struct conf_errs *x = ctx;
	int i;

	x->reads++;
	str_copy(x->last_read, path, sizeof(x->last_read));
	for (i = 0; i < 4 && x->inc_name[i] != NULL; i++) {
		if (strcmp(x->inc_name[i], path) == 0) {
			*len = strlen(x->inc_text[i]);
			*text = malloc(*len == 0 ? 1 : *len);
			assert_non_null(*text);
			memcpy(*text, x->inc_text[i], *len);
			return 0;
		}
	}
	return -ENOENT;
}

static int
conf_t_parse_as(const char *name, const char *text, struct conf_errs *x,
    struct conf **c)
{
	struct conf_io io = { conf_t_report, conf_t_read, x };
	size_t len = strlen(text);
	char *copy = tu_dup(text, len);
	int rc;

	x->n = 0;
	*c = (struct conf *)(uintptr_t)1; /* must be overwritten */
	rc = conf_parse(name, copy, len, &io, c);
	free(copy);
	assert_int_equal(rc, x->n);
	if (rc == 0) {
		assert_non_null(*c);
	} else {
		assert_null(*c);
	}
	return rc;
}

static int
conf_t_parse(const char *text, struct conf_errs *x, struct conf **c)
{
	return conf_t_parse_as("test.conf", text, x, c);
}

/* Parses without an error, or fails showing the errors. */
static struct conf *
conf_t_ok(const char *text)
{
	static struct conf_errs x;
	struct conf *c;
	int i;

	memset(&x, 0, sizeof(x));
	if (conf_t_parse(text, &x, &c) != 0) {
		for (i = 0; i < x.n && i < CONF_ERR_MAX; i++) {
			print_error("  %s:%d: %s\n", x.e[i].file, x.e[i].line,
			    x.e[i].msg);
		}
		fail_msg("%d error(s) in:\n%s", x.n, text);
	}
	return c;
}

/* Refused, with an error on `line` (0: any). */
static void
conf_t_bad(const char *text, int line)
{
	static struct conf_errs x;
	struct conf *c;
	int i;

	memset(&x, 0, sizeof(x));
	if (conf_t_parse(text, &x, &c) == 0) {
		conf_free(c);
		fail_msg("accepted:\n%s", text);
	}
	if (line == 0) {
		return;
	}
	for (i = 0; i < x.n && i < CONF_ERR_MAX; i++) {
		if (x.e[i].line == line) {
			assert_string_equal(x.e[i].file, "test.conf");
			return;
		}
	}
	fail_msg("no error on line %d (first: %d %s) in:\n%s", line,
	    x.e[0].line, x.e[0].msg, text);
}

#define SRV(body) "server s {\n\tlisten 127.0.0.1:2525\n" body "}\n"

static const struct conf_server *
conf_t_server(const struct conf *c, const char *name)
{
	uint32_t i;

	for (i = 0; i < c->nservers; i++) {
		if (strcmp(c->servers[i].name, name) == 0) {
			return &c->servers[i];
		}
	}
	fail_msg("no server %s", name);
	return NULL;
}

static void
conf_t_listen(const struct conf_server *s, uint32_t i, const char *text)
{
	char buf[NET_ADDR_TEXT];

	assert_true(i < s->nlistens);
	net_addr_fmt(&s->listens[i].addr, buf, sizeof(buf));
	assert_string_equal(buf, text);
}

static void
test_default(void **state)
{
	struct conf_errs x;
	struct conf *c;
	const struct conf_domain *d;
	const char *out[2];

	memset(&x, 0, sizeof(x));
	assert_int_equal(conf_t_parse_as("(embedded default)",
	                     conf_default_text, &x, &c),
	    0);
	assert_int_equal(c->nservers, 1);
	conf_t_listen(&c->servers[0], 0, "127.0.0.1:2525");
	assert_int_equal(c->ndomains, 1);
	d = conf_domain_find(c, "localhost", 9);
	assert_non_null(d);
	assert_int_equal(conf_local_expand(d, "postmaster", 10, out, 2), 1);
	assert_string_equal(out[0], "postmaster");
	assert_string_equal(c->spool, "./var/spool");
	conf_free(c);
	/* conf_load(NULL) is the embedded default, with defaults filled */
	assert_int_equal(conf_load(NULL, &c), 0);
	assert_non_null(c);
	assert_non_null(c->hostname);
	assert_non_null(c->drop);
	assert_non_null(c->badmail);
	assert_non_null(conf_domain_find(c, "LocalHost", 9));
	conf_free(c);
}

static char *
conf_t_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *text;
	long n;

	if (f == NULL) {
		fail_msg("cannot open %s (run from the top directory)", path);
	}
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	text = malloc((size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* config/example.conf: every setting with its value as commented. */
static void
test_example(void **state)
{
	char *text = conf_t_file("config/example.conf");
	struct conf *c = conf_t_ok(text);
	const struct conf_server *s;
	const struct conf_domain *d;
	const char *out[4];

	free(text);
	assert_string_equal(c->hostname, "mail.example.com");
	assert_string_equal(c->spool, "/var/spool/tern");
	assert_string_equal(c->drop, "/var/spool/tern/drop");
	assert_string_equal(c->badmail, "/var/spool/tern/badmail");
	assert_int_equal(c->max_sessions, 1024);
	assert_int_equal(c->log_level, LOG_L_INFO);
	assert_int_equal(c->nservers, 2);
	s = conf_t_server(c, "default");
	assert_int_equal(s->nlistens, 2);
	conf_t_listen(s, 0, "0.0.0.0:25");
	conf_t_listen(s, 1, "[::]:25");
	assert_string_equal(conf_server_hostname(c, s), "mx.example.com");
	assert_true(s->max_message_size == 10u * 1024 * 1024);
	assert_true(s->max_session_size == 0);
	assert_int_equal(s->max_messages, 100);
	assert_int_equal(s->max_recipients, 100);
	assert_int_equal(s->max_connections, 0);
	assert_int_equal(s->max_errors, 20);
	assert_int_equal(s->max_hops, 30);
	assert_int_equal(s->max_line_length, 1000);
	assert_int_equal(s->timeout_command_ms, 5 * 60 * 1000);
	assert_int_equal(s->timeout_data_ms, 10 * 60 * 1000);
	assert_int_equal(s->greeting_delay_ms, 0);
	assert_false(s->vrfy);
	assert_false(s->expn);
	s = conf_t_server(c, "submission");
	assert_int_equal(s->nlistens, 1);
	conf_t_listen(s, 0, "0.0.0.0:587");
	assert_true(s->max_message_size == 25u * 1024 * 1024);
	/* no hostname of its own: the global one */
	assert_string_equal(conf_server_hostname(c, s), "mail.example.com");
	d = conf_domain_find(c, "example.com", 11);
	assert_non_null(d);
	assert_int_equal(d->nmailboxes, 3);
	assert_int_equal(conf_local_expand(d, "alice", 5, out, 4), 1);
	assert_string_equal(out[0], "alice");
	assert_int_equal(conf_local_expand(d, "root", 4, out, 4), 1);
	assert_string_equal(out[0], "postmaster");
	assert_int_equal(conf_local_expand(d, "staff", 5, out, 4), 2);
	assert_string_equal(out[0], "alice");
	assert_string_equal(out[1], "bob");
	assert_int_equal(conf_local_expand(d, "nobody", 6, out, 4), 0);
	conf_free(c);
}

/* example.conf: "Every setting this version knows is shown here with its
 * default" — a server with only a listener gets those values. */
static void
test_server_defaults(void **state)
{
	struct conf *c = conf_t_ok(SRV(""));
	const struct conf_server *s = conf_t_server(c, "s");

	assert_null(s->hostname);
	assert_true(s->max_message_size == 10u * 1024 * 1024);
	assert_true(s->max_session_size == 0);
	assert_int_equal(s->max_messages, 100);
	assert_int_equal(s->max_recipients, 100);
	assert_int_equal(s->max_connections, 0);
	assert_int_equal(s->max_errors, 20);
	assert_int_equal(s->max_hops, 30);
	assert_int_equal(s->max_line_length, 1000);
	assert_int_equal(s->timeout_command_ms, 5 * 60 * 1000);
	assert_int_equal(s->timeout_data_ms, 10 * 60 * 1000);
	assert_int_equal(s->greeting_delay_ms, 0);
	assert_false(s->vrfy);
	assert_false(s->expn);
	conf_free(c);
}

static uint64_t
conf_t_size(const char *v)
{
	char text[256];
	struct conf *c;
	uint64_t n;

	snprintf(text, sizeof(text), SRV("\tmax-message-size %s\n"), v);
	c = conf_t_ok(text);
	n = c->servers[0].max_message_size;
	conf_free(c);
	return n;
}

static uint32_t
conf_t_timeout(const char *v)
{
	char text[256];
	struct conf *c;
	uint32_t n;

	snprintf(text, sizeof(text), SRV("\ttimeout command %s\n"), v);
	c = conf_t_ok(text);
	n = c->servers[0].timeout_command_ms;
	conf_free(c);
	return n;
}

static void
test_sizes(void **state)
{
	char text[256];

	assert_true(conf_t_size("0") == 0);
	assert_true(conf_t_size("100") == 100);
	assert_true(conf_t_size("512K") == 512u * 1024);
	assert_true(conf_t_size("10M") == 10u * 1024 * 1024);
	assert_true(conf_t_size("1G") == 1024u * 1024 * 1024);
	assert_true(conf_t_size("4G") == 4ull * 1024 * 1024 * 1024);
	snprintf(text, sizeof(text), SRV("\tmax-message-size 10X\n"));
	conf_t_bad(text, 3);
	snprintf(text, sizeof(text), SRV("\tmax-message-size M\n"));
	conf_t_bad(text, 3);
	snprintf(text, sizeof(text), SRV("\tmax-message-size -1\n"));
	conf_t_bad(text, 3);
	snprintf(text, sizeof(text), SRV("\tmax-message-size 10MB\n"));
	conf_t_bad(text, 3);
	snprintf(text, sizeof(text),
	    SRV("\tmax-message-size 99999999999999999999\n"));
	conf_t_bad(text, 3);
	snprintf(text, sizeof(text),
	    SRV("\tmax-message-size 18014398509481984G\n"));
	conf_t_bad(text, 3);
	snprintf(text, sizeof(text), SRV("\tmax-message-size\n"));
	conf_t_bad(text, 3);
	snprintf(text, sizeof(text), SRV("\tmax-message-size 1M 2M\n"));
	conf_t_bad(text, 3);
}

static void
test_durations(void **state)
{
	char text[256];

	struct conf *c;

	assert_int_equal(conf_t_timeout("30s"), 30000);
	assert_int_equal(conf_t_timeout("5m"), 300000);
	assert_int_equal(conf_t_timeout("2h"), 7200000);
	assert_int_equal(conf_t_timeout("1d"), 86400000);
	c = conf_t_ok(SRV("\tgreeting-delay 500ms\n"));
	assert_int_equal(c->servers[0].greeting_delay_ms, 500);
	conf_free(c);
	snprintf(text, sizeof(text), SRV("\ttimeout command 5x\n"));
	conf_t_bad(text, 3);
	snprintf(text, sizeof(text), SRV("\ttimeout command m\n"));
	conf_t_bad(text, 3);
	snprintf(text, sizeof(text), SRV("\ttimeout bogus 5m\n"));
	conf_t_bad(text, 3);
	snprintf(text, sizeof(text), SRV("\ttimeout command\n"));
	conf_t_bad(text, 3);
	/* milliseconds in 32 bits: 100 days do not fit */
	snprintf(text, sizeof(text), SRV("\ttimeout data 100d\n"));
	conf_t_bad(text, 3);
}

static void
test_switches_counts(void **state)
{
	struct conf *c;
	char text[256];

	c = conf_t_ok(SRV("\tvrfy yes\n\texpn yes\n\tmax-recipients 250\n"
	                  "\tgreeting-delay 5s\n\thostname mx.test\n"));
	assert_true(c->servers[0].vrfy);
	assert_true(c->servers[0].expn);
	assert_int_equal(c->servers[0].max_recipients, 250);
	assert_int_equal(c->servers[0].greeting_delay_ms, 5000);
	assert_string_equal(conf_server_hostname(c, &c->servers[0]), "mx.test");
	conf_free(c);
	snprintf(text, sizeof(text), SRV("\tvrfy maybe\n"));
	conf_t_bad(text, 3);
	snprintf(text, sizeof(text), SRV("\tvrfy\n"));
	conf_t_bad(text, 3);
	snprintf(text, sizeof(text), SRV("\tmax-recipients many\n"));
	conf_t_bad(text, 3);
	snprintf(text, sizeof(text), SRV("\tmax-recipients 1e3\n"));
	conf_t_bad(text, 3);
	snprintf(text, sizeof(text), SRV("\tmax-recipients -5\n"));
	conf_t_bad(text, 3);
	snprintf(text, sizeof(text), SRV("\tmax-recipients 99999999999\n"));
	conf_t_bad(text, 3);
}

static void
test_globals(void **state)
{
	struct conf *c;
	char text[256];

	c = conf_t_ok("hostname h.example\nspool /s\ndrop /d\nbadmail /b\n"
	              "max-sessions 10\nlog-level debug\n" SRV(""));
	assert_string_equal(c->hostname, "h.example");
	assert_string_equal(c->spool, "/s");
	assert_string_equal(c->drop, "/d");
	assert_string_equal(c->badmail, "/b");
	assert_int_equal(c->max_sessions, 10);
	assert_int_equal(c->log_level, LOG_L_DEBUG);
	assert_string_equal(conf_server_hostname(c, &c->servers[0]),
	    "h.example");
	conf_free(c);
	c = conf_t_ok("log-level error\n" SRV(""));
	assert_int_equal(c->log_level, LOG_L_ERR);
	conf_free(c);
	c = conf_t_ok("log-level warn\n" SRV(""));
	assert_int_equal(c->log_level, LOG_L_WARN);
	conf_free(c);
	conf_t_bad("log-level loud\n" SRV(""), 1);
	/* "cannot exceed the build's CONFIG_POOL_SESSIONS" */
	snprintf(text, sizeof(text), "max-sessions %u\n" SRV(""),
	    (unsigned)CONFIG_POOL_SESSIONS + 1);
	conf_t_bad(text, 1);
	conf_t_bad("frobnicate yes\n" SRV(""), 1);
	conf_t_bad("spool\n" SRV(""), 1);
	/* server settings are not global ones */
	conf_t_bad("max-recipients 5\n" SRV(""), 1);
}

static void
test_listen(void **state)
{
	struct conf *c;

	c = conf_t_ok("server a {\n\tlisten 127.0.0.1:25 [::1]:2525\n"
	              "\tlisten *:587\n}\n");
	assert_int_equal(c->servers[0].nlistens, 3);
	conf_t_listen(&c->servers[0], 0, "127.0.0.1:25");
	conf_t_listen(&c->servers[0], 1, "[::1]:2525");
	conf_t_listen(&c->servers[0], 2, "0.0.0.0:587");
	conf_free(c);
	conf_t_bad("server a {\n\tlisten 127.0.0.1\n}\n", 2);
	conf_t_bad("server a {\n\tlisten 127.0.0.1:99999\n}\n", 2);
	conf_t_bad("server a {\n\tlisten 300.0.0.1:25\n}\n", 2);
	conf_t_bad("server a {\n\tlisten ::1:25\n}\n", 2);
	conf_t_bad("server a {\n\tlisten host.example:25\n}\n", 2);
	conf_t_bad("server a {\n\tlisten\n}\n", 2);
}

static void
test_domains(void **state)
{
	struct conf *c;
	const struct conf_domain *d;
	const char *out[4];

	c = conf_t_ok(
	    "domain Example.ORG {\n\tmailbox Alice bob\n"
	    "\tmailbox carol\n\talias Team alice Carol\n}\n"
	    "domain second.example {\n\tmailbox postmaster\n}\n" SRV(""));
	assert_int_equal(c->ndomains, 2);
	/* names are stored in lowercase and looked up in any case */
	d = conf_domain_find(c, "EXAMPLE.org", 11);
	assert_non_null(d);
	assert_string_equal(d->name, "example.org");
	assert_int_equal(d->kind, CONF_DOMAIN_LOCAL);
	assert_int_equal(d->nmailboxes, 3);
	assert_int_equal(conf_local_expand(d, "ALICE", 5, out, 4), 1);
	assert_string_equal(out[0], "alice");
	assert_int_equal(conf_local_expand(d, "team", 4, out, 4), 2);
	assert_string_equal(out[0], "alice");
	assert_string_equal(out[1], "carol");
	/* out[] holds max at most */
	assert_int_equal(conf_local_expand(d, "team", 4, out, 1), 1);
	assert_int_equal(conf_local_expand(d, "dave", 4, out, 4), 0);
	/* the length counts, not a terminator */
	assert_int_equal(conf_local_expand(d, "alicex", 5, out, 4), 1);
	assert_int_equal(conf_local_expand(d, "ali", 3, out, 4), 0);
	assert_null(conf_domain_find(c, "example", 7));
	assert_null(conf_domain_find(c, "example.org.", 12));
	assert_non_null(conf_domain_find(c, "second.examplex", 14));
	assert_null(conf_domain_find(c, "", 0));
	conf_free(c);
	/* an alias to a mailbox the domain does not have */
	conf_t_bad("domain a.example {\n\tmailbox x\n\talias y nobody\n}\n" SRV(
	               ""),
	    3);
	conf_t_bad("domain a.example {\n\tmailbox\n}\n" SRV(""), 2);
	conf_t_bad("domain a.example {\n\tbogus x\n}\n" SRV(""), 2);
	conf_t_bad("domain {\n\tmailbox x\n}\n" SRV(""), 1);
	conf_t_bad("mailbox x\n" SRV(""), 1);
}

static void
test_syntax(void **state)
{
	struct conf *c;

	/* comments, blank lines, tabs and spaces, quoted values */
	c = conf_t_ok(
	    "# comment\n\n  spool   \"/var/my spool\"  # trailing\n"
	    "drop \"/d#not-a-comment\"\n\tbadmail \"a\\\"b\"\n" SRV(""));
	assert_string_equal(c->spool, "/var/my spool");
	assert_string_equal(c->drop, "/d#not-a-comment");
	assert_string_equal(c->badmail, "a\"b");
	conf_free(c);
	/* CRLF line ends are tolerated */
	c = conf_t_ok(
	    "spool /s\r\nserver a {\r\n\tlisten 127.0.0.1:25\r\n}\r\n");
	assert_string_equal(c->spool, "/s");
	conf_free(c);
	/* no final newline */
	c = conf_t_ok("server a {\n\tlisten 127.0.0.1:25\n}");
	conf_free(c);
	conf_t_bad("spool \"/unterminated\n" SRV(""), 1);
	conf_t_bad("server a {\n\tlisten 127.0.0.1:25\n", 0);
	conf_t_bad(SRV("") "}\n", 4);
	conf_t_bad("spool /s {\n}\n" SRV(""), 1);
}

static void
test_nul_in_text(void **state)
{
	static const char text[] = "spool /s\0x\nserver a {\n"
	                           "\tlisten 127.0.0.1:25\n}\n";
	struct conf_errs x;
	struct conf_io io = { conf_t_report, conf_t_read, &x };
	struct conf *c;
	char *copy = tu_dup(text, sizeof(text) - 1);

	memset(&x, 0, sizeof(x));
	assert_true(conf_parse("t", copy, sizeof(text) - 1, &io, &c) > 0);
	assert_null(c);
	assert_int_equal(x.e[0].line, 1);
	free(copy);
}

/* All errors in one run, each at its line, and no struct. */
static void
test_all_errors(void **state)
{
	struct conf_errs x;
	struct conf *c;

	memset(&x, 0, sizeof(x));
	assert_int_equal(conf_t_parse("spool /s\nbogus 1\nhostname h\n"
	                              "server a {\n\tlisten "
	                              "127.0.0.1:25\n\tvrfy perhaps\n"
	                              "\tmax-hops lots\n}\nlog-level shout\n",
	                     &x, &c),
	    4);
	assert_int_equal(x.e[0].line, 2);
	assert_int_equal(x.e[1].line, 6);
	assert_int_equal(x.e[2].line, 7);
	assert_int_equal(x.e[3].line, 9);
	assert_string_equal(x.e[0].file, "test.conf");
}

static void
test_include(void **state)
{
	struct conf_errs x;
	struct conf *c;

	memset(&x, 0, sizeof(x));
	x.inc_name[0] = "/etc/tern/domains.conf";
	x.inc_text[0] = "domain inc.example {\n\tmailbox a\n}";
	assert_int_equal(conf_t_parse_as("/etc/tern/tern.conf",
	                     "include domains.conf\n" SRV(""), &x, &c),
	    0);
	assert_int_equal(x.reads, 1);
	assert_non_null(conf_domain_find(c, "inc.example", 11));
	conf_free(c);
	/* absolute, and quoted */
	assert_int_equal(conf_t_parse_as("/etc/tern/tern.conf",
	                     "include \"/etc/tern/domains.conf\"\n" SRV(""), &x,
	                     &c),
	    0);
	conf_free(c);
	/* an error inside is reported with the included file and its line */
	x.inc_text[0] = "# pieces\ndomain inc.example {\n\tbogus\n}\n";
	assert_int_equal(conf_t_parse_as("/etc/tern/tern.conf",
	                     "include domains.conf\n" SRV(""), &x, &c),
	    1);
	assert_string_equal(x.e[0].file, "/etc/tern/domains.conf");
	assert_int_equal(x.e[0].line, 3);
	/* a missing file: reported where it is included */
	assert_int_not_equal(conf_t_parse_as("/etc/tern/tern.conf",
	                         "\ninclude missing.conf\n" SRV(""), &x, &c),
	    0);
	assert_string_equal(x.last_read, "/etc/tern/missing.conf");
	assert_string_equal(x.e[0].file, "/etc/tern/tern.conf");
	assert_int_equal(x.e[0].line, 2);
	/* top level only */
	assert_int_not_equal(conf_t_parse_as("/etc/tern/tern.conf",
	                         "server a {\n\tlisten 127.0.0.1:25\n\tinclude "
	                         "domains.conf\n}\n",
	                         &x, &c),
	    0);
	assert_int_equal(x.e[0].line, 3);
	assert_int_not_equal(conf_t_parse_as("/etc/tern/tern.conf",
	                         "include\n" SRV(""), &x, &c),
	    0);
}

/* An include of itself ends with an error, not a stack overflow. */
static void
test_include_loop(void **state)
{
	struct conf_errs x;
	struct conf *c;

	memset(&x, 0, sizeof(x));
	x.inc_name[0] = "/e/a.conf";
	x.inc_text[0] = "include b.conf\n";
	x.inc_name[1] = "/e/b.conf";
	x.inc_text[1] = "include a.conf\n";
	assert_int_not_equal(conf_t_parse_as("/e/a.conf",
	                         "include b.conf\n" SRV(""), &x, &c),
	    0);
	assert_true(x.reads < 100);
}

/* Two configurations live side by side (reload) and free cleanly. */
static void
test_two_confs(void **state)
{
	struct conf *a = conf_t_ok("hostname a\n" SRV(""));
	struct conf *b = conf_t_ok("hostname b\n" SRV(""));

	assert_string_equal(a->hostname, "a");
	assert_string_equal(b->hostname, "b");
	conf_free(a);
	assert_string_equal(b->hostname, "b");
	conf_free(b);
}

static void
conf_render(const char *in, size_t len, struct tu_out *o)
{
	static const char *levels[] = { "error", "warn", "info", "debug" };
	struct conf_errs x;
	struct conf_io io = { conf_t_report, conf_t_read, &x };
	struct conf *c;
	char *copy = tu_dup(in, len);
	uint32_t i;
	uint32_t j;
	int n;

	memset(&x, 0, sizeof(x));
	n = conf_parse("golden.conf", copy, len, &io, &c);
	free(copy);
	if (n != 0) {
		tu_outf(o, "errors=%d\n", n);
		for (i = 0; i < (uint32_t)n && i < CONF_ERR_MAX; i++) {
			tu_outf(o, "error line=%d\n", x.e[i].line);
		}
		return;
	}
	tu_outf(o,
	    "hostname=%s spool=%s drop=%s badmail=%s max_sessions=%u "
	    "log_level=%s\n",
	    c->hostname ? c->hostname : "-", c->spool ? c->spool : "-",
	    c->drop ? c->drop : "-", c->badmail ? c->badmail : "-",
	    c->max_sessions,
	    (unsigned)c->log_level < 4 ? levels[c->log_level] : "?");
	for (i = 0; i < c->ndomains; i++) {
		const struct conf_domain *d = &c->domains[i];

		tu_outf(o, "domain %s mailboxes=", d->name);
		for (j = 0; j < d->nmailboxes; j++) {
			tu_outf(o, "%s%s", j ? "," : "", d->mailboxes[j]);
		}
		for (j = 0; j < d->naliases; j++) {
			uint32_t k;

			tu_outf(o, " alias=%s:", d->aliases[j].name);
			for (k = 0; k < d->aliases[j].ntargets; k++) {
				tu_outf(o, "%s%s", k ? "," : "",
				    d->aliases[j].targets[k]);
			}
		}
		tu_outf(o, "\n");
	}
	for (i = 0; i < c->nservers; i++) {
		const struct conf_server *s = &c->servers[i];
		char a[NET_ADDR_TEXT];

		tu_outf(o, "server %s hostname=%s listen=", s->name,
		    conf_server_hostname(c, s) ? conf_server_hostname(c, s) :
		                                 "-");
		for (j = 0; j < s->nlistens; j++) {
			net_addr_fmt(&s->listens[j].addr, a, sizeof(a));
			tu_outf(o, "%s%s", j ? "," : "", a);
		}
		tu_outf(o,
		    "\n  max_message_size=%llu max_session_size=%llu "
		    "max_messages=%u max_recipients=%u max_connections=%u\n"
		    "  max_errors=%u max_hops=%u max_line_length=%u "
		    "timeout_command_ms=%u timeout_data_ms=%u\n"
		    "  greeting_delay_ms=%u vrfy=%d expn=%d\n",
		    (unsigned long long)s->max_message_size,
		    (unsigned long long)s->max_session_size, s->max_messages,
		    s->max_recipients, s->max_connections, s->max_errors,
		    s->max_hops, s->max_line_length, s->timeout_command_ms,
		    s->timeout_data_ms, s->greeting_delay_ms, s->vrfy, s->expn);
	}
	conf_free(c);
}

/* tls settings: a server's certificate and require, connector policies */
static void
test_tls(void **state)
{
	struct conf *c =
	    conf_t_ok(SRV("\ttls cert /c.pem key \"/k k.pem\"\n\ttls require "
	                  "yes\n") "connector a {\n\taddress-space *\n\troute "
	                           "mx\n"
	                           "\ttls verify\n}\n"
	                           "connector b {\n\taddress-space "
	                           "x.test\n\troute mx\n"
	                           "\ttls ca /ca.pem\n\ttls required\n}\n"
	                           "connector d {\n\taddress-space "
	                           "y.test\n\troute mx\n}\n"
	                           "connector e {\n\taddress-space "
	                           "z.test\n\troute mx\n"
	                           "\ttls none\n}\n");
	const struct conf_server *s = conf_t_server(c, "s");

	assert_string_equal(s->tls_cert, "/c.pem");
	assert_string_equal(s->tls_key, "/k k.pem");
	assert_true(s->tls_require);
	assert_int_equal(s->tls_line, 3);
	assert_null(s->tls_cred); /* loaded by the TLS part, not the parser */
	assert_int_equal(c->nconnectors, 4);
	assert_int_equal(c->connectors[0].tls, CONF_TLS_VERIFY);
	assert_string_equal(c->connectors[0].tls_ca,
	    "/etc/ssl/certs/ca-certificates.crt");
	assert_int_equal(c->connectors[1].tls, CONF_TLS_REQUIRED);
	assert_string_equal(c->connectors[1].tls_ca, "/ca.pem");
	assert_int_equal(c->connectors[2].tls, CONF_TLS_OPPORTUNISTIC);
	assert_int_equal(c->connectors[3].tls, CONF_TLS_NONE);
	conf_free(c);
	c = conf_t_ok(SRV(""));
	assert_null(conf_t_server(c, "s")->tls_cert);
	assert_false(conf_t_server(c, "s")->tls_require);
	conf_free(c);
	conf_t_bad(SRV("\ttls cert /c.pem\n"), 3);
	conf_t_bad(SRV("\ttls cert /c.pem key\n"), 3);
	conf_t_bad(SRV("\ttls require maybe\n"), 3);
	conf_t_bad(SRV("\ttls\n"), 3);
	conf_t_bad(SRV("") "connector a {\n\taddress-space *\n\troute mx\n"
	                   "\ttls sometimes\n}\n",
	    7);
	conf_t_bad(SRV("") "connector a {\n\taddress-space *\n\troute mx\n"
	                   "\ttls ca\n}\n",
	    7);
}

/* ---- reload: holds, release, settings that need a restart ----------- */

static int conf_t_released;

static void
conf_t_release(struct conf *c)
{
	assert_non_null(c);
	conf_t_released++;
}

static void
test_hold_release(void **state)
{
	struct conf *c = conf_t_ok(SRV(""));
	uint32_t alive = conf_alive_count();

	conf_set_release(conf_t_release);
	conf_t_released = 0;
	assert_int_equal(conf_users(c), 1);
	assert_ptr_equal(conf_hold(c), c);
	conf_hold(c);
	assert_int_equal(conf_users(c), 3);
	conf_drop(c);
	conf_drop(c);
	assert_int_equal(conf_t_released, 0);
	assert_int_equal(conf_alive_count(), alive);
	conf_drop(c); /* the last: released and freed (ASan: no leak) */
	assert_int_equal(conf_t_released, 1);
	assert_int_equal(conf_alive_count(), alive - 1);
	conf_drop(NULL);
	conf_set_release(NULL);
}

#define CONF_T_FIXED(spool, seg) \
	"spool " spool "\ndrop /d\nresolver 127.0.0.1:53\n" \
	"queue {\n\tsegment-size " seg "\n}\n" SRV("")

static void
test_keep_fixed(void **state)
{
	static struct conf_errs x;
	struct conf *run = conf_t_ok(CONF_T_FIXED("/s1", "1M"));
	struct conf *c;

	conf_pin(run);
	assert_string_equal(run->spool, "/s1");
	c = conf_t_ok(CONF_T_FIXED("/s1", "1M"));
	x.n = 0;
	assert_int_equal(conf_keep_fixed(c, conf_t_report, &x), 0);
	assert_int_equal(x.n, 0);
	conf_free(c);
	c = conf_t_ok(CONF_T_FIXED("/s2", "2M"));
	assert_int_equal(conf_keep_fixed(c, conf_t_report, &x), 2);
	assert_int_equal(x.n, 2);
	assert_string_equal(x.e[0].msg, "spool: needs a restart");
	assert_string_equal(x.e[1].msg, "queue segment-size: needs a restart");
	assert_string_equal(c->spool, "/s1"); /* the running value stays */
	assert_int_equal(c->queue.segment_bytes, 1024 * 1024);
	conf_free(c);
	c = conf_t_ok(
	    "spool /s1\ndrop /d\nqueue {\n\tsegment-size 1M\n}\n" SRV(""));
	x.n = 0;
	assert_int_equal(conf_keep_fixed(c, conf_t_report, &x), 1);
	assert_string_equal(x.e[0].msg, "resolver: needs a restart");
	assert_int_equal(c->nresolvers, 1);
	conf_free(c);
	conf_free(run); /* its pinned strings live on in conf_reload.c */
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_server_defaults),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_switches_counts),
		cmocka_unit_test(test_globals),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_nul_in_text),
		cmocka_unit_test(test_all_errors),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_include_loop),
		cmocka_unit_test(test_two_confs),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_hold_release),
		cmocka_unit_test(test_keep_fixed),
	};

	return tu_run("conf", tests, ARRAY_SIZE(tests), "conf", conf_render);
}
