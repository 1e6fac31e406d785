/* sparse_matmul.c - y = x W^T + b with W bitmask sparse (fp32 or AF8), the
 * automatic dense/sparse choice, and the AF8 accelerator-arithmetic matmul.
 *
 * Kernel: x [N,C] is transposed once into scratch (xT [C,N]); for each
 * output feature o the masks of row o are walked and every non-zero w at
 * column c adds w * xT[c, 0..N) to an accumulator vector of N floats (a
 * contiguous axpy that vectorises), which is then written to column o of y.
 * Work is nnz * N multiply-adds against OC * C * N for dense BLAS. */
#include "quant/sparse_matmul.h"

#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "quant/bitmask.h"
#include "util/util.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define EB_MULTIVERSION                                                                            \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define EB_MULTIVERSION
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define EB_HAVE_AVX512_DECODE 1
#define EB_ROW_INDEX(idx, mrow, vpr, avx)                                                          \
    ((avx) ? row_index_avx512(idx, mrow, vpr) : row_index_scalar(idx, mrow, vpr))
#else
#define EB_HAVE_AVX512_DECODE 0
#define EB_ROW_INDEX(idx, mrow, vpr, avx) row_index_scalar(idx, mrow, vpr)
#endif

/* x rows are padded with zeros to a multiple of 16 so that the
 * register-blocked kernels handle every block (even for N = 4 this beats the
 * generic kernel by 2-4x). */
static int padded_rows(int N) {
    return N >= 1 ? (N + 15) / 16 * 16 : 0;
}

size_t eb_sparse_scratch(int N, int C) {
    return (size_t)(N > 0 ? padded_rows(N) : 0) * (size_t)(C > 0 ? C : 0);
}

/* Rows o0..o1 of the output for the x rows n0..n0+nb (any nb). */
EB_MULTIVERSION
static void sparse_rows(float *y, const float *xT, const eb_bitmask *w, const float *table,
                        const float *bias, int N, int n0, int nb, int o0, int o1) {
    const int OC = w->rows, vpr = w->vpr;
    const float *vf = w->values;
    const uint8_t *vc = w->values;
    float acc[EB_SPARSE_NB];
    for (int o = o0; o < o1; o++) {
        float b0 = bias ? bias[o] : 0.0f;
        for (int t = 0; t < nb; t++)
            acc[t] = b0;
        size_t k = w->row_ptr[o];
        const uint16_t *mrow = w->masks + (size_t)o * vpr;
        for (int j = 0; j < vpr; j++) {
            unsigned m = mrow[j];
            while (m) {
                int c = j * EB_BM_VEC + __builtin_ctz(m);
                m &= m - 1;
                float wv = table ? table[vc[k]] : vf[k];
                k++;
                const float *xr = xT + (size_t)c * N + n0;
#pragma omp simd
                for (int t = 0; t < nb; t++)
                    acc[t] += wv * xr[t];
            }
        }
        for (int t = 0; t < nb; t++)
            y[(size_t)(n0 + t) * OC + o] = acc[t];
    }
}

/* Column indices of the non-zeros of one row from its masks; returns the
 * count.  idx needs vpr * 16 + 16 entries.  The AVX-512 version compresses
 * 16 candidate indices per mask in one instruction (no branches on the mask
 * bits, which at low density mispredict on every vector). */
static int row_index_scalar(int32_t *idx, const uint16_t *mrow, int vpr) {
    int n = 0;
    for (int j = 0; j < vpr; j++) {
        unsigned m = mrow[j];
        while (m) {
            idx[n++] = j * EB_BM_VEC + __builtin_ctz(m);
            m &= m - 1;
        }
    }
    return n;
}

#if EB_HAVE_AVX512_DECODE
#include <immintrin.h>
__attribute__((target("avx512f"))) static int row_index_avx512(int32_t *idx, const uint16_t *mrow,
                                                               int vpr) {
    int n = 0;
    __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i step = _mm512_set1_epi32(EB_BM_VEC);
    for (int j = 0; j < vpr; j++) {
        __mmask16 m = mrow[j];
        _mm512_storeu_si512((void *)(idx + n), _mm512_maskz_compress_epi32(m, iota));
        n += __builtin_popcount((unsigned)m);
        iota = _mm512_add_epi32(iota, step);
    }
    return n;
}
#endif

