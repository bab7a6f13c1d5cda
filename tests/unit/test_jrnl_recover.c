/*
 * test_jrnl_recover.c — replaying the journal (src/queue/jrnl_recover.c)
 * and what the queue makes of it (queue_check, queue_init's recovery in
 * src/queue/queue_msg.c and qidx.c).
 *
 * Journals are built here record by record (jrnl_hdr_fmt) into segment
 * files NNNNNNNNNNNNNNNN.seg of a mkdtemp directory, with a tail of zeros
 * as the writer's preallocation leaves. Replay is then checked against
 * what was built: which records it reports (each compared byte for byte
 * with the one written), the report, next_seg and next_seq. The last
 * segment is cut at every length and overwritten with garbage from every
 * offset: only whole valid records before the damage may be reported, a
 * torn tail is counted and, with fix, cut off, and a second run (an
 * interrupted recovery run again) sees the same and nothing torn. Damage
 * in an older segment is skipped and counted.
 *
 * queue_check() and queue_init() take the index from the arena once per
 * process, so each of those cases runs in a forked child that reports
 * back through a pipe.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tu.h"

#include "conf/conf.h"
#include "queue/queue_int.h"

#define JRNL_T_SEG_BYTES 16384
#define JRNL_T_NREC 64
#define JRNL_T_TAIL 128 /* zeros after the records (preallocation) */
#define JRNL_T_ARENA ((size_t)256 << 20)

/* message ids of the built journals */
#define JRNL_T_A 0x0005f1e2d3c4b5a1ULL /* committed, two recipients */
#define JRNL_T_B 0x0005f1e2d3c4b5b2ULL /* committed, delivered, done */
#define JRNL_T_C 0x0005f1e2d3c4b5c3ULL /* never committed */
#define JRNL_T_D 0x0005f1e2d3c4b5d4ULL /* committed, in an older segment */

struct jrnl_t_rec {
	size_t off;
	struct jrnl_hdr h;
};

/* One segment as built: its bytes and its records. */
struct jrnl_t_seg {
	uint64_t no;
	unsigned char buf[JRNL_T_SEG_BYTES];
	size_t len; /* where the records end */
	size_t size; /* the file: records and zeros */
	struct jrnl_t_rec rec[JRNL_T_NREC];
	size_t nrec;
};

static uint64_t jrnl_t_seq; /* last sequence number handed out */

/* ---- building journals --------------------------------------------------- */

static void
jrnl_t_seg_init(struct jrnl_t_seg *s, uint64_t no)
{
	memset(s, 0, sizeof(*s));
	s->no = no;
}

/* Append one record; returns its index in s->rec. */
static size_t
jrnl_t_add(struct jrnl_t_seg *s, uint8_t type, uint8_t flags, uint64_t id,
    const void *payload, size_t len)
{
	struct jrnl_t_rec *r = &s->rec[s->nrec];
	size_t rs = jrnl_rec_size(len);

	assert_true(s->nrec < JRNL_T_NREC);
	assert_true(s->len + rs + JRNL_T_TAIL <= sizeof(s->buf));
	memset(&r->h, 0, sizeof(r->h));
	r->h.type = type;
	r->h.flags = flags;
	r->h.len = (uint32_t)len;
	r->h.seq = ++jrnl_t_seq;
	r->h.id = id;
	r->off = s->len;
	jrnl_hdr_fmt(s->buf + s->len, &r->h, payload);
	if (len > 0) {
		memcpy(s->buf + s->len + JRNL_HDR, payload, len);
	}
	s->len += rs;
	s->size = s->len + JRNL_T_TAIL;
	return s->nrec++;
}

static size_t
jrnl_t_msg(struct jrnl_t_seg *s, uint64_t id, uint8_t flags, uint64_t arrival,
    const char *from)
{
	unsigned char buf[512];
	struct jrnl_enc e = { buf, 0, sizeof(buf), false };

	jrnl_put64(&e, arrival);
	jrnl_put64(&e, 0); /* SIZE= */
	jrnl_put8(&e, 0); /* body */
	jrnl_put8(&e, 0); /* smtputf8 */
	jrnl_putstr(&e, from);
	jrnl_putstr(&e, "client.example");
	jrnl_putstr(&e, "192.0.2.7");
	jrnl_putstr(&e, "mx");
	assert_false(e.overflow);
	return jrnl_t_add(s, JRNL_MSG, flags, id, buf, e.len);
}

static size_t
jrnl_t_rcpt(struct jrnl_t_seg *s, uint64_t id, uint32_t i, const char *addr)
{
	unsigned char buf[600];
	struct jrnl_enc e = { buf, 0, sizeof(buf), false };
	const char *at = strchr(addr, '@');

	jrnl_put32(&e, i);
	jrnl_putstr(&e, addr);
	jrnl_putstr(&e, at != NULL ? at + 1 : "");
	jrnl_putstr(&e, i == 0 ? "box" : ""); /* the first one is local */
	assert_false(e.overflow);
	return jrnl_t_add(s, JRNL_RCPT, 0, id, buf, e.len);
}

static size_t
jrnl_t_body(struct jrnl_t_seg *s, uint64_t id, const char *text)
{
	return jrnl_t_add(s, JRNL_BODY, 0, id, text, strlen(text));
}

static size_t
jrnl_t_commit(struct jrnl_t_seg *s, uint64_t id, uint64_t size, uint32_t nrcpt)
{
	unsigned char buf[16];
	struct jrnl_enc e = { buf, 0, sizeof(buf), false };

	jrnl_put64(&e, size);
	jrnl_put32(&e, nrcpt);
	return jrnl_t_add(s, JRNL_COMMIT, 0, id, buf, e.len);
}

static size_t
jrnl_t_result(struct jrnl_t_seg *s, uint64_t id, uint32_t i, uint8_t st,
    uint64_t retry, const char *reply)
{
	unsigned char buf[600];
	struct jrnl_enc e = { buf, 0, sizeof(buf), false };

	jrnl_put32(&e, i);
	jrnl_put8(&e, st);
	jrnl_put64(&e, retry);
	jrnl_putstr(&e, reply);
	assert_false(e.overflow);
	return jrnl_t_add(s, JRNL_RESULT, 0, id, buf, e.len);
}

static size_t
jrnl_t_done(struct jrnl_t_seg *s, uint64_t id)
{
	return jrnl_t_add(s, JRNL_DONE, 0, id, NULL, 0);
}

#define JRNL_T_A_BODY1 "Subject: a\r\n\r\n"
#define JRNL_T_A_BODY2 "The text of A, in two pieces.\r\n"
#define JRNL_T_A_SIZE (sizeof(JRNL_T_A_BODY1 JRNL_T_A_BODY2) - 1)

/*
 * Three messages interleaved as sessions write them: A (two recipients,
 * committed), B (committed, then delivered and done), C (no COMMIT: the
 * client went away before the 250). Index of A's COMMIT in *a_commit.
 */
static void
jrnl_t_base(struct jrnl_t_seg *s, size_t *a_commit)
{
	size_t k;

	jrnl_t_msg(s, JRNL_T_A, 0, 1700000000, "alice@example.org");
	jrnl_t_msg(s, JRNL_T_B, 0, 1700000001, "");
	jrnl_t_rcpt(s, JRNL_T_A, 0, "one@example.com");
	jrnl_t_rcpt(s, JRNL_T_B, 0, "bob@example.net");
	jrnl_t_rcpt(s, JRNL_T_A, 1, "two@example.com");
	jrnl_t_body(s, JRNL_T_A, JRNL_T_A_BODY1);
	jrnl_t_body(s, JRNL_T_B, "Subject: b\r\n\r\nbounce\r\n");
	jrnl_t_msg(s, JRNL_T_C, 0, 1700000002, "carol@example.org");
	jrnl_t_body(s, JRNL_T_A, JRNL_T_A_BODY2);
	k = jrnl_t_commit(s, JRNL_T_A, JRNL_T_A_SIZE, 2);
	jrnl_t_commit(s, JRNL_T_B, 22, 1);
	jrnl_t_rcpt(s, JRNL_T_C, 0, "dave@example.com");
	jrnl_t_result(s, JRNL_T_B, 0, QUEUE_R_DELIVERED, 0, "250 ok");
	jrnl_t_body(s, JRNL_T_C, "Subject: c\r\n");
	jrnl_t_done(s, JRNL_T_B);
	if (a_commit != NULL) {
		*a_commit = k;
	}
}

