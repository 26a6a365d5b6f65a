/* The collector's pure parts: reading alerts (collector/extract.c), allow-list networks
 * and values, times, listen addresses (collector/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../../collector/collector.h"

static char *fields[] = {"src_ip", "source.ip", "port"};

static int extract(const char *json, coll_arena *a, coll_fields *f, char *err) {
    a->len = 0;
    return coll_extract((const uint8_t *)json, strlen(json), fields, 3, a, f, err, 256);
}

static const char *str(const coll_arena *a, size_t off) {
    return off == COLL_NONE ? NULL : a->p + off;
}

static void test_collector_extract_fields(void **state) {
    (void)state;
    coll_arena a = {0};
    coll_fields f;
    char err[256];
    const char *j = "{\"@timestamp\":\"2026-12-01T15:05:13.348Z\",\"event\":{\"id\":\"abc\","
                    "\"severity\":73},\"rule\":{\"id\":\"r\\u00e9-1\",\"name\":\"x\"},"
                    "\"tags\":[\"a\",{\"rule\":{\"id\":\"no\"}}],\"source\":{\"ip\":\"1.2.3.4\"},"
                    "\"ward\":{\"level\":\"high\",\"fields\":{\"src_ip\":\"9.9.9.9\",\"port\":22},"
                    "\"extracted\":{\"src_ip\":\"5.6.7.8\"}}}";
    assert_int_equal(extract(j, &a, &f, err), 0);
    assert_string_equal(str(&a, f.rule), "r\xc3\xa9-1");
    assert_string_equal(str(&a, f.alert_id), "abc");
    assert_int_equal(f.level, 4);
    assert_true(f.time_ms == 1796137513348LL);
    /* ward.extracted wins over ward.fields, whatever the order */
    assert_string_equal(str(&a, f.ind[0]), "5.6.7.8");
    assert_string_equal(str(&a, f.ind[1]), "1.2.3.4");
    assert_string_equal(str(&a, f.ind[2]), "22");
    free(a.p);
}

static void test_collector_extract_absent(void **state) {
    (void)state;
    coll_arena a = {0};
    coll_fields f;
    char err[256];
    assert_int_equal(
        extract("{\"rule\":{\"idx\":\"r\"},\"ward\":{\"level\":\"loud\"}}", &a, &f, err), 0);
    assert_true(f.rule == COLL_NONE && f.alert_id == COLL_NONE);
    assert_int_equal(f.level, 0);
    assert_true(f.time_ms == 0);
    for (int i = 0; i < 3; i++)
        assert_true(f.ind[i] == COLL_NONE);
    /* an array holding the wanted path does not count */
    assert_int_equal(extract("{\"ward\":[{\"extracted\":{\"src_ip\":\"1.1.1.1\"}}]}", &a, &f, err),
                     0);
    assert_true(f.ind[0] == COLL_NONE);
    free(a.p);
}

static void test_collector_extract_bad_json(void **state) {
    (void)state;
    coll_arena a = {0};
    coll_fields f;
    char err[256];
    static const char *const bad[] = {"",
                                      "[]",
                                      "not json",
                                      "{\"a\":1",
                                      "{\"a\":1}x",
                                      "{\"a\":\"\\q\"}",
                                      "{\"a\":\"x\n\"}",
                                      "{\"a\":tru}",
                                      "{\"a\":-}",
                                      "{\"a\":1.}",
                                      "{\"a\" 1}",
                                      "{\"a\":1,}",
                                      "{\"a\":[1,]}",
                                      "{\"a\":\"\\u12\"}",
                                      "{a:1}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(extract(bad[i], &a, &f, err), -1);
        assert_non_null(strstr(err, "byte "));
    }
    /* too deep */
    char deep[200] = "{\"a\":";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    assert_int_equal(extract(deep, &a, &f, err), -1);
    free(a.p);
}

/* Keys are read straight into the path: a key of 128 bytes or more, and a path past 255
 * bytes, match nothing (and nothing is written past the path, under ASan too), while a
 * wanted field next to them is still found. */
static void test_collector_extract_long_keys_and_paths(void **state) {
    (void)state;
    coll_arena a = {0};
    coll_fields f;
    char err[256], k120[121], k200[201], j[2048];
    memset(k120, 'k', 120);
    k120[120] = '\0';
    memset(k200, 'q', 200);
    k200[200] = '\0';
    /* ward.<200>.extracted.src_ip: key too long; <120>.<120>.ward.extracted.src_ip and
     * deeper: path too long; then the real one */
    snprintf(
        j, sizeof(j),
        "{\"ward\":{\"%s\":{\"extracted\":{\"src_ip\":\"1.1.1.1\"}}},"
        "\"%s\":{\"%s\":{\"%s\":{\"%s\":{\"ward\":{\"extracted\":{\"src_ip\":\"2.2.2.2\"}}}}}},"
        "\"ward\":{\"extracted\":{\"src_ip\":\"3.3.3.3\"}}}",
        k200, k120, k120, k120, k200);
    assert_int_equal(extract(j, &a, &f, err), 0);
    assert_string_equal(str(&a, f.ind[0]), "3.3.3.3");
    /* a key of exactly 127 bytes still makes a path (ward.extracted.KEY) */
    char k127[128];
    memset(k127, 'z', 127);
    k127[127] = '\0';
    char *mine[] = {k127};
    snprintf(j, sizeof(j), "{\"ward\":{\"extracted\":{\"%s\":\"v\"}}}", k127);
    a.len = 0;
    assert_int_equal(coll_extract((const uint8_t *)j, strlen(j), mine, 1, &a, &f, err, 256), 0);
    assert_string_equal(str(&a, f.ind[0]), "v");
    free(a.p);
}

