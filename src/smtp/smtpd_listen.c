/*
 * smtpd_listen.c — the receiving server's resources: the listeners of
 * every virtual server, the fixed pools of sessions and transactions,
 * per-server connection counts, accepting, and shutting down.
 *
 * A connection that finds the pool (or its server's connection limit)
 * full gets 421 4.3.2 written straight to the socket and is closed: no
 * session is needed to refuse one.
 *
 * Reload: a session holds the configuration it was accepted under
 * (conf_hold) until it ends. Listeners are matched by address: one the
 * new configuration keeps stays open (no moment without it), a new one
 * is bound before anything changes, a removed one is closed. Connection
 * counts follow the virtual server by name.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "smtp/smtpd_int.h"

_Static_assert(sizeof(struct smtpd_session) <= 4096, "session grew");

enum smtpd_lstate { SMTPD_L_FREE, SMTPD_L_ON, SMTPD_L_NEW };

struct smtpd_listener {
	struct ev_io io;
	uint32_t srv_idx;
	uint32_t next_idx; /* the server in the configuration being loaded */
	enum smtpd_lstate state;
	bool keep; /* the configuration being loaded keeps it */
	struct net_addr addr;
};

/* room for the listeners of the running and of a new configuration */
#define SMTPD_LSLOTS (2 * CONFIG_POOL_LISTENERS)

static struct pool smtpd_sessions;
static struct pool smtpd_txns;
static struct smtpd_listener *smtpd_listeners; /* SMTPD_LSLOTS */
static uint32_t *smtpd_srv_conns; /* per virtual server, and one "gone" */
static uint32_t smtpd_srv_cap;
static const struct conf *smtpd_conf;
static struct ev_timer smtpd_pause_timer;
bool smtpd_stopping;

#define SMTPD_PAUSE_MS 100 /* out of descriptors: listen again after */

struct smtpd_txn *
smtpd_txn_new(void)
{
	struct smtpd_txn *t = pool_get(&smtpd_txns, NULL);

	if (t != NULL) {
		memset(t, 0, sizeof(*t));
	}
	return t;
}

void
smtpd_txn_free(struct smtpd_txn *t)
{
	pool_put(&smtpd_txns, t);
}

void
smtpd_session_free(struct smtpd_session *s)
{
	smtpd_srv_conns[s->srv_idx]--;
	conf_drop(s->conf);
	s->conf = NULL;
	pool_put(&smtpd_sessions, s);
}

struct smtpd_session *
smtpd_session_find(struct handle h)
{
	return pool_find(&smtpd_sessions, h);
}

uint32_t
smtpd_sessions_active(void)
{
	return pool_used(&smtpd_sessions);
}

static void
smtpd_refuse(int fd, const struct conf_server *srv, enum smtp_r r)
{
	char mem[256];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	smtp_reply_fmt(&b, r, conf_server_hostname(smtpd_conf, srv));
	(void)net_write(fd, buf_data(&b), buf_size(&b));
	net_close(fd);
}

static void
smtpd_accept_one(struct smtpd_listener *l, int fd, const struct net_addr *peer)
{
	const struct conf_server *srv = &smtpd_conf->servers[l->srv_idx];
	struct smtpd_session *s;
	struct handle h;
	char ip[NET_ADDR_TEXT];

	if (srv->max_connections != 0 &&
	    smtpd_srv_conns[l->srv_idx] >= srv->max_connections) {
		net_addr_host(peer, ip, sizeof(ip));
		log_warn("smtp in refused client=%s server=%s "
		         "reason=max-connections",
		    ip, srv->name);
		smtpd_refuse(fd, srv, SMTP_R_TOO_MANY_SESSIONS);
		return;
	}
	s = pool_get(&smtpd_sessions, &h);
	if (s == NULL) {
		net_addr_host(peer, ip, sizeof(ip));
		log_warn("smtp in refused client=%s server=%s "
		         "reason=session-pool",
		    ip, srv->name);
		smtpd_refuse(fd, srv, SMTP_R_TOO_MANY_SESSIONS);
		return;
	}
	memset(s, 0, offsetof(struct smtpd_session, inmem));
	s->h = h;
	s->conf = conf_hold(smtpd_conf);
	s->srv = srv;
	s->srv_idx = l->srv_idx;
	s->peer = *peer;
	s->io.fd = fd;
	smtpd_srv_conns[l->srv_idx]++;
	smtpd_session_start(s);
}

static void smtpd_on_accept(struct ev_io *io, uint32_t events);

static void
smtpd_listeners_watch(uint32_t events)
{
	uint32_t k;

	for (k = 0; k < SMTPD_LSLOTS; k++) {
		if (smtpd_listeners[k].state == SMTPD_L_ON) {
			ev_io_set(&smtpd_listeners[k].io, events);
		}
	}
}

