/*
 * conf_reload.c — what a reload may not change. The spool (journal,
 * control socket), the drop directory (the local delivery thread), the
 * journal's segment size and the resolver addresses are taken at start
 * by parts that keep them for the life of the process. conf_pin() copies
 * them out of the first configuration (so no part points into memory a
 * reload frees); a new configuration gets the pinned values back, and
 * each difference is reported as a warning.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "conf/conf_int.h"

static struct {
	bool set;
	char spool[PATH_MAX];
	char drop[PATH_MAX];
	uint64_t segment_bytes;
	struct net_addr resolvers[4];
	uint32_t nresolvers;
} conf_fixed;

void
conf_pin(struct conf *c)
{
	str_copy(conf_fixed.spool, c->spool, sizeof(conf_fixed.spool));
	str_copy(conf_fixed.drop, c->drop, sizeof(conf_fixed.drop));
	conf_fixed.segment_bytes = c->queue.segment_bytes;
	memcpy(conf_fixed.resolvers, c->resolvers, sizeof(c->resolvers));
	conf_fixed.nresolvers = c->nresolvers;
	conf_fixed.set = true;
	c->spool = conf_fixed.spool;
	c->drop = conf_fixed.drop;
}

static bool
conf_resolvers_same(const struct conf *c)
{
	uint32_t k;

	if (c->nresolvers != conf_fixed.nresolvers) {
		return false;
	}
	for (k = 0; k < c->nresolvers; k++) {
		if (!net_addr_equal(&c->resolvers[k],
		        &conf_fixed.resolvers[k])) {
			return false;
		}
	}
	return true;
}

int
conf_keep_fixed(struct conf *c, conf_report_fn report, void *ctx)
{
	int n = 0;

	if (!conf_fixed.set) {
		return 0;
	}
	if (strcmp(c->spool, conf_fixed.spool) != 0) {
		report(ctx, c->source, 0, "spool: needs a restart");
		n++;
	}
	if (strcmp(c->drop, conf_fixed.drop) != 0) {
		report(ctx, c->source, 0, "drop: needs a restart");
		n++;
	}
	if (c->queue.segment_bytes != conf_fixed.segment_bytes) {
		report(ctx, c->source, 0,
		    "queue segment-size: needs a restart");
		n++;
	}
	if (!conf_resolvers_same(c)) {
		report(ctx, c->source, 0, "resolver: needs a restart");
		n++;
	}
	c->spool = conf_fixed.spool;
	c->drop = conf_fixed.drop;
	c->queue.segment_bytes = conf_fixed.segment_bytes;
	memcpy(c->resolvers, conf_fixed.resolvers, sizeof(c->resolvers));
	c->nresolvers = conf_fixed.nresolvers;
	return n;
}
