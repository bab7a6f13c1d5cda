/*
 * test_queue_copy.c — the queue running for real on a temporary spool:
 * messages through begin, recipients, body and group commit on the event
 * loop and the writer thread (src/queue/queue_msg.c, jrnl_write.c), read
 * back with queue_read and the body cursor (queue_read.c), and
 * copy-forward of deferred messages (queue_copy.c) so that the old
 * segments they hold can be deleted.
 *
 * Segments are 64 KiB here, so a few messages of 16 KiB move the writer
 * past a couple of segments. The tests run in order on one queue (one
 * queue_init per process): a deferred message D is written first,
 * fillers are written and finished behind it, then queue_gc copies D
 * forward (twice) and the segment it held goes; a second deferred
 * message D2 is placed across a segment boundary and copied too. After
 * each copy the spool is replayed afresh, with jrnl_replay and a callback
 * here and by queue_check in a new process (this program run again with
 * --check: the index can be built once per process); D must be there,
 * once, deferred, with the same envelope, recipients and body, and with
 * its DSN fields (RET, ENVID; NOTIFY, ORCPT) and its delay-notice note.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tu.h"

#include "conf/conf.h"
#include "queue/queue_int.h"

#define QUEUE_T_SEG_BYTES (64u * 1024u)
#define QUEUE_T_ARENA ((size_t)256 << 20)
#define QUEUE_T_WAIT_MS 5000
#define QUEUE_T_SLOTS 256
#define QUEUE_T_D_BODY 10000
#define QUEUE_T_FILL_BODY 16000
#define QUEUE_T_PIECE 4000

static const char *const queue_t_d_rcpts[] = { "one@example.com",
	"two@example.net" };
static const char queue_t_d_reply[] = "451 4.7.1 try again later";

/* A deferred message kept in the queue, and what it must read back as. */
struct queue_t_kept {
	struct queue_msg *m;
	uint64_t id;
	uint64_t arrival;
	uint64_t first_seg; /* where its MSG record is now */
	unsigned char body[QUEUE_T_D_BODY];
};

static struct {
	char spool[PATH_MAX];
	const char *self; /* this program, for --check */
	struct conf conf;
	struct queue_report rep;
	bool committed[QUEUE_T_SLOTS];
	int commit_rc[QUEUE_T_SLOTS];
	uint32_t nslot;
	uint32_t due;
	uint64_t retry; /* when D and D2 are due again */
	struct queue_t_kept d; /* deferred, copied forward twice */
	struct queue_t_kept d2; /* deferred, its records across two segments */
	uint32_t live; /* messages in the queue */
	/* what a condition waits for */
	struct queue_t_kept *want_kept;
	uint32_t want_slot;
	uint64_t want_seg;
	uint64_t want_syncs;
} qt;

/* ---- the event loop, step by step ---------------------------------------- */

static bool (*queue_t_cond)(void);
static uint64_t queue_t_deadline;
static bool queue_t_met;
static struct ev_timer queue_t_timer;

static void
queue_t_tick(struct ev_timer *t)
{
	if (queue_t_cond()) {
		queue_t_met = true;
		ev_break();
	} else if (ev_now() >= queue_t_deadline) {
		ev_break();
	} else {
		ev_timer_start(t, 1, queue_t_tick);
	}
}

/* Run the loop until cond() holds (true) or QUEUE_T_WAIT_MS pass (false). */
static bool
queue_t_run(bool (*cond)(void))
{
	if (cond()) {
		return true;
	}
	queue_t_cond = cond;
	queue_t_met = false;
	queue_t_deadline = ev_now() + QUEUE_T_WAIT_MS;
	ev_timer_start(&queue_t_timer, 1, queue_t_tick);
	assert_int_equal(ev_run(), 0);
	return queue_t_met;
}

static bool
queue_t_is_committed(void)
{
	return qt.committed[qt.want_slot];
}

static bool
queue_t_seg_exists(uint64_t seg)
{
	char path[PATH_MAX];
	struct stat sb;

	assert_int_equal(jrnl_segment_path(path, sizeof(path), qt.spool, seg),
	    0);
	return stat(path, &sb) == 0;
}

