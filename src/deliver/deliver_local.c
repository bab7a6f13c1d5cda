/*
 * deliver_local.c — the local delivery agent: Maildir mailboxes under the
 * drop directory, written by a worker thread.
 *
 * For a job the worker reads the message back from the journal, and for
 * each mailbox its recipients reach writes <mbox>/tmp/<name>, syncs it,
 * renames it into new/ and syncs the directory. The name is derived from
 * the message (arrival time, queue id, host), so a delivery repeated after
 * a crash finds the file already in new/ and does not deliver it twice,
 * and two recipients in one mailbox get one copy. Results go back to the
 * loop through an eventfd.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver/deliver.h"

#define DELIVER_BATCH 32 /* mailboxes open at once */

struct deliver_box {
	char domain[256];
	char mailbox[65];
	int fd;
	int rc;
	bool skip; /* already delivered */
};

struct deliver_work { /* the worker's, for one job */
	struct dsched_job *job;
	char from[256];
	uint64_t arrival;
	uint32_t rcpt_box[CONFIG_SMTPD_RCPT_MAX]; /* mailbox index + 1 */
	struct deliver_box boxes[DELIVER_BATCH];
	uint32_t nboxes;
	uint32_t batch_first; /* recipients from here go in this batch */
	bool header_done;
	char name[128];
};

static struct {
	const char *drop;
	const char *spool;
	char host[64];
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct dsched_job *todo, **todo_tail;
	struct dsched_job *done;
	bool stop;
	bool running;
	struct ev_io io;
	struct deliver_work work;
} dl = { .todo_tail = &dl.todo };

/* snprintf into a PATH_MAX buffer; a path that does not fit is an error */
static int PRINTF_LIKE(2, 3) deliver_pathf(char *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static int
deliver_maildir(const char *domain, const char *mailbox)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	char path[PATH_MAX];
	size_t k;
	int rc = 0;

	for (k = 0; k < ARRAY_SIZE(sub) && rc == 0; k++) {
		rc = deliver_pathf(path, "%s/%s/%s/%s", dl.drop, domain,
		    mailbox, sub[k]);
		if (rc == 0) {
			rc = fs_mkdirs(path);
		}
	}
	return rc;
}

/* ---- the worker ------------------------------------------------------- */

static int
deliver_on_env(void *ctx, const struct queue_envelope *e)
{
	struct deliver_work *w = ctx;

	str_copy(w->from, e->from, sizeof(w->from));
	w->arrival = e->arrival;
	return 0;
}

/* Open (or find) the mailbox of recipient i for this batch. */
static int
deliver_on_rcpt(void *ctx, uint32_t i, const struct queue_rcpt *r)
{
	struct deliver_work *w = ctx;
	struct deliver_box *b;
	char path[PATH_MAX];
	uint32_t k;

	if (i >= w->job->nrcpt || !w->job->want[i] || w->rcpt_box[i] != 0 ||
	    i < w->batch_first) {
		return 0;
	}
	for (k = 0; k < w->nboxes; k++) {
		b = &w->boxes[k];
		if (strcmp(b->domain, r->domain) == 0 &&
		    strcmp(b->mailbox, r->mailbox) == 0) {
			w->rcpt_box[i] = k + 1;
			return 0;
		}
	}
	if (w->nboxes == DELIVER_BATCH) {
		return 0; /* the next pass */
	}
	b = &w->boxes[w->nboxes];
	str_copy(b->domain, r->domain, sizeof(b->domain));
	str_copy(b->mailbox, r->mailbox, sizeof(b->mailbox));
	b->fd = -1;
	b->skip = false;
	w->rcpt_box[i] = ++w->nboxes;
	b->rc = deliver_pathf(path, "%s/%s/%s/new/%s", dl.drop, b->domain,
	    b->mailbox, w->name);
	if (b->rc == 0 && access(path, F_OK) == 0) {
		b->skip = true; /* delivered before a crash */
		return 0;
	}
	if (b->rc == 0) {
		b->rc = deliver_pathf(path, "%s/%s/%s/tmp/%s", dl.drop,
		    b->domain, b->mailbox, w->name);
	}
	if (b->rc == 0) {
		b->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0640);
		if (b->fd < 0 && errno == ENOENT &&
		    deliver_maildir(b->domain, b->mailbox) == 0) {
			/* a mailbox made after start, or its Maildir removed */
			b->fd = open(path,
			    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
		}
		b->rc = b->fd < 0 ? -errno : 0;
	}
	return 0;
}

