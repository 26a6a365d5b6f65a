/* fail2ban compatibility: Python re to PCRE2, and fail2ban's date detection.
 *
 * The converter reads a Python pattern once, left to right, keeping count of the
 * capturing groups so that references can be renumbered when the pattern is embedded
 * in a larger one (the fail2ban importer puts a filter's prefregex, failregex and
 * date templates together in one PCRE2 pattern).
 *
 * A date template is built the way fail2ban builds it: its strftime-style directives
 * become regular expressions, then word or line boundaries are added around it and
 * group 1 (the date text that is removed from the line) is made explicit, with the
 * same textual tests fail2ban applies to the pattern (expressed here in PCRE2). */
#include "ward/f2bdate.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ward/re.h"

/* Matching a date template on a long line walks every start position: the limit is
 * generous because the templates cannot backtrack badly. */
#define DATE_MATCH_LIMIT 10000000u
#define DATE_DEPTH_LIMIT 10000u
#define PCRE2_NAME_MAX 32

/* ---------------------------------------------------------------------------------- */
/* Growing strings */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom)
        return;
    if (n + 1 > b->cap - b->n || !b->p) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->n < n + 1) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s) {
    sb_put(b, s, strlen(s));
}

static void sb_putc(sbuf *b, char c) {
    sb_put(b, &c, 1);
}

static void sb_fmt(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(sbuf *b, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        b->oom = 1;
        return;
    }
    sb_put(b, tmp, (size_t)n);
}

/* Takes the string out of b (NUL-terminated even when empty), or NULL on failure. */
static char *sb_take(sbuf *b) {
    if (!b->p && !b->oom)
        sb_put(b, "", 0);
    if (b->oom) {
        free(b->p);
        b->p = NULL;
        return NULL;
    }
    char *p = b->p;
    b->p = NULL;
    b->n = b->cap = 0;
    return p;
}

/* ---------------------------------------------------------------------------------- */
/* Python re to PCRE2 */

typedef struct cv {
    const char *s;
    size_t n, i;
    sbuf o;
    ward_f2bdate_conv *c;
    uint32_t groups; /* capturing groups opened so far, Python numbering */
    int depth;
    char *err;
    size_t errlen;
    int bad;
} cv;

