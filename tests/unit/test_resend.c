#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/agent.h"

/* The id is read back from the JSON lib/alert.c writes (and from the privacy copy). */
static void test_resend_id_of_alert_json(void **state) {
    (void)state;
    ward_rule r = {0};
    r.id = "ssh.fail";
    r.title = "t";
    r.yara_index = -1;
    ward_event ev;
    ward_event_init(&ev);
    static const char line[] = "sshd: Failed password for alice";
    ward_event_reset(&ev, (const uint8_t *)line, sizeof(line) - 1);
    ev.decoder = "raw";
    ward_alert al = {0};
    ward_alert_id(al.id, "file:1:2:3", 42, r.id);
    al.rule = &r;
    al.ev = &ev;
    for (int omit = 0; omit < 2; omit++) {
        al.omit_original = omit;
        ward_buf b;
        ward_buf_init(&b);
        assert_int_equal(ward_alert_json(&b, &al), 0);
        uint8_t id[16];
        assert_int_equal(agent_resend_id_of((const uint8_t *)b.p, b.len, id), 0);
        char hex[33];
        for (int i = 0; i < 16; i++)
            snprintf(hex + 2 * i, 3, "%02x", id[i]);
        assert_string_equal(hex, al.id);
        ward_buf_fini(&b);
    }
    ward_event_fini(&ev);
    /* not an alert, a short one, a bad digit */
    static const char *const bad[] = {
        "{\"x\":1}",
        "{\"@timestamp\":\"t\",\"event\":{\"kind\":\"alert\",\"id\":\"0123\"}}",
        "{\"@timestamp\":\"t\",\"event\":{\"kind\":\"alert\",\"id\":"
        "\"0123456789abcdef0123456789abcdeg\"}}",
    };
    uint8_t id[16];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(agent_resend_id_of((const uint8_t *)bad[i], strlen(bad[i]), id), -1);
}

static void test_resend_set_grows_and_finds(void **state) {
    (void)state;
    agent_resend r;
    agent_resend_init(&r);
    uint8_t id[16] = {0};
    assert_false(agent_resend_seen(&r, id)); /* empty */
    for (uint32_t i = 0; i < 5000; i++) {
        memset(id, 0, sizeof(id));
        memcpy(id, &i, sizeof(i));
        id[15] = 0x5a;
        assert_int_equal(agent_resend_add(&r, id), 0);
    }
    assert_int_equal(agent_resend_add(&r, id), 0); /* again: no second entry */
    assert_int_equal(r.n, 5000);
    for (uint32_t i = 0; i < 5000; i++) {
        memset(id, 0, sizeof(id));
        memcpy(id, &i, sizeof(i));
        id[15] = 0x5a;
        assert_true(agent_resend_seen(&r, id));
        id[15] = 0x5b; /* same hash, another id */
        assert_false(agent_resend_seen(&r, id));
    }
    agent_resend_fini(&r);
    assert_int_equal(r.n, 0);
    assert_false(agent_resend_seen(&r, id));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resend_id_of_alert_json),
        cmocka_unit_test(test_resend_set_grows_and_finds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