/* The same for nb = 16 * NV rows with the accumulators in vector registers:
 * two accumulator sets (even and odd non-zeros) so that consecutive
 * multiply-adds do not wait on each other. */
typedef float eb_v16 __attribute__((vector_size(64)));

#define EB_SPARSE_FIXED(NV)                                                                        \
    EB_MULTIVERSION                                                                                \
    static void sparse_rows_##NV(float *y, const float *xT, const eb_bitmask *w,                   \
                                 const float *table, const float *bias, int N, int n0, int o0,     \
                                 int o1, int32_t *idx, int use_avx512, int nvalid, float *tile) {  \
        const int OC = w->rows, vpr = w->vpr;                                                      \
        const float *vf = w->values;                                                               \
        const uint8_t *vc = w->values;                                                             \
        for (int o = o0; o < o1; o++) {                                                            \
            eb_v16 a[NV], b[NV];                                                                   \
            float b0 = bias ? bias[o] : 0.0f;                                                      \
            for (int q = 0; q < NV; q++)                                                           \
                a[q] = (eb_v16){0} + b0, b[q] = (eb_v16){0};                                       \
            size_t k = w->row_ptr[o];                                                              \
            const uint16_t *mrow = w->masks + (size_t)o * vpr;                                     \
            int cnt = EB_ROW_INDEX(idx, mrow, vpr, use_avx512);                                    \
            const float *xb = xT + n0;                                                             \
            int p = 0;                                                                             \
            for (; p + 1 < cnt; p += 2) {                                                          \
                const float *x0 = xb + (size_t)idx[p] * N, *x1 = xb + (size_t)idx[p + 1] * N;      \
                eb_v16 w0 = (eb_v16){0} + (table ? table[vc[k + p]] : vf[k + p]);                  \
                eb_v16 w1 = (eb_v16){0} + (table ? table[vc[k + p + 1]] : vf[k + p + 1]);          \
                for (int q = 0; q < NV; q++) {                                                     \
                    eb_v16 u, v;                                                                   \
                    memcpy(&u, x0 + 16 * q, sizeof u);                                             \
                    memcpy(&v, x1 + 16 * q, sizeof v);                                             \
                    a[q] += w0 * u;                                                                \
                    b[q] += w1 * v;                                                                \
                }                                                                                  \
            }                                                                                      \
            if (p < cnt) {                                                                         \
                const float *x0 = xb + (size_t)idx[p] * N;                                         \
                eb_v16 w0 = (eb_v16){0} + (table ? table[vc[k + p]] : vf[k + p]);                  \
                for (int q = 0; q < NV; q++) {                                                     \
                    eb_v16 u;                                                                      \
                    memcpy(&u, x0 + 16 * q, sizeof u);                                             \
                    a[q] += w0 * u;                                                                \
                }                                                                                  \
            }                                                                                      \
            for (int q = 0; q < NV; q++)                                                           \
                a[q] += b[q];                                                                      \
            memcpy(tile + (size_t)(o - o0) * 16 * NV, a, sizeof a);                                \
        }                                                                                          \
        /* y rows are written contiguously from the tile (a scatter of one                         \
         * float per token row per output costs more than the math at low                          \
         * density) */                                                                             \
        int tn = nvalid - n0 < 16 * NV ? nvalid - n0 : 16 * NV;                                    \
        for (int t = 0; t < tn; t++) {                                                             \
            float *yr = y + (size_t)(n0 + t) * OC;                                                 \
            for (int o = o0; o < o1; o++)                                                          \
                yr[o] = tile[(size_t)(o - o0) * 16 * NV + t];                                      \
        }                                                                                          \
    }

EB_SPARSE_FIXED(1)
EB_SPARSE_FIXED(2)
EB_SPARSE_FIXED(4)
EB_SPARSE_FIXED(8)

