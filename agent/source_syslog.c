/* Syslog source: receives syslog from network devices (firewalls, switches, routers)
 * over UDP or TCP, on the address of `listen`.
 *
 * UDP: one datagram is one message (trailing LF, CR and NUL stripped; empty ones ignored).
 * Datagrams are read in batches with recvmmsg. The kernel counts what it dropped because
 * the socket's queue was full (SO_RXQ_OVFL); the count comes with the datagrams queued
 * after a drop and is reported as kernel_drops: losses outside our control, kept apart
 * from our own drops (the logged summary's dropped total has both).
 * TCP: every connection has its own framer (lib/framing.c): LF, octet counting or auto.
 * A framing error closes the connection (counted, logged with the peer).
 *
 * Limits: a message over max_message is cut and counted (truncated). Connections over
 * max_connections, or over max_connections_per_peer from one address, are accepted and
 * closed at once (counted in dropped.connections). A connection silent for idle_timeout
 * is closed. rate_per_peer: over UDP, messages from one address beyond the rate in one
 * second are dropped and counted (dropped.rate); over TCP nothing is dropped: the
 * connection is not read until the next second (what was read already waits in memory),
 * so TCP's flow control slows the sender down. Per-address state lives in a hash table
 * of bounded size: for TCP an entry lives while its address has connections; for UDP,
 * UDP_PEERS addresses at once, the ones not seen this second evicted when it is full, and
 * when it is full of addresses seen this second, a new one goes unlimited (counted in
 * rate_untracked) rather than dropped. When the agent stops or a reload restarts the
 * source, open connections are closed and a partial message they hold is lost.
 *
 * When the output is backlogged (limits.output_buffer is full: a full disk), TCP is not
 * read and no connection is accepted until the alerts are written, so that the senders
 * wait; UDP datagrams go on being received, so that the socket's queue does not hold stale
 * ones, and are dropped and counted (dropped.backlog).
 *
 * There are no bookmarks: a network sender cannot be asked to send again, so there is no
 * position to resume from (durable and save do nothing). Alert ids come from the source's
 * name, the time it started and a counter, so they are unique; records are never read
 * twice. Delivery without loss needs TCP and the sender's own queue (rsyslog's disk
 * queue, for example): what was in flight when the agent stopped is the sender's to
 * resend. */
#include "agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ward/framing.h"

#define UDP_BATCH 16         /* datagrams per recvmmsg */
#define UDP_BATCHES 8        /* recvmmsg calls per wakeup, before other work gets a turn */
#define TCP_READ (64u << 10) /* bytes per read */
#define TCP_READS 4          /* reads per connection per wakeup */
#define ACCEPTS 64           /* accepts per wakeup */
#define UDP_PEERS 4096       /* addresses whose UDP rate is tracked at once */
#define LOG_EVERY_MS 10000   /* warnings caused by peers: at most one per source this often */
#define DRAIN_MS 1000        /* drain reads for at most this long in a row */
#define ACCEPT_RETRY_MS 250  /* out of descriptors: accept again after this */
#define PEER_STR 64          /* "[v6]:port" */
#define HOLD_RETRY_MS 100    /* the output backlogged: how often to look whether it is not */

/* ---- per-address state: open addressing, linear probing, bounded ---- */

typedef struct peer {
    uint8_t addr[16]; /* IPv6, IPv4 as ::ffff:a.b.c.d */
    uint8_t used;
    uint32_t conns; /* TCP connections open */
    uint64_t sec;   /* the second count is for (monotonic) */
    uint64_t count; /* messages taken in it */
} peer;

typedef struct ptab {
    peer *v;
    size_t cap; /* a power of two, at least twice max */
    size_t n, max;
    uint64_t seed;
    uint64_t no_room_sec; /* a sweep in this second (+1) freed nothing: do not repeat it */
} ptab;

static int ptab_init(ptab *t, size_t max) {
    size_t cap = 64;
    while (cap < 2 * max)
        cap *= 2;
    t->v = calloc(cap, sizeof(*t->v));
    if (!t->v)
        return -1;
    t->cap = cap;
    t->max = max;
    t->n = 0;
    /* addresses can be chosen by a sender (spoofed UDP): keep collisions unpredictable */
    if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed))
        t->seed = (uint64_t)ward_loop_now_ms() * 0x9e3779b97f4a7c15ull ^ (uintptr_t)t;
    return 0;
}

static void ptab_fini(ptab *t) {
    free(t->v);
    t->v = NULL;
}

