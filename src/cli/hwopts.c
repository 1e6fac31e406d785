/* hwopts.c - options shared by `edgebert sim` and `edgebert sweep`. */
#include "cli/hwopts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

int cli_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

int cli_int(const char *s, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < -1000000000L || v > 1000000000L) return 0;
    *out = (int)v;
    return 1;
}

void hw_opts_init(hw_opts *o) {
    memset(o, 0, sizeof *o);
    o->seq_len = 128;
    o->active_heads = -1;
    o->weight_density = 1;
    o->act_density = 1;
    o->attn_density = 1;
}

static int param_fn(void *dst, const char *cmd, const char *opt, const char *kv) {
    hw_opts *o = dst;
    if (!strchr(kv, '=')) {
        fprintf(stderr, "edgebert %s: %s expects KEY=VALUE, got '%s'\n", cmd, opt, kv);
        return 0;
    }
    if (o->nkv >= HWOPTS_MAX_KV) {
        fprintf(stderr, "edgebert %s: too many %s options (at most %d)\n", cmd, opt, HWOPTS_MAX_KV);
        return 0;
    }
    o->kv[o->nkv++] = kv;
    return 1;
}

static int storage_fn(void *dst, const char *cmd, const char *opt, const char *v) {
    if (eb_emb_storage_parse(v) < 0) {
        fprintf(stderr, "edgebert %s: %s must be slc, mlc2, mlc3 or dram, got '%s'\n", cmd, opt, v);
        return 0;
    }
    *(const char **)dst = v;
    return 1;
}

static int density_fn(void *dst, const char *cmd, const char *opt, const char *v) {
    double d;
    if (!cli_double(v, &d) || d < 0 || d > 1) {
        fprintf(stderr, "edgebert %s: %s must be a number in [0, 1], got '%s'\n", cmd, opt, v);
        return 0;
    }
    *(const char **)dst = v;
    return 1;
}

int hw_opts_rows(eb_opt *rows, hw_opts *o) {
    const eb_opt r[HWOPTS_ROWS] = {
        {"--params", EB_OPT_STR, &o->params_file, 0, 0, 0, "FILE",
         "accelerator parameter file (default: compiled-in,\n"
         "same as models/accelerator.params)",
         NULL},
        {"--param", EB_OPT_FN, o, 0, 0, 0, "KEY=VALUE", "override one parameter (repeatable)",
         param_fn},
        {"--mac-size", EB_OPT_INT, &o->mac_size, 4, 64, 0, "N", "PU size n, 4..64 (default 16)",
         NULL},
        {"--seq-len", EB_OPT_INT, &o->seq_len, 1, EB_MAX_TOKENS, 0, "N",
         "tokens per sentence (default 128)", NULL},
        {"--active-heads", EB_OPT_INT, &o->active_heads, 0, 4096, 0, "N",
         "heads with a non-empty attention span (default all)", NULL},
        {"--weight-density", EB_OPT_DOUBLE, &o->weight_density, 0, 1, 0, "D",
         "non-zero fraction of encoder weights (default 1)", NULL},
        {"--act-density", EB_OPT_DOUBLE, &o->act_density, 0, 1, 0, "D",
         "non-zero fraction of activations (default 1)", NULL},
        {"--attn-density", EB_OPT_DOUBLE, &o->attn_density, 0, 1, 0, "D",
         "non-zero fraction of masked attention (default 1)", NULL},
        {"--emb-storage", EB_OPT_FN, &o->emb_storage, 0, 0, 0, "S",
         "slc | mlc2 | mlc3 | dram (default mlc2)", storage_fn},
        {"--emb-density", EB_OPT_FN, &o->emb_density, 0, 0, 0, "D",
         "non-zero fraction of embeddings (default 0.4)", density_fn},
    };
    memcpy(rows, r, sizeof r);
    return HWOPTS_ROWS;
}

eb_status hw_opts_model(const hw_opts *o, eb_hw_model *m, eb_error *err) {
    eb_hw_params p;
    eb_hw_params_default(&p);
    eb_status st;
    if (o->params_file && (st = eb_hw_params_load(&p, o->params_file, err))) return st;
    for (int k = 0; k < o->nkv; k++) {
        char key[128];
        const char *eq = strchr(o->kv[k], '=');
        size_t n = (size_t)(eq - o->kv[k]);
        if (n >= sizeof key) return eb_fail(err, EB_ERR_ARG, "--param: key too long");
        memcpy(key, o->kv[k], n);
        key[n] = 0;
        if ((st = eb_hw_params_set(&p, key, eq + 1, err))) return st;
    }
    if (o->mac_size) p.mac_size = o->mac_size;
    if (o->emb_storage) p.emb_storage = (eb_emb_storage)eb_emb_storage_parse(o->emb_storage);
    if (o->emb_density && (st = eb_hw_params_set(&p, "emb_density", o->emb_density, err)))
        return st;
    return eb_hw_model_init(m, &p, NULL, err);
}

eb_layer_work hw_opts_work(const hw_opts *o) {
    eb_layer_work w = eb_layer_work_dense(o->seq_len);
    w.active_heads = o->active_heads;
    w.weight_density = o->weight_density;
    w.act_density = o->act_density;
    w.attn_density = o->attn_density;
    return w;
}

cJSON *cli_breakdown_json(const eb_energy_breakdown *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "pu", e->pu_uj);
    cJSON_AddNumberToObject(o, "sfu", e->sfu_uj);
    cJSON_AddNumberToObject(o, "sram", e->sram_uj);
    cJSON_AddNumberToObject(o, "emb_mem", e->emb_mem_uj);
    cJSON_AddNumberToObject(o, "dvfs", e->dvfs_uj);
    cJSON_AddNumberToObject(o, "leakage", e->leakage_uj);
    return o;
}

cJSON *cli_hist_json(const int *hist, int layers) {
    cJSON *o = cJSON_CreateObject();
    char k[16];
    for (int l = 1; l <= layers; l++) {
        snprintf(k, sizeof k, "%d", l);
        cJSON_AddNumberToObject(o, k, hist[l]);
    }
    return o;
}