#define EB_SPARSE_CALL(NV)                                                                         \
    sparse_rows_##NV(y, xT, w, table, bias, ld, n0, o0, o1, idx, avx, nvalid, tile)

/* One block of nb x rows starting at n0; xT has row stride ld (>= nvalid,
 * the number of real rows; rows past it are zero padding and not written). */
static void sparse_block(float *y, const float *xT, const eb_bitmask *w, const float *table,
                         const float *bias, int ld, int nvalid, int n0, int nb, int o0, int o1,
                         int32_t *idx, int avx, float *tile) {
    if (!idx) nb = 0; /* rows too long for the index buffer: generic kernel */
    switch (nb) {
    case 16: EB_SPARSE_CALL(1); return;
    case 32: EB_SPARSE_CALL(2); return;
    case 64: EB_SPARSE_CALL(4); return;
    case 128: EB_SPARSE_CALL(8); return;
    default: sparse_rows(y, xT, w, table, bias, ld, n0, nb, o0, o1);
    }
}

#ifndef EB_SPARSE_NBMAX
#define EB_SPARSE_NBMAX 128
#endif

/* Output rows per block (the unit of parallel work and of the y tile). */
#define EB_SPARSE_OB 64

/* Index buffer on the stack up to this many columns. */
#define EB_SPARSE_MAX_IDX 8192

static eb_status check_w(const eb_bitmask *w, eb_error *err) {
    if (!w || !w->masks || !w->row_ptr || (w->nnz && !w->values))
        return eb_fail(err, EB_ERR_ARG, "sparse matmul: weight tensor not initialised");
    if (w->row_ptr[w->rows] != w->nnz)
        return eb_fail(err, EB_ERR_FORMAT, "sparse matmul: row offsets disagree with the values");
    return EB_OK;
}

eb_status eb_sparse_matmul(float *y, const float *x, const eb_bitmask *w, const float *bias, int N,
                           float *scratch, const eb_allocator *alloc, eb_error *err) {
    return eb_sparse_matmul_isa(y, x, w, bias, N, scratch, alloc, err, -1, 0);
}

eb_status eb_sparse_matmul_isa(float *y, const float *x, const eb_bitmask *w, const float *bias,
                               int N, float *scratch, const eb_allocator *alloc, eb_error *err,
                               int isa, int threads) {
    eb_status st = check_w(w, err);
    if (st) return st;
    if (N <= 0 || w->rows <= 0) return EB_OK;
    const int C = w->cols, OC = w->rows;
    float *xT = scratch;
    if (!xT) {
        xT = eb_malloc(alloc, eb_sparse_scratch(N, C) * sizeof(float) + 1);
        if (!xT) return eb_fail(err, EB_ERR_NOMEM, "sparse matmul: out of memory");
    }
    const int ld = padded_rows(N);
    for (int c = 0; c < C; c++) {
        float *row = xT + (size_t)c * ld;
        for (int n = 0; n < N; n++)
            row[n] = x[(size_t)n * C + c];
        for (int n = N; n < ld; n++)
            row[n] = 0.0f;
    }
    float table[256];
    const float *tp = NULL;
    if (w->payload == EB_BM_AF8) {
        eb_af8_decode_table(table, w->af8_bias);
        tp = table;
    }
    int avx = 0;
#if EB_HAVE_AVX512_DECODE
    avx = isa != 0 && __builtin_cpu_supports("avx512f");
#endif
    /* Parallel over blocks of output features when the work is worth it. */
    const int OB = EB_SPARSE_OB;
    int nblk = (OC + OB - 1) / OB;
    double work = (double)w->nnz * N;
    EB_PAR_FOR(threads, work > EB_PAR_MIN_FLOPS, (int ob = 0; ob < nblk; ob++), {
        int32_t idxbuf[EB_SPARSE_MAX_IDX + EB_BM_VEC];
        float tile[EB_SPARSE_OB * 128];
        int32_t *idx = w->vpr * EB_BM_VEC <= EB_SPARSE_MAX_IDX ? idxbuf : NULL;
        int o0 = ob * OB, o1 = EB_MIN(OC, o0 + OB);
        for (int n0 = 0; n0 < ld;) {
            /* blocks of 128, then 64/32/16 */
            int left = ld - n0, nb = left >= EB_SPARSE_NBMAX ? EB_SPARSE_NBMAX
                                     : left >= 128           ? 128
                                     : left >= 64            ? 64
                                     : left >= 32            ? 32
                                     : left >= 16            ? 16
                                                             : left;
            sparse_block(y, xT, w, tp, bias, ld, N, n0, nb, o0, o1, idx, avx, tile);
            n0 += nb;
        }
    });
    if (!scratch) eb_free(alloc, xT);
    return EB_OK;
}

