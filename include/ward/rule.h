/* Rules: loading Sigma-compatible YAML rules, YARA files and site overlays into a list.
 * The engine (engine.h) compiles a list into an immutable, scannable rule set. */
#ifndef WARD_RULE_H
#define WARD_RULE_H

#include <stddef.h>
#include <stdint.h>

#include "ward/diag.h"
#include "ward/event.h"
#include "ward/re.h"
#include "ward/relit.h"

typedef enum ward_level {
    WARD_LEVEL_INFORMATIONAL = 0,
    WARD_LEVEL_LOW,
    WARD_LEVEL_MEDIUM,
    WARD_LEVEL_HIGH,
    WARD_LEVEL_CRITICAL
} ward_level;

typedef enum ward_mode { WARD_MODE_ALERT = 0, WARD_MODE_SHADOW, WARD_MODE_OFF } ward_mode;

const char *ward_level_name(ward_level l);
const char *ward_mode_name(ward_mode m);

/* Limits the loader enforces, so that the agent's per-event arrays are fixed: a
 * threshold groups by at most WARD_THRESHOLD_MAX_GROUP_BY fields, and an extract pattern
 * has at most WARD_EXTRACT_MAX group names (the fields it adds to one alert; a name that
 * (?J) gives to several groups counts once, as the importer of fail2ban writes them). */
#define WARD_THRESHOLD_MAX_GROUP_BY 16
#define WARD_EXTRACT_MAX 64

/* threshold: evaluated by the agent; the loader only parses and validates it. */
typedef struct ward_threshold {
    int set;
    uint32_t count;    /* >= 1 */
    uint32_t within_s; /* window in seconds, >= 1 */
    char **group_by;   /* field names, at most WARD_THRESHOLD_MAX_GROUP_BY */
    size_t ngroup_by;
    char *distinct;      /* field whose distinct values are counted, or NULL */
    uint32_t suppress_s; /* silence after firing, 0 = none */
} ward_threshold;

typedef struct ward_test_field {
    char *name;
    char *value;
} ward_test_field;

typedef struct ward_rule_test {
    int expect_match; /* 1 for tests.match, 0 for tests.no_match */
    char *line;       /* NUL-terminated, line_len bytes */
    size_t line_len;
    ward_test_field *fields; /* expected fields (decoded or extracted), match only */
    size_t nfields;
    int src_line, src_col; /* where the sample is written */
} ward_rule_test;

struct ward_detection; /* detect.h */
struct ward_extract;   /* below */
struct ward_yara;      /* yara.h */

typedef struct ward_rule {
    char *id, *title, *status, *description, *author, *date, *modified;
    char **tags;
    size_t ntags;
    char **references;
    size_t nreferences;
    char **falsepositives;
    size_t nfalsepositives;
    ward_level level;
    ward_mode mode;
    unsigned rev;
    char *ls_product, *ls_service, *ls_category; /* logsource; NULL when absent */
    int decoder; /* the ward_decoder whose fields the rule reads, or -1 for any */
    char *file;  /* where the rule was loaded from, and its first line */
    int line;
    ward_threshold threshold;
    struct ward_extract *extract; /* NULL when none */
    ward_rule_test *tests;
    size_t ntests;
    struct ward_detection *det; /* Sigma detection; NULL for YARA rules */
    int yara_index;             /* index in the list's YARA set; -1 for Sigma rules */
} ward_rule;

/* Frees a rule and all it owns; NULL is a no-op. */
void ward_rule_free(ward_rule *r);

typedef struct ward_rules {
    ward_rule **v;
    size_t n, cap;
    struct ward_yara *yara; /* compiled YARA rules of every .yar loaded; NULL if none */
} ward_rules;

void ward_rules_init(ward_rules *rs);
void ward_rules_fini(ward_rules *rs);

/* Loads a rule file or a directory (recursively, in name order: *.yml, *.yaml, *.yar,
 * *.yara). Every error found goes to d (file, line, column, rule id); rules without
 * errors are added, rules with errors are not. Duplicate ids are errors.
 * Returns 0 when no error was found, -1 otherwise. */
int ward_rules_load(ward_rules *rs, const char *path, ward_diags *d);

/* Called by ward_rules_walk for each file found; explicit is 1 for the path that was
 * given (whatever its name), 0 for a file found in a directory. path is the walker's. */
typedef void (*ward_rules_file_fn)(const char *path, int explicit, void *ctx);

/* Walks path as ward_rules_load does: a file is given to fn, a directory's entries are
 * walked in name order, names starting with '.' skipped, 16 levels deep at most. What
 * cannot be opened or read, and directories nested deeper, go to d (the path, no line).
 * Returns 0, or -1 when such an error was reported. */
int ward_rules_walk(const char *path, ward_rules_file_fn fn, void *ctx, ward_diags *d);

/* Loads YAML rules from memory; name is used in messages. Same return as above. */
int ward_rules_load_buffer(ward_rules *rs, const char *name, const uint8_t *buf, size_t len,
                           ward_diags *d);

/* Applies an overlay file (site tuning by rule id: level, mode, threshold, added
 * filters) to rules already loaded. Returns 0, or -1 after any error (in d). */
int ward_rules_load_overlay(ward_rules *rs, const char *path, ward_diags *d);

/* Same, from memory. */
int ward_rules_load_overlay_buffer(ward_rules *rs, const char *name, const uint8_t *buf, size_t len,
                                   ward_diags *d);

/* Appends r (rs takes ownership, also on failure: r is then freed). A duplicate id is
 * an error reported in d at r->file:r->line. Returns 0 or -1. */
int ward_rules_add(ward_rules *rs, ward_rule *r, ward_diags *d);

/* The rule with this id, or NULL. */
ward_rule *ward_rules_find(const ward_rules *rs, const char *id);

/* extract: named groups of a PCRE2 pattern run on one field become alert fields. */
typedef int (*ward_extract_fn)(const char *name, const char *val, size_t len, void *ctx);

/* Runs r's extract (if any) on ev; calls fn for each named group that matched.
 * Returns the number of fields reported, 0 when the pattern did not match or there is
 * no extract, -1 on a limit hit. */
int ward_extract_run(const ward_rule *r, const ward_event *ev, ward_match_ctx *mc,
                     ward_extract_fn fn, void *ctx);

#endif
