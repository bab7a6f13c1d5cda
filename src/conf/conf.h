/*
 * conf.h — the runtime configuration: what a site sets (names, addresses,
 * domains, limits). See ../shared/CONFIG.md and config/example.conf.
 *
 * A struct conf is built whole by conf_load() and never changed after;
 * a reload builds a new one. The parser is pure (text in, struct out);
 * only conf_load.c touches files.
 */
#ifndef TERN_CONF_H
#define TERN_CONF_H

#include "core/core.h"
#include "net/net.h"

enum conf_domain_kind {
	CONF_DOMAIN_LOCAL, /* mailboxes in the drop directory */
	CONF_DOMAIN_RELAY, /* accepted from anyone, then routed */
	CONF_DOMAIN_HOLD, /* accepted from anyone, queued until ETRN */
};

/* A network for relay rules: address and prefix length (CIDR). */
struct conf_net {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t prefix;
	uint8_t addr[16];
};

/* An address space entry of a connector: "*", "*.suffix" or a domain. */
struct conf_space {
	char *pattern;
	uint32_t cost;
};

/* A schedule window: days (bit 0 = Monday) and minutes of the day. */
struct conf_window {
	uint8_t days;
	uint16_t from; /* minutes; from > to wraps past midnight */
	uint16_t to;
};

struct conf_host {
	char *name; /* a host name or an address literal's text */
	uint16_t port;
	bool literal; /* [address]: no DNS */
};

/* Outbound TLS per connector (RFC 3207, RFC 7435) */
enum conf_tls_policy {
	CONF_TLS_OPPORTUNISTIC = 0, /* STARTTLS when offered, else cleartext */
	CONF_TLS_NONE, /* never */
	CONF_TLS_REQUIRED, /* STARTTLS or defer; certificate not checked */
	CONF_TLS_VERIFY, /* STARTTLS, CA bundle and host name, or defer */
};

struct tls_cred; /* loaded by the TLS part (tls_conf_load) */
struct sasl_db; /* loaded by the server's AUTH (smtpd_users_load) */
/* SASL mechanisms a server offers (`auth MECH...`) */
#define CONF_AUTH_PLAIN 0x1u
#define CONF_AUTH_LOGIN 0x2u
#define CONF_AUTH_CRAM_MD5 0x4u
#define CONF_AUTH_SCRAM 0x8u
#define CONF_AUTH_NTLM 0x10u

struct conf_connector {
	char *name;
	int line;
	struct conf_space *spaces;
	uint32_t nspaces;
	bool route_mx; /* by DNS MX; else the smart hosts */
	uint16_t mx_port; /* 25 unless set (tests) */
	struct conf_host *hosts;
	uint32_t nhosts;
	struct conf_window *windows; /* none: always open */
	uint32_t nwindows;
	uint64_t max_message_size; /* 0: no limit of its own */
	uint32_t max_messages; /* per outbound connection */
	uint32_t max_connections;
	uint32_t max_per_dest;
	enum conf_tls_policy tls;
	char *tls_ca; /* CA bundle for CONF_TLS_VERIFY */
	int tls_line;
	struct tls_cred *tls_cred; /* NULL: none, or it failed to load */
	char *auth_user; /* outbound AUTH (conf_auth.c); NULL: none */
	char *auth_password_file;
	char *auth_password; /* its first line (smtpc_auth_load), or NULL */
	bool auth_plaintext; /* AUTH without TLS allowed */
};

struct conf_alias {
	char *name;
	char **targets; /* local parts of the same domain */
	uint32_t ntargets;
	int line;
};

struct conf_domain {
	char *name; /* lowercase */
	enum conf_domain_kind kind;
	char **mailboxes; /* lowercase local parts */
	uint32_t nmailboxes;
	struct conf_alias *aliases;
	uint32_t naliases;
	int line;
};

struct conf_listen {
	struct net_addr addr;
	int line;
};

struct conf_server {
	char *name;
	char *hostname; /* greeting, EHLO, Received; NULL: global */
	struct conf_listen *listens;
	uint32_t nlistens;
	uint64_t max_message_size; /* 0: unlimited */
	uint64_t max_session_size; /* 0: unlimited */
	uint32_t max_messages; /* per connection, 0: unlimited */
	uint32_t max_recipients;
	uint32_t max_connections;
	uint32_t max_errors;
	uint32_t max_hops;
	uint32_t max_line_length; /* DATA text line with CRLF */
	uint32_t timeout_command_ms;
	uint32_t timeout_data_ms;
	uint32_t greeting_delay_ms;
	struct conf_net *relay_nets; /* clients that may relay anywhere */
	uint32_t nrelay_nets;
	bool relay_auth; /* relay allow authenticated */
	uint32_t auth_mechs; /* CONF_AUTH_* offered (conf_auth.c) */
	bool auth_plaintext; /* AUTH offered without TLS */
	uint32_t auth_max_failures; /* then 421; 0: no limit */
	bool vrfy;
	bool expn;
	char *tls_cert; /* PEM chain, leaf first; NULL: no STARTTLS */
	char *tls_key;
	int tls_line;
	bool tls_require; /* MAIL only after STARTTLS (530 5.7.0) */
	struct tls_cred *tls_cred; /* NULL: STARTTLS not offered */
	int line;
};

