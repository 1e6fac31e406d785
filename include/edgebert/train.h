/* edgebert/train.h - the trainer: EdgeBERT's training recipe in C.
 *
 * Adapter-ALBERT (adapter_size > 0, phase 1 only): a frozen backbone from
 * init_dir, trained: the per-layer-application adapters, the main head and
 * the off-ramps, loss CE(main) + sum_j CE(off-ramp j).
 * Phase 1 (backbone): fine-tune all parameters with CE or knowledge
 * distillation, optional adaptive attention span, movement or magnitude
 * pruning of the encoder matrices, percentile pruning of the embeddings,
 * embeddings optionally frozen.  Phase 2 (offramps): the backbone frozen, the
 * off-ramps trained with sum_j CE(off-ramp j), j = 1..L-1.  Phase 3
 * (predictor): the entropies of every off-ramp over the training set, a ReLU
 * MLP (4 x 64) from the entropy after layer p to the later ones, written as a
 * 100-row table exit_lut.csv.
 *
 * Loss of phase 1, per batch (mean over its examples):
 *   CE(s, y)                                        without a teacher, or
 *   a_distil * KL(softmax(t/T) || softmax(s/T)) * T^2 + a_ce * CE(s, y)   with one,
 *   + span_coeff * sum over layers and heads of max(z + R, 0)      with --span.
 * Span mask over distance x = |i - j| (tokens): m(x) = clamp((R + z - x)/R, 0, 1),
 * multiplied into the softmax output without renormalisation; z is clamped to
 * [-R, span_max] after every step; z = -R makes the mask zero everywhere: the
 * head is off and the engine skips it.
 * Pruning schedule (kept fraction of each masked matrix at step s of S, warm-up
 * ws steps): t = 1 for s <= iw*ws; t = keep for s > S - fw*ws; between,
 * t = keep + (1 - keep) * (1 - (s - iw*ws) / (S - (iw + fw)*ws))^3.
 * Embedding pruning: at each epoch end e of E, zero |W| below the p-th
 * percentile, p = emb_prune_pct * clamp((e/E - 0.1) / 0.7, 0, 1). */
#ifndef EDGEBERT_TRAIN_H
#define EDGEBERT_TRAIN_H

#include "edgebert.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum eb_train_phase {
    EB_PHASE_BACKBONE = 0,
    EB_PHASE_OFFRAMPS = 1,
    EB_PHASE_PREDICTOR = 2,
    EB_PHASE_MLM = 3 /* masked-LM pretraining of the backbone (labels ignored) */
} eb_train_phase;

typedef enum eb_prune_method {
    EB_PRUNE_NONE = 0,
    EB_PRUNE_MOVEMENT = 1,
    EB_PRUNE_MAGNITUDE = 2
} eb_prune_method;

/* One tokenized example. */
typedef struct eb_train_example {
    int32_t *ids, *type_ids; /* [n] */
    int n;
    int label;    /* class index (classification) */
    float target; /* regression target (num_labels == 1) */
} eb_train_example;

typedef struct eb_train_data {
    eb_train_example *ex;
    int n;
    void *storage; /* owned by whoever built it */
} eb_train_data;

