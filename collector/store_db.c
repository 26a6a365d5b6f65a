/* The store's logic, once for both backends (see store_db.h): enrolment, exactly-once
 * batches, queries, stats, retention, regional correlation and the feed. */
#include "store_db.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

/* Generic SQL: $N parameters (the SQLite driver reads them as ?N), %C and %U expanded
 * by the dialect. Text columns are sorted in byte order (%C) so that both backends list
 * things in the same order whatever the PostgreSQL database's collation. */
static const char *const sql_of[ST_COUNT] = {
    [ST_AGENT_BY_NAME] = "SELECT id, org, name, pubkey, enrolled_ms, revoked_ms FROM agents "
                         "WHERE name = $1",
    [ST_AGENT_BY_KEY] = "SELECT id, org, name, pubkey, enrolled_ms, revoked_ms FROM agents "
                        "WHERE pubkey = $1",
    [ST_AGENT_ORG] = "SELECT org FROM agents WHERE id = $1",
    [ST_AGENT_INSERT] =
        "INSERT INTO agents (org, name, pubkey, enrolled_ms) VALUES ($1, $2, $3, $4)",
    [ST_AGENT_REVOKE] = "UPDATE agents SET revoked_ms = $2 WHERE name = $1 AND revoked_ms IS NULL",
    [ST_AGENTS_LIST] = "SELECT id, org, name, pubkey, enrolled_ms, revoked_ms FROM agents "
                       "ORDER BY org%C, name%C",
    [ST_ACKED] = "SELECT acked FROM progress WHERE agent = $1 AND epoch = $2",
    [ST_PROGRESS_INIT] = "INSERT INTO progress (agent, epoch, acked, updated_ms) "
                         "VALUES ($1, $2, 0, $3) ON CONFLICT (agent, epoch) DO NOTHING",
    [ST_PROGRESS_LOCK] = "SELECT acked FROM progress WHERE agent = $1 AND epoch = $2%U",
    [ST_PROGRESS_SET] = "UPDATE progress SET acked = $3, updated_ms = $4 "
                        "WHERE agent = $1 AND epoch = $2",
    [ST_ALERT_INSERT] = "INSERT INTO alerts (agent, epoch, seq, org, rule, level, time_ms, "
                        "received_ms, alert_id, json) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    [ST_SIGHTING_INSERT] = "INSERT INTO sightings (field, value, org, rule, time_ms) "
                           "VALUES ($1, $2, $3, $4, $5)",
    [ST_COUNTER_LOCK] = "SELECT value FROM counters WHERE name = 'regional_version'%U",
    [ST_COUNTER_GET] = "SELECT value FROM counters WHERE name = 'regional_version'",
    [ST_COUNTER_BUMP] = "UPDATE counters SET value = value + 1 WHERE name = 'regional_version' "
                        "RETURNING value",
    [ST_PENDING_ADD] = "INSERT INTO pending_sightings (field, value, time_ms) VALUES ($1, $2, $3)",
    [ST_PENDING_TAKE] = "DELETE FROM pending_sightings WHERE time_ms <= $1 RETURNING field, value",
    [ST_CANDIDATE_STATS] = "SELECT MIN(time_ms), MAX(time_ms), COUNT(DISTINCT org) FROM sightings "
                           "WHERE value = $2 AND field = $1 AND time_ms >= $3 AND time_ms <= $4",
    [ST_CANDIDATE_RULES] = "SELECT DISTINCT rule FROM sightings WHERE value = $2 AND field = $1 "
                           "AND time_ms >= $3 AND time_ms <= $4",
    [ST_REGIONAL_GET] = "SELECT rules, first_ms, last_ms, expires_ms, norgs FROM regional "
                        "WHERE regional_id = $1",
    [ST_REGIONAL_UPSERT] =
        "INSERT INTO regional (regional_id, field, value, rules, first_ms, last_ms, "
        "expires_ms, norgs, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
        "ON CONFLICT (regional_id) DO UPDATE SET rules = excluded.rules, "
        "first_ms = excluded.first_ms, last_ms = excluded.last_ms, "
        "expires_ms = excluded.expires_ms, norgs = excluded.norgs, version = excluded.version",
    [ST_REGIONAL_PURGE] = "DELETE FROM regional WHERE expires_ms <= $1",
    [ST_FEED] = "SELECT regional_id, field, value, rules, first_ms, last_ms, expires_ms, norgs "
                "FROM regional WHERE expires_ms > $1 ORDER BY field%C, value%C",
    [ST_STATS_ALERTS] = "SELECT COUNT(*) FROM alerts",
    [ST_STATS_ORGS] = "SELECT org, COUNT(*) FROM alerts GROUP BY org ORDER BY org%C",
    [ST_STATS_LEVELS] = "SELECT level, COUNT(*) FROM alerts GROUP BY level ORDER BY level",
    [ST_STATS_AGENTS] = "SELECT COUNT(*), COUNT(revoked_ms) FROM agents",
    [ST_STATS_REGIONAL] = "SELECT COUNT(*) FROM regional",
    [ST_RETAIN_ALERTS] = "DELETE FROM alerts WHERE time_ms < $1",
    [ST_RETAIN_SIGHTINGS] = "DELETE FROM sightings WHERE time_ms < $1",
    [ST_RETAIN_REGIONAL] = "DELETE FROM regional WHERE expires_ms < $1",
    [ST_RETAIN_PENDING] = "DELETE FROM pending_sightings WHERE time_ms < $1",
};

#define FIELD_MAX 64
#define VALUE_MAX 256
#define RULES_MAX 1024

