/*
 * edgebert/taskswitch.h - what switching tasks costs on the accelerator, for
 * the two multi-task arrangements (adapter-ALBERT against EdgeBERT).
 *
 * EdgeBERT: the word/position/type embeddings (shared by the tasks) live in
 * ReRAM; every task brings its own encoder, head and off-ramps, which the PU
 * reads from its SRAM buffers: a task switch reloads them from LPDDR4 DRAM.
 * Adapter-ALBERT: the embeddings AND the frozen shared encoder live in ReRAM
 * (read in place, nothing to reload); only the task's adapters, head,
 * off-ramps and spans are in SRAM: a switch reloads those bytes (or nothing
 * when every task's part fits in SRAM at once).
 *
 * A reload of B bytes: time = dram_latency_ns + B / dram_gbps + B /
 * sram_write_gbps (read, then write; not overlapped), energy = 8B
 * (dram_pj_per_bit + sram_write_pj_per_bit).  Reading B stored bytes out of
 * ReRAM (the shared encoder, once per layer application in adapter-ALBERT):
 * the bytes as cells of the storage kind (1, 2 or 3 bits a cell), read
 * reram_read_width_cells at a time, reram_read_ns and reram_pj_per_cell each;
 * from SRAM: e_sram_pj_per_byte a byte.  All parameters are the eb_hw_params
 * of the model (models/accelerator.params).
 */
#ifndef EDGEBERT_TASKSWITCH_H
#define EDGEBERT_TASKSWITCH_H

#include "edgebert/hw.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eb_mem_cost {
    double bytes;
    double time_us;
    double energy_uj;
} eb_mem_cost;

/* Reload `bytes` of task weights from DRAM into SRAM. */
EB_API void eb_hw_reload_cost(const eb_hw_model *m, double bytes, eb_mem_cost *out);
/* Read `bytes` of stored weights from ReRAM cells of kind s (s = EB_EMB_DRAM:
 * from SRAM instead, energy only, time 0: the SRAM read is within the PU's
 * cycles). */
EB_API void eb_hw_weight_read_cost(const eb_hw_model *m, eb_emb_storage s, double bytes, eb_mem_cost *out);
/* ReRAM area (mm^2) of `bytes` stored in cells of kind s (s < EB_EMB_DRAM). */
EB_API double eb_hw_reram_bytes_area_mm2(const eb_hw_model *m, eb_emb_storage s, double bytes);

#ifdef __cplusplus
}
#endif

#endif
