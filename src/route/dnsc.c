/*
 * dnsc.c — the asynchronous DNS client: queries from a fixed pool, one
 * socket and one timer each, driven by the event loop.
 *
 * A query asks the servers in turn (DNSC_ATTEMPTS rounds over the list,
 * the time-out doubling each round) until one gives an answer: records,
 * NODATA or NXDOMAIN end it; SERVFAIL, REFUSED, a malformed answer, a
 * refused port or a time-out move on to the next server. Each try goes
 * from a new UDP socket, bound to a random port and connected to the
 * server (the kernel drops datagrams from anyone else), with a new random
 * id (RFC 5452 9.2); a datagram that is not an answer to the question
 * (wrong id or question) is ignored and the try keeps waiting. A
 * truncated answer (TC) asks the same server again over TCP (RFC 1035
 * 4.2.2, RFC 7766). Answers are cached (dnsc_cache.c); a cached answer
 * still completes from the loop, never inside dnsc_query().
 *
 * Invariant: a query in the pool is in exactly one state; its timer is
 * armed in every state but DONE; its socket is open only while a try is
 * under way. Completions carry the owner's handle and tag; after the
 * callback returns the slot goes back to the pool.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "route/dnsc.h"

#define DNSC_UDP_RX 4096 /* more than 512 is out of spec; take it */
#define DNSC_UDP_BURST 16 /* datagrams read per wake-up */
#define DNSC_BIND_TRIES 8
#define DNSC_TIMEOUT_CAP_MS 30000

enum dnsc_state {
	DNSC_Q_UDP, /* waiting for a datagram */
	DNSC_Q_CONNECT, /* TCP: connecting */
	DNSC_Q_SEND, /* TCP: sending the query */
	DNSC_Q_RECV, /* TCP: reading the answer */
	DNSC_Q_CACHED, /* answered from the cache; completes on the timer */
	DNSC_Q_FAILED, /* nothing left to try; completes on the timer */
	DNSC_Q_DONE, /* in its callback */
};

struct dnsc_query {
	struct ev_io io;
	struct ev_timer timer;
	dnsc_fn fn;
	struct handle owner;
	uint32_t tag;
	uint8_t state;
	uint8_t try_no;
	uint16_t msg_len; /* the query, without the TCP length */
	uint32_t tcp_done; /* TCP bytes sent or received */
	int err; /* what went wrong with the tries so far */
	struct dnsc_question q;
	char name[DNSC_NAME_MAX + 1];
	uint8_t msg[2 + DNSC_QUERY_MAX]; /* TCP length, then the query */
	struct dnsc_answer ans;
	uint8_t tcp[2 + DNSC_TCP_MAX]; /* pages touched over TCP only */
};

_Static_assert(sizeof(struct dnsc_query) <= 11 * 1024, "dnsc query grew");

static struct {
	bool ready;
	struct dnsc_conf conf;
	struct pool queries;
	struct dnsc_cache cache;
	struct dnsc_stats st;
} dnsc;

static uint8_t dnsc_rx[DNSC_UDP_RX];

static void dnsc_try(struct dnsc_query *q);

/* ---- servers ------------------------------------------------------------ */

static int
dnsc_addr_make(const char *host, uint16_t port, struct net_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, host, &a->u.in4.sin_addr) == 1) {
		a->u.in4.sin_family = AF_INET;
		a->u.in4.sin_port = htons(port);
		a->len = sizeof(a->u.in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a->u.in6.sin6_addr) == 1) {
		a->u.in6.sin6_family = AF_INET6;
		a->u.in6.sin6_port = htons(port);
		a->len = sizeof(a->u.in6);
		return 0;
	}
	return -EINVAL;
}

int
dnsc_server_parse(const char *s, struct net_addr *a)
{
	char host[INET6_ADDRSTRLEN + 1];
	size_t n = strlen(s);

	if (net_addr_parse(s, a) == 0) {
		return 0;
	}
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') { /* "[::1]" */
		s++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(host)) {
		return -EINVAL;
	}
	memcpy(host, s, n);
	host[n] = '\0';
	return dnsc_addr_make(host, DNSC_PORT, a);
}

