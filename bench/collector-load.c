/* collector-load: the load generator of bench/collector.sh. One process, one epoll loop,
 * N agents: every agent's batches are built (compressed at the agent's zlib level,
 * signed) before the clock starts, so what is timed is the collector alone.
 *
 *   collector-load keygen DIR N
 *       makes DIR/kI.key and DIR/kI.pub, I = 1..N (to enrol)
 *   collector-load run --connect HOST:PORT --ca CA --keys DIR --agents N --batches B
 *                      --alerts FILE [--in-flight F] [--timeout MS]
 *       N TLS connections; each sends HELLO, reads WELCOME, then its B batches of FILE's
 *       lines (one batch: every line, seq following on) with F (default 8) in flight,
 *       and reads one ACK per batch. Prints
 *       "LOAD alerts=A batches=K ms=T rate=R/s connections=N" with A the alerts
 *       acknowledged, T the time from the first connect to the last ACK; exit status 0
 *       when every batch was acknowledged, 1 otherwise (what went wrong on stderr).
 *   collector-load baseline --db PATH --agents N --batches B --alerts FILE
 *       the store alone: the same alerts (rule, level, time, id, sightings of src_ip as
 *       the collector reads them, all read before the clock starts) stored through the
 *       SQLite store's store_batch in this process, one call per batch, agents in turn;
 *       no TLS, no signature, no inflate. Prints "BASELINE alerts=A ms=T rate=R/s". */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "store.h"
#include "ward/crypto.h"
#include "ward/json.h"
#include "ward/tls.h"
#include "ward/wire.h"

#define ZLIB_LEVEL 6 /* the agent's (agent/ship.c) */

enum { A_CONNECT = 0, A_HANDSHAKE, A_WELCOME, A_SEND, A_DONE, A_FAILED };

typedef struct agent {
    int fd;
    ward_tls *t;
    int state;
    ward_buf *frames; /* batches, built before the clock starts */
    size_t nframes, sent, acked;
    size_t off;   /* bytes of frames[sent] written */
    ward_buf in;  /* what was read, not answered yet */
    ward_buf out; /* HELLO */
    size_t out_done;
    uint32_t events;
} agent;

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what) {
    fprintf(stderr, "collector-load: %s\n", what);
    exit(2);
}

/* FILE's non-empty lines as records (pointing into data). */
static size_t read_lines(const char *path, ward_buf *data, ward_wire_rec **recs) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "collector-load: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    char *line = NULL;
    size_t cap = 0, n = 0, rcap = 0;
    ssize_t len;
    size_t *offs = NULL, *lens = NULL;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n')
            len--;
        if (len == 0)
            continue;
        if (n == rcap) {
            rcap = rcap ? rcap * 2 : 256;
            if (!(offs = realloc(offs, rcap * sizeof(*offs))) ||
                !(lens = realloc(lens, rcap * sizeof(*lens))))
                die("out of memory");
        }
        offs[n] = data->len;
        lens[n++] = (size_t)len;
        if (ward_buf_put(data, line, (size_t)len) < 0)
            die("out of memory");
    }
    free(line);
    fclose(f);
    if (!n)
        die("no alerts in the file");
    if (!(*recs = calloc(n, sizeof(**recs))))
        die("out of memory");
    for (size_t i = 0; i < n; i++) {
        (*recs)[i].p = (const uint8_t *)data->p + offs[i];
        (*recs)[i].len = lens[i];
    }
    free(offs);
    free(lens);
    return n;
}

static int cmd_keygen(int argc, char **argv) {
    if (argc != 4)
        die("usage: collector-load keygen DIR N");
    int n = atoi(argv[3]);
    char priv[4096], pub[4096], err[512];
    for (int i = 1; i <= n; i++) {
        snprintf(priv, sizeof(priv), "%s/k%d.key", argv[2], i);
        snprintf(pub, sizeof(pub), "%s/k%d.pub", argv[2], i);
        if (ward_crypto_keygen(priv, pub, err, sizeof(err)) < 0)
            die(err);
    }
    return 0;
}

typedef struct opts {
    const char *connect, *ca, *keys, *alerts, *db;
    size_t agents, batches, in_flight;
    int timeout_ms;
} opts;

