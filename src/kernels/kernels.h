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

/* out[N,OC] = inp[N,C] @ w[OC,C]^T + bias[OC] (bias may be NULL).
 * Dispatched at run time (gemm.c): AVX-512 or AVX2/FMA dot-product tiles for
 * the encoder's shapes, OpenBLAS otherwise; OpenMP threads over OC blocks. */
void eb_matmul(float *out, const float *inp, const float *w, const float *bias, int N, int C,
               int OC);

/* ---- fast paths (gemm.c, fast.c) -------------------------------- */

typedef enum eb_gemm_impl {
    EB_GEMM_AUTO = 0,   /* the fastest for the shape and this CPU */
    EB_GEMM_BLAS = 1,   /* OpenBLAS cblas_sgemm (the portable path) */
    EB_GEMM_AVX2 = 2,   /* AVX2 + FMA tiles (falls back to BLAS without AVX2) */
    EB_GEMM_AVX512 = 3, /* AVX-512 tiles (falls back to BLAS without AVX-512) */
    EB_GEMM_SCALAR = 4, /* plain C tiles (tests) */
    EB_GEMM_NEON = 5    /* aarch64 NEON tiles (src/kernels/neon.c; falls back to BLAS elsewhere) */
} eb_gemm_impl;

/* Activation applied to the product while it is in cache (fused epilogue). */
typedef enum eb_epilogue {
    EB_EPI_NONE = 0,
    EB_EPI_GELU_NEW = 1, /* tanh approximation */
    EB_EPI_GELU_ERF = 2,
    EB_EPI_RELU = 3
} eb_epilogue;

int eb_cpu_has_avx512(void); /* avx512f + avx512dq */
int eb_cpu_has_avx2(void);   /* avx2 + fma */
int eb_cpu_has_neon(void);   /* aarch64 Advanced SIMD (and not built with EB_NO_SIMD) */
/* The best SIMD tile implementation on this CPU (BLAS when neither). */
eb_gemm_impl eb_gemm_best_impl(void);
const char *eb_gemm_impl_name(eb_gemm_impl impl);

/* out = act(inp @ w^T + bias) with a chosen implementation (tests, bench). */
void eb_gemm_nt(eb_gemm_impl impl, float *out, const float *inp, const float *w, const float *bias,
                int N, int C, int OC, eb_epilogue ep);
/* Threads (the last argument of the kernels that take it): 0 = OpenMP's
 * default team (OMP_NUM_THREADS or every core), 1 = the calling thread only
 * (no thread team is created, and the automatic choice keeps to the SIMD
 * tiles rather than OpenBLAS, which may start threads of its own; only CPUs
 * with no SIMD tiles call OpenBLAS; also what to pass inside a parallel
 * region), n > 1 = at most n.  The kernels without it use 0.
 * Same with row strides (ldo, ldx, ldw in floats). */
void eb_gemm_nt_ex(eb_gemm_impl impl, float *out, int ldo, const float *inp, int ldx,
                   const float *w, int ldw, const float *bias, int N, int C, int OC, eb_epilogue ep,
                   int threads);
/* bf16 weights: w[OC, C] as bfloat16 bits (round to nearest even of the
 * fp32 weight), the input rounded to bf16 into xbuf[N*C] (caller's scratch),
 * products accumulated in fp32 with AVX512-BF16 vdpbf16ps when the CPU has
 * it and C is even (returns 1); otherwise the scalar reference (returns 0).
 * Half the weight bytes of fp32 and twice the multiply rate; the input
 * rounding costs about 3 significant digits (see docs/perf.md). */
int eb_cpu_has_avx512_bf16(void);
/* (scalar conversions: eb_f32_to_bf16 / eb_bf16_to_f32 in util/util.h) */
void eb_f32_to_bf16_array(uint16_t *dst, const float *src, size_t n);
int eb_gemm_bf16(float *out, const float *inp, const uint16_t *w, const float *bias, int N, int C,
                 int OC, eb_epilogue ep, uint16_t *xbuf, int threads);
/* Scalar reference: inputs rounded to bf16, sums in double. */
void eb_gemm_bf16_ref(float *out, const float *inp, const uint16_t *w, const float *bias, int N,
                      int C, int OC);
/* Pre-packed fp32 weights (for weights that are used many times: pack once
 * at load).  eb_pack_floats(C, OC) floats, 64-byte aligned, filled by
 * eb_pack_weights from w[OC, C]; eb_gemm_packed then computes
 * out = act(inp @ w^T + bias) with an outer-product AVX-512 kernel (8 rows
 * x 48 columns in registers, aligned streaming of the panel, no horizontal
 * sums); without AVX-512 or with an unaligned panel, a scalar reference. */
#define EB_PACK_NR 48
size_t eb_pack_floats(int C, int OC);
void eb_pack_weights(float *dst, const float *w, int C, int OC);
void eb_gemm_packed(float *out, const float *inp, const float *wp, const float *bias, int N, int C,
                    int OC, eb_epilogue ep, int threads);
void eb_gemm_packed_ref(float *out, const float *inp, const float *wp, const float *bias, int N,
                        int C, int OC);
/* The same with bf16 weights (C even): eb_pack_bf16_count(C, OC) uint16s,
 * 64-byte aligned, filled by eb_pack_bf16 from w[OC, C] (rounded to nearest
 * even bf16); in each 48-column panel the two weights of an input-channel
 * pair sit side by side, so one broadcast input pair meets 16 columns per
 * AVX512-BF16 vdpbf16ps (32 multiply-adds, twice an fp32 FMA).
 * eb_gemm_packed_bf16 rounds the input to bf16 into xbuf[N*C] and sums in
 * fp32; returns 1 when it ran the SIMD kernel, 0 for the scalar reference
 * (no AVX512-BF16, odd C, unaligned panel).  Exact products for AdaptivFloat8
 * weights and inputs (af8-bf16 precision). */
