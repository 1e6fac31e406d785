/* gemm.c - out[N,OC] = inp[N,C] @ w[OC,C]^T + bias for the shapes of an
 * encoder at batch 1 (N = 1..~256 tokens, C and OC in the hundreds or
 * thousands), with the weight in its native PyTorch [OC, C] layout.
 *
 * Both operands are contiguous along C, so the kernels are dot-product
 * tiles: MR input rows x NR weight rows accumulated along C in vector
 * registers, then reduced horizontally once per tile.  That needs no packing
 * of the weight (which, at 16 tokens, would cost as much memory traffic as
 * the product itself).  The AVX-512 and AVX2/FMA kernels are compiled with
 * function target attributes and chosen at run time; OpenBLAS serves the
 * shapes where it is faster and CPUs without AVX2.
 *
 * Threads: the OC range is cut into blocks whose weight rows fit in L2 and
 * handed out by an OpenMP dynamic schedule (a shared, noisy machine makes a
 * static split wait on the slowest core). */
#include "kernels/kernels.h"
#include "kernels/neon.h"
#include "util/util.h"

#include <cblas.h>
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#define EB_MAX_THREADS() omp_get_max_threads()
#else
#define EB_MAX_THREADS() 1
#endif
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define EB_X86 1
#include <immintrin.h>
#else
#define EB_X86 0
#endif

