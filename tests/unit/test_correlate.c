/* Tests of the threshold state (lib/correlate.c): counting in a sliding window with its
 * inclusive boundary, independent groups and exact group keys (separators, NUL bytes,
 * empty and absent values), distinct counting, suppression, count = 1, times that go
 * backwards, the memory cap (LRU eviction order, window growth, groups that cannot fit),
 * expire, retain, a threshold changed under a live rule, bad arguments, and two seeded
 * stress runs: one checked feed by feed against a naive reference model (arrays and
 * linear scans, no ring, no pruning beyond the window), one under a tight cap checking
 * the invariants. All times are explicit, so every run is the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ward/correlate.h"

#define T0 1700000000000ULL /* a base time in ms */
#define SEC 1000ULL

static char f_src[] = "src_ip", f_src_copy[] = "src_ip", f_user[] = "user", f_a[] = "a",
            f_b[] = "b", f_d[] = "d", f_host[] = "host";
static char *gb_src[] = {f_src};
static char *gb_src_copy[] = {f_src_copy};
static char *gb_user[] = {f_user};
static char *gb_ab[] = {f_a, f_b};
static char *gb_a[] = {f_a};

static ward_threshold thr(uint32_t count, uint32_t within_s, uint32_t suppress_s, char **gb,
                          size_t ngb, char *distinct) {
    ward_threshold t;
    memset(&t, 0, sizeof t);
    t.set = 1;
    t.count = count;
    t.within_s = within_s;
    t.suppress_s = suppress_s;
    t.group_by = gb;
    t.ngroup_by = ngb;
    t.distinct = distinct;
    return t;
}

static ward_corr_val sv(const char *s) {
    ward_corr_val v = {s, s ? strlen(s) : 0};
    return v;
}

static ward_corr_val bv(const char *s, size_t len) {
    ward_corr_val v = {s, len};
    return v;
}

/* Feeds a match with (up to) one group value and a distinct value, both NUL-terminated or
 * NULL for absent, and expects success. */
static ward_corr_result feed1(ward_corr *c, const char *id, const ward_threshold *t, const char *g,
                              const char *d, uint64_t ms) {
    ward_corr_val gv = sv(g), dv = sv(d);
    ward_corr_result r;
    assert_int_equal(ward_corr_feed(c, id, t, t->ngroup_by ? &gv : NULL, &dv, ms, &r), 0);
    return r;
}

/* Same with explicit group values. */
static ward_corr_result feedv(ward_corr *c, const char *id, const ward_threshold *t,
                              const ward_corr_val *g, uint64_t ms) {
    ward_corr_result r;
    assert_int_equal(ward_corr_feed(c, id, t, g, NULL, ms, &r), 0);
    return r;
}

static ward_corr_stats stats(const ward_corr *c) {
    ward_corr_stats s;
    ward_corr_get_stats(c, &s);
    return s;
}

#define EXPECT(r, f, s, n, first, last)                                                            \
    do {                                                                                           \
        ward_corr_result r_ = (r);                                                                 \
        assert_int_equal(r_.fire, (f));                                                            \
        assert_int_equal(r_.suppressed, (s));                                                      \
        assert_int_equal(r_.count, (n));                                                           \
        assert_int_equal(r_.first_ms, (first));                                                    \
        assert_int_equal(r_.last_ms, (last));                                                      \
    } while (0)

/* ---- counting ---- */

static void test_correlate_fires_on_nth(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t = thr(3, 60, 0, gb_src, 1, NULL);
    EXPECT(feed1(c, "r", &t, "10.0.0.1", NULL, T0), 0, 0, 1, T0, T0);
    EXPECT(feed1(c, "r", &t, "10.0.0.1", NULL, T0 + 1 * SEC), 0, 0, 2, T0, T0 + 1 * SEC);
    EXPECT(feed1(c, "r", &t, "10.0.0.1", NULL, T0 + 2 * SEC), 1, 0, 3, T0, T0 + 2 * SEC);
    /* the window was emptied: the next alert needs three new matches */
    EXPECT(feed1(c, "r", &t, "10.0.0.1", NULL, T0 + 3 * SEC), 0, 0, 1, T0 + 3 * SEC, T0 + 3 * SEC);
    EXPECT(feed1(c, "r", &t, "10.0.0.1", NULL, T0 + 4 * SEC), 0, 0, 2, T0 + 3 * SEC, T0 + 4 * SEC);
    EXPECT(feed1(c, "r", &t, "10.0.0.1", NULL, T0 + 5 * SEC), 1, 0, 3, T0 + 3 * SEC, T0 + 5 * SEC);
    ward_corr_stats s = stats(c);
    assert_int_equal(s.fired, 2);
    assert_int_equal(s.groups, 1);
    assert_int_equal(s.suppressed, 0);
    assert_true(s.bytes > 0);
    ward_corr_free(c);
}

static void test_correlate_outside_window(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t2 = thr(2, 10, 0, NULL, 0, NULL);
    /* one millisecond past the window: the first match no longer counts */
    EXPECT(feed1(c, "two", &t2, NULL, NULL, T0), 0, 0, 1, T0, T0);
    EXPECT(feed1(c, "two", &t2, NULL, NULL, T0 + 10 * SEC + 1), 0, 0, 1, T0 + 10 * SEC + 1,
           T0 + 10 * SEC + 1);
    EXPECT(feed1(c, "two", &t2, NULL, NULL, T0 + 20 * SEC + 1), 1, 0, 2, T0 + 10 * SEC + 1,
           T0 + 20 * SEC + 1);

    /* the oldest falls out, the others stay */
    ward_threshold t3 = thr(3, 10, 0, NULL, 0, NULL);
    EXPECT(feed1(c, "three", &t3, NULL, NULL, T0), 0, 0, 1, T0, T0);
    EXPECT(feed1(c, "three", &t3, NULL, NULL, T0 + 5 * SEC), 0, 0, 2, T0, T0 + 5 * SEC);
    EXPECT(feed1(c, "three", &t3, NULL, NULL, T0 + 10 * SEC + 1), 0, 0, 2, T0 + 5 * SEC,
           T0 + 10 * SEC + 1);
    EXPECT(feed1(c, "three", &t3, NULL, NULL, T0 + 12 * SEC), 1, 0, 3, T0 + 5 * SEC, T0 + 12 * SEC);
    /* everything old at once */
    EXPECT(feed1(c, "three", &t3, NULL, NULL, T0 + 13 * SEC), 0, 0, 1, T0 + 13 * SEC,
           T0 + 13 * SEC);
    EXPECT(feed1(c, "three", &t3, NULL, NULL, T0 + 14 * SEC), 0, 0, 2, T0 + 13 * SEC,
           T0 + 14 * SEC);
    EXPECT(feed1(c, "three", &t3, NULL, NULL, T0 + 60 * SEC), 0, 0, 1, T0 + 60 * SEC,
           T0 + 60 * SEC);
    assert_int_equal(stats(c).fired, 2);
    ward_corr_free(c);
}

