/* Data minimisation of what is spooled for the collector (privacy.h). */
#include "privacy.h"

#include <stdio.h>
#include <string.h>

#include "ward/crypto.h"

int agent_privacy_init(agent_privacy *p, const agent_cfg *cfg, char *err, size_t errlen) {
    memset(p, 0, sizeof(*p));
    p->drop = cfg->privacy.drop;
    p->ndrop = cfg->privacy.ndrop;
    p->pseudo = cfg->privacy.pseudonymise;
    p->npseudo = cfg->privacy.npseudonymise;
    p->send_original = cfg->privacy.send_original;
    if (!p->npseudo)
        return 0;
    if (!cfg->privacy.key) {
        snprintf(err, errlen, "privacy.key is needed with privacy.pseudonymise");
        return -1;
    }
    char e[512];
    if (ward_crypto_secret_load(cfg->privacy.key, p->key, &p->keylen, e, sizeof(e)) < 0) {
        snprintf(err, errlen, "privacy.key: %s", e);
        return -1;
    }
    return 0;
}

void agent_privacy_fini(agent_privacy *p) {
    /* the key is a secret: do not leave it in freed memory */
    volatile uint8_t *k = p->key;
    for (size_t i = 0; i < sizeof(p->key); i++)
        k[i] = 0;
    p->keylen = 0;
}

int agent_privacy_noop(const agent_privacy *p) {
    return !p->ndrop && !p->npseudo && p->send_original;
}

/* Field names compare with '.' and '_' as the same (alerts write user.name as
 * user_name under "fields"). */
static int name_eq(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (*a != *b && !((*a == '.' || *a == '_') && (*b == '.' || *b == '_')))
            return 0;
    return *a == *b;
}

static int listed(char **v, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (name_eq(v[i], name))
            return 1;
    return 0;
}

int agent_privacy_pseudonym(const agent_privacy *p, const char *v, size_t len,
                            char out[AGENT_PSEUDO_LEN + 1]) {
    uint8_t mac[WARD_HMAC_LEN];
    if (ward_crypto_hmac(p->key, p->keylen, (const uint8_t *)v, len, mac) < 0)
        return -1;
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "hmac:", 5);
    for (size_t i = 0; i < 16; i++) {
        out[5 + 2 * i] = hex[mac[i] >> 4];
        out[6 + 2 * i] = hex[mac[i] & 15];
    }
    out[AGENT_PSEUDO_LEN] = 0;
    return 0;
}

enum { KEEP, DROP, PSEUDO, ORIGINAL };

static int verdict(const agent_privacy *p, const char *name) {
    if (listed(p->drop, p->ndrop, name))
        return DROP;
    if (!p->send_original && (strcmp(name, "f2b.line") == 0 || strcmp(name, "message") == 0))
        return ORIGINAL; /* the line in all but name: not counted as a field dropped */
    if (listed(p->pseudo, p->npseudo, name))
        return PSEUDO;
    return KEEP;
}

/* What the policy does to the value (*val, *len) of field name: returns KEEP (the
 * value may have been replaced by its pseudonym, in the next free slot of p->hx), DROP
 * or ORIGINAL (left out). A value that cannot be pseudonymised is dropped: it is never
 * sent in clear. */
static int apply(agent_privacy *p, size_t *slot, const char *name, const char **val, size_t *len) {
    int v = verdict(p, name);
    if (v == PSEUDO) {
        if (*slot >= sizeof(p->hx) / sizeof(p->hx[0]) ||
            agent_privacy_pseudonym(p, *val ? *val : "", *len, p->hx[*slot]) < 0) {
            v = DROP;
        } else {
            *val = p->hx[(*slot)++];
            *len = AGENT_PSEUDO_LEN;
            p->pseudonymised++;
            v = KEEP;
        }
    }
    if (v == DROP)
        p->dropped++;
    return v;
}

int agent_privacy_json(agent_privacy *p, const ward_alert *a, ward_buf *out) {
    ward_alert b = *a;
    size_t slot = 0;
    b.omit_original = !p->send_original;
    if (a->ev) {
        /* a shallow copy: its values point into the original event or into p->hx */
        p->ev = *a->ev;
        p->ev.nfields = 0;
        for (size_t i = 0; i < a->ev->nfields; i++) {
            ward_field f = a->ev->fields[i];
            /* event.original is not written under "fields"; omit_original says for it */
            if (strcmp(f.name, "event.original") != 0 &&
                apply(p, &slot, f.name, &f.val, &f.val_len) != KEEP)
                continue;
            p->ev.fields[p->ev.nfields++] = f;
        }
        b.ev = &p->ev;
    }
    size_t nx = 0;
    for (size_t i = 0; i < a->nextracted && nx < AGENT_PRIVACY_MAX_EXTRACTED; i++) {
        ward_alert_field f = a->extracted[i];
        if (apply(p, &slot, f.name, &f.val, &f.len) != KEEP)
            continue;
        p->x[nx++] = f;
    }
    b.extracted = p->x;
    b.nextracted = nx;
    if (a->threshold && a->group && a->rule) {
        /* the threshold's group values are field values too: emptied or pseudonymised */
        const ward_threshold *t = &a->rule->threshold;
        size_t ng = t->ngroup_by < AGENT_PRIVACY_MAX_GROUP ? t->ngroup_by : AGENT_PRIVACY_MAX_GROUP;
        for (size_t i = 0; i < ng; i++) {
            ward_corr_val g = a->group[i];
            if (apply(p, &slot, t->group_by[i], &g.s, &g.len) != KEEP) {
                g.s = NULL;
                g.len = 0;
            }
            p->group[i] = g;
        }
        b.group = p->group;
    }
    return ward_alert_json(out, &b);
}
