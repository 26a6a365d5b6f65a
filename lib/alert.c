/* Alerts as JSON lines in Elastic Common Schema names (docs/alerts.md). */
#include "ward/alert.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- id ---- */

static uint64_t mix64(uint64_t x) {
    /* splitmix64's finaliser: every input bit reaches every output bit */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* FNV-1a over the same bytes from two seeds at once (two independent chains). */
static void fnv2(uint64_t h[2], const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t x = h[0], y = h[1];
    for (size_t i = 0; i < n; i++) {
        x = (x ^ b[i]) * 0x100000001b3ull;
        y = (y ^ b[i]) * 0x100000001b3ull;
    }
    h[0] = x;
    h[1] = y;
}

void ward_alert_id(char out[33], const char *src_key, uint64_t pos, const char *rule_id) {
    /* Two 64-bit hashes with different seeds over the same length-prefixed fields: an id
     * for recognising duplicates, not a defence against forgery (batches are signed). */
    uint64_t h[2] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull};
    const char *k = src_key ? src_key : "";
    const char *r = rule_id ? rule_id : "";
    uint64_t kl = strlen(k), rl = strlen(r);
    fnv2(h, &kl, sizeof(kl));
    fnv2(h, k, kl);
    fnv2(h, &pos, sizeof(pos));
    fnv2(h, &rl, sizeof(rl));
    fnv2(h, r, rl);
    for (int i = 0; i < 2; i++)
        h[i] = mix64(h[i] ^ (uint64_t)i);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++)
        out[i] = hex[(h[i / 16] >> (60 - 4 * (i % 16))) & 15];
    out[32] = 0;
}

void ward_alert_time(char buf[32], uint64_t ms) {
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    /* years past 9999 do not fit RFC 3339: clamp rather than print garbage */
    int year = tm.tm_year + 1900;
    if (year < 0 || year > 9999)
        year = year < 0 ? 0 : 9999;
    snprintf(buf, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)year % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
             (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u,
             (unsigned)(ms % 1000));
}

/* ---- field values ---- */

typedef struct view {
    const char *s;
    size_t len;
} view;

static int as_u64(view v, uint64_t *out) {
    if (v.len == 0 || v.len > 19)
        return 0;
    uint64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.s[i] < '0' || v.s[i] > '9')
            return 0;
        n = n * 10 + (uint64_t)(v.s[i] - '0');
    }
    *out = n;
    return 1;
}

static int is_ip(view v) {
    char tmp[64];
    unsigned char bin[16];
    if (v.len == 0 || v.len >= sizeof(tmp))
        return 0;
    memcpy(tmp, v.s, v.len);
    tmp[v.len] = 0;
    return inet_pton(AF_INET, tmp, bin) == 1 || inet_pton(AF_INET6, tmp, bin) == 1;
}

/* ---- ECS objects ---- */

/* The fields ECS has a place for, found in one pass over the event's and the rule's
 * fields (the rule's win; among names for one place, the earlier in this table wins). */
enum slot {
    S_SRC_IP,
    S_SRC_PORT,
    S_SRC_HOST,
    S_DST_IP,
    S_DST_PORT,
    S_USER,
    S_TUSER,
    S_PROGRAM,
    S_PID,
    S_METHOD,
    S_STATUS,
    S_URI,
    S_STEM,
    S_QUERY,
    S_UA,
    S_REFERER,
    S_LOGHOST,
    S_COUNT
};

static const struct {
    const char *name;
    uint8_t slot, prio;
} ecs_names[] = {
    /* sorted by name, for bsearch */
    {"c-ip", S_SRC_IP, 2},
    {"client_ip", S_SRC_IP, 3},
    {"cs-method", S_METHOD, 0},
    {"cs-referer", S_REFERER, 0},
    {"cs-uri", S_URI, 0},
    {"cs-uri-query", S_QUERY, 0},
    {"cs-uri-stem", S_STEM, 0},
    {"cs-user-agent", S_UA, 0},
    {"cs-username", S_USER, 2},
    {"destination.ip", S_DST_IP, 1},
    {"destination.port", S_DST_PORT, 1},
    {"dst_ip", S_DST_IP, 0},
    {"dst_port", S_DST_PORT, 0},
    {"host", S_LOGHOST, 0},
    {"pid", S_PID, 0},
    {"program", S_PROGRAM, 0},
    {"sc-status", S_STATUS, 0},
    {"source.domain", S_SRC_HOST, 1},
    {"source.ip", S_SRC_IP, 1},
    {"source.port", S_SRC_PORT, 1},
    {"src_host", S_SRC_HOST, 0},
    {"src_ip", S_SRC_IP, 0},
    {"src_port", S_SRC_PORT, 0},
    {"target_user", S_TUSER, 0},
    {"user", S_USER, 0},
    {"user.name", S_USER, 1},
};

