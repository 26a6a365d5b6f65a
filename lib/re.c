#include "ward/re.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ward_limits_default(ward_limits *l) {
    l->match_limit = 100000;
    l->depth_limit = 10000;
    l->heap_limit_kib = 20480;
    /* 1 MiB: PCRE2's default 32 KiB JIT stack silently fails on long lines. */
    l->jit_stack = 1u << 20;
    l->max_line = 64u << 10;
    l->yara_timeout_s = 1;
}

int ward_match_ctx_init(ward_match_ctx *mc, const ward_limits *l) {
    memset(mc, 0, sizeof(*mc));
    mc->yara_timeout_s = l->yara_timeout_s;
    /* Match data is sized generously once; ward_re_match uses it for every pattern. */
    mc->md = pcre2_match_data_create(256, NULL);
    mc->mctx = pcre2_match_context_create(NULL);
    mc->jit = pcre2_jit_stack_create(32 * 1024, l->jit_stack, NULL);
    if (!mc->md || !mc->mctx || !mc->jit)
        goto fail;
    pcre2_set_match_limit(mc->mctx, l->match_limit);
    pcre2_set_depth_limit(mc->mctx, l->depth_limit);
    pcre2_set_heap_limit(mc->mctx, l->heap_limit_kib);
    pcre2_jit_stack_assign(mc->mctx, NULL, mc->jit);
    return 0;
fail:
    ward_match_ctx_fini(mc);
    return -1;
}

void ward_match_ctx_fini(ward_match_ctx *mc) {
    pcre2_match_data_free(mc->md);
    pcre2_match_context_free(mc->mctx);
    pcre2_jit_stack_free(mc->jit);
    free(mc->yara_matched);
    memset(mc, 0, sizeof(*mc));
}

pcre2_code *ward_re_compile(const char *pattern, size_t len, uint32_t options, char *err,
                            size_t errlen) {
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, options, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof(msg));
        snprintf(err, errlen, "bad regex: %s at offset %zu", (const char *)msg, (size_t)off);
        return NULL;
    }
    int rc = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    if (rc != 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof(msg));
        snprintf(err, errlen, "regex cannot be JIT-compiled: %s", (const char *)msg);
        pcre2_code_free(re);
        return NULL;
    }
    return re;
}

int ward_re_match(const pcre2_code *re, const uint8_t *subject, size_t len, ward_match_ctx *mc) {
    int rc = pcre2_jit_match(re, subject, len, 0, 0, mc->md, mc->mctx);
    if (rc >= 0)
        return 1;
    /* rc 0 (match data too small for every group) is still a match, handled above. */
    if (rc == PCRE2_ERROR_NOMATCH || rc == PCRE2_ERROR_PARTIAL)
        return 0;
    mc->limit_hits++;
    mc->hit_limit = 1;
    return -1;
}
