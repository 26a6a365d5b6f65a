/* The collector's stores: the same tests against SQLite (a file in a temp dir) and
 * PostgreSQL (a real server that the test starts with tests/lib/pg.sh and stops at the
 * end, a fresh database per test): enrolment, exactly-once batches, queries, stats,
 * retention, regional correlation and the feed, migrations, bad targets, and two
 * processes storing the same batches at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "store.h"
#include "store_db.h"

/* ---- backends ---- */

typedef struct backend {
    const char *name;
    const store_ops *ops;
    /* A fresh, empty target for one test. */
    int (*fresh)(char *target, size_t len);
    /* Runs sql on target outside the store; returns the first column of the first row
     * (0 when none) or -1. */
    int64_t (*sql)(const char *target, const char *sql);
    /* A target that cannot be opened, and what the message must contain. */
    void (*bad_target)(char *target, size_t len, char *expect, size_t elen);
} backend;

static char tmpdir[256];  /* the SQLite files of this run */
static char pg_conn[512]; /* the server pg.sh started: its conninfo */
static unsigned ntarget;

static int sq_fresh(char *target, size_t len) {
    snprintf(target, len, "%s/t%u.db", tmpdir, ++ntarget);
    return 0;
}

static int64_t sq_sql(const char *target, const char *sql) {
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_open(target, &h) != SQLITE_OK)
        goto done;
    sqlite3_busy_timeout(h, 5000);
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        goto done;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else if (s == SQLITE_DONE)
        v = 0;
done:
    if (v < 0)
        fprintf(stderr, "sqlite %s: %s: %s\n", target, sql, sqlite3_errmsg(h));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static void sq_bad(char *target, size_t len, char *expect, size_t elen) {
    snprintf(target, len, "%s/not-sqlite.db", tmpdir);
    FILE *f = fopen(target, "w");
    assert_non_null(f);
    for (int i = 0; i < 64; i++)
        fputs("this is a text file, not an SQLite database\n", f);
    fclose(f);
    snprintf(expect, elen, "%s: not an SQLite database", target);
}

static int64_t pg_sql(const char *target, const char *sql) {
    PGconn *c = PQconnectdb(target);
    int64_t v = -1;
    PGresult *r = NULL;
    if (PQstatus(c) != CONNECTION_OK)
        goto done;
    r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        v = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    else if (PQresultStatus(r) == PGRES_COMMAND_OK)
        v = 0;
done:
    if (v < 0)
        fprintf(stderr, "postgresql %s: %s: %s\n", target, sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return v;
}

static int pg_fresh(char *target, size_t len) {
    char sql[64];
    unsigned n = ++ntarget;
    snprintf(sql, sizeof(sql), "CREATE DATABASE t%u", n);
    if (pg_sql(pg_conn, sql) < 0)
        return -1;
    /* pg_conn ends in dbname=postgres */
    snprintf(target, len, "%.*s dbname=t%u", (int)(strstr(pg_conn, " dbname=") - pg_conn), pg_conn,
             n);
    return 0;
}

static void pg_bad(char *target, size_t len, char *expect, size_t elen) {
    snprintf(target, len, "%.*s dbname=no_such_db", (int)(strstr(pg_conn, " dbname=") - pg_conn),
             pg_conn);
    snprintf(expect, elen, "postgresql: cannot connect: ");
}

static const backend be_sqlite = {"sqlite", &store_sqlite_ops, sq_fresh, sq_sql, sq_bad};
static const backend be_pg = {"postgresql", &store_pg_ops, pg_fresh, pg_sql, pg_bad};

static int group_sqlite_setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ward-test-store.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_sqlite_teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The server lives as long as this group; pg.sh's watchdog stops it should this process
 * die without reaching the teardown. */
static int group_pg_setup(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "sh tests/lib/pg.sh start %ld", (long)getpid());
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    if (!fgets(pg_conn, sizeof(pg_conn), p))
        pg_conn[0] = '\0';
    int rc = pclose(p);
    pg_conn[strcspn(pg_conn, "\n")] = '\0';
    if (rc != 0 || !strstr(pg_conn, " dbname=")) {
        fprintf(stderr, "test_store: could not start PostgreSQL (tests/lib/pg.sh start)\n");
        return -1;
    }
    return 0;
}

static int group_pg_teardown(void **state) {
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "sh tests/lib/pg.sh stop '%s'", pg_conn);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- fixture ---- */

typedef struct fx {
    const backend *b;
    char target[512];
    store s;
    char err[512];
    uint8_t key[4][WARD_PUBKEY_LEN];
    int64_t id[4]; /* a1, a2 (org north), a3 (org south), a4 (org east) */
} fx;

static const char *const org_of[4] = {"north", "north", "south", "east"};
static const char *const name_of[4] = {"a1", "a2", "a3", "a4"};

static int open_store(fx *f, store *s) {
    s->ops = f->b->ops;
    return s->ops->open(s, f->target, f->err, sizeof(f->err));
}

static int setup(void **state) {
    fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->b = *state;
    if (f->b->fresh(f->target, sizeof(f->target)) < 0 || open_store(f, &f->s) < 0) {
        fprintf(stderr, "setup: %s\n", f->err);
        free(f);
        return -1;
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < WARD_PUBKEY_LEN; j++)
            f->key[i][j] = (uint8_t)(i * 37 + j);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    if (f->s.impl)
        f->s.ops->close(&f->s);
    if (f->b == &be_sqlite) {
        char p[600];
        unlink(f->target);
        snprintf(p, sizeof(p), "%s-wal", f->target);
        unlink(p);
        snprintf(p, sizeof(p), "%s-shm", f->target);
        unlink(p);
    }
    free(f);
    return 0;
}

/* Enrols the four agents of the fixture and learns their ids. */
static void enroll_all(fx *f) {
    for (int i = 0; i < 4; i++) {
        assert_int_equal(
            f->s.ops->enroll(&f->s, org_of[i], name_of[i], f->key[i], 1000 + i, f->err, 512), 0);
        store_agent a;
        assert_int_equal(f->s.ops->agent_by_key(&f->s, f->key[i], &a, f->err, 512), 1);
        f->id[i] = a.id;
    }
}

/* A batch: n alerts from seq first, alert i at time t0 + i * 10, rule "r.base", level 2,
 * JSON {"seq":N}. */
typedef struct batch {
    store_alert v[512];
    char json[512][48];
    size_t n;
} batch;

static void make_batch(batch *b, uint64_t first, size_t n, int64_t t0) {
    assert_true(n <= 512);
    b->n = n;
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(b->json[i], sizeof(b->json[i]), "{\"seq\":%" PRIu64 "}", first + i);
        b->v[i] = (store_alert){first + i, (const uint8_t *)b->json[i], (size_t)len, "r.base",
                                2,         t0 + (int64_t)i * 10,        "id"};
    }
}

static int store_b(fx *f, int who, uint64_t epoch, const batch *b, const store_sighting *sg,
                   size_t nsg, uint64_t *acked, size_t *stored) {
    return f->s.ops->store_batch(&f->s, f->id[who], epoch, b->v, b->n, sg, nsg, 5000, acked, stored,
                                 f->err, sizeof(f->err));
}

/* What a query returned: "org/agent/seq/json" joined by "|" (the JSON as its bytes). */
typedef struct got {
    char s[8192];
    size_t len, n;
} got;

