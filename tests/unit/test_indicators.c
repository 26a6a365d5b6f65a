#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/indicators.h"

/* A feed of n entries "value/regional_id", expiring at expires. */
static void make_feed(ward_feed *f, uint64_t version, const char *const *values,
                      const char *const *ids, size_t n, uint64_t expires) {
    memset(f, 0, sizeof(*f));
    f->version = version;
    f->v = calloc(n ? n : 1, sizeof(*f->v));
    assert_non_null(f->v);
    f->n = n;
    for (size_t i = 0; i < n; i++) {
        f->v[i].value = strdup(values[i]);
        f->v[i].field = strdup("src_ip");
        f->v[i].regional_id = strdup(ids[i]);
        f->v[i].rules = strdup("ssh.bruteforce,web.scan");
        f->v[i].norgs = 2;
        f->v[i].expires_ms = expires;
    }
}

typedef struct got {
    const char *value[16];
    size_t n;
} got;

static int on_ind(void *ctx, const ward_feed_entry *e) {
    got *g = ctx;
    if (g->n < 16)
        g->value[g->n++] = e->value;
    return 0;
}

static size_t scan(agent_ind *s, const char *line, uint64_t now, got *g) {
    memset(g, 0, sizeof(*g));
    return agent_ind_scan(s, (const uint8_t *)line, strlen(line), now, on_ind, g);
}

static int tok(const char *line, const char *needle) {
    const char *p = strstr(line, needle);
    assert_non_null(p);
    return agent_ind_token((const uint8_t *)line, strlen(line), (size_t)(p - line), strlen(needle));
}

static void test_indicators_token_boundaries(void **state) {
    (void)state;
    assert_true(tok("10.0.0.1", "10.0.0.1"));
    assert_true(tok("from 10.0.0.1 port 22", "10.0.0.1"));
    assert_true(tok("from 10.0.0.1.", "10.0.0.1"));
    assert_true(tok("rhost=10.0.0.1:22", "10.0.0.1"));
    assert_true(tok("[10.0.0.1]", "10.0.0.1"));
    assert_true(tok("\"10.0.0.1\",", "10.0.0.1"));
    assert_true(tok("10.0.0.1-10.0.0.9", "10.0.0.1"));
    assert_false(tok("from 10.0.0.15 port", "10.0.0.1"));
    assert_false(tok("from 110.0.0.1 port", "10.0.0.1"));
    assert_false(tok("1.10.0.0.1", "10.0.0.1"));
    assert_false(tok("10.0.0.1.5", "10.0.0.1"));
    assert_false(tok("x10.0.0.1", "10.0.0.1"));
    assert_false(tok("10.0.0.1_a", "10.0.0.1"));
    assert_false(tok("user=mallory2", "mallory"));
    assert_true(tok("user=mallory,", "mallory"));
    assert_false(tok("2001:db8::10", "2001:db8::1"));
    assert_true(tok("[2001:db8::1]:22", "2001:db8::1"));
    /* out of range is never a token */
    assert_false(agent_ind_token((const uint8_t *)"abc", 3, 2, 2));
    assert_false(agent_ind_token((const uint8_t *)"abc", 3, 4, 0));
}

static void test_indicators_first_occurrence_then_suppressed(void **state) {
    (void)state;
    static const char *const v[] = {"203.0.113.7", "198.51.100.23"};
    static const char *const ids[] = {"R-1", "R-2"};
    agent_ind s;
    agent_ind_init(&s);
    ward_feed f;
    make_feed(&f, 3, v, ids, 2, 10000);
    char err[256];
    assert_int_equal(agent_ind_load(&s, &f, err, sizeof(err)), 0);
    assert_int_equal(f.n, 0); /* taken */
    got g;
    /* inside longer numbers: nothing, counted */
    assert_int_equal(scan(&s, "Failed password from 203.0.113.71 and 1203.0.113.7", 100, &g), 0);
    assert_int_equal(s.partial, 2);
    /* first occurrence: reported once even when twice in the line */
    assert_int_equal(
        scan(&s, "Failed password from 203.0.113.7 port 22; again 203.0.113.7", 100, &g), 1);
    assert_string_equal(g.value[0], "203.0.113.7");
    assert_int_equal(s.reported, 1);
    /* second line: suppressed */
    assert_int_equal(scan(&s, "Accepted password from 203.0.113.7", 200, &g), 0);
    assert_int_equal(s.suppressed, 1);
    /* the other indicator still fires, once */
    assert_int_equal(scan(&s, "GET / from 198.51.100.23 and 203.0.113.7", 300, &g), 1);
    assert_string_equal(g.value[0], "198.51.100.23");
    assert_int_equal(s.suppressed, 2);
    agent_ind_fini(&s);
}

