#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ward/config.h"
#include "ward/node.h"

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- a realistic sample: an agent's configuration ---- */

enum { SRC_FILE, SRC_JOURNAL };
enum { FMT_JSON, FMT_TEXT, FMT_SYSLOG };

typedef struct source_cfg {
    char *name;
    int type;
    char **paths;
    size_t npaths;
    uint64_t max_line;
    int follow;
    uint64_t poll;
    int checks; /* not a key: counts check() calls */
} source_cfg;

typedef struct file_out {
    int enabled;
    char *path;
    uint64_t rotate_size;
    int checks;
} file_out;

typedef struct tls_cfg {
    char *ca;
    int insecure;
} tls_cfg;

typedef struct outputs_cfg {
    file_out file;
    char *collector;
    int format;
    uint64_t flush_interval;
    tls_cfg tls;
} outputs_cfg;

typedef struct limits_cfg {
    uint64_t max_line;
    uint64_t max_alert;
    int64_t max_connections;
    uint64_t read_timeout;
} limits_cfg;

typedef struct agent_cfg {
    char *node;
    char **rules;
    size_t nrules;
    int64_t workers;
    int64_t nice;
    int verbose;
    source_cfg *sources;
    size_t nsources;
    outputs_cfg outputs;
    limits_cfg limits;
    int checks;
} agent_cfg;

static const char *const src_types[] = {"file", "journal", NULL};
static const char *const formats[] = {"json", "text", "syslog", NULL};

static int source_check(void *obj, const ward_cfg_ctx *c) {
    source_cfg *s = obj;
    s->checks++;
    if (s->type == SRC_FILE && s->npaths == 0)
        return ward_cfg_error(c, "paths is needed when type is file");
    return 0;
}

static int file_out_check(void *obj, const ward_cfg_ctx *c) {
    file_out *f = obj;
    f->checks++;
    if (f->enabled && !f->path)
        return ward_cfg_error(c, "path is needed when enabled is true");
    return 0;
}

static int limits_check(void *obj, const ward_cfg_ctx *c) {
    limits_cfg *l = obj;
    if (l->max_alert > l->max_line)
        return ward_cfg_error(c, "max_alert must not be above max_line");
    return 0;
}

static int agent_check(void *obj, const ward_cfg_ctx *c) {
    agent_cfg *a = obj;
    a->checks++;
    for (size_t i = 0; i < a->nsources; i++)
        for (size_t j = i + 1; j < a->nsources; j++)
            if (a->sources[i].name && a->sources[j].name &&
                !strcmp(a->sources[i].name, a->sources[j].name))
                return ward_cfg_error(c, "two sources are named '%s'", a->sources[i].name);
    return 0;
}

static const ward_cfg_key source_keys[] = {
    {.name = "name",
     .type = WARD_CFG_STR,
     .offset = offsetof(source_cfg, name),
     .required = 1,
     .help = "Name of the source in alerts."},
    {.name = "type",
     .type = WARD_CFG_ENUM,
     .offset = offsetof(source_cfg, type),
     .def = "file",
     .choices = src_types,
     .help = "Where lines come from."},
    {.name = "paths",
     .type = WARD_CFG_STRLIST,
     .offset = offsetof(source_cfg, paths),
     .offset2 = offsetof(source_cfg, npaths),
     .help = "Files to follow (glob patterns)."},
    {.name = "max_line",
     .type = WARD_CFG_SIZE,
     .offset = offsetof(source_cfg, max_line),
     .def = "64k",
     .min = 1024,
     .max = 16 << 20,
     .help = "Longer lines are cut and counted."},
    {.name = "follow",
     .type = WARD_CFG_BOOL,
     .offset = offsetof(source_cfg, follow),
     .def = "true",
     .help = "Follow renames on rotation."},
    {.name = "poll",
     .type = WARD_CFG_DURATION,
     .offset = offsetof(source_cfg, poll),
     .def = "250ms",
     .min = 10,
     .max = 60000,
     .help = "How often to look for new data."},
};
static const ward_cfg_table source_table = {"sources[]", source_keys, NKEYS(source_keys),
                                            sizeof(source_cfg), source_check};

static const ward_cfg_key file_keys[] = {
    {.name = "enabled",
     .type = WARD_CFG_BOOL,
     .offset = offsetof(file_out, enabled),
     .def = "false",
     .help = "Write alerts to a local file."},
    {.name = "path",
     .type = WARD_CFG_STR,
     .offset = offsetof(file_out, path),
     .help = "The alert file."},
    {.name = "rotate_size",
     .type = WARD_CFG_SIZE,
     .offset = offsetof(file_out, rotate_size),
     .def = "100M",
     .min = 1 << 20,
     .help = "Rotate the file at this size."},
};
static const ward_cfg_table file_table = {"outputs.file", file_keys, NKEYS(file_keys),
                                          sizeof(file_out), file_out_check};

static const ward_cfg_key tls_keys[] = {
    {.name = "ca",
     .type = WARD_CFG_STR,
     .offset = offsetof(tls_cfg, ca),
     .def = "/etc/ward/ca.pem",
     .help = "CA certificates for the collector."},
    {.name = "insecure_skip_verify",
     .type = WARD_CFG_BOOL,
     .offset = offsetof(tls_cfg, insecure),
     .def = "off",
     .help = "Do not verify the collector (testing only)."},
};
static const ward_cfg_table tls_table = {"outputs.tls", tls_keys, NKEYS(tls_keys), sizeof(tls_cfg),
                                         NULL};

static const ward_cfg_key outputs_keys[] = {
    {.name = "file",
     .type = WARD_CFG_SECTION,
     .offset = offsetof(outputs_cfg, file),
     .sub = &file_table,
     .help = "Local alert file."},
    {.name = "collector",
     .type = WARD_CFG_STR,
     .offset = offsetof(outputs_cfg, collector),
     .help = "host:port of the collector."},
    {.name = "format",
     .type = WARD_CFG_ENUM,
     .offset = offsetof(outputs_cfg, format),
     .def = "json",
     .choices = formats,
     .help = "Alert format: json | text | syslog."},
    {.name = "flush_interval",
     .type = WARD_CFG_DURATION,
     .offset = offsetof(outputs_cfg, flush_interval),
     .def = "5s",
     .min = 100,
     .max = 3600000,
     .help = "Longest time an alert waits in a batch."},
    {.name = "tls",
     .type = WARD_CFG_SECTION,
     .offset = offsetof(outputs_cfg, tls),
     .sub = &tls_table,
     .help = "TLS to the collector."},
};
static const ward_cfg_table outputs_table = {"outputs", outputs_keys, NKEYS(outputs_keys),
                                             sizeof(outputs_cfg), NULL};

static const ward_cfg_key limits_keys[] = {
    {.name = "max_line",
     .type = WARD_CFG_SIZE,
     .offset = offsetof(limits_cfg, max_line),
     .def = "64k",
     .min = 1024,
     .max = 1 << 30,
     .help = "Default line limit."},
    {.name = "max_alert",
     .type = WARD_CFG_SIZE,
     .offset = offsetof(limits_cfg, max_alert),
     .def = "16k",
     .min = 1024,
     .max = 1 << 30,
     .help = "Largest alert."},
    {.name = "max_connections",
     .type = WARD_CFG_INT,
     .offset = offsetof(limits_cfg, max_connections),
     .def = "256",
     .min = 1,
     .max = 100000,
     .help = "Open connections."},
    {.name = "read_timeout",
     .type = WARD_CFG_DURATION,
     .offset = offsetof(limits_cfg, read_timeout),
     .def = "30s",
     .max = 86400000,
     .help = "Idle peers are dropped after this."},
};
static const ward_cfg_table limits_table = {"limits", limits_keys, NKEYS(limits_keys),
                                            sizeof(limits_cfg), limits_check};

