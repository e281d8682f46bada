/* json.c - JSON text through jansson (docs/ARCHITECTURE.md, "Run folder"). */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static char *dump(const json_t *v, int digits)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(digits));
    if (!s) {   /* only on out of memory: the values themselves are always encodable */
        fprintf(stderr, "rdrop: out of memory encoding JSON\n");
        exit(RD_EXIT_INTERNAL);
    }
    return s;
}

char *rd_json_text(const json_t *v)
{
    for (int digits = 15; digits < 17; digits++) {
        char *s = dump(v, digits);
        json_t *back = json_loads(s, JSON_DECODE_ANY, NULL);
        bool exact = back && json_equal(back, (json_t *)v);
        json_decref(back);
        if (exact) return s;
        free(s);
    }
    return dump(v, 17);
}

char *rd_json_text_digits(const json_t *v, int digits) { return dump(v, digits); }

json_t *rd_json_str(const char *s)
{
    json_t *j = json_string(s);
    if (j) return j;
    size_t n = strlen(s);
    char *clean = rd_malloc(3 * n + 1), *o = clean;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int k = rd_utf8_len((const char *)p);
        if (k) {
            memcpy(o, p, (size_t)k);
            o += k;
            p += k;
        } else {
            memcpy(o, "\xef\xbf\xbd", 3);   /* U+FFFD */
            o += 3;
            p++;
        }
    }
    *o = '\0';
    j = json_string(clean);
    free(clean);
    return j;
}

void rd_json_set(json_t *obj, const char *key, json_t *value)
{
    if (value) json_object_set_new(obj, key, value);
}
