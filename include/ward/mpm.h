/* The multi-literal matcher: finds every occurrence of a set of literals in one pass.
 * Matching is ASCII case-insensitive for every literal: a caseless hit on a literal
 * that was meant case-sensitively is only an extra candidate, which the confirming
 * regex rejects, so the prefilter stays sound. */
#ifndef WARD_MPM_H
#define WARD_MPM_H

#include <stddef.h>
#include <stdint.h>

typedef struct ward_mpm ward_mpm;

/* Returns a new, empty matcher (caller owns; free with ward_mpm_free), or NULL. */
ward_mpm *ward_mpm_new(void);

/* Frees m; NULL is a no-op. */
void ward_mpm_free(ward_mpm *m);

/* Adds a literal (copied; 1..WARD_MPM_MAX_LIT bytes) reported with id when found.
 * The same bytes may be added under several ids. Returns 0, or -1 (empty or over-long
 * literal, already compiled, or out of memory). */
#define WARD_MPM_MAX_LIT 256
int ward_mpm_add(ward_mpm *m, const uint8_t *lit, size_t len, uint32_t id);

/* Builds the automaton. Returns 0, or -1 with a message in err. After this the matcher
 * is immutable and may be scanned from several threads at once. */
int ward_mpm_compile(ward_mpm *m, char *err, size_t errlen);

/* Called for each literal found: id as added, end = offset just past the occurrence.
 * Return non-zero to stop the scan. A literal may be reported several times. */
typedef int (*ward_mpm_match_fn)(uint32_t id, size_t end, void *ctx);

/* Scans buf for every literal. Returns the number of reports made. */
size_t ward_mpm_scan(const ward_mpm *m, const uint8_t *buf, size_t len, ward_mpm_match_fn fn,
                     void *ctx);

/* How much byte c (either case) narrows a search in log text, from 0 (a blank: it is
 * everywhere) to WARD_MPM_RARITY_MAX (a rare letter); a guess, not a measurement of the
 * data: digits and common punctuation are nearly everywhere, common letters often. */
#define WARD_MPM_RARITY_MAX 7
int ward_mpm_rarity(uint8_t c);

/* Number of literals added, and bytes of memory the compiled automaton uses. */
size_t ward_mpm_count(const ward_mpm *m);
size_t ward_mpm_memory(const ward_mpm *m);

#endif
