#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ward/decode.h"

/* ---------------------------------------------------------------------------------- */
/* Helpers */

/* Decodes a NUL-terminated line with d into ev (initialised by the caller). */
static int dec(ward_decoder d, const char *line, ward_event *ev) {
    return ward_decode(d, (const uint8_t *)line, strlen(line), ev);
}

static void expect_field(const ward_event *ev, const char *name, const char *val) {
    const ward_field *f = ward_event_get(ev, name);
    if (!f)
        fail_msg("field %s missing (decoder %s, line %.*s)", name, ev->decoder, (int)ev->line_len,
                 (const char *)ev->line);
    if (f->val_len != strlen(val) || memcmp(f->val, val, f->val_len) != 0)
        fail_msg("field %s = [%.*s], want [%s]", name, (int)f->val_len, f->val, val);
}

static void expect_unset(const ward_event *ev, const char *name) {
    const ward_field *f = ward_event_get(ev, name);
    if (f)
        fail_msg("field %s should be unset, is [%.*s]", name, (int)f->val_len, f->val);
}

/* The value points into the line: the decoder did not copy it. */
static void expect_in_line(const ward_event *ev, const char *name) {
    const ward_field *f = ward_event_get(ev, name);
    assert_non_null(f);
    assert_true(f->val >= (const char *)ev->line &&
                f->val + f->val_len <= (const char *)ev->line + ev->line_len);
}

static void expect_raw(const ward_event *ev) {
    assert_string_equal(ev->decoder, "raw");
    assert_int_equal(ev->nfields, 2);
    const ward_field *m = ward_event_get(ev, "message");
    assert_non_null(m);
    assert_ptr_equal(m->val, (const char *)ev->line);
    assert_int_equal(m->val_len, ev->line_len);
}

/* Each line is not in d's format: it decodes as raw, leaving nothing behind. */
static void expect_all_raw(ward_decoder d, const char *const *lines, size_t n) {
    ward_event ev;
    ward_event_init(&ev);
    for (size_t i = 0; i < n; i++) {
        if (dec(d, lines[i], &ev) != WARD_DECODER_RAW)
            fail_msg("decoded as %s: %s", ward_decoder_name(d), lines[i]);
        expect_raw(&ev);
        assert_int_equal(ev.transformed, 0);
        assert_int_equal(ev.dropped_fields, 0);
    }
    ward_event_fini(&ev);
}

struct lines {
    char **v;
    size_t n;
};

