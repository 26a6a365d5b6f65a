/* The SQLite store (the default): one file, WAL, every statement of store_db.c prepared
 * once at open.
 *
 * synchronous=FULL: the collector acknowledges a batch once its transaction commits and
 * the agent then deletes those alerts from its spool, so a commit must survive a power
 * cut, not only a crash of the collector (which NORMAL would already survive). In WAL
 * mode FULL costs one fsync of the WAL per commit, i.e. per batch, not per alert.
 * busy_timeout: another process on the same file (a `ward-collector query` while the
 * daemon writes) waits up to 5 s instead of failing at once; writers take the lock at
 * BEGIN IMMEDIATE so that a reader never has to upgrade (which could deadlock). */
#include "store_db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#define BUSY_TIMEOUT_MS 5000

/* Speed without touching durability (docs/store.md): a page cache that holds the
 * indexes' hot pages (64 MiB instead of 2), the file read through a memory map instead
 * of a pread and a copy per page, and a checkpoint every 16 MiB of WAL instead of every
 * 4 MiB (each checkpoint copies the pages and fsyncs the database file). Temporary
 * storage (the statement journals of a group commit's savepoints) stays in memory: the
 * sandbox lets the collector write its state_dir only, not /tmp or /var/tmp. */
#define SQ_TUNING                                                                                  \
    "PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456; "                                   \
    "PRAGMA wal_autocheckpoint = 4000; PRAGMA temp_store = MEMORY"

typedef struct sq {
    store_db db; /* first: s->impl points at both */
    sqlite3 *h;
    sqlite3_stmt *st[ST_COUNT];
} sq;

struct store_row {
    sqlite3_stmt *st;
};

static const char *const migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE agents (id INTEGER PRIMARY KEY AUTOINCREMENT, org TEXT NOT NULL, "
    "  name TEXT NOT NULL UNIQUE, pubkey BLOB NOT NULL UNIQUE, enrolled_ms INTEGER NOT NULL, "
    "  revoked_ms INTEGER);"
    "CREATE TABLE progress (agent INTEGER NOT NULL, epoch INTEGER NOT NULL, "
    "  acked INTEGER NOT NULL, updated_ms INTEGER NOT NULL, PRIMARY KEY (agent, epoch));"
    "CREATE TABLE alerts (id INTEGER PRIMARY KEY, agent INTEGER NOT NULL, "
    "  epoch INTEGER NOT NULL, seq INTEGER NOT NULL, org TEXT NOT NULL, rule TEXT NOT NULL, "
    "  level INTEGER NOT NULL, time_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL, "
    "  alert_id TEXT, json BLOB NOT NULL, UNIQUE (agent, epoch, seq));"
    "CREATE INDEX alerts_time ON alerts (time_ms);"
    "CREATE INDEX alerts_org_time ON alerts (org, time_ms);"
    "CREATE INDEX alerts_rule_time ON alerts (rule, time_ms);"
    "CREATE INDEX alerts_level_time ON alerts (level, time_ms);"
    "CREATE TABLE sightings (id INTEGER PRIMARY KEY, field TEXT NOT NULL, value TEXT NOT NULL, "
    "  org TEXT NOT NULL, rule TEXT NOT NULL, time_ms INTEGER NOT NULL);"
    "CREATE INDEX sightings_value_time ON sightings (value, time_ms);"
    "CREATE INDEX sightings_time ON sightings (time_ms);"
    "CREATE TABLE regional (regional_id TEXT PRIMARY KEY, field TEXT NOT NULL, "
    "  value TEXT NOT NULL, rules TEXT NOT NULL, first_ms INTEGER NOT NULL, "
    "  last_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, norgs INTEGER NOT NULL, "
    "  version INTEGER NOT NULL, UNIQUE (field, value));"
    "CREATE INDEX regional_expires ON regional (expires_ms);"
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT INTO counters (name, value) VALUES ('regional_version', 0);",
    /* 2: the queue of sightings not correlated yet (store_db_correlate); what is
     * there already is correlated once more */
    "CREATE TABLE pending_sightings (id INTEGER PRIMARY KEY, field TEXT NOT NULL, "
    "  value TEXT NOT NULL, time_ms INTEGER NOT NULL);"
    "INSERT INTO pending_sightings (field, value, time_ms) "
    "  SELECT field, value, MAX(time_ms) FROM sightings GROUP BY field, value;",
};

