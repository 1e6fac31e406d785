/* test_prune.c - pruning helpers and schedules, values worked out by hand. */
#include "testutil.h"

#include <math.h>

#include "edgebert/quant.h"

static void test_topk(void **state) {
    (void)state;
    float w[6] = {0.5f, -0.1f, 0.3f, -0.5f, 0.2f, 0.0f};
    size_t kept = 0;
    assert_int_equal(eb_prune_magnitude(w, 6, 0.5, NULL, &kept, NULL), EB_OK);
    assert_int_equal(kept, 3);
    float want[6] = {0.5f, 0, 0.3f, -0.5f, 0, 0};
    for (int i = 0; i < 6; i++)
        assert_true(w[i] == want[i]);
    /* ties: the lower index wins */
    float t[4] = {1, -1, 1, 0.5f};
    assert_int_equal(eb_prune_magnitude(t, 4, 0.5, NULL, &kept, NULL), EB_OK);
    assert_true(t[0] == 1 && t[1] == -1 && t[2] == 0 && t[3] == 0);
    /* k = round(0.34 * 6) = 2 */
    float u[6] = {6, 5, 4, 3, 2, 1};
    assert_int_equal(eb_prune_magnitude(u, 6, 0.34, NULL, &kept, NULL), EB_OK);
    assert_int_equal(kept, 2);
    assert_true(u[0] == 6 && u[1] == 5 && u[2] == 0 && u[5] == 0);
    float v[3] = {1, 2, 3};
    assert_int_equal(eb_prune_magnitude(v, 3, 1.0, NULL, &kept, NULL), EB_OK);
    assert_true(v[0] == 1 && v[1] == 2 && v[2] == 3);
    assert_int_equal(eb_prune_magnitude(v, 3, 0.0, NULL, &kept, NULL), EB_OK);
    assert_true(v[0] == 0 && v[1] == 0 && v[2] == 0 && kept == 0);
    eb_error err;
    assert_int_equal(eb_prune_magnitude(v, 3, 1.5, NULL, NULL, &err), EB_ERR_ARG);
    float bad[2] = {1, NAN};
    assert_int_equal(eb_prune_magnitude(bad, 2, 0.5, NULL, NULL, &err), EB_ERR_NUMERIC);
}

static void test_topk_exact_count_random(void **state) {
    (void)state;
    uint64_t s = 2;
    enum { N = 1000 };
    static float w[N];
    for (int i = 0; i < N; i++)
        w[i] = (float)(eb_test_rng(&s) % 50) - 25; /* many ties */
    float orig[N];
    memcpy(orig, w, sizeof w);
    size_t kept;
    assert_int_equal(eb_prune_magnitude(w, N, 0.3, NULL, &kept, NULL), EB_OK);
    size_t nz = 0;
    float min_kept = INFINITY, max_cut = 0;
    for (int i = 0; i < N; i++) {
        if (orig[i] != 0 && w[i] == 0) max_cut = fmaxf(max_cut, fabsf(orig[i]));
        if (w[i] != 0) nz++;
    }
    assert_int_equal(kept, 300);
    /* kept entries are exactly the first 300 of the order (|w| desc, index asc) */
    size_t count = 0;
    for (int a = 25; a >= 0 && count < 300; a--)
        for (int i = 0; i < N && count < 300; i++)
            if (fabsf(orig[i]) == (float)a) {
                assert_true(w[i] == orig[i]);
                min_kept = fminf(min_kept, fabsf(orig[i]));
                count++;
            }
    assert_true(max_cut <= min_kept);
    assert_true(nz <= 300);
}

