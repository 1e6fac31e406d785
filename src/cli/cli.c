/* cli.c - shared pieces of the edgebert subcommands. */
#include "cli/cli.h"
#include "edgebert/runtime.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void eb_cli_log(void *ud, eb_log_level level, const char *msg) {
    (void)ud;
    if (level < EB_LOG_WARN) return;
    fprintf(stderr, "edgebert: %s: %s\n", level == EB_LOG_WARN ? "warning" : "error", msg);
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void eb_cli_meter_start(eb_cli_meter *m, const char *phase) {
    m->phase = phase;
    m->tty = isatty(2);
    m->t0 = mono_s();
    m->last = 0;
}

int eb_cli_sentences_progress(void *user, const eb_progress *p) {
    eb_cli_meter *m = user;
    const int end = p->done >= p->total;
    if (!p->report || !m->tty || (!end && p->elapsed_s - m->last <= 1.0)) return 0;
    m->last = p->elapsed_s;
    fprintf(stderr, "\r%ld/%ld sentences%s", p->done, p->total, end ? "\n" : "");
    return 0;
}

void eb_cli_meter_report(eb_cli_meter *m, long done, long total) {
    eb_progress p = {0};
    p.phase = m->phase;
    p.report = 1;
    p.done = done;
    p.total = total;
    p.elapsed_s = mono_s() - m->t0;
    p.eta_s = done > 0 ? p.elapsed_s / (double)done * (double)(total - done) : -1;
    eb_cli_sentences_progress(m, &p);
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

const char *eb_cli_model_path(const char *given, char *buf, size_t cap) {
    if (given) return given;
    const char *env = getenv("EDGEBERT_MODEL");
    if (env && *env) return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        const char *rel[] = {"/../models/default.ebb", "/../share/edgebert/models/default.ebb",
                             "/../../models/default.ebb", "/../models/default",
                             "/../share/edgebert/models/default"};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            snprintf(buf, cap, "%s%s", exe, rel[i]);
            if (exists(buf)) return buf;
        }
    }
    snprintf(buf, cap, "models/default.ebb");
    return buf;
}

eb_model *eb_cli_load_model(const char *cmd, const char *given) {
    char buf[PATH_MAX];
    const char *path = eb_cli_model_path(given, buf, sizeof buf);
    eb_load_params lp = eb_load_params_default();
    lp.log = eb_cli_log;
    eb_model *m = NULL;
    eb_error err = {0};
    if (eb_model_load(path, &lp, &m, &err) != EB_OK) {
        fprintf(stderr, "edgebert %s: %s\n", cmd, err.msg);
        if (!given && !getenv("EDGEBERT_MODEL"))
            fprintf(stderr, "edgebert %s: (no -m given; the default model is looked up at %s)\n",
                    cmd, path);
        return NULL;
    }
    return m;
}

int eb_cli_parse_double(const char *cmd, const char *opt, const char *val, double *out) {
    char *end;
    if (!val) {
        fprintf(stderr, "edgebert %s: %s needs a value\n", cmd, opt);
        return 0;
    }
    errno = 0;
    double v = strtod(val, &end);
    if (end == val || *end || errno || !isfinite(v)) {
        fprintf(stderr, "edgebert %s: %s: '%s' is not a number\n", cmd, opt, val);
        return 0;
    }
    *out = v;
    return 1;
}

int eb_cli_parse_float(const char *cmd, const char *opt, const char *val, float *out) {
    double d;
    if (!eb_cli_parse_double(cmd, opt, val, &d)) return 0;
    *out = (float)d;
    return 1;
}

int eb_cli_parse_int(const char *cmd, const char *opt, const char *val, int *out) {
    char *end;
    if (!val) {
        fprintf(stderr, "edgebert %s: %s needs a value\n", cmd, opt);
        return 0;
    }
    errno = 0;
    long v = strtol(val, &end, 10);
    if (end == val || *end || errno || v < INT_MIN || v > INT_MAX) {
        fprintf(stderr, "edgebert %s: %s: '%s' is not an integer\n", cmd, opt, val);
        return 0;
    }
    *out = (int)v;
    return 1;
}

/* A name of a table (parse: its row, or -1), or a usage message listing the names. */
static int parse_named(const char *cmd, const char *opt, const char *val, int (*parse)(const char *),
                       const char *(*names)(char *, size_t, const char *, const char *), int *out) {
    int k = val ? parse(val) : -1;
    if (k < 0) {
        char list[128];
        fprintf(stderr, "edgebert %s: %s must be %s\n", cmd, opt, names(list, sizeof list, ", ", " or "));
        return 0;
    }
    *out = k;
    return 1;
}