int eb_cpu_has_avx512(void) {
#if EB_X86
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

int eb_cpu_has_avx2(void) {
#if EB_X86
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int eb_cpu_has_neon(void) {
#if defined(__aarch64__) && !defined(EB_NO_SIMD)
    return eb_simd_best() >= EB_SIMD_NEON;
#else
    return 0;
#endif
}

eb_gemm_impl eb_gemm_best_impl(void) {
    if (eb_cpu_has_avx512()) return EB_GEMM_AVX512;
    if (eb_cpu_has_avx2()) return EB_GEMM_AVX2;
    if (eb_cpu_has_neon()) return EB_GEMM_NEON;
    return EB_GEMM_BLAS;
}

const char *eb_gemm_impl_name(eb_gemm_impl impl) {
    switch (impl) {
    case EB_GEMM_AUTO: return "auto";
    case EB_GEMM_BLAS: return "openblas";
    case EB_GEMM_AVX2: return "avx2";
    case EB_GEMM_AVX512: return "avx512";
    case EB_GEMM_SCALAR: return "scalar";
    case EB_GEMM_NEON: return "neon";
    }
    return "?";
}

/* Apply the epilogue activation to n values of a row. */
static void epilogue(float *y, size_t n, eb_epilogue ep) {
    if (ep == EB_EPI_GELU_NEW)
        eb_gelu_new(y, n);
    else if (ep == EB_EPI_GELU_ERF)
        eb_gelu_erf(y, n);
    else if (ep == EB_EPI_RELU)
        eb_relu(y, n);
}

/* Columns per OC block: the block's weight rows take about 256 KiB (L2 is
 * 1 MiB on Zen 4), a multiple of 4, at least 4. */
static int oc_block(int C) {
    int b = (int)((256u * 1024u) / ((unsigned)C * sizeof(float)));
    b &= ~3;
    return b < 4 ? 4 : b;
}

/* Rows per N chunk: the chunk of inp stays in L2 next to the weight block. */
static int n_chunk(int C) {
    int b = (int)((384u * 1024u) / ((unsigned)C * sizeof(float)));
    b &= ~3;
    return b < 4 ? 4 : b;
}

/* ---------------------------------------------------------------- */
/* AVX-512                                                            */
/* ---------------------------------------------------------------- */
#if EB_X86
#define T512 __attribute__((target("avx512f,avx512dq,fma")))

/* Lane i of the result = sum of the 16 lanes of v[i]. */
static inline T512 __m512 hsum16_512(const __m512 v[16]) {
    __m512 t[8], u[4];
    for (int k = 0; k < 8; k++)
        t[k] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]),
                             _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]));
    for (int j = 0; j < 4; j++) {
        __m512d a = _mm512_castps_pd(t[2 * j]), b = _mm512_castps_pd(t[2 * j + 1]);
        u[j] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
                             _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    __m512 x01 = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(1, 0, 1, 0)),
                               _mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 x23 = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], _MM_SHUFFLE(1, 0, 1, 0)),
                               _mm512_shuffle_f32x4(u[2], u[3], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(x01, x23, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(x01, x23, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* One 4x4 tile: rows x[0..3] (pointers, may repeat for a ragged edge),
 * weight rows w[0..3]; writes the 16 dot products, acc index r*4+c, into
 * lanes of the returned vector.  `first` selects whether the tile starts a
 * fresh sum or adds to `prev` (C blocking). */
static inline __attribute__((always_inline)) T512 __m512
tile4x4_512(const float *x0, const float *x1, const float *x2, const float *x3, const float *w0,
            const float *w1, const float *w2, const float *w3, int C, const float *const *pf) {
    __m512 acc[16];
    for (int i = 0; i < 16; i++)
        acc[i] = _mm512_setzero_ps();
    int c = 0;
    for (; c + 16 <= C; c += 16) {
        if (pf) {
            _mm_prefetch((const char *)(pf[0] + c), _MM_HINT_T0);
            _mm_prefetch((const char *)(pf[1] + c), _MM_HINT_T0);
            _mm_prefetch((const char *)(pf[2] + c), _MM_HINT_T0);
            _mm_prefetch((const char *)(pf[3] + c), _MM_HINT_T0);
        }
        __m512 a0 = _mm512_loadu_ps(x0 + c), a1 = _mm512_loadu_ps(x1 + c);
        __m512 a2 = _mm512_loadu_ps(x2 + c), a3 = _mm512_loadu_ps(x3 + c);
        __m512 b0 = _mm512_loadu_ps(w0 + c), b1 = _mm512_loadu_ps(w1 + c);
        __m512 b2 = _mm512_loadu_ps(w2 + c), b3 = _mm512_loadu_ps(w3 + c);
        acc[0] = _mm512_fmadd_ps(a0, b0, acc[0]);
        acc[1] = _mm512_fmadd_ps(a0, b1, acc[1]);
        acc[2] = _mm512_fmadd_ps(a0, b2, acc[2]);
        acc[3] = _mm512_fmadd_ps(a0, b3, acc[3]);
        acc[4] = _mm512_fmadd_ps(a1, b0, acc[4]);
        acc[5] = _mm512_fmadd_ps(a1, b1, acc[5]);
        acc[6] = _mm512_fmadd_ps(a1, b2, acc[6]);
        acc[7] = _mm512_fmadd_ps(a1, b3, acc[7]);
        acc[8] = _mm512_fmadd_ps(a2, b0, acc[8]);
        acc[9] = _mm512_fmadd_ps(a2, b1, acc[9]);
        acc[10] = _mm512_fmadd_ps(a2, b2, acc[10]);
        acc[11] = _mm512_fmadd_ps(a2, b3, acc[11]);
        acc[12] = _mm512_fmadd_ps(a3, b0, acc[12]);
        acc[13] = _mm512_fmadd_ps(a3, b1, acc[13]);
        acc[14] = _mm512_fmadd_ps(a3, b2, acc[14]);
        acc[15] = _mm512_fmadd_ps(a3, b3, acc[15]);
    }
    if (c < C) {
        __mmask16 m = (__mmask16)((1u << (C - c)) - 1u);
        __m512 a[4] = {_mm512_maskz_loadu_ps(m, x0 + c), _mm512_maskz_loadu_ps(m, x1 + c),
                       _mm512_maskz_loadu_ps(m, x2 + c), _mm512_maskz_loadu_ps(m, x3 + c)};
        __m512 b[4] = {_mm512_maskz_loadu_ps(m, w0 + c), _mm512_maskz_loadu_ps(m, w1 + c),
                       _mm512_maskz_loadu_ps(m, w2 + c), _mm512_maskz_loadu_ps(m, w3 + c)};
        for (int r = 0; r < 4; r++)
            for (int k = 0; k < 4; k++)
                acc[r * 4 + k] = _mm512_fmadd_ps(a[r], b[k], acc[r * 4 + k]);
    }
    return hsum16_512(acc);
}

/* out rows n0..n1-1, columns o0..o1-1 (o1-o0 a multiple of 4 except at OC's
 * end).  Contraction in chunks of at most KC so that the weight tile stays
 * in L1; the partial sums go through out. */
static T512 void block_512(float *out, int ldo, const float *inp, int ldx, const float *w, int ldw,
                           const float *bias, int C, int n0, int n1, int o0, int o1) {
    enum { KC = 4096 }; /* measured: with the prefetch, splitting C does not pay */
    for (int k0 = 0; k0 < C; k0 += KC) {
        const int kc = C - k0 < KC ? C - k0 : KC;
        const int first = k0 == 0;
        for (int o = o0; o < o1; o += 4) {
            const int nr = o1 - o < 4 ? o1 - o : 4;
            const float *wr[4];
            for (int k = 0; k < 4; k++)
                wr[k] = w + (size_t)(o + (k < nr ? k : nr - 1)) * ldw + k0;
            const float *pfr[4];
            for (int k = 0; k < 4; k++) {
                int on = o + 4 + k < o1 ? o + 4 + k : o1 - 1;
                pfr[k] = w + (size_t)on * ldw + k0;
            }
            __m128 bv = _mm_setzero_ps();
            if (first && bias) {
                float bb[4] = {0, 0, 0, 0};
                for (int k = 0; k < nr; k++)
                    bb[k] = bias[o + k];
                bv = _mm_loadu_ps(bb);
            }
            for (int n = n0; n < n1; n += 4) {
                const int mr = n1 - n < 4 ? n1 - n : 4;
                const float *xr[4];
                for (int r = 0; r < 4; r++)
                    xr[r] = inp + (size_t)(n + (r < mr ? r : mr - 1)) * ldx + k0;
                /* the first row tile pulls the next weight tile towards L1 */
                __m512 s = n == n0 && o + 4 < o1 ? tile4x4_512(xr[0], xr[1], xr[2], xr[3], wr[0],
                                                               wr[1], wr[2], wr[3], kc, pfr)
                                                 : tile4x4_512(xr[0], xr[1], xr[2], xr[3], wr[0],
                                                               wr[1], wr[2], wr[3], kc, NULL);
                float lanes[16];
                _mm512_storeu_ps(lanes, s);
                for (int r = 0; r < mr; r++) {
                    float *y = out + (size_t)(n + r) * ldo + o;
                    __m128 v = _mm_loadu_ps(lanes + 4 * r);
                    if (first)
                        v = _mm_add_ps(v, bv);
                    else {
                        float cur[4] = {0, 0, 0, 0};
                        for (int k = 0; k < nr; k++)
                            cur[k] = y[k];
                        v = _mm_add_ps(v, _mm_loadu_ps(cur));
                    }
                    if (nr == 4)
                        _mm_storeu_ps(y, v);
                    else {
                        float tmp[4];
                        _mm_storeu_ps(tmp, v);
                        for (int k = 0; k < nr; k++)
                            y[k] = tmp[k];
                    }
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- */
/* AVX2 + FMA                                                         */
/* ---------------------------------------------------------------- */
#define T256 __attribute__((target("avx2,fma")))

static inline T256 float hsum8_256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 2 rows x 4 weight rows: 8 accumulators, 6 loads (16 ymm registers). */
static T256 void block_256(float *out, int ldo, const float *inp, int ldx, const float *w, int ldw,
                           const float *bias, int C, int n0, int n1, int o0, int o1) {
    const int C8 = C & ~7;
    for (int o = o0; o < o1; o += 4) {
        const int nr = o1 - o < 4 ? o1 - o : 4;
        const float *wr[4];
        for (int k = 0; k < 4; k++)
            wr[k] = w + (size_t)(o + (k < nr ? k : nr - 1)) * ldw;
        for (int n = n0; n < n1; n += 2) {
            const int mr = n1 - n < 2 ? n1 - n : 2;
            const float *x0 = inp + (size_t)n * ldx, *x1 = inp + (size_t)(n + mr - 1) * ldx;
            __m256 acc[8];
            for (int i = 0; i < 8; i++)
                acc[i] = _mm256_setzero_ps();
            for (int c = 0; c < C8; c += 8) {
                __m256 a0 = _mm256_loadu_ps(x0 + c), a1 = _mm256_loadu_ps(x1 + c);
                __m256 b0 = _mm256_loadu_ps(wr[0] + c), b1 = _mm256_loadu_ps(wr[1] + c);
                __m256 b2 = _mm256_loadu_ps(wr[2] + c), b3 = _mm256_loadu_ps(wr[3] + c);
                acc[0] = _mm256_fmadd_ps(a0, b0, acc[0]);
                acc[1] = _mm256_fmadd_ps(a0, b1, acc[1]);
                acc[2] = _mm256_fmadd_ps(a0, b2, acc[2]);
                acc[3] = _mm256_fmadd_ps(a0, b3, acc[3]);
                acc[4] = _mm256_fmadd_ps(a1, b0, acc[4]);
                acc[5] = _mm256_fmadd_ps(a1, b1, acc[5]);
                acc[6] = _mm256_fmadd_ps(a1, b2, acc[6]);
                acc[7] = _mm256_fmadd_ps(a1, b3, acc[7]);
            }
            for (int r = 0; r < mr; r++) {
                const float *x = r ? x1 : x0;
                float *y = out + (size_t)(n + r) * ldo + o;
                for (int k = 0; k < nr; k++) {
                    float s = hsum8_256(acc[r * 4 + k]);
                    for (int c = C8; c < C; c++)
                        s += x[c] * wr[k][c];
                    y[k] = s + (bias ? bias[o + k] : 0.0f);
                }
            }
        }
    }
}
#endif /* EB_X86 */

/* Portable dot-product tiles (no SIMD assumptions; the compiler may
 * vectorise).  Used when forced and by tests; OpenBLAS is the portable
 * default. */
static void block_scalar(float *out, int ldo, const float *inp, int ldx, const float *w, int ldw,
                         const float *bias, int C, int n0, int n1, int o0, int o1) {
    for (int n = n0; n < n1; n++)
        for (int o = o0; o < o1; o++) {
            const float *x = inp + (size_t)n * ldx, *wr = w + (size_t)o * ldw;
            float s = 0;
            for (int c = 0; c < C; c++)
                s += x[c] * wr[c];
            out[(size_t)n * ldo + o] = s + (bias ? bias[o] : 0.0f);
        }
}

typedef void (*block_fn)(float *, int, const float *, int, const float *, int, const float *, int,
                         int, int, int, int);

static block_fn pick_block(eb_gemm_impl impl) {
#if EB_X86
    if (impl == EB_GEMM_AVX512 && eb_cpu_has_avx512()) return block_512;
    if (impl == EB_GEMM_AVX2 && eb_cpu_has_avx2()) return block_256;
#endif
    if (impl == EB_GEMM_NEON && eb_cpu_has_neon()) return eb_neon_gemm_block;
    if (impl == EB_GEMM_SCALAR) return block_scalar;
    return NULL;
}

static void run_blocked(block_fn fn, float *out, int ldo, const float *inp, int ldx, const float *w,
                        int ldw, const float *bias, int N, int C, int OC, eb_epilogue ep,
                        int threads) {
    const int ob = oc_block(C), nc = n_chunk(C);
    const int nblocks = (OC + ob - 1) / ob;
    const double flops = 2.0 * N * (double)C * OC;
    /* Below EB_PAR_MIN_FLOPS a thread team costs more than it saves. */
    const int par = flops > EB_PAR_MIN_FLOPS && nblocks > 1;
    (void)par;
    EB_PAR_FOR(threads, par, (int b = 0; b < nblocks; b++), {
        const int o0 = b * ob, o1 = o0 + ob < OC ? o0 + ob : OC;
        for (int n0 = 0; n0 < N; n0 += nc) {
            const int n1 = n0 + nc < N ? n0 + nc : N;
            fn(out, ldo, inp, ldx, w, ldw, bias, C, n0, n1, o0, o1);
            if (ep != EB_EPI_NONE)
                for (int n = n0; n < n1; n++)
                    epilogue(out + (size_t)n * ldo + o0, (size_t)(o1 - o0), ep);
        }
    });
}

static void gemm_blas(float *out, int ldo, const float *inp, int ldx, const float *w, int ldw,
                      const float *bias, int N, int C, int OC, eb_epilogue ep) {
    if (bias)
        for (int i = 0; i < N; i++)
            memcpy(out + (size_t)i * ldo, bias, sizeof(float) * (size_t)OC);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, ldx, w, ldw,
                bias ? 1.0f : 0.0f, out, ldo);
    if (ep != EB_EPI_NONE)
        for (int i = 0; i < N; i++)
            epilogue(out + (size_t)i * ldo, (size_t)OC, ep);
}

/* Measured on Zen 4 (docs/perf.md), one thread: the dot-product tiles beat
 * OpenBLAS clearly up to 32 rows (1.3-2x at 16), tie at 64, and lose 5-15 %
 * from about 100 rows, where OpenBLAS's packed kernels win.  With more than
 * one OpenMP thread the tiles are used throughout: OpenBLAS's own pthread
 * pool next to OpenMP's would oversubscribe the cores. */
static eb_gemm_impl choose(int N, int C, int OC, int threads) {
    eb_gemm_impl best = eb_gemm_best_impl();
    if (best == EB_GEMM_BLAS) return best;
    /* threads == 1 promises no thread at all: OpenBLAS may start its own */
    if (threads == 1) return best;
    if (C < 16) return EB_GEMM_BLAS;
#ifndef EB_NO_BLAS
    /* aarch64: the NEON tiles need no packing, which pays on the few-row
     * products of short sentences; from 32 rows OpenBLAS's packed NEON
     * kernels reuse each weight load across more rows. */
    if (best == EB_GEMM_NEON && N >= 32) return EB_GEMM_BLAS;
#endif
    if (N >= 96 && (EB_MAX_THREADS() == 1 || N > 512)) return EB_GEMM_BLAS;
    (void)OC;
    return best;
}

void eb_gemm_nt_ex(eb_gemm_impl impl, float *out, int ldo, const float *inp, int ldx,
                   const float *w, int ldw, const float *bias, int N, int C, int OC, eb_epilogue ep,
                   int threads) {
    if (N <= 0 || OC <= 0) return;
    if (C <= 0) {
        for (int n = 0; n < N; n++) {
            for (int o = 0; o < OC; o++)
                out[(size_t)n * ldo + o] = bias ? bias[o] : 0.0f;
            if (ep != EB_EPI_NONE) epilogue(out + (size_t)n * ldo, (size_t)OC, ep);
        }
        return;
    }
    if (impl == EB_GEMM_AUTO) impl = choose(N, C, OC, threads);
    block_fn fn = pick_block(impl);
    if (fn)
        run_blocked(fn, out, ldo, inp, ldx, w, ldw, bias, N, C, OC, ep, threads);
    else
        gemm_blas(out, ldo, inp, ldx, w, ldw, bias, N, C, OC, ep);
}

void eb_gemm_nt(eb_gemm_impl impl, float *out, const float *inp, const float *w, const float *bias,
                int N, int C, int OC, eb_epilogue ep) {
    eb_gemm_nt_ex(impl, out, OC, inp, C, w, C, bias, N, C, OC, ep, 0);
}

void eb_matmul(float *out, const float *inp, const float *w, const float *bias, int N, int C,
               int OC) {
    eb_gemm_nt_ex(EB_GEMM_AUTO, out, OC, inp, C, w, C, bias, N, C, OC, EB_EPI_NONE, 0);
}

void eb_matmul_act(float *out, const float *inp, const float *w, const float *bias, int N, int C,
                   int OC, eb_epilogue ep) {
    eb_gemm_nt_ex(EB_GEMM_AUTO, out, OC, inp, C, w, C, bias, N, C, OC, ep, 0);
}

/* ---------------------------------------------------------------- */
/* bf16 weights (AVX512-BF16 dot products)                            */
/* ---------------------------------------------------------------- */

int eb_cpu_has_avx512_bf16(void) {
#if EB_X86
    return eb_cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

#if EB_X86
static __attribute__((target("avx512f,avx512bf16,avx512bw,avx512vl"))) void
to_bf16_avx512(uint16_t *dst, const float *src, size_t n) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512(dst + i, (__m512i)v);
    }
    for (; i < n; i++)
        dst[i] = eb_f32_to_bf16(src[i]);
}
#endif

void eb_f32_to_bf16_array(uint16_t *dst, const float *src, size_t n) {
#if EB_X86
    if (__builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl")) {
        to_bf16_avx512(dst, src, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        dst[i] = eb_f32_to_bf16(src[i]);
}

void eb_gemm_bf16_ref(float *out, const float *inp, const uint16_t *w, const float *bias, int N,
                      int C, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int c = 0; c < C; c++)
                s += (double)eb_bf16_to_f32(eb_f32_to_bf16(inp[(size_t)n * C + c])) *
                     eb_bf16_to_f32(w[(size_t)o * C + c]);
            out[(size_t)n * OC + o] = (float)s;
        }
}

#if EB_X86
#define TBF16 __attribute__((target("avx512f,avx512dq,avx512bf16,fma")))

/* 4 rows x 4 weight rows of bf16 pairs; C2 = number of bf16 pairs. */
static TBF16 void block_bf16(float *out, const uint16_t *x, const uint16_t *w, const float *bias,
                             int C, int OC, int n0, int n1, int o0, int o1) {
    const int C32 = C & ~31;
    for (int o = o0; o < o1; o += 4) {
        const int nr = o1 - o < 4 ? o1 - o : 4;
        const uint16_t *wr[4], *pf[4];
        for (int k = 0; k < 4; k++) {
            wr[k] = w + (size_t)(o + (k < nr ? k : nr - 1)) * C;
            pf[k] = w + (size_t)(o + 4 + k < o1 ? o + 4 + k : o1 - 1) * C;
        }
        for (int n = n0; n < n1; n += 4) {
            const int mr = n1 - n < 4 ? n1 - n : 4;
            const uint16_t *xr[4];
            for (int r = 0; r < 4; r++)
                xr[r] = x + (size_t)(n + (r < mr ? r : mr - 1)) * C;
            __m512 acc[16];
            for (int i = 0; i < 16; i++)
                acc[i] = _mm512_setzero_ps();
            int c = 0;
            for (; c < C32; c += 32) {
                if (n == n0) {
                    _mm_prefetch((const char *)(pf[0] + c), _MM_HINT_T0);
                    _mm_prefetch((const char *)(pf[1] + c), _MM_HINT_T0);
                    _mm_prefetch((const char *)(pf[2] + c), _MM_HINT_T0);
                    _mm_prefetch((const char *)(pf[3] + c), _MM_HINT_T0);
                }
                const __m512bh a0 = (__m512bh)_mm512_loadu_si512(xr[0] + c);
                const __m512bh a1 = (__m512bh)_mm512_loadu_si512(xr[1] + c);
                const __m512bh a2 = (__m512bh)_mm512_loadu_si512(xr[2] + c);
                const __m512bh a3 = (__m512bh)_mm512_loadu_si512(xr[3] + c);
                const __m512bh b0 = (__m512bh)_mm512_loadu_si512(wr[0] + c);
                const __m512bh b1 = (__m512bh)_mm512_loadu_si512(wr[1] + c);
                const __m512bh b2 = (__m512bh)_mm512_loadu_si512(wr[2] + c);
                const __m512bh b3 = (__m512bh)_mm512_loadu_si512(wr[3] + c);
                acc[0] = _mm512_dpbf16_ps(acc[0], a0, b0);
                acc[1] = _mm512_dpbf16_ps(acc[1], a0, b1);
                acc[2] = _mm512_dpbf16_ps(acc[2], a0, b2);
                acc[3] = _mm512_dpbf16_ps(acc[3], a0, b3);
                acc[4] = _mm512_dpbf16_ps(acc[4], a1, b0);
                acc[5] = _mm512_dpbf16_ps(acc[5], a1, b1);
                acc[6] = _mm512_dpbf16_ps(acc[6], a1, b2);
                acc[7] = _mm512_dpbf16_ps(acc[7], a1, b3);
                acc[8] = _mm512_dpbf16_ps(acc[8], a2, b0);
                acc[9] = _mm512_dpbf16_ps(acc[9], a2, b1);
                acc[10] = _mm512_dpbf16_ps(acc[10], a2, b2);
                acc[11] = _mm512_dpbf16_ps(acc[11], a2, b3);
                acc[12] = _mm512_dpbf16_ps(acc[12], a3, b0);
                acc[13] = _mm512_dpbf16_ps(acc[13], a3, b1);
                acc[14] = _mm512_dpbf16_ps(acc[14], a3, b2);
                acc[15] = _mm512_dpbf16_ps(acc[15], a3, b3);
            }
            if (c < C) { /* tail: 16-bit lanes under a 32-bit mask of pairs (C even) */
                __mmask32 m = (__mmask32)(((uint64_t)1 << (C - c)) - 1u);
                __m512bh a[4], b[4];
                for (int r = 0; r < 4; r++)
                    a[r] = (__m512bh)_mm512_maskz_loadu_epi16(m, xr[r] + c);
                for (int k = 0; k < 4; k++)
                    b[k] = (__m512bh)_mm512_maskz_loadu_epi16(m, wr[k] + c);
                for (int r = 0; r < 4; r++)
                    for (int k = 0; k < 4; k++)
                        acc[r * 4 + k] = _mm512_dpbf16_ps(acc[r * 4 + k], a[r], b[k]);
            }
            float lanes[16];
            _mm512_storeu_ps(lanes, hsum16_512(acc));
            for (int r = 0; r < mr; r++)
                for (int k = 0; k < nr; k++)
                    out[(size_t)(n + r) * OC + o + k] =
                        lanes[r * 4 + k] + (bias ? bias[o + k] : 0.0f);
        }
    }
}
#endif

int eb_gemm_bf16(float *out, const float *inp, const uint16_t *w, const float *bias, int N, int C,
                 int OC, eb_epilogue ep, uint16_t *xbuf, int threads) {
    if (N <= 0 || OC <= 0) return 1;
#if EB_X86
    if (eb_cpu_has_avx512_bf16() && C > 0 && C % 2 == 0) {
        eb_f32_to_bf16_array(xbuf, inp, (size_t)N * C);
        const int ob = oc_block(C / 2), nb = (OC + ob - 1) / ob;
        const int par = 2.0 * N * (double)C * OC > EB_PAR_MIN_FLOPS && nb > 1;
        (void)par;
        EB_PAR_FOR(threads, par, (int b = 0; b < nb; b++), {
            const int o0 = b * ob, o1 = o0 + ob < OC ? o0 + ob : OC;
            block_bf16(out, xbuf, w, bias, C, OC, 0, N, o0, o1);
            if (ep != EB_EPI_NONE)
                for (int n = 0; n < N; n++)
                    epilogue(out + (size_t)n * OC + o0, (size_t)(o1 - o0), ep);
        });
        return 1;
    }
#endif
    (void)xbuf;
    eb_gemm_bf16_ref(out, inp, w, bias, N, C, OC);
    if (ep != EB_EPI_NONE) epilogue(out, (size_t)N * OC, ep);
    return 0;
}

/* ---------------------------------------------------------------- */
/* Pre-packed weights: outer-product kernel                           */
/* ---------------------------------------------------------------- */
/* Layout: panels of EB_PACK_NR output columns; panel p holds, for every
 * k in 0..C-1, the EB_PACK_NR weights w[p*NR + j][k] contiguously (zero
 * beyond OC).  The kernel keeps 8 input rows x 48 columns of sums in 24
 * registers, streams the panel once per 8 rows with aligned loads and
 * broadcasts the inputs: no horizontal sums, no split loads. */

size_t eb_pack_floats(int C, int OC) {
    if (C <= 0 || OC <= 0) return 0;
    return (size_t)((OC + EB_PACK_NR - 1) / EB_PACK_NR) * EB_PACK_NR * (size_t)C;
}

void eb_pack_weights(float *dst, const float *w, int C, int OC) {
    const int np = (OC + EB_PACK_NR - 1) / EB_PACK_NR;
    for (int p = 0; p < np; p++) {
        float *d = dst + (size_t)p * EB_PACK_NR * C;
        for (int k = 0; k < C; k++)
            for (int j = 0; j < EB_PACK_NR; j++) {
                const int o = p * EB_PACK_NR + j;
                d[(size_t)k * EB_PACK_NR + j] = o < OC ? w[(size_t)o * C + k] : 0.0f;
            }
    }
}

void eb_gemm_packed_ref(float *out, const float *inp, const float *wp, const float *bias, int N,
                        int C, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            const float *col = wp + (size_t)(o / EB_PACK_NR) * EB_PACK_NR * C + o % EB_PACK_NR;
            double s = bias ? bias[o] : 0.0;
            for (int k = 0; k < C; k++)
                s += (double)inp[(size_t)n * C + k] * col[(size_t)k * EB_PACK_NR];
            out[(size_t)n * OC + o] = (float)s;
        }
}

#if EB_X86
/* The sums of MR rows x ncols (<= 48) columns plus the bias into out (the
 * packed fp32 and bf16 kernels' common end). */
static inline __attribute__((always_inline)) T512 void
panel_store(float *out, int ldo, __m512 acc[8][3], const float *bias, int MR, int ncols, int add) {
    for (int j = 0; j < 3; j++) {
        const int c0 = 16 * j;
        if (c0 >= ncols) break;
        const __mmask16 m =
            ncols - c0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (ncols - c0)) - 1u);
        const __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias + c0) : _mm512_setzero_ps();
        for (int r = 0; r < MR; r++) {
            float *o = out + (size_t)r * ldo + c0;
            const __m512 prev = add ? _mm512_maskz_loadu_ps(m, o) : _mm512_setzero_ps();
            _mm512_mask_storeu_ps(o, m, _mm512_add_ps(_mm512_add_ps(acc[r][j], bv), prev));
        }
    }
}

/* MR rows (1..8) of inp against one panel; ncols valid columns (<= 48). */
static inline __attribute__((always_inline)) T512 void
panel_rows(float *out, int ldo, const float *x, int ldx, const float *pw, const float *bias, int C,
           int MR, int ncols) {
    __m512 acc[8][3];
    for (int r = 0; r < 8; r++)
        for (int j = 0; j < 3; j++)
            acc[r][j] = _mm512_setzero_ps();
    for (int k = 0; k < C; k++) {
        const float *b = pw + (size_t)k * EB_PACK_NR;
        _mm_prefetch((const char *)(b + 8 * EB_PACK_NR), _MM_HINT_T0);
        _mm_prefetch((const char *)(b + 8 * EB_PACK_NR + 32), _MM_HINT_T0);
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16),
                     b2 = _mm512_load_ps(b + 32);
        /* written out row by row so that every accumulator stays a register */
#define EB_PANEL_ROW(r)                                                                            \
    if (MR > (r)) {                                                                                \
        const __m512 a = _mm512_set1_ps(x[(size_t)(r)*ldx + k]);                                   \
        acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);                                             \
        acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);                                             \
        acc[r][2] = _mm512_fmadd_ps(a, b2, acc[r][2]);                                             \
    }
        EB_PANEL_ROW(0)
        EB_PANEL_ROW(1)
        EB_PANEL_ROW(2)
        EB_PANEL_ROW(3)
        EB_PANEL_ROW(4)
        EB_PANEL_ROW(5)
        EB_PANEL_ROW(6)
        EB_PANEL_ROW(7)
#undef EB_PANEL_ROW
    }
    panel_store(out, ldo, acc, bias, MR, ncols, 0);
}