static size_t ptab_home(const ptab *t, const uint8_t addr[16]) {
    uint64_t h = 0xcbf29ce484222325ull ^ t->seed;
    for (int i = 0; i < 16; i++) {
        h ^= addr[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 29;
    return (size_t)h & (t->cap - 1);
}

static peer *ptab_find(ptab *t, const uint8_t addr[16]) {
    if (!t->v)
        return NULL;
    for (size_t i = ptab_home(t, addr);; i = (i + 1) & (t->cap - 1)) {
        if (!t->v[i].used)
            return NULL;
        if (memcmp(t->v[i].addr, addr, 16) == 0)
            return &t->v[i];
    }
}

/* Removes the entry at slot i, moving later entries of its run back (no tombstones). */
static void ptab_del_at(ptab *t, size_t i) {
    size_t mask = t->cap - 1;
    t->v[i].used = 0;
    t->n--;
    for (size_t j = (i + 1) & mask; t->v[j].used; j = (j + 1) & mask) {
        size_t h = ptab_home(t, t->v[j].addr);
        /* j may move to i unless its home lies cyclically in (i, j] */
        int stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (stays)
            continue;
        t->v[i] = t->v[j];
        t->v[j].used = 0;
        i = j;
    }
}

static void ptab_del(ptab *t, peer *p) {
    ptab_del_at(t, (size_t)(p - t->v));
}

/* Drops entries with no connection that were not seen in second sec. */
static void ptab_sweep(ptab *t, uint64_t sec) {
    for (size_t i = 0; i < t->cap; i++)
        while (t->v[i].used && t->v[i].conns == 0 && t->v[i].sec != sec)
            ptab_del_at(t, i);
}

/* The entry of addr, added when new. Returns NULL when the table is full of entries in
 * use this second (the caller then goes without: counted). */
static peer *ptab_get(ptab *t, const uint8_t addr[16], uint64_t sec) {
    if (!t->v)
        return NULL;
    peer *p = ptab_find(t, addr);
    if (p)
        return p;
    if (t->n >= t->max) {
        if (t->no_room_sec == sec + 1)
            return NULL;
        ptab_sweep(t, sec);
        if (t->n >= t->max) {
            t->no_room_sec = sec + 1;
            return NULL;
        }
    }
    size_t i = ptab_home(t, addr);
    while (t->v[i].used)
        i = (i + 1) & (t->cap - 1);
    t->v[i] = (peer){.used = 1, .sec = sec};
    memcpy(t->v[i].addr, addr, 16);
    t->n++;
    return &t->v[i];
}

/* 1 when the peer has sent its rate in second sec. */
static int rate_spent(const peer *p, uint64_t rate, uint64_t sec) {
    return p->sec == sec && p->count >= rate;
}

/* Counts one message; returns 0 when it is over the rate (not counted then). */
static int rate_take(peer *p, uint64_t rate, uint64_t sec) {
    if (p->sec != sec) {
        p->sec = sec;
        p->count = 0;
    }
    if (p->count >= rate)
        return 0;
    p->count++;
    return 1;
}

/* ---- the source ---- */

typedef struct ssrc ssrc;

typedef struct conn {
    ssrc *f;
    int fd;
    size_t idx; /* in f->conns */
    uint8_t addr[16];
    char peer[PEER_STR];
    ward_framing *fr;
    uint64_t last_ms;
    int paused;    /* over the rate: not read until the next second */
    uint8_t *pend; /* read but not framed yet when it was paused (owned) */
    size_t pend_at, pend_n, pend_cap;
    int in_pend; /* pend[pend_at..] is being framed */
} conn;

typedef union ctlbuf {
    char buf[CMSG_SPACE(sizeof(uint32_t))];
    struct cmsghdr align;
} ctlbuf;

struct ssrc {
    src *s;
    int tcp;
    int fd;
    char bound[PEER_STR]; /* the address actually bound */
    size_t max_message;
    char *key; /* "syslog:NAME:EPOCH" for alert ids */
    uint64_t seq;
    ptab peers;
    /* UDP */
    struct mmsghdr mm[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    struct sockaddr_storage from[UDP_BATCH];
    ctlbuf ctl[UDP_BATCH];
    uint8_t *dg; /* UDP_BATCH buffers of dgsz bytes */
    size_t dgsz;
    uint32_t ovfl; /* the kernel's drop counter when last seen */
    /* TCP */
    conn **conns;
    size_t nconns, capconns, npaused;
    uint8_t *rbuf;
    ward_loop_timer idle_timer, resume_timer, accept_timer, hold_timer;
    int accept_paused;
    /* the output is backlogged (limits.output_buffer): TCP is not read, UDP is dropped */
    int held;
    uint64_t holds, held_drops; /* times it began; drop_backlog when the last one began */
    /* counters */
    uint64_t accepted, closed, refused, idle_closed, framing_errors, discarded, rate_pauses;
    uint64_t datagrams, empty, rate_untracked;
    /* rate limit on warnings */
    int logged;
    uint64_t log_ms, log_suppressed;
    uint64_t drain_last, drain_until;
};

static void warn_peer(ssrc *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A warning caused by a sender: at most one per LOG_EVERY_MS, the rest counted in it. */
static void warn_peer(ssrc *f, const char *fmt, ...) {
    uint64_t now = ward_loop_now_ms();
    if (f->logged && now - f->log_ms < LOG_EVERY_MS) {
        f->log_suppressed++;
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (f->log_suppressed)
        agent_log(f->s->a, "warning", "source %s: %s (%llu similar warnings not shown)", f->s->name,
                  msg, (unsigned long long)f->log_suppressed);
    else
        agent_log(f->s->a, "warning", "source %s: %s", f->s->name, msg);
    f->logged = 1;
    f->log_ms = now;
    f->log_suppressed = 0;
}

/* ---- addresses ---- */

/* The 16-byte key of a socket address (IPv4 as IPv4-mapped IPv6) and its port. */
static void addr_key(const struct sockaddr_storage *ss, uint8_t out[16], unsigned *port) {
    memset(out, 0, 16);
    *port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)ss;
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &in->sin_addr, 4);
        *port = ntohs(in->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)ss;
        memcpy(out, &in6->sin6_addr, 16);
        *port = ntohs(in6->sin6_port);
    }
}

/* "ADDR:PORT", "[V6]:PORT"; an IPv4-mapped address as IPv4. */
static void fmt_addr(const struct sockaddr_storage *ss, char *out, size_t len) {
    uint8_t k[16];
    unsigned port;
    addr_key(ss, k, &port);
    char a[INET6_ADDRSTRLEN];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (ss->ss_family != AF_INET && ss->ss_family != AF_INET6) {
        snprintf(out, len, "unknown");
    } else if (memcmp(k, mapped, 12) == 0) {
        inet_ntop(AF_INET, k + 12, a, sizeof(a));
        snprintf(out, len, "%s:%u", a, port);
    } else {
        inet_ntop(AF_INET6, k, a, sizeof(a));
        snprintf(out, len, "[%s]:%u", a, port);
    }
}

/* ---- records ---- */

static void emit(ssrc *f, const char *peer_s, const uint8_t *p, size_t len, int truncated) {
    src *s = f->s;
    while (len && (p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == '\0'))
        len--;
    if (len == 0) {
        f->empty++;
        return;
    }
    const char *transport = f->tcp ? "tcp" : "udp";
    ward_field extra[2] = {{"peer", peer_s, strlen(peer_s)}, {"transport", transport, 3}};
    agent_rec r = {0};
    r.line = p;
    r.len = len;
    r.truncated = truncated;
    r.decoder = agent_cfg_decoder(s->cfg);
    r.key = f->key;
    r.pos = f->seq++;
    r.where.kind = "syslog";
    r.where.name = s->name;
    r.where.peer = peer_s;
    r.where.transport = transport;
    r.extra = extra;
    r.nextra = 2;
    s->n.records++;
    s->n.bytes += len;
    if (truncated)
        s->n.truncated++;
    if (agent_process(s->a, s, &r) < 0) {
        /* no memory for its alerts, and a sender cannot be asked again: lost, counted */
        s->n.dropped++;
        warn_peer(f, "%s: out of memory for the alerts of a message: it is lost", peer_s);
    }
}

/* ---- UDP ---- */

static void udp_kernel_drops(ssrc *f, struct msghdr *h) {
#ifdef SO_RXQ_OVFL
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL ||
            c->cmsg_len < CMSG_LEN(sizeof(uint32_t)))
            continue;
        uint32_t v;
        memcpy(&v, CMSG_DATA(c), sizeof(v));
        /* the socket's drops so far (it starts at 0 with our socket), modulo 2^32 */
        f->s->n.drop_kernel += (uint32_t)(v - f->ovfl);
        f->ovfl = v;
    }
#else
    (void)f;
    (void)h;
#endif
}

