#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ward/decode.h"
#include "ward/detect.h"
#include "ward/node.h"
#include "ward/rule.h"

#define DATA "tests/data/rules/loader/"

/* The smallest valid rule, for the tests to add to or break. */
#define GOOD_HEAD "title: T\nid: t1\nlevel: high\n"
#define GOOD_DET "detection:\n  selection:\n    program: sshd\n  condition: selection\n"

typedef struct fixture {
    ward_rules rs;
    ward_diags d;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    ward_rules_init(&f->rs);
    ward_diags_init(&f->d);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    ward_rules_fini(&f->rs);
    ward_diags_fini(&f->d);
    free(f);
    return 0;
}

static int load(fixture *f, const char *text) {
    return ward_rules_load_buffer(&f->rs, "t.yml", (const uint8_t *)text, strlen(text), &f->d);
}

static int overlay(fixture *f, const char *text) {
    return ward_rules_load_overlay_buffer(&f->rs, "o.yml", (const uint8_t *)text, strlen(text),
                                          &f->d);
}

static void dump(const ward_diags *d) {
    char buf[1200];
    for (size_t i = 0; i < d->n; i++) {
        ward_diag_format(&d->v[i], buf, sizeof(buf));
        print_error("  have: %s\n", buf);
    }
}

/* Asserts that some diagnostic, formatted as "file:line:col: rule ID: msg", contains want. */
static void expect_diag(const ward_diags *d, const char *want) {
    char buf[1200];
    for (size_t i = 0; i < d->n; i++) {
        ward_diag_format(&d->v[i], buf, sizeof(buf));
        if (strstr(buf, want))
            return;
    }
    dump(d);
    fail_msg("no diagnostic contains: %s", want);
}

static void expect_ndiags(const ward_diags *d, size_t n) {
    if (d->n != n) {
        dump(d);
        fail_msg("%zu diagnostics, expected %zu", d->n, n);
    }
}

/* Loads text, expects it to fail with exactly one diagnostic containing want, no rule. */
static void expect_one_error(const char *text, const char *want) {
    void *st = NULL;
    assert_int_equal(setup(&st), 0);
    fixture *f = st;
    assert_int_equal(load(f, text), -1);
    expect_diag(&f->d, want);
    expect_ndiags(&f->d, 1);
    assert_int_equal(f->rs.n, 0);
    teardown(&st);
}

/* Loads path and expects "path: msg". */
static void expect_file_error(fixture *f, const char *path, const char *msg) {
    assert_int_equal(ward_rules_load(&f->rs, path, &f->d), -1);
    char want[400];
    snprintf(want, sizeof(want), "%s: %s", path, msg);
    expect_diag(&f->d, want);
    expect_ndiags(&f->d, 1);
}

/* ---- good rules ---- */

static void test_rule_loads_full_rule(void **state) {
    fixture *f = *state;
    const char *y =
        "title: Failed SSH login\n"
        "id: ssh-failed-1\n"
        "status: test\n"
        "description: Someone failed to log in\n"
        "references:\n  - https://example.org/a\n"
        "author: SOC\n"
        "date: 2024-01-02\n"
        "modified: 2024/02/03\n"
        "tags: [attack.credential_access, attack.t1110]\n"
        "level: medium\n"
        "falsepositives: Users mistyping\n"
        "related:\n  - id: 12345678-aaaa\n    type: derived\n"
        "license: DRL\n"
        "fields: [user]\n"
        "logsource: {product: linux, service: sshd, category: auth, definition: x}\n"
        "rev: 7\n"
        "mode: shadow\n"
        "decoder: syslog\n"
        "extract:\n  on: message\n  pcre2: 'Failed password for (?<user>\\S+) from "
        "(?<source_ip>\\S+)'\n  literals: [Failed password for]\n"
        "threshold: {count: 5, within: 2m, group_by: [source_ip, user], distinct: user, "
        "suppress: 1h}\n"
        "tests:\n"
        "  match:\n"
        "    - 'Failed password for root from 10.0.0.1 port 22 ssh2'\n"
        "    - line: 'Failed password for bob from 10.0.0.2 port 22 ssh2'\n"
        "      fields: {user: bob, source_ip: 10.0.0.2}\n"
        "  no_match:\n"
        "    - 'Accepted password for root'\n" GOOD_DET;
    int rc = load(f, y);
    if (rc != 0)
        dump(&f->d);
    assert_int_equal(rc, 0);
    assert_int_equal(f->d.n, 0);
    assert_int_equal(f->rs.n, 1);
    ward_rule *r = ward_rules_find(&f->rs, "ssh-failed-1");
    assert_non_null(r);
    assert_string_equal(r->title, "Failed SSH login");
    assert_string_equal(r->status, "test");
    assert_string_equal(r->description, "Someone failed to log in");
    assert_string_equal(r->author, "SOC");
    assert_string_equal(r->date, "2024-01-02");
    assert_string_equal(r->modified, "2024/02/03");
    assert_int_equal(r->nreferences, 1);
    assert_int_equal(r->ntags, 2);
    assert_string_equal(r->tags[1], "attack.t1110");
    assert_int_equal(r->nfalsepositives, 1);
    assert_string_equal(r->falsepositives[0], "Users mistyping");
    assert_int_equal(r->level, WARD_LEVEL_MEDIUM);
    assert_int_equal(r->mode, WARD_MODE_SHADOW);
    assert_int_equal(r->rev, 7);
    assert_int_equal(r->decoder, WARD_DECODER_SYSLOG);
    assert_string_equal(r->ls_product, "linux");
    assert_string_equal(r->ls_service, "sshd");
    assert_string_equal(r->ls_category, "auth");
    assert_string_equal(r->file, "t.yml");
    assert_int_equal(r->line, 1);
    assert_non_null(r->extract);
    assert_int_equal(r->threshold.set, 1);
    assert_int_equal(r->threshold.count, 5);
    assert_int_equal(r->threshold.within_s, 120);
    assert_int_equal(r->threshold.suppress_s, 3600);
    assert_int_equal(r->threshold.ngroup_by, 2);
    assert_string_equal(r->threshold.group_by[0], "source_ip");
    assert_string_equal(r->threshold.distinct, "user");
    assert_int_equal(r->ntests, 3);
    assert_int_equal(r->tests[0].expect_match, 1);
    assert_string_equal(r->tests[0].line, "Failed password for root from 10.0.0.1 port 22 ssh2");
    assert_int_equal(r->tests[0].src_line, 29);
    assert_int_equal(r->tests[0].src_col, 7);
    assert_int_equal(r->tests[1].nfields, 2);
    assert_string_equal(r->tests[1].fields[1].name, "source_ip");
    assert_string_equal(r->tests[1].fields[1].value, "10.0.0.2");
    assert_int_equal(r->tests[1].src_line, 30);
    assert_int_equal(r->tests[2].expect_match, 0);
    assert_int_equal(r->tests[2].line_len, strlen("Accepted password for root"));
    assert_non_null(r->det);
    assert_int_equal(r->yara_index, -1);
}

