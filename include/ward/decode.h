/* Decoders: turn a log line into an event's fields. */
#ifndef WARD_DECODE_H
#define WARD_DECODE_H

#include "ward/event.h"

typedef enum ward_decoder {
    WARD_DECODER_RAW = 0,
    WARD_DECODER_SYSLOG,
    WARD_DECODER_COMBINED_ACCESS,
    WARD_DECODER_JSON,
    WARD_DECODER_KV,
    WARD_DECODER_AUTO, /* json if it parses as an object, else syslog, else access, else raw */
    /* as auto, plus "f2b.line": the line without the date fail2ban's default date
     * detection finds in it (what a fail2ban failregex is applied to) */
    WARD_DECODER_FAIL2BAN,
    WARD_DECODER_COUNT
} ward_decoder;

/* Finds a decoder by its name ("raw", "syslog", "combined_access", "json", "kv",
 * "auto", "fail2ban"). Returns 0 and sets *out, or -1 for an unknown name. */
int ward_decoder_lookup(const char *name, ward_decoder *out);

/* The decoder's name (static string). */
const char *ward_decoder_name(ward_decoder d);

/* Resets ev to line and decodes it with d. Every event gets "event.original" (the whole
 * line) and "message" (the payload: the syslog message, the whole line otherwise).
 * A line that is not in d's format is not an error: it is decoded as raw and
 * ev->decoder says "raw". Every line but the empty one is in the fail2ban format: its
 * fields are those auto finds plus "f2b.line" (the whole line when it has no date),
 * and ev->decoder says "fail2ban". f2b.line points into the line when the date was at
 * its start or end; otherwise it is built in the event's arena, after a copy of the
 * line, and ev->scan is set to both ("line\nf2b.line") for the literal prefilter. A
 * date search that gave up (a PCRE2 limit) counts in ev->limit_hits, and the line is
 * kept whole. Returns the decoder that actually decoded the line, or -1 when memory
 * ran out (the event then holds event.original and message only). */
int ward_decode(ward_decoder d, const uint8_t *line, size_t len, ward_event *ev);

#endif
