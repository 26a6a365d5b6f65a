/* File source: follows files by path pattern, through rotation, truncation and restarts.
 *
 * A followed file is known by (device, inode) and a hash of its first bytes, so that a
 * new file that got a reused inode is not mistaken for the old one. Changes are found by
 * inotify on the directories of the patterns, and, as a check (and for NFS, instead), by
 * a scan every scan_interval: the patterns are expanded again, every open file is
 * fstat'ed, and every path is stat'ed to see whether it still names the same file.
 *   - A path that names another file now (rename rotation, or delete and create): the
 *     old file stays open and is read to its end; it is released once it has not grown
 *     for rotate_wait (its last line, when it has no newline, is then read as it is) and
 *     everything read from it is durable. The new file is read from the start.
 *   - A file whose size fell below the offset, or whose first bytes changed
 *     (copytruncate, then new lines): read again from the start.
 *   - A file deleted while open is drained the same way as a rotated one.
 * Positions: `offset` is how far the file was read, `processed` where the last complete
 * record ended (a partial last line or a multiline event being assembled lies between
 * them), `durable` the processed position at the last commit: the bookmark. */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <fnmatch.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEAD_MAX 1024          /* bytes hashed to tell files apart */
#define READ_CHUNK (256 << 10) /* bytes read at once */
#define SLICE_BYTES (4u << 20) /* bytes read per file before other work gets a turn */
#define RETRY_MS 1000          /* after a record could not be processed (no memory) */

typedef struct tfile {
    char *path; /* the path it was found at */
    int fd;
    dev_t dev;
    ino_t ino;
    uint64_t head_len, head_hash;
    uint64_t id_hash; /* the file's part of alert ids (set_id), kept in bookmarks */
    int id_ready;
    uint64_t offset, processed, durable;
    char key[96]; /* "file:DEV:INO:HASH" for alert ids */
    int rotated;  /* the path names another file now, or none */
    int skipping; /* inside an overlong line: dropping bytes until its newline */
    int stalled;  /* a record could not be processed: carry is split again from its start */
    uint64_t last_growth_ms;
    uint64_t partial_since_ms; /* when the held partial line last grew */
    ward_buf carry;            /* bytes from processed (or the skip point) to offset */
    /* multiline */
    ward_buf ml;       /* the event being assembled */
    uint64_t ml_start; /* offset of its first line */
    uint64_t ml_end;   /* offset just past its last line */
    int64_t ml_lines;
    uint64_t ml_last_ms;
    int ml_truncated;
    int seen; /* marked by a scan */
} tfile;

typedef struct watch {
    int wd;
    char *dir;
} watch;

/* A path that could not be opened, and why: said once, until the reason changes. */
typedef struct openerr {
    char *path;
    int err;
    int seen; /* marked by a scan; an entry no scan found is forgotten */
} openerr;

typedef struct fsrc {
    src *s;
    tfile **f;
    size_t nf, capf;
    int ino_fd; /* inotify, or -1 */
    watch *w;
    size_t nw;
    openerr *oe;
    size_t noe;
    ward_loop_timer scan_timer, work_timer;
    pcre2_code *ml_re;
    ward_match_ctx mc;
    size_t max_line;
    int started;
    int stall_logged; /* the source is stalled (no memory), and said so */
    uint64_t rotations, truncations, reopened, released, overflows;
    uint8_t *rbuf;
} fsrc;

/* ---- helpers ---- */

static uint64_t fnv(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Hashes the first len bytes of fd. Returns 0 and *h, or -1 when fewer could be read. */
static int head_hash(int fd, uint64_t len, uint64_t *h) {
    uint8_t b[HEAD_MAX];
    if (len > HEAD_MAX)
        len = HEAD_MAX;
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, b + got, len - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    *h = fnv(b, len);
    return 0;
}

static void set_key(tfile *t) {
    snprintf(t->key, sizeof(t->key), "file:%llu:%llu:%016llx", (unsigned long long)t->dev,
             (unsigned long long)t->ino, (unsigned long long)t->id_hash);
}

static void tfile_free(tfile *t) {
    if (!t)
        return;
    if (t->fd >= 0)
        close(t->fd);
    free(t->path);
    ward_buf_fini(&t->carry);
    ward_buf_fini(&t->ml);
    free(t);
}

/* An exclude pattern is matched against the whole path ('*' crossing '/', so that *.gz
 * works anywhere) and against the file name. */
static int excluded(const fsrc *f, const char *path) {
    const agent_source_cfg *c = f->s->cfg;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < c->nexclude; i++)
        if (fnmatch(c->exclude[i], path, 0) == 0 || fnmatch(c->exclude[i], base, 0) == 0)
            return 1;
    return 0;
}