static int collect(void *ctx, const char *org, const char *agent, uint64_t seq, const uint8_t *json,
                   size_t len) {
    got *g = ctx;
    int n = snprintf(g->s + g->len, sizeof(g->s) - g->len, "%s%s/%s/%" PRIu64 "/", g->n ? "|" : "",
                     org, agent, seq);
    assert_true(n > 0 && g->len + (size_t)n + len < sizeof(g->s));
    g->len += (size_t)n;
    memcpy(g->s + g->len, json, len);
    g->len += len;
    g->s[g->len] = '\0';
    g->n++;
    return 0;
}

static size_t count_query(fx *f, const store_query *q, got *g) {
    memset(g, 0, sizeof(*g));
    assert_int_equal(f->s.ops->query(&f->s, q, collect, g, f->err, sizeof(f->err)), 0);
    return g->n;
}

static void feed_free(ward_feed *fd) {
    for (size_t i = 0; i < fd->n; i++) {
        free(fd->v[i].value);
        free(fd->v[i].field);
        free(fd->v[i].regional_id);
        free(fd->v[i].rules);
    }
    free(fd->v);
    memset(fd, 0, sizeof(*fd));
}

/* ---- enrolment ---- */

typedef struct listed {
    char s[512];
    int n;
} listed;

static int list_fn(void *ctx, const store_agent *a) {
    listed *l = ctx;
    size_t o = strlen(l->s);
    snprintf(l->s + o, sizeof(l->s) - o, "%s%s/%s/%d", l->n++ ? "|" : "", a->org, a->name,
             a->revoked);
    return 0;
}

static int list_stop(void *ctx, const store_agent *a) {
    (void)a;
    ++*(int *)ctx;
    return 1;
}

static void test_store_enroll_lookup_revoke_list(void **state) {
    fx *f = *state;
    const store_ops *o = f->s.ops;
    enroll_all(f);
    assert_int_equal(o->enroll(&f->s, "south", "a1", f->key[0] + 1, 9, f->err, 512), -1);
    assert_non_null(strstr(f->err, "agent a1 is already enrolled (organisation north)"));
    assert_int_equal(o->enroll(&f->s, "south", "a9", f->key[2], 9, f->err, 512), -1);
    assert_non_null(strstr(f->err, "this public key is already enrolled as agent a3"));
    assert_int_equal(o->enroll(&f->s, "", "a9", f->key[2], 9, f->err, 512), -1);
    assert_non_null(strstr(f->err, "organisation is empty"));

    store_agent a;
    assert_int_equal(o->agent_by_key(&f->s, f->key[2], &a, f->err, 512), 1);
    assert_string_equal(a.org, "south");
    assert_string_equal(a.name, "a3");
    assert_memory_equal(a.pubkey, f->key[2], WARD_PUBKEY_LEN);
    assert_int_equal(a.revoked, 0);
    assert_int_equal(a.enrolled_ms, 1002);
    uint8_t other[WARD_PUBKEY_LEN] = {0xff};
    assert_int_equal(o->agent_by_key(&f->s, other, &a, f->err, 512), 0);

    assert_int_equal(o->revoke(&f->s, "a3", 7777, f->err, 512), 0);
    assert_int_equal(o->agent_by_key(&f->s, f->key[2], &a, f->err, 512), 1);
    assert_int_equal(a.revoked, 1);
    assert_int_equal(a.revoked_ms, 7777);
    assert_int_equal(o->revoke(&f->s, "a3", 7778, f->err, 512), -1);
    assert_non_null(strstr(f->err, "agent a3 is already revoked"));
    assert_int_equal(o->revoke(&f->s, "nobody", 7778, f->err, 512), -1);
    assert_non_null(strstr(f->err, "no agent named nobody"));

    listed l = {"", 0};
    assert_int_equal(o->agents_list(&f->s, list_fn, &l, f->err, 512), 0);
    assert_string_equal(l.s, "east/a4/0|north/a1/0|north/a2/0|south/a3/1");
    int calls = 0;
    assert_int_equal(o->agents_list(&f->s, list_stop, &calls, f->err, 512), -1);
    assert_int_equal(calls, 1);
    assert_non_null(strstr(f->err, "stopped by its callback"));
}

static void expect_id(const char *field, const char *value, char out[32]);

static void test_store_enroll_refuses_bad_arguments(void **state) {
    fx *f = *state;
    const store_ops *o = f->s.ops;
    char longname[200];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(o->enroll(&f->s, "north", longname, f->key[0], 1, f->err, 512), -1);
    assert_non_null(strstr(f->err, "agent name is longer than 127 bytes"));
    assert_int_equal(o->enroll(&f->s, longname, "a1", f->key[0], 1, f->err, 512), -1);
    assert_non_null(strstr(f->err, "organisation is longer than 127 bytes"));
    assert_int_equal(o->enroll(&f->s, "north", NULL, f->key[0], 1, f->err, 512), -1);
    assert_non_null(strstr(f->err, "agent name is empty"));
    assert_int_equal(o->enroll(&f->s, "north", "a1", NULL, 1, f->err, 512), -1);
    assert_non_null(strstr(f->err, "agent a1: no public key"));
    listed l = {"", 0};
    assert_int_equal(o->agents_list(&f->s, list_fn, &l, f->err, 512), 0);
    assert_int_equal(l.n, 0);
}

/* The rules of a regional row: a set in byte order, bounded by its buffer. */
static void test_store_rules_set(void **state) {
    (void)state;
    char r[16] = "";
    assert_int_equal(store_db_rules_add(r, sizeof(r), "r.b"), 1);
    assert_int_equal(store_db_rules_add(r, sizeof(r), "r.a"), 1);
    assert_int_equal(store_db_rules_add(r, sizeof(r), "r.b"), 0);
    assert_int_equal(store_db_rules_add(r, sizeof(r), "r.ab"), 1);
    assert_string_equal(r, "r.a,r.ab,r.b");
    assert_int_equal(store_db_rules_add(r, sizeof(r), ""), 0);
    assert_int_equal(store_db_rules_add(r, sizeof(r), "x,y"), 0);  /* not a rule id */
    assert_int_equal(store_db_rules_add(r, sizeof(r), "r.c"), -1); /* 16 bytes with NUL */
    assert_string_equal(r, "r.a,r.ab,r.b");
    assert_int_equal(store_db_rules_add(r, sizeof(r), "A"), 1);
    assert_string_equal(r, "A,r.a,r.ab,r.b");
    char id[64];
    assert_int_equal(store_db_regional_id("src_ip", "203.0.113.7", id), 0);
    char want[32];
    expect_id("src_ip", "203.0.113.7", want);
    assert_string_equal(id, want);
}

/* ---- batches ---- */

static void test_store_batch_exactly_once(void **state) {
    fx *f = *state;
    enroll_all(f);
    batch b;
    uint64_t acked = 99;
    size_t stored = 99;
    assert_int_equal(f->s.ops->acked(&f->s, f->id[0], 1, &acked, f->err, 512), 0);
    assert_int_equal(acked, 0);
    make_batch(&b, 1, 5, 100);
    assert_int_equal(store_b(f, 0, 1, &b, NULL, 0, &acked, &stored), 0);
    assert_int_equal(acked, 5);
    assert_int_equal(stored, 5);
    /* the same batch again (the ack was lost): acknowledged, not stored again */
    assert_int_equal(store_b(f, 0, 1, &b, NULL, 0, &acked, &stored), 0);
    assert_int_equal(acked, 5);
    assert_int_equal(stored, 0);
    store_query q = {0};
    got g;
    assert_int_equal(count_query(f, &q, &g), 5);
    assert_string_equal(g.s, "north/a1/1/{\"seq\":1}|north/a1/2/{\"seq\":2}|north/a1/3/{\"seq\":3}|"
                             "north/a1/4/{\"seq\":4}|north/a1/5/{\"seq\":5}");
    assert_int_equal(f->s.ops->acked(&f->s, f->id[0], 1, &acked, f->err, 512), 0);
    assert_int_equal(acked, 5);
    /* an empty batch stores nothing and reports acked */
    b.n = 0;
    assert_int_equal(store_b(f, 0, 1, &b, NULL, 0, &acked, &stored), 0);
    assert_int_equal(acked, 5);
    assert_int_equal(stored, 0);
}

