/* The spool: appends, group commit, reading across segments, the cap, acknowledgements,
 * and recovery from every kind of damage a crash or a disk can leave. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ward/spool.h"

/* ---- helpers ---- */

typedef struct tdir {
    char path[64];
} tdir;

static void rm_rf(const char *path) {
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(path);
}

static int setup(void **state) {
    tdir *t = calloc(1, sizeof(*t));
    snprintf(t->path, sizeof(t->path), "/tmp/ward-spool-test.XXXXXX");
    assert_non_null(mkdtemp(t->path));
    *state = t;
    return 0;
}

static int teardown(void **state) {
    tdir *t = *state;
    rm_rf(t->path);
    free(t);
    return 0;
}

static ward_spool_cfg cfg_of(const tdir *t, uint64_t max_bytes, uint64_t segment_bytes) {
    return (ward_spool_cfg){t->path, max_bytes, segment_bytes, 1024};
}

static ward_spool *open_ok(const ward_spool_cfg *c) {
    char err[512] = "";
    ward_spool *s = ward_spool_open(c, err, sizeof(err));
    if (!s)
        fail_msg("open: %s", err);
    return s;
}

/* The payload of record n: "rec-N" and n % 37 bytes of 'a' + n % 26. */
static size_t payload(uint64_t n, uint8_t *out) {
    int k = snprintf((char *)out, 32, "rec-%llu", (unsigned long long)n);
    size_t extra = n % 37;
    memset(out + k, 'a' + (int)(n % 26), extra);
    return (size_t)k + extra;
}

static void append_n(ward_spool *s, uint64_t from, uint64_t to) {
    char err[512];
    for (uint64_t n = from; n <= to; n++) {
        uint8_t p[128];
        size_t len = payload(n, p);
        uint64_t seq = 0;
        if (ward_spool_append(s, p, len, &seq, err, sizeof(err)) < 0)
            fail_msg("append %llu: %s", (unsigned long long)n, err);
        assert_int_equal(seq, n);
    }
}

static void sync_ok(ward_spool *s) {
    char err[512];
    if (ward_spool_sync(s, err, sizeof(err)) < 0)
        fail_msg("sync: %s", err);
}

/* What a read gave: the seqs, each checked against its payload. */
typedef struct got {
    uint64_t seq[4096];
    size_t n;
    size_t stop_at; /* fn returns 1 at this record (0: never) */
} got;

static int on_rec(void *ctx, uint64_t seq, const uint8_t *p, size_t len) {
    got *g = ctx;
    if (g->stop_at && g->n == g->stop_at)
        return 1;
    uint8_t want[128];
    size_t wl = payload(seq, want);
    assert_int_equal(len, wl);
    assert_memory_equal(p, want, wl);
    assert_true(g->n < 4096);
    g->seq[g->n++] = seq;
    return 0;
}

static long read_all(ward_spool *s, uint64_t from, size_t maxr, size_t maxb, got *g) {
    char err[512] = "";
    long n = ward_spool_read(s, from, maxr, maxb, on_rec, g, err, sizeof(err));
    if (n < 0)
        fail_msg("read: %s", err);
    return n;
}

static void check_contiguous(const got *g, uint64_t first, uint64_t last) {
    assert_int_equal(g->n, last >= first ? last - first + 1 : 0);
    for (size_t i = 0; i < g->n; i++)
        assert_int_equal(g->seq[i], first + i);
}

static void seg_path(const tdir *t, uint64_t first, char out[256]) {
    snprintf(out, 256, "%s/%020llu.seg", t->path, (unsigned long long)first);
}

