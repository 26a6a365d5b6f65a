/* Sigma detection: selections, modifiers, value expansion, conditions, evaluation.
 *
 * A detection compiles into selections (each an OR of maps, each map an AND of field
 * items, each item an OR (or, with |all, an AND) of value groups, each group the OR of
 * the variants an encoding modifier expanded one written value into) and a condition
 * tree over them. Plain values become tagged matchers (equals / startswith / endswith /
 * contains / glob) over a lowercased copy, so no regex runs for them. Evaluation is
 * three-valued (false, true, "a regex limit stopped it") with short-circuits and a
 * per-call memo of selection verdicts on the stack. */
#include "ward/detect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SEL 256       /* selections per detection, filters included (memo size) */
#define MAX_MODS 16       /* modifiers on one field */
#define MAX_VARIANTS 256  /* values one written value may expand into */
#define MAX_COND_DEPTH 64 /* nesting of parentheses and 'not' */
#define MAX_COND_LEN 65536
#define MAX_LITS 256 /* larger literal unions make the rule always-run */
#define TOK_STAR 256 /* '*' in a token sequence */
#define TOK_ONE 257  /* '?' */
#define KEYWORD_FIELD "message"
#define KEYWORD_FALLBACK "event.original"

/* Three-valued verdicts. */
#define R_FALSE 0
#define R_TRUE 1
#define R_LIMIT 2

enum vkind { V_EQ, V_START, V_END, V_CONTAINS, V_GLOB, V_RE, V_CIDR, V_EXISTS, V_NULL, V_NUM };
enum numop { N_LT, N_LTE, N_GT, N_GTE };

typedef struct dval {
    uint8_t kind, cased, op, fam, prefix, bval;
    uint8_t *pat; /* EQ..CONTAINS: bytes, lowercased unless cased; RE: the source */
    size_t plen;
    uint16_t *glob; /* GLOB: tokens, lowercased unless cased, stars collapsed; op 1: '?'
                     * and '*' step over bytes (UTF-16 values), op 0: over UTF-8 characters */
    size_t glen;
    uint8_t *lit; /* longest wildcard-free run, lowercased; NULL when none */
    size_t litlen;
    pcre2_code *re;
    uint32_t reopts;
    uint8_t net[16];
    double num;
} dval;

typedef struct dgroup { /* the variants of one written value: OR */
    dval *v;
    size_t n;
} dgroup;

/* An event field an item reads in place of the field the rule wrote (a log source's
 * renaming), with the derivation that takes the value out of it. */
typedef struct dfield {
    char *name;
    char *key; /* KEY of a kv or JSON derivation; NULL otherwise */
    uint8_t derive;
} dfield;

typedef struct ditem {
    char *field; /* NULL: keyword search (message); else as the rule wrote it */
    dfield *f;   /* when renamed: the fields read instead, any of which may match (OR) */
    size_t nf;
    uint8_t all, neq;
    dgroup *g;
    size_t ng;
} ditem;

typedef struct dmap { /* AND of items */
    ditem *it;
    size_t n;
} dmap;

typedef struct dsel {
    char *name;       /* as shown by explain: prefix + short name */
    size_t short_off; /* where the name written in the rule starts */
    int ns;           /* namespace: 0 the rule's own, 1.. each added filter */
    dmap *m;          /* OR of maps */
    size_t nm;
} dsel;

enum cop { C_SEL, C_AND, C_OR, C_NOT, C_ANY, C_ALL };

typedef struct cnode {
    uint8_t op;
    int sel; /* C_SEL */
    int *k;  /* AND/OR/NOT: child nodes; ANY/ALL: selections */
    size_t nk;
} cnode;

struct ward_detection {
    const ward_fieldmap *map; /* the log source's renamings (static), for filters too */
    size_t nmap;
    uint64_t map_off; /* bit per map entry whose 'unless' field the detection names */
    dsel *sel;
    size_t nsel, capsel;
    cnode *c;
    size_t nc, capc;
    int root;
    int nns; /* namespaces in use */
};

/* ---- compile context and errors ---- */

typedef struct cctx {
    ward_detection *det;
    const char *file, *rule_id;
    ward_diags *d;
    int errors;
    int ns;
    const char *prefix;
} cctx;

__attribute__((format(printf, 3, 4))) static void err_at(cctx *c, const ward_node *n,
                                                         const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ward_diags_add(c->d, c->file, n ? n->line : 0, n ? n->col : 0, c->rule_id, "%s", msg);
    c->errors++;
}

static uint8_t lc(uint8_t ch) {
    return (ch >= 'A' && ch <= 'Z') ? (uint8_t)(ch + 32) : ch;
}

static void dval_fini(dval *v) {
    free(v->pat);
    free(v->glob);
    free(v->lit);
    pcre2_code_free(v->re);
}

static void item_fini(ditem *it) {
    free(it->field);
    for (size_t i = 0; i < it->nf; i++) {
        free(it->f[i].name);
        free(it->f[i].key);
    }
    free(it->f);
    for (size_t i = 0; i < it->ng; i++) {
        for (size_t j = 0; j < it->g[i].n; j++)
            dval_fini(&it->g[i].v[j]);
        free(it->g[i].v);
    }
    free(it->g);
}

static void sel_fini(dsel *s) {
    free(s->name);
    for (size_t i = 0; i < s->nm; i++) {
        for (size_t j = 0; j < s->m[i].n; j++)
            item_fini(&s->m[i].it[j]);
        free(s->m[i].it);
    }
    free(s->m);
}

void ward_detect_free(ward_detection *det) {
    if (!det)
        return;
    for (size_t i = 0; i < det->nsel; i++)
        sel_fini(&det->sel[i]);
    free(det->sel);
    for (size_t i = 0; i < det->nc; i++)
        free(det->c[i].k);
    free(det->c);
    free(det);
}

/* ---- token sequences (values after wildcard processing) ---- */

typedef struct tseq {
    uint16_t *t;
    size_t n, cap;
} tseq;

typedef struct tlist {
    tseq *v;
    size_t n, cap;
} tlist;

static int ts_push(tseq *s, uint16_t t) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 32;
        uint16_t *p = realloc(s->t, nc * sizeof(*p));
        if (!p)
            return -1;
        s->t = p;
        s->cap = nc;
    }
    s->t[s->n++] = t;
    return 0;
}

static int ts_push_bytes(tseq *s, const void *b, size_t n) {
    const uint8_t *p = b;
    for (size_t i = 0; i < n; i++)
        if (ts_push(s, p[i]) < 0)
            return -1;
    return 0;
}

static void tl_free(tlist *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].t);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* Appends s (the list takes it over, also on failure). */
static int tl_push(tlist *l, tseq *s) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        tseq *p = realloc(l->v, nc * sizeof(*p));
        if (!p) {
            /* emptied, so that a caller's cleanup of s frees nothing twice */
            free(s->t);
            memset(s, 0, sizeof(*s));
            return -1;
        }
        l->v = p;
        l->cap = nc;
    }
    l->v[l->n++] = *s;
    memset(s, 0, sizeof(*s));
    return 0;
}

static int has_wild(const tseq *s) {
    for (size_t i = 0; i < s->n; i++)
        if (s->t[i] >= TOK_STAR)
            return 1;
    return 0;
}

/* Sigma's string syntax: '*' any run, '?' one character, '\*' '\?' '\\' escapes; a
 * backslash before anything else (or at the end) is itself literal. */
