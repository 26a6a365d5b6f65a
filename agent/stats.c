/* Self-monitoring: every counter, as JSON in the stats file and as a log line. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ward/node.h"
#include "ward/wire.h"

static void write_stats(agent *a, ward_jw *w) {
    char ts[32];
    uint64_t now = agent_now_ms();
    ward_alert_time(ts, now);
    ward_jw_obj(w);
    ward_jw_kcstr(w, "@timestamp", ts);
    ward_jw_kcstr(w, "agent", a->cfg.agent.name);
    ward_jw_kcstr(w, "version", AGENT_VERSION);
    ward_jw_ku64(w, "uptime_s", (now - a->started_ms) / 1000);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        ward_jw_ku64(w, "peak_rss_kib", (uint64_t)ru.ru_maxrss);
        ward_jw_ku64(w, "cpu_ms",
                     (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000u +
                         (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000u);
    }
    ward_jw_ku64(w, "alerts", a->st.alerts);
    ward_jw_ku64(w, "threshold_alerts", a->st.threshold_alerts);
    ward_jw_ku64(w, "shadow_hits", a->st.shadow_hits);
    ward_jw_ku64(w, "suppressed", a->st.suppressed);
    ward_jw_ku64(w, "commits", a->st.commits);
    ward_jw_ku64(w, "bookmark_writes", a->st.bookmark_writes);
    ward_jw_ku64(w, "bookmark_errors", a->st.bookmark_errors);
    ward_jw_ku64(w, "reloads", a->st.reloads);
    ward_jw_ku64(w, "reload_failures", a->st.reload_failures);
    ward_jw_ku64(w, "hits_over_limit", a->st.hits_over);
    ward_jw_ku64(w, "decode_out_of_memory", a->st.decode_oom);
    ward_jw_ku64(w, "fields_dropped", a->st.fields_dropped);
    ward_jw_ku64(w, "records_fields_dropped", a->st.records_fields_dropped);

    ward_jw_key(w, "output");
    ward_jw_obj(w);
    ward_jw_ku64(w, "bytes", a->out.bytes);
    ward_jw_ku64(w, "fsyncs", a->out.fsyncs);
    ward_jw_ku64(w, "errors", a->out.errors);
    ward_jw_ku64(w, "buffered_bytes", a->out.buf.len);
    ward_jw_obj_end(w);

    agent_spool_stats(a, w);

    ward_corr_stats cs;
    ward_corr_get_stats(a->corr, &cs);
    ward_jw_key(w, "correlation");
    ward_jw_obj(w);
    ward_jw_ku64(w, "groups", cs.groups);
    ward_jw_ku64(w, "bytes", cs.bytes);
    ward_jw_ku64(w, "evictions", cs.evictions);
    ward_jw_ku64(w, "expired", cs.expired);
    ward_jw_ku64(w, "fired", cs.fired);
    ward_jw_ku64(w, "failures", cs.failures);
    ward_jw_obj_end(w);

    if (a->ship) {
        const agent_ship_stats *ss = agent_ship_get_stats(a->ship);
        ward_jw_key(w, "collector");
        ward_jw_obj(w);
        ward_jw_kcstr(w, "address", a->cfg.collector.address);
        ward_jw_key(w, "connected");
        ward_jw_bool(w, ss->connected);
        ward_jw_ku64(w, "connects", ss->connects);
        ward_jw_ku64(w, "reconnects", ss->reconnects);
        ward_jw_ku64(w, "failures", ss->failures);
        ward_jw_ku64(w, "batches_sent", ss->batches_sent);
        ward_jw_ku64(w, "records_sent", ss->records_sent);
        ward_jw_ku64(w, "batches_acked", ss->batches_acked);
        ward_jw_ku64(w, "records_acked", ss->records_acked);
        ward_jw_ku64(w, "bytes_sent", ss->bytes_sent);
        ward_jw_ku64(w, "gaps", ss->gaps);
        ward_jw_ku64(w, "epochs_started", ss->epochs);
        ward_jw_key(w, "errors");
        ward_jw_obj(w);
        for (int i = 0; i < AGENT_SHIP_MAX_CODE; i++)
            if (ss->errors_by_code[i])
                ward_jw_ku64(w, i ? ward_wire_err_name(i) : "other", ss->errors_by_code[i]);
        ward_jw_obj_end(w);
        if (ss->last_error[0]) {
            char t[32];
            ward_alert_time(t, ss->last_error_ms);
            ward_jw_kcstr(w, "last_error", ss->last_error);
            ward_jw_kcstr(w, "last_error_at", t);
        }
        ward_jw_ku64(w, "feeds_loaded", ss->feeds_loaded);
        ward_jw_ku64(w, "feeds_rejected", ss->feeds_rejected);
        ward_jw_obj_end(w);
    }
    ward_jw_key(w, "feed");
    ward_jw_obj(w);
    ward_jw_ku64(w, "version", a->ind.feed.version);
    ward_jw_ku64(w, "entries", a->ind.feed.n);
    ward_jw_ku64(w, "alerts", a->ind.reported);
    ward_jw_ku64(w, "suppressed", a->ind.suppressed);
    ward_jw_ku64(w, "expired", a->ind.expired);
    ward_jw_ku64(w, "inside_longer_tokens", a->ind.partial);
    ward_jw_ku64(w, "skipped_entries", a->ind.skipped);
    ward_jw_obj_end(w);
    ward_jw_key(w, "privacy");
    ward_jw_obj(w);
    ward_jw_ku64(w, "dropped_values", a->privacy.dropped);
    ward_jw_ku64(w, "pseudonymised_values", a->privacy.pseudonymised);
    ward_jw_obj_end(w);

    ward_jw_key(w, "sources");
    ward_jw_arr(w);
    for (size_t i = 0; i < a->nsrcs; i++) {
        src *s = a->srcs[i];
        ward_jw_obj(w);
        ward_jw_kcstr(w, "name", s->name);
        ward_jw_kcstr(w, "type", s->ops->type);
        ward_jw_ku64(w, "records", s->n.records);
        ward_jw_ku64(w, "bytes", s->n.bytes);
        ward_jw_ku64(w, "truncated", s->n.truncated);
        ward_jw_ku64(w, "errors", s->n.errors);
        ward_jw_key(w, "dropped");
        ward_jw_obj(w);
        ward_jw_ku64(w, "rate", s->n.drop_rate);
        ward_jw_ku64(w, "connections", s->n.drop_conn);
        ward_jw_ku64(w, "backlog", s->n.drop_backlog);
        ward_jw_ku64(w, "other", s->n.dropped);
        ward_jw_obj_end(w);
        if (s->ops->stats)
            s->ops->stats(s, w);
        ward_jw_obj_end(w);
    }
    ward_jw_arr_end(w);

    /* per rule: only the rules that did something, to keep the file small */
    ward_jw_key(w, "rules");
    ward_jw_obj(w);
    const ward_rule_stats *rs = ward_scratch_stats(a->scratch);
    for (size_t i = 0; i < ward_engine_rule_count(a->engine); i++) {
        if (!rs[i].candidates && !rs[i].matches && !rs[i].limit_hits)
            continue;
        ward_jw_key(w, ward_engine_rule(a->engine, i)->id);
        ward_jw_obj(w);
        ward_jw_ku64(w, "candidates", rs[i].candidates);
        ward_jw_ku64(w, "matches", rs[i].matches);
        ward_jw_ku64(w, "limit_hits", rs[i].limit_hits);
        ward_jw_obj_end(w);
    }
    ward_jw_obj_end(w);
    ward_jw_obj_end(w);
}

