/* cmd_eval.c - edgebert eval: accuracy (and GLUE's other metrics), exit
 * layers, energy and deadline misses over a GLUE TSV file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "edgebert/data.h"

#define CMD "eval"

static const char OUTRO[] =
    "The --json object: task, n, accuracy (F1, Matthews or correlations where GLUE reports\n"
    "them), mean_exit_layer, exit_histogram, mean_energy_uj, mean_latency_ms,\n"
    "deadline_miss_rate, sentences_per_s (with --batch the energy, latency and deadline\n"
    "fields are null).\n"
    "imdb: sentence<TAB>label reviews, cut as the model task's edgebert_truncate_head says.\n";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void json_num(const char *key, double v, int comma) {
    if (isnan(v)) printf("\"%s\": null", key);
    else printf("\"%s\": %.6g", key, v);
    if (comma) printf(", ");
}

int eb_cmd_eval(int argc, char **argv) {
    eb_cli_scoring ev = {.p = eb_run_params_default()};
    eb_opt rows[EB_CLI_SCORING_OPTS + 1];
    eb_opt_spec spec = {.cmd = CMD,
                        .synopsis = "--data FILE.tsv --task NAME [options]",
                        .intro = EB_CLI_SCORING_HELP,
                        .outro = OUTRO,
                        .opts = rows};
    spec.nopts = eb_cli_scoring_opts(rows, &ev);
    rows[spec.nopts++] = (eb_opt){"--batch", EB_OPT_INT, &ev.batch, 1, EB_CLI_MAX_BATCH, 0, "N",
                                  EB_CLI_BATCH_HELP, NULL};
    int rc = eb_opt_parse(&spec, argc, argv);
    if (rc < 0) rc = eb_cli_scoring_check(CMD, &ev);
    if (rc >= 0) return rc;
    rc = eb_cli_scoring_open("eval", &ev);
    if (rc) {
        eb_cli_scoring_close(&ev);
        return rc;
    }
    const eb_task_info *ti = ev.ti;
    const eb_config *cfg = ev.cfg;
    const int *inv = ev.inv;
    const int n = ev.n;
    eb_error err = {0};
    int *pred = NULL, *exits = NULL;
    const int B = ev.batch;
    eb_cli_batch cb;
    memset(&cb, 0, sizeof cb);
    float *score = NULL;
    double *energy = NULL;
    rc = 1;
    pred = calloc((size_t)n + 1, sizeof *pred);
    exits = calloc((size_t)n + 1, sizeof *exits);
    score = calloc((size_t)n + 1, sizeof *score);
    energy = calloc((size_t)n + 1, sizeof *energy);
    if (!pred || !exits || !score || !energy) {
        fprintf(stderr, "edgebert eval: out of memory\n");
        goto done;
    }
    int truncated = 0, missed = 0;
    double t0 = now_s(), e_sum = 0, lat_sum = 0;
    eb_cli_meter meter;
    eb_cli_meter_start(&meter, "eval");
    if (B > 0 && eb_cli_batch_open("eval", &cb, ev.m, &ev.p, B)) goto done;
    for (int i0 = 0; B > 0 && i0 < n; i0 += B) {
        const int k = n - i0 < B ? n - i0 : B;
        for (int j = 0; j < k; j++) {
            const eb_example *ex = &ev.ds->rows[i0 + j];
            if (eb_cli_batch_tokenize(&cb, j, ex->text_a, ex->text_b, &err) != EB_OK) {
                fprintf(stderr, "edgebert eval: %s:%ld: %s\n", ev.data, ex->line, err.msg);
                goto done;
            }
        }
        if (eb_cli_batch_classify(&cb, k, &err) != EB_OK) {
            fprintf(stderr, "edgebert eval: %s: sentences from line %ld: %s\n", ev.data,
                    ev.ds->rows[i0].line, err.msg);
            goto done;
        }
        for (int j = 0; j < k; j++) {
            const eb_batch_result *r = &cb.out[j];
            truncated += cb.enc[j].truncated;
            pred[i0 + j] = inv[r->label] >= 0 ? inv[r->label] : 0;
            score[i0 + j] = r->logits[0];
            exits[i0 + j] = r->exit_layer;
        }
        eb_cli_meter_report(&meter, i0 + k, n);
    }
    for (int i = 0; B == 0 && i < n; i++) {
        eb_result r;
        const eb_example *ex = &ev.ds->rows[i];
        if (eb_classify(ev.ctx, ex->text_a, ex->text_b, &ev.p, &r, &err) != EB_OK) {
            fprintf(stderr, "edgebert eval: %s:%ld: %s\n", ev.data, ex->line, err.msg);
            goto done;
        }
        truncated += r.truncated;
        pred[i] = inv[r.label] >= 0 ? inv[r.label] : 0;
        score[i] = r.logits[0];
        exits[i] = r.exit_layer;
        energy[i] = r.hw.energy_uj;
        e_sum += r.hw.energy_uj;
        lat_sum += r.hw.time_ms;
        missed += !r.hw.deadline_met;
        eb_cli_meter_report(&meter, i + 1, n);
    }
    double secs = now_s() - t0;
    eb_dataset saved = *ev.ds;
    saved.n = n;
    eb_glue_scores sc;
    if (eb_glue_score(&saved, ti->num_labels == 1 ? NULL : pred, ti->num_labels == 1 ? score : NULL, &sc, &err) !=
        EB_OK) {
        fprintf(stderr, "edgebert eval: %s\n", err.msg);
        goto done;
    }
    long hist[EB_MAX_LAYERS] = {0};
    double mean_exit;
    eb_exit_histogram(exits, n, cfg->num_hidden_layers, hist, &mean_exit, NULL);
    if (truncated) fprintf(stderr, "edgebert eval: warning: %d inputs were truncated\n", truncated);
    if (ev.json) {
        printf("{\"task\": \"%s\", \"n\": %d, ", ti->name, n);
        json_num("accuracy", sc.accuracy, 1);
        json_num("f1", sc.f1, 1);
        json_num("matthews", sc.matthews, 1);
        json_num("pearson", sc.pearson, 1);
        json_num("spearman", sc.spearman, 1);
        json_num("mean_exit_layer", mean_exit, 1);
        printf("\"exit_histogram\": [");
        for (int l = 0; l < cfg->num_hidden_layers; l++) printf("%s%ld", l ? ", " : "", hist[l]);
        printf("], ");
        json_num("mean_energy_uj", B ? NAN : e_sum / n, 1);
        json_num("mean_latency_ms", B ? NAN : lat_sum / n, 1);
        json_num("deadline_miss_rate", B ? NAN : (double)missed / n, 1);
        json_num("sentences_per_s", n / secs, 0);
        printf("}\n");
    } else {
        printf("task %s, %d examples\n", ti->display, n);
        if (!isnan(sc.accuracy)) printf("accuracy          %.4f\n", sc.accuracy);
        if (!isnan(sc.f1)) printf("F1                %.4f\n", sc.f1);
        if (!isnan(sc.matthews)) printf("Matthews corr.    %.4f\n", sc.matthews);
        if (!isnan(sc.pearson)) printf("Pearson           %.4f\nSpearman          %.4f\n", sc.pearson, sc.spearman);
        printf("mean exit layer   %.3f of %d\n", mean_exit, cfg->num_hidden_layers);
        printf("exit histogram   ");
        for (int l = 0; l < cfg->num_hidden_layers; l++) printf(" %d:%ld", l + 1, hist[l]);
        if (B) {
            printf("\nbatches of        %d sentences (no accelerator model)\n", B);
        } else {
            printf("\nenergy/sentence   %.3f uJ (accelerator model)\n", e_sum / n);
            printf("deadline misses   %.2f %%\n", 100.0 * missed / n);
        }
        printf("throughput        %.1f sentences/s (this CPU)\n", n / secs);
    }
    rc = 0;
done:
    eb_cli_batch_close(&cb);
    free(pred), free(exits), free(score), free(energy);
    eb_cli_scoring_close(&ev);
    return rc;
}
