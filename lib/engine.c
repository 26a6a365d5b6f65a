#include "ward/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ward/decode.h"
#include "ward/detect.h"
#include "ward/logsource.h"
#include "ward/mpm.h"
#include "ward/relit.h"
#include "ward/yara.h"

/* Where a rule applies, derived once from its decoder and logsource. */
typedef struct scope {
    uint32_t decoders;           /* bit per ward_decoder the rule may see */
    const char *const *programs; /* syslog programs of its logsource service, or NULL */
} scope;

struct ward_engine {
    ward_rules rules;
    ward_limits limits;
    /* One automaton per decoder, holding only the literals of the rules that can see
     * that decoder's events (decoders whose rule sets coincide share one): a syslog line
     * is never scanned for the web rules' literals. NULL when no rule has a literal. */
    ward_mpm *mpm[WARD_DECODER_COUNT];
    size_t nlits;        /* distinct literals */
    uint32_t *lit_off;   /* nlits + 1 offsets into lit_rules */
    uint32_t *lit_rules; /* rule indexes per literal */
    /* Second stage: groups of literals every match of a rule contains one of (its
     * 'must' literals, one group each, and its other required clauses), checked after a
     * trigger literal made it a candidate and before anything is confirmed. */
    uint32_t *chk_off;  /* rules + 1 offsets into the groups */
    uint32_t *grp_off;  /* groups + 1 offsets into grp_lits */
    uint32_t *grp_lits; /* literal ids */
    size_t ngroups;
    ward_relit *rlits; /* per rule */
    scope *scopes;     /* per rule */
    /* Rules with the same detection and scope share one verdict. Only the first of them
     * (the representative) is ever proposed; the others are added as candidates after
     * it, when it matched (or hit a limit), and are otherwise counted in skipped. */
    uint32_t *twin;      /* per rule: its representative (itself for most) */
    uint32_t *twin_next; /* per rule: the next rule with the same representative */
    size_t ntwins;       /* rules that share another's verdict */
    uint32_t *always;    /* rules with no literal (mode off excluded) */
    double *always_ns;
    size_t nalways;
};

struct ward_scratch {
    const ward_engine *e;
    ward_match_ctx mc;
    uint32_t gen;
    uint32_t *mark;     /* per rule: gen when it became a candidate */
    uint32_t *lit_seen; /* per literal: gen when its rules were added */
    uint32_t *cand;
    size_t ncand;
    uint32_t *vgen; /* per rule: gen of the verdict cached for its twins */
    int8_t *vres;
    uint64_t *skipped; /* per representative: events its twins were not visited on */
    ward_rule_stats *stats;
    ward_rule_stats *view; /* stats with the skipped candidates of twins added */
    int timing;
};

#define ALL_DECODERS ((1u << WARD_DECODER_COUNT) - 1)
#define DEC_BIT(d) (1u << (d))

/* The decoders and syslog programs of the rule's logsource (logsource.c's table; a
 * logsource not in it leaves every event in scope), narrowed by ward's 'decoder'. */
static void scope_init(scope *sc, const ward_rule *r) {
    const ward_logsource *ls = ward_logsource_find(r->ls_product, r->ls_service, r->ls_category);
    sc->decoders = ALL_DECODERS & ward_logsource_decoders(ls);
    sc->programs = ward_logsource_programs(ls);
    if (r->decoder >= 0)
        sc->decoders &= DEC_BIT(r->decoder);
}

static int event_decoder(const ward_event *ev) {
    /* the decoders set ev->decoder to their own name constant: compare pointers first */
    for (int k = 0; k < WARD_DECODER_COUNT; k++)
        if (ev->decoder == ward_decoder_name((ward_decoder)k))
            return k;
    ward_decoder d;
    if (ev->decoder && ward_decoder_lookup(ev->decoder, &d) == 0)
        return (int)d;
    return WARD_DECODER_RAW;
}

/* Whether an event of decoder dec whose program field is p (NULL: none) is in scope. */
static int scope_allows(const scope *sc, int dec, const ward_field *p) {
    if (!(sc->decoders & DEC_BIT(dec)))
        return 0;
    if (sc->programs) {
        if (!p)
            return 1;
        for (const char *const *q = sc->programs; *q; q++)
            if (strlen(*q) == p->val_len && strncasecmp(*q, p->val, p->val_len) == 0)
                return 1;
        return 0;
    }
    return 1;
}

