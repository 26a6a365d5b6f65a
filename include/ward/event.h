/* An event: one log line as read plus the fields a decoder found in it. */
#ifndef WARD_EVENT_H
#define WARD_EVENT_H

#include <stddef.h>
#include <stdint.h>

#define WARD_EVENT_MAX_FIELDS 128

typedef struct ward_field {
    const char *name; /* NUL-terminated; static or in the event's arena */
    const char *val;  /* NOT NUL-terminated: use val_len */
    size_t val_len;
} ward_field;

struct ward_arena_chunk;

typedef struct ward_event {
    const uint8_t *line; /* the line as read (event.original); borrowed from the caller */
    size_t line_len;
    ward_field fields[WARD_EVENT_MAX_FIELDS];
    size_t nfields;
    size_t dropped_fields; /* fields over WARD_EVENT_MAX_FIELDS, counted not stored */
    /* 1 when some field value is not a byte-for-byte substring of line (a decoder
     * unescaped it): the literal prefilter, which scans line, is then bypassed. */
    int transformed;
    const char *decoder; /* name of the decoder that produced the fields ("raw" if none) */
    int truncated;       /* set by the reader when the line was cut at its length limit */
    /* Searches a decoder gave up on for this line (a PCRE2 limit, or memory for one):
     * the line was decoded as if they had found nothing. Counted for the caller's
     * statistics; reset clears it. */
    unsigned limit_hits;
    /* What the literal prefilter scans, when not line: a reader that adds fields from
     * outside the line (the journal's, a syslog sender's) puts line and those values in
     * one buffer, points the fields into it and sets scan to it, so that the prefilter
     * stays sound. Borrowed; reset clears it. */
    const uint8_t *scan;
    size_t scan_len;
    struct ward_arena_chunk *arena; /* private */
} ward_event;

/* Initialises an empty event in caller's storage. */
void ward_event_init(ward_event *ev);

/* Frees the event's arena. */
void ward_event_fini(ward_event *ev);

/* Empties the event and points it at line (borrowed: it must outlive every use of the
 * event). Adds the field "event.original" = line. Keeps the arena's first chunk. */
void ward_event_reset(ward_event *ev, const uint8_t *line, size_t len);

/* Adds a field whose name and value are borrowed: name must be static (or outlive the
 * event) and val must point into line or static storage. Returns 0, or -1 when the
 * field table is full (counted in dropped_fields). A later field with the same name
 * replaces the earlier one. */
int ward_event_set(ward_event *ev, const char *name, const char *val, size_t val_len);

/* Like ward_event_set, for the fields every event of a decoder must have (message,
 * f2b.line): when the table is full, the last other field gives its place (still one
 * drop counted in dropped_fields), so that no line can push them out by having many
 * fields. event.original, message and f2b.line are never the ones replaced. Returns 0,
 * or -1 when every slot holds one of those. */
int ward_event_set_kept(ward_event *ev, const char *name, const char *val, size_t val_len);

/* Like ward_event_set but copies name and value into the event's arena; marks the
 * event transformed when the value is not a substring of line. Returns 0 or -1 (full
 * table, counted; or out of memory). */
int ward_event_set_copy(ward_event *ev, const char *name, size_t name_len, const char *val,
                        size_t val_len);

/* Copies len bytes into the arena (NUL-terminated). Pointers stay valid until the next
 * reset. Returns NULL when memory runs out. */
char *ward_event_strdup(ward_event *ev, const char *s, size_t len);

/* Like ward_event_strdup but leaves the len bytes for the caller to fill (the byte after
 * them is NUL). Returns NULL when memory runs out or the size overflows. */
char *ward_event_alloc(ward_event *ev, size_t len);

/* Returns the field called name, or NULL. */
const ward_field *ward_event_get(const ward_event *ev, const char *name);

#endif
