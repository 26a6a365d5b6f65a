/* The wire format between agents and the collector (docs/wire.md): frames over a TLS
 * stream, signed and compressed alert batches, acknowledgements, the feed. Everything is
 * big-endian and decoded through a bounds-checked cursor that must consume its input
 * exactly; nothing is cast over raw bytes. */
#ifndef WARD_WIRE_H
#define WARD_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "ward/crypto.h"
#include "ward/json.h"

#define WARD_WIRE_VERSION 1
#define WARD_WIRE_FRAME_MAX (16u << 20) /* default limit of one frame's length */
#define WARD_WIRE_HDR_LEN 5             /* u32 length of what follows, u8 type */

enum ward_wire_type {
    WARD_WIRE_HELLO = 1,    /* agent: version, agent key, epoch */
    WARD_WIRE_WELCOME = 2,  /* collector: version, highest contiguous seq stored */
    WARD_WIRE_BATCH = 3,    /* agent: a signed batch of alerts */
    WARD_WIRE_ACK = 4,      /* collector: epoch, highest contiguous seq stored */
    WARD_WIRE_FEED_GET = 5, /* agent: the feed version it has (0: none) */
    WARD_WIRE_FEED = 6,     /* collector: a signed feed document (ward/feed.h) */
    WARD_WIRE_ERROR = 7,    /* collector: code and message; the connection closes */
};

enum ward_wire_err {
    WARD_WIRE_E_MALFORMED = 1, /* a frame or batch that does not decode */
    WARD_WIRE_E_VERSION = 2,   /* unsupported version */
    WARD_WIRE_E_UNKNOWN = 3,   /* agent key not enrolled */
    WARD_WIRE_E_REVOKED = 4,   /* agent key revoked */
    WARD_WIRE_E_SIGNATURE = 5, /* bad signature */
    WARD_WIRE_E_TOO_LARGE = 6, /* frame or inflated payload over the limit */
    WARD_WIRE_E_BOMB = 7,      /* compression ratio over the limit */
    WARD_WIRE_E_GAP = 8,       /* first_seq beyond the highest stored + 1 */
    WARD_WIRE_E_STORE = 9,     /* the collector could not store it: retry later */
};

/* Names an error code ("bad signature"); never NULL. */
const char *ward_wire_err_name(int code);

/* A bounds-checked reader over (p, len). Every get fails (returns -1 and sets bad) once
 * the input is short; ward_wire_cur_end returns 0 only when nothing failed and
 * everything was consumed. */
typedef struct ward_wire_cur {
    const uint8_t *p;
    size_t len, at;
    int bad;
} ward_wire_cur;

void ward_wire_cur_init(ward_wire_cur *c, const uint8_t *p, size_t len);
int ward_wire_get_u8(ward_wire_cur *c, uint8_t *v);
int ward_wire_get_u16(ward_wire_cur *c, uint16_t *v);
int ward_wire_get_u32(ward_wire_cur *c, uint32_t *v);
int ward_wire_get_u64(ward_wire_cur *c, uint64_t *v);
/* Points *v at the next n bytes (inside the input; nothing is copied). */
int ward_wire_get_bytes(ward_wire_cur *c, size_t n, const uint8_t **v);
int ward_wire_cur_end(const ward_wire_cur *c);

/* Writers: append big-endian values to b (ward_buf's oom flag records failure). */
void ward_wire_put_u8(ward_buf *b, uint8_t v);
void ward_wire_put_u16(ward_buf *b, uint16_t v);
void ward_wire_put_u32(ward_buf *b, uint32_t v);
void ward_wire_put_u64(ward_buf *b, uint64_t v);

/* Splits a stream: when p (len bytes received so far) starts with a whole frame, sets
 * *type, *body (inside p), *body_len and *used (header + body) and returns 1; returns 0
 * when more bytes are needed, -1 when the frame is invalid (length 0 or over max: err
 * says which). */
int ward_wire_frame_next(const uint8_t *p, size_t len, uint32_t max, uint8_t *type,
                         const uint8_t **body, size_t *body_len, size_t *used, char *err,
                         size_t errlen);

/* Appends a frame of the given type with body to out. Returns 0 or -1 (no memory). */
int ward_wire_frame_put(ward_buf *out, uint8_t type, const uint8_t *body, size_t len);

/* ---- small messages: each *_put appends a whole frame (or nothing: -1, no memory); each
 * *_parse decodes a body and returns 0, or -1 when it is short or has bytes left over.
 * HELLO and WELCOME begin with a version: when it is not WARD_WIRE_VERSION, parse returns
 * 0 with only version set (another version may lay the rest out differently), and the
 * caller refuses it with WARD_WIRE_E_VERSION. ---- */