int ward_engine_in_scope(const ward_engine *e, size_t i, const ward_event *ev) {
    return scope_allows(&e->scopes[i], event_decoder(ev), ward_event_get(ev, "program"));
}

/* A (literal, rule) pair, to find the distinct literals by sorting. */
typedef struct litpair {
    uint8_t *s; /* lowercased, owned by the pair array */
    size_t len;
    uint32_t rule;
    uint32_t check; /* 0: a trigger; else 1 + the second-stage group it belongs to */
    uint32_t lit;   /* its literal id, once assigned */
} litpair;

static int litpair_cmp(const void *a, const void *b) {
    const litpair *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    if (x->rule != y->rule)
        return x->rule < y->rule ? -1 : 1;
    return x->check < y->check ? -1 : x->check > y->check;
}

#define MAX_CHECK 4         /* required literals checked per rule */
#define MAX_CHECK_CLAUSES 2 /* required multi-literal clauses checked per rule */
#define MIN_CHECK_LEN 4     /* shorter literals hit too many lines to be worth scanning for */
#define MAX_CLAUSE_LITS 128 /* members of a clause checked in the second stage, at most */

static int lit_same(const ward_lit *a, const ward_lit *b) {
    return a->len == b->len && strncasecmp((const char *)a->s, (const char *)b->s, a->len) == 0;
}

/* How much a literal narrows the search, roughly, in log text, in rare letters (see
 * ward_mpm_rarity). " for " and " user " are in most lines of an auth log; scanning for
 * them as checks costs more than it saves. */
static double lit_weight(const ward_lit *m) {
    int w = 0;
    for (size_t i = 0; i < m->len; i++)
        w += ward_mpm_rarity(m->s[i]);
    return (double)w / WARD_MPM_RARITY_MAX;
}

#define MIN_CHECK_WEIGHT 3.5

/* Whether must literal m of rl is worth a second-stage check: long enough, rare enough,
 * and not the rule's only trigger (a trigger that fired is there already). */
static int check_worth(const ward_relit *rl, const ward_lit *m) {
    return m->len >= MIN_CHECK_LEN && lit_weight(m) >= MIN_CHECK_WEIGHT &&
           !(rl->nalts == 1 && lit_same(&rl->alts[0], m));
}

/* The (up to MAX_CHECK) longest worthwhile must literals of rl, as indexes into must. */
static size_t pick_checks(const ward_relit *rl, size_t *pick) {
    size_t n = 0;
    for (size_t k = 0; k < rl->nmust; k++) {
        if (!check_worth(rl, &rl->must[k]))
            continue;
        size_t at = n < MAX_CHECK ? n++ : MAX_CHECK;
        if (at == MAX_CHECK) {
            if (rl->must[k].len <= rl->must[pick[MAX_CHECK - 1]].len)
                continue;
            at = MAX_CHECK - 1;
        }
        while (at > 0 && rl->must[pick[at - 1]].len < rl->must[k].len) {
            pick[at] = pick[at - 1];
            at--;
        }
        pick[at] = k;
    }
    return n;
}

/* Whether clause c of rl is worth a second-stage check: every member long enough (one
 * short member would make the group pass on most lines) and not the triggers again. */
static int clause_worth(const ward_relit *rl, const ward_clause *c) {
    if (c->n > MAX_CLAUSE_LITS)
        return 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].len < MIN_CHECK_LEN || lit_weight(&c->v[i]) < MIN_CHECK_WEIGHT)
            return 0;
    if (c->n != rl->nalts)
        return 1;
    for (size_t i = 0; i < c->n; i++) {
        size_t j = 0;
        while (j < rl->nalts && !lit_same(&c->v[i], &rl->alts[j]))
            j++;
        if (j == rl->nalts)
            return 1;
    }
    return 0;
}

