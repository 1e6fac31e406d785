/* adaptivfloat.c - AdaptivFloat<8,3> of the EdgeBERT accelerator and the
 * general AdaptivFloat<n, n_exp> of the AdaptivFloat paper.
 *
 * AF8 conversions work on the IEEE-754 bit fields: an AF8 value
 * (1 + m/16) * 2^(e + b - 10) is the float with exponent field e + b - 10 + 127
 * and the four top mantissa bits m.  Every AF8 value and every threshold used
 * here is exactly representable in float. */
#include "quant/adaptivfloat.h"

#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "util/util.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

static int clamp_bias(int b) {
    return b < 0 ? 0 : b > EB_AF8_BIAS_MAX ? EB_AF8_BIAS_MAX : b;
}

int eb_af8_bias_for_max(float maxabs) {
    if (!(maxabs > 0)) return 0; /* zero or NaN */
    if (isinf(maxabs)) return EB_AF8_BIAS_MAX;
    int e;
    frexpf(maxabs, &e); /* maxabs = f * 2^e, f in [0.5, 1): floor(log2) = e - 1 */
    return clamp_bias(e - 1 + 3);
}

float eb_af8_maxabs_ref(const float *x, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > m) m = a; /* NaN compares false */
    }
    return m;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define EB_AF8_X86 1
#define T512 __attribute__((target("avx512f,avx512dq")))

static inline __mmask16 tail16(size_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

static T512 float maxabs_avx512(const float *x, size_t n) {
    __m512 m = _mm512_setzero_ps();
    for (size_t i = 0; i < n; i += 16) {
        __m512 a = _mm512_abs_ps(_mm512_maskz_loadu_ps(tail16(n - i), x + i));
        m = _mm512_max_ps(a, m); /* a NaN in a gives m (the second operand) */
    }
    return _mm512_reduce_max_ps(m);
}

/* Round to nearest (ties away from zero) on the bit fields: adding half a
 * unit of the fourth mantissa bit and clearing the 19 bits below carries into
 * the exponent exactly as the scalar m == 16 case does. */
static T512 void quantize_nearest_avx512(float *out, const float *x, size_t n, int bias) {
    const __m512 minv = _mm512_set1_ps(eb_af8_min_normal(bias));
    const __m512 half_min = _mm512_set1_ps(0.5f * eb_af8_min_normal(bias));
    const __m512 maxv = _mm512_set1_ps(eb_af8_max_value(bias));
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 t = tail16(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(t, x + i);
        const __m512 a = _mm512_abs_ps(v);
        __m512i bits = _mm512_add_epi32(_mm512_castps_si512(a), _mm512_set1_epi32(1 << 18));
        bits = _mm512_and_si512(bits, _mm512_set1_epi32((int)0xFFF80000u));
        __m512 r = _mm512_min_ps(_mm512_castsi512_ps(bits), maxv); /* NaN (from Inf) -> max */
        r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, minv, _CMP_LT_OQ), r, minv);
        r = _mm512_castsi512_ps(_mm512_or_si512(
            _mm512_castps_si512(r), _mm512_and_si512(_mm512_castps_si512(v), sign)));
        /* below half the smallest value, and NaN: the code 0x00, +0 */
        const __mmask16 zero = _mm512_cmp_ps_mask(a, half_min, _CMP_LT_OQ) |
                               _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        r = _mm512_mask_blend_ps(zero, r, _mm512_setzero_ps());
        _mm512_mask_storeu_ps(out + i, t, r);
    }
}
#else
#define EB_AF8_X86 0
#endif

float eb_af8_maxabs(const float *x, size_t n) {
#if EB_AF8_X86
    if (eb_cpu_has_avx512()) return maxabs_avx512(x, n);
#endif
    return eb_af8_maxabs_ref(x, n);
}

int eb_af8_choose_bias(const float *x, size_t n) {
    return eb_af8_bias_for_max(eb_af8_maxabs(x, n));
}