static T512 void panel_512(float *out, int ldo, const float *inp, int ldx, const float *pw,
                           const float *bias, int N, int C, int ncols) {
    int n = 0;
    for (; n + 8 <= N; n += 8)
        panel_rows(out + (size_t)n * ldo, ldo, inp + (size_t)n * ldx, ldx, pw, bias, C, 8, ncols);
    for (; n + 4 <= N; n += 4)
        panel_rows(out + (size_t)n * ldo, ldo, inp + (size_t)n * ldx, ldx, pw, bias, C, 4, ncols);
    for (; n < N; n++)
        panel_rows(out + (size_t)n * ldo, ldo, inp + (size_t)n * ldx, ldx, pw, bias, C, 1, ncols);
}
#endif

void eb_gemm_packed(float *out, const float *inp, const float *wp, const float *bias, int N, int C,
                    int OC, eb_epilogue ep, int threads) {
    if (N <= 0 || OC <= 0) return;
#if EB_X86
    if (eb_cpu_has_avx512() && C > 0 && ((uintptr_t)wp & 63) == 0) {
        const int np = (OC + EB_PACK_NR - 1) / EB_PACK_NR;
        const int par = 2.0 * N * (double)C * OC > EB_PAR_MIN_FLOPS && np > 1;
        (void)par;
        EB_PAR_FOR(threads, par, (int p = 0; p < np; p++), {
            const int o0 = p * EB_PACK_NR, nc = OC - o0 < EB_PACK_NR ? OC - o0 : EB_PACK_NR;
            panel_512(out + o0, OC, inp, C, wp + (size_t)p * EB_PACK_NR * C,
                      bias ? bias + o0 : NULL, N, C, nc);
            if (ep != EB_EPI_NONE)
                for (int n = 0; n < N; n++)
                    epilogue(out + (size_t)n * OC + o0, (size_t)nc, ep);
        });
        return;
    }
#endif
    eb_gemm_packed_ref(out, inp, wp, bias, N, C, OC);
    if (ep != EB_EPI_NONE) epilogue(out, (size_t)N * OC, ep);
}

