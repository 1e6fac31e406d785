/* policy.c - per-sentence policies over a layer source: base (all layers),
 * ee (conventional entropy early exit) and lai (the paper's Algorithm 2:
 * after layer p read the predictor table, run the rest at
 * Freq_opt = N_cycles / (T - T_elapsed) and the lowest voltage reaching it,
 * keep checking entropy, stop at the predicted layer in any case). */
#include <math.h>
#include <string.h>
#include <time.h>

#include "edgebert/runtime.h"
#include "util/util.h"

eb_policy_params eb_policy_params_default(void) {
    eb_policy_params p;
    memset(&p, 0, sizeof p);
    p.policy = EB_POLICY_BASE;
    p.threshold = 0;
    p.predict_after = 1;
    p.latency_target_ms = 50;
    p.mac_size = 16;
    p.lut = NULL;
    p.count_wakeup = 1;
    p.power = NULL;
    return p;
}

eb_policy_params eb_policy_params_from_run(const eb_run_params *rp, const eb_exit_lut *lut) {
    eb_policy_params p = eb_policy_params_default();
    p.policy = rp->policy;
    p.threshold = rp->threshold;
    if (rp->predict_after > 0) p.predict_after = rp->predict_after;
    if (rp->latency_target_ms > 0) p.latency_target_ms = rp->latency_target_ms;
    if (rp->mac_size > 0) p.mac_size = rp->mac_size;
    p.lut = lut;
    return p;
}

static eb_status exit_on_entropy(const eb_hw_model *hw, const eb_policy_params *pp,
                                eb_policy_state *st, int layer, float e, const eb_hw_cost *c,
                                eb_sentence_report *out, eb_error *err);
static eb_status latency_aware(const eb_hw_model *hw, const eb_policy_params *pp,
                              eb_policy_state *st, int layer, float e, const eb_hw_cost *c,
                              eb_sentence_report *out, eb_error *err);

static const eb_policy_info POLICIES[EB_NUM_POLICIES] = {
    {EB_POLICY_BASE, "base", 0, "every layer", NULL, NULL, EB_POLICY_BASE, NULL},
    {EB_POLICY_EE, "ee", EB_POLICY_NEEDS_THRESHOLD, "entropy early exit", "edgebert_threshold",
     "threshold", EB_POLICY_EE, exit_on_entropy},
    {EB_POLICY_LAI, "lai",
     EB_POLICY_NEEDS_THRESHOLD | EB_POLICY_NEEDS_LUT | EB_POLICY_NEEDS_LATENCY |
         EB_POLICY_NEEDS_DVFS,
     "latency-aware with DVFS (needs the model's exit_lut.csv)", "edgebert_lai_threshold",
     "lai_threshold", EB_POLICY_EE, latency_aware},
};

const eb_policy_info *eb_policy_table(int *n) {
    if (n) *n = EB_NUM_POLICIES;
    return POLICIES;
}

const eb_policy_info *eb_policy_info_of(eb_policy p) {
    return (unsigned)p < EB_NUM_POLICIES ? &POLICIES[p] : NULL;
}

const char *eb_policy_name(eb_policy p) {
    const eb_policy_info *i = eb_policy_info_of(p);
    return i ? i->name : "?";
}

int eb_policy_parse(const char *s) {
    for (int i = 0; s && i < EB_NUM_POLICIES; i++)
        if (!strcmp(s, POLICIES[i].name)) return (int)POLICIES[i].id;
    return -1;
}

static const char *row_name(int i) {
    return POLICIES[i].name;
}

const char *eb_policy_names(char *buf, size_t cap, const char *sep, const char *last) {
    return eb_join_names(buf, cap, EB_NUM_POLICIES, row_name, sep, last);
}

static eb_status set_power(const eb_policy_params *pp, double v, double f, eb_error *err) {
    if (!pp->power || !pp->power->set) return EB_OK;
    eb_status st = pp->power->set(pp->power->ud, v, f, err);
    if (st) return eb_fail_prefix(err, "power backend %s", pp->power->name ? pp->power->name : "?");
    return EB_OK;
}

