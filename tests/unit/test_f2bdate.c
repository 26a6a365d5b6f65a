#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "ward/decode.h"
#include "ward/engine.h"
#include "ward/f2bdate.h"
#include "ward/rule.h"

/* While set, every PCRE2 match in this program fails as if it had hit its match limit:
 * fail2ban's default templates cannot be made to hit theirs by any line (they scan in
 * linear time, and a 32 MiB line stays far under the limit), so the decoder's handling
 * of a search that gives up is tested this way. The definition below stands in for the
 * library's in this program and passes every other call on to it. */
static int fake_match_limit;

int pcre2_match_8(const pcre2_code_8 *code, PCRE2_SPTR8 subject, PCRE2_SIZE length,
                  PCRE2_SIZE start, uint32_t options, pcre2_match_data_8 *md,
                  pcre2_match_context_8 *mctx) {
    typedef int (*match_fn)(const pcre2_code_8 *, PCRE2_SPTR8, PCRE2_SIZE, PCRE2_SIZE, uint32_t,
                            pcre2_match_data_8 *, pcre2_match_context_8 *);
    static match_fn real;
    if (fake_match_limit)
        return PCRE2_ERROR_MATCHLIMIT;
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "pcre2_match_8");
    assert_non_null(real);
    return real(code, subject, length, start, options, md, mctx);
}

/* ---------------------------------------------------------------------------------- */
/* Helpers */

/* The date d finds in line, as "TEXT" or "-" for none. */
static const char *date_of(const ward_f2bdate *d, const char *line) {
    static char buf[256];
    size_t s, e;
    int r = ward_f2bdate_find(d, (const uint8_t *)line, strlen(line), &s, &e, NULL);
    if (r != 1)
        return "-";
    snprintf(buf, sizeof(buf), "%.*s", (int)(e - s), line + s);
    return buf;
}

static void expect_date(const ward_f2bdate *d, const char *line, const char *want) {
    const char *got = date_of(d, line);
    if (strcmp(got, want) != 0)
        fail_msg("line [%s]: date [%s], want [%s]", line, got, want);
}

static ward_f2bdate *det(const char *pattern) {
    char err[256];
    ward_f2bdate *d = ward_f2bdate_new(pattern, strlen(pattern), err, sizeof(err));
    if (!d)
        fail_msg("datepattern [%s]: %s", pattern, err);
    return d;
}

static void expect_conv(const char *py, uint32_t off, const char *want) {
    ward_f2bdate_conv c = {0};
    c.group_offset = off;
    char err[256];
    if (ward_f2bdate_convert(py, strlen(py), &c, err, sizeof(err)) != 0)
        fail_msg("[%s]: %s", py, err);
    if (strcmp(c.pcre2, want) != 0)
        fail_msg("[%s] -> [%s], want [%s]", py, c.pcre2, want);
    ward_f2bdate_conv_fini(&c);
}

static void expect_conv_error(const char *py, const char *want) {
    ward_f2bdate_conv c = {0};
    char err[256];
    assert_int_equal(ward_f2bdate_convert(py, strlen(py), &c, err, sizeof(err)), -1);
    assert_null(c.pcre2);
    if (!strstr(err, want))
        fail_msg("[%s]: error [%s], want [%s]", py, err, want);
    ward_f2bdate_conv_fini(&c);
}

/* ---------------------------------------------------------------------------------- */
/* Python re to PCRE2 */

