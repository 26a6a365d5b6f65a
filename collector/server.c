/* The listener and the agents' connections: TLS, frames, the protocol of docs/wire.md.
 *
 * Each connection is a small state machine (handshake, waiting for HELLO, ready, closing
 * after an ERROR) with a read buffer that holds at most one frame beyond what was
 * processed, and a write queue. When the queue passes limits.write_buffer the collector
 * stops reading from that agent (its own TCP window then holds it back) until the queue
 * drains. A frame is answered before the next one is read, so ACKs go out in order. */
#include "collector.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ward/wire.h"

enum { ST_HANDSHAKE = 0, ST_HELLO, ST_READY, ST_CLOSING };

struct conn {
    collector *c;
    int fd;
    ward_tls *t;
    int state;
    char peer[64];
    ward_buf in, out;
    size_t out_done;
    uint32_t events;
    uint32_t want; /* what TLS waits for */
    uint64_t last_ms;
    size_t idx; /* in c->conns */
    /* after HELLO */
    store_agent ag;
    ward_key *key;
    char fp[65];
    uint64_t epoch;
    int wants_feed;
    uint64_t feed_have;
    /* group commit: what this connection stored waits for the commit of the group; its
     * write queue is held (nothing of it is sent) from hold_at on until then */
    int hold;
    size_t hold_at;
};

static void set_events(conn *k);

static size_t pending(const conn *k) {
    return k->out.len - k->out_done;
}

static void conn_free(conn *k) {
    collector *c = k->c;
    if (k->hold) /* what it stored commits with the group; its ACKs are not sent */
        for (size_t i = 0; i < c->ngconns; i++)
            if (c->gconns[i] == k)
                c->gconns[i] = NULL;
    ward_loop_del(c->loop, k->fd);
    ward_tls_free(k->t);
    close(k->fd);
    ward_buf_fini(&k->in);
    ward_buf_fini(&k->out);
    ward_crypto_key_free(k->key);
    /* swap-remove from the table */
    c->conns[k->idx] = c->conns[--c->nconns];
    c->conns[k->idx]->idx = k->idx;
    c->n.closed++;
    coll_touch(c);
    free(k);
}

/* Who the peer is, for every message about it: the address, and the agent once known. */
static void who(const conn *k, char *buf, size_t len) {
    if (k->key)
        snprintf(buf, len, "%s (agent %s/%s, key %.16s)", k->peer, k->ag.org, k->ag.name, k->fp);
    else
        snprintf(buf, len, "%s", k->peer);
}

/* Refuses what the peer sent: logged with its address and key, counted by code, an
 * ERROR frame queued; the connection closes once it is sent. Returns -1. */
