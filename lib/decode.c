/* Decoders: syslog (RFC 3164, RFC 5424, rsyslog ISO), combined access log, JSON and
 * key=value lines into an event's fields; and fail2ban's view of a line (f2b.line, the
 * line without its date, found by lib/f2bdate.c).
 *
 * Every decoder reads the line through a bounds-checked cursor and never relies on a NUL
 * terminator. Values that appear in the line as written are stored as pointers into it
 * (no copy); only values a decoder had to build (JSON and quoted-value unescaping, SD
 * parameter names) go to the event's arena, and those mark the event transformed when
 * they are not a substring of the line. syslog and access lines are parsed into spans
 * first and only emitted when the whole line matched, so a failed attempt leaves the event
 * untouched; json and kv emit while parsing and the caller resets the event when they
 * give up. */
#include "ward/decode.h"

#include <stdint.h>
#include <string.h>

#include "ward/f2bdate.h"

/* A tag longer than this is not a program name: the text is all message. */
#define SYSLOG_TAG_MAX 64
/* Longest SD-ID or PARAM-NAME accepted (RFC 5424 says 32; some senders are longer). */
#define SD_NAME_MAX 64
/* Longest access-log timestamp between the brackets. */
#define ACCESS_TS_MAX 64
#define JSON_MAX_DEPTH 32
/* Longest dotted JSON field name; deeper names are counted in dropped_fields. */
#define JSON_NAME_MAX 512
#define KV_KEY_MAX 128

/* What a decoder step reports: the line is in the format, is not, or memory ran out. */
enum { DEC_OOM = -1, DEC_NO = 0, DEC_YES = 1 };

static const char *const decoder_names[WARD_DECODER_COUNT] = {
    [WARD_DECODER_RAW] = "raw",
    [WARD_DECODER_SYSLOG] = "syslog",
    [WARD_DECODER_COMBINED_ACCESS] = "combined_access",
    [WARD_DECODER_JSON] = "json",
    [WARD_DECODER_KV] = "kv",
    [WARD_DECODER_AUTO] = "auto",
    [WARD_DECODER_FAIL2BAN] = "fail2ban",
};

/* ---------------------------------------------------------------------------------- */
/* Cursor and spans */

typedef struct cursor {
    const uint8_t *p;
    const uint8_t *end;
} cursor;

/* A piece of the line; p == NULL means absent (an empty but present span has p set). */
typedef struct span {
    const char *p;
    size_t n;
} span;

static int is_digit(int c) {
    return c >= '0' && c <= '9';
}

static int is_blank(int c) {
    return c == ' ' || c == '\t';
}

static size_t cur_left(const cursor *c) {
    return (size_t)(c->end - c->p);
}

static int cur_peek(const cursor *c) {
    return c->p < c->end ? *c->p : -1;
}

