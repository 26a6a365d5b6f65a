/* fail2ban compatibility: finding the date in a log line the way fail2ban does, and
 * translating fail2ban's Python regular expressions into PCRE2.
 *
 * fail2ban looks for a date with a list of templates (its default list, or the ones a
 * filter's `datepattern` names), takes the first that wins by its rules (line-anchored
 * templates first, then the one that matches nearest the line's start), and removes
 * the date text (group 1 of the template) before its failregex sees the line. A
 * detector here reproduces that for one line at a time, as a fresh fail2ban detector
 * would: fail2ban reorders its templates by their hits over a file, which only changes
 * which of several templates that all match a line is tried first. */
#ifndef WARD_F2BDATE_H
#define WARD_F2BDATE_H

#include <stddef.h>
#include <stdint.h>

/* ---- Python re to PCRE2 ---- */

/* A named group of the Python pattern and its number in the PCRE2 pattern. */
typedef struct ward_f2bdate_group {
    char *name; /* as written in the Python pattern; owned by the conversion */
    uint32_t number;
} ward_f2bdate_group;

/* Gives the PCRE2 name of a Python named group, or NULL to make it an unnamed group.
 * The returned string must stay valid until the conversion returns. */
typedef const char *(*ward_f2bdate_rename_fn)(const char *name, void *ctx);

typedef struct ward_f2bdate_conv {
    /* In: capturing groups the PCRE2 pattern has before this one, so that group
     * references (\1, (?P=name), (?(name)...)) keep pointing at the right group. */
    uint32_t group_offset;
    /* In: text that replaces ^ and \A outside classes (NULL: kept), and $ and \Z
     * (NULL: $ kept, \Z becomes \z). */
    const char *caret;
    const char *dollar;
    /* In: names for named groups; NULL makes every group unnamed. */
    ward_f2bdate_rename_fn rename;
    void *ctx;
    /* Out: the PCRE2 pattern (NUL-terminated, len bytes), the number of capturing
     * groups it opens, and its Python named groups. Owned by the struct: free with
     * ward_f2bdate_conv_fini. */
    char *pcre2;
    size_t len;
    uint32_t ngroups;
    ward_f2bdate_group *groups;
    size_t nnamed;
} ward_f2bdate_conv;

/* Translates the Python `re` pattern py (len bytes) into PCRE2 syntax with the same
 * meaning on single-line, mostly ASCII text: `{,n}` becomes `{0,n}`, \Z becomes \z,
 * `(?P=name)` and numeric references are renumbered, the Python-only flags a, L and u
 * are dropped, fail2ban's `((?i)...)` becomes `(?i:...)`, a `[` inside a class is
 * escaped (PCRE2 would read `[:alpha:]`), \u, \U and \x above 0x7f become their UTF-8
 * bytes. Returns 0 and fills the out fields of c, or -1 with a message in err (an
 * unsupported construct or a syntax error, with its offset). Verbose mode (?x) is
 * refused. */
int ward_f2bdate_convert(const char *py, size_t len, ward_f2bdate_conv *c, char *err,
                         size_t errlen);

/* Frees the out fields of c; safe on a zeroed or failed conversion. */
void ward_f2bdate_conv_fini(ward_f2bdate_conv *c);

/* ---- Date detection ---- */

/* Template flags, as fail2ban sets them. */
#define WARD_F2BDATE_WORD_END 1u
#define WARD_F2BDATE_WORD_BEGIN 2u
#define WARD_F2BDATE_LINE_END 4u
#define WARD_F2BDATE_LINE_BEGIN 8u

typedef struct ward_f2bdate ward_f2bdate;

/* One template of a detector. Pointers stay valid as long as the detector. */
typedef struct ward_f2bdate_template {
    const char *name;   /* fail2ban's name for it ("{^LN-BEG}Epoch", a pattern...) */
    const char *python; /* its regular expression in Python syntax; group 1 is the date */
    const char *pcre2;  /* the same in PCRE2 syntax, groups unnamed */
    unsigned flags;     /* WARD_F2BDATE_* */
    int shape;          /* WARD_F2BDATE_SHAPE_* */
} ward_f2bdate_template;

/* Where a template's date is. AT_START: group 1 is all the template matches, from the
 * line's first character (what fail2ban leaves of the line is a suffix of it).
 * LINE_START: the same after at most two non-word characters ("{^LN-BEG}"). OTHER:
 * anything else (a date found inside the line, text kept around it). */
#define WARD_F2BDATE_SHAPE_OTHER 0
#define WARD_F2BDATE_SHAPE_AT_START 1
#define WARD_F2BDATE_SHAPE_LINE_START 2

/* Builds a detector from a filter's datepattern (len bytes; several templates are
 * separated by newlines) as fail2ban reads it: strftime-style directives (%Y, %ExY,
 * %b, %f, %z, ...), {^LN-BEG}, {UNB}, {DATE}, {DEFAULT}, {NONE}, EPOCH, LEPOCH,
 * {EPOCH}, {LEPOCH}, TAI64N. pattern NULL gives fail2ban's default templates. Returns
 * the detector (free with ward_f2bdate_free), or NULL with the reason in err. */
ward_f2bdate *ward_f2bdate_new(const char *pattern, size_t len, char *err, size_t errlen);

/* Frees a detector; NULL is a no-op. */
void ward_f2bdate_free(ward_f2bdate *d);

/* fail2ban's default detector (no datepattern), built on first use and shared: it is
 * never modified afterwards and lives until the process ends. Returns NULL only when
 * memory ran out building it. */
const ward_f2bdate *ward_f2bdate_default(void);

/* The number of templates of d, and template i (0 <= i < count) in *t. Returns 0, or
 * -1 when i is out of range. */
size_t ward_f2bdate_count(const ward_f2bdate *d);
int ward_f2bdate_template_get(const ward_f2bdate *d, size_t i, ward_f2bdate_template *t);

/* Finds the date fail2ban would take in line (len bytes, not NUL-terminated). Returns
 * 1 and sets [*start, *end) to the date text (possibly empty), 0 when no template
 * matches, -1 when memory ran out or a template hit its match limit. *tmpl (if not
 * NULL) gets the index of the winning template. */
int ward_f2bdate_find(const ward_f2bdate *d, const uint8_t *line, size_t len, size_t *start,
                      size_t *end, size_t *tmpl);

#endif