void store_db_err(const store_db *db, char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen)
        return;
    int n = snprintf(err, errlen, "%s: ", db ? db->label : "store");
    if (n < 0 || (size_t)n >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

int store_db_dialect(const store_driver *d, const char *sql, char *out, size_t outlen) {
    size_t o = 0;
    for (const char *p = sql; *p; p++) {
        const char *put = NULL;
        size_t n = 1;
        if (p[0] == '%' && p[1] == 'C') {
            put = d->collate_c;
            p++;
        } else if (p[0] == '%' && p[1] == 'U') {
            put = d->for_update;
            p++;
        } else {
            put = p;
        }
        if (put != p)
            n = strlen(put);
        if (o + n >= outlen)
            return -1;
        memcpy(out + o, put, n);
        o += n;
    }
    out[o] = '\0';
    return 0;
}

int store_db_sql(const store_driver *d, int st, char *out, size_t outlen) {
    if (st < 0 || st >= ST_COUNT)
        return -1;
    return store_db_dialect(d, sql_of[st], out, outlen);
}

int64_t store_db_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static store_db *db_of(store *s) {
    return s ? (store_db *)s->impl : NULL;
}

static store_param p_i64(int64_t v) {
    store_param p = {STORE_P_I64, v, NULL, 0};
    return p;
}

static store_param p_text(const char *t) {
    store_param p = {t ? STORE_P_TEXT : STORE_P_NULL, 0, t, t ? strlen(t) : 0};
    return p;
}

static store_param p_blob(const void *b, size_t len) {
    store_param p = {STORE_P_BLOB, 0, b, len};
    return p;
}

static int run(store_db *db, int st, const store_param *pv, size_t pn, store_row_fn fn, void *ctx,
               int64_t *changes, char *err, size_t errlen) {
    return db->drv->exec(db, st, NULL, pv, pn, fn, ctx, changes, err, errlen);
}

/* A transaction of its own, or inside an open group a savepoint of the group's. */
static int tx_begin(store_db *db, char *err, size_t errlen) {
    if (db->in_group && db->group_broken) {
        store_db_err(db, err, errlen, "an earlier batch of this group failed");
        return -1;
    }
    if (db->drv->script(db, db->in_group ? "SAVEPOINT batch" : db->drv->begin_sql, err, errlen) <
        0) {
        if (db->in_group)
            db->group_broken = 1;
        return -1;
    }
    db->in_tx = 1;
    return 0;
}

static int tx_commit(store_db *db, char *err, size_t errlen) {
    db->in_tx = 0;
    char ignore[64];
    if (db->in_group) {
        if (db->drv->script(db, "RELEASE batch", err, errlen) < 0) {
            db->group_broken = 1;
            return -1;
        }
        return 0;
    }
    if (db->drv->script(db, "COMMIT", err, errlen) < 0) {
        db->drv->script(db, "ROLLBACK", ignore, sizeof(ignore));
        return -1;
    }
    return 0;
}

/* Rolls back an open transaction (or the batch's savepoint); keeps the error that made
 * us give up. broken: the batch failed (not a gap or a replay), which fails its group. */
static void tx_abort_as(store_db *db, int broken) {
    if (!db->in_tx)
        return;
    char ignore[256];
    db->in_tx = 0;
    if (!db->in_group) {
        db->drv->script(db, "ROLLBACK", ignore, sizeof(ignore));
        return;
    }
    if (broken || db->drv->script(db, "ROLLBACK TO batch", ignore, sizeof(ignore)) < 0 ||
        db->drv->script(db, "RELEASE batch", ignore, sizeof(ignore)) < 0)
        db->group_broken = 1;
}

static void tx_abort(store_db *db) {
    tx_abort_as(db, 1);
}

int store_db_group_begin(store *s, char *err, size_t errlen) {
    store_db *db = db_of(s);
    if (db->in_group || db->in_tx) {
        store_db_err(db, err, errlen, "a transaction is open already");
        return -1;
    }
    if (db->drv->script(db, db->drv->begin_sql, err, errlen) < 0)
        return -1;
    db->in_group = 1;
    db->group_broken = 0;
    return 0;
}

int store_db_group_commit(store *s, char *err, size_t errlen) {
    store_db *db = db_of(s);
    char ignore[256];
    if (!db->in_group) {
        store_db_err(db, err, errlen, "no group is open");
        return -1;
    }
    db->in_group = 0;
    if (db->group_broken) {
        db->group_broken = 0;
        db->drv->script(db, "ROLLBACK", ignore, sizeof(ignore));
        store_db_err(db, err, errlen, "a batch of the group failed: nothing of it is stored");
        return -1;
    }
    if (db->drv->script(db, "COMMIT", err, errlen) < 0) {
        db->drv->script(db, "ROLLBACK", ignore, sizeof(ignore));
        return -1;
    }
    return 0;
}

/* One integer from the first row. */
typedef struct one_i64 {
    const store_driver *drv;
    int found;
    int64_t v;
} one_i64;

static int row_one_i64(void *ctx, store_row *r) {
    one_i64 *o = ctx;
    o->found = 1;
    o->v = o->drv->col_i64(r, 0);
    return 0;
}

static int get_i64(store_db *db, int st, const store_param *pv, size_t pn, int *found, int64_t *v,
                   char *err, size_t errlen) {
    one_i64 o = {db->drv, 0, 0};
    if (run(db, st, pv, pn, row_one_i64, &o, NULL, err, errlen) < 0)
        return -1;
    if (found)
        *found = o.found;
    *v = o.v;
    return 0;
}

/* ---- migrations ---- */

static int row_version(void *ctx, store_row *r) {
    one_i64 *o = ctx;
    o->found = 1;
    if (!o->drv->col_null(r, 0))
        o->v = o->drv->col_i64(r, 0);
    return 0;
}

int store_db_migrate(store_db *db, int64_t now_ms, char *err, size_t errlen) {
    const store_driver *d = db->drv;
    if (tx_begin(db, err, errlen) < 0)
        return -1;
    if (d->migrate_lock && d->script(db, d->migrate_lock, err, errlen) < 0)
        goto fail;
    if (d->script(db,
                  "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL, "
                  "applied_ms BIGINT NOT NULL)",
                  err, errlen) < 0)
        goto fail;
    one_i64 o = {d, 0, 0};
    if (d->exec(db, -1, "SELECT MAX(version) FROM schema_version", NULL, 0, row_version, &o, NULL,
                err, errlen) < 0)
        goto fail;
    if (o.v < 0 || o.v > (int64_t)d->nmigrations) {
        store_db_err(db, err, errlen,
                     "schema version %" PRId64 " is newer than this program knows (%zu): "
                     "refusing to open it (upgrade ward-collector)",
                     o.v, d->nmigrations);
        goto fail;
    }
    for (size_t i = (size_t)o.v; i < d->nmigrations; i++) {
        if (d->script(db, d->migrations[i], err, errlen) < 0)
            goto fail;
        store_param pv[2] = {p_i64((int64_t)i + 1), p_i64(now_ms)};
        if (d->exec(db, -1, "INSERT INTO schema_version (version, applied_ms) VALUES ($1, $2)", pv,
                    2, NULL, NULL, NULL, err, errlen) < 0)
            goto fail;
    }
    return tx_commit(db, err, errlen);
fail:
    tx_abort(db);
    return -1;
}

/* ---- agents ---- */

typedef struct agent_rows {
    const store_driver *drv;
    int found;
    store_agent *out;
    int (*fn)(void *ctx, const store_agent *a);
    void *ctx;
} agent_rows;

static void read_agent(const store_driver *d, store_row *r, store_agent *a) {
    memset(a, 0, sizeof(*a));
    a->id = d->col_i64(r, 0);
    snprintf(a->org, sizeof(a->org), "%s", d->col_text(r, 1));
    snprintf(a->name, sizeof(a->name), "%s", d->col_text(r, 2));
    size_t len = 0;
    const uint8_t *k = d->col_blob(r, 3, &len);
    memcpy(a->pubkey, k, len < WARD_PUBKEY_LEN ? len : WARD_PUBKEY_LEN);
    a->enrolled_ms = d->col_i64(r, 4);
    a->revoked = !d->col_null(r, 5);
    a->revoked_ms = d->col_i64(r, 5);
}

static int row_agent(void *ctx, store_row *r) {
    agent_rows *ar = ctx;
    ar->found = 1;
    if (ar->out) {
        read_agent(ar->drv, r, ar->out);
        return 0;
    }
    store_agent a;
    read_agent(ar->drv, r, &a);
    return ar->fn(ar->ctx, &a) ? 1 : 0;
}

static int name_ok(store_db *db, const char *what, const char *v, char *err, size_t errlen) {
    if (!v || !*v) {
        store_db_err(db, err, errlen, "%s is empty", what);
        return -1;
    }
    if (strlen(v) >= sizeof(((store_agent *)0)->name)) {
        store_db_err(db, err, errlen, "%s is longer than %zu bytes", what,
                     sizeof(((store_agent *)0)->name) - 1);
        return -1;
    }
    return 0;
}

int store_db_enroll(store *s, const char *org, const char *name, const uint8_t *pub, int64_t now_ms,
                    char *err, size_t errlen) {
    store_db *db = db_of(s);
    if (name_ok(db, "organisation", org, err, errlen) < 0 ||
        name_ok(db, "agent name", name, err, errlen) < 0)
        return -1;
    if (!pub) {
        store_db_err(db, err, errlen, "agent %s: no public key", name);
        return -1;
    }
    if (tx_begin(db, err, errlen) < 0)
        return -1;
    store_agent a;
    agent_rows ar = {db->drv, 0, &a, NULL, NULL};
    store_param pn = p_text(name);
    if (run(db, ST_AGENT_BY_NAME, &pn, 1, row_agent, &ar, NULL, err, errlen) < 0)
        goto fail;
    if (ar.found) {
        store_db_err(db, err, errlen, "agent %s is already enrolled (organisation %s)", name,
                     a.org);
        goto fail;
    }
    store_param pk = p_blob(pub, WARD_PUBKEY_LEN);
    if (run(db, ST_AGENT_BY_KEY, &pk, 1, row_agent, &ar, NULL, err, errlen) < 0)
        goto fail;
    if (ar.found) {
        store_db_err(db, err, errlen,
                     "agent %s: this public key is already enrolled as agent %s "
                     "(organisation %s)",
                     name, a.name, a.org);
        goto fail;
    }
    store_param pv[4] = {p_text(org), p_text(name), p_blob(pub, WARD_PUBKEY_LEN), p_i64(now_ms)};
    if (run(db, ST_AGENT_INSERT, pv, 4, NULL, NULL, NULL, err, errlen) < 0)
        goto fail;
    return tx_commit(db, err, errlen);
fail:
    tx_abort(db);
    return -1;
}

int store_db_revoke(store *s, const char *name, int64_t now_ms, char *err, size_t errlen) {
    store_db *db = db_of(s);
    if (name_ok(db, "agent name", name, err, errlen) < 0)
        return -1;
    int64_t changed = 0;
    store_param pv[2] = {p_text(name), p_i64(now_ms)};
    if (run(db, ST_AGENT_REVOKE, pv, 2, NULL, NULL, &changed, err, errlen) < 0)
        return -1;
    if (changed)
        return 0;
    store_agent a;
    agent_rows ar = {db->drv, 0, &a, NULL, NULL};
    if (run(db, ST_AGENT_BY_NAME, pv, 1, row_agent, &ar, NULL, err, errlen) < 0)
        return -1;
    if (ar.found)
        store_db_err(db, err, errlen, "agent %s is already revoked", name);
    else
        store_db_err(db, err, errlen, "no agent named %s", name);
    return -1;
}

int store_db_agent_by_key(store *s, const uint8_t *pub, store_agent *out, char *err,
                          size_t errlen) {
    store_db *db = db_of(s);
    if (!pub || !out) {
        store_db_err(db, err, errlen, "agent_by_key: no key");
        return -1;
    }
    agent_rows ar = {db->drv, 0, out, NULL, NULL};
    store_param pk = p_blob(pub, WARD_PUBKEY_LEN);
    if (run(db, ST_AGENT_BY_KEY, &pk, 1, row_agent, &ar, NULL, err, errlen) < 0)
        return -1;
    return ar.found;
}

int store_db_agents_list(store *s, int (*fn)(void *ctx, const store_agent *a), void *ctx, char *err,
                         size_t errlen) {
    store_db *db = db_of(s);
    agent_rows ar = {db->drv, 0, NULL, fn, ctx};
    int rc = run(db, ST_AGENTS_LIST, NULL, 0, row_agent, &ar, NULL, err, errlen);
    if (rc > 0)
        store_db_err(db, err, errlen, "agents list stopped by its callback");
    return rc ? -1 : 0;
}

/* ---- batches ---- */

int store_db_acked(store *s, int64_t agent, uint64_t epoch, uint64_t *acked, char *err,
                   size_t errlen) {
    store_db *db = db_of(s);
    int64_t v = 0;
    store_param pv[2] = {p_i64(agent), p_i64((int64_t)epoch)};
    if (get_i64(db, ST_ACKED, pv, 2, NULL, &v, err, errlen) < 0)
        return -1;
    *acked = (uint64_t)v;
    return 0;
}

static int batch_ok(store_db *db, int64_t agent, uint64_t epoch, const store_alert *v, size_t n,
                    const store_sighting *sg, size_t nsg, char *err, size_t errlen) {
    if (n && (v[0].seq == 0 || v[0].seq > (uint64_t)INT64_MAX - n)) {
        store_db_err(db, err, errlen, "agent %" PRId64 " epoch %" PRIu64 ": bad first seq %" PRIu64,
                     agent, epoch, v[0].seq);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const store_alert *a = &v[i];
        const char *why = NULL;
        if (a->seq != v[0].seq + i)
            why = "sequence numbers are not contiguous";
        else if (!a->json && a->len)
            why = "no JSON";
        else if (a->level < 0 || a->level > 5)
            why = "level out of 0..5";
        if (why) {
            store_db_err(db, err, errlen, "agent %" PRId64 " epoch %" PRIu64 " seq %" PRIu64 ": %s",
                         agent, epoch, a->seq, why);
            return -1;
        }
    }
    for (size_t i = 0; i < nsg; i++) {
        const store_sighting *g = &sg[i];
        const char *why = NULL;
        if (!g->field || !*g->field || strlen(g->field) >= FIELD_MAX)
            why = "field empty or too long";
        else if (!g->value || !*g->value || strlen(g->value) >= VALUE_MAX)
            why = "value empty or too long";
        if (why) {
            store_db_err(db, err, errlen, "agent %" PRId64 " epoch %" PRIu64 " sighting %zu: %s",
                         agent, epoch, i, why);
            return -1;
        }
    }
    return 0;
}

typedef struct text_row {
    const store_driver *drv;
    int found;
    char buf[256];
} text_row;

static int row_text(void *ctx, store_row *r) {
    text_row *t = ctx;
    t->found = 1;
    snprintf(t->buf, sizeof(t->buf), "%s", t->drv->col_text(r, 0));
    return 0;
}

static int sighting_cmp(const void *a, const void *b) {
    const store_sighting *x = *(const store_sighting *const *)a;
    const store_sighting *y = *(const store_sighting *const *)b;
    int c = strcmp(x->field, y->field);
    return c ? c : strcmp(x->value, y->value);
}

/* Queues the batch's indicators for the next correlation: each once, at its latest
 * sighting (an attacker's address is in many alerts of a batch). */
static int queue_pending(store_db *db, const store_sighting **q, size_t n, char *err,
                         size_t errlen) {
    if (n)
        qsort(q, n, sizeof(*q), sighting_cmp);
    for (size_t i = 0; i < n;) {
        int64_t t = q[i]->time_ms;
        size_t j = i + 1;
        for (; j < n && !sighting_cmp(&q[i], &q[j]); j++)
            if (q[j]->time_ms > t)
                t = q[j]->time_ms;
        store_param pv[3] = {p_text(q[i]->field), p_text(q[i]->value), p_i64(t)};
        if (run(db, ST_PENDING_ADD, pv, 3, NULL, NULL, NULL, err, errlen) < 0)
            return -1;
        i = j;
    }
    return 0;
}

int store_db_store_batch(store *s, int64_t agent, uint64_t epoch, const store_alert *v, size_t n,
                         const store_sighting *sg, size_t nsg, int64_t now_ms, uint64_t *acked,
                         size_t *stored, char *err, size_t errlen) {
    store_db *db = db_of(s);
    const store_sighting **queue = NULL;
    size_t nq = 0;
    *stored = 0;
    if (batch_ok(db, agent, epoch, v, n, sg, nsg, err, errlen) < 0)
        return -1;
    if (!n)
        return store_db_acked(s, agent, epoch, acked, err, errlen);
    if (tx_begin(db, err, errlen) < 0)
        return -1;
    /* The progress row exists before anything reads it, so that reading it can lock it:
     * a second collector storing the same (agent, epoch) waits here until the first has
     * committed, then sees its acked. */
    store_param pk[3] = {p_i64(agent), p_i64((int64_t)epoch), p_i64(now_ms)};
    if (run(db, ST_PROGRESS_INIT, pk, 3, NULL, NULL, NULL, err, errlen) < 0)
        goto fail;
    int64_t done = 0;
    if (get_i64(db, ST_PROGRESS_LOCK, pk, 2, NULL, &done, err, errlen) < 0)
        goto fail;
    uint64_t old = (uint64_t)done, first = v[0].seq, last = first + n - 1;
    if (first > old + 1) {
        store_db_err(db, err, errlen,
                     "agent %" PRId64 " epoch %" PRIu64 ": batch starts at seq %" PRIu64
                     " but only up to %" PRIu64 " is stored (a gap)",
                     agent, epoch, first, old);
        tx_abort_as(db, 0); /* a gap: the rest of a group goes on */
        *acked = old;
        return -2;
    }
    if (last <= old) {
        tx_abort_as(db, 0); /* a replay */
        *acked = old;
        return 0;
    }
    text_row org = {db->drv, 0, ""};
    if (run(db, ST_AGENT_ORG, pk, 1, row_text, &org, NULL, err, errlen) < 0)
        goto fail;
    if (!org.found) {
        store_db_err(db, err, errlen, "no agent with id %" PRId64, agent);
        goto fail;
    }
    /* The inserts go as one pipeline where the driver can (PostgreSQL): one round trip
     * for the batch instead of one per row. */
    if (db->drv->bulk && db->drv->bulk(db, 1, err, errlen) < 0)
        goto fail;
    for (size_t i = (size_t)(old + 1 - first); i < n; i++) {
        const store_alert *a = &v[i];
        store_param pv[10] = {
            p_i64(agent),
            p_i64((int64_t)epoch),
            p_i64((int64_t)a->seq),
            p_text(org.buf),
            p_text(a->rule ? a->rule : ""),
            p_i64(a->level),
            p_i64(a->time_ms),
            p_i64(now_ms),
            p_text(a->alert_id),
            p_blob(a->json ? (const void *)a->json : "", a->len),
        };
        if (run(db, ST_ALERT_INSERT, pv, 10, NULL, NULL, NULL, err, errlen) < 0)
            goto fail;
    }
    if (nsg && !(queue = malloc(nsg * sizeof(*queue)))) {
        store_db_err(db, err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nsg; i++) {
        const store_sighting *g = &sg[i];
        if (g->seq && (g->seq <= old || g->seq > last))
            continue; /* its alert was stored before, or is not in this batch */
        store_param pv[5] = {p_text(g->field), p_text(g->value), p_text(org.buf),
                             p_text(g->rule ? g->rule : ""), p_i64(g->time_ms)};
        if (run(db, ST_SIGHTING_INSERT, pv, 5, NULL, NULL, NULL, err, errlen) < 0)
            goto fail;
        queue[nq++] = g;
    }
    if (queue_pending(db, queue, nq, err, errlen) < 0)
        goto fail;
    if (db->drv->bulk && db->drv->bulk(db, 0, err, errlen) < 0)
        goto fail;
    store_param pu[4] = {p_i64(agent), p_i64((int64_t)epoch), p_i64((int64_t)last), p_i64(now_ms)};
    if (run(db, ST_PROGRESS_SET, pu, 4, NULL, NULL, NULL, err, errlen) < 0)
        goto fail;
    free(queue);
    if (tx_commit(db, err, errlen) < 0)
        return -1;
    *acked = last;
    *stored = (size_t)(last - old);
    return 0;
fail:
    free(queue);
    tx_abort(db);
    return -1;
}

/* ---- queries and stats ---- */

typedef struct alert_rows {
    const store_driver *drv;
    store_alert_fn fn;
    void *ctx;
} alert_rows;

static int row_alert(void *ctx, store_row *r) {
    alert_rows *ar = ctx;
    const store_driver *d = ar->drv;
    size_t len = 0;
    const uint8_t *json = d->col_blob(r, 3, &len);
    return ar->fn(ar->ctx, d->col_text(r, 0), d->col_text(r, 1), (uint64_t)d->col_i64(r, 2), json,
                  len)
               ? 1
               : 0;
}

int store_db_query(store *s, const store_query *q, store_alert_fn fn, void *ctx, char *err,
                   size_t errlen) {
    store_db *db = db_of(s);
    char sql[768];
    store_param pv[6];
    size_t pn = 0;
    int o = snprintf(sql, sizeof(sql),
                     "SELECT a.org, g.name, a.seq, a.json FROM alerts a "
                     "JOIN agents g ON g.id = a.agent WHERE 1 = 1");
    /* Each filter adds " AND ... $N": at most 6 of them, well inside sql. */
    if (q->org) {
        pv[pn++] = p_text(q->org);
        o += snprintf(sql + o, sizeof(sql) - (size_t)o, " AND a.org = $%zu", pn);
    }
    if (q->rule) {
        pv[pn++] = p_text(q->rule);
        o += snprintf(sql + o, sizeof(sql) - (size_t)o, " AND a.rule = $%zu", pn);
    }
    if (q->since_ms) {
        pv[pn++] = p_i64(q->since_ms);
        o += snprintf(sql + o, sizeof(sql) - (size_t)o, " AND a.time_ms >= $%zu", pn);
    }
    if (q->until_ms) {
        pv[pn++] = p_i64(q->until_ms);
        o += snprintf(sql + o, sizeof(sql) - (size_t)o, " AND a.time_ms <= $%zu", pn);
    }
    if (q->min_level > 0) {
        pv[pn++] = p_i64(q->min_level);
        o += snprintf(sql + o, sizeof(sql) - (size_t)o, " AND a.level >= $%zu", pn);
    }
    o += snprintf(sql + o, sizeof(sql) - (size_t)o, " ORDER BY a.time_ms, a.id");
    if (q->limit) {
        pv[pn++] = p_i64(q->limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)q->limit);
        snprintf(sql + o, sizeof(sql) - (size_t)o, " LIMIT $%zu", pn);
    }
    alert_rows ar = {db->drv, fn, ctx};
    int rc = db->drv->exec(db, -1, sql, pv, pn, row_alert, &ar, NULL, err, errlen);
    if (rc > 0)
        store_db_err(db, err, errlen, "query stopped by its callback");
    return rc ? -1 : 0;
}

typedef struct count_rows {
    const store_driver *drv;
    ward_jw *w;
    int numeric_key;
} count_rows;

static int row_count(void *ctx, store_row *r) {
    count_rows *c = ctx;
    char key[32];
    const char *k = key;
    if (c->numeric_key)
        snprintf(key, sizeof(key), "%" PRId64, c->drv->col_i64(r, 0));
    else
        k = c->drv->col_text(r, 0);
    ward_jw_ku64(c->w, k, (uint64_t)c->drv->col_i64(r, 1));
    return 0;
}

typedef struct two_i64 {
    const store_driver *drv;
    int64_t a, b;
} two_i64;

static int row_two_i64(void *ctx, store_row *r) {
    two_i64 *t = ctx;
    t->a = t->drv->col_i64(r, 0);
    t->b = t->drv->col_i64(r, 1);
    return 0;
}

int store_db_stats(store *s, ward_jw *w, char *err, size_t errlen) {
    store_db *db = db_of(s);
    const store_driver *d = db->drv;
    int64_t total = 0, regional = 0, size = 0;
    two_i64 agents = {d, 0, 0};
    if (get_i64(db, ST_STATS_ALERTS, NULL, 0, NULL, &total, err, errlen) < 0)
        return -1;
    ward_jw_ku64(w, "alerts", (uint64_t)total);
    count_rows c = {d, w, 0};
    ward_jw_key(w, "alerts_by_org");
    ward_jw_obj(w);
    if (run(db, ST_STATS_ORGS, NULL, 0, row_count, &c, NULL, err, errlen) < 0)
        return -1;
    ward_jw_obj_end(w);
    c.numeric_key = 1;
    ward_jw_key(w, "alerts_by_level");
    ward_jw_obj(w);
    if (run(db, ST_STATS_LEVELS, NULL, 0, row_count, &c, NULL, err, errlen) < 0)
        return -1;
    ward_jw_obj_end(w);
    if (run(db, ST_STATS_AGENTS, NULL, 0, row_two_i64, &agents, NULL, err, errlen) < 0)
        return -1;
    ward_jw_ku64(w, "agents_enrolled", (uint64_t)(agents.a - agents.b));
    ward_jw_ku64(w, "agents_revoked", (uint64_t)agents.b);
    if (get_i64(db, ST_STATS_REGIONAL, NULL, 0, NULL, &regional, err, errlen) < 0)
        return -1;
    ward_jw_ku64(w, "regional_indicators", (uint64_t)regional);
    one_i64 o = {d, 0, 0};
    if (d->exec(db, -1, d->size_sql, NULL, 0, row_one_i64, &o, NULL, err, errlen) < 0)
        return -1;
    size = o.v;
    ward_jw_ku64(w, "db_bytes", (uint64_t)size);
    return 0;
}

/* ---- retention ---- */

static int bump(store_db *db, int64_t *version, char *err, size_t errlen) {
    return get_i64(db, ST_COUNTER_BUMP, NULL, 0, NULL, version, err, errlen);
}

int store_db_retention(store *s, int64_t before_ms, uint64_t *deleted, char *err, size_t errlen) {
    store_db *db = db_of(s);
    int64_t alerts = 0, regional = 0, version = 0;
    store_param pb = p_i64(before_ms);
    *deleted = 0;
    if (tx_begin(db, err, errlen) < 0)
        return -1;
    /* The counter's lock first, as correlate takes it: then the regional rows (no
     * deadlock between a retention and a correlation on two collectors). */
    if (get_i64(db, ST_COUNTER_LOCK, NULL, 0, NULL, &version, err, errlen) < 0 ||
        run(db, ST_RETAIN_ALERTS, &pb, 1, NULL, NULL, &alerts, err, errlen) < 0 ||
        run(db, ST_RETAIN_SIGHTINGS, &pb, 1, NULL, NULL, NULL, err, errlen) < 0 ||
        run(db, ST_RETAIN_PENDING, &pb, 1, NULL, NULL, NULL, err, errlen) < 0 ||
        run(db, ST_RETAIN_REGIONAL, &pb, 1, NULL, NULL, &regional, err, errlen) < 0)
        goto fail;
    if (regional && bump(db, &version, err, errlen) < 0)
        goto fail;
    if (tx_commit(db, err, errlen) < 0)
        return -1;
    *deleted = (uint64_t)alerts;
    return 0;
fail:
    tx_abort(db);
    return -1;
}

/* ---- regional correlation ---- */

int store_db_regional_id(const char *field, const char *value, char out[64]) {
    static const char hex[] = "0123456789abcdef";
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(c, field, strlen(field)) == 1 && EVP_DigestUpdate(c, "=", 1) == 1 &&
             EVP_DigestUpdate(c, value, strlen(value)) == 1 &&
             EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen >= 8;
    EVP_MD_CTX_free(c);
    if (!ok)
        return -1;
    out[0] = 'R';
    out[1] = '-';
    for (int i = 0; i < 8; i++) {
        out[2 + 2 * i] = hex[md[i] >> 4];
        out[3 + 2 * i] = hex[md[i] & 15];
    }
    out[18] = '\0';
    return 0;
}

int store_db_rules_add(char *rules, size_t cap, const char *rule) {
    size_t rl = strlen(rule), len = strlen(rules);
    if (!rl || memchr(rule, ',', rl))
        return 0; /* no such rule id: nothing to list */
    char *at = rules;
    while (*at) {
        const char *end = strchr(at, ',');
        size_t n = end ? (size_t)(end - at) : strlen(at);
        size_t m = n < rl ? n : rl;
        int c = memcmp(at, rule, m);
        if (c == 0 && n == rl)
            return 0;
        if (c > 0 || (c == 0 && n > rl))
            break; /* rule goes before this one */
        at += n;
        if (*at == ',')
            at++;
    }
    size_t add = rl + (len ? 1 : 0);
    if (len + add + 1 > cap)
        return -1;
    size_t off = (size_t)(at - rules);
    if (off == len && len) { /* at the end: ",rule" */
        rules[len] = ',';
        memcpy(rules + len + 1, rule, rl);
    } else {
        memmove(rules + off + add, rules + off, len - off);
        memcpy(rules + off, rule, rl);
        if (len)
            rules[off + rl] = ',';
    }
    rules[len + add] = '\0';
    return 1;
}

typedef struct candidate {
    char field[FIELD_MAX], value[VALUE_MAX];
    int64_t first_ms, last_ms, norgs;
} candidate;

typedef struct candidates {
    const store_driver *drv;
    candidate *v;
    size_t n, cap;
    int oom;
} candidates;

/* An indicator with new sightings. */
static int row_pending(void *ctx, store_row *r) {
    candidates *c = ctx;
    const store_driver *d = c->drv;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        candidate *v = realloc(c->v, cap * sizeof(*v));
        if (!v) {
            c->oom = 1;
            return 1;
        }
        c->v = v;
        c->cap = cap;
    }
    candidate *x = &c->v[c->n++];
    memset(x, 0, sizeof(*x));
    snprintf(x->field, sizeof(x->field), "%s", d->col_text(r, 0));
    snprintf(x->value, sizeof(x->value), "%s", d->col_text(r, 1));
    return 0;
}