/* A small complete message, for an older segment. */
static void
jrnl_t_small(struct jrnl_t_seg *s)
{
	jrnl_t_msg(s, JRNL_T_D, 0, 1699999999, "dan@example.org");
	jrnl_t_rcpt(s, JRNL_T_D, 0, "erin@example.com");
	jrnl_t_body(s, JRNL_T_D, "Subject: d\r\n\r\nd\r\n");
	jrnl_t_commit(s, JRNL_T_D, 17, 1);
}

/* ---- the spool directory ------------------------------------------------- */

/* Spools made and not yet removed: a failed test leaves none behind. */
static char jrnl_t_spools[8][PATH_MAX];

/*
 * A new spool under $TMPDIR, else /dev/shm (the cut and garbage loops
 * fsync a thousand times: only the logic is under test), else /tmp.
 */
static void
jrnl_t_spool_new(char *dir, size_t size)
{
	const char *tmp = getenv("TMPDIR");
	size_t k;

	if (tmp == NULL || tmp[0] == '\0') {
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	}
	assert_true(
	    snprintf(dir, size, "%s/tern-jrnl-XXXXXX", tmp) < (int)size);
	assert_non_null(mkdtemp(dir));
	for (k = 0; k < ARRAY_SIZE(jrnl_t_spools); k++) {
		if (jrnl_t_spools[k][0] == '\0') {
			str_copy(jrnl_t_spools[k], dir,
			    sizeof(jrnl_t_spools[k]));
			return;
		}
	}
	fail_msg("more than %zu spools at once", ARRAY_SIZE(jrnl_t_spools));
}

/* Remove dir and what is in it (files, and empty directories). */
static int
jrnl_t_rm(const char *dir)
{
	char path[PATH_MAX + 256];
	struct dirent *de;
	DIR *d = opendir(dir);
	size_t k;

	if (d == NULL) {
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0) {
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) < 0) {
			rmdir(path);
		}
	}
	closedir(d);
	for (k = 0; k < ARRAY_SIZE(jrnl_t_spools); k++) {
		if (strcmp(jrnl_t_spools[k], dir) == 0) {
			jrnl_t_spools[k][0] = '\0';
		}
	}
	return rmdir(dir);
}

static void
jrnl_t_spool_rm(const char *dir)
{
	char copy[PATH_MAX];

	str_copy(copy, dir, sizeof(copy));
	assert_int_equal(jrnl_t_rm(copy), 0);
}

/* After each test: what a failure left. */
static int
jrnl_t_cleanup(void **state)
{
	char dir[PATH_MAX];
	size_t k;

	for (k = 0; k < ARRAY_SIZE(jrnl_t_spools); k++) {
		if (jrnl_t_spools[k][0] != '\0') {
			str_copy(dir, jrnl_t_spools[k], sizeof(dir));
			jrnl_t_rm(dir);
		}
	}
	return 0;
}

static void
jrnl_t_path(char *path, const char *dir, uint64_t no)
{
	assert_int_equal(jrnl_segment_path(path, PATH_MAX, dir, no), 0);
}

/* Write bytes as segment no (replacing it). */
static void
jrnl_t_write(const char *dir, uint64_t no, const void *p, size_t n)
{
	char path[PATH_MAX];
	int fd;

	jrnl_t_path(path, dir, no);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

static void
jrnl_t_seg_write(const char *dir, const struct jrnl_t_seg *s)
{
	jrnl_t_write(dir, s->no, s->buf, s->size);
}

static long long
jrnl_t_file_size(const char *dir, uint64_t no)
{
	char path[PATH_MAX];
	struct stat sb;

	jrnl_t_path(path, dir, no);
	return stat(path, &sb) < 0 ? -1 : (long long)sb.st_size;
}

/* ---- replaying ----------------------------------------------------------- */

struct jrnl_t_seen {
	uint64_t seg;
	uint64_t off;
	struct jrnl_hdr h;
};

struct jrnl_t_log {
	const struct jrnl_t_seg *segs[4]; /* as built, for the comparison */
	size_t nsegs;
	struct jrnl_t_seen v[4 * JRNL_T_NREC];
	size_t n;
};

/* Each record reported is one that was built, at its place, unchanged. */
static void
jrnl_t_rec_cb(void *ctx, uint64_t seg, uint64_t off, const struct jrnl_hdr *h,
    const unsigned char *payload)
{
	struct jrnl_t_log *lg = ctx;
	const struct jrnl_t_seg *s = NULL;
	size_t k;

	for (k = 0; k < lg->nsegs; k++) {
		if (lg->segs[k]->no == seg) {
			s = lg->segs[k];
		}
	}
	if (s == NULL) {
		fail_msg("a record of segment %llx, never written",
		    (unsigned long long)seg);
	}
	assert_true(off + jrnl_rec_size(h->len) <= s->len);
	assert_true(lg->n < ARRAY_SIZE(lg->v));
	if (memcmp(s->buf + off + JRNL_HDR, payload, h->len) != 0) {
		fail_msg("segment %llx offset %llu: payload not as written",
		    (unsigned long long)seg, (unsigned long long)off);
	}
	lg->v[lg->n].seg = seg;
	lg->v[lg->n].off = off;
	lg->v[lg->n].h = *h;
	lg->n++;
}

static int
jrnl_t_replay(const char *dir, bool fix, struct jrnl_t_log *lg,
    struct queue_report *rep, uint64_t *next_seg, uint64_t *next_seq)
{
	struct jrnl_replay rp = { lg, jrnl_t_rec_cb };

	lg->n = 0;
	memset(rep, 0xa5, sizeof(*rep)); /* must be cleared by replay */
	*next_seg = *next_seq = 0xdeadbeef;
	return jrnl_replay(dir, fix, &rp, rep, next_seg, next_seq);
}

/* The log holds exactly records [0, n) of s, from index *at on. */
static void
jrnl_t_expect(const struct jrnl_t_log *lg, size_t *at,
    const struct jrnl_t_seg *s, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++, (*at)++) {
		const struct jrnl_t_seen *v = &lg->v[*at];
		const struct jrnl_hdr *h = &s->rec[k].h;

		if (*at >= lg->n) {
			fail_msg("segment %llx record %zu (offset %zu) missing",
			    (unsigned long long)s->no, k, s->rec[k].off);
		}
		if (v->seg != s->no || v->off != s->rec[k].off ||
		    v->h.type != h->type || v->h.flags != h->flags ||
		    v->h.len != h->len || v->h.seq != h->seq ||
		    v->h.id != h->id || v->h.crc != h->crc) {
			fail_msg("record %zu: got %llx+%llu type %u seq %llu, "
			         "want %llx+%zu type %u seq %llu",
			    *at, (unsigned long long)v->seg,
			    (unsigned long long)v->off, v->h.type,
			    (unsigned long long)v->h.seq,
			    (unsigned long long)s->no, s->rec[k].off, h->type,
			    (unsigned long long)h->seq);
		}
	}
}

static void
jrnl_t_expect_all(const struct jrnl_t_log *lg, const struct jrnl_t_seg *s,
    size_t n)
{
	size_t at = 0;

	jrnl_t_expect(lg, &at, s, n);
	assert_int_equal(lg->n, at);
}

