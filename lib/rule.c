/* Rule loading: Sigma-compatible YAML rules with ward's extensions, YARA files (handed to
 * yara.c) and site overlays. Every error is reported with file, line, column and rule
 * id, and loading goes on (next key, next document, next file) so that one run shows
 * them all; a rule with any error is left out. */
#include "ward/rule.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ward/decode.h"
#include "ward/detect.h"
#include "ward/logsource.h"
#include "ward/node.h"
#include "ward/yara.h"

#define MAX_ID_LEN 256
#define MAX_DIR_DEPTH 16
#define MAX_COUNT 1000000u
#define MAX_DURATION_S (30u * 86400u)

struct ward_extract {
    char *on;      /* the field the pattern runs on */
    char *pattern; /* as written */
    pcre2_code *re;
    char **literals; /* the author's literal hints, each checked against the pattern */
    size_t nliterals;
    uint32_t *order; /* name-table entries by group number: fields come in pattern order */
    uint32_t norder;
};

/* ---- names ---- */

static const char *const level_names[] = {"informational", "low", "medium", "high", "critical"};
static const char *const mode_names[] = {"alert", "shadow", "off"};

const char *ward_level_name(ward_level l) {
    return (unsigned)l < sizeof(level_names) / sizeof(level_names[0]) ? level_names[l] : "unknown";
}

const char *ward_mode_name(ward_mode m) {
    return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "unknown";
}

/* ---- freeing ---- */

static void strv_free(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void threshold_fini(ward_threshold *t) {
    strv_free(t->group_by, t->ngroup_by);
    free(t->distinct);
    memset(t, 0, sizeof(*t));
}

static void extract_free(struct ward_extract *x) {
    if (!x)
        return;
    free(x->on);
    free(x->pattern);
    pcre2_code_free(x->re);
    strv_free(x->literals, x->nliterals);
    free(x->order);
    free(x);
}

static void tests_free(ward_rule_test *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(t[i].line);
        for (size_t j = 0; j < t[i].nfields; j++) {
            free(t[i].fields[j].name);
            free(t[i].fields[j].value);
        }
        free(t[i].fields);
    }
    free(t);
}

void ward_rule_free(ward_rule *r) {
    if (!r)
        return;
    free(r->id);
    free(r->title);
    free(r->status);
    free(r->description);
    free(r->author);
    free(r->date);
    free(r->modified);
    strv_free(r->tags, r->ntags);
    strv_free(r->references, r->nreferences);
    strv_free(r->falsepositives, r->nfalsepositives);
    free(r->ls_product);
    free(r->ls_service);
    free(r->ls_category);
    free(r->file);
    threshold_fini(&r->threshold);
    extract_free(r->extract);
    tests_free(r->tests, r->ntests);
    ward_detect_free(r->det);
    free(r);
}

/* ---- the list ---- */

void ward_rules_init(ward_rules *rs) {
    memset(rs, 0, sizeof(*rs));
}

void ward_rules_fini(ward_rules *rs) {
    for (size_t i = 0; i < rs->n; i++)
        ward_rule_free(rs->v[i]);
    free(rs->v);
    ward_yara_free(rs->yara);
    memset(rs, 0, sizeof(*rs));
}

ward_rule *ward_rules_find(const ward_rules *rs, const char *id) {
    for (size_t i = 0; i < rs->n; i++)
        if (rs->v[i]->id && strcmp(rs->v[i]->id, id) == 0)
            return rs->v[i];
    return NULL;
}

int ward_rules_add(ward_rules *rs, ward_rule *r, ward_diags *d) {
    if (!r)
        return -1;
    if (!r->id) {
        ward_diags_add(d, r->file, r->line, 0, NULL, "rule has no id");
        goto fail;
    }
    const ward_rule *old = ward_rules_find(rs, r->id);
    if (old) {
        ward_diags_add(d, r->file, r->line, 0, r->id, "duplicate rule id '%s' (also at %s:%d)",
                       r->id, old->file ? old->file : "", old->line);
        goto fail;
    }
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 16;
        ward_rule **v = realloc(rs->v, cap * sizeof(*v));
        if (!v) {
            ward_diags_add(d, r->file, r->line, 0, r->id, "out of memory");
            goto fail;
        }
        rs->v = v;
        rs->cap = cap;
    }
    rs->v[rs->n++] = r;
    return 0;
fail:
    ward_rule_free(r);
    return -1;
}

/* ---- error reporting ---- */

typedef struct loadctx {
    ward_rules *rs;
    ward_diags *d;
    const char *file;
    int failed; /* some error was reported */
} loadctx;

/* What one document is being checked for: its id (for messages) and its verdict. */
typedef struct rctx {
    loadctx *lc;
    const char *id;
    int bad;
    const ward_node *logsource; /* the rule's logsource and detection maps, once seen */
    const ward_node *detection;
} rctx;