static off_t file_size(const char *p) {
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return st.st_size;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* Offset of record n (1-based) in a segment starting at record first. */
static off_t rec_off(uint64_t first, uint64_t n) {
    off_t o = 0;
    for (uint64_t k = first; k < n; k++) {
        uint8_t p[128];
        o += 16 + (off_t)payload(k, p);
    }
    return o;
}

/* ---- tests ---- */

static void test_spool_append_sync_read_segments(void **state) {
    tdir *t = *state;
    ward_spool_cfg c = cfg_of(t, 1 << 20, 200);
    ward_spool *s = open_ok(&c);
    assert_int_not_equal(ward_spool_epoch(s), 0);
    append_n(s, 1, 100);
    got g = {0};
    /* nothing is read before it is durable */
    assert_int_equal(read_all(s, 1, 0, 0, &g), 0);
    sync_ok(s);
    ward_spool_stats st;
    ward_spool_stats_get(s, &st);
    assert_int_equal(st.records, 100);
    assert_int_equal(st.durable_seq, 100);
    assert_int_equal(st.next_seq, 101);
    assert_int_equal(st.appends, 100);
    assert_true(st.segments >= 10);
    assert_int_equal(read_all(s, 1, 0, 0, &g), 100);
    check_contiguous(&g, 1, 100);
    /* from the middle, across segment boundaries */
    got h = {0};
    assert_int_equal(read_all(s, 37, 0, 0, &h), 64);
    check_contiguous(&h, 37, 100);
    /* the segments are each at most segment_bytes and named by their first record */
    char p[256];
    seg_path(t, 1, p);
    assert_true(exists(p));
    assert_true(file_size(p) <= 200);
    /* from past the end: nothing */
    got e = {0};
    assert_int_equal(read_all(s, 101, 0, 0, &e), 0);
    /* a second sync with nothing pending does nothing */
    sync_ok(s);
    ward_spool_stats_get(s, &st);
    assert_int_equal(st.syncs, 1);
    ward_spool_close(s);
}

static void test_spool_reopen_keeps_state(void **state) {
    tdir *t = *state;
    ward_spool_cfg c = cfg_of(t, 1 << 20, 300);
    ward_spool *s = open_ok(&c);
    uint64_t epoch = ward_spool_epoch(s);
    append_n(s, 1, 40);
    sync_ok(s);
    char err[512];
    assert_int_equal(ward_spool_ack(s, 25, err, sizeof(err)), 0);
    ward_spool_close(s);
    s = open_ok(&c);
    assert_int_equal(ward_spool_epoch(s), epoch);
    ward_spool_stats st;
    ward_spool_stats_get(s, &st);
    assert_int_equal(st.next_seq, 41);
    assert_int_equal(st.acked_seq, 25);
    assert_int_equal(st.durable_seq, 40);
    assert_int_equal(st.records, 15);
    assert_int_equal(st.torn_bytes, 0);
    assert_int_equal(st.torn_files, 0);
    assert_int_equal(st.meta_rebuilt, 0);
    got g = {0};
    assert_int_equal(read_all(s, 26, 0, 0, &g), 15);
    check_contiguous(&g, 26, 40);
    append_n(s, 41, 45);
    sync_ok(s);
    /* everything acknowledged: every segment goes, and the numbers still go on */
    assert_int_equal(ward_spool_ack(s, 45, err, sizeof(err)), 0);
    ward_spool_stats_get(s, &st);
    assert_int_equal(st.segments, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.records, 0);
    ward_spool_close(s);
    s = open_ok(&c);
    ward_spool_stats_get(s, &st);
    assert_int_equal(st.next_seq, 46);
    assert_int_equal(ward_spool_epoch(s), epoch);
    append_n(s, 46, 47);
    sync_ok(s);
    got h = {0};
    assert_int_equal(read_all(s, 1, 0, 0, &h), 2);
    check_contiguous(&h, 46, 47);
    ward_spool_close(s);
}

static void test_spool_lock_one_process(void **state) {
    tdir *t = *state;
    ward_spool_cfg c = cfg_of(t, 1 << 20, 300);
    ward_spool *s = open_ok(&c);
    char err[512] = "";
    /* a second open (as another process would) is refused while the first holds it */
    ward_spool *s2 = ward_spool_open(&c, err, sizeof(err));
    assert_null(s2);
    assert_non_null(strstr(err, "spool.lock"));
    ward_spool_close(s);
    s = open_ok(&c);
    ward_spool_close(s);
}

static void test_spool_recover_tail_cut_every_offset(void **state) {
    tdir *t = *state;
    ward_spool_cfg c = cfg_of(t, 1 << 20, 1 << 20);
    char p[256];
    seg_path(t, 1, p);
    off_t start = rec_off(1, 5), end = rec_off(1, 6);
    for (off_t cut = start; cut < end; cut++) {
        rm_rf(t->path);
        ward_spool *s = open_ok(&c);
        uint64_t epoch = ward_spool_epoch(s);
        append_n(s, 1, 5);
        sync_ok(s);
        ward_spool_close(s);
        assert_int_equal(file_size(p), end);
        assert_int_equal(truncate(p, cut), 0);
        s = open_ok(&c);
        ward_spool_stats st;
        ward_spool_stats_get(s, &st);
        assert_int_equal(ward_spool_epoch(s), epoch);
        assert_int_equal(st.next_seq, 5);
        assert_int_equal(st.durable_seq, 4);
        assert_int_equal(st.torn_bytes, (uint64_t)(cut - start));
        assert_int_equal(file_size(p), start);
        got g = {0};
        assert_int_equal(read_all(s, 1, 0, 0, &g), 4);
        check_contiguous(&g, 1, 4);
        /* record 5 is written again after the four whole ones */
        append_n(s, 5, 6);
        sync_ok(s);
        got h = {0};
        assert_int_equal(read_all(s, 1, 0, 0, &h), 6);
        check_contiguous(&h, 1, 6);
        ward_spool_close(s);
    }
}

static void test_spool_recover_flipped_byte(void **state) {
    tdir *t = *state;
    /* segments of 10 records or so; the byte flipped is in record 5 of the first */
    ward_spool_cfg c = cfg_of(t, 1 << 20, (uint64_t)rec_off(1, 11));
    ward_spool *s = open_ok(&c);
    append_n(s, 1, 30);
    sync_ok(s);
    ward_spool_stats st;
    ward_spool_stats_get(s, &st);
    assert_true(st.segments >= 3);
    ward_spool_close(s);
    char p[256];
    seg_path(t, 1, p);
    off_t size = file_size(p);
    off_t at = rec_off(1, 5) + 16 + 2; /* in record 5's payload */
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);
    s = open_ok(&c);
    ward_spool_stats_get(s, &st);
    /* records 1-4 are kept; the rest of the segment is cut and the later segments,
     * whose records no longer follow, removed */
    assert_int_equal(st.next_seq, 5);
    assert_int_equal(st.segments, 1);
    assert_true(st.torn_files >= 2);
    assert_true(st.torn_bytes >= (uint64_t)(size - rec_off(1, 5)));
    assert_int_equal(file_size(p), rec_off(1, 5));
    got g = {0};
    assert_int_equal(read_all(s, 1, 0, 0, &g), 4);
    check_contiguous(&g, 1, 4);
    ward_spool_close(s);
}