static void test_f2bdate_convert_python_forms(void **state) {
    (void)state;
    expect_conv("a{,3}b{2,}c{4}d{}", 0, "a{0,3}b{2,}c{4}d\\{}");
    expect_conv("x\\Z", 0, "x\\z");
    expect_conv("\\v\\x41\\101\\0", 0, "\\x{b}\\x{41}\\x{41}\\x{0}");
    expect_conv("[[:alpha:]]", 0, "[\\[:alpha:]]");
    expect_conv("[]a][^]b]", 0, "[\\]a][^\\]b]");
    expect_conv("\\u00e9+", 0, "(?:\\x{c3}\\x{a9})+");
    expect_conv("caf\xc3\xa9+", 0, "caf(?:\xc3\xa9)+");
    expect_conv("(?iu)x(?a:y)", 0, "(?i)x(?:y)");
    /* fail2ban turns a group opened by a global flag into a scoped flag group */
    expect_conv("((?i)ab)(c)\\1", 0, "(?i:ab)(c)\\g{1}");
    expect_conv("(?:(?i)ab)", 0, "(?i:ab)");
    expect_conv("(?#note)a", 0, "a");
    expect_conv("[\\b]\\b", 0, "[\\x{8}]\\b");
}

static void test_f2bdate_convert_renumbers_groups(void **state) {
    (void)state;
    expect_conv("(?P<a>x)(y)(?P=a)\\2(?(a)p|q)(?(2)r)", 5, "(x)(y)\\g{6}\\g{7}(?(6)p|q)(?(7)r)");
    /* three octal digits are a character even when groups exist */
    expect_conv("(a)\\101", 0, "(a)\\x{41}");
}

static const char *rename_ab(const char *name, void *ctx) {
    (void)ctx;
    return strcmp(name, "a") == 0 ? "alpha" : NULL;
}

static void test_f2bdate_convert_names_and_anchors(void **state) {
    (void)state;
    ward_f2bdate_conv c = {0};
    c.group_offset = 2;
    c.rename = rename_ab;
    c.caret = "(?(1)|(?!))";
    c.dollar = "(?=END)";
    char err[256];
    const char *py = "^(?P<a>\\w+) (?P<b>\\d)$\\A";
    assert_int_equal(ward_f2bdate_convert(py, strlen(py), &c, err, sizeof(err)), 0);
    assert_string_equal(c.pcre2, "(?(1)|(?!))(?<alpha>\\w+) (\\d)(?=END)(?(1)|(?!))");
    assert_int_equal(c.ngroups, 2);
    assert_int_equal(c.nnamed, 2);
    assert_string_equal(c.groups[0].name, "a");
    assert_int_equal(c.groups[0].number, 3);
    assert_string_equal(c.groups[1].name, "b");
    assert_int_equal(c.groups[1].number, 4);
    ward_f2bdate_conv_fini(&c);
    ward_f2bdate_conv_fini(&c); /* twice is fine */
}

static void test_f2bdate_convert_errors(void **state) {
    (void)state;
    expect_conv_error("(a", "missing )");
    expect_conv_error("a)", "unbalanced parenthesis");
    expect_conv_error("\\q", "bad escape \\q");
    expect_conv_error("\\1(a)", "invalid group reference 1");
    expect_conv_error("(?P=nope)", "unknown group name");
    expect_conv_error("(?(nope)a)", "unknown group name");
    expect_conv_error("(?P<a>x)(?P<a>y)", "redefinition of group name");
    expect_conv_error("(?x)a b", "verbose");
    expect_conv_error("[abc", "unterminated character set");
    expect_conv_error("\\x4", "incomplete escape");
    expect_conv_error("[\xc3\xa9]", "non-ASCII character in a class");
    expect_conv_error("(?<name>x)", "unknown extension");
    expect_conv_error("\\N{DIGIT ONE}", "not supported");
    expect_conv_error("(?P<1a>x)", "bad character in group name");
}

/* ---------------------------------------------------------------------------------- */
/* fail2ban's default date detection */

