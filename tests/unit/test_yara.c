/* YARA rules as ward rules: loading, meta, errors, matching on message, literals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yara/error.h>

#include "ward/yara.h"

#define DIR "tests/data/rules/yara/"

static ward_rules rs;
static ward_diags d;

static void dump(void) {
    for (size_t i = 0; i < d.n; i++) {
        char buf[512];
        ward_diag_format(&d.v[i], buf, sizeof(buf));
        fprintf(stderr, "diag: %s\n", buf);
    }
}

static int setup(void **state) {
    (void)state;
    ward_rules_init(&rs);
    ward_diags_init(&d);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    ward_rules_fini(&rs);
    ward_diags_fini(&d);
    return 0;
}

static void load_good(void) {
    int rc = ward_yara_add_file(&rs, DIR "good.yar", &d);
    dump();
    assert_int_equal(rc, 0);
    assert_int_equal(ward_yara_finish(&rs, &d), 0);
    dump();
    assert_int_equal(d.n, 0);
}

static int has_diag(const char *file, int line, const char *msg) {
    for (size_t i = 0; i < d.n; i++)
        if (strstr(d.v[i].msg, msg) && (!file || !strcmp(d.v[i].file, file)) &&
            (!line || d.v[i].line == line))
            return 1;
    dump();
    return 0;
}

static void test_yara_rules_and_meta(void **state) {
    (void)state;
    load_good();
    /* every public rule, private helpers excluded */
    assert_int_equal(rs.n, 16);
    assert_null(ward_rules_find(&rs, "ward_test_helper"));
    ward_rule *r = ward_rules_find(&rs, "yara-any-001");
    assert_non_null(r);
    assert_string_equal(r->title, "SSH brute force tool");
    assert_int_equal(r->level, WARD_LEVEL_HIGH);
    assert_int_equal(r->mode, WARD_MODE_ALERT);
    assert_int_equal(r->decoder, -1);
    assert_null(r->det);
    assert_int_equal(r->yara_index, 0);
    assert_string_equal(r->file, DIR "good.yar");
    assert_int_equal(r->line, 4);
    assert_int_equal(r->ntags, 2);
    assert_string_equal(r->tags[0], "auth");
    assert_string_equal(r->tags[1], "ssh");
    r = ward_rules_find(&rs, "yara-all-002");
    assert_string_equal(r->title, "ward_test_all"); /* no title: the identifier */
    assert_int_equal(r->level, WARD_LEVEL_MEDIUM);  /* the default */
    assert_int_equal(r->line, 18);
    assert_int_equal(ward_rules_find(&rs, "yara-not-003")->level, WARD_LEVEL_LOW);
    assert_int_equal(ward_rules_find(&rs, "yara-true-004")->level, WARD_LEVEL_INFORMATIONAL);
    assert_int_equal(ward_rules_find(&rs, "yara-helper-013")->yara_index, 13);
}

static int ymatch(const char *id, const char *message) {
    static ward_match_ctx mc;
    static int init;
    if (!init) {
        ward_limits l;
        ward_limits_default(&l);
        assert_int_equal(ward_match_ctx_init(&mc, &l), 0);
        init = 1;
    }
    if (!id) { /* cleanup */
        ward_match_ctx_fini(&mc);
        init = 0;
        return 0;
    }
    const ward_rule *r = ward_rules_find(&rs, id);
    assert_non_null(r);
    ward_event ev;
    ward_event_init(&ev);
    const char *line = "<13>host prog: line";
    ward_event_reset(&ev, (const uint8_t *)line, strlen(line));
    if (message)
        ward_event_set(&ev, "message", message, strlen(message));
    mc.event_gen++;
    int m = ward_yara_match(rs.yara, r->yara_index, &ev, &mc);
    /* a second rule on the same event uses the cached scan */
    uint64_t gen = mc.yara_gen;
    assert_int_equal(ward_yara_match(rs.yara, r->yara_index, &ev, &mc), m);
    assert_int_equal(mc.yara_gen, gen);
    ward_event_fini(&ev);
    return m;
}

