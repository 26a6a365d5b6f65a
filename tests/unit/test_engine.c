#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ward/decode.h"
#include "ward/engine.h"
#include "ward/rule.h"

/* Builds an engine from YAML text; fails the test on any load error. */
static ward_engine *engine_from(const char *yaml) {
    ward_rules rs;
    ward_diags d;
    ward_rules_init(&rs);
    ward_diags_init(&d);
    int rc = ward_rules_load_buffer(&rs, "test.yml", (const uint8_t *)yaml, strlen(yaml), &d);
    for (size_t i = 0; i < d.n; i++) {
        char buf[1024];
        ward_diag_format(&d.v[i], buf, sizeof(buf));
        fprintf(stderr, "%s\n", buf);
    }
    assert_int_equal(rc, 0);
    ward_diags_fini(&d);
    ward_limits l;
    ward_limits_default(&l);
    char err[256];
    ward_engine *e = ward_engine_new(&rs, &l, err, sizeof(err));
    assert_non_null(e);
    ward_rules_fini(&rs);
    return e;
}

typedef struct hits {
    size_t n;
    size_t idx[64];
} hits;

static int on_hit(const ward_rule *r, size_t idx, void *ctx) {
    (void)r;
    hits *h = ctx;
    if (h->n < 64)
        h->idx[h->n++] = idx;
    return 0;
}

static hits match_line(const ward_engine *e, ward_scratch *s, ward_event *ev, const char *line,
                       ward_decoder dec) {
    hits h = {0};
    ward_decode(dec, (const uint8_t *)line, strlen(line), ev);
    ward_engine_match(e, s, ev, on_hit, &h);
    return h;
}

static const char three_rules[] = "title: A\n"
                                  "id: r-alpha\n"
                                  "level: low\n"
                                  "detection: {sel: {message|contains: alpha}, condition: sel}\n"
                                  "---\n"
                                  "title: B\n"
                                  "id: r-bravo\n"
                                  "level: low\n"
                                  "detection: {sel: {message|contains: bravo}, condition: sel}\n"
                                  "---\n"
                                  "title: C\n"
                                  "id: r-digits\n"
                                  "level: low\n"
                                  "detection:\n"
                                  "  sel: {event.original|re: '^\\d+$'}\n"
                                  "  condition: sel\n";

static void test_engine_prefilter_selects_candidates(void **state) {
    (void)state;
    ward_engine *e = engine_from(three_rules);
    assert_int_equal(ward_engine_rule_count(e), 3);
    assert_int_equal(ward_engine_always_count(e), 1);
    double ns = -1;
    assert_string_equal(ward_engine_always_rule(e, 0, &ns)->id, "r-digits");
    assert_true(ns >= 0);
    ward_scratch *s = ward_scratch_new(e);
    ward_event ev;
    ward_event_init(&ev);

    hits h = match_line(e, s, &ev, "xx ALPHA yy", WARD_DECODER_RAW);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.idx[0], 0);
    const uint32_t *cand;
    size_t nc = ward_scratch_candidates(s, &cand);
    /* alpha's rule and the always-run rule; never bravo's */
    assert_int_equal(nc, 2);
    assert_int_equal(cand[0], 0);
    assert_int_equal(cand[1], 2);

    h = match_line(e, s, &ev, "12345", WARD_DECODER_RAW);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.idx[0], 2);

    h = match_line(e, s, &ev, "bravo alpha", WARD_DECODER_RAW);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.idx[0], 0); /* reported in rule order */
    assert_int_equal(h.idx[1], 1);

    const ward_rule_stats *st = ward_scratch_stats(s);
    assert_int_equal(st[0].candidates, 2);
    assert_int_equal(st[0].matches, 2);
    assert_int_equal(st[1].candidates, 1);
    assert_int_equal(st[2].candidates, 3);
    assert_int_equal(st[2].matches, 1);

    ward_event_fini(&ev);
    ward_scratch_free(s);
    ward_engine_free(e);
}