static void test_f2bdate_default_templates(void **state) {
    (void)state;
    const ward_f2bdate *d = ward_f2bdate_default();
    assert_non_null(d);
    assert_ptr_equal(ward_f2bdate_default(), d);
    /* syslog, with a single-digit day, a year, a weekday */
    expect_date(d, "Jan 23 21:59:59 host sshd[1]: x", "Jan 23 21:59:59");
    expect_date(d, "Jan  3 01:59:59 host sshd[1]: x", "Jan  3 01:59:59");
    expect_date(d, "Jan 23 21:59:59 2005 host x", "Jan 23 21:59:59 2005");
    expect_date(d, "Sun Jan 23 21:59:59.011 2005 x", "Sun Jan 23 21:59:59.011 2005");
    expect_date(d, "Sun Jan 23 2005 21:59:59.011 x", "Sun Jan 23 2005 21:59:59.011");
    /* ISO 8601 and its variants */
    expect_date(d, "2005-01-23T21:59:59.981746+01:00 host x", "2005-01-23T21:59:59.981746+01:00");
    expect_date(d, "2005-01-23 21:59:59 x", "2005-01-23 21:59:59");
    expect_date(d, "2005/01/23 21:59:59 x", "2005/01/23 21:59:59");
    expect_date(d, "2006.12.21 06:43:20 x", "2006.12.21 06:43:20");
    expect_date(d, "20050123T215959 x", "20050123T215959");
    /* day first, Apache, CPanel, Tomcat, ASSP, MySQL */
    expect_date(d, "23/01/2005 21:59:59 x", "23/01/2005 21:59:59");
    expect_date(d, "1.2.3.4 - - [31/Oct/2006:09:22:55 -0000] \"GET / HTTP/1.1\"",
                "31/Oct/2006:09:22:55 -0000");
    expect_date(d, "26-Jul-2007 15:20:52.252 named x", "26-Jul-2007 15:20:52.252");
    expect_date(d, "05/20/2008:01:57:39 x", "05/20/2008:01:57:39");
    expect_date(d, "Jul 4, 2014 6:51:18 PM org.apache x", "Jul 4, 2014 6:51:18 PM");
    expect_date(d, "Apr-27-13 02:33:06 [x]", "Apr-27-13 02:33:06");
    expect_date(d, "130322 11:46:11 [Warning] x", "130322 11:46:11");
    expect_date(d, "<09/16/08@05:03:30> x", "<09/16/08@05:03:30>");
    /* epoch seconds (with a fraction, in brackets, in an audit record) and TAI64N */
    expect_date(d, "1138716442.313 host x", "1138716442.313");
    expect_date(d, "[1138716442] x", "1138716442");
    expect_date(d, "type=USER_ERR msg=audit(1398412429.186:15): x", "1398412429.186");
    expect_date(d, "@4000000054ed8b6d2aa7e1fc dovecot: x", "@4000000054ed8b6d2aa7e1fc");
    /* only a time at the line start */
    expect_date(d, "21:59:59 x", "21:59:59");
}

static void test_f2bdate_default_picks_like_fail2ban(void **state) {
    (void)state;
    const ward_f2bdate *d = ward_f2bdate_default();
    /* a date at the line start wins over one further in */
    expect_date(d, "Jan 23 21:59:59 seen 2005-01-24 10:00:00", "Jan 23 21:59:59");
    /* up to two non-word characters may come before it */
    expect_date(d, "[Jan 23 21:59:59] x", "Jan 23 21:59:59");
    /* none at the start: the one nearest the start */
    expect_date(d, "client 1.2.3.4 at 2005-01-23 21:59:59 and 26-Jul-2007 15:20:52",
                "2005-01-23 21:59:59");
    expect_date(d, "no date in here", "-");
    expect_date(d, "", "-");
    /* years fail2ban does not take for dates */
    expect_date(d, "1999-01-23 21:59:59 x", "-");
    size_t s = 9, e = 9, t = 99;
    assert_int_equal(ward_f2bdate_find(d, (const uint8_t *)"Jan 23 21:59:59 x", 17, &s, &e, &t), 1);
    assert_int_equal(s, 0);
    assert_int_equal(e, 15);
    assert_true(t < ward_f2bdate_count(d));
}

/* ---------------------------------------------------------------------------------- */
/* datepattern */

