/* model.c - cycles, time and energy of the EdgeBERT accelerator.
 *
 * Cycle counts follow the published hardware: an N0xM by MxN1 matmul takes
 * ceil(N0/n) ceil(M/n) ceil(N1/n) tile products of n cycles each; SFU loops
 * take the per-row counts of the facts sheet with V = ceil(len/n).  Energy is
 * activity x C x V^2 per event (MAC, PU cycle, SFU cycle, SRAM byte, ReRAM
 * cell) plus leakage x time, with the per-event energies derived from the
 * calibration point (see eb_hw_model_init and docs/hw.md). */
#include <math.h>
#include <string.h>

#include "edgebert/hw.h"
#include "util/util.h"

static double cdiv(double a, double b) {
    return ceil(a / b);
}

eb_layer_work eb_layer_work_dense(int seq_len) {
    eb_layer_work w;
    w.seq_len = seq_len;
    w.active_heads = -1;
    w.weight_density = 1;
    w.act_density = 1;
    w.attn_density = 1;
    w.weight_zero_vec = -1;
    w.act_zero_vec = -1;
    return w;
}

eb_config eb_hw_albert_base_config(void) {
    eb_config c;
    memset(&c, 0, sizeof c);
    c.vocab_size = 30000;
    c.embedding_size = 128;
    c.hidden_size = 768;
    c.num_hidden_layers = 12;
    c.num_hidden_groups = 1;
    c.inner_group_num = 1;
    c.num_attention_heads = 12;
    c.intermediate_size = 3072;
    c.max_position_embeddings = 512;
    c.type_vocab_size = 2;
    c.num_labels = 2;
    c.hidden_act = EB_ACT_GELU_NEW;
    c.layer_norm_eps = 1e-12f;
    return c;
}

void eb_hw_cost_add(eb_hw_cost *acc, const eb_hw_cost *c, double times) {
    acc->pu_cycles += c->pu_cycles * times;
    acc->sfu_cycles += c->sfu_cycles * times;
    acc->mac_energy_units += c->mac_energy_units * times;
    acc->macs += c->macs * times;
    acc->vmacs += c->vmacs * times;
    acc->vmacs_skipped += c->vmacs_skipped * times;
    acc->sram_bytes += c->sram_bytes * times;
    for (int i = 0; i < 3; i++)
        acc->emb_cells[i] += c->emb_cells[i] * times;
    acc->emb_bits_sram += c->emb_bits_sram * times;
    acc->emb_ns += c->emb_ns * times;
}

double eb_hw_matmul_cycles(int n, int n0, int m, int n1) {
    if (n0 <= 0 || m <= 0 || n1 <= 0) return 0;
    return cdiv(n0, n) * cdiv(m, n) * cdiv(n1, n) * n;
}

double eb_hw_sfu_layernorm_cycles(int n, int len) {
    return 3 * (9 * cdiv(len, n) + 2);
}
double eb_hw_sfu_softmax_cycles(int n, int len) {
    return 3 * (9 * cdiv(len, n) + 1);
}
double eb_hw_sfu_entropy_cycles(int n, int len) {
    return 4 * (4 * cdiv(len, n) + 2);
}
double eb_hw_sfu_add_cycles(int n, int len) {
    return 6 * cdiv(len, n) + 1;
}

/* Operand description for the energy side of a matmul. */
typedef struct operand {
    double density; /* non-zero fraction */
    double zvec;    /* all-zero n-vector fraction */
} operand;

static operand mk_operand(double d, double zvec, int n) {
    operand o;
    o.density = d < 0 ? 0 : d > 1 ? 1 : d;
    o.zvec = zvec >= 0 ? zvec : pow(1 - o.density, n);
    if (o.zvec > 1) o.zvec = 1;
    return o;
}

