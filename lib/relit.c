/* Required-literal extraction from PCRE2 patterns.
 *
 * The pattern is first compiled by PCRE2 (so bad patterns get PCRE2's message, and we
 * learn the options set inside the pattern, such as (*UTF)), then parsed again here by a
 * conservative recursive-descent parser. Each piece of the pattern gets an `info`, after
 * Russ Cox's trigram-index analysis ("Regular Expression Matching with a Trigram Index"):
 *   exact  when known and small: the set of strings the piece matches, exactly;
 *   pre    otherwise: every match of the piece starts with one of these;
 *   suf    and ends with one of these;
 *   match  a conjunction of clauses, each an OR-set of strings, one of which occurs in
 *          every match.
 * A set that contains "" says nothing. Concatenation crosses exact sets and joins the
 * suffixes of the left with the prefixes of the right; alternation unions sets and ORs
 * the clauses; a quantifier with minimum 0 makes a piece optional (alternation with the
 * empty string); one with minimum n >= 1 keeps one copy (or n copies when exact).
 * Whatever the parser does not understand becomes ANYTHING (no claim at all), and the
 * few things that could change the meaning of the rest of the pattern, such as
 * (*ACCEPT), callouts or unknown option letters, make the whole pattern "any".
 *
 * At the end the clauses are normalised and scored: `alts` is the best clause (members
 * long and made of rare bytes, few members), `must` are the one-member clauses.
 * Strings that the pattern matches caselessly are kept lowercased with ci set; mixing a
 * caseless and a case-sensitive piece makes a caseless string, which is weaker and so
 * still true. Every allocation of the analysis comes from one arena freed at the end. */
#include "ward/relit.h"

#include "ward/re.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXLEN 256    /* longest string kept (WARD_MPM_MAX_LIT) */
#define MAXEXACT 128  /* largest exact set */
#define MAXAFFIX 64   /* largest prefix or suffix set */
#define MAXCLAUSE 128 /* largest OR-clause */
#define MAXCLAUSES 24 /* clauses kept per conjunction */
#define OR_KEEP 6     /* clauses of each side crossed by an alternation */

typedef struct str {
    const uint8_t *s;
    uint32_t len;
    uint32_t ci;
} str;

typedef struct sset {
    str *v;
    uint32_t n;
} sset;

typedef struct cnf {
    sset *c;
    uint32_t n;
} cnf;

typedef struct info {
    int exact_ok;
    sset exact, pre, suf;
    cnf match;
} info;

typedef struct arena_blk {
    struct arena_blk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} arena_blk;

typedef struct parser {
    const uint8_t *p;
    size_t len, i;
    int ci, x, xx; /* current flags */
    int utf, nl_lf;
    int inq;  /* inside \Q...\E */
    int bail; /* whole pattern: any */
    int oom;
    arena_blk *arena;
} parser;

static void *aalloc(parser *ps, size_t n) {
    n = (n + 15) & ~(size_t)15;
    arena_blk *b = ps->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > (1u << 16) ? n : (1u << 16);
        b = malloc(sizeof(*b) + cap);
        if (!b) {
            ps->oom = 1;
            ps->bail = 1;
            return NULL;
        }
        b->next = ps->arena;
        b->used = 0;
        b->cap = cap;
        ps->arena = b;
    }
    void *r = b->data + b->used;
    b->used += n;
    return r;
}

static int lc(int c) {
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int is_alpha(int c) {
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/* ---- strings and sets ---- */

static sset sset_alloc(parser *ps, uint32_t n) {
    sset r = {NULL, 0};
    if (n == 0)
        return r;
    r.v = aalloc(ps, n * sizeof(str));
    if (r.v)
        r.n = n;
    return r;
}

static sset sset_one(parser *ps, const uint8_t *s, uint32_t len, int ci) {
    sset r = sset_alloc(ps, 1);
    if (!r.n)
        return r;
    uint8_t *b = aalloc(ps, len ? len : 1);
    if (!b) {
        r.n = 0;
        return r;
    }
    for (uint32_t i = 0; i < len; i++)
        b[i] = ci ? (uint8_t)lc(s[i]) : s[i];
    r.v[0].s = b;
    r.v[0].len = len;
    r.v[0].ci = ci ? 1 : 0;
    return r;
}

static int str_eq(const str *a, const str *b) {
    return a->len == b->len && a->ci == b->ci && memcmp(a->s, b->s, a->len) == 0;
}

/* Does every occurrence of a imply an occurrence of b (b a substring of a)? */
static int str_implies(const str *a, const str *b) {
    if (b->len > a->len)
        return 0;
    if (!b->ci && a->ci)
        return 0;
    for (uint32_t i = 0; i + b->len <= a->len; i++) {
        uint32_t j = 0;
        if (b->ci)
            while (j < b->len && lc(a->s[i + j]) == b->s[j])
                j++;
        else
            while (j < b->len && a->s[i + j] == b->s[j])
                j++;
        if (j == b->len)
            return 1;
    }
    return 0;
}

static int sset_has_empty(const sset *a) {
    for (uint32_t i = 0; i < a->n; i++)
        if (a->v[i].len == 0)
            return 1;
    return 0;
}

/* Removes exact duplicates, in place. */
static void sset_dedupe(sset *a) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        uint32_t j = 0;
        while (j < n && !str_eq(&a->v[j], &a->v[i]))
            j++;
        if (j == n)
            a->v[n++] = a->v[i];
    }
    a->n = n;
}

static sset sset_union(parser *ps, sset a, sset b) {
    sset r = sset_alloc(ps, a.n + b.n);
    if (!r.n)
        return r;
    if (a.n) /* an empty set may have no array: memcpy must not see NULL */
        memcpy(r.v, a.v, a.n * sizeof(str));
    if (b.n)
        memcpy(r.v + a.n, b.v, b.n * sizeof(str));
    sset_dedupe(&r);
    return r;
}

/* a x b; strings over MAXLEN are cut to their first (keep_end 0) or last MAXLEN bytes.
 * Returns n == 0 when the product exceeds max. */
static sset sset_cross(parser *ps, sset a, sset b, uint32_t max, int keep_end) {
    sset r = {NULL, 0};
    if ((uint64_t)a.n * b.n > max || a.n == 0 || b.n == 0)
        return r;
    r = sset_alloc(ps, a.n * b.n);
    if (!r.n)
        return r;
    uint32_t k = 0;
    for (uint32_t i = 0; i < a.n; i++)
        for (uint32_t j = 0; j < b.n; j++) {
            const str *x = &a.v[i], *y = &b.v[j];
            uint32_t ci = x->ci | y->ci;
            uint32_t len = x->len + y->len;
            uint8_t *buf = aalloc(ps, len ? len : 1);
            if (!buf) {
                r.n = 0;
                return r;
            }
            if (x->len) /* the empty string may have no bytes at all */
                memcpy(buf, x->s, x->len);
            if (y->len)
                memcpy(buf + x->len, y->s, y->len);
            if (ci)
                for (uint32_t t = 0; t < len; t++)
                    buf[t] = (uint8_t)lc(buf[t]);
            r.v[k].s = buf;
            r.v[k].len = len;
            r.v[k].ci = ci;
            if (len > MAXLEN) {
                if (keep_end)
                    r.v[k].s = buf + (len - MAXLEN);
                r.v[k].len = MAXLEN;
            }
            k++;
        }
    r.n = k;
    sset_dedupe(&r);
    return r;
}

