/* neon.c - NEON / fp16 / bf16 kernels and their scalar references, with the
 * runtime dispatch of neon.h. */
#include "kernels/neon.h"

#include "util/util.h"

#include <math.h>
#include <string.h>

#if defined(__aarch64__) && !defined(EB_NO_SIMD)
#define EB_HAVE_NEON 1
#include <arm_neon.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif
#ifndef HWCAP_ASIMDFHM
#define HWCAP_ASIMDFHM (1UL << 23)
#endif
#ifndef HWCAP2_BF16
#define HWCAP2_BF16 (1UL << 14)
#endif
/* FMLAL and BFDOT kernels: GCC compiles them for any aarch64 target through
 * the target attribute; other compilers only when -march already has them. */
#if (defined(__GNUC__) && !defined(__clang__)) || defined(__ARM_FEATURE_FP16_FML)
#define EB_HAVE_FHM_KERNEL 1
#if defined(__clang__)
#define EB_TARGET_FHM
#else
#define EB_TARGET_FHM __attribute__((target("arch=armv8.2-a+fp16fml")))
#endif
#endif
#if (defined(__GNUC__) && !defined(__clang__)) || defined(__ARM_FEATURE_BF16)
#define EB_HAVE_BF16_KERNEL 1
#if defined(__clang__)
#define EB_TARGET_BF16
#else
#define EB_TARGET_BF16 __attribute__((target("arch=armv8.2-a+bf16")))
#endif
#endif
#endif

/* Conversions: eb_f16_to_f32 / eb_bf16_to_f32 of src/util/util.h. */

/* ---- scalar ------------------------------------------------------------ */

float eb_dot_f32_scalar(const float *a, const float *b, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void eb_linear_f32_scalar(float *out, const float *inp, const float *w, const float *bias, int N,
                          int C, int OC) {
    for (int i = 0; i < N; i++)
        for (int o = 0; o < OC; o++)
            out[(size_t)i * OC + o] =
                eb_dot_f32_scalar(inp + (size_t)i * C, w + (size_t)o * C, (size_t)C) +
                (bias ? bias[o] : 0.0f);
}

void eb_add_f32_scalar(float *out, const float *a, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] += a[i];
}

float eb_dot_f16_scalar(const uint16_t *a, const uint16_t *b, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += eb_f16_to_f32(a[i]) * eb_f16_to_f32(b[i]);
    return s;
}

float eb_dot_bf16_scalar(const uint16_t *a, const uint16_t *b, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += eb_bf16_to_f32(a[i]) * eb_bf16_to_f32(b[i]);
    return s;
}

#ifndef EB_HAVE_NEON
static void gemm_block_scalar(float *out, int ldo, const float *inp, int ldx, const float *w,
                              int ldw, const float *bias, int C, int n0, int n1, int o0, int o1) {
    for (int n = n0; n < n1; n++)
        for (int o = o0; o < o1; o++)
            out[(size_t)n * ldo + o] =
                eb_dot_f32_scalar(inp + (size_t)n * ldx, w + (size_t)o * ldw, (size_t)C) +
                (bias ? bias[o] : 0.0f);
}
#endif

/* ---- NEON -------------------------------------------------------------- */

#ifdef EB_HAVE_NEON
static float dot_f32_neon(const float *a, const float *b, size_t n) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Four output features at a time: each input vector load feeds four FMAs. */
static void linear_f32_neon(float *out, const float *inp, const float *w, const float *bias, int N,
                            int C, int OC) {
    for (int r = 0; r < N; r++) {
        const float *x = inp + (size_t)r * C;
        float *y = out + (size_t)r * OC;
        int o = 0;
        for (; o + 4 <= OC; o += 4) {
            const float *w0 = w + (size_t)o * C, *w1 = w0 + C, *w2 = w1 + C, *w3 = w2 + C;
            float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
            int c = 0;
            for (; c + 4 <= C; c += 4) {
                float32x4_t xv = vld1q_f32(x + c);
                s0 = vfmaq_f32(s0, xv, vld1q_f32(w0 + c));
                s1 = vfmaq_f32(s1, xv, vld1q_f32(w1 + c));
                s2 = vfmaq_f32(s2, xv, vld1q_f32(w2 + c));
                s3 = vfmaq_f32(s3, xv, vld1q_f32(w3 + c));
            }
            float t[4] = {vaddvq_f32(s0), vaddvq_f32(s1), vaddvq_f32(s2), vaddvq_f32(s3)};
            for (; c < C; c++) {
                t[0] += x[c] * w0[c];
                t[1] += x[c] * w1[c];
                t[2] += x[c] * w2[c];
                t[3] += x[c] * w3[c];
            }
            for (int k = 0; k < 4; k++)
                y[o + k] = t[k] + (bias ? bias[o + k] : 0.0f);
        }
        for (; o < OC; o++)
            y[o] = dot_f32_neon(x, w + (size_t)o * C, (size_t)C) + (bias ? bias[o] : 0.0f);
    }
}

