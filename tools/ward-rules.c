/* ward-rules: check, test, run, profile and benchmark ward rules. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ward/decode.h"
#include "ward/detect.h"
#include "ward/engine.h"
#include "ward/json.h"
#include "ward/rule.h"

#include "import_fail2ban.h"

#include "sigma_report.h"

#define EXIT_OK 0
#define EXIT_FAIL 1  /* rule errors, failed tests */
#define EXIT_USAGE 2 /* bad command line, unreadable input */
#define MAX_RUNS 16  /* bench --runs */

static const char usage_text[] =
    "usage: ward-rules COMMAND [OPTIONS] ...\n"
    "\n"
    "Commands:\n"
    "  check [-o OVERLAY]... PATH...\n"
    "      Load and compile rules (files or directories of .yml/.yaml/.yar), print every\n"
    "      error as FILE:LINE:COL: rule ID: MESSAGE, then a summary and the rules that\n"
    "      have no usable literal (they run on every event) with their estimated cost,\n"
    "      and the rules whose detection repeats an earlier rule's.\n"
    "  check --report PATH...\n"
    "      For directories of Sigma rules: 'N of M rules loaded (P%)', then each rule\n"
    "      that was refused (FILE:LINE, id, title, and the construct or log source\n"
    "      ward does not support), the refusals grouped by reason with counts, and\n"
    "      warnings for rules that loaded: log sources ward has no mapping for, and\n"
    "      fields the decoders of a rule's log source do not produce. Exit 0 when\n"
    "      every rule loaded, 1 otherwise.\n"
    "  test [-o OVERLAY]... PATH...\n"
    "      Run every rule's embedded tests (tests.match / tests.no_match, expected\n"
    "      fields too) through the whole engine; one PASS/FAIL line per sample, then\n"
    "      'N passed, N failed'. A rule with extract but no match sample fails.\n"
    "  match -r PATH [-o OVERLAY] [-d DECODER] [--json] [--explain] [FILE...|-]\n"
    "      Decode each line (default decoder: auto) and print each (line, rule) match\n"
    "      with its fields. --explain also prints the decoded fields, the candidates\n"
    "      the literal prefilter chose, and why each candidate did or did not match.\n"
    "  profile -r PATH [-o OVERLAY] [-d DECODER] FILE\n"
    "      Per rule: candidates, matches, limit hits and time, sorted by time.\n"
    "  bench -r PATH [-d DECODER] [--json] [--naive-bytes N] [--baseline-rules PATH]\n"
    "        [--runs N] FILE\n"
    "      Throughput of the core (prefilter + confirmation) and of a naive loop that\n"
    "      runs every rule on every line, in this process, their ratio, and whether\n"
    "      both found the same (line, rule) pairs. Default decoder: raw.\n"
    "  import-fail2ban [--samples DIR] [--jail FILE] FILTER.conf... -o DIR\n"
    "      Convert fail2ban filters into ward rules (decoder fail2ban), one file\n"
    "      DIR/FILTER.yml each: a rule per mode; with --samples, tests from the\n"
    "      annotated sample log FILTER in that directory; with --jail, a threshold\n"
    "      from the jail's maxretry and findtime. Filters and regexes that cannot be\n"
    "      converted are reported with the reason; exit 1 when a filter was not\n"
    "      imported.\n"
    "\n"
    "Options:\n"
    "  -r, --rules PATH      rules file or directory (repeatable)\n"
    "  -o, --overlay FILE    site overlay applied after loading (repeatable)\n"
    "  -d, --decoder NAME    raw, syslog, combined_access, json, kv, auto or fail2ban\n"
    "      --max-line N      bytes of a line looked at (default 65536); longer lines\n"
    "                        are cut, counted and reported\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit status: 0 success (match: whether or not anything matched); 1 rule load\n"
    "errors or failed tests; 2 usage errors or unreadable input.\n";

typedef struct opts {
    const char **rules;
    size_t nrules;
    const char **overlays;
    size_t noverlays;
    ward_decoder decoder;
    int decoder_set;
    int json;
    int explain;
    size_t max_line;
    size_t naive_bytes;
    const char *baseline;
    int runs;
    int report;
} opts;

/* ---- loading ---- */

static void print_diags(const ward_diags *d) {
    char buf[2048];
    for (size_t i = 0; i < d->n; i++) {
        ward_diag_format(&d->v[i], buf, sizeof(buf));
        fprintf(stderr, "%s\n", buf);
    }
    if (d->oom)
        fprintf(stderr, "ward-rules: out of memory: some errors were not recorded\n");
}

/* Loads rules and overlays and compiles them. Returns the engine, or NULL after printing
 * every error. *nerr gets the number of load errors. */
