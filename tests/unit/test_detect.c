/* Sigma detection conformance: values, wildcards, every modifier and expansion, every
 * condition form, errors with positions, explain, filters and literal soundness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "failalloc.h"
#include "ward/detect.h"

/* ---- a YAML-to-node builder of our own, so these tests need only libyaml ---- */

static void tfree(ward_node *n) {
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        tfree(n->kids[i]);
        if (n->keys)
            tfree(n->keys[i]);
    }
    free(n->kids);
    free(n->keys);
    free(n->str);
    free(n);
}

static ward_node *tbuild(yaml_document_t *doc, yaml_node_t *y) {
    ward_node *n = calloc(1, sizeof(*n));
    assert_non_null(n);
    n->line = (int)y->start_mark.line + 1;
    n->col = (int)y->start_mark.column + 1;
    if (y->type == YAML_SCALAR_NODE) {
        const char *v = (const char *)y->data.scalar.value;
        n->plain = y->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (n->plain && (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
                         !strcmp(v, "NULL"))) {
            n->type = WARD_NODE_NULL;
            return n;
        }
        n->type = WARD_NODE_SCALAR;
        n->len = y->data.scalar.length;
        n->str = malloc(n->len + 1);
        assert_non_null(n->str);
        memcpy(n->str, v, n->len);
        n->str[n->len] = 0;
    } else if (y->type == YAML_SEQUENCE_NODE) {
        n->type = WARD_NODE_SEQ;
        size_t cnt = (size_t)(y->data.sequence.items.top - y->data.sequence.items.start);
        n->kids = calloc(cnt ? cnt : 1, sizeof(*n->kids));
        for (size_t i = 0; i < cnt; i++)
            n->kids[n->n++] =
                tbuild(doc, yaml_document_get_node(doc, y->data.sequence.items.start[i]));
    } else {
        n->type = WARD_NODE_MAP;
        size_t cnt = (size_t)(y->data.mapping.pairs.top - y->data.mapping.pairs.start);
        n->kids = calloc(cnt ? cnt : 1, sizeof(*n->kids));
        n->keys = calloc(cnt ? cnt : 1, sizeof(*n->keys));
        for (size_t i = 0; i < cnt; i++) {
            yaml_node_pair_t *p = &y->data.mapping.pairs.start[i];
            n->keys[i] = tbuild(doc, yaml_document_get_node(doc, p->key));
            n->kids[i] = tbuild(doc, yaml_document_get_node(doc, p->value));
            n->n++;
        }
    }
    return n;
}

static ward_node *yparse(const char *text) {
    yaml_parser_t p;
    yaml_document_t doc;
    assert_true(yaml_parser_initialize(&p));
    yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
    assert_true(yaml_parser_load(&p, &doc));
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    assert_non_null(root);
    ward_node *n = tbuild(&doc, root);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    return n;
}

/* ---- helpers ---- */

static ward_match_ctx mc;

static int setup(void **state) {
    (void)state;
    ward_limits l;
    ward_limits_default(&l);
    return ward_match_ctx_init(&mc, &l);
}

static int teardown(void **state) {
    (void)state;
    ward_match_ctx_fini(&mc);
    return 0;
}

static ward_detection *compile_ok(const char *yaml) {
    ward_diags d;
    ward_diags_init(&d);
    ward_node *n = yparse(yaml);
    ward_detection *det = ward_detect_compile(n, "t.yml", "r1", &d);
    for (size_t i = 0; i < d.n; i++) {
        char buf[512];
        ward_diag_format(&d.v[i], buf, sizeof(buf));
        fprintf(stderr, "unexpected: %s\n", buf);
    }
    assert_non_null(det);
    assert_int_equal(d.n, 0);
    tfree(n);
    ward_diags_fini(&d);
    return det;
}

/* Builds an event from line and NULL-terminated (name, value) pairs (borrowed). */
static void vevent(ward_event *ev, const char *line, va_list ap) {
    ward_event_reset(ev, (const uint8_t *)line, strlen(line));
    const char *k;
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        assert_int_equal(ward_event_set(ev, k, v, strlen(v)), 0);
    }
}

static int dmatch(const ward_detection *det, const char *line, ...) {
    ward_event ev;
    ward_event_init(&ev);
    va_list ap;
    va_start(ap, line);
    vevent(&ev, line, ap);
    va_end(ap);
    int r = ward_detect_match(det, &ev, &mc);
    ward_event_fini(&ev);
    return r;
}

/* Value tests: field "f" of a one-selection detection "sel: {KEY: VALUE}". */
static ward_detection *one(const char *key, const char *value) {
    char y[1024];
    snprintf(y, sizeof(y), "sel:\n  %s: %s\ncondition: sel\n", key, value);
    return compile_ok(y);
}

static int fm(const ward_detection *det, const char *v) {
    return dmatch(det, v, "f", v, NULL);
}

/* Same as fm with an explicit length (values with NUL bytes). */
static int fmn(const ward_detection *det, const char *v, size_t n) {
    ward_event ev;
    ward_event_init(&ev);
    ward_event_reset(&ev, (const uint8_t *)v, n);
    ward_event_set(&ev, "f", v, n);
    int r = ward_detect_match(det, &ev, &mc);
    ward_event_fini(&ev);
    return r;
}

/* Compiling yaml fails with a diagnostic containing msg at line:col (0: any). */
static void expect_err(const char *yaml, int line, int col, const char *msg) {
    ward_diags d;
    ward_diags_init(&d);
    ward_node *n = yparse(yaml);
    ward_detection *det = ward_detect_compile(n, "t.yml", "r1", &d);
    int found = 0;
    for (size_t i = 0; i < d.n; i++) {
        if (strstr(d.v[i].msg, msg) && (!line || d.v[i].line == line) &&
            (!col || d.v[i].col == col) && !strcmp(d.v[i].file, "t.yml") && d.v[i].rule_id &&
            !strcmp(d.v[i].rule_id, "r1"))
            found = 1;
    }
    if (!found) {
        fprintf(stderr, "wanted %d:%d '%s' for:\n%s\ngot:\n", line, col, msg, yaml);
        for (size_t i = 0; i < d.n; i++) {
            char buf[512];
            ward_diag_format(&d.v[i], buf, sizeof(buf));
            fprintf(stderr, "  %s\n", buf);
        }
    }
    assert_null(det);
    assert_true(found);
    tfree(n);
    ward_diags_fini(&d);
}

/* ---- values ---- */

static void test_detect_plain_values_are_whole_and_caseless(void **state) {
    (void)state;
    ward_detection *det = one("f", "Foo");
    assert_int_equal(fm(det, "foo"), 1);
    assert_int_equal(fm(det, "FOO"), 1);
    assert_int_equal(fm(det, "foox"), 0);
    assert_int_equal(fm(det, "xfoo"), 0);
    assert_int_equal(dmatch(det, "foo", "g", "foo", NULL), 0); /* absent field */
    ward_detect_free(det);
    det = one("f", "4624");
    assert_int_equal(fm(det, "4624"), 1);
    assert_int_equal(fm(det, "46240"), 0);
    ward_detect_free(det);
    det = one("f", "''");
    assert_int_equal(fm(det, ""), 1);
    assert_int_equal(fm(det, "x"), 0);
    assert_int_equal(dmatch(det, "", "g", "", NULL), 0); /* '' is not null */
    ward_detect_free(det);
}

static void test_detect_wildcards_and_escapes(void **state) {
    (void)state;
    ward_detection *det = one("f", "'a*c'");
    assert_int_equal(fm(det, "abbc"), 1);
    assert_int_equal(fm(det, "AC"), 1);
    assert_int_equal(fm(det, "ab"), 0);
    ward_detect_free(det);
    det = one("f", "'a?c'");
    assert_int_equal(fm(det, "abc"), 1);
    assert_int_equal(fm(det, "ac"), 0);
    assert_int_equal(fm(det, "abbc"), 0);
    ward_detect_free(det);
    det = one("f", "'a\\*c'");
    assert_int_equal(fm(det, "a*c"), 1);
    assert_int_equal(fm(det, "abc"), 0);
    ward_detect_free(det);
    det = one("f", "'a\\?c'");
    assert_int_equal(fm(det, "a?c"), 1);
    assert_int_equal(fm(det, "abc"), 0);
    ward_detect_free(det);
    det = one("f", "'a\\\\*'"); /* a\\* : a backslash, then a wildcard */
    assert_int_equal(fm(det, "a\\xyz"), 1);
    assert_int_equal(fm(det, "a\\"), 1);
    assert_int_equal(fm(det, "axyz"), 0);
    ward_detect_free(det);
    det = one("f", "'C:\\Windows\\x.exe'"); /* other backslashes are literal */
    assert_int_equal(fm(det, "c:\\windows\\X.EXE"), 1);
    assert_int_equal(fm(det, "c:Windowsx.exe"), 0);
    ward_detect_free(det);
    det = one("f", "'dir\\'"); /* a trailing backslash is literal */
    assert_int_equal(fm(det, "dir\\"), 1);
    assert_int_equal(fm(det, "dir"), 0);
    ward_detect_free(det);
    det = one("f", "'*a*b?*'");
    assert_int_equal(fm(det, "xxAyyBz"), 1);
    assert_int_equal(fm(det, "xxAyyB"), 0);
    assert_int_equal(fm(det, "ba"), 0);
    ward_detect_free(det);
    det = one("f", "'*'");
    assert_int_equal(fm(det, ""), 1);
    assert_int_equal(fm(det, "anything"), 1);
    assert_int_equal(dmatch(det, "x", "g", "x", NULL), 0);
    ward_detect_free(det);
    det = one("f", "'ab*'");
    assert_int_equal(fm(det, "ABC"), 1);
    assert_int_equal(fm(det, "cab"), 0);
    ward_detect_free(det);
    det = one("f", "'*ab'");
    assert_int_equal(fm(det, "cAb"), 1);
    assert_int_equal(fm(det, "abc"), 0);
    ward_detect_free(det);
}

/* '\\' is one backslash wherever it stands, not only before a wildcard. */
static void test_detect_escaped_backslash(void **state) {
    (void)state;
    ward_detection *det = one("f", "'a\\\\b'"); /* a\\b */
    assert_int_equal(fm(det, "a\\b"), 1);
    assert_int_equal(fm(det, "a\\\\b"), 0);
    ward_detect_free(det);
    det = one("f", "'a\\\\\\*'"); /* a\\\* : a backslash, then a literal star */
    assert_int_equal(fm(det, "a\\*"), 1);
    assert_int_equal(fm(det, "a\\xyz"), 0);
    ward_detect_free(det);
    det = one("f|contains", "'\\\\\\?'"); /* \\\? : a backslash and a question mark */
    assert_int_equal(fm(det, "what\\?"), 1);
    assert_int_equal(fm(det, "what\\x"), 0);
    ward_detect_free(det);
}