/* ---- replay: the plain cases --------------------------------------------- */

static void
test_replay_basic(void **state)
{
	static struct jrnl_t_seg s;
	struct jrnl_t_log lg = { { &s }, 1, { { 0 } }, 0 };
	struct queue_report rep;
	uint64_t nseg, nseq;
	char dir[PATH_MAX];

	jrnl_t_seq = 1000;
	jrnl_t_seg_init(&s, 5);
	jrnl_t_base(&s, NULL);
	jrnl_t_spool_new(dir, sizeof(dir));
	jrnl_t_seg_write(dir, &s);
	assert_int_equal(jrnl_t_replay(dir, false, &lg, &rep, &nseg, &nseq), 0);
	jrnl_t_expect_all(&lg, &s, s.nrec);
	assert_int_equal(rep.segments, 1);
	assert_int_equal(rep.records, s.nrec);
	assert_int_equal(rep.torn, 0);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(rep.bad_records, 0);
	assert_int_equal(rep.messages, 0); /* jrnl_replay counts no messages */
	assert_int_equal(rep.dropped, 0);
	assert_true(nseg == 6);
	assert_true(nseq == 1000 + s.nrec);
	/* the zeros after the records are no torn tail: fix leaves them */
	assert_int_equal(jrnl_t_replay(dir, true, &lg, &rep, &nseg, &nseq), 0);
	jrnl_t_expect_all(&lg, &s, s.nrec);
	assert_int_equal(rep.torn, 0);
	assert_int_equal(jrnl_t_file_size(dir, 5), (long long)s.size);
	jrnl_t_spool_rm(dir);
}

/* Segments are read in number order, whatever the directory's order. */
static void
test_replay_order(void **state)
{
	static struct jrnl_t_seg s[3];
	struct jrnl_t_log lg = { { &s[0], &s[1], &s[2] }, 3, { { 0 } }, 0 };
	struct queue_report rep;
	uint64_t nseg, nseq;
	char dir[PATH_MAX];
	size_t at = 0;

	jrnl_t_seq = 0;
	jrnl_t_seg_init(&s[0], 0x9);
	jrnl_t_seg_init(&s[1], 0xa);
	jrnl_t_seg_init(&s[2], 0x100);
	jrnl_t_small(&s[0]);
	jrnl_t_base(&s[1], NULL);
	jrnl_t_result(&s[2], JRNL_T_A, 0, QUEUE_R_DELIVERED, 0, "250 ok");
	jrnl_t_spool_new(dir, sizeof(dir));
	jrnl_t_seg_write(dir, &s[2]);
	jrnl_t_seg_write(dir, &s[0]);
	jrnl_t_seg_write(dir, &s[1]);
	assert_int_equal(jrnl_t_replay(dir, false, &lg, &rep, &nseg, &nseq), 0);
	jrnl_t_expect(&lg, &at, &s[0], s[0].nrec);
	jrnl_t_expect(&lg, &at, &s[1], s[1].nrec);
	jrnl_t_expect(&lg, &at, &s[2], s[2].nrec);
	assert_int_equal(lg.n, at);
	assert_int_equal(rep.segments, 3);
	assert_int_equal(rep.records, at);
	assert_true(nseg == 0x101);
	assert_true(nseq == jrnl_t_seq);
	jrnl_t_spool_rm(dir);
}

static void
test_replay_empty(void **state)
{
	struct jrnl_t_log lg = { { NULL }, 0, { { 0 } }, 0 };
	struct queue_report rep;
	uint64_t nseg, nseq;
	char dir[PATH_MAX], path[PATH_MAX + 16];

	jrnl_t_spool_new(dir, sizeof(dir));
	/* a fresh spool: the writer starts at segment 1, sequence 0 */
	assert_int_equal(jrnl_t_replay(dir, true, &lg, &rep, &nseg, &nseq), 0);
	assert_int_equal(lg.n, 0);
	assert_int_equal(rep.segments, 0);
	assert_int_equal(rep.records, 0);
	assert_true(nseg == 1);
	assert_true(nseq == 0);
	/* an empty segment file, and one of nothing but zeros */
	jrnl_t_write(dir, 3, "", 0);
	jrnl_t_write(dir, 4, (const char[64]){ 0 }, 64);
	assert_int_equal(jrnl_t_replay(dir, true, &lg, &rep, &nseg, &nseq), 0);
	assert_int_equal(lg.n, 0);
	assert_int_equal(rep.segments, 2);
	assert_int_equal(rep.torn, 0);
	assert_int_equal(rep.bad_records, 0);
	assert_true(nseg == 5);
	assert_true(nseq == 0);
	assert_int_equal(jrnl_t_file_size(dir, 4), 64);
	jrnl_t_spool_rm(dir);
	/* no such directory */
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(jrnl_t_replay(path, false, &lg, &rep, &nseg, &nseq),
	    -ENOENT);
}

/* Files that are not segments are left alone. */
static void
test_replay_strays(void **state)
{
	static const char *const names[] = { "README",
		"0000000000000005.seg.tmp", "000000000000005.seg",
		"00000000000000005.seg", "0000000000000000.seg",
		"0000000000000007.sex", "000000000000000g.seg" };
	static struct jrnl_t_seg s;
	struct jrnl_t_log lg = { { &s }, 1, { { 0 } }, 0 };
	struct queue_report rep;
	uint64_t nseg, nseq;
	char dir[PATH_MAX], path[PATH_MAX + 32];
	size_t k;
	int fd;

	jrnl_t_seq = 0;
	jrnl_t_seg_init(&s, 5);
	jrnl_t_base(&s, NULL);
	jrnl_t_spool_new(dir, sizeof(dir));
	jrnl_t_seg_write(dir, &s);
	for (k = 0; k < ARRAY_SIZE(names); k++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
		fd = open(path, O_WRONLY | O_CREAT, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "junk", 4), 4);
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/0000000000000009.seg.d", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(jrnl_t_replay(dir, true, &lg, &rep, &nseg, &nseq), 0);
	jrnl_t_expect_all(&lg, &s, s.nrec);
	assert_int_equal(rep.segments, 1);
	assert_true(nseg == 6);
	jrnl_t_spool_rm(dir);
}

/*
 * Names that strtoull takes but the writer never makes: a sign, leading
 * blanks, a "0x", upper-case digits. Replay should pass them by like any
 * other stray file; the segment beside them must still be read.
 */
static void
test_replay_stray_numbers(void **state)
{
	static const char *const names[] = { "-000000000000001.seg",
		"+000000000000009.seg", " 000000000000009.seg",
		"0x00000000000009.seg", "000000000000000A.seg" };
	static struct jrnl_t_seg s;
	struct jrnl_t_log lg = { { &s }, 1, { { 0 } }, 0 };
	struct queue_report rep;
	uint64_t nseg, nseq;
	char dir[PATH_MAX], path[PATH_MAX + 32];
	size_t k;
	int fd, rc, bad = 0;

	jrnl_t_seq = 0;
	jrnl_t_seg_init(&s, 5);
	jrnl_t_base(&s, NULL);
	for (k = 0; k < ARRAY_SIZE(names); k++) {
		jrnl_t_spool_new(dir, sizeof(dir));
		jrnl_t_seg_write(dir, &s);
		snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
		fd = open(path, O_WRONLY | O_CREAT, 0600);
		assert_true(fd >= 0);
		close(fd);
		rc = jrnl_t_replay(dir, false, &lg, &rep, &nseg, &nseq);
		if (rc != 0 || rep.segments != 1 || nseg != 6 ||
		    lg.n != s.nrec) {
			print_error("stray file \"%s\": rc=%d segments=%u "
			            "next_seg=%llx records=%zu (want 0 1 6 "
			            "%zu)\n",
			    names[k], rc, rep.segments,
			    (unsigned long long)nseg, lg.n, s.nrec);
			bad++;
		}
		jrnl_t_spool_rm(dir);
	}
	assert_int_equal(bad, 0);
}

