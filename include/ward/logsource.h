/* Sigma log sources: for each (product, service, category) a Sigma rule's logsource can
 * name, what ward reads for it: the decoders whose events the rule may see, the syslog
 * programs of a service, the renaming of the Sigma (pySigma taxonomy) field names to the
 * fields ward's decoders produce, and the sources ward cannot read at all, whose rules
 * are refused with the reason. One table, in logsource.c. */
#ifndef WARD_LOGSOURCE_H
#define WARD_LOGSOURCE_H

#include <stddef.h>
#include <stdint.h>

/* How a Sigma field's value is taken from one of ward's fields. */
typedef enum ward_derive {
    WARD_DERIVE_NONE = 0,  /* the field's value as it is */
    WARD_DERIVE_EXTENSION, /* the file extension of a URL path, without the dot ("exe") */
    WARD_DERIVE_URL_HOST,  /* the host of an absolute URL or of an authority ("a.example") */
    WARD_DERIVE_URL_PATH,  /* an absolute URL's path and query ("/a/b?c"); none otherwise */
    WARD_DERIVE_KV,        /* the value of KEY=VALUE inside the field (audit's msg='...') */
    WARD_DERIVE_JSON_KEY,  /* the value of "KEY": VALUE inside the field's raw JSON text */
    WARD_DERIVE_NIL,       /* the value, empty when it is "-" (an access log's "no value") */
    WARD_DERIVE_COUNT
} ward_derive;

#define WARD_FIELDMAP_MAX 4

/* A name standing for the name the rule wrote, in a fallback entry (sigma "*"). */
#define WARD_FIELD_SELF "*"

typedef struct ward_fieldref {
    const char *name; /* ward's field (or WARD_FIELD_SELF); NULL ends the list */
    ward_derive derive;
    const char *key; /* KEY for WARD_DERIVE_KV and _JSON_KEY; NULL: the rule's field name */
} ward_fieldref;

/* One renaming: a rule's field 'sigma' matches when any of 'to' does (an OR). The entry
 * whose sigma is "*" applies to every field without an entry of its own. An entry with
 * 'unless' does not apply to a detection that also names that field (sigma is then used
 * as written). */
typedef struct ward_fieldmap {
    const char *sigma;
    ward_fieldref to[WARD_FIELDMAP_MAX];
    const char *unless;
} ward_fieldmap;

typedef struct ward_logsource ward_logsource;

/* The table entry for a rule's logsource (each argument NULL when the rule does not set
 * it; compared case-insensitively), or NULL when the table has none: the rule's fields
 * are then used as written and it sees every event. The pointer is static. */
const ward_logsource *ward_logsource_find(const char *product, const char *service,
                                          const char *category);

/* Why ward cannot read this source ("Windows RPC Firewall events, which ward does not
 * read"), or NULL when it can. Static string. */
const char *ward_logsource_refusal(const ward_logsource *ls);

/* Bit (1u << ward_decoder) per decoder whose events rules for ls may see. */
uint32_t ward_logsource_decoders(const ward_logsource *ls);

/* The syslog programs of the source's service (NULL-terminated), or NULL for any
 * program. Syslog events from other programs are out of scope; events without a
 * program are not. Static. */
const char *const *ward_logsource_programs(const ward_logsource *ls);

/* The source's field renamings (static, *n entries; NULL and 0 when none). */
const ward_fieldmap *ward_logsource_map(const ward_logsource *ls, size_t *n);

/* Whether the decoders of ls produce a field called name: 1 yes, 0 no, -1 cannot tell
 * (JSON and key=value events carry whatever keys the log has). */
int ward_logsource_produces(const ward_logsource *ls, const char *name);

/* Writes "product=P service=S category=C" (the parts that are set; "none" when none
 * is) into buf, NUL-terminated. */
void ward_logsource_format(const char *product, const char *service, const char *category,
                           char *buf, size_t len);

/* The table itself, for documentation and tests: entry i of ward_logsource_count(). */
size_t ward_logsource_count(void);
const ward_logsource *ward_logsource_at(size_t i);

/* The three keys of an entry: a value, NULL (the rule must not set it), "*" (anything)
 * or "?value" (that value or not set). Static strings. */
void ward_logsource_keys(const ward_logsource *ls, const char **product, const char **service,
                         const char **category);

/* The mapping entry for a rule's field name in map (n entries): its own, else the "*"
 * entry, else NULL (the name is used as written). */
const ward_fieldmap *ward_fieldmap_find(const ward_fieldmap *map, size_t n, const char *sigma);

/* The name of a derivation as shown by explain ("ext", "host", "path", "kv", "json",
 * "nil"); "" for none. */
const char *ward_derive_name(ward_derive d);

/* The value of the Sigma field derived with d from a ward field's value (val, len):
 * sets *out and *outlen to a part of val and returns 1, or returns 0 when val has no
 * such part (no extension, no host, no such key). key is the KEY of WARD_DERIVE_KV and
 * WARD_DERIVE_JSON_KEY (ignored otherwise). WARD_DERIVE_NONE returns val itself. */
int ward_derive_value(ward_derive d, const char *key, const char *val, size_t len, const char **out,
                      size_t *outlen);

#endif
