/* YARA rules: each rule of a .yar file is a ward rule evaluated on the event's message.
 *
 * Sources are kept in memory: libyara's compiler cannot take more files after an error
 * or after it produced rules, so a broken file is dropped and the compiler is rebuilt
 * from the files that compiled, and a later ward_yara_finish recompiles everything
 * (rules keep their indexes because sources are only ever appended). The sources also
 * give each rule's line and condition, which the literal prefilter needs: a YARA rule
 * may match without any of its strings ('true', 'not $a', 'filesize < 10'). */
#include "ward/yara.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yara.h>

#include "ward/node.h" /* WARD_YAML_MAX_FILE: the same per-file limit as YAML rules */

#define MAX_LITS 256

typedef struct ysrc {
    char *path;
    char *text; /* NUL-terminated */
    size_t len;
} ysrc;

typedef struct yinfo {
    int any;
    ward_lit *lits;
    size_t nlits;
} yinfo;

struct ward_yara {
    YR_COMPILER *comp; /* pending: every source in src, or NULL */
    YR_RULES *rules;   /* compiled at the last finish */
    ysrc *src;
    size_t nsrc;
    size_t nsrc_compiled; /* sources in rules */
    yinfo *info;          /* per rule of rules, by index */
    /* rules in rules; also those already handed to the ward_rules list (at the last
     * finish): a finish publishes only the rules after them */
    size_t nrules;
    ward_diags *d; /* where the compiler callback reports; NULL: silent */
    int errors;
};

static void yinfo_free(yinfo *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        ward_lits_free(v[i].lits, v[i].nlits);
    free(v);
}

void ward_yara_free(struct ward_yara *y) {
    if (!y)
        return;
    if (y->comp)
        yr_compiler_destroy(y->comp);
    if (y->rules)
        yr_rules_destroy(y->rules);
    for (size_t i = 0; i < y->nsrc; i++) {
        free(y->src[i].path);
        free(y->src[i].text);
    }
    free(y->src);
    yinfo_free(y->info, y->nrules);
    free(y);
    yr_finalize(); /* libyara counts its initialisations */
}

static void compiler_cb(int level, const char *file, int line, const YR_RULE *rule, const char *msg,
                        void *ud) {
    struct ward_yara *y = ud;
    if (level != YARA_ERROR_LEVEL_ERROR)
        return;
    y->errors++;
    if (y->d)
        ward_diags_add(y->d, file ? file : "", line, 0, NULL, "YARA: %s%s%s%s", msg,
                       rule ? " (rule '" : "", rule ? rule->identifier : "", rule ? "')" : "");
}

/* Adds one source to the pending compiler. Returns the number of errors (or -1). */
static int comp_add(struct ward_yara *y, const ysrc *s) {
    FILE *f = fmemopen(s->text, s->len ? s->len : 1, "r");
    if (!f)
        return -1;
    int n = yr_compiler_add_file(y->comp, f, NULL, s->path);
    fclose(f);
    return n;
}

/* Creates the pending compiler with every accepted source. Returns 0 or -1. */
static int comp_rebuild(struct ward_yara *y) {
    if (y->comp)
        yr_compiler_destroy(y->comp);
    y->comp = NULL;
    if (yr_compiler_create(&y->comp) != ERROR_SUCCESS) {
        y->comp = NULL;
        return -1;
    }
    ward_diags *saved = y->d;
    y->d = NULL; /* these compiled before; nothing new to report */
    yr_compiler_set_callback(y->comp, compiler_cb, y);
    int rc = 0;
    for (size_t i = 0; i < y->nsrc && rc == 0; i++)
        if (comp_add(y, &y->src[i]) != 0)
            rc = -1;
    y->d = saved;
    return rc;
}

static int read_file(const char *path, char **text, size_t *len, ward_diags *d) {
    char err[512];
    uint8_t *buf;
    if (ward_file_read(path, WARD_YAML_MAX_FILE, &buf, len, err, sizeof(err)) < 0) {
        ward_diags_add(d, path, 0, 0, NULL, "%s", err);
        return -1;
    }
    *text = (char *)buf; /* NUL-terminated by ward_file_read */
    return 0;
}

