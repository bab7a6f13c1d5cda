/*
 * smtpc_conn.c — the SMTP client's connections: the count per destination
 * and per connector, the connections kept open after a message for the
 * next one to the same destination (park, adopt, hand-off), and the start
 * of a route within the limits, with slow start.
 */
#include <string.h>
#include <sys/epoll.h>

#include "deliver/smtpc_int.h"

struct smtpc_dest *
smtpc_conn_dest(const char *key, bool add)
{
	struct smtpc_dest *free_one = NULL;
	uint32_t k;

	for (k = 0; k < SMTPC_DESTS; k++) {
		if (smtpc_g.dests[k].active > 0 &&
		    strcmp(smtpc_g.dests[k].key, key) == 0) {
			return &smtpc_g.dests[k];
		}
		if (smtpc_g.dests[k].active == 0 && free_one == NULL) {
			free_one = &smtpc_g.dests[k];
		}
	}
	if (add && free_one != NULL) {
		str_copy(free_one->key, key, sizeof(free_one->key));
	}
	return add ? free_one : NULL;
}

static void
smtpc_conn_slot_release(const char *key)
{
	struct smtpc_dest *d = smtpc_conn_dest(key, false);

	if (d != NULL && d->active > 0) {
		d->active--;
	}
}

void
smtpc_conn_release(struct smtpc *s)
{
	if (s->slot) {
		smtpc_conn_slot_release(s->key);
		s->slot = false;
	}
}

void
smtpc_conn_idle_close(struct smtpc_idle *c, bool quit)
{
	int fd = c->io.fd;

	if (quit) {
		(void)smtpc_io_write(c->tls, fd, "QUIT\r\n", 6);
	}
	smtpc_tls_free(&c->tls, true);
	ev_timer_stop(&c->timer);
	ev_io_stop(&c->io);
	net_close(fd);
	smtpc_conn_slot_release(c->key);
	c->used = false;
}

static void
smtpc_conn_idle_on_io(struct ev_io *io, uint32_t events)
{
	struct smtpc_idle *c = container_of(io, struct smtpc_idle, io);
	char sink[256];

	if (c->tls != NULL &&
	    smtpc_io_read(c->tls, io->fd, sink, sizeof(sink)) == -EAGAIN) {
		return; /* a TLS 1.3 session ticket: nothing for us */
	}
	/* the peer closed or spoke out of turn: not worth keeping */
	smtpc_conn_idle_close(c, false);
}

static void
smtpc_conn_idle_on_timer(struct ev_timer *t)
{
	smtpc_conn_idle_close(container_of(t, struct smtpc_idle, timer), true);
}

static uint32_t
smtpc_conn_max_msgs(const struct smtpc *s)
{
	const struct conf_connector *cn = s->route.cn;

	return cn != NULL && cn->max_messages != 0 ? cn->max_messages :
	                                             SMTPC_MSGS_PER_CONN;
}

/* A connection was kept: a delivery waiting for its destination takes it. */
static void
smtpc_conn_handoff(const char *key)
{
	struct smtpc *w;
	uint32_t slot = 0;

	while ((w = pool_next(&smtpc_g.conns, &slot)) != NULL) {
		if (w->waiting && strcmp(w->key, key) == 0) {
			ev_timer_stop(&w->timer);
			smtpc_conn_start_route(w);
			return;
		}
	}
}

/* Keep the connection for the next message to the same destination. */
bool
smtpc_conn_park(struct smtpc *s)
{
	struct smtpc_idle *c = NULL;
	uint32_t k;
	int fd = s->io.fd;

	/* kept connections are of the running configuration only */
	if (!s->clean || fd < 0 || s->nmsgs >= smtpc_conn_max_msgs(s) ||
	    s->tnext == 0 || buf_size(&s->in) > 0 || s->conf != smtpc_g.conf) {
		return false;
	}
	for (k = 0; k < ARRAY_SIZE(smtpc_g.idle) && c == NULL; k++) {
		c = smtpc_g.idle[k].used ? NULL : &smtpc_g.idle[k];
	}
	if (c == NULL) {
		return false;
	}
	ev_timer_stop(&s->timer);
	ev_io_stop(&s->io);
	s->io.fd = -1;
	if (ev_io_start(&c->io, fd, EPOLLIN, smtpc_conn_idle_on_io) < 0) {
		net_close(fd);
		return true; /* closed; the slot goes with the task */
	}
	c->used = true;
	str_copy(c->key, s->key, sizeof(c->key));
	c->target = s->targets[s->tnext - 1];
	c->caps = s->caps;
	c->peer_size = s->peer_size;
	c->sent = s->nmsgs;
	c->tls = s->tls; /* a TLS connection stays one */
	s->tls = NULL;
	s->slot = false; /* the kept connection holds it now */
	ev_timer_start(&c->timer, SMTPC_IDLE_MS, smtpc_conn_idle_on_timer);
	smtpc_conn_handoff(c->key);
	return true;
}

