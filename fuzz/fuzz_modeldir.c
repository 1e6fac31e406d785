/* fuzz_modeldir.c - libFuzzer harness for a whole checkpoint directory:
 * config.json and model.safetensors together, so the checks of tensor
 * shapes against the config (eb_model_bind_task) are fuzzed too.
 * Input: u32 little-endian n, n bytes of config.json, the rest is
 * model.safetensors; both go to a temporary directory that eb_model_load
 * reads.  An accepted model classifies a few ids with every policy. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edgebert.h"

static int put(const char *dir, const char *file, const uint8_t *d, size_t n) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    if (n) fwrite(d, 1, n, f);
    fclose(f);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    size_t n =
        (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
    if (n > size - 4) return 0;
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/eb_fuzz_dir_%d", (int)getpid());
    mkdir(dir, 0700);
    if (!put(dir, "config.json", data + 4, n) ||
        !put(dir, "model.safetensors", data + 4 + n, size - 4 - n))
        return 0;
    eb_load_params lp = eb_load_params_default();
    lp.use_mmap = (size & 1);
    eb_model *m = NULL;
    eb_error err;
    if (eb_model_load(dir, &lp, &m, &err) == EB_OK) {
        eb_context *ctx = NULL;
        if (eb_context_new(m, &ctx, &err) == EB_OK) {
            static const int32_t ids[] = {2, 5, 7, 11, 3};
            for (int pol = 0; pol < 2; pol++) {
                eb_run_params p = eb_run_params_default();
                p.policy = (eb_policy)pol;
                eb_result r;
                eb_classify_ids(ctx, ids, NULL, 5, &p, &r, &err);
            }
            eb_context_free(ctx);
        }
        eb_model_free(m);
    }
    return 0;
}