static void test_correlate_window_boundary_inclusive(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t = thr(2, 10, 0, NULL, 0, NULL);
    /* exactly within apart: both are in the window */
    EXPECT(feed1(c, "r", &t, NULL, NULL, T0), 0, 0, 1, T0, T0);
    EXPECT(feed1(c, "r", &t, NULL, NULL, T0 + 10 * SEC), 1, 0, 2, T0, T0 + 10 * SEC);
    /* and three spanning exactly within */
    ward_threshold t3 = thr(3, 10, 0, NULL, 0, NULL);
    EXPECT(feed1(c, "r3", &t3, NULL, NULL, T0), 0, 0, 1, T0, T0);
    EXPECT(feed1(c, "r3", &t3, NULL, NULL, T0 + 10 * SEC), 0, 0, 2, T0, T0 + 10 * SEC);
    EXPECT(feed1(c, "r3", &t3, NULL, NULL, T0 + 10 * SEC), 1, 0, 3, T0, T0 + 10 * SEC);
    /* matches at the same millisecond all count */
    ward_threshold t4 = thr(4, 1, 0, NULL, 0, NULL);
    for (uint32_t i = 1; i <= 4; i++)
        EXPECT(feed1(c, "same", &t4, NULL, NULL, T0), i == 4, 0, i, T0, T0);
    ward_corr_free(c);
}

static void test_correlate_independent_groups(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t = thr(2, 60, 0, gb_src, 1, NULL);
    const char *ips[] = {"192.0.2.1", "192.0.2.2", "192.0.2.3"};
    for (int i = 0; i < 3; i++)
        EXPECT(feed1(c, "r", &t, ips[i], NULL, T0 + (uint64_t)i), 0, 0, 1, T0 + (uint64_t)i,
               T0 + (uint64_t)i);
    /* the same values under another rule are other groups */
    EXPECT(feed1(c, "other", &t, ips[0], NULL, T0 + 5), 0, 0, 1, T0 + 5, T0 + 5);
    assert_int_equal(stats(c).groups, 4);
    for (int i = 2; i >= 0; i--)
        EXPECT(feed1(c, "r", &t, ips[i], NULL, T0 + 10 + (uint64_t)i), 1, 0, 2, T0 + (uint64_t)i,
               T0 + 10 + (uint64_t)i);
    EXPECT(feed1(c, "other", &t, ips[0], NULL, T0 + 20), 1, 0, 2, T0 + 5, T0 + 20);
    EXPECT(feed1(c, "other", &t, ips[1], NULL, T0 + 21), 0, 0, 1, T0 + 21, T0 + 21);
    ward_corr_stats s = stats(c);
    assert_int_equal(s.fired, 4);
    assert_int_equal(s.groups, 5);
    ward_corr_free(c);
}

/* Each pair must be two groups: the second of a pair starts at count 1. */
static void test_correlate_group_key_encoding(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t = thr(2, 60, 0, gb_ab, 2, NULL);
    ward_corr_val sets[][2] = {
        {bv("ab", 2), bv("c", 1)},  {bv("a", 1), bv("bc", 2)},  {bv("a\0b", 3), bv("", 0)},
        {bv("a", 1), bv("\0b", 2)}, {bv("a", 1), bv("b", 1)},   {bv("", 0), bv("ab", 2)},
        {bv("ab", 2), bv("", 0)},   {bv("\0", 1), bv("", 0)},   {bv("", 0), bv("\0", 1)},
        {bv("", 0), bv("", 0)},     {bv("a\0", 2), bv("b", 1)}, {bv("a", 1), bv("b\0", 2)},
        {bv("a\0c", 3), bv("", 0)}, {bv("\0\0", 2), bv("", 0)},
    };
    size_t n = sizeof sets / sizeof sets[0];
    for (size_t i = 0; i < n; i++)
        EXPECT(feedv(c, "r", &t, sets[i], T0), 0, 0, 1, T0, T0);
    assert_int_equal(stats(c).groups, n);
    /* and each is found again */
    for (size_t i = 0; i < n; i++)
        EXPECT(feedv(c, "r", &t, sets[i], T0 + 1), 1, 0, 2, T0, T0 + 1);
    assert_int_equal(stats(c).groups, n);

    /* absent is the empty value; s == NULL is absent whatever len says */
    ward_corr_val absent[2] = {{NULL, 0}, {NULL, 7}};
    EXPECT(feedv(c, "r", &t, absent, T0 + 2), 0, 0, 1, T0 + 2, T0 + 2);
    EXPECT(feedv(c, "r", &t, sets[9], T0 + 3), 1, 0, 2, T0 + 2, T0 + 3);
    assert_int_equal(stats(c).groups, n);

    /* rule ids take part in the key: "a" + "bc" is not "ab" + "c" */
    ward_threshold t1 = thr(2, 60, 0, gb_a, 1, NULL);
    ward_corr_val bc = bv("bc", 2), cc = bv("c", 1);
    EXPECT(feedv(c, "a", &t1, &bc, T0), 0, 0, 1, T0, T0);
    EXPECT(feedv(c, "ab", &t1, &cc, T0), 0, 0, 1, T0, T0);
    assert_int_equal(stats(c).groups, n + 2);
    ward_corr_free(c);
}

/* Thousands of groups: the tables grow and every group is still found. */
static void test_correlate_many_groups(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t = thr(2, 3600, 0, gb_src, 1, NULL);
    char buf[32];
    const int n = 20000;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++) {
            snprintf(buf, sizeof buf, "10.%d.%d", i / 256, i % 256);
            char id[8];
            snprintf(id, sizeof id, "r%d", i % 7);
            ward_corr_result r = feed1(c, id, &t, buf, NULL, T0 + (uint64_t)pass);
            assert_int_equal(r.fire, pass);
            assert_int_equal(r.count, pass + 1);
        }
    }
    ward_corr_stats s = stats(c);
    assert_int_equal(s.groups, n);
    assert_int_equal(s.fired, n);
    /* every window is empty after firing: all can go */
    assert_int_equal(ward_corr_expire(c, T0 + 1), n);
    s = stats(c);
    assert_int_equal(s.groups, 0);
    assert_int_equal(s.bytes, 0);
    ward_corr_free(c);
}

/* ---- distinct ---- */

static void test_correlate_distinct_counts_values(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t = thr(3, 60, 0, gb_src, 1, f_user);
    EXPECT(feed1(c, "spray", &t, "h", "alice", T0), 0, 0, 1, T0, T0);
    EXPECT(feed1(c, "spray", &t, "h", "alice", T0 + 1), 0, 0, 1, T0 + 1, T0 + 1);
    EXPECT(feed1(c, "spray", &t, "h", "bob", T0 + 2), 0, 0, 2, T0 + 1, T0 + 2);
    EXPECT(feed1(c, "spray", &t, "h", "bob", T0 + 3), 0, 0, 2, T0 + 1, T0 + 3);
    EXPECT(feed1(c, "spray", &t, "h", "alice", T0 + 4), 0, 0, 2, T0 + 3, T0 + 4);
    /* a value differing only after a NUL byte is another value */
    ward_corr_val g = sv("h"), d = bv("bob\0x", 5);
    ward_corr_result r;
    assert_int_equal(ward_corr_feed(c, "spray", &t, &g, &d, T0 + 5, &r), 0);
    EXPECT(r, 1, 0, 3, T0 + 3, T0 + 5);
    /* emptied */
    EXPECT(feed1(c, "spray", &t, "h", "alice", T0 + 6), 0, 0, 1, T0 + 6, T0 + 6);

    /* absent and empty are one value; a NULL distinct pointer is absent */
    ward_threshold t2 = thr(2, 60, 0, NULL, 0, f_user);
    EXPECT(feed1(c, "e", &t2, NULL, NULL, T0), 0, 0, 1, T0, T0);
    EXPECT(feed1(c, "e", &t2, NULL, "", T0 + 1), 0, 0, 1, T0 + 1, T0 + 1);
    assert_int_equal(ward_corr_feed(c, "e", &t2, NULL, NULL, T0 + 2, &r), 0);
    EXPECT(r, 0, 0, 1, T0 + 2, T0 + 2);
    EXPECT(feed1(c, "e", &t2, NULL, "x", T0 + 3), 1, 0, 2, T0 + 2, T0 + 3);
    ward_corr_free(c);
}