static void read_lines(const char *path, struct lines *out) {
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s (run from the top of the tree)", path);
    out->v = NULL;
    out->n = 0;
    size_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t n;
    while ((n = getline(&line, &lcap, f)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            line[n - 1] = '\0';
        if (out->n == cap) {
            cap = cap ? cap * 2 : 256;
            out->v = realloc(out->v, cap * sizeof(*out->v));
            assert_non_null(out->v);
        }
        out->v[out->n++] = strdup(line);
    }
    free(line);
    fclose(f);
}

static void free_lines(struct lines *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* Expected fields of a syslog line worked out independently of the decoder: the tag is
 * "prog[pid]: " or "prog: " after "Mmm dd hh:mm:ss host ". Returns 0 when the line does
 * not have that simple shape. */
static int simple_syslog_expect(const char *line, char *host, char *prog, char *pid, char *msg) {
    const char *h = line + 16;
    const char *sp = strchr(h, ' ');
    if (!sp || sp[1] == ' ')
        return 0;
    memcpy(host, h, (size_t)(sp - h));
    host[sp - h] = '\0';
    const char *t = sp + 1;
    const char *colon = strstr(t, ": ");
    const char *blank = strchr(t, ' ');
    if (!colon || (blank && blank < colon))
        return 0;
    const char *br = memchr(t, '[', (size_t)(colon - t));
    pid[0] = '\0';
    if (br) {
        memcpy(pid, br + 1, (size_t)(colon - 1 - (br + 1)));
        pid[colon - 1 - (br + 1)] = '\0';
    } else {
        br = colon;
    }
    memcpy(prog, t, (size_t)(br - t));
    prog[br - t] = '\0';
    char *paren = strchr(prog, '(');
    if (paren)
        *paren = '\0';
    /* Leading blanks (kernel's indented lines) are not part of what a person reads. */
    const char *m = colon + 2;
    while (*m == ' ')
        m++;
    strcpy(msg, m);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '\t' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    return 1;
}

static void check_syslog_corpus(const char *path, const char *want_host) {
    struct lines l;
    read_lines(path, &l);
    assert_int_equal(l.n, 2000);
    ward_event ev;
    ward_event_init(&ev);
    size_t simple = 0;
    char host[256], prog[256], pid[64], msg[4096];
    for (size_t i = 0; i < l.n; i++) {
        int r = dec(WARD_DECODER_SYSLOG, l.v[i], &ev);
        if (r != WARD_DECODER_SYSLOG)
            fail_msg("%s:%zu not syslog: %s", path, i + 1, l.v[i]);
        assert_string_equal(ev.decoder, "syslog");
        assert_int_equal(ev.transformed, 0);
        expect_field(&ev, "host", want_host);
        expect_in_line(&ev, "program");
        expect_in_line(&ev, "message");
        expect_in_line(&ev, "timestamp");
        expect_field(&ev, "event.original", l.v[i]);
        if (simple_syslog_expect(l.v[i], host, prog, pid, msg)) {
            simple++;
            expect_field(&ev, "program", prog);
            expect_field(&ev, "message", msg);
            if (pid[0])
                expect_field(&ev, "pid", pid);
            else
                expect_unset(&ev, "pid");
        }
    }
    /* Only a handful of lines have another shape; they are checked one by one. */
    assert_true(simple >= l.n - 10);
    ward_event_fini(&ev);
    free_lines(&l);
}

/* ---------------------------------------------------------------------------------- */
/* Names */

static void test_decode_lookup_and_name(void **state) {
    (void)state;
    static const char *names[] = {"raw", "syslog", "combined_access", "json",
                                  "kv",  "auto",   "fail2ban"};
    for (int d = 0; d < WARD_DECODER_COUNT; d++) {
        ward_decoder got = WARD_DECODER_COUNT;
        assert_int_equal(ward_decoder_lookup(names[d], &got), 0);
        assert_int_equal(got, d);
        assert_string_equal(ward_decoder_name((ward_decoder)d), names[d]);
    }
    ward_decoder out = WARD_DECODER_JSON;
    assert_int_equal(ward_decoder_lookup("Syslog", &out), -1);
    assert_int_equal(ward_decoder_lookup("", &out), -1);
    assert_int_equal(ward_decoder_lookup(NULL, &out), -1);
    assert_int_equal(out, WARD_DECODER_JSON);
    assert_null(ward_decoder_name(WARD_DECODER_COUNT));
    assert_null(ward_decoder_name((ward_decoder)-1));
}

static void test_decode_unknown_decoder_value_is_raw(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    assert_int_equal(dec(WARD_DECODER_COUNT, "Jun 14 15:16:01 h p: m", &ev), WARD_DECODER_RAW);
    expect_raw(&ev);
    assert_int_equal(dec((ward_decoder)-3, "x", &ev), WARD_DECODER_RAW);
    expect_raw(&ev);
    ward_event_fini(&ev);
}

/* ---------------------------------------------------------------------------------- */
/* syslog */

static void test_decode_syslog_linux_corpus(void **state) {
    (void)state;
    check_syslog_corpus("tests/data/corpus/linux_2k.log", "combo");
}

static void test_decode_syslog_openssh_corpus(void **state) {
    (void)state;
    check_syslog_corpus("tests/data/corpus/openssh_2k.log", "LabSZ");
}

static void test_decode_syslog_linux_lines_exact(void **state) {
    (void)state;
    struct lines l;
    read_lines("tests/data/corpus/linux_2k.log", &l);
    ward_event ev;
    ward_event_init(&ev);

    /* Line 1: pam module in the program name, trailing blank. */
    dec(WARD_DECODER_SYSLOG, l.v[0], &ev);
    expect_field(&ev, "timestamp", "Jun 14 15:16:01");
    expect_field(&ev, "host", "combo");
    expect_field(&ev, "program", "sshd");
    expect_field(&ev, "program.module", "pam_unix");
    expect_field(&ev, "pid", "19939");
    expect_field(&ev, "message",
                 "authentication failure; logname= uid=0 euid=0 tty=NODEVssh "
                 "ruser= rhost=218.188.2.4");
    assert_int_equal(ward_event_get(&ev, "event.original")->val_len, strlen(l.v[0]));
    /* The file has CRLF line ends: the line as read ends in " \r". */
    assert_int_equal(l.v[0][strlen(l.v[0]) - 2], ' ');
    assert_int_equal(l.v[0][strlen(l.v[0]) - 1], '\r');

    /* Line 146: sysklogd's own "syslogd 1.4.1: restart." has no tag. */
    dec(WARD_DECODER_SYSLOG, l.v[145], &ev);
    expect_field(&ev, "timestamp", "Jun 19 04:09:11");
    expect_field(&ev, "program", "syslogd");
    expect_field(&ev, "message", "1.4.1: restart.");
    expect_unset(&ev, "pid");
    expect_unset(&ev, "program.module");

    /* Line 605: day padded with a blank, two blanks inside the message. */
    dec(WARD_DECODER_SYSLOG, l.v[604], &ev);
    expect_field(&ev, "timestamp", "Jul  1 00:21:28");
    expect_field(&ev, "program", "sshd");
    expect_field(&ev, "pid", "19630");
    expect_field(&ev, "message",
                 "authentication failure; logname= uid=0 euid=0 tty=NODEVssh "
                 "ruser= rhost=60.30.224.116  user=root");

    /* Line 899: two blanks after the host and login's "-- root" ident. */
    dec(WARD_DECODER_SYSLOG, l.v[898], &ev);
    expect_field(&ev, "timestamp", "Jul  7 08:06:15");
    expect_field(&ev, "host", "combo");
    expect_field(&ev, "program", "-- root");
    expect_field(&ev, "pid", "2421");
    expect_field(&ev, "message", "ROOT LOGIN ON tty2");

    /* Line 1911: kernel, no pid, parentheses and '#' inside the message. */
    dec(WARD_DECODER_SYSLOG, l.v[1910], &ev);
    expect_field(&ev, "program", "kernel");
    expect_unset(&ev, "pid");
    expect_unset(&ev, "program.module");
    expect_field(&ev, "message",
                 "Linux version 2.6.5-1.358 (bhcompile@bugs.build.redhat.com) "
                 "(gcc version 3.3.3 20040412 (Red Hat Linux 3.3.3-7)) #1 Sat "
                 "May 8 09:04:50 EDT 2004");

    /* Line 16: no pid. */
    dec(WARD_DECODER_SYSLOG, l.v[15], &ev);
    expect_field(&ev, "program", "logrotate");
    expect_unset(&ev, "pid");
    expect_field(&ev, "message", "ALERT exited abnormally with [1]");

    ward_event_fini(&ev);
    free_lines(&l);
}

static void test_decode_syslog_openssh_lines_exact(void **state) {
    (void)state;
    struct lines l;
    read_lines("tests/data/corpus/openssh_2k.log", &l);
    ward_event ev;
    ward_event_init(&ev);
    dec(WARD_DECODER_SYSLOG, l.v[0], &ev);
    expect_field(&ev, "timestamp", "Dec 10 06:55:46");
    expect_field(&ev, "host", "LabSZ");
    expect_field(&ev, "program", "sshd");
    expect_field(&ev, "pid", "24200");
    expect_field(&ev, "message",
                 "reverse mapping checking getaddrinfo for "
                 "ns.marryaldkfaczcz.com [173.234.31.186] failed - POSSIBLE "
                 "BREAK-IN ATTEMPT!");
    /* pam_unix(sshd:auth) is in the message, not the program. */
    dec(WARD_DECODER_SYSLOG, l.v[4], &ev);
    expect_field(&ev, "program", "sshd");
    expect_unset(&ev, "program.module");
    expect_field(&ev, "message",
                 "pam_unix(sshd:auth): authentication failure; logname= uid=0 "
                 "euid=0 tty=ssh ruser= rhost=173.234.31.186");
    ward_event_fini(&ev);
    free_lines(&l);
}

static void test_decode_syslog_pri_prefix(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    assert_int_equal(dec(WARD_DECODER_SYSLOG,
                         "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick", &ev),
                     WARD_DECODER_SYSLOG);
    expect_field(&ev, "syslog.priority", "34");
    expect_field(&ev, "syslog.facility", "4");
    expect_field(&ev, "syslog.severity", "2");
    expect_field(&ev, "timestamp", "Oct 11 22:14:15");
    expect_field(&ev, "host", "mymachine");
    expect_field(&ev, "program", "su");
    expect_field(&ev, "message", "'su root' failed for lonvick");
    /* "4" and "2" occur in the line, so the prefilter can still be used. */
    assert_int_equal(ev.transformed, 0);

    /* Facility 23 and severity 7 are nowhere in this line: the event is transformed. */
    assert_int_equal(dec(WARD_DECODER_SYSLOG, "<191>Oct 11 10:10:10 h p: x", &ev),
                     WARD_DECODER_SYSLOG);
    expect_field(&ev, "syslog.facility", "23");
    expect_field(&ev, "syslog.severity", "7");
    assert_int_equal(ev.transformed, 1);

    assert_int_equal(dec(WARD_DECODER_SYSLOG, "<0>Oct 11 22:14:15 h k: panic", &ev),
                     WARD_DECODER_SYSLOG);
    expect_field(&ev, "syslog.facility", "0");
    expect_field(&ev, "syslog.severity", "0");
    ward_event_fini(&ev);
}

static void test_decode_syslog_bad_pri_is_raw(void **state) {
    (void)state;
    static const char *bad[] = {
        "<192>Oct 11 22:14:15 h p: m", "<>Oct 11 22:14:15 h p: m",     "<1a>Oct 11 22:14:15 h p: m",
        "<34Oct 11 22:14:15 h p: m",   "<1234>Oct 11 22:14:15 h p: m", "<",
    };
    expect_all_raw(WARD_DECODER_SYSLOG, bad, sizeof(bad) / sizeof(bad[0]));
}

static void test_decode_syslog_bad_timestamp_is_raw(void **state) {
    (void)state;
    static const char *bad[] = {
        "Foo 14 15:16:01 host prog: m",
        "Jun 14 15:16 host prog: m",
        "Jun x 15:16:01 host prog: m",
        "Jun 14 15:16:01",
        "Jun 14 15:16:01 ",
        "Jun 14 15:16:01host prog: m",
        "2024-06-14 15:16:01 host p: m",
        "2024-06-14T15:16:01+0 host p: m",
        "2024 Jun 14 host p: m",
        "Ju",
        "081109 203615 148 INFO dfs.DataNode: x",
        "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok",
    };
    expect_all_raw(WARD_DECODER_SYSLOG, bad, sizeof(bad) / sizeof(bad[0]));
}

static void test_decode_syslog_year_forms(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    dec(WARD_DECODER_SYSLOG, "2024 Jun 14 15:16:01 host prog: msg", &ev);
    expect_field(&ev, "timestamp", "2024 Jun 14 15:16:01");
    expect_field(&ev, "host", "host");
    expect_field(&ev, "program", "prog");
    expect_field(&ev, "message", "msg");

    dec(WARD_DECODER_SYSLOG, "Jun 14 2024 15:16:01 host prog[12]: msg", &ev);
    expect_field(&ev, "timestamp", "Jun 14 2024 15:16:01");
    expect_field(&ev, "pid", "12");

    /* A PRI then a year: digits that are not an RFC 5424 version. */
    assert_int_equal(dec(WARD_DECODER_SYSLOG, "<34>2024 Jun 14 15:16:01 host prog: msg", &ev),
                     WARD_DECODER_SYSLOG);
    expect_field(&ev, "timestamp", "2024 Jun 14 15:16:01");
    expect_field(&ev, "syslog.priority", "34");
    expect_field(&ev, "message", "msg");

    /* Fractional seconds after a BSD timestamp. */
    dec(WARD_DECODER_SYSLOG, "Jun  4 15:16:01.250 host prog: msg", &ev);
    expect_field(&ev, "timestamp", "Jun  4 15:16:01.250");
    expect_field(&ev, "message", "msg");
    ward_event_fini(&ev);
}

static void test_decode_syslog_iso_timestamp(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    dec(WARD_DECODER_SYSLOG, "2024-06-14T15:16:01.123456+00:00 host prog[1]: msg", &ev);
    expect_field(&ev, "timestamp", "2024-06-14T15:16:01.123456+00:00");
    expect_field(&ev, "host", "host");
    expect_field(&ev, "program", "prog");
    expect_field(&ev, "pid", "1");
    expect_field(&ev, "message", "msg");
    dec(WARD_DECODER_SYSLOG, "2024-06-14T15:16:01Z web-1 nginx: started", &ev);
    expect_field(&ev, "timestamp", "2024-06-14T15:16:01Z");
    expect_field(&ev, "host", "web-1");
    dec(WARD_DECODER_SYSLOG, "2024-06-14T15:16:01-0700 h p: m", &ev);
    expect_field(&ev, "timestamp", "2024-06-14T15:16:01-0700");
    ward_event_fini(&ev);
}

static void test_decode_syslog_tag_shapes(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    /* No host: a local message whose tag follows the time. */
    dec(WARD_DECODER_SYSLOG, "Jun 14 15:16:01 sshd[5]: no host here", &ev);
    expect_unset(&ev, "host");
    expect_field(&ev, "program", "sshd");
    expect_field(&ev, "pid", "5");
    expect_field(&ev, "message", "no host here");

    /* No tag at all: the first word is taken as the program, as rsyslog does. */
    dec(WARD_DECODER_SYSLOG, "Jun 14 15:16:01 host just some text", &ev);
    expect_field(&ev, "program", "just");
    expect_field(&ev, "message", "some text");

    /* Only a host. */
    assert_int_equal(dec(WARD_DECODER_SYSLOG, "Jun 14 15:16:01 host", &ev), WARD_DECODER_SYSLOG);
    expect_field(&ev, "host", "host");
    expect_unset(&ev, "program");
    expect_field(&ev, "message", "");

    /* Tag without a blank after the colon; tab-separated message. */
    dec(WARD_DECODER_SYSLOG, "Jun 14 15:16:01 host prog[7]:msg", &ev);
    expect_field(&ev, "pid", "7");
    expect_field(&ev, "message", "msg");
    dec(WARD_DECODER_SYSLOG, "Jun 14 15:16:01 host prog:\tmsg", &ev);
    expect_field(&ev, "program", "prog");
    expect_field(&ev, "message", "msg");

    /* A non-numeric bracket in the tag is kept as pid as written. */
    dec(WARD_DECODER_SYSLOG, "Jun 14 15:16:01 host java[main]: started", &ev);
    expect_field(&ev, "program", "java");
    expect_field(&ev, "pid", "main");

    /* An unclosed bracket: no program, the text is the message. */
    dec(WARD_DECODER_SYSLOG, "Jun 14 15:16:01 host prog[12 oops", &ev);
    expect_unset(&ev, "program");
    expect_unset(&ev, "pid");
    expect_field(&ev, "message", "prog[12 oops");

    /* A program name too long to be a tag. */
    char line[200];
    snprintf(line, sizeof(line), "Jun 14 15:16:01 host %0100d: m", 0);
    dec(WARD_DECODER_SYSLOG, line, &ev);
    expect_unset(&ev, "program");

    /* "(x)" at the start is not a module. */
    dec(WARD_DECODER_SYSLOG, "Jun 14 15:16:01 host (x)[3]: m", &ev);
    expect_field(&ev, "program", "(x)");
    expect_unset(&ev, "program.module");
    ward_event_fini(&ev);
}

static void test_decode_syslog_trailing_blanks_stripped(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    const char *line = "Jun 14 15:16:01 host prog[1]: some message \t \r";
    dec(WARD_DECODER_SYSLOG, line, &ev);
    expect_field(&ev, "message", "some message");
    expect_field(&ev, "event.original", line);
    dec(WARD_DECODER_SYSLOG, "Jun 14 15:16:01 host prog[1]:    \r", &ev);
    expect_field(&ev, "message", "");
    ward_event_fini(&ev);
}

static void test_decode_syslog_rfc5424_sd(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    assert_int_equal(
        dec(WARD_DECODER_SYSLOG,
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
            "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]"
            "[examplePriority@32473 class=\"high\"] An application event log entry...",
            &ev),
        WARD_DECODER_SYSLOG);
    expect_field(&ev, "syslog.priority", "165");
    expect_field(&ev, "syslog.facility", "20");
    expect_field(&ev, "syslog.severity", "5");
    expect_field(&ev, "timestamp", "2003-10-11T22:14:15.003Z");
    expect_field(&ev, "host", "mymachine.example.com");
    expect_field(&ev, "program", "evntslog");
    expect_unset(&ev, "pid");
    expect_field(&ev, "syslog.msgid", "ID47");
    expect_field(&ev, "sd.exampleSDID@32473.iut", "3");
    expect_field(&ev, "sd.exampleSDID@32473.eventSource", "Application");
    expect_field(&ev, "sd.exampleSDID@32473.eventID", "1011");
    expect_field(&ev, "sd.examplePriority@32473.class", "high");
    expect_field(&ev, "message", "An application event log entry...");
    expect_in_line(&ev, "sd.exampleSDID@32473.eventSource");
    assert_int_equal(ev.transformed, 0);

    /* An SD element without params, and a message starting with a BOM. */
    dec(WARD_DECODER_SYSLOG, "<14>1 2024-06-14T15:16:01Z h app 42 - [origin] \xEF\xBB\xBFhello  ",
        &ev);
    expect_field(&ev, "pid", "42");
    expect_unset(&ev, "syslog.msgid");
    expect_field(&ev, "message", "hello");
    ward_event_fini(&ev);
}

static void test_decode_syslog_rfc5424_nil_values(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    assert_int_equal(dec(WARD_DECODER_SYSLOG, "<165>1 - - - - - -", &ev), WARD_DECODER_SYSLOG);
    expect_unset(&ev, "timestamp");
    expect_unset(&ev, "host");
    expect_unset(&ev, "program");
    expect_unset(&ev, "pid");
    expect_unset(&ev, "syslog.msgid");
    expect_field(&ev, "message", "");
    expect_field(&ev, "syslog.priority", "165");

    dec(WARD_DECODER_SYSLOG,
        "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to "
        "make the do-nuts.",
        &ev);
    expect_field(&ev, "timestamp", "2003-08-24T05:14:15.000003-07:00");
    expect_field(&ev, "host", "192.0.2.1");
    expect_field(&ev, "program", "myproc");
    expect_field(&ev, "pid", "8710");
    expect_field(&ev, "message", "%% It's time to make the do-nuts.");
    ward_event_fini(&ev);
}

static void test_decode_syslog_rfc5424_sd_escapes(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    dec(WARD_DECODER_SYSLOG, "<13>1 - h a - - [x@1 q=\"say \\\"hi\\\" \\] \\\\ \\n\"] m", &ev);
    /* \" \] \\ are escapes; \n is not and stays as written. */
    expect_field(&ev, "sd.x@1.q", "say \"hi\" ] \\ \\n");
    assert_int_equal(ev.transformed, 1);
    expect_field(&ev, "message", "m");
    ward_event_fini(&ev);
}

static void test_decode_syslog_rfc5424_malformed_is_raw(void **state) {
    (void)state;
    static const char *bad[] = {
        "<165>1 2003-10-11T22:14:15Z h a - - [x a=\"unterminated] m",
        "<165>1 2003-10-11T22:14:15Z h a - - [x a=b] m",
        "<165>1 2003-10-11T22:14:15Z h a - - [x a=\"b\"",
        "<165>1 2003-10-11T22:14:15Z h a - - [] m",
        "<165>1 2003-10-11T22:14:15Z h a - - [x  a=\"b\"] m",
        "<165>1 2003-10-11T22:14:15Z h a - - x m",
        "<165>1 2003-10-11T22:14:15Z h a - -x",
        "<165>1 2003-10-11T22:14:15Z h a -",
        "<165>1  - - - - -",
        "<165>1",
    };
    expect_all_raw(WARD_DECODER_SYSLOG, bad, sizeof(bad) / sizeof(bad[0]));
}

/* ---------------------------------------------------------------------------------- */
/* combined access */

struct access_want {
    size_t line; /* 1-based line of tests/data/access.log */
    const char *host, *ip, *user, *ts, *method, *uri, *stem, *query, *version, *status, *bytes,
        *referer, *agent;
};

static void expect_opt(const ward_event *ev, const char *name, const char *val) {
    if (val)
        expect_field(ev, name, val);
    else
        expect_unset(ev, name);
}

static void test_decode_access_file(void **state) {
    (void)state;
    static const struct access_want want[] = {
        {3, NULL, "203.0.113.7", "alice", "14/Jun/2024:15:16:05 +0000", "POST", "/login", "/login",
         NULL, "HTTP/1.1", "302", "0", "https://www.example.com/login",
         "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/125.0.0.0 Safari/537.36"},
        {4, NULL, "203.0.113.7", "alice", "14/Jun/2024:15:16:06 +0000", "GET",
         "/account?tab=orders&page=2", "/account", "tab=orders&page=2", "HTTP/1.1", "200", "10342",
         "https://www.example.com/login",
         "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/125.0.0.0 Safari/537.36"},
        {8, NULL, "2001:db8:85a3::8a2e:370:7334", NULL, "14/Jun/2024:15:18:00 +0200", "GET",
         "/api/v1/status", "/api/v1/status", NULL, "HTTP/2.0", "200", "57", "-", "curl/8.5.0"},
        {9, NULL, "::1", NULL, "14/Jun/2024:15:18:01 +0200", "OPTIONS", "*", "*", NULL, "HTTP/1.0",
         "200", NULL, "-", "Apache/2.4.58 (Ubuntu) (internal dummy connection)"},
        {10, NULL, "10.0.0.5", NULL, "14/Jun/2024:15:19:44 +0000", NULL, "-", NULL, NULL, NULL,
         "408", NULL, "-", "-"},
        {11, NULL, "10.0.0.6", NULL, "14/Jun/2024:15:19:45 +0000", NULL,
         "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xfc\\x03\\x03", NULL, NULL, NULL, "400", "226",
         "-", "-"},
        {12, NULL, "10.0.0.7", NULL, "14/Jun/2024:15:19:46 +0000", NULL, "SSH-2.0-Go", NULL, NULL,
         NULL, "400", "226", "-", "-"},
        {13, NULL, "10.0.0.8", NULL, "14/Jun/2024:15:19:47 +0000", NULL, "", NULL, NULL, NULL,
         "400", "0", "-", "-"},
        {16, NULL, "172.16.0.9", NULL, "14/Jun/2024:15:21:30 +0000", "GET",
         "/search?q=%22quoted%22", "/search", "q=%22quoted%22", "HTTP/1.1", "200", "812",
         "https://www.example.com/", "Mozilla/5.0 \\\"Evil\\\" Agent/1.0"},
        {17, NULL, "172.16.0.9", NULL, "14/Jun/2024:15:21:31 +0000", "GET", "/search?q=\\\"x\\\"",
         "/search", "q=\\\"x\\\"", "HTTP/1.1", "200", "812", "-", "curl/7.88.1"},
        {31, NULL, "192.0.2.54", NULL, "14/Jun/2024:15:23:20 +0000", "GET", "/?", "/", "",
         "HTTP/1.1", "200", "5120", "-", "curl/8.5.0"},
        {32, NULL, "192.0.2.55", NULL, "14/Jun/2024:15:23:21 +0000", "GET", "/a b c", "/a b c",
         NULL, "HTTP/1.1", "400", "226", "-", "-"},
        {35, NULL, "192.0.2.58", "frank", "14/Jun/2024:15:23:24 -0700", "GET",
         "/private/report.pdf", "/private/report.pdf", NULL, "HTTP/1.1", "401", "381", NULL, NULL},
        {36, "www.example.com", "192.0.2.60", NULL, "14/Jun/2024:15:24:00 +0000", "GET",
         "/shop/cart", "/shop/cart", NULL, "HTTP/1.1", "200", "2326",
         "https://www.example.com/shop",
         "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like "
         "Gecko) Version/17.5 Safari/605.1.15"},
        {37, "blog.example.com", "2001:db8::42", NULL, "14/Jun/2024:15:24:01 +0000", "GET",
         "/feed/?format=rss", "/feed/", "format=rss", "HTTP/1.1", "301", "0", "-",
         "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 12 subscribers)"},
        {39, NULL, "192.0.2.61", NULL, "14/Jun/2024:15:25:00 +0000", "GET", "/index.html",
         "/index.html", NULL, "HTTP/1.1", "200", "5120", "-", "Mozilla/5.0"},
        {40, NULL, "192.0.2.62", NULL, "14/Jun/2024:15:25:01 +0000", "GET", "/\\\\\\\"odd",
         "/\\\\\\\"odd", NULL, "HTTP/1.1", "404", "196", "-", "agent with trailing backslash \\\\"},
    };
    struct lines l;
    read_lines("tests/data/access.log", &l);
    assert_true(l.n >= 40);
    ward_event ev;
    ward_event_init(&ev);
    for (size_t i = 0; i < l.n; i++) {
        if (dec(WARD_DECODER_COMBINED_ACCESS, l.v[i], &ev) != WARD_DECODER_COMBINED_ACCESS)
            fail_msg("access.log:%zu not decoded: %s", i + 1, l.v[i]);
        assert_string_equal(ev.decoder, "combined_access");
        assert_int_equal(ev.transformed, 0);
        expect_field(&ev, "message", l.v[i]);
        expect_in_line(&ev, "c-ip");
        expect_in_line(&ev, "cs-uri");
        expect_in_line(&ev, "sc-status");
    }
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct access_want *w = &want[i];
        dec(WARD_DECODER_COMBINED_ACCESS, l.v[w->line - 1], &ev);
        expect_opt(&ev, "cs-host", w->host);
        expect_opt(&ev, "c-ip", w->ip);
        expect_opt(&ev, "cs-username", w->user);
        expect_opt(&ev, "timestamp", w->ts);
        expect_opt(&ev, "cs-method", w->method);
        expect_opt(&ev, "cs-uri", w->uri);
        expect_opt(&ev, "cs-uri-stem", w->stem);
        expect_opt(&ev, "cs-uri-query", w->query);
        expect_opt(&ev, "cs-version", w->version);
        expect_opt(&ev, "sc-status", w->status);
        expect_opt(&ev, "cs-bytes", w->bytes);
        expect_opt(&ev, "cs-referer", w->referer);
        expect_opt(&ev, "cs-user-agent", w->agent);
    }
    ward_event_fini(&ev);
    free_lines(&l);
}

static void test_decode_access_malformed_is_raw(void **state) {
    (void)state;
    static const char *bad[] = {
        "1.2.3.4 - - 14/Jun/2024:15:16:01 +0000 \"GET / HTTP/1.1\" 200 1",
        "1.2.3.4 - - [14/Jun/2024:15:16:01 +0000 \"GET / HTTP/1.1\" 200 1",
        "1.2.3.4 - - [] \"GET / HTTP/1.1\" 200 1",
        "1.2.3.4 - - [14/Jun/2024:15:16:01 +0000] \"GET / HTTP/1.1 200 1",
        "1.2.3.4 - - [14/Jun/2024:15:16:01 +0000] GET / HTTP/1.1 200 1",
        "1.2.3.4 - - [14/Jun/2024:15:16:01 +0000] \"GET / HTTP/1.1\" OK 1",
        "1.2.3.4 - - [14/Jun/2024:15:16:01 +0000] \"GET / HTTP/1.1\" 2000 1",
        "1.2.3.4 - - [14/Jun/2024:15:16:01 +0000] \"GET / HTTP/1.1\" 200 12a",
        "1.2.3.4 - - [14/Jun/2024:15:16:01 +0000] \"GET / HTTP/1.1\" 200",
        "1.2.3.4 - - [14/Jun/2024:15:16:01 +0000] \"GET / HTTP/1.1\" 200 ",
        "1.2.3.4 - [14/Jun/2024:15:16:01 +0000] \"GET / HTTP/1.1\" 200 1",
        "a b c d e [14/Jun/2024:15:16:01 +0000] \"GET / HTTP/1.1\" 200 1",
        "1.2.3.4  - - [14/Jun/2024:15:16:01 +0000] \"GET / HTTP/1.1\" 200 1",
        "1.2.3.4 - - [14/Jun/2024:15:16:01 +0000] \"GET / HTTP/1.1\\\" 200 1",
        "1.2.3.4 - - [0123456789012345678901234567890123456789012345678901234567890123456789] "
        "\"GET / HTTP/1.1\" 200 1",
    };
    expect_all_raw(WARD_DECODER_COMBINED_ACCESS, bad, sizeof(bad) / sizeof(bad[0]));
}

static void test_decode_access_optional_tail(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    /* A referer with no agent, and an unterminated referer (ignored). */
    dec(WARD_DECODER_COMBINED_ACCESS,
        "1.2.3.4 - - [14/Jun/2024:15:16:01 +0000] \"GET / HTTP/1.1\" 200 1 \"http://r/\"", &ev);
    expect_field(&ev, "cs-referer", "http://r/");
    expect_unset(&ev, "cs-user-agent");
    assert_int_equal(dec(WARD_DECODER_COMBINED_ACCESS,
                         "1.2.3.4 - - [14/Jun/2024:15:16:01 +0000] \"GET / HTTP/1.1\" 200 1 "
                         "\"http://r/",
                         &ev),
                     WARD_DECODER_COMBINED_ACCESS);
    expect_unset(&ev, "cs-referer");
    expect_field(&ev, "cs-bytes", "1");
    /* Lower-case and odd methods; a version that is not HTTP keeps the request whole. */
    dec(WARD_DECODER_COMBINED_ACCESS,
        "1.2.3.4 - - [14/Jun/2024:15:16:01 +0000] \"M-SEARCH * HTTP/1.1\" 400 1", &ev);
    expect_field(&ev, "cs-method", "M-SEARCH");
    dec(WARD_DECODER_COMBINED_ACCESS,
        "1.2.3.4 - - [14/Jun/2024:15:16:01 +0000] \"GET / FTP/1.0\" 400 1", &ev);
    expect_unset(&ev, "cs-method");
    expect_field(&ev, "cs-uri", "GET / FTP/1.0");
    dec(WARD_DECODER_COMBINED_ACCESS,
        "1.2.3.4 - - [14/Jun/2024:15:16:01 +0000] \"G\\x00T / HTTP/1.1\" 400 1", &ev);
    expect_unset(&ev, "cs-method");
    expect_field(&ev, "cs-uri", "G\\x00T / HTTP/1.1");
    dec(WARD_DECODER_COMBINED_ACCESS, "1.2.3.4 - - [14/Jun/2024:15:16:01 +0000] \"GET /\" 400 1",
        &ev);
    expect_unset(&ev, "cs-method");
    expect_field(&ev, "cs-uri", "GET /");
    ward_event_fini(&ev);
}

/* ---------------------------------------------------------------------------------- */
/* JSON */

static void test_decode_json_nesting(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    const char *line = " {\"a\":{\"b\":1,\"c\":{\"d\":\"x\"}},\"t\":true,\"f\":false,\"n\":null,"
                       "\"num\":-1.5e+3,\"e\":\"\",\"o\":{}} \r";
    assert_int_equal(dec(WARD_DECODER_JSON, line, &ev), WARD_DECODER_JSON);
    assert_string_equal(ev.decoder, "json");
    expect_field(&ev, "a.b", "1");
    expect_field(&ev, "a.c.d", "x");
    expect_field(&ev, "t", "true");
    expect_field(&ev, "f", "false");
    expect_field(&ev, "n", "null");
    expect_field(&ev, "num", "-1.5e+3");
    expect_field(&ev, "e", "");
    expect_unset(&ev, "a");
    expect_unset(&ev, "o");
    expect_field(&ev, "message", line);
    expect_in_line(&ev, "a.c.d");
    assert_int_equal(ev.transformed, 0);
    ward_event_fini(&ev);
}

static void test_decode_json_escapes(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    assert_int_equal(dec(WARD_DECODER_JSON,
                         "{\"s\":\"q\\\"b\\\\s\\/n\\nt\\tr\\rb\\bf\\f\","
                         "\"u\":\"\\u00e9\\u20AC\\ud83d\\ude00\\u0041\","
                         "\"lone\":\"\\ud83dx\\udc00\","
                         "\"k\\u0065y\":\"v\"}",
                         &ev),
                     WARD_DECODER_JSON);
    expect_field(&ev, "s", "q\"b\\s/n\nt\tr\rb\bf\f");
    expect_field(&ev, "u",
                 "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"
                 "A");
    expect_field(&ev, "lone", "\xEF\xBF\xBDx\xEF\xBF\xBD");
    expect_field(&ev, "key", "v");
    assert_int_equal(ev.transformed, 1);
    ward_event_fini(&ev);
}

static void test_decode_json_arrays(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    dec(WARD_DECODER_JSON,
        "{\"tags\":[\"a\",2,true,null,{\"x\":1},[3,4]],\"empty\":[],\"o\":{\"l\":[\"z\"]}}", &ev);
    assert_string_equal(ev.decoder, "json");
    expect_field(&ev, "tags", "[\"a\",2,true,null,{\"x\":1},[3,4]]");
    expect_field(&ev, "tags.0", "a");
    expect_field(&ev, "tags.1", "2");
    expect_field(&ev, "tags.2", "true");
    expect_field(&ev, "tags.3", "null");
    expect_field(&ev, "tags.4", "{\"x\":1}");
    expect_field(&ev, "tags.5", "[3,4]");
    expect_unset(&ev, "tags.4.x");
    expect_unset(&ev, "tags.5.0");
    expect_field(&ev, "empty", "[]");
    expect_field(&ev, "o.l", "[\"z\"]");
    expect_field(&ev, "o.l.0", "z");
    expect_in_line(&ev, "tags");

    /* Element numbers past one digit. */
    dec(WARD_DECODER_JSON, "{\"a\":[0,1,2,3,4,5,6,7,8,9,10,11]}", &ev);
    expect_field(&ev, "a.10", "10");
    expect_field(&ev, "a.11", "11");
    ward_event_fini(&ev);
}

static void nest(char *buf, size_t cap, int depth) {
    size_t n = 0;
    for (int i = 0; i < depth; i++)
        n += (size_t)snprintf(buf + n, cap - n, "{\"k\":");
    n += (size_t)snprintf(buf + n, cap - n, "1");
    for (int i = 0; i < depth; i++)
        buf[n++] = '}';
    buf[n] = '\0';
}

static void test_decode_json_depth_limit(void **state) {
    (void)state;
    char buf[1024];
    char name[256] = "k";
    for (int i = 1; i < 32; i++)
        strcat(name, ".k");
    ward_event ev;
    ward_event_init(&ev);
    /* 32 nested objects are the most accepted: the innermost value is k x 32. */
    nest(buf, sizeof(buf), 32);
    assert_int_equal(dec(WARD_DECODER_JSON, buf, &ev), WARD_DECODER_JSON);
    expect_field(&ev, name, "1");
    nest(buf, sizeof(buf), 33);
    assert_int_equal(dec(WARD_DECODER_JSON, buf, &ev), WARD_DECODER_RAW);
    expect_raw(&ev);
    /* Arrays count towards the same limit; a deep line is not a stack overflow. */
    char *deep = malloc(200002);
    assert_non_null(deep);
    memset(deep, '[', 200000);
    memcpy(deep, "{\"a\":", 5);
    assert_int_equal(ward_decode(WARD_DECODER_AUTO, (const uint8_t *)deep, 200000, &ev),
                     WARD_DECODER_RAW);
    free(deep);
    ward_event_fini(&ev);
}

static void test_decode_json_malformed_is_raw(void **state) {
    (void)state;
    static const char *bad[] = {
        "{",
        "{\"a\":1",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{\"a\":}",
        "{a:1}",
        "{\"a\":1} x",
        "{\"a\":1}{}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\u12G4\"}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"unterminated}",
        "{\"a\":\"ends with backslash\\",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":1e}",
        "{\"a\":-}",
        "{\"a\":+1}",
        "{\"a\":tru}",
        "{\"a\":nul}",
        "{\"a\":[1,]}",
        "{\"a\":[1 2]}",
        "{\"a\":[}",
        "[1,2]",
        "\"str\"",
        "{\"a\":1,\"b\"}",
    };
    expect_all_raw(WARD_DECODER_JSON, bad, sizeof(bad) / sizeof(bad[0]));
}

static void test_decode_json_message_key(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    dec(WARD_DECODER_JSON, "{\"level\":\"info\",\"message\":\"user logged in\"}", &ev);
    expect_field(&ev, "message", "user logged in");
    expect_in_line(&ev, "message");
    dec(WARD_DECODER_JSON, "{\"msg\":\"from msg\",\"x\":1}", &ev);
    expect_field(&ev, "message", "from msg");
    expect_field(&ev, "msg", "from msg");
    dec(WARD_DECODER_JSON, "{\"msg\":\"m\",\"message\":\"wins\"}", &ev);
    expect_field(&ev, "message", "wins");
    const char *line = "{\"message\":{\"text\":\"nested\"}}";
    dec(WARD_DECODER_JSON, line, &ev);
    expect_field(&ev, "message.text", "nested");
    expect_field(&ev, "message", line);
    line = "{\"level\":\"info\"}";
    dec(WARD_DECODER_JSON, line, &ev);
    expect_field(&ev, "message", line);
    ward_event_fini(&ev);
}

static void test_decode_json_cannot_overwrite_original(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    const char *line = "{\"event\":{\"original\":\"forged\",\"kind\":\"x\"}}";
    assert_int_equal(dec(WARD_DECODER_JSON, line, &ev), WARD_DECODER_JSON);
    expect_field(&ev, "event.original", line);
    expect_field(&ev, "event.kind", "x");
    assert_int_equal(ev.dropped_fields, 1);
    ward_event_fini(&ev);
}

static void test_decode_json_field_cap(void **state) {
    (void)state;
    char *buf = malloc(8192);
    assert_non_null(buf);
    size_t n = 0;
    buf[n++] = '{';
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(buf + n, 8192 - n, "%s\"f%d\":%d", i ? "," : "", i, i);
    buf[n++] = '}';
    buf[n] = '\0';
    ward_event ev;
    ward_event_init(&ev);
    assert_int_equal(dec(WARD_DECODER_JSON, buf, &ev), WARD_DECODER_JSON);
    assert_int_equal(ev.nfields, WARD_EVENT_MAX_FIELDS);
    /* event.original takes one slot and message (the whole line) is always there: the
     * last decoded field gives it its place. Found by fuzz_decode_kv: without it, a
     * line with enough fields had no message, and rules on message could be evaded by
     * padding a line with fields. */
    assert_int_equal(ev.dropped_fields, 200 - (WARD_EVENT_MAX_FIELDS - 1) + 1);
    expect_field(&ev, "f0", "0");
    expect_field(&ev, "message", buf);
    expect_field(&ev, "f125", "125");
    expect_unset(&ev, "f126");
    expect_unset(&ev, "f199");
    /* fail2ban: f2b.line and message both stay, and the line is fail2ban's */
    assert_int_equal(dec(WARD_DECODER_FAIL2BAN, buf, &ev), WARD_DECODER_FAIL2BAN);
    assert_int_equal(ev.nfields, WARD_EVENT_MAX_FIELDS);
    expect_field(&ev, "message", buf);
    expect_field(&ev, "f2b.line", buf);
    expect_field(&ev, "event.original", buf);
    ward_event_fini(&ev);
    free(buf);
}

static void test_decode_kv_field_cap_keeps_message(void **state) {
    (void)state;
    char *buf = malloc(8192);
    assert_non_null(buf);
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(buf + n, 8192 - n, "%sk%d=v%d", i ? " " : "", i, i);
    ward_event ev;
    ward_event_init(&ev);
    assert_int_equal(dec(WARD_DECODER_KV, buf, &ev), WARD_DECODER_KV);
    assert_int_equal(ev.nfields, WARD_EVENT_MAX_FIELDS);
    expect_field(&ev, "message", buf);
    expect_field(&ev, "event.original", buf);
    expect_field(&ev, "k0", "v0");
    assert_int_equal(ev.dropped_fields, 200 - (WARD_EVENT_MAX_FIELDS - 1) + 1);
    ward_event_fini(&ev);
    free(buf);
}

static void test_decode_json_long_name_dropped(void **state) {
    (void)state;
    char buf[2048];
    char key[700];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    snprintf(buf, sizeof(buf), "{\"%s\":{\"a\":1,\"b\":[2]},\"ok\":1}", key);
    ward_event ev;
    ward_event_init(&ev);
    assert_int_equal(dec(WARD_DECODER_JSON, buf, &ev), WARD_DECODER_JSON);
    expect_field(&ev, "ok", "1");
    /* a, b, b.0 under a name over the limit are counted, not stored. */
    assert_int_equal(ev.dropped_fields, 3);
    ward_event_fini(&ev);
}

/* ---------------------------------------------------------------------------------- */
/* kv */

static void test_decode_kv_auditd(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    const char *line = "type=SYSCALL msg=audit(1364481363.243:24287): arch=c000003e syscall=2 "
                       "success=no exit=-13 a0=7fffd19c5592 comm=\"cat\" exe=\"/usr/bin/cat\" "
                       "key=\"sensitive\"";
    assert_int_equal(dec(WARD_DECODER_KV, line, &ev), WARD_DECODER_KV);
    assert_string_equal(ev.decoder, "kv");
    expect_field(&ev, "type", "SYSCALL");
    expect_field(&ev, "msg", "audit(1364481363.243:24287):");
    expect_field(&ev, "arch", "c000003e");
    expect_field(&ev, "syscall", "2");
    expect_field(&ev, "success", "no");
    expect_field(&ev, "exit", "-13");
    expect_field(&ev, "a0", "7fffd19c5592");
    expect_field(&ev, "comm", "cat");
    expect_field(&ev, "exe", "/usr/bin/cat");
    expect_field(&ev, "key", "sensitive");
    expect_field(&ev, "message", line);
    expect_in_line(&ev, "exe");
    assert_int_equal(ev.transformed, 0);
    ward_event_fini(&ev);
}

static void test_decode_kv_netfilter(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    dec(WARD_DECODER_KV,
        "IN=eth0 OUT= MAC=00:16:3e:aa:bb:cc SRC=1.2.3.4 DST=5.6.7.8 LEN=60 PROTO=TCP SPT=1 "
        "DPT=22 SYN",
        &ev);
    expect_field(&ev, "IN", "eth0");
    expect_field(&ev, "OUT", "");
    expect_field(&ev, "MAC", "00:16:3e:aa:bb:cc");
    expect_field(&ev, "DPT", "22");
    expect_unset(&ev, "SYN");
    /* event.original, nine pairs, message. */
    assert_int_equal(ev.nfields, 11);
    ward_event_fini(&ev);
}

static void test_decode_kv_quotes_and_escapes(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    dec(WARD_DECODER_KV,
        "a='single q' b=\"say \\\"hi\\\"\" c='it\\'s' d=\"\" e='' junk: f.g-h_1=x\tz=1 "
        "bad:key=2 u=\"unterminated value",
        &ev);
    expect_field(&ev, "a", "single q");
    expect_field(&ev, "b", "say \"hi\"");
    expect_field(&ev, "c", "it's");
    expect_field(&ev, "d", "");
    expect_field(&ev, "e", "");
    expect_field(&ev, "f.g-h_1", "x");
    expect_field(&ev, "z", "1");
    expect_unset(&ev, "key");
    expect_unset(&ev, "bad");
    expect_field(&ev, "u", "unterminated value");
    assert_int_equal(ev.transformed, 1);
    /* A key named like the original line is refused. */
    dec(WARD_DECODER_KV, "event.original=forged x=1", &ev);
    expect_field(&ev, "event.original", "event.original=forged x=1");
    assert_int_equal(ev.dropped_fields, 1);
    ward_event_fini(&ev);
}

static void test_decode_kv_no_pairs_is_raw(void **state) {
    (void)state;
    static const char *bad[] = {"no pairs here", "=value", "   ", "a:b=c", ""};
    expect_all_raw(WARD_DECODER_KV, bad, sizeof(bad) / sizeof(bad[0]));
}

/* ---------------------------------------------------------------------------------- */
/* raw, auto, hostile input */

static void test_decode_raw(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    assert_int_equal(dec(WARD_DECODER_RAW, "Jun 14 15:16:01 host prog: msg", &ev),
                     WARD_DECODER_RAW);
    expect_raw(&ev);
    ward_event_fini(&ev);
}

static void test_decode_auto_selection(void **state) {
    (void)state;
    static const struct {
        const char *line;
        ward_decoder want;
    } cases[] = {
        {"{\"a\":1}", WARD_DECODER_JSON},
        {"  \t{\"a\":1}", WARD_DECODER_JSON},
        {"{\"a\":1", WARD_DECODER_RAW},
        {"Jun 14 15:16:01 host prog: msg", WARD_DECODER_SYSLOG},
        {"<165>1 - - - - - -", WARD_DECODER_SYSLOG},
        {"1.2.3.4 - - [14/Jun/2024:15:16:01 +0000] \"GET / HTTP/1.1\" 200 1",
         WARD_DECODER_COMBINED_ACCESS},
        {"a=1 b=2", WARD_DECODER_RAW},
        {"[10.30 16:49:06] chrome.exe - proxy.cse.cuhk.edu.hk:5070 open through proxy",
         WARD_DECODER_RAW},
        {"", WARD_DECODER_RAW},
    };
    ward_event ev;
    ward_event_init(&ev);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = dec(WARD_DECODER_AUTO, cases[i].line, &ev);
        if (r != (int)cases[i].want)
            fail_msg("auto: %s decoded as %d, want %d", cases[i].line, r, cases[i].want);
        assert_string_equal(ev.decoder, ward_decoder_name(cases[i].want));
        assert_non_null(ward_event_get(&ev, "message"));
    }
    /* A failed json attempt leaves nothing behind. */
    dec(WARD_DECODER_AUTO, "{\"a\":\"\\u00e9\",\"b\":", &ev);
    expect_raw(&ev);
    assert_int_equal(ev.transformed, 0);
    ward_event_fini(&ev);
}

