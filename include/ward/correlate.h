/* Correlation: the state behind 'threshold' rules.
 *
 * Groups. A group is (rule id, the values of the rule's group_by fields, in order). Values
 * are byte strings compared exactly: separators and NUL bytes are ordinary bytes, and
 * ("ab", "c") is not ("a", "bc"). An absent field is the empty value.
 *
 * Time. Match times are milliseconds; within and suppress are seconds (x1000). A match
 * whose time is earlier than the latest time its group has seen counts at that latest
 * time ("now"), so the times of one group never go backwards. Groups do not share a
 * clock: a new group starts at the time of its first match.
 *
 * Counting (no distinct). A group's window holds the times of its matches since it last
 * fired that are no older than within at the current match: a match at time t is in the
 * window at now when now - t <= within (inclusive: two matches exactly within apart are in
 * one window; one more millisecond and the older falls out). A match fires when, with it,
 * the window holds count matches. Firing empties the window, so the next alert needs
 * count new matches.
 *
 * Distinct (distinct: FIELD). The window holds the distinct values of FIELD, each with the
 * time of its latest match, under the same inclusive rule; a value seen again refreshes its
 * time and does not add to the count. A match fires when, with it, the window holds count
 * distinct values; firing empties it. Values are kept as 64-bit keyed hashes, at most
 * count per group (two values collide with probability about 2^-64).
 *
 * Suppression (suppress > 0). After firing at time F the group is quiet while
 * now < F + suppress. A match while quiet does not fire and is not added to the window,
 * so it cannot help build the next alert (Suricata's threshold type 'both', Wazuh's
 * 'ignore'); it is returned with suppressed = 1 and counted in stats. The first match at
 * or after F + suppress starts a new window. count = 1 fires on every match that is not
 * quiet.
 *
 * Memory. Each group counts its struct, its key (the group values, length-prefixed) and
 * its window storage, which grows by doubling up to count entries; each rule that has
 * groups counts once for its id and a copy of its threshold. The hash tables' bucket
 * arrays (one pointer per group, at most) are not counted. A new group or a growing
 * window that would pass the cap first evicts the least recently used groups (recency:
 * the last match fed to the group); one that does not fit even with every other group
 * evicted fails at once, without evicting anything.
 *
 * The state is keyed by rule id, so it survives a reload that keeps the rule (and its
 * threshold). Not thread-safe: one state per thread. */
#ifndef WARD_CORRELATE_H
#define WARD_CORRELATE_H

#include <stddef.h>
#include <stdint.h>

#include "ward/rule.h"

typedef struct ward_corr ward_corr;

/* Creates empty state that uses at most mem_cap bytes (0: no cap). Caller owns; free
 * with ward_corr_free. NULL when out of memory. */
ward_corr *ward_corr_new(size_t mem_cap);

/* Frees c and every group and rule record it holds; NULL is a no-op. */
void ward_corr_free(ward_corr *c);

/* One value of a match: a group_by field or the distinct field (borrowed bytes, not
 * NUL-terminated). An absent field is {NULL, 0} and is the same value as the empty
 * string; s == NULL means absent whatever len says. */
typedef struct ward_corr_val {
    const char *s;
    size_t len;
} ward_corr_val;

/* For a match that is not suppressed: count is the matches (or distinct values) in the
 * window, this one included, first_ms the time of the oldest of them (for distinct: the
 * oldest latest-time of a value in the window). For a suppressed match: count is the
 * matches of this quiet period, this one included, and first_ms the time of the alert that
 * started it. last_ms is the time this match was counted at (now_ms, or the group's latest
 * time when now_ms went backwards). */
typedef struct ward_corr_result {
    int fire;          /* 1: this match reached the threshold: raise the alert now */
    int suppressed;    /* 1: the group is quiet after firing; the match only counted */
    uint32_t count;    /* see above */
    uint64_t first_ms; /* see above */
    uint64_t last_ms;  /* time of this match, as counted */
} ward_corr_result;

/* Feeds one match of the rule with id rule_id (NUL-terminated) and threshold t at time
 * now_ms (milliseconds since the epoch; times that go backwards count as now). group has
 * t->ngroup_by values in the order of t->group_by (may be NULL when there are none);
 * distinct is the value of t->distinct (ignored when t->distinct is NULL; NULL is the
 * absent value). All are borrowed for the call. Fills out (zeroed on error).
 * When t differs from the threshold the rule's groups were built with (a reload that did
 * not go through ward_corr_retain), those groups are dropped first (counted in expired).
 * Returns 0, or -1 when memory ran out even after evicting, or the group does not fit
 * under the cap (the match is then not counted; counted in stats.failures), or on invalid
 * arguments (c, rule_id, t or out NULL, t->set or t->count 0, group NULL while
 * t->ngroup_by > 0; not counted). */
int ward_corr_feed(ward_corr *c, const char *rule_id, const ward_threshold *t,
                   const ward_corr_val *group, const ward_corr_val *distinct, uint64_t now_ms,
                   ward_corr_result *out);

/* Drops the groups whose state can no longer change a result at now_ms: not quiet
 * (now_ms >= end of the quiet period), latest time not after now_ms, and every match or
 * value in the window older than within (now_ms - time > within; an empty window
 * qualifies). Assumes later matches have times >= now_ms, so call it with the current
 * time (or the oldest time still to be fed). Returns how many were dropped (counted in
 * stats.expired). */
size_t ward_corr_expire(ward_corr *c, uint64_t now_ms);

/* Drops the state of every rule whose id keep() rejects, or whose threshold differs from
 * the one keep() returns for it (after a reload). keep returns the rule's threshold in the
 * new rule set, or NULL when the rule is gone or has no threshold; it is called once per
 * rule that has groups, with an id c owns (valid during the call), and must not call into
 * c. Thresholds are compared by value: count, within, suppress, the group_by names in
 * order and the distinct name. Returns how many groups were dropped (counted in
 * stats.expired). */
size_t ward_corr_retain(ward_corr *c, const ward_threshold *(*keep)(const char *rule_id, void *ctx),
                        void *ctx);

typedef struct ward_corr_stats {
    uint64_t groups;     /* live groups */
    uint64_t bytes;      /* memory they use, as counted against the cap */
    uint64_t evictions;  /* groups evicted by the cap */
    uint64_t expired;    /* groups dropped by expire, retain or a changed threshold */
    uint64_t fired;      /* threshold alerts raised */
    uint64_t suppressed; /* matches counted while a group was quiet */
    uint64_t failures;   /* matches not counted for lack of memory */
} ward_corr_stats;

/* Copies the counters of c into out (all zero when c is NULL). */
void ward_corr_get_stats(const ward_corr *c, ward_corr_stats *out);

#endif
