/* ward-agent's configuration table: every key, declared once.
 *
 * The sections (agent, rules, outputs, ...) are members of agent_cfg: their tables give
 * offsets in agent_cfg and are placed at offset 0 of it, so one offsetof form serves
 * every key. */
#include "agent_config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ward/decode.h"
#include "ward/re.h"

#define SZ(x) (int64_t)(x)
#define MS(x) (int64_t)(x)

static const char *const source_types[] = {"file", "journal", "syslog", NULL};
static const char *const start_names[] = {"default", "end", "beginning", NULL};
static const char *const framing_names[] = {"auto", "lf", "octet-counting", NULL};
/* The choices of 'decoder', in the order of enum ward_decoder, so that the index the
 * loader stores is the ward_decoder itself (no map); the names are those of
 * ward_decoder_name. A decoder added to the enum stops the build here until it is listed. */
static const char *const decoder_names[] = {[WARD_DECODER_RAW] = "raw",
                                            [WARD_DECODER_SYSLOG] = "syslog",
                                            [WARD_DECODER_COMBINED_ACCESS] = "combined_access",
                                            [WARD_DECODER_JSON] = "json",
                                            [WARD_DECODER_KV] = "kv",
                                            [WARD_DECODER_AUTO] = "auto",
                                            [WARD_DECODER_FAIL2BAN] = "fail2ban",
                                            [WARD_DECODER_COUNT] = NULL};
_Static_assert(sizeof(decoder_names) / sizeof(decoder_names[0]) == WARD_DECODER_COUNT + 1,
               "decoder_names must name every ward_decoder");

int agent_cfg_decoder(const agent_source_cfg *s) {
    return s->decoder >= 0 && s->decoder < WARD_DECODER_COUNT ? s->decoder : WARD_DECODER_AUTO;
}

#define SRC(f) offsetof(agent_source_cfg, f)

/* FIELD=VALUE as journalctl takes it: FIELD of capitals, digits and '_', not starting
 * with a digit, at most 64 bytes. */
