/*
 * dnsc_cli.c — `tern resolve`: one query through tern's own resolver,
 * on the event loop, with the answer on stdout one record per line.
 *
 *   tern resolve [-v] [-4|-6] [-s SERVER[:PORT]]... [-f RESOLV_CONF]
 *                [-t TIMEOUT_MS] [-r ROUNDS] TYPE NAME
 *
 *   mx       PREF HOST           by preference (as the server gave them)
 *   a, aaaa  ADDRESS
 *   mxhosts  PREF HOST ADDRESS   in the order delivery would try them
 *
 * Exit 0 with records; 1 with "nxdomain", "nodata", "null-mx" or
 * "bad-name" printed; 2 with the temporary failure printed ("timeout",
 * "servfail", ...); 64 for a usage error. Without -s the servers come
 * from /etc/resolv.conf (or -f FILE).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "route/dnsc.h"

#define DNSC_CLI_USAGE 64
#define DNSC_CLI_ARENA_SLACK (256 * 1024)

static struct {
	int exit_code;
} dnsc_cli;

static int
dnsc_cli_usage(void)
{
	fprintf(stderr,
	    "usage: tern resolve [-v] [-4|-6] [-s SERVER[:PORT]]... "
	    "[-f RESOLV_CONF]\n"
	    "                    [-t TIMEOUT_MS] [-r ROUNDS] "
	    "mx|a|aaaa|mxhosts NAME\n");
	return DNSC_CLI_USAGE;
}

/* Print a failure and set the exit code: 1 permanent, 2 temporary. */
static void
dnsc_cli_fail(int rc)
{
	printf("%s\n", dnsc_strerror(rc));
	dnsc_cli.exit_code = dnsc_permanent(rc) ? 1 : 2;
}

static void
dnsc_cli_print_addr(int family, const uint8_t *addr)
{
	char text[INET6_ADDRSTRLEN];

	if (inet_ntop(family, addr, text, sizeof(text)) == NULL) {
		str_copy(text, "?", sizeof(text));
	}
	fputs(text, stdout);
}

/* The MX records by preference (stable), as an operator reads them. */
static void
dnsc_cli_print_mx(const struct dnsc_answer *a)
{
	uint8_t order[DNSC_RR_MAX];
	uint32_t i, j, n = a->nrr;
	uint8_t t;

	for (i = 0; i < n; i++) { /* insertion sort, n <= 16 */
		t = (uint8_t)i;
		for (j = i; j > 0 && a->rr[order[j - 1]].pref > a->rr[t].pref;
		     j--) {
			order[j] = order[j - 1];
		}
		order[j] = t;
	}
	for (i = 0; i < n; i++) {
		const char *name = dnsc_rr_name(a, order[i]);

		printf("%u %s\n", a->rr[order[i]].pref,
		    name[0] == '\0' ? "." : name);
	}
}

static void
dnsc_cli_on_answer(struct handle owner, uint32_t tag, int rc,
    const struct dnsc_answer *a)
{
	struct dnsc_mx_host h;
	uint32_t i;

	ev_break();
	if (rc == 0 && a->type == DNSC_T_MX &&
	    dnsc_msg_mx_order(a, &h, 1) == DNSC_E_NULLMX) {
		rc = DNSC_E_NULLMX;
	}
	if (rc < 0) {
		dnsc_cli_fail(rc);
		return;
	}
	if (a->type == DNSC_T_MX) {
		dnsc_cli_print_mx(a);
	}
	for (i = 0; a->type != DNSC_T_MX && i < a->nrr; i++) {
		dnsc_cli_print_addr(a->type == DNSC_T_A ? AF_INET : AF_INET6,
		    a->rr[i].addr);
		putchar('\n');
	}
	dnsc_cli.exit_code = 0;
}

static void
dnsc_cli_on_mx(struct handle owner, uint32_t tag, int rc,
    const struct dnsc_mx_result *r)
{
	uint32_t i;

	ev_break();
	if (rc < 0) {
		dnsc_cli_fail(rc);
		return;
	}
	for (i = 0; i < r->naddrs; i++) {
		const struct dnsc_mx_host *h = &r->hosts[r->addrs[i].host];

		printf("%u %s ", h->pref, h->name);
		dnsc_cli_print_addr(r->addrs[i].family, r->addrs[i].addr);
		putchar('\n');
	}
	dnsc_cli.exit_code = 0;
}