static void test_store_batch_partial_overlap(void **state) {
    fx *f = *state;
    enroll_all(f);
    batch b;
    uint64_t acked;
    size_t stored;
    make_batch(&b, 1, 5, 100);
    assert_int_equal(store_b(f, 1, 7, &b, NULL, 0, &acked, &stored), 0);
    make_batch(&b, 3, 6, 130); /* 3..8: 3, 4, 5 are stored already */
    store_sighting sg[3] = {{"src_ip", "192.0.2.1", "r.base", 130, 3},
                            {"src_ip", "192.0.2.2", "r.base", 160, 6},
                            {"src_ip", "192.0.2.3", "r.base", 170, 0}};
    assert_int_equal(store_b(f, 1, 7, &b, sg, 3, &acked, &stored), 0);
    assert_int_equal(acked, 8);
    assert_int_equal(stored, 3);
    store_query q = {0};
    got g;
    assert_int_equal(count_query(f, &q, &g), 8);
    for (int s = 1; s <= 8; s++) {
        char want[64];
        snprintf(want, sizeof(want), "/a2/%d/{\"seq\":%d}", s, s);
        char *at = strstr(g.s, want);
        assert_non_null(at);
        assert_null(strstr(at + 1, want)); /* once */
    }
    /* the sighting of seq 3 belongs to an alert stored before: not stored again */
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM sightings"), 2);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM sightings WHERE value = "
                                          "'192.0.2.1'"),
                     0);
    /* a full replay adds no sightings */
    assert_int_equal(store_b(f, 1, 7, &b, sg, 3, &acked, &stored), 0);
    assert_int_equal(stored, 0);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM sightings"), 2);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM pending_sightings"), 2);
}

/* A batch queues each of its indicators once for correlation, at its latest sighting. */
static void test_store_batch_queues_each_indicator_once(void **state) {
    fx *f = *state;
    enroll_all(f);
    batch b;
    uint64_t acked;
    size_t stored;
    make_batch(&b, 1, 4, 100);
    store_sighting sg[5] = {{"src_ip", "192.0.2.1", "r", 100, 1},
                            {"src_ip", "192.0.2.2", "r", 110, 2},
                            {"src_ip", "192.0.2.1", "r", 300, 3},
                            {"dst_ip", "192.0.2.1", "r", 120, 3},
                            {"src_ip", "192.0.2.1", "r", 200, 4}};
    assert_int_equal(store_b(f, 0, 1, &b, sg, 5, &acked, &stored), 0);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM sightings"), 5);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM pending_sightings"), 3);
    assert_int_equal(f->b->sql(f->target, "SELECT time_ms FROM pending_sightings WHERE field = "
                                          "'src_ip' AND value = '192.0.2.1'"),
                     300);
}

static void test_store_batch_gap_refused(void **state) {
    fx *f = *state;
    enroll_all(f);
    batch b;
    uint64_t acked = 0;
    size_t stored = 0;
    make_batch(&b, 1, 3, 100);
    assert_int_equal(store_b(f, 0, 1, &b, NULL, 0, &acked, &stored), 0);
    make_batch(&b, 5, 2, 200);
    assert_int_equal(store_b(f, 0, 1, &b, NULL, 0, &acked, &stored), -2);
    assert_int_equal(acked, 3);
    assert_int_equal(stored, 0);
    assert_non_null(strstr(f->err, "batch starts at seq 5 but only up to 3 is stored"));
    store_query q = {0};
    got g;
    assert_int_equal(count_query(f, &q, &g), 3);
    /* a first batch must start at 1 */
    make_batch(&b, 2, 2, 200);
    assert_int_equal(store_b(f, 0, 9, &b, NULL, 0, &acked, &stored), -2);
    assert_int_equal(acked, 0);
    /* not contiguous, seq 0, an unknown agent: errors */
    make_batch(&b, 4, 3, 200);
    b.v[2].seq = 9;
    assert_int_equal(store_b(f, 0, 1, &b, NULL, 0, &acked, &stored), -1);
    assert_non_null(strstr(f->err, "seq 9: sequence numbers are not contiguous"));
    make_batch(&b, 0, 1, 200);
    assert_int_equal(store_b(f, 0, 1, &b, NULL, 0, &acked, &stored), -1);
    assert_non_null(strstr(f->err, "bad first seq 0"));
    make_batch(&b, 1, 1, 200);
    assert_int_equal(
        f->s.ops->store_batch(&f->s, 424242, 1, b.v, 1, NULL, 0, 1, &acked, &stored, f->err, 512),
        -1);
    assert_non_null(strstr(f->err, "no agent with id 424242"));
    store_sighting bad = {"src_ip", "", "r", 1, 1};
    assert_int_equal(store_b(f, 0, 3, &b, &bad, 1, &acked, &stored), -1);
    assert_non_null(strstr(f->err, "sighting 0: value empty or too long"));
    b.v[0].level = 6;
    assert_int_equal(store_b(f, 0, 3, &b, NULL, 0, &acked, &stored), -1);
    assert_non_null(strstr(f->err, "seq 1: level out of 0..5"));
    assert_int_equal(count_query(f, &q, &g), 3);
    assert_int_equal(f->s.ops->acked(&f->s, f->id[0], 1, &acked, f->err, 512), 0);
    assert_int_equal(acked, 3);
}

/* A batch whose insert fails half-way (here a row that should not be there, past the
 * first 256 rows: PostgreSQL sends them as pipelines of 256) stores nothing, and the
 * handle works on. */
static void test_store_batch_failure_rolls_back(void **state) {
    fx *f = *state;
    enroll_all(f);
    char sql[300];
    snprintf(sql, sizeof(sql),
             "INSERT INTO alerts (agent, epoch, seq, org, rule, level, time_ms, received_ms, "
             "alert_id, json) VALUES (%" PRId64 ", 1, 280, 'north', 'r', 1, 1, 1, 'x', '')",
             f->id[0]);
    assert_int_equal(f->b->sql(f->target, sql), 0);
    batch *b = malloc(sizeof(*b));
    store_sighting *sg = calloc(300, sizeof(*sg));
    assert_non_null(b);
    assert_non_null(sg);
    make_batch(b, 1, 300, 100);
    for (size_t i = 0; i < 300; i++)
        sg[i] = (store_sighting){"src_ip", "192.0.2.5", "r.base", 100, i + 1};
    uint64_t acked = 9;
    size_t stored = 9;
    assert_int_equal(store_b(f, 0, 1, b, sg, 300, &acked, &stored), -1);
    assert_non_null(strstr(f->err, "alerts"));
    assert_int_equal(stored, 0);
    assert_int_equal(f->s.ops->acked(&f->s, f->id[0], 1, &acked, f->err, 512), 0);
    assert_int_equal(acked, 0);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM alerts"), 1);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM sightings"), 0);
    assert_int_equal(f->b->sql(f->target, "DELETE FROM alerts"), 0);
    assert_int_equal(store_b(f, 0, 1, b, sg, 300, &acked, &stored), 0);
    assert_int_equal(acked, 300);
    assert_int_equal(stored, 300);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(DISTINCT seq) FROM alerts"), 300);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM sightings"), 300);
    free(sg);
    free(b);
}

