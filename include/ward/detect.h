/* Sigma detection: selections, modifiers, value expansion, conditions, evaluation. */
#ifndef WARD_DETECT_H
#define WARD_DETECT_H

#include <stddef.h>
#include <stdint.h>

#include "ward/diag.h"
#include "ward/event.h"
#include "ward/logsource.h"
#include "ward/node.h"
#include "ward/re.h"
#include "ward/relit.h"

typedef struct ward_detection ward_detection;

/* Compiles a Sigma 'detection' map (selections plus 'condition'). Errors go to d with
 * file, the node's line and column, and rule_id. Returns the detection (caller owns;
 * ward_detect_free) or NULL after reporting every error found. */
ward_detection *ward_detect_compile(const ward_node *detection, const char *file,
                                    const char *rule_id, ward_diags *d);

/* The same, with a log source's field renamings (logsource.h): a field the rule writes
 * that has an entry in map matches when any of the entry's fields (or values derived
 * from them) does; other fields are used as written. map (nmap entries; NULL for none)
 * must outlive the detection (the log source table is static); filters added later are
 * renamed the same way. */
ward_detection *ward_detect_compile_mapped(const ward_node *detection, const ward_fieldmap *map,
                                           size_t nmap, const char *file, const char *rule_id,
                                           ward_diags *d);

void ward_detect_free(ward_detection *det);

/* Adds a site filter: filter is a map of selections plus a 'condition' in Sigma syntax
 * over them (as in a Sigma filter); the rule then matches only when its own condition
 * holds and the filter's does not... or, precisely, det := det AND filter-condition,
 * where the filter's condition is usually 'not sel'. Returns 0 or -1 (errors in d). */
int ward_detect_add_filter(ward_detection *det, const ward_node *filter, const char *file,
                           const char *rule_id, ward_diags *d);

/* Evaluates det on ev. Returns 1 match, 0 no match, -1 when a regex hit a limit and
 * the outcome depended on it (treat as no match; counted in mc). */
int ward_detect_match(const ward_detection *det, const ward_event *ev, ward_match_ctx *mc);

/* The literal prefilter for det: out->any = 1 when some event could match without
 * containing any literal (e.g. a 'not', an 'exists', a numeric comparison, a
 * regex with no required literal); otherwise every matching event's line (the field
 * values are substrings of it unless ev->transformed) contains one of out->alts, and
 * each of out->must (literals required by every match, at most 16; may be empty).
 * Returns 0 or -1 (no memory). */
int ward_detect_literals(const ward_detection *det, ward_relit *out);

/* Writes, for --explain, each selection's verdict on ev and the condition's, e.g.
 * "selection=true filter=false condition=true", then the renamed fields, e.g.
 * " fields: c-uri=cs-uri c-uri-extension=ext(cs-uri-stem)", into buf (NUL-terminated). */
void ward_detect_explain(const ward_detection *det, const ward_event *ev, ward_match_ctx *mc,
                         char *buf, size_t len);

/* Structural identity: two detections that are equal give the same verdict on every
 * event (selection names aside), so the engine evaluates them once per event. The hash
 * is equal for equal detections. NULL is equal only to NULL. */
uint64_t ward_detect_hash(const ward_detection *det);
int ward_detect_equal(const ward_detection *a, const ward_detection *b);

/* Calls fn once for each field name det's items are written with (keyword searches
 * aside): written as in the rule, fields[0..n) the event fields read for it (written
 * itself when not renamed). The strings are det's. */
typedef void (*ward_detect_field_fn)(const char *written, const char *const *fields, size_t n,
                                     void *ctx);
void ward_detect_fields(const ward_detection *det, ward_detect_field_fn fn, void *ctx);

/* Number of regular expressions det runs (for cost estimates). */
size_t ward_detect_regex_count(const ward_detection *det);

#endif