/* '?' stands for one character: a whole UTF-8 sequence, not one byte of it. */
static void test_detect_question_mark_is_one_character(void **state) {
    (void)state;
    ward_detection *det = one("f", "'caf?'");
    assert_int_equal(fm(det, "cafe"), 1);
    assert_int_equal(fm(det, "caf\xc3\xa9"), 1); /* two bytes, one character */
    assert_int_equal(fm(det, "caf"), 0);
    assert_int_equal(fm(det, "caf\xc3\xa9s"), 0);
    assert_int_equal(fm(det, "caf\xff"), 1); /* a byte that starts no sequence: itself */
    assert_int_equal(fm(det, "caf\xc3"), 1); /* a cut sequence: its byte */
    ward_detect_free(det);
    det = one("f", "'caf?\?'");
    assert_int_equal(fm(det, "caf\xc3\xa9"), 0);
    assert_int_equal(fm(det, "caf\xc3\xa9s"), 1);
    assert_int_equal(fm(det, "caf\xc3\xa9\xe2\x80\x94"), 1);
    ward_detect_free(det);
    det = one("f", "'*?\?'"); /* two characters or more: a star does not split one */
    assert_int_equal(fm(det, "\xf0\x9f\x98\x80"), 0);
    assert_int_equal(fm(det, "x\xf0\x9f\x98\x80"), 1);
    ward_detect_free(det);
    det = one("f|contains", "'a?b'");
    assert_int_equal(fm(det, "xa\xe2\x80\x94"
                             "by"),
                     1);
    assert_int_equal(fm(det, "xa\xe2\x80\x94\xe2\x80\x94"
                             "by"),
                     0);
    ward_detect_free(det);
    det = compile_ok("kw:\n  - 'na?ve'\ncondition: kw\n");
    assert_int_equal(dmatch(det, "", "message", "so na\xc3\xafve", NULL), 1);
    assert_int_equal(dmatch(det, "", "message", "so nave", NULL), 0);
    ward_detect_free(det);
}

static void test_detect_cased(void **state) {
    (void)state;
    ward_detection *det = one("f|cased", "Foo");
    assert_int_equal(fm(det, "Foo"), 1);
    assert_int_equal(fm(det, "foo"), 0);
    ward_detect_free(det);
    det = one("f|contains|cased", "'B?r'");
    assert_int_equal(fm(det, "xxBar"), 1);
    assert_int_equal(fm(det, "xxbar"), 0);
    ward_detect_free(det);
    det = one("f|contains|cased", "Bar");
    assert_int_equal(fm(det, "xxBarx"), 1);
    assert_int_equal(fm(det, "xxbarx"), 0);
    ward_detect_free(det);
}

static void test_detect_cased_keeps_wildcards_and_escapes(void **state) {
    (void)state;
    ward_detection *det = one("f|cased", "'A*b'");
    assert_int_equal(fm(det, "AxXb"), 1);
    assert_int_equal(fm(det, "axxb"), 0);
    assert_int_equal(fm(det, "AxxB"), 0);
    ward_detect_free(det);
    det = one("f|cased", "'A?b'");
    assert_int_equal(fm(det, "Azb"), 1);
    assert_int_equal(fm(det, "AzB"), 0);
    ward_detect_free(det);
    det = one("f|cased", "'A\\*b'");
    assert_int_equal(fm(det, "A*b"), 1);
    assert_int_equal(fm(det, "a*b"), 0);
    assert_int_equal(fm(det, "AXb"), 0);
    ward_detect_free(det);
    det = one("f|startswith|cased", "'Get-'");
    assert_int_equal(fm(det, "Get-Item"), 1);
    assert_int_equal(fm(det, "get-item"), 0);
    ward_detect_free(det);
    det = one("f|endswith|cased", "'.EXE'");
    assert_int_equal(fm(det, "a.EXE"), 1);
    assert_int_equal(fm(det, "a.exe"), 0);
    ward_detect_free(det);
    det = one("f|cased", "[Foo, Bar]");
    assert_int_equal(fm(det, "Bar"), 1);
    assert_int_equal(fm(det, "bar"), 0);
    ward_detect_free(det);
}

static void test_detect_contains_startswith_endswith(void **state) {
    (void)state;
    ward_detection *det = one("f|contains", "EviL");
    assert_int_equal(fm(det, "an evil thing"), 1);
    assert_int_equal(fm(det, "EVIL"), 1);
    assert_int_equal(fm(det, "evi l"), 0);
    ward_detect_free(det);
    det = one("f|startswith", "cmd");
    assert_int_equal(fm(det, "CMD.exe"), 1);
    assert_int_equal(fm(det, "xcmd"), 0);
    ward_detect_free(det);
    det = one("f|endswith", ".exe");
    assert_int_equal(fm(det, "a.EXE"), 1);
    assert_int_equal(fm(det, "a.exe "), 0);
    ward_detect_free(det);
    det = one("f|contains", "'a*b'"); /* wildcards inside contains still work */
    assert_int_equal(fm(det, "xxaYYbxx"), 1);
    assert_int_equal(fm(det, "xxbYYaxx"), 0);
    ward_detect_free(det);
    det = one("f|endswith", "'\\*'");
    assert_int_equal(fm(det, "2*"), 1);
    assert_int_equal(fm(det, "2"), 0);
    ward_detect_free(det);
}

static void test_detect_lists_or_and_all(void **state) {
    (void)state;
    ward_detection *det = one("f", "[a, b]");
    assert_int_equal(fm(det, "a"), 1);
    assert_int_equal(fm(det, "b"), 1);
    assert_int_equal(fm(det, "c"), 0);
    ward_detect_free(det);
    det = one("f|contains|all", "[foo, bar]");
    assert_int_equal(fm(det, "bar and foo"), 1);
    assert_int_equal(fm(det, "foo only"), 0);
    ward_detect_free(det);
    /* a map ANDs its fields; a list of maps ORs them */
    det = compile_ok("sel:\n  a: 1\n  b: 2\ncondition: sel\n");
    assert_int_equal(dmatch(det, "", "a", "1", "b", "2", NULL), 1);
    assert_int_equal(dmatch(det, "", "a", "1", "b", "3", NULL), 0);
    assert_int_equal(dmatch(det, "", "a", "1", NULL), 0);
    ward_detect_free(det);
    det = compile_ok("sel:\n  - a: 1\n    b: 2\n  - c: 3\ncondition: sel\n");
    assert_int_equal(dmatch(det, "", "a", "1", "b", "2", NULL), 1);
    assert_int_equal(dmatch(det, "", "c", "3", NULL), 1);
    assert_int_equal(dmatch(det, "", "a", "1", "c", "4", NULL), 0);
    ward_detect_free(det);
}

static void test_detect_keywords(void **state) {
    (void)state;
    ward_detection *det = compile_ok("kw:\n  - 'Failed password'\n  - 4625\n  - 'a*z'\n"
                                     "condition: kw\n");
    assert_int_equal(dmatch(det, "", "message", "x failed PASSWORD for root", NULL), 1);
    assert_int_equal(dmatch(det, "", "message", "event 4625 seen", NULL), 1);
    assert_int_equal(dmatch(det, "", "message", "bbAbbZbb", NULL), 1);
    assert_int_equal(dmatch(det, "", "message", "nothing", NULL), 0);
    /* without a message field, the line (event.original) is searched */
    assert_int_equal(dmatch(det, "Failed password here", NULL), 1);
    assert_int_equal(dmatch(det, "Failed password", "message", "other", NULL), 0);
    ward_detect_free(det);
    det = compile_ok("kw: 'Single Word'\ncondition: kw\n");
    assert_int_equal(dmatch(det, "", "message", "a single word.", NULL), 1);
    assert_int_equal(dmatch(det, "", "message", "single", NULL), 0);
    ward_detect_free(det);
}

static void test_detect_null_and_exists(void **state) {
    (void)state;
    ward_detection *det = one("f", "null");
    assert_int_equal(dmatch(det, "", NULL), 1);
    assert_int_equal(dmatch(det, "", "f", "", NULL), 1);
    assert_int_equal(dmatch(det, "", "f", "x", NULL), 0);
    ward_detect_free(det);
    det = one("f", "[null, x]");
    assert_int_equal(dmatch(det, "", NULL), 1);
    assert_int_equal(dmatch(det, "", "f", "X", NULL), 1);
    assert_int_equal(dmatch(det, "", "f", "y", NULL), 0);
    ward_detect_free(det);
    det = one("f|exists", "true");
    assert_int_equal(dmatch(det, "", "f", "", NULL), 1);
    assert_int_equal(dmatch(det, "", "g", "", NULL), 0);
    ward_detect_free(det);
    det = one("f|exists", "false");
    assert_int_equal(dmatch(det, "", "f", "", NULL), 0);
    assert_int_equal(dmatch(det, "", "g", "", NULL), 1);
    ward_detect_free(det);
}

static void test_detect_neq(void **state) {
    (void)state;
    ward_detection *det = one("f|neq", "[a, 'b*']");
    assert_int_equal(fm(det, "c"), 1);
    assert_int_equal(fm(det, "A"), 0);
    assert_int_equal(fm(det, "bee"), 0);
    assert_int_equal(dmatch(det, "", NULL), 0); /* absent: no match */
    ward_detect_free(det);
    det = one("f|neq|cased", "a");
    assert_int_equal(fm(det, "A"), 1);
    assert_int_equal(fm(det, "a"), 0);
    ward_detect_free(det);
    det = one("f|neq|contains", "x");
    assert_int_equal(fm(det, "abc"), 1);
    assert_int_equal(fm(det, "axc"), 0);
    ward_detect_free(det);
}

