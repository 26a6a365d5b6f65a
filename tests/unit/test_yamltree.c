#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ward/node.h"

#include <unistd.h>

/* Collects the documents of a stream. */
typedef struct docs {
    ward_node *v[16];
    size_t n;
    int stop_after; /* return non-zero after this many documents (0: never) */
} docs;

static int collect(ward_node *root, void *ctx) {
    docs *ds = ctx;
    if (ds->n < 16)
        ds->v[ds->n++] = root;
    else
        ward_node_free(root);
    return ds->stop_after && (int)ds->n >= ds->stop_after;
}

static void docs_free(docs *ds) {
    for (size_t i = 0; i < ds->n; i++)
        ward_node_free(ds->v[i]);
}

static int parse(const char *text, docs *ds, ward_diags *d) {
    memset(ds, 0, sizeof(*ds));
    ward_diags_init(d);
    return ward_yaml_parse("f.yml", (const uint8_t *)text, strlen(text), collect, ds, d);
}

/* Asserts that some diagnostic, formatted, contains want. */
static void expect_diag(const ward_diags *d, const char *want) {
    char buf[1200];
    for (size_t i = 0; i < d->n; i++) {
        ward_diag_format(&d->v[i], buf, sizeof(buf));
        if (strstr(buf, want))
            return;
    }
    for (size_t i = 0; i < d->n; i++) {
        ward_diag_format(&d->v[i], buf, sizeof(buf));
        print_error("  have: %s\n", buf);
    }
    fail_msg("no diagnostic contains: %s", want);
}

