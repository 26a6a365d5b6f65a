/* Fuzzes every decoder on one line and checks what the decoders promise: the decoder
 * name matches the return value, every event has event.original and message, and an
 * event not marked transformed has only values that occur in the line as written (the
 * literal prefilter relies on that). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ward/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const ward_event *ev, int r, const uint8_t *data, size_t size) {
    if (r < 0 || r == WARD_DECODER_AUTO || r >= WARD_DECODER_COUNT ||
        strcmp(ev->decoder, ward_decoder_name(r)) != 0)
        __builtin_trap();
    const ward_field *orig = ward_event_get(ev, "event.original");
    if (!orig || orig->val != (const char *)data || orig->val_len != size)
        __builtin_trap();
    if (!ward_event_get(ev, "message") || ev->nfields > WARD_EVENT_MAX_FIELDS)
        __builtin_trap();
    if (r == WARD_DECODER_RAW && ev->nfields != 2)
        __builtin_trap();
    for (size_t i = 0; i < ev->nfields; i++) {
        const ward_field *f = &ev->fields[i];
        if (!f->name || (f->val_len && !f->val))
            __builtin_trap();
        if (!ev->transformed && f->val_len &&
            (f->val_len > size || !memmem(data, size, f->val, f->val_len)))
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ward_event ev;
    ward_event_init(&ev);
    for (int d = 0; d < WARD_DECODER_COUNT; d++) {
        int r = ward_decode((ward_decoder)d, data, size, &ev);
        check(&ev, r, data, size);
        if (d != WARD_DECODER_AUTO && r != WARD_DECODER_RAW && r != d)
            __builtin_trap();
    }
    ward_event_fini(&ev);
    return 0;
}
