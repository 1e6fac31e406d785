/* hello.c - a tiny program built against an installed libedgebert through
 * pkg-config (tests/py/test_install.py): loads MODEL, classifies a sentence,
 * prints "label=<name> exit_layer=<n> layers=<n> energy_uj=<x>". */
#include <stdio.h>

#include <edgebert.h>
#include <edgebert/hw.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: hello MODEL TEXT\n");
        return 2;
    }
    eb_model *m = NULL;
    eb_context *ctx = NULL;
    eb_error err = {0};
    eb_result r;
    eb_run_params p = eb_run_params_default();
    p.policy = EB_POLICY_BASE;
    if (eb_model_load(argv[1], NULL, &m, &err) != EB_OK || eb_context_new(m, &ctx, &err) != EB_OK ||
        eb_classify(ctx, argv[2], NULL, &p, &r, &err) != EB_OK) {
        fprintf(stderr, "hello: %s: %s\n", eb_status_name(err.status), err.msg);
        eb_context_free(ctx);
        eb_model_free(m);
        return 1;
    }
    const eb_config *c = eb_model_config(m);
    printf("label=%s exit_layer=%d layers=%d energy_uj=%g\n", c->id2label[r.label], r.exit_layer,
           r.num_layers, r.hw.energy_uj);
    eb_context_free(ctx);
    eb_model_free(m);
    return 0;
}