/*
 * When is the sparse kernel faster?  Measured with
 *   OMP_NUM_THREADS=1 build/tests/tools/bench_sparse -r 7        (N = 16..128)
 *   build/tests/tools/bench_sparse -r 5 -n 1,4,8,256
 * (one thread for OpenBLAS sgemm and for the sparse kernel, best of the
 * repetitions, random unstructured masks) on the development machine: an AMD
 * EPYC (Zen 4, AVX-512) VM with 2 cores shared with other jobs, so single
 * crossovers move by about +-10 points between runs; three runs each.
 * Crossover density below which sparse wins (fp32; AF8 within a few points):
 *
 *   N     768x768 (C x OC)  768x3072   3072x768
 *   1     never             20 %       55-65 %
 *   4     20 %              20-23 %    48-60 %
 *   8     28 %              32 %       64 %
 *   16    45-56 %           33-68 %    78-94 %
 *   32    44-49 %           44-47 %    60-68 %
 *   64    21-26 %           26-55 %    36-51 %
 *   128   23-30 %           28-40 %    19-28 %
 *   256   32 %              28 %       17 %
 *
 * The long reduction (C = 3072, the FFN output) favours sparse most because
 * sgemm with few rows is slow there; at N = 1 a 768x768 GEMV is so cheap
 * that sparse never wins.  The rule takes thresholds a little below the
 * measured medians (near the crossover both paths cost the same).
 */
static const struct {
    int n_max;
    float short_c; /* C < 2048 */
    float long_c;  /* C >= 2048 */
} k_crossover[] = {
    {2, 0.00f, 0.50f},  {8, 0.18f, 0.45f},  {16, 0.40f, 0.75f},
    {32, 0.40f, 0.60f}, {64, 0.20f, 0.33f}, {1 << 30, 0.20f, 0.18f},
};

int eb_sparse_prefer(int N, int C, int OC, float density) {
    if (!(density >= 0) || N <= 0) return 0;
    if (N <= 2 && C < 2048) return OC >= 2048 && density < 0.15f;
    size_t i = 0;
    while (N > k_crossover[i].n_max)
        i++;
    return density < (C >= 2048 ? k_crossover[i].long_c : k_crossover[i].short_c);
}

eb_status eb_linear_auto(float *y, const float *x, const eb_bitmask *w, const float *bias, int N,
                         float *dense_tmp, float *scratch, const eb_allocator *alloc,
                         eb_error *err) {
    eb_status st = check_w(w, err);
    if (st) return st;
    if (!dense_tmp || eb_sparse_prefer(N, w->cols, w->rows, (float)eb_bitmask_density(w)))
        return eb_sparse_matmul(y, x, w, bias, N, scratch, alloc, err);
    if ((st = eb_bitmask_decode_f32(w, dense_tmp, err))) return st;
    eb_matmul(y, x, dense_tmp, bias, N, w->cols, w->rows);
    return EB_OK;
}

