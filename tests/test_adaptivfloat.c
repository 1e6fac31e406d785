/* test_adaptivfloat.c - AdaptivFloat<8,3> and the general AdaptivFloat
 * against decoders and nearest-value searches written here independently. */
#include "testutil.h"

#include <math.h>

#include "edgebert/quant.h"
#include "kernels/kernels.h"
#include "quant/adaptivfloat.h"

/* Independent AF8 decoder: arithmetic with ldexpf, not bit fields. */
static float ref_decode(int code, int b) {
    int s = code >> 7, e = (code >> 4) & 7, m = code & 15;
    if (e == 0 && m == 0) return s ? -0.0f : 0.0f;
    float v = ldexpf(1.0f + (float)m / 16.0f, e + b - 10);
    return s ? -v : v;
}

static void test_exhaustive_decode(void **state) {
    (void)state;
    for (int b = 0; b < 8; b++) {
        float table[256];
        eb_af8_decode_table(table, b);
        for (int c = 0; c < 256; c++) {
            float r = ref_decode(c, b);
            assert_true(eb_af8_to_float((uint8_t)c, b) == r);
            assert_true(table[c] == r);
            assert_int_equal(signbit(table[c]) != 0, c >= 128);
            uint8_t one = (uint8_t)c;
            float d;
            eb_af8_decode(&d, &one, 1, b);
            assert_true(d == r);
        }
    }
}

static void test_exhaustive_round_trip(void **state) {
    (void)state;
    for (int b = 0; b < 8; b++) {
        for (int c = 0; c < 256; c++) {
            float v = ref_decode(c, b);
            uint8_t want = (c & 0x7f) ? (uint8_t)c : 0;
            assert_int_equal(eb_af8_from_float(v, b, EB_AF8_NEAREST), want);
            assert_int_equal(eb_af8_from_float(v, b, EB_AF8_TRUNC), want);
            assert_int_equal(eb_af8_is_zero((uint8_t)c), (c & 0x7f) == 0);
        }
    }
}

static void test_boundaries(void **state) {
    (void)state;
    /* b = 7: largest 31, smallest normal 1.0625 * 2^-3 (by hand) */
    assert_true(eb_af8_max_value(7) == 31.0f);
    assert_true(eb_af8_min_normal(7) == 0.1328125f);
    assert_true(eb_af8_max_value(0) == 0.2421875f); /* 1.9375 / 8 */
    for (int b = 0; b < 8; b++) {
        float minv = ldexpf(17.0f / 16.0f, b - 10), half = ldexpf(17.0f / 32.0f, b - 10);
        float maxv = ldexpf(31.0f / 16.0f, b - 3);
        for (int mode = 0; mode < 2; mode++) {
            eb_af8_round md = (eb_af8_round)mode;
            assert_int_equal(eb_af8_from_float(nextafterf(half, 0), b, md), 0x00);
            assert_int_equal(eb_af8_from_float(-nextafterf(half, 0), b, md), 0x00);
            assert_int_equal(eb_af8_from_float(half, b, md), 0x01);
            assert_int_equal(eb_af8_from_float(-half, b, md), 0x81);
            assert_int_equal(eb_af8_from_float(ldexpf(1.0f, b - 10), b, md), 0x01);
            assert_int_equal(eb_af8_from_float(minv, b, md), 0x01);
            assert_int_equal(eb_af8_from_float(-minv, b, md), 0x81);
            assert_int_equal(eb_af8_from_float(maxv, b, md), 0x7f);
            assert_int_equal(eb_af8_from_float(maxv * 1.01f, b, md), 0x7f);
            assert_int_equal(eb_af8_from_float(-maxv * 4, b, md), 0xff); /* sign kept */
            assert_int_equal(eb_af8_from_float(-1e30f, b, md), 0xff);
            assert_int_equal(eb_af8_from_float(INFINITY, b, md), 0x7f);
            assert_int_equal(eb_af8_from_float(-INFINITY, b, md), 0xff);
            assert_int_equal(eb_af8_from_float(NAN, b, md), 0x00);
            assert_int_equal(eb_af8_from_float(0.0f, b, md), 0x00);
            assert_int_equal(eb_af8_from_float(-0.0f, b, md), 0x00);
        }
        /* just below max: nearest rounds up to max, truncation stays below */
        float below = ldexpf(1.90625f, b - 3); /* 1 + 14.5/16 */
        assert_int_equal(eb_af8_from_float(below, b, EB_AF8_NEAREST), 0x7f);
        assert_int_equal(eb_af8_from_float(below, b, EB_AF8_TRUNC), 0x7e);
        /* a mantissa carry into the next exponent: 1.96875 * 2^(b-4) -> 2^(b-3) */
        assert_int_equal(eb_af8_from_float(ldexpf(1.96875f, b - 4), b, EB_AF8_NEAREST), 0x70);
        assert_int_equal(eb_af8_from_float(ldexpf(1.96875f, b - 4), b, EB_AF8_TRUNC), 0x6f);
    }
    /* hand-computed: b = 3, 1.3 -> exponent 0 (e = 7), mantissa 4.8 -> 5 / 4 */
    assert_int_equal(eb_af8_from_float(1.3f, 3, EB_AF8_NEAREST), 0x75);
    assert_int_equal(eb_af8_from_float(1.3f, 3, EB_AF8_TRUNC), 0x74);
    assert_int_equal(eb_af8_from_float(-0.3f, 3, EB_AF8_NEAREST), 0xd3); /* 0.3=1.2*2^-2 */
    /* a bias outside 0..7 is clamped */
    assert_true(eb_af8_to_float(0x7f, 12) == 31.0f);
}

