/* The PostgreSQL store (libpq), for a region that runs several collectors on one
 * database: every statement of store_db.c is prepared once per connection; results
 * come in binary (bytea without unescaping, integers by their width); a batch locks its
 * (agent, epoch) progress row with SELECT ... FOR UPDATE, so that two collectors storing
 * the same batch at once store it once; migrations take an advisory lock. A connection
 * that broke is reset before the next operation (the operation that saw it break fails
 * and is retried by the caller). */
#include "store_db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define PG_MAX_PARAMS 16

/* A pipeline is drained every PG_PIPELINE statements: the results it holds back stay
 * well below what the socket buffers take, so that neither side blocks on a full one. */
#define PG_PIPELINE 256

typedef struct pg {
    store_db db; /* first: s->impl points at both */
    PGconn *c;
    int prepared;
    int bulk;           /* in pipeline mode */
    size_t pending;     /* statements sent in it, results not read yet */
    char bulk_err[256]; /* the first failure in it */
} pg;

struct store_row {
    PGresult *res;
    int row;
};

static const char *const migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE agents (id BIGSERIAL PRIMARY KEY, org TEXT NOT NULL, "
    "  name TEXT NOT NULL UNIQUE, pubkey BYTEA NOT NULL UNIQUE, enrolled_ms BIGINT NOT NULL, "
    "  revoked_ms BIGINT);"
    "CREATE TABLE progress (agent BIGINT NOT NULL, epoch BIGINT NOT NULL, "
    "  acked BIGINT NOT NULL, updated_ms BIGINT NOT NULL, PRIMARY KEY (agent, epoch));"
    "CREATE TABLE alerts (id BIGSERIAL PRIMARY KEY, agent BIGINT NOT NULL, "
    "  epoch BIGINT NOT NULL, seq BIGINT NOT NULL, org TEXT NOT NULL, rule TEXT NOT NULL, "
    "  level INTEGER NOT NULL, time_ms BIGINT NOT NULL, received_ms BIGINT NOT NULL, "
    "  alert_id TEXT, json BYTEA NOT NULL, UNIQUE (agent, epoch, seq));"
    "CREATE INDEX alerts_time ON alerts (time_ms);"
    "CREATE INDEX alerts_org_time ON alerts (org, time_ms);"
    "CREATE INDEX alerts_rule_time ON alerts (rule, time_ms);"
    "CREATE INDEX alerts_level_time ON alerts (level, time_ms);"
    "CREATE TABLE sightings (id BIGSERIAL PRIMARY KEY, field TEXT NOT NULL, "
    "  value TEXT NOT NULL, org TEXT NOT NULL, rule TEXT NOT NULL, time_ms BIGINT NOT NULL);"
    "CREATE INDEX sightings_value_time ON sightings (value, time_ms);"
    "CREATE INDEX sightings_time ON sightings (time_ms);"
    "CREATE TABLE regional (regional_id TEXT PRIMARY KEY, field TEXT NOT NULL, "
    "  value TEXT NOT NULL, rules TEXT NOT NULL, first_ms BIGINT NOT NULL, "
    "  last_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL, norgs BIGINT NOT NULL, "
    "  version BIGINT NOT NULL, UNIQUE (field, value));"
    "CREATE INDEX regional_expires ON regional (expires_ms);"
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);"
    "INSERT INTO counters (name, value) VALUES ('regional_version', 0);",
    /* 2: the queue of sightings not correlated yet (store_db_correlate); what is
     * there already is correlated once more */
    "CREATE TABLE pending_sightings (id BIGSERIAL PRIMARY KEY, field TEXT NOT NULL, "
    "  value TEXT NOT NULL, time_ms BIGINT NOT NULL);"
    "INSERT INTO pending_sightings (field, value, time_ms) "
    "  SELECT field, value, MAX(time_ms) FROM sightings GROUP BY field, value;",
};

/* libpq's messages end in a newline; ours do not. */
static void pg_err(pg *p, char *err, size_t errlen, const char *what, const PGresult *res) {
    const char *m = res ? PQresultErrorMessage(res) : PQerrorMessage(p->c);
    if (!m || !*m)
        m = PQerrorMessage(p->c);
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    store_db_err(&p->db, err, errlen, "%s: %.*s", what, (int)n, m);
}

