/* The event loop: epoll for descriptors, a binary heap of timers whose earliest due time
 * is epoll_wait's timeout, signalfd for signals. */
#include "ward/loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

typedef struct slot {
    ward_loop_fd_fn fn;
    void *ctx;
    int used;
} slot;

struct ward_loop {
    int ep;
    slot *slots; /* indexed by fd */
    size_t nslots;
    ward_loop_timer **heap;
    size_t nheap, capheap;
    int sigfd;
    ward_loop_signal_fn sigfn;
    void *sigctx;
    void (*after_io)(void *ctx);
    void *after_ctx;
    int stop;
};

void ward_loop_after_io(ward_loop *l, void (*fn)(void *ctx), void *ctx) {
    l->after_io = fn;
    l->after_ctx = ctx;
}

uint64_t ward_loop_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

ward_loop *ward_loop_new(void) {
    ward_loop *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->sigfd = -1;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0) {
        int e = errno;
        free(l);
        errno = e;
        return NULL;
    }
    return l;
}

void ward_loop_free(ward_loop *l) {
    if (!l)
        return;
    if (l->sigfd >= 0)
        close(l->sigfd);
    close(l->ep);
    free(l->slots);
    free(l->heap);
    free(l);
}

int ward_loop_add(ward_loop *l, int fd, uint32_t events, ward_loop_fd_fn fn, void *ctx) {
    if (fd < 0 || !fn) {
        errno = EINVAL;
        return -1;
    }
    if ((size_t)fd >= l->nslots) {
        size_t n = l->nslots ? l->nslots : 64;
        while (n <= (size_t)fd)
            n *= 2;
        slot *s = realloc(l->slots, n * sizeof(*s));
        if (!s)
            return -1;
        memset(s + l->nslots, 0, (n - l->nslots) * sizeof(*s));
        l->slots = s;
        l->nslots = n;
    }
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -1;
    l->slots[fd] = (slot){fn, ctx, 1};
    return 0;
}

int ward_loop_mod(ward_loop *l, int fd, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    return epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev);
}

int ward_loop_del(ward_loop *l, int fd) {
    if (fd < 0 || (size_t)fd >= l->nslots || !l->slots[fd].used) {
        errno = ENOENT;
        return -1;
    }
    l->slots[fd].used = 0;
    return epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- timers: a min-heap on due_ms; each timer knows its place ---- */

void ward_loop_timer_init(ward_loop_timer *t, ward_loop_timer_fn fn, void *ctx) {
    memset(t, 0, sizeof(*t));
    t->fn = fn;
    t->ctx = ctx;
}

static void heap_set(ward_loop *l, size_t i, ward_loop_timer *t) {
    l->heap[i] = t;
    t->heap_at = i + 1; /* 0 means "not in the heap" */
}

static void heap_up(ward_loop *l, size_t i) {
    ward_loop_timer *t = l->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (l->heap[p]->due_ms <= t->due_ms)
            break;
        heap_set(l, i, l->heap[p]);
        i = p;
    }
    heap_set(l, i, t);
}

static void heap_down(ward_loop *l, size_t i) {
    ward_loop_timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->nheap)
            break;
        if (c + 1 < l->nheap && l->heap[c + 1]->due_ms < l->heap[c]->due_ms)
            c++;
        if (l->heap[c]->due_ms >= t->due_ms)
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, t);
}

void ward_loop_timer_stop(ward_loop *l, ward_loop_timer *t) {
    if (!t->heap_at)
        return;
    size_t i = t->heap_at - 1;
    t->heap_at = 0;
    t->due_ms = 0;
    l->nheap--;
    if (i == l->nheap)
        return;
    ward_loop_timer *moved = l->heap[l->nheap];
    heap_set(l, i, moved);
    heap_down(l, i);
    heap_up(l, moved->heap_at - 1);
}

int ward_loop_timer_after(ward_loop *l, ward_loop_timer *t, uint64_t ms) {
    ward_loop_timer_stop(l, t);
    if (l->nheap == l->capheap) {
        size_t n = l->capheap ? l->capheap * 2 : 16;
        ward_loop_timer **h = realloc(l->heap, n * sizeof(*h));
        if (!h)
            return -1;
        l->heap = h;
        l->capheap = n;
    }
    t->due_ms = ward_loop_now_ms() + ms;
    if (t->due_ms == 0)
        t->due_ms = 1;
    heap_set(l, l->nheap++, t);
    heap_up(l, l->nheap - 1);
    return 0;
}

/* Fires every timer due by now. Returns how many fired. */
static int fire_timers(ward_loop *l) {
    int n = 0;
    uint64_t now = ward_loop_now_ms();
    while (l->nheap && l->heap[0]->due_ms <= now && !l->stop) {
        ward_loop_timer *t = l->heap[0];
        ward_loop_timer_stop(l, t);
        t->fn(t->ctx); /* may re-arm t */
        n++;
    }
    return n;
}

/* ---- signals ---- */

static void on_signalfd(void *ctx, int fd, uint32_t events) {
    (void)events;
    ward_loop *l = ctx;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        if (l->sigfn)
            l->sigfn(l->sigctx, (int)si.ssi_signo);
}

int ward_loop_signals(ward_loop *l, const int *sigs, size_t n, ward_loop_signal_fn fn, void *ctx) {
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < n; i++)
        sigaddset(&set, sigs[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    int fd = signalfd(l->sigfd, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -1;
    l->sigfn = fn;
    l->sigctx = ctx;
    if (l->sigfd < 0) {
        l->sigfd = fd;
        if (ward_loop_add(l, fd, EPOLLIN, on_signalfd, l) < 0) {
            close(fd);
            l->sigfd = -1;
            return -1;
        }
    }
    return 0;
}

/* ---- running ---- */

int ward_loop_once(ward_loop *l, int timeout_ms) {
    int n = fire_timers(l);
    if (l->stop)
        return n;
    if (n > 0)
        timeout_ms = 0; /* a timer callback may have made work: look, do not sleep */
    if (l->nheap) {
        uint64_t now = ward_loop_now_ms(), due = l->heap[0]->due_ms;
        int t = due <= now ? 0 : due - now > 86400000u ? 86400000 : (int)(due - now);
        if (timeout_ms < 0 || t < timeout_ms)
            timeout_ms = t;
    }
    struct epoll_event ev[64];
    int k = epoll_wait(l->ep, ev, 64, timeout_ms);
    if (k < 0)
        return errno == EINTR ? n : -1;
    for (int i = 0; i < k && !l->stop; i++) {
        int fd = ev[i].data.fd;
        /* a callback may have removed a later descriptor of this batch */
        if (fd < 0 || (size_t)fd >= l->nslots || !l->slots[fd].used)
            continue;
        slot s = l->slots[fd];
        s.fn(s.ctx, fd, ev[i].events);
        n++;
    }
    if (k > 0 && l->after_io)
        l->after_io(l->after_ctx);
    return n + fire_timers(l);
}

int ward_loop_run(ward_loop *l) {
    l->stop = 0;
    while (!l->stop)
        if (ward_loop_once(l, -1) < 0)
            return -1;
    return 0;
}

void ward_loop_stop(ward_loop *l) {
    l->stop = 1;
}
