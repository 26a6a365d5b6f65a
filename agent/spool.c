/* The agent's side of the durable spool: every alert goes in through agent_spool_alert,
 * the group commit syncs it before bookmarks move, and the cap holds the sources back
 * (or, by explicit policy, drops alerts and says so in an alert of its own). */
#include "agent.h"
#include "ward/sandbox.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESERVE_MAX ((uint64_t)1 << 20)

/* ---- drops not yet reported, kept across restarts ---- */

/* One number after the word w: "w N" (strtoull, range-checked). Returns the rest or NULL. */
static const char *word_num(const char *s, const char *w, unsigned long long *v) {
    size_t n = strlen(w);
    if (strncmp(s, w, n) != 0 || s[n] != ' ' || s[n + 1] < '0' || s[n + 1] > '9')
        return NULL;
    char *e;
    errno = 0;
    *v = strtoull(s + n + 1, &e, 10);
    return errno ? NULL : e;
}

/* "dropped N first_ms T0 last_ms T1\n" */
static int parse_drops(const char *s, unsigned long long *n, unsigned long long *t0,
                       unsigned long long *t1) {
    if (!(s = word_num(s, "dropped", n)) || *s++ != ' ' || !(s = word_num(s, "first_ms", t0)) ||
        *s++ != ' ' || !(s = word_num(s, "last_ms", t1)))
        return -1;
    return *s == '\n' || *s == 0 ? 0 : -1;
}

static void load_drops(agent *a) {
    agent_spool *sp = &a->sp;
    FILE *f = fopen(sp->drop_path, "r");
    if (!f)
        return;
    unsigned long long n = 0, t0 = 0, t1 = 0;
    char line[256];
    if (fgets(line, sizeof(line), f) && parse_drops(line, &n, &t0, &t1) == 0 && n) {
        sp->unreported = sp->saved = n;
        sp->drop_first_ms = t0;
        sp->drop_last_ms = t1;
        agent_log(a, "warning",
                  "spool: %llu alerts dropped before the restart are not reported "
                  "yet (%s)",
                  n, sp->drop_path);
    } else {
        agent_log(a, "warning", "%s: not understood; ignored", sp->drop_path);
    }
    fclose(f);
}

/* Writes the unreported drops (atomically), or removes the file when there are none. */
static void save_drops(agent *a) {
    agent_spool *sp = &a->sp;
    if (sp->saved == sp->unreported)
        return;
    if (!sp->unreported) {
        if (unlink(sp->drop_path) == 0 || errno == ENOENT)
            sp->saved = 0;
        return;
    }
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", sp->drop_path);
    FILE *f = fopen(tmp, "w");
    int ok = f && fprintf(f, "dropped %llu first_ms %llu last_ms %llu\n",
                          (unsigned long long)sp->unreported, (unsigned long long)sp->drop_first_ms,
                          (unsigned long long)sp->drop_last_ms) > 0;
    if (f && fflush(f) == 0 && fsync(fileno(f)) < 0)
        ok = 0;
    if (f && fclose(f) != 0)
        ok = 0;
    if (ok && rename(tmp, sp->drop_path) == 0) {
        sp->saved = sp->unreported;
        return;
    }
    agent_log(a, "error", "%s: cannot write: %s", sp->drop_path, strerror(errno));
    unlink(tmp);
}

/* ---- alerts that waited in memory when the agent stopped ---- */

/* Keeps what waits in memory in state_dir/spool-pending (atomically), for the next start. */
static void save_pending(agent *a) {
    agent_spool *sp = &a->sp;
    if (!sp->pending.len)
        return;
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", sp->pending_path);
    FILE *f = fopen(tmp, "w");
    int ok = f && fwrite(sp->pending.p, 1, sp->pending.len, f) == sp->pending.len;
    if (f && (fflush(f) != 0 || fsync(fileno(f)) < 0))
        ok = 0;
    if (f && fclose(f) != 0)
        ok = 0;
    if (ok && rename(tmp, sp->pending_path) == 0) {
        agent_log(a, "warning",
                  "%zu alerts that waited for room in the spool are kept in %s for the next "
                  "start",
                  sp->npending, sp->pending_path);
        return;
    }
    agent_log(a, "error",
              "%s: cannot write: %s; %zu alerts that waited for room in the spool "
              "are lost",
              sp->pending_path, strerror(errno), sp->npending);
    unlink(tmp);
}

