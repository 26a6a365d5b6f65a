/* Reading the few fields the collector needs out of an alert's JSON, in one pass and
 * without building a tree: a small recursive-descent reader that keeps the path of keys
 * to the current value and copies out only the values whose path is wanted. It checks
 * the whole document (a record that is not JSON refuses its batch). */
#include "collector.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DEPTH 32
#define MAX_PATH 256

typedef struct rd {
    const uint8_t *p;
    size_t len, at;
    char path[MAX_PATH]; /* "ward.extracted.src_ip" of the current value */
    size_t plen;
    int depth;
    int in_array; /* values inside arrays are not wanted */
    char *const *fields;
    size_t nfields;
    size_t flen[COLL_MAX_IND]; /* strlen(fields[i]) */
    int fdot[COLL_MAX_IND];    /* fields[i] is a dotted path from the root */
    coll_arena *a;
    coll_fields *out;
    int ind_rank[COLL_MAX_IND]; /* 2: from ward.extracted or a full path, 1: ward.fields */
    char *err;
    size_t errlen;
} rd;

static int fail(rd *r, const char *what) {
    snprintf(r->err, r->errlen, "byte %zu: %s", r->at, what);
    return -1;
}

static inline void ws(rd *r) {
    if (r->at < r->len && r->p[r->at] > ' ')
        return; /* compact JSON: nothing to skip */
    while (r->at < r->len) {
        uint8_t c = r->p[r->at];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        r->at++;
    }
}

static int arena_put(coll_arena *a, const void *s, size_t n) {
    if (n > SIZE_MAX / 2 - a->len)
        return -1;
    if (a->len + n > a->cap) {
        size_t cap = a->cap ? a->cap : 4096;
        while (cap < a->len + n)
            cap *= 2;
        char *p = realloc(a->p, cap);
        if (!p)
            return -1;
        a->p = p;
        a->cap = cap;
    }
    memcpy(a->p + a->len, s, n);
    a->len += n;
    return 0;
}

static int put_utf8(coll_arena *a, unsigned long cp) {
    uint8_t b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xc0 | (cp >> 6));
        b[1] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xe0 | (cp >> 12));
        b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xf0 | (cp >> 18));
        b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return arena_put(a, b, n);
}

static int hex4(rd *r, unsigned long *v) {
    if (r->len - r->at < 4)
        return fail(r, "short \\u escape");
    *v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = r->p[r->at++];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return fail(r, "bad \\u escape");
        *v = *v * 16 + d;
    }
    return 0;
}

/* 1 for the bytes a string holds as they are (not '"', '\\', nor a control character) */
static const uint8_t plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x70 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x80 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x90 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xa0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xb0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xc0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xd0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xe0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xf0 */
};

/* A string at r->at (the opening quote). With copy, its unescaped bytes and a NUL go to
 * the arena and *off is where they start. Keys are read with copy into key (keylen). */
