/*
 * fuzz_conf.c — the configuration parser (conf_parse) on arbitrary text.
 * Includes read the input itself again (so nesting limits are reached)
 * or fail with ENOENT; the text is handed over in a buffer of exactly its
 * size, as are included texts.
 *
 * Properties (abort on violation): the parser ends (an error flood of
 * 100000 reports counts as a hang); the return value is the number of
 * reports; a struct conf comes back exactly when there were none; every
 * report has a file and a message; an accepted configuration is
 * consistent (each domain is found by its name, each mailbox expands to
 * itself, each server has a name and listeners) and frees cleanly.
 */
#include <string.h>

#include "fuzz.h"

#include "conf/conf.h"

struct fuzz_conf_ctx {
	const uint8_t *data;
	size_t size;
	long reports;
};

static void
fuzz_conf_report(void *ctx, const char *file, int line, const char *msg)
{
	struct fuzz_conf_ctx *x = ctx;

	FUZZ_CHECK(file != NULL && msg != NULL && msg[0] != '\0');
	FUZZ_CHECK(line >= 0);
	x->reports++;
	FUZZ_CHECK(x->reports < 100000); /* reports without end */
}

static int
fuzz_conf_read(void *ctx, const char *path, char **text, size_t *len)
{
	struct fuzz_conf_ctx *x = ctx;
	const char *base = strrchr(path, '/');

	base = base == NULL ? path : base + 1;
	if (strcmp(base, "self.conf") != 0) {
		return -ENOENT;
	}
	*text = malloc(x->size == 0 ? 1 : x->size);
	FUZZ_CHECK(*text != NULL);
	memcpy(*text, x->data, x->size);
	*len = x->size;
	return 0;
}

static void
fuzz_conf_check(const struct conf *c)
{
	uint32_t i;
	uint32_t j;

	for (i = 0; i < c->ndomains; i++) {
		const struct conf_domain *d = &c->domains[i];
		const char *out[8];

		FUZZ_CHECK(d->name != NULL);
		FUZZ_CHECK(
		    conf_domain_find(c, d->name, strlen(d->name)) != NULL);
		for (j = 0; j < d->nmailboxes; j++) {
			const char *m = d->mailboxes[j];

			FUZZ_CHECK(m != NULL);
			FUZZ_CHECK(
			    conf_local_expand(d, m, strlen(m), out, 8) >= 1);
		}
		for (j = 0; j < d->naliases; j++) {
			const struct conf_alias *a = &d->aliases[j];

			FUZZ_CHECK(a->name != NULL && a->ntargets > 0);
			FUZZ_CHECK(
			    conf_local_expand(d, a->name, strlen(a->name), out,
			        8) == (a->ntargets < 8 ? a->ntargets : 8));
		}
	}
	for (i = 0; i < c->nservers; i++) {
		const struct conf_server *s = &c->servers[i];
		char buf[NET_ADDR_TEXT];

		FUZZ_CHECK(s->name != NULL);
		(void)conf_server_hostname(c, s);
		for (j = 0; j < s->nlistens; j++) {
			net_addr_fmt(&s->listens[j].addr, buf, sizeof(buf));
			FUZZ_CHECK(strlen(buf) < sizeof(buf));
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_conf_ctx x = { data, size, 0 };
	struct conf_io io = { fuzz_conf_report, fuzz_conf_read, &x };
	struct conf *c = NULL;
	char *text = malloc(size == 0 ? 1 : size);
	int n;

	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	n = conf_parse("/etc/tern/self.conf", text, size, &io, &c);
	free(text);
	FUZZ_CHECK(n >= 0 && n == x.reports);
	FUZZ_CHECK((n == 0) == (c != NULL));
	if (c != NULL) {
		fuzz_conf_check(c);
		conf_free(c);
	}
	return 0;
}
