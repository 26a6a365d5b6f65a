/* Differential fuzzing of the PCRE2 literal extractor (relit.h). The first byte chooses
 * the compile options (the four the extractor understands, and now and then one it does
 * not); the rest is the pattern, then a NUL, then the subject. When the pattern compiles
 * and PCRE2 finds a match in the subject, the literals extracted must pass the prefilter
 * for it (prefilter.h): otherwise the engine would drop a true match, and the harness
 * aborts. Matching uses PCRE2's interpreter with small limits (a limit hit proves
 * nothing). Allocations fail as failalloc.h says: the extractor then returns -1. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "failalloc.h"
#include "prefilter.h"
#include "ward/relit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t options_of(uint8_t b) {
    uint32_t o = 0;
    if (b & 1)
        o |= PCRE2_CASELESS;
    if (b & 2)
        o |= PCRE2_MULTILINE;
    if (b & 4)
        o |= PCRE2_DOTALL;
    if (b & 8)
        o |= PCRE2_EXTENDED;
    if ((b & 0xf0) == 0xf0)
        o |= PCRE2_UNGREEDY; /* not understood: the answer must be "any" */
    return o;
}

/* 1 when re matches subject, 0 when not or when a limit or bad UTF stopped PCRE2. */
static int matches(const uint8_t *pat, size_t plen, uint32_t opts, const uint8_t *s, size_t n) {
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile(pat, plen, opts, &code, &off, NULL);
    if (!re)
        return -1;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    int rc = 0;
    if (md && mc) {
        pcre2_set_match_limit(mc, 20000);
        pcre2_set_depth_limit(mc, 2000);
        pcre2_set_heap_limit(mc, 2048);
        rc = pcre2_match(re, s, n, 0, 0, md, mc) >= 0;
    }
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc;
}

static void body(const uint8_t *data, size_t size) {
    if (size < 1)
        return;
    uint32_t opts = options_of(data[0]);
    const uint8_t *pat = data + 1;
    const uint8_t *nul = memchr(pat, 0, size - 1);
    size_t plen = nul ? (size_t)(nul - pat) : size - 1;
    const uint8_t *subj = nul ? nul + 1 : pat + plen;
    size_t slen = (size_t)(data + size - subj);
    if (plen > 4096)
        return;
    ward_relit r;
    char err[256];
    err[0] = 0;
    int rc = ward_relit_extract((const char *)pat, plen, opts, &r, err, sizeof(err));
    if (rc < 0) {
        /* only a pattern PCRE2 refuses, or memory, may fail; err says which */
        if (!err[0] || (!failalloc_failed() && matches(pat, plen, opts, subj, 0) != -1))
            __builtin_trap();
        ward_relit_fini(&r);
        return;
    }
    if ((opts & ~(uint32_t)WARD_RELIT_OPTIONS) && !r.any)
        __builtin_trap();
    if (r.any && r.nalts)
        __builtin_trap();
    if (r.nclauses > WARD_RELIT_MAX_CLAUSES)
        __builtin_trap();
    if (matches(pat, plen, opts, subj, slen) == 1 && !pf_passes(&r, subj, slen)) {
        fprintf(stderr, "pattern '%.*s' options 0x%x\n", (int)plen, (const char *)pat, opts);
        abort();
    }
    /* requires() agrees with must: each must literal is required by the pattern */
    for (size_t k = 0; k < r.nmust; k++)
        if (r.must[k].len && !ward_relit_requires(&r, r.must[k].s, r.must[k].len))
            __builtin_trap();
    ward_relit_fini(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_run(body, data, size);
    return 0;
}
