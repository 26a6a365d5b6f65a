/* The wire format: cursor, frames, small messages and signed zlib batches (see
 * include/ward/wire.h and docs/wire.md). */
#include "ward/wire.h"

#include "ward/diag.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#define BATCH_HDR_LEN (2 + WARD_PUBKEY_LEN + 8 + 8 + 4 + 4 + 4)
#define ERROR_MSG_MAX 1024

const char *ward_wire_err_name(int code) {
    switch (code) {
    case WARD_WIRE_E_MALFORMED:
        return "malformed";
    case WARD_WIRE_E_VERSION:
        return "unsupported version";
    case WARD_WIRE_E_UNKNOWN:
        return "unknown agent key";
    case WARD_WIRE_E_REVOKED:
        return "revoked agent key";
    case WARD_WIRE_E_SIGNATURE:
        return "bad signature";
    case WARD_WIRE_E_TOO_LARGE:
        return "too large";
    case WARD_WIRE_E_BOMB:
        return "compression ratio over the limit";
    case WARD_WIRE_E_GAP:
        return "sequence gap";
    case WARD_WIRE_E_STORE:
        return "not stored: retry later";
    default:
        return "unknown error";
    }
}

/* ---- cursor ---- */

void ward_wire_cur_init(ward_wire_cur *c, const uint8_t *p, size_t len) {
    c->p = p;
    c->len = len;
    c->at = 0;
    c->bad = 0;
}

/* The next n bytes, or NULL (and bad set) when fewer are left. */
static const uint8_t *take(ward_wire_cur *c, size_t n) {
    if (c->bad || c->len - c->at < n) {
        c->bad = 1;
        return NULL;
    }
    const uint8_t *q = c->p + c->at;
    c->at += n;
    return q;
}

static uint64_t be(const uint8_t *q, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | q[i];
    return v;
}

int ward_wire_get_u8(ward_wire_cur *c, uint8_t *v) {
    const uint8_t *q = take(c, 1);
    if (!q)
        return -1;
    *v = q[0];
    return 0;
}

int ward_wire_get_u16(ward_wire_cur *c, uint16_t *v) {
    const uint8_t *q = take(c, 2);
    if (!q)
        return -1;
    *v = (uint16_t)be(q, 2);
    return 0;
}

int ward_wire_get_u32(ward_wire_cur *c, uint32_t *v) {
    const uint8_t *q = take(c, 4);
    if (!q)
        return -1;
    *v = (uint32_t)be(q, 4);
    return 0;
}

int ward_wire_get_u64(ward_wire_cur *c, uint64_t *v) {
    const uint8_t *q = take(c, 8);
    if (!q)
        return -1;
    *v = be(q, 8);
    return 0;
}

int ward_wire_get_bytes(ward_wire_cur *c, size_t n, const uint8_t **v) {
    const uint8_t *q = take(c, n);
    if (!q)
        return -1;
    *v = q;
    return 0;
}

int ward_wire_cur_end(const ward_wire_cur *c) {
    return !c->bad && c->at == c->len ? 0 : -1;
}

/* ---- writers ---- */

static void put_be(ward_buf *b, uint64_t v, int n) {
    uint8_t q[8];
    for (int i = n - 1; i >= 0; i--) {
        q[i] = (uint8_t)v;
        v >>= 8;
    }
    ward_buf_put(b, q, (size_t)n);
}

void ward_wire_put_u8(ward_buf *b, uint8_t v) {
    put_be(b, v, 1);
}

void ward_wire_put_u16(ward_buf *b, uint16_t v) {
    put_be(b, v, 2);
}

void ward_wire_put_u32(ward_buf *b, uint32_t v) {
    put_be(b, v, 4);
}

void ward_wire_put_u64(ward_buf *b, uint64_t v) {
    put_be(b, v, 8);
}

/* ---- frames ---- */

int ward_wire_frame_next(const uint8_t *p, size_t len, uint32_t max, uint8_t *type,
                         const uint8_t **body, size_t *body_len, size_t *used, char *err,
                         size_t errlen) {
    if (len < 4)
        return 0;
    uint32_t n = (uint32_t)be(p, 4);
    /* the length counts the type byte: 0 cannot be a frame */
    if (n == 0) {
        ward_errf(err, errlen, "frame of length 0");
        return -1;
    }
    if (n > max) {
        ward_errf(err, errlen, "frame of %" PRIu32 " bytes over the limit of %" PRIu32, n, max);
        return -1;
    }
    if (len - 4 < n)
        return 0;
    *type = p[4];
    *body = p + WARD_WIRE_HDR_LEN;
    *body_len = (size_t)n - 1;
    *used = 4 + (size_t)n;
    return 1;
}