static double cost_cycles(const eb_hw_cost *c) {
    return c->pu_cycles + c->sfu_cycles;
}

/* The checks of a run: layers, length, MAC size, policy, target, table. */
static eb_status check_run(const eb_policy_params *pp, int L, int seq_len, eb_error *err) {
    int n = pp->mac_size, p = pp->predict_after;
    if (L < 1 || L > EB_MAX_LAYERS)
        return eb_fail(err, EB_ERR_ARG, "policy: %d layers (must be 1..%d)", L, EB_MAX_LAYERS);
    if (seq_len < 1 || seq_len > EB_MAX_TOKENS)
        return eb_fail(err, EB_ERR_ARG, "policy: sequence length %d (must be 1..%d)", seq_len,
                       EB_MAX_TOKENS);
    if (n < 4 || n > 64) return eb_fail(err, EB_ERR_ARG, "policy: MAC size %d (must be 4..64)", n);
    const eb_policy_info *pi = eb_policy_info_of(pp->policy);
    if (!pi) return eb_fail(err, EB_ERR_ARG, "policy: unknown policy %d", (int)pp->policy);
    if (!(pp->latency_target_ms > 0))
        return eb_fail(err, EB_ERR_ARG, "policy: latency target must be > 0 ms");
    if (pi->needs & EB_POLICY_NEEDS_LUT) {
        if (!pp->lut) return eb_fail(err, EB_ERR_ARG, "policy %s: no predictor table given", pi->name);
        if (p < 1 || p >= L)
            return eb_fail(err, EB_ERR_ARG, "policy %s: predict_after %d must be in 1..%d",
                           pi->name, p, L - 1);
        if (pp->lut->predict_after != p)
            return eb_fail(err, EB_ERR_ARG,
                           "policy %s: the predictor table predicts after layer %d, not %d",
                           pi->name, pp->lut->predict_after, p);
    }
    return EB_OK;
}

eb_status eb_policy_begin(const eb_hw_model *hw, const eb_policy_params *pp, int num_layers,
                          int seq_len, eb_policy_state *st, eb_sentence_report *out,
                          eb_error *err) {
    memset(out, 0, sizeof *out);
    memset(st, 0, sizeof *st);
    eb_status s = check_run(pp, num_layers, seq_len, err);
    if (s) return s;
    const eb_hw_params *hp = &hw->p;
    const int n = pp->mac_size;
    double dummy;
    st->num_layers = num_layers;
    st->seq_len = seq_len;
    st->limit = num_layers;
    st->vdd = hp->vdd_nom;
    eb_hw_choose_vf(hw, INFINITY, &dummy, &st->freq_mhz); /* top frequency */
    s = set_power(pp, st->vdd, st->freq_mhz, err);
    if (s) return s;
    eb_hw_report *r = &out->hw;
    if (pp->count_wakeup)
        eb_hw_charge_stall(hw, n, eb_hw_ldo_ns(hw, hp->vdd_standby, st->vdd), st->vdd,
                           st->freq_mhz, r);
    eb_layer_work w = eb_layer_work_dense(seq_len);
    eb_hw_cost c;
    eb_hw_embed_cost(hw, n, &w, &c);
    eb_hw_charge(hw, n, &c, st->vdd, st->freq_mhz, r);
    out->pu_cycles += c.pu_cycles;
    out->sfu_cycles += c.sfu_cycles;
    return EB_OK;
}

/* The end of a sentence: base's final classifier, exit layer, V/F, deadline,
 * standby energy. */
