/* The multi-literal matcher.
 *
 * Design: a filter, then a trie walk. All literals go, ASCII-lowercased, into a trie
 * whose nodes keep their children in one sorted edge array (CSR) and whose root has a
 * dense 256-entry table. Scanning does not run an Aho-Corasick automaton byte by byte
 * (a dependent table load per byte, ~600 MB/s at best): for every position it looks up
 * the three bytes there in a hashed table (2^15 bytes, stays in L1). Each literal has an
 * anchor: the three consecutive bytes, at offset 0..7, that look rarest in log text (no
 * spaces if possible: " fa" is everywhere, "ail" much less so). The table byte of the
 * anchor's hash has bit k set for a literal anchored at offset k, so a hit at position p
 * with bit k means a literal may start at p - k: the trie is walked from there and the
 * literals anchored at k that end on the way are reported (each occurrence exactly once).
 * The three bytes are folded with `| 0x20`, a coarser map than ASCII case folding (it
 * also merges '@' with '`' and so on), so one entry covers every case variant and the
 * input needs no table look-up. Eight input bytes are loaded at once and six positions
 * tested without branches. Every occurrence has its anchor in the buffer and every
 * anchor's bit is set, so nothing is missed; false hits only cost a walk. Two-byte
 * literals are anchored at 0 under all 256 third bytes; one-byte literals switch the
 * filter off (every position is walked from the root table). */
#include "ward/mpm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILTER_BITS 15
#define MAX_ANCHOR 7
#define HASH_MUL 0x9E3779B1u
#define FOLD3 0x202020u

typedef struct mpm_lit {
    uint8_t *s; /* lowercased copy */
    uint32_t len;
    uint32_t id;
    uint32_t anchor;
} mpm_lit;

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
    int every_pos;      /* a one-byte literal exists: the filter would pass everything */
    uint8_t *filter;    /* bit k: a literal anchored at offset k hashes here */
    uint32_t root[256]; /* child of the root for a lowercased byte; 0 = none */
    mpm_node *nodes;
    size_t nnodes;
    uint8_t *ec; /* edge bytes, sorted within a node */
    uint32_t *echild;
    uint32_t *outs;
    uint8_t *oanchor; /* anchor offset of each entry of outs */
    size_t mem;
};

