/* Table-driven configuration: YAML trees (yamltree.c) are walked against ward_cfg_table
 * descriptions. Every value, file or default, goes through load_value, so a default is
 * checked exactly as a file value is. Errors are counted and loading goes on (next key,
 * next item) so that one run shows them all. Each slot of a struct always owns what it
 * holds (NULL or an allocation), which is what makes ward_cfg_free safe at any moment. */
#include "ward/config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ward/node.h"

/* Tables are static, but one could name itself as its own sub: recursion stops here. YAML
 * depth is 64 and every table level takes at least one YAML level, so this is no limit on
 * a real file. */
#define MAX_NEST 64
#define PATH_LEN 256
#define SHOW_LEN 64

#define SLOT(obj, off, T) ((T *)(void *)((char *)(obj) + (off)))

typedef struct loader {
    const char *file; /* for messages */
    ward_diags *d;
    size_t nerr;  /* errors reported so far, diagnostics that could not be stored included */
    int defaults; /* values come from the tables' def texts: errors are table bugs */
} loader;

static void lerr(loader *L, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void lerr(loader *L, int line, int col, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    L->nerr++;
    if (L->defaults)
        ward_diags_add(L->d, NULL, 0, 0, NULL, "configuration table: bad default: %s", msg);
    else
        ward_diags_add(L->d, L->file, line, col, NULL, "%s", msg);
}

int ward_cfg_error(const ward_cfg_ctx *c, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    if (!c || !c->d)
        return -1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->path && c->path[0])
        ward_diags_add(c->d, c->file, c->line, c->col, NULL, "%s: %s", c->path, msg);
    else
        ward_diags_add(c->d, c->file, c->line, c->col, NULL, "%s", msg);
    return -1;
}

/* The text of a file value for a message: control bytes become '?' (a terminal must not
 * be driven by a configuration file) and long values are cut. */