/* The words of one line, at most max, NUL-terminated in line. */
static size_t
dnsc_words(char *line, char **w, size_t max)
{
	size_t n = 0;
	char *p = line;

	while (n < max) {
		while (*p == ' ' || *p == '\t' || *p == '\r') {
			p++;
		}
		if (*p == '\0' || *p == '#' || *p == ';') {
			break;
		}
		w[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r') {
			p++;
		}
		if (*p != '\0') {
			*p++ = '\0';
		}
	}
	return n;
}

/* "timeout:N" (seconds) and "attempts:N" of an options line. */
static void
dnsc_resolv_option(const char *w, struct dnsc_conf *c)
{
	unsigned v;

	if (sscanf(w, "timeout:%u", &v) == 1 && v >= 1) {
		c->timeout_ms = MIN(v, 30u) * 1000u;
	} else if (sscanf(w, "attempts:%u", &v) == 1 && v >= 1) {
		c->attempts = MIN(v, 5u);
	}
}

int
dnsc_resolv_parse(const char *text, size_t len, struct dnsc_conf *c)
{
	char line[256];
	char *w[8];
	size_t pos = 0, n, k;
	int added = 0;

	while (pos < len) {
		const char *lf = memchr(text + pos, '\n', len - pos);
		size_t ll = lf != NULL ? (size_t)(lf - (text + pos)) :
		                         len - pos;

		str_copy(line, "", sizeof(line));
		if (ll < sizeof(line)) {
			memcpy(line, text + pos, ll);
			line[ll] = '\0';
		}
		pos += ll + 1;
		n = dnsc_words(line, w, ARRAY_SIZE(w));
		if (n == 2 && strcmp(w[0], "nameserver") == 0 &&
		    c->nservers < DNSC_SERVERS_MAX &&
		    dnsc_addr_make(w[1], DNSC_PORT, &c->servers[c->nservers]) ==
		        0) {
			c->nservers++;
			added++;
		}
		for (k = 1; n > 1 && strcmp(w[0], "options") == 0 && k < n;
		     k++) {
			dnsc_resolv_option(w[k], c);
		}
	}
	return added;
}

int
dnsc_conf_resolv(struct dnsc_conf *c, const char *path)
{
	char text[4096];
	ssize_t n;
	int fd;

	memset(c, 0, sizeof(*c));
	c->timeout_ms = DNSC_TIMEOUT_MS;
	c->attempts = DNSC_ATTEMPTS;
	fd = open(path != NULL ? path : "/etc/resolv.conf",
	    O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n < 0) {
		return -errno;
	}
	return dnsc_resolv_parse(text, (size_t)n, c);
}

/* ---- start and stop ------------------------------------------------------ */

size_t
dnsc_arena_size(void)
{
	/* pool slots are rounded to 16 bytes; each arena piece to 64 */
	return (size_t)CONFIG_POOL_DNS_QUERIES *
	    (((sizeof(struct dnsc_query) + 15) & ~(size_t)15) + 8) +
	    (size_t)CONFIG_DNS_CACHE_ENTRIES * sizeof(struct dnsc_centry) +
	    dnsc_mx_arena_size() + 8 * 64;
}

