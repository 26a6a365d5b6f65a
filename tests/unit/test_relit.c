/* Tests of the required-literal extractor (lib/relit.c): what it claims for each PCRE2
 * construct, its helpers and error paths, and a differential check of the one property
 * that matters, soundness: whenever PCRE2 matches a line, the line contains an alt, every
 * must literal and a member of every clause. The differential runs every pattern of
 * tests/data/patterns/general.txt (as written and caseless), the shipped rules' regular
 * expressions and thousands of random patterns over the real logs in tests/data/ and over
 * subjects generated from each pattern (walks of it, and its own literal fragments
 * shuffled, dropped, case-flipped and spliced into log lines). When ../shared/bench holds
 * the fail2ban patterns and their corpus (not in the tree: they are GPL-2), those too.
 * Every generator is seeded, so every run checks the same subjects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ward/re.h"
#include "ward/relit.h"

/* ---- small helpers ---- */

/* Deterministic generator (xorshift64*), so failures reproduce. */
static uint64_t rnd_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static unsigned rnd(uint64_t *s, unsigned n) {
    return n ? (unsigned)(rnd_next(s) % n) : 0;
}

/* Percent chance. */
static int chance(uint64_t *s, unsigned pct) {
    return rnd(s, 100) < pct;
}

static int lower(int c) {
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int is_letter(int c) {
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/* s (n bytes) with non-printable bytes hex-escaped, into out (cap bytes, cut when
 * full). */
static const char *esc(const uint8_t *s, size_t n, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f) {
            out[o++] = (char)s[i];
        } else {
            int w = snprintf(out + o, cap - o, "\\x%02x", s[i]);
            o += (size_t)w;
        }
    }
    out[o < cap ? o : cap - 1] = '\0';
    return out;
}

static void print_lits(const char *what, const ward_lit *v, size_t n) {
    char buf[600];
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " \"%s\"%s", esc(v[i].s, v[i].len, buf, sizeof(buf)),
                v[i].caseless ? "/i" : "");
    fprintf(stderr, "\n");
}

static void print_relit(const ward_relit *r) {
    fprintf(stderr, "  any: %d\n", r->any);
    print_lits("alts", r->alts, r->nalts);
    print_lits("must", r->must, r->nmust);
    for (size_t k = 0; k < r->nclauses; k++)
        print_lits("clause", r->clauses[k].v, r->clauses[k].n);
}

static int extract(const char *pat, uint32_t opts, ward_relit *r) {
    char err[256] = "";
    int rc = ward_relit_extract(pat, strlen(pat), opts, r, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "extract '%s': %s\n", pat, err);
    return rc;
}

/* ---- expectations per construct ---- */

/* An expected literal list: members separated by '|', a member starting with "(?i)" is
 * caseless (stored lowercased). NULL: not checked. */
typedef struct expect {
    const char *pat;
    uint32_t opts;
    int any;
    const char *alts;
    const char *must;
    const char *subject; /* NULL, or a line the pattern matches */
} expect;

#define MAXSPEC 32

typedef struct spec_lit {
    char s[128];
    size_t len;
    int ci;
} spec_lit;

static size_t parse_spec(const char *spec, spec_lit *out) {
    size_t n = 0;
    if (!*spec)
        return 0;
    for (const char *p = spec;;) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        assert_true(n < MAXSPEC);
        spec_lit *l = &out[n++];
        l->ci = len >= 4 && memcmp(p, "(?i)", 4) == 0;
        if (l->ci) {
            p += 4;
            len -= 4;
        }
        assert_true(len < sizeof(l->s));
        memcpy(l->s, p, len);
        l->len = len;
        if (!e)
            break;
        p = e + 1;
    }
    return n;
}

/* Is the literal list v exactly the set spec (any order)? */
static int same_set(const ward_lit *v, size_t n, const char *spec) {
    spec_lit want[MAXSPEC];
    size_t nw = parse_spec(spec, want);
    if (nw != n)
        return 0;
    for (size_t i = 0; i < nw; i++) {
        size_t j = 0;
        while (j < n && !(v[j].len == want[i].len && v[j].caseless == want[i].ci &&
                          memcmp(v[j].s, want[i].s, want[i].len) == 0))
            j++;
        if (j == n)
            return 0;
    }
    return 1;
}

/* Does s contain lit, byte-exactly (ci 0) or ASCII-caselessly? */
static int contains(const uint8_t *s, size_t n, const uint8_t *lit, size_t len, int ci) {
    if (len == 0)
        return 1;
    if (!ci)
        return memmem(s, n, lit, len) != NULL;
    for (size_t i = 0; i + len <= n; i++) {
        size_t j = 0;
        while (j < len && lower(s[i + j]) == lower(lit[j]))
            j++;
        if (j == len)
            return 1;
    }
    return 0;
}

/* A literal set member occurs in s. A case-sensitive literal that occurs only with other
 * case counts (the automaton is caseless) but is reported through *case_only. */
static int set_hit(const ward_lit *v, size_t n, const uint8_t *s, size_t len, size_t *case_only) {
    int loose = 0;
    for (size_t i = 0; i < n; i++) {
        if (contains(s, len, v[i].s, v[i].len, v[i].caseless))
            return 1;
        if (!v[i].caseless && contains(s, len, v[i].s, v[i].len, 1))
            loose = 1;
    }
    if (loose && case_only)
        (*case_only)++;
    return loose;
}

/* Checks the claims of r on a subject PCRE2 matched; returns 0 when they hold, else
 * names what failed in why. */
static int claims_hold(const ward_relit *r, const uint8_t *s, size_t n, size_t *case_only,
                       const char **why) {
    if (r->any)
        return 0;
    if (!set_hit(r->alts, r->nalts, s, n, case_only)) {
        *why = "no alt occurs";
        return -1;
    }
    for (size_t k = 0; k < r->nmust; k++)
        if (!set_hit(&r->must[k], 1, s, n, case_only)) {
            *why = "a must literal is missing";
            return -1;
        }
    for (size_t k = 0; k < r->nclauses; k++)
        if (!set_hit(r->clauses[k].v, r->clauses[k].n, s, n, case_only)) {
            *why = "no member of a clause occurs";
            return -1;
        }
    return 0;
}

/* Shape rules every result obeys, whatever the pattern. */
static void check_shape(const char *pat, const ward_relit *r) {
    int ok = 1;
    if (r->any && r->nalts)
        ok = 0; /* alts are empty when any is set */
    if (!r->any && r->nalts == 0)
        ok = 0;
    if (r->nclauses > WARD_RELIT_MAX_CLAUSES)
        ok = 0;
    for (size_t i = 0; i < r->nalts; i++)
        if (r->alts[i].len == 0)
            ok = 0;
    for (size_t i = 0; i < r->nmust; i++)
        if (r->must[i].len == 0)
            ok = 0;
    for (size_t k = 0; k < r->nclauses; k++)
        if (r->clauses[k].n < 2)
            ok = 0;
    /* Caseless literals are stored lowercased. */
    const ward_lit *sets[2] = {r->alts, r->must};
    size_t ns[2] = {r->nalts, r->nmust};
    for (int t = 0; t < 2; t++)
        for (size_t i = 0; i < ns[t]; i++)
            for (size_t j = 0; sets[t][i].caseless && j < sets[t][i].len; j++)
                if (sets[t][i].s[j] >= 'A' && sets[t][i].s[j] <= 'Z')
                    ok = 0;
    if (!ok) {
        fprintf(stderr, "bad result shape for '%s'\n", pat);
        print_relit(r);
        fail();
    }
}

static pcre2_code *compile(const char *pat, size_t len, uint32_t opts) {
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, len, opts, &code, &off, NULL);
    if (re)
        (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* the interpreter otherwise */
    return re;
}

static int re_matches(pcre2_code *re, const char *subj, size_t len) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    assert_non_null(md);
    int rc = pcre2_match(re, (PCRE2_SPTR)subj, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

static void run_table(const expect *t, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        ward_relit r;
        assert_int_equal(extract(t[i].pat, t[i].opts, &r), 0);
        check_shape(t[i].pat, &r);
        int ok = r.any == t[i].any;
        if (t[i].alts && !same_set(r.alts, r.nalts, t[i].alts))
            ok = 0;
        if (t[i].must && !same_set(r.must, r.nmust, t[i].must))
            ok = 0;
        if (!ok) {
            fprintf(stderr, "'%s': want any %d alts [%s] must [%s], got\n", t[i].pat, t[i].any,
                    t[i].alts ? t[i].alts : "?", t[i].must ? t[i].must : "?");
            print_relit(&r);
            bad++;
        }
        if (t[i].subject) {
            pcre2_code *re = compile(t[i].pat, strlen(t[i].pat), t[i].opts);
            assert_non_null(re);
            size_t sl = strlen(t[i].subject);
            const char *why = "";
            if (!re_matches(re, t[i].subject, sl)) {
                fprintf(stderr, "'%s' does not match its sample '%s'\n", t[i].pat, t[i].subject);
                bad++;
            } else if (claims_hold(&r, (const uint8_t *)t[i].subject, sl, NULL, &why) != 0) {
                fprintf(stderr, "'%s' on '%s': %s\n", t[i].pat, t[i].subject, why);
                bad++;
            }
            pcre2_code_free(re);
        }
        ward_relit_fini(&r);
    }
    assert_int_equal(bad, 0);
}

#define RUN(t) run_table(t, sizeof(t) / sizeof(t[0]))

static void test_relit_plain_literals(void **state) {
    (void)state;
    static const expect t[] = {
        {"Failed password", 0, 0, "Failed password", "Failed password",
         "sshd[1]: Failed password for root"},
        {"abc", PCRE2_CASELESS, 0, "(?i)abc", "(?i)abc", "xxABCxx"},
        /* no letter: nothing to fold, so not caseless */
        {"123", PCRE2_CASELESS, 0, "123", "123", "a123"},
        /* one byte is no usable trigger, but still required */
        {"a", 0, 1, "", "a", "a"},
        {"", 0, 1, "", "", ""},
    };
    RUN(t);
}

static void test_relit_concatenation(void **state) {
    (void)state;
    static const expect t[] = {
        {"foo\\d+bar", 0, 0, "foo", "foo|bar", "foo12bar"},
        {"foo.*bar", 0, 0, "foo", "foo|bar", "foo and bar"},
        {"abc(?:def)ghi", 0, 0, "abcdefghi", "abcdefghi", "abcdefghi"},
        {"ab(c|d)ef", 0, 0, "abcef|abdef", "", "abdef"},
        {"Invalid user (?<user>\\S+) from", 0, 0, "Invalid user ", "Invalid user | from",
         "Invalid user bob from 10.0.0.1"},
        {"(?:foo|bar)(?:one|two)", 0, 0, "fooone|footwo|barone|bartwo", "", "bartwo"},
        {"session (?:opened|closed) for user \\w+", 0, 0,
         "session opened for user |session closed for user ", "session |ed for user ",
         "session closed for user root"},
    };
    RUN(t);
}

static void test_relit_alternation(void **state) {
    (void)state;
    static const expect t[] = {
        {"foo|bar", 0, 0, "foo|bar", "", "a bar"},
        {"(?:foo|bar|baz)qux", 0, 0, "fooqux|barqux|bazqux", "qux", "bazqux"},
        /* beta, zeta and theta all contain eta: OR(beta, eta) is eta */
        {"alpha|beta|gamma|delta|epsilon|zeta|eta|theta|iota|kappa|lambda|mu", 0, 0,
         "alpha|gamma|delta|epsilon|eta|iota|kappa|lambda|mu", "", "theta"},
        {"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen)x", 0, 0,
         "onex|twox|threex|fourx|fivex|sixx|sevenx|eightx|ninex|tenx|elevenx|twelvex|thirteenx", "",
         "a sevenx"},
        {"x(?:a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q|r|s|t|u|v|w|y|z)yz", 0, 0,
         "xayz|xbyz|xcyz|xdyz|xeyz|xfyz|xgyz|xhyz|xiyz|xjyz|xkyz|xlyz|xmyz|xnyz|xoyz|xpyz|"
         "xqyz|xryz|xsyz|xtyz|xuyz|xvyz|xwyz|xyyz|xzyz",
         "", "xqyz"},
        /* a one-byte branch or an empty one says nothing */
        {"a|b", 0, 1, "", "", "b"},
        {"abc|", 0, 1, "", "", "x"},
        {"|abc", 0, 1, "", "", "x"},
        {"(?:x(?:yy|zz)?w)|(?:longer(?:branch|arm))", 0, 0, "xyyw|xzzw|xw|longerbranch|longerarm",
         "", "longerarm"},
    };
    RUN(t);
}

/* An alternation too big for exact sets still yields a sound, non-empty claim. */
static void test_relit_big_alternation(void **state) {
    (void)state;
    char pat[4096];
    size_t o = 0;
    for (int i = 0; i < 300; i++)
        o += (size_t)snprintf(pat + o, sizeof(pat) - o, "%sword%03dz", i ? "|" : "", i);
    ward_relit r;
    assert_int_equal(extract(pat, 0, &r), 0);
    check_shape("300 words", &r);
    assert_false(r.any);
    assert_true(r.nalts <= 64);
    for (int i = 0; i < 300; i++) {
        char w[32];
        snprintf(w, sizeof(w), "word%03dz", i);
        const char *why = "";
        assert_int_equal(claims_hold(&r, (const uint8_t *)w, strlen(w), NULL, &why), 0);
    }
    ward_relit_fini(&r);
}