static const uint8_t *lower_table(void) {
    static const uint8_t t[256] = {
#define R(x) (uint8_t)((x) >= 'A' && (x) <= 'Z' ? (x) + 32 : (x))
#define R4(x) R(x), R(x + 1), R(x + 2), R(x + 3)
#define R16(x) R4(x), R4(x + 4), R4(x + 8), R4(x + 12)
#define R64(x) R16(x), R16(x + 16), R16(x + 32), R16(x + 48)
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
    free(m->nodes);
    free(m->ec);
    free(m->echild);
    free(m->outs);
    free(m->oanchor);
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

static void filter_set(uint8_t *f, uint8_t a, uint8_t b, uint8_t c, uint32_t anchor) {
    f[filter_hash((uint32_t)a | (uint32_t)b << 8 | (uint32_t)c << 16)] |= (uint8_t)(1u << anchor);
}

/* How much three bytes narrow the search in log text (a guess, not a measurement of
 * the data): spaces are everywhere, digits and common punctuation nearly so. */
static int rarity(uint8_t c) {
    if (c == ' ')
        return 0;
    if (c >= '0' && c <= '9')
        return 2;
    if (strchr(".:/-_,=", c))
        return 3;
    if (c >= 'a' && c <= 'z')
        return strchr("etaoinsrlcdu", c) ? 5 : 7;
    return 6;
}

static uint32_t choose_anchor(const mpm_lit *l) {
    uint32_t best = 0;
    int best_w = -1;
    for (uint32_t k = 0; k + 3 <= l->len && k <= MAX_ANCHOR; k++) {
        int w = rarity(l->s[k]) + rarity(l->s[k + 1]) + rarity(l->s[k + 2]);
        if (w > best_w) {
            best_w = w;
            best = k;
        }
    }
    return best;
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
    if (!first || !next || !nout || !byte || !endnode || !m->filter)
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
        else if (l->len == 2)
            for (unsigned x = 0; x < 256; x++)
                filter_set(m->filter, l->s[0], l->s[1], (uint8_t)x, 0);
        else {
            m->lits[i].anchor = choose_anchor(l);
            const uint8_t *a = l->s + m->lits[i].anchor;
            filter_set(m->filter, a[0], a[1], a[2], m->lits[i].anchor);
        }
    }
    m->nnodes = nn;
    m->nodes = calloc(nn, sizeof(*m->nodes));
    m->ec = malloc(nn);
    m->echild = malloc(nn * sizeof(*m->echild));
    m->outs = malloc((m->nlits ? m->nlits : 1) * sizeof(*m->outs));
    m->oanchor = malloc(m->nlits ? m->nlits : 1);
    if (!m->nodes || !m->ec || !m->echild || !m->outs || !m->oanchor)
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
        m->oanchor[nout[endnode[i]]] = (uint8_t)m->lits[i].anchor;
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
    m->mem = sizeof(*m) + ((size_t)1 << FILTER_BITS) + nn * (sizeof(mpm_node) + 1 + 4) +
             m->nlits * (sizeof(mpm_lit) + 5);
    m->compiled = 1;
    /* The trie holds the bytes now. */
    for (size_t i = 0; i < m->nlits; i++) {
        free(m->lits[i].s);
        m->lits[i].s = NULL;
    }
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

/* Walks the trie from position i; reports every literal anchored at offset anchor (all
 * of them when anchor is -1) that starts there. Returns -reports - 1 when the callback
 * asked to stop, else the number of reports. */
static long walk(const ward_mpm *m, const uint8_t *buf, size_t len, size_t i, int anchor,
                 ward_mpm_match_fn fn, void *ctx) {
    const uint8_t *lo = lower_table();
    uint32_t n = m->root[buf[i]];
    long reports = 0;
    size_t j = i + 1;
    while (n) {
        const mpm_node *d = &m->nodes[n];
        for (uint32_t k = 0; k < d->nout; k++) {
            if (anchor >= 0 && m->oanchor[d->out0 + k] != anchor)
                continue;
            reports++;
            if (fn && fn(m->outs[d->out0 + k], j, ctx))
                return -reports - 1;
        }
        if (j == len || d->nedge == 0)
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

static unsigned filter_get(const uint8_t *f, uint64_t w) {
    return f[filter_hash((uint32_t)w & 0xFFFFFFu)];
}

/* Walks from every start position a hit at p with anchor bits `bits` implies. */
#define WALK_BITS(p, bits)                                                                         \
    do {                                                                                           \
        unsigned b_ = (bits);                                                                      \
        while (b_) {                                                                               \
            unsigned k_ = (unsigned)__builtin_ctz(b_);                                             \
            b_ &= b_ - 1;                                                                          \
            if (k_ > (p))                                                                          \
                continue;                                                                          \
            if ((r = walk(m, buf, len, (p)-k_, (int)k_, fn, ctx)) < 0)                             \
                return reports + (size_t)(-r - 1);                                                 \
            reports += (size_t)r;                                                                  \
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
            if ((r = walk(m, buf, len, i, -1, fn, ctx)) < 0)
                return reports + (size_t)(-r - 1);
            reports += (size_t)r;
        }
        return reports;
    }
    const uint8_t *f = m->filter;
    while (i + 8 <= len) {
        uint64_t w = load64(buf + i);
        unsigned h0 = filter_get(f, w), h1 = filter_get(f, w >> 8), h2 = filter_get(f, w >> 16),
                 h3 = filter_get(f, w >> 24), h4 = filter_get(f, w >> 32),
                 h5 = filter_get(f, w >> 40);
        if (h0 | h1 | h2 | h3 | h4 | h5) {
            WALK_BITS(i, h0);
            WALK_BITS(i + 1, h1);
            WALK_BITS(i + 2, h2);
            WALK_BITS(i + 3, h3);
            WALK_BITS(i + 4, h4);
            WALK_BITS(i + 5, h5);
        }
        i += 6;
    }
    for (; i < len; i++) {
        if (i + 3 <= len) {
            uint32_t key =
                (uint32_t)buf[i] | (uint32_t)buf[i + 1] << 8 | (uint32_t)buf[i + 2] << 16;
            WALK_BITS(i, f[filter_hash(key)]);
        } else if (m->root[buf[i]]) {
            /* Too near the end for three bytes: only two-byte literals (anchor 0). */
            if ((r = walk(m, buf, len, i, 0, fn, ctx)) < 0)
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
