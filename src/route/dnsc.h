/*
 * dnsc.h — tern's DNS stub resolver, internal to the route part (other
 * parts reach it through route.h). It asks recursive servers (from
 * /etc/resolv.conf or the configuration, any port) for MX, A and AAAA
 * records without blocking the loop.
 *
 *   dnsc_msg.c    pure: names, queries, answer validation, MX ordering
 *   dnsc_cache.c  a fixed-size cache honouring TTLs (and negative TTLs)
 *   dnsc.c        the asynchronous client: UDP, TCP on truncation,
 *                 time-outs and retries across servers, a fixed pool
 *   dnsc_mx.c     RFC 5321 section 5: MX hosts in order, then addresses
 *   dnsc_cli.c    tern resolve [-s SERVER[:PORT]] TYPE NAME
 *
 * Results are 0 or a negative errno; the DNSC_E_* names say what a DNS
 * answer meant. Completions never run inside the call that started the
 * work: they come from the loop and carry the owner's handle {slot, gen},
 * so an owner that was recycled meanwhile finds nothing. An empty pool
 * is the answer -ENOMEM at once, from the starting call.
 */
#ifndef TERN_ROUTE_DNSC_H
#define TERN_ROUTE_DNSC_H

#include "core/core.h"
#include "net/net.h"

/* ---- protocol constants (RFC 1035, RFC 3596) -------------------------- */

#define DNSC_T_A 1
#define DNSC_T_CNAME 5
#define DNSC_T_SOA 6
#define DNSC_T_MX 15
#define DNSC_T_AAAA 28
#define DNSC_C_IN 1

#define DNSC_NAME_MAX 253 /* text form, without the final dot */
#define DNSC_WIRE_MAX 255 /* RFC 1035 2.3.4, with the root label */
#define DNSC_LABEL_MAX 63
#define DNSC_HDR_LEN 12
#define DNSC_UDP_MAX 512 /* RFC 1035 4.2.1: no EDNS, so TCP beyond */
#define DNSC_TCP_MAX 8192 /* longer answers over TCP: -EMSGSIZE */
#define DNSC_QUERY_MAX (DNSC_HDR_LEN + DNSC_WIRE_MAX + 4)
#define DNSC_RR_MAX 16 /* records of the asked type kept per answer */
#define DNSC_NAMES_MAX 1024 /* MX exchange names of one answer */
#define DNSC_CNAME_MAX 8 /* links followed inside one answer */
#define DNSC_TTL_MAX 86400 /* cache a record at most a day */
#define DNSC_NEG_TTL_MAX 900 /* RFC 2308 5: negative answers, capped */

/* ---- results ---------------------------------------------------------- */

#define DNSC_E_NXDOMAIN (-ENOENT) /* the name does not exist: permanent */
#define DNSC_E_NODATA (-ENODATA) /* the name has no record of the type */
#define DNSC_E_NULLMX (-EDESTADDRREQ) /* RFC 7505: no mail (5.1.10) */
#define DNSC_E_SERVFAIL (-EAGAIN) /* servers failed or refused */
#define DNSC_E_TIMEOUT (-ETIMEDOUT) /* no server answered */
#define DNSC_E_BADANSWER (-EBADMSG) /* only malformed answers came */
/* also -ENOMEM (pool empty), -EINVAL (not a host name), -EMSGSIZE */

/* "nxdomain", "nodata", "null-mx", "servfail", "timeout", ... */
const char *dnsc_strerror(int rc);
/* A permanent answer about the name (the caller fails, not defers). */
bool dnsc_permanent(int rc);

/* ---- messages (dnsc_msg.c; pure) -------------------------------------- */

enum dnsc_status {
	DNSC_S_OK, /* records of the type (perhaps after CNAMEs) */
	DNSC_S_NODATA, /* the name exists, no record of the type */
	DNSC_S_NXDOMAIN, /* RCODE 3 */
	DNSC_S_SERVFAIL, /* RCODE 1, 2, 4, 5 or other: ask another server */
	DNSC_S_TRUNCATED, /* TC: ask again over TCP */
};

struct dnsc_question {
	uint16_t id;
	uint16_t type;
	uint16_t wire_len;
	uint8_t wire[DNSC_WIRE_MAX]; /* lowercase, uncompressed */
};

struct dnsc_rr {
	uint16_t type;
	uint16_t pref; /* MX */
	uint16_t name; /* MX: offset of the exchange in answer.names */
	uint8_t addr[16]; /* A: the first 4 bytes; AAAA: all 16 */
};

