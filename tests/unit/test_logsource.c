#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ward/decode.h"
#include "ward/detect.h"
#include "ward/engine.h"
#include "ward/logsource.h"
#include "ward/rule.h"

#define DEC(x) (1u << WARD_DECODER_##x)

/* ---- helpers ---- */

static void dump(const ward_diags *d) {
    char buf[1200];
    for (size_t i = 0; i < d->n; i++) {
        ward_diag_format(&d->v[i], buf, sizeof(buf));
        print_error("  have: %s\n", buf);
    }
}

/* Builds an engine from YAML text; fails the test on any load error. */
static ward_engine *engine_from(const char *yaml) {
    ward_rules rs;
    ward_diags d;
    ward_rules_init(&rs);
    ward_diags_init(&d);
    int rc = ward_rules_load_buffer(&rs, "t.yml", (const uint8_t *)yaml, strlen(yaml), &d);
    if (rc)
        dump(&d);
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

static int on_hit(const ward_rule *r, size_t idx, void *ctx) {
    (void)r;
    (void)idx;
    (*(int *)ctx)++;
    return 0;
}

/* Number of rules of e that match line decoded with dec. */
static int hits(const ward_engine *e, const char *line, ward_decoder dec) {
    ward_scratch *s = ward_scratch_new(e);
    assert_non_null(s);
    ward_event ev;
    ward_event_init(&ev);
    ward_decode(dec, (const uint8_t *)line, strlen(line), &ev);
    int n = 0;
    ward_engine_match(e, s, &ev, on_hit, &n);
    /* the prefilter must agree with running every rule */
    int naive = 0;
    ward_engine_match_naive(e, s, &ev, on_hit, &naive);
    assert_int_equal(n, naive);
    ward_event_fini(&ev);
    ward_scratch_free(s);
    return n;
}

static int derive(ward_derive d, const char *key, const char *val, const char *want) {
    const char *out = NULL;
    size_t n = 0;
    int r = ward_derive_value(d, key, val, strlen(val), &out, &n);
    if (!want)
        return r == 0;
    if (r != 1 || n != strlen(want) || memcmp(out, want, n) != 0) {
        print_error("derive(%s) of '%s': got %d '%.*s', want '%s'\n", ward_derive_name(d), val, r,
                    (int)n, out ? out : "", want);
        return 0;
    }
    return 1;
}

#define ACCESS(req, ua)                                                                            \
    "203.0.113.9 - - [10/Oct/2024:13:55:36 +0000] \"" req "\" 200 2326 \"-\" \"" ua "\""

/* ---- the table ---- */

static void test_logsource_find(void **state) {
    (void)state;
    const ward_logsource *ws = ward_logsource_find(NULL, NULL, "webserver");
    assert_non_null(ws);
    /* any product for a web server, case does not matter */
    assert_ptr_equal(ward_logsource_find("Apache", NULL, "WebServer"), ws);
    /* product linux is optional for a linux service */
    const ward_logsource *sshd = ward_logsource_find("linux", "sshd", NULL);
    assert_non_null(sshd);
    assert_ptr_equal(ward_logsource_find(NULL, "sshd", NULL), sshd);
    /* category application is optional for kubernetes */
    assert_ptr_equal(ward_logsource_find("kubernetes", "audit", "application"),
                     ward_logsource_find("kubernetes", "audit", NULL));
    /* not in the table */
    assert_null(ward_logsource_find("linux", "nosuch", NULL));
    assert_null(ward_logsource_find("zeek", "nosuch", NULL));
    assert_null(ward_logsource_find("linux", "sshd", "auth"));
    assert_null(ward_logsource_find(NULL, NULL, NULL));
    assert_null(ward_logsource_find("acme", NULL, NULL));
}

static void test_logsource_refusals(void **state) {
    (void)state;
    const char *why =
        ward_logsource_refusal(ward_logsource_find("rpc_firewall", NULL, "application"));
    assert_non_null(why);
    assert_string_equal(why, "Windows RPC Firewall events, which ward does not read");
    assert_non_null(ward_logsource_refusal(ward_logsource_find("windows", "security", NULL)));
    assert_non_null(ward_logsource_refusal(ward_logsource_find("linux", NULL, "process_creation")));
    assert_null(ward_logsource_refusal(ward_logsource_find(NULL, NULL, "proxy")));
    assert_null(ward_logsource_refusal(NULL));
    /* a web server log from a Windows host is still an access log */
    assert_null(ward_logsource_refusal(ward_logsource_find("windows", NULL, "webserver")));
}

static void test_logsource_decoders_and_programs(void **state) {
    (void)state;
    const ward_logsource *ws = ward_logsource_find(NULL, NULL, "webserver");
    assert_true(ward_logsource_decoders(ws) & DEC(COMBINED_ACCESS));
    assert_false(ward_logsource_decoders(ws) & DEC(SYSLOG));
    assert_null(ward_logsource_programs(ws));
    const char *const *p = ward_logsource_programs(ward_logsource_find("linux", "sshd", NULL));
    assert_non_null(p);
    int session = 0;
    for (; *p; p++)
        session |= strcmp(*p, "sshd-session") == 0;
    assert_true(session);
    uint32_t ad = ward_logsource_decoders(ward_logsource_find("linux", "auditd", NULL));
    assert_true(ad & DEC(KV));
    assert_false(ad & DEC(COMBINED_ACCESS));
    assert_int_equal(ward_logsource_decoders(ward_logsource_find("zeek", "dns", NULL)), DEC(JSON));
    /* not in the table: everything */
    assert_int_equal(ward_logsource_decoders(NULL), (1u << WARD_DECODER_COUNT) - 1);
}

static void test_logsource_produces(void **state) {
    (void)state;
    const ward_logsource *px = ward_logsource_find(NULL, NULL, "proxy");
    assert_int_equal(ward_logsource_produces(px, "cs-user-agent"), 1);
    assert_int_equal(ward_logsource_produces(px, "message"), 1);
    assert_int_equal(ward_logsource_produces(px, "cs-cookie"), 0);
    const ward_logsource *k8s = ward_logsource_find("kubernetes", "audit", NULL);
    assert_int_equal(ward_logsource_produces(k8s, "objectRef.resource"), 1);
    assert_int_equal(ward_logsource_produces(k8s, "objectRef."), 0);
    assert_int_equal(ward_logsource_produces(k8s, "objectRef"), 0);
    assert_int_equal(ward_logsource_produces(k8s, "hostPath"), 0);
    /* JSON events carry whatever the log has */
    assert_int_equal(ward_logsource_produces(ward_logsource_find("zeek", "dns", NULL), "Z"), -1);
    assert_int_equal(ward_logsource_produces(NULL, "x"), -1);
}

static void test_logsource_format(void **state) {
    (void)state;
    char buf[64];
    ward_logsource_format("linux", "auditd", NULL, buf, sizeof(buf));
    assert_string_equal(buf, "product=linux service=auditd");
    ward_logsource_format(NULL, NULL, "proxy", buf, sizeof(buf));
    assert_string_equal(buf, "category=proxy");
    ward_logsource_format(NULL, NULL, NULL, buf, sizeof(buf));
    assert_string_equal(buf, "none");
    ward_logsource_format("a-long-product-name", "service", "category", buf, 16);
    assert_int_equal(strlen(buf), 15);
}

/* Every entry is usable: a refused one reads nothing, the others see some decoder, have a
 * description, and every renaming has a target. */
static void test_logsource_table_consistent(void **state) {
    (void)state;
    assert_true(ward_logsource_count() > 20);
    assert_null(ward_logsource_at(ward_logsource_count()));
    for (size_t i = 0; i < ward_logsource_count(); i++) {
        const ward_logsource *ls = ward_logsource_at(i);
        const char *p, *s, *c;
        ward_logsource_keys(ls, &p, &s, &c);
        assert_true(p || s || c);
        size_t n;
        const ward_fieldmap *m = ward_logsource_map(ls, &n);
        if (ward_logsource_refusal(ls)) {
            assert_int_equal(ward_logsource_decoders(ls), 0);
            assert_int_equal(n, 0);
            continue;
        }
        assert_true(ward_logsource_decoders(ls) != 0);
        for (size_t k = 0; k < n; k++) {
            assert_non_null(m[k].sigma);
            assert_non_null(m[k].to[0].name);
            for (size_t j = 0; j < WARD_FIELDMAP_MAX && m[k].to[j].name; j++)
                assert_true(m[k].to[j].derive < WARD_DERIVE_COUNT);
        }
        /* an entry that a rule could name is found as itself (nothing earlier hides it) */
        const char *q[3] = {p, s, c};
        for (int j = 0; j < 3; j++)
            if (q[j] && (q[j][0] == '?' || strcmp(q[j], "*") == 0))
                q[j] = q[j][0] == '?' ? q[j] + 1 : "x";
        const ward_logsource *found = ward_logsource_find(q[0], q[1], q[2]);
        if (found != ls) {
            const char *fp, *fs, *fc;
            ward_logsource_keys(found, &fp, &fs, &fc);
            print_error("entry %zu (%s %s %s) is hidden by (%s %s %s)\n", i, p ? p : "-",
                        s ? s : "-", c ? c : "-", fp ? fp : "-", fs ? fs : "-", fc ? fc : "-");
        }
        assert_ptr_equal(found, ls);
    }
}

static void test_logsource_fieldmap_find(void **state) {
    (void)state;
    size_t n;
    const ward_fieldmap *m = ward_logsource_map(ward_logsource_find(NULL, NULL, "proxy"), &n);
    const ward_fieldmap *e = ward_fieldmap_find(m, n, "c-useragent");
    assert_non_null(e);
    assert_string_equal(e->to[0].name, "cs-user-agent");
    assert_null(ward_fieldmap_find(m, n, "cs-method"));
    assert_null(ward_fieldmap_find(NULL, 0, "x"));
    m = ward_logsource_map(ward_logsource_find("linux", "auditd", NULL), &n);
    e = ward_fieldmap_find(m, n, "unit");
    assert_non_null(e);
    assert_string_equal(e->sigma, "*");
    assert_int_equal(e->to[1].derive, WARD_DERIVE_KV);
}

/* ---- derivations ---- */

static void test_logsource_derive_extension(void **state) {
    (void)state;
    assert_true(derive(WARD_DERIVE_EXTENSION, NULL, "/a/b/setup.exe", "exe"));
    assert_true(derive(WARD_DERIVE_EXTENSION, NULL, "/a/b.tar.gz", "gz"));
    assert_true(derive(WARD_DERIVE_EXTENSION, NULL, "http://x.example/dl/t.ps1", "ps1"));
    assert_true(derive(WARD_DERIVE_EXTENSION, NULL, "/p.hta?x=1.exe", "hta"));
    assert_true(derive(WARD_DERIVE_EXTENSION, NULL, "/a.b/c", NULL));
    assert_true(derive(WARD_DERIVE_EXTENSION, NULL, "/a/", NULL));
    assert_true(derive(WARD_DERIVE_EXTENSION, NULL, "/a/b.", NULL));
    assert_true(derive(WARD_DERIVE_EXTENSION, NULL, "http://evil.example", NULL));
    assert_true(derive(WARD_DERIVE_EXTENSION, NULL, "http://evil.example?a.exe", NULL));
    assert_true(derive(WARD_DERIVE_EXTENSION, NULL, "", NULL));
}

static void test_logsource_derive_host(void **state) {
    (void)state;
    assert_true(derive(WARD_DERIVE_URL_HOST, NULL, "http://evil.example/x", "evil.example"));
    assert_true(
        derive(WARD_DERIVE_URL_HOST, NULL, "https://u:p@evil.example:8443/x?y", "evil.example"));
    assert_true(derive(WARD_DERIVE_URL_HOST, NULL, "http://[2001:db8::1]:80/", "2001:db8::1"));
    assert_true(derive(WARD_DERIVE_URL_HOST, NULL, "http://10.1.2.3", "10.1.2.3"));
    assert_true(derive(WARD_DERIVE_URL_HOST, NULL, "evil.example:443", "evil.example"));
    assert_true(derive(WARD_DERIVE_URL_HOST, NULL, "/index.html", NULL));
    assert_true(derive(WARD_DERIVE_URL_HOST, NULL, "*", NULL));
    assert_true(derive(WARD_DERIVE_URL_HOST, NULL, "", NULL));
    assert_true(derive(WARD_DERIVE_URL_HOST, NULL, "http:///x", NULL));
    assert_true(derive(WARD_DERIVE_URL_HOST, NULL, "http://[::1/", NULL));
    assert_true(derive(WARD_DERIVE_URL_HOST, NULL, "a:b:c", NULL));
}

static void test_logsource_derive_path(void **state) {
    (void)state;
    assert_true(derive(WARD_DERIVE_URL_PATH, NULL, "http://c2.example/admin/get.php?x=1",
                       "/admin/get.php?x=1"));
    assert_true(derive(WARD_DERIVE_URL_PATH, NULL, "http://c2.example?x=1", "?x=1"));
    assert_true(derive(WARD_DERIVE_URL_PATH, NULL, "http://c2.example", NULL));
    assert_true(derive(WARD_DERIVE_URL_PATH, NULL, "/admin/get.php", NULL));
    assert_true(derive(WARD_DERIVE_URL_PATH, NULL, "c2.example:443", NULL));
    assert_string_equal(ward_derive_name(WARD_DERIVE_URL_PATH), "path");
}

static void test_logsource_derive_kv(void **state) {
    (void)state;
    const char *msg = "unit=firewalld comm=\"systemd\" exe='/usr/lib/systemd' res=success";
    assert_true(derive(WARD_DERIVE_KV, "unit", msg, "firewalld"));
    assert_true(derive(WARD_DERIVE_KV, "comm", msg, "systemd"));
    assert_true(derive(WARD_DERIVE_KV, "exe", msg, "/usr/lib/systemd"));
    assert_true(derive(WARD_DERIVE_KV, "res", msg, "success"));
    assert_true(derive(WARD_DERIVE_KV, "nit", msg, NULL)); /* at a word start only */
    assert_true(derive(WARD_DERIVE_KV, "acct", msg, NULL));
    assert_true(derive(WARD_DERIVE_KV, "", msg, NULL));
    assert_true(derive(WARD_DERIVE_KV, NULL, msg, NULL));
    assert_true(derive(WARD_DERIVE_KV, "a", "a=\"open", "open")); /* unterminated quote */
    assert_true(derive(WARD_DERIVE_KV, "a", "a=", ""));
}

static void test_logsource_derive_json_key(void **state) {
    (void)state;
    const char *vols = "[{\"name\":\"h\",\"hostPath\":{\"path\":\"/\",\"type\":\"\"}},"
                       "{\"name\":\"s\",\"secret\":{\"n\":\"hostPath\"}}]";
    assert_true(derive(WARD_DERIVE_JSON_KEY, "hostPath", vols, "{\"path\":\"/\",\"type\":\"\"}"));
    assert_true(derive(WARD_DERIVE_JSON_KEY, "name", vols, "h"));
    assert_true(derive(WARD_DERIVE_JSON_KEY, "path", vols, "/"));
    /* "hostPath" as a value is not a key */
    assert_true(derive(WARD_DERIVE_JSON_KEY, "hostPath", "[{\"n\":\"hostPath\"}]", NULL));
    assert_true(derive(WARD_DERIVE_JSON_KEY, "n", "{ \"n\" : 12 , \"m\":[1,\"]\",{}]}", "12"));
    assert_true(derive(WARD_DERIVE_JSON_KEY, "m", "{\"m\":[1,\"]\",{}]}", "[1,\"]\",{}]"));
    assert_true(derive(WARD_DERIVE_JSON_KEY, "m", "{\"m\":\"a\\\"b\"}", "a\\\"b"));
    assert_true(derive(WARD_DERIVE_JSON_KEY, "m", "{\"m\" 1}", NULL));
    assert_true(derive(WARD_DERIVE_JSON_KEY, "m", "{\"m\":[1,2", "[1,2"));
    assert_true(derive(WARD_DERIVE_JSON_KEY, "m", "{\"m\":\"ab", "\"ab"));
    assert_true(derive(WARD_DERIVE_JSON_KEY, NULL, "{\"m\":1}", NULL));
    assert_true(derive(WARD_DERIVE_NONE, NULL, "as is", "as is"));
    assert_true(derive(WARD_DERIVE_NIL, NULL, "-", ""));
    assert_true(derive(WARD_DERIVE_NIL, NULL, "--", "--"));
    assert_true(derive(WARD_DERIVE_NIL, NULL, "curl/8", "curl/8"));
    assert_string_equal(ward_derive_name(WARD_DERIVE_NIL), "nil");
    assert_true(derive(WARD_DERIVE_COUNT, NULL, "x", NULL));
    assert_string_equal(ward_derive_name(WARD_DERIVE_NONE), "");
    assert_string_equal(ward_derive_name(WARD_DERIVE_JSON_KEY), "json");
}

/* ---- rules: refusal, renaming, scope ---- */

static void test_logsource_rule_refused_with_reason(void **state) {
    (void)state;
    const char *y = "title: RPC\n"
                    "id: r1\n"
                    "level: high\n"
                    "detection:\n"
                    "  sel: {EventID: 3}\n"
                    "  condition: sel\n"
                    "logsource:\n"
                    "  category: application\n"
                    "  product: rpc_firewall\n";
    ward_rules rs;
    ward_diags d;
    ward_rules_init(&rs);
    ward_diags_init(&d);
    assert_int_equal(ward_rules_load_buffer(&rs, "t.yml", (const uint8_t *)y, strlen(y), &d), -1);
    assert_int_equal(rs.n, 0);
    assert_int_equal(d.n, 1);
    char buf[512];
    ward_diag_format(&d.v[0], buf, sizeof(buf));
    assert_string_equal(buf, "t.yml:8:3: rule r1: log source product=rpc_firewall "
                             "category=application: Windows RPC Firewall events, which ward "
                             "does not read");
    ward_rules_fini(&rs);
    ward_diags_fini(&d);
}

static const char proxy_rules[] = "title: UA\n"
                                  "id: p-ua\n"
                                  "level: high\n"
                                  "detection:\n" /* before the logsource: renamed all the same */
                                  "  sel:\n"
                                  "    c-useragent|contains: 'sqlmap'\n"
                                  "    c-uri-extension: exe\n"
                                  "  condition: sel\n"
                                  "logsource: {category: proxy}\n"
                                  "---\n"
                                  "title: host\n"
                                  "id: p-host\n"
                                  "level: high\n"
                                  "logsource: {category: proxy}\n"
                                  "detection:\n"
                                  "  sel:\n"
                                  "    cs-host|endswith: '.top'\n"
                                  "  local:\n"
                                  "    dst_ip|cidr: 10.0.0.0/8\n"
                                  "  condition: sel and not local\n"
                                  "---\n"
                                  "title: ward's names\n"
                                  "id: p-ward\n"
                                  "level: high\n"
                                  "logsource: {category: proxy}\n"
                                  "decoder: combined_access\n"
                                  "detection:\n"
                                  "  sel:\n"
                                  "    c-useragent|contains: 'sqlmap'\n"
                                  "  condition: sel\n";

static void test_logsource_proxy_fields_renamed(void **state) {
    (void)state;
    ward_engine *e = engine_from(proxy_rules);
    assert_int_equal(hits(e, ACCESS("GET http://a.example/x/setup.exe HTTP/1.1", "sqlmap/1.7"),
                          WARD_DECODER_COMBINED_ACCESS),
                     1);
    /* the extension, not a substring */
    assert_int_equal(hits(e, ACCESS("GET /x/setup.exe.txt HTTP/1.1", "sqlmap/1.7"),
                          WARD_DECODER_COMBINED_ACCESS),
                     0);
    assert_int_equal(
        hits(e, ACCESS("GET /x/setup.exe HTTP/1.1", "curl/8"), WARD_DECODER_COMBINED_ACCESS), 0);
    /* the host of an absolute URL and of CONNECT's authority */
    assert_int_equal(
        hits(e, ACCESS("GET http://evil.top/a HTTP/1.1", "curl/8"), WARD_DECODER_COMBINED_ACCESS),
        1);
    assert_int_equal(
        hits(e, ACCESS("CONNECT evil.top:443 HTTP/1.1", "curl/8"), WARD_DECODER_COMBINED_ACCESS),
        1);
    assert_int_equal(hits(e, ACCESS("GET http://good.example/evil.top HTTP/1.1", "curl/8"),
                          WARD_DECODER_COMBINED_ACCESS),
                     0);
    /* dst_ip is the URL's host when it is an address */
    assert_int_equal(hits(e, ACCESS("GET http://10.1.2.3/a.top HTTP/1.1", "curl/8"),
                          WARD_DECODER_COMBINED_ACCESS),
                     0);
    /* a syslog line is out of the proxy's scope */
    assert_int_equal(
        hits(e, "Jun 14 15:16:01 h app: c-useragent sqlmap evil.top", WARD_DECODER_SYSLOG), 0);
    ward_engine_free(e);
}

static void test_logsource_webserver_query_or_target(void **state) {
    (void)state;
    ward_engine *e = engine_from("title: q\nid: w-q\nlevel: high\n"
                                 "logsource: {category: webserver}\n"
                                 "detection:\n"
                                 "  path:\n"
                                 "    cs-uri-query|endswith: '/vpns/cfg/smb.conf'\n"
                                 "  cmd:\n"
                                 "    cs-uri-query|startswith: 'cmd='\n"
                                 "  condition: path or cmd\n"
                                 "---\n"
                                 "title: n\nid: w-null\nlevel: high\n"
                                 "logsource: {category: webserver}\n"
                                 "detection:\n"
                                 "  sel:\n"
                                 "    cs-uri-stem|contains: '/shell_'\n"
                                 "  noquery:\n"
                                 "    cs-uri-query: null\n"
                                 "  condition: sel and not noquery\n"
                                 "---\n"
                                 "title: g\nid: w-nil\nlevel: high\n"
                                 "logsource: {category: webserver}\n"
                                 "detection:\n"
                                 "  sel:\n"
                                 "    cs-uri-query|contains: 'cmd=ls'\n"
                                 "    cs-user-agent: null\n"
                                 "  condition: sel\n"
                                 "---\n"
                                 "title: s\nid: w-split\nlevel: high\n"
                                 "logsource: {category: webserver}\n"
                                 "detection:\n"
                                 "  stem:\n"
                                 "    cs-uri-stem|endswith: '.jsp'\n"
                                 "  query:\n"
                                 "    - cs-uri-query|contains: 'ping'\n"
                                 "  condition: stem and query\n");
    assert_int_equal(
        hits(e, ACCESS("GET /vpns/cfg/smb.conf HTTP/1.1", "x"), WARD_DECODER_COMBINED_ACCESS), 1);
    assert_int_equal(
        hits(e, ACCESS("GET /x.jsp?cmd=id HTTP/1.1", "x"), WARD_DECODER_COMBINED_ACCESS), 1);
    assert_int_equal(
        hits(e, ACCESS("GET /x.jsp?a=1&cmd=id HTTP/1.1", "x"), WARD_DECODER_COMBINED_ACCESS), 0);
    /* null means the query string, not the target */
    assert_int_equal(
        hits(e, ACCESS("GET /p/shell_x.php?c=id HTTP/1.1", "x"), WARD_DECODER_COMBINED_ACCESS), 1);
    assert_int_equal(
        hits(e, ACCESS("GET /p/shell_x.php HTTP/1.1", "x"), WARD_DECODER_COMBINED_ACCESS), 0);
    /* an access log writes a missing user agent as "-" */
    assert_int_equal(
        hits(e, ACCESS("GET /t.php?x=1&cmd=ls HTTP/1.1", "-"), WARD_DECODER_COMBINED_ACCESS), 1);
    assert_int_equal(
        hits(e, ACCESS("GET /t.php?x=1&cmd=ls HTTP/1.1", ""), WARD_DECODER_COMBINED_ACCESS), 1);
    assert_int_equal(
        hits(e, ACCESS("GET /t.php?x=1&cmd=ls HTTP/1.1", "-x"), WARD_DECODER_COMBINED_ACCESS), 0);
    /* a rule that names cs-uri-stem means the query string alone by cs-uri-query */
    assert_int_equal(
        hits(e, ACCESS("GET /a.jsp?h=ping HTTP/1.1", "x"), WARD_DECODER_COMBINED_ACCESS), 1);
    assert_int_equal(
        hits(e, ACCESS("GET /shipping.jsp?h=1 HTTP/1.1", "x"), WARD_DECODER_COMBINED_ACCESS), 0);
    ward_engine_free(e);
}

static void test_logsource_auditd_fields_in_msg(void **state) {
    (void)state;
    ward_engine *e = engine_from("title: stop\nid: a-stop\nlevel: high\n"
                                 "logsource: {product: linux, service: auditd}\n"
                                 "detection:\n"
                                 "  sel:\n"
                                 "    type: SERVICE_STOP\n"
                                 "    unit: [firewalld, ufw]\n"
                                 "  condition: sel\n");
    const char *stop = "type=SERVICE_STOP msg=audit(1718378161.123:42): pid=1 uid=0 "
                       "auid=4294967295 ses=4294967295 msg='unit=firewalld comm=\"systemd\" "
                       "exe=\"/usr/lib/systemd/systemd\" hostname=? addr=? terminal=? res=success'";
    assert_int_equal(hits(e, stop, WARD_DECODER_KV), 1);
    assert_int_equal(hits(e,
                          "type=SERVICE_STOP msg=audit(1718378161.123:42): pid=1 msg='unit=cron "
                          "comm=\"systemd\" res=success'",
                          WARD_DECODER_KV),
                     0);
    /* through syslog, with the kv decoder over the whole line */
    char line[600];
    snprintf(line, sizeof(line), "Jun 14 15:16:01 host audisp-syslog: %s", stop);
    assert_int_equal(hits(e, line, WARD_DECODER_KV), 1);
    /* the syslog decoder gives no audit fields; an access log is out of scope */
    assert_int_equal(hits(e, line, WARD_DECODER_SYSLOG), 0);
    ward_engine_free(e);
}

static void test_logsource_kubernetes_pod_spec(void **state) {
    (void)state;
    ward_engine *e = engine_from("title: hp\nid: k-hp\nlevel: low\n"
                                 "logsource: {category: application, product: kubernetes, "
                                 "service: audit}\n"
                                 "detection:\n"
                                 "  sel:\n"
                                 "    verb: create\n"
                                 "    objectRef.resource: pods\n"
                                 "    hostPath: '*'\n"
                                 "  condition: sel\n");
    assert_int_equal(hits(e,
                          "{\"verb\":\"create\",\"objectRef\":{\"resource\":\"pods\"},"
                          "\"requestObject\":{\"spec\":{\"volumes\":[{\"name\":\"r\","
                          "\"hostPath\":{\"path\":\"/\"}}]}}}",
                          WARD_DECODER_JSON),
                     1);
    assert_int_equal(hits(e,
                          "{\"verb\":\"create\",\"objectRef\":{\"resource\":\"pods\"},"
                          "\"requestObject\":{\"spec\":{\"volumes\":[{\"name\":\"r\","
                          "\"emptyDir\":{}}]}}}",
                          WARD_DECODER_JSON),
                     0);
    ward_engine_free(e);
}

static void test_logsource_scope_by_table(void **state) {
    (void)state;
    ward_engine *e = engine_from("title: cron\nid: s-cron\nlevel: low\n"
                                 "logsource: {product: linux, service: cron}\n"
                                 "detection: {k: [REPLACE], condition: k}\n"
                                 "---\n"
                                 "title: web\nid: s-web\nlevel: low\n"
                                 "logsource: {category: webserver}\n"
                                 "detection: {k: [REPLACE], condition: k}\n"
                                 "---\n"
                                 "title: unknown\nid: s-any\nlevel: low\n"
                                 "logsource: {product: acme, service: widget}\n"
                                 "detection: {k: [REPLACE], condition: k}\n");
    /* crontab's own lines belong to the cron service; the unknown source sees all */
    assert_int_equal(
        hits(e, "Jun 14 15:16:01 h crontab[99]: (root) REPLACE (root)", WARD_DECODER_SYSLOG), 2);
    assert_int_equal(hits(e, "Jun 14 15:16:01 h nginx[99]: REPLACE", WARD_DECODER_SYSLOG), 1);
    assert_int_equal(hits(e, ACCESS("GET /REPLACE HTTP/1.1", "x"), WARD_DECODER_COMBINED_ACCESS),
                     2);
    ward_engine_free(e);
}

static void test_logsource_keyword_blank_at_message_start(void **state) {
    (void)state;
    ward_engine *e = engine_from("title: named\nid: n\nlevel: low\n"
                                 "logsource: {product: linux, service: syslog}\n"
                                 "detection: {k: [' denied AXFR from ', 'fatal error) '], "
                                 "condition: k}\n");
    /* the blank after "named[800]:" belongs to the message for a keyword */
    assert_int_equal(hits(e, "Mar 12 11:20:00 ns1 named[800]: denied AXFR from [192.0.2.3].53",
                          WARD_DECODER_SYSLOG),
                     1);
    assert_int_equal(hits(e, "Mar 12 11:20:00 ns1 named[800]: exiting (due to fatal error) ",
                          WARD_DECODER_SYSLOG),
                     1);
    /* nothing before a raw line, a quote before a JSON value */
    assert_int_equal(hits(e, "denied AXFR from [192.0.2.3].53", WARD_DECODER_RAW), 0);
    assert_int_equal(hits(e, "{\"msg\":\"denied AXFR from x\"}", WARD_DECODER_JSON), 0);
    assert_int_equal(
        hits(e, "Mar 12 11:20:00 ns1 named[800]: xdenied AXFR from y", WARD_DECODER_SYSLOG), 0);
    ward_engine_free(e);
}

/* ---- detections: explain, identity, the fields they read ---- */

static ward_detection *compile_text(const char *yaml, const char *product, const char *service,
                                    const char *category) {
    ward_rules rs;
    ward_diags d;
    ward_rules_init(&rs);
    ward_diags_init(&d);
    char buf[2048];
    char ls[256] = "";
    if (product || service || category)
        snprintf(ls, sizeof(ls), "logsource: {%s%s%s%s%s%s}\n", product ? "product: " : "",
                 product ? product : "", service ? (product ? ", service: " : "service: ") : "",
                 service ? service : "",
                 category ? (product || service ? ", category: " : "category: ") : "",
                 category ? category : "");
    snprintf(buf, sizeof(buf), "title: T\nid: t\nlevel: low\n%s%s", ls, yaml);
    int rc = ward_rules_load_buffer(&rs, "t.yml", (const uint8_t *)buf, strlen(buf), &d);
    if (rc)
        dump(&d);
    assert_int_equal(rc, 0);
    assert_int_equal(rs.n, 1);
    ward_detection *det = rs.v[0]->det;
    rs.v[0]->det = NULL;
    ward_rules_fini(&rs);
    ward_diags_fini(&d);
    return det;
}

static void test_logsource_explain_shows_both_names(void **state) {
    (void)state;
    ward_detection *det = compile_text("detection:\n"
                                       "  a: {c-uri|contains: x, cs-host: h}\n"
                                       "  b: {c-uri|endswith: y, c-uri-extension: exe}\n"
                                       "  condition: a or b\n",
                                       NULL, NULL, "proxy");
    ward_event ev;
    ward_event_init(&ev);
    const char *line = ACCESS("GET http://h/x.exe HTTP/1.1", "u");
    ward_decode(WARD_DECODER_COMBINED_ACCESS, (const uint8_t *)line, strlen(line), &ev);
    ward_limits l;
    ward_limits_default(&l);
    ward_match_ctx mc;
    assert_int_equal(ward_match_ctx_init(&mc, &l), 0);
    char buf[512];
    ward_detect_explain(det, &ev, &mc, buf, sizeof(buf));
    assert_string_equal(buf, "a=true b=false condition=true fields: c-uri=cs-uri|path(cs-uri) "
                             "cs-host=cs-host|host(cs-uri) c-uri-extension=ext(cs-uri-stem)");
    /* a short buffer stays terminated */
    ward_detect_explain(det, &ev, &mc, buf, 40);
    assert_int_equal(strlen(buf) < 40, 1);
    ward_match_ctx_fini(&mc);
    ward_event_fini(&ev);
    ward_detect_free(det);
}

static void test_logsource_same_rule_other_source_is_no_twin(void **state) {
    (void)state;
    const char *y = "detection:\n  s: {c-uri|contains: x}\n  condition: s\n";
    ward_detection *a = compile_text(y, NULL, NULL, "proxy");
    ward_detection *b = compile_text(y, "zeek", "http", NULL);
    ward_detection *c = compile_text(y, NULL, NULL, "proxy");
    ward_detection *plain = compile_text(y, NULL, NULL, NULL);
    assert_false(ward_detect_equal(a, b));
    assert_false(ward_detect_equal(a, plain));
    assert_true(ward_detect_equal(a, c));
    assert_int_equal(ward_detect_hash(a), ward_detect_hash(c));
    assert_true(ward_detect_hash(a) != ward_detect_hash(b));
    ward_detect_free(a);
    ward_detect_free(b);
    ward_detect_free(c);
    ward_detect_free(plain);
}

typedef struct seen_fields {
    char names[8][128];
    size_t n;
} seen_fields;

static void on_field(const char *written, const char *const *fields, size_t n, void *ctx) {
    seen_fields *s = ctx;
    size_t o = (size_t)snprintf(s->names[s->n], sizeof(s->names[0]), "%s:", written);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(s->names[s->n] + o, sizeof(s->names[0]) - o, "%s%s", i ? "," : "",
                              fields[i]);
    s->n++;
}

static void test_logsource_detect_fields(void **state) {
    (void)state;
    ward_detection *det = compile_text("detection:\n"
                                       "  a: {cs-uri-query|contains: x, cs-method: GET}\n"
                                       "  b: [{cs-uri-query: y}, {c-useragent: z}]\n"
                                       "  k: [keyword]\n"
                                       "  condition: a or b or k\n",
                                       NULL, NULL, "webserver");
    seen_fields s = {0};
    ward_detect_fields(det, on_field, &s);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.names[0], "cs-uri-query:cs-uri-query,cs-uri");
    assert_string_equal(s.names[1], "cs-method:cs-method");
    assert_string_equal(s.names[2], "c-useragent:cs-user-agent");
    ward_detect_fields(NULL, on_field, &s);
    assert_int_equal(s.n, 3);
    ward_detect_free(det);
}