static void test_yara_match_on_message(void **state) {
    (void)state;
    load_good();
    assert_int_equal(ymatch("yara-any-001", "started hydra -l root"), 1);
    assert_int_equal(ymatch("yara-any-001", "MEDUSA here"), 1);
    assert_int_equal(ymatch("yara-any-001", "HYDRA is cased"), 0);
    assert_int_equal(ymatch("yara-all-002", "union select"), 1);
    assert_int_equal(ymatch("yara-all-002", "union only"), 0);
    assert_int_equal(ymatch("yara-not-003", "all good"), 1);
    assert_int_equal(ymatch("yara-not-003", "safe"), 0);
    assert_int_equal(ymatch("yara-true-004", "x"), 1);
    assert_int_equal(ymatch("yara-mixed-005", "alpha beta"), 1);
    assert_int_equal(ymatch("yara-mixed-005", "alpha"), 0);
    assert_int_equal(ymatch("yara-mixed-005", "gamma"), 1);
    assert_int_equal(ymatch("yara-count-007", "abc abc abc"), 1);
    assert_int_equal(ymatch("yara-count-007", "abc abc"), 0);
    assert_int_equal(ymatch("yara-size-012", "short"), 1);
    assert_int_equal(ymatch("yara-size-012", "a much longer message"), 0);
    assert_int_equal(ymatch("yara-helper-013", "private-marker quux"), 1);
    assert_int_equal(ymatch("yara-helper-013", "quux"), 0);
    /* without a message field, event.original is scanned */
    assert_int_equal(ymatch("yara-size-012", NULL), 0); /* the line is 19 bytes */
    assert_int_equal(ymatch("yara-true-004", NULL), 1);
    ymatch(NULL, NULL);
}

static int has_lit(const ward_relit *r, const void *s, size_t len) {
    for (size_t i = 0; i < r->nalts; i++)
        if (r->alts[i].len == len && !memcmp(r->alts[i].s, s, len))
            return 1;
    return 0;
}

/* 1 when r has literal s caseless, 0 when case-sensitive, -1 when not at all. */
static int lit_caseless(const ward_relit *r, const void *s, size_t len) {
    for (size_t i = 0; i < r->nalts; i++)
        if (r->alts[i].len == len && !memcmp(r->alts[i].s, s, len))
            return r->alts[i].caseless;
    return -1;
}

static void lits_of(const char *id, ward_relit *r) {
    const ward_rule *rule = ward_rules_find(&rs, id);
    assert_non_null(rule);
    assert_int_equal(ward_yara_literals(rs.yara, rule->yara_index, r), 0);
    assert_int_equal(r->nmust, 0);
}

static void lits_any(const char *id) {
    ward_relit r;
    lits_of(id, &r);
    if (!r.any)
        fprintf(stderr, "%s: expected any\n", id);
    assert_int_equal(r.any, 1);
    assert_int_equal(r.nalts, 0);
    ward_relit_fini(&r);
}

static void test_yara_literals_per_condition(void **state) {
    (void)state;
    load_good();
    ward_relit r;
    lits_of("yara-any-001", &r); /* any of them: union */
    assert_int_equal(r.any, 0);
    assert_int_equal(r.nalts, 2);
    assert_int_equal(lit_caseless(&r, "hydra", 5), 0);  /* text strings are case-sensitive */
    assert_int_equal(lit_caseless(&r, "Medusa", 6), 1); /* unless nocase */
    ward_relit_fini(&r);
    lits_of("yara-all-002", &r); /* all of them: one string is enough */
    assert_int_equal(r.nalts, 1);
    assert_true(has_lit(&r, "select", 6));
    ward_relit_fini(&r);
    lits_of("yara-mixed-005", &r); /* ($a and $b) or $c */
    assert_int_equal(r.nalts, 2);
    assert_true(has_lit(&r, "alpha", 5));
    assert_true(has_lit(&r, "gamma", 5));
    ward_relit_fini(&r);
    lits_of("yara-set-006", &r); /* any of ($s*) */
    assert_int_equal(r.nalts, 2);
    assert_true(has_lit(&r, "one1", 4));
    assert_true(has_lit(&r, "two2", 4));
    ward_relit_fini(&r);
    lits_of("yara-wide-009", &r); /* wide: UTF-16LE; ascii wide: both */
    assert_int_equal(r.nalts, 3);
    assert_true(has_lit(&r, "w\0i\0d\0e\0", 8));
    assert_true(has_lit(&r, "both", 4));
    assert_true(has_lit(&r, "b\0o\0t\0h\0", 8));
    ward_relit_fini(&r);
    lits_of("yara-nof-011", &r); /* 2 of them: union */
    assert_int_equal(r.nalts, 3);
    ward_relit_fini(&r);
    lits_of("yara-allset-014", &r);
    assert_int_equal(r.nalts, 1);
    assert_true(has_lit(&r, "kilo", 4));
    ward_relit_fini(&r);
    lits_any("yara-not-003");    /* not $a */
    lits_any("yara-true-004");   /* true */
    lits_any("yara-count-007");  /* #a > 2 */
    lits_any("yara-hex-008");    /* hex string */
    lits_any("yara-xor-010");    /* xor */
    lits_any("yara-size-012");   /* filesize */
    lits_any("yara-helper-013"); /* another rule's name */
    lits_any("yara-re-015");     /* a regex in an or */
    lits_any("yara-at-016");     /* $a at 0 */
    assert_int_equal(ward_yara_literals(rs.yara, 999, &r), 0);
    assert_int_equal(r.any, 1);
    assert_int_equal(ward_yara_literals(NULL, 0, &r), 0);
    assert_int_equal(r.any, 1);
}

