/*
 * edgebert/faults.h - the Monte Carlo study of storing the shared word
 * embeddings in (multi-level) ReRAM (paper section 4, Table 2).
 *
 * What is stored: the bundle's word embeddings as AdaptivFloat8 codes of the
 * non-zero values (row-major, "packed" order) plus one 16-bit mask per 16
 * values (the bundle's bitmask layout, see edgebert/quant.h).  The non-zero
 * codes are one byte stream cut into cells of the storage kind, most
 * significant bit first (edgebert/reram.h).  The masks, as the bytes the
 * bundle stores (each u16 little-endian), go to SLC cells by default
 * (EB_MASK_SLC) or to cells of the same kind as the values (EB_MASK_SAME).
 * A bundle that stores the embeddings as dense AF8 codes (no pruning, where
 * the bitmask would not be smaller) is studied in the same sparse form.
 *
 * A trial: fresh copies of the codes and masks, faults injected with the
 * trial's seeds, decoded back, the fp32 embeddings rebuilt and the dev set
 * evaluated through a clone of the model (eb_model_fork_embeddings).
 *
 * Decoding a faulty bitmask: the masks are read as a bundle reader reads
 * them.  There are no stored row pointers: the decoder walks the masks in
 * order and every set bit takes the next stored value.  A bit flipped 0->1
 * inserts a value and shifts every later value one place forward; 1->0 drops
 * a position and shifts them back.  When the set bits outnumber the stored
 * values, the positions past the end read as 0; stored values left over are
 * ignored; a set padding bit (columns past the row's end) consumes a value
 * that is discarded.  A fault in a value's code changes only that value (a
 * code read as 0x00/0x80 becomes a zero).
 *
 * Seeds: trial i of every kind uses the value seed
 * eb_reram_trial_seed(seed, i) and the mask seed
 * eb_reram_trial_seed(seed ^ EB_FAULT_MASK_SEED_SALT, i), so a kind's results
 * do not depend on which other kinds are studied, on the number of threads
 * or on interruptions.
 *
 * Checkpoints: after each finished trial the whole list of finished trials
 * is rewritten atomically (temp file + rename).  A resumed study refuses a
 * checkpoint made with other options (model, data, kinds and their tables,
 * trials, seed, mask storage, fault mode, run policy).
 */
#ifndef EDGEBERT_FAULTS_H
#define EDGEBERT_FAULTS_H

#include "edgebert.h"
#include "edgebert/data.h"
#include "edgebert/reram.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EB_FAULT_MASK_SEED_SALT 0x6d61736b2d736c63ULL
#define EB_FAULT_KIND_NAME_MAX 48

/* One storage kind under study. */
typedef struct eb_fault_kind {
    char name[EB_FAULT_KIND_NAME_MAX]; /* "slc", "mlc2", "mlc3", or a user name */
    eb_cell_kind cell; /* the built-in kind it is (area, latency known), 0 for a user table */
    eb_reram_table table;
} eb_fault_kind;

/* slc, mlc2, mlc3 with their compiled-in tables. */
EB_API eb_status eb_fault_kind_builtin(eb_cell_kind k, eb_fault_kind *out, eb_error *err);

typedef enum eb_mask_storage { EB_MASK_SLC = 0, EB_MASK_SAME = 1 } eb_mask_storage;

/* ---- the stored word embeddings and one trial's faults ---- */

/* A view of the stored word embeddings (pointing into the model). */
typedef struct eb_stored_embeddings {
    int rows, cols, vpr, bias;
    size_t nnz;
    const uint16_t *masks; /* rows * vpr */
    const uint8_t *codes;  /* nnz non-zero AF8 codes, row-major */
} eb_stored_embeddings;

/* The model's word embeddings as stored (task 0's shared AF8 form).
 * EB_ERR_UNSUPPORTED when they are not AdaptivFloat8 (an fp32 bundle or a
 * HuggingFace directory: pack one with `edgebert pack`). */
EB_API eb_status eb_fault_stored_embeddings(const eb_model *m, eb_stored_embeddings *out, eb_error *err);

/* Inject one trial's faults: codes_out (nnz bytes) and masks_out (rows*vpr)
 * receive faulty copies of src's.  mask_model NULL: the masks are copied
 * without faults.  Stats may be NULL. */
EB_API eb_status eb_fault_inject_embeddings(const eb_stored_embeddings *src,
                                     const eb_reram_model *value_model,
                                     const eb_reram_model *mask_model, eb_fault_mode mode,
                                     uint64_t value_seed, uint64_t mask_seed, uint8_t *codes_out,
                                     uint16_t *masks_out, eb_fault_stats *value_stats,
                                     eb_fault_stats *mask_stats, const eb_allocator *alloc,
                                     eb_error *err);

