/* The agent's durable spool (include/ward/spool.h): segment files of CRC-checked
 * records, a meta file replaced atomically, group commit, and a recovery that cuts what
 * a crash left half-written and never gives up on a spool it can read. */
#include "ward/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "ward/crypto.h"

#define HDR 16 /* u32 length | u32 crc | u64 seq */
#define META "spool.meta"
#define META_TMP "spool.meta.tmp"
#define LOCKFILE "spool.lock"
#define META_MAX 256                /* a meta file longer than this is not one */
#define RBUF_MIN ((size_t)64 << 10) /* reads are done in pieces of at least this */
#define NAME_LEN 24                 /* "00000000000000000001.seg" */

typedef struct seg {
    uint64_t first, last; /* last = first - 1 while it holds no record */
    uint64_t bytes;
} seg;

struct ward_spool {
    ward_spool_cfg cfg; /* cfg.dir points at dir */
    char *dir;
    int dirfd, lockfd;
    uint64_t epoch, acked;
    uint64_t base; /* the epoch's sequence numbers are the spool's minus this */
    seg *segs;
    size_t nsegs, capsegs;
    uint64_t total; /* bytes of every segment */
    int wfd;        /* the last segment, open for appending; -1: none open */
    uint64_t next_seq, durable_seq;
    int pending;   /* appended since the last fdatasync */
    int dir_dirty; /* a segment was made or removed since the last directory fsync */
    int broken;    /* errno of a failed fdatasync or rollback: nothing more is durable */
    /* reading: the segment open (rfd, first seq rfirst), where the next record the
     * sequential reader wants starts (rseq at roff), and a buffer of the file's bytes
     * from rbuf_off */
    int rfd;
    uint64_t rfirst, rseq, roff;
    uint8_t *rbuf;
    size_t rcap, rlen;
    uint64_t rbuf_off;
    ward_spool_stats st;
};

