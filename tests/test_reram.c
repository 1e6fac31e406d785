/* test_reram.c - the ReRAM cell fault model: thresholds by bisection,
 * probabilities by numerical integration (both written here), the facts
 * sheet's rates, packing by hand, deterministic injection. */
#include "testutil.h"

#include <math.h>
#include <unistd.h>

#include "edgebert/reram.h"

static double pdf(double x, double m, double s) {
    return exp(-0.5 * (x - m) * (x - m) / (s * s)) / (s * sqrt(2 * M_PI));
}

/* Crossing by bisection on log pdf difference between the means. */
static double bisect_threshold(eb_reram_level lo, eb_reram_level hi) {
    double a = lo.mean, b = hi.mean;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (a + b);
        double f = (-log(lo.sigma) - 0.5 * pow((mid - lo.mean) / lo.sigma, 2)) -
                   (-log(hi.sigma) - 0.5 * pow((mid - hi.mean) / hi.sigma, 2));
        if (f > 0)
            a = mid;
        else
            b = mid;
    }
    return 0.5 * (a + b);
}

/* Composite Simpson over [a, b]. */
static double integrate(double a, double b, double m, double s) {
    int n = 40000;
    double h = (b - a) / n, sum = pdf(a, m, s) + pdf(b, m, s);
    for (int i = 1; i < n; i++)
        sum += (i & 1 ? 4 : 2) * pdf(a + i * h, m, s);
    return sum * h / 3;
}

static void test_default_tables(void **state) {
    (void)state;
    const eb_reram_table *t = eb_reram_default_table(EB_CELL_MLC3);
    assert_non_null(t);
    assert_int_equal(t->n_levels, 8);
    assert_int_equal(t->bits, 3);
    assert_true(t->level[4].mean == 0.54212 && t->level[6].sigma == 0.037191);
    t = eb_reram_default_table(EB_CELL_MLC2);
    assert_true(t->n_levels == 4 && t->level[1].mean == 0.384644 && t->level[2].sigma == 0.027417);
    t = eb_reram_default_table(EB_CELL_SLC);
    assert_true(t->n_levels == 2 && t->level[0].sigma == 0.008646 && t->level[1].sigma == 0.0034);
    assert_null(eb_reram_default_table((eb_cell_kind)4));
    assert_string_equal(eb_cell_kind_name(EB_CELL_MLC2), "mlc2");
    eb_cell_kind k;
    assert_int_equal(eb_cell_kind_parse("MLC3", &k, NULL), EB_OK);
    assert_int_equal(k, EB_CELL_MLC3);
    eb_error err;
    assert_int_equal(eb_cell_kind_parse("tlc", &k, &err), EB_ERR_ARG);
    assert_float_equal(eb_reram_area_mm2_per_mb(EB_CELL_SLC), 0.28, 0);
    assert_float_equal(eb_reram_area_mm2_per_mb(EB_CELL_MLC2), 0.08, 0);
    assert_float_equal(eb_reram_area_mm2_per_mb(EB_CELL_MLC3), 0.04, 0);
    assert_float_equal(eb_reram_read_latency_ns(EB_CELL_SLC), 1.21, 0);
    assert_float_equal(eb_reram_read_latency_ns(EB_CELL_MLC2), 1.54, 0);
    assert_float_equal(eb_reram_read_latency_ns(EB_CELL_MLC3), 2.96, 0);
}

