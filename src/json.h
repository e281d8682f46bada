/* json.h - JSON text through jansson: escaping and number syntax are the library's job.
 *
 * rdrop writes JSON in four places: metrics.jsonl rows and status.json (train.c), `eval --json`
 * (main.c), the checkpoint's /model architecture and /optimizer schedule attributes
 * (checkpoint.c, config.c). Objects keep their keys in insertion order.
 */
#ifndef RDROP_JSON_H
#define RDROP_JSON_H

#include <jansson.h>

/* Compact text (no spaces), reals with the fewest significant digits (15, 16 or 17) at which
 * every real in v reads back as the same double. malloc'd; free(). */
char *rd_json_text(const json_t *v);

/* Compact text, reals with `digits` significant digits (metrics rows use 9). malloc'd. */
char *rd_json_text_digits(const json_t *v, int digits);

/* A JSON string of s; bytes that are not valid UTF-8 become U+FFFD (jansson refuses them). */
json_t *rd_json_str(const char *s);

/* Set key to value in obj and drop the caller's reference (value may be NULL: nothing set). */
void rd_json_set(json_t *obj, const char *key, json_t *value);

#endif