int eb_cli_parse_policy(const char *cmd, const char *val, eb_policy *out) {
    int k;
    if (!parse_named(cmd, "--policy", val, eb_policy_parse, eb_policy_names, &k)) return 0;
    *out = (eb_policy)k;
    return 1;
}

int eb_cli_parse_precision(const char *cmd, const char *val, eb_precision *out) {
    int k;
    if (!parse_named(cmd, "--precision", val, eb_precision_parse, eb_precision_names, &k)) return 0;
    *out = (eb_precision)k;
    return 1;
}

/* "NAME: summary" of every row, "; " between them, a new line before one that would pass
 * 64 columns, " (default)" after the default's. */
static const char *summaries(char *buf, size_t cap, int n, const char *(*name)(int),
                             const char *(*summary)(int), int dflt) {
    size_t len = 0, line = 0;
    buf[0] = 0;
    for (int i = 0; i < n && len < cap; i++) {
        char item[200];
        int k = snprintf(item, sizeof item, "%s: %s%s", name(i), summary(i),
                         i == dflt ? " (default)" : "");
        const int wrap = i > 0 && line + 2 + (size_t)k > 64;
        const char *sep = i == 0 ? "" : wrap ? ";\n" : "; ";
        line = (wrap ? 0 : line + strlen(sep)) + (size_t)k;
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", sep, item);
    }
    return buf;
}

static const char *policy_name(int i) {
    return eb_policy_table(NULL)[i].name;
}
static const char *policy_summary(int i) {
    return eb_policy_table(NULL)[i].summary;
}
static const char *precision_name(int i) {
    return eb_precision_table(NULL)[i].name;
}
static const char *precision_summary(int i) {
    return eb_precision_table(NULL)[i].summary;
}

/* The --policy and --precision rows' texts, from the tables (the process's own buffers). */
const char *eb_cli_policy_meta(void) {
    static char buf[128];
    return eb_policy_names(buf, sizeof buf, "|", NULL);
}
const char *eb_cli_policy_help(void) {
    static char buf[512];
    return summaries(buf, sizeof buf, EB_NUM_POLICIES, policy_name, policy_summary,
                     (int)eb_run_params_default().policy);
}
const char *eb_cli_precision_meta(void) {
    static char buf[128];
    return eb_precision_names(buf, sizeof buf, "|", NULL);
}
const char *eb_cli_precision_help(void) {
    static char buf[512];
    return summaries(buf, sizeof buf, EB_NUM_PRECISIONS, precision_name, precision_summary,
                     (int)eb_run_params_default().precision);
}

int eb_cli_policy_opt(void *dst, const char *cmd, const char *opt, const char *val) {
    (void)opt;
    return eb_cli_parse_policy(cmd, val, (eb_policy *)dst);
}

int eb_cli_precision_opt(void *dst, const char *cmd, const char *opt, const char *val) {
    (void)opt;
    return eb_cli_parse_precision(cmd, val, (eb_precision *)dst);
}

int eb_cli_run_opts(eb_opt *rows, eb_run_params *p, int with_task) {
    const eb_opt task = {
        "--task", EB_OPT_STR, &p->task, 0, 0, 0, "NAME", "bundle task (default: the first)", NULL};
    const eb_opt run[] = {
        {"--policy", EB_OPT_FN, &p->policy, 0, 0, 0, eb_cli_policy_meta(), eb_cli_policy_help(),
         eb_cli_policy_opt},
        {"--threshold", EB_OPT_FLOAT, &p->threshold, 0, EB_OPT_INF, EB_OPT_MODEL, "T|model",
         "exit when a layer's entropy < T; T in [0, ln C] for C classes,\n"
         "or model: the model's own threshold (default)",
         NULL},
        {"--latency-target", EB_OPT_DOUBLE, &p->latency_target_ms, 0, EB_OPT_INF, EB_OPT_GT, "MS",
         "lai: per-sentence target in milliseconds, > 0 (default 50)", NULL},
        {"--predict-after", EB_OPT_INT, &p->predict_after, 1, EB_MAX_LAYERS - 1, 0, "N",
         "lai: read the exit predictor after layer N (default 1)", NULL},
        {"--mac-size", EB_OPT_INT, &p->mac_size, 4, 64, 0, "N",
         "accelerator PU size n, 4..64 (default 16)", NULL},
        {"--precision", EB_OPT_FN, &p->precision, 0, 0, 0, eb_cli_precision_meta(),
         eb_cli_precision_help(), eb_cli_precision_opt},
        {"--max-len", EB_OPT_INT, &p->max_tokens, 1, EB_MAX_TOKENS, 0, "N",
         "cut the input to N tokens (default: the model's positions)", NULL},
        {"--threads", EB_OPT_INT, &p->threads, 0, EB_CLI_MAX_THREADS, 0, "N",
         "1: run on this thread only, N: at most N (default 0: OpenMP's\n"
         "team, OMP_NUM_THREADS or every core)",
         NULL}};
    _Static_assert(sizeof run / sizeof run[0] + 1 <= EB_CLI_RUN_OPTS, "EB_CLI_RUN_OPTS too small");
    int n = 0;
    if (with_task) rows[n++] = task;
    memcpy(rows + n, run, sizeof run);
    return n + (int)(sizeof run / sizeof run[0]);
}