static int string(rd *r, int copy, size_t *off, char *key, size_t keycap, size_t *keylen) {
    r->at++; /* the quote */
    if (copy)
        *off = r->a->len;
    size_t kl = 0;
    for (;;) {
        size_t run = r->at, at = r->at;
        const uint8_t *p = r->p;
        while (at < r->len && plain[p[at]])
            at++;
        r->at = at;
        size_t n = at - run;
        if (copy && n && arena_put(r->a, r->p + run, n) < 0)
            return fail(r, "out of memory");
        if (key) {
            if (kl + n < keycap)
                memcpy(key + kl, r->p + run, n);
            kl += n;
        }
        if (r->at >= r->len)
            return fail(r, "unterminated string");
        uint8_t c = r->p[r->at];
        if (c == '"') {
            r->at++;
            break;
        }
        if (c < 0x20)
            return fail(r, "control character in a string");
        /* an escape */
        if (++r->at >= r->len)
            return fail(r, "unterminated escape");
        uint8_t e = r->p[r->at++];
        char ch = 0;
        unsigned long cp = 0;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            ch = (char)e;
            break;
        case 'b':
            ch = '\b';
            break;
        case 'f':
            ch = '\f';
            break;
        case 'n':
            ch = '\n';
            break;
        case 'r':
            ch = '\r';
            break;
        case 't':
            ch = '\t';
            break;
        case 'u':
            if (hex4(r, &cp) < 0)
                return -1;
            if (cp >= 0xd800 && cp < 0xdc00 && r->len - r->at >= 6 && r->p[r->at] == '\\' &&
                r->p[r->at + 1] == 'u') {
                unsigned long lo;
                r->at += 2;
                if (hex4(r, &lo) < 0)
                    return -1;
                if (lo >= 0xdc00 && lo < 0xe000)
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                else
                    cp = 0xfffd;
            } else if (cp >= 0xd800 && cp < 0xe000) {
                cp = 0xfffd;
            }
            if (cp == 0)
                cp = 0xfffd; /* no NUL inside the strings handed on */
            break;
        default:
            return fail(r, "bad escape");
        }
        if (copy && (ch ? arena_put(r->a, &ch, 1) : put_utf8(r->a, cp)) < 0)
            return fail(r, "out of memory");
        if (key) {
            if (ch && kl + 1 < keycap)
                key[kl] = ch;
            kl++; /* a \u in a key: counted, so the key matches nothing wanted */
            if (!ch)
                kl = keycap;
        }
    }
    if (copy && arena_put(r->a, "", 1) < 0)
        return fail(r, "out of memory");
    if (keylen)
        *keylen = kl;
    return 0;
}

/* What the value at the current path is wanted as: 0 nothing, else a slot code. */
enum { W_NONE = 0, W_TIME, W_RULE, W_LEVEL, W_ID, W_IND };

static int wanted(rd *r, size_t *ind, int *rank) {
    if (r->in_array)
        return W_NONE;
    const char *p = r->path;
    size_t n = r->plen;
    if (n == 10 && memcmp(p, "@timestamp", 10) == 0)
        return W_TIME;
    if (n == 7 && memcmp(p, "rule.id", 7) == 0)
        return W_RULE;
    if (n == 10 && memcmp(p, "ward.level", 10) == 0)
        return W_LEVEL;
    if (n == 8 && memcmp(p, "event.id", 8) == 0)
        return W_ID;
    for (size_t i = 0; i < r->nfields; i++) {
        const char *f = r->fields[i];
        size_t fl = r->flen[i];
        if (r->fdot[i]) {
            if (n == fl && memcmp(p, f, fl) == 0) {
                *ind = i;
                *rank = 2;
                return W_IND;
            }
            continue;
        }
        if (n == 15 + fl && memcmp(p, "ward.extracted.", 15) == 0 && memcmp(p + 15, f, fl) == 0) {
            *ind = i;
            *rank = 2;
            return W_IND;
        }
        if (n == 12 + fl && memcmp(p, "ward.fields.", 12) == 0 && memcmp(p + 12, f, fl) == 0) {
            *ind = i;
            *rank = 1;
            return W_IND;
        }
    }
    return W_NONE;
}

static void take(rd *r, int w, size_t ind, int rank, size_t off) {
    coll_fields *o = r->out;
    const char *s = r->a->p + off;
    switch (w) {
    case W_TIME: {
        int64_t ms;
        if (coll_parse_time(s, strlen(s), &ms) == 0)
            o->time_ms = ms;
        break;
    }
    case W_RULE:
        o->rule = off;
        break;
    case W_LEVEL:
        o->level = coll_level_parse(s);
        break;
    case W_ID:
        o->alert_id = off;
        break;
    case W_IND:
        if (*s && rank > r->ind_rank[ind]) {
            o->ind[ind] = off;
            r->ind_rank[ind] = rank;
        }
        break;
    }
}

static int value(rd *r);

