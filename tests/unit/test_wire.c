/* The wire format: the cursor, frames, small messages and signed zlib batches; every
 * truncation, tampering, wrong versions, decompression bombs and lying headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "ward/wire.h"

#include "testkeys.h"

/* ---- helpers ---- */

/* The one frame in b: checks the framing and returns its body. */
static const uint8_t *only_frame(const ward_buf *b, uint8_t want_type, size_t *body_len) {
    uint8_t type = 0;
    const uint8_t *body = NULL;
    size_t used = 0;
    char err[128];
    assert_int_equal(ward_wire_frame_next((const uint8_t *)b->p, b->len, WARD_WIRE_FRAME_MAX, &type,
                                          &body, body_len, &used, err, sizeof(err)),
                     1);
    assert_int_equal(type, want_type);
    assert_int_equal(used, b->len);
    return body;
}

/* A batch body written by hand, signed by k: for headers that lie. */
static void craft_batch(ward_buf *out, const ward_key *k, uint16_t version, uint64_t first_seq,
                        uint32_t count, uint32_t raw_len, const uint8_t *z, size_t zlen) {
    uint8_t agent[WARD_PUBKEY_LEN], sig[WARD_SIG_LEN];
    assert_int_equal(ward_crypto_key_raw(k, agent), 0);
    ward_buf_reset(out);
    ward_wire_put_u16(out, version);
    ward_buf_put(out, agent, sizeof(agent));
    ward_wire_put_u64(out, 7);
    ward_wire_put_u64(out, first_seq);
    ward_wire_put_u32(out, count);
    ward_wire_put_u32(out, raw_len);
    ward_wire_put_u32(out, (uint32_t)zlen);
    ward_buf_put(out, z, zlen);
    assert_int_equal(ward_crypto_sign(k, (const uint8_t *)out->p, out->len, sig), 0);
    ward_buf_put(out, sig, sizeof(sig));
    assert_false(out->oom);
}

/* zlib of len bytes into a new buffer (caller frees). */
static uint8_t *zip(const void *p, size_t len, size_t *zlen) {
    uLongf n = compressBound(len);
    uint8_t *z = malloc(n);
    assert_non_null(z);
    assert_int_equal(compress2(z, &n, p, len, 6), Z_OK);
    *zlen = n;
    return z;
}

/* Raw payload of records "r0", "r1", ... (count of them). */
static void raw_records(ward_buf *raw, uint32_t count) {
    ward_buf_reset(raw);
    for (uint32_t i = 0; i < count; i++) {
        char s[32];
        int n = snprintf(s, sizeof(s), "{\"r\":%u}", i);
        ward_wire_put_u32(raw, (uint32_t)n);
        ward_buf_put(raw, s, (size_t)n);
    }
}

/* Opens, verifies and inflates a body; returns the code (0: accepted). */
static int accept_batch(const keys *k, const uint8_t *body, size_t len, size_t max_bytes,
                        unsigned max_ratio, ward_buf *out, char *err, size_t errlen) {
    ward_batch b;
    int code = -1;
    if (ward_wire_batch_open(body, len, &b, &code, err, errlen) != 0) {
        assert_true(code == WARD_WIRE_E_MALFORMED || code == WARD_WIRE_E_VERSION);
        return code;
    }
    if (ward_wire_batch_verify(&b, k->pk) != 1)
        return WARD_WIRE_E_SIGNATURE;
    ward_wire_rec *recs = calloc(b.count, sizeof(*recs));
    assert_non_null(recs);
    int rc = ward_wire_batch_inflate(&b, max_bytes, max_ratio, out, recs, &code, err, errlen);
    free(recs);
    if (rc != 0) {
        assert_true(code != 0);
        return code;
    }
    assert_int_equal(code, 0);
    return 0;
}

/* ---- cursor and writers ---- */

