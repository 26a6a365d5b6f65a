/* The signed regional indicator feed and its exports (see include/ward/feed.h). */
#include "ward/feed.h"

#include "ward/diag.h"
#include "ward/wire.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* the smallest entry: four empty strings' lengths, three times, norgs */
#define ENTRY_MIN (4 * 2 + 3 * 8 + 4)
#define DOC_HDR (2 + 8 + 8 + 4)
/* 2^32 ms: the longest element timeout every kernel and nft version takes (later ones
 * take more); a feed is exported again long before */
#define NFT_TIMEOUT_MAX 4294967u

/* A string the feed can carry: at most WARD_FEED_MAX_STRING bytes, no control
 * characters (NUL included: agents and exports use them as C strings and lines). */
static int string_ok(const uint8_t *s, size_t n) {
    if (n > WARD_FEED_MAX_STRING)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static int put_str(ward_buf *out, const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (!string_ok((const uint8_t *)s, n))
        return -1;
    ward_wire_put_u16(out, (uint16_t)n);
    ward_buf_put(out, s, n);
    return 0;
}

int ward_feed_encode(const ward_feed *f, const ward_key *k, ward_buf *out) {
    uint8_t sig[WARD_SIG_LEN];
    size_t start = out->len;
    if (f->n > WARD_FEED_MAX_ENTRIES || (f->n && !f->v))
        return -1;
    ward_wire_put_u16(out, WARD_FEED_VERSION);
    ward_wire_put_u64(out, f->version);
    ward_wire_put_u64(out, f->generated_ms);
    ward_wire_put_u32(out, (uint32_t)f->n);
    for (size_t i = 0; i < f->n; i++) {
        const ward_feed_entry *e = &f->v[i];
        if (!e->value || !*e->value || put_str(out, e->value) != 0 || put_str(out, e->field) != 0 ||
            put_str(out, e->regional_id) != 0 || put_str(out, e->rules) != 0)
            goto fail;
        ward_wire_put_u64(out, e->first_ms);
        ward_wire_put_u64(out, e->last_ms);
        ward_wire_put_u64(out, e->expires_ms);
        ward_wire_put_u32(out, e->norgs);
    }
    if (out->oom ||
        ward_crypto_sign(k, (const uint8_t *)out->p + start, out->len - start, sig) != 0)
        goto fail;
    if (ward_buf_put(out, sig, sizeof(sig)) != 0)
        goto fail;
    return 0;
fail:
    if (out->len > start)
        out->len = start;
    return -1;
}

/* Reads one string of entry i into a new C string (*s). Returns 0 or -1 with err. */
static int get_str(ward_wire_cur *c, size_t i, const char *what, char **s, char *err,
                   size_t errlen) {
    uint16_t n;
    const uint8_t *p;
    if (ward_wire_get_u16(c, &n) != 0 || ward_wire_get_bytes(c, n, &p) != 0) {
        ward_errf(err, errlen, "feed: entry %zu: the document ends inside its %s", i + 1, what);
        return -1;
    }
    if (n > WARD_FEED_MAX_STRING) {
        ward_errf(err, errlen, "feed: entry %zu: %s of %u bytes over the limit of %d", i + 1, what,
                  n, WARD_FEED_MAX_STRING);
        return -1;
    }
    if (!string_ok(p, n)) {
        ward_errf(err, errlen, "feed: entry %zu: %s holds a NUL or control character", i + 1, what);
        return -1;
    }
    *s = malloc((size_t)n + 1);
    if (!*s) {
        ward_errf(err, errlen, "feed: out of memory");
        return -1;
    }
    memcpy(*s, p, n);
    (*s)[n] = '\0';
    return 0;
}

int ward_feed_parse(const uint8_t *p, size_t len, const ward_key *collector_key, ward_feed *out,
                    char *err, size_t errlen) {
    ward_wire_cur c;
    uint16_t version = 0;
    uint32_t n = 0;
    memset(out, 0, sizeof(*out));
    if (len < DOC_HDR + WARD_SIG_LEN) {
        ward_errf(err, errlen, "feed: a document of %zu bytes is too short to be one", len);
        return -1;
    }
    /* the signature before anything is decoded */
    size_t body = len - WARD_SIG_LEN;
    int v = ward_crypto_verify(collector_key, p, body, p + body);
    if (v != 1) {
        ward_errf(err, errlen, "feed: %s",
                  v == 0 ? "bad signature (not signed by the collector's key)"
                         : "the signature cannot be checked");
        return -1;
    }
    ward_wire_cur_init(&c, p, body);
    ward_wire_get_u16(&c, &version);
    if (version != WARD_FEED_VERSION) {
        ward_errf(err, errlen, "feed: version %u unsupported (this end reads %d)", version,
                  WARD_FEED_VERSION);
        return -1;
    }
    ward_wire_get_u64(&c, &out->version);
    ward_wire_get_u64(&c, &out->generated_ms);
    ward_wire_get_u32(&c, &n);
    if (n > WARD_FEED_MAX_ENTRIES) {
        ward_errf(err, errlen, "feed: %" PRIu32 " entries over the limit of %d", n,
                  WARD_FEED_MAX_ENTRIES);
        goto fail;
    }
    if ((uint64_t)n * ENTRY_MIN > body - c.at) {
        ward_errf(err, errlen, "feed: %" PRIu32 " entries cannot fit in %zu bytes", n, body - c.at);
        goto fail;
    }
    if (n) {
        out->v = calloc(n, sizeof(*out->v));
        if (!out->v) {
            ward_errf(err, errlen, "feed: out of memory for %" PRIu32 " entries", n);
            goto fail;
        }
    }
    for (size_t i = 0; i < n; i++) {
        ward_feed_entry *e = &out->v[i];
        out->n = i + 1; /* what fini frees */
        if (get_str(&c, i, "value", &e->value, err, errlen) != 0 ||
            get_str(&c, i, "field", &e->field, err, errlen) != 0 ||
            get_str(&c, i, "regional id", &e->regional_id, err, errlen) != 0 ||
            get_str(&c, i, "rules", &e->rules, err, errlen) != 0)
            goto fail;
        if (!*e->value) {
            ward_errf(err, errlen, "feed: entry %zu: empty value", i + 1);
            goto fail;
        }
        ward_wire_get_u64(&c, &e->first_ms);
        ward_wire_get_u64(&c, &e->last_ms);
        ward_wire_get_u64(&c, &e->expires_ms);
        if (ward_wire_get_u32(&c, &e->norgs) != 0) {
            ward_errf(err, errlen, "feed: entry %zu: the document ends inside its times", i + 1);
            goto fail;
        }
    }
    if (ward_wire_cur_end(&c) != 0) {
        ward_errf(err, errlen, "feed: %zu bytes after its %" PRIu32 " entries", body - c.at, n);
        goto fail;
    }
    return 0;
fail:
    ward_feed_fini(out);
    return -1;
}

void ward_feed_fini(ward_feed *f) {
    for (size_t i = 0; f->v && i < f->n; i++) {
        free(f->v[i].value);
        free(f->v[i].field);
        free(f->v[i].regional_id);
        free(f->v[i].rules);
    }
    free(f->v);
    memset(f, 0, sizeof(*f));
}

int ward_feed_export_list(const ward_feed *f, ward_buf *out) {
    size_t start = out->len;
    for (size_t i = 0; i < f->n; i++) {
        const char *v = f->v[i].value ? f->v[i].value : "";
        if (!*v || !string_ok((const uint8_t *)v, strlen(v)))
            continue; /* parse refuses both: only a hand-made feed has them */
        ward_buf_put(out, v, strlen(v));
        ward_buf_putc(out, '\n');
    }
    if (out->oom) {
        out->len = start;
        return -1;
    }
    return 0;
}

/* ---- nftables ---- */

typedef struct addr {
    int v6;
    uint8_t b[16];
    uint64_t secs; /* timeout */
    size_t at;     /* position in the feed */
} addr;

static int addr_cmp(const void *x, const void *y) {
    const addr *a = x, *b = y;
    if (a->v6 != b->v6)
        return a->v6 - b->v6;
    int c = memcmp(a->b, b->b, 16);
    if (c)
        return c;
    return a->at < b->at ? -1 : a->at > b->at;
}

static int at_cmp(const void *x, const void *y) {
    const addr *a = x, *b = y;
    return a->at < b->at ? -1 : a->at > b->at;
}

/* An nft identifier: a letter or _, then letters, digits, _ (at most 64). */
static int nft_ident(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64)
        return 0;
    char c = s[0];
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

/* Parses an address; an IPv4-mapped IPv6 address counts as the IPv4 one. */
static int parse_addr(const char *s, addr *a) {
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(a->b, 0, sizeof(a->b));
    if (inet_pton(AF_INET, s, a->b) == 1) {
        a->v6 = 0;
        return 0;
    }
    if (inet_pton(AF_INET6, s, a->b) != 1)
        return -1;
    if (memcmp(a->b, mapped, 12) == 0) {
        memmove(a->b, a->b + 12, 4);
        memset(a->b + 4, 0, 12);
        a->v6 = 0;
    } else {
        a->v6 = 1;
    }
    return 0;
}

int ward_feed_export_nft(const ward_feed *f, const char *table, const char *name, uint64_t now_ms,
                         ward_buf *out) {
    if (!nft_ident(table) || !nft_ident(name) || strlen(name) > 60)
        return -1;
    size_t start = out->len, n = 0, skipped = 0, expired = 0, n4 = 0, n6 = 0;
    addr *v = f->n ? calloc(f->n, sizeof(*v)) : NULL;
    if (f->n && !v)
        return -1;
    for (size_t i = 0; i < f->n; i++) {
        const ward_feed_entry *e = &f->v[i];
        if (!e->value || parse_addr(e->value, &v[n]) != 0) {
            skipped++;
            continue;
        }
        if (e->expires_ms <= now_ms) {
            expired++;
            continue;
        }
        /* whole seconds, rounded up: the element lives until at least its expiry */
        v[n].secs = (e->expires_ms - now_ms + 999) / 1000;
        if (v[n].secs > NFT_TIMEOUT_MAX)
            v[n].secs = NFT_TIMEOUT_MAX;
        v[n].at = i;
        n++;
    }
    /* one element per address, with the latest expiry, in feed order */
    if (n)
        qsort(v, n, sizeof(*v), addr_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && v[m - 1].v6 == v[i].v6 && memcmp(v[m - 1].b, v[i].b, 16) == 0) {
            if (v[i].secs > v[m - 1].secs)
                v[m - 1].secs = v[i].secs;
            continue;
        }
        v[m++] = v[i];
    }
    if (m)
        qsort(v, m, sizeof(*v), at_cmp);
    for (size_t i = 0; i < m; i++)
        *(v[i].v6 ? &n6 : &n4) += 1;

    ward_buf_printf(out,
                    "# ward regional feed version %" PRIu64 ": %zu IPv4 and %zu IPv6 addresses; "
                    "left out: %zu values that are not addresses, %zu expired\n",
                    f->version, n4, n6, skipped, expired);
    ward_buf_printf(out,
                    "table inet %s {\n"
                    "\tset %s4 {\n\t\ttype ipv4_addr\n\t\tflags timeout\n\t}\n"
                    "\tset %s6 {\n\t\ttype ipv6_addr\n\t\tflags timeout\n\t}\n"
                    "}\n"
                    "flush set inet %s %s4\n"
                    "flush set inet %s %s6\n",
                    table, name, name, table, name, table, name);
    for (size_t i = 0; i < m; i++) {
        char text[INET6_ADDRSTRLEN];
        inet_ntop(v[i].v6 ? AF_INET6 : AF_INET, v[i].b, text, sizeof(text));
        ward_buf_printf(out, "add element inet %s %s%c { %s timeout %" PRIu64 "s }\n", table, name,
                        v[i].v6 ? '6' : '4', text, v[i].secs);
    }
    free(v);
    if (out->oom) {
        out->len = start;
        return -1;
    }
    return 0;
}
