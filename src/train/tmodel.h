/* tmodel.h - a trainable ALBERT: one parameter allocation, one gradient
 * allocation with the same layout, activations saved per layer application
 * for the backward pass.
 *
 * Parameters are laid out tensor after tensor in a fixed order (the table
 * `t`); `eb_tw` views (pointer structs) are built over any buffer with that
 * layout: the parameters, the gradients, the Adam moments, the effective
 * (masked) weights.  The effective weights are what the forward pass reads:
 * with pruning they are W * mask, otherwise the parameters themselves.  An
 * eb_albert_weights view over the effective weights lets the engine's forward
 * (eb_albert_layer_apply, ...) run the model for evaluation. */
#ifndef EB_TRAIN_TMODEL_H
#define EB_TRAIN_TMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "edgebert.h"
#include "model/albert.h"

/* Tensor flags */
#define EB_TP_DECAY 1u     /* weight decay applies (matrices, not biases/LayerNorm/span) */
#define EB_TP_EMB 2u       /* embedding module (frozen in the student) */
#define EB_TP_PRUNE 4u     /* encoder matrix masked by pruning (Q, K, V, O, FFN in/out) */
#define EB_TP_SPAN 8u      /* adaptive span z */
#define EB_TP_RAMP 16u     /* off-ramp head */
#define EB_TP_EMBPRUNE 32u /* percentile-pruned: word/position/type embeddings and mapping */
#define EB_TP_ADAPTER 64u  /* adapter-ALBERT bottleneck adapter */
#define EB_TP_HEAD 128u    /* the main task head: albert.pooler and classifier */
#define EB_TP_MLM 256u     /* masked-LM head (predictions.*): pretraining only */

/* eb_tm_create `heads` flags */
#define EB_TM_RAMPS 1 /* off-ramps after layers 1..L-1 */
#define EB_TM_MLM 2   /* the masked-LM head (AlbertMLMHead, decoder tied to the word embeddings) */

typedef struct eb_tparam {
    char name[112];
    size_t off, numel;
    int ndim;
    int64_t shape[2];
    unsigned flags;
} eb_tparam;

typedef struct eb_tlin {
    float *w, *b;
} eb_tlin;
typedef struct eb_tnorm {
    float *g, *b;
} eb_tnorm;
typedef struct eb_tlayer {
    eb_tlin q, k, v, o;
    eb_tnorm aln;
    eb_tlin ffn, ffn_out;
    eb_tnorm oln;
    float *span; /* [NH] or NULL */
} eb_tlayer;

#define EB_TRAIN_MAX_UNIQUE_LAYERS 64
/* adapter-ALBERT: at most this many layer applications x inner layers */
#define EB_TRAIN_MAX_ADAPTERS 64
enum { EB_AD_ATTN_DOWN, EB_AD_ATTN_UP, EB_AD_FFN_DOWN, EB_AD_FFN_UP };
typedef struct eb_tw {
    float *word, *pos, *type;
    eb_tnorm eln;
    eb_tlin map;
    eb_tlayer layers[EB_TRAIN_MAX_UNIQUE_LAYERS]; /* group-major */
    eb_tlin pooler, cls;
    eb_tlin rpool[EB_MAX_LAYERS], rcls[EB_MAX_LAYERS]; /* off-ramps 0..L-2 */
    eb_tlin mlm_dense;                                 /* [E,H] (with EB_TM_MLM) */
    eb_tnorm mlm_ln;                                   /* [E] */
    float *mlm_bias; /* [V] decoder bias; the decoder weight is `word` */
    /* adapters of application l, inner layer i at [l * inner_group_num + i]
     * (only with x.adapter_size > 0): EB_AD_* order */
    eb_tlin ad[EB_TRAIN_MAX_ADAPTERS][4];
} eb_tw;

/* Saved activations of one layer application. */
typedef struct eb_tact {
    float *xin, *q, *k, *v, *ctx, *res1, *h1, *fpre, *fact, *res2;
    /* adapters (attention, feed-forward): input [N,H], down-projection
     * before and after gelu_new [N,r] */
    float *ad_in[2], *ad_pre[2], *ad_act[2];
    /* hidden dropout masks (0 or 1/(1-p)) of the attention and FFN outputs, [N,H] each
     * (only with hidden_dropout > 0) */
    float *dm[2];
} eb_tact;

