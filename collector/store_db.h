/* What store_sqlite.c and store_pg.c share: the store's logic written once (store_db.c)
 * over a small SQL driver that each backend provides. Only the connection, the schema's
 * dialect and how parameters and columns travel differ, so both backends give the same
 * answers by construction. Internal to the collector. */
#ifndef WARD_COLLECTOR_STORE_DB_H
#define WARD_COLLECTOR_STORE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* A statement parameter. Text and blobs are borrowed for the call. */
enum { STORE_P_NULL, STORE_P_I64, STORE_P_TEXT, STORE_P_BLOB };
typedef struct store_param {
    int type;
    int64_t i;
    const void *p;
    size_t len;
} store_param;

typedef struct store_row store_row; /* one result row, valid during the row callback */

/* Called for each row: 0 continues, non-zero stops (exec then returns that value). */
typedef int (*store_row_fn)(void *ctx, store_row *r);

typedef struct store_db store_db;

typedef struct store_driver {
    /* The dialect: the SQL text of every statement below passes through here with
     * "%C" (after a text column in ORDER BY: byte order) and "%U" (after a SELECT that
     * reads a row it will update: lock it) expanded. */
    const char *collate_c, *for_update;
    const char *begin_sql;         /* starts a write transaction */
    const char *migrate_lock;      /* serialises migrations between processes, or NULL */
    const char *size_sql;          /* one row, one column: the database size in bytes */
    const char *const *migrations; /* scripts, migration i brings the schema to i + 1 */
    size_t nmigrations;
    /* Runs statement st (an index into the table of store_db.c), or sql when st < 0,
     * with the parameters; calls fn for each row; sets *changes (if not NULL) to the rows
     * written. Returns 0, -1 with err, or what fn returned to stop. */
    int (*exec)(store_db *db, int st, const char *sql, const store_param *pv, size_t pn,
                store_row_fn fn, void *ctx, int64_t *changes, char *err, size_t errlen);
    /* Optional: bulk(db, 1) lets the statements that follow, until bulk(db, 0), be sent
     * without waiting for each result (their rows and changes are not read); bulk(db, 0)
     * waits for them all and returns -1 with err when any failed. */
    int (*bulk)(store_db *db, int on, char *err, size_t errlen);
    /* Runs a script of statements without parameters. Returns 0 or -1 with err. */
    int (*script)(store_db *db, const char *sql, char *err, size_t errlen);
    /* Columns of the current row: NULL reads as 0, "" and an empty blob. */
    int64_t (*col_i64)(store_row *r, int col);
    const char *(*col_text)(store_row *r, int col);
    const uint8_t *(*col_blob)(store_row *r, int col, size_t *len);
    int (*col_null)(store_row *r, int col);
} store_driver;

/* The head of each backend's handle (s->impl points at it). */
struct store_db {
    const store_driver *drv;
    char label[160]; /* names the store in every message: "sqlite PATH", "postgresql ..." */
    int in_tx;
    int in_group;     /* group_begin: store_batch uses savepoints of the group's transaction */
    int group_broken; /* a batch of the open group failed: its commit rolls back */
};

/* The statements of the store (store_db.c has their SQL). */
enum {
    ST_AGENT_BY_NAME,
    ST_AGENT_BY_KEY,
    ST_AGENT_ORG,
    ST_AGENT_INSERT,
    ST_AGENT_REVOKE,
    ST_AGENTS_LIST,
    ST_ACKED,
    ST_PROGRESS_INIT,
    ST_PROGRESS_LOCK,
    ST_PROGRESS_SET,
    ST_ALERT_INSERT,
    ST_SIGHTING_INSERT,
    ST_COUNTER_LOCK,
    ST_COUNTER_GET,
    ST_COUNTER_BUMP,
    ST_PENDING_ADD,
    ST_PENDING_TAKE,
    ST_CANDIDATE_STATS,
    ST_CANDIDATE_RULES,
    ST_REGIONAL_GET,
    ST_REGIONAL_UPSERT,
    ST_REGIONAL_PURGE,
    ST_FEED,
    ST_STATS_ALERTS,
    ST_STATS_ORGS,
    ST_STATS_LEVELS,
    ST_STATS_AGENTS,
    ST_STATS_REGIONAL,
    ST_RETAIN_ALERTS,
    ST_RETAIN_SIGHTINGS,
    ST_RETAIN_REGIONAL,
    ST_RETAIN_PENDING,
    ST_COUNT
};

