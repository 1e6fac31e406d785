/* fuzz_bundle.c - libFuzzer harness for edgebert bundles (eb_model_load on
 * a temporary file, mapped or read); an accepted bundle classifies a few
 * token ids and a sentence with every task and policy.  The same file also
 * goes through eb_model_info_json (`edgebert info`), which reads the header
 * on its own.  A mutated bundle almost never passes its checksums, so each
 * input is also resealed (eb_bundle_reseal: fresh checksums over the mutated
 * bytes) and loaded again: the mutations reach the directory and tensor
 * decoders behind the checksums. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "edgebert.h"
#include "model/bundle.h"

static void one(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/eb_fuzz_bundle_%d.ebb", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    eb_load_params lp = eb_load_params_default();
    lp.use_mmap = (size & 1); /* both paths */
    eb_model *m = NULL;
    eb_error err;
    if (eb_model_load(path, &lp, &m, &err) == EB_OK) {
        eb_context *ctx = NULL;
        if (eb_context_new(m, &ctx, &err) == EB_OK) {
            static const int32_t ids[] = {2, 5, 7, 11, 3};
            for (int t = 0; t < eb_model_num_tasks(m); t++) {
                for (int pol = 0; pol < 3; pol++) {
                    eb_run_params p = eb_run_params_default();
                    p.task = eb_model_task_name(m, t);
                    p.policy = (eb_policy)pol;
                    eb_result r;
                    eb_classify_ids(ctx, ids, NULL, 5, &p, &r, &err);
                    eb_classify(ctx, "a gorgeous movie", NULL, &p, &r, &err);
                }
            }
            eb_context_free(ctx);
        }
        eb_model_free(m);
    }
    char *json = NULL;
    if (eb_model_info_json(path, &json, &err) == EB_OK) free(json);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    one(data, size);
    uint8_t *img = NULL;
    size_t n = 0;
    eb_error err;
    if (eb_bundle_reseal("fuzz", data, size, &img, &n, &err) == EB_OK) one(img, n);
    free(img);
    return 0;
}