/* Group commit (SQLite): four batches of three agents in one group. A gap of one agent
 * and a replay of another undo only their own batch; the others are stored at the
 * commit, and nothing is visible to another connection before it. */
static void test_store_group_gap_and_replay_leave_the_rest(void **state) {
    fx *f = *state;
    enroll_all(f);
    batch b;
    uint64_t acked = 0;
    size_t stored = 0;
    make_batch(&b, 1, 3, 100);
    assert_int_equal(store_b(f, 1, 1, &b, NULL, 0, &acked, &stored), 0); /* a2 has 1..3 */
    assert_int_equal(f->s.ops->group_begin(&f->s, f->err, 512), 0);
    make_batch(&b, 1, 4, 100);
    assert_int_equal(store_b(f, 0, 1, &b, NULL, 0, &acked, &stored), 0); /* a1 new */
    assert_int_equal(acked, 4);
    assert_int_equal(stored, 4);
    make_batch(&b, 7, 2, 100);
    assert_int_equal(store_b(f, 2, 1, &b, NULL, 0, &acked, &stored), -2); /* a3: a gap */
    assert_int_equal(acked, 0);
    make_batch(&b, 1, 3, 100);
    assert_int_equal(store_b(f, 1, 1, &b, NULL, 0, &acked, &stored), 0); /* a2: a replay */
    assert_int_equal(acked, 3);
    assert_int_equal(stored, 0);
    make_batch(&b, 5, 2, 100);
    store_sighting sg = {"src_ip", "192.0.2.9", "r.base", 100, 5};
    assert_int_equal(store_b(f, 0, 1, &b, &sg, 1, &acked, &stored), 0); /* a1 goes on */
    assert_int_equal(acked, 6);
    /* another connection sees only what was committed before the group */
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM alerts"), 3);
    assert_int_equal(f->s.ops->group_commit(&f->s, f->err, 512), 0);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM alerts"), 9);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM sightings"), 1);
    uint64_t a1 = 0, a2 = 0, a3 = 9;
    assert_int_equal(f->s.ops->acked(&f->s, f->id[0], 1, &a1, f->err, 512), 0);
    assert_int_equal(f->s.ops->acked(&f->s, f->id[1], 1, &a2, f->err, 512), 0);
    assert_int_equal(f->s.ops->acked(&f->s, f->id[2], 1, &a3, f->err, 512), 0);
    assert_int_equal(a1, 6);
    assert_int_equal(a2, 3);
    assert_int_equal(a3, 0);
    /* the handle is out of the group: a batch commits on its own again */
    make_batch(&b, 1, 1, 100);
    assert_int_equal(store_b(f, 2, 1, &b, NULL, 0, &acked, &stored), 0);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM alerts"), 10);
}

/* A batch of the group that fails (not a gap) fails the whole group: none of it is
 * stored, even the batches that had succeeded, and the next group works. */
static void test_store_group_error_fails_all(void **state) {
    fx *f = *state;
    enroll_all(f);
    batch b;
    uint64_t acked = 0;
    size_t stored = 0;
    assert_int_equal(f->s.ops->group_begin(&f->s, f->err, 512), 0);
    assert_int_equal(f->s.ops->group_begin(&f->s, f->err, 512), -1); /* one at a time */
    make_batch(&b, 1, 4, 100);
    assert_int_equal(store_b(f, 0, 1, &b, NULL, 0, &acked, &stored), 0);
    assert_int_equal(
        f->s.ops->store_batch(&f->s, 424242, 1, b.v, 1, NULL, 0, 1, &acked, &stored, f->err, 512),
        -1);
    assert_non_null(strstr(f->err, "no agent with id 424242"));
    /* what comes after in the same group is refused at once */
    assert_int_equal(store_b(f, 1, 1, &b, NULL, 0, &acked, &stored), -1);
    assert_non_null(strstr(f->err, "an earlier batch of this group failed"));
    assert_int_equal(f->s.ops->group_commit(&f->s, f->err, 512), -1);
    assert_non_null(strstr(f->err, "nothing of it is stored"));
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM alerts"), 0);
    assert_int_equal(f->s.ops->acked(&f->s, f->id[0], 1, &acked, f->err, 512), 0);
    assert_int_equal(acked, 0);
    assert_int_equal(f->s.ops->group_commit(&f->s, f->err, 512), -1); /* none open */
    assert_int_equal(f->s.ops->group_begin(&f->s, f->err, 512), 0);
    assert_int_equal(store_b(f, 0, 1, &b, NULL, 0, &acked, &stored), 0);
    assert_int_equal(f->s.ops->group_commit(&f->s, f->err, 512), 0);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM alerts"), 4);
}

static void test_store_acked_per_epoch(void **state) {
    fx *f = *state;
    enroll_all(f);
    batch b;
    uint64_t acked;
    size_t stored;
    make_batch(&b, 1, 3, 100);
    assert_int_equal(store_b(f, 0, 1, &b, NULL, 0, &acked, &stored), 0);
    /* a reboot: a new epoch starts at 1 again, the old one keeps its acked */
    make_batch(&b, 1, 2, 500);
    assert_int_equal(store_b(f, 0, 2, &b, NULL, 0, &acked, &stored), 0);
    assert_int_equal(acked, 2);
    assert_int_equal(stored, 2);
    /* the same seqs from another agent are other alerts */
    assert_int_equal(store_b(f, 2, 1, &b, NULL, 0, &acked, &stored), 0);
    assert_int_equal(stored, 2);
    assert_int_equal(f->s.ops->acked(&f->s, f->id[0], 1, &acked, f->err, 512), 0);
    assert_int_equal(acked, 3);
    assert_int_equal(f->s.ops->acked(&f->s, f->id[0], 2, &acked, f->err, 512), 0);
    assert_int_equal(acked, 2);
    /* epochs are u64: the top bit survives the database's signed integers */
    uint64_t big = UINT64_C(0xfedcba9876543210);
    assert_int_equal(store_b(f, 0, big, &b, NULL, 0, &acked, &stored), 0);
    assert_int_equal(f->s.ops->acked(&f->s, f->id[0], big, &acked, f->err, 512), 0);
    assert_int_equal(acked, 2);
    store_query q = {0};
    got g;
    assert_int_equal(count_query(f, &q, &g), 9);
}

/* ---- queries ---- */

