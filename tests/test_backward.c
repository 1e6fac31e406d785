/* test_backward.c - every backward kernel against central finite differences
 * of an independent double-precision forward written here.
 *
 * For each kernel: L = sum(out * G) with a fixed random G; the kernel gets
 * dout = G and its gradients are compared with (L(x+h) - L(x-h)) / 2h of the
 * double reference. */
#include "testutil.h"

#include <math.h>

#include "kernels/backward.h"
#include "kernels/kernels.h"

static void fill(double *x, size_t n, uint64_t *s, double scale) {
    for (size_t i = 0; i < n; i++)
        x[i] = (eb_test_uniform(s) * 2 - 1) * scale;
}
static void to_f(float *o, const double *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        o[i] = (float)x[i];
}

typedef double (*loss_fn)(void *ctx);

/* Compare analytic[n] (float) with finite differences of f over x[n]. */
static void check_fd(const char *what, loss_fn f, void *ctx, double *x, const float *analytic,
                     size_t n, double tol) {
    const double h = 1e-6;
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + h;
        double lp = f(ctx);
        x[i] = keep - h;
        double lm = f(ctx);
        x[i] = keep;
        double fd = (lp - lm) / (2 * h);
        double err = fabs(fd - analytic[i]);
        if (err > tol * (1.0 + fabs(fd))) {
            fail_msg("%s[%zu]: analytic %.8g vs finite difference %.8g", what, i, analytic[i], fd);
        }
    }
}

/* ---------------- matmul ---------------- */
enum { MN = 3, MC = 5, MOC = 4 };
typedef struct {
    double x[MN * MC], w[MOC * MC], b[MOC], g[MN * MOC];
} mm_ctx;
static double mm_loss(void *p) {
    mm_ctx *c = p;
    double L = 0;
    for (int n = 0; n < MN; n++)
        for (int o = 0; o < MOC; o++) {
            double y = c->b[o];
            for (int k = 0; k < MC; k++)
                y += c->x[n * MC + k] * c->w[o * MC + k];
            L += y * c->g[n * MOC + o];
        }
    return L;
}
static void test_matmul_backward(void **state) {
    (void)state;
    uint64_t s = 1;
    mm_ctx c;
    fill(c.x, MN * MC, &s, 1), fill(c.w, MOC * MC, &s, 1), fill(c.b, MOC, &s, 1);
    fill(c.g, MN * MOC, &s, 1);
    float x[MN * MC], w[MOC * MC], g[MN * MOC];
    float dx[MN * MC], dw[MOC * MC], db[MOC];
    to_f(x, c.x, MN * MC), to_f(w, c.w, MOC * MC), to_f(g, c.g, MN * MOC);
    /* start from 1 to check that gradients accumulate */
    for (int i = 0; i < MN * MC; i++)
        dx[i] = 1;
    for (int i = 0; i < MOC * MC; i++)
        dw[i] = 1;
    for (int i = 0; i < MOC; i++)
        db[i] = 1;
    eb_matmul_backward(dx, dw, db, g, x, w, MN, MC, MOC);
    for (int i = 0; i < MN * MC; i++)
        dx[i] -= 1;
    for (int i = 0; i < MOC * MC; i++)
        dw[i] -= 1;
    for (int i = 0; i < MOC; i++)
        db[i] -= 1;
    check_fd("matmul dinp", mm_loss, &c, c.x, dx, MN * MC, 1e-5);
    check_fd("matmul dweight", mm_loss, &c, c.w, dw, MOC * MC, 1e-5);
    check_fd("matmul dbias", mm_loss, &c, c.b, db, MOC, 1e-5);
}