/* Takes back what save_pending kept: it goes into the spool before any new alert. */
static void load_pending(agent *a) {
    agent_spool *sp = &a->sp;
    FILE *f = fopen(sp->pending_path, "r");
    if (!f)
        return;
    uint8_t b[4096];
    size_t n;
    while ((n = fread(b, 1, sizeof(b), f)) > 0)
        ward_buf_put(&sp->pending, b, n);
    fclose(f);
    /* every record must be whole: a u32 length and that many bytes */
    size_t off = 0, count = 0;
    while (off + sizeof(uint32_t) <= sp->pending.len) {
        uint32_t len;
        memcpy(&len, sp->pending.p + off, sizeof(len));
        if (len > sp->pending.len - off - sizeof(len))
            break;
        off += sizeof(len) + len;
        count++;
    }
    if (sp->pending.oom || off != sp->pending.len) {
        agent_log(a, "error", "%s: damaged at byte %zu; the %zu whole alerts before are taken",
                  sp->pending_path, off, count);
        sp->pending.len = sp->pending.oom ? 0 : off;
        sp->pending.oom = 0;
        if (!sp->pending.len)
            count = 0;
    }
    sp->npending = count;
    sp->pending_loaded = 1;
    agent_log(a, "info", "%zu alerts kept in %s at the last stop go into the spool first", count,
              sp->pending_path);
}

/* ---- open, close ---- */

int agent_spool_open(agent *a) {
    agent_spool *sp = &a->sp;
    if (!a->cfg.spool.enabled)
        return 0;
    const char *d = a->cfg.spool.dir;
    char def[4096];
    if (!d) {
        snprintf(def, sizeof(def), "%s/spool", a->cfg.agent.state_dir);
        d = def;
    }
    sp->dir = strdup(d);
    size_t dl = strlen(a->cfg.agent.state_dir) + 32;
    sp->drop_path = malloc(dl);
    if (!sp->dir || !sp->drop_path)
        return -1;
    snprintf(sp->drop_path, dl, "%s/spool-dropped", a->cfg.agent.state_dir);
    sp->pending_path = malloc(dl);
    if (!sp->pending_path)
        return -1;
    snprintf(sp->pending_path, dl, "%s/spool-pending", a->cfg.agent.state_dir);
    sp->when_full = a->cfg.spool.when_full;
    sp->sync_interval_ms = a->cfg.spool.sync_interval_ms;
    /* Sources are held when less than this is free: the alerts of what is being read
     * when the cap comes near still fit, mostly; the rest wait in memory (pending). */
    sp->reserve = a->cfg.spool.max_size / 16;
    if (sp->reserve > RESERVE_MAX)
        sp->reserve = RESERVE_MAX;
    ward_buf_init(&sp->pending);
    ward_buf_init(&sp->report);
    size_t maxrec = AGENT_SPOOL_MAX_RECORD;
    ward_spool_cfg c = {sp->dir, a->cfg.spool.max_size, a->cfg.spool.segment_size, maxrec};
    char err[1024];
    a->spool = ward_spool_open(&c, err, sizeof(err));
    if (!a->spool) {
        agent_log(a, "error", "%s", err);
        return -1;
    }
    ward_spool_stats st;
    ward_spool_stats_get(a->spool, &st);
    agent_log(a, "info",
              "spool %s: epoch %llu, %llu alerts waiting for the collector (%llu bytes), next "
              "%llu; recovery cut %llu bytes and removed %llu files",
              sp->dir, (unsigned long long)ward_spool_epoch(a->spool),
              (unsigned long long)st.records, (unsigned long long)st.bytes,
              (unsigned long long)st.next_seq, (unsigned long long)st.torn_bytes,
              (unsigned long long)st.torn_files);
    load_drops(a);
    load_pending(a);
    if (st.meta_rebuilt)
        agent_log(a, "warning",
                  "spool %s: spool.meta was missing and is made again with a new epoch: the "
                  "alerts waiting are sent again under it (the collector may store them twice)",
                  sp->dir);
    return 0;
}

