/* The agent's life: configuration, rules, sources, timers, reload, stats, shutdown. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- configuration and rules ---- */

int agent_load_config(const char *path, agent_cfg *cfg, FILE *err) {
    ward_diags d;
    ward_diags_init(&d);
    memset(cfg, 0, sizeof(*cfg));
    int rc = ward_cfg_load(&agent_cfg_table, cfg, path, &d);
    for (size_t i = 0; i < d.n; i++) {
        char buf[1024];
        ward_diag_format(&d.v[i], buf, sizeof(buf));
        fprintf(err, "%s\n", buf);
    }
    ward_diags_fini(&d);
    return rc < 0 ? -1 : 0;
}

ward_engine *agent_load_rules(const agent_cfg *cfg, FILE *err, size_t *nerr) {
    ward_rules rs;
    ward_diags d;
    ward_rules_init(&rs);
    ward_diags_init(&d);
    int bad = 0;
    for (size_t i = 0; i < cfg->rules.npaths; i++)
        if (ward_rules_load(&rs, cfg->rules.paths[i], &d) < 0)
            bad = 1;
    for (size_t i = 0; i < cfg->rules.noverlays; i++)
        if (ward_rules_load_overlay(&rs, cfg->rules.overlays[i], &d) < 0)
            bad = 1;
    for (size_t i = 0; i < d.n; i++) {
        char buf[1024];
        ward_diag_format(&d.v[i], buf, sizeof(buf));
        fprintf(err, "%s\n", buf);
    }
    *nerr = d.n;
    ward_diags_fini(&d);
    if (bad) {
        ward_rules_fini(&rs);
        return NULL;
    }
    ward_limits l;
    ward_limits_default(&l);
    l.max_line = cfg->limits.max_line;
    l.match_limit = (uint32_t)cfg->limits.pcre2_match_limit;
    l.depth_limit = (uint32_t)cfg->limits.pcre2_depth_limit;
    l.heap_limit_kib = (uint32_t)(cfg->limits.pcre2_heap / 1024);
    l.jit_stack = cfg->limits.jit_stack;
    l.yara_timeout_s = (int)((cfg->limits.yara_timeout_ms + 999) / 1000);
    char msg[512];
    ward_engine *e = ward_engine_new(&rs, &l, msg, sizeof(msg));
    ward_rules_fini(&rs);
    if (!e) {
        fprintf(err, "rules: %s\n", msg);
        (*nerr)++;
    }
    return e;
}

/* ---- sources ---- */

static src *make_source(agent *a, const agent_source_cfg *c) {
    src *s = NULL;
    switch (c->type) {
    case SRC_FILE:
        s = src_file_new(a, c);
        break;
    case SRC_JOURNAL:
        s = src_journal_new(a, c);
        break;
    case SRC_SYSLOG:
        s = src_syslog_new(a, c);
        break;
    }
    if (s && !s->name)
        s->name = strdup(c->name);
    if (s && !s->name) {
        s->ops->free(s);
        s = NULL;
    }
    return s;
}

void agent_stop_sources(agent *a) {
    for (size_t i = 0; i < a->nsrcs; i++)
        if (a->srcs[i]->ops->stop)
            a->srcs[i]->ops->stop(a->srcs[i]);
}

static void free_sources(agent *a) {
    for (size_t i = 0; i < a->nsrcs; i++)
        a->srcs[i]->ops->free(a->srcs[i]);
    free(a->srcs);
    a->srcs = NULL;
    a->nsrcs = 0;
}

static int start_sources(agent *a) {
    a->srcs = calloc(a->cfg.nsources ? a->cfg.nsources : 1, sizeof(*a->srcs));
    if (!a->srcs)
        return -1;
    for (size_t i = 0; i < a->cfg.nsources; i++) {
        src *s = make_source(a, &a->cfg.sources[i]);
        if (!s) {
            agent_log(a, "error", "source %s: cannot be created", a->cfg.sources[i].name);
            return -1;
        }
        a->srcs[a->nsrcs++] = s;
        if (s->ops->start(s, a->bm) < 0)
            return -1;
    }
    return 0;
}

