/* Correlation: the state behind 'threshold' rules. Each (rule, group) - the values of the
 * rule's group_by fields - counts matches in a sliding window, or the distinct values of
 * one field; reaching the count fires once, then the group starts over (and stays quiet
 * for 'suppress' seconds when the rule says so). The state has a memory cap: past it the
 * least recently used groups are evicted, and every eviction is counted. The state is
 * keyed by rule id, so it survives a reload that keeps the rule (and its threshold). */
#ifndef WARD_CORRELATE_H
#define WARD_CORRELATE_H

#include <stddef.h>
#include <stdint.h>

#include "ward/rule.h"

typedef struct ward_corr ward_corr;

/* Creates empty state that uses at most mem_cap bytes (0: no cap). Caller owns; free
 * with ward_corr_free. NULL when out of memory. */
ward_corr *ward_corr_new(size_t mem_cap);

void ward_corr_free(ward_corr *c);

/* One value of a match: a group_by field or the distinct field (borrowed bytes; an
 * absent field is {NULL, 0} and counts as its own value, the empty one). */
typedef struct ward_corr_val {
    const char *s;
    size_t len;
} ward_corr_val;

typedef struct ward_corr_result {
    int fire;          /* 1: this match reached the threshold: raise the alert now */
    int suppressed;    /* 1: the group is quiet after firing; the match only counted */
    uint32_t count;    /* matches (or distinct values) in the window, this one included */
    uint64_t first_ms; /* time of the oldest match counted in the window */
    uint64_t last_ms;  /* time of this match */
} ward_corr_result;

/* Feeds one match of the rule with id rule_id and threshold t (t->set must be 1) at time
 * now_ms (milliseconds since the epoch; times that go backwards count as now). group has
 * t->ngroup_by values in the order of t->group_by; distinct is the value of t->distinct
 * (ignored when t->distinct is NULL). Fills out. Returns 0, or -1 when memory ran out
 * even after evicting (the match is then not counted; counted in stats). */
int ward_corr_feed(ward_corr *c, const char *rule_id, const ward_threshold *t,
                   const ward_corr_val *group, const ward_corr_val *distinct, uint64_t now_ms,
                   ward_corr_result *out);

/* Drops groups that can no longer fire or are no longer quiet (their newest match is
 * older than within + suppress at now_ms). Returns how many were dropped. */
size_t ward_corr_expire(ward_corr *c, uint64_t now_ms);

/* Drops the state of every rule whose id keep() rejects, or whose threshold differs from
 * the one keep() returns for it (after a reload). keep returns the rule's threshold in the
 * new rule set, or NULL when the rule is gone or has no threshold. Returns how many groups
 * were dropped. */
size_t ward_corr_retain(ward_corr *c, const ward_threshold *(*keep)(const char *rule_id, void *ctx),
                        void *ctx);

typedef struct ward_corr_stats {
    uint64_t groups;     /* live groups */
    uint64_t bytes;      /* memory they use, as counted against the cap */
    uint64_t evictions;  /* groups evicted by the cap */
    uint64_t expired;    /* groups dropped by ward_corr_expire / ward_corr_retain */
    uint64_t fired;      /* threshold alerts raised */
    uint64_t suppressed; /* matches counted while a group was quiet */
    uint64_t failures;   /* matches not counted for lack of memory */
} ward_corr_stats;

void ward_corr_get_stats(const ward_corr *c, ward_corr_stats *out);

#endif