/* Milliseconds from then to now; 0 when then is later (a stamp taken after now was read). */
static uint64_t since(uint64_t now, uint64_t then) {
    return now > then ? now - then : 0;
}

static tfile *find_ino(fsrc *f, dev_t dev, ino_t ino) {
    for (size_t i = 0; i < f->nf; i++)
        if (f->f[i]->dev == dev && f->f[i]->ino == ino)
            return f->f[i];
    return NULL;
}

/* Counts a failed open of path; logs it unless it failed so before for the same reason. */
static void open_failed(fsrc *f, const char *path, int err) {
    f->s->n.errors++;
    for (size_t i = 0; i < f->noe; i++) {
        if (strcmp(f->oe[i].path, path) != 0)
            continue;
        f->oe[i].seen = 1;
        if (f->oe[i].err == err)
            return;
        f->oe[i].err = err;
        agent_log(f->s->a, "warning", "%s: cannot open: %s", path, strerror(err));
        return;
    }
    agent_log(f->s->a, "warning", "%s: cannot open: %s (said once, counted every scan)", path,
              strerror(err));
    openerr *v = realloc(f->oe, (f->noe + 1) * sizeof(*v));
    char *p = strdup(path);
    if (!v || !p) {
        if (v)
            f->oe = v;
        free(p); /* not remembered: said again at the next scan */
        return;
    }
    f->oe = v;
    f->oe[f->noe++] = (openerr){p, err, 1};
}

/* Forgets path's failed open (it opened, or is gone), or, with path NULL, every one that
 * the last scan did not mark. */
static void open_forget(fsrc *f, const char *path) {
    size_t k = 0;
    for (size_t i = 0; i < f->noe; i++) {
        openerr *e = &f->oe[i];
        if (path ? strcmp(e->path, path) == 0 : !e->seen)
            free(e->path);
        else
            f->oe[k++] = *e;
    }
    f->noe = k;
}

/* ---- emitting records ---- */

static void set_id(tfile *t);

/* Hands one record to the pipeline. Returns 0, or -1 when it could not take it (no
 * memory): t is then stalled, and the caller keeps its position at the record. */
static int emit(fsrc *f, tfile *t, const uint8_t *p, size_t len, uint64_t pos, int truncated) {
    src *s = f->s;
    if (!t->id_ready)
        set_id(t);
    if (len && p[len - 1] == '\r')
        len--; /* CRLF files */
    if (len == 0)
        return 0;
    agent_rec r = {0};
    r.line = p;
    r.len = len;
    r.truncated = truncated;
    r.decoder = agent_cfg_decoder(s->cfg);
    r.key = t->key;
    r.pos = pos;
    r.where.kind = "file";
    r.where.name = s->name;
    r.where.path = t->path;
    r.where.offset = pos;
    r.where.has_offset = 1;
    if (agent_process(s->a, s, &r) < 0) {
        t->stalled = 1;
        return -1;
    }
    s->n.records++;
    s->n.bytes += len;
    if (truncated)
        s->n.truncated++;
    return 0;
}

static void ml_drop(tfile *t) {
    ward_buf_reset(&t->ml);
    t->ml_lines = 0;
    t->ml_truncated = 0;
}

/* Emits the multiline event being assembled. Returns 0, or -1 (emit's): it is kept. */
static int ml_flush(fsrc *f, tfile *t) {
    if (t->ml_lines == 0)
        return 0;
    if (emit(f, t, (const uint8_t *)t->ml.p, t->ml.len, t->ml_start, t->ml_truncated) < 0)
        return -1;
    t->processed = t->ml_end;
    ml_drop(t);
    return 0;
}

/* One complete line [start, start + len) ending (newline included) at end. Returns 0, or
 * -1 when a record could not be processed: the line is not taken, and is offered again. */
