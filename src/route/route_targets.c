/*
 * route_targets.c — from a route to the addresses to connect to: a smart
 * host given as an address literal needs no DNS; a smart host by name
 * needs its A/AAAA records, and a route by MX the domain's MX hosts and
 * theirs (RFC 5321 5.1).
 */
#include <arpa/inet.h>
#include <string.h>

#include "route/route.h"

static bool
route_literal(const struct conf_host *h, struct route_target *t)
{
	const char *name = strncmp(h->name, "IPv6:", 5) == 0 ? h->name + 5 :
	                                                       h->name;

	memset(t, 0, sizeof(*t));
	str_copy(t->host, h->name, sizeof(t->host));
	if (inet_pton(AF_INET, name, &t->addr.u.in4.sin_addr) == 1) {
		t->addr.u.in4.sin_family = AF_INET;
		t->addr.u.in4.sin_port = htons(h->port);
		t->addr.len = sizeof(t->addr.u.in4);
		return true;
	}
	if (inet_pton(AF_INET6, name, &t->addr.u.in6.sin6_addr) == 1) {
		t->addr.u.in6.sin6_family = AF_INET6;
		t->addr.u.in6.sin6_port = htons(h->port);
		t->addr.len = sizeof(t->addr.u.in6);
		return true;
	}
	return false;
}

void
route_targets(const struct router_route *r, const char *domain,
    route_targets_fn fn, void *ctx)
{
	struct route_target t[ROUTE_TARGETS_MAX];
	uint32_t k, n = 0;

	if (r->cn != NULL && !r->cn->route_mx) {
		for (k = 0; k < r->cn->nhosts && n < ROUTE_TARGETS_MAX; k++) {
			if (r->cn->hosts[k].literal &&
			    route_literal(&r->cn->hosts[k], &t[n])) {
				n++;
			}
		}
		if (n > 0) {
			fn(ctx, 0, t, n);
			return;
		}
	}
	/* names and MX need the resolver, which this build does not have */
	fn(ctx, -EAGAIN, NULL, 0);
}
