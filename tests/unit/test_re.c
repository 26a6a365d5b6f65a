#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "ward/re.h"

static void test_re_compile_and_match(void **state) {
    (void)state;
    char err[256];
    pcre2_code *re =
        ward_re_compile("fail(ed)? password for (?<user>\\S+)", SIZE_MAX, 0, err, sizeof(err));
    assert_non_null(re);
    ward_limits l;
    ward_limits_default(&l);
    ward_match_ctx mc;
    assert_int_equal(ward_match_ctx_init(&mc, &l), 0);
    const char *s = "Failed password for root; failed password for bob from x";
    assert_int_equal(ward_re_match(re, (const uint8_t *)s, strlen(s), &mc), 1);
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(mc.md);
    assert_int_equal(ov[4], 46);
    assert_int_equal(ward_re_match(re, (const uint8_t *)"nothing", 7, &mc), 0);
    pcre2_code_free(re);
    ward_match_ctx_fini(&mc);
}

static void test_re_bad_pattern_names_offset(void **state) {
    (void)state;
    char err[256];
    assert_null(ward_re_compile("ab(c", 4, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "offset 4"));
    assert_null(ward_re_compile("a{2,1}", 6, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "bad regex"));
}

static void test_re_catastrophic_pattern_hits_limit(void **state) {
    (void)state;
    char err[256];
    pcre2_code *re = ward_re_compile("^(a+)+$", SIZE_MAX, 0, err, sizeof(err));
    assert_non_null(re);
    ward_limits l;
    ward_limits_default(&l);
    ward_match_ctx mc;
    assert_int_equal(ward_match_ctx_init(&mc, &l), 0);
    char s[64];
    memset(s, 'a', sizeof(s) - 1);
    s[sizeof(s) - 2] = '!';
    s[sizeof(s) - 1] = 0;
    assert_int_equal(ward_re_match(re, (const uint8_t *)s, strlen(s), &mc), -1);
    assert_int_equal(mc.limit_hits, 1);
    assert_int_equal(mc.hit_limit, 1);
    pcre2_code_free(re);
    ward_match_ctx_fini(&mc);
}

static void test_re_long_line_needs_big_jit_stack(void **state) {
    (void)state;
    /* A pattern that backtracks deeply on a long line: with the default 32 KiB JIT stack
     * it would fail with a JIT stack error; ward's 1 MiB stack lets it match. */
    char err[256];
    pcre2_code *re = ward_re_compile("^(?:a|b)*c", SIZE_MAX, 0, err, sizeof(err));
    assert_non_null(re);
    ward_limits l;
    ward_limits_default(&l);
    l.match_limit = 10000000;
    ward_match_ctx mc;
    assert_int_equal(ward_match_ctx_init(&mc, &l), 0);
    static char s[20001];
    memset(s, 'a', 20000);
    s[20000] = 'c';
    assert_int_equal(ward_re_match(re, (const uint8_t *)s, sizeof(s), &mc), 1);
    pcre2_code_free(re);
    ward_match_ctx_fini(&mc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_re_compile_and_match),
        cmocka_unit_test(test_re_bad_pattern_names_offset),
        cmocka_unit_test(test_re_catastrophic_pattern_hits_limit),
        cmocka_unit_test(test_re_long_line_needs_big_jit_stack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