/* 1 when the output is backlogged: a datagram cannot wait (the socket's queue would only
 * overflow later), so it is dropped and counted. The start and the end are logged. */
static int udp_backlogged(ssrc *f) {
    src *s = f->s;
    if (!agent_backlogged(s->a)) {
        if (f->held)
            agent_log(s->a, "info",
                      "source %s: the alerts are written again: receiving again (%llu messages "
                      "dropped meanwhile)",
                      s->name, (unsigned long long)(s->n.drop_backlog - f->held_drops));
        f->held = 0;
        return 0;
    }
    if (!f->held) {
        f->held = 1;
        f->holds++;
        f->held_drops = s->n.drop_backlog;
        agent_log(s->a, "warning",
                  "source %s: the alerts cannot be written and limits.output_buffer is full: "
                  "UDP messages are dropped (counted) until they are written",
                  s->name);
    }
    s->n.drop_backlog++;
    return 1;
}

static void udp_one(ssrc *f, size_t j, uint64_t sec) {
    struct msghdr *h = &f->mm[j].msg_hdr;
    udp_kernel_drops(f, h);
    f->datagrams++;
    if (udp_backlogged(f))
        return;
    const uint8_t *p = f->dg + j * f->dgsz;
    size_t len = f->mm[j].msg_len;
    int truncated = 0;
    if ((h->msg_flags & MSG_TRUNC) || len > f->max_message) {
        len = f->max_message < len ? f->max_message : len;
        truncated = 1;
    }
    int64_t rate = f->s->cfg->rate_per_peer;
    if (rate > 0) {
        uint8_t k[16];
        unsigned port;
        addr_key(&f->from[j], k, &port);
        peer *pe = ptab_get(&f->peers, k, sec);
        if (!pe) {
            f->rate_untracked++; /* a flood of senders: let it through, counted */
        } else if (!rate_take(pe, (uint64_t)rate, sec)) {
            f->s->n.drop_rate++;
            return;
        }
    }
    char ps[PEER_STR];
    fmt_addr(&f->from[j], ps, sizeof(ps));
    emit(f, ps, p, len, truncated);
}

