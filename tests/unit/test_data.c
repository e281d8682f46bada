/* test_data.c - IDX reader (good files, every kind of bad file), synthetic generator, gather. */
#include "testutil.h"

#include "data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <hdf5.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* ---------------------------------------------------------------- fixtures */

typedef struct {
    unsigned char *bytes;
    size_t len;
} blob;

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* An IDX file: magic, ndims big-endian dims, then body (body_len bytes). */
static blob idx_blob(uint32_t magic, const uint32_t *dims, int ndims, const void *body, size_t body_len)
{
    blob b;
    b.len = 4 + 4 * (size_t)ndims + body_len;
    b.bytes = malloc(b.len);
    put_be32(b.bytes, magic);
    for (int i = 0; i < ndims; i++) put_be32(b.bytes + 4 + 4 * i, dims[i]);
    if (body_len) memcpy(b.bytes + 4 + 4 * ndims, body, body_len);
    return b;
}

static char *write_plain(blob b)
{
    char *path = rd_test_tmpfile(".idx", b.bytes, b.len);
    assert_non_null(path);
    return path;
}

static char *write_gz(blob b)
{
    char *path = rd_test_tmpfile(".gz", NULL, 0);
    assert_non_null(path);
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, b.bytes, (unsigned)b.len), (int)b.len);
    assert_int_equal(gzclose(gz), Z_OK);
    return path;
}

static blob read_whole(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    blob b = {NULL, (size_t)ftell(f)};
    fseek(f, 0, SEEK_SET);
    b.bytes = malloc(b.len);
    assert_int_equal(fread(b.bytes, 1, b.len, f), b.len);
    fclose(f);
    return b;
}

static void overwrite(const char *path, blob b)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.bytes, 1, b.len, f), b.len);
    fclose(f);
}

static char *write_plain_free(blob b)
{
    char *path = write_plain(b);
    free(b.bytes);
    return path;
}

static void drop(char *path)
{
    unlink(path);
    free(path);
}

/* A small consistent pair: N images of R x C and their labels. */
enum { N = 5, R = 3, C = 4 };

static void fill_pixels(uint8_t *px, size_t n)
{
    for (size_t i = 0; i < n; i++) px[i] = (uint8_t)(i * 37 + 11);
}

static blob images_blob(void)
{
    uint8_t px[N * R * C];
    fill_pixels(px, sizeof px);
    uint32_t dims[3] = {N, R, C};
    return idx_blob(0x803, dims, 3, px, sizeof px);
}

static const uint8_t LABELS[N] = {3, 0, 9, 1, 7};

static blob labels_blob(void)
{
    uint32_t dims[1] = {N};
    return idx_blob(0x801, dims, 1, LABELS, N);
}

static bool is_zero(const rd_dataset *d)
{
    return d->n == 0 && d->features == 0 && d->classes == 0 && d->x == NULL && d->y == NULL;
}

/* Loads the pair, expects failure with `code` and a message containing `want`
 * (and the path, which every message starts with). */
static void expect_error(const char *images, const char *labels, int code, const char *path,
                         const char *want)
{
    rd_dataset d;
    memset(&d, 0xab, sizeof d);
    rd_error e = {0, ""};
    int rc = rd_data_load_idx(&d, images, labels, &e);
    if (getenv("RDROP_TEST_VERBOSE")) print_message("  %s\n", e.msg);
    if (rc != code || !strstr(e.msg, want) || strncmp(e.msg, path, strlen(path)) != 0)
        print_error("rc %d (want %d), msg \"%s\" (want \"%s: ...%s...\")\n", rc, code, e.msg, path, want);
    assert_int_equal(rc, code);
    assert_int_equal(e.code, code);
    assert_non_null(strstr(e.msg, want));
    assert_int_equal(strncmp(e.msg, path, strlen(path)), 0);
    assert_null(strchr(e.msg, '\n'));
    assert_true(is_zero(&d));
}

static void expect_image_error(blob img, const char *want)
{
    char *ip = write_plain(img);
    char *lp = write_plain_free(labels_blob());
    expect_error(ip, lp, RD_EXIT_DATA, ip, want);
    drop(ip);
    drop(lp);
}

/* ---------------------------------------------------------------- good files */

static void check_good_shape(const char *ip, const char *lp, uint32_t rows)
{
    rd_dataset d;
    rd_error e = {0, ""};
    assert_int_equal(rd_data_load_idx(&d, ip, lp, &e), 0);
    assert_int_equal(d.n, N);
    assert_int_equal(d.features, R * C);
    assert_int_equal(d.rows, rows);
    assert_int_equal(d.cols, R * C / rows);
    assert_int_equal(d.classes, 10);
    uint8_t px[N * R * C];
    fill_pixels(px, sizeof px);
    assert_memory_equal(d.x, px, sizeof px);
    for (uint32_t i = 0; i < N; i++) assert_int_equal(d.y[i], LABELS[i]);   /* int32 labels */
    rd_data_free(&d);
    assert_true(is_zero(&d));
}

static void check_good(const char *ip, const char *lp) { check_good_shape(ip, lp, R); }

