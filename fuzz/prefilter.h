/* The literal prefilter's promise, for the differential harnesses: every subject a
 * pattern (or a detection) matches contains one of the alternatives (unless any is set),
 * every must literal and one literal of each clause, a caseless literal compared with ASCII case
 * folded (as the engine's multi-pattern matcher compares). */
#ifndef WARD_FUZZ_PREFILTER_H
#define WARD_FUZZ_PREFILTER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ward/relit.h"

static inline uint8_t pf_lc(uint8_t c) {
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

static inline int pf_has(const uint8_t *s, size_t n, const ward_lit *l) {
    if (l->len == 0)
        return 1;
    for (size_t i = 0; i + l->len <= n; i++) {
        size_t j = 0;
        if (l->caseless)
            while (j < l->len && pf_lc(s[i + j]) == pf_lc(l->s[j]))
                j++;
        else
            while (j < l->len && s[i + j] == l->s[j])
                j++;
        if (j == l->len)
            return 1;
    }
    return 0;
}

static inline int pf_any_of(const uint8_t *s, size_t n, const ward_lit *v, size_t nv) {
    for (size_t i = 0; i < nv; i++)
        if (pf_has(s, n, &v[i]))
            return 1;
    return 0;
}

static inline void pf_show(const char *what, const ward_lit *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  %s[%zu] = '%.*s'%s\n", what, i, (int)v[i].len, (const char *)v[i].s,
                v[i].caseless ? " (caseless)" : "");
}

/* Returns 1 when subject passes the prefilter r, else prints why and returns 0. The must
 * literals and the clauses are required also when r->any (they are then too weak to
 * filter on, but ward_relit_requires and the second stage rely on them). */
static inline int pf_passes(const ward_relit *r, const uint8_t *s, size_t n) {
    int ok = r->any || r->nalts == 0 || pf_any_of(s, n, r->alts, r->nalts);
    const char *why = ok ? NULL : "no alternative occurs";
    for (size_t k = 0; ok && k < r->nmust; k++)
        if (!pf_has(s, n, &r->must[k])) {
            ok = 0;
            why = "a must literal does not occur";
        }
    for (size_t k = 0; ok && k < r->nclauses; k++)
        if (!pf_any_of(s, n, r->clauses[k].v, r->clauses[k].n)) {
            ok = 0;
            why = "no literal of a clause occurs";
        }
    if (!ok) {
        fprintf(stderr, "prefilter: %s in the matched subject '%.*s'\n", why, (int)n,
                (const char *)s);
        pf_show("alts", r->alts, r->nalts);
        pf_show("must", r->must, r->nmust);
        for (size_t k = 0; k < r->nclauses; k++)
            pf_show("clause", r->clauses[k].v, r->clauses[k].n);
    }
    return ok;
}

#endif