int ward_yara_add_file(ward_rules *rs, const char *path, ward_diags *d) {
    char *text = NULL;
    size_t len = 0;
    if (read_file(path, &text, &len, d) < 0)
        return -1;
    if (!rs->yara) {
        rs->yara = calloc(1, sizeof(*rs->yara));
        if (!rs->yara || yr_initialize() != ERROR_SUCCESS) {
            free(rs->yara);
            rs->yara = NULL;
            free(text);
            ward_diags_add(d, path, 0, 0, NULL, "cannot initialise libyara");
            return -1;
        }
    }
    struct ward_yara *y = rs->yara;
    ysrc *q = realloc(y->src, (y->nsrc + 1) * sizeof(*q));
    char *p = strdup(path);
    if (!q || !p) {
        if (q)
            y->src = q;
        free(p);
        free(text);
        ward_diags_add(d, path, 0, 0, NULL, "out of memory");
        return -1;
    }
    y->src = q;
    ysrc s = {p, text, len};
    if (!y->comp && comp_rebuild(y) < 0) {
        free(p);
        free(text);
        ward_diags_add(d, path, 0, 0, NULL, "cannot create the YARA compiler");
        return -1;
    }
    y->d = d;
    y->errors = 0;
    int n = comp_add(y, &s);
    y->d = NULL;
    if (n != 0) {
        if (n < 0 || y->errors == 0)
            ward_diags_add(d, path, 0, 0, NULL, "YARA: cannot compile this file");
        free(p);
        free(text);
        comp_rebuild(y); /* the compiler is unusable after an error */
        return -1;
    }
    y->src[y->nsrc++] = s; /* y owns p and text from here (ward_yara_free) */
    /* cppcheck-suppress memleak ; p and text are held by y->src, through s */
    return 0;
}

/* ---- a small YARA tokenizer, for rule lines and conditions ---- */

enum ytok { Y_IDENT, Y_SID, Y_NUM, Y_STR, Y_PUNCT, Y_OTHER };

typedef struct ytoken {
    int type;
    const char *s;
    size_t len;
    int line;
} ytoken;

typedef struct ytoks {
    ytoken *v;
    size_t n, cap;
} ytoks;

static int is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_alnum(char c) {
    return is_alpha(c) || (c >= '0' && c <= '9');
}

static int tok_is(const ytoken *t, const char *w) {
    return t->len == strlen(w) && memcmp(t->s, w, t->len) == 0;
}

/* Tokenizes text, skipping comments and keeping strings and regexes whole. Returns 0 or
 * -1 (no memory). */
static int tokenize(const char *s, size_t n, ytoks *out) {
    size_t i = 0;
    int line = 1;
    while (i < n) {
        char c = s[i];
        if (c == '\n') {
            line++;
            i++;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r') {
            i++;
            continue;
        }
        if (c == '/' && i + 1 < n && s[i + 1] == '/') {
            while (i < n && s[i] != '\n')
                i++;
            continue;
        }
        if (c == '/' && i + 1 < n && s[i + 1] == '*') {
            i += 2;
            while (i < n && !(s[i] == '*' && i + 1 < n && s[i + 1] == '/')) {
                line += s[i] == '\n';
                i++;
            }
            i = i + 2 < n ? i + 2 : n;
            continue;
        }
        ytoken t = {Y_PUNCT, s + i, 1, line};
        const ytoken *prev = out->n ? &out->v[out->n - 1] : NULL;
        if (c == '"' || (c == '/' && prev && (tok_is(prev, "=") || tok_is(prev, "matches")))) {
            size_t j = i + 1;
            while (j < n && s[j] != c && s[j] != '\n')
                j += s[j] == '\\' && j + 1 < n ? 2 : 1;
            if (j < n && s[j] == c)
                j++;
            while (c == '/' && j < n && is_alpha(s[j]))
                j++;
            t.type = Y_STR;
            t.len = j - i;
        } else if (c == '$') {
            size_t j = i + 1;
            while (j < n && is_alnum(s[j]))
                j++;
            if (j < n && s[j] == '*')
                j++;
            t.type = Y_SID;
            t.len = j - i;
        } else if (is_alpha(c)) {
            size_t j = i;
            while (j < n && (is_alnum(s[j]) || s[j] == '.'))
                j++;
            t.type = Y_IDENT;
            t.len = j - i;
        } else if (c >= '0' && c <= '9') {
            size_t j = i;
            while (j < n && is_alnum(s[j]))
                j++;
            t.type = Y_NUM;
            t.len = j - i;
        } else if (c == '#' || c == '@' || c == '!') {
            t.type = Y_OTHER;
        }
        i += t.len;
        if (out->n == out->cap) {
            size_t nc = out->cap ? out->cap * 2 : 256;
            ytoken *q = realloc(out->v, nc * sizeof(*q));
            if (!q)
                return -1;
            out->v = q;
            out->cap = nc;
        }
        out->v[out->n++] = t;
    }
    return 0;
}

