/* The signed feed: round trip, the signature checked first, every truncation, hand-made
 * documents with bad strings, counts and versions, and the list and nftables exports
 * (checked by nft itself when it is installed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ward/feed.h"
#include "ward/wire.h"

#include "testkeys.h"

/* ---- helpers ---- */

#define NOW 1700000000000ull /* ms */

/* A feed of static strings (the struct's char * are not written to). */
static ward_feed_entry sample_entries[] = {
    {"203.0.113.7", "src_ip", "R-1", "ssh-brute,web-scan", NOW - 5000, NOW - 1000, NOW + 3600000,
     3},
    {"2001:db8::1", "src_ip", "R-2", "ssh-brute", NOW - 9000, NOW - 100, NOW + 1500, 2},
    {"evil.example", "domain", "R-3", "dns-bad", NOW, NOW, NOW + 60000, 2},
    {"::ffff:198.51.100.9", "src_ip", "R-4", "web-scan", NOW, NOW, NOW + 10000, 4},
    {"203.0.113.7", "client", "R-5", "web-scan", NOW, NOW, NOW + 7200000, 2}, /* again, later */
    {"192.0.2.1", "src_ip", "R-6", "ssh-brute", NOW - 90000, NOW - 80000, NOW, 2}, /* expired */
    {"10.0.0.0/8", "src_ip", "R-7", "x", NOW, NOW, NOW + 1000, 2},
    {"2001:DB8:0:0::2", "src_ip", "R-8", "", NOW, NOW, NOW + 1, 5}, /* 1 ms: rounds up to 1 s */
};

static ward_feed sample_feed(void) {
    ward_feed f = {.version = 42,
                   .generated_ms = NOW,
                   .v = sample_entries,
                   .n = sizeof(sample_entries) / sizeof(sample_entries[0])};
    return f;
}

/* Hand-made document pieces, signed at the end. */
static void doc_begin(ward_buf *b, uint16_t version, uint32_t n) {
    ward_buf_reset(b);
    ward_wire_put_u16(b, version);
    ward_wire_put_u64(b, 9);
    ward_wire_put_u64(b, NOW);
    ward_wire_put_u32(b, n);
}

static void doc_str(ward_buf *b, const char *s, size_t n) {
    ward_wire_put_u16(b, (uint16_t)n);
    ward_buf_put(b, s, n);
}

static void doc_entry(ward_buf *b, const char *value, size_t vlen) {
    doc_str(b, value, vlen);
    doc_str(b, "src_ip", 6);
    doc_str(b, "R-1", 3);
    doc_str(b, "r", 1);
    ward_wire_put_u64(b, 1);
    ward_wire_put_u64(b, 2);
    ward_wire_put_u64(b, 3);
    ward_wire_put_u32(b, 2);
}

static void doc_sign(ward_buf *b, const ward_key *k) {
    uint8_t sig[WARD_SIG_LEN];
    assert_int_equal(ward_crypto_sign(k, (const uint8_t *)b->p, b->len, sig), 0);
    ward_buf_put(b, sig, sizeof(sig));
    assert_false(b->oom);
}

/* Parses b with the collector's key; expects a refusal whose message contains want. */
static void refused(const keys *k, const ward_buf *b, const char *want) {
    ward_feed f;
    char err[256] = "";
    memset(&f, 0x5a, sizeof(f)); /* parse must not depend on what was there */
    assert_int_equal(ward_feed_parse((const uint8_t *)b->p, b->len, k->pk, &f, err, sizeof(err)),
                     -1);
    if (!strstr(err, want))
        fail_msg("wanted \"%s\" in \"%s\"", want, err);
    assert_int_equal(f.n, 0);
    assert_null(f.v);
}

/* Splits text into lines (modified in place); returns how many. */
static size_t lines_of(char *text, char **lines, size_t max) {
    size_t n = 0;
    for (char *p = text; *p && n < max;) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl); /* every line ends with LF */
        *nl = '\0';
        lines[n++] = p;
        p = nl + 1;
    }
    return n;
}

/* ---- tests ---- */

