/* taskswitch.c - task-switch and weight-read costs of the multi-task
 * arrangements (see edgebert/taskswitch.h). */
#include "edgebert/taskswitch.h"

#include <math.h>

void eb_hw_reload_cost(const eb_hw_model *m, double bytes, eb_mem_cost *out) {
    const eb_hw_params *p = &m->p;
    out->bytes = bytes;
    if (bytes <= 0) {
        out->time_us = out->energy_uj = 0;
        return;
    }
    double t_ns = p->dram_latency_ns + bytes / p->dram_gbps + bytes / p->sram_write_gbps;
    out->time_us = t_ns * 1e-3;
    out->energy_uj = 8.0 * bytes * (p->dram_pj_per_bit + p->sram_write_pj_per_bit) * 1e-6;
}

void eb_hw_weight_read_cost(const eb_hw_model *m, eb_emb_storage s, double bytes,
                            eb_mem_cost *out) {
    const eb_hw_params *p = &m->p;
    out->bytes = bytes;
    if (s == EB_EMB_DRAM || (int)s < 0 || (int)s > 2) {
        out->time_us = 0;
        out->energy_uj = bytes * m->e_sram_pj_per_byte * 1e-6;
        return;
    }
    const int k = (int)s;
    const double cells = ceil(8.0 * bytes / (double)(k + 1));
    const double w = p->reram_read_width_cells > 0 ? p->reram_read_width_cells : 1;
    out->time_us = ceil(cells / w) * p->reram_read_ns[k] * 1e-3;
    out->energy_uj = cells * p->reram_pj_per_cell[k] * 1e-6;
}

double eb_hw_reram_bytes_area_mm2(const eb_hw_model *m, eb_emb_storage s, double bytes) {
    const int k = (int)s >= 0 && (int)s <= 2 ? (int)s : 1;
    return bytes / 1048576.0 * m->p.reram_mm2_per_mb[k];
}
