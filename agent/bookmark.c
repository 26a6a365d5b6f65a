/* Bookmarks: where every source is, in one small text file, written atomically.
 *
 *   ward-bookmarks 1
 *   file <TAB> SOURCE <TAB> DEV:INO <TAB> OFFSET <TAB> HEADLEN <TAB> HEADHASH <TAB> IDHASH
 *        <TAB> PATH
 *   journal <TAB> SOURCE <TAB> CURSOR
 *   end <TAB> RECORDS <TAB> CHECKSUM
 *
 * Fields are %XX-escaped (%, tab, CR, LF and other control bytes), numbers are decimal,
 * HEADHASH, IDHASH and CHECKSUM hexadecimal; CHECKSUM is FNV-1a 64 of every byte before the
 * "end" line. A file that is torn, edited or from another version is refused with its
 * line: the agent then reads its files again rather than guessing (duplicates, no loss). */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BM_MAX_FILE (64u << 20)

void bm_init(bm_store *b) {
    memset(b, 0, sizeof(*b));
}

static void entry_fini(bm_entry *e) {
    free(e->source);
    free(e->kind);
    free(e->key);
    free(e->path);
    free(e->cursor);
}

void bm_clear(bm_store *b) {
    for (size_t i = 0; i < b->n; i++)
        entry_fini(&b->v[i]);
    b->n = 0;
}

void bm_fini(bm_store *b) {
    bm_clear(b);
    free(b->v);
    memset(b, 0, sizeof(*b));
}

static char *dup_or_null(const char *s, int *oom) {
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

int bm_put(bm_store *b, const bm_entry *e) {
    if (b->n == b->cap) {
        size_t n = b->cap ? b->cap * 2 : 16;
        bm_entry *v = realloc(b->v, n * sizeof(*v));
        if (!v)
            return -1;
        b->v = v;
        b->cap = n;
    }
    int oom = 0;
    bm_entry c = *e;
    c.source = dup_or_null(e->source, &oom);
    c.kind = dup_or_null(e->kind, &oom);
    c.key = dup_or_null(e->key, &oom);
    c.path = dup_or_null(e->path, &oom);
    c.cursor = dup_or_null(e->cursor, &oom);
    if (oom) {
        entry_fini(&c);
        return -1;
    }
    b->v[b->n++] = c;
    return 0;
}

const bm_entry *bm_next(const bm_store *b, const char *source, size_t *it) {
    while (*it < b->n) {
        const bm_entry *e = &b->v[(*it)++];
        if (e->source && source && strcmp(e->source, source) == 0)
            return e;
    }
    return NULL;
}

/* ---- writing ---- */

static uint64_t fnv(uint64_t h, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void put_field(ward_buf *o, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '%' || *p < 0x20 || *p == 0x7f) {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            ward_buf_put(o, e, 3);
        } else {
            ward_buf_putc(o, (char)*p);
        }
    }
}