static void test_thresholds_and_probabilities(void **state) {
    (void)state;
    for (int kind = 1; kind <= 3; kind++) {
        const eb_reram_table *t = eb_reram_default_table((eb_cell_kind)kind);
        eb_reram_model m;
        assert_int_equal(eb_reram_model_init(&m, t, NULL), EB_OK);
        assert_true(m.p_down[0] == 0 && m.p_up[t->n_levels - 1] == 0);
        for (int j = 0; j + 1 < t->n_levels; j++) {
            eb_reram_level lo = t->level[j], hi = t->level[j + 1];
            double th = bisect_threshold(lo, hi);
            assert_float_equal(m.threshold[j], th, 1e-10);
            assert_true(th > lo.mean && th < hi.mean);
            /* the densities are equal there */
            assert_float_equal(pdf(th, lo.mean, lo.sigma) / pdf(th, hi.mean, hi.sigma), 1, 1e-6);
            double up = integrate(th, th + 30 * lo.sigma, lo.mean, lo.sigma);
            double down = integrate(th - 30 * hi.sigma, th, hi.mean, hi.sigma);
            if (up > 1e-300) assert_float_equal(m.p_up[j] / up, 1, 1e-6);
            if (down > 1e-300) assert_float_equal(m.p_down[j + 1] / down, 1, 1e-6);
        }
    }
    /* equal sigmas: the midpoint */
    eb_reram_level a = {0.2, 0.05}, b = {0.6, 0.05};
    double th;
    assert_int_equal(eb_reram_threshold(&a, &b, &th, NULL), EB_OK);
    assert_float_equal(th, 0.4, 1e-12);
    /* a narrow level next to a very wide one: no crossing between the means */
    eb_reram_level n = {0, 0.001}, w = {0.0001, 1};
    eb_error err;
    assert_int_equal(eb_reram_threshold(&n, &w, &th, &err), EB_ERR_ARG);
}

static void test_rates_match_facts(void **state) {
    (void)state;
    eb_reram_model slc, mlc2, mlc3;
    assert_int_equal(eb_reram_model_init(&slc, eb_reram_default_table(EB_CELL_SLC), NULL), EB_OK);
    assert_int_equal(eb_reram_model_init(&mlc2, eb_reram_default_table(EB_CELL_MLC2), NULL), EB_OK);
    assert_int_equal(eb_reram_model_init(&mlc3, eb_reram_default_table(EB_CELL_MLC3), NULL), EB_OK);
    /* SLC ~ 0 */
    assert_true(slc.p_up[0] < 1e-100 && slc.p_down[1] < 1e-100);
    /* MLC2 ~ 1.5e-8 at the middle boundary, negligible elsewhere */
    assert_true(mlc2.p_up[1] > 1.3e-8 && mlc2.p_up[1] < 1.9e-8);
    assert_true(mlc2.p_down[2] > 1.3e-8 && mlc2.p_down[2] < 1.9e-8);
    assert_true(mlc2.p_up[0] < 1e-15 && mlc2.p_down[3] < 1e-15);
    /* MLC3 per boundary between 1.5e-4 and 6.3e-3 */
    double lo = 1, hi = 0;
    for (int j = 0; j < 7; j++) {
        lo = fmin(lo, fmin(mlc3.p_up[j], mlc3.p_down[j + 1]));
        hi = fmax(hi, fmax(mlc3.p_up[j], mlc3.p_down[j + 1]));
    }
    assert_float_equal(lo, 1.5e-4, 0.05e-4);
    assert_float_equal(hi, 6.3e-3, 0.05e-3);
    assert_true(eb_reram_fault_rate(&mlc3) > 1e-3 && eb_reram_fault_rate(&mlc2) < 1e-7);
    char buf[2048];
    int n = eb_reram_describe(&mlc3, buf, sizeof buf);
    assert_true(n > 0 && (size_t)n < sizeof buf);
    assert_non_null(strstr(buf, " 5|6 "));
    char tiny[16];
    assert_int_equal(eb_reram_describe(&mlc3, tiny, sizeof tiny), n); /* truncates safely */
    assert_int_equal(strlen(tiny), 15);
}

static void test_table_parse(void **state) {
    (void)state;
    const char *txt = "# my cells\n0 0.01\n\n0.5, 0.02  # middle\n0.7\t0.02\r\n1 0.004\n";
    eb_reram_table t;
    assert_int_equal(eb_reram_table_parse(txt, strlen(txt), "t", &t, NULL), EB_OK);
    assert_int_equal(t.n_levels, 4);
    assert_int_equal(t.bits, 2);
    assert_true(t.level[1].mean == 0.5 && t.level[2].sigma == 0.02 && t.level[3].mean == 1);
    /* from a file */
    char path[] = "/tmp/eb_reram_tableXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(txt, f);
    fclose(f);
    eb_reram_table t2;
    assert_int_equal(eb_reram_table_load(path, NULL, &t2, NULL), EB_OK);
    assert_memory_equal(&t, &t2, sizeof t);
    unlink(path);
    eb_error err;
    assert_int_equal(eb_reram_table_load(path, NULL, &t2, &err), EB_ERR_IO);
    const char *bad[] = {"0 0.01\n0.5 0.02\n1 0.01\n", "0 0.01\n0.5 -1\n",
                         "0.5 0.01\n0.2 0.01\n",       "0 0.01\n1 x\n",
                         "0 0.01 7\n1 0.01\n",         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(eb_reram_table_parse(bad[i], strlen(bad[i]), "bad", &t, &err),
                         EB_ERR_FORMAT);
        assert_non_null(strstr(err.msg, "bad"));
    }
}