/* ---- replay: every cut and every garbage tail ---------------------------- */

/* Last non-zero byte in [from, to) plus one, minus from; 0 if none. */
static uint64_t
jrnl_t_nonzero(const unsigned char *p, size_t from, size_t to)
{
	size_t k, last = from;

	for (k = from; k < to; k++) {
		if (p[k] != 0) {
			last = k + 1;
		}
	}
	return last - from;
}

/*
 * Replay a spool whose last segment holds `img` (size bytes): records
 * [0, nok) of last must be seen after all of older, valid data must end at
 * `end`. Checks fix=false, fix=true and the rerun.
 */
static void
jrnl_t_check_tail(const char *dir, const struct jrnl_t_seg *older,
    const struct jrnl_t_seg *last, const unsigned char *img, size_t size,
    size_t nok, size_t end, const char *what, size_t where)
{
	struct jrnl_t_log lg = { { older, last }, 2, { { 0 } }, 0 };
	struct queue_report rep;
	uint64_t nseg, nseq, torn = jrnl_t_nonzero(img, end, size);
	size_t at, pass;

	jrnl_t_write(dir, last->no, img, size);
	for (pass = 0; pass < 3; pass++) {
		/* 0: look only; 1: fix (cut the tail); 2: the rerun */
		assert_int_equal(jrnl_t_replay(dir, pass > 0, &lg, &rep, &nseg,
		                     &nseq),
		    0);
		at = 0;
		jrnl_t_expect(&lg, &at, older, older->nrec);
		jrnl_t_expect(&lg, &at, last, nok);
		if (lg.n != at) {
			fail_msg("%s at %zu, pass %zu: %zu records seen, want "
			         "%zu",
			    what, where, pass, lg.n, at);
		}
		assert_int_equal(rep.records, at);
		assert_int_equal(rep.segments, 2);
		assert_int_equal(rep.bad_records, 0);
		if (rep.torn != (uint32_t)(pass < 2 && torn > 0) ||
		    rep.torn_bytes != (pass < 2 ? torn : 0)) {
			fail_msg("%s at %zu, pass %zu: torn=%u "
			         "torn_bytes=%llu, "
			         "want %d %llu",
			    what, where, pass, rep.torn,
			    (unsigned long long)rep.torn_bytes,
			    pass < 2 && torn > 0,
			    (unsigned long long)(pass < 2 ? torn : 0));
		}
		assert_true(nseg == last->no + 1);
		assert_true(nseq ==
		    (nok > 0 ? last->rec[nok - 1].h.seq :
		               older->rec[older->nrec - 1].h.seq));
		/* the file: untouched when looking, cut to `end` by fix */
		assert_int_equal(jrnl_t_file_size(dir, last->no),
		    (long long)(pass == 0 || torn == 0 ? size : end));
	}
}

static void
jrnl_t_two_segments(struct jrnl_t_seg *older, struct jrnl_t_seg *last)
{
	jrnl_t_seq = 500;
	jrnl_t_seg_init(older, 4);
	jrnl_t_seg_init(last, 5);
	jrnl_t_small(older);
	jrnl_t_base(last, NULL);
}

/* Cut the last segment at every length, 0 to the whole file. */
static void
test_truncate_every_point(void **state)
{
	static struct jrnl_t_seg older, last;
	char dir[PATH_MAX];
	size_t cut, nok;

	jrnl_t_two_segments(&older, &last);
	jrnl_t_spool_new(dir, sizeof(dir));
	jrnl_t_seg_write(dir, &older);
	for (cut = 0; cut <= last.size; cut++) {
		/* whole records only, up to the first one the cut reaches */
		for (nok = 0; nok < last.nrec &&
		     last.rec[nok].off + jrnl_rec_size(last.rec[nok].h.len) <=
		         cut;
		     nok++) {
		}
		jrnl_t_check_tail(dir, &older, &last, last.buf, cut, nok,
		    nok < last.nrec ? last.rec[nok].off : last.len, "cut", cut);
	}
	jrnl_t_spool_rm(dir);
}

/*
 * Is record r untouched by garbage from offset k on? What the CRC covers
 * (bytes 0-27 and the payload) must be before k; the zero word and the
 * padding are not checked (see test_jrnl_rec's test_unchecked_bytes).
 */
static bool
jrnl_t_intact(const struct jrnl_t_rec *r, size_t k)
{
	return k >= r->off + JRNL_HDR + r->h.len ||
	    (r->h.len == 0 && k >= r->off + 28);
}

/* From every offset on, the rest of the file is garbage (xor 0xa5). */
static void
test_garbage_every_point(void **state)
{
	static struct jrnl_t_seg older, last;
	static unsigned char img[JRNL_T_SEG_BYTES];
	char dir[PATH_MAX];
	size_t k, i, nok;

	jrnl_t_two_segments(&older, &last);
	jrnl_t_spool_new(dir, sizeof(dir));
	jrnl_t_seg_write(dir, &older);
	for (k = 0; k <= last.size; k++) {
		memcpy(img, last.buf, last.size);
		for (i = k; i < last.size; i++) {
			img[i] ^= 0xa5;
		}
		for (nok = 0;
		     nok < last.nrec && jrnl_t_intact(&last.rec[nok], k);
		     nok++) {
		}
		jrnl_t_check_tail(dir, &older, &last, img, last.size, nok,
		    nok < last.nrec ? last.rec[nok].off : last.len, "garbage",
		    k);
	}
	jrnl_t_spool_rm(dir);
}

/* A record in the middle of the last segment breaks: the rest is cut. */
static void
test_last_segment_broken_middle(void **state)
{
	static struct jrnl_t_seg older, last;
	static unsigned char img[JRNL_T_SEG_BYTES];
	char dir[PATH_MAX];
	size_t x = 6;

	jrnl_t_two_segments(&older, &last);
	jrnl_t_spool_new(dir, sizeof(dir));
	jrnl_t_seg_write(dir, &older);
	memcpy(img, last.buf, last.size);
	img[last.rec[x].off + JRNL_HDR] ^= 0x10;
	jrnl_t_check_tail(dir, &older, &last, img, last.size, x,
	    last.rec[x].off, "broken record", x);
	jrnl_t_spool_rm(dir);
}

/* ---- damage in an older segment ------------------------------------------ */

/*
 * Replay with segment older damaged by `damage` (records `skip` of it
 * lost); everything else, the last segment too, must be seen.
 */
static void
jrnl_t_check_older(const struct jrnl_t_seg *older, const unsigned char *img,
    const struct jrnl_t_seg *last, const bool *skip, uint32_t nbad,
    const char *what)
{
	struct jrnl_t_log lg = { { older, last }, 2, { { 0 } }, 0 };
	struct queue_report rep;
	uint64_t nseg, nseq;
	char dir[PATH_MAX];
	size_t k, at = 0;
	bool fix;

	jrnl_t_spool_new(dir, sizeof(dir));
	jrnl_t_write(dir, older->no, img, older->size);
	jrnl_t_seg_write(dir, last);
	for (fix = false;; fix = true) {
		assert_int_equal(jrnl_t_replay(dir, fix, &lg, &rep, &nseg,
		                     &nseq),
		    0);
		at = 0;
		for (k = 0; k < older->nrec; k++) {
			if (skip[k]) {
				continue;
			}
			if (at >= lg.n || lg.v[at].seg != older->no ||
			    lg.v[at].off != older->rec[k].off) {
				fail_msg("%s: record %zu of the older segment "
				         "(offset %zu) not seen; %zu records "
				         "seen, bad_records=%u",
				    what, k, older->rec[k].off, lg.n,
				    rep.bad_records);
			}
			at++;
		}
		jrnl_t_expect(&lg, &at, last, last->nrec);
		assert_int_equal(lg.n, at);
		assert_int_equal(rep.records, at);
		if (rep.bad_records != nbad) {
			fail_msg("%s: bad_records=%u, want %u", what,
			    rep.bad_records, nbad);
		}
		assert_int_equal(rep.torn, 0);
		assert_true(nseg == last->no + 1);
		assert_true(nseq == last->rec[last->nrec - 1].h.seq);
		/* an older segment is never cut */
		assert_int_equal(jrnl_t_file_size(dir, older->no),
		    (long long)older->size);
		if (fix) {
			break;
		}
	}
	jrnl_t_spool_rm(dir);
}