int bm_save(const bm_store *b, const char *path, char *err, size_t errlen) {
    ward_buf o;
    ward_buf_init(&o);
    ward_buf_put(&o, "ward-bookmarks 1\n", 17);
    for (size_t i = 0; i < b->n; i++) {
        const bm_entry *e = &b->v[i];
        if (e->kind && strcmp(e->kind, "journal") == 0) {
            ward_buf_put(&o, "journal\t", 8);
            put_field(&o, e->source);
            ward_buf_putc(&o, '\t');
            put_field(&o, e->cursor);
        } else {
            ward_buf_put(&o, "file\t", 5);
            put_field(&o, e->source);
            ward_buf_putc(&o, '\t');
            put_field(&o, e->key);
            ward_buf_printf(&o, "\t%" PRIu64 "\t%" PRIu64 "\t%016" PRIx64 "\t%016" PRIx64 "\t",
                            e->offset, e->head_len, e->head_hash, e->id_hash);
            put_field(&o, e->path);
        }
        ward_buf_putc(&o, '\n');
    }
    uint64_t sum = fnv(0xcbf29ce484222325ull, o.p, o.len);
    ward_buf_printf(&o, "end\t%zu\t%016" PRIx64 "\n", b->n, sum);
    if (o.oom) {
        snprintf(err, errlen, "%s: out of memory", path);
        ward_buf_fini(&o);
        return -1;
    }
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        snprintf(err, errlen, "%s: path too long", path);
        ward_buf_fini(&o);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = -1;
    const char *what = "open";
    if (fd >= 0) {
        size_t off = 0;
        what = "write";
        while (off < o.len) {
            ssize_t w = write(fd, o.p + off, o.len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        if (off == o.len) {
            what = "fsync";
            if (fsync(fd) == 0) {
                what = "close";
                int c = close(fd);
                fd = -1;
                if (c == 0) {
                    what = "rename it to the bookmarks";
                    if (rename(tmp, path) == 0) {
                        /* the rename itself is durable only once the directory is */
                        char *d = strdup(path);
                        int dfd = d ? open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
                        what = "fsync the directory after renaming it";
                        if (dfd >= 0 && fsync(dfd) == 0)
                            rc = 0;
                        if (dfd >= 0)
                            close(dfd);
                        free(d);
                    }
                }
            }
        }
    }
    if (rc < 0) {
        /* every step is on the temporary file, the last two on its new name */
        snprintf(err, errlen, "%s: cannot %s: %s", tmp, what, strerror(errno ? errno : EIO));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
    }
    ward_buf_fini(&o);
    return rc;
}

/* ---- reading ---- */

typedef struct cur {
    const char *p, *end;
} cur;

static int hexv(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

/* The next tab-separated field of the line, unescaped (caller frees). NULL on a bad
 * escape or no memory. */
static char *field(cur *c, int *last) {
    const char *s = c->p;
    while (c->p < c->end && *c->p != '\t')
        c->p++;
    size_t n = (size_t)(c->p - s);
    *last = c->p == c->end;
    if (c->p < c->end)
        c->p++;
    char *o = malloc(n + 1), *q = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *q++ = s[i];
            continue;
        }
        /* two hex digits must follow; %00 would end the string early */
        int h = i + 2 < n ? hexv(s[i + 1]) : -1, l = i + 2 < n ? hexv(s[i + 2]) : -1;
        if (h < 0 || l < 0 || (h == 0 && l == 0)) {
            free(o);
            return NULL;
        }
        *q++ = (char)(h << 4 | l);
        i += 2;
    }
    *q = 0;
    return o;
}

static int num(const char *s, int base, uint64_t *out) {
    if (!s || !*s)
        return -1;
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, base);
    if (errno || *e || s[0] == '-' || s[0] == '+' || s[0] == ' ')
        return -1;
    *out = v;
    return 0;
}

int bm_parse_devino(const char *key, uint64_t *dev, uint64_t *ino) {
    const char *colon = key ? strchr(key, ':') : NULL;
    if (!colon || colon == key || colon - key > 20)
        return -1;
    char d[24];
    memcpy(d, key, (size_t)(colon - key));
    d[colon - key] = 0;
    return num(d, 10, dev) < 0 || num(colon + 1, 10, ino) < 0 ? -1 : 0;
}