int agent_write_stats(agent *a) {
    char path[4096];
    if (a->cfg.stats.file)
        snprintf(path, sizeof(path), "%s", a->cfg.stats.file);
    else
        snprintf(path, sizeof(path), "%s/stats.json", a->cfg.agent.state_dir);
    ward_buf b;
    ward_buf_init(&b);
    ward_jw w;
    ward_jw_init(&w, &b);
    write_stats(a, &w);
    ward_buf_putc(&b, '\n');
    char err[4400];
    int rc = -1;
    if (b.oom)
        snprintf(err, sizeof(err), "cannot write %s: out of memory", path);
    else
        rc = ward_file_replace(path, b.p, b.len, err, sizeof(err));
    if (rc < 0)
        agent_log(a, "error", "stats: %s", err);
    ward_buf_fini(&b);
    return rc;
}

void agent_log_stats(agent *a) {
    uint64_t records = 0, bytes = 0, truncated = 0, dropped = 0;
    for (size_t i = 0; i < a->nsrcs; i++) {
        records += a->srcs[i]->n.records;
        bytes += a->srcs[i]->n.bytes;
        truncated += a->srcs[i]->n.truncated;
        dropped += a->srcs[i]->n.dropped + a->srcs[i]->n.drop_rate + a->srcs[i]->n.drop_conn +
                   a->srcs[i]->n.drop_backlog + a->srcs[i]->n.drop_kernel;
    }
    ward_corr_stats cs;
    ward_corr_get_stats(a->corr, &cs);
    agent_log(a, "info",
              "stats: %llu records, %llu bytes, %llu alerts, %llu truncated, %llu dropped, "
              "%llu correlation evictions, %llu output errors",
              (unsigned long long)records, (unsigned long long)bytes,
              (unsigned long long)a->st.alerts, (unsigned long long)truncated,
              (unsigned long long)dropped, (unsigned long long)cs.evictions,
              (unsigned long long)a->out.errors);
    if (a->ship) {
        const agent_ship_stats *ss = agent_ship_get_stats(a->ship);
        agent_log(a, "info",
                  "stats: collector %s: %s; %llu alerts sent, %llu acknowledged, %llu "
                  "reconnects; feed version %llu, %zu indicators, %llu regional alerts%s%s",
                  a->cfg.collector.address, ss->connected ? "connected" : "not connected",
                  (unsigned long long)ss->records_sent, (unsigned long long)ss->records_acked,
                  (unsigned long long)ss->reconnects, (unsigned long long)a->ind.feed.version,
                  a->ind.feed.n, (unsigned long long)a->ind.reported,
                  ss->last_error[0] ? "; last error: " : "", ss->last_error);
    }
}