void eb_policy_finish(const eb_hw_model *hw, const eb_policy_params *pp, eb_policy_state *st,
                      int exit_layer, eb_sentence_report *out) {
    const eb_hw_params *hp = &hw->p;
    const int n = pp->mac_size;
    eb_hw_report *r = &out->hw;
    if (!(eb_policy_info_of(pp->policy)->needs & EB_POLICY_NEEDS_THRESHOLD)) {
        eb_hw_cost c;
        eb_hw_classifier_cost(hw, n, &c);
        eb_hw_charge(hw, n, &c, st->vdd, st->freq_mhz, r);
        out->pu_cycles += c.pu_cycles;
        out->sfu_cycles += c.sfu_cycles;
    }
    if (!exit_layer) exit_layer = out->layers_run;
    out->exit_layer = exit_layer;
    if ((eb_policy_info_of(pp->policy)->needs & EB_POLICY_NEEDS_LUT) && out->predicted_layer == 0)
        out->predicted_layer = exit_layer; /* exited at or before layer p */
    r->vdd = st->vdd;
    r->freq_mhz = st->freq_mhz;
    const double T = pp->latency_target_ms;
    r->deadline_met = r->time_ms <= T * (1 + 1e-12);
    double idle = T - r->time_ms;
    if (idle > 0) out->standby_uj = eb_hw_leak_mw(hw, n, hp->vdd_standby) * idle;
    st->done = 1;
}

eb_status eb_policy_step(const eb_hw_model *hw, const eb_policy_params *pp, eb_policy_state *st,
                         float e, const eb_layer_work *w, eb_sentence_report *out, eb_error *err) {
    const int l = out->layers_run + 1, n = pp->mac_size;
    if (st->done || l > st->limit)
        return eb_fail(err, EB_ERR_ARG, "policy: layer %d after the sentence stopped", l);
    if (!isfinite(e)) return eb_fail(err, EB_ERR_NUMERIC, "layer %d: entropy is not finite", l);
    if (w->seq_len < 1 || w->seq_len > EB_MAX_TOKENS)
        return eb_fail(err, EB_ERR_ARG, "layer %d: work has sequence length %d", l, w->seq_len);
    eb_hw_report *r = &out->hw;
    out->entropies[l - 1] = e;
    out->layers_run = l;
    const eb_policy_info *pi = eb_policy_info_of(pp->policy);
    const int offramps = (pi->needs & EB_POLICY_NEEDS_THRESHOLD) != 0;
    eb_hw_cost c;
    eb_hw_layer_cost(hw, n, w, offramps, &c);
    eb_hw_charge(hw, n, &c, st->vdd, st->freq_mhz, r);
    out->pu_cycles += c.pu_cycles;
    out->sfu_cycles += c.sfu_cycles;
    if (pi->after_layer) { /* the policy's own decision */
        eb_status s = pi->after_layer(hw, pp, st, l, e, &c, out, err);
        if (s || st->done) return s;
    }
    if (l >= st->limit) eb_policy_finish(hw, pp, st, 0, out);
    return EB_OK;
}

eb_status eb_policy_set_vf(const eb_hw_model *hw, const eb_policy_params *pp, eb_policy_state *st,
                           double nv, double nf, eb_sentence_report *out, eb_error *err) {
    const double v = st->vdd, f = st->freq_mhz;
    double stall = eb_hw_transition_ns(hw, v, nv, f, nf);
    if (stall > 0)
        eb_hw_charge_stall(hw, pp->mac_size, stall, EB_MAX(v, nv), EB_MAX(f, nf), &out->hw);
    st->vdd = nv;
    st->freq_mhz = nf;
    return set_power(pp, nv, nf, err);
}

/* ee: stop at the first layer whose off-ramp entropy is below the threshold */
static eb_status exit_on_entropy(const eb_hw_model *hw, const eb_policy_params *pp,
                                eb_policy_state *st, int layer, float e, const eb_hw_cost *c,
                                eb_sentence_report *out, eb_error *err) {
    (void)c, (void)err;
    if ((double)e < pp->threshold) eb_policy_finish(hw, pp, st, layer, out);
    return EB_OK;
}

