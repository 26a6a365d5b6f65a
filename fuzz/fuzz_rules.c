/* Fuzzes the rule loader: the input as a YAML rule stream, then as an overlay applied to a
 * small fixed rule set (so that overlays find their targets), then every loaded extract
 * run on the input as an event's message. Then the rules are compiled into an engine and
 * the input, decoded as auto and as kv (a rule's values are in its own text, so rules
 * match it), is matched with the literal prefilter and without it: the verdicts must be
 * the same (unless a PCRE2 limit was hit). Allocations fail as failalloc.h says. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failalloc.h"
#include "ward/decode.h"
#include "ward/engine.h"
#include "ward/rule.h"

static const char base[] = "title: Base\n"
                           "id: base-1\n"
                           "level: high\n"
                           "extract: {on: message, pcre2: 'user (?<user>\\S+)'}\n"
                           "detection:\n"
                           "  selection:\n"
                           "    program: sshd\n"
                           "  condition: selection\n"
                           "---\n"
                           "title: Base two\n"
                           "id: base-2\n"
                           "level: low\n"
                           "detection:\n"
                           "  keywords: [Failed password]\n"
                           "  condition: keywords\n";

static int on_field(const char *name, const char *val, size_t len, void *ctx) {
    (void)name;
    (void)val;
    (void)len;
    (void)ctx;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct hits {
    uint8_t *v; /* per rule: 1 when it matched */
    size_t n;
} hits;

static int on_hit(const ward_rule *r, size_t idx, void *ctx) {
    (void)r;
    hits *h = ctx;
    if (idx >= h->n)
        __builtin_trap();
    h->v[idx] = 1;
    return 0;
}

static uint64_t limit_hits(ward_scratch *s, size_t n) {
    const ward_rule_stats *st = ward_scratch_stats(s);
    uint64_t t = ward_scratch_ctx(s)->limit_hits;
    for (size_t i = 0; st && i < n; i++)
        t += st[i].limit_hits;
    return t;
}

/* The prefilter never changes a verdict: ward_engine_match and _naive agree. */
static void differential(ward_rules *rs, const ward_limits *l, const uint8_t *data, size_t size) {
    char err[256];
    ward_engine *e = ward_engine_new(rs, l, err, sizeof(err));
    if (!e)
        return;
    size_t n = ward_engine_rule_count(e);
    ward_scratch *s = ward_scratch_new(e);
    hits a = {calloc(n ? n : 1, 1), n}, b = {calloc(n ? n : 1, 1), n};
    ward_event ev;
    ward_event_init(&ev);
    static const ward_decoder decs[] = {WARD_DECODER_AUTO, WARD_DECODER_KV};
    for (size_t k = 0; s && a.v && b.v && k < sizeof(decs) / sizeof(decs[0]); k++) {
        if (ward_decode(decs[k], data, size, &ev) < 0)
            continue;
        memset(a.v, 0, n ? n : 1);
        memset(b.v, 0, n ? n : 1);
        uint64_t lim0 = limit_hits(s, n);
        int ma = ward_engine_match(e, s, &ev, on_hit, &a);
        int mb = ward_engine_match_naive(e, s, &ev, on_hit, &b);
        if (limit_hits(s, n) != lim0 || failalloc_failed())
            continue;
        if (ma != mb || memcmp(a.v, b.v, n) != 0) {
            for (size_t i = 0; i < n; i++)
                if (a.v[i] != b.v[i])
                    fprintf(stderr, "rule %s: prefiltered %d, naive %d\n",
                            ward_engine_rule(e, i)->id, a.v[i], b.v[i]);
            abort();
        }
    }
    ward_event_fini(&ev);
    free(a.v);
    free(b.v);
    ward_scratch_free(s);
    ward_engine_free(e);
}

static void body(const uint8_t *data, size_t size) {
    ward_rules rs;
    ward_diags d;
    ward_rules_init(&rs);
    ward_diags_init(&d);
    ward_rules_load_buffer(&rs, "fuzz.yml", data, size, &d);
    ward_rules_load_buffer(&rs, "base.yml", (const uint8_t *)base, sizeof(base) - 1, &d);
    ward_rules_load_overlay_buffer(&rs, "overlay.yml", data, size, &d);

    ward_limits l;
    ward_match_ctx mc;
    ward_event ev;
    ward_limits_default(&l);
    if (ward_match_ctx_init(&mc, &l) == 0) {
        ward_event_init(&ev);
        ward_event_reset(&ev, data, size);
        ward_event_set(&ev, "message", (const char *)data, size);
        for (size_t i = 0; i < rs.n; i++)
            ward_extract_run(rs.v[i], &ev, &mc, on_field, NULL);
        ward_event_fini(&ev);
        ward_match_ctx_fini(&mc);
    }
    differential(&rs, &l, data, size);
    ward_rules_fini(&rs);
    ward_diags_fini(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_run(body, data, size);
    return 0;
}
