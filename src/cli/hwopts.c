/* hwopts.c - options shared by `edgebert sim` and `edgebert sweep`. */
#include "cli/hwopts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

const char HW_OPTS_HELP[] =
    "accelerator options:\n"
    "  --params FILE          accelerator parameter file (default: compiled-in,\n"
    "                         same as models/accelerator.params)\n"
    "  --param KEY=VALUE      override one parameter (repeatable)\n"
    "  --mac-size N           PU size n, 4..64 (default 16)\n"
    "  --seq-len N            tokens per sentence (default 128)\n"
    "  --active-heads N       heads with a non-empty attention span (default all)\n"
    "  --weight-density D     non-zero fraction of encoder weights (default 1)\n"
    "  --act-density D        non-zero fraction of activations (default 1)\n"
    "  --attn-density D       non-zero fraction of masked attention (default 1)\n"
    "  --emb-storage S        slc | mlc2 | mlc3 | dram (default mlc2)\n"
    "  --emb-density D        non-zero fraction of embeddings (default 0.4)\n";

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

static int need(int *i, int argc, char **argv, const char *cmd) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "edgebert %s: %s needs a value\n", cmd, argv[*i]);
        return 0;
    }
    return 1;
}

static int density(const char *s, double *out, const char *opt, const char *cmd) {
    if (!cli_double(s, out) || *out < 0 || *out > 1) {
        fprintf(stderr, "edgebert %s: %s must be a number in [0, 1], got '%s'\n", cmd, opt, s);
        return 0;
    }
    return 1;
}

int hw_opts_parse(hw_opts *o, int *i, int argc, char **argv, const char *cmd) {
    const char *a = argv[*i];
    if (!strcmp(a, "--params")) {
        if (!need(i, argc, argv, cmd)) return -1;
        o->params_file = argv[++*i];
        return 1;
    }
    if (!strcmp(a, "--param")) {
        if (!need(i, argc, argv, cmd)) return -1;
        const char *kv = argv[++*i];
        if (!strchr(kv, '=')) {
            fprintf(stderr, "edgebert %s: --param expects KEY=VALUE, got '%s'\n", cmd, kv);
            return -1;
        }
        if (o->nkv >= HWOPTS_MAX_KV) {
            fprintf(stderr, "edgebert %s: too many --param options\n", cmd);
            return -1;
        }
        o->kv[o->nkv++] = kv;
        return 1;
    }
    if (!strcmp(a, "--mac-size")) {
        if (!need(i, argc, argv, cmd)) return -1;
        if (!cli_int(argv[++*i], &o->mac_size) || o->mac_size < 4 || o->mac_size > 64) {
            fprintf(stderr, "edgebert %s: --mac-size must be an integer in 4..64, got '%s'\n", cmd,
                    argv[*i]);
            return -1;
        }
        return 1;
    }
    if (!strcmp(a, "--seq-len")) {
        if (!need(i, argc, argv, cmd)) return -1;
        if (!cli_int(argv[++*i], &o->seq_len) || o->seq_len < 1 || o->seq_len > EB_MAX_TOKENS) {
            fprintf(stderr, "edgebert %s: --seq-len must be an integer in 1..%d, got '%s'\n", cmd,
                    EB_MAX_TOKENS, argv[*i]);
            return -1;
        }
        return 1;
    }
    if (!strcmp(a, "--active-heads")) {
        if (!need(i, argc, argv, cmd)) return -1;
        if (!cli_int(argv[++*i], &o->active_heads) || o->active_heads < 0) {
            fprintf(stderr, "edgebert %s: --active-heads must be an integer >= 0, got '%s'\n", cmd,
                    argv[*i]);
            return -1;
        }
        return 1;
    }
    if (!strcmp(a, "--weight-density")) {
        if (!need(i, argc, argv, cmd)) return -1;
        return density(argv[++*i], &o->weight_density, a, cmd) ? 1 : -1;
    }
    if (!strcmp(a, "--act-density")) {
        if (!need(i, argc, argv, cmd)) return -1;
        return density(argv[++*i], &o->act_density, a, cmd) ? 1 : -1;
    }
    if (!strcmp(a, "--attn-density")) {
        if (!need(i, argc, argv, cmd)) return -1;
        return density(argv[++*i], &o->attn_density, a, cmd) ? 1 : -1;
    }
    if (!strcmp(a, "--emb-storage")) {
        if (!need(i, argc, argv, cmd)) return -1;
        o->emb_storage = argv[++*i];
        if (eb_emb_storage_parse(o->emb_storage) < 0) {
            fprintf(stderr, "edgebert %s: --emb-storage must be slc, mlc2, mlc3 or dram\n", cmd);
            return -1;
        }
        return 1;
    }
    if (!strcmp(a, "--emb-density")) {
        if (!need(i, argc, argv, cmd)) return -1;
        double d;
        if (!density(argv[++*i], &d, a, cmd)) return -1;
        o->emb_density = argv[*i];
        return 1;
    }
    return 0;
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
