/* hwopts.h - command-line options shared by `edgebert sim` and `edgebert sweep`. */
#ifndef EB_CLI_HWOPTS_H
#define EB_CLI_HWOPTS_H

#include <cjson/cJSON.h>

#include "cli/opts.h"
#include "edgebert/hw.h"
#include "edgebert/runtime.h"

#define HWOPTS_MAX_KV 64

typedef struct hw_opts {
    const char *params_file;
    int nkv;
    const char *kv[HWOPTS_MAX_KV];
    int mac_size;     /* 0: from params */
    int seq_len;      /* 128 */
    int active_heads; /* -1: all */
    double weight_density, act_density, attn_density;
    const char *emb_storage;
    const char *emb_density;
} hw_opts;

void hw_opts_init(hw_opts *o);
/* The accelerator options as option-table rows into rows[HWOPTS_ROWS]
 * (--params, --param, --mac-size, --seq-len, --active-heads, the densities,
 * --emb-storage); returns HWOPTS_ROWS. */
#define HWOPTS_ROWS 10
int hw_opts_rows(eb_opt *rows, hw_opts *o);
/* Build the parameters and the model (ALBERT-base dimensions). */
eb_status hw_opts_model(const hw_opts *o, eb_hw_model *m, eb_error *err);
eb_layer_work hw_opts_work(const hw_opts *o);

/* Strict number parsing for the CLI. */
int cli_double(const char *s, double *out);
int cli_int(const char *s, int *out);

/* JSON helpers */
cJSON *cli_breakdown_json(const eb_energy_breakdown *e);
cJSON *cli_hist_json(const int *hist, int layers);

#endif