static void test_wire_cursor(void **state) {
    (void)state;
    static const uint8_t in[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10};
    ward_wire_cur c;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    const uint8_t *bytes;
    ward_wire_cur_init(&c, in, sizeof(in));
    assert_int_equal(ward_wire_get_u8(&c, &u8), 0);
    assert_int_equal(u8, 0x01);
    assert_int_equal(ward_wire_get_u16(&c, &u16), 0);
    assert_int_equal(u16, 0x0203);
    assert_int_equal(ward_wire_get_u32(&c, &u32), 0);
    assert_int_equal(u32, 0x04050607);
    assert_int_equal(ward_wire_cur_end(&c), -1); /* bytes left */
    assert_int_equal(ward_wire_get_u64(&c, &u64), 0);
    assert_true(u64 == 0x08090a0b0c0d0e0full);
    assert_int_equal(ward_wire_get_bytes(&c, 1, &bytes), 0);
    assert_ptr_equal(bytes, in + 15);
    assert_int_equal(ward_wire_get_bytes(&c, 0, &bytes), 0);
    assert_int_equal(ward_wire_cur_end(&c), 0);
    /* past the end: fails, and stays failed */
    assert_int_equal(ward_wire_get_u8(&c, &u8), -1);
    assert_int_equal(ward_wire_cur_end(&c), -1);

    ward_wire_cur_init(&c, in, 3);
    assert_int_equal(ward_wire_get_u32(&c, &u32), -1);
    assert_int_equal(ward_wire_get_u8(&c, &u8), -1); /* sticky, though a byte is there */
    ward_wire_cur_init(&c, in, sizeof(in));
    assert_int_equal(ward_wire_get_u8(&c, &u8), 0);
    assert_int_equal(ward_wire_get_bytes(&c, SIZE_MAX, &bytes), -1); /* no wrap */
    ward_wire_cur_init(&c, NULL, 0);
    assert_int_equal(ward_wire_cur_end(&c), 0);
    assert_int_equal(ward_wire_get_u16(&c, &u16), -1);
}

static void test_wire_writers_big_endian(void **state) {
    (void)state;
    ward_buf b;
    ward_buf_init(&b);
    ward_wire_put_u8(&b, 0xa1);
    ward_wire_put_u16(&b, 0xb1b2);
    ward_wire_put_u32(&b, 0xc1c2c3c4);
    ward_wire_put_u64(&b, 0xd1d2d3d4d5d6d7d8ull);
    static const uint8_t want[] = {0xa1, 0xb1, 0xb2, 0xc1, 0xc2, 0xc3, 0xc4, 0xd1,
                                   0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.p, want, sizeof(want));
    ward_buf_fini(&b);
}

/* ---- frames ---- */

static void test_wire_frames(void **state) {
    (void)state;
    ward_buf b;
    ward_buf_init(&b);
    assert_int_equal(ward_wire_frame_put(&b, 9, (const uint8_t *)"abc", 3), 0);
    assert_int_equal(ward_wire_frame_put(&b, 3, NULL, 0), 0);
    static const uint8_t want[] = {0, 0, 0, 4, 9, 'a', 'b', 'c', 0, 0, 0, 1, 3};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.p, want, sizeof(want));

    uint8_t type;
    const uint8_t *body;
    size_t body_len, used;
    char err[128];
    const uint8_t *p = (const uint8_t *)b.p;
    /* every prefix of the first frame asks for more */
    for (size_t n = 0; n < 8; n++)
        assert_int_equal(
            ward_wire_frame_next(p, n, 100, &type, &body, &body_len, &used, err, sizeof(err)), 0);
    assert_int_equal(
        ward_wire_frame_next(p, b.len, 100, &type, &body, &body_len, &used, err, sizeof(err)), 1);
    assert_int_equal(type, 9);
    assert_int_equal(body_len, 3);
    assert_memory_equal(body, "abc", 3);
    assert_int_equal(used, 8);
    assert_int_equal(
        ward_wire_frame_next(p + 8, 5, 100, &type, &body, &body_len, &used, err, sizeof(err)), 1);
    assert_int_equal(type, 3);
    assert_int_equal(body_len, 0);
    assert_int_equal(used, 5);

    /* length 0, and over the limit: refused as soon as the length is there */
    static const uint8_t zero[] = {0, 0, 0, 0};
    err[0] = '\0';
    assert_int_equal(
        ward_wire_frame_next(zero, 4, 100, &type, &body, &body_len, &used, err, sizeof(err)), -1);
    assert_string_equal(err, "frame of length 0");
    static const uint8_t big[] = {0, 0, 0, 101};
    assert_int_equal(
        ward_wire_frame_next(big, 4, 100, &type, &body, &body_len, &used, err, sizeof(err)), -1);
    assert_string_equal(err, "frame of 101 bytes over the limit of 100");
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1};
    assert_int_equal(ward_wire_frame_next(huge, 5, WARD_WIRE_FRAME_MAX, &type, &body, &body_len,
                                          &used, err, sizeof(err)),
                     -1);
    static const uint8_t at_max[] = {0, 0, 0, 100, 1};
    assert_int_equal(
        ward_wire_frame_next(at_max, 5, 100, &type, &body, &body_len, &used, err, sizeof(err)), 0);
    ward_buf_fini(&b);
}