/* Reads up to batches batches of datagrams. */
static void udp_read(ssrc *f, int batches) {
    for (int b = 0; b < batches; b++) {
        for (size_t j = 0; j < UDP_BATCH; j++) {
            f->iov[j] = (struct iovec){f->dg + j * f->dgsz, f->dgsz};
            f->mm[j].msg_len = 0;
            f->mm[j].msg_hdr = (struct msghdr){.msg_name = &f->from[j],
                                               .msg_namelen = sizeof(f->from[j]),
                                               .msg_iov = &f->iov[j],
                                               .msg_iovlen = 1,
                                               .msg_control = f->ctl[j].buf,
                                               .msg_controllen = sizeof(f->ctl[j].buf)};
        }
        int k = recvmmsg(f->fd, f->mm, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                f->s->n.errors++;
                warn_peer(f, "recvmmsg: %s", strerror(errno));
            }
            return;
        }
        uint64_t sec = ward_loop_now_ms() / 1000;
        for (int j = 0; j < k; j++)
            udp_one(f, (size_t)j, sec);
        if (k < UDP_BATCH)
            return;
    }
}

static void on_udp(void *ctx, int fd, uint32_t events) {
    (void)fd;
    (void)events;
    udp_read(ctx, UDP_BATCHES);
}

/* ---- TCP connections ---- */

static void arm_resume(ssrc *f) {
    if (f->resume_timer.due_ms)
        return;
    uint64_t now = ward_loop_now_ms();
    ward_loop_timer_after(f->s->a->loop, &f->resume_timer, 1000 - now % 1000);
}

/* Stops reading c until the next second; keeps p[0..n), read but not framed yet. */
static int conn_pause(ssrc *f, conn *c, const uint8_t *p, size_t n) {
    if (n) {
        if (c->in_pend) {
            c->pend_at = (size_t)(p - c->pend); /* p is further on in pend */
        } else {
            if (n > c->pend_cap) {
                uint8_t *b = realloc(c->pend, n);
                if (!b)
                    return -1;
                c->pend = b;
                c->pend_cap = n;
            }
            memcpy(c->pend, p, n);
            c->pend_at = 0;
        }
    }
    c->pend_n = n;
    if (!c->paused) {
        c->paused = 1;
        f->npaused++;
        f->rate_pauses++;
        ward_loop_mod(f->s->a->loop, c->fd, 0); /* errors and hang-ups still come */
        arm_resume(f);
    }
    return 0;
}

/* Frames p[0..n) of c. With limit, stops at the peer's rate and keeps the rest for the
 * next second. Returns 0, or -1 when c must be closed (a framing error, or no memory to
 * keep the rest: counted and logged). */
static int conn_feed(ssrc *f, conn *c, const uint8_t *p, size_t n, int limit) {
    int64_t rate = limit ? f->s->cfg->rate_per_peer : 0;
    uint64_t sec = ward_loop_now_ms() / 1000;
    peer *pe = rate > 0 ? ptab_find(&f->peers, c->addr) : NULL;
    ward_frame m;
    char err[256];
    for (;;) {
        if (pe && n && rate_spent(pe, (uint64_t)rate, sec)) {
            if (conn_pause(f, c, p, n) == 0)
                return 0;
            f->s->n.errors++;
            f->discarded += n;
            warn_peer(f, "%s: out of memory for what it sent over the rate; connection closed",
                      c->peer);
            return -1;
        }
        int r = ward_framing_next(c->fr, &p, &n, &m, err, sizeof(err));
        if (r == 0)
            break;
        if (r < 0) {
            f->framing_errors++;
            f->discarded += n;
            warn_peer(f, "%s: %s; connection closed", c->peer, err);
            return -1;
        }
        if (pe)
            rate_take(pe, (uint64_t)rate, sec);
        emit(f, c->peer, m.p, m.len, m.truncated);
    }
    if (pe && rate_spent(pe, (uint64_t)rate, sec))
        return conn_pause(f, c, NULL, 0);
    return 0;
}

/* Closes c; with flush, the message it holds (a last line without LF) goes first. */
static void conn_close(ssrc *f, conn *c, int flush) {
    if (flush) {
        if (c->pend_n) {
            c->in_pend = 1;
            flush = conn_feed(f, c, c->pend + c->pend_at, c->pend_n, 0) == 0;
        }
        ward_frame m;
        if (flush && ward_framing_end(c->fr, &m) == 1)
            emit(f, c->peer, m.p, m.len, m.truncated);
    }
    ward_loop_del(f->s->a->loop, c->fd);
    close(c->fd);
    if (c->paused)
        f->npaused--;
    peer *pe = ptab_find(&f->peers, c->addr);
    if (pe && pe->conns && --pe->conns == 0)
        ptab_del(&f->peers, pe);
    f->conns[c->idx] = f->conns[--f->nconns];
    f->conns[c->idx]->idx = c->idx;
    f->closed++;
    ward_framing_free(c->fr);
    free(c->pend);
    free(c);
}

/* ---- a backlogged output: TCP is not read ---- */