/* lai (Algorithm 2): ee's exit; after layer p, the predicted exit layer from the table
 * becomes the limit and the rest runs at Freq_opt = N_cycles / (T - T_elapsed) with the
 * lowest voltage reaching it */
static eb_status latency_aware(const eb_hw_model *hw, const eb_policy_params *pp,
                              eb_policy_state *st, int layer, float e, const eb_hw_cost *c,
                              eb_sentence_report *out, eb_error *err) {
    eb_status s = exit_on_entropy(hw, pp, st, layer, e, c, out, err);
    const int p = pp->predict_after, L = st->num_layers;
    if (s || st->done || layer != p) return s;
    const eb_hw_params *hp = &hw->p;
    int pred = eb_exit_lut_predict(pp->lut, e, pp->threshold, L);
    if (pred <= p) pred = p + 1;
    if (pred > L) pred = L;
    out->predicted_layer = pred;
    st->limit = pred;
    /* the worst-case switching stall is taken out of the budget */
    double n_cycles = (pred - p) * cost_cycles(c);
    double t_el = out->hw.time_ms;
    double stall_ms = eb_hw_transition_ns(hw, hp->vdd_nom, hp->vdd_min, 1, 2) * 1e-6;
    double budget = pp->latency_target_ms - t_el - stall_ms;
    double freq_req = budget > 0 ? n_cycles / (budget * 1e3) : INFINITY;
    double nv, nf;
    eb_hw_choose_vf(hw, freq_req, &nv, &nf);
    out->n_cycles = n_cycles;
    out->t_elapsed_ms = t_el;
    out->freq_req_mhz = freq_req;
    return eb_policy_set_vf(hw, pp, st, nv, nf, out, err);
}

eb_status eb_policy_run(const eb_hw_model *hw, const eb_policy_params *pp,
                        const eb_layer_source *src, eb_sentence_report *out, eb_error *err) {
    if (!src->run_layer) {
        memset(out, 0, sizeof *out);
        return eb_fail(err, EB_ERR_ARG, "policy: layer source has no run_layer");
    }
    eb_policy_state st;
    eb_status s = eb_policy_begin(hw, pp, src->num_layers, src->seq_len, &st, out, err);
    for (int l = 1; s == EB_OK && !st.done; l++) {
        float e = 0;
        eb_layer_work w = eb_layer_work_dense(src->seq_len);
        s = src->run_layer(src->ud, l, &e, &w, err);
        if (s) return eb_fail_prefix(err, "layer %d", l);
        s = eb_policy_step(hw, pp, &st, e, &w, out, err);
    }
    return s;
}

/* ------------------------------------------------------------------ */
/* Trace source and statistics                                         */
/* ------------------------------------------------------------------ */

static eb_status trace_run_layer(void *ud, int layer, float *entropy, eb_layer_work *work,
                                 eb_error *err) {
    eb_trace_source *ts = ud;
    if (layer < 1 || layer > ts->layers)
        return eb_fail(err, EB_ERR_ARG, "trace source: layer %d outside 1..%d", layer, ts->layers);
    *entropy = ts->entropies[layer - 1];
    *work = ts->work;
    return EB_OK;
}