static const ward_cfg_key agent_keys[] = {
    {.name = "node",
     .type = WARD_CFG_STR,
     .offset = offsetof(agent_cfg, node),
     .required = 1,
     .help = "Name of this node in alerts."},
    {.name = "rules",
     .type = WARD_CFG_STRLIST,
     .offset = offsetof(agent_cfg, rules),
     .offset2 = offsetof(agent_cfg, nrules),
     .def = "/etc/ward/rules, /usr/share/ward/rules",
     .help = "Rule files and directories."},
    {.name = "workers",
     .type = WARD_CFG_INT,
     .offset = offsetof(agent_cfg, workers),
     .def = "2",
     .min = 1,
     .max = 64,
     .help = "Matching threads."},
    {.name = "nice",
     .type = WARD_CFG_INT,
     .offset = offsetof(agent_cfg, nice),
     .def = "0",
     .min = -20,
     .max = 19,
     .help = "Scheduling priority."},
    {.name = "verbose",
     .type = WARD_CFG_BOOL,
     .offset = offsetof(agent_cfg, verbose),
     .def = "no",
     .help = "Log more."},
    {.name = "sources",
     .type = WARD_CFG_LIST,
     .offset = offsetof(agent_cfg, sources),
     .offset2 = offsetof(agent_cfg, nsources),
     .sub = &source_table,
     .help = "Log sources."},
    {.name = "outputs",
     .type = WARD_CFG_SECTION,
     .offset = offsetof(agent_cfg, outputs),
     .sub = &outputs_table,
     .help = "Where alerts go."},
    {.name = "limits",
     .type = WARD_CFG_SECTION,
     .offset = offsetof(agent_cfg, limits),
     .sub = &limits_table,
     .help = "Input limits."},
};
static const ward_cfg_table agent_table = {"", agent_keys, NKEYS(agent_keys), sizeof(agent_cfg),
                                           agent_check};

/* ---- helpers ---- */

static int load(const char *y, agent_cfg *c, ward_diags *d) {
    memset(c, 0, sizeof(*c));
    ward_diags_init(d);
    return ward_cfg_load_buffer(&agent_table, c, "agent.yml", (const uint8_t *)y, strlen(y), d);
}

static void done(agent_cfg *c, ward_diags *d) {
    ward_cfg_free(&agent_table, c);
    ward_diags_fini(d);
}

static void dump(const ward_diags *d) {
    char buf[1200];
    for (size_t i = 0; i < d->n; i++) {
        ward_diag_format(&d->v[i], buf, sizeof(buf));
        print_error("  have: %s\n", buf);
    }
}

/* Asserts that some diagnostic, formatted as "file:line:col: msg", is exactly want. */
static void expect_diag(const ward_diags *d, const char *want) {
    char buf[1200];
    for (size_t i = 0; i < d->n; i++) {
        ward_diag_format(&d->v[i], buf, sizeof(buf));
        if (!strcmp(buf, want))
            return;
    }
    dump(d);
    fail_msg("no diagnostic is: %s", want);
}

/* Asserts that there is exactly one diagnostic, want. */
static void expect_only(const ward_diags *d, const char *want) {
    if (d->n != 1) {
        dump(d);
        fail_msg("%zu diagnostics, wanted only: %s", d->n, want);
    }
    expect_diag(d, want);
}

/* Loads text that must fail with exactly the one error want. */
static void load_fails(const char *y, const char *want) {
    agent_cfg c;
    ward_diags d;
    assert_int_equal(load(y, &c, &d), -1);
    expect_only(&d, want);
    done(&c, &d);
}

/* ---- defaults and values ---- */

static void test_config_defaults_apply(void **state) {
    (void)state;
    agent_cfg c;
    ward_diags d;
    memset(&c, 0, sizeof(c));
    ward_diags_init(&d);
    assert_int_equal(ward_cfg_defaults(&agent_table, &c, &d), 0);
    assert_int_equal(d.n, 0);
    assert_null(c.node);
    assert_int_equal(c.nrules, 2); /* a comma-separated STRLIST default, trimmed */
    assert_string_equal(c.rules[0], "/etc/ward/rules");
    assert_string_equal(c.rules[1], "/usr/share/ward/rules");
    assert_int_equal(c.workers, 2);
    assert_int_equal(c.nice, 0);
    assert_int_equal(c.verbose, 0);
    assert_null(c.sources);
    assert_int_equal(c.nsources, 0);
    assert_int_equal(c.outputs.file.enabled, 0);
    assert_null(c.outputs.file.path);
    assert_int_equal(c.outputs.file.rotate_size, 100u << 20);
    assert_null(c.outputs.collector);
    assert_int_equal(c.outputs.format, FMT_JSON);
    assert_int_equal(c.outputs.flush_interval, 5000);
    assert_string_equal(c.outputs.tls.ca, "/etc/ward/ca.pem");
    assert_int_equal(c.outputs.tls.insecure, 0);
    assert_int_equal(c.limits.max_line, 65536);
    assert_int_equal(c.limits.max_alert, 16384);
    assert_int_equal(c.limits.max_connections, 256);
    assert_int_equal(c.limits.read_timeout, 30000);
    assert_int_equal(c.checks, 0); /* defaults alone run no check */
    /* Defaults again over defaults: the strings they replace are freed (ASan). */
    assert_int_equal(ward_cfg_defaults(&agent_table, &c, &d), 0);
    assert_int_equal(c.nrules, 2);
    done(&c, &d);
}

static const char full_yaml[] = "node: web-1\n"
                                "rules: /srv/rules\n"
                                "workers: 8\n"
                                "nice: -5\n"
                                "verbose: YES\n"
                                "sources:\n"
                                "  - name: auth\n"
                                "    paths: [/var/log/auth.log, /var/log/secure]\n"
                                "    max_line: 128KiB\n"
                                "    follow: off\n"
                                "    poll: 2s\n"
                                "  - name: journal\n"
                                "    type: journal\n"
                                "outputs:\n"
                                "  file:\n"
                                "    enabled: true\n"
                                "    path: /var/lib/ward/alerts.json\n"
                                "    rotate_size: 1G\n"
                                "  collector: \"collector.example:7400\"\n"
                                "  format: syslog\n"
                                "  flush_interval: 1500ms\n"
                                "  tls:\n"
                                "    insecure_skip_verify: On\n"
                                "limits:\n"
                                "  max_line: 1m\n"
                                "  max_alert: '32k'\n"
                                "  max_connections: +1000\n"
                                "  read_timeout: 2h\n";

