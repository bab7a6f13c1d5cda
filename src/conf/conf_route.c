/*
 * conf_route.c — the settings that decide where mail may come from and
 * where it goes: relay networks per virtual server, connectors (address
 * spaces with costs, a route by DNS MX or to smart hosts, a schedule,
 * limits) and the resolvers. Also the pure checks used at run time:
 * network membership, address-space patterns, schedule windows.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf_int.h"

#define CONF_NETS_MAX 64
#define CONF_HOSTS_MAX 16
#define CONF_WINDOWS_MAX 16
#define CONF_SPACES_MAX 64

/* "10.0.0.0/8", "2001:db8::/32", or one address */
static bool
conf_net_parse(const char *text, struct conf_net *n)
{
	char buf[64], *slash, *end;
	long prefix;

	if (str_copy(buf, text, sizeof(buf)) >= sizeof(buf)) {
		return false;
	}
	slash = strchr(buf, '/');
	if (slash != NULL) {
		*slash++ = '\0';
	}
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, buf, n->addr) == 1) {
		n->family = AF_INET;
		n->prefix = 32;
	} else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
		n->family = AF_INET6;
		n->prefix = 128;
	} else {
		return false;
	}
	if (slash != NULL) {
		prefix = strtol(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || prefix < 0 ||
		    prefix > n->prefix) {
			return false;
		}
		n->prefix = (uint8_t)prefix;
	}
	return true;
}