/* Appends a frame header for a body of len bytes. Returns 0 or -1. */
static int frame_begin(ward_buf *out, uint8_t type, size_t len) {
    if (len > UINT32_MAX - 1u)
        return -1;
    ward_wire_put_u32(out, (uint32_t)(len + 1));
    ward_wire_put_u8(out, type);
    return out->oom ? -1 : 0;
}

/* Ends a frame begun at start: -1, and out back at start, when anything failed. */
static int frame_end(ward_buf *out, size_t start, int rc) {
    if (rc != 0 || out->oom) {
        if (out->len > start)
            out->len = start;
        return -1;
    }
    return 0;
}

int ward_wire_frame_put(ward_buf *out, uint8_t type, const uint8_t *body, size_t len) {
    size_t start = out->len;
    int rc = frame_begin(out, type, len);
    if (rc == 0)
        ward_buf_put(out, body, len);
    return frame_end(out, start, rc);
}

/* ---- small messages ---- */

int ward_wire_hello_put(ward_buf *out, const ward_wire_hello *m) {
    size_t start = out->len;
    int rc = frame_begin(out, WARD_WIRE_HELLO, 2 + WARD_PUBKEY_LEN + 8);
    ward_wire_put_u16(out, m->version);
    ward_buf_put(out, m->agent, WARD_PUBKEY_LEN);
    ward_wire_put_u64(out, m->epoch);
    return frame_end(out, start, rc);
}

int ward_wire_hello_parse(const uint8_t *p, size_t len, ward_wire_hello *m) {
    ward_wire_cur c;
    const uint8_t *agent = NULL;
    memset(m, 0, sizeof(*m));
    ward_wire_cur_init(&c, p, len);
    if (ward_wire_get_u16(&c, &m->version) != 0)
        return -1;
    if (m->version != WARD_WIRE_VERSION)
        return 0; /* another version's layout: the caller refuses the version */
    ward_wire_get_bytes(&c, WARD_PUBKEY_LEN, &agent);
    ward_wire_get_u64(&c, &m->epoch);
    if (ward_wire_cur_end(&c) != 0)
        return -1;
    memcpy(m->agent, agent, WARD_PUBKEY_LEN);
    return 0;
}

int ward_wire_welcome_put(ward_buf *out, const ward_wire_ack *m) {
    size_t start = out->len;
    int rc = frame_begin(out, WARD_WIRE_WELCOME, 2 + 8 + 8);
    ward_wire_put_u16(out, m->version);
    ward_wire_put_u64(out, m->epoch);
    ward_wire_put_u64(out, m->acked);
    return frame_end(out, start, rc);
}

int ward_wire_welcome_parse(const uint8_t *p, size_t len, ward_wire_ack *m) {
    ward_wire_cur c;
    memset(m, 0, sizeof(*m));
    ward_wire_cur_init(&c, p, len);
    if (ward_wire_get_u16(&c, &m->version) != 0)
        return -1;
    if (m->version != WARD_WIRE_VERSION)
        return 0;
    ward_wire_get_u64(&c, &m->epoch);
    ward_wire_get_u64(&c, &m->acked);
    return ward_wire_cur_end(&c);
}

int ward_wire_ack_put(ward_buf *out, const ward_wire_ack *m) {
    size_t start = out->len;
    int rc = frame_begin(out, WARD_WIRE_ACK, 8 + 8);
    ward_wire_put_u64(out, m->epoch);
    ward_wire_put_u64(out, m->acked);
    return frame_end(out, start, rc);
}

int ward_wire_ack_parse(const uint8_t *p, size_t len, ward_wire_ack *m) {
    ward_wire_cur c;
    memset(m, 0, sizeof(*m));
    ward_wire_cur_init(&c, p, len);
    ward_wire_get_u64(&c, &m->epoch);
    ward_wire_get_u64(&c, &m->acked);
    return ward_wire_cur_end(&c);
}