static void check_full(const agent_cfg *c) {
    assert_string_equal(c->node, "web-1");
    assert_int_equal(c->nrules, 1); /* a scalar is a one-item list */
    assert_string_equal(c->rules[0], "/srv/rules");
    assert_int_equal(c->workers, 8);
    assert_int_equal(c->nice, -5);
    assert_int_equal(c->verbose, 1);
    assert_int_equal(c->nsources, 2);
    const source_cfg *s = &c->sources[0];
    assert_string_equal(s->name, "auth");
    assert_int_equal(s->type, SRC_FILE);
    assert_int_equal(s->npaths, 2);
    assert_string_equal(s->paths[0], "/var/log/auth.log");
    assert_string_equal(s->paths[1], "/var/log/secure");
    assert_int_equal(s->max_line, 128 * 1024);
    assert_int_equal(s->follow, 0);
    assert_int_equal(s->poll, 2000);
    assert_int_equal(s->checks, 1);
    s = &c->sources[1]; /* defaults first, then its own keys */
    assert_string_equal(s->name, "journal");
    assert_int_equal(s->type, SRC_JOURNAL);
    assert_int_equal(s->npaths, 0);
    assert_null(s->paths);
    assert_int_equal(s->max_line, 65536);
    assert_int_equal(s->follow, 1);
    assert_int_equal(s->poll, 250);
    assert_int_equal(s->checks, 1);
    assert_int_equal(c->outputs.file.enabled, 1);
    assert_string_equal(c->outputs.file.path, "/var/lib/ward/alerts.json");
    assert_int_equal(c->outputs.file.rotate_size, 1u << 30);
    assert_int_equal(c->outputs.file.checks, 1);
    assert_string_equal(c->outputs.collector, "collector.example:7400");
    assert_int_equal(c->outputs.format, FMT_SYSLOG);
    assert_int_equal(c->outputs.flush_interval, 1500);
    assert_string_equal(c->outputs.tls.ca, "/etc/ward/ca.pem"); /* default kept */
    assert_int_equal(c->outputs.tls.insecure, 1);
    assert_int_equal(c->limits.max_line, 1u << 20);
    assert_int_equal(c->limits.max_alert, 32768); /* a quoted size is fine */
    assert_int_equal(c->limits.max_connections, 1000);
    assert_int_equal(c->limits.read_timeout, 2 * 3600000);
    assert_int_equal(c->checks, 1);
}

static void test_config_loads_every_type(void **state) {
    (void)state;
    agent_cfg c;
    ward_diags d;
    int rc = load(full_yaml, &c, &d);
    if (rc != 0)
        dump(&d);
    assert_int_equal(rc, 0);
    assert_int_equal(d.n, 0);
    check_full(&c);
    done(&c, &d);
}

static void test_config_override_frees_replaced_values(void **state) {
    (void)state;
    agent_cfg c;
    ward_diags d;
    assert_int_equal(load(full_yaml, &c, &d), 0);
    /* A second load into the loaded object: defaults then values replace every string,
     * list and item; ASan's leak check sees anything left behind. */
    const char *y = "node: web-2\n"
                    "rules: []\n"
                    "sources:\n"
                    "  - name: one\n"
                    "    paths: /a\n";
    assert_int_equal(
        ward_cfg_load_buffer(&agent_table, &c, "b.yml", (const uint8_t *)y, strlen(y), &d), 0);
    assert_string_equal(c.node, "web-2");
    assert_int_equal(c.nrules, 0); /* [] overrides the default list */
    assert_null(c.rules);
    assert_int_equal(c.nsources, 1);
    assert_string_equal(c.sources[0].paths[0], "/a");
    assert_null(c.outputs.file.path); /* back to its default */
    assert_int_equal(c.workers, 2);
    done(&c, &d);
}

static void test_config_bool_spellings(void **state) {
    (void)state;
    static const struct {
        const char *text;
        int want;
    } ok[] = {{"true", 1}, {"True", 1},  {"TRUE", 1},  {"yes", 1}, {"Yes", 1}, {"on", 1},
              {"ON", 1},   {"false", 0}, {"FALSE", 0}, {"no", 0},  {"No", 0},  {"off", 0}};
    for (size_t i = 0; i < NKEYS(ok); i++) {
        char y[64];
        agent_cfg c;
        ward_diags d;
        snprintf(y, sizeof(y), "node: n\nverbose: %s\n", ok[i].text);
        assert_int_equal(load(y, &c, &d), 0);
        assert_int_equal(c.verbose, ok[i].want);
        done(&c, &d);
    }
    /* A quoted value is a string, whatever it says. */
    load_fails("node: n\nverbose: \"yes\"\n",
               "agent.yml:2:10: 'verbose' must be true or false, not the quoted string 'yes'");
    load_fails("node: n\nverbose: 1\n", "agent.yml:2:10: 'verbose' must be true or false, not '1'");
    load_fails("node: n\nverbose: yess\n",
               "agent.yml:2:10: 'verbose' must be true or false, not 'yess'");
    load_fails("node: n\nverbose: [true]\n",
               "agent.yml:2:10: 'verbose' must be true or false, not a list");
    load_fails("node: n\nverbose:\n",
               "agent.yml:2:9: 'verbose' must be true or false, not an empty value");
}

static void test_config_int_values_and_range(void **state) {
    (void)state;
    agent_cfg c;
    ward_diags d;
    assert_int_equal(load("node: n\nworkers: 64\nnice: -20\n", &c, &d), 0);
    assert_int_equal(c.workers, 64);
    assert_int_equal(c.nice, -20);
    done(&c, &d);
    assert_int_equal(load("node: n\nworkers: 1\nnice: +19\n", &c, &d), 0);
    assert_int_equal(c.workers, 1);
    assert_int_equal(c.nice, 19);
    done(&c, &d);
    load_fails("node: n\nworkers: 0\n",
               "agent.yml:2:10: 'workers' must be between 1 and 64, not 0");
    load_fails("node: n\nworkers: 65\n",
               "agent.yml:2:10: 'workers' must be between 1 and 64, not 65");
    load_fails("node: n\nnice: -21\n", "agent.yml:2:7: 'nice' must be between -20 and 19, not -21");
    load_fails("node: n\nnice: -9223372036854775808\n",
               "agent.yml:2:7: 'nice' must be between -20 and 19, not -9223372036854775808");
    load_fails("node: n\nworkers: 9223372036854775808\n",
               "agent.yml:2:10: 'workers' is too large: '9223372036854775808'");
    load_fails("node: n\nworkers: 0x10\n",
               "agent.yml:2:10: 'workers' must be an integer, not '0x10'");
    load_fails("node: n\nworkers: 1.5\n",
               "agent.yml:2:10: 'workers' must be an integer, not '1.5'");
    load_fails("node: n\nworkers: +\n", "agent.yml:2:10: 'workers' must be an integer, not '+'");
    load_fails("node: n\nworkers: \"8\"\n",
               "agent.yml:2:10: 'workers' must be an integer, not the quoted string '8'");
    load_fails("node: n\nworkers: {a: 1}\n",
               "agent.yml:2:10: 'workers' must be an integer, not a map");
}

/* Ranges at their edges: none, lower bound only, upper bound only. */
typedef struct ranges {
    int64_t any, atleast;
    uint64_t big, small, wait;
} ranges;

static const ward_cfg_key ranges_keys[] = {
    {.name = "any", .type = WARD_CFG_INT, .offset = offsetof(ranges, any)},
    {.name = "atleast", .type = WARD_CFG_INT, .offset = offsetof(ranges, atleast), .min = 10},
    {.name = "big", .type = WARD_CFG_SIZE, .offset = offsetof(ranges, big)},
    {.name = "small", .type = WARD_CFG_SIZE, .offset = offsetof(ranges, small), .max = 1024},
    {.name = "wait", .type = WARD_CFG_DURATION, .offset = offsetof(ranges, wait), .min = 1000},
};
static const ward_cfg_table ranges_table = {"", ranges_keys, NKEYS(ranges_keys), sizeof(ranges),
                                            NULL};

static int load_ranges(const char *y, ranges *r, ward_diags *d) {
    memset(r, 0, sizeof(*r));
    ward_diags_init(d);
    return ward_cfg_load_buffer(&ranges_table, r, "r.yml", (const uint8_t *)y, strlen(y), d);
}

