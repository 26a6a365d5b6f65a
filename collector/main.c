/* ward-collector: command line. The daemon, and the commands an operator runs against
 * the same configuration and store: enroll, revoke, list, query, stats, feed, keygen. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector.h"
#include "ward/alert.h"
#include "ward/sandbox.h"

#define EXIT_USAGE 2

/* --insecure-run-as-root, or WARD_INSECURE_RUN_AS_ROOT=1: started as root, stay root */
static int allow_root;

static const char usage[] =
    "usage: ward-collector [-c FILE]                 run the collector (in the foreground)\n"
    "       ward-collector [-c FILE] --check         check the configuration, exit\n"
    "       ward-collector [-c FILE] COMMAND [ARGS]  (ward-collector COMMAND --help)\n"
    "       ward-collector --help-config\n"
    "\n"
    "Receives signed, compressed alert batches from ward agents over TLS, stores each alert\n"
    "exactly once, correlates indicators across organisations and publishes a signed feed\n"
    "of regional indicators back to the agents.\n"
    "\n"
    "Commands:\n"
    "  enroll --org ORG --agent NAME --pubkey FILE   enrol an agent's public key\n"
    "  revoke --agent NAME                           refuse the agent's key from now on\n"
    "  list [--json]                                 the enrolled agents\n"
    "  query [--org O] [--since T] [--until T] [--rule R] [--level L] [--limit N] [--json]\n"
    "                                                stored alerts\n"
    "  stats                                         the store's and the daemon's counters\n"
    "  feed --format list|nft [--table T --set S]    export the regional indicators\n"
    "  keygen                                        make the feed-signing key\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE  configuration (default " COLLECTOR_DEFAULT_CONFIG "; when it does\n"
    "                     not exist, the built-in defaults, state in ./state-collector)\n"
    "      --check        load the configuration, print every error, exit\n"
    "      --help-config  print every configuration key with its type, default and meaning\n"
    "      --insecure-run-as-root\n"
    "                     started as root, stay root instead of becoming collector.user\n"
    "                     (tests; " WARD_SANDBOX_ROOT_ENV "=1 does the same)\n"
    "  -V, --version      print the version\n"
    "  -h, --help         this text\n"
    "\n"
    "Signals: SIGHUP reloads the region, limits, retention and stats settings and reads the\n"
    "certificate again (the listener, state_dir and the store need a restart); SIGUSR1\n"
    "writes the stats file; SIGTERM and SIGINT stop.\n"
    "\n"
    "Exit status: 0 success; 1 configuration errors or a failure; 2 usage errors.\n";