static void test_engine_scope_by_service_and_decoder(void **state) {
    (void)state;
    ward_engine *e = engine_from("title: ssh\n"
                                 "id: r-ssh\n"
                                 "level: low\n"
                                 "logsource: {product: linux, service: sshd}\n"
                                 "detection: {k: [failed], condition: k}\n"
                                 "---\n"
                                 "title: web\n"
                                 "id: r-web\n"
                                 "level: low\n"
                                 "decoder: combined_access\n"
                                 "detection: {s: {cs-method: POST}, condition: s}\n");
    ward_scratch *s = ward_scratch_new(e);
    ward_event ev;
    ward_event_init(&ev);
    hits h = match_line(e, s, &ev, "Dec 10 06:55:48 LabSZ sshd[24200]: Failed password",
                        WARD_DECODER_AUTO);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.idx[0], 0);
    /* the same words from another program are out of the rule's scope */
    h = match_line(e, s, &ev, "Dec 10 06:55:48 LabSZ nginx[24200]: Failed password",
                   WARD_DECODER_AUTO);
    assert_int_equal(h.n, 0);
    /* a raw line has no program: the service cannot be told, so the rule runs */
    h = match_line(e, s, &ev, "Failed password", WARD_DECODER_RAW);
    assert_int_equal(h.n, 1);
    h = match_line(e, s, &ev,
                   "192.0.2.1 - - [25/Nov/2026:10:00:01 +0000] \"POST /failed HTTP/1.1\" 200 1 "
                   "\"-\" \"x\"",
                   WARD_DECODER_AUTO);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.idx[0], 1);
    /* a POST in a syslog line is not the access decoder's field */
    h = match_line(e, s, &ev, "Dec 10 06:55:48 LabSZ app[1]: POST", WARD_DECODER_AUTO);
    assert_int_equal(h.n, 0);
    ward_event_fini(&ev);
    ward_scratch_free(s);
    ward_engine_free(e);
}

static void test_engine_modes(void **state) {
    (void)state;
    ward_engine *e = engine_from("title: off\nid: r-off\nlevel: low\nmode: off\n"
                                 "detection: {k: [needle], condition: k}\n"
                                 "---\n"
                                 "title: shadow\nid: r-shadow\nlevel: low\nmode: shadow\n"
                                 "detection: {k: [needle], condition: k}\n");
    ward_scratch *s = ward_scratch_new(e);
    ward_event ev;
    ward_event_init(&ev);
    hits h = match_line(e, s, &ev, "a needle here", WARD_DECODER_RAW);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.idx[0], 1);
    assert_int_equal(ward_engine_rule(e, 1)->mode, WARD_MODE_SHADOW);
    assert_int_equal(ward_scratch_stats(s)[0].candidates, 0);
    ward_event_fini(&ev);
    ward_scratch_free(s);
    ward_engine_free(e);
}

static void test_engine_transformed_event_bypasses_prefilter(void **state) {
    (void)state;
    ward_engine *e = engine_from("title: j\nid: r-json\nlevel: low\n"
                                 "detection: {s: {msg|contains: failed}, condition: s}\n");
    ward_scratch *s = ward_scratch_new(e);
    ward_event ev;
    ward_event_init(&ev);
    /* "failed" only exists after unescaping: the raw line holds fail\u0065d */
    hits h = match_line(e, s, &ev, "{\"msg\":\"login fail\\u0065d\"}", WARD_DECODER_JSON);
    assert_int_equal(ev.transformed, 1);
    assert_int_equal(h.n, 1);
    ward_event_fini(&ev);
    ward_scratch_free(s);
    ward_engine_free(e);
}