static void test_config_range_edges(void **state) {
    (void)state;
    ranges r;
    ward_diags d;
    assert_int_equal(load_ranges("any: -9223372036854775808\natleast: 9223372036854775807\n"
                                 "big: 18446744073709551615\nsmall: 1k\nwait: 1s\n",
                                 &r, &d),
                     0);
    assert_true(r.any == INT64_MIN);
    assert_true(r.atleast == INT64_MAX);
    assert_true(r.big == UINT64_MAX);
    assert_int_equal(r.small, 1024);
    assert_int_equal(r.wait, 1000);
    ward_diags_fini(&d);
    assert_int_equal(load_ranges("any: 9223372036854775807\natleast: 9\nsmall: 1025\nwait: 999ms\n"
                                 "big: 18446744073709551616\n",
                                 &r, &d),
                     -1);
    assert_int_equal(d.n, 4);
    assert_true(r.any == INT64_MAX);
    expect_diag(&d, "r.yml:2:10: 'atleast' must be at least 10, not 9");
    expect_diag(&d, "r.yml:3:8: 'small' must be at most 1k, not 1025");
    expect_diag(&d, "r.yml:4:7: 'wait' must be at least 1s, not 999ms");
    expect_diag(&d, "r.yml:5:6: 'big' is too large: '18446744073709551616'");
    ward_diags_fini(&d);
    ward_cfg_free(&ranges_table, &r);
}

static void test_config_parse_size_edges(void **state) {
    (void)state;
    static const struct {
        const char *s;
        uint64_t want;
    } ok[] = {
        {"0", 0},
        {"123", 123},
        {"64k", 65536},
        {"64K", 65536},
        {"64kB", 65536},
        {"64KiB", 65536},
        {"16M", 16u << 20},
        {"16m", 16u << 20},
        {"16MiB", 16u << 20},
        {"1G", 1u << 30},
        {"1g", 1u << 30},
        {"1GB", 1u << 30},
        {"100B", 100},
        {"007", 7},
        {"18446744073709551615", UINT64_MAX},
        {"17179869183g", (UINT64_C(1) << 34) * (UINT64_C(1) << 30) - (UINT64_C(1) << 30)},
        {"0g", 0},
    };
    static const char *const bad[] = {"",
                                      "k",
                                      "-1",
                                      "+1",
                                      " 1",
                                      "1 ",
                                      "64 k",
                                      "1.5k",
                                      "1t",
                                      "64kb",
                                      "64KIB",
                                      "1iB",
                                      "1KiBB",
                                      "1kk",
                                      "18446744073709551616",
                                      "17179869184g",
                                      "99999999999999999999999k",
                                      "99999999999999999999999x"};
    for (size_t i = 0; i < NKEYS(ok); i++) {
        uint64_t v = 42;
        if (ward_cfg_parse_size(ok[i].s, &v) != 0)
            fail_msg("'%s' did not parse", ok[i].s);
        if (v != ok[i].want)
            fail_msg("'%s' gave %" PRIu64, ok[i].s, v);
    }
    for (size_t i = 0; i < NKEYS(bad); i++) {
        uint64_t v = 42;
        if (ward_cfg_parse_size(bad[i], &v) != -1)
            fail_msg("'%s' parsed", bad[i]);
        assert_int_equal(v, 42); /* untouched */
    }
    uint64_t v;
    assert_int_equal(ward_cfg_parse_size(NULL, &v), -1);
    assert_int_equal(ward_cfg_parse_size("1", NULL), -1);
}

static void test_config_parse_duration_edges(void **state) {
    (void)state;
    static const struct {
        const char *s;
        uint64_t want;
    } ok[] = {
        {"0", 0},
        {"0ms", 0},
        {"7", 7000}, /* a bare number is seconds */
        {"250ms", 250},
        {"10s", 10000},
        {"5m", 300000},
        {"2h", 7200000},
        {"1d", 86400000},
        {"18446744073709551615ms", UINT64_MAX},
        {"18446744073709551", UINT64_C(18446744073709551000)},
        {"213503982334d", UINT64_C(213503982334) * 86400000},
    };
    static const char *const bad[] = {"",
                                      "s",
                                      "ms",
                                      "-1s",
                                      "+1s",
                                      "1.5s",
                                      "10S",
                                      "10M",
                                      "10sec",
                                      "1 s",
                                      "1w",
                                      "1mss",
                                      "18446744073709551616ms",
                                      "18446744073709551615s",
                                      "18446744073709552",
                                      "213503982335d",
                                      "99999999999999999999999x"};
    for (size_t i = 0; i < NKEYS(ok); i++) {
        uint64_t v = 42;
        if (ward_cfg_parse_duration(ok[i].s, &v) != 0)
            fail_msg("'%s' did not parse", ok[i].s);
        if (v != ok[i].want)
            fail_msg("'%s' gave %" PRIu64, ok[i].s, v);
    }
    for (size_t i = 0; i < NKEYS(bad); i++) {
        uint64_t v = 42;
        if (ward_cfg_parse_duration(bad[i], &v) != -1)
            fail_msg("'%s' parsed", bad[i]);
        assert_int_equal(v, 42);
    }
    uint64_t v;
    assert_int_equal(ward_cfg_parse_duration(NULL, &v), -1);
}

static void test_config_size_and_duration_errors(void **state) {
    (void)state;
    load_fails("node: n\nlimits:\n  max_line: [1]\n",
               "agent.yml:3:13: 'limits.max_line' must be a size like 64k, not a list");
    load_fails("node: n\nlimits:\n  max_line: 64x\n",
               "agent.yml:3:13: 'limits.max_line' must be a size like 64k, not '64x'");
    load_fails("node: n\nlimits:\n  max_line: 2g\n",
               "agent.yml:3:13: 'limits.max_line' must be between 1k and 1g, not 2g");
    load_fails("node: n\nlimits:\n  max_line: 99999999999999999999\n",
               "agent.yml:3:13: 'limits.max_line' is too large: '99999999999999999999'");
    load_fails("node: n\noutputs:\n  flush_interval: 50ms\n",
               "agent.yml:3:19: 'outputs.flush_interval' must be between 100ms and 1h, not 50ms");
    load_fails("node: n\noutputs:\n  flush_interval: 1.5s\n",
               "agent.yml:3:19: 'outputs.flush_interval' must be a duration like 10s, not '1.5s'");
    load_fails("node: n\nlimits:\n  read_timeout: 2d\n",
               "agent.yml:3:17: 'limits.read_timeout' must be at most 1d, not 2d");
    load_fails("node: n\nlimits:\n  read_timeout:\n",
               "agent.yml:3:16: 'limits.read_timeout' must be a duration like 10s, not an empty "
               "value");
}

static void test_config_enum_values(void **state) {
    (void)state;
    agent_cfg c;
    ward_diags d;
    assert_int_equal(load("node: n\noutputs:\n  format: \"text\"\n", &c, &d), 0);
    assert_int_equal(c.outputs.format, FMT_TEXT);
    done(&c, &d);
    load_fails("node: n\noutputs:\n  format: xml\n",
               "agent.yml:3:11: 'outputs.format' must be one of json, text, syslog, not 'xml'");
    load_fails("node: n\noutputs:\n  format: JSON\n",
               "agent.yml:3:11: 'outputs.format' must be one of json, text, syslog, not 'JSON'");
    load_fails("node: n\noutputs:\n  format: [json]\n",
               "agent.yml:3:11: 'outputs.format' must be one of json, text, syslog, not a list");
}

