/* test_batch.c - batched early exit (edgebert/batch.h) gives, sentence by
 * sentence, what eb_classify_ids gives one sentence at a time (label, exit
 * layer, logits), whatever the mix of exits in a batch; bad input. */
#include "testutil.h"

#include <math.h>
#include <unistd.h>

#include "edgebert.h"
#include "edgebert/batch.h"
#include "util/util.h"
#include "tinymodel.h"

enum { V = 500, E = 8, H = 32, NH = 2, I = 48, L = 4, P = 40, C = 2 };

/* A random 4-layer model with off-ramps after layers 1..3 (and spans when
 * asked) in a fresh temp dir; every weight from one stream. */
static void make_model(char *dir, uint64_t seed, int spans) {
    tiny_spec s = tiny_default();
    s.vocab = V, s.E = E, s.H = H, s.heads = NH, s.I = I, s.layers = L, s.P = P, s.labels = C;
    s.emb_seed = seed, s.seed = 0, s.spans = spans, s.span_ramp = 4.0f; /* z in 1..5 with R = 4 */
    s.sc = (tiny_scales){0.3f, 0.5f, 0.4f, 0.4f, 0.3f, 0.5f, 1.0f, 0.5f, 0.6f, 0.3f};
    tiny_make(dir, &s);
}

enum { NS = 23 };

