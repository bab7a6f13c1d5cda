/*
 * conf_build.c — the meaning of the statements: global settings, domains
 * and virtual servers, each setting from a table with its type, so every
 * setting is parsed, range-checked and reported the same way. All errors
 * are reported, not just the first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf_int.h"

enum conf_type { CONF_STR, CONF_SIZE, CONF_COUNT, CONF_DURATION, CONF_BOOL };

struct conf_setting {
	const char *name;
	enum conf_type type;
	size_t off;
	uint64_t max;
	bool enabled; /* the build has the feature */
	const char *option; /* the Kconfig option that brings it */
};

#define S_(name, type, field, max) \
	{ \
		name, type, offsetof(struct conf_server, field), max, true, \
		    NULL \
	}
static const struct conf_setting conf_server_settings[] = {
	S_("hostname", CONF_STR, hostname, 0),
	S_("max-message-size", CONF_SIZE, max_message_size, UINT64_MAX),
	S_("max-session-size", CONF_SIZE, max_session_size, UINT64_MAX),
	S_("max-messages", CONF_COUNT, max_messages, 1000000),
	S_("max-recipients", CONF_COUNT, max_recipients, 100000),
	S_("max-connections", CONF_COUNT, max_connections, 1000000),
	S_("max-errors", CONF_COUNT, max_errors, 10000),
	S_("max-hops", CONF_COUNT, max_hops, 1000),
	S_("max-line-length", CONF_COUNT, max_line_length, 1000000),
	S_("greeting-delay", CONF_DURATION, greeting_delay_ms, 300000),
	{ "vrfy", CONF_BOOL, offsetof(struct conf_server, vrfy), 0,
	    ENABLE_SMTP_VRFY, "CONFIG_SMTP_VRFY" },
	S_("expn", CONF_BOOL, expn, 0),
};
#undef S_

#define G_(name, type, field, max) \
	{ \
		name, type, offsetof(struct conf, field), max, true, NULL \
	}
static const struct conf_setting conf_global_settings[] = {
	G_("hostname", CONF_STR, hostname, 0),
	G_("spool", CONF_STR, spool, 0),
	G_("drop", CONF_STR, drop, 0),
	G_("badmail", CONF_STR, badmail, 0),
	{ "users", CONF_STR, offsetof(struct conf, users), 0, ENABLE_SASL,
	    "CONFIG_SASL_PLAIN (or another CONFIG_SASL_*)" },
	G_("max-sessions", CONF_COUNT, max_sessions, CONFIG_POOL_SESSIONS),
};
#undef G_

static bool
conf_parse_number(const char *s, uint64_t *v, const char **end)
{
	uint64_t n = 0;

	if (*s < '0' || *s > '9') {
		return false;
	}
	for (; *s >= '0' && *s <= '9'; s++) {
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10) {
			return false;
		}
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*v = n;
	*end = s;
	return true;
}

/* 10M, 512K, 1G, 100 (bytes) */
bool
conf_parse_size(const char *s, uint64_t *v)
{
	const char *end;
	uint64_t mul = 1;

	if (!conf_parse_number(s, v, &end)) {
		return false;
	}
	switch (*end) {
	case '\0':
		return true;
	case 'k':
	case 'K':
		mul = 1024;
		break;
	case 'm':
	case 'M':
		mul = 1024 * 1024;
		break;
	case 'g':
	case 'G':
		mul = 1024 * 1024 * 1024;
		break;
	default:
		return false;
	}
	if (end[1] != '\0' || *v > UINT64_MAX / mul) {
		return false;
	}
	*v *= mul;
	return true;
}

/* 30s, 5m, 2h, 1d, 500ms, 10 (seconds) -> milliseconds */
bool
conf_parse_duration(const char *s, uint64_t *ms)
{
	const char *end;
	uint64_t v, mul;

	if (!conf_parse_number(s, &v, &end)) {
		return false;
	}
	if (strcmp(end, "ms") == 0) {
		mul = 1;
	} else if (*end == '\0' || strcmp(end, "s") == 0) {
		mul = 1000;
	} else if (strcmp(end, "m") == 0) {
		mul = 60000;
	} else if (strcmp(end, "h") == 0) {
		mul = 3600000;
	} else if (strcmp(end, "d") == 0) {
		mul = 86400000;
	} else {
		return false;
	}
	if (v > UINT32_MAX / mul) {
		return false;
	}
	*ms = v * mul;
	return true;
}