static void test_correlate_distinct_values_expire(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t = thr(3, 10, 0, NULL, 0, f_user);
    EXPECT(feed1(c, "r", &t, NULL, "a", T0), 0, 0, 1, T0, T0);
    EXPECT(feed1(c, "r", &t, NULL, "b", T0 + 5 * SEC), 0, 0, 2, T0, T0 + 5 * SEC);
    /* a seen again: its time is now T0+9s, b is the oldest */
    EXPECT(feed1(c, "r", &t, NULL, "a", T0 + 9 * SEC), 0, 0, 2, T0 + 5 * SEC, T0 + 9 * SEC);
    /* b is 10.001 s old: out; a stays */
    EXPECT(feed1(c, "r", &t, NULL, "c", T0 + 15 * SEC + 1), 0, 0, 2, T0 + 9 * SEC,
           T0 + 15 * SEC + 1);
    /* a exactly 10 s old still counts */
    EXPECT(feed1(c, "r", &t, NULL, "d", T0 + 19 * SEC), 1, 0, 3, T0 + 9 * SEC, T0 + 19 * SEC);
    /* after a long pause nothing counts */
    EXPECT(feed1(c, "r", &t, NULL, "a", T0 + 20 * SEC), 0, 0, 1, T0 + 20 * SEC, T0 + 20 * SEC);
    EXPECT(feed1(c, "r", &t, NULL, "b", T0 + 40 * SEC), 0, 0, 1, T0 + 40 * SEC, T0 + 40 * SEC);
    assert_int_equal(stats(c).fired, 1);
    ward_corr_free(c);
}

/* Storage stays at the first allocation while the window never holds more values. */
static void test_correlate_distinct_storage_bounded(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t = thr(50, 5, 0, NULL, 0, f_user);
    char v[32];
    feed1(c, "r", &t, NULL, "first", T0);
    uint64_t bytes = stats(c).bytes;
    for (int i = 0; i < 5000; i++) {
        snprintf(v, sizeof v, "user%d", i);
        ward_corr_result r = feed1(c, "r", &t, NULL, v, T0 + 2 * SEC * (uint64_t)(i + 1));
        assert_int_equal(r.fire, 0);
        assert_true(r.count <= 3);
        assert_int_equal(stats(c).bytes, bytes);
    }
    /* fifty distinct values in one window grow it to fifty slots, no more, and fire */
    ward_threshold t50 = thr(50, 3600, 0, NULL, 0, f_user);
    ward_corr_result r;
    for (int i = 0; i < 50; i++) {
        if (i > 0) { /* a repeat does not add to the count */
            r = feed1(c, "big", &t50, NULL, v, T0 + (uint64_t)i);
            assert_int_equal(r.count, (uint32_t)i);
        }
        snprintf(v, sizeof v, "u%d", i);
        r = feed1(c, "big", &t50, NULL, v, T0 + (uint64_t)i);
        assert_int_equal(r.count, (uint32_t)i + 1);
        assert_int_equal(r.fire, i == 49);
    }
    ward_corr_free(c);
}

/* ---- suppression ---- */

static void test_correlate_suppress(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t = thr(2, 60, 300, gb_src, 1, NULL);
    uint64_t f = T0 + 1 * SEC;
    EXPECT(feed1(c, "r", &t, "x", NULL, T0), 0, 0, 1, T0, T0);
    EXPECT(feed1(c, "r", &t, "x", NULL, f), 1, 0, 2, T0, f);
    /* quiet: counted as suppressed, never fires, first_ms is the alert */
    for (uint32_t i = 1; i <= 10; i++)
        EXPECT(feed1(c, "r", &t, "x", NULL, f + i * SEC), 0, 1, i, f, f + i * SEC);
    EXPECT(feed1(c, "r", &t, "x", NULL, f + 300 * SEC - 1), 0, 1, 11, f, f + 300 * SEC - 1);
    /* other groups of the rule are not quiet */
    EXPECT(feed1(c, "r", &t, "y", NULL, f + 2 * SEC), 0, 0, 1, f + 2 * SEC, f + 2 * SEC);
    EXPECT(feed1(c, "r", &t, "y", NULL, f + 3 * SEC), 1, 0, 2, f + 2 * SEC, f + 3 * SEC);
    ward_corr_stats s = stats(c);
    assert_int_equal(s.suppressed, 11);
    assert_int_equal(s.fired, 2);
    /* quiet ends exactly at fire + suppress; the quiet matches did not build a window
     * (the last was 1 ms ago) */
    EXPECT(feed1(c, "r", &t, "x", NULL, f + 300 * SEC), 0, 0, 1, f + 300 * SEC, f + 300 * SEC);
    EXPECT(feed1(c, "r", &t, "x", NULL, f + 301 * SEC), 1, 0, 2, f + 300 * SEC, f + 301 * SEC);
    /* a second quiet period counts from one again */
    EXPECT(feed1(c, "r", &t, "x", NULL, f + 302 * SEC), 0, 1, 1, f + 301 * SEC, f + 302 * SEC);
    s = stats(c);
    assert_int_equal(s.suppressed, 12);
    assert_int_equal(s.fired, 3);
    ward_corr_free(c);
}

/* Distinct with suppress: values seen while quiet do not count afterwards. */
static void test_correlate_suppress_distinct(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t = thr(2, 60, 10, NULL, 0, f_user);
    EXPECT(feed1(c, "r", &t, NULL, "a", T0), 0, 0, 1, T0, T0);
    EXPECT(feed1(c, "r", &t, NULL, "b", T0 + 1), 1, 0, 2, T0, T0 + 1);
    EXPECT(feed1(c, "r", &t, NULL, "c", T0 + 2), 0, 1, 1, T0 + 1, T0 + 2);
    EXPECT(feed1(c, "r", &t, NULL, "d", T0 + 10 * SEC), 0, 1, 2, T0 + 1, T0 + 10 * SEC);
    EXPECT(feed1(c, "r", &t, NULL, "d", T0 + 10 * SEC + 1), 0, 0, 1, T0 + 10 * SEC + 1,
           T0 + 10 * SEC + 1);
    EXPECT(feed1(c, "r", &t, NULL, "c", T0 + 10 * SEC + 2), 1, 0, 2, T0 + 10 * SEC + 1,
           T0 + 10 * SEC + 2);
    ward_corr_free(c);
}