static void test_rule_defaults(void **state) {
    fixture *f = *state;
    assert_int_equal(load(f, GOOD_HEAD GOOD_DET), 0);
    ward_rule *r = f->rs.v[0];
    assert_int_equal(r->mode, WARD_MODE_ALERT);
    assert_int_equal(r->decoder, -1);
    assert_int_equal(r->rev, 0);
    assert_null(r->extract);
    assert_int_equal(r->threshold.set, 0);
    assert_null(r->ls_product);
    assert_int_equal(r->ntests, 0);
}

static void test_rule_quoted_numbers_accepted(void **state) {
    fixture *f = *state;
    assert_int_equal(load(f, GOOD_HEAD GOOD_DET "rev: \"3\"\nthreshold: {count: '2', within: "
                                                "\"30\"}\n"),
                     0);
    assert_int_equal(f->rs.v[0]->rev, 3);
    assert_int_equal(f->rs.v[0]->threshold.count, 2);
    assert_int_equal(f->rs.v[0]->threshold.within_s, 30);
}

static void test_rule_durations(void **state) {
    fixture *f = *state;
    assert_int_equal(load(f, "title: T\nid: a\nlevel: low\n" GOOD_DET
                             "threshold: {count: 1, within: 45s, suppress: 1d}\n"
                             "---\ntitle: T\nid: b\nlevel: low\n" GOOD_DET
                             "threshold: {count: 1000000, within: 30d}\n"),
                     0);
    assert_int_equal(f->rs.v[0]->threshold.within_s, 45);
    assert_int_equal(f->rs.v[0]->threshold.suppress_s, 86400);
    assert_int_equal(f->rs.v[1]->threshold.within_s, 30 * 86400);
    assert_int_equal(f->rs.v[1]->threshold.count, 1000000);
}

static void test_rule_names(void **state) {
    (void)state;
    assert_string_equal(ward_level_name(WARD_LEVEL_INFORMATIONAL), "informational");
    assert_string_equal(ward_level_name(WARD_LEVEL_CRITICAL), "critical");
    assert_string_equal(ward_level_name((ward_level)99), "unknown");
    assert_string_equal(ward_mode_name(WARD_MODE_ALERT), "alert");
    assert_string_equal(ward_mode_name(WARD_MODE_OFF), "off");
    assert_string_equal(ward_mode_name((ward_mode)-1), "unknown");
}

/* ---- load_buffer of streams ---- */

static void test_rule_multi_document_stream(void **state) {
    fixture *f = *state;
    assert_int_equal(load(f, "---\ntitle: A\nid: a\nlevel: low\n" GOOD_DET
                             "---\ntitle: B\nid: b\nlevel: low\n" GOOD_DET "---\n"),
                     0);
    assert_int_equal(f->rs.n, 2);
    assert_string_equal(f->rs.v[1]->id, "b");
    assert_int_equal(f->rs.v[1]->line, 10);
}

/* ---- every error path ---- */

static void test_rule_malformed_yaml(void **state) {
    (void)state;
    expect_one_error("title: [x\nid: y\n", "t.yml:2:3: YAML: did not find expected ',' or ']'");
}

static void test_rule_tabs(void **state) {
    (void)state;
    expect_one_error("title: x\n\tid: y\n", "t.yml:2:1: YAML: found a tab character that violates "
                                            "indentation while scanning a plain scalar (line 1, "
                                            "column 8)");
    expect_one_error("title: x\nid:\n\t- y\n", "t.yml:3:1: YAML: found character that cannot "
                                               "start any token while scanning for the next "
                                               "token (line 3, column 1) (tabs are not allowed "
                                               "in YAML indentation; use spaces)");
}

static void test_rule_unterminated_quote(void **state) {
    (void)state;
    expect_one_error("title: 'abc\nid: y\n",
                     "t.yml:3:1: YAML: found unexpected end of stream while scanning a quoted "
                     "scalar (line 1, column 8)");
}

static void test_rule_duplicate_key(void **state) {
    (void)state;
    expect_one_error(GOOD_HEAD GOOD_DET "level: low\n",
                     "t.yml:8:1: rule t1: duplicate key 'level' (first at line 3, column 1)");
}

static void test_rule_alias_refused(void **state) {
    (void)state;
    expect_one_error(GOOD_HEAD "detection:\n  selection:\n    program: sshd\n  other: *s\n"
                               "  condition: selection\n",
                     "t.yml:7:10: rule t1: YAML aliases ('*s') are not supported");
    expect_one_error(GOOD_HEAD GOOD_DET "tags: &t [a]\n",
                     "t.yml:8:7: rule t1: YAML anchors ('&t') are not supported");
}

static void test_rule_too_deep(void **state) {
    (void)state;
    char y[512] = GOOD_HEAD "description: ";
    for (int i = 0; i < 70; i++)
        strcat(y, "[");
    expect_one_error(y, "t.yml:4:77: rule t1: YAML nesting deeper than 64 levels");
}

static void test_rule_too_many_nodes(void **state) {
    (void)state;
    size_t items = WARD_YAML_MAX_NODES;
    char *y = malloc(items * 2 + 64);
    assert_non_null(y);
    strcpy(y, "id: big\ntags: [");
    size_t n = strlen(y);
    for (size_t i = 0; i < items; i++) {
        y[n++] = 'x';
        y[n++] = ',';
    }
    y[n - 1] = ']';
    y[n] = 0;
    expect_one_error(y, "rule big: YAML document has more than 200000 nodes");
    free(y);
}

static void test_rule_not_a_map(void **state) {
    (void)state;
    expect_one_error("- a\n- b\n", "t.yml:1:1: a rule must be a YAML map, not a list");
    expect_one_error("just text\n", "t.yml:1:1: a rule must be a YAML map, not a string");
}

static void test_rule_missing_required(void **state) {
    (void)state;
    expect_one_error("id: t1\nlevel: high\n" GOOD_DET,
                     "t.yml:1:1: rule t1: missing required key 'title'");
    expect_one_error("title: T\nlevel: high\n" GOOD_DET, "t.yml:1:1: missing required key 'id'");
    expect_one_error("title: T\nid: t1\n" GOOD_DET,
                     "t.yml:1:1: rule t1: missing required key 'level'");
    expect_one_error(GOOD_HEAD, "t.yml:1:1: rule t1: missing required key 'detection'");
    expect_one_error("title:\nid: t1\nlevel: high\n" GOOD_DET,
                     "t.yml:1:7: rule t1: 'title' must not be empty");
}

static void test_rule_bad_level(void **state) {
    (void)state;
    expect_one_error("title: T\nid: t1\nlevel: severe\n" GOOD_DET,
                     "t.yml:3:8: rule t1: level must be one of informational, low, medium, "
                     "high, critical (got 'severe')");
    expect_one_error("title: T\nid: t1\nlevel: [high]\n" GOOD_DET,
                     "t.yml:3:8: rule t1: level must be one of informational, low, medium, "
                     "high, critical, not a list");
}