static void test_engine_limit_hit_is_counted_no_match(void **state) {
    (void)state;
    ward_engine *e = engine_from("title: slow\nid: r-slow\nlevel: low\n"
                                 "detection: {s: {event.original|re: '^(a+)+$'}, condition: s}\n");
    ward_scratch *s = ward_scratch_new(e);
    ward_event ev;
    ward_event_init(&ev);
    char line[80];
    memset(line, 'a', sizeof(line) - 2);
    line[sizeof(line) - 2] = '!';
    line[sizeof(line) - 1] = 0;
    hits h = match_line(e, s, &ev, line, WARD_DECODER_RAW);
    assert_int_equal(h.n, 0);
    assert_int_equal(ward_scratch_stats(s)[0].limit_hits, 1);
    h = match_line(e, s, &ev, "aaaa", WARD_DECODER_RAW);
    assert_int_equal(h.n, 1);
    ward_event_fini(&ev);
    ward_scratch_free(s);
    ward_engine_free(e);
}

static void test_engine_empty_rule_set(void **state) {
    (void)state;
    ward_rules rs;
    ward_rules_init(&rs);
    ward_limits l;
    ward_limits_default(&l);
    char err[128];
    ward_engine *e = ward_engine_new(&rs, &l, err, sizeof(err));
    assert_non_null(e);
    ward_scratch *s = ward_scratch_new(e);
    ward_event ev;
    ward_event_init(&ev);
    hits h = match_line(e, s, &ev, "anything", WARD_DECODER_AUTO);
    assert_int_equal(h.n, 0);
    ward_event_fini(&ev);
    ward_scratch_free(s);
    ward_engine_free(e);
    ward_rules_fini(&rs);
}

/* A trigger literal makes a rule a candidate; the second stage drops it unless every
 * other literal (or clause) the rule requires is in the line too, before any regex. */
static void test_engine_second_stage_checks_required_literals(void **state) {
    (void)state;
    ward_engine *e = engine_from("title: two words\nid: r-two\nlevel: low\n"
                                 "detection:\n"
                                 "  a: {message|contains: 'session opened'}\n"
                                 "  b: {message|contains: [for user root, for user admin]}\n"
                                 "  c: {message|contains: 'by uid'}\n"
                                 "  condition: a and b and c\n");
    ward_scratch *s = ward_scratch_new(e);
    ward_event ev;
    ward_event_init(&ev);
    const uint32_t *cand;
    /* the trigger is there, a required literal is not: not even confirmed */
    hits h = match_line(e, s, &ev, "pam: session opened for user root", WARD_DECODER_RAW);
    assert_int_equal(h.n, 0);
    assert_int_equal(ward_scratch_candidates(s, &cand), 0);
    /* the required clause has neither of its literals */
    h = match_line(e, s, &ev, "pam: session opened for user bob by uid=0", WARD_DECODER_RAW);
    assert_int_equal(h.n, 0);
    assert_int_equal(ward_scratch_candidates(s, &cand), 0);
    /* everything required is there, in another case: a candidate, and a match */
    h = match_line(e, s, &ev, "pam: Session Opened for user ADMIN by uid=0", WARD_DECODER_RAW);
    assert_int_equal(h.n, 1);
    assert_int_equal(ward_scratch_candidates(s, &cand), 1);
    /* all there but the rule's own logic says no: a candidate that does not match */
    h = match_line(e, s, &ev, "by uid=0 for user root session opened", WARD_DECODER_RAW);
    assert_int_equal(h.n, 1);
    assert_int_equal(ward_scratch_stats(s)[0].candidates, 2);
    ward_event_fini(&ev);
    ward_scratch_free(s);
    ward_engine_free(e);
}

/* Rules with equal detections and scopes are evaluated once per event and all reported,
 * in rule order, with their own counters; a different scope or mode off keeps a rule
 * apart. */