static int object(rd *r) {
    r->at++;
    ws(r);
    if (r->at < r->len && r->p[r->at] == '}') {
        r->at++;
        return 0;
    }
    size_t base = r->plen;
    for (;;) {
        ws(r);
        if (r->at >= r->len || r->p[r->at] != '"')
            return fail(r, "a key was expected");
        /* the path to this member's value: base + "." + key, the key read straight
         * into its place (unwanted when longer than 127 bytes or the path too long) */
        size_t kat = base + (base ? 1 : 0), kl = 0;
        size_t keycap = kat >= MAX_PATH ? 0 : MAX_PATH - kat < 128 ? MAX_PATH - kat : 128;
        /* a path already too long (plen MAX_PATH) has no place for the key at all */
        if (string(r, 0, NULL, keycap ? r->path + kat : NULL, keycap, &kl) < 0)
            return -1;
        size_t need = kat + kl;
        if (kl < keycap && need < MAX_PATH) {
            if (base)
                r->path[base] = '.';
            r->plen = need;
        } else {
            r->plen = MAX_PATH; /* matches nothing */
        }
        ws(r);
        if (r->at >= r->len || r->p[r->at] != ':')
            return fail(r, "':' was expected");
        r->at++;
        int saved_in_array = r->in_array;
        if (r->plen == MAX_PATH)
            r->in_array = 1; /* nothing below is wanted */
        if (value(r) < 0)
            return -1;
        r->in_array = saved_in_array;
        r->plen = base;
        ws(r);
        if (r->at >= r->len)
            return fail(r, "unterminated object");
        if (r->p[r->at] == ',') {
            r->at++;
            continue;
        }
        if (r->p[r->at] == '}') {
            r->at++;
            return 0;
        }
        return fail(r, "',' or '}' was expected");
    }
}

static int array(rd *r) {
    r->at++;
    ws(r);
    if (r->at < r->len && r->p[r->at] == ']') {
        r->at++;
        return 0;
    }
    int saved = r->in_array;
    r->in_array = 1;
    for (;;) {
        if (value(r) < 0)
            return -1;
        ws(r);
        if (r->at >= r->len)
            return fail(r, "unterminated array");
        if (r->p[r->at] == ',') {
            r->at++;
            continue;
        }
        if (r->p[r->at] == ']') {
            r->at++;
            break;
        }
        return fail(r, "',' or ']' was expected");
    }
    r->in_array = saved;
    return 0;
}

static int literal(rd *r, const char *lit) {
    size_t n = strlen(lit);
    if (r->len - r->at < n || memcmp(r->p + r->at, lit, n) != 0)
        return fail(r, "a value was expected");
    r->at += n;
    return 0;
}

static int number(rd *r, size_t *start) {
    *start = r->at;
    if (r->at < r->len && r->p[r->at] == '-')
        r->at++;
    size_t digits = r->at;
    while (r->at < r->len && r->p[r->at] >= '0' && r->p[r->at] <= '9')
        r->at++;
    if (r->at == digits)
        return fail(r, "a value was expected");
    if (r->at < r->len && r->p[r->at] == '.') {
        r->at++;
        size_t f = r->at;
        while (r->at < r->len && r->p[r->at] >= '0' && r->p[r->at] <= '9')
            r->at++;
        if (r->at == f)
            return fail(r, "digits were expected after '.'");
    }
    if (r->at < r->len && (r->p[r->at] == 'e' || r->p[r->at] == 'E')) {
        r->at++;
        if (r->at < r->len && (r->p[r->at] == '+' || r->p[r->at] == '-'))
            r->at++;
        size_t e = r->at;
        while (r->at < r->len && r->p[r->at] >= '0' && r->p[r->at] <= '9')
            r->at++;
        if (r->at == e)
            return fail(r, "digits were expected in the exponent");
    }
    return 0;
}

static int value(rd *r) {
    ws(r);
    if (r->at >= r->len)
        return fail(r, "a value was expected");
    if (++r->depth > MAX_DEPTH)
        return fail(r, "nested too deeply");
    int rc;
    uint8_t c = r->p[r->at];
    size_t ind = 0, off = 0;
    int rank = 0, w;
    switch (c) {
    case '{':
        rc = object(r);
        break;
    case '[':
        rc = array(r);
        break;
    case '"':
        w = wanted(r, &ind, &rank);
        rc = string(r, w != W_NONE, &off, NULL, 0, NULL);
        if (rc == 0 && w != W_NONE)
            take(r, w, ind, rank, off);
        break;
    case 't':
        rc = literal(r, "true");
        break;
    case 'f':
        rc = literal(r, "false");
        break;
    case 'n':
        rc = literal(r, "null");
        break;
    default: {
        size_t start;
        rc = number(r, &start);
        w = rc == 0 ? wanted(r, &ind, &rank) : W_NONE;
        if (w == W_IND) { /* a number as an indicator (a port): its text */
            off = r->a->len;
            if (arena_put(r->a, r->p + start, r->at - start) < 0 || arena_put(r->a, "", 1) < 0)
                return fail(r, "out of memory");
            take(r, w, ind, rank, off);
        }
    }
    }
    r->depth--;
    return rc;
}