static void
test_older_segment_damage(void **state)
{
	static struct jrnl_t_seg older, last;
	static unsigned char img[JRNL_T_SEG_BYTES];
	bool skip[JRNL_T_NREC];
	size_t x = 4, y = 9, k;

	jrnl_t_seq = 0;
	jrnl_t_seg_init(&older, 4);
	jrnl_t_seg_init(&last, 5);
	jrnl_t_base(&older, NULL);
	jrnl_t_small(&last);
	memset(skip, 0, sizeof(skip));
	skip[x] = true;
	/* one byte of a payload */
	memcpy(img, older.buf, older.size);
	img[older.rec[x].off + JRNL_HDR + 3] ^= 0x40;
	jrnl_t_check_older(&older, img, &last, skip, 1, "payload byte");
	/* the length (a longer one reaches into the next record) */
	memcpy(img, older.buf, older.size);
	img[older.rec[x].off + 4] ^= 0x08;
	jrnl_t_check_older(&older, img, &last, skip, 1, "length");
	/* the magic, the type, the CRC */
	memcpy(img, older.buf, older.size);
	img[older.rec[x].off] ^= 0xff;
	jrnl_t_check_older(&older, img, &last, skip, 1, "magic");
	memcpy(img, older.buf, older.size);
	img[older.rec[x].off + 2] = 9;
	jrnl_t_check_older(&older, img, &last, skip, 1, "type");
	memcpy(img, older.buf, older.size);
	img[older.rec[x].off + 26] ^= 0x01;
	jrnl_t_check_older(&older, img, &last, skip, 1, "crc");
	/* two records apart, and the first record of all */
	memcpy(img, older.buf, older.size);
	img[older.rec[x].off + JRNL_HDR] ^= 0x01;
	img[older.rec[y].off + 12] ^= 0x01;
	img[older.rec[0].off + 20] ^= 0x01;
	skip[y] = true;
	skip[0] = true;
	jrnl_t_check_older(&older, img, &last, skip, 3, "three records");
	/* garbage over two neighbours counts as one damaged stretch */
	memset(skip, 0, sizeof(skip));
	memcpy(img, older.buf, older.size);
	for (k = older.rec[x].off; k < older.rec[x + 2].off; k++) {
		img[k] ^= 0x5a;
	}
	skip[x] = skip[x + 1] = true;
	jrnl_t_check_older(&older, img, &last, skip, 1, "two neighbours");
	/* the end of an abandoned segment: its last record half written */
	memset(skip, 0, sizeof(skip));
	memcpy(img, older.buf, older.size);
	k = older.rec[older.nrec - 1].off + 20;
	memset(img + k, 0, older.size - k);
	skip[older.nrec - 1] = true;
	jrnl_t_check_older(&older, img, &last, skip, 1, "half-written end");
}

/*
 * A record of an older segment reads back as zeros (a lost block): that
 * is damage too, not the segment's clean end. The records after it must
 * still be found and the loss counted, as for any other damage.
 */
static void
test_older_segment_zeroed(void **state)
{
	static struct jrnl_t_seg older, last;
	static unsigned char img[JRNL_T_SEG_BYTES];
	bool skip[JRNL_T_NREC];
	size_t x = 4;

	jrnl_t_seq = 0;
	jrnl_t_seg_init(&older, 4);
	jrnl_t_seg_init(&last, 5);
	jrnl_t_base(&older, NULL);
	jrnl_t_small(&last);
	memset(skip, 0, sizeof(skip));
	skip[x] = true;
	memcpy(img, older.buf, older.size);
	memset(img + older.rec[x].off, 0, jrnl_rec_size(older.rec[x].h.len));
	jrnl_t_check_older(&older, img, &last, skip, 1, "zeroed record");
}

/* ---- queue_check and queue_init in a child ------------------------------- */

struct jrnl_t_qmsg {
	bool found;
	uint8_t state;
	uint8_t st[2];
	bool relay[2];
	struct queue_info qi;
};

struct jrnl_t_qres {
	int rc;
	struct queue_report rep;
	struct jrnl_t_qmsg m[2];
	bool gone; /* queue_init: segment `wait_gone` was deleted */
};

static void
jrnl_t_child_msgs(const uint64_t *ids, size_t nids, struct jrnl_t_qres *res)
{
	size_t k;
	uint32_t i;

	for (k = 0; k < nids && k < ARRAY_SIZE(res->m); k++) {
		struct queue_msg *m = queue_lookup(ids[k]);

		res->m[k].found = m != NULL;
		if (m == NULL) {
			continue;
		}
		res->m[k].state = m->state;
		queue_msg_info(m, &res->m[k].qi);
		for (i = 0; i < 2; i++) {
			res->m[k].st[i] = (uint8_t)queue_rcpt_state(m, i);
			res->m[k].relay[i] = queue_rcpt_relay(m, i);
		}
	}
}

/*
 * queue_init on dir, then wait (3 s at most) until segment `gone` is
 * deleted (0: do not wait). No cmocka asserts in a child.
 */
static void
jrnl_t_child_init(const char *dir, uint64_t gone, struct jrnl_t_qres *res)
{
	static struct conf c;
	char path[PATH_MAX];
	struct stat sb;
	int k;

	c.spool = (char *)dir;
	c.queue.segment_bytes = 64 * 1024;
	if (ev_init(64) < 0) {
		res->rc = -1000;
		return;
	}
	res->rc = queue_init(&c, &res->rep);
	if (res->rc < 0) {
		return;
	}
	if (gone == 0 || jrnl_segment_path(path, sizeof(path), dir, gone) < 0) {
		return;
	}
	for (k = 0; k < 300 && stat(path, &sb) == 0; k++) {
		usleep(10000);
	}
	res->gone = stat(path, &sb) < 0;
}

/*
 * In a child: queue_check(dir) (init false) or queue_init(dir) (init
 * true), then the index entries of ids.
 */
static void
jrnl_t_queue_run(const char *dir, bool init, uint64_t gone, const uint64_t *ids,
    size_t nids, struct jrnl_t_qres *res)
{
	int fds[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static const int sigs[] = { SIGABRT, SIGSEGV, SIGBUS, SIGILL,
			SIGFPE };
		size_t k;

		/* cmocka's handlers would resume the test run in the child */
		for (k = 0; k < ARRAY_SIZE(sigs); k++) {
			signal(sigs[k], SIG_DFL);
		}
		memset(res, 0, sizeof(*res));
		close(fds[0]);
		if (arena_init(JRNL_T_ARENA) < 0) {
			_exit(2);
		}
		if (init) {
			jrnl_t_child_init(dir, gone, res);
		} else {
			res->rc = queue_check(dir, &res->rep, false);
		}
		if (res->rc == 0) {
			jrnl_t_child_msgs(ids, nids, res);
		}
		if (init && res->rc == 0) {
			queue_fini();
		}
		if (write(fds[1], res, sizeof(*res)) != (ssize_t)sizeof(*res)) {
			_exit(3);
		}
		_exit(0);
	}
	close(fds[1]);
	while (got < sizeof(*res) &&
	    (n = read(fds[0], (char *)res + got, sizeof(*res) - got)) > 0) {
		got += (size_t)n;
	}
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fail_msg("%s child: status %#x",
		    init ? "queue_init" : "queue_check", status);
	}
	assert_int_equal(got, sizeof(*res));
}