int
dnsc_init(const struct net_addr *servers, uint32_t n)
{
	char first[NET_ADDR_TEXT];
	uint32_t i;
	int rc;

	if (n == 0) {
		rc = dnsc_conf_resolv(&dnsc.conf, NULL);
		if (rc < 0 || dnsc.conf.nservers == 0) {
			return rc < 0 ? rc : -ENOENT;
		}
	} else {
		memset(&dnsc.conf, 0, sizeof(dnsc.conf));
		dnsc.conf.timeout_ms = DNSC_TIMEOUT_MS;
		dnsc.conf.attempts = DNSC_ATTEMPTS;
		for (i = 0; i < n && i < DNSC_SERVERS_MAX; i++) {
			dnsc.conf.servers[i] = servers[i];
		}
		dnsc.conf.nservers = i;
	}
	pool_init(&dnsc.queries, "dns-query", sizeof(struct dnsc_query),
	    CONFIG_POOL_DNS_QUERIES);
	dnsc_cache_init(&dnsc.cache,
	    CONFIG_DNS_CACHE_ENTRIES > 0 ?
	        arena_alloc(sizeof(struct dnsc_centry) *
	            (CONFIG_DNS_CACHE_ENTRIES + 0u)) :
	        NULL,
	    CONFIG_DNS_CACHE_ENTRIES);
	dnsc_mx_init();
	memset(&dnsc.st, 0, sizeof(dnsc.st));
	dnsc.ready = true;
	net_addr_fmt(&dnsc.conf.servers[0], first, sizeof(first));
	log_info("dnsc init servers=%u first=%s timeout-ms=%u attempts=%u "
	         "from=%s",
	    dnsc.conf.nservers, first, dnsc.conf.timeout_ms, dnsc.conf.attempts,
	    n == 0 ? "resolv.conf" : "config");
	return 0;
}

void
dnsc_set_timeouts(uint32_t timeout_ms, uint32_t attempts)
{
	dnsc.conf.timeout_ms = timeout_ms == 0 ?
	    DNSC_TIMEOUT_MS :
	    MIN(timeout_ms, DNSC_TIMEOUT_CAP_MS);
	dnsc.conf.attempts = attempts == 0 ? DNSC_ATTEMPTS : MIN(attempts, 10u);
}

static void
dnsc_close(struct dnsc_query *q)
{
	int fd = q->io.fd;

	if (fd >= 0) {
		ev_io_stop(&q->io);
		net_close(fd);
	}
}

static void
dnsc_release(struct dnsc_query *q)
{
	ev_timer_stop(&q->timer);
	dnsc_close(q);
	pool_put(&dnsc.queries, q);
}

void
dnsc_fini(void)
{
	struct dnsc_query *q;
	uint32_t slot = 0;

	if (!dnsc.ready) {
		return;
	}
	while ((q = pool_next(&dnsc.queries, &slot)) != NULL) {
		if (q->state != DNSC_Q_DONE) {
			dnsc_release(q);
		}
	}
	dnsc.ready = false;
}

void
dnsc_get_stats(struct dnsc_stats *st)
{
	*st = dnsc.st;
	st->in_flight = dnsc.ready ? pool_used(&dnsc.queries) : 0;
}

void
dnsc_cache_clear(void)
{
	dnsc_cache_flush(&dnsc.cache);
}

/* ---- completion ------------------------------------------------------------ */

static const struct net_addr *
dnsc_server(const struct dnsc_query *q)
{
	return &dnsc.conf.servers[q->try_no % dnsc.conf.nservers];
}

/* The time-out of the try under way: doubled each round over servers. */
static uint32_t
dnsc_try_timeout(const struct dnsc_query *q)
{
	uint32_t round = q->try_no / dnsc.conf.nservers;

	return MIN(dnsc.conf.timeout_ms << MIN(round, 8u),
	    (uint32_t)DNSC_TIMEOUT_CAP_MS);
}

static void
dnsc_finish(struct dnsc_query *q, int rc)
{
	bool from_cache = q->state == DNSC_Q_CACHED;

	ev_timer_stop(&q->timer);
	dnsc_close(q);
	if (rc == 0 || rc == DNSC_E_NODATA || rc == DNSC_E_NXDOMAIN) {
		if (!from_cache) {
			dnsc_cache_put(&dnsc.cache, ev_now(), q->name,
			    q->q.type, &q->ans);
		}
	} else {
		memset(&q->ans, 0, offsetof(struct dnsc_answer, rr));
		q->ans.type = q->q.type;
		q->ans.status = DNSC_S_SERVFAIL;
		dnsc.st.failed++;
		log_info("dnsc fail name=%s type=%s reason=%s tries=%u",
		    q->name, dnsc_type_name(q->q.type), dnsc_strerror(rc),
		    q->try_no);
	}
	log_debug("dnsc done name=%s type=%s result=%s records=%u ttl=%u%s",
	    q->name, dnsc_type_name(q->q.type), dnsc_strerror(rc), q->ans.nrr,
	    q->ans.ttl, from_cache ? " cached=yes" : "");
	q->state = DNSC_Q_DONE;
	q->fn(q->owner, q->tag, rc, &q->ans);
	pool_put(&dnsc.queries, q);
}