static void sq_err(sq *q, char *err, size_t errlen, const char *what) {
    int code = sqlite3_extended_errcode(q->h);
    if ((code & 0xff) == SQLITE_NOTADB)
        store_db_err(&q->db, err, errlen, "not an SQLite database (%s)", sqlite3_errmsg(q->h));
    else
        store_db_err(&q->db, err, errlen, "%s: %s", what, sqlite3_errmsg(q->h));
}

/* Prepares sql with the dialect applied and $N read as ?N. */
static sqlite3_stmt *sq_prepare(sq *q, const char *sql, char *err, size_t errlen) {
    char buf[2048];
    if (store_db_dialect(q->db.drv, sql, buf, sizeof(buf)) < 0) {
        store_db_err(&q->db, err, errlen, "statement too long");
        return NULL;
    }
    for (char *p = buf; *p; p++)
        if (p[0] == '$' && p[1] >= '0' && p[1] <= '9')
            *p = '?';
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(q->h, buf, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        sq_err(q, err, errlen, "prepare");
        return NULL;
    }
    return st;
}

static int sq_exec(store_db *db, int sti, const char *sql, const store_param *pv, size_t pn,
                   store_row_fn fn, void *ctx, int64_t *changes, char *err, size_t errlen) {
    sq *q = (sq *)db;
    sqlite3_stmt *st = sti >= 0 ? q->st[sti] : sq_prepare(q, sql, err, errlen);
    int rc = -1, s = SQLITE_OK;
    if (!st)
        return -1;
    for (size_t i = 0; i < pn && s == SQLITE_OK; i++) {
        const store_param *p = &pv[i];
        int k = (int)i + 1;
        switch (p->type) {
        case STORE_P_I64:
            s = sqlite3_bind_int64(st, k, p->i);
            break;
        case STORE_P_TEXT:
            s = sqlite3_bind_text64(st, k, p->p, p->len, SQLITE_STATIC, SQLITE_UTF8);
            break;
        case STORE_P_BLOB:
            s = sqlite3_bind_blob64(st, k, p->p, p->len, SQLITE_STATIC);
            break;
        default:
            s = sqlite3_bind_null(st, k);
        }
    }
    if (s != SQLITE_OK) {
        sq_err(q, err, errlen, "bind");
        goto done;
    }
    store_row row = {st};
    for (;;) {
        s = sqlite3_step(st);
        if (s == SQLITE_DONE)
            break;
        if (s != SQLITE_ROW) {
            sq_err(q, err, errlen, "step");
            goto done;
        }
        if (fn) {
            int r = fn(ctx, &row);
            if (r) {
                rc = r;
                goto done;
            }
        }
    }
    if (changes)
        *changes = sqlite3_changes64(q->h);
    rc = 0;
done:
    if (sti >= 0) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    } else {
        sqlite3_finalize(st);
    }
    return rc;
}