/* ---- bytes ---- */

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v) {
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p) {
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void seg_name(char out[32], uint64_t first) {
    snprintf(out, 32, "%020llu.seg", (unsigned long long)first);
}

/* Whether name is a segment file name (20 digits and ".seg"): 1 with the first sequence
 * number it gives in *first (which may be out of range: 0 or over WARD_SPOOL_SEQ_MAX),
 * 0 when it is not one. */
static int parse_seg_name(const char *name, uint64_t *first) {
    if (strlen(name) != NAME_LEN || strcmp(name + 20, ".seg") != 0)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        unsigned d = (unsigned)(name[i] - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    *first = v;
    return 1;
}

/* The seconds of the clock and 20 random bits: different for every spool made (even
 * two in one second, or after the clock was set back), and below 2^53, so that JSON
 * readers (stats, spool-dump) keep it exact. Never 0. */
static uint64_t new_epoch(void) {
    uint32_t r = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (uint32_t)ts.tv_nsec ^ (uint32_t)getpid();
    uint64_t e = ((uint64_t)ts.tv_sec << 20 | (r & 0xfffffu)) & (((uint64_t)1 << 53) - 1);
    return e ? e : 1;
}

/* ---- files ---- */

static int fsync_dir(ward_spool *s, char *err, size_t errlen) {
    if (fsync(s->dirfd) < 0) {
        snprintf(err, errlen, "%s: fsync of the directory: %s", s->dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_all(int fd, struct iovec *iov, int n) {
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        size_t left = (size_t)w;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* Replaces spool.meta with (epoch, acked): temporary file, fsync, rename, fsync of the
 * directory. */
static int write_meta(ward_spool *s, uint64_t acked, char *err, size_t errlen) {
    char b[META_MAX];
    int n = snprintf(b, sizeof(b), "ward-spool 1\nepoch %llu\nacked %llu\n",
                     (unsigned long long)s->epoch, (unsigned long long)acked);
    if (s->base) /* only after a rebuilt meta: a meta of every other spool reads as before */
        n += snprintf(b + n, sizeof(b) - (size_t)n, "base %llu\n", (unsigned long long)s->base);
    int fd = openat(s->dirfd, META_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s/%s: cannot create: %s", s->dir, META_TMP, strerror(errno));
        return -1;
    }
    struct iovec iov = {b, (size_t)n};
    if (write_all(fd, &iov, 1) < 0 || fsync(fd) < 0) {
        snprintf(err, errlen, "%s/%s: cannot write: %s", s->dir, META_TMP, strerror(errno));
        close(fd);
        unlinkat(s->dirfd, META_TMP, 0);
        return -1;
    }
    close(fd);
    if (renameat(s->dirfd, META_TMP, s->dirfd, META) < 0) {
        snprintf(err, errlen, "%s/%s: cannot replace: %s", s->dir, META, strerror(errno));
        unlinkat(s->dirfd, META_TMP, 0);
        return -1;
    }
    return fsync_dir(s, err, errlen);
}

/* "word NUMBER\n" at *p; advances it. */
static int meta_line(const char **p, const char *end, const char *word, uint64_t *v) {
    size_t wl = strlen(word);
    if ((size_t)(end - *p) < wl + 1 || memcmp(*p, word, wl) != 0 || (*p)[wl] != ' ')
        return -1;
    const char *q = *p + wl + 1;
    uint64_t n = 0;
    size_t digits = 0;
    while (q < end && *q >= '0' && *q <= '9') {
        unsigned d = (unsigned)(*q - '0');
        if (n > (UINT64_MAX - d) / 10)
            return -1;
        n = n * 10 + d;
        q++;
        digits++;
    }
    if (!digits || q >= end || *q != '\n')
        return -1;
    *v = n;
    *p = q + 1;
    return 0;
}

/* Reads spool.meta: 1 read, 0 absent, -1 unreadable or not a meta file (err names it). */
static int read_meta(ward_spool *s, char *err, size_t errlen) {
    int fd = openat(s->dirfd, META, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0) {
        snprintf(err, errlen, "%s/%s: cannot open: %s", s->dir, META, strerror(errno));
        return -1;
    }
    char b[META_MAX];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, b + len, sizeof(b) - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s/%s: cannot read: %s", s->dir, META, strerror(errno));
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == sizeof(b))
            break;
    }
    close(fd);
    const char *p = b, *end = b + len;
    static const char magic[] = "ward-spool 1\n";
    uint64_t epoch = 0, acked = 0, base = 0;
    if (len == sizeof(b) || len < sizeof(magic) - 1 || memcmp(p, magic, sizeof(magic) - 1) != 0 ||
        (p += sizeof(magic) - 1, meta_line(&p, end, "epoch", &epoch) < 0) ||
        meta_line(&p, end, "acked", &acked) < 0 ||
        (p != end && meta_line(&p, end, "base", &base) < 0) || p != end || epoch == 0 ||
        epoch > WARD_SPOOL_SEQ_MAX || acked > WARD_SPOOL_SEQ_MAX || base > acked) {
        snprintf(err, errlen,
                 "%s/%s: not a spool meta file (expected \"ward-spool 1\", epoch and acked "
                 "lines, each from 0 to 2^53-1, the epoch not 0, and maybe a base line not "
                 "over acked); move it away to start the spool again",
                 s->dir, META);
        return -1;
    }
    s->epoch = epoch;
    s->acked = acked;
    s->base = base;
    return 1;
}

/* ---- reading records ---- */

static void rcache_drop(ward_spool *s) {
    s->rlen = 0;
    s->rbuf_off = 0;
}

static void rclose(ward_spool *s) {
    if (s->rfd >= 0)
        close(s->rfd);
    s->rfd = -1;
    s->rfirst = s->rseq = s->roff = 0;
    rcache_drop(s);
}

/* Makes bytes [pos, pos + n) of s->rfd available at *out. Returns 1, 0 when the file
 * ends first, -1 on a read error (errno). */
static int rd_get(ward_spool *s, uint64_t pos, size_t n, const uint8_t **out) {
    if (pos >= s->rbuf_off && pos - s->rbuf_off <= s->rlen && s->rlen - (pos - s->rbuf_off) >= n) {
        *out = s->rbuf + (pos - s->rbuf_off);
        return 1;
    }
    size_t want = n > RBUF_MIN ? n : RBUF_MIN;
    if (s->rcap < want) {
        uint8_t *nb = realloc(s->rbuf, want);
        if (!nb) {
            errno = ENOMEM;
            return -1;
        }
        s->rbuf = nb;
        s->rcap = want;
    }
    s->rlen = 0;
    s->rbuf_off = pos;
    while (s->rlen < n) {
        ssize_t r = pread(s->rfd, s->rbuf + s->rlen, s->rcap - s->rlen, (off_t)(pos + s->rlen));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            s->rlen = 0;
            return -1;
        }
        if (r == 0)
            return 0;
        s->rlen += (size_t)r;
    }
    *out = s->rbuf;
    return 1;
}

/* The record at pos of the open segment, which must have sequence number want. Returns 1
 * (fills *p, *len), 0 when it is torn (*why says how), -1 on a read error. */
static int rec_at(ward_spool *s, uint64_t pos, uint64_t want, const uint8_t **p, uint32_t *len,
                  const char **why) {
    const uint8_t *h;
    int r = rd_get(s, pos, HDR, &h);
    if (r <= 0) {
        *why = "a short record header";
        return r;
    }
    uint32_t n = get32(h);
    if (n > s->cfg.max_record) {
        *why = "a length over max_record";
        return 0;
    }
    r = rd_get(s, pos, HDR + (size_t)n, &h);
    if (r <= 0) {
        *why = "a record cut short";
        return r;
    }
    /* the CRC covers the sequence number and the payload, which follow each other */
    if (ward_crypto_crc32c(0, h + 8, 8 + (size_t)n) != get32(h + 4)) {
        *why = "a bad CRC";
        return 0;
    }
    if (get64(h + 8) != want || want > WARD_SPOOL_SEQ_MAX) {
        *why = "a sequence number out of order";
        return 0;
    }
    *p = h + HDR;
    *len = n;
    return 1;
}

static int ropen(ward_spool *s, uint64_t first, char *err, size_t errlen) {
    rclose(s);
    char name[32];
    seg_name(name, first);
    s->rfd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (s->rfd < 0) {
        snprintf(err, errlen, "%s/%s: cannot open: %s", s->dir, name, strerror(errno));
        return -1;
    }
    s->rfirst = s->rseq = first;
    s->roff = 0;
    return 0;
}

/* ---- segments ---- */

static int seg_push(ward_spool *s, uint64_t first, uint64_t last, uint64_t bytes) {
    if (s->nsegs == s->capsegs || !s->segs) {
        size_t nc = s->capsegs ? s->capsegs * 2 : 16;
        seg *nv = realloc(s->segs, nc * sizeof(*nv));
        if (!nv)
            return -1;
        s->segs = nv;
        s->capsegs = nc;
    }
    s->segs[s->nsegs++] = (seg){first, last, bytes};
    s->total += bytes;
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Removes a segment file at recovery and counts it. */
static void drop_file(ward_spool *s, const char *name, uint64_t bytes) {
    unlinkat(s->dirfd, name, 0);
    s->st.torn_files++;
    s->st.torn_bytes += bytes;
    s->dir_dirty = 1;
}

/* The segment files in the directory, sorted; *out is the caller's (free). */
static int list_segments(ward_spool *s, uint64_t **out, size_t *n, char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    int fd = dup(s->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        snprintf(err, errlen, "%s: cannot list: %s", s->dir, strerror(errno));
        return -1;
    }
    rewinddir(d);
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        uint64_t first;
        if (!parse_seg_name(e->d_name, &first))
            continue;
        if (first == 0 || first > WARD_SPOOL_SEQ_MAX) {
            /* no record of this spool can be in it */
            struct stat st;
            drop_file(s, e->d_name,
                      fstatat(s->dirfd, e->d_name, &st, 0) == 0 ? (uint64_t)st.st_size : 0);
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *nv = realloc(*out, cap * sizeof(*nv));
            if (!nv) {
                closedir(d);
                free(*out);
                *out = NULL;
                snprintf(err, errlen, "%s: out of memory", s->dir);
                return -1;
            }
            *out = nv;
        }
        (*out)[(*n)++] = first;
    }
    closedir(d);
    if (*n)
        qsort(*out, *n, sizeof(**out), cmp_u64);
    return 0;
}

/* Cuts segment name at pos (a torn tail) and makes the cut durable. */
static int truncate_at(ward_spool *s, const char *name, uint64_t pos, char *err, size_t errlen) {
    int fd = openat(s->dirfd, name, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)pos) < 0 || fdatasync(fd) < 0) {
        snprintf(err, errlen, "%s/%s: cannot cut the torn tail at offset %llu: %s", s->dir, name,
                 (unsigned long long)pos, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* Reads every segment through, cutting what is torn (see spool.h). */
static int recover(ward_spool *s, char *err, size_t errlen) {
    uint64_t *firsts;
    size_t n;
    if (list_segments(s, &firsts, &n, err, errlen) < 0)
        return -1;
    uint64_t expected = 0; /* the sequence number the next segment must start with */
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        char name[32];
        seg_name(name, firsts[i]);
        struct stat st;
        if (fstatat(s->dirfd, name, &st, 0) < 0) {
            snprintf(err, errlen, "%s/%s: %s", s->dir, name, strerror(errno));
            goto fail;
        }
        uint64_t size = (uint64_t)st.st_size;
        if (i > 0 && firsts[i] != expected) {
            /* after a torn segment (or a missing one): these records do not follow */
            drop_file(s, name, size);
            continue;
        }
        int fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            snprintf(err, errlen, "%s/%s: cannot open: %s", s->dir, name, strerror(errno));
            goto fail;
        }
        rclose(s);
        s->rfd = fd;
        uint64_t pos = 0, seq = firsts[i];
        for (;;) {
            const uint8_t *p;
            uint32_t len;
            const char *why = NULL;
            int r = pos < size ? rec_at(s, pos, seq, &p, &len, &why) : 0;
            if (r < 0) {
                snprintf(err, errlen, "%s/%s: offset %llu: cannot read: %s", s->dir, name,
                         (unsigned long long)pos, strerror(errno));
                goto fail;
            }
            if (r == 0)
                break;
            pos += HDR + (uint64_t)len;
            seq++;
        }
        rclose(s); /* closes fd */
        if (pos < size) {
            if (truncate_at(s, name, pos, err, errlen) < 0)
                goto fail;
            s->st.torn_bytes += size - pos;
        }
        if (pos == 0) {
            drop_file(s, name, 0);
            if (i == 0)
                expected = firsts[i];
            continue;
        }
        if (seg_push(s, firsts[i], seq - 1, pos) < 0) {
            snprintf(err, errlen, "%s: out of memory", s->dir);
            goto fail;
        }
        expected = seq;
    }
    rc = 0;
fail:
    free(firsts);
    return rc;
}

/* Removes the segments whose records are all acknowledged, from the front. */
static void remove_acked(ward_spool *s) {
    size_t k = 0;
    while (k < s->nsegs && s->segs[k].last <= s->acked && s->segs[k].last >= s->segs[k].first) {
        char name[32];
        seg_name(name, s->segs[k].first);
        if (k == s->nsegs - 1 && s->wfd >= 0) {
            close(s->wfd);
            s->wfd = -1;
        }
        if (s->rfd >= 0 && s->rfirst == s->segs[k].first)
            rclose(s);
        unlinkat(s->dirfd, name, 0);
        s->total -= s->segs[k].bytes;
        s->dir_dirty = 1;
        k++;
    }
    if (k) {
        memmove(s->segs, s->segs + k, (s->nsegs - k) * sizeof(*s->segs));
        s->nsegs -= k;
    }
}

/* ---- open, close ---- */

static void spool_free(ward_spool *s) {
    if (!s)
        return;
    rclose(s);
    if (s->wfd >= 0)
        close(s->wfd);
    if (s->dirfd >= 0)
        close(s->dirfd);
    if (s->lockfd >= 0)
        close(s->lockfd); /* releases the lock */
    free(s->rbuf);
    free(s->segs);
    free(s->dir);
    free(s);
}

ward_spool *ward_spool_open(const ward_spool_cfg *cfg, char *err, size_t errlen) {
    ward_spool *s = NULL;
    if (!cfg || !cfg->dir || !cfg->dir[0]) {
        snprintf(err, errlen, "spool: no directory given");
        return NULL;
    }
    if (!cfg->max_bytes || !cfg->segment_bytes || !cfg->max_record ||
        cfg->max_record > UINT32_MAX - HDR) {
        snprintf(err, errlen,
                 "spool %s: max_bytes, segment_bytes and max_record must be set "
                 "(max_record below 4 GiB)",
                 cfg->dir);
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = strdup(cfg->dir))) {
        snprintf(err, errlen, "spool %s: out of memory", cfg->dir);
        goto fail;
    }
    s->cfg = *cfg;
    s->cfg.dir = s->dir;
    s->dirfd = s->lockfd = s->wfd = s->rfd = -1;
    if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "spool %s: cannot create: %s", s->dir, strerror(errno));
        goto fail;
    }
    s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        snprintf(err, errlen, "spool %s: cannot open: %s", s->dir, strerror(errno));
        goto fail;
    }
    /* one process at a time: a second would truncate what the first is writing */
    s->lockfd = openat(s->dirfd, LOCKFILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lockfd < 0 || flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, errlen, "spool %s/%s: %s", s->dir, LOCKFILE,
                 errno == EWOULDBLOCK ? "in use by another process (a running agent?)"
                                      : strerror(errno));
        goto fail;
    }
    unlinkat(s->dirfd, META_TMP, 0); /* a replacement a crash interrupted */
    int meta = read_meta(s, err, errlen);
    if (meta < 0)
        goto fail;
    if (recover(s, err, errlen) < 0)
        goto fail;
    if (!meta) {
        /* a new spool, or one whose meta is gone: a new epoch (the records are then new
         * to the collector too: duplicates, never losses), and nothing acknowledged
         * beyond what was removed */
        s->epoch = new_epoch();
        s->acked = s->nsegs ? s->segs[0].first - 1 : 0;
        /* the new epoch's first record is its sequence number 1 to the collector */
        s->base = s->acked;
        if (s->nsegs)
            s->st.meta_rebuilt = 1;
        if (write_meta(s, s->acked, err, errlen) < 0)
            goto fail;
    }
    remove_acked(s);
    /* sequence numbers are never given twice in an epoch, even when every record is
     * acknowledged and removed (acked remembers where they were) */
    s->next_seq = s->acked + 1;
    if (s->nsegs && s->segs[s->nsegs - 1].last + 1 > s->next_seq)
        s->next_seq = s->segs[s->nsegs - 1].last + 1;
    if (s->nsegs) {
        char name[32];
        seg_name(name, s->segs[s->nsegs - 1].first);
        s->wfd = openat(s->dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
        /* what a crashed process wrote is in the page cache: on disk before it counts */
        if (s->wfd < 0 || fdatasync(s->wfd) < 0) {
            snprintf(err, errlen, "%s/%s: cannot open for appending: %s", s->dir, name,
                     strerror(errno));
            goto fail;
        }
    }
    if (s->dir_dirty && fsync_dir(s, err, errlen) < 0)
        goto fail;
    s->dir_dirty = 0;
    s->durable_seq = s->next_seq - 1;
    return s;
fail:
    spool_free(s);
    return NULL;
}