/* Dense fp32 [rows, cols] from (possibly faulty) masks and codes of src's
 * shape, by the rule above. */
EB_API void eb_fault_decode_embeddings(const eb_stored_embeddings *shape, const uint16_t *masks,
                                const uint8_t *codes, float *out);

/* ---- the study ---- */

/* One trial's outcome. */
typedef struct eb_fault_trial {
    double accuracy;                        /* NAN for STS-B */
    double f1, matthews, pearson, spearman; /* as GLUE reports them (NAN when not the task's) */
    long value_faults, mask_faults;         /* cells read one level off */
    long changed_codes;                     /* stored codes that read differently */
    long changed_rows;                      /* vocabulary rows whose fp32 values changed */
    int reevaluated; /* dev examples run again (others reuse the clean answer) */
} eb_fault_trial;

typedef struct eb_fault_summary {
    double fault_rate;      /* mean per-cell error probability of the values' kind */
    double mask_fault_rate; /* same for the cells holding the masks */
    double mean_accuracy, min_accuracy, max_accuracy, std_accuracy;
    double mean_metric, min_metric; /* the task's GLUE metric (see eb_fault_study.metric) */
    double mean_value_faults, mean_mask_faults, mean_changed_codes, mean_changed_rows;
    size_t value_cells, mask_cells; /* cells holding the values and the masks */
    int trials_done;
} eb_fault_summary;

typedef struct eb_fault_input {
    const int32_t *ids, *type_ids; /* type_ids may be NULL */
    int n;
} eb_fault_input;

typedef struct eb_fault_study_params {
    const eb_fault_kind *kinds;
    int n_kinds;
    int trials; /* per kind */
    uint64_t seed;
    eb_mask_storage mask;
    eb_fault_mode mode;     /* EB_FAULT_COUNT (the paper's injector) by default */
    eb_run_params run;      /* policy etc.; run.task names the model task (NULL: first).
                               Default policy: base (every layer) */
    int limit;              /* > 0: only the first `limit` examples */
    int threads;            /* 0: one per online CPU */
    const char *checkpoint; /* NULL: none */
    int resume;             /* 1: continue from the checkpoint when it exists */
    int stop_after;         /* > 0: run at most this many new trials, then stop (complete = 0) */
    int reuse_clean;            /* 1 (default): examples none of whose tokens changed keep the
                                   fault-free answer (the forward pass is deterministic) */
    eb_progress_fn progress;    /* phase "faults": done counts finished trials (resumed ones
                                   included) of total; report = 1 after each trial, 0 before one
                                   starts; nonzero stops after the running trials (complete = 0).
                                   Called from worker threads, one call at a time */
    void *progress_ud;
} eb_fault_study_params;

EB_API eb_fault_study_params eb_fault_study_params_default(void);

typedef struct eb_fault_study {
    int n_kinds, trials;
    eb_fault_kind *kinds;         /* [n_kinds] */
    eb_reram_model *value_models; /* [n_kinds] */
    eb_reram_model *mask_models;  /* [n_kinds] */
    eb_fault_trial *trial;        /* [n_kinds * trials], kind-major */
    unsigned char *done;          /* [n_kinds * trials] */
    eb_fault_summary *summary;    /* [n_kinds] */
    eb_glue_scores clean;         /* fault-free scores of the stored embeddings */
    const char *metric;           /* "accuracy", "f1", "matthews" or "pearson" */
    const eb_task_info *task;
    int n_examples;
    int rows, cols;
    size_t nnz, mask_bytes;
    int complete; /* every trial of every kind done */
    int resumed;  /* trials read from the checkpoint */
    int threads;
    double seconds;       /* wall time of this run */
    double trial_seconds; /* mean wall time of one trial on one thread (this run) */
    eb_allocator alloc;
} eb_fault_study;

/* Run (or resume) the study of model task params->run.task on the labeled
 * data set ds.  inputs (NULL: tokenized here with the model's tokenizer)
 * gives the token ids of ds's first n examples. */
EB_API eb_status eb_fault_study_run(const eb_model *m, const eb_dataset *ds, const eb_fault_input *inputs,
                             const eb_fault_study_params *params, eb_fault_study **out,
                             eb_error *err);
EB_API void eb_fault_study_free(eb_fault_study *s);

#ifdef __cplusplus
}
#endif

#endif /* EDGEBERT_FAULTS_H */
