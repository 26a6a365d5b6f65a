/* The pipeline: decode, match, extract, correlate, alert, output; and the group commit
 * that makes alerts durable before bookmarks move. */
#include "agent.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_HITS 256           /* rules reported per record; more are counted */
#define MAX_EXTRACTED 64       /* fields one rule may extract into one alert */
#define FLUSH_BYTES (1u << 20) /* buffered alerts written (not yet synced) past this */

uint64_t agent_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void agent_log(agent *a, const char *level, const char *fmt, ...) {
    FILE *f = a && a->log ? a->log : stderr;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(f, "ward-agent: %s: %s\n", level, msg);
    fflush(f);
}

typedef struct hits {
    uint32_t idx[MAX_HITS];
    size_t n;
    uint64_t over;
} hits;

static int on_hit(const ward_rule *r, size_t idx, void *ctx) {
    (void)r;
    hits *h = ctx;
    if (h->n < MAX_HITS)
        h->idx[h->n++] = (uint32_t)idx;
    else
        h->over++;
    return 0;
}

typedef struct xfields {
    ward_alert_field f[MAX_EXTRACTED];
    size_t n;
} xfields;

static int on_field(const char *name, const char *val, size_t len, void *ctx) {
    xfields *x = ctx;
    if (x->n < MAX_EXTRACTED)
        x->f[x->n++] = (ward_alert_field){name, val, len};
    return 0;
}

/* A field for threshold grouping: extracted first, then decoded. */
static ward_corr_val field_val(const xfields *x, const ward_event *ev, const char *name) {
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->f[i].name, name) == 0)
            return (ward_corr_val){x->f[i].val, x->f[i].len};
    const ward_field *f = ward_event_get(ev, name);
    return f ? (ward_corr_val){f->val, f->val_len} : (ward_corr_val){NULL, 0};
}

/* Decodes r into a->ev; fields from outside the line go into a scan buffer with it. */
static void decode(agent *a, const agent_rec *r) {
    ward_decode((ward_decoder)r->decoder, r->line, r->len, &a->ev);
    a->ev.truncated = r->truncated;
    if (!r->nextra)
        return;
    ward_buf *b = &a->scanbuf;
    ward_buf_reset(b);
    ward_buf_put(b, r->line, r->len);
    size_t *offs = a->extra_off;
    size_t n = r->nextra < AGENT_MAX_EXTRA ? r->nextra : AGENT_MAX_EXTRA;
    for (size_t i = 0; i < n; i++) {
        ward_buf_putc(b, '\n');
        offs[i] = b->len;
        ward_buf_put(b, r->extra[i].val, r->extra[i].val_len);
    }
    if (b->oom) {
        a->st.decode_oom++;
        return; /* the event keeps its own fields; extras are left out, counted */
    }
    for (size_t i = 0; i < n; i++)
        ward_event_set(&a->ev, r->extra[i].name, b->p + offs[i], r->extra[i].val_len);
    a->ev.scan = (const uint8_t *)b->p;
    a->ev.scan_len = b->len;
}

int agent_process(agent *a, src *s, const agent_rec *r) {
    decode(a, r);
    hits h = {.n = 0};
    ward_engine_match(a->engine, a->scratch, &a->ev, on_hit, &h);
    a->dirty = 1;
    agent_touch(a);
    if (h.over)
        a->st.hits_over += h.over;
    int rc = 0;
    uint64_t now = 0;
    for (size_t k = 0; k < h.n; k++) {
        const ward_rule *rule = ward_engine_rule(a->engine, h.idx[k]);
        if (rule->mode == WARD_MODE_SHADOW) {
            a->st.shadow_hits++;
            continue;
        }
        xfields x = {.n = 0};
        ward_extract_run(rule, &a->ev, ward_scratch_ctx(a->scratch), on_field, &x);
        if (!now)
            now = agent_now_ms();
        ward_corr_result thr;
        int is_thr = rule->threshold.set;
        if (is_thr) {
            const ward_threshold *t = &rule->threshold;
            ward_corr_val group[16];
            size_t ng = t->ngroup_by < 16 ? t->ngroup_by : 16;
            for (size_t i = 0; i < ng; i++)
                group[i] = field_val(&x, &a->ev, t->group_by[i]);
            ward_corr_val distinct = {NULL, 0};
            if (t->distinct)
                distinct = field_val(&x, &a->ev, t->distinct);
            ward_threshold tt = *t;
            tt.ngroup_by = ng;
            if (ward_corr_feed(a->corr, rule->id, &tt, group, &distinct,
                               r->time_ms ? r->time_ms : now, &thr) < 0)
                continue; /* counted by the correlation state */
            if (thr.suppressed)
                a->st.suppressed++;
            if (!thr.fire)
                continue;
            a->st.threshold_alerts++;
        }
        ward_alert al = {0};
        ward_alert_id(al.id, r->key, r->pos, rule->id);
        al.time_ms = now;
        al.agent_id = a->cfg.agent.id ? a->cfg.agent.id : a->cfg.agent.name;
        al.agent_name = a->cfg.agent.name;
        al.agent_version = AGENT_VERSION;
        al.host_name = a->host;
        al.rule = rule;
        al.ev = &a->ev;
        al.extracted = x.f;
        al.nextracted = x.n;
        al.threshold = is_thr ? &thr : NULL;
        al.src = &r->where;
        ward_buf_reset(&a->tmp);
        if (ward_alert_json(&a->tmp, &al) < 0 || output_put(&a->out, a->tmp.p, a->tmp.len) < 0) {
            agent_log(a, "error", "out of memory writing an alert of rule %s", rule->id);
            rc = -1;
            continue;
        }
        a->st.alerts++;
    }
    (void)s;
    if (a->out.buf.len >= FLUSH_BYTES && !a->out.failing)
        output_flush(&a->out, 0); /* a failing output is retried at the next commit */
    return rc;
}

int agent_backlogged(const agent *a) {
    return a->out.buf.len >= a->cfg.limits.output_buffer;
}

int agent_commit(agent *a) {
    if (output_flush(&a->out, 1) < 0) {
        if (!a->out.failing_logged)
            agent_log(a, "error", "alerts cannot be written to %s: %s; bookmarks wait",
                      a->out.path ? a->out.path : "stdout", strerror(errno));
        a->out.failing_logged = 1;
        return -1;
    }
    a->out.failing_logged = 0;
    a->st.commits++;
    for (size_t i = 0; i < a->nsrcs; i++)
        if (a->srcs[i]->ops->durable)
            a->srcs[i]->ops->durable(a->srcs[i]);
    a->dirty = 0;
    return 0;
}

int agent_save_bookmarks(agent *a) {
    bm_clear(a->bm);
    for (size_t i = 0; i < a->nsrcs; i++)
        if (a->srcs[i]->ops->save)
            a->srcs[i]->ops->save(a->srcs[i], a->bm);
    char err[512];
    if (bm_save(a->bm, a->bm_path, err, sizeof(err)) < 0) {
        a->st.bookmark_errors++;
        agent_log(a, "error", "bookmarks: %s", err);
        return -1;
    }
    a->st.bookmark_writes++;
    return 0;
}
