/*
 * edgebert/runtime.h - per-sentence policies (base, early exit, latency-aware
 * inference with sentence-level DVFS, Algorithm 2 of the paper) over a layer
 * source, recorded entropy traces, the exit-predictor lookup table, and
 * power backends (the simulated accelerator or Linux cpufreq).
 */
#ifndef EDGEBERT_RUNTIME_H
#define EDGEBERT_RUNTIME_H

#include "edgebert.h"
#include "edgebert/hw.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Recorded entropy traces and predictor tables                        */
/* ------------------------------------------------------------------ */

/* One row per sentence, one entropy per layer (comma separated, spaces
 * allowed, blank lines ignored).  All rows have the same length. */
typedef struct eb_entropy_trace {
    int rows, layers;
    float *data; /* rows x layers */
    const eb_allocator *alloc;
} eb_entropy_trace;

EB_API eb_status eb_entropy_trace_load(const char *path, const eb_allocator *alloc, eb_entropy_trace *out,
                                eb_error *err);
EB_API eb_status eb_entropy_trace_parse(const char *text, size_t len, const char *name,
                                 const eb_allocator *alloc, eb_entropy_trace *out, eb_error *err);
EB_API void eb_entropy_trace_free(eb_entropy_trace *t);

/* Exit predictor table: column 0 the entropy after layer predict_after,
 * columns 1..cols-1 the predicted entropies of layers predict_after+1.. */
typedef struct eb_exit_lut {
    int rows, cols;
    int predict_after;
    double *data; /* rows x cols */
    const eb_allocator *alloc;
} eb_exit_lut;

EB_API eb_status eb_exit_lut_load(const char *path, int predict_after, const eb_allocator *alloc,
                           eb_exit_lut *out, eb_error *err);
EB_API eb_status eb_exit_lut_parse(const char *text, size_t len, const char *name, int predict_after,
                            const eb_allocator *alloc, eb_exit_lut *out, eb_error *err);
EB_API void eb_exit_lut_free(eb_exit_lut *l);
/* Predicted exit layer: nearest row to `entropy`, then predict_after + 1 +
 * the index of the first prediction below threshold; num_layers if none. */
EB_API int eb_exit_lut_predict(const eb_exit_lut *l, double entropy, double threshold, int num_layers);

/* ------------------------------------------------------------------ */
/* Layer sources and the policy engine                                 */
/* ------------------------------------------------------------------ */

/* Runs encoder layer `layer` (1-based, called in order) and its off-ramp:
 * reports the off-ramp entropy and what the layer really computed. */
typedef struct eb_layer_source {
    int num_layers;
    int seq_len;
    void *ud;
    eb_status (*run_layer)(void *ud, int layer, float *entropy, eb_layer_work *work, eb_error *err);
} eb_layer_source;

/* Where V/F decisions go besides the model (may be NULL in eb_policy_params). */
typedef struct eb_power_backend {
    const char *name;
    void *ud;
    eb_status (*set)(void *ud, double vdd, double freq_mhz, eb_error *err);
    void (*close)(void *ud);
} eb_power_backend;

typedef struct eb_policy_params {
    eb_policy policy;
    double threshold;         /* exit when entropy < threshold */
    int predict_after;        /* LAI: p (default 1) */
    double latency_target_ms; /* T */
    int mac_size;             /* PU size n */
    const eb_exit_lut *lut;   /* required for LAI */
    int count_wakeup;         /* charge the standby -> nominal ramp to the sentence (default 1) */
    eb_power_backend *power;  /* optional: receives every V/F change */
} eb_policy_params;

EB_API eb_policy_params eb_policy_params_default(void);
/* The policy part of an eb_run_params (policy, threshold, predict_after,
 * latency target, MAC size; non-positive fields keep the defaults). */
EB_API eb_policy_params eb_policy_params_from_run(const eb_run_params *rp, const eb_exit_lut *lut);
/* The policies as one table: every place that names, parses, lists or
 * branches on a policy reads its row (the CLI's --policy, the JSON
 * "policy", sweep, the fault study, the engine and the batched engine, the
 * calibrated thresholds in config.json and bundles).  Adding a policy is an
 * enum value in edgebert.h and a row in src/runtime/policy.c with the function
 * it plugs in after each layer (eb_policy_layer_fn). */
#define EB_POLICY_NEEDS_THRESHOLD 1u /* an entropy threshold: runs the off-ramps and exits early */
#define EB_POLICY_NEEDS_LUT 2u       /* the exit predictor table (exit_lut.csv) */
#define EB_POLICY_NEEDS_LATENCY 4u   /* a per-sentence latency target */
#define EB_POLICY_NEEDS_DVFS 8u      /* the accelerator model chooses V/F per sentence */

