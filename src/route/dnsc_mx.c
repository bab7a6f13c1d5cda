/*
 * dnsc_mx.c — where mail for a domain goes (RFC 5321 section 5.1): the
 * MX records by preference, equal preferences in random order (RFC 5321
 * 5.1: "randomize them to spread the load"), at most DNSC_MX_HOSTS; no
 * MX at all (NODATA) means the domain itself (the implicit MX, preference
 * 0); a null MX (RFC 7505) means no mail at all; NXDOMAIN fails. Then the
 * A and AAAA records of each host, a few queries at a time from the
 * shared query pool, and the result: (host, address) pairs in the order
 * delivery should try them.
 *
 * A job comes from a fixed pool (CONFIG_POOL_DNS_MX); its queries carry
 * the job's handle, and the job's completion the owner's: a cancelled job
 * cancels its queries, and a late completion finds nothing.
 */
#include <string.h>
#include <sys/socket.h>

#include "route/dnsc.h"

#define DNSC_MX_TAG_MX 0xffffffffu
#define DNSC_MX_SUBS (2 * DNSC_MX_HOSTS)

enum dnsc_mx_sub_state { DNSC_SUB_WAIT, DNSC_SUB_FLIGHT, DNSC_SUB_DONE };

/* One address query: a host's A or AAAA records. */
struct dnsc_mx_sub {
	struct handle q;
	uint16_t type;
	uint8_t host;
	uint8_t state;
	uint8_t naddr;
	int rc;
	uint8_t addr[DNSC_MX_ADDRS_PER_HOST][16];
};

struct dnsc_mx_job {
	dnsc_mx_fn fn;
	struct handle self;
	struct handle owner;
	uint32_t tag;
	unsigned flags;
	bool mx_pending; /* the MX query is in flight */
	bool done; /* in its callback */
	struct handle mxq;
	uint8_t nsub;
	uint8_t next; /* the next sub to start */
	uint8_t inflight;
	char domain[DNSC_NAME_MAX + 1];
	struct dnsc_mx_sub sub[DNSC_MX_SUBS];
	struct dnsc_mx_result res;
};

_Static_assert(sizeof(struct dnsc_mx_job) <= 6 * 1024, "dnsc mx job grew");

static struct {
	struct pool jobs;
} dnsc_mx;

size_t
dnsc_mx_arena_size(void)
{
	return (size_t)CONFIG_POOL_DNS_MX *
	    (((sizeof(struct dnsc_mx_job) + 15) & ~(size_t)15) + 8) +
	    3 * 64;
}

void
dnsc_mx_init(void)
{
	pool_init(&dnsc_mx.jobs, "dns-mx", sizeof(struct dnsc_mx_job),
	    CONFIG_POOL_DNS_MX);
}

void
dnsc_mx_addr(const struct dnsc_mx_result *r, uint32_t i, uint16_t port,
    struct net_addr *out)
{
	const struct dnsc_mx_addr *a = &r->addrs[i];

	memset(out, 0, sizeof(*out));
	if (a->family == AF_INET6) {
		out->u.in6.sin6_family = AF_INET6;
		out->u.in6.sin6_port = htons(port);
		memcpy(&out->u.in6.sin6_addr, a->addr, 16);
		out->len = sizeof(out->u.in6);
	} else {
		out->u.in4.sin_family = AF_INET;
		out->u.in4.sin_port = htons(port);
		memcpy(&out->u.in4.sin_addr, a->addr, 4);
		out->len = sizeof(out->u.in4);
	}
}

static void
dnsc_mx_finish(struct dnsc_mx_job *j, int rc)
{
	log_info("dnsc mx domain=%s result=%s hosts=%u addrs=%u%s", j->domain,
	    dnsc_strerror(rc), j->res.nhosts, j->res.naddrs,
	    j->res.implicit ? " implicit=yes" : "");
	j->done = true;
	j->fn(j->owner, j->tag, rc, &j->res);
	pool_put(&dnsc_mx.jobs, j);
}