/* ---------------------------------------------------------------- */
/* pre-packed bf16 weights (AVX512-BF16 outer products)              */
/* ---------------------------------------------------------------- */
/* Panels of EB_PACK_NR (48) output columns; inside a panel, for each pair of
 * input channels (2k, 2k+1), 48 column pairs: element 2j is w[o_j][2k],
 * element 2j + 1 is w[o_j][2k+1] (vdpbf16ps's lane layout: one broadcast
 * 32-bit input pair against 16 columns per register, 32 multiply-adds per
 * instruction, twice the fp32 FMA's). */

size_t eb_pack_bf16_count(int C, int OC) {
    if (C <= 0 || OC <= 0 || C % 2) return 0;
    return (size_t)((OC + EB_PACK_NR - 1) / EB_PACK_NR) * EB_PACK_NR * (size_t)C;
}

void eb_pack_bf16(uint16_t *dst, const float *w, int C, int OC) {
    eb_pack_bf16_ex(dst, w, C, OC, (size_t)C, 1); /* B(k = c, j = o) = w[o][c] */
}

void eb_gemm_packed_bf16_ref(float *out, const float *inp, const uint16_t *wp, const float *bias,
                             int N, int C, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            const uint16_t *col =
                wp + (size_t)(o / EB_PACK_NR) * EB_PACK_NR * C + 2 * (o % EB_PACK_NR);
            double s = bias ? bias[o] : 0.0;
            for (int k = 0; k < C; k++)
                s += (double)eb_bf16_to_f32(eb_f32_to_bf16(inp[(size_t)n * C + k])) *
                     eb_bf16_to_f32(col[(size_t)(k / 2) * 2 * EB_PACK_NR + k % 2]);
            out[(size_t)n * OC + o] = (float)s;
        }
}