static ward_engine *load_engine(const char *const *paths, size_t npaths, const opts *o,
                                size_t *nerr) {
    ward_rules rs;
    ward_diags d;
    ward_rules_init(&rs);
    ward_diags_init(&d);
    for (size_t i = 0; i < npaths; i++)
        ward_rules_load(&rs, paths[i], &d);
    for (size_t i = 0; i < o->noverlays; i++)
        ward_rules_load_overlay(&rs, o->overlays[i], &d);
    print_diags(&d);
    *nerr = d.n + (size_t)d.oom;
    ward_diags_fini(&d);
    ward_limits l;
    ward_limits_default(&l);
    l.max_line = o->max_line;
    char err[512];
    ward_engine *e = ward_engine_new(&rs, &l, err, sizeof(err));
    ward_rules_fini(&rs);
    if (!e)
        fprintf(stderr, "ward-rules: %s\n", err);
    return e;
}

/* load_engine for the commands that run the rules on logs: NULL (after printing every
 * error) when any rule has one. */
static ward_engine *load_clean(const char *const *paths, size_t npaths, const opts *o) {
    size_t nerr = 0;
    ward_engine *e = load_engine(paths, npaths, o, &nerr);
    if (e && nerr) {
        ward_engine_free(e);
        return NULL;
    }
    return e;
}

/* ---- reading lines ---- */

typedef struct reader {
    FILE *f;
    const char *name;
    char *buf;
    size_t cap, len, pos;
    size_t max_line;
    int eof;
    int skipping; /* inside a line that was cut: drop input up to its newline */
    uint64_t lineno;
    uint64_t truncated;
} reader;

static int reader_open(reader *r, const char *path, size_t max_line) {
    memset(r, 0, sizeof(*r));
    r->max_line = max_line;
    r->name = path;
    if (strcmp(path, "-") == 0) {
        r->f = stdin;
        r->name = "-";
    } else {
        r->f = fopen(path, "rb");
        if (!r->f) {
            fprintf(stderr, "ward-rules: %s: %s\n", path, strerror(errno));
            return -1;
        }
    }
    r->cap = 256 * 1024;
    if (r->cap < max_line + 1)
        r->cap = max_line + 1;
    r->buf = malloc(r->cap);
    if (!r->buf) {
        fprintf(stderr, "ward-rules: out of memory\n");
        if (r->f != stdin)
            fclose(r->f);
        return -1;
    }
    return 0;
}

static void reader_close(reader *r) {
    if (r->f && r->f != stdin)
        fclose(r->f);
    free(r->buf);
}

static int reader_fill(reader *r) {
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->eof || r->len == r->cap)
        return 0;
    size_t n = fread(r->buf + r->len, 1, r->cap - r->len, r->f);
    if (n == 0)
        r->eof = 1;
    r->len += n;
    return (int)n;
}

/* Next line without its newline; lines over max_line are cut there (the rest of the line
 * is skipped on the next call) and *cut set. Returns 1, or 0 at the end. */
static int reader_next(reader *r, const uint8_t **line, size_t *len, int *cut) {
    *cut = 0;
    while (r->skipping) {
        char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
        if (nl) {
            r->pos = (size_t)(nl - r->buf) + 1;
            r->skipping = 0;
        } else {
            r->pos = r->len;
            if (r->eof)
                return 0;
            reader_fill(r);
        }
    }
    for (;;) {
        char *start = r->buf + r->pos;
        size_t avail = r->len - r->pos;
        char *nl = memchr(start, '\n', avail);
        size_t l;
        if (nl) {
            l = (size_t)(nl - start);
            r->pos += l + 1;
        } else if (avail > r->max_line) {
            l = avail; /* no newline within the limit: cut, skip the rest later */
            r->skipping = 1;
        } else if (r->eof) {
            if (avail == 0)
                return 0;
            l = avail;
            r->pos = r->len;
        } else {
            reader_fill(r);
            continue;
        }
        if (l > r->max_line) {
            l = r->max_line;
            *cut = 1;
            if (r->skipping)
                r->pos += l;
        }
        *line = (const uint8_t *)start;
        *len = l;
        break;
    }
    r->lineno++;
    if (*cut)
        r->truncated++;
    return 1;
}

/* ---- output helpers ---- */

/* Prints a value for text output: printable bytes as they are, others as \xHH. */
static void text_val(FILE *out, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
}

/* ---- extracted fields ---- */

typedef struct extracted {
    size_t n;
    struct {
        const char *name;
        const char *val;
        size_t len;
    } f[WARD_EXTRACT_MAX];
} extracted;

static int collect_field(const char *name, const char *val, size_t len, void *ctx) {
    extracted *x = ctx;
    if (x->n < WARD_EXTRACT_MAX) {
        x->f[x->n].name = name;
        x->f[x->n].val = val;
        x->f[x->n].len = len;
        x->n++;
    }
    return 0;
}

/* ---- check ---- */