static void test_detect_numeric_comparisons(void **state) {
    (void)state;
    ward_detection *det = one("f|gt", "10");
    assert_int_equal(fm(det, "11"), 1);
    assert_int_equal(fm(det, "10"), 0);
    assert_int_equal(fm(det, "10.5"), 1);
    assert_int_equal(fm(det, "1e2"), 1);
    assert_int_equal(fm(det, "abc"), 0);
    assert_int_equal(fm(det, "11x"), 0);
    assert_int_equal(fm(det, ""), 0);
    assert_int_equal(fm(det, "0x20"), 0);
    ward_detect_free(det);
    det = one("f|gte", "10");
    assert_int_equal(fm(det, "10"), 1);
    assert_int_equal(fm(det, "9.99"), 0);
    ward_detect_free(det);
    det = one("f|lt", "-2.5");
    assert_int_equal(fm(det, "-3"), 1);
    assert_int_equal(fm(det, "-2.5"), 0);
    ward_detect_free(det);
    det = one("f|lte", "'7'");
    assert_int_equal(fm(det, "7"), 1);
    assert_int_equal(fm(det, "+7.0"), 1);
    assert_int_equal(fm(det, "8"), 0);
    ward_detect_free(det);
    det = one("f|gt|all", "[1, 5]");
    assert_int_equal(fm(det, "6"), 1);
    assert_int_equal(fm(det, "3"), 0);
    ward_detect_free(det);
}

/* Every comparison on a field that is not a strict decimal number is false, in both
 * directions, so nothing parses as a number by accident. */
static void test_detect_numeric_needs_a_number_in_the_field(void **state) {
    (void)state;
    static const char *const keys[] = {"f|lt", "f|lte", "f|gt", "f|gte"};
    static const char *const yes[] = {"4", "5", "6", "5"};
    static const char *const no[] = {"5", "5.5", "5", "4.9"};
    static const char *const bad[] = {"abc", "",  " 5", "5 ", "5x",  "0x5", "nan",
                                      "inf", "-", ".",  "1e", "1,5", "5%"};
    for (size_t k = 0; k < 4; k++) {
        ward_detection *det = one(keys[k], "5");
        assert_int_equal(fm(det, yes[k]), 1);
        assert_int_equal(fm(det, no[k]), 0);
        for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
            if (fm(det, bad[b]) != 0)
                fprintf(stderr, "%s: 5 matched '%s'\n", keys[k], bad[b]);
            assert_int_equal(fm(det, bad[b]), 0);
        }
        assert_int_equal(dmatch(det, "5", "g", "5", NULL), 0); /* absent field */
        ward_detect_free(det);
    }
}

static void test_detect_cidr_v4_v6(void **state) {
    (void)state;
    ward_detection *det = one("f|cidr", "[10.1.0.0/16, 192.168.1.7/32]");
    assert_int_equal(fm(det, "10.1.255.3"), 1);
    assert_int_equal(fm(det, "10.2.0.1"), 0);
    assert_int_equal(fm(det, "192.168.1.7"), 1);
    assert_int_equal(fm(det, "192.168.1.8"), 0);
    assert_int_equal(fm(det, "not an ip"), 0);
    assert_int_equal(fm(det, "::ffff:10.1.0.1"), 0); /* families are not mixed */
    assert_int_equal(fm(det, " 10.1.0.1"), 0);
    ward_detect_free(det);
    det = one("f|cidr", "0.0.0.0/0");
    assert_int_equal(fm(det, "255.255.255.255"), 1);
    assert_int_equal(fm(det, "::1"), 0);
    ward_detect_free(det);
    det = one("f|cidr", "10.1.2.3/8"); /* host bits are ignored */
    assert_int_equal(fm(det, "10.200.0.1"), 1);
    ward_detect_free(det);
    det = one("f|cidr", "172.16.0.0/12");
    assert_int_equal(fm(det, "172.31.255.255"), 1);
    assert_int_equal(fm(det, "172.32.0.0"), 0);
    ward_detect_free(det);
    det = one("f|cidr", "'2001:db8::/32'");
    assert_int_equal(fm(det, "2001:DB8:1::5"), 1);
    assert_int_equal(fm(det, "2001:db9::1"), 0);
    assert_int_equal(fm(det, "10.0.0.1"), 0);
    ward_detect_free(det);
    det = one("f|cidr", "'::1/128'");
    assert_int_equal(fm(det, "::1"), 1);
    assert_int_equal(fm(det, "::2"), 0);
    ward_detect_free(det);
    det = one("f|cidr", "'::/0'");
    assert_int_equal(fm(det, "fe80::1"), 1);
    assert_int_equal(fm(det, "1.2.3.4"), 0);
    ward_detect_free(det);
    det = one("f|cidr", "'fe80::/10'");
    assert_int_equal(fm(det, "febf::1"), 1);
    assert_int_equal(fm(det, "fec0::1"), 0);
    ward_detect_free(det);
}

static void test_detect_cidr_refuses_what_is_not_an_address(void **state) {
    (void)state;
    ward_detection *det = one("f|cidr", "'2001:db8::/32'");
    assert_int_equal(fm(det, "2001:db8::1"), 1);
    assert_int_equal(fm(det, "not an ip"), 0);
    assert_int_equal(fm(det, ""), 0);
    assert_int_equal(fm(det, "2001:db8::/48"), 0); /* a network is not an address */
    assert_int_equal(fm(det, "2001:db8::1%eth0"), 0);
    assert_int_equal(fm(det, "[2001:db8::1]"), 0);
    assert_int_equal(fm(det, "2001:db8:::1"), 0);
    assert_int_equal(dmatch(det, "2001:db8::1", "g", "2001:db8::1", NULL), 0);
    ward_detect_free(det);
    det = one("f|cidr", "10.0.0.0/8");
    assert_int_equal(fm(det, "10.1.1.1"), 1);
    assert_int_equal(fm(det, "10.1.1"), 0);
    assert_int_equal(fm(det, "10.1.1.1/8"), 0);
    assert_int_equal(fm(det, "10.1.1.1 "), 0);
    assert_int_equal(fm(det, "10.1.1.256"), 0);
    assert_int_equal(fm(det, "010.1.1.1"), 0); /* leading zeros could be octal: refused */
    assert_int_equal(fm(det, "host10.1.1.1"), 0);
    ward_detect_free(det);
}

static void test_detect_re_and_flags(void **state) {
    (void)state;
    ward_detection *det = one("f|re", "'^ab+c$'");
    assert_int_equal(fm(det, "abbbc"), 1);
    assert_int_equal(fm(det, "ABBC"), 0); /* re is case-sensitive by default */
    ward_detect_free(det);
    det = one("f|re", "'a*'"); /* no wildcard processing: a regex star */
    assert_int_equal(fm(det, "zzz"), 1);
    ward_detect_free(det);
    det = one("f|re|i", "'^ab+c$'");
    assert_int_equal(fm(det, "ABBC"), 1);
    ward_detect_free(det);
    det = one("f|re|m", "'^two$'");
    assert_int_equal(fm(det, "one\ntwo\nthree"), 1);
    ward_detect_free(det);
    det = one("f|re", "'^two$'");
    assert_int_equal(fm(det, "one\ntwo\nthree"), 0);
    ward_detect_free(det);
    det = one("f|re|s", "'a.b'");
    assert_int_equal(fm(det, "a\nb"), 1);
    ward_detect_free(det);
    det = one("f|re", "'a.b'");
    assert_int_equal(fm(det, "a\nb"), 0);
    assert_int_equal(ward_detect_regex_count(det), 1);
    ward_detect_free(det);
    det = one("f|re|all", "[a, b]");
    assert_int_equal(fm(det, "ab"), 1);
    assert_int_equal(fm(det, "a"), 0);
    assert_int_equal(ward_detect_regex_count(det), 2);
    ward_detect_free(det);
}

/* Each flag widens only what it says: the non-matching side of i, m and s. */
static void test_detect_re_flags_do_not_overmatch(void **state) {
    (void)state;
    ward_detection *det = one("f|re|i", "'^ab+c$'");
    assert_int_equal(fm(det, "aBbC"), 1);
    assert_int_equal(fm(det, "ABD"), 0);
    assert_int_equal(fm(det, "xabc"), 0);
    ward_detect_free(det);
    det = one("f|re|m", "'^two$'");
    assert_int_equal(fm(det, "one\ntwo"), 1);
    assert_int_equal(fm(det, "one\ntwox\nthree"), 0);
    assert_int_equal(fm(det, "one\nTWO\nthree"), 0); /* m does not make it caseless */
    ward_detect_free(det);
    det = one("f|re|s", "'^a.b$'");
    assert_int_equal(fm(det, "a\nb"), 1);
    assert_int_equal(fm(det, "a\n\nb"), 0);
    assert_int_equal(fm(det, "A\nB"), 0);
    ward_detect_free(det);
    det = one("f|re|i|m", "'^AB$'");
    assert_int_equal(fm(det, "x\nab\ny"), 1);
    assert_int_equal(fm(det, "x\nabc\ny"), 0);
    ward_detect_free(det);
    det = one("f|re|m|s|i", "'^a.b$'");
    assert_int_equal(fm(det, "x\nA\nB\ny"), 1);
    assert_int_equal(fm(det, "x\nA\n\nB"), 0);
    ward_detect_free(det);
    det = one("f|re|cased", "'^Ab$'"); /* accepted; re is cased anyway */
    assert_int_equal(fm(det, "Ab"), 1);
    assert_int_equal(fm(det, "ab"), 0);
    ward_detect_free(det);
    det = one("f|re", "'^ab$'");
    assert_int_equal(dmatch(det, "ab", "g", "ab", NULL), 0); /* absent field */
    ward_detect_free(det);
}

static void test_detect_regex_limit_returns_minus_one_when_it_matters(void **state) {
    (void)state;
    ward_limits l;
    ward_limits_default(&l);
    l.match_limit = 1000;
    ward_match_ctx small;
    assert_int_equal(ward_match_ctx_init(&small, &l), 0);
    const char *evil = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab";
    ward_detection *det = compile_ok("slow:\n  f|re: '^(a+)+$'\nno:\n  g: x\n"
                                     "condition: slow\n");
    ward_event ev;
    ward_event_init(&ev);
    ward_event_reset(&ev, (const uint8_t *)evil, strlen(evil));
    ward_event_set(&ev, "f", evil, strlen(evil));
    assert_int_equal(ward_detect_match(det, &ev, &small), -1);
    assert_true(small.limit_hits > 0);
    ward_detect_free(det);
    /* the outcome does not depend on the regex: 'no' is false */
    det = compile_ok("slow:\n  f|re: '^(a+)+$'\nno:\n  g: x\ncondition: slow and no\n");
    assert_int_equal(ward_detect_match(det, &ev, &small), 0);
    ward_detect_free(det);
    det = compile_ok("slow:\n  f|re: '^(a+)+$'\nyes:\n  f: 'a*'\ncondition: slow or yes\n");
    assert_int_equal(ward_detect_match(det, &ev, &small), 1);
    ward_detect_free(det);
    det = compile_ok("slow:\n  f|re: '^(a+)+$'\ncondition: not slow\n");
    assert_int_equal(ward_detect_match(det, &ev, &small), -1);
    char buf[256];
    ward_detect_explain(det, &ev, &small, buf, sizeof(buf));
    assert_string_equal(buf, "slow=limit condition=limit");
    ward_detect_free(det);
    ward_event_fini(&ev);
    ward_match_ctx_fini(&small);
}