/* ---- small messages ---- */

/* Every proper prefix of body, and body with a byte more, are refused by parse. */
#define CHECK_CUTS(body, len, parse_call)                                                          \
    do {                                                                                           \
        uint8_t cut_[64];                                                                          \
        assert_true((len) < sizeof(cut_));                                                         \
        for (size_t n_ = 0; n_ < (len); n_++) {                                                    \
            memcpy(cut_, (body), n_);                                                              \
            const uint8_t *p_ = cut_;                                                              \
            size_t l_ = n_;                                                                        \
            assert_int_equal(parse_call, -1);                                                      \
        }                                                                                          \
        memcpy(cut_, (body), (len));                                                               \
        cut_[(len)] = 0;                                                                           \
        const uint8_t *p_ = cut_;                                                                  \
        size_t l_ = (len) + 1;                                                                     \
        assert_int_equal(parse_call, -1);                                                          \
    } while (0)

static void test_wire_small_messages_round_trip(void **state) {
    (void)state;
    ward_buf b;
    ward_buf_init(&b);
    size_t len;
    const uint8_t *body;

    ward_wire_hello h = {.version = WARD_WIRE_VERSION, .epoch = 0x1122334455667788ull}, h2;
    for (int i = 0; i < WARD_PUBKEY_LEN; i++)
        h.agent[i] = (uint8_t)(i + 100);
    assert_int_equal(ward_wire_hello_put(&b, &h), 0);
    body = only_frame(&b, WARD_WIRE_HELLO, &len);
    assert_int_equal(len, 42);
    assert_int_equal(ward_wire_hello_parse(body, len, &h2), 0);
    assert_int_equal(h2.version, WARD_WIRE_VERSION);
    assert_memory_equal(h2.agent, h.agent, WARD_PUBKEY_LEN);
    assert_true(h2.epoch == h.epoch);
    CHECK_CUTS(body, len, ward_wire_hello_parse(p_, l_, &h2));

    ward_wire_ack w = {.version = WARD_WIRE_VERSION, .epoch = 5, .acked = 1234567890123ull}, w2;
    ward_buf_reset(&b);
    assert_int_equal(ward_wire_welcome_put(&b, &w), 0);
    body = only_frame(&b, WARD_WIRE_WELCOME, &len);
    assert_int_equal(len, 18);
    assert_int_equal(ward_wire_welcome_parse(body, len, &w2), 0);
    assert_int_equal(w2.version, WARD_WIRE_VERSION);
    assert_true(w2.epoch == 5 && w2.acked == 1234567890123ull);
    CHECK_CUTS(body, len, ward_wire_welcome_parse(p_, l_, &w2));

    ward_buf_reset(&b);
    assert_int_equal(ward_wire_ack_put(&b, &w), 0);
    body = only_frame(&b, WARD_WIRE_ACK, &len);
    assert_int_equal(len, 16);
    assert_int_equal(ward_wire_ack_parse(body, len, &w2), 0);
    assert_true(w2.epoch == 5 && w2.acked == 1234567890123ull);
    CHECK_CUTS(body, len, ward_wire_ack_parse(p_, l_, &w2));

    uint64_t have = 0;
    ward_buf_reset(&b);
    assert_int_equal(ward_wire_feed_get_put(&b, 42), 0);
    body = only_frame(&b, WARD_WIRE_FEED_GET, &len);
    assert_int_equal(ward_wire_feed_get_parse(body, len, &have), 0);
    assert_true(have == 42);
    CHECK_CUTS(body, len, ward_wire_feed_get_parse(p_, l_, &have));

    uint16_t code;
    const uint8_t *msg;
    size_t msg_len;
    ward_buf_reset(&b);
    assert_int_equal(ward_wire_error_put(&b, WARD_WIRE_E_REVOKED, "key revoked"), 0);
    body = only_frame(&b, WARD_WIRE_ERROR, &len);
    assert_int_equal(ward_wire_error_parse(body, len, &code, &msg, &msg_len), 0);
    assert_int_equal(code, WARD_WIRE_E_REVOKED);
    assert_int_equal(msg_len, 11);
    assert_memory_equal(msg, "key revoked", 11);
    CHECK_CUTS(body, len, ward_wire_error_parse(p_, l_, &code, &msg, &msg_len));

    /* a long message is cut at 1024 bytes */
    char longmsg[3000];
    memset(longmsg, 'x', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    ward_buf_reset(&b);
    assert_int_equal(ward_wire_error_put(&b, WARD_WIRE_E_STORE, longmsg), 0);
    body = only_frame(&b, WARD_WIRE_ERROR, &len);
    assert_int_equal(ward_wire_error_parse(body, len, &code, &msg, &msg_len), 0);
    assert_int_equal(msg_len, 1024);
    ward_buf_reset(&b);
    assert_int_equal(ward_wire_error_put(&b, WARD_WIRE_E_STORE, NULL), 0);
    body = only_frame(&b, WARD_WIRE_ERROR, &len);
    assert_int_equal(ward_wire_error_parse(body, len, &code, &msg, &msg_len), 0);
    assert_int_equal(msg_len, 0);
    ward_buf_fini(&b);
}

static void test_wire_small_messages_other_version(void **state) {
    (void)state;
    /* another version: only the version is decoded, whatever follows */
    static const uint8_t v2[] = {0, 2, 'a', 'n', 'y'};
    ward_wire_hello h;
    ward_wire_ack w;
    assert_int_equal(ward_wire_hello_parse(v2, sizeof(v2), &h), 0);
    assert_int_equal(h.version, 2);
    assert_int_equal(ward_wire_welcome_parse(v2, 2, &w), 0);
    assert_int_equal(w.version, 2);
    assert_int_equal(ward_wire_hello_parse(v2, 1, &h), -1);
    for (int code = 0; code <= 10; code++)
        assert_non_null(ward_wire_err_name(code));
    assert_string_equal(ward_wire_err_name(WARD_WIRE_E_SIGNATURE), "bad signature");
    assert_string_equal(ward_wire_err_name(99), "unknown error");
}

/* ---- batches ---- */

static void test_wire_batch_round_trip(void **state) {
    keys *k = *state;
    enum { N = 200 };
    ward_wire_rec recs[N], got[N];
    char *texts[N];
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i * 37 % 300); /* record 0 is empty */
        texts[i] = malloc(n + 1);
        assert_non_null(texts[i]);
        for (size_t j = 0; j < n; j++)
            texts[i][j] = (char)('a' + (i + j) % 26);
        recs[i].p = (const uint8_t *)texts[i];
        recs[i].len = n;
    }
    ward_buf frame, out;
    ward_buf_init(&frame);
    ward_buf_init(&out);
    for (int level = 0; level <= 9; level += 9) {
        ward_buf_reset(&frame);
        assert_int_equal(ward_wire_frame_put(&frame, 1, (const uint8_t *)"x", 1), 0);
        size_t before = frame.len; /* appended after what was there */
        assert_int_equal(ward_wire_batch_put(&frame, k->sk, 77, 1000, recs, N, level), 0);
        uint8_t type;
        const uint8_t *body;
        size_t body_len, used;
        char err[256];
        assert_int_equal(ward_wire_frame_next((const uint8_t *)frame.p + before, frame.len - before,
                                              WARD_WIRE_FRAME_MAX, &type, &body, &body_len, &used,
                                              err, sizeof(err)),
                         1);
        assert_int_equal(type, WARD_WIRE_BATCH);
        assert_int_equal(used, frame.len - before);

        ward_batch b;
        int code = -1;
        assert_int_equal(ward_wire_batch_open(body, body_len, &b, &code, err, sizeof(err)), 0);
        assert_int_equal(b.version, WARD_WIRE_VERSION);
        uint8_t raw[WARD_PUBKEY_LEN];
        assert_int_equal(ward_crypto_key_raw(k->pk, raw), 0);
        assert_memory_equal(b.agent, raw, WARD_PUBKEY_LEN);
        assert_true(b.epoch == 77 && b.first_seq == 1000);
        assert_int_equal(b.count, N);
        assert_ptr_equal(b.signed_part, body);
        assert_int_equal(b.signed_len, body_len - WARD_SIG_LEN);
        assert_int_equal(b.zlen, body_len - WARD_SIG_LEN - 62);
        assert_int_equal(ward_wire_batch_verify(&b, k->pk), 1);
        assert_int_equal(ward_wire_batch_verify(&b, k->other_pk), 0);
        assert_int_equal(
            ward_wire_batch_inflate(&b, 1 << 20, 1000, &out, got, &code, err, sizeof(err)), 0);
        assert_int_equal(code, 0);
        assert_int_equal(out.len, b.raw_len);
        for (int i = 0; i < N; i++) {
            assert_int_equal(got[i].len, recs[i].len);
            if (recs[i].len)
                assert_memory_equal(got[i].p, recs[i].p, recs[i].len);
        }
    }
    for (int i = 0; i < N; i++)
        free(texts[i]);
    ward_buf_fini(&frame);
    ward_buf_fini(&out);
}

