/* kernels.c - fp32 forward kernels (see kernels.h for shapes). */
#include "kernels/kernels.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

void eb_matmul_ref(float *out, const float *inp, const float *w, const float *bias, int N, int C,
                   int OC) {
    for (int i = 0; i < N; i++) {
        for (int o = 0; o < OC; o++) {
            double acc = bias ? bias[o] : 0.0;
            for (int c = 0; c < C; c++) acc += (double)inp[(size_t)i * C + c] * w[(size_t)o * C + c];
            out[(size_t)i * OC + o] = (float)acc;
        }
    }
}

void eb_layernorm_ref(float *out, const float *inp, const float *g, const float *b, int N, int C,
                  float eps) {
    for (int i = 0; i < N; i++) {
        const float *x = inp + (size_t)i * C;
        float *y = out + (size_t)i * C;
        double mean = 0, var = 0;
        for (int c = 0; c < C; c++) mean += x[c];
        mean /= C;
        for (int c = 0; c < C; c++) {
            double d = x[c] - mean;
            var += d * d;
        }
        var /= C;
        float rstd = (float)(1.0 / sqrt(var + eps));
        float m = (float)mean;
        for (int c = 0; c < C; c++) y[c] = (x[c] - m) * rstd * g[c] + b[c];
    }
}

void eb_add_layernorm_ref(float *out, const float *inp, const float *res, const float *g,
                          const float *b, int N, int C, float eps) {
    size_t n = (size_t)N * C;
    for (size_t i = 0; i < n; i++) out[i] = inp[i] + res[i];
    eb_layernorm_ref(out, out, g, b, N, C, eps);
}

void eb_gelu_new_ref(float *x, size_t n) {
    const float s = 0.7978845608028654f; /* sqrt(2/pi) */
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(s * (v + 0.044715f * v * v * v)));
    }
}

void eb_gelu_erf_ref(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void eb_count_nonzero16_ref(const float *x, size_t n, double *nonzero, double *zero_vecs) {
    size_t nz = 0, zv = 0;
    for (size_t c0 = 0; c0 < n; c0 += 16) {
        size_t c1 = c0 + 16 < n ? c0 + 16 : n, k = 0;
        for (size_t c = c0; c < c1; c++)
            k += x[c] != 0.0f;
        nz += k;
        zv += k == 0;
    }
    *nonzero += (double)nz;
    *zero_vecs += (double)zv;
}

void eb_relu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0;
}

void eb_tanh_inplace(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
}

float eb_span_mask(float z, float R, int x) {
    float m = (R + z - (float)x) / R;
    return m < 0 ? 0 : (m > 1 ? 1 : m);
}

int eb_span_head_off(float z, float R) {
    return eb_span_mask(z, R, 0) <= 0.0f;
}

void eb_softmax_rows(float *x, int rows, int n) {
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * n;
        float mx = -FLT_MAX;
        for (int j = 0; j < n; j++) mx = row[j] > mx ? row[j] : mx;
        float sum = 0;
        for (int j = 0; j < n; j++) {
            row[j] = expf(row[j] - mx);
            sum += row[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < n; j++) row[j] *= inv;
    }
}

void eb_softmax_masked_row_ref(float *row, int N, int i, const uint8_t *key_valid,
                               const float *span_z, float span_ramp) {
    float mx = -FLT_MAX;
    for (int j = 0; j < N; j++) {
        if (key_valid && !key_valid[j]) continue;
        mx = row[j] > mx ? row[j] : mx;
    }
    float sum = 0;
    for (int j = 0; j < N; j++) {
        float e = (key_valid && !key_valid[j]) ? 0.0f : expf(row[j] - mx);
        row[j] = e;
        sum += e;
    }
    float inv = sum > 0 ? 1.0f / sum : 0.0f;
    if (span_z) {
        for (int j = 0; j < N; j++)
            row[j] *= inv * eb_span_mask(*span_z, span_ramp, i > j ? i - j : j - i);
    } else {
        for (int j = 0; j < N; j++) row[j] *= inv;
    }
}

void eb_attention_ref(float *out, float *att, const float *q, const float *k, const float *v, int N,
                      int NH, int HS, const uint8_t *key_valid, const float *span_z,
                      float span_ramp, const uint8_t *head_on) {
    const int H = NH * HS;
    const float scale = 1.0f / sqrtf((float)HS);
    for (int h = 0; h < NH; h++) {
        float *A = att + (size_t)h * N * N;
        if ((head_on && !head_on[h]) || (span_z && eb_span_head_off(span_z[h], span_ramp))) {
            for (int i = 0; i < N; i++) memset(out + (size_t)i * H + h * HS, 0, sizeof(float) * HS);
            memset(A, 0, sizeof(float) * (size_t)N * N);
            continue;
        }
        /* scores = Q_h K_h^T * scale */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, HS, scale, q + h * HS, H,
                    k + h * HS, H, 0.0f, A, N);
        for (int i = 0; i < N; i++)
            eb_softmax_masked_row_ref(A + (size_t)i * N, N, i, key_valid,
                                      span_z ? &span_z[h] : NULL, span_ramp);
        /* context_h = A V_h */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, HS, N, 1.0f, A, N, v + h * HS, H,
                    0.0f, out + h * HS, H);
    }
}

float eb_entropy_logits(const float *logits, int n) {
    /* H = ln(sum e^x) - sum(x e^x)/sum(e^x), with x shifted by max(x). */
    if (n <= 0) return 0.0f;
    float mx = -FLT_MAX;
    for (int i = 0; i < n; i++) mx = logits[i] > mx ? logits[i] : mx;
    double s = 0, sx = 0;
    for (int i = 0; i < n; i++) {
        double x = (double)logits[i] - mx;
        double e = exp(x);
        s += e;
        sx += x * e;
    }
    double h = log(s) - sx / s;
    return (float)(h < 0 ? 0 : h);
}

void eb_add_inplace(float *out, const float *a, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] += a[i];
}
