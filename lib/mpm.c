/* The multi-literal matcher.
 *
 * Design: a hashed filter, then a check of the few literals it names. Scanning does not
 * run an Aho-Corasick automaton byte by byte (a dependent table load per byte): for
 * every position it looks up the four bytes there in a hashed table (2^15 entries).
 * Each literal of four bytes or more has an anchor: the four consecutive bytes, anywhere
 * in it, that look rarest in log text (no blanks if possible: " fai" is everywhere,
 * "cati" in "authentication" much less so). The table entry of the anchor's hash names
 * a bucket: the literals whose anchors hash there, each with its anchor and offset. A
 * hit at position p compares the four bytes there with each anchor of the bucket, and
 * for the literals whose anchor it is, their first eight bytes (one masked 64-bit
 * compare) and then all of them, starting at p minus the offset. Each literal has one
 * anchor, so each occurrence is reported exactly once. Literals of two or three bytes
 * are found on three bytes, in a second table, always anchored at their start, by a walk
 * of a trie of all the literals (its nodes keep their children in one sorted edge array;
 * the root has a dense 256-entry table). The bytes are folded with `| 0x20`, a coarser
 * map than ASCII case folding (it also merges '@' with '`' and so on), so one entry
 * covers every case variant and the input needs no table look-up; the final compare is
 * the exact caseless one. Every occurrence has its anchor in the buffer and every anchor
 * is in the table, so nothing is missed; false hits only cost a compare. Two-byte
 * literals are entered under all 256 third bytes; one-byte literals switch the filter
 * off (every position is walked from the root table). */
#include "ward/mpm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILTER_BITS 15
#define SHORT_DEPTH 3 /* walks for the literals of two or three bytes go no deeper */
#define ANY_DEPTH 0   /* a walk to the end of the trie (one-byte literals: every position) */
#define HASH_MUL 0x9E3779B1u
#define FOLD3 0x202020u

typedef struct mpm_lit {
    uint8_t *s; /* lowercased copy */
    uint32_t len;
    uint32_t id;
    uint32_t anchor;
} mpm_lit;

/* A literal of four bytes or more, as the scan checks it where its anchor was seen. */
typedef struct mpm_long {
    uint64_t pre;     /* its first bytes (up to eight), folded with | 0x20 */
    uint64_t mask;    /* which bytes of pre count */
    const uint8_t *s; /* the lowercased literal (owned by lits) */
    uint32_t key;     /* its anchor, folded */
    uint32_t len;
    uint32_t id;
    uint32_t off; /* where the anchor starts in it */
} mpm_long;

typedef struct mpm_node {
    uint32_t edge0; /* first edge in ec/echild */
    uint32_t nedge;
    uint32_t out0; /* first id in outs */
    uint32_t nout;
} mpm_node;

struct ward_mpm {
    int compiled;
    mpm_lit *lits;
    size_t nlits, caplits;
    /* Compiled form. */
    int every_pos;     /* a one-byte literal exists: the filter would pass everything */
    int has_short;     /* a literal of two or three bytes exists: filter is in use */
    uint8_t *filter;   /* 1: a literal of 2 or 3 bytes starts with these 3 bytes */
    uint16_t *filter4; /* 0, or 1 + the bucket of the long literals whose anchor hashes
                        * here */
    uint32_t *bstart;  /* nbuckets + 1 offsets into longs */
    mpm_long *longs;   /* the literals of four bytes or more, bucket by bucket */
    size_t nlongs, nbuckets;
    uint32_t root[256]; /* child of the root for a lowercased byte; 0 = none */
    mpm_node *nodes;
    size_t nnodes;
    uint8_t *ec; /* edge bytes, sorted within a node */
    uint32_t *echild;
    uint32_t *outs;
    size_t mem;
};

static const uint8_t *lower_table(void) {
    static const uint8_t t[256] = {
#define R(x) (uint8_t)((x) >= 'A' && (x) <= 'Z' ? (x) + 32 : (x))
#define R4(x) R(x), R((x) + 1), R((x) + 2), R((x) + 3)
#define R16(x) R4(x), R4((x) + 4), R4((x) + 8), R4((x) + 12)
#define R64(x) R16(x), R16((x) + 16), R16((x) + 32), R16((x) + 48)
        R64(0), R64(64), R64(128), R64(192)
#undef R64
#undef R16
#undef R4
#undef R
    };
    return t;
}

