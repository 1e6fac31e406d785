/* cli.h - shared pieces of the edgebert command's subcommands. */
#ifndef EB_CLI_H
#define EB_CLI_H

#include <stdio.h>

#include "edgebert.h"
#include "edgebert/batch.h"
#include "edgebert/data.h"

/* Log callback printing "edgebert: warning: ..." to stderr. */
void eb_cli_log(void *ud, eb_log_level level, const char *msg);

/* The model to use: the -m value, else $EDGEBERT_MODEL, else the default
 * model shipped with the repo (models/default.ebb next to the executable's
 * ../, or the installed share/edgebert/models/, or ./models/default.ebb). */
const char *eb_cli_model_path(const char *given, char *buf, size_t cap);

/* Load a model with the CLI's log callback; prints the error on failure. */
eb_model *eb_cli_load_model(const char *cmd, const char *given);

/* Parse helpers: print "edgebert CMD: bad value" and return 0 on error. */
int eb_cli_parse_float(const char *cmd, const char *opt, const char *val, float *out);
int eb_cli_parse_double(const char *cmd, const char *opt, const char *val, double *out);
int eb_cli_parse_int(const char *cmd, const char *opt, const char *val, int *out);
int eb_cli_parse_policy(const char *cmd, const char *val, eb_policy *out);
int eb_cli_parse_precision(const char *cmd, const char *val, eb_precision *out);

/* Print s as a JSON string (quoted, escaped). */
void eb_cli_print_json_string(FILE *f, const char *s);

/* Print a result as a JSON object (no newline). */
void eb_cli_print_result_json(FILE *f, const eb_model *m, const eb_result *r, const char *task);
/* The same printer; full = 0 leaves out what the batched engine does not compute
 * (per-layer entropies, predicted layer, the accelerator model's V/F, cycles,
 * time and energy, flops) and gives the answering layer's "entropy" instead. */
void eb_cli_print_result_json_ex(FILE *f, const eb_model *m, const eb_result *r, const char *task,
                                 int full);

/* Shared option parsing for classify/eval: fills params from
 * --threshold/--policy/--latency-target/--mac-size/--precision/--task/
 * --max-len.  Returns 1 if argv[*i] was consumed (advancing *i), 0 if not
 * one of these, -1 on a bad value. */
int eb_cli_run_option(const char *cmd, int argc, char **argv, int *i, eb_run_params *p);

/* eval and compress-report: a model task scored on a labeled GLUE file. */
typedef struct eb_cli_scoring {
    const char *model, *data, *task; /* -m, --data, --task */
    int json, limit;                 /* --json, --limit */
    int batch;                       /* --batch N (eval), 0: one sentence at a time */
    eb_run_params p;                 /* the run options; p.task: --model-task */
    const eb_task_info *ti;          /* --task's layout */
    eb_model *m;
    eb_dataset *ds;
    const eb_config *cfg;   /* the model task's config */
    int inv[EB_MAX_LABELS]; /* model label -> data label, -1: none */
    eb_context *ctx;
    int n; /* examples to run: ds->n, at most --limit */
} eb_cli_scoring;

/* Parse -m, --data, --task, --model-task, --limit, --json, -h/--help and
 * the run options (eb_cli_run_option) into s; s->p holds the defaults.
 * Returns -1 to go on, else the exit code (usage() printed). */
int eb_cli_scoring_args(const char *cmd, int argc, char **argv, void (*usage)(void),
                        eb_cli_scoring *s);

/* Look up the task, load the model and the labeled data, pick the model
 * task (a bundle task named like the data task, else the only one), map
 * its labels and make a context.  Returns 0, else the exit code after
 * printing why; call eb_cli_scoring_close() either way. */
int eb_cli_scoring_open(const char *cmd, eb_cli_scoring *s);
void eb_cli_scoring_close(eb_cli_scoring *s);

/* --batch N of eval and classify: texts classified N at a time on the
 * batched engine (edgebert/batch.h), with the labels, logits and exit layers
 * of eb_classify (no accelerator model: no energy, V/F or latency). */
#define EB_CLI_MAX_BATCH 256
typedef struct eb_cli_batch {
    const eb_model *m;
    eb_run_params p;
    eb_batch *b;
    int cap, max_len;
    eb_encoding *enc;          /* [cap] */
    const int32_t **ids, **types;
    int *lens;
    eb_batch_result *out;      /* [cap] the answers of the last eb_cli_batch_run */
} eb_cli_batch;

/* Parse the value of --batch (1..EB_CLI_MAX_BATCH); prints why not and
 * returns 0 when bad. */
int eb_cli_parse_batch(const char *cmd, const char *val, int *out);
/* Returns 0, else prints the error and returns 1 (call eb_cli_batch_close
 * either way). */
int eb_cli_batch_open(const char *cmd, eb_cli_batch *cb, const eb_model *m, const eb_run_params *p,
                      int cap);
/* Classify texts a[0..n) (with b[i] the pair's second text, b or b[i] may be
 * NULL), n <= cap: answers in cb->out, tokens in cb->enc[i]. */
eb_status eb_cli_batch_run(eb_cli_batch *cb, int n, const char *const *a, const char *const *b,
                           eb_error *err);
void eb_cli_batch_close(eb_cli_batch *cb);
/* The softmax of a batched answer's logits (probs[num_labels]). */
void eb_cli_batch_probs(const eb_batch_result *r, float *probs);

/* `edgebert bench --kernels` (cmd_bench_kernels.c). */
int eb_cmd_bench_kernels(int argc, char **argv);

#endif