typedef struct ward_wire_hello {
    uint16_t version;
    uint8_t agent[WARD_PUBKEY_LEN];
    uint64_t epoch; /* the agent spool's epoch: sequence numbers are per epoch */
} ward_wire_hello;

int ward_wire_hello_put(ward_buf *out, const ward_wire_hello *m);
int ward_wire_hello_parse(const uint8_t *p, size_t len, ward_wire_hello *m);

typedef struct ward_wire_ack { /* WELCOME (epoch is the hello's) and ACK */
    uint16_t version;          /* WELCOME only */
    uint64_t epoch;
    uint64_t acked; /* highest contiguous seq stored for (agent, epoch); 0: none */
} ward_wire_ack;

int ward_wire_welcome_put(ward_buf *out, const ward_wire_ack *m);
int ward_wire_welcome_parse(const uint8_t *p, size_t len, ward_wire_ack *m);
int ward_wire_ack_put(ward_buf *out, const ward_wire_ack *m);
int ward_wire_ack_parse(const uint8_t *p, size_t len, ward_wire_ack *m);

int ward_wire_feed_get_put(ward_buf *out, uint64_t have_version);
int ward_wire_feed_get_parse(const uint8_t *p, size_t len, uint64_t *have_version);

/* ERROR: msg is copied (at most 1024 bytes are sent). parse points *msg inside p. */
int ward_wire_error_put(ward_buf *out, uint16_t code, const char *msg);
int ward_wire_error_parse(const uint8_t *p, size_t len, uint16_t *code, const uint8_t **msg,
                          size_t *msg_len);

/* ---- batches ----
 * body: u16 version | u8 agent[32] | u64 epoch | u64 first_seq | u32 count |
 *       u32 raw_len | u32 zlen | z[zlen] | sig[64]
 * z is zlib (RFC 1950) of raw_len bytes: count records, each u32 length | bytes (an
 * alert's JSON). sig is the agent's Ed25519 signature over every byte before it. */
typedef struct ward_batch {
    uint16_t version;
    uint8_t agent[WARD_PUBKEY_LEN];
    uint64_t epoch, first_seq;
    uint32_t count, raw_len;
    const uint8_t *z; /* inside the body given to ward_wire_batch_open */
    size_t zlen;
    const uint8_t *signed_part; /* version .. end of z */
    size_t signed_len;
    const uint8_t *sig;
} ward_batch;

typedef struct ward_wire_rec {
    const uint8_t *p;
    size_t len;
} ward_wire_rec;

/* Appends a BATCH frame of n records (seq first_seq .. first_seq + n - 1) compressed at
 * zlib level and signed with k (a private key). Sequence numbers start at 1 and a batch
 * holds at least one record. Returns 0, or -1 with nothing appended (no memory, n == 0,
 * first_seq == 0, a payload over 4 GiB, a signing failure). */
int ward_wire_batch_put(ward_buf *out, const ward_key *k, uint64_t epoch, uint64_t first_seq,
                        const ward_wire_rec *recs, size_t n, int level);

/* Decodes a BATCH body's header without inflating anything. Returns 0, or -1 with *code
 * (WARD_WIRE_E_MALFORMED or _VERSION) and err set. The version is checked first; a
 * count of 0, a first_seq of 0 (or one whose last seq wraps), a raw_len too small for
 * count record lengths and an empty payload are malformed. */
int ward_wire_batch_open(const uint8_t *p, size_t len, ward_batch *b, int *code, char *err,
                         size_t errlen);

/* Checks b's signature with the sender's public key. Returns 1 valid, 0 not (also when
 * agent_key is not the key b->agent names), -1 error. */
int ward_wire_batch_verify(const ward_batch *b, const ward_key *agent_key);

/* Inflates a verified batch into out (reset first) and fills recs (caller's array of
 * b->count entries, pointing into out->p). Refuses a raw_len over max_bytes
 * (_TOO_LARGE), more output than raw_len or a ratio raw/zlen over max_ratio (_BOMB)
 * before allocating it, and a payload whose records do not add up to count and raw_len
 * (_MALFORMED). Returns 0, or -1 with *code and err. b->count comes from the sender:
 * size recs from it only once it is known to be at most max_bytes / 4 (a larger count
 * cannot fit in max_bytes and is refused here as _TOO_LARGE anyway). */
int ward_wire_batch_inflate(const ward_batch *b, size_t max_bytes, unsigned max_ratio,
                            ward_buf *out, ward_wire_rec *recs, int *code, char *err,
                            size_t errlen);

#endif