static int reject(conn *k, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int reject(conn *k, int code, const char *fmt, ...) {
    char msg[1024], w[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    who(k, w, sizeof(w));
    k->c->n.rejected[code > 0 && code < 10 ? code : 0]++;
    coll_touch(k->c);
    coll_log(k->c, "warning", "rejected from %s: %s: %s", w, ward_wire_err_name(code), msg);
    ward_wire_error_put(&k->out, (uint16_t)code, msg);
    k->state = ST_CLOSING;
    return -1;
}

static void send_feed(conn *k) {
    collector *c = k->c;
    if (ward_wire_frame_put(&k->out, WARD_WIRE_FEED, (const uint8_t *)c->feed_doc.p,
                            c->feed_doc.len) == 0) {
        k->feed_have = c->feed_version;
        c->n.feeds_sent++;
        coll_touch(c);
    }
}

static int on_hello(conn *k, const uint8_t *body, size_t len) {
    collector *c = k->c;
    ward_wire_hello h;
    char err[512];
    /* WELCOME says what is stored: durably, so an open group is committed first */
    coll_group_commit(c);
    if (ward_wire_hello_parse(body, len, &h) < 0)
        return reject(k, WARD_WIRE_E_MALFORMED, "HELLO of %zu bytes does not decode", len);
    c->n.hellos++;
    /* another version may lay the rest out differently: only its version is read */
    if (h.version != WARD_WIRE_VERSION)
        return reject(k, WARD_WIRE_E_VERSION, "HELLO version %u (this collector speaks %u)",
                      h.version, WARD_WIRE_VERSION);
    ward_key *key = ward_crypto_key_from_raw(h.agent);
    if (!key)
        return reject(k, WARD_WIRE_E_MALFORMED, "HELLO: not an Ed25519 public key");
    ward_crypto_key_fingerprint(key, k->fp);
    int r = c->st.ops->agent_by_key(&c->st, h.agent, &k->ag, err, sizeof(err));
    if (r <= 0) {
        ward_crypto_key_free(key);
        if (r < 0) {
            coll_log(c, "error", "store: %s", err);
            return reject(k, WARD_WIRE_E_STORE, "cannot look the key up: retry later");
        }
        return reject(k, WARD_WIRE_E_UNKNOWN, "key %s is not enrolled", k->fp);
    }
    if (k->ag.revoked) {
        ward_crypto_key_free(key);
        return reject(k, WARD_WIRE_E_REVOKED, "key %s (agent %s/%s) is revoked", k->fp, k->ag.org,
                      k->ag.name);
    }
    uint64_t acked = 0;
    if (c->st.ops->acked(&c->st, k->ag.id, h.epoch, &acked, err, sizeof(err)) < 0) {
        ward_crypto_key_free(key);
        coll_log(c, "error", "store: %s", err);
        return reject(k, WARD_WIRE_E_STORE, "cannot read what is stored: retry later");
    }
    k->key = key;
    k->epoch = h.epoch;
    k->state = ST_READY;
    ward_wire_ack m = {WARD_WIRE_VERSION, h.epoch, acked};
    ward_wire_welcome_put(&k->out, &m);
    coll_log(c, "info", "%s: agent %s/%s (key %.16s), epoch %llu, acked %llu", k->peer, k->ag.org,
             k->ag.name, k->fp, (unsigned long long)h.epoch, (unsigned long long)acked);
    return 0;
}

static int grow(void **p, size_t *cap, size_t n, size_t size) {
    if (n <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < n)
        nc *= 2;
    void *q = realloc(*p, nc * size);
    if (!q)
        return -1;
    *p = q;
    *cap = nc;
    return 0;
}

/* Checks one batch of a group up to its inflation: version, key, signature, limits.
 * Returns 0, or -1 with *code and err (nothing sent yet: the caller stores the batches
 * before it first). */
static int batch_open(conn *k, const uint8_t *body, size_t len, ward_batch *b, int *code, char *err,
                      size_t errlen) {
    collector *c = k->c;
    *code = 0;
    if (ward_wire_batch_open(body, len, b, code, err, errlen) < 0) {
        if (!*code)
            *code = WARD_WIRE_E_MALFORMED;
        return -1;
    }
    if (memcmp(b->agent, k->ag.pubkey, WARD_PUBKEY_LEN) != 0) {
        *code = WARD_WIRE_E_MALFORMED;
        snprintf(err, errlen, "the batch names another agent key than HELLO");
        return -1;
    }
    int v = ward_wire_batch_verify(b, k->key);
    if (v != 1) {
        *code = WARD_WIRE_E_SIGNATURE;
        snprintf(err, errlen, "batch seq %llu..: %s", (unsigned long long)b->first_seq,
                 v == 0 ? "the signature does not verify" : "the signature cannot be checked");
        return -1;
    }
    if (b->raw_len > c->cfg.limits.max_batch_bytes) {
        *code = WARD_WIRE_E_TOO_LARGE;
        snprintf(err, errlen, "batch seq %llu..: raw_len %u over the limit %llu",
                 (unsigned long long)b->first_seq, b->raw_len,
                 (unsigned long long)c->cfg.limits.max_batch_bytes);
        return -1;
    }
    if (b->count > (uint64_t)c->cfg.limits.max_batch_alerts) {
        *code = WARD_WIRE_E_TOO_LARGE;
        snprintf(err, errlen, "batch seq %llu..: %u alerts over limits.max_batch_alerts %lld",
                 (unsigned long long)b->first_seq, b->count,
                 (long long)c->cfg.limits.max_batch_alerts);
        return -1;
    }
    if (b->count == 0 || b->count > b->raw_len / 4 || b->first_seq == 0 ||
        b->first_seq > UINT64_MAX - b->count) {
        *code = WARD_WIRE_E_MALFORMED;
        snprintf(err, errlen, "batch seq %llu..: %u records in %u bytes do not make a batch",
                 (unsigned long long)b->first_seq, b->count, b->raw_len);
        return -1;
    }
    return 0;
}

/* ---- group commit: the batches of every connection answered in one loop iteration go to
 * the store in one transaction (one fsync); each connection's ACKs are held until it
 * commits (coll_group_commit, from the loop after the descriptors were handled). ---- */

/* The counters a failed group takes back. */
static void group_counters(collector *c, uint64_t *v, int restore) {
    uint64_t *f[] = {&c->n.batches,           &c->n.groups,           &c->n.alerts_stored,
                     &c->n.alerts_replayed,   &c->n.replays,          &c->n.sightings,
                     &c->n.sightings_allowed, &c->n.sightings_dropped};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (restore)
            *f[i] = v[i];
        else
            v[i] = *f[i];
}

/* Opens the group (when the store has group commit) and holds k's write queue. Returns 0
 * or -1 (logged). */
static int group_join(conn *k) {
    collector *c = k->c;
    char err[512];
    if (!c->st.ops->group_begin)
        return 0;
    if (grow((void **)&c->gconns, &c->capgconns, c->ngconns + 1, sizeof(*c->gconns)) < 0) {
        coll_log(c, "error", "group commit: out of memory");
        return -1;
    }
    if (!c->group_open) {
        if (c->st.ops->group_begin(&c->st, err, sizeof(err)) < 0) {
            coll_log(c, "error", "store: %s", err);
            return -1;
        }
        c->group_open = 1;
        c->group_bytes = 0;
        group_counters(c, c->group_saved, 0);
    }
    if (!k->hold) {
        k->hold = 1;
        k->hold_at = k->out.len;
        c->gconns[c->ngconns++] = k;
    }
    return 0;
}

void coll_group_commit(collector *c) {
    if (!c->group_open)
        return;
    char err[512];
    c->group_open = 0;
    int ok = c->st.ops->group_commit(&c->st, err, sizeof(err)) == 0;
    if (ok) {
        c->n.commits++;
    } else {
        coll_log(c, "error", "store: %s", err);
        group_counters(c, c->group_saved, 1);
    }
    for (size_t i = 0; i < c->ngconns; i++) {
        conn *k = c->gconns[i];
        if (!k)
            continue; /* closed meanwhile */
        k->hold = 0;
        if (!ok) {
            /* none of its ACKs may go: what it sent is not stored */
            k->out.len = k->hold_at;
            if (k->state != ST_CLOSING)
                reject(k, WARD_WIRE_E_STORE, "cannot store the batch: retry later");
            else
                ward_wire_error_put(&k->out, WARD_WIRE_E_STORE,
                                    "cannot store the batch: retry later");
        }
        set_events(k); /* EPOLLOUT: the next turn of the loop writes the ACKs */
    }
    c->ngconns = 0;
}

static void on_after_io(void *ctx) {
    coll_group_commit(ctx);
}

/* Stores the n checked, inflated and read batches b (total records, in c->recs and
 * c->fields) in one transaction and acknowledges each. Returns 0, or -1 after a refusal
 * (gap, store error). */
static int store_group(conn *k, const ward_batch *b, size_t n, size_t total) {
    collector *c = k->c;
    char err[512];
    size_t nf = c->cfg.region.nindicator_fields;
    if (nf > COLL_MAX_IND)
        nf = COLL_MAX_IND;
    size_t nsg = 0;
    for (size_t i = 0; i < total; i++)
        for (size_t j = 0; j < nf; j++)
            if (c->fields[i].ind[j] != COLL_NONE)
                nsg++;
    if (grow((void **)&c->sights, &c->capsights, nsg ? nsg : 1, sizeof(*c->sights)) < 0)
        return reject(k, WARD_WIRE_E_STORE, "out of memory: retry later");
    int64_t now = coll_now_ms();
    const char *a = c->arena.p;
    nsg = 0;
    uint64_t allowed = 0, too_long = 0, seq = b[0].first_seq;
    for (size_t i = 0; i < total; i++) {
        const coll_fields *f = &c->fields[i];
        store_alert *al = &c->alerts[i];
        al->seq = seq + i;
        al->json = c->recs[i].p;
        al->len = c->recs[i].len;
        al->rule = f->rule != COLL_NONE ? a + f->rule : "";
        al->level = f->level;
        al->time_ms = f->time_ms ? f->time_ms : now;
        al->alert_id = f->alert_id != COLL_NONE ? a + f->alert_id : "";
        for (size_t j = 0; j < nf; j++) {
            if (f->ind[j] == COLL_NONE)
                continue;
            const char *val = a + f->ind[j];
            if (strlen(val) >= sizeof(((store_regional *)0)->value)) {
                too_long++;
                continue;
            }
            if (coll_allow_match(c->cfg.allow, c->cfg.region.nallow, val)) {
                allowed++;
                continue;
            }
            store_sighting *s = &c->sights[nsg++];
            s->field = c->cfg.region.indicator_fields[j];
            s->value = val;
            s->rule = al->rule;
            /* a sighting counts when it happened, but never in the future */
            s->time_ms = al->time_ms < now ? al->time_ms : now;
            s->seq = al->seq;
        }
    }
    uint64_t acked = 0, last = seq + total - 1;
    size_t stored = 0;
    if (group_join(k) < 0)
        return reject(k, WARD_WIRE_E_STORE, "cannot store the batch: retry later");
    int r = c->st.ops->store_batch(&c->st, k->ag.id, b[0].epoch, c->alerts, total, c->sights, nsg,
                                   now, &acked, &stored, err, sizeof(err));
    if (r == -2)
        return reject(k, WARD_WIRE_E_GAP, "batch seq %llu..%llu: stored up to %llu (%s)",
                      (unsigned long long)seq, (unsigned long long)last, (unsigned long long)acked,
                      err);
    if (r < 0) {
        coll_log(c, "error", "store: %s", err);
        return reject(k, WARD_WIRE_E_STORE, "cannot store the batch: retry later");
    }
    c->n.batches += n;
    c->n.groups++;
    c->group_bytes += c->recs[total - 1].p + c->recs[total - 1].len - c->recs[0].p;
    c->n.alerts_stored += stored;
    /* what was skipped is the start of the run: seq .. seq + total - stored - 1 */
    uint64_t before = seq + (total - stored) - 1;
    if (stored < total) {
        c->n.alerts_replayed += total - stored;
        for (size_t i = 0; i < n; i++)
            if (b[i].first_seq + b[i].count - 1 <= before)
                c->n.replays++;
        char w[400];
        who(k, w, sizeof(w));
        coll_log(c, "info", "replay from %s: seq %llu..%llu already stored, acknowledged", w,
                 (unsigned long long)seq, (unsigned long long)before);
    }
    if (stored) {
        c->n.sightings_allowed += allowed;
        c->n.sightings_dropped += too_long;
        c->n.sightings += nsg;
        if (nsg && !c->corr_due) {
            /* soon, not at once: a burst of batches is correlated together; and under a
             * steady flow at most once per region.interval (each correlation reads the
             * sightings of every indicator that came in: one read of an address seen
             * in many batches, not one per 20 ms) */
            uint64_t since = (uint64_t)now - c->last_corr_ms, iv = c->cfg.region.interval_ms;
            c->corr_due = 1;
            ward_loop_timer_after(c->loop, &c->corr_timer,
                                  since >= iv || iv - since < 20 ? 20 : iv - since);
        }
    }
    coll_touch(c);
    /* one ACK per batch, each with the highest contiguous seq stored (docs/wire.md) */
    for (size_t i = 0; i < n; i++) {
        ward_wire_ack m = {0, b[i].epoch, acked};
        ward_wire_ack_put(&k->out, &m);
    }
    /* a group big enough commits now: the disk writes the next one while it is read */
    if (c->group_open && c->group_bytes >= COLL_GROUP_BYTES)
        coll_group_commit(c);
    return 0;
}

/* Answers a run of n BATCH frames of one agent whose sequence numbers follow each other:
 * each is checked, inflated and read, and all that pass are stored in one transaction
 * (one commit, one fsync, for what the agent had in flight), then acknowledged one by
 * one. A batch that fails is refused after the ones before it are stored. */
static void on_batches(conn *k, const uint8_t *const *bodies, const size_t *lens, size_t n) {
    collector *c = k->c;
    ward_batch b[COLL_GROUP];
    int code = 0;
    char err[512], e1[256];
    size_t ok = 0, total = 0;
    int failed = 0;
    c->arena.len = 0;
    size_t nf = c->cfg.region.nindicator_fields;
    if (nf > COLL_MAX_IND)
        nf = COLL_MAX_IND;
    for (; ok < n; ok++) {
        ward_batch *x = &b[ok];
        if (batch_open(k, bodies[ok], lens[ok], x, &code, err, sizeof(err)) < 0) {
            failed = 1;
            break;
        }
        size_t need = total + x->count;
        if (grow((void **)&c->recs, &c->caprecs, need, sizeof(*c->recs)) < 0 ||
            grow((void **)&c->alerts, &c->capalerts, need, sizeof(*c->alerts)) < 0 ||
            grow((void **)&c->fields, &c->capfields, need, sizeof(*c->fields)) < 0) {
            code = WARD_WIRE_E_STORE;
            snprintf(err, sizeof(err), "out of memory for %zu records: retry later", need);
            failed = 1;
            break;
        }
        if (ward_wire_batch_inflate(x, c->cfg.limits.max_batch_bytes,
                                    (unsigned)c->cfg.limits.max_ratio, &c->inflated[ok],
                                    c->recs + total, &code, e1, sizeof(e1)) < 0) {
            snprintf(err, sizeof(err), "batch seq %llu..: %s", (unsigned long long)x->first_seq,
                     e1);
            if (!code)
                code = WARD_WIRE_E_MALFORMED;
            failed = 1;
            break;
        }
        uint32_t i;
        for (i = 0; i < x->count; i++)
            if (coll_extract(c->recs[total + i].p, c->recs[total + i].len,
                             c->cfg.region.indicator_fields, nf, &c->arena, &c->fields[total + i],
                             e1, sizeof(e1)) < 0)
                break;
        if (i < x->count) {
            snprintf(err, sizeof(err), "batch seq %llu: the alert is not JSON: %s",
                     (unsigned long long)x->first_seq + i, e1);
            code = WARD_WIRE_E_MALFORMED;
            failed = 1;
            break;
        }
        total = need;
    }
    int refused = ok && store_group(k, b, ok, total) < 0; /* gap, store error */
    if (failed && !refused)
        reject(k, code, "%s", err);
    /* a run may have grown every buffer to max_batch_bytes: keep only small ones */
    for (size_t i = 0; i < n; i++)
        if (c->inflated[i].cap > (8u << 20)) {
            ward_buf_fini(&c->inflated[i]);
            ward_buf_init(&c->inflated[i]);
        }
}

static int on_frame(conn *k, uint8_t type, const uint8_t *body, size_t len) {
    if (k->state == ST_HELLO) {
        if (type != WARD_WIRE_HELLO)
            return reject(k, WARD_WIRE_E_MALFORMED, "frame type %u before HELLO", type);
        return on_hello(k, body, len);
    }
    switch (type) {
    case WARD_WIRE_BATCH:
        on_batches(k, &body, &len, 1);
        return k->state == ST_CLOSING ? -1 : 0;
    case WARD_WIRE_FEED_GET: {
        uint64_t have;
        if (ward_wire_feed_get_parse(body, len, &have) < 0)
            return reject(k, WARD_WIRE_E_MALFORMED, "FEED_GET of %zu bytes does not decode", len);
        k->wants_feed = 1;
        k->feed_have = have;
        if (k->c->feed_version > have && k->c->feed_doc.len)
            send_feed(k);
        return 0;
    }
    case WARD_WIRE_HELLO:
        return reject(k, WARD_WIRE_E_MALFORMED, "a second HELLO");
    default:
        return reject(k, WARD_WIRE_E_MALFORMED, "unexpected frame type %u", type);
    }
}

/* A BATCH frame (body) and the BATCH frames right after it in the read buffer (from
 * offset at) that continue its sequence, within the limits of one batch: answered as one
 * group. Returns the bytes of the frames taken after the first. */
static size_t batch_run(conn *k, const uint8_t *body, size_t blen, size_t at) {
    collector *c = k->c;
    const uint8_t *bodies[COLL_GROUP];
    size_t lens[COLL_GROUP], n = 1, taken = 0;
    bodies[0] = body;
    lens[0] = blen;
    ward_batch prev, nx;
    int code;
    char err[256];
    if (ward_wire_batch_open(body, blen, &prev, &code, err, sizeof(err)) == 0) {
        uint64_t raw = prev.raw_len, cnt = prev.count;
        while (n < COLL_GROUP) {
            uint8_t type;
            const uint8_t *b2;
            size_t l2, used;
            if (ward_wire_frame_next((const uint8_t *)k->in.p + at + taken, k->in.len - at - taken,
                                     (uint32_t)c->cfg.limits.max_frame, &type, &b2, &l2, &used, err,
                                     sizeof(err)) != 1 ||
                type != WARD_WIRE_BATCH ||
                ward_wire_batch_open(b2, l2, &nx, &code, err, sizeof(err)) < 0)
                break;
            /* only what continues the run, and no more than one batch may hold */
            if (nx.epoch != prev.epoch || prev.count > UINT64_MAX - prev.first_seq ||
                nx.first_seq != prev.first_seq + prev.count ||
                raw + nx.raw_len > c->cfg.limits.max_batch_bytes ||
                cnt + nx.count > (uint64_t)c->cfg.limits.max_batch_alerts)
                break;
            bodies[n] = b2;
            lens[n++] = l2;
            taken += used;
            raw += nx.raw_len;
            cnt += nx.count;
            prev = nx;
        }
    }
    on_batches(k, bodies, lens, n);
    return taken;
}

/* Answers the whole frames in the read buffer, while the write queue has room. */
static void process(conn *k) {
    collector *c = k->c;
    size_t at = 0;
    while ((k->state == ST_HELLO || k->state == ST_READY) &&
           pending(k) < c->cfg.limits.write_buffer) {
        uint8_t type;
        const uint8_t *body;
        size_t blen, used;
        char err[256];
        const uint8_t *p = (const uint8_t *)k->in.p + at;
        size_t avail = k->in.len - at;
        int r = ward_wire_frame_next(p, avail, (uint32_t)c->cfg.limits.max_frame, &type, &body,
                                     &blen, &used, err, sizeof(err));
        if (r == 0)
            break;
        if (r < 0) {
            uint32_t flen =
                avail >= 4
                    ? ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3])
                    : 0;
            reject(k,
                   flen > c->cfg.limits.max_frame ? WARD_WIRE_E_TOO_LARGE : WARD_WIRE_E_MALFORMED,
                   "%s", err);
            break;
        }
        at += used;
        if (type == WARD_WIRE_BATCH && k->state == ST_READY)
            at += batch_run(k, body, blen, at);
        else
            on_frame(k, type, body, blen);
    }
    if (at) {
        memmove(k->in.p, k->in.p + at, k->in.len - at);
        k->in.len -= at;
    }
}