static void test_relit_classes(void **state) {
    (void)state;
    static const expect t[] = {
        {"[abc]def", 0, 0, "def", "def", "bdef"},
        {"[a-c]def", 0, 0, "def", "def", "cdef"},
        {"[a-z]def", 0, 0, "def", "def", "qdef"},
        {"[^abc]def", 0, 0, "def", "def", "xdef"},
        {"\\ddef", 0, 0, "def", "def", "7def"},
        {"\\wdef", 0, 0, "def", "def", "_def"},
        {"\\sdef", 0, 0, "def", "def", " def"},
        {"[[:digit:]]def", 0, 0, "def", "def", "1def"},
        {"[[:alpha:]]+posix", 0, 0, "posix", "posix", "abposix"},
        {"[Dd]ef", 0, 0, "(?i)def", "(?i)def", "Def"},
        {"[Xx][Yy][Zz]caseclass", 0, 0, "(?i)xyzcaseclass", "(?i)xyzcaseclass", "xYzcaseclass"},
        {"x[.]y", 0, 0, "x.y", "x.y", "x.y"},
        {"[\\x41]hexclass", 0, 0, "Ahexclass", "Ahexclass", "Ahexclass"},
        {"[]a]first", 0, 0, "first", "first", "]first"},
        {"[^]a]negfirst", 0, 0, "negfirst", "negfirst", "xnegfirst"},
        {"[\\d\\s]mix", 0, 0, "mix", "mix", "5mix"},
        /* k folds to U+212A only under UTF */
        {"(?i)[k]kelvin", 0, 0, "(?i)kkelvin", "(?i)kkelvin", "KKELVIN"},
        {"(*UTF)(?i)[k]elvin", 0, 0, "(?i)elvin", "(?i)elvin",
         "\xe2\x84\xaa"
         "elvin"},
    };
    RUN(t);
}

/* The clauses of a pattern with several required OR-sets. */
static void test_relit_clauses(void **state) {
    (void)state;
    ward_relit r;
    assert_int_equal(extract("(?:GET|POST|HEAD) /\\S* HTTP/1\\.[01]", 0, &r), 0);
    check_shape("http", &r);
    assert_true(same_set(r.alts, r.nalts, " HTTP/1."));
    assert_int_equal(r.nclauses, 2);
    int seen = 0;
    for (size_t k = 0; k < r.nclauses; k++) {
        seen |= same_set(r.clauses[k].v, r.clauses[k].n, " HTTP/1.0| HTTP/1.1") ? 1 : 0;
        seen |= same_set(r.clauses[k].v, r.clauses[k].n, "GET /|POST /|HEAD /") ? 2 : 0;
    }
    assert_int_equal(seen, 3);
    ward_relit_fini(&r);

    assert_int_equal(extract("\\b(?:wget|curl)\\s+http", 0, &r), 0);
    assert_true(same_set(r.alts, r.nalts, "http"));
    assert_int_equal(r.nclauses, 1);
    assert_true(same_set(r.clauses[0].v, r.clauses[0].n, "wget|curl"));
    ward_relit_fini(&r);
}

static void test_relit_quantifiers(void **state) {
    (void)state;
    static const expect t[] = {
        {"colou?r", 0, 0, "colour|color", "colo", "color"},
        {"ab*c", 0, 1, "", "a|c", "ac"},
        {"ab+c", 0, 0, "ab", "ab|bc", "abbbc"},
        {"ab{2}c", 0, 0, "abbc", "abbc", "abbc"},
        {"ab{2,3}c", 0, 0, "abb", "abb|c", "abbbc"},
        {"ab{2,}c", 0, 0, "abb", "abb|c", "abbbbc"},
        {"ab{0}c", 0, 0, "ac", "ac", "ac"},
        {"(ab){1,3}cd", 0, 0, "ab", "ab|cd", "ababcd"},
        {"(abc){2}def", 0, 0, "abcabcdef", "abcabcdef", "abcabcdef"},
        {"(?:abc){0,2}def", 0, 0, "def", "def", "def"},
        /* lazy and possessive forms claim what the greedy ones do */
        {"ab??c", 0, 0, "abc|ac", "", "ac"},
        {"ab*?c", 0, 1, "", "a|c", "abbc"},
        {"ab+?c", 0, 0, "ab", "ab|bc", "abc"},
        {"ab?+c", 0, 0, "abc|ac", "", "abc"},
        {"ab*+c", 0, 1, "", "a|c", "ac"},
        {"ab++c", 0, 0, "ab", "ab|bc", "abbc"},
        {"ab{2}+c", 0, 0, "abbc", "abbc", "abbc"},
        {"ab{2}?c", 0, 0, "abbc", "abbc", "abbc"},
        {"\\d{4}-\\d{2}-\\d{2}", 0, 1, "", "-", "2024-01-02"},
        {".*", 0, 1, "", "", "x"},
        {".+", 0, 1, "", "", "x"},
    };
    RUN(t);
}

static void test_relit_groups(void **state) {
    (void)state;
    static const expect t[] = {
        {"(abc)def", 0, 0, "abcdef", "abcdef", "abcdef"},
        {"(?<n>abc)def", 0, 0, "abcdef", "abcdef", "abcdef"},
        {"(?P<n>abc)def", 0, 0, "abcdef", "abcdef", "abcdef"},
        {"(?'n'abc)def", 0, 0, "abcdef", "abcdef", "abcdef"},
        {"(?:abc)def", 0, 0, "abcdef", "abcdef", "abcdef"},
        {"(?>abc)def", 0, 0, "abcdef", "abcdef", "abcdef"},
        {"(*atomic:abc)def", 0, 0, "abcdef", "abcdef", "abcdef"},
        {"(?|abc|xyz)def", 0, 0, "abcdef|xyzdef", "def", "xyzdef"},
        {"(?:)", 0, 1, "", "", ""},
    };
    RUN(t);
}

static void test_relit_inline_flags(void **state) {
    (void)state;
    static const expect t[] = {
        {"(?i)abc", 0, 0, "(?i)abc", "(?i)abc", "aBc"},
        {"(?i:abc)def", 0, 0, "(?i)abcdef", "(?i)abcdef", "ABCdef"},
        /* mixing a caseless piece in makes the whole literal caseless: weaker, still true */
        {"abc(?i)def", 0, 0, "(?i)abcdef", "(?i)abcdef", "abcDEF"},
        {"(?i)abc(?-i)def", 0, 0, "(?i)abcdef", "(?i)abcdef", "ABCdef"},
        {"(?-i)Abc", PCRE2_CASELESS, 0, "Abc", "Abc", "Abc"},
        {"(?i)(?:root|admin)(?-i) login", 0, 0, "(?i)root login|(?i)admin login", "(?i) login",
         "ROOT login"},
        /* (?i) inside a group lasts to the end of the group, through later branches */
        {"mixed(?:(?i)CASE|other)END", 0, 0, "(?i)mixedcaseend|(?i)mixedotherend",
         "(?i)mixed|(?i)end", "mixedOTHEREND"},
        {"(?i)a(?-i:B)c", 0, 0, "(?i)abc", "(?i)abc", "ABC"},
        {"(?^i:abc)", 0, 0, "(?i)abc", "(?i)abc", "ABC"},
        /* (?x): white space and comments go */
        {"(?x) a b c # comment", 0, 0, "abc", "abc", "abc"},
        {"(?x)abc\\ def", 0, 0, "abc def", "abc def", "abc def"},
        {"(?x)a[ ]b", 0, 0, "a b", "a b", "a b"},
        {"(?x)(?# inline comment) connection \\  reset", 0, 0, "connection reset",
         "connection reset", "connection reset"},
        {"(?x: spaced out (?-x)now literal spaces )", 0, 0, "spacedoutnow literal spaces ",
         "spacedoutnow literal spaces ", "spacedoutnow literal spaces "},
        {"a b # c", PCRE2_EXTENDED, 0, "ab", "ab", "ab"},
        {"(?#note)abc", 0, 0, "abc", "abc", "abc"},
        /* flags PCRE2 has but this parser does not know: no claim */
        {"(?C1)abc", 0, 1, "", "", "abc"},
    };
    RUN(t);
}

static void test_relit_quoting(void **state) {
    (void)state;
    static const expect t[] = {
        {"\\Qa.b\\E", 0, 0, "a.b", "a.b", "a.b"},
        {"\\Q(x)\\E+y", 0, 0, "(x)", "(x)|)y", "(x)))y"},
        {"\\Qa.b*c(d)\\E+ done", 0, 0, "a.b*c(d)", "a.b*c(d)|) done", "a.b*c(d)) done"},
        {"\\Q[client \\E\\d+\\.\\d+", 0, 0, "[client ", "[client |.", "[client 1.2"},
        {"\\Qopen quote", 0, 0, "open quote", "open quote", "open quote"},
        {"(?i)\\QQuoted Case\\E", 0, 0, "(?i)quoted case", "(?i)quoted case", "QUOTED case"},
        {"x\\E\\Qy\\E\\Q\\Ez", 0, 0, "xyz", "xyz", "xyz"},
        {"\\Q\\E", 0, 1, "", "", ""},
    };
    RUN(t);
}

static void test_relit_escapes(void **state) {
    (void)state;
    static const expect t[] = {
        {"a\\.b", 0, 0, "a.b", "a.b", "a.b"},
        {"literal\\.dot\\/slash\\\\back", 0, 0, "literal.dot/slash\\back",
         "literal.dot/slash\\back", "literal.dot/slash\\back"},
        {"\\x41BC", 0, 0, "ABC", "ABC", "ABC"},
        {"\\x{41}BC", 0, 0, "ABC", "ABC", "ABC"},
        {"\\o{101}BC", 0, 0, "ABC", "ABC", "ABC"},
        {"a\\tb", 0, 0, "a\tb", "a\tb", "a\tb"},
        {"a\\nb", 0, 0, "a\nb", "a\nb", "a\nb"},
        {"\\e\\f\\a\\r\\n escapes", 0, 0, "\x1b\f\a\r\n escapes", "\x1b\f\a\r\n escapes",
         "\x1b\f\a\r\n escapes"},
        {"\\cAxy", 0, 0, "\x01xy", "\x01xy", "\x01xy"},
        /* \101 could be a back reference: not trusted */
        {"\\101BC", 0, 0, "BC", "BC", "ABC"},
        {"(*UTF)caf\\x{e9}", 0, 0, "caf\xc3\xa9", "caf\xc3\xa9", "caf\xc3\xa9"},
        /* non-ASCII under (?i): folding is not ASCII's, so no claim on it */
        {"(*UTF)(?i)caf\\x{e9}", 0, 0, "(?i)caf", "(?i)caf", "CAF\xc3\x89"},
    };
    RUN(t);
}

static void test_relit_anchors(void **state) {
    (void)state;
    static const expect t[] = {
        {"^abc$", 0, 0, "abc", "abc", "abc"},
        {"\\Aabc\\z", 0, 0, "abc", "abc", "abc"},
        {"\\babc\\b", 0, 0, "abc", "abc", "x abc y"},
        {"\\Babc", 0, 0, "abc", "abc", "xabc"},
        {"abc\\Z", 0, 0, "abc", "abc", "abc\n"},
        {"a\\Kbc", 0, 0, "abc", "abc", "abc"},
        {"(?m)^begin$", 0, 0, "begin", "begin", "x\nbegin\ny"},
        {"[[:<:]]wordstart", 0, 0, "wordstart", "wordstart", "a wordstart"},
        {"^$", 0, 1, "", "", ""},
    };
    RUN(t);
}

static void test_relit_lookaround(void **state) {
    (void)state;
    static const expect t[] = {
        /* a positive lookaround's literals are in the line, though not in the match */
        {"abc(?=def)", 0, 0, "def", "def|abc", "abcdef"},
        {"(?<=abc)def", 0, 0, "def", "abc|def", "abcdef"},
        {"(*positive_lookbehind:ab)cd", 0, 0, "ab", "ab|cd", "abcd"},
        {"(?=.*needle)hay", 0, 0, "needle", "needle|hay", "hay needle"},
        /* a negative one contributes nothing */
        {"abc(?!def)", 0, 0, "abc", "abc", "abcxyz"},
        {"(?<!abc)def", 0, 0, "def", "def", "xdef"},
        {"(?!abc)def", 0, 0, "def", "def", "def"},
        {"prefix(?!never)after", 0, 0, "prefixafter", "prefixafter", "prefixafter"},
        {"(?<!nope)word2", 0, 0, "word2", "word2", "word2"},
        {"(*nla:xyz)abc", 0, 0, "abc", "abc", "abc"},
        {"(*negative_lookbehind:xyz)abc", 0, 0, "abc", "abc", "abc"},
        {"^(?:(?!password).)*token", 0, 0, "token", "token", "a token"},
        {"(?!(?=abc))abd", 0, 0, "abd", "abd", "abd"},
        {"x(?=(abc){0})y", 0, 0, "xy", "xy", "xy"},
    };
    RUN(t);
}

