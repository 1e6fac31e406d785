/* calibrate.c - the largest entropy thresholds whose accuracy drop stays
 * within given limits, for conventional early exit and for latency-aware
 * inference (the paper's Table 3). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "edgebert/runtime.h"
#include "util/util.h"

/* Exit layer (1-based) of one sentence at threshold t, exactly as
 * eb_policy_run decides it: the entropy check first, then after layer p the
 * prediction caps the layers still to run. */
static int exit_layer(const float *ent, int L, double t, const eb_exit_lut *lut, int *pred_out) {
    int limit = L, p = lut ? lut->predict_after : 0;
    *pred_out = 0;
    for (int l = 1; l <= limit; l++) {
        if ((double)ent[l - 1] < t) {
            if (lut && !*pred_out) *pred_out = l;
            return l;
        }
        if (lut && l == p) {
            int pred = eb_exit_lut_predict(lut, ent[l - 1], t, L);
            if (pred <= p) pred = p + 1;
            if (pred > L) pred = L;
            *pred_out = pred;
            limit = pred;
        }
    }
    if (lut && !*pred_out) *pred_out = limit;
    return limit;
}

void eb_calib_evaluate(const float *ent, const int *lab, const int *gold, int n, int L, double t,
                     const eb_exit_lut *lut, double *acc, double *mean_exit, double *mean_pred) {
    long right = 0, counted = 0;
    double se = 0, sp = 0;
    /* the engine holds its threshold as a float (eb_run_params.threshold): compare with that
     * value, or a predicted entropy equal to it (0.2 against 0.2f) decides differently */
    t = (double)(float)t;
    for (int i = 0; i < n; i++) {
        int pred = 0;
        int e = exit_layer(ent + (size_t)i * L, L, t, lut, &pred);
        se += e;
        sp += pred;
        if (gold[i] < 0) continue;
        counted++;
        right += lab[(size_t)i * L + e - 1] == gold[i];
    }
    *acc = counted ? (double)right / counted : NAN;
    *mean_exit = se / n;
    *mean_pred = sp / n;
}

eb_status eb_calibrate(const float *entropies, const int *labels, const int *gold, int n, int L,
                       const eb_exit_lut *lut, const double *drops_pct, int n_drops,
                       eb_calib_point *ee, eb_calib_point *lai, double *base_accuracy,
                       eb_error *err) {
    if (n < 1 || L < 1 || L > EB_MAX_LAYERS)
        return eb_fail(err, EB_ERR_ARG, "calibrate: %d sentences, %d layers", n, L);
    if (lut && (lut->predict_after < 1 || lut->predict_after >= L))
        return eb_fail(err, EB_ERR_ARG, "calibrate: the predictor reads layer %d of %d", lut->predict_after, L);
    double base, dummy1, dummy2;
    eb_calib_evaluate(entropies, labels, gold, n, L, -1.0, NULL, &base, &dummy1, &dummy2);
    if (isnan(base)) return eb_fail(err, EB_ERR_ARG, "calibrate: no labelled sentences");
    *base_accuracy = base;
    float hi = 0;
    for (size_t i = 0; i < (size_t)n * L; i++) hi = entropies[i] > hi ? entropies[i] : hi;
    for (int pass = 0; pass < 2; pass++) {
        eb_calib_point *out = pass ? lai : ee;
        const eb_exit_lut *use = pass ? lut : NULL;
        if (!out || (pass && !lut)) continue;
        for (int d = 0; d < n_drops; d++) {
            memset(&out[d], 0, sizeof out[d]);
            out[d].drop_pct = drops_pct[d];
        }
        /* scan thresholds on a 0.001 grid from the largest entropy down */
        for (long k = (long)floor(hi * 1000) + 2; k >= 0; k--) {
            double t = (double)k / 1000.0;
            double acc, me, mp;
            eb_calib_evaluate(entropies, labels, gold, n, L, t, use, &acc, &me, &mp);
            for (int d = 0; d < n_drops; d++) {
                if (out[d].found || (base - acc) * 100 > drops_pct[d] + 1e-9) continue;
                out[d].found = 1;
                out[d].threshold = t;
                out[d].accuracy = acc;
                out[d].mean_exit_layer = me;
                out[d].mean_predicted_layer = pass ? mp : 0;
            }
            int all = 1;
            for (int d = 0; d < n_drops; d++) all &= out[d].found;
            if (all) break;
        }
    }
    return EB_OK;
}
