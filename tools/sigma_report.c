/* ward-rules check --report DIR...: how many Sigma rules of a directory load, why each
 * of the others was refused (the loader's diagnostics, grouped by reason), and what may
 * keep a loaded rule from working (a log source ward's table does not have, a field its
 * decoders do not produce).
 *
 * The files are found by ward_rules_walk, as ward_rules_load finds them. Each is read
 * once; its bytes are parsed for the documents (line, id, title) and loaded into one rule
 * list (so duplicate ids across files are found); the loader's diagnostics are given to
 * the document whose lines they fall in. */
#include "sigma_report.h"

#include <stdlib.h>
#include <string.h>

#include "ward/detect.h"
#include "ward/logsource.h"
#include "ward/node.h"
#include "ward/rule.h"

typedef struct doc {
    char *file;
    int line;
    char *id, *title;
    int loaded;
    int yaml_error; /* a document the YAML parser refused: its diagnostic is its reason */
    size_t *diags;  /* indexes into the report's diagnostics */
    size_t ndiags;
} doc;

typedef struct group {
    char *reason;
    size_t count;
} group;

typedef struct report {
    ward_rules rs;
    ward_diags d; /* the loader's */
    doc *docs;
    size_t ndocs, capdocs;
    size_t nfiles;
    char **warn; /* "file:line: rule ID: message", one per warning */
    size_t nwarn;
    group *wgroups;
    size_t nwgroups;
    int oom;
} report;

static char *xstrndup(report *rp, const char *s, size_t n) {
    char *p = strndup(s, n);
    if (!p)
        rp->oom = 1;
    return p;
}

/* ---- the documents of a file ---- */

static doc *doc_push(report *rp, const char *file, int line) {
    if (rp->ndocs == rp->capdocs) {
        size_t cap = rp->capdocs ? rp->capdocs * 2 : 256;
        doc *v = realloc(rp->docs, cap * sizeof(*v));
        if (!v) {
            rp->oom = 1;
            return NULL;
        }
        rp->docs = v;
        rp->capdocs = cap;
    }
    doc *dc = &rp->docs[rp->ndocs++];
    memset(dc, 0, sizeof(*dc));
    dc->file = xstrndup(rp, file, strlen(file));
    dc->line = line;
    return dc;
}

typedef struct enum_ctx {
    report *rp;
    const char *file;
} enum_ctx;

static char *scalar(report *rp, const ward_node *n) {
    return n && n->type == WARD_NODE_SCALAR ? xstrndup(rp, n->str, n->len) : NULL;
}

static int on_doc(ward_node *root, void *vctx) {
    enum_ctx *ec = vctx;
    if (root && root->type != WARD_NODE_NULL) {
        doc *dc = doc_push(ec->rp, ec->file, root->line);
        if (dc) {
            dc->id = scalar(ec->rp, ward_node_get(root, "id"));
            dc->title = scalar(ec->rp, ward_node_get(root, "title"));
        }
    }
    ward_node_free(root);
    return 0;
}

static void doc_add_diag(report *rp, doc *dc, size_t di) {
    size_t *v = realloc(dc->diags, (dc->ndiags + 1) * sizeof(*v));
    if (!v) {
        rp->oom = 1;
        return;
    }
    dc->diags = v;
    v[dc->ndiags++] = di;
}

static int same_diag(const ward_diag *a, const ward_diag *b) {
    return a->line == b->line && a->col == b->col && strcmp(a->msg, b->msg) == 0;
}

static int is_yaml(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (strcmp(dot, ".yml") == 0 || strcmp(dot, ".yaml") == 0);
}

/* Reads, enumerates and loads one file found by ward_rules_walk, then gives each new
 * diagnostic to its document. */
static void do_file(const char *file, int explicit, void *vrp) {
    report *rp = vrp;
    if (!is_yaml(file)) {
        if (explicit)
            ward_diags_add(&rp->d, file, 0, 0, NULL,
                           "not a Sigma rule file: expected .yml or .yaml");
        return;
    }
    rp->nfiles++;
    uint8_t *buf;
    size_t len;
    char err[512];
    if (ward_file_read(file, WARD_YAML_MAX_FILE, &buf, &len, err, sizeof(err)) != 0) {
        ward_diags_add(&rp->d, file, 0, 0, NULL, "%s", err);
        return;
    }
    size_t doc0 = rp->ndocs, diag0 = rp->d.n, rule0 = rp->rs.n;
    ward_diags yd;
    ward_diags_init(&yd);
    enum_ctx ec = {rp, file};
    ward_yaml_parse(file, buf, len, on_doc, &ec, &yd);
    ward_rules_load_buffer(&rp->rs, file, buf, len, &rp->d);
    free(buf);
    for (size_t i = rule0; i < rp->rs.n; i++)
        for (size_t k = doc0; k < rp->ndocs; k++)
            if (rp->docs[k].line == rp->rs.v[i]->line)
                rp->docs[k].loaded = 1;
    size_t docs_end = rp->ndocs;
    for (size_t i = diag0; i < rp->d.n; i++) {
        const ward_diag *g = &rp->d.v[i];
        /* A YAML error is a document of its own (the parser gave none for it). */
        int yaml = 0;
        for (size_t k = 0; k < yd.n && !yaml; k++)
            yaml = same_diag(g, &yd.v[k]);
        doc *owner = NULL;
        if (yaml) {
            owner = doc_push(rp, file, g->line);
            if (owner) {
                owner->yaml_error = 1;
                if (g->rule_id)
                    owner->id = xstrndup(rp, g->rule_id, strlen(g->rule_id));
            }
        } else if (g->line > 0) {
            for (size_t k = doc0; k < docs_end; k++)
                if (rp->docs[k].line <= g->line && (!owner || rp->docs[k].line > owner->line))
                    owner = &rp->docs[k];
        }
        if (owner)
            doc_add_diag(rp, owner, i);
    }
    ward_diags_fini(&yd);
}

