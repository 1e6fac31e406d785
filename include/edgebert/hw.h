/*
 * edgebert/hw.h - the EdgeBERT accelerator cycle and energy model.
 *
 * A processing unit (PU) of n vector MACs of width n, a special function unit
 * (SFU) in 16-bit fixed point, bitmask-compressed SRAM decoder buffers,
 * embeddings in ReRAM (or LPDDR4 DRAM + SRAM), an LDO + ADPLL for
 * sentence-level DVFS.  Every number comes from an eb_hw_params (defaults
 * compiled in, overridable from a "key = value" text file, see
 * models/accelerator.params and docs/hw.md).  Energies are calibrated so that
 * ALBERT-base, 128 tokens, 12 layers, dense, n = calib_mac_size at the nominal
 * voltage and top frequency averages calib_power_mw.
 */
#ifndef EDGEBERT_HW_H
#define EDGEBERT_HW_H

#include "edgebert.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EB_HW_VF_TABLE_MAX 64

typedef enum eb_emb_storage {
    EB_EMB_RERAM_SLC = 0,  /* bitmask and non-zeros in 1-bit cells */
    EB_EMB_RERAM_MLC2 = 1, /* bitmask in SLC, non-zeros in 2-bit cells (the paper's choice) */
    EB_EMB_RERAM_MLC3 = 2, /* bitmask in SLC, non-zeros in 3-bit cells */
    EB_EMB_DRAM = 3        /* LPDDR4 DRAM, copied into SRAM after power-on */
} eb_emb_storage;

/* Every tunable of the model.  See models/accelerator.params for units and
 * the reason behind each default. */
typedef struct eb_hw_params {
    /* processing unit and clocking */
    int mac_size;         /* n: n vector MACs of width n (4..64) */
    double vdd_nom;       /* V, every sentence starts layer 1 here */
    double vdd_min;       /* V, lowest LDO output */
    double vdd_step;      /* V, LDO resolution */
    double vdd_standby;   /* V, between sentences */
    double freq_max_mhz;  /* at vdd_nom */
    double freq_min_mhz;  /* lowest ADPLL frequency */
    double freq_step_mhz; /* ADPLL resolution (frequencies are rounded up to it) */
    double vf_vth;        /* alpha-power law f(V) ~ (V - Vth)^alpha / V */
    double vf_alpha;
    int vf_table_n; /* > 0: measured V/F table replaces the law */
    double vf_table_v[EB_HW_VF_TABLE_MAX];
    double vf_table_mhz[EB_HW_VF_TABLE_MAX];
    /* LDO and ADPLL */
    double ldo_slew_ns_per_50mv; /* 3.8 */
    double ldo_settle_ns;        /* a full vdd_min..vdd_nom transition is settled within this */
    double ldo_current_eff;      /* peak current efficiency (0.992) */
    double adpll_mw_per_ghz;     /* 2.46 mW at 1 GHz, linear in f */
    double adpll_relock_ns;      /* frequency relock after a change */
    /* calibration */
    double calib_power_mw; /* 86 */
    double calib_area_mm2; /* 1.4 */
    int calib_mac_size;    /* 16 */
    int calib_seq_len;     /* 128 */
    double leak_share;     /* leakage share of calib_power_mw */
    double leak_vscale;    /* V: leakage current e-folds per this much VDD */
    double share_pu_mac;   /* shares of the remaining dynamic power at calibration */
    double share_pu_ctrl;
    double share_sfu;
    double share_sram;
    double pu_ctrl_array_frac; /* part of PU per-cycle energy that scales with n^2 */
    double pu_wire_frac;       /* MAC energy x (1 + pu_wire_frac (n / calib_mac_size - 1)) */
    double area_pu_frac;       /* PU share of calib_area_mm2 (scales with n^2) */
    double mac_gate_frac;      /* MAC energy left when an operand is zero (data gating) */
    double vmac_skip_frac;     /* energy of a skipped all-zero VMAC relative to a dense one */
    double mask_bits_per_elem; /* bitmask overhead in the decoder buffers */
    /* embedding memories */
    eb_emb_storage emb_storage;
    double emb_density;          /* fraction of non-zero embedding values */
    double reram_read_ns[3];     /* SLC, MLC2, MLC3 (Table 2) */
    double reram_mm2_per_mb[3];  /* SLC, MLC2, MLC3 (Table 2) */
    double reram_pj_per_cell[3]; /* read energy per cell */
    int reram_read_width_cells;  /* cells read per access */
    double dram_pj_per_bit;      /* LPDDR4 read incl. I/O */
    double dram_gbps;            /* GB/s */
    double dram_latency_ns;      /* first-access latency */
    double dram_poweron_uj;      /* DRAM power-up + initialisation energy */
    double sram_write_pj_per_bit;
    double sram_write_gbps;
} eb_hw_params;