static void parse(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof(*o));
    o->agents = 100;
    o->batches = 4;
    o->in_flight = 8;
    o->timeout_ms = 120000;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            die("an option without its value");
        if (strcmp(a, "--connect") == 0)
            o->connect = v;
        else if (strcmp(a, "--ca") == 0)
            o->ca = v;
        else if (strcmp(a, "--keys") == 0)
            o->keys = v;
        else if (strcmp(a, "--alerts") == 0)
            o->alerts = v;
        else if (strcmp(a, "--db") == 0)
            o->db = v;
        else if (strcmp(a, "--agents") == 0)
            o->agents = strtoul(v, NULL, 10);
        else if (strcmp(a, "--batches") == 0)
            o->batches = strtoul(v, NULL, 10);
        else if (strcmp(a, "--in-flight") == 0)
            o->in_flight = strtoul(v, NULL, 10);
        else if (strcmp(a, "--timeout") == 0)
            o->timeout_ms = atoi(v);
        else
            die("unknown option");
        i++;
    }
    if (!o->alerts || !o->agents || !o->batches || !o->in_flight)
        die("--alerts, and --agents, --batches, --in-flight above 0, are needed");
}

static void set_events(int ep, agent *a, uint32_t ev) {
    if (ev == a->events)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = a};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, a->fd, &e) < 0)
        die("epoll_ctl");
    a->events = ev;
}

static void fail(agent *a, size_t idx, const char *why) {
    fprintf(stderr, "collector-load: agent %zu: %s (%zu of %zu batches acknowledged)\n", idx + 1,
            why, a->acked, a->nframes);
    a->state = A_FAILED;
}

/* Writes what can go: HELLO, then batches while fewer than in_flight are unanswered.
 * Returns 0, or -1 (failed). */
static int pump_out(agent *a, size_t in_flight, size_t idx) {
    while (a->out_done < a->out.len) {
        ssize_t n = ward_tls_write(a->t, a->out.p + a->out_done, a->out.len - a->out_done);
        if (n == -2)
            return 0;
        if (n < 0) {
            fail(a, idx, ward_tls_error(a->t));
            return -1;
        }
        a->out_done += (size_t)n;
    }
    while (a->state == A_SEND && a->sent < a->nframes && a->sent - a->acked < in_flight) {
        ward_buf *f = &a->frames[a->sent];
        ssize_t n = ward_tls_write(a->t, f->p + a->off, f->len - a->off);
        if (n == -2)
            return 0;
        if (n < 0) {
            fail(a, idx, ward_tls_error(a->t));
            return -1;
        }
        a->off += (size_t)n;
        if (a->off == f->len) {
            a->off = 0;
            a->sent++;
        }
    }
    return 0;
}

/* Reads and answers WELCOME and ACKs. Returns 0, or -1 (failed). */
static int pump_in(agent *a, size_t idx) {
    uint8_t buf[16384];
    for (;;) {
        ssize_t n = ward_tls_read(a->t, buf, sizeof(buf));
        if (n == -2)
            break;
        if (n <= 0) {
            fail(a, idx, n == 0 ? "the collector closed the connection" : ward_tls_error(a->t));
            return -1;
        }
        if (ward_buf_put(&a->in, buf, (size_t)n) < 0)
            die("out of memory");
    }
    size_t at = 0;
    for (;;) {
        uint8_t type;
        const uint8_t *body;
        size_t blen, used;
        char err[256];
        int r =
            ward_wire_frame_next((const uint8_t *)a->in.p + at, a->in.len - at, WARD_WIRE_FRAME_MAX,
                                 &type, &body, &blen, &used, err, sizeof(err));
        if (r == 0)
            break;
        if (r < 0) {
            fail(a, idx, err);
            return -1;
        }
        at += used;
        ward_wire_ack m;
        if (type == WARD_WIRE_WELCOME && a->state == A_WELCOME &&
            ward_wire_welcome_parse(body, blen, &m) == 0 && m.version == WARD_WIRE_VERSION) {
            if (m.acked) {
                fail(a, idx, "WELCOME: the store holds this epoch already");
                return -1;
            }
            a->state = A_SEND;
        } else if (type == WARD_WIRE_ACK && a->state == A_SEND &&
                   ward_wire_ack_parse(body, blen, &m) == 0 && a->acked < a->sent) {
            a->acked++;
            if (a->acked == a->nframes)
                a->state = A_DONE;
        } else if (type == WARD_WIRE_ERROR) {
            uint16_t code = 0;
            const uint8_t *msg = (const uint8_t *)"";
            size_t ml = 0;
            ward_wire_error_parse(body, blen, &code, &msg, &ml);
            snprintf(err, sizeof(err), "ERROR %u: %.*s", code, (int)ml, (const char *)msg);
            fail(a, idx, err);
            return -1;
        } else if (type != WARD_WIRE_FEED) {
            snprintf(err, sizeof(err), "unexpected frame type %u", type);
            fail(a, idx, err);
            return -1;
        }
    }
    if (at) {
        memmove(a->in.p, a->in.p + at, a->in.len - at);
        a->in.len -= at;
    }
    return 0;
}