static bool
queue_t_seg_gone(void)
{
	return !queue_t_seg_exists(qt.want_seg);
}

static bool
queue_t_copy_settled(void)
{
	return !queue_msg_copying(qt.want_kept->m);
}

static bool
queue_t_synced(void)
{
	struct queue_stats st;

	queue_get_stats(&st);
	return st.syncs >= qt.want_syncs;
}

static bool
queue_t_room(void)
{
	return jrnl_room(QUEUE_T_PIECE);
}

/* Wait until segment seg is deleted. */
static void
queue_t_wait_gone(uint64_t seg)
{
	qt.want_seg = seg;
	if (!queue_t_run(queue_t_seg_gone)) {
		fail_msg("segment %llx still there after %d ms",
		    (unsigned long long)seg, QUEUE_T_WAIT_MS);
	}
}

/*
 * Make what was appended since the last sync durable (a DONE record):
 * only when something was (else there is no sync to wait for).
 */
static void
queue_t_flush(void)
{
	struct queue_stats st;

	queue_get_stats(&st);
	qt.want_syncs = st.syncs + 1;
	jrnl_sync();
	assert_true(queue_t_run(queue_t_synced));
}

/* ---- callbacks ----------------------------------------------------------- */

static void
queue_t_committed(struct handle h, int rc)
{
	assert_true(h.slot < QUEUE_T_SLOTS);
	assert_false(qt.committed[h.slot]);
	qt.committed[h.slot] = true;
	qt.commit_rc[h.slot] = rc;
}

static void
queue_t_due(struct queue_msg *m)
{
	qt.due++;
}

static bool
queue_t_busy_none(uint64_t id)
{
	return false;
}

static bool
queue_t_busy_all(uint64_t id)
{
	return true;
}

/* ---- writing messages ---------------------------------------------------- */

static void
queue_t_pattern(unsigned char *p, size_t n, uint32_t seed)
{
	size_t k;

	for (k = 0; k < n; k++) {
		p[k] = (unsigned char)((k * 31u + seed * 7u + (k >> 8)) & 0xff);
	}
	if (n >= 2) {
		p[n - 2] = '\r';
		p[n - 1] = '\n';
	}
}

/* A whole message, committed and durable; returns its index entry. */
static struct queue_msg *
queue_t_send(const char *from, const char *const *rcpts, uint32_t nrcpt,
    const unsigned char *body, size_t len)
{
	struct queue_env env = { from, "client.example", "192.0.2.7", "mx", len,
		0, false, 2, "env-D" };
	struct queue_dsn dsn = { QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE,
		"rfc822;One@example.com" };
	struct handle h = { qt.nslot, 1 };
	struct queue_msg *m;
	size_t off, n;
	uint32_t i;

	assert_true(qt.nslot < QUEUE_T_SLOTS);
	qt.nslot++;
	assert_true(queue_t_run(queue_t_room));
	assert_int_equal(queue_msg_begin(&env, &m), 0);
	for (i = 0; i < nrcpt; i++) {
		const char *at = strchr(rcpts[i], '@');

		assert_int_equal(queue_msg_rcpt_dsn(m, rcpts[i], at + 1,
		                     i == 0 ? "one" : "", i == 0 ? &dsn : NULL),
		    0);
	}
	for (off = 0; off < len; off += n) {
		n = MIN(QUEUE_T_PIECE, len - off);
		assert_true(queue_t_run(queue_t_room));
		assert_int_equal(queue_msg_body(m, body + off, n), 0);
	}
	assert_int_equal(queue_msg_commit(m, h, queue_t_committed), 0);
	qt.want_slot = h.slot;
	if (!queue_t_run(queue_t_is_committed)) {
		fail_msg("commit of message %u not durable after %d ms", h.slot,
		    QUEUE_T_WAIT_MS);
	}
	assert_int_equal(qt.commit_rc[h.slot], 0);
	return m;
}

