/* config.h - the run configuration: YAML -> struct, defaults, validation, --set overrides.
 *
 * Every config key has a field here and a documented default
 * (README "Config reference"). Unknown keys, wrong types and out-of-range values are
 * errors "FILE:LINE:COL: key.path: what is wrong" (1-based line/column), exit code 2.
 */
#ifndef RDROP_CONFIG_H
#define RDROP_CONFIG_H

#include "common.h"

#define RD_MAX_LAYERS 32
#define RD_PATH_MAX 1024

typedef enum {
    RD_LAYER_DENSE = 0, RD_LAYER_DROPOUT = 1, RD_LAYER_CONV2D = 2, RD_LAYER_MAX_POOL = 3
} rd_layer_kind;

typedef enum { RD_PAD_VALID = 0, RD_PAD_SAME } rd_padding;

typedef enum {
    RD_ACT_LINEAR = 0, RD_ACT_RELU, RD_ACT_LEAKY_RELU, RD_ACT_ELU, RD_ACT_RELU6,
    RD_ACT_TANH, RD_ACT_SIGMOID, RD_ACT_SWISH, RD_ACT_MISH, RD_ACT_COUNT
} rd_activation;

typedef enum { RD_INIT_HE_UNIFORM = 0, RD_INIT_GLOROT_UNIFORM, RD_INIT_TORCH_DEFAULT } rd_init_kind;

typedef enum {
    RD_SCHED_CONSTANT = 0, RD_SCHED_INVERSE_TIME, RD_SCHED_STEP, RD_SCHED_EXPONENTIAL, RD_SCHED_COSINE
} rd_sched_kind;

typedef enum { RD_REDUCE_MEAN = 0, RD_REDUCE_SUM } rd_reduction;
typedef enum { RD_STREAM_RANK = 0, RD_STREAM_SAMPLE } rd_stream_mode;
typedef enum { RD_DATA_IDX = 0, RD_DATA_SYNTHETIC, RD_DATA_HDF5 } rd_data_format;
typedef enum { RD_LOAD_MEMORY = 0, RD_LOAD_STREAM } rd_data_load;
/* dist.overlap: false | true | auto (measured after warm-up, docs/scale.md) */
typedef enum { RD_OVERLAP_OFF = 0, RD_OVERLAP_ON = 1, RD_OVERLAP_AUTO = 2 } rd_overlap_mode;

typedef struct {
    rd_layer_kind kind;
    int units;               /* dense: output width (>= 1) */
    rd_activation activation; /* dense; default linear */
    double max_norm;          /* dense; 0 = none */
    double rate;              /* dropout: p in [0, 1) */
    int filters;              /* conv2d: output channels (>= 1) */
    int size[2];              /* conv2d, max_pool: window [h, w] */
    int stride[2];            /* conv2d: default [1, 1]; max_pool: default = size */
    rd_padding padding;       /* conv2d: valid (default) | same (TensorFlow's rule) */
} rd_layer_spec;

typedef struct {
    struct {
        rd_init_kind init;                 /* he_uniform */
        int n_layers;                      /* >= 1, last one dense */
        rd_layer_spec layers[RD_MAX_LAYERS];
    } model;
    struct {
        int passes;                        /* 1 .. RD_MAX_PASSES, default 2 */
        double alpha;                      /* >= 0, default 1.0 */
        rd_reduction reduction;            /* mean */
        rd_reduction kl_reduction;         /* mean; sum: alpha * B_global in mean terms */
        double alpha_rampup_epochs;        /* 0 = none; sigmoid ramp exp(-5(1-t)^2) */
    } rdrop;
    struct {
        double lr;                         /* > 0, default 0.05 */
        double momentum;                   /* [0,1), default 0.9 */
        bool nesterov;                     /* false */
        double weight_decay;               /* >= 0, default 0 */
        bool decay_biases;                 /* false: kernels only (Keras); true: biases too (PyTorch) */
    } optimizer;
    struct {
        rd_sched_kind kind;                /* constant */
        long warmup_steps;                 /* 0 */
        double decay;                      /* 0 (inverse_time) */
        double gamma;                      /* 0.1 (step, exponential) */
        long step_steps;                   /* 0 (step: required > 0) */
        long decay_steps;                  /* 0 (exponential: required > 0) */
        double lr_min;                     /* 0 (cosine) */
        bool scale_lr_linear;              /* scale_lr: none | linear */
        long base_batch;                   /* 128 */
    } schedule;
    struct {
        rd_data_format format;             /* idx | synthetic | hdf5 */
        char train_file[RD_PATH_MAX];      /* hdf5: absolute after resolution (may equal test_file) */
        char test_file[RD_PATH_MAX];
        char images[RD_PATH_MAX];          /* hdf5: dataset of X, default /X */
        char labels[RD_PATH_MAX];          /* hdf5: dataset of y, default /y */
        long classes;                      /* hdf5: 0 = max label + 1 over train and test */
        rd_data_load load;                 /* hdf5: memory | stream */
        char train_images[RD_PATH_MAX];    /* absolute after resolution */
        char train_labels[RD_PATH_MAX];
        char test_images[RD_PATH_MAX];
        char test_labels[RD_PATH_MAX];
        long batch_size;                   /* global batch, default 128 */
        bool shuffle;                      /* true */
        bool drop_last;                    /* true (false is refused: partial batches unsupported) */
        long validation;                   /* 0 */
        long train_samples;                /* 0 = all not held out; else a seed-chosen subset */
        struct {                           /* data.augment.*: training samples only */
            bool flip;                     /* false: mirror left-right with probability 1/2 */
            long shift;                    /* 0: translate by up to this many pixels each way */
        } augment;
        struct {                           /* data.synthetic.*, used when format: synthetic */
            long train;                    /* 2048 */
            long test;                     /* 512 */
            long features;                 /* 32 */
            long classes;                  /* 4 */
        } synthetic;
    } data;
    struct {
        long epochs;                       /* 20 */
        long max_steps;                    /* 0 = no limit (a total for the run) */
        double max_seconds;                /* 0 = no limit */
        long log_every_steps;              /* 0 = epoch ends only */
        long eval_every_epochs;            /* 1 */
        long patience;                     /* 0 = no early stopping */
        long accumulate;                   /* 1: micro-batches per rank per step (docs/scale.md) */
    } training;
    struct {
        long every_steps;                  /* 0 */
        long every_epochs;                 /* 1 */
        double every_seconds;              /* 0 */
        long keep;                         /* 3 */
        long keep_every_epochs;            /* 0 */
    } checkpoint;
    struct {
        rd_stream_mode dropout_stream;     /* rank */
    } rng;
    struct {
        double bucket_mb;                  /* 4 */
        int overlap;                       /* rd_overlap_mode: auto (docs/scale.md) */
        int compress;                      /* rd_compress: none (half.h) */
        bool hierarchical;                 /* false: node-local reduce, leaders, broadcast */
    } dist;
    struct {
        char out[RD_PATH_MAX];             /* runs/NAME where NAME = config file stem */
        uint64_t seed;                     /* 0 */
        int blas_threads;                  /* 1 */
        char timeline[RD_PATH_MAX];        /* "": Chrome trace of the first steps (docs/scale.md) */
        long timeline_steps;               /* 10 */
        char blas_core[RD_PATH_MAX];       /* auto | best | keep | an OpenBLAS kernel name (src/blas.h) */
    } run;
} rd_config;