static void
dnsc_on_timer(struct ev_timer *t)
{
	struct dnsc_query *q = container_of(t, struct dnsc_query, timer);
	char srv[NET_ADDR_TEXT];

	if (q->state == DNSC_Q_CACHED) {
		dnsc_finish(q, dnsc_answer_rc(&q->ans));
		return;
	}
	if (q->state == DNSC_Q_FAILED) {
		dnsc_finish(q, q->err);
		return;
	}
	dnsc.st.timeouts++;
	net_addr_fmt(dnsc_server(q), srv, sizeof(srv));
	log_debug("dnsc timeout name=%s type=%s server=%s try=%u proto=%s",
	    q->name, dnsc_type_name(q->q.type), srv, q->try_no + 1,
	    q->state == DNSC_Q_UDP ? "udp" : "tcp");
	if (q->err == 0) {
		q->err = DNSC_E_TIMEOUT;
	}
	dnsc_close(q);
	q->try_no++;
	dnsc_try(q);
}

/* This try failed with rc: on to the next server. */
static void
dnsc_next(struct dnsc_query *q, int rc)
{
	char srv[NET_ADDR_TEXT];

	net_addr_fmt(dnsc_server(q), srv, sizeof(srv));
	log_debug("dnsc next name=%s type=%s server=%s try=%u reason=%s",
	    q->name, dnsc_type_name(q->q.type), srv, q->try_no + 1,
	    dnsc_strerror(rc));
	q->err = rc;
	ev_timer_stop(&q->timer);
	dnsc_close(q);
	q->try_no++;
	dnsc_try(q);
}

/* A parsed answer (rc from dnsc_msg_parse) of the try under way. */
static void
dnsc_answered(struct dnsc_query *q, int rc)
{
	if (rc < 0) {
		dnsc_next(q, DNSC_E_BADANSWER);
		return;
	}
	switch (q->ans.status) {
	case DNSC_S_TRUNCATED:
		/* over TCP a truncated answer does not fit 64 KiB */
		dnsc_next(q, -EMSGSIZE);
		return;
	case DNSC_S_SERVFAIL:
		dnsc.st.servfail++;
		dnsc_next(q, DNSC_E_SERVFAIL);
		return;
	default:
		dnsc_finish(q, dnsc_answer_rc(&q->ans));
		return;
	}
}

/* ---- TCP (RFC 7766: two-octet length, then the message) ----------------- */

static void
dnsc_tcp_recv(struct dnsc_query *q)
{
	uint32_t want = 2;
	ssize_t n;

	for (;;) {
		if (q->tcp_done >= 2) {
			want = 2u + (uint32_t)((q->tcp[0] << 8) | q->tcp[1]);
			if (want - 2 > DNSC_TCP_MAX) {
				dnsc_next(q, -EMSGSIZE);
				return;
			}
		}
		if (q->tcp_done == want && want > 2) {
			dnsc_answered(q,
			    dnsc_msg_parse(q->tcp + 2, want - 2, &q->q,
			        &q->ans));
			return;
		}
		n = net_read(q->io.fd, q->tcp + q->tcp_done,
		    want - q->tcp_done);
		if (n == -EAGAIN) {
			return;
		}
		if (n <= 0) {
			dnsc_next(q, n == 0 ? -ECONNRESET : (int)n);
			return;
		}
		q->tcp_done += (uint32_t)n;
	}
}