eb_status eb_af8_matmul(uint8_t *y_codes, int *y_bias, float *y_float, const uint8_t *x_codes,
                        int x_bias, const eb_bitmask *w, const float *bias, int N,
                        const eb_allocator *alloc, eb_error *err) {
    eb_status st = check_w(w, err);
    if (st) return st;
    if (w->payload != EB_BM_AF8)
        return eb_fail(err, EB_ERR_ARG, "af8 matmul: weights must have an AF8 payload");
    if (w->cols >= 32768)
        return eb_fail(err, EB_ERR_ARG, "af8 matmul: %d inputs (exact accumulation needs < 32768)",
                       w->cols);
    const int C = w->cols, OC = w->rows;
    float xt[256], wt[256];
    eb_af8_decode_table(xt, x_bias);
    eb_af8_decode_table(wt, w->af8_bias);
    size_t ny = (size_t)(N > 0 ? N : 0) * (size_t)OC;
    float *yf = y_float ? y_float : eb_malloc(alloc, ny * sizeof(float) + 1);
    if (!yf) return eb_fail(err, EB_ERR_NOMEM, "af8 matmul: out of memory");
    const uint8_t *vc = w->values;
    /* Every AF8 value is an integer 16..31 times 2^(e+b-14) with e+b-14 >=
     * -14, so each product is a multiple of 2^-28 below 2^38 and sums of
     * fewer than 2^15 of them are exact in double: this is the wide
     * fixed-point accumulator of the hardware. */
    for (int n = 0; n < N; n++) {
        const uint8_t *xr = x_codes + (size_t)n * C;
        for (int o = 0; o < OC; o++) {
            double acc = 0;
            size_t k = w->row_ptr[o];
            const uint16_t *mrow = w->masks + (size_t)o * w->vpr;
            for (int j = 0; j < w->vpr; j++) {
                unsigned m = mrow[j];
                while (m) {
                    int c = j * EB_BM_VEC + __builtin_ctz(m);
                    m &= m - 1;
                    acc += (double)wt[vc[k++]] * (double)xt[xr[c]];
                }
            }
            if (bias) acc += bias[o];
            yf[(size_t)n * OC + o] = (float)acc;
        }
    }
    int b = eb_af8_choose_bias(yf, ny);
    eb_af8_encode(y_codes, yf, ny, b, EB_AF8_NEAREST);
    if (y_bias) *y_bias = b;
    if (!y_float) eb_free(alloc, yf);
    return EB_OK;
}

eb_status eb_af8_matmul_fast(uint8_t *y_codes, int *y_bias, float *y_float, const uint8_t *x_codes,
                             int x_bias, const eb_bitmask *w, const float *bias, int N,
                             const eb_allocator *alloc, eb_error *err) {
    eb_status st = check_w(w, err);
    if (st) return st;
    if (w->payload != EB_BM_AF8)
        return eb_fail(err, EB_ERR_ARG, "af8 matmul: weights must have an AF8 payload");
    const int C = w->cols, OC = w->rows;
    if (N <= 0) {
        if (y_bias) *y_bias = 0;
        return EB_OK;
    }
    size_t nx = (size_t)N * (size_t)C, ny = (size_t)N * (size_t)OC;
    int sparse = eb_sparse_prefer(N, C, OC, (float)eb_bitmask_density(w));
    size_t nscratch = sparse ? eb_sparse_scratch(N, C) : (size_t)C * (size_t)OC;
    float *x = eb_malloc(alloc, nx * sizeof(float) + 1);
    float *yf = y_float ? y_float : eb_malloc(alloc, ny * sizeof(float) + 1);
    float *tmp = eb_malloc(alloc, nscratch * sizeof(float) + 1);
    if (!x || !yf || !tmp) {
        st = eb_fail(err, EB_ERR_NOMEM, "af8 matmul: out of memory");
        goto done;
    }
    eb_af8_decode(x, x_codes, nx, x_bias);
    if (sparse) {
        st = eb_sparse_matmul(yf, x, w, bias, N, tmp, alloc, err);
    } else {
        st = eb_bitmask_decode_f32(w, tmp, err);
        if (!st) eb_matmul(yf, x, tmp, bias, N, C, OC);
    }
    if (!st) {
        int b = eb_af8_choose_bias(yf, ny);
        eb_af8_encode(y_codes, yf, ny, b, EB_AF8_NEAREST);
        if (y_bias) *y_bias = b;
    }
done:
    eb_free(alloc, x);
    eb_free(alloc, tmp);
    if (!y_float) eb_free(alloc, yf);
    return st;
}
