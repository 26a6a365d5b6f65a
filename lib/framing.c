/* Framing of syslog over TCP (RFC 6587): LF lines, octet counting, or either, decided per
 * connection. A pure byte-in, message-out state machine with no I/O, so that it can be
 * unit-tested and fuzzed; the syslog source feeds it what each connection reads. */
#include "ward/framing.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OC_LEN = 0, OC_BODY, OC_SKIP };

struct ward_framing {
    ward_framing_mode mode; /* LF or OCTET once decided; AUTO before the first byte */
    size_t max;
    uint8_t *buf; /* a partial message: LF up to max + 1 bytes, OCTET up to max */
    size_t len, cap;
    int failed; /* a framing error happened: the stream is over */
    /* LF */
    int skipping; /* inside the rest of an overlong line */
    /* OCTET */
    int oc_state;
    size_t digits;    /* of the octet count read so far */
    uint64_t count;   /* its value so far */
    size_t want;      /* OC_BODY: bytes of the message (at most max) */
    uint64_t skip;    /* OC_SKIP: bytes of the frame still to skip */
    int oc_truncated; /* the frame being read is longer than max */
    ward_framing_stats st;
};

ward_framing *ward_framing_new(ward_framing_mode mode, size_t max) {
    if ((mode != WARD_FRAMING_AUTO && mode != WARD_FRAMING_LF && mode != WARD_FRAMING_OCTET) ||
        max == 0 || max > SIZE_MAX / 2)
        return NULL;
    ward_framing *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->mode = mode;
    f->max = max;
    return f;
}

void ward_framing_free(ward_framing *f) {
    if (!f)
        return;
    free(f->buf);
    free(f);
}

ward_framing_mode ward_framing_mode_of(const ward_framing *f) {
    return f->mode;
}

size_t ward_framing_held(const ward_framing *f) {
    return f->len;
}

void ward_framing_get_stats(const ward_framing *f, ward_framing_stats *out) {
    *out = f->st;
}

/* Makes room for need bytes in the buffer (need <= max + 1). Returns 0 or -1. */
static int reserve(ward_framing *f, size_t need) {
    if (need <= f->cap)
        return 0;
    size_t cap = f->cap ? f->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > f->max + 1)
        cap = f->max + 1;
    uint8_t *b = realloc(f->buf, cap);
    if (!b)
        return -1;
    f->buf = b;
    f->cap = cap;
    return 0;
}

static void consume(ward_framing *f, const uint8_t **p, size_t *n, size_t k) {
    *p += k;
    *n -= k;
    f->st.consumed += k;
}

static int give(ward_framing *f, ward_frame *out, const uint8_t *p, size_t len, int truncated) {
    out->p = p;
    out->len = len;
    out->truncated = truncated;
    f->st.messages++;
    f->st.msg_bytes += len;
    if (truncated)
        f->st.truncated++;
    return 1;
}

static int fail(ward_framing *f, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Ends the stream with a framing error: err gets "octet counting: WHAT at byte N". */
static int fail(ward_framing *f, char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        char what[96];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        snprintf(err, errlen, "octet counting: %s at byte %llu of the stream", what,
                 (unsigned long long)f->st.consumed);
    }
    f->failed = 1;
    f->st.errors++;
    return -1;
}

/* Index of the first LF or NUL in p[0..n), or n. */
static size_t find_end(const uint8_t *p, size_t n) {
    const uint8_t *lf = memchr(p, '\n', n);
    size_t k = lf ? (size_t)(lf - p) : n;
    const uint8_t *nul = memchr(p, '\0', k);
    return nul ? (size_t)(nul - p) : k;
}

/* ---- LF ---- */

static int lf_next(ward_framing *f, const uint8_t **p, size_t *n, ward_frame *out) {
    while (*n) {
        if (f->skipping) {
            size_t i = find_end(*p, *n);
            if (i == *n) {
                f->st.cut_bytes += *n;
                consume(f, p, n, *n);
                return 0;
            }
            f->st.cut_bytes += i;
            f->st.framing_bytes++;
            consume(f, p, n, i + 1);
            f->skipping = 0;
            continue;
        }
        /* a line may have max + 1 bytes before its end when the last is the CR of CRLF:
         * look that far for the end, and no further */
        size_t room = f->max + 1 - f->len;
        size_t lim = *n < room + 1 ? *n : room + 1;
        size_t i = find_end(*p, lim);
        if (i < lim) {
            const uint8_t *m = *p;
            size_t len = f->len + i;
            if (f->len) {
                if (reserve(f, len) < 0) /* len <= max + 1 */
                    return -2;
                memcpy(f->buf + f->len, *p, i);
                m = f->buf;
            }
            consume(f, p, n, i + 1);
            f->len = 0;
            f->st.framing_bytes++;
            if (len && m[len - 1] == '\r') {
                len--;
                f->st.framing_bytes++;
            }
            if (len == 0) {
                f->st.empty++;
                continue;
            }
            if (len > f->max) {
                f->st.cut_bytes += len - f->max;
                return give(f, out, m, f->max, 1);
            }
            return give(f, out, m, len, 0);
        }
        /* no end within lim (so lim == *n, or the line is too long) */
        size_t total = f->len + lim;
        int fits = total <= f->max || (total == f->max + 1 && (*p)[lim - 1] == '\r');
        if (fits) {
            if (reserve(f, total) < 0)
                return -2;
            memcpy(f->buf + f->len, *p, lim);
            f->len = total;
            consume(f, p, n, lim);
            return 0;
        }
        /* overlong: the first max bytes go now, the rest of the line is skipped */
        f->skipping = 1;
        if (f->len >= f->max) {
            f->st.cut_bytes += f->len - f->max;
            f->len = 0;
            return give(f, out, f->buf, f->max, 1);
        }
        size_t need = f->max - f->len;
        const uint8_t *m = *p;
        if (f->len) {
            if (reserve(f, f->max) < 0)
                return -2;
            memcpy(f->buf + f->len, *p, need);
            m = f->buf;
        }
        consume(f, p, n, need);
        f->len = 0;
        return give(f, out, m, f->max, 1);
    }
    return 0;
}