static void test_config_str_values(void **state) {
    (void)state;
    agent_cfg c;
    ward_diags d;
    assert_int_equal(load("node: 42\n", &c, &d), 0);
    assert_string_equal(c.node, "42"); /* any scalar, as written */
    done(&c, &d);
    assert_int_equal(load("node: \"\"\n", &c, &d), 0);
    assert_string_equal(c.node, "");
    done(&c, &d);
    load_fails("node: [a]\n", "agent.yml:1:7: 'node' must be a string, not a list");
    load_fails("node:\n", "agent.yml:1:6: 'node' must be a string, not an empty value");
    load_fails("node: \"a\\0b\"\n", "agent.yml:1:7: 'node' must not contain a NUL byte");
}

static void test_config_strlist_values(void **state) {
    (void)state;
    agent_cfg c;
    ward_diags d;
    assert_int_equal(load("node: n\nrules: [1, true, \"x y\"]\n", &c, &d), 0);
    assert_int_equal(c.nrules, 3);
    assert_string_equal(c.rules[0], "1");
    assert_string_equal(c.rules[1], "true");
    assert_string_equal(c.rules[2], "x y");
    done(&c, &d);
    assert_int_equal(load("node: n\nrules:\n", &c, &d), 0); /* empty: no rules */
    assert_int_equal(c.nrules, 0);
    assert_null(c.rules);
    done(&c, &d);
    /* A bad item: every bad item is reported and the default stays. */
    assert_int_equal(load("node: n\nrules:\n  - a\n  - {b: 1}\n  - [c]\n  -\n", &c, &d), -1);
    assert_int_equal(d.n, 3);
    expect_diag(&d, "agent.yml:4:5: 'rules[1]' must be a string, not a map");
    expect_diag(&d, "agent.yml:5:5: 'rules[2]' must be a string, not a list");
    expect_diag(&d, "agent.yml:6:4: 'rules[3]' must be a string, not an empty value");
    assert_int_equal(c.nrules, 2);
    assert_string_equal(c.rules[0], "/etc/ward/rules");
    done(&c, &d);
    load_fails("node: n\nrules: {a: b}\n",
               "agent.yml:2:8: 'rules' must be a string or a list of strings, not a map");
    load_fails("node: n\nrules: [\"a\\0\"]\n",
               "agent.yml:2:9: 'rules[0]' must not contain a NUL byte");
}

/* ---- structure errors ---- */

static void test_config_unknown_keys(void **state) {
    (void)state;
    agent_cfg c;
    ward_diags d;
    const char *y = "node: n\n"
                    "nodee: x\n"
                    "sources:\n"
                    "  - name: a\n"
                    "    paths: /x\n"
                    "  - name: b\n"
                    "    pathz: /y\n"
                    "outputs:\n"
                    "  file:\n"
                    "    pth: /z\n"
                    "\"a\\tb\": 1\n";
    assert_int_equal(load(y, &c, &d), -1);
    assert_int_equal(d.n, 4);
    expect_diag(&d, "agent.yml:2:1: unknown key 'nodee' at the top level");
    expect_diag(&d, "agent.yml:7:5: unknown key 'pathz' in sources[1]");
    expect_diag(&d, "agent.yml:10:5: unknown key 'pth' in outputs.file");
    expect_diag(&d, "agent.yml:11:1: unknown key 'a?b' at the top level");
    /* What was right is loaded all the same. */
    assert_string_equal(c.node, "n");
    assert_int_equal(c.nsources, 2);
    assert_string_equal(c.sources[1].name, "b");
    /* sources[1] has an error: its check (paths is needed) does not add a second one. */
    assert_int_equal(c.sources[1].checks, 0);
    assert_int_equal(c.sources[0].checks, 1);
    done(&c, &d);
}

static void test_config_wrong_shapes(void **state) {
    (void)state;
    load_fails("node: n\noutputs: [1]\n", "agent.yml:2:10: 'outputs' must be a map, not a list");
    load_fails("node: n\nlimits: 5\n", "agent.yml:2:9: 'limits' must be a map, not '5'");
    load_fails("node: n\nsources: {name: a}\n",
               "agent.yml:2:10: 'sources' must be a list of maps, not a map");
    load_fails("node: n\nsources: all\n",
               "agent.yml:2:10: 'sources' must be a list of maps, not 'all'");
    agent_cfg c;
    ward_diags d;
    assert_int_equal(load("node: n\nsources:\n  - x\n  -\n  - name: b\n    paths: p\n", &c, &d),
                     -1);
    assert_int_equal(d.n, 2);
    expect_diag(&d, "agent.yml:3:5: 'sources[0]' must be a map, not a string");
    expect_diag(&d, "agent.yml:4:4: 'sources[1]' must be a map, not an empty value");
    assert_int_equal(c.nsources, 1); /* the items that are maps */
    assert_string_equal(c.sources[0].name, "b");
    done(&c, &d);
}

static void test_config_missing_required(void **state) {
    (void)state;
    agent_cfg c;
    ward_diags d;
    const char *y = "workers: 2\n"
                    "sources:\n"
                    "  - paths: /a\n"
                    "  - name: b\n"
                    "    paths: /b\n";
    assert_int_equal(load(y, &c, &d), -1);
    assert_int_equal(d.n, 2);
    expect_diag(&d, "agent.yml:1:1: missing required key 'node' at the top level");
    expect_diag(&d, "agent.yml:3:5: missing required key 'name' in sources[0]");
    done(&c, &d);
}

static void test_config_reports_every_error(void **state) {
    (void)state;
    agent_cfg c;
    ward_diags d;
    const char *y = "node: n\n"
                    "workers: lots\n"
                    "verbose: maybe\n"
                    "sources:\n"
                    "  - name: a\n"
                    "    type: pipe\n"
                    "    max_line: 1\n"
                    "outputs:\n"
                    "  format: xml\n"
                    "  tls:\n"
                    "    ca: [x]\n"
                    "limits:\n"
                    "  max_connections: 0\n"
                    "nice: 3\n";
    assert_int_equal(load(y, &c, &d), -1);
    assert_int_equal(d.n, 7);
    expect_diag(&d, "agent.yml:2:10: 'workers' must be an integer, not 'lots'");
    expect_diag(&d, "agent.yml:3:10: 'verbose' must be true or false, not 'maybe'");
    expect_diag(&d, "agent.yml:6:11: 'sources[0].type' must be one of file, journal, not 'pipe'");
    expect_diag(&d, "agent.yml:7:15: 'sources[0].max_line' must be between 1k and 16m, not 1");
    expect_diag(&d,
                "agent.yml:9:11: 'outputs.format' must be one of json, text, syslog, not 'xml'");
    expect_diag(&d, "agent.yml:11:9: 'outputs.tls.ca' must be a string, not a list");
    expect_diag(&d,
                "agent.yml:13:20: 'limits.max_connections' must be between 1 and 100000, not 0");
    assert_int_equal(c.nice, 3); /* the key after all those errors is loaded */
    assert_int_equal(c.workers, 2);
    done(&c, &d);
}

static void test_config_duplicate_key(void **state) {
    (void)state;
    load_fails("node: a\nworkers: 1\nnode: b\n",
               "agent.yml:3:1: duplicate key 'node' (first at line 1, column 1)");
    load_fails("node: a\nlimits:\n  max_line: 2k\n  max_line: 4k\n",
               "agent.yml:4:3: duplicate key 'max_line' (first at line 3, column 3)");
}