void agent_spool_close(agent *a) {
    if (a->spool) {
        save_drops(a);
        save_pending(a);
    }
    ward_spool_close(a->spool);
    a->spool = NULL;
    ward_buf_fini(&a->sp.pending);
    ward_buf_fini(&a->sp.report);
    free(a->sp.dir);
    free(a->sp.drop_path);
    free(a->sp.pending_path);
    a->sp.dir = a->sp.drop_path = a->sp.pending_path = NULL;
}

/* ---- into the spool ---- */

/* Appends one alert. Returns 0 (spooled, or dropped by design and counted), 1 when the
 * spool cannot take it now (full, or a write failed: it must wait). */
static int put(agent *a, const uint8_t *p, size_t len) {
    agent_spool *sp = &a->sp;
    uint64_t seq;
    char err[1024];
    if (ward_spool_append(a->spool, p, len, &seq, err, sizeof(err)) == 0) {
        sp->error_logged = 0;
        return 0;
    }
    if (errno == EMSGSIZE) {
        sp->oversize++;
        agent_log(a, "error", "%s: the alert is dropped (counted in spool.oversize)", err);
        return 0;
    }
    if (errno == ENOSPC && ward_spool_full(a->spool, len))
        return 1; /* the cap: counted by the spool */
    sp->errors++;
    if (!sp->error_logged)
        agent_log(a, "error", "%s; the alerts wait in memory and are tried again", err);
    sp->error_logged = 1;
    return 1;
}

/* Keeps an alert in memory, after the others waiting. Returns 0 or -1 (no memory). */
static int keep(agent_spool *sp, const uint8_t *p, size_t len) {
    uint32_t n = (uint32_t)len;
    size_t mark = sp->pending.len;
    ward_buf_put(&sp->pending, &n, sizeof(n));
    ward_buf_put(&sp->pending, p, len);
    if (sp->pending.oom) {
        sp->pending.len = mark;
        sp->pending.oom = 0;
        return -1;
    }
    sp->npending++;
    return 0;
}

/* The rule of the alert that says alerts were dropped: made here, not loaded. */
static void drop_rule(ward_rule *r) {
    memset(r, 0, sizeof(*r));
    r->id = (char *)"ward.spool.dropped";
    r->title = (char *)"Alerts dropped: the spool was full";
    r->description = (char *)"The agent's spool reached spool.max_size with spool.when_full: "
                             "drop; the alerts raised meanwhile were dropped and are lost.";
    r->level = WARD_LEVEL_HIGH;
    r->mode = WARD_MODE_ALERT;
    r->decoder = -1;
    r->yara_index = -1;
}

/* Spools the ward.spool.dropped alert for the drops not reported yet, when it fits.
 * Returns 0 when it went in (or there was nothing to report), 1 when it must wait. */
static int report_drops(agent *a) {
    agent_spool *sp = &a->sp;
    if (!sp->unreported)
        return 0;
    char t0[32], t1[32], count[24], msg[256];
    ward_alert_time(t0, sp->drop_first_ms);
    ward_alert_time(t1, sp->drop_last_ms);
    snprintf(count, sizeof(count), "%llu", (unsigned long long)sp->unreported);
    int ml = snprintf(msg, sizeof(msg), "%s alerts dropped: the spool %s was full from %s to %s",
                      count, sp->dir, t0, t1);
    if (ml < 0 || (size_t)ml >= sizeof(msg))
        ml = (int)strlen(msg);
    ward_rule r;
    drop_rule(&r);
    ward_event ev;
    ward_event_init(&ev);
    ward_event_reset(&ev, (const uint8_t *)msg, (size_t)ml);
    ward_event_set(&ev, "message", msg, (size_t)ml);
    ev.decoder = "raw";
    ward_alert_field x[3] = {{"dropped", count, strlen(count)},
                             {"first_dropped", t0, strlen(t0)},
                             {"last_dropped", t1, strlen(t1)}};
    ward_alert_src where = {.kind = "agent", .name = "spool"};
    ward_alert al = {0};
    char key[64];
    snprintf(key, sizeof(key), "spool:%llu", (unsigned long long)ward_spool_epoch(a->spool));
    ward_alert_id(al.id, key, sp->drop_first_ms, r.id);
    al.time_ms = agent_now_ms();
    al.agent_id = a->cfg.agent.id ? a->cfg.agent.id : a->cfg.agent.name;
    al.agent_name = a->cfg.agent.name;
    al.agent_version = AGENT_VERSION;
    al.host_name = a->host;
    al.rule = &r;
    al.ev = &ev;
    al.extracted = x;
    al.nextracted = 3;
    al.src = &where;
    ward_buf b;
    ward_buf_init(&b);
    int rc = 1;
    if (ward_alert_json(&b, &al) == 0 && b.len > 1 && !ward_spool_full(a->spool, b.len - 1) &&
        put(a, (const uint8_t *)b.p, b.len - 1) == 0) {
        /* the alerts file gets it too, at the commit: the caller may be holding a pointer
         * into the output buffer now */
        ward_buf_put(&sp->report, b.p, b.len);
        agent_log(a, "warning", "%s", msg);
        sp->unreported = 0;
        sp->drop_alerts++;
        a->st.alerts++;
        rc = 0;
    }
    ward_buf_fini(&b);
    ward_event_fini(&ev);
    return rc;
}