static void test_wire_batch_put_refuses(void **state) {
    keys *k = *state;
    ward_wire_rec r = {(const uint8_t *)"{}", 2};
    ward_buf b;
    ward_buf_init(&b);
    ward_buf_put(&b, "keep", 4);
    assert_int_equal(ward_wire_batch_put(&b, k->sk, 1, 1, &r, 0, 6), -1);  /* no records */
    assert_int_equal(ward_wire_batch_put(&b, k->sk, 1, 0, &r, 1, 6), -1);  /* seq 0 */
    assert_int_equal(ward_wire_batch_put(&b, k->pk, 1, 1, &r, 1, 6), -1);  /* cannot sign */
    assert_int_equal(ward_wire_batch_put(&b, k->sk, 1, 1, &r, 1, 42), -1); /* no such level */
    assert_int_equal(ward_wire_batch_put(&b, k->sk, 1, UINT64_MAX, &r, 1, 6), 0);
    assert_int_equal(ward_wire_batch_put(&b, k->sk, 1, UINT64_MAX, &r, 2, 6), -1); /* wraps */
    assert_memory_equal(b.p, "keep", 4);
    ward_buf_fini(&b);
}

/* One valid batch body (caller frees the buffer). */
static const uint8_t *valid_batch(const keys *k, ward_buf *frame, size_t *len) {
    ward_wire_rec recs[3] = {{(const uint8_t *)"{\"a\":1}", 7},
                             {(const uint8_t *)"{\"rule\":\"ssh-brute\"}", 19},
                             {(const uint8_t *)"", 0}};
    ward_buf_init(frame);
    assert_int_equal(ward_wire_batch_put(frame, k->sk, 3, 10, recs, 3, 6), 0);
    return only_frame(frame, WARD_WIRE_BATCH, len);
}