static int candidate_cmp(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    int c = strcmp(x->field, y->field);
    return c ? c : strcmp(x->value, y->value);
}

typedef struct stats_row {
    const store_driver *drv;
    candidate *x;
} stats_row;

static int row_stats(void *ctx, store_row *r) {
    stats_row *t = ctx;
    t->x->first_ms = t->drv->col_i64(r, 0);
    t->x->last_ms = t->drv->col_i64(r, 1);
    t->x->norgs = t->drv->col_i64(r, 2);
    return 0;
}

typedef struct rules_rows {
    const store_driver *drv;
    char rules[RULES_MAX];
} rules_rows;

static int row_rule(void *ctx, store_row *r) {
    rules_rows *rr = ctx;
    /* A list longer than the row holds (rule ids of any length are stored with their
     * alerts) keeps the rules that sort first. */
    store_db_rules_add(rr->rules, sizeof(rr->rules), rr->drv->col_text(r, 0));
    return 0;
}

typedef struct regional_row {
    const store_driver *drv;
    int found;
    char rules[RULES_MAX];
    int64_t first_ms, last_ms, expires_ms, norgs;
} regional_row;

static int row_regional(void *ctx, store_row *r) {
    regional_row *g = ctx;
    const store_driver *d = g->drv;
    g->found = 1;
    snprintf(g->rules, sizeof(g->rules), "%s", d->col_text(r, 0));
    g->first_ms = d->col_i64(r, 1);
    g->last_ms = d->col_i64(r, 2);
    g->expires_ms = d->col_i64(r, 3);
    g->norgs = d->col_i64(r, 4);
    return 0;
}

