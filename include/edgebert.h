/*
 * edgebert.h - public API of libedgebert.
 *
 * EdgeBERT (Tambe et al., MICRO 2021) in C: an ALBERT engine with off-ramps,
 * entropy early exit, the latency-aware policy with sentence-level DVFS, an
 * accelerator cycle/energy model, compressed (AdaptivFloat8 + bitmask)
 * models and ReRAM fault injection.
 *
 * Conventions
 *  - Every fallible call returns an eb_status and, when `err` is not NULL,
 *    fills it with a message that names the file and what is wrong.
 *  - Handles are opaque.  A loaded eb_model is read-only and may be shared by
 *    any number of threads; each thread uses its own eb_context.
 *  - The library never calls exit() and has no global mutable state.  Memory
 *    comes from the eb_allocator given at load time (malloc by default);
 *    messages go to the eb_log_fn given there (silent by default).
 *
 * Module headers (included below) add the accelerator model, the runtime
 * policies, quantisation, data sets and the trainer.
 */
#ifndef EDGEBERT_H
#define EDGEBERT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* EB_API marks what the shared library exports: it is built with
 * -fvisibility=hidden, so only the declarations in these headers are its
 * interface (tests/py/test_exports.py compares `nm -D` with them). */
#ifndef EB_API
#if defined(__GNUC__) || defined(__clang__)
#define EB_API __attribute__((visibility("default")))
#else
#define EB_API
#endif
#endif

#define EB_VERSION_STRING "0.1.0"
#define EB_MAX_LABELS 16
#define EB_MAX_LAYERS 64
#define EB_MAX_TOKENS 4096
#define EB_LABEL_NAME_MAX 32

/* ------------------------------------------------------------------ */
/* Status, errors, allocation, logging                                 */
/* ------------------------------------------------------------------ */

typedef enum eb_status {
    EB_OK = 0,
    EB_ERR_IO = 1,          /* a file is missing or cannot be read/written */
    EB_ERR_FORMAT = 2,      /* a file's content is malformed or hostile */
    EB_ERR_ARG = 3,         /* an argument is invalid (unknown task, bad option) */
    EB_ERR_NOMEM = 4,       /* an allocation failed or would be absurdly large */
    EB_ERR_INPUT = 5,       /* bad text: invalid UTF-8, empty */
    EB_ERR_UNSUPPORTED = 6, /* valid but not supported (dtype, activation) */
    EB_ERR_NUMERIC = 7,     /* NaN or Inf where a number was expected */
    EB_ERR_INTERRUPTED = 8  /* a long job was asked to stop */
} eb_status;

#define EB_ERROR_MSG_MAX 512
typedef struct eb_error {
    eb_status status;
    char msg[EB_ERROR_MSG_MAX];
} eb_error;

/* A short constant name for a status ("format error", ...). */
EB_API const char *eb_status_name(eb_status s);

/* User allocator.  All three may be NULL to use malloc/realloc/free. */
typedef struct eb_allocator {
    void *(*alloc)(void *ud, size_t size);
    void *(*realloc)(void *ud, void *ptr, size_t size);
    void (*free)(void *ud, void *ptr);
    void *ud;
} eb_allocator;

typedef enum eb_log_level {
    EB_LOG_DEBUG = 0,
    EB_LOG_INFO = 1,
    EB_LOG_WARN = 2,
    EB_LOG_ERROR = 3
} eb_log_level;
typedef void (*eb_log_fn)(void *ud, eb_log_level level, const char *msg);

/* Progress and cancellation of a long job (eb_train_run, eb_fault_study_run;
 * the CLI's eval and calibrate loops report the same way).  The job calls
 * the callback at its report points (report = 1) and, between them, at every
 * point where it can stop cleanly (report = 0: a check, the numbers are as at
 * the last report).  A nonzero return cancels: the job stops at that point
 * (the trainer after the step, with a checkpoint that resumes; the fault
 * study after its running trials) and returns EB_ERR_INTERRUPTED (training)
 * or an incomplete study.  Never called from two threads at once. */