/* A host's result: 0 if it has an address, else its most telling error. */
static int
dnsc_mx_host_rc(const struct dnsc_mx_job *j, uint8_t host)
{
	int rc = DNSC_E_NODATA;
	uint8_t i;

	for (i = 0; i < j->nsub; i++) {
		const struct dnsc_mx_sub *s = &j->sub[i];

		if (s->host != host) {
			continue;
		}
		if (s->naddr > 0) {
			return 0;
		}
		if (!dnsc_permanent(s->rc)) {
			rc = s->rc; /* a temporary failure may hide one */
		}
	}
	return rc;
}

/* Every address query is over: the addresses in delivery order. */
static void
dnsc_mx_complete(struct dnsc_mx_job *j)
{
	struct dnsc_mx_result *r = &j->res;
	int rc = DNSC_E_NODATA;
	uint8_t i, k;

	r->naddrs = 0;
	for (i = 0; i < r->nhosts; i++) {
		r->hosts[i].rc = dnsc_mx_host_rc(j, i);
		if (r->hosts[i].rc != 0 && !dnsc_permanent(r->hosts[i].rc) &&
		    rc == DNSC_E_NODATA) {
			rc = r->hosts[i].rc;
		}
	}
	for (i = 0; i < j->nsub; i++) {
		const struct dnsc_mx_sub *s = &j->sub[i];

		for (k = 0; k < s->naddr && r->naddrs < DNSC_MX_ADDRS; k++) {
			struct dnsc_mx_addr *a = &r->addrs[r->naddrs++];

			a->host = s->host;
			a->family = s->type == DNSC_T_AAAA ? AF_INET6 : AF_INET;
			memcpy(a->addr, s->addr[k], 16);
		}
	}
	/* RFC 5321 5.1: hosts that resolve are tried; the others skipped */
	dnsc_mx_finish(j, r->naddrs > 0 ? 0 : rc);
}

static void dnsc_mx_on_addr(struct handle owner, uint32_t tag, int rc,
    const struct dnsc_answer *ans);

/* Start address queries up to the window; complete when all are over. */
static void
dnsc_mx_pump(struct dnsc_mx_job *j)
{
	struct dnsc_mx_sub *s;
	int rc;

	while (j->inflight < DNSC_MX_WINDOW && j->next < j->nsub) {
		s = &j->sub[j->next];
		rc = dnsc_query(j->res.hosts[s->host].name, s->type,
		    dnsc_mx_on_addr, j->self, j->next, &s->q);
		if (rc == -ENOMEM && j->inflight > 0) {
			break; /* the pool is busy: go on when ours come back */
		}
		j->next++;
		if (rc < 0) {
			s->state = DNSC_SUB_DONE;
			s->rc = rc;
			continue;
		}
		s->state = DNSC_SUB_FLIGHT;
		j->inflight++;
	}
	if (j->inflight == 0 && j->next == j->nsub) {
		dnsc_mx_complete(j);
	}
}

static void
dnsc_mx_on_addr(struct handle owner, uint32_t tag, int rc,
    const struct dnsc_answer *ans)
{
	struct dnsc_mx_job *j = pool_find(&dnsc_mx.jobs, owner);
	struct dnsc_mx_sub *s;
	uint16_t i;

	if (j == NULL || j->done || tag >= j->nsub ||
	    j->sub[tag].state != DNSC_SUB_FLIGHT) {
		return;
	}
	s = &j->sub[tag];
	s->state = DNSC_SUB_DONE;
	s->rc = rc;
	j->inflight--;
	for (i = 0;
	     rc == 0 && i < ans->nrr && s->naddr < DNSC_MX_ADDRS_PER_HOST;
	     i++) {
		if (ans->rr[i].type == s->type) {
			memcpy(s->addr[s->naddr++], ans->rr[i].addr, 16);
		}
	}
	if (rc == 0 && s->naddr == 0) {
		s->rc = DNSC_E_NODATA;
	}
	dnsc_mx_pump(j);
}

