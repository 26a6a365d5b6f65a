/* YARA rules: each rule of a .yar file is a ward rule evaluated on the event's message. */
#ifndef WARD_YARA_H
#define WARD_YARA_H

#include "ward/rule.h"

/* Adds path (a .yar file) to rs's pending YARA compiler (created on first use).
 * Several files accumulate into one set. Errors go to d. Returns 0 or -1. */
int ward_yara_add_file(ward_rules *rs, const char *path, ward_diags *d);

/* Compiles the YARA sources added so far into rs->yara and appends one ward_rule per
 * YARA rule to rs (meta gives id, title, level; id is required). A no-op when no file
 * was added. Returns 0 or -1 (errors in d). */
int ward_yara_finish(ward_rules *rs, ward_diags *d);

/* Frees a YARA set; NULL is a no-op. */
void ward_yara_free(struct ward_yara *y);

/* Evaluates YARA rule idx on ev's message. Scans all YARA rules once per event
 * (mc->event_gen) and caches the verdicts in mc. Returns 1, 0, or -1 (timeout or
 * scan error: counted, treated as no match). */
int ward_yara_match(const struct ward_yara *y, int idx, const ward_event *ev, ward_match_ctx *mc);

/* Literal prefilter of YARA rule idx, as ward_detect_literals describes. Only rules
 * whose condition certainly needs one of their text strings get literals; any other
 * rule is out->any = 1. Returns 0 or -1. */
int ward_yara_literals(const struct ward_yara *y, int idx, ward_relit *out);

#endif
