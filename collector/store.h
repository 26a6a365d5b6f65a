/* The collector's storage behind one small ops struct: store_sqlite.c (WAL, the
 * default) and store_pg.c (libpq, for several collectors on one database). Both keep
 * the same schema (schema_version table, migrations applied in order at open) and
 * give the same answers; every write that makes a batch stored is one transaction, so
 * storage is exactly once per (agent, epoch, seq) even with two collectors. */
#ifndef WARD_COLLECTOR_STORE_H
#define WARD_COLLECTOR_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ward/crypto.h"
#include "ward/feed.h"
#include "ward/json.h"

typedef struct store store;

typedef struct store_agent {
    int64_t id;
    char org[128];
    char name[128];
    uint8_t pubkey[WARD_PUBKEY_LEN];
    int revoked;
    int64_t enrolled_ms, revoked_ms;
} store_agent;

/* One alert of a batch, as stored: its sequence number, its JSON, and what the collector
 * read out of it for indexes and correlation. */
typedef struct store_alert {
    uint64_t seq;
    const uint8_t *json;
    size_t len;
    const char *rule;     /* rule.id */
    int level;            /* rule.level as a number, 0..5 (informational..critical) */
    int64_t time_ms;      /* the alert's @timestamp */
    const char *alert_id; /* the agent's id of the alert (id field) */
} store_alert;

typedef struct store_query {
    const char *org, *rule;     /* NULL: any */
    int64_t since_ms, until_ms; /* since <= time_ms <= until; 0: unbounded */
    int min_level;              /* 0: any */
    size_t limit;               /* 0: no limit */
} store_query;

/* A sighting for regional correlation: indicator value (and field) seen at org (the
 * agent's). seq names the alert of the batch it came from, so that a retransmitted
 * alert adds no sighting twice; 0: not known, stored when the batch stores anything.
 * field < 64 bytes, value < 256: longer is refused (a caller's bug); rule: any length
 * (the regional row's rule list keeps those that fit in 1023 bytes). */
typedef struct store_sighting {
    const char *field, *value, *rule;
    int64_t time_ms;
    uint64_t seq;
} store_sighting;

typedef struct store_regional { /* an indicator seen at norgs organisations */
    char regional_id[64];
    char field[64];
    char value[256];
    char rules[1024];
    int64_t first_ms, last_ms, expires_ms;
    uint32_t norgs;
} store_regional;

/* Callbacks of query and agents_list return 0 to go on; non-zero stops the iteration,
 * and the op returns -1 with err saying so. They must not use the same store handle
 * (PostgreSQL streams the rows on its connection). */
typedef int (*store_alert_fn)(void *ctx, const char *org, const char *agent, uint64_t seq,
                              const uint8_t *json, size_t len);

typedef struct store_ops {
    const char *name; /* "sqlite", "postgresql" */
    /* Opens the store at target (a file path, or a libpq conninfo), applying migrations.
     * Returns 0 or -1 with err. */
    int (*open)(store *s, const char *target, char *err, size_t errlen);
    void (*close)(store *s);
    /* Enrolment. enroll fails when the name or the key is already enrolled. */
    int (*enroll)(store *s, const char *org, const char *name, const uint8_t *pub, int64_t now_ms,
                  char *err, size_t errlen);
    int (*revoke)(store *s, const char *name, int64_t now_ms, char *err, size_t errlen);
    /* Looks an agent up by key. Returns 1 found, 0 not, -1 error. */
    int (*agent_by_key)(store *s, const uint8_t *pub, store_agent *out, char *err, size_t errlen);
    int (*agents_list)(store *s, int (*fn)(void *ctx, const store_agent *a), void *ctx, char *err,
                       size_t errlen);
    /* The highest contiguous seq stored for (agent, epoch); 0 when none. */
    int (*acked)(store *s, int64_t agent, uint64_t epoch, uint64_t *acked, char *err,
                 size_t errlen);
    /* Stores alerts seq first .. first + n - 1 of (agent, epoch) in one transaction:
     * those at or below the stored acked are skipped (already stored), first beyond
     * acked + 1 is refused (a gap: returns -2). Sets *acked to the new highest contiguous
     * seq and *stored to how many were new. Returns 0, -1 (error: retry), -2 (gap). */
    int (*store_batch)(store *s, int64_t agent, uint64_t epoch, const store_alert *v, size_t n,
                       const store_sighting *sg, size_t nsg, int64_t now_ms, uint64_t *acked,
                       size_t *stored, char *err, size_t errlen);
    /* Group commit (NULL where the backend has none: PostgreSQL). Between group_begin and
     * group_commit every store_batch runs inside one transaction, each in a savepoint of
     * its own: a gap or a replay undoes only its own batch and leaves the others of the
     * group as they are. Nothing of the group is durable, nor visible to another
     * connection, before group_commit returns 0; when it returns -1 (with err) none of
     * it is stored. An error of one store_batch (-1, not a gap) fails the whole group:
     * its commit returns -1. No other op may run while a group is open. */
    int (*group_begin)(store *s, char *err, size_t errlen);
    int (*group_commit)(store *s, char *err, size_t errlen);
    int (*query)(store *s, const store_query *q, store_alert_fn fn, void *ctx, char *err,
                 size_t errlen);
    /* Counts for `stats`, written as JSON members into w. */
    int (*stats)(store *s, ward_jw *w, char *err, size_t errlen);
    /* Deletes alerts and sightings older than before_ms (by time_ms), and regional rows
     * that expired before it; sets *deleted to the alerts deleted. */
    int (*retention)(store *s, int64_t before_ms, uint64_t *deleted, char *err, size_t errlen);
    /* Regional correlation: indicators whose sightings within [since_ms, now] come from
     * at least k organisations become (or stay) regional; their rows are upserted with
     * expires_ms = last_ms + ttl_ms. Then fills *feed with the unexpired regional
     * indicators and their version (the highest change counter). Only indicators with
     * sightings stored since the last correlate are looked at (a row only grows:
     * earliest first, latest last, most orgs, every rule, so nothing is missed); rows
     * expired at now_ms are dropped; the version goes up once per correlate that
     * changed anything. feed()
     * fills out (caller's storage; owns the strings after: ward_feed_fini). */
    int (*correlate)(store *s, int64_t since_ms, int64_t now_ms, unsigned k, int64_t ttl_ms,
                     char *err, size_t errlen);
    int (*feed)(store *s, int64_t now_ms, ward_feed *out, char *err, size_t errlen);
} store_ops;

struct store {
    const store_ops *ops;
    void *impl;
};

extern const store_ops store_sqlite_ops;
extern const store_ops store_pg_ops;

#endif