static int cur_eat(cursor *c, int ch) {
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* Consumes between min and max digits; returns how many, or 0 (nothing consumed) when
 * fewer than min were there. */
static size_t cur_digits(cursor *c, size_t min, size_t max) {
    size_t n = 0;
    while (n < max && n < cur_left(c) && is_digit(c->p[n]))
        n++;
    if (n < min)
        return 0;
    c->p += n;
    return n;
}

static size_t cur_skip_blanks(cursor *c) {
    const uint8_t *s = c->p;
    while (c->p < c->end && is_blank(*c->p))
        c->p++;
    return (size_t)(c->p - s);
}

/* Consumes a run of bytes other than space (a syslog or access header field). */
static span cur_token(cursor *c) {
    const uint8_t *s = c->p;
    while (c->p < c->end && *c->p != ' ')
        c->p++;
    return (span){(const char *)s, (size_t)(c->p - s)};
}

static span span_of(const uint8_t *s, const uint8_t *e) {
    return (span){(const char *)s, (size_t)(e - s)};
}

static span rest_of(const cursor *c) {
    return span_of(c->p, c->end);
}

static int span_is(span s, const char *lit) {
    size_t n = strlen(lit);
    return s.p && s.n == n && memcmp(s.p, lit, n) == 0;
}

/* Trailing blanks and CR are noise left by the sender, not part of the message. */
static span trim_right(span s) {
    while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t' || s.p[s.n - 1] == '\r'))
        s.n--;
    return s;
}

/* ---------------------------------------------------------------------------------- */
/* Setting fields */

static void set_span(ward_event *ev, const char *name, span s) {
    if (s.p)
        ward_event_set(ev, name, s.p, s.n);
}

/* Sets a value the decoder built (unescaped text, a derived number): the event becomes
 * transformed unless the value also appears in the line as written, because the literal
 * prefilter only ever sees the line. val must be static or in the arena. */
static void set_built(ward_event *ev, const char *name, const char *val, size_t len) {
    ward_event_set(ev, name, val, len);
    if (!ev->transformed && len > 0 &&
        (len > ev->line_len || !memmem(ev->line, ev->line_len, val, len)))
        ev->transformed = 1;
}

/* A field name taken from the line (a JSON or kv key) must not overwrite the line
 * itself; such a key is dropped and counted. */
static int name_is_reserved(const char *name) {
    return strcmp(name, "event.original") == 0;
}

/* ---------------------------------------------------------------------------------- */
/* syslog */

struct syslog_parts {
    span pri, ts, host, program, module, pid, msgid, msg, sd;
    unsigned prival;
    int rfc5424;
};

static int is_month(const uint8_t *p) {
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (size_t i = 0; i < 36; i += 3)
        if (memcmp(p, months + i, 3) == 0)
            return 1;
    return 0;
}

/* hh:mm:ss with an optional fraction. */
static int parse_clock(cursor *c) {
    if (!cur_digits(c, 2, 2) || !cur_eat(c, ':') || !cur_digits(c, 2, 2) || !cur_eat(c, ':') ||
        !cur_digits(c, 2, 2))
        return -1;
    if (cur_peek(c) == '.') {
        cursor t = *c;
        t.p++;
        if (cur_digits(&t, 1, 9))
            *c = t;
    }
    return 0;
}

/* "Jun 14" or "Jun  1" (day padded with a blank) or "Jun 1". */
static int parse_month_day(cursor *c) {
    if (cur_left(c) < 3 || !is_month(c->p))
        return -1;
    c->p += 3;
    if (!cur_skip_blanks(c) || !cur_digits(c, 1, 2))
        return -1;
    return 0;
}

/* 2024-06-14T15:16:01.123456+00:00 (fraction and zone optional). */
static int parse_iso8601(cursor *c) {
    if (!cur_digits(c, 4, 4) || !cur_eat(c, '-') || !cur_digits(c, 2, 2) || !cur_eat(c, '-') ||
        !cur_digits(c, 2, 2) || !cur_eat(c, 'T') || parse_clock(c) != 0)
        return -1;
    if (cur_eat(c, 'Z'))
        return 0;
    if (cur_peek(c) == '+' || cur_peek(c) == '-') {
        cursor t = *c;
        t.p++;
        if (!cur_digits(&t, 2, 2))
            return -1;
        cur_eat(&t, ':');
        if (!cur_digits(&t, 2, 2))
            return -1;
        *c = t;
    }
    return 0;
}

/* The timestamp forms seen in syslog files: ISO 8601 (rsyslog), "Mmm dd hh:mm:ss",
 * "Mmm dd yyyy hh:mm:ss" and "yyyy Mmm dd hh:mm:ss". */
static int parse_3164_time(cursor *c, span *ts) {
    const uint8_t *s = c->p;
    cursor t = *c;
    if (parse_iso8601(&t) == 0)
        goto done;
    t = *c;
    if (cur_digits(&t, 4, 4)) {
        if (!cur_eat(&t, ' ') || parse_month_day(&t) != 0 || !cur_eat(&t, ' ') ||
            parse_clock(&t) != 0)
            return -1;
        goto done;
    }
    t = *c;
    if (parse_month_day(&t) != 0 || !cur_eat(&t, ' '))
        return -1;
    {
        cursor y = t;
        if (cur_digits(&y, 4, 4) && cur_eat(&y, ' '))
            t = y;
    }
    if (parse_clock(&t) != 0)
        return -1;
done:
    *c = t;
    *ts = span_of(s, t.p);
    return 0;
}

/* "<PRI>" with PRI 0..191; absent is fine, malformed is not syslog. */
static int parse_pri(cursor *c, struct syslog_parts *sp) {
    if (!cur_eat(c, '<'))
        return 0;
    const uint8_t *s = c->p;
    size_t n = cur_digits(c, 1, 3);
    if (!n || !cur_eat(c, '>'))
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    if (v > 191)
        return -1;
    sp->pri = span_of(s, s + n);
    sp->prival = v;
    return 0;
}

/* "prog[pid]: msg", "prog: msg", "prog msg", and a tag with blanks before a numeric pid
 * ("-- root[2421]: msg", written by login). "sshd(pam_unix)" is split into program and
 * module afterwards. */
static void parse_tag(cursor *c, struct syslog_parts *sp) {
    const uint8_t *s = c->p;
    size_t lim = cur_left(c) < SYSLOG_TAG_MAX ? cur_left(c) : SYSLOG_TAG_MAX;
    const uint8_t *colon = memchr(s, ':', lim);
    if (colon && colon - s >= 4 && colon[-1] == ']') {
        const uint8_t *d = colon - 1;
        while (d > s && is_digit(d[-1]))
            d--;
        if (d < colon - 1 && d - 1 > s && d[-1] == '[') {
            span prog = trim_right(span_of(s, d - 1));
            if (prog.n > 0 && memchr(s, ' ', (size_t)(d - 1 - s))) {
                sp->program = prog;
                sp->pid = span_of(d, colon - 1);
                c->p = colon + 1;
                return;
            }
        }
    }
    const uint8_t *e = s;
    while (e < c->end && (size_t)(e - s) < lim && *e != ' ' && *e != '\t' && *e != ':' && *e != '[')
        e++;
    if (e == s || (e < c->end && (size_t)(e - s) >= lim))
        return;
    cursor t = {e, c->end};
    if (cur_peek(&t) == '[') {
        const uint8_t *b = t.p + 1;
        const uint8_t *q = b;
        while (q < t.end && q - b < 32 && *q != ']' && *q != ' ')
            q++;
        if (q == t.end || *q != ']' || q == b)
            return;
        sp->pid = span_of(b, q);
        t.p = q + 1;
    }
    int next = cur_peek(&t);
    if (next == ':')
        t.p++;
    else if (next != -1 && !is_blank(next)) {
        sp->pid = (span){0};
        return;
    }
    sp->program = span_of(s, e);
    *c = t;
}

static void split_module(struct syslog_parts *sp) {
    span p = sp->program;
    if (p.n < 3 || p.p[p.n - 1] != ')')
        return;
    const char *open = memchr(p.p, '(', p.n);
    if (!open || open == p.p)
        return;
    sp->module = (span){open + 1, (size_t)(p.p + p.n - 1 - (open + 1))};
    sp->program.n = (size_t)(open - p.p);
}

static int parse_3164(cursor *c, struct syslog_parts *sp) {
    if (parse_3164_time(c, &sp->ts) != 0 || !cur_skip_blanks(c))
        return -1;
    /* A tag right after the time means the sender left out the host (local syslog). */
    cursor t = *c;
    span host = cur_token(&t);
    if (host.n == 0)
        return -1;
    if (host.p[host.n - 1] != ':') {
        sp->host = host;
        *c = t;
        cur_skip_blanks(c);
    }
    parse_tag(c, sp);
    split_module(sp);
    cur_skip_blanks(c);
    sp->msg = trim_right(rest_of(c));
    return 0;
}

/* An SD-NAME: printable ASCII except '=', ']', '"' and space. */
static span sd_name(cursor *c) {
    const uint8_t *s = c->p;
    while (c->p < c->end && (size_t)(c->p - s) < SD_NAME_MAX) {
        uint8_t ch = *c->p;
        if (ch <= ' ' || ch >= 127 || ch == '=' || ch == ']' || ch == '"')
            break;
        c->p++;
    }
    return span_of(s, c->p);
}

/* RFC 5424 PARAM-VALUE: '\' escapes '"', '\' and ']'; others stay as written. */
static size_t sd_unescape(const char *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '\\' && i + 1 < n &&
            (in[i + 1] == '"' || in[i + 1] == '\\' || in[i + 1] == ']'))
            i++;
        out[o++] = in[i];
    }
    return o;
}