static void test_store_query_filters(void **state) {
    fx *f = *state;
    enroll_all(f);
    batch b;
    uint64_t acked;
    size_t stored;
    /* a1 (north): times 300, 100, 200 (out of order), rules x, y, x, levels 1, 3, 5 */
    make_batch(&b, 1, 3, 0);
    const int64_t t1[3] = {300, 100, 200};
    const char *r1[3] = {"x", "y", "x"};
    const int l1[3] = {1, 3, 5};
    for (int i = 0; i < 3; i++) {
        b.v[i].time_ms = t1[i];
        b.v[i].rule = r1[i];
        b.v[i].level = l1[i];
    }
    assert_int_equal(store_b(f, 0, 1, &b, NULL, 0, &acked, &stored), 0);
    /* a3 (south): times 150, 250, rule y, levels 0, 4 */
    make_batch(&b, 1, 2, 150);
    b.v[0].level = 0;
    b.v[1].level = 4;
    b.v[1].time_ms = 250;
    b.v[0].rule = b.v[1].rule = "y";
    assert_int_equal(store_b(f, 2, 1, &b, NULL, 0, &acked, &stored), 0);

    got g;
    store_query q = {0};
    assert_int_equal(count_query(f, &q, &g), 5);
    assert_string_equal(g.s, "north/a1/2/{\"seq\":2}|south/a3/1/{\"seq\":1}|north/a1/3/"
                             "{\"seq\":3}|south/a3/2/{\"seq\":2}|north/a1/1/{\"seq\":1}");
    q = (store_query){.org = "south"};
    assert_int_equal(count_query(f, &q, &g), 2);
    assert_string_equal(g.s, "south/a3/1/{\"seq\":1}|south/a3/2/{\"seq\":2}");
    q = (store_query){.rule = "x"};
    assert_int_equal(count_query(f, &q, &g), 2);
    assert_string_equal(g.s, "north/a1/3/{\"seq\":3}|north/a1/1/{\"seq\":1}");
    q = (store_query){.since_ms = 150, .until_ms = 250}; /* both ends included */
    assert_int_equal(count_query(f, &q, &g), 3);
    assert_string_equal(g.s,
                        "south/a3/1/{\"seq\":1}|north/a1/3/{\"seq\":3}|south/a3/2/{\"seq\":2}");
    q = (store_query){.min_level = 4};
    assert_int_equal(count_query(f, &q, &g), 2);
    assert_string_equal(g.s, "north/a1/3/{\"seq\":3}|south/a3/2/{\"seq\":2}");
    q = (store_query){.limit = 2};
    assert_int_equal(count_query(f, &q, &g), 2);
    assert_string_equal(g.s, "north/a1/2/{\"seq\":2}|south/a3/1/{\"seq\":1}");
    q = (store_query){
        .org = "north", .rule = "y", .since_ms = 1, .until_ms = 1000, .min_level = 3, .limit = 10};
    assert_int_equal(count_query(f, &q, &g), 1);
    assert_string_equal(g.s, "north/a1/2/{\"seq\":2}");
    q = (store_query){.org = "nowhere"};
    assert_int_equal(count_query(f, &q, &g), 0);
    /* a rule id of any length is stored (an agent's odd rule cannot block its batches) */
    char rule[400];
    memset(rule, 'r', sizeof(rule) - 1);
    rule[sizeof(rule) - 1] = '\0';
    make_batch(&b, 3, 1, 50);
    b.v[0].rule = rule;
    store_sighting sg = {"src_ip", "192.0.2.9", rule, 50, 3};
    assert_int_equal(store_b(f, 2, 1, &b, &sg, 1, &acked, &stored), 0);
    assert_int_equal(stored, 1);
    q = (store_query){.rule = rule};
    assert_int_equal(count_query(f, &q, &g), 1);
    assert_string_equal(g.s, "south/a3/3/{\"seq\":3}");
}

static int stop_at_first(void *ctx, const char *org, const char *agent, uint64_t seq,
                         const uint8_t *json, size_t len) {
    (void)org, (void)agent, (void)seq, (void)json, (void)len;
    ++*(int *)ctx;
    return 1;
}

static void test_store_query_json_bytes_and_stop(void **state) {
    fx *f = *state;
    enroll_all(f);
    batch b;
    uint64_t acked;
    size_t stored;
    make_batch(&b, 1, 2, 100);
    /* the JSON is kept byte for byte, NUL and high bytes included */
    static const uint8_t odd[] = {'{', 0, 0xff, '\\', 'x', '}'};
    b.v[0].json = odd;
    b.v[0].len = sizeof(odd);
    b.v[0].alert_id = NULL;
    b.v[0].rule = NULL;
    assert_int_equal(store_b(f, 0, 1, &b, NULL, 0, &acked, &stored), 0);
    got g;
    store_query q = {.limit = 1};
    assert_int_equal(count_query(f, &q, &g), 1);
    assert_memory_equal(g.s, "north/a1/1/{\0\xff\\x}", 17);
    int calls = 0;
    q.limit = 0;
    assert_int_equal(f->s.ops->query(&f->s, &q, stop_at_first, &calls, f->err, 512), -1);
    assert_int_equal(calls, 1);
    assert_non_null(strstr(f->err, "query stopped by its callback"));
    /* what the stopped query left unread is gone: the handle answers the next one */
    assert_int_equal(count_query(f, &q, &g), 2);
}

/* ---- stats and retention ---- */

static void test_store_stats(void **state) {
    fx *f = *state;
    enroll_all(f);
    assert_int_equal(f->s.ops->revoke(&f->s, "a4", 1, f->err, 512), 0);
    batch b;
    uint64_t acked;
    size_t stored;
    make_batch(&b, 1, 3, 100);
    b.v[2].level = 5;
    assert_int_equal(store_b(f, 0, 1, &b, NULL, 0, &acked, &stored), 0);
    make_batch(&b, 1, 1, 100);
    assert_int_equal(store_b(f, 2, 1, &b, NULL, 0, &acked, &stored), 0);
    ward_buf buf;
    ward_buf_init(&buf);
    ward_jw w;
    ward_jw_init(&w, &buf);
    ward_jw_obj(&w);
    assert_int_equal(f->s.ops->stats(&f->s, &w, f->err, 512), 0);
    ward_jw_obj_end(&w);
    const char *j = ward_buf_cstr(&buf);
    assert_non_null(j);
    assert_non_null(strstr(j, "{\"alerts\":4,\"alerts_by_org\":{\"north\":3,\"south\":1},"
                              "\"alerts_by_level\":{\"2\":3,\"5\":1},\"agents_enrolled\":3,"
                              "\"agents_revoked\":1,\"regional_indicators\":0,\"db_bytes\":"));
    const char *size = strstr(j, "\"db_bytes\":") + strlen("\"db_bytes\":");
    assert_true(strtoull(size, NULL, 10) > 0);
    ward_buf_fini(&buf);
}

static void test_store_retention(void **state) {
    fx *f = *state;
    enroll_all(f);
    batch b;
    uint64_t acked;
    size_t stored;
    make_batch(&b, 1, 3, 100); /* times 100, 110, 120 */
    store_sighting sg[2] = {{"src_ip", "198.51.100.1", "r", 100, 1},
                            {"src_ip", "198.51.100.1", "r", 120, 3}};
    assert_int_equal(store_b(f, 0, 1, &b, sg, 2, &acked, &stored), 0);
    uint64_t deleted = 99;
    assert_int_equal(f->s.ops->retention(&f->s, 115, &deleted, f->err, 512), 0);
    assert_int_equal(deleted, 2);
    got g;
    store_query q = {0};
    assert_int_equal(count_query(f, &q, &g), 1);
    assert_string_equal(g.s, "north/a1/3/{\"seq\":3}");
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM sightings"), 1);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM pending_sightings"), 1);
    assert_int_equal(f->s.ops->retention(&f->s, 115, &deleted, f->err, 512), 0);
    assert_int_equal(deleted, 0);
    /* the progress stays: the deleted alerts are not stored again */
    make_batch(&b, 1, 3, 100);
    assert_int_equal(store_b(f, 0, 1, &b, NULL, 0, &acked, &stored), 0);
    assert_int_equal(stored, 0);
    assert_int_equal(acked, 3);
}

/* ---- regional correlation ---- */

#define TTL 1000

/* One alert of agent who with a sighting of value, at time t with rule. */
static void sight(fx *f, int who, uint64_t epoch, uint64_t seq, const char *value, const char *rule,
                  int64_t t) {
    batch b;
    uint64_t acked;
    size_t stored;
    make_batch(&b, seq, 1, t);
    b.v[0].rule = rule;
    store_sighting sg = {"src_ip", value, rule, t, seq};
    assert_int_equal(store_b(f, who, epoch, &b, &sg, 1, &acked, &stored), 0);
    assert_int_equal(stored, 1);
}

