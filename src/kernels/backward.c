/* backward.c - fp32 backward kernels (see backward.h for shapes). */
#include "kernels/backward.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"

void eb_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *w, int N, int C, int OC) {
    if (N <= 0 || OC <= 0 || C <= 0) return;
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, w, C, 1.0f,
                    dinp, C);
    if (dweight)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f,
                    dweight, C);
    if (dbias) {
        for (int n = 0; n < N; n++) {
            const float *d = dout + (size_t)n * OC;
#pragma omp simd
            for (int o = 0; o < OC; o++)
                dbias[o] += d[o];
        }
    }
}

void eb_layernorm_backward(float *dinp, float *dg, float *db, const float *dout, const float *inp,
                           const float *g, int N, int C, float eps) {
    /* fp32 with vectorised sums (two passes over the row for the variance) */
    for (int i = 0; i < N; i++) {
        const float *x = inp + (size_t)i * C, *dy = dout + (size_t)i * C;
        float mean = 0, var = 0;
#pragma omp simd reduction(+ : mean)
        for (int c = 0; c < C; c++)
            mean += x[c];
        mean /= (float)C;
#pragma omp simd reduction(+ : var)
        for (int c = 0; c < C; c++)
            var += (x[c] - mean) * (x[c] - mean);
        var /= (float)C;
        const float rstd = 1.0f / sqrtf(var + eps);
        float m1 = 0, m2 = 0; /* mean(dxhat), mean(dxhat * xhat) */
#pragma omp simd reduction(+ : m1, m2)
        for (int c = 0; c < C; c++) {
            const float xh = (x[c] - mean) * rstd, dxh = dy[c] * g[c];
            m1 += dxh;
            m2 += dxh * xh;
        }
        if (dg)
#pragma omp simd
            for (int c = 0; c < C; c++)
                dg[c] += dy[c] * ((x[c] - mean) * rstd);
        if (db)
#pragma omp simd
            for (int c = 0; c < C; c++)
                db[c] += dy[c];
        m1 /= (float)C;
        m2 /= (float)C;
        if (!dinp) continue;
        float *dx = dinp + (size_t)i * C;
#pragma omp simd
        for (int c = 0; c < C; c++) {
            const float xh = (x[c] - mean) * rstd;
            dx[c] += rstd * (dy[c] * g[c] - m1 - xh * m2);
        }
    }
}

void eb_gelu_new_backward_ref(float *dinp, const float *dout, const float *inp, size_t n) {
    const float s = 0.7978845608028654f; /* sqrt(2/pi) */
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = s * (x + 0.044715f * x * x * x);
        /* tanh(u) = 1 - 2 / (e^{2u} + 1): one expf, much cheaper than tanhf;
         * saturates correctly at both ends (e^{2u} = inf or 0) */
        float t = 1.0f - 2.0f / (expf(2.0f * u) + 1.0f);
        float d = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * s * (1.0f + 0.134145f * x * x);
        dinp[i] += dout[i] * d;
    }
}

void eb_gelu_erf_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float d = 0.5f * (1.0f + erff(x * 0.70710678118654752f)) +
                  x * expf(-0.5f * x * x) * 0.3989422804014327f;
        dinp[i] += dout[i] * d;
    }
}

void eb_relu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++)
        dinp[i] += inp[i] > 0 ? dout[i] : 0.0f;
}