static void test_relit_backrefs(void **state) {
    (void)state;
    static const expect t[] = {
        {"(abc)\\1", 0, 0, "abc", "abc", "abcabc"},
        {"(abc)\\g{1}", 0, 0, "abc", "abc", "abcabc"},
        {"(abc)\\g{-1}", 0, 0, "abc", "abc", "abcabc"},
        {"(?<w>abc)\\k<w>", 0, 0, "abc", "abc", "abcabc"},
        {"(?'w'abc)\\k'w'", 0, 0, "abc", "abc", "abcabc"},
        {"(?P<w>abc)(?P=w)", 0, 0, "abc", "abc", "abcabc"},
        {"(a)\\1 backref", 0, 0, " backref", " backref", "aa backref"},
        /* subroutine calls and recursion match a group elsewhere: no claim for them */
        {"(abc)(?1)", 0, 0, "abc", "abc", "abcabc"},
        /* (?R)? recurses at the same position until PCRE2 gives up: it never matches */
        {"(?R)?recurse", 0, 0, "recurse", "recurse", NULL},
        {"(?&name)(?<name>xx)", 0, 0, "xx", "xx", "xxxx"},
    };
    RUN(t);
}

static void test_relit_conditionals(void **state) {
    (void)state;
    static const expect t[] = {
        {"(a)?(?(1)bcd|efg)hij", 0, 0, "hij", "hij", "abcdhij"},
        {"(?(?=abc)abcd|efgh)", 0, 1, "", "", "efgh"},
        {"(?(DEFINE)(?<d>abc))(?&d)xyz", 0, 0, "xyz", "xyz", "abcxyz"},
    };
    RUN(t);
}

static void test_relit_verbs(void **state) {
    (void)state;
    static const expect t[] = {
        {"(*UTF)abc", 0, 0, "abc", "abc", "abc"},
        /* under UTF and (?i), k also matches U+212A (and s U+017F) */
        {"(*UTF)(?i)key", 0, 0, "(?i)ey", "(?i)ey",
         "\xe2\x84\xaa"
         "EY"},
        {"(*UTF)(?i)abc", 0, 0, "(?i)abc", "(?i)abc", "ABC"},
        {"(*UCP)abc", 0, 0, "abc", "abc", "abc"},
        {"(*CR)abc", 0, 0, "abc", "abc", "abc"},
        {"(*LIMIT_MATCH=100)abc", 0, 0, "abc", "abc", "abc"},
        {"(*NO_AUTO_POSSESS)noauto", 0, 0, "noauto", "noauto", "noauto"},
        {"(*COMMIT)abc", 0, 0, "abc", "abc", "abc"},
        {"(*MARK:m)abc", 0, 0, "abc", "abc", "abc"},
        {"(*:m)abc", 0, 0, "abc", "abc", "abc"},
        {"(*PRUNE)abc", 0, 0, "abc", "abc", "abc"},
        {"(*SKIP)abc", 0, 0, "abc", "abc", "abc"},
        {"(*THEN)abc", 0, 0, "abc", "abc", "abc"},
        /* backtracking past (*SKIP) fails the start position before "real" is tried:
         * this one never matches, but the claim is still checked */
        {"(*SKIP)skip(*FAIL)|real", 0, 0, "skip|real", "", NULL},
        /* (*ACCEPT) ends a match early, anywhere: the whole pattern claims nothing */
        {"(*ACCEPT)abc", 0, 1, "", "", "x"},
        {"abc(*ACCEPT)def", 0, 1, "", "", "abc"},
        {"a(?:bc(*ACCEPT)|de)fg", 0, 1, "", "", "abc"},
        {"(*pla:abc)abc", 0, 0, "abc", "abc", "abc"},
    };
    RUN(t);
}

static void test_relit_options(void **state) {
    (void)state;
    static const expect t[] = {
        {"Abc", PCRE2_CASELESS, 0, "(?i)abc", "(?i)abc", "aBC"},
        {"a b c", PCRE2_EXTENDED, 0, "abc", "abc", "abc"},
        {"abc", PCRE2_MULTILINE, 0, "abc", "abc", "abc"},
        {"abc.*def", PCRE2_DOTALL, 0, "def", "abc|def", "abc\ndef"},
        /* options the extractor does not understand: no claim */
        {"abc", PCRE2_UTF, 1, "", "", "abc"},
        {"abc", PCRE2_UNGREEDY, 1, "", "", "abc"},
        {"a.b", PCRE2_LITERAL, 1, "", "", "a.b"},
        {"abc", PCRE2_EXTENDED_MORE, 1, "", "", "abc"},
        {"abc", PCRE2_NO_AUTO_CAPTURE, 1, "", "", "abc"},
    };
    RUN(t);
}

static void test_relit_bad_pattern(void **state) {
    (void)state;
    static const char *const bad[] = {
        "(abc", "abc)", "[abc", "a{2,1}", "(?<n>a)(?<n>b)", "\\", "(?(1)yes|no)", "*a", "(?Cabc)d",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int code;
        PCRE2_SIZE off;
        pcre2_code *re =
            pcre2_compile((PCRE2_SPTR)bad[i], PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
        assert_null(re);
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof(msg));
        char want[400];
        snprintf(want, sizeof(want), "bad regex: %s at offset %zu", (const char *)msg, (size_t)off);

        ward_relit r;
        memset(&r, 0xff, sizeof(r)); /* garbage in: the struct is reset anyway */
        char err[400] = "";
        assert_int_equal(ward_relit_extract(bad[i], strlen(bad[i]), 0, &r, err, sizeof(err)), -1);
        assert_string_equal(err, want);
        assert_int_equal(r.any, 0);
        assert_null(r.alts);
        assert_null(r.must);
        assert_null(r.clauses);
        ward_relit_fini(&r);
    }
    /* the pattern need not be NUL-terminated; PCRE2_ZERO_TERMINATED means strlen */
    ward_relit r;
    char err[256] = "";
    assert_int_equal(ward_relit_extract("abcdef(", 6, 0, &r, err, sizeof(err)), 0);
    assert_true(same_set(r.alts, r.nalts, "abcdef"));
    ward_relit_fini(&r);
    assert_int_equal(ward_relit_extract("abcdef", PCRE2_ZERO_TERMINATED, 0, &r, err, sizeof(err)),
                     0);
    assert_true(same_set(r.alts, r.nalts, "abcdef"));
    ward_relit_fini(&r);
    /* a message too long for the buffer is cut, not overrun */
    char small[8];
    assert_int_equal(ward_relit_extract("(abc", 4, 0, &r, small, sizeof(small)), -1);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    /* no storage, no pattern */
    assert_int_equal(ward_relit_extract("abc", 3, 0, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "relit: no result storage");
    assert_int_equal(ward_relit_extract(NULL, 3, 0, &r, err, sizeof(err)), -1);
    assert_string_equal(err, "relit: no pattern");
    ward_relit_fini(&r);
}

static void test_relit_requires(void **state) {
    (void)state;
    ward_relit r;
    assert_int_equal(extract("Failed password for (?:invalid user )?\\S+ from", 0, &r), 0);
    const char *yes[] = {"Failed password for ", "password", "d p", " from", "F"};
    const char *no[] = {"invalid user", "failed", "Failed password for invalid", "xyz"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_int_equal(ward_relit_requires(&r, (const uint8_t *)yes[i], strlen(yes[i])), 1);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_int_equal(ward_relit_requires(&r, (const uint8_t *)no[i], strlen(no[i])), 0);
    assert_int_equal(ward_relit_requires(&r, (const uint8_t *)"", 0), 0);
    assert_int_equal(ward_relit_requires(&r, NULL, 3), 0);
    assert_int_equal(ward_relit_requires(NULL, (const uint8_t *)"abc", 3), 0);
    ward_relit_fini(&r);

    /* a caseless must literal: the hint compares caselessly */
    assert_int_equal(extract("(?i)failed password", 0, &r), 0);
    assert_int_equal(ward_relit_requires(&r, (const uint8_t *)"FAILED", 6), 1);
    assert_int_equal(ward_relit_requires(&r, (const uint8_t *)"Password", 8), 1);
    ward_relit_fini(&r);

    /* only must literals count: an alternative is not required */
    assert_int_equal(extract("(?:alpha|beta)gamma", 0, &r), 0);
    assert_int_equal(ward_relit_requires(&r, (const uint8_t *)"gamma", 5), 1);
    assert_int_equal(ward_relit_requires(&r, (const uint8_t *)"alpha", 5), 0);
    ward_relit_fini(&r);

    assert_int_equal(extract(".*", 0, &r), 0);
    assert_int_equal(ward_relit_requires(&r, (const uint8_t *)"x", 1), 0);
    ward_relit_fini(&r);
}

static void test_relit_lit_push(void **state) {
    (void)state;
    ward_lit *v = NULL;
    size_t n = 0;
    char buf[4] = "abc";
    assert_int_equal(ward_lit_push(&v, &n, (const uint8_t *)buf, 3, 0), 0);
    assert_int_equal(ward_lit_push(&v, &n, (const uint8_t *)"xy", 2, 7), 0);
    assert_int_equal(ward_lit_push(&v, &n, NULL, 0, 0), 0); /* empty, no bytes */
    buf[0] = 'Z';                                           /* a copy was taken */
    assert_int_equal(n, 3);
    assert_memory_equal(v[0].s, "abc", 3);
    assert_int_equal(v[0].len, 3);
    assert_int_equal(v[0].caseless, 0);
    assert_int_equal(v[1].caseless, 1); /* normalised to 0 or 1 */
    assert_int_equal(v[2].len, 0);
    assert_non_null(v[2].s);
    /* bad arguments change nothing */
    assert_int_equal(ward_lit_push(&v, &n, NULL, 2, 0), -1);
    assert_int_equal(ward_lit_push(NULL, &n, (const uint8_t *)"a", 1, 0), -1);
    assert_int_equal(ward_lit_push(&v, NULL, (const uint8_t *)"a", 1, 0), -1);
    assert_int_equal(n, 3);
    ward_lits_free(v, n);
    ward_lits_free(NULL, 0);
    ward_lits_free(NULL, 5);
}

static void test_relit_clause_push(void **state) {
    (void)state;
    uint8_t a[] = "one", b[] = "two";
    ward_lit lits[2] = {{a, 3, 0}, {b, 3, 1}};
    ward_clause *v = NULL;
    size_t n = 0;
    assert_int_equal(ward_clause_push(&v, &n, lits, 2), 0);
    assert_int_equal(ward_clause_push(&v, &n, lits, 1), 0);
    assert_int_equal(ward_clause_push(&v, &n, NULL, 0), 0);
    a[0] = 'X'; /* deep copies */
    assert_int_equal(n, 3);
    assert_int_equal(v[0].n, 2);
    assert_memory_equal(v[0].v[0].s, "one", 3);
    assert_memory_equal(v[0].v[1].s, "two", 3);
    assert_int_equal(v[0].v[1].caseless, 1);
    assert_true(v[0].v[0].s != a);
    assert_int_equal(v[1].n, 1);
    assert_int_equal(v[2].n, 0);
    /* a member that cannot be copied fails the push and leaves *v as it was */
    ward_lit badlit = {NULL, 2, 0};
    assert_int_equal(ward_clause_push(&v, &n, &badlit, 1), -1);
    assert_int_equal(n, 3);
    ward_clauses_free(v, n);
    ward_clauses_free(NULL, 0);
}

static void test_relit_fini_zeroed(void **state) {
    (void)state;
    ward_relit r;
    memset(&r, 0, sizeof(r));
    ward_relit_fini(&r);
    ward_relit_fini(&r);
    ward_relit_fini(NULL);
    /* fini leaves a zeroed struct: a second fini is harmless */
    assert_int_equal(extract("(?:GET|POST) /x HTTP/1\\.[01]", 0, &r), 0);
    assert_true(r.nalts > 0);
    ward_relit_fini(&r);
    assert_null(r.alts);
    assert_null(r.must);
    assert_null(r.clauses);
    assert_int_equal(r.nalts + r.nmust + r.nclauses, 0);
    ward_relit_fini(&r);
}

/* ---- regressions: unsound claims the differential found ---- */

static void test_relit_braces_not_quantifier(void **state) {
    (void)state;
    /* PCRE2 before 10.43 reads "{,1}" and "{ 2 }" as literal text, later ones as
     * quantifiers; the claim must hold either way. */
    static const expect t[] = {
        {"ab{,1}c", 0, 1, "", NULL, NULL},
        {"a{ 2 }b", 0, 1, "", NULL, NULL},
    };
    RUN(t);
    /* Patterns, and subjects for either reading. "x{,1}{0}" does not compile in 10.43;
     * before, the {0} applies to the '}' alone, not to the item. */
    static const char *const subj[][2] = {
        {"ab{,1}c", "ab{,1}c"},         {"ab{,1}c", "ac"},
        {"foo{,1}bar", "foo{,1}bar"},   {"foo{,1}bar", "fobar"},
        {"a{ 2 }b", "a{ 2 }b"},         {"a{ 2 }b", "aab"},
        {"foo{ 1 }bar", "foo{ 1 }bar"}, {"foo{ 1 }bar", "foobar"},
        {"abc{2 ,}def", "abc{2 ,}def"}, {"abc{2 ,}def", "abccdef"},
        {"Bar{,1}{0}de", "Bar{,1de"},   {"abc{ 2 }{0}xyz", "abc{ 2 xyz"},
        {"x{1,3 }yz", "x{1,3 }yz"},     {"x{1,3 }yz", "xxyz"},
    };
    size_t matched = 0;
    for (size_t i = 0; i < sizeof(subj) / sizeof(subj[0]); i++) {
        const char *pat = subj[i][0];
        ward_relit r;
        char err[256];
        int rc = ward_relit_extract(pat, strlen(pat), 0, &r, err, sizeof(err));
        pcre2_code *re = compile(pat, strlen(pat), 0);
        assert_int_equal(rc == 0, re != NULL);
        if (!re)
            continue;
        const char *why = "";
        size_t sl = strlen(subj[i][1]);
        if (re_matches(re, subj[i][1], sl)) {
            matched++;
            if (claims_hold(&r, (const uint8_t *)subj[i][1], sl, NULL, &why) != 0) {
                fprintf(stderr, "'%s' on '%s': %s\n", pat, subj[i][1], why);
                print_relit(&r);
                fail();
            }
        }
        pcre2_code_free(re);
        ward_relit_fini(&r);
    }
    assert_true(matched >= 7); /* one reading or the other */
}

static void test_relit_class_ignored_items(void **state) {
    (void)state;
    /* \E, \Q\E and (under xx) blanks are skipped at the start of a class, before and
     * after '^', and the ']' after them is still a member; later in a class they can
     * stand between the ends of a range. */
    static const char *const cases[][2] = {
        {"[\\E]abc]x", "ax"},      {"[\\Q\\E]abc]x", "bx"},   {"(?xx)[ ]abc]x", "cx"},
        {"[\\E^a]x", "bx"},        {"[\\Q\\E^a]x", "bx"},     {"(?xx)[ ^a]x", "bx"},
        {"[\\Qa\\E-z]x", "bx"},    {"[a-\\Qz\\E]x", "bx"},    {"[a\\E-z]x", "bx"},
        {"(?xx)[a - z]x", "bx"},   {"(?xx)[a -z]x", "bx"},    {"[^\\Q\\E]abc]x", "dx"},
        {"(?xx)[\\E ]ab]x", "]x"}, {"[\\Q\\Qa\\E-z]x", "bx"}, {"[\\Q\\E\\Q\\E]ab]x", "]x"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *pat = cases[i][0], *subj = cases[i][1];
        ward_relit r;
        assert_int_equal(extract(pat, 0, &r), 0);
        check_shape(pat, &r);
        pcre2_code *re = compile(pat, strlen(pat), 0);
        assert_non_null(re);
        if (!re_matches(re, subj, strlen(subj))) {
            fprintf(stderr, "'%s' does not match '%s'\n", pat, subj);
            fail();
        }
        const char *why = "";
        if (claims_hold(&r, (const uint8_t *)subj, strlen(subj), NULL, &why) != 0) {
            fprintf(stderr, "'%s' on '%s': %s\n", pat, subj, why);
            print_relit(&r);
            fail();
        }
        pcre2_code_free(re);
        ward_relit_fini(&r);
    }
    /* what is still understood */
    static const expect t[] = {
        {"[\\Q]\\E]quoteclass", 0, 0, "quoteclass", NULL, "]quoteclass"},
        {"[\\]\\[]brackets", 0, 0, "brackets", "brackets", "[brackets"},
        {"(?xx)[a b]xx", 0, 0, NULL, NULL, "bxx"},
    };
    RUN(t);
}

/* ---- the differential ---- */

typedef struct line {
    const uint8_t *s;
    size_t n;
} line;

typedef struct lineset {
    line *v;
    size_t n, cap;
    uint8_t **bufs;
    size_t nbufs;
} lineset;

static int read_file(const char *path, uint8_t **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    assert_non_null(b);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap);
            assert_non_null(b);
        }
        size_t k = fread(b + n, 1, cap - n, f);
        if (k == 0)
            break;
        n += k;
    }
    fclose(f);
    *out = b;
    *len = n;
    return 0;
}