static int on_line(fsrc *f, tfile *t, const uint8_t *p, size_t len, uint64_t start, uint64_t end,
                   int truncated) {
    if (!f->ml_re) {
        if (emit(f, t, p, len, start, truncated) < 0)
            return -1;
        t->processed = end;
        return 0;
    }
    size_t l = len && p[len - 1] == '\r' ? len - 1 : len;
    int starts = ward_re_match(f->ml_re, p, l, &f->mc) == 1;
    if ((starts || t->ml_lines >= f->s->cfg->multiline_max_lines) && ml_flush(f, t) < 0)
        return -1;
    if (t->ml_lines == 0) {
        t->ml_start = start;
        ward_buf_reset(&t->ml);
    } else if (t->ml.len < f->max_line) {
        ward_buf_putc(&t->ml, '\n');
    }
    size_t room = t->ml.len < f->max_line ? f->max_line - t->ml.len : 0;
    if (l > room) {
        l = room;
        t->ml_truncated = 1;
    }
    t->ml_truncated |= truncated;
    ward_buf_put(&t->ml, p, l);
    t->ml_lines++;
    t->ml_end = end;
    t->ml_last_ms = ward_loop_now_ms();
    return 0;
}

/* Splits the carry buffer into lines; keeps the partial rest. Returns 0, or -1 when a
 * record could not be processed: the carry then starts at its line. */
static int split(fsrc *f, tfile *t) {
    const uint8_t *b = (const uint8_t *)t->carry.p;
    size_t n = t->carry.len, i = 0;
    int rc = 0;
    /* carry starts at offset - n */
    uint64_t base = t->offset - n;
    while (i < n) {
        if (t->skipping) {
            const uint8_t *nl = memchr(b + i, '\n', n - i);
            if (!nl) {
                i = n;
                break;
            }
            i = (size_t)(nl - b) + 1;
            t->skipping = 0;
            /* the overlong line ends here: what follows is the next record */
            if (f->ml_re && t->ml_lines)
                t->ml_end = base + i;
            else
                t->processed = base + i;
            continue;
        }
        const uint8_t *nl = memchr(b + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - b) : n;
        if (!nl && end - i <= f->max_line)
            break; /* a partial line: wait for the rest */
        if (end - i > f->max_line) {
            /* overlong: the first max_line bytes are the record, the rest is skipped */
            if (nl) {
                if ((rc = on_line(f, t, b + i, f->max_line, base + i, base + end + 1, 1)) < 0)
                    break;
                i = end + 1;
                continue;
            }
            /* no newline yet: the record goes now, but the position stays at the line's
             * start until its end is found (a crash repeats the record, same id) */
            if (f->ml_re)
                rc = on_line(f, t, b + i, f->max_line, base + i, t->ml_lines ? t->ml_end : base + i,
                             1);
            else
                rc = emit(f, t, b + i, f->max_line, base + i, 1);
            if (rc < 0)
                break;
            t->skipping = 1;
            i = n;
            break;
        }
        if ((rc = on_line(f, t, b + i, end - i, base + i, base + end + 1, 0)) < 0)
            break;
        i = end + 1;
    }
    /* keep the rest */
    if (i > 0) {
        memmove(t->carry.p, t->carry.p + i, n - i);
        t->carry.len = n - i;
    }
    if (t->skipping)
        t->carry.len = 0; /* nothing of an overlong line is kept beyond its record */
    return rc;
}

/* Reads what the file has past offset, at most limit bytes. Returns bytes read, or -1 on
 * an error (a stalled record included: t->stalled says so). */
static long read_more(fsrc *f, tfile *t, size_t limit) {
    if (t->stalled) {
        /* the lines from the one that could not be processed are still in carry */
        t->stalled = 0;
        if (split(f, t) < 0)
            return -1;
    }
    size_t total = 0;
    long rc = 0;
    while (total < limit) {
        ssize_t r = pread(t->fd, f->rbuf, READ_CHUNK, (off_t)t->offset);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            f->s->n.errors++;
            agent_log(f->s->a, "error", "%s: read: %s", t->path, strerror(errno));
            return -1;
        }
        if (r == 0)
            break;
        if (ward_buf_put(&t->carry, f->rbuf, (size_t)r) < 0) {
            agent_log(f->s->a, "error", "%s: out of memory", t->path);
            return -1;
        }
        t->offset += (uint64_t)r;
        total += (size_t)r;
        t->partial_since_ms = ward_loop_now_ms();
        if (split(f, t) < 0) {
            rc = -1; /* what was read stays in carry: nothing is read past it until then */
            break;
        }
    }
    if (total)
        t->last_growth_ms = ward_loop_now_ms();
    return rc < 0 ? rc : (long)total;
}

/* ---- tracking ---- */

