#include "ward/event.h"

#include <stdlib.h>
#include <string.h>

/* The arena is a list of chunks that never move, so pointers handed out stay valid
 * until the next reset; the first chunk is kept across resets to avoid malloc per line. */
struct ward_arena_chunk {
    struct ward_arena_chunk *next;
    size_t used, cap;
    char data[];
};

#define ARENA_CHUNK 4096

void ward_event_init(ward_event *ev) {
    memset(ev, 0, sizeof(*ev));
    ev->decoder = "raw";
}

static void arena_free_from(struct ward_arena_chunk *c) {
    while (c) {
        struct ward_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
}

void ward_event_fini(ward_event *ev) {
    arena_free_from(ev->arena);
    ev->arena = NULL;
}

void ward_event_reset(ward_event *ev, const uint8_t *line, size_t len) {
    ev->line = line;
    ev->line_len = len;
    ev->nfields = 0;
    ev->dropped_fields = 0;
    ev->transformed = 0;
    ev->truncated = 0;
    ev->limit_hits = 0;
    ev->scan = NULL;
    ev->scan_len = 0;
    ev->decoder = "raw";
    if (ev->arena) {
        arena_free_from(ev->arena->next);
        ev->arena->next = NULL;
        ev->arena->used = 0;
    }
    ward_event_set(ev, "event.original", (const char *)line, len);
}

/* The index of the field called name, or -1. Decoders name fields with string constants, and
 * callers mostly ask with the same constants (the linker merges equal ones): the pointer
 * is compared before the text. Names are unique in an event (ward_event_set). */
static long find(const ward_event *ev, const char *name) {
    for (size_t i = 0; i < ev->nfields; i++) {
        const char *f = ev->fields[i].name;
        if (f == name || (f[0] == name[0] && strcmp(f, name) == 0))
            return (long)i;
    }
    return -1;
}

int ward_event_set(ward_event *ev, const char *name, const char *val, size_t val_len) {
    long i = find(ev, name);
    if (i >= 0) {
        ev->fields[i].val = val;
        ev->fields[i].val_len = val_len;
        return 0;
    }
    if (ev->nfields == WARD_EVENT_MAX_FIELDS) {
        ev->dropped_fields++;
        return -1;
    }
    ev->fields[ev->nfields].name = name;
    ev->fields[ev->nfields].val = val;
    ev->fields[ev->nfields].val_len = val_len;
    ev->nfields++;
    return 0;
}

int ward_event_set_kept(ward_event *ev, const char *name, const char *val, size_t val_len) {
    if (ward_event_set(ev, name, val, val_len) == 0)
        return 0;
    /* full (the failed set counted the drop): the last field that is not one of those
     * kept gives its place, and the count stands for it instead */
    for (size_t i = ev->nfields; i-- > 1;) {
        const char *f = ev->fields[i].name;
        if (strcmp(f, "event.original") == 0 || strcmp(f, "message") == 0 ||
            strcmp(f, "f2b.line") == 0)
            continue;
        ev->fields[i] = (ward_field){name, val, val_len};
        return 0;
    }
    return -1;
}

char *ward_event_alloc(ward_event *ev, size_t len) {
    if (len >= SIZE_MAX - sizeof(struct ward_arena_chunk))
        return NULL;
    /* The first chunk is kept across resets; newer chunks go right after it, so the
     * one with room, if any, is the first or the second. */
    struct ward_arena_chunk *c = ev->arena;
    if (c && c->cap - c->used < len + 1)
        c = c->next;
    if (!c || c->cap - c->used < len + 1) {
        size_t cap = len + 1 > ARENA_CHUNK ? len + 1 : ARENA_CHUNK;
        struct ward_arena_chunk *n = malloc(sizeof(*n) + cap);
        if (!n)
            return NULL;
        n->used = 0;
        n->cap = cap;
        if (ev->arena) {
            n->next = ev->arena->next;
            ev->arena->next = n;
        } else {
            n->next = NULL;
            ev->arena = n;
        }
        c = n;
    }
    char *p = c->data + c->used;
    p[len] = '\0';
    c->used += len + 1;
    return p;
}

char *ward_event_strdup(ward_event *ev, const char *s, size_t len) {
    char *p = ward_event_alloc(ev, len);
    if (p && len)
        memcpy(p, s, len);
    return p;
}

static int is_substring_of_line(const ward_event *ev, const char *val, size_t len) {
    if (len == 0)
        return 1;
    if (len > ev->line_len)
        return 0;
    return memmem(ev->line, ev->line_len, val, len) != NULL;
}

int ward_event_set_copy(ward_event *ev, const char *name, size_t name_len, const char *val,
                        size_t val_len) {
    char *n = ward_event_strdup(ev, name, name_len);
    char *v = n ? ward_event_strdup(ev, val, val_len) : NULL;
    if (!v)
        return -1;
    if (!ev->transformed && !is_substring_of_line(ev, val, val_len))
        ev->transformed = 1;
    return ward_event_set(ev, n, v, val_len);
}

const ward_field *ward_event_get(const ward_event *ev, const char *name) {
    long i = find(ev, name);
    return i < 0 ? NULL : &ev->fields[i];
}
