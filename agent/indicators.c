/* The regional indicators as an extra literal set (indicators.h). */
#include "indicators.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void agent_ind_init(agent_ind *s) {
    memset(s, 0, sizeof(*s));
}

void agent_ind_fini(agent_ind *s) {
    ward_feed_fini(&s->feed);
    ward_mpm_free(s->mpm);
    free(s->seen_ms);
    free(s->hit_round);
    memset(s, 0, sizeof(*s));
}

static int word(uint8_t c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c >= 0x80; /* a byte of a UTF-8 letter continues a word too */
}

int agent_ind_token(const uint8_t *p, size_t plen, size_t at, size_t len) {
    if (at > plen || len > plen - at)
        return 0;
    if (at > 0) {
        uint8_t b = p[at - 1];
        if (word(b) || (b == '.' && at > 1 && word(p[at - 2])))
            return 0;
    }
    size_t end = at + len;
    if (end < plen) {
        uint8_t b = p[end];
        if (word(b) || (b == '.' && end + 1 < plen && word(p[end + 1])))
            return 0;
    }
    return 1;
}

int agent_ind_load(agent_ind *s, ward_feed *f, char *err, size_t errlen) {
    ward_mpm *m = NULL;
    uint64_t *seen = calloc(f->n ? f->n : 1, sizeof(*seen));
    uint32_t *hr = calloc(f->n ? f->n : 1, sizeof(*hr));
    uint64_t skipped = 0;
    size_t added = 0;
    if (!seen || !hr) {
        snprintf(err, errlen, "feed %llu: out of memory", (unsigned long long)f->version);
        goto fail;
    }
    if (f->n > UINT32_MAX) {
        snprintf(err, errlen, "feed %llu: too many entries", (unsigned long long)f->version);
        goto fail;
    }
    if (!(m = ward_mpm_new())) {
        snprintf(err, errlen, "feed %llu: out of memory", (unsigned long long)f->version);
        goto fail;
    }
    for (size_t i = 0; i < f->n; i++) {
        size_t n = strlen(f->v[i].value);
        if (n == 0 || n > WARD_MPM_MAX_LIT) {
            skipped++;
            continue;
        }
        if (ward_mpm_add(m, (const uint8_t *)f->v[i].value, n, (uint32_t)i) < 0) {
            snprintf(err, errlen, "feed %llu: out of memory", (unsigned long long)f->version);
            goto fail;
        }
        added++;
    }
    if (added && ward_mpm_compile(m, err, errlen) < 0)
        goto fail;
    if (!added) {
        ward_mpm_free(m);
        m = NULL;
    }
    /* what was seen stays seen while it is the same regional alert */
    for (size_t j = 0; j < s->feed.n; j++) {
        if (!s->seen_ms[j])
            continue;
        const ward_feed_entry *o = &s->feed.v[j];
        for (size_t i = 0; i < f->n; i++)
            if (strcmp(f->v[i].value, o->value) == 0 &&
                strcmp(f->v[i].regional_id, o->regional_id) == 0)
                seen[i] = s->seen_ms[j];
    }
    ward_feed_fini(&s->feed);
    ward_mpm_free(s->mpm);
    free(s->seen_ms);
    free(s->hit_round);
    s->feed = *f;
    memset(f, 0, sizeof(*f));
    s->mpm = m;
    s->seen_ms = seen;
    s->hit_round = hr;
    s->round = 0;
    s->skipped += skipped;
    return 0;
fail:
    ward_mpm_free(m);
    free(seen);
    free(hr);
    ward_feed_fini(f);
    return -1;
}

typedef struct scan_ctx {
    agent_ind *s;
    const uint8_t *line;
    size_t len;
    uint64_t now;
    agent_ind_fn fn;
    void *ctx;
    size_t reports;
    int stop;
} scan_ctx;

static int on_lit(uint32_t id, size_t end, void *vc) {
    scan_ctx *c = vc;
    agent_ind *s = c->s;
    if (id >= s->feed.n)
        return 0;
    const ward_feed_entry *e = &s->feed.v[id];
    size_t n = strlen(e->value);
    if (end < n || end > c->len)
        return 0;
    size_t at = end - n;
    if (strncasecmp((const char *)c->line + at, e->value, n) != 0)
        return 0;
    if (!agent_ind_token(c->line, c->len, at, n)) {
        s->partial++;
        return 0;
    }
    if (s->hit_round[id] == s->round)
        return 0; /* twice in one line: one occurrence */
    s->hit_round[id] = s->round;
    if (e->expires_ms && c->now >= e->expires_ms) {
        s->expired++;
        return 0;
    }
    if (s->seen_ms[id]) {
        s->suppressed++;
        return 0;
    }
    s->seen_ms[id] = c->now ? c->now : 1;
    s->reported++;
    c->reports++;
    if (c->fn(c->ctx, e)) {
        c->stop = 1;
        return 1;
    }
    return 0;
}

size_t agent_ind_scan(agent_ind *s, const uint8_t *line, size_t len, uint64_t now_ms,
                      agent_ind_fn fn, void *ctx) {
    if (!s->mpm || !len)
        return 0;
    if (++s->round == 0) { /* wrapped: no entry may look reported in this round */
        memset(s->hit_round, 0, s->feed.n * sizeof(*s->hit_round));
        s->round = 1;
    }
    scan_ctx c = {s, line, len, now_ms, fn, ctx, 0, 0};
    ward_mpm_scan(s->mpm, line, len, on_lit, &c);
    return c.reports;
}