static void test_f2bdate_datepattern_strftime(void **state) {
    (void)state;
    ward_f2bdate *d = det("^%Y-%m-%d %H:%M:%S");
    assert_int_equal(ward_f2bdate_count(d), 1);
    expect_date(d, "2015-01-02 03:04:05,123 rest", "2015-01-02 03:04:05");
    expect_date(d, "x 2015-01-02 03:04:05", "-");
    ward_f2bdate_template t;
    assert_int_equal(ward_f2bdate_template_get(d, 0, &t), 0);
    assert_int_equal(t.shape, WARD_F2BDATE_SHAPE_AT_START);
    assert_true(t.flags & WARD_F2BDATE_LINE_BEGIN);
    assert_int_equal(ward_f2bdate_template_get(d, 1, &t), -1);
    ward_f2bdate_free(d);
    d = det("^L %d/%m/%Y - %H:%M:%S");
    expect_date(d, "L 01/02/2014 - 03:04:05: x", "L 01/02/2014 - 03:04:05");
    ward_f2bdate_free(d);
    /* month names are case-insensitive, [^/]* takes "sept." */
    d = det("%d/%b[^/]*/%Y:%H:%M:%S %z");
    expect_date(d, "1.2.3.4 - - [02/SEPT./2015:00:11:31 +0200] x", "02/SEPT./2015:00:11:31 +0200");
    ward_f2bdate_template_get(d, 0, &t);
    assert_int_equal(t.shape, WARD_F2BDATE_SHAPE_OTHER);
    ward_f2bdate_free(d);
}

static void test_f2bdate_datepattern_keywords(void **state) {
    (void)state;
    /* {^LN-BEG}: only the defaults anchored at the line start */
    ward_f2bdate *d = det("{^LN-BEG}");
    expect_date(d, "Jan 23 21:59:59 x", "Jan 23 21:59:59");
    expect_date(d, "client at 2005-01-23 21:59:59", "-");
    ward_f2bdate_template t;
    ward_f2bdate_template_get(d, 0, &t);
    assert_int_equal(t.shape, WARD_F2BDATE_SHAPE_LINE_START);
    ward_f2bdate_free(d);
    /* a template first, then the defaults without repeating it */
    d = det("{^LN-BEG}TAI64N\n{^LN-BEG}");
    ward_f2bdate_template_get(d, 0, &t);
    assert_string_equal(t.name, "{^LN-BEG}TAI64N");
    for (size_t i = 1; i < ward_f2bdate_count(d); i++) {
        ward_f2bdate_template_get(d, i, &t);
        assert_string_not_equal(t.name, "{^LN-BEG}TAI64N");
    }
    ward_f2bdate_free(d);
    /* {DATE} inside a pattern: every default there */
    d = det("^<W>{DATE}");
    expect_date(d, "<W>2015-11-29 16:38:01.818 1 => x", "<W>2015-11-29 16:38:01.818");
    ward_f2bdate_free(d);
    d = det("^[^\\[]*\\[({DATE})");
    expect_date(d, "host - - [10/Oct/2000:13:55:36 -0700] \"GET /\"", "10/Oct/2000:13:55:36 -0700");
    ward_f2bdate_free(d);
    /* epoch forms */
    d = det("EPOCH");
    expect_date(d, "type=AVC msg=audit(1398412429.186:15): x", "1398412429.186");
    ward_f2bdate_free(d);
    d = det("^LEPOCH");
    expect_date(d, "1398412429186 x", "1398412429186");
    ward_f2bdate_free(d);
    d = det("^t={EPOCH}");
    expect_date(d, "t=1398412429 x", "t=1398412429");
    ward_f2bdate_free(d);
    /* {NONE}: the line has no date */
    d = det("{NONE}");
    expect_date(d, "Jan 23 21:59:59 x", "");
    ward_f2bdate_free(d);
    /* {UNB}: no word boundaries */
    d = det("{UNB}%H:%M:%S");
    expect_date(d, "at12:01:02x", "12:01:02");
    ward_f2bdate_free(d);
}

