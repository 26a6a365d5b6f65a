/* For unit tests: two Ed25519 key pairs (the party under test and someone else) made by
 * ward_crypto_keygen in a temporary directory, as a cmocka group state. */
#ifndef WARD_TESTKEYS_H
#define WARD_TESTKEYS_H

#include <stdio.h>
#include <stdlib.h>

#include "ward/crypto.h"

typedef struct keys {
    char dir[64];
    ward_key *sk, *pk;             /* the party under test: private and public */
    ward_key *other_sk, *other_pk; /* someone else */
} keys;

static inline void keys_make(const char *dir, const char *name, ward_key **sk, ward_key **pk) {
    char a[128], b[128], err[256];
    snprintf(a, sizeof(a), "%s/%s.key", dir, name);
    snprintf(b, sizeof(b), "%s/%s.pub", dir, name);
    assert_int_equal(ward_crypto_keygen(a, b, err, sizeof(err)), 0);
    *sk = ward_crypto_key_load_private(a, err, sizeof(err));
    *pk = ward_crypto_key_load_public(b, err, sizeof(err));
    assert_non_null(*sk);
    assert_non_null(*pk);
}

static inline int keys_setup(void **state) {
    keys *k = calloc(1, sizeof(*k));
    assert_non_null(k);
    snprintf(k->dir, sizeof(k->dir), "/tmp/ward-keys-XXXXXX");
    assert_non_null(mkdtemp(k->dir));
    keys_make(k->dir, "mine", &k->sk, &k->pk);
    keys_make(k->dir, "other", &k->other_sk, &k->other_pk);
    *state = k;
    return 0;
}

static inline int keys_teardown(void **state) {
    keys *k = *state;
    char cmd[128];
    ward_crypto_key_free(k->sk);
    ward_crypto_key_free(k->pk);
    ward_crypto_key_free(k->other_sk);
    ward_crypto_key_free(k->other_pk);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", k->dir);
    assert_int_equal(system(cmd), 0);
    free(k);
    return 0;
}

#endif