/* Finds 'rule NAME' in toks from token from on: its line and its condition's tokens
 * [*cb, *ce). Returns 0 when found. */
static int find_rule(const ytoks *tk, size_t from, const char *name, int *line, size_t *cb,
                     size_t *ce) {
    for (size_t i = from; i + 1 < tk->n; i++) {
        if (!tok_is(&tk->v[i], "rule") || tk->v[i + 1].type != Y_IDENT ||
            !tok_is(&tk->v[i + 1], name))
            continue;
        *line = tk->v[i].line;
        *cb = *ce = 0;
        size_t j = i + 2;
        while (j < tk->n && !tok_is(&tk->v[j], "{"))
            j++;
        int depth = 0;
        for (; j < tk->n; j++) {
            if (tok_is(&tk->v[j], "{")) {
                depth++;
            } else if (tok_is(&tk->v[j], "}")) {
                if (--depth == 0) {
                    *ce = j;
                    return *cb ? 0 : -1;
                }
            } else if (depth == 1 && tok_is(&tk->v[j], "condition") && j + 1 < tk->n &&
                       tok_is(&tk->v[j + 1], ":")) {
                *cb = j + 2;
            }
        }
        return -1;
    }
    return -1;
}

/* Finds rule NAME in the sources' tokens tks[0..nsrc): first from token *tok of source
 * *src on, then in the sources after it, then anywhere. libyara gives the rules in the
 * order of their sources, so the first search finds each right where the previous one
 * ended (a search from the start for every rule made loading quadratic). Returns 0 with
 * *src and *tok set past the rule, and what find_rule gives; -1 when it is nowhere. */
static int locate_rule(const ytoks *tks, size_t nsrc, const char *name, size_t *src, size_t *tok,
                       int *line, size_t *cb, size_t *ce) {
    for (int pass = 0; pass < 2; pass++) {
        for (size_t s = pass ? 0 : *src; s < nsrc; s++) {
            size_t from = !pass && s == *src ? *tok : 0;
            if (find_rule(&tks[s], from, name, line, cb, ce) == 0) {
                *src = s;
                *tok = *ce + 1;
                return 0;
            }
        }
    }
    return -1;
}

/* ---- literal sets of a rule ---- */

typedef struct lset {
    int any;
    ward_lit *v;
    size_t n;
} lset;

static void ls_any(lset *l) {
    ward_lits_free(l->v, l->n);
    l->v = NULL;
    l->n = 0;
    l->any = 1;
}

/* Adds a literal, caseless for a nocase string (YARA text strings are case-sensitive
 * otherwise). The same bytes wanted both ways are kept once, caseless: the weaker of
 * the two, so that the set still finds whatever either would. */
static int ls_push(lset *l, const uint8_t *s, size_t len, int caseless) {
    if (l->any)
        return 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].len == len && memcmp(l->v[i].s, s, len) == 0) {
            l->v[i].caseless |= caseless;
            return 0;
        }
    if (l->n >= MAX_LITS) {
        ls_any(l);
        return 0;
    }
    return ward_lit_push(&l->v, &l->n, s, len, caseless);
}

static int ls_union(lset *dst, lset *src) {
    int rc = 0;
    if (src->any)
        ls_any(dst);
    for (size_t i = 0; i < src->n && rc == 0; i++)
        rc = ls_push(dst, src->v[i].s, src->v[i].len, src->v[i].caseless);
    ward_lits_free(src->v, src->n);
    memset(src, 0, sizeof(*src));
    return rc;
}

