/* wire-client: a scripted agent for the collector's tests. It connects over TLS, runs
 * the steps given on the command line in order and prints every frame it gets back, one
 * line each, so that a test can send crafted sessions (tampered, replayed, oversized,
 * unknown keys, wrong versions, bombs, gaps) and check the answers.
 *
 * usage: wire-client --connect HOST:PORT --ca CA.pem --key AGENT.key [--epoch N]
 *                    [--feed-pub FEED.pub] [--timeout MS] STEP...
 *        wire-client --keygen PRIV PUB
 * steps: hello | hello-version V | batch SEQ FILE | tamper SEQ FILE | version SEQ FILE |
 *        bomb SEQ | frame TYPE HEX | bigframe LEN | feed-get V | wait-feed | sleep MS |
 *        expect-close | burst SEQ N FILE BAD (N batches of FILE's lines in one write, the
 *        BAD-th tampered, 0: none; then every reply until N or an ERROR) |
 *        flood SEQ NBATCHES FILE (NBATCHES batches of FILE's lines, eight
 *        in flight, then "FLOOD alerts=N ms=T rate=R/s acked=A")
 * FILE holds one alert's JSON a line; a batch of its lines has seq SEQ, SEQ+1, ...
 * Output: WELCOME epoch=E acked=A | ACK epoch=E acked=A | ERROR code=C name: MSG |
 *         FEED version=V n=N, then "ENTRY value field norgs rules regional_id" |
 *         CLOSED | TIMEOUT. Exit status 0, or 2 on a usage or connection failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ward/crypto.h"
#include "ward/feed.h"
#include "ward/json.h"
#include "ward/tls.h"
#include "ward/wire.h"

typedef struct client {
    int fd;
    ward_tls *t;
    ward_tls_ctx *ctx;
    ward_key *key, *feed_pub;
    uint64_t epoch;
    int timeout_ms;
    ward_buf in;
    int closed;
} client;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int wait_io(client *c, uint32_t want, uint64_t deadline) {
    struct pollfd p = {c->fd, (short)((want & EPOLLOUT ? POLLOUT : 0) | POLLIN), 0};
    uint64_t n = now_ms();
    if (n >= deadline)
        return -1;
    return poll(&p, 1, (int)(deadline - n)) > 0 ? 0 : -1;
}

static int send_all(client *c, const void *p, size_t len) {
    const uint8_t *b = p;
    uint64_t deadline = now_ms() + (uint64_t)c->timeout_ms;
    while (len) {
        ssize_t n = ward_tls_write(c->t, b, len);
        if (n > 0) {
            b += n;
            len -= (size_t)n;
        } else if (n == -2) {
            if (wait_io(c, ward_tls_want(c->t), deadline) < 0)
                return -1;
        } else {
            printf("WRITE-ERROR %s\n", ward_tls_error(c->t));
            return -1;
        }
    }
    return 0;
}

static int send_buf(client *c, ward_buf *b) {
    int rc = b->oom ? -1 : send_all(c, b->p, b->len);
    ward_buf_reset(b);
    return rc;
}

static void print_frame(client *c, uint8_t type, const uint8_t *body, size_t len) {
    ward_wire_ack a;
    uint16_t code;
    const uint8_t *msg;
    size_t ml;
    char err[512];
    switch (type) {
    case WARD_WIRE_WELCOME:
        if (ward_wire_welcome_parse(body, len, &a) == 0)
            printf("WELCOME epoch=%llu acked=%llu\n", (unsigned long long)a.epoch,
                   (unsigned long long)a.acked);
        else
            printf("BAD-WELCOME\n");
        break;
    case WARD_WIRE_ACK:
        if (ward_wire_ack_parse(body, len, &a) == 0)
            printf("ACK epoch=%llu acked=%llu\n", (unsigned long long)a.epoch,
                   (unsigned long long)a.acked);
        else
            printf("BAD-ACK\n");
        break;
    case WARD_WIRE_ERROR:
        if (ward_wire_error_parse(body, len, &code, &msg, &ml) == 0)
            printf("ERROR code=%u %s: %.*s\n", code, ward_wire_err_name(code), (int)ml,
                   (const char *)msg);
        else
            printf("BAD-ERROR\n");
        break;
    case WARD_WIRE_FEED: {
        ward_feed f;
        memset(&f, 0, sizeof(f));
        if (!c->feed_pub) {
            printf("FEED bytes=%zu (not verified: no --feed-pub)\n", len);
            break;
        }
        if (ward_feed_parse(body, len, c->feed_pub, &f, err, sizeof(err)) < 0) {
            printf("BAD-FEED %s\n", err);
            break;
        }
        printf("FEED version=%llu n=%zu\n", (unsigned long long)f.version, f.n);
        for (size_t i = 0; i < f.n; i++)
            printf("ENTRY %s %s %u %s %s\n", f.v[i].value, f.v[i].field, f.v[i].norgs, f.v[i].rules,
                   f.v[i].regional_id);
        ward_feed_fini(&f);
        break;
    }
    default:
        printf("FRAME type=%u len=%zu\n", type, len);
    }
    fflush(stdout);
}

/* Reads frames until one that is not a FEED (or a FEED, with want_feed), printing each.
 * Returns the type of the last one, 0 on close or timeout (printed). */