/* ---- warnings about rules that loaded ---- */

/* The reason a group is known by: the message without where it was found. */
static char *reason_key(report *rp, const char *msg) {
    char *k = xstrndup(rp, msg, strlen(msg));
    if (!k)
        return NULL;
    char *p;
    if ((p = strstr(k, " at column ")) != NULL)
        *p = 0;
    if ((p = strstr(k, " (field '")) != NULL) {
        char *end = strstr(p + 9, "')");
        const char *rest = end ? end + 2 : p + strlen(p);
        memmove(p, rest, strlen(rest) + 1);
    }
    return k;
}

static void group_add(report *rp, group **g, size_t *n, const char *reason) {
    char *k = reason_key(rp, reason);
    if (!k)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*g)[i].reason, k) == 0) {
            (*g)[i].count++;
            free(k);
            return;
        }
    group *v = realloc(*g, (*n + 1) * sizeof(*v));
    if (!v) {
        free(k);
        rp->oom = 1;
        return;
    }
    *g = v;
    v[*n].reason = k;
    v[*n].count = 1;
    (*n)++;
}

static void warn(report *rp, const ward_rule *r, const char *msg) {
    char *line;
    if (asprintf(&line, "%s:%d: rule %s: %s", r->file ? r->file : "", r->line, r->id, msg) < 0) {
        rp->oom = 1;
        return;
    }
    char **v = realloc(rp->warn, (rp->nwarn + 1) * sizeof(*v));
    if (!v) {
        free(line);
        rp->oom = 1;
        return;
    }
    rp->warn = v;
    v[rp->nwarn++] = line;
    group_add(rp, &rp->wgroups, &rp->nwgroups, msg);
}

typedef struct field_ctx {
    report *rp;
    const ward_rule *r;
    const ward_logsource *ls;
    const char *src;
} field_ctx;

static void on_field(const char *written, const char *const *fields, size_t n, void *vctx) {
    field_ctx *fc = vctx;
    for (size_t i = 0; i < n; i++)
        if (ward_logsource_produces(fc->ls, fields[i]) != 0)
            return;
    char msg[512];
    if (n == 1 && strcmp(fields[0], written) == 0)
        snprintf(msg, sizeof(msg),
                 "field '%s' is not among the fields ward's decoders give log source %s: "
                 "items on it do not match",
                 written, fc->src);
    else
        snprintf(msg, sizeof(msg),
                 "field '%s' (read as %s%s) is not among the fields ward's decoders give log "
                 "source %s: items on it do not match",
                 written, fields[0], n > 1 ? " ..." : "", fc->src);
    warn(fc->rp, fc->r, msg);
}

static void rule_warnings(report *rp, const ward_rule *r) {
    if (!r->det || (!r->ls_product && !r->ls_service && !r->ls_category))
        return;
    char src[256];
    ward_logsource_format(r->ls_product, r->ls_service, r->ls_category, src, sizeof(src));
    const ward_logsource *ls = ward_logsource_find(r->ls_product, r->ls_service, r->ls_category);
    if (!ls) {
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "log source %s is not in ward's table: its fields are used as written and it "
                 "sees every event",
                 src);
        warn(rp, r, msg);
        return;
    }
    if (r->decoder >= 0)
        return; /* ward's own field names */
    field_ctx fc = {rp, r, ls, src};
    ward_detect_fields(r->det, on_field, &fc);
}

/* ---- printing ---- */

static int group_cmp(const void *a, const void *b) {
    const group *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->reason, y->reason);
}

static void print_groups(FILE *out, group *g, size_t n) {
    if (n)
        qsort(g, n, sizeof(*g), group_cmp);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  %5zu  %s\n", g[i].count, g[i].reason);
}