static int sd_emit(ward_event *ev, span id, span name, span val, int escaped) {
    char buf[3 + SD_NAME_MAX + 1 + SD_NAME_MAX + 1];
    buf[0] = 's';
    buf[1] = 'd';
    buf[2] = '.';
    memcpy(buf + 3, id.p, id.n);
    buf[3 + id.n] = '.';
    memcpy(buf + 4 + id.n, name.p, name.n);
    char *n = ward_event_strdup(ev, buf, 4 + id.n + name.n);
    if (!n)
        return -1;
    if (!escaped) {
        ward_event_set(ev, n, val.p, val.n);
        return 0;
    }
    char *v = ward_event_strdup(ev, val.p, val.n);
    if (!v)
        return -1;
    size_t vn = sd_unescape(val.p, val.n, v);
    v[vn] = '\0';
    set_built(ev, n, v, vn);
    return 0;
}

/* Parses STRUCTURED-DATA at c; with ev == NULL only checks it. Returns 0, or -1 when
 * malformed or (with ev) out of memory: the caller validates first, so with ev a -1 can
 * only mean memory. */
static int parse_sd(cursor *c, ward_event *ev) {
    if (cur_eat(c, '-'))
        return 0;
    if (cur_peek(c) != '[')
        return -1;
    while (cur_eat(c, '[')) {
        span id = sd_name(c);
        if (id.n == 0)
            return -1;
        while (cur_eat(c, ' ')) {
            span name = sd_name(c);
            if (name.n == 0 || !cur_eat(c, '=') || !cur_eat(c, '"'))
                return -1;
            const uint8_t *vs = c->p;
            int escaped = 0;
            while (c->p < c->end && *c->p != '"') {
                if (*c->p == '\\' && c->p + 1 < c->end) {
                    escaped = 1;
                    c->p++;
                }
                c->p++;
            }
            if (c->p == c->end)
                return -1;
            span val = span_of(vs, c->p);
            c->p++;
            if (ev && sd_emit(ev, id, name, val, escaped) != 0)
                return -1;
        }
        if (!cur_eat(c, ']'))
            return -1;
    }
    return 0;
}

static span nil_is_unset(span s) {
    if (span_is(s, "-"))
        return (span){0};
    return s;
}

/* <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG] */
static int parse_5424(cursor *c, struct syslog_parts *sp) {
    if (!cur_digits(c, 1, 3) || !cur_eat(c, ' '))
        return -1;
    span *hdr[] = {&sp->ts, &sp->host, &sp->program, &sp->pid, &sp->msgid};
    for (size_t i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++) {
        span t = cur_token(c);
        if (t.n == 0 || !cur_eat(c, ' '))
            return -1;
        *hdr[i] = nil_is_unset(t);
    }
    const uint8_t *sd = c->p;
    if (parse_sd(c, NULL) != 0)
        return -1;
    sp->sd = span_of(sd, c->p);
    if (c->p < c->end && !cur_eat(c, ' '))
        return -1;
    if (cur_left(c) >= 3 && memcmp(c->p, "\xEF\xBB\xBF", 3) == 0)
        c->p += 3;
    sp->msg = trim_right(rest_of(c));
    sp->rfc5424 = 1;
    return 0;
}