static int read_reply(client *c, int want_feed) {
    uint64_t deadline = now_ms() + (uint64_t)c->timeout_ms;
    for (;;) {
        uint8_t type;
        const uint8_t *body;
        size_t blen, used;
        char err[256];
        int r = ward_wire_frame_next((const uint8_t *)c->in.p, c->in.len, 1u << 30, &type, &body,
                                     &blen, &used, err, sizeof(err));
        if (r < 0) {
            printf("BAD-FRAME %s\n", err);
            return 0;
        }
        if (r == 1) {
            print_frame(c, type, body, blen);
            memmove(c->in.p, c->in.p + used, c->in.len - used);
            c->in.len -= used;
            if (type != WARD_WIRE_FEED || want_feed)
                return type;
            continue;
        }
        if (c->closed) {
            printf("CLOSED\n");
            return 0;
        }
        uint8_t buf[65536];
        ssize_t n = ward_tls_read(c->t, buf, sizeof(buf));
        if (n > 0) {
            ward_buf_put(&c->in, buf, (size_t)n);
        } else if (n == -2) {
            if (wait_io(c, ward_tls_want(c->t), deadline) < 0) {
                printf("TIMEOUT\n");
                fflush(stdout);
                return 0;
            }
        } else {
            c->closed = 1;
        }
    }
}

static int read_lines(const char *path, ward_buf *data, ward_wire_rec **recs, size_t *n) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "wire-client: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, nr = 0;
    ssize_t len;
    size_t *offs = NULL, *lens = NULL;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n')
            len--;
        if (len == 0)
            continue;
        offs = realloc(offs, (nr + 1) * sizeof(*offs));
        lens = realloc(lens, (nr + 1) * sizeof(*lens));
        if (!offs || !lens)
            abort();
        offs[nr] = data->len;
        lens[nr] = (size_t)len;
        ward_buf_put(data, line, (size_t)len);
        nr++;
    }
    free(line);
    fclose(f);
    *recs = calloc(nr ? nr : 1, sizeof(**recs));
    if (!*recs)
        abort();
    for (size_t i = 0; i < nr; i++) {
        (*recs)[i].p = (const uint8_t *)data->p + offs[i];
        (*recs)[i].len = lens[i];
    }
    free(offs);
    free(lens);
    *n = nr;
    return 0;
}

enum { B_VALID, B_TAMPER, B_VERSION };

static int step_batch(client *c, uint64_t seq, const char *file, int how) {
    ward_buf data, out;
    ward_buf_init(&data);
    ward_buf_init(&out);
    ward_wire_rec *recs = NULL;
    size_t n = 0;
    int rc = -1;
    if (read_lines(file, &data, &recs, &n) < 0)
        goto fail;
    if (ward_wire_batch_put(&out, c->key, c->epoch, seq, recs, n, 6) < 0) {
        fprintf(stderr, "wire-client: cannot build the batch\n");
        goto fail;
    }
    uint8_t *body = (uint8_t *)out.p + WARD_WIRE_HDR_LEN;
    size_t blen = out.len - WARD_WIRE_HDR_LEN;
    if (how == B_TAMPER)
        body[blen - WARD_SIG_LEN - 3] ^= 0x01; /* a byte of the payload */
    if (how == B_VERSION) {
        body[0] = 0;
        body[1] = WARD_WIRE_VERSION + 1;
    }
    rc = send_buf(c, &out);
    if (rc == 0)
        read_reply(c, 0);
fail:
    free(recs);
    ward_buf_fini(&data);
    ward_buf_fini(&out);
    return rc;
}

