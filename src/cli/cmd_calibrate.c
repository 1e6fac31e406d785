/* cmd_calibrate.c - edgebert calibrate: the largest entropy thresholds whose
 * accuracy drop stays within 1, 2 and 5 %-points, for ee and lai (Table 3). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "edgebert/data.h"
#include "edgebert/runtime.h"
#include "hw/svg.h"
#include "model/config.h"
#include "util/util.h"

static const char INTRO[] =
    "Runs every sentence through all layers once, then finds for each allowed accuracy drop\n"
    "(%-points) the largest threshold for conventional early exit (ee) and, when the model\n"
    "has an exit predictor table, for latency-aware inference (lai).\n";

/* The exit-layer curve: every threshold on a 0.01 grid into PREFIX.csv, every fifth into the
 * two panels of PREFIX.svg. */
static int write_curve(const char *prefix, const float *ent, const int *lab, const int *gold, int n,
                       int L, const eb_exit_lut *lut, double base) {
    float hi = 0;
    for (size_t i = 0; i < (size_t)n * L; i++)
        hi = ent[i] > hi ? ent[i] : hi;
    const int nt = (int)ceil(hi * 100.0) + 1; /* the last threshold lets every sentence exit at 1 */
    char path[4096];
    snprintf(path, sizeof path, "%s.csv", prefix);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "edgebert calibrate: cannot write %s\n", path);
        return 1;
    }
    fprintf(f, "threshold,ee_accuracy,ee_mean_exit_layer%s\n",
            lut ? ",lai_accuracy,lai_mean_exit_layer,lai_mean_predicted_layer" : "");
    const int ncat = (nt + 4) / 5;
    double *vals = calloc((size_t)ncat * 4, sizeof *vals);
    char(*names)[16] = calloc((size_t)ncat, sizeof *names);
    const char **cats = calloc((size_t)ncat, sizeof *cats);
    if (!vals || !names || !cats) {
        fclose(f);
        free(vals), free(names), free(cats);
        fprintf(stderr, "edgebert calibrate: out of memory\n");
        return 1;
    }
    for (int k = 0; k < nt; k++) {
        const double t = k / 100.0;
        double acc, me, mp, lacc = NAN, lme = NAN, lmp = NAN;
        eb_calib_evaluate(ent, lab, gold, n, L, t, NULL, &acc, &me, &mp);
        fprintf(f, "%.2f,%.6f,%.4f", t, acc, me);
        if (lut) {
            eb_calib_evaluate(ent, lab, gold, n, L, t, lut, &lacc, &lme, &lmp);
            fprintf(f, ",%.6f,%.4f,%.4f", lacc, lme, lmp);
        }
        fputc('\n', f);
        if (k % 5 == 0) {
            const int c = k / 5;
            snprintf(names[c], sizeof names[c], "%.2f", t);
            cats[c] = names[c];
            vals[c] = acc * 100, vals[ncat + c] = lacc * 100;
            vals[2 * ncat + c] = me, vals[3 * ncat + c] = lme;
        }
    }
    int rc = fclose(f) == 0 ? 0 : 1;
    if (rc) fprintf(stderr, "edgebert calibrate: cannot write %s\n", path);
    const char *ser[] = {"early exit (ee)", "latency-aware (lai)"};
    char t1[96];
    snprintf(t1, sizeof t1, "dev accuracy (%%); all %d layers: %.2f %%", L, base * 100);
    eb_svg_panel pn[2] = {
        {.title = t1,
         .ylabel = "%",
         .ncat = ncat,
         .cats = cats,
         .nser = lut ? 2 : 1,
         .series = ser,
         .values = vals},
        {.title = "mean exit layer",
         .ylabel = "layer",
         .ncat = ncat,
         .cats = cats,
         .nser = lut ? 2 : 1,
         .series = ser,
         .values = vals + 2 * ncat,
         .ymin_fixed = 0,
         .ymax_fixed = L},
    };
    double lo = 100;
    for (int c = 0; c < ncat; c++)
        for (int s = 0; s < (lut ? 2 : 1); s++)
            lo = fmin(lo, vals[s * ncat + c]);
    pn[0].ymin_fixed = floor(lo / 5) * 5, pn[0].ymax_fixed = 100;
    eb_error err = {0};
    snprintf(path, sizeof path, "%s.svg", prefix);
    if (!rc &&
        eb_svg_write(path, "exit-layer curve: entropy threshold against accuracy and exit layer",
                     pn, 2, &err) != EB_OK) {
        fprintf(stderr, "edgebert calibrate: %s\n", err.msg);
        rc = 1;
    }
    if (!rc) fprintf(stderr, "edgebert calibrate: wrote %s.csv and %s.svg\n", prefix, prefix);
    free(vals), free(names), free(cats);
    return rc;
}