static int check(const char *path) {
    coll_cfg cfg;
    int bad = coll_cfg_load(path, &cfg, stderr) < 0;
    if (!bad)
        printf("%s: configuration ok: listen %s, store %s, %zu indicator fields, %zu allow-list "
               "entries\n",
               path, cfg.collector.listen,
               cfg.store.type == STORE_POSTGRESQL ? "postgresql" : "sqlite",
               cfg.region.nindicator_fields, cfg.region.nallow);
    else
        fprintf(stderr, "%s: the configuration has errors\n", path);
    coll_cfg_free(&cfg);
    return bad ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- the commands ---- */

typedef struct cmd_env {
    coll_cfg cfg;
    store st;
    int open;
} cmd_env;

static int env_open(cmd_env *e, const char *cfg_path) {
    memset(e, 0, sizeof(*e));
    if (coll_cfg_load(cfg_path, &e->cfg, stderr) < 0) {
        fprintf(stderr, "%s: the configuration has errors\n", cfg_path);
        return -1;
    }
    /* as root, the commands become the collector's user too: a store or key they create
     * must stay the daemon's */
    if (coll_drop_user(&e->cfg, allow_root, stderr) < 0)
        return -1;
    char err[512];
    /* the first command may come before the first start (enrolment): the SQLite file
     * lives in the state directory */
    if (e->cfg.store.type == STORE_SQLITE && !e->cfg.store.path &&
        mkdir(e->cfg.collector.state_dir, 0750) < 0 && errno != EEXIST) {
        fprintf(stderr, "ward-collector: %s: cannot create: %s\n", e->cfg.collector.state_dir,
                strerror(errno));
        return -1;
    }
    if (coll_store_open(&e->cfg, &e->st, err, sizeof(err)) < 0) {
        fprintf(stderr, "ward-collector: store: %s\n", err);
        return -1;
    }
    e->open = 1;
    return 0;
}

static void env_close(cmd_env *e) {
    if (e->open)
        e->st.ops->close(&e->st);
    coll_cfg_free(&e->cfg);
}

/* The options every command takes. */
#define COMMON_OPTS                                                                                \
    {"config", required_argument, NULL, 'c'}, {                                                    \
        "help", no_argument, NULL, 'h'                                                             \
    }

/* A command's own option: 0 taken, -1 refused (fn printed why), 1 not one of its own. */
typedef int (*opt_fn)(void *ctx, int c, const char *arg);

/* getopt_long over a command's arguments: -c and --help here, the rest through fn (NULL:
 * none). Returns -1 to go on, or the exit status (help printed, a usage error). */
static int get_args(int argc, char **argv, const struct option *o, const char *help,
                    const char **cfg_path, opt_fn fn, void *ctx) {
    int c;
    while ((c = getopt_long(argc, argv, "c:h", o, NULL)) != -1) {
        if (c == 'c') {
            *cfg_path = optarg;
            continue;
        }
        if (c == 'h') {
            fputs(help, stdout);
            return EXIT_SUCCESS;
        }
        int r = c == '?' || !fn ? 1 : fn(ctx, c, optarg);
        if (r == 0)
            continue;
        if (r > 0)
            fputs(help, stderr);
        return EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "ward-collector: %s: unexpected argument '%s'\n", argv[0], argv[optind]);
        return EXIT_USAGE;
    }
    return -1;
}

typedef struct enroll_args {
    const char *org, *name, *pub;
} enroll_args;

static int enroll_opt(void *ctx, int c, const char *arg) {
    enroll_args *a = ctx;
    if (c == 'o')
        a->org = arg;
    else if (c == 'a')
        a->name = arg;
    else if (c == 'p')
        a->pub = arg;
    else
        return 1;
    return 0;
}

static int cmd_enroll(const char *cfg_path, int argc, char **argv) {
    static const char help[] =
        "usage: ward-collector enroll --org ORG --agent NAME --pubkey FILE\n"
        "Enrols the agent's public key (the agent's STATE_DIR/agent.pub, made "
        "by ward-agent keygen) for organisation ORG.\n";
    static const struct option o[] = {{"org", required_argument, NULL, 'o'},
                                      {"agent", required_argument, NULL, 'a'},
                                      {"pubkey", required_argument, NULL, 'p'},
                                      COMMON_OPTS,
                                      {NULL, 0, NULL, 0}};
    enroll_args a = {NULL, NULL, NULL};
    int r = get_args(argc, argv, o, help, &cfg_path, enroll_opt, &a);
    if (r >= 0)
        return r;
    const char *org = a.org, *name = a.name, *pub = a.pub;
    if (!org || !name || !pub) {
        fputs(help, stderr);
        return EXIT_USAGE;
    }
    if (!*org || strlen(org) >= 128 || !*name || strlen(name) >= 128) {
        fprintf(stderr, "ward-collector: enroll: --org and --agent must be 1 to 127 bytes\n");
        return EXIT_USAGE;
    }
    char err[512];
    ward_key *k = ward_crypto_key_load_public(pub, err, sizeof(err));
    if (!k) {
        fprintf(stderr, "ward-collector: enroll: %s\n", err);
        return EXIT_FAILURE;
    }
    uint8_t raw[WARD_PUBKEY_LEN];
    char fp[65];
    ward_crypto_key_raw(k, raw);
    ward_crypto_key_fingerprint(k, fp);
    ward_crypto_key_free(k);
    cmd_env e;
    int rc = EXIT_FAILURE;
    if (env_open(&e, cfg_path) == 0) {
        if (e.st.ops->enroll(&e.st, org, name, raw, coll_now_ms(), err, sizeof(err)) < 0) {
            fprintf(stderr, "ward-collector: enroll: %s\n", err);
        } else {
            printf("enrolled %s/%s, key %s\n", org, name, fp);
            rc = EXIT_SUCCESS;
        }
    }
    env_close(&e);
    return rc;
}