static void test_decode_auto_corpus_files(void **state) {
    (void)state;
    static const struct {
        const char *path;
        const char *want;
    } files[] = {
        {"tests/data/corpus/linux_2k.log", "syslog"},
        {"tests/data/corpus/openssh_2k.log", "syslog"},
        {"tests/data/access.log", "combined_access"},
    };
    ward_event ev;
    ward_event_init(&ev);
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        struct lines l;
        read_lines(files[f].path, &l);
        for (size_t i = 0; i < l.n; i++) {
            dec(WARD_DECODER_AUTO, l.v[i], &ev);
            if (strcmp(ev.decoder, files[f].want) != 0)
                fail_msg("%s:%zu auto gave %s", files[f].path, i + 1, ev.decoder);
        }
        free_lines(&l);
    }
    ward_event_fini(&ev);
}

static void test_decode_nul_bytes(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    static const char sl[] = "Jun 14 15:16:01 host prog[1]: a\0b";
    assert_int_equal(ward_decode(WARD_DECODER_SYSLOG, (const uint8_t *)sl, sizeof(sl) - 1, &ev),
                     WARD_DECODER_SYSLOG);
    const ward_field *m = ward_event_get(&ev, "message");
    assert_int_equal(m->val_len, 3);
    assert_memory_equal(m->val, "a\0b", 3);

    /* A raw NUL is a control character: not JSON. An escaped one is fine. */
    static const char js[] = "{\"a\":\"x\0y\"}";
    assert_int_equal(ward_decode(WARD_DECODER_JSON, (const uint8_t *)js, sizeof(js) - 1, &ev),
                     WARD_DECODER_RAW);
    expect_raw(&ev);
    static const char js2[] = "{\"a\":\"x\\u0000y\"}";
    assert_int_equal(ward_decode(WARD_DECODER_JSON, (const uint8_t *)js2, sizeof(js2) - 1, &ev),
                     WARD_DECODER_JSON);
    assert_int_equal(ward_event_get(&ev, "a")->val_len, 3);
    assert_memory_equal(ward_event_get(&ev, "a")->val, "x\0y", 3);

    static const char ac[] = "1.2.3.4 - - [14/Jun/2024:15:16:01 +0000] \"GET /\0 HTTP/1.1\" 200 1";
    assert_int_equal(
        ward_decode(WARD_DECODER_COMBINED_ACCESS, (const uint8_t *)ac, sizeof(ac) - 1, &ev),
        WARD_DECODER_COMBINED_ACCESS);
    assert_int_equal(ward_event_get(&ev, "cs-uri")->val_len, 2);

    static const char kv[] = "a=x\0y b=2";
    assert_int_equal(ward_decode(WARD_DECODER_KV, (const uint8_t *)kv, sizeof(kv) - 1, &ev),
                     WARD_DECODER_KV);
    assert_int_equal(ward_event_get(&ev, "a")->val_len, 3);
    expect_field(&ev, "b", "2");

    /* A NUL in the middle of the timestamp. */
    static const char bad[] = "Jun 14 15:\0:01 host prog: m";
    assert_int_equal(ward_decode(WARD_DECODER_AUTO, (const uint8_t *)bad, sizeof(bad) - 1, &ev),
                     WARD_DECODER_RAW);
    ward_event_fini(&ev);
}