/* A new file, or new content: its head is hashed to recognise it later. */
static int set_head(tfile *t, uint64_t size) {
    t->head_len = size < HEAD_MAX ? size : HEAD_MAX;
    t->head_hash = 0;
    if (t->head_len && head_hash(t->fd, t->head_len, &t->head_hash) < 0)
        return -1;
    return 0;
}

/* The file's part of alert ids, fixed when its first record is emitted: a hash of its
 * first line (complete by then, and never changing in a file that is appended to), its
 * birth time where the file system keeps one, and, after a truncation, the id of the
 * content before (so new lines at old offsets get new ids). Reading the same file again
 * after a crash gives the same ids; the bookmark keeps it too. */
static void set_id(tfile *t) {
    uint8_t b[HEAD_MAX];
    ssize_t n = pread(t->fd, b, sizeof(b), 0);
    size_t len = n > 0 ? (size_t)n : 0;
    const uint8_t *nl = memchr(b, '\n', len);
    if (nl)
        len = (size_t)(nl - b);
    uint64_t h = fnv(b, len);
    struct statx sx;
    if (statx(t->fd, "", AT_EMPTY_PATH, STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME))
        h ^= ((uint64_t)sx.stx_btime.tv_sec * 1000000000u + sx.stx_btime.tv_nsec) *
             0x9E3779B97F4A7C15ull;
    t->id_hash = t->id_hash ? fnv((const uint8_t *)&t->id_hash, 8) ^ h : h;
    t->id_ready = 1;
    set_key(t);
}

/* Starts reading t, now size bytes long, from the beginning again (truncated or
 * replaced). */
static void restart(fsrc *f, tfile *t, uint64_t size, const char *why) {
    agent_log(f->s->a, "info", "%s: %s: reading it from the start", t->path, why);
    f->truncations++;
    if (ml_flush(f, t) < 0)
        ml_drop(t); /* its lines are gone from the file: it cannot be read again */
    t->offset = t->processed = 0;
    t->durable = 0;
    t->skipping = 0;
    t->stalled = 0;
    t->id_ready = 0; /* a new id from the new first line and the old id */
    ward_buf_reset(&t->carry);
    set_head(t, size);
}

/* Checks the file's content against st (its fstat) and restarts it when it was truncated
 * or replaced; with by_path, also whether its path still names it (a scan's check: every
 * rename, creation and deletion makes one). */
static void check(fsrc *f, tfile *t, const struct stat *st, int by_path) {
    uint64_t size = (uint64_t)st->st_size;
    if (size < t->offset) {
        restart(f, t, size, "truncated");
        return;
    }
    if (t->head_len) {
        uint64_t h;
        if (head_hash(t->fd, t->head_len, &h) < 0 || h != t->head_hash) {
            restart(f, t, size, "its first bytes changed (copytruncate?)");
            return;
        }
    }
    if (t->head_len < HEAD_MAX && size > t->head_len) {
        /* the head grows with the file, up to HEAD_MAX; the key stays the first one */
        uint64_t len = size < HEAD_MAX ? size : HEAD_MAX, h;
        if (head_hash(t->fd, len, &h) == 0) {
            t->head_len = len;
            t->head_hash = h;
        }
    }
    if (by_path && !t->rotated) {
        struct stat ps;
        if (stat(t->path, &ps) < 0 || ps.st_dev != t->dev || ps.st_ino != t->ino) {
            t->rotated = 1;
            f->rotations++;
            agent_log(f->s->a, "info", "%s: rotated or deleted; reading it to its end", t->path);
        }
    }
}

static tfile *track(fsrc *f, const char *path, int fd, const struct stat *st) {
    if (f->nf == f->capf) {
        size_t n = f->capf ? f->capf * 2 : 16;
        tfile **v = realloc(f->f, n * sizeof(*v));
        if (!v)
            return NULL;
        f->f = v;
        f->capf = n;
    }
    tfile *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->path = strdup(path);
    if (!t->path) {
        free(t);
        return NULL;
    }
    t->fd = fd;
    t->dev = st->st_dev;
    t->ino = st->st_ino;
    t->last_growth_ms = ward_loop_now_ms();
    ward_buf_init(&t->carry);
    ward_buf_init(&t->ml);
    f->f[f->nf++] = t;
    return t;
}

/* Where a file seen now for the first time (without a bookmark) starts. Only the files
 * found when the source starts are read from their end: anything that appears later (the
 * new file of a rotation, too) is read whole. */