static void
dnsc_on_tcp(struct ev_io *io, uint32_t events)
{
	struct dnsc_query *q = container_of(io, struct dnsc_query, io);
	ssize_t n;
	int rc;

	if (q->state == DNSC_Q_CONNECT) {
		rc = net_connect_result(io->fd);
		if (rc < 0) {
			dnsc_next(q, rc);
			return;
		}
		q->state = DNSC_Q_SEND;
	}
	if (q->state == DNSC_Q_SEND) {
		n = net_write(io->fd, q->msg + q->tcp_done,
		    q->msg_len + 2u - q->tcp_done);
		if (n == -EAGAIN) {
			return;
		}
		if (n < 0) {
			dnsc_next(q, (int)n);
			return;
		}
		q->tcp_done += (uint32_t)n;
		if (q->tcp_done < q->msg_len + 2u) {
			return;
		}
		q->state = DNSC_Q_RECV;
		q->tcp_done = 0;
		if (ev_io_set(io, EV_READ) < 0) {
			dnsc_next(q, -EIO);
		}
		return;
	}
	if (q->state == DNSC_Q_RECV) {
		dnsc_tcp_recv(q);
	}
}

static void
dnsc_tcp_start(struct dnsc_query *q)
{
	int fd;

	dnsc_close(q);
	dnsc.st.truncated++;
	fd = net_connect(dnsc_server(q));
	if (fd < 0) {
		dnsc_next(q, fd);
		return;
	}
	if (ev_io_start(&q->io, fd, EV_WRITE, dnsc_on_tcp) < 0) {
		net_close(fd);
		dnsc_next(q, -EIO);
		return;
	}
	dnsc.st.sent_tcp++;
	q->state = DNSC_Q_CONNECT;
	q->tcp_done = 0;
	ev_timer_start(&q->timer, dnsc_try_timeout(q), dnsc_on_timer);
	log_debug("dnsc truncated name=%s type=%s try=%u proto=tcp", q->name,
	    dnsc_type_name(q->q.type), q->try_no + 1);
}

/* ---- UDP ------------------------------------------------------------------ */

static void
dnsc_on_udp(struct ev_io *io, uint32_t events)
{
	struct dnsc_query *q = container_of(io, struct dnsc_query, io);
	unsigned k;
	ssize_t n;
	int rc;

	for (k = 0; k < DNSC_UDP_BURST; k++) {
		n = net_read(io->fd, dnsc_rx, sizeof(dnsc_rx));
		if (n == -EAGAIN) {
			return;
		}
		if (n < 0) { /* ECONNREFUSED: an ICMP port unreachable */
			dnsc_next(q, (int)n);
			return;
		}
		rc = dnsc_msg_parse(dnsc_rx, (size_t)n, &q->q, &q->ans);
		if (rc == -EPROTO) {
			/* not for us: keep waiting for the real answer */
			dnsc.st.ignored++;
			log_debug("dnsc ignored name=%s type=%s len=%zd "
			          "reason=not-an-answer",
			    q->name, dnsc_type_name(q->q.type), n);
			continue;
		}
		if (rc == 0 && q->ans.status == DNSC_S_TRUNCATED) {
			dnsc_tcp_start(q);
			return;
		}
		dnsc_answered(q, rc);
		return;
	}
}

