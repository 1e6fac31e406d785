/* edgebert/batch.h - several sentences in one call, with early exit.
 *
 * The sentences of a batch are packed row after row (no padding): every
 * Linear layer runs once over all the rows of the sentences still in the
 * batch, attention runs per sentence.  After each layer every sentence's
 * off-ramp is read; a sentence that exits (entropy below the threshold, the
 * layer the lai predictor chose, the last layer) leaves the batch and the
 * rows of the others are compacted, so the following layers only compute
 * what is still needed.  The layers are the per-sentence engine's own code,
 * so the answers (label, logits, exit layer) are the ones eb_classify_ids
 * gives sentence by sentence, for every policy and precision, with adapters,
 * spans and sparse weights.  Each sentence runs its own policy
 * (eb_policy_step): eb_batch_classify_results gives every field of
 * eb_classify_ids's result, the accelerator model's V/F, time and energy
 * included, from the work each layer did for that sentence. */
#ifndef EDGEBERT_BATCH_H
#define EDGEBERT_BATCH_H

#include "edgebert.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eb_batch eb_batch;

typedef struct eb_batch_result {
    int label;
    int num_labels;
    float logits[EB_MAX_LABELS];
    int exit_layer; /* 1-based layer whose classifier answered */
    float entropy;  /* entropy of the answering classifier (0 for regression) */
} eb_batch_result;

/* Scratch for up to max_sentences sentences and max_rows tokens in all
 * (each sentence at most the model's max_position_embeddings).  One
 * allocation; nothing is allocated while classifying. */
EB_API eb_status eb_batch_new(const eb_model *model, int max_sentences, int max_rows, eb_batch **out,
                       eb_error *err);
EB_API void eb_batch_free(eb_batch *b);

/* Classify n tokenized sentences: ids[i][0..lens[i]) (type ids all 0).
 * params as for eb_classify_ids (policy, threshold < 0: the model's own,
 * predict_after, precision, threads, task); the accelerator settings (MAC
 * size, latency target) are checked as eb_classify_ids checks them but do
 * not change these fields.  out[n]. */
EB_API eb_status eb_batch_classify_ids(eb_batch *b, const int32_t *const *ids, const int *lens, int n,
                                const eb_run_params *params, eb_batch_result *out, eb_error *err);
/* The same with token types: type_ids[i][0..lens[i]) (type_ids or one of its
 * entries NULL: all 0), for sentence pairs. */
EB_API eb_status eb_batch_classify_typed(eb_batch *b, const int32_t *const *ids,
                                  const int32_t *const *type_ids, const int *lens, int n,
                                  const eb_run_params *params, eb_batch_result *out,
                                  eb_error *err);

/* The whole eb_result of each sentence, filled as eb_classify_ids fills it
 * (per-layer entropies, labels and active heads, exit and predicted layer,
 * the accelerator model's V/F, cycles, time, energy and deadline, flops; not
 * `truncated`, which belongs to the tokenizer).  params[n]: each sentence's
 * run parameters; policy, threshold, latency target, predict_after, MAC size
 * and last_ramp_only may differ between sentences, task, precision and
 * threads must be those of params[0] (EB_ERR_ARG otherwise).  type_ids as for
 * eb_batch_classify_typed.  out[n]. */
EB_API eb_status eb_batch_classify_results(eb_batch *b, const int32_t *const *ids,
                                           const int32_t *const *type_ids, const int *lens, int n,
                                           const eb_run_params *params, eb_result *out,
                                           eb_error *err);

#ifdef __cplusplus
}
#endif

#endif