static uint64_t first_offset(fsrc *f, uint64_t size) {
    int start_at = f->s->cfg->start_at;
    if (start_at == START_BEGINNING || f->started)
        return 0;
    if (start_at == START_END)
        return size;
    /* by default, only the very first run of the agent starts at the end of what exists;
     * files that appeared while the agent was stopped are read whole */
    return f->s->a->first_run ? size : 0;
}

enum { C_NONE = 0, C_NEW, C_RESUMED };

/* Opens path, which the scan found, unless it is followed already. Returns C_NEW (a file
 * seen for the first time), C_RESUMED (one with a bookmark) or C_NONE. */
static int consider(fsrc *f, const char *path, const bm_store *bm) {
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || excluded(f, path))
        return C_NONE;
    tfile *old = find_ino(f, st.st_dev, st.st_ino);
    if (old) {
        old->seen = 1;
        if (old->rotated && strcmp(old->path, path) == 0)
            old->rotated = 0; /* moved back */
        return C_NONE;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno != ENOENT)
            open_failed(f, path, errno);
        else if (f->noe)
            open_forget(f, path);
        return C_NONE;
    }
    if (f->noe)
        open_forget(f, path);
    struct stat fs;
    if (fstat(fd, &fs) < 0 || fs.st_dev != st.st_dev || fs.st_ino != st.st_ino) {
        close(fd); /* replaced between stat and open: the next scan sees the new one */
        return C_NONE;
    }
    tfile *t = track(f, path, fd, &fs);
    if (!t) {
        close(fd);
        agent_log(f->s->a, "error", "%s: out of memory", path);
        return C_NONE;
    }
    t->seen = 1;
    uint64_t size = (uint64_t)fs.st_size;
    /* a bookmark for this inode whose head still matches: resume there */
    if (bm) {
        size_t it = 0;
        const bm_entry *e;
        char want[64];
        snprintf(want, sizeof(want), "%llu:%llu", (unsigned long long)fs.st_dev,
                 (unsigned long long)fs.st_ino);
        while ((e = bm_next(bm, f->s->name, &it)))
            if (e->kind && strcmp(e->kind, "file") == 0 && e->key && strcmp(e->key, want) == 0)
                break;
        uint64_t h = 0;
        int same = e && e->head_len <= size &&
                   (e->head_len == 0 || (head_hash(fd, e->head_len, &h) == 0 && h == e->head_hash));
        if (e && !same)
            agent_log(f->s->a, "info",
                      "%s: its first bytes are not the bookmarked ones (a reused inode, or "
                      "rewritten): a new file, read from the start",
                      path);
        if (same) {
            t->head_len = e->head_len;
            t->head_hash = e->head_hash;
            t->id_hash = e->id_hash;
            t->id_ready = e->id_hash != 0;
            set_key(t);
            if (e->offset > size) {
                agent_log(f->s->a, "info",
                          "%s: shorter than its bookmark: reading it from the "
                          "start",
                          path);
                t->offset = 0;
                t->id_ready = 0; /* new content: a new id, chained to the old one */
                set_head(t, size);
            } else {
                t->offset = e->offset;
            }
            t->processed = t->durable = t->offset;
            if (e->path && strcmp(e->path, path) != 0)
                agent_log(f->s->a, "info", "%s: was %s before the restart", path, e->path);
            f->reopened++;
            return C_RESUMED;
        }
    }
    set_head(t, size);
    t->offset = t->processed = t->durable = first_offset(f, size);
    return C_NEW;
}

/* After a restart, a bookmarked file that no pattern matches may have been rotated away
 * while the agent was stopped: look for its inode next to its old path and finish it. */
static void find_rotated(fsrc *f, const bm_store *bm) {
    size_t it = 0;
    const bm_entry *e;
    while ((e = bm_next(bm, f->s->name, &it))) {
        if (!e->kind || strcmp(e->kind, "file") != 0 || !e->path || !e->key)
            continue;
        uint64_t dev, ino;
        if (bm_parse_devino(e->key, &dev, &ino) < 0 || find_ino(f, (dev_t)dev, (ino_t)ino))
            continue;
        char *tmp = strdup(e->path);
        if (!tmp)
            continue;
        char *dir = dirname(tmp);
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if ((unsigned long long)de->d_ino != ino)
                continue;
            char p[PATH_MAX];
            if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p))
                continue;
            struct stat st;
            if (stat(p, &st) == 0 && (unsigned long long)st.st_dev == dev && S_ISREG(st.st_mode)) {
                int c = consider(f, p, bm);
                if (c == C_RESUMED) {
                    f->f[f->nf - 1]->rotated = 1; /* no pattern names it: finish, release */
                    agent_log(f->s->a, "info", "%s: rotated from %s while stopped; finishing it", p,
                              e->path);
                } else if (c == C_NEW) {
                    /* the inode was reused by another file, which no pattern names */
                    tfile_free(f->f[--f->nf]);
                }
            }
            break;
        }
        if (d)
            closedir(d);
        free(tmp);
    }
}

