/* neon.h - SIMD kernels for aarch64 (NEON; fp16 and bf16 dot products where
 * the CPU has them) behind a runtime dispatch, each with a portable scalar
 * version that every build keeps (and that the x86 build uses).
 *
 * Levels: EB_SIMD_SCALAR (plain C), EB_SIMD_NEON (AArch64 Advanced SIMD,
 * always present on AArch64 Linux), EB_SIMD_FP16 (NEON + FEAT_FP16: half
 * precision multiply-add, hwcap "asimdhp") and EB_SIMD_BF16 (NEON + FEAT_BF16:
 * BFDOT, hwcap2 "bf16").  eb_simd_best() reads the hwcaps (getauxval) each
 * time it is called: pick the ops once per call of a big kernel, not per dot
 * product.  Half and bfloat16 values travel as their raw 16 bits (uint16_t). */
#ifndef EB_KERNELS_NEON_H
#define EB_KERNELS_NEON_H

#include <stddef.h>
#include <stdint.h>

typedef enum eb_simd_level {
    EB_SIMD_SCALAR = 0,
    EB_SIMD_NEON = 1,
    EB_SIMD_FP16 = 2,
    EB_SIMD_BF16 = 3
} eb_simd_level;

typedef struct eb_simd_ops {
    eb_simd_level level; /* what the fp32 ops below use */
    const char *name;    /* "scalar", "neon", ... */
    /* sum a[i] * b[i], fp32 accumulation */
    float (*dot_f32)(const float *a, const float *b, size_t n);
    /* out[N,OC] = inp[N,C] @ w[OC,C]^T + bias[OC] (bias may be NULL) */
    void (*linear_f32)(float *out, const float *inp, const float *w, const float *bias, int N,
                       int C, int OC);
    /* out[i] += a[i] */
    void (*add_f32)(float *out, const float *a, size_t n);
    /* dot products of IEEE half / bfloat16 vectors, accumulated in fp32; the
     * scalar versions when the CPU lacks the instructions */
    float (*dot_f16)(const uint16_t *a, const uint16_t *b, size_t n);
    float (*dot_bf16)(const uint16_t *a, const uint16_t *b, size_t n);
} eb_simd_ops;

/* The best level this CPU runs (EB_SIMD_SCALAR on non-ARM builds). */
eb_simd_level eb_simd_best(void);
/* The ops of a level; a level above eb_simd_best() falls back to the best
 * one the CPU has (so asking for EB_SIMD_BF16 is always safe). */
eb_simd_ops eb_simd_ops_for(eb_simd_level level);
/* eb_simd_ops_for(eb_simd_best()). */
eb_simd_ops eb_simd_ops_best(void);
const char *eb_simd_level_name(eb_simd_level level);

/* One block of the engine's GEMM (src/kernels/gemm.c, EB_GEMM_NEON):
 * out[n*ldo + o] = inp[n*ldx, :C] . w[o*ldw, :C] + bias[o] for n in [n0,n1),
 * o in [o0,o1) (bias may be NULL).  NEON tiles of 2 input rows x 4 weight
 * rows on aarch64; the plain C loop elsewhere. */
void eb_neon_gemm_block(float *out, int ldo, const float *inp, int ldx, const float *w, int ldw,
                        const float *bias, int C, int n0, int n1, int o0, int o1);

/* Half / bfloat16 conversions: eb_f32_to_f16 and friends in src/util/util.h. */

/* The scalar kernels themselves (references for the tests). */
float eb_dot_f32_scalar(const float *a, const float *b, size_t n);
void eb_linear_f32_scalar(float *out, const float *inp, const float *w, const float *bias, int N,
                          int C, int OC);
void eb_add_f32_scalar(float *out, const float *a, size_t n);
float eb_dot_f16_scalar(const uint16_t *a, const uint16_t *b, size_t n);
float eb_dot_bf16_scalar(const uint16_t *a, const uint16_t *b, size_t n);

#endif