static void test_config_document_shape(void **state) {
    (void)state;
    load_fails("",
               "agent.yml:1:1: the configuration is empty: the top level must be a map of keys");
    load_fails("# nothing yet\n",
               "agent.yml:1:1: the configuration is empty: the top level must be a map of keys");
    load_fails("---\n", "agent.yml:2:1: the top level must be a map of keys, not an empty value");
    load_fails("- node: a\n", "agent.yml:1:1: the top level must be a map of keys, not a list");
    load_fails("node\n", "agent.yml:1:1: the top level must be a map of keys, not a string");

    agent_cfg c;
    ward_diags d;
    assert_int_equal(load("node: a\n---\nnode: b\n---\nnode: c\n", &c, &d), -1);
    expect_only(&d, "agent.yml:3:1: a configuration is one YAML document, but another one starts "
                    "here");
    assert_string_equal(c.node, "a"); /* the first is still loaded and checked */
    done(&c, &d);

    /* A YAML syntax error is reported once, by the reader, not also as "empty". */
    assert_int_equal(load("node: [a\n", &c, &d), -1);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.v[0].line, 2);
    assert_non_null(strstr(d.v[0].msg, "YAML:"));
    done(&c, &d);

    memset(&c, 0, sizeof(c));
    ward_diags_init(&d);
    assert_int_equal(ward_cfg_load_buffer(&agent_table, &c, NULL, NULL, 0, &d), -1);
    expect_only(&d, "line 1, column 1: the configuration is empty: the top level must be a map "
                    "of keys");
    assert_int_equal(c.workers, 2); /* defaults all the same */
    done(&c, &d);
}

static void test_config_empty_values_for_sections_and_lists(void **state) {
    (void)state;
    agent_cfg c;
    ward_diags d;
    int rc = load("node: n\noutputs:\nsources:\nlimits: ~\nrules: []\n", &c, &d);
    if (rc)
        dump(&d);
    assert_int_equal(rc, 0);
    assert_int_equal(c.outputs.format, FMT_JSON);
    assert_int_equal(c.outputs.file.checks, 1);
    assert_int_equal(c.nsources, 0);
    assert_null(c.sources);
    assert_int_equal(c.limits.max_line, 65536);
    assert_int_equal(c.nrules, 0);
    done(&c, &d);
}

/* ---- check() hooks ---- */

static void test_config_check_hooks(void **state) {
    (void)state;
    load_fails("node: n\nsources:\n  - name: a\n    paths: /x\n  - name: b\n",
               "agent.yml:5:5: sources[1]: paths is needed when type is file");
    load_fails("node: n\noutputs:\n  file:\n    enabled: yes\n",
               "agent.yml:4:5: outputs.file: path is needed when enabled is true");
    load_fails("node: n\nlimits:\n  max_line: 4k\n  max_alert: 8k\n",
               "agent.yml:3:3: limits: max_alert must not be above max_line");
    load_fails("node: n\n"
               "sources:\n"
               "  - name: a\n"
               "    paths: /x\n"
               "  - name: a\n"
               "    type: journal\n",
               "agent.yml:1:1: two sources are named 'a'");

    /* A map with an error gets no check; the top level neither, after any error. */
    load_fails("node: n\n"
               "sources:\n"
               "  - name: a\n"
               "    paths: /x\n"
               "  - name: a\n"
               "    max_line: 1\n",
               "agent.yml:6:15: 'sources[1].max_line' must be between 1k and 16m, not 1");

    /* Absent sections are checked too, and the top level once. */
    agent_cfg c;
    ward_diags d;
    assert_int_equal(load("node: n\n", &c, &d), 0);
    assert_int_equal(c.outputs.file.checks, 1);
    assert_int_equal(c.checks, 1);
    done(&c, &d);
}

/* Sections whose defaults need checking, and checks that report in odd ways. */
typedef struct pair {
    int64_t lo, hi;
} pair;
typedef struct mute {
    int64_t fail;
} mute;
typedef struct db {
    char *url;
} db;
typedef struct odd {
    pair pair;
    mute mute;
    db db;
} odd;

static int pair_check(void *obj, const ward_cfg_ctx *c) {
    pair *p = obj;
    if (p->lo > p->hi)
        return ward_cfg_error(c, "lo (%" PRId64 ") must not be above hi (%" PRId64 ")", p->lo,
                              p->hi);
    return 0;
}

static int mute_check(void *obj, const ward_cfg_ctx *c) {
    mute *m = obj;
    if (m->fail == 1)
        return -1; /* no message: the loader says something */
    if (m->fail == 2)
        ward_cfg_error(c, "reported but returned 0"); /* still an error */
    return 0;
}

static const ward_cfg_key pair_keys[] = {
    {.name = "lo", .type = WARD_CFG_INT, .offset = offsetof(pair, lo), .def = "5"},
    {.name = "hi", .type = WARD_CFG_INT, .offset = offsetof(pair, hi), .def = "1"},
};
static const ward_cfg_table pair_table = {"pair", pair_keys, NKEYS(pair_keys), sizeof(pair),
                                          pair_check};
static const ward_cfg_key mute_keys[] = {
    {.name = "fail", .type = WARD_CFG_INT, .offset = offsetof(mute, fail)},
};
static const ward_cfg_table mute_table = {"mute", mute_keys, NKEYS(mute_keys), sizeof(mute),
                                          mute_check};
static const ward_cfg_key db_keys[] = {
    {.name = "url", .type = WARD_CFG_STR, .offset = offsetof(db, url), .required = 1},
};
static const ward_cfg_table db_table = {"db", db_keys, NKEYS(db_keys), sizeof(db), NULL};
static const ward_cfg_key odd_keys[] = {
    {.name = "pair", .type = WARD_CFG_SECTION, .offset = offsetof(odd, pair), .sub = &pair_table},
    {.name = "mute", .type = WARD_CFG_SECTION, .offset = offsetof(odd, mute), .sub = &mute_table},
    {.name = "db", .type = WARD_CFG_SECTION, .offset = offsetof(odd, db), .sub = &db_table},
};
static const ward_cfg_table odd_table = {"", odd_keys, NKEYS(odd_keys), sizeof(odd), NULL};

static int load_odd(const char *y, odd *o, ward_diags *d) {
    memset(o, 0, sizeof(*o));
    ward_diags_init(d);
    return ward_cfg_load_buffer(&odd_table, o, "odd.yml", (const uint8_t *)y, strlen(y), d);
}

static void test_config_absent_sections_are_checked(void **state) {
    (void)state;
    odd o;
    ward_diags d;
    /* pair and db are absent: checked at the position of the map that would hold them. */
    assert_int_equal(load_odd("mute: {}\n", &o, &d), -1);
    assert_int_equal(d.n, 2);
    expect_diag(&d, "odd.yml:1:1: pair: lo (5) must not be above hi (1)");
    expect_diag(&d, "odd.yml:1:1: missing required key 'url' in db");
    ward_cfg_free(&odd_table, &o);
    ward_diags_fini(&d);

    assert_int_equal(load_odd("pair: {hi: 9}\ndb:\n  url: x\n", &o, &d), 0);
    assert_int_equal(o.pair.hi, 9);
    assert_string_equal(o.db.url, "x");
    ward_cfg_free(&odd_table, &o);
    ward_diags_fini(&d);

    /* db present but empty: missing at its own position. */
    assert_int_equal(load_odd("pair: {hi: 9}\ndb:\n", &o, &d), -1);
    expect_only(&d, "odd.yml:2:4: missing required key 'url' in db");
    ward_cfg_free(&odd_table, &o);
    ward_diags_fini(&d);
}

static void test_config_check_failure_without_message(void **state) {
    (void)state;
    odd o;
    ward_diags d;
    assert_int_equal(load_odd("pair: {hi: 9}\ndb: {url: x}\nmute:\n  fail: 1\n", &o, &d), -1);
    expect_only(&d, "odd.yml:4:3: mute: invalid settings");
    ward_cfg_free(&odd_table, &o);
    ward_diags_fini(&d);
    assert_int_equal(load_odd("pair: {hi: 9}\ndb: {url: x}\nmute:\n  fail: 2\n", &o, &d), -1);
    expect_only(&d, "odd.yml:4:3: mute: reported but returned 0");
    ward_cfg_free(&odd_table, &o);
    ward_diags_fini(&d);
}