static void add_watch(fsrc *f, const char *dir) {
    if (f->ino_fd < 0)
        return;
    for (size_t i = 0; i < f->nw; i++)
        if (strcmp(f->w[i].dir, dir) == 0)
            return;
    int wd = inotify_add_watch(f->ino_fd, dir,
                               IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                   IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
    if (wd < 0)
        return; /* a directory that does not exist yet: the scan will add it later */
    watch *w = realloc(f->w, (f->nw + 1) * sizeof(*w));
    char *d = strdup(dir);
    if (!w || !d) {
        if (w)
            f->w = w;
        free(d);
        inotify_rm_watch(f->ino_fd, wd);
        return;
    }
    f->w = w;
    f->w[f->nw++] = (watch){wd, d};
}

/* Expands every pattern; opens new files, marks vanished paths. */
static void scan(fsrc *f, const bm_store *bm) {
    const agent_source_cfg *c = f->s->cfg;
    for (size_t i = 0; i < f->nf; i++)
        f->f[i]->seen = 0;
    for (size_t i = 0; i < f->noe; i++)
        f->oe[i].seen = 0;
    for (size_t p = 0; p < c->npaths; p++) {
        char *tmp = strdup(c->paths[p]);
        if (tmp) {
            add_watch(f, dirname(tmp));
            free(tmp);
        }
        glob_t g;
        int rc = glob(c->paths[p], GLOB_NOSORT | GLOB_NOCHECK, NULL, &g);
        if (rc != 0)
            continue;
        for (size_t k = 0; k < g.gl_pathc; k++) {
            const char *m = g.gl_pathv[k];
            char *d = strdup(m);
            if (d) {
                add_watch(f, dirname(d));
                free(d);
            }
            consider(f, m, bm);
        }
        globfree(&g);
    }
    if (f->noe)
        open_forget(f, NULL);
    for (size_t i = 0; i < f->nf; i++) {
        struct stat st;
        if (fstat(f->f[i]->fd, &st) == 0)
            check(f, f->f[i], &st, 1);
    }
}

/* Releases rotated files that are finished: read to their end, idle for rotate_wait,
 * and everything from them durable. */
static void release(fsrc *f) {
    uint64_t now = ward_loop_now_ms();
    size_t k = 0;
    for (size_t i = 0; i < f->nf; i++) {
        tfile *t = f->f[i];
        struct stat st;
        int done = t->rotated && fstat(t->fd, &st) == 0 && (uint64_t)st.st_size <= t->offset &&
                   since(now, t->last_growth_ms) >= f->s->cfg->rotate_wait_ms &&
                   t->durable == t->offset && t->carry.len == 0 && t->ml_lines == 0;
        if (done) {
            f->released++;
            tfile_free(t);
        } else {
            f->f[k++] = t;
        }
    }
    f->nf = k;
}

/* Reads every file, at most SLICE_BYTES each. Returns 1 when some file has more. When a
 * record cannot be processed (no memory), stops at it and tries again in RETRY_MS. */
static int read_all(fsrc *f) {
    int more = 0;
    if (agent_backlogged(f->s->a))
        return 0; /* the output is failing: the lines wait in the file; a scan retries */
    const agent_source_cfg *c = f->s->cfg;
    for (size_t i = 0; i < f->nf; i++) {
        tfile *t = f->f[i];
        /* before reading on from offset: was the file truncated, or replaced by other
         * bytes (a truncation refilled past offset before we looked)? */
        struct stat st;
        size_t limit = SLICE_BYTES;
        if (fstat(t->fd, &st) == 0) {
            if ((uint64_t)st.st_size != t->offset)
                check(f, t, &st, 0);
            /* up to the size seen: a write after the fstat makes another inotify event
             * (or is found by the next scan) */
            uint64_t size = (uint64_t)st.st_size;
            uint64_t ahead = size > t->offset ? size - t->offset : 0;
            if (ahead < limit)
                limit = (size_t)ahead;
        }
        long r = limit || t->stalled ? read_more(f, t, limit) : 0;
        if (t->stalled)
            goto stalled;
        if (r >= (long)SLICE_BYTES && !agent_backlogged(f->s->a))
            more = 1;
        /* the clock is read after the read: its lines and bytes were stamped during it */
        uint64_t now = ward_loop_now_ms();
        /* a rotated file that has not grown for rotate_wait has its last byte: nothing
         * can complete its last line now (and it can be released only without one) */
        int ended = t->rotated && since(now, t->last_growth_ms) >= c->rotate_wait_ms;
        if (ended && t->skipping) {
            /* an overlong last line: its record went already, its rest is skipped */
            t->skipping = 0;
            if (f->ml_re && t->ml_lines)
                t->ml_end = t->offset;
            else
                t->processed = t->offset;
        }
        /* a partial line that stopped growing: as it is, when configured, or at a
         * rotated file's end */
        if (t->carry.len && !t->skipping &&
            ((c->partial_timeout_ms && since(now, t->partial_since_ms) >= c->partial_timeout_ms) ||
             ended)) {
            if (on_line(f, t, (const uint8_t *)t->carry.p, t->carry.len, t->offset - t->carry.len,
                        t->offset, 0) < 0)
                goto stalled;
            t->carry.len = 0;
        }
        if (t->ml_lines && (since(now, t->ml_last_ms) >= c->multiline_timeout_ms || ended) &&
            ml_flush(f, t) < 0)
            goto stalled;
    }
    f->stall_logged = 0;
    return more;
stalled:
    /* the other files wait too: memory is short for all of them */
    if (!f->stall_logged && !agent_backlogged(f->s->a)) /* a full spool logs itself */
        agent_log(f->s->a, "error", "source %s: out of memory: reading on in %d ms", f->s->name,
                  RETRY_MS);
    f->stall_logged = 1;
    ward_loop_timer_after(f->s->a->loop, &f->work_timer, RETRY_MS);
    return 0;
}

/* ---- loop callbacks ---- */

static void on_work(void *ctx) {
    fsrc *f = ctx;
    if (read_all(f))
        ward_loop_timer_after(f->s->a->loop, &f->work_timer, 0);
}

static void on_scan(void *ctx) {
    fsrc *f = ctx;
    scan(f, NULL);
    if (read_all(f))
        ward_loop_timer_after(f->s->a->loop, &f->work_timer, 0);
    release(f);
    uint64_t next = f->s->cfg->scan_interval_ms;
    /* timeouts of partial lines and multiline events need their own moments */
    if (f->s->cfg->multiline_start && f->s->cfg->multiline_timeout_ms < next)
        next = f->s->cfg->multiline_timeout_ms;
    if (f->s->cfg->partial_timeout_ms && f->s->cfg->partial_timeout_ms < next)
        next = f->s->cfg->partial_timeout_ms;
    ward_loop_timer_after(f->s->a->loop, &f->scan_timer, next);
}

static void on_inotify(void *ctx, int fd, uint32_t events) {
    (void)events;
    fsrc *f = ctx;
    _Alignas(struct inotify_event) char buf[16384];
    int rescan = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)(void *)p;
            if (e->mask & IN_Q_OVERFLOW) {
                f->overflows++;
                rescan = 1;
            }
            if (e->mask & (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF |
                           IN_MOVE_SELF | IN_ATTRIB))
                rescan = 1;
            p += sizeof(*e) + e->len;
        }
    }
    if (rescan)
        scan(f, NULL);
    if (read_all(f))
        ward_loop_timer_after(f->s->a->loop, &f->work_timer, 0);
}

