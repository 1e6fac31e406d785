/* params.c - accelerator parameters: compiled-in defaults and the
 * "key = value" parameter file (see models/accelerator.params). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgebert/hw.h"
#include "util/util.h"

typedef enum { PT_INT, PT_DOUBLE, PT_STORAGE, PT_VFTABLE } ptype;

typedef struct pdesc {
    const char *key;
    ptype type;
    size_t off;
    double lo, hi;
} pdesc;

#define PD(k, t, f, lo, hi)                                                                        \
    { k, t, offsetof(eb_hw_params, f), lo, hi }

static const pdesc PARAMS[] = {
    PD("mac_size", PT_INT, mac_size, 4, 64),
    PD("vdd_nom", PT_DOUBLE, vdd_nom, 0.2, 2.0),
    PD("vdd_min", PT_DOUBLE, vdd_min, 0.2, 2.0),
    PD("vdd_step", PT_DOUBLE, vdd_step, 0.001, 0.5),
    PD("vdd_standby", PT_DOUBLE, vdd_standby, 0.0, 2.0),
    PD("freq_max_mhz", PT_DOUBLE, freq_max_mhz, 1, 1e5),
    PD("freq_min_mhz", PT_DOUBLE, freq_min_mhz, 0.1, 1e5),
    PD("freq_step_mhz", PT_DOUBLE, freq_step_mhz, 0, 1e4),
    PD("vf_vth", PT_DOUBLE, vf_vth, 0, 1.5),
    PD("vf_alpha", PT_DOUBLE, vf_alpha, 0.5, 3),
    PD("vf_table", PT_VFTABLE, vf_table_n, 0, 0),
    PD("ldo_slew_ns_per_50mv", PT_DOUBLE, ldo_slew_ns_per_50mv, 0, 1e6),
    PD("ldo_settle_ns", PT_DOUBLE, ldo_settle_ns, 0, 1e9),
    PD("ldo_current_eff", PT_DOUBLE, ldo_current_eff, 0.01, 1),
    PD("adpll_mw_per_ghz", PT_DOUBLE, adpll_mw_per_ghz, 0, 1e4),
    PD("adpll_relock_ns", PT_DOUBLE, adpll_relock_ns, 0, 1e9),
    PD("calib_power_mw", PT_DOUBLE, calib_power_mw, 1e-3, 1e6),
    PD("calib_area_mm2", PT_DOUBLE, calib_area_mm2, 1e-3, 1e4),
    PD("calib_mac_size", PT_INT, calib_mac_size, 4, 64),
    PD("calib_seq_len", PT_INT, calib_seq_len, 1, EB_MAX_TOKENS),
    PD("leak_share", PT_DOUBLE, leak_share, 0, 0.9),
    PD("leak_vscale", PT_DOUBLE, leak_vscale, 0.01, 10),
    PD("share_pu_mac", PT_DOUBLE, share_pu_mac, 0, 1),
    PD("share_pu_ctrl", PT_DOUBLE, share_pu_ctrl, 0, 1),
    PD("share_sfu", PT_DOUBLE, share_sfu, 0, 1),
    PD("share_sram", PT_DOUBLE, share_sram, 0, 1),
    PD("pu_ctrl_array_frac", PT_DOUBLE, pu_ctrl_array_frac, 0, 1),
    PD("pu_wire_frac", PT_DOUBLE, pu_wire_frac, 0, 10),
    PD("area_pu_frac", PT_DOUBLE, area_pu_frac, 0, 1),
    PD("mac_gate_frac", PT_DOUBLE, mac_gate_frac, 0, 1),
    PD("vmac_skip_frac", PT_DOUBLE, vmac_skip_frac, 0, 1),
    PD("mask_bits_per_elem", PT_DOUBLE, mask_bits_per_elem, 0, 8),
    PD("emb_storage", PT_STORAGE, emb_storage, 0, 0),
    PD("emb_density", PT_DOUBLE, emb_density, 0, 1),
    PD("reram_read_ns_slc", PT_DOUBLE, reram_read_ns[0], 0, 1e6),
    PD("reram_read_ns_mlc2", PT_DOUBLE, reram_read_ns[1], 0, 1e6),
    PD("reram_read_ns_mlc3", PT_DOUBLE, reram_read_ns[2], 0, 1e6),
    PD("reram_mm2_per_mb_slc", PT_DOUBLE, reram_mm2_per_mb[0], 0, 1e3),
    PD("reram_mm2_per_mb_mlc2", PT_DOUBLE, reram_mm2_per_mb[1], 0, 1e3),
    PD("reram_mm2_per_mb_mlc3", PT_DOUBLE, reram_mm2_per_mb[2], 0, 1e3),
    PD("reram_pj_per_cell_slc", PT_DOUBLE, reram_pj_per_cell[0], 0, 1e6),
    PD("reram_pj_per_cell_mlc2", PT_DOUBLE, reram_pj_per_cell[1], 0, 1e6),
    PD("reram_pj_per_cell_mlc3", PT_DOUBLE, reram_pj_per_cell[2], 0, 1e6),
    PD("reram_read_width_cells", PT_INT, reram_read_width_cells, 1, 1 << 20),
    PD("dram_pj_per_bit", PT_DOUBLE, dram_pj_per_bit, 0, 1e6),
    PD("dram_gbps", PT_DOUBLE, dram_gbps, 1e-3, 1e6),
    PD("dram_latency_ns", PT_DOUBLE, dram_latency_ns, 0, 1e9),
    PD("dram_poweron_uj", PT_DOUBLE, dram_poweron_uj, 0, 1e9),
    PD("sram_write_pj_per_bit", PT_DOUBLE, sram_write_pj_per_bit, 0, 1e6),
    PD("sram_write_gbps", PT_DOUBLE, sram_write_gbps, 1e-3, 1e6),
};
#define NPARAMS (sizeof PARAMS / sizeof PARAMS[0])

void eb_hw_params_default(eb_hw_params *p) {
    memset(p, 0, sizeof *p);
    p->mac_size = 16;
    p->vdd_nom = 0.8;
    p->vdd_min = 0.5;
    p->vdd_step = 0.025;
    p->vdd_standby = 0.5;
    p->freq_max_mhz = 1000;
    p->freq_min_mhz = 50;
    p->freq_step_mhz = 1;
    p->vf_vth = 0.35;
    p->vf_alpha = 1.3;
    p->vf_table_n = 0;
    p->ldo_slew_ns_per_50mv = 3.8;
    p->ldo_settle_ns = 100;
    p->ldo_current_eff = 0.992;
    p->adpll_mw_per_ghz = 2.46;
    p->adpll_relock_ns = 100;
    p->calib_power_mw = 86;
    p->calib_area_mm2 = 1.4;
    p->calib_mac_size = 16;
    p->calib_seq_len = 128;
    p->leak_share = 0.08;
    p->leak_vscale = 0.2;
    p->share_pu_mac = 0.45;
    p->share_pu_ctrl = 0.15;
    p->share_sfu = 0.12;
    p->share_sram = 0.28;
    p->pu_ctrl_array_frac = 0.5;
    p->pu_wire_frac = 0.8;
    p->area_pu_frac = 0.3;
    p->mac_gate_frac = 0.2;
    p->vmac_skip_frac = 0.05;
    p->mask_bits_per_elem = 1;
    p->emb_storage = EB_EMB_RERAM_MLC2;
    p->emb_density = 0.4;
    p->reram_read_ns[0] = 1.21;
    p->reram_read_ns[1] = 1.54;
    p->reram_read_ns[2] = 2.96;
    p->reram_mm2_per_mb[0] = 0.28;
    p->reram_mm2_per_mb[1] = 0.08;
    p->reram_mm2_per_mb[2] = 0.04;
    p->reram_pj_per_cell[0] = 0.25;
    p->reram_pj_per_cell[1] = 0.45;
    p->reram_pj_per_cell[2] = 0.9;
    p->reram_read_width_cells = 128;
    p->dram_pj_per_bit = 4.0;
    p->dram_gbps = 12.8;
    p->dram_latency_ns = 100;
    p->dram_poweron_uj = 0;
    p->sram_write_pj_per_bit = 0.1;
    p->sram_write_gbps = 16;
}

static const char *STORAGE_NAMES[] = {"slc", "mlc2", "mlc3", "dram"};

const char *eb_emb_storage_name(eb_emb_storage s) {
    return (unsigned)s < 4 ? STORAGE_NAMES[s] : "?";
}

int eb_emb_storage_parse(const char *s) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, STORAGE_NAMES[i])) return i;
    return -1;
}

/* Strict number: whole string, finite. */
static int parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v)) return 0;
    while (*end && isspace((unsigned char)*end))
        end++;
    if (*end) return 0;
    *out = v;
    return 1;
}