struct dnsc_answer {
	uint16_t type; /* the type asked for */
	uint8_t status; /* enum dnsc_status */
	uint8_t rcode;
	uint32_t ttl; /* seconds: least TTL used, or the negative TTL */
	uint16_t nrr;
	uint16_t skipped; /* records without room (the worst MX preferences
			     make way) or with names of no host */
	uint16_t names_len;
	bool via_cname;
	struct dnsc_rr rr[DNSC_RR_MAX];
	char names[DNSC_NAMES_MAX]; /* NUL-terminated, "" for the root */
};

/*
 * Text to wire form: letters, digits, '-' and '_' in labels of 1..63
 * octets, an optional final dot, lowercased. Returns the length or
 * -EINVAL.
 */
int dnsc_name_to_wire(const char *name, uint8_t *wire, size_t size);
/* Wire to text ("" for the root); -EINVAL if a label holds other bytes. */
int dnsc_name_to_text(const uint8_t *wire, size_t len, char *out, size_t size);
/* A question for a name (text) and type; -EINVAL for a bad name. */
int dnsc_question_init(struct dnsc_question *q, const char *name, uint16_t type,
    uint16_t id);
/* The query message (RD set); its length, or -EMSGSIZE. */
int dnsc_msg_query(const struct dnsc_question *q, uint8_t *out, size_t size);
/*
 * Validate an answer to q and take what it says about q's name: 0 with
 * a->status set; -EPROTO if it is not an answer to q (id, QR, opcode,
 * question); -EBADMSG if it is malformed (counts, lengths, names,
 * compression pointers, CNAME chains). Reads nothing past len.
 */
int dnsc_msg_parse(const uint8_t *pkt, size_t len,
    const struct dnsc_question *q, struct dnsc_answer *a);
/* The result code an answer stands for: 0, DNSC_E_NODATA, ... */
int dnsc_answer_rc(const struct dnsc_answer *a);
/* The exchange of MX record i. */
const char *dnsc_rr_name(const struct dnsc_answer *a, uint32_t i);
const char *dnsc_type_name(uint16_t type);
/* "mx", "a", "aaaa" (any case) to the type, or 0. */
uint16_t dnsc_type_parse(const char *s);

#define DNSC_MX_HOSTS 10 /* MX hosts tried per domain */

struct dnsc_mx_host {
	uint16_t pref;
	int rc; /* of its address lookups: 0 if it has an address */
	char name[DNSC_NAME_MAX + 1];
};

/*
 * RFC 5321 5.1 and RFC 7505 on an MX answer: DNSC_E_NULLMX for a lone
 * "0 ." record; else the hosts by preference, equal ones shuffled,
 * duplicates and root names dropped, at most `max`: the count (0 if none
 * is usable).
 */
int dnsc_msg_mx_order(const struct dnsc_answer *a, struct dnsc_mx_host *h,
    uint32_t max);

/* ---- cache (dnsc_cache.c) ---------------------------------------------- */

struct dnsc_centry {
	uint64_t expires; /* ms on the caller's clock; 0: empty */
	uint64_t stored; /* insertion order, for eviction */
	uint32_t hash;
	uint16_t type;
	char name[DNSC_NAME_MAX + 1];
	struct dnsc_answer ans;
};

struct dnsc_cache {
	struct dnsc_centry *e;
	uint32_t n;
	uint64_t stamp;
	uint64_t hits, misses, evictions;
};

/* Over n entries of caller memory (zeroed). n may be 0: no caching. */
void dnsc_cache_init(struct dnsc_cache *c, struct dnsc_centry *mem, uint32_t n);
/*
 * An unexpired answer for (name, type) as of now_ms, with its TTL
 * lowered to what is left; false if there is none.
 */
bool dnsc_cache_get(struct dnsc_cache *c, uint64_t now_ms, const char *name,
    uint16_t type, struct dnsc_answer *out);
/*
 * Keep an answer (OK, NODATA or NXDOMAIN with a TTL > 0) until
 * now_ms + ttl; when full, replace an expired entry or else the oldest.
 */
void dnsc_cache_put(struct dnsc_cache *c, uint64_t now_ms, const char *name,
    uint16_t type, const struct dnsc_answer *a);
void dnsc_cache_flush(struct dnsc_cache *c);

/* ---- the client (dnsc.c) ----------------------------------------------- */

#define DNSC_SERVERS_MAX 4
#define DNSC_PORT 53
#define DNSC_TIMEOUT_MS 2000 /* first round; doubled per round after */
#define DNSC_ATTEMPTS 2 /* rounds over all servers */

struct dnsc_conf {
	struct net_addr servers[DNSC_SERVERS_MAX];
	uint32_t nservers;
	uint32_t timeout_ms;
	uint32_t attempts;
};

/*
 * resolv.conf text: "nameserver ADDR" lines (port 53) and "options
 * timeout:N attempts:N"; comments with '#' or ';'; other lines ignored.
 * Adds to c (up to DNSC_SERVERS_MAX); returns the servers added.
 */