struct eb_policy_state;
struct eb_sentence_report;
/* What a policy does after layer `layer` of a sentence has run and been charged to the
 * accelerator model (`cost`, at the V/F in st): stop the sentence
 * (eb_policy_finish), change the V/F of the layers to come (eb_policy_set_vf), or
 * lower st->limit, the last layer it may run.  NULL: none of these (every layer). */
typedef eb_status (*eb_policy_layer_fn)(const eb_hw_model *hw, const eb_policy_params *pp,
                                        struct eb_policy_state *st, int layer, float entropy,
                                        const eb_hw_cost *cost, struct eb_sentence_report *out,
                                        eb_error *err);

typedef struct eb_policy_info {
    eb_policy id;
    const char *name;          /* as --policy, the JSON "policy" and bench rows spell it */
    unsigned needs;            /* EB_POLICY_NEEDS_* */
    const char *summary;       /* one line for usage text */
    const char *config_key;    /* config.json key of its calibrated threshold, NULL: none */
    const char *info_key;      /* the same threshold in `edgebert info` and calibrate --json */
    eb_policy threshold_from;  /* without its own threshold: this policy's (itself: none) */
    eb_policy_layer_fn after_layer; /* what it decides after each layer */
} eb_policy_info;

/* Row i is policy i (i in 0..EB_NUM_POLICIES-1). */
EB_API const eb_policy_info *eb_policy_table(int *n);
EB_API const eb_policy_info *eb_policy_info_of(eb_policy p); /* NULL if not a policy */
EB_API const char *eb_policy_name(eb_policy p);              /* "?" if not a policy */
EB_API int eb_policy_parse(const char *s);                   /* -1 if unknown */
/* The names joined by `sep` (and `last` before the last one, when not NULL):
 * "base|ee|lai", "base, ee or lai".  Returns buf (cut to cap). */
EB_API const char *eb_policy_names(char *buf, size_t cap, const char *sep, const char *last);

typedef struct eb_sentence_report {
    int exit_layer;      /* layer whose classifier answered */
    int predicted_layer; /* LAI: predicted exit layer (1 when layer 1 exits); 0 otherwise */
    int layers_run;
    float entropies[EB_MAX_LAYERS];
    double freq_req_mhz; /* LAI: N_cycles / (T - T_elapsed) */
    double n_cycles;     /* LAI: cycles planned after the prediction */
    double t_elapsed_ms; /* LAI: time at the prediction */
    double pu_cycles, sfu_cycles;
    double standby_uj; /* leakage at vdd_standby for the rest of the target window */
    eb_hw_report hw;   /* vdd/freq after the DVFS decision, totals, breakdown */
} eb_sentence_report;

/* Run one sentence under a policy: eb_policy_begin, then each layer of the
 * source and eb_policy_step until the sentence stops. */
EB_API eb_status eb_policy_run(const eb_hw_model *hw, const eb_policy_params *pp,
                        const eb_layer_source *src, eb_sentence_report *out, eb_error *err);

/* The same one layer at a time, for an engine that runs several sentences
 * side by side (the batched engine keeps one state and report per sentence).
 * eb_policy_begin checks the parameters, charges the wake-up and the
 * embedding at the top V/F and zeroes *out; eb_policy_step takes layer l's
 * off-ramp entropy and work (l = 1, 2, ... in order; the entropy is 0 where
 * no off-ramp ran), charges the layer at the current V/F, applies the exit
 * rules (entropy below the threshold; lai: the V/F choice after layer p and
 * the predicted layer; the last layer) and sets st->done once the sentence
 * stops, its report then complete.  st->limit is the last layer the sentence
 * will run if no entropy stops it first (lai: the predicted layer once
 * known): its answer is the classifier of that layer. */
typedef struct eb_policy_state {
    int num_layers, seq_len;
    int limit;
    int done;
    double vdd, freq_mhz; /* the V/F the next layer runs at */
} eb_policy_state;

EB_API eb_status eb_policy_begin(const eb_hw_model *hw, const eb_policy_params *pp, int num_layers,
                                 int seq_len, eb_policy_state *st, eb_sentence_report *out,
                                 eb_error *err);
EB_API eb_status eb_policy_step(const eb_hw_model *hw, const eb_policy_params *pp,
                                eb_policy_state *st, float entropy, const eb_layer_work *work,
                                eb_sentence_report *out, eb_error *err);
/* For a policy's after_layer: end the sentence at exit_layer (0: the last layer run) */
EB_API void eb_policy_finish(const eb_hw_model *hw, const eb_policy_params *pp, eb_policy_state *st,
                             int exit_layer, eb_sentence_report *out);