static int name_opt(void *ctx, int c, const char *arg) {
    if (c != 'a')
        return 1;
    *(const char **)ctx = arg;
    return 0;
}

static int cmd_revoke(const char *cfg_path, int argc, char **argv) {
    static const char help[] = "usage: ward-collector revoke --agent NAME\n"
                               "Revokes the agent's key: its connections are refused from now on "
                               "(its stored alerts stay).\n";
    static const struct option o[] = {
        {"agent", required_argument, NULL, 'a'}, COMMON_OPTS, {NULL, 0, NULL, 0}};
    const char *name = NULL;
    int r = get_args(argc, argv, o, help, &cfg_path, name_opt, &name);
    if (r >= 0)
        return r;
    if (!name) {
        fputs(help, stderr);
        return EXIT_USAGE;
    }
    cmd_env e;
    int rc = EXIT_FAILURE;
    char err[512];
    if (env_open(&e, cfg_path) == 0) {
        if (e.st.ops->revoke(&e.st, name, coll_now_ms(), err, sizeof(err)) < 0) {
            fprintf(stderr, "ward-collector: revoke: %s\n", err);
        } else {
            printf("revoked %s\n", name);
            rc = EXIT_SUCCESS;
        }
    }
    env_close(&e);
    return rc;
}

typedef struct list_ctx {
    int json;
    ward_buf b;
} list_ctx;

static void ms_time(char ts[32], int64_t ms) {
    if (ms > 0)
        ward_alert_time(ts, (uint64_t)ms);
    else
        snprintf(ts, 32, "-");
}

static int on_agent(void *ctx, const store_agent *a) {
    list_ctx *l = ctx;
    char fp[65] = "?", t1[32], t2[32];
    ward_key *k = ward_crypto_key_from_raw(a->pubkey);
    if (k)
        ward_crypto_key_fingerprint(k, fp);
    ward_crypto_key_free(k);
    ms_time(t1, a->enrolled_ms);
    ms_time(t2, a->revoked ? a->revoked_ms : 0);
    if (l->json) {
        ward_buf_reset(&l->b);
        ward_jw w;
        ward_jw_init(&w, &l->b);
        ward_jw_obj(&w);
        ward_jw_kcstr(&w, "org", a->org);
        ward_jw_kcstr(&w, "agent", a->name);
        ward_jw_kcstr(&w, "fingerprint", fp);
        ward_jw_kcstr(&w, "enrolled", t1);
        ward_jw_key(&w, "revoked");
        if (a->revoked)
            ward_jw_cstr(&w, t2);
        else
            ward_jw_bool(&w, 0);
        ward_jw_obj_end(&w);
        printf("%.*s\n", (int)l->b.len, l->b.p);
    } else {
        printf("%-20s %-24s %.16s  %s  %s\n", a->org, a->name, fp, t1,
               a->revoked ? "revoked" : "active");
    }
    return 0;
}

static int json_opt(void *ctx, int c, const char *arg) {
    (void)arg;
    if (c != 'j')
        return 1;
    *(int *)ctx = 1;
    return 0;
}

