/* Load diagnostics: every error a loader finds, each naming file, line, column and rule. */
#ifndef WARD_DIAG_H
#define WARD_DIAG_H

#include <stddef.h>

typedef struct ward_diag {
    char *file;    /* owned; "" when the input had no name */
    int line, col; /* 1-based; 0 when unknown */
    char *rule_id; /* owned; NULL when the error is not inside a rule */
    char *msg;     /* owned */
} ward_diag;

typedef struct ward_diags {
    ward_diag *v;
    size_t n, cap;
    int oom; /* set when a diagnostic could not be recorded for lack of memory */
} ward_diags;

/* Initialises an empty list in caller's storage. */
void ward_diags_init(ward_diags *d);

/* Frees every diagnostic; the list is empty and reusable afterwards. */
void ward_diags_fini(ward_diags *d);

/* Appends one diagnostic. Strings are copied. file and rule_id may be NULL.
 * Returns 0, or -1 (and sets d->oom) when memory ran out. */
int ward_diags_add(ward_diags *d, const char *file, int line, int col, const char *rule_id,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Formats g as "file:line:col: rule ID: msg" into buf (always NUL-terminated); parts
 * that are unknown are left out, and a diagnostic without a file name says
 * "line L, column C: ...". */
void ward_diag_format(const ward_diag *g, char *buf, size_t len);

/* Formats a message into a caller's error buffer of errlen bytes (always NUL-terminated;
 * nothing when err is NULL or errlen 0): how the `char *err, size_t errlen` functions of
 * lib/ report. */
void ward_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
