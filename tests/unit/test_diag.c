/* Load diagnostics: the list's life cycle (init, add, growth, fini and reuse), copies of
 * the strings, and the "file:line:col: rule ID: msg" format with its short forms and
 * truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ward/diag.h"

/* Formats the diagnostic with the given fields (no list involved). */
static void fmt(const char *file, int line, int col, const char *rule_id, const char *msg,
                char *buf, size_t len) {
    ward_diag g = {(char *)file, line, col, (char *)rule_id, (char *)msg};
    ward_diag_format(&g, buf, len);
}

static void test_diag_init_is_empty(void **state) {
    (void)state;
    ward_diags d;
    memset(&d, 0xa5, sizeof(d)); /* init must not rely on zeroed storage */
    ward_diags_init(&d);
    assert_null(d.v);
    assert_int_equal(d.n, 0);
    assert_int_equal(d.cap, 0);
    assert_int_equal(d.oom, 0);
    ward_diags_fini(&d);
}

static void test_diag_fini_of_empty_list(void **state) {
    (void)state;
    ward_diags d;
    ward_diags_init(&d);
    ward_diags_fini(&d);
    ward_diags_fini(&d); /* twice: the list is empty, not freed memory */
    assert_null(d.v);
    assert_int_equal(d.n, 0);
}

static void test_diag_add_with_file_and_rule(void **state) {
    (void)state;
    ward_diags d;
    ward_diags_init(&d);
    assert_int_equal(ward_diags_add(&d, "rules/a.yml", 3, 7, "r-1", "bad %s %d", "thing", 42), 0);
    assert_int_equal(d.n, 1);
    assert_true(d.cap >= 1);
    assert_int_equal(d.oom, 0);
    assert_string_equal(d.v[0].file, "rules/a.yml");
    assert_int_equal(d.v[0].line, 3);
    assert_int_equal(d.v[0].col, 7);
    assert_non_null(d.v[0].rule_id);
    assert_string_equal(d.v[0].rule_id, "r-1");
    assert_string_equal(d.v[0].msg, "bad thing 42");
    ward_diags_fini(&d);
}

static void test_diag_add_without_file_or_rule(void **state) {
    (void)state;
    ward_diags d;
    ward_diags_init(&d);
    assert_int_equal(ward_diags_add(&d, NULL, 0, 0, NULL, "no name"), 0);
    assert_int_equal(d.n, 1);
    assert_non_null(d.v[0].file); /* a missing file becomes "", not NULL */
    assert_string_equal(d.v[0].file, "");
    assert_null(d.v[0].rule_id); /* a missing rule id stays NULL */
    assert_int_equal(d.v[0].line, 0);
    assert_int_equal(d.v[0].col, 0);
    assert_string_equal(d.v[0].msg, "no name");
    ward_diags_fini(&d);
}

static void test_diag_add_copies_strings(void **state) {
    (void)state;
    ward_diags d;
    ward_diags_init(&d);
    char file[] = "a.yml", rule[] = "r1", arg[] = "value";
    assert_int_equal(ward_diags_add(&d, file, 1, 1, rule, "got '%s'", arg), 0);
    assert_ptr_not_equal(d.v[0].file, file);
    assert_ptr_not_equal(d.v[0].rule_id, rule);
    memset(file, 'X', sizeof(file) - 1);
    memset(rule, 'X', sizeof(rule) - 1);
    memset(arg, 'X', sizeof(arg) - 1);
    assert_string_equal(d.v[0].file, "a.yml");
    assert_string_equal(d.v[0].rule_id, "r1");
    assert_string_equal(d.v[0].msg, "got 'value'");
    ward_diags_fini(&d);
}

static void test_diag_add_message_is_not_a_format(void **state) {
    (void)state;
    ward_diags d;
    ward_diags_init(&d);
    /* a '%' that arrives through an argument is printed, not interpreted */
    assert_int_equal(ward_diags_add(&d, "f", 1, 2, "r", "%s", "100%s %n %d"), 0);
    assert_string_equal(d.v[0].msg, "100%s %n %d");
    char buf[64];
    ward_diag_format(&d.v[0], buf, sizeof(buf));
    assert_string_equal(buf, "f:1:2: rule r: 100%s %n %d");
    ward_diags_fini(&d);
}

