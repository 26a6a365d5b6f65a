/* Fuzzes spool recovery (lib/spool.c): the input describes a spool directory (a meta file
 * and up to seven segment files of arbitrary bytes, named by arbitrary first sequence
 * numbers), which is written to a scratch directory and opened. A model of the recovery
 * that include/ward/spool.h promises, written here from the format, says which records
 * must survive; the harness checks that the spool gives exactly those, counts every byte
 * and file it cuts, numbers the next record after every one it holds, and that what it
 * recovered recovers to itself: after an append and a reopen, nothing more is cut and
 * the appended record is there. Allocation failures are injected (fuzz_run).
 *
 * Input: byte 0 flags (bits 0-2: segments; bits 3-4: meta absent, made from 16 bytes of
 * input, raw bytes, or a valid one with acked 0; bit 5: repair the records' sequence
 * numbers and CRCs, so that the fuzzer reaches past them; bit 6: append, reopen, ack;
 * bit 7: a new epoch from a record a later byte picks),
 * byte 1 max_record, byte 2 max_bytes, byte 3 segment_bytes; then the meta, then per
 * segment a name byte (254: the sequence number after the previous segment's records,
 * 255: 8 bytes follow, else 1 + the byte), two bytes of length and the bytes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "failalloc.h"
#include "ward/crypto.h"
#include "ward/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 16
#define MAX_SEGS 7
#define MAX_RECS 4096

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_spool: %s:%d: check failed: %s\n", __FILE__, __LINE__, #c);      \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

static char dir[64];

/* ---- input ---- */

typedef struct in {
    const uint8_t *p;
    size_t n;
} in;

static unsigned take8(in *s) {
    if (!s->n)
        return 0;
    s->n--;
    return *s->p++;
}

static uint64_t take64(in *s) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | take8(s);
    return v;
}

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p) {
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- the model ---- */

typedef struct mseg {
    uint64_t first;
    uint8_t *b; /* the file's bytes (repaired when asked) */
    size_t n;
} mseg;

typedef struct mrec {
    uint64_t seq;
    const uint8_t *p;
    uint32_t len;
} mrec;

typedef struct model {
    mrec recs[MAX_RECS];
    size_t nrecs;
    uint64_t torn_bytes, torn_files;
    uint64_t kept_first, kept_last; /* of the records kept; nrecs 0: none */
    uint64_t kept_bytes[MAX_SEGS];  /* of each kept segment */
    uint64_t kept_segfirst[MAX_SEGS], kept_seglast[MAX_SEGS];
    size_t kept;
} model;

/* The records of b that continue from seq, up to the first that does not (length over
 * max_record, cut short, bad CRC, another sequence number). Returns the bytes they take. */
static size_t walk(const uint8_t *b, size_t n, uint64_t seq, size_t max_record, model *m) {
    size_t pos = 0;
    while (n - pos >= HDR) {
        uint32_t len = get32(b + pos);
        if (len > max_record || n - pos - HDR < len)
            break;
        if (ward_crypto_crc32c(0, b + pos + 8, 8 + (size_t)len) != get32(b + pos + 4))
            break;
        if (get64(b + pos + 8) != seq || seq > WARD_SPOOL_SEQ_MAX)
            break;
        if (m) {
            CHECK(m->nrecs < MAX_RECS);
            m->recs[m->nrecs++] = (mrec){seq, b + pos + HDR, len};
        }
        pos += HDR + len;
        seq++;
    }
    return pos;
}

/* Sets the sequence numbers and CRCs of the records in b from seq on, as far as their
 * lengths chain. */
static void repair(uint8_t *b, size_t n, uint64_t seq) {
    size_t pos = 0;
    while (n - pos >= HDR) {
        uint32_t len = get32(b + pos);
        if (n - pos - HDR < len)
            break;
        for (int i = 0; i < 8; i++)
            b[pos + 8 + (size_t)i] = (uint8_t)(seq >> (56 - 8 * i));
        put32(b + pos + 4, ward_crypto_crc32c(0, b + pos + 8, 8 + (size_t)len));
        pos += HDR + len;
        seq++;
    }
}

/* The sequence number after the records of b whose lengths chain from its start. */
static uint64_t chain_end(const uint8_t *b, size_t n, uint64_t seq, size_t max_record) {
    size_t pos = 0;
    while (n - pos >= HDR) {
        uint32_t len = get32(b + pos);
        if (len > max_record || n - pos - HDR < len)
            break;
        pos += HDR + len;
        seq++;
    }
    return seq;
}

static int cmp_seg(const void *a, const void *b) {
    uint64_t x = ((const mseg *)a)->first, y = ((const mseg *)b)->first;
    return x < y ? -1 : x > y;
}

/* What recovery must keep of segs (sorted, names unique). */
static void recover_model(const mseg *all, size_t nall, size_t max_record, model *m) {
    mseg segs[MAX_SEGS];
    size_t n = 0;
    for (size_t i = 0; i < nall; i++) {
        if (all[i].first == 0 || all[i].first > WARD_SPOOL_SEQ_MAX) {
            m->torn_files++; /* out of range: removed */
            m->torn_bytes += all[i].n;
        } else {
            segs[n++] = all[i];
        }
    }
    uint64_t expected = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && segs[i].first != expected) {
            m->torn_files++;
            m->torn_bytes += segs[i].n;
            continue;
        }
        size_t before = m->nrecs;
        size_t pos = walk(segs[i].b, segs[i].n, segs[i].first, max_record, m);
        m->torn_bytes += segs[i].n - pos;
        if (pos == 0) {
            m->torn_files++;
            if (i == 0)
                expected = segs[i].first;
            continue;
        }
        uint64_t nr = m->nrecs - before;
        if (!m->kept)
            m->kept_first = segs[i].first;
        m->kept_segfirst[m->kept] = segs[i].first;
        m->kept_seglast[m->kept] = segs[i].first + nr - 1;
        m->kept_bytes[m->kept++] = pos;
        m->kept_last = segs[i].first + nr - 1;
        expected = segs[i].first + nr;
    }
}