int ward_wire_feed_get_put(ward_buf *out, uint64_t have_version) {
    size_t start = out->len;
    int rc = frame_begin(out, WARD_WIRE_FEED_GET, 8);
    ward_wire_put_u64(out, have_version);
    return frame_end(out, start, rc);
}

int ward_wire_feed_get_parse(const uint8_t *p, size_t len, uint64_t *have_version) {
    ward_wire_cur c;
    ward_wire_cur_init(&c, p, len);
    *have_version = 0;
    ward_wire_get_u64(&c, have_version);
    return ward_wire_cur_end(&c);
}

int ward_wire_error_put(ward_buf *out, uint16_t code, const char *msg) {
    size_t n = msg ? strnlen(msg, ERROR_MSG_MAX) : 0;
    size_t start = out->len;
    int rc = frame_begin(out, WARD_WIRE_ERROR, 2 + 2 + n);
    ward_wire_put_u16(out, code);
    ward_wire_put_u16(out, (uint16_t)n);
    ward_buf_put(out, msg, n);
    return frame_end(out, start, rc);
}

int ward_wire_error_parse(const uint8_t *p, size_t len, uint16_t *code, const uint8_t **msg,
                          size_t *msg_len) {
    ward_wire_cur c;
    uint16_t n = 0;
    ward_wire_cur_init(&c, p, len);
    *code = 0;
    *msg = NULL;
    *msg_len = 0;
    ward_wire_get_u16(&c, code);
    ward_wire_get_u16(&c, &n);
    ward_wire_get_bytes(&c, n, msg);
    if (ward_wire_cur_end(&c) != 0) {
        *msg = NULL;
        return -1;
    }
    *msg_len = n;
    return 0;
}

/* ---- batches ---- */

int ward_wire_batch_put(ward_buf *out, const ward_key *k, uint64_t epoch, uint64_t first_seq,
                        const ward_wire_rec *recs, size_t n, int level) {
    uint8_t agent[WARD_PUBKEY_LEN], sig[WARD_SIG_LEN];
    ward_buf raw;
    size_t start = out->len;
    int rc = -1;

    ward_buf_init(&raw);
    if (n == 0 || n > UINT32_MAX || first_seq == 0 || first_seq - 1 > UINT64_MAX - n ||
        ward_crypto_key_raw(k, agent) != 0)
        goto fail;
    uint64_t raw_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].len > UINT32_MAX)
            goto fail;
        raw_len += 4 + (uint64_t)recs[i].len;
        if (raw_len > UINT32_MAX)
            goto fail;
    }
    if (ward_buf_reserve(&raw, (size_t)raw_len) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        ward_wire_put_u32(&raw, (uint32_t)recs[i].len);
        ward_buf_put(&raw, recs[i].p, recs[i].len);
    }
    if (raw.oom)
        goto fail;

    /* compress straight into out, after room for the frame and batch headers */
    uLong bound = compressBound((uLong)raw_len);
    size_t zat = start + WARD_WIRE_HDR_LEN + BATCH_HDR_LEN;
    if (ward_buf_reserve(out, WARD_WIRE_HDR_LEN + BATCH_HDR_LEN + bound + WARD_SIG_LEN) != 0)
        goto fail;
    uLongf zlen = bound;
    if (compress2((Bytef *)out->p + zat, &zlen, (const Bytef *)raw.p, (uLong)raw_len, level) !=
            Z_OK ||
        zlen > UINT32_MAX)
        goto fail;
    size_t body = BATCH_HDR_LEN + zlen + WARD_SIG_LEN;
    if (frame_begin(out, WARD_WIRE_BATCH, body) != 0)
        goto fail;
    ward_wire_put_u16(out, WARD_WIRE_VERSION);
    ward_buf_put(out, agent, sizeof(agent));
    ward_wire_put_u64(out, epoch);
    ward_wire_put_u64(out, first_seq);
    ward_wire_put_u32(out, (uint32_t)n);
    ward_wire_put_u32(out, (uint32_t)raw_len);
    ward_wire_put_u32(out, (uint32_t)zlen);
    if (out->oom || out->len != zat)
        goto fail;
    out->len += zlen; /* reserved above: the headers did not move it */
    const uint8_t *signed_part = (const uint8_t *)out->p + start + WARD_WIRE_HDR_LEN;
    if (ward_crypto_sign(k, signed_part, BATCH_HDR_LEN + zlen, sig) != 0)
        goto fail;
    ward_buf_put(out, sig, sizeof(sig));
    rc = 0;