void ward_spool_close(ward_spool *s) {
    if (!s)
        return;
    char err[256];
    (void)ward_spool_sync(s, err, sizeof(err));
    spool_free(s);
}

uint64_t ward_spool_epoch(const ward_spool *s) {
    return s->epoch;
}

uint64_t ward_spool_base(const ward_spool *s) {
    return s->base;
}

void ward_spool_stats_get(const ward_spool *s, ward_spool_stats *out) {
    *out = s->st;
    out->records = 0;
    for (size_t i = 0; i < s->nsegs; i++) {
        const seg *g = &s->segs[i];
        uint64_t from = g->first > s->acked ? g->first : s->acked + 1;
        if (g->last >= from)
            out->records += g->last - from + 1;
    }
    out->bytes = s->total;
    out->segments = s->nsegs;
    out->next_seq = s->next_seq;
    out->durable_seq = s->durable_seq;
    out->acked_seq = s->acked;
}

int ward_spool_full(const ward_spool *s, size_t len) {
    return (uint64_t)len > s->cfg.max_bytes || s->total + HDR + (uint64_t)len > s->cfg.max_bytes;
}

/* ---- writing ---- */

/* Starts segment next_seq.seg; the one before is made durable first, since only the last
 * segment is synced by ward_spool_sync. */