static void test_feed_round_trip(void **state) {
    keys *k = *state;
    ward_feed f = sample_feed(), g;
    ward_buf b;
    char err[256];
    ward_buf_init(&b);
    ward_buf_put(&b, "pre", 3);
    assert_int_equal(ward_feed_encode(&f, k->sk, &b), 0);
    assert_memory_equal(b.p, "pre", 3); /* appended */
    assert_int_equal(
        ward_feed_parse((const uint8_t *)b.p + 3, b.len - 3, k->pk, &g, err, sizeof(err)), 0);
    assert_true(g.version == 42 && g.generated_ms == NOW);
    assert_int_equal(g.n, f.n);
    for (size_t i = 0; i < f.n; i++) {
        assert_string_equal(g.v[i].value, f.v[i].value);
        assert_string_equal(g.v[i].field, f.v[i].field);
        assert_string_equal(g.v[i].regional_id, f.v[i].regional_id);
        assert_string_equal(g.v[i].rules, f.v[i].rules);
        assert_true(g.v[i].first_ms == f.v[i].first_ms);
        assert_true(g.v[i].last_ms == f.v[i].last_ms);
        assert_true(g.v[i].expires_ms == f.v[i].expires_ms);
        assert_int_equal(g.v[i].norgs, f.v[i].norgs);
    }
    ward_feed_fini(&g);
    assert_int_equal(g.n, 0);
    ward_feed_fini(&g); /* twice is fine */

    /* an empty feed; NULL strings besides the value are sent empty */
    ward_feed empty = {.version = 1, .generated_ms = 2};
    ward_buf_reset(&b);
    assert_int_equal(ward_feed_encode(&empty, k->sk, &b), 0);
    assert_int_equal(b.len, 22 + WARD_SIG_LEN);
    assert_int_equal(ward_feed_parse((const uint8_t *)b.p, b.len, k->pk, &g, err, sizeof(err)), 0);
    assert_int_equal(g.n, 0);
    ward_feed_fini(&g);
    ward_feed_entry bare = {.value = "198.51.100.1"};
    ward_feed one = {.version = 3, .v = &bare, .n = 1};
    ward_buf_reset(&b);
    assert_int_equal(ward_feed_encode(&one, k->sk, &b), 0);
    assert_int_equal(ward_feed_parse((const uint8_t *)b.p, b.len, k->pk, &g, err, sizeof(err)), 0);
    assert_string_equal(g.v[0].field, "");
    assert_string_equal(g.v[0].rules, "");
    ward_feed_fini(&g);
    ward_buf_fini(&b);
}