fail:
    ward_buf_fini(&raw);
    return frame_end(out, start, rc);
}

int ward_wire_batch_open(const uint8_t *p, size_t len, ward_batch *b, int *code, char *err,
                         size_t errlen) {
    ward_wire_cur c;
    const uint8_t *agent = NULL;
    uint32_t zlen = 0;
    memset(b, 0, sizeof(*b));
    *code = WARD_WIRE_E_MALFORMED;
    ward_wire_cur_init(&c, p, len);
    if (ward_wire_get_u16(&c, &b->version) != 0) {
        ward_errf(err, errlen, "batch of %zu bytes: no version", len);
        return -1;
    }
    if (b->version != WARD_WIRE_VERSION) {
        *code = WARD_WIRE_E_VERSION;
        ward_errf(err, errlen, "batch version %u unsupported (this end speaks %d)", b->version,
                  WARD_WIRE_VERSION);
        return -1;
    }
    ward_wire_get_bytes(&c, WARD_PUBKEY_LEN, &agent);
    ward_wire_get_u64(&c, &b->epoch);
    ward_wire_get_u64(&c, &b->first_seq);
    ward_wire_get_u32(&c, &b->count);
    ward_wire_get_u32(&c, &b->raw_len);
    if (ward_wire_get_u32(&c, &zlen) != 0) {
        ward_errf(err, errlen, "batch of %zu bytes ends inside its %d-byte header", len,
                  BATCH_HDR_LEN);
        return -1;
    }
    memcpy(b->agent, agent, WARD_PUBKEY_LEN);
    b->zlen = zlen;
    if (ward_wire_get_bytes(&c, zlen, &b->z) != 0 ||
        ward_wire_get_bytes(&c, WARD_SIG_LEN, &b->sig) != 0) {
        ward_errf(err, errlen,
                  "batch of %zu bytes too short for its %" PRIu32
                  "-byte payload and %d-byte signature",
                  len, zlen, WARD_SIG_LEN);
        return -1;
    }
    if (ward_wire_cur_end(&c) != 0) {
        ward_errf(err, errlen, "batch has %zu bytes after its signature", len - c.at);
        return -1;
    }
    if (b->count == 0 || b->first_seq == 0 || b->first_seq - 1 > UINT64_MAX - b->count) {
        ward_errf(err, errlen,
                  "batch of %" PRIu32 " records from seq %" PRIu64
                  ": sequence numbers start at 1 and a batch holds at least one record",
                  b->count, b->first_seq);
        return -1;
    }
    if ((uint64_t)b->count * 4 > b->raw_len || zlen == 0) {
        ward_errf(err, errlen,
                  "batch of %" PRIu32 " records cannot fit %" PRIu32 " bytes in %" PRIu32
                  " compressed",
                  b->count, b->raw_len, zlen);
        return -1;
    }
    b->signed_part = p;
    b->signed_len = len - WARD_SIG_LEN;
    *code = 0;
    return 0;
}

int ward_wire_batch_verify(const ward_batch *b, const ward_key *agent_key) {
    uint8_t raw[WARD_PUBKEY_LEN];
    if (!b->signed_part || ward_crypto_key_raw(agent_key, raw) != 0)
        return -1;
    /* the key that signs must be the one the header names */
    if (memcmp(raw, b->agent, WARD_PUBKEY_LEN) != 0)
        return 0;
    return ward_crypto_verify(agent_key, b->signed_part, b->signed_len, b->sig);
}

