/* test_kernels_fast.c - the SIMD / dispatched kernels against independent
 * double-precision references written here (and against the scalar _ref
 * kernels), for every implementation this CPU can run: AVX-512, AVX2/FMA, NEON,
 * the plain C tiles and the OpenBLAS fallback. */
#include "testutil.h"

#include <float.h>
#include <math.h>

#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "util/util.h"

static void fill(float *x, size_t n, uint64_t *s, float scale) {
    for (size_t i = 0; i < n; i++)
        x[i] = (eb_test_uniform(s) * 2 - 1) * scale;
}

static double gelu_new_d(double v) {
    return 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
}
static double gelu_erf_d(double v) {
    return 0.5 * v * (1 + erf(v / sqrt(2.0)));
}
static double act_d(double v, eb_epilogue ep) {
    switch (ep) {
    case EB_EPI_GELU_NEW: return gelu_new_d(v);
    case EB_EPI_GELU_ERF: return gelu_erf_d(v);
    case EB_EPI_RELU: return v > 0 ? v : 0;
    default: return v;
    }
}

/* out = act(x w^T + b) in double, with row strides. */
static void gemm_d(double *out, int ldo, const float *x, int ldx, const float *w, int ldw,
                   const float *b, int N, int C, int OC, eb_epilogue ep) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = b ? b[o] : 0;
            for (int c = 0; c < C; c++)
                s += (double)x[(size_t)n * ldx + c] * w[(size_t)o * ldw + c];
            out[(size_t)n * ldo + o] = act_d(s, ep);
        }
}

static const eb_gemm_impl impls[] = {EB_GEMM_AUTO,   EB_GEMM_BLAS,   EB_GEMM_AVX2,
                                     EB_GEMM_AVX512, EB_GEMM_SCALAR, EB_GEMM_NEON};

static void test_cpu_dispatch(void **state) {
    (void)state;
    eb_gemm_impl b = eb_gemm_best_impl();
    if (eb_cpu_has_avx512())
        assert_int_equal(b, EB_GEMM_AVX512);
    else if (eb_cpu_has_avx2())
        assert_int_equal(b, EB_GEMM_AVX2);
    else if (eb_cpu_has_neon())
        assert_int_equal(b, EB_GEMM_NEON);
    else
        assert_int_equal(b, EB_GEMM_BLAS);
    printf("# best GEMM implementation on this CPU: %s (avx512 %d, avx2 %d)\n",
           eb_gemm_impl_name(b), eb_cpu_has_avx512(), eb_cpu_has_avx2());
    assert_string_equal(eb_gemm_impl_name(EB_GEMM_SCALAR), "scalar");
    assert_string_equal(eb_gemm_impl_name(EB_GEMM_NEON), "neon");
#if defined(__aarch64__) && !defined(EB_NO_SIMD)
    assert_true(eb_cpu_has_neon()); /* every AArch64 Linux CPU has Advanced SIMD */
#endif
}

/* Every implementation, ragged shapes, with and without bias, each epilogue. */
static void test_gemm_all_impls(void **state) {
    (void)state;
    uint64_t s = 1234;
    const int shapes[][3] = {{1, 1, 1},     {1, 7, 5},      {3, 16, 4},    {5, 17, 9},
                             {4, 33, 8},    {16, 64, 48},   {17, 130, 13}, {2, 768, 3},
                             {33, 768, 37}, {16, 1031, 20}, {100, 40, 24}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int N = shapes[t][0], C = shapes[t][1], OC = shapes[t][2];
        float *x = malloc(sizeof(float) * N * C), *w = malloc(sizeof(float) * OC * C);
        float *b = malloc(sizeof(float) * OC), *y = malloc(sizeof(float) * N * OC);
        double *r = malloc(sizeof(double) * N * OC);
        fill(x, (size_t)N * C, &s, 1);
        fill(w, (size_t)OC * C, &s, 1.0f / sqrtf((float)C));
        fill(b, OC, &s, 0.5f);
        for (size_t ii = 0; ii < sizeof impls / sizeof impls[0]; ii++)
            for (int withb = 0; withb < 2; withb++)
                for (int ep = EB_EPI_NONE; ep <= EB_EPI_RELU; ep++) {
                    for (int i = 0; i < N * OC; i++)
                        y[i] = NAN; /* every output must be written */
                    eb_gemm_nt(impls[ii], y, x, w, withb ? b : NULL, N, C, OC, (eb_epilogue)ep);
                    gemm_d(r, OC, x, C, w, C, withb ? b : NULL, N, C, OC, (eb_epilogue)ep);
                    for (int i = 0; i < N * OC; i++)
                        if (!(fabs(y[i] - r[i]) <= 2e-5 * (1 + fabs(r[i])))) {
                            print_error("impl %s shape %dx%dx%d bias %d ep %d: [%d] %g vs %g\n",
                                        eb_gemm_impl_name(impls[ii]), N, C, OC, withb, ep, i,
                                        (double)y[i], r[i]);
                            fail();
                        }
                }
        free(x), free(w), free(b), free(y), free(r);
    }
}