#if EB_X86
/* MR rows (1..8) of the bf16 input x (C even) against one panel. */
static inline __attribute__((always_inline)) TBF16 void
panel_rows_bf16(float *out, int ldo, const uint16_t *x, int ldx, const uint16_t *pw,
                const float *bias, int C, int MR, int ncols, int add) {
    __m512 acc[8][3];
    for (int r = 0; r < 8; r++)
        for (int j = 0; j < 3; j++)
            acc[r][j] = _mm512_setzero_ps();
    for (int k2 = 0; k2 < C / 2; k2++) {
        const uint16_t *b = pw + (size_t)k2 * 2 * EB_PACK_NR;
        _mm_prefetch((const char *)(b + 8 * 2 * EB_PACK_NR), _MM_HINT_T0);
        _mm_prefetch((const char *)(b + 8 * 2 * EB_PACK_NR + 64), _MM_HINT_T0);
        const __m512bh b0 = (__m512bh)_mm512_load_si512(b),
                       b1 = (__m512bh)_mm512_load_si512(b + 32),
                       b2 = (__m512bh)_mm512_load_si512(b + 64);
#define EB_PANEL_ROW_BF16(r)                                                                       \
    if (MR > (r)) {                                                                                \
        uint32_t pair;                                                                             \
        memcpy(&pair, x + (size_t)(r)*ldx + 2 * k2, sizeof pair);                                  \
        const __m512bh a = (__m512bh)_mm512_set1_epi32((int)pair);                                 \
        acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);                                            \
        acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);                                            \
        acc[r][2] = _mm512_dpbf16_ps(acc[r][2], a, b2);                                            \
    }
        EB_PANEL_ROW_BF16(0)
        EB_PANEL_ROW_BF16(1)
        EB_PANEL_ROW_BF16(2)
        EB_PANEL_ROW_BF16(3)
        EB_PANEL_ROW_BF16(4)
        EB_PANEL_ROW_BF16(5)
        EB_PANEL_ROW_BF16(6)
        EB_PANEL_ROW_BF16(7)
