/*
 * edgebert/data.h - GLUE data sets and the metrics GLUE reports.
 *
 * Readers for the GLUE TSV files exactly as released: SST-2, CoLA, MRPC,
 * QQP, STS-B, MNLI, QNLI, RTE and WNLI, train/dev files with labels and the
 * test files without them; and IMDB (the Large Movie Review Dataset, Maas et
 * al. 2011) in SST-2's layout: header "sentence<TAB>label", one review per
 * line, label 0 (negative) or 1 (positive), metric accuracy.  Columns are found by header name where the file
 * has a header; fields are split on tabs only (a bare `"` is data); a UTF-8
 * byte-order mark, CRLF line ends and a missing final newline are accepted.
 * A malformed row (wrong number of fields, bad label, invalid UTF-8, NUL
 * byte) gives EB_ERR_FORMAT with "file:line: what is wrong".
 *
 * Labels are class indices in the task's label order, which is the order of
 * the HuggingFace `glue` data sets (e.g. MNLI: entailment, neutral,
 * contradiction; RTE/QNLI: entailment, not_entailment; SST-2: negative,
 * positive).  eb_task_label_map() matches that order with a model's
 * id2label.
 */
#ifndef EDGEBERT_DATA_H
#define EDGEBERT_DATA_H

#include "edgebert.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Tasks                                                                */
/* ------------------------------------------------------------------ */

typedef enum eb_task {
    EB_TASK_COLA = 0,
    EB_TASK_SST2 = 1,
    EB_TASK_MRPC = 2,
    EB_TASK_QQP = 3,
    EB_TASK_STSB = 4,
    EB_TASK_MNLI = 5,
    EB_TASK_QNLI = 6,
    EB_TASK_RTE = 7,
    EB_TASK_WNLI = 8,
    EB_TASK_IMDB = 9, /* not GLUE: the Large Movie Review Dataset as sentence<TAB>label */
    EB_TASK_COUNT = 10
} eb_task;

typedef struct eb_task_info {
    eb_task task;
    const char *name;               /* canonical lower-case name: "sst2", "stsb", ... */
    const char *display;            /* GLUE's spelling: "SST-2", "STS-B", ... */
    int is_pair;                    /* 1 when examples have a text_b */
    int num_labels;                 /* classes; 1 = regression (STS-B) */
    const char *const *label_names; /* [num_labels] in HF/GLUE order; NULL for STS-B */
    int has_f1;                     /* GLUE reports F1 of class 1 (MRPC, QQP) */
    int has_matthews;               /* GLUE reports Matthews correlation (CoLA) */
    int head_tokens;                /* long texts: head + tail truncation with this many head
                                       tokens per 512 (train stores max_len * k / 512 in the
                                       model's edgebert_truncate_head); 0 = keep the head */
} eb_task_info;

/* Look a task up by name, case-insensitively; accepted spellings include
 * "sst2"/"sst-2", "stsb"/"sts-b", "mnli"/"mnli-m"/"mnli-mm", "cola", ...
 * Unknown names give EB_ERR_ARG with the list of known tasks. */
EB_API eb_status eb_task_lookup(const char *name, const eb_task_info **out, eb_error *err);
/* Info of a task by enum value (NULL when out of range). */
EB_API const eb_task_info *eb_task_get(eb_task task);
/* "cola, sst2, mrpc, ..." (static string). */
EB_API const char *eb_task_names(void);

/* Map the task's class indices to a model's output indices:
 * map[task_label] = model_label.  Model labels are matched by name,
 * case-insensitively, against the task's label names and the raw labels of
 * the files ("0"/"1", "entailment", ...).  A model whose names are all
 * generic ("LABEL_k" or "k") gets the identity.  A model with a different
 * number of labels or names that do not match gives EB_ERR_ARG.
 * For STS-B the model must have one output (map[0] = 0). */
EB_API eb_status eb_task_label_map(const eb_task_info *task, const char (*id2label)[EB_LABEL_NAME_MAX],
                            int num_labels, int *map, eb_error *err);

