/* cmd_sim.c - `edgebert sim`: a recorded entropy trace through a policy and
 * the accelerator model. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/hwopts.h"

static const char INTRO[] =
    "Runs every sentence of a recorded entropy trace through the policy and the accelerator\n"
    "model and prints means per sentence.  ee and lai need --threshold, lai needs --lut.\n";

static eb_status run_row(const eb_hw_model *m, const eb_policy_params *pp,
                         const eb_entropy_trace *t, const eb_layer_work *w, int i,
                         eb_sentence_report *r, eb_error *err) {
    eb_trace_source ts;
    ts.entropies = t->data + (size_t)i * t->layers;
    ts.layers = t->layers;
    ts.work = *w;
    eb_layer_source src = eb_trace_source_make(&ts);
    return eb_policy_run(m, pp, &src, r, err);
}

static int add_per_sentence(cJSON *o, const eb_hw_model *m, const eb_policy_params *pp,
                            const eb_entropy_trace *t, const eb_layer_work *w, eb_error *err) {
    cJSON *arr = cJSON_AddArrayToObject(o, "per_sentence");
    for (int i = 0; i < t->rows; i++) {
        eb_sentence_report r;
        if (run_row(m, pp, t, w, i, &r, err)) return 1;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "exit_layer", r.exit_layer);
        cJSON_AddNumberToObject(x, "predicted_layer", r.predicted_layer);
        cJSON_AddNumberToObject(x, "vdd", r.hw.vdd);
        cJSON_AddNumberToObject(x, "freq_mhz", r.hw.freq_mhz);
        cJSON_AddNumberToObject(x, "freq_req_mhz", isfinite(r.freq_req_mhz) ? r.freq_req_mhz : -1);
        cJSON_AddNumberToObject(x, "cycles", r.hw.cycles);
        cJSON_AddNumberToObject(x, "time_ms", r.hw.time_ms);
        cJSON_AddNumberToObject(x, "energy_uj", r.hw.energy_uj);
        cJSON_AddItemToObject(x, "energy_breakdown_uj", cli_breakdown_json(&r.hw.energy));
        cJSON_AddBoolToObject(x, "deadline_met", r.hw.deadline_met);
        cJSON_AddItemToArray(arr, x);
    }
    return 0;
}

static int print_per_sentence(const eb_hw_model *m, const eb_policy_params *pp,
                              const eb_entropy_trace *t, const eb_layer_work *w, eb_error *err) {
    printf("sentence exit predicted vdd freq_mhz time_ms energy_uj deadline_met\n");
    for (int i = 0; i < t->rows; i++) {
        eb_sentence_report r;
        if (run_row(m, pp, t, w, i, &r, err)) return 1;
        printf("%d %d %d %.3f %.0f %.4f %.3f %d\n", i + 1, r.exit_layer, r.predicted_layer,
               r.hw.vdd, r.hw.freq_mhz, r.hw.time_ms, r.hw.energy_uj, r.hw.deadline_met);
    }
    return 0;
}

int eb_cmd_sim(int argc, char **argv) {
    const char *path = NULL, *lut_path = NULL, *cpufreq = NULL;
    double thr = -1, T = 50;
    int json = 0, p = 1, wakeup = 1, per = 0;
    eb_policy policy = EB_POLICY_BASE;
    hw_opts ho;
    hw_opts_init(&ho);
    int nowake = 0;
    eb_opt rows[10 + HWOPTS_ROWS] = {
        {"--entropies", EB_OPT_STR, &path, 0, 0, 0, "FILE", "the recorded trace (CSV)", NULL},
        {"--policy", EB_OPT_FN, &policy, 0, 0, 0, eb_cli_policy_meta(), "the policy (default base)",
         eb_cli_policy_opt},
        {"--threshold", EB_OPT_DOUBLE, &thr, 0, EB_OPT_INF, 0, "T",
         "ee/lai: the exit threshold, >= 0", NULL},
        {"--lut", EB_OPT_STR, &lut_path, 0, 0, 0, "FILE", "the exit predictor (exit_lut.csv)",
         NULL},
        {"--predict-after", EB_OPT_INT, &p, 1, EB_MAX_LAYERS - 1, 0, "P",
         "the layer after which the predictor is read (default 1)", NULL},
        {"--latency-target", EB_OPT_DOUBLE, &T, 0, EB_OPT_INF, EB_OPT_GT, "MS",
         "per-sentence target, > 0 (default 50)", NULL},
        {"--no-wakeup", EB_OPT_FLAG, &nowake, 0, 0, 0, NULL,
         "do not charge the standby->nominal LDO ramp", NULL},
        {"--per-sentence", EB_OPT_FLAG, &per, 0, 0, 0, NULL,
         "also report every sentence (JSON: per_sentence array)", NULL},
        {"--cpufreq", EB_OPT_STR, &cpufreq, 0, 0, 0, "ROOT[:CPU]",
         "also apply each V/F decision to Linux cpufreq under ROOT\n"
         "(e.g. /sys:0; userspace governor)",
         NULL},
        {"--json", EB_OPT_FLAG, &json, 0, 0, 0, NULL, "one JSON object on stdout", NULL},
    };
    eb_opt_spec spec = {.cmd = "sim",
                        .synopsis = "--entropies FILE [options] [accelerator options] [--json]",
                        .intro = INTRO,
                        .opts = rows};
    spec.nopts = 10 + hw_opts_rows(rows + 10, &ho);
    int prc = eb_opt_parse(&spec, argc, argv);
    if (prc >= 0) return prc;
    wakeup = !nowake;
    int have_thr = thr >= 0;
    if (!have_thr) thr = 0;
    if (!path) {
        fprintf(stderr, "edgebert sim: --entropies is required\n");
        eb_opt_usage(&spec, stderr);
        return 2;
    }
    if (policy != EB_POLICY_BASE && !have_thr) {
        fprintf(stderr, "edgebert sim: --policy %s needs --threshold\n",
                eb_policy_name((eb_policy)policy));
        return 2;
    }
    if (policy == EB_POLICY_LAI && !lut_path) {
        fprintf(stderr, "edgebert sim: --policy lai needs --lut\n");
        return 2;
    }
    eb_error err = {0, ""};
    eb_hw_model m;
    if (hw_opts_model(&ho, &m, &err)) {
        fprintf(stderr, "edgebert sim: %s\n", err.msg);
        return err.status == EB_ERR_ARG ? 2 : 1;
    }
    eb_entropy_trace t;
    if (eb_entropy_trace_load(path, NULL, &t, &err)) {
        fprintf(stderr, "edgebert sim: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    eb_exit_lut lut;
    memset(&lut, 0, sizeof lut);
    eb_power_backend pb;
    memset(&pb, 0, sizeof pb);
    eb_policy_params pp = eb_policy_params_default();
    pp.policy = (eb_policy)policy;
    pp.threshold = thr;
    pp.predict_after = p;
    pp.latency_target_ms = T;
    pp.mac_size = m.p.mac_size;
    pp.count_wakeup = wakeup;
    if (lut_path) {
        if (eb_exit_lut_load(lut_path, p, NULL, &lut, &err)) {
            fprintf(stderr, "edgebert sim: %s\n", err.msg);
            rc = 1;
            goto out;
        }
        pp.lut = &lut;
    }
    if (cpufreq) {
        char root[400];
        int cpu = 0;
        snprintf(root, sizeof root, "%s", cpufreq);
        char *colon = strrchr(root, ':');
        if (colon) {
            if (!cli_int(colon + 1, &cpu) || cpu < 0) {
                fprintf(stderr, "edgebert sim: --cpufreq ROOT[:CPU], bad CPU '%s'\n", colon + 1);
                rc = 2;
                goto out;
            }
            *colon = 0;
        }
        if (eb_power_cpufreq_open(root, cpu, NULL, &pb, &err)) {
            fprintf(stderr, "edgebert sim: %s\n", err.msg);
            rc = 1;
            goto out;
        }
        pp.power = &pb;
    }
    eb_layer_work w = hw_opts_work(&ho);
    eb_sim_stats s;
    if (eb_trace_simulate(&m, &pp, &t, &w, &s, &err)) {
        fprintf(stderr, "edgebert sim: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    double sps = s.host_seconds > 0 ? s.sentences / s.host_seconds : 0;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "policy", eb_policy_name(pp.policy));
        cJSON_AddNumberToObject(o, "threshold", thr);
        cJSON_AddNumberToObject(o, "latency_target_ms", T);
        cJSON_AddNumberToObject(o, "mac_size", pp.mac_size);
        cJSON_AddNumberToObject(o, "seq_len", w.seq_len);
        cJSON_AddNumberToObject(o, "sentences", s.sentences);
        cJSON_AddNumberToObject(o, "mean_exit_layer", s.mean_exit_layer);
        cJSON_AddNumberToObject(o, "mean_predicted_layer", s.mean_predicted_layer);
        cJSON_AddNumberToObject(o, "mean_layers_run", s.mean_layers_run);
        cJSON_AddNumberToObject(o, "mean_energy_uj", s.mean_energy_uj);
        cJSON_AddNumberToObject(o, "mean_latency_ms", s.mean_latency_ms);
        cJSON_AddNumberToObject(o, "max_latency_ms", s.max_latency_ms);
        cJSON_AddNumberToObject(o, "deadline_miss_rate", s.deadline_miss_rate);
        cJSON_AddNumberToObject(o, "mean_vdd", s.mean_vdd);
        cJSON_AddNumberToObject(o, "mean_freq_mhz", s.mean_freq_mhz);
        cJSON_AddNumberToObject(o, "mean_cycles", s.mean_cycles);
        cJSON_AddNumberToObject(o, "mean_pu_cycles", s.mean_pu_cycles);
        cJSON_AddNumberToObject(o, "mean_sfu_cycles", s.mean_sfu_cycles);
        cJSON_AddNumberToObject(o, "mean_power_mw",
                                s.mean_latency_ms > 0 ? s.mean_energy_uj / s.mean_latency_ms : 0);
        cJSON_AddNumberToObject(o, "mean_standby_uj", s.mean_standby_uj);
        cJSON_AddItemToObject(o, "energy_breakdown_uj", cli_breakdown_json(&s.mean_energy));
        cJSON_AddItemToObject(o, "exit_histogram", cli_hist_json(s.exit_hist, s.layers));
        if (pp.policy == EB_POLICY_LAI)
            cJSON_AddItemToObject(o, "predicted_histogram",
                                  cli_hist_json(s.predicted_hist, s.layers));
        cJSON_AddNumberToObject(o, "area_mm2", eb_hw_area_mm2(&m, pp.mac_size));
        cJSON_AddNumberToObject(o, "sentences_per_second", sps);
        if (per && add_per_sentence(o, &m, &pp, &t, &w, &err)) {
            cJSON_Delete(o);
            fprintf(stderr, "edgebert sim: %s\n", err.msg);
            rc = 1;
            goto out;
        }
        char *js = cJSON_PrintUnformatted(o);
        printf("%s\n", js);
        cJSON_free(js);
        cJSON_Delete(o);
    } else {
        printf("policy %s, threshold %g, target %g ms, n = %d, %d tokens, %d sentences\n",
               eb_policy_name(pp.policy), thr, T, pp.mac_size, w.seq_len, s.sentences);
        printf("mean exit layer       %.4f\n", s.mean_exit_layer);
        if (pp.policy == EB_POLICY_LAI)
            printf("mean predicted layer  %.4f\n", s.mean_predicted_layer);
        printf("mean energy           %.3f uJ (PU %.1f, SFU %.1f, SRAM %.1f, emb %.2f, DVFS "
               "%.2f, leakage %.1f)\n",
               s.mean_energy_uj, s.mean_energy.pu_uj, s.mean_energy.sfu_uj, s.mean_energy.sram_uj,
               s.mean_energy.emb_mem_uj, s.mean_energy.dvfs_uj, s.mean_energy.leakage_uj);
        printf("mean latency          %.3f ms (max %.3f)\n", s.mean_latency_ms, s.max_latency_ms);
        printf("deadline miss rate    %.4f\n", s.deadline_miss_rate);
        printf("mean VDD / f          %.4f V / %.1f MHz\n", s.mean_vdd, s.mean_freq_mhz);
        printf("simulated             %.0f sentences/s\n", sps);
        if (per && print_per_sentence(&m, &pp, &t, &w, &err)) {
            fprintf(stderr, "edgebert sim: %s\n", err.msg);
            rc = 1;
            goto out;
        }
    }
out:
    if (pb.close) pb.close(pb.ud);
    eb_exit_lut_free(&lut);
    eb_entropy_trace_free(&t);
    return rc;
}
