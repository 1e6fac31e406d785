/* albert.h - the ALBERT model in memory and its forward pass, one layer
 * application at a time so that runtime policies can stop after any layer.
 *
 * Weight layout follows HuggingFace AlbertForSequenceClassification:
 *   albert.embeddings.{word,position,token_type}_embeddings.weight [V|P|T, E]
 *   albert.embeddings.LayerNorm.{weight,bias} [E]
 *   albert.encoder.embedding_hidden_mapping_in.{weight [H,E], bias [H]}
 *   albert.encoder.albert_layer_groups.{g}.albert_layers.{i}.
 *       attention.{query,key,value,dense}.{weight [H,H], bias}
 *       attention.LayerNorm, ffn.{weight [I,H], bias}, ffn_output.{weight [H,I], bias},
 *       full_layer_layer_norm
 *       attention.span [NH]           (edgebert: adaptive span z per head, optional)
 *   albert.pooler.{weight [H,H], bias}, classifier.{weight [C,H], bias}
 *   albert.encoder.highway.{j}.pooler.{weight,bias}, ...classifier.{weight,bias}
 *       (EdgeBERT off-ramp after layer j+1; "pooler.dense." also accepted)
 *   albert.encoder.albert_layer_groups.{g}.albert_layers.{i}.adapters.{l}.
 *       {attn,ffn}.{down.{weight [r,H], bias [r]}, up.{weight [H,r], bias [H]}}
 *       (adapter-ALBERT, present when config.json has edgebert_adapter_size r
 *       > 0: one pair of Houlsby adapters per layer APPLICATION l (0-based,
 *       of num_hidden_layers) and inner layer i; g is the group application l
 *       uses.  The shared layer's weights stay the same across applications,
 *       the adapters do not: that is what lets them adapt each depth.)
 * Layer application l (0-based, of num_hidden_layers) uses group
 * l / (num_hidden_layers / num_hidden_groups) and runs its inner_group_num
 * albert_layers in order. */
#ifndef EB_MODEL_ALBERT_H
#define EB_MODEL_ALBERT_H

#include <stdint.h>

#include "edgebert.h"
#include "kernels/kernels.h"

struct eb_bitmask;
typedef struct eb_linear {
    const float *w; /* [out, in] fp32 (decoded when the model is stored compressed) */
    const float *b; /* [out] or NULL */
    int out, in;
    const struct eb_bitmask *bm; /* the stored bitmask/AF8 form, or NULL */
    /* Execution forms (set by the model loader, NULL = none; the plain
     * eb_albert_* functions ignore them, the *_ex ones use them): */
    const struct eb_bitmask
        *sparse;                 /* bitmask form for the sparse fp32 kernel (same values as w) */
    const struct eb_bitmask *q8; /* AdaptivFloat8 form for the af8 path */
    const float *packed;         /* eb_pack_weights form for eb_gemm_packed (same values as w) */
    const uint16_t *bf16;        /* bf16 of the q8 values (exact), packed (eb_pack_bf16), for
                                    EB_PRECISION_AF8_BF16 */
} eb_linear;

typedef struct eb_norm {
    const float *g, *b; /* [n] */
    int n;
} eb_norm;

typedef struct eb_albert_layer {
    eb_linear q, k, v, o;
    eb_norm attn_ln;
    eb_linear ffn, ffn_out;
    eb_norm out_ln;
    const float *span_z; /* [NH] adaptive span parameters, NULL = no span */
    /* Execution form for the heads the spans leave on (model.c, fp32 path):
     * Q, K, V with only those heads' rows, O with only their input columns,
     * packed for eb_gemm_packed; used when the heads on at run time are
     * exactly on_mask.  NULL when every head is on or nothing was packed. */
    const float *qkv_on_packed[3], *qkv_on_bias[3], *o_on_packed;
    uint64_t on_mask;
    /* The same selections of the AF8 forms in bf16 (eb_pack_bf16), for
     * EB_PRECISION_AF8_BF16 on CPUs with AVX512-BF16 (biases: qkv_on_bias, o.b);
     * NULL otherwise. */
    const uint16_t *qkv_on_bf16[3], *o_on_bf16;
} eb_albert_layer;

/* A Houlsby bottleneck adapter: y += up(gelu_new(down(y))), applied to the
 * output of a sub-layer's last projection before its residual + LayerNorm. */