/* Merges what the window shows of indicator x into its regional row: the row only grows
 * (earliest first, latest last, most organisations, every rule), so a sliding window
 * does not make the feed change back and forth. Upserts it with a new version when
 * anything changed; *version is bumped once per correlation. */
static int correlate_one(store_db *db, const candidate *x, int64_t since_ms, int64_t now_ms,
                         int64_t ttl_ms, int64_t *version, char *err, size_t errlen) {
    const store_driver *d = db->drv;
    char id[64];
    if (store_db_regional_id(x->field, x->value, id) < 0) {
        store_db_err(db, err, errlen, "SHA-256 failed");
        return -1;
    }
    rules_rows rr = {d, ""};
    store_param pr[4] = {p_text(x->field), p_text(x->value), p_i64(since_ms), p_i64(now_ms)};
    if (run(db, ST_CANDIDATE_RULES, pr, 4, row_rule, &rr, NULL, err, errlen) < 0)
        return -1;
    regional_row old = {d, 0, "", 0, 0, 0, 0};
    store_param pi = p_text(id);
    if (run(db, ST_REGIONAL_GET, &pi, 1, row_regional, &old, NULL, err, errlen) < 0)
        return -1;
    regional_row nw = {d, 1, "", x->first_ms, x->last_ms, 0, x->norgs};
    memcpy(nw.rules, rr.rules, sizeof(nw.rules));
    if (old.found) {
        char tmp[RULES_MAX], *save = NULL;
        memcpy(tmp, old.rules, sizeof(tmp));
        for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
            store_db_rules_add(nw.rules, sizeof(nw.rules), t);
        if (old.first_ms < nw.first_ms)
            nw.first_ms = old.first_ms;
        if (old.last_ms > nw.last_ms)
            nw.last_ms = old.last_ms;
        if (old.norgs > nw.norgs)
            nw.norgs = old.norgs;
    }
    nw.expires_ms = nw.last_ms > INT64_MAX - ttl_ms ? INT64_MAX : nw.last_ms + ttl_ms;
    if (old.found && !strcmp(old.rules, nw.rules) && old.first_ms == nw.first_ms &&
        old.last_ms == nw.last_ms && old.expires_ms == nw.expires_ms && old.norgs == nw.norgs)
        return 0;
    if (!*version && bump(db, version, err, errlen) < 0)
        return -1;
    store_param pv[9] = {p_text(id),           p_text(x->field),   p_text(x->value),
                         p_text(nw.rules),     p_i64(nw.first_ms), p_i64(nw.last_ms),
                         p_i64(nw.expires_ms), p_i64(nw.norgs),    p_i64(*version)};
    return run(db, ST_REGIONAL_UPSERT, pv, 9, NULL, NULL, NULL, err, errlen);
}

