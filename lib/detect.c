/* Sigma detection (stub for linking; the real implementation follows). */
#include "ward/detect.h"

#include <stdio.h>
#include <string.h>

ward_detection *ward_detect_compile(const ward_node *detection, const char *file,
                                    const char *rule_id, ward_diags *d) {
    ward_diags_add(d, file, detection ? detection->line : 0, detection ? detection->col : 0,
                   rule_id, "detection: not implemented yet");
    return NULL;
}

void ward_detect_free(ward_detection *det) {
    (void)det;
}

int ward_detect_add_filter(ward_detection *det, const ward_node *filter, const char *file,
                           const char *rule_id, ward_diags *d) {
    (void)det;
    ward_diags_add(d, file, filter ? filter->line : 0, filter ? filter->col : 0, rule_id,
                   "filter: not implemented yet");
    return -1;
}

int ward_detect_match(const ward_detection *det, const ward_event *ev, ward_match_ctx *mc) {
    (void)det;
    (void)ev;
    (void)mc;
    return 0;
}

int ward_detect_literals(const ward_detection *det, ward_relit *out) {
    (void)det;
    memset(out, 0, sizeof(*out));
    out->any = 1;
    return 0;
}

void ward_detect_explain(const ward_detection *det, const ward_event *ev, ward_match_ctx *mc,
                         char *buf, size_t len) {
    (void)det;
    (void)ev;
    (void)mc;
    if (len)
        snprintf(buf, len, "not implemented yet");
}

size_t ward_detect_regex_count(const ward_detection *det) {
    (void)det;
    return 0;
}
