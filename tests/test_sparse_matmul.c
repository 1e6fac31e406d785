/* test_sparse_matmul.c - sparse kernels against the scalar dense reference,
 * the automatic path, and the AF8 accelerator arithmetic against a scalar
 * model written here (ldexpf decoding, long double sums, brute-force
 * nearest-code re-quantisation). */
#include "testutil.h"

#include <math.h>

#include "edgebert/quant.h"
#include "kernels/kernels.h"
#include "quant/sparse_matmul.h"

static void fill_sparse(float *w, size_t n, double density, uint64_t *s) {
    for (size_t i = 0; i < n; i++)
        w[i] = eb_test_uniform(s) < density ? (eb_test_uniform(s) * 2 - 1) * 0.2f : 0.0f;
}

static void check_close(const float *y, const float *r, size_t n) {
    for (size_t i = 0; i < n; i++)
        assert_float_equal(y[i], r[i], 1e-4 + 1e-5 * fabsf(r[i]));
}

static void test_sparse_vs_dense(void **state) {
    (void)state;
    uint64_t s = 21;
    const int Ns[] = {1, 5, 16, 17, 32, 48, 64, 100, 128, 130};
    const int shapes[][2] = {{64, 48}, {37, 29}, {768, 40}, {16, 1}, {200, 70}}; /* C, OC */
    const double dens[] = {0.0, 0.1, 0.5, 1.0};
    for (size_t a = 0; a < sizeof shapes / sizeof shapes[0]; a++) {
        int C = shapes[a][0], OC = shapes[a][1];
        for (size_t d = 0; d < sizeof dens / sizeof dens[0]; d++) {
            float *w = malloc(sizeof(float) * C * OC), *wq = malloc(sizeof(float) * C * OC);
            float *b = malloc(sizeof(float) * OC);
            fill_sparse(w, (size_t)C * OC, dens[d], &s);
            for (int o = 0; o < OC; o++)
                b[o] = eb_test_uniform(&s) - 0.5f;
            eb_bitmask bf, ba;
            assert_int_equal(eb_bitmask_encode_f32(&bf, w, OC, C, NULL, NULL), EB_OK);
            assert_int_equal(eb_bitmask_encode_af8(&ba, w, OC, C, -1, EB_AF8_NEAREST, NULL, NULL),
                             EB_OK);
            assert_int_equal(eb_bitmask_decode_f32(&ba, wq, NULL), EB_OK);
            for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++) {
                int N = Ns[ni];
                float *x = malloc(sizeof(float) * N * C), *y = malloc(sizeof(float) * N * OC);
                float *r = malloc(sizeof(float) * N * OC);
                for (int i = 0; i < N * C; i++)
                    x[i] = eb_test_uniform(&s) * 2 - 1;
                for (int withb = 0; withb < 2; withb++) {
                    const float *bb = withb ? b : NULL;
                    eb_matmul_ref(r, x, w, bb, N, C, OC);
                    assert_int_equal(eb_sparse_matmul(y, x, &bf, bb, N, NULL, NULL, NULL), EB_OK);
                    check_close(y, r, (size_t)N * OC);
                    memset(y, 0, sizeof(float) * N * OC);
                    assert_int_equal(eb_sparse_matmul_isa(y, x, &bf, bb, N, NULL, NULL, NULL, 0, 1),
                                     EB_OK);
                    check_close(y, r, (size_t)N * OC);
                    eb_matmul_ref(r, x, wq, bb, N, C, OC);
                    float *scratch = malloc(sizeof(float) * (eb_sparse_scratch(N, C) + 1));
                    assert_int_equal(eb_sparse_matmul(y, x, &ba, bb, N, scratch, NULL, NULL),
                                     EB_OK);
                    check_close(y, r, (size_t)N * OC);
                    float *tmp = malloc(sizeof(float) * C * OC);
                    assert_int_equal(eb_linear_auto(y, x, &ba, bb, N, tmp, scratch, NULL, NULL),
                                     EB_OK);
                    check_close(y, r, (size_t)N * OC);
                    free(scratch), free(tmp);
                }
                free(x), free(y), free(r);
            }
            eb_bitmask_free(&bf);
            eb_bitmask_free(&ba);
            free(w), free(wq), free(b);
        }
    }
}