static const char *const conf_type_hint[] = {
	[CONF_STR] = "a value",
	[CONF_SIZE] = "a size such as 10M, 512K or 1G",
	[CONF_COUNT] = "a whole number",
	[CONF_DURATION] = "a duration such as 30s, 5m, 2h or 1d",
	[CONF_BOOL] = "yes or no",
};

/* Store one value of a table setting into obj. */
static void
conf_set_value(struct conf_ctx *cx, const struct conf_stmt *st,
    const struct conf_setting *cs, void *obj, const char *val)
{
	char *field = (char *)obj + cs->off;
	const char *end;
	uint64_t v = 0;
	bool ok = true;

	switch (cs->type) {
	case CONF_STR:
		*(char **)(void *)field = conf_strdup(cx, val, strlen(val));
		return;
	case CONF_SIZE:
		ok = conf_parse_size(val, &v) && v <= cs->max;
		if (ok) {
			*(uint64_t *)(void *)field = v;
		}
		break;
	case CONF_COUNT:
		ok = conf_parse_number(val, &v, &end) && *end == '\0' &&
		    v <= cs->max;
		if (ok) {
			*(uint32_t *)(void *)field = (uint32_t)v;
		}
		break;
	case CONF_DURATION:
		ok = conf_parse_duration(val, &v) && v <= cs->max;
		if (ok) {
			*(uint32_t *)(void *)field = (uint32_t)v;
		}
		break;
	case CONF_BOOL:
		ok = strcmp(val, "yes") == 0 || strcmp(val, "no") == 0;
		if (ok) {
			*(bool *)(void *)field = val[0] == 'y';
		}
		break;
	}
	if (!ok && cs->max != UINT64_MAX && cs->type != CONF_BOOL &&
	    cs->type != CONF_STR) {
		conf_error(cx, st->file, st->line,
		    "%s: '%s' is not %s from 0 to %llu", cs->name, val,
		    conf_type_hint[cs->type],
		    (unsigned long long)(cs->type == CONF_DURATION ?
		            cs->max / 1000 :
		            cs->max));
	} else if (!ok) {
		conf_error(cx, st->file, st->line, "%s: '%s' is not %s",
		    cs->name, val, conf_type_hint[cs->type]);
	}
}

/* A table setting named by st, if any; true when st was one. */
static bool
conf_apply_table(struct conf_ctx *cx, const struct conf_stmt *st,
    const struct conf_setting *tab, size_t n, void *obj)
{
	size_t k;

	for (k = 0; k < n; k++) {
		if (strcmp(st->args[0], tab[k].name) != 0) {
			continue;
		}
		if (!tab[k].enabled) {
			conf_error(cx, st->file, st->line,
			    "%s needs %s, which this build leaves out",
			    tab[k].name, tab[k].option);
		} else if (st->nargs != 2 || st->has_block) {
			conf_error(cx, st->file, st->line,
			    "%s takes one value (%s)", tab[k].name,
			    conf_type_hint[tab[k].type]);
		} else {
			conf_set_value(cx, st, &tab[k], obj, st->args[1]);
		}
		return true;
	}
	return false;
}

static void
conf_server_defaults(struct conf_server *s)
{
	s->max_message_size = 10 * 1024 * 1024;
	s->max_messages = 100;
	s->max_recipients = 100;
	s->max_errors = 20;
	s->max_hops = 30;
	s->max_line_length = 1000; /* RFC 5321 4.5.3.1.6 */
	s->timeout_command_ms = 5 * 60 * 1000; /* RFC 5321 4.5.3.2.7 */
	s->timeout_data_ms = 10 * 60 * 1000; /* 4.5.3.2.5-6 */
	s->auth_max_failures = 3;
}