static int parse_wild(const char *s, size_t n, tseq *out) {
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = (uint8_t)s[i];
        if (ch == '\\' && i + 1 < n && (s[i + 1] == '*' || s[i + 1] == '?' || s[i + 1] == '\\')) {
            if (ts_push(out, (uint8_t)s[++i]) < 0)
                return -1;
        } else if (ch == '*') {
            if (ts_push(out, TOK_STAR) < 0)
                return -1;
        } else if (ch == '?') {
            if (ts_push(out, TOK_ONE) < 0)
                return -1;
        } else if (ts_push(out, ch) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- modifiers ---- */

enum mod {
    M_CONTAINS,
    M_STARTSWITH,
    M_ENDSWITH,
    M_ALL,
    M_RE,
    M_RE_I,
    M_RE_M,
    M_RE_S,
    M_CIDR,
    M_EXISTS,
    M_CASED,
    M_NEQ,
    M_LT,
    M_LTE,
    M_GT,
    M_GTE,
    M_WINDASH,
    M_BASE64,
    M_BASE64OFFSET,
    M_UTF16LE,
    M_UTF16BE,
    M_UTF16,
    M_WIDE,
    M_COUNT
};

static const char *const mod_names[M_COUNT] = {
    "contains", "startswith", "endswith",     "all",     "re",      "i",     "m",   "s",
    "cidr",     "exists",     "cased",        "neq",     "lt",      "lte",   "gt",  "gte",
    "windash",  "base64",     "base64offset", "utf16le", "utf16be", "utf16", "wide"};

/* Classes for the combination rules. */
enum mclass {
    K_CMP,
    K_ALL,
    K_RE,
    K_RESUB,
    K_CIDR,
    K_EXISTS,
    K_CASED,
    K_NEQ,
    K_NUM,
    K_B64,
    K_U16,
    K_WINDASH
};

static int mod_class(int m) {
    switch (m) {
    case M_CONTAINS:
    case M_STARTSWITH:
    case M_ENDSWITH:
        return K_CMP;
    case M_ALL:
        return K_ALL;
    case M_RE:
        return K_RE;
    case M_RE_I:
    case M_RE_M:
    case M_RE_S:
        return K_RESUB;
    case M_CIDR:
        return K_CIDR;
    case M_EXISTS:
        return K_EXISTS;
    case M_CASED:
        return K_CASED;
    case M_NEQ:
        return K_NEQ;
    case M_LT:
    case M_LTE:
    case M_GT:
    case M_GTE:
        return K_NUM;
    case M_BASE64:
    case M_BASE64OFFSET:
        return K_B64;
    case M_WINDASH:
        return K_WINDASH;
    default:
        return K_U16;
    }
}

/* Whether modifiers of classes a and b may appear together (a != b as modifiers).
 * Value-string modifiers (comparison, encodings, cased, neq) mix freely; re (with its
 * flags), cidr, exists and the numeric comparisons stand alone, except that all but
 * exists may take 'all' over a list, and re accepts 'cased' (a no-op: re is cased). */
static int compatible(int a, int b) {
    if (a == b)
        return a == K_RESUB; /* contains|startswith, lt|gt, base64|base64offset, ... */
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    static const unsigned stringy =
        1u << K_CMP | 1u << K_CASED | 1u << K_NEQ | 1u << K_B64 | 1u << K_U16 | 1u << K_WINDASH;
    static const unsigned regex = 1u << K_RE | 1u << K_RESUB;
    unsigned ab = 1u << a | 1u << b;
    if ((stringy & ab) == ab)
        return 1;
    if (ab & (1u << K_ALL)) {
        unsigned other = ab & ~(1u << K_ALL);
        return !(other & (1u << K_EXISTS | 1u << K_NEQ));
    }
    if ((ab & regex) && (ab & ~regex) == 0)
        return 1;
    if ((ab & regex) && (ab & ~regex) == 1u << K_CASED)
        return 1;
    return 0;
}

typedef struct spec {
    const char *field; /* for messages; "" for keywords */
    int cmp;           /* M_CONTAINS / M_STARTSWITH / M_ENDSWITH or -1 */
    int re, cidr, exists, num, numop, cased, all, neq;
    uint32_t reopts;
    int enc[MAX_MODS];
    int nenc;
} spec;

/* Parses "field|mod|mod" (key->str) into sp and *field (malloc'd). A key of modifiers
 * only ("|all") applies them to a keyword search: *field is then NULL and sp->field "".
 * Returns 0 or -1. */
static int parse_key(cctx *c, const ward_node *key, spec *sp, char **field) {
    memset(sp, 0, sizeof(*sp));
    sp->cmp = -1;
    *field = NULL;
    const char *s = key->str;
    const char *bar = memchr(s, '|', key->len);
    size_t flen = bar ? (size_t)(bar - s) : key->len;
    if (flen == 0 && (!bar || key->len == 1)) {
        err_at(c, key, "empty field name in '%s'", s);
        return -1;
    }
    if (flen) {
        *field = strndup(s, flen);
        if (!*field) {
            err_at(c, key, "out of memory");
            return -1;
        }
    }
    sp->field = flen ? *field : "";
    const char *fname = flen ? *field : "keywords"; /* for messages */
    int seen[M_COUNT] = {0};
    int mods[MAX_MODS + 1];
    int nmods = 0;
    const char *p = bar;
    const char *end = s + key->len;
    while (p && p < end) {
        const char *m = p + 1;
        const char *nx = memchr(m, '|', (size_t)(end - m));
        size_t mlen = nx ? (size_t)(nx - m) : (size_t)(end - m);
        p = nx;
        int id = -1;
        for (int i = 0; i < M_COUNT; i++)
            if (strlen(mod_names[i]) == mlen && memcmp(mod_names[i], m, mlen) == 0)
                id = i;
        if (id < 0) {
            err_at(c, key, "unsupported modifier '%.*s' (field '%s')", (int)mlen, m, fname);
            return -1;
        }
        if (nmods == MAX_MODS) {
            err_at(c, key, "too many modifiers (field '%s', max %d)", fname, MAX_MODS);
            return -1;
        }
        if (seen[id]) {
            err_at(c, key, "modifier '%s' given twice (field '%s')", mod_names[id], fname);
            return -1;
        }
        if (mod_class(id) == K_RESUB && !seen[M_RE]) {
            err_at(c, key, "unsupported modifier '%s' (field '%s'): flags follow 're'",
                   mod_names[id], fname);
            return -1;
        }
        for (int i = 0; i < nmods; i++)
            if (!compatible(mod_class(mods[i]), mod_class(id))) {
                err_at(c, key, "modifiers '%s' and '%s' cannot be combined (field '%s')",
                       mod_names[mods[i]], mod_names[id], fname);
                return -1;
            }
        seen[id] = 1;
        mods[nmods++] = id;
        switch (mod_class(id)) {
        case K_CMP:
            sp->cmp = id;
            break;
        case K_ALL:
            sp->all = 1;
            break;
        case K_RE:
            sp->re = 1;
            break;
        case K_RESUB:
            sp->reopts |= id == M_RE_I   ? PCRE2_CASELESS
                          : id == M_RE_M ? PCRE2_MULTILINE
                                         : PCRE2_DOTALL;
            break;
        case K_CIDR:
            sp->cidr = 1;
            break;
        case K_EXISTS:
            sp->exists = 1;
            break;
        case K_CASED:
            sp->cased = 1;
            break;
        case K_NEQ:
            sp->neq = 1;
            break;
        case K_NUM:
            sp->num = 1;
            sp->numop = id == M_LT ? N_LT : id == M_LTE ? N_LTE : id == M_GT ? N_GT : N_GTE;
            break;
        default:
            sp->enc[sp->nenc++] = id;
            break;
        }
    }
    return 0;
}

/* ---- encodings ---- */

static const char b64tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of in (n bytes) into out (4 * ((n + 2) / 3) bytes, padded). Returns its length. */
static size_t b64(const uint8_t *in, size_t n, uint8_t *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = (uint8_t)b64tab[v >> 18 & 63];
        out[o++] = (uint8_t)b64tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? (uint8_t)b64tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? (uint8_t)b64tab[v & 63] : '=';
    }
    return o;
}

/* Decodes one UTF-8 character from t[*i..n) (tokens must be bytes). Returns the code
 * point or -1. */
static long utf8_next(const uint16_t *t, size_t n, size_t *i) {
    unsigned b0 = t[*i];
    int len;
    long cp;
    if (b0 < 0x80) {
        (*i)++;
        return (long)b0;
    } else if ((b0 & 0xE0) == 0xC0) {
        len = 2;
        cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3;
        cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4;
        cp = b0 & 0x07;
    } else {
        return -1;
    }
    if (*i + (size_t)len > n)
        return -1;
    for (int k = 1; k < len; k++) {
        unsigned b = t[*i + (size_t)k];
        if (b >= 0x100 || (b & 0xC0) != 0x80)
            return -1;
        cp = cp << 6 | (long)(b & 0x3F);
    }
    static const long minv[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < minv[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *i += (size_t)len;
    return cp;
}

static int push_u16(tseq *o, unsigned u, int be) {
    if (be)
        return ts_push(o, (uint16_t)(u >> 8)) < 0 ? -1 : ts_push(o, (uint16_t)(u & 0xFF));
    return ts_push(o, (uint16_t)(u & 0xFF)) < 0 ? -1 : ts_push(o, (uint16_t)(u >> 8));
}

/* Returns 0, -1 out of memory, -2 invalid UTF-8. */
static int enc_utf16(const tseq *in, int be, int bom, tseq *o) {
    if (bom && (ts_push(o, 0xFF) < 0 || ts_push(o, 0xFE) < 0))
        return -1;
    size_t i = 0;
    while (i < in->n) {
        if (in->t[i] >= TOK_STAR) {
            if (ts_push(o, in->t[i++]) < 0)
                return -1;
            continue;
        }
        long cp = utf8_next(in->t, in->n, &i);
        if (cp < 0)
            return -2;
        if (cp >= 0x10000) {
            unsigned long v = (unsigned long)cp - 0x10000;
            if (push_u16(o, (unsigned)(0xD800 + (v >> 10)), be) < 0 ||
                push_u16(o, (unsigned)(0xDC00 + (v & 0x3FF)), be) < 0)
                return -1;
        } else if (push_u16(o, (unsigned)cp, be) < 0) {
            return -1;
        }
    }
    return 0;
}

static const char *const dashes[5] = {"-", "/", "\xe2\x80\x93", "\xe2\x80\x94", "\xe2\x80\x95"};

static int tok_is_word(unsigned t) {
    return t < 256 &&
           (t == '_' || (t >= '0' && t <= '9') || ((t | 0x20) >= 'a' && (t | 0x20) <= 'z'));
}

/* windash changes the '-' or '/' that starts a command-line option, as Sigma does: one
 * that follows the start or a non-word character and comes before a word character
 * ("-e", " /c"), not the one inside "x-y" or "a/b". */
static int is_option_dash(const tseq *in, size_t j) {
    unsigned t = in->t[j];
    return (t == '-' || t == '/') && (j == 0 || !tok_is_word(in->t[j - 1])) && j + 1 < in->n &&
           tok_is_word(in->t[j + 1]);
}

/* Applies encoding modifier m to every sequence of *l. Returns 0 or -1 (reported). */
static int apply_enc(cctx *c, const ward_node *vn, const spec *sp, int m, tlist *l) {
    tlist out = {0};
    for (size_t i = 0; i < l->n; i++) {
        const tseq *in = &l->v[i];
        if (m == M_WINDASH) {
            size_t k = 0, nv = 1;
            for (size_t j = 0; j < in->n; j++)
                if (is_option_dash(in, j)) {
                    k++;
                    nv *= 5;
                    if (nv > MAX_VARIANTS) {
                        err_at(c, vn,
                               "windash would expand '%s' into more than %d variants "
                               "(field '%s')",
                               vn->str, MAX_VARIANTS, sp->field);
                        goto fail;
                    }
                }
            for (size_t v = 0; v < nv; v++) {
                tseq o = {0};
                size_t sel = v;
                for (size_t j = 0; j < in->n; j++) {
                    int r;
                    if (is_option_dash(in, j)) {
                        const char *dsh = dashes[sel % 5];
                        sel /= 5;
                        r = ts_push_bytes(&o, dsh, strlen(dsh));
                    } else {
                        r = ts_push(&o, in->t[j]);
                    }
                    if (r < 0) {
                        free(o.t);
                        goto oom;
                    }
                }
                if (tl_push(&out, &o) < 0) {
                    free(o.t);
                    goto oom;
                }
            }
        } else if (m == M_UTF16LE || m == M_UTF16BE || m == M_UTF16 || m == M_WIDE) {
            tseq o = {0};
            int r = enc_utf16(in, m == M_UTF16BE, m == M_UTF16, &o);
            if (r == -2) {
                free(o.t);
                err_at(c, vn, "value '%s' is not valid UTF-8 for '%s' (field '%s')", vn->str,
                       mod_names[m], sp->field);
                goto fail;
            }
            if (r < 0 || tl_push(&out, &o) < 0) {
                free(o.t);
                goto oom;
            }
        } else { /* base64, base64offset */
            if (has_wild(in)) {
                err_at(c, vn,
                       "'%s' cannot encode a value with wildcards: '%s' (field '%s'); escape "
                       "them or use 'contains'",
                       mod_names[m], vn->str, sp->field);
                goto fail;
            }
            size_t n = in->n;
            uint8_t *raw = malloc(n + 2);
            uint8_t *enc = malloc(4 * ((n + 4) / 3) + 4);
            if (!raw || !enc) {
                free(raw);
                free(enc);
                goto oom;
            }
            int reps = m == M_BASE64 ? 1 : 3;
            int bad = 0;
            for (int off = 0; off < reps && !bad; off++) {
                /* pySigma: b64encode(off * b" " + value)[start[off] : end[(len + off) % 3]] */
                static const int starts[3] = {0, 2, 3};
                static const int ends[3] = {0, -3, -2}; /* 0: to the end */
                memset(raw, ' ', (size_t)off);
                for (size_t j = 0; j < n; j++)
                    raw[(size_t)off + j] = (uint8_t)in->t[j];
                size_t el = b64(raw, n + (size_t)off, enc);
                size_t a = 0, b = el;
                if (m == M_BASE64OFFSET) {
                    int e = ends[(n + (size_t)off) % 3];
                    a = (size_t)starts[off];
                    b = e == 0 ? el : (el >= (size_t)-e ? el - (size_t)-e : 0);
                    if (a > el)
                        a = el;
                    if (b <= a) {
                        bad = 1;
                        break;
                    }
                }
                tseq o = {0};
                if (ts_push_bytes(&o, enc + a, b - a) < 0 || tl_push(&out, &o) < 0) {
                    free(o.t);
                    free(raw);
                    free(enc);
                    goto oom;
                }
            }
            free(raw);
            free(enc);
            if (bad) {
                err_at(c, vn, "value '%s' is too short for 'base64offset' (field '%s')", vn->str,
                       sp->field);
                goto fail;
            }
        }
        if (out.n > MAX_VARIANTS) {
            err_at(c, vn, "value '%s' expands into more than %d variants (field '%s')", vn->str,
                   MAX_VARIANTS, sp->field);
            goto fail;
        }
    }
    tl_free(l);
    *l = out;
    return 0;
oom:
    err_at(c, vn, "out of memory");
fail:
    tl_free(&out);
    return -1;
}

/* ---- value matchers ---- */

/* Strict decimal number: [+-]digits[.digits][e[+-]digits]. */
static int parse_num(const char *s, size_t n, double *out) {
    char buf[64];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    size_t i = 0;
    if (s[i] == '+' || s[i] == '-')
        i++;
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    size_t nd = i - d0;
    if (i < n && s[i] == '.') {
        i++;
        size_t f0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        nd += i - f0;
    }
    if (nd == 0)
        return -1;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == e0)
            return -1;
    }
    if (i != n)
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    errno = 0;
    *out = strtod(buf, NULL);
    return 0;
}

/* Parses an IP address (not NUL-terminated). Returns the family or -1. */
static int parse_ip(const char *s, size_t n, uint8_t addr[16]) {
    char buf[64];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (memchr(buf, ':', n)) {
        if (inet_pton(AF_INET6, buf, addr) == 1)
            return AF_INET6;
    } else if (inet_pton(AF_INET, buf, addr) == 1) {
        return AF_INET;
    }
    return -1;
}

static int prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits) {
    size_t full = bits / 8;
    if (memcmp(a, b, full) != 0)
        return 0;
    unsigned rest = bits % 8;
    if (!rest)
        return 1;
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

/* Fills v from token sequence s (comparison wildcards already added). */
static int make_strval(dval *v, const tseq *s, int cased) {
    v->cased = (uint8_t)cased;
    size_t i = 0, j = s->n;
    while (i < j && s->t[i] == TOK_STAR)
        i++;
    while (j > i && s->t[j - 1] == TOK_STAR)
        j--;
    int lead = i > 0, trail = j < s->n;
    int glob = 0;
    for (size_t k = i; k < j; k++)
        if (s->t[k] >= TOK_STAR)
            glob = 1;
    if (glob) {
        v->kind = V_GLOB;
        v->glob = malloc((s->n ? s->n : 1) * sizeof(uint16_t));
        if (!v->glob)
            return -1;
        for (size_t k = 0; k < s->n; k++) {
            uint16_t t = s->t[k];
            if (t == TOK_STAR && v->glen && v->glob[v->glen - 1] == TOK_STAR)
                continue;
            v->glob[v->glen++] = (t < 256 && !cased) ? lc((uint8_t)t) : t;
        }
    } else {
        if (i == j && s->n) /* only stars: anything present */
            v->kind = V_CONTAINS;
        else if (lead && trail)
            v->kind = V_CONTAINS;
        else if (lead)
            v->kind = V_END;
        else if (trail)
            v->kind = V_START;
        else
            v->kind = V_EQ;
        v->plen = j - i;
        v->pat = malloc(v->plen + 1);
        if (!v->pat)
            return -1;
        for (size_t k = i; k < j; k++)
            v->pat[k - i] = cased ? (uint8_t)s->t[k] : lc((uint8_t)s->t[k]);
        v->pat[v->plen] = 0;
    }
    /* The prefilter literal: the longest wildcard-free run. */
    size_t best = 0, bestlen = 0;
    for (size_t k = 0; k < s->n;) {
        if (s->t[k] >= TOK_STAR) {
            k++;
            continue;
        }
        size_t st = k;
        while (k < s->n && s->t[k] < TOK_STAR)
            k++;
        if (k - st > bestlen) {
            best = st;
            bestlen = k - st;
        }
    }
    if (bestlen >= 2) {
        v->lit = malloc(bestlen);
        if (!v->lit)
            return -1;
        for (size_t k = 0; k < bestlen; k++)
            v->lit[k] = lc((uint8_t)s->t[best + k]);
        v->litlen = bestlen;
    }
    return 0;
}

static int group_push(dgroup *g, const dval *v) {
    dval *p = realloc(g->v, (g->n + 1) * sizeof(*p));
    if (!p)
        return -1;
    g->v = p;
    g->v[g->n++] = *v;
    return 0;
}

static int is_bool(const ward_node *vn, int *b) {
    if (vn->type != WARD_NODE_SCALAR)
        return 0;
    if (strcasecmp(vn->str, "true") == 0)
        *b = 1;
    else if (strcasecmp(vn->str, "false") == 0)
        *b = 0;
    else
        return 0;
    return 1;
}

/* Compiles one written value vn under sp into group g. Returns 0 or -1 (reported). */
static int compile_value(cctx *c, const spec *sp, int keyword, const ward_node *vn, dgroup *g) {
    dval v;
    memset(&v, 0, sizeof(v));
    if (vn->type == WARD_NODE_NULL) {
        if (keyword) {
            err_at(c, vn, "a keyword must be a string or a number, not null");
            return -1;
        }
        if (sp->cmp >= 0 || sp->re || sp->cidr || sp->exists || sp->num || sp->nenc || sp->neq) {
            err_at(c, vn, "a null value takes no modifiers (field '%s')", sp->field);
            return -1;
        }
        v.kind = V_NULL;
        if (group_push(g, &v) < 0)
            goto oom;
        return 0;
    }
    if (vn->type != WARD_NODE_SCALAR) {
        err_at(c, vn, "values of field '%s' must be scalars", sp->field);
        return -1;
    }
    if (sp->exists) {
        int b;
        if (!is_bool(vn, &b)) {
            err_at(c, vn, "'exists' needs true or false, not '%s' (field '%s')", vn->str,
                   sp->field);
            return -1;
        }
        v.kind = V_EXISTS;
        v.bval = (uint8_t)b;
        if (group_push(g, &v) < 0)
            goto oom;
        return 0;
    }
    if (sp->num) {
        if (parse_num(vn->str, vn->len, &v.num) < 0) {
            err_at(c, vn, "'%s' needs a number, not '%s' (field '%s')", mod_names[M_LT + sp->numop],
                   vn->str, sp->field);
            return -1;
        }
        v.kind = V_NUM;
        v.op = (uint8_t)sp->numop;
        if (group_push(g, &v) < 0)
            goto oom;
        return 0;
    }
    if (sp->cidr) {
        const char *sl = memchr(vn->str, '/', vn->len);
        size_t alen = sl ? (size_t)(sl - vn->str) : vn->len;
        int fam = parse_ip(vn->str, alen, v.net);
        long pfx = fam == AF_INET ? 32 : 128;
        if (fam > 0 && sl) {
            const char *q = sl + 1;
            size_t ql = vn->len - alen - 1;
            pfx = ql == 0 || ql > 3 ? -1 : 0;
            for (size_t k = 0; k < ql && pfx >= 0; k++)
                pfx = (q[k] >= '0' && q[k] <= '9') ? pfx * 10 + (q[k] - '0') : -1;
            if (pfx > (fam == AF_INET ? 32 : 128))
                pfx = -1;
        }
        if (fam < 0 || pfx < 0) {
            err_at(c, vn, "invalid CIDR network '%s' (field '%s')", vn->str, sp->field);
            return -1;
        }
        v.kind = V_CIDR;
        v.fam = fam == AF_INET ? 4 : 6;
        v.prefix = (uint8_t)pfx;
        /* Host bits are ignored, as in ipaddress.ip_network(strict=False). */
        size_t alen_b = v.fam == 4 ? 4 : 16;
        for (size_t k = 0; k < alen_b; k++) {
            long keep = (long)pfx - (long)k * 8;
            uint8_t mask = keep >= 8 ? 0xFF : keep <= 0 ? 0 : (uint8_t)(0xFF << (8 - keep));
            v.net[k] &= mask;
        }
        if (group_push(g, &v) < 0)
            goto oom;
        return 0;
    }
    if (sp->re) {
        char err[256];
        uint32_t opts = sp->reopts;
        v.re = ward_re_compile(vn->str, vn->len, opts, err, sizeof(err));
        if (!v.re) {
            err_at(c, vn, "field '%s': %s", sp->field, err);
            return -1;
        }
        v.kind = V_RE;
        v.reopts = opts;
        v.pat = (uint8_t *)strndup(vn->str, vn->len);
        v.plen = vn->len;
        if (!v.pat || group_push(g, &v) < 0) {
            dval_fini(&v);
            goto oom;
        }
        return 0;
    }
    /* Strings: wildcards, encodings in written order, then the comparison. */
    tlist l = {0};
    tseq s0 = {0};
    if (parse_wild(vn->str, vn->len, &s0) < 0 || tl_push(&l, &s0) < 0) {
        free(s0.t);
        tl_free(&l);
        goto oom;
    }
    for (int i = 0; i < sp->nenc; i++)
        if (apply_enc(c, vn, sp, sp->enc[i], &l) < 0) {
            tl_free(&l);
            return -1;
        }
    int cmp = keyword ? M_CONTAINS : sp->cmp;
    int bytes = 0; /* UTF-16 values are not UTF-8: their wildcards step over bytes */
    for (int i = 0; i < sp->nenc; i++)
        bytes |= sp->enc[i] == M_UTF16LE || sp->enc[i] == M_UTF16BE || sp->enc[i] == M_UTF16 ||
                 sp->enc[i] == M_WIDE;
    for (size_t i = 0; i < l.n; i++) {
        tseq *s = &l.v[i];
        if (cmp == M_CONTAINS || cmp == M_ENDSWITH) {
            if (ts_push(s, TOK_STAR) < 0)
                goto oom_l;
            memmove(s->t + 1, s->t, (s->n - 1) * sizeof(uint16_t));
            s->t[0] = TOK_STAR;
        }
        if ((cmp == M_CONTAINS || cmp == M_STARTSWITH) && ts_push(s, TOK_STAR) < 0)
            goto oom_l;
        memset(&v, 0, sizeof(v));
        int r = make_strval(&v, s, sp->cased);
        if (v.kind == V_GLOB)
            v.op = (uint8_t)bytes;
        if (r < 0 || group_push(g, &v) < 0) {
            dval_fini(&v);
            goto oom_l;
        }
    }
    tl_free(&l);
    return 0;
oom_l:
    tl_free(&l);
oom:
    err_at(c, vn, "out of memory");
    return -1;
}

static int item_add_group(cctx *c, const spec *sp, int keyword, const ward_node *vn, ditem *it) {
    dgroup *p = realloc(it->g, (it->ng + 1) * sizeof(*p));
    if (!p) {
        err_at(c, vn, "out of memory");
        return -1;
    }
    it->g = p;
    memset(&it->g[it->ng], 0, sizeof(dgroup));
    it->ng++;
    return compile_value(c, sp, keyword, vn, &it->g[it->ng - 1]);
}

/* Points it at the event fields its log source reads in place of the name written: none
 * when the name is not renamed. Returns 0 or -1 (no memory, reported). */
static int map_field(cctx *c, const ward_node *key, ditem *it) {
    const ward_fieldmap *e = ward_fieldmap_find(c->det->map, c->det->nmap, it->field);
    if (!e || (c->det->map_off >> (size_t)(e - c->det->map) & 1))
        return 0;
    size_t n = 0;
    while (n < WARD_FIELDMAP_MAX && e->to[n].name)
        n++;
    if (n == 0 ||
        (n == 1 && e->to[0].derive == WARD_DERIVE_NONE &&
         (strcmp(e->to[0].name, WARD_FIELD_SELF) == 0 || strcmp(e->to[0].name, it->field) == 0)))
        return 0;
    it->f = calloc(n, sizeof(*it->f));
    if (!it->f)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        const ward_fieldref *r = &e->to[i];
        const char *name = strcmp(r->name, WARD_FIELD_SELF) == 0 ? it->field : r->name;
        it->nf++;
        if (!(it->f[i].name = strdup(name)))
            goto oom;
        it->f[i].derive = (uint8_t)r->derive;
        if ((r->derive == WARD_DERIVE_KV || r->derive == WARD_DERIVE_JSON_KEY) &&
            !(it->f[i].key = strdup(r->key ? r->key : it->field)))
            goto oom;
    }
    return 0;
oom:
    err_at(c, key, "out of memory");
    return -1;
}

