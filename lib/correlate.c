/* Correlation state for 'threshold' rules; the semantics are in ward/correlate.h.
 *
 * Two chained hash tables share one node type: rules (keyed by the id) and groups (keyed
 * by a hash of the length-prefixed rule id and group values). Both hashes are SipHash-1-3
 * with a key drawn from getrandom() when the state is made, because group values come
 * from logs an attacker writes: a fixed hash would let them fill one bucket. A 64-bit hash
 * match is confirmed by comparing the whole key (same rule record, same values).
 *
 * A rule record holds the id and a copy of the threshold its groups were built with; it is
 * shared by the rule's groups (reference-counted, freed with its last group), so retain
 * asks keep() once per rule and compares thresholds by value.
 *
 * A group keeps its window in storage of `cap` slots that grows by doubling up to count:
 * without distinct a ring of times in ascending order (times of a group never go
 * backwards), with distinct an unordered array of (value hash, latest time). Invariant:
 * after a match that did not fire, the window holds at most count - 1 entries, so count
 * slots are always enough.
 *
 * Groups are on an LRU list (head: most recently fed) and on their rule's list. Every
 * allocation that grows the counted bytes goes through reserve(), which evicts from the
 * LRU tail; it first checks that what cannot be evicted plus the new bytes fits, so a
 * request that can never fit fails without evicting anything. */
#include "ward/correlate.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define INIT_BUCKETS 16
#define INIT_SLOTS 4 /* first window storage, in entries (fewer when count is smaller) */

typedef struct node {
    struct node *hnext;
    uint64_t hash;
} node;

typedef struct table {
    node **b;
    size_t mask; /* buckets - 1 */
    size_t n;
} table;

typedef struct corr_group corr_group;

typedef struct corr_rule {
    node hn; /* first: a node * is a corr_rule * */
    corr_group *groups;
    size_t refs; /* groups, plus one while a feed pins the record */
    size_t bytes;
    uint32_t count, within_s, suppress_s;
    size_t ngroup_by;
    char **group_by; /* copies, in the same allocation */
    char *distinct;  /* NULL when none */
    size_t idlen;
    char *id;
} corr_rule;

typedef struct dval {
    uint64_t h; /* hash of the value */
    uint64_t t; /* its latest time */
} dval;

struct corr_group {
    node hn; /* first: a node * is a corr_group * */
    corr_group *lprev, *lnext;
    corr_group *rprev, *rnext;
    corr_rule *rule;
    uint64_t last_ms;     /* latest time the group has seen */
    uint64_t quiet_until; /* quiet while now < quiet_until; 0: never fired with suppress */
    uint64_t fired_ms;    /* time of the alert that started the quiet period */
    uint32_t quiet_n;     /* matches in the quiet period */
    uint32_t n, head, cap;
    size_t bytes;
    void *slots; /* uint64_t[cap] ring from head, or dval[cap] */
    size_t keylen;
    unsigned char key[]; /* per value: 8-byte little-endian length, then the bytes */
};

struct ward_corr {
    size_t cap;
    uint64_t k0, k1;
    table rules, groups;
    corr_group *lru_head, *lru_tail;
    ward_corr_stats st;
};

/* ---- SipHash-1-3, incremental ---- */