static void test_good_plain_and_gz(void **state)
{
    blob img = images_blob(), lab = labels_blob();
    char *ip = write_plain(img), *lp = write_plain(lab);
    char *igz = write_gz(img), *lgz = write_gz(lab);
    check_good(ip, lp);
    check_good(igz, lgz);
    check_good(igz, lp);
    check_good(ip, lgz);
    drop(ip);
    drop(lp);
    drop(igz);
    drop(lgz);
    free(img.bytes);
    free(lab.bytes);
}

static void test_good_2d_images(void **state)
{
    uint8_t px[N * R * C];
    fill_pixels(px, sizeof px);
    uint32_t dims[2] = {N, R * C};
    blob img = idx_blob(0x802, dims, 2, px, sizeof px), lab = labels_blob();
    char *ip = write_gz(img), *lp = write_plain(lab);
    check_good_shape(ip, lp, 1);
    drop(ip);
    drop(lp);
    free(img.bytes);
    free(lab.bytes);
}

/* ---------------------------------------------------------------- bad files */

static void test_missing_file(void **state)
{
    char *lp = write_plain_free(labels_blob());
    expect_error("/nonexistent/rdrop/images.gz", lp, RD_EXIT_DATA, "/nonexistent/rdrop/images.gz",
                 "/nonexistent/rdrop/images.gz: cannot open: No such file or directory");
    char *ip = write_plain_free(images_blob());
    expect_error(ip, "/nonexistent/labels", RD_EXIT_DATA, "/nonexistent/labels",
                 ": cannot open: No such file or directory");
    expect_error("/tmp", lp, RD_EXIT_DATA, "/tmp", "/tmp: cannot read: Is a directory");
    drop(ip);
    drop(lp);
}

static void test_truncated_header(void **state)
{
    blob img = images_blob();
    blob cut = {img.bytes, 7};
    expect_image_error(cut, ": truncated header (got 7 of 16 bytes)");
    blob empty = {img.bytes, 0};
    expect_image_error(empty, ": truncated header (got 0 of at least 4 bytes)");
    blob magic_only = {img.bytes, 4};
    char *gz = write_gz(magic_only), *lp = write_plain_free(labels_blob());
    expect_error(gz, lp, RD_EXIT_DATA, gz, ": truncated header (got 4 of 16 bytes)");
    drop(gz);
    /* labels: magic only */
    blob lab = labels_blob();
    blob lab_cut = {lab.bytes, 6};
    char *ip = write_plain(img), *lcut = write_plain(lab_cut);
    expect_error(ip, lcut, RD_EXIT_DATA, lcut, ": truncated header (got 6 of 8 bytes)");
    drop(ip);
    drop(lcut);
    drop(lp);
    free(img.bytes);
    free(lab.bytes);
}

static void test_truncated_body(void **state)
{
    blob img = images_blob();
    blob cut = {img.bytes, img.len - 10};
    expect_image_error(cut, ": truncated: expected 60 bytes of pixels, got 50");

    /* the same through gzip: a complete gzip stream of too few bytes */
    char *igz = write_gz(cut), *lp = write_plain_free(labels_blob());
    expect_error(igz, lp, RD_EXIT_DATA, igz, ": truncated: expected 60 bytes of pixels, got 50");
    drop(igz);

    /* labels body short */
    blob lab = labels_blob();
    blob lab_cut = {lab.bytes, lab.len - 2};
    char *ip = write_plain(img), *lcut = write_gz(lab_cut);
    expect_error(ip, lcut, RD_EXIT_DATA, lcut, ": truncated: expected 5 bytes of labels, got 3");
    drop(ip);
    drop(lcut);
    drop(lp);
    free(img.bytes);
    free(lab.bytes);
}

static void test_truncated_gz_file(void **state)
{
    /* a .gz file cut short inside the compressed stream */
    enum { BIG = 20000 };
    uint8_t *px = malloc(BIG * 16);
    for (size_t i = 0; i < BIG * 16; i++) px[i] = (uint8_t)((i * 2654435761u) >> 24);
    uint32_t dims[3] = {BIG, 4, 4};
    blob img = idx_blob(0x803, dims, 3, px, BIG * 16);
    uint32_t ldims[1] = {BIG};
    memset(px, 1, BIG);
    blob lab = idx_blob(0x801, ldims, 1, px, BIG);
    char *ip = write_gz(img), *lp = write_gz(lab);
    blob z = read_whole(ip);
    blob half = {z.bytes, z.len / 2};
    overwrite(ip, half);
    expect_error(ip, lp, RD_EXIT_DATA, ip, ": truncated: expected 320000 bytes of pixels, got ");

    /* only the 8-byte trailer (CRC-32, length) missing: the data is all there */
    blob no_trailer = {z.bytes, z.len - 8};
    overwrite(ip, no_trailer);
    expect_error(ip, lp, RD_EXIT_DATA, ip, ": corrupt gzip data: unexpected end of file");

    /* wrong CRC in the trailer */
    z.bytes[z.len - 8] ^= 0x5a;
    overwrite(ip, z);
    expect_error(ip, lp, RD_EXIT_DATA, ip, ": corrupt gzip data: incorrect data check");
    drop(ip);
    drop(lp);
    free(z.bytes);
    free(img.bytes);
    free(lab.bytes);
    free(px);
}