/* ---- expansions ---- */

/* A key of modifiers only applies them to a keyword search over the message. */
static void test_detect_keywords_with_modifiers(void **state) {
    (void)state;
    ward_detection *det = compile_ok("kw:\n  '|all':\n    - FileNotFoundException\n"
                                     "    - '/../../..'\ncondition: kw\n");
    assert_int_equal(
        dmatch(det, "", "message", "java.io.FileNotFoundException: /a/../../../etc", NULL), 1);
    assert_int_equal(dmatch(det, "", "message", "java.io.FileNotFoundException: /etc", NULL), 0);
    assert_int_equal(dmatch(det, "", "message", "GET /../../../etc", NULL), 0);
    /* no message: the whole line */
    assert_int_equal(dmatch(det, "x filenotfoundexception /../../.. y", NULL), 1);
    ward_detect_free(det);
    det = compile_ok("kw:\n  '|cased': [Failed]\ncondition: kw\n");
    assert_int_equal(dmatch(det, "", "message", "Failed login", NULL), 1);
    assert_int_equal(dmatch(det, "", "message", "failed login", NULL), 0);
    ward_detect_free(det);
    expect_err("kw:\n  '|exists': true\ncondition: kw\n", 2, 3, "'|exists' needs a field name");
    expect_err("kw:\n  '|': [x]\ncondition: kw\n", 2, 3, "empty field name in '|'");
    expect_err("kw:\n  '|frob': [x]\ncondition: kw\n", 2, 3,
               "unsupported modifier 'frob' (field 'keywords')");
}

static void test_detect_windash(void **state) {
    (void)state;
    ward_detection *det = one("f|windash|contains", "' -enc '");
    assert_int_equal(fm(det, "ps -enc x"), 1);
    assert_int_equal(fm(det, "ps /enc x"), 1);
    assert_int_equal(fm(det, "ps \xe2\x80\x93"
                             "enc x"),
                     1);
    assert_int_equal(fm(det, "ps \xe2\x80\x94"
                             "enc x"),
                     1);
    assert_int_equal(fm(det, "ps \xe2\x80\x95"
                             "enc x"),
                     1);
    assert_int_equal(fm(det, "ps +enc x"), 0);
    ward_detect_free(det);
    /* every dash independently: 25 variants */
    det = one("f|windash", "'-a -b'");
    assert_int_equal(fm(det, "/a -b"), 1);
    assert_int_equal(fm(det, "-a /b"), 1);
    assert_int_equal(fm(det, "\xe2\x80\x94"
                             "a \xe2\x80\x93"
                             "b"),
                     1);
    assert_int_equal(fm(det, "-a +b"), 0);
    ward_detect_free(det);
    /* only a dash or slash that starts an option, as in Sigma: not the ones in 'a-b' */
    det = one("f|windash", "'-a-b-c'");
    assert_int_equal(fm(det, "/a-b-c"), 1);
    assert_int_equal(fm(det, "/a/b/c"), 0);
    ward_detect_free(det);
    det = one("f|windash|contains", "' /c del'");
    assert_int_equal(fm(det, "cmd -c del x"), 1);
    assert_int_equal(fm(det, "cmd \xe2\x80\x93"
                             "c del x"),
                     1);
    ward_detect_free(det);
    det = one("f|windash|contains", "'a/b -'"); /* neither starts an option */
    assert_int_equal(fm(det, "xa/b -"), 1);
    assert_int_equal(fm(det, "xa-b -"), 0);
    assert_int_equal(fm(det, "xa/b /"), 0);
    ward_detect_free(det);
    det = one("f|windash", "'*-Enc*'"); /* after a wildcard */
    assert_int_equal(fm(det, "x /enc y"), 1);
    ward_detect_free(det);
    expect_err("sel:\n  f|windash: '-a -b -c -d'\ncondition: sel\n", 2, 14,
               "windash would expand '-a -b -c -d' into more than 256 variants (field 'f')");
}

static void test_detect_base64(void **state) {
    (void)state;
    ward_detection *det = one("f|base64", "ping");
    assert_int_equal(fm(det, "cGluZw=="), 1);
    assert_int_equal(fm(det, "cGluZw"), 0);
    ward_detect_free(det);
    det = one("f|base64|contains", "'/bin/bash'");
    assert_int_equal(fm(det, "echo L2Jpbi9iYXNo | base64 -d"), 1);
    ward_detect_free(det);
    det = one("f|base64", "'a\\*b'"); /* an escaped star is a literal byte */
    assert_int_equal(fm(det, "YSpi"), 1);
    ward_detect_free(det);
    expect_err("sel:\n  f|base64: 'a*b'\ncondition: sel\n", 2, 13,
               "'base64' cannot encode a value with wildcards: 'a*b' (field 'f')");
}

static void test_detect_base64offset(void **state) {
    (void)state;
    /* pySigma: b64encode(i * b" " + v)[(0,2,3)[i] : (None,-3,-2)[(len(v)+i) % 3]] */
    ward_detection *det = one("f|base64offset|contains", "'/bin/bash'");
    assert_int_equal(fm(det, "xL2Jpbi9iYXNox"), 1);
    assert_int_equal(fm(det, "x9iaW4vYmFzax"), 1);
    assert_int_equal(fm(det, "xvYmluL2Jhc2x"), 1);
    assert_int_equal(fm(det, "xL2Jpbi9iYX"), 0);
    ward_detect_free(det);
    det = one("f|base64offset|contains", "'http://'");
    assert_int_equal(fm(det, "aHR0cDovL"), 1);
    assert_int_equal(fm(det, "h0dHA6Ly"), 1);
    assert_int_equal(fm(det, "odHRwOi8v"), 1);
    ward_detect_free(det);
    det = one("f|base64offset", "ping"); /* without contains: whole-value equality */
    assert_int_equal(fm(det, "cGluZ"), 1);
    assert_int_equal(fm(det, "Bpbm"), 1);
    assert_int_equal(fm(det, "waW5n"), 1);
    assert_int_equal(fm(det, "waW5nX"), 0);
    ward_detect_free(det);
    expect_err("sel:\n  f|base64offset: 'a'\ncondition: sel\n", 2, 19,
               "value 'a' is too short for 'base64offset' (field 'f')");
}

static void test_detect_utf16_and_wide(void **state) {
    (void)state;
    ward_detection *det = one("f|utf16le", "ab");
    assert_int_equal(fmn(det, "a\0b\0", 4), 1);
    assert_int_equal(fmn(det, "\0a\0b", 4), 0);
    ward_detect_free(det);
    det = one("f|wide", "ab");
    assert_int_equal(fmn(det, "a\0b\0", 4), 1);
    ward_detect_free(det);
    det = one("f|utf16be", "ab");
    assert_int_equal(fmn(det, "\0a\0b", 4), 1);
    ward_detect_free(det);
    det = one("f|utf16", "ab"); /* with a byte order mark */
    assert_int_equal(fmn(det,
                         "\xff\xfe"
                         "a\0b\0",
                         6),
                     1);
    ward_detect_free(det);
    det = one("f|wide|cased", "'\xc3\xa9\xf0\x9f\x98\x80'"); /* BMP and a surrogate pair */
    assert_int_equal(fmn(det, "\xe9\x00\x3d\xd8\x00\xde", 6), 1);
    ward_detect_free(det);
    det = one("f|wide|contains", "'a*b'"); /* wildcards survive the encoding */
    assert_int_equal(fmn(det, "xxa\0zzzb\0", 9), 1);
    ward_detect_free(det);
    det = one("f|wide|base64offset|contains", "ping");
    assert_int_equal(fm(det, "xxcABpAG4AZwxx"), 1);
    assert_int_equal(fm(det, "xxAAaQBuAGcAxx"), 1);
    assert_int_equal(fm(det, "xxwAGkAbgBnAxx"), 1);
    assert_int_equal(fm(det, "xxcGluZwxx"), 0);
    ward_detect_free(det);
    det = one("f|wide|base64", "ping");
    assert_int_equal(fm(det, "cABpAG4AZwA="), 1);
    ward_detect_free(det);
    /* not reachable from YAML text (libyaml checks its input), so patch a parsed tree */
    ward_diags d;
    ward_diags_init(&d);
    ward_node *n = yparse("sel:\n  f|wide: x\ncondition: sel\n");
    n->kids[0]->kids[0]->str[0] = (char)0xff;
    assert_null(ward_detect_compile(n, "t.yml", "r1", &d));
    assert_int_equal(d.n, 1);
    assert_int_equal(d.v[0].line, 2);
    assert_non_null(strstr(d.v[0].msg, "value '\xff' is not valid UTF-8 for 'wide' (field 'f')"));
    tfree(n);
    ward_diags_fini(&d);
}

static void test_detect_utf16_non_matching(void **state) {
    (void)state;
    ward_detection *det = one("f|utf16be", "ab");
    assert_int_equal(fmn(det, "a\0b\0", 4), 0);
    assert_int_equal(fm(det, "ab"), 0);
    ward_detect_free(det);
    det = one("f|wide", "ab");
    assert_int_equal(fmn(det, "\0a\0b", 4), 0);
    assert_int_equal(fmn(det, "a\0b", 3), 0);
    assert_int_equal(fm(det, "ab"), 0);
    ward_detect_free(det);
    det = one("f|utf16le", "ab");
    assert_int_equal(fm(det, "ab"), 0);
    ward_detect_free(det);
    det = one("f|utf16", "ab"); /* the byte order mark is part of the value */
    assert_int_equal(fmn(det, "a\0b\0", 4), 0);
    assert_int_equal(fmn(det,
                         "\xfe\xff"
                         "\0a\0b",
                         6),
                     0);
    ward_detect_free(det);
    det = one("f|wide|base64", "ping");
    assert_int_equal(fm(det, "cGluZw=="), 0);
    assert_int_equal(fm(det, "AHAAaQBuAGc="), 0);
    ward_detect_free(det);
    det = one("f|utf16be|base64", "ping");
    assert_int_equal(fm(det, "AHAAaQBuAGc="), 1);
    assert_int_equal(fm(det, "cABpAG4AZwA="), 0);
    ward_detect_free(det);
}