/* ---------------- layernorm ---------------- */
enum { LN = 3, LC = 8 };
typedef struct {
    double x[LN * LC], gam[LC], bet[LC], g[LN * LC], eps;
} ln_ctx;
static double ln_loss(void *p) {
    ln_ctx *c = p;
    double L = 0;
    for (int n = 0; n < LN; n++) {
        double m = 0, v = 0;
        for (int k = 0; k < LC; k++)
            m += c->x[n * LC + k];
        m /= LC;
        for (int k = 0; k < LC; k++)
            v += (c->x[n * LC + k] - m) * (c->x[n * LC + k] - m);
        v /= LC;
        for (int k = 0; k < LC; k++)
            L += ((c->x[n * LC + k] - m) / sqrt(v + c->eps) * c->gam[k] + c->bet[k]) *
                 c->g[n * LC + k];
    }
    return L;
}
static void test_layernorm_backward(void **state) {
    (void)state;
    uint64_t s = 2;
    double epss[] = {1e-5, 1e-12};
    for (int e = 0; e < 2; e++) {
        ln_ctx c;
        c.eps = epss[e];
        fill(c.x, LN * LC, &s, 2), fill(c.gam, LC, &s, 1), fill(c.bet, LC, &s, 1);
        fill(c.g, LN * LC, &s, 1);
        float x[LN * LC], gam[LC], g[LN * LC], dx[LN * LC] = {0}, dg[LC] = {0}, db[LC] = {0};
        to_f(x, c.x, LN * LC), to_f(gam, c.gam, LC), to_f(g, c.g, LN * LC);
        eb_layernorm_backward(dx, dg, db, g, x, gam, LN, LC, (float)c.eps);
        check_fd("layernorm dinp", ln_loss, &c, c.x, dx, LN * LC, 1e-4);
        check_fd("layernorm dgamma", ln_loss, &c, c.gam, dg, LC, 1e-4);
        check_fd("layernorm dbeta", ln_loss, &c, c.bet, db, LC, 1e-4);
    }
}

/* ---------------- activations ---------------- */
enum { AN = 9 };
typedef struct {
    double x[AN], g[AN];
    int kind;
} act_ctx;
static double act_f(int kind, double x) {
    switch (kind) {
    case 0: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case 1: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case 2: return x > 0 ? x : 0;
    default: return tanh(x);
    }
}
static double act_loss(void *p) {
    act_ctx *c = p;
    double L = 0;
    for (int i = 0; i < AN; i++)
        L += act_f(c->kind, c->x[i]) * c->g[i];
    return L;
}
static void test_activation_backward(void **state) {
    (void)state;
    uint64_t s = 3;
    const char *names[] = {"gelu_new", "gelu_erf", "relu", "tanh"};
    for (int kind = 0; kind < 4; kind++) {
        act_ctx c = {.kind = kind};
        double xs[AN] = {-4, -1.5, -0.7, -0.2, 0.05, 0.3, 0.9, 2, 5};
        memcpy(c.x, xs, sizeof xs);
        fill(c.g, AN, &s, 1);
        float x[AN], g[AN], d[AN] = {0};
        to_f(x, c.x, AN), to_f(g, c.g, AN);
        if (kind == 0) eb_gelu_new_backward(d, g, x, AN);
        if (kind == 1) eb_gelu_erf_backward(d, g, x, AN);
        if (kind == 2) eb_relu_backward(d, g, x, AN);
        if (kind == 3) {
            float y[AN];
            for (int i = 0; i < AN; i++)
                y[i] = tanhf(x[i]);
            eb_tanh_backward(d, g, y, AN);
        }
        check_fd(names[kind], act_loss, &c, c.x, d, AN, 1e-5);
    }
}

