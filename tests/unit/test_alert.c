/* Alerts: the JSON schema (read back with ward's own JSON decoder), ECS mapping, ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ward/alert.h"
#include "ward/decode.h"

static ward_rules rs;

static const ward_rule *load_rule(const char *yaml) {
    ward_diags d;
    ward_rules_init(&rs);
    ward_diags_init(&d);
    int rc = ward_rules_load_buffer(&rs, "t.yml", (const uint8_t *)yaml, strlen(yaml), &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.v[i].msg);
    assert_int_equal(rc, 0);
    ward_diags_fini(&d);
    return rs.v[0];
}

/* The alert written for a, decoded back as JSON into out (flattened dotted names). */
static void roundtrip(const ward_alert *a, ward_buf *b, ward_event *out) {
    ward_buf_reset(b);
    assert_int_equal(ward_alert_json(b, a), 0);
    assert_true(b->len > 2);
    assert_int_equal(b->p[b->len - 1], '\n');
    assert_null(memchr(b->p, '\n', b->len - 1)); /* one line */
    assert_non_null(ward_buf_cstr(b));           /* for strstr below */
    ward_decode(WARD_DECODER_JSON, (const uint8_t *)b->p, b->len - 1, out);
    assert_string_equal(out->decoder, "json"); /* it parsed as a JSON object */
}

static void want(const ward_event *ev, const char *name, const char *val) {
    const ward_field *f = ward_event_get(ev, name);
    if (!f)
        fail_msg("no field %s", name);
    if (f->val_len != strlen(val) || memcmp(f->val, val, f->val_len) != 0)
        fail_msg("%s = '%.*s', want '%s'", name, (int)f->val_len, f->val, val);
}

static void absent(const ward_event *ev, const char *name) {
    if (ward_event_get(ev, name))
        fail_msg("field %s should be absent", name);
}

static const char sshd_rule[] =
    "title: SSH failed password\nid: ward-sshd-fp\nlevel: high\nrev: 3\n"
    "description: a failed password\nauthor: ward\n"
    "references: ['https://example.org/a']\n"
    "tags: [attack.credential_access, attack.t1110.001, attack.g0016]\n"
    "logsource: {product: linux, service: sshd}\n"
    "detection: {sel: {message|startswith: 'Failed password'}, condition: sel}\n"
    "threshold: {count: 3, within: 60, group_by: [src_ip, user]}\n";

static void test_alert_schema_of_a_syslog_alert(void **state) {
    (void)state;
    const ward_rule *r = load_rule(sshd_rule);
    const char *line = "Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for root from "
                       "112.95.230.3 port 41090 ssh2";
    ward_event ev, back;
    ward_event_init(&ev);
    ward_event_init(&back);
    ward_decode(WARD_DECODER_SYSLOG, (const uint8_t *)line, strlen(line), &ev);
    ward_alert_field x[] = {
        {"user", "root", 4}, {"src_ip", "112.95.230.3", 12}, {"src_port", "41090", 5}};
    ward_alert_src src = {.kind = "file",
                          .name = "auth",
                          .path = "/var/log/auth.log",
                          .offset = 4096,
                          .has_offset = 1};
    ward_corr_result thr = {
        .fire = 1, .count = 3, .first_ms = 1764572100000ull, .last_ms = 1764572148000ull};
    ward_alert a = {.time_ms = 1764572148123ull,
                    .agent_id = "council-a/web01",
                    .agent_name = "web01",
                    .agent_version = "0.1",
                    .host_name = "web01",
                    .rule = r,
                    .ev = &ev,
                    .extracted = x,
                    .nextracted = 3,
                    .threshold = &thr,
                    .group = (ward_corr_val[]){{"112.95.230.3", 12}, {"root", 4}},
                    .src = &src};
    ward_alert_id(a.id, "file:2049:1234:abcd", 4096, r->id);
    ward_buf b;
    ward_buf_init(&b);
    roundtrip(&a, &b, &back);
    want(&back, "@timestamp", "2025-12-01T06:55:48.123Z");
    want(&back, "event.kind", "alert");
    want(&back, "event.id", a.id);
    want(&back, "event.severity", "73");
    /* (read back, event.original is the decoder's own: look at the text) */
    char orig[256];
    snprintf(orig, sizeof(orig), "\"original\":\"%s\"}", line);
    assert_non_null(strstr(b.p, orig));
    want(&back, "event.start", "2025-12-01T06:55:00.000Z");
    want(&back, "event.end", "2025-12-01T06:55:48.000Z");
    want(&back, "message", "Failed password for root from 112.95.230.3 port 41090 ssh2");
    want(&back, "rule.id", "ward-sshd-fp");
    want(&back, "rule.name", "SSH failed password");
    want(&back, "rule.version", "3");
    want(&back, "rule.reference.0", "https://example.org/a");
    want(&back, "tags.1", "attack.t1110.001");
    want(&back, "threat.technique.id.0", "T1110.001");
    want(&back, "threat.tactic.name.0", "credential_access");
    absent(&back, "threat.tactic.name.1"); /* g0016 is a group, not a tactic */
    want(&back, "agent.id", "council-a/web01");
    want(&back, "agent.type", "ward-agent");
    want(&back, "host.name", "web01");
    want(&back, "log.file.path", "/var/log/auth.log");
    want(&back, "log.offset", "4096");
    want(&back, "log.syslog.hostname", "LabSZ");
    want(&back, "source.ip", "112.95.230.3");
    want(&back, "source.port", "41090");
    want(&back, "user.name", "root");
    want(&back, "process.name", "sshd");
    want(&back, "process.pid", "24200");
    want(&back, "ward.level", "high");
    want(&back, "ward.mode", "alert");
    want(&back, "ward.decoder", "syslog");
    want(&back, "ward.source.kind", "file");
    want(&back, "ward.fields.program", "sshd");
    want(&back, "ward.extracted.src_port", "41090");
    want(&back, "ward.threshold.count", "3");
    want(&back, "ward.threshold.window_s", "60");
    want(&back, "ward.threshold.group.src_ip", "112.95.230.3");
    want(&back, "ward.threshold.group.user", "root");
    absent(&back, "ward.original_base64");
    absent(&back, "ward.truncated");
    /* numbers are JSON numbers, not strings */
    assert_non_null(strstr(b.p, "\"port\":41090"));
    assert_non_null(strstr(b.p, "\"pid\":24200"));
    assert_non_null(strstr(b.p, "\"severity\":73"));
    ward_buf_fini(&b);
    ward_event_fini(&ev);
    ward_event_fini(&back);
    ward_rules_fini(&rs);
}

