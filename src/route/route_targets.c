/*
 * route_targets.c — from a route to the addresses to connect to: smart
 * hosts given as address literals need no DNS; a smart host by name needs
 * its addresses, and a route by MX the domain's MX hosts and theirs
 * (RFC 5321 5.1, through dnsc_mx). The answer goes to the one registered
 * taker, with the owner's handle, so a delivery that ended meanwhile is
 * not called.
 */
#include <arpa/inet.h>
#include <string.h>

#include "route/route.h"

static route_targets_fn route_taker;

void
route_targets_init(route_targets_fn fn)
{
	route_taker = fn;
}

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

/* DNS errors as the taker reads them: permanent ones are distinct. */
static int
route_dns_rc(int rc)
{
	if (rc == DNSC_E_NULLMX) {
		return -EHOSTUNREACH;
	}
	return dnsc_permanent(rc) ? -ENOENT : (rc < 0 ? rc : -EAGAIN);
}

static void
route_on_mx(struct handle owner, uint32_t port, int rc,
    const struct dnsc_mx_result *res)
{
	struct route_target t[ROUTE_TARGETS_MAX];
	uint32_t k, n = 0;

	if (rc < 0 || res == NULL) {
		route_taker(owner, route_dns_rc(rc), NULL, 0);
		return;
	}
	for (k = 0; k < res->naddrs && n < ROUTE_TARGETS_MAX; k++, n++) {
		memset(&t[n], 0, sizeof(t[n]));
		dnsc_mx_addr(res, k, (uint16_t)port, &t[n].addr);
		str_copy(t[n].host, res->hosts[res->addrs[k].host].name,
		    sizeof(t[n].host));
	}
	route_taker(owner, n > 0 ? 0 : -ENOENT, t, n);
}

void
route_targets(const struct router_route *r, const char *domain,
    struct handle owner)
{
	struct route_target t[ROUTE_TARGETS_MAX];
	const char *name = domain;
	uint32_t k, n = 0, port = 25;
	int rc;

	if (r->cn != NULL && !r->cn->route_mx) {
		for (k = 0; k < r->cn->nhosts && n < ROUTE_TARGETS_MAX; k++) {
			if (r->cn->hosts[k].literal &&
			    route_literal(&r->cn->hosts[k], &t[n])) {
				n++;
			}
		}
		if (n > 0) {
			route_taker(owner, 0, t, n);
			return;
		}
		/* a smart host by name: its addresses, as an implicit MX */
		name = r->cn->hosts[0].name;
		port = r->cn->hosts[0].port;
	} else if (r->cn != NULL) {
		port = r->cn->mx_port;
	}
	rc = dnsc_mx_resolve(name, 0, route_on_mx, owner, port, NULL);
	if (rc < 0) {
		route_taker(owner, route_dns_rc(rc), NULL, 0);
	}
}