/* Only the indicators with sightings stored since the last correlation are looked at
 * (a queue, pending_sightings, that store_batch fills): a correlation costs what came
 * in, not the whole window, so that it can run every few milliseconds next to the
 * ingest. Nothing is missed, since a regional row only grows: an indicator without new
 * sightings cannot reach k organisations it did not reach before. A sighting dated
 * after now stays queued until now reaches it. The queue is taken with DELETE ...
 * RETURNING, which takes exactly the committed rows; a batch committing meanwhile
 * leaves its rows for the next correlation. */
int store_db_correlate(store *s, int64_t since_ms, int64_t now_ms, unsigned k, int64_t ttl_ms,
                       char *err, size_t errlen) {
    store_db *db = db_of(s);
    candidates c = {db->drv, NULL, 0, 0, 0};
    int64_t version = 0, cur = 0, purged = 0;
    if (k < 1 || ttl_ms < 0) {
        store_db_err(db, err, errlen, "correlate: k must be at least 1 and ttl not negative");
        return -1;
    }
    if (tx_begin(db, err, errlen) < 0)
        return -1;
    /* Serialises correlations (two collectors on one database): the second sees what the
     * first upserted, finds nothing changed and keeps the version. */
    if (get_i64(db, ST_COUNTER_LOCK, NULL, 0, NULL, &cur, err, errlen) < 0)
        goto fail;
    store_param pn = p_i64(now_ms);
    if (run(db, ST_REGIONAL_PURGE, &pn, 1, NULL, NULL, &purged, err, errlen) < 0)
        goto fail;
    if (purged && bump(db, &version, err, errlen) < 0)
        goto fail;
    int rc = run(db, ST_PENDING_TAKE, &pn, 1, row_pending, &c, NULL, err, errlen);
    if (rc) {
        if (c.oom)
            store_db_err(db, err, errlen, "correlate: out of memory");
        goto fail;
    }
    if (c.n)
        qsort(c.v, c.n, sizeof(c.v[0]), candidate_cmp);
    for (size_t i = 0; i < c.n; i++) {
        candidate *x = &c.v[i];
        if (i && !candidate_cmp(x, &c.v[i - 1]))
            continue; /* one sighting among many of the same indicator */
        stats_row t = {db->drv, x};
        store_param pv[4] = {p_text(x->field), p_text(x->value), p_i64(since_ms), p_i64(now_ms)};
        if (run(db, ST_CANDIDATE_STATS, pv, 4, row_stats, &t, NULL, err, errlen) < 0)
            goto fail;
        if (x->norgs < (int64_t)k)
            continue;
        if (x->last_ms <= INT64_MAX - ttl_ms && x->last_ms + ttl_ms <= now_ms)
            continue; /* it would be expired already */
        if (correlate_one(db, x, since_ms, now_ms, ttl_ms, &version, err, errlen) < 0)
            goto fail;
    }
    free(c.v);
    return tx_commit(db, err, errlen);
fail:
    free(c.v);
    tx_abort(db);
    return -1;
}