static void test_wrong_magic(void **state)
{
    blob img = images_blob(), lab = labels_blob();
    char *ip = write_plain(img), *lp = write_plain(lab);
    /* label file given as images, image file given as labels */
    expect_error(lp, lp, RD_EXIT_DATA, lp,
                 ": not an IDX image file (magic 0x00000801, expected 0x00000803 or 0x00000802)");
    expect_error(ip, ip, RD_EXIT_DATA, ip, ": not an IDX label file (magic 0x00000803, expected 0x00000801)");
    /* a text file */
    blob text = {(unsigned char *)"hello, world\n", 13};
    expect_image_error(text, ": not an IDX image file (magic 0x68656c6c");
    /* a float IDX file (type 0x0d) */
    put_be32(img.bytes, 0x00000d03);
    expect_image_error(img, ": not an IDX image file (magic 0x00000d03");
    drop(ip);
    drop(lp);
    free(img.bytes);
    free(lab.bytes);
}

static void test_label_out_of_range(void **state)
{
    uint8_t y[400];
    for (int i = 0; i < 400; i++) y[i] = (uint8_t)(i % 10);
    y[345] = 12;
    y[399] = 200;   /* the first bad one is reported */
    uint32_t n = 400;
    uint8_t *px = calloc(n, 4);
    uint32_t dims[3] = {n, 2, 2}, ldims[1] = {n};
    blob img = idx_blob(0x803, dims, 3, px, n * 4), lab = idx_blob(0x801, ldims, 1, y, n);
    char *ip = write_plain(img), *lp = write_gz(lab);
    char want[512];
    snprintf(want, sizeof want, "%s: label 12 at index 345 is out of range (0..9)", lp);
    expect_error(ip, lp, RD_EXIT_DATA, lp, want);
    drop(ip);
    drop(lp);
    free(img.bytes);
    free(lab.bytes);
    free(px);
}

static void test_count_mismatch(void **state)
{
    uint32_t ldims[1] = {N - 1};
    blob img = images_blob(), lab = idx_blob(0x801, ldims, 1, LABELS, N - 1);
    char *ip = write_plain(img), *lp = write_plain(lab);
    char want[512];
    snprintf(want, sizeof want, "%s: 4 labels but %s has 5 images", lp, ip);
    expect_error(ip, lp, RD_EXIT_DATA, lp, want);
    drop(ip);
    drop(lp);
    free(img.bytes);
    free(lab.bytes);
}

static void test_trailing_bytes(void **state)
{
    blob img = images_blob();
    blob longer = {malloc(img.len + 3), img.len + 3};
    memcpy(longer.bytes, img.bytes, img.len);
    memcpy(longer.bytes + img.len, "xyz", 3);
    expect_image_error(longer, ": 3 unexpected bytes after the data");

    char *igz = write_gz(longer), *lp = write_plain_free(labels_blob());
    expect_error(igz, lp, RD_EXIT_DATA, igz, ": 3 unexpected bytes after the data");
    drop(igz);

    /* many trailing bytes are all counted */
    blob much = {calloc(1, img.len + 10000), img.len + 10000};
    memcpy(much.bytes, img.bytes, img.len);
    igz = write_gz(much);
    expect_error(igz, lp, RD_EXIT_DATA, igz, ": 10000 unexpected bytes after the data");
    drop(igz);

    /* labels too */
    blob lab = labels_blob();
    blob lab_long = {malloc(lab.len + 1), lab.len + 1};
    memcpy(lab_long.bytes, lab.bytes, lab.len);
    lab_long.bytes[lab.len] = 0;
    char *ip = write_plain(img), *llong = write_plain(lab_long);
    expect_error(ip, llong, RD_EXIT_DATA, llong, ": 1 unexpected byte after the data");
    drop(ip);
    drop(llong);
    drop(lp);
    free(img.bytes);
    free(longer.bytes);
    free(much.bytes);
    free(lab.bytes);
    free(lab_long.bytes);
}

static void test_corrupt_gzip(void **state)
{
    enum { BIG = 4000 };
    uint8_t *px = malloc(BIG * 64);
    uint32_t s = 12345;
    for (size_t i = 0; i < BIG * 64; i++) {
        s = s * 1664525u + 1013904223u;
        px[i] = (uint8_t)((s >> 28) * 17);   /* compressible, not trivially */
    }
    uint32_t dims[3] = {BIG, 8, 8};
    blob img = idx_blob(0x803, dims, 3, px, BIG * 64);
    char *ip = write_gz(img), *lp = write_plain_free(labels_blob());
    blob z = read_whole(ip);
    assert_true(z.len > 1000);

    /* the middle of the compressed stream */
    z.bytes[z.len / 2] ^= 0xff;
    overwrite(ip, z);
    expect_error(ip, lp, RD_EXIT_DATA, ip, ": corrupt gzip data: ");
    z.bytes[z.len / 2] ^= 0xff;

    /* anywhere in the deflate data (past the 10-byte header, before the trailer):
     * always refused, never accepted and never a crash */
    int refused = 0;
    for (size_t pos = 10; pos < z.len - 8; pos += (z.len - 18) / 37 + 1) {
        z.bytes[pos] ^= 0xff;
        overwrite(ip, z);
        rd_dataset d;
        rd_error e = {0, ""};
        int rc = rd_data_load_idx(&d, ip, lp, &e);
        if (getenv("RDROP_TEST_VERBOSE")) print_message("  flip @%zu: %s\n", pos, e.msg);
        assert_int_equal(rc, RD_EXIT_DATA);
        assert_int_equal(strncmp(e.msg, ip, strlen(ip)), 0);
        assert_true(is_zero(&d));
        refused++;
        z.bytes[pos] ^= 0xff;
    }
    assert_true(refused >= 30);
    drop(ip);
    drop(lp);
    free(z.bytes);
    free(img.bytes);
    free(px);
}