/* Writes what is queued. Returns 0 (all written, or TLS must wait: k->want) or -1. */
static int flush(conn *k) {
    if (k->hold)
        return 0; /* ACKs of a group not committed yet */
    while (pending(k)) {
        ssize_t n = ward_tls_write(k->t, k->out.p + k->out_done, pending(k));
        if (n > 0) {
            k->out_done += (size_t)n;
            k->c->n.bytes_out += (uint64_t)n;
            continue;
        }
        if (n == -2) {
            k->want |= ward_tls_want(k->t);
            return 0;
        }
        coll_log(k->c, "info", "%s: write: %s", k->peer, ward_tls_error(k->t));
        return -1;
    }
    ward_buf_reset(&k->out);
    k->out_done = 0;
    return 0;
}

static void set_events(conn *k) {
    uint32_t ev = k->hold ? 0 : k->want;
    if (k->state != ST_CLOSING && pending(k) < k->c->cfg.limits.write_buffer)
        ev |= EPOLLIN;
    if (pending(k) && !k->hold)
        ev |= EPOLLOUT;
    if (!ev)
        ev = EPOLLIN;
    if (ev != k->events && ward_loop_mod(k->c->loop, k->fd, ev) == 0)
        k->events = ev;
}

/* Moves the connection as far as it can go without waiting. May free k. */
static void pump(conn *k) {
    collector *c = k->c;
    k->want = 0;
    if (k->state == ST_HANDSHAKE) {
        int r = ward_tls_handshake(k->t);
        if (r < 0) {
            c->n.tls_failures++;
            coll_touch(c);
            coll_log(c, "warning", "%s: TLS handshake failed: %s", k->peer, ward_tls_error(k->t));
            conn_free(k);
            return;
        }
        if (r == 0) {
            k->want = ward_tls_want(k->t);
            set_events(k);
            return;
        }
        k->state = ST_HELLO;
    }
    uint8_t buf[65536];
    for (;;) {
        if (flush(k) < 0) {
            conn_free(k);
            return;
        }
        if (k->state == ST_CLOSING) {
            if (!pending(k)) {
                conn_free(k);
                return;
            }
            break;
        }
        if (k->wants_feed && k->feed_have < c->feed_version && c->feed_doc.len &&
            pending(k) < c->cfg.limits.write_buffer)
            send_feed(k);
        process(k);
        if (k->state == ST_CLOSING || pending(k) >= c->cfg.limits.write_buffer) {
            if (k->want || k->hold)
                break; /* TLS waits, or the group's commit: EPOLLOUT brings us back */
            continue;  /* write what was answered */
        }
        if (k->in.len > c->cfg.limits.max_frame + WARD_WIRE_HDR_LEN)
            break; /* cannot happen: frame_next refuses longer frames */
        /* read a burst (what TLS and the socket hold, up to COLL_READ_BURST) before
         * answering: the batches an agent has in flight then go to the store together */
        size_t before = k->in.len;
        ssize_t n;
        while ((n = ward_tls_read(k->t, buf, sizeof(buf))) > 0) {
            c->n.bytes_in += (uint64_t)n;
            if (ward_buf_put(&k->in, buf, (size_t)n) < 0) {
                coll_log(c, "error", "%s: out of memory", k->peer);
                conn_free(k);
                return;
            }
            if (k->in.len - before >= COLL_READ_BURST)
                break;
        }
        if (k->in.len > before)
            k->last_ms = ward_loop_now_ms();
        if (n > 0)
            continue; /* a full burst: answer it, then read on */
        if (n == -2) {
            k->want |= ward_tls_want(k->t);
            if (k->in.len > before)
                continue; /* answer what came; the next read finds nothing and waits */
            break;
        }
        if (n == 0) {
            if (k->in.len > before) { /* answer what came before the close, if it can go */
                process(k);
                flush(k);
            }
            if (k->in.len && k->state != ST_CLOSING)
                coll_log(c, "info", "%s: closed inside a frame (%zu bytes unread)", k->peer,
                         k->in.len);
            conn_free(k);
            return;
        }
        coll_log(c, "info", "%s: read: %s", k->peer, ward_tls_error(k->t));
        conn_free(k);
        return;
    }
    /* the answers to what was read last */
    if (flush(k) < 0 || (k->state == ST_CLOSING && !pending(k))) {
        conn_free(k);
        return;
    }
    set_events(k);
}