static void test_prefer_rule(void **state) {
    (void)state;
    const int Ns[] = {1, 4, 16, 32, 64, 128, 512};
    for (size_t i = 0; i < sizeof Ns / sizeof Ns[0]; i++) {
        if (Ns[i] > 2) assert_true(eb_sparse_prefer(Ns[i], 768, 768, 0.02f));
        assert_true(eb_sparse_prefer(Ns[i], 3072, 768, 0.02f));
        assert_false(eb_sparse_prefer(Ns[i], 768, 768, 1.0f));
        assert_false(eb_sparse_prefer(Ns[i], 768, 768, NAN));
        /* monotone in density */
        int prev = 1;
        for (int d = 0; d <= 100; d++) {
            int p = eb_sparse_prefer(Ns[i], 768, 3072, d / 100.0f);
            assert_true(p <= prev);
            prev = p;
        }
    }
    /* points of the measured table (sparse_matmul.c) */
    assert_false(eb_sparse_prefer(1, 768, 768, 0.01f)); /* a 768x768 GEMV is too cheap */
    assert_true(eb_sparse_prefer(1, 768, 3072, 0.1f));
    assert_true(eb_sparse_prefer(16, 768, 768, 0.3f));
    assert_false(eb_sparse_prefer(16, 768, 768, 0.6f));
    assert_true(eb_sparse_prefer(16, 3072, 768, 0.7f));
    assert_false(eb_sparse_prefer(128, 768, 768, 0.5f));
    assert_true(eb_sparse_prefer(128, 768, 768, 0.1f));
    assert_false(eb_sparse_prefer(0, 768, 768, 0.1f));
}

/* ---- AF8 accelerator arithmetic, reference ---- */

static double ref_decode(int code, int b) {
    int sgn = code >> 7, e = (code >> 4) & 7, m = code & 15;
    if (e == 0 && m == 0) return 0;
    double v = ldexpf(1.0f + (float)m / 16.0f, e + b - 10);
    return sgn ? -v : v;
}

static int ref_bias(const float *y, size_t n) {
    double mx = 0;
    for (size_t i = 0; i < n; i++)
        mx = fmax(mx, fabs(y[i]));
    if (mx == 0) return 0;
    int b = (int)floor(log2(mx)) + 3;
    return b < 0 ? 0 : b > 7 ? 7 : b;
}

static int ref_nearest_code(float v, int b) {
    int best = 0;
    double bd = INFINITY;
    for (int c = 0; c < 256; c++) {
        double d = fabs(ref_decode(c, b) - v);
        if (d < bd) bd = d, best = c;
    }
    return best;
}

static void test_af8_matmul(void **state) {
    (void)state;
    uint64_t s = 77;
    const int cfg[][3] = {{4, 64, 24}, {3, 100, 7}, {2, 768, 16}, {1, 17, 1}}; /* N, C, OC */
    for (size_t t = 0; t < sizeof cfg / sizeof cfg[0]; t++) {
        int N = cfg[t][0], C = cfg[t][1], OC = cfg[t][2];
        float *w = malloc(sizeof(float) * C * OC), *x = malloc(sizeof(float) * N * C);
        float *b = malloc(sizeof(float) * OC), *yf = malloc(sizeof(float) * N * OC);
        float *rf = malloc(sizeof(float) * N * OC);
        uint8_t *xc = malloc((size_t)N * C), *yc = malloc((size_t)N * OC);
        fill_sparse(w, (size_t)C * OC, 0.6, &s);
        for (int i = 0; i < N * C; i++)
            x[i] = (eb_test_uniform(&s) * 2 - 1) * 3;
        for (int o = 0; o < OC; o++)
            b[o] = eb_test_uniform(&s) - 0.5f;
        int xb = eb_af8_choose_bias(x, (size_t)N * C);
        eb_af8_encode(xc, x, (size_t)N * C, xb, EB_AF8_NEAREST);
        eb_bitmask wa;
        assert_int_equal(eb_bitmask_encode_af8(&wa, w, OC, C, -1, EB_AF8_NEAREST, NULL, NULL),
                         EB_OK);
        uint8_t *wc = malloc((size_t)C * OC);
        assert_int_equal(eb_bitmask_decode_codes(&wa, wc, NULL), EB_OK);
        int yb = -1;
        assert_int_equal(eb_af8_matmul(yc, &yb, yf, xc, xb, &wa, b, N, NULL, NULL), EB_OK);
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) {
                long double acc = 0;
                for (int c = 0; c < C; c++)
                    acc += (long double)ref_decode(wc[o * C + c], wa.af8_bias) *
                           ref_decode(xc[n * C + c], xb);
                acc += b[o];
                rf[n * OC + o] = (float)acc;
            }
        for (int i = 0; i < N * OC; i++)
            assert_true(yf[i] == rf[i]);
        assert_int_equal(yb, ref_bias(rf, (size_t)N * OC));
        for (int i = 0; i < N * OC; i++) {
            int want = ref_nearest_code(rf[i], yb);
            /* same value (the two zero codes are equal) */
            assert_true(ref_decode(yc[i], yb) == ref_decode(want, yb));
        }
        /* without y_float, same codes */
        uint8_t *yc2 = malloc((size_t)N * OC);
        assert_int_equal(eb_af8_matmul(yc2, NULL, NULL, xc, xb, &wa, b, N, NULL, NULL), EB_OK);
        assert_memory_equal(yc, yc2, (size_t)N * OC);
        eb_error err;
        eb_bitmask wf;
        assert_int_equal(eb_bitmask_encode_f32(&wf, w, OC, C, NULL, NULL), EB_OK);
        assert_int_equal(eb_af8_matmul(yc2, NULL, NULL, xc, xb, &wf, b, N, NULL, &err), EB_ERR_ARG);
        eb_bitmask_free(&wf);
        eb_bitmask_free(&wa);
        free(w), free(x), free(b), free(yf), free(rf), free(xc), free(yc), free(yc2), free(wc);
    }
}