static void test_diag_add_cuts_long_messages(void **state) {
    (void)state;
    ward_diags d;
    ward_diags_init(&d);
    char *big = malloc(3000);
    assert_non_null(big);
    memset(big, 'm', 2999);
    big[2999] = 0;
    assert_int_equal(ward_diags_add(&d, "f", 1, 1, NULL, "%s", big), 0);
    assert_int_equal(d.oom, 0);
    /* messages are formatted into 1024 bytes: 1023 characters are kept */
    assert_int_equal(strlen(d.v[0].msg), 1023);
    assert_int_equal(strspn(d.v[0].msg, "m"), 1023);
    free(big);
    ward_diags_fini(&d);
}

static void test_diag_format_full(void **state) {
    (void)state;
    char buf[256];
    fmt("t.yml", 3, 12, "r1", "unknown selection 'b'", buf, sizeof(buf));
    assert_string_equal(buf, "t.yml:3:12: rule r1: unknown selection 'b'");
}

static void test_diag_format_without_column(void **state) {
    (void)state;
    char buf[256];
    fmt("t.yml", 3, 0, "r1", "msg", buf, sizeof(buf));
    assert_string_equal(buf, "t.yml:3: rule r1: msg");
    fmt("t.yml", 3, 0, NULL, "msg", buf, sizeof(buf));
    assert_string_equal(buf, "t.yml:3: msg");
}

static void test_diag_format_without_line(void **state) {
    (void)state;
    char buf[256];
    fmt("t.yml", 0, 0, "r1", "msg", buf, sizeof(buf));
    assert_string_equal(buf, "t.yml: rule r1: msg");
    /* a column without a line says nothing: it is left out too */
    fmt("t.yml", 0, 9, "r1", "msg", buf, sizeof(buf));
    assert_string_equal(buf, "t.yml: rule r1: msg");
    fmt("t.yml", -1, -1, NULL, "msg", buf, sizeof(buf));
    assert_string_equal(buf, "t.yml: msg");
}

static void test_diag_format_without_rule_id(void **state) {
    (void)state;
    char buf[256];
    fmt("t.yml", 4, 2, NULL, "duplicate id", buf, sizeof(buf));
    assert_string_equal(buf, "t.yml:4:2: duplicate id");
}

static void test_diag_format_without_file_name(void **state) {
    (void)state;
    char buf[256];
    ward_diags d;
    ward_diags_init(&d);
    assert_int_equal(ward_diags_add(&d, NULL, 2, 5, "r1", "msg"), 0);
    assert_int_equal(ward_diags_add(&d, NULL, 0, 0, NULL, "msg"), 0);
    /* no name: the position in words, not a dangling ':2:5:' */
    ward_diag_format(&d.v[0], buf, sizeof(buf));
    assert_string_equal(buf, "line 2, column 5: rule r1: msg");
    ward_diag_format(&d.v[1], buf, sizeof(buf));
    assert_string_equal(buf, "msg");
    assert_int_equal(ward_diags_add(&d, "", 7, 0, NULL, "m"), 0);
    ward_diag_format(&d.v[2], buf, sizeof(buf));
    assert_string_equal(buf, "line 7: m");
    ward_diags_fini(&d);
}

static void test_diag_format_extreme_positions(void **state) {
    (void)state;
    char buf[256];
    fmt("f", INT_MAX, INT_MAX, "r", "m", buf, sizeof(buf));
    assert_string_equal(buf, "f:2147483647:2147483647: rule r: m");
}

static void test_diag_format_truncates_into_small_buffer(void **state) {
    (void)state;
    const char *want = "t.yml:3:12: rule r1: a long message";
    char full[256];
    fmt("t.yml", 3, 12, "r1", "a long message", full, sizeof(full));
    assert_string_equal(full, want);
    for (size_t len = 1; len <= strlen(want) + 2; len++) {
        char buf[64];
        memset(buf, '#', sizeof(buf));
        fmt("t.yml", 3, 12, "r1", "a long message", buf, len);
        size_t got = strlen(buf); /* NUL-terminated inside the first len bytes */
        size_t expect = len - 1 < strlen(want) ? len - 1 : strlen(want);
        assert_int_equal(got, expect);
        assert_memory_equal(buf, want, got);
        for (size_t i = len; i < sizeof(buf); i++) /* nothing written past len */
            assert_int_equal(buf[i], '#');
    }
    /* the same without a rule id, and a length of 0 writes nothing */
    char buf[8];
    memset(buf, '#', sizeof(buf));
    fmt("t.yml", 3, 12, NULL, "msg", buf, 5);
    assert_string_equal(buf, "t.ym");
    memset(buf, '#', sizeof(buf));
    fmt("t.yml", 3, 12, NULL, "msg", buf, 0);
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], '#');
}

