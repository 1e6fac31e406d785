/* cmd_sweep.c - `edgebert sweep`: the paper's hardware figures from a
 * recorded entropy trace: Fig. 8 (latency/energy vs n), Fig. 9 (V, f,
 * energy per policy and latency target), Fig. 11 (power-on embedding
 * reads) and the energy breakdown at n = 16, as CSV, JSON and SVG. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/hwopts.h"
#include "hw/svg.h"
#include "util/util.h"

static const char INTRO[] =
    "Writes DIR/sweep.json, fig8.csv, fig9.csv, fig11.csv, breakdown.csv and fig8.svg,\n"
    "fig9.svg, fig11.svg, breakdown.svg.\n";

typedef struct ctx {
    eb_hw_model m;
    const eb_entropy_trace *t;
    const eb_exit_lut *lut;
    int p;
    eb_layer_work dense, span, sparse;
} ctx;

static eb_status run(ctx *c, eb_policy pol, double thr, double T, int n, const eb_layer_work *w,
                     eb_sim_stats *s, eb_error *err) {
    eb_policy_params pp = eb_policy_params_default();
    pp.policy = pol;
    pp.threshold = thr;
    pp.latency_target_ms = T;
    pp.mac_size = n;
    pp.predict_after = c->p;
    pp.lut = c->lut;
    return eb_trace_simulate(&c->m, &pp, c->t, w, s, err);
}

static eb_status write_text(const char *dir, const char *name, const char *text, eb_error *err) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return eb_write_file_atomic(path, text, strlen(text), err);
}

static eb_status write_svg(const char *dir, const char *name, const char *title,
                           const eb_svg_panel *p, int np, eb_error *err) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return eb_svg_write(path, title, p, np, err);
}

/* append to a fixed text buffer */
typedef struct tbuf {
    char s[65536];
    size_t n;
} tbuf;
static void tb(tbuf *b, const char *fmt, ...) EB_PRINTF(2, 3);
static void tb(tbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (b->n < sizeof b->s) {
        int k = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
        if (k > 0) b->n += (size_t)k;
        if (b->n > sizeof b->s) b->n = sizeof b->s;
    }
    va_end(ap);
}

#define NN 5
#define NT 3
#define NP 4