/* Compiles "key: value" of a selection map into it. Returns 0 or -1 (reported). */
static int compile_item(cctx *c, const ward_node *key, const ward_node *val, ditem *it) {
    spec sp;
    if (parse_key(c, key, &sp, &it->field) < 0)
        return -1;
    if (it->field && map_field(c, key, it) < 0)
        return -1;
    int keyword = it->field == NULL; /* '|all': [...] searches the message */
    const char *fname = keyword ? "keywords" : it->field;
    if (keyword && (sp.exists || sp.num || sp.cidr || sp.neq)) {
        err_at(c, key, "'%s' needs a field name", key->str);
        return -1;
    }
    it->all = (uint8_t)sp.all;
    it->neq = (uint8_t)sp.neq;
    if (val->type == WARD_NODE_MAP) {
        err_at(c, val, "value of field '%s' must be a scalar or a list of scalars", fname);
        return -1;
    }
    if (val->type == WARD_NODE_SEQ) {
        if (val->n == 0) {
            err_at(c, val, "empty list of values (field '%s')", fname);
            return -1;
        }
        if (sp.exists) {
            err_at(c, val, "'exists' needs true or false, not a list (field '%s')", fname);
            return -1;
        }
        int rc = 0;
        for (size_t i = 0; i < val->n; i++)
            if (item_add_group(c, &sp, keyword, val->kids[i], it) < 0)
                rc = -1;
        return rc;
    }
    return item_add_group(c, &sp, keyword, val, it);
}