/* A UDP socket on a random local port, connected to the server. */
static int
dnsc_udp_socket(const struct net_addr *srv)
{
	struct net_addr local;
	uint16_t r;
	int fd, i, rc;

	fd = socket(srv->u.sa.sa_family,
	    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	memset(&local, 0, sizeof(local));
	local.u.sa.sa_family = srv->u.sa.sa_family;
	local.len = srv->len;
	for (i = 0; i < DNSC_BIND_TRIES && rand_bytes(&r, sizeof(r)) == 0;
	     i++) {
		uint16_t port = (uint16_t)(1024u + r % (65536u - 1024u));

		if (local.u.sa.sa_family == AF_INET6) {
			local.u.in6.sin6_port = htons(port);
		} else {
			local.u.in4.sin_port = htons(port);
		}
		if (bind(fd, &local.u.sa, local.len) == 0 ||
		    errno != EADDRINUSE) {
			break; /* else the kernel picks one on connect */
		}
	}
	if (connect(fd, &srv->u.sa, srv->len) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static int
dnsc_udp_send(struct dnsc_query *q)
{
	const struct net_addr *srv = dnsc_server(q);
	ssize_t n;
	int fd, len;

	if (rand_bytes(&q->q.id, sizeof(q->q.id)) < 0) {
		return -EIO;
	}
	len = dnsc_msg_query(&q->q, q->msg + 2, sizeof(q->msg) - 2);
	if (len < 0) {
		return len;
	}
	q->msg_len = (uint16_t)len;
	q->msg[0] = (uint8_t)(len >> 8);
	q->msg[1] = (uint8_t)len;
	fd = dnsc_udp_socket(srv);
	if (fd < 0) {
		return fd;
	}
	n = net_write(fd, q->msg + 2, (size_t)len);
	if (n != len || ev_io_start(&q->io, fd, EV_READ, dnsc_on_udp) < 0) {
		net_close(fd);
		return n < 0 ? (int)n : -EIO;
	}
	q->state = DNSC_Q_UDP;
	dnsc.st.sent_udp++;
	return 0;
}

/* Send to the next server, or end the query when the tries are over. */
static void
dnsc_try(struct dnsc_query *q)
{
	uint32_t total = dnsc.conf.attempts * dnsc.conf.nservers;
	char srv[NET_ADDR_TEXT];
	int rc;

	while (q->try_no < total) {
		rc = dnsc_udp_send(q);
		net_addr_fmt(dnsc_server(q), srv, sizeof(srv));
		log_debug("dnsc query name=%s type=%s server=%s try=%u id=%u "
		          "proto=udp%s%s",
		    q->name, dnsc_type_name(q->q.type), srv, q->try_no + 1,
		    q->q.id, rc < 0 ? " error=" : "",
		    rc < 0 ? dnsc_strerror(rc) : "");
		if (rc == 0) {
			ev_timer_start(&q->timer, dnsc_try_timeout(q),
			    dnsc_on_timer);
			return;
		}
		q->err = rc;
		q->try_no++;
	}
	q->state = DNSC_Q_FAILED;
	if (q->err == 0) {
		q->err = DNSC_E_TIMEOUT;
	}
	ev_timer_start(&q->timer, 0, dnsc_on_timer);
}

int
dnsc_query(const char *name, uint16_t type, dnsc_fn fn, struct handle owner,
    uint32_t tag, struct handle *qh)
{
	struct dnsc_question qn;
	struct dnsc_query *q;
	struct handle h;

	if (!dnsc.ready) {
		return -ENOTCONN;
	}
	if (dnsc_question_init(&qn, name, type, 0) < 0) {
		return -EINVAL;
	}
	q = pool_get(&dnsc.queries, &h);
	if (q == NULL) {
		dnsc.st.failed++;
		log_info("dnsc pool empty name=%s", name);
		return -ENOMEM;
	}
	q->io.fd = -1;
	q->timer.heap_idx = 0;
	q->fn = fn;
	q->owner = owner;
	q->tag = tag;
	q->try_no = 0;
	q->err = 0;
	q->q = qn;
	dnsc_name_to_text(qn.wire, qn.wire_len, q->name, sizeof(q->name));
	dnsc.st.queries++;
	if (dnsc_cache_get(&dnsc.cache, ev_now(), q->name, type, &q->ans)) {
		dnsc.st.cache_hits++;
		q->state = DNSC_Q_CACHED;
		ev_timer_start(&q->timer, 0, dnsc_on_timer);
	} else {
		dnsc_try(q);
	}
	if (qh != NULL) {
		*qh = h;
	}
	return 0;
}

void
dnsc_cancel(struct handle h)
{
	struct dnsc_query *q;

	if (!dnsc.ready) {
		return;
	}
	q = pool_find(&dnsc.queries, h);
	if (q != NULL && q->state != DNSC_Q_DONE) {
		dnsc_release(q);
	}
}