static int cmd_run(int argc, char **argv) {
    opts o;
    parse(argc, argv, &o);
    if (!o.connect || !o.ca || !o.keys)
        die("run: --connect, --ca and --keys are needed");
    char host[256], err[512];
    const char *colon = strrchr(o.connect, ':');
    if (!colon || (size_t)(colon - o.connect) >= sizeof(host))
        die("--connect HOST:PORT");
    memcpy(host, o.connect, (size_t)(colon - o.connect));
    host[colon - o.connect] = '\0';
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        die("cannot resolve --connect");
    ward_tls_ctx *ctx = ward_tls_client_new(o.ca, 0, err, sizeof(err));
    if (!ctx)
        die(err);
    ward_buf data;
    ward_buf_init(&data);
    ward_wire_rec *recs = NULL;
    size_t nr = read_lines(o.alerts, &data, &recs);
    agent *ag = calloc(o.agents, sizeof(*ag));
    if (!ag)
        die("out of memory");
    /* every batch of every agent, before the clock */
    for (size_t i = 0; i < o.agents; i++) {
        agent *a = &ag[i];
        char path[4096];
        snprintf(path, sizeof(path), "%s/k%zu.key", o.keys, i + 1);
        ward_key *k = ward_crypto_key_load_private(path, err, sizeof(err));
        if (!k)
            die(err);
        uint64_t epoch = now_us() + i; /* a new one every run */
        ward_wire_hello h = {WARD_WIRE_VERSION, {0}, epoch};
        ward_crypto_key_raw(k, h.agent);
        ward_buf_init(&a->in);
        ward_buf_init(&a->out);
        if (ward_wire_hello_put(&a->out, &h) < 0)
            die("out of memory");
        a->nframes = o.batches;
        if (!(a->frames = calloc(o.batches, sizeof(*a->frames))))
            die("out of memory");
        for (size_t j = 0; j < o.batches; j++) {
            ward_buf_init(&a->frames[j]);
            if (ward_wire_batch_put(&a->frames[j], k, epoch, 1 + j * nr, recs, nr, ZLIB_LEVEL) < 0)
                die("cannot build a batch");
        }
        ward_crypto_key_free(k);
        a->fd = -1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    uint64_t t0 = now_us();
    for (size_t i = 0; i < o.agents; i++) {
        agent *a = &ag[i];
        a->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (a->fd < 0)
            die("socket");
        if (connect(a->fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS) {
            fail(a, i, strerror(errno));
            continue;
        }
        if (!(a->t = ward_tls_new(ctx, a->fd, "localhost")))
            die("out of memory");
        struct epoll_event e = {.events = EPOLLOUT, .data.ptr = a};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, a->fd, &e) < 0)
            die("epoll_ctl");
        a->events = EPOLLOUT;
        a->state = A_HANDSHAKE;
    }
    size_t live = 0;
    for (size_t i = 0; i < o.agents; i++)
        live += ag[i].state == A_HANDSHAKE;
    uint64_t deadline = t0 + (uint64_t)o.timeout_ms * 1000u;
    while (live) {
        struct epoll_event ev[128];
        int n = epoll_wait(ep, ev, 128, 1000);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        if (now_us() > deadline) {
            fprintf(stderr, "collector-load: timed out after %d ms\n", o.timeout_ms);
            break;
        }
        for (int e = 0; e < n; e++) {
            agent *a = ev[e].data.ptr;
            size_t idx = (size_t)(a - ag);
            uint32_t want = 0;
            if (a->state == A_HANDSHAKE) {
                int r = ward_tls_handshake(a->t);
                if (r < 0)
                    fail(a, idx, ward_tls_error(a->t));
                else if (r == 0)
                    want = ward_tls_want(a->t);
                else
                    a->state = A_WELCOME;
            }
            if (a->state == A_WELCOME || a->state == A_SEND) {
                if (pump_in(a, idx) == 0 && pump_out(a, o.in_flight, idx) == 0) {
                    want = EPOLLIN | ward_tls_want(a->t);
                    if (a->out_done < a->out.len || (a->state == A_SEND && a->sent < a->nframes &&
                                                     a->sent - a->acked < o.in_flight))
                        want |= EPOLLOUT;
                }
            }
            if (a->state == A_DONE || a->state == A_FAILED) {
                epoll_ctl(ep, EPOLL_CTL_DEL, a->fd, NULL);
                live--;
                continue;
            }
            set_events(ep, a, want ? want : EPOLLIN);
        }
    }
    uint64_t us = now_us() - t0;
    size_t acked = 0, complete = 0;
    for (size_t i = 0; i < o.agents; i++) {
        acked += ag[i].acked;
        complete += ag[i].state == A_DONE;
    }
    printf("LOAD alerts=%zu batches=%zu ms=%.1f rate=%.0f/s connections=%zu\n", acked * nr, acked,
           (double)us / 1000.0, us ? (double)(acked * nr) * 1e6 / (double)us : 0.0, o.agents);
    for (size_t i = 0; i < o.agents; i++) {
        agent *a = &ag[i];
        ward_tls_free(a->t);
        if (a->fd >= 0)
            close(a->fd);
        for (size_t j = 0; j < a->nframes; j++)
            ward_buf_fini(&a->frames[j]);
        free(a->frames);
        ward_buf_fini(&a->in);
        ward_buf_fini(&a->out);
    }
    free(ag);
    close(ep);
    ward_tls_ctx_free(ctx);
    freeaddrinfo(res);
    free(recs);
    ward_buf_fini(&data);
    return complete == o.agents ? 0 : 1;
}

