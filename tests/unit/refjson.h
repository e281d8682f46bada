/* refjson.h - a tiny read-only view of a reference JSON file through libyaml (JSON is YAML),
 * shared by the oracle tests (test_reference.c, test_conv_reference.c). Header-only: each
 * test is one translation unit. Any malformed or missing piece fails the running test. */
#ifndef RDROP_REFJSON_H
#define RDROP_REFJSON_H

#include "testutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static yaml_document_t g_doc;
static yaml_node_t *g_root;

static inline yaml_node_t *node_get(yaml_node_t *map, const char *key)
{
    assert_non_null(map);
    assert_int_equal(map->type, YAML_MAPPING_NODE);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&g_doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(&g_doc, p->value);
    }
    print_error("reference JSON: key '%s' missing\n", key);
    fail();
    return NULL;
}

static inline int seq_len(yaml_node_t *seq)
{
    assert_non_null(seq);
    assert_int_equal(seq->type, YAML_SEQUENCE_NODE);
    return (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

static inline yaml_node_t *seq_at(yaml_node_t *seq, int i)
{
    assert_true(i >= 0 && i < seq_len(seq));
    return yaml_document_get_node(&g_doc, seq->data.sequence.items.start[i]);
}

static inline const char *scalar(yaml_node_t *n)
{
    assert_non_null(n);
    assert_int_equal(n->type, YAML_SCALAR_NODE);
    return (const char *)n->data.scalar.value;
}

static inline double num(yaml_node_t *n)
{
    const char *s = scalar(n);
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end) {
        print_error("reference JSON: '%s' is not a number\n", s);
        fail();
    }
    return v;
}

static inline bool boolean(yaml_node_t *n)
{
    const char *s = scalar(n);
    if (strcmp(s, "true") == 0) return true;
    if (strcmp(s, "false") == 0) return false;
    print_error("reference JSON: '%s' is not a boolean\n", s);
    fail();
    return false;
}

static inline double num_at(yaml_node_t *map, const char *key) { return num(node_get(map, key)); }

/* Flatten a [rows x cols] nested list into out (row-major); checks the shape. */
static inline void matrix(yaml_node_t *n, int rows, int cols, double *out)
{
    assert_int_equal(seq_len(n), rows);
    for (int r = 0; r < rows; r++) {
        yaml_node_t *row = seq_at(n, r);
        assert_int_equal(seq_len(row), cols);
        for (int c = 0; c < cols; c++) out[(size_t)r * cols + c] = num(seq_at(row, c));
    }
}

static inline void vector(yaml_node_t *n, int len, double *out)
{
    assert_int_equal(seq_len(n), len);
    for (int i = 0; i < len; i++) out[i] = num(seq_at(n, i));
}

/* Parse tests/data/NAME into g_doc / g_root; 0 or -1 (for cmocka group setup). */
static inline int ref_open(const char *name)
{
    FILE *f = fopen(rd_test_data(name), "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", rd_test_data(name));
        return -1;
    }
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int ok = yaml_parser_load(&parser, &g_doc);
    if (!ok) fprintf(stderr, "libyaml: %s\n", parser.problem ? parser.problem : "parse error");
    yaml_parser_delete(&parser);
    fclose(f);
    if (!ok) return -1;
    g_root = yaml_document_get_root_node(&g_doc);
    return g_root ? 0 : -1;
}

static inline int ref_close(void **state)
{
    (void)state;
    yaml_document_delete(&g_doc);
    return 0;
}

#endif
