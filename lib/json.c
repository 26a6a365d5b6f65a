/* JSON output: buffer, escaping with UTF-8 validation, and a comma-placing writer. */
#include "ward/json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ward_buf_init(ward_buf *b) {
    memset(b, 0, sizeof(*b));
}

void ward_buf_fini(ward_buf *b) {
    free(b->p);
    memset(b, 0, sizeof(*b));
}

void ward_buf_reset(ward_buf *b) {
    b->len = 0;
    b->oom = 0;
}

static int grow(ward_buf *b, size_t more) {
    if (b->oom)
        return -1;
    if (more > SIZE_MAX - b->len - 1) {
        b->oom = 1;
        return -1;
    }
    size_t need = b->len + more + 1; /* room for a NUL */
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

int ward_buf_put(ward_buf *b, const void *s, size_t len) {
    if (len == 0)
        return b->oom ? -1 : 0;
    /* the common case (room enough) without a call */
    if (!(b->cap - b->len > len && !b->oom) && grow(b, len) < 0)
        return -1;
    memcpy(b->p + b->len, s, len);
    b->len += len;
    return 0;
}

int ward_buf_putc(ward_buf *b, char c) {
    if (!(b->cap - b->len > 1 && !b->oom) && grow(b, 1) < 0)
        return -1;
    b->p[b->len++] = c;
    return 0;
}

int ward_buf_printf(ward_buf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return -1;
    }
    if ((size_t)n < sizeof(tmp))
        return ward_buf_put(b, tmp, (size_t)n);
    if (grow(b, (size_t)n) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int ward_buf_reserve(ward_buf *b, size_t more) {
    return grow(b, more);
}

const char *ward_buf_cstr(ward_buf *b) {
    if (grow(b, 0) < 0)
        return NULL;
    b->p[b->len] = 0;
    return b->p;
}

int ward_buf_base64(ward_buf *b, const uint8_t *s, size_t len) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len > SIZE_MAX / 2 || grow(b, (len + 2) / 3 * 4) < 0)
        return -1;
    char *o = b->p + b->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = a[v >> 18];
        *o++ = a[(v >> 12) & 63];
        *o++ = a[(v >> 6) & 63];
        *o++ = a[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0);
        *o++ = a[v >> 18];
        *o++ = a[(v >> 12) & 63];
        *o++ = i + 1 < len ? a[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->len = (size_t)(o - b->p);
    return 0;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when it is not one. */
static size_t utf8_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    size_t len = c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t k = 1; k < len; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    if (len == 3 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0)))
        return 0; /* overlong, or a UTF-16 surrogate */
    if (len == 4 && ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90)))
        return 0; /* overlong, or past U+10FFFF */
    return len;
}

/* 1 for the printable ASCII bytes a JSON string holds as they are. */
static const uint8_t plain[256] = {
#define P4(x) [(x)] = 1, [(x) + 1] = 1, [(x) + 2] = 1, [(x) + 3] = 1
#define P16(x) P4(x), P4((x) + 4), P4((x) + 8), P4((x) + 12)
    P16(0x20), P16(0x30), P16(0x40),  P16(0x50),  P16(0x60),  P4(0x70),
    P4(0x74),  P4(0x78),  [0x7c] = 1, [0x7d] = 1, [0x7e] = 1,
#undef P16
#undef P4
};

/* Whether none of the eight bytes of x needs escaping: none below 0x20, none of '"',
 * '\\', 0x7f and none from 0x80 up. A 1 may be a false alarm (a borrow or carry from a
 * byte that does need it), never a miss. */
static int word_plain(uint64_t x) {
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t ctl = (x - ones * 0x20) & ~x;
    uint64_t q = x ^ (ones * 0x22), bs = x ^ (ones * 0x5c);
    q = (q - ones) & ~q;
    bs = (bs - ones) & ~bs;
    return ((ctl | q | bs | (x + ones) | x) & high) == 0;
}

