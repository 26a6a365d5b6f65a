/* ward-agent's configuration: the structure, and the table (agent_config.c) that declares
 * every key once: name, type, default, range and help. docs/agent.md is made from it. */
#ifndef WARD_AGENT_CONFIG_H
#define WARD_AGENT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "ward/config.h"

enum { SRC_FILE = 0, SRC_JOURNAL, SRC_SYSLOG };
enum { START_DEFAULT = 0, START_END, START_BEGINNING };
enum { FRAMING_AUTO = 0, FRAMING_LF, FRAMING_OCTET };
enum { SPOOL_BLOCK = 0, SPOOL_DROP };

typedef struct agent_source_cfg {
    int type;
    char *name;
    int decoder; /* a ward_decoder (the choices are listed in its order) */
    /* file */
    char **paths;
    size_t npaths;
    char **exclude;
    size_t nexclude;
    int start_at;
    int poll;                    /* stat polling instead of inotify (NFS and the like) */
    uint64_t scan_interval_ms;   /* reconciliation scan / polling period */
    uint64_t partial_timeout_ms; /* 0: hold a line without newline until it has one */
    uint64_t rotate_wait_ms;     /* a rotated or deleted file stays open this long idle */
    uint64_t max_line;           /* 0: the agent's limits.max_line */
    char *multiline_start;       /* PCRE2: a line matching it starts a new event */
    uint64_t multiline_timeout_ms;
    int64_t multiline_max_lines;
    /* journal */
    char **journal_files; /* read these journal files (tests, back-fills) */
    size_t njournal_files;
    char *journal_dir;
    char **journal_match; /* FIELD=VALUE filters */
    size_t njournal_match;
    /* syslog */
    char *listen; /* udp://ADDR:PORT or tcp://ADDR:PORT */
    int framing;
    uint64_t max_message;
    int64_t max_connections;
    int64_t max_connections_per_peer;
    int64_t rate_per_peer; /* messages per second per sender, 0: no limit */
    uint64_t idle_timeout_ms;
} agent_source_cfg;

typedef struct agent_cfg {
    struct {
        char *name;      /* default: the host name */
        char *state_dir; /* bookmarks, stats */
        char *id;
        char *user;  /* started as root, the agent becomes this user */
        int sandbox; /* no_new_privs, seccomp and Landlock (false: debugging) */
    } agent;
    struct {
        char **paths;
        size_t npaths;
        char **overlays;
        size_t noverlays;
    } rules;
    agent_source_cfg *sources;
    size_t nsources;
    struct {
        struct {
            char *path;
            uint64_t fsync_interval_ms;
        } file;
        int stdout_;
    } outputs;
    struct {
        uint64_t max_line;
        uint64_t correlation_memory;
        int64_t pcre2_match_limit;
        int64_t pcre2_depth_limit;
        uint64_t pcre2_heap;
        uint64_t jit_stack;
        uint64_t yara_timeout_ms;
        uint64_t output_buffer;
    } limits;
    struct {
        uint64_t interval_ms; /* how often counters are logged; 0: never */
        char *file;           /* written on SIGUSR1 and at exit; default state_dir/stats.json */
    } stats;
    struct {
        int enabled; /* alerts go to the durable spool (for the collector) */
        char *dir;   /* default state_dir/spool */
        uint64_t max_size, segment_size;
        uint64_t sync_interval_ms; /* group commit: at most this between an alert and its fsync */
        int when_full;             /* SPOOL_BLOCK or SPOOL_DROP */
    } spool;
    uint64_t bookmark_interval_ms;
    struct {
        char *address;     /* host:port of the collector; NULL: nothing is shipped */
        char *ca;          /* PEM file of the CA the collector's certificate is checked against */
        char *server_name; /* the name its certificate must carry (default: address's host) */
        int insecure_skip_verify;
        char *key;      /* the agent's Ed25519 private key (default: state_dir/agent.key) */
        char *feed_key; /* the collector's public key, to verify the feed */
        int64_t batch_max_records;
        uint64_t batch_max_bytes;
        int64_t in_flight;
        uint64_t backoff_min_ms, backoff_max_ms;
    } collector;
    struct {
        char **drop; /* field names left out of what is spooled */
        size_t ndrop;
        char **pseudonymise; /* field names replaced by a keyed HMAC */
        size_t npseudonymise;
        char *key;         /* the secret of the HMAC */
        int send_original; /* event.original (and the message) are spooled too */
    } privacy;
} agent_cfg;

extern const ward_cfg_table agent_cfg_table;

/* The ward_decoder of a source's decoder setting. */
int agent_cfg_decoder(const agent_source_cfg *s);

/* 1 when a and b have the same value for every key of a source (a reload then keeps the
 * source running), else 0. */
int agent_cfg_source_equal(const agent_source_cfg *a, const agent_source_cfg *b);

/* Splits a listen value, "udp://HOST:PORT" or "tcp://[V6]:PORT": *tcp, the host (hostlen
 * bytes at most, with its NUL), the port as digits (port holds 8 bytes), *numeric6 when the
 * host was a bracketed IPv6 address. Used by the configuration check and by the syslog
 * source. Returns 0, or -1 with a message in err. */
int agent_cfg_parse_listen(const char *v, int *tcp, char *host, size_t hostlen, char *port,
                           int *numeric6, char *err, size_t errlen);

/* Splits "HOST:PORT" or "[V6]:PORT" into host (without brackets) and port; both are
 * malloc'd (caller frees). Returns 0, or -1 with a message in err. */
int agent_cfg_parse_address(const char *v, char **host, char **port, char *err, size_t errlen);

#endif