/* ---------------- attention ---------------- */
enum { TN = 7, TNH = 3, THS = 4, TH = TNH * THS };
typedef struct {
    double q[TN * TH], k[TN * TH], v[TN * TH], z[TNH], g[TN * TH], R;
    const uint8_t *valid;
    const uint8_t *head_on;
    int use_span;
} at_ctx;
static double at_loss(void *p) {
    at_ctx *c = p;
    double L = 0;
    for (int h = 0; h < TNH; h++) {
        if (c->head_on && !c->head_on[h]) continue;
        if (c->use_span && (c->R + c->z[h]) / c->R <= 0) continue;
        for (int i = 0; i < TN; i++) {
            double sc[TN], mx = -1e300, sum = 0;
            for (int j = 0; j < TN; j++) {
                double d = 0;
                for (int e = 0; e < THS; e++)
                    d += c->q[i * TH + h * THS + e] * c->k[j * TH + h * THS + e];
                sc[j] = d / sqrt((double)THS);
                if (!c->valid || c->valid[j]) mx = sc[j] > mx ? sc[j] : mx;
            }
            for (int j = 0; j < TN; j++) {
                sc[j] = (c->valid && !c->valid[j]) ? 0 : exp(sc[j] - mx);
                sum += sc[j];
            }
            for (int j = 0; j < TN; j++) {
                double a = sc[j] / sum;
                if (c->use_span) {
                    double m = (c->R + c->z[h] - abs(i - j)) / c->R;
                    a *= m < 0 ? 0 : (m > 1 ? 1 : m);
                }
                for (int e = 0; e < THS; e++)
                    L += a * c->v[j * TH + h * THS + e] * c->g[i * TH + h * THS + e];
            }
        }
    }
    return L;
}
static void run_attention_case(at_ctx *c, uint64_t *s) {
    fill(c->q, TN * TH, s, 1), fill(c->k, TN * TH, s, 1), fill(c->v, TN * TH, s, 1);
    fill(c->g, TN * TH, s, 1);
    float q[TN * TH], k[TN * TH], v[TN * TH], g[TN * TH], z[TNH];
    float dq[TN * TH] = {0}, dk[TN * TH] = {0}, dv[TN * TH] = {0}, dz[TNH] = {0};
    float scratch[2 * TN * TN], out[TN * TH], att[TNH * TN * TN];
    to_f(q, c->q, TN * TH), to_f(k, c->k, TN * TH), to_f(v, c->v, TN * TH);
    to_f(g, c->g, TN * TH), to_f(z, c->z, TNH);
    /* the forward kernel agrees with the reference */
    eb_attention(out, att, q, k, v, TN, TNH, THS, c->valid, c->use_span ? z : NULL, (float)c->R,
                 c->head_on, 0);
    double Lk = 0;
    for (int i = 0; i < TN * TH; i++)
        Lk += out[i] * c->g[i];
    assert_true(fabs(Lk - at_loss(c)) < 1e-4);
    eb_attention_backward(dq, dk, dv, dz, scratch, g, q, k, v, TN, TNH, THS, c->valid,
                          c->use_span ? z : NULL, (float)c->R, c->head_on);
    check_fd("attention dq", at_loss, c, c->q, dq, TN * TH, 1e-4);
    check_fd("attention dk", at_loss, c, c->k, dk, TN * TH, 1e-4);
    check_fd("attention dv", at_loss, c, c->v, dv, TN * TH, 1e-4);
    if (c->use_span) check_fd("attention dspan", at_loss, c, c->z, dz, TNH, 1e-4);
}
static void test_attention_backward(void **state) {
    (void)state;
    uint64_t s = 4;
    const uint8_t valid[TN] = {1, 1, 1, 1, 1, 0, 0};
    const uint8_t on[TNH] = {1, 0, 1};
    /* plain, with padding, with spans inside the ramp (z = 1.3, 2.6: ramp
     * R = 3 covers distances up to 4.3 and 5.6), one head switched off by its span */
    at_ctx c = {.R = 3};
    run_attention_case(&c, &s);
    c.valid = valid;
    run_attention_case(&c, &s);
    c.use_span = 1;
    c.z[0] = 1.3, c.z[1] = 2.6, c.z[2] = -0.45;
    run_attention_case(&c, &s);
    c.z[1] = -3.5; /* off */
    c.head_on = on;
    run_attention_case(&c, &s);
}