int eb_cli_check_threshold(const char *cmd, const eb_model *m, const eb_run_params *p) {
    const eb_config *c = eb_model_task_config(m, p->task);
    if (!c || p->threshold < 0 || c->num_labels < 2) return 1;
    /* ln C, the largest entropy of C classes, rounded up to the 0.01 grid that calibrate's
     * curve uses: its last point, every sentence exiting at the first layer, stays valid */
    double ln_c = log((double)c->num_labels), hi = ceil(ln_c * 100.0 - 1e-9) / 100.0;
    if (p->threshold <= hi + 1e-6) return 1;
    fprintf(stderr,
            "edgebert %s: --threshold must be in [0, %.2f] (ln %d = %.4f, the largest entropy of "
            "%d classes, on the 0.01 grid) or the word 'model', got %g\n",
            cmd, hi, c->num_labels, ln_c, c->num_labels, (double)p->threshold);
    return 0;
}

void eb_cli_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void eb_cli_print_result_json(FILE *f, const eb_model *m, const eb_result *r, const char *task) {
    const eb_config *c = eb_model_task_config(m, task);
    if (!c) c = eb_model_config(m);
    fprintf(f, "{\"label\": ");
    if (r->num_labels == 1)
        fprintf(f, "%.6g", r->logits[0]);
    else
        eb_cli_json_str(f, c->id2label[r->label]);
    fprintf(f, ", \"label_id\": %d, \"probs\": [", r->label);
    for (int i = 0; i < r->num_labels; i++)
        fprintf(f, "%s%.6g", i ? ", " : "", r->probs[i]);
    fprintf(f, "], \"logits\": [");
    for (int i = 0; i < r->num_labels; i++)
        fprintf(f, "%s%.6g", i ? ", " : "", r->logits[i]);
    fprintf(f, "], \"exit_layer\": %d, \"num_layers\": %d", r->exit_layer, r->num_layers);
    fprintf(f, ", \"entropies\": [");
    for (int i = 0; i < r->exit_layer; i++)
        fprintf(f, "%s%.6g", i ? ", " : "", r->entropies[i]);
    fprintf(f, "], \"predicted_layer\": %d", r->predicted_layer);
    fprintf(f, ", \"n_tokens\": %d, \"truncated\": %s", r->n_tokens,
            r->truncated ? "true" : "false");
    const eb_hw_report *h = &r->hw;
    fprintf(f,
            ", \"vdd\": %.4g, \"freq_mhz\": %.6g, \"cycles\": %.0f, \"time_ms\": %.6g, "
            "\"energy_uj\": %.6g",
            h->vdd, h->freq_mhz, h->cycles, h->time_ms, h->energy_uj);
    fprintf(f,
            ", \"energy_breakdown_uj\": {\"pu\": %.6g, \"sfu\": %.6g, \"sram\": %.6g, \"emb_mem\": "
            "%.6g, "
            "\"dvfs\": %.6g, \"leakage\": %.6g}, \"deadline_met\": %s",
            h->energy.pu_uj, h->energy.sfu_uj, h->energy.sram_uj, h->energy.emb_mem_uj,
            h->energy.dvfs_uj, h->energy.leakage_uj, h->deadline_met ? "true" : "false");
    fprintf(f, ", \"flops\": %.0f, \"flops_dense\": %.0f", r->flops, r->flops_dense);
    if (task) {
        fprintf(f, ", \"task\": ");
        eb_cli_json_str(f, task);
    }
    fprintf(f, "}");
}