/* Bytes of address space in use (VmSize), 0 if unknown. */
static rlim_t vm_size(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %llu kB", &kb) == 1) break;
    if (f) fclose(f);
    return (rlim_t)kb * 1024;
}

static void test_absurd_sizes(void **state)
{
    uint8_t px[16] = {0};
    struct {
        uint32_t n, rows, cols;
        const char *want;
    } cases[] = {
        {N, 1u << 31, 1, ": absurd header: images of 2147483648 x 1 = 2147483648 values (allowed 1..16777216)"},
        {N, 1u << 31, 1u << 31, ": absurd header: images of 2147483648 x 2147483648 ="},
        {N, 28, 0, ": absurd header: images of 28 x 0 = 0 values"},
        {0, 28, 28, ": absurd header: 0 images (allowed 1..268435456)"},
        {(1u << 28) + 1, 1, 1, ": absurd header: 268435457 images"},
        {0xffffffffu, 0xffffffffu, 0xffffffffu, ": absurd header: 4294967295 images"},
        {1u << 20, 128, 128, ": absurd header: 1048576 images of 128 x 128 = 17179869184 bytes (limit 8589934592)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t dims[3] = {cases[i].n, cases[i].rows, cases[i].cols};
        blob img = idx_blob(0x803, dims, 3, px, sizeof px);
        expect_image_error(img, cases[i].want);
        free(img.bytes);
    }
    /* 2-D form */
    uint32_t dims2[2] = {N, 0};
    blob img2 = idx_blob(0x802, dims2, 2, px, sizeof px);
    expect_image_error(img2, ": absurd header: images of 0 = 0 values");
    free(img2.bytes);

    /* labels: zero and too many */
    uint32_t lz[1] = {0};
    blob lab0 = idx_blob(0x801, lz, 1, px, 0);
    char *ip = write_plain_free(images_blob()), *lp = write_plain(lab0);
    expect_error(ip, lp, RD_EXIT_DATA, lp, ": 0 labels but");
    drop(lp);
    free(lab0.bytes);

    /* within the limits (exactly 2^33 bytes) but the file is tiny: a truncation error,
     * found without allocating 8 GiB first (this would abort or be slow otherwise) */
    uint32_t dims3[3] = {1u << 27, 8, 8};
    blob img3 = idx_blob(0x803, dims3, 3, px, sizeof px);
    char *ip3 = write_gz(img3), *lp3 = write_plain_free(labels_blob());
    double t0 = rd_now();
    expect_error(ip3, lp3, RD_EXIT_DATA, ip3, ": truncated: expected 8589934592 bytes of pixels, got 16");
    assert_true(rd_now() - t0 < 5.0);
    /* again in a child whose address space is capped 1 GiB above its current size:
     * an up-front 8 GiB malloc would fail there and give a different error */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit lim = {vm_size() + (1ull << 30), RLIM_INFINITY};
        rd_dataset d;
        rd_error e = {0, ""};
        int ok = setrlimit(RLIMIT_AS, &lim) == 0 && rd_data_load_idx(&d, ip3, lp3, &e) == RD_EXIT_DATA &&
                 strstr(e.msg, ": truncated: expected 8589934592 bytes of pixels, got 16");
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    drop(ip3);
    drop(lp3);
    drop(ip);
    free(img3.bytes);
}

/* ---------------------------------------------------------------- real data */

static void test_fashion_mnist_t10k(void **state)
{
    const char *ip = FASHION_DIR "/t10k-images-idx3-ubyte.gz";
    const char *lp = FASHION_DIR "/t10k-labels-idx1-ubyte.gz";
    if (access(ip, R_OK) != 0 || access(lp, R_OK) != 0) {
        print_message("SKIP: %s not installed (apt-get install dataset-fashion-mnist)\n", FASHION_DIR);
        skip();
    }
    rd_dataset d;
    rd_error e = {0, ""};
    int rc = rd_data_load_idx(&d, ip, lp, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(d.n, 10000);
    assert_int_equal(d.features, 784);
    assert_int_equal(d.classes, 10);
    uint32_t count[10] = {0};
    for (uint32_t i = 0; i < d.n; i++) count[d.y[i]]++;
    for (int c = 0; c < 10; c++) assert_int_equal(count[c], 1000);   /* t10k is balanced */
    assert_int_equal(d.y[0], 9);                                    /* an ankle boot */
    uint64_t sum = 0;
    uint8_t max = 0;
    for (size_t i = 0; i < (size_t)d.n * d.features; i++) {
        sum += d.x[i];
        if (d.x[i] > max) max = d.x[i];
    }
    assert_int_equal(max, 255);
    assert_close((double)sum / ((double)d.n * d.features), 72.9, 1.0, 0);   /* mean pixel ~0.286 */
    rd_data_free(&d);
}

/* ---------------------------------------------------------------- synthetic */

static void test_synthetic_deterministic(void **state)
{
    enum { SN = 2000, SF = 50, SC = 10 };
    rd_dataset a, b, t, o;
    rd_data_synthetic(&a, SN, SF, SC, 42, 0);
    rd_data_synthetic(&b, SN, SF, SC, 42, 0);
    rd_data_synthetic(&t, SN, SF, SC, 42, 1);
    rd_data_synthetic(&o, SN, SF, SC, 43, 0);
    assert_int_equal(a.n, SN);
    assert_int_equal(a.features, SF);
    assert_int_equal(a.classes, SC);
    assert_memory_equal(a.x, b.x, (size_t)SN * SF);
    assert_memory_equal(a.y, b.y, SN);
    assert_memory_not_equal(a.x, t.x, (size_t)SN * SF);
    assert_memory_not_equal(a.y, t.y, SN);
    assert_memory_not_equal(a.x, o.x, (size_t)SN * SF);

    /* labels in range, every class present, roughly balanced */
    uint32_t count[SC] = {0};
    for (int i = 0; i < SN; i++) {
        assert_true(a.y[i] < SC);
        assert_true(t.y[i] < SC);
        count[a.y[i]]++;
    }
    for (int c = 0; c < SC; c++) assert_in_range(count[c], SN / SC / 2, SN / SC * 2);

    /* a prefix of a larger set is the smaller set (sample i depends on i only) */
    rd_dataset big;
    rd_data_synthetic(&big, SN + 100, SF, SC, 42, 0);
    assert_memory_equal(big.x, a.x, (size_t)SN * SF);
    assert_memory_equal(big.y, a.y, SN);

    /* same prototypes in both splits: class means agree closely */
    for (int c = 0; c < SC; c++) {
        double ma = 0, mt = 0;
        int na = 0, nt = 0;
        for (int i = 0; i < SN; i++) {
            if (a.y[i] == c) { ma += a.x[(size_t)i * SF]; na++; }
            if (t.y[i] == c) { mt += t.x[(size_t)i * SF]; nt++; }
        }
        assert_close(ma / na, mt / nt, 15.0, 0);
    }
    rd_data_free(&a);
    rd_data_free(&b);
    rd_data_free(&t);
    rd_data_free(&o);
    rd_data_free(&big);
}

/* Nearest class mean, fitted on split 0 and scored on split 1: the set must be
 * learnable (well above chance) but not perfectly separable. */
static double centroid_accuracy(uint32_t n, uint32_t features, uint32_t classes, uint64_t seed)
{
    rd_dataset tr, te;
    rd_data_synthetic(&tr, n, features, classes, seed, 0);
    rd_data_synthetic(&te, n, features, classes, seed, 1);
    double *mean = calloc((size_t)classes * features, sizeof *mean);
    uint32_t *cnt = calloc(classes, sizeof *cnt);
    for (uint32_t i = 0; i < n; i++) {
        cnt[tr.y[i]]++;
        for (uint32_t f = 0; f < features; f++) mean[(size_t)tr.y[i] * features + f] += tr.x[(size_t)i * features + f];
    }
    for (uint32_t c = 0; c < classes; c++)
        for (uint32_t f = 0; f < features; f++) mean[(size_t)c * features + f] /= cnt[c] ? cnt[c] : 1;
    uint32_t correct = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t best = 0;
        double best_d = INFINITY;
        for (uint32_t c = 0; c < classes; c++) {
            double dist = 0;
            for (uint32_t f = 0; f < features; f++) {
                double diff = te.x[(size_t)i * features + f] - mean[(size_t)c * features + f];
                dist += diff * diff;
            }
            if (dist < best_d) { best_d = dist; best = c; }
        }
        correct += (int32_t)best == te.y[i];
    }
    free(mean);
    free(cnt);
    rd_data_free(&tr);
    rd_data_free(&te);
    return (double)correct / n;
}

static void test_synthetic_difficulty(void **state)
{
    double small = centroid_accuracy(3000, 16, 10, 1);
    double wide = centroid_accuracy(3000, 784, 10, 2);
    print_message("nearest-centroid accuracy: %.3f (16 features), %.3f (784 features)\n", small, wide);
    assert_in_range((int)(small * 1000), 600, 970);
    assert_in_range((int)(wide * 1000), 800, 970);
}

static void test_synthetic_values(void **state)
{
    rd_dataset d;
    rd_data_synthetic(&d, 500, 33, 3, 7, 0);   /* features not a multiple of 4 */
    uint32_t hist[256] = {0};
    for (size_t i = 0; i < 500 * 33; i++) hist[d.x[i]]++;
    /* prototypes lie in [40,215], noise spreads a little beyond, nothing clips massively */
    uint32_t inside = 0;
    for (int v = 20; v <= 235; v++) inside += hist[v];
    assert_true(inside > 500 * 33 * 95 / 100);
    assert_true(hist[0] + hist[255] < 500 * 33 / 100);
    for (int i = 0; i < 500; i++) assert_true(d.y[i] < 3);
    rd_data_free(&d);
    assert_true(is_zero(&d));
}

/* ---------------------------------------------------------------- gather */

static void test_gather(void **state)
{
    uint8_t x[4 * 3] = {0, 255, 51, 1, 2, 3, 100, 200, 128, 7, 8, 9};
    int32_t y[4] = {4, 5, 6, 7};
    rd_dataset d = {.n = 4, .features = 3, .classes = 10, .x = x, .y = y};
    uint32_t idx[3] = {2, 0, 2};
    float out[9];
    int32_t lab[3] = {-1, -1, -1};
    rd_data_gather(&d, idx, 3, out, lab);
    const float want[9] = {100 / 255.0f, 200 / 255.0f, 128 / 255.0f, 0.0f, 1.0f, 0.2f,
                           100 / 255.0f, 200 / 255.0f, 128 / 255.0f};
    for (int i = 0; i < 9; i++) assert_close(out[i], want[i], 0, 1e-7);
    assert_true(out[3] == 0.0f && out[4] == 1.0f);   /* exact ends */
    assert_int_equal(lab[0], 6);
    assert_int_equal(lab[1], 4);
    assert_int_equal(lab[2], 6);

    float out2[3] = {-1, -1, -1};
    uint32_t one = 3;
    rd_data_gather(&d, &one, 1, out2, NULL);
    assert_close(out2[0], 7 / 255.0, 0, 1e-7);
    assert_close(out2[2], 9 / 255.0, 0, 1e-7);
}


/* ---------------------------------------------------------------- augmentation */

/* A 4 x 5 "image" dataset of n samples whose pixel (r, c) of sample i is 1 + 20 r + c + 100 i
 * (below 256 for i < 2), gathered as floats: a transform is read off the output directly. */
static rd_dataset image_set(uint32_t n)
{
    rd_dataset d = {0};
    d.n = n;
    d.rows = 4;
    d.cols = 5;
    d.features = 20;
    d.classes = 2;
    d.x = malloc((size_t)n * 20);
    d.y = calloc(n, sizeof *d.y);
    for (uint32_t i = 0; i < n; i++)
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 5; c++) d.x[i * 20 + r * 5 + c] = (uint8_t)((1 + 20 * r + c + 100 * i) % 256);
    return d;
}

