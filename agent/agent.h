/* ward-agent: the parts of the agent and how they talk to each other.
 *
 * One thread, one event loop. Sources (files, the journal, a syslog receiver) read
 * records and hand each to agent_process, which runs the whole pipeline synchronously:
 * decode, match, extract, correlate, alert, output. Nothing is queued, so nothing can
 * be dropped between stages. A source remembers, per record, the position after it
 * ("processed"); when the outputs have made every alert so far durable (group commit),
 * the agent tells every source (src_ops.durable), which promotes processed positions to
 * durable ones, and then writes the bookmark file with them. After a crash, reading
 * resumes at the durable positions: records after them are read again and their alerts
 * get the same ids. */
#ifndef WARD_AGENT_H
#define WARD_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <stdio.h>

#include "ward/alert.h"
#include "ward/correlate.h"
#include "ward/decode.h"
#include "ward/engine.h"
#include "ward/json.h"
#include "ward/loop.h"
#include "ward/spool.h"

#include "agent_config.h"
#include "indicators.h"
#include "privacy.h"

#define AGENT_VERSION "0.1.0"

typedef struct agent agent;
typedef struct src src;
typedef struct bm_store bm_store;
typedef struct agent_ship agent_ship;

/* One record read by a source, borrowed for the duration of agent_process. */
typedef struct agent_rec {
    const uint8_t *line; /* the record's bytes, without the newline */
    size_t len;
    int truncated;        /* cut at max_line: the rest of the line was skipped, counted */
    int decoder;          /* ward_decoder to decode it with */
    const char *key;      /* identity of where it was read, for alert ids ("file:DEV:INO:HASH") */
    uint64_t pos;         /* its position there (file: offset of its first byte) */
    ward_alert_src where; /* how alerts describe the origin */
    /* fields to add to the decoded event (journal fields, the syslog sender), borrowed */
    const ward_field *extra;
    size_t nextra;
    uint64_t time_ms; /* when it happened, if the source knows (journal), else 0 */
} agent_rec;

/* What every source implements. Every callback may be NULL except start and free. */
typedef struct src_ops {
    const char *type; /* "file", "journal", "syslog" */
    /* Opens what the source reads, loads its bookmarks from bm, registers descriptors
     * and timers with a->loop. Returns 0 or -1 (logged). */
    int (*start)(src *s, const bm_store *bm);
    /* Reads everything that can be read now (for --once and at shutdown). Returns the
     * number of records it produced, or -1. */
    long (*drain)(src *s);
    /* Every record processed so far has its alerts durable: promote positions. */
    void (*durable)(src *s);
    /* Writes the durable positions into bm (called after durable). */
    void (*save)(src *s, bm_store *bm);
    /* Adds this source's counters to the stats object being written. */
    void (*stats)(src *s, ward_jw *w);
    /* Unregisters, closes, frees. */
    void (*free)(src *s);
    /* The agent is stopping (or restarting the source): hand over what is held that can
     * never be read again (a syslog connection's last, unfinished message), before the
     * final commit. */
    void (*stop)(src *s);
} src_ops;

/* Counters common to every source. */
typedef struct src_counters {
    uint64_t records, bytes;
    uint64_t truncated; /* records cut at max_line */
    uint64_t dropped;   /* records not processed for lack of memory ("other") */
    uint64_t drop_rate, drop_conn, drop_backlog; /* not processed by design (limits), by cause */
    uint64_t drop_kernel;                        /* never received: dropped by the kernel (UDP) */
    uint64_t errors;                             /* read errors */
} src_counters;

struct src {
    const src_ops *ops;
    agent *a;
    const agent_source_cfg *cfg; /* valid until the next reload */
    char *name;                  /* owned */
    src_counters n;
    void *impl; /* the implementation's state */
};