static unsigned long ls_cost(const lset *l) {
    if (l->any || !l->n)
        return (unsigned long)-1;
    unsigned long c = 0;
    for (size_t i = 0; i < l->n; i++)
        c += l->v[i].len >= 4 ? 1 : l->v[i].len == 3 ? 2 : 8;
    return c;
}

static size_t ls_minlen(const lset *l) {
    size_t m = (size_t)-1;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].len < m)
            m = l->v[i].len;
    return l->any ? 0 : m;
}

/* Keeps the cheaper of two sets either of which is enough (an 'and'); on a tie, the
 * one whose shortest literal is longer, as longer literals are rarer in logs. */
static void ls_best(lset *dst, lset *src) {
    unsigned long cs = ls_cost(src), cd = ls_cost(dst);
    if (cs < cd || (cs == cd && ls_minlen(src) > ls_minlen(dst))) {
        ward_lits_free(dst->v, dst->n);
        *dst = *src;
    } else {
        ward_lits_free(src->v, src->n);
    }
    memset(src, 0, sizeof(*src));
}

/* The literals of every string of rule whose identifier matches pat ("$a", "$a*", "$*",
 * or NULL for them) joined with union (all=0) or best (all=1). Returns 0, -1 no memory,
 * -2 no string matched. */
static int strings_lits(const YR_RULE *rule, const char *pat, size_t plen, int all, lset *out) {
    const YR_STRING *st;
    int prefix = pat && plen && pat[plen - 1] == '*';
    size_t cmp = prefix ? plen - 1 : plen;
    int seen = 0;
    memset(out, 0, sizeof(*out));
    if (all)
        out->any = 1;
    yr_rule_strings_foreach(rule, st) {
        const char *id = st->identifier;
        if (pat && (prefix ? strncmp(id, pat, cmp) != 0
                           : strlen(id) != plen || strncmp(id, pat, plen) != 0))
            continue;
        seen = 1;
        lset one = {0};
        uint32_t bad = STRING_FLAGS_HEXADECIMAL | STRING_FLAGS_REGEXP | STRING_FLAGS_XOR |
                       STRING_FLAGS_BASE64 | STRING_FLAGS_BASE64_WIDE;
        if (!(st->flags & STRING_FLAGS_LITERAL) || (st->flags & bad) || st->length < 2 ||
            st->chained_to) {
            one.any = 1;
        } else {
            int wide = (st->flags & STRING_FLAGS_WIDE) != 0;
            int ascii = (st->flags & STRING_FLAGS_ASCII) != 0 || !wide;
            int nocase = (st->flags & STRING_FLAGS_NO_CASE) != 0;
            size_t len = (size_t)st->length;
            if (ascii && ls_push(&one, st->string, len, nocase) < 0)
                return -1;
            if (wide) {
                uint8_t *w = malloc(len * 2);
                if (!w)
                    return -1;
                for (size_t i = 0; i < len; i++) {
                    w[2 * i] = st->string[i];
                    w[2 * i + 1] = 0;
                }
                int rc = ls_push(&one, w, len * 2, nocase);
                free(w);
                if (rc < 0)
                    return -1;
            }
        }
        if (all)
            ls_best(out, &one);
        else if (ls_union(out, &one) < 0)
            return -1;
    }
    return seen ? 0 : -2;
}

typedef struct cparse {
    const ytoks *tk;
    size_t i, end;
    const YR_RULE *rule;
    int depth;
} cparse;

static const ytoken *peek(const cparse *p) {
    return p->i < p->end ? &p->tk->v[p->i] : NULL;
}

static int peek_is(const cparse *p, const char *w) {
    const ytoken *t = peek(p);
    return t && tok_is(t, w);
}

static int c_or(cparse *p, lset *out);

