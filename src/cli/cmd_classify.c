/* cmd_classify.c - edgebert classify: label, probabilities, exit layer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage(void) {
    fprintf(stderr,
            "usage: edgebert classify [-m MODEL] [--task NAME] [--threshold T] [--policy base|ee|lai]\n"
            "                         [--latency-target MS] [--mac-size N] [--precision fp32|af8|af8-bf16]\n"
            "                         [--max-len N] [--threads N] [--batch N] [--json] [TEXT [TEXT_B]]\n"
            "Without TEXT, classifies each stdin line (a TAB separates TEXT and TEXT_B).\n"
            "  -m MODEL             checkpoint directory or .ebb bundle (default: $EDGEBERT_MODEL,\n"
            "                       else models/default next to the executable or ../share/edgebert)\n"
            "  --task NAME          bundle task (default: the first)\n"
            "  --policy P           base: every layer; ee: entropy early exit (default);\n"
            "                       lai: latency-aware with DVFS (needs the model's exit_lut.csv)\n"
            "  --threshold T        exit when a layer's entropy < T (default: the model's own)\n"
            "  --latency-target MS  lai: per-sentence target in milliseconds (default 50)\n"
            "  --mac-size N         accelerator PU size n (default 16)\n"
            "  --precision P        fp32 (default), af8 (AdaptivFloat8 weights and activations,\n"
            "                       exact sums) or af8-bf16 (the same through AVX512-BF16)\n"
            "  --max-len N          cut the input to N tokens (default: the model's positions)\n"
            "  --threads N          1: run on this thread only, N: at most N (default 0: OpenMP's\n"
            "                       team, OMP_NUM_THREADS or every core)\n"
            "  --batch N            stdin: N lines at a time on the batched engine (same labels,\n"
            "                       logits and exit layers; no accelerator model: label, probability,\n"
            "                       exit layer and entropy only)\n"
            "  --json               one JSON object per sentence: label, label_id, probs, logits,\n"
            "                       exit_layer, num_layers, entropies, predicted_layer, n_tokens,\n"
            "                       truncated, vdd, freq_mhz, cycles, time_ms, energy_uj,\n"
            "                       energy_breakdown_uj, deadline_met\n");
}

static int run_one(eb_context *ctx, const eb_model *m, const char *a, const char *b,
                   const eb_run_params *p, int json) {
    eb_result r;
    eb_error err = {0};
    if (eb_classify(ctx, a, b, p, &r, &err) != EB_OK) {
        fprintf(stderr, "edgebert classify: %s\n", err.msg);
        return 1;
    }
    if (r.truncated) fprintf(stderr, "edgebert classify: warning: input truncated to %d tokens\n", r.n_tokens);
    if (json) {
        eb_cli_print_result_json(stdout, m, &r, p->task);
        printf("\n");
    } else {
        const eb_config *c = eb_model_task_config(m, p->task);
        if (r.num_labels == 1) printf("%.4f", r.logits[0]);
        else printf("%s\t%.4f", c->id2label[r.label], r.probs[r.label]);
        printf("\texit layer %d/%d\tentropy %.4f", r.exit_layer, r.num_layers, r.entropies[r.exit_layer - 1]);
        if (r.predicted_layer) printf("\tpredicted %d", r.predicted_layer);
        printf("\t%.3f V %.0f MHz\t%.3f ms\t%.3f uJ%s\n", r.hw.vdd, r.hw.freq_mhz, r.hw.time_ms, r.hw.energy_uj,
               r.hw.deadline_met ? "" : "\tdeadline missed");
    }
    return 0;
}

/* Print the batched answers of lines [0, n). */
static void print_batch(const eb_cli_batch *cb, int n, int json) {
    const eb_config *c = eb_model_task_config(cb->m, cb->p.task);
    for (int i = 0; i < n; i++) {
        const eb_batch_result *r = &cb->out[i];
        float probs[EB_MAX_LABELS];
        eb_cli_batch_probs(r, probs);
        if (cb->enc[i].truncated)
            fprintf(stderr, "edgebert classify: warning: input truncated to %d tokens\n", cb->enc[i].n);
        if (json) {
            printf("{\"label\": ");
            if (r->num_labels == 1) printf("%.6g", r->logits[0]);
            else eb_cli_print_json_string(stdout, c->id2label[r->label]);
            printf(", \"label_id\": %d, \"probs\": [", r->label);
            for (int k = 0; k < r->num_labels; k++) printf("%s%.6g", k ? ", " : "", probs[k]);
            printf("], \"logits\": [");
            for (int k = 0; k < r->num_labels; k++) printf("%s%.6g", k ? ", " : "", r->logits[k]);
            printf("], \"exit_layer\": %d, \"num_layers\": %d, \"entropy\": %.6g, \"n_tokens\": %d, "
                   "\"truncated\": %s}\n",
                   r->exit_layer, c->num_hidden_layers, r->entropy, cb->enc[i].n,
                   cb->enc[i].truncated ? "true" : "false");
        } else {
            if (r->num_labels == 1) printf("%.4f", r->logits[0]);
            else printf("%s\t%.4f", c->id2label[r->label], probs[r->label]);
            printf("\texit layer %d/%d\tentropy %.4f\n", r->exit_layer, c->num_hidden_layers, r->entropy);
        }
    }
}