typedef struct slots {
    view v[S_COUNT];
    uint8_t prio[S_COUNT]; /* 255: empty */
} slots;

static int ecs_cmp(const void *k, const void *e) {
    return strcmp(k, *(const char *const *)e);
}

static void slot_put(slots *sl, const char *name, const char *val, size_t len, int rank) {
    /* the first letters of ecs_names: most field names are rejected without a search */
    switch (name[0]) {
    case 'c':
    case 'd':
    case 'h':
    case 'p':
    case 's':
    case 't':
    case 'u':
        break;
    default:
        return;
    }
    const void *hit = bsearch(name, ecs_names, sizeof(ecs_names) / sizeof(ecs_names[0]),
                              sizeof(ecs_names[0]), ecs_cmp);
    if (!hit || len == 0 || (len == 1 && val[0] == '-'))
        return; /* "-" is how access logs say "none" */
    const __typeof__(ecs_names[0]) *e = hit;
    uint8_t p = (uint8_t)(rank * 16 + e->prio);
    if (p < sl->prio[e->slot]) {
        sl->prio[e->slot] = p;
        sl->v[e->slot] = (view){val, len};
    }
}

static void fill_slots(slots *sl, const ward_alert *a) {
    memset(sl->prio, 255, sizeof(sl->prio));
    /* unset slots are never read (has() checks prio), but the analyser cannot see it */
    memset(sl->v, 0, sizeof(sl->v));
    for (size_t i = 0; i < a->nextracted; i++)
        slot_put(sl, a->extracted[i].name, a->extracted[i].val, a->extracted[i].len, 0);
    for (size_t i = 0; a->ev && i < a->ev->nfields; i++)
        slot_put(sl, a->ev->fields[i].name, a->ev->fields[i].val, a->ev->fields[i].val_len, 1);
}

static int has(const slots *sl, int slot, view *out) {
    if (sl->prio[slot] == 255)
        return 0;
    *out = sl->v[slot];
    return 1;
}

static void source_obj(ward_jw *w, const slots *sl, const char *obj, int s_ip, int s_port,
                       int s_host) {
    view ip = {0}, port = {0}, host = {0};
    int has_ip = has(sl, s_ip, &ip);
    int has_port = has(sl, s_port, &port);
    int has_host = s_host >= 0 && has(sl, s_host, &host);
    uint64_t p = 0;
    has_port = has_port && as_u64(port, &p) && p <= 65535;
    if (!has_ip && !has_port && !has_host)
        return;
    ward_jw_key(w, obj);
    ward_jw_obj(w);
    if (has_ip) {
        /* source.ip must be an address; a host name goes to source.address */
        ward_jw_kstr(w, is_ip(ip) ? "ip" : "address", ip.s, ip.len);
    }
    if (has_port)
        ward_jw_ku64(w, "port", p);
    if (has_host)
        ward_jw_kstr(w, "domain", host.s, host.len);
    ward_jw_obj_end(w);
}

static void user_obj(ward_jw *w, const slots *sl) {
    view u, t;
    int hu = has(sl, S_USER, &u), ht = has(sl, S_TUSER, &t);
    if (!hu && !ht)
        return;
    ward_jw_key(w, "user");
    ward_jw_obj(w);
    if (hu)
        ward_jw_kstr(w, "name", u.s, u.len);
    if (ht) {
        ward_jw_key(w, "target");
        ward_jw_obj(w);
        ward_jw_kstr(w, "name", t.s, t.len);
        ward_jw_obj_end(w);
    }
    ward_jw_obj_end(w);
}

static void process_obj(ward_jw *w, const slots *sl) {
    view n, p;
    uint64_t pid = 0;
    int hn = has(sl, S_PROGRAM, &n), hp = has(sl, S_PID, &p) && as_u64(p, &pid);
    if (!hn && !hp)
        return;
    ward_jw_key(w, "process");
    ward_jw_obj(w);
    if (hn)
        ward_jw_kstr(w, "name", n.s, n.len);
    if (hp)
        ward_jw_ku64(w, "pid", pid);
    ward_jw_obj_end(w);
}