/* Strided operands, no threads (as attention uses it), and eb_matmul /
 * eb_matmul_act against the scalar eb_matmul_ref. */
static void test_gemm_strided_and_wrappers(void **state) {
    (void)state;
    uint64_t s = 99;
    enum { N = 21, C = 40, OC = 19, LDX = 52, LDW = 47, LDO = 25 };
    float x[N * LDX], w[OC * LDW], b[OC], y[N * LDO], ref[N * OC], y2[N * OC];
    double r[N * LDO];
    fill(x, sizeof x / sizeof x[0], &s, 1);
    fill(w, sizeof w / sizeof w[0], &s, 0.2f);
    fill(b, OC, &s, 0.3f);
    for (size_t ii = 0; ii < sizeof impls / sizeof impls[0]; ii++) {
        for (int i = 0; i < N * LDO; i++)
            y[i] = -777.0f;
        eb_gemm_nt_ex(impls[ii], y, LDO, x, LDX, w, LDW, b, N, C, OC, EB_EPI_NONE, ii % 2);
        gemm_d(r, LDO, x, LDX, w, LDW, b, N, C, OC, EB_EPI_NONE);
        for (int n = 0; n < N; n++)
            for (int o = 0; o < LDO; o++) {
                float got = y[n * LDO + o];
                if (o >= OC)
                    assert_float_equal(got, -777.0f, 0); /* padding untouched */
                else
                    assert_float_equal(got, r[n * LDO + o], 2e-5 * (1 + fabs(r[n * LDO + o])));
            }
    }
    /* contiguous wrappers */
    float xc[N * C], wc[OC * C];
    for (int n = 0; n < N; n++)
        memcpy(xc + n * C, x + n * LDX, sizeof(float) * C);
    for (int o = 0; o < OC; o++)
        memcpy(wc + o * C, w + o * LDW, sizeof(float) * C);
    eb_matmul_ref(ref, xc, wc, b, N, C, OC);
    eb_matmul(y2, xc, wc, b, N, C, OC);
    for (int i = 0; i < N * OC; i++)
        assert_float_equal(y2[i], ref[i], 2e-5 * (1 + fabs(ref[i])));
    eb_matmul_act(y2, xc, wc, b, N, C, OC, EB_EPI_GELU_NEW);
    eb_gelu_new_ref(ref, (size_t)N * OC);
    for (int i = 0; i < N * OC; i++)
        assert_float_equal(y2[i], ref[i], 3e-5 * (1 + fabs(ref[i])));
}

/* A product big enough to use the OpenMP team (and the BLAS switch). */
static void test_gemm_large_threaded(void **state) {
    (void)state;
    uint64_t s = 5;
    const int Ns[] = {64, 128};
    for (int k = 0; k < 2; k++) {
        const int N = Ns[k], C = 256, OC = 300;
        float *x = malloc(sizeof(float) * N * C), *w = malloc(sizeof(float) * OC * C);
        float *b = malloc(sizeof(float) * OC), *y = malloc(sizeof(float) * N * OC);
        double *r = malloc(sizeof(double) * N * OC);
        fill(x, (size_t)N * C, &s, 1);
        fill(w, (size_t)OC * C, &s, 0.1f);
        fill(b, OC, &s, 0.1f);
        eb_matmul(y, x, w, b, N, C, OC);
        gemm_d(r, OC, x, C, w, C, b, N, C, OC, EB_EPI_NONE);
        for (int i = 0; i < N * OC; i++)
            assert_float_equal(y[i], r[i], 2e-5 * (1 + fabs(r[i])));
        free(x), free(w), free(b), free(y), free(r);
    }
}

/* gelu_new'(x) in double, from the tanh form directly */
static double gelu_new_grad_d(double v) {
    const double s = sqrt(2 / M_PI), t = tanh(s * (v + 0.044715 * v * v * v));
    return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * s * (1 + 3 * 0.044715 * v * v);
}

/* The dispatched GELU backward (AVX-512 here) and the scalar _ref against the double formula,
 * over both tails and every tail length; it accumulates into dinp. */
