/* cmd_classify.c - edgebert classify: label, probabilities, exit layer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define CMD "classify"

static const char INTRO[] =
    "Without TEXT, classifies each stdin line (a TAB separates TEXT and TEXT_B) and prints\n"
    "one output line per input line: a line that cannot be classified (empty, not UTF-8)\n"
    "gives a line saying why (\"error<TAB>line N: ...\"; with --json an object with line and\n"
    "error), and the exit status is then 1.  A TEXT starting with '-' goes after --.\n";

static const char OUTRO[] =
    "With --json, one JSON object per sentence: label, label_id, probs, logits, exit_layer,\n"
    "num_layers, entropies, predicted_layer, n_tokens, truncated, vdd, freq_mhz, cycles,\n"
    "time_ms, energy_uj, energy_breakdown_uj, deadline_met.\n";

/* 0 after printing the result, else 1 after saying why on stderr (and,
 * for a stdin line, line > 0, on stdout: the line's output line). */
static int run_one(eb_context *ctx, const eb_model *m, const char *a, const char *b,
                   const eb_run_params *p, int json, long line) {
    eb_result r;
    eb_error err = {0};
    if (eb_classify(ctx, a, b, p, &r, &err) != EB_OK) {
        if (line > 0) {
            fprintf(stderr, "edgebert classify: stdin line %ld: %s\n", line, err.msg);
            if (json) {
                printf("{\"line\": %ld, \"error\": ", line);
                eb_cli_json_str(stdout, err.msg);
                printf("}\n");
            } else
                printf("error\tline %ld: %s\n", line, err.msg);
            fflush(stdout);
        } else
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

/* Print the answer of stdin line `line` from slot k of a batch (k < 0: the
 * line failed with message msg). */
static void print_batched(const eb_cli_batch *cb, int k, const char *msg, long line, int json) {
    if (k < 0) {
        fprintf(stderr, "edgebert classify: stdin line %ld: %s\n", line, msg);
        if (json) {
            printf("{\"line\": %ld, \"error\": ", line);
            eb_cli_json_str(stdout, msg);
            printf("}\n");
        } else
            printf("error\tline %ld: %s\n", line, msg);
        return;
    }
    const eb_config *c = eb_model_task_config(cb->m, cb->p.task);
    const eb_batch_result *r = &cb->out[k];
    float probs[EB_MAX_LABELS];
    eb_cli_batch_probs(r, probs);
    if (cb->enc[k].truncated)
        fprintf(stderr, "edgebert classify: warning: input truncated to %d tokens\n", cb->enc[k].n);
    if (json) {
        printf("{\"label\": ");
        if (r->num_labels == 1) printf("%.6g", r->logits[0]);
        else eb_cli_json_str(stdout, c->id2label[r->label]);
        printf(", \"label_id\": %d, \"probs\": [", r->label);
        for (int i = 0; i < r->num_labels; i++) printf("%s%.6g", i ? ", " : "", probs[i]);
        printf("], \"logits\": [");
        for (int i = 0; i < r->num_labels; i++) printf("%s%.6g", i ? ", " : "", r->logits[i]);
        printf("], \"exit_layer\": %d, \"num_layers\": %d, \"entropy\": %.6g, \"n_tokens\": %d, "
               "\"truncated\": %s}\n",
               r->exit_layer, c->num_hidden_layers, r->entropy, cb->enc[k].n,
               cb->enc[k].truncated ? "true" : "false");
    } else {
        if (r->num_labels == 1) printf("%.4f", r->logits[0]);
        else printf("%s\t%.4f", c->id2label[r->label], probs[r->label]);
        printf("\texit layer %d/%d\tentropy %.4f\n", r->exit_layer, c->num_hidden_layers, r->entropy);
    }
}

/* Classify stdin lines B at a time, one output line per input line in
 * order; returns 0, or 1 when a line (or a batch) failed. */
static int run_batched(const eb_model *m, const eb_run_params *p, int B, int json) {
    eb_cli_batch cb;
    if (eb_cli_batch_open(CMD, &cb, m, p, B)) {
        eb_cli_batch_close(&cb);
        return 1;
    }
    char **lines = calloc((size_t)B, sizeof *lines), **msgs = calloc((size_t)B, sizeof *msgs);
    size_t *caps = calloc((size_t)B, sizeof *caps);
    int *slot = calloc((size_t)B, sizeof *slot);
    int rc = 0, n = 0, eof = 0;
    long no = 0;
    if (!lines || !msgs || !caps || !slot) {
        fprintf(stderr, "edgebert classify: out of memory\n");
        rc = 1, eof = 1;
    }
    while (!eof) {
        ssize_t len = getline(&lines[n], &caps[n], stdin);
        if (len >= 0) {
            char *line = lines[n];
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
            n++;
        } else
            eof = 1;
        if (n < B && !(eof && n > 0)) continue;
        int k = 0; /* slots taken by the lines that tokenize */
        for (int i = 0; i < n; i++) {
            char *tab = strchr(lines[i], '\t');
            if (tab) *tab++ = 0;
            eb_error err = {0};
            free(msgs[i]);
            msgs[i] = NULL;
            if (eb_cli_batch_tokenize(&cb, k, lines[i], tab, &err) == EB_OK)
                slot[i] = k++;
            else
                slot[i] = -1, msgs[i] = strdup(err.msg);
        }
        eb_error err = {0};
        if (k > 0 && eb_cli_batch_classify(&cb, k, &err) != EB_OK) {
            for (int i = 0; i < n; i++)
                if (slot[i] >= 0) slot[i] = -1, msgs[i] = strdup(err.msg);
        }
        for (int i = 0; i < n; i++) {
            print_batched(&cb, slot[i], msgs[i] ? msgs[i] : "out of memory", no + 1 + i, json);
            if (slot[i] < 0) rc = 1;
        }
        fflush(stdout);
        no += n;
        n = 0;
    }
    for (int i = 0; lines && i < B; i++) free(lines[i]), free(msgs[i]);
    free(lines), free(msgs), free(caps), free(slot);
    eb_cli_batch_close(&cb);
    return rc;
}

int eb_cmd_classify(int argc, char **argv) {
    const char *model = NULL, *texts[2] = {NULL, NULL};
    int json = 0, nt = 0, batch = 0;
    eb_run_params p = eb_run_params_default();
    eb_opt rows[EB_CLI_RUN_OPTS + 3] = {
        {"-m|--model", EB_OPT_STR, &model, 0, 0, 0, "MODEL",
         "checkpoint directory or .ebb bundle (default: $EDGEBERT_MODEL,\n"
         "else models/default.ebb next to the executable or ../share/edgebert)",
         NULL},
        {"--json", EB_OPT_FLAG, &json, 0, 0, 0, NULL, "one JSON object per sentence", NULL},
        {"--batch", EB_OPT_INT, &batch, 1, EB_CLI_MAX_BATCH, 0, "N",
         "stdin lines only: " EB_CLI_BATCH_HELP "; label, probability, exit layer and entropy",
         NULL},
    };
    eb_opt_spec spec = {.cmd = CMD,
                        .synopsis = "[options] [--] [TEXT [TEXT_B]]",
                        .intro = INTRO,
                        .outro = OUTRO,
                        .opts = rows,
                        .pos = texts,
                        .max_pos = 2,
                        .npos = &nt,
                        .too_many = "at most two texts (a sentence pair)"};
    spec.nopts = 3 + eb_cli_run_opts(rows + 3, &p, 1);
    int rc = eb_opt_parse(&spec, argc, argv);
    if (rc >= 0) return rc;
    if (batch && nt > 0) {
        fprintf(stderr, "edgebert classify: --batch classifies stdin lines, not TEXT arguments\n");
        return 2;
    }
    eb_model *m = eb_cli_load_model("classify", model);
    if (!m) return 1;
    if (batch) {
        rc = eb_cli_check_threshold(CMD, m, &p) ? run_batched(m, &p, batch, json) : 2;
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
    if (!eb_cli_check_threshold(CMD, m, &p)) {
        eb_context_free(ctx);
        eb_model_free(m);
        return 2;
    }
    rc = 0;
    if (nt > 0) {
        rc = run_one(ctx, m, texts[0], texts[1], &p, json, 0);
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        long no = 0;
        while ((len = getline(&line, &cap, stdin)) >= 0) {
            no++;
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
            char *tab = strchr(line, '\t');
            if (tab) *tab++ = 0;
            if (run_one(ctx, m, line, tab, &p, json, no)) rc = 1;
        }
        free(line);
    }
    eb_context_free(ctx);
    eb_model_free(m);
    return rc;
}