/* Returns 0 with out filled, -1 no memory, -2 not a form we understand. */
static int c_prim(cparse *p, lset *out) {
    const ytoken *t = peek(p);
    if (!t)
        return -2;
    if (tok_is(t, "(")) {
        if (++p->depth > 64)
            return -2;
        p->i++;
        int rc = c_or(p, out);
        if (rc < 0)
            return rc;
        if (!peek_is(p, ")"))
            return -2;
        p->i++;
        p->depth--;
        return 0;
    }
    if (t->type == Y_SID) {
        if (t->len < 2 || t->s[t->len - 1] == '*')
            return -2;
        p->i++;
        char id[256];
        snprintf(id, sizeof(id), "%.*s", (int)t->len, t->s);
        return strings_lits(p->rule, id, strlen(id), 0, out);
    }
    int all;
    if (tok_is(t, "any"))
        all = 0;
    else if (tok_is(t, "all"))
        all = 1;
    else if (t->type == Y_NUM) {
        /* N of: N >= 1 (decimal) needs at least one string */
        if (t->len > 9)
            return -2;
        long nv = 0;
        for (size_t k = 0; k < t->len; k++) {
            if (t->s[k] < '0' || t->s[k] > '9')
                return -2;
            nv = nv * 10 + (t->s[k] - '0');
        }
        if (nv < 1)
            return -2;
        all = 0;
    } else {
        return -2;
    }
    p->i++;
    if (!peek_is(p, "of"))
        return -2;
    p->i++;
    if (peek_is(p, "them")) {
        p->i++;
        return strings_lits(p->rule, NULL, 0, all, out);
    }
    if (!peek_is(p, "("))
        return -2;
    p->i++;
    memset(out, 0, sizeof(*out));
    if (all)
        out->any = 1;
    for (;;) {
        const ytoken *s = peek(p);
        if (!s || s->type != Y_SID)
            return -2;
        p->i++;
        char id[256];
        snprintf(id, sizeof(id), "%.*s", (int)s->len, s->s);
        lset part;
        int rc = strings_lits(p->rule, id, strlen(id), all, &part);
        if (rc < 0) {
            ward_lits_free(part.v, part.n);
            return rc;
        }
        if (all)
            ls_best(out, &part);
        else if (ls_union(out, &part) < 0)
            return -1;
        if (peek_is(p, ",")) {
            p->i++;
            continue;
        }
        if (!peek_is(p, ")"))
            return -2;
        p->i++;
        return 0;
    }
}

static int c_and(cparse *p, lset *out) {
    int rc = c_prim(p, out);
    while (rc == 0 && peek_is(p, "and")) {
        p->i++;
        lset r = {0};
        rc = c_prim(p, &r);
        if (rc == 0)
            ls_best(out, &r);
        else
            ward_lits_free(r.v, r.n);
    }
    return rc;
}

static int c_or(cparse *p, lset *out) {
    int rc = c_and(p, out);
    while (rc == 0 && peek_is(p, "or")) {
        p->i++;
        lset r = {0};
        rc = c_and(p, &r);
        if (rc == 0)
            rc = ls_union(out, &r);
        else
            ward_lits_free(r.v, r.n);
    }
    return rc;
}

/* Fills info from rule's condition tokens [cb, ce). Returns 0 or -1 (no memory). */
static int rule_lits(const YR_RULE *rule, const ytoks *tk, size_t cb, size_t ce, yinfo *info) {
    cparse p = {tk, cb, ce, rule, 0};
    lset l = {0};
    int rc = cb < ce ? c_or(&p, &l) : -2;
    if (rc == -1) {
        ward_lits_free(l.v, l.n);
        return -1;
    }
    if (rc < 0 || p.i != ce || l.any || l.n == 0) {
        ward_lits_free(l.v, l.n);
        info->any = 1;
        return 0;
    }
    info->lits = l.v;
    info->nlits = l.n;
    return 0;
}

/* ---- finish: compile and publish ---- */

static const char *meta_str(const YR_RULE *rule, const char *name) {
    const YR_META *m;
    yr_rule_metas_foreach(rule, m) {
        if (strcmp(m->identifier, name) == 0)
            return m->type == META_TYPE_STRING ? m->string : NULL;
    }
    return NULL;
}

static int meta_has(const YR_RULE *rule, const char *name) {
    const YR_META *m;
    yr_rule_metas_foreach(rule, m) {
        if (strcmp(m->identifier, name) == 0)
            return 1;
    }
    return 0;
}

