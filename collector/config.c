/* ward-collector's configuration table: every key, declared once.
 *
 * As in the agent, the sections are members of coll_cfg and their tables give offsets in
 * coll_cfg, so one offsetof form serves every key. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SZ(x) (int64_t)(x)
#define MS(x) (int64_t)(x)
#define CFG(f) offsetof(coll_cfg, f)
#define NKEYS(k) (sizeof(k) / sizeof((k)[0]))

static const char *const store_types[] = {"sqlite", "postgresql", NULL};

int coll_cfg_parse_listen(const char *v, char *host, size_t hostlen, char *port, char *err,
                          size_t errlen) {
    const char *colon, *h = v;
    size_t hl;
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "an IPv6 address goes in brackets with a port, as in [::1]:6514");
            return -1;
        }
        h++;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(h, ':');
        if (!colon) {
            snprintf(err, errlen, "a port is needed, as in 127.0.0.1:6514");
            return -1;
        }
        hl = (size_t)(colon - h);
        if (memchr(h, ':', hl)) {
            snprintf(err, errlen, "an IPv6 address goes in brackets, as in [::1]:6514");
            return -1;
        }
    }
    if (hl == 0 || hl >= hostlen) {
        snprintf(err, errlen, "an address is needed before the port (0.0.0.0 or [::] for all)");
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    const char *p = colon + 1;
    size_t pl = strlen(p);
    unsigned long pv = 0;
    int badport = pl == 0 || pl > 5;
    for (size_t i = 0; i < pl && !badport; i++) {
        if (p[i] < '0' || p[i] > '9')
            badport = 1;
        pv = pv * 10 + (unsigned long)(p[i] - '0');
    }
    /* 0: any free port (tests; the log says which) */
    if (badport || pv > 65535) {
        snprintf(err, errlen, "the port must be a number from 0 to 65535, not '%s'", p);
        return -1;
    }
    snprintf(port, 8, "%lu", pv);
    return 0;
}

static int parse_addr(const char *s, size_t n, uint8_t addr[16], int *family) {
    char buf[64];
    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, addr) == 1) {
        *family = AF_INET6;
        return 0;
    }
    return -1;
}

int coll_allow_parse(const char *s, coll_allow *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    out->value = s;
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (parse_addr(s, n, out->addr, &out->family) < 0) {
        if (slash) {
            snprintf(err, errlen, "'%s': not an IPv4 or IPv6 network (ADDR/BITS)", s);
            return -1;
        }
        out->family = 0; /* a plain value: matched exactly */
        return 0;
    }
    unsigned max = out->family == AF_INET ? 32 : 128;
    out->bits = max;
    if (slash) {
        char *end;
        errno = 0;
        unsigned long b = strtoul(slash + 1, &end, 10);
        if (!slash[1] || *end || errno || b > max) {
            snprintf(err, errlen, "'%s': the prefix length must be 0 to %u", s, max);
            return -1;
        }
        out->bits = (unsigned)b;
    }
    return 0;
}

static int prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits) {
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return 0;
    if (!rest)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

int coll_allow_match(const coll_allow *v, size_t n, const char *value) {
    uint8_t a[16], a4[4];
    int fam = 0, has4 = 0;
    if (parse_addr(value, strlen(value), a, &fam) < 0)
        fam = 0;
    if (fam == AF_INET) {
        memcpy(a4, a, 4);
        has4 = 1;
    } else if (fam == AF_INET6) {
        /* ::ffff:a.b.c.d is an IPv4 address too: an IPv4 network covers it */
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, 12) == 0) {
            memcpy(a4, a + 12, 4);
            has4 = 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const coll_allow *e = &v[i];
        if (e->family == 0) {
            if (strcmp(e->value, value) == 0)
                return 1;
        } else if (e->family == AF_INET && has4) {
            if (prefix_eq(a4, e->addr, e->bits))
                return 1;
        } else if (e->family == AF_INET6 && fam == AF_INET6) {
            if (prefix_eq(a, e->addr, e->bits))
                return 1;
        }
    }
    return 0;
}