static int parse_syslog(const uint8_t *line, size_t len, struct syslog_parts *sp) {
    cursor c = {line, line + len};
    memset(sp, 0, sizeof(*sp));
    if (parse_pri(&c, sp) != 0)
        return -1;
    if (sp->pri.p && is_digit(cur_peek(&c))) {
        /* "<34>2024 Jun 14 ..." also starts with digits: a year, not a version. */
        cursor t = c;
        span pri = sp->pri;
        unsigned prival = sp->prival;
        if (parse_5424(&t, sp) == 0)
            return 0;
        memset(sp, 0, sizeof(*sp));
        sp->pri = pri;
        sp->prival = prival;
    }
    return parse_3164(&c, sp);
}

/* Static decimal strings for facility (0..23) and severity (0..7): derived values that
 * need no copy. */
static const char *const small_numbers[24] = {"0",  "1",  "2",  "3",  "4",  "5",  "6",  "7",
                                              "8",  "9",  "10", "11", "12", "13", "14", "15",
                                              "16", "17", "18", "19", "20", "21", "22", "23"};

static int decode_syslog(ward_event *ev) {
    struct syslog_parts sp;
    if (parse_syslog(ev->line, ev->line_len, &sp) != 0)
        return DEC_NO;
    set_span(ev, "timestamp", sp.ts);
    set_span(ev, "host", sp.host);
    set_span(ev, "program", sp.program);
    set_span(ev, "program.module", sp.module);
    set_span(ev, "pid", sp.pid);
    set_span(ev, "message", sp.msg);
    if (sp.pri.p) {
        const char *fac = small_numbers[sp.prival >> 3];
        const char *sev = small_numbers[sp.prival & 7];
        set_span(ev, "syslog.priority", sp.pri);
        set_built(ev, "syslog.facility", fac, strlen(fac));
        set_built(ev, "syslog.severity", sev, strlen(sev));
    }
    if (sp.rfc5424) {
        set_span(ev, "syslog.msgid", sp.msgid);
        cursor sd = {(const uint8_t *)sp.sd.p, (const uint8_t *)sp.sd.p + sp.sd.n};
        if (parse_sd(&sd, ev) != 0)
            return DEC_OOM;
    }
    return DEC_YES;
}

/* ---------------------------------------------------------------------------------- */
/* combined access log */

struct access_parts {
    span vhost, ip, user, ts, request, method, uri, stem, query, version, status, bytes, referer,
        agent;
};

/* A double-quoted field in which \" does not end the field; the span excludes the
 * quotes and keeps the bytes as written. */
static int parse_quoted(cursor *c, span *out) {
    if (!cur_eat(c, '"'))
        return -1;
    const uint8_t *s = c->p;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\' && c->p + 1 < c->end)
            c->p++;
        c->p++;
    }
    if (c->p == c->end)
        return -1;
    *out = span_of(s, c->p);
    c->p++;
    return 0;
}

static int is_method_char(int ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '-' ||
           ch == '_';
}

/* "METHOD TARGET HTTP/x": anything else stays whole in cs-uri. */
static void split_request(struct access_parts *ap) {
    span r = ap->request;
    ap->uri = r;
    const char *sp1 = memchr(r.p, ' ', r.n);
    const char *sp2 = NULL;
    for (size_t i = r.n; i > 0; i--)
        if (r.p[i - 1] == ' ') {
            sp2 = r.p + i - 1;
            break;
        }
    if (!sp1 || sp1 == r.p || sp2 <= sp1 + 1)
        return;
    for (const char *m = r.p; m < sp1; m++)
        if (!is_method_char((unsigned char)*m))
            return;
    span ver = {sp2 + 1, (size_t)(r.p + r.n - (sp2 + 1))};
    if (ver.n < 6 || memcmp(ver.p, "HTTP/", 5) != 0)
        return;
    ap->method = (span){r.p, (size_t)(sp1 - r.p)};
    ap->version = ver;
    ap->uri = (span){sp1 + 1, (size_t)(sp2 - (sp1 + 1))};
    const char *q = memchr(ap->uri.p, '?', ap->uri.n);
    ap->stem = ap->uri;
    if (q) {
        ap->stem.n = (size_t)(q - ap->uri.p);
        ap->query = (span){q + 1, (size_t)(ap->uri.p + ap->uri.n - (q + 1))};
    }
}

