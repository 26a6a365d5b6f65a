#include "ward/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ward_diags_init(ward_diags *d) {
    memset(d, 0, sizeof(*d));
}

void ward_diags_fini(ward_diags *d) {
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].file);
        free(d->v[i].rule_id);
        free(d->v[i].msg);
    }
    free(d->v);
    memset(d, 0, sizeof(*d));
}

int ward_diags_add(ward_diags *d, const char *file, int line, int col, const char *rule_id,
                   const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        ward_diag *v = realloc(d->v, cap * sizeof(*v));
        if (!v)
            goto fail;
        d->v = v;
        d->cap = cap;
    }
    ward_diag *g = &d->v[d->n];
    memset(g, 0, sizeof(*g));
    g->file = strdup(file ? file : "");
    g->rule_id = rule_id ? strdup(rule_id) : NULL;
    g->msg = strdup(msg);
    g->line = line;
    g->col = col;
    if (!g->file || !g->msg || (rule_id && !g->rule_id)) {
        free(g->file);
        free(g->rule_id);
        free(g->msg);
        goto fail;
    }
    d->n++;
    return 0;
fail:
    d->oom = 1;
    return -1;
}

void ward_diag_format(const ward_diag *g, char *buf, size_t len) {
    char where[64] = "";
    int named = g->file && g->file[0];
    /* "file:line:col: ", or for input without a name "line L, column C: " (a bare
     * ":2:5:" reads as a broken name) */
    if (g->line > 0 && g->col > 0)
        snprintf(where, sizeof(where), named ? ":%d:%d: " : "line %d, column %d: ", g->line,
                 g->col);
    else if (g->line > 0)
        snprintf(where, sizeof(where), named ? ":%d: " : "line %d: ", g->line);
    else if (named)
        snprintf(where, sizeof(where), ": ");
    if (g->rule_id)
        snprintf(buf, len, "%s%srule %s: %s", named ? g->file : "", where, g->rule_id, g->msg);
    else
        snprintf(buf, len, "%s%s%s", named ? g->file : "", where, g->msg);
}

void ward_errf(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