/* ---- octet counting ---- */

static int oc_next(ward_framing *f, const uint8_t **p, size_t *n, ward_frame *out, char *err,
                   size_t errlen) {
    while (*n) {
        switch (f->oc_state) {
        case OC_LEN: {
            uint8_t c = **p;
            if (f->digits == 0 && (c == '\n' || c == '\r' || c == '\0')) {
                f->st.framing_bytes++;
                consume(f, p, n, 1);
                continue;
            }
            if (c >= '0' && c <= '9') {
                if (f->digits == 0 && c == '0')
                    return fail(f, err, errlen, "a count of 0 or with a leading zero");
                if (f->digits == WARD_FRAMING_MAX_DIGITS)
                    return fail(f, err, errlen, "a count of more than %d digits",
                                WARD_FRAMING_MAX_DIGITS);
                f->count = f->count * 10 + (uint64_t)(c - '0');
                f->digits++;
                f->st.framing_bytes++;
                consume(f, p, n, 1);
                continue;
            }
            if (c == ' ' && f->digits) {
                f->st.framing_bytes++;
                consume(f, p, n, 1);
                f->oc_truncated = f->count > f->max;
                f->want = f->oc_truncated ? f->max : (size_t)f->count;
                f->skip = f->count - f->want;
                f->digits = 0;
                f->count = 0;
                f->oc_state = OC_BODY;
                continue;
            }
            if (f->digits)
                return fail(f, err, errlen, "a space expected after the count, not 0x%02x", c);
            return fail(f, err, errlen, "a count (a digit) expected, not 0x%02x", c);
        }
        case OC_BODY: {
            const uint8_t *m;
            if (f->len == 0 && *n >= f->want) {
                m = *p;
                consume(f, p, n, f->want);
            } else {
                size_t k = f->want - f->len;
                if (k > *n)
                    k = *n;
                if (reserve(f, f->want) < 0)
                    return -2;
                memcpy(f->buf + f->len, *p, k);
                f->len += k;
                consume(f, p, n, k);
                if (f->len < f->want)
                    return 0;
                m = f->buf;
                f->len = 0;
            }
            f->oc_state = f->skip ? OC_SKIP : OC_LEN;
            return give(f, out, m, f->want, f->oc_truncated);
        }
        case OC_SKIP: {
            size_t k = *n < f->skip ? *n : (size_t)f->skip;
            f->st.cut_bytes += k;
            f->skip -= k;
            consume(f, p, n, k);
            if (f->skip == 0)
                f->oc_state = OC_LEN;
            continue;
        }
        }
    }
    return 0;
}

int ward_framing_next(ward_framing *f, const uint8_t **p, size_t *n, ward_frame *out, char *err,
                      size_t errlen) {
    if (f->failed) {
        if (err && errlen)
            snprintf(err, errlen, "the stream has had a framing error");
        return -1;
    }
    if (f->mode == WARD_FRAMING_AUTO) {
        /* the first byte that is not LF, CR or NUL decides; those before it are blank
         * lines to one mode and filler between frames to the other: skipped */
        size_t i = 0;
        while (i < *n && ((*p)[i] == '\n' || (*p)[i] == '\r' || (*p)[i] == '\0'))
            i++;
        f->st.framing_bytes += i;
        consume(f, p, n, i);
        if (*n == 0)
            return 0;
        f->mode = **p >= '0' && **p <= '9' ? WARD_FRAMING_OCTET : WARD_FRAMING_LF;
    }
    int r = f->mode == WARD_FRAMING_LF ? lf_next(f, p, n, out) : oc_next(f, p, n, out, err, errlen);
    if (r == -2) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory for a partial message");
        f->failed = 1;
        f->st.errors++;
        return -1;
    }
    return r;
}

int ward_framing_end(ward_framing *f, ward_frame *out) {
    int r = 0;
    if (f->failed) {
        /* a partial message held when memory ran out goes, counted */
        f->st.cut_bytes += f->len;
        f->len = 0;
        return 0;
    }
    if (f->mode == WARD_FRAMING_LF) {
        size_t len = f->len;
        if (len && f->buf[len - 1] == '\r') {
            len--;
            f->st.framing_bytes++;
        }
        if (len > f->max) { /* not reached: max + 1 bytes are held only when the last is CR */
            f->st.cut_bytes += len - f->max;
            len = f->max;
        }
        if (len)
            r = give(f, out, f->buf, len, 0);
        f->skipping = 0;
    } else if (f->mode == WARD_FRAMING_OCTET) {
        if (f->oc_state == OC_BODY && f->len)
            r = give(f, out, f->buf, f->len, 1);
        f->oc_state = OC_LEN;
        f->digits = 0;
        f->count = 0;
        f->skip = 0;
    }
    f->len = 0;
    return r;
}