typedef struct eb_train_options {
    const char *config_path; /* random initialisation from this config.json, or */
    const char *init_dir;    /* an HF checkpoint directory */
    const char *teacher_dir; /* knowledge distillation (phase 1), NULL = none; "DIR1,DIR2,..."
                                distils from the ensemble: the mean of the teachers' logits */
    const char *out_dir;     /* where checkpoints go (HF format) */
    eb_train_phase phase;
    int epochs;           /* default 3 */
    float lr;             /* peak learning rate, default 5e-4 */
    int batch;            /* default 32 */
    uint64_t seed;        /* default 42 */
    int max_len;          /* default 128 */
    float warmup;         /* < 1: fraction of the steps, else steps; default 0.1 */
    float weight_decay;   /* default 0.01 (not on biases, LayerNorm, spans) */
    float clip;           /* global gradient norm clip, default 1.0 */
    float dropout;        /* before every classifier, default 0.1 */
    float hidden_dropout; /* on the attention and FFN outputs before their residual adds
                             (HF's hidden_dropout_prob), default 0 */
    float kd_temperature, kd_alpha_distil, kd_alpha_ce; /* 2, 0.9, 0.1 */
    eb_prune_method prune;
    float keep;               /* final kept fraction of the masked matrices, default 0.5 */
    float prune_iw, prune_fw; /* warm-up multipliers, default 2 and 3 */
    float score_lr;           /* movement scores, default 1e-2 */
    int span;                 /* learn adaptive spans */
    float span_coeff;         /* default 1e-3 */
    float span_lr;            /* default 0.1 (tokens per step scale) */
    float span_max;           /* default max_len */
    float span_ramp;          /* R, 0 = keep the config's edgebert_span_ramp */
    float emb_prune_pct;      /* final percentile, 0 = off (the recipe: 60) */
    int freeze_embeddings;    /* 1 in the student */
    int adapter_size;         /* > 0: adapter-ALBERT: add adapters of this bottleneck size to
                                 the --init model (or keep its own, same size) and train only
                                 them, the task head and the off-ramps (loss: CE of the main
                                 head + sum of the off-ramps' CE); the backbone stays frozen */
    int head_num_labels;      /* > 0 (phase 1): a new task head with these labels, the
                                 --init model's classifiers are not loaded (another task) */
    char head_labels[EB_MAX_LABELS][EB_LABEL_NAME_MAX];
    int truncate_head;        /* > 0: saved as the model's edgebert_truncate_head (the head +
                                 tail truncation its inputs were cut with) */
    int predict_after;          /* predictor: layer p (1-based), default 1 */
    float mlm_prob;             /* masked-LM phase: fraction of tokens chosen, default 0.15
                                   (of those 80 % become [MASK], 10 % a random piece, 10 % stay) */
    int mask_id;                /* the [MASK] piece, default 4 (ALBERT's and ours) */
    float mask_tokens;          /* phase backbone: each real token of a training batch other than
                                   ids 0..4 becomes [MASK] with this probability, a fresh draw
                                   every step (augmentation; eval batches untouched), default 0 */
    int no_length_grouping;     /* 1: plain shuffled batches (default: batches of similar length) */
    float ema;                  /* > 0: keep an exponential moving average of the weights with this
                                   decay (warmed up as min(ema, (1+t)/(10+t)) at step t); dev
                                   evaluation and the saved model use the average, training goes
                                   on from the raw weights; default 0 (off) */
    long eval_every;            /* > 0: also evaluate on dev every N steps (logged) */
    int resume;                 /* continue from out_dir/train_state.safetensors */
    long save_every;            /* steps between checkpoints, default 500 (and each epoch end) */
    long steps;                 /* > 0: the run is exactly this many steps (the schedule spans them;
                                   epochs becomes ceil(steps / steps per epoch)) */
    long max_steps;             /* stop, resumably, after this many more steps; the schedule still
                                   spans the whole run (0 = no limit) */
    int log_every;              /* steps between progress reports, default 20 */
    int bf16;                   /* 1: mixed precision: the products (encoder, adapters, masked-LM
                                   head) take bf16 operands with fp32 sums (AVX512-BF16 where the
                                   CPU has it); weights, gradients and the optimiser stay fp32 */
    const char *tokenizer_path; /* spiece.model copied into out_dir (may be NULL) */
    const struct eb_dist *dist;  /* data-parallel training over this group of processes
                                    (edgebert/dist.h): every rank calls eb_train_run with the
                                    same options and data; NULL = this process alone */
    eb_progress_fn progress;     /* phase "teacher" per chunk of the teacher pass, "train" every
                                    step (report = 1 every log_every steps and at the end); a
                                    nonzero return stops the run after the step, saved (data-
                                    parallel: every rank calls it; a stop on any rank stops all) */
    void *progress_ud;
    eb_log_fn log; /* epoch summaries, accuracies (EB_LOG_INFO); rank 0 alone */
    void *log_ud;
} eb_train_options;

EB_API eb_train_options eb_train_options_default(void);