/* ---- table bugs ---- */

typedef struct item {
    int64_t n;
} item;
typedef struct buggy {
    uint64_t sz;
    int flag;
    int64_t small;
    int color;
    int nochoice;
    pair sect;
    item *items;
    size_t nitems;
    void *nosub;
    size_t nnosub;
    int64_t inverted;
    char **tags;
    size_t ntags;
    char **none;
    size_t nnone;
} buggy;

static const char *const colors[] = {"red", "green", NULL};
static const ward_cfg_key item_keys[] = {
    {.name = "n", .type = WARD_CFG_INT, .offset = offsetof(item, n), .def = "x"},
};
static const ward_cfg_table item_table = {"items[]", item_keys, NKEYS(item_keys), sizeof(item),
                                          NULL};
static const ward_cfg_key buggy_keys[] = {
    {.name = "sz", .type = WARD_CFG_SIZE, .offset = offsetof(buggy, sz), .def = "64x"},
    {.name = "flag", .type = WARD_CFG_BOOL, .offset = offsetof(buggy, flag), .def = "maybe"},
    {.name = "small",
     .type = WARD_CFG_INT,
     .offset = offsetof(buggy, small),
     .def = "100",
     .min = 1,
     .max = 10},
    {.name = "color",
     .type = WARD_CFG_ENUM,
     .offset = offsetof(buggy, color),
     .def = "blue",
     .choices = colors},
    {.name = "nochoice", .type = WARD_CFG_ENUM, .offset = offsetof(buggy, nochoice)},
    {.name = "sect",
     .type = WARD_CFG_SECTION,
     .offset = offsetof(buggy, sect),
     .def = "x",
     .sub = &pair_table},
    {.name = "items",
     .type = WARD_CFG_LIST,
     .offset = offsetof(buggy, items),
     .offset2 = offsetof(buggy, nitems),
     .sub = &item_table},
    {.name = "nosub",
     .type = WARD_CFG_LIST,
     .offset = offsetof(buggy, nosub),
     .offset2 = offsetof(buggy, nnosub)},
};
static const ward_cfg_table buggy_table = {"", buggy_keys, NKEYS(buggy_keys), sizeof(buggy), NULL};

static void test_config_bad_defaults_are_table_bugs(void **state) {
    (void)state;
    buggy b;
    ward_diags d;
    memset(&b, 0, sizeof(b));
    ward_diags_init(&d);
    assert_int_equal(ward_cfg_defaults(&buggy_table, &b, &d), -1);
    assert_int_equal(d.n, 8);
    expect_diag(&d, "configuration table: bad default: 'sz' must be a size like 64k, not '64x'");
    expect_diag(&d, "configuration table: bad default: 'flag' must be true or false, not 'maybe'");
    expect_diag(&d, "configuration table: bad default: 'small' must be between 1 and 10, not 100");
    expect_diag(&d, "configuration table: bad default: 'color' must be one of red, green, not "
                    "'blue'");
    expect_diag(&d, "configuration table: bad default: 'nochoice' is an enum without choices");
    expect_diag(&d, "configuration table: bad default: 'sect' is a section or list and cannot "
                    "have a default");
    expect_diag(&d, "configuration table: bad default: 'items[].n' must be an integer, not 'x'");
    expect_diag(&d, "configuration table: bad default: 'nosub' has no table");
    ward_cfg_free(&buggy_table, &b);
    ward_diags_fini(&d);
}

static void test_config_bad_range_and_strlist_defaults(void **state) {
    (void)state;
    static const ward_cfg_key keys[] = {
        {.name = "inverted",
         .type = WARD_CFG_INT,
         .offset = offsetof(buggy, inverted),
         .min = 10,
         .max = 1},
        {.name = "neg", .type = WARD_CFG_SIZE, .offset = offsetof(buggy, sz), .min = -1},
        {.name = "tags",
         .type = WARD_CFG_STRLIST,
         .offset = offsetof(buggy, tags),
         .offset2 = offsetof(buggy, ntags),
         .def = " a ,b,, c"},
        {.name = "none",
         .type = WARD_CFG_STRLIST,
         .offset = offsetof(buggy, none),
         .offset2 = offsetof(buggy, nnone),
         .def = ""},
    };
    static const ward_cfg_table t = {"", keys, NKEYS(keys), sizeof(buggy), NULL};
    buggy b;
    ward_diags d;
    memset(&b, 0, sizeof(b));
    ward_diags_init(&d);
    assert_int_equal(ward_cfg_defaults(&t, &b, &d), -1);
    assert_int_equal(d.n, 2);
    expect_diag(&d, "configuration table: bad default: 'inverted' has min above max");
    expect_diag(&d, "configuration table: bad default: 'neg' has a negative bound");
    assert_int_equal(b.ntags, 4);
    assert_string_equal(b.tags[0], "a");
    assert_string_equal(b.tags[1], "b");
    assert_string_equal(b.tags[2], "");
    assert_string_equal(b.tags[3], "c");
    assert_int_equal(b.nnone, 0);
    assert_null(b.none);
    ward_cfg_free(&t, &b);
    ward_diags_fini(&d);

    /* A table bug fails a load even when the file is right. */
    memset(&b, 0, sizeof(b));
    ward_diags_init(&d);
    const char *y = "tags: x\n";
    assert_int_equal(ward_cfg_load_buffer(&t, &b, "t.yml", (const uint8_t *)y, strlen(y), &d), -1);
    assert_int_equal(d.n, 2);
    assert_int_equal(b.ntags, 1);
    ward_cfg_free(&t, &b);
    ward_diags_fini(&d);
}

/* ---- documentation ---- */

static void expect_line(const char *doc, const char *line) {
    size_t n = strlen(line);
    for (const char *p = doc; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, line, n) && (p[n] == '\n' || p[n] == 0))
            return;
    print_error("%s", doc);
    fail_msg("no line: %s", line);
}

static void test_config_doc_output(void **state) {
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(ward_cfg_doc(&agent_table, f), 0);
    assert_int_equal(fclose(f), 0);
    assert_non_null(buf);
    assert_int_equal(strncmp(buf, "| key | type | default | meaning |\n|---|---|---|---|\n", 52),
                     0);
    expect_line(buf, "| `node` | string | required | Name of this node in alerts. |");
    expect_line(buf, "| `rules` | string list | `/etc/ward/rules, /usr/share/ward/rules` | Rule "
                     "files and directories. |");
    expect_line(buf, "| `workers` | integer, 1..64 | `2` | Matching threads. |");
    expect_line(buf, "| `nice` | integer, -20..19 | `0` | Scheduling priority. |");
    expect_line(buf, "| `verbose` | bool | `no` | Log more. |");
    expect_line(buf, "| `sources` | list |  | Log sources. |");
    expect_line(buf, "| `sources[].name` | string | required | Name of the source in alerts. |");
    expect_line(buf, "| `sources[].type` | one of: file, journal | `file` | Where lines come "
                     "from. |");
    expect_line(buf, "| `sources[].paths` | string list |  | Files to follow (glob patterns). |");
    expect_line(buf, "| `sources[].max_line` | size, 1k..16m | `64k` | Longer lines are cut and "
                     "counted. |");
    expect_line(buf, "| `sources[].poll` | duration, 10ms..1m | `250ms` | How often to look for "
                     "new data. |");
    expect_line(buf, "| `outputs` | section |  | Where alerts go. |");
    expect_line(buf, "| `outputs.file.path` | string |  | The alert file. |");
    expect_line(buf, "| `outputs.file.rotate_size` | size, >= 1m | `100M` | Rotate the file at "
                     "this size. |");
    expect_line(buf, "| `outputs.format` | one of: json, text, syslog | `json` | Alert format: "
                     "json \\| text \\| syslog. |");
    expect_line(buf, "| `outputs.tls.insecure_skip_verify` | bool | `off` | Do not verify the "
                     "collector (testing only). |");
    expect_line(buf, "| `limits.read_timeout` | duration, <= 1d | `30s` | Idle peers are dropped "
                     "after this. |");
    /* Header, separator, 8 top-level keys, 6 per source, 5 outputs (+3 file, +2 tls), 4 limits */
    size_t lines = 0;
    for (const char *p = buf; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2 + 8 + 6 + 5 + 3 + 2 + 4);
    free(buf);

    /* A stream that cannot be written. */
    f = fopen("/dev/null", "r");
    assert_non_null(f);
    assert_int_equal(ward_cfg_doc(&agent_table, f), -1);
    fclose(f);
    assert_int_equal(ward_cfg_doc(NULL, stdout), -1);
}