static void test_percentile(void **state) {
    (void)state;
    float w[10] = {-1, 2, -3, 4, -5, 6, -7, 8, -9, 10};
    float p;
    /* numpy: np.percentile([1..10], 50) = 5.5, 25 -> 3.25, 0 -> 1, 100 -> 10 */
    assert_int_equal(eb_abs_percentile(w, 10, 50, NULL, &p, NULL), EB_OK);
    assert_float_equal(p, 5.5f, 1e-6);
    assert_int_equal(eb_abs_percentile(w, 10, 25, NULL, &p, NULL), EB_OK);
    assert_float_equal(p, 3.25f, 1e-6);
    assert_int_equal(eb_abs_percentile(w, 10, 0, NULL, &p, NULL), EB_OK);
    assert_float_equal(p, 1.0f, 0);
    assert_int_equal(eb_abs_percentile(w, 10, 100, NULL, &p, NULL), EB_OK);
    assert_float_equal(p, 10.0f, 0);
    size_t z;
    float c[10];
    memcpy(c, w, sizeof c);
    assert_int_equal(eb_prune_percentile(c, 10, 50, NULL, &z, NULL), EB_OK);
    assert_int_equal(z, 5);
    for (int i = 0; i < 10; i++)
        assert_true(c[i] == (i < 5 ? 0.0f : w[i]));
    memcpy(c, w, sizeof c);
    assert_int_equal(eb_prune_percentile(c, 10, 0, NULL, &z, NULL), EB_OK);
    assert_int_equal(z, 0);
    memcpy(c, w, sizeof c);
    assert_int_equal(eb_prune_percentile(c, 10, 60, NULL, &z, NULL), EB_OK); /* 6.4 */
    assert_int_equal(z, 6);
    eb_error err;
    assert_int_equal(eb_abs_percentile(w, 10, 101, NULL, &p, &err), EB_ERR_ARG);
    assert_int_equal(eb_abs_percentile(w, 0, 50, NULL, &p, &err), EB_ERR_ARG);
}

static void test_cubic_schedule(void **state) {
    (void)state;
    /* T = 1000, ws = 100, iw = 2, fw = 3, t0 = 1, tf = 0.5 */
    assert_float_equal(eb_prune_cubic_kept(0, 1000, 100, 1, 0.5, 2, 3), 1.0, 0);
    assert_float_equal(eb_prune_cubic_kept(200, 1000, 100, 1, 0.5, 2, 3), 1.0, 0);
    /* (1 - 250/500)^3 = 0.125 -> 0.5 + 0.5 * 0.125 */
    assert_float_equal(eb_prune_cubic_kept(450, 1000, 100, 1, 0.5, 2, 3), 0.5625, 1e-12);
    /* (1 - 100/500)^3 = 0.512 -> 0.756 */
    assert_float_equal(eb_prune_cubic_kept(300, 1000, 100, 1, 0.5, 2, 3), 0.756, 1e-12);
    assert_float_equal(eb_prune_cubic_kept(700, 1000, 100, 1, 0.5, 2, 3), 0.5, 1e-12);
    assert_float_equal(eb_prune_cubic_kept(701, 1000, 100, 1, 0.5, 2, 3), 0.5, 0);
    assert_float_equal(eb_prune_cubic_kept(5000, 1000, 100, 1, 0.5, 2, 3), 0.5, 0);
    /* monotone non-increasing */
    double prev = 2;
    for (long st = 0; st <= 1000; st++) {
        double t = eb_prune_cubic_kept(st, 1000, 100, 1, 0.5, 2, 3);
        assert_true(t <= prev);
        prev = t;
    }
}

static void test_embedding_schedule(void **state) {
    (void)state;
    assert_float_equal(eb_prune_embedding_percentile(0, 10, 60, 0.1, 0.8), 0, 0);
    /* epoch 4 ends at 50 %: 60 * (0.5 - 0.1) / 0.7 */
    assert_float_equal(eb_prune_embedding_percentile(4, 10, 60, 0.1, 0.8), 60 * 0.4 / 0.7, 1e-9);
    assert_float_equal(eb_prune_embedding_percentile(7, 10, 60, 0.1, 0.8), 60, 1e-9);
    assert_float_equal(eb_prune_embedding_percentile(9, 10, 60, 0.1, 0.8), 60, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk),
        cmocka_unit_test(test_topk_exact_count_random),
        cmocka_unit_test(test_percentile),
        cmocka_unit_test(test_cubic_schedule),
        cmocka_unit_test(test_embedding_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