/* ... and move the layers to come to voltage v and frequency f (charging the switch) */
EB_API eb_status eb_policy_set_vf(const eb_hw_model *hw, const eb_policy_params *pp,
                                  eb_policy_state *st, double v, double f,
                                  eb_sentence_report *out, eb_error *err);

/* A layer source replaying one trace row with fixed work per layer. */
typedef struct eb_trace_source {
    const float *entropies;
    int layers;
    eb_layer_work work;
} eb_trace_source;
EB_API eb_layer_source eb_trace_source_make(eb_trace_source *ts);

/* ------------------------------------------------------------------ */
/* Trace replay and simulation statistics                             */
/* ------------------------------------------------------------------ */

typedef struct eb_sim_stats {
    int sentences;
    int layers;
    double mean_exit_layer, mean_predicted_layer, mean_layers_run;
    double mean_energy_uj, mean_latency_ms, deadline_miss_rate;
    double mean_vdd, mean_freq_mhz, mean_cycles, mean_standby_uj;
    double mean_pu_cycles, mean_sfu_cycles;
    double max_latency_ms;
    eb_energy_breakdown mean_energy;
    int exit_hist[EB_MAX_LAYERS + 1]; /* index = layer */
    int predicted_hist[EB_MAX_LAYERS + 1];
    double host_seconds;
} eb_sim_stats;

/* Conventional early exit on a trace (no hardware): mean exit layer and histogram. */
EB_API eb_status eb_trace_replay(const eb_entropy_trace *t, double threshold, eb_sim_stats *out,
                          eb_error *err);
/* Every row through eb_policy_run with `work` for each layer. */
EB_API eb_status eb_trace_simulate(const eb_hw_model *hw, const eb_policy_params *pp,
                            const eb_entropy_trace *t, const eb_layer_work *work, eb_sim_stats *out,
                            eb_error *err);

/* ------------------------------------------------------------------ */
/* Power backends                                                      */
/* ------------------------------------------------------------------ */

/* The simulated accelerator: remembers the last setting and counts changes. */
typedef struct eb_power_sim_state {
    double vdd, freq_mhz;
    long changes;
} eb_power_sim_state;
EB_API eb_power_backend eb_power_sim_make(eb_power_sim_state *st);

/* Linux cpufreq through sysfs: <root>/devices/system/cpu/cpu<cpu>/cpufreq/.
 * Requires (or sets, when writable) the userspace governor, then writes
 * scaling_setspeed in kHz: the lowest available frequency >= the request
 * (clamped to scaling_min/max).  The voltage is left to the platform.
 * root is usually "/sys". */
EB_API eb_status eb_power_cpufreq_open(const char *root, int cpu, const eb_allocator *alloc,
                                eb_power_backend *out, eb_error *err);

/* ------------------------------------------------------------------ */
/* Threshold calibration (Table 3)                                     */
/* ------------------------------------------------------------------ */

typedef struct eb_calib_point {
    double drop_pct;             /* allowed accuracy drop, %-points */
    int found;                   /* 0: no threshold >= 0 keeps the drop */
    double threshold;            /* the largest such threshold (0.001 grid) */
    double accuracy;             /* accuracy at that threshold */
    double mean_exit_layer;
    double mean_predicted_layer; /* LAI only */
} eb_calib_point;

/* The exit predictor table of a model's task (NULL: none, or unknown task). */
EB_API const eb_exit_lut *eb_model_task_lut(const eb_model *m, const char *task);

/* Accuracy, mean exit layer and mean predicted layer (lut != NULL) of a
 * threshold, with the exit rules of eb_policy_run (ee when lut is NULL). */
EB_API void eb_calib_evaluate(const float *entropies, const int *labels, const int *gold, int n, int L,
                       double threshold, const eb_exit_lut *lut, double *accuracy,
                       double *mean_exit_layer, double *mean_predicted_layer);

/* entropies and labels: n x L (entropy and argmax label after each layer of
 * every sentence, all layers run); gold[i] in the model's label space (< 0:
 * unlabelled).  Finds, for each allowed drop, the largest threshold for
 * conventional early exit (ee, may be NULL) and for LAI with `lut` (lai, may
 * be NULL; skipped when lut is NULL).  *base_accuracy: all layers. */
EB_API eb_status eb_calibrate(const float *entropies, const int *labels, const int *gold, int n, int L,
                       const eb_exit_lut *lut, const double *drops_pct, int n_drops,
                       eb_calib_point *ee, eb_calib_point *lai, double *base_accuracy,
                       eb_error *err);

#ifdef __cplusplus
}
#endif

#endif
