/* test_json.c - JSON text through jansson (src/json.c): escaping is the library's, reals are
 * the shortest exact form (or a fixed digit count), invalid UTF-8 never makes invalid JSON. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "json.h"

static void test_shortest_exact_reals(void **state)
{
    json_t *a = json_array();
    json_array_append_new(a, json_real(0.05));
    json_array_append_new(a, json_real(0.1 + 0.2));   /* needs 17 digits */
    json_array_append_new(a, json_real(3.0));
    json_array_append_new(a, json_integer(7));
    char *s = rd_json_text(a);
    json_t *back = json_loads(s, 0, NULL);
    assert_non_null(back);
    assert_true(json_equal(a, back));                      /* every real reads back exactly */
    assert_non_null(strstr(s, "0.30000000000000004"));
    json_decref(back);
    free(s);
    json_decref(a);
    a = json_array();
    json_array_append_new(a, json_real(0.05));
    json_array_append_new(a, json_real(2.5e-300));
    s = rd_json_text(a);
    assert_string_equal(s, "[0.05,2.5e-300]");             /* no digit more than needed */
    free(s);
    s = rd_json_text_digits(a, 3);
    assert_string_equal(s, "[0.05,2.5e-300]");
    free(s);
    json_decref(a);
}

static void test_strings_escaped(void **state)
{
    json_t *o = json_object();
    rd_json_set(o, "path", rd_json_str("/tmp/q\"uote\\back\nline\ttab"));
    rd_json_set(o, "skipped", NULL);                       /* NULL sets nothing */
    char *s = rd_json_text(o);
    assert_string_equal(s, "{\"path\":\"/tmp/q\\\"uote\\\\back\\nline\\ttab\"}");
    free(s);
    json_decref(o);
}

static void test_invalid_utf8(void **state)
{
    /* a stray continuation byte, a truncated sequence, an overlong '/', a surrogate */
    json_t *j = rd_json_str("a\x80" "b\xe2\x82" "c\xc0\xaf" "d\xed\xa0\x80" "e\xc3\xa9");
    assert_non_null(j);
    const char *v = json_string_value(j);
    assert_non_null(strstr(v, "a\xef\xbf\xbd" "b"));
    assert_non_null(strstr(v, "e\xc3\xa9"));                /* valid UTF-8 kept */
    char *s = rd_json_text(j);
    json_t *back = json_loads(s, JSON_DECODE_ANY, NULL);
    assert_non_null(back);                                  /* the text is valid JSON */
    json_decref(back);
    free(s);
    json_decref(j);
    assert_true(rd_utf8_valid("plain \xc3\xa9t\xc3\xa9"));
    assert_false(rd_utf8_valid("bad \xff"));
    assert_false(rd_utf8_valid("overlong \xe0\x80\xaf"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shortest_exact_reals),
        cmocka_unit_test(test_strings_escaped),
        cmocka_unit_test(test_invalid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