static int parse_level(const char *s, ward_level *l) {
    static const char *const names[] = {"informational", "low", "medium", "high", "critical"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) {
            *l = (ward_level)i;
            return 0;
        }
    return -1;
}

/* Builds the ward rule for YARA rule idx. Returns it (caller owns) or NULL (reported). */
static ward_rule *make_rule(const YR_RULE *rule, int idx, const char *file, int line,
                            ward_diags *d) {
    const char *ident = rule->identifier;
    const char *id = meta_str(rule, "id");
    const char *title = meta_str(rule, "title");
    const char *level = meta_str(rule, "level");
    int bad = 0;
    if (!id || !*id) {
        ward_diags_add(d, file, line, 0, NULL, "YARA rule '%s' has no meta 'id' (a string)", ident);
        bad = 1;
    }
    ward_level lv = WARD_LEVEL_MEDIUM;
    if ((level && parse_level(level, &lv) < 0) || (!level && meta_has(rule, "level"))) {
        ward_diags_add(d, file, line, 0, id,
                       "YARA rule '%s': invalid level '%s' (expected "
                       "informational, low, medium, high or critical)",
                       ident, level ? level : "(not a string)");
        bad = 1;
    }
    if (title == NULL && meta_has(rule, "title")) {
        ward_diags_add(d, file, line, 0, id, "YARA rule '%s': meta 'title' must be a string",
                       ident);
        bad = 1;
    }
    if (bad)
        return NULL;
    ward_rule *r = calloc(1, sizeof(*r));
    if (!r)
        goto oom;
    r->level = lv;
    r->mode = WARD_MODE_ALERT;
    r->decoder = -1;
    r->yara_index = idx;
    r->line = line;
    r->id = strdup(id);
    r->title = strdup(title ? title : ident);
    r->file = strdup(file);
    if (!r->id || !r->title || !r->file)
        goto oom;
    const char *tag;
    size_t nt = 0;
    yr_rule_tags_foreach(rule, tag) nt++;
    if (nt) {
        r->tags = calloc(nt, sizeof(char *));
        if (!r->tags)
            goto oom;
        yr_rule_tags_foreach(rule, tag) {
            if (!(r->tags[r->ntags] = strdup(tag)))
                goto oom;
            r->ntags++;
        }
    }
    return r;
oom:
    ward_diags_add(d, file, line, 0, id, "out of memory");
    ward_rule_free(r);
    return NULL;
}

int ward_yara_finish(ward_rules *rs, ward_diags *d) {
    struct ward_yara *y = rs->yara;
    if (!y || y->nsrc == y->nsrc_compiled)
        return 0;
    if (!y->comp && comp_rebuild(y) < 0) {
        ward_diags_add(d, y->src[y->nsrc - 1].path, 0, 0, NULL, "YARA: cannot compile");
        return -1;
    }
    YR_RULES *rules = NULL;
    y->d = d;
    int rc = yr_compiler_get_rules(y->comp, &rules);
    y->d = NULL;
    yr_compiler_destroy(y->comp); /* it cannot take more sources after this */
    y->comp = NULL;
    if (rc != ERROR_SUCCESS) {
        ward_diags_add(d, y->src[y->nsrc - 1].path, 0, 0, NULL,
                       "YARA: cannot build the rule set (error %d)", rc);
        return -1;
    }
    size_t n = 0;
    const YR_RULE *rule;
    yr_rules_foreach(rules, rule) n++;
    yinfo *info = calloc(n ? n : 1, sizeof(*info));
    ytoks *tks = calloc(y->nsrc, sizeof(*tks));
    if (!info || !tks) {
        free(info);
        free(tks);
        yr_rules_destroy(rules);
        ward_diags_add(d, y->src[0].path, 0, 0, NULL, "out of memory");
        return -1;
    }
    int failed = 0, oom = 0;
    for (size_t s = 0; s < y->nsrc && !oom; s++)
        if (tokenize(y->src[s].text, y->src[s].len, &tks[s]) < 0)
            oom = 1;
    size_t idx = 0, at_src = 0, at_tok = 0;
    yr_rules_foreach(rules, rule) {
        if (oom) {
            ward_diags_add(d, y->src[0].path, 0, 0, NULL, "out of memory");
            failed = 1;
            break;
        }
        const char *file = "";
        int line = 0;
        size_t cb = 0, ce = 0;
        int found =
            locate_rule(tks, y->nsrc, rule->identifier, &at_src, &at_tok, &line, &cb, &ce) == 0;
        if (found)
            file = y->src[at_src].path;
        if (!found || rule_lits(rule, &tks[at_src], cb, ce, &info[idx]) < 0)
            info[idx].any = 1; /* no source found: be sound */
        if (idx >= y->nrules && !RULE_IS_PRIVATE(rule)) {
            ward_rule *r = make_rule(rule, (int)idx, file, line, d);
            if (!r || ward_rules_add(rs, r, d) < 0)
                failed = 1;
        }
        idx++;
    }
    for (size_t s = 0; s < y->nsrc; s++)
        free(tks[s].v);
    free(tks);
    if (y->rules)
        yr_rules_destroy(y->rules);
    yinfo_free(y->info, y->nrules);
    y->rules = rules;
    y->info = info;
    y->nrules = n;
    y->nsrc_compiled = y->nsrc;
    return failed ? -1 : 0;
}