#define CONF_RETRY_MAX 8

struct conf_queue {
	uint32_t retry_ms[CONF_RETRY_MAX]; /* first, second, ..., then every */
	uint32_t nretry;
	uint64_t expire_ms;
	uint64_t segment_bytes; /* <= CONFIG_QUEUE_SEGMENT_KB KiB */
	uint32_t connect_timeout_ms; /* outbound connections */
	uint32_t reply_timeout_ms; /* outbound: waiting for a reply */
	uint64_t delay_notice_ms; /* DSN delay report after this; 0: never */
	char *ndr_copy; /* a copy of every failure report, NULL: none */
	uint64_t dsn_max_original; /* past this, a report returns headers */
};

struct conf {
	char *source; /* file name, or "(embedded default)" */
	char *hostname;
	char *spool;
	char *drop;
	char *badmail;
	char *users; /* AUTH user database (ternctl user add) */
	struct sasl_db *userdb; /* users loaded (smtpd_users_load), or NULL */
	uint32_t max_sessions; /* 0: the whole pool */
	enum log_level log_level;
	struct conf_queue queue;
	struct conf_domain *domains;
	uint32_t ndomains;
	struct conf_server *servers;
	uint32_t nservers;
	struct conf_connector *connectors;
	uint32_t nconnectors;
	struct net_addr resolvers[4]; /* none: /etc/resolv.conf */
	uint32_t nresolvers;
	struct tls_cred *tls_cred; /* outbound without a connector */
};

/* Reports one problem; the loader collects all of them. */
typedef void (
    *conf_report_fn)(void *ctx, const char *file, int line, const char *msg);

/*
 * Reads the text of an included file into malloc'ed memory (the parser
 * frees it); 0 or a negative errno.
 */
typedef int (
    *conf_read_fn)(void *ctx, const char *path, char **text, size_t *len);

struct conf_io {
	conf_report_fn report;
	conf_read_fn read;
	void *ctx;
};

/*
 * Parse a whole configuration from text (pure: includes go through
 * io->read). Returns the number of errors; *out is set only when there
 * were none.
 */
int conf_parse(const char *name, const char *text, size_t len,
    const struct conf_io *io, struct conf **out);
/* Load FILE, or the embedded default when path is NULL; errors to stderr
 * as "file:line: message". Returns the number of errors. */
int conf_load(const char *path, struct conf **out);
/* The same, each problem to report (a reload collects them). */
int conf_load_report(const char *path, conf_report_fn report, void *ctx,
    struct conf **out);
void conf_free(struct conf *c);

/*
 * Reload (conf_reload.c, conf_load.c). A loaded configuration has one
 * user, its loader. Whoever keeps a pointer past the current event
 * (a session, an outbound connection) takes a hold and drops it when
 * done; the last drop runs the release function (what other parts
 * loaded into it: certificates, users, passwords) and frees it.
 */
typedef void (*conf_release_fn)(struct conf *c);
void conf_set_release(conf_release_fn fn);
const struct conf *conf_hold(const struct conf *c);
void conf_drop(const struct conf *c);
/* How many hold it now; how many configurations are alive (reload log). */
uint32_t conf_users(const struct conf *c);
uint32_t conf_alive_count(void);
/*
 * The settings a running server cannot change (spool, drop, queue
 * segment-size, resolver): conf_pin() copies the running values into
 * memory that lives as long as the process and points c at them;
 * conf_keep_fixed() gives a new configuration the pinned values and
 * reports each change as "SETTING: needs a restart". Returns how many.
 */
void conf_pin(struct conf *c);
int conf_keep_fixed(struct conf *c, conf_report_fn report, void *ctx);

extern const char conf_default_text[];

/* Lookups used by policy (case-insensitive). */
const struct conf_domain *
conf_domain_find(const struct conf *c, const char *name, size_t len);
/*
 * The mailboxes a local part reaches: itself, or an alias's targets (one
 * level). Returns how many were stored in out[0..max); 0: no such user.
 */
uint32_t conf_local_expand(const struct conf_domain *d, const char *local,
    size_t len, const char **out, uint32_t max);
const char *
conf_server_hostname(const struct conf *c, const struct conf_server *s);
/* Is the client in one of the server's relay networks? */
bool conf_relay_allowed(const struct conf_server *s, const struct net_addr *a);
bool conf_net_match(const struct conf_net *n, const struct net_addr *a);
/* Does a connector's pattern cover the domain (case-insensitive)? */
bool conf_space_match(const char *pattern, const char *domain);
/* Is the schedule open at this local time (0 = Monday)? */
bool conf_schedule_open(const struct conf_connector *cn, unsigned weekday,
    unsigned minute);

#endif
