/* YAML to ward_node trees through libyaml's event API, so that depth, node count and
 * input size stay bounded and anchors, aliases and unknown tags can be refused. */
#include "ward/node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* An error found inside a document: kept until the document ends so that it can be
 * reported with the document's `id` (the rule it belongs to) when there is one. */
typedef struct pending {
    int line, col;
    char *msg;
} pending;

typedef struct frame {
    ward_node *node;
    int want_value; /* MAP: a key has been read and its value is next */
} frame;

typedef struct builder {
    const char *file;
    ward_diags *d;
    frame stack[WARD_YAML_MAX_DEPTH + 1];
    int depth;
    ward_node *root;
    size_t nodes;
    pending *pend;
    size_t npend, cappend;
    int doc_bad;
    int failed; /* some error was reported by this parse */
} builder;

void ward_node_free(ward_node *n) {
    if (!n)
        return;
    /* Iterative over siblings, recursive over depth: depth is bounded by the parser. */
    for (size_t i = 0; i < n->n; i++) {
        if (n->kids)
            ward_node_free(n->kids[i]);
        if (n->keys)
            ward_node_free(n->keys[i]);
    }
    free(n->kids);
    free(n->keys);
    free(n->str);
    free(n);
}

const ward_node *ward_node_get(const ward_node *map, const char *key) {
    if (!map || map->type != WARD_NODE_MAP)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < map->n; i++) {
        const ward_node *k = map->keys[i];
        if (k && k->len == klen && memcmp(k->str, key, klen) == 0)
            return map->kids[i];
    }
    return NULL;
}