static void test_af8_matmul_fast(void **state) {
    (void)state;
    uint64_t s = 78;
    const int cfg[][4] = {{16, 768, 96, 30}, {40, 256, 64, 90}, {3, 128, 50, 50}}; /* N C OC %d */
    for (size_t t = 0; t < sizeof cfg / sizeof cfg[0]; t++) {
        int N = cfg[t][0], C = cfg[t][1], OC = cfg[t][2];
        float *w = malloc(sizeof(float) * C * OC), *x = malloc(sizeof(float) * N * C);
        float *b = malloc(sizeof(float) * OC), *y1 = malloc(sizeof(float) * N * OC);
        float *y2 = malloc(sizeof(float) * N * OC);
        uint8_t *xc = malloc((size_t)N * C), *c1 = malloc((size_t)N * OC),
                *c2 = malloc((size_t)N * OC);
        fill_sparse(w, (size_t)C * OC, cfg[t][3] / 100.0, &s);
        for (int i = 0; i < N * C; i++)
            x[i] = eb_test_uniform(&s) * 2 - 1;
        for (int o = 0; o < OC; o++)
            b[o] = eb_test_uniform(&s) - 0.5f;
        int xb = eb_af8_choose_bias(x, (size_t)N * C);
        eb_af8_encode(xc, x, (size_t)N * C, xb, EB_AF8_NEAREST);
        eb_bitmask wa;
        assert_int_equal(eb_bitmask_encode_af8(&wa, w, OC, C, -1, EB_AF8_NEAREST, NULL, NULL),
                         EB_OK);
        int b1, b2;
        assert_int_equal(eb_af8_matmul(c1, &b1, y1, xc, xb, &wa, b, N, NULL, NULL), EB_OK);
        assert_int_equal(eb_af8_matmul_fast(c2, &b2, y2, xc, xb, &wa, b, N, NULL, NULL), EB_OK);
        assert_int_equal(b1, b2);
        int diff = 0;
        for (int i = 0; i < N * OC; i++) {
            assert_float_equal(y1[i], y2[i], 1e-5 + 1e-5 * fabsf(y1[i]));
            if (c1[i] != c2[i]) {
                diff++;
                /* one AF8 step apart at most (same sign: adjacent codes) */
                assert_true(abs((int)(c1[i] & 0x7f) - (int)(c2[i] & 0x7f)) <= 1);
            }
        }
        assert_true(diff * 100 <= N * OC); /* rare */
        eb_bitmask_free(&wa);
        free(w), free(x), free(b), free(y1), free(y2), free(xc), free(c1), free(c2);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sparse_vs_dense),
        cmocka_unit_test(test_prefer_rule),
        cmocka_unit_test(test_af8_matmul),
        cmocka_unit_test(test_af8_matmul_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