static int sset_longer(const sset *a, uint32_t maxlen) {
    for (uint32_t i = 0; i < a->n; i++)
        if (a->v[i].len > maxlen)
            return 1;
    return 0;
}

/* Shortens a prefix (or suffix) set until it has at most MAXAFFIX members. Cutting
 * strings of a prefix set to their first bytes keeps it true. */
static sset affix_simplify(parser *ps, sset a, int suffix) {
    sset r = a;
    uint32_t maxlen = 0;
    for (uint32_t i = 0; i < a.n; i++)
        if (a.v[i].len > maxlen)
            maxlen = a.v[i].len;
    if (a.n <= MAXAFFIX && maxlen <= MAXLEN)
        return a;
    r = sset_alloc(ps, a.n);
    if (!r.n)
        return r;
    memcpy(r.v, a.v, a.n * sizeof(str));
    if (maxlen > MAXLEN)
        maxlen = MAXLEN + 1;
    while (maxlen > 0) {
        maxlen = maxlen > MAXLEN ? MAXLEN : maxlen * 3 / 4;
        for (uint32_t i = 0; i < r.n; i++)
            if (r.v[i].len > maxlen) {
                if (suffix)
                    r.v[i].s += r.v[i].len - maxlen;
                r.v[i].len = maxlen;
            }
        sset_dedupe(&r);
        if (r.n <= MAXAFFIX)
            break;
    }
    return r;
}

/* ---- scoring ---- */

/* Roughly how much a byte narrows the search in log text: spaces, digits and common
 * punctuation are everywhere; letters less so; rarer punctuation in between. */
static double byte_weight(uint8_t c) {
    if (c == ' ' || c == '\t')
        return 0.15;
    if (c >= '0' && c <= '9')
        return 0.3;
    if (c == '.' || c == ':' || c == '/' || c == '-' || c == '_' || c == ',' || c == '=')
        return 0.35;
    if (is_alpha(c))
        return strchr("etaoinsrlc", lc(c)) ? 0.85 : 1.0;
    if (c >= 0x80)
        return 0.7;
    return 0.6;
}

static double str_score(const str *s) {
    double w = 0;
    for (uint32_t i = 0; i < s->len; i++)
        w += byte_weight(s->s[i]);
    return w;
}

static double clause_score(const sset *c) {
    double m = 1e9;
    for (uint32_t i = 0; i < c->n; i++) {
        double w = str_score(&c->v[i]);
        if (w < m)
            m = w;
    }
    return c->n ? m - 0.75 * log2((double)c->n) : -1e9;
}

/* ---- conjunctions ---- */

static int clause_trivial(const sset *c) {
    return c->n == 0 || sset_has_empty(c);
}

/* Drops members implied by another member (OR(abc, b) is OR(b)). */
static void clause_normalise(sset *c) {
    sset_dedupe(c);
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        int drop = 0;
        for (uint32_t j = 0; j < c->n && !drop; j++)
            if (j != i && str_implies(&c->v[i], &c->v[j]) &&
                !(j > i && str_implies(&c->v[j], &c->v[i])))
                drop = 1;
        if (!drop)
            c->v[n++] = c->v[i];
    }
    c->n = n;
}

static int clause_eq(const sset *a, const sset *b) {
    if (a->n != b->n)
        return 0;
    for (uint32_t i = 0; i < a->n; i++) {
        uint32_t j = 0;
        while (j < b->n && !str_eq(&a->v[i], &b->v[j]))
            j++;
        if (j == b->n)
            return 0;
    }
    return 1;
}

static int clause_cmp_score(const void *a, const void *b) {
    double x = clause_score(a), y = clause_score(b);
    return x > y ? -1 : x < y;
}

typedef struct scored {
    double score;
    uint32_t at; /* place before the sort: equal scores keep their order */
    sset c;
} scored;