eb_layer_source eb_trace_source_make(eb_trace_source *ts) {
    eb_layer_source s;
    s.num_layers = ts->layers;
    s.seq_len = ts->work.seq_len;
    s.ud = ts;
    s.run_layer = trace_run_layer;
    return s;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

eb_status eb_trace_replay(const eb_entropy_trace *t, double threshold, eb_sim_stats *out,
                          eb_error *err) {
    memset(out, 0, sizeof *out);
    if (!t || t->rows < 1 || t->layers < 1 || t->layers > EB_MAX_LAYERS)
        return eb_fail(err, EB_ERR_ARG, "trace replay: empty trace");
    double sum = 0;
    for (int i = 0; i < t->rows; i++) {
        const float *row = t->data + (size_t)i * t->layers;
        int ex = t->layers;
        for (int l = 0; l < t->layers; l++)
            if ((double)row[l] < threshold) {
                ex = l + 1;
                break;
            }
        out->exit_hist[ex]++;
        sum += ex;
    }
    out->sentences = t->rows;
    out->layers = t->layers;
    out->mean_exit_layer = sum / t->rows;
    out->mean_layers_run = out->mean_exit_layer;
    return EB_OK;
}

eb_status eb_trace_simulate(const eb_hw_model *hw, const eb_policy_params *pp,
                            const eb_entropy_trace *t, const eb_layer_work *work, eb_sim_stats *out,
                            eb_error *err) {
    memset(out, 0, sizeof *out);
    if (!t || t->rows < 1 || t->layers < 1 || t->layers > EB_MAX_LAYERS)
        return eb_fail(err, EB_ERR_ARG, "trace simulation: empty trace");
    double t0 = now_s();
    double s_exit = 0, s_pred = 0, s_run = 0, s_e = 0, s_t = 0, s_v = 0, s_f = 0, s_c = 0, s_sb = 0;
    double s_pu = 0, s_sfu = 0;
    int miss = 0;
    eb_energy_breakdown eb = {0, 0, 0, 0, 0, 0};
    eb_trace_source ts;
    ts.layers = t->layers;
    ts.work = *work;
    for (int i = 0; i < t->rows; i++) {
        ts.entropies = t->data + (size_t)i * t->layers;
        eb_layer_source src = eb_trace_source_make(&ts);
        eb_sentence_report rep;
        eb_status st = eb_policy_run(hw, pp, &src, &rep, err);
        if (st) return eb_fail_prefix(err, "trace row %d", i + 1);
        s_exit += rep.exit_layer;
        s_pred += rep.predicted_layer;
        s_run += rep.layers_run;
        s_e += rep.hw.energy_uj;
        s_t += rep.hw.time_ms;
        s_v += rep.hw.vdd;
        s_f += rep.hw.freq_mhz;
        s_c += rep.hw.cycles;
        s_sb += rep.standby_uj;
        s_pu += rep.pu_cycles;
        s_sfu += rep.sfu_cycles;
        if (rep.hw.time_ms > out->max_latency_ms) out->max_latency_ms = rep.hw.time_ms;
        miss += !rep.hw.deadline_met;
        eb.pu_uj += rep.hw.energy.pu_uj;
        eb.sfu_uj += rep.hw.energy.sfu_uj;
        eb.sram_uj += rep.hw.energy.sram_uj;
        eb.emb_mem_uj += rep.hw.energy.emb_mem_uj;
        eb.dvfs_uj += rep.hw.energy.dvfs_uj;
        eb.leakage_uj += rep.hw.energy.leakage_uj;
        out->exit_hist[rep.exit_layer]++;
        out->predicted_hist[rep.predicted_layer]++;
    }
    double N = t->rows;
    out->sentences = t->rows;
    out->layers = t->layers;
    out->mean_exit_layer = s_exit / N;
    out->mean_predicted_layer = s_pred / N;
    out->mean_layers_run = s_run / N;
    out->mean_energy_uj = s_e / N;
    out->mean_latency_ms = s_t / N;
    out->deadline_miss_rate = miss / N;
    out->mean_vdd = s_v / N;
    out->mean_freq_mhz = s_f / N;
    out->mean_cycles = s_c / N;
    out->mean_standby_uj = s_sb / N;
    out->mean_pu_cycles = s_pu / N;
    out->mean_sfu_cycles = s_sfu / N;
    out->mean_energy.pu_uj = eb.pu_uj / N;
    out->mean_energy.sfu_uj = eb.sfu_uj / N;
    out->mean_energy.sram_uj = eb.sram_uj / N;
    out->mean_energy.emb_mem_uj = eb.emb_mem_uj / N;
    out->mean_energy.dvfs_uj = eb.dvfs_uj / N;
    out->mean_energy.leakage_uj = eb.leakage_uj / N;
    out->host_seconds = now_s() - t0;
    return EB_OK;
}