ward_mpm *ward_mpm_new(void) {
    return calloc(1, sizeof(ward_mpm));
}

void ward_mpm_free(ward_mpm *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->nlits; i++)
        free(m->lits[i].s);
    free(m->lits);
    free(m->filter);
    free(m->filter4);
    free(m->bstart);
    free(m->longs);
    free(m->nodes);
    free(m->ec);
    free(m->echild);
    free(m->outs);
    free(m);
}

int ward_mpm_add(ward_mpm *m, const uint8_t *lit, size_t len, uint32_t id) {
    if (!m || !lit || len == 0 || len > WARD_MPM_MAX_LIT || m->compiled)
        return -1;
    /* Node indices are uint32_t: keep the total well below that. */
    if (m->nlits >= (UINT32_MAX / WARD_MPM_MAX_LIT) / 2)
        return -1;
    if (m->nlits == m->caplits) {
        size_t cap = m->caplits ? m->caplits * 2 : 64;
        mpm_lit *v = realloc(m->lits, cap * sizeof(*v));
        if (!v)
            return -1;
        m->lits = v;
        m->caplits = cap;
    }
    uint8_t *s = malloc(len);
    if (!s)
        return -1;
    const uint8_t *lo = lower_table();
    for (size_t i = 0; i < len; i++)
        s[i] = lo[lit[i]];
    m->lits[m->nlits].s = s;
    m->lits[m->nlits].len = (uint32_t)len;
    m->lits[m->nlits].id = id;
    m->lits[m->nlits].anchor = 0;
    m->nlits++;
    return 0;
}

static uint32_t filter_hash(uint32_t key3) {
    return ((key3 | FOLD3) * HASH_MUL) >> (32 - FILTER_BITS);
}

static void filter_set(uint8_t *f, uint8_t a, uint8_t b, uint8_t c) {
    f[filter_hash((uint32_t)a | (uint32_t)b << 8 | (uint32_t)c << 16)] = 1;
}

#define FOLD4 0x20202020u
#define HASH_MUL4 0x85EBCA77u

static uint32_t filter4_hash(uint32_t key4) {
    return ((key4 | FOLD4) * HASH_MUL4) >> (32 - FILTER_BITS);
}

int ward_mpm_rarity(uint8_t c) {
    c = lower_table()[c];
    if (c == ' ' || c == '\t')
        return 0;
    if (c >= '0' && c <= '9')
        return 2;
    if (c && strchr(".:/-_,=", c))
        return 3;
    if (c >= 'a' && c <= 'z')
        return strchr("etaoinsrlcdu", c) ? 5 : WARD_MPM_RARITY_MAX;
    return 6;
}

/* The rarest four bytes of a literal of four or more, anywhere in it. */
static uint32_t choose_anchor(const mpm_lit *l) {
    uint32_t best = 0;
    int best_w = -1;
    for (uint32_t k = 0; k + 4 <= l->len; k++) {
        int w = ward_mpm_rarity(l->s[k]) + ward_mpm_rarity(l->s[k + 1]) +
                ward_mpm_rarity(l->s[k + 2]) + ward_mpm_rarity(l->s[k + 3]);
        if (w > best_w) {
            best_w = w;
            best = k;
        }
    }
    return best;
}

static uint32_t long_slot(const mpm_long *l) {
    return filter4_hash(l->key);
}