typedef struct eb_progress {
    const char *phase; /* "train", "teacher" (the teacher's logits), "faults", "eval", ... */
    int report;        /* 1: a report point; 0: a check for cancellation only */
    long done, total;  /* units of the phase done (steps, examples, trials); total 0: unknown */
    double elapsed_s;  /* since the phase began */
    double eta_s;      /* < 0: unknown */
    /* training only (0 elsewhere) */
    int epoch, epochs;   /* 1-based epoch of the last step */
    double loss;         /* mean over the steps since the last report */
    double lr;           /* learning rate of the last step */
    double tokens_per_s; /* real tokens per second since the last report */
    double kept;         /* pruning: kept fraction now (1 without pruning) */
} eb_progress;
typedef int (*eb_progress_fn)(void *user, const eb_progress *p);

/* ------------------------------------------------------------------ */
/* Model configuration (AlbertConfig fields that change the math)       */
/* ------------------------------------------------------------------ */

typedef enum eb_activation { EB_ACT_GELU_NEW = 0, EB_ACT_GELU = 1, EB_ACT_RELU = 2 } eb_activation;

typedef struct eb_config {
    int vocab_size;
    int embedding_size;
    int hidden_size;
    int num_hidden_layers;
    int num_hidden_groups;
    int inner_group_num;
    int num_attention_heads;
    int intermediate_size;
    int max_position_embeddings;
    int type_vocab_size;
    int num_labels; /* 1 = regression (STS-B) */
    eb_activation hidden_act;
    float layer_norm_eps;
    char id2label[EB_MAX_LABELS][EB_LABEL_NAME_MAX];
} eb_config;

/* ------------------------------------------------------------------ */
/* Tokenizer                                                            */
/* ------------------------------------------------------------------ */

typedef struct eb_tokenizer eb_tokenizer;

typedef struct eb_encoding {
    int32_t ids[EB_MAX_TOKENS];
    int32_t type_ids[EB_MAX_TOKENS];
    int n;         /* number of ids, [CLS] and [SEP]s included */
    int truncated; /* 1 when the input was cut to max_len */
} eb_encoding;

/* Load a SentencePiece unigram model (spiece.model). */
EB_API eb_status eb_tokenizer_load(const char *path, const eb_allocator *alloc, eb_tokenizer **out,
                            eb_error *err);
/* Same, from a buffer (the bundle and fixed-memory mode use this). `name`
 * is used in messages. The buffer is copied. */
EB_API eb_status eb_tokenizer_load_buffer(const void *data, size_t size, const char *name,
                                   const eb_allocator *alloc, eb_tokenizer **out, eb_error *err);
EB_API void eb_tokenizer_free(eb_tokenizer *tok);

/* ALBERT encoding: preprocessing + SentencePiece + [CLS] a [SEP] (b [SEP]),
 * truncated longest-first to max_len tokens (max_len <= EB_MAX_TOKENS).
 * text_b may be NULL.  Invalid UTF-8 or empty text gives EB_ERR_INPUT. */
EB_API eb_status eb_tokenize(const eb_tokenizer *tok, const char *text_a, const char *text_b, int max_len,
                      eb_encoding *out, eb_error *err);
/* SentencePiece ids of one text without special tokens or truncation.
 * Writes at most cap ids, returns the count in *n (which may exceed cap). */
EB_API eb_status eb_tokenizer_encode(const eb_tokenizer *tok, const char *text, int32_t *ids, int cap,
                              int *n, eb_error *err);
EB_API int eb_tokenizer_vocab_size(const eb_tokenizer *tok);
EB_API const char *eb_tokenizer_piece(const eb_tokenizer *tok, int id);       /* NULL if out of range */
EB_API int eb_tokenizer_piece_id(const eb_tokenizer *tok, const char *piece); /* -1 if absent */

/* ------------------------------------------------------------------ */
/* Models                                                               */
/* ------------------------------------------------------------------ */

typedef struct eb_model eb_model;
typedef struct eb_context eb_context;

typedef struct eb_load_params {
    eb_allocator alloc;
    eb_log_fn log;
    void *log_ud;
    int use_mmap;     /* map model.safetensors instead of reading it (default 1) */
    int pack_weights; /* keep copies of the matrices for the fast kernels: fp32 packed for
                         AVX-512, bf16 of the AF8 form for af8-bf16 with AVX512-BF16
                         (default 1; made only where the CPU has the kernel; 0 saves them) */
} eb_load_params;

