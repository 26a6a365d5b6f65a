/* Micro-benchmark of the multi-pattern core (not a test).
 *
 *   mpm_bench PATTERNS CORPUS [-v] [-c] [-r N]
 *
 * Extracts literals from every pattern (one PCRE2 pattern a line), prints how many are
 * "any", builds one ward_mpm of all alternatives, and measures on CORPUS (replicated N
 * times in memory): the raw scan over the whole buffer, the scan line by line, the mean
 * number of candidate rules per line, and the whole core (scan + confirm candidates with
 * PCRE2 JIT + always-run rules). -c also checks, for every line and rule, that a PCRE2
 * match implies a candidate, and times the naive loop. It also reports compile time and
 * memory for the literal set and for ten variants of it (about 10x as many literals). */
#include "ward/mpm.h"
#include "ward/re.h"
#include "ward/relit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(b);
        return NULL;
    }
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

typedef struct cand {
    uint8_t *mark;
    uint32_t *list;
    size_t n;
} cand;

static int on_hit(uint32_t id, size_t end, void *ctx) {
    (void)end;
    cand *c = ctx;
    if (!c->mark[id]) {
        c->mark[id] = 1;
        c->list[c->n++] = id;
    }
    return 0;
}

static int count_hit(uint32_t id, size_t end, void *ctx) {
    (void)id;
    (void)end;
    (*(size_t *)ctx)++;
    return 0;
}

static ward_mpm *build(ward_relit *rl, size_t n, int variant, double *secs, char *err,
                       size_t errlen) {
    double t0 = now();
    ward_mpm *m = ward_mpm_new();
    for (size_t i = 0; i < n && m; i++)
        for (size_t k = 0; k < rl[i].nalts; k++) {
            uint8_t buf[WARD_MPM_MAX_LIT];
            size_t len = rl[i].alts[k].len;
            memcpy(buf, rl[i].alts[k].s, len);
            if (variant) {
                /* A different literal of the same shape: change one byte. */
                buf[len / 2] = (uint8_t)('A' + (variant * 7 + (int)i) % 26);
            }
            if (ward_mpm_add(m, buf, len, (uint32_t)i) < 0) {
                ward_mpm_free(m);
                return NULL;
            }
        }
    if (m && ward_mpm_compile(m, err, errlen) < 0) {
        ward_mpm_free(m);
        return NULL;
    }
    *secs = now() - t0;
    return m;
}