static int long_cmp(const void *a, const void *b) {
    const mpm_long *x = a, *y = b;
    uint32_t sx = long_slot(x), sy = long_slot(y);
    if (sx != sy)
        return sx < sy ? -1 : 1;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Fills filter4 and the buckets from the anchors of the long literals. Returns 0 or -1. */
static int build_buckets(ward_mpm *m) {
    m->longs = malloc((m->nlits ? m->nlits : 1) * sizeof(*m->longs));
    if (!m->longs)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < m->nlits; i++) {
        const mpm_lit *l = &m->lits[i];
        if (l->len < 4)
            continue;
        mpm_long *d = &m->longs[n++];
        const uint8_t *a = l->s + l->anchor;
        d->key =
            ((uint32_t)a[0] | (uint32_t)a[1] << 8 | (uint32_t)a[2] << 16 | (uint32_t)a[3] << 24) |
            FOLD4;
        d->pre = d->mask = 0;
        for (uint32_t k = 0; k < l->len && k < 8; k++) {
            d->pre |= (uint64_t)(l->s[k] | 0x20) << (8 * k);
            d->mask |= (uint64_t)0xFF << (8 * k);
        }
        d->s = l->s;
        d->len = l->len;
        d->id = l->id;
        d->off = l->anchor;
    }
    m->nlongs = n;
    qsort(m->longs, n, sizeof(*m->longs), long_cmp);
    m->bstart = malloc((n + 1) * sizeof(*m->bstart));
    if (!m->bstart)
        return -1;
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t slot = long_slot(&m->longs[i]);
        if (i == 0 || slot != long_slot(&m->longs[i - 1])) {
            /* at most 2^FILTER_BITS slots, so bucket numbers fit 16 bits */
            m->bstart[nb++] = (uint32_t)i;
            m->filter4[slot] = (uint16_t)nb;
        }
    }
    m->bstart[nb] = (uint32_t)n;
    m->nbuckets = nb;
    return 0;
}

/* Builds the trie with sibling lists first, then lays the edges out node by node. */
int ward_mpm_compile(ward_mpm *m, char *err, size_t errlen) {
    uint32_t *first = NULL, *next = NULL, *nout = NULL;
    uint8_t *byte = NULL;
    uint32_t *endnode = NULL;
    if (!m || m->compiled) {
        snprintf(err, errlen, "mpm: %s", m ? "already compiled" : "no matcher");
        return -1;
    }
    size_t total = 1;
    for (size_t i = 0; i < m->nlits; i++)
        total += m->lits[i].len;
    first = malloc(total * sizeof(*first));
    next = malloc(total * sizeof(*next));
    nout = calloc(total, sizeof(*nout));
    byte = malloc(total);
    endnode = malloc((m->nlits ? m->nlits : 1) * sizeof(*endnode));
    m->filter = calloc((size_t)1 << FILTER_BITS, 1);
    m->filter4 = calloc((size_t)1 << FILTER_BITS, sizeof(*m->filter4));
    if (!first || !next || !nout || !byte || !endnode || !m->filter || !m->filter4)
        goto oom;
    size_t nn = 1;
    first[0] = 0;
    next[0] = 0;
    byte[0] = 0;
    for (size_t i = 0; i < m->nlits; i++) {
        const mpm_lit *l = &m->lits[i];
        uint32_t n = 0;
        for (uint32_t k = 0; k < l->len; k++) {
            uint32_t c = first[n];
            while (c && byte[c] != l->s[k])
                c = next[c];
            if (!c) {
                c = (uint32_t)nn++;
                byte[c] = l->s[k];
                first[c] = 0;
                next[c] = first[n];
                first[n] = c;
            }
            n = c;
        }
        endnode[i] = n;
        nout[n]++;
        if (l->len == 1)
            m->every_pos = 1;
        else if (l->len == 2) {
            m->has_short = 1;
            for (unsigned x = 0; x < 256; x++)
                filter_set(m->filter, l->s[0], l->s[1], (uint8_t)x);
        } else if (l->len == 3) {
            m->has_short = 1;
            filter_set(m->filter, l->s[0], l->s[1], l->s[2]);
        } else {
            m->lits[i].anchor = choose_anchor(l);
        }
    }
    if (build_buckets(m) < 0)
        goto oom;
    m->nnodes = nn;
    m->nodes = calloc(nn, sizeof(*m->nodes));
    m->ec = malloc(nn);
    m->echild = malloc(nn * sizeof(*m->echild));
    m->outs = malloc((m->nlits ? m->nlits : 1) * sizeof(*m->outs));
    if (!m->nodes || !m->ec || !m->echild || !m->outs)
        goto oom;
    /* Edges: node by node, each node's children sorted by byte (insertion sort; lists
     * are short except at the root, which also gets the dense table). */
    uint32_t ne = 0, no = 0;
    for (size_t n = 0; n < nn; n++) {
        mpm_node *d = &m->nodes[n];
        d->edge0 = ne;
        for (uint32_t c = first[n]; c; c = next[c]) {
            uint32_t k = ne++;
            while (k > d->edge0 && m->ec[k - 1] > byte[c]) {
                m->ec[k] = m->ec[k - 1];
                m->echild[k] = m->echild[k - 1];
                k--;
            }
            m->ec[k] = byte[c];
            m->echild[k] = c;
        }
        d->nedge = ne - d->edge0;
        d->out0 = no;
        no += nout[n];
        nout[n] = d->out0; /* reused as the fill cursor below */
    }
    for (size_t i = 0; i < m->nlits; i++) {
        m->outs[nout[endnode[i]]++] = m->lits[i].id;
    }
    for (size_t n = 0; n < nn; n++)
        m->nodes[n].nout = 0;
    for (size_t i = 0; i < m->nlits; i++)
        m->nodes[endnode[i]].nout++;
    memset(m->root, 0, sizeof(m->root));
    const uint8_t *lo = lower_table();
    for (uint32_t e = 0; e < m->nodes[0].nedge; e++) {
        uint8_t b = m->ec[e];
        for (unsigned x = 0; x < 256; x++)
            if (lo[x] == b)
                m->root[x] = m->echild[e];
    }
    size_t bytes = 0;
    for (size_t i = 0; i < m->nlits; i++)
        bytes += m->lits[i].len;
    /* filter (1 byte) and filter4 (2) per slot; bstart as allocated; a node's edge byte
     * and child; each literal, its copy and its entry in outs; the long ones' entries */
    m->mem = sizeof(*m) + ((size_t)3 << FILTER_BITS) + (m->nlongs + 1) * sizeof(uint32_t) +
             nn * (sizeof(mpm_node) + 1 + 4) + m->nlits * (sizeof(mpm_lit) + 4) +
             m->nlongs * sizeof(mpm_long) + bytes;
    m->compiled = 1;
    free(first);
    free(next);
    free(nout);
    free(byte);
    free(endnode);
    return 0;
oom:
    snprintf(err, errlen, "mpm: out of memory compiling %zu literals", m->nlits);
    free(first);
    free(next);
    free(nout);
    free(byte);
    free(endnode);
    return -1;
}