/* Moves what waits in memory into the spool while it fits. Returns 0 when nothing waits
 * any more, 1 otherwise. */
static int put_pending(agent *a) {
    agent_spool *sp = &a->sp;
    size_t off = 0;
    while (off < sp->pending.len) {
        uint32_t n;
        memcpy(&n, sp->pending.p + off, sizeof(n));
        if (put(a, (const uint8_t *)sp->pending.p + off + sizeof(n), n) != 0)
            break;
        off += sizeof(n) + n;
        sp->npending--;
    }
    if (off) {
        memmove(sp->pending.p, sp->pending.p + off, sp->pending.len - off);
        sp->pending.len -= off;
    }
    return sp->pending.len ? 1 : 0;
}

/* The spool cannot take an alert now: its record waits (-1) when it can be read again,
 * else the alert waits in memory (0, or -1 without memory). */
static int wait_or_keep(agent *a, const uint8_t *json, size_t len) {
    agent_spool *sp = &a->sp;
    if (sp->can_wait) {
        agent_spool_held(a); /* counted and logged as holding, as it is */
        return -1;
    }
    if (keep(sp, json, len) == 0)
        return 0;
    agent_log(a, "error", "out of memory keeping an alert the spool cannot take yet");
    return -1;
}

int agent_spool_alert(agent *a, const uint8_t *json, size_t len) {
    agent_spool *sp = &a->sp;
    if (!a->spool)
        return 0;
    if ((uint64_t)len + 16 > a->cfg.spool.max_size || len > AGENT_SPOOL_MAX_RECORD) {
        /* it could never fit: waiting for room would hold the sources for ever */
        sp->oversize++;
        agent_log(a, "error",
                  "an alert of %zu bytes cannot fit in the spool (spool.max_size): it is "
                  "dropped (counted in spool.oversize)",
                  len);
        return 0;
    }
    /* in order: nothing overtakes what already waits */
    if (sp->pending.len && put_pending(a) != 0)
        return wait_or_keep(a, json, len);
    if (sp->when_full == SPOOL_DROP) {
        if (report_drops(a) != 0 || ward_spool_full(a->spool, len)) {
            uint64_t now = agent_now_ms();
            if (!sp->unreported)
                sp->drop_first_ms = now;
            sp->drop_last_ms = now;
            sp->unreported++;
            sp->dropped++;
            return 0;
        }
    }
    if (put(a, json, len) == 0)
        return 0;
    return wait_or_keep(a, json, len);
}

int agent_spool_commit(agent *a) {
    agent_spool *sp = &a->sp;
    if (!a->spool)
        return 0;
    int waiting = sp->pending.len ? put_pending(a) : 0;
    if (!waiting && sp->when_full == SPOOL_DROP)
        report_drops(a);
    char err[1024];
    if (ward_spool_sync(a->spool, err, sizeof(err)) < 0) {
        agent_log(a, "error",
                  "%s; the alerts since the last fsync may not be on disk, so no bookmark moves "
                  "and the agent stops (at the next start they are read and spooled again)",
                  err);
        ward_loop_stop(a->loop);
        return -1;
    }
    /* after the sync: a report in the spool is durable before its count is forgotten,
     * and alerts taken back from spool-pending before the file goes */
    save_drops(a);
    if (sp->pending_loaded && !sp->pending.len && unlink(sp->pending_path) == 0)
        sp->pending_loaded = 0;
    if (sp->report.len) {
        ward_buf_put(&a->out.buf, sp->report.p, sp->report.len);
        ward_buf_reset(&sp->report);
    }
    return waiting;
}

