#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ward/crypto.h"

#include "../../agent/privacy.h"

static char dir[] = "/tmp/test_privacy.XXXXXX";

static void write_file(const char *path, const char *s, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

/* One alert: a rule, a decoded event with user and src_ip, an extracted user. */
typedef struct fixture {
    ward_rule rule;
    ward_event ev;
    ward_alert_field x[2];
    ward_alert al;
    ward_alert_src where;
} fixture;

static const char line[] = "sshd[42]: Failed password for alice from 203.0.113.7 port 22";

static void fixture_init(fixture *f) {
    memset(f, 0, sizeof(*f));
    f->rule.id = "ssh.fail";
    f->rule.title = "SSH failure";
    f->rule.level = WARD_LEVEL_MEDIUM;
    f->rule.yara_index = -1;
    ward_event_init(&f->ev);
    ward_event_reset(&f->ev, (const uint8_t *)line, sizeof(line) - 1);
    f->ev.decoder = "syslog";
    assert_int_equal(ward_event_set(&f->ev, "message", line, sizeof(line) - 1), 0);
    assert_int_equal(ward_event_set(&f->ev, "src_ip", strstr(line, "203"), 11), 0);
    assert_int_equal(ward_event_set(&f->ev, "process.name", "sshd", 4), 0);
    f->x[0] = (ward_alert_field){"user", strstr(line, "alice"), 5};
    f->x[1] = (ward_alert_field){"port", "22", 2};
    f->where = (ward_alert_src){.kind = "file", .name = "auth"};
    strcpy(f->al.id, "0123456789abcdef0123456789abcdef");
    f->al.time_ms = 1700000000000ull;
    f->al.agent_name = "a1";
    f->al.rule = &f->rule;
    f->al.ev = &f->ev;
    f->al.extracted = f->x;
    f->al.nextracted = 2;
    f->al.src = &f->where;
}

static char *json_of(agent_privacy *p, const ward_alert *a) {
    ward_buf b;
    ward_buf_init(&b);
    assert_int_equal(agent_privacy_json(p, a, &b), 0);
    ward_buf_putc(&b, 0);
    char *s = strdup(b.p);
    ward_buf_fini(&b);
    return s;
}

static void cfg_init(agent_cfg *c, char **drop, size_t ndrop, char **pseudo, size_t npseudo,
                     char *key, int send_original) {
    memset(c, 0, sizeof(*c));
    c->privacy.drop = drop;
    c->privacy.ndrop = ndrop;
    c->privacy.pseudonymise = pseudo;
    c->privacy.npseudonymise = npseudo;
    c->privacy.key = key;
    c->privacy.send_original = send_original;
}

static void test_privacy_drop_and_original(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    char *drop[] = {"user", "src_ip"};
    agent_cfg c;
    cfg_init(&c, drop, 2, NULL, 0, NULL, 0);
    agent_privacy p;
    char err[512];
    assert_int_equal(agent_privacy_init(&p, &c, err, sizeof(err)), 0);
    assert_false(agent_privacy_noop(&p));
    char *s = json_of(&p, &f.al);
    /* dropped fields are absent everywhere, the ECS members made from them too */
    assert_null(strstr(s, "alice"));
    assert_null(strstr(s, "203.0.113.7"));
    assert_null(strstr(s, "\"source\":{\"ip\""));
    /* the original line and the message are absent by default */
    assert_null(strstr(s, "\"original\""));
    assert_null(strstr(s, "\"message\""));
    assert_null(strstr(s, "Failed password"));
    /* the rest is there */
    assert_non_null(strstr(s, "\"ssh.fail\""));
    assert_non_null(strstr(s, "\"port\":\"22\""));
    assert_non_null(strstr(s, "sshd"));
    assert_int_equal(p.dropped, 2);
    free(s);
    /* the alert given is not changed: the local file gets everything */
    ward_buf b;
    ward_buf_init(&b);
    assert_int_equal(ward_alert_json(&b, &f.al), 0);
    ward_buf_putc(&b, 0);
    assert_non_null(strstr(b.p, "alice"));
    assert_non_null(strstr(b.p, "\"original\":\"sshd[42]: Failed password"));
    ward_buf_fini(&b);
    agent_privacy_fini(&p);
    ward_event_fini(&f.ev);
}

static void test_privacy_send_original(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    agent_cfg c;
    cfg_init(&c, NULL, 0, NULL, 0, NULL, 1);
    agent_privacy p;
    char err[512];
    assert_int_equal(agent_privacy_init(&p, &c, err, sizeof(err)), 0);
    assert_true(agent_privacy_noop(&p));
    char *s = json_of(&p, &f.al);
    assert_non_null(strstr(s, "\"original\":\"sshd[42]: Failed password"));
    assert_non_null(strstr(s, "alice"));
    free(s);
    /* a line that is not UTF-8 goes as original_base64, only with send_original */
    static const uint8_t bin[] = {'x', 0xff, 0xfe, 'y'};
    ward_event_reset(&f.ev, bin, sizeof(bin));
    f.ev.decoder = "raw";
    f.al.nextracted = 0;
    s = json_of(&p, &f.al);
    assert_non_null(strstr(s, "original_base64"));
    free(s);
    p.send_original = 0;
    s = json_of(&p, &f.al);
    assert_null(strstr(s, "original_base64"));
    assert_null(strstr(s, "\"original\""));
    free(s);
    agent_privacy_fini(&p);
    ward_event_fini(&f.ev);
}

static char *pseudo_of(const char *keyfile, const char *value) {
    char *pseudo[] = {"user"};
    agent_cfg c;
    cfg_init(&c, NULL, 0, pseudo, 1, (char *)keyfile, 0);
    agent_privacy p;
    char err[512];
    assert_int_equal(agent_privacy_init(&p, &c, err, sizeof(err)), 0);
    char out[AGENT_PSEUDO_LEN + 1];
    assert_int_equal(agent_privacy_pseudonym(&p, value, strlen(value), out), 0);
    agent_privacy_fini(&p);
    return strdup(out);
}

static void test_privacy_pseudonyms_stable_and_keyed(void **state) {
    (void)state;
    char k1[128], k2[128];
    snprintf(k1, sizeof(k1), "%s/k1", dir);
    snprintf(k2, sizeof(k2), "%s/k2", dir);
    write_file(k1, "council-one-secret-0123456789", 0600);
    write_file(k2, "council-two-secret-0123456789", 0600);
    char *a = pseudo_of(k1, "alice"), *a2 = pseudo_of(k1, "alice"), *b = pseudo_of(k1, "bob"),
         *o = pseudo_of(k2, "alice");
    assert_int_equal(strlen(a), AGENT_PSEUDO_LEN);
    assert_memory_equal(a, "hmac:", 5);
    assert_string_equal(a, a2);    /* stable: the same value correlates within a council */
    assert_string_not_equal(a, b); /* different values differ */
    assert_string_not_equal(a, o); /* another council's key gives another pseudonym */
    /* the value is HMAC-SHA256(key, value) cut to 16 bytes */
    uint8_t mac[WARD_HMAC_LEN];
    const char *key = "council-one-secret-0123456789";
    assert_int_equal(
        ward_crypto_hmac((const uint8_t *)key, strlen(key), (const uint8_t *)"alice", 5, mac), 0);
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    assert_string_equal(a + 5, hex);

    /* in an alert: the extracted user and the ECS user.name carry it, never the name */
    fixture f;
    fixture_init(&f);
    char *pseudo[] = {"user", "src.ip"};
    agent_cfg c;
    cfg_init(&c, NULL, 0, pseudo, 2, k1, 0);
    agent_privacy p;
    char err[512];
    assert_int_equal(agent_privacy_init(&p, &c, err, sizeof(err)), 0);
    char *s = json_of(&p, &f.al);
    assert_null(strstr(s, "alice"));
    assert_null(strstr(s, "203.0.113.7")); /* src_ip matched as src.ip */
    char want[64];
    snprintf(want, sizeof(want), "\"user\":\"%s\"", a);
    assert_non_null(strstr(s, want));
    assert_int_equal(p.pseudonymised, 2);
    free(s);
    agent_privacy_fini(&p);
    ward_event_fini(&f.ev);
    free(a);
    free(a2);
    free(b);
    free(o);
}

static void test_privacy_key_errors(void **state) {
    (void)state;
    char k[128], err[512];
    char *pseudo[] = {"user"};
    agent_cfg c;
    agent_privacy p;
    /* no key */
    cfg_init(&c, NULL, 0, pseudo, 1, NULL, 0);
    assert_int_equal(agent_privacy_init(&p, &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "privacy.key"));
    /* readable by others: refused, naming the file */
    snprintf(k, sizeof(k), "%s/open", dir);
    write_file(k, "council-one-secret-0123456789", 0644);
    cfg_init(&c, NULL, 0, pseudo, 1, k, 0);
    assert_int_equal(agent_privacy_init(&p, &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, k));
    /* missing */
    snprintf(k, sizeof(k), "%s/missing", dir);
    cfg_init(&c, NULL, 0, pseudo, 1, k, 0);
    assert_int_equal(agent_privacy_init(&p, &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, k));
}

static int setup(void **state) {
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_privacy_drop_and_original),
        cmocka_unit_test(test_privacy_send_original),
        cmocka_unit_test(test_privacy_pseudonyms_stable_and_keyed),
        cmocka_unit_test(test_privacy_key_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