static int cmd_check(const opts *o, char **paths, int npaths) {
    if (npaths == 0) {
        fprintf(stderr, "ward-rules check: no rule path given\n");
        return EXIT_USAGE;
    }
    size_t nerr = 0;
    ward_engine *e = load_engine((const char *const *)paths, (size_t)npaths, o, &nerr);
    if (!e)
        return EXIT_FAIL;
    size_t n = ward_engine_rule_count(e), nyara = 0;
    for (size_t i = 0; i < n; i++)
        nyara += ward_engine_rule(e, i)->yara_index >= 0;
    printf("%zu rules loaded (%zu YARA), %zu errors; %zu distinct literals, %zu KiB "
           "automaton\n",
           n, nyara, nerr, ward_engine_literal_count(e), ward_engine_memory(e) / 1024);
    size_t na = ward_engine_always_count(e);
    if (na) {
        printf("%zu rules have no usable literal and run on every event in their scope:\n", na);
        for (size_t i = 0; i < na; i++) {
            double ns;
            const ward_rule *r = ward_engine_always_rule(e, i, &ns);
            printf("  %s  ~%.0f ns/event  (%s:%d)\n", r->id, ns, r->file ? r->file : "", r->line);
        }
    }
    size_t nt = ward_engine_twin_count(e);
    if (nt) {
        printf("%zu rules have the same detection and scope as an earlier rule and share its "
               "verdict:\n",
               nt);
        for (size_t i = 0; i < n; i++) {
            size_t t = ward_engine_twin_of(e, i);
            if (t != i)
                printf("  %s = %s  (%s:%d)\n", ward_engine_rule(e, i)->id,
                       ward_engine_rule(e, t)->id, ward_engine_rule(e, i)->file,
                       ward_engine_rule(e, i)->line);
        }
    }
    ward_engine_free(e);
    return nerr ? EXIT_FAIL : EXIT_OK;
}

/* ---- test ---- */

typedef struct test_hit {
    size_t want;
    int found;
} test_hit;

static int on_test_hit(const ward_rule *r, size_t idx, void *ctx) {
    (void)r;
    test_hit *t = ctx;
    if (idx == t->want)
        t->found = 1;
    return 0;
}

static int field_equals(const char *val, size_t len, const char *want) {
    return strlen(want) == len && memcmp(val, want, len) == 0;
}

static int cmd_test(const opts *o, char **paths, int npaths) {
    if (npaths == 0) {
        fprintf(stderr, "ward-rules test: no rule path given\n");
        return EXIT_USAGE;
    }
    size_t nerr = 0;
    ward_engine *e = load_engine((const char *const *)paths, (size_t)npaths, o, &nerr);
    if (!e)
        return EXIT_FAIL;
    ward_scratch *s = ward_scratch_new(e);
    if (!s) {
        fprintf(stderr, "ward-rules: out of memory\n");
        ward_engine_free(e);
        return EXIT_FAIL;
    }
    ward_event ev;
    ward_event_init(&ev);
    size_t pass = 0, fail = 0;
    for (size_t i = 0; i < ward_engine_rule_count(e); i++) {
        const ward_rule *r = ward_engine_rule(e, i);
        size_t positives = 0, negatives = 0;
        for (size_t k = 0; k < r->ntests; k++) {
            const ward_rule_test *t = &r->tests[k];
            /* samples are numbered within their list, as the author counts them */
            size_t nth = t->expect_match ? ++positives : ++negatives;
            ward_decoder dec = r->decoder >= 0 ? (ward_decoder)r->decoder : WARD_DECODER_AUTO;
            ward_decode(dec, (const uint8_t *)t->line, t->line_len, &ev);
            test_hit th = {i, 0};
            ward_engine_match(e, s, &ev, on_test_hit, &th);
            const char *what = t->expect_match ? "match" : "no_match";
            char problem[1024] = "";
            if (r->mode == WARD_MODE_OFF)
                snprintf(problem, sizeof(problem), "rule is mode: off");
            else if (t->expect_match && !th.found)
                snprintf(problem, sizeof(problem), "expected a match, got none");
            else if (!t->expect_match && th.found)
                snprintf(problem, sizeof(problem), "expected no match, but it matched");
            if (!problem[0] && t->expect_match && t->nfields) {
                extracted x = {0};
                ward_extract_run(r, &ev, ward_scratch_ctx(s), collect_field, &x);
                for (size_t f = 0; f < t->nfields && !problem[0]; f++) {
                    const ward_test_field *tf = &t->fields[f];
                    const char *got = NULL;
                    size_t glen = 0;
                    for (size_t q = 0; q < x.n; q++)
                        if (strcmp(x.f[q].name, tf->name) == 0) {
                            got = x.f[q].val;
                            glen = x.f[q].len;
                        }
                    if (!got) {
                        const ward_field *ef = ward_event_get(&ev, tf->name);
                        if (ef) {
                            got = ef->val;
                            glen = ef->val_len;
                        }
                    }
                    if (!got)
                        snprintf(problem, sizeof(problem), "field %s: expected \"%s\", absent",
                                 tf->name, tf->value);
                    else if (!field_equals(got, glen, tf->value))
                        snprintf(problem, sizeof(problem),
                                 "field %s: expected \"%s\", got \"%.*s\"", tf->name, tf->value,
                                 (int)(glen > 200 ? 200 : glen), got);
                }
            }
            if (problem[0]) {
                fail++;
                printf("FAIL %s:%d:%d: rule %s: %s sample %zu: %s\n     line: %s\n",
                       r->file ? r->file : "", t->src_line, t->src_col, r->id, what, nth, problem,
                       t->line);
            } else {
                pass++;
                printf("PASS %s %s sample %zu\n", r->id, what, nth);
            }
        }
        if (r->extract && positives == 0) {
            fail++;
            printf("FAIL %s:%d: rule %s: has extract but no match sample to test it on\n",
                   r->file ? r->file : "", r->line, r->id);
        }
    }
    ward_event_fini(&ev);
    ward_scratch_free(s);
    ward_engine_free(e);
    printf("%zu passed, %zu failed\n", pass, fail + nerr);
    return (fail || nerr) ? EXIT_FAIL : EXIT_OK;
}

