/* The engine: a loaded rule list compiled into an immutable rule set with one literal
 * automaton, and the per-thread scratch that matches events against it. */
#ifndef WARD_ENGINE_H
#define WARD_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "ward/event.h"
#include "ward/re.h"
#include "ward/rule.h"

typedef struct ward_engine ward_engine;
typedef struct ward_scratch ward_scratch;

/* Compiles the rules of rs into an engine. The engine takes ownership of everything rs
 * holds (rs is left empty and may be reused or finalised). Rules in mode off are kept
 * (for listing) but never evaluated. Returns the engine (caller frees with
 * ward_engine_free) or NULL with a message in err. */
ward_engine *ward_engine_new(ward_rules *rs, const ward_limits *l, char *err, size_t errlen);

/* Frees e and the rules it owns; NULL is a no-op. Every scratch must be freed first. */
void ward_engine_free(ward_engine *e);

/* The rules, in load order; indexes are the ones the match callback and stats use. */
size_t ward_engine_rule_count(const ward_engine *e);
const ward_rule *ward_engine_rule(const ward_engine *e, size_t i);

/* Rules with no usable literal: they run on every event in their scope. For each, an
 * estimated cost in nanoseconds per event, measured at compile time on sample lines. */
size_t ward_engine_always_count(const ward_engine *e);
const ward_rule *ward_engine_always_rule(const ward_engine *e, size_t i, double *ns_per_event);

/* Rules whose detection and scope equal an earlier rule's: their verdict is the
 * earlier rule's, computed once per event. */
size_t ward_engine_twin_count(const ward_engine *e);

/* The rule whose verdict rule i shares (i itself for most rules). */
size_t ward_engine_twin_of(const ward_engine *e, size_t i);

/* Number of distinct literals in the automaton, and its memory in bytes. */
size_t ward_engine_literal_count(const ward_engine *e);
size_t ward_engine_memory(const ward_engine *e);

/* The literals that select rule i as a candidate (for --explain); any = 1 when it always
 * runs. The returned pointer is owned by e. */
const ward_relit *ward_engine_rule_literals(const ward_engine *e, size_t i);

/* Per-thread matching state (caller owns; ward_scratch_free). NULL when out of memory. */
ward_scratch *ward_scratch_new(const ward_engine *e);
void ward_scratch_free(ward_scratch *s);

/* Per-rule counters of one scratch (indexed like the rules). time_ns is measured only
 * while timing is on (it costs a clock read per candidate). A rule that shares another's
 * verdict (ward_engine_twin_count) counts that rule's candidates; its time is that
 * rule's. The returned array is owned by s and valid until the next call. */
typedef struct ward_rule_stats {
    uint64_t candidates; /* times the prefilter (or the always-run set) proposed it */
    uint64_t matches;
    uint64_t limit_hits;
    uint64_t time_ns;
} ward_rule_stats;

const ward_rule_stats *ward_scratch_stats(ward_scratch *s);
void ward_scratch_set_timing(ward_scratch *s, int on);

/* Called for each rule that matches, in rule order. Return non-zero to stop. */
typedef int (*ward_hit_fn)(const ward_rule *r, size_t idx, void *ctx);

/* Matches ev against every rule in scope: literal prefilter, then confirmation of the
 * candidates only. Shadow rules are reported (the caller raises no alert for them).
 * Returns the number of matches. */
int ward_engine_match(const ward_engine *e, ward_scratch *s, const ward_event *ev, ward_hit_fn fn,
                      void *ctx);

/* The same verdicts without the prefilter: every rule in scope is confirmed. For the
 * benchmark's baseline and for differential tests. */
int ward_engine_match_naive(const ward_engine *e, ward_scratch *s, const ward_event *ev,
                            ward_hit_fn fn, void *ctx);

/* Whether rule i applies to ev's decoder and logsource at all. */
int ward_engine_in_scope(const ward_engine *e, size_t i, const ward_event *ev);

/* After a ward_engine_match: the candidates it confirmed (rule indexes, in order). A
 * rule sharing another's verdict is listed only when that rule matched or hit a limit. */
size_t ward_scratch_candidates(const ward_scratch *s, const uint32_t **idx);

/* The match context of the scratch (for extract and explain on the same thread). */
ward_match_ctx *ward_scratch_ctx(ward_scratch *s);

#endif