static void test_engine_identical_rules_share_one_verdict(void **state) {
    (void)state;
    ward_engine *e = engine_from(
        "title: one\nid: r-1\nlevel: low\ndetection: {k: [needle], condition: k}\n"
        "---\ntitle: other\nid: r-2\nlevel: low\ndetection: {k: [thread], condition: k}\n"
        "---\ntitle: copy\nid: r-3\nlevel: high\ndetection: {k: [needle], condition: k}\n"
        "---\ntitle: scoped\nid: r-4\nlevel: low\ndecoder: syslog\n"
        "detection: {k: [needle], condition: k}\n"
        "---\ntitle: off\nid: r-5\nlevel: low\nmode: off\ndetection: {k: [needle], condition: k}\n"
        "---\ntitle: copy2\nid: r-6\nlevel: low\nmode: shadow\n"
        "detection: {k: [needle], condition: k}\n"
        "---\ntitle: always\nid: r-7\nlevel: low\n"
        "detection: {s: {event.original|re: '^x'}, condition: s}\n"
        "---\ntitle: always copy\nid: r-8\nlevel: low\n"
        "detection: {s: {event.original|re: '^x'}, condition: s}\n");
    assert_int_equal(ward_engine_twin_count(e), 3); /* r-3 and r-6 of r-1, r-8 of r-7 */
    ward_scratch *s = ward_scratch_new(e);
    ward_event ev;
    ward_event_init(&ev);
    hits h = match_line(e, s, &ev, "x needle and thread", WARD_DECODER_RAW);
    assert_int_equal(h.n, 6);
    size_t want[] = {0, 1, 2, 5, 6, 7};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(h.idx[i], want[i]);
    h = match_line(e, s, &ev, "a needle", WARD_DECODER_RAW);
    assert_int_equal(h.n, 3);
    assert_int_equal(h.idx[1], 2);
    h = match_line(e, s, &ev, "nothing here", WARD_DECODER_RAW);
    assert_int_equal(h.n, 0);
    h = match_line(e, s, &ev, "Dec 10 06:55:48 host app[1]: a needle", WARD_DECODER_SYSLOG);
    assert_int_equal(h.n, 4); /* r-1, r-3, r-4 (syslog only), r-6 */
    const ward_rule_stats *st = ward_scratch_stats(s);
    /* a copy counts the candidates of the rule it shares with, even those it skipped */
    assert_int_equal(st[0].candidates, 3);
    assert_int_equal(st[2].candidates, 3);
    assert_int_equal(st[2].matches, 3);
    assert_int_equal(st[5].matches, 3);
    assert_int_equal(st[4].candidates, 0);
    assert_int_equal(st[6].candidates, 4);
    assert_int_equal(st[7].candidates, 4);
    assert_int_equal(st[7].matches, 1);
    /* a transformed event makes every rule a candidate once: a copy is still visited
     * through the rule it shares with, not as a candidate of its own as well */
    ward_decode(WARD_DECODER_RAW, (const uint8_t *)"nothing", 7, &ev);
    assert_int_equal(ward_event_set_copy(&ev, "k", 1, "unescaped", 9), 0);
    assert_int_equal(ev.transformed, 1);
    hits t = {0};
    assert_int_equal(ward_engine_match(e, s, &ev, on_hit, &t), 0);
    st = ward_scratch_stats(s);
    assert_int_equal(st[0].candidates, 4);
    assert_int_equal(st[2].candidates, 4);
    assert_int_equal(st[5].candidates, 4);
    /* the naive loop runs every rule itself and agrees */
    hits n = {0};
    ward_decode(WARD_DECODER_RAW, (const uint8_t *)"x needle and thread", 19, &ev);
    ward_engine_match_naive(e, s, &ev, on_hit, &n);
    assert_int_equal(n.n, 6);
    ward_event_fini(&ev);
    ward_scratch_free(s);
    ward_engine_free(e);
}

/* ---- differential soundness: the core and the naive loop agree everywhere ---- */

typedef struct pairs {
    size_t n, cap;
    uint64_t *v;
    uint64_t line;
} pairs;

static int on_pair(const ward_rule *r, size_t idx, void *ctx) {
    (void)r;
    pairs *p = ctx;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 1024;
        p->v = realloc(p->v, p->cap * sizeof(*p->v));
        assert_non_null(p->v);
    }
    p->v[p->n++] = (p->line << 20) | idx;
    return 0;
}