/* ---- match ---- */

typedef struct match_ctx {
    const opts *o;
    const char *file;
    uint64_t lineno;
    const ward_event *ev;
    ward_scratch *s;
    uint64_t matches;
    ward_buf *json; /* --json: the line being written */
    int failed;     /* a match could not be written */
} match_ctx;

/* One line of --json into b (reset first): the match, the fields extracted and the
 * event's fields. Returns 0, or -1 when memory ran out. */
static int match_json(ward_buf *b, const match_ctx *m, const ward_rule *r, const extracted *x) {
    ward_jw w;
    ward_buf_reset(b);
    ward_jw_init(&w, b);
    ward_jw_obj(&w);
    ward_jw_kcstr(&w, "file", m->file);
    ward_jw_ku64(&w, "line", m->lineno);
    ward_jw_key(&w, "rule");
    ward_jw_obj(&w);
    ward_jw_kcstr(&w, "id", r->id);
    ward_jw_kcstr(&w, "title", r->title ? r->title : "");
    ward_jw_kcstr(&w, "level", ward_level_name(r->level));
    ward_jw_kcstr(&w, "mode", ward_mode_name(r->mode));
    ward_jw_ku64(&w, "rev", r->rev);
    ward_jw_obj_end(&w);
    ward_jw_key(&w, "extracted");
    ward_jw_obj(&w);
    for (size_t i = 0; i < x->n; i++)
        ward_jw_kstr(&w, x->f[i].name, x->f[i].val, x->f[i].len);
    ward_jw_obj_end(&w);
    const ward_event *ev = m->ev;
    ward_jw_key(&w, "event");
    ward_jw_obj(&w);
    ward_jw_kcstr(&w, "decoder", ev->decoder ? ev->decoder : "");
    for (size_t i = 0; i < ev->nfields; i++)
        ward_jw_kstr(&w, ev->fields[i].name, ev->fields[i].val, ev->fields[i].val_len);
    ward_jw_obj_end(&w);
    if (ev->truncated) {
        ward_jw_key(&w, "truncated");
        ward_jw_bool(&w, 1);
    }
    ward_jw_obj_end(&w);
    ward_buf_putc(b, '\n');
    return b->oom ? -1 : 0;
}

static int on_match(const ward_rule *r, size_t idx, void *vctx) {
    (void)idx;
    match_ctx *m = vctx;
    extracted x = {0};
    ward_extract_run(r, m->ev, ward_scratch_ctx(m->s), collect_field, &x);
    m->matches++;
    if (m->o->json) {
        if (match_json(m->json, m, r, &x) < 0) {
            fprintf(stderr, "ward-rules: out of memory writing the match of %s at %s:%llu\n", r->id,
                    m->file, (unsigned long long)m->lineno);
            m->failed = 1;
        } else {
            fwrite(m->json->p, 1, m->json->len, stdout);
        }
    } else {
        printf("%s:%llu: %s %s%s \"%s\"", m->file, (unsigned long long)m->lineno,
               ward_level_name(r->level), r->id, r->mode == WARD_MODE_SHADOW ? " (shadow)" : "",
               r->title ? r->title : "");
        for (size_t i = 0; i < x.n; i++) {
            printf(" %s=", x.f[i].name);
            text_val(stdout, x.f[i].val, x.f[i].len);
        }
        fputc('\n', stdout);
    }
    return 0;
}

/* Finds, for --explain, which of rule i's literals occur in the line. */
static void explain_literals(const ward_engine *e, size_t i, const ward_event *ev) {
    const ward_relit *rl = ward_engine_rule_literals(e, i);
    if (!rl || rl->any || rl->nalts == 0) {
        printf(" (always runs: no usable literal)");
        return;
    }
    int shown = 0;
    for (size_t k = 0; k < rl->nalts; k++) {
        const ward_lit *l = &rl->alts[k];
        for (size_t p = 0; p + l->len <= ev->line_len; p++) {
            if (strncasecmp((const char *)ev->line + p, (const char *)l->s, l->len) == 0) {
                printf("%s\"", shown++ ? ", " : " (literal ");
                text_val(stdout, (const char *)l->s, l->len);
                printf("\"");
                break;
            }
        }
    }
    if (shown)
        printf(")");
    else if (ev->transformed)
        printf(" (decoded values differ from the raw line: prefilter bypassed)");
}