static void
jrnl_t_queue_check(const char *dir, const uint64_t *ids, size_t nids,
    struct jrnl_t_qres *res)
{
	jrnl_t_queue_run(dir, false, 0, ids, nids, res);
	assert_int_equal(res->rc, 0);
}

static void
jrnl_t_span_is(const struct jrnl_t_qmsg *m, const struct jrnl_t_seg *first,
    size_t msg, const struct jrnl_t_seg *last, size_t commit)
{
	const struct queue_span *sp = &m->qi.span;

	assert_true(sp->seg_first == first->no);
	assert_true(sp->off_first == first->rec[msg].off);
	assert_true(sp->seg_last == last->no);
	assert_true(sp->off_end ==
	    last->rec[commit].off + jrnl_rec_size(last->rec[commit].h.len));
}

/* A lives, C never committed is dropped, B is done and gone. */
static void
test_check_basic(void **state)
{
	static struct jrnl_t_seg s;
	const uint64_t ids[] = { JRNL_T_A, JRNL_T_B };
	struct jrnl_t_qres res;
	char dir[PATH_MAX];
	size_t a_commit;

	jrnl_t_seq = 0;
	jrnl_t_seg_init(&s, 5);
	jrnl_t_base(&s, &a_commit);
	jrnl_t_spool_new(dir, sizeof(dir));
	jrnl_t_seg_write(dir, &s);
	jrnl_t_queue_check(dir, ids, 2, &res);
	assert_int_equal(res.rep.segments, 1);
	assert_int_equal(res.rep.records, s.nrec);
	assert_int_equal(res.rep.messages, 1);
	assert_int_equal(res.rep.dropped, 1);
	assert_int_equal(res.rep.torn, 0);
	assert_true(res.m[0].found);
	assert_int_equal(res.m[0].state, QMSG_LIVE);
	assert_string_equal(res.m[0].qi.id, "0005f1e2d3c4b5a1");
	assert_true(res.m[0].qi.arrival == 1700000000);
	assert_int_equal(res.m[0].qi.nrcpt, 2);
	assert_int_equal(res.m[0].qi.ndone, 0);
	assert_true(res.m[0].qi.size == JRNL_T_A_SIZE);
	assert_int_equal(res.m[0].st[0], QUEUE_R_PENDING);
	assert_int_equal(res.m[0].st[1], QUEUE_R_PENDING);
	assert_false(res.m[0].relay[0]);
	assert_true(res.m[0].relay[1]);
	jrnl_t_span_is(&res.m[0], &s, 0, &s, a_commit);
	assert_false(res.m[1].found);
	/* the check changed nothing */
	assert_int_equal(jrnl_t_file_size(dir, 5), (long long)s.size);
	jrnl_t_spool_rm(dir);
}

/* Cut before A's COMMIT (cleanly, and inside it): nothing is acknowledged. */
static void
test_check_uncommitted(void **state)
{
	static struct jrnl_t_seg s;
	const uint64_t ids[] = { JRNL_T_A };
	struct jrnl_t_qres res;
	char dir[PATH_MAX];
	size_t a_commit, cut;
	int pass;

	jrnl_t_seq = 0;
	jrnl_t_seg_init(&s, 5);
	jrnl_t_base(&s, &a_commit);
	jrnl_t_spool_new(dir, sizeof(dir));
	for (pass = 0; pass < 2; pass++) {
		cut = s.rec[a_commit].off + (pass == 0 ? 0 : 20);
		jrnl_t_write(dir, 5, s.buf, cut);
		jrnl_t_queue_check(dir, ids, 1, &res);
		assert_int_equal(res.rep.records, a_commit);
		assert_int_equal(res.rep.messages, 0);
		assert_int_equal(res.rep.dropped, 3); /* A, B and C */
		assert_int_equal(res.rep.torn, pass);
		assert_int_equal(res.rep.torn_bytes, pass == 0 ? 0 : 20);
		assert_true(res.m[0].found);
		assert_int_equal(res.m[0].state, QMSG_BUILDING);
		/* queue_check never cuts */
		assert_int_equal(jrnl_t_file_size(dir, 5), (long long)cut);
	}
	jrnl_t_spool_rm(dir);
}

/* Results in a later segment: deferred and delivered; then done. */
static void
test_check_results(void **state)
{
	static struct jrnl_t_seg s, t;
	const uint64_t ids[] = { JRNL_T_A };
	struct jrnl_t_qres res;
	char dir[PATH_MAX];

	jrnl_t_seq = 0;
	jrnl_t_seg_init(&s, 5);
	jrnl_t_seg_init(&t, 6);
	jrnl_t_base(&s, NULL);
	jrnl_t_result(&t, JRNL_T_A, 0, QUEUE_R_DEFERRED, 1700003600,
	    "451 4.7.1 greylisted");
	jrnl_t_result(&t, JRNL_T_A, 1, QUEUE_R_DELIVERED, 0, "250 ok");
	jrnl_t_spool_new(dir, sizeof(dir));
	jrnl_t_seg_write(dir, &s);
	jrnl_t_seg_write(dir, &t);
	jrnl_t_queue_check(dir, ids, 1, &res);
	assert_int_equal(res.rep.segments, 2);
	assert_int_equal(res.rep.messages, 1);
	assert_int_equal(res.rep.dropped, 1);
	assert_true(res.m[0].found);
	assert_int_equal(res.m[0].st[0], QUEUE_R_DEFERRED);
	assert_int_equal(res.m[0].st[1], QUEUE_R_DELIVERED);
	assert_int_equal(res.m[0].qi.ndone, 1);
	assert_string_equal(res.m[0].qi.last_reply, "451 4.7.1 greylisted");
	/* the second recipient fails too: done, and gone */
	jrnl_t_result(&t, JRNL_T_A, 0, QUEUE_R_FAILED, 0, "550 5.1.1 no");
	jrnl_t_done(&t, JRNL_T_A);
	jrnl_t_seg_write(dir, &t);
	jrnl_t_queue_check(dir, ids, 1, &res);
	assert_int_equal(res.rep.messages, 0);
	assert_int_equal(res.rep.dropped, 1);
	assert_false(res.m[0].found);
	jrnl_t_spool_rm(dir);
}

/*
 * One delivery attempt as dsched_done() records it: a RESULT per
 * recipient in order, the deferred one with its retry time, the delivered
 * one with 0; then queue_msg_retry_at() counts the attempt. After a
 * restart the message must be due at the same time, with one attempt
 * counted (the retry delay grows with attempts).
 */
static void
jrnl_t_one_attempt(struct jrnl_t_seg *s, struct jrnl_t_seg *t)
{
	jrnl_t_seq = 0;
	jrnl_t_seg_init(s, 5);
	jrnl_t_seg_init(t, 6);
	jrnl_t_base(s, NULL);
	jrnl_t_result(t, JRNL_T_A, 0, QUEUE_R_DEFERRED, 1700003600,
	    "451 4.7.1 greylisted");
	jrnl_t_result(t, JRNL_T_A, 1, QUEUE_R_DELIVERED, 0, "delivered");
}

