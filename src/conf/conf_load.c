/*
 * conf_load.c — the configuration from a file or the embedded default:
 * reads files, reports "file:line: message" on stderr, fills in what
 * depends on the machine (the host name), frees and looks things up.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf_int.h"

#define CONF_FILE_MAX (1024 * 1024)

struct conf_holder {
	struct conf c;
	struct conf_mem *mem;
	uint32_t refs; /* conf_hold() minus conf_drop(); 1 from the load */
	struct conf_holder *next; /* every configuration alive */
	char hostname[256];
};

/*
 * Configurations alive: the running one and those sessions still hold.
 * (Also keeps them reachable for a leak checker when the program ends
 * with an outbound job holding one.)
 */
static struct conf_holder *conf_alive;

static conf_release_fn conf_release;

static int
conf_read_file(void *ctx, const char *path, char **text, size_t *len)
{
	struct stat sb;
	ssize_t r;
	size_t got = 0;
	char *buf;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > CONF_FILE_MAX) {
		rc = S_ISREG(sb.st_mode) ? -EFBIG : -EINVAL;
		close(fd);
		return rc;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)sb.st_size) {
		r = read(fd, buf + got, (size_t)sb.st_size - got);
		if (r <= 0) {
			break;
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*text = buf;
	*len = got;
	return 0;
}

static void
conf_report_stderr(void *ctx, const char *file, int line, const char *msg)
{
	if (line > 0) {
		fprintf(stderr, "%s:%d: %s\n", file, line, msg);
	} else {
		fprintf(stderr, "%s: %s\n", file, msg);
	}
}

int
conf_parse(const char *name, const char *text, size_t len,
    const struct conf_io *io, struct conf **out)
{
	struct conf_ctx cx = { .io = io };
	struct conf_stmt *top;
	struct conf_holder *h;
	struct conf *c;

	*out = NULL;
	top = conf_stmts_parse(&cx, name, text, len);
	c = conf_build(&cx, name, top);
	if (cx.errors > 0) {
		conf_mem_free(cx.mem);
		return cx.errors;
	}
	/* the struct conf moves into a holder that owns the memory */
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		fatal("out of memory loading the configuration");
	}
	h->c = *c;
	h->mem = cx.mem;
	h->refs = 1;
	h->next = conf_alive;
	conf_alive = h;
	*out = &h->c;
	return 0;
}

static void
conf_fill_defaults(struct conf *c)
{
	struct conf_holder *h = container_of(c, struct conf_holder, c);

	if (c->hostname == NULL) {
		if (gethostname(h->hostname, sizeof(h->hostname) - 1) < 0 ||
		    h->hostname[0] == '\0') {
			str_copy(h->hostname, "localhost", sizeof(h->hostname));
		}
		c->hostname = h->hostname;
	}
	if (c->spool == NULL) {
		c->spool = "./var/spool";
	}
	if (c->drop == NULL) {
		c->drop = "./var/drop";
	}
	if (c->badmail == NULL) {
		c->badmail = "./var/badmail";
	}
}

int
conf_load_report(const char *path, conf_report_fn report, void *ctx,
    struct conf **out)
{
	struct conf_io io = { report, conf_read_file, ctx };
	char *text;
	size_t len;
	int rc;

	*out = NULL;
	if (path == NULL) {
		rc = conf_parse("(embedded default)", conf_default_text,
		    strlen(conf_default_text), &io, out);
	} else {
		rc = conf_read_file(NULL, path, &text, &len);
		if (rc < 0) {
			char msg[128];

			snprintf(msg, sizeof(msg), "cannot read: %s",
			    strerror(-rc));
			report(ctx, path, 0, msg);
			return 1;
		}
		rc = conf_parse(path, text, len, &io, out);
		free(text);
	}
	if (rc == 0) {
		conf_fill_defaults(*out);
	}
	return rc;
}

int
conf_load(const char *path, struct conf **out)
{
	return conf_load_report(path, conf_report_stderr, NULL, out);
}

void
conf_set_release(conf_release_fn fn)
{
	conf_release = fn;
}

const struct conf *
conf_hold(const struct conf *c)
{
	container_of(c, struct conf_holder, c)->refs++;
	return c;
}

void
conf_drop(const struct conf *c)
{
	struct conf_holder *h;

	if (c == NULL) {
		return;
	}
	h = container_of(c, struct conf_holder, c);
	if (--h->refs > 0) {
		return;
	}
	if (conf_release != NULL) {
		conf_release(&h->c);
	}
	conf_free(&h->c);
}

uint32_t
conf_users(const struct conf *c)
{
	return container_of(c, struct conf_holder, c)->refs;
}

uint32_t
conf_alive_count(void)
{
	const struct conf_holder *h;
	uint32_t n = 0;

	for (h = conf_alive; h != NULL; h = h->next) {
		n++;
	}
	return n;
}

void
conf_free(struct conf *c)
{
	struct conf_holder *h, **p;

	if (c == NULL) {
		return;
	}
	h = container_of(c, struct conf_holder, c);
	for (p = &conf_alive; *p != NULL; p = &(*p)->next) {
		if (*p == h) {
			*p = h->next;
			break;
		}
	}
	conf_mem_free(h->mem);
	free(h);
}

const struct conf_domain *
conf_domain_find(const struct conf *c, const char *name, size_t len)
{
	uint32_t k;

	for (k = 0; k < c->ndomains; k++) {
		if (str_ieq(c->domains[k].name, strlen(c->domains[k].name),
		        name, len)) {
			return &c->domains[k];
		}
	}
	return NULL;
}

uint32_t
conf_local_expand(const struct conf_domain *d, const char *local, size_t len,
    const char **out, uint32_t max)
{
	uint32_t k, t, n = 0;

	for (k = 0; k < d->nmailboxes; k++) {
		if (str_ieq(d->mailboxes[k], strlen(d->mailboxes[k]), local,
		        len)) {
			out[0] = d->mailboxes[k];
			return max > 0 ? 1 : 0;
		}
	}
	for (k = 0; k < d->naliases; k++) {
		const struct conf_alias *a = &d->aliases[k];

		if (!str_ieq(a->name, strlen(a->name), local, len)) {
			continue;
		}
		for (t = 0; t < a->ntargets && n < max; t++) {
			out[n++] = a->targets[t];
		}
		return n;
	}
	return 0;
}

const char *
conf_server_hostname(const struct conf *c, const struct conf_server *s)
{
	return s->hostname != NULL ? s->hostname : c->hostname;
}