/* Encodings chain in the order written; expected strings from pySigma's definitions. */
static void test_detect_encoding_combinations(void **state) {
    (void)state;
    ward_detection *det = one("f|utf16le|base64offset|contains", "ping");
    assert_int_equal(fm(det, "xcABpAG4AZwx"), 1);
    assert_int_equal(fm(det, "xAAaQBuAGcAx"), 1);
    assert_int_equal(fm(det, "xwAGkAbgBnAx"), 1);
    assert_int_equal(fm(det, "xAHAAaQBuAGx"), 0);
    ward_detect_free(det);
    det = one("f|utf16be|base64offset|contains", "ping");
    assert_int_equal(fm(det, "xAHAAaQBuAGx"), 1);
    assert_int_equal(fm(det, "xBwAGkAbgBnx"), 1);
    assert_int_equal(fm(det, "xAcABpAG4AZx"), 1);
    assert_int_equal(fm(det, "xcABpAG4AZwx"), 0);
    ward_detect_free(det);
    det = one("f|windash|base64offset|contains", "'-e '");
    assert_int_equal(fm(det, "xLWUgx"), 1);   /* "-e " */
    assert_int_equal(fm(det, "xL2Ugx"), 1);   /* "/e " */
    assert_int_equal(fm(det, "xvZSx"), 1);    /* "/e " at offset 2 */
    assert_int_equal(fm(det, "x4oCTZSx"), 1); /* en dash */
    assert_int_equal(fm(det, "xKAk2Ugx"), 1); /* en dash at offset 1 */
    assert_int_equal(fm(det, "xK2Ugx"), 0);   /* "+e " */
    ward_detect_free(det);
    det = one("f|windash|wide|base64offset|contains", "'-e'");
    assert_int_equal(fm(det, "xLQBlAx"), 1); /* "-e" in UTF-16LE */
    assert_int_equal(fm(det, "x8AZQx"), 1);  /* "/e", offset 1 */
    assert_int_equal(fm(det, "xEyBlAx"), 1); /* en dash: U+2013 */
    assert_int_equal(fm(det, "xLWUx"), 0);   /* "-e" in UTF-8 */
    ward_detect_free(det);
    det = one("f|wide|contains|all", "[ab, cd]");
    assert_int_equal(fmn(det, "xa\0b\0yc\0d\0", 10), 1);
    assert_int_equal(fmn(det, "xa\0b\0y", 6), 0);
    ward_detect_free(det);
    det = one("f|windash|contains|cased", "' -Enc'");
    assert_int_equal(fm(det, "ps /Enc x"), 1);
    assert_int_equal(fm(det, "ps /enc x"), 0);
    ward_detect_free(det);
}

/* ---- conditions ---- */

static const char *const cond_sels = "a:\n  fa: 1\nb:\n  fb: 1\nc:\n  fc: 1\n_x:\n  fx: 1\n"
                                     "sel_1:\n  s1: 1\nsel_2:\n  s2: 1\n";

/* Evaluates condition on an event where the given selections (a string of letters
 * among "abcx12") are true. */
static int cond(const char *condition, const char *truths) {
    char y[2048];
    snprintf(y, sizeof(y), "%scondition: %s\n", cond_sels, condition);
    ward_detection *det = compile_ok(y);
    ward_event ev;
    ward_event_init(&ev);
    ward_event_reset(&ev, (const uint8_t *)"", 0);
    static const char *const names[] = {"fa", "fb", "fc", "fx", "s1", "s2"};
    static const char keys[] = "abcx12";
    for (int i = 0; i < 6; i++)
        if (strchr(truths, keys[i]))
            ward_event_set(&ev, names[i], "1", 1);
    int r = ward_detect_match(det, &ev, &mc);
    ward_event_fini(&ev);
    ward_detect_free(det);
    return r;
}

static void test_detect_condition_operators_and_precedence(void **state) {
    (void)state;
    assert_int_equal(cond("a", "a"), 1);
    assert_int_equal(cond("a", ""), 0);
    assert_int_equal(cond("a and b", "a"), 0);
    assert_int_equal(cond("a and b", "ab"), 1);
    assert_int_equal(cond("a or b", "b"), 1);
    assert_int_equal(cond("a or b", ""), 0);
    assert_int_equal(cond("not a", ""), 1);
    assert_int_equal(cond("not a", "a"), 0);
    assert_int_equal(cond("not not a", "a"), 1);
    /* and binds tighter than or */
    assert_int_equal(cond("a or b and c", "a"), 1);
    assert_int_equal(cond("a or b and c", "b"), 0);
    assert_int_equal(cond("(a or b) and c", "a"), 0);
    assert_int_equal(cond("(a or b) and c", "ac"), 1);
    /* not binds tighter than and/or */
    assert_int_equal(cond("not a and b", "b"), 1);
    assert_int_equal(cond("not a and b", "ab"), 0);
    assert_int_equal(cond("not a or b", "ab"), 1);
    assert_int_equal(cond("not (a or b)", "b"), 0);
    assert_int_equal(cond("a and b and c", "abc"), 1);
    assert_int_equal(cond("a or b or c", "c"), 1);
    assert_int_equal(cond("((a))", "a"), 1);
    assert_int_equal(cond("a AND NOT b", "ab"), 0); /* keywords are caseless */
    assert_int_equal(cond("a AND NOT b", "a"), 1);
}

static void test_detect_condition_quantifiers(void **state) {
    (void)state;
    assert_int_equal(cond("1 of sel_*", "2"), 1);
    assert_int_equal(cond("1 of sel_*", "a"), 0);
    assert_int_equal(cond("any of sel_*", "1"), 1);
    assert_int_equal(cond("all of sel_*", "1"), 0);
    assert_int_equal(cond("all of sel_*", "12"), 1);
    assert_int_equal(cond("1 of them", "c"), 1);
    assert_int_equal(cond("1 of them", "x"), 0); /* _x is not in them */
    assert_int_equal(cond("all of them", "abc12"), 1);
    assert_int_equal(cond("all of them", "abc1"), 0);
    assert_int_equal(cond("all of them and not _x", "abc12"), 1);
    assert_int_equal(cond("all of *", "abc12"), 0); /* a pattern still sees _x */
    assert_int_equal(cond("1 of a", "a"), 1);
    assert_int_equal(cond("not 1 of sel_* and a", "a"), 1);
    /* a list of conditions is their OR */
    assert_int_equal(cond("[a, b]", "b"), 1);
    assert_int_equal(cond("[a, b]", "c"), 0);
}