/* A message of len body bytes, delivered at once and done. */
static void
queue_t_filler(size_t len, struct queue_span *sp)
{
	static const char *const rcpt[] = { "fill@example.org" };
	static unsigned char body[QUEUE_T_FILL_BODY];
	struct queue_msg *m;

	assert_true(len <= sizeof(body));
	queue_t_pattern(body, len, qt.nslot);
	m = queue_t_send("filler@example.org", rcpt, 1, body, len);
	if (sp != NULL) {
		queue_msg_span(m, sp);
	}
	assert_int_equal(queue_msg_result(m, 0, QUEUE_R_DELIVERED, "delivered",
	                     0),
	    0);
	queue_msg_done(m);
}

/* Fillers until the writer is at segment seg or later. */
static void
queue_t_fill_to(uint64_t seg)
{
	int k;

	for (k = 0; k < 100 && jrnl_current_segment() < seg; k++) {
		queue_t_filler(QUEUE_T_FILL_BODY, NULL);
	}
	assert_true(jrnl_current_segment() >= seg);
}

/* ---- reading back -------------------------------------------------------- */

struct queue_t_read {
	char from[256];
	char envid[101];
	uint8_t ret;
	uint64_t arrival;
	uint64_t size_hint;
	uint32_t nrcpt;
	struct queue_rcpt rcpt[4];
	unsigned char body[QUEUE_T_D_BODY + 1];
	size_t len;
	bool overflow;
};

static int
queue_t_read_env(void *ctx, const struct queue_envelope *e)
{
	struct queue_t_read *r = ctx;

	str_copy(r->from, e->from, sizeof(r->from));
	str_copy(r->envid, e->envid, sizeof(r->envid));
	r->ret = e->ret;
	r->arrival = e->arrival;
	r->size_hint = e->size_hint;
	return 0;
}

static int
queue_t_read_rcpt(void *ctx, uint32_t i, const struct queue_rcpt *rc)
{
	struct queue_t_read *r = ctx;

	assert_int_equal(i, r->nrcpt);
	if (r->nrcpt < ARRAY_SIZE(r->rcpt)) {
		r->rcpt[r->nrcpt] = *rc;
	}
	r->nrcpt++;
	return 0;
}