static int rule_literals(const ward_engine *e, const ward_rule *r, ward_relit *out) {
    memset(out, 0, sizeof(*out));
    if (r->det)
        return ward_detect_literals(r->det, out);
    if (r->yara_index >= 0 && e->rules.yara)
        return ward_yara_literals(e->rules.yara, r->yara_index, out);
    out->any = 1;
    return 0;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int confirm(const ward_engine *e, ward_match_ctx *mc, const ward_rule *r,
                   const ward_event *ev) {
    if (r->det)
        return ward_detect_match(r->det, ev, mc);
    if (r->yara_index >= 0 && e->rules.yara)
        return ward_yara_match(e->rules.yara, r->yara_index, ev, mc);
    return 0;
}

/* Lines the always-run rules are timed on at load: typical syslog, web and long lines. */
static const char *const cost_samples[] = {
    "Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for invalid user webmaster from "
    "173.234.31.186 port 38926 ssh2",
    "203.0.113.9 - - [10/Oct/2024:13:55:36 +0000] \"GET /index.php?id=1%27%20or%201=1 "
    "HTTP/1.1\" 200 2326 \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"",
    "Jun 14 15:16:01 combo kernel: [12345.678901] audit: type=1400 audit(1718378161.123:42): "
    "apparmor=\"DENIED\" operation=\"open\" profile=\"/usr/sbin/cupsd\" "
    "name=\"/etc/ssl/private/\" pid=1234 comm=\"cupsd\" requested_mask=\"r\" denied_mask=\"r\" "
    "fsuid=0 ouid=0 with a long tail of text that goes on for a while to look like a real "
    "application message with many words in it, key=value pairs and paths /usr/lib/x/y/z",
};

static void measure_always(ward_engine *e) {
    ward_scratch *s = ward_scratch_new(e);
    ward_event ev;
    ward_event_init(&ev);
    for (size_t a = 0; a < e->nalways; a++) {
        const ward_rule *r = e->rules.v[e->always[a]];
        uint64_t total = 0;
        size_t runs = 0;
        for (size_t k = 0; s && k < sizeof(cost_samples) / sizeof(cost_samples[0]); k++) {
            const char *line = cost_samples[k];
            ward_decode(WARD_DECODER_AUTO, (const uint8_t *)line, strlen(line), &ev);
            uint64_t t0 = now_ns();
            for (int rep = 0; rep < 20; rep++)
                (void)confirm(e, &s->mc, r, &ev);
            total += now_ns() - t0;
            runs += 20;
        }
        e->always_ns[a] = runs ? (double)total / (double)runs : 0;
    }
    ward_event_fini(&ev);
    ward_scratch_free(s);
}

/* The decoders an event can report: AUTO picks one of the others. */
static int event_decoder_possible(int d) {
    return d != WARD_DECODER_AUTO;
}

/* Builds the per-decoder automata from the sorted pairs (their literal ids assigned). A
 * literal goes into decoder d's automaton when one of its rules can see d's events;
 * decoders that would get the same literals share one automaton. Returns 0 or -1. */
static int build_automata(ward_engine *e, const litpair *pairs, size_t npairs, char *err,
                          size_t errlen) {
    uint8_t *want = calloc(npairs ? npairs : 1, WARD_DECODER_COUNT);
    if (!want) {
        snprintf(err, errlen, "out of memory building the literal automata");
        return -1;
    }
    for (size_t i = 0; i < npairs; i++)
        for (int d = 0; d < WARD_DECODER_COUNT; d++)
            if (event_decoder_possible(d) && (e->scopes[pairs[i].rule].decoders & DEC_BIT(d)))
                want[i * WARD_DECODER_COUNT + (size_t)d] = 1;
    int rc = 0;
    for (int d = 0; d < WARD_DECODER_COUNT && rc == 0; d++) {
        if (!event_decoder_possible(d))
            continue;
        /* the same literals as an earlier decoder's automaton: share it */
        int same = -1;
        for (int o = 0; o < d && same < 0; o++) {
            if (!e->mpm[o])
                continue;
            size_t i = 0;
            while (i < npairs && want[i * WARD_DECODER_COUNT + (size_t)o] ==
                                     want[i * WARD_DECODER_COUNT + (size_t)d])
                i++;
            if (i == npairs)
                same = o;
        }
        if (same >= 0) {
            e->mpm[d] = e->mpm[same];
            continue;
        }
        ward_mpm *m = ward_mpm_new();
        if (!m) {
            snprintf(err, errlen, "out of memory building the literal automata");
            rc = -1;
            break;
        }
        size_t added = 0;
        uint32_t last = 0;
        for (size_t i = 0; i < npairs && rc == 0; i++) {
            if (!want[i * WARD_DECODER_COUNT + (size_t)d])
                continue;
            /* each literal once: the pairs of one literal are next to each other */
            if (added && pairs[i].lit == last)
                continue;
            last = pairs[i].lit;
            if (ward_mpm_add(m, pairs[i].s, pairs[i].len, pairs[i].lit) != 0) {
                snprintf(err, errlen, "cannot add literal of rule %s to the automaton",
                         e->rules.v[pairs[i].rule]->id);
                rc = -1;
            }
            added++;
        }
        if (rc == 0 && added && ward_mpm_compile(m, err, errlen) != 0)
            rc = -1;
        if (rc != 0 || !added) {
            ward_mpm_free(m);
            m = NULL;
        }
        e->mpm[d] = m;
    }
    free(want);
    return rc;
}

static int build_literals(ward_engine *e, char *err, size_t errlen) {
    size_t n = e->rules.n;
    litpair *pairs = NULL;
    size_t npairs = 0, cap = 0;
    int rc = -1;
    e->chk_off = calloc(n + 1, sizeof(uint32_t));
    if (!e->chk_off)
        goto oom;

    for (size_t i = 0; i < n; i++) {
        const ward_rule *r = e->rules.v[i];
        if (rule_literals(e, r, &e->rlits[i]) != 0) {
            snprintf(err, errlen, "out of memory extracting literals of rule %s", r->id);
            goto done;
        }
        e->chk_off[i + 1] = (uint32_t)e->ngroups; /* no groups unless set below */
        if (r->mode == WARD_MODE_OFF || e->twin[i] != i)
            continue; /* never evaluated, or proposed through its representative */
        const ward_relit *rl = &e->rlits[i];
        if (rl->any || rl->nalts == 0) {
            e->always[e->nalways++] = (uint32_t)i;
            continue;
        }
        /* The literals of this rule: its triggers (group 0), then one group per checked
         * must literal and per checked clause. */
        size_t pick[MAX_CHECK];
        size_t nchk = pick_checks(rl, pick);
        const ward_clause *cls[MAX_CHECK_CLAUSES];
        size_t ncls = 0;
        for (size_t c = 0; c < rl->nclauses && ncls < MAX_CHECK_CLAUSES; c++)
            if (clause_worth(rl, &rl->clauses[c]))
                cls[ncls++] = &rl->clauses[c];
        size_t total = rl->nalts + nchk;
        for (size_t c = 0; c < ncls; c++)
            total += cls[c]->n;
        uint32_t group0 = (uint32_t)e->ngroups;
        e->chk_off[i] = group0;
        e->ngroups += nchk + ncls;
        e->chk_off[i + 1] = (uint32_t)e->ngroups;
        for (size_t k = 0; k < total; k++) {
            const ward_lit *l;
            uint32_t check = 0;
            if (k < rl->nalts) {
                l = &rl->alts[k];
            } else if (k < rl->nalts + nchk) {
                l = &rl->must[pick[k - rl->nalts]];
                check = 1 + group0 + (uint32_t)(k - rl->nalts);
            } else {
                size_t off = k - rl->nalts - nchk, c = 0;
                while (off >= cls[c]->n)
                    off -= cls[c++]->n;
                l = &cls[c]->v[off];
                check = 1 + group0 + (uint32_t)(nchk + c);
            }
            size_t len = l->len > WARD_MPM_MAX_LIT ? WARD_MPM_MAX_LIT : l->len;
            if (len == 0)
                continue;
            if (npairs == cap) {
                size_t ncap = cap ? cap * 2 : 256;
                litpair *p = realloc(pairs, ncap * sizeof(*p));
                if (!p)
                    goto oom;
                pairs = p;
                cap = ncap;
            }
            uint8_t *s = malloc(len);
            if (!s)
                goto oom;
            /* A prefix of a literal is as required as the literal itself, so cutting an
             * over-long one at the automaton's limit keeps the filter sound. */
            for (size_t b = 0; b < len; b++)
                s[b] = (l->s[b] >= 'A' && l->s[b] <= 'Z') ? (uint8_t)(l->s[b] | 0x20) : l->s[b];
            pairs[npairs].s = s;
            pairs[npairs].len = len;
            pairs[npairs].rule = (uint32_t)i;
            pairs[npairs].check = check;
            npairs++;
        }
    }
    if (npairs == 0) {
        rc = 0;
        goto done;
    }
    qsort(pairs, npairs, sizeof(*pairs), litpair_cmp);

    e->lit_off = calloc(npairs + 1, sizeof(uint32_t));
    e->lit_rules = calloc(npairs, sizeof(uint32_t));
    e->grp_off = calloc(e->ngroups + 1, sizeof(uint32_t));
    e->grp_lits = calloc(npairs, sizeof(uint32_t));
    if (!e->lit_off || !e->lit_rules || !e->grp_off || !e->grp_lits)
        goto oom;
    size_t nr = 0;
    for (size_t i = 0; i < npairs; i++) {
        int new_lit = i == 0 || pairs[i].len != pairs[i - 1].len ||
                      memcmp(pairs[i].s, pairs[i - 1].s, pairs[i].len) != 0;
        if (new_lit) {
            e->lit_off[e->nlits] = (uint32_t)nr;
            e->nlits++;
        }
        pairs[i].lit = (uint32_t)e->nlits - 1;
        if (pairs[i].check) {
            /* counted now, placed below: grp_off[g + 1] collects group g's size */
            e->grp_off[pairs[i].check]++;
            continue;
        }
        if (!new_lit && pairs[i - 1].rule == pairs[i].rule && !pairs[i - 1].check)
            continue; /* the same literal twice in one rule */
        e->lit_rules[nr++] = pairs[i].rule;
    }
    e->lit_off[e->nlits] = (uint32_t)nr;
    for (size_t g = 0; g < e->ngroups; g++)
        e->grp_off[g + 1] += e->grp_off[g];
    {
        uint32_t *fill = calloc(e->ngroups ? e->ngroups : 1, sizeof(uint32_t));
        if (!fill)
            goto oom;
        for (size_t i = 0; i < npairs; i++)
            if (pairs[i].check) {
                uint32_t g = pairs[i].check - 1;
                e->grp_lits[e->grp_off[g] + fill[g]++] = pairs[i].lit;
            }
        free(fill);
    }
    if (build_automata(e, pairs, npairs, err, errlen) != 0)
        goto done;
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "out of memory building the literal automaton");
done:
    for (size_t i = 0; i < npairs; i++)
        free(pairs[i].s);
    free(pairs);
    return rc;
}