static void test_rule_bad_mode(void **state) {
    (void)state;
    expect_one_error(GOOD_HEAD GOOD_DET "mode: loud\n",
                     "t.yml:8:7: rule t1: mode must be one of alert, shadow, off (got 'loud')");
}

static void test_rule_bad_decoder(void **state) {
    (void)state;
    expect_one_error(GOOD_HEAD GOOD_DET "decoder: xml\n",
                     "t.yml:8:10: rule t1: unknown decoder 'xml' (expected raw, syslog, "
                     "combined_access, json, kv, auto or fail2ban)");
    expect_one_error(GOOD_HEAD GOOD_DET "decoder: {a: b}\n",
                     "t.yml:8:10: rule t1: 'decoder' must be a decoder name");
}

static void test_rule_bad_rev(void **state) {
    (void)state;
    expect_one_error(GOOD_HEAD GOOD_DET "rev: -1\n",
                     "t.yml:8:6: rule t1: rev must be a non-negative integer (got '-1')");
    expect_one_error(GOOD_HEAD GOOD_DET "rev: 1.5\n",
                     "t.yml:8:6: rule t1: rev must be a non-negative integer (got '1.5')");
    expect_one_error(GOOD_HEAD GOOD_DET "rev: 99999999999\n",
                     "t.yml:8:6: rule t1: rev must be a non-negative integer");
    expect_one_error(GOOD_HEAD GOOD_DET "rev:\n",
                     "t.yml:8:5: rule t1: rev must be a non-negative integer, not empty");
}

static void test_rule_bad_id(void **state) {
    (void)state;
    expect_one_error("title: T\nid: has space\nlevel: low\n" GOOD_DET,
                     "t.yml:2:5: id 'has space' must be 1 to 256 characters of A-Z a-z 0-9 _ . "
                     ": -");
    expect_one_error("title: T\nid: [a]\nlevel: low\n" GOOD_DET,
                     "t.yml:2:5: 'id' must be a string, not a list");
}

static void test_rule_unknown_key(void **state) {
    (void)state;
    expect_one_error(GOOD_HEAD GOOD_DET "colour: blue\n",
                     "t.yml:8:1: rule t1: unknown key 'colour'");
    expect_one_error(GOOD_HEAD GOOD_DET "logsource: {product: x, os: y}\n",
                     "t.yml:8:25: rule t1: unknown key 'logsource.os'");
}

static void test_rule_sigma_ignored_keys(void **state) {
    fixture *f = *state;
    assert_int_equal(load(f, GOOD_HEAD GOOD_DET "license: DRL\nfields: [a]\nname: n\n"
                                                "taxonomy: sysmon\nscope: [server]\n"),
                     0);
    assert_int_equal(f->rs.n, 1);
}

static void test_rule_unsupported_sigma_with_reason(void **state) {
    (void)state;
    expect_one_error("title: C\nid: c1\ncorrelation:\n  type: event_count\n  rules: [a]\n",
                     "t.yml:3:1: rule c1: Sigma correlation rules are not supported");
    expect_one_error("action: global\ntitle: G\nlogsource: {product: linux}\n",
                     "t.yml:1:1: Sigma rule collections ('action: global/reset/repeat') are not "
                     "supported");
    expect_one_error("title: F\nid: f1\nfilter:\n  rules: [a]\n  sel: {x: 1}\n  condition: not "
                     "sel\n",
                     "t.yml:3:1: rule f1: Sigma filter documents are only supported in overlay "
                     "files");
}

static void test_rule_bad_status_and_related(void **state) {
    (void)state;
    expect_one_error(GOOD_HEAD GOOD_DET "status: great\n",
                     "t.yml:8:9: rule t1: status must be one of stable, test, experimental, "
                     "deprecated, unsupported (got 'great')");
    expect_one_error(GOOD_HEAD GOOD_DET "related:\n  - id: x\n    type: cousin\n",
                     "t.yml:10:11: rule t1: related.type must be one of derived, obsolete, "
                     "merged, renamed, similar (got 'cousin')");
    expect_one_error(GOOD_HEAD GOOD_DET "related:\n  - type: derived\n",
                     "t.yml:9:5: rule t1: a 'related' item needs 'id'");
    expect_one_error(GOOD_HEAD GOOD_DET "related: x\n",
                     "t.yml:8:10: rule t1: 'related' must be a list of {id, type}, not a string");
    expect_one_error(GOOD_HEAD GOOD_DET "tags: a\n",
                     "t.yml:8:7: rule t1: 'tags' must be a list of strings, not a string");
    expect_one_error(GOOD_HEAD GOOD_DET "references: [[a]]\n",
                     "t.yml:8:14: rule t1: 'references' items must be strings, not a list");
    expect_one_error(GOOD_HEAD GOOD_DET "logsource: [x]\n",
                     "t.yml:8:12: rule t1: 'logsource' must be a map");
    expect_one_error(GOOD_HEAD GOOD_DET "author: {a: b}\n",
                     "t.yml:8:9: rule t1: 'author' must be a string, not a map");
}

static void test_rule_detection_not_a_map(void **state) {
    (void)state;
    expect_one_error(GOOD_HEAD "detection: [a]\n",
                     "t.yml:4:12: rule t1: 'detection' must be a map of selections and a "
                     "condition, not a list");
}

