/*
 * jrnl_write.c — the journal writer: append buffers filled by the event
 * loop, written and synced by one writer thread, group commit.
 *
 * The loop appends records to the current buffer (a memcpy). A buffer is
 * handed to the writer when it is full, or when a commit wants
 * durability and the writer is idle; while the writer is busy, further
 * commits collect in the next buffer, so one fdatasync covers them all
 * (group commit) and a lone commit still waits only one write and sync.
 * The writer takes every buffer handed to it, writes each at its place in
 * its segment, syncs once, and signals the loop through an eventfd.
 *
 * Why a thread: the loop must never wait for the disk, and write(2) to a
 * file can block (dirty-page throttling) just like fdatasync; a thread is
 * the portable way to keep both off the loop, on kernels without io_uring
 * and under lwIP alike. Segments are created and deleted by the writer
 * too. An I/O error fails the whole batch; its segment is abandoned and
 * never synced again (Linux forgets a failed sync's error), and writing
 * continues in a new segment.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "queue/jrnl.h"

#define JRNL_NBUF 4
#define JRNL_BUF_BYTES ((size_t)CONFIG_QUEUE_BUFFER_KB * 1024u)
#define JRNL_NDEL 256

struct jrnl_buf {
	unsigned char *mem;
	uint64_t seg;
	uint64_t off; /* file offset of mem[0] */
	size_t used;
	uint64_t last_seq; /* 0: no record */
	bool sync; /* a commit waits for this one */
	int rc; /* set by the writer */
};

struct jrnl_shared { /* under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t submitted; /* buffers handed to the writer */
	uint64_t written; /* of those, finished by the writer */
	uint64_t del[JRNL_NDEL];
	unsigned ndel;
	bool stop;
	uint64_t bytes;
	uint64_t syncs;
};

static struct {
	const char *spool;
	struct jrnl_buf bufs[JRNL_NBUF];
	uint64_t acquired; /* buffers taken for filling */
	uint64_t reaped; /* completions handled by the loop */
	struct jrnl_buf *fill;
	uint64_t seg_bytes;
	uint64_t seg; /* where the next record goes */
	uint64_t off;
	uint64_t seq; /* last sequence number handed out */
	uint64_t written_seq; /* written by the writer (maybe not synced) */
	uint64_t durable_seq; /* on stable storage */
	bool want_sync;
	bool force_switch;
	jrnl_durable_fn durable;
	jrnl_space_fn space;
	struct ev_io io;
	pthread_t thread;
	bool running;
	/* writer thread only */
	int wfd;
	uint64_t wseg;
	uint64_t bad_seg; /* abandoned after an error; 0: none */
	struct jrnl_shared sh;
} jrnl = { .wfd = -1 };

int
jrnl_segment_path(char *out, size_t size, const char *spool, uint64_t seg)
{
	int n = snprintf(out, size, "%s/%016llx.seg", spool,
	    (unsigned long long)seg);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* ---- writer thread ---------------------------------------------------- */

/* Finish with the segment being written: synced first unless abandoned. */
static int
jrnl_w_close(void)
{
	int rc = 0;

	if (jrnl.wfd < 0) {
		return 0;
	}
	if (jrnl.wseg != jrnl.bad_seg) {
		rc = jrnl_io_datasync(jrnl.wfd);
	}
	close(jrnl.wfd);
	jrnl.wfd = -1;
	return rc;
}

static int
jrnl_w_open(uint64_t seg)
{
	char path[PATH_MAX];
	int rc, fd;

	rc = jrnl_w_close();
	if (rc < 0) {
		jrnl.bad_seg = jrnl.wseg;
		return rc;
	}
	rc = jrnl_segment_path(path, sizeof(path), jrnl.spool, seg);
	if (rc < 0) {
		return rc;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		return -errno;
	}
	/* preallocated: no size change to journal on every sync */
	rc = posix_fallocate(fd, 0, (off_t)jrnl.seg_bytes);
	if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) {
		close(fd);
		unlink(path);
		return -rc;
	}
	rc = fs_sync_dir(jrnl.spool);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	jrnl.wfd = fd;
	jrnl.wseg = seg;
	return 0;
}

