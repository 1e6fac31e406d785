/* test_calibrate.c - threshold calibration (Table 3) by hand and on the
 * recorded SST-2 entropies of the published EdgeBERT model. */
#include "testutil.h"

#include <math.h>

#include "edgebert/runtime.h"

/* 4 sentences x 3 layers, worked out by hand.
 *   s0: entropies .10 .05 .01, labels 1 1 1, gold 1
 *   s1: entropies .50 .20 .02, labels 0 1 1, gold 1
 *   s2: entropies .30 .40 .03, labels 0 0 0, gold 0
 *   s3: entropies .60 .375 .04, labels 1 1 0, gold 0 (all exact in float)
 * All layers: 4/4 right.  A threshold t exits each sentence at its first
 * layer with entropy < t:
 *   t in (0.50, 0.60]: s1 exits at 1 (wrong) -> 3/4; s3 stays to layer 3? no:
 *   .60 is not < .60 so s3 goes on to layer 2 (.35 < t) -> label 1, wrong.
 * So the largest t with no drop is the largest t at which s1 and s3 do not
 * exit wrongly: s3 exits at layer 2 (wrong) once t > .375; s1 exits at layer
 * 1 (wrong) once t > .50: the largest t with accuracy 1.0 is 0.375 on the
 * 0.001 grid (t = .375 does not exit s3 at layer 2, strict comparison). */
static void test_by_hand(void **state) {
    (void)state;
    float ent[] = {.10f, .05f, .01f, .50f, .20f, .02f, .30f, .40f, .03f, .60f, .375f, .04f};
    int lab[] = {1, 1, 1, 0, 1, 1, 0, 0, 0, 1, 1, 0};
    int gold[] = {1, 1, 0, 0};
    double drops[] = {0, 25, 50};
    eb_calib_point ee[3];
    double base;
    eb_error err = {0};
    assert_int_equal(eb_calibrate(ent, lab, gold, 4, 3, NULL, drops, 3, ee, NULL, &base, &err), EB_OK);
    assert_float_equal(base, 1.0, 1e-12);
    assert_true(ee[0].found);
    assert_float_equal(ee[0].threshold, 0.375, 1e-9);
    assert_float_equal(ee[0].accuracy, 1.0, 1e-12);
    /* exits at 0.375: s0 -> 1, s1 -> 2 (.20), s2 -> 1 (.30), s3 -> 3 (.04): mean 7/4 */
    assert_float_equal(ee[0].mean_exit_layer, 1.75, 1e-12);
    /* 25 %-pt: one wrong allowed.  t = .500: s3 exits at 2 (wrong), s1 at 2 -> 3/4.
     * t = .501: s1 exits at 1 (wrong) too -> 2/4.  So .500. */
    assert_float_equal(ee[1].threshold, 0.500, 1e-9);
    assert_float_equal(ee[1].accuracy, 0.75, 1e-12);
    /* 50 %-pt: anything up to the top of the grid: s3 exits at 1 (label 1,
     * wrong) once t > .60, s1 at 1 wrong: 2/4 -> allowed; largest grid point. */
    assert_true(ee[2].threshold >= 0.60);
    double acc, me, mp;
    eb_calib_evaluate(ent, lab, gold, 4, 3, 0.0, NULL, &acc, &me, &mp);
    assert_float_equal(me, 3.0, 1e-12);
}

/* On the recorded SST-2 trace the rules must give the paper's Table 3:
 * EE 4.30 / 3.94 / 2.70 at 0.23 / 0.28 / 0.46, predicted 4.91 / 3.65 at
 * 0.16 / 0.28 (the same rules as the policy engine). */
static void test_sst2_trace(void **state) {
    (void)state;
    char tp[512], lp[512];
    EB_REQUIRE_DATA(tp, "edgebert/sst2_dev_layer_entropies.txt");
    EB_REQUIRE_DATA(lp, "edgebert/sst2_exit_lut.csv");
    eb_entropy_trace tr;
    eb_exit_lut lut;
    eb_error err = {0};
    assert_int_equal(eb_entropy_trace_load(tp, NULL, &tr, &err), EB_OK);
    assert_int_equal(eb_exit_lut_load(lp, 1, NULL, &lut, &err), EB_OK);
    int n = tr.rows, L = tr.layers;
    int *lab = calloc((size_t)n * L, sizeof *lab), *gold = calloc((size_t)n, sizeof *gold);
    double acc, me, mp;
    double ee_t[] = {0.23, 0.28, 0.46}, ee_want[] = {4.30, 3.94, 2.70};
    for (int i = 0; i < 3; i++) {
        eb_calib_evaluate(tr.data, lab, gold, n, L, ee_t[i], NULL, &acc, &me, &mp);
        assert_float_equal(me, ee_want[i], 0.005);
    }
    double lai_t[] = {0.16, 0.28}, lai_want[] = {4.91, 3.65};
    for (int i = 0; i < 2; i++) {
        eb_calib_evaluate(tr.data, lab, gold, n, L, lai_t[i], &lut, &acc, &me, &mp);
        assert_float_equal(mp, lai_want[i], 0.005);
        assert_true(me <= mp + 1e-9);
    }
    free(lab);
    free(gold);
    eb_exit_lut_free(&lut);
    eb_entropy_trace_free(&tr);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_hand),
        cmocka_unit_test(test_sst2_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