/* Activations of one classification head on the [CLS] rows. */
typedef struct eb_thead {
    float *cls;    /* [B,H] input rows */
    float *pooled; /* [B,H] tanh output */
    float *drop;   /* [B,H] after dropout (the classifier input) */
    float *dmask;  /* [B,H] dropout scale (0 or 1/(1-p)) */
    float *logits; /* [B,K] */
} eb_thead;

/* A weight's bf16 panels for the products of training (see eb_tm_set_bf16). */
typedef struct eb_tpack {
    const float *w;        /* the weight [OC, C] */
    int C, OC;
    unsigned gen_f, gen_b; /* the forward count when packed */
    uint16_t *f, *b;       /* forward (K = C, NC = OC) and backward-data (K = OC, NC = C) */
} eb_tpack;

typedef struct eb_tmodel {
    eb_config cfg;
    eb_model_extras x;
    int has_span, num_ramps; /* ramps after layers 1..num_ramps (0 or L-1) */
    int new_head;            /* 1: eb_tm_load_safetensors keeps the fresh classifiers (main and
                                off-ramps): the checkpoint's belong to another task */
    int frozen_backbone;     /* 1: eb_tm_backward computes no gradients of the embeddings and the
                                shared layers (adapter training), only what flows through them */
    int n_unique;            /* num_hidden_groups * inner_group_num */
    int has_mlm;             /* the masked-LM head is part of the layout */
    float hidden_dropout;    /* dropout on the attention and FFN outputs before their residual
                                adds (HF's hidden_dropout_prob), in training forwards (dropout_p
                                > 0) only; set before eb_tm_alloc_acts */
    int hd_active;           /* the last forward applied it (its backward must too) */
    int row0, rows_total;    /* data-parallel shard: the forward's B sequences are rows row0..
                                of a global batch of rows_total (0: B) padded to the same T;
                                its dropout masks are those the whole batch would draw */
    int mlm_denom;           /* > 0: eb_tm_mlm_loss averages over this many masked rows (the
                                global batch's) instead of the forward's own */
    eb_tparam *t;
    int nt;
    size_t n_params;
    float *params, *grads, *eff; /* eff == params without pruning */
    eb_tw P, G, W;               /* views: parameters, gradients, effective */
    /* engine view over the effective weights */
    eb_albert_weights view;
    eb_albert_layer view_layers[EB_TRAIN_MAX_UNIQUE_LAYERS];
    eb_linear view_ramps[2 * EB_MAX_LAYERS];
    eb_layer_adapters view_adapters[EB_TRAIN_MAX_ADAPTERS];
    /* activations for batches of up to max_b sequences of max_t tokens */
    int max_b, max_t;
    int B, T; /* shape of the last forward */
    float *act_block;
    float *emb_sum, *emb_ln; /* [N,E] */
    eb_tact *acts;           /* [num_hidden_layers * inner_group_num] */
    float *final_out;        /* [N,H] */
    eb_thead head, *ramp;    /* ramp[num_ramps] */
    float *att, *scratch;    /* [NH,T,T], [2,T,T] */
    float *dh, *dtmp, *dres, *dq, *dk, *dv, *dctx, *dffn, *dffn2, *demb, *demb2; /* grads */
    float *dlogits;                                                              /* [B,K] */
    float *dad, *dad_r1, *dad_r2; /* adapter backward: [N,H], [N,r], [N,r] */
    uint8_t *key_valid;           /* [B,T] */
    /* masked-LM head activations over the M masked rows (with has_mlm) */
    float *mlm_block;
    int32_t *mlm_rows;                            /* [N] row of final_out of masked row r */
    float *mlm_h, *mlm_pre, *mlm_act, *mlm_y;     /* [M,H], [M,E] x3 */
    float *mlm_logits;                            /* [M,V], then its gradient */
    float *mlm_dy, *mlm_dx, *mlm_dh, *mlm_dfinal; /* [M,E], [M,E], [M,H], [N,H] */
    const float *dfinal_extra; /* eb_tm_backward adds this [N,H] gradient of the encoder output
                                  (set by eb_tm_mlm_loss, consumed and cleared) */
    int32_t *ids, *types;      /* [B,T] */
    /* products with bf16 operands and fp32 sums (eb_tm_set_bf16): each weight is packed once
       per forward, the other operand rounded into scratch */
    int bf16;
    unsigned pack_gen; /* forwards so far: a packed copy of an older forward is stale */
    eb_tpack *pk;
    int npk, cap_pk;
    uint16_t *bf_a, *bf_b; /* scratch: operand rows, packed activations */
    size_t bf_a_cap, bf_b_cap;
    const eb_allocator *alloc;
} eb_tmodel;