static const ward_cfg_key collector_keys[] = {
    {"state_dir", WARD_CFG_STR, CFG(collector.state_dir), 0, "/var/lib/ward-collector", 0, 0, NULL,
     NULL, 0,
     "Where the feed-signing key, the demo CA, the SQLite database and the stats file are "
     "kept; the collector's user must own it."},
    {"listen", WARD_CFG_STR, CFG(collector.listen), 0, "127.0.0.1:6514", 0, 0, NULL, NULL, 0,
     "Address and port agents connect to (TLS), ADDR:PORT or [V6]:PORT; 0.0.0.0:6514 or "
     "[::]:6514 for every address."},
    {"user", WARD_CFG_STR, CFG(collector.user), 0, "ward-collector", 0, 0, NULL, NULL, 0,
     "Started as root, the collector and its commands become this user before they touch "
     "the state or the store, and refuse to start when the user does not exist "
     "(--insecure-run-as-root stays root). The listening port must then be 1024 or above."},
    {"sandbox", WARD_CFG_BOOL, CFG(collector.sandbox), 0, "true", 0, 0, NULL, NULL, 0,
     "Confine the running collector: no new privileges, a seccomp allow-list of system "
     "calls, and Landlock over the file system where the kernel has it (false: for "
     "debugging only)."},
};
static const ward_cfg_table collector_table = {"collector", collector_keys, NKEYS(collector_keys),
                                               sizeof(coll_cfg), NULL};

static const ward_cfg_key tls_keys[] = {
    {"cert", WARD_CFG_STR, CFG(tls.cert), 0, NULL, 0, 0, NULL, NULL, 0,
     "The server certificate chain (PEM). Unset: a demo CA and a certificate for localhost, "
     "127.0.0.1 and ::1 are made in STATE_DIR/tls on first start (agents use "
     "STATE_DIR/tls/ca.pem)."},
    {"key", WARD_CFG_STR, CFG(tls.key), 0, NULL, 0, 0, NULL, NULL, 0,
     "The certificate's private key (PEM; refused when readable by group or others)."},
};
static const ward_cfg_table tls_table = {"tls", tls_keys, NKEYS(tls_keys), sizeof(coll_cfg), NULL};

static const ward_cfg_key store_keys[] = {
    {"type", WARD_CFG_ENUM, CFG(store.type), 0, "sqlite", 0, 0, store_types, NULL, 0,
     "sqlite (one file, nothing to install) or postgresql (several collectors of a region "
     "sharing one database)."},
    {"path", WARD_CFG_STR, CFG(store.path), 0, NULL, 0, 0, NULL, NULL, 0,
     "sqlite: the database file (default STATE_DIR/collector.db)."},
    {"conninfo", WARD_CFG_STR, CFG(store.conninfo), 0, NULL, 0, 0, NULL, NULL, 0,
     "postgresql: a libpq connection string (\"host=/run/postgresql dbname=ward\")."},
};
static const ward_cfg_table store_table = {"store", store_keys, NKEYS(store_keys), sizeof(coll_cfg),
                                           NULL};

static const ward_cfg_key limits_keys[] = {
    {"max_connections", WARD_CFG_INT, CFG(limits.max_connections), 0, "4096", 1, 1000000, NULL,
     NULL, 0, "Agent connections at once; more are closed at once and counted."},
    {"max_frame", WARD_CFG_SIZE, CFG(limits.max_frame), 0, "16M", 1024, SZ(1) << 30, NULL, NULL, 0,
     "Longest frame accepted; a longer one is refused (too large) and the connection closed."},
    {"max_batch_bytes", WARD_CFG_SIZE, CFG(limits.max_batch_bytes), 0, "64M", 1024, SZ(4) << 30,
     NULL, NULL, 0,
     "Largest inflated batch (its raw_len); larger ones are refused before "
     "anything is inflated."},
    {"max_ratio", WARD_CFG_INT, CFG(limits.max_ratio), 0, "100", 1, 100000, NULL, NULL, 0,
     "Largest ratio of inflated to compressed size; over it a batch is a decompression bomb."},
    {"max_batch_alerts", WARD_CFG_INT, CFG(limits.max_batch_alerts), 0, "100000", 1, 10000000, NULL,
     NULL, 0,
     "Alerts in one batch at most (the agent's collector.batch_max_records must not be "
     "larger); a batch with more is refused (too large) before anything is inflated."},
    {"idle_timeout", WARD_CFG_DURATION, CFG(limits.idle_timeout_ms), 0, "10m", MS(1000),
     MS(86400000), NULL, NULL, 0, "A connection that sends nothing for this long is closed."},
    {"write_buffer", WARD_CFG_SIZE, CFG(limits.write_buffer), 0, "4M", SZ(64) << 10, SZ(1) << 30,
     NULL, NULL, 0,
     "Replies queued for one connection at most; past it the collector stops reading from "
     "that agent until it reads its replies."},
};
static const ward_cfg_table limits_table = {"limits", limits_keys, NKEYS(limits_keys),
                                            sizeof(coll_cfg), NULL};