size_t ward_json_escape(ward_buf *b, const char *str, size_t len) {
    const uint8_t *s = (const uint8_t *)str;
    size_t bad = 0, i = 0, run = 0; /* run: start of bytes to copy as they are */
    while (i < len) {
        if (i + 8 <= len) {
            uint64_t x;
            memcpy(&x, s + i, 8);
            if (word_plain(x)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (plain[c] && c != '"' && c != '\\') {
            i++;
            continue;
        }
        size_t u = c >= 0x80 ? utf8_len(s + i, len - i) : 0;
        if (u > 1) {
            i += u;
            continue;
        }
        ward_buf_put(b, s + run, i - run);
        switch (c) {
        case '"':
            ward_buf_put(b, "\\\"", 2);
            break;
        case '\\':
            ward_buf_put(b, "\\\\", 2);
            break;
        case '\n':
            ward_buf_put(b, "\\n", 2);
            break;
        case '\r':
            ward_buf_put(b, "\\r", 2);
            break;
        case '\t':
            ward_buf_put(b, "\\t", 2);
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                ward_buf_printf(b, "\\u%04x", c);
            } else {
                ward_buf_put(b, "\\ufffd", 6);
                bad++;
            }
        }
        i++;
        run = i;
    }
    ward_buf_put(b, s + run, i - run);
    return bad;
}

/* ---- the writer ---- */

void ward_jw_init(ward_jw *w, ward_buf *b) {
    memset(w, 0, sizeof(*w));
    w->b = b;
}

static void before_value(ward_jw *w) {
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->need_comma[w->depth])
        ward_buf_putc(w->b, ',');
    w->need_comma[w->depth] = 1;
}

static void jw_open(ward_jw *w, char c) {
    before_value(w);
    ward_buf_putc(w->b, c);
    if (w->depth == WARD_JSON_MAX_DEPTH) {
        w->b->oom = 1;
        return;
    }
    w->need_comma[++w->depth] = 0;
}

static void jw_close(ward_jw *w, char c) {
    ward_buf_putc(w->b, c);
    if (w->depth > 0)
        w->depth--;
}

void ward_jw_obj(ward_jw *w) {
    jw_open(w, '{');
}

void ward_jw_obj_end(ward_jw *w) {
    jw_close(w, '}');
}

void ward_jw_arr(ward_jw *w) {
    jw_open(w, '[');
}

void ward_jw_arr_end(ward_jw *w) {
    jw_close(w, ']');
}

void ward_jw_key(ward_jw *w, const char *key) {
    before_value(w);
    size_t n = strlen(key);
    ward_buf *b = w->b;
    w->after_key = 1;
    /* keys are mostly short plain names: copied while checked, in one pass */
    if (!b->oom && (b->cap - b->len > n + 3 || grow(b, n + 3) == 0)) {
        char *o = b->p + b->len;
        size_t i = 0;
        while (i < n && plain[(uint8_t)key[i]] && key[i] != '"' && key[i] != '\\') {
            o[i + 1] = key[i];
            i++;
        }
        if (i == n) {
            o[0] = '"';
            o[n + 1] = '"';
            o[n + 2] = ':';
            b->len += n + 3;
            return;
        }
    }
    ward_buf_putc(b, '"');
    w->invalid += ward_json_escape(b, key, n);
    ward_buf_put(b, "\":", 2);
}

void ward_jw_str(ward_jw *w, const char *s, size_t len) {
    before_value(w);
    ward_buf_putc(w->b, '"');
    w->invalid += ward_json_escape(w->b, s, len);
    ward_buf_putc(w->b, '"');
}

void ward_jw_base64(ward_jw *w, const uint8_t *s, size_t len) {
    before_value(w);
    ward_buf_putc(w->b, '"');
    ward_buf_base64(w->b, s, len);
    ward_buf_putc(w->b, '"');
}

void ward_jw_raw_members(ward_jw *w, const char *s, size_t len) {
    if (!len)
        return;
    before_value(w);
    ward_buf_put(w->b, s, len);
}

void ward_jw_cstr(ward_jw *w, const char *s) {
    if (s)
        ward_jw_str(w, s, strlen(s));
    else
        ward_jw_null(w);
}

void ward_jw_u64(ward_jw *w, uint64_t v) {
    before_value(w);
    char d[20];
    size_t n = 0;
    do {
        d[sizeof(d) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    ward_buf_put(w->b, d + sizeof(d) - n, n);
}

void ward_jw_i64(ward_jw *w, int64_t v) {
    before_value(w);
    ward_buf_printf(w->b, "%" PRId64, v);
}

void ward_jw_bool(ward_jw *w, int v) {
    before_value(w);
    ward_buf_put(w->b, v ? "true" : "false", v ? 4 : 5);
}

void ward_jw_null(ward_jw *w) {
    before_value(w);
    ward_buf_put(w->b, "null", 4);
}

void ward_jw_kstr(ward_jw *w, const char *key, const char *s, size_t len) {
    ward_jw_key(w, key);
    ward_jw_str(w, s, len);
}

void ward_jw_kcstr(ward_jw *w, const char *key, const char *s) {
    ward_jw_key(w, key);
    ward_jw_cstr(w, s);
}

void ward_jw_ku64(ward_jw *w, const char *key, uint64_t v) {
    ward_jw_key(w, key);
    ward_jw_u64(w, v);
}