static void web_objs(ward_jw *w, const slots *sl) {
    view uri, stem, query, method, status, ua, ref;
    int hu = has(sl, S_URI, &uri), hs = has(sl, S_STEM, &stem), hq = has(sl, S_QUERY, &query);
    if (hu || hs || hq) {
        ward_jw_key(w, "url");
        ward_jw_obj(w);
        if (hu)
            ward_jw_kstr(w, "original", uri.s, uri.len);
        if (hs)
            ward_jw_kstr(w, "path", stem.s, stem.len);
        if (hq)
            ward_jw_kstr(w, "query", query.s, query.len);
        ward_jw_obj_end(w);
    }
    uint64_t code = 0;
    int hm = has(sl, S_METHOD, &method), hr = has(sl, S_REFERER, &ref),
        hc = has(sl, S_STATUS, &status) && as_u64(status, &code);
    if (hm || hr || hc) {
        ward_jw_key(w, "http");
        ward_jw_obj(w);
        if (hm || hr) {
            ward_jw_key(w, "request");
            ward_jw_obj(w);
            if (hm)
                ward_jw_kstr(w, "method", method.s, method.len);
            if (hr)
                ward_jw_kstr(w, "referrer", ref.s, ref.len);
            ward_jw_obj_end(w);
        }
        if (hc) {
            ward_jw_key(w, "response");
            ward_jw_obj(w);
            ward_jw_ku64(w, "status_code", code);
            ward_jw_obj_end(w);
        }
        ward_jw_obj_end(w);
    }
    if (has(sl, S_UA, &ua)) {
        ward_jw_key(w, "user_agent");
        ward_jw_obj(w);
        ward_jw_kstr(w, "original", ua.s, ua.len);
        ward_jw_obj_end(w);
    }
}

static void log_obj(ward_jw *w, const ward_alert *a, const slots *sl) {
    const ward_alert_src *s = a->src;
    view host;
    int hh = has(sl, S_LOGHOST, &host) && a->ev && a->ev->decoder &&
             strcmp(a->ev->decoder, "syslog") == 0;
    if (!s && !hh)
        return;
    ward_jw_key(w, "log");
    ward_jw_obj(w);
    if (s && s->path) {
        ward_jw_key(w, "file");
        ward_jw_obj(w);
        ward_jw_kcstr(w, "path", s->path);
        ward_jw_obj_end(w);
    }
    if (s && s->has_offset)
        ward_jw_ku64(w, "offset", s->offset);
    if (s && s->peer) {
        ward_jw_key(w, "source");
        ward_jw_obj(w);
        ward_jw_kcstr(w, "address", s->peer);
        ward_jw_obj_end(w);
    }
    if (hh) {
        ward_jw_key(w, "syslog");
        ward_jw_obj(w);
        ward_jw_kstr(w, "hostname", host.s, host.len);
        ward_jw_obj_end(w);
    }
    ward_jw_obj_end(w);
}

/* ATT&CK tags (attack.t1110.001, attack.credential_access) as ECS threat fields. */
static void threat_obj(ward_jw *w, const ward_rule *r) {
    int nt = 0, na = 0;
    for (size_t i = 0; i < r->ntags; i++) {
        const char *t = r->tags[i];
        if (strncmp(t, "attack.", 7) != 0 || !t[7])
            continue;
        if ((t[7] == 't' || t[7] == 'T') && t[8] >= '0' && t[8] <= '9')
            nt++;
        else if (!((t[7] == 'g' || t[7] == 's' || t[7] == 'G' || t[7] == 'S') && t[8] >= '0' &&
                   t[8] <= '9'))
            na++;
    }
    if (!nt && !na)
        return;
    ward_jw_key(w, "threat");
    ward_jw_obj(w);
    ward_jw_kcstr(w, "framework", "MITRE ATT&CK");
    for (int pass = 0; pass < 2; pass++) {
        if ((pass == 0 && !nt) || (pass == 1 && !na))
            continue;
        ward_jw_key(w, pass == 0 ? "technique" : "tactic");
        ward_jw_obj(w);
        ward_jw_key(w, pass == 0 ? "id" : "name");
        ward_jw_arr(w);
        for (size_t i = 0; i < r->ntags; i++) {
            const char *t = r->tags[i];
            if (strncmp(t, "attack.", 7) != 0 || !t[7])
                continue;
            int tech = (t[7] == 't' || t[7] == 'T') && t[8] >= '0' && t[8] <= '9';
            int other = (t[7] == 'g' || t[7] == 's' || t[7] == 'G' || t[7] == 'S') && t[8] >= '0' &&
                        t[8] <= '9';
            if (pass == 0 && tech) {
                char id[64];
                snprintf(id, sizeof(id), "%s", t + 7);
                for (char *p = id; *p; p++)
                    if (*p >= 'a' && *p <= 'z')
                        *p = (char)(*p - 32);
                ward_jw_cstr(w, id);
            } else if (pass == 1 && !tech && !other) {
                ward_jw_cstr(w, t + 7);
            }
        }
        ward_jw_arr_end(w);
        ward_jw_obj_end(w);
    }
    ward_jw_obj_end(w);
}