static void test_wire_batch_every_truncation_refused(void **state) {
    keys *k = *state;
    ward_buf frame, out;
    size_t len;
    const uint8_t *body = valid_batch(k, &frame, &len);
    ward_buf_init(&out);
    char err[256];
    for (size_t n = 0; n < len; n++) {
        /* a copy of exactly n bytes, so that ASan sees any read past it */
        uint8_t *cut = malloc(n ? n : 1);
        assert_non_null(cut);
        memcpy(cut, body, n);
        ward_batch b;
        int code = 0;
        err[0] = '\0';
        assert_int_equal(ward_wire_batch_open(cut, n, &b, &code, err, sizeof(err)), -1);
        assert_int_equal(code, WARD_WIRE_E_MALFORMED);
        assert_true(strlen(err) > 0);
        free(cut);
    }
    /* and as a stream, every cut of the frame waits for more */
    for (size_t n = 0; n < frame.len; n++) {
        uint8_t type;
        const uint8_t *bd;
        size_t bl, used;
        assert_int_equal(ward_wire_frame_next((const uint8_t *)frame.p, n, WARD_WIRE_FRAME_MAX,
                                              &type, &bd, &bl, &used, err, sizeof(err)),
                         0);
    }
    /* a byte more is refused too */
    uint8_t *longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, body, len);
    longer[len] = 0;
    ward_batch b;
    int code = 0;
    assert_int_equal(ward_wire_batch_open(longer, len + 1, &b, &code, err, sizeof(err)), -1);
    assert_string_equal(err, "batch has 1 bytes after its signature");
    free(longer);
    assert_int_equal(accept_batch(k, body, len, 1 << 20, 100, &out, err, sizeof(err)), 0);
    ward_buf_fini(&frame);
    ward_buf_fini(&out);
}