#undef EB_PANEL_ROW_BF16
    }
    panel_store(out, ldo, acc, bias, MR, ncols, add);
}

static TBF16 void panel_bf16(float *out, int ldo, const uint16_t *x, int ldx, const uint16_t *pw,
                             const float *bias, int N, int C, int ncols, int add) {
    int n = 0;
    for (; n + 8 <= N; n += 8)
        panel_rows_bf16(out + (size_t)n * ldo, ldo, x + (size_t)n * ldx, ldx, pw, bias, C, 8,
                        ncols, add);
    for (; n + 4 <= N; n += 4)
        panel_rows_bf16(out + (size_t)n * ldo, ldo, x + (size_t)n * ldx, ldx, pw, bias, C, 4,
                        ncols, add);
    for (; n < N; n++)
        panel_rows_bf16(out + (size_t)n * ldo, ldo, x + (size_t)n * ldx, ldx, pw, bias, C, 1,
                        ncols, add);
}
#endif

int eb_gemm_packed_bf16(float *out, const float *inp, const uint16_t *wp, const float *bias, int N,
                        int C, int OC, eb_epilogue ep, uint16_t *xbuf, int threads) {
    if (N <= 0 || OC <= 0) return 1;
    int simd = 0;
#if EB_X86
    if (eb_cpu_has_avx512_bf16() && C > 0 && C % 2 == 0 && ((uintptr_t)wp & 63) == 0) {
        eb_f32_to_bf16_array(xbuf, inp, (size_t)N * C);
        const int np = (OC + EB_PACK_NR - 1) / EB_PACK_NR;
        const int par = 2.0 * N * (double)C * OC > EB_PAR_MIN_FLOPS && np > 1;
        (void)par;
        EB_PAR_FOR(threads, par, (int p = 0; p < np; p++), {
            const int o0 = p * EB_PACK_NR, nc = OC - o0 < EB_PACK_NR ? OC - o0 : EB_PACK_NR;
            panel_bf16(out + o0, OC, xbuf, C, wp + (size_t)p * EB_PACK_NR * C,
                       bias ? bias + o0 : NULL, N, C, nc, 0);
            if (ep != EB_EPI_NONE)
                for (int n = 0; n < N; n++)
                    epilogue(out + (size_t)n * OC + o0, (size_t)nc, ep);
        });
        return 1;
    }
#endif
    (void)xbuf, (void)threads;
    eb_gemm_packed_bf16_ref(out, inp, wp, bias, N, C, OC);
    if (ep != EB_EPI_NONE) epilogue(out, (size_t)N * OC, ep);
    return simd;
}

