#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ward/mpm.h"

/* Deterministic generator (xorshift64*), so failures reproduce. */
static uint64_t rnd_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static unsigned rnd(uint64_t *s, unsigned n) {
    return (unsigned)(rnd_next(s) % n);
}

typedef struct hit {
    uint32_t id;
    size_t end;
} hit;

typedef struct hits {
    hit *v;
    size_t n, cap;
    size_t stop_after; /* 0: never stop */
} hits;

static int collect(uint32_t id, size_t end, void *ctx) {
    hits *h = ctx;
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = realloc(h->v, h->cap * sizeof(*h->v));
        assert_non_null(h->v);
    }
    h->v[h->n].id = id;
    h->v[h->n].end = end;
    h->n++;
    return h->stop_after && h->n >= h->stop_after;
}

static int hit_cmp(const void *a, const void *b) {
    const hit *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int lower(int c) {
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

typedef struct litset {
    uint8_t lit[64][WARD_MPM_MAX_LIT];
    size_t len[64];
    uint32_t id[64];
    size_t n;
} litset;

/* The reference: every position, every literal, ASCII-caseless comparison. */
static void naive(const litset *ls, const uint8_t *buf, size_t len, hits *out) {
    for (size_t k = 0; k < ls->n; k++)
        for (size_t i = 0; i + ls->len[k] <= len; i++) {
            size_t j = 0;
            while (j < ls->len[k] && lower(buf[i + j]) == lower(ls->lit[k][j]))
                j++;
            if (j == ls->len[k])
                collect(ls->id[k], i + j, out);
        }
}

static void check_same(const litset *ls, const uint8_t *buf, size_t len) {
    char err[128];
    ward_mpm *m = ward_mpm_new();
    assert_non_null(m);
    for (size_t k = 0; k < ls->n; k++)
        assert_int_equal(ward_mpm_add(m, ls->lit[k], ls->len[k], ls->id[k]), 0);
    assert_int_equal(ward_mpm_compile(m, err, sizeof(err)), 0);
    assert_int_equal(ward_mpm_count(m), ls->n);
    hits a = {0}, b = {0};
    size_t r = ward_mpm_scan(m, buf, len, collect, &a);
    naive(ls, buf, len, &b);
    assert_int_equal(r, a.n);
    assert_int_equal(a.n, b.n);
    if (a.n) {
        qsort(a.v, a.n, sizeof(hit), hit_cmp);
        qsort(b.v, b.n, sizeof(hit), hit_cmp);
        for (size_t i = 0; i < a.n; i++) {
            assert_int_equal(a.v[i].id, b.v[i].id);
            assert_int_equal(a.v[i].end, b.v[i].end);
        }
    }
    free(a.v);
    free(b.v);
    ward_mpm_free(m);
}

static void test_mpm_random_matches_naive(void **state) {
    (void)state;
    static const uint8_t alpha[] = {'a', 'b', 'A', 'B', 'c', 0, 0xff, ' ', '@', '`'};
    uint64_t seed = 0x5eed1234;
    static litset ls;
    static uint8_t buf[600];
    for (int round = 0; round < 1500; round++) {
        ls.n = 1 + rnd(&seed, 40);
        unsigned maxlen = round % 3 == 0 ? 2 : 7;
        for (size_t k = 0; k < ls.n; k++) {
            /* Some literals repeat earlier ones (same bytes, other or same id). */
            if (k > 0 && rnd(&seed, 6) == 0) {
                size_t o = rnd(&seed, (unsigned)k);
                memcpy(ls.lit[k], ls.lit[o], ls.len[o]);
                ls.len[k] = ls.len[o];
                ls.id[k] = rnd(&seed, 2) ? ls.id[o] : (uint32_t)k;
                continue;
            }
            ls.len[k] = 1 + rnd(&seed, maxlen);
            if (round % 7 == 1 && ls.len[k] == 1)
                ls.len[k] = 3; /* rounds without one-byte literals use the filter */
            for (size_t j = 0; j < ls.len[k]; j++)
                ls.lit[k][j] = alpha[rnd(&seed, sizeof(alpha))];
            ls.id[k] = (uint32_t)k * 7;
        }
        size_t len = rnd(&seed, sizeof(buf));
        for (size_t i = 0; i < len; i++)
            buf[i] = alpha[rnd(&seed, sizeof(alpha))];
        check_same(&ls, buf, len);
    }
}

/* Long literals (anchors at any offset, the masked 8-byte compare, the exact one) and
 * short ones, never one byte (so the filter is in use), with copies planted in the
 * buffer, at its very end too, where fewer than eight bytes can be loaded. */
static void test_mpm_random_long_literals_match_naive(void **state) {
    (void)state;
    static const uint8_t alpha[] = {'a', 'b', 'A', 'B', 'c', 0, 0xff, ' ', '@', '`'};
    uint64_t seed = 0xfeedbeef;
    static litset ls;
    static uint8_t buf[2048];
    for (int round = 0; round < 600; round++) {
        ls.n = 1 + rnd(&seed, 20);
        for (size_t k = 0; k < ls.n; k++) {
            unsigned kind = rnd(&seed, 4);
            ls.len[k] = kind == 0   ? 2 + rnd(&seed, 2)                     /* 2 or 3 */
                        : kind == 1 ? 4 + rnd(&seed, 8)                     /* 4..11 */
                                    : 4 + rnd(&seed, WARD_MPM_MAX_LIT - 3); /* 4..256 */
            for (size_t j = 0; j < ls.len[k]; j++)
                ls.lit[k][j] = alpha[rnd(&seed, sizeof(alpha))];
            ls.id[k] = (uint32_t)k;
        }
        size_t len = rnd(&seed, sizeof(buf));
        for (size_t i = 0; i < len; i++)
            buf[i] = alpha[rnd(&seed, sizeof(alpha))];
        for (unsigned p = rnd(&seed, 6); p > 0; p--) {
            size_t k = rnd(&seed, (unsigned)ls.n);
            if (ls.len[k] > len)
                continue;
            /* at the end, or anywhere; each byte's case flipped at random */
            size_t at =
                rnd(&seed, 3) == 0 ? len - ls.len[k] : rnd(&seed, (unsigned)(len - ls.len[k] + 1));
            for (size_t j = 0; j < ls.len[k]; j++) {
                uint8_t c = ls.lit[k][j];
                buf[at + j] = (c >= 'a' && c <= 'z' && rnd(&seed, 2)) ? (uint8_t)(c - 32) : c;
            }
        }
        check_same(&ls, buf, len);
    }
}

static void test_mpm_long_and_binary_literals(void **state) {
    (void)state;
    static litset ls;
    static uint8_t buf[2048];
    uint64_t seed = 99;
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)rnd(&seed, 256);
    ls.n = 0;
    /* A 256-byte literal taken from the buffer, its prefix and suffix, NUL and 0xFF. */
    memcpy(ls.lit[ls.n], buf + 700, 256);
    ls.len[ls.n] = 256;
    ls.id[ls.n++] = 1;
    memcpy(ls.lit[ls.n], buf + 700, 10);
    ls.len[ls.n] = 10;
    ls.id[ls.n++] = 2;
    memcpy(ls.lit[ls.n], buf + 946, 10);
    ls.len[ls.n] = 10;
    ls.id[ls.n++] = 3;
    ls.lit[ls.n][0] = 0;
    ls.len[ls.n] = 1;
    ls.id[ls.n++] = 4;
    ls.lit[ls.n][0] = 0xff;
    ls.lit[ls.n][1] = 0;
    ls.len[ls.n] = 2;
    ls.id[ls.n++] = 5;
    check_same(&ls, buf, sizeof(buf));
    ls.n = 3; /* without the short ones: the filtered path */
    check_same(&ls, buf, sizeof(buf));
    memcpy(buf + 1792, buf + 700, 256); /* at the very end of the buffer */
    check_same(&ls, buf, sizeof(buf));
}

static void test_mpm_case_folding_and_overlaps(void **state) {
    (void)state;
    static litset ls;
    const char *lits[] = {"failed", "FAILED password", "ailed pass", "d p",
                          "Pass",   "password",        "word",       "ord",
                          "rd",     "failed"};
    ls.n = 0;
    for (size_t k = 0; k < sizeof(lits) / sizeof(lits[0]); k++) {
        ls.len[ls.n] = strlen(lits[k]);
        memcpy(ls.lit[ls.n], lits[k], ls.len[ls.n]);
        ls.id[ls.n] = (uint32_t)(k % 4);
        ls.n++;
    }
    const char *s = "x FaIlEd PASSWORD for root; failed passwordpassword";
    check_same(&ls, (const uint8_t *)s, strlen(s));
    /* Exact counts for one: "failed" twice in text, added twice -> 4 reports. */
    char err[64];
    ward_mpm *m = ward_mpm_new();
    assert_int_equal(ward_mpm_add(m, (const uint8_t *)"failed", 6, 1), 0);
    assert_int_equal(ward_mpm_add(m, (const uint8_t *)"FAILED", 6, 2), 0);
    assert_int_equal(ward_mpm_compile(m, err, sizeof(err)), 0);
    hits h = {0};
    assert_int_equal(ward_mpm_scan(m, (const uint8_t *)s, strlen(s), collect, &h), 4);
    qsort(h.v, h.n, sizeof(hit), hit_cmp);
    assert_int_equal(h.v[0].id, 1);
    assert_int_equal(h.v[0].end, 8);
    assert_int_equal(h.v[3].id, 2);
    assert_int_equal(h.v[3].end, 34);
    free(h.v);
    ward_mpm_free(m);
}

/* Literals cut from real logs, scanned over the same logs. */
static void test_mpm_real_logs_match_naive(void **state) {
    (void)state;
    const char *dirs[] = {"tests/data/corpus", "../shared/corpus"};
    static litset ls;
    static uint8_t buf[1 << 16];
    uint64_t seed = 7;
    size_t files = 0;
    for (size_t d = 0; d < 2 && files == 0; d++) {
        DIR *dir = opendir(dirs[d]);
        if (!dir)
            continue;
        struct dirent *e;
        while ((e = readdir(dir))) {
            size_t nl = strlen(e->d_name);
            if (nl < 5 || strcmp(e->d_name + nl - 4, ".log") != 0)
                continue;
            char path[512];
            snprintf(path, sizeof(path), "%s/%s", dirs[d], e->d_name);
            FILE *f = fopen(path, "rb");
            if (!f)
                continue;
            size_t len = fread(buf, 1, sizeof(buf), f);
            fclose(f);
            if (len < 1000)
                continue;
            files++;
            for (int round = 0; round < 4; round++) {
                ls.n = 10 + rnd(&seed, 50);
                for (size_t k = 0; k < ls.n; k++) {
                    ls.len[k] = 2 + rnd(&seed, round == 3 ? 3 : 20);
                    memcpy(ls.lit[k], buf + rnd(&seed, (unsigned)(len - ls.len[k])), ls.len[k]);
                    ls.id[k] = (uint32_t)k;
                }
                check_same(&ls, buf, len);
            }
        }
        closedir(dir);
    }
    if (files == 0)
        print_message("no corpus files found; real-log part skipped\n");
}

static void test_mpm_stop_on_callback(void **state) {
    (void)state;
    char err[64];
    ward_mpm *m = ward_mpm_new();
    assert_int_equal(ward_mpm_add(m, (const uint8_t *)"ab", 2, 1), 0);
    assert_int_equal(ward_mpm_add(m, (const uint8_t *)"abc", 3, 2), 0);
    assert_int_equal(ward_mpm_compile(m, err, sizeof(err)), 0);
    const char *s = "xxabcxxxxxxxxxxabcabc";
    hits h = {0};
    h.stop_after = 1;
    assert_int_equal(ward_mpm_scan(m, (const uint8_t *)s, strlen(s), collect, &h), 1);
    assert_int_equal(h.n, 1);
    h.n = 0;
    h.stop_after = 3;
    assert_int_equal(ward_mpm_scan(m, (const uint8_t *)s, strlen(s), collect, &h), 3);
    h.stop_after = 0;
    /* No callback: counts only. */
    assert_int_equal(ward_mpm_scan(m, (const uint8_t *)s, strlen(s), NULL, NULL), 6);
    free(h.v);
    ward_mpm_free(m);
}

static void test_mpm_errors(void **state) {
    (void)state;
    char err[64];
    uint8_t big[WARD_MPM_MAX_LIT + 1];
    memset(big, 'x', sizeof(big));
    ward_mpm *m = ward_mpm_new();
    assert_non_null(m);
    assert_int_equal(ward_mpm_add(m, (const uint8_t *)"a", 0, 1), -1);
    assert_int_equal(ward_mpm_add(m, NULL, 3, 1), -1);
    assert_int_equal(ward_mpm_add(NULL, (const uint8_t *)"a", 1, 1), -1);
    assert_int_equal(ward_mpm_add(m, big, sizeof(big), 1), -1);
    assert_int_equal(ward_mpm_add(m, big, WARD_MPM_MAX_LIT, 1), 0);
    assert_int_equal(ward_mpm_count(m), 1);
    assert_int_equal(ward_mpm_scan(m, big, sizeof(big), NULL, NULL), 0); /* not compiled */
    assert_int_equal(ward_mpm_compile(m, err, sizeof(err)), 0);
    assert_true(ward_mpm_memory(m) > 0);
    assert_int_equal(ward_mpm_add(m, (const uint8_t *)"abc", 3, 1), -1);
    assert_int_equal(ward_mpm_compile(m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "already compiled"));
    assert_int_equal(ward_mpm_scan(m, big, sizeof(big), NULL, NULL), 2);
    assert_int_equal(ward_mpm_scan(m, big, 0, NULL, NULL), 0);
    assert_int_equal(ward_mpm_scan(m, NULL, 0, NULL, NULL), 0);
    ward_mpm_free(m);
    ward_mpm_free(NULL);
    assert_int_equal(ward_mpm_compile(NULL, err, sizeof(err)), -1);
    assert_int_equal(ward_mpm_count(NULL), 0);
    assert_int_equal(ward_mpm_memory(NULL), 0);
    /* An empty matcher compiles and finds nothing. */
    m = ward_mpm_new();
    assert_int_equal(ward_mpm_compile(m, err, sizeof(err)), 0);
    assert_int_equal(ward_mpm_scan(m, big, sizeof(big), NULL, NULL), 0);
    ward_mpm_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mpm_random_matches_naive),
        cmocka_unit_test(test_mpm_random_long_literals_match_naive),
        cmocka_unit_test(test_mpm_long_and_binary_literals),
        cmocka_unit_test(test_mpm_case_folding_and_overlaps),
        cmocka_unit_test(test_mpm_real_logs_match_naive),
        cmocka_unit_test(test_mpm_stop_on_callback),
        cmocka_unit_test(test_mpm_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