/* Runs every line of path through both; returns the number of pairs (they must agree). */
static size_t compare_on_file(const ward_engine *e, ward_scratch *s, const char *path,
                              ward_decoder dec, size_t max_lines) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    pairs core = {0}, naive = {0};
    ward_event ev;
    ward_event_init(&ev);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t n = 0;
    while ((len = getline(&line, &cap, f)) > 0 && n < max_lines) {
        if (line[len - 1] == '\n')
            len--;
        n++;
        core.line = naive.line = n;
        ward_decode(dec, (const uint8_t *)line, (size_t)len, &ev);
        ward_engine_match(e, s, &ev, on_pair, &core);
        ward_engine_match_naive(e, s, &ev, on_pair, &naive);
    }
    if (core.n != naive.n)
        fprintf(stderr, "%s: core found %zu pairs, naive %zu\n", path, core.n, naive.n);
    assert_int_equal(core.n, naive.n);
    for (size_t i = 0; i < core.n; i++) {
        if (core.v[i] != naive.v[i])
            fprintf(stderr, "%s: line %llu rule %llu differs\n", path,
                    (unsigned long long)(naive.v[i] >> 20),
                    (unsigned long long)(naive.v[i] & 0xfffff));
        assert_int_equal(core.v[i], naive.v[i]);
    }
    size_t found = core.n;
    free(core.v);
    free(naive.v);
    free(line);
    ward_event_fini(&ev);
    fclose(f);
    return found;
}

static const char *const corpus_files[] = {
    "tests/data/corpus/openssh_2k.log", "tests/data/corpus/linux_2k.log",
    "tests/data/corpus/apache_2k.log",  "tests/data/corpus/proxifier_2k.log",
    "tests/data/corpus/hdfs_2k.log",    "tests/data/demo/auth.log",
    "tests/data/demo/access.log",
};

static ward_engine *engine_from_dir(const char *dir) {
    ward_rules rs;
    ward_diags d;
    ward_rules_init(&rs);
    ward_diags_init(&d);
    assert_int_equal(ward_rules_load(&rs, dir, &d), 0);
    ward_diags_fini(&d);
    ward_limits l;
    ward_limits_default(&l);
    char err[256];
    ward_engine *e = ward_engine_new(&rs, &l, err, sizeof(err));
    assert_non_null(e);
    ward_rules_fini(&rs);
    return e;
}

static void test_engine_core_equals_naive_shipped_rules(void **state) {
    (void)state;
    ward_engine *e = engine_from_dir("rules");
    ward_scratch *s = ward_scratch_new(e);
    size_t total = 0;
    for (size_t i = 0; i < sizeof(corpus_files) / sizeof(corpus_files[0]); i++)
        total += compare_on_file(e, s, corpus_files[i], WARD_DECODER_AUTO, SIZE_MAX);
    /* the sample logs hold many sshd failures: the comparison is not vacuous */
    assert_true(total > 100);
    ward_scratch_free(s);
    ward_engine_free(e);
}

/* One immutable engine, several threads, each with its own scratch: every thread finds
 * exactly what one thread alone finds (run under ASan too, which sees races on freed or
 * shared scratch memory as errors). */
typedef struct worker {
    const ward_engine *e;
    size_t pairs;
    uint64_t sum; /* order-sensitive digest of (line, rule) */
} worker;

static int on_digest(const ward_rule *r, size_t idx, void *ctx) {
    (void)r;
    worker *w = ctx;
    w->pairs++;
    w->sum = w->sum * 1000003u + idx + 1;
    return 0;
}

static const char *const thread_inputs[] = {
    "tests/data/corpus/openssh_2k.log", "tests/data/demo/access.log", "tests/data/demo/auth.log"};