static void test_gelu_backward_fast(void **state) {
    (void)state;
    enum { n = 2003 };
    static float x[n], g[n], a[n], b[n];
    uint64_t s = 17;
    for (int i = 0; i < n; i++)
        x[i] = -12.0f + 24.0f * (float)i / (n - 1);
    x[7] = 0, x[8] = 1e-30f, x[9] = -1e-30f, x[10] = 88.0f, x[11] = -90.0f, x[12] = 1e-4f;
    fill(g, n, &s, 2.0f);
    fill(a, n, &s, 1.0f);
    memcpy(b, a, sizeof b);
    static float a0[n];
    memcpy(a0, a, sizeof a0);
    eb_gelu_new_backward(a, g, x, n);
    eb_gelu_new_backward_ref(b, g, x, n);
    /* without AVX-512 (aarch64, old x86) the dispatcher runs the scalar ref: its tolerance */
    const double fast_tol = eb_cpu_has_avx512() ? 2e-6 : 1e-5;
    for (int i = 0; i < n; i++) {
        double r = a0[i] + (double)g[i] * gelu_new_grad_d(x[i]);
        /* the scalar ref forms 1 + tanh u as 2 - 2/(e^{2u} + 1): it cancels for u << 0 */
        if (!(fabs(a[i] - r) <= fast_tol * (1 + fabs(r))) ||
            !(fabs(b[i] - r) <= 1e-5 * (1 + fabs(r)))) {
            print_error("x=%.9g: fast %.9g ref %.9g double %.9g\n", (double)x[i], (double)a[i],
                        (double)b[i], r);
            fail();
        }
    }
    for (size_t len = 1; len < 20; len++) {
        float v[20], u[20], d[20];
        for (size_t i = 0; i < len; i++)
            v[i] = u[i] = 0.1f * (float)i, d[i] = 0.37f * (float)i - 2.0f;
        eb_gelu_new_backward(v, d, d, len);
        eb_gelu_new_backward_ref(u, d, d, len);
        for (size_t i = 0; i < len; i++)
            assert_float_equal(v[i], u[i], 1e-5);
    }
}

static void test_gelu_fast(void **state) {
    (void)state;
    enum { n = 2003 };
    static float a[n], b[n], x[n];
    for (int i = 0; i < n; i++)
        x[i] = -12.0f + 24.0f * (float)i / (n - 1);
    x[7] = 0, x[8] = 1e-30f, x[9] = -1e-30f, x[10] = 88.0f, x[11] = -90.0f, x[12] = 1e-4f;
    memcpy(a, x, sizeof a);
    memcpy(b, x, sizeof b);
    eb_gelu_new(a, n);
    eb_gelu_erf(b, n);
    for (int i = 0; i < n; i++) {
        double rn = gelu_new_d(x[i]), re = gelu_erf_d(x[i]);
        if (!(fabs(a[i] - rn) <= 1e-6 * (1 + fabs(rn))) ||
            !(fabs(b[i] - re) <= 1e-6 * (1 + fabs(re)))) {
            print_error("x=%g: gelu_new %g vs %g, gelu_erf %g vs %g\n", (double)x[i], (double)a[i],
                        rn, (double)b[i], re);
            fail();
        }
    }
    /* short tails and NaN propagation */
    for (size_t len = 1; len < 20; len++) {
        float v[20], u[20];
        for (size_t i = 0; i < len; i++)
            v[i] = u[i] = 0.37f * (float)i - 2.0f;
        eb_gelu_new(v, len);
        eb_gelu_new_ref(u, len);
        for (size_t i = 0; i < len; i++)
            assert_float_equal(v[i], u[i], 2e-6);
    }
    float nn[3] = {NAN, 1.0f, NAN};
    eb_gelu_new(nn, 3);
    assert_true(isnan(nn[0]) && isnan(nn[2]));
    float ne[3] = {NAN, 1.0f, NAN};
    eb_gelu_erf(ne, 3);
    assert_true(isnan(ne[0]) && isnan(ne[2]));
}

static void ln_d(double *y, const float *x, const float *res, const float *g, const float *b, int C,
                 double eps) {
    double m = 0, v = 0;
    for (int c = 0; c < C; c++)
        m += (double)x[c] + (res ? res[c] : 0);
    m /= C;
    for (int c = 0; c < C; c++) {
        double d = (double)x[c] + (res ? res[c] : 0) - m;
        v += d * d;
    }
    v /= C;
    for (int c = 0; c < C; c++)
        y[c] = ((double)x[c] + (res ? res[c] : 0) - m) / sqrt(v + eps) * g[c] + b[c];
}