int main(int argc, char **argv) {
    int verbose = 0, check = 0, reps = 1;
    const char *pf = NULL, *cf = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v"))
            verbose = 1;
        else if (!strcmp(argv[i], "-c"))
            check = 1;
        else if (!strcmp(argv[i], "-r") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!pf)
            pf = argv[i];
        else
            cf = argv[i];
    }
    if (!pf || !cf || reps < 1) {
        fprintf(stderr, "usage: mpm_bench PATTERNS CORPUS [-v] [-c] [-r N]\n");
        return 2;
    }
    size_t plen, clen1;
    uint8_t *pats = slurp(pf, &plen), *c1 = slurp(cf, &clen1);
    if (!pats || !c1) {
        fprintf(stderr, "cannot read input\n");
        return 1;
    }
    size_t clen = clen1 * (size_t)reps;
    uint8_t *corpus = malloc(clen);
    for (int r = 0; r < reps; r++)
        memcpy(corpus + (size_t)r * clen1, c1, clen1);
    free(c1);

    size_t np = 0, nany = 0, nlits = 0;
    ward_relit *rl = calloc(4096, sizeof(*rl));
    pcre2_code **re = calloc(4096, sizeof(*re));
    char err[256];
    double t0 = now();
    for (char *line = (char *)pats; line && *line && np < 4096;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len) {
            if (ward_relit_extract(line, len, 0, &rl[np], err, sizeof(err)) < 0 ||
                !(re[np] = ward_re_compile(line, len, 0, err, sizeof(err)))) {
                fprintf(stderr, "pattern %zu: %s\n", np + 1, err);
                return 1;
            }
            nany += rl[np].any;
            nlits += rl[np].nalts;
            if (verbose) {
                printf("%3zu %s", np + 1, rl[np].any ? "ANY" : "");
                for (size_t k = 0; k < rl[np].nalts; k++)
                    printf(" |%.*s|", (int)rl[np].alts[k].len, (const char *)rl[np].alts[k].s);
                printf("\n");
            }
            np++;
        }
        line = nl ? nl + 1 : NULL;
    }
    printf("patterns %zu, any %zu, literals %zu, extraction %.1f ms\n", np, nany, nlits,
           (now() - t0) * 1e3);

    double secs;
    ward_mpm *m = build(rl, np, 0, &secs, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "mpm: %s\n", err);
        return 1;
    }
    printf("mpm: %zu literals, compile %.2f ms, memory %zu KiB\n", ward_mpm_count(m), secs * 1e3,
           ward_mpm_memory(m) / 1024);
    {
        /* About 10x: the set plus nine variants of it, as ten times as many rules. */
        ward_relit *big = calloc(np * 10, sizeof(*big));
        for (size_t v = 0; v < 10; v++)
            memcpy(big + v * np, rl, np * sizeof(*rl));
        double t1 = now();
        ward_mpm *mb = ward_mpm_new();
        for (size_t v = 0; v < 10; v++)
            for (size_t i = 0; i < np; i++)
                for (size_t k = 0; k < rl[i].nalts; k++) {
                    uint8_t buf[WARD_MPM_MAX_LIT];
                    size_t len = rl[i].alts[k].len;
                    memcpy(buf, rl[i].alts[k].s, len);
                    if (v)
                        buf[len / 2] = (uint8_t)('A' + (v * 7 + i) % 26);
                    ward_mpm_add(mb, buf, len, (uint32_t)(v * np + i));
                }
        ward_mpm_compile(mb, err, sizeof(err));
        printf("mpm x10: %zu literals, compile %.2f ms, memory %zu KiB\n", ward_mpm_count(mb),
               (now() - t1) * 1e3, ward_mpm_memory(mb) / 1024);
        size_t hits = 0;
        t1 = now();
        ward_mpm_scan(mb, corpus, clen, count_hit, &hits);
        printf("mpm x10 scan: %.0f MB/s\n", (double)clen / (now() - t1) / 1e6);
        ward_mpm_free(mb);
        free(big);
    }

    size_t hits = 0;
    t0 = now();
    ward_mpm_scan(m, corpus, clen, count_hit, &hits);
    double whole = now() - t0;
    printf("mpm scan, one buffer: %.0f MB/s (%zu reports)\n", (double)clen / whole / 1e6, hits);

    cand c = {calloc(np, 1), calloc(np, sizeof(uint32_t)), 0};
    size_t lines = 0, ncand = 0;
    t0 = now();
    for (size_t i = 0; i < clen;) {
        const uint8_t *e = memchr(corpus + i, '\n', clen - i);
        size_t len = e ? (size_t)(e - (corpus + i)) : clen - i;
        c.n = 0;
        ward_mpm_scan(m, corpus + i, len, on_hit, &c);
        ncand += c.n;
        for (size_t k = 0; k < c.n; k++)
            c.mark[c.list[k]] = 0;
        lines++;
        i += len + 1;
    }
    double perline = now() - t0;
    printf("mpm scan, line by line: %.0f MB/s; %zu lines, mean candidates/line %.3f "
           "(+%zu always-run), candidate rate per rule-line %.4f\n",
           (double)clen / perline / 1e6, lines, (double)ncand / (double)lines, nany,
           ((double)ncand / (double)lines + (double)nany) / (double)np);

    ward_limits lim;
    ward_limits_default(&lim);
    ward_match_ctx mc;
    ward_match_ctx_init(&mc, &lim);
    size_t matches = 0, missed = 0;
    t0 = now();
    for (size_t i = 0; i < clen;) {
        const uint8_t *e = memchr(corpus + i, '\n', clen - i);
        size_t len = e ? (size_t)(e - (corpus + i)) : clen - i;
        c.n = 0;
        ward_mpm_scan(m, corpus + i, len, on_hit, &c);
        for (size_t r = 0; r < np; r++)
            if (rl[r].any && !c.mark[r]) {
                c.mark[r] = 1;
                c.list[c.n++] = (uint32_t)r;
            }
        for (size_t k = 0; k < c.n; k++) {
            matches += ward_re_match(re[c.list[k]], corpus + i, len, &mc) == 1;
            c.mark[c.list[k]] = 0;
        }
        i += len + 1;
    }
    double core = now() - t0;
    printf("core (scan + confirm): %.0f MB/s, %zu (line, rule) matches\n",
           (double)clen / core / 1e6, matches);
    if (check) {
        size_t nm = 0;
        t0 = now();
        for (size_t i = 0; i < clen;) {
            const uint8_t *e = memchr(corpus + i, '\n', clen - i);
            size_t len = e ? (size_t)(e - (corpus + i)) : clen - i;
            c.n = 0;
            ward_mpm_scan(m, corpus + i, len, on_hit, &c);
            for (size_t r = 0; r < np; r++) {
                if (ward_re_match(re[r], corpus + i, len, &mc) != 1)
                    continue;
                nm++;
                if (!rl[r].any && !c.mark[r]) {
                    missed++;
                    if (missed < 10)
                        printf("MISSED rule %zu on: %.*s\n", r + 1, (int)len, corpus + i);
                }
            }
            for (size_t k = 0; k < c.n; k++)
                c.mark[c.list[k]] = 0;
            i += len + 1;
        }
        double naive = now() - t0;
        printf("naive loop: %.1f MB/s, %zu matches; core is %.1fx; prefilter misses: %zu\n",
               (double)clen / naive / 1e6, nm, naive / core, missed);
    }
    ward_match_ctx_fini(&mc);
    for (size_t i = 0; i < np; i++) {
        ward_relit_fini(&rl[i]);
        pcre2_code_free(re[i]);
    }
    free(rl);
    free(re);
    free(c.mark);
    free(c.list);
    ward_mpm_free(m);
    free(corpus);
    free(pats);
    return missed ? 1 : 0;
}