static void strv(ward_jw *w, const char *key, char **v, size_t n) {
    if (!n)
        return;
    ward_jw_key(w, key);
    ward_jw_arr(w);
    for (size_t i = 0; i < n; i++)
        ward_jw_cstr(w, v[i]);
    ward_jw_arr_end(w);
}

/* Field names with dots would become objects in Elasticsearch and clash with a field of
 * the same stem ("program" and "program.module"): under ward.fields they use '_'. */
static void flat_key(ward_jw *w, const char *name) {
    char k[256];
    size_t n = 0;
    for (; n < sizeof(k) - 1 && name[n]; n++)
        k[n] = name[n] == '.' ? '_' : name[n];
    k[n] = 0;
    ward_jw_key(w, k);
}

static void rule_members(ward_jw *w, const ward_rule *r) {
    ward_jw_key(w, "rule");
    ward_jw_obj(w);
    ward_jw_kcstr(w, "id", r->id);
    ward_jw_kcstr(w, "name", r->title);
    if (r->rev) {
        char rev[16];
        snprintf(rev, sizeof(rev), "%u", r->rev);
        ward_jw_kcstr(w, "version", rev);
    }
    if (r->description)
        ward_jw_kcstr(w, "description", r->description);
    if (r->author)
        ward_jw_kcstr(w, "author", r->author);
    strv(w, "reference", r->references, r->nreferences);
    ward_jw_kcstr(w, "ruleset", r->yara_index >= 0 ? "ward-yara" : "ward");
    ward_jw_obj_end(w);
    strv(w, "tags", r->tags, r->ntags);
    threat_obj(w, r);
}

static void agent_members(ward_jw *w, const ward_alert *a) {
    ward_jw_key(w, "agent");
    ward_jw_obj(w);
    if (a->agent_id)
        ward_jw_kcstr(w, "id", a->agent_id);
    if (a->agent_name)
        ward_jw_kcstr(w, "name", a->agent_name);
    ward_jw_kcstr(w, "type", "ward-agent");
    if (a->agent_version)
        ward_jw_kcstr(w, "version", a->agent_version);
    ward_jw_obj_end(w);
    if (a->host_name) {
        ward_jw_key(w, "host");
        ward_jw_obj(w);
        ward_jw_kcstr(w, "name", a->host_name);
        ward_jw_obj_end(w);
    }
}

int ward_alert_rule_json(ward_buf *out, const ward_rule *r) {
    ward_jw w;
    ward_jw_init(&w, out);
    rule_members(&w, r);
    return out->oom ? -1 : 0;
}

int ward_alert_agent_json(ward_buf *out, const ward_alert *a) {
    ward_jw w;
    ward_jw_init(&w, out);
    agent_members(&w, a);
    return out->oom ? -1 : 0;
}

