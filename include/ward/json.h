/* JSON output: a growable byte buffer and a writer that puts the commas in. Strings are
 * written as valid JSON whatever the input bytes: control characters are escaped and a
 * byte sequence that is not UTF-8 becomes U+FFFD (the writer counts them, so that a
 * caller can keep the exact bytes elsewhere, e.g. base64). */
#ifndef WARD_JSON_H
#define WARD_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef struct ward_buf {
    char *p; /* owned; not NUL-terminated unless ward_buf_cstr is called */
    size_t len, cap;
    int oom; /* set when a write could not grow the buffer (the write is dropped) */
} ward_buf;

void ward_buf_init(ward_buf *b);
void ward_buf_fini(ward_buf *b);
void ward_buf_reset(ward_buf *b); /* empties it; keeps the memory and clears oom */

/* Appends bytes. Returns 0 or -1 (no memory: b->oom is set). */
int ward_buf_put(ward_buf *b, const void *s, size_t len);
int ward_buf_putc(ward_buf *b, char c);
int ward_buf_printf(ward_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Makes room for at least more bytes at b->p + b->len, for a caller that writes them
 * in place and then adds to len. Returns 0 or -1 (no memory: b->oom is set). */
int ward_buf_reserve(ward_buf *b, size_t more);

/* NUL-terminates the content (not counted in len) and returns it, or NULL (no memory). */
const char *ward_buf_cstr(ward_buf *b);

/* Appends the base64 of s (standard alphabet, padded). Returns 0 or -1. */
int ward_buf_base64(ward_buf *b, const uint8_t *s, size_t len);

#define WARD_JSON_MAX_DEPTH 32

typedef struct ward_jw {
    ward_buf *b;
    int depth;
    uint8_t need_comma[WARD_JSON_MAX_DEPTH + 1];
    int after_key;  /* the next value follows a key: no comma */
    size_t invalid; /* non-UTF-8 sequences replaced so far */
} ward_jw;

/* Starts writing into b (appends; b is not reset). */
void ward_jw_init(ward_jw *w, ward_buf *b);

/* Structure. Nesting deeper than WARD_JSON_MAX_DEPTH sets b->oom (a caller bug). */
void ward_jw_obj(ward_jw *w);
void ward_jw_obj_end(ward_jw *w);
void ward_jw_arr(ward_jw *w);
void ward_jw_arr_end(ward_jw *w);

/* A key inside an object; the next call writes its value. */
void ward_jw_key(ward_jw *w, const char *key);

/* Values. */
void ward_jw_str(ward_jw *w, const char *s, size_t len);
void ward_jw_cstr(ward_jw *w, const char *s); /* NULL writes null */
void ward_jw_u64(ward_jw *w, uint64_t v);
void ward_jw_i64(ward_jw *w, int64_t v);
void ward_jw_bool(ward_jw *w, int v);
void ward_jw_null(ward_jw *w);
void ward_jw_base64(ward_jw *w, const uint8_t *s, size_t len); /* a string: s in base64 */

/* Object members (or array elements) written earlier by another writer, as they are:
 * "k":v,"k2":v2 without braces; nothing when len is 0. */
void ward_jw_raw_members(ward_jw *w, const char *s, size_t len);

/* key + value in one call. */
void ward_jw_kstr(ward_jw *w, const char *key, const char *s, size_t len);
void ward_jw_kcstr(ward_jw *w, const char *key, const char *s);
void ward_jw_ku64(ward_jw *w, const char *key, uint64_t v);

/* Writes s as a JSON string body (no quotes) into b: escapes, U+FFFD for bytes that are
 * not UTF-8. Returns the number of invalid sequences replaced. */
size_t ward_json_escape(ward_buf *b, const char *s, size_t len);

#endif