/* Appends every line of path (without its newline). Returns -1 when it cannot be read. */
static int lines_load(lineset *ls, const char *path) {
    uint8_t *b;
    size_t n;
    if (read_file(path, &b, &n) < 0)
        return -1;
    ls->bufs = realloc(ls->bufs, (ls->nbufs + 1) * sizeof(*ls->bufs));
    assert_non_null(ls->bufs);
    ls->bufs[ls->nbufs++] = b;
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && b[e] != '\n')
            e++;
        if (ls->n == ls->cap) {
            ls->cap = ls->cap ? ls->cap * 2 : 1024;
            ls->v = realloc(ls->v, ls->cap * sizeof(*ls->v));
            assert_non_null(ls->v);
        }
        ls->v[ls->n].s = b + i;
        ls->v[ls->n].n = e - i;
        ls->n++;
        i = e + 1;
    }
    return 0;
}

static void lines_glob(lineset *ls, const char *pattern) {
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0)
        return;
    for (size_t i = 0; i < g.gl_pathc; i++)
        assert_int_equal(lines_load(ls, g.gl_pathv[i]), 0);
    globfree(&g);
}

static void lines_free(lineset *ls) {
    for (size_t i = 0; i < ls->nbufs; i++)
        free(ls->bufs[i]);
    free(ls->bufs);
    free(ls->v);
    memset(ls, 0, sizeof(*ls));
}

/* A pattern to check, with the PCRE2 options it runs with. */
typedef struct pat {
    char *s;
    size_t n;
    uint32_t opts;
} pat;

typedef struct patset {
    pat *v;
    size_t n;
} patset;

static void pats_add(patset *ps, const uint8_t *s, size_t n, uint32_t opts) {
    ps->v = realloc(ps->v, (ps->n + 1) * sizeof(*ps->v));
    assert_non_null(ps->v);
    ps->v[ps->n].s = malloc(n + 1);
    assert_non_null(ps->v[ps->n].s);
    memcpy(ps->v[ps->n].s, s, n);
    ps->v[ps->n].s[n] = '\0';
    ps->v[ps->n].n = n;
    ps->v[ps->n].opts = opts;
    ps->n++;
}

static void pats_free(patset *ps) {
    for (size_t i = 0; i < ps->n; i++)
        free(ps->v[i].s);
    free(ps->v);
    memset(ps, 0, sizeof(*ps));
}

/* One pattern a line; empty lines skipped. Returns -1 when the file is missing. */
static int pats_load(patset *ps, const char *path) {
    lineset ls;
    memset(&ls, 0, sizeof(ls));
    if (lines_load(&ls, path) < 0)
        return -1;
    for (size_t i = 0; i < ls.n; i++)
        if (ls.v[i].n)
            pats_add(ps, ls.v[i].s, ls.v[i].n, 0);
    lines_free(&ls);
    return 0;
}

/* A single-quoted YAML scalar ('' is a quote) into out. Returns -1 for any other form. */
static int unquote(const uint8_t *s, size_t n, uint8_t *out, size_t *olen) {
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\r'))
        n--;
    if (n < 2 || s[0] != '\'' || s[n - 1] != '\'')
        return -1;
    size_t o = 0;
    for (size_t i = 1; i + 1 < n; i++) {
        out[o++] = s[i];
        if (s[i] == '\'' && s[i + 1] == '\'')
            i++;
    }
    *olen = o;
    return 0;
}

/* The regular expressions of the shipped rules: "field|re[|i|m|s]: '...'" values (also as
 * a list of single-quoted items on the lines after) and "pcre2: '...'" extractors. Only
 * single-quoted scalars are taken; the rest is counted in *skipped. */
static void rules_load(patset *ps, size_t *skipped) {
    lineset ls;
    memset(&ls, 0, sizeof(ls));
    lines_glob(&ls, "rules/*.yml");
    lines_glob(&ls, "rules/*/*.yml");
    uint8_t buf[4096];
    size_t blen;
    for (size_t i = 0; i < ls.n; i++) {
        const uint8_t *s = ls.v[i].s;
        size_t n = ls.v[i].n, k = 0;
        while (k < n && s[k] == ' ')
            k++;
        if (k < n && s[k] == '#')
            continue;
        const uint8_t *re = memmem(s, n, "|re", 3);
        uint32_t opts = 0;
        size_t at;
        if (re && (re + 3 == s + n || re[3] == ':' || re[3] == '|')) {
            at = (size_t)(re - s) + 3;
            while (at + 1 < n && s[at] == '|') {
                opts |= s[at + 1] == 'i'   ? PCRE2_CASELESS
                        : s[at + 1] == 'm' ? PCRE2_MULTILINE
                        : s[at + 1] == 's' ? PCRE2_DOTALL
                                           : 0;
                at += 2;
            }
        } else if (n - k > 6 && memcmp(s + k, "pcre2:", 6) == 0) {
            at = k + 5;
        } else {
            continue;
        }
        if (at >= n || s[at] != ':')
            continue;
        at++;
        while (at < n && s[at] == ' ')
            at++;
        if (at < n) {
            if (n - at < sizeof(buf) && unquote(s + at, n - at, buf, &blen) == 0)
                pats_add(ps, buf, blen, opts);
            else
                (*skipped)++;
            continue;
        }
        /* a list on the following lines */
        for (size_t j = i + 1; j < ls.n; j++) {
            const uint8_t *t = ls.v[j].s;
            size_t m = ls.v[j].n, q = 0;
            while (q < m && t[q] == ' ')
                q++;
            if (q + 1 >= m || t[q] != '-' || t[q + 1] != ' ')
                break;
            if (m - q - 2 < sizeof(buf) && unquote(t + q + 2, m - q - 2, buf, &blen) == 0)
                pats_add(ps, buf, blen, opts);
            else
                (*skipped)++;
        }
    }
    lines_free(&ls);
}

/* The subject generator. A pattern is parsed (roughly, the way PCRE2 10.42 reads it) into
 * a small tree that can produce strings the pattern likely matches: one branch of each
 * alternation, a few repeats of each quantified item, a member of each class. The same
 * tree flattened gives the pattern's literal fragments in order, with stand-ins for what
 * lies between (a digit for \d, a class member): shuffled, dropped, spliced into real
 * lines and case-flipped, they make the near misses. */
enum { N_SEQ, N_ALT, N_CHAR, N_SET, N_ANY, N_EMPTY, N_REP, N_AHEAD };

#define MAXNODE 8192
#define MAXSET 1024

typedef struct node {
    uint8_t kind, n, c[4]; /* N_CHAR: the bytes of one character */
    int16_t min, max;      /* N_REP; max -1: unbounded */
    int32_t kid, last;     /* first and last child (SEQ, ALT, REP) */
    int32_t next;          /* next sibling */
    int32_t set;           /* N_SET: index into sets */
} node;

typedef struct tree {
    node v[MAXNODE];
    size_t n;
    uint8_t sets[MAXSET][32];
    size_t nsets;
    int root, ci, utf;
} tree;

typedef struct tparse {
    const uint8_t *p;
    size_t n, i;
    int x, inq, depth;
    tree *t;
} tparse;

static int t_node(tree *t, int kind) {
    if (t->n == MAXNODE)
        return -1;
    node *d = &t->v[t->n];
    memset(d, 0, sizeof(*d));
    d->kind = (uint8_t)kind;
    d->kid = d->last = d->next = -1;
    return (int)t->n++;
}

static void t_add(tree *t, int parent, int kid) {
    if (parent < 0 || kid < 0)
        return;
    node *p = &t->v[parent];
    if (p->last < 0)
        p->kid = kid;
    else
        t->v[p->last].next = kid;
    p->last = kid;
}

static int t_char(tree *t, const uint8_t *s, size_t n) {
    int k = t_node(t, N_CHAR);
    if (k >= 0) {
        t->v[k].n = (uint8_t)(n > 4 ? 4 : n);
        memcpy(t->v[k].c, s, t->v[k].n);
    }
    return k;
}

static int t_code(tparse *tp, uint32_t v) {
    uint8_t b[4];
    size_t n = 1;
    if (v < 0x80 || !tp->t->utf) {
        b[0] = (uint8_t)v;
    } else if (v < 0x800) {
        b[0] = (uint8_t)(0xC0 | v >> 6);
        b[1] = (uint8_t)(0x80 | (v & 0x3F));
        n = 2;
    } else if (v < 0x10000) {
        b[0] = (uint8_t)(0xE0 | v >> 12);
        b[1] = (uint8_t)(0x80 | (v >> 6 & 0x3F));
        b[2] = (uint8_t)(0x80 | (v & 0x3F));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xF0 | v >> 18);
        b[1] = (uint8_t)(0x80 | (v >> 12 & 0x3F));
        b[2] = (uint8_t)(0x80 | (v >> 6 & 0x3F));
        b[3] = (uint8_t)(0x80 | (v & 0x3F));
        n = 4;
    }
    return t_char(tp->t, b, n);
}