typedef struct eb_adapter {
    eb_linear down; /* [r, H] */
    eb_linear up;   /* [H, r] */
} eb_adapter;

typedef struct eb_layer_adapters {
    eb_adapter attn; /* after attention.dense */
    eb_adapter ffn;  /* after ffn_output */
} eb_layer_adapters;

typedef struct eb_albert_weights {
    const float *word_emb; /* [V, E] */
    const float *pos_emb;  /* [P, E] */
    const float *type_emb; /* [T, E] */
    eb_norm emb_ln;
    eb_linear map_in;        /* [H, E] */
    eb_albert_layer *layers; /* [num_hidden_groups * inner_group_num], group-major */
    eb_linear pooler;        /* [H, H] */
    eb_linear classifier;    /* [C, H] */
    int num_ramps;           /* 0 or num_hidden_layers */
    eb_linear *ramp_pooler;  /* [num_ramps] */
    eb_linear *ramp_cls;     /* [num_ramps] */
    /* af8 path: the embedding tables as AdaptivFloat8 codes (NULL = none) */
    const uint8_t *word_q8, *pos_q8, *type_q8;
    int word_q8_bias, pos_q8_bias, type_q8_bias;
    /* adapters: [num_hidden_layers * inner_group_num], entry l * inner_group_num
     * + i for application l, inner layer i; NULL = a model without adapters */
    int adapter_size;
    eb_layer_adapters *adapters;
} eb_albert_weights;

/* The adapters of application l, inner layer i (NULL when none). */
static inline const eb_layer_adapters *eb_albert_adapters(const eb_albert_weights *w,
                                                          const eb_config *c, int l, int i) {
    return w->adapters ? &w->adapters[l * c->inner_group_num + i] : NULL;
}

/* Extra settings stored in config.json by edgebert (ignored by HF). */
typedef struct eb_model_extras {
    float span_ramp;         /* R of the span mask (edgebert_span_ramp), default 32 */
    /* each policy's calibrated threshold (its eb_policy_info.config_key), < 0 = none (then
     * its threshold_from policy's) */
    float threshold[EB_NUM_POLICIES];
    int predict_after;       /* edgebert_predict_after: layer whose entropy feeds the predictor */
    int adapter_size;        /* edgebert_adapter_size: bottleneck r of the adapters, 0 = none */
    float initializer_range; /* initializer_range (HF's key): std of the trainer's random
                                matrices and embeddings, default 0.02 */
    float mimetic_init;      /* edgebert_mimetic_init: > 0: the trainer starts each layer's query
                                and key weights as the same orthonormal rows times this value
                                and the position embeddings sinusoidal; 0 (default): HF's init */
    int truncate_head;       /* edgebert_truncate_head: a text longer than the maximum keeps its
                                first k tokens and its last ones (0: the first ones only) */
} eb_model_extras;

/* Scratch for one forward pass of up to max_n tokens (one allocation). */
typedef struct eb_albert_scratch {
    int max_n;
    float *hidden;                     /* [N, H] current hidden state */
    float *emb;                        /* [N, E] */
    float *q, *k, *v, *ctx, *attn_out; /* [N, H] each */
    float *att;                        /* [NH, N, N] */
    float *ffn;                        /* [N, I] */
    float *pooled;                     /* [H] */
    uint8_t *key_valid;                /* [N] */
    int max_len;                       /* longest sentence att holds (= max_n unless rows) */
    void *block;
} eb_albert_scratch;

int eb_albert_scratch_init(eb_albert_scratch *s, const eb_config *cfg, int max_n,
                           const eb_allocator *a);
/* The same for max_rows rows of packed sentences of at most max_len tokens
 * each (att holds one sentence: [NH, max_len, max_len]). */
int eb_albert_scratch_init_rows(eb_albert_scratch *s, const eb_config *cfg, int max_rows,
                                int max_len, const eb_allocator *a);
void eb_albert_scratch_free(eb_albert_scratch *s, const eb_allocator *a);

/* out[N, E] = word[ids[i]] + pos[i % T] + type[types[i]] (types NULL: type 0):
 * the embedding sum of N rows holding sentences of T positions each (T = N
 * for one sentence).  Shared by the inference paths and the trainer. */
