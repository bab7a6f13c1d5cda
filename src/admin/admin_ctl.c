/*
 * admin_ctl.c — the control socket. A client connects, sends one command
 * line, reads the answer until the server closes. Answers are produced a
 * piece at a time into a small buffer as the socket takes them (a queue
 * list of any length never needs more memory). Connections come from a
 * small fixed pool; the socket is mode 0600 in the spool directory.
 */
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "queue/queue.h"
#include "route/route.h"
#include "smtp/smtp.h"
#include "tls/tls.h"

#define ADMIN_CONNS 4
#define ADMIN_TIMEOUT_MS 10000

enum admin_job { ADMIN_READ, ADMIN_LIST, ADMIN_WRITE_LAST };

struct admin_conn {
	struct ev_io io;
	struct ev_timer timer;
	enum admin_job job;
	uint32_t cursor; /* queue list: the next index slot */
	uint32_t count;
	uint64_t bytes;
	struct buf in, out;
	char inmem[256];
	char outmem[8192];
};

static struct {
	admin_reload_fn reload;
	struct ev_io lio;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct pool conns;
} adm = { .lio = { .fd = -1 } };

static void admin_close(struct admin_conn *a);

static void
admin_time(uint64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0) {
		str_copy(out, "-", size);
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- answers -------------------------------------------------------------- */

struct admin_list_ctx {
	struct admin_conn *a;
	uint32_t skip;
	uint32_t seen;
	bool full;
};

static void
admin_list_one(void *ctx, const struct queue_info *qi)
{
	struct admin_list_ctx *lc = ctx;
	struct admin_conn *a = lc->a;
	char arrived[32], retry[32];

	if (lc->full || lc->seen++ < lc->skip) {
		return;
	}
	if (buf_room(&a->out) < 256) {
		lc->full = true;
		lc->seen--;
		return;
	}
	admin_time(qi->arrival, arrived, sizeof(arrived));
	admin_time(qi->next_retry, retry, sizeof(retry));
	buf_printf(&a->out, "%s %9llu %s %4u/%-4u %s %s\n", qi->id,
	    (unsigned long long)qi->size, arrived, qi->ndone, qi->nrcpt, retry,
	    qi->last_reply[0] != '\0' ? qi->last_reply : "-");
	a->count++;
	a->bytes += qi->size;
}

/* Fill the buffer with the next part of the list; false at the end. */
static bool
admin_list_more(struct admin_conn *a)
{
	struct admin_list_ctx lc = { a, a->cursor, 0, false };

	if (a->cursor == 0) {
		buf_printf(&a->out, "%-16s %9s %-20s %9s %-20s %s\n", "id",
		    "size", "arrived", "done/rcpt", "next-retry", "last-reply");
	}
	queue_foreach(admin_list_one, &lc);
	a->cursor = lc.seen;
	if (lc.full) {
		return true;
	}
	buf_printf(&a->out, "-- %u message%s, %llu bytes\n", a->count,
	    a->count == 1 ? "" : "s", (unsigned long long)a->bytes);
	return false;
}

struct admin_show_ctx {
	struct buf *out;
	const struct queue_msg *m;
	uint32_t shown;
};

static int
admin_show_env(void *ctx, const struct queue_envelope *e)
{
	struct admin_show_ctx *sc = ctx;
	char t[32];

	admin_time(e->arrival, t, sizeof(t));
	buf_printf(sc->out, "from: <%s>\narrived: %s\n", e->from, t);
	if (e->ret != 0 || e->envid[0] != '\0') {
		buf_printf(sc->out, "dsn: ret=%s envid=%s\n",
		    e->ret == 1     ? "full" :
		        e->ret == 2 ? "hdrs" :
		                      "-",
		    e->envid[0] != '\0' ? e->envid : "-");
	}
	return 0;
}

static int
admin_show_rcpt(void *ctx, uint32_t i, const struct queue_rcpt *r)
{
	static const char *const names[] = { "pending", "delivered", "deferred",
		"failed" };
	struct admin_show_ctx *sc = ctx;
	enum queue_rcpt_state st = queue_rcpt_state(sc->m, i);

	if (buf_room(sc->out) < 600) {
		return 1; /* enough for one answer */
	}
	buf_printf(sc->out, "rcpt %u: <%s> mailbox=%s/%s state=%s", i, r->addr,
	    r->domain, r->mailbox, names[st]);
	if (r->notify != 0 || r->orcpt[0] != '\0') {
		static const char *const nn[] = { "never", "success", "failure",
			"delay" };
		const char *sep = "";
		unsigned k;

		buf_printf(sc->out, " notify=");
		for (k = 0; k < ARRAY_SIZE(nn); k++) {
			if (r->notify & (1u << k)) {
				buf_printf(sc->out, "%s%s", sep, nn[k]);
				sep = ",";
			}
		}
		buf_printf(sc->out, "%s orcpt=%.200s", r->notify ? "" : "-",
		    r->orcpt[0] != '\0' ? r->orcpt : "-");
	}
	buf_printf(sc->out, "\n");
	sc->shown++;
	return 0;
}

static void
admin_show(struct admin_conn *a, const char *id)
{
	struct queue_msg *m = queue_find(id);
	struct admin_show_ctx sc = { &a->out, m, 0 };
	struct queue_reader rd = { &sc, admin_show_env, admin_show_rcpt, NULL };
	struct queue_info qi;
	char t[32];
	int rc;

	if (m == NULL) {
		buf_printf(&a->out, "error: no message %s in the queue\n", id);
		return;
	}
	queue_msg_info(m, &qi);
	admin_time(qi.next_retry, t, sizeof(t));
	buf_printf(&a->out,
	    "id: %s\nsize: %llu\nrecipients: %u (%u done)\nattempts: %u\n"
	    "next-retry: %s\nlast-reply: %s\n",
	    qi.id, (unsigned long long)qi.size, qi.nrcpt, qi.ndone, qi.attempts,
	    t, qi.last_reply[0] != '\0' ? qi.last_reply : "-");
	/* an operator's question: a short read of the journal is fine here */
	rc = queue_read(queue_spool(), &qi.span, &rd);
	if (rc < 0) {
		buf_printf(&a->out, "error: reading the journal: %s\n",
		    strerror(-rc));
	} else if (sc.shown < qi.nrcpt) {
		buf_printf(&a->out, "... %u more recipients\n",
		    qi.nrcpt - sc.shown);
	}
}

static void
admin_stats(struct admin_conn *a)
{
	struct queue_stats st;

	queue_get_stats(&st);
	buf_printf(&a->out,
	    "sessions: %u\nqueue-messages: %u\nqueue-segments: %u\n"
	    "journal-bytes-written: %llu\njournal-syncs: %llu\n"
	    "journal-commits: %llu\n",
	    smtpd_sessions_active(), st.messages, st.segments,
	    (unsigned long long)st.bytes_written, (unsigned long long)st.syncs,
	    (unsigned long long)st.commits);
	if (ENABLE_TLS) {
		buf_printf(&a->out, "tls-connections: %u\n", tls_conn_used());
	}
}

static void
admin_command(struct admin_conn *a, char *line)
{
	char *argv[4], *save = NULL, *tok;
	int argc = 0;

	for (tok = strtok_r(line, " \t\r\n", &save); tok != NULL && argc < 4;
	     tok = strtok_r(NULL, " \t\r\n", &save)) {
		argv[argc++] = tok;
	}
	a->job = ADMIN_WRITE_LAST;
	if (argc == 2 && strcmp(argv[0], "queue") == 0 &&
	    strcmp(argv[1], "list") == 0) {
		a->job = ADMIN_LIST;
		if (!admin_list_more(a)) {
			a->job = ADMIN_WRITE_LAST;
		}
	} else if (argc == 3 && strcmp(argv[0], "queue") == 0 &&
	    strcmp(argv[1], "show") == 0) {
		admin_show(a, argv[2]);
	} else if (argc == 2 && strcmp(argv[0], "queue") == 0 &&
	    strcmp(argv[1], "flush") == 0) {
		dsched_flush();
		buf_printf(&a->out,
		    "ok: deferred messages are being retried\n");
	} else if (argc == 1 && strcmp(argv[0], "stats") == 0) {
		admin_stats(a);
	} else if (argc == 1 && strcmp(argv[0], "reload") == 0 &&
	    adm.reload != NULL) {
		(void)adm.reload(&a->out);
	} else {
		buf_printf(&a->out,
		    "error: unknown command (queue list, queue show ID, "
		    "queue flush, stats, reload)\n");
	}
}

/* ---- the connection --------------------------------------------------- */

static void
admin_write(struct admin_conn *a)
{
	ssize_t w;

	for (;;) {
		while (buf_size(&a->out) > 0) {
			w = net_write(a->io.fd, buf_data(&a->out),
			    buf_size(&a->out));
			if (w == -EAGAIN) {
				ev_io_set(&a->io, EPOLLOUT);
				return;
			}
			if (w < 0) {
				admin_close(a);
				return;
			}
			buf_consume(&a->out, (size_t)w);
		}
		if (a->job != ADMIN_LIST) {
			admin_close(a);
			return;
		}
		if (!admin_list_more(a)) {
			a->job = ADMIN_WRITE_LAST;
		}
	}
}

static void
admin_on_io(struct ev_io *io, uint32_t events)
{
	struct admin_conn *a = container_of(io, struct admin_conn, io);
	ssize_t r;
	size_t len;
	char line[256];

	if (a->job != ADMIN_READ) {
		admin_write(a);
		return;
	}
	r = net_read(io->fd, buf_tail(&a->in), buf_room(&a->in));
	if (r == -EAGAIN) {
		return;
	}
	if (r <= 0) {
		admin_close(a);
		return;
	}
	buf_commit(&a->in, (size_t)r);
	len = buf_line_len(&a->in);
	if (len == 0 && buf_room(&a->in) > 0) {
		return;
	}
	len = len == 0 ? buf_size(&a->in) : len;
	memcpy(line, buf_data(&a->in), MIN(len, sizeof(line) - 1));
	line[MIN(len, sizeof(line) - 1)] = '\0';
	admin_command(a, line);
	admin_write(a);
}

static void
admin_on_timer(struct ev_timer *t)
{
	admin_close(container_of(t, struct admin_conn, timer));
}

static void
admin_close(struct admin_conn *a)
{
	int fd = a->io.fd;

	ev_timer_stop(&a->timer);
	ev_io_stop(&a->io);
	net_close(fd);
	pool_put(&adm.conns, a);
}

static void
admin_on_accept(struct ev_io *io, uint32_t events)
{
	struct admin_conn *a;
	int fd;

	while ((fd = accept4(io->fd, NULL, NULL,
	            SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		a = pool_get(&adm.conns, NULL);
		if (a == NULL) {
			(void)net_write(fd, "error: busy\n", 12);
			net_close(fd);
			continue;
		}
		memset(a, 0, offsetof(struct admin_conn, inmem));
		buf_init(&a->in, a->inmem, sizeof(a->inmem));
		buf_init(&a->out, a->outmem, sizeof(a->outmem));
		if (ev_io_start(&a->io, fd, EPOLLIN, admin_on_io) < 0) {
			net_close(fd);
			pool_put(&adm.conns, a);
			continue;
		}
		ev_timer_start(&a->timer, ADMIN_TIMEOUT_MS, admin_on_timer);
	}
}

int
admin_control_path(const struct conf *c, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/control", c->spool);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int
admin_init(const struct conf *c)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, rc;

	pool_init(&adm.conns, "admin-conn", sizeof(struct admin_conn),
	    ADMIN_CONNS);
	rc = admin_control_path(c, adm.path, sizeof(adm.path));
	if (rc < 0) {
		return rc;
	}
	str_copy(sun.sun_path, adm.path, sizeof(sun.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	unlink(adm.path); /* a stale socket of a process gone */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(adm.path, 0600) < 0 || listen(fd, 16) < 0 ||
	    ev_io_start(&adm.lio, fd, EPOLLIN, admin_on_accept) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return 0;
}

void
admin_set_reload(admin_reload_fn fn)
{
	adm.reload = fn;
}

void
admin_fini(void)
{
	int fd = adm.lio.fd;

	if (fd >= 0) {
		ev_io_stop(&adm.lio);
		close(fd);
		unlink(adm.path);
	}
}
