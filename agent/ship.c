/* The shipper: sends what is durable in the spool to the regional collector, in the
 * agent's event loop (docs/wire.md).
 *
 * One TLS connection at a time, opened without blocking the loop: connect, handshake
 * (the collector's certificate verified), HELLO with the spool's epoch; WELCOME says
 * what the collector has stored, which is acknowledged in the spool and sent from.
 * Batches are read from the spool from the next unsent sequence number, up to in_flight
 * unacknowledged; each ACK acknowledges the spool up to it. Nothing polls: batches are
 * made when an ACK opens the window and when the agent's group commit makes records
 * durable (agent_ship_kick). After any failure the connection is dropped and made again
 * after a random wait (full jitter, the cap doubling from backoff_min to backoff_max);
 * everything not acknowledged is sent again from the collector's WELCOME, and the
 * collector stores each (agent, epoch, seq) once. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ward/feed.h"
#include "ward/spool.h"
#include "ward/tls.h"
#include "ward/wire.h"

#define CONNECT_TIMEOUT_MS 10000 /* connect, handshake and WELCOME */
#define ACK_TIMEOUT_MS 60000     /* a batch in flight without any ACK for this long */
#define FEED_FILE_MAX (64u << 20)
#define ZLIB_LEVEL 6

enum { SH_IDLE, SH_CONNECTING, SH_HANDSHAKE, SH_HELLO, SH_READY };

typedef struct flight {
    uint64_t last; /* the batch's last seq */
    uint32_t n;
} flight;

struct agent_ship {
    agent *a;
    char *host, *port;
    ward_tls_ctx *ctx;
    ward_key *key, *feed_key;
    uint8_t pub[WARD_PUBKEY_LEN];
    char fingerprint[65];
    int fd;
    ward_tls *tls;
    int state;
    uint32_t events; /* watched on fd */
    ward_buf in, out;
    size_t out_done;
    uint64_t epoch;
    uint64_t base;     /* spool seq = the epoch's seq on the wire + base (ward_spool_base) */
    uint64_t next_seq; /* the next seq to send (the spool's, like acked) */
    uint64_t acked;    /* what the collector has stored */
    flight *fl;        /* ring of in_flight batches */
    size_t fl_head, nfl, fl_cap;
    ward_loop_timer retry, deadline;
    unsigned failures; /* since the last WELCOME */
    int refused;       /* the collector refused the key: wait backoff_max */
    uint64_t rng;      /* xorshift state for the jitter */
    ward_buf batch;    /* the payloads of the batch being made */
    size_t *offs;      /* their offsets in batch */
    ward_wire_rec *recs;
    size_t nrecs_cap;
    char *feed_path;
    agent_ship_stats st;
};

/* ---- small helpers ---- */