/* Output: a JSON-lines file (group-committed with fsync) and/or stdout. */
typedef struct output {
    char *path; /* NULL: no file */
    int fd;
    int to_stdout;
    ward_buf buf;       /* alerts not yet written everywhere */
    size_t file_done;   /* bytes of buf already in the file */
    size_t stdout_done; /* bytes of buf already on stdout */
    int unsynced;       /* written to the file since the last fsync */
    off_t hinted;       /* the file up to here is being written back (or was synced) */
    uint64_t bytes, fsyncs, errors;
    int failing;   /* a write failed: kept in memory, retried */
    int sync_lost; /* errno of a failed fsync: nothing since can be made durable */
    int failing_logged;
} output;

/* The ids of the alerts the spool held at start (resend.c). */
typedef struct agent_resend {
    struct agent_resend_slot {
        uint8_t id[16];
        int used;
    } * v;
    size_t n, cap;
    uint64_t skipped; /* alerts not spooled again */
} agent_resend;

typedef struct agent_stats {
    uint64_t alerts, shadow_hits, threshold_alerts, suppressed;
    uint64_t commits, bookmark_writes, bookmark_errors;
    uint64_t reloads, reload_failures;
    uint64_t decode_oom;
    uint64_t fields_dropped;         /* fields past the event's 128, counted not stored */
    uint64_t records_fields_dropped; /* records that had some */
    uint64_t hits_over;              /* rules past MAX_HITS matching one record */
} agent_stats;

#define AGENT_MAX_EXTRA 32 /* fields a source may add to a record */

/* The longest alert the spool takes (an alert is at most a few times limits.max_line);
 * fixed, not configured, because recovery cuts records longer than this: the agent and
 * `ward-agent spool-dump` must agree on it. */
#define AGENT_SPOOL_MAX_RECORD ((size_t)256 << 20)

/* The agent's side of the spool (spool.c). */
typedef struct agent_spool {
    char *dir;     /* owned */
    int when_full; /* as opened (a reload does not reopen the spool) */
    uint64_t sync_interval_ms;
    uint64_t reserve; /* sources are held when less than this is free (block) */
    /* alerts the spool could not take yet (the cap, a failing disk), in order: each a
     * u32 length (host order) and the bytes; bookmarks wait while any is here */
    ward_buf pending;
    size_t npending;
    /* the record being processed can be read again (file, journal): an alert the spool
     * cannot take makes the record wait, rather than the alert wait in memory */
    int can_wait;
    uint64_t dropped;                     /* when_full: drop: alerts dropped, in all */
    uint64_t unreported;                  /* dropped since the last ward.spool.dropped alert */
    uint64_t drop_first_ms, drop_last_ms; /* of the unreported ones */
    uint64_t held;                        /* times the cap began to hold the sources back */
    int holding;
    uint64_t oversize;    /* alerts over AGENT_SPOOL_MAX_RECORD (or max_size): dropped */
    uint64_t errors;      /* appends that failed for another reason (kept, retried) */
    uint64_t drop_alerts; /* ward.spool.dropped alerts spooled */
    ward_buf report;      /* those, for the alerts file at the next commit */
    /* the unreported drops are kept in this file (state_dir/spool-dropped) so that a
     * restart does not forget to report them; saved is the count it holds */
    char *drop_path;
    uint64_t saved;
    /* alerts still in memory when the agent stops (syslog's, the spool full) are kept in
     * state_dir/spool-pending and taken back at the next start; loaded: that file is
     * removed once they are in the spool and synced */
    char *pending_path;
    int pending_loaded;
    int error_logged;
} agent_spool;

/* A syslog socket on a port below 1024, bound before the agent left root (or gave up
 * CAP_NET_BIND_SERVICE); the source listening there uses a copy, so that a reload that
 * keeps the port can listen there again. */
typedef struct agent_prebound {
    char *listen; /* the listen value, as configured */
    int fd, tcp;
} agent_prebound;