static eb_status set_value(eb_hw_params *p, const pdesc *d, const char *val, const char *where,
                           eb_error *err) {
    char *base = (char *)p + d->off;
    switch (d->type) {
    case PT_INT:
    case PT_DOUBLE: {
        double v;
        if (!parse_double(val, &v))
            return eb_fail(err, EB_ERR_FORMAT, "%s: '%s' is not a number: '%.60s'", where, d->key,
                           val);
        if (v < d->lo || v > d->hi)
            return eb_fail(err, EB_ERR_FORMAT, "%s: '%s' = %g is out of range [%g, %g]", where,
                           d->key, v, d->lo, d->hi);
        if (d->type == PT_INT) {
            if (v != floor(v))
                return eb_fail(err, EB_ERR_FORMAT, "%s: '%s' must be an integer, got %g", where,
                               d->key, v);
            *(int *)base = (int)v;
        } else {
            *(double *)base = v;
        }
        return EB_OK;
    }
    case PT_STORAGE: {
        int s = eb_emb_storage_parse(val);
        if (s < 0)
            return eb_fail(err, EB_ERR_FORMAT,
                           "%s: '%s' must be slc, mlc2, mlc3 or dram, got '%.60s'", where, d->key,
                           val);
        p->emb_storage = (eb_emb_storage)s;
        return EB_OK;
    }
    case PT_VFTABLE: {
        /* "V:MHz, V:MHz, ..." increasing in V; empty = use the law */
        int n = 0;
        const char *q = val;
        while (*q) {
            while (*q == ' ' || *q == '\t' || *q == ',')
                q++;
            if (!*q) break;
            char *end;
            errno = 0;
            double v = strtod(q, &end);
            if (end == q || *end != ':' || !isfinite(v))
                return eb_fail(err, EB_ERR_FORMAT,
                               "%s: vf_table entry %d must be VOLTS:MHZ, got '%.40s'", where, n + 1,
                               q);
            q = end + 1;
            double f = strtod(q, &end);
            if (end == q || !isfinite(f) || f <= 0 || v <= 0)
                return eb_fail(err, EB_ERR_FORMAT,
                               "%s: vf_table entry %d must be VOLTS:MHZ with positive numbers",
                               where, n + 1);
            if (n >= EB_HW_VF_TABLE_MAX)
                return eb_fail(err, EB_ERR_FORMAT, "%s: vf_table has more than %d entries", where,
                               EB_HW_VF_TABLE_MAX);
            if (n > 0 && (v <= p->vf_table_v[n - 1] || f < p->vf_table_mhz[n - 1]))
                return eb_fail(err, EB_ERR_FORMAT,
                               "%s: vf_table must increase in volts (and not decrease in MHz) "
                               "at entry %d",
                               where, n + 1);
            p->vf_table_v[n] = v;
            p->vf_table_mhz[n] = f;
            n++;
            q = end;
            while (*q == ' ' || *q == '\t')
                q++;
            if (*q && *q != ',')
                return eb_fail(err, EB_ERR_FORMAT, "%s: vf_table: unexpected '%.20s'", where, q);
        }
        p->vf_table_n = n;
        return EB_OK;
    }
    }
    return eb_fail(err, EB_ERR_ARG, "%s: internal: bad parameter type", where);
}