/* Classify stdin lines B at a time; returns 0, or 1 when a batch failed. */
static int run_batched(const eb_model *m, const eb_run_params *p, int B, int json) {
    eb_cli_batch cb;
    if (eb_cli_batch_open("classify", &cb, m, p, B)) {
        eb_cli_batch_close(&cb);
        return 1;
    }
    char **lines = calloc((size_t)B, sizeof *lines);
    const char **ta = calloc((size_t)B, sizeof *ta), **tb = calloc((size_t)B, sizeof *tb);
    size_t *caps = calloc((size_t)B, sizeof *caps);
    int rc = 0, n = 0, eof = 0;
    if (!lines || !ta || !tb || !caps) {
        fprintf(stderr, "edgebert classify: out of memory\n");
        rc = 1, eof = 1;
    }
    while (!eof) {
        ssize_t len = getline(&lines[n], &caps[n], stdin);
        if (len >= 0) {
            char *line = lines[n];
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
            char *tab = strchr(line, '\t');
            if (tab) *tab++ = 0;
            ta[n] = line, tb[n] = tab;
            n++;
        } else
            eof = 1;
        if (n == B || (eof && n > 0)) {
            eb_error err = {0};
            if (eb_cli_batch_run(&cb, n, ta, tb, &err) != EB_OK) {
                fprintf(stderr, "edgebert classify: %s\n", err.msg);
                rc = 1;
            } else
                print_batch(&cb, n, json);
            n = 0;
        }
    }
    for (int i = 0; lines && i < B; i++) free(lines[i]);
    free(lines), free(ta), free(tb), free(caps);
    eb_cli_batch_close(&cb);
    return rc;
}

int eb_cmd_classify(int argc, char **argv) {
    const char *model = NULL, *texts[2] = {NULL, NULL};
    int json = 0, nt = 0, batch = 0;
    eb_run_params p = eb_run_params_default();
    for (int i = 1; i < argc; i++) {
        int r = eb_cli_run_option("classify", argc, argv, &i, &p);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (++i >= argc) return usage(), 2;
            model = argv[i];
        } else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--batch")) {
            if (++i >= argc) return usage(), 2;
            if (!eb_cli_parse_batch("classify", argv[i], &batch)) return 2;
        }
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return usage(), 0;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "edgebert classify: unknown option %s\n", argv[i]);
            return usage(), 2;
        } else if (nt < 2) texts[nt++] = argv[i];
        else {
            fprintf(stderr, "edgebert classify: at most two texts (a sentence pair)\n");
            return 2;
        }
    }
    if (batch && nt > 0) {
        fprintf(stderr, "edgebert classify: --batch classifies stdin lines, not TEXT arguments\n");
        return usage(), 2;
    }
    eb_model *m = eb_cli_load_model("classify", model);
    if (!m) return 1;
    if (batch) {
        int rc = run_batched(m, &p, batch, json);
        eb_model_free(m);
        return rc;
    }
    eb_context *ctx;
    eb_error err = {0};
    if (eb_context_new(m, &ctx, &err) != EB_OK) {
        fprintf(stderr, "edgebert classify: %s\n", err.msg);
        eb_model_free(m);
        return 1;
    }
    int rc = 0;
    if (nt > 0) {
        rc = run_one(ctx, m, texts[0], texts[1], &p, json);
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, stdin)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
            char *tab = strchr(line, '\t');
            if (tab) *tab++ = 0;
            if (run_one(ctx, m, line, tab, &p, json)) rc = 1;
        }
        free(line);
    }
    eb_context_free(ctx);
    eb_model_free(m);
    return rc;
}
