/* train.h - the training loop, evaluation, and the run folder. */
#ifndef RDROP_TRAIN_H
#define RDROP_TRAIN_H

#include "checkpoint.h"
#include "data.h"
#include "dist.h"
#include "loss.h"

typedef struct {
    const char *resume;          /* NULL, "auto" or a checkpoint path */
    bool allow_config_change;
} rd_train_opts;

/* Train (every rank calls it). Prints progress on rank 0, writes the run folder.
 * Returns the exit code (0, 75 stopped, or an error code after its message was printed). */
int rd_train_run(const rd_config *c, const rd_train_opts *o, rd_dist *d);

/* Signals that request a checkpoint-and-stop (SIGUSR1, SIGTERM, SIGINT; a second SIGINT
 * kills). SIGXFSZ is ignored so a file-size limit gives EFBIG. */
void rd_train_install_signals(void);

typedef struct {
    double loss_sum;
    long correct, samples;
    int classes;                         /* = the model's outputs */
    long *class_correct, *class_total;   /* [classes]; rd_eval_result_free releases them */
} rd_eval_result;

/* One pass, dropout off, mean CE. ids[0..n) are dataset indices; ranks take contiguous
 * shards and the counts are reduced. A streamed set reads the next chunk while this one
 * is evaluated. */
void rd_evaluate(rd_model *m, const rd_dataset *ds, const uint32_t *ids, uint32_t n,
                 const rd_dist *d, float *xbuf, int32_t *ybuf, rd_eval_result *r);
void rd_eval_result_free(rd_eval_result *r);

/* The training set's split (docs/ARCHITECTURE.md, RNG purpose 5): data.validation held-out
 * samples and the data.train_samples (0 = all the rest) training samples, each sorted, out of
 * the n of the training set. The one split function of the trainer and `rdrop eval`.
 * Returns 0 or RD_EXIT_CONFIG ("NAME: data.validation: ..."); on success the id arrays are
 * allocated (val_ids with at least one entry). */
typedef struct {
    uint32_t n_train, n_val;
    uint32_t *train_ids, *val_ids;
} rd_split;
int rd_split_make(rd_split *s, const rd_config *c, uint32_t n, const char *name, rd_error *e);
void rd_split_free(rd_split *s);

/* Load train/test sets per the config (idx or hdf5 files, or synthetic). HDF5: classes =
 * data.classes or max label + 1 over both sets, labels checked against it, both sets of one
 * sample shape. Returns 0, RD_EXIT_DATA or RD_EXIT_CONFIG. */
int rd_load_datasets(const rd_config *c, rd_dataset *train, rd_dataset *test, rd_error *e);

/* The [H, W, C] shape of a sample of ds (rows x cols x channels; [1, 1, features] when those
 * do not multiply to the features). */
void rd_data_shape(const rd_dataset *ds, int shape[3]);

/* rd_model_create_hwc for samples of ds. */
int rd_model_create_for(rd_model *m, const rd_config *c, const rd_dataset *ds, int max_rows, rd_error *e);

#endif