/* A kept connection to this destination: take it over. */
static bool
smtpc_conn_adopt(struct smtpc *s)
{
	struct smtpc_idle *c = NULL;
	uint32_t k;
	int fd;

	for (k = 0; k < ARRAY_SIZE(smtpc_g.idle) && c == NULL &&
	     s->conf == smtpc_g.conf;
	     k++) {
		c = smtpc_g.idle[k].used &&
		        strcmp(smtpc_g.idle[k].key, s->key) == 0 ?
		    &smtpc_g.idle[k] :
		    NULL;
	}
	if (c == NULL) {
		return false;
	}
	fd = c->io.fd;
	ev_timer_stop(&c->timer);
	ev_io_stop(&c->io);
	c->used = false;
	buf_reset(&s->in);
	buf_reset(&s->out);
	s->tls = c->tls;
	c->tls = NULL;
	if (ev_io_start(&s->io, fd, EPOLLIN, smtpc_on_io) < 0) {
		smtpc_tls_free(&s->tls, false);
		net_close(fd);
		smtpc_conn_slot_release(c->key);
		return false;
	}
	s->slot = true;
	s->reused = true;
	s->targets[0] = c->target;
	s->ntargets = 1;
	s->tnext = 1;
	s->caps = c->caps;
	s->peer_size = c->peer_size;
	s->nmsgs = c->sent;
	smtpc_envelope(s);
	return true;
}
/* The destination: a smart-host connector as a whole, else the domain. */
void
smtpc_conn_key(struct smtpc *s)
{
	const struct conf_connector *cn = s->route.cn;
	struct buf b;

	buf_init(&b, s->key, sizeof(s->key) - 1);
	if (cn == NULL) {
		buf_printf(&b, "@mx:%s", s->domain); /* no connector has "@" */
	} else if (cn->route_mx) {
		buf_printf(&b, "%s:%s", cn->name, s->domain);
	} else {
		buf_printf(&b, "%s:", cn->name);
	}
	s->key[buf_size(&b)] = '\0';
}

static uint32_t
smtpc_conn_active(const char *key)
{
	const struct smtpc_dest *d = smtpc_conn_dest(key, false);

	return d != NULL ? d->active : 0;
}

/* Connections of a connector, all its destinations together. */
static uint32_t
smtpc_conn_active_connector(const char *name)
{
	size_t n = strlen(name);
	uint32_t k, sum = 0;

	for (k = 0; k < SMTPC_DESTS; k++) {
		if (smtpc_g.dests[k].active > 0 &&
		    strncmp(smtpc_g.dests[k].key, name, n) == 0 &&
		    smtpc_g.dests[k].key[n] == ':') {
			sum += smtpc_g.dests[k].active;
		}
	}
	return sum;
}

static void
smtpc_conn_on_wait(struct ev_timer *t)
{
	smtpc_conn_start_route(container_of(t, struct smtpc, timer));
}

/*
 * A kept connection to the destination if there is one; else a new one
 * within the destination's limit (RFC 5321 4.5.4.1 asks for restraint),
 * waiting a little when it is reached.
 */
void
smtpc_conn_start_route(struct smtpc *s)
{
	const struct conf_connector *cn = s->route.cn;
	uint32_t limit = cn != NULL && cn->max_per_dest != 0 ?
	    cn->max_per_dest :
	    SMTPC_PER_DEST;

	uint32_t active = smtpc_conn_active(s->key);

	s->waiting = false;
	if (smtpc_conn_adopt(s)) {
		return;
	}
	/*
	 * Slow start: while a connection to the destination is busy, wait a
	 * few turns for it to come free before opening another; a message
	 * that waits longer gets its own, up to the limit.
	 */
	if (active >= limit ||
	    (cn != NULL && cn->max_connections != 0 &&
	        smtpc_conn_active_connector(cn->name) >= cn->max_connections) ||
	    (active > 0 && smtpc_conn_max_msgs(s) > 1 &&
	        s->waits++ < SMTPC_SLOW_START)) {
		s->waiting = true;
		ev_timer_start(&s->timer, SMTPC_WAIT_MS, smtpc_conn_on_wait);
		return;
	}
	s->waits = 0;
	route_targets(&s->route, s->domain, s->h);
}