void eb_albert_embed_sum(float *out, const float *word, const float *pos, const float *type, int E,
                         const int32_t *ids, const int32_t *types, int N, int T);
/* x[n] = act(x) for the hidden activation of the feed-forward layer. */
void eb_albert_activation(float *x, size_t n, eb_activation act);

/* ---- the plain forward (albert_ref.c): the tests' oracle ---------------
 * fp32 through eb_matmul, ignoring every execution form; the engine runs
 * the *_ex functions below. */
/* Embeddings + mapping: s->hidden[N,H] from ids/type_ids (type_ids may be NULL). */
void eb_albert_embed(eb_albert_scratch *s, const eb_config *cfg, const eb_albert_weights *w,
                     const int32_t *ids, const int32_t *type_ids, int N);
/* Apply layer `l` (0-based) in place on s->hidden.  head_on may be NULL.
 * active_heads (may be NULL) receives the number of heads computed. */
void eb_albert_layer_apply(eb_albert_scratch *s, const eb_config *cfg, const eb_albert_weights *w,
                           const eb_model_extras *x, int l, int N, const uint8_t *head_on,
                           int *active_heads);
/* Classifier logits[C] from s->hidden[0] (the [CLS] row) through the
 * off-ramp of layer l (0-based) or, when l is the last layer or the model
 * has no off-ramps, the main pooler + classifier. */
void eb_albert_classify_at(float *logits, eb_albert_scratch *s, const eb_config *cfg,
                           const eb_albert_weights *w, int l);

/* ---- compressed execution (the engine's paths) ------------------------
 *
 * eb_albert_exec holds the settings, scratch and statistics of the *_ex
 * functions, which compute the same model as the plain ones with:
 *  - precision EB_PRECISION_FP32: every linear with a `sparse` form and a
 *    density for which eb_sparse_prefer() says so runs through the bitmask
 *    sparse kernel, the others through BLAS;
 *  - precision EB_PRECISION_AF8: the accelerator's arithmetic: every matmul
 *    input is quantised to AdaptivFloat8 with a per-tensor bias chosen from
 *    its largest magnitude (round to nearest), weights are the `q8` forms,
 *    products are summed exactly (double accumulation, bit-identical to
 *    eb_af8_matmul), the fp32 bias is added, and the output is re-quantised
 *    to AF8 with its own per-tensor bias.  The attention probabilities are
 *    quantised per head before P.V; Q.K^T multiplies the AF8 Q and K.
 *    Embedding tables are read as AF8.  LayerNorm, softmax, GELU, tanh and
 *    the residual adds run in fp32 (the SFU's 16-bit fixed point is not
 *    emulated);
 *  - precision EB_PRECISION_AF8_BF16: the same, but the whole-matrix
 *    products with a `bf16` form run as AVX512-BF16 dot products with fp32
 *    sums (the products of two AF8 values are exact; the sums round), so
 *    the outputs differ from af8 by fp32 summation rounding only;
 *  - heads that are off (head_on[h] == 0 or a span that is zero everywhere)
 *    are skipped entirely: rows h*HS..h*HS+HS-1 of Wq/Wk/Wv and the same
 *    columns of Wo are never read; their context is zero.
 * Statistics accumulate until the caller resets them. */
/* The rows of eb_precision_table (src/model/precision.c), and what the
 * engine asks of them: computes on the AF8 forms; uses the bf16 products. */
extern const eb_precision_info eb_precision_rows[EB_NUM_PRECISIONS];
static inline int eb_precision_af8(eb_precision p) {
    return (unsigned)p < EB_NUM_PRECISIONS && eb_precision_rows[p].af8;
}
static inline int eb_precision_bf16(eb_precision p) {
    return (unsigned)p < EB_NUM_PRECISIONS && eb_precision_rows[p].bf16;
}

/* The fused-epilogue form of a hidden activation (gelu_new, gelu, relu). */
eb_epilogue eb_albert_epilogue(eb_activation act);

/* The statistics of one sentence of a batched call (eb_albert_exec.seq_stats). */
typedef struct eb_exec_stats {
    double flops, flops_dense;
    double act_n, act_nz, act_vec, act_zvec;
    double attn_n, attn_nz;
} eb_exec_stats;