static void test_bias_choice(void **state) {
    (void)state;
    assert_int_equal(eb_af8_bias_for_max(1.0f), 3);
    assert_int_equal(eb_af8_bias_for_max(31.0f), 7);
    assert_int_equal(eb_af8_bias_for_max(1000.0f), 7);
    assert_int_equal(eb_af8_bias_for_max(0.001f), 0);
    assert_int_equal(eb_af8_bias_for_max(0.5f), 2);
    assert_int_equal(eb_af8_bias_for_max(0.49f), 1);
    assert_int_equal(eb_af8_bias_for_max(2.0f), 4);
    assert_int_equal(eb_af8_bias_for_max(nextafterf(2.0f, 0)), 3);
    assert_int_equal(eb_af8_bias_for_max(0.0f), 0);
    assert_int_equal(eb_af8_bias_for_max(INFINITY), 7);
    float x[5] = {0.1f, -3.5f, NAN, 2.0f, 0};
    assert_true(eb_af8_maxabs(x, 5) == 3.5f);
    assert_int_equal(eb_af8_choose_bias(x, 5), 4);
    float y[5];
    assert_int_equal(eb_af8_quantize(y, x, 5, EB_AF8_NEAREST), 4);
    assert_true(y[1] == -3.5f && y[3] == 2.0f && y[4] == 0.0f && y[2] == 0.0f);
    uint8_t c[5];
    assert_int_equal(eb_af8_encode_auto(c, x, 5, EB_AF8_TRUNC), 4);
    /* b = 4: 3.5 = 1.75 * 2^1 -> e = 1 - 4 + 10 = 7, m = 12; 2.0 -> e = 7, m = 0 */
    assert_int_equal(c[1], 0xfc);
    assert_int_equal(c[3], 0x70);
    assert_int_equal(c[2], 0x00);
}

/* Nearest decoded value by brute force over all 256 codes. */
static float brute_nearest(float v, int b) {
    float best = 0;
    double bd = INFINITY;
    for (int c = 0; c < 256; c++) {
        float q = ref_decode(c, b);
        double d = fabs((double)q - v);
        if (d < bd) bd = d, best = q;
    }
    return best;
}