int ward_wire_batch_inflate(const ward_batch *b, size_t max_bytes, unsigned max_ratio,
                            ward_buf *out, ward_wire_rec *recs, int *code, char *err,
                            size_t errlen) {
    z_stream zs;
    int zinit = 0, rc = -1;
    ward_buf_reset(out);
    *code = WARD_WIRE_E_MALFORMED;
    if (!b->z || b->zlen == 0 || b->count == 0 || (uint64_t)b->count * 4 > b->raw_len) {
        ward_errf(err, errlen,
                  "batch header inconsistent: %" PRIu32 " records in %" PRIu32 " bytes", b->count,
                  b->raw_len);
        return -1;
    }
    /* the limits, before a byte is allocated */
    if (b->raw_len > max_bytes) {
        *code = WARD_WIRE_E_TOO_LARGE;
        ward_errf(err, errlen, "batch inflates to %" PRIu32 " bytes, over the limit of %zu",
                  b->raw_len, max_bytes);
        return -1;
    }
    if ((uint64_t)b->raw_len > (uint64_t)max_ratio * b->zlen) {
        *code = WARD_WIRE_E_BOMB;
        ward_errf(err, errlen,
                  "batch of %zu compressed bytes claims %" PRIu32 ": ratio over the limit of %u",
                  b->zlen, b->raw_len, max_ratio);
        return -1;
    }
    if (ward_buf_reserve(out, b->raw_len) != 0) {
        *code = WARD_WIRE_E_STORE;
        ward_errf(err, errlen, "out of memory for a batch of %" PRIu32 " bytes", b->raw_len);
        return -1;
    }
    memset(&zs, 0, sizeof(zs));
    if (inflateInit(&zs) != Z_OK) {
        *code = WARD_WIRE_E_STORE;
        ward_errf(err, errlen, "zlib: cannot start inflating");
        return -1;
    }
    zinit = 1;
    zs.next_in = (Bytef *)b->z;
    zs.avail_in = (uInt)b->zlen;
    zs.next_out = (Bytef *)out->p;
    zs.avail_out = b->raw_len;
    int z = inflate(&zs, Z_FINISH);
    if (z == Z_STREAM_END) {
        if (zs.avail_out != 0) {
            ward_errf(err, errlen, "batch payload inflates to %lu bytes, its header says %" PRIu32,
                      zs.total_out, b->raw_len);
            goto fail;
        }
        if (zs.avail_in != 0) {
            ward_errf(err, errlen, "batch has %u bytes after the end of its zlib stream",
                      zs.avail_in);
            goto fail;
        }
    } else if (z == Z_BUF_ERROR && zs.avail_out == 0) {
        /* the output is full and the stream goes on: is there more output? */
        uint8_t extra;
        zs.next_out = &extra;
        zs.avail_out = 1;
        z = inflate(&zs, Z_FINISH);
        if (zs.avail_out == 0) {
            *code = WARD_WIRE_E_BOMB;
            ward_errf(err, errlen, "batch payload inflates to more than its %" PRIu32 " bytes",
                      b->raw_len);
        } else {
            ward_errf(err, errlen, "batch payload: zlib stream %s after %" PRIu32 " bytes",
                      z == Z_BUF_ERROR ? "cut short"
                      : zs.msg         ? zs.msg
                                       : "corrupt",
                      b->raw_len);
        }
        goto fail;
    } else if (z == Z_BUF_ERROR) {
        ward_errf(err, errlen,
                  "batch payload: zlib stream cut short after %lu of %" PRIu32 " bytes",
                  zs.total_out, b->raw_len);
        goto fail;
    } else if (z == Z_MEM_ERROR) {
        *code = WARD_WIRE_E_STORE;
        ward_errf(err, errlen, "zlib: out of memory");
        goto fail;
    } else {
        ward_errf(err, errlen, "batch payload: corrupt zlib stream (%s)",
                  zs.msg ? zs.msg : "unknown error");
        goto fail;
    }
    out->len = b->raw_len;

    ward_wire_cur c;
    ward_wire_cur_init(&c, (const uint8_t *)out->p, out->len);
    for (uint32_t i = 0; i < b->count; i++) {
        uint32_t n;
        if (ward_wire_get_u32(&c, &n) != 0 || ward_wire_get_bytes(&c, n, &recs[i].p) != 0) {
            ward_errf(err, errlen,
                      "batch payload: record %" PRIu32 " of %" PRIu32 " ends beyond its %" PRIu32
                      " bytes",
                      i + 1, b->count, b->raw_len);
            goto fail;
        }
        recs[i].len = n;
    }
    if (ward_wire_cur_end(&c) != 0) {
        ward_errf(err, errlen, "batch payload: %zu bytes after its %" PRIu32 " records",
                  out->len - c.at, b->count);
        goto fail;
    }
    *code = 0;
    rc = 0;
fail:
    if (zinit)
        inflateEnd(&zs);
    if (rc != 0)
        out->len = 0;
    return rc;
}