static void test_wire_batch_flipped_byte_fails(void **state) {
    keys *k = *state;
    ward_buf frame, out;
    size_t len;
    const uint8_t *body = valid_batch(k, &frame, &len);
    ward_buf_init(&out);
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    char err[256];
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            memcpy(copy, body, len);
            copy[i] ^= (uint8_t)(1u << bit);
            int code = accept_batch(k, copy, len, 1 << 20, 1000, &out, err, sizeof(err));
            /* nothing is accepted; what comes before the signature check is a header
             * that does not decode */
            assert_int_not_equal(code, 0);
            assert_true(code == WARD_WIRE_E_SIGNATURE || code == WARD_WIRE_E_MALFORMED ||
                        code == WARD_WIRE_E_VERSION);
        }
    }
    free(copy);
    ward_buf_fini(&frame);
    ward_buf_fini(&out);
}

static void test_wire_batch_version_first(void **state) {
    keys *k = *state;
    char err[256];
    ward_batch b;
    int code = 0;
    /* nothing but a version: refused for the version, not for being short */
    static const uint8_t v2[] = {0, 2};
    assert_int_equal(ward_wire_batch_open(v2, sizeof(v2), &b, &code, err, sizeof(err)), -1);
    assert_int_equal(code, WARD_WIRE_E_VERSION);
    assert_string_equal(err, "batch version 2 unsupported (this end speaks 1)");
    static const uint8_t v0[] = {0, 0, 1, 2, 3};
    assert_int_equal(ward_wire_batch_open(v0, sizeof(v0), &b, &code, err, sizeof(err)), -1);
    assert_int_equal(code, WARD_WIRE_E_VERSION);
    /* a whole, correctly signed batch of another version */
    ward_buf raw, body;
    ward_buf_init(&raw);
    ward_buf_init(&body);
    raw_records(&raw, 2);
    size_t zlen;
    uint8_t *z = zip(raw.p, raw.len, &zlen);
    craft_batch(&body, k->sk, 2, 1, 2, (uint32_t)raw.len, z, zlen);
    assert_int_equal(
        ward_wire_batch_open((const uint8_t *)body.p, body.len, &b, &code, err, sizeof(err)), -1);
    assert_int_equal(code, WARD_WIRE_E_VERSION);
    /* the same as version 1 is fine */
    craft_batch(&body, k->sk, 1, 1, 2, (uint32_t)raw.len, z, zlen);
    ward_buf out;
    ward_buf_init(&out);
    assert_int_equal(
        accept_batch(k, (const uint8_t *)body.p, body.len, 1 << 20, 100, &out, err, sizeof(err)),
        0);
    free(z);
    ward_buf_fini(&raw);
    ward_buf_fini(&body);
    ward_buf_fini(&out);
}