/* Truncation by brute force: the largest magnitude <= |v| (with the flush,
 * raise and clamp rules). */
static float brute_trunc(float v, int b) {
    float a = fabsf(v), minv = ref_decode(1, b), maxv = ref_decode(0x7f, b), best = 0;
    if (a < minv / 2) return 0;
    if (a < minv) return copysignf(minv, v);
    if (a >= maxv) return copysignf(maxv, v);
    for (int c = 1; c < 128; c++) {
        float q = ref_decode(c, b);
        if (q <= a && q > best) best = q;
    }
    return copysignf(best, v);
}

static void test_random_vs_brute_force(void **state) {
    (void)state;
    uint64_t s = 99;
    for (int it = 0; it < 40000; it++) {
        int b = (int)(eb_test_rng(&s) % 8);
        /* log-uniform magnitudes from far below the smallest normal to above max */
        float mag = ldexpf(1.0f + eb_test_uniform(&s), b - 13 + (int)(eb_test_rng(&s) % 13));
        float v = (eb_test_rng(&s) & 1) ? -mag : mag;
        float qn = eb_af8_to_float(eb_af8_from_float(v, b, EB_AF8_NEAREST), b);
        float bn = brute_nearest(v, b);
        assert_true(fabs((double)qn - v) <= fabs((double)bn - v));
        assert_true(qn == 0 || signbit(qn) == signbit(v));
        float qt = eb_af8_to_float(eb_af8_from_float(v, b, EB_AF8_TRUNC), b);
        assert_true(qt == brute_trunc(v, b));
    }
}

/* ---- general AdaptivFloat ---- */

/* All non-negative values of AdaptivFloat<nbits, ne> with exp_max em. */
static int ref_values(float *out, int nbits, int ne, int em) {
    int nm = nbits - 1 - ne, n = 0;
    int emin = em - (1 << ne) + 1;
    out[n++] = 0;
    for (int e = emin; e <= em; e++)
        for (int m = 0; m < (1 << nm); m++) {
            if (e == emin && m == 0) continue;
            out[n++] = (float)ldexp(1.0 + (double)m / (1 << nm), e);
        }
    return n;
}

static void test_general_hand(void **state) {
    (void)state;
    /* AdaptivFloat<4,2>, tensor max 3: exp_max 1, exp_min -2, values
     * 0.375 .. 3 (worked by hand); ties go to the even mantissa. */
    float x[8] = {3.0f, 0.1f, 0.2f, 1.25f, 1.75f, 2.9f, -0.75f, 0.5f};
    float want[8] = {3.0f, 0.0f, 0.375f, 1.0f, 2.0f, 3.0f, -0.75f, 0.5f};
    float y[8];
    eb_af_format f;
    assert_int_equal(eb_af_quantize(y, x, 8, 4, 2, &f, NULL), EB_OK);
    assert_int_equal(f.exp_max, 1);
    for (int i = 0; i < 8; i++)
        assert_true(y[i] == want[i]);
    /* the tie 0x1.a8p-7 with b = 0: AF8 away from zero, <8,3> to even */
    assert_true(eb_af8_to_float(eb_af8_from_float(0x1.a8p-7f, 0, EB_AF8_NEAREST), 0) == 0x1.bp-7f);
    eb_af_format f83 = {8, 3, -7};
    assert_true(eb_af_quantize_value(0x1.a8p-7f, &f83) == 0x1.ap-7f);
    eb_error err;
    assert_int_equal(eb_af_quantize(y, x, 8, 8, 0, NULL, &err), EB_ERR_ARG);
    assert_int_equal(eb_af_quantize(y, x, 8, 17, 3, NULL, &err), EB_ERR_ARG);
    float inf[1] = {INFINITY};
    assert_int_equal(eb_af_quantize(y, inf, 1, 8, 3, NULL, &err), EB_ERR_NUMERIC);
}