/* The SQL of statement st in the driver's dialect, written into out (NUL-terminated).
 * Returns 0 or -1 (too long). */
int store_db_sql(const store_driver *d, int st, char *out, size_t outlen);

/* Expands %C and %U of sql into out. Returns 0 or -1 (too long). */
int store_db_dialect(const store_driver *d, const char *sql, char *out, size_t outlen);

/* Brings the schema up to date: creates schema_version, refuses a schema newer than
 * the driver's migrations, applies the missing ones in order, each in a transaction.
 * Returns 0 or -1 with err. */
int store_db_migrate(store_db *db, int64_t now_ms, char *err, size_t errlen);

/* Formats "LABEL: message" into err. */
void store_db_err(const store_db *db, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The shared ops (store_ops fields of both backends). */
int store_db_enroll(store *s, const char *org, const char *name, const uint8_t *pub, int64_t now_ms,
                    char *err, size_t errlen);
int store_db_revoke(store *s, const char *name, int64_t now_ms, char *err, size_t errlen);
int store_db_agent_by_key(store *s, const uint8_t *pub, store_agent *out, char *err, size_t errlen);
int store_db_agents_list(store *s, int (*fn)(void *ctx, const store_agent *a), void *ctx, char *err,
                         size_t errlen);
int store_db_acked(store *s, int64_t agent, uint64_t epoch, uint64_t *acked, char *err,
                   size_t errlen);
int store_db_store_batch(store *s, int64_t agent, uint64_t epoch, const store_alert *v, size_t n,
                         const store_sighting *sg, size_t nsg, int64_t now_ms, uint64_t *acked,
                         size_t *stored, char *err, size_t errlen);
int store_db_group_begin(store *s, char *err, size_t errlen);
int store_db_group_commit(store *s, char *err, size_t errlen);
int store_db_query(store *s, const store_query *q, store_alert_fn fn, void *ctx, char *err,
                   size_t errlen);
int store_db_stats(store *s, ward_jw *w, char *err, size_t errlen);
int store_db_retention(store *s, int64_t before_ms, uint64_t *deleted, char *err, size_t errlen);
int store_db_correlate(store *s, int64_t since_ms, int64_t now_ms, unsigned k, int64_t ttl_ms,
                       char *err, size_t errlen);
int store_db_feed(store *s, int64_t now_ms, ward_feed *out, char *err, size_t errlen);

/* A backend's store_ops: its own name, open and close, whether it has group commit
 * (GROUP_BEGIN and GROUP_COMMIT: store_db_group_begin/_commit or NULL), the shared rest. */
#define STORE_DB_OPS(NAME, OPEN, CLOSE, GROUP_BEGIN, GROUP_COMMIT)                                 \
    {                                                                                              \
        .name = (NAME), .open = (OPEN), .close = (CLOSE), .group_begin = (GROUP_BEGIN),            \
        .group_commit = (GROUP_COMMIT), .enroll = store_db_enroll, .revoke = store_db_revoke,      \
        .agent_by_key = store_db_agent_by_key, .agents_list = store_db_agents_list,                \
        .acked = store_db_acked, .store_batch = store_db_store_batch, .query = store_db_query,     \
        .stats = store_db_stats, .retention = store_db_retention, .correlate = store_db_correlate, \
        .feed = store_db_feed,                                                                     \
    }

/* The wall clock in Unix milliseconds (when a migration was applied). */
int64_t store_db_now_ms(void);

/* "R-" and the first 16 hex digits of SHA-256("FIELD=VALUE"): the regional id, the same
 * wherever and whenever it is computed. Returns 0 or -1. */
int store_db_regional_id(const char *field, const char *value, char out[64]);

/* Adds rule to the comma-separated, byte-sorted set in rules (capacity cap, NUL
 * included). Returns 1 added, 0 already there, -1 no room (rules unchanged). */
int store_db_rules_add(char *rules, size_t cap, const char *rule);

#endif