static uint32_t child_of(const ward_mpm *m, const mpm_node *d, uint8_t b) {
    const uint8_t *ec = m->ec + d->edge0;
    uint32_t lo = 0, hi = d->nedge;
    if (hi <= 8) {
        for (uint32_t k = 0; k < hi; k++)
            if (ec[k] == b)
                return m->echild[d->edge0 + k];
        return 0;
    }
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (ec[mid] < b)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->nedge && ec[lo] == b ? m->echild[d->edge0 + lo] : 0;
}

/* Walks the trie from position i, at most depth bytes deep (ANY_DEPTH: to its end);
 * reports every literal that starts there and ends on the way. Returns -reports - 1 when
 * the callback asked to stop, else the number of reports. */
static long walk(const ward_mpm *m, const uint8_t *buf, size_t len, size_t i, size_t depth,
                 ward_mpm_match_fn fn, void *ctx) {
    const uint8_t *lo = lower_table();
    uint32_t n = m->root[buf[i]];
    long reports = 0;
    size_t j = i + 1;
    while (n) {
        const mpm_node *d = &m->nodes[n];
        for (uint32_t k = 0; k < d->nout; k++) {
            reports++;
            if (fn && fn(m->outs[d->out0 + k], j, ctx))
                return -reports - 1;
        }
        if (j == len || d->nedge == 0 || j - i == depth)
            break;
        n = child_of(m, d, lo[buf[j]]);
        j++;
    }
    return reports;
}