static void test_correlate_count_one(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t = thr(1, 10, 0, gb_src, 1, NULL);
    for (uint64_t i = 0; i < 5; i++)
        EXPECT(feed1(c, "every", &t, "x", NULL, T0 + i), 1, 0, 1, T0 + i, T0 + i);
    /* once per suppress period */
    ward_threshold ts = thr(1, 10, 10, gb_src, 1, NULL);
    EXPECT(feed1(c, "limit", &ts, "x", NULL, T0), 1, 0, 1, T0, T0);
    EXPECT(feed1(c, "limit", &ts, "x", NULL, T0 + 5 * SEC), 0, 1, 1, T0, T0 + 5 * SEC);
    EXPECT(feed1(c, "limit", &ts, "x", NULL, T0 + 10 * SEC - 1), 0, 1, 2, T0, T0 + 10 * SEC - 1);
    EXPECT(feed1(c, "limit", &ts, "x", NULL, T0 + 10 * SEC), 1, 0, 1, T0 + 10 * SEC, T0 + 10 * SEC);
    EXPECT(feed1(c, "limit", &ts, "x", NULL, T0 + 10 * SEC + 1), 0, 1, 1, T0 + 10 * SEC,
           T0 + 10 * SEC + 1);
    /* distinct with count 1: every value, repeated or not */
    ward_threshold td = thr(1, 10, 0, NULL, 0, f_user);
    EXPECT(feed1(c, "d", &td, NULL, "a", T0), 1, 0, 1, T0, T0);
    EXPECT(feed1(c, "d", &td, NULL, "a", T0 + 1), 1, 0, 1, T0 + 1, T0 + 1);
    ward_corr_stats s = stats(c);
    assert_int_equal(s.fired, 9);
    assert_int_equal(s.suppressed, 3);
    ward_corr_free(c);
}

/* ---- time ---- */

static void test_correlate_time_backwards(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t = thr(3, 10, 0, gb_src, 1, NULL);
    uint64_t late = T0 + 100 * SEC;
    EXPECT(feed1(c, "r", &t, "a", NULL, late), 0, 0, 1, late, late);
    /* earlier than the group's latest: counted at the latest */
    EXPECT(feed1(c, "r", &t, "a", NULL, T0), 0, 0, 2, late, late);
    /* groups keep their own clock: a new group starts where its first match is */
    EXPECT(feed1(c, "r", &t, "b", NULL, T0), 0, 0, 1, T0, T0);
    /* so an old match cannot reopen a window: the third counts at late + 10 s, inclusive */
    EXPECT(feed1(c, "r", &t, "a", NULL, late + 10 * SEC), 1, 0, 3, late, late + 10 * SEC);
    EXPECT(feed1(c, "r", &t, "a", NULL, 0), 0, 0, 1, late + 10 * SEC, late + 10 * SEC);

    /* while quiet, a time before the alert is still quiet */
    ward_threshold ts = thr(1, 10, 60, NULL, 0, NULL);
    EXPECT(feed1(c, "q", &ts, NULL, NULL, late), 1, 0, 1, late, late);
    EXPECT(feed1(c, "q", &ts, NULL, NULL, T0), 0, 1, 1, late, late);
    EXPECT(feed1(c, "q", &ts, NULL, NULL, late + 60 * SEC), 1, 0, 1, late + 60 * SEC,
           late + 60 * SEC);

    /* distinct: a repeated value at an old time is refreshed to now */
    ward_threshold td = thr(3, 10, 0, NULL, 0, f_user);
    EXPECT(feed1(c, "d", &td, NULL, "x", late), 0, 0, 1, late, late);
    EXPECT(feed1(c, "d", &td, NULL, "y", late + 8 * SEC), 0, 0, 2, late, late + 8 * SEC);
    EXPECT(feed1(c, "d", &td, NULL, "x", T0), 0, 0, 2, late + 8 * SEC, late + 8 * SEC);
    EXPECT(feed1(c, "d", &td, NULL, "z", late + 18 * SEC), 1, 0, 3, late + 8 * SEC,
           late + 18 * SEC);
    ward_corr_free(c);
}

/* ---- memory cap ---- */

/* Bytes of a rule record and of one group (values of 2 bytes, count <= 4, no distinct),
 * measured on an uncapped state. */
static void measure(const ward_threshold *t, uint64_t *rule, uint64_t *group) {
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    feed1(c, "r", t, "g1", NULL, T0);
    uint64_t b1 = stats(c).bytes;
    feed1(c, "r", t, "g2", NULL, T0);
    uint64_t b2 = stats(c).bytes;
    *group = b2 - b1;
    *rule = b1 - *group;
    assert_true(*group > 0 && *rule > 0);
    ward_corr_free(c);
}

/* Feeds a group and checks the cap held. */
static ward_corr_result feed_capped(ward_corr *c, size_t cap, const ward_threshold *t,
                                    const char *g, uint64_t ms) {
    ward_corr_result r = feed1(c, "r", t, g, NULL, ms);
    assert_true(stats(c).bytes <= cap);
    return r;
}

static void test_correlate_mem_cap_lru(void **state) {
    (void)state;
    ward_threshold t = thr(3, 3600, 0, gb_src, 1, NULL);
    uint64_t rb, gb;
    measure(&t, &rb, &gb);
    size_t cap = (size_t)(rb + 3 * gb);
    ward_corr *c = ward_corr_new(cap);
    assert_non_null(c);
    feed_capped(c, cap, &t, "g1", T0);
    feed_capped(c, cap, &t, "g2", T0 + 1);
    feed_capped(c, cap, &t, "g3", T0 + 2);
    ward_corr_stats s = stats(c);
    assert_int_equal(s.bytes, cap); /* exactly full */
    assert_int_equal(s.evictions, 0);
    assert_int_equal(feed_capped(c, cap, &t, "g1", T0 + 3).count, 2); /* g1 most recent */
    /* LRU order now g2, g3, g1: g4 evicts g2 */
    assert_int_equal(feed_capped(c, cap, &t, "g4", T0 + 4).count, 1);
    s = stats(c);
    assert_int_equal(s.evictions, 1);
    assert_int_equal(s.groups, 3);
    /* g2 starts over (evicting g3, now the oldest) */
    assert_int_equal(feed_capped(c, cap, &t, "g2", T0 + 5).count, 1);
    assert_int_equal(stats(c).evictions, 2);
    /* g1 survived both: its third match fires (order now g4, g2, g1) */
    ward_corr_result r = feed_capped(c, cap, &t, "g1", T0 + 6);
    assert_int_equal(r.fire, 1);
    assert_int_equal(r.count, 3);
    assert_int_equal(r.first_ms, T0);
    /* g3 was evicted: starts over, evicting g4 */
    assert_int_equal(feed_capped(c, cap, &t, "g3", T0 + 7).count, 1);
    assert_int_equal(feed_capped(c, cap, &t, "g2", T0 + 8).count, 2);
    assert_int_equal(feed_capped(c, cap, &t, "g4", T0 + 9).count, 1);
    s = stats(c);
    assert_int_equal(s.evictions, 4); /* g4 evicted g1 */
    assert_int_equal(s.groups, 3);
    assert_int_equal(s.failures, 0);
    assert_int_equal(feed_capped(c, cap, &t, "g1", T0 + 10).count, 1);
    ward_corr_free(c);
}