static void cv_fail(cv *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cv_fail(cv *v, const char *fmt, ...) {
    if (v->bad)
        return;
    v->bad = 1;
    if (!v->err || !v->errlen)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(v->err, v->errlen, "%s at offset %zu", msg, v->i);
}

static int is_digit(int c) {
    return c >= '0' && c <= '9';
}

static int is_octal(int c) {
    return c >= '0' && c <= '7';
}

static int is_alpha(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_word(int c) {
    return is_alpha(c) || is_digit(c) || c == '_';
}

static int hexval(int c) {
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int cv_peek(const cv *v, size_t off) {
    return v->i + off < v->n ? (unsigned char)v->s[v->i + off] : -1;
}

/* Emits code point cp as a literal: \x{..} for ASCII, its UTF-8 bytes (grouped, so
 * that a quantifier applies to all of them) otherwise. In a class only ASCII works. */
static void cv_codepoint(cv *v, unsigned long cp, int in_class) {
    if (cp < 0x80) {
        sb_fmt(&v->o, "\\x{%lx}", cp);
        return;
    }
    if (in_class) {
        cv_fail(v, "a non-ASCII character in a class is not supported");
        return;
    }
    unsigned char u[4];
    size_t n;
    if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | (cp >> 18));
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    sb_puts(&v->o, "(?:");
    for (size_t k = 0; k < n; k++)
        sb_fmt(&v->o, "\\x{%x}", u[k]);
    sb_puts(&v->o, ")");
}

/* Reads ndig hex digits after \x, \u or \U (v->i at the letter). */
static int cv_hex(cv *v, int ndig, unsigned long *out) {
    unsigned long cp = 0;
    for (int k = 1; k <= ndig; k++) {
        int h = hexval(cv_peek(v, (size_t)k));
        if (h < 0) {
            cv_fail(v, "incomplete escape \\%c", v->s[v->i]);
            return -1;
        }
        cp = cp * 16 + (unsigned long)h;
    }
    if (cp > 0x10FFFF) {
        cv_fail(v, "bad escape \\%c (code point too large)", v->s[v->i]);
        return -1;
    }
    v->i += (size_t)ndig + 1;
    *out = cp;
    return 0;
}

/* A backslash escape; v->i at the backslash. */
static void cv_escape(cv *v, int in_class) {
    int c = cv_peek(v, 1);
    if (c < 0) {
        cv_fail(v, "bad escape (end of pattern)");
        return;
    }
    v->i++; /* at c */
    unsigned long cp;
    switch (c) {
    case 'x':
    case 'u':
    case 'U':
        if (cv_hex(v, c == 'x' ? 2 : c == 'u' ? 4 : 8, &cp) == 0)
            cv_codepoint(v, cp, in_class);
        return;
    case 'N':
        cv_fail(v, "\\N{name} escapes are not supported");
        return;
    case 'v':
        sb_puts(&v->o, "\\x{b}");
        v->i++;
        return;
    case 'a':
    case 'f':
    case 'n':
    case 'r':
    case 't':
    case 'd':
    case 'D':
    case 's':
    case 'S':
    case 'w':
    case 'W':
        sb_putc(&v->o, '\\');
        sb_putc(&v->o, (char)c);
        v->i++;
        return;
    case 'b':
        sb_puts(&v->o, in_class ? "\\x{8}" : "\\b");
        v->i++;
        return;
    default:
        break;
    }
    if (!in_class) {
        switch (c) {
        case 'B':
            sb_puts(&v->o, "\\B");
            v->i++;
            return;
        case 'A':
            sb_puts(&v->o, v->c->caret ? v->c->caret : "\\A");
            v->i++;
            return;
        case 'Z':
            sb_puts(&v->o, v->c->dollar ? v->c->dollar : "\\z");
            v->i++;
            return;
        default:
            break;
        }
    }
    if (is_digit(c)) {
        if (in_class || c == '0') {
            if (in_class && !is_octal(c)) {
                cv_fail(v, "bad escape \\%c", c);
                return;
            }
            unsigned long val = (unsigned long)(c - '0');
            size_t k = 1;
            while (k < 3 && is_octal(cv_peek(v, k))) {
                val = val * 8 + (unsigned long)(cv_peek(v, k) - '0');
                k++;
            }
            if (val > 0377) {
                cv_fail(v, "octal escape value outside of range 0-0o377");
                return;
            }
            v->i += k;
            cv_codepoint(v, val, in_class);
            return;
        }
        /* Three octal digits are a character; one or two digits a group reference. */
        int d2 = cv_peek(v, 1), d3 = cv_peek(v, 2);
        if (is_digit(d2) && is_octal(c) && is_octal(d2) && is_octal(d3)) {
            unsigned long val = (unsigned long)(c - '0') * 64 + (unsigned long)(d2 - '0') * 8 +
                                (unsigned long)(d3 - '0');
            if (val > 0377) {
                cv_fail(v, "octal escape value outside of range 0-0o377");
                return;
            }
            v->i += 3;
            cv_codepoint(v, val, 0);
            return;
        }
        uint32_t g = (uint32_t)(c - '0');
        size_t k = 1;
        if (is_digit(d2)) {
            g = g * 10 + (uint32_t)(d2 - '0');
            k = 2;
        }
        if (g == 0 || g > v->groups) {
            cv_fail(v, "invalid group reference %u", (unsigned)g);
            return;
        }
        sb_fmt(&v->o, "\\g{%u}", (unsigned)(g + v->c->group_offset));
        v->i += k;
        return;
    }
    if (c < 0x80 && is_alpha(c)) {
        cv_fail(v, "bad escape \\%c", c);
        return;
    }
    if (c >= 0x80)
        return; /* "\é" is "é": the bytes are copied by the caller */
    sb_putc(&v->o, '\\');
    sb_putc(&v->o, (char)c);
    v->i++;
}

/* [...]; v->i at the '['. */
static void cv_class(cv *v) {
    sb_putc(&v->o, '[');
    v->i++;
    if (cv_peek(v, 0) == '^') {
        sb_putc(&v->o, '^');
        v->i++;
    }
    if (cv_peek(v, 0) == ']') {
        sb_puts(&v->o, "\\]");
        v->i++;
    }
    for (;;) {
        int c = cv_peek(v, 0);
        if (c < 0) {
            cv_fail(v, "unterminated character set");
            return;
        }
        if (c == ']') {
            sb_putc(&v->o, ']');
            v->i++;
            return;
        }
        if (c == '\\') {
            cv_escape(v, 1);
            if (v->bad)
                return;
            continue;
        }
        if (c == '[') {
            sb_puts(&v->o, "\\[");
        } else if (c >= 0x80) {
            cv_fail(v, "a non-ASCII character in a class is not supported");
            return;
        } else {
            sb_putc(&v->o, (char)c);
        }
        v->i++;
    }
}

static int valid_name(const char *s, size_t n) {
    if (n == 0 || n > PCRE2_NAME_MAX || is_digit((unsigned char)s[0]))
        return 0;
    for (size_t k = 0; k < n; k++)
        if (!is_word((unsigned char)s[k]))
            return 0;
    return 1;
}

/* Reads a group name ending at term; v->i at its first character. */
static int cv_name(cv *v, char term, char *buf, size_t size) {
    size_t k = 0;
    while (v->i + k < v->n && v->s[v->i + k] != term)
        k++;
    if (v->i + k == v->n) {
        cv_fail(v, "missing %c, unterminated name", term);
        return -1;
    }
    if (!valid_name(v->s + v->i, k) || k >= size) {
        cv_fail(v, "bad character in group name '%.*s'", (int)k, v->s + v->i);
        return -1;
    }
    memcpy(buf, v->s + v->i, k);
    buf[k] = '\0';
    v->i += k + 1;
    return 0;
}

static const ward_f2bdate_group *cv_lookup(const cv *v, const char *name) {
    for (size_t k = v->c->nnamed; k-- > 0;)
        if (strcmp(v->c->groups[k].name, name) == 0)
            return &v->c->groups[k];
    return NULL;
}

static void cv_named_group(cv *v, const char *name) {
    ward_f2bdate_conv *c = v->c;
    if (cv_lookup(v, name)) {
        cv_fail(v, "redefinition of group name '%s'", name);
        return;
    }
    ward_f2bdate_group *g = realloc(c->groups, (c->nnamed + 1) * sizeof(*g));
    if (!g) {
        v->o.oom = 1;
        return;
    }
    c->groups = g;
    v->groups++;
    g[c->nnamed].name = strdup(name);
    g[c->nnamed].number = v->groups + c->group_offset;
    if (!g[c->nnamed].name) {
        v->o.oom = 1;
        return;
    }
    c->nnamed++;
    const char *pn = c->rename ? c->rename(name, c->ctx) : NULL;
    if (pn && !valid_name(pn, strlen(pn))) {
        cv_fail(v, "group name '%s' is not a valid PCRE2 name", pn);
        return;
    }
    if (pn) {
        sb_puts(&v->o, "(?<");
        sb_puts(&v->o, pn);
        sb_puts(&v->o, ">");
    } else {
        sb_puts(&v->o, "(");
    }
    v->depth++;
}

/* Letters of an inline flag group that PCRE2 shares with Python (i, m, s), written to
 * out; a, L and u are Python-only and dropped; x (verbose) is refused. Reads letters
 * from v->i; returns their count or -1. */
static int cv_flags(cv *v, sbuf *out) {
    int n = 0;
    for (;;) {
        int c = cv_peek(v, 0);
        if (c == 'i' || c == 'm' || c == 's') {
            sb_putc(out, (char)c);
        } else if (c == 'a' || c == 'L' || c == 'u') {
            /* Python-only */
        } else if (c == 'x') {
            cv_fail(v, "verbose patterns (?x) are not supported");
            return -1;
        } else {
            return n;
        }
        v->i++;
        n++;
    }
}

/* fail2ban rewrites "((?i)" and "(?:(?i)" (a global flag opening a group) into the
 * scoped "(?i:"; at is where the inner "(?" would start. Returns the length of the
 * "(?letters)" there, or 0. */
static size_t glob_flags_at(const cv *v, size_t at) {
    if (at + 3 > v->n || v->s[at] != '(' || v->s[at + 1] != '?')
        return 0;
    size_t k = at + 2;
    while (k < v->n && v->s[k] >= 'a' && v->s[k] <= 'z')
        k++;
    if (k == at + 2 || k >= v->n || v->s[k] != ')')
        return 0;
    return k + 1 - at;
}

static void cv_scoped_flags(cv *v, size_t at, size_t len) {
    sbuf f = {0};
    size_t save = v->i;
    v->i = at + 2;
    cv_flags(v, &f);
    if (v->bad) {
        free(f.p);
        return;
    }
    if (v->i != at + len - 1) {
        v->i = save;
        cv_fail(v, "unknown flag");
        free(f.p);
        return;
    }
    sb_puts(&v->o, "(?");
    if (f.p)
        sb_puts(&v->o, f.p);
    sb_putc(&v->o, ':');
    free(f.p);
    v->i = at + len;
    v->depth++;
}

/* '(' and what follows; v->i at the '('. */
static void cv_group(cv *v) {
    size_t at = v->i;
    if (cv_peek(v, 1) != '?') {
        size_t gl = glob_flags_at(v, at + 1);
        if (gl) {
            cv_scoped_flags(v, at + 1, gl);
            return;
        }
        v->groups++;
        sb_putc(&v->o, '(');
        v->i++;
        v->depth++;
        return;
    }
    int k = cv_peek(v, 2);
    char name[PCRE2_NAME_MAX + 2];
    switch (k) {
    case ':': {
        size_t gl = glob_flags_at(v, at + 3);
        if (gl) {
            cv_scoped_flags(v, at + 3, gl);
            return;
        }
        sb_puts(&v->o, "(?:");
        v->i += 3;
        v->depth++;
        return;
    }
    case 'P':
        if (cv_peek(v, 3) == '<') {
            v->i += 4;
            if (cv_name(v, '>', name, sizeof(name)) == 0)
                cv_named_group(v, name);
            return;
        }
        if (cv_peek(v, 3) == '=') {
            v->i += 4;
            if (cv_name(v, ')', name, sizeof(name)) != 0)
                return;
            const ward_f2bdate_group *g = cv_lookup(v, name);
            if (!g) {
                cv_fail(v, "unknown group name '%s'", name);
                return;
            }
            sb_fmt(&v->o, "\\g{%u}", (unsigned)g->number);
            return;
        }
        cv_fail(v, "unknown extension ?P%c", cv_peek(v, 3) < 0 ? ' ' : v->s[at + 3]);
        return;
    case '=':
    case '!':
    case '>':
        sb_put(&v->o, v->s + at, 3);
        v->i += 3;
        v->depth++;
        return;
    case '<':
        if (cv_peek(v, 3) == '=' || cv_peek(v, 3) == '!') {
            sb_put(&v->o, v->s + at, 4);
            v->i += 4;
            v->depth++;
            return;
        }
        cv_fail(v, "unknown extension ?<%c", cv_peek(v, 3) < 0 ? ' ' : v->s[at + 3]);
        return;
    case '#':
        while (v->i < v->n && v->s[v->i] != ')')
            v->i++;
        if (v->i == v->n) {
            cv_fail(v, "missing ), unterminated comment");
            return;
        }
        v->i++;
        return;
    case '(': {
        v->i += 3;
        size_t s = v->i;
        while (v->i < v->n && v->s[v->i] != ')')
            v->i++;
        if (v->i == v->n || v->i == s) {
            cv_fail(v, "missing ), unterminated name");
            return;
        }
        size_t len = v->i - s;
        v->i++;
        uint32_t num;
        if (is_digit((unsigned char)v->s[s])) {
            num = 0;
            for (size_t q = s; q < s + len; q++) {
                if (!is_digit((unsigned char)v->s[q]) || num > 100000) {
                    cv_fail(v, "bad character in group name");
                    return;
                }
                num = num * 10 + (uint32_t)(v->s[q] - '0');
            }
            if (num == 0) {
                cv_fail(v, "bad group number");
                return;
            }
            num += v->c->group_offset;
        } else {
            if (len >= sizeof(name) || !valid_name(v->s + s, len)) {
                cv_fail(v, "bad character in group name");
                return;
            }
            memcpy(name, v->s + s, len);
            name[len] = '\0';
            const ward_f2bdate_group *g = cv_lookup(v, name);
            if (!g) {
                cv_fail(v, "unknown group name '%s'", name);
                return;
            }
            num = g->number;
        }
        sb_fmt(&v->o, "(?(%u)", (unsigned)num);
        v->depth++;
        return;
    }
    default: {
        /* inline flags: (?aiLmsux), (?flags:...), (?flags-flags:...) */
        sbuf on = {0}, off = {0};
        v->i += 2;
        int n1 = cv_flags(v, &on);
        int n2 = 0, minus = 0;
        if (!v->bad && cv_peek(v, 0) == '-') {
            minus = 1;
            v->i++;
            n2 = cv_flags(v, &off);
        }
        int end = cv_peek(v, 0);
        if (!v->bad && (n1 + n2 == 0 || (end != ')' && end != ':') || (minus && end != ':'))) {
            cv_fail(v, "unknown extension or flag");
        }
        if (!v->bad) {
            v->i++;
            if (on.p || off.p) {
                sb_puts(&v->o, "(?");
                if (on.p)
                    sb_puts(&v->o, on.p);
                if (off.p) {
                    sb_putc(&v->o, '-');
                    sb_puts(&v->o, off.p);
                }
                sb_putc(&v->o, end == ':' ? ':' : ')');
            } else if (end == ':') {
                sb_puts(&v->o, "(?:");
            }
            if (end == ':')
                v->depth++;
        }
        free(on.p);
        free(off.p);
        return;
    }
    }
}

/* '{': a quantifier ({m}, {m,}, {,n}, {m,n}; Python's {,n} is {0,n}) or a literal. */
static void cv_brace(cv *v) {
    size_t k = v->i + 1;
    size_t lo = k;
    while (k < v->n && is_digit((unsigned char)v->s[k]))
        k++;
    size_t lo_n = k - lo;
    int comma = 0;
    size_t hi = k, hi_n = 0;
    if (k < v->n && v->s[k] == ',') {
        comma = 1;
        hi = ++k;
        while (k < v->n && is_digit((unsigned char)v->s[k]))
            k++;
        hi_n = k - hi;
    }
    if (k >= v->n || v->s[k] != '}' || (!comma && lo_n == 0)) {
        sb_puts(&v->o, "\\{");
        v->i++;
        return;
    }
    sb_putc(&v->o, '{');
    if (lo_n)
        sb_put(&v->o, v->s + lo, lo_n);
    else
        sb_putc(&v->o, '0');
    if (comma) {
        sb_putc(&v->o, ',');
        sb_put(&v->o, v->s + hi, hi_n);
    }
    sb_putc(&v->o, '}');
    v->i = k + 1;
}

/* A UTF-8 sequence outside a class, grouped so a quantifier covers the whole
 * character, as it does in Python. */
static void cv_utf8(cv *v) {
    unsigned char c = (unsigned char)v->s[v->i];
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (v->i + len > v->n)
        len = 1;
    for (size_t k = 1; k < len; k++)
        if (((unsigned char)v->s[v->i + k] & 0xC0) != 0x80)
            len = 1;
    if (len == 1) {
        sb_fmt(&v->o, "\\x{%x}", c);
    } else {
        sb_puts(&v->o, "(?:");
        sb_put(&v->o, v->s + v->i, len);
        sb_puts(&v->o, ")");
    }
    v->i += len;
}

int ward_f2bdate_convert(const char *py, size_t len, ward_f2bdate_conv *c, char *err,
                         size_t errlen) {
    c->pcre2 = NULL;
    c->len = 0;
    c->ngroups = 0;
    c->groups = NULL;
    c->nnamed = 0;
    cv v = {.s = py, .n = len, .c = c, .err = err, .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    while (v.i < v.n && !v.bad && !v.o.oom) {
        unsigned char ch = (unsigned char)v.s[v.i];
        switch (ch) {
        case '\\':
            cv_escape(&v, 0);
            break;
        case '[':
            cv_class(&v);
            break;
        case '(':
            cv_group(&v);
            break;
        case ')':
            if (v.depth == 0) {
                cv_fail(&v, "unbalanced parenthesis");
                break;
            }
            v.depth--;
            sb_putc(&v.o, ')');
            v.i++;
            break;
        case '{':
            cv_brace(&v);
            break;
        case '^':
            sb_puts(&v.o, c->caret ? c->caret : "^");
            v.i++;
            break;
        case '$':
            sb_puts(&v.o, c->dollar ? c->dollar : "$");
            v.i++;
            break;
        default:
            if (ch >= 0x80) {
                cv_utf8(&v);
            } else if (ch == 0) {
                sb_puts(&v.o, "\\x{0}");
                v.i++;
            } else {
                sb_putc(&v.o, (char)ch);
                v.i++;
            }
            break;
        }
    }
    if (!v.bad && !v.o.oom && v.depth != 0)
        cv_fail(&v, "missing ), unterminated subpattern");
    if (v.o.oom && !v.bad) {
        v.bad = 1;
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
    }
    c->pcre2 = v.bad ? NULL : sb_take(&v.o);
    if (!c->pcre2) {
        free(v.o.p);
        if (!v.bad && err && errlen)
            snprintf(err, errlen, "out of memory");
        ward_f2bdate_conv_fini(c);
        return -1;
    }
    c->len = strlen(c->pcre2);
    c->ngroups = v.groups;
    return 0;
}

void ward_f2bdate_conv_fini(ward_f2bdate_conv *c) {
    if (!c)
        return;
    free(c->pcre2);
    for (size_t i = 0; i < c->nnamed; i++)
        free(c->groups[i].name);
    free(c->groups);
    c->pcre2 = NULL;
    c->groups = NULL;
    c->len = 0;
    c->nnamed = 0;
    c->ngroups = 0;
}

/* ---------------------------------------------------------------------------------- */
/* Templates */

/* The textual tests fail2ban makes on a template's regular expression. */
enum {
    M_GLOBAL_FLAGS,  /* a "(?flags)" group (moved to the front) */
    M_NO_BOUND_BEG,  /* starts with ^ (or "**"): no word boundary in front */
    M_NO_BOUND_END,  /* ends with $, \b, \s (or "**"): no word boundary after */
    M_GROUPED,       /* has a capturing group already */
    M_GROUP_SPLIT,   /* leading ^ and flags, body, trailing $ */
    M_DEL_BOUNDS,    /* the "**" markers to remove */
    M_LINE_BEG,      /* anchored at the line start */
    M_LINE_END,      /* anchored at the line end */
    M_UNBOUND_START, /* a leading "(?:^|\b|\W)" */
    M_UNBOUND_END,   /* a trailing "(?=\b|\W|$)" */
    M_EPOCH_TAG,     /* {EPOCH} or {LEPOCH} */
    M_DATE_TAG,      /* {DATE} */
    M_COUNT
};

static const char *const meta_src[M_COUNT] = {
    [M_GLOBAL_FLAGS] = "\\(\\?[a-z]+\\)",
    [M_NO_BOUND_BEG] = "^\\(*(?:\\(\\?\\w+\\))?(?:\\^|\\(*\\*\\*|\\((?:\\?:)?\\^)",
    [M_NO_BOUND_END] = "(?<!\\\\)(?:\\$\\)?|\\\\b|\\\\s|\\*\\*\\)*)$",
    [M_GROUPED] = "(?<!\\(\\?)(?<!\\\\)\\((?!\\?)",
    [M_GROUP_SPLIT] = "^((?:\\(\\?\\w+\\))?\\^?(?:\\(\\?\\w+\\))?)(.*?)(\\$?)$",
    [M_DEL_BOUNDS] = "^\\(*(?:\\(\\?\\w+\\))?\\(*\\*\\*|(?<!\\\\)\\*\\*\\)*$",
    [M_LINE_BEG] = "^(?:\\(\\?\\w+\\))?(?:\\^|\\((?:\\?:)?\\^(?!\\|))",
    [M_LINE_END] = "(?<![\\\\|])(?:\\$\\)?)$",
    [M_UNBOUND_START] = "^\\((?:\\?:)?\\^\\|\\\\b\\|\\\\W\\)",
    [M_UNBOUND_END] = "\\(\\?=\\\\b\\|\\\\W\\|\\$\\)$",
    [M_EPOCH_TAG] = "(?i)(?<!\\\\)\\{L?EPOCH\\}",
    [M_DATE_TAG] = "(?i)(?<!\\\\)\\{DATE\\}",
};

typedef struct tmpl {
    char *name;
    char *python;
    char *pcre2;
    pcre2_code *re;
    unsigned flags;
    int shape;
} tmpl;

struct ward_f2bdate {
    tmpl *t;
    size_t n, cap;
    uint32_t maxgroups;
    pcre2_match_context *mctx;
};

/* What building a detector needs: the compiled tests, the match data for them, and the
 * error buffer. */
typedef struct build {
    pcre2_code *meta[M_COUNT];
    pcre2_match_data *md;
    char *err;
    size_t errlen;
    int failed;
    /* fail2ban's default templates, made once per build: anchored copies first, then
     * the templates as written */
    tmpl *defs;
    size_t ndefs;
    size_t nanchored;
} build;

static void b_fail(build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void b_fail(build *b, const char *fmt, ...) {
    if (b->failed)
        return;
    b->failed = 1;
    if (!b->err || !b->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, b->errlen, fmt, ap);
    va_end(ap);
}

/* Matches meta test m on s; returns 1 and the ovector, or 0. */
static int meta_match(build *b, int m, const char *s, size_t from, PCRE2_SIZE **ov) {
    int rc = pcre2_match(b->meta[m], (PCRE2_SPTR)s, strlen(s), from, 0, b->md, NULL);
    if (rc < 0)
        return 0;
    if (ov)
        *ov = pcre2_get_ovector_pointer(b->md);
    return 1;
}

static int starts_with(const char *s, const char *p) {
    return strncmp(s, p, strlen(p)) == 0;
}

static char *cat3(const char *a, const char *b2, const char *c) {
    sbuf s = {0};
    sb_puts(&s, a);
    sb_puts(&s, b2);
    sb_puts(&s, c);
    return sb_take(&s);
}

/* Copies s with every match of meta test m replaced by repl (or by the match with its
 * "**" removed when repl is NULL). */
static char *meta_sub(build *b, int m, const char *s, const char *repl, int once) {
    sbuf o = {0};
    size_t pos = 0, len = strlen(s);
    PCRE2_SIZE *ov;
    while (pos <= len && meta_match(b, m, s, pos, &ov)) {
        sb_put(&o, s + pos, ov[0] - pos);
        if (repl) {
            sb_puts(&o, repl);
        } else {
            for (size_t k = ov[0]; k < ov[1]; k++) {
                if (s[k] == '*' && k + 1 < ov[1] && s[k + 1] == '*')
                    k++;
                else
                    sb_putc(&o, s[k]);
            }
        }
        if (ov[1] == ov[0]) {
            if (ov[1] < len)
                sb_putc(&o, s[ov[1]]);
            pos = ov[1] + 1;
        } else {
            pos = ov[1];
        }
        if (once)
            break;
    }
    if (pos < len)
        sb_puts(&o, s + pos);
    return sb_take(&o);
}

/* Years fail2ban's %ExY accepts: 2000 up to three years from now, written as fail2ban
 * writes it ("20[012]\d"). */
static void exy_regex(char *buf, size_t size) {
    time_t now = time(NULL);
    struct tm tm;
    int year = 2026;
    if (gmtime_r(&now, &tm))
        year = tm.tm_year + 1900;
    int last = year + 3;
    if (last > 2099)
        last = 2099; /* a later century would need a second prefix; not before 2097 */
    int dec = (last / 10) % 10;
    char digits[11];
    int n = 0;
    for (int k = 0; k <= dec; k++)
        digits[n++] = (char)('0' + k);
    digits[n] = '\0';
    if (n == 1)
        snprintf(buf, size, "(?P<Y>20%s\\d)", digits);
    else
        snprintf(buf, size, "(?P<Y>20[%s]\\d)", digits);
}

/* strftime-style directives and the regular expressions fail2ban gives them. The
 * multi-letter "Ex" forms come first: "%Exd" is not "%E" followed by "xd". */
static const struct {
    const char *key;
    const char *re;
} directives[] = {
    {"%", "%"},
    {"ExZ", "(?P<Z>[A-Z](?:[A-Z]{2,4})?)"},
    {"Exz", "(?P<z>(?:[A-Z](?:[A-Z]{2,4})?)?[+-][01]\\d(?::?\\d{2})?|[A-Z](?:[A-Z]{2,4})?)"},
    {"Exd", "(?P<d>[1-2]\\d|0[1-9]|3[0-1])"},
    {"Exm", "(?P<m>0[1-9]|1[0-2])"},
    {"ExH", "(?P<H>[0-1]\\d|2[0-3])"},
    {"Exk", " ?(?P<H>[0-1]?\\d|2[0-3])"},
    {"Exl", " ?(?P<I>1[0-2]|\\d)"},
    {"ExM", "(?P<M>[0-5]\\d)"},
    {"ExS", "(?P<S>[0-5]\\d|6[0-1])"},
    {"ExY", NULL},
    {"Exy", "(?P<y>\\d{2})"},
    {"d", "(?P<d>[1-2]\\d|[0 ]?[1-9]|3[0-1])"},
    {"f", "(?P<f>[0-9]{1,6})"},
    {"H", "(?P<H>[0-1]?\\d|2[0-3])"},
    {"I", "(?P<I>1[0-2]|0[1-9]|[1-9])"},
    {"G", "(?P<G>\\d\\d\\d\\d)"},
    {"j", "(?P<j>36[0-6]|3[0-5]\\d|[1-2]\\d\\d|0[1-9]\\d|00[1-9]|[1-9]\\d|0[1-9]|[1-9])"},
    {"m", "(?P<m>0?[1-9]|1[0-2])"},
    {"M", "(?P<M>[0-5]?\\d)"},
    {"S", "(?P<S>[0-5]?\\d|6[0-1])"},
    {"U", "(?P<U>5[0-3]|[0-4]\\d|\\d)"},
    {"w", "(?P<w>[0-6])"},
    {"u", "(?P<u>[1-7])"},
    {"V", "(?P<V>5[0-3]|0[1-9]|[1-4]\\d|\\d)"},
    {"y", "(?P<y>\\d\\d)"},
    {"Y", "(?P<Y>\\d{4})"},
    {"z", "(?P<z>Z|UTC|GMT|[+-][01]\\d(?::?\\d{2})?)"},
    {"A", "(?P<A>wednesday|thursday|saturday|tuesday|monday|friday|sunday)"},
    {"a", "(?P<a>mon|tue|wed|thu|fri|sat|sun)"},
    {"B", "(?P<B>september|february|november|december|january|october|august|march|april|"
          "june|july|may)"},
    {"b", "(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"},
    {"p", "(?P<p>am|pm)"},
    {"Z", "(?P<Z>Z|[A-Z]{3,5})"},
    {"W", "(?P<W>5[0-3]|[0-4]\\d|\\d)"},
    {"c", "(?P<a>mon|tue|wed|thu|fri|sat|sun)\\s+(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|"
          "oct|nov|dec)\\s+(?P<d>3[0-1]|[1-2]\\d|0[1-9]|[1-9]| [1-9])\\s+(?P<H>2[0-3]|[0-1]"
          "\\d|\\d):(?P<M>[0-5]\\d|\\d):(?P<S>6[0-1]|[0-5]\\d|\\d)\\s+(?P<Y>\\d\\d\\d\\d)"},
    {"x", "(?P<m>1[0-2]|0[1-9]|[1-9])/(?P<d>3[0-1]|[1-2]\\d|0[1-9]|[1-9]| [1-9])/"
          "(?P<y>\\d\\d)"},
    {"X", "(?P<H>2[0-3]|[0-1]\\d|\\d):(?P<M>[0-5]\\d|\\d):(?P<S>6[0-1]|[0-5]\\d|\\d)"},
    {"k", " ?(?P<H>[0-2]?\\d)"},
    {"l", " ?(?P<I>1?\\d)"},
};

/* Replaces the directives of pattern; a '%' that starts no directive is an error, as
 * it is in fail2ban. Sets *alpha when a name directive (%a %A %b %B %p %c) occurs:
 * those make the template case-insensitive. */
static char *expand_directives(build *b, const char *pattern, int *alpha) {
    char exy[64];
    exy_regex(exy, sizeof(exy));
    sbuf o = {0};
    *alpha = 0;
    for (const char *p = pattern; *p;) {
        if (*p != '%') {
            sb_putc(&o, *p++);
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof(directives) / sizeof(directives[0]); k++)
            if (starts_with(p + 1, directives[k].key))
                break;
        if (k == sizeof(directives) / sizeof(directives[0])) {
            b_fail(b, "datepattern '%s': unknown directive '%%%c'", pattern, p[1] ? p[1] : ' ');
            free(o.p);
            return NULL;
        }
        const char *key = directives[k].key;
        if (strlen(key) == 1 && strchr("aAbBpc", key[0]))
            *alpha = 1;
        sb_puts(&o, directives[k].re ? directives[k].re : exy);
        p += 1 + strlen(key);
    }
    return sb_take(&o);
}

/* The end of the group that opens at r[open] (a '('), or NULL. */
static const char *group_end(const char *r, size_t open) {
    int depth = 0;
    for (const char *p = r + open; *p; p++) {
        if (*p == '\\') {
            if (!p[1])
                return NULL;
            p++;
        } else if (*p == '[') {
            p++;
            if (*p == '^')
                p++;
            if (*p == ']')
                p++;
            while (*p && *p != ']') {
                if (*p == '\\' && p[1])
                    p++;
                p++;
            }
            if (!*p)
                return NULL;
        } else if (*p == '(') {
            depth++;
        } else if (*p == ')' && --depth == 0) {
            return p;
        }
    }
    return NULL;
}

/* WARD_F2BDATE_SHAPE_* of a template's regex (global flags already skipped): group 1
 * right after "^" (or "^(?:\W{0,2})?") and closing at the end, where only fail2ban's
 * word-end look-ahead may follow. */
static int date_shape(const char *r) {
    static const char lnbeg[] = "^(?:\\W{0,2})?(";
    int shape;
    size_t open;
    if (starts_with(r, lnbeg)) {
        shape = WARD_F2BDATE_SHAPE_LINE_START;
        open = sizeof(lnbeg) - 2;
    } else if (r[0] == '^' && r[1] == '(') {
        shape = WARD_F2BDATE_SHAPE_AT_START;
        open = 1;
    } else {
        return WARD_F2BDATE_SHAPE_OTHER;
    }
    if (r[open + 1] == '?')
        return WARD_F2BDATE_SHAPE_OTHER;
    const char *e = group_end(r, open);
    if (!e)
        return WARD_F2BDATE_SHAPE_OTHER;
    /* what may follow the date: only assertions, which leave the position at its end */
    static const char *const tails[] = {"", "(?=\\b|\\W|$)", "(?(square)(?=\\]))",
                                        "(?(square)(?=\\]))(?=\\b|\\W|$)"};
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++)
        if (!strcmp(e + 1, tails[i]))
            return shape;
    return WARD_F2BDATE_SHAPE_OTHER;
}

enum { WB_NONE = 0, WB_WORD = 1, WB_START = 2 };

/* DateTemplate.setRegex: boundaries, group 1 and flags around a Python regex. name is
 * updated for line-start templates. Takes ownership of regex. */
static int set_regex(build *b, tmpl *t, char *regex, int word_begin, int word_end) {
    char *r = NULL, *gf = NULL;
    PCRE2_SIZE *ov;
    /* strip */
    size_t s = 0, e = strlen(regex);
    while (s < e && strchr(" \t\r\n\f\v", regex[s]))
        s++;
    while (e > s && strchr(" \t\r\n\f\v", regex[e - 1]))
        e--;
    r = strndup(regex + s, e - s);
    free(regex);
    if (!r)
        goto oom;
    if (meta_match(b, M_GLOBAL_FLAGS, r, 0, &ov)) {
        gf = strndup(r + ov[0], ov[1] - ov[0]);
        char *r2 = meta_sub(b, M_GLOBAL_FLAGS, r, "", 1);
        free(r);
        r = r2;
        if (!gf || !r)
            goto oom;
    }
    int bound_begin = word_begin != WB_NONE && !meta_match(b, M_NO_BOUND_BEG, r, 0, NULL);
    int bound_end = word_end && !meta_match(b, M_NO_BOUND_END, r, 0, NULL);
    if (!meta_match(b, M_GROUPED, r, 0, NULL)) {
        if (!meta_match(b, M_GROUP_SPLIT, r, 0, &ov)) {
            b_fail(b, "datepattern '%s': cannot find its date group", t->name);
            goto fail;
        }
        sbuf o = {0};
        sb_put(&o, r + ov[2], ov[3] - ov[2]);
        sb_putc(&o, '(');
        sb_put(&o, r + ov[4], ov[5] - ov[4]);
        sb_putc(&o, ')');
        sb_put(&o, r + ov[6], ov[7] - ov[6]);
        free(r);
        r = sb_take(&o);
        if (!r)
            goto oom;
    }
    t->flags = 0;
    if (bound_begin) {
        char *r2;
        if (word_begin == WB_START) {
            t->flags |= WARD_F2BDATE_LINE_BEGIN;
            r2 = cat3("^(?:\\W{0,2})?", r, "");
            if (!starts_with(t->name, "{^LN-BEG}")) {
                char *n = cat3("{^LN-BEG}", t->name, "");
                if (!n) {
                    free(r2);
                    goto oom;
                }
                free(t->name);
                t->name = n;
            }
        } else {
            t->flags |= WARD_F2BDATE_WORD_BEGIN;
            r2 = cat3("(?=^|\\b|\\W)", r, "");
        }
        free(r);
        r = r2;
        if (!r)
            goto oom;
    }
    if (bound_end) {
        t->flags |= WARD_F2BDATE_WORD_END;
        char *r2 = cat3(r, "(?=\\b|\\W|$)", "");
        free(r);
        r = r2;
        if (!r)
            goto oom;
    }
    if (!(t->flags & WARD_F2BDATE_LINE_BEGIN) && meta_match(b, M_LINE_BEG, r, 0, NULL))
        t->flags |= WARD_F2BDATE_LINE_BEGIN;
    if (meta_match(b, M_LINE_END, r, 0, NULL))
        t->flags |= WARD_F2BDATE_LINE_END;
    {
        char *r2 = meta_sub(b, M_DEL_BOUNDS, r, NULL, 0);
        free(r);
        r = r2;
        if (!r)
            goto oom;
    }
    if (gf) {
        char *r2 = cat3(gf, r, "");
        free(r);
        r = r2;
        if (!r)
            goto oom;
    }
    t->shape = date_shape(r + (gf ? strlen(gf) : 0));
    free(gf);
    t->python = r;
    return 0;
oom:
    b_fail(b, "out of memory");
fail:
    free(r);
    free(gf);
    return -1;
}

/* DatePatternRegex: a strftime-style pattern. name becomes the pattern (fail2ban's
 * names are made from it too; they only serve to drop duplicates). */
static int tmpl_pattern(build *b, tmpl *t, const char *pattern) {
    int wb = WB_WORD, we = 1;
    memset(t, 0, sizeof(*t));
    if (starts_with(pattern, "{UNB}")) {
        pattern += 5;
        wb = WB_NONE;
        we = 0;
    }
    if (wb != WB_NONE && starts_with(pattern, "{^LN-BEG}")) {
        pattern += 9;
        wb = WB_START;
    }
    t->name = strdup(pattern);
    if (!t->name) {
        b_fail(b, "out of memory");
        return -1;
    }
    int alpha;
    char *regex = expand_directives(b, pattern, &alpha);
    if (!regex)
        return -1;
    if (alpha) {
        char *r2 = cat3("(?iu)", regex, "");
        free(regex);
        regex = r2;
        if (!regex) {
            b_fail(b, "out of memory");
            return -1;
        }
    }
    return set_regex(b, t, regex, wb, we);
}

#define EPOCH_SHORT "\\d{10,11}\\b(?:\\.\\d{3,6})?"
#define EPOCH_LONG "\\d{10,11}(?:\\d{3}(?:\\.\\d{1,6}|\\d{3})?)?"

/* DateEpoch: seconds since 1970 at the line start, in "[...]" at the line start, or in
 * an audit record's "audit(...:"; or a pattern with {EPOCH} in it. */
static int tmpl_epoch(build *b, tmpl *t, int line_begin, const char *pattern, int longfrm) {
    memset(t, 0, sizeof(*t));
    const char *ep = longfrm ? EPOCH_LONG : EPOCH_SHORT;
    t->name = strdup(pattern ? pattern : longfrm ? "LongEpoch" : "Epoch");
    if (!t->name) {
        b_fail(b, "out of memory");
        return -1;
    }
    char *regex;
    if (pattern) {
        char *grp = cat3("(", ep, ")");
        char *body = grp ? meta_sub(b, M_EPOCH_TAG, pattern, grp, 0) : NULL;
        regex = body ? cat3("(", body, ")") : NULL;
        free(grp);
        free(body);
        if (!regex) {
            b_fail(b, "out of memory");
            return -1;
        }
        return set_regex(b, t, regex, WB_WORD, 1);
    }
    if (!line_begin) {
        regex = cat3("((?:^|(?P<square>(?<=^\\[))|(?P<selinux>(?<=\\baudit\\()))", ep,
                     ")(?:(?(selinux)(?=:\\d+\\)))|(?(square)(?=\\])))");
        if (!regex) {
            b_fail(b, "out of memory");
            return -1;
        }
        return set_regex(b, t, regex, WB_NONE, 1);
    }
    regex = cat3("((?P<square>(?<=^\\[))?", ep, ")(?(square)(?=\\]))");
    if (!regex) {
        b_fail(b, "out of memory");
        return -1;
    }
    return set_regex(b, t, regex, WB_START, 1);
}

/* DateTai64n: "@" and 24 hex digits. */
static int tmpl_tai64n(build *b, tmpl *t, int line_begin) {
    memset(t, 0, sizeof(*t));
    t->name = strdup("TAI64N");
    char *regex = strdup("@[0-9a-f]{24}");
    if (!t->name || !regex) {
        free(regex);
        b_fail(b, "out of memory");
        return -1;
    }
    return set_regex(b, t, regex, line_begin ? WB_START : WB_NONE, 1);
}

static int has_percent(const char *s) {
    return strchr(s, '%') != NULL;
}

static void upper(char *s) {
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
}

static void tmpl_fini(tmpl *t);

/* _getPatternTemplate: one template from one line of a datepattern. The key fail2ban
 * looks templates up by is the pattern, upper-cased when it has no directive. */
static int tmpl_dispatch(build *b, tmpl *t, const char *pattern, const char *key) {
    if (strstr(key, "EPOCH")) {
        if (meta_match(b, M_EPOCH_TAG, pattern, 0, NULL))
            return tmpl_epoch(b, t, 0, pattern, strstr(key, "LEPOCH") != NULL);
        if (!strcmp(key, "EPOCH") || !strcmp(key, "{^LN-BEG}EPOCH") || !strcmp(key, "^EPOCH"))
            return tmpl_epoch(b, t, strcmp(key, "EPOCH") != 0, NULL, 0);
        if (!strcmp(key, "LEPOCH") || !strcmp(key, "{^LN-BEG}LEPOCH") || !strcmp(key, "^LEPOCH"))
            return tmpl_epoch(b, t, strcmp(key, "LEPOCH") != 0, NULL, 1);
    }
    if (!strcmp(key, "TAI64N") || !strcmp(key, "{^LN-BEG}TAI64N") || !strcmp(key, "^TAI64N"))
        return tmpl_tai64n(b, t, strcmp(key, "TAI64N") != 0);
    return tmpl_pattern(b, t, pattern);
}

static int tmpl_from(build *b, tmpl *t, const char *pattern) {
    memset(t, 0, sizeof(*t));
    char *key = strdup(pattern);
    if (!key) {
        b_fail(b, "out of memory");
        return -1;
    }
    if (!has_percent(pattern))
        upper(key);
    int r = tmpl_dispatch(b, t, pattern, key);
    free(key);
    if (r != 0)
        tmpl_fini(t);
    return r;
}

static void tmpl_fini(tmpl *t) {
    free(t->name);
    free(t->python);
    free(t->pcre2);
    pcre2_code_free(t->re);
    memset(t, 0, sizeof(*t));
}

/* fail2ban's default templates, as written (before the anchored copies are made). */
static const char *const default_templates[] = {
    "%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\\s*%z)?",
    "(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?",
    "(?:%a )?%b %d %ExY %k:%M:%S(?:\\.%f)?",
    "%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S",
    "%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\\.%f)?(?: %z)?",
    "%m/%d/%ExY:%H:%M:%S",
    "%m-%d-%ExY %k:%M:%S(?:\\.%f)?",
    "EPOCH",
    "{^LN-BEG}%H:%M:%S",
    "^<%m/%d/%Exy@%H:%M:%S>",
    "%Exy%Exm%Exd  ?%H:%M:%S",
    "%b %d, %ExY %I:%M:%S %p",
    "^%b-%d-%Exy %k:%M:%S",
    "%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\\s*%z)?",
    "(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?",
    "(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?",
    "TAI64N",
};
#define NDEFAULTS (sizeof(default_templates) / sizeof(default_templates[0]))

/* Builds the default list: for each template not already anchored at the line start,
 * an anchored copy (fail2ban prefers a date at the line start), all copies first. */
static int build_defaults(build *b) {
    tmpl orig[NDEFAULTS];
    tmpl anch[NDEFAULTS];
    size_t na = 0, no = 0;
    int rc = -1;
    for (size_t i = 0; i < NDEFAULTS; i++) {
        if (tmpl_from(b, &orig[no], default_templates[i]) != 0)
            goto done;
        no++;
        const char *nm = orig[no - 1].name;
        if (starts_with(nm, "{^LN-BEG}") || nm[0] == '^')
            continue;
        const char *src = default_templates[i];
        char *ap;
        if (!strcmp(src, "EPOCH"))
            ap = strdup("{^LN-BEG}Epoch");
        else
            ap = cat3("{^LN-BEG}", src, "");
        if (!ap) {
            b_fail(b, "out of memory");
            goto done;
        }
        int r = tmpl_from(b, &anch[na], ap);
        free(ap);
        if (r != 0)
            goto done;
        na++;
    }
    b->defs = calloc(na + no, sizeof(tmpl));
    if (!b->defs) {
        b_fail(b, "out of memory");
        goto done;
    }
    memcpy(b->defs, anch, na * sizeof(tmpl));
    memcpy(b->defs + na, orig, no * sizeof(tmpl));
    b->ndefs = na + no;
    b->nanchored = na;
    na = no = 0;
    rc = 0;
done:
    for (size_t i = 0; i < na; i++)
        tmpl_fini(&anch[i]);
    for (size_t i = 0; i < no; i++)
        tmpl_fini(&orig[i]);
    return rc;
}

static int tmpl_dup(build *b, tmpl *dst, const tmpl *src) {
    memset(dst, 0, sizeof(*dst));
    dst->name = strdup(src->name);
    dst->python = strdup(src->python);
    dst->flags = src->flags;
    dst->shape = src->shape;
    if (!dst->name || !dst->python) {
        tmpl_fini(dst);
        b_fail(b, "out of memory");
        return -1;
    }
    return 0;
}

static int det_has(const ward_f2bdate *d, const char *name) {
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->t[i].name, name))
            return 1;
    return 0;
}

/* Appends t (taken over). A second template of the same name is an error, or is dropped
 * quietly when the defaults are added after other templates. */
static int det_add(build *b, ward_f2bdate *d, tmpl *t, int ignore_dup) {
    if (det_has(d, t->name)) {
        if (!ignore_dup)
            b_fail(b, "datepattern: there is already a template named '%s'", t->name);
        tmpl_fini(t);
        return ignore_dup ? 0 : -1;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        tmpl *nt = realloc(d->t, cap * sizeof(*nt));
        if (!nt) {
            tmpl_fini(t);
            b_fail(b, "out of memory");
            return -1;
        }
        d->t = nt;
        d->cap = cap;
    }
    d->t[d->n++] = *t;
    memset(t, 0, sizeof(*t));
    return 0;
}

/* unboundPattern: the pattern without the boundaries fail2ban would add or has added. */
static char *unbound(build *b, const char *p) {
    if (starts_with(p, "{UNB}"))
        p += 5;
    if (starts_with(p, "{^LN-BEG}"))
        p += 9;
    char *s1 = meta_sub(b, M_UNBOUND_START, p, "", 1);
    char *s2 = s1 ? meta_sub(b, M_UNBOUND_END, s1, "", 1) : NULL;
    free(s1);
    return s2;
}

/* The defaults (all, or those anchored at the line start), or, with premat, each
 * default as written with {DATE} in premat replaced by it. */
static int add_defaults(build *b, ward_f2bdate *d, int line_begin_only, const char *premat) {
    int ignore_dup = d->n > 0;
    if (!premat) {
        for (size_t i = 0; i < b->ndefs; i++) {
            if (line_begin_only && !(b->defs[i].flags & WARD_F2BDATE_LINE_BEGIN))
                continue;
            tmpl t;
            if (tmpl_dup(b, &t, &b->defs[i]) != 0 || det_add(b, d, &t, ignore_dup) != 0)
                return -1;
        }
        return 0;
    }
    for (size_t i = 0; i < NDEFAULTS; i++) {
        const char *src = default_templates[i];
        const char *body = !strcmp(src, "EPOCH") ? "Epoch" : src;
        char *ub = unbound(b, body);
        char *p = ub ? meta_sub(b, M_DATE_TAG, premat, ub, 0) : NULL;
        free(ub);
        if (!p) {
            b_fail(b, "out of memory");
            return -1;
        }
        tmpl t;
        int r = tmpl_from(b, &t, p);
        free(p);
        if (r != 0 || det_add(b, d, &t, ignore_dup) != 0)
            return -1;
    }
    return 0;
}

/* DateDetector.appendTemplate for one line of a datepattern. */
static int append_pattern(build *b, ward_f2bdate *d, const char *p) {
    char key[256] = "";
    if (!has_percent(p) && strlen(p) < sizeof(key)) {
        snprintf(key, sizeof(key), "%s", p);
        upper(key);
    }
    if (!strcmp(key, "{^LN-BEG}") || !strcmp(key, "{DEFAULT}"))
        return add_defaults(b, d, key[1] == '^', NULL);
    if (meta_match(b, M_DATE_TAG, p, 0, NULL))
        return add_defaults(b, d, 0, p);
    tmpl t;
    if (tmpl_from(b, &t, !strcmp(key, "{NONE}") ? "{UNB}^" : p) != 0)
        return -1;
    if (!strcmp(key, "{NONE}")) {
        char *n = strdup("{NONE}");
        if (!n) {
            tmpl_fini(&t);
            b_fail(b, "out of memory");
            return -1;
        }
        free(t.name);
        t.name = n;
    }
    return det_add(b, d, &t, 0);
}

static int build_init(build *b, char *err, size_t errlen) {
    memset(b, 0, sizeof(*b));
    b->err = err;
    b->errlen = errlen;
    for (int m = 0; m < M_COUNT; m++) {
        int code;
        PCRE2_SIZE off;
        b->meta[m] =
            pcre2_compile((PCRE2_SPTR)meta_src[m], PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
        if (!b->meta[m]) {
            b_fail(b, "out of memory");
            return -1;
        }
    }
    b->md = pcre2_match_data_create(16, NULL);
    if (!b->md) {
        b_fail(b, "out of memory");
        return -1;
    }
    return build_defaults(b);
}

static void build_fini(build *b) {
    for (int m = 0; m < M_COUNT; m++)
        pcre2_code_free(b->meta[m]);
    pcre2_match_data_free(b->md);
    for (size_t i = 0; i < b->ndefs; i++)
        tmpl_fini(&b->defs[i]);
    free(b->defs);
}

/* Translates and compiles every template of d. */
static int det_compile(build *b, ward_f2bdate *d) {
    for (size_t i = 0; i < d->n; i++) {
        tmpl *t = &d->t[i];
        ward_f2bdate_conv c = {0};
        char e[256];
        if (ward_f2bdate_convert(t->python, strlen(t->python), &c, e, sizeof(e)) != 0) {
            b_fail(b, "datepattern template '%s': %s", t->name, e);
            return -1;
        }
        t->pcre2 = c.pcre2;
        c.pcre2 = NULL;
        uint32_t ng = c.ngroups;
        ward_f2bdate_conv_fini(&c);
        int code;
        PCRE2_SIZE off;
        t->re = pcre2_compile((PCRE2_SPTR)t->pcre2, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
        if (!t->re) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(code, msg, sizeof(msg));
            b_fail(b, "datepattern template '%s': %s at offset %zu", t->name, (char *)msg,
                   (size_t)off);
            return -1;
        }
        pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE); /* the interpreter serves if not */
        if (ng + 1 > d->maxgroups)
            d->maxgroups = ng + 1;
    }
    d->mctx = pcre2_match_context_create(NULL);
    if (!d->mctx) {
        b_fail(b, "out of memory");
        return -1;
    }
    pcre2_set_match_limit(d->mctx, DATE_MATCH_LIMIT);
    pcre2_set_depth_limit(d->mctx, DATE_DEPTH_LIMIT);
    return 0;
}

ward_f2bdate *ward_f2bdate_new(const char *pattern, size_t len, char *err, size_t errlen) {
    build b;
    ward_f2bdate *d = calloc(1, sizeof(*d));
    char *copy = pattern ? strndup(pattern, len) : NULL;
    if (err && errlen)
        err[0] = '\0';
    if (build_init(&b, err, errlen) != 0 || !d || (pattern && !copy)) {
        if (!b.failed && err && errlen)
            snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!pattern) {
        if (add_defaults(&b, d, 0, NULL) != 0)
            goto fail;
    } else {
        /* one template a line; blank lines do not count */
        for (char *line = copy; line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            char *s = line, *e = line + strlen(line);
            while (*s && strchr(" \t\r\f\v", *s))
                s++;
            while (e > s && strchr(" \t\r\f\v", e[-1]))
                *--e = '\0';
            if (*s && append_pattern(&b, d, s) != 0)
                goto fail;
            line = nl ? nl + 1 : NULL;
        }
        if (d->n == 0) {
            b_fail(&b, "datepattern has no template");
            goto fail;
        }
    }
    if (det_compile(&b, d) != 0)
        goto fail;
    free(copy);
    build_fini(&b);
    return d;
fail:
    free(copy);
    build_fini(&b);
    ward_f2bdate_free(d);
    return NULL;
}

void ward_f2bdate_free(ward_f2bdate *d) {
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        tmpl_fini(&d->t[i]);
    free(d->t);
    pcre2_match_context_free(d->mctx);
    free(d);
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static ward_f2bdate *default_det;

static void default_build(void) {
    default_det = ward_f2bdate_new(NULL, 0, NULL, 0);
}

const ward_f2bdate *ward_f2bdate_default(void) {
    pthread_once(&default_once, default_build);
    return default_det;
}

size_t ward_f2bdate_count(const ward_f2bdate *d) {
    return d ? d->n : 0;
}

int ward_f2bdate_template_get(const ward_f2bdate *d, size_t i, ward_f2bdate_template *t) {
    if (!d || i >= d->n)
        return -1;
    t->name = d->t[i].name;
    t->python = d->t[i].python;
    t->pcre2 = d->t[i].pcre2;
    t->flags = d->t[i].flags;
    t->shape = d->t[i].shape;
    return 0;
}

/* As a fresh fail2ban detector does: the first template that matches wins when it is
 * the last one, is anchored, or matched at most one character into the line; a match
 * further in is kept aside while the others are tried, and the nearest kept one wins
 * when no template wins outright. */
int ward_f2bdate_find(const ward_f2bdate *d, const uint8_t *line, size_t len, size_t *start,
                      size_t *end, size_t *tmpl_out) {
    if (!d)
        return -1;
    pcre2_match_data *md = pcre2_match_data_create(d->maxgroups ? d->maxgroups : 2, NULL);
    if (!md)
        return -1;
    int found = 0, rc = 0;
    size_t best_dist = SIZE_MAX, bs = 0, be = 0, bi = 0;
    for (size_t i = 0; i < d->n; i++) {
        int r = pcre2_match(d->t[i].re, line, len, 0, 0, md, d->mctx);
        if (r == PCRE2_ERROR_NOMATCH)
            continue;
        if (r < 0) {
            rc = -1; /* a limit: fail2ban would have found no match either */
            continue;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t dist = ov[0];
        size_t s = ov[2], e = ov[3];
        if (s == PCRE2_UNSET)
            s = e = 0;
        if (i + 1 >= d->n || (d->t[i].flags & (WARD_F2BDATE_LINE_BEGIN | WARD_F2BDATE_LINE_END)) ||
            dist <= 1) {
            *start = s;
            *end = e;
            if (tmpl_out)
                *tmpl_out = i;
            pcre2_match_data_free(md);
            return 1;
        }
        if (dist < best_dist) {
            best_dist = dist;
            bs = s;
            be = e;
            bi = i;
            found = 1;
        }
    }
    pcre2_match_data_free(md);
    if (found) {
        *start = bs;
        *end = be;
        if (tmpl_out)
            *tmpl_out = bi;
        return 1;
    }
    return rc;
}