/* [vhost:port] host ident authuser [time] "request" status bytes ["referer" "agent"] */
static int parse_access(const uint8_t *line, size_t len, struct access_parts *ap) {
    cursor c = {line, line + len};
    memset(ap, 0, sizeof(*ap));
    span tok[4];
    size_t ntok = 0;
    while (cur_peek(&c) != '[') {
        if (ntok == 4)
            return -1;
        tok[ntok] = cur_token(&c);
        if (tok[ntok].n == 0 || !cur_eat(&c, ' '))
            return -1;
        ntok++;
    }
    if (ntok < 3)
        return -1;
    if (ntok == 4) {
        ap->vhost = tok[0];
        const char *colon = memrchr(tok[0].p, ':', tok[0].n);
        if (colon && colon > tok[0].p)
            ap->vhost.n = (size_t)(colon - tok[0].p);
    }
    ap->ip = tok[ntok - 3];
    ap->user = nil_is_unset(tok[ntok - 1]);
    c.p++;
    const uint8_t *ts = c.p;
    while (c.p < c.end && *c.p != ']' && c.p - ts < ACCESS_TS_MAX)
        c.p++;
    if (!cur_eat(&c, ']') || c.p - 1 == ts)
        return -1;
    ap->ts = span_of(ts, c.p - 1);
    if (!cur_eat(&c, ' ') || parse_quoted(&c, &ap->request) != 0 || !cur_eat(&c, ' '))
        return -1;
    const uint8_t *st = c.p;
    if (!cur_digits(&c, 1, 3) || !cur_eat(&c, ' '))
        return -1;
    ap->status = span_of(st, c.p - 1);
    ap->bytes = cur_token(&c);
    if (ap->bytes.n == 0)
        return -1;
    if (!span_is(ap->bytes, "-")) {
        for (size_t i = 0; i < ap->bytes.n; i++)
            if (!is_digit((unsigned char)ap->bytes.p[i]))
                return -1;
    } else {
        ap->bytes = (span){0};
    }
    /* Referer and agent are optional (common log format); fields after them are not
     * ours (nginx adds some) and are ignored. */
    cursor t = c;
    span ref, ua;
    if (cur_eat(&t, ' ') && parse_quoted(&t, &ref) == 0) {
        ap->referer = ref;
        if (cur_eat(&t, ' ') && parse_quoted(&t, &ua) == 0)
            ap->agent = ua;
    }
    split_request(ap);
    return 0;
}

static int decode_access(ward_event *ev) {
    struct access_parts ap;
    if (parse_access(ev->line, ev->line_len, &ap) != 0)
        return DEC_NO;
    set_span(ev, "cs-host", ap.vhost);
    set_span(ev, "c-ip", ap.ip);
    set_span(ev, "cs-username", ap.user);
    set_span(ev, "timestamp", ap.ts);
    set_span(ev, "cs-method", ap.method);
    set_span(ev, "cs-uri", ap.uri);
    set_span(ev, "cs-uri-stem", ap.stem);
    set_span(ev, "cs-uri-query", ap.query);
    set_span(ev, "cs-version", ap.version);
    set_span(ev, "sc-status", ap.status);
    set_span(ev, "cs-bytes", ap.bytes);
    set_span(ev, "cs-referer", ap.referer);
    set_span(ev, "cs-user-agent", ap.agent);
    return DEC_YES;
}

/* ---------------------------------------------------------------------------------- */
/* JSON */

/* Marks a field name too long for the name buffer: fields below it are dropped. */
#define JSON_NAME_OVER ((size_t)-1)

struct json_ctx {
    cursor c;
    ward_event *ev;
    int oom;
    size_t nlen; /* length of the current dotted name, or JSON_NAME_OVER */
    char name[JSON_NAME_MAX];
};