static void on_conn(void *ctx, int fd, uint32_t events) {
    (void)fd;
    (void)events;
    pump(ctx);
}

static void peer_name(const struct sockaddr_storage *ss, char *out, size_t len) {
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        port = ntohs(s4->sin_port);
        snprintf(out, len, "%s:%u", host, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        port = ntohs(s6->sin6_port);
        snprintf(out, len, "[%s]:%u", host, port);
    } else {
        snprintf(out, len, "?");
    }
}

static void on_accept(void *ctx, int lfd, uint32_t events) {
    (void)events;
    collector *c = ctx;
    for (;;) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss)); /* the analyser does not know the kernel fills it */
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* the connection waits in the backlog and the listener stays readable:
                 * stop watching it for a moment instead of spinning on it */
                c->n.accept_errors++;
                coll_touch(c);
                if (!c->accept_paused)
                    coll_log(c, "warning",
                             "accept: %s (%zu connections): accepting again in 100 ms",
                             strerror(errno), c->nconns);
                c->accept_paused = 1;
                ward_loop_mod(c->loop, lfd, 0);
                ward_loop_timer_after(c->loop, &c->accept_timer, 100);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                       errno != ECONNABORTED) {
                coll_log(c, "warning", "accept: %s", strerror(errno));
            }
            return;
        }
        char peer[64];
        peer_name(&ss, peer, sizeof(peer));
        if (c->nconns >= (size_t)c->cfg.limits.max_connections) {
            c->n.refused_connections++;
            coll_touch(c);
            coll_log(c, "warning", "%s: refused: %zu connections is limits.max_connections", peer,
                     c->nconns);
            close(fd);
            continue;
        }
        conn *k = calloc(1, sizeof(*k));
        if (!k || grow((void **)&c->conns, &c->capconns, c->nconns + 1, sizeof(*c->conns)) < 0 ||
            !(k->t = ward_tls_new(c->tls, fd, NULL))) {
            coll_log(c, "error", "%s: out of memory", peer);
            free(k);
            close(fd);
            continue;
        }
        k->c = c;
        k->fd = fd;
        snprintf(k->peer, sizeof(k->peer), "%s", peer);
        ward_buf_init(&k->in);
        ward_buf_init(&k->out);
        k->last_ms = ward_loop_now_ms();
        k->events = EPOLLIN;
        if (ward_loop_add(c->loop, fd, EPOLLIN, on_conn, k) < 0) {
            coll_log(c, "error", "%s: epoll: %s", peer, strerror(errno));
            ward_tls_free(k->t);
            close(fd);
            free(k);
            continue;
        }
        k->idx = c->nconns;
        c->conns[c->nconns++] = k;
        c->n.accepted++;
        coll_touch(c);
        pump(k);
    }
}