static void
conf_server_listen(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_server *s)
{
	uint32_t k;

	if (st->nargs < 2 || st->has_block) {
		conf_error(cx, st->file, st->line,
		    "listen takes addresses such as 127.0.0.1:25 or [::]:25");
		return;
	}
	for (k = 1; k < st->nargs; k++) {
		struct conf_listen *l;

		if (s->nlistens == 16) {
			conf_error(cx, st->file, st->line,
			    "too many listen addresses");
			return;
		}
		l = &s->listens[s->nlistens];
		if (net_addr_parse(st->args[k], &l->addr) < 0) {
			conf_error(cx, st->file, st->line,
			    "listen: '%s' is not address:port (127.0.0.1:25, "
			    "[::1]:25, *:25)",
			    st->args[k]);
			continue;
		}
		l->line = st->line;
		s->nlistens++;
	}
}

static void
conf_server_timeout(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_server *s)
{
	uint32_t *field;
	uint64_t ms;

	if (st->nargs != 3 || st->has_block) {
		conf_error(cx, st->file, st->line,
		    "timeout takes a phase (command, data) and a duration");
		return;
	}
	if (strcmp(st->args[1], "command") == 0) {
		field = &s->timeout_command_ms;
	} else if (strcmp(st->args[1], "data") == 0) {
		field = &s->timeout_data_ms;
	} else {
		conf_error(cx, st->file, st->line,
		    "timeout: unknown phase '%s' (command, data)", st->args[1]);
		return;
	}
	if (!conf_parse_duration(st->args[2], &ms) || ms < 1000 ||
	    ms > 86400000) {
		conf_error(cx, st->file, st->line,
		    "timeout %s: '%s' is not a duration from 1s to 1d",
		    st->args[1], st->args[2]);
		return;
	}
	*field = (uint32_t)ms;
}

static void
conf_server(struct conf_ctx *cx, const struct conf_stmt *st, struct conf *c)
{
	struct conf_server *s;
	const struct conf_stmt *in;
	uint32_t k;

	if (st->nargs != 2 || !st->has_block) {
		conf_error(cx, st->file, st->line,
		    "server takes a name and a { } block");
		return;
	}
	for (k = 0; k < c->nservers; k++) {
		if (strcmp(c->servers[k].name, st->args[1]) == 0) {
			conf_error(cx, st->file, st->line,
			    "server %s is already defined at line %d",
			    st->args[1], c->servers[k].line);
			return;
		}
	}
	s = &c->servers[c->nservers++];
	s->name = st->args[1];
	s->line = st->line;
	s->listens = conf_alloc(cx, sizeof(*s->listens) * 16);
	conf_server_defaults(s);
	for (in = st->block; in != NULL; in = in->next) {
		if (strcmp(in->args[0], "listen") == 0) {
			conf_server_listen(cx, in, s);
		} else if (strcmp(in->args[0], "relay") == 0) {
			conf_server_relay(cx, in, s);
		} else if (strcmp(in->args[0], "timeout") == 0) {
			conf_server_timeout(cx, in, s);
		} else if (strcmp(in->args[0], "tls") == 0) {
			conf_server_tls(cx, in, s);
		} else if (strcmp(in->args[0], "auth") == 0) {
			conf_server_auth(cx, in, s);
		} else if (!conf_apply_table(cx, in, conf_server_settings,
		               ARRAY_SIZE(conf_server_settings), s)) {
			conf_error(cx, in->file, in->line,
			    "unknown server setting '%s'", in->args[0]);
		}
	}
	if (s->nlistens == 0) {
		conf_error(cx, st->file, st->line,
		    "server %s has no listen address", s->name);
	}
	if (s->max_line_length != 0 && s->max_line_length < 80) {
		conf_error(cx, st->file, st->line,
		    "server %s: max-line-length below 80 would refuse ordinary "
		    "mail",
		    s->name);
	}
}

