/* ward-collector's configuration: the structure, and the table (config.c) that declares
 * every key once: name, type, default, range and help. docs/collector.md is made from it. */
#ifndef WARD_COLLECTOR_CONFIG_H
#define WARD_COLLECTOR_CONFIG_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ward/config.h"

#define COLLECTOR_DEFAULT_CONFIG "/etc/ward/collector.yml"

#define COLL_MAX_IND_FIELDS 16 /* region.indicator_fields at most (COLL_MAX_IND) */

enum { STORE_SQLITE = 0, STORE_POSTGRESQL };

/* One allow-list entry, parsed: a network (family AF_INET/AF_INET6, bits of prefix) or
 * an exact value (family 0). */
typedef struct coll_allow {
    int family;
    uint8_t addr[16];
    unsigned bits;
    const char *value; /* the configured text (points into the configuration) */
} coll_allow;

typedef struct coll_cfg {
    struct {
        char *state_dir; /* keys, the demo CA, the SQLite file, the stats file */
        char *listen;    /* ADDR:PORT */
        char *user;      /* started as root, the collector becomes this user */
        int sandbox;     /* no_new_privs, seccomp and Landlock (false: debugging) */
    } collector;
    struct {
        char *cert, *key; /* NULL: the demo CA's server certificate in STATE_DIR/tls */
    } tls;
    struct {
        int type;
        char *path;     /* sqlite; NULL: STATE_DIR/collector.db */
        char *conninfo; /* postgresql */
    } store;
    struct {
        int64_t max_connections;
        uint64_t max_frame;
        uint64_t max_batch_bytes;
        int64_t max_ratio;
        int64_t max_batch_alerts;
        uint64_t idle_timeout_ms;
        uint64_t write_buffer;
    } limits;
    struct {
        char **indicator_fields;
        size_t nindicator_fields;
        int64_t min_orgs;
        uint64_t window_ms;
        uint64_t ttl_ms;
        char **allow;
        size_t nallow;
        uint64_t interval_ms;
    } region;
    struct {
        uint64_t interval_ms;
        char *file; /* NULL: STATE_DIR/stats.json */
    } stats;
    int64_t retention_days;
    /* derived by the check (not keys) */
    coll_allow *allow; /* nallow entries, owned */
    char *db_path;     /* the SQLite file, owned */
    char *stats_path;  /* owned */
} coll_cfg;

extern const ward_cfg_table coll_cfg_table;

/* Loads the configuration at path into cfg (zeroed first); every error goes to err as
 * file:line:col: message. When path is the default and does not exist, the built-in
 * defaults are used, with state_dir ./state-collector. Returns 0 or -1; cfg must be freed with
 * coll_cfg_free either way. */
int coll_cfg_load(const char *path, coll_cfg *cfg, FILE *err);

void coll_cfg_free(coll_cfg *cfg);

/* Splits "ADDR:PORT" or "[V6]:PORT" into host (hostlen bytes with its NUL) and port
 * (8 bytes). Returns 0, or -1 with err. */
int coll_cfg_parse_listen(const char *v, char *host, size_t hostlen, char *port, char *err,
                          size_t errlen);

/* Parses an allow-list entry: a CIDR (v4 or v6), an address, or any other value. Returns
 * 0, or -1 with err (a CIDR whose prefix or address does not parse). */
int coll_allow_parse(const char *s, coll_allow *out, char *err, size_t errlen);

/* 1 when value is allow-listed by one of the n entries (an address inside a network,
 * or an exact value), else 0. */
int coll_allow_match(const coll_allow *v, size_t n, const char *value);

#endif