static void test_indicators_expired_entries_do_not_fire(void **state) {
    (void)state;
    static const char *const v[] = {"203.0.113.7"};
    static const char *const ids[] = {"R-1"};
    agent_ind s;
    agent_ind_init(&s);
    ward_feed f;
    make_feed(&f, 1, v, ids, 1, 1000);
    char err[256];
    assert_int_equal(agent_ind_load(&s, &f, err, sizeof(err)), 0);
    got g;
    assert_int_equal(scan(&s, "from 203.0.113.7", 1000, &g), 0);
    assert_int_equal(s.expired, 1);
    assert_int_equal(s.reported, 0);
    agent_ind_fini(&s);
}

static void test_indicators_reload_keeps_seen_per_regional_alert(void **state) {
    (void)state;
    agent_ind s;
    agent_ind_init(&s);
    char err[256];
    got g;
    static const char *const v1[] = {"203.0.113.7", "evil.example"};
    static const char *const i1[] = {"R-1", "R-2"};
    ward_feed f;
    make_feed(&f, 1, v1, i1, 2, 100000);
    assert_int_equal(agent_ind_load(&s, &f, err, sizeof(err)), 0);
    assert_int_equal(scan(&s, "from 203.0.113.7 for EVIL.example", 10, &g), 2);
    /* a new version: 203.0.113.7 is still R-1 (stays seen); evil.example is now R-3
     * (a new regional alert: reported again); a new value is reported */
    static const char *const v2[] = {"evil.example", "203.0.113.7", "192.0.2.1"};
    static const char *const i2[] = {"R-3", "R-1", "R-4"};
    make_feed(&f, 2, v2, i2, 3, 100000);
    assert_int_equal(agent_ind_load(&s, &f, err, sizeof(err)), 0);
    assert_int_equal(s.feed.version, 2);
    assert_int_equal(scan(&s, "203.0.113.7 evil.example 192.0.2.1", 20, &g), 2);
    assert_string_equal(g.value[0], "evil.example");
    assert_string_equal(g.value[1], "192.0.2.1");
    assert_int_equal(s.suppressed, 1);
    /* an empty feed: nothing is scanned for */
    make_feed(&f, 3, NULL, NULL, 0, 0);
    assert_int_equal(agent_ind_load(&s, &f, err, sizeof(err)), 0);
    assert_null(s.mpm);
    assert_int_equal(scan(&s, "203.0.113.7", 30, &g), 0);
    agent_ind_fini(&s);
    agent_ind_fini(&s); /* twice: a no-op */
}

static void test_indicators_overlong_values_are_skipped(void **state) {
    (void)state;
    char big[WARD_MPM_MAX_LIT + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    const char *v[] = {big, "", "203.0.113.7"};
    static const char *const ids[] = {"R-1", "R-2", "R-3"};
    agent_ind s;
    agent_ind_init(&s);
    ward_feed f;
    make_feed(&f, 1, v, ids, 3, 0);
    char err[256];
    assert_int_equal(agent_ind_load(&s, &f, err, sizeof(err)), 0);
    assert_int_equal(s.skipped, 2);
    got g;
    assert_int_equal(scan(&s, big, 5, &g), 0);
    assert_int_equal(scan(&s, "203.0.113.7", 5, &g), 1); /* expires_ms 0: never expires */
    agent_ind_fini(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_indicators_token_boundaries),
        cmocka_unit_test(test_indicators_first_occurrence_then_suppressed),
        cmocka_unit_test(test_indicators_expired_entries_do_not_fire),
        cmocka_unit_test(test_indicators_reload_keeps_seen_per_regional_alert),
        cmocka_unit_test(test_indicators_overlong_values_are_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
