/* The regional indicator feed, loaded as an extra literal set: every record's line is
 * scanned for the feed's values (one multi-literal pass), and an indicator found as a
 * whole token is reported once, on its first occurrence; later occurrences are
 * suppressed (counted) until the feed entry expires. Independent of the rest of the
 * agent, so that it can be tested alone; pipeline.c turns reports into alerts. */
#ifndef WARD_AGENT_INDICATORS_H
#define WARD_AGENT_INDICATORS_H

#include <stddef.h>
#include <stdint.h>

#include "ward/feed.h"
#include "ward/mpm.h"

typedef struct agent_ind {
    ward_feed feed;      /* the loaded feed (owned); version 0: none */
    ward_mpm *mpm;       /* the values of feed (owned); NULL when it has none */
    uint64_t *seen_ms;   /* per entry: when it was first seen here; 0: not yet */
    uint32_t *hit_round; /* per entry: the scan that last reported it (one report a scan) */
    uint32_t round;
    uint64_t reported;   /* first occurrences reported */
    uint64_t suppressed; /* later occurrences, not reported */
    uint64_t expired;    /* occurrences of entries past their expiry, not reported */
    uint64_t partial;    /* occurrences inside a longer token, not reported */
    uint64_t skipped;    /* entries not loaded: empty or longer than WARD_MPM_MAX_LIT */
} agent_ind;

/* An empty set (caller's storage). */
void agent_ind_init(agent_ind *s);
/* Frees what s owns. */
void agent_ind_fini(agent_ind *s);

/* Replaces the loaded feed by f (taken: f is empty afterwards, also on failure). An
 * indicator already seen under the same regional alert stays seen (no second alert for
 * it). Returns 0, or -1 with err set (s keeps the old feed; the new one is freed). */
int agent_ind_load(agent_ind *s, ward_feed *f, char *err, size_t errlen);

/* 1 when the len bytes at p + at are a whole token of p (plen bytes): neither the byte
 * before nor the byte after continues it. A letter, a digit or '_' continues a token,
 * and so does a '.' next to one (10.0.0.1 is not a token of 10.0.0.15, 110.0.0.1 or
 * 1.10.0.0.1, but is one of "from 10.0.0.1." and "10.0.0.1:22"). */
int agent_ind_token(const uint8_t *p, size_t plen, size_t at, size_t len);

/* Called for an indicator's first occurrence; e is the feed entry (valid until the next
 * agent_ind_load). Return non-zero to stop the scan. */
typedef int (*agent_ind_fn)(void *ctx, const ward_feed_entry *e);

/* Scans len bytes of line at now_ms and calls fn for each indicator seen there for the
 * first time (an indicator is reported at most once a scan). Returns the number of
 * reports. */
size_t agent_ind_scan(agent_ind *s, const uint8_t *line, size_t len, uint64_t now_ms,
                      agent_ind_fn fn, void *ctx);

#endif
