/* kernels.h - fp32 forward kernels of ALBERT, as plain functions.
 *
 * Shape legend: N = tokens, C = input features, OC = output features,
 * H = hidden size, NH = heads, HS = head size (H = NH*HS).  Matrices are
 * row-major; a Linear weight is [OC, C] as in PyTorch, so y = x W^T + b.
 * Outputs come first in every signature. */
#ifndef EB_KERNELS_H
#define EB_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* out[N,OC] = inp[N,C] @ w[OC,C]^T + bias[OC] (bias may be NULL). */
void eb_matmul(float *out, const float *inp, const float *w, const float *bias, int N, int C,
               int OC);
/* Scalar reference of eb_matmul (tests). */
void eb_matmul_ref(float *out, const float *inp, const float *w, const float *bias, int N, int C,
                   int OC);

/* out[N,C] = LayerNorm(inp[N,C]) * g + b; out may alias inp. */
void eb_layernorm(float *out, const float *inp, const float *g, const float *b, int N, int C,
                  float eps);
/* out[N,C] = LayerNorm(inp + res); out may alias either. */
void eb_add_layernorm(float *out, const float *inp, const float *res, const float *g,
                      const float *b, int N, int C, float eps);

/* In place activations over n values. */
void eb_gelu_new(float *x, size_t n); /* 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) */
void eb_gelu_erf(float *x, size_t n); /* 0.5x(1+erf(x/sqrt 2)) */
void eb_relu(float *x, size_t n);
void eb_tanh_inplace(float *x, size_t n);

/* Adaptive attention span mask value for distance x (tokens), span
 * parameter z and ramp R: m(x) = clamp((R + z - x) / R, 0, 1).  z <= -R
 * makes the mask zero everywhere: the head is off. */
float eb_span_mask(float z, float R, int x);
/* 1 if a head with span z, ramp R is zero at every distance 0..N-1. */
int eb_span_head_off(float z, float R);

/* Multi-head self-attention core (after the Q/K/V projections).
 *  out[N,H]   context (head h writes columns h*HS..h*HS+HS-1)
 *  att[NH,N,N] scratch: attention probabilities (kept for inspection)
 *  q,k,v[N,H]
 *  key_valid[N] 1 = real token, 0 = padding (additive -inf... mask); NULL = all valid
 *  span_z[NH] adaptive span parameters or NULL; span_ramp R
 *  head_on[NH] 0 = skip head (its context is zero); NULL = all on
 * softmax(QK^T/sqrt(HS) + mask) then, with spans, multiplied by the span
 * mask m(|i-j|) without renormalisation (as the accelerator does). */
void eb_attention(float *out, float *att, const float *q, const float *k, const float *v, int N,
                  int NH, int HS, const uint8_t *key_valid, const float *span_z, float span_ramp,
                  const uint8_t *head_on);

/* In place softmax of each of `rows` rows of length n. */
void eb_softmax_rows(float *x, int rows, int n);

/* Numerically stable entropy (nats) of softmax(logits[n]). */
float eb_entropy_logits(const float *logits, int n);

/* out[i] += a[i] */
void eb_add_inplace(float *out, const float *a, size_t n);

#endif