static const char *show(const char *s, size_t len, char *buf, size_t cap) {
    size_t o = 0, i;
    for (i = 0; i < len && o + 4 < cap && i < SHOW_LEN; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    if (i < len)
        for (int j = 0; j < 3 && o + 1 < cap; j++)
            buf[o++] = '.';
    buf[o] = 0;
    return buf;
}

static const char *show_node(const ward_node *n, char *buf, size_t cap) {
    return show(n->str ? n->str : "", n->len, buf, cap);
}

/* Formats a key path for messages; a path too long for buf is cut, which only shortens a
 * message. */
static void pathf(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void pathf(char *buf, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

static void join(char *buf, size_t cap, const char *path, const char *name) {
    if (path[0])
        pathf(buf, cap, "%s.%s", path, name);
    else
        pathf(buf, cap, "%s", name);
}

/* "in sources[1]" or "at the top level", for key messages. */
static const char *where(const char *path, char *buf, size_t cap) {
    if (path[0])
        snprintf(buf, cap, "in %s", path);
    else
        snprintf(buf, cap, "at the top level");
    return buf;
}

static const char *kind_name(const ward_node *n) {
    if (!n || n->type == WARD_NODE_NULL)
        return "an empty value";
    if (n->type == WARD_NODE_SEQ)
        return "a list";
    if (n->type == WARD_NODE_MAP)
        return "a map";
    return n->plain ? "a string" : "a quoted string";
}

/* "one of json, text, syslog" */
static const char *choices_text(const ward_cfg_key *k, char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = 0;
    if (!k->choices)
        return buf;
    for (size_t i = 0; k->choices[i]; i++) {
        int w = snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", k->choices[i]);
        if (w < 0 || (size_t)w >= cap - o)
            break;
        o += (size_t)w;
    }
    return buf;
}

/* What a key wants, for "'x' must be <want>, not ...". */
static const char *want_text(const ward_cfg_key *k, char *buf, size_t cap) {
    char ch[512];
    switch (k->type) {
    case WARD_CFG_STR:
        return "a string";
    case WARD_CFG_STRLIST:
        return "a string or a list of strings";
    case WARD_CFG_BOOL:
        return "true or false";
    case WARD_CFG_INT:
        return "an integer";
    case WARD_CFG_SIZE:
        return "a size like 64k";
    case WARD_CFG_DURATION:
        return "a duration like 10s";
    case WARD_CFG_ENUM:
        snprintf(buf, cap, "one of %s", choices_text(k, ch, sizeof(ch)));
        return buf;
    case WARD_CFG_SECTION:
        return "a map";
    case WARD_CFG_LIST:
        return "a list of maps";
    }
    return "a value";
}

static void type_error(loader *L, const ward_cfg_key *k, const char *name, const ward_node *n) {
    char want[600], val[SHOW_LEN + 8];
    int line = n ? n->line : 0, col = n ? n->col : 0;
    if (n && n->type == WARD_NODE_SCALAR)
        lerr(L, line, col, "'%s' must be %s, not %s'%s'", name, want_text(k, want, sizeof(want)),
             n->plain ? "" : "the quoted string ", show_node(n, val, sizeof(val)));
    else
        lerr(L, line, col, "'%s' must be %s, not %s", name, want_text(k, want, sizeof(want)),
             kind_name(n));
}

/* ---- numbers ---- */

enum { P_OK = 0, P_BAD = -1, P_BIG = -2 };

/* Reads the decimal digits at s[*i]; at least one is needed. */
static int digits(const char *s, size_t len, size_t *i, uint64_t *out) {
    uint64_t v = 0;
    int big = 0;
    size_t start = *i;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        unsigned dg = (unsigned)(s[*i] - '0');
        if (v > (UINT64_MAX - dg) / 10)
            big = 1;
        else
            v = v * 10 + dg;
        (*i)++;
    }
    if (*i == start)
        return P_BAD;
    *out = v;
    return big ? P_BIG : P_OK;
}

static int parse_size_n(const char *s, size_t len, uint64_t *out) {
    size_t i = 0;
    uint64_t v, mult = 1;
    int rc = digits(s, len, &i, &v);
    if (rc == P_BAD)
        return P_BAD;
    if (i < len) {
        switch (s[i]) {
        case 'k':
        case 'K':
            mult = UINT64_C(1) << 10;
            break;
        case 'm':
        case 'M':
            mult = UINT64_C(1) << 20;
            break;
        case 'g':
        case 'G':
            mult = UINT64_C(1) << 30;
            break;
        }
        if (mult != 1)
            i++;
    }
    if (i < len && s[i] == 'B')
        i++;
    else if (mult != 1 && len - i >= 2 && s[i] == 'i' && s[i + 1] == 'B')
        i += 2;
    if (i != len)
        return P_BAD; /* a bad suffix says more than an overflow of the digits before it */
    if (rc == P_BIG || v > UINT64_MAX / mult)
        return P_BIG;
    *out = v * mult;
    return P_OK;
}

static int parse_duration_n(const char *s, size_t len, uint64_t *out) {
    static const struct {
        const char *suffix;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {"", 1000}};
    size_t i = 0;
    uint64_t v;
    int rc = digits(s, len, &i, &v);
    if (rc == P_BAD)
        return P_BAD;
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        size_t sl = strlen(units[u].suffix);
        if (len - i != sl || memcmp(s + i, units[u].suffix, sl) != 0)
            continue;
        if (rc == P_BIG || v > UINT64_MAX / units[u].ms)
            return P_BIG;
        *out = v * units[u].ms;
        return P_OK;
    }
    return P_BAD;
}

static int parse_int_n(const char *s, size_t len, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    uint64_t v;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    int rc = digits(s, len, &i, &v);
    if (rc == P_BAD || i != len)
        return P_BAD;
    if (rc == P_BIG || v > (uint64_t)INT64_MAX + (uint64_t)neg)
        return P_BIG;
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return P_OK;
}

int ward_cfg_parse_size(const char *s, uint64_t *out) {
    uint64_t v;
    if (!s || !out || parse_size_n(s, strlen(s), &v) != P_OK)
        return -1;
    *out = v;
    return 0;
}

int ward_cfg_parse_duration(const char *s, uint64_t *ms) {
    uint64_t v;
    if (!s || !ms || parse_duration_n(s, strlen(s), &v) != P_OK)
        return -1;
    *ms = v;
    return 0;
}

/* A size or duration the way one writes it: 64k rather than 65536. */
static const char *human(ward_cfg_type t, uint64_t v, char *buf, size_t cap) {
    static const struct {
        uint64_t mult;
        const char *suffix;
    } size_u[] = {{UINT64_C(1) << 30, "g"}, {UINT64_C(1) << 20, "m"}, {UINT64_C(1) << 10, "k"}},
      dur_u[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    if (v && (t == WARD_CFG_SIZE || t == WARD_CFG_DURATION)) {
        int sz = t == WARD_CFG_SIZE;
        size_t n = sz ? 3 : 4;
        for (size_t i = 0; i < n; i++) {
            uint64_t m = sz ? size_u[i].mult : dur_u[i].mult;
            if (v % m == 0) {
                snprintf(buf, cap, "%" PRIu64 "%s", v / m, sz ? size_u[i].suffix : dur_u[i].suffix);
                return buf;
            }
        }
        snprintf(buf, cap, "%" PRIu64 "%s", v, sz ? "" : "ms");
        return buf;
    }
    snprintf(buf, cap, "%" PRIu64, v);
    return buf;
}

static const char *bound_text(const ward_cfg_key *k, int64_t b, char *buf, size_t cap) {
    if (k->type == WARD_CFG_INT) {
        snprintf(buf, cap, "%" PRId64, b);
        return buf;
    }
    return human(k->type, (uint64_t)b, buf, cap);
}

/* Which ends of a key's range are set (see ward_cfg_key.min). */
static void range_of(const ward_cfg_key *k, int *lo, int *hi) {
    if (k->type == WARD_CFG_INT) {
        *lo = k->min != 0 || k->max != 0;
        *hi = k->max != 0;
    } else {
        *lo = k->min > 0;
        *hi = k->max > 0;
    }
}

/* "between 1 and 64", "at least 1k", "at most 1h"; "" without a range. */
static const char *range_text(const ward_cfg_key *k, char *buf, size_t cap) {
    char a[32], b[32];
    int lo, hi;
    range_of(k, &lo, &hi);
    if (lo && hi)
        snprintf(buf, cap, "between %s and %s", bound_text(k, k->min, a, sizeof(a)),
                 bound_text(k, k->max, b, sizeof(b)));
    else if (lo)
        snprintf(buf, cap, "at least %s", bound_text(k, k->min, a, sizeof(a)));
    else if (hi)
        snprintf(buf, cap, "at most %s", bound_text(k, k->max, b, sizeof(b)));
    else
        buf[0] = 0;
    return buf;
}

static int in_range_i(const ward_cfg_key *k, int64_t v) {
    int lo, hi;
    range_of(k, &lo, &hi);
    return !(lo && v < k->min) && !(hi && v > k->max);
}

static int in_range_u(const ward_cfg_key *k, uint64_t v) {
    int lo, hi;
    range_of(k, &lo, &hi);
    return !(lo && v < (uint64_t)k->min) && !(hi && v > (uint64_t)k->max);
}

/* ---- values ---- */

static void free_value(const ward_cfg_key *k, void *obj, int depth);
static void free_table(const ward_cfg_table *t, void *obj, int depth);
static void defaults_map(loader *L, const ward_cfg_table *t, void *obj, const char *path,
                         int depth);
static void load_map(loader *L, const ward_cfg_table *t, void *obj, const ward_node *map,
                     const char *path, int line, int col, int depth);

static void free_strlist(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* A scalar's text, or NULL after reporting why n is not one. */
static const char *scalar(loader *L, const ward_cfg_key *k, const char *name, const ward_node *n,
                          int plain_only) {
    if (!n || n->type != WARD_NODE_SCALAR || (plain_only && !n->plain)) {
        type_error(L, k, name, n);
        return NULL;
    }
    if (strlen(n->str) != n->len) {
        lerr(L, n->line, n->col, "'%s' must not contain a NUL byte", name);
        return NULL;
    }
    return n->str;
}

static void load_strlist(loader *L, const ward_cfg_key *k, const char *name, const ward_node *n,
                         void *obj) {
    const ward_node *const *items = NULL;
    size_t cnt = 0;
    if (!n || n->type == WARD_NODE_NULL) {
        cnt = 0;
    } else if (n->type == WARD_NODE_SCALAR) {
        items = &n;
        cnt = 1;
    } else if (n->type == WARD_NODE_SEQ) {
        items = (const ward_node *const *)n->kids;
        cnt = n->n;
    } else {
        type_error(L, k, name, n);
        return;
    }
    char **v = NULL;
    if (cnt) {
        v = calloc(cnt, sizeof(*v)); /* calloc checks cnt * size */
        if (!v) {
            lerr(L, n->line, n->col, "out of memory");
            return;
        }
    }
    int bad = 0;
    for (size_t i = 0; i < cnt; i++) {
        char iname[PATH_LEN];
        const ward_node *it = items[i];
        if (n->type == WARD_NODE_SEQ)
            pathf(iname, sizeof(iname), "%s[%zu]", name, i);
        else
            pathf(iname, sizeof(iname), "%s", name);
        if (!it || it->type != WARD_NODE_SCALAR) {
            lerr(L, it ? it->line : n->line, it ? it->col : n->col, "'%s' must be a string, not %s",
                 iname, kind_name(it));
            bad = 1;
            continue;
        }
        if (!scalar(L, k, iname, it, 0)) {
            bad = 1;
            continue;
        }
        v[i] = strdup(it->str);
        if (!v[i]) {
            lerr(L, it->line, it->col, "out of memory");
            bad = 1;
        }
    }
    if (bad) { /* all or nothing: half a list would be read as the whole one */
        free_strlist(v, cnt);
        return;
    }
    char ***slot = SLOT(obj, k->offset, char **);
    size_t *count = SLOT(obj, k->offset2, size_t);
    free_strlist(*slot, *count);
    *slot = v;
    *count = cnt;
}

static void load_list(loader *L, const ward_cfg_key *k, const char *name, const ward_node *n,
                      void *obj, int depth) {
    const ward_cfg_table *sub = k->sub;
    size_t cnt = 0;
    if (n && n->type == WARD_NODE_SEQ) {
        cnt = n->n;
    } else if (n && n->type != WARD_NODE_NULL) {
        type_error(L, k, name, n);
        return;
    }
    if (!sub || sub->size == 0) {
        lerr(L, n ? n->line : 0, n ? n->col : 0, "configuration table: '%s' has no item table",
             name);
        return;
    }
    char *arr = NULL;
    if (cnt) {
        if (cnt > SIZE_MAX / sub->size) {
            lerr(L, n->line, n->col, "'%s' has too many items", name);
            return;
        }
        arr = calloc(cnt, sub->size);
        if (!arr) {
            lerr(L, n->line, n->col, "out of memory");
            return;
        }
    }
    char dpath[PATH_LEN];
    pathf(dpath, sizeof(dpath), "%s[]", name);
    size_t got = 0;
    for (size_t i = 0; i < cnt; i++) {
        const ward_node *it = n->kids[i];
        char ipath[PATH_LEN];
        pathf(ipath, sizeof(ipath), "%s[%zu]", name, i);
        if (!it || it->type != WARD_NODE_MAP) {
            lerr(L, it ? it->line : n->line, it ? it->col : n->col, "'%s' must be a map, not %s",
                 ipath, kind_name(it));
            continue;
        }
        void *item = arr + got * sub->size;
        got++; /* counted at once: a half-loaded item is still freed with the rest */
        int save = L->defaults;
        L->defaults = 1;
        defaults_map(L, sub, item, dpath, depth + 1);
        L->defaults = save;
        load_map(L, sub, item, it, ipath, it->line, it->col, depth + 1);
    }
    if (!got) {
        free(arr);
        arr = NULL;
    }
    free_value(k, obj, depth);
    *SLOT(obj, k->offset, void *) = arr;
    *SLOT(obj, k->offset2, size_t) = got;
}

/* Loads node n (NULL: absent, for a SECTION only) as key k of obj; name is its path. */
static void load_value(loader *L, const ward_cfg_key *k, const char *name, const ward_node *n,
                       void *obj, int depth) {
    const char *s;
    char buf[600], val[SHOW_LEN + 8];
    int line = n ? n->line : 0, col = n ? n->col : 0;

    if (depth > MAX_NEST) {
        lerr(L, line, col, "configuration table: '%s' nests more than %d tables", name, MAX_NEST);
        return;
    }
    switch (k->type) {
    case WARD_CFG_STR: {
        if (!(s = scalar(L, k, name, n, 0)))
            return;
        char *c = strdup(s);
        if (!c) {
            lerr(L, line, col, "out of memory");
            return;
        }
        char **slot = SLOT(obj, k->offset, char *);
        free(*slot);
        *slot = c;
        return;
    }
    case WARD_CFG_STRLIST:
        load_strlist(L, k, name, n, obj);
        return;
    case WARD_CFG_BOOL: {
        if (!(s = scalar(L, k, name, n, 1)))
            return;
        static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no",
                                                                               "off"};
        for (size_t i = 0; i < 3; i++) {
            if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
                *SLOT(obj, k->offset, int) = !strcasecmp(s, yes[i]);
                return;
            }
        }
        type_error(L, k, name, n);
        return;
    }
    case WARD_CFG_INT: {
        int64_t v;
        if (!(s = scalar(L, k, name, n, 1)))
            return;
        int rc = parse_int_n(s, n->len, &v);
        if (rc == P_BAD) {
            type_error(L, k, name, n);
        } else if (rc == P_BIG) {
            lerr(L, line, col, "'%s' is too large: '%s'", name, show_node(n, val, sizeof(val)));
        } else if (!in_range_i(k, v)) {
            lerr(L, line, col, "'%s' must be %s, not %s", name, range_text(k, buf, sizeof(buf)),
                 show_node(n, val, sizeof(val)));
        } else {
            *SLOT(obj, k->offset, int64_t) = v;
        }
        return;
    }
    case WARD_CFG_SIZE:
    case WARD_CFG_DURATION: {
        uint64_t v;
        if (!(s = scalar(L, k, name, n, 0)))
            return;
        int rc = k->type == WARD_CFG_SIZE ? parse_size_n(s, n->len, &v)
                                          : parse_duration_n(s, n->len, &v);
        if (rc == P_BAD) {
            type_error(L, k, name, n);
        } else if (rc == P_BIG) {
            lerr(L, line, col, "'%s' is too large: '%s'", name, show_node(n, val, sizeof(val)));
        } else if (!in_range_u(k, v)) {
            lerr(L, line, col, "'%s' must be %s, not %s", name, range_text(k, buf, sizeof(buf)),
                 show_node(n, val, sizeof(val)));
        } else {
            *SLOT(obj, k->offset, uint64_t) = v;
        }
        return;
    }
    case WARD_CFG_ENUM: {
        if (!(s = scalar(L, k, name, n, 0)))
            return;
        for (size_t i = 0; k->choices && k->choices[i]; i++) {
            if (!strcmp(s, k->choices[i])) {
                *SLOT(obj, k->offset, int) = (int)i;
                return;
            }
        }
        type_error(L, k, name, n);
        return;
    }
    case WARD_CFG_SECTION:
        if (!k->sub) {
            lerr(L, line, col, "configuration table: '%s' has no table", name);
            return;
        }
        if (n && n->type != WARD_NODE_MAP && n->type != WARD_NODE_NULL) {
            type_error(L, k, name, n);
            return;
        }
        load_map(L, k->sub, SLOT(obj, k->offset, char), n && n->type == WARD_NODE_MAP ? n : NULL,
                 name, line, col, depth + 1);
        return;
    case WARD_CFG_LIST:
        load_list(L, k, name, n, obj, depth);
        return;
    }
    lerr(L, line, col, "configuration table: '%s' has an unknown type %d", name, (int)k->type);
}

static const ward_cfg_key *find_key(const ward_cfg_table *t, const ward_node *kn) {
    for (size_t i = 0; i < t->nkeys; i++) {
        const char *nm = t->keys[i].name;
        if (nm && strlen(nm) == kn->len && !memcmp(nm, kn->str, kn->len))
            return &t->keys[i];
    }
    return NULL;
}

static void run_check(loader *L, const ward_cfg_table *t, void *obj, const char *path, int line,
                      int col) {
    ward_cfg_ctx c = {L->file, line, col, L->d, path};
    size_t before = L->d->n;
    int oom = L->d->oom;
    int rc = t->check(obj, &c);
    if (rc == 0 && L->d->n == before && L->d->oom == oom)
        return;
    L->nerr++;
    if (rc < 0 && L->d->n == before)
        ward_diags_add(L->d, L->file, line, col, NULL, "%s%sinvalid settings", path,
                       path[0] ? ": " : "");
}

/* Loads map (NULL: absent or empty, all defaults) into obj, which already holds t's
 * defaults; line, col is the map's position, or its parent's when it is absent. */
static void load_map(loader *L, const ward_cfg_table *t, void *obj, const ward_node *map,
                     const char *path, int line, int col, int depth) {
    char name[PATH_LEN], w[PATH_LEN + 8], kbuf[SHOW_LEN + 8];
    size_t before = L->nerr;

    if (depth > MAX_NEST) {
        lerr(L, line, col, "configuration table: '%s' nests more than %d tables", path, MAX_NEST);
        return;
    }
    for (size_t i = 0; map && i < map->n; i++) {
        const ward_node *kn = map->keys[i], *v = map->kids[i];
        const ward_cfg_key *k = find_key(t, kn);
        if (!k) {
            lerr(L, kn->line, kn->col, "unknown key '%s' %s", show_node(kn, kbuf, sizeof(kbuf)),
                 where(path, w, sizeof(w)));
            continue;
        }
        join(name, sizeof(name), path, k->name);
        load_value(L, k, name, v, obj, depth);
    }
    for (size_t i = 0; i < t->nkeys; i++) {
        const ward_cfg_key *k = &t->keys[i];
        if (!k->name || (map && ward_node_get(map, k->name)))
            continue;
        if (k->required) {
            lerr(L, line, col, "missing required key '%s' %s", k->name, where(path, w, sizeof(w)));
        } else if (k->type == WARD_CFG_SECTION && k->sub) {
            /* Its own required keys and check still apply. */
            join(name, sizeof(name), path, k->name);
            load_map(L, k->sub, SLOT(obj, k->offset, char), NULL, name, line, col, depth + 1);
        }
    }
    if (t->check && L->nerr == before)
        run_check(L, t, obj, path, line, col);
}

/* ---- defaults ---- */

/* Reports what is wrong with key k itself; returns -1 when it cannot be used. */
static int check_key(loader *L, const ward_cfg_key *k, const char *name) {
    int nested = k->type == WARD_CFG_SECTION || k->type == WARD_CFG_LIST;
    int ranged =
        k->type == WARD_CFG_INT || k->type == WARD_CFG_SIZE || k->type == WARD_CFG_DURATION;
    if ((unsigned)k->type > (unsigned)WARD_CFG_LIST) {
        lerr(L, 0, 0, "'%s' has an unknown type %d", name, (int)k->type);
        return -1;
    }
    if (k->type == WARD_CFG_ENUM && (!k->choices || !k->choices[0])) {
        lerr(L, 0, 0, "'%s' is an enum without choices", name);
        return -1;
    }
    if (nested && (!k->sub || !k->sub->size)) {
        lerr(L, 0, 0, "'%s' has no table", name);
        return -1;
    }
    if (nested && k->def) {
        lerr(L, 0, 0, "'%s' is a section or list and cannot have a default", name);
        return -1;
    }
    if (ranged && k->max != 0 && k->min > k->max) {
        lerr(L, 0, 0, "'%s' has min above max", name);
        return -1;
    }
    if ((k->type == WARD_CFG_SIZE || k->type == WARD_CFG_DURATION) && (k->min < 0 || k->max < 0)) {
        lerr(L, 0, 0, "'%s' has a negative bound", name);
        return -1;
    }
    return 0;
}

/* A STRLIST default "a, b,c" as a list node; items point into copy. */
static void default_strlist(loader *L, const ward_cfg_key *k, const char *name, void *obj) {
    ward_node seq, *items = NULL, **kids = NULL;
    char *copy = strdup(k->def);
    size_t cnt = 0;
    memset(&seq, 0, sizeof(seq));
    seq.type = WARD_NODE_SEQ;
    if (!copy)
        goto oom;
    if (copy[0]) {
        cnt = 1;
        for (const char *p = copy; *p; p++)
            cnt += *p == ',';
        items = calloc(cnt, sizeof(*items));
        kids = calloc(cnt, sizeof(*kids));
        if (!items || !kids)
            goto oom;
        char *p = copy;
        for (size_t i = 0; i < cnt; i++) {
            char *end = strchr(p, ',');
            if (end)
                *end = 0;
            while (*p == ' ')
                p++;
            size_t len = strlen(p);
            while (len && p[len - 1] == ' ')
                p[--len] = 0;
            items[i].type = WARD_NODE_SCALAR;
            items[i].str = p;
            items[i].len = len;
            items[i].plain = 1;
            kids[i] = &items[i];
            p = end ? end + 1 : p + len;
        }
    }
    seq.kids = kids;
    seq.n = cnt;
    load_value(L, k, name, &seq, obj, 0);
    goto done;
oom:
    lerr(L, 0, 0, "out of memory");
done:
    free(items);
    free(kids);
    free(copy);
}

static void defaults_map(loader *L, const ward_cfg_table *t, void *obj, const char *path,
                         int depth) {
    char name[PATH_LEN], ipath[PATH_LEN];
    if (depth > MAX_NEST) {
        lerr(L, 0, 0, "'%s' nests more than %d tables", path, MAX_NEST);
        return;
    }
    for (size_t i = 0; i < t->nkeys; i++) {
        const ward_cfg_key *k = &t->keys[i];
        join(name, sizeof(name), path, k->name ? k->name : "(null)");
        if (!k->name) {
            lerr(L, 0, 0, "a key of '%s' has no name", path[0] ? path : "the top level");
            continue;
        }
        if (check_key(L, k, name) < 0)
            continue;
        switch (k->type) {
        case WARD_CFG_SECTION:
            defaults_map(L, k->sub, SLOT(obj, k->offset, char), name, depth + 1);
            break;
        case WARD_CFG_LIST: {
            free_value(k, obj, depth);
            /* No item yet, but the item table's defaults are checked now, not at the first
             * file that has an item. */
            void *tmp = calloc(1, k->sub->size);
            if (!tmp) {
                lerr(L, 0, 0, "out of memory");
                break;
            }
            pathf(ipath, sizeof(ipath), "%s[]", name);
            defaults_map(L, k->sub, tmp, ipath, depth + 1);
            free_table(k->sub, tmp, depth + 1);
            free(tmp);
            break;
        }
        case WARD_CFG_STRLIST:
            if (k->def) {
                default_strlist(L, k, name, obj);
                break;
            }
            free_value(k, obj, depth);
            break;
        default:
            if (k->def) {
                ward_node n;
                memset(&n, 0, sizeof(n));
                n.type = WARD_NODE_SCALAR;
                n.str = (char *)k->def; /* only read */
                n.len = strlen(k->def);
                n.plain = 1;
                load_value(L, k, name, &n, obj, depth);
                break;
            }
            free_value(k, obj, depth);
            if (k->type == WARD_CFG_BOOL || k->type == WARD_CFG_ENUM)
                *SLOT(obj, k->offset, int) = 0;
            else if (k->type == WARD_CFG_INT)
                *SLOT(obj, k->offset, int64_t) = 0;
            else if (k->type == WARD_CFG_SIZE || k->type == WARD_CFG_DURATION)
                *SLOT(obj, k->offset, uint64_t) = 0;
            break;
        }
    }
}

int ward_cfg_defaults(const ward_cfg_table *t, void *obj, ward_diags *d) {
    loader L = {NULL, d, 0, 1};
    if (!t || !obj || !d)
        return -1;
    defaults_map(&L, t, obj, "", 0);
    return L.nerr ? -1 : 0;
}

/* ---- loading ---- */

typedef struct docs {
    loader *L;
    ward_node *root;
    size_t n;
} docs;

static int on_doc(ward_node *root, void *ctx) {
    docs *ds = ctx;
    if (ds->n++ == 0) {
        ds->root = root;
        return 0;
    }
    if (ds->n == 2) /* once is enough */
        lerr(ds->L, root ? root->line : 0, root ? root->col : 0,
             "a configuration is one YAML document, but another one starts here");
    ward_node_free(root);
    return 0;
}

static void load_buf(loader *L, const ward_cfg_table *t, void *obj, const uint8_t *buf,
                     size_t len) {
    docs ds = {L, NULL, 0};
    static const uint8_t empty[1];
    if (ward_yaml_parse(L->file, buf ? buf : empty, buf ? len : 0, on_doc, &ds, L->d) < 0)
        L->nerr++;
    const ward_node *r = ds.root;
    if (!ds.n) {
        if (!L->nerr) /* not when the reason is a YAML error, already reported */
            lerr(L, 1, 1, "the configuration is empty: the top level must be a map of keys");
    } else if (!r || r->type != WARD_NODE_MAP) {
        lerr(L, r ? r->line : 1, r ? r->col : 1, "the top level must be a map of keys, not %s",
             kind_name(r));
    } else {
        load_map(L, t, obj, r, "", r->line, r->col, 0);
    }
    ward_node_free(ds.root);
}

int ward_cfg_load_buffer(const ward_cfg_table *t, void *obj, const char *name, const uint8_t *buf,
                         size_t len, ward_diags *d) {
    if (!t || !obj || !d)
        return -1;
    int rc = ward_cfg_defaults(t, obj, d);
    loader L = {name ? name : "", d, 0, 0};
    load_buf(&L, t, obj, buf, len);
    return rc < 0 || L.nerr ? -1 : 0;
}

/* Reads a whole regular file of at most WARD_YAML_MAX_FILE bytes. Caller frees *out. */
static int read_file(loader *L, const char *path, uint8_t **out, size_t *len) {
    char err[512];
    if (ward_file_read(path, WARD_YAML_MAX_FILE, out, len, err, sizeof(err)) < 0) {
        lerr(L, 0, 0, "%s", err);
        return -1;
    }
    return 0;
}

int ward_cfg_load(const ward_cfg_table *t, void *obj, const char *path, ward_diags *d) {
    uint8_t *buf;
    size_t len;
    if (!t || !obj || !path || !d)
        return -1;
    int rc = ward_cfg_defaults(t, obj, d);
    loader L = {path, d, 0, 0};
    if (read_file(&L, path, &buf, &len) == 0) {
        load_buf(&L, t, obj, buf, len);
        free(buf);
    }
    return rc < 0 || L.nerr ? -1 : 0;
}

/* ---- freeing ---- */

static void free_value(const ward_cfg_key *k, void *obj, int depth) {
    switch (k->type) {
    case WARD_CFG_STR: {
        char **slot = SLOT(obj, k->offset, char *);
        free(*slot);
        *slot = NULL;
        break;
    }
    case WARD_CFG_STRLIST: {
        char ***slot = SLOT(obj, k->offset, char **);
        size_t *count = SLOT(obj, k->offset2, size_t);
        free_strlist(*slot, *slot ? *count : 0);
        *slot = NULL;
        *count = 0;
        break;
    }
    case WARD_CFG_SECTION:
        if (k->sub)
            free_table(k->sub, SLOT(obj, k->offset, char), depth + 1);
        break;
    case WARD_CFG_LIST: {
        char **slot = SLOT(obj, k->offset, char *);
        size_t *count = SLOT(obj, k->offset2, size_t);
        if (*slot && k->sub)
            for (size_t i = 0; i < *count; i++)
                free_table(k->sub, *slot + i * k->sub->size, depth + 1);
        free(*slot);
        *slot = NULL;
        *count = 0;
        break;
    }
    default:
        break;
    }
}

static void free_table(const ward_cfg_table *t, void *obj, int depth) {
    if (depth > MAX_NEST)
        return; /* a table that contains itself: defaults refused it already */
    for (size_t i = 0; i < t->nkeys; i++)
        free_value(&t->keys[i], obj, depth);
}

void ward_cfg_free(const ward_cfg_table *t, void *obj) {
    if (!t || !obj)
        return;
    free_table(t, obj, 0);
}

/* ---- documentation ---- */

/* Writes s as one Markdown table cell: a '|' would end the cell, a newline the row. */
static void cell(FILE *out, const char *s) {
    for (; s && *s; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else if (*s == '\n' || *s == '\r')
            fputc(' ', out);
        else
            fputc(*s, out);
    }
}

static void doc_type(FILE *out, const ward_cfg_key *k) {
    static const char *const names[] = {"string",   "string list", "bool",    "integer", "size",
                                        "duration", "enum",        "section", "list"};
    char a[32], b[32], ch[512];
    int lo, hi;
    if (k->type == WARD_CFG_ENUM) {
        fputs("one of: ", out);
        cell(out, choices_text(k, ch, sizeof(ch)));
        return;
    }
    fputs((unsigned)k->type <= (unsigned)WARD_CFG_LIST ? names[k->type] : "?", out);
    if (k->type != WARD_CFG_INT && k->type != WARD_CFG_SIZE && k->type != WARD_CFG_DURATION)
        return;
    range_of(k, &lo, &hi);
    if (lo && hi)
        fprintf(out, ", %s..%s", bound_text(k, k->min, a, sizeof(a)),
                bound_text(k, k->max, b, sizeof(b)));
    else if (lo)
        fprintf(out, ", >= %s", bound_text(k, k->min, a, sizeof(a)));
    else if (hi)
        fprintf(out, ", <= %s", bound_text(k, k->max, b, sizeof(b)));
}

static void doc_rows(const ward_cfg_table *t, FILE *out, const char *prefix, int depth) {
    char name[PATH_LEN], sub[PATH_LEN];
    if (depth > MAX_NEST)
        return;
    for (size_t i = 0; i < t->nkeys; i++) {
        const ward_cfg_key *k = &t->keys[i];
        if (!k->name)
            continue;
        join(name, sizeof(name), prefix, k->name);
        fputs("| `", out);
        cell(out, name);
        fputs("` | ", out);
        doc_type(out, k);
        fputs(" | ", out);
        if (k->required) {
            fputs("required", out);
        } else if (k->def && k->def[0]) {
            fputc('`', out);
            cell(out, k->def);
            fputc('`', out);
        } else if (k->def) {
            fputs("\"\"", out);
        }
        fputs(" | ", out);
        cell(out, k->help);
        fputs(" |\n", out);
        if (k->type == WARD_CFG_SECTION && k->sub) {
            doc_rows(k->sub, out, name, depth + 1);
        } else if (k->type == WARD_CFG_LIST && k->sub) {
            pathf(sub, sizeof(sub), "%s[]", name);
            doc_rows(k->sub, out, sub, depth + 1);
        }
    }
}

int ward_cfg_doc(const ward_cfg_table *t, FILE *out) {
    if (!t || !out)
        return -1;
    fputs("| key | type | default | meaning |\n|---|---|---|---|\n", out);
    doc_rows(t, out, "", 0);
    return ferror(out) ? -1 : 0;
}