static int
jrnl_w_write(struct jrnl_buf *b)
{
	int rc;

	if (b->seg == jrnl.bad_seg) {
		return -EIO; /* abandoned: nothing more goes there */
	}
	if (jrnl.wfd < 0 || jrnl.wseg != b->seg) {
		rc = jrnl_w_open(b->seg);
		if (rc < 0) {
			return rc;
		}
	}
	rc = jrnl_io_pwrite(jrnl.wfd, b->mem, b->used, b->off);
	if (rc == 0) {
		pthread_mutex_lock(&jrnl.sh.mu);
		jrnl.sh.bytes += b->used;
		pthread_mutex_unlock(&jrnl.sh.mu);
	}
	return rc;
}

static void
jrnl_w_deletes(void)
{
	char path[PATH_MAX];
	uint64_t del[JRNL_NDEL];
	unsigned n, k;

	pthread_mutex_lock(&jrnl.sh.mu);
	n = jrnl.sh.ndel;
	memcpy(del, jrnl.sh.del, sizeof(del[0]) * n);
	jrnl.sh.ndel = 0;
	pthread_mutex_unlock(&jrnl.sh.mu);
	for (k = 0; k < n; k++) {
		if (jrnl_segment_path(path, sizeof(path), jrnl.spool, del[k]) ==
		    0) {
			unlink(path);
		}
	}
}

/* Write buffers [from, to), sync once if any of them asks; one result. */
static int
jrnl_w_batch(uint64_t from, uint64_t to)
{
	bool sync = false;
	uint64_t k;
	int rc = 0;

	for (k = from; k < to && rc == 0; k++) {
		struct jrnl_buf *b = &jrnl.bufs[k % JRNL_NBUF];

		sync |= b->sync;
		rc = jrnl_w_write(b);
	}
	if (rc == 0 && sync) {
		rc = jrnl_io_datasync(jrnl.wfd);
		pthread_mutex_lock(&jrnl.sh.mu);
		jrnl.sh.syncs++;
		pthread_mutex_unlock(&jrnl.sh.mu);
	}
	if (rc < 0 && jrnl.wfd >= 0) {
		jrnl.bad_seg = jrnl.wseg;
	}
	return rc;
}