/* ------------------------------------------------------------------ */
/* Data sets                                                            */
/* ------------------------------------------------------------------ */

typedef struct eb_example {
    const char *text_a; /* never NULL */
    const char *text_b; /* NULL for single-sentence tasks */
    int label;          /* class index in the task's order; -1 = no label (test file, STS-B) */
    float score;        /* STS-B similarity 0..5; NAN when absent or not STS-B */
    long line;          /* 1-based line of the row in its file */
} eb_example;

typedef struct eb_dataset {
    const eb_task_info *task;
    int n;            /* number of examples */
    eb_example *rows; /* [n] */
    int labeled;      /* 1 when the file has labels (scores for STS-B) */
    /* internal */
    char *buf;
    eb_allocator alloc;
} eb_dataset;

/* Read a GLUE TSV file for `task` (see eb_task_lookup). */
EB_API eb_status eb_dataset_load(const char *path, const char *task, const eb_allocator *alloc,
                          eb_dataset **out, eb_error *err);
/* Same from a buffer (copied); `name` is used in messages. */
EB_API eb_status eb_dataset_load_buffer(const void *data, size_t size, const char *name, const char *task,
                                 const eb_allocator *alloc, eb_dataset **out, eb_error *err);
EB_API void eb_dataset_free(eb_dataset *ds);

/* ------------------------------------------------------------------ */
/* Metrics (as GLUE / scikit-learn / scipy compute them)                */
/* ------------------------------------------------------------------ */
/* Pairs whose gold label is negative are left out of every metric. */

/* Fraction of pred[i] == gold[i]; NAN when no gold label. */
EB_API double eb_metric_accuracy(const int *pred, const int *gold, int n);
/* F1 of class `positive`: 2TP / (2TP + FP + FN); 0 when that is 0/0. */
EB_API double eb_metric_f1(const int *pred, const int *gold, int n, int positive);
/* Matthews correlation over num_classes classes (the binary phi
 * coefficient for two); 0 when a denominator factor is zero. */
EB_API double eb_metric_matthews(const int *pred, const int *gold, int n, int num_classes);
/* Pearson correlation; NAN when n < 2 or a variable is constant. */
EB_API double eb_metric_pearson(const float *x, const float *y, int n);
/* Spearman correlation: Pearson of the ranks, ties get their average rank.
 * Pairs where either value is NAN are left out. */
EB_API eb_status eb_metric_spearman(const float *x, const float *y, int n, const eb_allocator *alloc,
                             double *out, eb_error *err);

/* Every number GLUE reports for one task. */
typedef struct eb_glue_scores {
    int n;           /* examples scored (with a gold label/score) */
    double accuracy; /* classification tasks; NAN for STS-B */
    double f1;       /* MRPC, QQP; NAN otherwise */
    double matthews; /* CoLA; NAN otherwise */
    double pearson;  /* STS-B; NAN otherwise */
    double spearman; /* STS-B; NAN otherwise */
} eb_glue_scores;

/* Score predictions against a labeled data set.  For classification tasks
 * pred[i] is a class index in the task's order (pred_score may be NULL); for
 * STS-B pred_score[i] is the predicted similarity (pred may be NULL). */
EB_API eb_status eb_glue_score(const eb_dataset *ds, const int *pred, const float *pred_score,
                        eb_glue_scores *out, eb_error *err);

/* Exit-layer histogram: hist[l-1] = how many of exit_layers[0..n) equal l,
 * for l = 1..num_layers (hist has num_layers entries); *mean (may be NULL)
 * receives the mean exit layer (NAN when n == 0).  A layer outside
 * 1..num_layers gives EB_ERR_ARG. */
EB_API eb_status eb_exit_histogram(const int *exit_layers, int n, int num_layers, long *hist, double *mean,
                            eb_error *err);

#ifdef __cplusplus
}
#endif

#endif /* EDGEBERT_DATA_H */