static int pg_prepare_all(pg *p, char *err, size_t errlen);

/* A connection that broke (the server restarted) is reset, and its statements
 * prepared again, before it is used. */
static int pg_ready(pg *p, char *err, size_t errlen) {
    if (PQstatus(p->c) == CONNECTION_OK)
        return 0;
    PQreset(p->c);
    p->prepared = 0;
    p->bulk = 0;
    p->pending = 0;
    p->db.in_tx = 0;
    if (PQstatus(p->c) != CONNECTION_OK) {
        pg_err(p, err, errlen, "reconnect", NULL);
        return -1;
    }
    return pg_prepare_all(p, err, errlen);
}

/* Reads the results of the pipeline so far. Returns 0, or -1 with err (the first
 * statement that failed). */
static int pg_drain(pg *p, char *err, size_t errlen) {
    int rc = p->bulk_err[0] ? -1 : 0;
    if (PQpipelineSync(p->c) != 1) {
        pg_err(p, err, errlen, "pipeline", NULL);
        return -1;
    }
    for (size_t nulls = 0; nulls <= p->pending + 1;) {
        PGresult *res = PQgetResult(p->c);
        if (!res) {
            if (PQstatus(p->c) != CONNECTION_OK)
                break;
            nulls++; /* the end of one statement's results */
            continue;
        }
        ExecStatusType s = PQresultStatus(res);
        if (s == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            p->pending = 0;
            if (rc < 0)
                store_db_err(&p->db, err, errlen, "%s", p->bulk_err);
            return rc;
        }
        if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_PIPELINE_ABORTED &&
            !p->bulk_err[0]) {
            pg_err(p, p->bulk_err, sizeof(p->bulk_err), "query", res);
            rc = -1;
        }
        PQclear(res);
    }
    p->pending = 0;
    pg_err(p, err, errlen, "pipeline", NULL);
    return -1;
}

static int pg_bulk(store_db *db, int on, char *err, size_t errlen) {
    pg *p = (pg *)db;
    if (on) {
        if (p->bulk)
            return 0;
        if (PQenterPipelineMode(p->c) != 1) {
            pg_err(p, err, errlen, "pipeline", NULL);
            return -1;
        }
        p->bulk = 1;
        p->pending = 0;
        p->bulk_err[0] = '\0';
        return 0;
    }
    if (!p->bulk)
        return 0;
    int rc = pg_drain(p, err, errlen);
    p->bulk = 0;
    if (PQexitPipelineMode(p->c) != 1) {
        if (rc == 0)
            pg_err(p, err, errlen, "pipeline", NULL);
        return -1;
    }
    return rc;
}

/* A query of any size (`ward-collector query` over months of alerts): rows come one at
 * a time (single-row mode) instead of all at once in memory. When fn stops, the rest is
 * read and dropped: the connection must be idle for the next statement. */
static int pg_stream(pg *p, const char *sql, const char *const *vals, const int *lens,
                     const int *fmts, int pn, store_row_fn fn, void *ctx, char *err,
                     size_t errlen) {
    if (PQsendQueryParams(p->c, sql, pn, NULL, vals, lens, fmts, 1) != 1) {
        pg_err(p, err, errlen, "query", NULL);
        return -1;
    }
    int rc = 0, single = PQsetSingleRowMode(p->c);
    PGresult *res;
    while ((res = PQgetResult(p->c))) {
        ExecStatusType s = PQresultStatus(res);
        if (s == PGRES_SINGLE_TUPLE || s == PGRES_TUPLES_OK) {
            store_row row = {res, 0};
            for (int i = 0, n = PQntuples(res); i < n && !rc; i++) {
                row.row = i;
                rc = fn(ctx, &row);
            }
        } else if (!rc) {
            pg_err(p, err, errlen, "query", res);
            rc = -1;
        }
        PQclear(res);
    }
    (void)single; /* without it (not possible right after a send) rows come all at once */
    return rc;
}

