/* Required-literal extraction from PCRE2 patterns, for the prefilter.
 * A conservative parser on top of pcre2_compile: whatever it does not understand
 * widens to "any", so the prefilter built from its result never drops a true match. */
#ifndef WARD_RELIT_H
#define WARD_RELIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ward_lit {
    uint8_t *s; /* owned */
    size_t len;
    int caseless; /* the pattern matches it case-insensitively */
} ward_lit;

/* An OR-set of literals: every match contains at least one of them. */
typedef struct ward_clause {
    ward_lit *v; /* owned */
    size_t n;
} ward_clause;

#define WARD_RELIT_MAX_CLAUSES 4

typedef struct ward_relit {
    /* 1 when no usable literal set exists: the rule must always run. */
    int any;
    /* Alternatives: every match of the pattern contains at least one of these. Chosen
     * to be few and long (the extractor scores candidates). Empty when any is set. */
    ward_lit *alts;
    size_t nalts;
    /* Literals that every match contains, each one (a conjunction); may be empty even
     * when alts is not (e.g. for an alternation). */
    ward_lit *must;
    size_t nmust;
    /* Further required OR-sets of two or more literals (alts aside), at most
     * WARD_RELIT_MAX_CLAUSES: a second stage can check them after alts made a rule a
     * candidate. The extractor gives them best first; a Sigma detection in the order
     * its condition names them. */
    ward_clause *clauses;
    size_t nclauses;
} ward_relit;

/* PCRE2 compile options the extractor understands (others make it answer "any"). */
#define WARD_RELIT_OPTIONS (PCRE2_CASELESS | PCRE2_MULTILINE | PCRE2_DOTALL | PCRE2_EXTENDED)

/* Analyses pattern (len bytes, not necessarily NUL-terminated) compiled with the PCRE2
 * options given. Fills out (caller's storage; free with ward_relit_fini). Returns 0,
 * or -1 when the pattern does not compile (err gets PCRE2's message and offset) or
 * memory ran out. A pattern it cannot analyse is not an error: out->any is 1. */
int ward_relit_extract(const char *pattern, size_t len, uint32_t options, ward_relit *out,
                       char *err, size_t errlen);

/* Frees what out owns; safe on a zeroed or half-filled struct. */
void ward_relit_fini(ward_relit *r);

/* Returns 1 when lit is certainly required by the pattern (a substring of one of its
 * must literals, caselessly where that literal is caseless), else 0. */
int ward_relit_requires(const ward_relit *r, const uint8_t *lit, size_t len);

/* Helpers for combining literal sets elsewhere (Sigma values, YARA strings). */
int ward_lit_push(ward_lit **v, size_t *n, const uint8_t *s, size_t len, int caseless);
void ward_lits_free(ward_lit *v, size_t n);

/* Appends a copy of c to *v (count *n). Returns 0 or -1 (no memory; *v unchanged). */
int ward_clause_push(ward_clause **v, size_t *n, const ward_lit *lits, size_t nlits);
void ward_clauses_free(ward_clause *v, size_t n);

#endif