static int compile_map(cctx *c, const ward_node *map, dmap *m) {
    if (map->n == 0) {
        err_at(c, map, "empty selection map");
        return -1;
    }
    m->it = calloc(map->n, sizeof(ditem));
    if (!m->it) {
        err_at(c, map, "out of memory");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < map->n; i++) {
        m->n++;
        if (compile_item(c, map->keys[i], map->kids[i], &m->it[i]) < 0)
            rc = -1;
    }
    return rc;
}

static int compile_sel(cctx *c, const ward_node *key, const ward_node *n, dsel *s) {
    if (n->type == WARD_NODE_MAP) {
        s->m = calloc(1, sizeof(dmap));
        if (!s->m) {
            err_at(c, n, "out of memory");
            return -1;
        }
        s->nm = 1;
        return compile_map(c, n, &s->m[0]);
    }
    if (n->type == WARD_NODE_SCALAR || n->type == WARD_NODE_SEQ) {
        int maps = 0, scalars = 0, other = 0;
        if (n->type == WARD_NODE_SCALAR)
            scalars = 1;
        for (size_t i = 0; n->type == WARD_NODE_SEQ && i < n->n; i++) {
            int t = n->kids[i]->type;
            maps += t == WARD_NODE_MAP;
            scalars += t == WARD_NODE_SCALAR || t == WARD_NODE_NULL;
            other += t == WARD_NODE_SEQ;
        }
        if (n->type == WARD_NODE_SEQ && n->n == 0) {
            err_at(c, n, "selection '%s' is an empty list", key->str);
            return -1;
        }
        if (other || (maps && scalars)) {
            err_at(c, n,
                   "selection '%s' must be a map, a list of maps or a list of keywords "
                   "(strings or numbers)",
                   key->str);
            return -1;
        }
        if (maps) {
            s->m = calloc(n->n, sizeof(dmap));
            if (!s->m) {
                err_at(c, n, "out of memory");
                return -1;
            }
            int rc = 0;
            for (size_t i = 0; i < n->n; i++) {
                s->nm++;
                if (compile_map(c, n->kids[i], &s->m[i]) < 0)
                    rc = -1;
            }
            return rc;
        }
        /* Keywords: one item without a field, one group per keyword. */
        s->m = calloc(1, sizeof(dmap));
        if (!s->m || !(s->m[0].it = calloc(1, sizeof(ditem)))) {
            err_at(c, n, "out of memory");
            return -1;
        }
        s->nm = 1;
        s->m[0].n = 1;
        spec sp;
        memset(&sp, 0, sizeof(sp));
        sp.cmp = M_CONTAINS;
        sp.field = KEYWORD_FIELD;
        int rc = 0;
        if (n->type == WARD_NODE_SCALAR)
            return item_add_group(c, &sp, 1, n, &s->m[0].it[0]);
        for (size_t i = 0; i < n->n; i++)
            if (item_add_group(c, &sp, 1, n->kids[i], &s->m[0].it[0]) < 0)
                rc = -1;
        return rc;
    }
    err_at(c, n, "selection '%s' is empty", key->str);
    return -1;
}

/* ---- condition parser ---- */

enum tok {
    T_EOF,
    T_LP,
    T_RP,
    T_AND,
    T_OR,
    T_NOT,
    T_OF,
    T_THEM,
    T_ALL,
    T_ANY,
    T_NUM,
    T_NAME,
    T_BAD
};

typedef struct cparse {
    cctx *c;
    const ward_node *node;
    const char *s;
    size_t n, pos;
    int tok;
    size_t ts, tl; /* current token's start and length */
    int depth;
    size_t base; /* first selection of the namespace */
    int failed;
} cparse;

static int name_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '*' || ch == '-' || ch == '.';
}

__attribute__((format(printf, 3, 4))) static int perr(cparse *p, size_t at, const char *fmt, ...) {
    if (p->failed)
        return -1;
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const ward_node *n = p->node;
    /* A plain one-line condition is written as it is read: the diagnostic can point at
     * the very character. Otherwise (quotes, folded lines) it points at the value. */
    if (n && n->type == WARD_NODE_SCALAR && n->plain && n->col > 0 && !memchr(p->s, '\n', p->n) &&
        at <= (size_t)(INT32_MAX - n->col)) {
        ward_node pos = *n;
        pos.col = n->col + (int)at;
        err_at(p->c, &pos, "condition: %s at column %zu", msg, at + 1);
    } else {
        err_at(p->c, n, "condition: %s at column %zu", msg, at + 1);
    }
    p->failed = 1;
    return -1;
}

static int word_is(const cparse *p, const char *w) {
    return strlen(w) == p->tl && strncasecmp(p->s + p->ts, w, p->tl) == 0;
}

static void next(cparse *p) {
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                             p->s[p->pos] == '\r'))
        p->pos++;
    p->ts = p->pos;
    p->tl = 0;
    if (p->pos >= p->n) {
        p->tok = T_EOF;
        return;
    }
    char ch = p->s[p->pos];
    if (ch == '(' || ch == ')') {
        p->tok = ch == '(' ? T_LP : T_RP;
        p->tl = 1;
        p->pos++;
        return;
    }
    if (!name_char(ch)) {
        p->tok = T_BAD;
        p->tl = 1;
        return;
    }
    while (p->pos < p->n && name_char(p->s[p->pos]))
        p->pos++;
    p->tl = p->pos - p->ts;
    int digits = 1;
    for (size_t i = 0; i < p->tl; i++)
        if (p->s[p->ts + i] < '0' || p->s[p->ts + i] > '9')
            digits = 0;
    p->tok = digits               ? T_NUM
             : word_is(p, "and")  ? T_AND
             : word_is(p, "or")   ? T_OR
             : word_is(p, "not")  ? T_NOT
             : word_is(p, "of")   ? T_OF
             : word_is(p, "them") ? T_THEM
             : word_is(p, "all")  ? T_ALL
             : word_is(p, "any")  ? T_ANY
                                  : T_NAME;
}

static int tok_error(cparse *p) {
    if (p->tok == T_EOF)
        return perr(p, p->ts, "unexpected end of condition");
    if (p->tok == T_BAD) {
        char ch = p->s[p->ts];
        if (ch == '|')
            return perr(p, p->ts, "aggregations ('|') are not supported; use ward's threshold");
        if ((unsigned char)ch < 0x20 || (unsigned char)ch >= 0x7f)
            return perr(p, p->ts, "unexpected byte 0x%02x", (unsigned char)ch);
        return perr(p, p->ts, "unexpected character '%c'", ch);
    }
    if (p->tok == T_RP)
        return perr(p, p->ts,
                    p->ts > 0 && p->s[p->ts - 1] == '(' ? "empty parentheses"
                                                        : "unbalanced parentheses: unexpected ')'");
    return perr(p, p->ts, "unexpected '%.*s'", (int)p->tl, p->s + p->ts);
}

/* Appends a node (takes k). Returns its index or -1. */
static int cnode_add(cparse *p, int op, int sel, int *k, size_t nk) {
    ward_detection *det = p->c->det;
    if (det->nc == det->capc) {
        size_t nc = det->capc ? det->capc * 2 : 16;
        cnode *q = realloc(det->c, nc * sizeof(*q));
        if (!q) {
            free(k);
            return perr(p, p->ts, "out of memory");
        }
        det->c = q;
        det->capc = nc;
    }
    cnode *cn = &det->c[det->nc];
    cn->op = (uint8_t)op;
    cn->sel = sel;
    cn->k = k;
    cn->nk = nk;
    return (int)det->nc++;
}

static int ipush(int **v, size_t *n, int x) {
    int *q = realloc(*v, (*n + 1) * sizeof(int));
    if (!q)
        return -1;
    *v = q;
    q[(*n)++] = x;
    return 0;
}

