/* The regional indicator feed: what the collector publishes and every agent loads.
 * document: u16 version | u64 feed_version | u64 generated_ms | u32 n | n entries |
 *           sig[64] (the collector's Ed25519 signature over every byte before it)
 * entry:    u16 len value | u16 len field | u16 len regional_id | u16 len rules |
 *           u64 first_ms | u64 last_ms | u64 expires_ms | u32 norgs
 * Strings are UTF-8 without NUL bytes or other control characters (< 0x20, 0x7f);
 * values are not empty; rules is a comma-separated list of rule ids.
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
 * Returns 0, or -1 with nothing appended (no memory, more than WARD_FEED_MAX_ENTRIES, an
 * empty value, a string over WARD_FEED_MAX_STRING or with a control character, signing
 * failed). NULL strings other than value are sent empty. */
int ward_feed_encode(const ward_feed *f, const ward_key *k, ward_buf *out);

/* Verifies the signature with the collector's public key before anything else, then
 * decodes p into out (caller's storage, zeroed or finished; owns the strings after).
 * Refuses a bad signature, an unknown version, more than WARD_FEED_MAX_ENTRIES entries,
 * strings with NUL bytes or control characters or over the limit, an empty value, and
 * trailing bytes. Returns 0, or -1 with err naming what is wrong and out empty. */
int ward_feed_parse(const uint8_t *p, size_t len, const ward_key *collector_key, ward_feed *out,
                    char *err, size_t errlen);

/* Frees what f owns and empties it. */
void ward_feed_fini(ward_feed *f);

/* One indicator value per line, in the feed's order. Returns 0 or -1. */
int ward_feed_export_list(const ward_feed *f, ward_buf *out);

/* An nftables script (for nft -f) that defines (flushing first) the sets NAME4
 * (ipv4_addr) and NAME6 (ipv6_addr) with flags timeout in table inet TABLE, and adds the
 * feed's addresses, each once with a timeout until its latest expiry (whole seconds
 * rounded up, at most 2^32 ms); IPv4-mapped IPv6 addresses go to NAME4. Values that are
 * not addresses (inet_pton) and entries expired at now_ms are left out, counted in the
 * script's first line, a comment. table and name are nft identifiers ([A-Za-z_]
 * [A-Za-z0-9_]*, at most 64 and 60 characters). Returns 0 or -1 (a bad identifier, no
 * memory). */
int ward_feed_export_nft(const ward_feed *f, const char *table, const char *name, uint64_t now_ms,
                         ward_buf *out);

#endif
