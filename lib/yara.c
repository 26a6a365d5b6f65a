/* YARA rules (stub for linking; the real implementation follows). */
#include "ward/yara.h"

#include <string.h>

int ward_yara_add_file(ward_rules *rs, const char *path, ward_diags *d) {
    (void)rs;
    ward_diags_add(d, path, 0, 0, NULL, "yara: not implemented yet");
    return -1;
}

int ward_yara_finish(ward_rules *rs, ward_diags *d) {
    (void)rs;
    (void)d;
    return 0;
}

void ward_yara_free(struct ward_yara *y) {
    (void)y;
}

int ward_yara_match(const struct ward_yara *y, int idx, const ward_event *ev, ward_match_ctx *mc) {
    (void)y;
    (void)idx;
    (void)ev;
    (void)mc;
    return -1;
}

int ward_yara_literals(const struct ward_yara *y, int idx, ward_relit *out) {
    (void)y;
    (void)idx;
    memset(out, 0, sizeof(*out));
    out->any = 1;
    return 0;
}