static const pdesc *find_param(const char *key) {
    for (size_t i = 0; i < NPARAMS; i++)
        if (!strcmp(PARAMS[i].key, key)) return &PARAMS[i];
    return NULL;
}

eb_status eb_hw_params_set(eb_hw_params *p, const char *key, const char *value, eb_error *err) {
    const pdesc *d = find_param(key);
    if (!d) return eb_fail(err, EB_ERR_ARG, "unknown accelerator parameter '%.80s'", key);
    return set_value(p, d, value, "parameter", err);
}

eb_status eb_hw_params_parse(eb_hw_params *p, const char *text, size_t len, const char *name,
                             eb_error *err) {
    eb_hw_params tmp = *p;
    size_t pos = 0;
    int lineno = 0;
    char line[1024], where[300];
    while (pos < len) {
        size_t e = pos;
        while (e < len && text[e] != '\n')
            e++;
        lineno++;
        size_t n = e - pos;
        snprintf(where, sizeof where, "%.200s:%d", name, lineno);
        if (n >= sizeof line)
            return eb_fail(err, EB_ERR_FORMAT, "%s: line longer than %zu bytes", where,
                           sizeof line - 1);
        memcpy(line, text + pos, n);
        line[n] = 0;
        pos = e + 1;
        if (memchr(line, 0, n))
            return eb_fail(err, EB_ERR_FORMAT, "%s: NUL byte in a text file", where);
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        char *t = s + strlen(s);
        while (t > s && isspace((unsigned char)t[-1]))
            *--t = 0;
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq)
            return eb_fail(err, EB_ERR_FORMAT, "%s: expected 'key = value', got '%.60s'", where, s);
        char *k = s, *ke = eq;
        while (ke > k && isspace((unsigned char)ke[-1]))
            ke--;
        *ke = 0;
        char *v = eq + 1;
        while (isspace((unsigned char)*v))
            v++;
        if (!*k) return eb_fail(err, EB_ERR_FORMAT, "%s: missing key before '='", where);
        const pdesc *d = find_param(k);
        if (!d) return eb_fail(err, EB_ERR_FORMAT, "%s: unknown key '%.60s'", where, k);
        if (!*v && d->type != PT_VFTABLE)
            return eb_fail(err, EB_ERR_FORMAT, "%s: missing value for '%s'", where, k);
        eb_status st = set_value(&tmp, d, v, where, err);
        if (st) return st;
    }
    eb_status st = eb_hw_params_check(&tmp, err);
    if (st) return eb_fail_prefix(err, "%.200s", name);
    *p = tmp;
    return EB_OK;
}

