/* PCRE2 with ward's safety limits: every pattern is JIT-compiled (or refused) and every
 * match runs under match, depth and heap limits with a JIT stack of known size. */
#ifndef WARD_RE_H
#define WARD_RE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ward_limits {
    uint32_t match_limit;    /* PCRE2 match limit per match call */
    uint32_t depth_limit;    /* PCRE2 depth limit */
    uint32_t heap_limit_kib; /* PCRE2 heap limit */
    size_t jit_stack;        /* bytes of JIT stack per scratch */
    size_t max_line;         /* bytes of a line the engine looks at; the rest is cut */
    int yara_timeout_s;      /* seconds per YARA scan */
} ward_limits;

/* Fills l with the defaults (documented in docs/rules.md). */
void ward_limits_default(ward_limits *l);

struct ward_explain;

/* Per-thread matching state: one per thread, never shared. */
typedef struct ward_match_ctx {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    uint64_t limit_hits; /* regex evaluations stopped by a limit, since init */
    int hit_limit;       /* set when the current evaluation hit a limit; caller clears */
    int yara_timeout_s;
    /* YARA results of the current event, filled lazily by the YARA module. */
    uint64_t yara_gen;     /* event generation the results belong to */
    uint64_t event_gen;    /* bumped by the engine for each new event */
    uint8_t *yara_matched; /* one byte per YARA rule: 1 matched, 0 not, 2 limit hit */
    size_t yara_n;
    int yara_error;
} ward_match_ctx;

/* Initialises mc in caller's storage with limits l. Returns 0 or -1 (no memory). */
int ward_match_ctx_init(ward_match_ctx *mc, const ward_limits *l);

/* Frees what mc owns; safe after a failed init. */
void ward_match_ctx_fini(ward_match_ctx *mc);

/* Compiles pattern (len bytes) with PCRE2 options, then JIT-compiles it; a pattern
 * JIT refuses is refused too. Returns the code (caller frees with pcre2_code_free), or
 * NULL with "message at offset N" in err. */
pcre2_code *ward_re_compile(const char *pattern, size_t len, uint32_t options, char *err,
                            size_t errlen);

/* Runs re on subject under mc's limits. Returns 1 on a match (mc->md holds the
 * groups), 0 on no match, -1 when a limit stopped it (counted in mc->limit_hits,
 * mc->hit_limit set: the caller treats it as no match). */
int ward_re_match(const pcre2_code *re, const uint8_t *subject, size_t len, ward_match_ctx *mc);

#endif
