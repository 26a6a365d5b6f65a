/* The pipeline: decode, match, extract, correlate, alert, output; and the group commit
 * that makes alerts durable before bookmarks move. */
#include "agent.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ward/spool.h"

#define MAX_HITS 256           /* rules reported per record; more are counted */
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
    ward_alert_field f[WARD_EXTRACT_MAX];
    size_t n;
} xfields;

static int on_field(const char *name, const char *val, size_t len, void *ctx) {
    xfields *x = ctx;
    if (x->n < WARD_EXTRACT_MAX)
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

/* ---- the time of a record, for thresholds ---- */

static int digits(const char *s, size_t n, int *out) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int month_of(const char *s) {
    static const char m[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int i = 0; i < 12; i++)
        if (strncasecmp(s, m + 3 * i, 3) == 0)
            return i;
    return -1;
}

/* Seconds east of UTC of "+hh:mm", "+hhmm", "Z"; 0 when s is not one (local time then
 * applies: *local is set). */
static long zone_of(const char *s, size_t n, int *local) {
    *local = 0;
    if (n >= 1 && (s[0] == 'Z' || s[0] == 'z'))
        return 0;
    int h, m;
    if (n >= 5 && (s[0] == '+' || s[0] == '-') && digits(s + 1, 2, &h) == 0) {
        size_t mo = s[3] == ':' ? 4 : 3;
        if (n >= mo + 2 && digits(s + mo, 2, &m) == 0)
            return (s[0] == '-' ? -1 : 1) * (h * 3600L + m * 60L);
    }
    *local = 1;
    return 0;
}

/* mktime for a local time, remembering the UTC offset of the last minute it converted:
 * zones change offset only at minute boundaries, so within a minute timegm minus that
 * offset is what mktime would say. */
static time_t local_time(agent *a, struct tm *tm) {
    struct tm u = *tm;
    time_t utc = timegm(&u); /* the same wall clock read as UTC: names the minute */
    long long minute = (long long)(utc >= 0 ? utc / 60 : (utc - 59) / 60);
    if (a->tcache.valid && a->tcache.minute == minute)
        return utc - a->tcache.offset;
    time_t t = mktime(tm);
    if (t == (time_t)-1)
        return t;
    a->tcache.valid = 1;
    a->tcache.minute = minute;
    a->tcache.offset = (long)(utc - t);
    return t;
}

/* The decoded timestamp of an event in milliseconds since the epoch, or 0 when it has
 * none that parses: ISO 8601 ("2026-12-01T10:00:00.123+01:00", with a space, without a
 * zone: local time), syslog ("Dec  1 10:00:00": local time, this year or, if that is more
 * than a day ahead, last year) and access-log ("01/Dec/2026:10:00:00 +0000") forms. */
static uint64_t event_time_ms(agent *a, const ward_event *ev, uint64_t now_ms) {
    const ward_field *f = ward_event_get(ev, "timestamp");
    if (!f || f->val_len < 15 || f->val_len > 64)
        return 0;
    char b[65];
    memcpy(b, f->val, f->val_len);
    b[f->val_len] = 0;
    size_t n = f->val_len;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int ms = 0, local = 1, y, mo, d, H, M, S;
    long zone = 0;
    size_t rest = 0;
    if (n >= 19 && digits(b, 4, &y) == 0 && b[4] == '-' && digits(b + 5, 2, &mo) == 0 &&
        b[7] == '-' && digits(b + 8, 2, &d) == 0 && (b[10] == 'T' || b[10] == ' ') &&
        digits(b + 11, 2, &H) == 0 && b[13] == ':' && digits(b + 14, 2, &M) == 0 && b[16] == ':' &&
        digits(b + 17, 2, &S) == 0) {
        rest = 19;
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
    } else if (month_of(b) >= 0 && b[3] == ' ' && (b[4] == ' ' || (b[4] >= '0' && b[4] <= '9')) &&
               digits(b + 5, 1, &d) == 0 && b[6] == ' ' && digits(b + 7, 2, &H) == 0 &&
               b[9] == ':' && digits(b + 10, 2, &M) == 0 && b[12] == ':' &&
               digits(b + 13, 2, &S) == 0) {
        d += b[4] == ' ' ? 0 : (b[4] - '0') * 10;
        rest = 15;
        time_t t = (time_t)(now_ms / 1000);
        if (a->tcache.now_s != (long long)t) { /* now_ms is never 0: set on first use */
            struct tm nt;
            localtime_r(&t, &nt);
            a->tcache.now_s = (long long)t;
            a->tcache.now_year = nt.tm_year;
        }
        tm.tm_year = a->tcache.now_year;
        tm.tm_mon = month_of(b);
    } else if (n >= 20 && digits(b, 2, &d) == 0 && b[2] == '/' && month_of(b + 3) >= 0 &&
               b[6] == '/' && digits(b + 7, 4, &y) == 0 && b[11] == ':' &&
               digits(b + 12, 2, &H) == 0 && b[14] == ':' && digits(b + 15, 2, &M) == 0 &&
               b[17] == ':' && digits(b + 18, 2, &S) == 0) {
        rest = 20;
        tm.tm_year = y - 1900;
        tm.tm_mon = month_of(b + 3);
        if (rest < n && b[rest] == ' ')
            rest++;
    } else {
        return 0;
    }
    if (rest < n && (b[rest] == '.' || b[rest] == ',')) {
        size_t k = rest + 1, got = 0;
        while (k < n && b[k] >= '0' && b[k] <= '9') {
            if (got < 3) {
                ms = ms * 10 + (b[k] - '0');
                got++;
            }
            k++;
        }
        while (got++ < 3)
            ms *= 10;
        rest = k;
    }
    zone = zone_of(b + rest, n - rest, &local);
    tm.tm_mday = d;
    tm.tm_hour = H;
    tm.tm_min = M;
    tm.tm_sec = S;
    tm.tm_isdst = -1;
    time_t t = local ? local_time(a, &tm) : timegm(&tm) - zone;
    if (t == (time_t)-1)
        return 0;
    uint64_t r = (uint64_t)t * 1000u + (uint64_t)ms;
    if (rest == 15 && r > now_ms + 86400000u) { /* a syslog date from last December */
        tm.tm_year--;
        tm.tm_isdst = -1;
        t = local_time(a, &tm);
        r = t == (time_t)-1 ? 0 : (uint64_t)t * 1000u + (uint64_t)ms;
    }
    return r;
}

/* Decodes r into a->ev; fields from outside the line go into a scan buffer with it (with
 * what the decoder put in its own scan buffer, when it made one: the fail2ban decoder's
 * f2b.line is text that is not in the line). */
static void decode_fields(agent *a, const agent_rec *r) {
    ward_decode((ward_decoder)r->decoder, r->line, r->len, &a->ev);
    a->ev.truncated = r->truncated;
    if (!r->nextra)
        return;
    ward_buf *b = &a->scanbuf;
    ward_buf_reset(b);
    if (a->ev.scan)
        ward_buf_put(b, a->ev.scan, a->ev.scan_len);
    else
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

/* decode_fields, and the fields it could not keep counted (the event holds 128) */
static void decode(agent *a, const agent_rec *r) {
    decode_fields(a, r);
    if (a->ev.dropped_fields) {
        a->st.fields_dropped += a->ev.dropped_fields;
        a->st.records_fields_dropped++;
    }
}

/* Fills al's rule and agent parts from what was made for earlier alerts (or makes
 * them now). Without memory they are simply written in full. */
static void cached_parts(agent *a, size_t idx, ward_alert *al) {
    size_t n = ward_engine_rule_count(a->engine);
    if (a->nrule_json != n) {
        agent_forget_alert_parts(a);
        a->rule_json = calloc(n ? n : 1, sizeof(*a->rule_json));
        if (!a->rule_json)
            return;
        a->nrule_json = n;
    }
    ward_buf *b = &a->rule_json[idx];
    if (!b->len && ward_alert_rule_json(b, al->rule) < 0)
        ward_buf_reset(b);
    if (b->len && !b->oom) {
        al->rule_json = b->p;
        al->rule_json_len = b->len;
    }
    if (!a->agent_json.len && ward_alert_agent_json(&a->agent_json, al) < 0)
        ward_buf_reset(&a->agent_json);
    if (a->agent_json.len && !a->agent_json.oom) {
        al->agent_json = a->agent_json.p;
        al->agent_json_len = a->agent_json.len;
    }
}

void agent_forget_alert_parts(agent *a) {
    for (size_t i = 0; i < a->nrule_json; i++)
        ward_buf_fini(&a->rule_json[i]);
    free(a->rule_json);
    a->rule_json = NULL;
    a->nrule_json = 0;
    ward_buf_fini(&a->agent_json);
}

/* Writes al to the outputs and, when alerts are spooled, its copy for the collector (the
 * privacy policy applied; not again when it was spooled before a crash: resend.c). idx:
 * the rule's index in the engine, for the cached parts, or (size_t)-1. Returns 0; -1 for
 * lack of memory; -2 when the spool cannot take it now (agent_spool_alert: the record is
 * processed again later). On failure nothing of al is kept. */
static int emit(agent *a, ward_alert *al, size_t idx) {
    al->agent_id = a->cfg.agent.id ? a->cfg.agent.id : a->cfg.agent.name;
    al->agent_name = a->cfg.agent.name;
    al->agent_version = AGENT_VERSION;
    al->host_name = a->host;
    if (idx != (size_t)-1)
        cached_parts(a, idx, al);
    size_t mark = a->out.buf.len;
    if (ward_alert_json(&a->out.buf, al) < 0)
        goto oom;
    if (a->spool) {
        const uint8_t *p = (const uint8_t *)a->out.buf.p + mark;
        size_t n = a->out.buf.len - mark;
        if (!agent_privacy_noop(&a->privacy)) {
            ward_buf_reset(&a->spoolbuf);
            if (agent_privacy_json(&a->privacy, al, &a->spoolbuf) < 0)
                goto oom;
            p = (const uint8_t *)a->spoolbuf.p;
            n = a->spoolbuf.len;
        }
        uint8_t id[16];
        if (a->resend.n && agent_resend_id_of(p, n, id) == 0 && agent_resend_seen(&a->resend, id)) {
            a->resend.skipped++;                         /* spooled before the crash */
        } else if (agent_spool_alert(a, p, n - 1) < 0) { /* without its newline */
            a->out.buf.len = mark;
            return -2;
        }
        if (!a->out.path && !a->out.to_stdout)
            a->out.buf.len = mark; /* the spool was the only place for it */
    }
    return 0;
oom:
    a->out.buf.len = mark; /* no half alert; the buffer stays usable */
    a->out.buf.oom = 0;
    agent_log(a, "error", "out of memory writing an alert of rule %s", al->rule->id);
    return -1;
}

/* The rule of the alerts raised by regional indicators. */
static const ward_rule regional_rule = {
    .id = "ward.regional",
    .title = "Regional indicator seen locally",
    .description = "A value that alerted at several organisations of the region (the "
                   "collector's signed feed) occurs in a local record.",
    .level = WARD_LEVEL_HIGH,
    .mode = WARD_MODE_ALERT,
    .decoder = -1,
    .yara_index = -1,
};

typedef struct regional_ctx {
    agent *a;
    const agent_rec *r;
    int rc;
} regional_ctx;

static int on_regional(void *ctx, const ward_feed_entry *e) {
    regional_ctx *c = ctx;
    agent *a = c->a;
    char orgs[16], idkey[WARD_MPM_MAX_LIT + 32];
    snprintf(orgs, sizeof(orgs), "%u", e->norgs);
    ward_alert_field x[5] = {
        {"indicator", e->value, strlen(e->value)},
        {"indicator_field", e->field, strlen(e->field)},
        {"regional_id", e->regional_id, strlen(e->regional_id)},
        {"orgs", orgs, strlen(orgs)},
        {"rules", e->rules, strlen(e->rules)},
    };
    /* one alert per record and indicator: the indicator is part of the id */
    snprintf(idkey, sizeof(idkey), "ward.regional/%s", e->value);
    ward_alert al = {0};
    ward_alert_id(al.id, c->r->key, c->r->pos, idkey);
    al.time_ms = agent_now_ms();
    al.rule = &regional_rule;
    al.ev = &a->ev;
    al.extracted = x;
    al.nextracted = 5;
    al.src = &c->r->where;
    if (emit(a, &al, (size_t)-1) < 0) {
        /* not kept: the indicator is not seen yet (the record is processed again, or
         * the next occurrence raises it) */
        a->ind.seen_ms[e - a->ind.feed.v] = 0;
        a->ind.reported--;
        c->rc = -1;
        return 1;
    }
    a->st.alerts++;
    return 0;
}

/* Scans r's line for the regional indicators (after the rules). Returns 0 or -1. */
static int regional(agent *a, const agent_rec *r) {
    regional_ctx c = {a, r, 0};
    agent_ind_scan(&a->ind, r->line, r->len, agent_now_ms(), on_regional, &c);
    return c.rc;
}

int agent_process(agent *a, src *s, const agent_rec *r) {
    decode(a, r);
    hits h; /* not zeroed whole: it is large, and only n and over are read unset */
    h.n = 0;
    h.over = 0;
    ward_engine_match(a->engine, a->scratch, &a->ev, on_hit, &h);
    a->dirty = 1;
    agent_touch(a);
    if (h.over)
        a->st.hits_over += h.over;
    int rc = 0;
    a->sp.can_wait = s && strcmp(s->ops->type, "syslog") != 0;
    uint64_t now = 0, when = 0; /* when: the record's time, once a threshold needs it */
    int when_known = 0;
    for (size_t k = 0; k < h.n; k++) {
        const ward_rule *rule = ward_engine_rule(a->engine, h.idx[k]);
        if (rule->mode == WARD_MODE_SHADOW) {
            a->st.shadow_hits++;
            continue;
        }
        xfields x;
        x.n = 0;
        ward_extract_run(rule, &a->ev, ward_scratch_ctx(a->scratch), on_field, &x);
        if (!now)
            now = agent_now_ms();
        ward_corr_result thr;
        ward_corr_val group[WARD_THRESHOLD_MAX_GROUP_BY];
        int is_thr = rule->threshold.set;
        if (is_thr) {
            const ward_threshold *t = &rule->threshold;
            /* the loader refuses more; a rule built by hand is cut to the limit */
            size_t ng = t->ngroup_by < WARD_THRESHOLD_MAX_GROUP_BY ? t->ngroup_by
                                                                   : WARD_THRESHOLD_MAX_GROUP_BY;
            for (size_t i = 0; i < ng; i++)
                group[i] = field_val(&x, &a->ev, t->group_by[i]);
            ward_corr_val distinct = {NULL, 0};
            if (t->distinct)
                distinct = field_val(&x, &a->ev, t->distinct);
            ward_threshold tt = *t;
            tt.ngroup_by = ng;
            /* the record's own time when it has one: a back-fill counts as it happened */
            if (!when_known) {
                when = r->time_ms ? r->time_ms : event_time_ms(a, &a->ev, now);
                when_known = 1;
            }
            if (ward_corr_feed(a->corr, rule->id, &tt, group, &distinct, when ? when : now, &thr) <
                0)
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
        al.rule = rule;
        al.ev = &a->ev;
        al.extracted = x.f;
        al.nextracted = x.n;
        al.threshold = is_thr ? &thr : NULL;
        al.group = is_thr ? group : NULL;
        al.src = &r->where;
        int e = emit(a, &al, h.idx[k]);
        if (e < 0) {
            rc = -1;
            if (e == -2)
                break; /* the spool cannot take it: the record is processed again later */
            continue;
        }
        a->st.alerts++;
    }
    if (rc == 0 && a->ind.mpm && regional(a, r) < 0)
        rc = -1;
    (void)s;
    if (a->out.buf.len >= FLUSH_BYTES && !a->out.failing)
        output_flush(&a->out, 0); /* a failing output is retried at the next commit */
    return rc;
}

int agent_backlogged(agent *a) {
    int held = agent_spool_held(a); /* asked every time: it counts when holding begins */
    return a->out.buf.len >= a->cfg.limits.output_buffer || held;
}

int agent_commit(agent *a) {
    /* the spool first: shipping need not wait for the alerts file */
    int waiting = agent_spool_commit(a);
    if (waiting < 0)
        return -1;
    if (output_flush(&a->out, 1) < 0) {
        if (a->out.sync_lost) {
            if (!a->out.failing_logged)
                agent_log(a, "error",
                          "fsync of %s failed: %s; the alerts since the last fsync may not be "
                          "on disk, so no bookmark moves and the agent stops (at the next start "
                          "they are read and written again, with the same ids)",
                          a->out.path, strerror(a->out.sync_lost));
            a->out.failing_logged = 1;
            ward_loop_stop(a->loop);
            return -1;
        }
        if (!a->out.failing_logged)
            agent_log(a, "error", "alerts cannot be written to %s: %s; bookmarks wait",
                      a->out.path ? a->out.path : "stdout", strerror(errno));
        a->out.failing_logged = 1;
        return -1;
    }
    a->out.failing_logged = 0;
    if (waiting)
        return 1; /* alerts wait in memory for room in the spool: so do the bookmarks */
    if (a->spool) {
        ward_spool_stats ss;
        ward_spool_stats_get(a->spool, &ss);
        a->commit_seq = ss.durable_seq;
    }
    a->st.commits++;
    for (size_t i = 0; i < a->nsrcs; i++)
        if (a->srcs[i]->ops->durable)
            a->srcs[i]->ops->durable(a->srcs[i]);
    a->dirty = 0;
    agent_ship_kick(a);
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
    /* the alerts of every record the bookmarks now cover are durable up to commit_seq */
    a->bm_seq = a->commit_seq;
    agent_ship_kick(a);
    return 0;
}
