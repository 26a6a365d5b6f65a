/* The event loop: descriptors, timers in due order, signals, stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ward/loop.h"

typedef struct fdlog {
    int calls;
    char got[64];
    size_t n;
    ward_loop *l;
} fdlog;

static void on_read(void *ctx, int fd, uint32_t events) {
    fdlog *f = ctx;
    f->calls++;
    assert_true(events & EPOLLIN);
    ssize_t r = read(fd, f->got + f->n, sizeof(f->got) - 1 - f->n);
    if (r > 0)
        f->n += (size_t)r;
}

static void test_loop_fd_ready(void **state) {
    (void)state;
    ward_loop *l = ward_loop_new();
    assert_non_null(l);
    int p[2];
    assert_int_equal(pipe(p), 0);
    fdlog f = {0};
    assert_int_equal(ward_loop_add(l, p[0], EPOLLIN, on_read, &f), 0);
    /* nothing ready: a bounded wait returns with no callback */
    uint64_t t0 = ward_loop_now_ms();
    assert_int_equal(ward_loop_once(l, 30), 0);
    assert_true(ward_loop_now_ms() - t0 >= 25);
    assert_int_equal(write(p[1], "abc", 3), 3);
    assert_int_equal(ward_loop_once(l, 1000), 1);
    assert_int_equal(f.calls, 1);
    assert_memory_equal(f.got, "abc", 3);
    /* removed: no more callbacks */
    assert_int_equal(ward_loop_del(l, p[0]), 0);
    assert_int_equal(write(p[1], "d", 1), 1);
    assert_int_equal(ward_loop_once(l, 20), 0);
    assert_int_equal(f.calls, 1);
    assert_int_equal(ward_loop_del(l, p[0]), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(ward_loop_add(l, -1, EPOLLIN, on_read, &f), -1);
    close(p[0]);
    close(p[1]);
    ward_loop_free(l);
    ward_loop_free(NULL);
}

typedef struct tlog {
    int order[64];
    int n;
} tlog;

typedef struct tctx {
    tlog *log;
    int id;
    ward_loop *l;
    ward_loop_timer *t;
    int rearm;
} tctx;

static void on_timer(void *ctx) {
    tctx *c = ctx;
    c->log->order[c->log->n++] = c->id;
    if (c->rearm-- > 0)
        ward_loop_timer_after(c->l, c->t, 1);
}

static void test_loop_timers_fire_in_due_order(void **state) {
    (void)state;
    ward_loop *l = ward_loop_new();
    tlog log = {0};
    enum { N = 20 };
    ward_loop_timer t[N];
    tctx c[N];
    /* due times 0..95 ms in a scrambled order; ids are the due times */
    for (int i = 0; i < N; i++) {
        int due = (i * 7) % N * 5;
        c[i] = (tctx){&log, due, l, &t[i], 0};
        ward_loop_timer_init(&t[i], on_timer, &c[i]);
        assert_int_equal(ward_loop_timer_after(l, &t[i], (uint64_t)due), 0);
    }
    /* one is stopped, one re-armed later, one stopped twice */
    ward_loop_timer_stop(l, &t[3]);
    ward_loop_timer_stop(l, &t[3]);
    assert_int_equal(ward_loop_timer_after(l, &t[4], 200), 0);
    c[4].id = 200;
    while (log.n < N - 1)
        assert_true(ward_loop_once(l, 1000) >= 0);
    for (int i = 1; i < log.n; i++)
        assert_true(log.order[i - 1] <= log.order[i]);
    assert_int_equal(log.order[log.n - 1], 200);
    for (int i = 0; i < log.n; i++)
        assert_int_not_equal(log.order[i], c[3].id);
    ward_loop_free(l);
}

static void test_loop_timer_rearms_itself(void **state) {
    (void)state;
    ward_loop *l = ward_loop_new();
    tlog log = {0};
    ward_loop_timer t;
    tctx c = {&log, 7, l, &t, 4};
    ward_loop_timer_init(&t, on_timer, &c);
    assert_int_equal(ward_loop_timer_after(l, &t, 0), 0);
    for (int i = 0; i < 50 && log.n < 5; i++)
        ward_loop_once(l, 100);
    assert_int_equal(log.n, 5);
    assert_int_equal(t.due_ms, 0); /* not armed any more */
    assert_int_equal(ward_loop_once(l, 10), 0);
    ward_loop_free(l);
}

typedef struct sigctx {
    int got;
    ward_loop *l;
} sigctx;

static void on_signal(void *ctx, int signo) {
    sigctx *s = ctx;
    s->got = signo;
    ward_loop_stop(s->l);
}

static void test_loop_signals_and_stop(void **state) {
    (void)state;
    ward_loop *l = ward_loop_new();
    sigctx s = {0, l};
    int sigs[] = {SIGUSR1, SIGUSR2};
    assert_int_equal(ward_loop_signals(l, sigs, 2, on_signal, &s), 0);
    assert_int_equal(kill(getpid(), SIGUSR2), 0); /* blocked: waits for the loop */
    assert_int_equal(ward_loop_run(l), 0);        /* the callback stops it */
    assert_int_equal(s.got, SIGUSR2);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    ward_loop_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_fd_ready),
        cmocka_unit_test(test_loop_timers_fire_in_due_order),
        cmocka_unit_test(test_loop_timer_rearms_itself),
        cmocka_unit_test(test_loop_signals_and_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