static int cmd_list(const char *cfg_path, int argc, char **argv) {
    static const char help[] = "usage: ward-collector list [--json]\n"
                               "The enrolled agents: organisation, name, key fingerprint, "
                               "enrolment time, state.\n";
    static const struct option o[] = {
        {"json", no_argument, NULL, 'j'}, COMMON_OPTS, {NULL, 0, NULL, 0}};
    list_ctx l = {0};
    int r = get_args(argc, argv, o, help, &cfg_path, json_opt, &l.json);
    if (r >= 0)
        return r;
    cmd_env e;
    int rc = EXIT_FAILURE;
    char err[512];
    ward_buf_init(&l.b);
    if (env_open(&e, cfg_path) == 0) {
        if (!l.json)
            printf("%-20s %-24s %-16s  %-24s  %s\n", "ORG", "AGENT", "KEY", "ENROLLED", "STATE");
        if (e.st.ops->agents_list(&e.st, on_agent, &l, err, sizeof(err)) < 0)
            fprintf(stderr, "ward-collector: list: %s\n", err);
        else
            rc = EXIT_SUCCESS;
    }
    ward_buf_fini(&l.b);
    env_close(&e);
    return rc;
}

/* T: ISO 8601 ("2026-12-01T10:00:00Z", "2026-12-01") or relative to now ("1h", "7d",
 * "30m"). */
static int parse_when(const char *s, int64_t now, int64_t *ms) {
    uint64_t d;
    if (coll_parse_time(s, strlen(s), ms) == 0)
        return 0;
    if (ward_cfg_parse_duration(s, &d) == 0 && d <= (uint64_t)now) {
        *ms = now - (int64_t)d;
        return 0;
    }
    return -1;
}

typedef struct query_ctx {
    int json;
    size_t n;
    ward_buf b;
    char *field_none[1];
    coll_arena arena;
} query_ctx;

static int on_alert(void *ctx, const char *org, const char *agent, uint64_t seq,
                    const uint8_t *json, size_t len) {
    query_ctx *q = ctx;
    q->n++;
    if (q->json) {
        /* a JSON line: who sent it, its number, the alert as it was received */
        ward_buf_reset(&q->b);
        ward_jw w;
        ward_jw_init(&w, &q->b);
        ward_jw_obj(&w);
        ward_jw_kcstr(&w, "org", org);
        ward_jw_kcstr(&w, "agent", agent);
        ward_jw_ku64(&w, "seq", seq);
        ward_jw_key(&w, "alert");
        ward_jw_obj_end(&w);
        /* the writer closed the object: reopen it to append the alert raw */
        q->b.len--;
        ward_buf_put(&q->b, json, len);
        ward_buf_putc(&q->b, '}');
        printf("%.*s\n", (int)q->b.len, q->b.p);
        return 0;
    }
    coll_fields f;
    char err[256], ts[32];
    q->arena.len = 0;
    if (coll_extract(json, len, q->field_none, 0, &q->arena, &f, err, sizeof(err)) < 0) {
        printf("%-24s %-16s %-20s %8llu  (unreadable: %s)\n", "-", org, agent,
               (unsigned long long)seq, err);
        return 0;
    }
    ms_time(ts, f.time_ms);
    printf("%-24s %-16s %-20s %8llu  %-13s %s\n", ts, org, agent, (unsigned long long)seq,
           coll_level_name(f.level), f.rule != COLL_NONE ? q->arena.p + f.rule : "-");
    return 0;
}

typedef struct query_args {
    store_query sq;
    int json;
    int64_t now;
} query_args;

static int query_opt(void *ctx, int c, const char *arg) {
    query_args *a = ctx;
    char *end;
    switch (c) {
    case 'o':
        a->sq.org = arg;
        return 0;
    case 'r':
        a->sq.rule = arg;
        return 0;
    case 's':
    case 'u':
        if (parse_when(arg, a->now, c == 's' ? &a->sq.since_ms : &a->sq.until_ms) < 0) {
            fprintf(stderr,
                    "ward-collector: query: --%s '%s': expected ISO 8601 or an age like 1h "
                    "or 7d\n",
                    c == 's' ? "since" : "until", arg);
            return -1;
        }
        return 0;
    case 'l':
        if (!(a->sq.min_level = coll_level_parse(arg))) {
            fprintf(stderr,
                    "ward-collector: query: --level '%s': expected informational, low, "
                    "medium, high or critical\n",
                    arg);
            return -1;
        }
        return 0;
    case 'n':
        errno = 0;
        a->sq.limit = strtoul(arg, &end, 10);
        if (!*arg || *end || errno || arg[0] == '-') {
            fprintf(stderr, "ward-collector: query: --limit '%s': expected a number\n", arg);
            return -1;
        }
        return 0;
    case 'j':
        a->json = 1;
        return 0;
    }
    return 1;
}