static void on_accept_timer(void *ctx) {
    collector *c = ctx;
    if (c->lfd >= 0 && ward_loop_mod(c->loop, c->lfd, EPOLLIN) == 0)
        c->accept_paused = 0;
}

int coll_listen(collector *c) {
    char host[256], port[8], err[256];
    if (coll_cfg_parse_listen(c->cfg.collector.listen, host, sizeof(host), port, err, sizeof(err)) <
        0) {
        coll_log(c, "error", "listen %s: %s", c->cfg.collector.listen, err);
        return -1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gr = getaddrinfo(host, port, &hints, &res);
    if (gr != 0) {
        coll_log(c, "error", "listen %s: %s", c->cfg.collector.listen, gai_strerror(gr));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (res->ai_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        coll_log(c, "error", "listen %s: %s", c->cfg.collector.listen, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss)); /* the analyser does not know the kernel fills it */
    socklen_t sl = sizeof(ss);
    char name[64] = "?";
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        peer_name(&ss, name, sizeof(name));
    if (ward_loop_add(c->loop, fd, EPOLLIN, on_accept, c) < 0) {
        coll_log(c, "error", "listen: epoll: %s", strerror(errno));
        close(fd);
        return -1;
    }
    c->lfd = fd;
    ward_loop_timer_init(&c->accept_timer, on_accept_timer, c);
    ward_loop_after_io(c->loop, on_after_io, c);
    coll_log(c, "info", "listening on %s", name);
    return 0;
}

void coll_server_close(collector *c) {
    coll_group_commit(c); /* what is in the group was checked: it is stored */
    if (c->loop)
        ward_loop_timer_stop(c->loop, &c->accept_timer);
    while (c->nconns)
        conn_free(c->conns[c->nconns - 1]);
    if (c->lfd >= 0) {
        ward_loop_del(c->loop, c->lfd);
        close(c->lfd);
        c->lfd = -1;
    }
}

void coll_push_feed(collector *c) {
    for (size_t i = 0; i < c->nconns; i++) {
        conn *k = c->conns[i];
        if (k->state != ST_READY || !k->wants_feed || k->feed_have >= c->feed_version)
            continue;
        if (pending(k) < c->cfg.limits.write_buffer)
            send_feed(k); /* else pump sends it once the queue drains */
        set_events(k);    /* written from on_conn: nothing here may free k */
    }
}

void coll_expire_idle(collector *c) {
    uint64_t now = ward_loop_now_ms();
    for (size_t i = c->nconns; i-- > 0;) {
        conn *k = c->conns[i];
        if (now - k->last_ms <= c->cfg.limits.idle_timeout_ms)
            continue;
        char w[400];
        who(k, w, sizeof(w));
        coll_log(c, "info", "%s: idle for %llu ms: closed", w,
                 (unsigned long long)(now - k->last_ms));
        c->n.idle_closed++;
        conn_free(k); /* swap-remove moves only entries before i... or i itself */
    }
}