static int new_segment(ward_spool *s, char *err, size_t errlen) {
    char name[32];
    if (s->wfd >= 0) {
        if (s->pending && fdatasync(s->wfd) < 0) {
            s->broken = errno ? errno : EIO;
            seg_name(name, s->nsegs && s->segs ? s->segs[s->nsegs - 1].first : s->next_seq);
            snprintf(err, errlen, "%s/%s: fdatasync: %s", s->dir, name, strerror(s->broken));
            errno = s->broken;
            return -1;
        }
        s->pending = 0;
        close(s->wfd);
        s->wfd = -1;
    }
    seg_name(name, s->next_seq);
    int fd = openat(s->dirfd, name, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s/%s: cannot create: %s", s->dir, name, strerror(e));
        errno = e;
        return -1;
    }
    if (seg_push(s, s->next_seq, s->next_seq - 1, 0) < 0) {
        close(fd);
        unlinkat(s->dirfd, name, 0);
        snprintf(err, errlen, "%s: out of memory", s->dir);
        errno = ENOMEM;
        return -1;
    }
    s->wfd = fd;
    s->dir_dirty = 1;
    return 0;
}

/* Once an fdatasync failed, nothing written since can be called durable: every append
 * and sync fails. */
static int broken_error(const ward_spool *s, char *err, size_t errlen) {
    snprintf(err, errlen,
             "spool %s: an earlier fdatasync failed (%s): nothing more can be made "
             "durable",
             s->dir, strerror(s->broken));
    errno = s->broken;
    return -1;
}