static void test_rule_bad_threshold(void **state) {
    (void)state;
    const char *cases[][2] = {
        {"threshold: {count: 0, within: 1m}",
         "t.yml:8:20: rule t1: threshold.count must be an integer from 1 to 1000000 (got '0')"},
        {"threshold: {count: 1000001, within: 1m}",
         "t.yml:8:20: rule t1: threshold.count must be an integer from 1 to 1000000 (got "
         "'1000001')"},
        {"threshold: {count: x, within: 1m}",
         "t.yml:8:20: rule t1: threshold.count must be an integer"},
        {"threshold: {count: 2, within: 5y}",
         "t.yml:8:31: rule t1: threshold.within: bad duration '5y' (seconds, or a number "
         "followed by s, m, h or d)"},
        {"threshold: {count: 2, within: 1.5h}", "t.yml:8:31: rule t1: threshold.within: bad "
                                                "duration '1.5h'"},
        {"threshold: {count: 2, within: m}", "t.yml:8:31: rule t1: threshold.within: bad "
                                             "duration 'm'"},
        {"threshold: {count: 2, within: 0}",
         "t.yml:8:31: rule t1: threshold.within must be from 1s to 30d (got '0')"},
        {"threshold: {count: 2, within: 31d}",
         "t.yml:8:31: rule t1: threshold.within must be from 1s to 30d (got '31d')"},
        {"threshold: {count: 2, within: 99999999999999s}",
         "t.yml:8:31: rule t1: threshold.within must be from 1s to 30d"},
        {"threshold: {count: 2, within: 1m, suppress: -5}",
         "t.yml:8:45: rule t1: threshold.suppress: bad duration '-5'"},
        {"threshold: {count: 2, within: [1]}",
         "t.yml:8:31: rule t1: threshold.within must be a duration, not a list"},
        {"threshold: {count: 2}", "t.yml:8:12: rule t1: threshold needs 'within'"},
        {"threshold: {within: 1m}", "t.yml:8:12: rule t1: threshold needs 'count'"},
        {"threshold: {count: 2, within: 1m, per: ip}",
         "t.yml:8:35: rule t1: unknown key 'threshold.per'"},
        {"threshold: {count: 2, within: 1m, group_by: {a: b}}",
         "t.yml:8:45: rule t1: 'threshold.group_by' must be a list of strings, not a map"},
        {"threshold: {count: 2, within: 1m, distinct: [a]}",
         "t.yml:8:45: rule t1: 'threshold.distinct' must be a string, not a list"},
        {"threshold: 5", "t.yml:8:12: rule t1: 'threshold' must be a map"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char y[512];
        snprintf(y, sizeof(y), GOOD_HEAD GOOD_DET "%s\n", cases[i][0]);
        expect_one_error(y, cases[i][1]);
    }
}

/* "threshold: {count: 2, within: 1m, group_by: [f0, f1, ...]}" with n fields. */
static char *group_by_rule(size_t n) {
    char *y = malloc(4096);
    assert_non_null(y);
    int len = snprintf(y, 4096, GOOD_HEAD GOOD_DET "threshold: {count: 2, within: 1m, group_by: [");
    for (size_t i = 0; i < n; i++)
        len += snprintf(y + len, 4096 - (size_t)len, "%sf%zu", i ? ", " : "", i);
    snprintf(y + len, 4096 - (size_t)len, "]}\n");
    return y;
}

static void test_rule_threshold_group_by_limit(void **state) {
    fixture *f = *state;
    char *y = group_by_rule(WARD_THRESHOLD_MAX_GROUP_BY);
    assert_int_equal(load(f, y), 0);
    assert_int_equal(f->rs.v[0]->threshold.ngroup_by, WARD_THRESHOLD_MAX_GROUP_BY);
    free(y);
    y = group_by_rule(WARD_THRESHOLD_MAX_GROUP_BY + 1);
    expect_one_error(y, "t.yml:8:45: rule t1: threshold.group_by has 17 fields, over the limit "
                        "of 16");
    free(y);
    /* an overlay's threshold is held to it too */
    const char *ov = "overlay: {rule: t1, threshold: {count: 2, within: 1m, group_by: [a, b, c, "
                     "d, e, f, g, h, i, j, k, l, m, n, o, p, q]}}";
    assert_int_equal(overlay(f, ov), -1);
    expect_diag(&f->d, "o.yml:1:65: rule t1: threshold.group_by has 17 fields, over the limit "
                       "of 16");
    expect_ndiags(&f->d, 1);
    assert_int_equal(f->rs.v[0]->threshold.ngroup_by, WARD_THRESHOLD_MAX_GROUP_BY);
}

/* An extract of n named groups (?<g0>a)(?<g1>a)... */
static char *extract_rule(size_t n) {
    char *y = malloc(4096);
    assert_non_null(y);
    int len = snprintf(y, 4096, GOOD_HEAD GOOD_DET "extract: {on: message, pcre2: '");
    for (size_t i = 0; i < n; i++)
        len += snprintf(y + len, 4096 - (size_t)len, "(?<g%zu>a)", i);
    snprintf(y + len, 4096 - (size_t)len, "'}\n");
    return y;
}

static void test_rule_extract_named_group_limit(void **state) {
    fixture *f = *state;
    char *y = extract_rule(WARD_EXTRACT_MAX);
    int rc = load(f, y);
    if (rc)
        dump(&f->d);
    assert_int_equal(rc, 0);
    free(y);
    y = extract_rule(WARD_EXTRACT_MAX + 1);
    expect_one_error(y, "t.yml:8:31: rule t1: extract.pcre2 has 65 group names, over the limit "
                        "of 64");
    free(y);
    /* one name given to many groups (as the fail2ban importer writes src_ip) is one field */
    char big[4096];
    int len =
        snprintf(big, sizeof(big),
                 "title: T\nid: t2\nlevel: high\n" GOOD_DET "extract: {on: message, pcre2: '(?J)");
    for (int i = 0; i < 2 * WARD_EXTRACT_MAX; i++)
        len += snprintf(big + len, sizeof(big) - (size_t)len, "%s(?<g>a%d)", i ? "|" : "", i);
    snprintf(big + len, sizeof(big) - (size_t)len, "'}\n");
    rc = load(f, big);
    if (rc)
        dump(&f->d);
    assert_int_equal(rc, 0);
    assert_int_equal(f->rs.n, 2);
}

static void test_rule_extract_without_named_group(void **state) {
    (void)state;
    expect_one_error(GOOD_HEAD GOOD_DET "extract: {on: message, pcre2: 'user (\\S+)'}\n",
                     "t.yml:8:31: rule t1: extract.pcre2 has no named group (?<name>...): it "
                     "would extract nothing");
}

static void test_rule_extract_bad_regex_shows_offset(void **state) {
    (void)state;
    expect_one_error(GOOD_HEAD GOOD_DET "extract:\n  on: message\n  pcre2: 'user (?<u>\\S+'\n",
                     "t.yml:10:10: rule t1: extract.pcre2: bad regex: missing closing "
                     "parenthesis at offset 13");
}

static void test_rule_extract_literal_not_required(void **state) {
    (void)state;
    expect_one_error(GOOD_HEAD GOOD_DET "extract:\n  on: message\n"
                                        "  pcre2: 'Failed password for (?<user>\\S+)'\n"
                                        "  literals: [Failed password, Accepted]\n",
                     "t.yml:11:31: rule t1: extract literal 'Accepted' is not required by the "
                     "pattern");
}

static void test_rule_extract_malformed(void **state) {
    (void)state;
    expect_one_error(GOOD_HEAD GOOD_DET "extract: {pcre2: '(?<a>x)'}\n",
                     "t.yml:8:10: rule t1: extract needs 'on: FIELD'");
    expect_one_error(GOOD_HEAD GOOD_DET "extract: {on: message}\n",
                     "t.yml:8:10: rule t1: extract needs 'pcre2: PATTERN'");
    expect_one_error(GOOD_HEAD GOOD_DET "extract: {on: message, pcre2: '(?<a>x)', re: y}\n",
                     "t.yml:8:42: rule t1: unknown key 'extract.re'");
    expect_one_error(GOOD_HEAD GOOD_DET "extract: {on: message, pcre2: [x]}\n",
                     "t.yml:8:31: rule t1: 'extract.pcre2' must be a non-empty string, not a "
                     "list");
    expect_one_error(GOOD_HEAD GOOD_DET "extract: '(?<a>x)'\n",
                     "t.yml:8:10: rule t1: 'extract' must be a map (on, pcre2, literals), not a "
                     "string");
    expect_one_error(GOOD_HEAD GOOD_DET "extract: {on: message, pcre2: '(?<a>x)', literals: x}\n",
                     "t.yml:8:52: rule t1: 'extract.literals' must be a list of strings, not a "
                     "string");
}

static void test_rule_tests_malformed(void **state) {
    (void)state;
    const char *cases[][2] = {
        {"tests: [a]", "t.yml:8:8: rule t1: 'tests' must be a map (match, no_match), not a list"},
        {"tests: {match: a}",
         "t.yml:8:16: rule t1: 'tests.match' must be a list of sample lines, not a string"},
        {"tests: {no_match: [{line: a}]}",
         "t.yml:8:20: rule t1: 'tests.no_match' items must be sample lines, not a map"},
        {"tests: {match: [[a]]}", "t.yml:8:17: rule t1: 'tests.match' items must be sample "
                                  "lines or maps {line, fields}, not a list"},
        {"tests: {match: [{fields: {a: b}}]}",
         "t.yml:8:17: rule t1: a test needs 'line: SAMPLE' (a string)"},
        {"tests: {match: [{line: a, expect: b}]}",
         "t.yml:8:27: rule t1: unknown key 'expect' in a test (expected line, fields)"},
        {"tests: {match: [{line: a, fields: [b]}]}",
         "t.yml:8:35: rule t1: 'fields' of a test must be a map of field: value, not a list"},
        {"tests: {match: [{line: a, fields: {user: [b]}}]}",
         "t.yml:8:42: rule t1: test field 'user' must have a string value, not a list"},
        {"tests: {maybe: [a]}",
         "t.yml:8:9: rule t1: unknown key 'tests.maybe' (expected match, no_match)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char y[512];
        snprintf(y, sizeof(y), GOOD_HEAD GOOD_DET "%s\n", cases[i][0]);
        expect_one_error(y, cases[i][1]);
    }
}

static void test_rule_duplicate_id_in_one_file(void **state) {
    fixture *f = *state;
    assert_int_equal(load(f, GOOD_HEAD GOOD_DET "---\n" GOOD_HEAD GOOD_DET), -1);
    expect_ndiags(&f->d, 1);
    expect_diag(&f->d, "t.yml:9: rule t1: duplicate rule id 't1' (also at t.yml:1)");
    assert_int_equal(f->rs.n, 1);
}

static void test_rule_duplicate_id_across_files(void **state) {
    fixture *f = *state;
    assert_int_equal(ward_rules_load(&f->rs, DATA "dup", &f->d), -1);
    expect_ndiags(&f->d, 1);
    expect_diag(&f->d, DATA "dup/two.yml:12: rule dup-id: duplicate rule id 'dup-id' (also at " DATA
                            "dup/one.yml:1)");
    assert_int_equal(f->rs.n, 2);
    assert_string_equal(ward_rules_find(&f->rs, "dup-id")->title, "First copy");
}

static void test_rule_several_errors_all_reported(void **state) {
    fixture *f = *state;
    assert_int_equal(ward_rules_load(&f->rs, DATA "errors/several.yml", &f->d), -1);
    expect_ndiags(&f->d, 3);
    expect_diag(&f->d, DATA "errors/several.yml:4:8: rule bad-1: level must be one of");
    expect_diag(&f->d, DATA "errors/several.yml:5:1: rule bad-1: unknown key 'colour'");
    expect_diag(&f->d,
                DATA "errors/several.yml:11:1: rule bad-2: missing required key 'detection'");
    /* The good rule after the bad ones is loaded. */
    assert_int_equal(f->rs.n, 1);
    ward_rule *r = ward_rules_find(&f->rs, "good-1");
    assert_non_null(r);
    assert_int_equal(r->mode, WARD_MODE_SHADOW);
    assert_int_equal(r->rev, 3);
    assert_int_equal(r->line, 15);
}

static void test_rule_errors_in_many_keys_of_one_rule(void **state) {
    fixture *f = *state;
    assert_int_equal(load(f, "title: T\nid: t1\nlevel: x\nmode: y\nrev: z\ncolour: w\n"), -1);
    expect_ndiags(&f->d, 5); /* level, mode, rev, colour, missing detection */
    expect_diag(&f->d, "t.yml:1:1: rule t1: missing required key 'detection'");
    assert_int_equal(f->rs.n, 0);
}

/* ---- files and directories ---- */

static void test_rule_directory_recursive_sorted(void **state) {
    fixture *f = *state;
    int rc = ward_rules_load(&f->rs, DATA "tree", &f->d);
    if (rc != 0)
        dump(&f->d);
    assert_int_equal(rc, 0);
    /* a/m.yml, a/z.yaml, b.yml, c.yml (two documents); hidden files and .txt skipped */
    assert_int_equal(f->rs.n, 5);
    assert_string_equal(f->rs.v[0]->id, "tree-am");
    assert_string_equal(f->rs.v[1]->id, "tree-az");
    assert_string_equal(f->rs.v[2]->id, "tree-b");
    assert_string_equal(f->rs.v[3]->id, "tree-c1");
    assert_string_equal(f->rs.v[4]->id, "tree-c2");
    assert_string_equal(f->rs.v[0]->file, DATA "tree/a/m.yml");
    assert_int_equal(f->rs.v[4]->line, 12);
}

static void test_rule_trailing_slash_directory(void **state) {
    fixture *f = *state;
    assert_int_equal(ward_rules_load(&f->rs, DATA "tree/a/", &f->d), 0);
    assert_string_equal(f->rs.v[0]->file, DATA "tree/a/m.yml");
}

typedef struct walked {
    char got[512];
} walked;

static void on_walked(const char *path, int explicit, void *ctx) {
    walked *w = ctx;
    size_t n = strlen(w->got);
    snprintf(w->got + n, sizeof(w->got) - n, "%s%s%s", n ? " " : "", path + strlen(DATA "tree"),
             explicit ? "!" : "");
}

static void test_rule_walk_gives_every_file_in_order(void **state) {
    fixture *f = *state;
    walked w = {""};
    /* every file, whatever its name (the caller chooses); hidden ones are not given */
    assert_int_equal(ward_rules_walk(DATA "tree", on_walked, &w, &f->d), 0);
    assert_string_equal(w.got, "/a/m.yml /a/z.yaml /b.yml /c.yml /notes.txt");
    expect_ndiags(&f->d, 0);
    w.got[0] = 0;
    assert_int_equal(ward_rules_walk(DATA "tree/notes.txt", on_walked, &w, &f->d), 0);
    assert_string_equal(w.got, "/notes.txt!");
    w.got[0] = 0;
    assert_int_equal(ward_rules_walk(DATA "tree/nope", on_walked, &w, &f->d), -1);
    assert_string_equal(w.got, "");
    expect_diag(&f->d, DATA "tree/nope: cannot open: No such file or directory");
}

static void test_rule_explicit_other_extension_is_error(void **state) {
    fixture *f = *state;
    expect_file_error(f, DATA "not-a-rule.txt",
                      "not a rule file: expected .yml, .yaml, .yar or .yara");
}

static void test_rule_missing_file(void **state) {
    fixture *f = *state;
    assert_int_equal(ward_rules_load(&f->rs, DATA "nope.yml", &f->d), -1);
    expect_diag(&f->d, DATA "nope.yml: cannot open: No such file or directory");
    ward_diags_fini(&f->d);
    assert_int_equal(ward_rules_load_overlay(&f->rs, DATA "nope.yml", &f->d), -1);
    expect_diag(&f->d, DATA "nope.yml: cannot open: No such file or directory");
}

/* Makes a file of size bytes with mode in a fresh directory under /tmp; returns its path. */
static char *scratch_file(const char *name, mode_t mode, off_t size) {
    char dir[] = "/tmp/ward-test-rule-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path;
    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, size), 0);
    close(fd);
    return path;
}

