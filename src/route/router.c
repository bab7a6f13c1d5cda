/*
 * router.c — which way a recipient domain goes: among the connectors
 * whose address space covers it, the cheapest whose schedule is open now;
 * several at the same cost share the load at random. A domain that
 * matches connectors that are all closed waits for their window; one
 * that matches none goes by DNS MX.
 */
#include "route/route.h"

static uint32_t
router_cost(const struct conf_connector *cn, const char *domain)
{
	uint32_t k, best = UINT32_MAX;

	for (k = 0; k < cn->nspaces; k++) {
		if (conf_space_match(cn->spaces[k].pattern, domain) &&
		    cn->spaces[k].cost < best) {
			best = cn->spaces[k].cost;
		}
	}
	return best;
}

void
router_pick(const struct conf *c, const char *domain, time_t now,
    struct router_route *r)
{
	struct tm tm;
	uint32_t k, cost, best = UINT32_MAX, ties = 0, pick;
	bool matched = false;

	localtime_r(&now, &tm);
	r->cn = NULL;
	r->closed = false;
	for (k = 0; k < c->nconnectors; k++) {
		const struct conf_connector *cn = &c->connectors[k];

		cost = router_cost(cn, domain);
		if (cost == UINT32_MAX) {
			continue;
		}
		matched = true;
		if (!conf_schedule_open(cn, (unsigned)(tm.tm_wday + 6) % 7,
		        (unsigned)(tm.tm_hour * 60 + tm.tm_min))) {
			continue;
		}
		if (cost < best) {
			best = cost;
			ties = 0;
		}
		if (cost == best) {
			/* reservoir sampling: each tie equally likely */
			rand_bytes(&pick, sizeof(pick));
			if (pick % ++ties == 0) {
				r->cn = cn;
			}
		}
	}
	r->closed = matched && r->cn == NULL;
}
