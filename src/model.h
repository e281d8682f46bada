/* model.h - a layer list over ONE flat float parameter buffer.
 *
 * Dense: Y = X W + b, X [rows x in], W [in x out] row-major (Keras kernel layout).
 * Dropout (inverted): y = x * m / (1-p), identity at eval. The layer's mask for the
 * current batch is held in the model (uint8, [rows x width]) so that tests can set it.
 * conv2d and max_pool (conv.h): a sample is one NHWC row; a conv2d kernel is the matrix
 * [KH*KW*C_in x C_out] at w_off, so SGD and max-norm treat it exactly like a dense kernel.
 * Gradients and momentum mirror the parameter buffer (same offsets).
 */
#ifndef RDROP_MODEL_H
#define RDROP_MODEL_H

#include "config.h"
#include "conv.h"
#include "rng.h"

typedef struct {
    rd_layer_kind kind;
    int spec_index;        /* index in model.layers (the RNG "layer") */
    int dense_index;       /* 0-based among dense layers, -1 for the others */
    int conv_index;        /* 0-based among conv2d layers, -1 for the others */
    int in, out;           /* widths (values per sample) */
    int shape[3];          /* output [H, W, C] (dense: [1, 1, out]) */
    int k_rows, k_cols;    /* kernel matrix: dense [in x out], conv2d [KH*KW*C_in x C_out]; 0 = none */
    rd_conv_geom g;        /* conv2d, max_pool: the window over the input */
    rd_padding padding;    /* conv2d */
    float *patches;        /* conv2d: im2col patches of one chunk of samples (rd_conv_chunk), or of
                            * the whole batch when keep_patches (docs/conv.md "Buffers") */
    bool keep_patches;     /* conv2d: forward's patches stay for backward's dK (no second im2col) */
    int fwd_chunk;         /* conv2d: samples per forward GEMM */
    bool z_chunk;          /* conv2d + ReLU + max_pool: z holds one forward chunk (fwd_chunk rows) */
    int32_t *argmax;       /* max_pool: [max_rows x out] input offsets of the maxima */
    rd_activation act;
    double max_norm;
    double rate;
    size_t w_off, b_off;   /* offsets into params (dense) */
    float *z;              /* dense: pre-activation [max_rows x out] */
    float *y;              /* output [max_rows x out] */
    float *dy;             /* gradient w.r.t. output [max_rows x out] */
    uint8_t *mask;         /* dropout: [max_rows x out] */
} rd_layer;

typedef struct {
    int n_layers;
    rd_layer layers[RD_MAX_LAYERS];
    int n_dense;
    int n_conv;
    int input_dim, output_dim;
    int input_shape[3];    /* [H, W, C] of a sample */
    size_t n_params;
    float *params;         /* one allocation */
    float *grads;          /* mirrors params, + RD_CONTROL_FLOATS spare floats at the end */
    float *momentum;       /* mirrors params */
    int max_rows;          /* capacity of the activation buffers */
    /* Called by backward as soon as the gradients at offsets >= from are final (after each
     * dense layer's db and dW, and with `progress` set after each row panel of dW), so a
     * bucketed allreduce can start. May be NULL. */
    void (*grad_ready)(void *ctx, size_t from);
    /* When set, backward runs its big GEMMs as panels of ~RD_PANEL_FLOPS and calls this
     * between them, so that nonblocking communication progresses (Open MPI advances it only
     * inside MPI calls). The panel plan depends on the shapes and max_rows only. */
    void (*progress)(void *ctx);
    void *grad_ready_ctx;  /* passed to grad_ready and progress */
    /* run.timeline: called at the begin (end = false) and end of each layer's forward and
     * backward work (a dense layer's forward includes a following dropout's fused sweep).
     * May be NULL. */
    void (*on_layer)(void *ctx, int layer, bool backward, bool end);
    void *on_layer_ctx;
} rd_model;

/* FLOPs per backward GEMM panel when progress is set (~1 ms at 100 GFLOP/s). */
#define RD_PANEL_FLOPS 1e8
/* Fewest rows of W per panel: every panel packs the whole other operand again (for dW the
 * rows x out gradient of Z), so thin panels of a wide layer spend their time packing. */
#ifndef RD_PANEL_MIN_ROWS
#define RD_PANEL_MIN_ROWS 128
#endif

/* Floats after the gradients in `grads`, reduced with them (docs/ARCHITECTURE.md "Control block"). */
#define RD_CONTROL_FLOATS 8

/* Build the layer list for input width `input_dim` (samples [1, 1, input_dim]), buffers for
 * up to max_rows rows. Returns 0 or RD_EXIT_CONFIG (e.g. last layer not dense, a window that
 * does not fit: see rd_config_check_shapes). Parameters are zero. */
int rd_model_create(rd_model *m, const rd_config *c, int input_dim, int max_rows, rd_error *e);

/* The same for [H, W, C] samples (images: H x W x C = the data's features). */
int rd_model_create_hwc(rd_model *m, const rd_config *c, int H, int W, int C, int max_rows, rd_error *e);

/* Does the layer carry a kernel and bias (dense, conv2d)? */
static inline bool rd_layer_has_params(const rd_layer *L) { return L->k_rows > 0; }

/* Rows M of one forward GEMM of a layer with parameters over `rows` samples: [M x k_rows] x
 * [k_rows x k_cols]; dense M = rows, conv2d M = OH*OW x the samples of one chunk. */
int rd_layer_gemm_m(const rd_layer *L, int rows);
void rd_model_free(rd_model *m);

/* Initialise parameters from the seed (docs/ARCHITECTURE.md "Formulas": Init; keys in "RNG: keys and counters"). */
void rd_model_init_params(rd_model *m, rd_init_kind init, uint64_t seed);

/* Fill every dropout layer's mask for a training step in rank mode:
 * rows = 2*B (passes 2) or B; key = (seed, rank); counter (t, layer). */
void rd_model_masks_rank(rd_model *m, int rows, rd_key key, uint64_t t);

/* Sample mode: row r of pass q = mask of (idx[r % B], epoch, q). */
void rd_model_masks_sample(rd_model *m, int B, int passes, const uint32_t *idx,
                           uint64_t seed, uint32_t epoch);

/* Forward `rows` rows of x [rows x input_dim]; train = apply dropout masks.
 * Returns the logits [rows x output_dim] (inside the model). */
const float *rd_model_forward(rd_model *m, const float *x, int rows, bool train);

/* Backward from dlogits [rows x output_dim] (already scaled by the loss reduction):
 * accumulates nothing - OVERWRITES m->grads with dL/dparams for this batch. x is the
 * input given to forward. */
void rd_model_backward(rd_model *m, const float *x, const float *dlogits, int rows);

/* Activation and its derivative w.r.t. the pre-activation, elementwise. */
float rd_act(rd_activation a, float z);
float rd_act_grad(rd_activation a, float z, float y);

#endif