/* ---- timers ---- */

#define REPORT_RETRY_MS 1000 /* drops to report, alerts kept: looking for room in the spool */

static void on_commit(void *ctx) {
    agent *a = ctx;
    /* with drops not reported yet, the commit also looks for room for the report, even
     * when no new alert comes to make it */
    if (a->dirty || a->sp.unreported || a->sp.pending.len)
        agent_commit(a);
    uint64_t now = ward_loop_now_ms();
    if (!a->dirty && a->bm_due && now >= a->bm_due) {
        if (agent_save_bookmarks(a) == 0)
            a->bm_due = 0;
    }
    if (a->dirty || a->bm_due)
        ward_loop_timer_after(a->loop, &a->commit_timer, agent_commit_interval(a));
    else if (a->sp.unreported || a->sp.pending.len)
        ward_loop_timer_after(a->loop, &a->commit_timer, REPORT_RETRY_MS);
    else
        a->commit_armed = 0;
}

uint64_t agent_commit_interval(const agent *a) {
    uint64_t i = a->cfg.outputs.file.fsync_interval_ms;
    if (a->spool && (!a->out.path || a->sp.sync_interval_ms < i))
        i = a->sp.sync_interval_ms;
    return i;
}

/* Called after every record (from agent_process): arms the group commit once. */
void agent_touch(agent *a) {
    if (!a->bm_due)
        a->bm_due = ward_loop_now_ms() + a->cfg.bookmark_interval_ms;
    if (!a->commit_armed && a->loop) {
        a->commit_armed = 1;
        ward_loop_timer_after(a->loop, &a->commit_timer, agent_commit_interval(a));
    }
}

static void on_stats_timer(void *ctx) {
    agent *a = ctx;
    agent_log_stats(a);
    ward_loop_timer_after(a->loop, &a->stats_timer, a->cfg.stats.interval_ms);
}

static void on_expire(void *ctx) {
    agent *a = ctx;
    ward_corr_expire(a->corr, agent_now_ms());
    ward_loop_timer_after(a->loop, &a->expire_timer, 60000);
}

/* ---- reload ---- */

static const ward_threshold *keep_rule(const char *rule_id, void *ctx) {
    const ward_engine *e = ctx;
    for (size_t i = 0; i < ward_engine_rule_count(e); i++) {
        const ward_rule *r = ward_engine_rule(e, i);
        if (strcmp(r->id, rule_id) == 0)
            return r->threshold.set ? &r->threshold : NULL;
    }
    return NULL;
}