static void test_packing(void **state) {
    (void)state;
    uint8_t b1[1] = {0xB4}; /* 1011 0100 */
    uint8_t c[32];
    assert_int_equal(eb_reram_cells_for(1, 2), 4);
    assert_int_equal(eb_reram_pack(c, 4, b1, 1, 2, NULL), EB_OK);
    assert_true(c[0] == 2 && c[1] == 3 && c[2] == 1 && c[3] == 0);
    assert_int_equal(eb_reram_pack(c, 8, b1, 1, 1, NULL), EB_OK);
    const uint8_t bits1[8] = {1, 0, 1, 1, 0, 1, 0, 0};
    assert_memory_equal(c, bits1, 8);
    assert_int_equal(eb_reram_cells_for(1, 3), 3);
    assert_int_equal(eb_reram_pack(c, 3, b1, 1, 3, NULL), EB_OK);
    assert_true(c[0] == 5 && c[1] == 5 && c[2] == 0);
    uint8_t b2[2] = {0xB4, 0x0F}; /* 101 101 000 000 111 1(00) */
    assert_int_equal(eb_reram_cells_for(2, 3), 6);
    assert_int_equal(eb_reram_pack(c, 6, b2, 2, 3, NULL), EB_OK);
    const uint8_t want3[6] = {5, 5, 0, 0, 7, 4};
    assert_memory_equal(c, want3, 6);
    eb_error err;
    assert_int_equal(eb_reram_pack(c, 5, b2, 2, 3, &err), EB_ERR_ARG);
    assert_int_equal(eb_reram_pack(c, 6, b2, 2, 5, &err), EB_ERR_ARG);
    /* round trips */
    uint64_t s = 9;
    for (int bits = 1; bits <= 4; bits++) {
        for (size_t n = 0; n < 40; n++) {
            uint8_t in[40], out[40], cells[400];
            for (size_t i = 0; i < n; i++)
                in[i] = (uint8_t)eb_test_rng(&s);
            size_t nc = eb_reram_cells_for(n, bits);
            assert_int_equal(eb_reram_pack(cells, nc, in, n, bits, NULL), EB_OK);
            for (size_t i = 0; i < nc; i++)
                assert_true(cells[i] < (1 << bits));
            assert_int_equal(eb_reram_unpack(out, n, cells, nc, bits, NULL), EB_OK);
            assert_memory_equal(in, out, n);
        }
    }
}