static void add_matmul(const eb_hw_params *p, int n, eb_hw_cost *c, int n0, int m, int n1,
                       operand a, operand b, double out_density) {
    if (n0 <= 0 || m <= 0 || n1 <= 0) return;
    double macs = (double)n0 * m * n1;
    double vmacs = macs / n;
    double pa = (1 - a.zvec) * (1 - b.zvec);
    double da = a.zvec < 1 ? EB_MIN(1.0, a.density / (1 - a.zvec)) : 0;
    double db = b.zvec < 1 ? EB_MIN(1.0, b.density / (1 - b.zvec)) : 0;
    double g = p->mac_gate_frac;
    c->pu_cycles += eb_hw_matmul_cycles(n, n0, m, n1);
    c->macs += macs;
    c->vmacs += vmacs;
    c->vmacs_skipped += vmacs * (1 - pa);
    c->mac_energy_units += macs * (pa * (g + (1 - g) * da * db) + (1 - pa) * p->vmac_skip_frac);
    double mb = p->mask_bits_per_elem / 8;
    c->sram_bytes += (double)n0 * m * cdiv(n1, n) * (a.density + mb) +
                     (double)m * n1 * cdiv(n0, n) * (b.density + mb) +
                     (double)n0 * n1 * (out_density + mb);
}

/* SFU loop over `rows` rows of `len` elements: cycles + buffer traffic. */
static void add_sfu(const eb_hw_params *p, eb_hw_cost *c, double rows, double row_cycles, int len,
                    double density) {
    c->sfu_cycles += rows * row_cycles;
    c->sram_bytes += rows * len * 2 * (density + p->mask_bits_per_elem / 8);
}

void eb_hw_layer_cost(const eb_hw_model *m, int n, const eb_layer_work *w, int with_offramp,
                      eb_hw_cost *out) {
    const eb_hw_params *p = &m->p;
    memset(out, 0, sizeof *out);
    int S = w->seq_len, H = m->hidden, F = m->ffn, dh = m->head_dim;
    int a = w->active_heads < 0 || w->active_heads > m->heads ? m->heads : w->active_heads;
    operand act = mk_operand(w->act_density, w->act_zero_vec, n);
    operand wt = mk_operand(w->weight_density, w->weight_zero_vec, n);
    operand attn = mk_operand(w->attn_density, -1, n);
    double da = act.density;
    /* Q, K, V projections of the active heads */
    for (int i = 0; i < 3; i++)
        add_matmul(p, n, out, S, H, a * dh, act, wt, da);
    for (int h = 0; h < a; h++) {
        add_matmul(p, n, out, S, dh, S, act, act, 1); /* scores Q K^T */
        add_sfu(p, out, S, eb_hw_sfu_softmax_cycles(n, S), S, 1);
        add_matmul(p, n, out, S, S, dh, attn, act, da); /* context */
    }
    add_matmul(p, n, out, S, a * dh, H, act, wt, da); /* attention output */
    add_sfu(p, out, S, eb_hw_sfu_add_cycles(n, H), H, da);
    add_sfu(p, out, S, eb_hw_sfu_layernorm_cycles(n, H), H, da);
    add_matmul(p, n, out, S, H, F, act, wt, da); /* FFN in (GELU in the PU output stage) */
    add_matmul(p, n, out, S, F, H, act, wt, da); /* FFN out */
    add_sfu(p, out, S, eb_hw_sfu_add_cycles(n, H), H, da);
    add_sfu(p, out, S, eb_hw_sfu_layernorm_cycles(n, H), H, da);
    if (m->adapter_size > 0) { /* adapter-ALBERT: after the attention and the FFN output */
        const int r = m->adapter_size;
        operand dense = mk_operand(1, -1, n);
        for (int k = 0; k < 2; k++) {
            add_matmul(p, n, out, S, H, r, act, dense, 1);   /* down (gelu in the output stage) */
            add_matmul(p, n, out, S, r, H, dense, dense, 1); /* up */
            add_sfu(p, out, S, eb_hw_sfu_add_cycles(n, H), H, 1); /* adapter residual */
        }
    }
    if (with_offramp) {
        operand dense = mk_operand(1, -1, n);
        add_matmul(p, n, out, 1, H, H, act, dense, 1);
        add_matmul(p, n, out, 1, H, m->labels, dense, dense, 1);
        add_sfu(p, out, 1, eb_hw_sfu_entropy_cycles(n, m->labels), m->labels, 1);
    }
}