/* ---- ops ---- */

static int fs_start(src *s, const bm_store *bm) {
    fsrc *f = s->impl;
    agent *a = s->a;
    const agent_source_cfg *c = s->cfg;
    f->max_line = c->max_line ? c->max_line : a->cfg.limits.max_line;
    if (c->multiline_start) {
        char err[256];
        f->ml_re =
            ward_re_compile(c->multiline_start, strlen(c->multiline_start), 0, err, sizeof(err));
        if (!f->ml_re) {
            agent_log(a, "error", "source %s: multiline_start: %s", s->name, err);
            return -1;
        }
    }
    if (!c->poll) {
        f->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (f->ino_fd < 0)
            agent_log(a, "warning", "source %s: inotify: %s; polling every scan_interval", s->name,
                      strerror(errno));
        else if (ward_loop_add(a->loop, f->ino_fd, EPOLLIN, on_inotify, f) < 0) {
            close(f->ino_fd);
            f->ino_fd = -1;
        }
    }
    scan(f, bm);
    if (bm)
        find_rotated(f, bm);
    f->started = 1;
    ward_loop_timer_init(&f->scan_timer, on_scan, f);
    ward_loop_timer_init(&f->work_timer, on_work, f);
    ward_loop_timer_after(a->loop, &f->scan_timer, c->scan_interval_ms);
    ward_loop_timer_after(a->loop, &f->work_timer, 0);
    return 0;
}