/* The address queries, host by host, in the preferred family order. */
static void
dnsc_mx_plan(struct dnsc_mx_job *j)
{
	unsigned fam = j->flags & (DNSC_MX_IPV4 | DNSC_MX_IPV6);
	bool v6first = (j->flags & DNSC_MX_PREFER_IPV6) != 0;
	uint16_t order[2];
	uint8_t i, k;

	if (fam == 0) {
		fam = DNSC_MX_IPV4 | DNSC_MX_IPV6;
	}
	order[0] = v6first ? DNSC_T_AAAA : DNSC_T_A;
	order[1] = v6first ? DNSC_T_A : DNSC_T_AAAA;
	j->nsub = 0;
	for (i = 0; i < j->res.nhosts; i++) {
		for (k = 0; k < 2; k++) {
			struct dnsc_mx_sub *s = &j->sub[j->nsub];

			if (!(fam &
			        (order[k] == DNSC_T_A ? DNSC_MX_IPV4 :
			                                DNSC_MX_IPV6))) {
				continue;
			}
			memset(s, 0, sizeof(*s));
			s->type = order[k];
			s->host = i;
			s->state = DNSC_SUB_WAIT;
			j->nsub++;
		}
	}
	j->next = 0;
	j->inflight = 0;
}

static void
dnsc_mx_on_mx(struct handle owner, uint32_t tag, int rc,
    const struct dnsc_answer *ans)
{
	struct dnsc_mx_job *j = pool_find(&dnsc_mx.jobs, owner);
	int n;

	if (j == NULL || j->done || !j->mx_pending || tag != DNSC_MX_TAG_MX) {
		return;
	}
	j->mx_pending = false;
	if (rc == DNSC_E_NODATA) {
		/* RFC 5321 5.1: no MX: the domain is its own host */
		j->res.implicit = true;
		j->res.nhosts = 1;
		j->res.hosts[0].pref = 0;
		j->res.hosts[0].rc = 0;
		str_copy(j->res.hosts[0].name, j->domain,
		    sizeof(j->res.hosts[0].name));
	} else if (rc < 0) {
		dnsc_mx_finish(j, rc);
		return;
	} else {
		n = dnsc_msg_mx_order(ans, j->res.hosts, DNSC_MX_HOSTS);
		if (n <= 0) {
			/* null MX, or records naming no usable host */
			dnsc_mx_finish(j, n < 0 ? n : DNSC_E_BADANSWER);
			return;
		}
		j->res.nhosts = (uint8_t)n;
	}
	dnsc_mx_plan(j);
	dnsc_mx_pump(j);
}

int
dnsc_mx_resolve(const char *domain, unsigned flags, dnsc_mx_fn fn,
    struct handle owner, uint32_t tag, struct handle *h)
{
	uint8_t wire[DNSC_WIRE_MAX];
	struct dnsc_mx_job *j;
	struct handle self;
	int n, rc;

	n = dnsc_name_to_wire(domain, wire, sizeof(wire));
	if (n < 0) {
		return -EINVAL;
	}
	j = pool_get(&dnsc_mx.jobs, &self);
	if (j == NULL) {
		log_info("dnsc mx pool empty domain=%s", domain);
		return -ENOMEM;
	}
	memset(j, 0, offsetof(struct dnsc_mx_job, sub));
	j->res.implicit = false;
	j->res.nhosts = 0;
	j->res.naddrs = 0;
	j->fn = fn;
	j->self = self;
	j->owner = owner;
	j->tag = tag;
	j->flags = flags;
	dnsc_name_to_text(wire, (size_t)n, j->domain, sizeof(j->domain));
	rc = dnsc_query(j->domain, DNSC_T_MX, dnsc_mx_on_mx, self,
	    DNSC_MX_TAG_MX, &j->mxq);
	if (rc < 0) {
		pool_put(&dnsc_mx.jobs, j);
		return rc;
	}
	j->mx_pending = true;
	if (h != NULL) {
		*h = self;
	}
	return 0;
}

void
dnsc_mx_cancel(struct handle h)
{
	struct dnsc_mx_job *j = pool_find(&dnsc_mx.jobs, h);
	uint8_t i;

	if (j == NULL || j->done) {
		return;
	}
	if (j->mx_pending) {
		dnsc_cancel(j->mxq);
	}
	for (i = 0; i < j->nsub; i++) {
		if (j->sub[i].state == DNSC_SUB_FLIGHT) {
			dnsc_cancel(j->sub[i].q);
		}
	}
	pool_put(&dnsc_mx.jobs, j);
}
