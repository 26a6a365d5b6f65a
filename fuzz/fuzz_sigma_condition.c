/* Fuzzes the Sigma condition parser (lib/detect.c, reached through ward_detect_compile):
 * the input is the 'condition' of a fixed detection whose selections have names of every
 * shape the parser knows (underscore-hidden, dashes, dots, digits, 'them' patterns). The
 * first byte chooses how the condition is written: bit 0 plain (the diagnostics then
 * point at the column), bit 1 also as the condition of a filter added to the detection,
 * bit 2 as a one-item list. A condition that compiles is evaluated on a few decoded
 * lines, and then the detection's literal prefilter must pass every line it matches
 * (prefilter.h); hash and equality must agree with themselves. A condition that does not
 * compile must leave a diagnostic. Allocations fail as failalloc.h says. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "failalloc.h"
#include "prefilter.h"
#include "ward/decode.h"
#include "ward/detect.h"
#include "ward/node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char base[] = "selection:\n"
                           "  program: sshd\n"
                           "  message|contains: Failed password\n"
                           "selection_ip:\n"
                           "  host|cidr: 10.0.0.0/8\n"
                           "keywords:\n"
                           "  - Invalid user\n"
                           "  - authentication failure\n"
                           "filter_main:\n"
                           "  program: cron\n"
                           "filter_2:\n"
                           "  message|re: 'port \\d+ ssh2$'\n"
                           "_private:\n"
                           "  pid|gt: 100\n"
                           "sel-dash.v2:\n"
                           "  message|startswith: Accepted\n"
                           "1st:\n"
                           "  program|exists: true\n"
                           "condition: selection\n";

static const char *const lines[] = {
    "Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for invalid user webmaster from "
    "173.234.31.186 port 38926 ssh2",
    "Dec 10 07:02:47 LabSZ sshd[24203]: Invalid user admin from 10.1.2.3",
    "Dec 10 07:07:38 LabSZ sshd[24206]: Accepted password for fztu from 119.137.62.142 port "
    "49116 ssh2",
    "Jun 14 15:16:01 combo CRON[1234]: pam_unix(cron:session): session opened for user root",
    "<13>Jun 14 15:16:02 10.20.30.40 su: authentication failure; logname= uid=500",
    "a line with no syslog header at all",
};
#define NLINES (sizeof(lines) / sizeof(lines[0]))

static ward_node *tree;      /* the base detection */
static ward_node *cond_node; /* its 'condition' value */

static int keep(ward_node *root, void *ctx) {
    (void)ctx;
    if (tree)
        ward_node_free(tree);
    tree = root;
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    ward_diags d;
    ward_diags_init(&d);
    if (ward_yaml_parse("base.yml", (const uint8_t *)base, sizeof(base) - 1, keep, NULL, &d) < 0 ||
        !tree || tree->type != WARD_NODE_MAP)
        abort();
    ward_diags_fini(&d);
    for (size_t i = 0; i < tree->n; i++)
        if (strcmp(tree->keys[i]->str, "condition") == 0)
            cond_node = tree->kids[i];
    if (!cond_node)
        abort();
    return 0;
}

static void evaluate(const ward_detection *det) {
    ward_limits l;
    ward_match_ctx mc;
    ward_limits_default(&l);
    if (ward_match_ctx_init(&mc, &l) < 0)
        return;
    ward_relit r;
    int lits = ward_detect_literals(det, &r) == 0;
    if (!lits && !failalloc_failed())
        __builtin_trap();
    ward_event ev;
    ward_event_init(&ev);
    for (size_t i = 0; i < NLINES; i++) {
        const uint8_t *s = (const uint8_t *)lines[i];
        size_t n = strlen(lines[i]);
        if (ward_decode(WARD_DECODER_AUTO, s, n, &ev) < 0)
            continue;
        int m = ward_detect_match(det, &ev, &mc);
        if (m == 1 && lits && !ev.transformed &&
            !pf_passes(&r, ev.scan ? ev.scan : s, ev.scan ? ev.scan_len : n)) {
            fprintf(stderr, "condition '%.*s' matched line %zu\n", (int)cond_node->len,
                    cond_node->str, i);
            abort();
        }
        char buf[512];
        ward_detect_explain(det, &ev, &mc, buf, sizeof(buf));
        if (!memchr(buf, 0, sizeof(buf)))
            __builtin_trap();
    }
    ward_event_fini(&ev);
    if (lits)
        ward_relit_fini(&r);
    ward_match_ctx_fini(&mc);
}

static void body(const uint8_t *data, size_t size) {
    if (size < 1)
        return;
    uint8_t how = data[0];
    char *s = malloc(size);
    if (!s)
        return;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;

    /* the condition as a scalar, or as a one-item list holding it */
    ward_node scalar = *cond_node;
    scalar.str = s;
    scalar.len = size - 1;
    scalar.plain = how & 1;
    ward_node *items[1] = {&scalar};
    ward_node list = scalar;
    list.type = WARD_NODE_SEQ;
    list.str = NULL;
    list.len = 0;
    list.kids = items;
    list.n = 1;
    size_t at = 0;
    while (tree->kids[at] != cond_node)
        at++;
    tree->kids[at] = how & 4 ? &list : &scalar;

    ward_diags d;
    ward_diags_init(&d);
    ward_detection *det = ward_detect_compile(tree, "fuzz.yml", "fuzz-1", &d);
    if (!det && d.n == 0 && !d.oom)
        __builtin_trap();
    if (det && (how & 2)) {
        size_t before = d.n;
        if (ward_detect_add_filter(det, tree, "fuzz.yml", "fuzz-1", &d) < 0 && d.n == before &&
            !d.oom)
            __builtin_trap();
    }
    if (det) {
        evaluate(det);
        if (ward_detect_hash(det) != ward_detect_hash(det) || !ward_detect_equal(det, det))
            __builtin_trap();
    }
    ward_detect_free(det);
    ward_diags_fini(&d);
    tree->kids[at] = cond_node;
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_run(body, data, size);
    return 0;
}