void eb_hw_classifier_cost(const eb_hw_model *m, int n, eb_hw_cost *out) {
    memset(out, 0, sizeof *out);
    operand dense = mk_operand(1, -1, n);
    add_matmul(&m->p, n, out, 1, m->hidden, m->hidden, dense, dense, 1);
    add_matmul(&m->p, n, out, 1, m->hidden, m->labels, dense, dense, 1);
}

void eb_hw_embed_cost(const eb_hw_model *m, int n, const eb_layer_work *w, eb_hw_cost *out) {
    const eb_hw_params *p = &m->p;
    memset(out, 0, sizeof *out);
    int S = w->seq_len, E = m->emb;
    double d = p->emb_density;
    double nz_bits = d * E * 8;
    double width = p->reram_read_width_cells;
    if (p->emb_storage == EB_EMB_DRAM) {
        /* copied to SRAM at power-on: per token read its mask and non-zeros */
        out->emb_bits_sram = (double)S * (E * p->mask_bits_per_elem + nz_bits);
    } else {
        int kind = (int)p->emb_storage;
        double bits_per_cell = kind == 0 ? 1 : kind == 1 ? 2 : 3;
        double mask_cells = E * p->mask_bits_per_elem; /* always SLC */
        double nz_cells = ceil(nz_bits / bits_per_cell);
        out->emb_cells[0] += S * mask_cells;
        out->emb_cells[kind] += S * nz_cells;
        out->emb_ns = S * (cdiv(mask_cells, width) * p->reram_read_ns[0] +
                           cdiv(nz_cells, width) * p->reram_read_ns[kind]);
    }
    operand emb = mk_operand(d, -1, n);
    operand dense = mk_operand(1, -1, n);
    add_sfu(p, out, S, eb_hw_sfu_layernorm_cycles(n, E), E, d);
    add_matmul(p, n, out, S, E, m->hidden, emb, dense, 1);
}

/* ------------------------------------------------------------------ */
/* Voltage, frequency, leakage, area                                   */
/* ------------------------------------------------------------------ */

static double law(const eb_hw_params *p, double v) {
    if (v <= p->vf_vth) return 0;
    return pow(v - p->vf_vth, p->vf_alpha) / v;
}

double eb_hw_fmax_mhz(const eb_hw_model *m, double v) {
    const eb_hw_params *p = &m->p;
    if (p->vf_table_n > 0) {
        int k = p->vf_table_n;
        if (v <= p->vf_table_v[0]) return v < p->vf_table_v[0] - 1e-9 ? 0 : p->vf_table_mhz[0];
        for (int i = 1; i < k; i++)
            if (v <= p->vf_table_v[i]) {
                double t = (v - p->vf_table_v[i - 1]) / (p->vf_table_v[i] - p->vf_table_v[i - 1]);
                return p->vf_table_mhz[i - 1] + t * (p->vf_table_mhz[i] - p->vf_table_mhz[i - 1]);
            }
        return p->vf_table_mhz[k - 1];
    }
    return p->freq_max_mhz * law(p, v) / law(p, p->vdd_nom);
}

static double top_freq(const eb_hw_model *m) {
    double f = eb_hw_fmax_mhz(m, m->p.vdd_nom);
    return EB_MIN(f, m->p.freq_max_mhz);
}

int eb_hw_choose_vf(const eb_hw_model *m, double freq_req, double *vdd, double *freq) {
    const eb_hw_params *p = &m->p;
    double ftop = top_freq(m);
    if (!(freq_req <= ftop * (1 + 1e-12))) {
        *vdd = p->vdd_nom;
        *freq = ftop;
        return 0;
    }
    double f = freq_req;
    if (p->freq_step_mhz > 0) f = ceil(f / p->freq_step_mhz - 1e-9) * p->freq_step_mhz;
    if (f < p->freq_min_mhz) f = p->freq_min_mhz;
    if (f > ftop) f = ftop;
    int steps = (int)floor((p->vdd_nom - p->vdd_min) / p->vdd_step + 1e-9);
    for (int k = 0; k <= steps; k++) {
        double v = p->vdd_min + k * p->vdd_step;
        if (eb_hw_fmax_mhz(m, v) >= f * (1 - 1e-12)) {
            *vdd = v;
            *freq = f;
            return 1;
        }
    }
    *vdd = p->vdd_nom;
    *freq = f;
    return 1;
}

