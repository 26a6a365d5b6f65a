/* JSON output: escaping, UTF-8 validation, the writer's commas, base64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "ward/json.h"

static void expect_escape(const char *in, size_t len, const char *want, size_t bad) {
    ward_buf b;
    ward_buf_init(&b);
    assert_int_equal(ward_json_escape(&b, in, len), bad);
    assert_string_equal(ward_buf_cstr(&b), want);
    ward_buf_fini(&b);
}

static void test_json_escape_controls_and_quotes(void **state) {
    (void)state;
    expect_escape("plain text", 10, "plain text", 0);
    expect_escape("a\"b\\c", 5, "a\\\"b\\\\c", 0);
    expect_escape("l1\nl2\r\t.", 8, "l1\\nl2\\r\\t.", 0);
    expect_escape("\x01\x1f\x7f", 3, "\\u0001\\u001f\\u007f", 0);
    expect_escape("nul\0byte", 8, "nul\\u0000byte", 0);
    expect_escape("", 0, "", 0);
}

static void test_json_escape_utf8(void **state) {
    (void)state;
    /* valid sequences of every length pass as they are */
    expect_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
                  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0);
    /* each invalid sequence becomes one U+FFFD per bad byte */
    expect_escape("a\x80z", 3, "a\\ufffdz", 1);                              /* lone continuation */
    expect_escape("\xc0\xaf", 2, "\\ufffd\\ufffd", 2);                       /* overlong '/' */
    expect_escape("\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd", 3);            /* surrogate */
    expect_escape("\xf4\x90\x80\x80", 4, "\\ufffd\\ufffd\\ufffd\\ufffd", 4); /* > U+10FFFF */
    expect_escape("\xe2\x82", 2, "\\ufffd\\ufffd", 2);                       /* cut short */
    expect_escape("\xff", 1, "\\ufffd", 1);
    /* latin-1 text, as old syslog daemons write it */
    expect_escape("Jos\xe9", 4, "Jos\\ufffd", 1);
}

/* The escaper skips eight plain bytes at a time: every byte value at every position of
 * a longer string must come out as it does alone. */
static void test_json_escape_every_byte_at_every_offset(void **state) {
    (void)state;
    const char *text = "abcdefghijklmnopqrstuvw"; /* 23 plain bytes */
    for (unsigned c = 0; c < 256; c++) {
        ward_buf one;
        ward_buf_init(&one);
        char cb = (char)c;
        size_t bad1 = ward_json_escape(&one, &cb, 1);
        for (size_t at = 0; at < 23; at++) {
            char in[23];
            memcpy(in, text, 23);
            in[at] = cb;
            ward_buf want;
            ward_buf_init(&want);
            ward_buf_put(&want, text, at);
            ward_buf_put(&want, one.p, one.len);
            ward_buf_put(&want, text + at + 1, 22 - at);
            expect_escape(in, 23, ward_buf_cstr(&want), bad1);
            ward_buf_fini(&want);
        }
        ward_buf_fini(&one);
    }
}

