/* fast.c - SIMD versions of the element-wise kernels and of the attention
 * core, chosen at run time (AVX-512 when the CPU has it, else the scalar
 * references of kernels.c).
 *
 *  - exp: range reduction x = n ln2 + r, |r| <= ln2/2, degree-7 Taylor
 *    polynomial, 2^n by vscalefps (about 1 ulp).
 *  - GELU (tanh form): 0.5x(1 + tanh(y)) = x / (1 + e^{-2y}), accurate in
 *    both tails.
 *  - GELU (erf form): erfc by the Chebyshev-fitted formula
 *    t exp(-z^2 - 1.26551223 + t(...)), t = 1/(1 + z/2) (fractional error
 *    below 1.2e-7), so 1 + erf(-z) = erfc(z) never cancels.
 *  - LayerNorm: two passes in fp32 vectors (mean, then centred squares).
 *  - Attention: heads in parallel (OpenMP); scores with the GEMM tiles,
 *    fused scale + key mask + span softmax, context as broadcast-FMA rows
 *    that skip zero probabilities (masked keys, spans). */
#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "util/util.h"

#include <float.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define EB_X86 1
#include <immintrin.h>
#define T512 __attribute__((target("avx512f,avx512dq,fma")))
#else
#define EB_X86 0
#endif

#if EB_X86
static inline T512 __m512 exp512(__m512 x) {
    /* max/min with the constant first: a NaN in x is returned as is */
    x = _mm512_max_ps(_mm512_set1_ps(-87.3f), x);
    x = _mm512_min_ps(_mm512_set1_ps(88.7f), x);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static inline __mmask16 tail_mask(size_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

static inline T512 __m512 gelu_new512(__m512 x) {
    const __m512 k = _mm512_set1_ps(-2.0f * 0.7978845608028654f);
    __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
    __m512 y = _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), x3, x); /* x + 0.044715x^3 */
    __m512 e = exp512(_mm512_mul_ps(k, y));                       /* e^{-2 s y} */
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

static inline T512 __m512 gelu_erf512(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.70710678118654752f));
    __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.5f), z, one));
    __m512 p = _mm512_set1_ps(0.17087277f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.82215223f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.48851587f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.13520398f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.27886807f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.18628806f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.09678418f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.37409196f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.00002368f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.26551223f));
    __m512 erfc = _mm512_mul_ps(t, exp512(_mm512_sub_ps(p, _mm512_mul_ps(z, z))));
    /* x >= 0: 2 - erfc(z); x < 0: erfc(z) */
    __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    __m512 f = _mm512_mask_blend_ps(neg, _mm512_sub_ps(_mm512_set1_ps(2.0f), erfc), erfc);
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), f);
}

static T512 void gelu_new_avx512(float *x, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, gelu_new512(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

static T512 void gelu_erf_avx512(float *x, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, gelu_erf512(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

/* dinp += dout * gelu_new'(x). With p = 1/(1 + e^{-2u}) = (1 + tanh u)/2,
 * u = s(x + 0.044715x^3): gelu_new'(x) = p + 2x p(1 - p) s(1 + 0.134145x^2)
 * (1 - tanh^2 u = 4p(1 - p)); e^{-2u} is clamped finite by exp512, so both tails are exact. */
static T512 void gelu_new_backward_avx512(float *dinp, const float *dout, const float *inp,
                                          size_t n) {
    const __m512 s = _mm512_set1_ps(0.7978845608028654f), one = _mm512_set1_ps(1.0f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 x = _mm512_maskz_loadu_ps(m, inp + i), x2 = _mm512_mul_ps(x, x);
        __m512 u =
            _mm512_mul_ps(s, _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(0.044715f), x2), x, x));
        __m512 p =
            _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_mul_ps(_mm512_set1_ps(-2.0f), u))));
        __m512 du = _mm512_mul_ps(s, _mm512_fmadd_ps(_mm512_set1_ps(0.134145f), x2, one));
        __m512 q = _mm512_mul_ps(_mm512_mul_ps(p, _mm512_sub_ps(one, p)), _mm512_add_ps(x, x));
        __m512 d = _mm512_fmadd_ps(q, du, p);
        __m512 g = _mm512_maskz_loadu_ps(m, dinp + i);
        _mm512_mask_storeu_ps(dinp + i, m,
                              _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, dout + i), d, g));
    }
}