static int glob_names(const char *pat, size_t pn, const char *s) {
    /* '*' in selection patterns; no '?' or escapes (Sigma allows only '*'). */
    size_t sn = strlen(s), pi = 0, si = 0, star = SIZE_MAX, mark = 0;
    while (si < sn) {
        if (pi < pn && pat[pi] != '*' && pat[pi] == s[si]) {
            pi++;
            si++;
        } else if (pi < pn && pat[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (star != SIZE_MAX) {
            pi = star + 1;
            si = ++mark;
        } else {
            return 0;
        }
    }
    while (pi < pn && pat[pi] == '*')
        pi++;
    return pi == pn;
}

static int parse_or(cparse *p);

static int parse_primary(cparse *p) {
    ward_detection *det = p->c->det;
    if (p->tok == T_LP) {
        size_t at = p->ts;
        if (++p->depth > MAX_COND_DEPTH)
            return perr(p, at, "nesting deeper than %d", MAX_COND_DEPTH);
        next(p);
        int e = parse_or(p);
        if (e < 0)
            return -1;
        if (p->tok != T_RP) {
            if (p->tok == T_EOF)
                return perr(p, at, "unbalanced parentheses: '(' is never closed");
            return tok_error(p);
        }
        p->depth--;
        next(p);
        return e;
    }
    if (p->tok == T_NUM || p->tok == T_ALL || p->tok == T_ANY) {
        size_t at = p->ts;
        int all = p->tok == T_ALL;
        if (p->tok == T_NUM && !(p->tl == 1 && p->s[p->ts] == '1'))
            return perr(p, at, "'%.*s of' is not supported: use '1 of', 'any of' or 'all of'",
                        (int)p->tl, p->s + p->ts);
        char q[32];
        snprintf(q, sizeof(q), "%.*s", (int)(p->tl < 20 ? p->tl : 20), p->s + p->ts);
        next(p);
        if (p->tok != T_OF) {
            if (p->tok == T_EOF || p->tok == T_BAD)
                return tok_error(p);
            return perr(p, p->ts, "expected 'of' after '%s', found '%.*s'", q, (int)p->tl,
                        p->s + p->ts);
        }
        next(p);
        if (p->tok != T_THEM && p->tok != T_NAME)
            return p->tok == T_EOF || p->tok == T_BAD
                       ? tok_error(p)
                       : perr(p, p->ts, "expected a selection pattern or 'them' after 'of'");
        int *k = NULL;
        size_t nk = 0;
        for (size_t i = p->base; i < det->nsel; i++) {
            const char *nm = det->sel[i].name + det->sel[i].short_off;
            int ok = p->tok == T_THEM ? nm[0] != '_' : glob_names(p->s + p->ts, p->tl, nm);
            if (ok && ipush(&k, &nk, (int)i) < 0) {
                free(k);
                return perr(p, p->ts, "out of memory");
            }
        }
        if (nk == 0) {
            free(k);
            if (p->tok == T_THEM)
                return perr(p, p->ts, "'them' matches no selection");
            return perr(p, p->ts, "'%.*s' matches no selection", (int)p->tl, p->s + p->ts);
        }
        next(p);
        return cnode_add(p, all ? C_ALL : C_ANY, -1, k, nk);
    }
    if (p->tok == T_NAME) {
        if (memchr(p->s + p->ts, '*', p->tl))
            return perr(p, p->ts, "pattern '%.*s' is only allowed after '1 of' or 'all of'",
                        (int)p->tl, p->s + p->ts);
        for (size_t i = p->base; i < det->nsel; i++) {
            const char *nm = det->sel[i].name + det->sel[i].short_off;
            if (strlen(nm) == p->tl && memcmp(nm, p->s + p->ts, p->tl) == 0) {
                next(p);
                return cnode_add(p, C_SEL, (int)i, NULL, 0);
            }
        }
        return perr(p, p->ts, "unknown selection '%.*s'", (int)p->tl, p->s + p->ts);
    }
    return tok_error(p);
}

static int parse_not(cparse *p) {
    if (p->tok != T_NOT)
        return parse_primary(p);
    size_t at = p->ts;
    if (++p->depth > MAX_COND_DEPTH)
        return perr(p, at, "nesting deeper than %d", MAX_COND_DEPTH);
    next(p);
    int x = parse_not(p);
    p->depth--;
    if (x < 0)
        return -1;
    int *k = malloc(sizeof(int));
    if (!k)
        return perr(p, at, "out of memory");
    k[0] = x;
    return cnode_add(p, C_NOT, -1, k, 1);
}

/* A run of 'sub' joined by the binary operator tok becomes one n-ary node. */
static int parse_nary(cparse *p, int optok, int op, int (*sub)(cparse *)) {
    int first = sub(p);
    if (first < 0 || p->tok != optok)
        return first;
    int *k = NULL;
    size_t nk = 0;
    if (ipush(&k, &nk, first) < 0)
        return perr(p, p->ts, "out of memory");
    while (p->tok == optok) {
        next(p);
        int x = sub(p);
        if (x < 0 || ipush(&k, &nk, x) < 0) {
            free(k);
            return x < 0 ? -1 : perr(p, p->ts, "out of memory");
        }
    }
    return cnode_add(p, op, -1, k, nk);
}

static int parse_and(cparse *p) {
    return parse_nary(p, T_AND, C_AND, parse_not);
}

static int parse_or(cparse *p) {
    return parse_nary(p, T_OR, C_OR, parse_and);
}

static int parse_condition(cctx *c, const ward_node *cn, size_t base) {
    if (cn->len > MAX_COND_LEN) {
        err_at(c, cn, "condition longer than %d bytes", MAX_COND_LEN);
        return -1;
    }
    cparse p;
    memset(&p, 0, sizeof(p));
    p.c = c;
    p.node = cn;
    p.s = cn->str;
    p.n = cn->len;
    p.base = base;
    next(&p);
    if (p.tok == T_EOF)
        return perr(&p, 0, "empty condition");
    int root = parse_or(&p);
    if (root < 0)
        return -1;
    if (p.tok != T_EOF) {
        if (p.tok == T_RP || p.tok == T_BAD)
            return tok_error(&p);
        return perr(&p, p.ts, "unexpected '%.*s' after the end of the expression", (int)p.tl,
                    p.s + p.ts);
    }
    return root;
}

/* ---- compiling a detection or a filter into det ---- */

static void rollback(ward_detection *det, size_t nsel, size_t nc) {
    while (det->nsel > nsel)
        sel_fini(&det->sel[--det->nsel]);
    while (det->nc > nc)
        free(det->c[--det->nc].k);
}

/* Compiles the detection map n into det's namespace ns (selection names shown with
 * prefix). Sets *root. Returns 0, or -1 after reporting every error (det unchanged). */
static int compile_ns(ward_detection *det, const ward_node *n, int ns, const char *prefix,
                      const char *file, const char *rule_id, ward_diags *d, int *root) {
    cctx c = {det, file, rule_id, d, 0, ns, prefix};
    size_t nsel0 = det->nsel, nc0 = det->nc;
    const char *what = ns ? "filter" : "detection";
    if (!n || n->type != WARD_NODE_MAP) {
        err_at(&c, n, "%s must be a map of selections and a condition", what);
        return -1;
    }
    const ward_node *cond = NULL;
    for (size_t i = 0; i < n->n; i++) {
        const ward_node *key = n->keys[i];
        if (strcmp(key->str, "condition") == 0) {
            if (cond)
                err_at(&c, key, "condition given twice");
            cond = n->kids[i];
            continue;
        }
        if (strcmp(key->str, "timeframe") == 0) {
            err_at(&c, key, "timeframe is not supported; use ward's threshold");
            continue;
        }
        int dup = 0;
        for (size_t j = nsel0; j < det->nsel; j++)
            if (strcmp(det->sel[j].name + det->sel[j].short_off, key->str) == 0)
                dup = 1;
        if (dup) {
            err_at(&c, key, "selection '%s' defined twice", key->str);
            continue;
        }
        if (det->nsel >= MAX_SEL) {
            err_at(&c, key, "too many selections (max %d)", MAX_SEL);
            continue;
        }
        if (det->nsel == det->capsel) {
            size_t nc = det->capsel ? det->capsel * 2 : 8;
            dsel *q = realloc(det->sel, nc * sizeof(*q));
            if (!q) {
                err_at(&c, key, "out of memory");
                continue;
            }
            det->sel = q;
            det->capsel = nc;
        }
        dsel *s = &det->sel[det->nsel++];
        memset(s, 0, sizeof(*s));
        s->ns = ns;
        s->short_off = strlen(prefix);
        if (asprintf(&s->name, "%s%s", prefix, key->str) < 0) {
            s->name = NULL;
            det->nsel--;
            err_at(&c, key, "out of memory");
            continue;
        }
        /* A selection with errors stays (empty) so the condition can name it. */
        compile_sel(&c, key, n->kids[i], s);
    }
    if (!cond) {
        err_at(&c, n, "%s has no condition", what);
    } else if (cond->type == WARD_NODE_SCALAR) {
        *root = parse_condition(&c, cond, nsel0);
    } else if (cond->type == WARD_NODE_SEQ && cond->n > 0) {
        /* Sigma: a list of conditions is their OR. */
        int *k = NULL;
        size_t nk = 0;
        for (size_t i = 0; i < cond->n; i++) {
            const ward_node *ci = cond->kids[i];
            if (ci->type != WARD_NODE_SCALAR) {
                err_at(&c, ci, "condition must be a string or a list of strings");
                continue;
            }
            int r = parse_condition(&c, ci, nsel0);
            if (r >= 0 && ipush(&k, &nk, r) < 0)
                err_at(&c, ci, "out of memory");
        }
        if (!c.errors) {
            cparse p;
            memset(&p, 0, sizeof(p));
            p.c = &c;
            p.node = cond;
            *root = cnode_add(&p, C_OR, -1, k, nk);
        } else {
            free(k);
        }
    } else {
        err_at(&c, cond, "condition must be a string or a list of strings");
    }
    if (c.errors) {
        rollback(det, nsel0, nc0);
        return -1;
    }
    return 0;
}

/* Whether a selection map of the detection node n has a key naming field (before any
 * '|'). */
static int names_field(const ward_node *n, const char *field) {
    size_t fl = strlen(field);
    for (size_t i = 0; n && n->type == WARD_NODE_MAP && i < n->n; i++) {
        const ward_node *sel = n->kids[i];
        size_t nm = !sel                         ? 0
                    : sel->type == WARD_NODE_MAP ? 1
                    : sel->type == WARD_NODE_SEQ ? sel->n
                                                 : 0;
        for (size_t m = 0; m < nm; m++) {
            const ward_node *map = sel->type == WARD_NODE_MAP ? sel : sel->kids[m];
            for (size_t k = 0; map && map->type == WARD_NODE_MAP && k < map->n; k++) {
                const ward_node *key = map->keys[k];
                if (key->len >= fl && memcmp(key->str, field, fl) == 0 &&
                    (key->len == fl || key->str[fl] == '|'))
                    return 1;
            }
        }
    }
    return 0;
}

ward_detection *ward_detect_compile(const ward_node *detection, const char *file,
                                    const char *rule_id, ward_diags *d) {
    return ward_detect_compile_mapped(detection, NULL, 0, file, rule_id, d);
}

ward_detection *ward_detect_compile_mapped(const ward_node *detection, const ward_fieldmap *map,
                                           size_t nmap, const char *file, const char *rule_id,
                                           ward_diags *d) {
    ward_detection *det = calloc(1, sizeof(*det));
    if (!det) {
        ward_diags_add(d, file, detection ? detection->line : 0, detection ? detection->col : 0,
                       rule_id, "out of memory");
        return NULL;
    }
    if (map && nmap > 64) {
        /* map_off has one bit per entry */
        ward_diags_add(d, file, detection ? detection->line : 0, detection ? detection->col : 0,
                       rule_id, "field map of %zu entries (at most 64)", nmap);
        free(det);
        return NULL;
    }
    det->map = map;
    det->nmap = map ? nmap : 0;
    for (size_t i = 0; i < det->nmap; i++)
        if (map[i].unless && names_field(detection, map[i].unless))
            det->map_off |= (uint64_t)1 << i;
    if (compile_ns(det, detection, 0, "", file, rule_id, d, &det->root) < 0) {
        ward_detect_free(det);
        return NULL;
    }
    det->nns = 1;
    return det;
}

int ward_detect_add_filter(ward_detection *det, const ward_node *filter, const char *file,
                           const char *rule_id, ward_diags *d) {
    if (!det)
        return -1;
    char prefix[32];
    if (det->nns == 1)
        snprintf(prefix, sizeof(prefix), "filter:");
    else
        snprintf(prefix, sizeof(prefix), "filter%d:", det->nns);
    size_t nsel0 = det->nsel, nc0 = det->nc;
    int froot = -1;
    if (compile_ns(det, filter, det->nns, prefix, file, rule_id, d, &froot) < 0)
        return -1;
    int *k = malloc(2 * sizeof(int));
    cctx c = {det, file, rule_id, d, 0, det->nns, prefix};
    cparse p;
    memset(&p, 0, sizeof(p));
    p.c = &c;
    p.node = filter;
    int r = -1;
    if (k) {
        k[0] = det->root;
        k[1] = froot;
        r = cnode_add(&p, C_AND, -1, k, 2);
    } else {
        err_at(&c, filter, "out of memory");
    }
    if (r < 0) {
        rollback(det, nsel0, nc0);
        return -1;
    }
    det->root = r;
    det->nns++;
    return 0;
}

/* ---- evaluation ---- */

static int find_ci(const uint8_t *h, size_t hn, const uint8_t *p, size_t pn) {
    if (pn == 0)
        return 1;
    if (pn > hn)
        return 0;
    uint8_t f = p[0];
    for (size_t i = 0; i + pn <= hn; i++) {
        if (lc(h[i]) != f)
            continue;
        size_t j = 1;
        while (j < pn && lc(h[i + j]) == p[j])
            j++;
        if (j == pn)
            return 1;
    }
    return 0;
}

static int eq_bytes(const uint8_t *a, const uint8_t *p, size_t n, int cased) {
    if (cased)
        return memcmp(a, p, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (lc(a[i]) != p[i])
            return 0;
    return 1;
}

/* Length of the character at s (n > 0 bytes left): a valid UTF-8 sequence, else the
 * one byte, so that text in other encodings still steps byte by byte. */
static size_t u8len(const uint8_t *s, size_t n) {
    size_t len = s[0] < 0xC2 ? 1 : s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : s[0] < 0xF5 ? 4 : 1;
    if (len > n)
        return 1;
    for (size_t k = 1; k < len; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 1;
    if (len == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0)))
        return 1; /* overlong, surrogate */
    if (len == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)))
        return 1; /* overlong, above U+10FFFF */
    return len;
}