static void test_collector_parse_time(void **state) {
    (void)state;
    int64_t ms;
    assert_int_equal(coll_parse_time("1970-01-01T00:00:01Z", 20, &ms), 0);
    assert_true(ms == 1000);
    assert_int_equal(coll_parse_time("2026-12-01", 10, &ms), 0);
    assert_true(ms == 1796083200000LL);
    assert_int_equal(coll_parse_time("2026-12-01T01:00:00+01:00", 25, &ms), 0);
    assert_true(ms == 1796083200000LL);
    assert_int_equal(coll_parse_time("2026-12-01T00:00:00.5Z", 22, &ms), 0);
    assert_true(ms == 1796083200500LL);
    assert_int_equal(coll_parse_time("2026-13-01", 10, &ms), -1);
    assert_int_equal(coll_parse_time("2026-12-01T", 11, &ms), -1);
    assert_int_equal(coll_parse_time("1h", 2, &ms), -1);
    assert_int_equal(coll_parse_time("2026-12-01Tx", 12, &ms), -1);
}

static void test_collector_allow(void **state) {
    (void)state;
    const char *spec[] = {"192.0.2.0/24", "2001:db8::/32", "10.1.2.3", "gw.example", "0.0.0.0/0"};
    coll_allow v[5];
    char err[256];
    for (int i = 0; i < 4; i++)
        assert_int_equal(coll_allow_parse(spec[i], &v[i], err, sizeof(err)), 0);
    assert_int_equal(v[0].family, AF_INET);
    assert_int_equal(v[3].family, 0);
    assert_true(coll_allow_match(v, 4, "192.0.2.200"));
    assert_true(coll_allow_match(v, 4, "::ffff:192.0.2.7"));
    assert_false(coll_allow_match(v, 4, "192.0.3.1"));
    assert_true(coll_allow_match(v, 4, "2001:db8:ffff::1"));
    assert_false(coll_allow_match(v, 4, "2001:db9::1"));
    assert_true(coll_allow_match(v, 4, "10.1.2.3"));
    assert_false(coll_allow_match(v, 4, "10.1.2.4"));
    assert_true(coll_allow_match(v, 4, "gw.example"));
    assert_false(coll_allow_match(v, 4, "gw.example.org"));
    /* /0 covers every IPv4 address, no IPv6 one */
    assert_int_equal(coll_allow_parse(spec[4], &v[4], err, sizeof(err)), 0);
    assert_true(coll_allow_match(&v[4], 1, "8.8.8.8"));
    assert_false(coll_allow_match(&v[4], 1, "2001:db9::1"));
    /* a network on an odd bit */
    assert_int_equal(coll_allow_parse("203.0.113.128/25", &v[0], err, sizeof(err)), 0);
    assert_true(coll_allow_match(v, 1, "203.0.113.129"));
    assert_false(coll_allow_match(v, 1, "203.0.113.127"));
    static const char *const bad[] = {"10.0.0.0/33", "2001:db8::/129", "nonsense/8", "10.0.0.0/",
                                      "10.0.0.0/8x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(coll_allow_parse(bad[i], &v[0], err, sizeof(err)), -1);
}

static void test_collector_listen(void **state) {
    (void)state;
    char host[64], port[8], err[256];
    assert_int_equal(
        coll_cfg_parse_listen("127.0.0.1:6514", host, sizeof(host), port, err, sizeof(err)), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_string_equal(port, "6514");
    assert_int_equal(coll_cfg_parse_listen("[::1]:0", host, sizeof(host), port, err, sizeof(err)),
                     0);
    assert_string_equal(host, "::1");
    assert_string_equal(port, "0");
    static const char *const bad[] = {"127.0.0.1", "::1:6514", ":6514",
                                      "[::1]6514", "h:65536",  "h:x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(coll_cfg_parse_listen(bad[i], host, sizeof(host), port, err, sizeof(err)),
                         -1);
}

static void test_collector_config_table(void **state) {
    (void)state;
    coll_cfg c;
    memset(&c, 0, sizeof(c));
    ward_diags d;
    ward_diags_init(&d);
    const char *y = "region: {allow: [\"10.0.0.0/8\", x], min_orgs: 3}\n";
    assert_int_equal(
        ward_cfg_load_buffer(&coll_cfg_table, &c, "t.yml", (const uint8_t *)y, strlen(y), &d), 0);
    assert_int_equal(c.region.min_orgs, 3);
    assert_int_equal(c.region.nallow, 2);
    assert_int_equal(c.allow[0].family, AF_INET);
    assert_int_equal(c.limits.max_connections, 4096);
    assert_string_equal(c.region.indicator_fields[0], "src_ip");
    assert_non_null(strstr(c.db_path, "/collector.db"));
    coll_cfg_free(&c);
    ward_diags_fini(&d);
    memset(&c, 0, sizeof(c));
    ward_diags_init(&d);
    y = "store: {type: postgresql}\nbogus: 1\n";
    assert_int_equal(
        ward_cfg_load_buffer(&coll_cfg_table, &c, "t.yml", (const uint8_t *)y, strlen(y), &d), -1);
    assert_true(d.n >= 1);
    coll_cfg_free(&c);
    ward_diags_fini(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collector_extract_fields),
        cmocka_unit_test(test_collector_extract_absent),
        cmocka_unit_test(test_collector_extract_bad_json),
        cmocka_unit_test(test_collector_extract_long_keys_and_paths),
        cmocka_unit_test(test_collector_parse_time),
        cmocka_unit_test(test_collector_allow),
        cmocka_unit_test(test_collector_listen),
        cmocka_unit_test(test_collector_config_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
