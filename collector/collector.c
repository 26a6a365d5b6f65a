/* The collector's life: configuration, state directory, keys, store, timers, signals,
 * correlation, retention, stats. */
#include "collector.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ward/node.h"
#include "ward/alert.h"
#include "ward/wire.h"

void coll_log(collector *c, const char *level, const char *fmt, ...) {
    FILE *f = c && c->log ? c->log : stderr;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(f, "ward-collector: %s: %s\n", level, msg);
    fflush(f);
}

int64_t coll_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int coll_store_open(const coll_cfg *cfg, store *s, char *err, size_t errlen) {
    s->ops = cfg->store.type == STORE_POSTGRESQL ? &store_pg_ops : &store_sqlite_ops;
    s->impl = NULL;
    const char *target = cfg->store.type == STORE_POSTGRESQL ? cfg->store.conninfo : cfg->db_path;
    return s->ops->open(s, target, err, errlen);
}

static int make_dir(collector *c, const char *d, mode_t mode) {
    if (mkdir(d, mode) < 0 && errno != EEXIST) {
        coll_log(c, "error", "%s: cannot create: %s", d, strerror(errno));
        return -1;
    }
    if (access(d, W_OK) < 0) {
        coll_log(c, "error", "%s: not writable: %s", d, strerror(errno));
        return -1;
    }
    return 0;
}

int coll_prepare_state(collector *c) {
    const char *sd = c->cfg.collector.state_dir;
    if (make_dir(c, sd, 0750) < 0)
        return -1;
    char priv[4096], pub[4096], err[512];
    snprintf(priv, sizeof(priv), "%s/feed.key", sd);
    snprintf(pub, sizeof(pub), "%s/feed.pub", sd);
    if (access(priv, F_OK) < 0) {
        if (ward_crypto_keygen(priv, pub, err, sizeof(err)) < 0) {
            coll_log(c, "error", "feed key: %s", err);
            return -1;
        }
        coll_log(c, "info", "made the feed-signing key %s; agents verify the feed with %s", priv,
                 pub);
    }
    if (!c->feed_key && !(c->feed_key = ward_crypto_key_load_private(priv, err, sizeof(err)))) {
        coll_log(c, "error", "feed key: %s", err);
        return -1;
    }
    if (!c->cfg.tls.cert) {
        char dir[4096], ca[4200];
        snprintf(dir, sizeof(dir), "%s/tls", sd);
        snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
        int existed = access(ca, F_OK) == 0;
        if (make_dir(c, dir, 0700) < 0)
            return -1;
        if (ward_tls_demo_ca(dir, "localhost", err, sizeof(err)) < 0) {
            coll_log(c, "error", "demo CA: %s", err);
            return -1;
        }
        if (!existed)
            coll_log(c, "info",
                     "made a demo CA and a server certificate for localhost in %s; agents "
                     "trust %s (set tls.cert and tls.key for a real one)",
                     dir, ca);
    }
    return 0;
}

/* ---- correlation and the feed ---- */

/* Reads the feed from the store and, when its version moved, signs it and pushes it. */
static void refresh_feed(collector *c, int64_t now) {
    char err[512];
    ward_feed f;
    memset(&f, 0, sizeof(f));
    if (c->st.ops->feed(&c->st, now, &f, err, sizeof(err)) < 0) {
        c->n.correlation_errors++;
        coll_log(c, "error", "feed: %s", err);
        ward_feed_fini(&f);
        return;
    }
    if (f.version != c->feed_version || (f.version && c->feed_doc.len == 0)) {
        ward_buf doc;
        ward_buf_init(&doc);
        f.generated_ms = (uint64_t)now;
        if (ward_feed_encode(&f, c->feed_key, &doc) < 0 || doc.oom) {
            c->n.correlation_errors++;
            coll_log(c, "error", "feed version %llu: cannot be encoded",
                     (unsigned long long)f.version);
            ward_buf_fini(&doc);
        } else {
            if (f.version > c->feed_version)
                coll_log(c, "info", "feed version %llu: %zu regional indicators",
                         (unsigned long long)f.version, f.n);
            ward_buf_fini(&c->feed_doc);
            c->feed_doc = doc;
            c->feed_version = f.version;
            c->n.feed_version = f.version;
            coll_touch(c);
            coll_push_feed(c);
        }
    }
    ward_feed_fini(&f);
}