static long fs_drain(src *s) {
    fsrc *f = s->impl;
    uint64_t before = s->n.records;
    scan(f, NULL);
    while (read_all(f))
        ;
    /* at the end of --once or of the agent, nothing more will come to complete a
     * multiline event; a partial line stays held (its newline may still come) */
    for (size_t i = 0; i < f->nf; i++)
        ml_flush(f, f->f[i]);
    return (long)(s->n.records - before);
}

static void fs_durable(src *s) {
    fsrc *f = s->impl;
    /* processed never passes a partial line or a multiline event being assembled */
    for (size_t i = 0; i < f->nf; i++)
        f->f[i]->durable = f->f[i]->processed;
}

static void fs_save(src *s, bm_store *bm) {
    fsrc *f = s->impl;
    for (size_t i = 0; i < f->nf; i++) {
        tfile *t = f->f[i];
        char key[64];
        snprintf(key, sizeof(key), "%llu:%llu", (unsigned long long)t->dev,
                 (unsigned long long)t->ino);
        bm_entry e = {.source = s->name,
                      .kind = "file",
                      .key = key,
                      .path = t->path,
                      .offset = t->durable,
                      .head_len = t->head_len,
                      .head_hash = t->head_hash,
                      .id_hash = t->id_hash};
        bm_put(bm, &e);
    }
}

static void fs_stats(src *s, ward_jw *w) {
    fsrc *f = s->impl;
    ward_jw_ku64(w, "files", f->nf);
    ward_jw_ku64(w, "rotations", f->rotations);
    ward_jw_ku64(w, "restarts_from_start", f->truncations);
    ward_jw_ku64(w, "resumed_from_bookmark", f->reopened);
    ward_jw_ku64(w, "released", f->released);
    ward_jw_ku64(w, "inotify_overflows", f->overflows);
    uint64_t lag = 0;
    for (size_t i = 0; i < f->nf; i++) {
        struct stat st;
        if (fstat(f->f[i]->fd, &st) == 0 && (uint64_t)st.st_size > f->f[i]->offset)
            lag += (uint64_t)st.st_size - f->f[i]->offset;
    }
    ward_jw_ku64(w, "lag_bytes", lag);
}

static void fs_free(src *s) {
    fsrc *f = s->impl;
    if (f) {
        if (f->ino_fd >= 0) {
            ward_loop_del(s->a->loop, f->ino_fd);
            close(f->ino_fd);
        }
        ward_loop_timer_stop(s->a->loop, &f->scan_timer);
        ward_loop_timer_stop(s->a->loop, &f->work_timer);
        for (size_t i = 0; i < f->nf; i++)
            tfile_free(f->f[i]);
        free(f->f);
        for (size_t i = 0; i < f->nw; i++)
            free(f->w[i].dir);
        free(f->w);
        for (size_t i = 0; i < f->noe; i++)
            free(f->oe[i].path);
        free(f->oe);
        pcre2_code_free(f->ml_re);
        ward_match_ctx_fini(&f->mc);
        free(f->rbuf);
        free(f);
    }
    free(s->name);
    free(s);
}

/* stop is NULL: a held partial line stays in the file and is read after the restart */
static const src_ops file_ops = {"file",  fs_start, fs_drain, fs_durable,
                                 fs_save, fs_stats, fs_free,  NULL};

src *src_file_new(agent *a, const agent_source_cfg *cfg) {
    src *s = calloc(1, sizeof(*s));
    fsrc *f = calloc(1, sizeof(*f));
    if (!s || !f) {
        free(s);
        free(f);
        return NULL;
    }
    s->ops = &file_ops;
    s->a = a;
    s->cfg = cfg;
    s->impl = f;
    f->s = s;
    f->ino_fd = -1;
    f->rbuf = malloc(READ_CHUNK);
    ward_limits l;
    ward_limits_default(&l);
    if (!f->rbuf || ward_match_ctx_init(&f->mc, &l) < 0) {
        fs_free(s);
        return NULL;
    }
    return s;
}