static void feed_at(fx *f, int64_t now, ward_feed *fd) {
    assert_int_equal(f->s.ops->feed(&f->s, now, fd, f->err, sizeof(f->err)), 0);
}

static void correlate_at(fx *f, int64_t since, int64_t now) {
    assert_int_equal(f->s.ops->correlate(&f->s, since, now, 2, TTL, f->err, sizeof(f->err)), 0);
}

static void expect_id(const char *field, const char *value, char out[32]) {
    char in[300];
    uint8_t md[32];
    unsigned n = 0;
    snprintf(in, sizeof(in), "%s=%s", field, value);
    assert_int_equal(EVP_Digest(in, strlen(in), md, &n, EVP_sha256(), NULL), 1);
    strcpy(out, "R-");
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 + 2 * i, 3, "%02x", md[i]);
}

static void test_store_correlate_one_org_stays_local(void **state) {
    fx *f = *state;
    enroll_all(f);
    sight(f, 0, 1, 1, "203.0.113.7", "r.ssh", 100);
    sight(f, 1, 1, 1, "203.0.113.7", "r.ssh", 110); /* a2: the same organisation */
    correlate_at(f, 0, 200);
    ward_feed fd;
    feed_at(f, 200, &fd);
    assert_int_equal(fd.n, 0);
    assert_int_equal(fd.version, 0);
    assert_int_equal(fd.generated_ms, 200);
    feed_free(&fd);
}

static void test_store_correlate_two_orgs_become_regional(void **state) {
    fx *f = *state;
    enroll_all(f);
    sight(f, 0, 1, 1, "203.0.113.7", "r.ssh", 100);
    sight(f, 2, 1, 1, "203.0.113.7", "r.http", 150);
    sight(f, 1, 1, 1, "203.0.113.7", "r.ssh", 120);
    sight(f, 2, 1, 2, "198.51.100.9", "r.ssh", 130); /* one organisation only */
    correlate_at(f, 50, 200);
    ward_feed fd;
    feed_at(f, 200, &fd);
    assert_int_equal(fd.n, 1);
    char id[32];
    expect_id("src_ip", "203.0.113.7", id);
    assert_string_equal(fd.v[0].regional_id, id);
    assert_string_equal(fd.v[0].field, "src_ip");
    assert_string_equal(fd.v[0].value, "203.0.113.7");
    assert_string_equal(fd.v[0].rules, "r.http,r.ssh");
    assert_int_equal(fd.v[0].first_ms, 100);
    assert_int_equal(fd.v[0].last_ms, 150);
    assert_int_equal(fd.v[0].expires_ms, 150 + TTL);
    assert_int_equal(fd.v[0].norgs, 2);
    uint64_t v1 = fd.version;
    assert_true(v1 > 0);
    feed_free(&fd);

    /* nothing new: the version stays */
    correlate_at(f, 50, 300);
    feed_at(f, 300, &fd);
    assert_int_equal(fd.n, 1);
    assert_int_equal(fd.version, v1);
    feed_free(&fd);

    /* a third organisation and another rule: changed, a new version */
    sight(f, 3, 1, 1, "203.0.113.7", "r.ftp", 400);
    correlate_at(f, 50, 450);
    feed_at(f, 450, &fd);
    assert_int_equal(fd.n, 1);
    assert_true(fd.version > v1);
    assert_string_equal(fd.v[0].rules, "r.ftp,r.http,r.ssh");
    assert_int_equal(fd.v[0].norgs, 3);
    assert_int_equal(fd.v[0].first_ms, 100);
    assert_int_equal(fd.v[0].last_ms, 400);
    assert_int_equal(fd.v[0].expires_ms, 400 + TTL);
    uint64_t v2 = fd.version;
    feed_free(&fd);

    /* the window slides past the early sightings: the row keeps what it knew */
    correlate_at(f, 390, 460);
    feed_at(f, 460, &fd);
    assert_int_equal(fd.version, v2);
    assert_int_equal(fd.v[0].first_ms, 100);
    feed_free(&fd);

    /* the same version from a second handle on the same store */
    store s2;
    assert_int_equal(open_store(f, &s2), 0);
    assert_int_equal(s2.ops->correlate(&s2, 50, 470, 2, TTL, f->err, 512), 0);
    assert_int_equal(s2.ops->feed(&s2, 470, &fd, f->err, 512), 0);
    assert_int_equal(fd.version, v2);
    assert_int_equal(fd.n, 1);
    feed_free(&fd);
    s2.ops->close(&s2);

    ward_buf buf;
    ward_buf_init(&buf);
    ward_jw w;
    ward_jw_init(&w, &buf);
    assert_int_equal(f->s.ops->stats(&f->s, &w, f->err, 512), 0);
    assert_non_null(strstr(ward_buf_cstr(&buf), "\"regional_indicators\":1"));
    ward_buf_fini(&buf);
}

static void test_store_correlate_outside_window(void **state) {
    fx *f = *state;
    enroll_all(f);
    sight(f, 0, 1, 1, "203.0.113.7", "r.ssh", 100); /* before the window */
    sight(f, 2, 1, 1, "203.0.113.7", "r.ssh", 500);
    sight(f, 2, 1, 2, "203.0.113.8", "r.ssh", 900); /* after now */
    sight(f, 0, 1, 2, "203.0.113.8", "r.ssh", 450);
    correlate_at(f, 400, 600);
    ward_feed fd;
    feed_at(f, 600, &fd);
    assert_int_equal(fd.n, 0);
    assert_int_equal(fd.version, 0);
    feed_free(&fd);
    /* later: the sighting dated 900 waited for now to reach it; with it 203.0.113.8 is
     * seen at two organisations within the window. 203.0.113.7 has nothing new. */
    correlate_at(f, 400, 1000);
    feed_at(f, 1000, &fd);
    assert_int_equal(fd.n, 1);
    assert_string_equal(fd.v[0].value, "203.0.113.8");
    assert_int_equal(fd.v[0].first_ms, 450);
    assert_int_equal(fd.v[0].last_ms, 900);
    assert_int_equal(fd.v[0].norgs, 2);
    feed_free(&fd);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM pending_sightings"), 0);
    /* k = 1: only what is new is looked at (the rows only grow, so nothing is missed) */
    sight(f, 0, 1, 3, "203.0.113.9", "r.ssh", 1000);
    assert_int_equal(f->s.ops->correlate(&f->s, 400, 1000, 1, TTL, f->err, 512), 0);
    feed_at(f, 1000, &fd);
    assert_int_equal(fd.n, 2);
    assert_string_equal(fd.v[1].value, "203.0.113.9");
    assert_int_equal(fd.v[1].norgs, 1);
    feed_free(&fd);
    assert_int_equal(f->s.ops->correlate(&f->s, 0, 600, 0, TTL, f->err, 512), -1);
    assert_non_null(strstr(f->err, "k must be at least 1"));
}