int coll_extract(const uint8_t *json, size_t len, char *const *fields, size_t n, coll_arena *a,
                 coll_fields *out, char *err, size_t errlen) {
    rd r;
    memset(&r, 0, sizeof(r));
    r.p = json;
    r.len = len;
    r.fields = fields;
    r.nfields = n < COLL_MAX_IND ? n : COLL_MAX_IND;
    for (size_t i = 0; i < r.nfields; i++) {
        r.flen[i] = strlen(fields[i]);
        r.fdot[i] = strchr(fields[i], '.') != NULL;
    }
    r.a = a;
    r.out = out;
    r.err = err;
    r.errlen = errlen;
    out->rule = out->alert_id = COLL_NONE;
    out->level = 0;
    out->time_ms = 0;
    for (size_t i = 0; i < COLL_MAX_IND; i++)
        out->ind[i] = COLL_NONE;
    ws(&r);
    if (r.at >= r.len || r.p[r.at] != '{')
        return fail(&r, "an alert must be a JSON object");
    if (value(&r) < 0)
        return -1;
    ws(&r);
    if (r.at != r.len)
        return fail(&r, "bytes after the object");
    return 0;
}

static const char *const level_names[] = {"none",   "informational", "low",
                                          "medium", "high",          "critical"};

int coll_level_parse(const char *s) {
    for (int i = 1; i <= 5; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return 0;
}

const char *coll_level_name(int level) {
    return level >= 0 && level <= 5 ? level_names[level] : "none";
}

static int digits(const char *s, size_t len, size_t *at, int n, int *v) {
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (*at >= len || s[*at] < '0' || s[*at] > '9')
            return -1;
        *v = *v * 10 + (s[(*at)++] - '0');
    }
    return 0;
}

int coll_parse_time(const char *s, size_t len, int64_t *ms) {
    size_t at = 0;
    int Y, M, D, h = 0, m = 0, sec = 0, frac = 0;
    if (digits(s, len, &at, 4, &Y) < 0 || at >= len || s[at++] != '-' ||
        digits(s, len, &at, 2, &M) < 0 || at >= len || s[at++] != '-' ||
        digits(s, len, &at, 2, &D) < 0)
        return -1;
    long off_s = 0;
    if (at < len) {
        if (s[at] != 'T' && s[at] != 't' && s[at] != ' ')
            return -1;
        at++;
        if (digits(s, len, &at, 2, &h) < 0 || at >= len || s[at++] != ':' ||
            digits(s, len, &at, 2, &m) < 0)
            return -1;
        if (at < len && s[at] == ':') {
            at++;
            if (digits(s, len, &at, 2, &sec) < 0)
                return -1;
            if (at < len && s[at] == '.') {
                at++;
                int nd = 0;
                while (at < len && s[at] >= '0' && s[at] <= '9') {
                    if (nd < 3)
                        frac = frac * 10 + (s[at] - '0');
                    nd++;
                    at++;
                }
                if (nd == 0)
                    return -1;
                for (; nd < 3; nd++)
                    frac *= 10;
            }
        }
        if (at < len && (s[at] == 'Z' || s[at] == 'z')) {
            at++;
        } else if (at < len && (s[at] == '+' || s[at] == '-')) {
            int sign = s[at++] == '-' ? -1 : 1, oh, om = 0;
            if (digits(s, len, &at, 2, &oh) < 0)
                return -1;
            if (at < len && s[at] == ':')
                at++;
            if (at < len && digits(s, len, &at, 2, &om) < 0)
                return -1;
            off_s = sign * (oh * 3600L + om * 60L);
        }
    }
    if (at != len || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 && Y != 1969)
        return -1;
    *ms = ((int64_t)t - off_s) * 1000 + frac;
    return 0;
}
