/* Keys, signatures and checksums: Ed25519 through OpenSSL's EVP interface, HMAC-SHA256
 * for pseudonyms, CRC32C for spool records. */
#ifndef WARD_CRYPTO_H
#define WARD_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define WARD_PUBKEY_LEN 32 /* raw Ed25519 public key */
#define WARD_SIG_LEN 64    /* Ed25519 signature */
#define WARD_HMAC_LEN 32   /* HMAC-SHA256 */

typedef struct ward_key ward_key; /* an Ed25519 key: private (can sign) or public only */

/* Makes a new key pair and writes the private key (PEM PKCS#8, mode 0600, created with
 * O_EXCL: an existing file is an error) and the public key (PEM SubjectPublicKeyInfo,
 * mode 0644) to the paths given; both are fsynced. Returns 0, or -1 with err naming the
 * file and the reason. */
int ward_crypto_keygen(const char *priv_path, const char *pub_path, char *err, size_t errlen);

/* Loads a private key. A file readable or writable by group or others is refused
 * ("PATH: mode 0640: private key readable by group or others"), as is a file that is not
 * an Ed25519 private key. Returns the key (caller owns; ward_crypto_key_free) or NULL
 * with err set. */
ward_key *ward_crypto_key_load_private(const char *path, char *err, size_t errlen);

/* Loads a public key from a PEM file (a private key file is accepted too: its public
 * half is used). Returns the key (caller owns) or NULL with err set. */
ward_key *ward_crypto_key_load_public(const char *path, char *err, size_t errlen);

/* A public key from its 32 raw bytes. Returns the key (caller owns) or NULL. */
ward_key *ward_crypto_key_from_raw(const uint8_t raw[WARD_PUBKEY_LEN]);

/* The raw public half of k. Returns 0 or -1. */
int ward_crypto_key_raw(const ward_key *k, uint8_t raw[WARD_PUBKEY_LEN]);

/* Lower-case hex of the SHA-256 of the raw public key, NUL-terminated: how logs and
 * `list` name a key. */
void ward_crypto_key_fingerprint(const ward_key *k, char out[65]);

void ward_crypto_key_free(ward_key *k); /* NULL: no-op */

/* Signs len bytes of msg with a private key. Returns 0 or -1 (not a private key). */
int ward_crypto_sign(const ward_key *k, const uint8_t *msg, size_t len, uint8_t sig[WARD_SIG_LEN]);

/* Returns 1 when sig is k's signature of msg, 0 when it is not, -1 on an internal
 * error. */
int ward_crypto_verify(const ward_key *k, const uint8_t *msg, size_t len,
                       const uint8_t sig[WARD_SIG_LEN]);

/* HMAC-SHA256 of msg under key. Returns 0 or -1. */
int ward_crypto_hmac(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
                     uint8_t out[WARD_HMAC_LEN]);

/* Reads a secret key file (for HMAC): refused like a private key when readable by group
 * or others, or shorter than 16 bytes; at most 1024 bytes. Fills key (caller's storage,
 * at least 1024 bytes) and *len. Returns 0 or -1 with err set. */
int ward_crypto_secret_load(const char *path, uint8_t *key, size_t *len, char *err, size_t errlen);

/* CRC32C (Castagnoli) of len bytes, continuing from crc (start with 0). */
uint32_t ward_crypto_crc32c(uint32_t crc, const uint8_t *p, size_t len);

/* The same through one implementation, for tests: impl 0 is the portable table code, 1
 * the SSE4.2 instruction. Sets *out and returns 0, or -1 when impl is not available on
 * this CPU. */
int ward_crypto_crc32c_with(int impl, uint32_t crc, const uint8_t *p, size_t len, uint32_t *out);

#endif