static void test_general_vs_brute_force(void **state) {
    (void)state;
    uint64_t s = 5;
    static float vals[1 << 16];
    const int cfg[][2] = {{8, 3}, {8, 4}, {8, 2}, {6, 3}, {10, 5}, {8, 1}, {5, 4}};
    for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
        float x[300];
        float scale = ldexpf(1.0f, (int)(eb_test_rng(&s) % 20) - 10);
        for (int i = 0; i < 300; i++) {
            float mag = scale * ldexpf(eb_test_uniform(&s), -(int)(eb_test_rng(&s) % 12));
            x[i] = (eb_test_rng(&s) & 1) ? -mag : mag;
        }
        eb_af_format f;
        assert_int_equal(eb_af_format_for(x, 300, cfg[k][0], cfg[k][1], &f, NULL), EB_OK);
        int nv = ref_values(vals, cfg[k][0], cfg[k][1], f.exp_max);
        for (int i = 0; i < 300; i++) {
            float q = eb_af_quantize_value(x[i], &f);
            double bd = INFINITY;
            for (int j = 0; j < nv; j++)
                bd = fmin(bd, fabs((double)vals[j] - fabsf(x[i])));
            assert_true(fabs((double)q - x[i]) <= bd);
        }
    }
    /* <8,3> is the accelerator format when the bias is in range */
    for (int it = 0; it < 200; it++) {
        float x[64];
        float scale = ldexpf(1.0f, (int)(eb_test_rng(&s) % 7) - 3);
        for (int i = 0; i < 64; i++)
            x[i] = (eb_test_uniform(&s) * 2 - 1) * scale;
        float a[64], g[64];
        int b = eb_af8_quantize(a, x, 64, EB_AF8_NEAREST);
        eb_af_format f;
        assert_int_equal(eb_af_quantize(g, x, 64, 8, 3, &f, NULL), EB_OK);
        if (f.exp_max + 3 < 0 || f.exp_max + 3 > 7) continue; /* bias clamped: differs */
        assert_int_equal(b, f.exp_max + 3);
        /* equal except on exact ties (AF8 rounds them away from zero, the
         * general form to even), e.g. 0x1.a8p-7 at b = 0 */
        for (int i = 0; i < 64; i++)
            assert_true(a[i] == g[i] || fabsf(x[i] - a[i]) == fabsf(x[i] - g[i]));
    }
}

static void test_exp_search(void **state) {
    (void)state;
    uint64_t s = 8;
    enum { N = 4000 };
    static float narrow[N], wide[N];
    for (int i = 0; i < N; i++) {
        narrow[i] = 0.5f + 0.5f * eb_test_uniform(&s); /* one binade: mantissa matters */
        /* exact 1.0 and values near 2^-10: only >= 4 exponent bits reach
         * them, and 4 keeps the most mantissa */
        wide[i] = (i & 1) ? 1.0f : ldexpf(1.0f + eb_test_uniform(&s), -10);
    }
    double r[8];
    int best;
    assert_int_equal(eb_af_search_exp(narrow, N, 8, r, &best, NULL), EB_OK);
    assert_true(isnan(r[0]));
    assert_int_equal(best, 1);
    assert_int_equal(eb_af_search_exp(wide, N, 8, r, &best, NULL), EB_OK);
    assert_int_equal(best, 4);
    /* each RMSE against a brute-force nearest quantisation */
    static float vals[1 << 8];
    for (int e = 1; e < 8; e++) {
        eb_af_format f;
        eb_af_format_for(wide, N, 8, e, &f, NULL);
        int nv = ref_values(vals, 8, e, f.exp_max);
        double ss = 0;
        for (int i = 0; i < N; i++) {
            double bd = INFINITY;
            for (int j = 0; j < nv; j++)
                bd = fmin(bd, fabs((double)vals[j] - wide[i]));
            ss += bd * bd;
        }
        assert_true(fabs(sqrt(ss / N) - r[e]) <= 1e-6 * sqrt(ss / N) + 1e-12);
        if (e != best) assert_true(r[e] >= r[best]);
    }
}