struct dnsc_cli_opts {
	struct dnsc_conf conf;
	const char *resolv;
	uint32_t timeout_ms, rounds;
	unsigned flags;
	bool verbose;
};

static int
dnsc_cli_getopt(int argc, char **argv, struct dnsc_cli_opts *o)
{
	int opt;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((opt = getopt(argc, argv, "+s:f:t:r:v46")) != -1) {
		switch (opt) {
		case 's':
			if (o->conf.nservers == DNSC_SERVERS_MAX ||
			    dnsc_server_parse(optarg,
			        &o->conf.servers[o->conf.nservers]) < 0) {
				fprintf(stderr,
				    "resolve: bad server '%s' (at "
				    "most %d)\n",
				    optarg, DNSC_SERVERS_MAX);
				return -1;
			}
			o->conf.nservers++;
			break;
		case 'f':
			o->resolv = optarg;
			break;
		case 't':
			o->timeout_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			o->rounds = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'v':
			o->verbose = true;
			break;
		case '4':
			o->flags = DNSC_MX_IPV4;
			break;
		case '6':
			o->flags = DNSC_MX_IPV6;
			break;
		default:
			return -1;
		}
	}
	return argc - optind == 2 ? 0 : -1;
}

/* Servers and time-outs: -s, else resolv.conf; -t and -r win. */
static int
dnsc_cli_setup(struct dnsc_cli_opts *o)
{
	struct dnsc_conf rc;
	int n;

	n = dnsc_conf_resolv(&rc, o->resolv);
	if (o->conf.nservers == 0) {
		if (n <= 0) {
			fprintf(stderr, "resolve: no nameserver in %s\n",
			    o->resolv != NULL ? o->resolv : "/etc/resolv.conf");
			return -1;
		}
		o->conf = rc;
	} else {
		o->conf.timeout_ms = rc.timeout_ms;
		o->conf.attempts = rc.attempts;
	}
	if (arena_init(dnsc_arena_size() + DNSC_CLI_ARENA_SLACK) < 0 ||
	    ev_init(DNSC_TIMERS + 4) < 0) {
		fprintf(stderr, "resolve: cannot reserve memory\n");
		return -1;
	}
	if (dnsc_init(o->conf.servers, o->conf.nservers) < 0) {
		return -1;
	}
	dnsc_set_timeouts(o->timeout_ms != 0 ? o->timeout_ms :
	                                       o->conf.timeout_ms,
	    o->rounds != 0 ? o->rounds : o->conf.attempts);
	arena_seal();
	return 0;
}

int
dnsc_cli_main(int argc, char **argv)
{
	struct handle none = { 0, 0 };
	struct dnsc_cli_opts o;
	const char *type, *name;
	uint16_t t = 0;
	int rc;

	if (dnsc_cli_getopt(argc, argv, &o) < 0) {
		return dnsc_cli_usage();
	}
	type = argv[optind];
	name = argv[optind + 1];
	if (strcmp(type, "mxhosts") != 0 && (t = dnsc_type_parse(type)) == 0) {
		return dnsc_cli_usage();
	}
	log_open(false, o.verbose ? LOG_L_DEBUG : LOG_L_WARN);
	if (dnsc_cli_setup(&o) < 0) {
		return 2;
	}
	dnsc_cli.exit_code = 2;
	if (t == 0) {
		rc = dnsc_mx_resolve(name, o.flags, dnsc_cli_on_mx, none, 0,
		    NULL);
	} else {
		rc = dnsc_query(name, t, dnsc_cli_on_answer, none, 0, NULL);
	}
	if (rc < 0) {
		dnsc_cli_fail(rc);
	} else if (ev_run() < 0) {
		dnsc_cli.exit_code = 2;
	}
	dnsc_fini();
	fflush(stdout);
	return dnsc_cli.exit_code;
}
