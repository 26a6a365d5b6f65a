/* A YAML document as a tree with positions, built from libyaml's event stream. */
#ifndef WARD_NODE_H
#define WARD_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "ward/diag.h"

typedef enum ward_node_type {
    WARD_NODE_NULL = 0, /* an empty value, or a plain null / ~ */
    WARD_NODE_SCALAR,
    WARD_NODE_SEQ,
    WARD_NODE_MAP
} ward_node_type;

typedef struct ward_node {
    ward_node_type type;
    int line, col; /* 1-based position of the node in its file */
    char *str;     /* SCALAR: the value, NUL-terminated (len excludes the NUL) */
    size_t len;
    int plain; /* SCALAR: 1 when unquoted (so numbers and booleans mean what they say) */
    struct ward_node **kids; /* SEQ: the items; MAP: the values */
    struct ward_node **keys; /* MAP: the keys (scalars), parallel to kids */
    size_t n;
} ward_node;

/* Limits that keep a hostile file from exhausting memory or the stack. */
#define WARD_YAML_MAX_DEPTH 64
#define WARD_YAML_MAX_NODES 200000
#define WARD_YAML_MAX_FILE (16u << 20)

/* Called for each document of a stream; takes ownership of root. Returns 0 to go on. */
typedef int (*ward_yaml_doc_fn)(ward_node *root, void *ctx);

/* Parses buf (len bytes) as a YAML stream named file (for messages), calling fn for
 * every document. Anchors/aliases are refused (billion-laughs). Errors go to d with
 * file, line and column. Returns 0, or -1 after any error. */
int ward_yaml_parse(const char *file, const uint8_t *buf, size_t len, ward_yaml_doc_fn fn,
                    void *ctx, ward_diags *d);

/* Reads the whole regular file at path, of at most max bytes, into a new buffer (caller
 * frees; a NUL follows the len bytes). Returns 0, or -1 with the reason ("cannot open: No
 * such file or directory", "not a regular file", "file is N bytes, over the M byte
 * limit") in err; FIFOs and devices are refused without blocking. */
int ward_file_read(const char *path, size_t max, uint8_t **out, size_t *len, char *err,
                   size_t errlen);

/* Replaces the file at path with len bytes of p (mode 0640): written to PATH.tmp, which
 * is then renamed over path, so readers see the old file or the new one, never a part.
 * Not fsynced (for status files such as stats.json). Returns 0, or -1 with err naming
 * the file and the reason; PATH.tmp is removed then. */
int ward_file_replace(const char *path, const void *p, size_t len, char *err, size_t errlen);

/* Frees a node tree; NULL is a no-op. */
void ward_node_free(ward_node *n);

/* In a MAP, the value for key, or NULL. */
const ward_node *ward_node_get(const ward_node *map, const char *key);

#endif