static const ward_cfg_key region_keys[] = {
    {"indicator_fields", WARD_CFG_STRLIST, CFG(region.indicator_fields),
     CFG(region.nindicator_fields), "src_ip", 0, 0, NULL, NULL, 0,
     "Alert fields tracked as indicators: a plain name is looked up under ward.extracted, "
     "then ward.fields; a dotted name (source.ip) is a path from the alert's root."},
    {"min_orgs", WARD_CFG_INT, CFG(region.min_orgs), 0, "2", 1, 10000, NULL, NULL, 0,
     "Organisations that must alert on an indicator within the window for it to become "
     "regional."},
    {"window", WARD_CFG_DURATION, CFG(region.window_ms), 0, "1h", MS(1000), MS(30) * 86400000, NULL,
     NULL, 0, "How far back sightings count."},
    {"ttl", WARD_CFG_DURATION, CFG(region.ttl_ms), 0, "24h", MS(1000), MS(365) * 86400000, NULL,
     NULL, 0, "A feed entry expires this long after its indicator was last seen."},
    {"allow", WARD_CFG_STRLIST, CFG(region.allow), CFG(region.nallow), NULL, 0, 0, NULL, NULL, 0,
     "Never indicators: IPv4 and IPv6 networks (192.0.2.0/24, 2001:db8::/32), addresses and "
     "exact values (shared gateways, CDNs, carrier NAT). Their sightings are counted, not "
     "stored."},
    {"interval", WARD_CFG_DURATION, CFG(region.interval_ms), 0, "500ms", MS(10), MS(600000), NULL,
     NULL, 0,
     "How often correlation runs (soon after a batch with sightings, at most this often "
     "otherwise) and a changed feed is pushed to the agents."},
};
static const ward_cfg_table region_table = {"region", region_keys, NKEYS(region_keys),
                                            sizeof(coll_cfg), NULL};

static const ward_cfg_key stats_keys[] = {
    {"interval", WARD_CFG_DURATION, CFG(stats.interval_ms), 0, "5m", 0, MS(86400000), NULL, NULL, 0,
     "How often the counters are logged (0: never)."},
    {"file", WARD_CFG_STR, CFG(stats.file), 0, NULL, 0, 0, NULL, NULL, 0,
     "Where the counters are written as JSON, within a second of a change, on SIGUSR1 and at "
     "exit (default STATE_DIR/stats.json); `ward-collector stats` reads it."},
};
static const ward_cfg_table stats_table = {"stats", stats_keys, NKEYS(stats_keys), sizeof(coll_cfg),
                                           NULL};

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int check_root(void *obj, const ward_cfg_ctx *c) {
    coll_cfg *g = obj;
    int rc = 0;
    char host[256], port[8], err[256];
    if (coll_cfg_parse_listen(g->collector.listen, host, sizeof(host), port, err, sizeof(err)) < 0)
        rc = ward_cfg_error(c, "collector.listen '%.200s': %s", g->collector.listen, err);
    if ((g->tls.cert == NULL) != (g->tls.key == NULL))
        rc = ward_cfg_error(c, "tls.cert and tls.key go together (or neither, for the demo CA)");
    if (g->store.type == STORE_POSTGRESQL && !g->store.conninfo)
        rc = ward_cfg_error(c, "store.type postgresql needs store.conninfo");
    free(g->allow);
    g->allow = calloc(g->region.nallow ? g->region.nallow : 1, sizeof(*g->allow));
    if (!g->allow)
        return ward_cfg_error(c, "out of memory");
    for (size_t i = 0; i < g->region.nallow; i++)
        if (coll_allow_parse(g->region.allow[i], &g->allow[i], err, sizeof(err)) < 0)
            rc = ward_cfg_error(c, "region.allow[%zu]: %s", i, err);
    if (g->region.nindicator_fields > COLL_MAX_IND_FIELDS)
        rc = ward_cfg_error(c, "region.indicator_fields: at most %d fields", COLL_MAX_IND_FIELDS);
    for (size_t i = 0; i < g->region.nindicator_fields; i++) {
        const char *f = g->region.indicator_fields[i];
        if (!*f || strlen(f) >= 64)
            rc = ward_cfg_error(c, "region.indicator_fields[%zu]: 1 to 63 bytes", i);
    }
    free(g->db_path);
    free(g->stats_path);
    g->db_path =
        g->store.path ? strdup(g->store.path) : join(g->collector.state_dir, "collector.db");
    g->stats_path =
        g->stats.file ? strdup(g->stats.file) : join(g->collector.state_dir, "stats.json");
    if (!g->db_path || !g->stats_path)
        return ward_cfg_error(c, "out of memory");
    return rc;
}