static int scored_cmp(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* Sorts c best first, equal scores in their order (as glibc's merge sort did with
 * clause_cmp_score). Each score is computed once: a score reads every byte of a clause
 * (up to MAXCLAUSE members of MAXLEN bytes), and computing it in every comparison made
 * this sort most of the extractor's time. Without memory for the scores, the comparison
 * computes them. */
static void sort_by_score(sset *c, uint32_t n) {
    scored *t = malloc(n * sizeof(*t));
    if (!t) {
        qsort(c, n, sizeof(sset), clause_cmp_score);
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        t[i] = (scored){clause_score(&c[i]), i, c[i]};
    qsort(t, n, sizeof(*t), scored_cmp);
    for (uint32_t i = 0; i < n; i++)
        c[i] = t[i].c;
    free(t);
}

#define SUBSUME_MAX 8 /* members of clauses compared for subsumption (cost is quadratic) */

/* Does clause a imply clause b (every member of a contains a member of b)? Then b says
 * nothing a does not, and a conjunction holding both can drop b. */
static int clause_implies(const sset *a, const sset *b) {
    if (a->n > SUBSUME_MAX || b->n > SUBSUME_MAX)
        return clause_eq(a, b);
    for (uint32_t i = 0; i < a->n; i++) {
        uint32_t j = 0;
        while (j < b->n && !str_implies(&a->v[i], &b->v[j]))
            j++;
        if (j == b->n)
            return 0;
    }
    return 1;
}

/* a AND b, keeping the best MAXCLAUSES clauses (dropping a clause only weakens). A
 * clause implied by another is dropped first: otherwise ever shorter copies of one
 * prefix ("abcdef", "abcde", ...) can fill the conjunction and push out the clauses
 * that say something else. */
static cnf cnf_and(parser *ps, cnf a, cnf b) {
    cnf r = {NULL, 0};
    uint32_t n = a.n + b.n;
    if (n == 0)
        return r;
    r.c = aalloc(ps, n * sizeof(sset));
    if (!r.c)
        return r;
    for (uint32_t k = 0; k < n; k++) {
        sset c = k < a.n ? a.c[k] : b.c[k - a.n];
        if (clause_trivial(&c))
            continue;
        /* A clause with fewer members is kept even when implied: " USER " is a better
         * required literal than OR(" USER a", " USER b"). */
        uint32_t j = 0;
        while (j < r.n && !(r.c[j].n <= c.n && clause_implies(&r.c[j], &c)))
            j++;
        if (j < r.n)
            continue;
        uint32_t kept = 0;
        for (j = 0; j < r.n; j++)
            if (!(c.n <= r.c[j].n && clause_implies(&c, &r.c[j])))
                r.c[kept++] = r.c[j];
        r.n = kept;
        r.c[r.n++] = c;
    }
    if (r.n > MAXCLAUSES) {
        sort_by_score(r.c, r.n);
        r.n = MAXCLAUSES;
    }
    return r;
}

#define MIN_COMMON 3 /* shortest common prefix or suffix worth a clause of its own */

/* The bytes every member of c starts (suffix: ends) with, as a one-member clause, or
 * n == 0 when they share fewer than MIN_COMMON. OR(" rhost=1", " rhost=[") implies
 * " rhost=", which as a single required literal is worth more to the prefilter. */
static sset common_affix(parser *ps, const sset *c, int suffix) {
    sset none = {NULL, 0};
    if (c->n < 2)
        return none;
    uint32_t k = c->v[0].len, ci = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        const str *a = &c->v[0], *b = &c->v[i];
        ci |= b->ci;
        if (b->len < k)
            k = b->len;
        for (uint32_t j = 0; j < k; j++) {
            uint8_t x = suffix ? a->s[a->len - 1 - j] : a->s[j];
            uint8_t y = suffix ? b->s[b->len - 1 - j] : b->s[j];
            if (x != y) {
                k = j;
                break;
            }
        }
    }
    if (k < MIN_COMMON)
        return none;
    const str *a = &c->v[0];
    return sset_one(ps, suffix ? a->s + a->len - k : a->s, k, (int)ci);
}

static cnf cnf_clause(parser *ps, sset c) {
    cnf r = {NULL, 0};
    if (clause_trivial(&c) || c.n > MAXCLAUSE)
        return r;
    r.c = aalloc(ps, 3 * sizeof(sset));
    if (!r.c)
        return r;
    /* Clauses are normalised in place later: give this one its own array. */
    sset d = sset_alloc(ps, c.n);
    if (!d.n)
        return r;
    memcpy(d.v, c.v, c.n * sizeof(str));
    clause_normalise(&d);
    r.c[r.n++] = d;
    for (int suffix = 0; suffix < 2; suffix++) {
        sset a = common_affix(ps, &d, suffix);
        if (a.n && !(r.n == 2 && clause_eq(&r.c[1], &a)))
            r.c[r.n++] = a;
    }
    return r;
}

/* a OR b: every pair of clauses, united. Empty (true) on either side gives true. */
static cnf cnf_or(parser *ps, cnf a, cnf b) {
    cnf r = {NULL, 0};
    if (a.n == 0 || b.n == 0)
        return r;
    if (a.n > OR_KEEP)
        sort_by_score(a.c, a.n);
    if (b.n > OR_KEEP)
        sort_by_score(b.c, b.n);
    uint32_t na = a.n > OR_KEEP ? OR_KEEP : a.n, nb = b.n > OR_KEEP ? OR_KEEP : b.n;
    for (uint32_t i = 0; i < na; i++)
        for (uint32_t j = 0; j < nb; j++) {
            if (a.c[i].n + b.c[j].n > MAXCLAUSE)
                continue;
            sset u = sset_union(ps, a.c[i], b.c[j]);
            r = cnf_and(ps, r, cnf_clause(ps, u));
        }
    return r;
}

/* ---- infos ---- */

static info info_anything(void) {
    info r;
    memset(&r, 0, sizeof(r));
    r.exact_ok = 0;
    return r; /* pre and suf empty here mean "no claim" too: see affix() */
}

static info info_empty(parser *ps) {
    info r;
    memset(&r, 0, sizeof(r));
    r.exact_ok = 1;
    r.exact = sset_one(ps, (const uint8_t *)"", 0, 0);
    return r;
}

static info info_lit(parser *ps, const uint8_t *s, uint32_t len, int ci) {
    info r;
    memset(&r, 0, sizeof(r));
    int any_alpha = 0;
    for (uint32_t i = 0; i < len; i++)
        any_alpha |= is_alpha(s[i]);
    r.exact_ok = 1;
    r.exact = sset_one(ps, s, len, ci && any_alpha);
    return r;
}

/* The prefix (suffix) set of a piece; an empty set stands for {""}. */
static sset affix(const info *x, int suffix) {
    if (x->exact_ok)
        return x->exact;
    return suffix ? x->suf : x->pre;
}

static sset sset_or_empty(parser *ps, sset a) {
    if (a.n)
        return a;
    return sset_one(ps, (const uint8_t *)"", 0, 0);
}

/* Turns an exact piece into the inexact form with the same information. */
static info demote(parser *ps, info x) {
    if (!x.exact_ok)
        return x;
    info r;
    r.exact_ok = 0;
    r.match = cnf_and(ps, x.match, cnf_clause(ps, x.exact));
    r.pre = affix_simplify(ps, x.exact, 0);
    r.suf = affix_simplify(ps, x.exact, 1);
    r.exact.n = 0;
    r.exact.v = NULL;
    return r;
}

/* Every clause the piece guarantees, including its affixes. */
static cnf info_clauses(parser *ps, const info *x) {
    cnf r = x->match;
    if (x->exact_ok)
        return cnf_and(ps, r, cnf_clause(ps, x->exact));
    r = cnf_and(ps, r, cnf_clause(ps, x->pre));
    return cnf_and(ps, r, cnf_clause(ps, x->suf));
}

static info concat(parser *ps, info x, info y) {
    info r;
    memset(&r, 0, sizeof(r));
    if (x.exact_ok && y.exact_ok) {
        if ((uint64_t)x.exact.n * y.exact.n <= MAXEXACT) {
            sset e = sset_cross(ps, x.exact, y.exact, MAXEXACT, 0);
            /* A string cut at MAXLEN is no longer exact. */
            int cut = 0;
            for (uint32_t i = 0; i < x.exact.n && !cut; i++)
                for (uint32_t j = 0; j < y.exact.n && !cut; j++)
                    cut = x.exact.v[i].len + y.exact.v[j].len > MAXLEN;
            if (e.n && !cut) {
                r.exact_ok = 1;
                r.exact = e;
                r.match = cnf_and(ps, x.match, y.match);
                return r;
            }
        }
        if (x.exact.n >= y.exact.n || sset_longer(&x.exact, MAXLEN / 2))
            x = demote(ps, x);
        else
            y = demote(ps, y);
    }
    r.exact_ok = 0;
    r.match = cnf_and(ps, x.match, y.match);
    sset xs = sset_or_empty(ps, affix(&x, 1)), yp = sset_or_empty(ps, affix(&y, 0));
    if (x.exact_ok) {
        sset p = sset_cross(ps, x.exact, yp, MAXAFFIX, 0);
        r.pre = p.n ? p : affix_simplify(ps, x.exact, 0);
    } else {
        r.pre = x.pre;
    }
    if (y.exact_ok) {
        sset s = sset_cross(ps, xs, y.exact, MAXAFFIX, 1);
        r.suf = s.n ? s : affix_simplify(ps, y.exact, 1);
    } else {
        r.suf = y.suf;
    }
    sset j = sset_cross(ps, xs, yp, MAXCLAUSE, 0);
    if (j.n) {
        r.match = cnf_and(ps, r.match, cnf_clause(ps, j));
    } else {
        r.match = cnf_and(ps, r.match, cnf_clause(ps, xs));
        r.match = cnf_and(ps, r.match, cnf_clause(ps, yp));
    }
    return r;
}

static info alternate(parser *ps, const info *v, size_t n) {
    info r;
    memset(&r, 0, sizeof(r));
    uint64_t total = 0;
    int all_exact = 1;
    for (size_t i = 0; i < n; i++) {
        all_exact &= v[i].exact_ok;
        total += v[i].exact_ok ? v[i].exact.n : 0;
    }
    if (all_exact && total <= MAXEXACT) {
        r.exact_ok = 1;
        r.exact = v[0].exact;
        r.match = v[0].match;
        for (size_t i = 1; i < n; i++) {
            r.exact = sset_union(ps, r.exact, v[i].exact);
            r.match = cnf_or(ps, r.match, v[i].match);
        }
        return r;
    }
    r.exact_ok = 0;
    int pre_any = 0, suf_any = 0;
    for (size_t i = 0; i < n; i++) {
        sset p = affix(&v[i], 0), s = affix(&v[i], 1);
        pre_any |= p.n == 0;
        suf_any |= s.n == 0;
        r.pre = i ? sset_union(ps, r.pre, p) : p;
        r.suf = i ? sset_union(ps, r.suf, s) : s;
        cnf c = info_clauses(ps, &v[i]);
        r.match = i ? cnf_or(ps, r.match, c) : c;
    }
    if (pre_any)
        r.pre.n = 0;
    else
        r.pre = affix_simplify(ps, r.pre, 0);
    if (suf_any)
        r.suf.n = 0;
    else
        r.suf = affix_simplify(ps, r.suf, 1);
    return r;
}

static info optional(parser *ps, info x) {
    info v[2] = {x, info_empty(ps)};
    return alternate(ps, v, 2);
}

static info plus(parser *ps, info x) {
    info r;
    memset(&r, 0, sizeof(r));
    r.exact_ok = 0;
    r.match = x.match;
    r.pre = affix_simplify(ps, affix(&x, 0), 0);
    r.suf = affix_simplify(ps, affix(&x, 1), 1);
    return r;
}

/* ---- the parser ---- */

static int peek(const parser *ps, size_t k) {
    return ps->i + k < ps->len ? ps->p[ps->i + k] : -1;
}

static int at_end(const parser *ps) {
    return ps->i >= ps->len;
}

static int is_space_x(int c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Skips what PCRE2 ignores between items: x-mode white space and comments, (?#...),
 * \Q\E and stray \E. Returns 1 when anything was skipped. */
static int skip_ignored(parser *ps) {
    int skipped = 0;
    for (;;) {
        int c = peek(ps, 0);
        if (ps->inq) {
            if (c == '\\' && peek(ps, 1) == 'E') {
                ps->inq = 0;
                ps->i += 2;
                skipped = 1;
                continue;
            }
            return skipped;
        }
        if (c == '\\' && peek(ps, 1) == 'E') {
            ps->i += 2;
        } else if (c == '\\' && peek(ps, 1) == 'Q' && peek(ps, 2) == '\\' && peek(ps, 3) == 'E') {
            ps->i += 4;
        } else if (c == '(' && peek(ps, 1) == '?' && peek(ps, 2) == '#') {
            while (!at_end(ps) && ps->p[ps->i] != ')')
                ps->i++;
            if (at_end(ps)) {
                ps->bail = 1;
                return skipped;
            }
            ps->i++;
        } else if (ps->x && c >= 0 && is_space_x(c)) {
            ps->i++;
        } else if (ps->x && c == '#') {
            if (!ps->nl_lf) {
                ps->bail = 1;
                return skipped;
            }
            while (!at_end(ps) && ps->p[ps->i] != '\n')
                ps->i++;
        } else if (ps->x && c >= 0x80) {
            /* Unicode white space PCRE2 may ignore in x mode: do not guess. */
            ps->bail = 1;
            return skipped;
        } else {
            return skipped;
        }
        skipped = 1;
    }
}

/* Length of the UTF-8 character at i (1 outside UTF mode). */
static size_t char_len(const parser *ps) {
    if (!ps->utf)
        return 1;
    uint8_t c = ps->p[ps->i];
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return ps->i + n <= ps->len ? n : ps->len - ps->i;
}

/* A literal character (bytes s, n) under the current flags. */
static info char_info(parser *ps, const uint8_t *s, size_t n) {
    if (ps->ci) {
        /* ASCII case folding is exact only for ASCII, and under UTF 'k' and 's' also
         * match U+212A and U+017F. */
        for (size_t i = 0; i < n; i++)
            if (s[i] >= 0x80)
                return info_anything();
        if (ps->utf && n == 1 && (lc(s[0]) == 'k' || lc(s[0]) == 's'))
            return info_anything();
    }
    return info_lit(ps, s, (uint32_t)n, ps->ci);
}

static int hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* Skips to just past the byte `close`; bails when missing. */
static void skip_past(parser *ps, int close) {
    while (!at_end(ps) && ps->p[ps->i] != close)
        ps->i++;
    if (at_end(ps))
        ps->bail = 1;
    else
        ps->i++;
}

enum { ESC_CHAR, ESC_ZW, ESC_ANY };

/* Parses the escape at ps->i (just past the backslash). ESC_CHAR sets *val to a code
 * point. In a class, digits are octal and \b is a backspace. */
static int parse_escape(parser *ps, int in_class, uint32_t *val) {
    int c = peek(ps, 0);
    if (c < 0) {
        ps->bail = 1;
        return ESC_ANY;
    }
    ps->i++;
    switch (c) {
    case 'a':
        *val = 7;
        return ESC_CHAR;
    case 'e':
        *val = 27;
        return ESC_CHAR;
    case 'f':
        *val = 12;
        return ESC_CHAR;
    case 'n':
        *val = 10;
        return ESC_CHAR;
    case 'r':
        *val = 13;
        return ESC_CHAR;
    case 't':
        *val = 9;
        return ESC_CHAR;
    case '0': {
        uint32_t v = 0;
        for (int k = 0; k < 2 && peek(ps, 0) >= '0' && peek(ps, 0) <= '7'; k++)
            v = v * 8 + (uint32_t)(ps->p[ps->i++] - '0');
        *val = v;
        return ESC_CHAR;
    }
    case 'o':
        if (peek(ps, 0) != '{') {
            ps->bail = 1;
            return ESC_ANY;
        } else {
            uint32_t v = 0;
            ps->i++;
            while (peek(ps, 0) >= '0' && peek(ps, 0) <= '7' && v < 0x110000)
                v = v * 8 + (uint32_t)(ps->p[ps->i++] - '0');
            if (peek(ps, 0) != '}') {
                ps->bail = 1;
                return ESC_ANY;
            }
            ps->i++;
            *val = v;
            return ESC_CHAR;
        }
    case 'x':
        if (peek(ps, 0) == '{') {
            uint32_t v = 0;
            ps->i++;
            while (hexval(peek(ps, 0)) >= 0 && v < 0x110000)
                v = v * 16 + (uint32_t)hexval(ps->p[ps->i++]);
            if (peek(ps, 0) != '}') {
                ps->bail = 1;
                return ESC_ANY;
            }
            ps->i++;
            *val = v;
        } else {
            uint32_t v = 0;
            for (int k = 0; k < 2 && hexval(peek(ps, 0)) >= 0; k++)
                v = v * 16 + (uint32_t)hexval(ps->p[ps->i++]);
            *val = v;
        }
        return ESC_CHAR;
    case 'c': {
        int d = peek(ps, 0);
        if (d < 0 || d >= 0x80) {
            ps->bail = 1;
            return ESC_ANY;
        }
        ps->i++;
        *val = (uint32_t)((d >= 'a' && d <= 'z' ? d - 32 : d) ^ 0x40);
        return ESC_CHAR;
    }
    case 'b':
        if (in_class) {
            *val = 8;
            return ESC_CHAR;
        }
        return ESC_ZW;
    case 'B':
    case 'A':
    case 'z':
    case 'Z':
    case 'G':
    case 'K':
        return in_class ? ESC_ANY : ESC_ZW;
    case 'N':
    case 'p':
    case 'P':
        if (peek(ps, 0) == '{')
            skip_past(ps, '}');
        else if (c != 'N' && !at_end(ps))
            ps->i++;
        return ESC_ANY;
    case 'g':
    case 'k':
        if (peek(ps, 0) == '{')
            skip_past(ps, '}');
        else if (peek(ps, 0) == '<')
            skip_past(ps, '>');
        else if (peek(ps, 0) == '\'') {
            ps->i++;
            skip_past(ps, '\'');
        } else {
            if (peek(ps, 0) == '+' || peek(ps, 0) == '-')
                ps->i++;
            while (peek(ps, 0) >= '0' && peek(ps, 0) <= '9')
                ps->i++;
        }
        return ESC_ANY;
    default:
        break;
    }
    if (c >= '1' && c <= '9') {
        /* A back reference or an octal escape: either way no literal we can trust,
         * and all following digits go with it. */
        while (peek(ps, 0) >= '0' && peek(ps, 0) <= '9')
            ps->i++;
        return ESC_ANY;
    }
    if (c < 0x80 && ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
        return ESC_ANY; /* \d \w \s \h \v \R \X \C and the like */
    if (c >= 0x80) {
        ps->i--;
        ps->i += char_len(ps);
        return ESC_ANY;
    }
    *val = (uint32_t)c;
    return ESC_CHAR;
}

static size_t utf8_encode(uint32_t v, uint8_t *o) {
    if (v < 0x80) {
        o[0] = (uint8_t)v;
        return 1;
    }
    if (v < 0x800) {
        o[0] = (uint8_t)(0xC0 | v >> 6);
        o[1] = (uint8_t)(0x80 | (v & 0x3F));
        return 2;
    }
    if (v < 0x10000) {
        o[0] = (uint8_t)(0xE0 | v >> 12);
        o[1] = (uint8_t)(0x80 | (v >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (v & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | v >> 18);
    o[1] = (uint8_t)(0x80 | (v >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (v >> 6 & 0x3F));
    o[3] = (uint8_t)(0x80 | (v & 0x3F));
    return 4;
}

static info codepoint_info(parser *ps, uint32_t v) {
    uint8_t b[4];
    if (v > 0x10FFFF || (!ps->utf && v > 0xFF))
        return info_anything();
    if (!ps->utf) {
        b[0] = (uint8_t)v;
        return char_info(ps, b, 1);
    }
    return char_info(ps, b, utf8_encode(v, b));
}

/* PCRE2's check for [:name:] (and [.x.], [=x=]) inside a class, at '['. On success
 * sets *end to the index just past the closing ":]". */
static int posix_class_at(const parser *ps, size_t at, size_t *end) {
    uint8_t term = ps->p[at + 1];
    for (size_t k = at + 2; k < ps->len; k++) {
        uint8_t c = ps->p[k];
        if (c == '\\' && k + 1 < ps->len && (ps->p[k + 1] == ']' || ps->p[k + 1] == '\\'))
            k++;
        else if ((c == '[' && k + 1 < ps->len && ps->p[k + 1] == term) || c == ']')
            return 0;
        else if (c == term && k + 1 < ps->len && ps->p[k + 1] == ']') {
            *end = k + 2;
            return 1;
        }
    }
    return 0;
}

/* A character class, at '['. Small classes become exact sets of one-character strings
 * ([Ff] a caseless "f"); others are ANYTHING. */
static info parse_class(parser *ps) {
    uint8_t set[32];
    int nonlit = 0, first = 1, prev = -1, range = 0;
    memset(set, 0, sizeof(set));
    ps->i++;
    /* PCRE2 skips \E, \Q\E and (under xx) blanks before and after a leading '^', and a
     * ']' after them is still a member: "[\E]a]" is the class of ']' and 'a', "[\E^a]"
     * is negated. Such items, and \Q...\E or blanks further on, can also stand between
     * the ends of a range ("[\Qa\E-z]", "(?xx)[a - z]"), which the loop below does not
     * follow: any of them makes the class ANYTHING. */
    for (int neg = 0;;) {
        if (peek(ps, 0) == '\\' && peek(ps, 1) == 'E') {
            ps->i += 2;
        } else if (peek(ps, 0) == '\\' && peek(ps, 1) == 'Q' && peek(ps, 2) == '\\' &&
                   peek(ps, 3) == 'E') {
            ps->i += 4;
        } else if (ps->xx && (peek(ps, 0) == ' ' || peek(ps, 0) == '\t')) {
            ps->i++;
        } else if (!neg && peek(ps, 0) == '^') {
            ps->i++;
            neg = 1;
        } else {
            break;
        }
        nonlit = 1;
    }
    for (;;) {
        if (at_end(ps)) {
            ps->bail = 1;
            return info_anything();
        }
        int c = ps->p[ps->i];
        int v = -1;
        if (c == ']' && !first)
            break;
        first = 0;
        if (ps->xx && (c == ' ' || c == '\t')) {
            ps->i++;
            nonlit = 1; /* it may stand inside a range: see above */
            continue;
        }
        if (c == '[' && (peek(ps, 1) == ':' || peek(ps, 1) == '.' || peek(ps, 1) == '=')) {
            size_t end;
            if (posix_class_at(ps, ps->i, &end)) {
                ps->i = end;
                nonlit = 1;
                prev = -1;
                continue;
            }
        }
        if (c == '\\') {
            ps->i++;
            if (peek(ps, 0) == 'Q') {
                nonlit = 1; /* it may hold an end of a range: see above */
                ps->i++;
                while (!at_end(ps) && !(ps->p[ps->i] == '\\' && peek(ps, 1) == 'E')) {
                    set[ps->p[ps->i] >> 3] |= (uint8_t)(1u << (ps->p[ps->i] & 7));
                    nonlit |= ps->p[ps->i] >= 0x80;
                    ps->i++;
                }
                if (at_end(ps)) {
                    ps->bail = 1;
                    return info_anything();
                }
                ps->i += 2;
                prev = -1;
                continue;
            }
            if (peek(ps, 0) == 'E') {
                ps->i++;
                nonlit = 1;
                continue;
            }
            uint32_t cv = 0;
            if (parse_escape(ps, 1, &cv) == ESC_CHAR && cv < 0x80)
                v = (int)cv;
            else
                nonlit = 1;
        } else {
            size_t n = char_len(ps);
            if (c >= 0x80)
                nonlit = 1;
            else
                v = c;
            ps->i += n;
        }
        if (range) {
            range = 0;
            if (prev < 0 || v < 0 || v < prev || v - prev > 8) {
                nonlit = 1;
            } else {
                for (int k = prev; k <= v; k++)
                    set[k >> 3] |= (uint8_t)(1u << (k & 7));
            }
            prev = -1;
            continue;
        }
        if (v >= 0 && peek(ps, 0) == '-' && peek(ps, 1) != ']' && peek(ps, 1) >= 0) {
            prev = v;
            range = 1;
            ps->i++;
            continue;
        }
        if (v >= 0)
            set[v >> 3] |= (uint8_t)(1u << (v & 7));
        prev = v;
    }
    ps->i++; /* the ']' */
    if (nonlit)
        return info_anything();
    if (ps->ci)
        for (int k = 'a'; k <= 'z'; k++)
            if (set[k >> 3] & (1u << (k & 7)) || set[(k - 32) >> 3] & (1u << ((k - 32) & 7))) {
                set[k >> 3] |= (uint8_t)(1u << (k & 7));
                set[(k - 32) >> 3] |= (uint8_t)(1u << ((k - 32) & 7));
                if (ps->utf && (k == 'k' || k == 's'))
                    return info_anything();
            }
    /* Members, with each case pair of letters counted once as a caseless letter. */
    uint8_t mem[8];
    int ci[8], n = 0;
    for (int k = 0; k < 128; k++) {
        if (!(set[k >> 3] & (1u << (k & 7))))
            continue;
        int pair = is_alpha(k) && (set[(k ^ 0x20) >> 3] & (1u << ((k ^ 0x20) & 7)));
        if (pair && k < 'a')
            continue; /* counted with its lowercase */
        if (n == 4)
            return info_anything();
        mem[n] = (uint8_t)k;
        ci[n] = pair;
        n++;
    }
    if (n == 0)
        return info_anything();
    info r = info_lit(ps, mem, 1, ci[0]);
    for (int k = 1; k < n; k++) {
        info o = info_lit(ps, mem + k, 1, ci[k]);
        r.exact = sset_union(ps, r.exact, o.exact);
    }
    return r;
}

static info parse_alt(parser *ps);

/* Parses a group body up to and including its ')', with the current flags scoped to
 * it. */
static info group_body(parser *ps) {
    int ci = ps->ci, x = ps->x, xx = ps->xx;
    info r = parse_alt(ps);
    if (peek(ps, 0) != ')')
        ps->bail = 1;
    else
        ps->i++;
    ps->ci = ci;
    ps->x = x;
    ps->xx = xx;
    return r;
}

/* A positive lookaround: what it requires occurs in the subject, but it consumes
 * nothing. */
static info lookaround(parser *ps) {
    info in = group_body(ps);
    info r = info_empty(ps);
    r.match = info_clauses(ps, &in);
    return r;
}

static int name_is(const uint8_t *s, size_t n, const char *name) {
    return strlen(name) == n && memcmp(s, name, n) == 0;
}

/* (*VERB), (*VERB:arg) and alpha assertions such as (*pla:...), at '(' '*'. */
static info parse_verb(parser *ps) {
    size_t start = ps->i + 2, k = start;
    while (k < ps->len && (is_alpha(ps->p[k]) || ps->p[k] == '_'))
        k++;
    const uint8_t *nm = ps->p + start;
    size_t n = k - start;
    if (n >= 6 && memcmp(nm, "ACCEPT", 6) == 0) {
        ps->bail = 1; /* ends the match early: nothing after it is required */
        return info_anything();
    }
    if (k < ps->len && ps->p[k] == ':') {
        ps->i = k + 1;
        if (name_is(nm, n, "pla") || name_is(nm, n, "positive_lookahead") ||
            name_is(nm, n, "plb") || name_is(nm, n, "positive_lookbehind") ||
            name_is(nm, n, "napla") || name_is(nm, n, "naplb") ||
            name_is(nm, n, "non_atomic_positive_lookahead") ||
            name_is(nm, n, "non_atomic_positive_lookbehind"))
            return lookaround(ps);
        if (name_is(nm, n, "nla") || name_is(nm, n, "negative_lookahead") ||
            name_is(nm, n, "nlb") || name_is(nm, n, "negative_lookbehind")) {
            (void)group_body(ps);
            return info_empty(ps);
        }
        if (name_is(nm, n, "atomic") || name_is(nm, n, "sr") || name_is(nm, n, "asr") ||
            name_is(nm, n, "script_run") || name_is(nm, n, "atomic_script_run"))
            return group_body(ps);
        if (n == 0 || name_is(nm, n, "MARK") || name_is(nm, n, "PRUNE") || name_is(nm, n, "SKIP") ||
            name_is(nm, n, "THEN")) {
            skip_past(ps, ')');
            return info_empty(ps);
        }
        ps->bail = 1;
        return info_anything();
    }
    /* Backtracking verbs restrict which paths match; start-of-pattern settings change
     * nothing here (UTF and newline come from PCRE2's compiled options). */
    ps->i = k;
    skip_past(ps, ')');
    return info_empty(ps);
}

/* Option letters after "(?", up to ')' (returns 1) or ':' (returns 2); 0 = bail. */
static int parse_flags(parser *ps) {
    int on = 1;
    for (;;) {
        int c = peek(ps, 0);
        ps->i++;
        switch (c) {
        case ')':
            return 1;
        case ':':
            return 2;
        case '-':
            on = 0;
            break;
        case '^':
            ps->ci = ps->x = ps->xx = 0;
            break;
        case 'i':
            ps->ci = on;
            break;
        case 'x':
            if (peek(ps, 0) == 'x') {
                ps->i++;
                ps->xx = on;
            }
            ps->x = on;
            if (!on)
                ps->xx = 0;
            break;
        case 'm':
        case 's':
        case 'n':
        case 'J':
        case 'U':
            break;
        default:
            return 0;
        }
    }
}

/* A group, at '('. */
static info parse_group(parser *ps) {
    if (peek(ps, 1) == '*')
        return parse_verb(ps);
    if (peek(ps, 1) != '?') {
        ps->i++;
        return group_body(ps);
    }
    int c = peek(ps, 2), d = peek(ps, 3);
    ps->i += 3;
    switch (c) {
    case '#':
        skip_past(ps, ')');
        return info_empty(ps);
    case ':':
    case '|':
    case '>':
        return group_body(ps);
    case '=':
    case '*':
        return lookaround(ps);
    case '!':
        (void)group_body(ps);
        return info_empty(ps);
    case '<':
        if (d == '=' || d == '*') {
            ps->i++;
            return lookaround(ps);
        }
        if (d == '!') {
            ps->i++;
            (void)group_body(ps);
            return info_empty(ps);
        }
        skip_past(ps, '>');
        return group_body(ps);
    case '\'':
        skip_past(ps, '\'');
        return group_body(ps);
    case 'P':
        if (d == '<') {
            skip_past(ps, '>');
            return group_body(ps);
        }
        skip_past(ps, ')'); /* (?P=name) back reference, (?P>name) call */
        return info_anything();
    case 'R':
    case '&':
    case '+':
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        if (c == '-' && !(d >= '0' && d <= '9'))
            break; /* (?-i) */
        skip_past(ps, ')');
        return info_anything();
    case '(': {
        /* Conditional: the condition, then the branches; no claim about any. */
        if (peek(ps, 0) == '?' || peek(ps, 0) == '*') {
            ps->i--;
            (void)parse_group(ps);
        } else {
            skip_past(ps, ')');
        }
        (void)group_body(ps);
        return info_anything();
    }
    default:
        break;
    }
    ps->i -= 1; /* back to the first option letter */
    int ci = ps->ci, x = ps->x, xx = ps->xx;
    int k = parse_flags(ps);
    if (k == 0) {
        ps->bail = 1;
        return info_anything();
    }
    if (k == 1)
        return info_empty(ps); /* flags stay set to the end of the enclosing group */
    info r = group_body(ps);
    ps->ci = ci;
    ps->x = x;
    ps->xx = xx;
    return r;
}

/* One item. Returns 0 at '|' or ')' or the end (nothing parsed). */
static int parse_atom(parser *ps, info *out) {
    for (;;) {
        if (!ps->inq && peek(ps, 0) == '\\' && peek(ps, 1) == 'Q') {
            ps->inq = 1;
            ps->i += 2;
        } else if (peek(ps, 0) == '\\' && peek(ps, 1) == 'E') {
            ps->inq = 0;
            ps->i += 2;
        } else {
            break;
        }
    }
    if (at_end(ps))
        return 0;
    if (ps->inq) {
        size_t n = char_len(ps);
        *out = char_info(ps, ps->p + ps->i, n);
        ps->i += n;
        return 1;
    }
    int c = ps->p[ps->i];
    switch (c) {
    case '|':
    case ')':
        return 0;
    case '(':
        *out = parse_group(ps);
        return 1;
    case '[':
        if (peek(ps, 1) == '[' && ps->i + 6 < ps->len &&
            (memcmp(ps->p + ps->i, "[[:<:]]", 7) == 0 ||
             memcmp(ps->p + ps->i, "[[:>:]]", 7) == 0)) {
            ps->i += 7;
            *out = info_empty(ps);
            return 1;
        }
        *out = parse_class(ps);
        return 1;
    case '^':
    case '$':
        ps->i++;
        *out = info_empty(ps);
        return 1;
    case '.':
    case '*':
    case '+':
    case '?':
        ps->i++;
        *out = info_anything();
        return 1;
    case '\\': {
        uint32_t v = 0;
        ps->i++;
        int k = parse_escape(ps, 0, &v);
        *out = k == ESC_CHAR ? codepoint_info(ps, v)
               : k == ESC_ZW ? info_empty(ps)
                             : info_anything();
        return 1;
    }
    default: {
        size_t n = char_len(ps);
        *out = char_info(ps, ps->p + ps->i, n);
        ps->i += n;
        return 1;
    }
    }
}

/* Reads {n}, {n,}, {n,m} at ps->i. strict: PCRE2's classic syntax, digits only. Returns 1
 * and sets min/max (max -1: unbounded) when it looks like a quantifier. */
static int parse_braces(parser *ps, long *min, long *max, int *strict) {
    size_t k = ps->i + 1;
    long a = -1, b = -1;
    int comma = 0, spaces = 0, digits = 0;
    while (k < ps->len && ps->p[k] != '}') {
        uint8_t c = ps->p[k];
        if (c >= '0' && c <= '9') {
            long *t = comma ? &b : &a;
            *t = (*t < 0 ? 0 : *t) * 10 + (c - '0');
            if (*t > 100000)
                *t = 100000;
            digits = 1;
        } else if (c == ',' && !comma) {
            comma = 1;
        } else if (c == ' ' || c == '\t' || c == '\n') {
            spaces = 1;
        } else {
            return 0;
        }
        k++;
    }
    if (k >= ps->len || !digits)
        return 0;
    *min = a < 0 ? 0 : a;
    *max = comma ? b : a;
    *strict = !spaces && a >= 0;
    ps->i = k + 1;
    return 1;
}

/* Applies any quantifiers following an item. */
static info quantify(parser *ps, info x) {
    int loose = 0; /* braces that may be literal text were seen */
    for (;;) {
        int skipped = skip_ignored(ps);
        if (ps->inq || ps->bail)
            return x;
        int c = peek(ps, 0);
        long min, max;
        int strict = 0;
        if (c == '?') {
            min = 0;
            max = 1;
            ps->i++;
        } else if (c == '*') {
            min = 0;
            max = -1;
            ps->i++;
        } else if (c == '+') {
            min = 1;
            max = -1;
            ps->i++;
        } else if (c == '{' && parse_braces(ps, &min, &max, &strict)) {
            /* Without a minimum or with blanks inside ("{,1}", "{ 2 }") braces are literal
             * text before PCRE2 10.43 and a quantifier since: no claim for the item and
             * the braces is true under both readings. So it stays for what follows: in
             * "x{,1}{0}" the {0} may apply to the '}' alone. */
            loose |= !strict;
            strict &= !skipped;
        } else {
            return x;
        }
        if (peek(ps, 0) == '+' || peek(ps, 0) == '?')
            ps->i++; /* possessive, lazy */
        if (loose) {
            x = info_anything();
        } else if (min == 0 && max == 0 && strict) {
            x = info_empty(ps);
        } else if (min == 0) {
            /* Only x? has the exact set x|"": x{0,3} also matches xx. */
            x = max == 1 ? optional(ps, x) : info_anything();
        } else if (strict && x.exact_ok && min <= 16) {
            info r = x;
            for (long k = 1; k < min; k++)
                r = concat(ps, r, x);
            x = max == min ? r : concat(ps, r, info_anything());
        } else {
            x = plus(ps, x);
        }
    }
}

static info parse_seq(parser *ps) {
    info r = info_empty(ps);
    for (;;) {
        (void)skip_ignored(ps);
        if (ps->bail)
            return info_anything();
        info a;
        if (!parse_atom(ps, &a))
            return r;
        a = quantify(ps, a);
        r = concat(ps, r, a);
        if (ps->bail)
            return info_anything();
    }
}

static info parse_alt(parser *ps) {
    info *v = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            info *nv = aalloc(ps, ncap * sizeof(info));
            if (!nv)
                return info_anything();
            if (n)
                memcpy(nv, v, n * sizeof(info));
            v = nv;
            cap = ncap;
        }
        v[n++] = parse_seq(ps);
        if (ps->bail)
            return info_anything();
        if (peek(ps, 0) != '|')
            break;
        ps->i++;
    }
    return n == 1 ? v[0] : alternate(ps, v, n);
}

/* ---- public ---- */

int ward_lit_push(ward_lit **v, size_t *n, const uint8_t *s, size_t len, int caseless) {
    if (!v || !n || (!s && len))
        return -1;
    ward_lit *nv = realloc(*v, (*n + 1) * sizeof(ward_lit));
    if (!nv)
        return -1;
    *v = nv;
    uint8_t *c = malloc(len ? len : 1);
    if (!c)
        return -1;
    if (len)
        memcpy(c, s, len);
    nv[*n].s = c;
    nv[*n].len = len;
    nv[*n].caseless = caseless ? 1 : 0;
    (*n)++;
    return 0;
}

void ward_lits_free(ward_lit *v, size_t n) {
    for (size_t i = 0; v && i < n; i++)
        free(v[i].s);
    free(v);
}

int ward_clause_push(ward_clause **v, size_t *n, const ward_lit *lits, size_t nlits) {
    ward_clause c = {NULL, 0};
    for (size_t i = 0; i < nlits; i++)
        if (ward_lit_push(&c.v, &c.n, lits[i].s, lits[i].len, lits[i].caseless) < 0) {
            ward_lits_free(c.v, c.n);
            return -1;
        }
    ward_clause *nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (!nv) {
        ward_lits_free(c.v, c.n);
        return -1;
    }
    *v = nv;
    nv[(*n)++] = c;
    return 0;
}

void ward_clauses_free(ward_clause *v, size_t n) {
    for (size_t i = 0; v && i < n; i++)
        ward_lits_free(v[i].v, v[i].n);
    free(v);
}

void ward_relit_fini(ward_relit *r) {
    if (!r)
        return;
    ward_lits_free(r->alts, r->nalts);
    ward_lits_free(r->must, r->nmust);
    ward_clauses_free(r->clauses, r->nclauses);
    memset(r, 0, sizeof(*r));
}

/* A clause the prefilter can use: no one-byte member (it would hit almost every line
 * and slow the scan for every rule). */
static int clause_usable(const sset *c) {
    if (clause_trivial(c))
        return 0;
    for (uint32_t i = 0; i < c->n; i++)
        if (c->v[i].len < 2)
            return 0;
    return 1;
}

static int fill_result(parser *ps, const info *top, ward_relit *out) {
    cnf all = info_clauses(ps, top);
    if (ps->oom)
        return -1;
    int best = -1;
    double best_score = 0;
    for (uint32_t k = 0; k < all.n; k++) {
        sset *c = &all.c[k];
        clause_normalise(c);
        if (!clause_usable(c))
            continue;
        double s = clause_score(c);
        if (best < 0 || s > best_score) {
            best = (int)k;
            best_score = s;
        }
    }
    if (best < 0) {
        out->any = 1;
    } else {
        const sset *c = &all.c[best];
        for (uint32_t i = 0; i < c->n; i++)
            if (ward_lit_push(&out->alts, &out->nalts, c->v[i].s, c->v[i].len, (int)c->v[i].ci) < 0)
                return -1;
    }
    /* must: one-member clauses not implied by a longer one. */
    for (uint32_t k = 0; k < all.n; k++) {
        const sset *c = &all.c[k];
        if (c->n != 1 || c->v[0].len == 0)
            continue;
        int dup = 0;
        for (uint32_t j = 0; j < all.n && !dup; j++) {
            if (j == k || all.c[j].n != 1)
                continue;
            const str *a = &all.c[j].v[0], *b = &c->v[0];
            if (str_implies(a, b) && (!str_implies(b, a) || j < k))
                dup = 1;
        }
        if (!dup &&
            ward_lit_push(&out->must, &out->nmust, c->v[0].s, c->v[0].len, (int)c->v[0].ci) < 0)
            return -1;
    }
    /* clauses: the best usable multi-member clauses other than alts. */
    int used[WARD_RELIT_MAX_CLAUSES];
    size_t nused = 0;
    while (best >= 0 && nused < WARD_RELIT_MAX_CLAUSES) {
        int pick = -1;
        double ps_best = 0;
        for (uint32_t k = 0; k < all.n; k++) {
            const sset *c = &all.c[k];
            int taken = (int)k == best;
            for (size_t u = 0; u < nused && !taken; u++)
                taken = used[u] == (int)k;
            if (taken || c->n < 2 || !clause_usable(c))
                continue;
            double sc = clause_score(c);
            if (pick < 0 || sc > ps_best) {
                pick = (int)k;
                ps_best = sc;
            }
        }
        if (pick < 0)
            break;
        used[nused++] = pick;
        const sset *c = &all.c[pick];
        ward_lit *tmp = malloc(c->n * sizeof(*tmp));
        if (!tmp)
            return -1;
        for (uint32_t i = 0; i < c->n; i++)
            tmp[i] = (ward_lit){(uint8_t *)c->v[i].s, c->v[i].len, (int)c->v[i].ci};
        int rc = ward_clause_push(&out->clauses, &out->nclauses, tmp, c->n);
        free(tmp);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int ward_relit_extract(const char *pattern, size_t len, uint32_t options, ward_relit *out,
                       char *err, size_t errlen) {
    parser ps;
    memset(&ps, 0, sizeof(ps));
    if (!out) {
        snprintf(err, errlen, "relit: no result storage");
        return -1;
    }
    memset(out, 0, sizeof(*out));
    if (!pattern) {
        snprintf(err, errlen, "relit: no pattern");
        return -1;
    }
    if (len == PCRE2_ZERO_TERMINATED)
        len = strlen(pattern);
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, options, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof(msg));
        snprintf(err, errlen, "bad regex: %s at offset %zu", (const char *)msg, (size_t)off);
        return -1;
    }
    uint32_t all = 0, nl = 0;
    pcre2_pattern_info(re, PCRE2_INFO_ALLOPTIONS, &all);
    pcre2_pattern_info(re, PCRE2_INFO_NEWLINE, &nl);
    pcre2_code_free(re);
    if (options & ~(uint32_t)WARD_RELIT_OPTIONS) {
        out->any = 1;
        return 0;
    }
    ps.p = (const uint8_t *)pattern;
    ps.len = len;
    ps.ci = (options & PCRE2_CASELESS) != 0;
    ps.x = (options & PCRE2_EXTENDED) != 0;
    ps.utf = (all & PCRE2_UTF) != 0;
    ps.nl_lf = nl == PCRE2_NEWLINE_LF;
    info top = parse_alt(&ps);
    if (!ps.bail && !at_end(&ps))
        ps.bail = 1; /* the parser and PCRE2 disagree about the structure */
    int rc = 0;
    if (ps.bail && !ps.oom) {
        out->any = 1;
    } else if (ps.oom || fill_result(&ps, &top, out) < 0) {
        snprintf(err, errlen, "relit: out of memory");
        ward_relit_fini(out);
        rc = -1;
    }
    while (ps.arena) {
        arena_blk *b = ps.arena->next;
        free(ps.arena);
        ps.arena = b;
    }
    return rc;
}

int ward_relit_requires(const ward_relit *r, const uint8_t *lit, size_t len) {
    if (!r || !lit || len == 0 || len > UINT32_MAX)
        return 0;
    for (size_t k = 0; k < r->nmust; k++) {
        const ward_lit *m = &r->must[k];
        str a = {m->s, (uint32_t)m->len, (uint32_t)(m->caseless != 0)};
        /* The hint compared caselessly when the must literal is caseless. */
        for (size_t i = 0; i + len <= m->len; i++) {
            size_t j = 0;
            if (a.ci)
                while (j < len && lc(m->s[i + j]) == lc(lit[j]))
                    j++;
            else
                while (j < len && m->s[i + j] == lit[j])
                    j++;
            if (j == len)
                return 1;
        }
    }
    return 0;
}