static int journal_match_ok(const char *m) {
    const char *eq = strchr(m, '=');
    size_t n = eq ? (size_t)(eq - m) : 0;
    if (n == 0 || n > 64 || (m[0] >= '0' && m[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((m[i] >= 'A' && m[i] <= 'Z') || (m[i] >= '0' && m[i] <= '9') || m[i] == '_'))
            return 0;
    return 1;
}

int agent_cfg_parse_listen(const char *v, int *tcp, char *host, size_t hostlen, char *port,
                           int *numeric6, char *err, size_t errlen) {
    if (strncmp(v, "udp://", 6) == 0)
        *tcp = 0;
    else if (strncmp(v, "tcp://", 6) == 0)
        *tcp = 1;
    else {
        snprintf(err, errlen, "must start with udp:// or tcp://");
        return -1;
    }
    const char *h = v + 6, *colon;
    size_t hl;
    *numeric6 = 0;
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (!close) {
            snprintf(err, errlen, "'[' without ']' around an IPv6 address");
            return -1;
        }
        if (close[1] != ':') {
            snprintf(err, errlen, "a port is needed after ']', as in [::1]:514");
            return -1;
        }
        h++;
        hl = (size_t)(close - h);
        colon = close + 1;
        *numeric6 = 1;
    } else {
        colon = strrchr(h, ':');
        if (!colon) {
            snprintf(err, errlen, "a port is needed, as in %.6s127.0.0.1:514", v);
            return -1;
        }
        hl = (size_t)(colon - h);
        if (memchr(h, ':', hl)) {
            snprintf(err, errlen, "an IPv6 address goes in brackets, as in %.6s[::1]:514", v);
            return -1;
        }
    }
    if (hl == 0) {
        snprintf(err, errlen,
                 "an address is needed before the port (0.0.0.0 or [::] for "
                 "every address)");
        return -1;
    }
    if (hl >= hostlen) {
        snprintf(err, errlen, "the address is too long");
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    const char *p = colon + 1;
    size_t pl = strlen(p);
    unsigned long pv = 0;
    for (size_t i = 0; i < pl; i++) {
        if (p[i] < '0' || p[i] > '9' || i >= 5) {
            pv = 0;
            break;
        }
        pv = pv * 10 + (unsigned long)(p[i] - '0');
    }
    if (pl == 0 || pv < 1 || pv > 65535) {
        snprintf(err, errlen, "the port must be a number from 1 to 65535, not '%s'", p);
        return -1;
    }
    snprintf(port, 8, "%lu", pv);
    return 0;
}

static int check_source(void *obj, const ward_cfg_ctx *c) {
    agent_source_cfg *s = obj;
    int rc = 0;
    if (s->type == SRC_FILE && s->npaths == 0)
        rc = ward_cfg_error(c, "a file source needs 'paths'");
    if (s->type == SRC_SYSLOG && !s->listen)
        rc = ward_cfg_error(c,
                            "a syslog source needs 'listen' (udp://ADDR:PORT or tcp://ADDR:PORT)");
    if (s->type == SRC_SYSLOG && s->listen) {
        char host[256], port[8], err[256];
        int tcp, numeric6;
        if (agent_cfg_parse_listen(s->listen, &tcp, host, sizeof(host), port, &numeric6, err,
                                   sizeof(err)) < 0)
            rc = ward_cfg_error(c, "listen '%.200s': %s", s->listen, err);
    }
    if (s->type == SRC_FILE && s->multiline_start) {
        /* compiled as the file source compiles it, so that --check finds what start would */
        char err[256];
        pcre2_code *re =
            ward_re_compile(s->multiline_start, strlen(s->multiline_start), 0, err, sizeof(err));
        if (!re)
            rc = ward_cfg_error(c, "multiline_start '%.200s': %s", s->multiline_start, err);
        pcre2_code_free(re);
    }
    if (s->type != SRC_FILE && (s->npaths || s->multiline_start))
        rc = ward_cfg_error(c, "'paths' and 'multiline_start' are for file sources");
    if (s->type != SRC_SYSLOG && s->listen)
        rc = ward_cfg_error(c, "'listen' is for syslog sources");
    if (s->type != SRC_JOURNAL && (s->njournal_files || s->journal_dir || s->njournal_match))
        rc =
            ward_cfg_error(c, "'journal_files', 'journal_dir' and 'match' are for journal sources");
    if (s->njournal_files && s->journal_dir)
        rc = ward_cfg_error(c, "'journal_files' and 'journal_dir' cannot both be set");
    for (size_t i = 0; i < s->njournal_match; i++)
        if (!journal_match_ok(s->journal_match[i]))
            rc = ward_cfg_error(c,
                                "match '%s': expected FIELD=VALUE (FIELD: capitals, digits and "
                                "'_', not starting with a digit)",
                                s->journal_match[i]);
    return rc;
}

static const ward_cfg_key source_keys[] = {
    {"type", WARD_CFG_ENUM, SRC(type), 0, NULL, 0, 0, source_types, NULL, 1,
     "What the source reads: file, journal or syslog."},
    {"name", WARD_CFG_STR, SRC(name), 0, NULL, 0, 0, NULL, NULL, 0,
     "A name for alerts, stats and bookmarks (default: the type and its place in the list, "
     "e.g. file-1). Keep it stable: bookmarks are kept by name."},
    {"decoder", WARD_CFG_ENUM, SRC(decoder), 0, "auto", 0, 0, decoder_names, NULL, 0,
     "How records are decoded: auto, syslog, combined_access, json, kv, raw or fail2ban "
     "(auto plus f2b.line, the line without its date, for rules imported from fail2ban). "
     "Journal entries are always syslog-shaped."},
    {"paths", WARD_CFG_STRLIST, SRC(paths), SRC(npaths), NULL, 0, 0, NULL, NULL, 0,
     "file: paths or glob patterns (*, ?, [...]) of the files to follow."},
    {"exclude", WARD_CFG_STRLIST, SRC(exclude), SRC(nexclude), NULL, 0, 0, NULL, NULL, 0,
     "file: glob patterns of paths not to follow (e.g. *.gz)."},
    {"start_at", WARD_CFG_ENUM, SRC(start_at), 0, "default", 0, 0, start_names, NULL, 0,
     "file, journal: where a file (or the journal) without a bookmark is read from: end, "
     "beginning, or default (the end on the agent's very first run, the beginning "
     "afterwards)."},
    {"poll", WARD_CFG_BOOL, SRC(poll), 0, "false", 0, 0, NULL, NULL, 0,
     "file: find changes by polling with stat every scan_interval instead of inotify "
     "(for NFS and other file systems without inotify)."},
    {"scan_interval", WARD_CFG_DURATION, SRC(scan_interval_ms), 0, "1s", MS(10), MS(60000), NULL,
     NULL, 0,
     "file: how often paths are scanned again for new, rotated and truncated files, as a "
     "check on inotify (or as the polling period)."},
    {"partial_timeout", WARD_CFG_DURATION, SRC(partial_timeout_ms), 0, "0", 0, MS(86400000), NULL,
     NULL, 0,
     "file: a last line without a newline is read as it is after this long without "
     "growing; 0 holds it until its newline arrives."},
    {"rotate_wait", WARD_CFG_DURATION, SRC(rotate_wait_ms), 0, "5s", 0, MS(86400000), NULL, NULL, 0,
     "file: a file that was rotated away or deleted is kept open and read until it has "
     "not grown for this long."},
    {"max_line", WARD_CFG_SIZE, SRC(max_line), 0, "0", 0, SZ(64) << 20, NULL, NULL, 0,
     "file, journal: bytes kept of a record; the rest is skipped and counted (0: "
     "limits.max_line)."},
    {"multiline_start", WARD_CFG_STR, SRC(multiline_start), 0, NULL, 0, 0, NULL, NULL, 0,
     "file: a PCRE2 pattern; a line that matches it starts a new event, other lines are "
     "added to the current one (stack traces)."},
    {"multiline_timeout", WARD_CFG_DURATION, SRC(multiline_timeout_ms), 0, "2s", MS(1), MS(3600000),
     NULL, NULL, 0,
     "file: an event being assembled is complete after this long without a new line."},
    {"multiline_max_lines", WARD_CFG_INT, SRC(multiline_max_lines), 0, "500", 1, 100000, NULL, NULL,
     0, "file: lines in one multiline event at most; then a new event starts."},
    {"journal_files", WARD_CFG_STRLIST, SRC(journal_files), SRC(njournal_files), NULL, 0, 0, NULL,
     NULL, 0, "journal: read these journal files instead of the system journal."},
    {"journal_dir", WARD_CFG_STR, SRC(journal_dir), 0, NULL, 0, 0, NULL, NULL, 0,
     "journal: read the journal files in this directory instead of the system journal."},
    {"match", WARD_CFG_STRLIST, SRC(journal_match), SRC(njournal_match), NULL, 0, 0, NULL, NULL, 0,
     "journal: FIELD=VALUE filters (e.g. _SYSTEMD_UNIT=ssh.service); none reads everything."},
    {"listen", WARD_CFG_STR, SRC(listen), 0, NULL, 0, 0, NULL, NULL, 0,
     "syslog: where to receive, udp://ADDR:PORT or tcp://ADDR:PORT."},
    {"framing", WARD_CFG_ENUM, SRC(framing), 0, "auto", 0, 0, framing_names, NULL, 0,
     "syslog over TCP: lf (one message a line), octet-counting (RFC 6587) or auto (per "
     "connection, from its first byte)."},
    {"max_message", WARD_CFG_SIZE, SRC(max_message), 0, "64k", 480, SZ(16) << 20, NULL, NULL, 0,
     "syslog: longest message; longer ones are cut and counted."},
    {"max_connections", WARD_CFG_INT, SRC(max_connections), 0, "256", 1, 65536, NULL, NULL, 0,
     "syslog over TCP: connections at once; more are refused and counted."},
    {"max_connections_per_peer", WARD_CFG_INT, SRC(max_connections_per_peer), 0, "16", 1, 65536,
     NULL, NULL, 0, "syslog over TCP: connections at once from one address."},
    {"rate_per_peer", WARD_CFG_INT, SRC(rate_per_peer), 0, "0", 0, 10000000, NULL, NULL, 0,
     "syslog: messages per second accepted from one address; over it, UDP messages are "
     "dropped and counted and TCP connections are read more slowly (0: no limit)."},
    {"idle_timeout", WARD_CFG_DURATION, SRC(idle_timeout_ms), 0, "10m", MS(1000), MS(86400000),
     NULL, NULL, 0, "syslog over TCP: a silent connection is closed after this."},
};

static const ward_cfg_table source_table = {"sources[]", source_keys,
                                            sizeof(source_keys) / sizeof(source_keys[0]),
                                            sizeof(agent_source_cfg), check_source};

static int str_eq(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Compares by the table, so that a key added to it is compared too. */
int agent_cfg_source_equal(const agent_source_cfg *a, const agent_source_cfg *b) {
    const char *pa = (const char *)a, *pb = (const char *)b;
    for (size_t i = 0; i < sizeof(source_keys) / sizeof(source_keys[0]); i++) {
        const ward_cfg_key *k = &source_keys[i];
        const char *va = pa + k->offset, *vb = pb + k->offset;
        switch (k->type) {
        case WARD_CFG_STR: {
            const char *sa, *sb;
            memcpy(&sa, va, sizeof(sa));
            memcpy(&sb, vb, sizeof(sb));
            if (!str_eq(sa, sb))
                return 0;
            break;
        }
        case WARD_CFG_STRLIST: {
            char **la, **lb;
            size_t na, nb;
            memcpy(&la, va, sizeof(la));
            memcpy(&lb, vb, sizeof(lb));
            memcpy(&na, pa + k->offset2, sizeof(na));
            memcpy(&nb, pb + k->offset2, sizeof(nb));
            if (na != nb)
                return 0;
            for (size_t j = 0; j < na; j++)
                if (!str_eq(la[j], lb[j]))
                    return 0;
            break;
        }
        case WARD_CFG_BOOL:
        case WARD_CFG_ENUM:
            if (memcmp(va, vb, sizeof(int)) != 0)
                return 0;
            break;
        case WARD_CFG_INT:
        case WARD_CFG_SIZE:
        case WARD_CFG_DURATION:
            if (memcmp(va, vb, sizeof(uint64_t)) != 0)
                return 0;
            break;
        default:
            return 0; /* a type this does not know: a difference, so the source restarts */
        }
    }
    return 1;
}

#define CFG(f) offsetof(agent_cfg, f)

static const ward_cfg_key agent_keys[] = {
    {"name", WARD_CFG_STR, CFG(agent.name), 0, NULL, 0, 0, NULL, NULL, 0,
     "The agent's name in alerts (default: the host name)."},
    {"id", WARD_CFG_STR, CFG(agent.id), 0, NULL, 0, 0, NULL, NULL, 0,
     "The agent's id in alerts (default: its name)."},
    {"state_dir", WARD_CFG_STR, CFG(agent.state_dir), 0, "/var/lib/ward", 0, 0, NULL, NULL, 0,
     "Where bookmarks and the stats file are kept; the agent's user must own it."},
    {"user", WARD_CFG_STR, CFG(agent.user), 0, "ward", 0, 0, NULL, NULL, 0,
     "Started as root, the agent becomes this user (with its groups, such as adm and "
     "systemd-journal) before it reads a log or its state, and refuses to start when the user "
     "does not exist (--insecure-run-as-root stays root)."},
    {"sandbox", WARD_CFG_BOOL, CFG(agent.sandbox), 0, "true", 0, 0, NULL, NULL, 0,
     "Confine the running agent: no new privileges, a seccomp allow-list of system calls, "
     "and Landlock over the file system where the kernel has it (false: for debugging only)."},
};
static const ward_cfg_table agent_table = {
    "agent", agent_keys, sizeof(agent_keys) / sizeof(agent_keys[0]), sizeof(agent_cfg), NULL};

static const ward_cfg_key rules_keys[] = {
    {"paths", WARD_CFG_STRLIST, CFG(rules.paths), CFG(rules.npaths), "/usr/share/ward/rules", 0, 0,
     NULL, NULL, 0, "Rule files and directories (YAML and YARA), loaded in this order."},
    {"overlays", WARD_CFG_STRLIST, CFG(rules.overlays), CFG(rules.noverlays), NULL, 0, 0, NULL,
     NULL, 0, "Overlay files with site tuning (level, mode, threshold, filters by rule id)."},
};
static const ward_cfg_table rules_table = {
    "rules", rules_keys, sizeof(rules_keys) / sizeof(rules_keys[0]), sizeof(agent_cfg), NULL};

static const ward_cfg_key file_out_keys[] = {
    {"path", WARD_CFG_STR, CFG(outputs.file.path), 0, NULL, 0, 0, NULL, NULL, 0,
     "JSON-lines file alerts are appended to; reopened on SIGHUP (for logrotate)."},
    {"fsync_interval", WARD_CFG_DURATION, CFG(outputs.file.fsync_interval_ms), 0, "100ms", MS(1),
     MS(60000), NULL, NULL, 0,
     "Alerts are made durable (fsync) at least this often, in groups; bookmarks follow."},
};
static const ward_cfg_table file_out_table = {"outputs.file", file_out_keys,
                                              sizeof(file_out_keys) / sizeof(file_out_keys[0]),
                                              sizeof(agent_cfg), NULL};

static const ward_cfg_key outputs_keys[] = {
    {"file", WARD_CFG_SECTION, 0, 0, NULL, 0, 0, NULL, &file_out_table, 0, "The alerts file."},
    {"stdout", WARD_CFG_BOOL, CFG(outputs.stdout_), 0, "false", 0, 0, NULL, NULL, 0,
     "Also write alerts to standard output."},
};
static const ward_cfg_table outputs_table = {"outputs", outputs_keys,
                                             sizeof(outputs_keys) / sizeof(outputs_keys[0]),
                                             sizeof(agent_cfg), NULL};

static const ward_cfg_key limits_keys[] = {
    {"max_line", WARD_CFG_SIZE, CFG(limits.max_line), 0, "64k", 256, SZ(64) << 20, NULL, NULL, 0,
     "Bytes of a record kept; the rest is skipped, flagged in the alert and counted."},
    {"correlation_memory", WARD_CFG_SIZE, CFG(limits.correlation_memory), 0, "16M", SZ(64) << 10,
     SZ(16) << 30, NULL, NULL, 0,
     "Memory for threshold state; past it the least recently used groups are evicted and "
     "counted."},
    {"pcre2_match_limit", WARD_CFG_INT, CFG(limits.pcre2_match_limit), 0, "100000", 1000, 100000000,
     NULL, NULL, 0, "PCRE2 match limit per regex and record."},
    {"pcre2_depth_limit", WARD_CFG_INT, CFG(limits.pcre2_depth_limit), 0, "10000", 100, 10000000,
     NULL, NULL, 0, "PCRE2 depth limit per regex and record."},
    {"pcre2_heap", WARD_CFG_SIZE, CFG(limits.pcre2_heap), 0, "20M", SZ(64) << 10, SZ(1) << 30, NULL,
     NULL, 0, "PCRE2 heap limit per match."},
    {"jit_stack", WARD_CFG_SIZE, CFG(limits.jit_stack), 0, "1M", SZ(32) << 10, SZ(64) << 20, NULL,
     NULL, 0, "PCRE2 JIT stack."},
    {"yara_timeout", WARD_CFG_DURATION, CFG(limits.yara_timeout_ms), 0, "1s", MS(1000), MS(60000),
     NULL, NULL, 0, "Time a YARA scan of one record may take."},
    {"output_buffer", WARD_CFG_SIZE, CFG(limits.output_buffer), 0, "64M", SZ(1) << 20, SZ(4) << 30,
     NULL, NULL, 0,
     "Alerts kept in memory while the output cannot be written (a full disk); past it the "
     "sources stop reading until it can, and nothing is dropped, except UDP syslog "
     "messages, which cannot wait (counted in dropped.backlog)."},
};
static const ward_cfg_table limits_table = {
    "limits", limits_keys, sizeof(limits_keys) / sizeof(limits_keys[0]), sizeof(agent_cfg), NULL};

static const ward_cfg_key stats_keys[] = {
    {"interval", WARD_CFG_DURATION, CFG(stats.interval_ms), 0, "5m", 0, MS(86400000), NULL, NULL, 0,
     "How often the counters are logged (0: never)."},
    {"file", WARD_CFG_STR, CFG(stats.file), 0, NULL, 0, 0, NULL, NULL, 0,
     "Where counters are written as JSON on SIGUSR1 and at exit (default: "
     "STATE_DIR/stats.json)."},
};
static const ward_cfg_table stats_table = {
    "stats", stats_keys, sizeof(stats_keys) / sizeof(stats_keys[0]), sizeof(agent_cfg), NULL};

int agent_cfg_parse_address(const char *v, char **host, char **port, char *err, size_t errlen) {
    char url[1100], h[1024], pt[8];
    int tcp, v6;
    *host = *port = NULL;
    if (strlen(v) > 1024) {
        snprintf(err, errlen, "longer than 1024 bytes");
        return -1;
    }
    snprintf(url, sizeof(url), "tcp://%s", v);
    if (agent_cfg_parse_listen(url, &tcp, h, sizeof(h), pt, &v6, err, errlen) < 0)
        return -1;
    *host = strdup(h);
    *port = strdup(pt);
    if (!*host || !*port) {
        free(*host);
        free(*port);
        *host = *port = NULL;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static const ward_cfg_key collector_keys[] = {
    {"address", WARD_CFG_STR, CFG(collector.address), 0, NULL, 0, 0, NULL, NULL, 0,
     "The regional collector, HOST:PORT or [V6]:PORT; when set, alerts are spooled "
     "(spool.enabled is switched on) and shipped there."},
    {"ca", WARD_CFG_STR, CFG(collector.ca), 0, NULL, 0, 0, NULL, NULL, 0,
     "PEM file of the CA the collector's certificate must be signed by (needed with "
     "address)."},
    {"server_name", WARD_CFG_STR, CFG(collector.server_name), 0, NULL, 0, 0, NULL, NULL, 0,
     "The name the collector's certificate must carry, also sent as SNI (default: the host "
     "of address)."},
    {"insecure_skip_verify", WARD_CFG_BOOL, CFG(collector.insecure_skip_verify), 0, "false", 0, 0,
     NULL, NULL, 0,
     "Do not verify the collector's certificate (tests only: anyone on the path can then "
     "read and refuse alerts); logged as a warning at every start."},
    {"key", WARD_CFG_STR, CFG(collector.key), 0, NULL, 0, 0, NULL, NULL, 0,
     "The agent's Ed25519 private key, made by ward-agent keygen (default: "
     "STATE_DIR/agent.key); refused when readable by group or others."},
    {"feed_key", WARD_CFG_STR, CFG(collector.feed_key), 0, NULL, 0, 0, NULL, NULL, 0,
     "The collector's public key (PEM), to verify the regional indicator feed; without it "
     "no feed is asked for."},
    {"batch_max_records", WARD_CFG_INT, CFG(collector.batch_max_records), 0, "1000", 1, 100000,
     NULL, NULL, 0, "Alerts in one batch at most."},
    {"batch_max_bytes", WARD_CFG_SIZE, CFG(collector.batch_max_bytes), 0, "1M", SZ(4) << 10,
     SZ(15) << 20, NULL, NULL, 0,
     "Bytes of alerts in one batch at most, before compression (an alert longer than this "
     "goes alone)."},
    {"in_flight", WARD_CFG_INT, CFG(collector.in_flight), 0, "8", 1, 1024, NULL, NULL, 0,
     "Batches sent and not yet acknowledged at most."},
    {"backoff_min", WARD_CFG_DURATION, CFG(collector.backoff_min_ms), 0, "200ms", MS(10),
     MS(3600000), NULL, NULL, 0,
     "The first wait before reconnecting after a failure; each failure doubles the cap, "
     "and the wait is drawn at random up to it (full jitter)."},
    {"backoff_max", WARD_CFG_DURATION, CFG(collector.backoff_max_ms), 0, "30s", MS(10),
     MS(86400000), NULL, NULL, 0,
     "The longest wait before reconnecting (also the wait after the collector refused the "
     "key as unknown or revoked)."},
};

static int check_collector(void *obj, const ward_cfg_ctx *c) {
    agent_cfg *a = obj;
    int rc = 0;
    if (a->collector.backoff_min_ms > a->collector.backoff_max_ms)
        rc = ward_cfg_error(c, "backoff_min is longer than backoff_max");
    if (!a->collector.address)
        return rc;
    char err[256], *host, *port;
    if (agent_cfg_parse_address(a->collector.address, &host, &port, err, sizeof(err)) < 0)
        return ward_cfg_error(c, "address '%.200s': %s", a->collector.address, err);
    if (!a->collector.ca && !a->collector.insecure_skip_verify)
        rc = ward_cfg_error(c, "ca is needed with address (the CA that signed the collector's "
                               "certificate)");
    if (!a->collector.server_name && !(a->collector.server_name = strdup(host)))
        rc = ward_cfg_error(c, "out of memory");
    free(host);
    free(port);
    return rc;
}

static const ward_cfg_table collector_table = {"collector", collector_keys,
                                               sizeof(collector_keys) / sizeof(collector_keys[0]),
                                               sizeof(agent_cfg), check_collector};

static const ward_cfg_key privacy_keys[] = {
    {"drop", WARD_CFG_STRLIST, CFG(privacy.drop), CFG(privacy.ndrop), NULL, 0, 0, NULL, NULL, 0,
     "Field names (decoded or extracted, e.g. user, src_ip) left out of the alerts sent to "
     "the collector (docs/privacy.md)."},
    {"pseudonymise", WARD_CFG_STRLIST, CFG(privacy.pseudonymise), CFG(privacy.npseudonymise), NULL,
     0, 0, NULL, NULL, 0,
     "Field names whose values are sent as \"hmac:\" and 32 hex digits of HMAC-SHA256 under "
     "key: equal within this council, unlinkable across councils."},
    {"key", WARD_CFG_STR, CFG(privacy.key), 0, NULL, 0, 0, NULL, NULL, 0,
     "The secret of the pseudonyms (16 to 1024 bytes, mode 0600; ward-agent keygen --privacy "
     "makes one); needed with pseudonymise."},
    {"send_original", WARD_CFG_BOOL, CFG(privacy.send_original), 0, "false", 0, 0, NULL, NULL, 0,
     "Send the original line (event.original, original_base64, message, f2b.line) to the "
     "collector too."},
};

static int check_privacy(void *obj, const ward_cfg_ctx *c) {
    agent_cfg *a = obj;
    int rc = 0;
    if (a->privacy.npseudonymise && !a->privacy.key)
        rc = ward_cfg_error(c, "key is needed with pseudonymise (ward-agent keygen --privacy "
                               "makes one)");
    for (size_t i = 0; i < a->privacy.npseudonymise; i++)
        for (size_t j = 0; j < a->privacy.ndrop; j++)
            if (strcmp(a->privacy.pseudonymise[i], a->privacy.drop[j]) == 0)
                rc =
                    ward_cfg_error(c, "'%s' is both dropped and pseudonymised", a->privacy.drop[j]);
    return rc;
}

static const ward_cfg_table privacy_table = {"privacy", privacy_keys,
                                             sizeof(privacy_keys) / sizeof(privacy_keys[0]),
                                             sizeof(agent_cfg), check_privacy};
static const char *const when_full_names[] = {"block", "drop", NULL};

static const ward_cfg_key spool_keys[] = {
    {"enabled", WARD_CFG_BOOL, CFG(spool.enabled), 0, "false", 0, 0, NULL, NULL, 0,
     "Alerts are also written to the durable spool, where they wait until the collector "
     "has acknowledged them; bookmarks then wait for the spool's fsync."},
    {"dir", WARD_CFG_STR, CFG(spool.dir), 0, NULL, 0, 0, NULL, NULL, 0,
     "The spool's directory (default: STATE_DIR/spool); made 0700 when missing."},
    {"max_size", WARD_CFG_SIZE, CFG(spool.max_size), 0, "1G", SZ(64) << 10, SZ(1) << 40, NULL, NULL,
     0, "The cap on the spool's files; when it is reached, see when_full."},
    {"segment_size", WARD_CFG_SIZE, CFG(spool.segment_size), 0, "16M", SZ(4) << 10, SZ(1) << 30,
     NULL, NULL, 0,
     "A new segment file starts past this size; a segment is removed when all of its "
     "alerts are acknowledged."},
    {"sync_interval", WARD_CFG_DURATION, CFG(spool.sync_interval_ms), 0, "100ms", MS(1), MS(60000),
     NULL, NULL, 0, "Group commit: at most this long between an alert and its fsync in the spool."},
    {"when_full", WARD_CFG_ENUM, CFG(spool.when_full), 0, "block", 0, 0, when_full_names, NULL, 0,
     "block: the sources stop reading and wait at their bookmarks until there is room "
     "(nothing is lost, except UDP syslog, counted in dropped.backlog); drop: new alerts are "
     "dropped and counted (stats spool.dropped), and a ward.spool.dropped alert says how "
     "many once there is room again."},
};
static const ward_cfg_table spool_table = {
    "spool", spool_keys, sizeof(spool_keys) / sizeof(spool_keys[0]), sizeof(agent_cfg), NULL};

/* The defaults no table entry can give (they depend on the host or on a source's place).
 * They are set here because every load (start, SIGHUP, --check) goes through this check,
 * and before the checks that need them. Returns 0 or -1 (reported). */
static int set_defaults(agent_cfg *a, const ward_cfg_ctx *c) {
    if (!a->agent.name) {
        char host[256] = "";
        if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
            snprintf(host, sizeof(host), "localhost");
        if (!(a->agent.name = strdup(host)))
            return ward_cfg_error(c, "out of memory");
    }
    /* a source's name: given, or its type and place in the list ("file-1") */
    for (size_t i = 0; i < a->nsources; i++) {
        agent_source_cfg *s = &a->sources[i];
        if (s->name)
            continue;
        char n[32];
        snprintf(n, sizeof(n), "%s-%zu", source_types[s->type], i + 1);
        if (!(s->name = strdup(n)))
            return ward_cfg_error(c, "out of memory");
    }
    /* a collector is shipped to from the spool */
    if (a->collector.address)
        a->spool.enabled = 1;
    if (a->collector.address && !a->collector.key) {
        size_t n = strlen(a->agent.state_dir) + sizeof("/agent.key");
        if (!(a->collector.key = malloc(n)))
            return ward_cfg_error(c, "out of memory");
        snprintf(a->collector.key, n, "%s/agent.key", a->agent.state_dir);
    }
    return 0;
}

static int check_agent(void *obj, const ward_cfg_ctx *c) {
    agent_cfg *a = obj;
    if (set_defaults(a, c) < 0)
        return -1;
    int rc = 0;
    if (a->nsources == 0)
        rc = ward_cfg_error(c, "no sources: add at least one under 'sources'");
    if (!a->outputs.file.path && !a->outputs.stdout_ && !a->spool.enabled)
        rc = ward_cfg_error(c, "no output: set outputs.file.path, outputs.stdout or spool.enabled");
    /* source names, the defaults included, must be unique: bookmarks are kept by name */
    for (size_t i = 0; i < a->nsources; i++)
        for (size_t j = i + 1; j < a->nsources; j++)
            if (strcmp(a->sources[i].name, a->sources[j].name) == 0)
                rc = ward_cfg_error(c, "two sources are named '%s'", a->sources[i].name);
    return rc;
}

static const ward_cfg_key root_keys[] = {
    {"agent", WARD_CFG_SECTION, 0, 0, NULL, 0, 0, NULL, &agent_table, 0, "The agent itself."},
    {"rules", WARD_CFG_SECTION, 0, 0, NULL, 0, 0, NULL, &rules_table, 0, "Detection rules."},
    {"sources", WARD_CFG_LIST, CFG(sources), CFG(nsources), NULL, 0, 0, NULL, &source_table, 1,
     "What the agent reads (a list)."},
    {"outputs", WARD_CFG_SECTION, 0, 0, NULL, 0, 0, NULL, &outputs_table, 0, "Where alerts go."},
    {"limits", WARD_CFG_SECTION, 0, 0, NULL, 0, 0, NULL, &limits_table, 0,
     "Limits on input and on rules."},
    {"stats", WARD_CFG_SECTION, 0, 0, NULL, 0, 0, NULL, &stats_table, 0, "Self-monitoring."},
    {"collector", WARD_CFG_SECTION, 0, 0, NULL, 0, 0, NULL, &collector_table, 0,
     "The regional collector alerts are shipped to (none by default)."},
    {"privacy", WARD_CFG_SECTION, 0, 0, NULL, 0, 0, NULL, &privacy_table, 0,
     "What of an alert leaves the council (docs/privacy.md)."},
    {"spool", WARD_CFG_SECTION, 0, 0, NULL, 0, 0, NULL, &spool_table, 0,
     "The durable spool alerts wait in for the collector."},
    {"bookmark_interval", WARD_CFG_DURATION, CFG(bookmark_interval_ms), 0, "1s", MS(10), MS(600000),
     NULL, NULL, 0,
     "Bookmarks are written at most this often (and at exit), always after the alerts "
     "before them are durable."},
};

const ward_cfg_table agent_cfg_table = {"", root_keys, sizeof(root_keys) / sizeof(root_keys[0]),
                                        sizeof(agent_cfg), check_agent};