static void test_store_correlate_expiry(void **state) {
    fx *f = *state;
    enroll_all(f);
    sight(f, 0, 1, 1, "203.0.113.7", "r.ssh", 100);
    sight(f, 2, 1, 1, "203.0.113.7", "r.ssh", 150);
    correlate_at(f, 0, 200);
    ward_feed fd;
    feed_at(f, 150 + TTL - 1, &fd);
    assert_int_equal(fd.n, 1);
    uint64_t v1 = fd.version;
    feed_free(&fd);
    feed_at(f, 150 + TTL, &fd); /* expired: gone from the feed */
    assert_int_equal(fd.n, 0);
    feed_free(&fd);
    /* a correlation after the expiry drops the row (a change) and, the sightings being
     * old, does not bring it back */
    correlate_at(f, 0, 150 + TTL + 10);
    feed_at(f, 150 + TTL + 10, &fd);
    assert_int_equal(fd.n, 0);
    assert_true(fd.version > v1);
    uint64_t v2 = fd.version;
    feed_free(&fd);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM regional"), 0);
    correlate_at(f, 0, 150 + TTL + 20);
    feed_at(f, 150 + TTL + 20, &fd);
    assert_int_equal(fd.version, v2);
    feed_free(&fd);
    /* retention deletes expired rows too */
    sight(f, 0, 1, 2, "203.0.113.9", "r.ssh", 2000);
    sight(f, 2, 1, 2, "203.0.113.9", "r.ssh", 2000);
    correlate_at(f, 1500, 2100);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM regional"), 1);
    uint64_t deleted;
    assert_int_equal(f->s.ops->retention(&f->s, 2000 + TTL + 1, &deleted, f->err, 512), 0);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM regional"), 0);
}

/* ---- opening ---- */

static void test_store_migrations(void **state) {
    fx *f = *state;
    enroll_all(f);
    /* a second open of a store at the current version changes nothing */
    store s2;
    assert_int_equal(open_store(f, &s2), 0);
    store_agent a;
    assert_int_equal(s2.ops->agent_by_key(&s2, f->key[1], &a, f->err, 512), 1);
    s2.ops->close(&s2);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM schema_version"), 2);
    assert_int_equal(f->b->sql(f->target, "SELECT MAX(version) FROM schema_version"), 2);
    /* a store at version 1 (made by the first program, with sightings) is brought up to
     * date in order: migration 2 queues what it has for one more correlation */
    sight(f, 0, 1, 1, "203.0.113.7", "r.ssh", 100);
    sight(f, 2, 1, 1, "203.0.113.7", "r.ssh", 150);
    sight(f, 2, 1, 2, "203.0.113.7", "r.ssh", 160);
    assert_int_equal(f->b->sql(f->target, "DROP TABLE pending_sightings"), 0);
    assert_int_equal(f->b->sql(f->target, "DELETE FROM schema_version WHERE version = 2"), 0);
    assert_int_equal(open_store(f, &s2), 0);
    assert_int_equal(f->b->sql(f->target, "SELECT MAX(version) FROM schema_version"), 2);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM pending_sightings"), 1);
    assert_int_equal(s2.ops->correlate(&s2, 0, 200, 2, TTL, f->err, 512), 0);
    ward_feed fd;
    assert_int_equal(s2.ops->feed(&s2, 200, &fd, f->err, 512), 0);
    assert_int_equal(fd.n, 1);
    assert_int_equal(fd.v[0].last_ms, 160);
    feed_free(&fd);
    s2.ops->close(&s2);
    /* a store from a newer program is refused */
    assert_int_equal(
        f->b->sql(f->target, "INSERT INTO schema_version (version, applied_ms) VALUES (99, 0)"), 0);
    memset(&s2, 0, sizeof(s2));
    assert_int_equal(open_store(f, &s2), -1);
    assert_null(s2.impl);
    assert_non_null(strstr(f->err, "schema version 99 is newer than this program knows (2)"));
}

/* SQLite only: a new store file is private to its owner. */
static void test_store_sqlite_file_private(void **state) {
    fx *f = *state;
    struct stat st;
    assert_int_equal(stat(f->target, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char p[600];
    snprintf(p, sizeof(p), "%s/no/such/dir/x.db", tmpdir);
    store s = {f->b->ops, NULL};
    assert_int_equal(s.ops->open(&s, p, f->err, sizeof(f->err)), -1);
    char want[700];
    snprintf(want, sizeof(want), "%s: cannot create: No such file or directory", p);
    assert_string_equal(f->err, want);
}

/* PostgreSQL only: the server restarts under an open handle; the operation that finds
 * the connection broken fails (the caller retries) and the next one reconnects. */
static void test_store_pg_reconnects(void **state) {
    fx *f = *state;
    enroll_all(f);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "sh tests/lib/pg.sh restart '%s'", pg_conn);
    assert_int_equal(system(cmd), 0);
    batch b;
    uint64_t acked = 0;
    size_t stored = 0;
    make_batch(&b, 1, 3, 100);
    int rc = store_b(f, 0, 1, &b, NULL, 0, &acked, &stored);
    if (rc != 0) {
        assert_int_equal(rc, -1);
        rc = store_b(f, 0, 1, &b, NULL, 0, &acked, &stored);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(acked, 3);
    assert_int_equal(stored, 3);
    store_agent a;
    assert_int_equal(f->s.ops->agent_by_key(&f->s, f->key[3], &a, f->err, 512), 1);
}

static void test_store_open_bad_target(void **state) {
    fx *f = *state;
    char target[512], expect[512];
    f->b->bad_target(target, sizeof(target), expect, sizeof(expect));
    store s = {f->b->ops, NULL};
    assert_int_equal(s.ops->open(&s, target, f->err, sizeof(f->err)), -1);
    assert_null(s.impl);
    if (!strstr(f->err, expect))
        fail_msg("error \"%s\" does not contain \"%s\"", f->err, expect);
}

/* ---- two processes ---- */

#define CONC_N 1500

/* What a child does with its own handle; fills out[2] and returns its exit status. */
typedef int (*child_fn)(fx *f, store *s, int i, size_t out[2]);

/* Forks two children that open their own handles, waits until both have, lets them go
 * at once and collects what each reports. Asserts that both exited 0. */
static void two_children(fx *f, child_fn fn, size_t out[2][2]) {
    int fds[2][2], go[2];
    pid_t pid[2];
    assert_int_equal(pipe(go), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pipe(fds[i]), 0);
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            store s;
            size_t res[2] = {0, 0};
            char c;
            close(fds[i][0]);
            close(go[1]);
            if (open_store(f, &s) < 0) {
                fprintf(stderr, "child: %s\n", f->err);
                _exit(2);
            }
            if (read(go[0], &c, 1) != 0) /* both start when the parent closes the pipe */
                _exit(3);
            int rc = fn(f, &s, i, res);
            if (rc)
                fprintf(stderr, "child: %s\n", f->err);
            s.ops->close(&s);
            if (write(fds[i][1], res, sizeof(res)) != sizeof(res))
                rc = 4;
            _exit(rc);
        }
        close(fds[i][1]);
    }
    close(go[0]);
    usleep(100000); /* both have opened their handles */
    close(go[1]);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(read(fds[i][0], out[i], sizeof(out[i])), sizeof(out[i]));
        close(fds[i][0]);
        int st = 0;
        assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

/* The same batches 1..CONC_N in chunks of 7 (child 0) or 5 (child 1), each retried until
 * stored: out = {stored, retries}. */
static int child_store(fx *f, store *s, int i, size_t out[2]) {
    size_t step = i ? 5 : 7;
    batch *b = malloc(sizeof(*b));
    if (!b)
        return 5;
    int rc = 1;
    for (uint64_t first = 1; first <= CONC_N;) {
        size_t n = first + step - 1 > CONC_N ? CONC_N - first + 1 : step;
        make_batch(b, first, n, (int64_t)first);
        store_sighting sg = {"src_ip", "192.0.2.77", "r.c", (int64_t)first, first};
        uint64_t acked = 0;
        size_t stored = 0;
        int r =
            s->ops->store_batch(s, f->id[0], 1, b->v, n, &sg, 1, 1, &acked, &stored, f->err, 512);
        if (r == -1 && ++out[1] < 2000) { /* busy: retry */
            usleep(1000);
            continue;
        }
        if (r != 0 || acked < first + n - 1)
            goto out;
        out[0] += stored;
        first += n;
    }
    rc = 0;
out:
    free(b);
    return rc;
}

static void test_store_concurrent_exactly_once(void **state) {
    fx *f = *state;
    enroll_all(f);
    size_t out[2][2];
    two_children(f, child_store, out);
    assert_int_equal(out[0][0] + out[1][0], CONC_N);
    /* the progress row's lock (the write lock in SQLite) serialises them: neither ever
     * has to fall back on the UNIQUE constraint and retry */
    assert_int_equal(out[0][1], 0);
    assert_int_equal(out[1][1], 0);
    uint64_t acked = 0;
    assert_int_equal(f->s.ops->acked(&f->s, f->id[0], 1, &acked, f->err, 512), 0);
    assert_int_equal(acked, CONC_N);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM alerts"), CONC_N);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(DISTINCT seq) FROM alerts"), CONC_N);
    /* each batch's sighting (on its first alert) once, whichever child stored it */
    int64_t sightings = f->b->sql(f->target, "SELECT COUNT(*) FROM sightings");
    int64_t distinct = f->b->sql(f->target, "SELECT COUNT(DISTINCT time_ms) FROM sightings");
    assert_int_equal(sightings, distinct);
}