static void test_layernorm_fast(void **state) {
    (void)state;
    uint64_t s = 77;
    const int Cs[] = {1, 5, 16, 50, 768, 131};
    for (size_t t = 0; t < sizeof Cs / sizeof Cs[0]; t++) {
        const int N = 3, C = Cs[t];
        float *x = malloc(sizeof(float) * N * C), *r = malloc(sizeof(float) * N * C);
        float *g = malloc(sizeof(float) * C), *b = malloc(sizeof(float) * C);
        float *y = malloc(sizeof(float) * N * C), *z = malloc(sizeof(float) * N * C);
        double *ref = malloc(sizeof(double) * C);
        fill(x, (size_t)N * C, &s, 3);
        for (int i = 0; i < N * C; i++)
            x[i] += 10.0f; /* an offset: the mean matters */
        fill(r, (size_t)N * C, &s, 1);
        fill(g, C, &s, 1);
        fill(b, C, &s, 1);
        eb_layernorm(y, x, g, b, N, C, 1e-12f);
        memcpy(z, x, sizeof(float) * N * C);
        eb_add_layernorm(z, z, r, g, b, N, C, 1e-12f); /* out aliases inp */
        for (int i = 0; i < N; i++) {
            ln_d(ref, x + i * C, NULL, g, b, C, 1e-12);
            for (int c = 0; c < C; c++)
                assert_float_equal(y[i * C + c], ref[c], 2e-4 * (1 + fabs(ref[c])));
            ln_d(ref, x + i * C, r + i * C, g, b, C, 1e-12);
            for (int c = 0; c < C; c++)
                assert_float_equal(z[i * C + c], ref[c], 2e-4 * (1 + fabs(ref[c])));
        }
        /* out aliases res */
        memcpy(z, r, sizeof(float) * N * C);
        eb_add_layernorm(z, x, z, g, b, N, C, 1e-5f);
        for (int i = 0; i < N; i++) {
            ln_d(ref, x + i * C, r + i * C, g, b, C, 1e-5);
            for (int c = 0; c < C; c++)
                assert_float_equal(z[i * C + c], ref[c], 2e-4 * (1 + fabs(ref[c])));
        }
        free(x), free(r), free(g), free(b), free(y), free(z), free(ref);
    }
}

static double span_d(double z, double R, int x) {
    double m = (R + z - x) / R;
    return m < 0 ? 0 : (m > 1 ? 1 : m);
}

static void test_softmax_masked_row(void **state) {
    (void)state;
    uint64_t s = 3;
    const int ns[] = {1, 7, 16, 17, 40};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        const int n = ns[t];
        float row[40], ref_row[40], orig[40];
        uint8_t valid[40];
        for (int j = 0; j < n; j++)
            valid[j] = j % 3 != 1;
        fill(orig, n, &s, 8);
        for (int variant = 0; variant < 4; variant++) {
            const int use_mask = variant & 1, use_span = variant & 2;
            const float z = 3.5f, R = 4.0f;
            const int i = n / 2;
            memcpy(row, orig, sizeof(float) * n);
            memcpy(ref_row, orig, sizeof(float) * n);
            eb_softmax_masked_row(row, n, i, use_mask ? valid : NULL, use_span ? &z : NULL, R);
            eb_softmax_masked_row_ref(ref_row, n, i, use_mask ? valid : NULL, use_span ? &z : NULL,
                                      R);
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < n; j++)
                if (!use_mask || valid[j]) mx = fmax(mx, orig[j]);
            for (int j = 0; j < n; j++)
                if (!use_mask || valid[j]) sum += exp(orig[j] - mx);
            for (int j = 0; j < n; j++) {
                double p = (!use_mask || valid[j]) ? exp(orig[j] - mx) / sum : 0;
                if (use_span) p *= span_d(z, R, abs(i - j));
                assert_float_equal(row[j], p, 2e-6);
                assert_float_equal(ref_row[j], p, 2e-6);
            }
        }
    }
    /* every key masked: all zero, no NaN */
    float row[5] = {1, 2, 3, 4, 5};
    uint8_t none[5] = {0};
    eb_softmax_masked_row(row, 5, 0, none, NULL, 1);
    for (int j = 0; j < 5; j++)
        assert_float_equal(row[j], 0, 0);
}

/* Attention: the fast kernel against the scalar reference and an
 * independent double computation, with masks, spans and heads off. */