/* N batches in one write, so that the collector finds them together; the bad-th (from 1)
 * with a flipped payload byte. Prints each reply until n of them or an ERROR. */
static int step_burst(client *c, uint64_t seq, size_t n, const char *file, size_t bad) {
    ward_buf data, out;
    ward_buf_init(&data);
    ward_buf_init(&out);
    ward_wire_rec *recs = NULL;
    size_t nr = 0;
    int rc = -1;
    if (read_lines(file, &data, &recs, &nr) < 0 || nr == 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        size_t start = out.len;
        if (ward_wire_batch_put(&out, c->key, c->epoch, seq + i * nr, recs, nr, 6) < 0)
            goto fail;
        if (i + 1 == bad)
            out.p[out.len - WARD_SIG_LEN - 3] ^= 0x01;
        (void)start;
    }
    rc = send_buf(c, &out);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (read_reply(c, 0) != WARD_WIRE_ACK)
            break;
fail:
    free(recs);
    ward_buf_fini(&data);
    ward_buf_fini(&out);
    return rc;
}

/* A valid, signed batch of one record of 8 MiB of spaces around {}: zlib makes ~8 KiB of
 * it, a ratio near 1000. */
static int step_bomb(client *c, uint64_t seq) {
    size_t len = 8u << 20;
    char *p = malloc(len);
    if (!p)
        return -1;
    memset(p, ' ', len);
    p[0] = '{';
    p[len - 1] = '}';
    ward_wire_rec r = {(const uint8_t *)p, len};
    ward_buf out;
    ward_buf_init(&out);
    int rc = ward_wire_batch_put(&out, c->key, c->epoch, seq, &r, 1, 9);
    free(p);
    if (rc == 0)
        rc = send_buf(c, &out);
    if (rc == 0)
        read_reply(c, 0);
    ward_buf_fini(&out);
    return rc;
}

/* Sends n batches of FILE's records, seq first.., keeping eight in flight, and reports the
 * rate at which they were acknowledged. The batches are built (compressed, signed) before
 * the clock starts: what is measured is the collector. */
static int step_flood(client *c, uint64_t seq, size_t n, const char *file) {
    ward_buf data;
    ward_buf_init(&data);
    ward_wire_rec *recs = NULL;
    size_t nr = 0;
    if (read_lines(file, &data, &recs, &nr) < 0 || nr == 0) {
        ward_buf_fini(&data);
        free(recs);
        return -1;
    }
    ward_buf *frames = calloc(n, sizeof(*frames));
    if (!frames)
        abort();
    for (size_t i = 0; i < n; i++) {
        ward_buf_init(&frames[i]);
        if (ward_wire_batch_put(&frames[i], c->key, c->epoch, seq + i * nr, recs, nr, 1) < 0)
            abort();
    }
    uint64_t t0 = now_ms(), acked = 0;
    size_t sent = 0, acks = 0;
    int rc = 0;
    while (acks < n && rc == 0) {
        while (sent < n && sent - acks < 8)
            if (send_all(c, frames[sent].p, frames[sent].len) < 0) {
                rc = -1;
                break;
            } else
                sent++;
        if (rc)
            break;
        /* one reply */
        for (;;) {
            uint8_t type;
            const uint8_t *body;
            size_t blen, used;
            char err[256];
            int r = ward_wire_frame_next((const uint8_t *)c->in.p, c->in.len, 1u << 30, &type,
                                         &body, &blen, &used, err, sizeof(err));
            if (r == 1) {
                ward_wire_ack a;
                if (type == WARD_WIRE_ACK && ward_wire_ack_parse(body, blen, &a) == 0) {
                    acked = a.acked;
                    acks++;
                } else if (type != WARD_WIRE_FEED) {
                    print_frame(c, type, body, blen);
                    rc = -1;
                }
                memmove(c->in.p, c->in.p + used, c->in.len - used);
                c->in.len -= used;
                break;
            }
            if (r < 0 || c->closed) {
                printf("CLOSED\n");
                rc = -1;
                break;
            }
            uint8_t buf[65536];
            ssize_t m = ward_tls_read(c->t, buf, sizeof(buf));
            if (m > 0)
                ward_buf_put(&c->in, buf, (size_t)m);
            else if (m == -2) {
                if (wait_io(c, ward_tls_want(c->t), now_ms() + (uint64_t)c->timeout_ms) < 0) {
                    printf("TIMEOUT\n");
                    rc = -1;
                    break;
                }
            } else
                c->closed = 1;
        }
    }
    uint64_t ms = now_ms() - t0;
    printf("FLOOD alerts=%zu ms=%llu rate=%.0f/s acked=%llu\n", acks * nr, (unsigned long long)ms,
           ms ? (double)(acks * nr) * 1000.0 / (double)ms : 0.0, (unsigned long long)acked);
    for (size_t i = 0; i < n; i++)
        ward_buf_fini(&frames[i]);
    free(frames);
    free(recs);
    ward_buf_fini(&data);
    return 0;
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int step_frame(client *c, unsigned type, const char *hex) {
    size_t n = strlen(hex) / 2;
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int h = hexval(hex[2 * i]), l = hexval(hex[2 * i + 1]);
        if (h < 0 || l < 0) {
            free(b);
            fprintf(stderr, "wire-client: frame: bad hex\n");
            return -1;
        }
        b[i] = (uint8_t)(h << 4 | l);
    }
    ward_buf out;
    ward_buf_init(&out);
    int rc = ward_wire_frame_put(&out, (uint8_t)type, b, n);
    free(b);
    if (rc == 0)
        rc = send_buf(c, &out);
    if (rc == 0)
        read_reply(c, 0);
    ward_buf_fini(&out);
    return rc;
}