static int
deliver_on_body(void *ctx, const void *data, size_t n)
{
	struct deliver_work *w = ctx;
	char hdr[300];
	uint32_t k;

	if (!w->header_done) {
		/* RFC 5321 4.4: the final delivery adds Return-Path */
		int len = snprintf(hdr, sizeof(hdr), "Return-Path: <%s>\r\n",
		    w->from);

		w->header_done = true;
		deliver_on_body(ctx, hdr, (size_t)len);
	}
	for (k = 0; k < w->nboxes; k++) {
		struct deliver_box *b = &w->boxes[k];

		if (b->fd >= 0 && b->rc == 0) {
			b->rc = fs_pwrite_all(b->fd, data, n, -1);
		}
	}
	return 0;
}

/* Sync, rename into new/, sync the directories. */
static void
deliver_finish_box(struct deliver_work *w, struct deliver_box *b)
{
	char tmp[PATH_MAX], new[PATH_MAX], dir[PATH_MAX];

	if (b->fd < 0) {
		return;
	}
	if (b->rc == 0 && fsync(b->fd) < 0) {
		b->rc = -errno;
	}
	close(b->fd);
	b->fd = -1;
	if (deliver_pathf(dir, "%s/%s/%s", dl.drop, b->domain, b->mailbox) <
	        0 ||
	    deliver_pathf(tmp, "%s/tmp/%s", dir, w->name) < 0 ||
	    deliver_pathf(new, "%s/new/%s", dir, w->name) < 0) {
		b->rc = -ENAMETOOLONG;
		return;
	}
	if (b->rc == 0 && rename(tmp, new) < 0) {
		b->rc = -errno;
		if (b->rc == -ENOENT &&
		    deliver_maildir(b->domain, b->mailbox) == 0) {
			b->rc = rename(tmp, new) < 0 ? -errno : 0;
		}
	}
	if (b->rc != 0) {
		unlink(tmp);
		return;
	}
	if (deliver_pathf(tmp, "%s/new", dir) == 0) {
		b->rc = fs_sync_dir(tmp);
	}
}

/* One pass: up to DELIVER_BATCH mailboxes; false when all are done. */
static bool
deliver_pass(struct deliver_work *w)
{
	struct queue_reader rd = { w, deliver_on_env, deliver_on_rcpt,
		deliver_on_body };
	struct dsched_job *j = w->job;
	uint32_t i, k;
	int rc;

	w->nboxes = 0;
	w->header_done = false;
	rc = queue_read(dl.spool, &j->span, &rd);
	for (k = 0; k < w->nboxes; k++) {
		if (rc < 0 && w->boxes[k].fd >= 0) {
			close(w->boxes[k].fd);
			w->boxes[k].fd = -1;
			w->boxes[k].rc = rc;
		}
		deliver_finish_box(w, &w->boxes[k]);
	}
	for (i = w->batch_first; i < j->nrcpt; i++) {
		uint32_t b = w->rcpt_box[i];

		if (!j->want[i] || b == 0 || b > w->nboxes) {
			continue;
		}
		if (w->boxes[b - 1].rc == 0) {
			j->result[i] = QUEUE_R_DELIVERED;
		} else {
			j->result[i] = QUEUE_R_DEFERRED;
			snprintf(j->reply, sizeof(j->reply),
			    "maildir %s/%s: %s", w->boxes[b - 1].domain,
			    w->boxes[b - 1].mailbox,
			    strerror(-w->boxes[b - 1].rc));
		}
		w->rcpt_box[i] = UINT32_MAX; /* settled */
	}
	if (rc < 0 && j->reply[0] == '\0') {
		snprintf(j->reply, sizeof(j->reply), "reading the queue: %s",
		    strerror(-rc));
	}
	return w->nboxes == DELIVER_BATCH && rc == 0;
}