static int sq_script(store_db *db, const char *sql, char *err, size_t errlen) {
    sq *q = (sq *)db;
    char *msg = NULL;
    if (sqlite3_exec(q->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int notadb = (sqlite3_extended_errcode(q->h) & 0xff) == SQLITE_NOTADB;
        store_db_err(db, err, errlen, notadb ? "not an SQLite database (%s)" : "%s",
                     msg ? msg : sqlite3_errmsg(q->h));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int64_t sq_col_i64(store_row *r, int col) {
    return sqlite3_column_int64(r->st, col);
}

static const char *sq_col_text(store_row *r, int col) {
    const unsigned char *t = sqlite3_column_text(r->st, col);
    return t ? (const char *)t : "";
}

static const uint8_t *sq_col_blob(store_row *r, int col, size_t *len) {
    const void *b = sqlite3_column_blob(r->st, col);
    *len = b ? (size_t)sqlite3_column_bytes(r->st, col) : 0;
    return b ? b : (const uint8_t *)"";
}

static int sq_col_null(store_row *r, int col) {
    return sqlite3_column_type(r->st, col) == SQLITE_NULL;
}

static const store_driver sq_driver = {
    .collate_c = "",  /* BINARY, SQLite's default, is byte order */
    .for_update = "", /* BEGIN IMMEDIATE already holds the database's write lock */
    .begin_sql = "BEGIN IMMEDIATE",
    .migrate_lock = NULL,
    .size_sql = "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
    .migrations = migrations,
    .nmigrations = sizeof(migrations) / sizeof(migrations[0]),
    .exec = sq_exec,
    .script = sq_script,
    .col_i64 = sq_col_i64,
    .col_text = sq_col_text,
    .col_blob = sq_col_blob,
    .col_null = sq_col_null,
};

static void sq_close(store *s) {
    sq *q = s ? s->impl : NULL;
    if (!q)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(q->st[i]);
    sqlite3_close(q->h);
    free(q);
    s->impl = NULL;
}

/* The journal mode as SQLite reports it after asking for WAL. */
static int row_mode(void *ctx, store_row *r) {
    snprintf(ctx, 16, "%s", sq_col_text(r, 0));
    return 0;
}

static int sq_open(store *s, const char *path, char *err, size_t errlen) {
    s->ops = &store_sqlite_ops;
    s->impl = NULL;
    if (!path || !*path) {
        snprintf(err, errlen, "sqlite: no database path");
        return -1;
    }
    sq *q = calloc(1, sizeof(*q));
    if (!q) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    s->impl = q;
    q->db.drv = &sq_driver;
    snprintf(q->db.label, sizeof(q->db.label), "%s", path);
    /* The alerts hold council log data: a new store is readable by its owner only (the
     * WAL and shared-memory files take the database file's mode). */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    else if (errno != EEXIST) {
        store_db_err(&q->db, err, errlen, "cannot create: %s", strerror(errno));
        goto fail;
    }
    if (sqlite3_open_v2(path, &q->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        store_db_err(&q->db, err, errlen, "cannot open: %s",
                     q->h ? sqlite3_errmsg(q->h) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(q->h, 1);
    sqlite3_busy_timeout(q->h, BUSY_TIMEOUT_MS);
    char mode[16] = "";
    /* 8 KiB pages for a new file (an existing one keeps its own): two alerts of ~1 KiB
     * more a page, fewer pages to split, log and checkpoint; a sixth less CPU a batch */
    if (sq_script(&q->db, "PRAGMA page_size = 8192", err, errlen) < 0)
        goto fail;
    /* The first read of the file: a file that is not SQLite fails here. */
    if (sq_exec(&q->db, -1, "PRAGMA journal_mode = WAL", NULL, 0, row_mode, mode, NULL, err,
                errlen) < 0)
        goto fail;
    if (strcmp(mode, "wal") != 0) {
        store_db_err(&q->db, err, errlen, "cannot use WAL (journal mode is %s)", mode);
        goto fail;
    }
    if (sq_script(&q->db, "PRAGMA synchronous = FULL; " SQ_TUNING, err, errlen) < 0 ||
        store_db_migrate(&q->db, store_db_now_ms(), err, errlen) < 0)
        goto fail;
    for (int i = 0; i < ST_COUNT; i++) {
        char sql[2048];
        if (store_db_sql(&sq_driver, i, sql, sizeof(sql)) < 0) {
            store_db_err(&q->db, err, errlen, "statement %d too long", i);
            goto fail;
        }
        if (!(q->st[i] = sq_prepare(q, sql, err, errlen)))
            goto fail;
    }
    return 0;
fail:
    sq_close(s);
    return -1;
}

const store_ops store_sqlite_ops =
    STORE_DB_OPS("sqlite", sq_open, sq_close, store_db_group_begin, store_db_group_commit);
