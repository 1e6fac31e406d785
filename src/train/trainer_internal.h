/* trainer_internal.h - pieces of the trainer shared between its files and tests. */
#ifndef EB_TRAIN_TRAINER_INTERNAL_H
#define EB_TRAIN_TRAINER_INTERNAL_H

#include "edgebert/train.h"
#include "train/tmodel.h"

/* A model from config.json (random init) or an HF checkpoint directory. */
eb_status eb_trainer_load_model(eb_tmodel *m, const char *config_path, const char *init_dir,
                                int want_span, int want_ramps, float span_ramp, float span_init,
                                uint64_t seed, eb_error *err);
/* The same with adapters of size adapter_size added (0 = the checkpoint's own,
 * if any; a checkpoint with adapters of another size is an error) and, when
 * head_num_labels > 0, a fresh head (main and off-ramp classifiers) for these
 * labels instead of the checkpoint's. */
eb_status eb_trainer_load_model_ad(eb_tmodel *m, const char *config_path, const char *init_dir,
                                   int want_span, int want_ramps, float span_ramp, float span_init,
                                   int adapter_size, int head_num_labels,
                                   const char (*head_labels)[EB_LABEL_NAME_MAX], uint64_t seed,
                                   eb_error *err);
/* Eval-mode pass over d: accuracy of every exit layer (acc[L]), entropies
 * [n, L], main-head logits [n, K]; each may be NULL. */
void eb_trainer_eval(eb_tmodel *m, const eb_train_data *d, int max_len, int max_b, double *acc,
                     float *entropies, float *logits);
/* Kept fraction of the cubic pruning schedule at `step` of `total`. */
double eb_prune_schedule(long step, long total, long ws, double iw, double fw, double keep);
/* Percentile of the embedding pruning at `step` of `total`: pct * clamp((f - 0.1) / 0.7, 0, 1). */
double eb_emb_prune_percentile(long step, long total, double pct);
/* --mask-tokens: each of the N tokens with valid[i] and id > 4 becomes
 * mask_id with probability prob (RNG from seed); returns how many did. */
int eb_trainer_mask_tokens(int32_t *ids, const uint8_t *valid, int N, float prob, int mask_id,
                           uint64_t seed);
/* Phase 3: the exit predictor table. */
eb_status eb_train_predictor(const eb_train_options *o, const eb_train_data *train,
                             eb_train_report *rep, eb_error *err);

#endif