/* '?' is one character and '*' gives back whole characters, so neither splits a UTF-8
 * sequence (a star that gave back one byte would let '?' match a lone continuation byte);
 * with bytes, both work on bytes. */
static int glob_match(const uint16_t *t, size_t m, const uint8_t *s, size_t n, int cased,
                      int bytes) {
    size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;
    while (si < n) {
        uint16_t ch = cased ? s[si] : lc(s[si]);
        if (pi < m && t[pi] == TOK_ONE) {
            pi++;
            si += bytes ? 1 : u8len(s + si, n - si);
        } else if (pi < m && t[pi] == ch) {
            pi++;
            si++;
        } else if (pi < m && t[pi] == TOK_STAR) {
            star = pi++;
            mark = si;
        } else if (star != SIZE_MAX) {
            pi = star + 1;
            mark += bytes ? 1 : u8len(s + mark, n - mark);
            si = mark;
        } else {
            return 0;
        }
    }
    while (pi < m && t[pi] == TOK_STAR)
        pi++;
    return pi == m;
}

static int dval_eval(const dval *v, const ward_field *f, ward_match_ctx *mc) {
    if (v->kind == V_NULL)
        return !f || f->val_len == 0;
    if (v->kind == V_EXISTS)
        return (f != NULL) == v->bval;
    if (!f)
        return R_FALSE;
    const uint8_t *s = (const uint8_t *)f->val;
    size_t n = f->val_len;
    switch (v->kind) {
    case V_EQ:
        return n == v->plen && eq_bytes(s, v->pat, n, v->cased);
    case V_START:
        return n >= v->plen && eq_bytes(s, v->pat, v->plen, v->cased);
    case V_END:
        return n >= v->plen && eq_bytes(s + n - v->plen, v->pat, v->plen, v->cased);
    case V_CONTAINS:
        if (v->cased)
            return v->plen == 0 || memmem(s, n, v->pat, v->plen) != NULL;
        return find_ci(s, n, v->pat, v->plen);
    case V_GLOB:
        return glob_match(v->glob, v->glen, s, n, v->cased, v->op);
    case V_RE: {
        int r = ward_re_match(v->re, s, n, mc);
        return r < 0 ? R_LIMIT : r;
    }
    case V_CIDR: {
        uint8_t a[16];
        int fam = parse_ip(f->val, n, a);
        if (fam != (v->fam == 4 ? AF_INET : AF_INET6))
            return R_FALSE;
        return prefix_eq(a, v->net, v->prefix);
    }
    case V_NUM: {
        double x;
        if (parse_num(f->val, n, &x) < 0)
            return R_FALSE;
        switch (v->op) {
        case N_LT:
            return x < v->num;
        case N_LTE:
            return x <= v->num;
        case N_GT:
            return x > v->num;
        default:
            return x >= v->num;
        }
    }
    default:
        return R_FALSE;
    }
}

static int group_eval(const dgroup *g, const ward_field *f, ward_match_ctx *mc) {
    int lim = 0;
    for (size_t i = 0; i < g->n; i++) {
        int r = dval_eval(&g->v[i], f, mc);
        if (r == R_TRUE)
            return R_TRUE;
        lim |= r == R_LIMIT;
    }
    return lim ? R_LIMIT : R_FALSE;
}

/* The item on one field value (f NULL: the event has none). */
static int item_eval_on(const ditem *it, const ward_field *f, ward_match_ctx *mc) {
    if (it->neq && !f)
        return R_FALSE;
    int lim = 0;
    int any = 0;
    for (size_t i = 0; i < it->ng; i++) {
        int r = group_eval(&it->g[i], f, mc);
        if (it->all && r == R_FALSE)
            return R_FALSE;
        if (!it->all && r == R_TRUE) {
            any = 1;
            break;
        }
        lim |= r == R_LIMIT;
    }
    int res = it->all ? (lim ? R_LIMIT : R_TRUE) : any ? R_TRUE : lim ? R_LIMIT : R_FALSE;
    if (it->neq)
        res = res == R_LIMIT ? R_LIMIT : !res;
    return res;
}

/* What a keyword search looks at: the message, with the blank that separates it from the
 * rest of the line on either side (a decoder's message leaves out the blank after
 * "prog[pid]:"), so that a keyword written with a leading or trailing blank, as Sigma
 * rules do (' denied AXFR from '), also finds it at the message's start or end. The
 * span is still a part of the line. */
static const ward_field *keyword_span(const ward_event *ev, const ward_field *f, ward_field *view) {
    if (!f)
        return f;
    /* the line, or the buffer a reader put the line and its own fields in */
    const uint8_t *bufs[2] = {ev->line, ev->scan};
    size_t lens[2] = {ev->line_len, ev->scan_len};
    uintptr_t v = (uintptr_t)f->val;
    for (int i = 0; i < 2; i++) {
        uintptr_t b = (uintptr_t)bufs[i];
        if (!bufs[i] || v < b || v - b > lens[i] || f->val_len > lens[i] - (v - b))
            continue;
        size_t off = v - b, n = f->val_len;
        if (off > 0 && (bufs[i][off - 1] == ' ' || bufs[i][off - 1] == '\t')) {
            off--;
            n++;
        }
        if (off + n < lens[i] && (bufs[i][off + n] == ' ' || bufs[i][off + n] == '\t'))
            n++;
        *view = *f;
        view->val = (const char *)bufs[i] + off;
        view->val_len = n;
        return view;
    }
    return f; /* not a part of the line (built by the decoder) */
}

/* The value of renamed field k of it in ev, in *view when derived; NULL when absent. */
static const ward_field *mapped_field(const ditem *it, size_t k, const ward_event *ev,
                                      ward_field *view) {
    const ward_field *src = ward_event_get(ev, it->f[k].name);
    if (!src || it->f[k].derive == WARD_DERIVE_NONE)
        return src;
    const char *v;
    size_t vl;
    if (!ward_derive_value((ward_derive)it->f[k].derive, it->f[k].key, src->val, src->val_len, &v,
                           &vl))
        return NULL;
    view->name = src->name;
    view->val = v;
    view->val_len = vl;
    return view;
}

static int item_eval(const ditem *it, const ward_event *ev, ward_match_ctx *mc) {
    if (!it->field) {
        const ward_field *f = ward_event_get(ev, KEYWORD_FIELD);
        if (!f)
            f = ward_event_get(ev, KEYWORD_FALLBACK);
        ward_field view;
        return item_eval_on(it, keyword_span(ev, f, &view), mc);
    }
    if (!it->f)
        return item_eval_on(it, ward_event_get(ev, it->field), mc);
    int lim = 0;
    for (size_t k = 0; k < it->nf; k++) {
        ward_field view;
        int r = item_eval_on(it, mapped_field(it, k, ev, &view), mc);
        if (r == R_TRUE)
            return R_TRUE;
        lim |= r == R_LIMIT;
    }
    return lim ? R_LIMIT : R_FALSE;
}

static int sel_eval(const dsel *s, const ward_event *ev, ward_match_ctx *mc) {
    int lim = 0;
    for (size_t i = 0; i < s->nm; i++) {
        int mres = R_TRUE;
        for (size_t j = 0; j < s->m[i].n; j++) {
            int r = item_eval(&s->m[i].it[j], ev, mc);
            if (r == R_FALSE) {
                mres = R_FALSE;
                break;
            }
            if (r == R_LIMIT)
                mres = R_LIMIT;
        }
        if (mres == R_TRUE)
            return R_TRUE;
        lim |= mres == R_LIMIT;
    }
    return lim ? R_LIMIT : R_FALSE;
}

typedef struct evstate {
    const ward_detection *det;
    const ward_event *ev;
    ward_match_ctx *mc;
    uint8_t memo[MAX_SEL]; /* 0 unknown, else verdict + 1 */
} evstate;

static int sel_memo(evstate *st, int i) {
    if (!st->memo[i])
        st->memo[i] = (uint8_t)(sel_eval(&st->det->sel[i], st->ev, st->mc) + 1);
    return st->memo[i] - 1;
}