static void print_where(FILE *out, const ward_diag *g) {
    if (g->line > 0 && g->col > 0)
        fprintf(out, "%d:%d: ", g->line, g->col);
    else if (g->line > 0)
        fprintf(out, "%d: ", g->line);
}

static void report_free(report *rp) {
    for (size_t i = 0; i < rp->ndocs; i++) {
        free(rp->docs[i].file);
        free(rp->docs[i].id);
        free(rp->docs[i].title);
        free(rp->docs[i].diags);
    }
    free(rp->docs);
    for (size_t i = 0; i < rp->nwarn; i++)
        free(rp->warn[i]);
    free(rp->warn);
    for (size_t i = 0; i < rp->nwgroups; i++)
        free(rp->wgroups[i].reason);
    free(rp->wgroups);
    ward_rules_fini(&rp->rs);
    ward_diags_fini(&rp->d);
}

int sigma_report_run(char **paths, int npaths, FILE *out) {
    if (npaths == 0) {
        fprintf(stderr, "ward-rules check --report: no rule path given\n");
        return 2;
    }
    report rp;
    memset(&rp, 0, sizeof(rp));
    ward_rules_init(&rp.rs);
    ward_diags_init(&rp.d);
    for (int i = 0; i < npaths; i++)
        ward_rules_walk(paths[i], do_file, &rp, &rp.d);
    /* A diagnostic of no document: a file or directory that could not be read. */
    char *owned = calloc(rp.d.n ? rp.d.n : 1, 1);
    if (!owned)
        rp.oom = 1;
    size_t file_errors = 0;
    for (size_t k = 0; owned && k < rp.ndocs; k++)
        for (size_t j = 0; j < rp.docs[k].ndiags; j++)
            owned[rp.docs[k].diags[j]] = 1;
    for (size_t i = 0; owned && i < rp.d.n; i++)
        file_errors += !owned[i];

    size_t loaded = 0, refused = 0;
    for (size_t i = 0; i < rp.ndocs; i++)
        loaded += rp.docs[i].loaded;
    refused = rp.ndocs - loaded;
    double pct = rp.ndocs ? 100.0 * (double)loaded / (double)rp.ndocs : 100.0;
    /* Never round a miss up to 100%. */
    if (loaded < rp.ndocs && pct > 99.9)
        pct = 99.9;
    fprintf(out, "%zu of %zu rules loaded (%.1f%%) from %zu files\n", loaded, rp.ndocs, pct,
            rp.nfiles);

    group *rg = NULL;
    size_t nrg = 0;
    if (refused) {
        fprintf(out, "\nrefused (%zu):\n", refused);
        for (size_t i = 0; i < rp.ndocs; i++) {
            const doc *dc = &rp.docs[i];
            if (dc->loaded)
                continue;
            fprintf(out, "%s:%d: rule %s \"%s\"\n", dc->file ? dc->file : "", dc->line,
                    dc->id ? dc->id : "(no id)", dc->title ? dc->title : "");
            if (dc->ndiags == 0) {
                fprintf(out, "    (no reason given)\n");
                group_add(&rp, &rg, &nrg, "(no reason given)");
            }
            for (size_t k = 0; k < dc->ndiags; k++) {
                const ward_diag *g = &rp.d.v[dc->diags[k]];
                fprintf(out, "    ");
                print_where(out, g);
                fprintf(out, "%s\n", g->msg);
                group_add(&rp, &rg, &nrg, g->msg);
            }
        }
        fprintf(out, "\nrefusals by reason (a rule may have several):\n");
        print_groups(out, rg, nrg);
    }
    if (file_errors) {
        fprintf(out, "\nerrors outside any rule:\n");
        for (size_t i = 0; i < rp.d.n; i++) {
            if (!owned[i]) {
                char buf[2048];
                ward_diag_format(&rp.d.v[i], buf, sizeof(buf));
                fprintf(out, "  %s\n", buf);
            }
        }
    }
    for (size_t i = 0; i < rp.rs.n; i++)
        rule_warnings(&rp, rp.rs.v[i]);
    if (rp.nwarn) {
        fprintf(out, "\nwarnings (%zu, rules that loaded but may not work as written):\n",
                rp.nwarn);
        for (size_t i = 0; i < rp.nwarn; i++)
            fprintf(out, "%s\n", rp.warn[i]);
        fprintf(out, "\nwarnings by reason:\n");
        print_groups(out, rp.wgroups, rp.nwgroups);
    }
    if (rp.oom || rp.d.oom)
        fprintf(out, "\nward-rules: out of memory: the report is incomplete\n");
    int rc = (refused || file_errors || rp.oom || rp.d.oom) ? 1 : 0;
    free(owned);
    for (size_t i = 0; i < nrg; i++)
        free(rg[i].reason);
    free(rg);
    report_free(&rp);
    return rc;
}