/* ---- matching ---- */

typedef struct scanctx {
    const struct ward_yara *y;
    uint8_t *matched;
} scanctx;

static int scan_cb(YR_SCAN_CONTEXT *ctx, int msg, void *data, void *ud) {
    (void)ctx;
    scanctx *sc = ud;
    if (msg == CALLBACK_MSG_RULE_MATCHING) {
        const YR_RULE *rule = data;
        ptrdiff_t i = rule - sc->y->rules->rules_table;
        if (i >= 0 && (size_t)i < sc->y->nrules)
            sc->matched[i] = 1;
    }
    return CALLBACK_CONTINUE;
}

int ward_yara_match(const struct ward_yara *y, int idx, const ward_event *ev, ward_match_ctx *mc) {
    if (!y || !y->rules || idx < 0 || (size_t)idx >= y->nrules)
        return 0;
    if (mc->yara_gen != mc->event_gen || !mc->yara_matched || mc->yara_n != y->nrules) {
        if (mc->yara_n != y->nrules || !mc->yara_matched) {
            uint8_t *q = realloc(mc->yara_matched, y->nrules);
            if (!q) {
                mc->yara_error = ERROR_INSUFFICIENT_MEMORY;
                return -1;
            }
            mc->yara_matched = q;
            mc->yara_n = y->nrules;
        }
        memset(mc->yara_matched, 0, y->nrules);
        const ward_field *f = ward_event_get(ev, "message");
        if (!f)
            f = ward_event_get(ev, "event.original");
        const uint8_t *buf = f ? (const uint8_t *)f->val : (const uint8_t *)"";
        size_t len = f ? f->val_len : 0;
        scanctx sc = {y, mc->yara_matched};
        int rc = yr_rules_scan_mem(y->rules, buf, len, SCAN_FLAGS_FAST_MODE, scan_cb, &sc,
                                   mc->yara_timeout_s);
        mc->yara_gen = mc->event_gen;
        if (rc != ERROR_SUCCESS) {
            /* A timeout (or error) leaves every verdict unknown. */
            memset(mc->yara_matched, 2, y->nrules);
            mc->yara_error = rc;
            mc->limit_hits++;
            mc->hit_limit = 1;
        }
    }
    uint8_t v = mc->yara_matched[idx];
    return v == 1 ? 1 : v == 2 ? -1 : 0;
}

int ward_yara_literals(const struct ward_yara *y, int idx, ward_relit *out) {
    memset(out, 0, sizeof(*out));
    if (!y || idx < 0 || (size_t)idx >= y->nrules || y->info[idx].any || !y->info[idx].nlits) {
        out->any = 1;
        return 0;
    }
    const yinfo *in = &y->info[idx];
    for (size_t i = 0; i < in->nlits; i++)
        if (ward_lit_push(&out->alts, &out->nalts, in->lits[i].s, in->lits[i].len,
                          in->lits[i].caseless) < 0) {
            ward_lits_free(out->alts, out->nalts);
            memset(out, 0, sizeof(*out));
            return -1;
        }
    return 0;
}