static void scratch_remove(char *path) {
    unlink(path);
    *strrchr(path, '/') = 0;
    rmdir(path);
    free(path);
}

static void test_rule_unreadable_file(void **state) {
    fixture *f = *state;
    if (geteuid() == 0)
        skip(); /* root reads anything */
    char *path = scratch_file("secret.yml", 0, 0);
    expect_file_error(f, path, "cannot open: Permission denied");
    scratch_remove(path);
}

static void test_rule_path_through_a_file(void **state) {
    fixture *f = *state;
    expect_file_error(f, DATA "tree/b.yml/x.yml", "cannot open: Not a directory");
}

static void test_rule_oversized_file(void **state) {
    fixture *f = *state;
    char *path = scratch_file("big.yml", 0600, (off_t)WARD_YAML_MAX_FILE + 1);
    expect_file_error(f, path, "file is 16777217 bytes, over the 16777216 byte limit");
    scratch_remove(path);
}

static void test_rule_not_regular_file(void **state) {
    fixture *f = *state;
    assert_int_equal(ward_rules_load_overlay(&f->rs, DATA "tree", &f->d), -1);
    expect_diag(&f->d, DATA "tree: not a regular file");
}

/* ---- overlays ---- */

static void test_rule_overlay_changes_level_mode_threshold(void **state) {
    fixture *f = *state;
    assert_int_equal(ward_rules_load(&f->rs, DATA "tree", &f->d), 0);
    int rc = ward_rules_load_overlay(&f->rs, DATA "overlay.yml", &f->d);
    if (rc)
        dump(&f->d);
    assert_int_equal(rc, 0);
    ward_rule *b = ward_rules_find(&f->rs, "tree-b");
    assert_int_equal(b->level, WARD_LEVEL_CRITICAL);
    assert_int_equal(b->mode, WARD_MODE_SHADOW);
    assert_int_equal(b->threshold.set, 0);
    for (int i = 0; i < 2; i++) {
        ward_rule *r = ward_rules_find(&f->rs, i ? "tree-az" : "tree-am");
        assert_int_equal(r->level, WARD_LEVEL_MEDIUM);
        assert_int_equal(r->threshold.set, 1);
        assert_int_equal(r->threshold.count, 5);
        assert_int_equal(r->threshold.within_s, 120);
        assert_int_equal(r->threshold.suppress_s, 3600);
        assert_string_equal(r->threshold.group_by[0], "source.ip");
    }
}