static void test_yara_literals_caseless_only_for_nocase(void **state) {
    (void)state;
    assert_int_equal(ward_yara_add_file(&rs, DIR "cases.yar", &d), 0);
    assert_int_equal(ward_yara_finish(&rs, &d), 0);
    dump();
    assert_int_equal(d.n, 0);
    ward_relit r;
    lits_of("yara-case-401", &r);
    assert_int_equal(r.any, 0);
    assert_int_equal(r.nalts, 4);
    assert_int_equal(lit_caseless(&r, "Exact", 5), 0);
    assert_int_equal(lit_caseless(&r, "Loose", 5), 1);
    /* wanted both ways: kept once, caseless (what finds either) */
    assert_int_equal(lit_caseless(&r, "twice", 5), 1);
    assert_int_equal(lit_caseless(&r, "W\0i\0d\0e\0", 8), 1);
    ward_relit_fini(&r);
}

/* A scan that runs out of time leaves every verdict of the event unknown (-1), counted
 * once, and the next rule on the same event does not scan again. */
static void test_yara_match_timeout(void **state) {
    (void)state;
    assert_int_equal(ward_yara_add_file(&rs, DIR "slow.yar", &d), 0);
    assert_int_equal(ward_yara_add_file(&rs, DIR "second.yar", &d), 0);
    assert_int_equal(ward_yara_finish(&rs, &d), 0);
    ward_limits l;
    ward_limits_default(&l);
    l.yara_timeout_s = 1;
    ward_match_ctx mc;
    assert_int_equal(ward_match_ctx_init(&mc, &l), 0);
    ward_event ev;
    ward_event_init(&ev);
    const char *line = "in the second-file";
    ward_event_reset(&ev, (const uint8_t *)line, strlen(line));
    mc.event_gen++;
    const ward_rule *slow = ward_rules_find(&rs, "yara-slow-501");
    const ward_rule *other = ward_rules_find(&rs, "yara-second-101");
    assert_non_null(slow);
    assert_non_null(other);
    assert_int_equal(ward_yara_match(rs.yara, slow->yara_index, &ev, &mc), -1);
    assert_int_equal(mc.yara_error, ERROR_SCAN_TIMEOUT);
    assert_int_equal(mc.limit_hits, 1);
    assert_int_equal(mc.hit_limit, 1);
    uint64_t gen = mc.yara_gen;
    /* a rule that would have matched is unknown too: the scan stopped before it */
    assert_int_equal(ward_yara_match(rs.yara, other->yara_index, &ev, &mc), -1);
    assert_int_equal(mc.yara_gen, gen);
    assert_int_equal(mc.limit_hits, 1);
    ward_event_fini(&ev);
    ward_match_ctx_fini(&mc);
}

