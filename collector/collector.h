/* ward-collector: the parts of the collector and how they talk to each other.
 *
 * One thread, one event loop (ward_loop). The listener accepts TLS connections from
 * agents; each connection reads frames into its own buffer and answers them in order
 * (docs/wire.md). A batch is checked (version, key, signature, bounded inflate, the
 * records), read for the few fields the store indexes and the indicators correlation
 * tracks, and stored in one transaction before it is acknowledged. A timer runs the
 * regional correlation and pushes a changed feed to every agent that asked for it. */
#ifndef WARD_COLLECTOR_H
#define WARD_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "store.h"
#include "ward/crypto.h"
#include "ward/feed.h"
#include "ward/json.h"
#include "ward/loop.h"
#include "ward/tls.h"

#define COLLECTOR_VERSION "0.1.0"
/* BATCH frames of one agent answered together (one transaction, one fsync) at most */
#define COLL_GROUP 16
/* a group commit commits as soon as its alerts add up to this many bytes */
#define COLL_GROUP_BYTES (4u << 20)
/* bytes read from one connection before what was read is answered, at most */
#define COLL_READ_BURST (1u << 20)

typedef struct conn conn;

/* What the collector reads out of an alert's JSON: strings as offsets into the caller's
 * arena (COLL_NONE: absent), copied there unescaped and NUL-terminated. */
#define COLL_NONE ((size_t)-1)
#define COLL_MAX_IND COLL_MAX_IND_FIELDS
typedef struct coll_fields {
    size_t rule, alert_id;
    int level;                /* 1 informational .. 5 critical; 0 none */
    int64_t time_ms;          /* @timestamp; 0 when absent or unreadable */
    size_t ind[COLL_MAX_IND]; /* the value of indicator field i, or COLL_NONE */
} coll_fields;

/* A growable byte arena (offsets stay valid as it grows). */
typedef struct coll_arena {
    char *p;
    size_t len, cap;
} coll_arena;

/* Every counter of the daemon, in the stats file and in `ward-collector stats`. */
typedef struct coll_stats {
    uint64_t accepted, closed, refused_connections, tls_failures, idle_closed, accept_errors;
    uint64_t hellos, batches, groups, commits, alerts_stored, alerts_replayed, replays;
    uint64_t sightings, sightings_allowed, sightings_dropped;
    uint64_t feeds_sent, feed_version, correlations, correlation_errors;
    uint64_t retention_runs, retention_deleted, retention_errors;
    uint64_t bytes_in, bytes_out;
    uint64_t rejected[10]; /* by enum ward_wire_err (0: other) */
    uint64_t reloads, reload_failures;
} coll_stats;

typedef struct collector {
    ward_loop *loop;
    coll_cfg cfg;
    char *cfg_path;
    store st;
    int store_open;
    ward_tls_ctx *tls;
    ward_key *feed_key; /* the collector's private key: signs the feed */
    int lfd;            /* the listener */
    int accept_paused;  /* out of descriptors: the listener is not watched for a moment */
    ward_loop_timer accept_timer;
    conn **conns; /* every open connection */
    size_t nconns, capconns;
    ward_buf feed_doc; /* the current signed feed document */
    uint64_t feed_version;
    int corr_due; /* sightings stored since the last correlation */
    uint64_t last_corr_ms;
    ward_loop_timer corr_timer, retention_timer, stats_timer, stats_write_timer, idle_timer;
    int stats_dirty;
    int started; /* coll_init succeeded: the stats file is written at exit */
    coll_stats n;
    uint64_t started_ms;
    FILE *log;
    /* group commit (server.c): the connections whose batches wait for the commit */
    int group_open;
    size_t group_bytes; /* of the alerts of the open group */
    conn **gconns;
    size_t ngconns, capgconns;
    uint64_t group_saved[8]; /* counters as they were when the group began */
    /* per batch scratch, kept between batches */
    ward_buf inflated[COLL_GROUP];
    struct ward_wire_rec *recs;
    size_t caprecs;
    store_alert *alerts;
    size_t capalerts;
    store_sighting *sights;
    size_t capsights;
    coll_arena arena;
    coll_fields *fields;
    size_t capfields;
} collector;

/* ---- collector.c ---- */

/* Writes "ward-collector: LEVEL: message" to c->log (stderr when c is NULL). */
void coll_log(collector *c, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Wall clock in Unix milliseconds. */
int64_t coll_now_ms(void);

/* Opens the configured store (cfg: a loaded configuration). Returns 0 or -1 with err. */
int coll_store_open(const coll_cfg *cfg, store *s, char *err, size_t errlen);

/* Makes the state directory, the feed-signing key (when missing: STATE_DIR/feed.key, and
 * feed.pub for agents) and the demo CA (when tls.cert is unset). Returns 0 or -1 (logged). */
int coll_prepare_state(collector *c);

/* The daemon: loads the configuration, becomes collector.user when started as root
 * (unless allow_root), opens the store and the listener, then confines itself
 * (confine.c). Returns 0 or -1 (logged); coll_fini in both cases. */
int coll_init(collector *c, const char *cfg_path, int allow_root, FILE *log);
void coll_fini(collector *c);

/* Runs the regional correlation and, when the feed changed, signs it and pushes it. */
void coll_correlate(collector *c);

/* Counts a change for the stats file (written within a second). */
void coll_touch(collector *c);
int coll_write_stats(collector *c);

/* ---- confine.c ---- */

/* Started as root: becomes cfg's collector.user (unless allow_root); otherwise checks
 * that no capability is held. Returns 1 when it changed user, 0, or -1 (said on log). */
int coll_drop_user(const coll_cfg *cfg, int allow_root, FILE *log);
/* no_new_privs, seccomp, Landlock (unless collector.sandbox is false). 0 or -1 (logged). */
int coll_confine(collector *c);

/* ---- server.c ---- */

/* Opens the listener on cfg.collector.listen. Returns 0 or -1 (logged). */
int coll_listen(collector *c);

/* Closes every connection and the listener. */
void coll_server_close(collector *c);

/* Sends the current feed to every connection that asked for one and has an older one. */
void coll_push_feed(collector *c);

/* Commits the open group of batches (when there is one) and lets their ACKs go; when the
 * commit fails, each connection of the group is refused (store error: the agents send
 * again) and nothing is acknowledged. */
void coll_group_commit(collector *c);

/* Closes connections idle for longer than limits.idle_timeout. */
void coll_expire_idle(collector *c);

/* ---- extract.c ---- */

/* Reads one alert (len bytes of JSON, not NUL-terminated): the rule id, level, time, id
 * and the values of the n (at most COLL_MAX_IND) indicator fields. Returns 0, or -1 with
 * err saying where the JSON is bad (or that memory ran out). */
int coll_extract(const uint8_t *json, size_t len, char *const *fields, size_t n, coll_arena *a,
                 coll_fields *out, char *err, size_t errlen);

/* A level by name ("low" -> 2), 0 when unknown. */
int coll_level_parse(const char *s);
const char *coll_level_name(int level);

/* RFC 3339 / ISO 8601 ("2026-12-01T15:05:13.348Z", "2026-12-01", "...+01:00") into Unix
 * milliseconds. Returns 0 or -1. */
int coll_parse_time(const char *s, size_t len, int64_t *ms);

#endif
