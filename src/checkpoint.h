/* checkpoint.h - the one place that knows the HDF5 checkpoint schema (docs/ARCHITECTURE.md "Checkpoint schema").
 *
 * File = 512-byte user block ("RDROPCK1", format version, file length, CRC-32 of
 * [512, EOF)) + HDF5 (libver V18..V110, Fletcher32-chunked datasets). Every reader checks
 * length and CRC in plain C before any HDF5 call. Writes are atomic and durable:
 * DIR/.NAME.tmp -> H5Fclose -> fill user block -> fsync -> rename -> fsync(DIR).
 *
 * User block (little-endian): bytes 0-7 "RDROPCK1", 8-11 format version (uint32),
 * 12-19 file length (uint64), 20-23 zlib CRC-32 of bytes [512, EOF) (uint32), 24-511 zero.
 * Strings are variable-length UTF-8 attributes (h5py reads them as str); /model attribute
 * `order` is a 1-D string array; booleans (nesterov, overlap) are int32 0/1.
 *
 * The caller must ignore SIGXFSZ (signal(SIGXFSZ, SIG_IGN)) so that a file-size limit
 * makes a write fail with EFBIG (exit 5) instead of killing the process.
 */
#ifndef RDROP_CHECKPOINT_H
#define RDROP_CHECKPOINT_H

#include "model.h"

#define RD_CKPT_FORMAT "rdrop-checkpoint"
#define RD_CKPT_FORMAT_VERSION 1
#define RD_CKPT_FORMAT_VERSION_CONV 2   /* files with conv2d layers (docs/conv.md); MLP-only stay 1 */
#define RD_CKPT_USERBLOCK 512
#define RD_CKPT_MAGIC "RDROPCK1"

/* Training state that is not the model: everything needed to continue exactly. */
typedef struct {
    int64_t step;              /* completed optimizer steps (whole run) */
    int64_t epoch;             /* completed epochs */
    uint64_t position;         /* samples of the current epoch's permutation consumed */
    double lr;                 /* LR of the last step */
    /* interval sums since the last train row */
    double sum_loss, sum_ce, sum_kl, sum_correct, sum_samples;
    int64_t sum_steps;
    double best_val_acc;       /* -1 when none yet */
    int64_t best_step;         /* -1 when none yet */
    int64_t patience_left;
    uint32_t n_validation;
    uint32_t n_train;          /* training samples used (after the split and data.train_samples);
                                  0 when read from a checkpoint that predates the attribute */
    uint32_t *validation_indices;  /* [n_validation], sorted */
    char *metrics;             /* bytes of metrics.jsonl up to this step */
    size_t metrics_len;
} rd_train_state;

/* The scalars of rd_train_state as RD_STATE_SLOTS 8-byte slots, for the resume broadcast: the
 * same field table as the checkpoint's write and read. pack returns the slots used; unpack
 * sets only those scalars (not validation_indices or metrics). */
#define RD_STATE_SLOTS 32
int rd_train_state_pack(const rd_train_state *s, uint64_t slots[RD_STATE_SLOTS]);
void rd_train_state_unpack(rd_train_state *s, const uint64_t slots[RD_STATE_SLOTS]);

/* Host/run facts for the root attributes (wall-clock and provenance only). */
typedef struct {
    int world_size;
    const char *config_yaml;    /* resolved config; NULL = rd_config_to_yaml(c) */
    const char *git;            /* commit or "unknown" */
    const char *build_flags;
    const char *mpi_version;
    const char *blas_core;
    const char *blas_core_origin;   /* src/blas.h rd_blas_origin() */
    double blas_gflops;             /* the start-up probe */
    int blas_threads;
    double bucket_mb;
    bool overlap;               /* the setting in use (dist.overlap auto: the verdict) */
    const char *overlap_choice; /* dist.overlap auto: both timings and the verdict; NULL = none */
} rd_ckpt_meta;

/* One parameterised layer (/model attribute order): dense_<i> or conv2d_<i>. */
typedef struct {
    char name[32];              /* group name */
    int rank, kdims[4];         /* kernel shape: dense [in, out], conv2d [KH, KW, C_in, C_out] */
    int in, out;                /* kernel matrix [in x out] (conv2d: in = KH*KW*C_in) */
    char activation[16];
    double max_norm;
    int stride[2];              /* conv2d */
    char padding[8];            /* conv2d: valid | same */
} rd_ckpt_dense;