/* zlib of n MiB of zeros, deflated in pieces so that the test never holds them. */
static uint8_t *zero_bomb(size_t mib, size_t *zlen) {
    static const uint8_t zeros[1 << 16];
    size_t cap = mib * 2048 + 1024; /* zeros deflate ~1000:1 */
    uint8_t *z = malloc(cap);
    assert_non_null(z);
    z_stream s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(deflateInit(&s, 9), Z_OK);
    s.next_out = z;
    s.avail_out = (uInt)cap;
    for (size_t i = 0; i < mib * 16; i++) {
        s.next_in = (Bytef *)zeros;
        s.avail_in = sizeof(zeros);
        assert_int_equal(deflate(&s, Z_NO_FLUSH), Z_OK);
        assert_int_equal(s.avail_in, 0);
    }
    assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
    *zlen = s.total_out;
    deflateEnd(&s);
    return z;
}

static void test_wire_batch_bomb_refused(void **state) {
    keys *k = *state;
    size_t zlen;
    uint8_t *z = zero_bomb(64, &zlen);
    assert_true(zlen < (1u << 20));
    ward_buf body, out;
    ward_buf_init(&body);
    ward_buf_init(&out);
    char err[256];
    uint32_t raw_len = 64u << 20; /* the true size (count does not matter: refused first) */

    /* over the absolute limit: refused before any memory is taken */
    craft_batch(&body, k->sk, 1, 1, 1, raw_len, z, zlen);
    assert_int_equal(accept_batch(k, (const uint8_t *)body.p, body.len, 16u << 20, 1u << 20, &out,
                                  err, sizeof(err)),
                     WARD_WIRE_E_TOO_LARGE);
    assert_non_null(strstr(err, "over the limit of 16777216"));
    assert_int_equal(out.cap, 0);

    /* under it but over the ratio: the same */
    assert_int_equal(
        accept_batch(k, (const uint8_t *)body.p, body.len, 128u << 20, 100, &out, err, sizeof(err)),
        WARD_WIRE_E_BOMB);
    assert_non_null(strstr(err, "ratio over the limit of 100"));
    assert_int_equal(out.cap, 0);

    /* a header that lies small: the inflation stops at raw_len */
    craft_batch(&body, k->sk, 1, 1, 1, 1u << 20, z, zlen);
    assert_int_equal(accept_batch(k, (const uint8_t *)body.p, body.len, 16u << 20, 1u << 20, &out,
                                  err, sizeof(err)),
                     WARD_WIRE_E_BOMB);
    assert_string_equal(err, "batch payload inflates to more than its 1048576 bytes");
    assert_true(out.cap <= (2u << 20) + 1); /* raw_len, rounded up to a power of two */
    assert_int_equal(out.len, 0);
    free(z);
    ward_buf_fini(&body);
    ward_buf_fini(&out);
}