static void
test_check_next_retry(void **state)
{
	static struct jrnl_t_seg s, t;
	const uint64_t ids[] = { JRNL_T_A };
	struct jrnl_t_qres res;
	char dir[PATH_MAX];

	jrnl_t_one_attempt(&s, &t);
	jrnl_t_spool_new(dir, sizeof(dir));
	jrnl_t_seg_write(dir, &s);
	jrnl_t_seg_write(dir, &t);
	jrnl_t_queue_check(dir, ids, 1, &res);
	assert_true(res.m[0].found);
	if (res.m[0].qi.next_retry != 1700003600) {
		fail_msg("deferred to 1700003600, then the other recipient "
		         "delivered: next_retry=%llu after replay",
		    (unsigned long long)res.m[0].qi.next_retry);
	}
	jrnl_t_spool_rm(dir);
}

static void
test_check_attempts(void **state)
{
	static struct jrnl_t_seg s, t;
	const uint64_t ids[] = { JRNL_T_A };
	struct jrnl_t_qres res;
	char dir[PATH_MAX];

	jrnl_t_one_attempt(&s, &t);
	jrnl_t_spool_new(dir, sizeof(dir));
	jrnl_t_seg_write(dir, &s);
	jrnl_t_seg_write(dir, &t);
	jrnl_t_queue_check(dir, ids, 1, &res);
	assert_true(res.m[0].found);
	if (res.m[0].qi.attempts != 1) {
		fail_msg("one attempt (two RESULT records): attempts=%u after "
		         "replay",
		    res.m[0].qi.attempts);
	}
	jrnl_t_spool_rm(dir);
}

/*
 * The reason of a deferral is kept in 127 bytes (last_reply); a longer
 * one is cut to fit there when it happens. Read back after a restart it
 * must be the same cut text, not nothing.
 */
static void
test_check_long_reply(void **state)
{
	static struct jrnl_t_seg s, t;
	const uint64_t ids[] = { JRNL_T_A };
	struct jrnl_t_qres res;
	char dir[PATH_MAX], reply[201];

	memset(reply, 'r', sizeof(reply) - 1);
	memcpy(reply, "451 4.2.0 ", 10);
	reply[sizeof(reply) - 1] = '\0';
	jrnl_t_seq = 0;
	jrnl_t_seg_init(&s, 5);
	jrnl_t_seg_init(&t, 6);
	jrnl_t_base(&s, NULL);
	jrnl_t_result(&t, JRNL_T_A, 0, QUEUE_R_DEFERRED, 1700003600, reply);
	jrnl_t_spool_new(dir, sizeof(dir));
	jrnl_t_seg_write(dir, &s);
	jrnl_t_seg_write(dir, &t);
	jrnl_t_queue_check(dir, ids, 1, &res);
	assert_true(res.m[0].found);
	assert_int_equal(res.m[0].st[0], QUEUE_R_DEFERRED);
	reply[sizeof(res.m[0].qi.last_reply) - 1] = '\0';
	if (strcmp(res.m[0].qi.last_reply, reply) != 0) {
		fail_msg("a 200-byte deferral reply read back as \"%s\"",
		    res.m[0].qi.last_reply);
	}
	jrnl_t_spool_rm(dir);
}

/*
 * Copy-forward as queue_copy.c writes it: the MSG again flagged COPY, the
 * recipients and body again, a COMMIT, then RESULT records restating each
 * recipient. `upto` limits how many of those records are written.
 */
/* a copy whose COMMIT made it to disk without the states before it */
#define JRNL_T_COPY_NO_RESULTS 100

static size_t
jrnl_t_copy(struct jrnl_t_seg *t, size_t upto, size_t *commit)
{
	size_t n = 0, k = 0;

	/* as queue_copy.c writes it: the restated states before the COMMIT */
	*commit = 0;
	if (n++ < upto) {
		k = jrnl_t_msg(t, JRNL_T_A, JRNL_F_COPY, 1700000000,
		    "alice@example.org");
	}
	if (n++ < upto) {
		jrnl_t_rcpt(t, JRNL_T_A, 0, "one@example.com");
	}
	if (n++ < upto) {
		jrnl_t_rcpt(t, JRNL_T_A, 1, "two@example.com");
	}
	if (n++ < upto) {
		jrnl_t_body(t, JRNL_T_A, JRNL_T_A_BODY1);
	}
	if (n++ < upto) {
		jrnl_t_body(t, JRNL_T_A, JRNL_T_A_BODY2);
	}
	if (n++ < upto && upto != JRNL_T_COPY_NO_RESULTS) {
		jrnl_t_result(t, JRNL_T_A, 0, QUEUE_R_DELIVERED, 1700003600,
		    "delivered");
	}
	if (n++ < upto && upto != JRNL_T_COPY_NO_RESULTS) {
		jrnl_t_result(t, JRNL_T_A, 1, QUEUE_R_DEFERRED, 1700003600,
		    "451 4.7.1 greylisted");
	}
	if (n++ < upto) {
		*commit = jrnl_t_commit(t, JRNL_T_A, JRNL_T_A_SIZE, 2);
	}
	return k;
}

/* The original in segment 5 with its results, a copy in segment 6. */
static void
jrnl_t_copy_spool(struct jrnl_t_seg *s, struct jrnl_t_seg *t, size_t upto,
    size_t *a_commit, size_t *c_msg, size_t *c_commit)
{
	jrnl_t_seq = 0;
	jrnl_t_seg_init(s, 5);
	jrnl_t_seg_init(t, 6);
	jrnl_t_base(s, a_commit);
	jrnl_t_result(s, JRNL_T_A, 0, QUEUE_R_DELIVERED, 0, "250 ok");
	jrnl_t_result(s, JRNL_T_A, 1, QUEUE_R_DEFERRED, 1700003600,
	    "451 4.7.1 greylisted");
	*c_msg = jrnl_t_copy(t, upto, c_commit);
}

static void
jrnl_t_a_states(const struct jrnl_t_qmsg *m)
{
	assert_true(m->found);
	assert_int_equal(m->qi.nrcpt, 2); /* not four */
	assert_true(m->qi.size == JRNL_T_A_SIZE); /* not twice */
	assert_int_equal(m->st[0], QUEUE_R_DELIVERED);
	assert_int_equal(m->st[1], QUEUE_R_DEFERRED);
	assert_int_equal(m->qi.ndone, 1);
	assert_true(m->qi.next_retry == 1700003600);
	assert_false(m->relay[0]);
	assert_true(m->relay[1]);
}

/* With its COMMIT the copy is the message; without, the original stays. */
static void
test_check_copy(void **state)
{
	static struct jrnl_t_seg s, t;
	const uint64_t ids[] = { JRNL_T_A };
	struct jrnl_t_qres res;
	char dir[PATH_MAX];
	size_t a_commit, c_msg, c_commit, upto;

	for (upto = 1; upto <= 8; upto++) {
		jrnl_t_copy_spool(&s, &t, upto, &a_commit, &c_msg, &c_commit);
		jrnl_t_spool_new(dir, sizeof(dir));
		jrnl_t_seg_write(dir, &s);
		jrnl_t_seg_write(dir, &t);
		jrnl_t_queue_check(dir, ids, 1, &res);
		assert_int_equal(res.rep.messages, 1);
		assert_int_equal(res.rep.dropped, 1); /* C */
		assert_int_equal(res.rep.bad_records, 0);
		jrnl_t_a_states(&res.m[0]);
		assert_int_equal(res.m[0].state, QMSG_LIVE);
		if (upto >= 8) {
			jrnl_t_span_is(&res.m[0], &t, c_msg, &t, c_commit);
		} else {
			jrnl_t_span_is(&res.m[0], &s, 0, &s, a_commit);
		}
		jrnl_t_spool_rm(dir);
	}
}