const char EB_CLI_SCORING_HELP[] =
    "--task names the bundle task and, unless --layout is given, the data's GLUE layout\n"
    "(a bundle without a task of that name runs its only task).\n";

int eb_cli_scoring_opts(eb_opt *rows, eb_cli_scoring *s) {
    const eb_opt own[] = {
        {"-m|--model", EB_OPT_STR, &s->model, 0, 0, 0, "MODEL",
         "checkpoint directory or .ebb bundle (default as for classify)", NULL},
        {"--data", EB_OPT_STR, &s->data, 0, 0, 0, "FILE.tsv",
         "a GLUE dev/test file with the layout's columns", NULL},
        {"--task", EB_OPT_STR, &s->task, 0, 0, 0, "NAME",
         "the bundle task (and the data layout: sst2|qnli|qqp|mnli|\n"
         "cola|mrpc|rte|stsb|imdb)",
         NULL},
        {"--layout", EB_OPT_STR, &s->layout, 0, 0, 0, "GLUE_TASK",
         "the data's layout when the bundle task is named otherwise", NULL},
        {"--model-task", EB_OPT_STR, &s->model_task, 0, 0, EB_OPT_HIDDEN, "NAME",
         "older spelling: the bundle task, --task then the layout", NULL},
        {"--limit", EB_OPT_INT, &s->limit, 1, EB_OPT_INF, 0, "N",
         "only the first N examples (N >= 1)", NULL},
        {"--json", EB_OPT_FLAG, &s->json, 0, 0, 0, NULL, "one JSON object on stdout", NULL}};
    _Static_assert(sizeof own / sizeof own[0] + EB_CLI_RUN_OPTS - 1 <= EB_CLI_SCORING_OPTS,
                   "EB_CLI_SCORING_OPTS too small");
    memcpy(rows, own, sizeof own);
    int n = (int)(sizeof own / sizeof own[0]);
    return n + eb_cli_run_opts(rows + n, &s->p, 0);
}

int eb_cli_scoring_check(const char *cmd, const eb_cli_scoring *s) {
    if (!s->data || !s->task) {
        fprintf(stderr, "edgebert %s: --data and --task are required\n", cmd);
        return 2;
    }
    return -1;
}

int eb_cli_scoring_open(const char *cmd, eb_cli_scoring *s) {
    eb_error err = {0};
    const char *layout = s->layout ? s->layout : s->task;
    if (s->model_task)
        s->p.task = s->model_task;
    else if (s->layout)
        s->p.task = s->task;
    if (eb_task_lookup(layout, &s->ti, &err) != EB_OK) {
        fprintf(stderr, "edgebert %s: %s\n", cmd, err.msg);
        return 2;
    }
    s->m = eb_cli_load_model(cmd, s->model);
    if (!s->m) return 1;
    if (eb_dataset_load(s->data, layout, NULL, &s->ds, &err) != EB_OK) {
        fprintf(stderr, "edgebert %s: %s\n", cmd, err.msg);
        return 1;
    }
    if (!s->ds->labeled) {
        fprintf(stderr, "edgebert %s: %s has no labels to score against\n", cmd, s->data);
        return 1;
    }
    const char *name = s->ti->name;
    if (!s->p.task) { /* a bundle task named like the data task, else the only task */
        if (eb_model_task_config(s->m, name))
            s->p.task = name;
        else if (eb_model_num_tasks(s->m) > 1) {
            fprintf(stderr, "edgebert %s: the bundle has no task '%s' (tasks:", cmd, name);
            for (int k = 0; k < eb_model_num_tasks(s->m); k++)
                fprintf(stderr, " %s", eb_model_task_name(s->m, k));
            fprintf(stderr, "); name one with --task and the data's layout with --layout\n");
            return 1;
        }
    }
    s->cfg = eb_model_task_config(s->m, s->p.task);
    if (!s->cfg) {
        fprintf(stderr, "edgebert %s: unknown model task '%s'\n", cmd, s->p.task);
        return 1;
    }
    if (!eb_cli_check_threshold(cmd, s->m, &s->p)) return 2;
    int map[EB_MAX_LABELS];
    if (eb_task_label_map(s->ti, (const char(*)[EB_LABEL_NAME_MAX])s->cfg->id2label,
                          s->cfg->num_labels, map, &err) != EB_OK) {
        fprintf(stderr, "edgebert %s: %s\n", cmd, err.msg);
        return 1;
    }
    for (int k = 0; k < EB_MAX_LABELS; k++)
        s->inv[k] = -1;
    for (int k = 0; k < s->ti->num_labels; k++)
        s->inv[map[k]] = k;
    if (eb_context_new(s->m, &s->ctx, &err) != EB_OK) {
        fprintf(stderr, "edgebert %s: %s\n", cmd, err.msg);
        return 1;
    }
    s->n = s->ds->n;
    if (s->limit > 0 && s->limit < s->n) s->n = s->limit;
    return 0;
}