int ward_spool_append(ward_spool *s, const uint8_t *p, size_t len, uint64_t *seq, char *err,
                      size_t errlen) {
    if (s->broken)
        return broken_error(s, err, errlen);
    if (len > s->cfg.max_record) {
        snprintf(err, errlen, "spool %s: a record of %zu bytes is over max_record (%zu)", s->dir,
                 len, s->cfg.max_record);
        errno = EMSGSIZE;
        return -1;
    }
    if (s->next_seq > WARD_SPOOL_SEQ_MAX) {
        snprintf(err, errlen, "spool %s: sequence numbers exhausted (2^53-1 records)", s->dir);
        errno = EOVERFLOW;
        return -1;
    }
    uint64_t need = HDR + (uint64_t)len;
    if (s->total + need > s->cfg.max_bytes) {
        s->st.full++;
        snprintf(err, errlen, "spool %s: full (%llu of %llu bytes)", s->dir,
                 (unsigned long long)s->total, (unsigned long long)s->cfg.max_bytes);
        errno = ENOSPC;
        return -1;
    }
    seg *cur = s->nsegs && s->wfd >= 0 ? &s->segs[s->nsegs - 1] : NULL;
    if (!cur || (cur->bytes > 0 && cur->bytes + need > s->cfg.segment_bytes)) {
        if (new_segment(s, err, errlen) < 0)
            return -1;
        cur = &s->segs[s->nsegs - 1];
    }
    uint8_t h[HDR];
    put32(h, (uint32_t)len);
    put64(h + 8, s->next_seq);
    put32(h + 4, ward_crypto_crc32c(ward_crypto_crc32c(0, h + 8, 8), p, len));
    struct iovec iov[2] = {{h, HDR}, {(void *)p, len}};
    if (write_all(s->wfd, iov, len ? 2 : 1) < 0) {
        int e = errno;
        char name[32];
        seg_name(name, cur->first);
        snprintf(err, errlen, "%s/%s: cannot append: %s", s->dir, name, strerror(e));
        /* a part may be written: cut it, so that the next record follows the last whole one
         * (and the reader's buffer may hold the part: forget it) */
        rcache_drop(s);
        if (ftruncate(s->wfd, (off_t)cur->bytes) < 0)
            s->broken = errno ? errno : EIO;
        errno = e;
        return -1;
    }
    cur->bytes += need;
    cur->last = s->next_seq;
    s->total += need;
    *seq = s->next_seq++;
    s->pending = 1;
    s->st.appends++;
    return 0;
}