static void test_spool_recover_bad_length_and_seq(void **state) {
    tdir *t = *state;
    ward_spool_cfg c = cfg_of(t, 1 << 20, 1 << 20);
    ward_spool *s = open_ok(&c);
    append_n(s, 1, 6);
    sync_ok(s);
    ward_spool_close(s);
    char p[256];
    seg_path(t, 1, p);
    /* record 4's length over max_record */
    int fd = open(p, O_RDWR);
    uint8_t big[4] = {0, 0, 0x10, 0};
    assert_int_equal(pwrite(fd, big, 4, rec_off(1, 4)), 4);
    close(fd);
    s = open_ok(&c);
    ward_spool_stats st;
    ward_spool_stats_get(s, &st);
    assert_int_equal(st.next_seq, 4);
    ward_spool_close(s);
    /* a segment whose name does not match its first record: torn at once, removed */
    rm_rf(t->path);
    s = open_ok(&c);
    append_n(s, 1, 3);
    sync_ok(s);
    ward_spool_close(s);
    char q[256];
    seg_path(t, 4, q);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "cp %s %s", p, q); /* records 1-3 again, under name 4 */
    assert_int_equal(system(cmd), 0);
    s = open_ok(&c);
    ward_spool_stats_get(s, &st);
    assert_int_equal(st.next_seq, 4);
    assert_int_equal(st.torn_files, 1);
    assert_false(exists(q));
    ward_spool_close(s);
}

