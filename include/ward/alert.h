/* Alerts: one JSON object per line, in Elastic Common Schema names wherever ECS has one
 * (docs/alerts.md is the schema), with a stable id derived from where the event was read
 * so that an event read twice (after a crash) gives the same alert id. */
#ifndef WARD_ALERT_H
#define WARD_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "ward/correlate.h"
#include "ward/event.h"
#include "ward/json.h"
#include "ward/rule.h"

/* Where the event came from. Unused members are NULL / 0. */
typedef struct ward_alert_src {
    const char *kind; /* "file", "journal", "syslog", "stdin" */
    const char *name; /* the source's name in the configuration */
    const char *path; /* file: its path when read */
    uint64_t offset;  /* file: byte offset of the event's first line */
    int has_offset;
    const char *cursor;    /* journal: the entry's cursor */
    const char *peer;      /* syslog: the sender, "ADDR:PORT" */
    const char *transport; /* syslog: "udp" or "tcp" */
} ward_alert_src;

/* A name/value pair extracted by the rule (borrowed). */
typedef struct ward_alert_field {
    const char *name;
    const char *val;
    size_t len;
} ward_alert_field;

typedef struct ward_alert {
    char id[33];          /* ward_alert_id */
    uint64_t time_ms;     /* when the alert was raised, ms since the epoch */
    const char *agent_id; /* the agent's enrolled id or name */
    const char *agent_name;
    const char *agent_version;
    const char *host_name; /* this host */
    const ward_rule *rule;
    const ward_event *ev; /* decoded event (event.original is ev->line) */
    const ward_alert_field *extracted;
    size_t nextracted;
    const ward_corr_result *threshold; /* NULL unless a threshold rule fired */
    const ward_corr_val *group;        /* with threshold: the group_by values as counted */
    const ward_alert_src *src;
    /* Optional: the rule's part and the agent's part as ward_alert_rule_json and
     * ward_alert_agent_json made them once (they do not change between alerts). */
    const char *rule_json, *agent_json;
    size_t rule_json_len, agent_json_len;
    /* Leave out event.original, original_base64 and message (the agent's privacy policy:
     * the line itself does not leave the council). */
    int omit_original;
} ward_alert;

/* Appends the members of the alert that depend only on the rule ("rule", "tags",
 * "threat"), comma-separated, without braces. Returns 0 or -1 (no memory). */
int ward_alert_rule_json(ward_buf *out, const ward_rule *r);

/* The same for the agent's members ("agent", "host") of a. */
int ward_alert_agent_json(ward_buf *out, const ward_alert *a);

/* The stable id of an alert: 32 hex digits from the source's identity (e.g.
 * "file:DEV:INODE:HEADHASH", "journal:CURSOR"), the position in it and the rule id.
 * out must hold 33 bytes. */
void ward_alert_id(char out[33], const char *src_key, uint64_t pos, const char *rule_id);

/* Appends the alert as one line of JSON, newline included, to out. Returns 0, or -1
 * when memory ran out (out->oom). */
int ward_alert_json(ward_buf *out, const ward_alert *a);

/* Formats ms since the epoch as RFC 3339 UTC with milliseconds into buf (25 bytes). */
void ward_alert_time(char buf[32], uint64_t ms);

#endif