/* ---------------------------------------------------------------- */
/* Products of training: bf16 operands of any layout, fp32 sums      */
/* ---------------------------------------------------------------- */
/* The three products of a linear layer y = x w^T + b in training are
 *   forward        y[N,OC]   = x[N,C] w[OC,C]^T     (K = C)
 *   backward-data  dx[N,C]  += dy[N,OC] w[OC,C]     (K = OC)
 *   backward-wgt   dw[OC,C] += dy[N,OC]^T x[N,C]    (K = N)
 * Each is out[M,NC] (+)= A[M,K] B[K,NC] with A and B read through strides,
 * so one kernel serves all three: A is rounded to bf16 rows of Kp = K
 * rounded up to even (eb_bf16_rows), B is packed into the 48-column bf16
 * panels of eb_pack_bf16 (eb_pack_bf16_ex); a missing last k is a zero. */

static int even_up(int k) {
    return k + (k & 1);
}

size_t eb_pack_bf16_ex_count(int K, int NC) {
    if (K <= 0 || NC <= 0) return 0;
    return (size_t)((NC + EB_PACK_NR - 1) / EB_PACK_NR) * EB_PACK_NR * (size_t)even_up(K);
}

#if EB_X86
/* Two rows of 16 fp32 values (k and k + 1) -> 16 interleaved bf16 pairs. */
static inline __attribute__((always_inline))
__attribute__((target("avx512f,avx512bf16,avx512bw,avx512vl"))) __m512i
pairs16(__m512 lo, __m512 hi) {
    /* cvtne2ps: elements 0..15 from the second operand, 16..31 from the first */
    const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
                                         24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1,
                                         16, 0);
    return _mm512_permutexvar_epi16(idx, v);
}

/* eb_pack_bf16_ex for contiguous columns (s_col == 1). */
static __attribute__((target("avx512f,avx512bf16,avx512bw,avx512vl"))) void
pack_cols_avx512(uint16_t *dst, const float *src, int K, int NC, size_t s_k) {
    const int Kp = even_up(K), np = (NC + EB_PACK_NR - 1) / EB_PACK_NR;
    for (int p = 0; p < np; p++) {
        uint16_t *d = dst + (size_t)p * EB_PACK_NR * Kp;
        for (int k = 0; k < Kp; k += 2) {
            const float *r0 = src + (size_t)k * s_k, *r1 = r0 + s_k;
            for (int j = 0; j < EB_PACK_NR; j += 16) {
                const int o = p * EB_PACK_NR + j, left = NC - o;
                const __mmask16 m = left >= 16  ? (__mmask16)0xFFFF
                                    : left <= 0 ? (__mmask16)0
                                                : (__mmask16)((1u << left) - 1u);
                const __m512 lo = _mm512_maskz_loadu_ps(m, r0 + o);
                const __m512 hi = k + 1 < K ? _mm512_maskz_loadu_ps(m, r1 + o) : _mm512_setzero_ps();
                _mm512_storeu_si512(d + (size_t)k * EB_PACK_NR + 2 * j, pairs16(lo, hi));
            }
        }
    }
}
#endif

void eb_pack_bf16_ex(uint16_t *dst, const float *src, int K, int NC, size_t s_col, size_t s_k) {
    if (K <= 0 || NC <= 0) return;
#if EB_X86
    if (s_col == 1 && eb_cpu_has_avx512_bf16() && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl")) {
        pack_cols_avx512(dst, src, K, NC, s_k);
        return;
    }
#endif
    const int Kp = even_up(K), np = (NC + EB_PACK_NR - 1) / EB_PACK_NR;
    for (int p = 0; p < np; p++) {
        uint16_t *d = dst + (size_t)p * EB_PACK_NR * Kp;
        for (int k = 0; k < Kp; k++)
            for (int j = 0; j < EB_PACK_NR; j++) {
                const int o = p * EB_PACK_NR + j;
                d[(size_t)(k / 2) * 2 * EB_PACK_NR + 2 * j + (k & 1)] =
                    o < NC && k < K ? eb_f32_to_bf16(src[(size_t)o * s_col + (size_t)k * s_k])
                                    : 0;
            }
    }
}