static void explain_line(const ward_engine *e, ward_scratch *s, const ward_event *ev,
                         const char *file, uint64_t lineno) {
    printf("%s:%llu: decoder=%s%s\n", file, (unsigned long long)lineno, ev->decoder,
           ev->truncated ? " (line truncated)" : "");
    for (size_t i = 0; i < ev->nfields; i++) {
        if (strcmp(ev->fields[i].name, "event.original") == 0)
            continue;
        printf("  field %s = \"", ev->fields[i].name);
        text_val(stdout, ev->fields[i].val, ev->fields[i].val_len);
        printf("\"\n");
    }
    const uint32_t *cand;
    size_t nc = ward_scratch_candidates(s, &cand);
    printf("  prefilter: %zu of %zu rules are candidates\n", nc, ward_engine_rule_count(e));
    for (size_t c = 0; c < nc; c++) {
        const ward_rule *r = ward_engine_rule(e, cand[c]);
        printf("  candidate %s", r->id);
        explain_literals(e, cand[c], ev);
        printf("\n");
        char why[2048] = "";
        if (r->det) {
            ward_detect_explain(r->det, ev, ward_scratch_ctx(s), why, sizeof(why));
        } else {
            snprintf(why, sizeof(why), "YARA rule on the message");
        }
        printf("    %s\n", why);
    }
}

static int cmd_match(const opts *o, char **files, int nfiles) {
    if (o->nrules == 0) {
        fprintf(stderr, "ward-rules match: -r PATH is required\n");
        return EXIT_USAGE;
    }
    ward_engine *e = load_clean(o->rules, o->nrules, o);
    if (!e)
        return EXIT_FAIL;
    ward_scratch *s = ward_scratch_new(e);
    if (!s) {
        ward_engine_free(e);
        return EXIT_FAIL;
    }
    ward_event ev;
    ward_event_init(&ev);
    static char *stdin_only[] = {"-"};
    if (nfiles == 0) {
        files = stdin_only;
        nfiles = 1;
    }
    int rc = EXIT_OK;
    uint64_t lines = 0, matches = 0, truncated = 0;
    ward_buf json;
    ward_buf_init(&json);
    for (int fi = 0; fi < nfiles; fi++) {
        reader rd;
        if (reader_open(&rd, files[fi], o->max_line) != 0) {
            rc = EXIT_USAGE;
            continue;
        }
        const uint8_t *line;
        size_t len;
        int cut;
        match_ctx m = {o, rd.name, 0, &ev, s, 0, &json, 0};
        while (reader_next(&rd, &line, &len, &cut)) {
            ward_decode(o->decoder_set ? o->decoder : WARD_DECODER_AUTO, line, len, &ev);
            ev.truncated = cut;
            m.lineno = rd.lineno;
            ward_engine_match(e, s, &ev, on_match, &m);
            if (o->explain)
                explain_line(e, s, &ev, rd.name, rd.lineno);
        }
        if (ferror(rd.f)) {
            fprintf(stderr, "ward-rules: %s: read error\n", rd.name);
            rc = EXIT_USAGE;
        }
        if (m.failed && rc == EXIT_OK)
            rc = EXIT_FAIL;
        lines += rd.lineno;
        matches += m.matches;
        truncated += rd.truncated;
        reader_close(&rd);
    }
    uint64_t limits = ward_scratch_ctx(s)->limit_hits;
    fflush(stdout);
    fprintf(stderr, "ward-rules: %llu lines, %llu matches", (unsigned long long)lines,
            (unsigned long long)matches);
    if (truncated)
        fprintf(stderr, ", %llu lines cut at %zu bytes", (unsigned long long)truncated,
                o->max_line);
    if (limits)
        fprintf(stderr, ", %llu regex evaluations stopped by a limit (treated as no match)",
                (unsigned long long)limits);
    fprintf(stderr, "\n");
    ward_buf_fini(&json);
    ward_event_fini(&ev);
    ward_scratch_free(s);
    ward_engine_free(e);
    return rc;
}

/* ---- whole-file input for profile and bench ---- */

typedef struct mapped {
    const uint8_t *p;
    size_t len;
} mapped;

static int map_file(const char *path, mapped *m) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "ward-rules: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "ward-rules: %s: not a regular file\n", path);
        close(fd);
        return -1;
    }
    m->len = (size_t)st.st_size;
    m->p = NULL;
    if (m->len) {
        void *p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            fprintf(stderr, "ward-rules: %s: %s\n", path, strerror(errno));
            close(fd);
            return -1;
        }
        madvise(p, m->len, MADV_SEQUENTIAL);
        m->p = p;
    }
    close(fd);
    return 0;
}

static void unmap_file(mapped *m) {
    if (m->p)
        munmap((void *)m->p, m->len);
}

/* Splits [p, p+len) into lines; calls fn for each (cut to max_line). */
typedef void (*line_fn)(const uint8_t *line, size_t len, int cut, uint64_t lineno, void *ctx);

static uint64_t for_each_line(const uint8_t *p, size_t len, size_t max_line, line_fn fn,
                              void *ctx) {
    uint64_t n = 0;
    const uint8_t *end = p + len;
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        int cut = l > max_line;
        n++;
        fn(p, cut ? max_line : l, cut, n, ctx);
        p += l + 1;
    }
    return n;
}

static double seconds_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- profile ---- */

typedef struct run_ctx {
    const ward_engine *e;
    ward_scratch *s;
    ward_event ev;
    ward_decoder dec;
    int naive;
    /* (line, rule) pairs found, in order */
    uint64_t *pairs;
    size_t npairs, cap;
    int record;
    uint64_t lineno;
    uint64_t cut;
    int oom;
} run_ctx;