/* The transform of sample idx at (seed, epoch) as the documented formula gives it. */
static void expected_transform(uint64_t seed, uint32_t epoch, uint32_t index, int flip, int s,
                               int *mirror, int *dx, int *dy)
{
    uint32_t ctr[4] = {index, epoch, 0, 0}, v[4];
    rd_philox(rd_rng_key(seed, RD_PURPOSE_AUGMENT, 0), ctr, v);
    *mirror = flip && (v[0] & 1u);
    *dx = s ? (int)(((uint64_t)v[1] * (uint64_t)(2 * s + 1)) >> 32) - s : 0;
    *dy = s ? (int)(((uint64_t)v[2] * (uint64_t)(2 * s + 1)) >> 32) - s : 0;
}

static void test_augment_off_is_identity(void **state)
{
    (void)state;
    rd_dataset d = image_set(2);
    uint32_t idx[2] = {1, 0};
    float x[40], ref[40], scratch[20];
    rd_data_gather(&d, idx, 2, x, NULL);
    memcpy(ref, x, sizeof x);
    const rd_augment off = {false, 0};
    rd_data_augment(&d, &off, 7, 3, idx, 2, x, scratch);
    assert_memory_equal(x, ref, sizeof x);
    rd_data_free(&d);
}

/* Every output pixel against the formula, over many (seed, epoch) draws: mirrors, shifts in
 * both directions and zero fill all occur. */