static int cond_eval(evstate *st, int idx) {
    const cnode *cn = &st->det->c[idx];
    int lim = 0;
    switch (cn->op) {
    case C_SEL:
        return sel_memo(st, cn->sel);
    case C_NOT: {
        int r = cond_eval(st, cn->k[0]);
        return r == R_LIMIT ? R_LIMIT : !r;
    }
    case C_AND:
    case C_ALL:
        for (size_t i = 0; i < cn->nk; i++) {
            int r = cn->op == C_AND ? cond_eval(st, cn->k[i]) : sel_memo(st, cn->k[i]);
            if (r == R_FALSE)
                return R_FALSE;
            lim |= r == R_LIMIT;
        }
        return lim ? R_LIMIT : R_TRUE;
    default: /* C_OR, C_ANY */
        for (size_t i = 0; i < cn->nk; i++) {
            int r = cn->op == C_OR ? cond_eval(st, cn->k[i]) : sel_memo(st, cn->k[i]);
            if (r == R_TRUE)
                return R_TRUE;
            lim |= r == R_LIMIT;
        }
        return lim ? R_LIMIT : R_FALSE;
    }
}

int ward_detect_match(const ward_detection *det, const ward_event *ev, ward_match_ctx *mc) {
    if (!det)
        return 0;
    evstate st;
    st.det = det;
    st.ev = ev;
    st.mc = mc;
    memset(st.memo, 0, det->nsel);
    int r = cond_eval(&st, det->root);
    return r == R_LIMIT ? -1 : r;
}

/* Whether an item before (s, m, i) names the same field as written. */
static int item_seen_before(const ward_detection *det, size_t s, size_t m, size_t i) {
    const char *name = det->sel[s].m[m].it[i].field;
    for (size_t s2 = 0; s2 <= s; s2++)
        for (size_t m2 = 0; (s2 < s || m2 <= m) && m2 < det->sel[s2].nm; m2++)
            for (size_t i2 = 0; i2 < det->sel[s2].m[m2].n; i2++) {
                if (s2 == s && m2 == m && i2 >= i)
                    break;
                const char *f = det->sel[s2].m[m2].it[i2].field;
                if (f && strcmp(f, name) == 0)
                    return 1;
            }
    return 0;
}

static const char *verdict(int r) {
    return r == R_TRUE ? "true" : r == R_FALSE ? "false" : "limit";
}

void ward_detect_explain(const ward_detection *det, const ward_event *ev, ward_match_ctx *mc,
                         char *buf, size_t len) {
    if (!len)
        return;
    buf[0] = 0;
    if (!det)
        return;
    evstate st;
    st.det = det;
    st.ev = ev;
    st.mc = mc;
    memset(st.memo, 0, det->nsel);
    size_t o = 0;
    for (size_t i = 0; i < det->nsel; i++) {
        int r = sel_memo(&st, (int)i);
        int w = snprintf(buf + o, len - o, "%s=%s ", det->sel[i].name, verdict(r));
        if (w < 0 || (size_t)w >= len - o)
            return; /* truncated, still NUL-terminated */
        o += (size_t)w;
    }
    int w = snprintf(buf + o, len - o, "condition=%s", verdict(cond_eval(&st, det->root)));
    if (w < 0 || (size_t)w >= len - o)
        return;
    o += (size_t)w;
    /* The renamed fields, once each: "c-uri=cs-uri cs-host=cs-host|host(cs-uri)". */
    const char *sep = " fields:";
    for (size_t s = 0; s < det->nsel; s++)
        for (size_t m = 0; m < det->sel[s].nm; m++)
            for (size_t i = 0; i < det->sel[s].m[m].n; i++) {
                const ditem *it = &det->sel[s].m[m].it[i];
                if (!it->f || item_seen_before(det, s, m, i))
                    continue;
                w = snprintf(buf + o, len - o, "%s %s=", sep, it->field);
                sep = "";
                for (size_t k = 0; w >= 0 && (size_t)w < len - o && k < it->nf; k++) {
                    o += (size_t)w;
                    const dfield *df = &it->f[k];
                    if (df->derive == WARD_DERIVE_NONE)
                        w = snprintf(buf + o, len - o, "%s%s", k ? "|" : "", df->name);
                    else if (df->key)
                        w = snprintf(buf + o, len - o, "%s%s(%s,%s)", k ? "|" : "",
                                     ward_derive_name((ward_derive)df->derive), df->name, df->key);
                    else
                        w = snprintf(buf + o, len - o, "%s%s(%s)", k ? "|" : "",
                                     ward_derive_name((ward_derive)df->derive), df->name);
                }
                if (w < 0 || (size_t)w >= len - o)
                    return;
                o += (size_t)w;
            }
}

void ward_detect_fields(const ward_detection *det, ward_detect_field_fn fn, void *ctx) {
    for (size_t s = 0; det && s < det->nsel; s++)
        for (size_t m = 0; m < det->sel[s].nm; m++)
            for (size_t i = 0; i < det->sel[s].m[m].n; i++) {
                const ditem *it = &det->sel[s].m[m].it[i];
                if (!it->field || item_seen_before(det, s, m, i))
                    continue;
                const char *names[WARD_FIELDMAP_MAX];
                size_t n = 0;
                if (!it->f)
                    names[n++] = it->field;
                for (size_t k = 0; it->f && k < it->nf && n < WARD_FIELDMAP_MAX; k++)
                    names[n++] = it->f[k].name;
                fn(it->field, names, n, ctx);
            }
}

size_t ward_detect_regex_count(const ward_detection *det) {
    size_t n = 0;
    for (size_t s = 0; det && s < det->nsel; s++)
        for (size_t m = 0; m < det->sel[s].nm; m++)
            for (size_t i = 0; i < det->sel[s].m[m].n; i++) {
                const ditem *it = &det->sel[s].m[m].it[i];
                for (size_t g = 0; g < it->ng; g++)
                    for (size_t v = 0; v < it->g[g].n; v++)
                        n += it->g[g].v[v].kind == V_RE;
            }
    return n;
}

/* ---- identity ---- */

typedef struct hasher {
    uint64_t h;
} hasher;

static void h_bytes(hasher *x, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        x->h ^= b[i];
        x->h *= 0x100000001b3ull; /* FNV-1a */
    }
}

static void h_u64(hasher *x, uint64_t v) {
    h_bytes(x, &v, sizeof(v));
}

static void h_dval(hasher *x, const dval *v) {
    uint8_t hdr[6] = {v->kind, v->cased, v->op, v->fam, v->prefix, v->bval};
    h_bytes(x, hdr, sizeof(hdr));
    h_u64(x, v->plen);
    if (v->plen)
        h_bytes(x, v->pat, v->plen);
    h_u64(x, v->glen);
    if (v->glen)
        h_bytes(x, v->glob, v->glen * sizeof(*v->glob));
    h_u64(x, v->reopts);
    h_bytes(x, v->net, sizeof(v->net));
    h_bytes(x, &v->num, sizeof(v->num));
}

uint64_t ward_detect_hash(const ward_detection *det) {
    hasher x = {0xcbf29ce484222325ull};
    if (!det)
        return x.h;
    h_u64(&x, det->nsel);
    for (size_t s = 0; s < det->nsel; s++) {
        h_u64(&x, det->sel[s].nm);
        for (size_t m = 0; m < det->sel[s].nm; m++) {
            const dmap *dm = &det->sel[s].m[m];
            h_u64(&x, dm->n);
            for (size_t i = 0; i < dm->n; i++) {
                const ditem *it = &dm->it[i];
                if (it->field)
                    h_bytes(&x, it->field, strlen(it->field) + 1);
                uint8_t fl[3] = {it->field != NULL, it->all, it->neq};
                h_bytes(&x, fl, sizeof(fl));
                h_u64(&x, it->nf);
                for (size_t k = 0; k < it->nf; k++) {
                    h_bytes(&x, it->f[k].name, strlen(it->f[k].name) + 1);
                    h_bytes(&x, &it->f[k].derive, 1);
                    if (it->f[k].key)
                        h_bytes(&x, it->f[k].key, strlen(it->f[k].key) + 1);
                }
                h_u64(&x, it->ng);
                for (size_t g = 0; g < it->ng; g++) {
                    h_u64(&x, it->g[g].n);
                    for (size_t v = 0; v < it->g[g].n; v++)
                        h_dval(&x, &it->g[g].v[v]);
                }
            }
        }
    }
    h_u64(&x, det->nc);
    h_u64(&x, (uint64_t)(int64_t)det->root);
    for (size_t c = 0; c < det->nc; c++) {
        const cnode *cn = &det->c[c];
        h_u64(&x, cn->op);
        h_u64(&x, (uint64_t)(int64_t)cn->sel);
        h_u64(&x, cn->nk);
        if (cn->nk)
            h_bytes(&x, cn->k, cn->nk * sizeof(*cn->k));
    }
    return x.h;
}

static int dval_equal(const dval *a, const dval *b) {
    return a->kind == b->kind && a->cased == b->cased && a->op == b->op && a->fam == b->fam &&
           a->prefix == b->prefix && a->bval == b->bval && a->plen == b->plen &&
           (a->plen == 0 || memcmp(a->pat, b->pat, a->plen) == 0) && a->glen == b->glen &&
           (a->glen == 0 || memcmp(a->glob, b->glob, a->glen * sizeof(*a->glob)) == 0) &&
           a->reopts == b->reopts && memcmp(a->net, b->net, sizeof(a->net)) == 0 &&
           a->num == b->num;
}

static int str_equal(const char *a, const char *b) {
    return (a == NULL) == (b == NULL) && (!a || strcmp(a, b) == 0);
}

static int item_equal(const ditem *a, const ditem *b) {
    if ((a->field == NULL) != (b->field == NULL) || (a->field && strcmp(a->field, b->field)) ||
        a->all != b->all || a->neq != b->neq || a->ng != b->ng || a->nf != b->nf)
        return 0;
    for (size_t k = 0; k < a->nf; k++)
        if (strcmp(a->f[k].name, b->f[k].name) != 0 || a->f[k].derive != b->f[k].derive ||
            !str_equal(a->f[k].key, b->f[k].key))
            return 0;
    for (size_t g = 0; g < a->ng; g++) {
        if (a->g[g].n != b->g[g].n)
            return 0;
        for (size_t v = 0; v < a->g[g].n; v++)
            if (!dval_equal(&a->g[g].v[v], &b->g[g].v[v]))
                return 0;
    }
    return 1;
}

int ward_detect_equal(const ward_detection *a, const ward_detection *b) {
    if (!a || !b)
        return a == b;
    if (a->nsel != b->nsel || a->nc != b->nc || a->root != b->root)
        return 0;
    for (size_t s = 0; s < a->nsel; s++) {
        if (a->sel[s].nm != b->sel[s].nm)
            return 0;
        for (size_t m = 0; m < a->sel[s].nm; m++) {
            const dmap *x = &a->sel[s].m[m], *y = &b->sel[s].m[m];
            if (x->n != y->n)
                return 0;
            for (size_t i = 0; i < x->n; i++)
                if (!item_equal(&x->it[i], &y->it[i]))
                    return 0;
        }
    }
    for (size_t c = 0; c < a->nc; c++) {
        const cnode *x = &a->c[c], *y = &b->c[c];
        if (x->op != y->op || x->sel != y->sel || x->nk != y->nk ||
            (x->nk && memcmp(x->k, y->k, x->nk * sizeof(*x->k)) != 0))
            return 0;
    }
    return 1;
}