/* Evicting a rule's last group frees its record; a new rule's record is made room for. */
static void test_correlate_mem_cap_rule_records(void **state) {
    (void)state;
    ward_threshold t = thr(3, 3600, 0, gb_src, 1, NULL);
    uint64_t rb, gb;
    measure(&t, &rb, &gb);
    size_t cap = (size_t)(2 * rb + 2 * gb);
    ward_corr *c = ward_corr_new(cap);
    assert_non_null(c);
    feed1(c, "r", &t, "g1", NULL, T0);
    feed1(c, "s", &t, "g1", NULL, T0 + 1); /* rule ids of the same length */
    assert_int_equal(stats(c).bytes, cap);
    /* a second group of s evicts r's only group, and r's record with it */
    feed1(c, "s", &t, "g2", NULL, T0 + 2);
    ward_corr_stats s = stats(c);
    assert_int_equal(s.evictions, 1);
    assert_int_equal(s.groups, 2);
    assert_int_equal(s.bytes, rb + 2 * gb);
    /* r again: its record and group need rb + gb: evicting s's older group is enough */
    feed1(c, "r", &t, "g1", NULL, T0 + 3);
    s = stats(c);
    assert_int_equal(s.evictions, 2);
    assert_int_equal(s.groups, 2);
    assert_int_equal(s.bytes, cap);
    assert_int_equal(feed1(c, "s", &t, "g2", NULL, T0 + 4).count, 2);
    assert_int_equal(feed1(c, "s", &t, "g1", NULL, T0 + 5).count, 1);
    ward_corr_free(c);
}

static void test_correlate_mem_cap_too_small(void **state) {
    (void)state;
    ward_threshold t = thr(3, 3600, 0, gb_src, 1, NULL);
    ward_corr_result r;
    ward_corr_val g = sv("g1");

    ward_corr *c = ward_corr_new(16);
    assert_non_null(c);
    r.fire = 7;
    assert_int_equal(ward_corr_feed(c, "r", &t, &g, NULL, T0, &r), -1);
    assert_int_equal(r.fire, 0); /* zeroed */
    ward_corr_stats s = stats(c);
    assert_int_equal(s.failures, 1);
    assert_int_equal(s.groups, 0);
    assert_int_equal(s.bytes, 0);
    ward_corr_free(c);

    /* one group fits; a group with a big key never can: it fails without evicting */
    uint64_t rb, gb;
    measure(&t, &rb, &gb);
    size_t cap = (size_t)(rb + 2 * gb);
    c = ward_corr_new(cap);
    assert_non_null(c);
    feed1(c, "r", &t, "g1", NULL, T0);
    char big[4096];
    memset(big, 'x', sizeof big);
    ward_corr_val gbig = bv(big, sizeof big);
    assert_int_equal(ward_corr_feed(c, "r", &t, &gbig, NULL, T0 + 1, &r), -1);
    s = stats(c);
    assert_int_equal(s.failures, 1);
    assert_int_equal(s.evictions, 0);
    assert_int_equal(s.groups, 1);
    assert_int_equal(feed1(c, "r", &t, "g1", NULL, T0 + 2).count, 2);
    /* a new rule whose record and group together cannot fit next to nothing: same */
    char id[4096];
    memset(id, 'i', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    assert_int_equal(ward_corr_feed(c, id, &t, &g, NULL, T0 + 3, &r), -1);
    s = stats(c);
    assert_int_equal(s.failures, 2);
    assert_int_equal(s.evictions, 0);
    assert_int_equal(feed1(c, "r", &t, "g1", NULL, T0 + 4).fire, 1);
    ward_corr_free(c);
}

/* A window grows by doubling up to count, evicting others; past the cap it fails. */
static void test_correlate_mem_cap_window_growth(void **state) {
    (void)state;
    ward_threshold t = thr(1000, 3600, 0, gb_src, 1, NULL);
    uint64_t rb, gb;
    measure(&t, &rb, &gb); /* groups with 4 slots */
    size_t cap = (size_t)(rb + 3 * gb);
    ward_corr *c = ward_corr_new(cap);
    assert_non_null(c);
    feed_capped(c, cap, &t, "g1", T0);
    feed_capped(c, cap, &t, "g2", T0);
    feed_capped(c, cap, &t, "g3", T0);
    for (uint32_t i = 2; i <= 4; i++)
        assert_int_equal(feed_capped(c, cap, &t, "g1", T0 + i).count, i);
    assert_int_equal(stats(c).evictions, 0);
    /* the fifth needs 8 slots: g2, the least recently used, goes */
    assert_int_equal(feed_capped(c, cap, &t, "g1", T0 + 5).count, 5);
    ward_corr_stats s = stats(c);
    assert_int_equal(s.evictions, 1);
    assert_int_equal(s.bytes, rb + 2 * gb + 4 * sizeof(uint64_t));
    /* keep going until g1 alone cannot grow: every other group evicted first */
    uint32_t n = 5;
    ward_corr_result r;
    ward_corr_val g = sv("g1");
    int rc;
    while ((rc = ward_corr_feed(c, "r", &t, &g, NULL, T0 + n + 1, &r)) == 0) {
        assert_int_equal(r.count, ++n);
        assert_true(stats(c).bytes <= cap);
        assert_true(n < 1000);
    }
    assert_int_equal(rc, -1);
    s = stats(c);
    assert_int_equal(s.evictions, 2);
    assert_int_equal(s.groups, 1);
    assert_int_equal(s.failures, 1);
    assert_true(s.bytes <= cap);
    /* the failed match was not counted; the window is kept */
    assert_int_equal(ward_corr_feed(c, "r", &t, &g, NULL, T0 + n + 2, &r), -1);
    assert_int_equal(stats(c).failures, 2);
    assert_true((n & (n - 1)) == 0); /* it failed on growing from a power of two */
    ward_corr_free(c);

    /* growth stops at count: 4 slots, then 6 (not 8) */
    ward_threshold t6 = thr(6, 3600, 0, gb_src, 1, NULL);
    c = ward_corr_new(0);
    assert_non_null(c);
    for (uint32_t i = 1; i <= 4; i++)
        feed1(c, "r", &t6, "g", NULL, T0 + i);
    uint64_t b4 = stats(c).bytes;
    feed1(c, "r", &t6, "g", NULL, T0 + 5);
    assert_int_equal(stats(c).bytes - b4, 2 * sizeof(uint64_t));
    assert_int_equal(feed1(c, "r", &t6, "g", NULL, T0 + 6).fire, 1);
    ward_corr_free(c);
}

/* ---- expire and retain ---- */

static void test_correlate_expire(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t = thr(3, 10, 0, gb_src, 1, NULL);
    ward_threshold tq = thr(1, 10, 60, gb_src, 1, NULL);
    ward_threshold td = thr(3, 10, 0, gb_src, 1, f_user);
    feed1(c, "count", &t, "a", NULL, T0);
    feed1(c, "quiet", &tq, "b", NULL, T0); /* fires: quiet until T0 + 60 s */
    feed1(c, "dist", &td, "c", "u1", T0);
    feed1(c, "dist", &td, "c", "u2", T0 + 5 * SEC);
    feed1(c, "dist", &td, "c", "u1", T0 + 2 * SEC); /* counted at T0 + 5 s */
    feed1(c, "future", &t, "d", NULL, T0 + 1000 * SEC);
    assert_int_equal(stats(c).groups, 4);
    /* a window match exactly within old still counts */
    assert_int_equal(ward_corr_expire(c, T0 + 10 * SEC), 0);
    assert_int_equal(ward_corr_expire(c, T0 + 10 * SEC + 1), 1); /* count/a */
    assert_int_equal(ward_corr_expire(c, T0 + 15 * SEC), 0);
    assert_int_equal(ward_corr_expire(c, T0 + 15 * SEC + 1), 1); /* dist/c */
    assert_int_equal(ward_corr_expire(c, T0 + 60 * SEC - 1), 0);
    assert_int_equal(ward_corr_expire(c, T0 + 60 * SEC), 1); /* quiet/b */
    ward_corr_stats s = stats(c);
    assert_int_equal(s.groups, 1);
    assert_int_equal(s.expired, 3);
    /* the group with a later time stays until its window is old */
    assert_int_equal(ward_corr_expire(c, T0 + 1010 * SEC), 0);
    assert_int_equal(ward_corr_expire(c, T0 + 1010 * SEC + 1), 1);
    s = stats(c);
    assert_int_equal(s.groups, 0);
    assert_int_equal(s.bytes, 0); /* rule records went with their groups */
    assert_int_equal(s.expired, 4);
    /* a group that just fired without suppress holds nothing */
    feed1(c, "quick", &tq, "x", NULL, T0 + 2000 * SEC);
    ward_threshold t1 = thr(1, 10, 0, gb_src, 1, NULL);
    feed1(c, "once", &t1, "x", NULL, T0 + 2000 * SEC);
    assert_int_equal(ward_corr_expire(c, T0 + 2000 * SEC), 1); /* once; quick is quiet */
    /* and state starts over after expiry */
    assert_int_equal(feed1(c, "count", &t, "a", NULL, T0 + 3000 * SEC).count, 1);
    assert_int_equal(ward_corr_expire(NULL, T0), 0);
    ward_corr_free(c);
}

typedef struct keep_ctx {
    const char *ids[8];
    const ward_threshold *ts[8];
    size_t n;
    int calls;
} keep_ctx;

static const ward_threshold *keep_fn(const char *id, void *ctx) {
    keep_ctx *k = ctx;
    k->calls++;
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(id, k->ids[i]) == 0)
            return k->ts[i];
    return NULL;
}