/* 1 when the output is backlogged (limits.output_buffer is full). Reading stops then:
 * no connection is read and none accepted, so that TCP's flow control holds the senders
 * back, until on_hold finds the alerts written. What the connections sent meanwhile
 * waits in the kernel and with the senders; nothing is lost. */
static int tcp_held(ssrc *f) {
    if (f->held)
        return 1;
    if (!agent_backlogged(f->s->a))
        return 0;
    ward_loop *l = f->s->a->loop;
    f->held = 1;
    f->holds++;
    if (!f->accept_paused)
        ward_loop_mod(l, f->fd, 0);
    for (size_t i = 0; i < f->nconns; i++)
        if (!f->conns[i]->paused)
            ward_loop_mod(l, f->conns[i]->fd, 0); /* errors and hang-ups still come */
    ward_loop_timer_after(l, &f->hold_timer, HOLD_RETRY_MS);
    agent_log(f->s->a, "warning",
              "source %s: the alerts cannot be written and limits.output_buffer is full: "
              "not reading until they are written",
              f->s->name);
    return 1;
}

static void on_hold(void *ctx) {
    ssrc *f = ctx;
    ward_loop *l = f->s->a->loop;
    if (agent_backlogged(f->s->a)) {
        ward_loop_timer_after(l, &f->hold_timer, HOLD_RETRY_MS);
        return;
    }
    f->held = 0;
    uint64_t now = ward_loop_now_ms();
    if (!f->accept_paused)
        ward_loop_mod(l, f->fd, EPOLLIN);
    for (size_t i = 0; i < f->nconns; i++) {
        conn *c = f->conns[i];
        c->last_ms = now; /* not silent: not read */
        if (!c->paused)
            ward_loop_mod(l, c->fd, EPOLLIN);
    }
    agent_log(f->s->a, "info", "source %s: the alerts are written again: reading again",
              f->s->name);
}

/* Reads c at most reads times (until it would block, is paused or closed, or the output
 * is backlogged). */
static void conn_read(ssrc *f, conn *c, int reads) {
    for (int i = 0; i < reads && !c->paused && !tcp_held(f); i++) {
        ssize_t r = recv(c->fd, f->rbuf, TCP_READ, 0);
        if (r < 0 && errno == EINTR) {
            i--;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            /* the end, or a reset: a sender going away is routine for syslog */
            conn_close(f, c, 1);
            return;
        }
        c->last_ms = ward_loop_now_ms();
        if (conn_feed(f, c, f->rbuf, (size_t)r, 1) < 0) {
            conn_close(f, c, 0);
            return;
        }
    }
}

static void on_conn(void *ctx, int fd, uint32_t events) {
    (void)fd;
    conn *c = ctx;
    ssrc *f = c->f;
    if (c->paused || f->held) {
        /* only errors and hang-ups come while paused or held: what was read still counts */
        if (events & (EPOLLERR | EPOLLHUP))
            conn_close(f, c, 1);
        return;
    }
    conn_read(f, c, TCP_READS);
}

static void on_resume(void *ctx) {
    ssrc *f = ctx;
    uint64_t now = ward_loop_now_ms();
    if (f->held) {
        /* nothing is read while the output is backlogged: the next second, perhaps */
        arm_resume(f);
        return;
    }
    for (size_t i = f->nconns; i-- > 0;) {
        conn *c = f->conns[i];
        if (!c->paused)
            continue;
        c->paused = 0;
        f->npaused--;
        c->last_ms = now;
        if (c->pend_n) {
            size_t n = c->pend_n;
            c->pend_n = 0;
            c->in_pend = 1;
            int r = conn_feed(f, c, c->pend + c->pend_at, n, 1);
            c->in_pend = 0;
            if (r < 0) {
                conn_close(f, c, 0);
                continue;
            }
        }
        if (!c->paused) {
            free(c->pend);
            c->pend = NULL;
            c->pend_cap = 0;
            ward_loop_mod(f->s->a->loop, c->fd, EPOLLIN);
        }
    }
    if (f->npaused)
        arm_resume(f);
}

static void on_idle(void *ctx) {
    ssrc *f = ctx;
    uint64_t now = ward_loop_now_ms(), idle = f->s->cfg->idle_timeout_ms;
    for (size_t i = f->nconns; !f->held && i-- > 0;) {
        conn *c = f->conns[i];
        if (!c->paused && now - c->last_ms >= idle) {
            f->idle_closed++;
            conn_close(f, c, 1);
        }
    }
    uint64_t every = idle / 4;
    ward_loop_timer_after(f->s->a->loop, &f->idle_timer, every < 100 ? 100 : every);
}

