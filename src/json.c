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

/* Length of the valid UTF-8 sequence at p (1-4), or 0 (RFC 3629: no overlongs, no surrogates). */
static int utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80) return 1;
    int n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 0;
    if (n == 0 || (n == 3 && p[0] >= 0xf0)) return 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) return 0;
    if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))) return 0;
    return n;
}

json_t *rd_json_str(const char *s)
{
    json_t *j = json_string(s);
    if (j) return j;
    size_t n = strlen(s);
    char *clean = rd_malloc(3 * n + 1), *o = clean;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int k = utf8_len(p);
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