static void test_alert_web_fields_and_odd_bytes(void **state) {
    (void)state;
    const ward_rule *r = load_rule("title: t\nid: w1\nlevel: low\n"
                                   "detection: {sel: {cs-uri|contains: '../'}, condition: sel}\n");
    /* a host name in c-ip and an invalid UTF-8 byte in the request */
    const char *line = "gw.example.org - - [25/Nov/2026:10:01:02 +0000] \"GET /a/../b?x=\xff "
                       "HTTP/1.1\" 404 162 \"-\" \"curl/8.5.0\"";
    ward_event ev, back;
    ward_event_init(&ev);
    ward_event_init(&back);
    ward_decode(WARD_DECODER_COMBINED_ACCESS, (const uint8_t *)line, strlen(line), &ev);
    /* an extracted field follows the base64 of the line: the members must stay apart */
    ward_alert_field x = {"path", "/a/../b", 7};
    ward_alert a = {.time_ms = 0, .rule = r, .ev = &ev, .extracted = &x, .nextracted = 1};
    ward_alert_id(a.id, "stdin", 0, r->id);
    ward_buf b;
    ward_buf_init(&b);
    roundtrip(&a, &b, &back);
    want(&back, "@timestamp", "1970-01-01T00:00:00.000Z");
    want(&back, "ward.mode", "alert");
    want(&back, "ward.extracted.path", "/a/../b");
    want(&back, "event.severity", "21");
    assert_string_equal(ev.decoder, "combined_access");
    {
        want(&back, "source.address", "gw.example.org"); /* not an address: not source.ip */
        absent(&back, "source.ip");
        want(&back, "http.request.method", "GET");
        want(&back, "http.response.status_code", "404");
        want(&back, "user_agent.original", "curl/8.5.0");
        absent(&back, "user.name"); /* "-" means none */
        absent(&back, "http.request.referrer");
    }
    /* the exact bytes survive in base64 */
    const ward_field *f = ward_event_get(&back, "ward.original_base64");
    assert_non_null(f);
    assert_non_null(strstr(b.p, "\\ufffd"));
    ward_buf raw;
    ward_buf_init(&raw);
    ward_buf_base64(&raw, (const uint8_t *)line, strlen(line));
    assert_int_equal(f->val_len, raw.len);
    assert_memory_equal(f->val, raw.p, raw.len);
    ward_buf_fini(&raw);
    ward_buf_fini(&b);
    ward_event_fini(&ev);
    ward_event_fini(&back);
    ward_rules_fini(&rs);
}