int ward_spool_sync(ward_spool *s, char *err, size_t errlen) {
    if (s->broken)
        return broken_error(s, err, errlen);
    if (!s->pending && !s->dir_dirty)
        return 0;
    if (s->pending && s->wfd >= 0 && fdatasync(s->wfd) < 0) {
        /* Linux may have dropped the pages it could not write and marked them clean: a
         * later fdatasync would succeed without them. */
        s->broken = errno ? errno : EIO;
        char name[32];
        seg_name(name, s->segs[s->nsegs - 1].first);
        snprintf(err, errlen, "%s/%s: fdatasync: %s", s->dir, name, strerror(s->broken));
        errno = s->broken;
        return -1;
    }
    s->pending = 0;
    if (s->dir_dirty) {
        if (fsync_dir(s, err, errlen) < 0) {
            s->broken = errno ? errno : EIO;
            return -1;
        }
        s->dir_dirty = 0;
    }
    s->durable_seq = s->next_seq - 1;
    s->st.syncs++;
    return 0;
}

/* ---- reading ---- */

/* The index of the segment holding seq, or nsegs. */
static size_t seg_of(const ward_spool *s, uint64_t seq) {
    size_t lo = 0, hi = s->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->segs[mid].last < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->nsegs && s->segs[lo].first <= seq ? lo : s->nsegs;
}

