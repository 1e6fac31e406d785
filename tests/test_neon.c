/* test_neon.c - the SIMD kernels of src/kernels/neon.h (NEON, fp16fml, bf16
 * on aarch64; scalar elsewhere) at every level the CPU runs, against
 * references computed here in double precision from the same inputs. */
#include "testutil.h"

#include <math.h>

#include "kernels/neon.h"
#include "util/util.h"

static void fill(float *x, size_t n, uint64_t *rng, float scale) {
    for (size_t i = 0; i < n; i++)
        x[i] = scale * (eb_test_uniform(rng) * 2 - 1);
}

static double dot_ref(const float *a, const float *b, size_t n, double *mag) {
    double s = 0, m = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i], m += fabs((double)a[i] * b[i]);
    *mag = m;
    return s;
}

/* fp32 accumulation of n products: |error| <= ~n eps sum|ab|; 2e-6 * sqrt(n)
 * covers pairwise and sequential orders at these sizes. */
static void check_close(double got, double want, double mag, size_t n) {
    double tol = 1e-6 * (2 + sqrt((double)n)) * (mag + 1e-30);
    if (fabs(got - want) > tol) fail_msg("n=%zu: %.9g vs %.9g (tol %.3g)", n, got, want, tol);
}

static void test_levels(void **state) {
    (void)state;
    eb_simd_level best = eb_simd_best();
    printf("simd: best level %s\n", eb_simd_level_name(best));
#if defined(__aarch64__)
    assert_true(best >= EB_SIMD_NEON); /* AArch64 always has Advanced SIMD */
#else
    assert_int_equal(best, EB_SIMD_SCALAR);
#endif
    for (int l = EB_SIMD_SCALAR; l <= EB_SIMD_BF16; l++) {
        eb_simd_ops o = eb_simd_ops_for((eb_simd_level)l);
        assert_true((int)o.level <= (int)best && (int)o.level <= l);
        assert_non_null(o.dot_f32);
        assert_non_null(o.linear_f32);
        assert_non_null(o.add_f32);
        assert_non_null(o.dot_f16);
        assert_non_null(o.dot_bf16);
    }
    assert_int_equal(eb_simd_ops_for(EB_SIMD_SCALAR).level, EB_SIMD_SCALAR);
    assert_ptr_equal(eb_simd_ops_for(EB_SIMD_SCALAR).dot_f32, eb_dot_f32_scalar);
}

static void test_dot_f32(void **state) {
    (void)state;
    uint64_t rng = 3;
    float a[1031], b[1031];
    size_t sizes[] = {0, 1, 3, 4, 7, 15, 16, 17, 33, 64, 100, 768, 1031};
    for (int l = EB_SIMD_SCALAR; l <= EB_SIMD_BF16; l++) {
        eb_simd_ops o = eb_simd_ops_for((eb_simd_level)l);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            size_t n = sizes[k];
            fill(a, n, &rng, 2.0f);
            fill(b, n, &rng, 0.5f);
            double mag, want = dot_ref(a, b, n, &mag);
            check_close(o.dot_f32(a, b, n), want, mag, n);
        }
        /* exact small integers: every order gives the exact answer */
        for (size_t i = 0; i < 37; i++)
            a[i] = (float)(i % 5) - 2, b[i] = (float)(i % 3);
        double mag;
        assert_float_equal(o.dot_f32(a, b, 37), dot_ref(a, b, 37, &mag), 0);
    }
}

static void test_linear_add(void **state) {
    (void)state;
    uint64_t rng = 9;
    int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {4, 16, 8}, {5, 33, 13}, {17, 64, 48}, {2, 130, 4}};
    for (int l = EB_SIMD_SCALAR; l <= EB_SIMD_BF16; l++) {
        eb_simd_ops o = eb_simd_ops_for((eb_simd_level)l);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int N = shapes[s][0], C = shapes[s][1], OC = shapes[s][2];
            float *x = malloc(sizeof(float) * N * C), *w = malloc(sizeof(float) * OC * C);
            float *bias = malloc(sizeof(float) * OC), *y = malloc(sizeof(float) * N * OC);
            fill(x, (size_t)N * C, &rng, 1.0f);
            fill(w, (size_t)OC * C, &rng, 0.3f);
            fill(bias, (size_t)OC, &rng, 0.1f);
            for (int withb = 0; withb < 2; withb++) {
                o.linear_f32(y, x, w, withb ? bias : NULL, N, C, OC);
                for (int i = 0; i < N; i++)
                    for (int j = 0; j < OC; j++) {
                        double mag,
                            want = dot_ref(x + (size_t)i * C, w + (size_t)j * C, (size_t)C, &mag);
                        if (withb) want += bias[j], mag += fabs(bias[j]);
                        check_close(y[(size_t)i * OC + j], want, mag, (size_t)C);
                    }
            }
            /* add: exact */
            float *z = malloc(sizeof(float) * N * C);
            memcpy(z, x, sizeof(float) * N * C);
            o.add_f32(z, w, (size_t)(N < OC ? N : OC) * C);
            for (size_t i = 0; i < (size_t)(N < OC ? N : OC) * C; i++)
                assert_true(z[i] == x[i] + w[i]);
            free(x), free(w), free(bias), free(y), free(z);
        }
    }
}

