/* Framing of syslog over TCP: a stream of bytes into messages, one connection at a time.
 *
 * Modes:
 *   LF     (RFC 6587 "non-transparent framing") a message ends at LF or at NUL (some
 *          senders end messages with NUL); one CR before the LF is stripped; empty lines
 *          are skipped. A line longer than max is cut: its first max bytes are a message
 *          marked truncated, the rest of the line is skipped.
 *   OCTET  (RFC 6587 "octet counting") "LEN SP MSG": LEN is decimal, 1 to 9 digits,
 *          without a leading zero (so not 0). Anything else where a LEN is due is a
 *          framing error, after which the stream cannot be trusted: the connection is
 *          closed. A frame longer than max gives its first max bytes as a truncated
 *          message and the rest of the frame is skipped. LF, CR and NUL between frames,
 *          which some senders add, are skipped.
 *   AUTO   decided per connection by its first byte that is not LF, CR or NUL: a digit
 *          means OCTET, anything else LF.
 * The framer holds at most max + 1 bytes of a partial message (LF mode: one more for the
 * CR that may precede the LF); an octet count is parsed as it arrives, never buffered.
 * Input is bytes with a length, never assumed to be NUL-terminated. */
#ifndef WARD_FRAMING_H
#define WARD_FRAMING_H

#include <stddef.h>
#include <stdint.h>

typedef enum ward_framing_mode {
    WARD_FRAMING_AUTO = 0,
    WARD_FRAMING_LF,
    WARD_FRAMING_OCTET
} ward_framing_mode;

#define WARD_FRAMING_MAX_DIGITS 9 /* of an octet count: frames shorter than 1e9 bytes */

typedef struct ward_framing ward_framing;

/* One message, borrowed: it points into the input or into the framer, and is valid until
 * the next call on the framer or until the input changes. */
typedef struct ward_frame {
    const uint8_t *p;
    size_t len;    /* 1..max */
    int truncated; /* cut at max: the rest of the line or frame was skipped */
} ward_frame;

/* What went through a framer. Every byte consumed is in exactly one of msg_bytes,
 * cut_bytes, framing_bytes, or is held (ward_framing_held):
 *   consumed == msg_bytes + cut_bytes + framing_bytes + held. */
typedef struct ward_framing_stats {
    uint64_t consumed;      /* bytes taken from the input */
    uint64_t messages;      /* messages given out */
    uint64_t msg_bytes;     /* bytes in them */
    uint64_t truncated;     /* messages cut at max */
    uint64_t cut_bytes;     /* bytes skipped after a cut */
    uint64_t framing_bytes; /* LF, NUL, stripped CR, octet counts and their SP, filler */
    uint64_t empty;         /* empty lines skipped (LF mode) */
    uint64_t errors;        /* framing errors (0 or 1: an error ends the stream) */
} ward_framing_stats;

/* A framer for one connection in mode, with messages of at most max bytes (max >= 1).
 * Returns it (caller owns; ward_framing_free), or NULL for a bad mode or max, or no
 * memory. The buffer for partial messages is allocated as it is needed. */
ward_framing *ward_framing_new(ward_framing_mode mode, size_t max);

/* Frees f and what it holds. NULL: no-op. */
void ward_framing_free(ward_framing *f);

/* Consumes input from *p (*n bytes) until a message is complete or the input is used up;
 * *p and *n are advanced past what was consumed. Returns 1 with the message in *out,
 * 0 when the input is used up (*n == 0) and more is needed, or -1 on a framing error
 * (message in err, which names the byte and its offset in the stream; the offending byte
 * is not consumed, and every later call returns -1 again). */
int ward_framing_next(ward_framing *f, const uint8_t **p, size_t *n, ward_frame *out, char *err,
                      size_t errlen);

/* At the end of the stream: returns 1 with the partial message the framer holds (LF: a
 * last line without its LF, as it is; OCTET: a frame cut short by the end, marked
 * truncated), or 0 when it holds none. The framer is then empty and back at the start of
 * a frame (the decided mode stays). */
int ward_framing_end(ward_framing *f, ward_frame *out);

/* The mode in use: LF or OCTET, or AUTO while an auto framer has not seen its first
 * byte. */
ward_framing_mode ward_framing_mode_of(const ward_framing *f);

/* Bytes of a partial message held now (at most max + 1). */
size_t ward_framing_held(const ward_framing *f);

/* Copies f's counters into *out. */
void ward_framing_get_stats(const ward_framing *f, ward_framing_stats *out);

#endif