static int connect_to(client *c, const char *addr, const char *ca) {
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof(host)) {
        fprintf(stderr, "wire-client: --connect HOST:PORT\n");
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
        fprintf(stderr, "wire-client: %s: cannot resolve\n", addr);
        return -1;
    }
    c->fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, res->ai_addr, res->ai_addrlen) < 0) {
        fprintf(stderr, "wire-client: connect %s: %s\n", addr, strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    char err[512];
    ward_tls_ctx *ctx = ward_tls_client_new(ca, 0, err, sizeof(err));
    if (!ctx) {
        fprintf(stderr, "wire-client: %s\n", err);
        return -1;
    }
    c->ctx = ctx;
    c->t = ward_tls_new(ctx, c->fd, "localhost");
    if (!c->t)
        return -1;
    uint64_t deadline = now_ms() + (uint64_t)c->timeout_ms;
    int r;
    while ((r = ward_tls_handshake(c->t)) == 0)
        if (wait_io(c, ward_tls_want(c->t), deadline) < 0) {
            fprintf(stderr, "wire-client: handshake timed out\n");
            return -1;
        }
    if (r < 0) {
        fprintf(stderr, "wire-client: handshake: %s\n", ward_tls_error(c->t));
        return -1;
    }
    return 0;
}

static const char usage[] =
    "usage: wire-client --connect HOST:PORT --ca CA --key KEY [--epoch N] [--feed-pub PUB]\n"
    "                   [--timeout MS] STEP...\n"
    "       wire-client --keygen PRIV PUB\n";

int main(int argc, char **argv) {
    client c;
    memset(&c, 0, sizeof(c));
    c.fd = -1;
    c.epoch = 1;
    c.timeout_ms = 5000;
    ward_buf_init(&c.in);
    const char *addr = NULL, *ca = NULL, *keyf = NULL, *feedf = NULL;
    char err[512];
    int i = 1, rc = 2;
    if (argc == 4 && strcmp(argv[1], "--keygen") == 0) {
        if (ward_crypto_keygen(argv[2], argv[3], err, sizeof(err)) < 0) {
            fprintf(stderr, "wire-client: %s\n", err);
            return 2;
        }
        return 0;
    }
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--connect") == 0)
            addr = argv[i + 1];
        else if (strcmp(argv[i], "--ca") == 0)
            ca = argv[i + 1];
        else if (strcmp(argv[i], "--key") == 0)
            keyf = argv[i + 1];
        else if (strcmp(argv[i], "--feed-pub") == 0)
            feedf = argv[i + 1];
        else if (strcmp(argv[i], "--epoch") == 0)
            c.epoch = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--timeout") == 0)
            c.timeout_ms = atoi(argv[i + 1]);
        else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (!addr || !ca || !keyf) {
        fputs(usage, stderr);
        return 2;
    }
    if (!(c.key = ward_crypto_key_load_private(keyf, err, sizeof(err))) ||
        (feedf && !(c.feed_pub = ward_crypto_key_load_public(feedf, err, sizeof(err))))) {
        fprintf(stderr, "wire-client: %s\n", err);
        goto out;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (connect_to(&c, addr, ca) < 0)
        goto out;
    ward_buf out;
    ward_buf_init(&out);
    rc = 0;
    for (; i < argc && rc == 0; i++) {
        const char *s = argv[i];
        int more = argc - i - 1;
        if (strcmp(s, "hello") == 0 || (strcmp(s, "hello-version") == 0 && more >= 1)) {
            ward_wire_hello h;
            h.version = strcmp(s, "hello") == 0 ? WARD_WIRE_VERSION : (uint16_t)atoi(argv[++i]);
            ward_crypto_key_raw(c.key, h.agent);
            h.epoch = c.epoch;
            if (ward_wire_hello_put(&out, &h) < 0 || send_buf(&c, &out) < 0)
                rc = 2;
            else
                read_reply(&c, 0);
        } else if ((strcmp(s, "batch") == 0 || strcmp(s, "tamper") == 0 ||
                    strcmp(s, "version") == 0) &&
                   more >= 2) {
            int how = s[0] == 'b' ? B_VALID : s[0] == 't' ? B_TAMPER : B_VERSION;
            uint64_t seq = strtoull(argv[i + 1], NULL, 10);
            if (step_batch(&c, seq, argv[i + 2], how) < 0)
                rc = 2;
            i += 2;
        } else if (strcmp(s, "burst") == 0 && more >= 4) {
            if (step_burst(&c, strtoull(argv[i + 1], NULL, 10),
                           (size_t)strtoull(argv[i + 2], NULL, 10), argv[i + 3],
                           (size_t)strtoull(argv[i + 4], NULL, 10)) < 0)
                rc = 2;
            i += 4;
        } else if (strcmp(s, "flood") == 0 && more >= 3) {
            if (step_flood(&c, strtoull(argv[i + 1], NULL, 10),
                           (size_t)strtoull(argv[i + 2], NULL, 10), argv[i + 3]) < 0)
                rc = 2;
            i += 3;
        } else if (strcmp(s, "bomb") == 0 && more >= 1) {
            if (step_bomb(&c, strtoull(argv[++i], NULL, 10)) < 0)
                rc = 2;
        } else if (strcmp(s, "frame") == 0 && more >= 2) {
            if (step_frame(&c, (unsigned)atoi(argv[i + 1]), argv[i + 2]) < 0)
                rc = 2;
            i += 2;
        } else if (strcmp(s, "bigframe") == 0 && more >= 1) {
            uint32_t n = (uint32_t)strtoul(argv[++i], NULL, 10);
            uint8_t h[5] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n,
                            WARD_WIRE_BATCH};
            if (send_all(&c, h, sizeof(h)) < 0)
                rc = 2;
            else
                read_reply(&c, 0);
        } else if (strcmp(s, "feed-get") == 0 && more >= 1) {
            if (ward_wire_feed_get_put(&out, strtoull(argv[++i], NULL, 10)) < 0 ||
                send_buf(&c, &out) < 0)
                rc = 2;
        } else if (strcmp(s, "wait-feed") == 0) {
            read_reply(&c, 1);
        } else if (strcmp(s, "sleep") == 0 && more >= 1) {
            usleep((useconds_t)atoi(argv[++i]) * 1000u);
        } else if (strcmp(s, "expect-close") == 0) {
            read_reply(&c, 0);
        } else {
            fprintf(stderr, "wire-client: bad step '%s'\n%s", s, usage);
            rc = 2;
        }
    }
    ward_buf_fini(&out);
out:
    ward_tls_free(c.t);
    ward_tls_ctx_free(c.ctx);
    if (c.fd >= 0)
        close(c.fd);
    ward_crypto_key_free(c.key);
    ward_crypto_key_free(c.feed_pub);
    ward_buf_fini(&c.in);
    return rc;
}