/* Fill every field with its documented default. Data paths are empty and run.out is
 * "runs/rdrop" (relative); the loaders replace run.out with runs/<file stem> before the
 * file is applied. */
void rd_config_defaults(rd_config *c);

/* Parse the YAML file `path`, apply `nset` overrides "key.path=VALUE" (VALUE: a YAML scalar
 * or flow value), validate, resolve relative paths against the current directory.
 * run.out defaults to "runs/<stem of path>". Returns 0 or RD_EXIT_CONFIG with e set.
 * Override errors are reported as "--set key.path=VALUE: what is wrong". */
int rd_config_load(rd_config *c, const char *path, int nset, char *const *sets, rd_error *e);

/* Same, from YAML text in memory; `name` is used in messages in place of a file name.
 * Used for the config stored in a checkpoint. */
int rd_config_load_text(rd_config *c, const char *text, size_t len, const char *name,
                        int nset, char *const *sets, rd_error *e);

/* Semantic validation of a filled struct (ranges, model shape). Returns 0 or RD_EXIT_CONFIG
 * with "NAME: key.path: what is wrong". load() calls it. */
int rd_config_validate(const rd_config *c, const char *name, rd_error *e);

/* The model of `c` on inputs of `input_dim` values (known once the data are read) must have
 * at most 2^31 parameters. Returns 0 or RD_EXIT_CONFIG with "NAME: model.layers.I.units: with
 * N inputs per sample the model would have P parameters ...". Validation checks the same
 * limit with the synthetic width, or counting one input for IDX data. */
int rd_config_check_model_size(const rd_config *c, long input_dim, const char *name, rd_error *e);

/* The layer shapes of `c` on [H, W, C] input samples (docs/conv.md): conv2d and max_pool only
 * before the first dense layer, every window within its (padded) input, every output size
 * >= 1, and (rows > 0) each conv2d's im2col buffer of rows x out_h*out_w x KH*KW*C_in floats
 * within physical memory. Returns 0 or RD_EXIT_CONFIG with "NAME: model.layers.I: what is
 * wrong". shapes (may be NULL) receives each layer's output [H, W, C]. */
int rd_config_check_shapes(const rd_config *c, int H, int W, int C, long rows, const char *name,
                           int (*shapes)[3], rd_error *e);

/* --out DIR: run.out = DIR resolved like every path of the config (absolute, against the
 * current directory; "." segments and trailing slashes dropped). DIR must be UTF-8. Returns 0
 * or RD_EXIT_CONFIG. */
int rd_config_set_out(rd_config *c, const char *dir, rd_error *e);

/* The resolved config as YAML with every key, written by libyaml's emitter from the key
 * table (block style, table order; doubles in the shortest form that reads back exactly,
 * paths double-quoted). Caller frees. */
char *rd_config_to_yaml(const rd_config *c);

/* model.layers as one-line JSON (jansson), e.g. [{"type":"dense","units":10,...}]. Caller frees. */
char *rd_config_layers_json(const rd_config *c);

/* The same with "output_shape":[H,W,C] on every layer after an {"type":"input",...} entry
 * giving the sample shape (checkpoint architecture of models with conv2d layers). */
char *rd_config_layers_json_shapes(const rd_config *c, const int input[3], const int (*shapes)[3]);

/* The direct leaves of `section` (e.g. "schedule") as one JSON object, in table order. Caller frees. */
char *rd_config_section_json(const rd_config *c, const char *section);

/* Do a and b agree on every key under `section` ("model", "data", ...; model.layers compared
 * layer by layer, key by key)? The resume check compares configs with this, not as text. */
bool rd_config_section_equal(const rd_config *a, const rd_config *b, const char *section);

/* Names <-> enums (NULL / -1 when unknown). */
const char *rd_activation_name(rd_activation a);
int rd_activation_parse(const char *s);
const char *rd_sched_name(rd_sched_kind k);
const char *rd_layer_type_name(rd_layer_kind k);
const char *rd_padding_name(rd_padding p);

#endif