static void test_f2bdate_datepattern_errors(void **state) {
    (void)state;
    char err[256];
    assert_null(ward_f2bdate_new("%Q", 2, err, sizeof(err)));
    assert_non_null(strstr(err, "unknown directive '%Q'"));
    assert_null(ward_f2bdate_new("^%Y-%m\n^%Y-%m", 13, err, sizeof(err)));
    assert_non_null(strstr(err, "already a template"));
    assert_null(ward_f2bdate_new(" \n\n", 3, err, sizeof(err)));
    assert_non_null(strstr(err, "no template"));
    assert_null(ward_f2bdate_new("(%Y", 3, err, sizeof(err)));
    assert_non_null(strstr(err, "missing )"));
    assert_null(ward_f2bdate_new("50%", 3, err, sizeof(err)));
    ward_f2bdate_free(NULL);
    size_t s, e;
    assert_int_equal(ward_f2bdate_find(NULL, (const uint8_t *)"x", 1, &s, &e, NULL), -1);
    assert_int_equal(ward_f2bdate_count(NULL), 0);
    ward_f2bdate_template t;
    assert_int_equal(ward_f2bdate_template_get(NULL, 0, &t), -1);
}

static void test_f2bdate_find_limit(void **state) {
    (void)state;
    /* a datepattern that backtracks exponentially on a run of a's that ends wrong */
    ward_f2bdate *d = det("^(a+)+%Y");
    char line[64];
    memset(line, 'a', 40);
    line[40] = '!';
    size_t s, e;
    assert_int_equal(ward_f2bdate_find(d, (const uint8_t *)line, 41, &s, &e, NULL), -1);
    memcpy(line + 36, "2024", 4);
    assert_int_equal(ward_f2bdate_find(d, (const uint8_t *)line, 40, &s, &e, NULL), 1);
    ward_f2bdate_free(d);
}

/* ---------------------------------------------------------------------------------- */
/* The fail2ban decoder */

static void expect_f2b_line(const ward_event *ev, const char *want) {
    const ward_field *f = ward_event_get(ev, "f2b.line");
    assert_non_null(f);
    if (f->val_len != strlen(want) || memcmp(f->val, want, f->val_len) != 0)
        fail_msg("f2b.line = [%.*s], want [%s]", (int)f->val_len, f->val, want);
}

static int points_into_line(const ward_event *ev, const char *name) {
    const ward_field *f = ward_event_get(ev, name);
    return f && f->val >= (const char *)ev->line &&
           f->val + f->val_len <= (const char *)ev->line + ev->line_len;
}

static int dec(const char *line, ward_event *ev) {
    return ward_decode(WARD_DECODER_FAIL2BAN, (const uint8_t *)line, strlen(line), ev);
}

static void test_f2bdate_decoder_date_prefix(void **state) {
    (void)state;
    ward_decoder d;
    assert_int_equal(ward_decoder_lookup("fail2ban", &d), 0);
    assert_int_equal(d, WARD_DECODER_FAIL2BAN);
    assert_string_equal(ward_decoder_name(WARD_DECODER_FAIL2BAN), "fail2ban");
    ward_event ev;
    ward_event_init(&ev);
    const char *line = "Jun 14 15:16:01 host sshd[42]: Failed password for root from 1.2.3.4";
    assert_int_equal(dec(line, &ev), WARD_DECODER_FAIL2BAN);
    assert_string_equal(ev.decoder, "fail2ban");
    /* the syslog fields stay, and f2b.line is the rest of the line */
    const ward_field *p = ward_event_get(&ev, "program");
    assert_non_null(p);
    assert_int_equal(p->val_len, 4);
    assert_memory_equal(p->val, "sshd", 4);
    expect_f2b_line(&ev, " host sshd[42]: Failed password for root from 1.2.3.4");
    assert_true(points_into_line(&ev, "f2b.line"));
    assert_int_equal(ev.transformed, 0);
    ward_event_fini(&ev);
}