/* ---- literals ---- */

#define MAX_MUST 16 /* required literals kept per detection */

/* What an expression tells the prefilter: alternatives (one of them occurs in every
 * match; any = nothing is known) and must (each occurs in every match). fresh marks the
 * identity of OR (no branch seen yet), so that the first branch's must is kept. */
typedef struct lset {
    int any, fresh;
    ward_lit *v;
    size_t n;
    ward_lit *m;
    size_t nm;
    ward_clause *cl; /* further required OR-sets (see ward_relit.clauses) */
    size_t ncl;
} lset;

static void lits_clear(ward_lit **v, size_t *n) {
    ward_lits_free(*v, *n);
    *v = NULL;
    *n = 0;
}

static void clauses_clear(lset *l) {
    ward_clauses_free(l->cl, l->ncl);
    l->cl = NULL;
    l->ncl = 0;
}

static void ls_free(lset *l) {
    lits_clear(&l->v, &l->n);
    lits_clear(&l->m, &l->nm);
    clauses_clear(l);
}

static int ls_add_clause(lset *l, const ward_lit *v, size_t n) {
    if (n < 2 || l->ncl >= WARD_RELIT_MAX_CLAUSES)
        return 0;
    return ward_clause_push(&l->cl, &l->ncl, v, n);
}

static void ls_any(lset *l) {
    lits_clear(&l->v, &l->n);
    l->any = 1;
}

static int lit_has(const ward_lit *v, size_t n, const uint8_t *s, size_t len, int caseless) {
    for (size_t i = 0; i < n; i++)
        if (v[i].len == len && v[i].caseless == caseless && memcmp(v[i].s, s, len) == 0)
            return 1;
    return 0;
}

static int ls_add(lset *l, const uint8_t *s, size_t len, int caseless) {
    l->fresh = 0;
    if (l->any || lit_has(l->v, l->n, s, len, caseless))
        return 0;
    if (l->n >= MAX_LITS) {
        ls_any(l);
        return 0;
    }
    return ward_lit_push(&l->v, &l->n, s, len, caseless);
}

static int ls_add_must(lset *l, const uint8_t *s, size_t len, int caseless) {
    if (len == 0 || l->nm >= MAX_MUST || lit_has(l->m, l->nm, s, len, caseless))
        return 0;
    return ward_lit_push(&l->m, &l->nm, s, len, caseless);
}

/* dst := dst OR src; src is consumed. What both sides require is still required. */
static int ls_union(lset *dst, lset *src) {
    int rc = 0;
    if (dst->fresh) {
        ls_free(dst);
        *dst = *src;
        dst->fresh = 0;
        memset(src, 0, sizeof(*src));
        return 0;
    }
    if (src->any)
        ls_any(dst);
    for (size_t i = 0; i < src->n && !dst->any && rc == 0; i++)
        rc = ls_add(dst, src->v[i].s, src->v[i].len, src->v[i].caseless);
    size_t k = 0;
    for (size_t i = 0; i < dst->nm; i++) {
        if (lit_has(src->m, src->nm, dst->m[i].s, dst->m[i].len, dst->m[i].caseless))
            dst->m[k++] = dst->m[i];
        else
            free(dst->m[i].s);
    }
    dst->nm = k;
    clauses_clear(dst); /* a clause of one branch is not required by the other */
    ls_free(src);
    src->any = 0;
    return rc;
}

static uint64_t ls_cost(const lset *l) {
    if (l->any || l->n == 0)
        return UINT64_MAX;
    uint64_t c = 0;
    for (size_t i = 0; i < l->n; i++)
        c += l->v[i].len >= 4 ? 1 : l->v[i].len == 3 ? 2 : l->v[i].len == 2 ? 8 : 64;
    return c;
}

/* dst := dst AND src: the better alternatives (either side's are sound) and what either
 * side requires; src is consumed. Returns 0 or -1. */
static int ls_best(lset *dst, lset *src) {
    int rc = 0;
    for (size_t i = 0; i < src->nm && rc == 0; i++)
        rc = ls_add_must(dst, src->m[i].s, src->m[i].len, src->m[i].caseless);
    for (size_t i = 0; i < src->ncl && rc == 0; i++)
        rc = ls_add_clause(dst, src->cl[i].v, src->cl[i].n);
    lits_clear(&src->m, &src->nm);
    clauses_clear(src);
    if (ls_cost(src) < ls_cost(dst)) {
        /* the losing alternatives are still required: a clause for the second stage */
        if (rc == 0 && !dst->any)
            rc = ls_add_clause(dst, dst->v, dst->n);
        lits_clear(&dst->v, &dst->n);
        dst->v = src->v;
        dst->n = src->n;
        dst->any = src->any;
        src->v = NULL;
        src->n = 0;
    } else if (rc == 0 && !src->any) {
        rc = ls_add_clause(dst, src->v, src->n);
    }
    dst->fresh = 0;
    ls_free(src);
    memset(src, 0, sizeof(*src));
    return rc;
}

/* A single alternative is itself required. */
static int ls_single_is_must(lset *l) {
    if (l->any || l->n != 1)
        return 0;
    return ls_add_must(l, l->v[0].s, l->v[0].len, l->v[0].caseless);
}

static int dval_lits(const dval *v, lset *out) {
    memset(out, 0, sizeof(*out));
    switch (v->kind) {
    case V_EQ:
    case V_START:
    case V_END:
    case V_CONTAINS:
    case V_GLOB:
        if (!v->lit)
            out->any = 1;
        else if (ls_add(out, v->lit, v->litlen, 1) < 0 || ls_single_is_must(out) < 0)
            return -1;
        return 0;
    case V_RE: {
        ward_relit r;
        char err[256];
        memset(&r, 0, sizeof(r));
        if (ward_relit_extract((const char *)v->pat, v->plen, v->reopts, &r, err, sizeof(err)) <
            0) {
            ward_relit_fini(&r);
            out->any = 1; /* compiled fine at load; be sound whatever the extractor says */
            return 0;
        }
        int rc = 0;
        if (r.any || r.nalts == 0) {
            out->any = 1;
        } else {
            for (size_t i = 0; i < r.nalts && rc == 0; i++) {
                if (r.alts[i].len == 0) {
                    ls_any(out);
                    break;
                }
                rc = ls_add(out, r.alts[i].s, r.alts[i].len, r.alts[i].caseless);
            }
            for (size_t i = 0; i < r.nmust && rc == 0; i++)
                rc = ls_add_must(out, r.must[i].s, r.must[i].len, r.must[i].caseless);
            for (size_t i = 0; i < r.nclauses && rc == 0; i++)
                rc = ls_add_clause(out, r.clauses[i].v, r.clauses[i].n);
        }
        ward_relit_fini(&r);
        return rc;
    }
    default:
        out->any = 1;
        return 0;
    }
}

static int item_lits(const ditem *it, lset *out) {
    memset(out, 0, sizeof(*out));
    if (it->neq) {
        out->any = 1;
        return 0;
    }
    if (it->all)
        out->any = 1; /* identity of "best" */
    else
        out->fresh = 1;
    for (size_t g = 0; g < it->ng; g++) {
        lset gs = {0};
        gs.fresh = 1;
        for (size_t v = 0; v < it->g[g].n; v++) {
            lset vs;
            if (dval_lits(&it->g[g].v[v], &vs) < 0 || ls_union(&gs, &vs) < 0) {
                ls_free(&vs);
                ls_free(&gs);
                return -1;
            }
        }
        if (gs.fresh)
            gs.any = 1; /* no value at all */
        int rc = it->all ? ls_best(out, &gs) : ls_union(out, &gs);
        if (rc < 0) {
            ls_free(&gs);
            return -1;
        }
    }
    if (out->fresh) {
        out->fresh = 0;
        out->any = 1;
    }
    return 0;
}

static int sel_lits(const dsel *s, lset *out) {
    memset(out, 0, sizeof(*out));
    if (s->nm == 0) {
        out->any = 1;
        return 0;
    }
    out->fresh = 1;
    for (size_t m = 0; m < s->nm; m++) {
        lset ms = {0};
        ms.any = 1;
        for (size_t i = 0; i < s->m[m].n; i++) {
            lset is;
            if (item_lits(&s->m[m].it[i], &is) < 0 || ls_best(&ms, &is) < 0) {
                ls_free(&is);
                ls_free(&ms);
                return -1;
            }
        }
        if (ls_union(out, &ms) < 0) {
            ls_free(&ms);
            return -1;
        }
    }
    return 0;
}

static int cond_lits(const ward_detection *det, int idx, lset *out) {
    const cnode *cn = &det->c[idx];
    memset(out, 0, sizeof(*out));
    switch (cn->op) {
    case C_SEL:
        return sel_lits(&det->sel[cn->sel], out);
    case C_NOT:
        out->any = 1;
        return 0;
    case C_AND:
    case C_ALL:
        out->any = 1;
        for (size_t i = 0; i < cn->nk; i++) {
            lset k;
            int r =
                cn->op == C_AND ? cond_lits(det, cn->k[i], &k) : sel_lits(&det->sel[cn->k[i]], &k);
            if (r < 0 || ls_best(out, &k) < 0) {
                ls_free(&k);
                return -1;
            }
        }
        return 0;
    default:
        out->fresh = 1;
        for (size_t i = 0; i < cn->nk; i++) {
            lset k;
            int r =
                cn->op == C_OR ? cond_lits(det, cn->k[i], &k) : sel_lits(&det->sel[cn->k[i]], &k);
            if (r < 0 || ls_union(out, &k) < 0) {
                ls_free(&k);
                return -1;
            }
        }
        if (out->fresh) {
            out->fresh = 0;
            out->any = 1;
        }
        return 0;
    }
}

int ward_detect_literals(const ward_detection *det, ward_relit *out) {
    memset(out, 0, sizeof(*out));
    if (!det) {
        out->any = 1;
        return 0;
    }
    lset l;
    if (cond_lits(det, det->root, &l) < 0) {
        ls_free(&l);
        return -1;
    }
    if ((l.any || l.n == 0) && l.nm > 0) {
        /* nothing better: a required literal is a sound alternative on its own */
        lits_clear(&l.v, &l.n);
        l.any = 0;
        if (ward_lit_push(&l.v, &l.n, l.m[0].s, l.m[0].len, l.m[0].caseless) < 0) {
            ls_free(&l);
            return -1;
        }
    }
    if (l.any || l.n == 0) {
        ls_free(&l);
        out->any = 1;
        return 0;
    }
    out->alts = l.v;
    out->nalts = l.n;
    out->must = l.m;
    out->nmust = l.nm;
    out->clauses = l.cl;
    out->nclauses = l.ncl;
    return 0;
}
