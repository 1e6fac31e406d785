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
 * Layer application l (0-based, of num_hidden_layers) uses group
 * l / (num_hidden_layers / num_hidden_groups) and runs its inner_group_num
 * albert_layers in order. */
#ifndef EB_MODEL_ALBERT_H
#define EB_MODEL_ALBERT_H

#include <stdint.h>

#include "edgebert.h"

struct eb_bitmask;
typedef struct eb_linear {
    const float *w; /* [out, in] fp32 (decoded when the model is stored compressed) */
    const float *b; /* [out] or NULL */
    int out, in;
    const struct eb_bitmask *bm; /* the stored bitmask/AF8 form, or NULL */
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
} eb_albert_layer;

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
} eb_albert_weights;

/* Extra settings stored in config.json by edgebert (ignored by HF). */
typedef struct eb_model_extras {
    float span_ramp;        /* R of the span mask (edgebert_span_ramp), default 32 */
    float default_threshold; /* edgebert_threshold (ee), < 0 = none */
    float lai_threshold;     /* edgebert_lai_threshold, < 0 = use default_threshold */
    int predict_after;       /* edgebert_predict_after: layer whose entropy feeds the predictor */
} eb_model_extras;

/* Scratch for one forward pass of up to max_n tokens (one allocation). */
typedef struct eb_albert_scratch {
    int max_n;
    float *hidden; /* [N, H] current hidden state */
    float *emb;    /* [N, E] */
    float *q, *k, *v, *ctx, *attn_out; /* [N, H] each */
    float *att;    /* [NH, N, N] */
    float *ffn;    /* [N, I] */
    float *pooled; /* [H] */
    uint8_t *key_valid; /* [N] */
    void *block;
} eb_albert_scratch;

int eb_albert_scratch_init(eb_albert_scratch *s, const eb_config *cfg, int max_n,
                           const eb_allocator *a);
void eb_albert_scratch_free(eb_albert_scratch *s, const eb_allocator *a);

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

#endif