double eb_hw_ldo_ns(const eb_hw_model *m, double v_from, double v_to) {
    const eb_hw_params *p = &m->p;
    double dv = fabs(v_to - v_from);
    if (dv < 1e-9) return 0;
    double ramp = dv / 0.05 * p->ldo_slew_ns_per_50mv;
    double full = (p->vdd_nom - p->vdd_min) / 0.05 * p->ldo_slew_ns_per_50mv;
    double tail = p->ldo_settle_ns > full ? p->ldo_settle_ns - full : 0;
    return ramp + tail;
}

double eb_hw_transition_ns(const eb_hw_model *m, double v_from, double v_to, double f_from,
                           double f_to) {
    double t = eb_hw_ldo_ns(m, v_from, v_to);
    if (fabs(f_to - f_from) > 1e-9 && m->p.adpll_relock_ns > t) t = m->p.adpll_relock_ns;
    return t;
}

double eb_hw_area_mm2(const eb_hw_model *m, int n) {
    const eb_hw_params *p = &m->p;
    double r = (double)n / p->calib_mac_size;
    return p->calib_area_mm2 * (1 - p->area_pu_frac + p->area_pu_frac * r * r);
}

double eb_hw_leak_mw(const eb_hw_model *m, int n, double v) {
    const eb_hw_params *p = &m->p;
    double scale = eb_hw_area_mm2(m, n) / p->calib_area_mm2;
    return m->p_leak_nom_mw * scale * (v / p->vdd_nom) * exp((v - p->vdd_nom) / p->leak_vscale);
}

double eb_hw_reram_area_mm2(const eb_hw_model *m, eb_emb_storage s) {
    const eb_hw_params *p = &m->p;
    if (s == EB_EMB_DRAM) return 0;
    double elems = (double)m->vocab * m->emb;
    double mask_mb = elems * p->mask_bits_per_elem / 8 / 1048576.0;
    double nz_mb = elems * p->emb_density / 1048576.0;
    return mask_mb * p->reram_mm2_per_mb[0] + nz_mb * p->reram_mm2_per_mb[(int)s];
}

/* ------------------------------------------------------------------ */
/* Energy                                                              */
/* ------------------------------------------------------------------ */

static double emb_energy_pj(const eb_hw_model *m, const eb_hw_cost *c) {
    const eb_hw_params *p = &m->p;
    double e = 0;
    for (int i = 0; i < 3; i++)
        e += c->emb_cells[i] * p->reram_pj_per_cell[i];
    e += c->emb_bits_sram / 8 * m->e_sram_pj_per_byte;
    return e;
}

void eb_hw_charge(const eb_hw_model *m, int n, const eb_hw_cost *c, double vdd, double f,
                  eb_hw_report *r) {
    const eb_hw_params *p = &m->p;
    double ratio = (double)n / p->calib_mac_size;
    double v2 = (vdd / p->vdd_nom) * (vdd / p->vdd_nom);
    double wire = 1 + p->pu_wire_frac * (ratio - 1);
    double ctrl = (1 - p->pu_ctrl_array_frac) + p->pu_ctrl_array_frac * ratio * ratio;
    double cycles = c->pu_cycles + c->sfu_cycles;
    double t_ms = cycles / (f * 1e3) + c->emb_ns * 1e-6;
    double pu =
        (c->mac_energy_units * m->e_mac_pj * wire + c->pu_cycles * m->e_pu_cycle_pj * ctrl) * v2 *
        1e-6;
    double sfu = c->sfu_cycles * m->e_sfu_cycle_pj * ratio * v2 * 1e-6;
    double sram = c->sram_bytes * m->e_sram_pj_per_byte * v2 * 1e-6;
    /* ReRAM reads are at the array's own read voltage: not scaled by VDD */
    double emb = emb_energy_pj(m, c) * 1e-6;
    double leak = eb_hw_leak_mw(m, n, vdd) * t_ms;
    double load = pu + sfu + sram + emb + leak;
    double dvfs = p->adpll_mw_per_ghz * f / 1000 * t_ms + load * (1 / p->ldo_current_eff - 1);
    r->cycles += cycles;
    r->time_ms += t_ms;
    r->energy.pu_uj += pu;
    r->energy.sfu_uj += sfu;
    r->energy.sram_uj += sram;
    r->energy.emb_mem_uj += emb;
    r->energy.leakage_uj += leak;
    r->energy.dvfs_uj += dvfs;
    r->energy_uj += load + dvfs;
}