static void test_correlate_retain(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t = thr(3, 60, 0, gb_src, 1, NULL);
    ward_threshold td = thr(3, 60, 0, gb_src, 1, f_user);
    const char *ids[] = {"keep", "change", "gone", "regroup", "redistinct", "resuppress"};
    for (int i = 0; i < 6; i++) {
        const ward_threshold *ti = i == 4 ? &td : &t;
        feed1(c, ids[i], ti, "g1", "u1", T0);
        feed1(c, ids[i], ti, "g2", "u1", T0);
    }
    assert_int_equal(stats(c).groups, 12);

    /* the new rule set: keep is equal by value (other pointers), change has a new count,
     * gone is gone, the others differ in a name or in suppress */
    ward_threshold keep_t = thr(3, 60, 0, gb_src_copy, 1, NULL);
    ward_threshold change_t = thr(4, 60, 0, gb_src, 1, NULL);
    ward_threshold regroup_t = thr(3, 60, 0, gb_user, 1, NULL);
    ward_threshold redistinct_t = thr(3, 60, 0, gb_src, 1, f_host);
    ward_threshold resuppress_t = thr(3, 60, 5, gb_src, 1, NULL);
    keep_ctx k = {{"keep", "change", "regroup", "redistinct", "resuppress"},
                  {&keep_t, &change_t, &regroup_t, &redistinct_t, &resuppress_t},
                  5,
                  0};
    assert_int_equal(ward_corr_retain(c, keep_fn, &k), 10);
    assert_int_equal(k.calls, 6); /* once per rule */
    ward_corr_stats s = stats(c);
    assert_int_equal(s.groups, 2);
    assert_int_equal(s.expired, 10);

    /* keep's windows survived */
    EXPECT(feed1(c, "keep", &keep_t, "g1", NULL, T0 + 1), 0, 0, 2, T0, T0 + 1);
    EXPECT(feed1(c, "keep", &keep_t, "g1", NULL, T0 + 2), 1, 0, 3, T0, T0 + 2);
    /* change starts over with its new threshold */
    EXPECT(feed1(c, "change", &change_t, "g1", NULL, T0 + 3), 0, 0, 1, T0 + 3, T0 + 3);

    /* nothing differs: nothing dropped */
    k.calls = 0;
    assert_int_equal(ward_corr_retain(c, keep_fn, &k), 0);
    assert_int_equal(k.calls, 2);
    /* a NULL threshold or one with set == 0 drops */
    ward_threshold unset = keep_t;
    unset.set = 0;
    k.ts[0] = &unset;
    assert_int_equal(ward_corr_retain(c, keep_fn, &k), 2);
    k.ts[1] = NULL;
    assert_int_equal(ward_corr_retain(c, keep_fn, &k), 1);
    s = stats(c);
    assert_int_equal(s.groups, 0);
    assert_int_equal(s.bytes, 0);
    assert_int_equal(ward_corr_retain(NULL, keep_fn, &k), 0);
    assert_int_equal(ward_corr_retain(c, NULL, &k), 0);
    ward_corr_free(c);
}

/* A rule fed with another threshold than its groups were built with starts over. */
static void test_correlate_threshold_changed_on_feed(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t = thr(3, 60, 0, gb_src, 1, NULL);
    feed1(c, "r", &t, "a", NULL, T0);
    feed1(c, "r", &t, "b", NULL, T0);
    feed1(c, "s", &t, "a", NULL, T0);
    assert_int_equal(feed1(c, "r", &t, "a", NULL, T0 + 1).count, 2);
    ward_threshold t2 = thr(2, 60, 0, gb_src, 1, NULL);
    EXPECT(feed1(c, "r", &t2, "a", NULL, T0 + 2), 0, 0, 1, T0 + 2, T0 + 2);
    ward_corr_stats s = stats(c);
    assert_int_equal(s.expired, 2);
    assert_int_equal(s.groups, 2); /* r/a anew, s/a */
    EXPECT(feed1(c, "r", &t2, "a", NULL, T0 + 3), 1, 0, 2, T0 + 2, T0 + 3);
    assert_int_equal(feed1(c, "s", &t, "a", NULL, T0 + 4).count, 2);
    ward_corr_free(c);
}

static void test_correlate_bad_args(void **state) {
    (void)state;
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    ward_threshold t = thr(2, 60, 0, gb_src, 1, NULL);
    ward_corr_val g = sv("x");
    ward_corr_result r;
    assert_int_equal(ward_corr_feed(NULL, "r", &t, &g, NULL, T0, &r), -1);
    assert_int_equal(ward_corr_feed(c, NULL, &t, &g, NULL, T0, &r), -1);
    assert_int_equal(ward_corr_feed(c, "r", NULL, &g, NULL, T0, &r), -1);
    assert_int_equal(ward_corr_feed(c, "r", &t, &g, NULL, T0, NULL), -1);
    assert_int_equal(ward_corr_feed(c, "r", &t, NULL, NULL, T0, &r), -1);
    ward_threshold bad = t;
    bad.set = 0;
    assert_int_equal(ward_corr_feed(c, "r", &bad, &g, NULL, T0, &r), -1);
    bad = t;
    bad.count = 0;
    assert_int_equal(ward_corr_feed(c, "r", &bad, &g, NULL, T0, &r), -1);
    bad = t;
    bad.group_by = NULL;
    assert_int_equal(ward_corr_feed(c, "r", &bad, &g, NULL, T0, &r), -1);
    ward_corr_stats s = stats(c);
    assert_int_equal(s.groups, 0);
    assert_int_equal(s.failures, 0); /* invalid calls are not memory failures */
    /* within 0: only matches at the same millisecond */
    ward_threshold t0 = thr(2, 0, 0, NULL, 0, NULL);
    assert_int_equal(feed1(c, "z", &t0, NULL, NULL, T0).count, 1);
    assert_int_equal(feed1(c, "z", &t0, NULL, NULL, T0 + 1).count, 1);
    assert_int_equal(feed1(c, "z", &t0, NULL, NULL, T0 + 1).fire, 1);
    /* a quiet period reaching past the end of time saturates */
    ward_threshold tmax = thr(1, 1, UINT32_MAX, NULL, 0, NULL);
    assert_int_equal(feed1(c, "m", &tmax, NULL, NULL, UINT64_MAX - 5).fire, 1);
    assert_int_equal(feed1(c, "m", &tmax, NULL, NULL, UINT64_MAX - 1).suppressed, 1);
    ward_corr_free(c);
    ward_corr_free(NULL);
    memset(&s, 0xff, sizeof s);
    ward_corr_get_stats(NULL, &s);
    assert_int_equal(s.groups, 0);
    assert_int_equal(s.fired, 0);
    ward_corr_get_stats(NULL, NULL);
}