static void test_f2bdate_decoder_date_inside(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    /* the date in the middle is cut out and the two sides joined: new text, which the
     * event's scan buffer holds after the line (the event is not transformed, so the
     * literal prefilter still works) */
    const char *line = "1.2.3.4 - - [31/Oct/2006:09:22:55 -0000] \"GET /x HTTP/1.1\" 401 5";
    const char *joined = "1.2.3.4 - - [] \"GET /x HTTP/1.1\" 401 5";
    assert_int_equal(dec(line, &ev), WARD_DECODER_FAIL2BAN);
    expect_f2b_line(&ev, joined);
    assert_false(points_into_line(&ev, "f2b.line"));
    assert_int_equal(ev.transformed, 0);
    size_t ll = strlen(line), jl = strlen(joined);
    assert_non_null(ev.scan);
    assert_int_equal(ev.scan_len, ll + 1 + jl);
    assert_memory_equal(ev.scan, line, ll);
    assert_int_equal(ev.scan[ll], '\n');
    assert_memory_equal(ev.scan + ll + 1, joined, jl);
    assert_ptr_equal(ward_event_get(&ev, "f2b.line")->val, (const char *)ev.scan + ll + 1);
    assert_non_null(ward_event_get(&ev, "cs-method")); /* still an access-log event too */
    /* a date at the very end leaves a prefix of the line */
    assert_int_equal(dec("failure seen at 2005-01-23 21:59:59", &ev), WARD_DECODER_FAIL2BAN);
    expect_f2b_line(&ev, "failure seen at ");
    assert_true(points_into_line(&ev, "f2b.line"));
    assert_int_equal(ev.transformed, 0);
    assert_null(ev.scan);
    ward_event_fini(&ev);
}

static ward_engine *engine_from(const char *yaml) {
    ward_rules rs;
    ward_diags d;
    ward_rules_init(&rs);
    ward_diags_init(&d);
    int rc = ward_rules_load_buffer(&rs, "test.yml", (const uint8_t *)yaml, strlen(yaml), &d);
    for (size_t i = 0; i < d.n; i++) {
        char buf[1024];
        ward_diag_format(&d.v[i], buf, sizeof(buf));
        fprintf(stderr, "%s\n", buf);
    }
    assert_int_equal(rc, 0);
    ward_diags_fini(&d);
    ward_limits l;
    ward_limits_default(&l);
    char err[256];
    ward_engine *e = ward_engine_new(&rs, &l, err, sizeof(err));
    assert_non_null(e);
    ward_rules_fini(&rs);
    return e;
}

static int count_hit(const ward_rule *r, size_t idx, void *ctx) {
    (void)r;
    (void)idx;
    (*(size_t *)ctx)++;
    return 0;
}

/* The prefilter stays sound on a joined f2b.line: a literal found only across the join
 * ("[] \"GET", not in the line) selects its rule; a rule whose literal is in neither
 * the line nor f2b.line is not even a candidate. */
static void test_f2bdate_decoder_joined_line_prefilter(void **state) {
    (void)state;
    ward_engine *e = engine_from("title: Joined\n"
                                 "id: f2b-joined\n"
                                 "level: low\n"
                                 "detection: {sel: {f2b.line|contains: '[] \"GET /x'}, "
                                 "condition: sel}\n"
                                 "---\n"
                                 "title: Whole\n"
                                 "id: f2b-whole\n"
                                 "level: low\n"
                                 "detection: {sel: {f2b.line|re: '^1\\.2\\.3\\.4 .* 401 5$'}, "
                                 "condition: sel}\n"
                                 "---\n"
                                 "title: Other\n"
                                 "id: f2b-other\n"
                                 "level: low\n"
                                 "detection: {sel: {f2b.line|contains: 'wp-login'}, "
                                 "condition: sel}\n");
    ward_scratch *s = ward_scratch_new(e);
    assert_non_null(s);
    ward_event ev;
    ward_event_init(&ev);
    assert_int_equal(dec("1.2.3.4 - - [31/Oct/2006:09:22:55 -0000] \"GET /x HTTP/1.1\" 401 5", &ev),
                     WARD_DECODER_FAIL2BAN);
    size_t n = 0;
    assert_int_equal(ward_engine_match(e, s, &ev, count_hit, &n), 2);
    assert_int_equal(n, 2);
    const uint32_t *cand;
    size_t nc = ward_scratch_candidates(s, &cand);
    assert_int_equal(nc, 2);
    assert_int_equal(cand[0], 0);
    assert_int_equal(cand[1], 1);
    /* the naive loop agrees */
    n = 0;
    assert_int_equal(ward_engine_match_naive(e, s, &ev, count_hit, &n), 2);
    ward_event_fini(&ev);
    ward_scratch_free(s);
    ward_engine_free(e);
}