void eb_hw_charge_stall(const eb_hw_model *m, int n, double ns, double vdd, double f,
                        eb_hw_report *r) {
    const eb_hw_params *p = &m->p;
    double t_ms = ns * 1e-6;
    double leak = eb_hw_leak_mw(m, n, vdd) * t_ms;
    double dvfs = p->adpll_mw_per_ghz * f / 1000 * t_ms + leak * (1 / p->ldo_current_eff - 1);
    r->time_ms += t_ms;
    r->energy.leakage_uj += leak;
    r->energy.dvfs_uj += dvfs;
    r->energy_uj += leak + dvfs;
}

/* ------------------------------------------------------------------ */
/* Calibration                                                         */
/* ------------------------------------------------------------------ */

static void set_dims(eb_hw_model *m, const eb_config *c) {
    m->hidden = c->hidden_size;
    m->heads = c->num_attention_heads;
    m->head_dim = c->num_attention_heads > 0 ? c->hidden_size / c->num_attention_heads : 0;
    m->ffn = c->intermediate_size;
    m->emb = c->embedding_size;
    m->vocab = c->vocab_size;
    m->layers = c->num_hidden_layers;
    m->labels = c->num_labels < 1 ? 1 : c->num_labels;
}

static eb_status check_config(const eb_config *c, eb_error *err) {
    if (c->hidden_size <= 0 || c->num_attention_heads <= 0 || c->intermediate_size <= 0 ||
        c->embedding_size <= 0 || c->num_hidden_layers <= 0 || c->vocab_size <= 0)
        return eb_fail(err, EB_ERR_ARG, "hw model: config has a non-positive dimension");
    if (c->hidden_size % c->num_attention_heads)
        return eb_fail(err, EB_ERR_ARG, "hw model: hidden_size %d is not a multiple of %d heads",
                       c->hidden_size, c->num_attention_heads);
    if (c->num_hidden_layers > EB_MAX_LAYERS)
        return eb_fail(err, EB_ERR_ARG, "hw model: %d layers exceed the limit %d",
                       c->num_hidden_layers, EB_MAX_LAYERS);
    return EB_OK;
}