static void test_logsource_overlay_filter_renamed(void **state) {
    (void)state;
    ward_rules rs;
    ward_diags d;
    ward_rules_init(&rs);
    ward_diags_init(&d);
    const char *y = "title: T\nid: t\nlevel: low\nlogsource: {category: proxy}\n"
                    "detection: {s: {c-uri|contains: evil}, condition: s}\n";
    const char *o = "overlay:\n  rule: t\n  filter:\n    ok: {c-useragent: 'Scanner/1'}\n"
                    "    condition: not ok\n";
    assert_int_equal(ward_rules_load_buffer(&rs, "t.yml", (const uint8_t *)y, strlen(y), &d), 0);
    assert_int_equal(
        ward_rules_load_overlay_buffer(&rs, "o.yml", (const uint8_t *)o, strlen(o), &d), 0);
    ward_limits l;
    ward_limits_default(&l);
    char err[256];
    ward_engine *e = ward_engine_new(&rs, &l, err, sizeof(err));
    assert_non_null(e);
    assert_int_equal(
        hits(e, ACCESS("GET /evil HTTP/1.1", "Scanner/1"), WARD_DECODER_COMBINED_ACCESS), 0);
    assert_int_equal(hits(e, ACCESS("GET /evil HTTP/1.1", "curl/8"), WARD_DECODER_COMBINED_ACCESS),
                     1);
    ward_engine_free(e);
    ward_rules_fini(&rs);
    ward_diags_fini(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logsource_find),
        cmocka_unit_test(test_logsource_refusals),
        cmocka_unit_test(test_logsource_decoders_and_programs),
        cmocka_unit_test(test_logsource_produces),
        cmocka_unit_test(test_logsource_format),
        cmocka_unit_test(test_logsource_table_consistent),
        cmocka_unit_test(test_logsource_fieldmap_find),
        cmocka_unit_test(test_logsource_derive_extension),
        cmocka_unit_test(test_logsource_derive_host),
        cmocka_unit_test(test_logsource_derive_path),
        cmocka_unit_test(test_logsource_derive_kv),
        cmocka_unit_test(test_logsource_derive_json_key),
        cmocka_unit_test(test_logsource_rule_refused_with_reason),
        cmocka_unit_test(test_logsource_proxy_fields_renamed),
        cmocka_unit_test(test_logsource_webserver_query_or_target),
        cmocka_unit_test(test_logsource_auditd_fields_in_msg),
        cmocka_unit_test(test_logsource_kubernetes_pod_spec),
        cmocka_unit_test(test_logsource_scope_by_table),
        cmocka_unit_test(test_logsource_keyword_blank_at_message_start),
        cmocka_unit_test(test_logsource_explain_shows_both_names),
        cmocka_unit_test(test_logsource_same_rule_other_source_is_no_twin),
        cmocka_unit_test(test_logsource_detect_fields),
        cmocka_unit_test(test_logsource_overlay_filter_renamed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
