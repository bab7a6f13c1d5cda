/*
 * jrnl.h — inside the queue part only: the journal's on-disk records, the
 * writer (append buffers, the writer thread, segments), the I/O calls the
 * fault-injection build replaces, and recovery.
 *
 * A segment file is NNNNNNNNNNNNNNNN.seg (16 hex digits, increasing) of
 * CONFIG_QUEUE_SEGMENT_KB, preallocated, filled front to back with
 * records; zeros after the last record. A record:
 *
 *   0  u16 magic "TJ"     8  u64 sequence number   24 u32 CRC-32C of
 *   2  u8  type          16  u64 message id           bytes 0-23 and
 *   3  u8  flags                                       the payload
 *   4  u32 payload length                          28 u32 zero
 *   32 payload, then zeros to a multiple of 8
 *
 * All integers little-endian, whatever the host.
 */
#ifndef TERN_JRNL_H
#define TERN_JRNL_H

#include "queue/queue.h"

#define JRNL_MAGIC 0x4a54u /* "TJ" */
#define JRNL_HDR 32u
#define JRNL_REC_MAX (JRNL_HDR + 4096u) /* a body piece or an envelope */
#define JRNL_SEG_MAX ((uint64_t)CONFIG_QUEUE_SEGMENT_KB * 1024u)

#define JRNL_F_COPY 0x01 /* on MSG: a copy carried forward (same id) */

enum jrnl_type {
	JRNL_MSG = 1, /* envelope */
	JRNL_RCPT = 2, /* one recipient */
	JRNL_BODY = 3, /* a piece of the message text */
	JRNL_COMMIT = 4, /* the message is complete */
	JRNL_RESULT = 5, /* what happened to one recipient */
	JRNL_DONE = 6, /* all recipients final */
	JRNL_ABORT = 7, /* its COMMIT's sync failed: never acknowledged */
	JRNL_NOTE = 8, /* a fact about the message: u8 JRNL_NOTE_* */
};

#define JRNL_NOTE_DELAY 1 /* the DSN delay notice was sent */

struct jrnl_hdr {
	uint8_t type;
	uint8_t flags;
	uint32_t len;
	uint64_t seq;
	uint64_t id;
	uint32_t crc;
};

/* ---- records (jrnl_rec.c, pure) ------------------------------------ */

static inline size_t
jrnl_rec_size(size_t payload)
{
	return (JRNL_HDR + payload + 7u) & ~(size_t)7u;
}
/* Header bytes for h with the CRC over header and payload filled in. */
void jrnl_hdr_fmt(unsigned char out[JRNL_HDR], struct jrnl_hdr *h,
    const void *payload);
/*
 * Check a record at p with avail bytes: 1 valid (h filled), 0 clean end
 * (zeros), -1 broken (bad magic, length or CRC, or cut short).
 */
int jrnl_rec_check(const unsigned char *p, size_t avail, struct jrnl_hdr *h);

/*
 * The framing of jrnl_rec_check without the CRC, for walking past other
 * messages' records; jrnl_rec_crc_ok then checks the ones that matter.
 */
int jrnl_rec_frame(const unsigned char *p, size_t avail, struct jrnl_hdr *h);
bool jrnl_rec_crc_ok(const unsigned char *p, const struct jrnl_hdr *h);

/* Payload encoding: a bounded cursor; put_* fail once it is full. */
struct jrnl_enc {
	unsigned char *p;
	size_t len;
	size_t cap;
	bool overflow;
};
void jrnl_put8(struct jrnl_enc *e, uint8_t v);
void jrnl_put32(struct jrnl_enc *e, uint32_t v);
void jrnl_put64(struct jrnl_enc *e, uint64_t v);
void jrnl_putstr(struct jrnl_enc *e, const char *s);

struct jrnl_dec {
	const unsigned char *p;
	size_t len;
	size_t off;
	bool bad;
};
uint8_t jrnl_get8(struct jrnl_dec *d);
uint32_t jrnl_get32(struct jrnl_dec *d);
uint64_t jrnl_get64(struct jrnl_dec *d);
/* Copies a string into out (size), NUL-terminated; too long is bad. */
void jrnl_getstr(struct jrnl_dec *d, char *out, size_t size);
/* The same, but a string too long for out is cut, not bad. */
void jrnl_getstr_cut(struct jrnl_dec *d, char *out, size_t size);

/* ---- I/O (jrnl_io.c, or jrnl_fault.c with CONFIG_DEBUG_FAULTS) ----- */

int jrnl_io_pwrite(int fd, const void *buf, size_t len, uint64_t off);
int jrnl_io_datasync(int fd);
void jrnl_io_init(void);

/* ---- the writer (jrnl_write.c) -------------------------------------- */

struct jrnl_pos {
	uint64_t seg;
	uint64_t off;
	uint64_t seq;
};

typedef void (*jrnl_durable_fn)(uint64_t seq, int rc);
typedef void (*jrnl_space_fn)(void);

/*
 * Start writing a fresh segment numbered seg of seg_bytes; sequence
 * numbers from seq.
 */
int jrnl_writer_start(const char *spool, uint64_t seg, uint64_t seq,
    uint64_t seg_bytes, jrnl_durable_fn durable, jrnl_space_fn space);
void jrnl_writer_stop(void);
/* Append one record; -EAGAIN when the buffers are full (wait for space). */
int jrnl_append(uint8_t type, uint8_t flags, uint64_t id, const void *payload,
    size_t len, struct jrnl_pos *pos);
/* Can a record of this payload be appended now? */
bool jrnl_room(size_t payload);
/* Make everything appended so far durable (group commit). */
void jrnl_sync(void);
/* Segment seg holds nothing live any more: delete it (after a sync). */
void jrnl_segment_release(uint64_t seg);
uint64_t jrnl_current_segment(void);
void jrnl_stats(uint64_t *bytes, uint64_t *syncs);
int jrnl_segment_path(char *out, size_t size, const char *spool, uint64_t seg);

/* ---- recovery (jrnl_recover.c) -------------------------------------- */

struct jrnl_replay {
	void *ctx;
	/* every valid record, in journal order */
	void (*rec)(void *ctx, uint64_t seg, uint64_t off,
	    const struct jrnl_hdr *h, const unsigned char *payload);
};

/*
 * Replay every segment of spool. With fix, a torn tail of the last
 * segment is cut (ftruncate); without, nothing is changed. *next_seg and
 * *next_seq get the numbers a writer continues with.
 */
int jrnl_replay(const char *spool, bool fix, const struct jrnl_replay *rp,
    struct queue_report *rep, uint64_t *next_seg, uint64_t *next_seq);

#endif
