/*
 * tu.c — shared helpers of the unit tests (see tu.h): golden-file walking,
 * the text renderer, and the panic check (fork, call, watch the child).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tu.h"

#include "smtp/smtp.h"

struct tu_case {
	char name[256];
	char path[1536]; /* without the extension */
	tu_render_fn render;
};

void
tu_out_reset(struct tu_out *o)
{
	o->len = 0;
	o->text[0] = '\0';
}

void
tu_outf(struct tu_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->text + o->len, sizeof(o->text) - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(o->text) - o->len) {
		fail_msg("tu_outf: rendering longer than %d bytes", TU_OUT_MAX);
	}
	o->len += (size_t)n;
}

void
tu_out_esc(struct tu_out *o, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\') {
			tu_outf(o, "\\\\");
		} else if (c >= 0x20 && c < 0x7f) {
			tu_outf(o, "%c", c);
		} else {
			tu_outf(o, "\\x%02x", c);
		}
	}
}

static char *
tu_read_file(const char *path, size_t *len)
{
	struct stat st;
	char *p;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0) {
		return NULL;
	}
	if (fstat(fd, &st) != 0) {
		close(fd);
		return NULL;
	}
	p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	n = read(fd, p, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(p);
		return NULL;
	}
	p[n] = '\0';
	*len = (size_t)n;
	return p;
}

static void
tu_write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
tu_golden_case(void **state)
{
	struct tu_case *c = *state;
	static struct tu_out out;
	char path[1600];
	const char *update = getenv("GOLDEN_UPDATE");
	char *in;
	char *ref;
	size_t in_len;
	size_t ref_len;

	if (snprintf(path, sizeof(path), "%s.in", c->path) >=
	    (int)sizeof(path)) {
		fail_msg("path too long");
	}
	in = tu_read_file(path, &in_len);
	if (in == NULL) {
		fail_msg("cannot read %s", path);
	}
	tu_out_reset(&out);
	c->render(in, in_len, &out);
	free(in);
	if (snprintf(path, sizeof(path), "%s.ref", c->path) >=
	    (int)sizeof(path)) {
		fail_msg("path too long");
	}
	if (update != NULL && strcmp(update, "1") == 0) {
		tu_write_file(path, out.text, out.len);
		return;
	}
	ref = tu_read_file(path, &ref_len);
	if (ref == NULL) {
		fail_msg("cannot read %s (GOLDEN_UPDATE=1 writes it)", path);
	}
	if (ref_len != out.len || memcmp(ref, out.text, ref_len) != 0) {
		print_error("golden %s\n--- expected (%s)\n%s--- got\n%s---\n",
		    c->name, path, ref, out.text);
		free(ref);
		fail_msg("golden case %s differs", c->name);
	}
	free(ref);
}

static void
tu_golden_missing(void **state)
{
	fail_msg("no golden cases in %s", (const char *)*state);
}

static int
tu_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names (without .in) of the golden cases; *n gets the count. */
static char **
tu_golden_list(const char *dir, size_t *n)
{
	struct dirent *de;
	char **names = NULL;
	size_t cap = 0;
	DIR *d;

	*n = 0;
	d = opendir(dir);
	if (d == NULL) {
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 4 || strcmp(de->d_name + len - 3, ".in") != 0) {
			continue;
		}
		if (*n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			names = realloc(names, cap * sizeof(*names));
			assert_non_null(names);
		}
		names[*n] = strndup(de->d_name, len - 3);
		assert_non_null(names[*n]);
		(*n)++;
	}
	closedir(d);
	qsort(names, *n, sizeof(*names), tu_name_cmp);
	return names;
}