typedef struct eb_albert_exec {
    eb_precision precision;
    int threads; /* eb_run_params.threads: 0 OpenMP's default, 1 this thread only, n at most n */
    int sparse;  /* allow the sparse kernel (fp32) */
    /* scratch (eb_albert_exec_init) */
    int max_n, max_c;
    float *xT;   /* [max_n * max_c] sparse kernel input, transposed */
    float *xq;   /* [max_n * max_c] quantised input (af8 scratch from here on) */
    double *xd;  /* [max_n * max_c] */
    double *wd;  /* [EB_EXEC_RB * max_c] decoded weight rows */
    double *yd;  /* [max_n * EB_EXEC_RB] */
    void *block; /* the af8 scratch, NULL until needed */
    /* statistics */
    double flops;                              /* 2 x multiply-adds done by the matmuls */
    double flops_dense;                        /* the same for the dense model, all heads */
    double act_n, act_nz;                      /* matmul input activations: count, non-zeros */
    double act_vec, act_zvec;                  /* 16-element vectors of them: count, all zero */
    double attn_n, attn_nz;                    /* attention probabilities of the computed heads */
    int sparse_calls, dense_calls, bf16_calls; /* bf16_calls: of the dense ones */
    /* the statistics of the last counted full input, reused while
     * reuse_stats is set (Q, K and V read the same hidden state) */
    int reuse_stats, have_last;
    const float *last_x;
    int last_N, last_C;
    double last[4]; /* n, nz, vec, zvec */
    /* The sentences packed in the N rows of the current call (set by the
     * batched engine; nseq == 0: the rows are one sentence).  Sentence j holds
     * rows [seq_off[j], seq_off[j] + seq_len[j]) of seq_rows.  Attention runs
     * per sentence and every AF8 quantisation of a [rows, C] tensor chooses
     * its bias per sentence, so each sentence gets the answer it gets alone. */
    int nseq, seq_rows;
    const int *seq_off, *seq_len;
    int no_stats; /* 1: leave the zero statistics out (nobody reads them) */
    /* [nseq] or NULL: every statistic of a call over the seq_rows rows is also
     * added, split by sentence, to seq_stats[j] (the batched engine's
     * per-sentence work: each sentence gets the counts it gets alone) */
    eb_exec_stats *seq_stats;
} eb_albert_exec;

#define EB_EXEC_RB 512

/* Scratch for up to max_n tokens of models with cfg's sizes (the fp32
 * paths); eb_albert_exec_need_af8 adds the af8 path's scratch (once). */
int eb_albert_exec_init(eb_albert_exec *e, const eb_config *cfg, int max_n, const eb_allocator *a);
int eb_albert_exec_need_af8(eb_albert_exec *e, const eb_allocator *a);
void eb_albert_exec_free(eb_albert_exec *e, const eb_allocator *a);
void eb_albert_exec_reset_stats(eb_albert_exec *e);

/* The *_ex functions are the one inference forward: the per-sentence path
 * (eb_classify_ids) calls them with N rows of one sentence, the batched
 * engine (batch.c) with the rows of several sentences (e->nseq).  ids and
 * type_ids of eb_albert_embed_ex are then packed like the rows. */
eb_status eb_albert_embed_ex(eb_albert_scratch *s, eb_albert_exec *e, const eb_config *cfg,
                             const eb_albert_weights *w, const int32_t *ids,
                             const int32_t *type_ids, int N, eb_error *err);
eb_status eb_albert_layer_apply_ex(eb_albert_scratch *s, eb_albert_exec *e, const eb_config *cfg,
                                   const eb_albert_weights *w, const eb_model_extras *x, int l,
                                   int N, const uint8_t *head_on, int *active_heads, eb_error *err);
eb_status eb_albert_classify_at_ex(float *logits, eb_albert_scratch *s, eb_albert_exec *e,
                                   const eb_config *cfg, const eb_albert_weights *w, int l,
                                   eb_error *err);
/* The same from the [CLS] row `row` (one row of s->hidden: a sentence of a
 * packed batch). */
eb_status eb_albert_classify_row_ex(float *logits, eb_albert_scratch *s, eb_albert_exec *e,
                                    const eb_config *cfg, const eb_albert_weights *w, int l,
                                    const float *row, eb_error *err);

/* Multiply-adds x2 of one linear layer over N rows, dense. */
static inline double eb_linear_flops(int N, int out, int in) {
    return 2.0 * N * (double)out * (double)in;
}

#endif