long ward_spool_read(ward_spool *s, uint64_t from, size_t max_records, size_t max_bytes,
                     ward_spool_fn fn, void *ctx, char *err, size_t errlen) {
    if (!s->nsegs)
        return 0;
    if (from < s->segs[0].first)
        from = s->segs[0].first;
    if (from > s->durable_seq)
        return 0;
    size_t i = seg_of(s, from);
    if (i == s->nsegs)
        return 0;
    if (!(s->rfd >= 0 && s->rfirst == s->segs[i].first && s->rseq <= from)) {
        /* not where the last read stopped: find the record from the segment's start */
        if (ropen(s, s->segs[i].first, err, errlen) < 0)
            return -1;
    }
    long given = 0;
    size_t bytes = 0;
    uint64_t seq = s->rseq;
    uint64_t pos = s->roff;
    char name[32];
    while (seq <= s->durable_seq && (!max_records || (size_t)given < max_records)) {
        if (seq > s->segs[i].last) {
            if (++i == s->nsegs)
                break;
            if (ropen(s, s->segs[i].first, err, errlen) < 0)
                return -1;
            pos = 0;
        }
        const uint8_t *p;
        uint32_t len;
        const char *why = "";
        int r = rec_at(s, pos, seq, &p, &len, &why);
        if (r <= 0) {
            seg_name(name, s->segs[i].first);
            if (r < 0)
                snprintf(err, errlen, "%s/%s: offset %llu: cannot read: %s", s->dir, name,
                         (unsigned long long)pos, strerror(errno));
            else
                snprintf(err, errlen, "%s/%s: offset %llu: record %llu is damaged (%s)", s->dir,
                         name, (unsigned long long)pos, (unsigned long long)seq, why);
            rclose(s);
            return -1;
        }
        if (seq >= from) {
            if (given && max_bytes && bytes + len > max_bytes)
                break;
            s->rseq = seq;
            s->roff = pos;
            if (fn(ctx, seq, p, len) != 0)
                break;
            given++;
            bytes += len;
        }
        pos += HDR + (uint64_t)len;
        seq++;
        s->rseq = seq;
        s->roff = pos;
    }
    return given;
}

int ward_spool_new_epoch(ward_spool *s, uint64_t from, char *err, size_t errlen) {
    if (from <= s->acked || from > s->durable_seq + 1) {
        snprintf(err, errlen,
                 "spool %s: a new epoch from %llu: not after the acknowledged records (%llu) and "
                 "at most one after the durable ones (%llu)",
                 s->dir, (unsigned long long)from, (unsigned long long)s->acked,
                 (unsigned long long)s->durable_seq);
        errno = EINVAL;
        return -1;
    }
    uint64_t epoch = s->epoch, base = s->base;
    s->epoch = new_epoch();
    s->base = from - 1;
    if (write_meta(s, from - 1, err, errlen) < 0) {
        s->epoch = epoch;
        s->base = base;
        return -1;
    }
    s->acked = from - 1;
    remove_acked(s);
    return 0;
}

int ward_spool_ack(ward_spool *s, uint64_t seq, char *err, size_t errlen) {
    if (seq > s->durable_seq) {
        snprintf(err, errlen,
                 "spool %s: acknowledgement of %llu, beyond the durable records "
                 "(up to %llu)",
                 s->dir, (unsigned long long)seq, (unsigned long long)s->durable_seq);
        errno = EINVAL;
        return -1;
    }
    if (seq <= s->acked)
        return 0;
    if (write_meta(s, seq, err, errlen) < 0)
        return -1;
    s->acked = seq;
    remove_acked(s);
    return 0;
}