static uint64_t rnd(agent_ship *s) {
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void set_error(agent_ship *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(agent_ship *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->st.last_error, sizeof(s->st.last_error), fmt, ap);
    va_end(ap);
    s->st.last_error_ms = agent_now_ms();
}

static void watch(agent_ship *s, uint32_t ev) {
    if (ev == s->events || s->fd < 0)
        return;
    if (ward_loop_mod(s->a->loop, s->fd, ev) == 0)
        s->events = ev;
}

static void teardown(agent_ship *s) {
    if (s->fd >= 0) {
        ward_loop_del(s->a->loop, s->fd);
        ward_tls_free(s->tls);
        close(s->fd);
    }
    s->tls = NULL;
    s->fd = -1;
    s->events = 0;
    ward_buf_reset(&s->in);
    ward_buf_reset(&s->out);
    s->out_done = 0;
    s->fl_head = s->nfl = 0;
    if (s->state == SH_READY)
        s->st.connected = 0;
    s->state = SH_IDLE;
    ward_loop_timer_stop(s->a->loop, &s->deadline);
}

/* The wait before the next attempt: drawn from [backoff_min, cap], the cap doubling with
 * every failure since the last WELCOME up to backoff_max; backoff_max after a refusal. */
static uint64_t backoff(agent_ship *s) {
    const agent_cfg *c = &s->a->cfg;
    uint64_t lo = c->collector.backoff_min_ms, hi = c->collector.backoff_max_ms;
    if (s->refused)
        return hi;
    uint64_t cap = lo;
    for (unsigned i = 0; i < s->failures && cap < hi; i++)
        cap *= 2;
    if (cap > hi)
        cap = hi;
    return lo + rnd(s) % (cap - lo + 1);
}

/* Drops the connection after a failure (logged, counted) and schedules the next try. */
static void fail(agent_ship *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(agent_ship *s, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (msg[0]) {
        set_error(s, "%s", msg);
        s->st.failures++;
    }
    teardown(s);
    uint64_t wait = backoff(s);
    s->failures++;
    if (msg[0])
        agent_log(s->a, "error", "collector %s: %s; reconnecting in %llu ms",
                  s->a->cfg.collector.address, msg, (unsigned long long)wait);
    ward_loop_timer_after(s->a->loop, &s->retry, wait);
}

static int release(agent_ship *s);

/* The spool's sequence number of the collector's (the epoch's) seq; out of range:
 * UINT64_MAX, which every check then refuses or clamps. */
static uint64_t spool_seq(const agent_ship *s, uint64_t wire) {
    return wire > WARD_SPOOL_SEQ_MAX ? UINT64_MAX : wire + s->base;
}

/* The collector can never have the spool's records before from (it lost them, or the
 * spool did): a gap the epoch could not close, every batch refused. A new epoch starts at
 * from, and the connection is made again with it. Returns -1 (the connection is gone). */
static int new_epoch(agent_ship *s, uint64_t from, const char *why) {
    agent *a = s->a;
    char err[512];
    uint64_t old = s->epoch;
    if (ward_spool_new_epoch(a->spool, from, err, sizeof(err)) < 0) {
        fail(s, "%s", err);
        return -1;
    }
    s->epoch = ward_spool_epoch(a->spool);
    s->base = ward_spool_base(a->spool);
    s->acked = from - 1;
    s->next_seq = from;
    s->st.epochs++;
    agent_log(a, "error",
              "collector %s: %s: the alerts before spool seq %llu cannot reach it under epoch "
              "%llu; a new epoch %llu starts at spool seq %llu",
              a->cfg.collector.address, why, (unsigned long long)from, (unsigned long long)old,
              (unsigned long long)s->epoch, (unsigned long long)from);
    teardown(s);
    ward_loop_timer_after(a->loop, &s->retry, a->cfg.collector.backoff_min_ms);
    return -1;
}

/* ---- sending ---- */

/* Writes what is queued. Returns 0 (all written, or waiting for the socket) or -1
 * (failed: the connection is gone). */
static int flush(agent_ship *s) {
    int want_out = 0;
    while (s->out_done < s->out.len) {
        ssize_t n = ward_tls_write(s->tls, s->out.p + s->out_done, s->out.len - s->out_done);
        if (n > 0) {
            s->out_done += (size_t)n;
            s->st.bytes_sent += (uint64_t)n;
            continue;
        }
        if (n == -2) {
            want_out = (ward_tls_want(s->tls) & EPOLLOUT) != 0;
            break;
        }
        fail(s, "send: %s", ward_tls_error(s->tls));
        return -1;
    }
    if (s->out_done == s->out.len) {
        ward_buf_reset(&s->out);
        s->out_done = 0;
    }
    watch(s, EPOLLIN | (want_out || s->out_done < s->out.len ? EPOLLOUT : 0));
    return 0;
}

typedef struct collect {
    agent_ship *s;
    uint64_t expect;
    size_t n;
    int gap;
} collect;

static int on_record(void *ctx, uint64_t seq, const uint8_t *p, size_t len) {
    collect *c = ctx;
    agent_ship *s = c->s;
    if (c->n && seq != c->expect) {
        c->gap = 1;
        return 1; /* a batch holds consecutive seqs only */
    }
    if (c->n == s->nrecs_cap)
        return 1;
    if (!c->n)
        c->expect = seq;
    s->offs[c->n] = s->batch.len;
    s->recs[c->n].len = len;
    if (ward_buf_put(&s->batch, p, len) < 0)
        return 1;
    c->n++;
    c->expect = seq + 1;
    return 0;
}

/* Makes batches of what is durable and unsent while the window has room. Returns 0 or
 * -1 (the connection failed). */
static int fill(agent_ship *s) {
    agent *a = s->a;
    const agent_cfg *c = &a->cfg;
    while (s->state == SH_READY && s->nfl < s->fl_cap) {
        ward_spool_stats ss;
        ward_spool_stats_get(a->spool, &ss);
        if (s->next_seq > ss.durable_seq)
            break;
        ward_buf_reset(&s->batch);
        collect col = {s, s->next_seq, 0, 0};
        char err[512];
        long n = ward_spool_read(a->spool, s->next_seq, (size_t)c->collector.batch_max_records,
                                 (size_t)c->collector.batch_max_bytes, on_record, &col, err,
                                 sizeof(err));
        if (n < 0) {
            /* a damaged spool is not the connection's fault: try again later */
            fail(s, "spool: %s", err);
            return -1;
        }
        if (col.n == 0) {
            if (s->batch.oom)
                fail(s, "out of memory making a batch");
            return s->batch.oom ? -1 : 0;
        }
        uint64_t first = col.expect - col.n;
        if (first != s->next_seq) {
            /* records the collector does not have are not in the spool any more (cut by
             * recovery): the collector would refuse the gap for ever */
            s->st.gaps++;
            char why[160];
            snprintf(why, sizeof(why), "spool records %llu..%llu are not in the spool any more",
                     (unsigned long long)s->next_seq, (unsigned long long)first - 1);
            return new_epoch(s, first, why);
        }
        for (size_t i = 0; i < col.n; i++)
            s->recs[i].p = (const uint8_t *)s->batch.p + s->offs[i];
        if (ward_wire_batch_put(&s->out, s->key, s->epoch, first - s->base, s->recs, col.n,
                                ZLIB_LEVEL) < 0) {
            fail(s, "cannot make a batch of %zu alerts (out of memory)", col.n);
            return -1;
        }
        if (!s->nfl)
            ward_loop_timer_after(a->loop, &s->deadline, ACK_TIMEOUT_MS);
        flight *f = &s->fl[(s->fl_head + s->nfl) % s->fl_cap];
        f->last = first + col.n - 1;
        f->n = (uint32_t)col.n;
        s->nfl++;
        s->next_seq = first + col.n;
        s->st.batches_sent++;
        s->st.records_sent += col.n;
    }
    return flush(s);
}

void agent_ship_kick(agent *a) {
    agent_ship *s = a->ship;
    if (s && s->state == SH_READY && release(s) == 0)
        fill(s);
}

/* ---- the feed ---- */

/* Verifies and loads a feed document. from: where it came from, for messages. Returns 1
 * when it was loaded, 0 when it was not newer, -1 when it was refused (logged). */
static int load_feed(agent_ship *s, const uint8_t *p, size_t len, const char *from) {
    agent *a = s->a;
    ward_feed f;
    memset(&f, 0, sizeof(f));
    char err[512];
    if (ward_feed_parse(p, len, s->feed_key, &f, err, sizeof(err)) < 0) {
        s->st.feeds_rejected++;
        set_error(s, "feed from %s refused: %s", from, err);
        agent_log(a, "error", "feed from %s refused: %s; the feed loaded (version %llu) is kept",
                  from, err, (unsigned long long)a->ind.feed.version);
        return -1;
    }
    if (f.version <= a->ind.feed.version) {
        ward_feed_fini(&f);
        return 0;
    }
    uint64_t v = f.version;
    if (agent_ind_load(&a->ind, &f, err, sizeof(err)) < 0) {
        s->st.feeds_rejected++;
        agent_log(a, "error", "feed from %s: %s; the feed loaded is kept", from, err);
        return -1;
    }
    s->st.feeds_loaded++;
    agent_log(a, "info", "feed version %llu from %s loaded: %zu indicators", (unsigned long long)v,
              from, a->ind.feed.n);
    return 1;
}

/* Keeps the last feed loaded in the state directory, so that a restart matches it before
 * the collector is reached. */
static void save_feed(agent_ship *s, const uint8_t *p, size_t len) {
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", s->feed_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    int ok = fd >= 0 && write(fd, p, len) == (ssize_t)len && fsync(fd) == 0;
    if (fd >= 0 && close(fd) < 0)
        ok = 0;
    if (!ok || rename(tmp, s->feed_path) < 0) {
        agent_log(s->a, "error", "feed: cannot write %s: %s", s->feed_path, strerror(errno));
        unlink(tmp);
    }
}

static void load_saved_feed(agent_ship *s) {
    int fd = open(s->feed_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    uint8_t *p = NULL;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && (uint64_t)st.st_size <= FEED_FILE_MAX &&
        (p = malloc((size_t)st.st_size))) {
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (got == (size_t)st.st_size)
            load_feed(s, p, got, s->feed_path);
    } else {
        agent_log(s->a, "error", "feed: %s: unreadable or over %u bytes: ignored", s->feed_path,
                  FEED_FILE_MAX);
    }
    free(p);
    close(fd);
}

/* ---- receiving ---- */

/* Lets the spool go up to what the collector has stored and the bookmarks cover
 * (resend.c says why both). Returns 0 or -1 (the connection failed). */
static int release(agent_ship *s) {
    agent *a = s->a;
    uint64_t to = s->acked < a->bm_seq ? s->acked : a->bm_seq;
    ward_spool_stats ss;
    ward_spool_stats_get(a->spool, &ss);
    if (to > ss.durable_seq)
        to = ss.durable_seq;
    if (to <= ss.acked_seq)
        return 0;
    char err[512];
    if (ward_spool_ack(a->spool, to, err, sizeof(err)) < 0) {
        fail(s, "spool: %s", err);
        return -1;
    }
    return 0;
}

static void on_welcome(agent_ship *s, const uint8_t *p, size_t len) {
    agent *a = s->a;
    ward_wire_ack m;
    if (s->state != SH_HELLO || ward_wire_welcome_parse(p, len, &m) < 0) {
        fail(s, "protocol: unexpected or malformed WELCOME");
        return;
    }
    if (m.version != WARD_WIRE_VERSION || m.epoch != s->epoch) {
        fail(s, "protocol: WELCOME for version %u epoch %llu (sent version %u epoch %llu)",
             m.version, (unsigned long long)m.epoch, WARD_WIRE_VERSION,
             (unsigned long long)s->epoch);
        return;
    }
    ward_spool_stats ss;
    ward_spool_stats_get(a->spool, &ss);
    uint64_t acked = spool_seq(s, m.acked);
    if (acked > ss.durable_seq) {
        agent_log(a, "error",
                  "collector %s has stored up to %llu of epoch %llu but the spool holds only %llu: "
                  "taking the spool's",
                  a->cfg.collector.address, (unsigned long long)acked, (unsigned long long)s->epoch,
                  (unsigned long long)ss.durable_seq);
        acked = ss.durable_seq;
    }
    if (acked < ss.acked_seq) {
        /* the spool released what the collector does not have (its store restored from
         * an older backup, another collector's store, spool-ack by hand) */
        s->st.gaps++;
        char why[200];
        snprintf(why, sizeof(why),
                 "it has stored up to spool seq %llu but the spool released up to %llu",
                 (unsigned long long)acked, (unsigned long long)ss.acked_seq);
        new_epoch(s, ss.acked_seq + 1, why);
        return;
    }
    if (acked > s->acked)
        s->st.records_acked += acked - s->acked;
    s->acked = acked;
    s->next_seq = acked + 1;
    if (release(s) < 0)
        return;
    s->state = SH_READY;
    s->st.connected = 1;
    s->st.connects++;
    s->st.connected_since_ms = agent_now_ms();
    s->failures = 0;
    s->refused = 0;
    ward_loop_timer_stop(a->loop, &s->deadline);
    agent_log(a, "info",
              "connected to collector %s (epoch %llu, stored up to %llu, sending from %llu)",
              a->cfg.collector.address, (unsigned long long)s->epoch, (unsigned long long)acked,
              (unsigned long long)s->next_seq);
    if (s->feed_key && ward_wire_feed_get_put(&s->out, a->ind.feed.version) < 0) {
        fail(s, "out of memory");
        return;
    }
    fill(s);
}

static void on_ack(agent_ship *s, const uint8_t *p, size_t len) {
    agent *a = s->a;
    ward_wire_ack m;
    if (s->state != SH_READY || ward_wire_ack_parse(p, len, &m) < 0 || m.epoch != s->epoch) {
        fail(s, "protocol: unexpected or malformed ACK");
        return;
    }
    uint64_t acked = spool_seq(s, m.acked);
    if (acked >= s->next_seq) {
        fail(s, "protocol: ACK of %llu, beyond what was sent (%llu)", (unsigned long long)m.acked,
             (unsigned long long)(s->next_seq - 1 - s->base));
        return;
    }
    if (acked <= s->acked)
        return; /* an older ACK (a batch stored before): nothing new */
    s->st.records_acked += acked - s->acked;
    s->acked = acked;
    if (release(s) < 0)
        return;
    while (s->nfl && s->fl[s->fl_head].last <= acked) {
        s->fl_head = (s->fl_head + 1) % s->fl_cap;
        s->nfl--;
        s->st.batches_acked++;
    }
    if (s->nfl)
        ward_loop_timer_after(a->loop, &s->deadline, ACK_TIMEOUT_MS);
    else
        ward_loop_timer_stop(a->loop, &s->deadline);
    fill(s);
}

static void on_feed(agent_ship *s, const uint8_t *p, size_t len) {
    if (!s->feed_key) {
        s->st.feeds_rejected++;
        agent_log(s->a, "error",
                  "collector %s sent a feed, but collector.feed_key is not set: "
                  "it cannot be verified and is ignored",
                  s->a->cfg.collector.address);
        return;
    }
    if (load_feed(s, p, len, s->a->cfg.collector.address) == 1)
        save_feed(s, p, len);
}

static void on_error_frame(agent_ship *s, const uint8_t *p, size_t len) {
    uint16_t code;
    const uint8_t *msg;
    size_t ml;
    if (ward_wire_error_parse(p, len, &code, &msg, &ml) < 0) {
        fail(s, "protocol: malformed ERROR");
        return;
    }
    s->st.errors_by_code[code < AGENT_SHIP_MAX_CODE ? code : 0]++;
    if (code == WARD_WIRE_E_UNKNOWN || code == WARD_WIRE_E_REVOKED) {
        s->refused = 1;
        agent_log(s->a, "error",
                  "collector %s refuses this agent's key (%s; fingerprint %s): ask the "
                  "regional team to enrol %s",
                  s->a->cfg.collector.address, ward_wire_err_name(code), s->fingerprint,
                  s->a->cfg.agent.name);
    }
    fail(s, "collector error %u (%s): %.*s", code, ward_wire_err_name(code),
         (int)(ml > 400 ? 400 : ml), (const char *)msg);
}

/* Decodes every whole frame received. Returns 0, or -1 when the connection is gone. */
static int frames(agent_ship *s) {
    size_t at = 0;
    while (s->fd >= 0 && at < s->in.len) {
        uint8_t type;
        const uint8_t *body;
        size_t blen, used;
        char err[256];
        int r =
            ward_wire_frame_next((const uint8_t *)s->in.p + at, s->in.len - at, WARD_WIRE_FRAME_MAX,
                                 &type, &body, &blen, &used, err, sizeof(err));
        if (r == 0)
            break;
        if (r < 0) {
            fail(s, "protocol: %s", err);
            return -1;
        }
        at += used;
        switch (type) {
        case WARD_WIRE_WELCOME:
            on_welcome(s, body, blen);
            break;
        case WARD_WIRE_ACK:
            on_ack(s, body, blen);
            break;
        case WARD_WIRE_FEED:
            on_feed(s, body, blen);
            break;
        case WARD_WIRE_ERROR:
            on_error_frame(s, body, blen);
            break;
        default:
            fail(s, "protocol: unexpected frame type %u", type);
            break;
        }
    }
    if (s->fd < 0)
        return -1;
    if (at) {
        memmove(s->in.p, s->in.p + at, s->in.len - at);
        s->in.len -= at;
    }
    return 0;
}

static int receive(agent_ship *s) {
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = ward_tls_read(s->tls, buf, sizeof(buf));
        if (n > 0) {
            if (ward_buf_put(&s->in, buf, (size_t)n) < 0) {
                fail(s, "out of memory receiving");
                return -1;
            }
            if (frames(s) < 0)
                return -1;
            continue;
        }
        if (n == -2) {
            if (ward_tls_want(s->tls) & EPOLLOUT)
                watch(s, EPOLLIN | EPOLLOUT);
            return 0;
        }
        if (n == 0 && s->state == SH_READY && !s->nfl) {
            /* an idle connection closed (the collector's idle_timeout): not a failure */
            agent_log(s->a, "info", "collector %s closed the idle connection; reconnecting",
                      s->a->cfg.collector.address);
            teardown(s);
            s->failures = 0;
            ward_loop_timer_after(s->a->loop, &s->retry, s->a->cfg.collector.backoff_min_ms);
            return -1;
        }
        fail(s, "%s", n == 0 ? "the collector closed the connection" : ward_tls_error(s->tls));
        return -1;
    }
}

/* ---- connecting ---- */

static void send_hello(agent_ship *s) {
    ward_wire_hello h;
    h.version = WARD_WIRE_VERSION;
    memcpy(h.agent, s->pub, sizeof(h.agent));
    h.epoch = s->epoch;
    if (ward_wire_hello_put(&s->out, &h) < 0) {
        fail(s, "out of memory");
        return;
    }
    s->state = SH_HELLO;
    flush(s);
}

static void on_io(void *ctx, int fd, uint32_t events) {
    agent_ship *s = ctx;
    (void)fd;
    if (s->state == SH_CONNECTING) {
        int e = 0;
        socklen_t el = sizeof(e);
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
            e = errno;
        if (e) {
            fail(s, "connect: %s", strerror(e));
            return;
        }
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        s->tls = ward_tls_new(s->ctx, s->fd, s->a->cfg.collector.server_name);
        if (!s->tls) {
            fail(s, "TLS: out of memory");
            return;
        }
        s->state = SH_HANDSHAKE;
    }
    if (s->state == SH_HANDSHAKE) {
        int r = ward_tls_handshake(s->tls);
        if (r < 0) {
            fail(s, "TLS handshake: %s", ward_tls_error(s->tls));
            return;
        }
        if (r == 0) {
            watch(s, ward_tls_want(s->tls));
            return;
        }
        send_hello(s);
        if (s->fd < 0)
            return;
    }
    if (receive(s) < 0)
        return;
    if (s->state == SH_READY)
        fill(s);
    else
        flush(s);
}

static void on_deadline(void *ctx) {
    agent_ship *s = ctx;
    if (s->state == SH_READY)
        fail(s, "no acknowledgement for %d s", ACK_TIMEOUT_MS / 1000);
    else
        fail(s, "no answer within %d s (connect, TLS handshake and WELCOME)",
             CONNECT_TIMEOUT_MS / 1000);
}

static void connect_now(void *ctx) {
    agent_ship *s = ctx;
    agent *a = s->a;
    if (s->st.attempts++)
        s->st.reconnects++;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int g = getaddrinfo(s->host, s->port, &hints, &res);
    if (g != 0) {
        fail(s, "%s: %s", s->host, gai_strerror(g));
        return;
    }
    s->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        freeaddrinfo(res);
        fail(s, "socket: %s", strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    int r = connect(s->fd, res->ai_addr, res->ai_addrlen);
    int e = errno;
    freeaddrinfo(res);
    if (r < 0 && e != EINPROGRESS) {
        fail(s, "connect: %s", strerror(e));
        return;
    }
    if (ward_loop_add(a->loop, s->fd, EPOLLOUT, on_io, s) < 0) {
        e = errno;
        close(s->fd);
        s->fd = -1;
        fail(s, "event loop: %s", strerror(e));
        return;
    }
    s->events = EPOLLOUT;
    s->state = SH_CONNECTING;
    ward_loop_timer_after(a->loop, &s->deadline, CONNECT_TIMEOUT_MS);
}

/* ---- life ---- */

void agent_ship_free(agent_ship *s) {
    if (!s)
        return;
    if (s->a && s->a->loop) {
        teardown(s);
        ward_loop_timer_stop(s->a->loop, &s->retry);
    }
    ward_tls_ctx_free(s->ctx);
    ward_crypto_key_free(s->key);
    ward_crypto_key_free(s->feed_key);
    ward_buf_fini(&s->in);
    ward_buf_fini(&s->out);
    ward_buf_fini(&s->batch);
    free(s->fl);
    free(s->offs);
    free(s->recs);
    free(s->host);
    free(s->port);
    free(s->feed_path);
    free(s);
}

agent_ship *agent_ship_new(agent *a) {
    const agent_cfg *c = &a->cfg;
    char err[512];
    agent_ship *s = calloc(1, sizeof(*s));
    if (!s) {
        agent_log(a, "error", "collector: out of memory");
        return NULL;
    }
    s->a = a;
    s->fd = -1;
    ward_buf_init(&s->in);
    ward_buf_init(&s->out);
    ward_buf_init(&s->batch);
    ward_loop_timer_init(&s->retry, connect_now, s);
    ward_loop_timer_init(&s->deadline, on_deadline, s);
    if (!a->spool) {
        agent_log(a, "error", "collector: the spool is not open");
        goto fail;
    }
    if (agent_cfg_parse_address(c->collector.address, &s->host, &s->port, err, sizeof(err)) < 0) {
        agent_log(a, "error", "collector.address '%s': %s", c->collector.address, err);
        goto fail;
    }
    if (!(s->key = ward_crypto_key_load_private(c->collector.key, err, sizeof(err)))) {
        agent_log(a, "error", "collector.key: %s (ward-agent keygen makes the key pair)", err);
        goto fail;
    }
    if (ward_crypto_key_raw(s->key, s->pub) < 0) {
        agent_log(a, "error", "collector.key %s: no public half", c->collector.key);
        goto fail;
    }
    ward_crypto_key_fingerprint(s->key, s->fingerprint);
    if (c->collector.feed_key &&
        !(s->feed_key = ward_crypto_key_load_public(c->collector.feed_key, err, sizeof(err)))) {
        agent_log(a, "error", "collector.feed_key: %s", err);
        goto fail;
    }
    if (!(s->ctx = ward_tls_client_new(c->collector.ca, c->collector.insecure_skip_verify, err,
                                       sizeof(err)))) {
        agent_log(a, "error", "collector.ca: %s", err);
        goto fail;
    }
    if (c->collector.insecure_skip_verify)
        agent_log(a, "warning",
                  "collector.insecure_skip_verify is on: the collector's certificate is NOT "
                  "verified, so anyone on the path to %s can read these alerts and pose as the "
                  "collector; turn it off outside tests",
                  c->collector.address);
    s->fl_cap = (size_t)c->collector.in_flight;
    s->nrecs_cap = (size_t)c->collector.batch_max_records;
    s->fl = calloc(s->fl_cap, sizeof(*s->fl));
    s->offs = calloc(s->nrecs_cap, sizeof(*s->offs));
    s->recs = calloc(s->nrecs_cap, sizeof(*s->recs));
    size_t n = strlen(c->agent.state_dir) + sizeof("/feed");
    s->feed_path = malloc(n);
    if (!s->fl || !s->offs || !s->recs || !s->feed_path) {
        agent_log(a, "error", "collector: out of memory");
        goto fail;
    }
    snprintf(s->feed_path, n, "%s/feed", c->agent.state_dir);
    if (getrandom(&s->rng, sizeof(s->rng), GRND_NONBLOCK) != (ssize_t)sizeof(s->rng))
        s->rng = agent_now_ms() ^ ((uint64_t)getpid() << 32);
    s->rng |= 1;
    s->epoch = ward_spool_epoch(a->spool);
    s->base = ward_spool_base(a->spool);
    if (s->feed_key)
        load_saved_feed(s);
    agent_log(a, "info", "shipping to collector %s as key %s (epoch %llu)", c->collector.address,
              s->fingerprint, (unsigned long long)s->epoch);
    return s;
fail:
    agent_ship_free(s);
    return NULL;
}

void agent_ship_start(agent_ship *s) {
    if (s && s->state == SH_IDLE && !s->retry.due_ms)
        connect_now(s);
}

const agent_ship_stats *agent_ship_get_stats(const agent_ship *s) {
    return &s->st;
}