eb_status eb_hw_params_load(eb_hw_params *p, const char *path, eb_error *err) {
    char *data = NULL;
    size_t size = 0;
    eb_status st = eb_read_file(path, NULL, 1 << 20, &data, &size, err);
    if (st) return st;
    st = eb_hw_params_parse(p, data, size, path, err);
    eb_free(NULL, data);
    return st;
}

eb_status eb_hw_params_check(const eb_hw_params *p, eb_error *err) {
    if (p->mac_size < 4 || p->mac_size > 64)
        return eb_fail(err, EB_ERR_ARG, "mac_size %d must be in 4..64", p->mac_size);
    if (!(p->vdd_min <= p->vdd_nom))
        return eb_fail(err, EB_ERR_ARG, "vdd_min %g must not exceed vdd_nom %g", p->vdd_min,
                       p->vdd_nom);
    if (p->vf_table_n == 0 && !(p->vf_vth < p->vdd_min))
        return eb_fail(err, EB_ERR_ARG, "vf_vth %g must be below vdd_min %g", p->vf_vth,
                       p->vdd_min);
    if (!(p->freq_min_mhz <= p->freq_max_mhz))
        return eb_fail(err, EB_ERR_ARG, "freq_min_mhz must not exceed freq_max_mhz");
    double s = p->share_pu_mac + p->share_pu_ctrl + p->share_sfu + p->share_sram;
    if (fabs(s - 1) > 1e-6)
        return eb_fail(err, EB_ERR_ARG,
                       "share_pu_mac + share_pu_ctrl + share_sfu + share_sram must be 1, got %g",
                       s);
    if (p->vf_table_n > 0) {
        if (p->vf_table_v[0] > p->vdd_min + 1e-9 ||
            p->vf_table_v[p->vf_table_n - 1] < p->vdd_nom - 1e-9)
            return eb_fail(err, EB_ERR_ARG, "vf_table must cover vdd_min..vdd_nom (%g..%g V)",
                           p->vdd_min, p->vdd_nom);
    }
    return EB_OK;
}