bool
conf_net_match(const struct conf_net *n, const struct net_addr *a)
{
	const uint8_t *p;
	unsigned full = n->prefix / 8u, rest = n->prefix % 8u;

	if (a->u.sa.sa_family != n->family) {
		return false;
	}
	p = n->family == AF_INET ? (const uint8_t *)&a->u.in4.sin_addr :
	                           (const uint8_t *)&a->u.in6.sin6_addr;
	if (memcmp(p, n->addr, full) != 0) {
		return false;
	}
	return rest == 0 ||
	    ((p[full] ^ n->addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool
conf_relay_allowed(const struct conf_server *s, const struct net_addr *a)
{
	uint32_t k;

	for (k = 0; k < s->nrelay_nets; k++) {
		if (conf_net_match(&s->relay_nets[k], a)) {
			return true;
		}
	}
	return false;
}

/* relay allow NET... */
void
conf_server_relay(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_server *s)
{
	uint32_t k;

	if (st->nargs < 3 || strcmp(st->args[1], "allow") != 0 ||
	    st->has_block) {
		conf_error(cx, st->file, st->line,
		    "relay takes allow and networks (127.0.0.0/8 ::1 ...)");
		return;
	}
	if (s->relay_nets == NULL) {
		s->relay_nets = conf_alloc(cx,
		    sizeof(*s->relay_nets) * CONF_NETS_MAX);
	}
	for (k = 2; k < st->nargs; k++) {
		if (strcmp(st->args[k], "authenticated") == 0) {
			conf_relay_auth(cx, st, s);
		} else if (s->nrelay_nets == CONF_NETS_MAX) {
			conf_error(cx, st->file, st->line,
			    "too many relay networks");
			return;
		} else if (!conf_net_parse(st->args[k],
		               &s->relay_nets[s->nrelay_nets])) {
			conf_error(cx, st->file, st->line,
			    "relay allow: '%s' is not an address or network "
			    "(192.0.2.0/24, 2001:db8::/32)",
			    st->args[k]);
		} else {
			s->nrelay_nets++;
		}
	}
}

/* ---- connectors ------------------------------------------------------- */

bool
conf_space_match(const char *pattern, const char *domain)
{
	size_t pl = strlen(pattern), dl = strlen(domain);

	if (strcmp(pattern, "*") == 0) {
		return true;
	}
	if (pattern[0] == '*' && pattern[1] == '.') {
		/* "*.example.com": below it, not itself */
		return dl > pl - 1 &&
		    str_ieq(domain + dl - (pl - 1), pl - 1, pattern + 1,
		        pl - 1);
	}
	return str_ieq(pattern, pl, domain, dl);
}

static const char *const conf_days[] = { "mon", "tue", "wed", "thu", "fri",
	"sat", "sun" };

static int
conf_day(const char *s, size_t n)
{
	int k;

	for (k = 0; k < 7; k++) {
		if (n == 3 && strncmp(s, conf_days[k], 3) == 0) {
			return k;
		}
	}
	return -1;
}

/* "mon-fri", "sat", "daily" -> a bit per day */
static bool
conf_days_parse(const char *s, uint8_t *days)
{
	const char *dash = strchr(s, '-');
	int a, b;

	if (strcmp(s, "daily") == 0 || strcmp(s, "*") == 0) {
		*days = 0x7f;
		return true;
	}
	a = conf_day(s, dash != NULL ? (size_t)(dash - s) : strlen(s));
	b = dash != NULL ? conf_day(dash + 1, strlen(dash + 1)) : a;
	if (a < 0 || b < 0) {
		return false;
	}
	*days = 0;
	for (;;) {
		*days |= (uint8_t)(1u << a);
		if (a == b) {
			return true;
		}
		a = (a + 1) % 7;
	}
}

/* "18:00-08:00" -> minutes; 24:00 allowed as an end */
static bool
conf_hours_parse(const char *s, uint16_t *from, uint16_t *to)
{
	unsigned h1, m1, h2, m2;
	char tail;

	if (sscanf(s, "%2u:%2u-%2u:%2u%c", &h1, &m1, &h2, &m2, &tail) != 4 ||
	    h1 > 23 || m1 > 59 || h2 > 24 || m2 > 59 || (h2 == 24 && m2 != 0)) {
		return false;
	}
	*from = (uint16_t)(h1 * 60 + m1);
	*to = (uint16_t)(h2 * 60 + m2);
	return *from != *to;
}

/* schedule mon-fri 18:00-08:00, sat-sun */
static void
conf_connector_schedule(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_connector *cn)
{
	struct conf_window *w = NULL;
	uint32_t k;

	cn->windows = conf_alloc(cx, sizeof(*cn->windows) * CONF_WINDOWS_MAX);
	for (k = 1; k < st->nargs; k++) {
		char word[32];
		size_t n = str_copy(word, st->args[k], sizeof(word));
		bool comma = n > 0 && n < sizeof(word) && word[n - 1] == ',';

		if (comma) {
			word[n - 1] = '\0';
		}
		if (w != NULL && w->from == 0 && w->to == 1440 &&
		    strchr(word, ':') != NULL) {
			if (!conf_hours_parse(word, &w->from, &w->to)) {
				goto bad;
			}
		} else if (word[0] != '\0') {
			if (cn->nwindows == CONF_WINDOWS_MAX) {
				goto bad;
			}
			w = &cn->windows[cn->nwindows++];
			w->from = 0;
			w->to = 1440;
			if (!conf_days_parse(word, &w->days)) {
				goto bad;
			}
		}
		if (comma) {
			w = NULL;
		}
	}
	if (cn->nwindows > 0) {
		return;
	}
bad:
	conf_error(cx, st->file, st->line,
	    "schedule takes windows such as: mon-fri 18:00-08:00, sat-sun");
}

bool
conf_schedule_open(const struct conf_connector *cn, unsigned weekday,
    unsigned minute)
{
	uint32_t k;

	if (cn->nwindows == 0) {
		return true;
	}
	for (k = 0; k < cn->nwindows; k++) {
		const struct conf_window *w = &cn->windows[k];
		unsigned yesterday = (weekday + 6) % 7;

		if (w->from < w->to) {
			if ((w->days & (1u << weekday)) && minute >= w->from &&
			    minute < w->to) {
				return true;
			}
		} else if (((w->days & (1u << weekday)) && minute >= w->from) ||
		    ((w->days & (1u << yesterday)) && minute < w->to)) {
			/* past midnight: the window began the day before */
			return true;
		}
	}
	return false;
}

/* "[192.0.2.25]:587", "relay.example:25", "relay.example" */
static bool
conf_host_parse(struct conf_ctx *cx, const char *s, struct conf_host *h)
{
	const char *colon, *name = s;
	size_t n;
	long port = 25;
	char *end;

	h->literal = s[0] == '[';
	if (h->literal) {
		const char *close = strchr(s, ']');

		if (close == NULL) {
			return false;
		}
		name = s + 1;
		n = (size_t)(close - name);
		colon = close[1] == ':' ? close + 1 : NULL;
		if (close[1] != '\0' && colon == NULL) {
			return false;
		}
	} else {
		colon = strrchr(s, ':');
		n = colon != NULL ? (size_t)(colon - s) : strlen(s);
	}
	if (colon != NULL) {
		port = strtol(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || port < 1 ||
		    port > 65535) {
			return false;
		}
	}
	h->name = conf_strdup(cx, name, n);
	h->port = (uint16_t)port;
	if (h->literal) {
		unsigned char a[16];

		return inet_pton(AF_INET, h->name, a) == 1 ||
		    (strncmp(h->name, "IPv6:", 5) == 0 &&
		        inet_pton(AF_INET6, h->name + 5, a) == 1) ||
		    inet_pton(AF_INET6, h->name, a) == 1;
	}
	conf_lower(h->name);
	return conf_domain_name_ok(h->name);
}

static void
conf_connector_spaces(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_connector *cn)
{
	uint32_t k, last = st->nargs, cost = 1;
	char *end;

	if (st->nargs >= 4 && strcmp(st->args[st->nargs - 2], "cost") == 0) {
		long v = strtol(st->args[st->nargs - 1], &end, 10);

		if (*end != '\0' || v < 0 || v > 1000000) {
			conf_error(cx, st->file, st->line,
			    "cost takes a number from 0 to 1000000");
			return;
		}
		cost = (uint32_t)v;
		last = st->nargs - 2;
	}
	if (last < 2) {
		conf_error(cx, st->file, st->line,
		    "address-space takes patterns (*, *.example.com, "
		    "example.com) and optionally cost N");
		return;
	}
	for (k = 1; k < last && cn->nspaces < CONF_SPACES_MAX; k++) {
		char *p = st->args[k];

		conf_lower(p);
		if (strcmp(p, "*") != 0 &&
		    !conf_domain_name_ok(
		        p[0] == '*' && p[1] == '.' ? p + 2 : p)) {
			conf_error(cx, st->file, st->line,
			    "address-space: '%s' is not *, *.domain or a "
			    "domain",
			    p);
			continue;
		}
		cn->spaces[cn->nspaces].pattern = p;
		cn->spaces[cn->nspaces++].cost = cost;
	}
}

static void
conf_connector_hosts(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_connector *cn)
{
	uint32_t k;

	for (k = 1; k < st->nargs && cn->nhosts < CONF_HOSTS_MAX; k++) {
		if (!conf_host_parse(cx, st->args[k], &cn->hosts[cn->nhosts])) {
			conf_error(cx, st->file, st->line,
			    "smarthost: '%s' is not [address]:port or "
			    "host:port",
			    st->args[k]);
			continue;
		}
		cn->nhosts++;
	}
}

static bool
conf_connector_count(struct conf_ctx *cx, const struct conf_stmt *st,
    const char *word, uint32_t *out)
{
	uint64_t v;

	if (!conf_parse_size(word, &v) || v > 1000000 || strchr(word, 'K') ||
	    strchr(word, 'M') || strchr(word, 'G')) {
		conf_error(cx, st->file, st->line, "%s: '%s' is not a count",
		    st->args[0], word);
		return false;
	}
	*out = (uint32_t)v;
	return true;
}

static void
conf_connector_setting(struct conf_ctx *cx, const struct conf_stmt *in,
    struct conf_connector *cn)
{
	const char *kw = in->args[0];
	uint64_t v;

	if (strcmp(kw, "address-space") == 0) {
		conf_connector_spaces(cx, in, cn);
	} else if (strcmp(kw, "tls") == 0) {
		conf_connector_tls(cx, in, cn);
	} else if (strcmp(kw, "route") == 0 && in->nargs == 2 &&
	    strcmp(in->args[1], "mx") == 0) {
		cn->route_mx = true;
	} else if (strcmp(kw, "smarthost") == 0 && in->nargs >= 2) {
		conf_connector_hosts(cx, in, cn);
	} else if (strcmp(kw, "port") == 0 && in->nargs == 2) {
		uint32_t port;

		if (conf_connector_count(cx, in, in->args[1], &port) &&
		    (port == 0 || port > 65535)) {
			conf_error(cx, in->file, in->line, "port: 1 to 65535");
		}
		cn->mx_port = (uint16_t)port;
	} else if (strcmp(kw, "schedule") == 0 && in->nargs >= 2) {
		conf_connector_schedule(cx, in, cn);
	} else if (strcmp(kw, "max-message-size") == 0 && in->nargs == 2) {
		if (!conf_parse_size(in->args[1], &v)) {
			conf_error(cx, in->file, in->line,
			    "max-message-size takes a size such as 10M");
		}
		cn->max_message_size = v;
	} else if (strcmp(kw, "max-messages") == 0 && in->nargs == 2) {
		conf_connector_count(cx, in, in->args[1], &cn->max_messages);
	} else if (strcmp(kw, "max-connections") == 0 &&
	    (in->nargs == 2 ||
	        (in->nargs == 4 &&
	            strcmp(in->args[2], "per-destination") == 0))) {
		conf_connector_count(cx, in, in->args[1], &cn->max_connections);
		if (in->nargs == 4) {
			conf_connector_count(cx, in, in->args[3],
			    &cn->max_per_dest);
		}
	} else if (strcmp(kw, "auth") == 0) {
		conf_connector_auth(cx, in, cn);
	} else if (strcmp(kw, "tls") == 0) {
		conf_error(cx, in->file, in->line,
		    "%s: outbound TLS is not in this version yet", kw);
	} else {
		conf_error(cx, in->file, in->line,
		    "unknown or incomplete connector setting '%s' "
		    "(address-space, "
		    "route mx, smarthost, port, schedule, max-message-size, "
		    "max-messages, max-connections)",
		    kw);
	}
}

void
conf_connector(struct conf_ctx *cx, const struct conf_stmt *st, struct conf *c)
{
	struct conf_connector *cn;
	const struct conf_stmt *in;
	uint32_t k;

	if (st->nargs != 2 || !st->has_block) {
		conf_error(cx, st->file, st->line,
		    "connector takes a name and a { } block");
		return;
	}
	for (k = 0; k < c->nconnectors; k++) {
		if (strcmp(c->connectors[k].name, st->args[1]) == 0) {
			conf_error(cx, st->file, st->line,
			    "connector %s is already defined at line %d",
			    st->args[1], c->connectors[k].line);
			return;
		}
	}
	cn = &c->connectors[c->nconnectors++];
	cn->name = st->args[1];
	cn->line = st->line;
	cn->mx_port = 25;
	cn->spaces = conf_alloc(cx, sizeof(*cn->spaces) * CONF_SPACES_MAX);
	cn->hosts = conf_alloc(cx, sizeof(*cn->hosts) * CONF_HOSTS_MAX);
	cn->max_connections = 20;
	cn->max_per_dest = 4;
	for (in = st->block; in != NULL; in = in->next) {
		conf_connector_setting(cx, in, cn);
	}
	if (cn->nspaces == 0) {
		conf_error(cx, st->file, st->line,
		    "connector %s has no address-space", cn->name);
	}
	if (cn->route_mx == (cn->nhosts > 0)) {
		conf_error(cx, st->file, st->line,
		    "connector %s needs either route mx or smarthost",
		    cn->name);
	}
}

/* resolver ADDR:PORT... (default: /etc/resolv.conf) */
void
conf_resolvers(struct conf_ctx *cx, const struct conf_stmt *st, struct conf *c)
{
	uint32_t k;

	if (st->nargs < 2 || st->has_block) {
		conf_error(cx, st->file, st->line,
		    "resolver takes addresses such as 127.0.0.1:53");
		return;
	}
	for (k = 1; k < st->nargs; k++) {
		if (c->nresolvers == ARRAY_SIZE(c->resolvers) ||
		    net_addr_parse(st->args[k], &c->resolvers[c->nresolvers]) <
		        0) {
			conf_error(cx, st->file, st->line,
			    "resolver: '%s' is not address:port (at most %zu)",
			    st->args[k], ARRAY_SIZE(c->resolvers));
			continue;
		}
		c->nresolvers++;
	}
}