float eb_af8_to_float(uint8_t code, int bias) {
    uint32_t sign = (uint32_t)(code & 0x80) << 24;
    if ((code & 0x7f) == 0) {
        float z;
        memcpy(&z, &sign, sizeof z);
        return z;
    }
    uint32_t e = (code >> 4) & 7, m = code & 15;
    uint32_t bits = sign | ((e + (uint32_t)clamp_bias(bias) - 10 + 127) << 23) | (m << 19);
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

float eb_af8_max_value(int bias) {
    return eb_af8_to_float(0x7f, bias);
}

float eb_af8_min_normal(int bias) {
    return eb_af8_to_float(0x01, bias);
}

uint8_t eb_af8_from_float(float v, int bias, eb_af8_round mode) {
    if (isnan(v)) return 0;
    bias = clamp_bias(bias);
    uint8_t s = signbit(v) ? 0x80 : 0;
    float a = fabsf(v);
    float minv = eb_af8_min_normal(bias), maxv = eb_af8_max_value(bias);
    if (a < 0.5f * minv) return 0;
    if (a < minv) return (uint8_t)(s | 0x01);
    if (a >= maxv) return (uint8_t)(s | 0x7f);
    uint32_t bits;
    memcpy(&bits, &a, sizeof bits);
    int e = (int)((bits >> 23) & 0xff) - 127 - bias + 10; /* 0..7 here */
    uint32_t frac = bits & 0x7fffff, m;
    if (mode == EB_AF8_TRUNC) {
        m = frac >> 19;
    } else {
        m = (frac + (1u << 18)) >> 19; /* half away from zero on the magnitude */
        if (m == 16) m = 0, e++;
    }
    if (e > 7) return (uint8_t)(s | 0x7f);
    return (uint8_t)(s | (uint32_t)e << 4 | m);
}

void eb_af8_encode(uint8_t *out, const float *x, size_t n, int bias, eb_af8_round mode) {
    for (size_t i = 0; i < n; i++)
        out[i] = eb_af8_from_float(x[i], bias, mode);
}

int eb_af8_encode_auto(uint8_t *out, const float *x, size_t n, eb_af8_round mode) {
    int b = eb_af8_choose_bias(x, n);
    eb_af8_encode(out, x, n, b, mode);
    return b;
}

void eb_af8_decode_table(float table[256], int bias) {
    for (int c = 0; c < 256; c++)
        table[c] = eb_af8_to_float((uint8_t)c, bias);
}

void eb_af8_decode(float *out, const uint8_t *codes, size_t n, int bias) {
    float t[256];
    eb_af8_decode_table(t, bias);
    for (size_t i = 0; i < n; i++)
        out[i] = t[codes[i]];
}

int eb_af8_quantize(float *out, const float *x, size_t n, eb_af8_round mode) {
#if EB_AF8_X86
    if (mode == EB_AF8_NEAREST && eb_cpu_has_avx512()) {
        int b = eb_af8_choose_bias(x, n);
        quantize_nearest_avx512(out, x, n, clamp_bias(b));
        return b;
    }
#endif
    return eb_af8_quantize_ref(out, x, n, mode);
}

int eb_af8_quantize_ref(float *out, const float *x, size_t n, eb_af8_round mode) {
    int b = eb_af8_bias_for_max(eb_af8_maxabs_ref(x, n));
    float t[256];
    eb_af8_decode_table(t, b);
    for (size_t i = 0; i < n; i++)
        out[i] = t[eb_af8_from_float(x[i], b, mode)];
    return b;
}

/* ---- general AdaptivFloat<nbits, n_exp> ---- */

static eb_status check_format(int nbits, int n_exp, eb_error *err) {
    if (nbits < 2 || nbits > 16)
        return eb_fail(err, EB_ERR_ARG, "adaptivfloat: %d bits (need 2..16)", nbits);
    if (n_exp < 1 || n_exp > nbits - 1 || n_exp > EB_AF_MAX_EXP)
        return eb_fail(err, EB_ERR_ARG, "adaptivfloat: %d exponent bits for %d bits (need 1..%d)",
                       n_exp, nbits, EB_MIN(nbits - 1, EB_AF_MAX_EXP));
    return EB_OK;
}

eb_status eb_af_format_for(const float *x, size_t n, int nbits, int n_exp, eb_af_format *out,
                           eb_error *err) {
    eb_status st = check_format(nbits, n_exp, err);
    if (st) return st;
    float m = eb_af8_maxabs(x, n);
    if (isinf(m)) return eb_fail(err, EB_ERR_NUMERIC, "adaptivfloat: tensor holds an infinity");
    int e = 1;
    if (m > 0) frexpf(m, &e);
    out->nbits = nbits;
    out->n_exp = n_exp;
    out->exp_max = e - 1;
    return EB_OK;
}

float eb_af_quantize_value(float v, const eb_af_format *f) {
    if (isnan(v)) return 0.0f;
    int n_mant = f->nbits - 1 - f->n_exp;
    int exp_min = f->exp_max - (1 << f->n_exp) + 1;
    double ulp1 = ldexp(1.0, -n_mant);
    double vmin = ldexp(1.0 + ulp1, exp_min), vmax = ldexp(2.0 - ulp1, f->exp_max);
    double a = fabs((double)v), q;
    if (a < 0.5 * vmin) {
        q = 0;
    } else if (a < vmin) {
        q = vmin;
    } else if (a >= vmax) {
        q = vmax;
    } else {
        int e;
        frexp(a, &e);
        double scale = ldexp(1.0, e - 1 - n_mant);
        q = rint(a / scale) * scale; /* default rounding mode: ties to even */
        if (q > vmax) q = vmax;
    }
    return (float)copysign(q, (double)v);
}

eb_status eb_af_quantize(float *out, const float *x, size_t n, int nbits, int n_exp,
                         eb_af_format *fmt_out, eb_error *err) {
    eb_af_format f;
    eb_status st = eb_af_format_for(x, n, nbits, n_exp, &f, err);
    if (st) return st;
    for (size_t i = 0; i < n; i++)
        out[i] = eb_af_quantize_value(x[i], &f);
    if (fmt_out) *fmt_out = f;
    return EB_OK;
}

eb_status eb_af_search_exp(const float *x, size_t n, int nbits, double *rmse, int *best,
                           eb_error *err) {
    eb_status st = check_format(nbits, 1, err);
    if (st) return st;
    int b = 0;
    rmse[0] = NAN;
    for (int e = 1; e < nbits; e++) {
        rmse[e] = NAN;
        if (e > EB_AF_MAX_EXP) continue;
        eb_af_format f;
        st = eb_af_format_for(x, n, nbits, e, &f, err);
        if (st) return st;
        double s = 0;
        for (size_t i = 0; i < n; i++) {
            if (isnan(x[i])) continue;
            double d = (double)eb_af_quantize_value(x[i], &f) - x[i];
            s += d * d;
        }
        rmse[e] = n ? sqrt(s / (double)n) : 0.0;
        if (!b || rmse[e] < rmse[b]) b = e;
    }
    if (best) *best = b;
    return EB_OK;
}