/* ---------------- losses ---------------- */
enum { KK = 4 };
typedef struct {
    double s[KK], t[KK], T, ad, ac;
    int label;
} kd_ctx;
static double kd_loss(void *p) {
    kd_ctx *c = p;
    double ps[KK], pt[KK], p1[KK], zs = 0, zt = 0, z1 = 0;
    for (int i = 0; i < KK; i++) {
        zs += (ps[i] = exp(c->s[i] / c->T));
        zt += (pt[i] = exp(c->t[i] / c->T));
        z1 += (p1[i] = exp(c->s[i]));
    }
    double kl = 0;
    for (int i = 0; i < KK; i++)
        kl += pt[i] / zt * log((pt[i] / zt) / (ps[i] / zs));
    return c->ad * kl * c->T * c->T - c->ac * log(p1[c->label] / z1);
}
static void test_loss_backward(void **state) {
    (void)state;
    uint64_t s = 5;
    kd_ctx c = {.T = 2, .ad = 0.9, .ac = 0.1, .label = 2};
    fill(c.s, KK, &s, 3), fill(c.t, KK, &s, 3);
    float sf[KK], tf[KK], ds[KK] = {0};
    to_f(sf, c.s, KK), to_f(tf, c.t, KK);
    float L = eb_kd_backward(ds, sf, tf, KK, c.label, (float)c.T, (float)c.ad, (float)c.ac, 1.0f);
    assert_true(fabs(L - kd_loss(&c)) < 1e-5);
    check_fd("kd ds", kd_loss, &c, c.s, ds, KK, 1e-5);
    /* plain cross-entropy = the CE-only case */
    kd_ctx x = c;
    x.ad = 0, x.ac = 1, x.T = 1;
    float dx[KK] = {0};
    float Lx = eb_xent_backward(dx, sf, KK, x.label, 1.0f);
    assert_true(fabs(Lx - kd_loss(&x)) < 1e-5);
    check_fd("xent", kd_loss, &x, x.s, dx, KK, 1e-5);
    /* KD with identical logits and no CE: zero loss, zero gradient */
    float d0[KK] = {0};
    assert_true(fabsf(eb_kd_backward(d0, sf, sf, KK, -1, 2, 1, 0, 1)) < 1e-6f);
    for (int i = 0; i < KK; i++)
        assert_true(fabsf(d0[i]) < 1e-6f);
    float dy = 0;
    assert_true(fabsf(eb_mse_backward(&dy, 3.0f, 1.0f, 0.5f) - 2.0f) < 1e-6f);
    assert_true(fabsf(dy - 1.0f) < 1e-6f);
}

/* ---------------- embedding ---------------- */
static void test_embedding_backward(void **state) {
    (void)state;
    const int32_t ids[5] = {2, 0, 2, 3, 2};
    float dout[5 * 3], dt[4 * 3] = {0};
    for (int i = 0; i < 15; i++)
        dout[i] = (float)(i + 1);
    eb_embedding_backward(dt, dout, ids, 5, 3);
    /* hand-computed: row 2 gets rows 0, 2, 4 of dout */
    float want[12] = {4, 5, 6, 0, 0, 0, 1 + 7 + 13, 2 + 8 + 14, 3 + 9 + 15, 10, 11, 12};
    for (int i = 0; i < 12; i++)
        assert_float_equal(dt[i], want[i], 0);
}

static void test_span_mask_dz(void **state) {
    (void)state;
    /* R = 4, z = 2: ramp over distances (2, 6) */
    assert_float_equal(eb_span_mask_dz(2, 4, 0), 0, 0); /* m = 1.5 clamped */
    assert_float_equal(eb_span_mask_dz(2, 4, 3), 0.25f, 1e-7);
    assert_float_equal(eb_span_mask_dz(2, 4, 6), 0, 0); /* m = 0 */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_backward),     cmocka_unit_test(test_layernorm_backward),
        cmocka_unit_test(test_activation_backward), cmocka_unit_test(test_attention_backward),
        cmocka_unit_test(test_loss_backward),       cmocka_unit_test(test_embedding_backward),
        cmocka_unit_test(test_span_mask_dz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