static void rerr(rctx *c, const ward_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rerr(rctx *c, const ward_node *at, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->bad = 1;
    c->lc->failed = 1;
    ward_diags_add(c->lc->d, c->lc->file, at ? at->line : 0, at ? at->col : 0, c->id, "%s", msg);
}

static void oom(rctx *c, const ward_node *at) {
    rerr(c, at, "out of memory");
}

/* How a node is called in messages. */
static const char *kind(const ward_node *n) {
    if (!n || n->type == WARD_NODE_NULL)
        return "empty";
    if (n->type == WARD_NODE_SEQ)
        return "a list";
    if (n->type == WARD_NODE_MAP)
        return "a map";
    return "a string";
}

/* A short, printable quote of a scalar for messages. */
static int qlen(const ward_node *n) {
    size_t l = n->len > 60 ? 60 : n->len;
    const char *z = memchr(n->str, 0, l);
    return (int)(z ? (size_t)(z - n->str) : l);
}

/* ---- scalar helpers ---- */

static int is_scalar(const ward_node *n) {
    return n && n->type == WARD_NODE_SCALAR;
}

static int key_is(const ward_node *k, const char *s) {
    size_t l = strlen(s);
    return k->len == l && memcmp(k->str, s, l) == 0;
}

/* Copies a scalar into *out. NULL values leave *out NULL unless required. */
static int get_str(rctx *c, const char *what, const ward_node *v, int required, char **out) {
    if (!v || v->type == WARD_NODE_NULL) {
        if (required) {
            rerr(c, v, "'%s' must not be empty", what);
            return -1;
        }
        return 0;
    }
    if (v->type != WARD_NODE_SCALAR) {
        rerr(c, v, "'%s' must be a string, not %s", what, kind(v));
        return -1;
    }
    if (required && v->len == 0) {
        rerr(c, v, "'%s' must not be empty", what);
        return -1;
    }
    free(*out);
    *out = strndup(v->str, v->len);
    if (!*out) {
        oom(c, v);
        return -1;
    }
    return 0;
}

static int strv_push(char ***v, size_t *n, const char *s, size_t len) {
    char **nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    *v = nv;
    nv[*n] = strndup(s, len);
    if (!nv[*n])
        return -1;
    (*n)++;
    return 0;
}

/* A list of strings (or, with allow_one, one string). */
static int get_strv(rctx *c, const char *what, const ward_node *v, int allow_one, char ***out,
                    size_t *nout) {
    strv_free(*out, *nout);
    *out = NULL;
    *nout = 0;
    if (!v || v->type == WARD_NODE_NULL)
        return 0;
    if (v->type == WARD_NODE_SCALAR && allow_one) {
        if (strv_push(out, nout, v->str, v->len) < 0) {
            oom(c, v);
            return -1;
        }
        return 0;
    }
    if (v->type != WARD_NODE_SEQ) {
        rerr(c, v, "'%s' must be a list of strings, not %s", what, kind(v));
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < v->n; i++) {
        const ward_node *it = v->kids[i];
        if (!is_scalar(it)) {
            rerr(c, it, "'%s' items must be strings, not %s", what, kind(it));
            rc = -1;
            continue;
        }
        if (strv_push(out, nout, it->str, it->len) < 0) {
            oom(c, it);
            return -1;
        }
    }
    return rc;
}

/* A non-negative decimal integer, plain or quoted, at most max. */
static int parse_uint(const ward_node *n, uint64_t max, uint64_t *out) {
    if (!is_scalar(n) || n->len == 0 || n->len > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n->len; i++) {
        unsigned dg = (unsigned)(unsigned char)n->str[i] - '0';
        if (dg > 9 || v > (UINT64_MAX - dg) / 10)
            return -1;
        v = v * 10 + dg;
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* A duration: integer seconds, or an integer followed by s, m, h or d. Returns 0, -1 when
 * malformed, -2 when over max. */
static int parse_duration(const ward_node *n, uint32_t max, uint32_t *out) {
    if (!is_scalar(n) || n->len == 0 || n->len > 20)
        return -1;
    uint64_t v = 0, unit = 1;
    size_t i = 0;
    for (; i < n->len && n->str[i] >= '0' && n->str[i] <= '9'; i++) {
        v = v * 10 + (uint64_t)(n->str[i] - '0');
        if (v > UINT32_MAX)
            return -2;
    }
    if (i == 0)
        return -1;
    if (i < n->len) {
        if (i + 1 != n->len)
            return -1;
        switch (n->str[i]) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        default:
            return -1;
        }
    }
    v *= unit; /* v <= 2^32 and unit <= 86400: no overflow in 64 bits */
    if (v > max)
        return -2;
    *out = (uint32_t)v;
    return 0;
}

/* Looks s up in names (n of them); returns its index or -1. */
static int lookup(const ward_node *v, const char *const *names, int n) {
    if (!is_scalar(v))
        return -1;
    for (int i = 0; i < n; i++)
        if (key_is(v, names[i]))
            return i;
    return -1;
}

static void list_names(char *buf, size_t len, const char *const *names, int n) {
    size_t off = 0;
    buf[0] = 0;
    for (int i = 0; i < n && off < len; i++) {
        int w = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}

/* Reports a value that is not one of names. */
static void bad_choice(rctx *c, const char *what, const ward_node *v, const char *const *names,
                       int n) {
    char list[256];
    list_names(list, sizeof(list), names, n);
    if (is_scalar(v))
        rerr(c, v, "%s must be one of %s (got '%.*s')", what, list, qlen(v), v->str);
    else
        rerr(c, v, "%s must be one of %s, not %s", what, list, kind(v));
}

static int valid_id(const ward_node *v) {
    if (!is_scalar(v) || v->len == 0 || v->len > MAX_ID_LEN)
        return 0;
    for (size_t i = 0; i < v->len; i++) {
        unsigned char ch = (unsigned char)v->str[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == ':' || ch == '-'))
            return 0;
    }
    return 1;
}

/* ---- threshold ---- */

static void parse_count(rctx *c, const ward_node *v, ward_threshold *t) {
    uint64_t n;
    if (parse_uint(v, MAX_COUNT, &n) < 0 || n < 1) {
        if (is_scalar(v))
            rerr(c, v, "threshold.count must be an integer from 1 to %u (got '%.*s')", MAX_COUNT,
                 qlen(v), v->str);
        else
            rerr(c, v, "threshold.count must be an integer from 1 to %u, not %s", MAX_COUNT,
                 kind(v));
        return;
    }
    t->count = (uint32_t)n;
}

static void parse_dur_key(rctx *c, const char *what, const ward_node *v, uint32_t min,
                          uint32_t *out) {
    uint32_t s = 0;
    int rc = parse_duration(v, MAX_DURATION_S, &s);
    if (rc == -1) {
        if (is_scalar(v))
            rerr(c, v,
                 "threshold.%s: bad duration '%.*s' (seconds, or a number followed by s, m, "
                 "h or d)",
                 what, qlen(v), v->str);
        else
            rerr(c, v, "threshold.%s must be a duration, not %s", what, kind(v));
        return;
    }
    if (rc == -2 || s < min) {
        rerr(c, v, "threshold.%s must be from %us to 30d (got '%.*s')", what, min, qlen(v), v->str);
        return;
    }
    *out = s;
}

/* Parses a threshold map into t (zeroed first). Errors go through c. */
static void parse_threshold(rctx *c, const ward_node *v, ward_threshold *t) {
    threshold_fini(t);
    if (!v || v->type != WARD_NODE_MAP) {
        rerr(c, v,
             "'threshold' must be a map (count, within, group_by, distinct, suppress), "
             "not %s",
             kind(v));
        return;
    }
    int bad = c->bad;
    c->bad = 0;
    const ward_node *count = NULL, *within = NULL;
    for (size_t i = 0; i < v->n; i++) {
        const ward_node *k = v->keys[i], *x = v->kids[i];
        if (key_is(k, "count")) {
            count = k;
            parse_count(c, x, t);
        } else if (key_is(k, "within")) {
            within = k;
            parse_dur_key(c, "within", x, 1, &t->within_s);
        } else if (key_is(k, "suppress")) {
            parse_dur_key(c, "suppress", x, 0, &t->suppress_s);
        } else if (key_is(k, "group_by")) {
            get_strv(c, "threshold.group_by", x, 1, &t->group_by, &t->ngroup_by);
            if (t->ngroup_by > WARD_THRESHOLD_MAX_GROUP_BY)
                rerr(c, x, "threshold.group_by has %zu fields, over the limit of %d", t->ngroup_by,
                     WARD_THRESHOLD_MAX_GROUP_BY);
        } else if (key_is(k, "distinct")) {
            get_str(c, "threshold.distinct", x, 1, &t->distinct);
        } else {
            rerr(c, k, "unknown key 'threshold.%.*s'", qlen(k), k->str);
        }
    }
    if (!count)
        rerr(c, v, "threshold needs 'count'");
    if (!within)
        rerr(c, v, "threshold needs 'within'");
    t->set = !c->bad;
    c->bad |= bad;
}

static int threshold_copy(ward_threshold *dst, const ward_threshold *src) {
    memset(dst, 0, sizeof(*dst));
    *dst = *src;
    dst->group_by = NULL;
    dst->ngroup_by = 0;
    dst->distinct = NULL;
    for (size_t i = 0; i < src->ngroup_by; i++)
        if (strv_push(&dst->group_by, &dst->ngroup_by, src->group_by[i], strlen(src->group_by[i])) <
            0)
            goto fail;
    if (src->distinct && !(dst->distinct = strdup(src->distinct)))
        goto fail;
    return 0;
fail:
    threshold_fini(dst);
    return -1;
}

/* ---- extract ---- */

/* PCRE2's name table is sorted by name; alerts list fields in the order the pattern
 * names them, so the entries are sorted by group number once, here. Returns 0 or -1. */
static int extract_order(struct ward_extract *x, uint32_t names) {
    uint32_t size = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(x->re, PCRE2_INFO_NAMEENTRYSIZE, &size);
    pcre2_pattern_info(x->re, PCRE2_INFO_NAMETABLE, &table);
    x->order = malloc((size_t)names * sizeof(*x->order));
    if (!x->order)
        return -1;
    for (uint32_t i = 0; i < names; i++) {
        PCRE2_SPTR e = table + (size_t)i * size;
        uint32_t grp = ((uint32_t)e[0] << 8) | e[1];
        uint32_t j = i;
        while (j > 0) {
            PCRE2_SPTR p = table + (size_t)x->order[j - 1] * size;
            if ((((uint32_t)p[0] << 8) | p[1]) <= grp)
                break;
            x->order[j] = x->order[j - 1];
            j--;
        }
        x->order[j] = i;
    }
    x->norder = names;
    return 0;
}

/* The names of re's name table (names entries), a name that (?J) gives to several
 * groups counted once: the table is sorted by name, so repeats are next to each other. */
static uint32_t distinct_names(const pcre2_code *re, uint32_t names) {
    uint32_t size = 0, n = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(re, PCRE2_INFO_NAMEENTRYSIZE, &size);
    pcre2_pattern_info(re, PCRE2_INFO_NAMETABLE, &table);
    for (uint32_t i = 0; i < names; i++)
        n += i == 0 || strcmp((const char *)table + (size_t)i * size + 2,
                              (const char *)table + (size_t)(i - 1) * size + 2) != 0;
    return n;
}

static void check_literal_hints(rctx *c, struct ward_extract *x, const ward_node *pat,
                                const ward_node *lits) {
    if (!lits || lits->type == WARD_NODE_NULL)
        return;
    if (lits->type != WARD_NODE_SEQ) {
        rerr(c, lits, "'extract.literals' must be a list of strings, not %s", kind(lits));
        return;
    }
    ward_relit rl;
    memset(&rl, 0, sizeof(rl));
    char err[256] = "";
    int have = ward_relit_extract(pat->str, pat->len, 0, &rl, err, sizeof(err)) == 0;
    for (size_t i = 0; i < lits->n; i++) {
        const ward_node *l = lits->kids[i];
        if (!is_scalar(l) || l->len == 0) {
            rerr(c, l, "'extract.literals' items must be non-empty strings, not %s", kind(l));
            continue;
        }
        if (!have) {
            rerr(c, l, "extract literal '%.*s' cannot be checked: %s", qlen(l), l->str, err);
            continue;
        }
        if (!ward_relit_requires(&rl, (const uint8_t *)l->str, l->len)) {
            rerr(c, l, "extract literal '%.*s' is not required by the pattern", qlen(l), l->str);
            continue;
        }
        if (strv_push(&x->literals, &x->nliterals, l->str, l->len) < 0)
            oom(c, l);
    }
    ward_relit_fini(&rl);
}

static void parse_extract(rctx *c, ward_rule *r, const ward_node *v) {
    if (!v || v->type != WARD_NODE_MAP) {
        rerr(c, v, "'extract' must be a map (on, pcre2, literals), not %s", kind(v));
        return;
    }
    struct ward_extract *x = calloc(1, sizeof(*x));
    if (!x) {
        oom(c, v);
        return;
    }
    const ward_node *pat = NULL, *lits = NULL;
    int has_on = 0;
    for (size_t i = 0; i < v->n; i++) {
        const ward_node *k = v->keys[i], *val = v->kids[i];
        if (key_is(k, "on")) {
            has_on = 1;
            get_str(c, "extract.on", val, 1, &x->on);
        } else if (key_is(k, "pcre2")) {
            pat = val;
        } else if (key_is(k, "literals")) {
            lits = val;
        } else {
            rerr(c, k, "unknown key 'extract.%.*s'", qlen(k), k->str);
        }
    }
    if (!has_on)
        rerr(c, v, "extract needs 'on: FIELD'");
    if (!pat) {
        rerr(c, v, "extract needs 'pcre2: PATTERN'");
    } else if (!is_scalar(pat) || pat->len == 0) {
        rerr(c, pat, "'extract.pcre2' must be a non-empty string, not %s", kind(pat));
    } else {
        char err[256];
        x->pattern = strndup(pat->str, pat->len);
        x->re = ward_re_compile(pat->str, pat->len, 0, err, sizeof(err));
        if (!x->pattern) {
            oom(c, pat);
        } else if (!x->re) {
            rerr(c, pat, "extract.pcre2: %s", err);
        } else {
            uint32_t names = 0;
            pcre2_pattern_info(x->re, PCRE2_INFO_NAMECOUNT, &names);
            uint32_t distinct = distinct_names(x->re, names);
            if (names == 0)
                rerr(c, pat,
                     "extract.pcre2 has no named group (?<name>...): it would extract "
                     "nothing");
            else if (distinct > WARD_EXTRACT_MAX)
                rerr(c, pat, "extract.pcre2 has %u group names, over the limit of %d", distinct,
                     WARD_EXTRACT_MAX);
            else if (extract_order(x, names) < 0)
                oom(c, pat);
            check_literal_hints(c, x, pat, lits);
        }
    }
    extract_free(r->extract);
    r->extract = x;
}

/* ---- tests ---- */

static ward_rule_test *test_push(rctx *c, ward_rule *r, const ward_node *at) {
    ward_rule_test *v = realloc(r->tests, (r->ntests + 1) * sizeof(*v));
    if (!v) {
        oom(c, at);
        return NULL;
    }
    r->tests = v;
    ward_rule_test *t = &v[r->ntests++];
    memset(t, 0, sizeof(*t));
    t->src_line = at->line;
    t->src_col = at->col;
    return t;
}

static int test_set_line(rctx *c, ward_rule_test *t, const ward_node *v) {
    t->line = malloc(v->len + 1);
    if (!t->line) {
        oom(c, v);
        return -1;
    }
    memcpy(t->line, v->str, v->len);
    t->line[v->len] = 0;
    t->line_len = v->len;
    return 0;
}

static void parse_test_fields(rctx *c, ward_rule_test *t, const ward_node *f) {
    if (!f || f->type != WARD_NODE_MAP) {
        rerr(c, f, "'fields' of a test must be a map of field: value, not %s", kind(f));
        return;
    }
    t->fields = calloc(f->n ? f->n : 1, sizeof(*t->fields));
    if (!t->fields) {
        oom(c, f);
        return;
    }
    for (size_t i = 0; i < f->n; i++) {
        const ward_node *k = f->keys[i], *v = f->kids[i];
        if (!is_scalar(v)) {
            rerr(c, v ? v : k, "test field '%.*s' must have a string value, not %s", qlen(k),
                 k->str, kind(v));
            continue;
        }
        ward_test_field *tf = &t->fields[t->nfields];
        tf->name = strndup(k->str, k->len);
        tf->value = strndup(v->str, v->len);
        t->nfields++;
        if (!tf->name || !tf->value)
            oom(c, v);
    }
}

static void parse_test_list(rctx *c, ward_rule *r, const ward_node *list, int match) {
    const char *what = match ? "tests.match" : "tests.no_match";
    if (!list || list->type != WARD_NODE_SEQ) {
        rerr(c, list, "'%s' must be a list of sample lines, not %s", what, kind(list));
        return;
    }
    for (size_t i = 0; i < list->n; i++) {
        const ward_node *it = list->kids[i];
        if (is_scalar(it)) {
            ward_rule_test *t = test_push(c, r, it);
            if (!t)
                return;
            t->expect_match = match;
            test_set_line(c, t, it);
            continue;
        }
        if (!match || !it || it->type != WARD_NODE_MAP) {
            rerr(c, it, "'%s' items must be %s, not %s", what,
                 match ? "sample lines or maps {line, fields}" : "sample lines", kind(it));
            continue;
        }
        const ward_node *line = NULL, *fields = NULL;
        int ok = 1;
        for (size_t j = 0; j < it->n; j++) {
            const ward_node *k = it->keys[j];
            if (key_is(k, "line")) {
                line = it->kids[j];
            } else if (key_is(k, "fields")) {
                fields = it->kids[j];
                if (!fields)
                    fields = k;
            } else {
                rerr(c, k, "unknown key '%.*s' in a test (expected line, fields)", qlen(k), k->str);
                ok = 0;
            }
        }
        if (!line || !is_scalar(line)) {
            rerr(c, line ? line : it, "a test needs 'line: SAMPLE' (a string)");
            continue;
        }
        if (!ok)
            continue;
        ward_rule_test *t = test_push(c, r, line);
        if (!t)
            return;
        t->expect_match = 1;
        if (test_set_line(c, t, line) < 0)
            return;
        if (fields)
            parse_test_fields(c, t, fields);
    }
}

static void parse_tests(rctx *c, ward_rule *r, const ward_node *v) {
    if (!v || v->type != WARD_NODE_MAP) {
        rerr(c, v, "'tests' must be a map (match, no_match), not %s", kind(v));
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        const ward_node *k = v->keys[i], *x = v->kids[i];
        if (key_is(k, "match"))
            parse_test_list(c, r, x ? x : k, 1);
        else if (key_is(k, "no_match"))
            parse_test_list(c, r, x ? x : k, 0);
        else
            rerr(c, k, "unknown key 'tests.%.*s' (expected match, no_match)", qlen(k), k->str);
    }
}

/* ---- the other rule keys ---- */

static void parse_logsource(rctx *c, ward_rule *r, const ward_node *v) {
    if (!v || v->type == WARD_NODE_NULL)
        return;
    if (v->type != WARD_NODE_MAP) {
        rerr(c, v, "'logsource' must be a map (product, service, category, definition), not %s",
             kind(v));
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        const ward_node *k = v->keys[i], *x = v->kids[i];
        if (key_is(k, "product")) {
            get_str(c, "logsource.product", x, 0, &r->ls_product);
        } else if (key_is(k, "service")) {
            get_str(c, "logsource.service", x, 0, &r->ls_service);
        } else if (key_is(k, "category")) {
            get_str(c, "logsource.category", x, 0, &r->ls_category);
        } else if (key_is(k, "definition")) {
            if (x && x->type != WARD_NODE_SCALAR && x->type != WARD_NODE_NULL)
                rerr(c, x, "'logsource.definition' must be a string, not %s", kind(x));
        } else {
            rerr(c, k,
                 "unknown key 'logsource.%.*s' (expected product, service, category, "
                 "definition)",
                 qlen(k), k->str);
        }
    }
}

static const char *const related_types[] = {"derived", "obsolete", "merged", "renamed", "similar"};

static void parse_related(rctx *c, const ward_node *v) {
    if (!v || v->type == WARD_NODE_NULL)
        return;
    if (v->type != WARD_NODE_SEQ) {
        rerr(c, v, "'related' must be a list of {id, type}, not %s", kind(v));
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        const ward_node *it = v->kids[i];
        if (!it || it->type != WARD_NODE_MAP) {
            rerr(c, it, "'related' items must be maps {id, type}, not %s", kind(it));
            continue;
        }
        const ward_node *id = NULL, *type = NULL;
        for (size_t j = 0; j < it->n; j++) {
            const ward_node *k = it->keys[j];
            if (key_is(k, "id"))
                id = it->kids[j] ? it->kids[j] : k;
            else if (key_is(k, "type"))
                type = it->kids[j] ? it->kids[j] : k;
            else
                rerr(c, k, "unknown key 'related.%.*s' (expected id, type)", qlen(k), k->str);
        }
        if (!id || !is_scalar(id))
            rerr(c, id ? id : it, "a 'related' item needs 'id'");
        if (!type)
            rerr(c, it, "a 'related' item needs 'type'");
        else if (lookup(type, related_types, 5) < 0)
            bad_choice(c, "related.type", type, related_types, 5);
    }
}

static const char *const status_names[] = {"stable", "test", "experimental", "deprecated",
                                           "unsupported"};

/* Top-level keys of a rule. */
enum rkey {
    K_TITLE,
    K_ID,
    K_STATUS,
    K_DESCRIPTION,
    K_REFERENCES,
    K_AUTHOR,
    K_DATE,
    K_MODIFIED,
    K_TAGS,
    K_LEVEL,
    K_FALSEPOSITIVES,
    K_RELATED,
    K_LOGSOURCE,
    K_DETECTION,
    K_IGNORED,
    K_REV,
    K_MODE,
    K_DECODER,
    K_EXTRACT,
    K_THRESHOLD,
    K_TESTS
};

static const struct {
    const char *name;
    enum rkey key;
} rule_keys[] = {
    {"title", K_TITLE},
    {"id", K_ID},
    {"status", K_STATUS},
    {"description", K_DESCRIPTION},
    {"references", K_REFERENCES},
    {"author", K_AUTHOR},
    {"date", K_DATE},
    {"modified", K_MODIFIED},
    {"tags", K_TAGS},
    {"level", K_LEVEL},
    {"falsepositives", K_FALSEPOSITIVES},
    {"related", K_RELATED},
    {"logsource", K_LOGSOURCE},
    {"detection", K_DETECTION},
    /* Sigma keys ward has no use for (they occur in SigmaHQ rules). */
    {"license", K_IGNORED},
    {"fields", K_IGNORED},
    {"name", K_IGNORED},
    {"taxonomy", K_IGNORED},
    {"scope", K_IGNORED},
    {"simulation", K_IGNORED},
    /* ward's extensions */
    {"rev", K_REV},
    {"mode", K_MODE},
    {"decoder", K_DECODER},
    {"extract", K_EXTRACT},
    {"threshold", K_THRESHOLD},
    {"tests", K_TESTS},
};

/* Sigma documents ward does not run, each with the reason given. */
static const struct {
    const char *key;
    const char *why;
} unsupported[] = {
    {"correlation", "Sigma correlation rules are not supported"},
    {"action", "Sigma rule collections ('action: global/reset/repeat') are not supported; "
               "write each rule out in full"},
    {"filter", "Sigma filter documents are only supported in overlay files "
               "(ward_rules_load_overlay)"},
};

static void rule_key(rctx *c, ward_rule *r, const ward_node *k, const ward_node *v, int *seen) {
    enum rkey key = K_IGNORED;
    size_t i;
    for (i = 0; i < sizeof(rule_keys) / sizeof(rule_keys[0]); i++)
        if (key_is(k, rule_keys[i].name))
            break;
    if (i == sizeof(rule_keys) / sizeof(rule_keys[0])) {
        rerr(c, k, "unknown key '%.*s'", qlen(k), k->str);
        return;
    }
    key = rule_keys[i].key;
    seen[key] = 1;
    const ward_node *at = v ? v : k; /* where to point at an empty value */
    switch (key) {
    case K_TITLE:
        get_str(c, "title", at, 1, &r->title);
        break;
    case K_ID:
        if (!valid_id(v)) {
            if (is_scalar(v))
                rerr(c, v, "id '%.*s' must be 1 to %d characters of A-Z a-z 0-9 _ . : -", qlen(v),
                     v->str, MAX_ID_LEN);
            else
                rerr(c, at, "'id' must be a string, not %s", kind(v));
            break;
        }
        get_str(c, "id", v, 1, &r->id);
        break;
    case K_STATUS:
        if (!v)
            break;
        if (lookup(v, status_names, 5) < 0)
            bad_choice(c, "status", v, status_names, 5);
        else
            get_str(c, "status", v, 0, &r->status);
        break;
    case K_DESCRIPTION:
        get_str(c, "description", v, 0, &r->description);
        break;
    case K_AUTHOR:
        get_str(c, "author", v, 0, &r->author);
        break;
    case K_DATE:
        get_str(c, "date", v, 0, &r->date);
        break;
    case K_MODIFIED:
        get_str(c, "modified", v, 0, &r->modified);
        break;
    case K_REFERENCES:
        get_strv(c, "references", v, 0, &r->references, &r->nreferences);
        break;
    case K_TAGS:
        get_strv(c, "tags", v, 0, &r->tags, &r->ntags);
        break;
    case K_FALSEPOSITIVES:
        get_strv(c, "falsepositives", v, 1, &r->falsepositives, &r->nfalsepositives);
        break;
    case K_LEVEL: {
        int l = lookup(v, level_names, 5);
        if (l < 0) {
            bad_choice(c, "level", at, level_names, 5);
            seen[K_LEVEL] = 2; /* present but bad: not also "missing" */
        } else {
            r->level = (ward_level)l;
        }
        break;
    }
    case K_MODE: {
        int m = lookup(v, mode_names, 3);
        if (m < 0)
            bad_choice(c, "mode", at, mode_names, 3);
        else
            r->mode = (ward_mode)m;
        break;
    }
    case K_DECODER: {
        ward_decoder dec;
        char name[64];
        if (!is_scalar(v) || v->len >= sizeof(name)) {
            rerr(c, at,
                 "'decoder' must be a decoder name (raw, syslog, combined_access, json, "
                 "kv), not %s",
                 is_scalar(v) ? "a long string" : kind(v));
            break;
        }
        memcpy(name, v->str, v->len);
        name[v->len] = 0;
        if (ward_decoder_lookup(name, &dec) < 0)
            rerr(c, v,
                 "unknown decoder '%s' (expected raw, syslog, combined_access, json, kv, auto "
                 "or fail2ban)",
                 name);
        else
            r->decoder = (int)dec;
        break;
    }
    case K_REV: {
        uint64_t n;
        if (parse_uint(v, UINT_MAX, &n) < 0) {
            if (is_scalar(v))
                rerr(c, v, "rev must be a non-negative integer (got '%.*s')", qlen(v), v->str);
            else
                rerr(c, at, "rev must be a non-negative integer, not %s", kind(v));
        } else {
            r->rev = (unsigned)n;
        }
        break;
    }
    case K_RELATED:
        parse_related(c, v);
        break;
    case K_LOGSOURCE:
        c->logsource = at;
        parse_logsource(c, r, v);
        break;
    case K_EXTRACT:
        parse_extract(c, r, at);
        break;
    case K_THRESHOLD:
        parse_threshold(c, at, &r->threshold);
        break;
    case K_TESTS:
        parse_tests(c, r, at);
        break;
    case K_DETECTION:
        if (!v || v->type != WARD_NODE_MAP) {
            rerr(c, at, "'detection' must be a map of selections and a condition, not %s", kind(v));
            break;
        }
        c->detection = v; /* compiled once the logsource is known: see compile_detection */
        break;
    case K_IGNORED:
        break;
    }
}

/* Compiles the detection with its log source's field renamings, or refuses a rule for a
 * source ward cannot read. A rule with ward's 'decoder' key names that decoder's fields
 * itself: it is not renamed. */
static void compile_detection(rctx *c, ward_rule *r) {
    const ward_logsource *ls = ward_logsource_find(r->ls_product, r->ls_service, r->ls_category);
    const char *why = ward_logsource_refusal(ls);
    if (why) {
        char src[256];
        ward_logsource_format(r->ls_product, r->ls_service, r->ls_category, src, sizeof(src));
        rerr(c, c->logsource, "log source %s: %s", src, why);
        return;
    }
    if (!c->detection)
        return;
    size_t nmap = 0;
    const ward_fieldmap *map = r->decoder >= 0 ? NULL : ward_logsource_map(ls, &nmap);
    r->det = ward_detect_compile_mapped(c->detection, map, nmap, c->lc->file, c->id, c->lc->d);
    if (!r->det) {
        c->bad = 1;
        c->lc->failed = 1;
    }
}

/* Checks one YAML document as a rule and adds it when it has no error. Takes root. */
static int rule_doc(ward_node *root, void *ctx) {
    loadctx *lc = ctx;
    rctx c = {lc, NULL, 0, NULL, NULL};
    ward_rule *r = NULL;
    if (!root || root->type == WARD_NODE_NULL)
        goto done; /* an empty document, e.g. after a trailing '---' */
    if (root->type != WARD_NODE_MAP) {
        rerr(&c, root, "a rule must be a YAML map, not %s", kind(root));
        goto done;
    }
    const ward_node *idn = ward_node_get(root, "id");
    if (valid_id(idn))
        c.id = idn->str;

    int refused = 0;
    for (size_t i = 0; i < root->n; i++)
        for (size_t j = 0; j < sizeof(unsupported) / sizeof(unsupported[0]); j++)
            if (key_is(root->keys[i], unsupported[j].key)) {
                rerr(&c, root->keys[i], "%s", unsupported[j].why);
                refused = 1;
            }
    if (refused)
        goto done;

    r = calloc(1, sizeof(*r));
    if (!r || !(r->file = strdup(lc->file))) {
        oom(&c, root);
        goto done;
    }
    r->line = root->line;
    r->mode = WARD_MODE_ALERT;
    r->decoder = -1;
    r->yara_index = -1;

    int seen[K_TESTS + 1] = {0};
    for (size_t i = 0; i < root->n; i++)
        rule_key(&c, r, root->keys[i], root->kids[i], seen);
    compile_detection(&c, r);
    static const struct {
        enum rkey key;
        const char *name;
    } required[] = {
        {K_TITLE, "title"}, {K_ID, "id"}, {K_LEVEL, "level"}, {K_DETECTION, "detection"}};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!seen[required[i].key])
            rerr(&c, root, "missing required key '%s'", required[i].name);
    if (c.bad)
        goto done;
    if (ward_rules_add(lc->rs, r, lc->d) < 0)
        lc->failed = 1;
    r = NULL;
done:
    ward_rule_free(r);
    ward_node_free(root);
    return 0;
}

/* ---- overlays ---- */

/* A map node borrowing src's entries except the key skip; free only its arrays. */
static int map_without(const ward_node *src, const char *skip, ward_node *out) {
    *out = *src;
    out->n = 0;
    out->keys = calloc(src->n ? src->n : 1, sizeof(*out->keys));
    out->kids = calloc(src->n ? src->n : 1, sizeof(*out->kids));
    if (!out->keys || !out->kids) {
        free(out->keys);
        free(out->kids);
        return -1;
    }
    for (size_t i = 0; i < src->n; i++) {
        if (key_is(src->keys[i], skip))
            continue;
        out->keys[out->n] = src->keys[i];
        out->kids[out->n] = src->kids[i];
        out->n++;
    }
    return 0;
}

typedef struct overlay {
    ward_rule **targets;
    size_t ntargets;
    int level, mode;          /* -1 when not given */
    ward_threshold threshold; /* .set when given */
    const ward_node *filter;  /* the map for ward_detect_add_filter, or NULL */
    ward_node filter_copy;    /* for a Sigma filter: its map without 'rules' */
    int has_filter_copy;
} overlay;

static void overlay_fini(overlay *o) {
    free(o->targets);
    threshold_fini(&o->threshold);
    if (o->has_filter_copy) {
        free(o->filter_copy.keys);
        free(o->filter_copy.kids);
    }
}

static void add_target(rctx *c, overlay *o, const ward_node *idn) {
    if (!is_scalar(idn)) {
        rerr(c, idn, "rule ids in an overlay must be strings, not %s", kind(idn));
        return;
    }
    ward_rule *r = memchr(idn->str, 0, idn->len) ? NULL : ward_rules_find(c->lc->rs, idn->str);
    if (!r) {
        const char *save = c->id;
        c->id = memchr(idn->str, 0, idn->len) ? NULL : idn->str;
        rerr(c, idn, "overlay names unknown rule id '%.*s'", qlen(idn), idn->str);
        c->id = save;
        return;
    }
    ward_rule **v = realloc(o->targets, (o->ntargets + 1) * sizeof(*v));
    if (!v) {
        oom(c, idn);
        return;
    }
    o->targets = v;
    v[o->ntargets++] = r;
}

static void parse_targets(rctx *c, overlay *o, const ward_node *v, const char *what) {
    if (is_scalar(v)) {
        add_target(c, o, v);
    } else if (v && v->type == WARD_NODE_SEQ && v->n > 0) {
        for (size_t i = 0; i < v->n; i++)
            add_target(c, o, v->kids[i]);
    } else {
        rerr(c, v, "'%s' must be a rule id or a non-empty list of rule ids, not %s", what, kind(v));
    }
    if (o->ntargets == 1)
        c->id = o->targets[0]->id;
}

/* Applies a checked overlay to its targets. */
static void overlay_apply(rctx *c, overlay *o, const ward_node *at) {
    if (o->filter) {
        for (size_t i = 0; i < o->ntargets; i++) {
            ward_rule *r = o->targets[i];
            if (ward_detect_add_filter(r->det, o->filter, c->lc->file, r->id, c->lc->d) < 0) {
                /* The same filter would fail the same way on the other targets. */
                c->bad = 1;
                c->lc->failed = 1;
                return;
            }
        }
    }
    for (size_t i = 0; i < o->ntargets; i++) {
        ward_rule *r = o->targets[i];
        if (o->level >= 0)
            r->level = (ward_level)o->level;
        if (o->mode >= 0)
            r->mode = (ward_mode)o->mode;
        if (o->threshold.set) {
            ward_threshold t;
            if (threshold_copy(&t, &o->threshold) < 0) {
                oom(c, at);
                return;
            }
            threshold_fini(&r->threshold);
            r->threshold = t;
        }
    }
}

static void check_filter_targets(rctx *c, overlay *o, const ward_node *at) {
    for (size_t i = 0; i < o->ntargets; i++)
        if (!o->targets[i]->det) {
            const char *save = c->id;
            c->id = o->targets[i]->id;
            rerr(c, at, "rule '%s' is a YARA rule: it has no detection a filter could apply to",
                 o->targets[i]->id);
            c->id = save;
        }
}

/* overlay: {rule|rules, level, mode, threshold, filter} */
static void parse_overlay_map(rctx *c, overlay *o, const ward_node *v) {
    if (!v || v->type != WARD_NODE_MAP) {
        rerr(c, v,
             "'overlay' must be a map (rule or rules, level, mode, threshold, filter), "
             "not %s",
             kind(v));
        return;
    }
    const ward_node *targets = NULL, *filter_key = NULL;
    /* Targets first, so that later messages name the rule. */
    for (size_t i = 0; i < v->n; i++) {
        const ward_node *k = v->keys[i];
        if (key_is(k, "rule") || key_is(k, "rules")) {
            if (targets)
                rerr(c, k, "an overlay takes either 'rule' or 'rules', once");
            else
                parse_targets(c, o, v->kids[i] ? v->kids[i] : k, k->str);
            targets = k;
        }
    }
    if (!targets)
        rerr(c, v, "an overlay needs 'rule: ID' or 'rules: [ID, ...]'");
    for (size_t i = 0; i < v->n; i++) {
        const ward_node *k = v->keys[i], *x = v->kids[i], *at = x ? x : k;
        if (key_is(k, "rule") || key_is(k, "rules")) {
            continue;
        } else if (key_is(k, "level")) {
            o->level = lookup(x, level_names, 5);
            if (o->level < 0)
                bad_choice(c, "level", at, level_names, 5);
        } else if (key_is(k, "mode")) {
            o->mode = lookup(x, mode_names, 3);
            if (o->mode < 0)
                bad_choice(c, "mode", at, mode_names, 3);
        } else if (key_is(k, "threshold")) {
            parse_threshold(c, at, &o->threshold);
        } else if (key_is(k, "filter")) {
            filter_key = k;
            if (!x || x->type != WARD_NODE_MAP)
                rerr(c, at, "'filter' must be a map of selections and a condition, not %s",
                     kind(x));
            else
                o->filter = x;
        } else {
            rerr(c, k,
                 "unknown key 'overlay.%.*s' (expected rule, rules, level, mode, threshold, "
                 "filter)",
                 qlen(k), k->str);
        }
    }
    if (filter_key)
        check_filter_targets(c, o, filter_key);
}

/* Keys of a Sigma filter document besides 'filter', all ignored. */
static const char *const filter_meta[] = {
    "title",    "id",       "name",   "status",         "description", "author",
    "date",     "modified", "tags",   "references",     "license",     "logsource",
    "taxonomy", "scope",    "fields", "falsepositives", "related",     "level"};

/* A Sigma v2 filter document: filter: {rules: [...], <selections>, condition}. */
static void parse_sigma_filter(rctx *c, overlay *o, const ward_node *root) {
    const ward_node *f = NULL, *fk = NULL;
    for (size_t i = 0; i < root->n; i++)
        if (key_is(root->keys[i], "filter")) {
            fk = root->keys[i];
            f = root->kids[i];
        }
    const ward_node *rules = ward_node_get(f, "rules");
    /* Targets first, so that later messages name the rule. */
    if (rules)
        parse_targets(c, o, rules, "filter.rules");
    for (size_t i = 0; i < root->n; i++) {
        const ward_node *k = root->keys[i];
        size_t j;
        for (j = 0; j < sizeof(filter_meta) / sizeof(filter_meta[0]); j++)
            if (key_is(k, filter_meta[j]))
                break;
        if (j == sizeof(filter_meta) / sizeof(filter_meta[0]) && !key_is(k, "filter"))
            rerr(c, k, "unknown key '%.*s' in a Sigma filter document", qlen(k), k->str);
    }
    if (!f || f->type != WARD_NODE_MAP) {
        rerr(c, f ? f : fk,
             "'filter' must be a map with 'rules', selections and a condition, not %s", kind(f));
        return;
    }
    if (!rules) {
        rerr(c, f, "a Sigma filter needs 'rules: [ID, ...]' (ward applies filters by rule id)");
        return;
    }
    if (map_without(f, "rules", &o->filter_copy) < 0) {
        oom(c, f);
        return;
    }
    o->has_filter_copy = 1;
    o->filter = &o->filter_copy;
    check_filter_targets(c, o, fk);
}

static int overlay_doc(ward_node *root, void *ctx) {
    loadctx *lc = ctx;
    rctx c = {lc, NULL, 0, NULL, NULL};
    overlay o;
    memset(&o, 0, sizeof(o));
    o.level = o.mode = -1;
    if (!root || root->type == WARD_NODE_NULL)
        goto done;
    if (root->type != WARD_NODE_MAP) {
        rerr(&c, root, "an overlay document must be a map ('overlay:' or a Sigma filter), not %s",
             kind(root));
        goto done;
    }
    const ward_node *ov = NULL, *ovk = NULL;
    for (size_t i = 0; i < root->n; i++)
        if (key_is(root->keys[i], "overlay")) {
            ovk = root->keys[i];
            ov = root->kids[i];
        }
    int has_filter = 0;
    for (size_t i = 0; i < root->n; i++)
        has_filter |= key_is(root->keys[i], "filter");
    if (ovk) {
        for (size_t i = 0; i < root->n; i++)
            if (!key_is(root->keys[i], "overlay"))
                rerr(&c, root->keys[i], "unknown key '%.*s' beside 'overlay'", qlen(root->keys[i]),
                     root->keys[i]->str);
        parse_overlay_map(&c, &o, ov);
    } else if (has_filter) {
        parse_sigma_filter(&c, &o, root);
    } else {
        rerr(&c, root, "not an overlay: expected 'overlay:' or a Sigma filter document");
    }
    if (!c.bad)
        overlay_apply(&c, &o, root);
done:
    overlay_fini(&o);
    ward_node_free(root);
    return 0;
}

/* ---- files and directories ---- */

static void file_err(loadctx *lc, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void file_err(loadctx *lc, const char *path, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lc->failed = 1;
    ward_diags_add(lc->d, path, 0, 0, NULL, "%s", msg);
}

/* Reads a whole regular file of at most WARD_YAML_MAX_FILE bytes. Caller frees *out. */
static int read_file(loadctx *lc, const char *path, uint8_t **out, size_t *len) {
    char err[512];
    if (ward_file_read(path, WARD_YAML_MAX_FILE, out, len, err, sizeof(err)) < 0) {
        file_err(lc, path, "%s", err);
        return -1;
    }
    return 0;
}

static int load_yaml(loadctx *lc, const char *name, const uint8_t *buf, size_t len,
                     ward_yaml_doc_fn fn) {
    const char *save = lc->file;
    lc->file = name ? name : "";
    if (ward_yaml_parse(lc->file, buf, len, fn, lc, lc->d) < 0)
        lc->failed = 1;
    lc->file = save;
    return lc->failed ? -1 : 0;
}

static void load_yaml_file(loadctx *lc, const char *path, ward_yaml_doc_fn fn) {
    uint8_t *buf;
    size_t len;
    if (read_file(lc, path, &buf, &len) < 0)
        return;
    load_yaml(lc, path, buf, len, fn);
    free(buf);
}

enum ftype { F_OTHER, F_YAML, F_YARA };

static enum ftype file_type(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot)
        return F_OTHER;
    if (!strcmp(dot, ".yml") || !strcmp(dot, ".yaml"))
        return F_YAML;
    if (!strcmp(dot, ".yar") || !strcmp(dot, ".yara"))
        return F_YARA;
    return F_OTHER;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct walker {
    ward_rules_file_fn fn;
    void *ctx;
    ward_diags *d;
    int failed;
} walker;

static void walk_path(walker *w, const char *path, int depth, int explicit);

static void walk_dir(walker *w, const char *path, int depth) {
    if (depth > MAX_DIR_DEPTH) {
        w->failed = 1;
        ward_diags_add(w->d, path, 0, 0, NULL, "directories nested deeper than %d levels",
                       MAX_DIR_DEPTH);
        return;
    }
    DIR *dir = opendir(path);
    if (!dir) {
        w->failed = 1;
        ward_diags_add(w->d, path, 0, 0, NULL, "cannot open directory: %s", strerror(errno));
        return;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.') /* hidden files, '.' and '..' */
            continue;
        if (strv_push(&names, &n, e->d_name, strlen(e->d_name)) < 0)
            goto oom;
        errno = 0;
    }
    if (errno) {
        w->failed = 1;
        ward_diags_add(w->d, path, 0, 0, NULL, "cannot read directory: %s", strerror(errno));
    }
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char *sub;
        const char *sep = path[0] && path[strlen(path) - 1] == '/' ? "" : "/";
        if (asprintf(&sub, "%s%s%s", path, sep, names[i]) < 0)
            goto oom;
        walk_path(w, sub, depth + 1, 0);
        free(sub);
    }
    goto done;
oom:
    w->failed = 1;
    ward_diags_add(w->d, path, 0, 0, NULL, "out of memory");
done:
    strv_free(names, n);
    closedir(dir);
}

static void walk_path(walker *w, const char *path, int depth, int explicit) {
    struct stat st;
    if (stat(path, &st) < 0) {
        w->failed = 1;
        ward_diags_add(w->d, path, 0, 0, NULL, "cannot open: %s", strerror(errno));
        return;
    }
    if (S_ISDIR(st.st_mode))
        walk_dir(w, path, depth);
    else
        w->fn(path, explicit, w->ctx);
}

int ward_rules_walk(const char *path, ward_rules_file_fn fn, void *ctx, ward_diags *d) {
    walker w = {fn, ctx, d, 0};
    walk_path(&w, path, 0, 1);
    return w.failed ? -1 : 0;
}

static void load_found(const char *path, int explicit, void *ctx) {
    loadctx *lc = ctx;
    switch (file_type(path)) {
    case F_YAML:
        load_yaml_file(lc, path, rule_doc);
        break;
    case F_YARA:
        if (ward_yara_add_file(lc->rs, path, lc->d) < 0)
            lc->failed = 1;
        break;
    case F_OTHER:
        if (explicit)
            file_err(lc, path, "not a rule file: expected .yml, .yaml, .yar or .yara");
        break;
    }
}

int ward_rules_load(ward_rules *rs, const char *path, ward_diags *d) {
    loadctx lc = {rs, d, path, 0};
    if (ward_rules_walk(path, load_found, &lc, d) < 0)
        lc.failed = 1;
    if (ward_yara_finish(rs, d) < 0)
        lc.failed = 1;
    return lc.failed ? -1 : 0;
}

int ward_rules_load_buffer(ward_rules *rs, const char *name, const uint8_t *buf, size_t len,
                           ward_diags *d) {
    loadctx lc = {rs, d, name ? name : "", 0};
    return load_yaml(&lc, name, buf, len, rule_doc);
}

int ward_rules_load_overlay(ward_rules *rs, const char *path, ward_diags *d) {
    loadctx lc = {rs, d, path, 0};
    load_yaml_file(&lc, path, overlay_doc);
    return lc.failed ? -1 : 0;
}

int ward_rules_load_overlay_buffer(ward_rules *rs, const char *name, const uint8_t *buf, size_t len,
                                   ward_diags *d) {
    loadctx lc = {rs, d, name ? name : "", 0};
    return load_yaml(&lc, name, buf, len, overlay_doc);
}

/* ---- extract at match time ---- */

int ward_extract_run(const ward_rule *r, const ward_event *ev, ward_match_ctx *mc,
                     ward_extract_fn fn, void *ctx) {
    const struct ward_extract *x = r ? r->extract : NULL;
    if (!x || !x->re)
        return 0;
    const ward_field *f = ward_event_get(ev, x->on);
    if (!f)
        return 0;
    int rc = ward_re_match(x->re, (const uint8_t *)f->val, f->val_len, mc);
    if (rc <= 0)
        return rc;
    uint32_t size = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(x->re, PCRE2_INFO_NAMEENTRYSIZE, &size);
    pcre2_pattern_info(x->re, PCRE2_INFO_NAMETABLE, &table);
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(mc->md);
    uint32_t npairs = pcre2_get_ovector_count(mc->md);
    int n = 0;
    for (uint32_t i = 0; i < x->norder; i++) {
        PCRE2_SPTR e = table + (size_t)x->order[i] * size;
        uint32_t grp = ((uint32_t)e[0] << 8) | e[1];
        if (grp >= npairs || ov[2 * grp] == PCRE2_UNSET)
            continue;
        n++;
        /* A callback that says stop ends the walk; what was reported still counts. */
        if (fn((const char *)(e + 2), f->val + ov[2 * grp], ov[2 * grp + 1] - ov[2 * grp], ctx) !=
            0)
            break;
    }
    return n;
}