/* Compiled-in defaults (the paper's calibration points). */
EB_API void eb_hw_params_default(eb_hw_params *p);
/* Parse "key = value" text (comments start with '#') on top of *p.  `name`
 * is used in messages ("name:LINE: ..."). */
EB_API eb_status eb_hw_params_parse(eb_hw_params *p, const char *text, size_t len, const char *name,
                             eb_error *err);
/* Read and parse a parameter file on top of *p. */
EB_API eb_status eb_hw_params_load(eb_hw_params *p, const char *path, eb_error *err);
/* Set one parameter from its text form (the CLI's --param key=value). */
EB_API eb_status eb_hw_params_set(eb_hw_params *p, const char *key, const char *value, eb_error *err);
/* Check ranges and consistency. */
EB_API eb_status eb_hw_params_check(const eb_hw_params *p, eb_error *err);

/* What one encoder layer really computed (filled by the engine or a trace). */
typedef struct eb_layer_work {
    int seq_len;            /* tokens */
    int active_heads;       /* heads whose span is not empty (<0: all) */
    double weight_density;  /* fraction of non-zero encoder weights (1 = dense) */
    double act_density;     /* fraction of non-zero activations */
    double attn_density;    /* fraction of non-zero masked attention probabilities */
    double weight_zero_vec; /* fraction of all-zero n-vectors in weights; <0: from density */
    double act_zero_vec;    /* same for activations; <0: from density */
} eb_layer_work;

/* Dense, all heads, seq_len tokens. */
EB_API eb_layer_work eb_layer_work_dense(int seq_len);

/* The model's dimensions (from an eb_config) and derived energy coefficients. */
typedef struct eb_hw_model {
    eb_hw_params p;
    int hidden, heads, head_dim, ffn, emb, vocab, layers, labels;
    int adapter_size; /* adapter-ALBERT bottleneck r (0: none): each layer adds two adapters,
                         S x H x r + S x r x H MACs each, and their residual adds; set by the
                         caller after eb_hw_model_init (the engine does, from config.json) */
    /* derived by calibration (energies at vdd_nom, n = calib_mac_size) */
    double e_mac_pj;       /* per dense MAC */
    double e_pu_cycle_pj;  /* per PU cycle: control, clocks */
    double e_sfu_cycle_pj; /* per SFU cycle */
    double e_sram_pj_per_byte;
    double p_leak_nom_mw; /* at calib area and vdd_nom */
    double calib_time_ms; /* time of the calibration workload */
} eb_hw_model;

/* ALBERT-base dimensions (the calibration workload). */
EB_API eb_config eb_hw_albert_base_config(void);
/* Build a model for `cfg` (NULL: ALBERT-base).  Calibration always uses
 * ALBERT-base so the coefficients are the chip's, whatever the workload. */
EB_API eb_status eb_hw_model_init(eb_hw_model *m, const eb_hw_params *p, const eb_config *cfg,
                           eb_error *err);