void
conf_lower(char *s)
{
	for (; *s != '\0'; s++) {
		if (*s >= 'A' && *s <= 'Z') {
			*s = (char)(*s - 'A' + 'a');
		}
	}
}

/* A local part as a mailbox name: an atom of letters, digits and -._+ */
static bool
conf_mailbox_name_ok(const char *s)
{
	if (*s == '\0' || *s == '.' ||
	    strlen(s) > 64 /* RFC 5321 4.5.3.1.1 */) {
		return false;
	}
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		        strchr("-._+", *s) != NULL)) {
			return false;
		}
	}
	return true;
}

/* LDH labels of 1-63 octets, not starting or ending with "-" */
bool
conf_domain_name_ok(const char *s)
{
	size_t label = 0;
	char prev = '.';

	if (strlen(s) > 253) {
		return false;
	}
	for (; *s != '\0'; prev = *s++) {
		if (*s == '.') {
			if (label == 0 || prev == '-') {
				return false;
			}
			label = 0;
		} else if ((*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || (*s == '-' && label > 0)) {
			if (++label > 63) {
				return false;
			}
		} else {
			return false;
		}
	}
	return label > 0 && prev != '-';
}

static bool
conf_domain_has(const struct conf_domain *d, const char *name)
{
	uint32_t k;

	for (k = 0; k < d->nmailboxes; k++) {
		if (strcmp(d->mailboxes[k], name) == 0) {
			return true;
		}
	}
	for (k = 0; k < d->naliases; k++) {
		if (strcmp(d->aliases[k].name, name) == 0) {
			return true;
		}
	}
	return false;
}

static void
conf_domain_mailbox(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_domain *d, uint32_t cap)
{
	uint32_t k;

	if (st->nargs < 2) {
		conf_error(cx, st->file, st->line,
		    "mailbox takes one or more names");
	}
	for (k = 1; k < st->nargs; k++) {
		char *name = st->args[k];

		conf_lower(name);
		if (!conf_mailbox_name_ok(name)) {
			conf_error(cx, st->file, st->line,
			    "mailbox '%s': use letters, digits and - . _ + "
			    "(at most 64)",
			    name);
		} else if (conf_domain_has(d, name)) {
			conf_error(cx, st->file, st->line,
			    "'%s' is already a mailbox or alias of %s", name,
			    d->name);
		} else if (d->nmailboxes < cap) {
			d->mailboxes[d->nmailboxes++] = name;
		}
	}
}

static void
conf_domain_alias(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_domain *d, uint32_t cap)
{
	struct conf_alias *a;
	uint32_t k;

	if (st->nargs < 3) {
		conf_error(cx, st->file, st->line,
		    "alias takes a name and one or more mailboxes");
		return;
	}
	conf_lower(st->args[1]);
	if (!conf_mailbox_name_ok(st->args[1]) ||
	    conf_domain_has(d, st->args[1])) {
		conf_error(cx, st->file, st->line,
		    "alias '%s' is not a free, valid name in %s", st->args[1],
		    d->name);
		return;
	}
	if (d->naliases >= cap) {
		return;
	}
	a = &d->aliases[d->naliases++];
	a->name = st->args[1];
	a->line = st->line;
	a->targets = st->args + 2;
	a->ntargets = st->nargs - 2;
	for (k = 0; k < a->ntargets; k++) {
		conf_lower(a->targets[k]);
	}
}

static uint32_t
conf_count(const struct conf_stmt *st, const char *kw, bool words)
{
	uint32_t n = 0;

	for (; st != NULL; st = st->next) {
		if (strcmp(st->args[0], kw) == 0) {
			n += words ? st->nargs - 1 : 1;
		}
	}
	return n;
}

static void
conf_domain_check_aliases(struct conf_ctx *cx, const struct conf_stmt *st,
    const struct conf_domain *d)
{
	uint32_t k, t, m;

	for (k = 0; k < d->naliases; k++) {
		for (t = 0; t < d->aliases[k].ntargets; t++) {
			for (m = 0; m < d->nmailboxes; m++) {
				if (strcmp(d->mailboxes[m],
				        d->aliases[k].targets[t]) == 0) {
					break;
				}
			}
			if (m == d->nmailboxes) {
				conf_error(cx, st->file, d->aliases[k].line,
				    "alias %s@%s: '%s' is not a mailbox of the "
				    "domain",
				    d->aliases[k].name, d->name,
				    d->aliases[k].targets[t]);
			}
		}
	}
}

static void
conf_domain(struct conf_ctx *cx, const struct conf_stmt *st, struct conf *c)
{
	struct conf_domain *d;
	const struct conf_stmt *in;
	uint32_t k, nmb, nal;

	enum conf_domain_kind kind = CONF_DOMAIN_LOCAL;

	if (st->nargs == 3 && !st->has_block) {
		if (strcmp(st->args[2], "relay") == 0) {
			kind = CONF_DOMAIN_RELAY;
		} else if (strcmp(st->args[2], "hold") == 0) {
			kind = CONF_DOMAIN_HOLD;
		} else {
			conf_error(cx, st->file, st->line,
			    "domain %s: '%s' is not relay or hold", st->args[1],
			    st->args[2]);
			return;
		}
	} else if (st->nargs != 2 || !st->has_block) {
		conf_error(cx, st->file, st->line,
		    "domain takes a name and a { } block of mailboxes, "
		    "or a name and relay or hold");
		return;
	}
	conf_lower(st->args[1]);
	if (!conf_domain_name_ok(st->args[1])) {
		conf_error(cx, st->file, st->line, "'%s' is not a domain name",
		    st->args[1]);
		return;
	}
	for (k = 0; k < c->ndomains; k++) {
		if (strcmp(c->domains[k].name, st->args[1]) == 0) {
			conf_error(cx, st->file, st->line,
			    "domain %s is already defined at line %d",
			    st->args[1], c->domains[k].line);
			return;
		}
	}
	d = &c->domains[c->ndomains++];
	d->name = st->args[1];
	d->kind = kind;
	d->line = st->line;
	if (kind != CONF_DOMAIN_LOCAL) {
		return;
	}
	nmb = conf_count(st->block, "mailbox", true);
	nal = conf_count(st->block, "alias", false);
	d->mailboxes = conf_alloc(cx, sizeof(char *) * (nmb + 1));
	d->aliases = conf_alloc(cx, sizeof(*d->aliases) * (nal + 1));
	for (in = st->block; in != NULL; in = in->next) {
		if (strcmp(in->args[0], "mailbox") == 0) {
			conf_domain_mailbox(cx, in, d, nmb);
		} else if (strcmp(in->args[0], "alias") == 0) {
			conf_domain_alias(cx, in, d, nal);
		} else {
			conf_error(cx, in->file, in->line,
			    "unknown domain setting '%s' (mailbox, alias)",
			    in->args[0]);
		}
	}
	conf_domain_check_aliases(cx, st, d);
}

static void
conf_check_listeners(struct conf_ctx *cx, const struct conf *c)
{
	uint32_t a, b, i, j;

	for (a = 0; a < c->nservers; a++) {
		for (i = 0; i < c->servers[a].nlistens; i++) {
			for (b = a; b < c->nservers; b++) {
				for (j = b == a ? i + 1 : 0;
				     j < c->servers[b].nlistens; j++) {
					const struct conf_listen *x =
					    &c->servers[a].listens[i];
					const struct conf_listen *y =
					    &c->servers[b].listens[j];

					if (net_addr_equal(&x->addr,
					        &y->addr)) {
						conf_error(cx, c->source,
						    y->line,
						    "listen address also used "
						    "at "
						    "line %d",
						    x->line);
					}
				}
			}
		}
	}
}

static void
conf_global_log_level(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf *c)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	uint32_t k;

	for (k = 0; k < ARRAY_SIZE(names) && st->nargs == 2; k++) {
		if (strcmp(st->args[1], names[k]) == 0) {
			c->log_level = (enum log_level)k;
			return;
		}
	}
	conf_error(cx, st->file, st->line,
	    "log-level takes error, warn, info or debug");
}