static void
smtpd_accept_resume(struct ev_timer *t)
{
	smtpd_listeners_watch(EPOLLIN);
}

/*
 * No descriptor for a new connection: stop accepting for a moment, or the
 * level-triggered listener would spin the loop until one is free.
 */
static void
smtpd_accept_pause(int err)
{
	log_err("smtp in accept error=%s pause=%ums", strerror(-err),
	    SMTPD_PAUSE_MS);
	smtpd_listeners_watch(0);
	ev_timer_start(&smtpd_pause_timer, SMTPD_PAUSE_MS, smtpd_accept_resume);
}

static void
smtpd_on_accept(struct ev_io *io, uint32_t events)
{
	struct smtpd_listener *l = container_of(io, struct smtpd_listener, io);
	struct net_addr peer;
	int fd, k;

	for (k = 0; k < 64; k++) { /* bounded: other events wait too */
		fd = net_accept(io->fd, &peer);
		if (fd == -EAGAIN) {
			return;
		}
		if (fd < 0) {
			if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS ||
			    fd == -ENOMEM) {
				smtpd_accept_pause(fd);
			}
			return; /* ECONNABORTED and the like: next event */
		}
		smtpd_accept_one(l, fd, &peer);
	}
}

static void
smtpd_listener_close(struct smtpd_listener *l)
{
	int fd = l->io.fd;

	if (l->state == SMTPD_L_ON) {
		ev_io_stop(&l->io);
	}
	net_close(fd);
	l->state = SMTPD_L_FREE;
	l->keep = false;
}

static struct smtpd_listener *
smtpd_listener_find(const struct net_addr *a)
{
	uint32_t k;

	for (k = 0; k < SMTPD_LSLOTS; k++) {
		if (smtpd_listeners[k].state != SMTPD_L_FREE &&
		    net_addr_equal(&smtpd_listeners[k].addr, a)) {
			return &smtpd_listeners[k];
		}
	}
	return NULL;
}

static struct smtpd_listener *
smtpd_listener_slot(void)
{
	uint32_t k;

	for (k = 0; k < SMTPD_LSLOTS; k++) {
		if (smtpd_listeners[k].state == SMTPD_L_FREE) {
			return &smtpd_listeners[k];
		}
	}
	return NULL;
}

static void smtpd_report(conf_report_fn report, void *ctx, const char *file,
    int line, const char *fmt, ...) PRINTF_LIKE(5, 6);

static void
smtpd_report(conf_report_fn report, void *ctx, const char *file, int line,
    const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report(ctx, file, line, msg);
}

/* One listen address of server i: kept if open already, else bound. */
static int
smtpd_listen_one(const struct conf *c, uint32_t i, const struct conf_listen *cl,
    conf_report_fn report, void *ctx)
{
	struct smtpd_listener *l = smtpd_listener_find(&cl->addr);
	char text[NET_ADDR_TEXT];
	int fd;

	if (l != NULL) {
		l->keep = true;
		l->next_idx = i;
		return 0;
	}
	net_addr_fmt(&cl->addr, text, sizeof(text));
	l = smtpd_listener_slot();
	fd = l == NULL ? -ENOSPC : net_listen(&cl->addr, 511);
	if (fd < 0) {
		smtpd_report(report, ctx, c->source, cl->line,
		    "cannot listen on %s: %s", text, strerror(-fd));
		return fd;
	}
	memset(l, 0, sizeof(*l));
	l->io.fd = fd;
	l->addr = cl->addr;
	l->next_idx = i;
	l->state = SMTPD_L_NEW;
	l->keep = true;
	return 0;
}

int
smtpd_reload_prepare(const struct conf *c, conf_report_fn report, void *ctx)
{
	uint32_t i, k, n = 0;
	int rc = 0;

	for (i = 0; i < c->nservers; i++) {
		n += c->servers[i].nlistens;
	}
	if (n > CONFIG_POOL_LISTENERS || c->nservers > smtpd_srv_cap) {
		smtpd_report(report, ctx, c->source, 0,
		    "%u listen addresses, %u servers; this build allows %u "
		    "(CONFIG_POOL_LISTENERS)",
		    n, c->nservers, smtpd_srv_cap);
		return -ENOSPC;
	}
	for (i = 0; i < c->nservers; i++) {
		for (k = 0; k < c->servers[i].nlistens; k++) {
			if (smtpd_listen_one(c, i, &c->servers[i].listens[k],
			        report, ctx) < 0) {
				rc = -EADDRINUSE;
			}
		}
	}
	if (rc < 0) {
		smtpd_reload_abort();
	}
	return rc;
}