int dnsc_resolv_parse(const char *text, size_t len, struct dnsc_conf *c);
/* "1.2.3.4", "1.2.3.4:5353", "::1", "[::1]:5353"; 0 or -EINVAL. */
int dnsc_server_parse(const char *s, struct net_addr *a);
/* Default time-outs, then /etc/resolv.conf (or path) if it can be read. */
int dnsc_conf_resolv(struct dnsc_conf *c, const char *path);

/* Arena bytes and timers dnsc_init() and the MX jobs need. */
size_t dnsc_arena_size(void);
#define DNSC_TIMERS (CONFIG_POOL_DNS_QUERIES)

/*
 * Start: servers are the configured ones, or those of /etc/resolv.conf
 * when n == 0 (-ENOENT if that has none). Allocates from the arena.
 */
int dnsc_init(const struct net_addr *servers, uint32_t n);
/* Change the time-out (ms, first round) and the rounds over servers. */
void dnsc_set_timeouts(uint32_t timeout_ms, uint32_t attempts);
/* Cancel what is in flight (no callbacks) and close the sockets. */
void dnsc_fini(void);

/*
 * A completion: owner and tag as given to the query; rc 0 (records in
 * ans) or an error (ans may still say more: the negative TTL). ans is
 * valid during the call only.
 */
typedef void (*dnsc_fn)(struct handle owner, uint32_t tag, int rc,
    const struct dnsc_answer *ans);

/*
 * Ask for (name, type): 0 with *q set (may be NULL), then exactly one
 * completion unless cancelled; or at once -ENOMEM (pool empty), -EINVAL
 * (not a host name), -ENOTCONN (dnsc_init has not succeeded).
 */
int dnsc_query(const char *name, uint16_t type, dnsc_fn fn, struct handle owner,
    uint32_t tag, struct handle *q);
/* No completion for q; a stale handle is ignored. */
void dnsc_cancel(struct handle q);

struct dnsc_stats {
	uint64_t queries, cache_hits, sent_udp, sent_tcp, truncated;
	uint64_t timeouts, ignored, servfail, failed;
	uint32_t in_flight;
};
void dnsc_get_stats(struct dnsc_stats *st);
/* For tests: forget every cached answer. */
void dnsc_cache_clear(void);

/* ---- MX resolution (dnsc_mx.c) ----------------------------------------- */

#define DNSC_MX_ADDRS 32 /* addresses per domain, all hosts together */
#define DNSC_MX_ADDRS_PER_HOST 4 /* per host and family */
#define DNSC_MX_WINDOW 4 /* address queries in flight per domain */

/* flags: families looked up (none set: both), and which comes first */
#define DNSC_MX_IPV4 0x1u
#define DNSC_MX_IPV6 0x2u
#define DNSC_MX_PREFER_IPV6 0x4u

struct dnsc_mx_addr {
	uint8_t host; /* index into hosts */
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
};

struct dnsc_mx_result {
	bool implicit; /* no MX records: the domain itself (RFC 5321 5.1) */
	uint8_t nhosts;
	uint8_t naddrs;
	struct dnsc_mx_host hosts[DNSC_MX_HOSTS]; /* delivery order */
	struct dnsc_mx_addr addrs[DNSC_MX_ADDRS]; /* delivery order */
};

/*
 * rc 0: at least one address, in the order delivery tries them;
 * DNSC_E_NXDOMAIN, DNSC_E_NULLMX, DNSC_E_NODATA (no MX host has an
 * address, or no MX and no address): permanent; others temporary.
 * res is valid during the call only.
 */
typedef void (*dnsc_mx_fn)(struct handle owner, uint32_t tag, int rc,
    const struct dnsc_mx_result *res);

int dnsc_mx_resolve(const char *domain, unsigned flags, dnsc_mx_fn fn,
    struct handle owner, uint32_t tag, struct handle *h);
void dnsc_mx_cancel(struct handle h);
/* Address i of a result with a port, as a net_addr. */
void dnsc_mx_addr(const struct dnsc_mx_result *r, uint32_t i, uint16_t port,
    struct net_addr *out);
/* Called by dnsc_init(); its arena bytes are in dnsc_arena_size(). */
void dnsc_mx_init(void);
size_t dnsc_mx_arena_size(void);

/* ---- command line (dnsc_cli.c) ----------------------------------------- */

/*
 * tern resolve [-v] [-s SERVER[:PORT]]... [-t MS] [-r ROUNDS] TYPE NAME
 * with TYPE mx, a, aaaa or mxhosts; argv[0] is "resolve". Exit 0 with
 * records, 1 for nxdomain / nodata / null-mx, 2 for a temporary failure,
 * 64 for a usage error.
 */
int dnsc_cli_main(int argc, char **argv);

#endif