struct agent {
    ward_loop *loop;
    agent_cfg cfg;
    char *cfg_path;
    ward_engine *engine;
    ward_scratch *scratch;
    ward_corr *corr;
    src **srcs;
    size_t nsrcs;
    output out;
    ward_spool *spool; /* NULL unless spool.enabled; shipped from with ward_spool_read/ack */
    agent_spool sp;
    bm_store *bm;
    char *bm_path;
    int first_run; /* no bookmark file existed at start */
    ward_event ev;
    ward_buf scanbuf; /* line + extra fields, for the prefilter */
    /* event times: the last local minute converted (its UTC offset) and the last year
     * "now" was in, so that a burst of lines does not call mktime for each */
    struct {
        int valid;
        long long minute; /* the local wall-clock minute, counted as if it were UTC */
        long offset;
        long long now_s;
        int now_year;
    } tcache;
    /* the alerts' parts that depend only on the rule (per rule of the engine, made on
     * first use) or only on the agent */
    ward_buf *rule_json;
    size_t nrule_json;
    ward_buf agent_json;
    size_t extra_off[AGENT_MAX_EXTRA];
    agent_stats st;
    char host[256];
    ward_loop_timer commit_timer, stats_timer, expire_timer;
    int dirty;        /* records processed since the last commit */
    int commit_armed; /* the commit timer is running */
    uint64_t bm_due;  /* when the bookmarks are next written (0: nothing new) */
    uint64_t started_ms;
    FILE *log;             /* where the agent's own messages go (stderr) */
    agent_ship *ship;      /* NULL: no collector */
    agent_ind ind;         /* the regional indicators loaded */
    agent_privacy privacy; /* the policy of what is spooled */
    ward_buf spoolbuf;     /* one alert as it is spooled */
    agent_resend resend;   /* alerts spooled before a crash */
    uint64_t commit_seq;   /* the spool's durable seq at the last commit */
    uint64_t bm_seq;       /* the commit_seq the bookmarks written cover */
    agent_prebound *prebound;
    size_t nprebound;
};

/* ---- agent.c ---- */

/* Loads the configuration at path (every error to err). Returns 0 or -1; cfg must be
 * freed with ward_cfg_free in both cases. */
int agent_load_config(const char *path, agent_cfg *cfg, FILE *err);
/* Loads and compiles the rules the configuration names; every error goes to err and is
 * counted in *nerr. Returns the engine or NULL. */
ward_engine *agent_load_rules(const agent_cfg *cfg, FILE *err, size_t *nerr);
/* agent_init's flags */
#define AGENT_ONCE 1       /* --once */
#define AGENT_ALLOW_ROOT 2 /* --insecure-run-as-root: started as root, stay root */

/* Sets the agent up and starts its sources: as root, becomes agent.user once the
 * configuration is loaded; confined (confine.c) once every source is open. flags:
 * AGENT_ONCE, AGENT_ALLOW_ROOT. Returns 0 or -1 (logged). */
int agent_init(agent *a, const char *cfg_path, int flags, FILE *log);
/* Reads what every source has now, commits and writes bookmarks. Returns 0 or -1. */
int agent_drain(agent *a);
/* Calls every source's stop (before the last commit). */
void agent_stop_sources(agent *a);
/* SIGHUP: new configuration and rules, or the old ones when the new ones are broken. */
void agent_reload(agent *a);
/* After a record: the group commit and the next bookmark write are scheduled. */
void agent_touch(agent *a);
void agent_fini(agent *a);

/* ---- confine.c ---- */

/* Started as root: becomes agent.user (unless allow_root); otherwise checks that no
 * capability is held. Returns 0 or -1 (logged). */
int agent_drop_user(agent *a, int allow_root);
/* no_new_privs, seccomp, and Landlock over the paths the configuration names (unless
 * agent.sandbox is false). Returns 0 or -1 (logged). */
int agent_confine(agent *a);

/* ---- source_syslog.c ---- */

/* Binds the syslog sources' ports below 1024 (before agent_drop_user). Returns 0 or -1
 * (logged). */
int agent_syslog_prebind(agent *a);
/* Closes the sockets bound at start that no syslog source of the configuration listens
 * on any more (all: every one). */
void agent_syslog_prune(agent *a, int all);

/* ---- stats.c ---- */

/* Writes every counter as JSON to the stats file (atomically). Returns 0 or -1. */
int agent_write_stats(agent *a);
/* Logs a one-line summary of the counters. */
void agent_log_stats(agent *a);

/* ---- pipeline.c ---- */

/* Runs r through decode, match, correlate and alert. Returns 0, or -1 when an alert could
 * not be buffered for lack of memory (the caller keeps its position: nothing is lost). */