#if EB_X86
/* In-register transpose of a 16 x 16 tile of 32-bit elements. */
static inline __attribute__((always_inline)) __attribute__((target("avx512f"))) void
transpose16(__m512i r[16]) {
    __m512i t[16], u[16], v[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 16; i += 8)
        for (int j = 0; j < 4; j++) {
            v[i + j] = _mm512_shuffle_i32x4(u[i + j], u[i + j + 4], 0x88);
            v[i + j + 4] = _mm512_shuffle_i32x4(u[i + j], u[i + j + 4], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_i32x4(v[j], v[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_i32x4(v[j], v[j + 8], 0xdd);
    }
}

/* eb_bf16_rows for a transposed read (s_row == 1): 16 rows x 32 k at a time,
 * rounded as pairs of k by pairs16 (one 32-bit pair per row), the 16 x 16
 * tile of pairs transposed in registers and stored as 16 row pieces. */
static __attribute__((target("avx512f,avx512bf16,avx512bw,avx512vl"))) void
rows_t_avx512(uint16_t *dst, const float *src, int M, int K, size_t s_k) {
    const int Kp = even_up(K);
    for (int m0 = 0; m0 < M; m0 += 16) {
        const int mr = M - m0 < 16 ? M - m0 : 16;
        const __mmask16 mm = mr == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << mr) - 1u);
        for (int k0 = 0; k0 < Kp; k0 += 32) {
            const int kr = Kp - k0 < 32 ? (Kp - k0) / 2 : 16; /* pairs in this tile */
            __m512i r[16];
            for (int q = 0; q < 16; q++) {
                const int k = k0 + 2 * q;
                if (q >= kr) {
                    r[q] = _mm512_setzero_si512();
                    continue;
                }
                const __m512 lo = _mm512_maskz_loadu_ps(mm, src + (size_t)k * s_k + m0);
                const __m512 hi = k + 1 < K ? _mm512_maskz_loadu_ps(mm, src + (size_t)(k + 1) * s_k + m0)
                                            : _mm512_setzero_ps();
                r[q] = pairs16(lo, hi);
            }
            transpose16(r);
            const __mmask16 km = kr == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << kr) - 1u);
            for (int i = 0; i < mr; i++)
                _mm512_mask_storeu_epi32(dst + (size_t)(m0 + i) * Kp + k0, km, r[i]);
        }
    }
}
#endif

void eb_bf16_rows(uint16_t *dst, const float *src, int M, int K, size_t s_row, size_t s_k) {
    if (M <= 0 || K <= 0) return;
    const int Kp = even_up(K);
#if EB_X86
    if (s_row == 1 && ((uintptr_t)dst & 3) == 0 && eb_cpu_has_avx512_bf16() &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
        rows_t_avx512(dst, src, M, K, s_k);
        return;
    }
#endif
    if (s_k == 1) {
        for (int m = 0; m < M; m++) {
            eb_f32_to_bf16_array(dst + (size_t)m * Kp, src + (size_t)m * s_row, (size_t)K);
            if (Kp > K) dst[(size_t)m * Kp + K] = 0;
        }
        return;
    }
    /* a transposed read: tiles of 16 x 16 keep both sides in cache */
    for (int m0 = 0; m0 < M; m0 += 16)
        for (int k0 = 0; k0 < Kp; k0 += 16) {
            const int m1 = m0 + 16 < M ? m0 + 16 : M, k1 = k0 + 16 < Kp ? k0 + 16 : Kp;
            for (int m = m0; m < m1; m++)
                for (int k = k0; k < k1; k++)
                    dst[(size_t)m * Kp + k] =
                        k < K ? eb_f32_to_bf16(src[(size_t)m * s_row + (size_t)k * s_k]) : 0;
        }
}

void eb_gemm_bf16_pp_ref(float *out, int ldo, const uint16_t *a, const uint16_t *bp,
                         const float *bias, int M, int K, int NC, int add) {
    const int Kp = even_up(K);
    for (int m = 0; m < M; m++)
        for (int o = 0; o < NC; o++) {
            const uint16_t *col =
                bp + (size_t)(o / EB_PACK_NR) * EB_PACK_NR * Kp + 2 * (o % EB_PACK_NR);
            double s = bias ? bias[o] : 0.0;
            for (int k = 0; k < Kp; k++)
                s += (double)eb_bf16_to_f32(a[(size_t)m * Kp + k]) *
                     eb_bf16_to_f32(col[(size_t)(k / 2) * 2 * EB_PACK_NR + (k & 1)]);
            float *y = out + (size_t)m * ldo + o;
            *y = add ? *y + (float)s : (float)s;
        }
}

int eb_gemm_bf16_pp(float *out, int ldo, const uint16_t *a, const uint16_t *bp, const float *bias,
                    int M, int K, int NC, int add, int threads) {
    if (M <= 0 || NC <= 0 || K <= 0) return 1;
    const int Kp = even_up(K);
#if EB_X86
    if (eb_cpu_has_avx512_bf16() && ((uintptr_t)bp & 63) == 0) {
        const int np = (NC + EB_PACK_NR - 1) / EB_PACK_NR;
        const int par = 2.0 * M * (double)K * NC > EB_PAR_MIN_FLOPS && np > 1;
        (void)par;
        EB_PAR_FOR(threads, par, (int p = 0; p < np; p++), {
            const int o0 = p * EB_PACK_NR, nc = NC - o0 < EB_PACK_NR ? NC - o0 : EB_PACK_NR;
            panel_bf16(out + o0, ldo, a, Kp, bp + (size_t)p * EB_PACK_NR * Kp,
                       bias ? bias + o0 : NULL, M, Kp, nc, add);
        });
        return 1;
    }
#endif
    (void)threads;
    eb_gemm_bf16_pp_ref(out, ldo, a, bp, bias, M, K, NC, add);
    return 0;
}
