/* model_internal.h - what an eb_model and an eb_context hold. */
#ifndef EB_MODEL_INTERNAL_H
#define EB_MODEL_INTERNAL_H

#include "edgebert.h"
#include "model/albert.h"
#include "model/model_access.h"
#include "model/safetensors.h"
#include "edgebert/hw.h"
#include "edgebert/runtime.h"

#define EB_TASK_NAME_MAX 64

/* One task: its own encoder, heads and settings (a plain HF checkpoint is a
 * model with one task). */
typedef struct eb_model_task {
    char name[EB_TASK_NAME_MAX];
    eb_config cfg;
    eb_model_extras extras;
    eb_albert_weights w;
    eb_albert_layer *layers;     /* storage behind w.layers */
    eb_linear *ramps;            /* storage behind w.ramp_pooler / w.ramp_cls */
    eb_layer_adapters *adapters; /* storage behind w.adapters (NULL: none) */
    struct eb_bitmask *bms;      /* compressed forms of the matrices (bundles) */
    int n_bms;
    /* exit predictor table: rows x (1 + cols), NULL when absent */
    double *lut;
    int lut_rows, lut_cols, lut_predict_after;
    eb_exit_lut lut_view;  /* view over lut (lut_view.data == NULL: none) */
    eb_hw_model hw;        /* the accelerator model for this task's shapes */
    double weight_density; /* non-zero fraction of the encoder matrices */
    /* execution forms built at load (see eb_linear.sparse/q8) */
    struct eb_bitmask *xbms; /* storage, fixed size (pointers into it are kept) */
    int n_xbms, cap_xbms;
    uint8_t *emb_q8[3];   /* word, position, type embedding codes */
    int emb_q8_owned;     /* 0: borrowed from an earlier task with the same tables */
    float *packed;        /* packed copies of the dense matrices (eb_linear.packed), or NULL */
    float *packed_heads;  /* the layers' on-head forms (eb_albert_layer.qkv_on_packed), or NULL */
    uint16_t *bf16_heads; /* their bf16 twins from the AF8 forms (qkv_on_bf16), or NULL */
    uint16_t *bf16;       /* bf16 copies of the AF8 forms (eb_linear.bf16), or NULL */
} eb_model_task;

struct eb_model {
    eb_allocator alloc;
    eb_log_fn log;
    void *log_ud;
    char path[512];
    eb_tokenizer *tok;
    int n_tasks;
    eb_model_task *tasks;
    eb_safetensors st; /* HF checkpoint file, kept open while weights point into it */
    float **owned;     /* converted tensors */
    int n_owned, cap_owned;
    const eb_model *fork_of; /* a clone from eb_model_fork_embeddings: owns only `tasks` */
    int pack_weights;        /* eb_load_params.pack_weights */
    const uint8_t *spm;      /* a bundle's spiece.model bytes (in its image), for export */
    size_t spm_bytes;
};

struct eb_context {
    const eb_model *model;
    eb_albert_scratch s;
    eb_albert_exec ex;
    eb_encoding enc;
    int in_arena; /* 1: made by eb_context_new_in_arena (src/model/fixedmem.c) */
};

/* A context's scratch and execution buffers from a, sized for the widest of c->model's
 * tasks, max_tokens (> 0) capping the positions (*max_n: the rows sized for); af8: the
 * AdaptivFloat8 buffers up front too.  0 when out of memory (what was made stays in c). */
int eb_context_alloc_scratch(eb_context *c, int max_tokens, int af8, const eb_allocator *a,
                             int *max_n);

/* Binding a task's weights from a table of named tensors (HF names). */
typedef struct loader loader;
struct loader {
    eb_model *m;
    const eb_safetensors *st;
    eb_error *err;
    const char *file;
};
eb_status eb_model_bind_task(loader *L, eb_model_task *t);
/* Build a loaded task's execution forms, hardware model and tables (after a
 * loader bound its weights). */
eb_status eb_model_finish_task(eb_model *m, eb_model_task *t, eb_error *err);
/* Keep a converted buffer owned by the model (freed with it). */
int eb_model_own(eb_model *m, float *p);

/* The settings of one run of task t, shared by the per-sentence and the
 * batched paths: p (a copy of *params or the defaults) gets the predictor's
 * layer for lai, *thr the exit threshold (0 when nothing may exit early);
 * unknown policies and precisions, lai without a predictor table and
 * negative thread counts are EB_ERR_ARG. */
eb_status eb_model_run_settings(const eb_model *m, const eb_model_task *t,
                                const eb_run_params *params, eb_run_params *p, float *thr,
                                eb_error *err);

/* Whether a run computes the off-ramp after every layer (the per-layer
 * entropies and labels of the result), not only where the sentence stops:
 * when the task has off-ramps, unless policy base with last_ramp_only. */
int eb_model_need_ramps(const eb_model_task *t, const eb_run_params *p);

/* The accelerator model's input for one layer of a sentence of n tokens:
 * what the layer's matmuls saw (d: the statistics the layer added, for that
 * sentence alone), the heads it computed (all inner layers together). */
void eb_model_layer_work(const eb_model_task *t, int n, int heads, const eb_exec_stats *d,
                         eb_layer_work *w);

/* The result of a sentence that the policy ran (rep), answered by `logits`
 * of its last layer run: label, probabilities, layers, entropies, exit and
 * predicted layer, V/F, time, energy, flops.  r->active_heads and
 * r->layer_labels of the layers run are the caller's. */
void eb_model_fill_result(eb_result *r, const eb_model_task *t, const eb_run_params *p,
                          const eb_sentence_report *rep, const float *logits, int n_tokens,
                          int need_ramps, double flops, double flops_dense);

/* Find a task by name (NULL = first).  Returns NULL when unknown. */
const eb_model_task *eb_model_find_task(const eb_model *m, const char *name);

#endif
