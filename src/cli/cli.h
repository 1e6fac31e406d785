/* cli.h - shared pieces of the edgebert command's subcommands. */
#ifndef EB_CLI_H
#define EB_CLI_H

#include <stdio.h>

#include "cli/opts.h"
#include "edgebert.h"
#include "edgebert/batch.h"
#include "edgebert/data.h"

/* Log callback printing "edgebert: warning: ..." to stderr. */
void eb_cli_log(void *ud, eb_log_level level, const char *msg);

/* Progress of a CLI loop over sentences (eval, calibrate) in the library's shape
 * (eb_progress, as train and faults report): eb_cli_meter_report fills a report of done of
 * total sentences and passes it to eb_cli_sentences_progress, which, on a terminal,
 * rewrites one line "DONE/TOTAL sentences" at most once a second and at the end. */
typedef struct eb_cli_meter {
    const char *phase;
    int tty;
    double t0, last;
} eb_cli_meter;
void eb_cli_meter_start(eb_cli_meter *m, const char *phase);
void eb_cli_meter_report(eb_cli_meter *m, long done, long total);
int eb_cli_sentences_progress(void *user, const eb_progress *p); /* user: eb_cli_meter * */

/* The model to use: the -m value, else $EDGEBERT_MODEL, else the default
 * model shipped with the repo (models/default.ebb next to the executable's
 * ../, or the installed share/edgebert/models/, or ./models/default.ebb). */
const char *eb_cli_model_path(const char *given, char *buf, size_t cap);

/* Load a model with the CLI's log callback; prints the error on failure. */
eb_model *eb_cli_load_model(const char *cmd, const char *given);

/* Parse helpers for an EB_OPT_FN row: print "edgebert CMD: bad value" and
 * return 0 on error (no range: the option table's rows check theirs). */
int eb_cli_parse_float(const char *cmd, const char *opt, const char *val, float *out);
int eb_cli_parse_double(const char *cmd, const char *opt, const char *val, double *out);
int eb_cli_parse_int(const char *cmd, const char *opt, const char *val, int *out);
int eb_cli_parse_policy(const char *cmd, const char *val, eb_policy *out);
int eb_cli_parse_precision(const char *cmd, const char *val, eb_precision *out);

/* EB_OPT_FN parsers of --policy (dst: eb_policy *) and --precision (dst:
 * eb_precision *). */
/* The --policy / --precision rows' METAVAR ("base|ee|lai") and help text, from the tables. */
const char *eb_cli_policy_meta(void);
const char *eb_cli_policy_help(void);
const char *eb_cli_precision_meta(void);
const char *eb_cli_precision_help(void);
int eb_cli_policy_opt(void *dst, const char *cmd, const char *opt, const char *val);
int eb_cli_precision_opt(void *dst, const char *cmd, const char *opt, const char *val);

/* Print s as a JSON string (quoted, escaped). */
void eb_cli_json_str(FILE *f, const char *s);

/* Print a result as a JSON object (no newline). */
void eb_cli_print_result_json(FILE *f, const eb_model *m, const eb_result *r, const char *task);

/* The run options as option-table rows (at most EB_CLI_RUN_OPTS):
 * --threshold, --policy, --latency-target, --mac-size, --predict-after,
 * --precision, --max-len, --threads and, with with_task, --task (the bundle
 * task).  Returns the number of rows written. */
#define EB_CLI_RUN_OPTS 9
int eb_cli_run_opts(eb_opt *rows, eb_run_params *p, int with_task);

/* The threshold's upper end once the task is known: ln C for a task of C
 * classes.  Prints a usage error and returns 0 when p->threshold is above it. */
int eb_cli_check_threshold(const char *cmd, const eb_model *m, const eb_run_params *p);

/* eval and compress-report: a model task scored on a labeled GLUE file. */
typedef struct eb_cli_scoring {
    const char *model, *data, *task; /* -m, --data, --task */
    const char *layout;              /* --layout: the data's GLUE task (default: --task) */
    const char *model_task;          /* --model-task (older spelling): the bundle task */
    int json, limit;                 /* --json, --limit (0: all) */
    int batch;                       /* --batch N (eval): N at a time, 0: one by one */
    eb_run_params p;                 /* the run options; p.task: the bundle task */
    const eb_task_info *ti;          /* the data layout */
    eb_model *m;
    eb_dataset *ds;
    const eb_config *cfg;   /* the model task's config */
    int inv[EB_MAX_LABELS]; /* model label -> data label, -1: none */
    eb_context *ctx;
    int n; /* examples to run: ds->n, at most --limit */
} eb_cli_scoring;

/* The scoring options as option-table rows (at most EB_CLI_SCORING_OPTS):
 * -m, --data, --task, --layout, --model-task (hidden), --limit, --json and
 * the run options.  Returns the number of rows written. */
#define EB_CLI_SCORING_OPTS (EB_CLI_RUN_OPTS + 8)
int eb_cli_scoring_opts(eb_opt *rows, eb_cli_scoring *s);

/* The usage text shared by eval, compress-report and calibrate on how
 * --task, --layout and the bundle task relate. */
extern const char EB_CLI_SCORING_HELP[];

/* After eb_opt_parse: --data and --task present.  Returns -1 to go on, else
 * the exit code (2, after saying what is missing). */
int eb_cli_scoring_check(const char *cmd, const eb_cli_scoring *s);

/* Look up the layout, load the model and the labeled data, pick the model
 * task (--model-task; else --task when --layout names the data; else a
 * bundle task named like the data task, else the only one), map
 * its labels and make a context.  Returns 0, else the exit code after
 * printing why; call eb_cli_scoring_close() either way. */
int eb_cli_scoring_open(const char *cmd, eb_cli_scoring *s);
void eb_cli_scoring_close(eb_cli_scoring *s);

/* --batch N of eval and classify: texts classified N at a time on the
 * batched engine (edgebert/batch.h), with the labels, logits and exit layers
 * of eb_classify (no accelerator model: no energy, V/F or latency). */
#define EB_CLI_MAX_BATCH 256
#define EB_CLI_BATCH_HELP                                                                          \
    "N sentences at a time on the batched engine, 1..256: the same labels,\n"                     \
    "logits and exit layers; no accelerator model (no energy, V/F or latency)"
typedef struct eb_cli_batch {
    const eb_model *m;
    eb_run_params p;
    eb_batch *b;
    int cap, max_len;
    eb_encoding *enc; /* [cap] */
    const int32_t **ids, **types;
    int *lens;
    eb_batch_result *out; /* [cap] the answers of the last eb_cli_batch_classify */
} eb_cli_batch;

/* Returns 0, else prints the error and returns 1 (call eb_cli_batch_close
 * either way). */
int eb_cli_batch_open(const char *cmd, eb_cli_batch *cb, const eb_model *m, const eb_run_params *p,
                      int cap);
/* Tokenize text a (b: the pair's second text or NULL) into slot i < cap, cut
 * as eb_classify cuts. */
eb_status eb_cli_batch_tokenize(eb_cli_batch *cb, int i, const char *a, const char *b,
                                eb_error *err);
/* Classify slots 0..n-1: answers in cb->out. */
eb_status eb_cli_batch_classify(eb_cli_batch *cb, int n, eb_error *err);
void eb_cli_batch_close(eb_cli_batch *cb);
/* The softmax of a batched answer's logits (probs[num_labels]). */
void eb_cli_batch_probs(const eb_batch_result *r, float *probs);

/* `edgebert bench --kernels` (cmd_bench_kernels.c). */
int eb_cmd_bench_kernels(int argc, char **argv);

#endif