static void test_attention_fast(void **state) {
    (void)state;
    uint64_t s = 11;
    /* N >= 32 with HS * N (rounded up to 64) within 16384 floats: the transposed-K
     * outer products for QK^T (N = 64, 100, 130 also cover the 64-key chunks and
     * their tails); N 300 x HS 64 is past it: the dot-product tiles */
    const int cfgs[][3] = {{1, 2, 16},   {5, 3, 64},   {37, 4, 16}, {9, 2, 8},
                           {20, 12, 64}, {13, 2, 24},  {7, 2, 80},  {64, 2, 64},
                           {100, 3, 64}, {130, 2, 32}, {300, 2, 64}};
    for (size_t t = 0; t < sizeof cfgs / sizeof cfgs[0]; t++) {
        const int N = cfgs[t][0], NH = cfgs[t][1], HS = cfgs[t][2], H = NH * HS;
        float *q = malloc(sizeof(float) * N * H), *k = malloc(sizeof(float) * N * H);
        float *v = malloc(sizeof(float) * N * H), *o1 = malloc(sizeof(float) * N * H);
        float *o2 = malloc(sizeof(float) * N * H), *a1 = malloc(sizeof(float) * NH * N * N);
        float *a2 = malloc(sizeof(float) * NH * N * N), *span = malloc(sizeof(float) * NH);
        uint8_t *valid = malloc(N), *on = malloc(NH);
        fill(q, (size_t)N * H, &s, 1);
        fill(k, (size_t)N * H, &s, 1);
        fill(v, (size_t)N * H, &s, 1);
        for (int j = 0; j < N; j++)
            valid[j] = N == 1 || j % 4 != 3;
        for (int h = 0; h < NH; h++)
            span[h] = h == 1 ? -10.0f : 2.0f + 3.0f * h, on[h] = h != NH - 1 || NH < 3;
        for (int variant = 0; variant < 3; variant++) {
            const uint8_t *kv = variant >= 1 ? valid : NULL;
            const float *sp = variant == 2 ? span : NULL;
            const uint8_t *ho = variant == 2 ? on : NULL;
            eb_attention(o1, a1, q, k, v, N, NH, HS, kv, sp, 4.0f, ho, 0);
            eb_attention_ref(o2, a2, q, k, v, N, NH, HS, kv, sp, 4.0f, ho);
            for (int i = 0; i < N * H; i++)
                assert_float_equal(o1[i], o2[i], 2e-5);
            for (int i = 0; i < NH * N * N; i++)
                assert_float_equal(a1[i], a2[i], 2e-6);
            /* independent double check of one head */
            const int h = 0;
            for (int i = 0; i < N; i++) {
                double sc[300], mx = -INFINITY, sum = 0;
                for (int j = 0; j < N; j++) {
                    double d = 0;
                    for (int c = 0; c < HS; c++)
                        d += (double)q[i * H + h * HS + c] * k[j * H + h * HS + c];
                    sc[j] = d / sqrt((double)HS);
                    if (!kv || kv[j]) mx = fmax(mx, sc[j]);
                }
                for (int j = 0; j < N; j++)
                    sum += (!kv || kv[j]) ? exp(sc[j] - mx) : 0;
                for (int c = 0; c < HS; c++) {
                    double acc = 0;
                    for (int j = 0; j < N; j++) {
                        double p = (!kv || kv[j]) ? exp(sc[j] - mx) / sum : 0;
                        if (sp) p *= span_d(sp[h], 4.0, abs(i - j));
                        acc += p * v[j * H + h * HS + c];
                    }
                    assert_float_equal(o1[i * H + h * HS + c], acc, 2e-5);
                }
            }
        }
        free(q), free(k), free(v), free(o1), free(o2), free(a1), free(a2), free(span), free(valid),
            free(on);
    }
}

/* bf16 rounding written independently: nearest with ties to even on the
 * 8-bit significand, in double arithmetic. */
static double bf16_round_d(double x) {
    if (x == 0 || !isfinite(x)) return x;
    int e;
    frexp(x, &e); /* |x| in [2^(e-1), 2^e) */
    double q = ldexp(1.0, e - 8);
    return nearbyint(x / q) * q;
}

static void test_gemm_bf16(void **state) {
    (void)state;
    uint64_t s = 21;
    const int shapes[][3] = {{1, 2, 1},   {5, 30, 3},    {4, 32, 4},
                             {16, 34, 9}, {16, 768, 20}, {3, 7, 5}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int N = shapes[t][0], C = shapes[t][1], OC = shapes[t][2];
        float *x = malloc(sizeof(float) * N * C), *wf = malloc(sizeof(float) * OC * C);
        float *b = malloc(sizeof(float) * OC), *y = malloc(sizeof(float) * N * OC);
        float *yr = malloc(sizeof(float) * N * OC);
        uint16_t *w = malloc(sizeof(uint16_t) * OC * C), *xb = malloc(sizeof(uint16_t) * N * C);
        fill(x, (size_t)N * C, &s, 2);
        fill(wf, (size_t)OC * C, &s, 0.5f);
        fill(b, OC, &s, 0.5f);
        eb_f32_to_bf16_array(w, wf, (size_t)OC * C);
        for (int i = 0; i < OC * C; i++)
            assert_float_equal(eb_bf16_to_f32(w[i]), bf16_round_d(wf[i]), 0);
        for (int ep = EB_EPI_NONE; ep <= EB_EPI_GELU_NEW; ep++) {
            int simd = eb_gemm_bf16(y, x, w, b, N, C, OC, (eb_epilogue)ep, xb, 0);
            assert_int_equal(simd, eb_cpu_has_avx512_bf16() && C % 2 == 0);
            eb_gemm_bf16_ref(yr, x, w, b, N, C, OC);
            for (int n = 0; n < N; n++)
                for (int o = 0; o < OC; o++) {
                    double r = b[o];
                    for (int c = 0; c < C; c++)
                        r += bf16_round_d(x[n * C + c]) * bf16_round_d(wf[o * C + c]);
                    r = act_d(r, (eb_epilogue)ep);
                    assert_float_equal(y[n * OC + o], r, 2e-5 * (1 + fabs(r)));
                    if (ep == EB_EPI_NONE)
                        assert_float_equal(yr[n * OC + o], r, 1e-5 * (1 + fabs(r)));
                }
        }
        free(x), free(wf), free(b), free(y), free(yr), free(w), free(xb);
    }
}