/* A new connection: kept when the limits allow, else closed at once and counted. */
static void conn_open(ssrc *f, int fd, const struct sockaddr_storage *ss) {
    const agent_source_cfg *cfg = f->s->cfg;
    char ps[PEER_STR];
    fmt_addr(ss, ps, sizeof(ps));
    uint8_t k[16];
    unsigned port;
    addr_key(ss, k, &port);
    if ((int64_t)f->nconns >= cfg->max_connections) {
        close(fd);
        f->s->n.drop_conn++;
        f->refused++;
        warn_peer(f, "%s: connection refused: %zu open (max_connections)", ps, f->nconns);
        return;
    }
    peer *pe = ptab_get(&f->peers, k, ward_loop_now_ms() / 1000);
    if (!pe || (int64_t)pe->conns >= cfg->max_connections_per_peer) {
        close(fd);
        f->s->n.drop_conn++;
        f->refused++;
        if (pe)
            warn_peer(f,
                      "%s: connection refused: %u open from this address "
                      "(max_connections_per_peer)",
                      ps, pe->conns);
        return;
    }
    conn *c = calloc(1, sizeof(*c));
    if (c)
        c->fr = ward_framing_new(cfg->framing == FRAMING_LF      ? WARD_FRAMING_LF
                                 : cfg->framing == FRAMING_OCTET ? WARD_FRAMING_OCTET
                                                                 : WARD_FRAMING_AUTO,
                                 f->max_message);
    if (f->nconns == f->capconns) {
        size_t n = f->capconns ? f->capconns * 2 : 16;
        conn **v = realloc(f->conns, n * sizeof(*v));
        if (v) {
            f->conns = v;
            f->capconns = n;
        }
    }
    if (!c || !c->fr || f->nconns == f->capconns ||
        ward_loop_add(f->s->a->loop, fd, EPOLLIN, on_conn, c) < 0) {
        if (c)
            ward_framing_free(c->fr);
        free(c);
        close(fd);
        if (pe->conns == 0)
            ptab_del(&f->peers, pe);
        f->s->n.errors++;
        warn_peer(f, "%s: connection dropped: %s", ps, strerror(errno ? errno : ENOMEM));
        return;
    }
    c->f = f;
    c->fd = fd;
    memcpy(c->addr, k, 16);
    memcpy(c->peer, ps, sizeof(ps));
    c->last_ms = ward_loop_now_ms();
    c->idx = f->nconns;
    f->conns[f->nconns++] = c;
    pe->conns++;
    f->accepted++;
}

static void on_accept(void *ctx, int fd, uint32_t events) {
    (void)events;
    ssrc *f = ctx;
    for (int i = 0; i < ACCEPTS && !f->held; i++) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss)); /* the analyser does not know the kernel fills it */
        socklen_t sl = sizeof(ss);
        int c = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) {
            conn_open(f, c, &ss);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        /* out of descriptors or memory: the pending connection would wake us forever */
        f->s->n.errors++;
        agent_log(f->s->a, "error", "source %s: accept: %s; accepting again in %d ms", f->s->name,
                  strerror(errno), ACCEPT_RETRY_MS);
        ward_loop_mod(f->s->a->loop, f->fd, 0);
        f->accept_paused = 1;
        ward_loop_timer_after(f->s->a->loop, &f->accept_timer, ACCEPT_RETRY_MS);
        return;
    }
}

static void on_accept_retry(void *ctx) {
    ssrc *f = ctx;
    f->accept_paused = 0;
    if (!f->held) /* else on_hold turns accepting on again */
        ward_loop_mod(f->s->a->loop, f->fd, EPOLLIN);
}

/* ---- ops ---- */

/* The address fd is bound to, as text, into bound ("" kept when it cannot be read). */
static void bound_name(int fd, char *bound, size_t boundlen) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss)); /* the analyser does not know the kernel fills it */
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        fmt_addr(&ss, bound, boundlen);
}

/* Opens and binds a socket for listen_v (source name for messages): *fd and *tcp, the
 * address bound in bound. Returns 0 or -1 (logged). */
static int bind_listen(agent *a, const char *name, const char *listen_v, int *tcp, int *fdp,
                       char *bound, size_t boundlen) {
    char host[256], port[8], err[256];
    int numeric6;
    *fdp = -1;
    /* the configuration check has parsed it already: this does not fail */
    if (agent_cfg_parse_listen(listen_v, tcp, host, sizeof(host), port, &numeric6, err,
                               sizeof(err)) < 0) {
        agent_log(a, "error", "source %s: listen '%s': %s", name, listen_v, err);
        return -1;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = numeric6 ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = *tcp ? SOCK_STREAM : SOCK_DGRAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | (numeric6 ? AI_NUMERICHOST : 0);
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0) {
        agent_log(a, "error", "source %s: listen '%s': cannot resolve '%s': %s", name, listen_v,
                  host, gai_strerror(g));
        return -1;
    }
    int e = 0;
    char where[PEER_STR] = "";
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        struct sockaddr_storage ss = {0};
        memcpy(&ss, ai->ai_addr, ai->ai_addrlen < sizeof(ss) ? ai->ai_addrlen : sizeof(ss));
        fmt_addr(&ss, where, sizeof(where));
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        if (*tcp)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
#ifdef SO_RXQ_OVFL
        else if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) < 0)
            agent_log(a, "warning",
                      "source %s: SO_RXQ_OVFL: %s; kernel drops are not "
                      "counted",
                      name, strerror(errno));
