#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "ward/event.h"

static void test_event_reset_sets_original(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    const char *line = "hello world";
    ward_event_reset(&ev, (const uint8_t *)line, strlen(line));
    const ward_field *f = ward_event_get(&ev, "event.original");
    assert_non_null(f);
    assert_int_equal(f->val_len, strlen(line));
    assert_memory_equal(f->val, line, strlen(line));
    assert_null(ward_event_get(&ev, "message"));
    assert_string_equal(ev.decoder, "raw");
    ward_event_fini(&ev);
}

static void test_event_set_replaces_same_name(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    const char *line = "a b";
    ward_event_reset(&ev, (const uint8_t *)line, 3);
    assert_int_equal(ward_event_set(&ev, "x", line, 1), 0);
    assert_int_equal(ward_event_set(&ev, "x", line + 2, 1), 0);
    assert_int_equal(ev.nfields, 2);
    assert_memory_equal(ward_event_get(&ev, "x")->val, "b", 1);
    ward_event_fini(&ev);
}

static void test_event_full_table_counts_drops(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    ward_event_reset(&ev, (const uint8_t *)"v", 1);
    char name[32];
    int fails = 0;
    for (int i = 0; i < WARD_EVENT_MAX_FIELDS + 5; i++) {
        int n = snprintf(name, sizeof(name), "f%d", i);
        if (ward_event_set_copy(&ev, name, (size_t)n, "v", 1) != 0)
            fails++;
    }
    /* event.original takes one slot */
    assert_int_equal(ev.nfields, WARD_EVENT_MAX_FIELDS);
    assert_int_equal(ev.dropped_fields, 6);
    assert_int_equal(fails, 6);
    ward_event_fini(&ev);
}

static void test_event_copy_marks_transformed(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    const char *line = "k=\"a\\\"b\"";
    ward_event_reset(&ev, (const uint8_t *)line, strlen(line));
    assert_int_equal(ward_event_set_copy(&ev, "k", 1, "a", 1), 0);
    assert_int_equal(ev.transformed, 0);
    assert_int_equal(ward_event_set_copy(&ev, "k2", 2, "a\"b", 3), 0);
    assert_int_equal(ev.transformed, 1);
    ward_event_reset(&ev, (const uint8_t *)line, strlen(line));
    assert_int_equal(ev.transformed, 0);
    assert_null(ward_event_get(&ev, "k"));
    ward_event_fini(&ev);
}

static void test_event_arena_pointers_stay_valid(void **state) {
    (void)state;
    ward_event ev;
    ward_event_init(&ev);
    ward_event_reset(&ev, (const uint8_t *)"x", 1);
    char big[3000];
    memset(big, 'q', sizeof(big));
    char *first = ward_event_strdup(&ev, "first", 5);
    assert_non_null(first);
    for (int i = 0; i < 20; i++)
        assert_non_null(ward_event_strdup(&ev, big, sizeof(big)));
    char *huge = ward_event_strdup(&ev, big, sizeof(big)); /* > chunk after many */
    assert_non_null(huge);
    assert_string_equal(first, "first");
    assert_int_equal(strlen(huge), sizeof(big));
    ward_event_fini(&ev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_reset_sets_original),
        cmocka_unit_test(test_event_set_replaces_same_name),
        cmocka_unit_test(test_event_full_table_counts_drops),
        cmocka_unit_test(test_event_copy_marks_transformed),
        cmocka_unit_test(test_event_arena_pointers_stay_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