static void test_gemm_packed(void **state) {
    (void)state;
    uint64_t s = 31;
    const int shapes[][3] = {{1, 1, 1},     {3, 5, 47},    {8, 16, 48}, {9, 33, 49},
                             {17, 64, 100}, {16, 768, 96}, {4, 7, 3},   {37, 300, 100}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int N = shapes[t][0], C = shapes[t][1], OC = shapes[t][2];
        float *x = malloc(sizeof(float) * N * C), *w = malloc(sizeof(float) * OC * C);
        float *b = malloc(sizeof(float) * OC), *y = malloc(sizeof(float) * N * OC);
        double *r = malloc(sizeof(double) * N * OC);
        const size_t pf = eb_pack_floats(C, OC);
        assert_int_equal(pf, (size_t)((OC + EB_PACK_NR - 1) / EB_PACK_NR) * EB_PACK_NR * C);
        float *wp = aligned_alloc(64, (pf * sizeof(float) + 63) / 64 * 64 + 64);
        fill(x, (size_t)N * C, &s, 1);
        fill(w, (size_t)OC * C, &s, 0.3f);
        fill(b, OC, &s, 0.5f);
        eb_pack_weights(wp, w, C, OC);
        for (int withb = 0; withb < 2; withb++)
            for (int ep = EB_EPI_NONE; ep <= EB_EPI_RELU; ep++) {
                for (int i = 0; i < N * OC; i++)
                    y[i] = NAN;
                eb_gemm_packed(y, x, wp, withb ? b : NULL, N, C, OC, (eb_epilogue)ep, 0);
                gemm_d(r, OC, x, C, w, C, withb ? b : NULL, N, C, OC, (eb_epilogue)ep);
                for (int i = 0; i < N * OC; i++)
                    assert_float_equal(y[i], r[i], 2e-5 * (1 + fabs(r[i])));
                if (ep == EB_EPI_NONE) { /* the scalar reference on the packed layout */
                    eb_gemm_packed_ref(y, x, wp, withb ? b : NULL, N, C, OC);
                    for (int i = 0; i < N * OC; i++)
                        assert_float_equal(y[i], r[i], 1e-5 * (1 + fabs(r[i])));
                }
            }
        /* an unaligned panel takes the portable path and still agrees */
        float *wu = malloc((pf + 1) * sizeof(float));
        memcpy(wu + 1, wp, pf * sizeof(float));
        eb_gemm_packed(y, x, wu + 1, b, N, C, OC, EB_EPI_NONE, 0);
        gemm_d(r, OC, x, C, w, C, b, N, C, OC, EB_EPI_NONE);
        for (int i = 0; i < N * OC; i++)
            assert_float_equal(y[i], r[i], 1e-5 * (1 + fabs(r[i])));
        free(wu), free(x), free(w), free(b), free(y), free(r), free(wp);
    }
}

/* Packed bf16 weights: every column of every panel (partial last panels,
 * row counts around the 8- and 4-row tiles), bias, epilogues and thread
 * counts, against bf16-rounded inputs and weights summed in double here; the
 * packing itself checked element by element. */
