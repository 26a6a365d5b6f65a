/* Alerts that are spooled once, even across a crash.
 *
 * After kill -9, the sources read again the records after their bookmarks, and those
 * records give their alerts again, with the same ids (alert.h). The local alerts file
 * gets them twice, as it always has; the spool must not, or the collector would store
 * them twice (it stores each (agent, epoch, seq) once, and these have new seqs). So the
 * spool keeps every record the bookmarks do not yet cover, acknowledged or not (the
 * shipper acknowledges the spool only up to agent.bm_seq), and at start the ids of the
 * records it holds are loaded here: an alert whose id is among them is already spooled
 * and is not spooled again. */
#include "agent.h"

#include <stdlib.h>
#include <string.h>

/* The id of an alert as lib/alert.c writes it: the first member of "event" after
 * "kind". Returns 0 and fills id (16 bytes), or -1 when it is not there. */
int agent_resend_id_of(const uint8_t *p, size_t len, uint8_t id[16]) {
    static const char k[] = "\"event\":{\"kind\":\"alert\",\"id\":\"";
    size_t kl = sizeof(k) - 1;
    size_t lim = len < 256 ? len : 256; /* it is near the start */
    const uint8_t *at = memmem(p, lim, k, kl);
    if (!at || (size_t)(at - p) + kl + 32 > len)
        return -1;
    at += kl;
    for (int i = 0; i < 16; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            uint8_t c = at[2 * i + j];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return -1;
            v = v * 16 + d;
        }
        id[i] = (uint8_t)v;
    }
    return 0;
}

static uint64_t hash_of(const uint8_t id[16]) {
    uint64_t h;
    memcpy(&h, id, sizeof(h)); /* the ids are hashes already */
    return h;
}

void agent_resend_init(agent_resend *r) {
    memset(r, 0, sizeof(*r));
}

void agent_resend_fini(agent_resend *r) {
    free(r->v);
    memset(r, 0, sizeof(*r));
}

/* Adds id. Returns 0 or -1 (no memory). */
int agent_resend_add(agent_resend *r, const uint8_t id[16]) {
    if ((r->n + 1) * 2 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        struct agent_resend_slot *v = calloc(cap, sizeof(*v));
        if (!v)
            return -1;
        for (size_t i = 0; i < r->cap; i++) {
            if (!r->v[i].used)
                continue;
            size_t j = (size_t)(hash_of(r->v[i].id) & (cap - 1));
            while (v[j].used)
                j = (j + 1) & (cap - 1);
            v[j] = r->v[i];
        }
        free(r->v);
        r->v = v;
        r->cap = cap;
    }
    size_t j = (size_t)(hash_of(id) & (r->cap - 1));
    while (r->v[j].used) {
        if (memcmp(r->v[j].id, id, 16) == 0)
            return 0;
        j = (j + 1) & (r->cap - 1);
    }
    memcpy(r->v[j].id, id, 16);
    r->v[j].used = 1;
    r->n++;
    return 0;
}

int agent_resend_seen(const agent_resend *r, const uint8_t id[16]) {
    if (!r->n)
        return 0;
    size_t j = (size_t)(hash_of(id) & (r->cap - 1));
    while (r->v[j].used) {
        if (memcmp(r->v[j].id, id, 16) == 0)
            return 1;
        j = (j + 1) & (r->cap - 1);
    }
    return 0;
}