static void
conf_queue_retry(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_queue *q)
{
	uint64_t ms;
	uint32_t k;

	if (st->nargs < 2 || st->nargs - 1 > CONF_RETRY_MAX) {
		conf_error(cx, st->file, st->line,
		    "retry takes 1 to %d durations (the last repeats)",
		    CONF_RETRY_MAX);
		return;
	}
	for (k = 1; k < st->nargs; k++) {
		if (!conf_parse_duration(st->args[k], &ms) || ms < 1000) {
			conf_error(cx, st->file, st->line,
			    "retry: '%s' is not a duration of 1s or more",
			    st->args[k]);
			return;
		}
		q->retry_ms[k - 1] = (uint32_t)ms;
	}
	q->nretry = st->nargs - 1;
}

static void
conf_queue_segment(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_queue *q)
{
	uint64_t v;

	if (st->nargs != 2 || !conf_parse_size(st->args[1], &v) ||
	    v < 64 * 1024 || v > (uint64_t)CONFIG_QUEUE_SEGMENT_KB * 1024) {
		conf_error(cx, st->file, st->line,
		    "segment-size takes a size from 64K to %dK "
		    "(CONFIG_QUEUE_SEGMENT_KB)",
		    CONFIG_QUEUE_SEGMENT_KB);
		return;
	}
	q->segment_bytes = v;
}