static void test_yamltree_builds_tree_with_positions(void **state) {
    (void)state;
    docs ds;
    ward_diags d;
    const char *y = "title: x\n"
                    "n: 42\n"
                    "q: \"42\"\n"
                    "list:\n"
                    "  - a\n"
                    "  - {k: v}\n"
                    "empty:\n"
                    "tilde: ~\n"
                    "s: !!str 7\n";
    assert_int_equal(parse(y, &ds, &d), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(ds.n, 1);
    const ward_node *r = ds.v[0];
    assert_int_equal(r->type, WARD_NODE_MAP);
    assert_int_equal(r->n, 7);
    assert_int_equal(r->line, 1);
    assert_int_equal(r->col, 1);
    const ward_node *n = ward_node_get(r, "n");
    assert_int_equal(n->type, WARD_NODE_SCALAR);
    assert_string_equal(n->str, "42");
    assert_int_equal(n->len, 2);
    assert_int_equal(n->plain, 1);
    assert_int_equal(n->line, 2);
    assert_int_equal(n->col, 4);
    assert_int_equal(ward_node_get(r, "q")->plain, 0);
    assert_int_equal(ward_node_get(r, "s")->plain, 0);
    const ward_node *l = ward_node_get(r, "list");
    assert_int_equal(l->type, WARD_NODE_SEQ);
    assert_int_equal(l->n, 2);
    assert_int_equal(l->kids[1]->type, WARD_NODE_MAP);
    assert_int_equal(l->kids[1]->line, 6);
    assert_int_equal(l->kids[1]->col, 5);
    assert_string_equal(ward_node_get(l->kids[1], "k")->str, "v");
    const ward_node *e = ward_node_get(r, "empty");
    assert_non_null(e);
    assert_int_equal(e->type, WARD_NODE_NULL);
    assert_int_equal(e->line, 7);
    assert_int_equal(ward_node_get(r, "tilde")->type, WARD_NODE_NULL);
    assert_null(ward_node_get(r, "missing"));
    assert_null(ward_node_get(l, "k")); /* not a map */
    assert_null(ward_node_get(NULL, "k"));
    docs_free(&ds);
    ward_diags_fini(&d);
}

static void test_yamltree_multi_document_stream(void **state) {
    (void)state;
    docs ds;
    ward_diags d;
    assert_int_equal(parse("a: 1\n---\nb: 2\n---\n- x\n", &ds, &d), 0);
    assert_int_equal(ds.n, 3);
    assert_string_equal(ward_node_get(ds.v[1], "b")->str, "2");
    assert_int_equal(ds.v[1]->line, 3);
    assert_int_equal(ds.v[2]->type, WARD_NODE_SEQ);
    docs_free(&ds);
    ward_diags_fini(&d);
}

static void test_yamltree_empty_input_has_no_documents(void **state) {
    (void)state;
    docs ds;
    ward_diags d;
    assert_int_equal(parse("", &ds, &d), 0);
    assert_int_equal(ds.n, 0);
    ward_diags_fini(&d);
    assert_int_equal(parse("# only a comment\n", &ds, &d), 0);
    assert_int_equal(ds.n, 0);
    ward_diags_fini(&d);
}

static void test_yamltree_callback_stops_stream(void **state) {
    (void)state;
    docs ds;
    ward_diags d;
    memset(&ds, 0, sizeof(ds));
    ds.stop_after = 1;
    ward_diags_init(&d);
    const char *y = "a: 1\n---\nb: 2\n";
    assert_int_equal(ward_yaml_parse("f.yml", (const uint8_t *)y, strlen(y), collect, &ds, &d), -1);
    assert_int_equal(ds.n, 1);
    assert_int_equal(d.n, 0);
    docs_free(&ds);
    ward_diags_fini(&d);
}

static void test_yamltree_duplicate_key_is_error(void **state) {
    (void)state;
    docs ds;
    ward_diags d;
    assert_int_equal(parse("id: r1\na: 1\nb:\n  c: 1\n  c: 2\na: 3\n---\nok: 1\n", &ds, &d), -1);
    assert_int_equal(d.n, 2);
    expect_diag(&d, "f.yml:5:3: rule r1: duplicate key 'c' (first at line 4, column 3)");
    expect_diag(&d, "f.yml:6:1: rule r1: duplicate key 'a' (first at line 2, column 1)");
    /* The bad document is dropped; the next one still comes. */
    assert_int_equal(ds.n, 1);
    assert_non_null(ward_node_get(ds.v[0], "ok"));
    docs_free(&ds);
    ward_diags_fini(&d);
}

static void test_yamltree_aliases_and_anchors_refused(void **state) {
    (void)state;
    docs ds;
    ward_diags d;
    assert_int_equal(parse("a: &x [1, 2]\nb: *x\n", &ds, &d), -1);
    expect_diag(&d, "f.yml:1:4: YAML anchors ('&x') are not supported");
    expect_diag(&d, "f.yml:2:4: YAML aliases ('*x') are not supported");
    assert_int_equal(ds.n, 0);
    ward_diags_fini(&d);
    assert_int_equal(parse("a: &s v\n", &ds, &d), -1);
    expect_diag(&d, "f.yml:1:4: YAML anchors ('&s') are not supported");
    ward_diags_fini(&d);
}

static void test_yamltree_unknown_tag_refused(void **state) {
    (void)state;
    docs ds;
    ward_diags d;
    assert_int_equal(parse("a: !python/object x\nb: !!binary aGk=\n", &ds, &d), -1);
    expect_diag(&d, "f.yml:1:4: unsupported YAML tag '!python/object'");
    expect_diag(&d, "f.yml:2:4: unsupported YAML tag '!!binary'");
    assert_int_equal(ds.n, 0);
    ward_diags_fini(&d);
    /* The core schema's tags are understood. */
    assert_int_equal(parse("a: !!int 3\nb: !!null ''\nc: !!map {x: 1}\n", &ds, &d), 0);
    assert_int_equal(ward_node_get(ds.v[0], "b")->type, WARD_NODE_NULL);
    docs_free(&ds);
    ward_diags_fini(&d);
}

static void test_yamltree_tab_indentation_explained(void **state) {
    (void)state;
    docs ds;
    ward_diags d;
    assert_int_equal(parse("a:\n\tb: 1\n", &ds, &d), -1);
    assert_int_equal(d.n, 1);
    expect_diag(&d, "f.yml:2:1: YAML: found character that cannot start any token");
    expect_diag(&d, "(tabs are not allowed in YAML indentation; use spaces)");
    ward_diags_fini(&d);
}

static void test_yamltree_unterminated_quote(void **state) {
    (void)state;
    docs ds;
    ward_diags d;
    assert_int_equal(parse("a: ok\nb: \"abc\n", &ds, &d), -1);
    expect_diag(&d, "f.yml:3:1: YAML: found unexpected end of stream while scanning a quoted "
                    "scalar (line 2, column 4)");
    assert_int_equal(ds.n, 0);
    ward_diags_fini(&d);
}

static void test_yamltree_syntax_error_after_good_document(void **state) {
    (void)state;
    docs ds;
    ward_diags d;
    assert_int_equal(parse("a: 1\n---\nb: [1, 2\nc: 3\n", &ds, &d), -1);
    assert_int_equal(ds.n, 1);
    assert_int_equal(d.n, 1);
    expect_diag(&d, "f.yml:4:2: YAML: did not find expected ',' or ']' while parsing a flow "
                    "sequence (line 3, column 4)");
    docs_free(&ds);
    ward_diags_fini(&d);
}

static void test_yamltree_invalid_utf8_has_position(void **state) {
    (void)state;
    docs ds;
    ward_diags d;
    assert_int_equal(parse("a: 1\nb: x\xff\n", &ds, &d), -1);
    expect_diag(&d, "f.yml:2:5: YAML: invalid leading UTF-8 octet");
    ward_diags_fini(&d);
}

static void test_yamltree_complex_key_refused(void **state) {
    (void)state;
    docs ds;
    ward_diags d;
    assert_int_equal(parse("? [a, b]\n: 1\n", &ds, &d), -1);
    expect_diag(&d, "f.yml:1:3: map keys must be non-empty scalars");
    assert_int_equal(ds.n, 0);
    ward_diags_fini(&d);
}

static void test_yamltree_too_deep_refused(void **state) {
    (void)state;
    docs ds;
    ward_diags d;
    char y[2 * WARD_YAML_MAX_DEPTH + 8];
    size_t n = 0;
    for (int i = 0; i < WARD_YAML_MAX_DEPTH; i++)
        y[n++] = '[';
    for (int i = 0; i < WARD_YAML_MAX_DEPTH; i++)
        y[n++] = ']';
    y[n] = 0;
    assert_int_equal(parse(y, &ds, &d), 0); /* exactly the limit is fine */
    docs_free(&ds);
    ward_diags_fini(&d);
    memmove(y + 1, y, n + 1);
    y[0] = '[';
    strcat(y, "]");
    assert_int_equal(parse(y, &ds, &d), -1);
    expect_diag(&d, "f.yml:1:65: YAML nesting deeper than 64 levels");
    assert_int_equal(ds.n, 0);
    ward_diags_fini(&d);
}

static void test_yamltree_too_many_nodes_refused(void **state) {
    (void)state;
    docs ds;
    ward_diags d;
    size_t items = WARD_YAML_MAX_NODES; /* plus the sequence itself: one too many */
    char *y = malloc(items * 2 + 3);
    assert_non_null(y);
    size_t n = 0;
    y[n++] = '[';
    for (size_t i = 0; i < items; i++) {
        y[n++] = '1';
        y[n++] = ',';
    }
    y[n - 1] = ']';
    y[n] = 0;
    assert_int_equal(parse(y, &ds, &d), -1);
    expect_diag(&d, "YAML document has more than 200000 nodes");
    expect_diag(&d, "f.yml:1:400000:");
    assert_int_equal(ds.n, 0);
    ward_diags_fini(&d);
    /* One fewer item fits. */
    y[n - 3] = ']';
    y[n - 2] = 0;
    assert_int_equal(parse(y, &ds, &d), 0);
    assert_int_equal(ds.n, 1);
    assert_int_equal(ds.v[0]->n, items - 1);
    docs_free(&ds);
    ward_diags_fini(&d);
    free(y);
}

static void test_yamltree_oversized_input_refused(void **state) {
    (void)state;
    docs ds;
    ward_diags d;
    size_t len = (size_t)WARD_YAML_MAX_FILE + 1;
    uint8_t *big = malloc(len);
    assert_non_null(big);
    memset(big, '#', len);
    memset(&ds, 0, sizeof(ds));
    ward_diags_init(&d);
    assert_int_equal(ward_yaml_parse("big.yml", big, len, collect, &ds, &d), -1);
    expect_diag(&d, "big.yml: input is 16777217 bytes, over the 16777216 byte limit");
    free(big);
    ward_diags_fini(&d);
}

/* ward_file_replace: the new bytes replace the old, no PATH.tmp is left; a path that
 * cannot be written is an error naming it. */
static void test_yamltree_file_replace(void **state) {
    (void)state;
    char dir[] = "/tmp/ward-replace.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], tmp[270], err[512];
    snprintf(path, sizeof(path), "%s/stats.json", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_equal(ward_file_replace(path, "old\n", 4, err, sizeof(err)), 0);
    assert_int_equal(ward_file_replace(path, "new!\n", 5, err, sizeof(err)), 0);
    uint8_t *got;
    size_t len;
    assert_int_equal(ward_file_read(path, 100, &got, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(got, "new!\n", 5);
    free(got);
    assert_int_equal(access(tmp, F_OK), -1);
    char bad[300];
    snprintf(bad, sizeof(bad), "%s/no-such-dir/stats.json", dir);
    assert_int_equal(ward_file_replace(bad, "x", 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, bad));
    assert_non_null(strstr(err, "No such file or directory"));
    unlink(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yamltree_builds_tree_with_positions),
        cmocka_unit_test(test_yamltree_multi_document_stream),
        cmocka_unit_test(test_yamltree_empty_input_has_no_documents),
        cmocka_unit_test(test_yamltree_callback_stops_stream),
        cmocka_unit_test(test_yamltree_duplicate_key_is_error),
        cmocka_unit_test(test_yamltree_aliases_and_anchors_refused),
        cmocka_unit_test(test_yamltree_unknown_tag_refused),
        cmocka_unit_test(test_yamltree_tab_indentation_explained),
        cmocka_unit_test(test_yamltree_unterminated_quote),
        cmocka_unit_test(test_yamltree_syntax_error_after_good_document),
        cmocka_unit_test(test_yamltree_invalid_utf8_has_position),
        cmocka_unit_test(test_yamltree_complex_key_refused),
        cmocka_unit_test(test_yamltree_too_deep_refused),
        cmocka_unit_test(test_yamltree_too_many_nodes_refused),
        cmocka_unit_test(test_yamltree_oversized_input_refused),
        cmocka_unit_test(test_yamltree_file_replace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