/* ---- stress ---- */

static uint64_t rnd_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static unsigned rnd(uint64_t *s, unsigned n) {
    return n ? (unsigned)(rnd_next(s) % n) : 0;
}

/* Match times on a grid of gran ms (so matches land exactly on window and quiet
 * boundaries often): mostly forward by up to step - 1 grid points, sometimes back by up to
 * 3 s. Suffix minima tell expire how far it may look (later matches are never earlier). */
static void gen_times(uint64_t *seed, uint64_t *times, uint64_t *suffix_min, size_t n,
                      unsigned step, unsigned gran) {
    uint64_t t = T0;
    for (size_t i = 0; i < n; i++) {
        t += (uint64_t)gran * rnd(seed, step);
        if (rnd(seed, 100) < 3) {
            uint64_t back = (uint64_t)gran * rnd(seed, 3000 / gran);
            t = t - back > T0 ? t - back : T0;
        }
        times[i] = t;
    }
    suffix_min[n] = UINT64_MAX;
    for (size_t i = n; i-- > 0;)
        suffix_min[i] = times[i] < suffix_min[i + 1] ? times[i] : suffix_min[i + 1];
}

/* The reference model: per group, every counted match since the last alert (pruned to the
 * window), scanned linearly. Values are indices; in each set 0 and 1 are absent and "",
 * which must be the same value. */
static const ward_corr_val A_VALS[] = {{NULL, 0},  {"", 0},   {"x", 1},   {"x\0", 2},
                                       {"\0x", 2}, {"xy", 2}, {"x|y", 3}, {"10.0.0.1", 8}};
static const ward_corr_val B_VALS[] = {{NULL, 0}, {"", 0}, {"1", 1}, {"2", 1}};
static const ward_corr_val D_VALS[] = {{NULL, 0}, {"", 0},    {"u1", 2},
                                       {"u2", 2}, {"u\0", 2}, {"u", 1}};
#define NA 8
#define NB 4
#define ND 6

static int canon(int v) {
    return v == 1 ? 0 : v;
}

typedef struct mev {
    uint64_t t;
    int d;
} mev;

typedef struct mgroup {
    int rule, a, b;
    uint64_t last, quiet_until, fired;
    uint32_t quiet_n;
    mev *ev;
    size_t n, cap;
} mgroup;

typedef struct model {
    mgroup *g;
    size_t n, cap;
    uint64_t fired, suppressed;
} model;

static mgroup *model_group(model *m, int rule, int a, int b) {
    for (size_t i = 0; i < m->n; i++)
        if (m->g[i].rule == rule && m->g[i].a == a && m->g[i].b == b)
            return &m->g[i];
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->g = realloc(m->g, m->cap * sizeof *m->g);
        assert_non_null(m->g);
    }
    mgroup *g = &m->g[m->n++];
    memset(g, 0, sizeof *g);
    g->rule = rule;
    g->a = a;
    g->b = b;
    return g;
}

static ward_corr_result model_feed(model *m, const ward_threshold *t, int rule, int a, int b, int d,
                                   uint64_t ms) {
    ward_corr_result r;
    memset(&r, 0, sizeof r);
    int is_new = 1;
    for (size_t i = 0; i < m->n; i++)
        if (m->g[i].rule == rule && m->g[i].a == a && m->g[i].b == b)
            is_new = 0;
    mgroup *g = model_group(m, rule, a, b);
    uint64_t now = is_new || ms > g->last ? ms : g->last;
    uint64_t w = (uint64_t)t->within_s * 1000;
    g->last = now;
    r.last_ms = now;
    if (now < g->quiet_until) {
        g->quiet_n++;
        m->suppressed++;
        r.suppressed = 1;
        r.count = g->quiet_n;
        r.first_ms = g->fired;
        return r;
    }
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++)
        if (now - g->ev[i].t <= w)
            g->ev[k++] = g->ev[i];
    g->n = k;
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 8;
        g->ev = realloc(g->ev, g->cap * sizeof *g->ev);
        assert_non_null(g->ev);
    }
    g->ev[g->n].t = now;
    g->ev[g->n].d = d;
    g->n++;
    if (t->distinct) {
        uint64_t latest[ND];
        int seen[ND] = {0};
        for (size_t i = 0; i < g->n; i++) {
            int v = g->ev[i].d;
            if (!seen[v] || g->ev[i].t > latest[v])
                latest[v] = g->ev[i].t;
            seen[v] = 1;
        }
        r.first_ms = UINT64_MAX;
        for (int v = 0; v < ND; v++) {
            if (seen[v]) {
                r.count++;
                if (latest[v] < r.first_ms)
                    r.first_ms = latest[v];
            }
        }
    } else {
        r.count = (uint32_t)g->n;
        r.first_ms = g->ev[0].t;
    }
    if (r.count >= t->count) {
        r.fire = 1;
        m->fired++;
        g->n = 0;
        if (t->suppress_s) {
            g->quiet_until = now + (uint64_t)t->suppress_s * 1000;
            g->fired = now;
            g->quiet_n = 0;
        }
    }
    return r;
}

static void model_free(model *m) {
    for (size_t i = 0; i < m->n; i++)
        free(m->g[i].ev);
    free(m->g);
}

#define NRULES 5
static const char *STRESS_IDS[NRULES] = {"count", "distinct", "suppress", "limit", "both"};

static void stress_rules(ward_threshold *t) {
    t[0] = thr(3, 10, 0, gb_a, 1, NULL);
    t[1] = thr(3, 40, 0, gb_ab, 2, f_d);
    t[2] = thr(2, 5, 20, gb_a, 1, NULL);
    t[3] = thr(1, 1, 2, NULL, 0, NULL);
    t[4] = thr(3, 15, 10, gb_a, 1, f_d);
}

static const ward_threshold *stress_keep(const char *id, void *ctx) {
    const ward_threshold *t = ctx;
    for (int i = 0; i < NRULES; i++)
        if (strcmp(id, STRESS_IDS[i]) == 0)
            return &t[i];
    return NULL;
}

