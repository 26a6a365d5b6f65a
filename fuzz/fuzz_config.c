/* Fuzzes the configuration loader (lib/config.c) with the agent's key table
 * (agent/agent_config.c): the input is an agent.yml. Checks what the loader promises: 0
 * only with no diagnostic and a configuration the agent's checks accept (a source at
 * least, every source named, names unique), -1 only with a diagnostic (or one lost for
 * lack of memory); a second load into the loaded object replaces its values; everything
 * is freed. The input is also given to the size and duration parsers as a string.
 * Allocations fail as failalloc.h says. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_config.h"
#include "failalloc.h"
#include "ward/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_loaded(const agent_cfg *a) {
    if (a->nsources == 0 || !a->sources || !a->agent.name)
        __builtin_trap();
    for (size_t i = 0; i < a->nsources; i++) {
        if (!a->sources[i].name)
            __builtin_trap();
        for (size_t j = 0; j < i; j++)
            if (strcmp(a->sources[i].name, a->sources[j].name) == 0)
                __builtin_trap();
        if (!agent_cfg_source_equal(&a->sources[i], &a->sources[i]))
            __builtin_trap();
    }
}

static int load(agent_cfg *a, const uint8_t *data, size_t size) {
    ward_diags d;
    ward_diags_init(&d);
    int rc = ward_cfg_load_buffer(&agent_cfg_table, a, "agent.yml", data, size, &d);
    if ((rc == 0 && d.n != 0) || (rc < 0 && d.n == 0 && !d.oom))
        __builtin_trap();
    if (rc == 0)
        check_loaded(a);
    ward_diags_fini(&d);
    return rc;
}

static void body(const uint8_t *data, size_t size) {
    agent_cfg a;
    memset(&a, 0, sizeof(a));
    int rc = load(&a, data, size);
    if (load(&a, data, size) != rc && !failalloc_failed())
        __builtin_trap();
    ward_cfg_free(&agent_cfg_table, &a);

    if (size < 64 && !memchr(data, 0, size)) {
        char s[64];
        memcpy(s, data, size);
        s[size] = 0;
        uint64_t v = 7;
        if (ward_cfg_parse_size(s, &v) < 0 && v != 7)
            __builtin_trap();
        v = 7;
        if (ward_cfg_parse_duration(s, &v) < 0 && v != 7)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_run(body, data, size);
    return 0;
}
