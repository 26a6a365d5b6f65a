/* Data minimisation (docs/privacy.md): the copy of an alert that is spooled for the
 * collector leaves out the fields the policy drops, carries keyed pseudonyms instead of
 * the values it pseudonymises, and leaves out the original line unless send_original.
 * The local alerts file is not affected. Independent of the rest of the agent, so that
 * it can be tested alone. */
#ifndef WARD_AGENT_PRIVACY_H
#define WARD_AGENT_PRIVACY_H

#include <stddef.h>
#include <stdint.h>

#include "ward/alert.h"
#include "ward/json.h"

#include "agent_config.h"

#define AGENT_PRIVACY_MAX_EXTRACTED 64
#define AGENT_PRIVACY_MAX_GROUP 16
#define AGENT_PSEUDO_LEN 37 /* "hmac:" and 32 hex digits */

typedef struct agent_privacy {
    char **drop, **pseudo; /* borrowed from the configuration it was set up with */
    size_t ndrop, npseudo;
    uint8_t key[1024];
    size_t keylen;
    int send_original;
    uint64_t dropped, pseudonymised; /* values, over every alert */
    /* scratch for one alert */
    ward_event ev;
    ward_alert_field x[AGENT_PRIVACY_MAX_EXTRACTED];
    ward_corr_val group[AGENT_PRIVACY_MAX_GROUP];
    char hx[WARD_EVENT_MAX_FIELDS + AGENT_PRIVACY_MAX_EXTRACTED + AGENT_PRIVACY_MAX_GROUP]
           [AGENT_PSEUDO_LEN + 1];
} agent_privacy;

/* Sets p up from cfg's privacy section (cfg must outlive p's use: its lists are
 * borrowed), loading the key when pseudonymise is set. Returns 0, or -1 with err naming
 * the key file. */
int agent_privacy_init(agent_privacy *p, const agent_cfg *cfg, char *err, size_t errlen);

/* Forgets the key. */
void agent_privacy_fini(agent_privacy *p);

/* 1 when the policy changes nothing (the local alert can be spooled as it is). */
int agent_privacy_noop(const agent_privacy *p);

/* The pseudonym of len bytes of v: "hmac:" and the hex of the first 16 bytes of
 * HMAC-SHA256(key, v), NUL-terminated in out. Returns 0 or -1. */
int agent_privacy_pseudonym(const agent_privacy *p, const char *v, size_t len,
                            char out[AGENT_PSEUDO_LEN + 1]);

/* Appends a, with the policy applied, as one line of JSON to out. Returns 0 or -1 (no
 * memory: out->oom). */
int agent_privacy_json(agent_privacy *p, const ward_alert *a, ward_buf *out);

#endif