static void test_gemm_packed_bf16(void **state) {
    (void)state;
    uint64_t s = 41;
    const int shapes[][3] = {{1, 2, 1},   {3, 6, 47},     {8, 16, 48},
                             {9, 34, 49}, {17, 64, 100},  {16, 768, 96},
                             {5, 2, 3},   {37, 300, 100}, {12, 256, 1024}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int N = shapes[t][0], C = shapes[t][1], OC = shapes[t][2];
        float *x = malloc(sizeof(float) * N * C), *w = malloc(sizeof(float) * OC * C);
        float *b = malloc(sizeof(float) * OC), *y = malloc(sizeof(float) * N * OC);
        uint16_t *xb = malloc(sizeof(uint16_t) * N * C);
        const size_t pc = eb_pack_bf16_count(C, OC);
        assert_int_equal(pc, (size_t)((OC + EB_PACK_NR - 1) / EB_PACK_NR) * EB_PACK_NR * C);
        uint16_t *wp = aligned_alloc(64, (pc * sizeof(uint16_t) + 63) / 64 * 64 + 64);
        fill(x, (size_t)N * C, &s, 2);
        fill(w, (size_t)OC * C, &s, 0.5f);
        fill(b, OC, &s, 0.5f);
        eb_pack_bf16(wp, w, C, OC);
        for (int o = 0; o < (OC + EB_PACK_NR - 1) / EB_PACK_NR * EB_PACK_NR; o++)
            for (int c = 0; c < C; c++) {
                const uint16_t v =
                    wp[(size_t)(o / EB_PACK_NR) * EB_PACK_NR * C +
                       (size_t)(c / 2) * 2 * EB_PACK_NR + 2 * (o % EB_PACK_NR) + c % 2];
                assert_float_equal(eb_bf16_to_f32(v), o < OC ? bf16_round_d(w[o * C + c]) : 0, 0);
            }
        for (int withb = 0; withb < 2; withb++)
            for (int ep = EB_EPI_NONE; ep <= EB_EPI_RELU; ep++) {
                for (int i = 0; i < N * OC; i++)
                    y[i] = NAN;
                const int simd = eb_gemm_packed_bf16(y, x, wp, withb ? b : NULL, N, C, OC,
                                                     (eb_epilogue)ep, xb, ep % 2 ? 1 : 0);
                assert_int_equal(simd, eb_cpu_has_avx512_bf16());
                for (int n = 0; n < N; n++)
                    for (int o = 0; o < OC; o++) {
                        double r = withb ? b[o] : 0;
                        for (int c = 0; c < C; c++)
                            r += bf16_round_d(x[n * C + c]) * bf16_round_d(w[o * C + c]);
                        r = act_d(r, (eb_epilogue)ep);
                        assert_float_equal(y[n * OC + o], r, 2e-5 * (1 + fabs(r)));
                    }
                if (ep == EB_EPI_NONE) { /* the scalar reference on the packed layout */
                    eb_gemm_packed_bf16_ref(y, x, wp, withb ? b : NULL, N, C, OC);
                    for (int n = 0; n < N; n++)
                        for (int o = 0; o < OC; o++) {
                            double r = withb ? b[o] : 0;
                            for (int c = 0; c < C; c++)
                                r += bf16_round_d(x[n * C + c]) * bf16_round_d(w[o * C + c]);
                            assert_float_equal(y[n * OC + o], r, 1e-5 * (1 + fabs(r)));
                        }
                }
            }
        free(x), free(w), free(b), free(y), free(xb), free(wp);
    }
}

/* The three products of a linear layer in training (forward, backward-data,
 * backward-weight) through eb_bf16_rows / eb_pack_bf16_ex / eb_gemm_bf16_pp:
 * against the same sum of bf16-rounded operands in double (tight), against
 * the fp32 product within the bf16 rounding bound (each operand off by at
 * most u = 2^-8 relative, bf16 keeping 8 significant bits: |err| <= (2u + u^2) sum |a b|), with
 * accumulation into existing values, odd K and column counts off the
 * 48-column panels, and the packed layout checked element by element. */