static int
queue_t_read_body(void *ctx, const void *data, size_t n)
{
	struct queue_t_read *r = ctx;

	if (n > sizeof(r->body) - r->len) {
		r->overflow = true;
		return -1;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	return 0;
}

/* The body through the cursor, as the relay client reads it. */
static void
queue_t_check_cursor(const struct queue_t_kept *k, const struct queue_span *sp)
{
	static unsigned char body[QUEUE_T_D_BODY];
	struct queue_cursor c;
	const void *p;
	size_t n, len = 0;
	int r;

	assert_int_equal(queue_cursor_open(&c, sp), 0);
	while ((r = queue_cursor_next(&c, &p, &n)) == 1) {
		assert_true(n <= sizeof(body) - len);
		memcpy(body + len, p, n);
		len += n;
	}
	assert_int_equal(r, 0);
	assert_int_equal(queue_cursor_next(&c, &p, &n), 0);
	queue_cursor_close(&c);
	tu_assert_mem_eq((const char *)body, len, (const char *)k->body,
	    sizeof(k->body));
}

/* queue_read (and the cursor) of a kept message give what was written. */
static void
queue_t_check_content(const struct queue_t_kept *k)
{
	static struct queue_t_read r;
	struct queue_reader rd = { &r, queue_t_read_env, queue_t_read_rcpt,
		queue_t_read_body };
	struct queue_span sp;
	uint32_t i;

	memset(&r, 0, sizeof(r));
	queue_msg_span(k->m, &sp);
	assert_int_equal(queue_read(qt.spool, &sp, &rd), 0);
	assert_string_equal(r.from, "sender@example.org");
	assert_int_equal(r.ret, 2);
	assert_string_equal(r.envid, "env-D");
	assert_int_equal(r.rcpt[0].notify,
	    QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE);
	assert_string_equal(r.rcpt[0].orcpt, "rfc822;One@example.com");
	assert_int_equal(r.rcpt[1].notify, 0);
	assert_string_equal(r.rcpt[1].orcpt, "");
	assert_true(r.arrival == k->arrival);
	assert_true(r.size_hint == QUEUE_T_D_BODY);
	assert_int_equal(r.nrcpt, 2);
	for (i = 0; i < 2; i++) {
		const char *at = strchr(queue_t_d_rcpts[i], '@');

		assert_string_equal(r.rcpt[i].addr, queue_t_d_rcpts[i]);
		assert_string_equal(r.rcpt[i].domain, at + 1);
		assert_string_equal(r.rcpt[i].mailbox, i == 0 ? "one" : "");
	}
	assert_false(r.overflow);
	tu_assert_mem_eq((const char *)r.body, r.len, (const char *)k->body,
	    sizeof(k->body));
	queue_t_check_cursor(k, &sp);
}

/* The index entry as it stands after the results. */
static void
queue_t_check_state(const struct queue_t_kept *k)
{
	struct queue_info qi;

	queue_msg_info(k->m, &qi);
	assert_int_equal(queue_msg_nrcpt(k->m), 2);
	assert_int_equal(queue_rcpt_state(k->m, 0), QUEUE_R_DEFERRED);
	assert_int_equal(queue_rcpt_state(k->m, 1), QUEUE_R_DELIVERED);
	assert_false(queue_rcpt_relay(k->m, 0)); /* a local mailbox */
	assert_true(queue_rcpt_relay(k->m, 1));
	assert_int_equal(qi.ndone, 1);
	assert_int_equal(qi.attempts, 1);
	assert_true(qi.size == QUEUE_T_D_BODY);
	assert_true(qi.arrival == k->arrival);
	assert_true(qi.next_retry == qt.retry);
	assert_string_equal(qi.last_reply, queue_t_d_reply);
	assert_false(queue_msg_copying(k->m));
	assert_ptr_equal(queue_lookup(k->id), k->m);
	assert_int_equal(queue_msg_dsn_flags(k->m),
	    QUEUE_DSN_SUCCESS | QUEUE_DSN_DELAYED);
}

/* ---- a fresh replay of the spool ----------------------------------------- */

struct queue_t_replay {
	uint64_t id;
	uint32_t msgs, msg_copy, rcpts, commits, results, dones, notes;
	uint64_t body;
	uint64_t first_seg;
	uint8_t st[2];
	uint64_t retry;
};

/* The records of one message (an emulation of what recovery keeps). */
static void
queue_t_replay_rec(void *ctx, uint64_t seg, uint64_t off,
    const struct jrnl_hdr *h, const unsigned char *payload)
{
	struct queue_t_replay *r = ctx;
	struct jrnl_dec d = { payload, h->len, 0, false };
	uint32_t i;
	uint8_t st;

	if (h->id != r->id) {
		return;
	}
	switch (h->type) {
	case JRNL_MSG:
		r->msgs++;
		r->msg_copy += (h->flags & JRNL_F_COPY) != 0;
		if (r->first_seg == 0) {
			r->first_seg = seg;
		}
		break;
	case JRNL_RCPT:
		r->rcpts++;
		break;
	case JRNL_BODY:
		r->body += h->len;
		break;
	case JRNL_COMMIT:
		r->commits++;
		break;
	case JRNL_RESULT:
		r->results++;
		i = jrnl_get32(&d);
		st = jrnl_get8(&d);
		assert_false(d.bad);
		assert_true(i < 2);
		r->st[i] = st;
		if (st == QUEUE_R_DEFERRED) {
			r->retry = jrnl_get64(&d);
		}
		break;
	case JRNL_DONE:
		r->dones++;
		break;
	case JRNL_NOTE:
		r->notes++;
		assert_int_equal(jrnl_get8(&d), JRNL_NOTE_DELAY);
		break;
	}
}

/*
 * jrnl_replay of the live spool (everything appended is on disk: the
 * last thing appended was synced): the copy alone is left of k.
 */
static void
queue_t_replay_kept(const struct queue_t_kept *k)
{
	struct queue_t_replay r;
	struct jrnl_replay rp = { &r, queue_t_replay_rec };
	struct queue_report rep;
	uint64_t nseg, nseq;

	memset(&r, 0, sizeof(r));
	r.id = k->id;
	assert_int_equal(jrnl_replay(qt.spool, false, &rp, &rep, &nseg, &nseq),
	    0);
	assert_int_equal(rep.bad_records, 0);
	assert_int_equal(rep.torn, 0);
	assert_true(nseg == jrnl_current_segment() + 1);
	assert_int_equal(r.msgs, 1);
	assert_int_equal(r.msg_copy, 1);
	assert_true(r.first_seg == k->first_seg);
	assert_int_equal(r.rcpts, 2);
	assert_true(r.body == QUEUE_T_D_BODY);
	assert_int_equal(r.commits, 1);
	assert_int_equal(r.dones, 0);
	assert_true(r.notes >= 1); /* the copy restates it */
	assert_int_equal(r.st[0], QUEUE_R_DEFERRED);
	assert_int_equal(r.st[1], QUEUE_R_DELIVERED);
	assert_true(r.retry == qt.retry);
}

/* What queue_check in a new process says about the spool and message id. */
struct queue_t_check {
	int rc;
	struct queue_report rep;
	bool found;
	uint8_t state;
	uint8_t st[2];
	bool relay[2];
	unsigned dsn;
	struct queue_info qi;
};

/* The --check mode: a fresh process, the result on stdout. */
static int
queue_t_check_main(const char *spool, const char *idtext)
{
	struct queue_t_check res;
	struct queue_msg *m;

	memset(&res, 0, sizeof(res));
	if (arena_init(QUEUE_T_ARENA) < 0) {
		return 2;
	}
	res.rc = queue_check(spool, &res.rep, false);
	m = res.rc == 0 ? queue_find(idtext) : NULL;
	if (m != NULL) {
		res.found = true;
		res.state = m->state;
		res.st[0] = (uint8_t)queue_rcpt_state(m, 0);
		res.st[1] = (uint8_t)queue_rcpt_state(m, 1);
		res.relay[0] = queue_rcpt_relay(m, 0);
		res.relay[1] = queue_rcpt_relay(m, 1);
		res.dsn = queue_msg_dsn_flags(m);
		queue_msg_info(m, &res.qi);
	}
	return fwrite(&res, sizeof(res), 1, stdout) == 1 ? 0 : 3;
}

static void
queue_t_check(uint64_t id, struct queue_t_check *res)
{
	char idtext[QUEUE_ID_TEXT];
	int fds[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	snprintf(idtext, sizeof(idtext), "%016llx", (unsigned long long)id);
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl(qt.self, qt.self, "--check", qt.spool, idtext,
		    (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (got < sizeof(*res) &&
	    (n = read(fds[0], (char *)res + got, sizeof(*res) - got)) > 0) {
		got += (size_t)n;
	}
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fail_msg("%s --check: status %#x", qt.self, status);
	}
	assert_int_equal(got, sizeof(*res));
	assert_int_equal(res->rc, 0);
}

/* k as the new process sees it: live, deferred, the same span. */
static void
queue_t_check_fresh(const struct queue_t_kept *k)
{
	struct queue_t_check res;
	struct queue_span sp;

	queue_t_check(k->id, &res);
	assert_int_equal(res.rep.bad_records, 0);
	assert_int_equal(res.rep.torn, 0);
	assert_int_equal(res.rep.messages, qt.live);
	assert_int_equal(res.rep.dropped, 0);
	assert_true(res.found);
	assert_int_equal(res.state, QMSG_LIVE);
	assert_int_equal(res.st[0], QUEUE_R_DEFERRED);
	assert_int_equal(res.st[1], QUEUE_R_DELIVERED);
	assert_false(res.relay[0]);
	assert_true(res.relay[1]);
	assert_int_equal(res.dsn, QUEUE_DSN_SUCCESS | QUEUE_DSN_DELAYED);
	assert_int_equal(res.qi.nrcpt, 2);
	assert_int_equal(res.qi.ndone, 1);
	assert_true(res.qi.size == QUEUE_T_D_BODY);
	assert_true(res.qi.arrival == k->arrival);
	assert_true(res.qi.next_retry == qt.retry);
	assert_string_equal(res.qi.last_reply, queue_t_d_reply);
	queue_msg_span(k->m, &sp);
	assert_true(res.qi.span.seg_first == sp.seg_first);
	assert_true(res.qi.span.off_first == sp.off_first);
	assert_true(res.qi.span.seg_last == sp.seg_last);
	assert_true(res.qi.span.off_end == sp.off_end);
}

/* A kept message: written, durable, then deferred as dsched_done does. */
static void
queue_t_keep(struct queue_t_kept *k, uint32_t seed)
{
	struct queue_info qi;
	struct queue_span sp;

	queue_t_pattern(k->body, sizeof(k->body), seed);
	k->m = queue_t_send("sender@example.org", queue_t_d_rcpts, 2, k->body,
	    sizeof(k->body));
	k->id = queue_msg_id(k->m);
	queue_msg_info(k->m, &qi);
	k->arrival = qi.arrival;
	queue_msg_span(k->m, &sp);
	k->first_seg = sp.seg_first;
	qt.live++;
	queue_t_check_content(k);
	assert_int_equal(queue_msg_result(k->m, 0, QUEUE_R_DEFERRED,
	                     queue_t_d_reply, qt.retry),
	    0);
	assert_int_equal(queue_msg_result(k->m, 1, QUEUE_R_DELIVERED,
	                     "delivered", 0),
	    0);
	queue_msg_retry_at(k->m, qt.retry);
	assert_int_equal(queue_msg_delay_noted(k->m), 0);
	queue_t_check_state(k);
}

/* Copy forward whatever the oldest segment holds until k has moved on. */
static void
queue_t_copy(struct queue_t_kept *k)
{
	uint64_t old = k->first_seg, now = (uint64_t)time(NULL);
	struct queue_span sp;
	int round;

	for (round = 0; round < 8 && k->first_seg == old; round++) {
		queue_gc(now, queue_t_busy_none);
		qt.want_kept = &qt.d;
		assert_true(queue_t_run(queue_t_copy_settled));
		if (qt.d2.m != NULL) {
			qt.want_kept = &qt.d2;
			assert_true(queue_t_run(queue_t_copy_settled));
		}
		queue_msg_span(k->m, &sp);
		k->first_seg = sp.seg_first;
	}
	if (k->first_seg == old) {
		fail_msg("message still at segment %llx after %d rounds of gc",
		    (unsigned long long)old, round);
	}
	if (qt.d2.m != NULL && k != &qt.d2) {
		queue_msg_span(qt.d2.m, &sp);
		qt.d2.first_seg = sp.seg_first;
	}
	if (k != &qt.d) {
		queue_msg_span(qt.d.m, &sp);
		qt.d.first_seg = sp.seg_first;
	}
}

/* ---- the tests, in order ------------------------------------------------- */

static int
queue_t_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(qt.spool, sizeof(qt.spool), "%s/tern-queue-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(qt.spool) == NULL || arena_init(QUEUE_T_ARENA) < 0 ||
	    ev_init(16) < 0) {
		return -1;
	}
	qt.conf.spool = qt.spool;
	qt.conf.queue.segment_bytes = QUEUE_T_SEG_BYTES;
	qt.conf.queue.retry_ms[0] = 60000;
	qt.conf.queue.nretry = 1;
	qt.conf.queue.expire_ms = 5ull * 86400 * 1000;
	qt.retry = (uint64_t)time(NULL) + 3600;
	queue_set_due(queue_t_due);
	return queue_init(&qt.conf, &qt.rep) < 0 ? -1 : 0;
}

static int
queue_t_teardown(void **state)
{
	char path[PATH_MAX];
	uint64_t seg;

	queue_fini();
	for (seg = 1; seg <= jrnl_current_segment() + 1; seg++) {
		if (jrnl_segment_path(path, sizeof(path), qt.spool, seg) == 0) {
			unlink(path);
		}
	}
	return rmdir(qt.spool) < 0 ? -1 : 0;
}

/* A fresh spool: nothing recovered, the writer starts at segment 1. */
static void
test_start(void **state)
{
	struct queue_stats st;

	assert_int_equal(qt.rep.segments, 0);
	assert_int_equal(qt.rep.records, 0);
	assert_int_equal(qt.rep.messages, 0);
	assert_int_equal(qt.rep.dropped, 0);
	assert_true(jrnl_current_segment() == 1);
	assert_string_equal(queue_spool(), qt.spool);
	queue_get_stats(&st);
	assert_int_equal(st.messages, 0);
}

/* D: two recipients, 10000 bytes of body; durable, due, read back. */
static void
test_commit_read_back(void **state)
{
	struct queue_stats st;
	struct queue_span sp;
	uint32_t due = qt.due;

	queue_t_keep(&qt.d, 4242);
	assert_int_equal(qt.due, due + 1);
	assert_ptr_equal(queue_find(queue_msg_idtext(qt.d.m)), qt.d.m);
	queue_msg_span(qt.d.m, &sp);
	assert_true(sp.seg_first == 1);
	assert_true(sp.off_first == 0);
	assert_true(sp.seg_last == 1);
	queue_get_stats(&st);
	assert_int_equal(st.messages, 1);
	assert_true(st.commits >= 1);
	assert_true(st.syncs >= 1);
}

/*
 * Fillers carry the writer to segment 4; D holds segment 1, and segments
 * go oldest first, so 2 and 3 wait behind it.
 */
static void
test_fill(void **state)
{
	struct queue_stats st;

	queue_t_fill_to(4);
	assert_true(queue_t_seg_exists(1));
	assert_true(queue_t_seg_exists(2));
	assert_true(queue_t_seg_exists(3));
	queue_get_stats(&st);
	assert_int_equal(st.messages, 1);
	queue_t_check_state(&qt.d);
}

/* Busy, or due by then: not copied. */
static void
test_gc_leaves(void **state)
{
	uint64_t now = (uint64_t)time(NULL);

	queue_gc(now, queue_t_busy_all);
	assert_false(queue_msg_copying(qt.d.m));
	queue_gc(qt.retry, queue_t_busy_none);
	assert_false(queue_msg_copying(qt.d.m));
	queue_gc(qt.retry + 1, queue_t_busy_none);
	assert_false(queue_msg_copying(qt.d.m));
	assert_true(queue_t_seg_exists(1));
}

/* Copied forward: segment 1 goes, D reads back the same. */
static void
test_copy_forward(void **state)
{
	uint64_t cur = jrnl_current_segment();

	queue_gc((uint64_t)time(NULL), queue_t_busy_none);
	assert_true(queue_msg_copying(qt.d.m));
	qt.want_kept = &qt.d;
	if (!queue_t_run(queue_t_copy_settled)) {
		fail_msg("copy not durable after %d ms", QUEUE_T_WAIT_MS);
	}
	queue_t_wait_gone(1);
	queue_t_wait_gone(2); /* no longer behind segment 1 */
	queue_t_wait_gone(3);
	{
		struct queue_span sp;

		queue_msg_span(qt.d.m, &sp);
		assert_true(sp.seg_first >= cur);
		assert_true(sp.seg_last >= sp.seg_first);
		qt.d.first_seg = sp.seg_first;
	}
	queue_t_check_state(&qt.d);
	queue_t_check_content(&qt.d);
}

/* A fresh replay finds the copy alone, deferred, and so does queue_check. */
static void
test_replay_after_copy(void **state)
{
	queue_t_replay_kept(&qt.d);
	queue_t_check_fresh(&qt.d);
}

/* The copy is copied again once its own segment is the oldest. */
static void
test_copy_again(void **state)
{
	uint64_t old = qt.d.first_seg;

	queue_t_fill_to(old + 3);
	assert_true(queue_t_seg_exists(old));
	queue_t_copy(&qt.d);
	queue_t_wait_gone(old);
	queue_t_check_state(&qt.d);
	queue_t_check_content(&qt.d);
	queue_t_replay_kept(&qt.d);
	queue_t_check_fresh(&qt.d);
}

/*
 * D2 begins a few KB before the end of a segment, so its records run
 * into the next one; read back across the two, copied forward, read back.
 */
static void
test_copy_across_segments(void **state)
{
	struct queue_span sp;
	uint64_t first, last;
	int k;

	/* small fillers until the segment has less than D2 left */
	for (k = 0; k < 200; k++) {
		queue_t_filler(1000, &sp);
		if (sp.seg_last == jrnl_current_segment() &&
		    sp.off_end > QUEUE_T_SEG_BYTES - 6000) {
			break;
		}
	}
	queue_t_keep(&qt.d2, 777);
	queue_msg_span(qt.d2.m, &sp);
	first = sp.seg_first;
	last = sp.seg_last;
	if (first == last) {
		fail_msg("D2 within segment %llx (%llu..%llu)",
		    (unsigned long long)first, (unsigned long long)sp.off_first,
		    (unsigned long long)sp.off_end);
	}
	queue_t_fill_to(last + 3);
	queue_t_copy(&qt.d2);
	assert_true(qt.d2.first_seg > last);
	queue_t_wait_gone(first);
	queue_t_wait_gone(last);
	queue_t_check_state(&qt.d2);
	queue_t_check_content(&qt.d2);
	queue_t_check_state(&qt.d);
	queue_t_check_content(&qt.d);
	queue_t_replay_kept(&qt.d2);
	queue_t_replay_kept(&qt.d);
	queue_t_check_fresh(&qt.d2);
	queue_t_check_fresh(&qt.d);
}

/* D and D2 delivered at last and done: every segment behind the writer goes. */
static void
test_done_releases(void **state)
{
	struct queue_t_check res;
	uint64_t seg;

	queue_t_fill_to(jrnl_current_segment() + 1);
	assert_int_equal(queue_msg_result(qt.d.m, 0, QUEUE_R_DELIVERED,
	                     "delivered", 0),
	    0);
	queue_msg_done(qt.d.m);
	qt.d.m = NULL;
	assert_int_equal(queue_msg_result(qt.d2.m, 0, QUEUE_R_DELIVERED,
	                     "delivered", 0),
	    0);
	queue_msg_done(qt.d2.m);
	qt.d2.m = NULL;
	qt.live = 0;
	assert_null(queue_lookup(qt.d.id));
	assert_null(queue_lookup(qt.d2.id));
	queue_t_flush();
	for (seg = 1; seg < jrnl_current_segment(); seg++) {
		queue_t_wait_gone(seg);
	}
	queue_t_check(qt.d.id, &res);
	assert_int_equal(res.rep.messages, 0);
	assert_int_equal(res.rep.dropped, 0);
	assert_false(res.found);
}

int
main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start),
		cmocka_unit_test(test_commit_read_back),
		cmocka_unit_test(test_fill),
		cmocka_unit_test(test_gc_leaves),
		cmocka_unit_test(test_copy_forward),
		cmocka_unit_test(test_replay_after_copy),
		cmocka_unit_test(test_copy_again),
		cmocka_unit_test(test_copy_across_segments),
		cmocka_unit_test(test_done_releases),
	};
	static char self[PATH_MAX];
	ssize_t n;

	if (argc == 4 && strcmp(argv[1], "--check") == 0) {
		return queue_t_check_main(argv[2], argv[3]);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		return 1;
	}
	self[n] = '\0';
	qt.self = self;
	return cmocka_run_group_tests_name("queue_copy", tests, queue_t_setup,
	    queue_t_teardown);
}