static void
deliver_job(struct deliver_work *w, struct dsched_job *j)
{
	uint32_t i;

	w->job = j;
	w->batch_first = 0;
	memset(w->rcpt_box, 0, sizeof(w->rcpt_box[0]) * j->nrcpt);
	for (i = 0; i < j->nrcpt; i++) {
		if (j->want[i]) {
			j->result[i] = QUEUE_R_DEFERRED;
		}
	}
	/* the same name on every attempt: arrival time and queue id */
	w->from[0] = '\0';
	w->arrival = 0;
	snprintf(w->name, sizeof(w->name), "Q%016llx.%s",
	    (unsigned long long)j->span.id, dl.host);
	while (deliver_pass(w)) {
		for (i = 0; i < j->nrcpt && w->rcpt_box[i] != 0; i++) {
			;
		}
		w->batch_first = i;
	}
}

static void *
deliver_main(void *arg)
{
	struct dsched_job *j;
	uint64_t one = 1;

	pthread_mutex_lock(&dl.mu);
	for (;;) {
		while (dl.todo == NULL && !dl.stop) {
			pthread_cond_wait(&dl.cv, &dl.mu);
		}
		if (dl.todo == NULL) {
			break;
		}
		j = dl.todo;
		dl.todo = j->next;
		if (dl.todo == NULL) {
			dl.todo_tail = &dl.todo;
		}
		pthread_mutex_unlock(&dl.mu);
		deliver_job(&dl.work, j);
		pthread_mutex_lock(&dl.mu);
		j->next = dl.done;
		dl.done = j;
		if (write(dl.io.fd, &one, sizeof(one)) < 0) {
			/* cannot overflow */
		}
	}
	pthread_mutex_unlock(&dl.mu);
	return arg;
}

/* ---- the loop side ------------------------------------------------------ */

static void
deliver_submit(struct dsched_job *j)
{
	pthread_mutex_lock(&dl.mu);
	j->next = NULL;
	*dl.todo_tail = j;
	dl.todo_tail = &j->next;
	pthread_cond_signal(&dl.cv);
	pthread_mutex_unlock(&dl.mu);
}

static void
deliver_on_results(struct ev_io *io, uint32_t events)
{
	struct dsched_job *j, *next;
	uint64_t n;

	if (read(io->fd, &n, sizeof(n)) < 0) {
		/* spurious */
	}
	pthread_mutex_lock(&dl.mu);
	j = dl.done;
	dl.done = NULL;
	pthread_mutex_unlock(&dl.mu);
	for (; j != NULL; j = next) {
		next = j->next;
		dsched_done(j);
	}
}

static const struct dsched_agent deliver_local_agent = { "local",
	deliver_submit };

int
deliver_init(const struct conf *c, const struct dsched_agent **agent)
{
	char path[PATH_MAX];
	uint32_t d, m;
	size_t k;
	int rc, fd;

	dl.drop = c->drop;
	dl.spool = c->spool;
	/* Maildir names may not hold "/" or ":" (the info separator) */
	str_copy(dl.host, c->hostname, sizeof(dl.host));
	for (k = 0; dl.host[k] != '\0'; k++) {
		if (dl.host[k] == '/' || dl.host[k] == ':') {
			dl.host[k] = '_';
		}
	}
	rc = deliver_pathf(path, "%s", c->drop);
	if (rc == 0) {
		rc = fs_mkdirs(path);
	}
	for (d = 0; rc == 0 && d < c->ndomains; d++) {
		for (m = 0; rc == 0 && m < c->domains[d].nmailboxes; m++) {
			rc = deliver_maildir(c->domains[d].name,
			    c->domains[d].mailboxes[m]);
		}
	}
	if (rc < 0) {
		return rc;
	}
	pthread_mutex_init(&dl.mu, NULL);
	pthread_cond_init(&dl.cv, NULL);
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0 ||
	    ev_io_start(&dl.io, fd, EPOLLIN, deliver_on_results) < 0) {
		return -errno;
	}
	if (pthread_create(&dl.thread, NULL, deliver_main, NULL) != 0) {
		return -EAGAIN;
	}
	dl.running = true;
	*agent = &deliver_local_agent;
	return 0;
}

void
deliver_fini(void)
{
	if (!dl.running) {
		return;
	}
	pthread_mutex_lock(&dl.mu);
	dl.stop = true;
	pthread_cond_signal(&dl.cv);
	pthread_mutex_unlock(&dl.mu);
	pthread_join(dl.thread, NULL);
	dl.running = false;
}