static void test_augment_matches_formula(void **state)
{
    (void)state;
    rd_dataset d = image_set(2);
    const rd_augment a = {true, 2};
    float x[20], scratch[20];
    int seen_mirror = 0, seen_plain = 0, seen_dx[5] = {0}, seen_dy[5] = {0};
    for (uint32_t epoch = 0; epoch < 200; epoch++) {
        uint32_t i = epoch % 2;
        rd_data_gather(&d, &i, 1, x, NULL);
        rd_data_augment(&d, &a, 11, epoch, &i, 1, x, scratch);
        int mirror, dx, dy;
        expected_transform(11, epoch, i, 1, 2, &mirror, &dx, &dy);
        assert_true(dx >= -2 && dx <= 2 && dy >= -2 && dy <= 2);
        seen_mirror += mirror;
        seen_plain += !mirror;
        seen_dx[dx + 2]++;
        seen_dy[dy + 2]++;
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 5; c++) {
                int sr = r - dy, sc = c - dx;
                double want = 0.0;
                if (sr >= 0 && sr < 4 && sc >= 0 && sc < 5) {
                    int cc = mirror ? 4 - sc : sc;
                    want = d.x[i * 20 + sr * 5 + cc] / 255.0;
                }
                assert_close(x[r * 5 + c], want, 0, 1e-7);
            }
    }
    assert_true(seen_mirror > 70 && seen_plain > 70);      /* about 100 each */
    for (int k = 0; k < 5; k++) assert_true(seen_dx[k] > 15 && seen_dy[k] > 15);   /* about 40 */
    rd_data_free(&d);
}