static int parse(bm_store *b, const char *path, const char *buf, size_t len, char *err,
                 size_t errlen) {
    const char *p = buf, *end = buf + len;
    int line = 0, ended = 0;
    size_t records = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        line++;
        if (!nl) {
            snprintf(err, errlen, "%s:%d: the last line has no end (torn file)", path, line);
            return -1;
        }
        cur c = {p, nl};
        if (line == 1) {
            if ((size_t)(nl - p) != 16 || memcmp(p, "ward-bookmarks 1", 16) != 0) {
                snprintf(err, errlen, "%s:1: not a ward bookmark file of version 1", path);
                return -1;
            }
            p = nl + 1;
            continue;
        }
        if (ended) {
            snprintf(err, errlen, "%s:%d: text after the end line", path, line);
            return -1;
        }
        char *f[9] = {0};
        int nf = 0, last = 0, bad = 0;
        while (!last && nf < 9) {
            f[nf] = field(&c, &last);
            if (!f[nf]) {
                bad = 1;
                break;
            }
            nf++;
        }
        if (!bad && !last)
            bad = 1; /* too many fields */
        bm_entry e = {0};
        uint64_t count, sum;
        if (bad) {
            snprintf(err, errlen, "%s:%d: bad field (escape or count)", path, line);
        } else if (nf == 3 && strcmp(f[0], "end") == 0) {
            uint64_t want = fnv(0xcbf29ce484222325ull, buf, (size_t)(p - buf));
            if (num(f[1], 10, &count) < 0 || num(f[2], 16, &sum) < 0 || count != records ||
                sum != want) {
                snprintf(err, errlen, "%s:%d: checksum or record count does not match", path, line);
                bad = 1;
            }
            ended = 1;
        } else if (nf == 8 && strcmp(f[0], "file") == 0) {
            e.kind = f[0];
            e.source = f[1];
            e.key = f[2];
            e.path = f[7];
            uint64_t dv, in;
            if (num(f[3], 10, &e.offset) < 0 || num(f[4], 10, &e.head_len) < 0 ||
                num(f[5], 16, &e.head_hash) < 0 || num(f[6], 16, &e.id_hash) < 0 ||
                e.head_len > 1024 || bm_parse_devino(f[2], &dv, &in) < 0) {
                snprintf(err, errlen, "%s:%d: bad file record", path, line);
                bad = 1;
            }
        } else if (nf == 3 && strcmp(f[0], "journal") == 0) {
            e.kind = f[0];
            e.source = f[1];
            e.cursor = f[2];
            if (!*e.cursor) {
                snprintf(err, errlen, "%s:%d: empty journal cursor", path, line);
                bad = 1;
            }
        } else if (strcmp(f[0], "file") == 0 || strcmp(f[0], "journal") == 0 ||
                   strcmp(f[0], "end") == 0) {
            snprintf(err, errlen, "%s:%d: bad %s record (%d fields)", path, line, f[0], nf);
            bad = 1;
        } else {
            snprintf(err, errlen, "%s:%d: unknown record '%s'", path, line, f[0]);
            bad = 1;
        }
        if (!bad && !ended) {
            if (bm_put(b, &e) < 0) {
                snprintf(err, errlen, "%s: out of memory", path);
                bad = 1;
            }
            records++;
        }
        for (int i = 0; i < nf; i++)
            free(f[i]);
        if (bad)
            return -1;
        p = nl + 1;
    }
    if (!ended) {
        snprintf(err, errlen, "%s:%d: no end line (torn file)", path, line);
        return -1;
    }
    return 0;
}

int bm_load(bm_store *b, const char *path, int *existed, char *err, size_t errlen) {
    *existed = 0;
    bm_clear(b);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    *existed = 1;
    ward_buf buf;
    ward_buf_init(&buf);
    char tmp[65536];
    size_t r;
    while ((r = fread(tmp, 1, sizeof(tmp), f)) > 0) {
        if (buf.len + r > BM_MAX_FILE) {
            snprintf(err, errlen, "%s: larger than %u bytes", path, BM_MAX_FILE);
            fclose(f);
            ward_buf_fini(&buf);
            return -1;
        }
        ward_buf_put(&buf, tmp, r);
    }
    int rc;
    if (ferror(f)) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        rc = -1;
    } else if (buf.oom) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = -1;
    } else {
        rc = parse(b, path, buf.p ? buf.p : "", buf.len, err, errlen);
    }
    fclose(f);
    ward_buf_fini(&buf);
    if (rc < 0)
        bm_clear(b);
    return rc;
}
