/* Fuzzes one decoder (FUZZ_DECODER, its name: the Makefile builds this file once per
 * decoder as fuzz_decode_<name>) on one line and checks what the decoders promise: the
 * decoder name matches the return value, which is the decoder asked for or raw (auto:
 * json, syslog, combined_access or raw); every event has event.original and message; an
 * event not marked transformed has only values that occur in what the literal prefilter
 * scans (the line, or ev->scan when set); decoding the line again gives the same fields;
 * when memory runs out, -1 and an event holding event.original and message only. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "failalloc.h"
#include "ward/decode.h"

#ifndef FUZZ_DECODER
#error "build with -DFUZZ_DECODER=\"<decoder name>\""
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int allowed(ward_decoder asked, int got) {
    if (got == (int)asked || got == WARD_DECODER_RAW)
        return 1;
    if (asked == WARD_DECODER_AUTO)
        return got == WARD_DECODER_JSON || got == WARD_DECODER_SYSLOG ||
               got == WARD_DECODER_COMBINED_ACCESS;
    return 0;
}

static void check(const ward_event *ev, ward_decoder asked, int r, const uint8_t *data,
                  size_t size) {
    const ward_field *orig = ward_event_get(ev, "event.original");
    if (!orig || orig->val != (const char *)data || orig->val_len != size)
        __builtin_trap();
    if (!ward_event_get(ev, "message") || ev->nfields > WARD_EVENT_MAX_FIELDS)
        __builtin_trap();
    if (r < 0) {
        if (!failalloc_failed() || ev->nfields != 2)
            __builtin_trap();
        return;
    }
    if (r >= WARD_DECODER_COUNT || !allowed(asked, r) || strcmp(ev->decoder, ward_decoder_name(r)))
        __builtin_trap();
    if (r == WARD_DECODER_RAW && ev->nfields != 2)
        __builtin_trap();
    if (r == WARD_DECODER_FAIL2BAN && !ward_event_get(ev, "f2b.line"))
        __builtin_trap();
    const uint8_t *scan = ev->scan ? ev->scan : data;
    size_t scan_len = ev->scan ? ev->scan_len : size;
    for (size_t i = 0; i < ev->nfields; i++) {
        const ward_field *f = &ev->fields[i];
        if (!f->name || (f->val_len && !f->val))
            __builtin_trap();
        if (!ev->transformed && f->val_len &&
            (f->val_len > scan_len || !memmem(scan, scan_len, f->val, f->val_len)))
            __builtin_trap();
    }
}

static void same(const ward_event *a, const ward_event *b) {
    if (a->nfields != b->nfields || a->transformed != b->transformed ||
        strcmp(a->decoder, b->decoder) != 0)
        __builtin_trap();
    for (size_t i = 0; i < a->nfields; i++)
        if (strcmp(a->fields[i].name, b->fields[i].name) != 0 ||
            a->fields[i].val_len != b->fields[i].val_len ||
            memcmp(a->fields[i].val, b->fields[i].val, a->fields[i].val_len) != 0)
            __builtin_trap();
}

static void body(const uint8_t *data, size_t size) {
    static ward_decoder asked = WARD_DECODER_COUNT;
    if (asked == WARD_DECODER_COUNT && ward_decoder_lookup(FUZZ_DECODER, &asked) < 0)
        __builtin_trap();
    ward_event ev, again;
    ward_event_init(&ev);
    ward_event_init(&again);
    int r = ward_decode(asked, data, size, &ev);
    check(&ev, asked, r, data, size);
    /* once more in a fresh event, and again in the used one (its arena kept) */
    int r2 = ward_decode(asked, data, size, &again);
    check(&again, asked, r2, data, size);
    if (!failalloc_failed())
        same(&ev, &again);
    int r3 = ward_decode(asked, data, size, &ev);
    check(&ev, asked, r3, data, size);
    if (!failalloc_failed())
        same(&ev, &again);
    ward_event_fini(&again);
    ward_event_fini(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_run(body, data, size);
    return 0;
}