static int on_pair(const ward_rule *r, size_t idx, void *vctx) {
    (void)r;
    run_ctx *c = vctx;
    if (!c->record)
        return 0;
    if (c->npairs == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 4096;
        uint64_t *p = realloc(c->pairs, ncap * sizeof(*p));
        if (!p) {
            c->oom = 1;
            return 1;
        }
        c->pairs = p;
        c->cap = ncap;
    }
    c->pairs[c->npairs++] = (c->lineno << 24) | (uint64_t)idx;
    return 0;
}

static void run_line(const uint8_t *line, size_t len, int cut, uint64_t lineno, void *vctx) {
    run_ctx *c = vctx;
    c->lineno = lineno;
    c->cut += (uint64_t)cut;
    ward_decode(c->dec, line, len, &c->ev);
    c->ev.truncated = cut;
    if (c->naive)
        ward_engine_match_naive(c->e, c->s, &c->ev, on_pair, c);
    else
        ward_engine_match(c->e, c->s, &c->ev, on_pair, c);
}

static int run_init(run_ctx *c, const ward_engine *e, ward_decoder dec) {
    memset(c, 0, sizeof(*c));
    c->e = e;
    c->dec = dec;
    ward_event_init(&c->ev);
    c->s = ward_scratch_new(e);
    return c->s ? 0 : -1;
}

static void run_fini(run_ctx *c) {
    ward_event_fini(&c->ev);
    ward_scratch_free(c->s);
    free(c->pairs);
}

typedef struct prof_row {
    size_t idx;
    ward_rule_stats st;
} prof_row;