/* Patterns over selection names without '_', and a condition written as a block list. */
static void test_detect_condition_patterns_and_lists(void **state) {
    (void)state;
    static const char *const sels = "sel:\n  a: 1\nselection2:\n  b: 1\nother:\n  c: 1\n";
    static const struct {
        const char *cond;
        const char *truths[4]; /* events: the fields among a, b, c set to 1 */
        int want[4];
    } cases[] = {
        {"1 of sel*", {"a", "b", "c", ""}, {1, 1, 0, 0}},
        {"all of sel*", {"a", "ab", "abc", "bc"}, {0, 1, 1, 0}},
        {"1 of them", {"c", "a", "", "b"}, {1, 1, 0, 1}},
        {"all of them", {"ab", "abc", "bc", ""}, {0, 1, 0, 0}},
        {"not 1 of them", {"", "a", "c", "abc"}, {1, 0, 0, 0}},
        {"1 of sel* and not other", {"a", "ac", "b", "c"}, {1, 0, 1, 0}},
        {"all of sel* or other", {"c", "ab", "a", ""}, {1, 1, 0, 0}},
        {"\n  - sel and selection2\n  - not other", {"a", "abc", "c", "ac"}, {1, 1, 0, 0}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char y[512];
        snprintf(y, sizeof(y), "%scondition: %s\n", sels, cases[i].cond);
        ward_detection *det = compile_ok(y);
        for (int e = 0; e < 4; e++) {
            const char *t = cases[i].truths[e];
            int r = dmatch(det, "", "a", strchr(t, 'a') ? "1" : "0", "b",
                           strchr(t, 'b') ? "1" : "0", "c", strchr(t, 'c') ? "1" : "0", NULL);
            if (r != cases[i].want[e])
                fprintf(stderr, "condition '%s' with '%s': got %d\n", cases[i].cond, t, r);
            assert_int_equal(r, cases[i].want[e]);
        }
        ward_detect_free(det);
    }
}

static void test_detect_condition_errors(void **state) {
    (void)state;
    const char *base = "a:\n  f: 1\ncondition: ";
    char y[512];
    /* A plain condition's error points at the character (the value starts at column 12);
     * a quoted one at the value. */
#define CE(c, m)                                                                                   \
    do {                                                                                           \
        snprintf(y, sizeof(y), "%s%s\n", base, c);                                                 \
        const char *at_ = strstr(m, "at column ");                                                 \
        int col_ = c[0] == '\'' ? 12 : 11 + atoi(at_ + 10);                                        \
        expect_err(y, 3, col_, m);                                                                 \
    } while (0)
    CE("a and b", "condition: unknown selection 'b' at column 7");
    CE("(a", "condition: unbalanced parentheses: '(' is never closed at column 1");
    CE("a)", "condition: unbalanced parentheses: unexpected ')' at column 2");
    CE("a or ()", "condition: empty parentheses at column 7");
    CE("a b", "condition: unexpected 'b' after the end of the expression at column 3");
    CE("2 of a*",
       "condition: '2 of' is not supported: use '1 of', 'any of' or 'all of' at column 1");
    CE("1 of z*", "condition: 'z*' matches no selection at column 6");
    CE("1 a", "condition: expected 'of' after '1', found 'a' at column 3");
    CE("all of", "condition: unexpected end of condition at column 7");
    CE("a and", "condition: unexpected end of condition at column 6");
    CE("a and or", "condition: unexpected 'or' at column 7");
    CE("a*", "condition: pattern 'a*' is only allowed after '1 of' or 'all of' at column 1");
    CE("a | count() > 5",
       "condition: aggregations ('|') are not supported; use ward's threshold at column 3");
    CE("a & a", "condition: unexpected character '&' at column 3");
    CE("'  '", "condition: empty condition at column 1");
    CE("1 of (a)", "condition: expected a selection pattern or 'them' after 'of' at column 6");
#undef CE
    expect_err("_a:\n  f: 1\ncondition: 1 of them\n", 3, 17,
               "condition: 'them' matches no selection at column 6");
    /* nesting limit */
    char deep[512] = "a:\n  f: 1\ncondition: ";
    for (int i = 0; i < 70; i++)
        strcat(deep, "(");
    strcat(deep, "a");
    for (int i = 0; i < 70; i++)
        strcat(deep, ")");
    strcat(deep, "\n");
    expect_err(deep, 3, 76, "nesting deeper than 64");
    expect_err("a:\n  f: 1\n", 1, 1, "detection has no condition");
    expect_err("a:\n  f: 1\ncondition: [a, {x: 1}]\n", 3, 16,
               "condition must be a string or a list of strings");
    expect_err("a:\n  f: 1\ncondition:\n  x: 1\n", 4, 3,
               "condition must be a string or a list of strings");
}

static void test_detect_structure_errors(void **state) {
    (void)state;
    expect_err("sel:\n  f: 1\ntimeframe: 5m\ncondition: sel\n", 3, 1,
               "timeframe is not supported; use ward's threshold");
    expect_err("- a\n", 1, 1, "detection must be a map of selections and a condition");
    expect_err("sel:\ncondition: sel\n", 0, 0, "selection 'sel' is empty");
    expect_err("sel: []\ncondition: sel\n", 1, 6, "selection 'sel' is an empty list");
    expect_err("sel: {}\ncondition: sel\n", 1, 6, "empty selection map");
    expect_err("sel:\n  - a: 1\n  - kw\ncondition: sel\n", 2, 3,
               "selection 'sel' must be a map, a list of maps or a list of keywords");
    expect_err("sel:\n  f:\n    g: 1\ncondition: sel\n", 3, 5,
               "value of field 'f' must be a scalar or a list of scalars");
    expect_err("sel:\n  f: []\ncondition: sel\n", 2, 6, "empty list of values (field 'f')");
    expect_err("sel:\n  f: [[1]]\ncondition: sel\n", 2, 7, "values of field 'f' must be scalars");
    expect_err("sel:\n  '': x\ncondition: sel\n", 2, 3, "empty field name in ''");
    expect_err("kw: [a, null]\ncondition: kw\n", 1, 9,
               "a keyword must be a string or a number, not null");
    /* a selection and the condition are both wrong: both are reported */
    ward_diags d;
    ward_diags_init(&d);
    ward_node *n = yparse("sel:\n  f|expand: x\nsel2:\n  g|gt: abc\ncondition: sel and nope\n");
    assert_null(ward_detect_compile(n, "t.yml", "r1", &d));
    assert_int_equal(d.n, 3);
    assert_non_null(strstr(d.v[0].msg, "unsupported modifier 'expand' (field 'f')"));
    assert_non_null(strstr(d.v[1].msg, "'gt' needs a number, not 'abc' (field 'g')"));
    assert_non_null(strstr(d.v[2].msg, "unknown selection 'nope'"));
    tfree(n);
    ward_diags_fini(&d);
}

static void test_detect_modifier_errors(void **state) {
    (void)state;
#define MEK(key, val, m) expect_err("sel:\n  " key ": " val "\ncondition: sel\n", 2, 3, m)
#define MEV(key, val, m)                                                                           \
    expect_err("sel:\n  " key ": " val "\ncondition: sel\n", 2, 5 + (int)strlen(key), m)
    MEK("f|expand", "x", "unsupported modifier 'expand' (field 'f')");
    MEK("f|fieldref", "x", "unsupported modifier 'fieldref' (field 'f')");
    MEK("f|bogus", "x", "unsupported modifier 'bogus' (field 'f')");
    MEK("f|re|x", "x", "unsupported modifier 'x' (field 'f')");
    MEK("f|i", "x", "unsupported modifier 'i' (field 'f'): flags follow 're'");
    MEK("f|contains|startswith", "x",
        "modifiers 'contains' and 'startswith' cannot be combined (field 'f')");
    MEK("f|re|contains", "x", "modifiers 're' and 'contains' cannot be combined (field 'f')");
    MEK("f|cidr|base64", "x", "modifiers 'cidr' and 'base64' cannot be combined (field 'f')");
    MEK("f|base64|base64offset", "x",
        "modifiers 'base64' and 'base64offset' cannot be combined (field 'f')");
    MEK("f|wide|utf16be", "x", "modifiers 'wide' and 'utf16be' cannot be combined (field 'f')");
    MEK("f|exists|all", "true", "modifiers 'exists' and 'all' cannot be combined (field 'f')");
    MEK("f|neq|all", "x", "modifiers 'neq' and 'all' cannot be combined (field 'f')");
    MEK("f|gt|lt", "1", "modifiers 'gt' and 'lt' cannot be combined (field 'f')");
    MEK("f|gt|contains", "1", "modifiers 'gt' and 'contains' cannot be combined (field 'f')");
    MEK("f|contains|contains", "x", "modifier 'contains' given twice (field 'f')");
    MEK("f|a|a|a|a|a|a|a|a|a|a|a|a|a|a|a|a|a", "x", "unsupported modifier 'a'");
    MEV("f|exists", "maybe", "'exists' needs true or false, not 'maybe' (field 'f')");
    MEV("f|exists", "[true]", "'exists' needs true or false, not a list (field 'f')");
    MEV("f|gt", "abc", "'gt' needs a number, not 'abc' (field 'f')");
    MEV("f|lte", "0x10", "'lte' needs a number, not '0x10' (field 'f')");
    MEV("f|cidr", "10.0.0.0/33", "invalid CIDR network '10.0.0.0/33' (field 'f')");
    MEV("f|cidr", "10.0.0/8", "invalid CIDR network '10.0.0/8' (field 'f')");
    MEV("f|cidr", "'::1/129'", "invalid CIDR network '::1/129' (field 'f')");
    MEV("f|cidr", "1.2.3.4/", "invalid CIDR network '1.2.3.4/' (field 'f')");
    MEV("f|re", "'a('", "field 'f': bad regex:");
    MEV("f|contains", "null", "a null value takes no modifiers (field 'f')");
#undef MEK
#undef MEV
}

/* Errors deep in a selection or in a list condition point at the node at fault. */
static void test_detect_error_positions_in_nested_nodes(void **state) {
    (void)state;
    expect_err("sel:\n  - a: 1\n  - b|nope: 2\ncondition: sel\n", 3, 5,
               "unsupported modifier 'nope' (field 'b')");
    expect_err("sel:\n  - a: 1\n    b|contains|endswith: 2\ncondition: sel\n", 3, 5,
               "modifiers 'contains' and 'endswith' cannot be combined (field 'b')");
    expect_err("sel:\n  f|gt: [1, x]\ncondition: sel\n", 2, 13,
               "'gt' needs a number, not 'x' (field 'f')");
    expect_err("sel:\n  f|cidr:\n    - 10.0.0.0/8\n    - 300.0.0.0/8\ncondition: sel\n", 4, 7,
               "invalid CIDR network '300.0.0.0/8' (field 'f')");
    expect_err("sel:\n  a: 1\ncondition:\n  - sel\n  - sel and nope\n", 5, 13,
               "condition: unknown selection 'nope' at column 9");
    expect_err("sel:\n  a: 1\ncondition:\n  - sel\n  - sel and (\n", 5, 14,
               "condition: unexpected end of condition at column 10");
    expect_err("sel:\n  a: 1\ncondition: [sel, 'sel or']\n", 3, 18,
               "condition: unexpected end of condition at column 7");
    expect_err("sel:\n  a: 1\ncondition: 'sel and not'\n", 3, 12,
               "condition: unexpected end of condition at column 12");
    expect_err("sel:\n  a: 1\ncondition: sel and and sel\n", 3, 20,
               "condition: unexpected 'and' at column 9");
    expect_err("sel:\n  a: 1\ncondition: all them\n", 3, 16,
               "condition: expected 'of' after 'all', found 'them' at column 5");
    /* every error is reported, each at its own place, in order */
    ward_diags d;
    ward_diags_init(&d);
    ward_node *n =
        yparse("sel:\n  - a|nope: 1\n  - b|re|contains: 2\ncondition: sel and missing\n");
    assert_null(ward_detect_compile(n, "t.yml", "r1", &d));
    assert_int_equal(d.n, 3);
    static const int where[3][2] = {{2, 5}, {3, 5}, {4, 20}};
    static const char *const what[3] = {"unsupported modifier 'nope' (field 'a')",
                                        "modifiers 're' and 'contains' cannot be combined",
                                        "condition: unknown selection 'missing' at column 9"};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(d.v[i].file, "t.yml");
        assert_non_null(d.v[i].rule_id);
        assert_string_equal(d.v[i].rule_id, "r1");
        assert_int_equal(d.v[i].line, where[i][0]);
        assert_int_equal(d.v[i].col, where[i][1]);
        assert_non_null(strstr(d.v[i].msg, what[i]));
    }
    tfree(n);
    ward_diags_fini(&d);
}

/* ---- explain and filters ---- */

static void test_detect_explain(void **state) {
    (void)state;
    ward_detection *det = compile_ok("sel:\n  f: x\nfilter:\n  g: y\n"
                                     "condition: sel and not filter\n");
    ward_event ev;
    ward_event_init(&ev);
    ward_event_reset(&ev, (const uint8_t *)"", 0);
    ward_event_set(&ev, "f", "x", 1);
    char buf[256];
    ward_detect_explain(det, &ev, &mc, buf, sizeof(buf));
    assert_string_equal(buf, "sel=true filter=false condition=true");
    char tiny[8];
    ward_detect_explain(det, &ev, &mc, tiny, sizeof(tiny));
    assert_true(strlen(tiny) < sizeof(tiny));
    ward_event_fini(&ev);
    ward_detect_free(det);
}