int agent_spool_held(agent *a) {
    agent_spool *sp = &a->sp;
    if (!a->spool)
        return 0;
    int full = sp->pending.len != 0 ||
               (sp->when_full == SPOOL_BLOCK && ward_spool_full(a->spool, sp->reserve));
    if (full && !sp->holding) {
        sp->holding = 1;
        sp->held++;
        agent_log(a, "warning",
                  "spool %s is full (spool.max_size): the sources wait at their bookmarks until "
                  "the collector acknowledges alerts",
                  sp->dir);
    } else if (!full && sp->holding) {
        sp->holding = 0;
        agent_log(a, "info", "spool %s has room again: reading again", sp->dir);
    }
    return full;
}

void agent_spool_stats(agent *a, ward_jw *w) {
    if (!a->spool)
        return;
    agent_spool *sp = &a->sp;
    ward_spool_stats st;
    ward_spool_stats_get(a->spool, &st);
    ward_jw_key(w, "spool");
    ward_jw_obj(w);
    ward_jw_kcstr(w, "dir", sp->dir);
    ward_jw_ku64(w, "epoch", ward_spool_epoch(a->spool));
    ward_jw_ku64(w, "records", st.records);
    ward_jw_ku64(w, "bytes", st.bytes);
    ward_jw_ku64(w, "segments", st.segments);
    ward_jw_ku64(w, "next_seq", st.next_seq);
    ward_jw_ku64(w, "durable_seq", st.durable_seq);
    ward_jw_ku64(w, "acked_seq", st.acked_seq);
    ward_jw_ku64(w, "appends", st.appends);
    ward_jw_ku64(w, "syncs", st.syncs);
    ward_jw_ku64(w, "full", st.full);
    ward_jw_ku64(w, "torn_bytes", st.torn_bytes);
    ward_jw_ku64(w, "torn_files", st.torn_files);
    ward_jw_ku64(w, "meta_rebuilt", st.meta_rebuilt);
    ward_jw_ku64(w, "dropped", sp->dropped);
    ward_jw_ku64(w, "dropped_alerts", sp->drop_alerts);
    ward_jw_ku64(w, "held", sp->held);
    ward_jw_ku64(w, "waiting_in_memory", sp->npending);
    ward_jw_ku64(w, "oversize", sp->oversize);
    ward_jw_ku64(w, "errors", sp->errors);
    ward_jw_obj_end(w);
}

/* ---- ward-agent spool-dump, spool-ack ---- */

typedef struct dump_ctx {
    uint64_t epoch, last;
    ward_buf line;
} dump_ctx;

/* One record as a JSON line: {"seq":N,"epoch":E,"alert":{...}}; a payload that is not a
 * JSON object on one line is given as payload_base64. */
static int dump_one(void *ctx, uint64_t seq, const uint8_t *p, size_t len) {
    dump_ctx *d = ctx;
    ward_buf *b = &d->line;
    d->last = seq;
    ward_buf_reset(b);
    ward_buf_printf(b, "{\"seq\":%llu,\"epoch\":%llu,", (unsigned long long)seq,
                    (unsigned long long)d->epoch);
    if (len >= 2 && p[0] == '{' && p[len - 1] == '}' && !memchr(p, '\n', len)) {
        ward_buf_put(b, "\"alert\":", 8);
        ward_buf_put(b, p, len);
    } else {
        ward_buf_put(b, "\"payload_base64\":\"", 18);
        ward_buf_base64(b, p, len);
        ward_buf_putc(b, '"');
    }
    ward_buf_put(b, "}\n", 2);
    if (b->oom || fwrite(b->p, 1, b->len, stdout) != b->len)
        return -1;
    return 0;
}

