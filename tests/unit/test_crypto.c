/* Keys, signatures, HMAC and CRC32C: known values, both CRC implementations, key files
 * and their modes, tampering. */
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

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ward/crypto.h"

/* ---- helpers ---- */

typedef struct tdir {
    char path[64];
    char a[128], b[128];
} tdir;

static int tdir_setup(void **state) {
    tdir *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    snprintf(d->path, sizeof(d->path), "/tmp/ward-crypto-XXXXXX");
    assert_non_null(mkdtemp(d->path));
    snprintf(d->a, sizeof(d->a), "%s/agent.key", d->path);
    snprintf(d->b, sizeof(d->b), "%s/agent.pub", d->path);
    *state = d;
    return 0;
}

static int tdir_teardown(void **state) {
    tdir *d = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
    assert_int_equal(system(cmd), 0);
    free(d);
    return 0;
}

static void write_file(const char *path, mode_t mode, const void *p, size_t len) {
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static size_t read_file(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

/* The CRC bit by bit, straight from the definition. */
static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t len) {
    uint32_t c = ~crc;
    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static void hex_of(const uint8_t *p, size_t n, char *out) {
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

/* ---- CRC32C ---- */

static void test_crypto_crc32c_known_values(void **state) {
    (void)state;
    uint8_t zeros[32] = {0}, ones[32], inc[32];
    memset(ones, 0xff, sizeof(ones));
    for (int i = 0; i < 32; i++)
        inc[i] = (uint8_t)i;
    assert_int_equal(ward_crypto_crc32c(0, (const uint8_t *)"123456789", 9), 0xe3069283u);
    /* RFC 3720 B.4 */
    assert_int_equal(ward_crypto_crc32c(0, zeros, 32), 0x8a9136aau);
    assert_int_equal(ward_crypto_crc32c(0, ones, 32), 0x62a8ab43u);
    assert_int_equal(ward_crypto_crc32c(0, inc, 32), 0x46dd794eu);
    assert_int_equal(ward_crypto_crc32c(0, NULL, 0), 0);
    for (int impl = 0; impl < 2; impl++) {
        uint32_t v;
        if (ward_crypto_crc32c_with(impl, 0, (const uint8_t *)"123456789", 9, &v) != 0) {
            print_message("crc32c implementation %d not available on this CPU: skipped\n", impl);
            continue;
        }
        assert_int_equal(v, 0xe3069283u);
        assert_int_equal(ward_crypto_crc32c_with(impl, 0, inc, 32, &v), 0);
        assert_int_equal(v, 0x46dd794eu);
    }
    uint32_t v;
    assert_int_equal(ward_crypto_crc32c_with(7, 0, inc, 32, &v), -1);
}

/* Every length 0..300 at every alignment 0..7, whole and in random pieces, through each
 * implementation, against the bitwise definition. */
static void test_crypto_crc32c_both_paths_chunked_equal_whole(void **state) {
    (void)state;
    uint8_t buf[320];
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)rng_next(&s);
    int tested = 0;
    for (int impl = 0; impl < 2; impl++) {
        uint32_t v;
        if (ward_crypto_crc32c_with(impl, 0, buf, 1, &v) != 0)
            continue;
        tested++;
        for (size_t off = 0; off < 8; off++) {
            for (size_t len = 0; len + off <= 308; len++) {
                const uint8_t *p = buf + off;
                uint32_t want = crc_bitwise(0, p, len);
                assert_int_equal(ward_crypto_crc32c_with(impl, 0, p, len, &v), 0);
                assert_int_equal(v, want);
                uint32_t c = 0;
                size_t at = 0;
                while (at < len) {
                    size_t k = 1 + (size_t)(rng_next(&s) % 19);
                    if (k > len - at)
                        k = len - at;
                    assert_int_equal(ward_crypto_crc32c_with(impl, c, p + at, k, &c), 0);
                    at += k;
                }
                assert_int_equal(c, want);
                assert_int_equal(ward_crypto_crc32c(0, p, len), want);
            }
        }
    }
    assert_true(tested >= 1);
#if defined(__x86_64__)
    /* this build machine has SSE4.2: the hardware path must have been compared too */
    if (__builtin_cpu_supports("sse4.2"))
        assert_int_equal(tested, 2);
#endif
}

/* ---- keys ---- */

static void test_crypto_keygen_round_trip(void **state) {
    tdir *d = *state;
    char err[256] = "";
    assert_int_equal(ward_crypto_keygen(d->a, d->b, err, sizeof(err)), 0);
    struct stat st;
    assert_int_equal(stat(d->a, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(d->b, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    char text[4096];
    read_file(d->a, text, sizeof(text));
    assert_non_null(strstr(text, "-----BEGIN PRIVATE KEY-----"));
    read_file(d->b, text, sizeof(text));
    assert_non_null(strstr(text, "-----BEGIN PUBLIC KEY-----"));

    ward_key *sk = ward_crypto_key_load_private(d->a, err, sizeof(err));
    assert_non_null(sk);
    ward_key *pk = ward_crypto_key_load_public(d->b, err, sizeof(err));
    assert_non_null(pk);
    ward_key *pk2 = ward_crypto_key_load_public(d->a, err, sizeof(err)); /* its public half */
    assert_non_null(pk2);
    uint8_t r1[WARD_PUBKEY_LEN], r2[WARD_PUBKEY_LEN], r3[WARD_PUBKEY_LEN];
    assert_int_equal(ward_crypto_key_raw(sk, r1), 0);
    assert_int_equal(ward_crypto_key_raw(pk, r2), 0);
    assert_int_equal(ward_crypto_key_raw(pk2, r3), 0);
    assert_memory_equal(r1, r2, WARD_PUBKEY_LEN);
    assert_memory_equal(r1, r3, WARD_PUBKEY_LEN);
    ward_key *pk3 = ward_crypto_key_from_raw(r1);
    assert_non_null(pk3);

    char f1[65], f2[65], f3[65];
    ward_crypto_key_fingerprint(sk, f1);
    ward_crypto_key_fingerprint(pk3, f2);
    assert_int_equal(strlen(f1), 64);
    assert_int_equal(strspn(f1, "0123456789abcdef"), 64);
    assert_string_equal(f1, f2);
    /* the fingerprint is the SHA-256 of the raw key */
    uint8_t md[32];
    unsigned int mdlen;
    assert_int_equal(EVP_Digest(r1, sizeof(r1), md, &mdlen, EVP_sha256(), NULL), 1);
    hex_of(md, 32, f3);
    assert_string_equal(f1, f3);

    /* a public key cannot sign; the signature verifies with each public form */
    const uint8_t msg[] = "batch header and payload";
    uint8_t sig[WARD_SIG_LEN];
    assert_int_equal(ward_crypto_sign(pk, msg, sizeof(msg), sig), -1);
    assert_int_equal(ward_crypto_sign(sk, msg, sizeof(msg), sig), 0);
    assert_int_equal(ward_crypto_verify(pk, msg, sizeof(msg), sig), 1);
    assert_int_equal(ward_crypto_verify(pk2, msg, sizeof(msg), sig), 1);
    assert_int_equal(ward_crypto_verify(pk3, msg, sizeof(msg), sig), 1);
    assert_int_equal(ward_crypto_verify(sk, msg, sizeof(msg), sig), 1);
    /* Ed25519 is deterministic */
    uint8_t sig2[WARD_SIG_LEN];
    assert_int_equal(ward_crypto_sign(sk, msg, sizeof(msg), sig2), 0);
    assert_memory_equal(sig, sig2, WARD_SIG_LEN);
    /* the empty message */
    assert_int_equal(ward_crypto_sign(sk, NULL, 0, sig2), 0);
    assert_int_equal(ward_crypto_verify(pk, NULL, 0, sig2), 1);
    assert_int_equal(ward_crypto_verify(pk, msg, 1, sig2), 0);

    ward_crypto_key_free(sk);
    ward_crypto_key_free(pk);
    ward_crypto_key_free(pk2);
    ward_crypto_key_free(pk3);
    ward_crypto_key_free(NULL);
}

static void test_crypto_flipped_bit_fails(void **state) {
    tdir *d = *state;
    char err[256];
    assert_int_equal(ward_crypto_keygen(d->a, d->b, err, sizeof(err)), 0);
    ward_key *sk = ward_crypto_key_load_private(d->a, err, sizeof(err));
    ward_key *pk = ward_crypto_key_load_public(d->b, err, sizeof(err));
    assert_non_null(sk);
    assert_non_null(pk);
    uint8_t msg[100], sig[WARD_SIG_LEN];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 7);
    assert_int_equal(ward_crypto_sign(sk, msg, sizeof(msg), sig), 0);
    for (size_t bit = 0; bit < sizeof(msg) * 8; bit += 3) {
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(ward_crypto_verify(pk, msg, sizeof(msg), sig), 0);
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < WARD_SIG_LEN * 8; bit++) {
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(ward_crypto_verify(pk, msg, sizeof(msg), sig), 0);
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(ward_crypto_verify(pk, msg, sizeof(msg), sig), 1);
    assert_int_equal(ward_crypto_verify(pk, msg, sizeof(msg) - 1, sig), 0);

    /* another key's signature does not verify */
    ward_key *other = NULL;
    char a2[160], b2[160];
    snprintf(a2, sizeof(a2), "%s/other.key", d->path);
    snprintf(b2, sizeof(b2), "%s/other.pub", d->path);
    assert_int_equal(ward_crypto_keygen(a2, b2, err, sizeof(err)), 0);
    other = ward_crypto_key_load_public(b2, err, sizeof(err));
    assert_non_null(other);
    assert_int_equal(ward_crypto_verify(other, msg, sizeof(msg), sig), 0);
    assert_int_equal(ward_crypto_verify(NULL, msg, sizeof(msg), sig), -1);
    ward_crypto_key_free(other);
    ward_crypto_key_free(sk);
    ward_crypto_key_free(pk);
}

static void test_crypto_private_key_mode_refused(void **state) {
    tdir *d = *state;
    char err[256] = "";
    assert_int_equal(ward_crypto_keygen(d->a, d->b, err, sizeof(err)), 0);
    static const mode_t bad[] = {0644, 0640, 0604, 0620, 0602, 0660};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(chmod(d->a, bad[i]), 0);
        err[0] = '\0';
        assert_null(ward_crypto_key_load_private(d->a, err, sizeof(err)));
        char want[200];
        snprintf(want, sizeof(want), "%s: mode %04o: private key readable by group or others", d->a,
                 (unsigned)bad[i]);
        assert_string_equal(err, want);
    }
    /* owner-only modes are fine; the public key is public */
    assert_int_equal(chmod(d->a, 0400), 0);
    ward_key *k = ward_crypto_key_load_private(d->a, err, sizeof(err));
    assert_non_null(k);
    ward_crypto_key_free(k);
    assert_int_equal(chmod(d->a, 0644), 0);
    k = ward_crypto_key_load_public(d->a, err, sizeof(err));
    assert_non_null(k);
    ward_crypto_key_free(k);
}

static void test_crypto_keygen_never_overwrites(void **state) {
    tdir *d = *state;
    char err[256] = "", text[64];
    write_file(d->a, 0600, "keep me", 7);
    assert_int_equal(ward_crypto_keygen(d->a, d->b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, d->a));
    assert_non_null(strstr(err, "File exists"));
    read_file(d->a, text, sizeof(text));
    assert_string_equal(text, "keep me");
    assert_int_equal(access(d->b, F_OK), -1); /* nothing half made */

    /* an existing public key file: no private key is left behind either */
    unlink(d->a);
    write_file(d->b, 0644, "old pub", 7);
    err[0] = '\0';
    assert_int_equal(ward_crypto_keygen(d->a, d->b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, d->b));
    read_file(d->b, text, sizeof(text));
    assert_string_equal(text, "old pub");
    assert_int_equal(access(d->a, F_OK), -1);

    /* a directory that does not exist */
    char nowhere[200];
    snprintf(nowhere, sizeof(nowhere), "%s/no/such.key", d->path);
    unlink(d->b);
    assert_int_equal(ward_crypto_keygen(nowhere, d->b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, nowhere));
}

static void test_crypto_garbage_key_refused(void **state) {
    tdir *d = *state;
    char err[256] = "";
    static const char *bad[] = {
        "",
        "not a key at all\n",
        "-----BEGIN PRIVATE KEY-----\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n-----END PRIVATE "
        "KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(d->a, 0600, bad[i], strlen(bad[i]));
        err[0] = '\0';
        assert_null(ward_crypto_key_load_private(d->a, err, sizeof(err)));
        assert_non_null(strstr(err, d->a));
        err[0] = '\0';
        assert_null(ward_crypto_key_load_public(d->a, err, sizeof(err)));
        assert_non_null(strstr(err, d->a));
    }

    /* a good PEM key of another type */
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(ec);
    FILE *f = fopen(d->a, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, ec, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    f = fopen(d->b, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PUBKEY(f, ec), 1);
    fclose(f);
    EVP_PKEY_free(ec);
    assert_int_equal(chmod(d->a, 0600), 0);
    assert_null(ward_crypto_key_load_private(d->a, err, sizeof(err)));
    assert_non_null(strstr(err, "not an Ed25519 key"));
    assert_null(ward_crypto_key_load_public(d->b, err, sizeof(err)));
    assert_non_null(strstr(err, "not an Ed25519 key"));
    assert_null(ward_crypto_key_load_public(d->a, err, sizeof(err)));

    /* a file that is not there, a directory */
    char missing[200];
    snprintf(missing, sizeof(missing), "%s/missing.key", d->path);
    assert_null(ward_crypto_key_load_private(missing, err, sizeof(err)));
    assert_non_null(strstr(err, missing));
    assert_non_null(strstr(err, "No such file"));
    assert_null(ward_crypto_key_load_public(d->path, err, sizeof(err)));
    assert_non_null(strstr(err, "not a regular file"));
}

/* ---- HMAC (RFC 4231) ---- */

static void check_hmac(const uint8_t *key, size_t keylen, const void *msg, size_t len,
                       const char *want) {
    uint8_t out[WARD_HMAC_LEN];
    char hex[2 * WARD_HMAC_LEN + 1];
    assert_int_equal(ward_crypto_hmac(key, keylen, msg, len, out), 0);
    hex_of(out, sizeof(out), hex);
    assert_string_equal(hex, want);
}

static void test_crypto_hmac_rfc4231(void **state) {
    (void)state;
    uint8_t k[131], m[50];
    memset(k, 0x0b, 20);
    check_hmac(k, 20, "Hi There", 8,
               "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    check_hmac((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28,
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(k, 0xaa, 20);
    memset(m, 0xdd, 50);
    check_hmac(k, 20, m, 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    for (int i = 0; i < 25; i++)
        k[i] = (uint8_t)(i + 1);
    memset(m, 0xcd, 50);
    check_hmac(k, 25, m, 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    memset(k, 0xaa, 131);
    const char *t6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    check_hmac(k, 131, t6, strlen(t6),
               "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    const char *t7 = "This is a test using a larger than block-size key and a larger than "
                     "block-size data. The key needs to be hashed before being used by the "
                     "HMAC algorithm.";
    check_hmac(k, 131, t7, strlen(t7),
               "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
    /* RFC 4231 4.6: the first 128 bits */
    uint8_t out[WARD_HMAC_LEN];
    memset(k, 0x0c, 20);
    assert_int_equal(ward_crypto_hmac(k, 20, (const uint8_t *)"Test With Truncation", 20, out), 0);
    char hex[65];
    hex_of(out, 16, hex);
    assert_string_equal(hex, "a3b6167473100ee06e0c796c2955552b");
}

/* ---- secret files ---- */

static void test_crypto_secret_load(void **state) {
    tdir *d = *state;
    char err[256] = "";
    uint8_t key[1024 + 8], data[1100];
    size_t len = 0;
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 13 + 1);

    write_file(d->a, 0600, data, 32);
    assert_int_equal(ward_crypto_secret_load(d->a, key, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 32);
    assert_memory_equal(key, data, 32);

    write_file(d->a, 0600, data, 1024);
    assert_int_equal(ward_crypto_secret_load(d->a, key, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 1024);
    assert_memory_equal(key, data, 1024);

    write_file(d->a, 0600, data, 16);
    assert_int_equal(ward_crypto_secret_load(d->a, key, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 16);

    len = 99;
    write_file(d->a, 0600, data, 1025);
    assert_int_equal(ward_crypto_secret_load(d->a, key, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, d->a));
    assert_non_null(strstr(err, "longer than 1024"));
    assert_int_equal(len, 99);

    write_file(d->a, 0600, data, 15);
    assert_int_equal(ward_crypto_secret_load(d->a, key, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "15 bytes"));

    write_file(d->a, 0640, data, 32);
    assert_int_equal(ward_crypto_secret_load(d->a, key, &len, err, sizeof(err)), -1);
    char want[200];
    snprintf(want, sizeof(want), "%s: mode 0640: secret key readable by group or others", d->a);
    assert_string_equal(err, want);

    write_file(d->a, 0606, data, 32);
    assert_int_equal(ward_crypto_secret_load(d->a, key, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "mode 0606"));

    assert_int_equal(ward_crypto_secret_load(d->b, key, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, d->b));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crypto_crc32c_known_values),
        cmocka_unit_test(test_crypto_crc32c_both_paths_chunked_equal_whole),
        cmocka_unit_test_setup_teardown(test_crypto_keygen_round_trip, tdir_setup, tdir_teardown),
        cmocka_unit_test_setup_teardown(test_crypto_flipped_bit_fails, tdir_setup, tdir_teardown),
        cmocka_unit_test_setup_teardown(test_crypto_private_key_mode_refused, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test_setup_teardown(test_crypto_keygen_never_overwrites, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test_setup_teardown(test_crypto_garbage_key_refused, tdir_setup, tdir_teardown),
        cmocka_unit_test(test_crypto_hmac_rfc4231),
        cmocka_unit_test_setup_teardown(test_crypto_secret_load, tdir_setup, tdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