typedef struct sip {
    uint64_t v0, v1, v2, v3;
    uint64_t tail; /* pending bytes, little-endian */
    unsigned ntail;
    uint64_t len;
} sip;

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(sip *s) {
    s->v0 += s->v1;
    s->v1 = ROTL(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = ROTL(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = ROTL(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = ROTL(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = ROTL(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = ROTL(s->v2, 32);
}

static void sip_init(sip *s, uint64_t k0, uint64_t k1) {
    s->v0 = k0 ^ 0x736f6d6570736575ULL;
    s->v1 = k1 ^ 0x646f72616e646f6dULL;
    s->v2 = k0 ^ 0x6c7967656e657261ULL;
    s->v3 = k1 ^ 0x7465646279746573ULL;
    s->tail = 0;
    s->ntail = 0;
    s->len = 0;
}

static void sip_block(sip *s, uint64_t m) {
    s->v3 ^= m;
    sip_round(s);
    s->v0 ^= m;
}

static uint64_t load64le(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void sip_update(sip *s, const void *buf, size_t len) {
    const unsigned char *p = buf;
    s->len += len;
    while (len && s->ntail) {
        s->tail |= (uint64_t)*p++ << (8 * s->ntail);
        len--;
        if (++s->ntail == 8) {
            sip_block(s, s->tail);
            s->tail = 0;
            s->ntail = 0;
        }
    }
    for (; len >= 8; p += 8, len -= 8)
        sip_block(s, load64le(p));
    for (; len; len--)
        s->tail |= (uint64_t)*p++ << (8 * s->ntail++);
}

static uint64_t sip_final(sip *s) {
    uint64_t b = s->len << 56 | s->tail;
    sip_block(s, b);
    s->v2 ^= 0xff;
    sip_round(s);
    sip_round(s);
    sip_round(s);
    return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

static void sip_u64(sip *s, uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    sip_update(s, b, 8);
}

static uint64_t hash_bytes(const ward_corr *c, const void *p, size_t len) {
    sip s;
    sip_init(&s, c->k0, c->k1);
    sip_update(&s, p, len);
    return sip_final(&s);
}

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The hash key. Without getrandom (old kernel, seccomp) the address and clocks are a weak
 * but still per-process key; the tables stay correct either way. */
static void seed(ward_corr *c) {
    uint64_t k[2];
    if (getrandom(k, sizeof k, GRND_NONBLOCK) == (ssize_t)sizeof k) {
        c->k0 = k[0];
        c->k1 = k[1];
        return;
    }
    struct timespec ts = {0, 0};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = (uint64_t)(uintptr_t)c ^ ((uint64_t)time(NULL) << 32) ^ (uint64_t)ts.tv_nsec ^
                 ((uint64_t)ts.tv_sec << 20);
    c->k0 = splitmix(&x);
    c->k1 = splitmix(&x);
}

/* ---- helpers ---- */

static int add_size(size_t *acc, size_t x) {
    if (x > SIZE_MAX - *acc)
        return -1;
    *acc += x;
    return 0;
}

static int mul_size(size_t a, size_t b, size_t *out) {
    if (b && a > SIZE_MAX / b)
        return -1;
    *out = a * b;
    return 0;
}

static size_t val_len(const ward_corr_val *v) {
    return v && v->s ? v->len : 0;
}

static const char *val_ptr(const ward_corr_val *v) {
    return v && v->s ? v->s : "";
}

static const char *nz(const char *s) {
    return s ? s : "";
}

static uint64_t sat_add(uint64_t a, uint64_t b) {
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ---- hash tables ---- */

static int table_init(table *t) {
    t->b = calloc(INIT_BUCKETS, sizeof *t->b);
    t->mask = INIT_BUCKETS - 1;
    t->n = 0;
    return t->b ? 0 : -1;
}

/* Doubles the buckets; on allocation failure keeps the old ones (longer chains). */
static void table_grow(table *t) {
    size_t nb = (t->mask + 1) * 2;
    if (nb > SIZE_MAX / sizeof *t->b)
        return;
    node **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i <= t->mask; i++) {
        node *n = t->b[i];
        while (n) {
            node *next = n->hnext;
            size_t j = (size_t)n->hash & (nb - 1);
            n->hnext = b[j];
            b[j] = n;
            n = next;
        }
    }
    free(t->b);
    t->b = b;
    t->mask = nb - 1;
}

static void table_insert(table *t, node *n) {
    size_t i = (size_t)n->hash & t->mask;
    n->hnext = t->b[i];
    t->b[i] = n;
    if (++t->n > t->mask + 1)
        table_grow(t);
}

static void table_remove(table *t, node *n) {
    node **pp = &t->b[(size_t)n->hash & t->mask];
    while (*pp && *pp != n)
        pp = &(*pp)->hnext;
    if (*pp) {
        *pp = n->hnext;
        t->n--;
    }
}

/* ---- rules ---- */

static corr_rule *rule_find(const ward_corr *c, const char *id, size_t idlen, uint64_t h) {
    for (node *n = c->rules.b[(size_t)h & c->rules.mask]; n; n = n->hnext) {
        corr_rule *r = (corr_rule *)n;
        if (n->hash == h && r->idlen == idlen && memcmp(r->id, id, idlen) == 0)
            return r;
    }
    return NULL;
}

/* Whether t is, by value, the threshold r's groups were built with. */
static int rule_same(const corr_rule *r, const ward_threshold *t) {
    if (!t || !t->set || t->count != r->count || t->within_s != r->within_s ||
        t->suppress_s != r->suppress_s || t->ngroup_by != r->ngroup_by)
        return 0;
    if (t->ngroup_by && !t->group_by)
        return 0;
    for (size_t i = 0; i < r->ngroup_by; i++)
        if (strcmp(nz(t->group_by[i]), r->group_by[i]) != 0)
            return 0;
    if (!t->distinct || !r->distinct)
        return !t->distinct && !r->distinct;
    return strcmp(t->distinct, r->distinct) == 0;
}

/* Bytes of the record for (id, t): struct, group_by pointers, id and names. */
static int rule_size(size_t idlen, const ward_threshold *t, size_t *out) {
    size_t n = sizeof(corr_rule), ptrs;
    if (mul_size(t->ngroup_by, sizeof(char *), &ptrs) < 0 || add_size(&n, ptrs) < 0 ||
        add_size(&n, idlen) < 0 || add_size(&n, 1) < 0)
        return -1;
    for (size_t i = 0; i < t->ngroup_by; i++)
        if (add_size(&n, strlen(nz(t->group_by[i]))) < 0 || add_size(&n, 1) < 0)
            return -1;
    if (t->distinct && (add_size(&n, strlen(t->distinct)) < 0 || add_size(&n, 1) < 0))
        return -1;
    *out = n;
    return 0;
}

static char *put_str(char **p, const char *s, size_t len) {
    char *d = *p;
    memcpy(d, s, len);
    d[len] = '\0';
    *p += len + 1;
    return d;
}

/* A new record with no references, in the table and counted; size from rule_size. */
static corr_rule *rule_new(ward_corr *c, const char *id, size_t idlen, uint64_t h,
                           const ward_threshold *t, size_t size) {
    corr_rule *r = malloc(size);
    if (!r)
        return NULL;
    memset(r, 0, sizeof *r);
    r->hn.hash = h;
    r->bytes = size;
    r->count = t->count;
    r->within_s = t->within_s;
    r->suppress_s = t->suppress_s;
    r->ngroup_by = t->ngroup_by;
    r->group_by = (char **)(void *)(r + 1);
    char *p = (char *)(r->group_by + t->ngroup_by);
    r->idlen = idlen;
    r->id = put_str(&p, id, idlen);
    for (size_t i = 0; i < t->ngroup_by; i++) {
        const char *s = nz(t->group_by[i]);
        r->group_by[i] = put_str(&p, s, strlen(s));
    }
    r->distinct = t->distinct ? put_str(&p, t->distinct, strlen(t->distinct)) : NULL;
    table_insert(&c->rules, &r->hn);
    c->st.bytes += size;
    return r;
}

static void rule_unref(ward_corr *c, corr_rule *r) {
    if (--r->refs)
        return;
    table_remove(&c->rules, &r->hn);
    c->st.bytes -= r->bytes;
    free(r);
}

/* ---- groups ---- */

static void lru_unlink(ward_corr *c, corr_group *g) {
    if (g->lprev)
        g->lprev->lnext = g->lnext;
    else
        c->lru_head = g->lnext;
    if (g->lnext)
        g->lnext->lprev = g->lprev;
    else
        c->lru_tail = g->lprev;
    g->lprev = g->lnext = NULL;
}

static void lru_push(ward_corr *c, corr_group *g) {
    g->lprev = NULL;
    g->lnext = c->lru_head;
    if (c->lru_head)
        c->lru_head->lprev = g;
    else
        c->lru_tail = g;
    c->lru_head = g;
}

/* Unlinks and frees g, and its rule record when g was its last group. Not counted. */
static void group_drop(ward_corr *c, corr_group *g) {
    corr_rule *r = g->rule;
    table_remove(&c->groups, &g->hn);
    lru_unlink(c, g);
    if (g->rprev)
        g->rprev->rnext = g->rnext;
    else
        r->groups = g->rnext;
    if (g->rnext)
        g->rnext->rprev = g->rprev;
    c->st.bytes -= g->bytes;
    c->st.groups--;
    free(g->slots);
    free(g);
    rule_unref(c, r);
}

/* Drops every group of r (r is freed with the last). Returns how many. */
static size_t rule_drop_groups(ward_corr *c, corr_rule *r) {
    size_t n = 0;
    r->refs++;
    /* the reference taken above keeps r alive while its groups go; the analyser does not
     * follow the count */
    while (r->groups) {
        group_drop(c, r->groups); /* NOLINT(clang-analyzer-unix.Malloc) */
        n++;
    }
    rule_unref(c, r);
    return n;
}

/* Makes room for need more bytes under the cap by evicting least recently used groups
 * other than keep. fixed is what evicting cannot free (keep and its rule, or a pinned
 * rule). Returns 0, or -1 when fixed + need cannot fit (nothing is evicted then). */
static int reserve(ward_corr *c, size_t need, size_t fixed, const corr_group *keep) {
    if (!c->cap)
        return 0;
    if (need > c->cap || fixed > c->cap - need)
        return -1;
    while (c->st.bytes > c->cap - need) {
        corr_group *v = c->lru_tail;
        if (v && v == keep)
            v = v->lprev;
        if (!v)
            return -1; /* not reached: the check above leaves enough to evict */
        group_drop(c, v);
        c->st.evictions++;
    }
    return 0;
}

static size_t slot_size(const corr_rule *r) {
    return r->distinct ? sizeof(dval) : sizeof(uint64_t);
}

static int key_len(const ward_corr_val *v, size_t n, size_t *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (add_size(&k, 8) < 0 || add_size(&k, val_len(&v[i])) < 0)
            return -1;
    *out = k;
    return 0;
}

/* The hash of a group: its rule's hash (rh, of the id) and its values. Rules whose hashes
 * collide share bucket chains only: group_find also compares the rule. */
static uint64_t group_hash(const ward_corr *c, uint64_t rh, const ward_corr_val *v, size_t n) {
    sip s;
    sip_init(&s, c->k0, c->k1);
    sip_u64(&s, rh);
    for (size_t i = 0; i < n; i++) {
        sip_u64(&s, val_len(&v[i]));
        sip_update(&s, val_ptr(&v[i]), val_len(&v[i]));
    }
    return sip_final(&s);
}

static int group_key_eq(const corr_group *g, const ward_corr_val *v, size_t n, size_t keylen) {
    if (g->keylen != keylen)
        return 0;
    const unsigned char *p = g->key;
    for (size_t i = 0; i < n; i++) {
        size_t len = val_len(&v[i]);
        if (load64le(p) != len)
            return 0;
        p += 8;
        if (len && memcmp(p, v[i].s, len) != 0)
            return 0;
        p += len;
    }
    return 1;
}

static corr_group *group_find(const ward_corr *c, const corr_rule *r, uint64_t h,
                              const ward_corr_val *v, size_t n, size_t keylen) {
    for (node *x = c->groups.b[(size_t)h & c->groups.mask]; x; x = x->hnext) {
        corr_group *g = (corr_group *)x;
        if (x->hash == h && g->rule == r && group_key_eq(g, v, n, keylen))
            return g;
    }
    return NULL;
}

/* A new group (and rule record when r is NULL), linked, counted and most recently used.
 * NULL when it does not fit or memory ran out. */
static corr_group *group_new(ward_corr *c, corr_rule *r, const char *id, size_t idlen, uint64_t rh,
                             const ward_threshold *t, const ward_corr_val *v, size_t keylen,
                             uint64_t gh, uint64_t now_ms) {
    size_t es = t->distinct ? sizeof(dval) : sizeof(uint64_t);
    uint32_t slots = t->count < INIT_SLOTS ? t->count : INIT_SLOTS;
    size_t gsize = sizeof(corr_group), rsize = 0, need;
    corr_group *g = NULL;
    if (add_size(&gsize, keylen) < 0 || add_size(&gsize, slots * es) < 0)
        return NULL;
    if (!r && rule_size(idlen, t, &rsize) < 0)
        return NULL;
    need = gsize;
    if (add_size(&need, rsize) < 0)
        return NULL;
    if (r)
        r->refs++; /* pinned: evicting the rule's other groups must not free it */
    if (reserve(c, need, r ? r->bytes : 0, NULL) < 0)
        goto fail;
    if (!r) {
        r = rule_new(c, id, idlen, rh, t, rsize);
        if (!r)
            goto fail;
        r->refs++;
    }
    g = malloc(sizeof *g + keylen);
    if (!g)
        goto fail;
    memset(g, 0, sizeof *g);
    g->slots = malloc(slots * es);
    if (!g->slots)
        goto fail;
    g->hn.hash = gh;
    g->rule = r;
    g->last_ms = now_ms;
    g->cap = slots;
    g->bytes = gsize;
    g->keylen = keylen;
    unsigned char *p = g->key;
    for (size_t i = 0; i < t->ngroup_by; i++) {
        size_t len = val_len(&v[i]);
        for (int b = 0; b < 8; b++)
            *p++ = (unsigned char)((uint64_t)len >> (8 * b));
        if (len)
            memcpy(p, v[i].s, len);
        p += len;
    }
    r->refs++;
    g->rnext = r->groups;
    if (r->groups)
        r->groups->rprev = g;
    r->groups = g;
    table_insert(&c->groups, &g->hn);
    lru_push(c, g);
    c->st.bytes += gsize;
    c->st.groups++;
    rule_unref(c, r); /* the pin; g holds its own reference */
    return g;
fail:
    if (g)
        free(g->slots);
    free(g);
    if (r)
        rule_unref(c, r);
    return NULL;
}

/* Doubles g's storage (at most count slots), keeping the window in order. 0 or -1. */
static int group_grow(ward_corr *c, corr_group *g) {
    const corr_rule *r = g->rule;
    size_t es = slot_size(r), delta, total;
    if (g->cap >= r->count)
        return -1; /* not reached: see the invariant at the top */
    uint32_t ncap = g->cap <= r->count / 2 ? g->cap * 2 : r->count;
    if (mul_size(ncap - g->cap, es, &delta) < 0 || mul_size(ncap, es, &total) < 0)
        return -1;
    if (reserve(c, delta, g->bytes + r->bytes, g) < 0)
        return -1;
    void *ns = malloc(total ? total : 1);
    if (!ns)
        return -1;
    if (r->distinct) {
        memcpy(ns, g->slots, (size_t)g->n * es);
    } else {
        const uint64_t *o = g->slots;
        uint64_t *d = ns;
        for (uint32_t i = 0; i < g->n; i++)
            d[i] = o[(g->head + i) % g->cap];
        g->head = 0;
    }
    free(g->slots);
    g->slots = ns;
    g->cap = ncap;
    g->bytes += delta;
    c->st.bytes += delta;
    return 0;
}

static int group_match(ward_corr *c, corr_group *g, const ward_corr_val *dv, uint64_t now_ms,
                       ward_corr_result *out) {
    const corr_rule *r = g->rule;
    uint64_t now = now_ms > g->last_ms ? now_ms : g->last_ms;
    uint64_t w = (uint64_t)r->within_s * 1000;
    uint64_t first;

    if (now < g->quiet_until) {
        g->last_ms = now;
        if (g->quiet_n < UINT32_MAX)
            g->quiet_n++;
        c->st.suppressed++;
        out->suppressed = 1;
        out->count = g->quiet_n;
        out->first_ms = g->fired_ms;
        out->last_ms = now;
        return 0;
    }
    if (r->distinct) {
        uint64_t h = hash_bytes(c, val_ptr(dv), val_len(dv));
        dval *d = g->slots;
        int found = 0;
        first = now;
        for (uint32_t i = 0; i < g->n;) {
            if (now - d[i].t > w) {
                d[i] = d[--g->n];
                continue;
            }
            if (d[i].h == h) {
                d[i].t = now;
                found = 1;
            }
            if (d[i].t < first)
                first = d[i].t;
            i++;
        }
        if (!found) {
            if (g->n == g->cap && group_grow(c, g) < 0)
                goto fail;
            d = g->slots;
            d[g->n].h = h;
            d[g->n].t = now;
            g->n++;
        }
    } else {
        uint64_t *tm = g->slots;
        while (g->n && now - tm[g->head] > w) {
            g->head = (g->head + 1) % g->cap;
            g->n--;
        }
        if ((g->n == g->cap && group_grow(c, g) < 0) || !g->cap)
            goto fail; /* a group always has room after growing: the check is the analyser's */
        tm = g->slots;
        tm[(g->head + g->n) % g->cap] = now;
        g->n++;
        first = tm[g->head];
    }
    g->last_ms = now;
    out->count = g->n;
    out->first_ms = first;
    out->last_ms = now;
    if (g->n >= r->count) {
        out->fire = 1;
        c->st.fired++;
        g->n = 0;
        g->head = 0;
        if (r->suppress_s) {
            g->quiet_until = sat_add(now, (uint64_t)r->suppress_s * 1000);
            g->fired_ms = now;
            g->quiet_n = 0;
        }
    }
    return 0;
fail:
    c->st.failures++;
    return -1;
}

/* Whether dropping g changes no result of a later match at a time >= now. */
static int group_idle(const corr_group *g, uint64_t now) {
    if (g->last_ms > now || now < g->quiet_until)
        return 0;
    if (!g->n)
        return 1;
    uint64_t newest;
    if (g->rule->distinct) {
        const dval *d = g->slots;
        newest = 0;
        for (uint32_t i = 0; i < g->n; i++)
            if (d[i].t > newest)
                newest = d[i].t;
    } else {
        const uint64_t *tm = g->slots;
        newest = tm[(g->head + g->n - 1) % g->cap];
    }
    return now - newest > (uint64_t)g->rule->within_s * 1000;
}

/* ---- API ---- */

ward_corr *ward_corr_new(size_t mem_cap) {
    ward_corr *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cap = mem_cap;
    if (table_init(&c->rules) < 0 || table_init(&c->groups) < 0)
        goto fail;
    seed(c);
    return c;
fail:
    ward_corr_free(c);
    return NULL;
}

void ward_corr_free(ward_corr *c) {
    if (!c)
        return;
    for (corr_group *g = c->lru_head, *next; g; g = next) {
        next = g->lnext;
        free(g->slots);
        free(g);
    }
    if (c->rules.b) {
        for (size_t i = 0; i <= c->rules.mask; i++) {
            for (node *n = c->rules.b[i], *next; n; n = next) {
                next = n->hnext;
                free(n);
            }
        }
    }
    free(c->rules.b);
    free(c->groups.b);
    free(c);
}

int ward_corr_feed(ward_corr *c, const char *rule_id, const ward_threshold *t,
                   const ward_corr_val *group, const ward_corr_val *distinct, uint64_t now_ms,
                   ward_corr_result *out) {
    if (out)
        memset(out, 0, sizeof *out);
    if (!c || !rule_id || !t || !out || !t->set || !t->count ||
        (t->ngroup_by && (!group || !t->group_by)))
        return -1;
    size_t idlen = strlen(rule_id), keylen;
    uint64_t rh = hash_bytes(c, rule_id, idlen);
    corr_rule *r = rule_find(c, rule_id, idlen, rh);
    if (r && !rule_same(r, t)) {
        c->st.expired += rule_drop_groups(c, r);
        r = NULL;
    }
    if (key_len(group, t->ngroup_by, &keylen) < 0) {
        c->st.failures++;
        return -1;
    }
    uint64_t gh = group_hash(c, rh, group, t->ngroup_by);
    corr_group *g = r ? group_find(c, r, gh, group, t->ngroup_by, keylen) : NULL;
    if (g) {
        lru_unlink(c, g);
        lru_push(c, g);
    } else {
        g = group_new(c, r, rule_id, idlen, rh, t, group, keylen, gh, now_ms);
        if (!g) {
            c->st.failures++;
            return -1;
        }
    }
    return group_match(c, g, t->distinct ? distinct : NULL, now_ms, out);
}

size_t ward_corr_expire(ward_corr *c, uint64_t now_ms) {
    if (!c)
        return 0;
    size_t n = 0;
    for (corr_group *g = c->lru_head, *next; g; g = next) {
        next = g->lnext;
        if (group_idle(g, now_ms)) {
            group_drop(c, g);
            n++;
        }
    }
    c->st.expired += n;
    return n;
}

size_t ward_corr_retain(ward_corr *c, const ward_threshold *(*keep)(const char *rule_id, void *ctx),
                        void *ctx) {
    if (!c || !keep)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i <= c->rules.mask; i++) {
        /* dropping a rule's groups frees only that rule, so next stays valid */
        for (node *x = c->rules.b[i], *next; x; x = next) {
            next = x->hnext;
            corr_rule *r = (corr_rule *)x;
            if (!rule_same(r, keep(r->id, ctx)))
                n += rule_drop_groups(c, r);
        }
    }
    c->st.expired += n;
    return n;
}

void ward_corr_get_stats(const ward_corr *c, ward_corr_stats *out) {
    if (!out)
        return;
    if (!c) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = c->st;
}