/* A date search that gives up is counted, and the line is kept whole as when no date
 * is found (fail2ban would have found none). */
static void test_f2bdate_decoder_limit_counted(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    assert_non_null(ward_f2bdate_default()); /* built before matches start to fail */
    const char *line = "Jun 14 15:16:01 host sshd[42]: Failed password";
    assert_int_equal(dec(line, &ev), WARD_DECODER_FAIL2BAN);
    assert_int_equal(ev.limit_hits, 0);
    fake_match_limit = 1;
    int r = dec(line, &ev);
    fake_match_limit = 0;
    assert_int_equal(r, WARD_DECODER_FAIL2BAN);
    assert_int_equal(ev.limit_hits, 1);
    expect_f2b_line(&ev, line);
    assert_true(points_into_line(&ev, "f2b.line"));
    /* the next line starts from zero */
    assert_int_equal(dec(line, &ev), WARD_DECODER_FAIL2BAN);
    assert_int_equal(ev.limit_hits, 0);
    expect_f2b_line(&ev, " host sshd[42]: Failed password");
    ward_event_fini(&ev);
}

static void test_f2bdate_decoder_no_date(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    assert_int_equal(dec("just some text", &ev), WARD_DECODER_FAIL2BAN);
    expect_f2b_line(&ev, "just some text");
    assert_true(points_into_line(&ev, "f2b.line"));
    assert_int_equal(ev.transformed, 0);
    const ward_field *m = ward_event_get(&ev, "message");
    assert_non_null(m);
    assert_int_equal(m->val_len, 14);
    /* JSON lines keep their fields */
    assert_int_equal(dec("{\"msg\":\"denied\",\"ip\":\"1.2.3.4\"}", &ev), WARD_DECODER_FAIL2BAN);
    assert_non_null(ward_event_get(&ev, "ip"));
    expect_f2b_line(&ev, "{\"msg\":\"denied\",\"ip\":\"1.2.3.4\"}");
    /* an empty line is raw, as for every decoder */
    assert_int_equal(dec("", &ev), WARD_DECODER_RAW);
    assert_null(ward_event_get(&ev, "f2b.line"));
    ward_event_fini(&ev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f2bdate_convert_python_forms),
        cmocka_unit_test(test_f2bdate_convert_renumbers_groups),
        cmocka_unit_test(test_f2bdate_convert_names_and_anchors),
        cmocka_unit_test(test_f2bdate_convert_errors),
        cmocka_unit_test(test_f2bdate_default_templates),
        cmocka_unit_test(test_f2bdate_default_picks_like_fail2ban),
        cmocka_unit_test(test_f2bdate_datepattern_strftime),
        cmocka_unit_test(test_f2bdate_datepattern_keywords),
        cmocka_unit_test(test_f2bdate_datepattern_errors),
        cmocka_unit_test(test_f2bdate_find_limit),
        cmocka_unit_test(test_f2bdate_decoder_date_prefix),
        cmocka_unit_test(test_f2bdate_decoder_date_inside),
        cmocka_unit_test(test_f2bdate_decoder_joined_line_prefilter),
        cmocka_unit_test(test_f2bdate_decoder_limit_counted),
        cmocka_unit_test(test_f2bdate_decoder_no_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