size_t eb_pack_bf16_count(int C, int OC);
void eb_pack_bf16(uint16_t *dst, const float *w, int C, int OC);
int eb_gemm_packed_bf16(float *out, const float *inp, const uint16_t *wp, const float *bias, int N,
                        int C, int OC, eb_epilogue ep, uint16_t *xbuf, int threads);
void eb_gemm_packed_bf16_ref(float *out, const float *inp, const uint16_t *wp, const float *bias,
                             int N, int C, int OC);

/* Products of training with bf16 operands and fp32 sums, for any layout:
 * out[M, NC] = A[M, K] B[K, NC] (+ bias[NC]), or += with add != 0 (then
 * bias is usually NULL).  A is given as bf16 rows of Kp = K rounded up to
 * even (eb_bf16_rows reads A(m, k) = src[m * s_row + k * s_k]); B as
 * eb_pack_bf16_ex_count(K, NC) uint16s, 64-byte aligned, packed by
 * eb_pack_bf16_ex from B(k, j) = src[j * s_col + k * s_k] into the panels
 * of eb_pack_bf16 (a last odd k is padded with zeros on both sides).
 * eb_gemm_bf16_pp runs AVX512-BF16 where the CPU has it (returns 1), else
 * the scalar eb_gemm_bf16_pp_ref (sums in double; returns 0). */
size_t eb_pack_bf16_ex_count(int K, int NC);
void eb_pack_bf16_ex(uint16_t *dst, const float *src, int K, int NC, size_t s_col, size_t s_k);
void eb_bf16_rows(uint16_t *dst, const float *src, int M, int K, size_t s_row, size_t s_k);
int eb_gemm_bf16_pp(float *out, int ldo, const uint16_t *a, const uint16_t *bp, const float *bias,
                    int M, int K, int NC, int add, int threads);
void eb_gemm_bf16_pp_ref(float *out, int ldo, const uint16_t *a, const uint16_t *bp,
                         const float *bias, int M, int K, int NC, int add);
/* Fused Linear + activation: out = act(inp @ w^T + bias) (bias+GELU fusion;
 * for albert.c's FFN: eb_matmul_act(s->ffn, ..., EB_EPI_GELU_NEW)). */
void eb_matmul_act(float *out, const float *inp, const float *w, const float *bias, int N, int C,
                   int OC, eb_epilogue ep);
/* Scalar reference of eb_matmul (tests). */
void eb_matmul_ref(float *out, const float *inp, const float *w, const float *bias, int N, int C,
                   int OC);

/* out[N,C] = LayerNorm(inp[N,C]) * g + b; out may alias inp. */
void eb_layernorm(float *out, const float *inp, const float *g, const float *b, int N, int C,
                  float eps);
/* out[N,C] = LayerNorm(inp + res); out may alias either. */
void eb_add_layernorm(float *out, const float *inp, const float *res, const float *g,
                      const float *b, int N, int C, float eps);

/* In place activations over n values (AVX-512 when the CPU has it; the
 * _ref versions are the scalar references, libm tanhf/erff). */
void eb_gelu_new(float *x, size_t n); /* 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) */
void eb_gelu_erf(float *x, size_t n); /* 0.5x(1+erf(x/sqrt 2)) */
void eb_gelu_new_ref(float *x, size_t n);
void eb_gelu_erf_ref(float *x, size_t n);
/* Scalar reference of eb_layernorm / eb_add_layernorm (double sums). */
void eb_layernorm_ref(float *out, const float *inp, const float *g, const float *b, int N, int C,
                      float eps);
void eb_add_layernorm_ref(float *out, const float *inp, const float *res, const float *g,
                          const float *b, int N, int C, float eps);
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
                  const uint8_t *head_on, int threads);

/* Scalar reference of eb_attention (cblas + libm expf, one head at a time).
 * eb_attention itself runs heads in parallel (OpenMP) with the SIMD tiles and
 * a fused masked/span softmax. */
void eb_attention_ref(float *out, float *att, const float *q, const float *k, const float *v, int N,
                      int NH, int HS, const uint8_t *key_valid, const float *span_z,
                      float span_ramp, const uint8_t *head_on);

/* Fused masked softmax of one score row in place: row[j] = 0 where
 * key_valid[j] == 0, else softmax over the valid j; then, when span_z is
 * not NULL, row[j] *= eb_span_mask(*span_z, span_ramp, |i - j|) (no
 * renormalisation).  key_valid may be NULL (all valid). */
void eb_softmax_masked_row(float *row, int n, int i, const uint8_t *key_valid, const float *span_z,
                           float span_ramp);
void eb_softmax_masked_row_ref(float *row, int n, int i, const uint8_t *key_valid,
                               const float *span_z, float span_ramp);

/* In place softmax of each of `rows` rows of length n. */
void eb_softmax_rows(float *x, int rows, int n);

/* Numerically stable entropy (nats) of softmax(logits[n]). */
float eb_entropy_logits(const float *logits, int n);

/* Zero statistics of x[0..n) read as vectors of 16 values (the last one
 * shorter when n % 16 != 0): adds the number of values != 0 (NaN counts as
 * non-zero) to *nonzero and the number of all-zero vectors to *zero_vecs.
 * What the accelerator's zero-skipping sees (src/model/albert.c act_stats). */
void eb_count_nonzero16(const float *x, size_t n, double *nonzero, double *zero_vecs);
void eb_count_nonzero16_ref(const float *x, size_t n, double *nonzero, double *zero_vecs);

/* out[i] += a[i] */
void eb_add_inplace(float *out, const float *a, size_t n);

#endif