static void test_detect_add_filter(void **state) {
    (void)state;
    ward_detection *det = compile_ok("sel:\n  f: x\ncondition: sel\n");
    ward_diags d;
    ward_diags_init(&d);
    /* the filter's 'sel' is its own: it does not clash with the rule's */
    ward_node *fn = yparse("sel:\n  host: lab*\ncondition: not sel\n");
    assert_int_equal(ward_detect_add_filter(det, fn, "o.yml", "r1", &d), 0);
    tfree(fn);
    assert_int_equal(dmatch(det, "", "f", "x", "host", "prod1", NULL), 1);
    assert_int_equal(dmatch(det, "", "f", "x", "host", "lab1", NULL), 0);
    assert_int_equal(dmatch(det, "", "f", "y", "host", "prod1", NULL), 0);
    fn = yparse("quiet:\n  user: svc\ncondition: not quiet\n");
    assert_int_equal(ward_detect_add_filter(det, fn, "o.yml", "r1", &d), 0);
    tfree(fn);
    assert_int_equal(dmatch(det, "", "f", "x", "host", "prod1", "user", "svc", NULL), 0);
    ward_event ev;
    ward_event_init(&ev);
    ward_event_reset(&ev, (const uint8_t *)"", 0);
    ward_event_set(&ev, "f", "x", 1);
    char buf[256];
    ward_detect_explain(det, &ev, &mc, buf, sizeof(buf));
    assert_string_equal(buf, "sel=true filter:sel=false filter2:quiet=false condition=true");
    ward_event_fini(&ev);
    assert_int_equal(d.n, 0);
    /* a bad filter is reported and leaves the detection as it was */
    fn = yparse("x:\n  user|bad: 1\ncondition: not sel\n");
    assert_int_equal(ward_detect_add_filter(det, fn, "o.yml", "r1", &d), -1);
    tfree(fn);
    assert_int_equal(d.n, 2);
    assert_string_equal(d.v[0].file, "o.yml");
    assert_int_equal(d.v[0].line, 2);
    assert_non_null(strstr(d.v[0].msg, "unsupported modifier 'bad' (field 'user')"));
    assert_non_null(strstr(d.v[1].msg, "unknown selection 'sel'")); /* not the rule's */
    fn = yparse("x:\n  user: 1\n");
    assert_int_equal(ward_detect_add_filter(det, fn, "o.yml", "r1", &d), -1);
    tfree(fn);
    assert_non_null(strstr(d.v[2].msg, "filter has no condition"));
    assert_int_equal(dmatch(det, "", "f", "x", "host", "prod1", NULL), 1);
    ward_diags_fini(&d);
    ward_detect_free(det);
}

static void test_detect_too_many_selections(void **state) {
    (void)state;
    char *y = malloc(300 * 16 + 64);
    size_t o = 0;
    for (int i = 0; i < 300; i++)
        o += (size_t)sprintf(y + o, "s%d:\n  f: %d\n", i, i);
    sprintf(y + o, "condition: 1 of them\n");
    expect_err(y, 0, 0, "too many selections (max 256)");
    free(y);
}

/* ---- literals ---- */

static int has_lit(const ward_relit *r, const char *s) {
    for (size_t i = 0; i < r->nalts; i++)
        if (r->alts[i].len == strlen(s) && !memcmp(r->alts[i].s, s, r->alts[i].len))
            return 1;
    return 0;
}

static void join(const ward_lit *v, size_t n, char *out, size_t len) {
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            strncat(out, ",", len - strlen(out) - 1);
        strncat(out, (const char *)v[i].s, v[i].len < len - strlen(out) ? v[i].len : 0);
    }
}

/* Literal set of a detection: "any", or the sorted alts joined by ','. */
static void lits(const char *yaml, char *out, size_t len) {
    ward_detection *det = compile_ok(yaml);
    ward_relit r;
    assert_int_equal(ward_detect_literals(det, &r), 0);
    if (r.any) {
        assert_int_equal(r.nmust, 0);
        assert_int_equal(r.nalts, 0);
        snprintf(out, len, "any");
    } else {
        join(r.alts, r.nalts, out, len); /* insertion order is deterministic; keep it */
    }
    ward_relit_fini(&r);
    ward_detect_free(det);
}

/* The required literals of a detection, joined by ','. */
static void musts(const char *yaml, char *out, size_t len) {
    ward_detection *det = compile_ok(yaml);
    ward_relit r;
    assert_int_equal(ward_detect_literals(det, &r), 0);
    join(r.must, r.nmust, out, len);
    ward_relit_fini(&r);
    ward_detect_free(det);
}

#define MUSTS(yaml, want)                                                                          \
    do {                                                                                           \
        char got_[1024];                                                                           \
        musts(yaml, got_, sizeof(got_));                                                           \
        assert_string_equal(got_, want);                                                           \
    } while (0)

#define LITS(yaml, want)                                                                           \
    do {                                                                                           \
        char got_[1024];                                                                           \
        lits(yaml, got_, sizeof(got_));                                                            \
        assert_string_equal(got_, want);                                                           \
    } while (0)

static void test_detect_literals_per_form(void **state) {
    (void)state;
    LITS("s:\n  f|contains: EvilThing\ncondition: s\n", "evilthing");
    LITS("s:\n  f: 'ab*cdef?g'\ncondition: s\n", "cdef");
    LITS("s:\n  f: [alpha, beta]\ncondition: s\n", "alpha,beta");
    LITS("s:\n  f: [alpha, '*']\ncondition: s\n", "any");
    LITS("s:\n  f: [alpha, x]\ncondition: s\n", "any"); /* a 1-byte value */
    LITS("s:\n  f: ab\ncondition: s\n", "ab");
    LITS("s:\n  f|contains|all: [alpha, be]\ncondition: s\n", "alpha");
    LITS("s:\n  f: alpha\n  g: longer_value\ncondition: s\n", "alpha");
    LITS("s:\n  f: al\n  g: longer_value\ncondition: s\n", "longer_value");
    LITS("s:\n  - f: alpha\n  - g: gamma\ncondition: s\n", "alpha,gamma");
    LITS("s:\n  - f: alpha\n  - g|exists: true\ncondition: s\n", "any");
    LITS("s:\n  f: alpha\n  g|exists: true\ncondition: s\n", "alpha");
    LITS("s: [KeyWord, other]\ncondition: s\n", "keyword,other");
    LITS("s:\n  f|cased: MiXed\ncondition: s\n", "mixed");
    LITS("a:\n  f: alpha\nb:\n  g: gamma\ncondition: a or b\n", "alpha,gamma");
    LITS("a:\n  f: alpha\nb:\n  g: ga\ncondition: a and b\n", "alpha");
    LITS("a:\n  f: alpha\nb:\n  g: gamma\ncondition: a and not b\n", "alpha");
    LITS("a:\n  f: alpha\nb:\n  g: gamma\ncondition: not a\n", "any");
    LITS("a:\n  f: alpha\nb:\n  g: gamma\ncondition: a or not b\n", "any");
    LITS("a:\n  f: alpha\nb:\n  g: gamma\ncondition: 1 of them\n", "alpha,gamma");
    LITS("a:\n  f: alpha\nb:\n  g: ga\ncondition: all of them\n", "alpha");
    LITS("a:\n  f: alpha\nb:\n  g: gamma\ncondition: [a, b]\n", "alpha,gamma");
    LITS("s:\n  f|neq: alpha\ncondition: s\n", "any");
    LITS("s:\n  f|gt: 100\ncondition: s\n", "any");
    LITS("s:\n  f|cidr: 10.0.0.0/8\ncondition: s\n", "any");
    LITS("s:\n  f: null\ncondition: s\n", "any");
    LITS("s:\n  f|exists: false\ncondition: s\n", "any");
    LITS("s:\n  f|re: '.*'\ncondition: s\n", "any");
    LITS("s:\n  f|base64: ping\ncondition: s\n", "cgluzw==");
    LITS("s:\n  f|base64offset|contains: ping\ncondition: s\n", "cgluz,bpbm,waw5n");
    LITS("s:\n  f|windash|contains: ' -e '\ncondition: s\n", " -e , /e , \xe2\x80\x93"
                                                             "e , \xe2\x80\x94"
                                                             "e , \xe2\x80\x95"
                                                             "e ");
    /* the filter is 'not': the rule's own literals stay */
    ward_detection *det = compile_ok("s:\n  f: alpha\ncondition: s\n");
    ward_diags d;
    ward_diags_init(&d);
    ward_node *fn = yparse("x:\n  g: gamma\ncondition: not x\n");
    assert_int_equal(ward_detect_add_filter(det, fn, "o", "r", &d), 0);
    tfree(fn);
    ward_relit r;
    assert_int_equal(ward_detect_literals(det, &r), 0);
    assert_int_equal(r.any, 0);
    assert_true(has_lit(&r, "alpha"));
    ward_relit_fini(&r);
    ward_detect_free(det);
    ward_diags_fini(&d);
}

/* Required literals: ANDs collect them, ORs keep what every branch requires, a single
 * alternative is required, 'not' and 'neq' require nothing. */
static void test_detect_must_literals(void **state) {
    (void)state;
    MUSTS("s:\n  f|contains: EvilThing\ncondition: s\n", "evilthing");
    MUSTS("s:\n  f: [alpha, beta]\ncondition: s\n", "");
    MUSTS("s:\n  f: alpha\n  g: longer_value\ncondition: s\n", "alpha,longer_value");
    MUSTS("s:\n  f|contains|all: [alpha, beta]\ncondition: s\n", "alpha,beta");
    MUSTS("a:\n  f: alpha\nb:\n  g: gamma\ncondition: a and b\n", "alpha,gamma");
    MUSTS("a:\n  f: alpha\nb:\n  g: gamma\ncondition: a or b\n", "");
    MUSTS("a:\n  f: alpha\n  g: gamma\nb:\n  f: alpha\ncondition: a or b\n", "alpha");
    MUSTS("a:\n  - f: alpha\n    g: gamma\n  - f: alpha\ncondition: a\n", "alpha");
    MUSTS("a:\n  f: alpha\nb:\n  g: gamma\ncondition: a and not b\n", "alpha");
    MUSTS("a:\n  f: alpha\nb:\n  g: gamma\ncondition: all of them\n", "alpha,gamma");
    MUSTS("a:\n  f: alpha\nb:\n  g: gamma\ncondition: 1 of them\n", "");
    MUSTS("s:\n  f|neq: alpha\n  g: gamma\ncondition: s\n", "gamma");
    /* a regex passes on what the pattern requires */
    MUSTS("s:\n  f|re: 'Failed (?:password|publickey) for \\S+ from'\ncondition: s\n",
          "Failed p, for , from");
    MUSTS("s:\n  f|re: 'a(?:bcd|xyz)'\ncondition: s\n", "");
    /* only exists: nothing to alternate on, nothing required */
    MUSTS("s:\n  f|exists: true\ncondition: s\n", "");
    /* nothing but a required literal: it becomes the alternative */
    LITS("a:\n  f|re: 'x.*'\n  g: alpha\nb:\n  f|re: 'x.*'\n  g: alpha\ncondition: a or b\n",
         "alpha");
}

