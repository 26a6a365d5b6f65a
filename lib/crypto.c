/* Keys, signatures, HMAC and CRC32C (see include/ward/crypto.h). */
#include "ward/crypto.h"
#include "ward/diag.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

struct ward_key {
    EVP_PKEY *pk;
    int priv; /* 1: can sign */
};

#define KEY_FILE_MAX (64u << 10) /* a PEM Ed25519 key is ~120 bytes */
#define SECRET_MAX 1024
#define SECRET_MIN 16

/* The reason of the oldest OpenSSL error queued, and an empty queue: errors must not
 * leak into the next, unrelated call on this thread. */
static const char *ossl_reason(char *buf, size_t len) {
    unsigned long e = ERR_peek_error();
    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "unknown OpenSSL error");
    ERR_clear_error();
    return buf;
}

/* Writes len bytes to a new file (O_EXCL) with mode, fsyncs it. Returns 0 or -1 with
 * err; a file it made is removed on failure. */
static int write_new_file(const char *path, mode_t mode, const void *p, size_t len, char *err,
                          size_t errlen) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        ward_errf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    const uint8_t *q = p;
    size_t left = len;
    /* the umask may only have narrowed mode: fchmod makes the public key 0644 */
    if (fchmod(fd, mode) != 0)
        goto fail;
    while (left) {
        ssize_t w = write(fd, q, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        q += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    return 0;
fail:
    ward_errf(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
    if (fd >= 0)
        close(fd);
    unlink(path);
    return -1;
}

/* fsyncs the directory holding path, so that a new file's name is durable. */
static int sync_dir_of(const char *path, char *err, size_t errlen) {
    char *copy = strdup(path);
    if (!copy) {
        ward_errf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0 || fsync(fd) != 0) {
        ward_errf(err, errlen, "%s: fsync: %s", dir, strerror(errno));
        rc = -1;
    }
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

/* Reads a whole small file into buf (cap bytes). With secret set, a file that is not
 * regular or is accessible by group or others is refused, naming what. Returns the
 * length read, or -1 with err; a file over cap is refused. */
static ssize_t read_small_file(const char *path, uint8_t *buf, size_t cap, const char *what,
                               int secret, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        ward_errf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    size_t got = 0;
    if (fstat(fd, &st) != 0) {
        ward_errf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        ward_errf(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if (secret && (st.st_mode & 077)) {
        ward_errf(err, errlen, "%s: mode %04o: %s readable by group or others", path,
                  (unsigned)(st.st_mode & 07777), what);
        goto fail;
    }
    for (;;) {
        if (got == cap) {
            /* one more byte tells a file of exactly cap bytes from a longer one */
            uint8_t extra;
            ssize_t r = read(fd, &extra, 1);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                ward_errf(err, errlen, "%s: %s", path, strerror(errno));
                goto fail;
            }
            if (r > 0) {
                ward_errf(err, errlen, "%s: %s longer than %zu bytes", path, what, cap);
                goto fail;
            }
            break;
        }
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ward_errf(err, errlen, "%s: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return (ssize_t)got;
fail:
    close(fd);
    return -1;
}

/* A PEM password callback that gives none: an encrypted key fails instead of prompting
 * on the terminal. */
static int no_password(char *buf, int size, int rwflag, void *u) {
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static ward_key *key_wrap(EVP_PKEY *pk, int priv) {
    ward_key *k = calloc(1, sizeof(*k));
    if (!k) {
        EVP_PKEY_free(pk);
        return NULL;
    }
    k->pk = pk;
    k->priv = priv;
    return k;
}

static int pem_of(EVP_PKEY *pk, int priv, BUF_MEM **out, BIO **bio) {
    *bio = BIO_new(BIO_s_mem());
    if (!*bio)
        return -1;
    int ok = priv ? PEM_write_bio_PKCS8PrivateKey(*bio, pk, NULL, NULL, 0, NULL, NULL)
                  : PEM_write_bio_PUBKEY(*bio, pk);
    if (ok != 1)
        return -1;
    BIO_get_mem_ptr(*bio, out);
    return *out ? 0 : -1;
}

int ward_crypto_keygen(const char *priv_path, const char *pub_path, char *err, size_t errlen) {
    char why[256];
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIO *bpriv = NULL, *bpub = NULL;
    BUF_MEM *mpriv = NULL, *mpub = NULL;
    int made_priv = 0;
    int rc = -1;

    ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &pk) != 1) {
        ward_errf(err, errlen, "%s: key generation failed: %s", priv_path,
                  ossl_reason(why, sizeof(why)));
        goto fail;
    }
    if (pem_of(pk, 1, &mpriv, &bpriv) != 0 || pem_of(pk, 0, &mpub, &bpub) != 0) {
        ward_errf(err, errlen, "%s: cannot encode the key: %s", priv_path,
                  ossl_reason(why, sizeof(why)));
        goto fail;
    }
    /* refuse before writing anything when the public key's file is already there */
    if (access(pub_path, F_OK) == 0) {
        ward_errf(err, errlen, "%s: %s", pub_path, strerror(EEXIST));
        goto fail;
    }
    if (write_new_file(priv_path, 0600, mpriv->data, mpriv->length, err, errlen) != 0)
        goto fail;
    made_priv = 1;
    if (write_new_file(pub_path, 0644, mpub->data, mpub->length, err, errlen) != 0)
        goto fail;
    if (sync_dir_of(priv_path, err, errlen) != 0 || sync_dir_of(pub_path, err, errlen) != 0) {
        unlink(pub_path);
        goto fail;
    }
    rc = 0;
fail:
    if (rc != 0 && made_priv)
        unlink(priv_path);
    if (mpriv)
        OPENSSL_cleanse(mpriv->data, mpriv->length);
    BIO_free(bpriv);
    BIO_free(bpub);
    EVP_PKEY_free(pk);
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

/* Decodes a PEM private key in buf; NULL with err when it is not an Ed25519 one. */
static EVP_PKEY *parse_private(const char *path, const uint8_t *buf, size_t len, char *err,
                               size_t errlen) {
    char why[256];
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
    BIO_free(bio);
    if (!pk) {
        ward_errf(err, errlen, "%s: not a PEM private key: %s", path,
                  ossl_reason(why, sizeof(why)));
        return NULL;
    }
    if (EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519) {
        ward_errf(err, errlen, "%s: not an Ed25519 key (%s)", path, EVP_PKEY_get0_type_name(pk));
        EVP_PKEY_free(pk);
        return NULL;
    }
    return pk;
}

/* A key file read into a new buffer (caller frees with free_key_file), or NULL with err;
 * private: refused when group or others have access. */
static uint8_t *read_key_file(const char *path, int private, size_t *n, char *err, size_t errlen) {
    uint8_t *buf = malloc(KEY_FILE_MAX);
    if (!buf) {
        ward_errf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    ssize_t got = read_small_file(path, buf, KEY_FILE_MAX, private ? "private key" : "key file",
                                  private, err, errlen);
    if (got < 0) {
        free(buf);
        return NULL;
    }
    *n = (size_t)got;
    return buf;
}

static void free_key_file(uint8_t *buf, size_t n) {
    if (buf)
        OPENSSL_cleanse(buf, n);
    free(buf);
}

ward_key *ward_crypto_key_load_private(const char *path, char *err, size_t errlen) {
    size_t n = 0;
    uint8_t *buf = read_key_file(path, 1, &n, err, errlen);
    if (!buf)
        return NULL;
    ward_key *k = NULL;
    EVP_PKEY *pk = parse_private(path, buf, n, err, errlen);
    if (pk) {
        k = key_wrap(pk, 1);
        if (!k)
            ward_errf(err, errlen, "%s: out of memory", path);
    }
    free_key_file(buf, n);
    ERR_clear_error();
    return k;
}

ward_key *ward_crypto_key_load_public(const char *path, char *err, size_t errlen) {
    char why[256];
    size_t n = 0;
    uint8_t *buf = read_key_file(path, 0, &n, err, errlen);
    if (!buf)
        return NULL;
    ward_key *k = NULL;
    BIO *bio = BIO_new_mem_buf(buf, (int)n);
    EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, no_password, NULL) : NULL;
    BIO_free(bio);
    if (!pk) {
        ERR_clear_error();
        /* a private key file: keep only its public half */
        EVP_PKEY *sk = parse_private(path, buf, n, why, sizeof(why));
        if (!sk) {
            ward_errf(err, errlen, "%s: not a PEM public or private Ed25519 key", path);
            goto fail;
        }
        uint8_t raw[WARD_PUBKEY_LEN];
        size_t rl = sizeof(raw);
        if (EVP_PKEY_get_raw_public_key(sk, raw, &rl) == 1 && rl == sizeof(raw))
            pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, sizeof(raw));
        EVP_PKEY_free(sk);
        if (!pk) {
            ward_errf(err, errlen, "%s: %s", path, ossl_reason(why, sizeof(why)));
            goto fail;
        }
    } else if (EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519) {
        ward_errf(err, errlen, "%s: not an Ed25519 key (%s)", path, EVP_PKEY_get0_type_name(pk));
        EVP_PKEY_free(pk);
        goto fail;
    }
    k = key_wrap(pk, 0);
    if (!k)
        ward_errf(err, errlen, "%s: out of memory", path);
fail:
    free_key_file(buf, n);
    ERR_clear_error();
    return k;
}

ward_key *ward_crypto_key_from_raw(const uint8_t raw[WARD_PUBKEY_LEN]) {
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, WARD_PUBKEY_LEN);
    if (!pk) {
        ERR_clear_error();
        return NULL;
    }
    return key_wrap(pk, 0);
}

int ward_crypto_key_raw(const ward_key *k, uint8_t raw[WARD_PUBKEY_LEN]) {
    size_t len = WARD_PUBKEY_LEN;
    if (!k || EVP_PKEY_get_raw_public_key(k->pk, raw, &len) != 1 || len != WARD_PUBKEY_LEN) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

void ward_crypto_key_fingerprint(const ward_key *k, char out[65]) {
    static const char hex[] = "0123456789abcdef";
    uint8_t raw[WARD_PUBKEY_LEN], md[32];
    unsigned int mdlen = 0;
    out[0] = '\0';
    if (ward_crypto_key_raw(k, raw) != 0 ||
        EVP_Digest(raw, sizeof(raw), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        ERR_clear_error();
        return;
    }
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

void ward_crypto_key_free(ward_key *k) {
    if (!k)
        return;
    EVP_PKEY_free(k->pk);
    free(k);
}

int ward_crypto_sign(const ward_key *k, const uint8_t *msg, size_t len, uint8_t sig[WARD_SIG_LEN]) {
    static const uint8_t empty[1];
    if (!k || !k->priv)
        return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = WARD_SIG_LEN;
    int rc = -1;
    /* Ed25519 hashes the message itself: no digest, one-shot only */
    if (ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pk) == 1 &&
        EVP_DigestSign(ctx, sig, &siglen, len ? msg : empty, len) == 1 && siglen == WARD_SIG_LEN)
        rc = 0;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

int ward_crypto_verify(const ward_key *k, const uint8_t *msg, size_t len,
                       const uint8_t sig[WARD_SIG_LEN]) {
    static const uint8_t empty[1];
    if (!k)
        return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = -1;
    if (ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pk) == 1) {
        int v = EVP_DigestVerify(ctx, sig, WARD_SIG_LEN, len ? msg : empty, len);
        /* a signature that does not verify is 0; anything negative is OpenSSL failing */
        rc = v == 1 ? 1 : v == 0 ? 0 : -1;
    }
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

int ward_crypto_hmac(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
                     uint8_t out[WARD_HMAC_LEN]) {
    static const uint8_t empty[1];
    unsigned int outlen = 0;
    if (keylen > INT32_MAX)
        return -1;
    /* HMAC() treats a NULL key as "reuse the last one": always pass a pointer */
    if (!HMAC(EVP_sha256(), keylen ? key : empty, (int)keylen, len ? msg : empty, len, out,
              &outlen) ||
        outlen != WARD_HMAC_LEN) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

int ward_crypto_secret_load(const char *path, uint8_t *key, size_t *len, char *err, size_t errlen) {
    ssize_t n = read_small_file(path, key, SECRET_MAX, "secret key", 1, err, errlen);
    if (n < 0)
        return -1;
    if (n < SECRET_MIN) {
        OPENSSL_cleanse(key, (size_t)n);
        ward_errf(err, errlen, "%s: secret key of %zd bytes: at least %d needed", path, n,
                  SECRET_MIN);
        return -1;
    }
    *len = (size_t)n;
    return 0;
}

/* CRC32C, reflected polynomial 0x82F63B78: slicing by eight over tables built on first
 * use, or the SSE4.2 instruction when the CPU has it (spool records are checksummed at
 * the agent's alert rate). */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (uint32_t i = 0; i < 256; i++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

static uint32_t crc_soft(uint32_t c, const uint8_t *p, size_t len) {
    pthread_once(&crc_once, crc_init);
    while (len >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
            crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
            crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const uint8_t *p, size_t len) {
    uint64_t c64 = c;
    while (len >= 8) {
        uint64_t v;
        __builtin_memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
    while (len--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

uint32_t ward_crypto_crc32c(uint32_t crc, const uint8_t *p, size_t len) {
    uint32_t c = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2"))
        return ~crc_hw(c, p, len);
#endif
    return ~crc_soft(c, p, len);
}

int ward_crypto_crc32c_with(int impl, uint32_t crc, const uint8_t *p, size_t len, uint32_t *out) {
    if (impl == 0) {
        *out = ~crc_soft(~crc, p, len);
        return 0;
    }
#if defined(__x86_64__)
    if (impl == 1 && __builtin_cpu_supports("sse4.2")) {
        *out = ~crc_hw(~crc, p, len);
        return 0;
    }
#endif
    return -1;
}