/* 2 input rows x 4 weight rows per tile: 8 accumulators, each of the 6
 * vector loads of a step feeds 4 or 2 FMAs. */
static void gemm_block_neon(float *out, int ldo, const float *inp, int ldx, const float *w, int ldw,
                            const float *bias, int C, int n0, int n1, int o0, int o1) {
    const int C4 = C & ~3;
    for (int n = n0; n < n1; n += 2) {
        const int mr = n + 1 < n1 ? 2 : 1;
        const float *x0 = inp + (size_t)n * ldx, *x1 = mr > 1 ? x0 + ldx : x0;
        for (int o = o0; o < o1; o += 4) {
            const int nr = o + 4 <= o1 ? 4 : o1 - o;
            const float *wr[4];
            for (int k = 0; k < 4; k++)
                wr[k] = w + (size_t)(o + (k < nr ? k : 0)) * ldw;
            float32x4_t a[8];
            for (int k = 0; k < 8; k++)
                a[k] = vdupq_n_f32(0);
            for (int c = 0; c < C4; c += 4) {
                const float32x4_t v0 = vld1q_f32(x0 + c), v1 = vld1q_f32(x1 + c);
                for (int k = 0; k < 4; k++) {
                    const float32x4_t b = vld1q_f32(wr[k] + c);
                    a[k] = vfmaq_f32(a[k], v0, b);
                    a[4 + k] = vfmaq_f32(a[4 + k], v1, b);
                }
            }
            for (int r = 0; r < mr; r++) {
                const float *x = r ? x1 : x0;
                float *y = out + (size_t)(n + r) * ldo + o;
                for (int k = 0; k < nr; k++) {
                    float t = vaddvq_f32(a[r * 4 + k]);
                    for (int c = C4; c < C; c++)
                        t += x[c] * wr[k][c];
                    y[k] = t + (bias ? bias[o + k] : 0.0f);
                }
            }
        }
    }
}

static void add_f32_neon(float *out, const float *a, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(out + i, vaddq_f32(vld1q_f32(out + i), vld1q_f32(a + i)));
    for (; i < n; i++)
        out[i] += a[i];
}

/* Half: widen to fp32 (baseline NEON) and fuse; the products are exact. */
static float dot_f16_neon(const uint16_t *a, const uint16_t *b, size_t n) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float16x8_t x = vreinterpretq_f16_u16(vld1q_u16(a + i));
        float16x8_t y = vreinterpretq_f16_u16(vld1q_u16(b + i));
        s0 = vfmaq_f32(s0, vcvt_f32_f16(vget_low_f16(x)), vcvt_f32_f16(vget_low_f16(y)));
        s1 = vfmaq_f32(s1, vcvt_high_f32_f16(x), vcvt_high_f32_f16(y));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++)
        s += eb_f16_to_f32(a[i]) * eb_f16_to_f32(b[i]);
    return s;
}

/* FEAT_FHM: FMLAL/FMLAL2 multiply halves into fp32 accumulators directly. */
#ifdef EB_HAVE_FHM_KERNEL
EB_TARGET_FHM static float dot_f16_fhm(const uint16_t *a, const uint16_t *b, size_t n) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float16x8_t x = vreinterpretq_f16_u16(vld1q_u16(a + i));
        float16x8_t y = vreinterpretq_f16_u16(vld1q_u16(b + i));
        s0 = vfmlalq_low_f16(s0, x, y);
        s1 = vfmlalq_high_f16(s1, x, y);
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++)
        s += eb_f16_to_f32(a[i]) * eb_f16_to_f32(b[i]);
    return s;
}
#endif