static int pg_exec(store_db *db, int st, const char *sql, const store_param *pv, size_t pn,
                   store_row_fn fn, void *ctx, int64_t *changes, char *err, size_t errlen) {
    pg *p = (pg *)db;
    const char *vals[PG_MAX_PARAMS];
    int lens[PG_MAX_PARAMS], fmts[PG_MAX_PARAMS];
    char nums[PG_MAX_PARAMS][24];
    if (pn > PG_MAX_PARAMS) {
        store_db_err(db, err, errlen, "too many parameters (%zu)", pn);
        return -1;
    }
    if (!db->in_tx && pg_ready(p, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < pn; i++) {
        const store_param *q = &pv[i];
        vals[i] = NULL;
        lens[i] = 0;
        fmts[i] = 0;
        if (q->type == STORE_P_I64) {
            snprintf(nums[i], sizeof(nums[i]), "%" PRId64, q->i);
            vals[i] = nums[i];
        } else if (q->type == STORE_P_TEXT || q->type == STORE_P_BLOB) {
            if (q->len > INT32_MAX) {
                store_db_err(db, err, errlen, "parameter %zu too long", i + 1);
                return -1;
            }
            /* Text goes as bytes with its length: a NUL inside it cannot cut it short. */
            vals[i] = q->p;
            lens[i] = (int)q->len;
            fmts[i] = 1;
        }
    }
    PGresult *res;
    if (p->bulk && (fn || changes || st < 0)) {
        char ignore[256]; /* not a statement for the pipeline: the pipeline ends here */
        if (pg_bulk(db, 0, ignore, sizeof(ignore)) < 0) {
            store_db_err(db, err, errlen, "%s", ignore);
            return -1;
        }
    }
    if (p->bulk) { /* libpq copies the parameters into its buffer here */
        char name[16];
        snprintf(name, sizeof(name), "s%d", st);
        if (PQsendQueryPrepared(p->c, name, (int)pn, vals, lens, fmts, 1) != 1) {
            pg_err(p, err, errlen, "query", NULL);
            return -1;
        }
        if (++p->pending >= PG_PIPELINE)
            return pg_drain(p, err, errlen);
        return 0;
    }
    if (st >= 0) {
        char name[16];
        snprintf(name, sizeof(name), "s%d", st);
        res = PQexecPrepared(p->c, name, (int)pn, vals, lens, fmts, 1);
    } else {
        char buf[2048];
        if (store_db_dialect(db->drv, sql, buf, sizeof(buf)) < 0) {
            store_db_err(db, err, errlen, "statement too long");
            return -1;
        }
        if (fn && !changes)
            return pg_stream(p, buf, vals, lens, fmts, (int)pn, fn, ctx, err, errlen);
        res = PQexecParams(p->c, buf, (int)pn, NULL, vals, lens, fmts, 1);
    }
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        pg_err(p, err, errlen, "query", res);
        PQclear(res);
        return -1;
    }
    int rc = 0;
    if (fn) {
        store_row row = {res, 0};
        for (int i = 0, n = PQntuples(res); i < n && !rc; i++) {
            row.row = i;
            rc = fn(ctx, &row);
        }
    }
    if (changes) {
        const char *t = PQcmdTuples(res);
        *changes = t && *t ? strtoll(t, NULL, 10) : 0;
    }
    PQclear(res);
    return rc;
}