int ward_alert_json(ward_buf *out, const ward_alert *a) {
    static const char *const level_sev[] = {"informational", "low", "medium", "high", "critical"};
    const ward_rule *r = a->rule;
    ward_jw w;
    ward_jw_init(&w, out);
    char ts[32];
    ward_alert_time(ts, a->time_ms);
    ward_jw_obj(&w);
    ward_jw_kcstr(&w, "@timestamp", ts);

    ward_jw_key(&w, "event");
    ward_jw_obj(&w);
    ward_jw_kcstr(&w, "kind", "alert");
    ward_jw_kcstr(&w, "id", a->id);
    ward_jw_kcstr(&w, "module", "ward");
    ward_jw_kcstr(&w, "dataset", "ward.alert");
    /* ECS severity is a number; 21/47/73/99 as Elastic's detection rules grade risk,
     * informational 1 */
    static const unsigned sev[] = {1, 21, 47, 73, 99};
    ward_jw_ku64(&w, "severity", sev[r->level <= WARD_LEVEL_CRITICAL ? r->level : 0]);
    ward_jw_kcstr(&w, "created", ts);
    if (a->threshold) {
        char t0[32], t1[32];
        ward_alert_time(t0, a->threshold->first_ms);
        ward_alert_time(t1, a->threshold->last_ms);
        ward_jw_kcstr(&w, "start", t0);
        ward_jw_kcstr(&w, "end", t1);
    }
    size_t invalid_before = w.invalid;
    if (a->ev && !a->omit_original)
        ward_jw_kstr(&w, "original", (const char *)a->ev->line, a->ev->line_len);
    int original_invalid = w.invalid != invalid_before;
    ward_jw_obj_end(&w);

    if (a->ev && !a->omit_original) {
        const ward_field *m = ward_event_get(a->ev, "message");
        if (m)
            ward_jw_kstr(&w, "message", m->val, m->val_len);
    }

    if (a->rule_json)
        ward_jw_raw_members(&w, a->rule_json, a->rule_json_len);
    else
        rule_members(&w, r);
    if (a->agent_json)
        ward_jw_raw_members(&w, a->agent_json, a->agent_json_len);
    else
        agent_members(&w, a);

    slots sl;
    fill_slots(&sl, a);
    log_obj(&w, a, &sl);
    source_obj(&w, &sl, "source", S_SRC_IP, S_SRC_PORT, S_SRC_HOST);
    source_obj(&w, &sl, "destination", S_DST_IP, S_DST_PORT, -1);
    user_obj(&w, &sl);
    process_obj(&w, &sl);
    web_objs(&w, &sl);

    ward_jw_key(&w, "ward");
    ward_jw_obj(&w);
    ward_jw_kcstr(&w, "level", level_sev[r->level <= WARD_LEVEL_CRITICAL ? r->level : 0]);
    ward_jw_kcstr(&w, "mode", "alert"); /* shadow rules raise no alert */
    if (a->src) {
        ward_jw_key(&w, "source");
        ward_jw_obj(&w);
        if (a->src->kind)
            ward_jw_kcstr(&w, "kind", a->src->kind);
        if (a->src->name)
            ward_jw_kcstr(&w, "name", a->src->name);
        if (a->src->cursor)
            ward_jw_kcstr(&w, "cursor", a->src->cursor);
        if (a->src->transport)
            ward_jw_kcstr(&w, "transport", a->src->transport);
        ward_jw_obj_end(&w);
    }
    if (a->ev) {
        ward_jw_kcstr(&w, "decoder", a->ev->decoder);
        if (a->ev->truncated) {
            ward_jw_key(&w, "truncated");
            ward_jw_bool(&w, 1);
        }
        ward_jw_key(&w, "fields");
        ward_jw_obj(&w);
        for (size_t i = 0; i < a->ev->nfields; i++) {
            const ward_field *f = &a->ev->fields[i];
            if (strcmp(f->name, "event.original") == 0 || strcmp(f->name, "message") == 0)
                continue; /* both are there already: event.original and message */
            flat_key(&w, f->name);
            ward_jw_str(&w, f->val, f->val_len);
        }
        ward_jw_obj_end(&w);
        if (original_invalid) {
            /* the line is not UTF-8: keep its exact bytes */
            ward_jw_key(&w, "original_base64");
            ward_jw_base64(&w, a->ev->line, a->ev->line_len);
        }
    }
    if (a->nextracted) {
        ward_jw_key(&w, "extracted");
        ward_jw_obj(&w);
        for (size_t i = 0; i < a->nextracted; i++) {
            flat_key(&w, a->extracted[i].name);
            ward_jw_str(&w, a->extracted[i].val, a->extracted[i].len);
        }
        ward_jw_obj_end(&w);
    }
    if (a->threshold) {
        const ward_threshold *t = &r->threshold;
        ward_jw_key(&w, "threshold");
        ward_jw_obj(&w);
        ward_jw_ku64(&w, "count", a->threshold->count);
        ward_jw_ku64(&w, "window_s", t->within_s);
        if (t->distinct)
            ward_jw_kcstr(&w, "distinct", t->distinct);
        if (t->ngroup_by) {
            ward_jw_key(&w, "group");
            ward_jw_obj(&w);
            for (size_t i = 0; i < t->ngroup_by && a->group; i++) {
                flat_key(&w, t->group_by[i]);
                ward_jw_str(&w, a->group[i].s ? a->group[i].s : "", a->group[i].len);
            }
            ward_jw_obj_end(&w);
        }
        ward_jw_obj_end(&w);
    }
    ward_jw_obj_end(&w);
    ward_jw_obj_end(&w);
    ward_buf_putc(out, '\n');
    return out->oom ? -1 : 0;
}