/* half and bfloat16: products of two 11- (8-) bit significands are exact in
 * fp32, so the reference is the double sum of the decoded values. */
static void test_dot_half(void **state) {
    (void)state;
    uint64_t rng = 21;
    enum { NMAX = 517 };
    float fa[NMAX], fb[NMAX], da[NMAX], db[NMAX], ea[NMAX], eb[NMAX];
    uint16_t ha[NMAX], hb[NMAX], ba[NMAX], bb[NMAX];
    size_t sizes[] = {0, 1, 7, 8, 9, 15, 16, 17, 31, 64, 300, NMAX};
    /* the codecs: spot values known by hand */
    assert_int_equal(eb_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(eb_f32_to_f16(-2.5f), 0xc100);
    assert_int_equal(eb_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(eb_f32_to_bf16(-2.5f), 0xc020);
    for (int l = EB_SIMD_SCALAR; l <= EB_SIMD_BF16; l++) {
        eb_simd_ops o = eb_simd_ops_for((eb_simd_level)l);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            size_t n = sizes[k];
            fill(fa, n, &rng, 4.0f);
            fill(fb, n, &rng, 1.0f);
            for (size_t i = 0; i < n; i++) {
                ha[i] = eb_f32_to_f16(fa[i]), hb[i] = eb_f32_to_f16(fb[i]);
                ba[i] = eb_f32_to_bf16(fa[i]), bb[i] = eb_f32_to_bf16(fb[i]);
                da[i] = eb_f16_to_f32(ha[i]), db[i] = eb_f16_to_f32(hb[i]);
                ea[i] = eb_bf16_to_f32(ba[i]), eb[i] = eb_bf16_to_f32(bb[i]);
            }
            double mag, want = dot_ref(da, db, n, &mag);
            check_close(o.dot_f16(ha, hb, n), want, mag, n);
            want = dot_ref(ea, eb, n, &mag);
            /* BFDOT may round its pair sums differently (Arm ARM: round to odd) */
            double got = o.dot_bf16(ba, bb, n);
            double tol = 4e-6 * (2 + sqrt((double)n)) * (mag + 1e-30);
            if (fabs(got - want) > tol)
                fail_msg("%s bf16 n=%zu: %.9g vs %.9g", o.name, n, got, want);
        }
    }
}

#ifdef EB_NO_BLAS
#include <cblas.h> /* the portable one (src/kernels/noblas) */
/* The portable GEMM behind the CBLAS names: every order and transpose
 * against C[i][j] = alpha sum_p op(A)[i][p] op(B)[p][j] + beta C written out here. */
static void test_portable_gemm(void **state) {
    (void)state;
    uint64_t rng = 5;
    const int M = 5, N = 7, K = 9;
    float A[81], B[81], C[81], C0[81];
    double Ad[81], Bd[81], Cd[81];
    for (int order = 0; order < 2; order++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int rm = order == 0;
                /* leading dimensions with padding */
                int lda = (rm ? (ta ? M : K) : (ta ? K : M)) + 2;
                int ldb = (rm ? (tb ? K : N) : (tb ? N : K)) + 1;
                int ldc = (rm ? N : M) + 3;
                fill(A, 81, &rng, 1.0f);
                fill(B, 81, &rng, 1.0f);
                fill(C0, 81, &rng, 1.0f);
                for (int i = 0; i < 81; i++) Ad[i] = A[i], Bd[i] = B[i], Cd[i] = C0[i];
                memcpy(C, C0, sizeof C);
                float alpha = 0.75f, beta = ta ? 0.5f : 0.0f;
                cblas_sgemm(rm ? CblasRowMajor : CblasColMajor, ta ? CblasTrans : CblasNoTrans,
                            tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta,
                            C, ldc);
                cblas_dgemm(rm ? CblasRowMajor : CblasColMajor, ta ? CblasTrans : CblasNoTrans,
                            tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, Ad, lda, Bd, ldb, beta,
                            Cd, ldc);
#define AT(X, ld, r, c) (rm ? X[(r) * (ld) + (c)] : X[(c) * (ld) + (r)])
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double acc = 0, mag = 0;
                        for (int p = 0; p < K; p++) {
                            double a = ta ? AT(A, lda, p, i) : AT(A, lda, i, p);
                            double b = tb ? AT(B, ldb, j, p) : AT(B, ldb, p, j);
                            acc += a * b, mag += fabs(a * b);
                        }
                        double want = alpha * acc + (beta != 0 ? beta * AT(C0, ldc, i, j) : 0);
                        check_close(AT(C, ldc, i, j), want, mag + 1, (size_t)K);
                        assert_true(fabs(AT(Cd, ldc, i, j) - want) < 1e-12 * (mag + 1));
                    }
#undef AT
            }
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_dot_f32),
        cmocka_unit_test(test_linear_add),
        cmocka_unit_test(test_dot_half),
#ifdef EB_NO_BLAS
        cmocka_unit_test(test_portable_gemm),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