static void test_diag_many_entries_grow(void **state) {
    (void)state;
    ward_diags d;
    ward_diags_init(&d);
    enum { N = 1000 };
    for (int i = 0; i < N; i++) {
        char rule[16];
        snprintf(rule, sizeof(rule), "r%d", i);
        assert_int_equal(
            ward_diags_add(&d, "many.yml", i + 1, i % 80, i % 3 ? rule : NULL, "error %d", i), 0);
        assert_int_equal(d.n, (size_t)i + 1);
        assert_true(d.cap >= d.n);
    }
    assert_int_equal(d.oom, 0);
    /* every entry survived the reallocations */
    for (int i = 0; i < N; i++) {
        char want[64], buf[128];
        if (i % 80 && i % 3)
            snprintf(want, sizeof(want), "many.yml:%d:%d: rule r%d: error %d", i + 1, i % 80, i, i);
        else if (i % 80)
            snprintf(want, sizeof(want), "many.yml:%d:%d: error %d", i + 1, i % 80, i);
        else if (i % 3)
            snprintf(want, sizeof(want), "many.yml:%d: rule r%d: error %d", i + 1, i, i);
        else
            snprintf(want, sizeof(want), "many.yml:%d: error %d", i + 1, i);
        ward_diag_format(&d.v[i], buf, sizeof(buf));
        assert_string_equal(buf, want);
    }
    ward_diags_fini(&d);
}

static void test_diag_fini_leaves_a_reusable_list(void **state) {
    (void)state;
    ward_diags d;
    ward_diags_init(&d);
    for (int i = 0; i < 20; i++)
        assert_int_equal(ward_diags_add(&d, "a.yml", i, i, "r", "first %d", i), 0);
    ward_diags_fini(&d);
    assert_null(d.v);
    assert_int_equal(d.n, 0);
    assert_int_equal(d.cap, 0);
    assert_int_equal(d.oom, 0);
    /* used again without init */
    assert_int_equal(ward_diags_add(&d, "b.yml", 1, 2, NULL, "second"), 0);
    assert_int_equal(d.n, 1);
    char buf[64];
    ward_diag_format(&d.v[0], buf, sizeof(buf));
    assert_string_equal(buf, "b.yml:1:2: second");
    ward_diags_fini(&d);
    assert_int_equal(d.n, 0);
}

static void test_diag_errf_fills_and_cuts(void **state) {
    (void)state;
    char err[8];
    ward_errf(err, sizeof(err), "%s: %d", "a.key", 12345);
    assert_string_equal(err, "a.key: "); /* cut, NUL-terminated */
    char big[64];
    ward_errf(big, sizeof(big), "%s: mode %04o", "a.key", 0640);
    assert_string_equal(big, "a.key: mode 0640");
    ward_errf(NULL, 10, "nothing");
    err[0] = 'x';
    ward_errf(err, 0, "nothing");
    assert_int_equal(err[0], 'x');
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diag_init_is_empty),
        cmocka_unit_test(test_diag_errf_fills_and_cuts),
        cmocka_unit_test(test_diag_fini_of_empty_list),
        cmocka_unit_test(test_diag_add_with_file_and_rule),
        cmocka_unit_test(test_diag_add_without_file_or_rule),
        cmocka_unit_test(test_diag_add_copies_strings),
        cmocka_unit_test(test_diag_add_message_is_not_a_format),
        cmocka_unit_test(test_diag_add_cuts_long_messages),
        cmocka_unit_test(test_diag_format_full),
        cmocka_unit_test(test_diag_format_without_column),
        cmocka_unit_test(test_diag_format_without_line),
        cmocka_unit_test(test_diag_format_without_rule_id),
        cmocka_unit_test(test_diag_format_without_file_name),
        cmocka_unit_test(test_diag_format_extreme_positions),
        cmocka_unit_test(test_diag_format_truncates_into_small_buffer),
        cmocka_unit_test(test_diag_many_entries_grow),
        cmocka_unit_test(test_diag_fini_leaves_a_reusable_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