/* Create a model of config cfg (extras x) with freshly initialised weights
 * (normal(0, 0.02) matrices and embeddings, zero biases, unit LayerNorm;
 * spans at span_init; off-ramp poolers copied from the main pooler; with
 * x->adapter_size r > 0 the adapters, their up-projections zero so that a
 * new adapter is the identity). */
eb_status eb_tm_create(eb_tmodel *m, const eb_config *cfg, const eb_model_extras *x, int with_span,
                       int heads /* EB_TM_* */, float span_init, uint64_t seed,
                       const eb_allocator *a, eb_error *err);
/* Overwrite parameters from a safetensors file, by name.  Tensors the model
 * has and the file lacks keep their initial values when `optional` says so
 * (ramps, span, classifier); anything else missing is an error. */
eb_status eb_tm_load_safetensors(eb_tmodel *m, const char *path, eb_error *err);
/* Allocate activations for batches of up to max_b x max_t tokens. */
eb_status eb_tm_alloc_acts(eb_tmodel *m, int max_b, int max_t, eb_error *err);
void eb_tm_free(eb_tmodel *m);
/* Mixed precision: the encoder's, adapters' and masked-LM head's products take bf16 operands
 * (AVX512-BF16 where the CPU has it, else the scalar kernel) with fp32 sums; parameters,
 * gradients, activations and everything else stay fp32.  on = 0 goes back to fp32. */
eb_status eb_tm_set_bf16(eb_tmodel *m, int on, eb_error *err);

/* Index of a tensor by name, -1 if absent. */
int eb_tm_find(const eb_tmodel *m, const char *name);

/* One batch: ids/types [B,T] (row-major, padded), valid [B,T] 1 = token.
 * Forward with saved activations.  ramps: also compute the off-ramp logits.
 * dropout_p: classifier dropout (0 = eval), rng_seed for its masks.
 * Logits land in m->head.logits [B,K] and m->ramp[j].logits. */
void eb_tm_forward(eb_tmodel *m, const int32_t *ids, const int32_t *types, const uint8_t *valid,
                   int B, int T, int ramps, float dropout_p, uint64_t rng_seed);
/* Backward from dlogits of the main head (dmain [B,K], may be NULL) and of
 * the ramps (dramp[j] [B,K], may be NULL or hold NULLs).  backbone: 0 stops
 * at the heads (phase 2).  Gradients accumulate into m->grads. */
void eb_tm_backward(eb_tmodel *m, const float *dmain, float *const *dramp, int backbone);

/* Masked-LM loss of the last forward (AlbertMLMHead: x = act(dense(h)),
 * y = LayerNorm(x), logits = y word^T + bias, over the rows with
 * labels[i] >= 0), the mean cross-entropy over those rows.  With backward:
 * the head's gradients (the decoder's into the word embeddings) accumulate
 * into m->grads and the gradient of the encoder output is left for the next
 * eb_tm_backward.  n_correct (may be NULL): rows whose argmax is the label.
 * Needs has_mlm and eb_tm_alloc_acts.  Returns 0 with no masked row. */
double eb_tm_mlm_loss(eb_tmodel *m, const int32_t *labels, int backward, int *n_masked,
                      int *n_correct);

/* Refresh m->eff from params and a mask (float 0/1 over the whole layout,
 * only EB_TP_PRUNE tensors read); mask NULL = effective weights are params. */
void eb_tm_apply_mask(eb_tmodel *m, const float *mask);

/* Write an HF checkpoint: config.json and model.safetensors (effective
 * weights) into dir (created if needed). */
eb_status eb_tm_save_hf(const eb_tmodel *m, const char *dir, eb_error *err);

/* Small deterministic RNG (splitmix64) used for init, dropout and shuffling. */
uint64_t eb_rng_next(uint64_t *s);
float eb_rng_uniform(uint64_t *s);         /* [0, 1) */
void eb_rng_skip(uint64_t *s, uint64_t n); /* as if n draws were taken */
float eb_rng_normal(uint64_t *s);

#endif
