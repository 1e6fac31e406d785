/* test_kernels.c - every forward kernel against a scalar reference. */
#include "testutil.h"

#include <math.h>

#include "kernels/kernels.h"

static void fill(float *x, size_t n, uint64_t *s, float scale) {
    for (size_t i = 0; i < n; i++)
        x[i] = (eb_test_uniform(s) * 2 - 1) * scale;
}

static void test_matmul_matches_reference(void **state) {
    (void)state;
    uint64_t s = 42;
    int shapes[][3] = {{1, 7, 5}, {16, 64, 48}, {33, 128, 96}, {5, 768, 3}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        int N = shapes[t][0], C = shapes[t][1], OC = shapes[t][2];
        float *x = malloc(sizeof(float) * N * C), *w = malloc(sizeof(float) * OC * C);
        float *b = malloc(sizeof(float) * OC), *y = malloc(sizeof(float) * N * OC),
              *r = malloc(sizeof(float) * N * OC);
        fill(x, (size_t)N * C, &s, 1);
        fill(w, (size_t)OC * C, &s, 0.1f);
        fill(b, OC, &s, 0.5f);
        for (int withb = 0; withb < 2; withb++) {
            eb_matmul(y, x, w, withb ? b : NULL, N, C, OC);
            eb_matmul_ref(r, x, w, withb ? b : NULL, N, C, OC);
            for (int i = 0; i < N * OC; i++)
                assert_float_equal(y[i], r[i], 1e-4f);
        }
        free(x), free(w), free(b), free(y), free(r);
    }
}

static void test_layernorm(void **state) {
    (void)state;
    uint64_t s = 7;
    enum { N = 3, C = 50 };
    float x[N * C], g[C], b[C], y[N * C];
    fill(x, N * C, &s, 3);
    fill(g, C, &s, 1);
    fill(b, C, &s, 1);
    eb_layernorm(y, x, g, b, N, C, 1e-12f);
    for (int i = 0; i < N; i++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++)
            m += x[i * C + c];
        m /= C;
        for (int c = 0; c < C; c++)
            v += (x[i * C + c] - m) * (x[i * C + c] - m);
        v /= C;
        for (int c = 0; c < C; c++) {
            double ref = (x[i * C + c] - m) / sqrt(v + 1e-12) * g[c] + b[c];
            assert_float_equal(y[i * C + c], ref, 1e-5);
        }
    }
}

static void test_activations(void **state) {
    (void)state;
    float xs[] = {-5, -1, -0.1f, 0, 0.3f, 1, 4};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        double v = xs[i];
        float a = xs[i], b = xs[i], c = xs[i];
        eb_gelu_new(&a, 1);
        eb_gelu_erf(&b, 1);
        eb_relu(&c, 1);
        assert_float_equal(a, 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))),
                           1e-6);
        assert_float_equal(b, 0.5 * v * (1 + erf(v / sqrt(2.0))), 1e-6);
        assert_float_equal(c, v > 0 ? v : 0, 0);
    }
}

static void test_entropy_stable(void **state) {
    (void)state;
    float two[2] = {0, 0};
    assert_float_equal(eb_entropy_logits(two, 2), logf(2), 1e-6);
    float big[3] = {1000, 1000, 1000}; /* naive exp overflows */
    assert_float_equal(eb_entropy_logits(big, 3), logf(3), 1e-5);
    float sure[2] = {0, -200};
    assert_true(eb_entropy_logits(sure, 2) < 1e-6f);
    float l[3] = {0.5f, -1, 2};
    double s = 0, h = 0;
    for (int i = 0; i < 3; i++)
        s += exp(l[i]);
    for (int i = 0; i < 3; i++)
        h -= exp(l[i]) / s * log(exp(l[i]) / s);
    assert_float_equal(eb_entropy_logits(l, 3), h, 1e-6);
}

/* Attention against a direct triple loop, with padding, spans and a skipped head. */
static void test_attention(void **state) {
    (void)state;
    uint64_t s = 3;
    enum { N = 9, NH = 3, HS = 4, H = NH * HS };
    float q[N * H], k[N * H], v[N * H], out[N * H], att[NH * N * N];
    fill(q, N * H, &s, 1);
    fill(k, N * H, &s, 1);
    fill(v, N * H, &s, 1);
    uint8_t valid[N];
    for (int i = 0; i < N; i++)
        valid[i] = i < 7;
    float span[NH] = {2.0f, -4.0f, 100.0f}; /* head 1 has span <= -R: off */
    float R = 4;
    uint8_t on[NH] = {1, 1, 1};
    eb_attention(out, att, q, k, v, N, NH, HS, valid, span, R, on, 0);
    for (int h = 0; h < NH; h++)
        for (int i = 0; i < N; i++) {
            double p[N], mx = -1e30, sum = 0;
            for (int j = 0; j < N; j++) {
                double d = 0;
                for (int c = 0; c < HS; c++)
                    d += q[i * H + h * HS + c] * k[j * H + h * HS + c];
                p[j] = d / sqrt(HS);
                if (valid[j] && p[j] > mx) mx = p[j];
            }
            for (int j = 0; j < N; j++)
                sum += valid[j] ? exp(p[j] - mx) : 0;
            for (int c = 0; c < HS; c++) {
                double acc = 0;
                for (int j = 0; j < N; j++) {
                    double m = (R + span[h] - abs(i - j)) / R;
                    m = m < 0 ? 0 : m > 1 ? 1 : m;
                    acc += (valid[j] ? exp(p[j] - mx) / sum : 0) * m * v[j * H + h * HS + c];
                }
                assert_float_equal(out[i * H + h * HS + c], acc, 1e-5);
            }
        }
    assert_true(eb_span_head_off(-4.0f, 4.0f));
    assert_false(eb_span_head_off(-3.9f, 4.0f));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_matches_reference),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_entropy_stable),
        cmocka_unit_test(test_attention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
