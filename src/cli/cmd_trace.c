/* cmd_trace.c - `edgebert trace`: replay recorded per-layer entropies. */
#include <stdio.h>
#include <string.h>

#include "cli/hwopts.h"
#include "cli/opts.h"
#include "edgebert.h"

static const char INTRO[] =
    "Conventional early exit on a recorded entropy trace (one row per sentence, one\n"
    "comma-separated entropy per layer): exit after the first layer whose entropy is\n"
    "strictly below T.  With --lut, also the latency-aware policy's predicted exit layer\n"
    "(predictor read after layer P) and its exits.\n";

int eb_cmd_trace(int argc, char **argv) {
    const char *path = NULL, *lut_path = NULL;
    double thr = -1;
    int json = 0, p = 1;
    eb_opt rows[] = {
        {"--entropies", EB_OPT_STR, &path, 0, 0, 0, "FILE", "the recorded trace (CSV)", NULL},
        {"--threshold", EB_OPT_DOUBLE, &thr, 0, EB_OPT_INF, 0, "T", "the exit threshold, >= 0",
         NULL},
        {"--lut", EB_OPT_STR, &lut_path, 0, 0, 0, "FILE", "the exit predictor (exit_lut.csv)",
         NULL},
        {"--predict-after", EB_OPT_INT, &p, 1, EB_MAX_LAYERS - 1, 0, "P",
         "the layer after which the predictor is read (default 1)", NULL},
        {"--json", EB_OPT_FLAG, &json, 0, 0, 0, NULL, "one JSON object on stdout", NULL},
    };
    eb_opt_spec spec = {.cmd = "trace",
                        .synopsis =
                            "--entropies FILE --threshold T [--lut FILE [--predict-after P]] "
                            "[--json]",
                        .intro = INTRO,
                        .opts = rows,
                        .nopts = EB_OPT_COUNT(rows)};
    int prc = eb_opt_parse(&spec, argc, argv);
    if (prc >= 0) return prc;
    int have_thr = thr >= 0;
    if (!path || !have_thr) {
        fprintf(stderr, "edgebert trace: --entropies and --threshold are required\n");
        eb_opt_usage(&spec, stderr);
        return 2;
    }
    eb_error err = {0, ""};
    eb_entropy_trace t;
    if (eb_entropy_trace_load(path, NULL, &t, &err)) {
        fprintf(stderr, "edgebert trace: %s\n", err.msg);
        return 1;
    }
    eb_sim_stats s, lai;
    int rc = 0;
    eb_exit_lut lut;
    memset(&lut, 0, sizeof lut);
    if (eb_trace_replay(&t, thr, &s, &err)) {
        fprintf(stderr, "edgebert trace: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    if (lut_path) {
        if (p >= t.layers) {
            fprintf(stderr, "edgebert trace: --predict-after %d must be below %d layers\n", p,
                    t.layers);
            rc = 2;
            goto out;
        }
        eb_hw_model m;
        eb_hw_params hp;
        eb_hw_params_default(&hp);
        eb_policy_params pp = eb_policy_params_default();
        eb_layer_work w = eb_layer_work_dense(128);
        if (eb_exit_lut_load(lut_path, p, NULL, &lut, &err) ||
            eb_hw_model_init(&m, &hp, NULL, &err)) {
            fprintf(stderr, "edgebert trace: %s\n", err.msg);
            rc = 1;
            goto out;
        }
        pp.policy = EB_POLICY_LAI;
        pp.threshold = thr;
        pp.predict_after = p;
        pp.lut = &lut;
        pp.latency_target_ms = 1e9;
        if (eb_trace_simulate(&m, &pp, &t, &w, &lai, &err)) {
            fprintf(stderr, "edgebert trace: %s\n", err.msg);
            rc = 1;
            goto out;
        }
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "entropies", path);
        cJSON_AddNumberToObject(o, "sentences", s.sentences);
        cJSON_AddNumberToObject(o, "layers", s.layers);
        cJSON_AddNumberToObject(o, "threshold", thr);
        cJSON_AddNumberToObject(o, "mean_exit_layer", s.mean_exit_layer);
        cJSON_AddItemToObject(o, "exit_histogram", cli_hist_json(s.exit_hist, s.layers));
        if (lut_path) {
            cJSON_AddNumberToObject(o, "predict_after", p);
            cJSON_AddNumberToObject(o, "mean_predicted_layer", lai.mean_predicted_layer);
            cJSON_AddNumberToObject(o, "lai_mean_exit_layer", lai.mean_exit_layer);
            cJSON_AddItemToObject(o, "predicted_histogram",
                                  cli_hist_json(lai.predicted_hist, s.layers));
        }
        char *js = cJSON_PrintUnformatted(o);
        printf("%s\n", js);
        cJSON_free(js);
        cJSON_Delete(o);
    } else {
        printf("%d sentences, %d layers, threshold %g\n", s.sentences, s.layers, thr);
        printf("mean exit layer (early exit): %.4f\n", s.mean_exit_layer);
        if (lut_path) {
            printf("mean predicted exit layer (predictor after layer %d): %.4f\n", p,
                   lai.mean_predicted_layer);
            printf("mean exit layer (latency-aware): %.4f\n", lai.mean_exit_layer);
        }
        printf("exit histogram:");
        for (int l = 1; l <= s.layers; l++)
            printf(" %d:%d", l, s.exit_hist[l]);
        printf("\n");
    }
out:
    eb_exit_lut_free(&lut);
    eb_entropy_trace_free(&t);
    return rc;
}