EB_API eb_load_params eb_load_params_default(void);

/* Load a HuggingFace ALBERT directory (config.json, model.safetensors,
 * spiece.model) or an edgebert bundle file. */
EB_API eb_status eb_model_load(const char *path, const eb_load_params *params, eb_model **out,
                        eb_error *err);
EB_API void eb_model_free(eb_model *model);
/* Write one task (NULL: the first) as a HuggingFace ALBERT checkpoint directory
 * (created when missing; its files are replaced): config.json with the task's
 * edgebert_* keys, model.safetensors (F32: the weights the engine runs, AF8 and
 * bitmask forms decoded), spiece.model and, when the task has one, exit_lut.csv.
 * Loading the directory gives the same task. */
EB_API eb_status eb_model_export(const eb_model *model, const char *task, const char *out_dir,
                          eb_error *err);

EB_API const eb_config *eb_model_config(const eb_model *model);
EB_API const eb_tokenizer *eb_model_tokenizer(const eb_model *model);
/* Number of off-ramps present (0 when the checkpoint has none). */
EB_API int eb_model_num_offramps(const eb_model *model);
/* Tasks: a HuggingFace checkpoint has one ("default"), a bundle one or more. */
EB_API int eb_model_num_tasks(const eb_model *model);
EB_API const char *eb_model_task_name(const eb_model *model, int i); /* NULL if out of range */
/* Config of a task by name (NULL: the first task); NULL when unknown. */
EB_API const eb_config *eb_model_task_config(const eb_model *model, const char *task);

/* Describe a checkpoint directory or bundle as a JSON document: every
 * tensor (format, shape, density, bytes), file_bytes, shared_bytes, the word
 * embedding footprint, and per task task_bytes, labels, thresholds, spans.
 * *json is malloc'ed; free() it. */
EB_API eb_status eb_model_info_json(const char *path, char **json, eb_error *err);

/* ------------------------------------------------------------------ */
/* Running                                                              */
/* ------------------------------------------------------------------ */

typedef enum eb_policy {
    EB_POLICY_BASE = 0, /* all layers */
    EB_POLICY_EE = 1,   /* conventional entropy early exit */
    EB_POLICY_LAI = 2   /* latency-aware inference (Algorithm 2) */
} eb_policy;
#define EB_NUM_POLICIES 3 /* the rows of eb_policy_table (edgebert/runtime.h) */

typedef enum eb_precision {
    EB_PRECISION_FP32 = 0,
    EB_PRECISION_AF8 = 1,     /* AdaptivFloat8 weights and activations, exact accumulation */
    EB_PRECISION_AF8_BF16 = 2 /* the same values; the products through AVX512-BF16 dot products
                                 with fp32 sums (every AF8 value is exact in bf16); without
                                 AVX512-BF16 or the bf16 copies (pack_weights), exactly af8 */
} eb_precision;

/* The precisions as one table: the CLI's --precision, the JSON requests of
 * serve, the engine (per sentence, batched, fixed-memory) and the reports
 * read its rows.  Adding a number format is an enum value here, a row in
 * src/model/precision.c and its kernels in src/model/albert.c. */
typedef struct eb_precision_info {
    eb_precision id;
    const char *name;     /* as --precision and the JSON "precision" spell it */
    const char *summary;  /* one line for usage text */
    int af8;              /* computes on the AdaptivFloat8 forms (weights and activations) */
    int bf16;             /* its products use AVX512-BF16 where the CPU has it (else as af8) */
    int weight_bytes;     /* bytes per weight it computes with: 4 (fp32) or 1 (af8) */
    const char *store;    /* the bundle tensor format of its weights: "f32" or "af8" */
} eb_precision_info;

#define EB_NUM_PRECISIONS 3
/* Row i is precision i (i in 0..EB_NUM_PRECISIONS-1). */
EB_API const eb_precision_info *eb_precision_table(int *n);
EB_API const eb_precision_info *eb_precision_info_of(eb_precision p); /* NULL if not one */
EB_API const char *eb_precision_name(eb_precision p);                 /* "?" if not one */
EB_API int eb_precision_parse(const char *s);                         /* -1 if unknown */
/* The names joined by `sep` (and `last` before the last one, when not NULL). */
EB_API const char *eb_precision_names(char *buf, size_t cap, const char *sep, const char *last);