/* timeout connect 30s | timeout reply 5m (the SMTP client) */
static void
conf_queue_timeout(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_queue *q)
{
	uint64_t ms;

	if (st->nargs != 3 || !conf_parse_duration(st->args[2], &ms) ||
	    ms < 1000 || ms > 3600000 ||
	    (strcmp(st->args[1], "connect") != 0 &&
	        strcmp(st->args[1], "reply") != 0)) {
		conf_error(cx, st->file, st->line,
		    "timeout takes connect or reply and a duration from 1s to "
		    "1h");
		return;
	}
	if (st->args[1][0] == 'c') {
		q->connect_timeout_ms = (uint32_t)ms;
	} else {
		q->reply_timeout_ms = (uint32_t)ms;
	}
}

/* RFC 3461/3464 reports: delay-notice, ndr-copy, dsn-max-original */
static void
conf_queue_dsn(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_queue *q)
{
	const char *key = st->args[0], *v = st->nargs == 2 ? st->args[1] : "";
	uint64_t n;

	if (!ENABLE_DSN) {
		conf_error(cx, st->file, st->line,
		    "%s needs CONFIG_DSN, which this build leaves out", key);
		return;
	}
	if (strcmp(key, "delay-notice") == 0) {
		if (st->nargs != 2 || !conf_parse_duration(v, &n)) {
			conf_error(cx, st->file, st->line,
			    "delay-notice takes a duration such as 12h "
			    "(0: never)");
			return;
		}
		q->delay_notice_ms = n;
	} else if (strcmp(key, "ndr-copy") == 0) {
		const char *at = strchr(v, '@');

		if (st->nargs != 2 || at == NULL || at == v || at[1] == '\0' ||
		    strlen(v) > 254 || strpbrk(v, "<> \t\"") != NULL) {
			conf_error(cx, st->file, st->line,
			    "ndr-copy takes an address such as "
			    "postmaster@example.com");
			return;
		}
		q->ndr_copy = conf_strdup(cx, v, strlen(v));
	} else if (strcmp(key, "dsn-max-original") == 0) {
		if (st->nargs != 2 || !conf_parse_size(v, &n)) {
			conf_error(cx, st->file, st->line,
			    "dsn-max-original takes a size such as 1M");
			return;
		}
		q->dsn_max_original = n;
	} else {
		conf_error(cx, st->file, st->line, "unknown queue setting '%s'",
		    key);
	}
}