static void test_json_writer_commas_and_nesting(void **state) {
    (void)state;
    ward_buf b;
    ward_buf_init(&b);
    ward_jw w;
    ward_jw_init(&w, &b);
    ward_jw_obj(&w);
    ward_jw_kcstr(&w, "a", "x");
    ward_jw_ku64(&w, "n", 18446744073709551615ull);
    ward_jw_key(&w, "o");
    ward_jw_obj(&w);
    ward_jw_key(&w, "empty");
    ward_jw_obj(&w);
    ward_jw_obj_end(&w);
    ward_jw_key(&w, "list");
    ward_jw_arr(&w);
    ward_jw_i64(&w, -5);
    ward_jw_bool(&w, 1);
    ward_jw_bool(&w, 0);
    ward_jw_null(&w);
    ward_jw_cstr(&w, NULL);
    ward_jw_arr(&w);
    ward_jw_arr_end(&w);
    ward_jw_arr_end(&w);
    ward_jw_obj_end(&w);
    ward_jw_kstr(&w, "k\"ey", "v\x80", 2);
    ward_jw_obj_end(&w);
    assert_string_equal(ward_buf_cstr(&b),
                        "{\"a\":\"x\",\"n\":18446744073709551615,\"o\":{\"empty\":{},"
                        "\"list\":[-5,true,false,null,null,[]]},\"k\\\"ey\":\"v\\ufffd\"}");
    assert_int_equal(w.invalid, 1);
    assert_int_equal(b.oom, 0);
    /* appending a second document after a reset */
    ward_buf_reset(&b);
    ward_jw_init(&w, &b);
    ward_jw_arr(&w);
    ward_jw_arr_end(&w);
    assert_string_equal(ward_buf_cstr(&b), "[]");
    /* a key longer than the buffer's first allocation, into an empty buffer */
    ward_buf_fini(&b);
    ward_buf_init(&b);
    ward_jw_init(&w, &b);
    char key[301], want[310];
    memset(key, 'k', 300);
    key[300] = 0;
    snprintf(want, sizeof(want), "{\"%s\":1}", key);
    ward_jw_obj(&w);
    ward_jw_ku64(&w, key, 1);
    ward_jw_obj_end(&w);
    assert_string_equal(ward_buf_cstr(&b), want);
    ward_buf_fini(&b);
}

static void test_json_writer_depth_limit(void **state) {
    (void)state;
    ward_buf b;
    ward_buf_init(&b);
    ward_jw w;
    ward_jw_init(&w, &b);
    for (int i = 0; i < WARD_JSON_MAX_DEPTH; i++)
        ward_jw_arr(&w);
    assert_int_equal(b.oom, 0);
    ward_jw_arr(&w); /* one too deep: the buffer is marked, not overrun */
    assert_int_equal(b.oom, 1);
    ward_buf_fini(&b);
}

static void test_json_base64_vectors(void **state) {
    (void)state;
    /* RFC 4648, section 10 */
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        ward_buf b;
        ward_buf_init(&b);
        assert_int_equal(ward_buf_base64(&b, (const uint8_t *)in[i], strlen(in[i])), 0);
        assert_string_equal(ward_buf_cstr(&b), out[i]);
        ward_buf_fini(&b);
    }
    ward_buf b;
    ward_buf_init(&b);
    assert_int_equal(ward_buf_base64(&b, (const uint8_t *)"\xff\xfe\x00", 3), 0);
    assert_string_equal(ward_buf_cstr(&b), "//4A");
    ward_buf_fini(&b);
}

static void test_json_buffer_growth_and_printf(void **state) {
    (void)state;
    ward_buf b;
    ward_buf_init(&b);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(ward_buf_printf(&b, "%d,", i % 10), 0);
    assert_int_equal(b.len, 20000);
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(ward_buf_printf(&b, "<%s>", big), 0); /* longer than the stack buffer */
    assert_int_equal(b.len, 20000 + 1001);
    assert_int_equal(b.p[20000], '<');
    assert_int_equal(b.p[b.len - 1], '>');
    ward_buf_fini(&b);
    ward_buf_fini(&b); /* twice: harmless */
}

static void test_json_buffer_reserve(void **state) {
    (void)state;
    ward_buf b;
    ward_buf_init(&b);
    ward_buf_put(&b, "ab", 2);
    assert_int_equal(ward_buf_reserve(&b, 10000), 0);
    assert_true(b.cap - b.len > 10000);
    assert_int_equal(b.len, 2);
    memset(b.p + b.len, 'x', 10000); /* written in place, then counted */
    b.len += 10000;
    assert_int_equal(ward_buf_reserve(&b, SIZE_MAX), -1);
    assert_true(b.oom);
    assert_int_equal(b.len, 10002);
    ward_buf_fini(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_escape_controls_and_quotes),
        cmocka_unit_test(test_json_escape_utf8),
        cmocka_unit_test(test_json_escape_every_byte_at_every_offset),
        cmocka_unit_test(test_json_writer_commas_and_nesting),
        cmocka_unit_test(test_json_writer_depth_limit),
        cmocka_unit_test(test_json_base64_vectors),
        cmocka_unit_test(test_json_buffer_growth_and_printf),
        cmocka_unit_test(test_json_buffer_reserve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