static void test_feed_tampering_refused(void **state) {
    keys *k = *state;
    ward_feed f = sample_feed();
    ward_buf b;
    ward_buf_init(&b);
    assert_int_equal(ward_feed_encode(&f, k->sk, &b), 0);
    for (size_t i = 0; i < b.len; i++) {
        b.p[i] ^= 0x01;
        refused(k, &b, "bad signature");
        b.p[i] ^= 0x01;
    }
    /* signed by another key, or checked with another key */
    ward_buf c;
    ward_buf_init(&c);
    assert_int_equal(ward_feed_encode(&f, k->other_sk, &c), 0);
    refused(k, &c, "feed: bad signature (not signed by the collector's key)");
    ward_feed g;
    char err[256];
    assert_int_equal(
        ward_feed_parse((const uint8_t *)b.p, b.len, k->other_pk, &g, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bad signature"));
    assert_int_equal(
        ward_feed_parse((const uint8_t *)c.p, c.len, k->other_pk, &g, err, sizeof(err)), 0);
    ward_feed_fini(&g);
    ward_buf_fini(&b);
    ward_buf_fini(&c);
}

static void test_feed_truncations_refused(void **state) {
    keys *k = *state;
    ward_feed f = sample_feed(), g;
    ward_buf b;
    char err[256];
    ward_buf_init(&b);
    assert_int_equal(ward_feed_encode(&f, k->sk, &b), 0);
    for (size_t n = 0; n < b.len; n++) {
        uint8_t *cut = malloc(n ? n : 1); /* exactly n bytes: ASan sees overreads */
        assert_non_null(cut);
        memcpy(cut, b.p, n);
        err[0] = '\0';
        assert_int_equal(ward_feed_parse(cut, n, k->pk, &g, err, sizeof(err)), -1);
        assert_true(strstr(err, "bad signature") || strstr(err, "too short"));
        assert_null(g.v);
        free(cut);
    }
    ward_buf_fini(&b);
}

static void test_feed_bad_documents_refused(void **state) {
    keys *k = *state;
    ward_buf b;
    ward_buf_init(&b);

    doc_begin(&b, 1, 2);
    doc_entry(&b, "1.2.3.4", 7);
    doc_entry(&b, "1.2.3.4\0x", 9); /* a NUL inside the value */
    doc_sign(&b, k->sk);
    refused(k, &b, "feed: entry 2: value holds a NUL or control character");

    doc_begin(&b, 1, 1);
    doc_entry(&b, "1.2.3.4\nadd", 11); /* a line break would inject a line into exports */
    doc_sign(&b, k->sk);
    refused(k, &b, "feed: entry 1: value holds a NUL or control character");

    char *big = malloc(WARD_FEED_MAX_STRING + 1);
    assert_non_null(big);
    memset(big, 'a', WARD_FEED_MAX_STRING + 1);
    doc_begin(&b, 1, 1);
    doc_entry(&b, big, WARD_FEED_MAX_STRING + 1);
    doc_sign(&b, k->sk);
    refused(k, &b, "feed: entry 1: value of 4097 bytes over the limit of 4096");
    doc_begin(&b, 1, 1);
    doc_entry(&b, big, WARD_FEED_MAX_STRING); /* at the limit: fine */
    doc_sign(&b, k->sk);
    ward_feed g;
    char err[256];
    assert_int_equal(ward_feed_parse((const uint8_t *)b.p, b.len, k->pk, &g, err, sizeof(err)), 0);
    assert_int_equal(strlen(g.v[0].value), WARD_FEED_MAX_STRING);
    ward_feed_fini(&g);
    free(big);

    doc_begin(&b, 1, 1);
    doc_entry(&b, "", 0);
    doc_sign(&b, k->sk);
    refused(k, &b, "feed: entry 1: empty value");

    doc_begin(&b, 2, 0); /* another version, signed */
    doc_sign(&b, k->sk);
    refused(k, &b, "feed: version 2 unsupported (this end reads 1)");

    doc_begin(&b, 1, WARD_FEED_MAX_ENTRIES + 1);
    doc_sign(&b, k->sk);
    refused(k, &b, "feed: 100001 entries over the limit of 100000");

    doc_begin(&b, 1, 3); /* says 3, holds 2 */
    doc_entry(&b, "1.2.3.4", 7);
    doc_entry(&b, "1.2.3.5", 7);
    doc_sign(&b, k->sk);
    refused(k, &b, "feed: 3 entries cannot fit in");

    doc_begin(&b, 1, 2); /* says 2, holds 2 and a half */
    doc_entry(&b, "1.2.3.4", 7);
    doc_entry(&b, "1.2.3.5", 7);
    doc_str(&b, "1.2.3.6", 7);
    doc_str(&b, "src_ip", 6);
    doc_str(&b, "R", 1);
    doc_str(&b, "r", 1);
    doc_sign(&b, k->sk);
    refused(k, &b, "feed: 23 bytes after its 2 entries");

    doc_begin(&b, 1, 2); /* the second entry cut inside its times */
    doc_entry(&b, "1.2.3.4", 7);
    doc_str(&b, "1.2.3.6", 7);
    doc_str(&b, "src_ip", 6);
    doc_str(&b, "R", 1);
    doc_str(&b, "r", 1);
    ward_wire_put_u64(&b, 1);
    ward_wire_put_u64(&b, 1);
    doc_sign(&b, k->sk);
    refused(k, &b, "feed: entry 2: the document ends inside its times");
    ward_buf_fini(&b);
}

static void test_feed_encode_refuses(void **state) {
    keys *k = *state;
    ward_buf b;
    ward_buf_init(&b);
    ward_buf_put(&b, "keep", 4);
    char *big = malloc(WARD_FEED_MAX_STRING + 2);
    assert_non_null(big);
    memset(big, 'r', WARD_FEED_MAX_STRING + 1);
    big[WARD_FEED_MAX_STRING + 1] = '\0';
    ward_feed_entry bad[] = {
        {.value = "1.2.3.4", .rules = big},
        {.value = "1.2.3.4\r"},
        {.value = ""},
        {.value = NULL},
        {.value = "1.2.3.4", .field = "a\tb"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ward_feed f = {.version = 1, .v = &bad[i], .n = 1};
        assert_int_equal(ward_feed_encode(&f, k->sk, &b), -1);
        assert_int_equal(b.len, 4);
    }
    ward_feed many = {.version = 1, .v = bad, .n = WARD_FEED_MAX_ENTRIES + 1};
    assert_int_equal(ward_feed_encode(&many, k->sk, &b), -1);
    ward_feed ok = {.version = 1, .v = bad + 1, .n = 0};
    assert_int_equal(ward_feed_encode(&ok, k->pk, &b), -1); /* a public key cannot sign */
    assert_int_equal(b.len, 4);
    free(big);
    ward_buf_fini(&b);
}

static void test_feed_export_list(void **state) {
    (void)state;
    ward_feed f = sample_feed();
    ward_buf b;
    ward_buf_init(&b);
    assert_int_equal(ward_feed_export_list(&f, &b), 0);
    char *lines[16];
    size_t n = lines_of((char *)ward_buf_cstr(&b), lines, 16);
    assert_int_equal(n, 8);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(lines[i], sample_entries[i].value);
    ward_feed empty = {0};
    ward_buf_reset(&b);
    assert_int_equal(ward_feed_export_list(&empty, &b), 0);
    assert_int_equal(b.len, 0);
    ward_buf_fini(&b);
}

/* Runs nft -c -f on script; 1 accepted, 0 refused (its complaint printed), -1 no nft. */
static int nft_check(const char *dir, const char *script, size_t len) {
    if (system("command -v nft >/dev/null 2>&1") != 0)
        return -1;
    char path[128], cmd[300];
    snprintf(path, sizeof(path), "%s/feed.nft", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(script, 1, len, f), len);
    fclose(f);
    /* nft -c still needs netlink: without it (no CAP_NET_ADMIN) nothing can be checked */
    if (system("printf 'table inet ward_probe {\\n}\\n' | nft -c -f - >/dev/null 2>&1") != 0)
        return -1;
    snprintf(cmd, sizeof(cmd), "nft -c -f '%s'", path);
    return system(cmd) == 0 ? 1 : 0;
}

static void test_feed_export_nft(void **state) {
    keys *k = *state;
    ward_feed f = sample_feed();
    ward_buf b;
    ward_buf_init(&b);
    assert_int_equal(ward_feed_export_nft(&f, "ward", "regional", NOW, &b), 0);
    size_t len = b.len;
    char *copy = strdup(ward_buf_cstr(&b));
    assert_non_null(copy);
    char *lines[64];
    size_t n = lines_of(copy, lines, 64);
    static const char *want[] = {
        "# ward regional feed version 42: 2 IPv4 and 2 IPv6 addresses; left out: 2 values that "
        "are not addresses, 1 expired",
        "table inet ward {",
        "\tset regional4 {",
        "\t\ttype ipv4_addr",
        "\t\tflags timeout",
        "\t}",
        "\tset regional6 {",
        "\t\ttype ipv6_addr",
        "\t\tflags timeout",
        "\t}",
        "}",
        "flush set inet ward regional4",
        "flush set inet ward regional6",
        /* once, with the later of its two expiries */
        "add element inet ward regional4 { 203.0.113.7 timeout 7200s }",
        "add element inet ward regional6 { 2001:db8::1 timeout 2s }",
        /* IPv4-mapped: an IPv4 address */
        "add element inet ward regional4 { 198.51.100.9 timeout 10s }",
        /* written the way nft and inet_ntop write it */
        "add element inet ward regional6 { 2001:db8::2 timeout 1s }",
    };
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++)
        assert_string_equal(lines[i], want[i]);
    free(copy);

    int ok = nft_check(k->dir, b.p, len);
    if (ok < 0)
        print_message("nft is not installed or cannot check scripts here: the nftables script "
                      "was checked line by line only\n");
    else
        assert_int_equal(ok, 1);

    /* an empty feed is still a valid script that empties the sets */
    ward_feed empty = {.version = 7};
    ward_buf_reset(&b);
    assert_int_equal(ward_feed_export_nft(&empty, "t", "s", NOW, &b), 0);
    assert_non_null(strstr(ward_buf_cstr(&b), "flush set inet t s6\n"));
    assert_null(strstr(b.p, "add element"));
    if (ok >= 0)
        assert_int_equal(nft_check(k->dir, b.p, b.len), 1);

    /* a far expiry is capped at what nft takes */
    ward_feed_entry far = {.value = "192.0.2.77", .expires_ms = UINT64_MAX};
    ward_feed one = {.version = 8, .v = &far, .n = 1};
    ward_buf_reset(&b);
    assert_int_equal(ward_feed_export_nft(&one, "t", "s", NOW, &b), 0);
    assert_non_null(strstr(ward_buf_cstr(&b), "{ 192.0.2.77 timeout 4294967s }\n"));
    if (ok >= 0)
        assert_int_equal(nft_check(k->dir, b.p, b.len), 1);

    /* names that are not nft identifiers: nothing written */
    static const char *bad[] = {"", "1abc", "a b", "a;b", "a}", "x-y", NULL};
    ward_buf_reset(&b);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ward_feed_export_nft(&f, bad[i], "s", NOW, &b), -1);
        assert_int_equal(ward_feed_export_nft(&f, "t", bad[i], NOW, &b), -1);
    }
    assert_int_equal(ward_feed_export_nft(&f, "_ok_1", "S_2", NOW, &b), 0);
    assert_true(b.len > 0);
    ward_buf_fini(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feed_round_trip),
        cmocka_unit_test(test_feed_tampering_refused),
        cmocka_unit_test(test_feed_truncations_refused),
        cmocka_unit_test(test_feed_bad_documents_refused),
        cmocka_unit_test(test_feed_encode_refuses),
        cmocka_unit_test(test_feed_export_list),
        cmocka_unit_test(test_feed_export_nft),
    };
    return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
