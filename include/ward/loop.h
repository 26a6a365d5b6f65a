/* The event loop: one epoll instance for file descriptors, timers and signals. Nothing
 * polls: with no ready descriptor and no timer due, the process sleeps in epoll_wait. */
#ifndef WARD_LOOP_H
#define WARD_LOOP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ward_loop ward_loop;

/* Called when fd is ready; events are EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP bits. */
typedef void (*ward_loop_fd_fn)(void *ctx, int fd, uint32_t events);

/* Called when a timer is due (once per arming). */
typedef void (*ward_loop_timer_fn)(void *ctx);

/* Called for a signal delivered through the loop (see ward_loop_signals). */
typedef void (*ward_loop_signal_fn)(void *ctx, int signo);

/* A timer in the caller's storage; zero it (or ward_loop_timer_init) before first use. */
typedef struct ward_loop_timer {
    uint64_t due_ms; /* monotonic; 0 when not armed */
    ward_loop_timer_fn fn;
    void *ctx;
    size_t heap_at; /* private */
} ward_loop_timer;

/* Creates a loop (caller owns; ward_loop_free). Returns NULL with errno set. */
ward_loop *ward_loop_new(void);

/* Frees l; descriptors added are not closed (their owners close them). NULL: no-op. */
void ward_loop_free(ward_loop *l);

/* Watches fd for events (EPOLLIN and/or EPOLLOUT). Returns 0 or -1 (errno). */
int ward_loop_add(ward_loop *l, int fd, uint32_t events, ward_loop_fd_fn fn, void *ctx);

/* Changes the events watched on fd. Returns 0 or -1. */
int ward_loop_mod(ward_loop *l, int fd, uint32_t events);

/* Stops watching fd (call before closing it). Returns 0 or -1. */
int ward_loop_del(ward_loop *l, int fd);

void ward_loop_timer_init(ward_loop_timer *t, ward_loop_timer_fn fn, void *ctx);

/* Arms t to fire after ms milliseconds (re-arming replaces the previous due time).
 * Returns 0 or -1 (no memory). */
int ward_loop_timer_after(ward_loop *l, ward_loop_timer *t, uint64_t ms);

/* Disarms t; a no-op when it is not armed. */
void ward_loop_timer_stop(ward_loop *l, ward_loop_timer *t);

/* Blocks the signals in sigs (a NULL-free array of n signal numbers) and delivers them
 * through the loop with signalfd, so no handler runs asynchronously. Returns 0 or -1. */
int ward_loop_signals(ward_loop *l, const int *sigs, size_t n, ward_loop_signal_fn fn, void *ctx);

/* Calls fn(ctx) after the descriptors of each epoll_wait were handled, before the timers
 * that are due then: what the callbacks began together can be finished together (the
 * collector's group commit). NULL fn: none. */
void ward_loop_after_io(ward_loop *l, void (*fn)(void *ctx), void *ctx);

/* Runs until ward_loop_stop is called: waits for descriptors, fires due timers.
 * Returns 0, or -1 when epoll_wait fails for a reason other than EINTR. */
int ward_loop_run(ward_loop *l);

/* Makes ward_loop_run return after the current callback. */
void ward_loop_stop(ward_loop *l);

/* Runs one iteration, waiting at most timeout_ms (-1: until something happens).
 * Returns the number of callbacks made, or -1. For tests and --once. */
int ward_loop_once(ward_loop *l, int timeout_ms);

/* Monotonic clock in milliseconds. */
uint64_t ward_loop_now_ms(void);

#endif
