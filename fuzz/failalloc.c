/* fuzz_run: see failalloc.h. */
#include "failalloc.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void fuzz_run(fuzz_body body, const uint8_t *data, size_t size) {
    static int mode = -1; /* 0: off, 1: from the hash, 2: fixed */
    static unsigned long fixed;
    static int fixed_once;
    if (mode < 0) {
        const char *e = getenv("WARD_FUZZ_FAILALLOC");
        mode = 1;
        if (e && *e) {
            char *end;
            fixed = strtoul(e, &end, 10);
            fixed_once = strcmp(end, "+1") == 0;
            mode = fixed ? 2 : 0;
        }
    }
    if (mode == 2) {
        failalloc_arm(fixed, fixed_once);
        body(data, size);
        failalloc_disarm();
        return;
    }
    failalloc_arm(0, 0);
    body(data, size);
    unsigned long n = failalloc_disarm();
    if (mode == 0 || n == 0)
        return;
    uint64_t h = hash(data, size);
    failalloc_arm(1 + (unsigned long)(h % n), (int)((h >> 32) & 1));
    body(data, size);
    failalloc_disarm();
}