static const ward_cfg_key root_keys[] = {
    {"collector", WARD_CFG_SECTION, 0, 0, NULL, 0, 0, NULL, &collector_table, 0,
     "The collector itself."},
    {"tls", WARD_CFG_SECTION, 0, 0, NULL, 0, 0, NULL, &tls_table, 0, "The listener's certificate."},
    {"store", WARD_CFG_SECTION, 0, 0, NULL, 0, 0, NULL, &store_table, 0, "Where alerts are kept."},
    {"limits", WARD_CFG_SECTION, 0, 0, NULL, 0, 0, NULL, &limits_table, 0,
     "Limits on connections, frames and batches."},
    {"region", WARD_CFG_SECTION, 0, 0, NULL, 0, 0, NULL, &region_table, 0,
     "Regional correlation and the feed."},
    {"stats", WARD_CFG_SECTION, 0, 0, NULL, 0, 0, NULL, &stats_table, 0, "Self-monitoring."},
    {"retention_days", WARD_CFG_INT, CFG(retention_days), 0, "90", 1, 36500, NULL, NULL, 0,
     "Alerts and sightings older than this many days are deleted (at start, then hourly)."},
};

const ward_cfg_table coll_cfg_table = {"", root_keys, NKEYS(root_keys), sizeof(coll_cfg),
                                       check_root};

#define BUILTIN "collector: {state_dir: state-collector}\n"

int coll_cfg_load(const char *path, coll_cfg *cfg, FILE *err) {
    ward_diags d;
    ward_diags_init(&d);
    memset(cfg, 0, sizeof(*cfg));
    struct stat st;
    int rc;
    if (strcmp(path, COLLECTOR_DEFAULT_CONFIG) == 0 && stat(path, &st) < 0 && errno == ENOENT)
        /* no configuration at all: what works on one machine for a try or the demo,
         * everything in ./state-collector */
        rc = ward_cfg_load_buffer(&coll_cfg_table, cfg, "(built-in defaults)",
                                  (const uint8_t *)BUILTIN, strlen(BUILTIN), &d);
    else
        rc = ward_cfg_load(&coll_cfg_table, cfg, path, &d);
    for (size_t i = 0; i < d.n; i++) {
        char buf[1024];
        ward_diag_format(&d.v[i], buf, sizeof(buf));
        fprintf(err, "%s\n", buf);
    }
    ward_diags_fini(&d);
    return rc < 0 ? -1 : 0;
}

void coll_cfg_free(coll_cfg *cfg) {
    ward_cfg_free(&coll_cfg_table, cfg);
    free(cfg->allow);
    free(cfg->db_path);
    free(cfg->stats_path);
    cfg->allow = NULL;
    cfg->db_path = cfg->stats_path = NULL;
}
