/* libFuzzer target: the YAML config loader (rd_config_load_text) and its --set overrides.
 *
 * Input: YAML text, optionally followed by a NUL byte and NUL-separated --set arguments
 * (at most 8), e.g. "rdrop: {alpha: 2}\0optimizer.lr=0.1\0model.layers.1.units=7".
 * Invariants checked besides "no crash, no leak, no UB":
 *   - the result is 0 or RD_EXIT_CONFIG, and an error has a one-line, non-empty message;
 *   - an accepted config is valid (rd_config_validate) and its resolved YAML reloads into
 *     the same YAML (the run folder and every checkpoint store it; eval/resume reload it).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define MAX_SETS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 16)) return 0;
    const char *text = (const char *)data;
    size_t text_len = size;
    const char *nul = memchr(data, 0, size);
    char *sets_buf = NULL;
    char *sets[MAX_SETS];
    int nset = 0;
    if (nul) {
        text_len = (size_t)(nul - text);
        size_t rest = size - text_len - 1;
        sets_buf = malloc(rest + 1);
        memcpy(sets_buf, nul + 1, rest);
        sets_buf[rest] = '\0';
        for (char *p = sets_buf; p < sets_buf + rest && nset < MAX_SETS; p += strlen(p) + 1)
            sets[nset++] = p;
    }
    rd_config *c = malloc(sizeof *c);
    rd_error e = {0};
    int rc = rd_config_load_text(c, text, text_len, "fuzz.yaml", nset, sets, &e);
    if (rc != 0 && rc != RD_EXIT_CONFIG) {
        fprintf(stderr, "unexpected exit code %d: %s\n", rc, e.msg);
        abort();
    }
    if (rc) {
        if (!e.msg[0] || strchr(e.msg, '\n')) {
            fprintf(stderr, "bad error message: [%s]\n", e.msg);
            abort();
        }
    } else {
        rd_error v = {0};
        if (rd_config_validate(c, "fuzz.yaml", &v)) {
            fprintf(stderr, "accepted config does not validate: %s\n", v.msg);
            abort();
        }
        char *y1 = rd_config_to_yaml(c);
        char *lj = rd_config_layers_json(c);
        rd_config *c2 = malloc(sizeof *c2);
        rd_error e2 = {0};
        if (rd_config_load_text(c2, y1, strlen(y1), "resolved.yaml", 0, NULL, &e2)) {
            fprintf(stderr, "resolved YAML does not reload: %s\n--- YAML:\n%s\n", e2.msg, y1);
            abort();
        }
        char *y2 = rd_config_to_yaml(c2);
        if (strcmp(y1, y2)) {
            fprintf(stderr, "resolved YAML changes on reload:\n--- first:\n%s\n--- second:\n%s\n", y1, y2);
            abort();
        }
        free(y1);
        free(y2);
        free(lj);
        free(c2);
    }
    free(c);
    free(sets_buf);
    return 0;
}