int agent_process(agent *a, src *s, const agent_rec *r);

/* Makes every alert so far durable (spool fsync, then write + fsync of the file), then
 * tells the sources, whose bookmarks may then move. Returns 0; 1 when alerts wait in
 * memory for room in a full spool (bookmarks stay where they were; not an error); or -1
 * when the outputs could not be made durable (the bookmarks then stay too). */
int agent_commit(agent *a);

/* Writes the bookmark file with every source's durable positions. Returns 0 or -1. */
int agent_save_bookmarks(agent *a);

/* 1 when the alerts not yet written have reached limits.output_buffer (the output is
 * failing, e.g. a full disk), or the spool is full (spool.when_full: block; see
 * agent_spool_held): sources stop reading until they are written. The records
 * wait in their files, journals and TCP senders; UDP syslog, which cannot wait, is
 * dropped and counted. */
int agent_backlogged(agent *a);

/* Drops the alert parts made for the rules (after a reload: new rules). */
void agent_forget_alert_parts(agent *a);

/* Messages about the agent itself (start, reload, errors): one line each. */
void agent_log(agent *a, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Milliseconds since the epoch (wall clock). */
uint64_t agent_now_ms(void);

/* How often the group commit runs: the file output's fsync_interval, or the spool's
 * sync_interval when that is shorter. */
uint64_t agent_commit_interval(const agent *a);

/* ---- spool.c ---- */

/* Opens the spool when spool.enabled (logging what recovery found). Returns 0 or -1
 * (logged). */
int agent_spool_open(agent *a);
void agent_spool_close(agent *a);

/* Spools one alert (its JSON, no newline; borrowed). Every alert goes through here, so
 * that a policy (data minimisation) can be put in front of the spool. When the spool
 * cannot take it (full with when_full: block, or a failing disk): a record that can be
 * read again (a->sp.can_wait: files, the journal) waits, -1, and is processed again later
 * (its earlier alerts are then spooled twice, with the same ids); one that cannot
 * (syslog) has the alert wait in memory, and the bookmarks wait for it. With when_full:
 * drop, an alert that does not fit is dropped and counted. Returns 0, or -1: the caller
 * keeps its position (nothing is lost). */
int agent_spool_alert(agent *a, const uint8_t *json, size_t len);

/* The spool's part of the group commit: what waits in memory goes in while there is
 * room, then fsync. Returns 0 when every alert so far is durable in the spool, 1 when
 * some still wait for room (bookmarks wait), -1 when the fsync failed (logged; the agent
 * stops). */
int agent_spool_commit(agent *a);

/* 1 when the spool holds the sources back (when_full: block and less than a reserve
 * free, or alerts waiting in memory). Counts and logs when holding begins and ends. */
int agent_spool_held(agent *a);

/* Adds the spool's counters to the stats object being written. */
void agent_spool_stats(agent *a, ward_jw *w);

/* `ward-agent spool-dump [--from SEQ] DIR` and `ward-agent spool-ack DIR SEQ`. Returns
 * the exit status. */
int agent_spool_tool(int argc, char **argv);

/* ---- output.c ---- */

int output_open(output *o, const agent_cfg *cfg, FILE *log);
/* Writes what is buffered; with sync, also fsyncs the file. Returns 0 or -1. */
int output_flush(output *o, int sync);
/* Reopens the file (after external rotation). Returns 0 or -1. */
int output_reopen(output *o, FILE *log);
void output_close(output *o);

/* ---- resend.c: spooled once across crashes ---- */

void agent_resend_init(agent_resend *r);
void agent_resend_fini(agent_resend *r);
int agent_resend_add(agent_resend *r, const uint8_t id[16]);
/* 1 when id was spooled before (alerts of records read again after a crash). */
int agent_resend_seen(const agent_resend *r, const uint8_t id[16]);
/* The 16 bytes of an alert's id from its JSON (lib/alert.c's layout). Returns 0 or -1. */
int agent_resend_id_of(const uint8_t *p, size_t len, uint8_t id[16]);
/* Loads the ids of the alerts in the spool (at start; agent.c). Returns 0 or -1 (logged). */
int agent_resend_load(agent *a);

/* ---- ship.c: the shipper ---- */

#define AGENT_SHIP_MAX_CODE 16 /* ERROR codes counted one by one; others under 0 */

typedef struct agent_ship_stats {
    int connected;
    uint64_t connected_since_ms;
    uint64_t attempts, connects, reconnects, failures;
    uint64_t batches_sent, records_sent, batches_acked, records_acked, bytes_sent;
    uint64_t gaps;   /* gaps the epoch could not close (records the collector or the
                      * spool lost): each starts a new epoch */
    uint64_t epochs; /* new epochs started for them */
    uint64_t errors_by_code[AGENT_SHIP_MAX_CODE];
    uint64_t feeds_loaded, feeds_rejected;
    char last_error[640];
    uint64_t last_error_ms;
} agent_ship_stats;

/* Sets up the shipper for a->cfg.collector (a->spool must be open): loads the agent's
 * key (refused when readable by group or others), the feed key, the CA, and the feed
 * kept from the last run. Returns it (the agent owns it; agent_ship_free) or NULL
 * (logged). */
agent_ship *agent_ship_new(agent *a);
/* Connects (without blocking; in the loop). */
void agent_ship_start(agent_ship *s);
/* Records became durable in the spool: send what the window allows. */
void agent_ship_kick(agent *a);
const agent_ship_stats *agent_ship_get_stats(const agent_ship *s);
void agent_ship_free(agent_ship *s); /* NULL: no-op */

/* ---- keygen.c ---- */

/* ward-agent keygen: makes the agent's key pair (privacy: the pseudonyms' secret
 * instead) where the configuration at cfg_path says, never overwriting, and prints
 * where it is and how to enrol it to out. Returns 0 or -1 (message to err). */
int agent_keygen(const char *cfg_path, int privacy, FILE *out, FILE *err);
/* The private key's path (collector.key or STATE_DIR/agent.key) and the public key's
 * next to it (.key replaced by .pub), n bytes each. */
void agent_key_paths(const agent_cfg *c, char *priv, char *pub, size_t n);

/* ---- bookmark.c: one file holds the positions of every source ---- */

typedef struct bm_entry {
    char *source; /* source name */
    char *kind;   /* "file", "journal" */
    char *key;    /* file: "DEV:INO"; journal: "cursor" */
    char *path;   /* file: last known path */
    uint64_t offset;
    uint64_t head_len; /* file: bytes hashed for the head hash */
    uint64_t head_hash;
    uint64_t id_hash; /* file: the head hash when the file was first seen: part of alert
                       * ids, so that they stay the same when the head grows */
    char *cursor;     /* journal */
} bm_entry;

struct bm_store {
    bm_entry *v;
    size_t n, cap;
};

void bm_init(bm_store *b);
void bm_fini(bm_store *b);
/* Loads path into b. A missing file is not an error (*existed = 0). A damaged file is
 * an error naming path and line; b is then empty. Returns 0 or -1 (message in err). */
int bm_load(bm_store *b, const char *path, int *existed, char *err, size_t errlen);
/* A file record's key, "DEV:INO" in decimal, range-checked. Returns 0 or -1. */
int bm_parse_devino(const char *key, uint64_t *dev, uint64_t *ino);
/* Writes b to path atomically: temporary file, fsync, rename, fsync of the directory.
 * Returns 0 or -1 (message in err). */
int bm_save(const bm_store *b, const char *path, char *err, size_t errlen);
/* Adds a copy of e. Returns 0 or -1. */
int bm_put(bm_store *b, const bm_entry *e);
/* The entries of source name (in order), one by one: *it starts at 0. */
const bm_entry *bm_next(const bm_store *b, const char *source, size_t *it);
void bm_clear(bm_store *b);

/* ---- sources ---- */

src *src_file_new(agent *a, const agent_source_cfg *cfg);
src *src_journal_new(agent *a, const agent_source_cfg *cfg);
src *src_syslog_new(agent *a, const agent_source_cfg *cfg);

#endif
