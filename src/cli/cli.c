/* cli.c - shared pieces of the edgebert subcommands. */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void eb_cli_log(void *ud, eb_log_level level, const char *msg) {
    (void)ud;
    if (level < EB_LOG_WARN) return;
    fprintf(stderr, "edgebert: %s: %s\n", level == EB_LOG_WARN ? "warning" : "error", msg);
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

int eb_cli_parse_policy(const char *cmd, const char *val, eb_policy *out) {
    if (val && !strcmp(val, "base"))
        *out = EB_POLICY_BASE;
    else if (val && !strcmp(val, "ee"))
        *out = EB_POLICY_EE;
    else if (val && !strcmp(val, "lai"))
        *out = EB_POLICY_LAI;
    else {
        fprintf(stderr, "edgebert %s: --policy must be base, ee or lai\n", cmd);
        return 0;
    }
    return 1;
}

int eb_cli_parse_precision(const char *cmd, const char *val, eb_precision *out) {
    if (val && !strcmp(val, "fp32"))
        *out = EB_PRECISION_FP32;
    else if (val && !strcmp(val, "af8"))
        *out = EB_PRECISION_AF8;
    else if (val && !strcmp(val, "af8-bf16"))
        *out = EB_PRECISION_AF8_BF16;
    else {
        fprintf(stderr, "edgebert %s: --precision must be fp32, af8 or af8-bf16\n", cmd);
        return 0;
    }
    return 1;
}

int eb_cli_run_option(const char *cmd, int argc, char **argv, int *i, eb_run_params *p) {
    const char *o = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    int ok;
    if (!strcmp(o, "--threshold"))
        ok = eb_cli_parse_float(cmd, o, v, &p->threshold);
    else if (!strcmp(o, "--policy"))
        ok = eb_cli_parse_policy(cmd, v, &p->policy);
    else if (!strcmp(o, "--latency-target"))
        ok = eb_cli_parse_double(cmd, o, v, &p->latency_target_ms);
    else if (!strcmp(o, "--mac-size"))
        ok = eb_cli_parse_int(cmd, o, v, &p->mac_size);
    else if (!strcmp(o, "--predict-after"))
        ok = eb_cli_parse_int(cmd, o, v, &p->predict_after);
    else if (!strcmp(o, "--precision"))
        ok = eb_cli_parse_precision(cmd, v, &p->precision);
    else if (!strcmp(o, "--max-len"))
        ok = eb_cli_parse_int(cmd, o, v, &p->max_tokens);
    else if (!strcmp(o, "--threads")) {
        ok = eb_cli_parse_int(cmd, o, v, &p->threads) && p->threads >= 0;
        if (!ok && v) fprintf(stderr, "edgebert %s: --threads must be >= 0 (0: every core)\n", cmd);
    } else if (!strcmp(o, "--task")) {
        ok = v != NULL;
        if (ok)
            p->task = v;
        else
            fprintf(stderr, "edgebert %s: --task needs a value\n", cmd);
    } else
        return 0;
    if (!ok) return -1;
    (*i)++;
    return 1;
}

void eb_cli_print_json_string(FILE *f, const char *s) {
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
    eb_cli_print_result_json_ex(f, m, r, task, 1);
}

void eb_cli_print_result_json_ex(FILE *f, const eb_model *m, const eb_result *r, const char *task,
                                 int full) {
    const eb_config *c = eb_model_task_config(m, task);
    if (!c) c = eb_model_config(m);
    fprintf(f, "{\"label\": ");
    if (r->num_labels == 1)
        fprintf(f, "%.6g", r->logits[0]);
    else
        eb_cli_print_json_string(f, c->id2label[r->label]);
    fprintf(f, ", \"label_id\": %d, \"probs\": [", r->label);
    for (int i = 0; i < r->num_labels; i++)
        fprintf(f, "%s%.6g", i ? ", " : "", r->probs[i]);
    fprintf(f, "], \"logits\": [");
    for (int i = 0; i < r->num_labels; i++)
        fprintf(f, "%s%.6g", i ? ", " : "", r->logits[i]);
    fprintf(f, "], \"exit_layer\": %d, \"num_layers\": %d", r->exit_layer, r->num_layers);
    if (!full) { /* the batched engine's answer: no per-layer trace, no accelerator model */
        fprintf(f, ", \"entropy\": %.6g, \"n_tokens\": %d, \"truncated\": %s",
                r->entropies[r->exit_layer > 0 ? r->exit_layer - 1 : 0], r->n_tokens,
                r->truncated ? "true" : "false");
        if (task) {
            fprintf(f, ", \"task\": ");
            eb_cli_print_json_string(f, task);
        }
        fprintf(f, "}");
        return;
    }
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
        eb_cli_print_json_string(f, task);
    }
    fprintf(f, "}");
}