static void test_wire_batch_lying_header_refused(void **state) {
    keys *k = *state;
    ward_buf raw, body, out;
    ward_buf_init(&raw);
    ward_buf_init(&body);
    ward_buf_init(&out);
    char err[256];
    raw_records(&raw, 5);
    uint32_t rl = (uint32_t)raw.len;
    size_t zlen;
    uint8_t *z = zip(raw.p, raw.len, &zlen);
    const uint8_t *bp;
#define ACCEPT()                                                                                   \
    (bp = (const uint8_t *)body.p,                                                                 \
     accept_batch(k, bp, body.len, 1 << 20, 1000, &out, err, sizeof(err)))

    craft_batch(&body, k->sk, 1, 1, 5, rl, z, zlen);
    assert_int_equal(ACCEPT(), 0);

    craft_batch(&body, k->sk, 1, 1, 6, rl, z, zlen); /* one record more than there is */
    assert_int_equal(ACCEPT(), WARD_WIRE_E_MALFORMED);
    assert_string_equal(err, "batch payload: record 6 of 6 ends beyond its 55 bytes");

    craft_batch(&body, k->sk, 1, 1, 4, rl, z, zlen); /* one less: bytes left over */
    assert_int_equal(ACCEPT(), WARD_WIRE_E_MALFORMED);
    assert_string_equal(err, "batch payload: 11 bytes after its 4 records");

    craft_batch(&body, k->sk, 1, 1, 5, rl + 1, z, zlen); /* raw_len too long */
    assert_int_equal(ACCEPT(), WARD_WIRE_E_MALFORMED);
    assert_string_equal(err, "batch payload inflates to 55 bytes, its header says 56");

    craft_batch(&body, k->sk, 1, 1, 5, rl - 1, z, zlen); /* raw_len too short */
    assert_int_equal(ACCEPT(), WARD_WIRE_E_BOMB);

    craft_batch(&body, k->sk, 1, 1, 5, rl, z, zlen - 1); /* the stream cut short */
    assert_int_equal(ACCEPT(), WARD_WIRE_E_MALFORMED);

    uint8_t *z2 = malloc(zlen + 3);
    assert_non_null(z2);
    memcpy(z2, z, zlen);
    memcpy(z2 + zlen, "xyz", 3);
    craft_batch(&body, k->sk, 1, 1, 5, rl, z2, zlen + 3); /* bytes after the stream */
    assert_int_equal(ACCEPT(), WARD_WIRE_E_MALFORMED);
    assert_string_equal(err, "batch has 3 bytes after the end of its zlib stream");
    memset(z2, 0x55, zlen);
    craft_batch(&body, k->sk, 1, 1, 5, rl, z2, zlen); /* not zlib at all */
    assert_int_equal(ACCEPT(), WARD_WIRE_E_MALFORMED);
    assert_non_null(strstr(err, "corrupt zlib stream"));
    free(z2);

    craft_batch(&body, k->sk, 1, 1, 0, rl, z, zlen); /* no records */
    assert_int_equal(ACCEPT(), WARD_WIRE_E_MALFORMED);
    craft_batch(&body, k->sk, 1, 0, 5, rl, z, zlen); /* seq 0 */
    assert_int_equal(ACCEPT(), WARD_WIRE_E_MALFORMED);
    craft_batch(&body, k->sk, 1, UINT64_MAX, 5, rl, z, zlen); /* seqs wrap */
    assert_int_equal(ACCEPT(), WARD_WIRE_E_MALFORMED);
    craft_batch(&body, k->sk, 1, 1, 14, rl, z, zlen); /* 14 lengths cannot fit in 55 */
    assert_int_equal(ACCEPT(), WARD_WIRE_E_MALFORMED);
    craft_batch(&body, k->sk, 1, 1, 5, rl, z, 0); /* empty payload */
    assert_int_equal(ACCEPT(), WARD_WIRE_E_MALFORMED);

    /* someone else's valid signature over a header naming this agent */
    craft_batch(&body, k->other_sk, 1, 1, 5, rl, z, zlen);
    assert_int_equal(ACCEPT(), WARD_WIRE_E_SIGNATURE);
#undef ACCEPT
    free(z);
    ward_buf_fini(&raw);
    ward_buf_fini(&body);
    ward_buf_fini(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_cursor),
        cmocka_unit_test(test_wire_writers_big_endian),
        cmocka_unit_test(test_wire_frames),
        cmocka_unit_test(test_wire_small_messages_round_trip),
        cmocka_unit_test(test_wire_small_messages_other_version),
        cmocka_unit_test(test_wire_batch_round_trip),
        cmocka_unit_test(test_wire_batch_put_refuses),
        cmocka_unit_test(test_wire_batch_every_truncation_refused),
        cmocka_unit_test(test_wire_batch_flipped_byte_fails),
        cmocka_unit_test(test_wire_batch_version_first),
        cmocka_unit_test(test_wire_batch_bomb_refused),
        cmocka_unit_test(test_wire_batch_lying_header_refused),
    };
    return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