int eb_cmd_sweep(int argc, char **argv) {
    const char *path = NULL, *lut_path = NULL, *dir = NULL;
    double ee_thr = 0.23, lai_thr = 0.09, sparse_d = 0.5, sparse_a = 1;
    int p = 1, span_heads = 5;
    hw_opts ho;
    hw_opts_init(&ho);
    eb_opt rows[9 + HWOPTS_ROWS] = {
        {"--entropies", EB_OPT_STR, &path, 0, 0, 0, "FILE", "the recorded trace (CSV)", NULL},
        {"--lut", EB_OPT_STR, &lut_path, 0, 0, 0, "FILE", "the exit predictor (exit_lut.csv)",
         NULL},
        {"--out", EB_OPT_STR, &dir, 0, 0, 0, "DIR", "where the figures go", NULL},
        {"--ee-threshold", EB_OPT_DOUBLE, &ee_thr, 0, EB_OPT_INF, 0, "T",
         "conventional early-exit threshold, >= 0 (default 0.23)", NULL},
        {"--lai-threshold", EB_OPT_DOUBLE, &lai_thr, 0, EB_OPT_INF, 0, "T",
         "latency-aware threshold, >= 0 (default 0.09)\n"
         "(SST-2 1%-pt pair; 2%: 0.28/0.16, 5%: 0.46/0.28)",
         NULL},
        {"--predict-after", EB_OPT_INT, &p, 1, EB_MAX_LAYERS - 1, 0, "P",
         "predictor layer (default 1)", NULL},
        {"--span-heads", EB_OPT_INT, &span_heads, 0, 4096, 0, "N",
         "active heads for +span / AAS (default 5: SST-2, 7 off)", NULL},
        {"--sparse-density", EB_OPT_DOUBLE, &sparse_d, 0, 1, 0, "D",
         "encoder weight density for +sparse, in [0, 1] (default 0.5)", NULL},
        {"--sparse-act-density", EB_OPT_DOUBLE, &sparse_a, 0, 1, 0, "D",
         "activation density for +sparse, in [0, 1] (default 1)", NULL},
    };
    eb_opt_spec spec = {.cmd = "sweep",
                        .synopsis = "--entropies FILE --lut FILE --out DIR [options]",
                        .intro = INTRO,
                        .opts = rows};
    spec.nopts = 9 + hw_opts_rows(rows + 9, &ho);
    int prc = eb_opt_parse(&spec, argc, argv);
    if (prc >= 0) return prc;
    if (!path || !lut_path || !dir) {
        fprintf(stderr, "edgebert sweep: --entropies, --lut and --out are required\n");
        eb_opt_usage(&spec, stderr);
        return 2;
    }
    eb_error err = {0, ""};
    ctx c;
    memset(&c, 0, sizeof c);
    if (hw_opts_model(&ho, &c.m, &err)) {
        fprintf(stderr, "edgebert sweep: %s\n", err.msg);
        return err.status == EB_ERR_ARG ? 2 : 1;
    }
    if (mkdir(dir, 0777) && errno != EEXIST) {
        fprintf(stderr, "edgebert sweep: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    eb_entropy_trace t;
    eb_exit_lut lut;
    tbuf *csv = NULL;
    memset(&lut, 0, sizeof lut);
    if (eb_entropy_trace_load(path, NULL, &t, &err)) {
        fprintf(stderr, "edgebert sweep: %s\n", err.msg);
        return 1;
    }
    int rc = 1;
    if (eb_exit_lut_load(lut_path, p, NULL, &lut, &err)) goto fail;
    c.t = &t;
    c.lut = &lut;
    c.p = p;
    c.dense = hw_opts_work(&ho);
    c.span = c.dense;
    c.span.active_heads = span_heads;
    c.sparse = c.span;
    c.sparse.weight_density = sparse_d;
    c.sparse.act_density = sparse_a;
    /* the embedding sparsity is a model parameter (emb_density, default 0.4) */

    /* ---- Fig. 8: latency and energy per sentence vs n at 0.8 V / top f (base policy) */
    static const int NS[NN] = {4, 8, 16, 32, 64};
    static const char *NCAT[NN] = {"n=4", "n=8", "n=16", "n=32", "n=64"};
    static const char *F8SER[3] = {"Base", "+AAS (span)", "+AAS+Sparse"};
    double lat8[3 * NN], en8[3 * NN];
    const eb_layer_work *w8[3] = {&c.dense, &c.span, &c.sparse};
    eb_sim_stats s;
    csv = eb_calloc(NULL, 1, sizeof *csv);
    if (!csv) {
        eb_fail(&err, EB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    tb(csv, "variant,mac_size,mean_latency_ms,mean_energy_uj,area_mm2,avg_power_mw\n");
    for (int v = 0; v < 3; v++)
        for (int k = 0; k < NN; k++) {
            if (run(&c, EB_POLICY_BASE, 0, 1e9, NS[k], w8[v], &s, &err)) goto fail;
            lat8[v * NN + k] = s.mean_latency_ms;
            en8[v * NN + k] = s.mean_energy_uj;
            tb(csv, "%s,%d,%.6g,%.6g,%.4g,%.6g\n", F8SER[v], NS[k], s.mean_latency_ms,
               s.mean_energy_uj, eb_hw_area_mm2(&c.m, NS[k]), s.mean_energy_uj / s.mean_latency_ms);
        }
    if (write_text(dir, "fig8.csv", csv->s, &err)) goto fail;
    eb_svg_panel f8[2] = {{"Latency per sentence (12 layers, 0.8 V, top f)", "ms (log)", NN, NCAT,
                           3, F8SER, lat8, 1, 0, 0, 0},
                          {"Energy per sentence", "uJ", NN, NCAT, 3, F8SER, en8, 0, 0, 0, 0}};
    if (write_svg(dir, "fig8.svg", "Fig. 8: PU MAC size sweep (SST-2 trace, 128 tokens)", f8, 2,
                  &err))
        goto fail;

    /* ---- Fig. 9: V, f, energy for Base, EE, LAI, LAI+AAS+Sparse at T = 50/75/100 */
    static const double TS[NT] = {50, 75, 100};
    static const char *TCAT[NT] = {"T=50 ms", "T=75 ms", "T=100 ms"};
    static const char *F9SER[NP] = {"Base", "EE", "LAI", "LAI+AAS+Sparse"};
    /* the paper's series: each policy of the table (in its order), then lai on sparse work */
    _Static_assert(NP == EB_NUM_POLICIES + 1, "one Fig. 9 series per policy and LAI+AAS+Sparse");
    double thr_of[EB_NUM_POLICIES] = {0};
    thr_of[EB_POLICY_EE] = ee_thr;
    thr_of[EB_POLICY_LAI] = lai_thr;
    double v9[NP * NT], f9[NP * NT], e9[NP * NT], miss9[NP * NT], exit9[NP * NT], pred9[NP * NT];
    csv->n = 0;
    tb(csv, "policy,latency_target_ms,threshold,mean_vdd,mean_freq_mhz,mean_energy_uj,"
            "mean_latency_ms,deadline_miss_rate,mean_exit_layer,mean_predicted_layer\n");
    for (int q = 0; q < NP; q++)
        for (int k = 0; k < NT; k++) {
            eb_policy pol = q < EB_NUM_POLICIES ? (eb_policy)q : EB_POLICY_LAI;
            double thr = thr_of[pol]; /* base reads none */
            const eb_layer_work *w = q == 3 ? &c.sparse : &c.dense;
            if (run(&c, pol, thr, TS[k], 16, w, &s, &err)) goto fail;
            int i = q * NT + k;
            v9[i] = s.mean_vdd;
            f9[i] = s.mean_freq_mhz;
            e9[i] = s.mean_energy_uj;
            miss9[i] = s.deadline_miss_rate;
            exit9[i] = s.mean_exit_layer;
            pred9[i] = s.mean_predicted_layer;
            tb(csv, "%s,%g,%g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n", F9SER[q], TS[k],
               thr, s.mean_vdd, s.mean_freq_mhz, s.mean_energy_uj, s.mean_latency_ms,
               s.deadline_miss_rate, s.mean_exit_layer, s.mean_predicted_layer);
        }
    if (write_text(dir, "fig9.csv", csv->s, &err)) goto fail;
    eb_svg_panel f9p[3] = {{"Mean supply voltage", "V", NT, TCAT, NP, F9SER, v9, 0, 0, 0.4, 0.85},
                           {"Mean clock frequency", "MHz", NT, TCAT, NP, F9SER, f9, 0, 0, 0, 0},
                           {"Mean energy per sentence", "uJ", NT, TCAT, NP, F9SER, e9, 0, 0, 0, 0}};
    if (write_svg(dir, "fig9.svg", "Fig. 9: latency-aware inference with DVFS (n = 16, SST-2)", f9p,
                  3, &err))
        goto fail;

    /* ---- Fig. 11: power-on cost of reading all embeddings */
    static const char *F11CAT[4] = {"ReRAM SLC", "ReRAM MLC2", "ReRAM MLC3", "DRAM+SRAM"};
    static const char *F11SER[1] = {"all embeddings"};
    double lat11[4], en11[4];
    csv->n = 0;
    tb(csv, "storage,time_us,energy_uj,bytes,reram_area_mm2\n");
    for (int k = 0; k < 4; k++) {
        eb_hw_poweron po;
        eb_hw_poweron_cost(&c.m, (eb_emb_storage)k, &po);
        lat11[k] = po.time_us;
        en11[k] = po.energy_uj;
        tb(csv, "%s,%.6g,%.6g,%.0f,%.4g\n", eb_emb_storage_name((eb_emb_storage)k), po.time_us,
           po.energy_uj, po.bytes, eb_hw_reram_area_mm2(&c.m, (eb_emb_storage)k));
    }
    if (write_text(dir, "fig11.csv", csv->s, &err)) goto fail;
    eb_svg_panel f11[2] = {{"Time to read all embeddings after power-on", "us (log)", 4, F11CAT, 1,
                            F11SER, lat11, 1, 0, 0, 0},
                           {"Energy to read all embeddings after power-on", "uJ (log)", 4, F11CAT,
                            1, F11SER, en11, 1, 0, 0, 0}};
    if (write_svg(dir, "fig11.svg", "Fig. 11: embeddings in ReRAM vs DRAM + SRAM", f11, 2, &err))
        goto fail;

    /* ---- energy breakdown at n = 16 */
    static const char *BCAT[4] = {"Base", "EE", "LAI T=50", "LAI+AAS+Sparse T=50"};
    static const char *BSER[6] = {"PU", "SFU", "SRAM", "ReRAM/DRAM", "LDO+ADPLL", "Leakage"};
    static const char *CSER[2] = {"PU", "SFU"};
    double bd[6 * 4], cyc[2 * 4];
    csv->n = 0;
    tb(csv, "case,pu_uj,sfu_uj,sram_uj,emb_mem_uj,dvfs_uj,leakage_uj,total_uj,pu_mcycles,"
            "sfu_mcycles\n");
    for (int k = 0; k < 4; k++) {
        eb_policy pol = k < EB_NUM_POLICIES ? (eb_policy)k : EB_POLICY_LAI;
        if (run(&c, pol, thr_of[pol], 50, 16, k == 3 ? &c.sparse : &c.dense, &s,
                &err))
            goto fail;
        const eb_energy_breakdown *e = &s.mean_energy;
        double vals[6] = {e->pu_uj,      e->sfu_uj,  e->sram_uj,
                          e->emb_mem_uj, e->dvfs_uj, e->leakage_uj};
        for (int j = 0; j < 6; j++)
            bd[j * 4 + k] = vals[j];
        cyc[k] = s.mean_pu_cycles / 1e6;
        cyc[4 + k] = s.mean_sfu_cycles / 1e6;
        tb(csv, "%s,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n", BCAT[k], vals[0], vals[1],
           vals[2], vals[3], vals[4], vals[5], s.mean_energy_uj, cyc[k], cyc[4 + k]);
    }
    if (write_text(dir, "breakdown.csv", csv->s, &err)) goto fail;
    eb_svg_panel bp[2] = {
        {"Mean energy per sentence by component (n = 16)", "uJ", 4, BCAT, 6, BSER, bd, 0, 1, 0, 0},
        {"Mean cycles per sentence, PU vs SFU (n = 16)", "Mcycles", 4, BCAT, 2, CSER, cyc, 0, 1, 0,
         0}};
    if (write_svg(dir, "breakdown.svg", "Energy and cycle breakdown at n = 16 (SST-2 trace)", bp, 2,
                  &err))
        goto fail;

    /* ---- headline numbers */
    int best[3];
    for (int v = 0; v < 3; v++) {
        best[v] = 0;
        for (int k = 1; k < NN; k++)
            if (en8[v * NN + k] < en8[v * NN + best[v]]) best[v] = k;
    }
    double lr = 1;
    for (int k = 0; k + 1 < NN; k++)
        lr *= lat8[k] / lat8[k + 1];
    lr = pow(lr, 1.0 / (NN - 1));
    double lai_base_max = 0, lai_ee_max = 0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "entropies", path);
    cJSON_AddStringToObject(o, "lut", lut_path);
    cJSON_AddNumberToObject(o, "sentences", t.rows);
    cJSON_AddNumberToObject(o, "seq_len", c.dense.seq_len);
    cJSON_AddNumberToObject(o, "ee_threshold", ee_thr);
    cJSON_AddNumberToObject(o, "lai_threshold", lai_thr);
    cJSON *j8 = cJSON_AddArrayToObject(o, "fig8");
    for (int v = 0; v < 3; v++)
        for (int k = 0; k < NN; k++) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "variant", F8SER[v]);
            cJSON_AddNumberToObject(r, "mac_size", NS[k]);
            cJSON_AddNumberToObject(r, "mean_latency_ms", lat8[v * NN + k]);
            cJSON_AddNumberToObject(r, "mean_energy_uj", en8[v * NN + k]);
            cJSON_AddItemToArray(j8, r);
        }
    cJSON *j9 = cJSON_AddArrayToObject(o, "fig9");
    cJSON *ratios = cJSON_AddArrayToObject(o, "lai_energy_ratios");
    for (int q = 0; q < NP; q++)
        for (int k = 0; k < NT; k++) {
            int i = q * NT + k;
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "policy", F9SER[q]);
            cJSON_AddNumberToObject(r, "latency_target_ms", TS[k]);
            cJSON_AddNumberToObject(r, "mean_vdd", v9[i]);
            cJSON_AddNumberToObject(r, "mean_freq_mhz", f9[i]);
            cJSON_AddNumberToObject(r, "mean_energy_uj", e9[i]);
            cJSON_AddNumberToObject(r, "deadline_miss_rate", miss9[i]);
            cJSON_AddNumberToObject(r, "mean_exit_layer", exit9[i]);
            cJSON_AddNumberToObject(r, "mean_predicted_layer", pred9[i]);
            cJSON_AddItemToArray(j9, r);
            if (q >= 2) {
                double rb = e9[0 * NT + k] / e9[i], re = e9[1 * NT + k] / e9[i];
                if (rb > lai_base_max) lai_base_max = rb;
                if (re > lai_ee_max) lai_ee_max = re;
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "policy", F9SER[q]);
                cJSON_AddNumberToObject(x, "latency_target_ms", TS[k]);
                cJSON_AddNumberToObject(x, "vs_base", rb);
                cJSON_AddNumberToObject(x, "vs_ee", re);
                cJSON_AddItemToArray(ratios, x);
            }
        }
    cJSON *j11 = cJSON_AddArrayToObject(o, "fig11");
    for (int k = 0; k < 4; k++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "storage", eb_emb_storage_name((eb_emb_storage)k));
        cJSON_AddNumberToObject(r, "time_us", lat11[k]);
        cJSON_AddNumberToObject(r, "energy_uj", en11[k]);
        cJSON_AddItemToArray(j11, r);
    }
    cJSON *jb = cJSON_AddArrayToObject(o, "breakdown_n16");
    for (int k = 0; k < 4; k++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "case", BCAT[k]);
        for (int j = 0; j < 6; j++)
            cJSON_AddNumberToObject(r, BSER[j], bd[j * 4 + k]);
        cJSON_AddNumberToObject(r, "pu_mcycles", cyc[k]);
        cJSON_AddNumberToObject(r, "sfu_mcycles", cyc[4 + k]);
        cJSON_AddItemToArray(jb, r);
    }
    cJSON *h = cJSON_AddObjectToObject(o, "headline");
    cJSON_AddNumberToObject(h, "lai_vs_base_max", lai_base_max);
    cJSON_AddNumberToObject(h, "lai_vs_ee_max", lai_ee_max);
    cJSON_AddNumberToObject(h, "best_mac_size_base", NS[best[0]]);
    cJSON_AddNumberToObject(h, "best_mac_size_span", NS[best[1]]);
    cJSON_AddNumberToObject(h, "best_mac_size_sparse", NS[best[2]]);
    cJSON_AddNumberToObject(h, "latency_ratio_per_doubling", lr);
    cJSON_AddNumberToObject(h, "span_latency_gain_n16", lat8[0 * NN + 2] / lat8[1 * NN + 2]);
    cJSON_AddNumberToObject(h, "span_energy_gain_n16", en8[0 * NN + 2] / en8[1 * NN + 2]);
    cJSON_AddNumberToObject(h, "sparse_energy_gain_n16", en8[1 * NN + 2] / en8[2 * NN + 2]);
    cJSON_AddNumberToObject(h, "poweron_energy_dram_over_mlc2", en11[3] / en11[1]);
    cJSON_AddNumberToObject(h, "poweron_time_dram_over_mlc2", lat11[3] / lat11[1]);
    char *js = cJSON_Print(o);
    eb_status wst = write_text(dir, "sweep.json", js, &err);
    cJSON_free(js);
    cJSON_Delete(o);
    if (wst) goto fail;
    printf("sweep written to %s\n", dir);
    printf("LAI vs Base: up to %.2fx less energy; LAI vs EE: up to %.2fx\n", lai_base_max,
           lai_ee_max);
    printf("most energy-efficient n: base %d, +span %d, +span+sparse %d\n", NS[best[0]],
           NS[best[1]], NS[best[2]]);
    printf("latency ratio per doubling of n: %.2fx (geometric mean 4..64)\n", lr);
    printf("+span at n=16: %.2fx latency, %.2fx energy; +sparse: %.2fx energy\n",
           lat8[2] / lat8[NN + 2], en8[2] / en8[NN + 2], en8[NN + 2] / en8[2 * NN + 2]);
    printf("power-on embeddings, DRAM+SRAM vs ReRAM MLC2: %.1fx time, %.1fx energy\n",
           lat11[3] / lat11[1], en11[3] / en11[1]);
    rc = 0;
fail:
    if (rc) fprintf(stderr, "edgebert sweep: %s\n", err.msg);
    eb_free(NULL, csv);
    eb_exit_lut_free(&lut);
    eb_entropy_trace_free(&t);
    return rc;
}
