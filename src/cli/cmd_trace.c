/* cmd_trace.c - `edgebert trace`: replay recorded per-layer entropies. */
#include <stdio.h>
#include <string.h>

#include "cli/hwopts.h"

static void usage(FILE *f) {
    fprintf(f, "usage: edgebert trace --entropies FILE --threshold T [--lut FILE "
               "[--predict-after P]] [--json]\n"
               "  Conventional early exit on a recorded entropy trace (one row per sentence,\n"
               "  one comma-separated entropy per layer): exit after the first layer whose\n"
               "  entropy is strictly below T.  With --lut, also the latency-aware policy's\n"
               "  predicted exit layer (predictor read after layer P, default 1) and its exits.\n");
}

int eb_cmd_trace(int argc, char **argv) {
    const char *path = NULL, *lut_path = NULL;
    double thr = -1;
    int json = 0, p = 1, have_thr = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if ((!strcmp(a, "--entropies") || !strcmp(a, "--lut") || !strcmp(a, "--threshold") ||
                    !strcmp(a, "--predict-after")) &&
                   i + 1 >= argc) {
            fprintf(stderr, "edgebert trace: %s needs a value\n", a);
            return 2;
        } else if (!strcmp(a, "--entropies")) {
            path = argv[++i];
        } else if (!strcmp(a, "--lut")) {
            lut_path = argv[++i];
        } else if (!strcmp(a, "--threshold")) {
            if (!cli_double(argv[++i], &thr) || thr < 0) {
                fprintf(stderr, "edgebert trace: --threshold must be a number >= 0, got '%s'\n",
                        argv[i]);
                return 2;
            }
            have_thr = 1;
        } else if (!strcmp(a, "--predict-after")) {
            if (!cli_int(argv[++i], &p) || p < 1) {
                fprintf(stderr, "edgebert trace: --predict-after must be an integer >= 1\n");
                return 2;
            }
        } else {
            fprintf(stderr, "edgebert trace: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!path || !have_thr) {
        fprintf(stderr, "edgebert trace: --entropies and --threshold are required\n");
        usage(stderr);
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
