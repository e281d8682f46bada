/* libFuzzer target: the IDX reader (rd_data_load_idx), file-backed, plain or gzip'd.
 *
 * Input: [2 bytes: little-endian length L of the image file][L bytes: image file][rest:
 * label file]. (A shorter input is all image file, with an empty label file.) Both are
 * written to files in a temporary folder (tmpfs when available) and read back with the real
 * reader, so zlib's gzip detection, gzread, CRC trailer and the size checks all run.
 * Invariants: 0 or RD_EXIT_DATA only (an absurd size is refused, never allocated: libFuzzer's
 * -malloc_limit_mb catches an allocation above the reader's first 16 MiB chunk that the file
 * does not back); an error message starts with the file's path and is one line; on success
 * the dataset matches the header (n, features) and every label is < 10; on failure *d is zeroed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data.h"

static char dir[256], images[300], labels[300];

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f)) {
        perror(path);
        abort();
    }
}

static void cleanup(void)
{
    unlink(images);
    unlink(labels);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *base = getenv("RDROP_FUZZ_TMP");   /* run.sh: a folder it removes afterwards */
    if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/rdrop-fuzz-idx.XXXXXX", base);
    if (!mkdtemp(dir)) { perror("mkdtemp"); abort(); }
    snprintf(images, sizeof images, "%s/images", dir);
    snprintf(labels, sizeof labels, "%s/labels", dir);
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) LLVMFuzzerInitialize(NULL, NULL);
    size_t il = size, off = 0;
    if (size >= 2) {
        il = (size_t)data[0] | (size_t)data[1] << 8;
        off = 2;
        if (il > size - 2) il = size - 2;
    }
    write_file(images, data + off, size >= 2 ? il : size);
    write_file(labels, data + off + il, size >= 2 ? size - off - il : 0);

    rd_dataset d;
    memset(&d, 0xa5, sizeof d);
    rd_error e = {0};
    int rc = rd_data_load_idx(&d, images, labels, &e);
    if (rc != 0 && rc != RD_EXIT_DATA) {
        fprintf(stderr, "unexpected exit code %d: %s\n", rc, e.msg);
        abort();
    }
    if (rc) {
        bool named = !strncmp(e.msg, images, strlen(images)) || !strncmp(e.msg, labels, strlen(labels));
        if (!named || strchr(e.msg, '\n')) {
            fprintf(stderr, "bad error message: [%s]\n", e.msg);
            abort();
        }
        if (d.n || d.features || d.x || d.y) {
            fprintf(stderr, "failed load left the dataset non-empty\n");
            abort();
        }
        return 0;
    }
    if (d.n < 1 || d.features < 1 || d.classes != 10 || !d.x || !d.y) {
        fprintf(stderr, "accepted dataset is inconsistent: n %u features %u classes %u\n", d.n, d.features,
                d.classes);
        abort();
    }
    unsigned sum = 0;
    for (uint32_t i = 0; i < d.n; i++) {
        if (d.y[i] >= 10) { fprintf(stderr, "label %u accepted\n", d.y[i]); abort(); }
        sum += d.y[i];
    }
    /* Touch the last pixel: the buffer must hold n x features bytes. */
    sum += d.x[(size_t)d.n * d.features - 1];
    (void)sum;
    rd_data_free(&d);
    return 0;
}
