/* ward-rules import-fail2ban: fail2ban filters into ward rules.
 *
 * A filter is read with fail2ban's configuration semantics (Python's configparser
 * plus fail2ban's [INCLUDES] before/after, %(section/option)s references and <tag>
 * substitution), once for each mode it has (and each option set its sample log tests).
 * The failregex list becomes one PCRE2 pattern on the field f2b.line of the fail2ban
 * decoder (the line without the date fail2ban removes): the prefregex is matched first
 * and each failregex in turn searched in its <F-CONTENT> part, fail2ban's tags (<HOST>,
 * <F-USER>...) become named groups (src_ip, src_host, user, ...), and what fail2ban
 * requires of a match (a host, no <F-NOFAIL>) is checked by conditional groups after
 * it. The same pattern is the rule's extract, so the alert has those fields. A filter
 * whose datepattern is not fail2ban's default date detection, when all its templates
 * are anchored at the line start, matches event.original instead, with its date
 * templates in front. ignoreregex becomes "and not". With --samples, the filter's
 * annotated sample log becomes the rules' tests; with --jail, the jail's maxretry and
 * findtime become a threshold.
 *
 * What a single line cannot show is not imported: multi-line filters (maxlines > 1,
 * <SKIPLINES>) are skipped, and the state fail2ban keeps between lines of the same
 * connection (<F-MLFID>) is not followed: each line is judged alone, as a fresh
 * fail2ban filter would judge it. */
#include "import_fail2ban.h"

#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ward/f2bdate.h"
#include "ward/json.h"
#include "ward/node.h"
#include "ward/re.h"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define MAX_INTERPOLATION_DEPTH 10 /* Python's configparser */
#define MAX_TAG_REPLACE 25         /* fail2ban's substituteRecursiveTags */
/* An option's value once %(name)s references and <tag>s are replaced: fail2ban's largest
 * (sshd's failregex) is under 8 KiB, while ten options each naming the next ten times
 * would be 10^10 bytes. The bytes built for one value, over all its replacements, stop
 * at MAX_SUBST_WORK. */
#define MAX_VALUE_BYTES (64u << 10)
#define MAX_SUBST_WORK (64u << 20)
#define MAX_INCLUDE_DEPTH 32
#define MAX_INCLUDE_FILES 256 /* files of one filter with its includes, repeats counted */
#define MAX_VARIANTS 32
#define PCRE2_MAX_GROUPS 255 /* ward's match data keeps this many groups */
/* Configuration files and sample logs are read whole, up to this size (fail2ban's
 * largest, sshd's sample log, is 34 KB). */
#define MAX_FILE_BYTES (1u << 20)
/* The date put in front of a journal sample: ward's journal source writes syslog lines. */
#define JOURNAL_DATE "Aug 14 10:00:00 "

static const char usage_text[] =
    "usage: ward-rules import-fail2ban [--samples DIR] [--jail FILE] FILTER.conf... -o DIR\n"
    "  Converts fail2ban filters into ward rules, one file DIR/FILTER.yml per filter.\n"
    "  --samples DIR  fail2ban's annotated sample logs (DIR/FILTER): they become tests\n"
    "  --jail FILE    jail.conf: maxretry/findtime become a threshold by src_ip\n"
    "  -o, --output DIR  where the rule files go (created if missing)\n";

/* ---------------------------------------------------------------------------------- */
/* Small helpers. The tool stops on an allocation failure: there is nothing useful to
 * do without memory, and every other error is reported and skipped. */

static void oom(void) {
    fputs("ward-rules import-fail2ban: out of memory\n", stderr);
    exit(EXIT_USAGE);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom();
    return q;
}

static char *xstrndup(const char *s, size_t n) {
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static char *xstrdup(const char *s) {
    return xstrndup(s, strlen(s));
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *p = NULL;
    if (vasprintf(&p, fmt, ap) < 0)
        oom();
    va_end(ap);
    return p;
}

/* ward_buf that stops the tool when memory runs out. */
static void bput(ward_buf *b, const char *s, size_t n) {
    if (ward_buf_put(b, s, n) != 0)
        oom();
}

static void bputs(ward_buf *b, const char *s) {
    bput(b, s, strlen(s));
}

static void bputc(ward_buf *b, char c) {
    bput(b, &c, 1);
}

static void bprintf(ward_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(ward_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *p = NULL;
    if (vasprintf(&p, fmt, ap) < 0)
        oom();
    va_end(ap);
    bputs(b, p);
    free(p);
}

/* Takes the buffer's text (NUL-terminated) and resets it. */
static char *btake(ward_buf *b) {
    if (!ward_buf_cstr(b))
        oom();
    char *p = b->p ? b->p : xstrdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

typedef struct strv {
    char **v;
    size_t n, cap;
} strv;

static void strv_push(strv *v, char *s) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 8;
        v->v = xrealloc(v->v, v->cap * sizeof(*v->v));
    }
    v->v[v->n++] = s;
}

static int strv_has(const strv *v, const char *s) {
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->v[i], s))
            return 1;
    return 0;
}

static void strv_free(strv *v) {
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    memset(v, 0, sizeof(*v));
}

static int is_space(int c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static int is_wordc(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static char *strip_dup(const char *s, size_t n) {
    while (n && is_space((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && is_space((unsigned char)s[n - 1]))
        n--;
    return xstrndup(s, n);
}

static void lower(char *s) {
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Reads the regular file path whole (at most MAX_FILE_BYTES) into *buf (caller frees).
 * Returns 0, or -1 with "path: reason" in err. */
static int read_whole(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen) {
    char e[256];
    if (ward_file_read(path, MAX_FILE_BYTES, buf, len, e, sizeof(e)) != 0) {
        snprintf(err, errlen, "%s: %s", path, e);
        return -1;
    }
    return 0;
}

/* The line of buf (len bytes) that starts at *pos, without its '\n' and the '\r's before
 * it, as a new string (caller frees; *n is its length, which a NUL byte inside the line
 * does not end); *pos moves to the next line. NULL when no line is left. */
static char *next_line(const uint8_t *buf, size_t len, size_t *pos, size_t *n) {
    if (*pos >= len)
        return NULL;
    const uint8_t *s = buf + *pos;
    const uint8_t *nl = memchr(s, '\n', len - *pos);
    size_t l = nl ? (size_t)(nl - s) : len - *pos;
    *pos += nl ? l + 1 : l;
    while (l > 0 && s[l - 1] == '\r')
        l--;
    *n = l;
    return xstrndup((const char *)s, l);
}

static char *dir_name(const char *p) {
    const char *s = strrchr(p, '/');
    if (!s)
        return xstrdup(".");
    if (s == p)
        return xstrdup("/");
    return xstrndup(p, (size_t)(s - p));
}

/* ---------------------------------------------------------------------------------- */
/* Configuration files, as Python's configparser reads them (fail2ban's settings:
 * '#' and ';' start comment lines, ';' after a blank starts an inline comment, option
 * names are lower-cased, an indented line continues the value above it, and a blank
 * line inside a value is kept) */

typedef struct kv {
    char *key, *val;
    char *file; /* where it was set */
    int line;
} kv;

typedef struct sec {
    char *name;
    kv *o;
    size_t n, cap;
} sec;

typedef struct conf {
    sec *s;
    size_t n, cap;
    sec def; /* [DEFAULT] */
} conf;

static kv *sec_kv(const sec *s, const char *key) {
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->o[i].key, key))
            return &s->o[i];
    return NULL;
}

static kv *sec_put(sec *s, const char *key, const char *val, const char *file, int line) {
    kv *o = sec_kv(s, key);
    if (!o) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 8;
            s->o = xrealloc(s->o, s->cap * sizeof(*s->o));
        }
        o = &s->o[s->n++];
        o->key = xstrdup(key);
    } else {
        free(o->val);
        free(o->file);
    }
    o->val = xstrdup(val);
    o->file = xstrdup(file ? file : "");
    o->line = line;
    return o;
}

static void sec_fini(sec *s) {
    for (size_t i = 0; i < s->n; i++) {
        free(s->o[i].key);
        free(s->o[i].val);
        free(s->o[i].file);
    }
    free(s->o);
    free(s->name);
    memset(s, 0, sizeof(*s));
}

static sec *conf_sec(conf *c, const char *name, int create) {
    if (!strcmp(name, "DEFAULT"))
        return &c->def;
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->s[i].name, name))
            return &c->s[i];
    if (!create)
        return NULL;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->s = xrealloc(c->s, c->cap * sizeof(*c->s));
    }
    sec *s = &c->s[c->n++];
    memset(s, 0, sizeof(*s));
    s->name = xstrdup(name);
    return s;
}

static const sec *conf_sec_c(const conf *c, const char *name) {
    return conf_sec((conf *)c, name, 0);
}

static void conf_fini(conf *c) {
    for (size_t i = 0; i < c->n; i++)
        sec_fini(&c->s[i]);
    free(c->s);
    sec_fini(&c->def);
    memset(c, 0, sizeof(*c));
}

/* Parses one file. Returns 0, or -1 with "file:line: message" in err (a file that
 * cannot be read, an option outside a section, a line that is no option). */