static uint64_t load64(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

static uint32_t load32(const uint8_t *p) {
    uint32_t w;
    memcpy(&w, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap32(w);
#endif
    return w;
}

static unsigned filter_get(const uint8_t *f, uint64_t w) {
    return f[filter_hash((uint32_t)w & 0xFFFFFFu)];
}

static unsigned filter4_get(const uint16_t *f4, uint64_t w) {
    return f4[filter4_hash((uint32_t)w)];
}

#define FOLD8 0x2020202020202020ull

/* Whether long literal l starts at x, with n bytes left in the buffer (n >= l->len). */
static int long_at(const mpm_long *l, const uint8_t *x, size_t n) {
    /* the masked compare rejects most at once; near the end of the buffer, where eight
     * bytes cannot be loaded, the exact compare alone decides */
    if (n >= 8 && ((load64(x) | FOLD8) & l->mask) != l->pre)
        return 0;
    const uint8_t *lo = lower_table();
    for (uint32_t k = 0; k < l->len; k++)
        if (lo[x[k]] != l->s[k])
            return 0;
    return 1;
}

/* Checks every start position a hit at p implies: the short literals at p (s), walking
 * the trie; the long literals of bucket b whose anchor is the four bytes at p, at p
 * minus the offset of their anchor. */
#define WALK_AT(p, s, b)                                                                           \
    do {                                                                                           \
        if (s) {                                                                                   \
            if ((r = walk(m, buf, len, (p), SHORT_DEPTH, fn, ctx)) < 0)                            \
                return reports + (size_t)(-r - 1);                                                 \
            reports += (size_t)r;                                                                  \
        }                                                                                          \
        if (b) {                                                                                   \
            uint32_t a_ = load32(buf + (p)) | FOLD4;                                               \
            for (uint32_t q_ = m->bstart[(b)-1]; q_ < m->bstart[(b)]; q_++) {                      \
                const mpm_long *l_ = &m->longs[q_];                                                \
                if (l_->key != a_ || l_->off > (p) || (p)-l_->off + l_->len > len ||               \
                    !long_at(l_, buf + (p)-l_->off, len - ((p)-l_->off)))                          \
                    continue;                                                                      \
                reports++;                                                                         \
                if (fn && fn(l_->id, (p)-l_->off + l_->len, ctx))                                  \
                    return reports;                                                                \
            }                                                                                      \
        }                                                                                          \
    } while (0)

size_t ward_mpm_scan(const ward_mpm *m, const uint8_t *buf, size_t len, ward_mpm_match_fn fn,
                     void *ctx) {
    size_t reports = 0;
    size_t i = 0;
    long r;
    if (!m || !m->compiled || !buf || m->nlits == 0)
        return 0;
    if (m->every_pos) {
        for (; i < len; i++) {
            if (!m->root[buf[i]])
                continue;
            if ((r = walk(m, buf, len, i, ANY_DEPTH, fn, ctx)) < 0)
                return reports + (size_t)(-r - 1);
            reports += (size_t)r;
        }
        return reports;
    }
    const uint8_t *f = m->filter;
    const uint16_t *f4 = m->filter4;
    int sh = m->has_short;
    /* Five positions per eight bytes loaded: each needs four of them. */
    while (i + 8 <= len) {
        uint64_t w = load64(buf + i);
        unsigned b0 = filter4_get(f4, w), b1 = filter4_get(f4, w >> 8),
                 b2 = filter4_get(f4, w >> 16), b3 = filter4_get(f4, w >> 24),
                 b4 = filter4_get(f4, w >> 32);
        unsigned s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0;
        if (sh) {
            s0 = filter_get(f, w);
            s1 = filter_get(f, w >> 8);
            s2 = filter_get(f, w >> 16);
            s3 = filter_get(f, w >> 24);
            s4 = filter_get(f, w >> 32);
        }
        if (b0 | b1 | b2 | b3 | b4 | s0 | s1 | s2 | s3 | s4) {
            WALK_AT(i, s0, b0);
            WALK_AT(i + 1, s1, b1);
            WALK_AT(i + 2, s2, b2);
            WALK_AT(i + 3, s3, b3);
            WALK_AT(i + 4, s4, b4);
        }
        i += 5;
    }
    for (; i < len; i++) {
        if (i + 3 <= len) {
            uint32_t key =
                (uint32_t)buf[i] | (uint32_t)buf[i + 1] << 8 | (uint32_t)buf[i + 2] << 16;
            unsigned sb = sh ? f[filter_hash(key)] : 0;
            unsigned bb = i + 4 <= len ? f4[filter4_hash(key | (uint32_t)buf[i + 3] << 24)] : 0;
            WALK_AT(i, sb, bb);
        } else if (sh && m->root[buf[i]]) {
            /* Too near the end for three bytes: only two-byte literals. */
            if ((r = walk(m, buf, len, i, SHORT_DEPTH, fn, ctx)) < 0)
                return reports + (size_t)(-r - 1);
            reports += (size_t)r;
        }
    }
    return reports;
}

size_t ward_mpm_count(const ward_mpm *m) {
    return m ? m->nlits : 0;
}

size_t ward_mpm_memory(const ward_mpm *m) {
    return m ? m->mem : 0;
}