static void test_rule_overlay_threshold_replaces(void **state) {
    fixture *f = *state;
    assert_int_equal(load(f, GOOD_HEAD GOOD_DET
                          "threshold: {count: 3, within: 1m, group_by: [a, b], distinct: c}\n"),
                     0);
    assert_int_equal(overlay(f, "overlay: {rule: t1, threshold: {count: 9, within: 1h}}\n"), 0);
    ward_rule *r = f->rs.v[0];
    assert_int_equal(r->threshold.count, 9);
    assert_int_equal(r->threshold.within_s, 3600);
    assert_int_equal(r->threshold.ngroup_by, 0);
    assert_null(r->threshold.distinct);
}

static void test_rule_overlay_errors(void **state) {
    fixture *f = *state;
    assert_int_equal(load(f, GOOD_HEAD GOOD_DET), 0);
    const char *cases[][2] = {
        {"overlay: {rule: nope, level: low}",
         "o.yml:1:17: rule nope: overlay names unknown rule id 'nope'"},
        {"overlay: {rules: [t1, nope]}", "o.yml:1:23: rule nope: overlay names unknown rule id "
                                         "'nope'"},
        {"overlay: {level: low}", "o.yml:1:10: an overlay needs 'rule: ID' or 'rules: [ID, ...]'"},
        {"overlay: {rule: t1, rules: [t1]}",
         "o.yml:1:21: rule t1: an overlay takes either 'rule' or 'rules', once"},
        {"overlay: {rules: []}",
         "o.yml:1:18: 'rules' must be a rule id or a non-empty list of rule ids, not a list"},
        {"overlay: {rule: t1, level: huge}",
         "o.yml:1:28: rule t1: level must be one of informational, low, medium, high, "
         "critical (got 'huge')"},
        {"overlay: {rule: t1, mode: loud}",
         "o.yml:1:27: rule t1: mode must be one of alert, shadow, off (got 'loud')"},
        {"overlay: {rule: t1, threshold: {count: 0, within: 1m}}",
         "o.yml:1:40: rule t1: threshold.count must be an integer from 1 to 1000000"},
        {"overlay: {rule: t1, colour: red}",
         "o.yml:1:21: rule t1: unknown key 'overlay.colour' (expected rule, rules, level, "
         "mode, threshold, filter)"},
        {"overlay: {rule: t1}\nextra: 1", "o.yml:2:1: unknown key 'extra' beside 'overlay'"},
        {"overlay: [t1]", "o.yml:1:10: 'overlay' must be a map"},
        {"overlay: {rule: t1, filter: [x]}",
         "o.yml:1:29: rule t1: 'filter' must be a map of selections and a condition, not a "
         "list"},
        {"title: x\nlevel: low", "o.yml:1:1: not an overlay: expected 'overlay:' or a Sigma "
                                 "filter document"},
        {"- overlay", "o.yml:1:1: an overlay document must be a map"},
        {"title: F\nid: f\nfilter: {sel: {a: b}, condition: not sel}",
         "o.yml:3:9: a Sigma filter needs 'rules: [ID, ...]'"},
        {"title: F\nid: f\nbogus: 1\nfilter: {rules: t1, sel: {a: b}, condition: not sel}",
         "o.yml:3:1: rule t1: unknown key 'bogus' in a Sigma filter document"},
        {"title: F\nfilter: [x]", "o.yml:2:9: 'filter' must be a map with 'rules'"},
        {"overlay: {rule: t1, level: low}\noverlay: {rule: t1}",
         "o.yml:2:1: duplicate key 'overlay' (first at line 1, column 1)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ward_diags_fini(&f->d);
        assert_int_equal(overlay(f, cases[i][0]), -1);
        expect_diag(&f->d, cases[i][1]);
        expect_ndiags(&f->d, 1);
        /* Nothing of a bad overlay is applied. */
        assert_int_equal(f->rs.v[0]->level, WARD_LEVEL_HIGH);
        assert_int_equal(f->rs.v[0]->mode, WARD_MODE_ALERT);
        assert_int_equal(f->rs.v[0]->threshold.set, 0);
    }
}

static void test_rule_overlay_keeps_going_after_errors(void **state) {
    fixture *f = *state;
    assert_int_equal(load(f, GOOD_HEAD GOOD_DET), 0);
    assert_int_equal(overlay(f, "overlay: {rule: nope, level: low}\n---\n"
                                "overlay: {rule: t1, level: low}\n---\n"
                                "overlay: {rule: t1, mode: loud}\n"),
                     -1);
    expect_ndiags(&f->d, 2);
    expect_diag(&f->d, "o.yml:5:27: rule t1: mode must be");
    assert_int_equal(f->rs.v[0]->level, WARD_LEVEL_LOW);
    assert_int_equal(f->rs.v[0]->mode, WARD_MODE_ALERT);
}

/* Evaluates rule id's detection on an event with fields program and user. */
static int match_user(fixture *f, const char *id, const char *user) {
    ward_limits l;
    ward_limits_default(&l);
    ward_match_ctx mc;
    assert_int_equal(ward_match_ctx_init(&mc, &l), 0);
    ward_event ev;
    ward_event_init(&ev);
    const char *line = "sshd login";
    ward_event_reset(&ev, (const uint8_t *)line, strlen(line));
    ward_event_set(&ev, "program", "sshd", 4);
    ward_event_set(&ev, "user", user, strlen(user));
    const ward_rule *r = ward_rules_find(&f->rs, id);
    assert_non_null(r);
    int m = ward_detect_match(r->det, &ev, &mc);
    ward_event_fini(&ev);
    ward_match_ctx_fini(&mc);
    return m;
}

static void test_rule_overlay_filter_suppresses(void **state) {
    fixture *f = *state;
    assert_int_equal(load(f, GOOD_HEAD GOOD_DET "---\ntitle: T\nid: t2\nlevel: low\n" GOOD_DET), 0);
    assert_int_equal(match_user(f, "t1", "backup"), 1);
    int rc = overlay(f, "overlay:\n"
                        "  rules: [t1]\n"
                        "  filter:\n"
                        "    sel:\n"
                        "      user: backup\n"
                        "    condition: not sel\n");
    if (rc)
        dump(&f->d);
    assert_int_equal(rc, 0);
    assert_int_equal(match_user(f, "t1", "backup"), 0);
    assert_int_equal(match_user(f, "t1", "root"), 1);
    /* t2 is untouched until a Sigma filter document names it. */
    assert_int_equal(match_user(f, "t2", "nobody"), 1);
    rc = overlay(f, "title: Quiet nobody\n"
                    "id: f-1\n"
                    "logsource: {product: linux}\n"
                    "filter:\n"
                    "  rules: t2\n"
                    "  quiet:\n"
                    "    user: nobody\n"
                    "  condition: not quiet\n");
    if (rc)
        dump(&f->d);
    assert_int_equal(rc, 0);
    assert_int_equal(match_user(f, "t2", "nobody"), 0);
    assert_int_equal(match_user(f, "t2", "root"), 1);
    assert_int_equal(match_user(f, "t1", "nobody"), 1);
}

static void test_rule_overlay_bad_filter_reported(void **state) {
    fixture *f = *state;
    assert_int_equal(load(f, GOOD_HEAD GOOD_DET), 0);
    assert_int_equal(overlay(f, "overlay:\n  rule: t1\n  level: low\n  filter:\n"
                                "    sel: {user: backup}\n    condition: not nosuch\n"),
                     -1);
    assert_true(f->d.n >= 1);
    assert_string_equal(f->d.v[0].file, "o.yml");
    assert_string_equal(f->d.v[0].rule_id, "t1");
    assert_true(f->d.v[0].line >= 4);
    /* Nothing of the overlay is applied. */
    assert_int_equal(f->rs.v[0]->level, WARD_LEVEL_HIGH);
}

/* A rule as a YARA rule looks after yara.c appends it. */
static void add_yara_like(fixture *f, const char *id) {
    ward_rule *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->id = strdup(id);
    r->file = strdup("w.yar");
    r->line = 3;
    r->yara_index = 0;
    r->decoder = -1;
    assert_int_equal(ward_rules_add(&f->rs, r, &f->d), 0);
}

static void test_rule_overlay_filter_on_yara_rule_is_error(void **state) {
    fixture *f = *state;
    add_yara_like(f, "y1");
    assert_int_equal(
        overlay(f, "overlay:\n  rule: y1\n  filter:\n    sel: {a: b}\n    condition: not sel\n"),
        -1);
    expect_ndiags(&f->d, 1);
    expect_diag(&f->d, "o.yml:3:3: rule y1: rule 'y1' is a YARA rule: it has no detection a "
                       "filter could apply to");
    /* level and mode do apply to YARA rules */
    ward_diags_fini(&f->d);
    assert_int_equal(overlay(f, "overlay: {rule: y1, level: low, mode: off}\n"), 0);
    assert_int_equal(f->rs.v[0]->mode, WARD_MODE_OFF);
}

static void test_rule_add_duplicate_and_null(void **state) {
    fixture *f = *state;
    add_yara_like(f, "y1");
    ward_rule *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->id = strdup("y1");
    r->file = strdup("x.yar");
    r->line = 9;
    assert_int_equal(ward_rules_add(&f->rs, r, &f->d), -1);
    expect_diag(&f->d, "x.yar:9: rule y1: duplicate rule id 'y1' (also at w.yar:3)");
    assert_int_equal(ward_rules_add(&f->rs, NULL, &f->d), -1);
    r = calloc(1, sizeof(*r));
    assert_non_null(r);
    assert_int_equal(ward_rules_add(&f->rs, r, &f->d), -1);
    expect_diag(&f->d, "rule has no id");
    assert_int_equal(f->rs.n, 1);
    assert_null(ward_rules_find(&f->rs, "y2"));
    ward_rule_free(NULL);
}

/* ---- extract at match time ---- */

typedef struct got {
    char names[8][32];
    char vals[8][64];
    int n;
    int stop;
} got;

static int on_field(const char *name, const char *val, size_t len, void *ctx) {
    got *g = ctx;
    if (g->n < 8) {
        snprintf(g->names[g->n], sizeof(g->names[0]), "%s", name);
        snprintf(g->vals[g->n], sizeof(g->vals[0]), "%.*s", (int)len, val);
        g->n++;
    }
    return g->stop;
}

static void test_rule_extract_run_on_real_lines(void **state) {
    fixture *f = *state;
    int rc = load(f, GOOD_HEAD GOOD_DET
                  "extract:\n  on: message\n  pcre2: '(?:Failed|Invalid) (?:password|user) "
                  "(?:for (?:invalid user )?)?(?<user>\\S+) from (?<src>[0-9.]+)(?: port "
                  "(?<port>\\d+))?'\n");
    if (rc)
        dump(&f->d);
    assert_int_equal(rc, 0);
    ward_limits l;
    ward_limits_default(&l);
    ward_match_ctx mc;
    assert_int_equal(ward_match_ctx_init(&mc, &l), 0);
    ward_event ev;
    ward_event_init(&ev);

    const char *line = "Jan  5 10:00:01 host sshd[123]: Failed password for invalid user "
                       "admin from 203.0.113.9 port 4242 ssh2";
    ward_event_reset(&ev, (const uint8_t *)line, strlen(line));
    const char *msg = strstr(line, "Failed");
    ward_event_set(&ev, "message", msg, strlen(msg));
    got g;
    memset(&g, 0, sizeof(g));
    assert_int_equal(ward_extract_run(f->rs.v[0], &ev, &mc, on_field, &g), 3);
    /* In the order the pattern names them (PCRE2's own table is sorted by name). */
    assert_string_equal(g.names[0], "user");
    assert_string_equal(g.vals[0], "admin");
    assert_string_equal(g.names[1], "src");
    assert_string_equal(g.vals[1], "203.0.113.9");
    assert_string_equal(g.names[2], "port");
    assert_string_equal(g.vals[2], "4242");

    /* A group that did not participate is not reported. */
    line = "Invalid user guest from 198.51.100.7";
    ward_event_reset(&ev, (const uint8_t *)line, strlen(line));
    ward_event_set(&ev, "message", line, strlen(line));
    memset(&g, 0, sizeof(g));
    assert_int_equal(ward_extract_run(f->rs.v[0], &ev, &mc, on_field, &g), 2);
    assert_string_equal(g.vals[0], "guest");
    assert_string_equal(g.vals[1], "198.51.100.7");

    /* A callback that says stop. */
    memset(&g, 0, sizeof(g));
    g.stop = 1;
    assert_int_equal(ward_extract_run(f->rs.v[0], &ev, &mc, on_field, &g), 1);

    /* No match, absent field, no extract. */
    line = "Accepted publickey for root";
    ward_event_reset(&ev, (const uint8_t *)line, strlen(line));
    ward_event_set(&ev, "message", line, strlen(line));
    assert_int_equal(ward_extract_run(f->rs.v[0], &ev, &mc, on_field, &g), 0);
    ward_event_reset(&ev, (const uint8_t *)line, strlen(line));
    assert_int_equal(ward_extract_run(f->rs.v[0], &ev, &mc, on_field, &g), 0);
    assert_int_equal(load(f, "title: T\nid: t2\nlevel: low\n" GOOD_DET), 0);
    assert_int_equal(ward_extract_run(f->rs.v[1], &ev, &mc, on_field, &g), 0);

    ward_event_fini(&ev);
    ward_match_ctx_fini(&mc);
}

static void test_rule_extract_run_limit_hit(void **state) {
    fixture *f = *state;
    assert_int_equal(load(f, GOOD_HEAD GOOD_DET "extract: {on: message, pcre2: '^(?<a>a+)+$'}\n"),
                     0);
    ward_limits l;
    ward_limits_default(&l);
    ward_match_ctx mc;
    assert_int_equal(ward_match_ctx_init(&mc, &l), 0);
    ward_event ev;
    ward_event_init(&ev);
    char s[64];
    memset(s, 'a', sizeof(s) - 1);
    s[sizeof(s) - 2] = '!';
    s[sizeof(s) - 1] = 0;
    ward_event_reset(&ev, (const uint8_t *)s, strlen(s));
    ward_event_set(&ev, "message", s, strlen(s));
    got g;
    memset(&g, 0, sizeof(g));
    assert_int_equal(ward_extract_run(f->rs.v[0], &ev, &mc, on_field, &g), -1);
    assert_int_equal(mc.limit_hits, 1);
    ward_event_fini(&ev);
    ward_match_ctx_fini(&mc);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_rule_loads_full_rule),
        T(test_rule_defaults),
        T(test_rule_quoted_numbers_accepted),
        T(test_rule_durations),
        T(test_rule_names),
        T(test_rule_multi_document_stream),
        T(test_rule_malformed_yaml),
        T(test_rule_tabs),
        T(test_rule_unterminated_quote),
        T(test_rule_duplicate_key),
        T(test_rule_alias_refused),
        T(test_rule_too_deep),
        T(test_rule_too_many_nodes),
        T(test_rule_not_a_map),
        T(test_rule_missing_required),
        T(test_rule_bad_level),
        T(test_rule_bad_mode),
        T(test_rule_bad_decoder),
        T(test_rule_bad_rev),
        T(test_rule_bad_id),
        T(test_rule_unknown_key),
        T(test_rule_sigma_ignored_keys),
        T(test_rule_unsupported_sigma_with_reason),
        T(test_rule_bad_status_and_related),
        T(test_rule_detection_not_a_map),
        T(test_rule_bad_threshold),
        T(test_rule_threshold_group_by_limit),
        T(test_rule_extract_named_group_limit),
        T(test_rule_extract_without_named_group),
        T(test_rule_extract_bad_regex_shows_offset),
        T(test_rule_extract_literal_not_required),
        T(test_rule_extract_malformed),
        T(test_rule_tests_malformed),
        T(test_rule_duplicate_id_in_one_file),
        T(test_rule_duplicate_id_across_files),
        T(test_rule_several_errors_all_reported),
        T(test_rule_errors_in_many_keys_of_one_rule),
        T(test_rule_directory_recursive_sorted),
        T(test_rule_trailing_slash_directory),
        T(test_rule_walk_gives_every_file_in_order),
        T(test_rule_explicit_other_extension_is_error),
        T(test_rule_missing_file),
        T(test_rule_unreadable_file),
        T(test_rule_path_through_a_file),
        T(test_rule_oversized_file),
        T(test_rule_not_regular_file),
        T(test_rule_overlay_changes_level_mode_threshold),
        T(test_rule_overlay_threshold_replaces),
        T(test_rule_overlay_errors),
        T(test_rule_overlay_keeps_going_after_errors),
        T(test_rule_overlay_filter_on_yara_rule_is_error),
        T(test_rule_overlay_filter_suppresses),
        T(test_rule_overlay_bad_filter_reported),
        T(test_rule_add_duplicate_and_null),
        T(test_rule_extract_run_on_real_lines),
        T(test_rule_extract_run_limit_hit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