static int pg_script(store_db *db, const char *sql, char *err, size_t errlen) {
    pg *p = (pg *)db;
    if (p->bulk) { /* a ROLLBACK after a failure in the pipeline */
        char ignore[256];
        pg_bulk(db, 0, ignore, sizeof(ignore));
    }
    if (!db->in_tx && pg_ready(p, err, errlen) < 0)
        return -1;
    PGresult *res = PQexec(p->c, sql);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        pg_err(p, err, errlen, "query", res);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

/* Binary integers: big-endian, by the width of the column's type (int2, int4, int8). */
static int64_t pg_col_i64(store_row *r, int col) {
    if (PQgetisnull(r->res, r->row, col))
        return 0;
    const uint8_t *b = (const uint8_t *)PQgetvalue(r->res, r->row, col);
    int n = PQgetlength(r->res, r->row, col);
    if (n != 2 && n != 4 && n != 8)
        return 0;
    uint64_t v = b[0] & 0x80 ? UINT64_MAX : 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | b[i];
    return (int64_t)v;
}

static const char *pg_col_text(store_row *r, int col) {
    return PQgetvalue(r->res, r->row, col); /* "" when NULL; NUL-terminated by libpq */
}

static const uint8_t *pg_col_blob(store_row *r, int col, size_t *len) {
    *len = (size_t)PQgetlength(r->res, r->row, col);
    return (const uint8_t *)PQgetvalue(r->res, r->row, col);
}

static int pg_col_null(store_row *r, int col) {
    return PQgetisnull(r->res, r->row, col);
}

static const store_driver pg_driver = {
    .collate_c = " COLLATE \"C\"",
    .for_update = " FOR UPDATE",
    .begin_sql = "BEGIN",
    .migrate_lock = "SELECT pg_advisory_xact_lock(7140512)", /* "ward" */
    .size_sql = "SELECT pg_database_size(current_database())",
    .migrations = migrations,
    .nmigrations = sizeof(migrations) / sizeof(migrations[0]),
    .exec = pg_exec,
    .bulk = pg_bulk,
    .script = pg_script,
    .col_i64 = pg_col_i64,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .col_null = pg_col_null,
};

static int pg_prepare_all(pg *p, char *err, size_t errlen) {
    for (int i = 0; i < ST_COUNT; i++) {
        char sql[2048], name[16];
        if (store_db_sql(&pg_driver, i, sql, sizeof(sql)) < 0) {
            store_db_err(&p->db, err, errlen, "statement %d too long", i);
            return -1;
        }
        snprintf(name, sizeof(name), "s%d", i);
        PGresult *res = PQprepare(p->c, name, sql, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            pg_err(p, err, errlen, "prepare", res);
            PQclear(res);
            return -1;
        }
        PQclear(res);
    }
    p->prepared = 1;
    return 0;
}

static void pg_close(store *s) {
    pg *p = s ? s->impl : NULL;
    if (!p)
        return;
    PQfinish(p->c);
    free(p);
    s->impl = NULL;
}

static void pg_notice(void *arg, const char *message) {
    (void)arg; /* "relation already exists, skipping" and the like: not errors */
    (void)message;
}

static int pg_open(store *s, const char *conninfo, char *err, size_t errlen) {
    s->ops = &store_pg_ops;
    s->impl = NULL;
    pg *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "postgresql: out of memory");
        return -1;
    }
    s->impl = p;
    p->db.drv = &pg_driver;
    snprintf(p->db.label, sizeof(p->db.label), "postgresql");
    /* connect_timeout: an unreachable server fails the open (and each reconnect) after
     * 10 s instead of the system's TCP timeout; the conninfo's own value wins. */
    const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *const vals[] = {"10", conninfo ? conninfo : "", NULL};
    p->c = PQconnectdbParams(keys, vals, 1);
    if (!p->c || PQstatus(p->c) != CONNECTION_OK) {
        if (p->c)
            pg_err(p, err, errlen, "cannot connect", NULL);
        else
            store_db_err(&p->db, err, errlen, "cannot connect: out of memory");
        goto fail;
    }
    /* Messages name the database, not the conninfo (which may hold a password). */
    const char *host = PQhost(p->c);
    snprintf(p->db.label, sizeof(p->db.label), "postgresql %s:%s/%s", host ? host : "",
             PQport(p->c) ? PQport(p->c) : "", PQdb(p->c) ? PQdb(p->c) : "");
    PQsetNoticeProcessor(p->c, pg_notice, NULL);
    if (pg_script(&p->db, "SET client_min_messages = warning", err, errlen) < 0 ||
        store_db_migrate(&p->db, store_db_now_ms(), err, errlen) < 0 ||
        pg_prepare_all(p, err, errlen) < 0)
        goto fail;
    return 0;
fail:
    pg_close(s);
    return -1;
}

const store_ops store_pg_ops = STORE_DB_OPS("postgresql", pg_open, pg_close, NULL, NULL);