/* Correlates 20 times and reads the feed: out = {feed version, entries}. */
static int child_correlate(fx *f, store *s, int i, size_t out[2]) {
    (void)i;
    ward_feed fd;
    for (int k = 0; k < 20; k++)
        if (s->ops->correlate(s, 0, 1000, 2, TTL, f->err, 512) < 0)
            return 1;
    if (s->ops->feed(s, 1000, &fd, f->err, 512) < 0)
        return 1;
    out[0] = fd.version;
    out[1] = fd.n;
    feed_free(&fd);
    return 0;
}

/* Two collectors correlating one database at once publish one version: the first
 * correlation makes the change, every other one finds nothing to change. */
static void test_store_concurrent_correlate(void **state) {
    fx *f = *state;
    enroll_all(f);
    batch b;
    store_sighting sg[40];
    char values[40][32];
    uint64_t acked;
    size_t stored;
    for (int who = 0; who < 4; who += 2) { /* north and south */
        make_batch(&b, 1, 40, 100);
        for (int i = 0; i < 40; i++) {
            snprintf(values[i], sizeof(values[i]), "198.51.100.%d", i);
            sg[i] = (store_sighting){"src_ip", values[i], "r.x", 100 + i, (uint64_t)i + 1};
        }
        assert_int_equal(store_b(f, who, 1, &b, sg, 40, &acked, &stored), 0);
    }
    size_t out[2][2];
    two_children(f, child_correlate, out);
    assert_int_equal(out[0][0], 1);
    assert_int_equal(out[1][0], 1);
    assert_int_equal(out[0][1], 40);
    assert_int_equal(out[1][1], 40);
    assert_int_equal(f->b->sql(f->target, "SELECT COUNT(*) FROM regional WHERE version = 1"), 40);
}

/* ---- the table ---- */

#define STORE_TESTS(be)                                                                            \
    cmocka_unit_test_prestate_setup_teardown(test_store_enroll_lookup_revoke_list, setup,          \
                                             teardown, (void *)&be),                               \
        cmocka_unit_test_prestate_setup_teardown(test_store_enroll_refuses_bad_arguments, setup,   \
                                                 teardown, (void *)&be),                           \
        cmocka_unit_test_prestate_setup_teardown(test_store_batch_exactly_once, setup, teardown,   \
                                                 (void *)&be),                                     \
        cmocka_unit_test_prestate_setup_teardown(test_store_batch_partial_overlap, setup,          \
                                                 teardown, (void *)&be),                           \
        cmocka_unit_test_prestate_setup_teardown(test_store_batch_queues_each_indicator_once,      \
                                                 setup, teardown, (void *)&be),                    \
        cmocka_unit_test_prestate_setup_teardown(test_store_batch_gap_refused, setup, teardown,    \
                                                 (void *)&be),                                     \
        cmocka_unit_test_prestate_setup_teardown(test_store_batch_failure_rolls_back, setup,       \
                                                 teardown, (void *)&be),                           \
        cmocka_unit_test_prestate_setup_teardown(test_store_acked_per_epoch, setup, teardown,      \
                                                 (void *)&be),                                     \
        cmocka_unit_test_prestate_setup_teardown(test_store_query_filters, setup, teardown,        \
                                                 (void *)&be),                                     \
        cmocka_unit_test_prestate_setup_teardown(test_store_query_json_bytes_and_stop, setup,      \
                                                 teardown, (void *)&be),                           \
        cmocka_unit_test_prestate_setup_teardown(test_store_stats, setup, teardown, (void *)&be),  \
        cmocka_unit_test_prestate_setup_teardown(test_store_retention, setup, teardown,            \
                                                 (void *)&be),                                     \
        cmocka_unit_test_prestate_setup_teardown(test_store_correlate_one_org_stays_local, setup,  \
                                                 teardown, (void *)&be),                           \
        cmocka_unit_test_prestate_setup_teardown(test_store_correlate_two_orgs_become_regional,    \
                                                 setup, teardown, (void *)&be),                    \
        cmocka_unit_test_prestate_setup_teardown(test_store_correlate_outside_window, setup,       \
                                                 teardown, (void *)&be),                           \
        cmocka_unit_test_prestate_setup_teardown(test_store_correlate_expiry, setup, teardown,     \
                                                 (void *)&be),                                     \
        cmocka_unit_test_prestate_setup_teardown(test_store_migrations, setup, teardown,           \
                                                 (void *)&be),                                     \
        cmocka_unit_test_prestate_setup_teardown(test_store_open_bad_target, setup, teardown,      \
                                                 (void *)&be),                                     \
        cmocka_unit_test_prestate_setup_teardown(test_store_concurrent_exactly_once, setup,        \
                                                 teardown, (void *)&be),                           \
        cmocka_unit_test_prestate_setup_teardown(test_store_concurrent_correlate, setup, teardown, \
                                                 (void *)&be)

int main(void) {
    const struct CMUnitTest sqlite_tests[] = {
        STORE_TESTS(be_sqlite),
        cmocka_unit_test_prestate_setup_teardown(test_store_sqlite_file_private, setup, teardown,
                                                 (void *)&be_sqlite),
        cmocka_unit_test_prestate_setup_teardown(test_store_group_gap_and_replay_leave_the_rest,
                                                 setup, teardown, (void *)&be_sqlite),
        cmocka_unit_test_prestate_setup_teardown(test_store_group_error_fails_all, setup, teardown,
                                                 (void *)&be_sqlite),
        cmocka_unit_test(test_store_rules_set),
    };
    const struct CMUnitTest pg_tests[] = {
        STORE_TESTS(be_pg),
        cmocka_unit_test_prestate_setup_teardown(test_store_pg_reconnects, setup, teardown,
                                                 (void *)&be_pg),
    };
    int failed = cmocka_run_group_tests_name("sqlite", sqlite_tests, group_sqlite_setup,
                                             group_sqlite_teardown);
    failed +=
        cmocka_run_group_tests_name("postgresql", pg_tests, group_pg_setup, group_pg_teardown);
    return failed ? 1 : 0;
}