static void test_gemm_bf16_train(void **state) {
    (void)state;
    uint64_t s = 43;
    const int shapes[][3] = {{1, 1, 1}, {3, 5, 47}, {8, 16, 48}, {9, 33, 49}, {37, 300, 100},
                             {45, 70, 33}, {64, 128, 256}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int N = shapes[t][0], C = shapes[t][1], OC = shapes[t][2];
        float *x = malloc(sizeof(float) * N * C), *w = malloc(sizeof(float) * OC * C);
        float *dy = malloc(sizeof(float) * N * OC), *b = malloc(sizeof(float) * OC);
        fill(x, (size_t)N * C, &s, 2);
        fill(w, (size_t)OC * C, &s, 0.5f);
        fill(dy, (size_t)N * OC, &s, 1);
        fill(b, OC, &s, 0.5f);
        for (int kind = 0; kind < 3; kind++) {
            /* out[M,NC] (+)= A[M,K] B[K,NC]; A(m,k) = a[m*ar + k*ak], B(k,j) = bsrc[j*bc + k*bk] */
            int M, K, NC;
            const float *a, *bsrc;
            size_t ar, ak, bc, bk;
            if (kind == 0) { /* y = x w^T */
                M = N, K = C, NC = OC, a = x, ar = C, ak = 1, bsrc = w, bc = C, bk = 1;
            } else if (kind == 1) { /* dx += dy w */
                M = N, K = OC, NC = C, a = dy, ar = OC, ak = 1, bsrc = w, bc = 1, bk = C;
            } else { /* dw += dy^T x */
                M = OC, K = N, NC = C, a = dy, ar = 1, ak = OC, bsrc = x, bc = 1, bk = C;
            }
            const int Kp = K + (K & 1);
            uint16_t *ab = malloc(sizeof(uint16_t) * M * Kp);
            const size_t pc = eb_pack_bf16_ex_count(K, NC);
            assert_int_equal(pc, (size_t)((NC + EB_PACK_NR - 1) / EB_PACK_NR) * EB_PACK_NR * Kp);
            uint16_t *bp = aligned_alloc(64, (pc * sizeof(uint16_t) + 63) / 64 * 64);
            eb_bf16_rows(ab, a, M, K, ar, ak);
            eb_pack_bf16_ex(bp, bsrc, K, NC, bc, bk);
            for (int m = 0; m < M; m++)
                for (int k = 0; k < Kp; k++)
                    assert_float_equal(eb_bf16_to_f32(ab[(size_t)m * Kp + k]),
                                       k < K ? bf16_round_d(a[m * ar + k * ak]) : 0, 0);
            for (int j = 0; j < (NC + EB_PACK_NR - 1) / EB_PACK_NR * EB_PACK_NR; j++)
                for (int k = 0; k < Kp; k++) {
                    const uint16_t v =
                        bp[(size_t)(j / EB_PACK_NR) * EB_PACK_NR * Kp +
                           (size_t)(k / 2) * 2 * EB_PACK_NR + 2 * (j % EB_PACK_NR) + k % 2];
                    assert_float_equal(eb_bf16_to_f32(v),
                                       j < NC && k < K ? bf16_round_d(bsrc[j * bc + k * bk]) : 0,
                                       0);
                }
            float *out = malloc(sizeof(float) * M * NC), *prev = malloc(sizeof(float) * M * NC);
            for (int add = 0; add < 2; add++)
                for (int impl = 0; impl < 2; impl++) {
                    fill(prev, (size_t)M * NC, &s, 1);
                    memcpy(out, prev, sizeof(float) * M * NC);
                    const float *bias = add ? NULL : (NC == OC ? b : NULL);
                    if (impl == 0) {
                        const int simd =
                            eb_gemm_bf16_pp(out, NC, ab, bp, bias, M, K, NC, add, add ? 1 : 0);
                        assert_int_equal(simd, eb_cpu_has_avx512_bf16());
                    } else {
                        eb_gemm_bf16_pp_ref(out, NC, ab, bp, bias, M, K, NC, add);
                    }
                    for (int m = 0; m < M; m++)
                        for (int j = 0; j < NC; j++) {
                            double rb = bias ? bias[j] : 0, rf = rb, mag = 0;
                            for (int k = 0; k < K; k++) {
                                const double av = a[m * ar + k * ak], bv = bsrc[j * bc + k * bk];
                                rb += bf16_round_d((float)av) * bf16_round_d((float)bv);
                                rf += av * bv;
                                mag += fabs(av * bv);
                            }
                            const double p = add ? prev[m * NC + j] : 0, y = out[m * NC + j];
                            assert_float_equal(y, p + rb, 1e-5 * (1 + fabs(p) + mag));
                            assert_true(fabs(y - (p + rf)) <=
                                        (2.0 / 256 + 1.0 / 65536) * mag + 1e-5 * (1 + fabs(p)));
                        }
                }
            free(ab), free(bp), free(out), free(prev);
        }
        free(x), free(w), free(dy), free(b);
    }
}

/* Zero statistics: the dispatched kernel, the scalar reference and a count
 * written here agree on lengths around the 16-value vectors, with zero
 * vectors, a -0.0, a NaN (non-zero) and an unaligned start. */
static void test_count_nonzero16(void **state) {
    (void)state;
    uint64_t rng = 11;
    float x[200];
    for (int len = 0; len <= 70; len++)
        for (int start = 0; start < 3; start++) {
            float *p = x + start;
            for (int i = 0; i < len; i++) {
                float u = eb_test_uniform(&rng);
                p[i] = u < 0.5f ? 0.0f : u;
            }
            if (len > 40) memset(p + 16, 0, 16 * sizeof(float)); /* one all-zero vector */
            if (len > 3) p[3] = -0.0f;
            if (len > 5) p[5] = NAN;
            double nz = 0, zv = 0, nz_r = 0, zv_r = 0;
            eb_count_nonzero16(p, (size_t)len, &nz, &zv);
            eb_count_nonzero16_ref(p, (size_t)len, &nz_r, &zv_r);
            int want_nz = 0, want_zv = 0;
            for (int c0 = 0; c0 < len; c0 += 16) {
                int k = 0;
                for (int c = c0; c < len && c < c0 + 16; c++)
                    k += !(p[c] == 0.0f); /* NaN != 0 */
                want_nz += k;
                want_zv += k == 0;
            }
            assert_int_equal((int)nz, want_nz);
            assert_int_equal((int)zv, want_zv);
            assert_int_equal((int)nz_r, want_nz);
            assert_int_equal((int)zv_r, want_zv);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_dispatch),
        cmocka_unit_test(test_gemm_all_impls),
        cmocka_unit_test(test_gemm_strided_and_wrappers),
        cmocka_unit_test(test_gemm_large_threaded),
        cmocka_unit_test(test_gelu_fast),
        cmocka_unit_test(test_gelu_backward_fast),
        cmocka_unit_test(test_layernorm_fast),
        cmocka_unit_test(test_softmax_masked_row),
        cmocka_unit_test(test_attention_fast),
        cmocka_unit_test(test_gemm_bf16),
        cmocka_unit_test(test_gemm_packed),
        cmocka_unit_test(test_gemm_packed_bf16),
        cmocka_unit_test(test_gemm_bf16_train),
        cmocka_unit_test(test_count_nonzero16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