void coll_correlate(collector *c) {
    char err[512];
    int64_t now = coll_now_ms();
    c->corr_due = 0;
    c->last_corr_ms = (uint64_t)now;
    c->n.correlations++;
    coll_touch(c);
    if (c->st.ops->correlate(&c->st, now - (int64_t)c->cfg.region.window_ms, now,
                             (unsigned)c->cfg.region.min_orgs, (int64_t)c->cfg.region.ttl_ms, err,
                             sizeof(err)) < 0) {
        c->n.correlation_errors++;
        coll_log(c, "error", "correlation: %s", err);
        return;
    }
    refresh_feed(c, now);
}

static void on_corr_timer(void *ctx) {
    collector *c = ctx;
    /* with nothing new, correlation still runs once a minute: entries expire. A shared
     * store (PostgreSQL) also changes under the other collectors of the region: their
     * feed is read every tick, so that it reaches this collector's agents too. */
    if (c->corr_due || (uint64_t)coll_now_ms() - c->last_corr_ms >= 60000)
        coll_correlate(c);
    else if (c->cfg.store.type == STORE_POSTGRESQL)
        refresh_feed(c, coll_now_ms());
    ward_loop_timer_after(c->loop, &c->corr_timer, c->cfg.region.interval_ms);
}

static void run_retention(collector *c) {
    char err[512];
    uint64_t deleted = 0;
    int64_t before = coll_now_ms() - c->cfg.retention_days * 86400000;
    c->n.retention_runs++;
    if (c->st.ops->retention(&c->st, before, &deleted, err, sizeof(err)) < 0) {
        c->n.retention_errors++;
        coll_log(c, "error", "retention: %s", err);
    } else if (deleted) {
        c->n.retention_deleted += deleted;
        coll_log(c, "info", "retention: deleted %llu rows older than %lld days",
                 (unsigned long long)deleted, (long long)c->cfg.retention_days);
    }
    coll_touch(c);
}

static void on_retention_timer(void *ctx) {
    collector *c = ctx;
    run_retention(c);
    ward_loop_timer_after(c->loop, &c->retention_timer, 3600000);
}

static void on_idle_timer(void *ctx) {
    collector *c = ctx;
    coll_expire_idle(c);
    ward_loop_timer_after(c->loop, &c->idle_timer, 1000);
}

/* ---- stats ---- */