static void check_model(int spans, uint64_t seed) {
    char dir[64];
    make_model(dir, seed, spans);
    eb_model *m = NULL;
    eb_error err = {0};
    assert_int_equal(eb_model_load(dir, NULL, &m, &err), EB_OK);
    eb_context *ctx;
    assert_int_equal(eb_context_new(m, &ctx, &err), EB_OK);
    /* sentences of 1..P tokens */
    int32_t ids[NS][P];
    int lens[NS];
    const int32_t *ptr[NS];
    uint64_t r = seed * 7 + 1;
    for (int s = 0; s < NS; s++) {
        lens[s] = 1 + (int)(eb_test_rng(&r) % P);
        if (s == 0) lens[s] = 1;
        if (s == 1) lens[s] = P;
        for (int i = 0; i < lens[s]; i++)
            ids[s][i] = (int32_t)(eb_test_rng(&r) % V);
        ptr[s] = ids[s];
    }
    /* entropies after layer 1 for choosing thresholds that split the set */
    eb_result res;
    eb_run_params base = eb_run_params_default();
    base.policy = EB_POLICY_BASE;
    /* thresholds at quantiles of the off-ramp entropies of layers 1..L-1 */
    float ent[NS * (L - 1)];
    for (int s = 0; s < NS; s++) {
        assert_int_equal(eb_classify_ids(ctx, ptr[s], NULL, lens[s], &base, &res, &err), EB_OK);
        for (int l = 0; l < L - 1; l++)
            ent[s * (L - 1) + l] = res.entropies[l];
    }
    for (int i = 1; i < NS * (L - 1); i++) /* insertion sort */
        for (int j = i; j > 0 && ent[j - 1] > ent[j]; j--) {
            float t = ent[j];
            ent[j] = ent[j - 1], ent[j - 1] = t;
        }
    const int ne = NS * (L - 1);
    const float thrs[] = {0.0f,
                          ent[ne / 10] + 1e-6f,
                          ent[ne / 4] + 1e-6f,
                          ent[ne / 2] + 1e-6f,
                          ent[3 * ne / 4] + 1e-6f,
                          2.0f};
    const int batches[] = {1, 4, NS};
    int mixed = 0;
    eb_batch_result out[NS];
    for (size_t ti = 0; ti < sizeof thrs / sizeof thrs[0]; ti++) {
        eb_run_params p = eb_run_params_default();
        p.policy = EB_POLICY_EE;
        p.threshold = thrs[ti];
        int want_label[NS], want_exit[NS];
        float want_logits[NS][C];
        for (int s = 0; s < NS; s++) {
            assert_int_equal(eb_classify_ids(ctx, ptr[s], NULL, lens[s], &p, &res, &err), EB_OK);
            want_label[s] = res.label;
            want_exit[s] = res.exit_layer;
            for (int c = 0; c < C; c++)
                want_logits[s][c] = res.logits[c];
        }
        int early = 0;
        for (int s = 0; s < NS; s++)
            early += want_exit[s] < L;
        mixed += early > 0 && early < NS;
        for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
            const int B = batches[bi];
            eb_batch *b = NULL;
            assert_int_equal(eb_batch_new(m, B, B * P, &b, &err), EB_OK);
            for (int s0 = 0; s0 < NS; s0 += B) {
                int k = NS - s0 < B ? NS - s0 : B;
                assert_int_equal(
                    eb_batch_classify_ids(b, ptr + s0, lens + s0, k, &p, out + s0, &err), EB_OK);
            }
            for (int s = 0; s < NS; s++) {
                assert_int_equal(out[s].exit_layer, want_exit[s]);
                assert_int_equal(out[s].label, want_label[s]);
                assert_int_equal(out[s].num_labels, C);
                for (int c = 0; c < C; c++)
                    assert_float_equal(out[s].logits[c], want_logits[s][c], 1e-4);
            }
            eb_batch_free(b);
        }
    }
    assert_true(mixed >= 2); /* some batches had sentences leave while others stayed */
    /* base policy: every sentence runs all layers */
    eb_batch *b = NULL;
    assert_int_equal(eb_batch_new(m, NS, NS * P, &b, &err), EB_OK);
    assert_int_equal(eb_batch_classify_ids(b, ptr, lens, NS, &base, out, &err), EB_OK);
    for (int s = 0; s < NS; s++) {
        assert_int_equal(eb_classify_ids(ctx, ptr[s], NULL, lens[s], &base, &res, &err), EB_OK);
        assert_int_equal(out[s].exit_layer, L);
        assert_int_equal(out[s].label, res.label);
        for (int c = 0; c < C; c++)
            assert_float_equal(out[s].logits[c], res.logits[c], 1e-4);
    }
    /* bad input */
    int32_t bad[2] = {1, V};
    const int32_t *bp[1] = {bad};
    int bl[1] = {2};
    assert_int_equal(eb_batch_classify_ids(b, bp, bl, 1, &base, out, &err), EB_ERR_INPUT);
    bl[0] = 0;
    assert_int_equal(eb_batch_classify_ids(b, bp, bl, 1, &base, out, &err), EB_ERR_INPUT);
    bl[0] = P + 1;
    assert_int_equal(eb_batch_classify_ids(b, bp, bl, 1, &base, out, &err), EB_ERR_INPUT);
    assert_int_equal(eb_batch_classify_ids(b, ptr, lens, NS + 1, &base, out, &err), EB_ERR_ARG);
    eb_run_params lai = base;
    lai.policy = EB_POLICY_LAI;
    assert_int_equal(eb_batch_classify_ids(b, ptr, lens, 1, &lai, out, &err), EB_ERR_ARG);
    /* AdaptivFloat8 is not batched: refused, not run in fp32 behind the caller's back */
    eb_run_params af8 = base;
    af8.precision = EB_PRECISION_AF8_BF16;
    assert_int_equal(eb_batch_classify_ids(b, ptr, lens, 1, &af8, out, &err), EB_ERR_ARG);
    assert_non_null(strstr(err.msg, "fp32"));
    eb_batch_free(b);
    /* a batch too small in rows */
    assert_int_equal(eb_batch_new(m, 2, 3, &b, &err), EB_OK);
    assert_int_equal(eb_batch_classify_ids(b, ptr, lens, 2, &base, out, &err), EB_ERR_INPUT);
    eb_batch_free(b);
    assert_int_equal(eb_batch_new(m, 0, 10, &b, &err), EB_ERR_ARG);
    eb_context_free(ctx);
    eb_model_free(m);
    tiny_remove(dir);
}

static void test_batch_matches_single(void **state) {
    (void)state;
    check_model(0, 5);
}

static void test_batch_with_spans(void **state) {
    (void)state;
    check_model(1, 9);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_matches_single),
        cmocka_unit_test(test_batch_with_spans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
