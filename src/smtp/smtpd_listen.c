/*
 * smtpd_listen.c — the receiving server's resources: the listeners of
 * every virtual server, the fixed pools of sessions and transactions,
 * per-server connection counts, accepting, and shutting down.
 *
 * A connection that finds the pool (or its server's connection limit)
 * full gets 421 4.3.2 written straight to the socket and is closed: no
 * session is needed to refuse one.
 */
#include <string.h>
#include <sys/epoll.h>

#include "smtp/smtpd_int.h"

_Static_assert(sizeof(struct smtpd_session) <= 4096, "session grew");

struct smtpd_listener {
	struct ev_io io;
	uint32_t srv_idx;
};

static struct pool smtpd_sessions;
static struct pool smtpd_txns;
static struct smtpd_listener *smtpd_listeners;
static uint32_t smtpd_nlisteners;
static uint32_t *smtpd_srv_conns; /* per virtual server */
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
	s->conf = smtpd_conf;
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

	for (k = 0; k < smtpd_nlisteners; k++) {
		ev_io_set(&smtpd_listeners[k].io, events);
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

static int
smtpd_listen_all(const struct conf *c)
{
	char text[NET_ADDR_TEXT];
	uint32_t i, k, n = 0;
	int fd;

	for (i = 0; i < c->nservers; i++) {
		n += c->servers[i].nlistens;
	}
	if (n > CONFIG_POOL_LISTENERS) {
		fatal("%u listen addresses; this build allows %u "
		      "(CONFIG_POOL_LISTENERS)",
		    n, CONFIG_POOL_LISTENERS);
	}
	smtpd_listeners = arena_alloc(sizeof(*smtpd_listeners) * (n + 1));
	for (i = 0; i < c->nservers; i++) {
		for (k = 0; k < c->servers[i].nlistens; k++) {
			const struct conf_listen *cl = &c->servers[i].listens[k];
			struct smtpd_listener *l =
			    &smtpd_listeners[smtpd_nlisteners];

			net_addr_fmt(&cl->addr, text, sizeof(text));
			fd = net_listen(&cl->addr, 511);
			if (fd < 0) {
				fatal("%s:%d: cannot listen on %s: %s",
				    c->source, cl->line, text, strerror(-fd));
			}
			l->srv_idx = i;
			if (ev_io_start(&l->io, fd, EPOLLIN, smtpd_on_accept) <
			    0) {
				fatal("cannot watch listener %s", text);
			}
			smtpd_nlisteners++;
			log_info("smtp listen address=%s server=%s", text,
			    c->servers[i].name);
		}
	}
	return 0;
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
	smtpd_srv_conns = arena_alloc(sizeof(uint32_t) * (c->nservers + 1));
	smtpd_auth_init(c);
	return smtpd_listen_all(c);
}

void
smtpd_shutdown(void)
{
	struct smtpd_session *s;
	uint32_t k, slot = 0;

	for (k = 0; k < smtpd_nlisteners; k++) {
		int fd = smtpd_listeners[k].io.fd;

		ev_io_stop(&smtpd_listeners[k].io);
		net_close(fd);
	}
	smtpd_nlisteners = 0;
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