/* out = LN(inp (+ res)) row by row; out may alias inp or res. */
static T512 void layernorm_avx512(float *out, const float *inp, const float *res, const float *g,
                                  const float *b, int N, int C, float eps) {
    for (int i = 0; i < N; i++) {
        const float *x = inp + (size_t)i * C;
        const float *rr = res ? res + (size_t)i * C : NULL;
        float *y = out + (size_t)i * C;
        __m512 s = _mm512_setzero_ps();
        for (int c = 0; c < C; c += 16) {
            __mmask16 m = tail_mask((size_t)(C - c));
            __m512 v = _mm512_maskz_loadu_ps(m, x + c);
            if (rr) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, rr + c));
            _mm512_mask_storeu_ps(y + c, m, v);
            s = _mm512_add_ps(s, v);
        }
        const float mean = _mm512_reduce_add_ps(s) / (float)C;
        const __m512 mv = _mm512_set1_ps(mean);
        __m512 q = _mm512_setzero_ps();
        for (int c = 0; c < C; c += 16) {
            __mmask16 m = tail_mask((size_t)(C - c));
            __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, y + c), mv);
            q = _mm512_fmadd_ps(d, d, q);
        }
        const float var = _mm512_reduce_add_ps(q) / (float)C;
        const __m512 rs = _mm512_set1_ps((float)(1.0 / sqrt((double)var + eps)));
        for (int c = 0; c < C; c += 16) {
            __mmask16 m = tail_mask((size_t)(C - c));
            __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, y + c), mv);
            __m512 v = _mm512_fmadd_ps(_mm512_mul_ps(d, rs), _mm512_maskz_loadu_ps(m, g + c),
                                       _mm512_maskz_loadu_ps(m, b + c));
            _mm512_mask_storeu_ps(y + c, m, v);
        }
    }
}

/* softmax(scale * row) with key mask and span (see kernels.h). */
enum { KMASK_MAX = 4096 / 16 };

/* One bit per valid key, 16 keys a mask (n <= 4096). */
static void key_masks(__mmask16 *km, const uint8_t *key_valid, int n) {
    for (int j = 0; j < n; j += 16) {
        unsigned m = 0;
        for (int k = 0; k < 16 && j + k < n; k++)
            m |= (key_valid[j + k] ? 1u : 0u) << k;
        km[j / 16] = (__mmask16)m;
    }
}

static T512 void softmax_row_avx512(float *row, int n, int i, float scale, const __mmask16 *km,
                                    const float *span_z, float span_ramp) {
    const __m512 sc = _mm512_set1_ps(scale);
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512 mx = _mm512_set1_ps(-FLT_MAX);
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = tail_mask((size_t)(n - j));
        if (km) m &= km[j / 16];
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + j), sc);
        mx = _mm512_mask_max_ps(mx, m, mx, v);
    }
    const __m512 mxv = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = tail_mask((size_t)(n - j)), valid = m;
        if (km) valid &= km[j / 16];
        __m512 v = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(m, row + j), sc, mxv);
        __m512 e = _mm512_maskz_mov_ps(valid, exp512(v));
        _mm512_mask_storeu_ps(row + j, m, e);
        sum = _mm512_add_ps(sum, e);
    }
    const float s = _mm512_reduce_add_ps(sum);
    const __m512 inv = _mm512_set1_ps(s > 0 ? 1.0f / s : 0.0f);
    const __m512 zr = _mm512_set1_ps(span_z ? (span_ramp + *span_z) / span_ramp : 0.0f);
    const __m512 rinv = _mm512_set1_ps(span_z ? 1.0f / span_ramp : 0.0f);
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = tail_mask((size_t)(n - j));
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + j), inv);
        if (span_z) {
            /* m(x) = clamp((R + z - x) / R, 0, 1), x = |i - j| */
            __m512i jj = _mm512_add_epi32(lane, _mm512_set1_epi32(j));
            __m512i d = _mm512_abs_epi32(_mm512_sub_epi32(jj, _mm512_set1_epi32(i)));
            __m512 x = _mm512_cvtepi32_ps(d);
            __m512 mk = _mm512_fnmadd_ps(x, rinv, zr);
            mk = _mm512_min_ps(_mm512_set1_ps(1.0f), _mm512_max_ps(_mm512_setzero_ps(), mk));
            v = _mm512_mul_ps(v, mk);
        }
        _mm512_mask_storeu_ps(row + j, m, v);
    }
}