/* Run as root on a spool that is not root's, the tools become its owner first: a
 * spool.meta or segment left root's (0600) would lock the agent, which runs as its own
 * user, out of its spool. */
static int become_owner(const char *dir, const struct stat *st) {
    if (geteuid() != 0 || st->st_uid == 0)
        return 0;
    struct passwd *pw = getpwuid(st->st_uid);
    char err[512];
    if (!pw) {
        fprintf(stderr, "ward-agent: %s: owned by uid %u, which has no user: run as its owner\n",
                dir, (unsigned)st->st_uid);
        return -1;
    }
    if (ward_sandbox_drop_user(pw->pw_name, 0, err, sizeof(err)) < 0) {
        fprintf(stderr, "ward-agent: %s: cannot become its owner: %s\n", dir, err);
        return -1;
    }
    return 0;
}

static int parse_seq(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

int agent_spool_tool(int argc, char **argv) {
    const char *cmd = argv[0];
    int dump = strcmp(cmd, "spool-dump") == 0;
    uint64_t from = 0, ack = 0;
    int c;
    static const struct option opts[] = {{"from", required_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'f' && dump && parse_seq(optarg, &from) == 0)
            continue;
        fprintf(stderr, "usage: ward-agent spool-dump [--from SEQ] DIR\n"
                        "       ward-agent spool-ack DIR SEQ\n");
        return 2;
    }
    if (argc - optind != (dump ? 1 : 2) || (!dump && parse_seq(argv[optind + 1], &ack) < 0)) {
        fprintf(stderr, "usage: ward-agent spool-dump [--from SEQ] DIR\n"
                        "       ward-agent spool-ack DIR SEQ\n");
        return 2;
    }
    const char *dir = argv[optind];
    struct stat st;
    if (stat(dir, &st) < 0) {
        fprintf(stderr, "ward-agent: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "ward-agent: %s: not a directory\n", dir);
        return 1;
    }
    if (become_owner(dir, &st) < 0)
        return 1;
    /* a directory that is not a spool is not made into one */
    char meta[4200];
    snprintf(meta, sizeof(meta), "%s/spool.meta", dir);
    if (stat(meta, &st) < 0) {
        fprintf(stderr,
                "ward-agent: %s: %s: not a spool (the agent makes spool.meta again at "
                "its next start, if the segments are there)\n",
                meta, strerror(errno));
        return 1;
    }
    /* the limits do not matter to reading, except max_record, which recovery applies */
    ward_spool_cfg cfg = {dir, UINT64_MAX / 2, (uint64_t)16 << 20, AGENT_SPOOL_MAX_RECORD};
    char err[1024];
    ward_spool *s = ward_spool_open(&cfg, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "ward-agent: %s\n", err);
        return 1;
    }
    ward_spool_stats ss;
    ward_spool_stats_get(s, &ss);
    int rc = 0;
    if (dump) {
        dump_ctx d = {ward_spool_epoch(s), 0, {0}};
        ward_buf_init(&d.line);
        /* by default what waits for the collector; --from also what is acknowledged but
         * still in a segment */
        uint64_t next = from ? from : ss.acked_seq + 1;
        long n;
        while ((n = ward_spool_read(s, next, 1024, 0, dump_one, &d, err, sizeof(err))) > 0)
            next = d.last + 1;
        if (n < 0) {
            fprintf(stderr, "ward-agent: %s\n", err);
            rc = 1;
        }
        ward_buf_fini(&d.line);
        if (fflush(stdout) != 0)
            rc = 1;
    } else if (ward_spool_ack(s, ack, err, sizeof(err)) < 0) {
        fprintf(stderr, "ward-agent: %s\n", err);
        rc = 1;
    }
    ward_spool_stats_get(s, &ss);
    fprintf(stderr,
            "ward-agent: spool %s: epoch %llu, %llu alerts waiting, acknowledged up to %llu, "
            "next %llu; recovery cut %llu bytes, removed %llu files\n",
            dir, (unsigned long long)ward_spool_epoch(s), (unsigned long long)ss.records,
            (unsigned long long)ss.acked_seq, (unsigned long long)ss.next_seq,
            (unsigned long long)ss.torn_bytes, (unsigned long long)ss.torn_files);
    ward_spool_close(s);
    return rc;
}