void
smtpd_reload_abort(void)
{
	uint32_t k;

	for (k = 0; k < SMTPD_LSLOTS; k++) {
		if (smtpd_listeners[k].state == SMTPD_L_NEW) {
			smtpd_listener_close(&smtpd_listeners[k]);
		}
		smtpd_listeners[k].keep = false;
	}
}

/* The listeners of the prepared configuration: watch, close, re-point. */
static void
smtpd_listeners_switch(const struct conf *c)
{
	char text[NET_ADDR_TEXT];
	uint32_t k;

	for (k = 0; k < SMTPD_LSLOTS; k++) {
		struct smtpd_listener *l = &smtpd_listeners[k];

		if (l->state == SMTPD_L_FREE) {
			continue;
		}
		net_addr_fmt(&l->addr, text, sizeof(text));
		if (!l->keep) {
			smtpd_listener_close(l);
			log_info("smtp listen closed address=%s", text);
			continue;
		}
		l->keep = false;
		l->srv_idx = l->next_idx;
		if (l->state == SMTPD_L_ON) {
			continue;
		}
		if (ev_io_start(&l->io, l->io.fd, EPOLLIN, smtpd_on_accept) <
		    0) {
			log_err("cannot watch listener %s", text);
			smtpd_listener_close(l);
			continue;
		}
		l->state = SMTPD_L_ON;
		log_info("smtp listen address=%s server=%s", text,
		    c->servers[l->srv_idx].name);
	}
}

/* A session's server in c, by name; the spare last slot when gone. */
static uint32_t
smtpd_srv_index(const struct conf *c, const char *name)
{
	uint32_t i;

	for (i = 0; i < c->nservers; i++) {
		if (strcmp(c->servers[i].name, name) == 0) {
			return i;
		}
	}
	return smtpd_srv_cap;
}

void
smtpd_reload_commit(const struct conf *c)
{
	struct smtpd_session *s;
	uint32_t slot = 0;

	smtpd_listeners_switch(c);
	memset(smtpd_srv_conns, 0, sizeof(uint32_t) * (smtpd_srv_cap + 1));
	while ((s = pool_next(&smtpd_sessions, &slot)) != NULL) {
		s->srv_idx = smtpd_srv_index(c, s->srv->name);
		smtpd_srv_conns[s->srv_idx]++;
	}
	smtpd_conf = c;
	pool_set_limit(&smtpd_sessions, c->max_sessions);
}

static void
smtpd_report_fatal(void *ctx, const char *file, int line, const char *msg)
{
	if (line > 0) {
		fatal("%s:%d: %s", file, line, msg);
	}
	fatal("%s: %s", file, msg);
}

int
smtpd_init(const struct conf *c)
{
	uint32_t sessions = CONFIG_POOL_SESSIONS;

	smtpd_conf = c;
	pool_init(&smtpd_sessions, "smtpd-session",
	    sizeof(struct smtpd_session), sessions);
	pool_set_limit(&smtpd_sessions, c->max_sessions);
	pool_init(&smtpd_txns, "smtpd-txn", sizeof(struct smtpd_txn),
	    CONFIG_POOL_TRANSACTIONS);
	smtpd_srv_cap = MAX(c->nservers, (uint32_t)CONFIG_POOL_LISTENERS);
	smtpd_srv_conns = arena_alloc(sizeof(uint32_t) * (smtpd_srv_cap + 1));
	smtpd_listeners = arena_alloc(sizeof(*smtpd_listeners) * SMTPD_LSLOTS);
	smtpd_auth_init(c);
	if (smtpd_reload_prepare(c, smtpd_report_fatal, NULL) < 0) {
		fatal("listeners");
	}
	smtpd_listeners_switch(c);
	return 0;
}

void
smtpd_shutdown(void)
{
	struct smtpd_session *s;
	uint32_t k, slot = 0;

	for (k = 0; k < SMTPD_LSLOTS; k++) {
		if (smtpd_listeners[k].state != SMTPD_L_FREE) {
			smtpd_listener_close(&smtpd_listeners[k]);
		}
	}
	ev_timer_stop(&smtpd_pause_timer);
	smtpd_stopping = true;
	while ((s = pool_next(&smtpd_sessions, &slot)) != NULL) {
		if (!smtpd_session_busy(s)) {
			smtpd_session_kick(s);
		}
	}
}

void
smtpd_kill_all(void)
{
	struct smtpd_session *s;
	uint32_t slot = 0;

	while ((s = pool_next(&smtpd_sessions, &slot)) != NULL) {
		smtpd_session_kick(s);
	}
}