#endif
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || (*tcp && listen(fd, SOMAXCONN) < 0)) {
            e = errno;
            close(fd);
            continue;
        }
        *fdp = fd;
        break;
    }
    freeaddrinfo(res);
    if (*fdp < 0) {
        long pn = strtol(port, NULL, 10); /* digits: the parser checked */
        int low = pn > 0 && pn < 1024 && e == EACCES;
        agent_log(a, "error", "source %s: listen '%s': cannot listen on %s: %s%s", name, listen_v,
                  where[0] ? where : host, strerror(e ? e : EADDRNOTAVAIL),
                  low ? " (a port below 1024 is bound at start, as root or with "
                        "CAP_NET_BIND_SERVICE; after a reload that adds one, restart)"
                      : "");
        return -1;
    }
    bound_name(*fdp, bound, boundlen);
    return 0;
}

/* The socket of listen: a copy of the one bound before the agent left root, if there is
 * one, else a new one. Returns 0 or -1 (logged). */
static int open_socket(ssrc *f) {
    src *s = f->s;
    agent *a = s->a;
    const char *listen_v = s->cfg->listen ? s->cfg->listen : "";
    for (size_t i = 0; i < a->nprebound; i++) {
        if (strcmp(a->prebound[i].listen, listen_v) != 0)
            continue;
        f->fd = fcntl(a->prebound[i].fd, F_DUPFD_CLOEXEC, 0);
        if (f->fd < 0) {
            agent_log(a, "error", "source %s: listen '%s': %s", s->name, listen_v, strerror(errno));
            return -1;
        }
        f->tcp = a->prebound[i].tcp;
        bound_name(f->fd, f->bound, sizeof(f->bound));
        return 0;
    }
    return bind_listen(a, s->name, listen_v, &f->tcp, &f->fd, f->bound, sizeof(f->bound));
}

/* The port of a listen value, 0 when it cannot be read. */
static long listen_port(const char *listen_v) {
    char host[256], port[8], err[256];
    int tcp, numeric6;
    if (agent_cfg_parse_listen(listen_v, &tcp, host, sizeof(host), port, &numeric6, err,
                               sizeof(err)) < 0)
        return 0;
    return strtol(port, NULL, 10);
}

int agent_syslog_prebind(agent *a) {
    for (size_t i = 0; i < a->cfg.nsources; i++) {
        const agent_source_cfg *c = &a->cfg.sources[i];
        long port = c->type == SRC_SYSLOG && c->listen ? listen_port(c->listen) : 0;
        if (port <= 0 || port >= 1024)
            continue;
        int dup = 0;
        for (size_t k = 0; k < a->nprebound && !dup; k++)
            dup = strcmp(a->prebound[k].listen, c->listen) == 0;
        if (dup)
            continue;
        agent_prebound *nv = realloc(a->prebound, (a->nprebound + 1) * sizeof(*nv));
        if (!nv) {
            agent_log(a, "error", "source %s: out of memory", c->name);
            return -1;
        }
        a->prebound = nv;
        agent_prebound *b = &a->prebound[a->nprebound];
        char bound[PEER_STR];
        if (bind_listen(a, c->name, c->listen, &b->tcp, &b->fd, bound, sizeof(bound)) < 0)
            return -1;
        if (!(b->listen = strdup(c->listen))) {
            close(b->fd);
            agent_log(a, "error", "source %s: out of memory", c->name);
            return -1;
        }
        a->nprebound++;
    }
    return 0;
}

void agent_syslog_prune(agent *a, int all) {
    size_t k = 0;
    for (size_t i = 0; i < a->nprebound; i++) {
        int used = 0;
        for (size_t j = 0; j < a->cfg.nsources && !all && !used; j++)
            used = a->cfg.sources[j].type == SRC_SYSLOG && a->cfg.sources[j].listen &&
                   strcmp(a->cfg.sources[j].listen, a->prebound[i].listen) == 0;
        if (used) {
            a->prebound[k++] = a->prebound[i];
            continue;
        }
        close(a->prebound[i].fd);
        free(a->prebound[i].listen);
    }
    a->nprebound = k;
    if (!k) {
        free(a->prebound);
        a->prebound = NULL;
    }
}

static int sl_start(src *s, const bm_store *bm) {
    (void)bm; /* no bookmarks: see the top of this file */
    ssrc *f = s->impl;
    agent *a = s->a;
    f->max_message = (size_t)s->cfg->max_message; /* at least 480: the table's minimum */
    /* a new epoch for every start, reloads included, so that ids never repeat */
    size_t kl = strlen(s->name) + 48;
    f->key = malloc(kl);
    if (!f->key)
        goto oom;
    uint64_t epoch = agent_now_ms();
    if (epoch < a->started_ms)
        epoch = a->started_ms;
    snprintf(f->key, kl, "syslog:%s:%llu", s->name, (unsigned long long)epoch);
    if (open_socket(f) < 0)
        return -1;
    if (f->tcp) {
        f->rbuf = malloc(TCP_READ);
        if (!f->rbuf || ptab_init(&f->peers, (size_t)s->cfg->max_connections) < 0)
            goto oom;
        if (ward_loop_add(a->loop, f->fd, EPOLLIN, on_accept, f) < 0)
            goto loop_fail;
        uint64_t every = s->cfg->idle_timeout_ms / 4;
        ward_loop_timer_after(a->loop, &f->idle_timer, every < 100 ? 100 : every);
    } else {
        /* a datagram longer than max_message must be seen to be longer: one more byte */
        f->dgsz = (f->max_message < 65535 ? f->max_message : 65535) + 1;
        f->dg = malloc(UDP_BATCH * f->dgsz);
        if (!f->dg || (s->cfg->rate_per_peer > 0 && ptab_init(&f->peers, UDP_PEERS) < 0))
            goto oom;
        if (ward_loop_add(a->loop, f->fd, EPOLLIN, on_udp, f) < 0)
            goto loop_fail;
    }
    agent_log(a, "info", "source %s: receiving syslog over %s on %s", s->name,
              f->tcp ? "tcp" : "udp", f->bound);
    return 0;
oom:
    agent_log(a, "error", "source %s: out of memory", s->name);
    return -1;
loop_fail:
    agent_log(a, "error", "source %s: event loop: %s", s->name, strerror(errno));
    return -1;
}

