/* Table-driven configuration: every key of a program's YAML configuration is declared
 * once, in a table (name, type, default, range, where it is stored, help text); the
 * loader, the defaults, the --check mode and the documentation all come from it.
 * Unknown keys, wrong types and values out of range are errors with file, line, column.
 *
 * Values: a quoted scalar is a string, so BOOL and INT take plain (unquoted) scalars only
 * ("yes" in quotes is refused, not read as true); STR, SIZE, DURATION and ENUM take either.
 * An empty value (`key:`, `~`, `null`) is an error, except for a SECTION (all its defaults),
 * a LIST and a STRLIST (empty). Messages name keys by their path, with list indexes counted
 * from 0: "'sources[1].paths' must be ...", "unknown key 'pathz' in sources[1]". */
#ifndef WARD_CONFIG_H
#define WARD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ward/diag.h"

typedef enum ward_cfg_type {
    WARD_CFG_STR,      /* char * (owned, NUL-terminated); NULL when unset and no default */
    WARD_CFG_STRLIST,  /* char ** + size_t count at offset2; a scalar is a one-item list */
    WARD_CFG_BOOL,     /* int 0/1: true/false/yes/no/on/off, any case, unquoted */
    WARD_CFG_INT,      /* int64_t, decimal with an optional sign, unquoted, within range */
    WARD_CFG_SIZE,     /* uint64_t bytes: 123, 64k, 16M, 1G, 64KiB, 100B (k/m/g in either
                        * case are powers of 1024; B or iB may follow), within range */
    WARD_CFG_DURATION, /* uint64_t milliseconds: 250ms, 10s, 5m, 2h, 1d (integers, lower
                        * case); a bare number is seconds; within [min, max] (in ms) */
    WARD_CFG_ENUM,     /* int: index of the value in choices (exact, case-sensitive) */
    WARD_CFG_SECTION,  /* a nested map described by sub, stored inline at offset */
    WARD_CFG_LIST      /* a list of maps described by sub: void * (array of sub->size
                        * items, owned) at offset, size_t count at offset2 */
} ward_cfg_type;

struct ward_cfg_table;

/* Where a map was found, for ward_cfg_table.check. An absent section is checked at the
 * position of the map that would hold it. */
typedef struct ward_cfg_ctx {
    const char *file;
    int line, col;
    ward_diags *d;
    const char *path; /* the map's path ("sources[1]", "outputs.file"); "" at the top */
} ward_cfg_ctx;

typedef struct ward_cfg_key {
    const char *name;
    ward_cfg_type type;
    size_t offset;                    /* of the value in the struct the table describes */
    size_t offset2;                   /* STRLIST, LIST: of the size_t count */
    const char *def;                  /* default, written as in YAML ("10s", "true", "a,b" for a
                                       * STRLIST); NULL: none (zero / NULL / empty) */
    int64_t min, max;                 /* INT, SIZE, DURATION: inclusive range; max 0: no upper
                                       * limit; for INT, min and max both 0: any value */
    const char *const *choices;       /* ENUM: NULL-terminated names */
    const struct ward_cfg_table *sub; /* SECTION, LIST */
    int required;                     /* an error when absent */
    const char *help;                 /* one sentence, for docs and --help */
} ward_cfg_key;

typedef struct ward_cfg_table {
    const char *name;         /* for messages and docs, e.g. "sources[]" */
    const ward_cfg_key *keys; /* nkeys entries */
    size_t nkeys;
    size_t size; /* sizeof the struct the table describes (LIST items are this size) */
    /* Optional: called after a map was loaded (defaults applied), to check what one key
     * cannot check alone (e.g. "path is needed when type is file"). Report with
     * ward_cfg_error at the map's position; return 0 or -1. It runs for the top level, for
     * each section (present or not) and for each LIST item, but not for a map in which
     * an error was already found (so one mistake does not bring a second message). */
    int (*check)(void *obj, const ward_cfg_ctx *c);
} ward_cfg_table;

/* Reports an error at the map check is called for, prefixed with the map's path when it
 * is not the top level ("sources[1]: path is needed when type is file"). Returns -1. */
int ward_cfg_error(const ward_cfg_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sets every key of t in obj (t->size bytes, zeroed by the caller or holding an earlier
 * load, whose values are freed as they are replaced) to its default; LISTs become empty.
 * Defaults are parsed as file values are, and the tables are checked (an ENUM without
 * choices, a SECTION without sub, ...), the items of LISTs included. Returns 0, or -1 when
 * a default does not parse or memory runs out (a bug in the table: the message goes to d,
 * without a position). */
int ward_cfg_defaults(const ward_cfg_table *t, void *obj, ward_diags *d);

/* Loads the YAML file at path into obj: defaults first, then every key of the file.
 * The file must hold one document whose root is a map, and be a regular file of at most
 * WARD_YAML_MAX_FILE bytes. Every error goes to d with file, line and column; obj then
 * holds what could be loaded (free it with ward_cfg_free). A document with YAML-level
 * errors (syntax, duplicate keys, anchors) is reported by the YAML reader and not loaded.
 * obj is as for ward_cfg_defaults. Returns 0, or -1 after any error. */
int ward_cfg_load(const ward_cfg_table *t, void *obj, const char *path, ward_diags *d);

/* The same from memory; name is used in messages. */
int ward_cfg_load_buffer(const ward_cfg_table *t, void *obj, const char *name, const uint8_t *buf,
                         size_t len, ward_diags *d);

/* Frees what obj owns (strings, lists, LIST items, recursively); obj itself is the
 * caller's. Safe on a zeroed or half-loaded obj. */
void ward_cfg_free(const ward_cfg_table *t, void *obj);

/* Writes the documentation of t as a Markdown table (key, type, default, meaning), with
 * nested sections and lists as dotted names ("sources[].paths"). Returns 0 or -1. */
int ward_cfg_doc(const ward_cfg_table *t, FILE *out);

/* Parses a size ("64k") or a duration ("10s", into milliseconds) as the loader does,
 * without a range. Return 0, or -1 (*out untouched) on bad syntax or overflow. */
int ward_cfg_parse_size(const char *s, uint64_t *out);
int ward_cfg_parse_duration(const char *s, uint64_t *ms);

#endif