static void *run_worker(void *arg) {
    worker *w = arg;
    ward_scratch *s = ward_scratch_new(w->e);
    ward_event ev;
    ward_event_init(&ev);
    char *line = NULL;
    size_t cap = 0;
    for (size_t k = 0; s && k < sizeof(thread_inputs) / sizeof(thread_inputs[0]); k++) {
        FILE *f = fopen(thread_inputs[k], "rb");
        if (!f)
            break;
        ssize_t len;
        while ((len = getline(&line, &cap, f)) > 0) {
            if (line[len - 1] == '\n')
                len--;
            ward_decode(WARD_DECODER_AUTO, (const uint8_t *)line, (size_t)len, &ev);
            w->sum = w->sum * 31u + 7u;
            ward_engine_match(w->e, s, &ev, on_digest, w);
        }
        fclose(f);
    }
    free(line);
    ward_event_fini(&ev);
    ward_scratch_free(s);
    return NULL;
}

static void test_engine_threads_share_one_engine(void **state) {
    (void)state;
    ward_engine *e = engine_from_dir("rules"); /* YAML and YARA rules */
    worker alone = {e, 0, 0};
    run_worker(&alone);
    assert_true(alone.pairs > 100);
    enum { N = 4 };
    worker w[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){e, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, run_worker, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].pairs, alone.pairs);
        assert_true(w[i].sum == alone.sum);
    }
    ward_engine_free(e);
}

/* The benchmark's real-world patterns (fail2ban, GPL-2: read from ../shared, not
 * redistributed), each as a rule on event.original, over the corpus. */
static void test_engine_core_equals_naive_fail2ban_patterns(void **state) {
    (void)state;
    FILE *f = fopen("../shared/bench/rules-fail2ban.txt", "r");
    if (!f) {
        fprintf(stderr, "skipped: ../shared/bench/rules-fail2ban.txt is absent\n");
        skip();
    }
    size_t cap = 1 << 20, len = 0;
    char *yaml = malloc(cap);
    assert_non_null(yaml);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t n;
    int id = 0;
    while ((n = getline(&line, &lcap, f)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = 0;
        if (n == 0)
            continue;
        while (len + (size_t)n * 2 + 256 > cap) {
            cap *= 2;
            yaml = realloc(yaml, cap);
            assert_non_null(yaml);
        }
        len += (size_t)sprintf(yaml + len,
                               "%stitle: p%d\nid: p%d\nlevel: low\ndetection:\n"
                               "  sel:\n    event.original|re: '",
                               id ? "---\n" : "", id, id);
        for (ssize_t i = 0; i < n; i++) {
            if (line[i] == '\'')
                yaml[len++] = '\'';
            yaml[len++] = line[i];
        }
        len += (size_t)sprintf(yaml + len, "'\n  condition: sel\n");
        id++;
    }
    fclose(f);
    free(line);
    yaml[len] = 0;
    ward_engine *e = engine_from(yaml);
    free(yaml);
    assert_int_equal(ward_engine_rule_count(e), (size_t)id);
    ward_scratch *s = ward_scratch_new(e);
    size_t total = 0;
    for (size_t i = 0; i < sizeof(corpus_files) / sizeof(corpus_files[0]); i++)
        total += compare_on_file(e, s, corpus_files[i], WARD_DECODER_RAW, SIZE_MAX);
    total += compare_on_file(e, s, "../shared/bench/corpus-small.log", WARD_DECODER_RAW, 12000);
    assert_true(total > 100);
    ward_scratch_free(s);
    ward_engine_free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_prefilter_selects_candidates),
        cmocka_unit_test(test_engine_scope_by_service_and_decoder),
        cmocka_unit_test(test_engine_modes),
        cmocka_unit_test(test_engine_transformed_event_bypasses_prefilter),
        cmocka_unit_test(test_engine_limit_hit_is_counted_no_match),
        cmocka_unit_test(test_engine_empty_rule_set),
        cmocka_unit_test(test_engine_second_stage_checks_required_literals),
        cmocka_unit_test(test_engine_identical_rules_share_one_verdict),
        cmocka_unit_test(test_engine_core_equals_naive_shipped_rules),
        cmocka_unit_test(test_engine_threads_share_one_engine),
        cmocka_unit_test(test_engine_core_equals_naive_fail2ban_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