/* The AVX-512 eb_af8_quantize / eb_af8_maxabs (when the CPU has it) against
 * the scalar references, bit for bit: every AF8 value of every bias, the
 * midpoints between neighbours (ties), just above and below them, half the
 * smallest value, the largest and beyond, -0, NaN, +-Inf, random magnitudes,
 * at lengths around the 16-value vectors. */
static void test_simd_quantize_matches_scalar(void **state) {
    (void)state;
    enum { NV = 8192 };
    static float pool[NV], a[NV], b[NV];
    int n = 0;
    for (int bias = 0; bias <= 7; bias++)
        for (int c = 1; c < 128; c++) {
            float v = eb_af8_to_float((uint8_t)c, bias);
            float w = c < 127 ? eb_af8_to_float((uint8_t)(c + 1), bias) : 2 * v;
            float mid = 0.5f * (v + w);
            pool[n++] = v, pool[n++] = -mid, pool[n++] = nextafterf(mid, 0);
            pool[n++] = nextafterf(mid, 1e30f);
        }
    for (int bias = 0; bias <= 7; bias++) {
        float mn = eb_af8_min_normal(bias), mx = eb_af8_max_value(bias);
        pool[n++] = 0.5f * mn, pool[n++] = nextafterf(0.5f * mn, 0), pool[n++] = -mn;
        pool[n++] = 0.75f * mn, pool[n++] = mx, pool[n++] = -nextafterf(mx, 1e30f), pool[n++] = 3 * mx;
    }
    pool[n++] = -0.0f, pool[n++] = NAN, pool[n++] = INFINITY, pool[n++] = -INFINITY;
    uint64_t rng = 5;
    while (n < NV) {
        double u = eb_test_uniform(&rng);
        pool[n++] = (float)((eb_test_uniform(&rng) < 0.5 ? -1 : 1) * exp2(-14 + 20 * u));
    }
    int checked = 0;
    for (int start = 0; start + 48 < NV; start += 37) {
        for (int len = 0; len <= 48; len += 1 + (start % 7)) {
            /* scaled so that the tensor's bias varies too */
            const float *x = pool + start;
            int ba = eb_af8_quantize(a, x, (size_t)len, EB_AF8_NEAREST);
            int bb = eb_af8_quantize_ref(b, x, (size_t)len, EB_AF8_NEAREST);
            assert_int_equal(ba, bb);
            assert_memory_equal(a, b, sizeof(float) * (size_t)len);
            float ma = eb_af8_maxabs(x, (size_t)len), mb = eb_af8_maxabs_ref(x, (size_t)len);
            assert_memory_equal(&ma, &mb, sizeof ma);
            checked += len;
        }
    }
    /* whole pool at each fixed bias: a tensor whose maximum pins the bias */
    for (int bias = 0; bias <= 7; bias++) {
        float scale = eb_af8_max_value(bias);
        for (int i = 0; i < 1000; i++)
            a[i] = pool[i] * scale / 64;
        int ba = eb_af8_quantize(b, a, 1000, EB_AF8_NEAREST);
        int bb = eb_af8_quantize_ref(a + 2000, a, 1000, EB_AF8_NEAREST);
        assert_int_equal(ba, bb);
        assert_memory_equal(b, a + 2000, sizeof(float) * 1000);
    }
    print_message("simd vs scalar AF8 quantisation: %d values (%s)\n", checked,
                  eb_cpu_has_avx512() ? "AVX-512" : "no AVX-512: scalar both");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exhaustive_decode),
        cmocka_unit_test(test_simd_quantize_matches_scalar),
        cmocka_unit_test(test_exhaustive_round_trip),
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_bias_choice),
        cmocka_unit_test(test_random_vs_brute_force),
        cmocka_unit_test(test_general_hand),
        cmocka_unit_test(test_general_vs_brute_force),
        cmocka_unit_test(test_exp_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