static int cmd_baseline(int argc, char **argv) {
    opts o;
    parse(argc, argv, &o);
    if (!o.db)
        die("baseline: --db is needed");
    char err[512];
    ward_buf data;
    ward_buf_init(&data);
    ward_wire_rec *recs = NULL;
    size_t nr = read_lines(o.alerts, &data, &recs);
    store st;
    if (store_sqlite_ops.open(&st, o.db, err, sizeof(err)) < 0)
        die(err);
    int64_t now = wall_ms();
    int64_t *ids = calloc(o.agents, sizeof(*ids));
    if (!ids)
        die("out of memory");
    for (size_t i = 0; i < o.agents; i++) {
        uint8_t pub[WARD_PUBKEY_LEN];
        memset(pub, 0, sizeof(pub));
        memcpy(pub, &i, sizeof(i));
        char name[32], org[16];
        snprintf(name, sizeof(name), "a%zu", i + 1);
        snprintf(org, sizeof(org), "org%zu", (i + 1) % 4);
        store_agent sa;
        if (st.ops->enroll(&st, org, name, pub, now, err, sizeof(err)) < 0 ||
            st.ops->agent_by_key(&st, pub, &sa, err, sizeof(err)) != 1)
            die(err);
        ids[i] = sa.id;
    }
    /* what the collector reads out of each alert, read once: every batch holds the same */
    char *fields[1] = {"src_ip"};
    coll_arena arena = {0};
    coll_fields *cf = calloc(nr, sizeof(*cf));
    store_alert *al = calloc(nr, sizeof(*al));
    store_sighting *sg = calloc(nr, sizeof(*sg));
    if (!cf || !al || !sg)
        die("out of memory");
    for (size_t i = 0; i < nr; i++)
        if (coll_extract(recs[i].p, recs[i].len, fields, 1, &arena, &cf[i], err, sizeof(err)) < 0)
            die(err);
    size_t nsg = 0;
    for (size_t i = 0; i < nr; i++) {
        al[i].json = recs[i].p;
        al[i].len = recs[i].len;
        al[i].rule = cf[i].rule != COLL_NONE ? arena.p + cf[i].rule : "";
        al[i].level = cf[i].level;
        al[i].time_ms = cf[i].time_ms ? cf[i].time_ms : now;
        al[i].alert_id = cf[i].alert_id != COLL_NONE ? arena.p + cf[i].alert_id : "";
        if (cf[i].ind[0] != COLL_NONE)
            sg[nsg++] = (store_sighting){"src_ip", arena.p + cf[i].ind[0], al[i].rule,
                                         al[i].time_ms < now ? al[i].time_ms : now, 0};
    }
    uint64_t t0 = now_us();
    size_t stored_all = 0;
    for (size_t j = 0; j < o.batches; j++)
        for (size_t i = 0; i < o.agents; i++) {
            size_t k = 0;
            for (size_t r = 0; r < nr; r++) {
                al[r].seq = 1 + j * nr + r;
                if (cf[r].ind[0] != COLL_NONE)
                    sg[k++].seq = al[r].seq;
            }
            uint64_t acked;
            size_t stored;
            if (st.ops->store_batch(&st, ids[i], 1, al, nr, sg, nsg, wall_ms(), &acked, &stored,
                                    err, sizeof(err)) < 0)
                die(err);
            stored_all += stored;
        }
    uint64_t us = now_us() - t0;
    printf("BASELINE alerts=%zu ms=%.1f rate=%.0f/s\n", stored_all, (double)us / 1000.0,
           us ? (double)stored_all * 1e6 / (double)us : 0.0);
    st.ops->close(&st);
    free(ids);
    free(cf);
    free(al);
    free(sg);
    free(arena.p);
    free(recs);
    ward_buf_fini(&data);
    return stored_all == o.agents * o.batches * nr ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
        return cmd_keygen(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return cmd_run(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "baseline") == 0)
        return cmd_baseline(argc, argv);
    die("usage: collector-load keygen DIR N | run ... | baseline ...");
    return 2;
}
