/*
 * ev.c — the one event loop: epoll for descriptors, a binary min-heap of
 * timers with a fixed capacity (every timer is embedded in a pooled object,
 * so the capacity is the sum of the pools). The clock is read once per turn.
 */
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

static int ev_epfd = -1;
static struct ev_timer **ev_heap; /* 1-based */
static uint32_t ev_heap_len;
static uint32_t ev_heap_cap;
static uint64_t ev_clock;
static bool ev_stop_flag;

static uint64_t
ev_clock_read(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
ev_now(void)
{
	return ev_clock;
}

int
ev_init(uint32_t max_timers)
{
	ev_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ev_epfd < 0) {
		return -errno;
	}
	ev_heap_cap = max_timers;
	ev_heap = arena_alloc(sizeof(*ev_heap) * (max_timers + 1));
	ev_heap_len = 0;
	ev_clock = ev_clock_read();
	return 0;
}

int
ev_io_start(struct ev_io *io, int fd, uint32_t events, ev_io_fn fn)
{
	struct epoll_event ee = { .events = events, .data.ptr = io };

	io->fd = fd;
	io->events = events;
	io->fn = fn;
	if (epoll_ctl(ev_epfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
		io->fd = -1;
		return -errno;
	}
	return 0;
}

int
ev_io_set(struct ev_io *io, uint32_t events)
{
	struct epoll_event ee = { .events = events, .data.ptr = io };

	if (io->events == events) {
		return 0;
	}
	io->events = events;
	return epoll_ctl(ev_epfd, EPOLL_CTL_MOD, io->fd, &ee) < 0 ? -errno : 0;
}

void
ev_io_stop(struct ev_io *io)
{
	if (io->fd >= 0) {
		epoll_ctl(ev_epfd, EPOLL_CTL_DEL, io->fd, NULL);
	}
	io->fd = -1;
}

static void
ev_heap_place(uint32_t i, struct ev_timer *t)
{
	ev_heap[i] = t;
	t->heap_idx = i;
}

static void
ev_heap_up(uint32_t i)
{
	struct ev_timer *t = ev_heap[i];

	while (i > 1 && ev_heap[i / 2]->when > t->when) {
		ev_heap_place(i, ev_heap[i / 2]);
		i /= 2;
	}
	ev_heap_place(i, t);
}

static void
ev_heap_down(uint32_t i)
{
	struct ev_timer *t = ev_heap[i];
	uint32_t c;

	for (;;) {
		c = 2 * i;
		if (c > ev_heap_len) {
			break;
		}
		if (c < ev_heap_len &&
		    ev_heap[c + 1]->when < ev_heap[c]->when) {
			c++;
		}
		if (ev_heap[c]->when >= t->when) {
			break;
		}
		ev_heap_place(i, ev_heap[c]);
		i = c;
	}
	ev_heap_place(i, t);
}

void
ev_timer_stop(struct ev_timer *t)
{
	uint32_t i = t->heap_idx;
	struct ev_timer *last;

	if (i == 0) {
		return;
	}
	t->heap_idx = 0;
	last = ev_heap[ev_heap_len--];
	if (last == t) {
		return;
	}
	ev_heap_place(i, last);
	ev_heap_up(i);
	ev_heap_down(last->heap_idx);
}

void
ev_timer_start(struct ev_timer *t, uint64_t after_ms, ev_timer_fn fn)
{
	ev_timer_stop(t);
	if (ev_heap_len >= ev_heap_cap) {
		panic("timer heap full (%u)", ev_heap_cap);
	}
	t->when = ev_clock + after_ms;
	t->fn = fn;
	ev_heap[++ev_heap_len] = t;
	ev_heap_up(ev_heap_len);
}

static int
ev_next_timeout(void)
{
	uint64_t when;

	if (ev_heap_len == 0) {
		return -1;
	}
	when = ev_heap[1]->when;
	return when <= ev_clock ? 0 : (int)MIN(when - ev_clock, 60000u);
}

static void
ev_run_timers(void)
{
	struct ev_timer *t;

	while (ev_heap_len > 0 && ev_heap[1]->when <= ev_clock) {
		t = ev_heap[1];
		ev_timer_stop(t);
		t->fn(t);
	}
}

void
ev_break(void)
{
	ev_stop_flag = true;
}

int
ev_run(void)
{
	struct epoll_event evs[64];
	struct ev_io *io;
	int i, n;

	ev_stop_flag = false;
	while (!ev_stop_flag) {
		n = epoll_wait(ev_epfd, evs, (int)ARRAY_SIZE(evs),
		    ev_next_timeout());
		ev_clock = ev_clock_read();
		if (n < 0 && errno != EINTR) {
			return -errno;
		}
		for (i = 0; i < n; i++) {
			io = evs[i].data.ptr;
			if (io->fd >= 0) {
				io->fn(io, evs[i].events);
			}
		}
		ev_run_timers();
	}
	return 0;
}
