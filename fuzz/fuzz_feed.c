/* Fuzzes the feed decoder: the input is a document body, signed here with a fixed key so
 * that the decoder behind the signature check is reached. Checks that a document it
 * accepts encodes back to exactly the same bytes (one encoding per feed), that a refusal
 * leaves the feed empty with a message, and that both exports of an accepted feed work.
 * Allocation failures are injected (fuzz_run): the promises about an accepted feed are
 * checked while memory lasts; a refusal must still leave the feed empty with a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "failalloc.h"
#include "ward/feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private key from fixed bytes, as a ward_key through a PEM round trip. */
static ward_key *fixed_key(void) {
    static const uint8_t seed[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                     12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                     23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    static ward_key *k;
    if (k)
        return k;
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
    char path[] = "/tmp/ward-fuzz-feed-XXXXXX";
    int fd = mkstemp(path);
    if (!pk || fd < 0)
        __builtin_trap();
    FILE *f = fdopen(fd, "w");
    if (!f || !PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL))
        __builtin_trap();
    fclose(f);
    EVP_PKEY_free(pk);
    char err[256];
    k = ward_crypto_key_load_private(path, err, sizeof(err));
    unlink(path);
    if (!k)
        __builtin_trap();
    return k;
}

/* the harness's own memory is static: its allocations would fail with the rest */
static uint8_t doc[(1u << 20) + WARD_SIG_LEN];

static void body(const uint8_t *data, size_t size) {
    ward_key *k = fixed_key();
    if (size > sizeof(doc) - WARD_SIG_LEN)
        return;
    memcpy(doc, data, size);
    if (ward_crypto_sign(k, data, size, doc + size) != 0)
        __builtin_trap();
    ward_feed f;
    char err[256];
    err[0] = '\0';
    if (ward_feed_parse(doc, size + WARD_SIG_LEN, k, &f, err, sizeof(err)) == 0) {
        ward_buf b;
        ward_buf_init(&b);
        int enc = ward_feed_encode(&f, k, &b);
        if (!failalloc_failed() &&
            (enc != 0 || b.len != size + WARD_SIG_LEN || memcmp(b.p, doc, b.len) != 0))
            __builtin_trap();
        ward_buf_reset(&b);
        if (ward_feed_export_list(&f, &b) != 0 && !failalloc_failed())
            __builtin_trap();
        ward_buf_reset(&b);
        if (ward_feed_export_nft(&f, "ward", "feed", 1700000000000ull, &b) != 0 &&
            !failalloc_failed())
            __builtin_trap();
        ward_buf_fini(&b);
        ward_feed_fini(&f);
    } else if (f.n || f.v || !err[0]) {
        __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    (void)fixed_key(); /* made before any allocation is made to fail */
    fuzz_run(body, data, size);
    return 0;
}