void eb_cli_scoring_close(eb_cli_scoring *s) {
    eb_context_free(s->ctx);
    eb_dataset_free(s->ds);
    eb_model_free(s->m);
    s->ctx = NULL, s->ds = NULL, s->m = NULL;
}

int eb_cli_batch_open(const char *cmd, eb_cli_batch *cb, const eb_model *m, const eb_run_params *p,
                      int cap) {
    memset(cb, 0, sizeof *cb);
    cb->m = m;
    cb->p = *p;
    eb_error err = {0};
    const eb_config *c = eb_model_task_config(m, p->task);
    if (!c) {
        fprintf(stderr, "edgebert %s: unknown model task '%s'\n", cmd, p->task);
        return 1;
    }
    if (!eb_model_tokenizer(m)) {
        fprintf(stderr, "edgebert %s: the model has no spiece.model, cannot tokenize text\n", cmd);
        return 1;
    }
    /* the length limit of eb_classify */
    int max_len = c->max_position_embeddings < EB_MAX_TOKENS ? c->max_position_embeddings
                                                              : EB_MAX_TOKENS;
    if (p->max_tokens > 0 && p->max_tokens < max_len) max_len = p->max_tokens;
    cb->cap = cap;
    cb->max_len = max_len;
    cb->enc = calloc((size_t)cap, sizeof *cb->enc);
    cb->ids = calloc((size_t)cap, sizeof *cb->ids);
    cb->types = calloc((size_t)cap, sizeof *cb->types);
    cb->lens = calloc((size_t)cap, sizeof *cb->lens);
    cb->out = calloc((size_t)cap, sizeof *cb->out);
    if (!cb->enc || !cb->ids || !cb->types || !cb->lens || !cb->out) {
        fprintf(stderr, "edgebert %s: out of memory for a batch of %d\n", cmd, cap);
        return 1;
    }
    if (eb_batch_new(m, cap, cap * max_len, &cb->b, &err) != EB_OK) {
        fprintf(stderr, "edgebert %s: %s\n", cmd, err.msg);
        return 1;
    }
    return 0;
}

eb_status eb_cli_batch_tokenize(eb_cli_batch *cb, int i, const char *a, const char *b,
                                eb_error *err) {
    eb_status st = eb_model_tokenize(cb->m, cb->p.task, a, b, cb->max_len, &cb->enc[i], err);
    if (st != EB_OK) return st;
    cb->ids[i] = cb->enc[i].ids;
    cb->types[i] = cb->enc[i].type_ids;
    cb->lens[i] = cb->enc[i].n;
    return EB_OK;
}

eb_status eb_cli_batch_classify(eb_cli_batch *cb, int n, eb_error *err) {
    return eb_batch_classify_typed(cb->b, cb->ids, cb->types, cb->lens, n, &cb->p, cb->out, err);
}

void eb_cli_batch_close(eb_cli_batch *cb) {
    eb_batch_free(cb->b);
    free(cb->enc);
    free(cb->ids);
    free(cb->types);
    free(cb->lens);
    free(cb->out);
    memset(cb, 0, sizeof *cb);
}

void eb_cli_batch_probs(const eb_batch_result *r, float *probs) {
    const int C = r->num_labels;
    float mx = r->logits[0];
    for (int i = 1; i < C; i++)
        mx = r->logits[i] > mx ? r->logits[i] : mx;
    double s = 0;
    for (int i = 0; i < C; i++)
        s += exp((double)r->logits[i] - mx);
    for (int i = 0; i < C; i++)
        probs[i] = (float)(exp((double)r->logits[i] - mx) / s);
}
