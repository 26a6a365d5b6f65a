/* Fuzzes the rule loader: the input as a YAML rule stream, then as an overlay applied to a
 * small fixed rule set (so that overlays find their targets), then every loaded extract
 * run on the input as an event's message; allocations fail as failalloc.h says. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "failalloc.h"
#include "ward/rule.h"

static const char base[] = "title: Base\n"
                           "id: base-1\n"
                           "level: high\n"
                           "extract: {on: message, pcre2: 'user (?<user>\\S+)'}\n"
                           "detection:\n"
                           "  selection:\n"
                           "    program: sshd\n"
                           "  condition: selection\n"
                           "---\n"
                           "title: Base two\n"
                           "id: base-2\n"
                           "level: low\n"
                           "detection:\n"
                           "  keywords: [Failed password]\n"
                           "  condition: keywords\n";

static int on_field(const char *name, const char *val, size_t len, void *ctx) {
    (void)name;
    (void)val;
    (void)len;
    (void)ctx;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void body(const uint8_t *data, size_t size) {
    ward_rules rs;
    ward_diags d;
    ward_rules_init(&rs);
    ward_diags_init(&d);
    ward_rules_load_buffer(&rs, "fuzz.yml", data, size, &d);
    ward_rules_load_buffer(&rs, "base.yml", (const uint8_t *)base, sizeof(base) - 1, &d);
    ward_rules_load_overlay_buffer(&rs, "overlay.yml", data, size, &d);

    ward_limits l;
    ward_match_ctx mc;
    ward_event ev;
    ward_limits_default(&l);
    if (ward_match_ctx_init(&mc, &l) == 0) {
        ward_event_init(&ev);
        ward_event_reset(&ev, data, size);
        ward_event_set(&ev, "message", (const char *)data, size);
        for (size_t i = 0; i < rs.n; i++)
            ward_extract_run(rs.v[i], &ev, &mc, on_field, NULL);
        ward_event_fini(&ev);
        ward_match_ctx_fini(&mc);
    }
    ward_rules_fini(&rs);
    ward_diags_fini(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_run(body, data, size);
    return 0;
}