typedef struct eb_run_params {
    eb_policy policy;
    float threshold;          /* exit when entropy < threshold; < 0: the model's own or none */
    int predict_after;        /* LAI: read the predictor after this layer (default 1) */
    double latency_target_ms; /* LAI: per-sentence target (default 50) */
    int mac_size;             /* accelerator PU size n (default 16) */
    eb_precision precision;
    int max_tokens;     /* 0: the model's max_position_embeddings */
    const char *task;   /* bundle task name; NULL: the first/only task */
    int last_ramp_only; /* policy base: run no off-ramp before the last layer (the result
                           then has no per-layer entropies and labels; a plain forward
                           pass, as full-model engines compute it); default 0 */
    int threads;        /* 0 (default): OpenMP's team (OMP_NUM_THREADS or every core) for
                           the products big enough to split; 1: edgebert's kernels all on the
                           calling thread, no OpenMP team is started (embedded callers,
                           fixed-memory mode, callers running their own threads); n > 1: at
                           most n (never more than OpenMP's own team).  OpenBLAS, where it
                           is called (exact af8 sums, attention without AVX-512, CPUs
                           without SIMD tiles), keeps its own setting */
} eb_run_params;

EB_API eb_run_params eb_run_params_default(void);

/* What the accelerator model says a sentence cost. */
typedef struct eb_energy_breakdown {
    double pu_uj, sfu_uj, sram_uj, emb_mem_uj, dvfs_uj, leakage_uj;
} eb_energy_breakdown;

typedef struct eb_hw_report {
    double vdd;      /* volts after the DVFS decision */
    double freq_mhz; /* MHz after the DVFS decision */
    double cycles;
    double time_ms;
    double energy_uj;
    eb_energy_breakdown energy;
    int deadline_met;
} eb_hw_report;

typedef struct eb_result {
    int label;
    int num_labels;
    float logits[EB_MAX_LABELS];
    float probs[EB_MAX_LABELS];
    int exit_layer;                 /* 1-based layer whose classifier gave the answer */
    int predicted_layer;            /* LAI: predicted exit layer; 0 otherwise */
    int num_layers;                 /* layers of the model */
    float entropies[EB_MAX_LAYERS]; /* entropy after layers 1..exit_layer */
    int n_tokens;
    int truncated;
    int active_heads[EB_MAX_LAYERS]; /* heads computed per layer run */
    eb_hw_report hw;                 /* filled for every policy */
    int layer_labels[EB_MAX_LAYERS]; /* argmax of the classifier after each layer run */
    /* Work done on this CPU for the sentence, 2 x multiply-adds of every
     * matmul (linears with the sparse kernel count their non-zeros; heads
     * whose span is empty are not computed), and the same for the dense
     * model with all heads over the same layers and off-ramps. */
    double flops;
    double flops_dense;
} eb_result;

EB_API eb_status eb_context_new(const eb_model *model, eb_context **out, eb_error *err);
EB_API void eb_context_free(eb_context *ctx);

/* Tokenize as eb_classify does for model task `task` (NULL: the first): at
 * most max_tokens tokens (<= 0: the task's max_position_embeddings, at most
 * EB_MAX_TOKENS), a long single text cut to its head and tail as the task's
 * edgebert_truncate_head says (else longest-first truncation). */
EB_API eb_status eb_model_tokenize(const eb_model *m, const char *task, const char *text_a,
                            const char *text_b, int max_tokens, eb_encoding *out, eb_error *err);

/* Tokenize and classify one sentence (text_b may be NULL). */
EB_API eb_status eb_classify(eb_context *ctx, const char *text_a, const char *text_b,
                      const eb_run_params *params, eb_result *out, eb_error *err);
/* Classify an already tokenized input.  type_ids may be NULL (all zero). */
EB_API eb_status eb_classify_ids(eb_context *ctx, const int32_t *ids, const int32_t *type_ids, int n,
                          const eb_run_params *params, eb_result *out, eb_error *err);

/* Numerically stable entropy (natural log) of softmax(logits). */
EB_API float eb_entropy(const float *logits, int n);

#ifdef __cplusplus
}
#endif

#endif /* EDGEBERT_H */