static int cmd_query(const char *cfg_path, int argc, char **argv) {
    static const char help[] =
        "usage: ward-collector query [--org O] [--since T] [--until T] [--rule R] [--level L]\n"
        "                            [--limit N] [--json]\n"
        "Stored alerts, oldest first. T is ISO 8601 (2026-12-01T10:00:00Z, 2026-12-01) or an\n"
        "age (30m, 1h, 7d); L is the lowest level shown (informational, low, medium, high,\n"
        "critical). --json writes one object a line: org, agent, seq and the alert.\n";
    static const struct option o[] = {{"org", required_argument, NULL, 'o'},
                                      {"since", required_argument, NULL, 's'},
                                      {"until", required_argument, NULL, 'u'},
                                      {"rule", required_argument, NULL, 'r'},
                                      {"level", required_argument, NULL, 'l'},
                                      {"limit", required_argument, NULL, 'n'},
                                      {"json", no_argument, NULL, 'j'},
                                      COMMON_OPTS,
                                      {NULL, 0, NULL, 0}};
    query_args qa;
    memset(&qa, 0, sizeof(qa));
    qa.now = coll_now_ms();
    int r = get_args(argc, argv, o, help, &cfg_path, query_opt, &qa);
    if (r >= 0)
        return r;
    store_query sq = qa.sq;
    query_ctx q;
    memset(&q, 0, sizeof(q));
    q.json = qa.json;
    cmd_env e;
    int rc = EXIT_FAILURE;
    char err[512];
    ward_buf_init(&q.b);
    if (env_open(&e, cfg_path) == 0) {
        if (!q.json)
            printf("%-24s %-16s %-20s %8s  %-13s %s\n", "TIME", "ORG", "AGENT", "SEQ", "LEVEL",
                   "RULE");
        if (e.st.ops->query(&e.st, &sq, on_alert, &q, err, sizeof(err)) < 0)
            fprintf(stderr, "ward-collector: query: %s\n", err);
        else
            rc = EXIT_SUCCESS;
    }
    ward_buf_fini(&q.b);
    free(q.arena.p);
    env_close(&e);
    return rc;
}

static int read_file(const char *path, ward_buf *b) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        ward_buf_put(b, buf, n);
    fclose(f);
    return b->oom ? -1 : 0;
}

static int cmd_stats(const char *cfg_path, int argc, char **argv) {
    static const char help[] =
        "usage: ward-collector stats\n"
        "One JSON object: \"store\", the store's counts, and \"daemon\", the running\n"
        "collector's counters from its stats file (null when it has not written one).\n";
    static const struct option o[] = {COMMON_OPTS, {NULL, 0, NULL, 0}};
    int r = get_args(argc, argv, o, help, &cfg_path, NULL, NULL);
    if (r >= 0)
        return r;
    cmd_env e;
    int rc = EXIT_FAILURE;
    char err[512];
    ward_buf b, f;
    ward_buf_init(&b);
    ward_buf_init(&f);
    if (env_open(&e, cfg_path) == 0) {
        ward_jw w;
        ward_jw_init(&w, &b);
        ward_jw_obj(&w);
        ward_jw_key(&w, "store");
        ward_jw_obj(&w);
        ward_jw_kcstr(&w, "type", e.st.ops->name);
        if (e.st.ops->stats(&e.st, &w, err, sizeof(err)) < 0) {
            fprintf(stderr, "ward-collector: stats: %s\n", err);
            goto out;
        }
        ward_jw_obj_end(&w);
        ward_jw_key(&w, "daemon");
        /* the stats file is one object the daemon wrote: strip it to its members */
        size_t s = 0, n = 0;
        if (read_file(e.cfg.stats_path, &f) == 0) {
            while (s < f.len && f.p[s] != '{')
                s++;
            n = f.len;
            while (n > s && f.p[n - 1] != '}')
                n--;
        }
        if (n > s + 1) {
            ward_jw_obj(&w);
            ward_jw_raw_members(&w, f.p + s + 1, n - s - 2);
            ward_jw_obj_end(&w);
        } else {
            ward_jw_null(&w);
        }
        ward_jw_obj_end(&w);
        if (b.oom) {
            fprintf(stderr, "ward-collector: stats: out of memory\n");
            goto out;
        }
        printf("%.*s\n", (int)b.len, b.p);
        rc = EXIT_SUCCESS;
    }
out:
    ward_buf_fini(&b);
    ward_buf_fini(&f);
    env_close(&e);
    return rc;
}