/* ---- the feed ---- */

static void feed_clear(ward_feed *f) {
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].value);
        free(f->v[i].field);
        free(f->v[i].regional_id);
        free(f->v[i].rules);
    }
    free(f->v);
    memset(f, 0, sizeof(*f));
}

typedef struct feed_rows {
    const store_driver *drv;
    ward_feed *f;
    size_t cap;
    int too_many;
} feed_rows;

static int row_feed(void *ctx, store_row *r) {
    feed_rows *fr = ctx;
    const store_driver *d = fr->drv;
    ward_feed *f = fr->f;
    if (f->n >= WARD_FEED_MAX_ENTRIES) {
        fr->too_many = 1;
        return 1;
    }
    if (f->n == fr->cap) {
        size_t cap = fr->cap ? fr->cap * 2 : 16;
        ward_feed_entry *v = realloc(f->v, cap * sizeof(*v));
        if (!v)
            return 1;
        f->v = v;
        fr->cap = cap;
    }
    ward_feed_entry *e = &f->v[f->n];
    memset(e, 0, sizeof(*e));
    e->regional_id = strdup(d->col_text(r, 0));
    e->field = strdup(d->col_text(r, 1));
    e->value = strdup(d->col_text(r, 2));
    e->rules = strdup(d->col_text(r, 3));
    e->first_ms = (uint64_t)d->col_i64(r, 4);
    e->last_ms = (uint64_t)d->col_i64(r, 5);
    e->expires_ms = (uint64_t)d->col_i64(r, 6);
    e->norgs = (uint32_t)d->col_i64(r, 7);
    f->n++; /* counted before the check so that feed_clear frees what was made */
    return e->regional_id && e->field && e->value && e->rules ? 0 : 1;
}

int store_db_feed(store *s, int64_t now_ms, ward_feed *out, char *err, size_t errlen) {
    store_db *db = db_of(s);
    memset(out, 0, sizeof(*out));
    feed_rows fr = {db->drv, out, 0, 0};
    int64_t version = 0;
    store_param pn = p_i64(now_ms);
    /* The version first: a correlation committed in between makes these rows newer than
     * the version, which the next feed corrects, never older (which would be kept). */
    if (get_i64(db, ST_COUNTER_GET, NULL, 0, NULL, &version, err, errlen) < 0)
        goto fail;
    int rc = run(db, ST_FEED, &pn, 1, row_feed, &fr, NULL, err, errlen);
    if (rc > 0) {
        if (fr.too_many)
            store_db_err(db, err, errlen, "more than %d regional indicators for the feed",
                         WARD_FEED_MAX_ENTRIES);
        else
            store_db_err(db, err, errlen, "feed: out of memory");
    }
    if (rc)
        goto fail;
    out->version = (uint64_t)version;
    out->generated_ms = (uint64_t)now_ms;
    return 0;
fail:
    feed_clear(out);
    return -1;
}