/* Reads what is waiting now, without blocking (--once). The agent calls drain until it
 * returns 0; a sender that never stops would keep it going, so drain reads for at most
 * DRAIN_MS in a row. */
static long sl_drain(src *s) {
    ssrc *f = s->impl;
    if (f->fd < 0)
        return 0;
    uint64_t now = ward_loop_now_ms();
    if (now - f->drain_last > DRAIN_MS)
        f->drain_until = now + DRAIN_MS;
    f->drain_last = now;
    if (now > f->drain_until)
        return 0;
    uint64_t before = s->n.records;
    if (!f->tcp) {
        udp_read(f, UDP_BATCHES);
    } else {
        if (!f->accept_paused)
            on_accept(f, f->fd, EPOLLIN);
        for (size_t i = f->nconns; i-- > 0;)
            if (!f->conns[i]->paused)
                conn_read(f, f->conns[i], TCP_READS);
    }
    return (long)(s->n.records - before);
}

static void sl_stats(src *s, ward_jw *w) {
    ssrc *f = s->impl;
    ward_jw_kcstr(w, "transport", f->tcp ? "tcp" : "udp");
    ward_jw_kcstr(w, "listen", f->bound);
    ward_jw_ku64(w, "connections_open", f->nconns);
    ward_jw_ku64(w, "connections_accepted", f->accepted);
    ward_jw_ku64(w, "connections_closed", f->closed);
    ward_jw_ku64(w, "connections_refused", f->refused);
    ward_jw_ku64(w, "connections_idle_closed", f->idle_closed);
    ward_jw_ku64(w, "connections_paused", f->npaused);
    ward_jw_ku64(w, "rate_pauses", f->rate_pauses);
    ward_jw_ku64(w, "backlog_holds", f->holds);
    ward_jw_ku64(w, "framing_errors", f->framing_errors);
    ward_jw_ku64(w, "framing_discarded_bytes", f->discarded);
    ward_jw_ku64(w, "datagrams", f->datagrams);
    ward_jw_ku64(w, "kernel_drops", f->s->n.drop_kernel);
    ward_jw_ku64(w, "empty_ignored", f->empty);
    ward_jw_ku64(w, "peers_tracked", f->peers.n);
    ward_jw_ku64(w, "rate_untracked", f->rate_untracked);
}

static void sl_free(src *s) {
    ssrc *f = s->impl;
    if (f) {
        ward_loop *l = s->a->loop;
        /* sl_stop has handed over the partial messages of open connections already */
        while (f->nconns)
            conn_close(f, f->conns[f->nconns - 1], 0);
        if (f->fd >= 0) {
            ward_loop_del(l, f->fd);
            close(f->fd);
        }
        ward_loop_timer_stop(l, &f->idle_timer);
        ward_loop_timer_stop(l, &f->resume_timer);
        ward_loop_timer_stop(l, &f->accept_timer);
        ward_loop_timer_stop(l, &f->hold_timer);
        ptab_fini(&f->peers);
        free(f->conns);
        free(f->rbuf);
        free(f->dg);
        free(f->key);
        free(f);
    }
    free(s->name);
    free(s);
}

/* Stopping: the last unfinished message of every connection becomes a record (the
 * sender will not send it again), then the connections are closed. */
static void sl_stop(src *s) {
    ssrc *f = s->impl;
    while (f && f->nconns)
        conn_close(f, f->conns[f->nconns - 1], 1);
}

/* durable and save are NULL: nothing can be re-read from a network sender */
static const src_ops syslog_ops = {"syslog", sl_start, sl_drain, NULL,
                                   NULL,     sl_stats, sl_free,  sl_stop};

src *src_syslog_new(agent *a, const agent_source_cfg *cfg) {
    src *s = calloc(1, sizeof(*s));
    ssrc *f = calloc(1, sizeof(*f));
    if (!s || !f) {
        free(s);
        free(f);
        return NULL;
    }
    s->ops = &syslog_ops;
    s->a = a;
    s->cfg = cfg;
    s->impl = f;
    f->s = s;
    f->fd = -1;
    ward_loop_timer_init(&f->idle_timer, on_idle, f);
    ward_loop_timer_init(&f->resume_timer, on_resume, f);
    ward_loop_timer_init(&f->accept_timer, on_accept_retry, f);
    ward_loop_timer_init(&f->hold_timer, on_hold, f);
    return s;
}