static void test_decode_empty_line(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    for (int d = 0; d < WARD_DECODER_COUNT; d++) {
        assert_int_equal(ward_decode((ward_decoder)d, (const uint8_t *)"", 0, &ev),
                         WARD_DECODER_RAW);
        expect_raw(&ev);
        assert_int_equal(ward_decode((ward_decoder)d, NULL, 0, &ev), WARD_DECODER_RAW);
        assert_int_equal(ev.nfields, 2);
    }
    ward_event_fini(&ev);
}

#define HUGE_LEN (1024 * 1024)

static void test_decode_huge_line(void **state) {
    (void)state;
    char *buf = malloc(HUGE_LEN + 64);
    assert_non_null(buf);
    ward_event ev;
    ward_event_init(&ev);

    const char *hdr = "Jun 14 15:16:01 host prog[1]: ";
    size_t h = strlen(hdr);
    memcpy(buf, hdr, h);
    memset(buf + h, 'x', HUGE_LEN - h);
    assert_int_equal(ward_decode(WARD_DECODER_AUTO, (const uint8_t *)buf, HUGE_LEN, &ev),
                     WARD_DECODER_SYSLOG);
    assert_int_equal(ward_event_get(&ev, "message")->val_len, HUGE_LEN - h);

    /* A 1 MiB JSON string of escapes: unescaped into the arena. */
    memcpy(buf, "{\"a\":\"", 6);
    for (size_t i = 6; i + 2 < HUGE_LEN - 2; i += 2)
        memcpy(buf + i, "\\n", 2);
    size_t n = 6 + ((HUGE_LEN - 2 - 6 - 2) / 2 + 1) * 2 - 2;
    memcpy(buf + n, "\"}", 2);
    n += 2;
    assert_int_equal(ward_decode(WARD_DECODER_AUTO, (const uint8_t *)buf, n, &ev),
                     WARD_DECODER_JSON);
    const ward_field *a = ward_event_get(&ev, "a");
    assert_int_equal(a->val_len, (n - 8) / 2);
    assert_int_equal(a->val[0], '\n');
    assert_int_equal(ev.transformed, 1);

    /* The same line cut short is malformed. */
    assert_int_equal(ward_decode(WARD_DECODER_JSON, (const uint8_t *)buf, n - 1, &ev),
                     WARD_DECODER_RAW);

    /* 1 MiB of blanks and of '=' for kv and access. */
    memset(buf, ' ', HUGE_LEN);
    assert_int_equal(ward_decode(WARD_DECODER_AUTO, (const uint8_t *)buf, HUGE_LEN, &ev),
                     WARD_DECODER_RAW);
    memset(buf, '=', HUGE_LEN);
    assert_int_equal(ward_decode(WARD_DECODER_KV, (const uint8_t *)buf, HUGE_LEN, &ev),
                     WARD_DECODER_RAW);
    memset(buf, 'k', HUGE_LEN);
    buf[HUGE_LEN - 1] = '=';
    assert_int_equal(ward_decode(WARD_DECODER_KV, (const uint8_t *)buf, HUGE_LEN, &ev),
                     WARD_DECODER_RAW);
    ward_event_fini(&ev);
    free(buf);
}