static int json_is_ws(int ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static void json_ws(cursor *c) {
    while (c->p < c->end && json_is_ws(*c->p))
        c->p++;
}

static int hex_value(int ch) {
    if (is_digit(ch))
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Four hex digits at p (p has at least 4 bytes); -1 if not hex. */
static long hex4(const uint8_t *p) {
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Checks a string at c (after the opening quote has NOT been consumed). Sets *out to the
 * bytes between the quotes and *escaped when they hold a backslash. */
static int json_string(cursor *c, span *out, int *escaped) {
    if (!cur_eat(c, '"'))
        return -1;
    const uint8_t *s = c->p;
    *escaped = 0;
    for (;;) {
        if (c->p == c->end)
            return -1;
        uint8_t ch = *c->p;
        if (ch == '"')
            break;
        if (ch < 0x20)
            return -1;
        if (ch != '\\') {
            c->p++;
            continue;
        }
        *escaped = 1;
        if (cur_left(c) < 2)
            return -1;
        uint8_t e = c->p[1];
        if (e == 'u') {
            if (cur_left(c) < 6 || hex4(c->p + 2) < 0)
                return -1;
            c->p += 6;
        } else if (e != '\0' && strchr("\"\\/bfnrt", e)) {
            c->p += 2;
        } else {
            return -1;
        }
    }
    *out = span_of(s, c->p);
    c->p++;
    return 0;
}

static size_t utf8_put(char *out, unsigned long cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Unescapes a string json_string() accepted into out, which has room for n bytes (the
 * result is never longer than the escaped text). A lone surrogate becomes U+FFFD.
 * Returns the length written. */
static size_t json_unescape(const char *in, size_t n, char *out) {
    const uint8_t *p = (const uint8_t *)in;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (p[i] != '\\') {
            out[o++] = (char)p[i++];
            continue;
        }
        uint8_t e = p[i + 1];
        i += 2;
        if (e != 'u') {
            static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
            const char *f = strchr(from, e);
            out[o++] = f ? to[f - from] : (char)e;
            continue;
        }
        unsigned long cp = (unsigned long)hex4(p + i);
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 <= n && p[i] == '\\' && p[i + 1] == 'u') {
            unsigned long lo = (unsigned long)hex4(p + i + 2);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF)
            cp = 0xFFFD;
        o += utf8_put(out + o, cp);
    }
    return o;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int json_number(cursor *c) {
    cur_eat(c, '-');
    if (cur_eat(c, '0')) {
        if (is_digit(cur_peek(c)))
            return -1;
    } else if (!cur_digits(c, 1, SIZE_MAX)) {
        return -1;
    }
    if (cur_eat(c, '.') && !cur_digits(c, 1, SIZE_MAX))
        return -1;
    if (cur_eat(c, 'e') || cur_eat(c, 'E')) {
        if (!cur_eat(c, '+'))
            cur_eat(c, '-');
        if (!cur_digits(c, 1, SIZE_MAX))
            return -1;
    }
    return 0;
}

static int json_literal(cursor *c, const char *lit) {
    size_t n = strlen(lit);
    if (cur_left(c) < n || memcmp(c->p, lit, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

/* Sets the field named by the current dotted name. Returns -1 only when memory ran out. */
static int json_set(struct json_ctx *j, const char *val, size_t len, int escaped) {
    ward_event *ev = j->ev;
    if (j->nlen == JSON_NAME_OVER) {
        ev->dropped_fields++;
        return 0;
    }
    j->name[j->nlen] = '\0';
    if (name_is_reserved(j->name)) {
        ev->dropped_fields++;
        return 0;
    }
    char *n = ward_event_strdup(ev, j->name, j->nlen);
    if (!n)
        goto oom;
    if (!escaped) {
        ward_event_set(ev, n, val, len);
        return 0;
    }
    char *v = ward_event_strdup(ev, val, len);
    if (!v)
        goto oom;
    size_t vn = json_unescape(val, len, v);
    v[vn] = '\0';
    set_built(ev, n, v, vn);
    return 0;
oom:
    j->oom = 1;
    return -1;
}

/* Appends ".part" (or "part" at the top) to the current name; the caller saves and
 * restores j->nlen around it. part is either raw bytes (escaped == 0) or an escaped JSON
 * key. */
static void json_name_push(struct json_ctx *j, const char *part, size_t n, int escaped) {
    size_t old = j->nlen;
    if (old == JSON_NAME_OVER)
        return;
    size_t dot = old > 0;
    /* The unescaped key is never longer than n; +1 keeps room for the NUL. */
    if (n + dot + 1 > JSON_NAME_MAX - old) {
        j->nlen = JSON_NAME_OVER;
        return;
    }
    if (dot)
        j->name[old] = '.';
    if (escaped)
        j->nlen = old + dot + json_unescape(part, n, j->name + old + dot);
    else {
        memcpy(j->name + old + dot, part, n);
        j->nlen = old + dot + n;
    }
}

static int json_value(struct json_ctx *j, unsigned depth, int emit);

static int json_object(struct json_ctx *j, unsigned depth, int emit) {
    cursor *c = &j->c;
    c->p++; /* '{' */
    json_ws(c);
    if (cur_eat(c, '}'))
        return 0;
    for (;;) {
        span key;
        int escaped;
        json_ws(c);
        if (json_string(c, &key, &escaped) != 0)
            return -1;
        json_ws(c);
        if (!cur_eat(c, ':'))
            return -1;
        size_t old = j->nlen;
        if (emit)
            json_name_push(j, key.p, key.n, escaped);
        int r = json_value(j, depth + 1, emit);
        j->nlen = old;
        if (r != 0)
            return -1;
        json_ws(c);
        if (cur_eat(c, '}'))
            return 0;
        if (!cur_eat(c, ','))
            return -1;
    }
}

/* The array's own key gets its raw text; scalar elements also get key.0, key.1, ...,
 * and container elements their raw text under key.N (not expanded further). */
static int json_array(struct json_ctx *j, unsigned depth, int emit) {
    cursor *c = &j->c;
    const uint8_t *start = c->p;
    c->p++; /* '[' */
    json_ws(c);
    if (!cur_eat(c, ']')) {
        for (size_t i = 0;; i++) {
            json_ws(c);
            char idx[24];
            int n = 0;
            size_t v = i;
            do {
                idx[sizeof(idx) - 1 - (size_t)n++] = (char)('0' + v % 10);
                v /= 10;
            } while (v);
            size_t old = j->nlen;
            if (emit)
                json_name_push(j, idx + sizeof(idx) - n, (size_t)n, 0);
            int container = cur_peek(c) == '{' || cur_peek(c) == '[';
            const uint8_t *es = c->p;
            int r = json_value(j, depth + 1, emit && !container);
            if (r == 0 && emit && container)
                r = json_set(j, (const char *)es, (size_t)(c->p - es), 0);
            j->nlen = old;
            if (r != 0)
                return -1;
            json_ws(c);
            if (cur_eat(c, ']'))
                break;
            if (!cur_eat(c, ','))
                return -1;
        }
    }
    return emit ? json_set(j, (const char *)start, (size_t)(c->p - start), 0) : 0;
}

/* Parses one value at the cursor; with emit, sets its fields under the current name.
 * Recursion is bounded by JSON_MAX_DEPTH. Returns 0 or -1 (malformed, too deep, or out
 * of memory: j->oom says which). */
static int json_value(struct json_ctx *j, unsigned depth, int emit) {
    cursor *c = &j->c;
    json_ws(c);
    const uint8_t *s = c->p;
    int ch = cur_peek(c);
    if (ch == '{' || ch == '[') {
        if (depth >= JSON_MAX_DEPTH)
            return -1;
        return ch == '{' ? json_object(j, depth, emit) : json_array(j, depth, emit);
    }
    if (ch == '"') {
        span str;
        int escaped;
        if (json_string(c, &str, &escaped) != 0)
            return -1;
        return emit ? json_set(j, str.p, str.n, escaped) : 0;
    }
    int r;
    if (ch == 't')
        r = json_literal(c, "true");
    else if (ch == 'f')
        r = json_literal(c, "false");
    else if (ch == 'n')
        r = json_literal(c, "null");
    else
        r = json_number(c);
    if (r != 0)
        return -1;
    return emit ? json_set(j, (const char *)s, (size_t)(c->p - s), 0) : 0;
}

static int decode_json(ward_event *ev) {
    struct json_ctx j;
    j.c = (cursor){ev->line, ev->line + ev->line_len};
    j.ev = ev;
    j.oom = 0;
    j.nlen = 0;
    json_ws(&j.c);
    if (cur_peek(&j.c) != '{')
        return DEC_NO;
    if (json_value(&j, 0, 1) != 0)
        return j.oom ? DEC_OOM : DEC_NO;
    json_ws(&j.c);
    if (j.c.p != j.c.end)
        return DEC_NO;
    if (!ward_event_get(ev, "message")) {
        const ward_field *m = ward_event_get(ev, "msg");
        if (m)
            ward_event_set_kept(ev, "message", m->val, m->val_len);
    }
    return DEC_YES;
}

/* ---------------------------------------------------------------------------------- */
/* key=value */

static int is_key_char(int ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '_' ||
           ch == '.' || ch == '-';
}

/* A backslash takes the next byte literally. Returns the length written to out. */
static size_t kv_unescape(const char *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '\\' && i + 1 < n)
            i++;
        out[o++] = in[i];
    }
    return o;
}

static int kv_emit(ward_event *ev, span key, span val, int escaped) {
    char *n = ward_event_strdup(ev, key.p, key.n);
    if (!n)
        return -1;
    if (name_is_reserved(n)) {
        ev->dropped_fields++;
        return 0;
    }
    if (!escaped) {
        ward_event_set(ev, n, val.p, val.n);
        return 0;
    }
    char *v = ward_event_strdup(ev, val.p, val.n);
    if (!v)
        return -1;
    size_t vn = kv_unescape(val.p, val.n, v);
    v[vn] = '\0';
    set_built(ev, n, v, vn);
    return 0;
}

/* A value after '=': quoted (with backslash escapes; an unterminated quote runs to the
 * end of the line) or a run of non-blanks. */
static span kv_value(cursor *c, int *escaped) {
    *escaped = 0;
    int q = cur_peek(c);
    if (q != '"' && q != '\'') {
        const uint8_t *s = c->p;
        while (c->p < c->end && !is_blank(*c->p))
            c->p++;
        return span_of(s, c->p);
    }
    c->p++;
    const uint8_t *s = c->p;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' && c->p + 1 < c->end) {
            *escaped = 1;
            c->p++;
        }
        c->p++;
    }
    span v = span_of(s, c->p);
    cur_eat(c, q);
    return v;
}

static int decode_kv(ward_event *ev) {
    cursor c = {ev->line, ev->line + ev->line_len};
    int pairs = 0;
    while (c.p < c.end) {
        cur_skip_blanks(&c);
        const uint8_t *ks = c.p;
        while (c.p < c.end && is_key_char(*c.p) && c.p - ks < KV_KEY_MAX)
            c.p++;
        span key = span_of(ks, c.p);
        if (key.n == 0 || !cur_eat(&c, '=')) {
            while (c.p < c.end && !is_blank(*c.p))
                c.p++;
            continue;
        }
        int escaped;
        span val = kv_value(&c, &escaped);
        if (kv_emit(ev, key, val, escaped) != 0)
            return DEC_OOM;
        pairs++;
    }
    return pairs ? DEC_YES : DEC_NO;
}

/* ---------------------------------------------------------------------------------- */
/* Dispatch */

int ward_decoder_lookup(const char *name, ward_decoder *out) {
    if (!name)
        return -1;
    for (int d = 0; d < WARD_DECODER_COUNT; d++) {
        if (strcmp(decoder_names[d], name) == 0) {
            *out = (ward_decoder)d;
            return 0;
        }
    }
    return -1;
}

/* Returns NULL for a value outside the enum. */
const char *ward_decoder_name(ward_decoder d) {
    if ((int)d < 0 || d >= WARD_DECODER_COUNT)
        return NULL;
    return decoder_names[d];
}

static int decode_one(ward_decoder d, ward_event *ev) {
    switch (d) {
    case WARD_DECODER_SYSLOG:
        return decode_syslog(ev);
    case WARD_DECODER_COMBINED_ACCESS:
        return decode_access(ev);
    case WARD_DECODER_JSON:
        return decode_json(ev);
    case WARD_DECODER_KV:
        return decode_kv(ev);
    default:
        return DEC_NO;
    }
}

/* Tries d; on DEC_NO leaves the event as reset for the next attempt (json and kv may
 * have set fields before they gave up). */
static int try_decoder(ward_decoder d, ward_event *ev) {
    int r = decode_one(d, ev);
    if (r == DEC_NO && (ev->nfields != 1 || ev->transformed || ev->dropped_fields))
        ward_event_reset(ev, ev->line, ev->line_len);
    return r;
}

static int first_is_brace(const ward_event *ev) {
    for (size_t i = 0; i < ev->line_len; i++) {
        if (!is_blank(ev->line[i]))
            return ev->line[i] == '{';
    }
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* fail2ban */

/* f2b.line: the line without the date fail2ban finds in it. fail2ban joins what comes
 * before and after the date, so the result is a suffix or prefix of the line when the
 * date was at its start or end, and new text otherwise. That text is built in the
 * event's arena after a copy of the line ("line\njoined"), and the event's scan buffer
 * is set to the whole: every literal a rule could need, in f2b.line or in a field that
 * is part of the line, is then in what the literal prefilter scans, and the event need
 * not be transformed (which would make every rule a candidate). A line without a date
 * is kept whole, also when the search gave up (counted in ev->limit_hits): fail2ban
 * would have found no date either. */
static int decode_f2b_line(ward_event *ev) {
    const ward_f2bdate *det = ward_f2bdate_default();
    if (!det)
        return DEC_OOM;
    const char *line = (const char *)ev->line;
    size_t len = ev->line_len, s = 0, e = 0;
    int found = ward_f2bdate_find(det, ev->line, len, &s, &e, NULL);
    if (found < 0)
        ev->limit_hits++;
    if (found != 1 || s == e) {
        ward_event_set_kept(ev, "f2b.line", line, len);
        return DEC_YES;
    }
    if (s == 0 || e == len) {
        ward_event_set_kept(ev, "f2b.line", s == 0 ? line + e : line, s == 0 ? len - e : s);
        return DEC_YES;
    }
    size_t n = s + (len - e);
    if (n > SIZE_MAX - 1 - len)
        return DEC_OOM;
    char *buf = ward_event_alloc(ev, len + 1 + n);
    if (!buf)
        return DEC_OOM;
    memcpy(buf, line, len);
    buf[len] = '\n';
    memcpy(buf + len + 1, line, s);
    memcpy(buf + len + 1 + s, line + e, len - e);
    ward_event_set_kept(ev, "f2b.line", buf + len + 1, n);
    ev->scan = (const uint8_t *)buf;
    ev->scan_len = len + 1 + n;
    return DEC_YES;
}

int ward_decode(ward_decoder d, const uint8_t *line, size_t len, ward_event *ev) {
    ward_event_reset(ev, line, len);
    ward_decoder got = WARD_DECODER_RAW;
    int r = DEC_NO;
    if (d == WARD_DECODER_AUTO || d == WARD_DECODER_FAIL2BAN) {
        static const ward_decoder order[] = {WARD_DECODER_JSON, WARD_DECODER_SYSLOG,
                                             WARD_DECODER_COMBINED_ACCESS};
        for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && r == DEC_NO; i++) {
            if (order[i] == WARD_DECODER_JSON && !first_is_brace(ev))
                continue;
            r = try_decoder(order[i], ev);
            got = order[i];
        }
    } else if (d > WARD_DECODER_RAW && d < WARD_DECODER_AUTO) {
        r = try_decoder(d, ev);
        got = d;
    }
    if (r == DEC_OOM)
        ward_event_reset(ev, line, len);
    if (r != DEC_YES)
        got = WARD_DECODER_RAW;
    if (!ward_event_get(ev, "message"))
        ward_event_set_kept(ev, "message", (const char *)line, len);
    /* an empty line is raw for every decoder: no failregex has anything to match */
    if (d == WARD_DECODER_FAIL2BAN && r != DEC_OOM && len > 0) {
        r = decode_f2b_line(ev);
        got = WARD_DECODER_FAIL2BAN;
        if (r == DEC_OOM) {
            ward_event_reset(ev, line, len);
            ward_event_set(ev, "message", (const char *)line, len);
            got = WARD_DECODER_RAW;
        }
    }
    ev->decoder = decoder_names[got];
    return r == DEC_OOM ? -1 : (int)got;
}