typedef struct hashidx {
    uint64_t h;
    uint32_t i;
} hashidx;

static int hashidx_cmp(const void *a, const void *b) {
    const hashidx *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Rules with equal detections and scopes (copies, or one rule loaded under two ids)
 * give the same verdict: each is pointed at the first of them, whose verdict is
 * computed once per event. Returns 0 or -1 (no memory). */
#define NO_TWIN UINT32_MAX

static int find_twins(ward_engine *e) {
    size_t n = e->rules.n;
    for (size_t i = 0; i < n; i++) {
        e->twin[i] = (uint32_t)i;
        e->twin_next[i] = NO_TWIN;
    }
    hashidx *v = malloc((n ? n : 1) * sizeof(*v));
    if (!v)
        return -1;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (e->rules.v[i]->det && e->rules.v[i]->mode != WARD_MODE_OFF)
            v[m++] = (hashidx){ward_detect_hash(e->rules.v[i]->det), (uint32_t)i};
    qsort(v, m, sizeof(*v), hashidx_cmp);
    for (size_t a = 0; a < m; a++) {
        uint32_t i = v[a].i;
        if (e->twin[i] != i)
            continue;
        uint32_t last = i; /* the list stays in rule order: v is sorted by index in a hash */
        for (size_t b = a + 1; b < m && v[b].h == v[a].h; b++) {
            uint32_t j = v[b].i;
            const scope *x = &e->scopes[i], *y = &e->scopes[j];
            if (e->twin[j] == j && x->decoders == y->decoders && x->programs == y->programs &&
                ward_detect_equal(e->rules.v[i]->det, e->rules.v[j]->det)) {
                e->twin[j] = i;
                e->twin_next[last] = j;
                last = j;
                e->ntwins++;
            }
        }
    }
    free(v);
    return 0;
}

ward_engine *ward_engine_new(ward_rules *rs, const ward_limits *l, char *err, size_t errlen) {
    ward_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->rules = *rs;
    ward_rules_init(rs);
    e->limits = *l;
    size_t n = e->rules.n;
    e->rlits = calloc(n ? n : 1, sizeof(*e->rlits));
    e->scopes = calloc(n ? n : 1, sizeof(*e->scopes));
    e->always = calloc(n ? n : 1, sizeof(*e->always));
    e->always_ns = calloc(n ? n : 1, sizeof(*e->always_ns));
    e->twin = calloc(n ? n : 1, sizeof(*e->twin));
    e->twin_next = calloc(n ? n : 1, sizeof(*e->twin_next));
    if (!e->rlits || !e->scopes || !e->always || !e->always_ns || !e->twin || !e->twin_next) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        scope_init(&e->scopes[i], e->rules.v[i]);
    if (find_twins(e) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (build_literals(e, err, errlen) != 0)
        goto fail;
    measure_always(e);
    return e;
fail:
    ward_engine_free(e);
    return NULL;
}

void ward_engine_free(ward_engine *e) {
    if (!e)
        return;
    if (e->rlits)
        for (size_t i = 0; i < e->rules.n; i++)
            ward_relit_fini(&e->rlits[i]);
    free(e->rlits);
    free(e->scopes);
    free(e->always);
    free(e->always_ns);
    free(e->twin);
    free(e->twin_next);
    free(e->lit_off);
    free(e->lit_rules);
    free(e->chk_off);
    free(e->grp_off);
    free(e->grp_lits);
    for (int d = 0; d < WARD_DECODER_COUNT; d++) {
        int shared = 0;
        for (int o = d + 1; o < WARD_DECODER_COUNT; o++)
            shared |= e->mpm[o] == e->mpm[d];
        if (!shared) /* the last holder frees it */
            ward_mpm_free(e->mpm[d]);
    }
    ward_rules_fini(&e->rules);
    free(e);
}

size_t ward_engine_rule_count(const ward_engine *e) {
    return e->rules.n;
}

const ward_rule *ward_engine_rule(const ward_engine *e, size_t i) {
    return i < e->rules.n ? e->rules.v[i] : NULL;
}

size_t ward_engine_always_count(const ward_engine *e) {
    return e->nalways;
}

const ward_rule *ward_engine_always_rule(const ward_engine *e, size_t i, double *ns_per_event) {
    if (i >= e->nalways)
        return NULL;
    if (ns_per_event)
        *ns_per_event = e->always_ns[i];
    return e->rules.v[e->always[i]];
}

size_t ward_engine_twin_count(const ward_engine *e) {
    return e->ntwins;
}

size_t ward_engine_twin_of(const ward_engine *e, size_t i) {
    return i < e->rules.n ? e->twin[i] : i;
}

size_t ward_engine_literal_count(const ward_engine *e) {
    return e->nlits;
}

size_t ward_engine_memory(const ward_engine *e) {
    size_t m = sizeof(*e) + e->nlits * sizeof(uint32_t) * 2;
    for (int d = 0; d < WARD_DECODER_COUNT; d++) {
        int seen = 0;
        for (int o = 0; o < d; o++)
            seen |= e->mpm[o] == e->mpm[d];
        if (e->mpm[d] && !seen)
            m += ward_mpm_memory(e->mpm[d]);
    }
    return m;
}

const ward_relit *ward_engine_rule_literals(const ward_engine *e, size_t i) {
    return i < e->rules.n ? &e->rlits[i] : NULL;
}

ward_scratch *ward_scratch_new(const ward_engine *e) {
    ward_scratch *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    size_t n = e->rules.n ? e->rules.n : 1;
    s->e = e;
    s->mark = calloc(n, sizeof(*s->mark));
    s->lit_seen = calloc(e->nlits ? e->nlits : 1, sizeof(*s->lit_seen));
    s->cand = calloc(n, sizeof(*s->cand));
    s->vgen = calloc(n, sizeof(*s->vgen));
    s->vres = calloc(n, sizeof(*s->vres));
    s->skipped = calloc(n, sizeof(*s->skipped));
    s->stats = calloc(n, sizeof(*s->stats));
    s->view = calloc(n, sizeof(*s->view));
    if (!s->mark || !s->lit_seen || !s->cand || !s->vgen || !s->vres || !s->skipped || !s->stats ||
        !s->view || ward_match_ctx_init(&s->mc, &e->limits) != 0) {
        ward_scratch_free(s);
        return NULL;
    }
    return s;
}

void ward_scratch_free(ward_scratch *s) {
    if (!s)
        return;
    ward_match_ctx_fini(&s->mc);
    free(s->mark);
    free(s->lit_seen);
    free(s->cand);
    free(s->vgen);
    free(s->vres);
    free(s->skipped);
    free(s->stats);
    free(s->view);
    free(s);
}

const ward_rule_stats *ward_scratch_stats(ward_scratch *s) {
    const ward_engine *e = s->e;
    for (size_t i = 0; i < e->rules.n; i++) {
        s->view[i] = s->stats[i];
        if (e->twin[i] != i)
            s->view[i].candidates += s->skipped[e->twin[i]];
    }
    return s->view;
}

void ward_scratch_set_timing(ward_scratch *s, int on) {
    s->timing = on;
}

size_t ward_scratch_candidates(const ward_scratch *s, const uint32_t **idx) {
    *idx = s->cand;
    return s->ncand;
}

ward_match_ctx *ward_scratch_ctx(ward_scratch *s) {
    return &s->mc;
}

static void next_generation(ward_scratch *s) {
    if (++s->gen == 0) {
        /* After 2^32 events the stamps wrap: clear them once so none looks current. */
        memset(s->mark, 0, (s->e->rules.n ? s->e->rules.n : 1) * sizeof(*s->mark));
        memset(s->vgen, 0, (s->e->rules.n ? s->e->rules.n : 1) * sizeof(*s->vgen));
        memset(s->lit_seen, 0, (s->e->nlits ? s->e->nlits : 1) * sizeof(*s->lit_seen));
        s->gen = 1;
    }
    s->mc.event_gen++;
    s->ncand = 0;
}

static inline void add_candidate(ward_scratch *s, uint32_t r) {
    if (s->mark[r] != s->gen) {
        s->mark[r] = s->gen;
        s->cand[s->ncand++] = r;
    }
}

static int on_literal(uint32_t id, size_t end, void *ctx) {
    (void)end;
    ward_scratch *s = ctx;
    if (s->lit_seen[id] == s->gen)
        return 0;
    s->lit_seen[id] = s->gen;
    const ward_engine *e = s->e;
    for (uint32_t k = e->lit_off[id]; k < e->lit_off[id + 1]; k++)
        add_candidate(s, e->lit_rules[k]);
    return 0;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Whether some second-stage group of rule r has none of its literals in the line. */
static int group_failed(const ward_engine *e, const ward_scratch *s, uint32_t r) {
    for (uint32_t g = e->chk_off[r]; g < e->chk_off[r + 1]; g++) {
        uint32_t k = e->grp_off[g], end = e->grp_off[g + 1];
        while (k < end && s->lit_seen[e->grp_lits[k]] != s->gen)
            k++;
        if (k == end)
            return 1;
    }
    return 0;
}

/* Rules are reported in load order. Candidate lists are short (a few per line), where
 * an insertion sort beats qsort's calls through a comparison function. */
static void sort_candidates(uint32_t *v, size_t n) {
    if (n > 32) {
        qsort(v, n, sizeof(*v), cmp_u32);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        uint32_t x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

/* Inserts the twins of representative i, in rule order, into the candidates after
 * position c (they have higher indexes than i, so they go after it). */
static void add_twins(const ward_engine *e, ward_scratch *s, uint32_t i, size_t c) {
    for (uint32_t j = e->twin_next[i]; j != NO_TWIN; j = e->twin_next[j]) {
        size_t at = s->ncand++;
        while (at > c + 1 && s->cand[at - 1] > j) {
            s->cand[at] = s->cand[at - 1];
            at--;
        }
        s->cand[at] = j;
    }
}

/* Confirms the candidates in s->cand (sorted) and reports the matches. With twins, a
 * rule whose twin was confirmed on this event takes its verdict (the naive baseline
 * runs every rule). */
static int confirm_candidates(const ward_engine *e, ward_scratch *s, const ward_event *ev, int dec,
                              ward_hit_fn fn, void *ctx, int twins) {
    const ward_field *prog = ward_event_get(ev, "program");
    int matches = 0;
    size_t kept = 0;
    for (size_t c = 0; c < s->ncand; c++) {
        uint32_t i = s->cand[c];
        const ward_rule *r = e->rules.v[i];
        if (r->mode == WARD_MODE_OFF || !scope_allows(&e->scopes[i], dec, prog))
            continue;
        s->cand[kept++] = i;
        ward_rule_stats *st = &s->stats[i];
        st->candidates++;
        uint32_t t = e->twin[i];
        int rc;
        if (twins && s->vgen[t] == s->gen) {
            rc = (int)s->vres[t]; /* -1, 0 or 1 */
            st->limit_hits += rc < 0;
        } else {
            uint64_t hits = s->mc.limit_hits;
            uint64_t t0 = s->timing ? now_ns() : 0;
            rc = confirm(e, &s->mc, r, ev);
            if (s->timing)
                st->time_ns += now_ns() - t0;
            st->limit_hits += s->mc.limit_hits - hits;
            s->mc.hit_limit = 0;
            s->vgen[t] = s->gen;
            s->vres[t] = (int8_t)rc;
        }
        if (twins && t == i && e->twin_next[i] != NO_TWIN) {
            if (rc != 0)
                add_twins(e, s, i, c);
            else
                s->skipped[i]++;
        }
        if (rc == 1) {
            st->matches++;
            matches++;
            if (fn && fn(r, i, ctx)) {
                /* the caller stopped: the remaining candidates were not confirmed */
                s->ncand = kept;
                return matches;
            }
        }
    }
    s->ncand = kept;
    return matches;
}

int ward_engine_match(const ward_engine *e, ward_scratch *s, const ward_event *ev, ward_hit_fn fn,
                      void *ctx) {
    next_generation(s);
    int dec = event_decoder(ev);
    if (ev->transformed) {
        /* Some field value is not in the raw line, so the literal scan proves nothing:
         * every rule is a candidate (its twins follow it, as on a scan). */
        for (uint32_t i = 0; i < e->rules.n; i++)
            if (e->twin[i] == i)
                add_candidate(s, i);
    } else {
        const ward_mpm *m = e->mpm[dec];
        if (m)
            ward_mpm_scan(m, ev->scan ? ev->scan : ev->line, ev->scan ? ev->scan_len : ev->line_len,
                          on_literal, s);
        if (e->ngroups) {
            /* Second stage: a candidate with a required group none of whose literals is
             * in the line cannot match. */
            size_t kept = 0;
            for (size_t c = 0; c < s->ncand; c++) {
                uint32_t r = s->cand[c];
                if (group_failed(e, s, r))
                    continue;
                s->cand[kept++] = r;
            }
            s->ncand = kept;
        }
        for (size_t a = 0; a < e->nalways; a++)
            add_candidate(s, e->always[a]);
        sort_candidates(s->cand, s->ncand);
    }
    return confirm_candidates(e, s, ev, dec, fn, ctx, 1);
}

int ward_engine_match_naive(const ward_engine *e, ward_scratch *s, const ward_event *ev,
                            ward_hit_fn fn, void *ctx) {
    next_generation(s);
    for (uint32_t i = 0; i < e->rules.n; i++)
        add_candidate(s, i);
    return confirm_candidates(e, s, ev, event_decoder(ev), fn, ctx, 0);
}