static void test_yara_syntax_error_names_line(void **state) {
    (void)state;
    assert_int_equal(ward_yara_add_file(&rs, DIR "syntax_error.yar", &d), -1);
    assert_true(has_diag(DIR "syntax_error.yar", 14, "YARA: syntax error"));
    /* the broken file is dropped; the compiler still takes good files */
    assert_int_equal(ward_yara_add_file(&rs, DIR "second.yar", &d), 0);
    size_t nd = d.n;
    assert_int_equal(ward_yara_finish(&rs, &d), 0);
    assert_int_equal(d.n, nd);
    assert_int_equal(rs.n, 1);
    assert_null(ward_rules_find(&rs, "yara-never-201"));
    ward_rule *r = ward_rules_find(&rs, "yara-second-101");
    assert_non_null(r);
    assert_int_equal(r->level, WARD_LEVEL_CRITICAL);
    assert_int_equal(r->line, 1);
}

static void test_yara_meta_errors(void **state) {
    (void)state;
    assert_int_equal(ward_yara_add_file(&rs, DIR "missing_id.yar", &d), 0);
    assert_int_equal(ward_yara_finish(&rs, &d), -1);
    assert_true(has_diag(DIR "missing_id.yar", 1, "YARA rule 'ward_test_no_id' has no meta 'id'"));
    assert_true(has_diag(DIR "missing_id.yar", 9,
                         "YARA rule 'ward_test_bad_level': invalid level 'urgent'"));
    assert_int_equal(d.n, 2);
    /* the good rule of the file is still added */
    assert_int_equal(rs.n, 1);
    assert_non_null(ward_rules_find(&rs, "yara-fine-302"));
}

static void test_yara_several_files_and_finishes(void **state) {
    (void)state;
    load_good();
    size_t n = rs.n;
    /* a rule name already used is a compile error of the new file only */
    assert_int_equal(ward_yara_add_file(&rs, DIR "second.yar", &d), 0);
    assert_int_equal(ward_yara_add_file(&rs, DIR "duplicate.yar", &d), -1);
    assert_true(has_diag(DIR "duplicate.yar", 1, "duplicated identifier"));
    size_t nd = d.n;
    assert_int_equal(ward_yara_finish(&rs, &d), 0);
    assert_int_equal(d.n, nd);
    assert_int_equal(rs.n, n + 1);
    /* each rule found in its own source: the search resumes where the last one ended */
    const ward_rule *sec = ward_rules_find(&rs, "yara-second-101");
    assert_string_equal(sec->file, DIR "second.yar");
    assert_int_equal(sec->line, 1);
    ward_relit r;
    lits_of("yara-second-101", &r);
    assert_int_equal(r.nalts, 1);
    assert_true(has_lit(&r, "second-file", 11));
    ward_relit_fini(&r);
    lits_of("yara-allset-014", &r); /* a rule of the first file, after the recompile */
    assert_int_equal(r.nalts, 1);
    assert_true(has_lit(&r, "kilo", 4));
    ward_relit_fini(&r);
    lits_any("yara-true-004");
    /* earlier rules keep their indexes and still match */
    assert_int_equal(ymatch("yara-any-001", "hydra"), 1);
    assert_int_equal(ymatch("yara-second-101", "in the second-file"), 1);
    assert_int_equal(ymatch("yara-second-101", "hydra"), 0);
    /* nothing new: finish is a no-op */
    assert_int_equal(ward_yara_finish(&rs, &d), 0);
    assert_int_equal(rs.n, n + 1);
    ymatch(NULL, NULL);
}

static void test_yara_missing_file_and_noop(void **state) {
    (void)state;
    assert_int_equal(ward_yara_finish(&rs, &d), 0); /* nothing added */
    assert_null(rs.yara);
    assert_int_equal(ward_yara_add_file(&rs, DIR "nope.yar", &d), -1);
    assert_true(has_diag(DIR "nope.yar", 0, "cannot open: No such file or directory"));
    ward_yara_free(NULL);
    ward_match_ctx mc;
    ward_limits l;
    ward_limits_default(&l);
    assert_int_equal(ward_match_ctx_init(&mc, &l), 0);
    assert_int_equal(ward_yara_match(NULL, 0, NULL, &mc), 0);
    ward_match_ctx_fini(&mc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_yara_rules_and_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yara_match_on_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yara_literals_per_condition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yara_literals_caseless_only_for_nocase, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_yara_match_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yara_syntax_error_names_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yara_meta_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yara_several_files_and_finishes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yara_missing_file_and_noop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