static void test_injection_count_mode(void **state) {
    (void)state;
    eb_reram_model m;
    assert_int_equal(eb_reram_model_init(&m, eb_reram_default_table(EB_CELL_MLC3), NULL), EB_OK);
    enum { N = 200000 };
    static uint8_t orig[N], a[N], b[N], c[N];
    uint64_t s = 5;
    for (int i = 0; i < N; i++)
        orig[i] = (uint8_t)(eb_test_rng(&s) % 8);
    memcpy(a, orig, N), memcpy(b, orig, N), memcpy(c, orig, N);
    eb_reram_rng r1, r2, r3;
    eb_reram_rng_seed(&r1, 42);
    eb_reram_rng_seed(&r2, 42);
    eb_reram_rng_seed(&r3, 43);
    eb_fault_stats st;
    assert_int_equal(eb_reram_inject_cells(a, N, &m, EB_FAULT_COUNT, &r1, &st, NULL), EB_OK);
    assert_int_equal(eb_reram_inject_cells(b, N, &m, EB_FAULT_COUNT, &r2, NULL, NULL), EB_OK);
    assert_int_equal(eb_reram_inject_cells(c, N, &m, EB_FAULT_COUNT, &r3, NULL, NULL), EB_OK);
    assert_memory_equal(a, b, N);      /* same seed, same faults */
    assert_true(memcmp(a, c, N) != 0); /* another seed, other cells */
    size_t cnt[8] = {0}, flt[8] = {0}, up[8] = {0}, total = 0;
    for (int i = 0; i < N; i++) {
        cnt[orig[i]]++;
        int d = (int)a[i] - (int)orig[i];
        assert_true(d >= -1 && d <= 1);
        if (d) flt[orig[i]]++, total++;
        if (d == 1) up[orig[i]]++;
    }
    assert_int_equal(st.faults, total);
    assert_int_equal(st.cells, N);
    for (int j = 0; j < 8; j++) {
        double p = m.p_up[j] + m.p_down[j];
        size_t want = (size_t)floor(p * (double)cnt[j]);
        assert_int_equal(flt[j], want);
        assert_int_equal(st.level_faults[j], want);
        size_t want_up = p > 0 ? (size_t)llround(want * m.p_up[j] / p) : 0;
        assert_int_equal(up[j], want_up);
    }
    /* MLC2 and SLC: floor() of tiny rates leaves the data intact */
    memcpy(a, orig, N);
    for (int i = 0; i < N; i++)
        a[i] &= 3;
    memcpy(b, a, N);
    eb_reram_model m2;
    eb_reram_model_init(&m2, eb_reram_default_table(EB_CELL_MLC2), NULL);
    assert_int_equal(eb_reram_inject_cells(a, N, &m2, EB_FAULT_COUNT, &r1, &st, NULL), EB_OK);
    assert_memory_equal(a, b, N);
    assert_int_equal(st.faults, 0);
    /* a level outside the table is an error */
    a[7] = 4;
    eb_error err;
    assert_int_equal(eb_reram_inject_cells(a, N, &m2, EB_FAULT_COUNT, &r1, &st, &err), EB_ERR_ARG);
}

static void test_injection_bernoulli_and_bytes(void **state) {
    (void)state;
    eb_reram_model m;
    eb_reram_model_init(&m, eb_reram_default_table(EB_CELL_MLC3), NULL);
    enum { N = 300000 };
    static uint8_t cells[N];
    uint64_t s = 6;
    for (int i = 0; i < N; i++)
        cells[i] = (uint8_t)(eb_test_rng(&s) % 8);
    double expect = 0;
    for (int i = 0; i < N; i++)
        expect += m.p_up[cells[i]] + m.p_down[cells[i]];
    eb_reram_rng r;
    eb_reram_rng_seed(&r, 7);
    eb_fault_stats st;
    assert_int_equal(eb_reram_inject_cells(cells, N, &m, EB_FAULT_BERNOULLI, &r, &st, NULL), EB_OK);
    assert_true(fabs((double)st.faults - expect) < 5 * sqrt(expect));
    /* bytes: same seed same result, faults only touch bits within cells */
    static uint8_t bytes[N], x1[N], x2[N];
    for (int i = 0; i < N; i++)
        bytes[i] = (uint8_t)eb_test_rng(&s);
    memcpy(x1, bytes, N), memcpy(x2, bytes, N);
    eb_fault_stats s1, s2;
    assert_int_equal(eb_reram_inject_bytes(x1, N, &m, EB_FAULT_COUNT, 99, NULL, &s1, NULL), EB_OK);
    assert_int_equal(eb_reram_inject_bytes(x2, N, &m, EB_FAULT_COUNT, 99, NULL, &s2, NULL), EB_OK);
    assert_memory_equal(x1, x2, N);
    assert_int_equal(s1.cells, eb_reram_cells_for(N, 3));
    assert_true(s1.faults > 1000);
    size_t changed = 0;
    for (int i = 0; i < N; i++)
        changed += x1[i] != bytes[i];
    /* a 3-bit cell may straddle two bytes */
    assert_true(changed > 0 && changed <= 2 * s1.faults);
    /* SLC: nothing changes */
    eb_reram_model slc;
    eb_reram_model_init(&slc, eb_reram_default_table(EB_CELL_SLC), NULL);
    memcpy(x1, bytes, N);
    assert_int_equal(eb_reram_inject_bytes(x1, N, &slc, EB_FAULT_BERNOULLI, 1, NULL, &s1, NULL),
                     EB_OK);
    assert_memory_equal(x1, bytes, N);
    /* trial seeds differ and are reproducible */
    assert_true(eb_reram_trial_seed(1, 0) != eb_reram_trial_seed(1, 1));
    assert_true(eb_reram_trial_seed(1, 5) == eb_reram_trial_seed(1, 5));
    assert_true(eb_reram_trial_seed(1, 5) != eb_reram_trial_seed(2, 5));
    eb_reram_rng_seed(&r, 1);
    for (int i = 0; i < 1000; i++) {
        double u = eb_reram_rng_uniform(&r);
        assert_true(u >= 0 && u < 1);
    }
}