static void write_stats(collector *c, ward_jw *w) {
    char ts[32];
    int64_t now = coll_now_ms();
    ward_alert_time(ts, (uint64_t)now);
    ward_jw_obj(w);
    ward_jw_kcstr(w, "@timestamp", ts);
    ward_jw_kcstr(w, "version", COLLECTOR_VERSION);
    ward_jw_ku64(w, "uptime_s", (uint64_t)(now - (int64_t)c->started_ms) / 1000);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        ward_jw_ku64(w, "peak_rss_kib", (uint64_t)ru.ru_maxrss);
        ward_jw_ku64(w, "cpu_ms",
                     (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000u +
                         (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000u);
    }
    const coll_stats *n = &c->n;
    ward_jw_key(w, "connections");
    ward_jw_obj(w);
    ward_jw_ku64(w, "open", c->nconns);
    ward_jw_ku64(w, "accepted", n->accepted);
    ward_jw_ku64(w, "closed", n->closed);
    ward_jw_ku64(w, "refused", n->refused_connections);
    ward_jw_ku64(w, "tls_failures", n->tls_failures);
    ward_jw_ku64(w, "idle_closed", n->idle_closed);
    ward_jw_ku64(w, "accept_errors", n->accept_errors);
    ward_jw_ku64(w, "bytes_in", n->bytes_in);
    ward_jw_ku64(w, "bytes_out", n->bytes_out);
    ward_jw_obj_end(w);
    ward_jw_ku64(w, "hellos", n->hellos);
    ward_jw_ku64(w, "batches", n->batches);
    ward_jw_ku64(w, "transactions", n->groups);
    ward_jw_ku64(w, "commits", n->commits);
    ward_jw_ku64(w, "alerts_stored", n->alerts_stored);
    ward_jw_ku64(w, "alerts_replayed", n->alerts_replayed);
    ward_jw_ku64(w, "replays", n->replays);
    ward_jw_key(w, "rejected");
    ward_jw_obj(w);
    uint64_t total = 0;
    for (int i = 0; i < 10; i++)
        total += n->rejected[i];
    ward_jw_ku64(w, "total", total);
    for (int i = 1; i < 10; i++) {
        static const char *const keys[] = {"other",   "malformed", "version",   "unknown",
                                           "revoked", "signature", "too_large", "bomb",
                                           "gap",     "store"};
        ward_jw_ku64(w, keys[i], n->rejected[i]);
    }
    ward_jw_ku64(w, "other", n->rejected[0]);
    ward_jw_obj_end(w);
    ward_jw_key(w, "region");
    ward_jw_obj(w);
    ward_jw_ku64(w, "sightings", n->sightings);
    ward_jw_ku64(w, "sightings_allow_listed", n->sightings_allowed);
    ward_jw_ku64(w, "sightings_too_long", n->sightings_dropped);
    ward_jw_ku64(w, "correlations", n->correlations);
    ward_jw_ku64(w, "correlation_errors", n->correlation_errors);
    ward_jw_ku64(w, "feed_version", n->feed_version);
    ward_jw_ku64(w, "feeds_sent", n->feeds_sent);
    ward_jw_obj_end(w);
    ward_jw_key(w, "retention");
    ward_jw_obj(w);
    ward_jw_ku64(w, "runs", n->retention_runs);
    ward_jw_ku64(w, "deleted", n->retention_deleted);
    ward_jw_ku64(w, "errors", n->retention_errors);
    ward_jw_obj_end(w);
    ward_jw_ku64(w, "reloads", n->reloads);
    ward_jw_ku64(w, "reload_failures", n->reload_failures);
    ward_jw_obj_end(w);
}

int coll_write_stats(collector *c) {
    const char *path = c->cfg.stats_path;
    c->stats_dirty = 0;
    ward_buf b;
    ward_buf_init(&b);
    ward_jw w;
    ward_jw_init(&w, &b);
    write_stats(c, &w);
    ward_buf_putc(&b, '\n');
    char err[4400];
    int rc = -1;
    if (b.oom)
        snprintf(err, sizeof(err), "cannot write %s: out of memory", path);
    else
        rc = ward_file_replace(path, b.p, b.len, err, sizeof(err));
    if (rc < 0)
        coll_log(c, "error", "stats: %s", err);
    ward_buf_fini(&b);
    return rc;
}

static void on_stats_write(void *ctx) {
    collector *c = ctx;
    if (c->stats_dirty)
        coll_write_stats(c);
}

void coll_touch(collector *c) {
    if (!c->stats_dirty && c->loop) {
        c->stats_dirty = 1;
        ward_loop_timer_after(c->loop, &c->stats_write_timer, 1000);
    }
}

static void on_stats_timer(void *ctx) {
    collector *c = ctx;
    uint64_t rej = 0;
    for (int i = 0; i < 10; i++)
        rej += c->n.rejected[i];
    coll_log(c, "info",
             "stats: %zu connections, %llu batches, %llu alerts stored, %llu replayed, %llu "
             "rejected, %llu sightings, feed version %llu",
             c->nconns, (unsigned long long)c->n.batches, (unsigned long long)c->n.alerts_stored,
             (unsigned long long)c->n.alerts_replayed, (unsigned long long)rej,
             (unsigned long long)c->n.sightings, (unsigned long long)c->feed_version);
    ward_loop_timer_after(c->loop, &c->stats_timer, c->cfg.stats.interval_ms);
}

/* ---- reload and signals ---- */

/* A server context from the configured certificate (or the demo CA's). Returns it or
 * NULL with err naming the file. */
static ward_tls_ctx *load_tls(const coll_cfg *cfg, char *err, size_t errlen) {
    char cert[4096], key[4096];
    if (cfg->tls.cert) {
        snprintf(cert, sizeof(cert), "%s", cfg->tls.cert);
        snprintf(key, sizeof(key), "%s", cfg->tls.key);
    } else {
        snprintf(cert, sizeof(cert), "%s/tls/server.pem", cfg->collector.state_dir);
        snprintf(key, sizeof(key), "%s/tls/server.key", cfg->collector.state_dir);
    }
    return ward_tls_server_new(cert, key, err, errlen);
}

static int str_eq(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* SIGHUP: the region, the limits, retention and stats take effect; what would need the
 * listener, the certificate or the store to be reopened is kept, and said. */
static void reload(collector *c) {
    coll_log(c, "info", "reloading %s", c->cfg_path);
    coll_cfg cfg;
    if (coll_cfg_load(c->cfg_path, &cfg, c->log) < 0) {
        c->n.reload_failures++;
        coll_touch(c);
        coll_log(c, "error", "%s has errors: the running configuration is kept", c->cfg_path);
        coll_cfg_free(&cfg);
        return;
    }
    if (!str_eq(cfg.collector.listen, c->cfg.collector.listen) ||
        !str_eq(cfg.collector.state_dir, c->cfg.collector.state_dir) ||
        cfg.store.type != c->cfg.store.type || !str_eq(cfg.db_path, c->cfg.db_path) ||
        !str_eq(cfg.store.conninfo, c->cfg.store.conninfo))
        coll_log(c, "warning",
                 "collector.listen, state_dir and store take effect at the next start; "
                 "the running ones are kept");
    /* the certificate is read again (a renewed one under the same name, or another):
     * connections keep the context they were accepted with, new ones get this one */
    char err[512];
    /* the demo CA lives in the running state_dir */
    char *new_sd = cfg.collector.state_dir;
    cfg.collector.state_dir = c->cfg.collector.state_dir;
    ward_tls_ctx *tls = load_tls(&cfg, err, sizeof(err));
    cfg.collector.state_dir = new_sd;
    if (tls) {
        ward_tls_ctx_free(c->tls);
        c->tls = tls;
    } else {
        coll_log(c, "error", "tls: %s: the running certificate is kept", err);
    }
    /* keep the running listener, state directory and store settings */
#define KEEP(f)                                                                                    \
    do {                                                                                           \
        char *t = cfg.f;                                                                           \
        cfg.f = c->cfg.f;                                                                          \
        c->cfg.f = t;                                                                              \
    } while (0)
    KEEP(collector.listen);
    KEEP(collector.state_dir);
    if (!tls) {
        KEEP(tls.cert);
        KEEP(tls.key);
    }
    KEEP(store.path);
    KEEP(store.conninfo);
    KEEP(db_path);
    if (!cfg.stats.file)
        KEEP(stats_path); /* in the running state_dir */
#undef KEEP
    cfg.store.type = c->cfg.store.type;
    coll_cfg_free(&c->cfg);
    c->cfg = cfg;
    c->n.reloads++;
    ward_loop_timer_stop(c->loop, &c->stats_timer);
    if (c->cfg.stats.interval_ms)
        ward_loop_timer_after(c->loop, &c->stats_timer, c->cfg.stats.interval_ms);
    coll_log(c, "info", "reloaded: %zu indicator fields, %zu allow-list entries, min_orgs %lld",
             c->cfg.region.nindicator_fields, c->cfg.region.nallow,
             (long long)c->cfg.region.min_orgs);
    c->corr_due = 1; /* min_orgs or window may have changed */
    coll_touch(c);
}

static void on_signal(void *ctx, int signo) {
    collector *c = ctx;
    switch (signo) {
    case SIGHUP:
        reload(c);
        break;
    case SIGUSR1:
        coll_write_stats(c);
        break;
    case SIGTERM:
    case SIGINT:
        coll_log(c, "info", "%s: stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        ward_loop_stop(c->loop);
        break;
    }
}

/* ---- start and stop ---- */

/* Every connection is a descriptor: the soft limit goes up to what max_connections needs
 * (and the store, the listener, the loop), as far as the hard limit lets it. */
static void raise_nofile(collector *c) {
    struct rlimit rl;
    rlim_t want = (rlim_t)c->cfg.limits.max_connections + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
        return;
    rlim_t to = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    if (to > rl.rlim_cur) {
        rl.rlim_cur = to;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (to < want)
        coll_log(c, "warning",
                 "open files limited to %llu (hard limit): fewer than limits.max_connections "
                 "%lld can be served",
                 (unsigned long long)to, (long long)c->cfg.limits.max_connections);
}

int coll_init(collector *c, const char *cfg_path, int allow_root, FILE *log) {
    memset(c, 0, sizeof(*c));
    c->log = log;
    c->lfd = -1;
    c->started_ms = (uint64_t)coll_now_ms();
    ward_buf_init(&c->feed_doc);
    for (int i = 0; i < COLL_GROUP; i++)
        ward_buf_init(&c->inflated[i]);
    if (!(c->cfg_path = strdup(cfg_path)))
        return -1;
    if (coll_cfg_load(cfg_path, &c->cfg, log) < 0)
        return -1;
    /* before the state or the store is touched */
    int dropped = coll_drop_user(&c->cfg, allow_root, log);
    if (dropped < 0)
        return -1;
    if (!(c->loop = ward_loop_new())) {
        coll_log(c, "error", "event loop: %s", strerror(errno));
        return -1;
    }
    if (coll_prepare_state(c) < 0)
        return -1;
    char err[512];
    if (coll_store_open(&c->cfg, &c->st, err, sizeof(err)) < 0) {
        coll_log(c, "error", "store: %s", err);
        return -1;
    }
    c->store_open = 1;
    if (!(c->tls = load_tls(&c->cfg, err, sizeof(err)))) {
        coll_log(c, "error", "tls: %s", err);
        return -1;
    }
    int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGUSR1};
    if (ward_loop_signals(c->loop, sigs, 4, on_signal, c) < 0) {
        coll_log(c, "error", "signals: %s", strerror(errno));
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(c);
    if (coll_listen(c) < 0)
        return -1;
    if (dropped)
        coll_log(c, "info", "running as user %s", c->cfg.collector.user);
    if (coll_confine(c) < 0)
        return -1;
    ward_loop_timer_init(&c->corr_timer, on_corr_timer, c);
    ward_loop_timer_init(&c->retention_timer, on_retention_timer, c);
    ward_loop_timer_init(&c->stats_timer, on_stats_timer, c);
    ward_loop_timer_init(&c->stats_write_timer, on_stats_write, c);
    ward_loop_timer_init(&c->idle_timer, on_idle_timer, c);
    run_retention(c);
    ward_loop_timer_after(c->loop, &c->retention_timer, 3600000);
    coll_correlate(c); /* the feed as stored, before the first agent asks */
    ward_loop_timer_after(c->loop, &c->corr_timer, c->cfg.region.interval_ms);
    ward_loop_timer_after(c->loop, &c->idle_timer, 1000);
    if (c->cfg.stats.interval_ms)
        ward_loop_timer_after(c->loop, &c->stats_timer, c->cfg.stats.interval_ms);
    c->started = 1;
    coll_log(c, "info", "started: store %s (%s), feed version %llu", c->st.ops->name,
             c->cfg.store.type == STORE_POSTGRESQL ? "conninfo" : c->cfg.db_path,
             (unsigned long long)c->feed_version);
    return 0;
}

void coll_fini(collector *c) {
    coll_server_close(c);
    if (c->store_open)
        c->st.ops->close(&c->st);
    ward_tls_ctx_free(c->tls);
    ward_crypto_key_free(c->feed_key);
    ward_loop_free(c->loop);
    coll_cfg_free(&c->cfg);
    ward_buf_fini(&c->feed_doc);
    for (int i = 0; i < COLL_GROUP; i++)
        ward_buf_fini(&c->inflated[i]);
    free(c->recs);
    free(c->alerts);
    free(c->sights);
    free(c->fields);
    free(c->arena.p);
    free(c->conns);
    free(c->gconns);
    free(c->cfg_path);
}