static int prof_cmp(const void *a, const void *b) {
    const prof_row *x = a, *y = b;
    if (x->st.time_ns != y->st.time_ns)
        return x->st.time_ns < y->st.time_ns ? 1 : -1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmd_profile(const opts *o, char **files, int nfiles) {
    if (o->nrules == 0 || nfiles != 1) {
        fprintf(stderr, "ward-rules profile: usage: profile -r PATH FILE\n");
        return EXIT_USAGE;
    }
    ward_engine *e = load_clean(o->rules, o->nrules, o);
    if (!e)
        return EXIT_FAIL;
    mapped m;
    if (map_file(files[0], &m) != 0) {
        ward_engine_free(e);
        return EXIT_USAGE;
    }
    run_ctx c;
    if (run_init(&c, e, o->decoder_set ? o->decoder : WARD_DECODER_AUTO) != 0) {
        run_fini(&c);
        unmap_file(&m);
        ward_engine_free(e);
        return EXIT_FAIL;
    }
    ward_scratch_set_timing(c.s, 1);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t lines = for_each_line(m.p, m.len, o->max_line, run_line, &c);
    double secs = seconds_since(&t0);
    size_t n = ward_engine_rule_count(e);
    prof_row *rows = calloc(n ? n : 1, sizeof(*rows));
    if (!rows) {
        run_fini(&c);
        unmap_file(&m);
        ward_engine_free(e);
        return EXIT_FAIL;
    }
    const ward_rule_stats *st = ward_scratch_stats(c.s);
    for (size_t i = 0; i < n; i++) {
        rows[i].idx = i;
        rows[i].st = st[i];
    }
    qsort(rows, n, sizeof(*rows), prof_cmp);
    printf("%llu lines, %.1f MB in %.3f s (%.1f MB/s)\n", (unsigned long long)lines,
           (double)m.len / 1e6, secs, secs > 0 ? (double)m.len / 1e6 / secs : 0.0);
    printf("%-40s %12s %10s %8s %12s %10s\n", "rule", "candidates", "matches", "limits", "time_ms",
           "ns/cand");
    for (size_t i = 0; i < n; i++) {
        const ward_rule *r = ward_engine_rule(e, rows[i].idx);
        const ward_rule_stats *s = &rows[i].st;
        printf("%-40s %12llu %10llu %8llu %12.3f %10.0f\n", r->id,
               (unsigned long long)s->candidates, (unsigned long long)s->matches,
               (unsigned long long)s->limit_hits, (double)s->time_ns / 1e6,
               s->candidates ? (double)s->time_ns / (double)s->candidates : 0.0);
    }
    if (c.cut)
        fprintf(stderr, "ward-rules: %llu lines cut at %zu bytes\n", (unsigned long long)c.cut,
                o->max_line);
    free(rows);
    run_fini(&c);
    unmap_file(&m);
    ward_engine_free(e);
    return EXIT_OK;
}

/* ---- bench ---- */

typedef struct bench_result {
    double secs; /* median of the runs */
    size_t npairs;
    uint64_t *pairs; /* owned */
    uint64_t lines;
} bench_result;

static int dbl_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Runs the engine (or the naive loop) over len bytes runs times (1 to MAX_RUNS, as
 * --runs takes it); keeps the pairs of the first run and the median time. */
static int bench_run(const ward_engine *e, const opts *o, const uint8_t *p, size_t len, int naive,
                     int runs, bench_result *out) {
    double t[MAX_RUNS];
    memset(out, 0, sizeof(*out));
    if (runs < 1 || runs > MAX_RUNS)
        return -1;
    for (int k = 0; k < runs; k++) {
        run_ctx c;
        if (run_init(&c, e, o->decoder_set ? o->decoder : WARD_DECODER_RAW) != 0) {
            run_fini(&c);
            return -1;
        }
        c.naive = naive;
        c.record = k == 0;
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        out->lines = for_each_line(p, len, o->max_line, run_line, &c);
        t[k] = seconds_since(&t0);
        if (c.oom) {
            run_fini(&c);
            return -1;
        }
        if (k == 0) {
            out->pairs = c.pairs;
            out->npairs = c.npairs;
            c.pairs = NULL;
        }
        run_fini(&c);
    }
    qsort(t, (size_t)runs, sizeof(double), dbl_cmp);
    out->secs = t[runs / 2];
    return 0;
}

static long peak_rss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int cmd_bench(const opts *o, char **files, int nfiles) {
    if (o->nrules == 0 || nfiles != 1) {
        fprintf(stderr, "ward-rules bench: usage: bench -r PATH FILE\n");
        return EXIT_USAGE;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ward_engine *e = load_clean(o->rules, o->nrules, o);
    double compile_s = seconds_since(&t0);
    if (!e)
        return EXIT_FAIL;
    ward_engine *base = NULL;
    if (o->baseline) {
        const char *bp[] = {o->baseline};
        opts bo = *o;
        bo.noverlays = 0;
        base = load_clean(bp, 1, &bo);
        if (!base) {
            ward_engine_free(e);
            return EXIT_FAIL;
        }
    }
    mapped m;
    if (map_file(files[0], &m) != 0) {
        ward_engine_free(base);
        ward_engine_free(e);
        return EXIT_USAGE;
    }
    /* The naive loop may run on a prefix only (it is slow); cut at a line end. */
    size_t naive_len = m.len;
    if (o->naive_bytes && o->naive_bytes < m.len) {
        const uint8_t *nl = memchr(m.p + o->naive_bytes, '\n', m.len - o->naive_bytes);
        naive_len = nl ? (size_t)(nl - m.p) + 1 : m.len;
    }
    bench_result core, naive, basel = {0};
    int rc = EXIT_FAIL;
    memset(&naive, 0, sizeof(naive));
    if (bench_run(e, o, m.p, m.len, 0, o->runs, &core) != 0 ||
        bench_run(e, o, m.p, naive_len, 1, 1, &naive) != 0 ||
        (base && bench_run(base, o, m.p, m.len, 0, o->runs, &basel) != 0)) {
        fprintf(stderr, "ward-rules bench: out of memory\n");
        goto done;
    }
    /* Agreement: the core's pairs inside the naive prefix must equal the naive pairs. */
    size_t core_in_prefix = 0;
    uint64_t last_line = naive.lines;
    while (core_in_prefix < core.npairs && (core.pairs[core_in_prefix] >> 24) <= last_line)
        core_in_prefix++;
    int agree = core_in_prefix == naive.npairs &&
                (naive.npairs == 0 ||
                 memcmp(core.pairs, naive.pairs, naive.npairs * sizeof(uint64_t)) == 0);
    double core_mb = (double)m.len / 1e6 / core.secs;
    double naive_mb = (double)naive_len / 1e6 / naive.secs;
    double ratio = core_mb / naive_mb;
    double base_mb = base ? (double)m.len / 1e6 / basel.secs : 0;
    size_t nrules = ward_engine_rule_count(e);
    if (o->json) {
        printf("{\"rules\":%zu,\"always_run\":%zu,\"literals\":%zu,\"compile_s\":%.3f,"
               "\"bytes\":%zu,\"lines\":%llu,\"core_mb_s\":%.1f,\"core_lines_s\":%.0f,"
               "\"naive_bytes\":%zu,\"naive_mb_s\":%.2f,\"naive_lines_s\":%.0f,"
               "\"ratio\":%.2f,\"pairs\":%zu,\"naive_pairs\":%zu,\"agree\":%s,"
               "\"peak_rss_kib\":%ld",
               nrules, ward_engine_always_count(e), ward_engine_literal_count(e), compile_s, m.len,
               (unsigned long long)core.lines, core_mb, (double)core.lines / core.secs, naive_len,
               naive_mb, (double)naive.lines / naive.secs, ratio, core.npairs, naive.npairs,
               agree ? "true" : "false", peak_rss_kib());
        if (base)
            printf(",\"baseline_rules\":%zu,\"baseline_core_mb_s\":%.1f,\"scale_ratio\":%.3f",
                   ward_engine_rule_count(base), base_mb, core_mb / base_mb);
        printf("}\n");
    } else {
        printf("rules: %zu (%zu always run), %zu literals, compiled in %.3f s\n", nrules,
               ward_engine_always_count(e), ward_engine_literal_count(e), compile_s);
        printf("input: %.1f MB, %llu lines\n", (double)m.len / 1e6, (unsigned long long)core.lines);
        printf("core:  %8.1f MB/s %12.0f lines/s  (%zu pairs)\n", core_mb,
               (double)core.lines / core.secs, core.npairs);
        printf("naive: %8.2f MB/s %12.0f lines/s  (%zu pairs, over %.1f MB)\n", naive_mb,
               (double)naive.lines / naive.secs, naive.npairs, (double)naive_len / 1e6);
        printf("ratio: %.1fx  agree: %s  peak RSS: %ld KiB\n", ratio, agree ? "yes" : "NO",
               peak_rss_kib());
        if (base)
            printf("baseline (%zu rules): %.1f MB/s; this set runs at %.2f of it\n",
                   ward_engine_rule_count(base), base_mb, core_mb / base_mb);
    }
    rc = agree ? EXIT_OK : EXIT_FAIL;
done:
    free(core.pairs);
    free(naive.pairs);
    free(basel.pairs);
    unmap_file(&m);
    ward_engine_free(base);
    ward_engine_free(e);
    return rc;
}

/* ---- main ---- */

static int push(const char ***v, size_t *n, const char *s) {
    const char **p = realloc(*v, (*n + 1) * sizeof(*p));
    if (!p)
        return -1;
    p[(*n)++] = s;
    *v = p;
    return 0;
}

static int parse_size(const char *s, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > (1ull << 40))
        return -1;
    *out = (size_t)v;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    /* import-fail2ban has options of its own (its -o is the output directory) */
    if (strcmp(cmd, "import-fail2ban") == 0)
        return import_fail2ban_main(argc - 1, argv + 1);
    opts o;
    memset(&o, 0, sizeof(o));
    o.max_line = 65536;
    o.runs = 3;
    enum { OPT_JSON = 256, OPT_EXPLAIN, OPT_MAXLINE, OPT_NAIVE, OPT_BASE, OPT_RUNS, OPT_REPORT };
    static const struct option longopts[] = {
        {"rules", required_argument, NULL, 'r'},
        {"overlay", required_argument, NULL, 'o'},
        {"decoder", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, OPT_JSON},
        {"explain", no_argument, NULL, OPT_EXPLAIN},
        {"max-line", required_argument, NULL, OPT_MAXLINE},
        {"naive-bytes", required_argument, NULL, OPT_NAIVE},
        {"baseline-rules", required_argument, NULL, OPT_BASE},
        {"runs", required_argument, NULL, OPT_RUNS},
        {"report", no_argument, NULL, OPT_REPORT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int rc = EXIT_USAGE;
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "r:o:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            if (push(&o.rules, &o.nrules, optarg) != 0)
                goto done;
            break;
        case 'o':
            if (push(&o.overlays, &o.noverlays, optarg) != 0)
                goto done;
            break;
        case 'd':
            if (ward_decoder_lookup(optarg, &o.decoder) != 0) {
                fprintf(stderr, "ward-rules: unknown decoder '%s'\n", optarg);
                goto done;
            }
            o.decoder_set = 1;
            break;
        case OPT_JSON:
            o.json = 1;
            break;
        case OPT_EXPLAIN:
            o.explain = 1;
            break;
        case OPT_MAXLINE:
            if (parse_size(optarg, &o.max_line) != 0) {
                fprintf(stderr, "ward-rules: --max-line wants a positive number\n");
                goto done;
            }
            break;
        case OPT_NAIVE:
            if (parse_size(optarg, &o.naive_bytes) != 0) {
                fprintf(stderr, "ward-rules: --naive-bytes wants a positive number\n");
                goto done;
            }
            break;
        case OPT_BASE:
            o.baseline = optarg;
            break;
        case OPT_RUNS: {
            size_t r;
            if (parse_size(optarg, &r) != 0 || r > MAX_RUNS) {
                fprintf(stderr, "ward-rules: --runs wants 1 to %d\n", MAX_RUNS);
                goto done;
            }
            o.runs = (int)r;
            break;
        }
        case OPT_REPORT:
            o.report = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            rc = EXIT_OK;
            goto done;
        default:
            fputs(usage_text, stderr);
            goto done;
        }
    }
    char **rest = argv + optind;
    int nrest = argc - optind;
    if (o.report && strcmp(cmd, "check") != 0) {
        fprintf(stderr, "ward-rules: --report is an option of check\n");
        rc = EXIT_USAGE;
    } else if (strcmp(cmd, "check") == 0 && o.report)
        rc = sigma_report_run(rest, nrest, stdout);
    else if (strcmp(cmd, "check") == 0)
        rc = cmd_check(&o, rest, nrest);
    else if (strcmp(cmd, "test") == 0)
        rc = cmd_test(&o, rest, nrest);
    else if (strcmp(cmd, "match") == 0)
        rc = cmd_match(&o, rest, nrest);
    else if (strcmp(cmd, "profile") == 0)
        rc = cmd_profile(&o, rest, nrest);
    else if (strcmp(cmd, "bench") == 0)
        rc = cmd_bench(&o, rest, nrest);
    else {
        fprintf(stderr, "ward-rules: unknown command '%s'\n\n%s", cmd, usage_text);
        rc = EXIT_USAGE;
    }
done:
    free(o.rules);
    free(o.overlays);
    return rc;
}