/* Counts of one piece of work at PU size n. */
typedef struct eb_hw_cost {
    double pu_cycles, sfu_cycles;
    double mac_energy_units; /* dense-MAC equivalents after gating / skipping */
    double macs;             /* real MACs */
    double vmacs, vmacs_skipped;
    double sram_bytes;
    double emb_cells[3];  /* ReRAM cells read (SLC, MLC2, MLC3) */
    double emb_bits_sram; /* bits read from SRAM embedding copy (DRAM mode) */
    double emb_ns;        /* embedding read time (ns, not clocked) */
} eb_hw_cost;

EB_API void eb_hw_cost_add(eb_hw_cost *acc, const eb_hw_cost *c, double times);
/* Cycle count of an N0xM by MxN1 matmul on the PU: ceil(N0/n)ceil(M/n)ceil(N1/n)*n. */
EB_API double eb_hw_matmul_cycles(int n, int n0, int m, int n1);
/* SFU loops per row of `len` elements (V = ceil(len/n)). */
EB_API double eb_hw_sfu_layernorm_cycles(int n, int len); /* 3(9V+2) */
EB_API double eb_hw_sfu_softmax_cycles(int n, int len);   /* 3(9V+1) */
EB_API double eb_hw_sfu_entropy_cycles(int n, int len);   /* 4(4V+2) */
EB_API double eb_hw_sfu_add_cycles(int n, int len);       /* 6V+1 */

/* One encoder layer; with_offramp adds the off-ramp and the entropy unit. */
EB_API void eb_hw_layer_cost(const eb_hw_model *m, int n, const eb_layer_work *w, int with_offramp,
                      eb_hw_cost *out);
/* Embedding lookup + mapping to hidden + embedding LayerNorm. */
EB_API void eb_hw_embed_cost(const eb_hw_model *m, int n, const eb_layer_work *w, eb_hw_cost *out);
/* Final pooler + classifier (no entropy). */
EB_API void eb_hw_classifier_cost(const eb_hw_model *m, int n, eb_hw_cost *out);

/* Voltage/frequency. */
EB_API double eb_hw_fmax_mhz(const eb_hw_model *m, double vdd);
/* Lowest LDO level whose fmax reaches freq_req; f = freq_req rounded up to
 * the ADPLL step (at least freq_min).  Returns 0 and (vdd_nom, freq_max)
 * when freq_req exceeds freq_max. */
EB_API int eb_hw_choose_vf(const eb_hw_model *m, double freq_req_mhz, double *vdd, double *freq_mhz);
/* Stall for an LDO/ADPLL change in ns: max(LDO ramp + settle, relock). */
EB_API double eb_hw_ldo_ns(const eb_hw_model *m, double v_from, double v_to);
EB_API double eb_hw_transition_ns(const eb_hw_model *m, double v_from, double v_to, double f_from,
                           double f_to);
EB_API double eb_hw_leak_mw(const eb_hw_model *m, int n, double vdd);
EB_API double eb_hw_area_mm2(const eb_hw_model *m, int n);
EB_API double eb_hw_reram_area_mm2(const eb_hw_model *m, eb_emb_storage s);

/* Time (ms) and energy of a cost run at (vdd, f) on PU size n, added to *r. */
EB_API void eb_hw_charge(const eb_hw_model *m, int n, const eb_hw_cost *c, double vdd, double freq_mhz,
                  eb_hw_report *r);
/* A stall of `ns` at vdd, f (leakage and ADPLL only). */
EB_API void eb_hw_charge_stall(const eb_hw_model *m, int n, double ns, double vdd, double freq_mhz,
                        eb_hw_report *r);

/* Power-on cost of reading all embeddings once (Fig. 11): ReRAM storage
 * reads them in place; the DRAM path reads DRAM and writes + reads SRAM. */
typedef struct eb_hw_poweron {
    double time_us, energy_uj;
    double bytes;
} eb_hw_poweron;
EB_API void eb_hw_poweron_cost(const eb_hw_model *m, eb_emb_storage s, eb_hw_poweron *out);

/* Names for storage kinds ("mlc2", ...); parse returns -1 if unknown. */
EB_API const char *eb_emb_storage_name(eb_emb_storage s);
EB_API int eb_emb_storage_parse(const char *s);

#ifdef __cplusplus
}
#endif

#endif