static int t_set(tree *t, const uint8_t *bits) {
    if (t->nsets == MAXSET)
        return -1;
    int k = t_node(t, N_SET);
    if (k >= 0) {
        memcpy(t->sets[t->nsets], bits, 32);
        t->v[k].set = (int32_t)t->nsets++;
    }
    return k;
}

static void bit_set(uint8_t *b, int c) {
    b[c >> 3] |= (uint8_t)(1u << (c & 7));
}

static int bit_has(const uint8_t *b, int c) {
    return (b[c >> 3] >> (c & 7)) & 1;
}

static void bits_str(uint8_t *b, const char *s) {
    for (; *s; s++)
        bit_set(b, (uint8_t)*s);
}

/* The ASCII bytes of an escape class (\d, \w, ...; upper case: the printable rest).
 * Returns 0 when e is no such escape. */
static int class_escape(int e, uint8_t *b) {
    uint8_t t[32];
    memset(t, 0, sizeof(t));
    switch (e | 0x20) {
    case 'd':
        bits_str(t, "0123456789");
        break;
    case 'w':
        bits_str(t, "0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
        break;
    case 's':
        bits_str(t, " \t\n\r\f\v");
        break;
    case 'h':
        bits_str(t, " \t");
        break;
    case 'v':
        bits_str(t, "\n\r\f\v");
        break;
    default:
        return 0;
    }
    int neg = e >= 'A' && e <= 'Z';
    for (int c = 0; c < 128; c++)
        if (bit_has(t, c) != neg && (c >= 0x20 || c == '\t' || !neg))
            bit_set(b, c);
    return 1;
}

static size_t skip_to(const uint8_t *p, size_t n, size_t i, int close) {
    while (i < n && p[i] != close)
        i++;
    return i < n ? i + 1 : n;
}

static int hexv(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* A code point escape after the backslash at p[i - 1] == '\\', p[i] == e. Returns the
 * value, or -1 when e starts none; *i moves past it. */
static long code_escape(const uint8_t *p, size_t n, size_t *i) {
    int e = p[*i];
    size_t k = *i + 1;
    long v = -1;
    if (e == 'x') {
        v = 0;
        if (k < n && p[k] == '{') {
            for (k++; k < n && hexv(p[k]) >= 0; k++)
                v = v * 16 + hexv(p[k]);
            k = skip_to(p, n, k, '}');
        } else {
            for (int d = 0; d < 2 && k < n && hexv(p[k]) >= 0; d++, k++)
                v = v * 16 + hexv(p[k]);
        }
    } else if (e == 'o' && k < n && p[k] == '{') {
        v = 0;
        for (k++; k < n && p[k] >= '0' && p[k] <= '7'; k++)
            v = v * 8 + (p[k] - '0');
        k = skip_to(p, n, k, '}');
    } else if (e == '0') {
        v = 0;
        for (int d = 0; d < 2 && k < n && p[k] >= '0' && p[k] <= '7'; d++, k++)
            v = v * 8 + (p[k] - '0');
    } else if (e == 'c' && k < n) {
        int d = p[k] >= 'a' && p[k] <= 'z' ? p[k] - 32 : p[k];
        v = d ^ 0x40;
        k++;
    } else {
        const char *from = "tnrfea", *to = "\t\n\r\f\x1b\a";
        const char *f = strchr(from, e);
        if (e && f)
            v = (uint8_t)to[f - from];
    }
    if (v >= 0)
        *i = k;
    return v;
}

/* A class at p[i] == '[', as PCRE2 reads it (its leading \E, \Q\E and xx blanks aside). */
static int t_class(tparse *tp) {
    const uint8_t *p = tp->p;
    size_t n = tp->n, i = tp->i + 1;
    uint8_t b[32];
    memset(b, 0, sizeof(b));
    int neg = 0, first = 1, prev = -1;
    if (i < n && p[i] == '^') {
        neg = 1;
        i++;
    }
    while (i < n && (p[i] != ']' || first)) {
        first = 0;
        int v = -1;
        if (p[i] == '[' && i + 1 < n && p[i + 1] == ':') {
            size_t e = i + 2;
            while (e + 1 < n && !(p[e] == ':' && p[e + 1] == ']'))
                e++;
            const char *nm = (const char *)p + i + 2;
            int inv = *nm == '^';
            nm += inv;
            uint8_t t[32];
            memset(t, 0, sizeof(t));
            bits_str(t, strncmp(nm, "digit", 5) == 0    ? "0123456789"
                        : strncmp(nm, "space", 5) == 0  ? " \t"
                        : strncmp(nm, "xdigit", 6) == 0 ? "0123456789abcdefABCDEF"
                        : strncmp(nm, "upper", 5) == 0  ? "ABCXYZ"
                        : strncmp(nm, "lower", 5) == 0  ? "abcxyz"
                        : strncmp(nm, "punct", 5) == 0  ? ".,;:!-"
                        : strncmp(nm, "alpha", 5) == 0  ? "abcxyzABCXYZ"
                                                        : "abcxyzABC019");
            for (int c = 0x20; c < 0x7f; c++)
                if (bit_has(t, c) != inv)
                    bit_set(b, c);
            i = e + 2;
            prev = -1;
            continue;
        }
        if (p[i] == '\\' && i + 1 < n) {
            i++;
            if (class_escape(p[i], b)) {
                i++;
                prev = -1;
                continue;
            }
            if (p[i] == 'Q') {
                for (i++; i < n && !(p[i] == '\\' && i + 1 < n && p[i + 1] == 'E'); i++)
                    bit_set(b, p[i]);
                i += 2;
                prev = -1;
                continue;
            }
            if (p[i] == 'E') {
                i++;
                continue;
            }
            if (p[i] == 'p' || p[i] == 'P') {
                i = i + 1 < n && p[i + 1] == '{' ? skip_to(p, n, i + 1, '}') : i + 2;
                bits_str(b, "abcxyzABCXYZ");
                prev = -1;
                continue;
            }
            if (p[i] == 'b') {
                v = 8;
                i++;
            } else {
                long c = code_escape(p, n, &i);
                if (c >= 0 && c < 0x100) {
                    v = (int)c;
                } else if (c < 0 && !is_letter(p[i]) && !(p[i] >= '0' && p[i] <= '9')) {
                    v = p[i++];
                } else {
                    i++;
                    continue;
                }
            }
        } else {
            v = p[i++];
        }
        if (prev >= 0 && v == '-' && i < n && p[i] != ']') {
            int e = p[i];
            if (e == '\\' && i + 1 < n) {
                i++;
                long c = code_escape(p, n, &i);
                e = c >= 0 && c < 0x100 ? (int)c : p[i++];
            } else {
                i++;
            }
            for (int c = prev; c <= e && c < 256; c++)
                bit_set(b, c);
            prev = -1;
            continue;
        }
        bit_set(b, v);
        prev = v;
    }
    tp->i = i < n ? i + 1 : n;
    if (neg) {
        uint8_t c2[32];
        memset(c2, 0, sizeof(c2));
        for (int c = 0x20; c < 0x7f; c++)
            if (!bit_has(b, c))
                bit_set(c2, c);
        memcpy(b, c2, sizeof(b));
    }
    return t_set(tp->t, b);
}

static int t_alt(tparse *tp);

/* A group body up to its ')', with flags scoped to it. */
static int t_body(tparse *tp) {
    int x = tp->x;
    int k = t_alt(tp);
    if (tp->i < tp->n && tp->p[tp->i] == ')')
        tp->i++;
    tp->x = x;
    return k;
}

static int name_at(const uint8_t *p, size_t n, size_t i, const char *const *names) {
    for (; *names; names++) {
        size_t l = strlen(*names);
        if (i + l < n && memcmp(p + i, *names, l) == 0 && p[i + l] == ':')
            return (int)l;
    }
    return 0;
}

static int t_group(tparse *tp) {
    const uint8_t *p = tp->p;
    size_t n = tp->n;
    tree *t = tp->t;
    tp->i++;
    if (tp->i < n && p[tp->i] == '*') {
        static const char *const ahead[] = {"pla", "positive_lookahead", "napla",
                                            "non_atomic_positive_lookahead", NULL};
        static const char *const neg[] = {"nla", "negative_lookahead", "nlb", "negative_lookbehind",
                                          NULL};
        static const char *const body[] = {"plb",
                                           "positive_lookbehind",
                                           "naplb",
                                           "non_atomic_positive_lookbehind",
                                           "atomic",
                                           "sr",
                                           "asr",
                                           "script_run",
                                           "atomic_script_run",
                                           NULL};
        int l;
        if ((l = name_at(p, n, tp->i + 1, ahead)) > 0) {
            tp->i += (size_t)l + 2;
            int a = t_node(t, N_AHEAD);
            t_add(t, a, t_body(tp));
            return a;
        }
        if ((l = name_at(p, n, tp->i + 1, neg)) > 0) {
            tp->i += (size_t)l + 2;
            (void)t_body(tp);
            return t_node(t, N_EMPTY);
        }
        if ((l = name_at(p, n, tp->i + 1, body)) > 0) {
            tp->i += (size_t)l + 2;
            return t_body(tp);
        }
        tp->i = skip_to(p, n, tp->i, ')');
        return t_node(t, N_EMPTY);
    }
    if (tp->i >= n || p[tp->i] != '?')
        return t_body(tp);
    tp->i++;
    int d = tp->i < n ? p[tp->i] : 0, e = tp->i + 1 < n ? p[tp->i + 1] : 0;
    if (d == '#') {
        tp->i = skip_to(p, n, tp->i, ')');
        return t_node(t, N_EMPTY);
    }
    if (d == ':' || d == '|' || d == '>') {
        tp->i++;
        return t_body(tp);
    }
    if (d == '=' || d == '*') {
        /* a lookahead: generated at the end of the subject, where .*x finds it */
        tp->i++;
        int a = t_node(t, N_AHEAD);
        t_add(t, a, t_body(tp));
        return a;
    }
    if (d == '!' || (d == '<' && e == '!')) {
        tp->i += d == '<' ? 2 : 1; /* negative: nothing of it is generated */
        (void)t_body(tp);
        return t_node(t, N_EMPTY);
    }
    if (d == '<' && (e == '=' || e == '*')) {
        tp->i += 2; /* a lookbehind: generated, it comes before what follows */
        return t_body(tp);
    }
    if (d == '<' || d == '\'' || (d == 'P' && e == '<')) {
        tp->i = skip_to(p, n, tp->i + 1, d == '\'' ? '\'' : '>');
        return t_body(tp);
    }
    if (d == '(') {
        /* a conditional: either branch */
        tp->i++;
        if (tp->i < n && (p[tp->i] == '?' || p[tp->i] == '*')) {
            tp->i--;
            (void)t_group(tp);
        } else {
            tp->i = skip_to(p, n, tp->i, ')');
        }
        return t_body(tp);
    }
    if (d == 'P' || d == 'R' || d == '&' || d == '+' || d == 'C' || (d >= '0' && d <= '9') ||
        (d == '-' && e >= '0' && e <= '9')) {
        tp->i = skip_to(p, n, tp->i, ')'); /* calls, back references, callouts */
        return t_node(t, N_EMPTY);
    }
    int on = 1, x = tp->x;
    while (tp->i < n && p[tp->i] != ')' && p[tp->i] != ':') {
        int c = p[tp->i++];
        if (c == '-')
            on = 0;
        else if (c == '^')
            x = 0;
        else if (c == 'i' && on)
            t->ci = 1;
        else if (c == 'x')
            x = on;
    }
    if (tp->i < n && p[tp->i] == ')') {
        tp->i++;
        tp->x = x; /* to the end of the enclosing group */
        return t_node(t, N_EMPTY);
    }
    tp->i++;
    int saved = tp->x;
    tp->x = x;
    int k = t_body(tp);
    tp->x = saved;
    return k;
}

static int t_escape(tparse *tp) {
    const uint8_t *p = tp->p;
    size_t n = tp->n;
    tree *t = tp->t;
    tp->i++;
    if (tp->i >= n)
        return t_node(t, N_EMPTY);
    int e = p[tp->i];
    uint8_t b[32];
    memset(b, 0, sizeof(b));
    if (class_escape(e, b)) {
        tp->i++;
        return t_set(t, b);
    }
    long v = code_escape(p, n, &tp->i);
    if (v >= 0)
        return t_code(tp, (uint32_t)v);
    tp->i++;
    switch (e) {
    case 'Q':
        tp->inq = 1;
        return t_node(t, N_EMPTY);
    case 'N':
        if (tp->i < n && p[tp->i] == '{')
            tp->i = skip_to(p, n, tp->i, '}');
        return t_node(t, N_ANY);
    case 'R':
        return t_char(t, (const uint8_t *)"\n", 1);
    case 'X':
    case 'C':
        return t_char(t, (const uint8_t *)"x", 1);
    case 'p':
    case 'P':
        if (tp->i < n && p[tp->i] == '{')
            tp->i = skip_to(p, n, tp->i, '}');
        else
            tp->i++;
        bits_str(b, e == 'p' ? "abcxyzABCXYZ" : " .-:/");
        return t_set(t, b);
    case 'g':
    case 'k':
        if (tp->i < n && (p[tp->i] == '{' || p[tp->i] == '<' || p[tp->i] == '\''))
            tp->i = skip_to(p, n, tp->i + 1, p[tp->i] == '{' ? '}' : p[tp->i] == '<' ? '>' : '\'');
        else
            while (tp->i < n &&
                   (p[tp->i] == '-' || p[tp->i] == '+' || (p[tp->i] >= '0' && p[tp->i] <= '9')))
                tp->i++;
        return t_node(t, N_EMPTY);
    default:
        break;
    }
    if (e >= '1' && e <= '9') {
        while (tp->i < n && p[tp->i] >= '0' && p[tp->i] <= '9')
            tp->i++;
        return t_node(t, N_EMPTY); /* a back reference: not generated */
    }
    if (is_letter(e))
        return t_node(t, N_EMPTY); /* \b \B \A \z \Z \G \K \E */
    uint8_t c = (uint8_t)e;
    return t_char(t, &c, 1);
}

static size_t utf_len(const tparse *tp) {
    uint8_t c = tp->p[tp->i];
    size_t n = !tp->t->utf ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return tp->i + n <= tp->n ? n : tp->n - tp->i;
}

/* Skips what PCRE2 ignores between items: \E, \Q\E, (?#...), x-mode blanks and
 * comments. */
static void t_skip(tparse *tp) {
    const uint8_t *p = tp->p;
    size_t n = tp->n;
    for (;;) {
        size_t i = tp->i;
        if (i + 1 < n && p[i] == '\\' && p[i + 1] == 'E') {
            tp->inq = 0;
            tp->i += 2;
        } else if (tp->inq) {
            return;
        } else if (i + 3 < n && memcmp(p + i, "\\Q\\E", 4) == 0) {
            tp->i += 4;
        } else if (i + 2 < n && memcmp(p + i, "(?#", 3) == 0) {
            tp->i = skip_to(p, n, i, ')');
        } else if (tp->x && i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n')) {
            tp->i++;
        } else if (tp->x && i < n && p[i] == '#') {
            tp->i = skip_to(p, n, i, '\n');
        } else {
            return;
        }
    }
}

/* One item, or -1 at '|', ')' or the end. */
static int t_atom(tparse *tp) {
    const uint8_t *p = tp->p;
    tree *t = tp->t;
    for (;;) {
        t_skip(tp);
        if (tp->i >= tp->n)
            return -1;
        uint8_t c = p[tp->i];
        if (tp->inq) {
            size_t l = utf_len(tp);
            tp->i += l;
            return t_char(t, p + tp->i - l, l);
        }
        switch (c) {
        case '|':
        case ')':
            return -1;
        case '(':
            return t_group(tp);
        case '[':
            if (tp->n - tp->i >= 7 &&
                (memcmp(p + tp->i, "[[:<:]]", 7) == 0 || memcmp(p + tp->i, "[[:>:]]", 7) == 0)) {
                tp->i += 7;
                return t_node(t, N_EMPTY);
            }
            return t_class(tp);
        case '.':
            tp->i++;
            return t_node(t, N_ANY);
        case '^':
        case '$':
            tp->i++;
            return t_node(t, N_EMPTY);
        case '\\':
            return t_escape(tp);
        default: {
            size_t l = utf_len(tp);
            tp->i += l;
            return t_char(t, p + tp->i - l, l);
        }
        }
    }
}

/* {n}, {n,}, {n,m} (PCRE2 10.42: digits only, n present) at p[i]: returns the index past
 * it, or i when it is literal text. */
static size_t braces(const uint8_t *p, size_t n, size_t i, long *min, long *max) {
    size_t k = i + 1;
    long a = 0, b = -1;
    int digits = 0;
    while (k < n && p[k] >= '0' && p[k] <= '9') {
        a = a * 10 + (p[k++] - '0');
        digits = 1;
    }
    if (!digits)
        return i;
    b = a;
    if (k < n && p[k] == ',') {
        k++;
        b = -1;
        if (k < n && p[k] >= '0' && p[k] <= '9')
            for (b = 0; k < n && p[k] >= '0' && p[k] <= '9'; k++)
                b = b * 10 + (p[k] - '0');
    }
    if (k >= n || p[k] != '}')
        return i;
    *min = a;
    *max = b;
    return k + 1;
}

static int t_seq(tparse *tp) {
    tree *t = tp->t;
    int seq = t_node(t, N_SEQ);
    for (;;) {
        int a = t_atom(tp);
        if (a < 0)
            return seq;
        for (;;) {
            t_skip(tp);
            if (tp->inq || tp->i >= tp->n)
                break;
            int c = tp->p[tp->i];
            long min, max;
            if (c == '?' || c == '*' || c == '+') {
                min = c == '+';
                max = c == '?' ? 1 : -1;
                tp->i++;
            } else if (c == '{') {
                size_t e = braces(tp->p, tp->n, tp->i, &min, &max);
                if (e == tp->i)
                    break;
                tp->i = e;
            } else {
                break;
            }
            if (tp->i < tp->n && (tp->p[tp->i] == '?' || tp->p[tp->i] == '+'))
                tp->i++;
            int r = t_node(t, N_REP);
            if (r < 0)
                break;
            t->v[r].min = (int16_t)(min > 100 ? 100 : min);
            t->v[r].max = (int16_t)(max > 100 ? 100 : max);
            t_add(t, r, a);
            a = r;
        }
        t_add(t, seq, a);
    }
}

static int t_alt(tparse *tp) {
    int alt = t_node(tp->t, N_ALT);
    if (++tp->depth > 200) {
        tp->i = tp->n;
        return alt;
    }
    for (;;) {
        t_add(tp->t, alt, t_seq(tp));
        if (tp->i < tp->n && tp->p[tp->i] == '|') {
            tp->i++;
            continue;
        }
        break;
    }
    tp->depth--;
    return alt;
}

static void tree_build(tree *t, const uint8_t *p, size_t n, uint32_t opts) {
    t->n = t->nsets = 0;
    t->ci = (opts & PCRE2_CASELESS) != 0;
    t->utf = n >= 5 && memcmp(p, "(*UTF", 5) == 0;
    tparse tp = {p, n, 0, (opts & PCRE2_EXTENDED) != 0, 0, 0, t};
    t->root = t_alt(&tp);
    /* a stray ')' PCRE2 rejected, or a deep nest: the rest as another branch */
    while (tp.i < n) {
        tp.i++;
        t_add(t, t->root, t_alt(&tp));
    }
}

typedef struct outbuf {
    uint8_t s[2048];
    size_t n;
} outbuf;

static void ob_put(outbuf *o, const uint8_t *s, size_t n) {
    if (n > sizeof(o->s) - o->n)
        n = sizeof(o->s) - o->n;
    memcpy(o->s + o->n, s, n);
    o->n += n;
}

static void ob_str(outbuf *o, const char *s) {
    ob_put(o, (const uint8_t *)s, strlen(s));
}

static uint8_t set_pick(const uint8_t *b, uint64_t *rs) {
    unsigned count = 0;
    for (int c = 0; c < 256; c++)
        count += (unsigned)bit_has(b, c);
    unsigned k = rnd(rs, count ? count : 1);
    for (int c = 0; c < 256; c++)
        if (bit_has(b, c) && k-- == 0)
            return (uint8_t)c;
    return 'a';
}

static const char any_chars[] = "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 .:-/_=[]()\"'";

/* Walks the tree: one string the pattern probably matches (lookaheads go to tail). */
static void tree_walk(const tree *t, int k, uint64_t *rs, outbuf *o, outbuf *tail, int depth) {
    if (k < 0 || depth > 100)
        return;
    const node *d = &t->v[k];
    switch (d->kind) {
    case N_SEQ:
        for (int c = d->kid; c >= 0; c = t->v[c].next)
            tree_walk(t, c, rs, o, tail, depth + 1);
        break;
    case N_ALT: {
        unsigned nk = 0;
        for (int c = d->kid; c >= 0; c = t->v[c].next)
            nk++;
        unsigned pick = rnd(rs, nk);
        for (int c = d->kid; c >= 0; c = t->v[c].next)
            if (pick-- == 0) {
                tree_walk(t, c, rs, o, tail, depth + 1);
                break;
            }
        break;
    }
    case N_CHAR:
        ob_put(o, d->c, d->n);
        break;
    case N_SET: {
        uint8_t c = set_pick(t->sets[d->set], rs);
        ob_put(o, &c, 1);
        break;
    }
    case N_ANY:
        ob_put(o, (const uint8_t *)&any_chars[rnd(rs, sizeof(any_chars) - 1)], 1);
        break;
    case N_REP: {
        long span = d->max < 0 ? 3 : d->max - d->min > 3 ? 3 : d->max - d->min;
        long reps = d->min + (long)rnd(rs, (unsigned)span + 1);
        for (long r = 0; r < reps && o->n < sizeof(o->s); r++)
            tree_walk(t, d->kid, rs, o, tail, depth + 1);
        break;
    }
    case N_AHEAD:
        if (chance(rs, 70))
            tree_walk(t, d->kid, rs, tail, tail, depth + 1);
        break;
    default:
        break;
    }
}

static void tree_gen(const tree *t, int k, uint64_t *rs, outbuf *o, int depth) {
    outbuf tail;
    tail.n = 0;
    tree_walk(t, k, rs, o, &tail, depth);
    ob_put(o, tail.s, tail.n);
}

/* The flattened tree: literal fragments and stand-ins, in pattern order. */
enum { TK_FRAG, TK_HINT };

#define TOKLEN 40
#define MAXTOK 256

typedef struct tok {
    uint8_t s[TOKLEN];
    uint8_t n, kind;
} tok;

typedef struct frags {
    tok v[MAXTOK];
    size_t n;
    uint8_t run[TOKLEN];
    size_t nrun;
} frags;

static void fr_push(frags *f, const uint8_t *s, size_t n, int kind) {
    if (n == 0 || f->n == MAXTOK)
        return;
    tok *t = &f->v[f->n++];
    t->n = (uint8_t)(n < TOKLEN ? n : TOKLEN);
    memcpy(t->s, s, t->n);
    t->kind = (uint8_t)kind;
}

static void fr_flush(frags *f) {
    fr_push(f, f->run, f->nrun, TK_FRAG);
    f->nrun = 0;
}

static void tree_frags(const tree *t, int k, frags *f, uint64_t *rs, int depth) {
    if (k < 0 || depth > 100)
        return;
    const node *d = &t->v[k];
    switch (d->kind) {
    case N_SEQ:
        for (int c = d->kid; c >= 0; c = t->v[c].next)
            tree_frags(t, c, f, rs, depth + 1);
        break;
    case N_ALT:
        for (int c = d->kid; c >= 0; c = t->v[c].next) {
            fr_flush(f);
            tree_frags(t, c, f, rs, depth + 1);
        }
        fr_flush(f);
        break;
    case N_CHAR:
        for (uint8_t i = 0; i < d->n; i++) {
            if (f->nrun == TOKLEN)
                fr_flush(f);
            f->run[f->nrun++] = d->c[i];
        }
        break;
    case N_SET:
    case N_ANY: {
        outbuf o;
        o.n = 0;
        tree_gen(t, k, rs, &o, depth);
        fr_flush(f);
        fr_push(f, o.s, o.n, TK_HINT);
        break;
    }
    case N_AHEAD:
        fr_flush(f);
        tree_frags(t, d->kid, f, rs, depth + 1);
        fr_flush(f);
        break;
    case N_REP:
        /* an optional item is a fragment of its own, so that it can be dropped */
        fr_flush(f);
        for (long r = 0; r < (d->min ? d->min : 1) && r < 8; r++)
            tree_frags(t, d->kid, f, rs, depth + 1);
        fr_flush(f);
        break;
    default:
        fr_flush(f);
        break;
    }
}

static const char *const seps[] = {"",  "",  "",  " ", " ",  "1", "a", "x1", ".", "/", ":", "-",
                                   "[", "]", "(", ")", "\"", "=", "_", "\t", "A", "%", "'", "; "};
static const char *const prefixes[] = {
    "Dec 10 06:55:46 LabSZ sshd[24200]: ",
    "[Sun Dec 04 04:47:44 2005] [error] [client 10.0.0.1] ",
    "203.0.113.9 - - [10/Oct/2024:13:55:36 +0000] \"GET /",
    "Jun 14 15:16:01 combo kernel: ",
    "x ",
};

static void emit_tok(outbuf *o, const tok *t, uint64_t *rs) {
    unsigned reps = t->kind == TK_FRAG ? 1 : 1 + rnd(rs, 2);
    for (unsigned r = 0; r < reps; r++)
        ob_put(o, t->s, t->n);
}

typedef struct gen {
    tree t;
    frags f;
} gen;

static void gen_init(gen *g, const uint8_t *p, size_t n, uint32_t opts, uint64_t *rs) {
    tree_build(&g->t, p, n, opts);
    memset(&g->f, 0, sizeof(g->f));
    tree_frags(&g->t, g->t.root, &g->f, rs, 0);
    fr_flush(&g->f);
}

/* Builds one subject into o. */
static void gen_subject(const gen *g, const lineset *logs, uint64_t *rs, outbuf *o) {
    static const unsigned keep[] = {25, 50, 75, 90, 100};
    const frags *f = &g->f;
    o->n = 0;
    unsigned mode = rnd(rs, 100);
    if (mode < 40) {
        /* a walk of the pattern, maybe with text around it */
        if (chance(rs, 20))
            ob_str(o, prefixes[rnd(rs, sizeof(prefixes) / sizeof(prefixes[0]))]);
        tree_gen(&g->t, g->t.root, rs, o, 0);
        if (chance(rs, 20))
            ob_str(o, seps[rnd(rs, sizeof(seps) / sizeof(seps[0]))]);
    } else if (mode < 52 && logs->n) {
        /* a real line with a walk or some fragments spliced in */
        const line *l = &logs->v[rnd(rs, (unsigned)logs->n)];
        size_t at = l->n ? rnd(rs, (unsigned)l->n) : 0;
        ob_put(o, l->s, at);
        if (chance(rs, 50))
            tree_gen(&g->t, g->t.root, rs, o, 0);
        else
            for (size_t k = rnd(rs, (unsigned)f->n); k < f->n && chance(rs, 80); k++)
                emit_tok(o, &f->v[k], rs);
        ob_put(o, l->s + at, l->n - at);
    } else if (mode < 66 && f->n) {
        /* a few fragments in any order */
        unsigned k = 1 + rnd(rs, 6);
        for (unsigned j = 0; j < k; j++) {
            emit_tok(o, &f->v[rnd(rs, (unsigned)f->n)], rs);
            ob_str(o, seps[rnd(rs, sizeof(seps) / sizeof(seps[0]))]);
        }
    } else {
        /* the fragments in order, each kept with a chance chosen per subject */
        unsigned pk = keep[rnd(rs, sizeof(keep) / sizeof(keep[0]))];
        if (chance(rs, 30))
            ob_str(o, prefixes[rnd(rs, sizeof(prefixes) / sizeof(prefixes[0]))]);
        for (size_t k = 0; k < f->n; k++) {
            if (chance(rs, f->v[k].kind == TK_FRAG ? pk : 85))
                emit_tok(o, &f->v[k], rs);
            if (chance(rs, 8))
                ob_str(o, seps[rnd(rs, sizeof(seps) / sizeof(seps[0]))]);
        }
        if (chance(rs, 30))
            ob_str(o, " port 22 ssh2");
    }
    /* mutations: a byte dropped or doubled */
    if (o->n && chance(rs, 12)) {
        size_t at = rnd(rs, (unsigned)o->n);
        memmove(o->s + at, o->s + at + 1, o->n - at - 1);
        o->n--;
    }
    if (o->n && o->n < sizeof(o->s) && chance(rs, 6)) {
        size_t at = rnd(rs, (unsigned)o->n);
        memmove(o->s + at + 1, o->s + at, o->n - at);
        o->n++;
    }
    /* case changes: often for caseless patterns, sometimes for the others */
    if (chance(rs, g->t.ci ? 60 : 10)) {
        unsigned p = 10 + rnd(rs, 60);
        for (size_t k = 0; k < o->n; k++)
            if (is_letter(o->s[k]) && chance(rs, p))
                o->s[k] ^= 0x20;
    }
    /* under UTF, K and S have non-ASCII case partners: U+212A and U+017F */
    if (g->t.utf && g->t.ci && chance(rs, 30)) {
        outbuf t;
        t.n = 0;
        for (size_t k = 0; k < o->n; k++) {
            int c = lower(o->s[k]);
            if (c == 'k' && chance(rs, 50))
                ob_str(&t, "\xe2\x84\xaa");
            else if (c == 's' && chance(rs, 50))
                ob_str(&t, "\xc5\xbf");
            else
                ob_put(&t, &o->s[k], 1);
        }
        *o = t;
    }
}

/* Patterns the generator rarely or never satisfies, with a subject that matches (len 0:
 * up to its NUL). */
typedef struct hand_subject {
    const char *pat, *subj;
    size_t len;
} hand_subject;

static const hand_subject hand[] = {
    {"^\\s*session opened for user (\\w+) by", "session opened for user root by x", 0},
    {"(?:\\d{1,3}\\.){3}\\d{1,3}", "10.0.0.1", 0},
    {"(?:[0-9a-f]{2}:){5}[0-9a-f]{2}", "00:1a:2b:3c:4d:5e", 0},
    {"\\d{4}-\\d{2}-\\d{2}", "2024-10-01", 0},
    {"\\Bmid\\B", "amidb", 0},
    {"(?<=(?<=ab)c)d", "abcd", 0},
    {"(?<=\\[)\\d+(?=\\])", "[12]", 0},
    {"(*UTF)(?i)skip kelvin",
     "SKIP \xe2\x84\xaa"
     "ELVIN",
     0},
    {"(*UTF)(?i)skip kelvin", "\xc5\xbfkip kelvin", 0},
    {"(*UTF)(?i)caf\\x{e9}", "CAF\xc3\x89", 0},
    {"(?i)(?=.*NEEDLE)(?-i)Hay", "Hay needle", 0},
    {"\\x00nul\\x{ff}", "\x01\x00nul\xff", 6},
    {"\\0\\01\\012octal", "\x00\x01\noctal", 8},
    {"\\cAcontrol",
     "\x01"
     "control",
     0},
    {"\\e\\f\\a\\r\\n escapes", "\x1b\f\a\r\n escapes", 0},
    {"\\h+horiz\\v*vert\\R?", " horizvert", 0},
    {"\\S+\\W+\\D+text", "a  text", 0},
    {"(?:(?:a|b)(?:c|d)(?:e|f)(?:g|h)(?:i|j)(?:k|l)(?:m|n)(?:o|p))zz", "bcfgjkmpzz", 0},
    {"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve){2}", "sixten", 0},
    {"(?:\\.\\./){2,}etc/passwd", "GET /../../../etc/passwd", 0},
    {"\\b(?:wget|curl)\\s+http", "curl  http://x", 0},
    {"kernel: \\[\\s*\\d+\\.\\d+\\] (?:IN=\\S+ )?OUT=", "kernel: [ 12.5] IN=eth0 OUT=", 0},
    {"(a)?(?(1)b|c)cond2", "abcond2", 0},
    {"(a)?(?(1)b|c)cond2", "ccond2", 0},
    {"(?(?=x)xy|z)cond3", "xycond3", 0},
    {"(?(?=x)xy|z)cond3", "zcond3", 0},
    {"(*UTF)[\xc3\xa9]xy", "\xc3\xa9xy", 0},
    {"\\101{2}xy", "AAxy", 0},
    {"(?<n>ab)(?P>n)cd", "ababcd", 0},
};

/* Patterns of general.txt that match no subject at all, and why. */
static const char *const never_matches[] = {
    /* backtracking past (*SKIP) fails the start position before "real" is tried */
    "(*SKIP)skip(*FAIL)|real",
    /* recursion at the same position without progress: PCRE2 gives up with an error */
    "(?R)?recurse",
    "(a|(?1))subr",
    /* 'c' where 'a' must be */
    "(?=a)(?=b)?c",
};

static int never_expected(const char *p) {
    for (size_t i = 0; i < sizeof(never_matches) / sizeof(never_matches[0]); i++)
        if (strcmp(never_matches[i], p) == 0)
            return 1;
    return 0;
}

typedef struct stats {
    size_t patterns, bad, any, subjects, matches, case_only, matched, errors, failures;
    size_t random_matches, log_matches, abandoned, bad_utf, printed;
    size_t unexpected_never; /* patterns that matched nothing and are not in never_matches */
    char never[2048];        /* patterns that matched nothing */
} stats;

#define MAX_ERRORS 20 /* match errors after which a pattern's other subjects are skipped */

typedef struct runner {
    size_t perr, pfail; /* match errors and failures of the current pattern */
    int scan_logs;      /* match every log line too (not only splice them) */
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    const lineset *logs;
    stats *st;
} runner;

/* Matches one subject; when PCRE2 matches, checks the claims. Returns 1 on a match. */
static int check_one(runner *ru, pcre2_code *re, const pat *p, const ward_relit *r,
                     const uint8_t *s, size_t n, size_t *hits) {
    if (ru->perr >= MAX_ERRORS)
        return 0;
    ru->st->subjects++;
    int rc = pcre2_match(re, s, n, 0, 0, ru->md, ru->mctx);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21) {
        ru->st->bad_utf++; /* a log line that is no UTF-8, for a (*UTF) pattern */
        return 0;
    }
    if (rc < 0) {
        ru->st->errors++; /* a limit */
        if (++ru->perr == MAX_ERRORS)
            ru->st->abandoned++;
        return 0;
    }
    ru->st->matches++;
    (*hits)++;
    const char *why = "";
    if (claims_hold(r, s, n, &ru->st->case_only, &why) == 0)
        return 1;
    ru->st->failures++;
    if (ru->pfail++ < 3 && ru->st->printed++ < 60) {
        char a[700], b[2200];
        fprintf(stderr, "UNSOUND: pattern '%s' (options %#x) matches '%s' but %s\n",
                esc((const uint8_t *)p->s, p->n, a, sizeof(a)), p->opts, esc(s, n, b, sizeof(b)),
                why);
        print_relit(r);
    }
    return 1;
}

static void diff_pattern(runner *ru, const pat *p, unsigned nrandom, uint64_t seed,
                         const lineset *extra) {
    stats *st = ru->st;
    st->patterns++;
    ward_relit r;
    char err[256] = "";
    int rc = ward_relit_extract(p->s, p->n, p->opts, &r, err, sizeof(err));
    pcre2_code *re = compile(p->s, p->n, p->opts);
    /* the extractor fails exactly when PCRE2 does, and then says why */
    if ((rc == 0) != (re != NULL)) {
        fprintf(stderr, "'%s': extract %d but pcre2_compile %s (%s)\n", p->s, rc,
                re ? "succeeds" : "fails", err);
        fail();
    }
    if (!re) {
        assert_true(strncmp(err, "bad regex: ", 11) == 0);
        st->bad++;
        return;
    }
    check_shape(p->s, &r);
    st->any += r.any != 0;
    ru->perr = ru->pfail = 0;
    size_t hits = 0, before = st->matches;
    for (size_t i = 0; ru->scan_logs && i < ru->logs->n; i++)
        check_one(ru, re, p, &r, ru->logs->v[i].s, ru->logs->v[i].n, &hits);
    for (size_t i = 0; extra && i < extra->n; i++)
        check_one(ru, re, p, &r, extra->v[i].s, extra->v[i].n, &hits);
    st->log_matches += st->matches - before;
    for (size_t i = 0; i < sizeof(hand) / sizeof(hand[0]); i++)
        if (strcmp(hand[i].pat, p->s) == 0 &&
            !check_one(ru, re, p, &r, (const uint8_t *)hand[i].subj,
                       hand[i].len ? hand[i].len : strlen(hand[i].subj), &hits)) {
            fprintf(stderr, "'%s' does not match its hand-written subject\n", p->s);
            fail();
        }
    gen *g = malloc(sizeof(*g));
    assert_non_null(g);
    uint64_t rs = seed ^ (0x9E3779B97F4A7C15ULL * (st->patterns + 1));
    gen_init(g, (const uint8_t *)p->s, p->n, p->opts, &rs);
    outbuf o;
    before = st->matches;
    for (unsigned k = 0; k < nrandom; k++) {
        gen_subject(g, ru->logs, &rs, &o);
        check_one(ru, re, p, &r, o.s, o.n, &hits);
    }
    st->random_matches += st->matches - before;
    free(g);
    if (hits) {
        st->matched++;
    } else {
        size_t used = strlen(st->never);
        snprintf(st->never + used, sizeof(st->never) - used, "  %s\n", p->s);
        st->unexpected_never += !never_expected(p->s);
    }
    pcre2_code_free(re);
    ward_relit_fini(&r);
}

static void runner_init(runner *ru, const lineset *logs, stats *st) {
    memset(st, 0, sizeof(*st));
    ru->logs = logs;
    ru->st = st;
    ru->scan_logs = 1;
    ru->md = pcre2_match_data_create(32, NULL);
    ru->mctx = pcre2_match_context_create(NULL);
    /* The default 32 KiB JIT stack loses matches on long lines; a bigger one makes each
     * overflow slower ("(a|(?1))subr" overflows on most subjects). */
    ru->jit = pcre2_jit_stack_create(32 * 1024, 256 * 1024, NULL);
    assert_non_null(ru->md);
    assert_non_null(ru->mctx);
    assert_non_null(ru->jit);
    pcre2_jit_stack_assign(ru->mctx, NULL, ru->jit);
    /* Low limits, as the subjects are short: a pattern that runs away fails fast. What
     * hits them is counted, not checked. */
    pcre2_set_match_limit(ru->mctx, 100000);
    pcre2_set_depth_limit(ru->mctx, 10000);
}

static void runner_fini(runner *ru) {
    pcre2_match_data_free(ru->md);
    pcre2_match_context_free(ru->mctx);
    pcre2_jit_stack_free(ru->jit);
}

static void report(const char *what, const stats *st) {
    printf("relit differential, %s: %zu patterns (%zu bad, %zu any), %zu subjects, %zu matches "
           "checked (%zu on log lines, %zu on generated), %zu patterns matched, %zu match "
           "errors (%zu patterns given up after %d), %zu subjects not UTF-8 for (*UTF), %zu "
           "case-only literal hits, %zu unsound\n",
           what, st->patterns, st->bad, st->any, st->subjects, st->matches, st->log_matches,
           st->random_matches, st->matched, st->errors, st->abandoned, MAX_ERRORS, st->bad_utf,
           st->case_only, st->failures);
    if (st->never[0])
        printf("never matched:\n%s", st->never);
}

static void load_logs(lineset *logs) {
    memset(logs, 0, sizeof(*logs));
    lines_glob(logs, "tests/data/corpus/*.log");
    lines_glob(logs, "tests/data/demo/*.log");
    assert_true(logs->n > 1000);
}

static void test_relit_sound_general(void **state) {
    (void)state;
    lineset logs;
    load_logs(&logs);
    patset ps;
    memset(&ps, 0, sizeof(ps));
    assert_int_equal(pats_load(&ps, "tests/data/patterns/general.txt"), 0);
    assert_true(ps.n >= 150);
    /* the table patterns too, and each general pattern again caseless */
    size_t ngeneral = ps.n;
    for (size_t i = 0; i < ngeneral; i++)
        pats_add(&ps, (const uint8_t *)ps.v[i].s, ps.v[i].n, PCRE2_CASELESS);
    stats st;
    runner ru;
    runner_init(&ru, &logs, &st);
    for (size_t i = 0; i < ps.n; i++)
        diff_pattern(&ru, &ps.v[i], 3000, 0x5EED0001, NULL);
    report("general.txt (as written, then caseless)", &st);
    /* not vacuous: plenty of matches, and every pattern that can match matched */
    assert_true(st.matches >= 500000);
    assert_true(st.random_matches >= 300000);
    assert_int_equal(st.unexpected_never, 0);
    /* here (?(1)yes|no)cond and (?(R1)ab|cd)ef (no group 1), twice; other PCRE2
     * versions may refuse a few more */
    assert_true(st.bad <= 8);
    assert_int_equal(st.case_only, 0);
    assert_int_equal(st.failures, 0);
    runner_fini(&ru);
    pats_free(&ps);
    lines_free(&logs);
}

static void test_relit_sound_rules(void **state) {
    (void)state;
    lineset logs;
    load_logs(&logs);
    patset ps;
    memset(&ps, 0, sizeof(ps));
    size_t skipped = 0;
    rules_load(&ps, &skipped);
    assert_true(ps.n >= 5);
    stats st;
    runner ru;
    runner_init(&ru, &logs, &st);
    for (size_t i = 0; i < ps.n; i++)
        diff_pattern(&ru, &ps.v[i], 3000, 0x5EED0002, NULL);
    report("rules/", &st);
    printf("rules/: %zu regex values not single-quoted, not checked\n", skipped);
    assert_int_equal(st.bad, 0);
    assert_true(st.matched == st.patterns);
    assert_true(st.matches >= 10000);
    assert_int_equal(st.case_only, 0);
    assert_int_equal(st.failures, 0);
    runner_fini(&ru);
    pats_free(&ps);
    lines_free(&logs);
}

/* Random patterns from a grammar of the constructs above, to reach combinations no one
 * wrote down. Some do not compile; those only check that the extractor fails too. */
static const char *const rp_lits[] = {
    "ab",        "foo",      "Bar",
    "x",         "abc",      "de",
    "failed",    "user ",    "k",
    "s",         "SK",       "ok",
    "a b",       "#",        "\\.",
    "\\[",       "\\(",      "\\\\",
    "\\x41",     "\\t",      "\\x{62}",
    "\\101",     "\\-",      "\\ ",
    "\\Qa.b\\E", "\\Q\\E",   "\\E",
    "-",         "]",        "{",
    "}",         ",",        "{,1}",
    "{ 2 }",     "=",        "rhost=",
    "rhost=1",   "rhost=[",  "USER ",
    "ABC",       "abcabc",   "\xc3\xa9",
    "\\x{e9}",   "\xc3\x9f", "K",
    "\\x{212a}", "\\x{17f}", "\\0",
    "\\cA",      "\\Q]\\E",  "Failed password for ",
};
static const char *const rp_atoms[] = {
    "[abc]",   "[a-c]",     "[^ab]",   "[Kk]",        "[\\d]", "[\\w.-]", "[[:alpha:]]",
    "[]a]",    "[\\Q]\\E]", "[\\E]a]", "[\\Qa\\E-c]", "[ a]",  "[a-]",    "[-a]",
    "[sS]",    "[.]",       "\\d",     "\\w",         "\\s",   "\\S",     ".",
    "\\b",     "^",         "$",       "\\B",         "\\K",   "\\1",     "(?1)",
    "(*SKIP)", "(*ACCEPT)", "(*F)",    "(*MARK:m)",   "(?#c)", "\\z",     "\\R",
    "\\h",     "[[:<:]]",
};
static const char *const rp_open[] = {
    "(",       "(?:",   "(?i:",   "(?-i:",   "(?>",    "(?=",       "(?!",
    "(?|",     "(?<n>", "(?x:",   "(?xx:",   "(*pla:", "(*atomic:", "(?(1)",
    "(?(?=a)", "(?<=",  "(*plb:", "(?i)(?:", "(?s:",
};
static const char *const rp_flags[] = {"(?i)", "(?-i)", "(?x)", "(?-x)", "(?xx)", "(?^)"};
static const char *const rp_quant[] = {"?",     "*",    "+",      "{2}",  "{1,3}", "{0}",
                                       "{2,}",  "{,2}", "{ 1 }",  "??",   "+?",    "*+",
                                       "{0,1}", "{3}+", "{1,2}?", "{16}", "{17}",  "{3,5}"};

static void rp_alt(uint64_t *rs, outbuf *o, int depth);

static void rp_seq(uint64_t *rs, outbuf *o, int depth) {
    unsigned n = 1 + rnd(rs, 4);
    for (unsigned k = 0; k < n; k++) {
        unsigned w = rnd(rs, 100);
        if (w < 45) {
            ob_str(o, rp_lits[rnd(rs, sizeof(rp_lits) / sizeof(rp_lits[0]))]);
        } else if (w < 70) {
            ob_str(o, rp_atoms[rnd(rs, sizeof(rp_atoms) / sizeof(rp_atoms[0]))]);
        } else if (w < 90 && depth < 4) {
            ob_str(o, rp_open[rnd(rs, sizeof(rp_open) / sizeof(rp_open[0]))]);
            rp_alt(rs, o, depth + 1);
            ob_str(o, ")");
        } else if (w < 93) {
            ob_str(o, rp_flags[rnd(rs, sizeof(rp_flags) / sizeof(rp_flags[0]))]);
        } else if (w < 95) {
            /* big: an alternation of words with a common part, or a long literal, to
             * reach the size limits of the sets (MAXEXACT, MAXAFFIX, MAXLEN) */
            unsigned m = 2 + rnd(rs, 140);
            char buf[16];
            if (chance(rs, 50)) {
                ob_str(o, "(?:");
                for (unsigned j = 0; j < m; j++) {
                    snprintf(buf, sizeof(buf), "%spre%u%s", j ? "|" : "", j * 7, j % 3 ? "x" : "");
                    ob_str(o, buf);
                }
                ob_str(o, ")");
            } else {
                for (unsigned j = 0; j < m * 2; j++)
                    ob_put(o, (const uint8_t *)&"abcdefghijKLMNOP"[(j * 5 + m) % 16], 1);
            }
        } else {
            ob_str(o, "(?<=");
            ob_str(o, rp_lits[rnd(rs, 8)]);
            ob_str(o, ")");
        }
        if (chance(rs, 25))
            ob_str(o, rp_quant[rnd(rs, sizeof(rp_quant) / sizeof(rp_quant[0]))]);
    }
}

static void rp_alt(uint64_t *rs, outbuf *o, int depth) {
    unsigned n = chance(rs, 70) ? 1 : 2 + rnd(rs, 3);
    for (unsigned k = 0; k < n; k++) {
        if (k)
            ob_str(o, "|");
        rp_seq(rs, o, depth);
    }
}

static void test_relit_sound_random_patterns(void **state) {
    (void)state;
    static const uint32_t opts[] = {
        0, 0, 0, PCRE2_CASELESS, PCRE2_EXTENDED, PCRE2_CASELESS | PCRE2_EXTENDED};
    lineset logs;
    load_logs(&logs);
    stats st;
    runner ru;
    runner_init(&ru, &logs, &st);
    ru.scan_logs = 0; /* the log lines are spliced into subjects, not all matched */
    uint64_t rs = 0x5EED0004;
    for (int k = 0; k < 10000; k++) {
        outbuf o;
        o.n = 0;
        if (chance(&rs, 10))
            ob_str(&o, "(*UTF)");
        rp_alt(&rs, &o, 0);
        if (o.n == sizeof(o.s))
            o.n--;
        o.s[o.n] = '\0';
        pat p = {(char *)o.s, o.n, opts[rnd(&rs, sizeof(opts) / sizeof(opts[0]))]};
        diff_pattern(&ru, &p, 400, rnd_next(&rs), NULL);
    }
    st.never[0] = '\0'; /* many random patterns cannot match: not listed */
    report("random patterns", &st);
    assert_true(st.patterns - st.bad >= 5000);
    assert_true(st.matched >= 4000);
    assert_true(st.matches >= 1000000);
    assert_int_equal(st.case_only, 0);
    assert_int_equal(st.failures, 0);
    runner_fini(&ru);
    lines_free(&logs);
}

static void test_relit_sound_fail2ban(void **state) {
    (void)state;
    patset ps;
    memset(&ps, 0, sizeof(ps));
    if (pats_load(&ps, "../shared/bench/rules-fail2ban.txt") < 0) {
        printf("relit differential, fail2ban: ../shared/bench/rules-fail2ban.txt absent, "
               "skipped\n");
        return;
    }
    lineset logs, extra;
    load_logs(&logs);
    memset(&extra, 0, sizeof(extra));
    /* its own corpus, when there, is where these patterns really match */
    if (lines_load(&extra, "../shared/bench/corpus-small.log") < 0)
        printf("relit differential, fail2ban: no ../shared/bench/corpus-small.log\n");
    stats st;
    runner ru;
    runner_init(&ru, &logs, &st);
    for (size_t i = 0; i < ps.n; i++)
        diff_pattern(&ru, &ps.v[i], 2000, 0x5EED0003, &extra);
    report("fail2ban", &st);
    assert_int_equal(st.bad, 0);
    assert_true(st.matches >= 50000);
    assert_true(st.matched * 100 >= st.patterns * 95);
    assert_int_equal(st.case_only, 0);
    assert_int_equal(st.failures, 0);
    runner_fini(&ru);
    pats_free(&ps);
    lines_free(&extra);
    lines_free(&logs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relit_plain_literals),
        cmocka_unit_test(test_relit_concatenation),
        cmocka_unit_test(test_relit_alternation),
        cmocka_unit_test(test_relit_big_alternation),
        cmocka_unit_test(test_relit_classes),
        cmocka_unit_test(test_relit_clauses),
        cmocka_unit_test(test_relit_quantifiers),
        cmocka_unit_test(test_relit_groups),
        cmocka_unit_test(test_relit_inline_flags),
        cmocka_unit_test(test_relit_quoting),
        cmocka_unit_test(test_relit_escapes),
        cmocka_unit_test(test_relit_anchors),
        cmocka_unit_test(test_relit_lookaround),
        cmocka_unit_test(test_relit_backrefs),
        cmocka_unit_test(test_relit_conditionals),
        cmocka_unit_test(test_relit_verbs),
        cmocka_unit_test(test_relit_options),
        cmocka_unit_test(test_relit_bad_pattern),
        cmocka_unit_test(test_relit_requires),
        cmocka_unit_test(test_relit_lit_push),
        cmocka_unit_test(test_relit_clause_push),
        cmocka_unit_test(test_relit_fini_zeroed),
        cmocka_unit_test(test_relit_braces_not_quantifier),
        cmocka_unit_test(test_relit_class_ignored_items),
        cmocka_unit_test(test_relit_sound_general),
        cmocka_unit_test(test_relit_sound_rules),
        cmocka_unit_test(test_relit_sound_random_patterns),
        cmocka_unit_test(test_relit_sound_fail2ban),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