/* Check every option before any work (no file is read): ranges, the enums, the
 * combinations (adapter_size needs init_dir and goes without pruning, spans
 * and another phase; phase mlm without adapters and a teacher) and the
 * teacher list's syntax.  The message names the field of eb_train_options
 * ("hidden_dropout: must be in [0, 1), got 1.5"); what needs the model
 * (max_len against max_position_embeddings, predict_after against the
 * layers) is checked when it is loaded, still before any training.
 * eb_train_run calls it first. */
EB_API eb_status eb_train_options_check(const eb_train_options *opts, eb_error *err);

typedef struct eb_train_report {
    long steps;
    double final_loss;
    double dev_accuracy; /* last epoch, all layers (< 0 without dev data); Pearson r for
                            a regression model (num_labels 1, STS-B) */
    double seconds;
    double tokens_per_s; /* real (not padding) tokens per second of training steps
                            (checkpoint writing and dev evaluation left out) */
    double sparsity;     /* fraction of zeros in the masked encoder matrices */
    int heads_off;       /* heads whose span is zero */
} eb_train_report;

/* Run one phase.  dev may be NULL.  Returns EB_ERR_INTERRUPTED after saving
 * when opts->progress asked to stop, EB_ERR_NUMERIC when the loss became
 * NaN/Inf.  Messages name the fields of eb_train_options. */
EB_API eb_status eb_train_run(const eb_train_options *opts, const eb_train_data *train,
                       const eb_train_data *dev, eb_train_report *report, eb_error *err);

/* The uniform average of n checkpoints fine-tuned from one initialisation (a
 * model soup): the same architecture, tensors and spiece.model in each; out_dir
 * gets the averaged model.safetensors (F32), the first one's config.json and
 * spiece.model (no exit_lut.csv).  Every float tensor is averaged: average
 * before pruning (masks average to their union).  report may be NULL. */
typedef struct eb_average_report {
    int checkpoints, tensors;
    size_t parameters;
} eb_average_report;
EB_API eb_status eb_average_checkpoints(const char *const *dirs, int n, const char *out_dir,
                                 eb_average_report *report, eb_error *err);

/* Pre-tokenized data: lines "label<TAB>ids<TAB>type_ids" (space-separated
 * ints, type ids optional), as eb_grad reads. */
EB_API eb_status eb_train_data_read_ids(const char *path, int max_len, eb_train_data *out, eb_error *err);
/* Plain text for masked-LM pretraining: one document per line, cut into
 * windows of max_len tokens ([CLS] + max_len - 2 consecutive SentencePiece
 * ids + [SEP]; the last window of a document may be shorter; every token is in
 * exactly one window).  A TAB splits a line into the two segments of a pair,
 * which stays one example, cut longest first.  Blank lines are skipped. */
EB_API eb_status eb_train_data_read_text(const char *path, const eb_tokenizer *tok, int max_len,
                                  eb_train_data *out, eb_error *err);
/* The same over several files; a file whose name ends in ".tsv" is read in
 * the layout of `task` (NULL = "sst2": the `sentence` column) and each of its
 * texts is a document (labels are ignored, empty texts skipped). */
EB_API eb_status eb_train_data_read_mlm(const char *const *paths, int n_paths, const char *task,
                                 const eb_tokenizer *tok, int max_len, eb_train_data *out,
                                 eb_error *err);
/* A GLUE TSV file of `task` (NULL = "sst2"; every layout the data module
 * reads), tokenized with tok (ALBERT encoding truncated to max_len), labels
 * mapped to the model's id2label order (label_names[num_labels]). */
EB_API eb_status eb_train_data_read_tsv(const char *path, const char *task, const eb_tokenizer *tok,
                                 int max_len, char label_names[][EB_LABEL_NAME_MAX], int num_labels,
                                 eb_train_data *out, eb_error *err);
/* The same with head + tail truncation of long single texts (head_tokens > 0:
 * the first head_tokens and the last max_len - 2 - head_tokens tokens, see
 * eb_tokenizer_options.head_tokens). */
EB_API eb_status eb_train_data_read_tsv_ex(const char *path, const char *task, const eb_tokenizer *tok,
                                    int max_len, int head_tokens,
                                    char label_names[][EB_LABEL_NAME_MAX], int num_labels,
                                    eb_train_data *out, eb_error *err);
EB_API void eb_train_data_free(eb_train_data *d);

#ifdef __cplusplus
}
#endif

#endif