/* bfloat16 without BFDOT: a bf16 is the top half of an fp32. */
static float dot_bf16_neon(const uint16_t *a, const uint16_t *b, size_t n) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16x8_t x = vld1q_u16(a + i), y = vld1q_u16(b + i);
        s0 = vfmaq_f32(s0, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(x), 16)),
                       vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(y), 16)));
        s1 = vfmaq_f32(s1, vreinterpretq_f32_u32(vshll_high_n_u16(x, 16)),
                       vreinterpretq_f32_u32(vshll_high_n_u16(y, 16)));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++)
        s += eb_bf16_to_f32(a[i]) * eb_bf16_to_f32(b[i]);
    return s;
}

/* FEAT_BF16: BFDOT adds two bf16 products per lane into fp32. */
#ifdef EB_HAVE_BF16_KERNEL
EB_TARGET_BF16 static float dot_bf16_bfdot(const uint16_t *a, const uint16_t *b, size_t n) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vbfdotq_f32(s0, vreinterpretq_bf16_u16(vld1q_u16(a + i)),
                         vreinterpretq_bf16_u16(vld1q_u16(b + i)));
        s1 = vbfdotq_f32(s1, vreinterpretq_bf16_u16(vld1q_u16(a + i + 8)),
                         vreinterpretq_bf16_u16(vld1q_u16(b + i + 8)));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++)
        s += eb_bf16_to_f32(a[i]) * eb_bf16_to_f32(b[i]);
    return s;
}
#endif
#endif

/* ---- dispatch ------------------------------------------------------------ */

const char *eb_simd_level_name(eb_simd_level level) {
    switch (level) {
    case EB_SIMD_NEON: return "neon";
    case EB_SIMD_FP16: return "neon+fp16fml";
    case EB_SIMD_BF16: return "neon+bf16";
    default: return "scalar";
    }
}

eb_simd_level eb_simd_best(void) {
#ifdef EB_HAVE_NEON
#if defined(__linux__)
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    if (hw2 & HWCAP2_BF16) return EB_SIMD_BF16;
    if (hw & HWCAP_ASIMDFHM) return EB_SIMD_FP16;
#endif
    return EB_SIMD_NEON;
#else
    return EB_SIMD_SCALAR;
#endif
}

eb_simd_ops eb_simd_ops_for(eb_simd_level level) {
    eb_simd_ops o = {EB_SIMD_SCALAR,    "scalar",          eb_dot_f32_scalar, eb_linear_f32_scalar,
                     eb_add_f32_scalar, eb_dot_f16_scalar, eb_dot_bf16_scalar};
#ifdef EB_HAVE_NEON
    eb_simd_level best = eb_simd_best();
    if (level > best) level = best;
#if defined(__linux__)
    unsigned long hw = getauxval(AT_HWCAP);
#else
    unsigned long hw = 0;
#endif
    if (level >= EB_SIMD_NEON) {
        o.level = level;
        o.dot_f32 = dot_f32_neon;
        o.linear_f32 = linear_f32_neon;
        o.add_f32 = add_f32_neon;
        o.dot_f16 = dot_f16_neon;
        o.dot_bf16 = dot_bf16_neon;
    }
#ifdef EB_HAVE_FHM_KERNEL
    if (level >= EB_SIMD_FP16 && (hw & HWCAP_ASIMDFHM)) o.dot_f16 = dot_f16_fhm;
#endif
#ifdef EB_HAVE_BF16_KERNEL
    if (level >= EB_SIMD_BF16) o.dot_bf16 = dot_bf16_bfdot;
#endif
    (void)hw;
#else
    (void)level;
#endif
    o.name = eb_simd_level_name(o.level);
    return o;
}

eb_simd_ops eb_simd_ops_best(void) {
    return eb_simd_ops_for(eb_simd_best());
}

void eb_neon_gemm_block(float *out, int ldo, const float *inp, int ldx, const float *w, int ldw,
                        const float *bias, int C, int n0, int n1, int o0, int o1) {
#ifdef EB_HAVE_NEON
    gemm_block_neon(out, ldo, inp, ldx, w, ldw, bias, C, n0, n1, o0, o1);
#else
    gemm_block_scalar(out, ldo, inp, ldx, w, ldw, bias, C, n0, n1, o0, o1);
#endif
}