eb_status eb_hw_model_init(eb_hw_model *m, const eb_hw_params *p, const eb_config *cfg,
                           eb_error *err) {
    eb_status st = eb_hw_params_check(p, err);
    if (st) return st;
    eb_config base = eb_hw_albert_base_config();
    if (cfg && (st = check_config(cfg, err))) return st;
    memset(m, 0, sizeof *m);
    m->p = *p;
    set_dims(m, &base);
    /* the calibration workload: ALBERT-base, full model, dense, n = calib */
    int n = p->calib_mac_size;
    eb_layer_work w = eb_layer_work_dense(p->calib_seq_len);
    eb_hw_cost tot, c;
    memset(&tot, 0, sizeof tot);
    eb_hw_embed_cost(m, n, &w, &c);
    eb_hw_cost_add(&tot, &c, 1);
    eb_hw_layer_cost(m, n, &w, 0, &c);
    eb_hw_cost_add(&tot, &c, m->layers);
    eb_hw_classifier_cost(m, n, &c);
    eb_hw_cost_add(&tot, &c, 1);
    double f = top_freq(m);
    double t_ms = (tot.pu_cycles + tot.sfu_cycles) / (f * 1e3) + tot.emb_ns * 1e-6;
    double P = p->calib_power_mw;
    double p_adpll = p->adpll_mw_per_ghz * f / 1000;
    double p_leak = p->leak_share * P;
    /* the SRAM coefficient is needed for DRAM-mode embedding reads: solve
     * with ReRAM energy first, SRAM bits are added after */
    double e_emb_reram = 0;
    for (int i = 0; i < 3; i++)
        e_emb_reram += tot.emb_cells[i] * p->reram_pj_per_cell[i];
    double p_emb = e_emb_reram * 1e-6 / t_ms;
    double p_dyn = p->ldo_current_eff * (P - p_adpll) - p_leak - p_emb;
    /* DRAM mode: embedding reads from SRAM count as SRAM traffic */
    double sram_bytes = tot.sram_bytes + tot.emb_bits_sram / 8;
    if (p_dyn <= 0)
        return eb_fail(err, EB_ERR_ARG,
                       "hw calibration: leakage, ADPLL and embedding power (%.3g mW) exceed "
                       "calib_power_mw %.3g",
                       P - p_dyn, P);
    double e_uj = p_dyn * t_ms; /* mW x ms = uJ */
    m->e_mac_pj =
        tot.mac_energy_units > 0 ? e_uj * p->share_pu_mac / tot.mac_energy_units * 1e6 : 0;
    m->e_pu_cycle_pj = tot.pu_cycles > 0 ? e_uj * p->share_pu_ctrl / tot.pu_cycles * 1e6 : 0;
    m->e_sfu_cycle_pj = tot.sfu_cycles > 0 ? e_uj * p->share_sfu / tot.sfu_cycles * 1e6 : 0;
    m->e_sram_pj_per_byte = sram_bytes > 0 ? e_uj * p->share_sram / sram_bytes * 1e6 : 0;
    m->p_leak_nom_mw = p_leak;
    m->calib_time_ms = t_ms;
    if (cfg) set_dims(m, cfg);
    return EB_OK;
}

/* ------------------------------------------------------------------ */
/* Power-on: read every embedding once (Fig. 11)                       */
/* ------------------------------------------------------------------ */

void eb_hw_poweron_cost(const eb_hw_model *m, eb_emb_storage s, eb_hw_poweron *out) {
    const eb_hw_params *p = &m->p;
    double elems = (double)m->vocab * m->emb;
    double mask_bits = elems * p->mask_bits_per_elem;
    double nz_bits = elems * p->emb_density * 8;
    double bits = mask_bits + nz_bits;
    out->bytes = bits / 8;
    if (s == EB_EMB_DRAM) {
        double bytes = bits / 8;
        double t_ns = p->dram_latency_ns + bytes / p->dram_gbps /* DRAM read */
                      + bytes / p->sram_write_gbps              /* SRAM write */
                      + bytes / p->sram_write_gbps;             /* SRAM read back */
        double e_pj = bits * p->dram_pj_per_bit + bits * p->sram_write_pj_per_bit +
                      bytes * m->e_sram_pj_per_byte;
        out->time_us = t_ns * 1e-3;
        out->energy_uj = e_pj * 1e-6 + p->dram_poweron_uj;
        return;
    }
    int kind = (int)s;
    double bpc = kind == 0 ? 1 : kind == 1 ? 2 : 3;
    double mask_cells = mask_bits, nz_cells = ceil(nz_bits / bpc);
    double w = p->reram_read_width_cells;
    double t_ns =
        cdiv(mask_cells, w) * p->reram_read_ns[0] + cdiv(nz_cells, w) * p->reram_read_ns[kind];
    out->time_us = t_ns * 1e-3;
    out->energy_uj =
        (mask_cells * p->reram_pj_per_cell[0] + nz_cells * p->reram_pj_per_cell[kind]) * 1e-6;
}