void eb_tanh_backward(float *dinp, const float *dout, const float *out, size_t n) {
    for (size_t i = 0; i < n; i++)
        dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

float eb_span_mask_dz(float z, float R, int x) {
    float m = (R + z - (float)x) / R;
    return (m > 0 && m < 1) ? 1.0f / R : 0.0f;
}

void eb_attention_backward(float *dq, float *dk, float *dv, float *dspan_z, float *scratch,
                           const float *dout, const float *q, const float *k, const float *v, int N,
                           int NH, int HS, const uint8_t *key_valid, const float *span_z,
                           float span_ramp, const uint8_t *head_on) {
    const int H = NH * HS;
    const float scale = 1.0f / sqrtf((float)HS);
    float *P = scratch, *dA = scratch + (size_t)N * N;
    for (int h = 0; h < NH; h++) {
        if ((head_on && !head_on[h]) || (span_z && eb_span_head_off(span_z[h], span_ramp)))
            continue;
        /* recompute P = softmax(scores) over valid keys */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, HS, scale, q + h * HS, H,
                    k + h * HS, H, 0.0f, P, N);
        for (int i = 0; i < N; i++) /* the forward's own (dispatched) softmax */
            eb_softmax_masked_row(P + (size_t)i * N, N, i, key_valid, NULL, 0.0f);
        /* dA = dout_h V_h^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, HS, 1.0f, dout + h * HS, H,
                    v + h * HS, H, 0.0f, dA, N);
        /* dV_h += A^T dout_h, with A = P * m: build A in place after using P */
        double dz = 0;
        for (int i = 0; i < N && !span_z; i++) { /* no span: A = P */
            const float *p = P + (size_t)i * N;
            float *da = dA + (size_t)i * N, dot = 0;
#pragma omp simd reduction(+ : dot)
            for (int j = 0; j < N; j++)
                dot += da[j] * p[j];
#pragma omp simd
            for (int j = 0; j < N; j++)
                da[j] = p[j] * (da[j] - dot) * scale;
        }
        for (int i = 0; i < N && span_z; i++) {
            float *p = P + (size_t)i * N, *da = dA + (size_t)i * N;
            /* dP = dA * m; dz += sum dA * P * dm/dz; then softmax backward */
            double dot = 0;
            for (int j = 0; j < N; j++) {
                int x = i > j ? i - j : j - i;
                float m = span_z ? eb_span_mask(span_z[h], span_ramp, x) : 1.0f;
                if (span_z) dz += (double)da[j] * p[j] * eb_span_mask_dz(span_z[h], span_ramp, x);
                da[j] *= m; /* now dP */
                dot += (double)da[j] * p[j];
            }
            for (int j = 0; j < N; j++) {
                int x = i > j ? i - j : j - i;
                float m = span_z ? eb_span_mask(span_z[h], span_ramp, x) : 1.0f;
                float ds = p[j] * (da[j] - (float)dot); /* dscores */
                p[j] *= m;                              /* now A */
                da[j] = ds * scale;                     /* now d(QK^T) */
            }
        }
        if (dspan_z && span_z) dspan_z[h] += (float)dz;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, HS, N, 1.0f, P, N, dout + h * HS, H,
                    1.0f, dv + h * HS, H);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, HS, N, 1.0f, dA, N, k + h * HS, H,
                    1.0f, dq + h * HS, H);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, HS, N, 1.0f, dA, N, q + h * HS, H,
                    1.0f, dk + h * HS, H);
    }
}

/* softmax of x[K]/T into p (double) */
static void softmax_t(double *p, const float *x, int K, float T) {
    double mx = -DBL_MAX, s = 0;
    for (int i = 0; i < K; i++)
        mx = x[i] / T > mx ? x[i] / T : mx;
    for (int i = 0; i < K; i++)
        s += (p[i] = exp(x[i] / T - mx));
    for (int i = 0; i < K; i++)
        p[i] /= s;
}

float eb_xent_backward(float *dlogits, const float *logits, int K, int label, float scale) {
    double p[64];
    if (K > 64 || label < 0 || label >= K) return NAN;
    softmax_t(p, logits, K, 1.0f);
    if (dlogits)
        for (int i = 0; i < K; i++)
            dlogits[i] += scale * (float)(p[i] - (i == label));
    double pl = p[label];
    if (pl != pl) return NAN; /* NaN logits stay visible */
    return (float)-log(pl > 1e-300 ? pl : 1e-300);
}

float eb_mse_backward(float *dy, float y, float target, float scale) {
    float d = y - target;
    if (dy) *dy += scale * d;
    return 0.5f * d * d;
}

float eb_kd_backward(float *ds, const float *s, const float *t, int K, int label, float T,
                     float a_distil, float a_ce, float scale) {
    double ps[64], pt[64];
    if (K > 64) return NAN;
    softmax_t(ps, s, K, T);
    softmax_t(pt, t, K, T);
    double kl = 0;
    for (int i = 0; i < K; i++)
        if (pt[i] > 0) kl += pt[i] * (log(pt[i]) - log(ps[i] > 1e-300 ? ps[i] : 1e-300));
    double loss = a_distil * kl * T * T;
    if (ds)
        for (int i = 0; i < K; i++)
            ds[i] += scale * (float)(a_distil * T * (ps[i] - pt[i]));
    if (label >= 0 && a_ce != 0) loss += a_ce * eb_xent_backward(ds, s, K, label, scale * a_ce);
    return (float)loss;
}

void eb_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int E) {
    for (int i = 0; i < N; i++) {
        float *d = dtable + (size_t)ids[i] * E;
        const float *g = dout + (size_t)i * E;
        for (int e = 0; e < E; e++)
            d[e] += g[e];
    }
}