static void test_decode_event_reuse(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    dec(WARD_DECODER_JSON, "{\"a\":\"\\u00e9\",\"b\":{\"c\":1}}", &ev);
    assert_int_equal(ev.transformed, 1);
    dec(WARD_DECODER_AUTO, "Jun 14 15:16:01 host prog: msg", &ev);
    assert_int_equal(ev.transformed, 0);
    assert_int_equal(ev.dropped_fields, 0);
    expect_unset(&ev, "a");
    expect_unset(&ev, "b.c");
    assert_int_equal(ev.nfields, 5);
    ward_event_fini(&ev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_lookup_and_name),
        cmocka_unit_test(test_decode_unknown_decoder_value_is_raw),
        cmocka_unit_test(test_decode_syslog_linux_corpus),
        cmocka_unit_test(test_decode_syslog_openssh_corpus),
        cmocka_unit_test(test_decode_syslog_linux_lines_exact),
        cmocka_unit_test(test_decode_syslog_openssh_lines_exact),
        cmocka_unit_test(test_decode_syslog_pri_prefix),
        cmocka_unit_test(test_decode_syslog_bad_pri_is_raw),
        cmocka_unit_test(test_decode_syslog_bad_timestamp_is_raw),
        cmocka_unit_test(test_decode_syslog_year_forms),
        cmocka_unit_test(test_decode_syslog_iso_timestamp),
        cmocka_unit_test(test_decode_syslog_tag_shapes),
        cmocka_unit_test(test_decode_syslog_trailing_blanks_stripped),
        cmocka_unit_test(test_decode_syslog_rfc5424_sd),
        cmocka_unit_test(test_decode_syslog_rfc5424_nil_values),
        cmocka_unit_test(test_decode_syslog_rfc5424_sd_escapes),
        cmocka_unit_test(test_decode_syslog_rfc5424_malformed_is_raw),
        cmocka_unit_test(test_decode_access_file),
        cmocka_unit_test(test_decode_access_malformed_is_raw),
        cmocka_unit_test(test_decode_access_optional_tail),
        cmocka_unit_test(test_decode_json_nesting),
        cmocka_unit_test(test_decode_json_escapes),
        cmocka_unit_test(test_decode_json_arrays),
        cmocka_unit_test(test_decode_json_depth_limit),
        cmocka_unit_test(test_decode_json_malformed_is_raw),
        cmocka_unit_test(test_decode_json_message_key),
        cmocka_unit_test(test_decode_json_cannot_overwrite_original),
        cmocka_unit_test(test_decode_json_field_cap),
        cmocka_unit_test(test_decode_kv_field_cap_keeps_message),
        cmocka_unit_test(test_decode_json_long_name_dropped),
        cmocka_unit_test(test_decode_kv_auditd),
        cmocka_unit_test(test_decode_kv_netfilter),
        cmocka_unit_test(test_decode_kv_quotes_and_escapes),
        cmocka_unit_test(test_decode_kv_no_pairs_is_raw),
        cmocka_unit_test(test_decode_raw),
        cmocka_unit_test(test_decode_auto_selection),
        cmocka_unit_test(test_decode_auto_corpus_files),
        cmocka_unit_test(test_decode_nul_bytes),
        cmocka_unit_test(test_decode_empty_line),
        cmocka_unit_test(test_decode_huge_line),
        cmocka_unit_test(test_decode_event_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