static void
conf_queue(struct conf_ctx *cx, const struct conf_stmt *st, struct conf *c)
{
	const struct conf_stmt *in;
	uint64_t ms;

	if (st->nargs != 1 || !st->has_block) {
		conf_error(cx, st->file, st->line, "queue takes a { } block");
		return;
	}
	for (in = st->block; in != NULL; in = in->next) {
		if (strcmp(in->args[0], "retry") == 0) {
			conf_queue_retry(cx, in, &c->queue);
		} else if (strcmp(in->args[0], "expire") == 0) {
			if (in->nargs != 2 ||
			    !conf_parse_duration(in->args[1], &ms) ||
			    ms < 1000) {
				conf_error(cx, in->file, in->line,
				    "expire takes a duration such as 2d");
				continue;
			}
			c->queue.expire_ms = ms;
		} else if (strcmp(in->args[0], "segment-size") == 0) {
			conf_queue_segment(cx, in, &c->queue);
		} else if (strcmp(in->args[0], "timeout") == 0) {
			conf_queue_timeout(cx, in, &c->queue);
		} else if (strncmp(in->args[0], "delay-notice", 12) == 0 ||
		    strcmp(in->args[0], "ndr-copy") == 0 ||
		    strcmp(in->args[0], "dsn-max-original") == 0) {
			conf_queue_dsn(cx, in, &c->queue);
		} else {
			conf_error(cx, in->file, in->line,
			    "unknown queue setting '%s' (retry, expire, "
			    "segment-size, timeout, delay-notice, ndr-copy, "
			    "dsn-max-original)",
			    in->args[0]);
		}
	}
}

static void
conf_queue_defaults(struct conf_queue *q)
{
	static const uint32_t retry[] = { 15 * 60000, 30 * 60000, 60 * 60000,
		240 * 60000 };

	memcpy(q->retry_ms, retry, sizeof(retry));
	q->nretry = ARRAY_SIZE(retry);
	q->expire_ms = 2ull * 86400000;
	q->segment_bytes = (uint64_t)CONFIG_QUEUE_SEGMENT_KB * 1024;
	q->connect_timeout_ms = 30000;
	q->reply_timeout_ms = 5 * 60000; /* RFC 5321 4.5.3.2 */
	q->delay_notice_ms = 12ull * 3600000; /* the seed's default */
	q->dsn_max_original = 1024 * 1024;
}

struct conf *
conf_build(struct conf_ctx *cx, const char *name, const struct conf_stmt *top)
{
	struct conf *c = conf_alloc(cx, sizeof(*c));
	const struct conf_stmt *st;

	c->source = conf_strdup(cx, name, strlen(name));
	c->log_level = LOG_L_INFO;
	conf_queue_defaults(&c->queue);
	c->domains = conf_alloc(cx,
	    sizeof(*c->domains) * (conf_count(top, "domain", false) + 1));
	c->servers = conf_alloc(cx,
	    sizeof(*c->servers) * (conf_count(top, "server", false) + 1));
	c->connectors = conf_alloc(cx,
	    sizeof(*c->connectors) * (conf_count(top, "connector", false) + 1));
	for (st = top; st != NULL; st = st->next) {
		if (strcmp(st->args[0], "server") == 0) {
			conf_server(cx, st, c);
		} else if (strcmp(st->args[0], "domain") == 0) {
			conf_domain(cx, st, c);
		} else if (strcmp(st->args[0], "queue") == 0) {
			conf_queue(cx, st, c);
		} else if (strcmp(st->args[0], "connector") == 0) {
			conf_connector(cx, st, c);
		} else if (strcmp(st->args[0], "resolver") == 0) {
			conf_resolvers(cx, st, c);
		} else if (strcmp(st->args[0], "log-level") == 0) {
			conf_global_log_level(cx, st, c);
		} else if (!conf_apply_table(cx, st, conf_global_settings,
		               ARRAY_SIZE(conf_global_settings), c)) {
			conf_error(cx, st->file, st->line,
			    "unknown setting '%s'", st->args[0]);
		}
	}
	if (c->nservers == 0) {
		conf_error(cx, name, 0,
		    "no server { } block: nothing would listen");
	}
	conf_check_listeners(cx, c);
	conf_auth_check(cx, c);
	return c;
}