/* Property: whenever a detection matches an event whose field values are substrings
 * of its line, the line contains one of the detection's literals (or it has any=1). */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static char lower(char c) {
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static int contains_ci(const char *h, size_t hn, const uint8_t *p, size_t pn) {
    for (size_t i = 0; i + pn <= hn; i++) {
        size_t j = 0;
        while (j < pn && lower(h[i + j]) == lower((char)p[j]))
            j++;
        if (j == pn)
            return 1;
    }
    return 0;
}

static const struct prop {
    const char *yaml;
    const char *pool[12];
} props[] = {
    {"s:\n  f|contains: evil\ncondition: s\n", {"evil", "EVIL", "evi", "xx", NULL}},
    {"s:\n  f: 'ab*cd?e'\ncondition: s\n", {"ab", "cd", "e", "x", "ABzzCDxE", "cdxe", NULL}},
    {"a:\n  f: [alpha, beta]\nb:\n  g|startswith: gam\ncondition: a and b\n",
     {"alpha", "beta", "gam", "gamma", "GAM", "z", NULL}},
    {"a:\n  f: [alpha, beta]\nb:\n  g|startswith: gam\ncondition: a or b\n",
     {"alpha", "beta", "gam", "gamma", "be", "z", NULL}},
    {"a:\n  f|contains|all: [one, two]\nb:\n  g: three\ncondition: 1 of them\n",
     {"one", "two", "three", "onetwo", "tw", NULL}},
    {"a:\n  f|endswith: '.exe'\nb:\n  f|contains: temp\ncondition: all of them\n",
     {".exe", "temp", "TEMP.EXE", "x.exe", "tem", NULL}},
    {"s: [failed, 'inv*user']\ncondition: s\n",
     {"failed", "inv", "user", "invalid user", "FAILED", NULL}},
    {"a:\n  f|base64offset|contains: ping\ncondition: a\n",
     {"cGluZ", "Bpbm", "waW5n", "cGlu", "ping", NULL}},
    {"a:\n  f|windash|contains: ' -e '\ncondition: a\n",
     {" -e ", " /e ",
      " \xe2\x80\x93"
      "e ",
      "-e", " e ", NULL}},
    {"a:\n  f: alpha\nb:\n  g: gamma\ncondition: a and not b\n", {"alpha", "gamma", "al", NULL}},
    {"a:\n  - f: alpha\n  - g|cased: Gamma\ncondition: a\n", {"alpha", "Gamma", "gamma", NULL}},
    {"a:\n  f|re: 'abc'\n  g: [x1, y2]\ncondition: a\n", {"abc", "x1", "y2", "ab", NULL}},
};

static void test_detect_literals_are_sound(void **state) {
    (void)state;
    static const char *const fields[] = {"f", "g", "message"};
    for (size_t p = 0; p < sizeof(props) / sizeof(props[0]); p++) {
        ward_detection *det = compile_ok(props[p].yaml);
        ward_relit r;
        assert_int_equal(ward_detect_literals(det, &r), 0);
        size_t npool = 0;
        while (props[p].pool[npool])
            npool++;
        int matches = 0;
        for (int iter = 0; iter < 3000; iter++) {
            char line[512];
            size_t off[3], len[3];
            int present[3];
            size_t o = 0;
            for (int f = 0; f < 3; f++) {
                present[f] = rnd(4) != 0;
                if (!present[f])
                    continue;
                o += (size_t)snprintf(line + o, sizeof(line) - o, "%s=", fields[f]);
                off[f] = o;
                int parts = 1 + (int)rnd(3);
                for (int k = 0; k < parts; k++) {
                    const char *v = rnd(5) ? props[p].pool[rnd((uint32_t)npool)] : "q";
                    o += (size_t)snprintf(line + o, sizeof(line) - o, "%s", v);
                }
                len[f] = o - off[f];
                o += (size_t)snprintf(line + o, sizeof(line) - o, " ");
            }
            ward_event ev;
            ward_event_init(&ev);
            ward_event_reset(&ev, (const uint8_t *)line, o);
            for (int f = 0; f < 3; f++)
                if (present[f])
                    ward_event_set(&ev, fields[f], line + off[f], len[f]);
            int m = ward_detect_match(det, &ev, &mc);
            ward_event_fini(&ev);
            if (m != 1)
                continue;
            matches++;
            if (r.any)
                continue;
            int ok = 0;
            for (size_t i = 0; i < r.nalts && !ok; i++)
                ok = contains_ci(line, o, r.alts[i].s, r.alts[i].len);
            if (!ok)
                fprintf(stderr, "unsound: rule %zu line '%.*s'\n", p, (int)o, line);
            assert_true(ok);
            for (size_t i = 0; i < r.nmust; i++) {
                if (!contains_ci(line, o, r.must[i].s, r.must[i].len))
                    fprintf(stderr, "unsound must '%.*s': rule %zu line '%.*s'\n",
                            (int)r.must[i].len, r.must[i].s, p, (int)o, line);
                assert_true(contains_ci(line, o, r.must[i].s, r.must[i].len));
            }
        }
        assert_true(matches > 0);
        ward_relit_fini(&r);
        ward_detect_free(det);
    }
}

static void test_detect_null_det_is_harmless(void **state) {
    (void)state;
    assert_int_equal(ward_detect_match(NULL, NULL, &mc), 0);
    ward_relit r;
    assert_int_equal(ward_detect_literals(NULL, &r), 0);
    assert_int_equal(r.any, 1);
    assert_int_equal(ward_detect_regex_count(NULL), 0);
    ward_detect_free(NULL);
    ward_diags d;
    ward_diags_init(&d);
    assert_null(ward_detect_compile(NULL, "t.yml", "r1", &d));
    assert_int_equal(d.n, 1);
    ward_diags_fini(&d);
}

/* Every allocation of compiling a detection (values of every kind, encodings, a filter,
 * the literals) can fail: the result is NULL or -1 with a diagnostic (or the diagnostic
 * list marked as out of memory), never a crash, a double free or a leak. Found by
 * fuzz_rules: a failed append to a value's variant list freed the value twice. */
static void test_detect_out_of_memory_anywhere(void **state) {
    (void)state;
    ward_node *n = yparse("sel:\n"
                          "  program: sshd\n"
                          "  message|contains: ['Failed *password', '?oot']\n"
                          "  cmd|windash|contains: ' -enc '\n"
                          "  b|base64offset|contains: secret\n"
                          "  w|wide|base64: abc\n"
                          "  r|re|i: 'port \\d+'\n"
                          "  ip|cidr: [10.0.0.0/8, '::1/128']\n"
                          "  n|gt: 5\n"
                          "  e|exists: true\n"
                          "keywords: [Invalid user, 'auth*failure']\n"
                          "filter_x: {user: root}\n"
                          "condition: (sel or keywords) and not 1 of filter_*\n");
    ward_node *f = yparse("f: {user|startswith: adm}\ncondition: not f\n");
    unsigned long total = 0;
    for (unsigned long k = 0; k == 0 || k <= total + 1; k++) {
        for (int once = 0; once < 2; once++) {
            ward_diags d;
            ward_diags_init(&d);
            failalloc_arm(k, once);
            ward_detection *det = ward_detect_compile(n, "t.yml", "r1", &d);
            if (det) {
                size_t before = d.n;
                if (ward_detect_add_filter(det, f, "t.yml", "r1", &d) < 0)
                    assert_true(d.n > before || d.oom);
                ward_relit r;
                if (ward_detect_literals(det, &r) == 0)
                    ward_relit_fini(&r);
            } else {
                assert_true(d.n > 0 || d.oom);
            }
            ward_detect_free(det);
            unsigned long calls = failalloc_disarm();
            if (k == 0)
                total = calls;
            ward_diags_fini(&d);
        }
    }
    assert_true(total > 20);
    tfree(f);
    tfree(n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_plain_values_are_whole_and_caseless),
        cmocka_unit_test(test_detect_wildcards_and_escapes),
        cmocka_unit_test(test_detect_escaped_backslash),
        cmocka_unit_test(test_detect_question_mark_is_one_character),
        cmocka_unit_test(test_detect_cased),
        cmocka_unit_test(test_detect_cased_keeps_wildcards_and_escapes),
        cmocka_unit_test(test_detect_contains_startswith_endswith),
        cmocka_unit_test(test_detect_lists_or_and_all),
        cmocka_unit_test(test_detect_keywords),
        cmocka_unit_test(test_detect_null_and_exists),
        cmocka_unit_test(test_detect_neq),
        cmocka_unit_test(test_detect_numeric_comparisons),
        cmocka_unit_test(test_detect_numeric_needs_a_number_in_the_field),
        cmocka_unit_test(test_detect_cidr_v4_v6),
        cmocka_unit_test(test_detect_cidr_refuses_what_is_not_an_address),
        cmocka_unit_test(test_detect_re_and_flags),
        cmocka_unit_test(test_detect_re_flags_do_not_overmatch),
        cmocka_unit_test(test_detect_regex_limit_returns_minus_one_when_it_matters),
        cmocka_unit_test(test_detect_keywords_with_modifiers),
        cmocka_unit_test(test_detect_windash),
        cmocka_unit_test(test_detect_base64),
        cmocka_unit_test(test_detect_base64offset),
        cmocka_unit_test(test_detect_utf16_and_wide),
        cmocka_unit_test(test_detect_utf16_non_matching),
        cmocka_unit_test(test_detect_encoding_combinations),
        cmocka_unit_test(test_detect_condition_operators_and_precedence),
        cmocka_unit_test(test_detect_condition_quantifiers),
        cmocka_unit_test(test_detect_condition_patterns_and_lists),
        cmocka_unit_test(test_detect_condition_errors),
        cmocka_unit_test(test_detect_structure_errors),
        cmocka_unit_test(test_detect_modifier_errors),
        cmocka_unit_test(test_detect_error_positions_in_nested_nodes),
        cmocka_unit_test(test_detect_explain),
        cmocka_unit_test(test_detect_add_filter),
        cmocka_unit_test(test_detect_too_many_selections),
        cmocka_unit_test(test_detect_literals_per_form),
        cmocka_unit_test(test_detect_must_literals),
        cmocka_unit_test(test_detect_literals_are_sound),
        cmocka_unit_test(test_detect_null_det_is_harmless),
        cmocka_unit_test(test_detect_out_of_memory_anywhere),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
