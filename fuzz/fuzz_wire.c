/* Fuzzes the wire decoders: the input is a stream of frames, each decoded by the parser
 * of its type; batches are opened and inflated (without a signature check, to reach
 * zlib) under small limits. Checks what the decoders promise: frames lie inside the
 * input, a refused batch says why, an accepted one's records lie inside the inflated
 * payload and add up to exactly raw_len (and inflate again the same), and nothing beyond
 * the limits is allocated. Allocation failures are injected (fuzz_run): a refusal then
 * still says why and leaves nothing half-inflated. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "failalloc.h"
#include "ward/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FRAME (1u << 20)
#define MAX_BYTES (1u << 20)
#define MAX_RATIO 200u

static void batch(const uint8_t *p, size_t len, ward_buf *out) {
    ward_batch b;
    int code = 0;
    char err[256];
    err[0] = '\0';
    if (ward_wire_batch_open(p, len, &b, &code, err, sizeof(err)) != 0) {
        if ((code != WARD_WIRE_E_MALFORMED && code != WARD_WIRE_E_VERSION) || !err[0])
            __builtin_trap();
        return;
    }
    if (b.signed_part != p || b.signed_len + WARD_SIG_LEN != len || b.z < p ||
        b.z + b.zlen > p + b.signed_len || b.count == 0)
        __builtin_trap();
    if (b.count > MAX_BYTES / 4)
        return; /* what a caller checks before sizing recs */
    ward_wire_rec *recs = calloc(b.count, sizeof(*recs));
    if (!recs)
        return;
    err[0] = '\0';
    if (ward_wire_batch_inflate(&b, MAX_BYTES, MAX_RATIO, out, recs, &code, err, sizeof(err)) ==
        0) {
        uint64_t sum = 0;
        for (uint32_t i = 0; i < b.count; i++) {
            if (recs[i].len && ((const char *)recs[i].p < out->p ||
                                (const char *)recs[i].p + recs[i].len > out->p + out->len))
                __builtin_trap();
            sum += 4 + (uint64_t)recs[i].len;
        }
        if (code != 0 || sum != b.raw_len || out->len != b.raw_len)
            __builtin_trap();
        /* the same batch inflates the same way again */
        size_t first = out->len;
        if (!failalloc_failed() && (ward_wire_batch_inflate(&b, MAX_BYTES, MAX_RATIO, out, recs,
                                                            &code, err, sizeof(err)) != 0 ||
                                    out->len != first))
            __builtin_trap();
    } else {
        if (code == 0 || !err[0] || out->len != 0)
            __builtin_trap();
        if ((code == WARD_WIRE_E_TOO_LARGE || code == WARD_WIRE_E_BOMB) &&
            out->cap > 2 * (size_t)MAX_BYTES + 2)
            __builtin_trap();
    }
    free(recs);
}

static void body(const uint8_t *data, size_t size) {
    ward_buf out;
    ward_buf_init(&out);
    size_t off = 0;
    while (off < size) {
        uint8_t type;
        const uint8_t *body;
        size_t body_len, used;
        char err[128];
        int r = ward_wire_frame_next(data + off, size - off, MAX_FRAME, &type, &body, &body_len,
                                     &used, err, sizeof(err));
        if (r <= 0)
            break;
        if (used < WARD_WIRE_HDR_LEN || used > size - off || body != data + off + 5 ||
            body_len != used - WARD_WIRE_HDR_LEN)
            __builtin_trap();
        ward_wire_hello h;
        ward_wire_ack a;
        uint64_t have;
        uint16_t code;
        const uint8_t *msg;
        size_t msg_len;
        switch (type) {
        case WARD_WIRE_HELLO:
            ward_wire_hello_parse(body, body_len, &h);
            break;
        case WARD_WIRE_WELCOME:
            ward_wire_welcome_parse(body, body_len, &a);
            break;
        case WARD_WIRE_ACK:
            ward_wire_ack_parse(body, body_len, &a);
            break;
        case WARD_WIRE_FEED_GET:
            ward_wire_feed_get_parse(body, body_len, &have);
            break;
        case WARD_WIRE_ERROR:
            if (ward_wire_error_parse(body, body_len, &code, &msg, &msg_len) == 0 &&
                (msg_len + 4 != body_len || (msg_len && msg != body + 4)))
                __builtin_trap();
            break;
        case WARD_WIRE_BATCH:
            batch(body, body_len, &out);
            break;
        default:
            break;
        }
        off += used;
    }
    ward_buf_fini(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_run(body, data, size);
    return 0;
}