/* A mirror alone reverses every row; a shift alone moves the picture and fills zeros. */
static void test_augment_flip_and_shift_by_hand(void **state)
{
    (void)state;
    rd_dataset d = image_set(1);
    float x[20], scratch[20];
    uint32_t i = 0;
    const rd_augment flip = {true, 0}, shift = {false, 1};
    int done_flip = 0, done_shift = 0;
    for (uint32_t epoch = 0; epoch < 64 && !(done_flip && done_shift); epoch++) {
        int mirror, dx, dy;
        expected_transform(5, epoch, 0, 1, 0, &mirror, &dx, &dy);
        if (mirror && !done_flip) {
            rd_data_gather(&d, &i, 1, x, NULL);
            rd_data_augment(&d, &flip, 5, epoch, &i, 1, x, scratch);
            assert_close(x[0], 5 / 255.0, 0, 1e-7);     /* row 0 was 1 2 3 4 5 */
            assert_close(x[4], 1 / 255.0, 0, 1e-7);
            assert_close(x[15], 65 / 255.0, 0, 1e-7);   /* row 3 was 61 .. 65 */
            done_flip = 1;
        }
        expected_transform(5, epoch, 0, 0, 1, &mirror, &dx, &dy);
        if (dx == 1 && dy == 1 && !done_shift) {
            rd_data_gather(&d, &i, 1, x, NULL);
            rd_data_augment(&d, &shift, 5, epoch, &i, 1, x, scratch);
            for (int c = 0; c < 5; c++) assert_true(x[c] == 0.0f);          /* row 0 filled */
            for (int r = 0; r < 4; r++) assert_true(x[r * 5] == 0.0f);      /* column 0 filled */
            assert_close(x[1 * 5 + 1], 1 / 255.0, 0, 1e-7);                 /* (0,0) -> (1,1) */
            assert_close(x[3 * 5 + 4], 44 / 255.0, 0, 1e-7);                /* (2,3) -> (3,4) */
            done_shift = 1;
        }
    }
    assert_true(done_flip && done_shift);
    rd_data_free(&d);
}

/* The transform depends on (seed, epoch, dataset index) only, not on the batch position;
 * another epoch or seed draws another one; a 1 x F sample (synthetic data) never moves
 * vertically. */
static void test_augment_keyed_by_sample(void **state)
{
    (void)state;
    rd_dataset d = image_set(2);
    const rd_augment a = {true, 2};
    float one[20], two[40], scratch[20];
    uint32_t i1 = 1, idx[2] = {0, 1};
    rd_data_gather(&d, &i1, 1, one, NULL);
    rd_data_augment(&d, &a, 3, 9, &i1, 1, one, scratch);
    rd_data_gather(&d, idx, 2, two, NULL);
    rd_data_augment(&d, &a, 3, 9, idx, 2, two, scratch);
    assert_memory_equal(one, two + 20, sizeof one);
    int differ = 0;
    for (uint32_t epoch = 10; epoch < 20; epoch++) {
        float other[20];
        rd_data_gather(&d, &i1, 1, other, NULL);
        rd_data_augment(&d, &a, 3, epoch, &i1, 1, other, scratch);
        differ += memcmp(other, one, sizeof one) != 0;
    }
    assert_true(differ >= 5);
    rd_dataset flat = image_set(2);
    flat.rows = 1;
    flat.cols = 20;
    for (uint32_t epoch = 0; epoch < 50; epoch++) {
        float f[20];
        rd_data_gather(&flat, &i1, 1, f, NULL);
        rd_data_augment(&flat, &a, 3, epoch, &i1, 1, f, scratch);
        int nz = 0;
        for (int k = 0; k < 20; k++) nz += f[k] != 0.0f;
        assert_true(nz >= 18);     /* a horizontal shift of at most 2 drops at most 2 values */
    }
    rd_data_free(&flat);
    rd_data_free(&d);
}

/* ---------------------------------------------------------------- HDF5 */

/* X float32 [n, 3, 4, 2] (chunks of `chunk` samples, gzip when asked) or uint8 [n, 5]
 * (contiguous), y int16 [n] = i % 7 + 300 (labels above 255). */