/* Records a problem of the current document; it is reported when the document ends. */
static void doc_error(builder *b, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void doc_error(builder *b, int line, int col, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    b->doc_bad = 1;
    b->failed = 1;
    if (b->npend == b->cappend) {
        size_t cap = b->cappend ? b->cappend * 2 : 4;
        pending *v = realloc(b->pend, cap * sizeof(*v));
        if (!v)
            goto direct;
        b->pend = v;
        b->cappend = cap;
    }
    b->pend[b->npend].msg = strdup(msg);
    if (!b->pend[b->npend].msg)
        goto direct;
    b->pend[b->npend].line = line;
    b->pend[b->npend].col = col;
    b->npend++;
    return;
direct:
    ward_diags_add(b->d, b->file, line, col, NULL, "%s", msg);
}

/* The current document's top-level `id`, when it has one so far: errors name the rule. */
static const char *doc_id(const builder *b) {
    const ward_node *top = b->root ? b->root : b->depth > 0 ? b->stack[0].node : NULL;
    const ward_node *id = ward_node_get(top, "id");
    return id && id->type == WARD_NODE_SCALAR && id->len && !memchr(id->str, 0, id->len) ? id->str
                                                                                         : NULL;
}

/* Reports the pending errors of the finished document. */
static void flush_pending(builder *b) {
    const char *rid = doc_id(b);
    for (size_t i = 0; i < b->npend; i++) {
        ward_diags_add(b->d, b->file, b->pend[i].line, b->pend[i].col, rid, "%s", b->pend[i].msg);
        free(b->pend[i].msg);
    }
    b->npend = 0;
}

/* Reports an error that ends the stream. */
static void yerr(builder *b, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void yerr(builder *b, int line, int col, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    b->failed = 1;
    flush_pending(b); /* they come earlier in the file */
    ward_diags_add(b->d, b->file, line, col, doc_id(b), "%s", msg);
}

static void builder_reset(builder *b) {
    /* Nodes still on the stack are not yet attached to a parent: the stack owns them. */
    for (int i = 0; i < b->depth; i++) {
        ward_node *n = b->stack[i].node;
        if (b->stack[i].want_value) /* a key without its value yet */
            ward_node_free(n->keys[n->n]);
        ward_node_free(n);
    }
    ward_node_free(b->root);
    b->root = NULL;
    b->depth = 0;
    b->nodes = 0;
    b->doc_bad = 0;
    for (size_t i = 0; i < b->npend; i++)
        free(b->pend[i].msg);
    b->npend = 0;
}

static int is_null_text(const char *s, size_t len) {
    return len == 0 || (len == 1 && s[0] == '~') ||
           (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

/* Tags ward understands: the core schema's. Returns 0 and sets *quoted (the value is a
 * string whatever it looks like) / *null, or -1 for any other tag. */
static int check_tag(const char *tag, int *quoted, int *null) {
    static const char pfx[] = "tag:yaml.org,2002:";
    *quoted = 0;
    *null = 0;
    if (!tag)
        return 0;
    if (!strcmp(tag, "!")) { /* the non-specific tag: a string */
        *quoted = 1;
        return 0;
    }
    if (strncmp(tag, pfx, sizeof(pfx) - 1) != 0)
        return -1;
    tag += sizeof(pfx) - 1;
    if (!strcmp(tag, "str")) {
        *quoted = 1;
        return 0;
    }
    if (!strcmp(tag, "null")) {
        *null = 1;
        return 0;
    }
    if (!strcmp(tag, "int") || !strcmp(tag, "float") || !strcmp(tag, "bool") ||
        !strcmp(tag, "map") || !strcmp(tag, "seq"))
        return 0;
    return -1;
}

/* A tag as it is written: "!!int" for the core schema's, otherwise unchanged. */
static const char *short_tag(const char *tag, char *buf, size_t len) {
    static const char pfx[] = "tag:yaml.org,2002:";
    if (strncmp(tag, pfx, sizeof(pfx) - 1) != 0)
        return tag;
    snprintf(buf, len, "!!%s", tag + sizeof(pfx) - 1);
    return buf;
}

/* Stores kid at index parent->n of arr, whose capacity is the power of two at or above
 * that index: it doubles when the index reaches a power of two. */
static int push_kid(ward_node *parent, ward_node ***arr, ward_node *kid) {
    size_t i = parent->n;
    if (i == 0 || (i & (i - 1)) == 0) {
        size_t cap = i ? i * 2 : 1;
        ward_node **v = realloc(*arr, cap * sizeof(*v));
        if (!v)
            return -1;
        *arr = v;
    }
    (*arr)[i] = kid;
    return 0;
}

/* Places a finished node in its parent (or as the root). Takes ownership of n.
 * Returns 0, or -1 when memory ran out (n is freed). */
static int attach(builder *b, ward_node *n) {
    if (b->depth == 0) {
        b->root = n;
        return 0;
    }
    frame *f = &b->stack[b->depth - 1];
    ward_node *p = f->node;
    if (p->type == WARD_NODE_SEQ) {
        if (push_kid(p, &p->kids, n) < 0)
            goto oom;
        p->n++;
        return 0;
    }
    if (!f->want_value) {
        /* A key: ward reads maps with plain string keys only. */
        if (n->type != WARD_NODE_SCALAR) {
            doc_error(b, n->line, n->col, "map keys must be non-empty scalars");
            /* Keep the structure: a placeholder key that matches nothing. */
            ward_node_free(n);
            n = calloc(1, sizeof(*n));
            if (!n)
                return -1;
            n->type = WARD_NODE_SCALAR;
            n->str = strdup("");
            if (!n->str)
                goto oom;
        }
        if (push_kid(p, &p->keys, n) < 0)
            goto oom;
        f->want_value = 1;
        return 0;
    }
    if (push_kid(p, &p->kids, n) < 0)
        goto oom;
    p->n++;
    f->want_value = 0;
    return 0;
oom:
    ward_node_free(n);
    return -1;
}

static int cmp_keyp(const void *a, const void *b) {
    const ward_node *x = *(const ward_node *const *)a, *y = *(const ward_node *const *)b;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->str, y->str, m);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    /* Equal keys stay in file order, so the later one is the duplicate reported. */
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->col < y->col ? -1 : x->col > y->col;
}

/* Reports every repeated key of a finished map. Sorting keeps big maps O(n log n). */
static int check_dup_keys(builder *b, const ward_node *m) {
    if (m->n < 2)
        return 0;
    const ward_node **v = malloc(m->n * sizeof(*v));
    if (!v)
        return -1;
    for (size_t i = 0; i < m->n; i++)
        v[i] = m->keys[i];
    qsort(v, m->n, sizeof(*v), cmp_keyp);
    for (size_t i = 1; i < m->n; i++) {
        const ward_node *x = v[i - 1], *y = v[i];
        if (x->len == y->len && memcmp(x->str, y->str, x->len) == 0 && y->line > 0)
            doc_error(b, y->line, y->col, "duplicate key '%.*s' (first at line %d, column %d)",
                      (int)(y->len > 80 ? 80 : y->len), y->str, x->line, x->col);
    }
    free(v);
    return 0;
}

static ward_node *new_node(builder *b, ward_node_type t, const yaml_mark_t *m) {
    ward_node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->type = t;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    b->nodes++;
    return n;
}

/* Counts lines up to off for a reader error, which gives an offset but no mark. */
static void offset_pos(const uint8_t *buf, size_t len, size_t off, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (buf[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static void report_parser_error(builder *b, const yaml_parser_t *p, const uint8_t *buf,
                                size_t len) {
    int line, col;
    if (p->error == YAML_MEMORY_ERROR) {
        yerr(b, 0, 0, "out of memory while parsing YAML");
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        offset_pos(buf, len, p->problem_offset, &line, &col);
        yerr(b, line, col, "YAML: %s", p->problem ? p->problem : "cannot read input");
        return;
    }
    line = (int)p->problem_mark.line + 1;
    col = (int)p->problem_mark.column + 1;
    const char *hint = "";
    size_t at = p->problem_mark.index;
    if (at < len && buf[at] == '\t' && !(p->problem && strstr(p->problem, "tab")))
        hint = " (tabs are not allowed in YAML indentation; use spaces)";
    if (p->context)
        yerr(b, line, col, "YAML: %s %s (line %d, column %d)%s",
             p->problem ? p->problem : "syntax error", p->context, (int)p->context_mark.line + 1,
             (int)p->context_mark.column + 1, hint);
    else
        yerr(b, line, col, "YAML: %s%s", p->problem ? p->problem : "syntax error", hint);
}

/* Handles one event. Returns 0 to go on, 1 at the end of the stream, -1 on a fatal error
 * (already reported). */
static int on_event(builder *b, const yaml_event_t *ev, ward_yaml_doc_fn fn, void *ctx) {
    const yaml_mark_t *m = &ev->start_mark;
    int line = (int)m->line + 1, col = (int)m->column + 1;
    const char *anchor = NULL, *tag = NULL;
    char tagbuf[128];
    ward_node *n = NULL;

    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        return 1;
    case YAML_DOCUMENT_START_EVENT:
        builder_reset(b);
        return 0;
    case YAML_DOCUMENT_END_EVENT: {
        int bad = b->doc_bad;
        flush_pending(b);
        ward_node *root = b->root;
        b->root = NULL;
        if (bad) {
            ward_node_free(root);
            return 0;
        }
        if (fn(root, ctx) != 0)
            return -1;
        return 0;
    }
    case YAML_ALIAS_EVENT:
        doc_error(b, line, col, "YAML aliases ('*%s') are not supported",
                  (const char *)ev->data.alias.anchor);
        n = new_node(b, WARD_NODE_NULL, m);
        break;
    case YAML_SCALAR_EVENT: {
        anchor = (const char *)ev->data.scalar.anchor;
        tag = (const char *)ev->data.scalar.tag;
        int quoted, null;
        if (check_tag(tag, &quoted, &null) < 0) {
            doc_error(b, line, col, "unsupported YAML tag '%s'",
                      short_tag(tag, tagbuf, sizeof(tagbuf)));
            quoted = null = 0;
        }
        const char *s = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !quoted;
        if (null || (plain && is_null_text(s, len))) {
            n = new_node(b, WARD_NODE_NULL, m);
            break;
        }
        n = new_node(b, WARD_NODE_SCALAR, m);
        if (!n)
            break;
        n->str = malloc(len + 1);
        if (!n->str) {
            ward_node_free(n);
            n = NULL;
            break;
        }
        memcpy(n->str, s, len);
        n->str[len] = 0;
        n->len = len;
        n->plain = plain;
        break;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int is_seq = ev->type == YAML_SEQUENCE_START_EVENT;
        anchor =
            (const char *)(is_seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor);
        tag = (const char *)(is_seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag);
        int quoted, null;
        if (check_tag(tag, &quoted, &null) < 0 || quoted || null)
            doc_error(b, line, col, "unsupported YAML tag '%s'",
                      short_tag(tag, tagbuf, sizeof(tagbuf)));
        if (anchor)
            doc_error(b, line, col, "YAML anchors ('&%s') are not supported", anchor);
        if (b->depth >= WARD_YAML_MAX_DEPTH) {
            yerr(b, line, col, "YAML nesting deeper than %d levels", WARD_YAML_MAX_DEPTH);
            return -1;
        }
        n = new_node(b, is_seq ? WARD_NODE_SEQ : WARD_NODE_MAP, m);
        if (!n)
            goto oom;
        b->stack[b->depth].node = n;
        b->stack[b->depth].want_value = 0;
        b->depth++;
        goto count;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth == 0)
            return 0; /* cannot happen with libyaml; be safe anyway */
        n = b->stack[--b->depth].node;
        if (n->type == WARD_NODE_MAP && check_dup_keys(b, n) < 0) {
            ward_node_free(n);
            goto oom;
        }
        if (attach(b, n) < 0)
            goto oom;
        return 0;
    default:
        return 0;
    }

    /* A scalar or alias node. */
    if (!n)
        goto oom;
    if (anchor)
        doc_error(b, line, col, "YAML anchors ('&%s') are not supported", anchor);
    if (attach(b, n) < 0)
        goto oom;
count:
    if (b->nodes > WARD_YAML_MAX_NODES) {
        yerr(b, line, col, "YAML document has more than %d nodes", WARD_YAML_MAX_NODES);
        return -1;
    }
    return 0;
oom:
    yerr(b, line, col, "out of memory while parsing YAML");
    return -1;
}

int ward_yaml_parse(const char *file, const uint8_t *buf, size_t len, ward_yaml_doc_fn fn,
                    void *ctx, ward_diags *d) {
    builder b;
    memset(&b, 0, sizeof(b));
    b.file = file;
    b.d = d;

    if (len > WARD_YAML_MAX_FILE) {
        ward_diags_add(d, file, 0, 0, NULL, "input is %zu bytes, over the %u byte limit", len,
                       WARD_YAML_MAX_FILE);
        return -1;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        ward_diags_add(d, file, 0, 0, NULL, "out of memory while parsing YAML");
        return -1;
    }
    yaml_parser_set_input_string(&p, buf, len);
    int fatal = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            report_parser_error(&b, &p, buf, len);
            fatal = 1;
            break;
        }
        int rc = on_event(&b, &ev, fn, ctx);
        yaml_event_delete(&ev);
        if (rc < 0) {
            fatal = 1;
            break;
        }
        if (rc > 0)
            break;
    }
    if (fatal) /* the document was cut short: what was found before still counts */
        flush_pending(&b);
    builder_reset(&b);
    free(b.pend);
    yaml_parser_delete(&p);
    return fatal || b.failed ? -1 : 0;
}

int ward_file_read(const char *path, size_t max, uint8_t **out, size_t *len, char *err,
                   size_t errlen) {
    uint8_t *buf = NULL;
    size_t n = 0;
    *out = NULL;
    *len = 0;
    /* O_NONBLOCK: a FIFO must not hang the loader before fstat refuses it. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "cannot stat: %s", strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "not a regular file");
        goto fail;
    }
    if ((uintmax_t)st.st_size > max) {
        snprintf(err, errlen, "file is %jd bytes, over the %zu byte limit", (intmax_t)st.st_size,
                 max);
        goto fail;
    }
    /* One byte more than the limit, in case the file grew since fstat. */
    size_t cap = (size_t)st.st_size + 1;
    buf = malloc(cap + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (;;) {
        if (n == cap) {
            if (cap > max)
                break;
            size_t nc = cap * 2 > max + 1 ? max + 1 : cap * 2;
            uint8_t *q = realloc(buf, nc + 1);
            if (!q) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            buf = q;
            cap = nc;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "cannot read: %s", strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > max) {
        snprintf(err, errlen, "file is over the %zu byte limit", max);
        goto fail;
    }
    close(fd);
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
fail:
    free(buf);
    close(fd);
    return -1;
}

int ward_file_replace(const char *path, const void *p, size_t len, char *err, size_t errlen) {
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        goto fail;
    ssize_t n = write(fd, p, len);
    if (n >= 0 && (size_t)n != len)
        errno = ENOSPC;
    int ok = n >= 0 && (size_t)n == len;
    if (close(fd) != 0 || !ok || rename(tmp, path) != 0)
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
}