static void *
jrnl_w_main(void *arg)
{
	uint64_t from, to, k, one = 1;
	int rc;

	pthread_mutex_lock(&jrnl.sh.mu);
	for (;;) {
		while (jrnl.sh.written == jrnl.sh.submitted &&
		    jrnl.sh.ndel == 0 && !jrnl.sh.stop) {
			pthread_cond_wait(&jrnl.sh.cv, &jrnl.sh.mu);
		}
		if (jrnl.sh.stop && jrnl.sh.written == jrnl.sh.submitted) {
			break;
		}
		from = jrnl.sh.written;
		to = jrnl.sh.submitted;
		pthread_mutex_unlock(&jrnl.sh.mu);
		rc = jrnl_w_batch(from, to);
		jrnl_w_deletes();
		pthread_mutex_lock(&jrnl.sh.mu);
		for (k = from; k < to; k++) {
			jrnl.bufs[k % JRNL_NBUF].rc = rc;
		}
		jrnl.sh.written = to;
		if (write(jrnl.io.fd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow in practice */
		}
	}
	pthread_mutex_unlock(&jrnl.sh.mu);
	jrnl_w_close();
	return arg;
}

/* ---- loop side ---------------------------------------------------------- */

static uint64_t
jrnl_free_bufs(void)
{
	return JRNL_NBUF - (jrnl.acquired - jrnl.reaped);
}

static bool
jrnl_writer_idle(void)
{
	bool idle;

	pthread_mutex_lock(&jrnl.sh.mu);
	idle = jrnl.sh.written == jrnl.sh.submitted;
	pthread_mutex_unlock(&jrnl.sh.mu);
	return idle;
}

static void
jrnl_submit(void)
{
	struct jrnl_buf *b = jrnl.fill;

	if (b == NULL || (b->used == 0 && !jrnl.want_sync)) {
		return;
	}
	b->sync = jrnl.want_sync;
	jrnl.want_sync = false;
	jrnl.fill = NULL;
	pthread_mutex_lock(&jrnl.sh.mu);
	jrnl.sh.submitted++;
	pthread_cond_signal(&jrnl.sh.cv);
	pthread_mutex_unlock(&jrnl.sh.mu);
}

static bool
jrnl_take_buffer(void)
{
	struct jrnl_buf *b;

	if (jrnl.fill != NULL) {
		return true;
	}
	if (jrnl_free_bufs() == 0) {
		return false;
	}
	b = &jrnl.bufs[jrnl.acquired++ % JRNL_NBUF];
	b->seg = jrnl.seg;
	b->off = jrnl.off;
	b->used = 0;
	b->last_seq = 0;
	b->sync = false;
	b->rc = 0;
	jrnl.fill = b;
	return true;
}

/* A commit waits: hand over what is filled if the writer is idle. */
static void
jrnl_kick(void)
{
	if (!jrnl.want_sync || !jrnl_writer_idle()) {
		return; /* the reaping of the running batch calls again */
	}
	if (jrnl.durable_seq == jrnl.seq) {
		jrnl.want_sync = false;
		jrnl.durable(jrnl.seq, 0);
		return;
	}
	if (jrnl_take_buffer()) {
		jrnl_submit(); /* perhaps empty: a sync of what was written */
	}
}

static void
jrnl_reap(struct ev_io *io, uint32_t events)
{
	uint64_t n, done;
	bool synced = false;
	int rc = 0;

	if (read(io->fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: a spurious wake-up */
	}
	pthread_mutex_lock(&jrnl.sh.mu);
	done = jrnl.sh.written;
	pthread_mutex_unlock(&jrnl.sh.mu);
	for (; jrnl.reaped < done; jrnl.reaped++) {
		struct jrnl_buf *b = &jrnl.bufs[jrnl.reaped % JRNL_NBUF];

		if (b->rc < 0 && rc == 0) {
			rc = b->rc;
		}
		synced |= b->sync;
		jrnl.written_seq = MAX(jrnl.written_seq, b->last_seq);
	}
	if (rc < 0) {
		log_err("journal write-error=%s segment=%llx abandoned",
		    strerror(-rc), (unsigned long long)jrnl.seg);
		jrnl.force_switch = true;
		jrnl.written_seq = jrnl.durable_seq;
		jrnl.durable(jrnl.durable_seq, rc);
	} else if (synced) {
		jrnl.durable_seq = jrnl.written_seq;
		jrnl.durable(jrnl.durable_seq, 0);
	}
	jrnl_kick();
	jrnl.space();
}

static bool
jrnl_switch_segment(void)
{
	jrnl_submit();
	if (jrnl.fill != NULL) {
		return false;
	}
	jrnl.seg++;
	jrnl.off = 0;
	jrnl.force_switch = false;
	return true;
}

bool
jrnl_room(size_t payload)
{
	size_t rs = jrnl_rec_size(payload);

	if (jrnl.fill != NULL && jrnl.fill->used + rs <= JRNL_BUF_BYTES &&
	    jrnl.off + rs <= jrnl.seg_bytes && !jrnl.force_switch) {
		return true;
	}
	return jrnl_free_bufs() >= 1; /* the filled one goes, a new one comes */
}

int
jrnl_append(uint8_t type, uint8_t flags, uint64_t id, const void *payload,
    size_t len, struct jrnl_pos *pos)
{
	size_t rs = jrnl_rec_size(len);
	struct jrnl_hdr h = { .type = type,
		.flags = flags,
		.len = (uint32_t)len,
		.id = id };
	struct jrnl_buf *b;

	if (rs > JRNL_REC_MAX) {
		return -EMSGSIZE;
	}
	if ((jrnl.force_switch || jrnl.off + rs > jrnl.seg_bytes) &&
	    !jrnl_switch_segment()) {
		return -EAGAIN;
	}
	if (jrnl.fill != NULL && jrnl.fill->used + rs > JRNL_BUF_BYTES) {
		jrnl_submit();
	}
	if (!jrnl_take_buffer()) {
		return -EAGAIN;
	}
	b = jrnl.fill;
	h.seq = ++jrnl.seq;
	jrnl_hdr_fmt(b->mem + b->used, &h, payload);
	if (len > 0) {
		memcpy(b->mem + b->used + JRNL_HDR, payload, len);
	}
	memset(b->mem + b->used + JRNL_HDR + len, 0, rs - JRNL_HDR - len);
	if (pos != NULL) {
		pos->seg = b->seg;
		pos->off = b->off + b->used;
		pos->seq = h.seq;
	}
	b->used += rs;
	b->last_seq = h.seq;
	jrnl.off += rs;
	return 0;
}

void
jrnl_sync(void)
{
	jrnl.want_sync = true;
	jrnl_kick();
}

void
jrnl_segment_release(uint64_t seg)
{
	pthread_mutex_lock(&jrnl.sh.mu);
	if (jrnl.sh.ndel < JRNL_NDEL) {
		jrnl.sh.del[jrnl.sh.ndel++] = seg;
		pthread_cond_signal(&jrnl.sh.cv);
	} else {
		log_warn("journal segment=%llx not deleted now (deletions "
		         "queued: %u); the next start deletes it",
		    (unsigned long long)seg, JRNL_NDEL);
	}
	pthread_mutex_unlock(&jrnl.sh.mu);
}

uint64_t
jrnl_current_segment(void)
{
	return jrnl.seg;
}

void
jrnl_stats(uint64_t *bytes, uint64_t *syncs)
{
	pthread_mutex_lock(&jrnl.sh.mu);
	*bytes = jrnl.sh.bytes;
	*syncs = jrnl.sh.syncs;
	pthread_mutex_unlock(&jrnl.sh.mu);
}

int
jrnl_writer_start(const char *spool, uint64_t seg, uint64_t seq,
    uint64_t seg_bytes, jrnl_durable_fn durable, jrnl_space_fn space)
{
	unsigned k;
	int fd;

	jrnl.spool = spool;
	jrnl.seg_bytes = seg_bytes;
	jrnl.seg = seg;
	jrnl.off = 0;
	jrnl.seq = seq;
	jrnl.written_seq = seq;
	jrnl.durable_seq = seq;
	jrnl.durable = durable;
	jrnl.space = space;
	for (k = 0; k < JRNL_NBUF; k++) {
		jrnl.bufs[k].mem = arena_alloc(JRNL_BUF_BYTES);
	}
	pthread_mutex_init(&jrnl.sh.mu, NULL);
	pthread_cond_init(&jrnl.sh.cv, NULL);
	jrnl_io_init();
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0 || ev_io_start(&jrnl.io, fd, EPOLLIN, jrnl_reap) < 0) {
		return -errno;
	}
	if (pthread_create(&jrnl.thread, NULL, jrnl_w_main, NULL) != 0) {
		return -EAGAIN;
	}
	jrnl.running = true;
	return 0;
}

void
jrnl_writer_stop(void)
{
	if (!jrnl.running) {
		return;
	}
	jrnl.want_sync = true;
	jrnl_submit();
	pthread_mutex_lock(&jrnl.sh.mu);
	jrnl.sh.stop = true;
	pthread_cond_signal(&jrnl.sh.cv);
	pthread_mutex_unlock(&jrnl.sh.mu);
	pthread_join(jrnl.thread, NULL);
	jrnl.running = false;
}