static int ini_parse(const char *path, conf *out, char *err, size_t errlen) {
    uint8_t *buf;
    size_t len, pos = 0, n;
    if (read_whole(path, &buf, &len, err, errlen) != 0)
        return -1;
    char *line;
    int lineno = 0, rc = 0;
    sec *cur = NULL;
    kv *opt = NULL;
    size_t indent = 0;
    for (; (line = next_line(buf, len, &pos, &n)) != NULL; free(line)) {
        lineno++;
        ssize_t cstart = -1;
        for (size_t i = 0; i < n; i++)
            if (line[i] == ';' && (i == 0 || is_space((unsigned char)line[i - 1]))) {
                cstart = (ssize_t)i;
                break;
            }
        const char *p = line;
        while (*p && is_space((unsigned char)*p))
            p++;
        if (*p == '#' || *p == ';')
            cstart = 0;
        char *v = strip_dup(line, cstart >= 0 ? (size_t)cstart : (size_t)n);
        if (!*v) {
            if (cstart < 0 && cur && opt) {
                /* a blank line inside a value: kept until the value is finished */
                char *nv = xasprintf("%s\n", opt->val);
                free(opt->val);
                opt->val = nv;
            }
            free(v);
            continue;
        }
        size_t ind = (size_t)(p - line);
        if (cur && opt && ind > indent) {
            char *nv = xasprintf("%s\n%s", opt->val, v);
            free(opt->val);
            opt->val = nv;
            free(v);
            continue;
        }
        indent = ind;
        char *rb = v[0] == '[' ? strrchr(v, ']') : NULL;
        if (rb && rb > v + 1) {
            *rb = '\0';
            cur = conf_sec(out, v + 1, 1);
            opt = NULL;
            free(v);
            continue;
        }
        if (!cur) {
            snprintf(err, errlen, "%s:%d: an option before any [section]", path, lineno);
            free(v);
            rc = -1;
            break;
        }
        char *eq = v + strcspn(v, "=:");
        if (!*eq) {
            snprintf(err, errlen, "%s:%d: not an option (NAME = VALUE): %.80s", path, lineno, v);
            free(v);
            rc = -1;
            break;
        }
        char *name = strip_dup(v, (size_t)(eq - v));
        if (!*name) {
            snprintf(err, errlen, "%s:%d: an option without a name", path, lineno);
            free(name);
            free(v);
            rc = -1;
            break;
        }
        lower(name);
        char *value = strip_dup(eq + 1, strlen(eq + 1));
        opt = sec_put(cur, name, value, path, lineno);
        free(name);
        free(value);
        free(v);
    }
    free(line);
    free(buf);
    /* values end where their last non-blank line ends */
    for (size_t i = 0; i <= out->n; i++) {
        sec *s = i < out->n ? &out->s[i] : &out->def;
        for (size_t k = 0; k < s->n; k++) {
            char *val2 = s->o[k].val;
            size_t l = strlen(val2);
            while (l && is_space((unsigned char)val2[l - 1]))
                val2[--l] = '\0';
        }
    }
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* fail2ban's includes: a file's [INCLUDES] before/after (relative to its directory),
 * and X.local after each X.conf; then the files are merged in order, a later file
 * overriding options of an earlier one (whose values stay reachable as known/OPT). */

typedef struct imp imp;

typedef struct parsed {
    char *path;
    conf c;
    int ok;
} parsed;

struct imp {
    const char *outdir;
    const char *samples;
    const char *jail;
    conf jailconf;
    int have_jail;
    parsed *files; /* every file read, parsed once */
    size_t nfiles, capfiles;
    /* totals */
    size_t filters, imported, skipped, failed, rules, tests, regex_skipped, sample_skipped;
    strv skipped_list;
    strv warned; /* regex diagnostics already given for the current filter */
};

static parsed *read_one(imp *im, const char *path) {
    for (size_t i = 0; i < im->nfiles; i++)
        if (!strcmp(im->files[i].path, path))
            return &im->files[i];
    if (im->nfiles == im->capfiles) {
        im->capfiles = im->capfiles ? im->capfiles * 2 : 16;
        im->files = xrealloc(im->files, im->capfiles * sizeof(*im->files));
    }
    parsed *p = &im->files[im->nfiles++];
    memset(p, 0, sizeof(*p));
    p->path = xstrdup(path);
    char err[512];
    if (!file_exists(path)) {
        p->ok = 0;
    } else if (ini_parse(path, &p->c, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        p->ok = 0;
    } else {
        p->ok = 1;
    }
    return p;
}

/* The walk over a file's includes. fail2ban has no limit but an include cycle, which it
 * skips; this walk also stops (and the filter fails) at MAX_INCLUDE_DEPTH levels and at
 * MAX_INCLUDE_FILES files, a file included twice counting twice since it is read twice:
 * a few files that each include the next twice would otherwise be billions. */
typedef struct incwalk {
    imp *im;
    const char *path; /* the filter's (or jail's) file */
    size_t files;
    char *err; /* the reason the walk stopped */
    size_t errlen;
    int bad;
} incwalk;

static void get_includes(incwalk *w, const strv *names, const strv *seen, strv *out, int depth);

static void includes_of(incwalk *w, const char *res, const strv *seen, strv *out, int depth) {
    if (w->bad)
        return;
    parsed *p = read_one(w->im, res);
    if (!p->ok)
        return;
    if (depth > MAX_INCLUDE_DEPTH) {
        snprintf(w->err, w->errlen, "%s: includes nested deeper than %d levels (at %s)", w->path,
                 MAX_INCLUDE_DEPTH, res);
        w->bad = 1;
        return;
    }
    if (++w->files > MAX_INCLUDE_FILES) {
        snprintf(w->err, w->errlen,
                 "%s: over %d files read with its includes (a file included twice counts "
                 "twice; stopped at %s)",
                 w->path, MAX_INCLUDE_FILES, res);
        w->bad = 1;
        return;
    }
    char *dir = dir_name(res);
    strv lists[2] = {{0}, {0}};
    const sec *inc = conf_sec_c(&p->c, "INCLUDES");
    static const char *const keys[2] = {"before", "after"};
    for (int k = 0; inc && k < 2; k++) {
        const kv *o = sec_kv(inc, keys[k]);
        if (!o)
            continue;
        char *list = xstrdup(o->val);
        for (char *tok = list; tok;) {
            char *nl = strchr(tok, '\n');
            if (nl)
                *nl = '\0';
            char *name = strip_dup(tok, strlen(tok));
            if (*name) {
                char *r = name[0] == '/' ? xstrdup(name) : xasprintf("%s/%s", dir, name);
                if (strv_has(seen, r)) {
                    fprintf(stderr,
                            "%s:%d: %s is already being read (an include cycle): not read "
                            "again, as fail2ban does\n",
                            o->file, o->line, r);
                } else {
                    strv s2 = {0};
                    for (size_t i = 0; i < seen->n; i++)
                        strv_push(&s2, xstrdup(seen->v[i]));
                    strv_push(&s2, xstrdup(res));
                    strv one = {0};
                    strv_push(&one, xstrdup(r));
                    get_includes(w, &one, &s2, &lists[k], depth + 1);
                    strv_free(&one);
                    strv_free(&s2);
                }
                free(r);
            }
            free(name);
            tok = nl ? nl + 1 : NULL;
        }
        free(list);
    }
    for (size_t i = 0; i < lists[0].n; i++)
        strv_push(out, xstrdup(lists[0].v[i]));
    strv_push(out, xstrdup(res));
    for (size_t i = 0; i < lists[1].n; i++)
        strv_push(out, xstrdup(lists[1].v[i]));
    strv_free(&lists[0]);
    strv_free(&lists[1]);
    free(dir);
}

static void get_includes(incwalk *w, const strv *names, const strv *seen, strv *out, int depth) {
    strv exp = {0};
    for (size_t i = 0; i < names->n; i++) {
        strv_push(&exp, xstrdup(names->v[i]));
        const char *dot = strrchr(names->v[i], '.');
        const char *sl = strrchr(names->v[i], '/');
        size_t stem = dot && (!sl || dot > sl) ? (size_t)(dot - names->v[i]) : strlen(names->v[i]);
        char *local = xasprintf("%.*s.local", (int)stem, names->v[i]);
        if (!strv_has(names, local) && file_exists(local))
            strv_push(&exp, local);
        else
            free(local);
    }
    for (size_t i = 0; i < exp.n; i++)
        includes_of(w, exp.v[i], seen, out, depth);
    strv_free(&exp);
}

static void merge_sec(conf *dst, const sec *src) {
    sec *d = conf_sec(dst, src->name, 1);
    if (d->n) {
        char *kn = xasprintf("KNOWN/%s", src->name);
        sec *known = conf_sec(dst, kn, 1);
        d = conf_sec(dst, src->name, 1); /* conf_sec may have moved the array */
        for (size_t i = 0; i < src->n; i++) {
            const kv *old = sec_kv(d, src->o[i].key);
            if (old)
                sec_put(known, old->key, old->val, old->file, old->line);
        }
        free(kn);
    }
    for (size_t i = 0; i < src->n; i++)
        sec_put(d, src->o[i].key, src->o[i].val, src->o[i].file, src->o[i].line);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the files path.d/ *SUFFIX to out, in byte order (glob's is the locale's). */
static void glob_dir(const char *stem, const char *suffix, strv *out) {
    char *pat = xasprintf("%s.d/*%s", stem, suffix);
    glob_t g;
    if (glob(pat, 0, NULL, &g) == 0) {
        qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), cmp_str);
        for (size_t i = 0; i < g.gl_pathc; i++)
            strv_push(out, xstrdup(g.gl_pathv[i]));
        globfree(&g);
    }
    free(pat);
}

/* Reads path as fail2ban reads a filter or jail file: path, path.d/ *.conf, the .local
 * and path.d/ *.local, each with its includes, merged in that order. Returns 0, or -1
 * with err ("path: cannot be read", or why the includes were not followed). */
static int conf_read(imp *im, const char *path, conf *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    size_t l = strlen(path);
    char *stem = l > 5 && !strcmp(path + l - 5, ".conf") ? xstrndup(path, l - 5) : xstrdup(path);
    strv files = {0}, seen = {0}, full = {0};
    strv_push(&files, xstrdup(path));
    glob_dir(stem, ".conf", &files);
    char *local = xasprintf("%s.local", stem);
    if (file_exists(local))
        strv_push(&files, local);
    else
        free(local);
    glob_dir(stem, ".local", &files);
    incwalk w = {im, path, 0, err, errlen, 0};
    get_includes(&w, &files, &seen, &full, 0);
    int rc = 0;
    if (!read_one(im, path)->ok) {
        snprintf(err, errlen, "%s: cannot be read", path);
        rc = -1;
    } else if (w.bad) {
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < full.n; i++) {
        parsed *p = read_one(im, full.v[i]);
        if (!p->ok)
            continue;
        for (size_t k = 0; k < p->c.def.n; k++)
            sec_put(&out->def, p->c.def.o[k].key, p->c.def.o[k].val, p->c.def.o[k].file,
                    p->c.def.o[k].line);
        for (size_t k = 0; k < p->c.n; k++)
            merge_sec(out, &p->c.s[k]);
    }
    strv_free(&files);
    strv_free(&seen);
    strv_free(&full);
    free(stem);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Getting a value: %(name)s interpolation (%% is a '%'), with fail2ban's
 * %(section/option)s and %(known/option)s and %(__name__)s. */

typedef struct vars {
    const kv *v; /* options given to the filter (mode=...): they win over the file */
    size_t n;
} vars;

enum { G_OK = 0, G_NOOPT = 1, G_NOSEC = 2, G_ERR = -1 };

typedef struct getctx {
    const conf *c;
    const char *section;
    const sec *s;
    vars vs;
    sec extra; /* section/option references resolved for this get */
    char *err;
    size_t errlen;
} getctx;

static const char *map_get(getctx *g, const char *name) {
    const kv *o = sec_kv(&g->extra, name);
    if (o)
        return o->val;
    if (!strcmp(name, "__name__"))
        return g->section;
    for (size_t i = 0; i < g->vs.n; i++)
        if (!strcmp(g->vs.v[i].key, name))
            return g->vs.v[i].val;
    if (g->s && (o = sec_kv(g->s, name)))
        return o->val;
    if ((o = sec_kv(&g->c->def, name)))
        return o->val;
    return NULL;
}

/* %(sec/opt)s in rest: the raw value of opt in [sec] (or, for known/opt, its value
 * before a later file replaced it; else [DEFAULT]'s). */
static void map_section_options(getctx *g, const char *rest) {
    for (const char *p = strstr(rest, "%("); p; p = strstr(p + 2, "%(")) {
        const char *s = p + 2, *e = s;
        while (*e && *e != ')')
            e++;
        if (*e != ')' || e[1] != 's')
            continue;
        const char *sl = memchr(s, '/', (size_t)(e - s));
        if (!sl || sl == s)
            continue;
        int ok = 1;
        for (const char *q = s; q < sl; q++)
            if (!is_wordc((unsigned char)*q) && *q != '-')
                ok = 0;
        if (!ok || sl + 1 == e)
            continue;
        char *sopt = xstrndup(s, (size_t)(e - s));
        char *secn = xstrndup(s, (size_t)(sl - s));
        char *opt = xstrndup(sl + 1, (size_t)(e - sl - 1));
        lower(sopt);
        if (!sec_kv(&g->extra, sopt)) {
            const char *v = NULL;
            char *sl2 = xstrdup(secn);
            lower(sl2);
            if (strcmp(sl2, "default") != 0) {
                const sec *src;
                if (!strcmp(sl2, "known")) {
                    char *kn = xasprintf("KNOWN/%s", g->section);
                    src = conf_sec_c(g->c, kn);
                    free(kn);
                    const kv *o = src ? sec_kv(src, opt) : NULL;
                    v = o ? o->val : NULL;
                } else {
                    src = conf_sec_c(g->c, secn);
                    if (src) {
                        const kv *o = sec_kv(src, opt);
                        v = o ? o->val : NULL;
                    } else {
                        free(sl2);
                        free(sopt);
                        free(secn);
                        free(opt);
                        continue;
                    }
                }
            }
            if (!v) {
                const kv *o = sec_kv(&g->c->def, opt);
                v = o ? o->val : NULL;
            }
            if (v)
                sec_put(&g->extra, sopt, v, NULL, 0);
            free(sl2);
        }
        free(sopt);
        free(secn);
        free(opt);
    }
}

static int interpolate(getctx *g, const char *option, const char *rest, ward_buf *acc, int depth) {
    if (depth > MAX_INTERPOLATION_DEPTH) {
        snprintf(g->err, g->errlen, "[%s] %s: interpolation nested too deep", g->section, option);
        return -1;
    }
    if (strchr(rest, '/') && strstr(rest, "%("))
        map_section_options(g, rest);
    while (*rest) {
        if (acc->len > MAX_VALUE_BYTES) {
            snprintf(g->err, g->errlen, "[%s] %s: the value grows over %u bytes", g->section,
                     option, MAX_VALUE_BYTES);
            return -1;
        }
        const char *p = strchr(rest, '%');
        if (!p) {
            bputs(acc, rest);
            return 0;
        }
        bput(acc, rest, (size_t)(p - rest));
        if (p[1] == '%') {
            bputc(acc, '%');
            rest = p + 2;
        } else if (p[1] == '(') {
            const char *e = strchr(p + 2, ')');
            if (!e || e == p + 2 || e[1] != 's') {
                snprintf(g->err, g->errlen, "[%s] %s: bad interpolation '%.40s'", g->section,
                         option, p);
                return -1;
            }
            char *var = xstrndup(p + 2, (size_t)(e - p - 2));
            lower(var);
            const char *v = map_get(g, var);
            if (!v) {
                snprintf(g->err, g->errlen, "[%s] %s: %%(%s)s names no option", g->section, option,
                         var);
                free(var);
                return -1;
            }
            free(var);
            char *vc = xstrdup(v); /* extra may be changed by the nested call */
            int r =
                strchr(vc, '%') ? interpolate(g, option, vc, acc, depth + 1) : (bputs(acc, vc), 0);
            free(vc);
            if (r != 0)
                return -1;
            rest = e + 2;
            if (!*rest && acc->len > MAX_VALUE_BYTES) {
                snprintf(g->err, g->errlen, "[%s] %s: the value grows over %u bytes", g->section,
                         option, MAX_VALUE_BYTES);
                return -1;
            }
        } else {
            snprintf(g->err, g->errlen, "[%s] %s: '%%' must be followed by '%%' or '('", g->section,
                     option);
            return -1;
        }
    }
    return 0;
}

/* Python's ConfigParser.get(section, option, vars=vs): G_OK and *out (malloc'd),
 * G_NOSEC, G_NOOPT, or G_ERR with err filled. *where (if not NULL) gets the option. */
static int cfg_get(const conf *c, const char *section, const char *option, vars vs, char **out,
                   const kv **where, char *err, size_t errlen) {
    getctx g = {c, section, conf_sec_c(c, section), vs, {0}, err, errlen};
    if (!g.s && strcmp(section, "DEFAULT") != 0)
        return G_NOSEC;
    char *opt = xstrdup(option);
    lower(opt);
    const kv *o = NULL;
    const char *raw = NULL;
    for (size_t i = 0; i < vs.n && !raw; i++)
        if (!strcmp(vs.v[i].key, opt))
            raw = vs.v[i].val;
    if (!raw && g.s && (o = sec_kv(g.s, opt)))
        raw = o->val;
    if (!raw && (o = sec_kv(&c->def, opt)))
        raw = o->val;
    free(opt);
    if (!raw)
        return G_NOOPT;
    if (where)
        *where = o;
    ward_buf acc;
    ward_buf_init(&acc);
    int r = interpolate(&g, option, raw, &acc, 1);
    sec_fini(&g.extra);
    if (r != 0) {
        ward_buf_fini(&acc);
        if (o && o->file[0]) {
            char *m = xstrdup(err);
            snprintf(err, errlen, "%s:%d: %s", o->file, o->line, m);
            free(m);
        }
        return G_ERR;
    }
    *out = btake(&acc);
    return G_OK;
}

/* fail2ban's get_ex: "sec/opt" names an option of another section ("known/opt": the
 * value a later file replaced; "default/opt": [DEFAULT]). Returns as cfg_get. */
static int cfg_get_ex(const conf *c, const char *section, const char *option, vars vs, char **out,
                      char *err, size_t errlen) {
    const char *sl = strchr(option, '/');
    if (sl && sl > option && sl[1]) {
        int ok = 1;
        for (const char *q = option; q < sl; q++)
            if (!is_wordc((unsigned char)*q) && *q != '-')
                ok = 0;
        for (const char *q = sl + 1; *q; q++)
            if (is_space((unsigned char)*q) || *q == '>')
                ok = 0;
        if (ok) {
            char *secn = xstrndup(option, (size_t)(sl - option));
            char *sl2 = xstrdup(secn);
            lower(sl2);
            const char *opt = sl + 1;
            char *cands[2] = {NULL, NULL};
            if (!strcmp(sl2, "known")) {
                cands[0] = xasprintf("KNOWN/%s", section);
                cands[1] = xstrdup(section);
            } else {
                cands[0] = xstrdup(strcmp(sl2, "default") ? secn : "DEFAULT");
            }
            int r = G_NOOPT;
            for (int k = 0; k < 2 && cands[k] && r != G_OK && r != G_ERR; k++)
                r = cfg_get(c, cands[k], opt, (vars){0}, out, NULL, err, errlen);
            free(cands[0]);
            free(cands[1]);
            free(secn);
            free(sl2);
            if (r == G_OK || r == G_ERR)
                return r;
        }
    }
    return cfg_get(c, section, option, vs, out, NULL, err, errlen);
}

/* ---------------------------------------------------------------------------------- */
/* A filter's options for one variant (the options a jail would give it, e.g. mode),
 * as fail2ban's FilterReader computes them: [Definition] values with the variant's
 * options as vars, [Init] values, then <tag> substitution. */

enum { O_PREF, O_FAIL, O_IGN, O_DATE, O_MAX, O_DNS, O_COUNT };

typedef struct fdef {
    char *prefregex; /* NULL: none */
    char *failregex;
    char *ignoreregex;
    char *datepattern; /* NULL: not set */
    char *maxlines;
    char *usedns;
    char *at[O_COUNT]; /* "file:line" where each was set, for messages (NULL: unknown) */
} fdef;

static void fdef_fini(fdef *d) {
    free(d->prefregex);
    free(d->failregex);
    free(d->ignoreregex);
    free(d->datepattern);
    free(d->maxlines);
    free(d->usedns);
    for (int i = 0; i < O_COUNT; i++)
        free(d->at[i]);
    memset(d, 0, sizeof(*d));
}

static const char *at_or(const fdef *d, int o, const char *dflt) {
    return d->at[o] ? d->at[o] : dflt;
}

typedef struct subst {
    const conf *c;
    vars vs;
    const sec *comb; /* the combined options: [Definition]'s and the variant's */
    char *err;
    size_t errlen;
} subst;

/* <tag> substitution of value (the option tag's value), as fail2ban does it: the
 * innermost tag first, a tag that names no option is left as it is (<HOST>). */
static char *subst_tags(subst *sb, const char *tag, const char *value) {
    char *v = xstrdup(value);
    size_t pos = 0, work = 0;
    /* how often each tag was replaced: fail2ban's limit, per tag name */
    struct tagcount {
        char *name;
        int n;
    } *counts = NULL;
    size_t ncounts = 0, capcounts = 0;
    /* A replacement can complete a tag that starts before it ("<lt_<logtype>/x>"):
     * fail2ban then goes over the value again, and so does this loop. */
    int replaced = 0, passes = 0;
    for (;;) {
        char *lt = strchr(v + pos, '<');
        if (!lt && replaced && ++passes < 100) {
            replaced = 0;
            pos = 0;
            continue;
        }
        if (!lt)
            break;
        char *e = lt + 1;
        while (*e && *e != '>' && *e != '<' && *e != ' ')
            e++;
        if (*e != '>' || e == lt + 1) {
            pos = (size_t)(lt - v) + 1;
            continue;
        }
        char *rtag = xstrndup(lt + 1, (size_t)(e - lt - 1));
        size_t ci;
        for (ci = 0; ci < ncounts; ci++)
            if (!strcmp(counts[ci].name, rtag))
                break;
        if (!strcmp(rtag, tag) || (ci < ncounts && counts[ci].n > MAX_TAG_REPLACE)) {
            snprintf(sb->err, sb->errlen, "option %s refers to itself through <%s>", tag, rtag);
            free(rtag);
            goto fail;
        }
        char *repl = NULL;
        const kv *o = sec_kv(sb->comb, rtag);
        if (o) {
            repl = xstrdup(o->val);
        } else {
            int r = cfg_get_ex(sb->c, "Definition", rtag, sb->vs, &repl, sb->err, sb->errlen);
            if (r == G_ERR) {
                free(rtag);
                goto fail;
            }
            if (r != G_OK)
                repl = NULL;
        }
        if (!repl) {
            pos = (size_t)(e - v) + 1;
            free(rtag);
            continue;
        }
        size_t start = (size_t)(lt - v);
        char *pat = xasprintf("<%s>", rtag);
        ward_buf nb;
        ward_buf_init(&nb);
        for (char *p = v, *q; (q = strstr(p, pat)); p = q + strlen(pat)) {
            bput(&nb, p, (size_t)(q - p));
            bputs(&nb, repl);
            if (nb.len > MAX_VALUE_BYTES)
                break;
            if (!strstr(q + strlen(pat), pat)) {
                bputs(&nb, q + strlen(pat));
                break;
            }
        }
        free(v);
        v = btake(&nb);
        free(pat);
        free(repl);
        work += strlen(v);
        if (strlen(v) > MAX_VALUE_BYTES || work > MAX_SUBST_WORK) {
            if (strlen(v) > MAX_VALUE_BYTES)
                snprintf(sb->err, sb->errlen, "option %s grows over %u bytes when <%s> is replaced",
                         tag, MAX_VALUE_BYTES, rtag);
            else
                snprintf(sb->err, sb->errlen,
                         "option %s: over %u bytes built replacing its tags (at <%s>)", tag,
                         MAX_SUBST_WORK, rtag);
            free(rtag);
            goto fail;
        }
        if (ci == ncounts) {
            if (ncounts == capcounts) {
                capcounts = capcounts ? capcounts * 2 : 16;
                counts = xrealloc(counts, capcounts * sizeof(*counts));
            }
            counts[ncounts].name = rtag;
            counts[ncounts].n = 0;
            ncounts++;
        } else {
            free(rtag);
        }
        counts[ci].n++;
        pos = start;
        replaced = 1;
    }
    for (size_t k = 0; k < ncounts; k++)
        free(counts[k].name);
    free(counts);
    return v;
fail:
    free(v);
    for (size_t k = 0; k < ncounts; k++)
        free(counts[k].name);
    free(counts);
    return NULL;
}

static const char *const filter_opts[] = {"usedns",   "prefregex",   "ignoreregex", "failregex",
                                          "maxlines", "datepattern", "journalmatch"};

/* Computes the filter's options for variant vopts. Returns 0, or -1 with err. */
static int filter_eval(const conf *c, const sec *vopts, fdef *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    vars vs = {vopts->o, vopts->n};
    sec comb = {0};
    int rc = -1;
    if (!conf_sec_c(c, "Definition")) {
        snprintf(err, errlen, "no [Definition] section");
        return -1;
    }
    for (size_t i = 0; i < sizeof(filter_opts) / sizeof(filter_opts[0]); i++) {
        if (sec_kv(vopts, filter_opts[i]))
            continue;
        char *v = NULL;
        const kv *where = NULL;
        int r = cfg_get(c, "Definition", filter_opts[i], vs, &v, &where, err, errlen);
        if (r == G_ERR)
            goto done;
        if (r == G_OK) {
            sec_put(&comb, filter_opts[i], v, where ? where->file : NULL, where ? where->line : 0);
            free(v);
        }
    }
    for (size_t i = 0; i < vopts->n; i++)
        sec_put(&comb, vopts->o[i].key, vopts->o[i].val, NULL, 0);
    const sec *init = conf_sec_c(c, "Init");
    for (size_t i = 0; init && i < init->n; i++) {
        char *v = NULL;
        if (cfg_get(c, "Init", init->o[i].key, (vars){0}, &v, NULL, err, errlen) != G_OK)
            goto done;
        char *kn = xasprintf("known/%s", init->o[i].key);
        sec_put(&comb, kn, v, NULL, 0);
        free(kn);
        if (!sec_kv(vopts, init->o[i].key))
            sec_put(&comb, init->o[i].key, v, init->o[i].file, init->o[i].line);
        free(v);
    }
    subst sb = {c, vs, &comb, err, errlen};
    char **dst[] = {&out->prefregex,   &out->failregex, &out->ignoreregex,
                    &out->datepattern, &out->maxlines,  &out->usedns};
    static const char *const names[] = {"prefregex",   "failregex", "ignoreregex",
                                        "datepattern", "maxlines",  "usedns"};
    for (size_t i = 0; i < O_COUNT; i++) {
        const kv *o = sec_kv(&comb, names[i]);
        if (!o)
            continue;
        if (o->file[0])
            out->at[i] = xasprintf("%s:%d", o->file, o->line);
        *dst[i] = subst_tags(&sb, names[i], o->val);
        if (!*dst[i])
            goto done;
    }
    rc = 0;
done:
    sec_fini(&comb);
    if (rc != 0)
        fdef_fini(out);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* fail2ban's regex tags: <HOST>, <ADDR>, <IP4>, <IP6>, <DNS>, <CIDR>, <SUBNET>,
 * <F-ID/>, <F-PORT/>, and <F-NAME>...</F-NAME> groups. */

#define RE_IP4 "(?:::f{4,6}:)?(?P<ip4>(?:\\d{1,3}\\.){3}\\d{1,3})"
#define RE_IP6 "(?P<ip6>(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):))"
#define RE_DNS "(?P<dns>[\\w\\-.^_]*\\w)"
#define RE_ADDR "\\[?(?:" RE_IP4 "|" RE_IP6 ")\\]?"
#define RE_HOST "(?:" RE_ADDR "|" RE_DNS ")"
#define RE_CIDR "(?P<cidr>\\d+)"
#define RE_SUBNET "\\[?(?:" RE_IP4 "|" RE_IP6 ")(?:/" RE_CIDR ")?\\]?"

static const struct {
    const char *tag, *re;
} host_tags[] = {
    {"IP4", RE_IP4},
    {"F-IP4/", RE_IP4},
    {"IP6", RE_IP6},
    {"F-IP6/", RE_IP6},
    {"ADDR", RE_ADDR},
    {"F-ADDR/", RE_ADDR},
    {"CIDR", RE_CIDR},
    {"F-CIDR/", RE_CIDR},
    {"SUBNET", RE_SUBNET},
    {"F-SUBNET/", RE_SUBNET},
    {"DNS", RE_DNS},
    {"F-DNS/", RE_DNS},
    {"F-ID/", "(?P<fid>\\S+)"},
    {"F-PORT/", "(?P<fport>\\w+)"},
};

/* Markers for <F-CONTENT> and </F-CONTENT> in a prefregex: the importer splits there. */
#define CONTENT_OPEN "\x01"
#define CONTENT_CLOSE "\x02"

typedef struct tagged {
    char *py;    /* the regex with the tags replaced (Python syntax) */
    strv fnames; /* group names the tags made */
    int skiplines;
} tagged;

static void tagged_fini(tagged *t) {
    free(t->py);
    strv_free(&t->fnames);
    memset(t, 0, sizeof(*t));
}

static char *lower_dup(const char *s, size_t n) {
    char *p = xstrndup(s, n);
    lower(p);
    return p;
}

/* Regex._resolveHostTag. With mark_content, <F-CONTENT> and its close tag become the
 * markers above. */
static void f2b_tags(const char *re, int dns_no, int mark_content, tagged *out) {
    memset(out, 0, sizeof(*out));
    ward_buf b;
    ward_buf_init(&b);
    strv opened = {0};
    for (const char *p = re; *p;) {
        if (*p != '<') {
            bputc(&b, *p++);
            continue;
        }
        const char *q = p + 1;
        if (*q == '/')
            q++;
        const char *ns = q;
        while (is_wordc((unsigned char)*q) || *q == '-')
            q++;
        if (q == ns) {
            bputc(&b, *p++);
            continue;
        }
        if (*q == '/')
            q++;
        if (*q != '>') {
            bputc(&b, *p++);
            continue;
        }
        char *tn = xstrndup(p + 1, (size_t)(q - p - 1));
        const char *tag = p;
        size_t taglen = (size_t)(q + 1 - p);
        p = q + 1;
        if (!strcmp(tn, "HOST")) {
            bputs(&b, dns_no ? RE_ADDR : RE_HOST);
            strv_push(&out->fnames, xstrdup("ip4"));
            strv_push(&out->fnames, xstrdup("ip6"));
            if (!dns_no)
                strv_push(&out->fnames, xstrdup("dns"));
            free(tn);
            continue;
        }
        if (!strcmp(tn, "SKIPLINES")) {
            out->skiplines = 1;
            bputs(&b, "\\n(?:(?:.*\\n)*?)");
            free(tn);
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof(host_tags) / sizeof(host_tags[0]); k++)
            if (!strcmp(tn, host_tags[k].tag))
                break;
        if (k < sizeof(host_tags) / sizeof(host_tags[0])) {
            bputs(&b, host_tags[k].re);
            static const char *const names[] = {"ip4", "ip6", "dns", "cidr", "fid", "fport"};
            for (size_t i = 0; i < 6; i++)
                if (strstr(host_tags[k].re, names[i]))
                    strv_push(&out->fnames, xstrdup(names[i]));
            free(tn);
            continue;
        }
        /* F-NAME: upper-case letters, digits, '_' and '-' */
        int close = tn[0] == '/';
        const char *fn = tn + close;
        int custom = !strncmp(fn, "F-", 2) && fn[2];
        for (const char *c = fn + 2; custom && *c; c++)
            if (!((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
                custom = 0;
        if (!custom) {
            bput(&b, tag, taglen);
            free(tn);
            continue;
        }
        const char *name = fn + 2;
        if (close) {
            if (strv_has(&opened, name))
                bputs(&b, mark_content && !strcmp(name, "CONTENT") ? CONTENT_CLOSE : ")");
            else
                bput(&b, tag, taglen);
            free(tn);
            continue;
        }
        if (!strv_has(&opened, name))
            strv_push(&opened, xstrdup(name));
        if (mark_content && !strcmp(name, "CONTENT")) {
            bputs(&b, CONTENT_OPEN);
            free(tn);
            continue;
        }
        char *gn = lower_dup(name, strlen(name));
        if (!strcmp(gn, "id")) {
            free(gn);
            gn = xstrdup("fid");
        } else if (!strcmp(gn, "port")) {
            free(gn);
            gn = xstrdup("fport");
        }
        bprintf(&b, "(?P<%s>", gn);
        strv_push(&out->fnames, gn);
        free(tn);
    }
    strv_free(&opened);
    out->py = btake(&b);
}

/* ---------------------------------------------------------------------------------- */
/* ward's names for fail2ban's groups */

/* Groups fail2ban uses for itself: not fields of an alert. */
static int internal_name(const char *n) {
    static const char *const v[] = {"content",   "mlfid",      "nofail",   "mlfforget",
                                    "mlfgained", "mlfpending", "skiplines"};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        if (!strcmp(n, v[i]))
            return 1;
    return !strncmp(n, "tuple_", 6);
}

typedef struct namectx {
    const strv *fnames;
    char buf[64];
} namectx;

static const char *ward_name_of(const char *n, namectx *nc) {
    if (!strcmp(n, "ip4") || !strcmp(n, "ip6"))
        return "src_ip";
    if (!strcmp(n, "dns"))
        return "src_host";
    if (!strcmp(n, "fport"))
        return "port";
    if (!strcmp(n, "fid") || !strcmp(n, "cidr") || !strcmp(n, "user"))
        return n;
    if (internal_name(n))
        return NULL;
    if (!strncmp(n, "alt_", 4) && n[4]) {
        /* alt_NAME and alt_NAME_2 are NAME when NAME itself is empty */
        size_t l = strlen(n + 4);
        const char *us = strrchr(n + 4, '_');
        if (us && us[1]) {
            const char *d = us + 1;
            while (*d >= '0' && *d <= '9')
                d++;
            if (!*d)
                l = (size_t)(us - (n + 4));
        }
        if (l == 0 || l >= sizeof(nc->buf))
            return NULL;
        memcpy(nc->buf, n + 4, l);
        nc->buf[l] = '\0';
        if (!strcmp(nc->buf, "id"))
            return "fid";
        if (!strcmp(nc->buf, "port"))
            return "port";
        return nc->buf;
    }
    if (nc->fnames && strv_has(nc->fnames, n))
        return n;
    return NULL; /* a group the regex names for itself (cond_inv, _sep...) */
}

static const char *rename_cb(const char *n, void *ctx) {
    return ward_name_of(n, ctx);
}

/* fail2ban's own meaning of a group name */
static int is_host_name(const char *n) {
    return !strcmp(n, "ip4") || !strcmp(n, "ip6") || !strcmp(n, "dns") || !strcmp(n, "fid");
}

static int is_nofail_name(const char *n) {
    return !strcmp(n, "nofail") || !strcmp(n, "mlfgained");
}

/* ---------------------------------------------------------------------------------- */
/* Building a PCRE2 pattern out of converted pieces */

enum { P_DATE, P_HEAD, P_CONTENT, P_TAIL, P_PREF, P_FAIL, P_IGNORE };

typedef struct rgrp {
    char *name; /* fail2ban's name */
    uint32_t num;
    int piece;
} rgrp;

typedef struct rx {
    ward_buf b;
    uint32_t ngroups;
    rgrp *g;
    size_t ng, capg;
    char err[512];
    int bad;
} rx;

static void rx_init(rx *r) {
    memset(r, 0, sizeof(*r));
    ward_buf_init(&r->b);
}

static void rx_fini(rx *r) {
    ward_buf_fini(&r->b);
    for (size_t i = 0; i < r->ng; i++)
        free(r->g[i].name);
    free(r->g);
}

static void rx_raw(rx *r, const char *s) {
    bputs(&r->b, s);
}

static uint32_t rx_marker(rx *r) {
    bputs(&r->b, "()");
    return ++r->ngroups;
}

/* Appends py converted, with caret and dollar replacements; records its named groups
 * under piece. */
static int rx_py(rx *r, const char *py, const char *caret, const char *dollar, const strv *fnames,
                 int piece) {
    if (r->bad)
        return -1;
    namectx nc = {fnames, ""};
    ward_f2bdate_conv c = {0};
    c.group_offset = r->ngroups;
    c.caret = caret;
    c.dollar = dollar;
    c.rename = rename_cb;
    c.ctx = &nc;
    char e[256];
    if (ward_f2bdate_convert(py, strlen(py), &c, e, sizeof(e)) != 0) {
        snprintf(r->err, sizeof(r->err), "%s", e);
        r->bad = 1;
        return -1;
    }
    bput(&r->b, c.pcre2, c.len);
    for (size_t i = 0; i < c.nnamed; i++) {
        if (r->ng == r->capg) {
            r->capg = r->capg ? r->capg * 2 : 16;
            r->g = xrealloc(r->g, r->capg * sizeof(*r->g));
        }
        r->g[r->ng].name = xstrdup(c.groups[i].name);
        r->g[r->ng].num = c.groups[i].number;
        r->g[r->ng].piece = piece;
        r->ng++;
    }
    r->ngroups += c.ngroups;
    ward_f2bdate_conv_fini(&c);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* A filter variant prepared for writing */

typedef struct fre {
    char *py; /* after tags */
    strv fnames;
    int ok;       /* converts and compiles */
    int has_host; /* names a host group (or the prefregex does) */
} fre;

typedef struct prep {
    /* prefregex: split at <F-CONTENT> (head, content, tail), or whole (pref) */
    char *head, *content, *tail, *pref;
    strv pref_fnames;
    char *tail_dollar; /* what $ in a failregex becomes, NULL: kept */
    fre *fail;
    size_t nfail;
    fre *ign;
    size_t nign;
    int mlfid;        /* fail2ban follows connections (<F-MLFID>): the first failregex decides */
    int early_ignore; /* fail2ban checks ignoreregex on the whole line first */
    /* dates: NULL uses f2b.line; else the templates go in front, on event.original */
    ward_f2bdate *dates;
    char *date_note;
    /* journal entries: the date the decoder removed leaves a blank in front, which
     * fail2ban's journal lines do not have */
    int journal;
} prep;

static void prep_fini(prep *p) {
    free(p->head);
    free(p->content);
    free(p->tail);
    free(p->pref);
    strv_free(&p->pref_fnames);
    free(p->tail_dollar);
    for (size_t i = 0; i < p->nfail; i++) {
        free(p->fail[i].py);
        strv_free(&p->fail[i].fnames);
    }
    free(p->fail);
    for (size_t i = 0; i < p->nign; i++) {
        free(p->ign[i].py);
        strv_free(&p->ign[i].fnames);
    }
    free(p->ign);
    ward_f2bdate_free(p->dates);
    free(p->date_note);
    memset(p, 0, sizeof(*p));
}

static const char *field_of(const prep *p) {
    return p->dates ? "event.original" : "f2b.line";
}

/* The search for piece py from the current position: fail2ban searches the piece in
 * what is left of the line, so its ^ may only match where the search starts. At the
 * subject's start a plain ^ does that; elsewhere an empty group marks the start and
 * ^ becomes "that group is set". Returns the marker's number (0 for none). */
static uint32_t rx_search(rx *r, int at_start, uint32_t *marker) {
    if (at_start) {
        rx_raw(r, "[\\s\\S]*?");
        *marker = 0;
        return 0;
    }
    rx_raw(r, "(?:");
    *marker = rx_marker(r);
    rx_raw(r, "|[\\s\\S]*?)");
    return *marker;
}

static char *caret_for(uint32_t marker) {
    return marker ? xasprintf("(?(%u)|(?!))", (unsigned)marker) : NULL;
}

/* "(?J)\A" and the date templates when the filter has its own: the first template
 * that matches at the line start is skipped over, or nothing when none does. Sets
 * *at_start when the search still starts at the subject's start. */
static void rx_begin(rx *r, const prep *p, int *at_start) {
    rx_raw(r, "(?J)\\A");
    *at_start = 1;
    if (p->journal) {
        rx_raw(r, "(?> ?)");
        *at_start = 0;
    }
    if (!p->dates)
        return;
    rx_raw(r, "(?>");
    for (size_t i = 0; i < ward_f2bdate_count(p->dates); i++) {
        ward_f2bdate_template t;
        ward_f2bdate_template_get(p->dates, i, &t);
        /* only "^(?:\W{0,2})?" has to go: the date is taken at the very start */
        char *py = xstrdup(t.python);
        char *w = strstr(py, "^(?:\\W{0,2})?");
        if (t.shape == WARD_F2BDATE_SHAPE_LINE_START && w)
            memmove(w + 1, w + 13, strlen(w + 13) + 1);
        rx_raw(r, "(?:");
        rx_py(r, py, NULL, NULL, NULL, P_DATE);
        rx_raw(r, ")|");
        free(py);
    }
    rx_raw(r, ")");
    *at_start = 0;
}

/* The prefregex block: its first match (fail2ban searches it once), leaving the
 * position at the start of its content. Returns the marker used by the head. */
static void rx_prefix(rx *r, const prep *p, int *at_start) {
    uint32_t m;
    if (p->head) {
        rx_raw(r, "(?>");
        rx_search(r, *at_start, &m);
        char *caret = caret_for(m);
        rx_raw(r, "(?:");
        rx_py(r, p->head, caret, NULL, &p->pref_fnames, P_HEAD);
        rx_raw(r, ")(?=(?:");
        rx_py(r, p->content, caret, NULL, &p->pref_fnames, P_CONTENT);
        rx_raw(r, ")(?:");
        rx_py(r, p->tail, caret, NULL, &p->pref_fnames, P_TAIL);
        rx_raw(r, ")))");
        free(caret);
        *at_start = 0;
    } else if (p->pref) {
        rx_raw(r, "(?=(?>");
        rx_search(r, *at_start, &m);
        char *caret = caret_for(m);
        rx_raw(r, "(?:");
        rx_py(r, p->pref, caret, NULL, &p->pref_fnames, P_PREF);
        rx_raw(r, ")))");
        free(caret);
    }
}

/* Group numbers of the groups fail2ban reads from a match: records [0, npref) are the
 * prefregex's (and dates'), [fstart, end) the failregex's, which win over the
 * prefregex's of the same name (fail2ban merges the two, the failregex's last). */
static size_t pick_groups(const rx *r, size_t npref, size_t fstart, int (*want)(const char *),
                          uint32_t *out, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < r->ng && n < max; i++) {
        const rgrp *g = &r->g[i];
        if ((i >= npref && i < fstart) || !want(g->name))
            continue;
        if (i < npref) {
            int shadowed = 0;
            for (size_t k = fstart; k < r->ng; k++)
                if (!strcmp(r->g[k].name, g->name))
                    shadowed = 1;
            if (shadowed)
                continue;
        }
        out[n++] = g->num;
    }
    return n;
}

/* What fail2ban requires of a failregex's first match to count it as a failure: a host
 * (or failure id) group set, and no <F-NOFAIL> (or <F-MLFGAINED>) group set. */
static void rx_checks(rx *r, size_t npref, size_t fstart);

/* The search of failregex f from the current position: atomic, since fail2ban takes
 * its first match; with checks, followed by them. npref: the group records of the
 * prefix. */
static void rx_fail(rx *r, const prep *p, const fre *f, int checks, size_t npref, int at_start) {
    size_t fstart = r->ng;
    uint32_t m;
    rx_raw(r, "(?>");
    rx_search(r, at_start, &m);
    char *caret = caret_for(m);
    rx_raw(r, "(?:");
    rx_py(r, f->py, caret, p->tail_dollar, &f->fnames, P_FAIL);
    rx_raw(r, "))");
    free(caret);
    if (checks)
        rx_checks(r, npref, fstart);
}

/* fstart: the first group record of the failregex. */
static void rx_checks(rx *r, size_t npref, size_t fstart) {
    uint32_t h[64], nf[16];
    size_t nh = pick_groups(r, npref, fstart, is_host_name, h, 64);
    size_t nn = pick_groups(r, npref, fstart, is_nofail_name, nf, 16);
    for (size_t i = 0; i < nn; i++)
        bprintf(&r->b, "(?(%u)(?!))", (unsigned)nf[i]);
    /* (?(H1)|(?(H2)|...(?!))): true when one of them is set */
    for (size_t i = 0; i < nh; i++)
        bprintf(&r->b, "(?(%u)|", (unsigned)h[i]);
    rx_raw(r, "(?!)");
    for (size_t i = 0; i < nh; i++)
        rx_raw(r, ")");
}

/* The pattern of the whole failregex list, for the detection and the extract: the
 * prefregex once, then each failregex in a look-ahead (fail2ban tries them in order on
 * the same text), followed by what its first match must have to be a failure. When
 * fail2ban follows connections (<F-MLFID>), the first failregex that matches decides,
 * failure or not ((*COMMIT) stops the search there); otherwise the first that gives a
 * failure counts (a match without a host is an error in fail2ban, which goes on). */
/* The pattern r built (caller frees), or NULL with why in err; r is finished. */
static char *rx_take(rx *r, char *err, size_t errlen) {
    char *out = NULL;
    if (r->bad)
        snprintf(err, errlen, "%s", r->err);
    else
        out = btake(&r->b);
    rx_fini(r);
    return out;
}

static char *build_all(const prep *p, uint32_t *ngroups, char *err, size_t errlen) {
    rx r;
    rx_init(&r);
    int at_start;
    rx_begin(&r, p, &at_start);
    rx_prefix(&r, p, &at_start);
    size_t pref_groups = r.ng;
    rx_raw(&r, "(?:");
    int first = 1;
    for (size_t i = 0; i < p->nfail; i++) {
        const fre *f = &p->fail[i];
        if (!f->ok || (!f->has_host && !p->mlfid))
            continue;
        if (!first)
            rx_raw(&r, "|");
        first = 0;
        size_t fstart = r.ng;
        rx_raw(&r, "(?=");
        rx_fail(&r, p, f, 0, pref_groups, at_start);
        rx_raw(&r, ")");
        if (p->mlfid)
            rx_raw(&r, "(*COMMIT)");
        rx_checks(&r, pref_groups, fstart);
    }
    rx_raw(&r, ")");
    *ngroups = r.ngroups;
    return rx_take(&r, err, errlen);
}

/* One failregex alone, to check that it converts and compiles. Returns the pattern
 * (malloc'd) or NULL with err. */
static char *build_fail_sel(const prep *p, size_t i, char *err, size_t errlen) {
    rx r;
    rx_init(&r);
    int at_start;
    rx_begin(&r, p, &at_start);
    rx_prefix(&r, p, &at_start);
    rx_fail(&r, p, &p->fail[i], 1, r.ng, at_start);
    return rx_take(&r, err, errlen);
}

/* An ignoreregex searched in the prefregex's content (full == 0) or in the whole line. */
static char *build_ignore_sel(const prep *p, size_t j, int full, char *err, size_t errlen) {
    rx r;
    rx_init(&r);
    int at_start;
    rx_begin(&r, p, &at_start);
    if (!full)
        rx_prefix(&r, p, &at_start);
    uint32_t m;
    rx_search(&r, at_start, &m);
    char *caret = caret_for(m);
    rx_raw(&r, "(?:");
    rx_py(&r, p->ign[j].py, caret, full ? NULL : p->tail_dollar, &p->ign[j].fnames, P_IGNORE);
    rx_raw(&r, ")");
    free(caret);
    return rx_take(&r, err, errlen);
}

/* ---------------------------------------------------------------------------------- */
/* Preparing a variant */

/* f's regex and group names from the fail2ban regex re, its tags replaced. Returns 1
 * when it uses <SKIPLINES> (multi-line: ward cannot convert it), else 0. */
static int fre_tags(fre *f, const char *re, int dns_no) {
    tagged t;
    f2b_tags(re, dns_no, 0, &t);
    f->py = t.py;
    f->fnames = t.fnames;
    t.py = NULL;
    t.fnames = (strv){0};
    int skip = t.skiplines;
    tagged_fini(&t);
    return skip;
}

/* Splits a prefregex (tags replaced, <F-CONTENT> marked) into head, content and tail.
 * Returns 0, or -1 with err. */
static int split_pref(prep *p, const char *py, char *err, size_t errlen) {
    const char *o = strstr(py, CONTENT_OPEN), *c = strstr(py, CONTENT_CLOSE);
    if (!o && !c) {
        p->pref = xstrdup(py);
        return 0;
    }
    if (!o || !c || c < o || strstr(o + 1, CONTENT_OPEN) || strstr(c + 1, CONTENT_CLOSE)) {
        snprintf(err, errlen, "prefregex: <F-CONTENT> must open and close once");
        return -1;
    }
    p->head = xstrndup(py, (size_t)(o - py));
    p->content = xstrndup(o + 1, (size_t)(c - o - 1));
    p->tail = xstrdup(c + 1);
    /* A failregex's $ is the end of the content: the end of the line when nothing but
     * $ follows the content, else where the tail matches. */
    char *t = strip_dup(p->tail, strlen(p->tail));
    if (*t && strcmp(t, "$") != 0) {
        ward_f2bdate_conv cv = {0};
        char e[256];
        if (ward_f2bdate_convert(p->tail, strlen(p->tail), &cv, e, sizeof(e)) != 0 ||
            cv.ngroups != 0) {
            snprintf(err, errlen, "prefregex: what follows </F-CONTENT> %s",
                     cv.pcre2 ? "has a capturing group" : e);
            ward_f2bdate_conv_fini(&cv);
            free(t);
            return -1;
        }
        p->tail_dollar = xasprintf("(?=%s)", cv.pcre2);
        ward_f2bdate_conv_fini(&cv);
    }
    free(t);
    return 0;
}

/* Whether a datepattern line picks dates as fail2ban's default detection does: the
 * defaults themselves ({^LN-BEG}: those at the line start), one of them by name, or
 * the defaults inside a pattern that removes exactly the date ("...({DATE})"). */
static int dp_line_is_default(const char *line, int *bad, char *err, size_t errlen) {
    char *u = xstrdup(line);
    if (!strchr(u, '%'))
        for (char *q = u; *q; q++)
            if (*q >= 'a' && *q <= 'z')
                *q = (char)(*q - 'a' + 'A');
    int r = !strcmp(u, "{^LN-BEG}") || !strcmp(u, "{DEFAULT}") || strstr(u, "({DATE})") ||
            !strcmp(u, "^{DATE}") || !strcmp(u, "{DATE}");
    free(u);
    if (r)
        return 1;
    ward_f2bdate *d = ward_f2bdate_new(line, strlen(line), err, errlen);
    if (!d) {
        *bad = 1;
        return 0;
    }
    const ward_f2bdate *def = ward_f2bdate_default();
    r = def != NULL;
    for (size_t i = 0; r && i < ward_f2bdate_count(d); i++) {
        ward_f2bdate_template t, u2;
        ward_f2bdate_template_get(d, i, &t);
        int found = 0;
        for (size_t k = 0; !found && k < ward_f2bdate_count(def); k++) {
            ward_f2bdate_template_get(def, k, &u2);
            found = !strcmp(t.python, u2.python);
        }
        r = found;
    }
    ward_f2bdate_free(d);
    return r;
}

/* Decides where the rule looks: f2b.line when the datepattern is fail2ban's default
 * detection (or a part of it), the templates in front of event.original when they
 * are all anchored at the line start, else f2b.line with a note. Returns 0 or -1. */
static int prep_dates(prep *p, const char *dp, char *err, size_t errlen) {
    if (!dp)
        return 0;
    int all_default = 1, bad = 0, any = 0;
    char *copy = xstrdup(dp);
    for (char *line = copy; line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *t = strip_dup(line, strlen(line));
        if (*t) {
            any = 1;
            if (!dp_line_is_default(t, &bad, err, errlen))
                all_default = 0;
        }
        free(t);
        line = nl ? nl + 1 : NULL;
        if (bad)
            break;
    }
    free(copy);
    if (bad)
        return -1;
    if (!any || all_default)
        return 0;
    ward_f2bdate *d = ward_f2bdate_new(dp, strlen(dp), err, errlen);
    if (!d)
        return -1;
    for (size_t i = 0; i < ward_f2bdate_count(d); i++) {
        ward_f2bdate_template t;
        ward_f2bdate_template_get(d, i, &t);
        if (t.shape == WARD_F2BDATE_SHAPE_OTHER) {
            char *one = xstrdup(dp);
            for (char *q = one; *q; q++)
                if (*q == '\n')
                    *q = ' ';
            p->date_note = xasprintf("datepattern '%s' has a template not anchored at the line "
                                     "start (%s): fail2ban's default date detection (the "
                                     "decoder's f2b.line) stands in for it",
                                     one, t.name);
            free(one);
            ward_f2bdate_free(d);
            return 0;
        }
    }
    p->dates = d;
    return 0;
}

static void split_lines(const char *v, strv *out) {
    if (!v)
        return;
    char *copy = xstrdup(v);
    for (char *line = copy; line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (*line)
            strv_push(out, xstrdup(line));
        line = nl ? nl + 1 : NULL;
    }
    free(copy);
}

static int has_name(const strv *v, const char *const *names, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strv_has(v, names[i]))
            return 1;
    return 0;
}

static int compiles(const char *pat, char *err, size_t errlen) {
    pcre2_code *re = ward_re_compile(pat, strlen(pat), 0, err, errlen);
    pcre2_code_free(re);
    return re != NULL;
}

/* One diagnostic about a regex of a filter, once per filter (a regex shared by several
 * modes is reported for the first). */
static void regex_warn(imp *im, const char *where, const char *what, size_t idx, const char *re,
                       const char *why) {
    char *key = xasprintf("%s %s %s", where ? where : "", what, re);
    if (strv_has(&im->warned, key)) {
        free(key);
        return;
    }
    strv_push(&im->warned, key);
    im->regex_skipped++;
    fprintf(stderr, "%s: %s %zu not converted: %s\n      %.160s\n", where ? where : "?", what,
            idx + 1, why, re);
}

/* Puts "loc: " in front of the message in err. */
static void prefix_loc(char *err, size_t errlen, const char *loc) {
    char *m = xstrdup(err);
    snprintf(err, errlen, "%s: %s", loc, m);
    free(m);
}

/* Builds the prepared variant from the filter's options. Returns 0, 1 when the
 * variant cannot be a ward rule (reason in err), -1 on a configuration error. */
static int prep_build(imp *im, const fdef *d, const char *where, int journal, prep *p, char *err,
                      size_t errlen) {
    memset(p, 0, sizeof(*p));
    p->journal = journal;
    if (d->maxlines) {
        char *end;
        long ml = strtol(d->maxlines, &end, 10);
        if (*end || ml <= 0) {
            snprintf(err, errlen, "%s: maxlines = %s is not a positive number",
                     at_or(d, O_MAX, where), d->maxlines);
            return -1;
        }
        if (ml > 1) {
            snprintf(err, errlen,
                     "%s: maxlines = %ld: its failregex spans several lines (fail2ban buffers "
                     "%ld lines); a ward rule sees one line at a time",
                     at_or(d, O_MAX, where), ml, ml);
            return 1;
        }
    }
    int dns_no = d->usedns && !strcmp(d->usedns, "no");
    /* fail2ban reads no date in journal entries; ward's journal source writes them as
     * syslog lines, whose date the decoder removes */
    if (!journal && prep_dates(p, d->datepattern, err, errlen) != 0) {
        prefix_loc(err, errlen, at_or(d, O_DATE, where));
        return -1;
    }
    if (d->prefregex && *d->prefregex) {
        tagged t;
        f2b_tags(d->prefregex, dns_no, 1, &t);
        if (t.skiplines) {
            tagged_fini(&t);
            snprintf(err, errlen, "%s: prefregex uses <SKIPLINES>: multi-line",
                     at_or(d, O_PREF, where));
            return 1;
        }
        int r = split_pref(p, t.py, err, errlen);
        if (r != 0)
            prefix_loc(err, errlen, at_or(d, O_PREF, where));
        p->pref_fnames = t.fnames;
        t.fnames = (strv){0};
        tagged_fini(&t);
        if (r != 0)
            return 1;
        if (strv_has(&p->pref_fnames, "mlfid"))
            p->mlfid = 1;
    }
    strv fl = {0}, il = {0};
    split_lines(d->failregex, &fl);
    split_lines(d->ignoreregex, &il);
    if (fl.n == 0) {
        strv_free(&fl);
        strv_free(&il);
        snprintf(err, errlen, "%s: no failregex", at_or(d, O_FAIL, where));
        return 1;
    }
    const char *fat = at_or(d, O_FAIL, where), *iat = at_or(d, O_IGN, where);
    static const char *const ids[] = {"fid", "ip4", "ip6", "dns", "mlfid"};
    static const char *const hosts[] = {"fid", "ip4", "ip6", "dns"};
    p->fail = calloc(fl.n, sizeof(*p->fail));
    p->ign = calloc(il.n ? il.n : 1, sizeof(*p->ign));
    if (!p->fail || !p->ign)
        oom();
    p->nfail = fl.n;
    p->nign = il.n;
    p->early_ignore = il.n + 2 < fl.n;
    size_t usable = 0;
    for (size_t i = 0; i < fl.n; i++) {
        fre *f = &p->fail[i];
        if (fre_tags(f, fl.v[i], dns_no)) {
            regex_warn(im, fat, "failregex", i, fl.v[i], "<SKIPLINES>: multi-line");
            continue;
        }
        if (!f->py[strspn(f->py, " \t\r\n\f\v")]) {
            regex_warn(im, fat, "failregex", i, fl.v[i], "empty");
            continue;
        }
        if (!has_name(&f->fnames, ids, 5) && !has_name(&p->pref_fnames, ids, 5)) {
            regex_warn(im, fat, "failregex", i, fl.v[i],
                       "no failure-id group (<HOST>, <ADDR>, <F-ID>...): fail2ban refuses it");
            continue;
        }
        if (strv_has(&f->fnames, "mlfid"))
            p->mlfid = 1;
        f->has_host = has_name(&f->fnames, hosts, 4) || has_name(&p->pref_fnames, hosts, 4);
        f->ok = 1;
    }
    /* Each failregex must convert and compile: one that does not is left out (and
     * said), the others still make the rule. */
    for (size_t i = 0; i < fl.n; i++) {
        fre *f = &p->fail[i];
        if (!f->ok)
            continue;
        char e[512];
        char *pat = build_fail_sel(p, i, e, sizeof(e));
        if (!pat || !compiles(pat, e, sizeof(e))) {
            regex_warn(im, fat, "failregex", i, fl.v[i], e);
            f->ok = 0;
        }
        free(pat);
        usable += f->ok && f->has_host;
    }
    for (size_t j = 0; j < il.n; j++) {
        fre *g = &p->ign[j];
        int skip = fre_tags(g, il.v[j], dns_no);
        g->ok = !skip;
        char e[512];
        for (int full = 0; full < 2 && g->ok; full++) {
            char *pat = build_ignore_sel(p, j, full, e, sizeof(e));
            if (!pat || !compiles(pat, e, sizeof(e))) {
                g->ok = 0;
                /* a lost ignoreregex makes the rule match more than fail2ban does */
                regex_warn(im, iat, "ignoreregex", j, il.v[j], skip ? "<SKIPLINES>" : e);
            }
            free(pat);
        }
        if (skip)
            regex_warn(im, iat, "ignoreregex", j, il.v[j], "<SKIPLINES>: multi-line");
    }
    strv_free(&fl);
    strv_free(&il);
    if (!usable) {
        snprintf(err, errlen,
                 "%s: no failregex could be converted into a ward pattern that can give a "
                 "failure",
                 fat);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* The sample logs' annotations: JSON, which fail2ban reads with json.loads. JSON is
 * YAML, so the rules' YAML parser reads them, once json_prep has rewritten the one
 * escape that the two spell differently. */

static int jhex4(const char *p, unsigned long *out) {
    unsigned long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int h = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (h < 0)
            return -1;
        v = v * 16 + (unsigned long)h;
    }
    *out = v;
    return 0;
}

/* The annotation s as YAML, in a new string (caller frees): JSON writes a character past
 * U+FFFF as a surrogate pair (\ud83d\ude00), which YAML refuses, and YAML as \U0001F600.
 * A \u0000 is refused, since a node's string ends at a NUL. Returns NULL with why in err. */
static char *json_prep(const char *s, char *err, size_t errlen) {
    ward_buf b;
    ward_buf_init(&b);
    int in_str = 0;
    for (const char *p = s; *p; p++) {
        if (in_str && *p == '\\' && p[1]) {
            unsigned long hi, lo;
            if (p[1] == 'u' && jhex4(p + 2, &hi) == 0) {
                if (hi == 0) {
                    snprintf(err, errlen, "a string holds \\u0000");
                    ward_buf_fini(&b);
                    return NULL;
                }
                if (hi >= 0xD800 && hi <= 0xDBFF && p[6] == '\\' && p[7] == 'u' &&
                    jhex4(p + 8, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                    bprintf(&b, "\\U%08lX", 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
                    p += 11;
                    continue;
                }
            }
            bput(&b, p, 2); /* an escape, \" among them, stays as it is */
            p++;
            continue;
        }
        if (*p == '"')
            in_str = !in_str;
        bputc(&b, *p);
    }
    return btake(&b);
}

typedef struct jdoc {
    ward_node *root;
    size_t n;
} jdoc;

static int jdoc_take(ward_node *root, void *ctx) {
    jdoc *j = ctx;
    if (j->n++ == 0)
        j->root = root;
    else
        ward_node_free(root);
    return 0;
}

/* Parses the annotation s. Returns its tree (caller frees it with ward_node_free), or
 * NULL with why in err. */
static ward_node *json_parse(const char *s, char *err, size_t errlen) {
    jdoc j = {NULL, 0};
    ward_diags d;
    ward_diags_init(&d);
    char *y = json_prep(s, err, errlen);
    if (!y)
        return NULL;
    int rc = ward_yaml_parse(NULL, (const uint8_t *)y, strlen(y), jdoc_take, &j, &d);
    free(y);
    if (rc != 0 || j.n != 1 || !j.root) {
        if (d.oom)
            oom();
        const char *m = d.n ? d.v[0].msg : "no value";
        /* what follows is where in the annotation, which would read as the file's lines */
        const char *cut = strstr(m, " (line ");
        if (!cut)
            cut = strstr(m, " (first at line ");
        snprintf(err, errlen, "%.*s", cut ? (int)(cut - m) : (int)strlen(m), m);
        ward_node_free(j.root);
        j.root = NULL;
    }
    ward_diags_fini(&d);
    return j.root;
}

/* A JSON string's value: a quoted scalar (a plain one is a number, true, false). */
static const char *jstr(const ward_node *n) {
    return n && n->type == WARD_NODE_SCALAR && !n->plain ? n->str : NULL;
}

static int jtrue(const ward_node *n) {
    return n && n->type == WARD_NODE_SCALAR && n->plain && !strcmp(n->str, "true");
}

/* ---------------------------------------------------------------------------------- */
/* The Python expressions of the sample logs (constraint, test.condition): comparisons
 * of name (the filter's name) and opts.get('KEY') with strings, and/or/not. */

typedef struct pyx {
    const char *p;
    const char *name;
    const sec *opts;
    int bad;
} pyx;

typedef struct pyval {
    int kind; /* 0 None, 1 string, 2 bool */
    const char *s;
    char *own;
    int b;
} pyval;

static void pyws(pyx *x) {
    while (*x->p == ' ' || *x->p == '\t')
        x->p++;
}

static int pykw(pyx *x, const char *kw) {
    pyws(x);
    size_t n = strlen(kw);
    if (strncmp(x->p, kw, n) || is_wordc((unsigned char)x->p[n]))
        return 0;
    x->p += n;
    return 1;
}

static int py_or(pyx *x);

static pyval py_atom(pyx *x) {
    pyval v = {0, NULL, NULL, 0};
    pyws(x);
    if (*x->p == '\'' || *x->p == '"') {
        char q = *x->p++;
        const char *s = x->p;
        while (*x->p && *x->p != q)
            x->p++;
        if (!*x->p) {
            x->bad = 1;
            return v;
        }
        v.kind = 1;
        v.own = xstrndup(s, (size_t)(x->p - s));
        v.s = v.own;
        x->p++;
        return v;
    }
    if (*x->p == '(') {
        x->p++;
        v.kind = 2;
        v.b = py_or(x);
        pyws(x);
        if (*x->p++ != ')')
            x->bad = 1;
        return v;
    }
    if (pykw(x, "None"))
        return v;
    if (pykw(x, "True")) {
        v.kind = 2;
        v.b = 1;
        return v;
    }
    if (pykw(x, "False")) {
        v.kind = 2;
        return v;
    }
    if (pykw(x, "name")) {
        v.kind = 1;
        v.s = x->name;
        return v;
    }
    if (!strncmp(x->p, "opts.get(", 9)) {
        x->p += 9;
        pyval k = py_atom(x);
        pyws(x);
        if (k.kind != 1 || *x->p++ != ')') {
            free(k.own);
            x->bad = 1;
            return v;
        }
        const kv *o = sec_kv(x->opts, k.s);
        free(k.own);
        if (o) {
            v.kind = 1;
            v.s = o->val;
        }
        return v;
    }
    x->bad = 1;
    return v;
}

static int py_truth(const pyval *v) {
    return v->kind == 2 ? v->b : v->kind == 1 ? v->s[0] != '\0' : 0;
}

static int py_cmp(pyx *x) {
    pyval a = py_atom(x);
    pyws(x);
    int r;
    if (!strncmp(x->p, "==", 2) || !strncmp(x->p, "!=", 2)) {
        int ne = x->p[0] == '!';
        x->p += 2;
        pyval b = py_atom(x);
        int eq =
            a.kind == b.kind && (a.kind == 0 || (a.kind == 1 ? !strcmp(a.s, b.s) : a.b == b.b));
        r = ne ? !eq : eq;
        free(b.own);
    } else {
        r = py_truth(&a);
    }
    free(a.own);
    return r;
}

static int py_not(pyx *x) {
    if (pykw(x, "not"))
        return !py_not(x);
    return py_cmp(x);
}

static int py_and(pyx *x) {
    int r = py_not(x);
    while (pykw(x, "and")) {
        int s = py_not(x);
        r = r && s;
    }
    return r;
}

static int py_or(pyx *x) {
    int r = py_and(x);
    while (pykw(x, "or")) {
        int s = py_and(x);
        r = r || s;
    }
    return r;
}

/* Evaluates expr. Returns 1 or 0, or -1 for an expression this reader does not know. */
static int py_eval(const char *expr, const char *name, const sec *opts) {
    pyx x = {expr, name, opts, 0};
    int r = py_or(&x);
    pyws(&x);
    if (x.bad || *x.p)
        return -1;
    return r;
}

/* ---------------------------------------------------------------------------------- */
/* Variants: the option sets a filter is imported with, one ward rule each */

typedef struct test {
    char *line;
    int match;
    char *host_field, *host; /* expected src_ip or src_host */
    char *user;              /* expected user, or NULL */
    char *origin;            /* sample file:line */
} test;

typedef struct variant {
    sec opts; /* given to the filter (mode, logging, logtype...) */
    char *key;
    char *id, *label;
    test *t;
    size_t nt, capt;
    int built; /* 1 rule written, -1 not */
    char *why; /* why not */
} variant;

typedef struct filt {
    const char *path;
    char *name;
    conf c;
    char *default_mode, *default_logtype;
    variant *v;
    size_t nv;
    size_t sample_lines, tests_dropped;
} filt;

static void variant_fini(variant *v) {
    sec_fini(&v->opts);
    free(v->key);
    free(v->id);
    free(v->label);
    for (size_t i = 0; i < v->nt; i++) {
        free(v->t[i].line);
        free(v->t[i].host_field);
        free(v->t[i].host);
        free(v->t[i].user);
        free(v->t[i].origin);
    }
    free(v->t);
    free(v->why);
}

static int cmp_kv(const void *a, const void *b) {
    return strcmp(((const kv *)a)->key, ((const kv *)b)->key);
}

static void id_append(ward_buf *b, const char *s) {
    for (; *s; s++)
        bputc(b, is_wordc((unsigned char)*s) || *s == '.' || *s == '-' ? *s : '_');
}

/* The variant for options o (test.* keys, the default mode and the default logtype
 * dropped). Creates it when new. */
static variant *variant_for(filt *f, const sec *o) {
    sec n = {0};
    for (size_t i = 0; i < o->n; i++) {
        const char *k = o->o[i].key, *v = o->o[i].val;
        if (!strncmp(k, "test.", 5))
            continue;
        if (!strcmp(k, "mode") && f->default_mode && !strcmp(v, f->default_mode))
            continue;
        if (!strcmp(k, "logtype") && f->default_logtype && !strcmp(v, f->default_logtype))
            continue;
        sec_put(&n, k, v, NULL, 0);
    }
    if (n.n)
        qsort(n.o, n.n, sizeof(kv), cmp_kv);
    ward_buf kb, ib, lb;
    ward_buf_init(&kb);
    ward_buf_init(&ib);
    ward_buf_init(&lb);
    const kv *mode = sec_kv(&n, "mode");
    bprintf(&ib, "f2b-");
    id_append(&ib, f->name);
    if (mode) {
        bputc(&ib, '-');
        id_append(&ib, mode->val);
        bprintf(&lb, "mode %s", mode->val);
    }
    for (size_t i = 0; i < n.n; i++) {
        bprintf(&kb, "%s=%s;", n.o[i].key, n.o[i].val);
        if (!strcmp(n.o[i].key, "mode"))
            continue;
        bputc(&ib, '-');
        id_append(&ib, n.o[i].key);
        bputc(&ib, '-');
        id_append(&ib, n.o[i].val);
        bprintf(&lb, "%s%s %s", lb.len ? ", " : "", n.o[i].key, n.o[i].val);
    }
    char *key = btake(&kb);
    for (size_t i = 0; i < f->nv; i++)
        if (!strcmp(f->v[i].key, key)) {
            free(key);
            ward_buf_fini(&ib);
            ward_buf_fini(&lb);
            sec_fini(&n);
            return &f->v[i];
        }
    if (f->nv >= MAX_VARIANTS) {
        free(key);
        ward_buf_fini(&ib);
        ward_buf_fini(&lb);
        sec_fini(&n);
        return NULL;
    }
    f->v = xrealloc(f->v, (f->nv + 1) * sizeof(*f->v));
    variant *v = &f->v[f->nv++];
    memset(v, 0, sizeof(*v));
    v->opts = n;
    v->key = key;
    v->id = btake(&ib);
    v->label = btake(&lb);
    return v;
}

/* The modes a filter has: for each <PREFIX<mode>SUFFIX> tag in its values, the MODE of
 * its options named PREFIX MODE SUFFIX; a mode must have them all. */
static void discover_modes(const conf *c, strv *modes) {
    strv cand = {0};
    int first = 1;
    const sec *secs[2] = {conf_sec_c(c, "Definition"), &c->def};
    for (int si = 0; si < 2; si++) {
        for (size_t i = 0; secs[si] && i < secs[si]->n; i++) {
            const char *val = secs[si]->o[i].val;
            for (const char *m = strstr(val, "<mode>"); m; m = strstr(m + 6, "<mode>")) {
                const char *a = m, *z = m + 6;
                while (a > val && a[-1] != '<' && a[-1] != '>' && a[-1] != ' ')
                    a--;
                while (*z && *z != '>' && *z != '<' && *z != ' ')
                    z++;
                if (a == val || a[-1] != '<' || *z != '>')
                    continue;
                char *pre = xstrndup(a, (size_t)(m - a)),
                     *suf = xstrndup(m + 6, (size_t)(z - m - 6));
                strv found = {0};
                for (int sj = 0; sj < 2; sj++)
                    for (size_t k = 0; secs[sj] && k < secs[sj]->n; k++) {
                        const char *key = secs[sj]->o[k].key;
                        size_t kl = strlen(key), pl = strlen(pre), sl = strlen(suf);
                        if (kl > pl + sl && !strncmp(key, pre, pl) && !strcmp(key + kl - sl, suf)) {
                            char *md = xstrndup(key + pl, kl - pl - sl);
                            if (!strv_has(&found, md))
                                strv_push(&found, md);
                            else
                                free(md);
                        }
                    }
                if (first) {
                    cand = found;
                    first = 0;
                } else {
                    strv keep = {0};
                    for (size_t k = 0; k < cand.n; k++)
                        if (strv_has(&found, cand.v[k]))
                            strv_push(&keep, xstrdup(cand.v[k]));
                    strv_free(&cand);
                    strv_free(&found);
                    cand = keep;
                }
                free(pre);
                free(suf);
            }
        }
    }
    *modes = cand;
}

/* ---------------------------------------------------------------------------------- */
/* Sample logs: fail2ban's annotated test logs, read the way its test does */

static pcre2_code *ip_re(void) {
    static const char py[] = "^(?:"
                             "(?:\\d{1,3}\\.){3}\\d{1,3}"
                             "|\\[?"
                             "(?:[0-9a-fA-F]{1,4}::?|::)"
                             "{1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):)"
                             "\\]?)$";
    char e[128];
    return ward_re_compile(py, strlen(py), 0, e, sizeof(e));
}

static int is_ip(pcre2_code *re, const char *s) {
    pcre2_match_data *md = pcre2_match_data_create(2, NULL);
    if (!md)
        oom();
    int r = pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return r >= 0;
}

static void add_test(variant *v, const char *line, const ward_node *fd, const char *origin,
                     pcre2_code *ipre) {
    int match = jtrue(ward_node_get(fd, "match"));
    const char *hs = match ? jstr(ward_node_get(fd, "host")) : NULL;
    const char *us = match ? jstr(ward_node_get(fd, "user")) : NULL;
    /* without "host", an annotation may name the group: ip4, ip6 or dns */
    static const char *const alt[] = {"ip4", "ip6", "dns"};
    for (size_t k = 0; match && !hs && k < 3; k++)
        hs = jstr(ward_node_get(fd, alt[k]));
    /* the same sample line under two option sets that make the same rule ({} and
     * {"mode": "normal"}) is one test */
    for (size_t i = 0; i < v->nt; i++)
        if (!strcmp(v->t[i].origin, origin) && !strcmp(v->t[i].line, line))
            return;
    if (v->nt == v->capt) {
        v->capt = v->capt ? v->capt * 2 : 16;
        v->t = xrealloc(v->t, v->capt * sizeof(*v->t));
    }
    test *t = &v->t[v->nt++];
    memset(t, 0, sizeof(*t));
    t->line = xstrdup(line);
    t->match = match;
    if (hs) {
        t->host = xstrdup(hs);
        t->host_field = xstrdup(is_ip(ipre, hs) ? "src_ip" : "src_host");
    }
    if (us)
        t->user = xstrdup(us);
    t->origin = xstrdup(origin);
}

/* The options of common and then of the object o, their values as Python's str() gives
 * them to fail2ban's test: True, False, 1.5e1; '' for null, an array or an object. */
static void jv_to_sec(const ward_node *o, const sec *common, sec *out) {
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; common && i < common->n; i++)
        sec_put(out, common->o[i].key, common->o[i].val, NULL, 0);
    for (size_t i = 0; o->type == WARD_NODE_MAP && i < o->n; i++) {
        const ward_node *x = o->kids[i];
        const char *val = x->type != WARD_NODE_SCALAR ? ""
                          : !x->plain                 ? x->str
                          : !strcmp(x->str, "true")   ? "True"
                          : !strcmp(x->str, "false")  ? "False"
                                                      : x->str;
        sec_put(out, o->keys[i]->str, val, NULL, 0);
    }
}

/* Reads DIR/NAME and the files it adds; the tests go to the variants. */
static void read_samples(imp *im, filt *f) {
    strv files = {0};
    strv_push(&files, xstrdup(f->name));
    pcre2_code *ipre = ip_re();
    if (!ipre)
        oom();
    for (size_t fi = 0; fi < files.n; fi++) {
        char *path = xasprintf("%s/%s", im->samples, files.v[fi]);
        uint8_t *buf;
        size_t len, pos = 0, n;
        char rerr[512];
        if (read_whole(path, &buf, &len, rerr, sizeof(rerr)) != 0) {
            if (fi == 0)
                fprintf(stderr, "%s: no sample log (%s)\n", f->path, rerr);
            else
                fprintf(stderr, "%s\n", rerr);
            free(path);
            continue;
        }
        sec common = {0};
        sec *tests = NULL; /* the current filterOptions */
        size_t ntests = 0;
        int ignore_block = 0;
        char *line;
        int lineno = 0;
        for (; (line = next_line(buf, len, &pos, &n)) != NULL; free(line)) {
            lineno++;
            ward_node *fd = NULL;
            const char *p = line;
            int hashes = 0;
            while (*p == '#') {
                p++;
                hashes++;
            }
            if (hashes && *p == ' ')
                p++;
            const char *kinds[] = {"failJSON:", "fileOptions:", "filterOptions:", "addFILE:"};
            int kind = -1;
            for (int k = 0; hashes && k < 4; k++)
                if (!strncmp(p, kinds[k], strlen(kinds[k])) && p[strlen(kinds[k])]) {
                    kind = k;
                    p += strlen(kinds[k]);
                }
            char *origin;
            if (kind >= 0) {
                char jerr[256], why[300];
                fd = json_parse(p, jerr, sizeof(jerr));
                /* what fail2ban's test reads of each: anything else fails its test */
                static const char *const want[] = {"an object", "an object",
                                                   "an object or an array", "a string"};
                int fit = fd && (kind == 3 ? jstr(fd) != NULL
                                           : fd->type == WARD_NODE_MAP ||
                                                 (kind == 2 && fd->type == WARD_NODE_SEQ));
                if (!fd)
                    snprintf(why, sizeof(why), "annotation is not JSON (%s)", jerr);
                else
                    snprintf(why, sizeof(why), "the %.*s is not %s", (int)strlen(kinds[kind]) - 1,
                             kinds[kind], want[kind]);
                if (!fit) {
                    ward_node_free(fd);
                    fprintf(stderr, "%s:%d: %s", path, lineno, why);
                    /* a failJSON's sample cannot be tested without it: it is not read as
                     * a line without annotation (a no_match test) */
                    char *sample = kind == 0 ? next_line(buf, len, &pos, &n) : NULL;
                    if (sample) {
                        lineno++;
                        if (!ignore_block) {
                            fprintf(stderr, ": the sample on line %d is not imported", lineno);
                            f->sample_lines++;
                            f->tests_dropped++;
                        }
                        free(sample);
                    }
                    fputc('\n', stderr);
                    continue;
                }
                if (kind == 1) {
                    sec_fini(&common);
                    jv_to_sec(fd, NULL, &common);
                    ward_node_free(fd);
                    continue;
                }
                if (kind == 2) {
                    for (size_t k = 0; k < ntests; k++)
                        sec_fini(&tests[k]);
                    free(tests);
                    tests = NULL;
                    ntests = 0;
                    ignore_block = 0;
                    size_t cnt = fd->type == WARD_NODE_SEQ ? fd->n : 1;
                    tests = calloc(cnt ? cnt : 1, sizeof(*tests));
                    if (!tests)
                        oom();
                    for (size_t k = 0; k < cnt; k++) {
                        const ward_node *o = fd->type == WARD_NODE_SEQ ? fd->kids[k] : fd;
                        sec opts;
                        jv_to_sec(o, &common, &opts);
                        const kv *cond = sec_kv(&opts, "test.condition");
                        if (cond && *cond->val) {
                            int r = py_eval(cond->val, f->name, &opts);
                            if (r < 0)
                                fprintf(stderr,
                                        "%s:%d: test.condition '%s' not understood: "
                                        "block skipped\n",
                                        path, lineno, cond->val);
                            ignore_block = r != 1;
                        }
                        if (!ignore_block)
                            tests[ntests++] = opts;
                        else
                            sec_fini(&opts);
                    }
                    ward_node_free(fd);
                    continue;
                }
                if (kind == 3) {
                    if (!strv_has(&files, fd->str))
                        strv_push(&files, xstrdup(fd->str));
                    ward_node_free(fd);
                    continue;
                }
                char *sample = next_line(buf, len, &pos, &n);
                if (!sample) {
                    ward_node_free(fd);
                    break;
                }
                lineno++;
                free(line);
                line = sample;
            } else if (ignore_block || line[0] == '#' || !line[strspn(line, " \t\r\n\f\v")]) {
                continue;
            }
            if (ignore_block) {
                ward_node_free(fd);
                continue;
            }
            f->sample_lines++;
            origin = xasprintf("%s:%d", files.v[fi], lineno);
            sec dflt = {0};
            sec *vs = ntests ? tests : &dflt;
            size_t nvs = ntests ? ntests : 1;
            for (size_t k = 0; k < nvs; k++) {
                const char *cons = jstr(ward_node_get(fd, "constraint"));
                if (cons) {
                    int r = py_eval(cons, f->name, &vs[k]);
                    if (r < 0) {
                        fprintf(stderr, "%s: constraint '%s' not understood: sample skipped\n",
                                origin, cons);
                        f->tests_dropped++;
                        continue;
                    }
                    if (r == 0)
                        continue;
                }
                const kv *lt = sec_kv(&vs[k], "logtype");
                char *l2;
                if (lt && !strcmp(lt->val, "journal")) {
                    const kv *pl = sec_kv(&vs[k], "test.prefix-line");
                    l2 = xasprintf("%s%s%s", JOURNAL_DATE, pl ? pl->val : "", line);
                } else {
                    l2 = xstrdup(line);
                }
                variant *v = variant_for(f, &vs[k]);
                if (!v) {
                    fprintf(stderr, "%s: too many option sets: sample skipped\n", origin);
                    f->tests_dropped++;
                } else {
                    add_test(v, l2, fd, origin, ipre);
                }
                free(l2);
            }
            free(origin);
            ward_node_free(fd);
        }
        free(line);
        free(buf);
        for (size_t k = 0; k < ntests; k++)
            sec_fini(&tests[k]);
        free(tests);
        sec_fini(&common);
        free(path);
    }
    pcre2_code_free(ipre);
    strv_free(&files);
}

/* ---------------------------------------------------------------------------------- */
/* jail.conf: maxretry and findtime of the jail that uses a filter */

/* fail2ban's time: "600", "10m", "1h 30m", "1d"... Returns seconds, or -1. */
static long f2b_seconds(const char *s) {
    static const struct {
        const char *unit;
        long mult;
    } units[] = {
        {"days", 86400},    {"day", 86400},    {"da", 86400},    {"dd", 86400},
        {"d", 86400},       {"weeks", 604800}, {"week", 604800}, {"wee", 604800},
        {"ww", 604800},     {"we", 604800},    {"w", 604800},    {"months", 2629800},
        {"month", 2629800}, {"mon", 2629800},  {"mo", 2629800},  {"years", 31557600},
        {"year", 31557600}, {"yea", 31557600}, {"yy", 31557600}, {"ye", 31557600},
        {"y", 31557600},    {"seconds", 1},    {"second", 1},    {"sec", 1},
        {"ss", 1},          {"se", 1},         {"s", 1},         {"minutes", 60},
        {"minute", 60},     {"min", 60},       {"mm", 60},       {"mi", 60},
        {"m", 60},          {"hours", 3600},   {"hour", 3600},   {"hou", 3600},
        {"hh", 3600},       {"ho", 3600},      {"h", 3600},
    };
    long total = 0;
    int any = 0;
    while (*s) {
        while (is_space((unsigned char)*s) || *s == '+')
            s++;
        if (!*s)
            break;
        if (*s < '0' || *s > '9')
            return -1;
        long v = 0;
        while (*s >= '0' && *s <= '9') {
            v = v * 10 + (*s++ - '0');
            if (v > 100000000)
                return -1;
        }
        while (*s == ' ')
            s++;
        long mult = 1;
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')) {
            const char *e = s;
            while ((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z'))
                e++;
            char *u = lower_dup(s, (size_t)(e - s));
            size_t k;
            for (k = 0; k < sizeof(units) / sizeof(units[0]); k++)
                if (!strcmp(u, units[k].unit))
                    break;
            free(u);
            if (k == sizeof(units) / sizeof(units[0]))
                return -1;
            mult = units[k].mult;
            s = e;
        }
        total += v * mult;
        any = 1;
    }
    return any ? total : -1;
}

/* The threshold from the jail whose filter is name (fail2ban's defaults, 5 in 10m,
 * when no jail uses it). Returns 0 with *count and *within, -1 on a bad value. */
static int jail_threshold(imp *im, const char *name, long *count, long *within, char *jailname,
                          size_t jn) {
    const conf *c = &im->jailconf;
    char err[256];
    const char *found = NULL;
    for (size_t i = 0; i < c->n && !found; i++) {
        const char *sn = c->s[i].name;
        if (!strcmp(sn, "INCLUDES") || !strncmp(sn, "KNOWN/", 6) || !strcmp(sn, "Definition") ||
            !strcmp(sn, "Init"))
            continue;
        char *fv = NULL;
        if (cfg_get(c, sn, "filter", (vars){0}, &fv, NULL, err, sizeof(err)) == G_OK) {
            char *b = strip_dup(fv, strcspn(fv, "["));
            if (!strcmp(b, name))
                found = sn;
            free(b);
            free(fv);
        } else if (!strcmp(sn, name)) {
            found = sn;
        }
    }
    const char *secn = found ? found : "DEFAULT";
    snprintf(jailname, jn, "%s", found ? found : "");
    char *mr = NULL, *ft = NULL;
    *count = 5;
    *within = 600;
    if (cfg_get(c, secn, "maxretry", (vars){0}, &mr, NULL, err, sizeof(err)) == G_OK) {
        char *end;
        long v = strtol(mr, &end, 10);
        if (*end || v < 1) {
            fprintf(stderr, "%s: [%s] maxretry = %s is not a positive number\n", im->jail, secn,
                    mr);
            free(mr);
            return -1;
        }
        *count = v;
    }
    if (cfg_get(c, secn, "findtime", (vars){0}, &ft, NULL, err, sizeof(err)) == G_OK) {
        long v = f2b_seconds(ft);
        if (v < 1) {
            fprintf(stderr, "%s: [%s] findtime = %s is not a duration\n", im->jail, secn, ft);
            free(mr);
            free(ft);
            return -1;
        }
        *within = v;
    }
    free(mr);
    free(ft);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* YAML */

/* Length of the UTF-8 sequence at s (1..4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, unsigned long *cp) {
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t n = s[0] >= 0xF0 && s[0] < 0xF5 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (!n || s[0] >= 0xF5)
        return 0;
    unsigned long v = s[0] & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

/* A character YAML can carry as it is in a quoted scalar. */
static int yaml_plain_char(unsigned long cp) {
    return (cp >= 0x20 && cp < 0x7F) || (cp >= 0xA0 && cp != 0x2028 && cp != 0x2029 &&
                                         cp != 0xFEFF && cp != 0xFFFE && cp != 0xFFFF);
}

/* Writes s as a YAML scalar: single-quoted when every character can be written as it
 * is, double-quoted with escapes otherwise. Returns 0, or -1 for bytes that are not
 * UTF-8 (YAML cannot hold them). */
static int yaml_str(ward_buf *b, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    int plain = 1;
    for (size_t i = 0; p[i];) {
        unsigned long cp;
        size_t n = utf8_len(p + i, &cp);
        if (!n)
            return -1;
        if (!yaml_plain_char(cp))
            plain = 0;
        i += n;
    }
    if (plain) {
        bputc(b, '\'');
        for (; *s; s++) {
            if (*s == '\'')
                bputc(b, '\'');
            bputc(b, *s);
        }
        bputc(b, '\'');
        return 0;
    }
    bputc(b, '"');
    for (size_t i = 0; p[i];) {
        unsigned long cp;
        size_t n = utf8_len(p + i, &cp);
        if (cp == '"' || cp == '\\') {
            bputc(b, '\\');
            bputc(b, (char)cp);
        } else if (cp == '\t') {
            bputs(b, "\\t");
        } else if (yaml_plain_char(cp)) {
            bput(b, (const char *)p + i, n);
        } else if (cp <= 0xFF) {
            bprintf(b, "\\x%02lx", cp);
        } else {
            bprintf(b, "\\u%04lx", cp);
        }
        i += n;
    }
    bputc(b, '"');
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Writing a rule */

static void yaml_line(ward_buf *b, const char *indent, const char *key, const char *val) {
    bprintf(b, "%s%s: ", indent, key);
    if (yaml_str(b, val) != 0)
        bputs(b, "''");
    bputc(b, '\n');
}

/* Appends variant v's rule to out, *ntests getting the number of tests it has (v's
 * samples but those YAML cannot hold). Returns 0, 1 when the variant gives no rule
 * (v->why says why), -1 on a configuration error (also in v->why). */
static int write_rule(imp *im, filt *f, variant *v, ward_buf *out, size_t *ntests) {
    char err[1024];
    *ntests = 0;
    fdef d;
    if (filter_eval(&f->c, &v->opts, &d, err, sizeof(err)) != 0) {
        v->why = err[0] == '/' ? xstrdup(err) : xasprintf("%s: %s", f->path, err);
        return -1;
    }
    prep p;
    const char *where = f->path;
    const kv *lt = sec_kv(&v->opts, "logtype");
    int r = prep_build(im, &d, where, lt && !strcmp(lt->val, "journal"), &p, err, sizeof(err));
    if (r != 0) {
        v->why = xstrdup(err);
        prep_fini(&p);
        fdef_fini(&d);
        return r;
    }
    if (p.date_note)
        fprintf(stderr, "%s: %s\n", f->path, p.date_note);
    const char *field = field_of(&p);
    ward_buf b;
    ward_buf_init(&b);
    bprintf(&b, "# fail2ban filter %s%s%s, imported by ward-rules import-fail2ban from %s.\n",
            f->name, v->label[0] ? " with " : "", v->label, f->path);
    bputs(&b, "# Change the filter and import it again rather than editing this file.\n");
    char *title = v->label[0] ? xasprintf("fail2ban %s (%s)", f->name, v->label)
                              : xasprintf("fail2ban %s", f->name);
    yaml_line(&b, "", "title", title);
    free(title);
    yaml_line(&b, "", "id", v->id);
    bputs(&b, "status: experimental\n");
    char *desc = xasprintf("The failregex of fail2ban's %s filter%s%s, applied as fail2ban "
                           "applies them to %s.",
                           f->name, v->label[0] ? ", " : "", v->label,
                           p.dates ? "the line after its own date templates"
                                   : "the line without its date (f2b.line)");
    yaml_line(&b, "", "description", desc);
    free(desc);
    bputs(&b, "author: fail2ban (imported)\nlevel: low\ntags:\n  - fail2ban\n");
    char *tag = xasprintf("fail2ban.%s", f->name);
    bputs(&b, "  - ");
    yaml_str(&b, tag);
    bputc(&b, '\n');
    free(tag);
    bputs(&b, "decoder: fail2ban\ndetection:\n");
    uint32_t ng = 0;
    char *all = build_all(&p, &ng, err, sizeof(err));
    if (!all || !compiles(all, err, sizeof(err))) {
        v->why = xasprintf("%s: the failregex list does not make one pattern: %s", where, err);
        free(all);
        ward_buf_fini(&b);
        prep_fini(&p);
        fdef_fini(&d);
        return 1;
    }
    char *key = xasprintf("%s|re", field);
    bputs(&b, "  fail:\n");
    yaml_line(&b, "    ", key, all);
    size_t nign = 0;
    for (size_t j = 0; j < p.nign; j++) {
        if (!p.ign[j].ok)
            continue;
        for (int full = 0; full < 2; full++) {
            /* the content search when there is a content; the whole line when there is
             * none, or when fail2ban checks the whole line first */
            if (full ? (p.head && !p.early_ignore) : !p.head)
                continue;
            char *pat = build_ignore_sel(&p, j, full, err, sizeof(err));
            if (!pat)
                continue;
            bprintf(&b, "  ign_%s%zu:\n", full ? "line_" : "", j + 1);
            yaml_line(&b, "    ", key, pat);
            free(pat);
            nign++;
        }
    }
    free(key);
    bprintf(&b, "  condition: fail%s\n", nign ? " and not 1 of ign_*" : "");
    /* the same pattern gives the fields: those of the failregex that decided */
    if (ng > PCRE2_MAX_GROUPS)
        fprintf(stderr, "%s: rule %s: the pattern has %u groups; ward reports the first %u\n",
                f->path, v->id, (unsigned)ng, (unsigned)PCRE2_MAX_GROUPS);
    bprintf(&b, "extract:\n  on: %s\n", field);
    yaml_line(&b, "  ", "pcre2", all);
    free(all);
    if (im->have_jail) {
        long count, within;
        char jn[128];
        if (jail_threshold(im, f->name, &count, &within, jn, sizeof(jn)) == 0) {
            if (within > 30L * 86400) {
                fprintf(stderr, "%s: findtime %lds is over ward's 30 days: 30d used\n", im->jail,
                        within);
                within = 30L * 86400;
            }
            bprintf(&b, "threshold:\n  count: %ld\n  within: %ld\n  group_by: [src_ip]\n", count,
                    within);
            if (!jn[0])
                bprintf(&b, "# no jail of %s uses %s: fail2ban's defaults\n", im->jail, f->name);
        }
    }
    size_t nm = 0, nn = 0;
    for (size_t i = 0; i < v->nt; i++)
        if (v->t[i].match)
            nm++;
        else
            nn++;
    if (nm + nn) {
        bputs(&b, "tests:\n");
        for (int want = 1; want >= 0; want--) {
            if (!(want ? nm : nn))
                continue;
            bprintf(&b, "  %s:\n", want ? "match" : "no_match");
            for (size_t i = 0; i < v->nt; i++) {
                const test *t = &v->t[i];
                if (t->match != want)
                    continue;
                ward_buf one;
                ward_buf_init(&one);
                bprintf(&one, "    # %s\n", t->origin);
                int bad = 0;
                if (want) {
                    bputs(&one, "    - line: ");
                    bad |= yaml_str(&one, t->line);
                    if (t->host || t->user) {
                        bputs(&one, "\n      fields:\n");
                        if (t->host) {
                            bprintf(&one, "        %s: ", t->host_field);
                            bad |= yaml_str(&one, t->host);
                            bputc(&one, '\n');
                        }
                        if (t->user) {
                            bputs(&one, "        user: ");
                            bad |= yaml_str(&one, t->user);
                            bputc(&one, '\n');
                        }
                    } else {
                        bputc(&one, '\n');
                    }
                } else {
                    bputs(&one, "    - ");
                    bad |= yaml_str(&one, t->line);
                    bputc(&one, '\n');
                }
                if (bad) {
                    fprintf(stderr, "%s: not UTF-8, cannot be a YAML test\n", t->origin);
                    f->tests_dropped++;
                } else {
                    bput(&b, one.p, one.len);
                    (*ntests)++;
                }
                ward_buf_fini(&one);
            }
        }
    }
    if (out->len)
        bputs(out, "---\n");
    bput(out, b.p, b.len);
    ward_buf_fini(&b);
    prep_fini(&p);
    fdef_fini(&d);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* One filter */

static void filt_fini(filt *f) {
    free(f->name);
    conf_fini(&f->c);
    free(f->default_mode);
    free(f->default_logtype);
    for (size_t i = 0; i < f->nv; i++)
        variant_fini(&f->v[i]);
    free(f->v);
}

static int write_file(const char *path, const char *data, size_t len) {
    char *tmp = xasprintf("%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp) {
        fprintf(stderr, "%s: %s\n", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    int ok = fwrite(data, 1, len, fp) == len;
    ok &= fclose(fp) == 0;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

static void process_filter(imp *im, const char *path) {
    filt f;
    memset(&f, 0, sizeof(f));
    f.path = path;
    strv_free(&im->warned);
    const char *bn = base_name(path);
    size_t bl = strlen(bn);
    f.name = bl > 5 && !strcmp(bn + bl - 5, ".conf") ? xstrndup(bn, bl - 5) : xstrdup(bn);
    im->filters++;
    char err[1024];
    if (conf_read(im, path, &f.c, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        im->failed++;
        strv_push(&im->skipped_list, xasprintf("%s: %s", f.name, err));
        filt_fini(&f);
        return;
    }
    if (cfg_get(&f.c, "Definition", "mode", (vars){0}, &f.default_mode, NULL, err, sizeof(err)) !=
        G_OK)
        f.default_mode = NULL;
    if (cfg_get(&f.c, "Definition", "logtype", (vars){0}, &f.default_logtype, NULL, err,
                sizeof(err)) != G_OK)
        f.default_logtype = NULL;
    sec none = {0};
    variant_for(&f, &none);
    strv modes = {0};
    discover_modes(&f.c, &modes);
    for (size_t i = 0; i < modes.n; i++) {
        sec o = {0};
        sec_put(&o, "mode", modes.v[i], NULL, 0);
        variant_for(&f, &o);
        sec_fini(&o);
    }
    strv_free(&modes);
    if (im->samples)
        read_samples(im, &f);
    ward_buf out;
    ward_buf_init(&out);
    size_t written = 0, tests = 0, lost = 0;
    int config_error = 0;
    for (size_t i = 0; i < f.nv; i++) {
        variant *v = &f.v[i];
        size_t nt = 0;
        int r = write_rule(im, &f, v, &out, &nt);
        v->built = r == 0 ? 1 : -1;
        if (r == 0) {
            written++;
            tests += nt;
        } else {
            lost += v->nt;
            config_error |= r < 0;
            fprintf(stderr, "%s (rule %s not written)\n", v->why, v->id);
            if (v->nt)
                fprintf(stderr, "%s: %zu samples of rule %s not imported\n", path, v->nt, v->id);
        }
    }
    im->sample_skipped += lost + f.tests_dropped;
    if (written) {
        char *op = xasprintf("%s/%s.yml", im->outdir, f.name);
        if (write_file(op, out.p, out.len) != 0) {
            im->failed++;
            strv_push(&im->skipped_list, xasprintf("%s: cannot write %s", f.name, op));
        } else {
            im->imported++;
            im->rules += written;
            im->tests += tests;
            printf("imported %s: %zu rule%s", f.name, written, written == 1 ? "" : "s");
            for (size_t i = 0, k = 0; i < f.nv; i++)
                if (f.v[i].built > 0)
                    printf("%s%s", k++ ? ", " : " (", f.v[i].id);
            printf(")");
            if (im->samples)
                printf(", %zu tests from %zu sample lines", tests, f.sample_lines);
            if (lost + f.tests_dropped)
                printf(", %zu tests not imported", lost + f.tests_dropped);
            printf("\n");
        }
        free(op);
    } else {
        const char *why = f.nv ? f.v[0].why : "no rule";
        if (config_error)
            im->failed++;
        else
            im->skipped++;
        strv_push(&im->skipped_list, xasprintf("%s: %s", f.name, why ? why : "no rule"));
        printf("%s %s: %s", config_error ? "failed" : "skipped", f.name, why ? why : "no rule");
        if (lost + f.tests_dropped)
            printf(" (%zu tests not imported)", lost + f.tests_dropped);
        printf("\n");
    }
    ward_buf_fini(&out);
    filt_fini(&f);
}

/* ---------------------------------------------------------------------------------- */
/* Command line */

int import_fail2ban_main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"samples", required_argument, NULL, 's'},
        {"jail", required_argument, NULL, 'j'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    imp im;
    memset(&im, 0, sizeof(im));
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            im.samples = optarg;
            break;
        case 'j':
            im.jail = optarg;
            break;
        case 'o':
            im.outdir = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        default:
            fputs(usage_text, stderr);
            return EXIT_USAGE;
        }
    }
    if (!im.outdir || optind >= argc) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    struct stat st;
    if (mkdir(im.outdir, 0755) != 0 &&
        (errno != EEXIST || stat(im.outdir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        fprintf(stderr, "ward-rules import-fail2ban: %s: %s\n", im.outdir, strerror(errno));
        return EXIT_USAGE;
    }
    if (im.samples && (stat(im.samples, &st) != 0 || !S_ISDIR(st.st_mode))) {
        fprintf(stderr, "ward-rules import-fail2ban: --samples %s: not a directory\n", im.samples);
        return EXIT_USAGE;
    }
    int rc = EXIT_OK;
    if (im.jail) {
        char err[1024];
        if (conf_read(&im, im.jail, &im.jailconf, err, sizeof(err)) != 0) {
            fprintf(stderr, "ward-rules import-fail2ban: --jail %s\n", err);
            rc = EXIT_USAGE;
            goto done;
        }
        im.have_jail = 1;
    }
    for (int i = optind; i < argc; i++)
        process_filter(&im, argv[i]);
    printf("summary: %zu filters: %zu imported (%zu rules, %zu tests), %zu skipped, %zu failed; "
           "%zu regexes not converted, %zu samples not imported\n",
           im.filters, im.imported, im.rules, im.tests, im.skipped, im.failed, im.regex_skipped,
           im.sample_skipped);
    for (size_t i = 0; i < im.skipped_list.n; i++)
        printf("  not imported: %s\n", im.skipped_list.v[i]);
    rc = im.skipped || im.failed ? EXIT_FAIL : EXIT_OK;
done:
    for (size_t i = 0; i < im.nfiles; i++) {
        free(im.files[i].path);
        conf_fini(&im.files[i].c);
    }
    free(im.files);
    conf_fini(&im.jailconf);
    strv_free(&im.skipped_list);
    strv_free(&im.warned);
    return rc;
}