typedef struct feed_args {
    const char *format, *table, *set;
} feed_args;

static int feed_opt(void *ctx, int c, const char *arg) {
    feed_args *a = ctx;
    if (c == 'f')
        a->format = arg;
    else if (c == 't')
        a->table = arg;
    else if (c == 's')
        a->set = arg;
    else
        return 1;
    return 0;
}

static int cmd_feed(const char *cfg_path, int argc, char **argv) {
    static const char help[] =
        "usage: ward-collector feed --format list|nft [--table T] [--set S]\n"
        "The current regional indicators: one value a line (list), or an nftables script that\n"
        "defines the sets S4 (IPv4) and S6 (IPv6) in table inet T (default: table ward, set\n"
        "regional), each address with a timeout until its expiry (nft -f FILE loads it).\n";
    static const struct option o[] = {{"format", required_argument, NULL, 'f'},
                                      {"table", required_argument, NULL, 't'},
                                      {"set", required_argument, NULL, 's'},
                                      COMMON_OPTS,
                                      {NULL, 0, NULL, 0}};
    feed_args fa = {NULL, "ward", "regional"};
    int r = get_args(argc, argv, o, help, &cfg_path, feed_opt, &fa);
    if (r >= 0)
        return r;
    const char *format = fa.format, *table = fa.table, *set = fa.set;
    int nft = format && strcmp(format, "nft") == 0;
    if (!format || (!nft && strcmp(format, "list") != 0)) {
        fputs(help, stderr);
        return EXIT_USAGE;
    }
    for (const char *p = table; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            table = NULL;
    for (const char *p = set; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            set = NULL;
    if (!table || !set || !*table || !*set) {
        fprintf(stderr, "ward-collector: feed: --table and --set take letters, digits and '_'\n");
        return EXIT_USAGE;
    }
    cmd_env e;
    int rc = EXIT_FAILURE;
    char err[512];
    ward_feed f;
    memset(&f, 0, sizeof(f));
    ward_buf b;
    ward_buf_init(&b);
    if (env_open(&e, cfg_path) == 0) {
        int64_t now = coll_now_ms();
        if (e.st.ops->feed(&e.st, now, &f, err, sizeof(err)) < 0) {
            fprintf(stderr, "ward-collector: feed: %s\n", err);
        } else if ((nft ? ward_feed_export_nft(&f, table, set, (uint64_t)now, &b)
                        : ward_feed_export_list(&f, &b)) < 0 ||
                   b.oom) {
            fprintf(stderr, "ward-collector: feed: cannot be exported\n");
        } else {
            if (b.len)
                fwrite(b.p, 1, b.len, stdout);
            rc = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
        }
    }
    ward_feed_fini(&f);
    ward_buf_fini(&b);
    env_close(&e);
    return rc;
}

static int mkdir_p_state(const char *d) {
    return mkdir(d, 0750) < 0 && errno != EEXIST ? -1 : 0;
}

static int cmd_keygen(const char *cfg_path, int argc, char **argv) {
    static const char help[] =
        "usage: ward-collector keygen\n"
        "Makes the collector's feed-signing key, STATE_DIR/feed.key (mode 0600), and its\n"
        "public key STATE_DIR/feed.pub, which agents are configured with to verify the feed.\n"
        "The collector makes them at its first start too; an existing key is kept.\n";
    static const struct option o[] = {COMMON_OPTS, {NULL, 0, NULL, 0}};
    int r = get_args(argc, argv, o, help, &cfg_path, NULL, NULL);
    if (r >= 0)
        return r;
    coll_cfg cfg;
    int rc = EXIT_FAILURE;
    if (coll_cfg_load(cfg_path, &cfg, stderr) == 0 &&
        coll_drop_user(&cfg, allow_root, stderr) >= 0) {
        char priv[4096], pub[4096], err[512];
        snprintf(priv, sizeof(priv), "%s/feed.key", cfg.collector.state_dir);
        snprintf(pub, sizeof(pub), "%s/feed.pub", cfg.collector.state_dir);
        if (access(priv, F_OK) == 0)
            fprintf(stderr, "ward-collector: keygen: %s exists: the key is kept\n", priv);
        else if (mkdir_p_state(cfg.collector.state_dir) < 0)
            fprintf(stderr, "ward-collector: keygen: %s: %s\n", cfg.collector.state_dir,
                    strerror(errno));
        else if (ward_crypto_keygen(priv, pub, err, sizeof(err)) < 0)
            fprintf(stderr, "ward-collector: keygen: %s\n", err);
        else {
            printf("%s\n%s\n", priv, pub);
            rc = EXIT_SUCCESS;
        }
    }
    coll_cfg_free(&cfg);
    return rc;
}

static int run(const char *cfg_path) {
    if (geteuid() == 0 && allow_root)
        fprintf(stderr, "ward-collector: warning: running as root (--insecure-run-as-root); the "
                        "collector needs only its state_dir and its port\n");
    collector c;
    int rc = coll_init(&c, cfg_path, allow_root, stderr);
    if (rc == 0 && ward_loop_run(c.loop) < 0) {
        coll_log(&c, "error", "event loop: %s", strerror(errno));
        rc = -1;
    }
    if (c.started)
        coll_write_stats(&c);
    coll_fini(&c);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int main(int argc, char **argv) {
    enum { OPT_CHECK = 256, OPT_HELPCFG, OPT_ROOT };
    const char *env_root = getenv(WARD_SANDBOX_ROOT_ENV);
    allow_root = env_root && strcmp(env_root, "1") == 0;
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"check", no_argument, NULL, OPT_CHECK},
                                             {"help-config", no_argument, NULL, OPT_HELPCFG},
                                             {"insecure-run-as-root", no_argument, NULL, OPT_ROOT},
                                             {"version", no_argument, NULL, 'V'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *cfg = COLLECTOR_DEFAULT_CONFIG;
    int do_check = 0, c;
    /* '+': stop at the command; its own options follow it */
    while ((c = getopt_long(argc, argv, "+c:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cfg = optarg;
            break;
        case OPT_CHECK:
            do_check = 1;
            break;
        case OPT_HELPCFG:
            return ward_cfg_doc(&coll_cfg_table, stdout) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        case OPT_ROOT:
            allow_root = 1;
            break;
        case 'V':
            printf("ward-collector %s\n", COLLECTOR_VERSION);
            return EXIT_SUCCESS;
        case 'h':
            fputs(usage, stdout);
            return EXIT_SUCCESS;
        default:
            fputs(usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (do_check)
        return optind < argc ? EXIT_USAGE : check(cfg);
    if (optind >= argc)
        return run(cfg);
    static const struct {
        const char *name;
        int (*fn)(const char *, int, char **);
    } cmds[] = {{"enroll", cmd_enroll}, {"revoke", cmd_revoke}, {"list", cmd_list},
                {"query", cmd_query},   {"stats", cmd_stats},   {"feed", cmd_feed},
                {"keygen", cmd_keygen}};
    const char *name = argv[optind];
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(name, cmds[i].name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 1; /* getopt again, over the command's arguments */
            return cmds[i].fn(cfg, sub_argc, sub_argv);
        }
    fprintf(stderr, "ward-collector: unknown command '%s' (ward-collector --help)\n", name);
    return EXIT_USAGE;
}