static void test_inject_sparse(void **state) {
    (void)state;
    eb_reram_model slc, mlc3;
    eb_reram_model_init(&slc, eb_reram_default_table(EB_CELL_SLC), NULL);
    eb_reram_model_init(&mlc3, eb_reram_default_table(EB_CELL_MLC3), NULL);
    enum { NNZ = 50000, NM = 8000 };
    static uint8_t v0[NNZ], v1[NNZ], v2[NNZ];
    static uint16_t m0[NM], m1[NM], m2[NM];
    uint64_t s = 12;
    for (int i = 0; i < NNZ; i++)
        v0[i] = (uint8_t)(1 + eb_test_rng(&s) % 255);
    for (int i = 0; i < NM; i++)
        m0[i] = (uint16_t)eb_test_rng(&s);
    memcpy(v1, v0, NNZ), memcpy(m1, m0, sizeof m0);
    eb_fault_stats vs, ms;
    /* masks in SLC: untouched; values in MLC3: faults */
    assert_int_equal(eb_reram_inject_sparse(v1, NNZ, m1, NM, &mlc3, &slc, EB_FAULT_COUNT, 5, NULL,
                                            &vs, &ms, NULL),
                     EB_OK);
    assert_memory_equal(m1, m0, sizeof m0);
    assert_int_equal(ms.faults, 0);
    assert_int_equal(ms.cells, NM * 16);
    assert_true(vs.faults > 100);
    assert_true(memcmp(v1, v0, NNZ) != 0);
    /* same seed, same result; masks in MLC3 get faults too */
    memcpy(v1, v0, NNZ), memcpy(m1, m0, sizeof m0);
    memcpy(v2, v0, NNZ), memcpy(m2, m0, sizeof m0);
    assert_int_equal(eb_reram_inject_sparse(v1, NNZ, m1, NM, &mlc3, &mlc3, EB_FAULT_COUNT, 8, NULL,
                                            NULL, &ms, NULL),
                     EB_OK);
    assert_int_equal(eb_reram_inject_sparse(v2, NNZ, m2, NM, &mlc3, &mlc3, EB_FAULT_COUNT, 8, NULL,
                                            NULL, NULL, NULL),
                     EB_OK);
    assert_memory_equal(v1, v2, NNZ);
    assert_memory_equal(m1, m2, sizeof m1);
    assert_true(ms.faults > 10 && memcmp(m1, m0, sizeof m0) != 0);
    /* masks are cut big-endian: the top bits of mask 0 are cell 0 (2 bits) */
    eb_reram_model mlc2;
    eb_reram_model_init(&mlc2, eb_reram_default_table(EB_CELL_MLC2), NULL);
    uint16_t one = 0xC000;
    uint8_t dummy = 1;
    assert_int_equal(eb_reram_inject_sparse(&dummy, 1, &one, 1, &mlc2, &mlc2, EB_FAULT_COUNT, 1,
                                            NULL, NULL, &ms, NULL),
                     EB_OK);
    assert_int_equal(ms.level_cells[3], 1); /* 11 */
    assert_int_equal(ms.level_cells[0], 7);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_tables),
        cmocka_unit_test(test_thresholds_and_probabilities),
        cmocka_unit_test(test_rates_match_facts),
        cmocka_unit_test(test_table_parse),
        cmocka_unit_test(test_packing),
        cmocka_unit_test(test_injection_count_mode),
        cmocka_unit_test(test_injection_bernoulli_and_bytes),
        cmocka_unit_test(test_inject_sparse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