/* ---- freeing ---- */

static void test_config_free_zeroed_and_half_loaded(void **state) {
    (void)state;
    agent_cfg c;
    memset(&c, 0, sizeof(c));
    ward_cfg_free(&agent_table, &c); /* zeroed */
    ward_cfg_free(&agent_table, NULL);
    ward_cfg_free(NULL, &c);

    /* Half-loaded: errors in list items, strings set before and after them. */
    ward_diags d;
    const char *y = "node: n\n"
                    "sources:\n"
                    "  - name: a\n"
                    "    paths: [/x, {bad: 1}]\n"
                    "  - name: b\n"
                    "    paths: [/y, /z]\n"
                    "    max_line: huge\n"
                    "  - 7\n"
                    "outputs:\n"
                    "  collector: c:1\n"
                    "  tls: {ca: /ca, insecure_skip_verify: \"no\"}\n";
    assert_int_equal(load(y, &c, &d), -1);
    assert_int_equal(d.n, 4);
    assert_int_equal(c.nsources, 2);
    assert_int_equal(c.sources[0].npaths, 0);
    assert_int_equal(c.sources[1].npaths, 2);
    assert_string_equal(c.outputs.tls.ca, "/ca");
    ward_cfg_free(&agent_table, &c);
    /* Everything is NULL and zero afterwards: a second free is harmless. */
    assert_null(c.node);
    assert_null(c.sources);
    assert_int_equal(c.nsources, 0);
    assert_null(c.rules);
    assert_int_equal(c.nrules, 0);
    assert_null(c.outputs.tls.ca);
    ward_cfg_free(&agent_table, &c);
    ward_diags_fini(&d);
}

/* ---- files ---- */

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static void test_config_load_file_from_disk(void **state) {
    (void)state;
    char dir[] = "/tmp/ward-test-config-XXXXXX";
    char path[128], want[512];
    agent_cfg c;
    ward_diags d;
    assert_non_null(mkdtemp(dir));

    snprintf(path, sizeof(path), "%s/agent.yml", dir);
    write_file(path, full_yaml);
    memset(&c, 0, sizeof(c));
    ward_diags_init(&d);
    assert_int_equal(ward_cfg_load(&agent_table, &c, path, &d), 0);
    assert_int_equal(d.n, 0);
    check_full(&c);
    done(&c, &d);

    /* Errors name the file. */
    write_file(path, "node: n\nworkers: 99\n");
    memset(&c, 0, sizeof(c));
    ward_diags_init(&d);
    assert_int_equal(ward_cfg_load(&agent_table, &c, path, &d), -1);
    snprintf(want, sizeof(want), "%s:2:10: 'workers' must be between 1 and 64, not 99", path);
    expect_only(&d, want);
    done(&c, &d);

    /* Too large: refused before reading (a sparse file costs nothing). */
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)WARD_YAML_MAX_FILE + 1), 0);
    close(fd);
    memset(&c, 0, sizeof(c));
    ward_diags_init(&d);
    assert_int_equal(ward_cfg_load(&agent_table, &c, path, &d), -1);
    snprintf(want, sizeof(want), "%s: file is %u bytes, over the %u byte limit", path,
             WARD_YAML_MAX_FILE + 1, WARD_YAML_MAX_FILE);
    expect_only(&d, want);
    done(&c, &d);

    /* Unreadable, when not running as root (root reads anything). */
    if (geteuid() != 0) {
        write_file(path, "node: n\n");
        assert_int_equal(chmod(path, 0), 0);
        memset(&c, 0, sizeof(c));
        ward_diags_init(&d);
        assert_int_equal(ward_cfg_load(&agent_table, &c, path, &d), -1);
        snprintf(want, sizeof(want), "%s: cannot open: %s", path, strerror(EACCES));
        expect_only(&d, want);
        done(&c, &d);
    }
    assert_int_equal(unlink(path), 0);

    /* Missing: the reason from strerror; the object holds its defaults. */
    memset(&c, 0, sizeof(c));
    ward_diags_init(&d);
    assert_int_equal(ward_cfg_load(&agent_table, &c, path, &d), -1);
    snprintf(want, sizeof(want), "%s: cannot open: %s", path, strerror(ENOENT));
    expect_only(&d, want);
    assert_int_equal(c.workers, 2);
    assert_string_equal(c.outputs.tls.ca, "/etc/ward/ca.pem");
    done(&c, &d);

    /* A directory is not a configuration file. */
    memset(&c, 0, sizeof(c));
    ward_diags_init(&d);
    assert_int_equal(ward_cfg_load(&agent_table, &c, dir, &d), -1);
    snprintf(want, sizeof(want), "%s: not a regular file", dir);
    expect_only(&d, want);
    done(&c, &d);

    assert_int_equal(rmdir(dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_apply),
        cmocka_unit_test(test_config_loads_every_type),
        cmocka_unit_test(test_config_override_frees_replaced_values),
        cmocka_unit_test(test_config_bool_spellings),
        cmocka_unit_test(test_config_int_values_and_range),
        cmocka_unit_test(test_config_range_edges),
        cmocka_unit_test(test_config_parse_size_edges),
        cmocka_unit_test(test_config_parse_duration_edges),
        cmocka_unit_test(test_config_size_and_duration_errors),
        cmocka_unit_test(test_config_enum_values),
        cmocka_unit_test(test_config_str_values),
        cmocka_unit_test(test_config_strlist_values),
        cmocka_unit_test(test_config_unknown_keys),
        cmocka_unit_test(test_config_wrong_shapes),
        cmocka_unit_test(test_config_missing_required),
        cmocka_unit_test(test_config_reports_every_error),
        cmocka_unit_test(test_config_duplicate_key),
        cmocka_unit_test(test_config_document_shape),
        cmocka_unit_test(test_config_empty_values_for_sections_and_lists),
        cmocka_unit_test(test_config_check_hooks),
        cmocka_unit_test(test_config_absent_sections_are_checked),
        cmocka_unit_test(test_config_check_failure_without_message),
        cmocka_unit_test(test_config_bad_defaults_are_table_bugs),
        cmocka_unit_test(test_config_bad_range_and_strlist_defaults),
        cmocka_unit_test(test_config_doc_output),
        cmocka_unit_test(test_config_free_zeroed_and_half_loaded),
        cmocka_unit_test(test_config_load_file_from_disk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
