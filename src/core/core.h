/*
 * core.h — the interface of tern's core: the event loop, fixed pools, the
 * start-up arena, bounded buffers, logging, clock and small string helpers.
 *
 * Everything here is single-threaded and allocation-free after start-up:
 * the arena hands out memory while the process starts and refuses once it
 * is sealed; pools recycle fixed-size objects and answer "empty" instead of
 * growing.
 */
#ifndef TERN_CORE_H
#define TERN_CORE_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

#define TERN_VERSION "0.1.0"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(p, type, member) \
	((type *)(void *)((char *)(p)-offsetof(type, member)))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define NORETURN __attribute__((noreturn))

/* ---- arena: start-up memory ------------------------------------------- */

/* Reserve address space for every pool; pages are touched only when used. */
int arena_init(size_t bytes);
/* Zeroed, 64-byte aligned memory; panics once the arena is sealed. */
void *arena_alloc(size_t bytes);
/* After this, arena_alloc() is a broken invariant (no malloc while serving). */
void arena_seal(void);
size_t arena_used(void);

/* ---- pools: fixed-size objects with generation handles ---------------- */

struct handle {
	uint32_t slot;
	uint32_t gen;
};

struct pool {
	const char *name;
	char *mem;
	size_t elem;
	uint32_t cap;
	uint32_t nfree;
	uint32_t *free_slots; /* LIFO: recently freed, still warm, first */
	uint32_t *gens; /* odd while in use */
	uint32_t limit; /* runtime cap <= cap */
};

int pool_init(struct pool *p, const char *name, size_t elem, uint32_t cap);
/* Lower the number of objects handed out at once (runtime configuration). */
void pool_set_limit(struct pool *p, uint32_t limit);
/*
 * NULL when empty: the caller answers with a temporary failure. The
 * object is not cleared (a large one would be touched whole): the caller
 * initialises what it uses.
 */
void *pool_get(struct pool *p, struct handle *h);
void pool_put(struct pool *p, void *obj);
/* The object behind a handle, or NULL if it was released since. */
void *pool_find(struct pool *p, struct handle h);
uint32_t pool_used(const struct pool *p);
/* Objects in use, in slot order: start with *slot = 0; NULL at the end. */
void *pool_next(struct pool *p, uint32_t *slot);

/* ---- bounded buffers --------------------------------------------------- */

/*
 * A buffer over caller-provided memory: [off, len) is unread data,
 * [len, cap) is free space. All parsing walks a buf; nothing outside this
 * API does pointer arithmetic on the storage.
 */
struct buf {
	char *mem;
	uint32_t cap;
	uint32_t off;
	uint32_t len;
};

void buf_init(struct buf *b, void *mem, size_t cap);
static inline size_t
buf_size(const struct buf *b)
{
	return b->len - b->off;
}
static inline const char *
buf_data(const struct buf *b)
{
	return b->mem + b->off;
}
static inline size_t
buf_room(const struct buf *b)
{
	return b->cap - b->len;
}
static inline char *
buf_tail(struct buf *b)
{
	return b->mem + b->len;
}
void buf_reset(struct buf *b);
/* Move unread data to the front so the free space is contiguous. */
void buf_compact(struct buf *b);
void buf_commit(struct buf *b, size_t n);
void buf_consume(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *data, size_t n);
int buf_printf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Length of the unread data up to and including the first LF, or 0. */
size_t buf_line_len(const struct buf *b);

/* ---- event loop (epoll) ----------------------------------------------- */

#define EV_READ 0x1u
#define EV_WRITE 0x4u /* EPOLLOUT */
#define EV_ERROR 0x8u

struct ev_io;
typedef void (*ev_io_fn)(struct ev_io *io, uint32_t events);
struct ev_io {
	int fd;
	uint32_t events;
	ev_io_fn fn;
};

struct ev_timer;
typedef void (*ev_timer_fn)(struct ev_timer *t);
struct ev_timer {
	uint64_t when; /* ms on the monotonic clock */
	uint32_t heap_idx; /* 0: not armed */
	ev_timer_fn fn;
};

int ev_init(uint32_t max_timers);
int ev_io_start(struct ev_io *io, int fd, uint32_t events, ev_io_fn fn);
int ev_io_set(struct ev_io *io, uint32_t events);
void ev_io_stop(struct ev_io *io);
void ev_timer_start(struct ev_timer *t, uint64_t after_ms, ev_timer_fn fn);
void ev_timer_stop(struct ev_timer *t);
static inline bool
ev_timer_armed(const struct ev_timer *t)
{
	return t->heap_idx != 0;
}
/* Milliseconds on the monotonic clock, read once per loop turn. */
uint64_t ev_now(void);
/* Runs until ev_break(); returns 0, or a negative errno. */
int ev_run(void);
void ev_break(void);

/* ---- logging ------------------------------------------------------------ */

enum log_level { LOG_L_ERR, LOG_L_WARN, LOG_L_INFO, LOG_L_DEBUG };

/* to stderr (foreground) or syslog (daemon); lines are lowercase key=value */
void log_open(bool use_syslog, enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) PRINTF_LIKE(2, 3);
#define log_err(...) log_msg(LOG_L_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_L_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_L_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_L_DEBUG, __VA_ARGS__)
/* Start-up and configuration only. */
NORETURN void fatal(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* Broken invariants only. */
NORETURN void panic(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* ---- checksums and byte order ----------------------------------------- */

/* CRC-32C; start with crc = 0, feed pieces in order. */
uint32_t crc32c_update(uint32_t crc, const void *data, size_t len);

/* Little-endian fields of on-disk formats, whatever the host's order. */
static inline void
le_put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}
static inline void
le_put32(unsigned char *p, uint32_t v)
{
	le_put16(p, (uint16_t)v);
	le_put16(p + 2, (uint16_t)(v >> 16));
}
static inline void
le_put64(unsigned char *p, uint64_t v)
{
	le_put32(p, (uint32_t)v);
	le_put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint16_t
le_get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t
le_get32(const unsigned char *p)
{
	return le_get16(p) | ((uint32_t)le_get16(p + 2) << 16);
}
static inline uint64_t
le_get64(const unsigned char *p)
{
	return le_get32(p) | ((uint64_t)le_get32(p + 4) << 32);
}

/* ---- files (fs.c) --------------------------------------------------------- */

/* mkdir -p, mode 0750 */
int fs_mkdirs(const char *path);
/* fsync a directory: its new and renamed entries survive a crash */
int fs_sync_dir(const char *path);
/* All of buf, at off (pwrite), or at the file position when off < 0. */
int fs_pwrite_all(int fd, const void *buf, size_t len, int64_t off);

/* ---- strings, ids, time -------------------------------------------------- */

/* Copy with truncation; always NUL-terminates; returns strlen(src). */
size_t str_copy(char *dst, const char *src, size_t size);
/* Case-insensitive (ASCII) comparison of two byte ranges. */
bool str_ieq(const char *a, size_t alen, const char *b, size_t blen);
/* A byte range with printable ASCII only, for logs: others become '?'. */
void str_sanitize(char *dst, size_t size, const char *src, size_t len);

/* rand.c: random bytes from the kernel (getrandom). */
int rand_bytes(void *buf, size_t n);
/* A fresh process-unique id, formatted as 10 lowercase hex digits. */
void rand_id(char out[11]);
/* RFC 5322 date-time of now, e.g. "Sat, 28 Nov 2026 14:45:05 +0000". */
void date_rfc5322(char *out, size_t size);

#endif