static void test_correlate_stress_model(void **state) {
    (void)state;
    enum { N = 100000 };
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    uint64_t *times = malloc(N * sizeof *times), *smin = malloc((N + 1) * sizeof *smin);
    assert_non_null(times);
    assert_non_null(smin);
    gen_times(&seed, times, smin, N, 3, 100);
    ward_threshold t[NRULES];
    stress_rules(t);
    model m = {NULL, 0, 0, 0, 0};
    ward_corr *c = ward_corr_new(0);
    assert_non_null(c);
    size_t fired_and_first_older = 0, backwards = 0;
    for (size_t i = 0; i < N; i++) {
        int rule = (int)rnd(&seed, NRULES);
        int a = (int)rnd(&seed, NA), b = (int)rnd(&seed, NB), d = (int)rnd(&seed, ND);
        ward_corr_val g[2] = {A_VALS[a], B_VALS[b]};
        ward_corr_result r;
        assert_int_equal(ward_corr_feed(c, STRESS_IDS[rule], &t[rule], t[rule].ngroup_by ? g : NULL,
                                        &D_VALS[d], times[i], &r),
                         0);
        int ma = t[rule].ngroup_by >= 1 ? canon(a) : -1;
        int mb = t[rule].ngroup_by >= 2 ? canon(b) : -1;
        ward_corr_result e = model_feed(&m, &t[rule], rule, ma, mb, canon(d), times[i]);
        if (r.fire != e.fire || r.suppressed != e.suppressed || r.count != e.count ||
            r.first_ms != e.first_ms || r.last_ms != e.last_ms) {
            fprintf(stderr,
                    "feed %zu rule %s a %d b %d d %d t %llu: got fire %d supp %d count %u "
                    "first %llu last %llu, want %d %d %u %llu %llu\n",
                    i, STRESS_IDS[rule], a, b, d, (unsigned long long)times[i], r.fire,
                    r.suppressed, r.count, (unsigned long long)r.first_ms,
                    (unsigned long long)r.last_ms, e.fire, e.suppressed, e.count,
                    (unsigned long long)e.first_ms, (unsigned long long)e.last_ms);
            fail();
        }
        if (r.fire && r.count > 1 && r.first_ms < r.last_ms)
            fired_and_first_older++;
        if (r.last_ms > times[i])
            backwards++;
        /* expire may only drop what no later match can see */
        if (i % 7 == 0)
            ward_corr_expire(c, smin[i + 1]);
        if (i % 10007 == 0)
            assert_int_equal(ward_corr_retain(c, stress_keep, t), 0);
    }
    ward_corr_stats s = stats(c);
    assert_int_equal(s.fired, m.fired);
    assert_int_equal(s.suppressed, m.suppressed);
    assert_true(s.groups <= m.n);
    assert_true(s.expired > 0);
    assert_int_equal(s.failures, 0);
    /* the run exercised what it is meant to */
    assert_true(m.fired > 1000);
    assert_true(m.suppressed > 1000);
    assert_true(fired_and_first_older > 1000);
    assert_true(backwards > 100);
    model_free(&m);
    free(times);
    free(smin);
    ward_corr_free(c);
}

/* Under a tight cap with many groups: the cap holds, results stay sane, counters add up. */
static void test_correlate_stress_capped(void **state) {
    (void)state;
    enum { N = 100000, NV = 300 };
    uint64_t seed = 0x243f6a8885a308d3ULL;
    uint64_t *times = malloc(N * sizeof *times), *smin = malloc((N + 1) * sizeof *smin);
    assert_non_null(times);
    assert_non_null(smin);
    gen_times(&seed, times, smin, N, 6, 10);
    ward_threshold t[NRULES + 1];
    stress_rules(t);
    t[NRULES] = thr(40, 60, 0, NULL, 0, NULL); /* one group whose window grows to 40 */
    const char *ids[NRULES + 1] = {"count", "distinct", "suppress", "limit", "both", "grow"};
    char vals[NV][16];
    for (int i = 0; i < NV; i++)
        snprintf(vals[i], sizeof vals[i], "v%d", i * 7919);
    const size_t cap = 8192;
    ward_corr *c = ward_corr_new(cap);
    assert_non_null(c);
    uint64_t fired = 0, suppressed = 0;
    for (size_t i = 0; i < N; i++) {
        int rule = (int)rnd(&seed, NRULES + 1);
        ward_corr_val g[2] = {sv(vals[rnd(&seed, NV)]), sv(vals[rnd(&seed, 3)])};
        ward_corr_val d = sv(vals[rnd(&seed, 6)]);
        ward_corr_result r;
        assert_int_equal(ward_corr_feed(c, ids[rule], &t[rule], g, &d, times[i], &r), 0);
        ward_corr_stats s = stats(c);
        assert_true(s.bytes <= cap);
        assert_true(r.last_ms >= times[i]);
        assert_true(r.first_ms <= r.last_ms);
        assert_true(r.count >= 1);
        if (r.suppressed) {
            assert_int_equal(r.fire, 0);
            suppressed++;
        } else {
            assert_true(r.count <= t[rule].count);
            assert_int_equal(r.fire, r.count == t[rule].count);
            assert_true(r.last_ms - r.first_ms <= (uint64_t)t[rule].within_s * 1000);
            fired += (uint64_t)r.fire;
        }
        if (i % 4999 == 0)
            ward_corr_expire(c, smin[i + 1]);
    }
    ward_corr_stats s = stats(c);
    assert_int_equal(s.fired, fired);
    assert_int_equal(s.suppressed, suppressed);
    assert_int_equal(s.failures, 0);
    assert_true(s.evictions > 1000);
    assert_true(s.groups > 0);
    assert_true(fired > 100);
    /* everything expires in the end */
    ward_corr_expire(c, UINT64_MAX);
    s = stats(c);
    assert_int_equal(s.groups, 0);
    assert_int_equal(s.bytes, 0);
    free(times);
    free(smin);
    ward_corr_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_correlate_fires_on_nth),
        cmocka_unit_test(test_correlate_outside_window),
        cmocka_unit_test(test_correlate_window_boundary_inclusive),
        cmocka_unit_test(test_correlate_independent_groups),
        cmocka_unit_test(test_correlate_group_key_encoding),
        cmocka_unit_test(test_correlate_many_groups),
        cmocka_unit_test(test_correlate_distinct_counts_values),
        cmocka_unit_test(test_correlate_distinct_values_expire),
        cmocka_unit_test(test_correlate_distinct_storage_bounded),
        cmocka_unit_test(test_correlate_suppress),
        cmocka_unit_test(test_correlate_suppress_distinct),
        cmocka_unit_test(test_correlate_count_one),
        cmocka_unit_test(test_correlate_time_backwards),
        cmocka_unit_test(test_correlate_mem_cap_lru),
        cmocka_unit_test(test_correlate_mem_cap_rule_records),
        cmocka_unit_test(test_correlate_mem_cap_too_small),
        cmocka_unit_test(test_correlate_mem_cap_window_growth),
        cmocka_unit_test(test_correlate_expire),
        cmocka_unit_test(test_correlate_retain),
        cmocka_unit_test(test_correlate_threshold_changed_on_feed),
        cmocka_unit_test(test_correlate_bad_args),
        cmocka_unit_test(test_correlate_stress_model),
        cmocka_unit_test(test_correlate_stress_capped),
    };
    if (getenv("WARD_TEST_FILTER"))
        cmocka_set_test_filter(getenv("WARD_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
