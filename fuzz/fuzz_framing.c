/* Fuzzes the TCP syslog framer. The first bytes choose the mode, max and how the rest is
 * cut into reads; the rest is the stream. Checks what the framer promises: every message
 * has 1..max bytes, at most max + 1 bytes are held, every byte consumed is accounted for
 * (message, cut, framing, held), an error does not consume the byte that caused it and
 * sticks, and the messages do not depend on how the stream is cut. Allocations fail as
 * failalloc.h says: a framer that could not be made, or an error for lack of memory, ends
 * that run, and the runs are then not compared. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "failalloc.h"
#include "ward/framing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct outcome {
    uint64_t hash; /* of every message (length, truncated, bytes), in order */
    uint64_t messages;
    int error;
} outcome;

static void mix(uint64_t *h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 0x100000001b3ull;
    }
}

static void take(outcome *o, const ward_frame *m, size_t max) {
    if (m->len < 1 || m->len > max || !m->p)
        __builtin_trap();
    uint64_t len = m->len;
    mix(&o->hash, &len, sizeof(len));
    mix(&o->hash, &m->truncated, sizeof(m->truncated));
    mix(&o->hash, m->p, m->len);
    o->messages++;
}

/* Feeds data in reads of the sizes cuts gives (cycled; 0 = everything at once). */
static void run(ward_framing_mode mode, size_t max, const uint8_t *data, size_t size,
                const uint8_t *cuts, size_t ncuts, outcome *o) {
    memset(o, 0, sizeof(*o));
    o->hash = 0xcbf29ce484222325ull;
    ward_framing *f = ward_framing_new(mode, max);
    if (!f) {
        if (!failalloc_failed())
            __builtin_trap();
        o->error = 1;
        return;
    }
    size_t off = 0, c = 0;
    ward_frame m;
    char err[128];
    while (off < size && !o->error) {
        size_t k = ncuts ? 1 + cuts[c++ % ncuts] : size - off;
        if (k > size - off)
            k = size - off;
        const uint8_t *p = data + off;
        size_t n = k;
        int r;
        while ((r = ward_framing_next(f, &p, &n, &m, err, sizeof(err))) == 1)
            take(o, &m, max);
        if (ward_framing_held(f) > max + 1 || p + n != data + off + k)
            __builtin_trap();
        if (r < 0 && failalloc_failed()) {
            o->error = 1;
            break;
        }
        if (r < 0) {
            if (n == 0 || ward_framing_next(f, &p, &n, &m, err, sizeof(err)) != -1 || !err[0])
                __builtin_trap();
            o->error = 1;
        } else if (r != 0 || n != 0) {
            __builtin_trap();
        }
        off += k;
    }
    ward_framing_stats st;
    ward_framing_get_stats(f, &st);
    if (st.consumed != st.msg_bytes + st.cut_bytes + st.framing_bytes + ward_framing_held(f))
        __builtin_trap();
    if (ward_framing_end(f, &m) == 1)
        take(o, &m, max);
    ward_framing_get_stats(f, &st);
    if (ward_framing_held(f) != 0 || st.messages != o->messages ||
        st.consumed != st.msg_bytes + st.cut_bytes + st.framing_bytes ||
        (!o->error && st.consumed != size))
        __builtin_trap();
    ward_framing_free(f);
}

static void body(const uint8_t *data, size_t size) {
    if (size < 3)
        return;
    ward_framing_mode mode = (ward_framing_mode)(data[0] % 3);
    size_t max = 1 + (size_t)data[1] * 4;
    size_t ncuts = data[2] % 8;
    if (size < 3 + ncuts)
        return;
    const uint8_t *cuts = data + 3;
    data += 3 + ncuts;
    size -= 3 + ncuts;
    outcome whole, cut, bytes;
    static const uint8_t one[1] = {0};
    run(mode, max, data, size, NULL, 0, &whole);
    run(mode, max, data, size, cuts, ncuts, &cut);
    run(mode, max, data, size, one, 1, &bytes);
    if (failalloc_failed())
        return;
    if (whole.hash != cut.hash || whole.hash != bytes.hash || whole.error != cut.error ||
        whole.error != bytes.error)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_run(body, data, size);
    return 0;
}
