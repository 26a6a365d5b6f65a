/* The regional indicator feed: what the collector publishes and every agent loads.
 * document: u16 version | u64 feed_version | u64 generated_ms | u32 n | n entries |
 *           sig[64] (the collector's Ed25519 signature over every byte before it)
 * entry:    u16 len value | u16 len field | u16 len regional_id | u16 len rules |
 *           u64 first_ms | u64 last_ms | u64 expires_ms | u32 norgs
 * Strings are UTF-8 without NUL bytes; rules is a comma-separated list of rule ids.
 * Times are Unix milliseconds. */
#ifndef WARD_FEED_H
#define WARD_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "ward/crypto.h"
#include "ward/json.h"

#define WARD_FEED_VERSION 1
#define WARD_FEED_MAX_ENTRIES 100000
#define WARD_FEED_MAX_STRING 4096

typedef struct ward_feed_entry {
    char *value;       /* the indicator, e.g. "203.0.113.7" (owned) */
    char *field;       /* the alert field it came from, e.g. "src_ip" (owned) */
    char *regional_id; /* the regional alert it belongs to, e.g. "R-5f3a..." (owned) */
    char *rules;       /* rule ids that saw it, comma-separated (owned) */
    uint64_t first_ms, last_ms, expires_ms;
    uint32_t norgs; /* organisations that alerted on it */
} ward_feed_entry;

typedef struct ward_feed {
    uint64_t version; /* increases with every change the collector publishes */
    uint64_t generated_ms;
    ward_feed_entry *v; /* owned */
    size_t n;
} ward_feed;

/* Appends the signed document of f to out, signed with k (the collector's private key).
 * Returns 0 or -1 (no memory, a string over WARD_FEED_MAX_STRING, signing failed). */
int ward_feed_encode(const ward_feed *f, const ward_key *k, ward_buf *out);

/* Verifies the signature with the collector's public key before anything else, then
 * decodes p into out (caller's storage, zeroed or finished; owns the strings after).
 * Refuses a bad signature, an unknown version, more than WARD_FEED_MAX_ENTRIES entries,
 * strings with NUL bytes or over the limit, and trailing bytes. Returns 0, or -1 with
 * err naming what is wrong and out empty. */
int ward_feed_parse(const uint8_t *p, size_t len, const ward_key *collector_key, ward_feed *out,
                    char *err, size_t errlen);

/* Frees what f owns and empties it. */
void ward_feed_fini(ward_feed *f);

/* One indicator value per line, sorted as given. Returns 0 or -1. */
int ward_feed_export_list(const ward_feed *f, ward_buf *out);

/* An nftables script that defines (flushing first) the sets NAME4 (ipv4_addr) and
 * NAME6 (ipv6_addr) in table inet TABLE with the feed's addresses, each with a timeout
 * until its expiry; values that are not addresses are left out. Returns 0 or -1. */
int ward_feed_export_nft(const ward_feed *f, const char *table, const char *name, uint64_t now_ms,
                         ward_buf *out);

#endif