/* The original's segment is gone: the copy alone is the message. */
static void
test_check_copy_alone(void **state)
{
	static struct jrnl_t_seg s, t;
	const uint64_t ids[] = { JRNL_T_A };
	struct jrnl_t_qres res;
	char dir[PATH_MAX];
	size_t a_commit, c_msg, c_commit;

	jrnl_t_copy_spool(&s, &t, 8, &a_commit, &c_msg, &c_commit);
	jrnl_t_spool_new(dir, sizeof(dir));
	jrnl_t_seg_write(dir, &t);
	jrnl_t_queue_check(dir, ids, 1, &res);
	assert_int_equal(res.rep.segments, 1);
	assert_int_equal(res.rep.messages, 1);
	assert_int_equal(res.rep.dropped, 0);
	jrnl_t_a_states(&res.m[0]);
	assert_true(res.m[0].qi.arrival == 1700000000);
	jrnl_t_span_is(&res.m[0], &t, c_msg, &t, c_commit);
	jrnl_t_spool_rm(dir);
}

/*
 * queue_init recovers (cutting a torn tail) and deletes the segments that
 * hold nothing live; a second start finds the same queue.
 */
static void
test_init_recovers(void **state)
{
	static struct jrnl_t_seg older, last;
	const uint64_t ids[] = { JRNL_T_A, JRNL_T_D };
	struct jrnl_t_qres res;
	char dir[PATH_MAX];
	size_t a_commit;

	jrnl_t_seq = 0;
	jrnl_t_seg_init(&older, 4);
	jrnl_t_seg_init(&last, 5);
	jrnl_t_small(&older);
	jrnl_t_base(&last, &a_commit);
	jrnl_t_result(&last, JRNL_T_D, 0, QUEUE_R_DELIVERED, 0, "250 ok");
	jrnl_t_done(&last, JRNL_T_D);
	jrnl_t_spool_new(dir, sizeof(dir));
	jrnl_t_seg_write(dir, &older);
	/* the last record torn in half */
	jrnl_t_write(dir, 5, last.buf, last.len - 16);
	jrnl_t_queue_run(dir, true, 0, ids, 2, &res);
	assert_int_equal(res.rc, 0);
	assert_int_equal(res.rep.messages, 2); /* A, and D: its DONE is torn */
	assert_int_equal(res.rep.dropped, 1);
	assert_int_equal(res.rep.torn, 1);
	assert_true(res.m[0].found);
	assert_true(res.m[1].found);
	assert_int_equal(res.m[1].st[0], QUEUE_R_DELIVERED);
	assert_int_equal(jrnl_t_file_size(dir, 4), (long long)older.size);
	assert_int_equal(jrnl_t_file_size(dir, 5),
	    (long long)last.rec[last.nrec - 1].off);
	/* again: nothing torn now, the same two messages */
	jrnl_t_queue_run(dir, true, 0, ids, 2, &res);
	assert_int_equal(res.rc, 0);
	assert_int_equal(res.rep.messages, 2);
	assert_int_equal(res.rep.torn, 0);
	assert_int_equal(res.rep.dropped, 1);
	jrnl_t_spool_rm(dir);
}

/*
 * A crash after the copy's COMMIT reached the disk but before the RESULT
 * records restating the recipients did (they follow the COMMIT; a torn
 * write or a buffer boundary can part them). Recovery takes the copy as
 * the message and deletes the original's segment, which held the only
 * record that the first recipient was delivered. After the next restart
 * that recipient must still be delivered, not pending again (which
 * means a second delivery).
 */
static void
test_init_copy_torn_results(void **state)
{
	static struct jrnl_t_seg s, t;
	const uint64_t ids[] = { JRNL_T_A };
	struct jrnl_t_qres res;
	char dir[PATH_MAX];
	size_t a_commit, c_msg, c_commit;

	jrnl_t_copy_spool(&s, &t, JRNL_T_COPY_NO_RESULTS, &a_commit, &c_msg,
	    &c_commit);
	jrnl_t_spool_new(dir, sizeof(dir));
	jrnl_t_seg_write(dir, &s);
	jrnl_t_seg_write(dir, &t);
	/* first start: a copy without its states does not count; 5 stays */
	jrnl_t_queue_run(dir, true, 5, ids, 1, &res);
	assert_int_equal(res.rc, 0);
	assert_int_equal(res.rep.messages, 1);
	jrnl_t_a_states(&res.m[0]);
	jrnl_t_span_is(&res.m[0], &s, 0, &s, a_commit);
	assert_false(res.gone);
	/* second start */
	jrnl_t_queue_check(dir, ids, 1, &res);
	assert_int_equal(res.rep.messages, 1);
	assert_true(res.m[0].found);
	if (res.m[0].st[0] != QUEUE_R_DELIVERED ||
	    res.m[0].st[1] != QUEUE_R_DEFERRED) {
		fail_msg("after the second start the recipients are %d and %d "
		         "(pending=0), not delivered (1) and deferred (2)",
		    res.m[0].st[0], res.m[0].st[1]);
	}
	jrnl_t_spool_rm(dir);
}

/*
 * What the zeroed record of test_older_segment_zeroed costs at start-up:
 * A, committed and acknowledged, has its COMMIT after the hole. It must
 * stay in the queue (and its segment on disk), with the damage counted.
 */
static void
test_init_older_zeroed(void **state)
{
	static struct jrnl_t_seg older, last;
	const uint64_t ids[] = { JRNL_T_A, JRNL_T_D };
	struct jrnl_t_qres res;
	char dir[PATH_MAX];
	size_t x = 4;

	jrnl_t_seq = 0;
	jrnl_t_seg_init(&older, 4);
	jrnl_t_seg_init(&last, 5);
	jrnl_t_base(&older, NULL);
	jrnl_t_small(&last);
	memset(older.buf + older.rec[x].off, 0,
	    jrnl_rec_size(older.rec[x].h.len));
	jrnl_t_spool_new(dir, sizeof(dir));
	jrnl_t_seg_write(dir, &older);
	jrnl_t_seg_write(dir, &last);
	jrnl_t_queue_run(dir, true, 4, ids, 2, &res);
	assert_int_equal(res.rc, 0);
	if (res.rep.messages != 2 || !res.m[0].found || res.gone ||
	    res.rep.bad_records == 0) {
		fail_msg("A's RCPT zeroed in segment 4: messages=%u "
		         "dropped=%u bad_records=%u, A %s, segment 4 %s",
		    res.rep.messages, res.rep.dropped, res.rep.bad_records,
		    res.m[0].found ? "kept" : "gone",
		    res.gone ? "deleted" : "kept");
	}
	jrnl_t_spool_rm(dir);
}

#define JRNL_T_TEST(f) cmocka_unit_test_teardown(f, jrnl_t_cleanup)

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		JRNL_T_TEST(test_replay_basic),
		JRNL_T_TEST(test_replay_order),
		JRNL_T_TEST(test_replay_empty),
		JRNL_T_TEST(test_replay_strays),
		JRNL_T_TEST(test_replay_stray_numbers),
		JRNL_T_TEST(test_truncate_every_point),
		JRNL_T_TEST(test_garbage_every_point),
		JRNL_T_TEST(test_last_segment_broken_middle),
		JRNL_T_TEST(test_older_segment_damage),
		JRNL_T_TEST(test_older_segment_zeroed),
		JRNL_T_TEST(test_check_basic),
		JRNL_T_TEST(test_check_uncommitted),
		JRNL_T_TEST(test_check_results),
		JRNL_T_TEST(test_check_next_retry),
		JRNL_T_TEST(test_check_attempts),
		JRNL_T_TEST(test_check_long_reply),
		JRNL_T_TEST(test_check_copy),
		JRNL_T_TEST(test_check_copy_alone),
		JRNL_T_TEST(test_init_recovers),
		JRNL_T_TEST(test_init_copy_torn_results),
		JRNL_T_TEST(test_init_older_zeroed),
	};

	return tu_run("jrnl_recover", tests, ARRAY_SIZE(tests), NULL, NULL);
}