/* ctx[i, 0..HS) = sum_j A[i, j] v[j, 0..HS), v rows of stride ldv, ctx rows
 * of stride ldo.  Zero probabilities are skipped. */
/* ctx[MR rows, c0..c0+64) = A[MR rows, N] . v[N, c0..): MR (1..6) rows share
 * every load of a v row (24 accumulators); with skip, a key whose
 * probability is zero in all MR rows (padding, spans) is skipped. */
static inline __attribute__((always_inline)) T512 void av_rows(float *o, int ldo, const float *a,
                                                               int lda, int N, const float *v,
                                                               int ldv, int HS, int c0, int MR,
                                                               int skip) {
    __mmask16 m0, m1, m2, m3;
    m0 = c0 < HS ? tail_mask((size_t)(HS - c0)) : 0;
    m1 = c0 + 16 < HS ? tail_mask((size_t)(HS - c0 - 16)) : 0;
    m2 = c0 + 32 < HS ? tail_mask((size_t)(HS - c0 - 32)) : 0;
    m3 = c0 + 48 < HS ? tail_mask((size_t)(HS - c0 - 48)) : 0;
    /* written out row by row so that the 24 accumulators stay registers */
#define EB_AV_DECL(r)                                                                              \
    __m512 a##r##0 = _mm512_setzero_ps(), a##r##1 = _mm512_setzero_ps(),                           \
           a##r##2 = _mm512_setzero_ps(), a##r##3 = _mm512_setzero_ps();
    EB_AV_DECL(0)
    EB_AV_DECL(1)
    EB_AV_DECL(2)
    EB_AV_DECL(3)
    EB_AV_DECL(4) EB_AV_DECL(5)
#undef EB_AV_DECL
        for (int j = 0; j < N; j++) {
        if (skip) {
            int any = 0;
            for (int r = 0; r < MR; r++)
                any |= a[(size_t)r * lda + j] != 0.0f;
            if (!any) continue;
        }
        const float *vr = v + (size_t)j * ldv + c0;
        const __m512 v0 = _mm512_maskz_loadu_ps(m0, vr), v1 = _mm512_maskz_loadu_ps(m1, vr + 16),
                     v2 = _mm512_maskz_loadu_ps(m2, vr + 32),
                     v3 = _mm512_maskz_loadu_ps(m3, vr + 48);
#define EB_AV_ROW(r)                                                                               \
    if (MR > (r)) {                                                                                \
        const __m512 s = _mm512_set1_ps(a[(size_t)(r)*lda + j]);                                   \
        a##r##0 = _mm512_fmadd_ps(s, v0, a##r##0);                                                 \
        a##r##1 = _mm512_fmadd_ps(s, v1, a##r##1);                                                 \
        a##r##2 = _mm512_fmadd_ps(s, v2, a##r##2);                                                 \
        a##r##3 = _mm512_fmadd_ps(s, v3, a##r##3);                                                 \
    }
        EB_AV_ROW(0) EB_AV_ROW(1) EB_AV_ROW(2) EB_AV_ROW(3) EB_AV_ROW(4) EB_AV_ROW(5)
#undef EB_AV_ROW
    }
#define EB_AV_STORE(r)                                                                             \
    if (MR > (r)) {                                                                                \
        float *orow = o + (size_t)(r)*ldo + c0;                                                    \
        _mm512_mask_storeu_ps(orow, m0, a##r##0);                                                  \
        _mm512_mask_storeu_ps(orow + 16, m1, a##r##1);                                             \
        _mm512_mask_storeu_ps(orow + 32, m2, a##r##2);                                             \
        _mm512_mask_storeu_ps(orow + 48, m3, a##r##3);                                             \
    }
    EB_AV_STORE(0) EB_AV_STORE(1) EB_AV_STORE(2) EB_AV_STORE(3) EB_AV_STORE(4) EB_AV_STORE(5)
#undef EB_AV_STORE
}

/* skip: the probabilities may hold zeros worth skipping (padding, spans) */
static T512 void av_avx512(float *ctx, int ldo, const float *A, int N, const float *v, int ldv,
                           int HS, int skip) {
    for (int c0 = 0; c0 < HS; c0 += 64) {
        int i = 0;
        if (skip) {
            for (; i + 6 <= N; i += 6)
                av_rows(ctx + (size_t)i * ldo, ldo, A + (size_t)i * N, N, N, v, ldv, HS, c0, 6, 1);
            for (; i + 4 <= N; i += 4)
                av_rows(ctx + (size_t)i * ldo, ldo, A + (size_t)i * N, N, N, v, ldv, HS, c0, 4, 1);
            for (; i < N; i++)
                av_rows(ctx + (size_t)i * ldo, ldo, A + (size_t)i * N, N, N, v, ldv, HS, c0, 1, 1);
        } else {
            for (; i + 6 <= N; i += 6)
                av_rows(ctx + (size_t)i * ldo, ldo, A + (size_t)i * N, N, N, v, ldv, HS, c0, 6, 0);
            for (; i + 4 <= N; i += 4)
                av_rows(ctx + (size_t)i * ldo, ldo, A + (size_t)i * N, N, N, v, ldv, HS, c0, 4, 0);
            for (; i < N; i++)
                av_rows(ctx + (size_t)i * ldo, ldo, A + (size_t)i * N, N, N, v, ldv, HS, c0, 1, 0);
        }
    }
}

/* A[MR rows, j0..j0+64) = q[MR rows, HS] . kT[HS, j0..j0+64): outer products
 * of a transposed K (rows of ldk floats, zero beyond N), MR (1..6) query rows
 * against 4 vectors of keys, 24 accumulators in registers; columns >= N are
 * not stored. */
static inline __attribute__((always_inline)) T512 void qk_rows(float *A, int lda, const float *q,
                                                               int ldq, const float *kT, int ldk,
                                                               int HS, int N, int j0, int MR) {
#define EB_QK_DECL(r)                                                                              \
    __m512 a##r##0 = _mm512_setzero_ps(), a##r##1 = _mm512_setzero_ps(),                           \
           a##r##2 = _mm512_setzero_ps(), a##r##3 = _mm512_setzero_ps();
    EB_QK_DECL(0)
    EB_QK_DECL(1)
    EB_QK_DECL(2)
    EB_QK_DECL(3) EB_QK_DECL(4) EB_QK_DECL(5)
#undef EB_QK_DECL
        for (int c = 0; c < HS; c++) {
        const float *kr = kT + (size_t)c * ldk + j0;
        const __m512 k0 = _mm512_loadu_ps(kr), k1 = _mm512_loadu_ps(kr + 16),
                     k2 = _mm512_loadu_ps(kr + 32), k3 = _mm512_loadu_ps(kr + 48);
#define EB_QK_ROW(r)                                                                               \
    if (MR > (r)) {                                                                                \
        const __m512 s = _mm512_set1_ps(q[(size_t)(r)*ldq + c]);                                   \
        a##r##0 = _mm512_fmadd_ps(s, k0, a##r##0);                                                 \
        a##r##1 = _mm512_fmadd_ps(s, k1, a##r##1);                                                 \
        a##r##2 = _mm512_fmadd_ps(s, k2, a##r##2);                                                 \
        a##r##3 = _mm512_fmadd_ps(s, k3, a##r##3);                                                 \
    }
        EB_QK_ROW(0) EB_QK_ROW(1) EB_QK_ROW(2) EB_QK_ROW(3) EB_QK_ROW(4) EB_QK_ROW(5)
#undef EB_QK_ROW
    }
    const __mmask16 m0 = tail_mask((size_t)(N - j0)),
                    m1 = N - j0 > 16 ? tail_mask((size_t)(N - j0 - 16)) : 0,
                    m2 = N - j0 > 32 ? tail_mask((size_t)(N - j0 - 32)) : 0,
                    m3 = N - j0 > 48 ? tail_mask((size_t)(N - j0 - 48)) : 0;
#define EB_QK_STORE(r)                                                                             \
    if (MR > (r)) {                                                                                \
        float *arow = A + (size_t)(r)*lda + j0;                                                    \
        _mm512_mask_storeu_ps(arow, m0, a##r##0);                                                  \
        _mm512_mask_storeu_ps(arow + 16, m1, a##r##1);                                             \
        _mm512_mask_storeu_ps(arow + 32, m2, a##r##2);                                             \
        _mm512_mask_storeu_ps(arow + 48, m3, a##r##3);                                             \
    }
    EB_QK_STORE(0) EB_QK_STORE(1) EB_QK_STORE(2) EB_QK_STORE(3) EB_QK_STORE(4) EB_QK_STORE(5)
#undef EB_QK_STORE
}

/* Largest transposed K kept on the stack (floats): HS 64 x 256 keys */
#define EB_QK_STACK 16384

/* A[N, N] = q[N, HS] . k[N, HS]^T (rows of stride ld): through a transposed
 * copy of k and qk_rows when it fits EB_QK_STACK, else the dot-product tiles. */
static T512 void qk_avx512(float *A, const float *q, const float *k, int ld, int N, int HS) {
    const int Np = (N + 63) & ~63;
    if ((size_t)HS * Np > EB_QK_STACK || N < 32) {
        eb_gemm_nt_ex(EB_GEMM_AVX512, A, N, q, ld, k, ld, NULL, N, HS, N, EB_EPI_NONE, 1);
        return;
    }
    float kT[EB_QK_STACK];
    for (int c = 0; c < HS; c++) {
        float *row = kT + (size_t)c * Np;
        for (int j = 0; j < N; j++)
            row[j] = k[(size_t)j * ld + c];
        for (int j = N; j < Np; j++)
            row[j] = 0.0f;
    }
    for (int j0 = 0; j0 < N; j0 += 64) {
        int i = 0;
        for (; i + 6 <= N; i += 6)
            qk_rows(A + (size_t)i * N, N, q + (size_t)i * ld, ld, kT, Np, HS, N, j0, 6);
        for (; i + 4 <= N; i += 4)
            qk_rows(A + (size_t)i * N, N, q + (size_t)i * ld, ld, kT, Np, HS, N, j0, 4);
        for (; i < N; i++)
            qk_rows(A + (size_t)i * N, N, q + (size_t)i * ld, ld, kT, Np, HS, N, j0, 1);
    }
}

static T512 void attention_avx512(float *out, float *att, const float *q, const float *k,
                                  const float *v, int N, int NH, int HS, const uint8_t *key_valid,
                                  const float *span_z, float span_ramp, const uint8_t *head_on,
                                  int threads) {
    const int H = NH * HS;
    const float scale = 1.0f / sqrtf((float)HS);
    const double flops = 4.0 * N * (double)N * H;
    __mmask16 km[KMASK_MAX];
    if (key_valid) key_masks(km, key_valid, N);
    const __mmask16 *kmp = key_valid ? km : NULL;
    /* zero probabilities are worth testing for only with padding or spans */
    int skip = span_z != NULL;
    for (int j = 0; key_valid && j < N && !skip; j++)
        skip = !key_valid[j];
    (void)flops;
    EB_PAR_FOR(threads, flops > EB_PAR_MIN_FLOPS && NH > 1, (int h = 0; h < NH; h++), {
        float *A = att + (size_t)h * N * N;
        if ((head_on && !head_on[h]) || (span_z && eb_span_head_off(span_z[h], span_ramp))) {
            for (int i = 0; i < N; i++)
                memset(out + (size_t)i * H + h * HS, 0, sizeof(float) * HS);
            memset(A, 0, sizeof(float) * (size_t)N * N);
            continue;
        }
        qk_avx512(A, q + h * HS, k + h * HS, H, N, HS);
        for (int i = 0; i < N; i++)
            softmax_row_avx512(A + (size_t)i * N, N, i, scale, kmp, span_z ? &span_z[h] : NULL,
                               span_ramp);
        av_avx512(out + h * HS, H, A, N, v + h * HS, H, HS, skip);
    });
}
#endif /* EB_X86 */

#if EB_X86
static int use512(void) {
    return eb_cpu_has_avx512();
}
#endif

void eb_gelu_new(float *x, size_t n) {
#if EB_X86
    if (use512()) {
        gelu_new_avx512(x, n);
        return;
    }
#endif
    eb_gelu_new_ref(x, n);
}

void eb_gelu_new_backward(float *dinp, const float *dout, const float *inp, size_t n) {
#if EB_X86
    if (use512()) {
        gelu_new_backward_avx512(dinp, dout, inp, n);
        return;
    }
#endif
    eb_gelu_new_backward_ref(dinp, dout, inp, n);
}

#if EB_X86
static T512 void count_nonzero16_avx512(const float *x, size_t n, double *nonzero,
                                        double *zero_vecs) {
    size_t nz = 0, zv = 0;
    for (size_t c0 = 0; c0 < n; c0 += 16) {
        const __mmask16 m = tail_mask(n - c0);
        /* != 0 unordered: NaN is non-zero, as in the scalar x != 0.0f */
        const __mmask16 k = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, x + c0),
                                                    _mm512_setzero_ps(), _CMP_NEQ_UQ);
        const int cnt = __builtin_popcount((unsigned)k);
        nz += (size_t)cnt;
        zv += cnt == 0;
    }
    *nonzero += (double)nz;
    *zero_vecs += (double)zv;
}
#endif

void eb_count_nonzero16(const float *x, size_t n, double *nonzero, double *zero_vecs) {
#if EB_X86
    if (use512()) {
        count_nonzero16_avx512(x, n, nonzero, zero_vecs);
        return;
    }
#endif
    eb_count_nonzero16_ref(x, n, nonzero, zero_vecs);
}

void eb_gelu_erf(float *x, size_t n) {
#if EB_X86
    if (use512()) {
        gelu_erf_avx512(x, n);
        return;
    }
#endif
    eb_gelu_erf_ref(x, n);
}

void eb_layernorm(float *out, const float *inp, const float *g, const float *b, int N, int C,
                  float eps) {
#if EB_X86
    if (use512()) {
        layernorm_avx512(out, inp, NULL, g, b, N, C, eps);
        return;
    }
#endif
    eb_layernorm_ref(out, inp, g, b, N, C, eps);
}

void eb_add_layernorm(float *out, const float *inp, const float *res, const float *g,
                      const float *b, int N, int C, float eps) {
#if EB_X86
    if (use512()) {
        layernorm_avx512(out, inp, res, g, b, N, C, eps);
        return;
    }
#endif
    eb_add_layernorm_ref(out, inp, res, g, b, N, C, eps);
}

void eb_softmax_masked_row(float *row, int n, int i, const uint8_t *key_valid, const float *span_z,
                           float span_ramp) {
#if EB_X86
    if (use512() && n <= 16 * KMASK_MAX) {
        __mmask16 km[KMASK_MAX];
        if (key_valid) key_masks(km, key_valid, n);
        softmax_row_avx512(row, n, i, 1.0f, key_valid ? km : NULL, span_z, span_ramp);
        return;
    }
#endif
    eb_softmax_masked_row_ref(row, n, i, key_valid, span_z, span_ramp);
}

void eb_attention(float *out, float *att, const float *q, const float *k, const float *v, int N,
                  int NH, int HS, const uint8_t *key_valid, const float *span_z, float span_ramp,
                  const uint8_t *head_on, int threads) {
#if EB_X86
    if (use512() && N <= 16 * KMASK_MAX) {
        attention_avx512(out, att, q, k, v, N, NH, HS, key_valid, span_z, span_ramp, head_on,
                         threads);
        return;
    }
#endif
    eb_attention_ref(out, att, q, k, v, N, NH, HS, key_valid, span_z, span_ramp, head_on);
}