static int str_eq(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int sources_equal(const agent_cfg *x, const agent_cfg *y) {
    if (x->nsources != y->nsources || x->limits.max_line != y->limits.max_line)
        return 0;
    for (size_t i = 0; i < x->nsources; i++)
        if (!agent_cfg_source_equal(&x->sources[i], &y->sources[i]))
            return 0;
    return 1;
}

/* 1 when the collector settings the shipper was made with are the same. */
static int collector_equal(const agent_cfg *x, const agent_cfg *y) {
    return str_eq(x->collector.address, y->collector.address) &&
           str_eq(x->collector.ca, y->collector.ca) &&
           str_eq(x->collector.server_name, y->collector.server_name) &&
           str_eq(x->collector.key, y->collector.key) &&
           str_eq(x->collector.feed_key, y->collector.feed_key) &&
           x->collector.insecure_skip_verify == y->collector.insecure_skip_verify &&
           x->collector.in_flight == y->collector.in_flight &&
           x->collector.batch_max_records == y->collector.batch_max_records;
}

/* The spool is opened once: its settings need a restart. */
static int spool_equal(const agent_cfg *x, const agent_cfg *y) {
    return x->spool.enabled == y->spool.enabled && str_eq(x->spool.dir, y->spool.dir) &&
           x->spool.max_size == y->spool.max_size &&
           x->spool.segment_size == y->spool.segment_size &&
           x->spool.sync_interval_ms == y->spool.sync_interval_ms &&
           x->spool.when_full == y->spool.when_full;
}

void agent_reload(agent *a) {
    a->st.reloads++;
    agent_log(a, "info", "reloading %s", a->cfg_path);
    agent_cfg cfg;
    if (agent_load_config(a->cfg_path, &cfg, a->log) < 0) {
        ward_cfg_free(&agent_cfg_table, &cfg);
        a->st.reload_failures++;
        agent_log(a, "error", "%s has errors: the running configuration is kept", a->cfg_path);
        return;
    }
    size_t nerr = 0;
    ward_engine *e = agent_load_rules(&cfg, a->log, &nerr);
    ward_scratch *sc = e ? ward_scratch_new(e) : NULL;
    if (!e || !sc) {
        ward_scratch_free(sc);
        ward_engine_free(e);
        ward_cfg_free(&agent_cfg_table, &cfg);
        a->st.reload_failures++;
        agent_log(a, "error", "the new rules have %zu errors: the running rules are kept", nerr);
        return;
    }
    /* the new privacy policy must load before anything is spooled under it */
    agent_privacy np;
    char perr[600];
    if (agent_privacy_init(&np, &cfg, perr, sizeof(perr)) < 0) {
        agent_privacy_fini(&np);
        ward_scratch_free(sc);
        ward_engine_free(e);
        ward_cfg_free(&agent_cfg_table, &cfg);
        a->st.reload_failures++;
        agent_log(a, "error", "%s: the running configuration is kept", perr);
        return;
    }
    /* everything so far goes out and is bookmarked under the old configuration */
    agent_commit(a);
    agent_save_bookmarks(a);
    size_t dropped = ward_corr_retain(a->corr, keep_rule, e);
    if (!spool_equal(&a->cfg, &cfg))
        agent_log(a, "warning", "the spool settings changed: they take effect at the next start");
    int restart = !sources_equal(&a->cfg, &cfg) ||
                  !str_eq(a->cfg.outputs.file.path, cfg.outputs.file.path) ||
                  a->cfg.outputs.stdout_ != cfg.outputs.stdout_;
    int ship_changed = !collector_equal(&a->cfg, &cfg);
    ward_scratch_free(a->scratch);
    ward_engine_free(a->engine);
    a->engine = e;
    a->scratch = sc;
    agent_forget_alert_parts(a); /* new rules, maybe a new agent name */
    if (restart) {
        agent_stop_sources(a);
        agent_commit(a);
        free_sources(a);
        output_close(&a->out);
        ward_cfg_free(&agent_cfg_table, &a->cfg);
        a->cfg = cfg;
        if (output_open(&a->out, &a->cfg, a->log) < 0 || start_sources(a) < 0)
            agent_log(a, "error", "after the reload, some sources or outputs did not start");
        agent_syslog_prune(a, 0);
    } else {
        /* the sources keep their configuration objects: swap in the new one under them */
        for (size_t i = 0; i < a->nsrcs; i++)
            a->srcs[i]->cfg = &cfg.sources[i];
        ward_cfg_free(&agent_cfg_table, &a->cfg);
        a->cfg = cfg;
        output_reopen(&a->out, a->log);
    }
    agent_privacy_fini(&a->privacy);
    a->privacy = np; /* its lists are the new configuration's */
    if (ship_changed) {
        agent_ship_free(a->ship);
        a->ship = NULL;
        if (a->cfg.collector.address && a->spool && (a->ship = agent_ship_new(a)))
            agent_ship_start(a->ship);
        else if (a->cfg.collector.address)
            agent_log(a, "error", "after the reload, the shipper did not start");
    }
    agent_log(a, "info", "reloaded: %zu rules; threshold state of %zu groups dropped",
              ward_engine_rule_count(a->engine), dropped);
}

/* ---- signals ---- */

static void on_signal(void *ctx, int signo) {
    agent *a = ctx;
    switch (signo) {
    case SIGHUP:
        agent_reload(a);
        break;
    case SIGUSR1:
        agent_write_stats(a);
        break;
    case SIGTERM:
    case SIGINT:
        agent_log(a, "info", "%s: stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        ward_loop_stop(a->loop);
        break;
    }
}

/* ---- the alerts spooled before a crash (resend.c) ---- */

static int on_spooled(void *ctx, uint64_t seq, const uint8_t *p, size_t len) {
    agent *a = ctx;
    uint8_t id[16];
    (void)seq;
    if (agent_resend_id_of(p, len, id) == 0 && agent_resend_add(&a->resend, id) < 0)
        return 1;
    return 0;
}

int agent_resend_load(agent *a) {
    if (!a->spool)
        return 0;
    ward_spool_stats ss;
    ward_spool_stats_get(a->spool, &ss);
    char err[512];
    long n = ward_spool_read(a->spool, ss.acked_seq + 1, 0, 0, on_spooled, a, err, sizeof(err));
    if (n < 0) {
        agent_log(a, "error", "spool: %s", err);
        return -1;
    }
    if ((uint64_t)n != (ss.durable_seq > ss.acked_seq ? ss.durable_seq - ss.acked_seq : 0)) {
        agent_log(a, "error", "spool: out of memory loading the ids of the spooled alerts");
        return -1;
    }
    /* nothing more is let go before this run writes bookmarks of its own: until then the
     * records read again are those of the spooled alerts */
    a->commit_seq = ss.durable_seq;
    a->bm_seq = ss.acked_seq;
    if (a->resend.n)
        agent_log(a, "info", "spool: %zu alerts held; read again, they are not spooled twice",
                  a->resend.n);
    return 0;
}

/* ---- start and stop ---- */

static int make_state_dir(agent *a) {
    const char *d = a->cfg.agent.state_dir;
    if (mkdir(d, 0750) < 0 && errno != EEXIST) {
        agent_log(a, "error", "state_dir %s: cannot create: %s", d, strerror(errno));
        return -1;
    }
    if (access(d, W_OK) < 0) {
        agent_log(a, "error", "state_dir %s: not writable: %s", d, strerror(errno));
        return -1;
    }
    return 0;
}

int agent_init(agent *a, const char *cfg_path, int flags, FILE *log) {
    int once = flags & AGENT_ONCE;
    memset(a, 0, sizeof(*a));
    a->log = log;
    a->started_ms = agent_now_ms();
    ward_event_init(&a->ev);
    ward_buf_init(&a->scanbuf);
    ward_buf_init(&a->spoolbuf);
    agent_ind_init(&a->ind);
    agent_resend_init(&a->resend);
    a->cfg_path = strdup(cfg_path);
    a->bm = calloc(1, sizeof(*a->bm));
    if (!a->cfg_path || !a->bm)
        return -1;
    bm_init(a->bm);
    if (gethostname(a->host, sizeof(a->host) - 1) < 0)
        snprintf(a->host, sizeof(a->host), "localhost");
    if (agent_load_config(cfg_path, &a->cfg, log) < 0)
        return -1;
    /* ports below 1024 need the privilege the agent is about to give up */
    if (agent_syslog_prebind(a) < 0)
        return -1;
    /* before a log, a rule or the state is read */
    if (agent_drop_user(a, flags & AGENT_ALLOW_ROOT) < 0)
        return -1;
    size_t nerr = 0;
    a->engine = agent_load_rules(&a->cfg, log, &nerr);
    if (!a->engine)
        return -1;
    a->scratch = ward_scratch_new(a->engine);
    a->corr = ward_corr_new(a->cfg.limits.correlation_memory);
    a->loop = ward_loop_new();
    if (!a->scratch || !a->corr || !a->loop)
        return -1;
    if (make_state_dir(a) < 0)
        return -1;
    size_t n = strlen(a->cfg.agent.state_dir) + 32;
    a->bm_path = malloc(n);
    if (!a->bm_path)
        return -1;
    snprintf(a->bm_path, n, "%s/bookmarks", a->cfg.agent.state_dir);
    char err[512];
    int existed = 0;
    if (bm_load(a->bm, a->bm_path, &existed, err, sizeof(err)) < 0) {
        /* a damaged bookmark file: say so, keep it for inspection, read files again */
        agent_log(a, "error", "%s; it is kept as %s.bad and files are read from their start", err,
                  a->bm_path);
        char bad[4096];
        snprintf(bad, sizeof(bad), "%s.bad", a->bm_path);
        rename(a->bm_path, bad);
        existed = 1;
    }
    a->first_run = !existed;
    if (output_open(&a->out, &a->cfg, log) < 0 || agent_spool_open(a) < 0)
        return -1;
    ward_loop_timer_init(&a->commit_timer, on_commit, a);
    ward_loop_timer_init(&a->stats_timer, on_stats_timer, a);
    ward_loop_timer_init(&a->expire_timer, on_expire, a);
    if (!once) {
        int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGUSR1};
        if (ward_loop_signals(a->loop, sigs, 4, on_signal, a) < 0) {
            agent_log(a, "error", "signals: %s", strerror(errno));
            return -1;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    char perr[600];
    if (agent_privacy_init(&a->privacy, &a->cfg, perr, sizeof(perr)) < 0) {
        agent_log(a, "error", "%s", perr);
        return -1;
    }
    if (agent_resend_load(a) < 0)
        return -1;
    if (a->cfg.collector.address && !(a->ship = agent_ship_new(a)))
        return -1;
    if (start_sources(a) < 0)
        return -1;
    if (agent_confine(a) < 0)
        return -1;
    if (!once)
        agent_ship_start(a->ship);
    if (!once && (a->sp.unreported || a->sp.pending.len)) {
        /* drops from before the restart, alerts taken back from spool-pending: into the
         * spool as soon as there is room */
        a->commit_armed = 1;
        ward_loop_timer_after(a->loop, &a->commit_timer, agent_commit_interval(a));
    }
    if (!once) {
        if (a->cfg.stats.interval_ms)
            ward_loop_timer_after(a->loop, &a->stats_timer, a->cfg.stats.interval_ms);
        ward_loop_timer_after(a->loop, &a->expire_timer, 60000);
    }
    agent_log(a, "info", "started: %zu rules, %zu sources%s", ward_engine_rule_count(a->engine),
              a->nsrcs, a->first_run ? " (first run: existing files are read from their end)" : "");
    return 0;
}

/* Reads everything the sources have now, then commits. For --once and shutdown. */
int agent_drain(agent *a) {
    long n;
    do {
        n = 0;
        for (size_t i = 0; i < a->nsrcs; i++)
            if (a->srcs[i]->ops->drain) {
                long r = a->srcs[i]->ops->drain(a->srcs[i]);
                if (r > 0)
                    n += r;
            }
    } while (n > 0);
    /* a full spool (1) is not a failure: the bookmarks saved are the durable positions,
     * and what waits is read again next time */
    int rc = agent_commit(a);
    if (rc >= 0)
        rc = agent_save_bookmarks(a);
    return rc;
}

void agent_fini(agent *a) {
    free_sources(a);
    agent_syslog_prune(a, 1);
    agent_ship_free(a->ship);
    a->ship = NULL;
    agent_spool_close(a);
    agent_resend_fini(&a->resend);
    agent_ind_fini(&a->ind);
    agent_privacy_fini(&a->privacy);
    ward_buf_fini(&a->spoolbuf);
    agent_forget_alert_parts(a);
    output_close(&a->out);
    ward_scratch_free(a->scratch);
    ward_engine_free(a->engine);
    ward_corr_free(a->corr);
    if (a->bm) {
        bm_fini(a->bm);
        free(a->bm);
    }
    ward_loop_free(a->loop);
    ward_cfg_free(&agent_cfg_table, &a->cfg);
    ward_event_fini(&a->ev);
    ward_buf_fini(&a->scanbuf);
    free(a->cfg_path);
    free(a->bm_path);
}