/* What a reader learns from a checkpoint before it builds a model. */
typedef struct {
    int format_version;
    char rdrop_version[32];
    char created[40];
    int64_t step, epoch;
    int world_size;
    uint64_t seed;
    char *config_yaml;
    char *architecture;         /* model.layers JSON */
    char dropout_stream[16];
    int rng_version;
    double lr;
    double momentum, weight_decay;  /* /optimizer attributes */
    int nesterov;
    char *schedule;             /* /optimizer attribute schedule (JSON) */
    char git[64], mpi_version[160], blas_core[64], blas_core_origin[96], build_flags[256];
    double blas_gflops;         /* 0 and "" in files written before they existed */
    int blas_threads;
    double bucket_mb;
    int overlap;
    int n_dense;                /* entries of /model attribute order (dense and conv2d) */
    rd_ckpt_dense dense[RD_MAX_LAYERS];
    rd_train_state state;       /* validation_indices and metrics allocated; metrics is
                                   NUL-terminated (metrics_len excludes the NUL) */
} rd_ckpt_info;

/* Write `path` (final name, e.g. RUN/ckpt-000000468.h5) atomically. On failure the temp file
 * is removed, nothing existing is touched, and RD_EXIT_WRITE is returned with
 * "PATH: cannot write checkpoint: No space left on device (previous checkpoints kept)". */
int rd_ckpt_write(const char *path, const rd_model *m, const rd_config *c, const rd_train_state *s,
                  const rd_ckpt_meta *meta, rd_error *e);

/* Plain-C integrity check of the user block (magic, version, length, CRC); no HDF5 call.
 * Returns 0 or RD_EXIT_CHECKPOINT with one of
 *   "PATH: not an rdrop checkpoint (no RDROPCK1 user block)"
 *   "PATH: unsupported checkpoint format version V (this rdrop reads version 1)"
 *   "PATH: truncated: N bytes, the header says M"
 *   "PATH: N bytes, the header says M (trailing data)"
 *   "PATH: corrupt: CRC-32 mismatch (stored 0x..., computed 0x...)"
 *   "PATH: cannot read checkpoint: <strerror>" */
int rd_ckpt_verify(const char *path, rd_error *e);

/* verify + read the metadata and training state. A missing piece is RD_EXIT_CHECKPOINT
 * "PATH: missing /train attribute best_step" (root attributes: "missing root attribute
 * step"; "missing group /rng"; "missing dataset /metrics/jsonl"). On failure *info is left
 * zeroed with nothing allocated. */
int rd_ckpt_read_info(const char *path, rd_ckpt_info *info, rd_error *e);
/* Frees what read_info allocated and zeroes *info (safe on a zeroed info). */
void rd_ckpt_info_free(rd_ckpt_info *info);

/* verify + read kernels, biases (and momentum if `momentum`) into a model built from the
 * checkpoint's config; a shape mismatch is RD_EXIT_CHECKPOINT "PATH: architecture
 * mismatch: dense_1/kernel is [1024 x 512], the config wants [1024 x 1024]" (also: number
 * of dense layers, activation, max_norm). Every shape is checked before anything is read,
 * so on a mismatch the model is unchanged. A dataset that fails its Fletcher32 check is
 * "PATH: corrupt dataset /model/dense_0/kernel (checksum)". */
int rd_ckpt_read_params(const char *path, rd_model *m, bool momentum, rd_error *e);

/* Run-folder helpers. Checkpoints are DIR/ckpt-<step %09>.h5. */
void rd_ckpt_name(char *out, size_t n, const char *dir, int64_t step);

/* "1.10.8": the HDF5 library rdrop runs with. */
void rd_ckpt_hdf5_version(char *out, size_t n);

/* List DIR/ckpt-*.h5 sorted by step descending (parsed from the file's `step` attribute
 * only for files that verify; `bad` receives one line per file that did not verify:
 * "FILE: reason", each ending in '\n', sorted by name; NULL when there is none). Returns
 * count of good files; paths malloc'd; *good is NULL when 0. A missing DIR is 0 files. */
typedef struct { char *path; int64_t step; } rd_ckpt_entry;
int rd_ckpt_list(const char *dir, rd_ckpt_entry **good, char **bad_report);
void rd_ckpt_list_free(rd_ckpt_entry *list, int n);

/* Delete the oldest ckpt-<digits>.h5 beyond `keep` (step parsed from the name); keep <= 0
 * deletes nothing. With keep_every_epochs N > 0 (and steps_per_epoch > 0) the first
 * checkpoint with step >= k*N*steps_per_epoch is also kept, for every k >= 1. Nothing else
 * in DIR (best.h5, temp files, other names) is ever touched. */
void rd_ckpt_prune(const char *dir, long keep, long keep_every_epochs, int64_t steps_per_epoch);

#endif