static void test_alert_dotted_names_are_flattened(void **state) {
    (void)state;
    const ward_rule *r =
        load_rule("title: t\nid: j1\nlevel: critical\ndetection: {k: [x], condition: k}\n");
    const char *line = "{\"program\":\"a\",\"program.module\":\"b\",\"msg\":\"x\"}";
    ward_event ev, back;
    ward_event_init(&ev);
    ward_event_init(&back);
    ward_decode(WARD_DECODER_JSON, (const uint8_t *)line, strlen(line), &ev);
    ward_alert a = {.time_ms = 1000, .rule = r, .ev = &ev};
    ward_alert_id(a.id, "k", 1, r->id);
    ward_buf b;
    ward_buf_init(&b);
    roundtrip(&a, &b, &back);
    want(&back, "ward.fields.program", "a");
    want(&back, "ward.fields.program_module", "b");
    want(&back, "event.severity", "99");
    ward_buf_fini(&b);
    ward_event_fini(&ev);
    ward_event_fini(&back);
    ward_rules_fini(&rs);
}

/* The rule's and the agent's members made once give the very same alert. */
static void test_alert_cached_parts_give_the_same_text(void **state) {
    (void)state;
    const ward_rule *r = load_rule(sshd_rule);
    const char *line = "Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for root from "
                       "112.95.230.3 port 41090 ssh2";
    ward_event ev;
    ward_event_init(&ev);
    ward_decode(WARD_DECODER_SYSLOG, (const uint8_t *)line, strlen(line), &ev);
    ward_alert a = {.time_ms = 1,
                    .agent_id = "a\"1",
                    .agent_name = "n",
                    .host_name = "h",
                    .agent_version = "0",
                    .rule = r,
                    .ev = &ev};
    ward_alert_id(a.id, "k", 1, r->id);
    ward_buf plain, rule, agent, cached;
    ward_buf_init(&plain);
    ward_buf_init(&rule);
    ward_buf_init(&agent);
    ward_buf_init(&cached);
    assert_int_equal(ward_alert_json(&plain, &a), 0);
    assert_int_equal(ward_alert_rule_json(&rule, r), 0);
    assert_int_equal(ward_alert_agent_json(&agent, &a), 0);
    a.rule_json = rule.p;
    a.rule_json_len = rule.len;
    a.agent_json = agent.p;
    a.agent_json_len = agent.len;
    assert_int_equal(ward_alert_json(&cached, &a), 0);
    assert_int_equal(cached.len, plain.len);
    assert_memory_equal(cached.p, plain.p, plain.len);
    /* message is not repeated under ward.fields */
    ward_buf_cstr(&plain);
    assert_null(strstr(plain.p, "\"fields\":{\"message\""));
    assert_non_null(strstr(plain.p, "\"message\":\"Failed password"));
    ward_buf_fini(&plain);
    ward_buf_fini(&rule);
    ward_buf_fini(&agent);
    ward_buf_fini(&cached);
    ward_event_fini(&ev);
    ward_rules_fini(&rs);
}

static void test_alert_id_is_stable_and_distinct(void **state) {
    (void)state;
    char a[33], b[33];
    ward_alert_id(a, "file:1:2:ff", 100, "r1");
    ward_alert_id(b, "file:1:2:ff", 100, "r1");
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 32);
    for (int i = 0; i < 32; i++)
        assert_non_null(strchr("0123456789abcdef", a[i]));
    ward_alert_id(b, "file:1:2:ff", 101, "r1");
    assert_string_not_equal(a, b);
    ward_alert_id(b, "file:1:2:ff", 100, "r2");
    assert_string_not_equal(a, b);
    ward_alert_id(b, "file:1:2:fe", 100, "r1");
    assert_string_not_equal(a, b);
    /* the fields are length-prefixed: moving bytes between them changes the id */
    ward_alert_id(a, "ab", 0, "c");
    ward_alert_id(b, "a", 0, "bc");
    assert_string_not_equal(a, b);
    ward_alert_id(a, NULL, 0, NULL);
    ward_alert_id(b, "", 0, "");
    assert_string_equal(a, b);
}

static void test_alert_time_format(void **state) {
    (void)state;
    char t[32];
    ward_alert_time(t, 0);
    assert_string_equal(t, "1970-01-01T00:00:00.000Z");
    ward_alert_time(t, 951782400999ull); /* a leap day */
    assert_string_equal(t, "2000-02-29T00:00:00.999Z");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alert_schema_of_a_syslog_alert),
        cmocka_unit_test(test_alert_web_fields_and_odd_bytes),
        cmocka_unit_test(test_alert_dotted_names_are_flattened),
        cmocka_unit_test(test_alert_cached_parts_give_the_same_text),
        cmocka_unit_test(test_alert_id_is_stable_and_distinct),
        cmocka_unit_test(test_alert_time_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