int eb_cli_scoring_args(const char *cmd, int argc, char **argv, void (*usage)(void),
                        eb_cli_scoring *s) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--task")) {
            if (++i >= argc) return usage(), 2;
            s->task = argv[i];
            continue;
        }
        if (!strcmp(argv[i], "--model-task")) {
            if (++i >= argc) return usage(), 2;
            s->p.task = argv[i];
            continue;
        }
        int r = eb_cli_run_option(cmd, argc, argv, &i, &s->p);
        if (r < 0) return 2;
        if (r > 0) continue;
        if ((!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) && i + 1 < argc)
            s->model = argv[++i];
        else if (!strcmp(argv[i], "--data") && i + 1 < argc)
            s->data = argv[++i];
        else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
            if (!eb_cli_parse_int(cmd, "--limit", argv[++i], &s->limit)) return 2;
        } else if (!strcmp(argv[i], "--batch") && s->batch >= 0 && i + 1 < argc) {
            if (!eb_cli_parse_batch(cmd, argv[++i], &s->batch)) return 2;
        } else if (!strcmp(argv[i], "--json"))
            s->json = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return usage(), 0;
        else {
            fprintf(stderr, "edgebert %s: unknown or incomplete option %s\n", cmd, argv[i]);
            return usage(), 2;
        }
    }
    if (!s->data || !s->task) {
        fprintf(stderr, "edgebert %s: --data and --task are required\n", cmd);
        return usage(), 2;
    }
    return -1;
}

int eb_cli_scoring_open(const char *cmd, eb_cli_scoring *s) {
    eb_error err = {0};
    if (eb_task_lookup(s->task, &s->ti, &err) != EB_OK) {
        fprintf(stderr, "edgebert %s: %s\n", cmd, err.msg);
        return 2;
    }
    s->m = eb_cli_load_model(cmd, s->model);
    if (!s->m) return 1;
    if (eb_dataset_load(s->data, s->task, NULL, &s->ds, &err) != EB_OK) {
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
            fprintf(stderr, "); name one with --model-task\n");
            return 1;
        }
    }
    s->cfg = eb_model_task_config(s->m, s->p.task);
    if (!s->cfg) {
        fprintf(stderr, "edgebert %s: unknown model task '%s'\n", cmd, s->p.task);
        return 1;
    }
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

int eb_cli_parse_batch(const char *cmd, const char *val, int *out) {
    int v;
    if (!eb_cli_parse_int(cmd, "--batch", val, &v)) return 0;
    if (v < 1 || v > EB_CLI_MAX_BATCH) {
        fprintf(stderr, "edgebert %s: --batch %d: must be 1..%d sentences\n", cmd, v,
                EB_CLI_MAX_BATCH);
        return 0;
    }
    *out = v;
    return 1;
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
    cb->enc = malloc(sizeof *cb->enc * (size_t)cap);
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

eb_status eb_cli_batch_run(eb_cli_batch *cb, int n, const char *const *a, const char *const *b,
                           eb_error *err) {
    for (int i = 0; i < n; i++) { /* cut as eb_classify cuts */
        eb_status st =
            eb_model_tokenize(cb->m, cb->p.task, a[i], b ? b[i] : NULL, cb->max_len, &cb->enc[i], err);
        if (st != EB_OK) return st;
        cb->ids[i] = cb->enc[i].ids;
        cb->types[i] = cb->enc[i].type_ids;
        cb->lens[i] = cb->enc[i].n;
    }
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
