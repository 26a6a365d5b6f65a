/* Fuzzes the collector's one-pass alert reader (collector/extract.c): whatever the
 * bytes, it returns 0 or -1 with a message; on 0, every string it found is inside the
 * arena and NUL-terminated, the level is 0..5, and reading the same bytes again gives
 * the same answer. Allocation failures are injected (fuzz_run): a refusal for lack of
 * memory says so. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../collector/extract.c"
#include "failalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *fields[] = {"src_ip", "source.ip", "user", "dst_port"};

static void check_off(const coll_arena *a, size_t off) {
    if (off == COLL_NONE)
        return;
    if (off >= a->len || !memchr(a->p + off, '\0', a->len - off))
        __builtin_trap();
}

static void body(const uint8_t *data, size_t size) {
    coll_arena a = {0};
    coll_fields f, g;
    char err[256];
    int rc = coll_extract(data, size, fields, 4, &a, &f, err, sizeof(err));
    if (rc != 0 && rc != -1)
        __builtin_trap();
    if (rc < 0 && !strstr(err, failalloc_failed() ? "memory" : "byte "))
        __builtin_trap();
    if (rc == 0 && !failalloc_failed()) {
        check_off(&a, f.rule);
        check_off(&a, f.alert_id);
        for (size_t i = 0; i < COLL_MAX_IND; i++)
            check_off(&a, f.ind[i]);
        if (f.level < 0 || f.level > 5)
            __builtin_trap();
        size_t first = a.len;
        a.len = 0;
        if (coll_extract(data, size, fields, 4, &a, &g, err, sizeof(err)) != 0 || a.len != first ||
            g.level != f.level || g.time_ms != f.time_ms || g.rule != f.rule)
            __builtin_trap();
    }
    free(a.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_run(body, data, size);
    return 0;
}