static char *write_h5(uint32_t n, bool is_float, hsize_t chunk, bool gzip)
{
    char *path = rd_test_tmpfile(".h5", NULL, 0);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hsize_t fd[4] = {n, 3, 4, 2}, ud[2] = {n, 5}, cd[4] = {chunk, 3, 4, 2};
    hid_t sp = is_float ? H5Screate_simple(4, fd, NULL) : H5Screate_simple(2, ud, NULL);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    if (is_float) {
        H5Pset_chunk(pl, 4, cd);
        if (gzip) H5Pset_deflate(pl, 1);
    }
    size_t f_per = is_float ? 24 : 5;
    float *xf = malloc(n * f_per * sizeof *xf);
    uint8_t *xu = malloc(n * f_per);
    for (size_t i = 0; i < n * f_per; i++) {
        xf[i] = (float)i * 0.37f - 11.0f;
        xu[i] = (uint8_t)(i * 37 % 251);
    }
    hid_t dx = H5Dcreate2(f, "X", is_float ? H5T_IEEE_F32LE : H5T_STD_U8LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    assert_true(H5Dwrite(dx, is_float ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                         is_float ? (void *)xf : (void *)xu) >= 0);
    H5Dclose(dx);
    H5Sclose(sp);
    H5Pclose(pl);
    hsize_t yd = n;
    int16_t *y = malloc(n * sizeof *y);
    for (uint32_t i = 0; i < n; i++) y[i] = (int16_t)(i % 7 + 300);
    sp = H5Screate_simple(1, &yd, NULL);
    hid_t dy = H5Dcreate2(f, "y", H5T_STD_I16LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Dwrite(dy, H5T_NATIVE_INT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, y) >= 0);
    H5Dclose(dy);
    H5Sclose(sp);
    H5Fclose(f);
    free(xf);
    free(xu);
    free(y);
    return path;
}

/* The streamed gather (direct reads and HDF5's hyperslab path) equals the in-memory one for
 * random indices with repeats, prefetched or not; shapes and classes come from the file. */
static void check_stream_equals_memory(bool is_float, hsize_t chunk, bool gzip)
{
    const uint32_t n = 1000;
    char *path = write_h5(n, is_float, chunk, gzip);
    rd_hdf5_source src = {path, "data.train_file", "/X", "y", false};
    rd_dataset mem, str;
    rd_error e;
    assert_int_equal(rd_data_load_hdf5(&mem, &src, "", &e), 0);
    src.stream = true;
    assert_int_equal(rd_data_load_hdf5(&str, &src, NULL, &e), 0);
    assert_non_null(str.stream);
    assert_null(str.x);
    assert_null(str.xf);
    assert_int_equal(mem.classes, 307);
    assert_int_equal(mem.n, n);
    assert_int_equal(mem.features, is_float ? 24 : 5);
    assert_int_equal(mem.rows, is_float ? 3 : 1);
    assert_int_equal(mem.cols, is_float ? 4 : 1);
    assert_int_equal(mem.channels, is_float ? 2 : 5);
    enum { B = 37 };
    uint32_t idx[3][B];
    uint64_t s = 12345;
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < B; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            idx[b][i] = (uint32_t)(s >> 33) % n;
        }
    idx[0][5] = idx[0][6];      /* a repeated index */
    idx[1][0] = n - 1;          /* the last sample (a partial chunk) */
    float xm[B * 24], xs[B * 24];
    int32_t ym[B], ys[B];
    rd_data_prefetch(&str, idx[0], B);
    rd_data_prefetch(&str, idx[1], B);
    for (int b = 0; b < 3; b++) {
        assert_int_equal(rd_data_fetch(&str, idx[b], B, &e), 0);
        rd_data_gather(&mem, idx[b], B, xm, ym);
        rd_data_gather(&str, idx[b], B, xs, ys);
        assert_memory_equal(xm, xs, B * mem.features * sizeof *xm);
        assert_memory_equal(ym, ys, sizeof ym);
        assert_int_equal(ys[3], (int32_t)(idx[b][3] % 7 + 300));
    }
    rd_data_free(&mem);
    rd_data_free(&str);
    assert_true(is_zero(&str));
    unlink(path);
    free(path);
}

static void test_hdf5_stream_float_chunked(void **state) { check_stream_equals_memory(true, 7, false); }
static void test_hdf5_stream_float_gzip(void **state) { check_stream_equals_memory(true, 7, true); }
static void test_hdf5_stream_uint8_contiguous(void **state) { check_stream_equals_memory(false, 0, false); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_plain_and_gz),
        cmocka_unit_test(test_good_2d_images),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_truncated_header),
        cmocka_unit_test(test_truncated_body),
        cmocka_unit_test(test_truncated_gz_file),
        cmocka_unit_test(test_wrong_magic),
        cmocka_unit_test(test_label_out_of_range),
        cmocka_unit_test(test_count_mismatch),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_corrupt_gzip),
        cmocka_unit_test(test_absurd_sizes),
        cmocka_unit_test(test_fashion_mnist_t10k),
        cmocka_unit_test(test_synthetic_deterministic),
        cmocka_unit_test(test_synthetic_difficulty),
        cmocka_unit_test(test_synthetic_values),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_hdf5_stream_float_chunked),
        cmocka_unit_test(test_hdf5_stream_float_gzip),
        cmocka_unit_test(test_hdf5_stream_uint8_contiguous),
        cmocka_unit_test(test_augment_off_is_identity),
        cmocka_unit_test(test_augment_matches_formula),
        cmocka_unit_test(test_augment_flip_and_shift_by_hand),
        cmocka_unit_test(test_augment_keyed_by_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