/* ---- the directory ---- */

static void clear_dir(void) {
    DIR *d = opendir(dir);
    CHECK(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

static void remove_dir(void) {
    clear_dir();
    rmdir(dir);
}

static void write_file(const char *name, const uint8_t *p, size_t n) {
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(n == 0 || write(fd, p, n) == (ssize_t)n);
    close(fd);
}

/* ---- reading back ---- */

typedef struct got {
    mrec recs[MAX_RECS + 1];
    size_t n, used;
    uint8_t bytes[1u << 20];
} got;

static int collect(void *ctx, uint64_t seq, const uint8_t *p, size_t len) {
    got *g = ctx;
    CHECK(g->n < MAX_RECS + 1 && len <= sizeof(g->bytes) - g->used);
    uint8_t *c = g->bytes + g->used;
    memcpy(c, p, len);
    g->used += len;
    g->recs[g->n++] = (mrec){seq, c, (uint32_t)len};
    return 0;
}

static void got_free(got *g) {
    g->n = g->used = 0;
}

/* Every record from seq from on; -1 when the read failed. */
static long read_all(ward_spool *s, uint64_t from, got *g) {
    char err[256];
    got_free(g);
    err[0] = '\0';
    long r = ward_spool_read(s, from, 0, 0, collect, g, err, sizeof(err));
    if (r < 0)
        CHECK(err[0]);
    return r;
}

/* The model's records after acked are those read, in order, byte for byte. */
static void same_records(const model *m, uint64_t acked, const got *g, const mrec *extra) {
    size_t k = 0;
    for (size_t i = 0; i < m->nrecs; i++) {
        if (m->recs[i].seq <= acked)
            continue;
        CHECK(k < g->n);
        CHECK(g->recs[k].seq == m->recs[i].seq && g->recs[k].len == m->recs[i].len);
        CHECK(memcmp(g->recs[k].p, m->recs[i].p, m->recs[i].len) == 0);
        k++;
    }
    if (extra) {
        CHECK(k < g->n);
        CHECK(g->recs[k].seq == extra->seq && g->recs[k].len == extra->len);
        CHECK(memcmp(g->recs[k].p, extra->p, extra->len) == 0);
        k++;
    }
    CHECK(k == g->n);
}

/* Closes sp and opens the spool again: the new one with its stats in *st, or NULL when
 * an injected allocation failure stopped it. */
static ward_spool *reopen(ward_spool *sp, const ward_spool_cfg *cfg, ward_spool_stats *st) {
    char err[512] = "";
    ward_spool_close(sp);
    sp = ward_spool_open(cfg, err, sizeof(err));
    if (!sp) {
        CHECK(failalloc_failed() && err[0]);
        return NULL;
    }
    ward_spool_stats_get(sp, st);
    return sp;
}

static model m;
static got g;
static uint8_t segbytes[1u << 20];

static void body(const uint8_t *data, size_t size) {
    in s = {data, size};
    unsigned flags = take8(&s);
    ward_spool_cfg cfg = {.dir = dir};
    cfg.max_record = 16 + 8 * (size_t)take8(&s);
    unsigned mb = take8(&s);
    cfg.max_bytes = mb ? 64 * (uint64_t)mb : (uint64_t)1 << 30;
    cfg.segment_bytes = 64 + 16 * (uint64_t)take8(&s);
    size_t nseg = flags & 7;
    unsigned meta_mode = (flags >> 3) & 3;
    int fix = (flags >> 5) & 1, append = (flags >> 6) & 1;

    clear_dir();
    uint64_t epoch = 0, meta_acked = 0;
    int meta_valid = 0;
    char meta[128];
    if (meta_mode == 1 || meta_mode == 3) {
        epoch = meta_mode == 3 ? 1 : take64(&s);
        meta_acked = meta_mode == 3 ? 0 : take64(&s);
        meta_valid = epoch != 0 && epoch <= WARD_SPOOL_SEQ_MAX && meta_acked <= WARD_SPOOL_SEQ_MAX;
        int n = snprintf(meta, sizeof(meta), "ward-spool 1\nepoch %llu\nacked %llu\n",
                         (unsigned long long)epoch, (unsigned long long)meta_acked);
        write_file("spool.meta", (const uint8_t *)meta, (size_t)n);
    } else if (meta_mode == 2) {
        size_t n = take8(&s);
        if (n > s.n)
            n = s.n;
        write_file("spool.meta", s.p, n);
        s.p += n;
        s.n -= n;
    }

    /* the segments, as written (a name given twice: the later bytes) */
    mseg segs[MAX_SEGS];
    size_t ns = 0, used = 0;
    uint64_t next = 1;
    for (size_t i = 0; i < nseg && s.n; i++) {
        unsigned nb = take8(&s);
        uint64_t first = nb == 254 ? next : nb == 255 ? take64(&s) : 1 + (uint64_t)nb;
        size_t len = (size_t)take8(&s) << 8;
        len |= take8(&s);
        if (len > s.n)
            len = s.n;
        /* the harness's own memory is static: its allocations would fail with the rest */
        if (len > sizeof(segbytes) - used)
            len = sizeof(segbytes) - used;
        uint8_t *b = segbytes + used;
        used += len;
        memcpy(b, s.p, len);
        s.p += len;
        s.n -= len;
        if (fix)
            repair(b, len, first);
        next = chain_end(b, len, first, cfg.max_record);
        char name[32];
        snprintf(name, sizeof(name), "%020llu.seg", (unsigned long long)first);
        write_file(name, b, len);
        size_t j = 0;
        while (j < ns && segs[j].first != first)
            j++;
        if (j == ns)
            ns++;
        segs[j] = (mseg){first, b, len};
    }
    qsort(segs, ns, sizeof(*segs), cmp_seg);
    memset(&m, 0, sizeof(m));
    recover_model(segs, ns, cfg.max_record, &m);

    char err[512];
    err[0] = '\0';
    ward_spool *sp = ward_spool_open(&cfg, err, sizeof(err));
    if (!sp) {
        CHECK(err[0] && strstr(err, dir));
        /* only a meta file that is not one (or memory) stops recovery */
        CHECK(failalloc_failed() || meta_mode == 2 || (meta_mode == 1 && !meta_valid));
        goto done;
    }
    CHECK(meta_mode != 1 || meta_valid);
    ward_spool_stats st;
    ward_spool_stats_get(sp, &st);
    uint64_t acked = st.acked_seq;
    if (meta_valid)
        CHECK(acked == meta_acked && ward_spool_base(sp) == 0);
    else if (meta_mode == 0) /* made again: the new epoch numbers from the first kept */
        CHECK(acked == (m.nrecs ? m.kept_first - 1 : 0) && ward_spool_base(sp) == acked);
    CHECK(ward_spool_base(sp) <= acked);
    CHECK(st.torn_bytes == m.torn_bytes && st.torn_files == m.torn_files);
    uint64_t want_next = acked + 1;
    if (m.nrecs && m.kept_last + 1 > want_next)
        want_next = m.kept_last + 1;
    CHECK(st.next_seq == want_next && st.durable_seq == want_next - 1);
    /* sequence numbers only grow: the next one is after every one held or acknowledged */
    CHECK(st.next_seq > acked);
    CHECK(!m.nrecs || st.next_seq > m.kept_last);
    uint64_t held = 0, bytes = 0, segments = 0;
    for (size_t i = 0; i < m.kept; i++) {
        if (m.kept_seglast[i] <= acked)
            continue; /* removed: all acknowledged */
        segments++;
        bytes += m.kept_bytes[i];
        uint64_t from = m.kept_segfirst[i] > acked ? m.kept_segfirst[i] : acked + 1;
        held += m.kept_seglast[i] - from + 1;
    }
    CHECK(st.records == held && st.bytes == bytes && st.segments == segments);
    long r = read_all(sp, acked + 1, &g);
    if (r < 0 || failalloc_failed()) {
        got_free(&g);
        goto close;
    }
    CHECK((uint64_t)r == held);
    same_records(&m, acked, &g, NULL);
    got_free(&g);
    if (flags & 0x80) {
        /* a new epoch from a record held (or the next one): what is before it counts as
         * acknowledged, the rest is kept */
        uint64_t from = acked + 1 + take8(&s) % (want_next - acked);
        if (ward_spool_new_epoch(sp, from, err, sizeof(err)) != 0) {
            CHECK(failalloc_failed() && err[0]);
            goto close;
        }
        acked = from - 1;
        held = 0;
        for (size_t i = 0; i < m.nrecs; i++)
            held += m.recs[i].seq > acked;
        ward_spool_stats_get(sp, &st);
        CHECK(st.acked_seq == acked && ward_spool_base(sp) == acked && st.records == held &&
              st.next_seq == want_next);
        CHECK(ward_spool_new_epoch(sp, acked, err, sizeof(err)) == -1 && err[0]);
        r = read_all(sp, acked + 1, &g);
        if (r < 0 || failalloc_failed()) {
            got_free(&g);
            goto close;
        }
        same_records(&m, acked, &g, NULL);
        got_free(&g);
    }
    if (!append)
        goto close;
    uint64_t base = ward_spool_base(sp);

    /* append one record, then reopen: nothing more is cut, every record is still there */
    size_t plen = s.n < 100 ? s.n : 100;
    mrec extra = {0, s.p, (uint32_t)plen};
    uint64_t seq = 0;
    int full = ward_spool_full(sp, plen);
    if (ward_spool_append(sp, s.p, plen, &seq, err, sizeof(err)) != 0) {
        ward_spool_stats st2;
        ward_spool_stats_get(sp, &st2);
        CHECK(err[0]);
        if (errno == ENOSPC)
            CHECK(full && st2.full == st.full + 1 && st2.records == st.records);
        else if (errno == EOVERFLOW)
            CHECK(want_next > WARD_SPOOL_SEQ_MAX);
        else if (!failalloc_failed())
            CHECK(plen > cfg.max_record && errno == EMSGSIZE);
        goto close;
    }
    CHECK(!full && seq == want_next);
    extra.seq = seq;
    if (ward_spool_sync(sp, err, sizeof(err)) != 0)
        goto close;
    sp = reopen(sp, &cfg, &st);
    if (!sp)
        goto done;
    CHECK(st.torn_bytes == 0 && st.torn_files == 0 && st.acked_seq == acked &&
          ward_spool_base(sp) == base);
    CHECK(st.records == held + 1 && st.next_seq == seq + 1);
    r = read_all(sp, acked + 1, &g);
    if (r < 0 || failalloc_failed()) {
        got_free(&g);
        goto close;
    }
    same_records(&m, acked, &g, &extra);
    got_free(&g);
    /* everything acknowledged: nothing held, and the numbers go on after a reopen */
    if (ward_spool_ack(sp, seq, err, sizeof(err)) != 0)
        goto close;
    ward_spool_stats_get(sp, &st);
    CHECK(st.records == 0 && st.segments == 0 && st.bytes == 0);
    sp = reopen(sp, &cfg, &st);
    if (!sp)
        goto done;
    CHECK(st.records == 0 && st.acked_seq == seq && st.next_seq == seq + 1);
close:
    ward_spool_close(sp);
done:;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        struct stat st;
        const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof(dir), "%s/ward-fuzz-spool-XXXXXX", base);
        CHECK(mkdtemp(dir));
        atexit(remove_dir);
    }
    fuzz_run(body, data, size);
    return 0;
}