int
tu_run(const char *group, const struct CMUnitTest *fixed, size_t nfixed,
    const char *parser, tu_render_fn render)
{
	static char dir[1024];
	const char *root = getenv("GOLDEN_DIR");
	struct CMUnitTest *tests;
	struct tu_case *cases = NULL;
	char **names = NULL;
	size_t ncases = 0;
	size_t total;
	size_t i;
	int rc;

	if (parser != NULL) {
		if (snprintf(dir, sizeof(dir), "%s/%s",
		        root != NULL ? root : "tests/unit/golden",
		        parser) >= (int)sizeof(dir)) {
			return 1;
		}
		names = tu_golden_list(dir, &ncases);
	}
	total = nfixed + ncases + (parser != NULL && ncases == 0);
	tests = calloc(total, sizeof(*tests));
	cases = calloc(ncases + 1, sizeof(*cases));
	if (tests == NULL || cases == NULL) {
		return 1;
	}
	memcpy(tests, fixed, nfixed * sizeof(*tests));
	for (i = 0; i < ncases; i++) {
		if (snprintf(cases[i].name, sizeof(cases[i].name),
		        "golden/%s/%s", parser,
		        names[i]) >= (int)sizeof(cases[i].name) ||
		    snprintf(cases[i].path, sizeof(cases[i].path), "%s/%s", dir,
		        names[i]) >= (int)sizeof(cases[i].path)) {
			return 1;
		}
		cases[i].render = render;
		tests[nfixed + i].name = cases[i].name;
		tests[nfixed + i].test_func = tu_golden_case;
		tests[nfixed + i].initial_state = &cases[i];
		free(names[i]);
	}
	free(names);
	if (parser != NULL && ncases == 0) {
		tests[nfixed].name = "golden_missing";
		tests[nfixed].test_func = tu_golden_missing;
		tests[nfixed].initial_state = dir;
	}
	rc = _cmocka_run_group_tests(group, tests, total, NULL, NULL);
	free(cases);
	free(tests);
	return rc;
}

bool
tu_dies(void (*fn)(void *), void *arg)
{
	static const int sigs[] = { SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE };
	int status;
	pid_t pid;
	size_t i;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		/* cmocka's handlers would resume the test run in the child */
		for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
			signal(sigs[i], SIG_DFL);
		}
		if (fd >= 0) {
			dup2(fd, 2);
		}
		fn(arg);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

bool
tu_split_opts(const char *in, size_t len, const char **opts, size_t *opts_len,
    const char **text, size_t *text_len)
{
	const char *nl = memchr(in, '\n', len);

	if (nl == NULL) {
		return false;
	}
	*opts = in;
	*opts_len = (size_t)(nl - in);
	*text = nl + 1;
	*text_len = len - *opts_len - 1;
	if (*text_len > 0 && (*text)[*text_len - 1] == '\n') {
		(*text_len)--;
	}
	return true;
}

/* The word of opts starting with `word` (whole word, or "word=") or NULL. */
static const char *
tu_opt_find(const char *opts, size_t opts_len, const char *word, bool eq)
{
	size_t wl = strlen(word);
	size_t i = 0;

	while (i < opts_len) {
		size_t j = i;

		while (j < opts_len && opts[j] != ' ') {
			j++;
		}
		if (!eq && j - i == wl && memcmp(opts + i, word, wl) == 0) {
			return opts + i;
		}
		if (eq && j - i > wl && memcmp(opts + i, word, wl) == 0 &&
		    opts[i + wl] == '=') {
			return opts + i + wl + 1;
		}
		i = j + 1;
	}
	return NULL;
}

bool
tu_opt(const char *opts, size_t opts_len, const char *word)
{
	return tu_opt_find(opts, opts_len, word, false) != NULL;
}

unsigned long
tu_opt_num(const char *opts, size_t opts_len, const char *key,
    unsigned long dflt)
{
	const char *v = tu_opt_find(opts, opts_len, key, true);

	return v == NULL ? dflt : strtoul(v, NULL, 10);
}

void
tu_assert_mem_eq_at(const char *a, size_t alen, const char *b, size_t blen,
    const char *file, int line)
{
	static struct tu_out oa;
	static struct tu_out ob;

	if (alen == blen && (alen == 0 || memcmp(a, b, alen) == 0)) {
		return;
	}
	tu_out_reset(&oa);
	tu_out_reset(&ob);
	tu_out_esc(&oa, a, alen);
	tu_out_esc(&ob, b, blen);
	print_error("%s:%d: bytes differ\n  got:      \"%s\" (%zu)\n"
	            "  expected: \"%s\" (%zu)\n",
	    file, line, oa.text, alen, ob.text, blen);
	fail_msg("bytes differ");
}

char *
tu_dup(const char *s, size_t len)
{
	char *p = malloc(len == 0 ? 1 : len);

	assert_non_null(p);
	if (len > 0) {
		memcpy(p, s, len);
	}
	return p;
}

void
tu_out_reply(struct tu_out *o, int r)
{
	const struct smtp_reply *rp;

	if (r <= SMTP_R_NONE || r >= SMTP_R_COUNT) {
		tu_outf(o, "reply=invalid(%d)\n", r);
		return;
	}
	rp = smtp_reply_get((enum smtp_r)r);
	tu_outf(o, "reply=%u %s %s\n", rp->code, rp->enh, rp->text);
}