static void test_spool_recover_garbage_appended(void **state) {
    tdir *t = *state;
    ward_spool_cfg c = cfg_of(t, 1 << 20, 1 << 20);
    ward_spool *s = open_ok(&c);
    append_n(s, 1, 8);
    sync_ok(s);
    ward_spool_close(s);
    char p[256];
    seg_path(t, 1, p);
    off_t size = file_size(p);
    FILE *f = fopen(p, "ab");
    for (int i = 0; i < 333; i++)
        fputc((i * 7919) & 255, f);
    fclose(f);
    s = open_ok(&c);
    ward_spool_stats st;
    ward_spool_stats_get(s, &st);
    assert_int_equal(st.next_seq, 9);
    assert_int_equal(st.torn_bytes, 333);
    assert_int_equal(st.torn_files, 0);
    assert_int_equal(file_size(p), size);
    got g = {0};
    assert_int_equal(read_all(s, 1, 0, 0, &g), 8);
    ward_spool_close(s);
}

static void test_spool_recover_empty_segment(void **state) {
    tdir *t = *state;
    ward_spool_cfg c = cfg_of(t, 1 << 20, 1 << 20);
    ward_spool *s = open_ok(&c);
    append_n(s, 1, 3);
    sync_ok(s);
    ward_spool_close(s);
    /* a crash between making the next segment and writing to it */
    char q[256];
    seg_path(t, 4, q);
    int fd = open(q, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    s = open_ok(&c);
    ward_spool_stats st;
    ward_spool_stats_get(s, &st);
    assert_int_equal(st.next_seq, 4);
    assert_int_equal(st.torn_files, 1);
    assert_int_equal(st.torn_bytes, 0);
    assert_false(exists(q));
    append_n(s, 4, 5);
    sync_ok(s);
    got g = {0};
    assert_int_equal(read_all(s, 1, 0, 0, &g), 5);
    check_contiguous(&g, 1, 5);
    ward_spool_close(s);
}

static void test_spool_meta(void **state) {
    tdir *t = *state;
    ward_spool_cfg c = cfg_of(t, 1 << 20, 200);
    ward_spool *s = open_ok(&c);
    uint64_t epoch = ward_spool_epoch(s);
    append_n(s, 1, 30);
    sync_ok(s);
    char err[512] = "";
    assert_int_equal(ward_spool_ack(s, 12, err, sizeof(err)), 0);
    ward_spool_stats st;
    ward_spool_stats_get(s, &st);
    uint64_t first = 0;
    for (uint64_t n = 1; n <= 13 && !first; n++) {
        char p[256];
        seg_path(t, n, p);
        if (exists(p))
            first = n;
    }
    assert_true(first >= 2 && first <= 13); /* the fully acknowledged segments are gone */
    ward_spool_close(s);
    /* a missing meta with segments: made again, with a new epoch, and counted */
    char m[256];
    snprintf(m, sizeof(m), "%s/spool.meta", t->path);
    assert_int_equal(unlink(m), 0);
    s = open_ok(&c);
    ward_spool_stats_get(s, &st);
    assert_int_equal(st.meta_rebuilt, 1);
    assert_int_not_equal(ward_spool_epoch(s), epoch);
    assert_int_equal(st.acked_seq, first - 1);
    assert_int_equal(st.next_seq, 31);
    got g = {0};
    assert_int_equal(read_all(s, 1, 0, 0, &g), 31 - first);
    ward_spool_close(s);
    /* garbage: an error naming the file, and the spool left as it is */
    FILE *f = fopen(m, "w");
    fputs("ward-spool 1\nepoch 12x\nacked 3\n", f);
    fclose(f);
    assert_null(ward_spool_open(&c, err, sizeof(err)));
    assert_non_null(strstr(err, "spool.meta"));
    f = fopen(m, "w");
    fputs("ward-spool 1\nepoch 0\nacked 3\n", f); /* epoch 0 is never made */
    fclose(f);
    assert_null(ward_spool_open(&c, err, sizeof(err)));
    f = fopen(m, "w");
    fclose(f);
    assert_null(ward_spool_open(&c, err, sizeof(err)));
    assert_non_null(strstr(err, "spool.meta"));
    f = fopen(m, "w");
    fputs("ward-spool 1\nepoch 77\nacked 3\n", f);
    fclose(f);
    s = open_ok(&c);
    assert_int_equal(ward_spool_epoch(s), 77);
    ward_spool_close(s);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Sequence numbers stay in 1..2^53-1: an acknowledgement beyond it is not a meta file, a
 * segment named beyond it (or 0) is removed and counted, and the last number is the last
 * append. Found by fuzz_spool: a meta with acked 2^64-1 made the next sequence number 0,
 * whose segment "00000000000000000000.seg" the next recovery did not see (lost). */
static void test_spool_sequence_range(void **state) {
    tdir *t = *state;
    ward_spool_cfg c = cfg_of(t, 1 << 20, 200);
    char m[256], err[512] = "";
    snprintf(m, sizeof(m), "%s/spool.meta", t->path);
    write_text(m, "ward-spool 1\nepoch 5\nacked 18446744073709551615\n");
    assert_null(ward_spool_open(&c, err, sizeof(err)));
    assert_non_null(strstr(err, "spool.meta"));
    write_text(m, "ward-spool 1\nepoch 5\nacked 9007199254740992\n"); /* 2^53 */
    assert_null(ward_spool_open(&c, err, sizeof(err)));
    write_text(m, "ward-spool 1\nepoch 9007199254740992\nacked 1\n");
    assert_null(ward_spool_open(&c, err, sizeof(err)));

    write_text(m, "ward-spool 1\nepoch 5\nacked 9007199254740989\n"); /* 2^53 - 3 */
    ward_spool *s = open_ok(&c);
    append_n(s, WARD_SPOOL_SEQ_MAX - 1, WARD_SPOOL_SEQ_MAX);
    uint8_t p[128];
    uint64_t seq = 0;
    errno = 0;
    assert_int_equal(ward_spool_append(s, p, payload(1, p), &seq, err, sizeof(err)), -1);
    assert_int_equal(errno, EOVERFLOW);
    assert_non_null(strstr(err, "exhausted"));
    sync_ok(s);
    ward_spool_close(s);

    /* files named like segments, out of range: removed and counted, the rest kept */
    char big[256], zero[256];
    seg_path(t, UINT64_MAX, big);
    seg_path(t, 0, zero);
    assert_int_equal(strlen(strrchr(big, '/')), 25);
    write_text(big, "0123456789");
    write_text(zero, "abc");
    s = open_ok(&c);
    ward_spool_stats st;
    ward_spool_stats_get(s, &st);
    assert_int_equal(st.torn_files, 2);
    assert_int_equal(st.torn_bytes, 13);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.next_seq, WARD_SPOOL_SEQ_MAX + 1);
    assert_false(exists(big));
    assert_false(exists(zero));
    got g = {0};
    assert_int_equal(read_all(s, 1, 0, 0, &g), 2);
    check_contiguous(&g, WARD_SPOOL_SEQ_MAX - 1, WARD_SPOOL_SEQ_MAX);
    ward_spool_close(s);
}

/* A meta made again over kept records numbers the new epoch from the first of them (the
 * base), kept across acks and reopens; ward_spool_new_epoch starts an epoch at a later
 * record. Without the base, a collector would refuse the new epoch's first batch (it
 * starts beyond 1: a gap) for ever. */
static void test_spool_base_and_new_epoch(void **state) {
    tdir *t = *state;
    ward_spool_cfg c = cfg_of(t, 1 << 20, 200);
    char m[256], err[512] = "";
    snprintf(m, sizeof(m), "%s/spool.meta", t->path);
    ward_spool *s = open_ok(&c);
    assert_int_equal(ward_spool_base(s), 0);
    append_n(s, 1, 30);
    sync_ok(s);
    assert_int_equal(ward_spool_ack(s, 12, err, sizeof(err)), 0);
    ward_spool_stats st;
    ward_spool_stats_get(s, &st);
    ward_spool_close(s);
    FILE *f = fopen(m, "r");
    char text[256] = "";
    assert_non_null(f);
    assert_true(fread(text, 1, sizeof(text) - 1, f) > 0);
    fclose(f);
    assert_null(strstr(text, "base")); /* an ordinary meta reads as before */
    assert_int_equal(unlink(m), 0);
    s = open_ok(&c);
    ward_spool_stats_get(s, &st);
    uint64_t first = st.acked_seq + 1; /* the first record kept */
    assert_true(first >= 2 && first <= 13);
    assert_int_equal(ward_spool_base(s), first - 1);
    uint64_t e1 = ward_spool_epoch(s);
    assert_int_equal(ward_spool_ack(s, 20, err, sizeof(err)), 0);
    ward_spool_close(s);
    s = open_ok(&c);
    assert_int_equal(ward_spool_base(s), first - 1); /* kept by the ack and the reopen */
    assert_int_equal(ward_spool_epoch(s), e1);
    /* a new epoch: not at or before what is acknowledged, nor beyond the next record */
    assert_int_equal(ward_spool_new_epoch(s, 20, err, sizeof(err)), -1);
    assert_int_equal(ward_spool_new_epoch(s, 32, err, sizeof(err)), -1);
    /* nor over records not yet durable */
    append_n(s, 31, 31);
    assert_int_equal(ward_spool_new_epoch(s, 32, err, sizeof(err)), -1);
    sync_ok(s);
    assert_int_equal(ward_spool_epoch(s), e1);
    assert_int_equal(ward_spool_new_epoch(s, 25, err, sizeof(err)), 0);
    uint64_t e2 = ward_spool_epoch(s);
    assert_int_not_equal(e2, e1);
    assert_int_equal(ward_spool_base(s), 24);
    ward_spool_stats_get(s, &st);
    assert_int_equal(st.acked_seq, 24);
    assert_int_equal(st.records, 7);
    got g = {0};
    assert_int_equal(read_all(s, 25, 0, 0, &g), 7);
    check_contiguous(&g, 25, 31);
    ward_spool_close(s);
    s = open_ok(&c);
    assert_int_equal(ward_spool_epoch(s), e2);
    assert_int_equal(ward_spool_base(s), 24);
    ward_spool_close(s);
    /* a base beyond acked is not a meta file */
    f = fopen(m, "w");
    fputs("ward-spool 1\nepoch 5\nacked 3\nbase 4\n", f);
    fclose(f);
    assert_null(ward_spool_open(&c, err, sizeof(err)));
    assert_non_null(strstr(err, "spool.meta"));
}

static void test_spool_cap(void **state) {
    tdir *t = *state;
    /* room for records 1-20 exactly */
    uint64_t cap = (uint64_t)rec_off(1, 21);
    ward_spool_cfg c = cfg_of(t, cap, (uint64_t)rec_off(1, 6));
    ward_spool *s = open_ok(&c);
    append_n(s, 1, 20);
    uint8_t p[128];
    size_t len = payload(21, p);
    assert_true(ward_spool_full(s, len));
    uint64_t seq = 0;
    char err[512] = "";
    assert_int_equal(ward_spool_append(s, p, len, &seq, err, sizeof(err)), -1);
    assert_int_equal(errno, ENOSPC);
    assert_non_null(strstr(err, t->path));
    ward_spool_stats st;
    ward_spool_stats_get(s, &st);
    assert_int_equal(st.full, 1);
    assert_int_equal(st.bytes, cap);
    assert_int_equal(st.next_seq, 21);
    /* acknowledged, but the first segment is not all acknowledged yet: still full */
    sync_ok(s);
    assert_int_equal(ward_spool_ack(s, 4, err, sizeof(err)), 0);
    assert_true(ward_spool_full(s, len));
    /* the first segment goes: room again */
    assert_int_equal(ward_spool_ack(s, 5, err, sizeof(err)), 0);
    assert_false(ward_spool_full(s, len));
    append_n(s, 21, 21);
    ward_spool_close(s);
}

static void test_spool_refusals(void **state) {
    tdir *t = *state;
    ward_spool_cfg c = cfg_of(t, 1 << 20, 1 << 20);
    ward_spool *s = open_ok(&c);
    append_n(s, 1, 3);
    char err[512] = "";
    /* not yet durable: an acknowledgement of it is refused */
    assert_int_equal(ward_spool_ack(s, 1, err, sizeof(err)), -1);
    assert_int_equal(errno, EINVAL);
    sync_ok(s);
    assert_int_equal(ward_spool_ack(s, 4, err, sizeof(err)), -1);
    assert_int_equal(ward_spool_ack(s, 3, err, sizeof(err)), 0);
    assert_int_equal(ward_spool_ack(s, 2, err, sizeof(err)), 0); /* older: nothing to do */
    uint8_t big[1025];
    memset(big, 'x', sizeof(big));
    uint64_t seq;
    assert_int_equal(ward_spool_append(s, big, sizeof(big), &seq, err, sizeof(err)), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(ward_spool_append(s, big, 1024, &seq, err, sizeof(err)), 0);
    assert_int_equal(seq, 4);
    ward_spool_close(s);
    /* a configuration without limits */
    ward_spool_cfg bad = {t->path, 0, 1, 1};
    assert_null(ward_spool_open(&bad, err, sizeof(err)));
    ward_spool_cfg nodir = {NULL, 1, 1, 1};
    assert_null(ward_spool_open(&nodir, err, sizeof(err)));
    /* a directory that cannot be made */
    ward_spool_cfg deep = {"/nonexistent/ward/spool", 1 << 20, 1 << 20, 64};
    assert_null(ward_spool_open(&deep, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/ward/spool"));
}

static void test_spool_read_limits(void **state) {
    tdir *t = *state;
    ward_spool_cfg c = cfg_of(t, 1 << 20, 250);
    ward_spool *s = open_ok(&c);
    append_n(s, 1, 50);
    sync_ok(s);
    got g = {0};
    assert_int_equal(read_all(s, 1, 3, 0, &g), 3);
    check_contiguous(&g, 1, 3);
    /* max_bytes: records 10.. are 5 + n % 37 bytes each */
    got h = {0};
    uint8_t p[128];
    size_t l10 = payload(10, p), l11 = payload(11, p), l12 = payload(12, p);
    assert_int_equal(read_all(s, 10, 0, l10 + l11 + l12 - 1, &h), 2);
    check_contiguous(&h, 10, 11);
    /* one record over max_bytes is still given, alone */
    got one = {0};
    assert_int_equal(read_all(s, 10, 0, 1, &one), 1);
    check_contiguous(&one, 10, 10);
    /* fn says stop: that record is not counted, and the next read starts with it */
    got st = {0};
    st.stop_at = 4;
    assert_int_equal(read_all(s, 20, 0, 0, &st), 4);
    check_contiguous(&st, 20, 23);
    got rest = {0};
    assert_int_equal(read_all(s, 24, 0, 0, &rest), 27);
    check_contiguous(&rest, 24, 50);
    ward_spool_close(s);
}

static void test_spool_sequential_cache(void **state) {
    tdir *t = *state;
    ward_spool_cfg c = cfg_of(t, 1 << 20, 300);
    ward_spool *s = open_ok(&c);
    append_n(s, 1, 200);
    sync_ok(s);
    /* in pieces, each read going on where the last stopped, with appends in between */
    got all = {0};
    uint64_t next = 1;
    for (int round = 0; round < 100 && next <= 260; round++) {
        got g = {0};
        long n = read_all(s, next, 7, 0, &g);
        for (long i = 0; i < n; i++)
            all.seq[all.n++] = g.seq[i];
        next += (uint64_t)n;
        if (round == 10) {
            append_n(s, 201, 260);
            sync_ok(s);
        }
    }
    check_contiguous(&all, 1, 260);
    /* and backwards: a read from an earlier record than the cache finds it again */
    got back = {0};
    assert_int_equal(read_all(s, 5, 3, 0, &back), 3);
    check_contiguous(&back, 5, 7);
    ward_spool_close(s);
    /* a fresh spool reads the same */
    s = open_ok(&c);
    got fresh = {0};
    assert_int_equal(read_all(s, 1, 0, 0, &fresh), 260);
    assert_memory_equal(fresh.seq, all.seq, 260 * sizeof(uint64_t));
    ward_spool_close(s);
}

static void test_spool_read_damaged_durable(void **state) {
    tdir *t = *state;
    ward_spool_cfg c = cfg_of(t, 1 << 20, 1 << 20);
    ward_spool *s = open_ok(&c);
    append_n(s, 1, 5);
    sync_ok(s);
    /* the disk changes a record after it was made durable: an error naming the file */
    char p[256];
    seg_path(t, 1, p);
    int fd = open(p, O_RDWR);
    assert_int_equal(pwrite(fd, "Z", 1, rec_off(1, 3) + 17), 1);
    close(fd);
    got g = {0};
    char err[512] = "";
    assert_int_equal(ward_spool_read(s, 1, 0, 0, on_rec, &g, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "00000000000000000001.seg"));
    assert_int_equal(g.n, 2);
    ward_spool_close(s);
}

static void test_spool_failed_write_rolls_back(void **state) {
    tdir *t = *state;
    ward_spool_cfg c = cfg_of(t, 1 << 20, 1 << 20);
    ward_spool *s = open_ok(&c);
    append_n(s, 1, 5);
    sync_ok(s);
    got g = {0};
    assert_int_equal(read_all(s, 1, 0, 0, &g), 5); /* the reader's buffer holds the file */
    char p[256];
    seg_path(t, 1, p);
    off_t before = file_size(p);
    /* a file size limit 20 bytes on: the next record is written in part (EFBIG), as on a
     * disk that fills in the middle of a write */
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)before + 20;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    uint8_t big[100];
    memset(big, 'q', sizeof(big));
    uint64_t seq = 0;
    char err[512] = "";
    int rc = ward_spool_append(s, big, sizeof(big), &seq, err, sizeof(err));
    int e = errno;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, -1);
    assert_int_equal(e, EFBIG);
    assert_non_null(strstr(err, "00000000000000000001.seg"));
    /* the part written is gone, and the next record takes the number */
    assert_int_equal(file_size(p), before);
    append_n(s, 6, 8);
    sync_ok(s);
    got h = {0};
    assert_int_equal(read_all(s, 1, 0, 0, &h), 8);
    check_contiguous(&h, 1, 8);
    ward_spool_close(s);
    s = open_ok(&c);
    ward_spool_stats st;
    ward_spool_stats_get(s, &st);
    assert_int_equal(st.next_seq, 9);
    assert_int_equal(st.torn_bytes, 0);
    ward_spool_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_spool_append_sync_read_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_reopen_keeps_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_lock_one_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_recover_tail_cut_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_recover_flipped_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_recover_bad_length_and_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_recover_garbage_appended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_recover_empty_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_sequence_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_base_and_new_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_read_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_sequential_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_read_damaged_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_failed_write_rolls_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