static int save_thresholds(const char *dir, double ee, double lai) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    eb_config cfg;
    eb_model_extras x;
    eb_error err = {0};
    if (eb_config_load(path, &cfg, &x, &err) != EB_OK) {
        fprintf(stderr, "edgebert calibrate: %s\n", err.msg);
        return 1;
    }
    if (ee >= 0) x.threshold[EB_POLICY_EE] = (float)ee;
    if (lai >= 0) x.threshold[EB_POLICY_LAI] = (float)lai;
    char *js = eb_config_to_json(&cfg, &x);
    eb_status s = js ? eb_write_file_atomic(path, js, strlen(js), &err) : EB_ERR_NOMEM;
    free(js);
    if (s != EB_OK) {
        fprintf(stderr, "edgebert calibrate: %s\n", js ? err.msg : "out of memory");
        return 1;
    }
    fprintf(stderr, "edgebert calibrate: saved thresholds to %s\n", path);
    return 0;
}

int eb_cmd_calibrate(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *task = NULL, *mtask = NULL, *drops_s = "1,2,5";
    const char *curve = NULL;
    int json = 0, limit = 0, save = 0;
    const char *layout = NULL;
    eb_opt rows[] = {
        {"-m|--model", EB_OPT_STR, &model, 0, 0, 0, "MODEL",
         "checkpoint directory or .ebb bundle (default as for classify)", NULL},
        {"--data", EB_OPT_STR, &data, 0, 0, 0, "DEV.tsv", "a labeled GLUE dev file", NULL},
        {"--task", EB_OPT_STR, &task, 0, 0, 0, "NAME",
         "the bundle task (and the data layout: sst2|qnli|qqp|mnli|\n"
         "cola|mrpc|rte)",
         NULL},
        {"--layout", EB_OPT_STR, &layout, 0, 0, 0, "GLUE_TASK",
         "the data's layout when the bundle task is named otherwise", NULL},
        {"--model-task", EB_OPT_STR, &mtask, 0, 0, EB_OPT_HIDDEN, "NAME", NULL, NULL},
        {"--drops", EB_OPT_STR, &drops_s, 0, 0, 0, "LIST",
         "allowed accuracy drops in %-points, 0..100 (default 1,2,5)", NULL},
        {"--limit", EB_OPT_INT, &limit, 1, EB_OPT_INF, 0, "N", "only the first N examples (N >= 1)",
         NULL},
        {"--save", EB_OPT_FLAG, &save, 0, 0, 0, NULL,
         "write the thresholds of the first drop into the checkpoint's\n"
         "config.json (edgebert_threshold, edgebert_lai_threshold)",
         NULL},
        {"--curve", EB_OPT_STR, &curve, 0, 0, 0, "PREFIX",
         "write the exit-layer curve: PREFIX.csv (accuracy and mean exit\n"
         "layer for every threshold 0.00, 0.01, ... up to the largest entropy;\n"
         "ee, and lai with a predictor table) and PREFIX.svg",
         NULL},
        {"--json", EB_OPT_FLAG, &json, 0, 0, 0, NULL, "one JSON object on stdout", NULL},
    };
    eb_opt_spec spec = {.cmd = "calibrate",
                        .synopsis = "--data DEV.tsv --task NAME [options]",
                        .intro = INTRO,
                        .outro = EB_CLI_SCORING_HELP,
                        .opts = rows,
                        .nopts = EB_OPT_COUNT(rows)};
    int prc = eb_opt_parse(&spec, argc, argv);
    if (prc >= 0) return prc;
    if (!data || !task) {
        fprintf(stderr, "edgebert calibrate: --data and --task are required\n");
        eb_opt_usage(&spec, stderr);
        return 2;
    }
    if (layout) { /* --task then names the bundle task only */
        if (!mtask) mtask = task;
        task = layout;
    }
    double drops[8];
    int nd = 0;
    for (const char *p = drops_s; *p && nd < 8;) {
        char *end;
        double d = strtod(p, &end);
        if (end == p || d < 0 || d > 100 || (*end && *end != ',') || (*end == ',' && nd == 7)) {
            fprintf(stderr,
                    "edgebert calibrate: --drops wants up to 8 numbers in 0..100 like 1,2,5, "
                    "got '%s'\n",
                    drops_s);
            return 2;
        }
        drops[nd++] = d;
        p = *end == ',' ? end + 1 : end;
    }
    eb_error err = {0};
    const eb_task_info *ti;
    if (eb_task_lookup(task, &ti, &err) != EB_OK) {
        fprintf(stderr, "edgebert calibrate: %s\n", err.msg);
        return 2;
    }
    if (ti->num_labels < 2) {
        fprintf(stderr,
                "edgebert calibrate: %s is a regression task; entropy thresholds need classes\n",
                ti->name);
        return 2;
    }
    eb_model *m = eb_cli_load_model("calibrate", model);
    if (!m) return 1;
    int rc = 1;
    eb_dataset *ds = NULL;
    eb_context *ctx = NULL;
    float *ent = NULL;
    int *lab = NULL, *gold = NULL;
    if (!mtask && eb_model_task_config(m, ti->name)) mtask = ti->name;
    const eb_config *cfg = eb_model_task_config(m, mtask);
    if (!cfg) {
        fprintf(stderr, "edgebert calibrate: the model has no task '%s'\n", mtask);
        goto done;
    }
    if (eb_dataset_load(data, task, NULL, &ds, &err) != EB_OK ||
        eb_context_new(m, &ctx, &err) != EB_OK) {
        fprintf(stderr, "edgebert calibrate: %s\n", err.msg);
        goto done;
    }
    int map[EB_MAX_LABELS];
    if (eb_task_label_map(ti, (const char(*)[EB_LABEL_NAME_MAX])cfg->id2label, cfg->num_labels, map,
                          &err) != EB_OK) {
        fprintf(stderr, "edgebert calibrate: %s\n", err.msg);
        goto done;
    }
    int n = limit > 0 && limit < ds->n ? limit : ds->n, L = cfg->num_hidden_layers;
    ent = calloc((size_t)n * L, sizeof *ent);
    lab = calloc((size_t)n * L, sizeof *lab);
    gold = calloc((size_t)n, sizeof *gold);
    if (!ent || !lab || !gold) {
        fprintf(stderr, "edgebert calibrate: out of memory\n");
        goto done;
    }
    eb_run_params p = eb_run_params_default();
    p.policy = EB_POLICY_BASE;
    p.task = mtask;
    eb_cli_meter meter;
    eb_cli_meter_start(&meter, "calibrate");
    for (int i = 0; i < n; i++) {
        eb_result r;
        if (eb_classify(ctx, ds->rows[i].text_a, ds->rows[i].text_b, &p, &r, &err) != EB_OK) {
            fprintf(stderr, "edgebert calibrate: %s:%ld: %s\n", data, ds->rows[i].line, err.msg);
            goto done;
        }
        for (int l = 0; l < L; l++) {
            ent[(size_t)i * L + l] = r.entropies[l];
            lab[(size_t)i * L + l] = r.layer_labels[l];
        }
        gold[i] = ds->rows[i].label >= 0 ? map[ds->rows[i].label] : -1;
        eb_cli_meter_report(&meter, i + 1, n);
    }
    if (eb_model_num_offramps(m) == 0)
        fprintf(stderr, "edgebert calibrate: warning: the model has no off-ramps; every layer uses "
                        "the final head\n");
    const eb_exit_lut *lut = eb_model_task_lut(m, mtask);
    eb_calib_point ee[8], lai[8];
    double base;
    if (eb_calibrate(ent, lab, gold, n, L, lut, drops, nd, ee, lai, &base, &err) != EB_OK) {
        fprintf(stderr, "edgebert calibrate: %s\n", err.msg);
        goto done;
    }
    if (json) {
        printf("{\"task\": \"%s\", \"n\": %d, \"base_accuracy\": %.6g, \"rows\": [", ti->name, n,
               base);
        for (int d = 0; d < nd; d++) {
            printf("%s{\"drop_pct\": %g, \"ee_threshold\": %.3f, \"ee_accuracy\": %.6g, "
                   "\"ee_mean_exit_layer\": %.4f",
                   d ? ", " : "", drops[d], ee[d].threshold, ee[d].accuracy, ee[d].mean_exit_layer);
            if (lut)
                printf(", \"lai_threshold\": %.3f, \"lai_accuracy\": %.6g, "
                       "\"lai_mean_predicted_layer\": %.4f, "
                       "\"lai_mean_exit_layer\": %.4f",
                       lai[d].threshold, lai[d].accuracy, lai[d].mean_predicted_layer,
                       lai[d].mean_exit_layer);
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("task %s, %d sentences, accuracy with all %d layers %.4f\n\n", ti->display, n, L,
               base);
        printf("| accuracy drop | EE threshold | EE mean exit layer |%s\n",
               lut ? " LAI threshold | LAI mean predicted exit layer | LAI mean exit layer |" : "");
        printf("|---|---|---|%s\n", lut ? "---|---|---|" : "");
        for (int d = 0; d < nd; d++) {
            printf("| %g %%-pt | %.3f | %.2f |", drops[d], ee[d].threshold, ee[d].mean_exit_layer);
            if (lut)
                printf(" %.3f | %.2f | %.2f |", lai[d].threshold, lai[d].mean_predicted_layer,
                       lai[d].mean_exit_layer);
            printf("\n");
        }
    }
    rc = curve ? write_curve(curve, ent, lab, gold, n, L, lut, base) : 0;
    if (save && rc == 0) {
        struct stat st;
        char buf[4096];
        const char *path = eb_cli_model_path(model, buf, sizeof buf);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            rc = save_thresholds(path, ee[0].threshold, lut ? lai[0].threshold : -1);
        else {
            fprintf(stderr, "edgebert calibrate: --save writes a checkpoint directory's "
                            "config.json; repack the bundle "
                            "from calibrated directories\n");
            rc = 1;
        }
    }
done:
    free(ent), free(lab), free(gold);
    eb_context_free(ctx);
    eb_dataset_free(ds);
    eb_model_free(m);
    return rc;
}
