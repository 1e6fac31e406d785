/* test_hw.c - the accelerator model against hand-computed counts, the V/F
 * choice at its boundaries, LDO timing, calibration and the parameter file. */
#include "testutil.h"

#include <math.h>

#include "edgebert/hw.h"
#include "hw/svg.h"

static eb_hw_model model_default(void) {
    eb_hw_params p;
    eb_hw_params_default(&p);
    eb_hw_model m;
    eb_error err;
    assert_int_equal(eb_hw_model_init(&m, &p, NULL, &err), EB_OK);
    return m;
}

static void test_matmul_cycles_by_hand(void **state) {
    (void)state;
    /* one n x n by n x n tile product takes n cycles */
    assert_true(eb_hw_matmul_cycles(16, 16, 16, 16) == 16);
    assert_true(eb_hw_matmul_cycles(4, 4, 4, 4) == 4);
    /* a 17th row needs a second row tile */
    assert_true(eb_hw_matmul_cycles(16, 17, 16, 16) == 32);
    /* 5x3 by 3x7 on n = 4: 2 x 1 x 2 tiles of 4 cycles */
    assert_true(eb_hw_matmul_cycles(4, 5, 3, 7) == 16);
    /* ALBERT-base Q projection, 128 tokens: 8 x 48 x 48 tiles x 16 */
    assert_true(eb_hw_matmul_cycles(16, 128, 768, 768) == 294912);
    /* doubling n divides a large matmul by 4 */
    assert_true(eb_hw_matmul_cycles(32, 128, 768, 768) == 294912 / 4);
    assert_true(eb_hw_matmul_cycles(16, 0, 5, 5) == 0);
}

static void test_sfu_cycles_by_hand(void **state) {
    (void)state;
    assert_true(eb_hw_sfu_layernorm_cycles(16, 768) == 3 * (9 * 48 + 2));
    assert_true(eb_hw_sfu_softmax_cycles(16, 128) == 3 * (9 * 8 + 1));
    assert_true(eb_hw_sfu_entropy_cycles(16, 2) == 4 * (4 * 1 + 2));
    assert_true(eb_hw_sfu_add_cycles(16, 768) == 6 * 48 + 1);
    assert_true(eb_hw_sfu_add_cycles(16, 17) == 6 * 2 + 1);
}

static void test_layer_cycles_albert_base(void **state) {
    (void)state;
    eb_hw_model m = model_default();
    eb_layer_work w = eb_layer_work_dense(128);
    eb_hw_cost c;
    eb_hw_layer_cost(&m, 16, &w, 0, &c);
    /* by hand: QKV 3*294912, scores 12*4096, context 12*4096, out 294912,
     * FFN 2 * 8*48*192*16 */
    double pu = 3 * 294912.0 + 12 * 4096 + 12 * 4096 + 294912 + 2 * 1179648.0;
    double sfu = 12 * 128 * 219.0 + 2 * 128 * 289 + 2 * 128 * 1302;
    assert_true(c.pu_cycles == pu);
    assert_true(c.sfu_cycles == sfu);
    assert_true(c.macs ==
                128.0 * 768 * 768 * 4 + 2 * 12 * 128.0 * 128 * 64 + 2 * 128.0 * 768 * 3072);
    /* seven heads off (SST-2): their Q/K/V columns, scores, softmax, context go */
    w.active_heads = 5;
    eb_hw_cost c5;
    eb_hw_layer_cost(&m, 16, &w, 0, &c5);
    double pu5 = 3 * eb_hw_matmul_cycles(16, 128, 768, 320) + 5 * 4096.0 * 2 +
                 eb_hw_matmul_cycles(16, 128, 320, 768) + 2 * 1179648.0;
    assert_true(c5.pu_cycles == pu5);
    assert_true(c5.sfu_cycles == 5 * 128 * 219.0 + 2 * 128 * 289 + 2 * 128 * 1302);
    /* off-ramp: 1x768 by 768x768 and 768x2 matvecs + entropy */
    eb_hw_cost co;
    w.active_heads = -1;
    eb_hw_layer_cost(&m, 16, &w, 1, &co);
    assert_true(co.pu_cycles == pu + 48 * 48 * 16 + 48 * 16);
    assert_true(co.sfu_cycles == sfu + 24);
    /* adapter-ALBERT, r = 64: two adapters, each 128x768 by 768x64 (8 x 48 x 4 tiles) and
     * 128x64 by 64x768 (8 x 4 x 48 tiles) of 16 cycles, and one residual add */
    m.adapter_size = 64;
    eb_hw_cost ca;
    eb_hw_layer_cost(&m, 16, &w, 0, &ca);
    assert_true(ca.pu_cycles == pu + 2 * (8 * 48 * 4 * 16.0 + 8 * 4 * 48 * 16.0));
    assert_true(ca.sfu_cycles == sfu + 2 * 128 * 289.0);
    assert_true(ca.macs == c.macs + 4 * 128.0 * 768 * 64);
}

static void test_sparsity_saves_energy_not_cycles(void **state) {
    (void)state;
    eb_hw_model m = model_default();
    eb_layer_work w = eb_layer_work_dense(64);
    eb_hw_cost dense, zero;
    eb_hw_layer_cost(&m, 16, &w, 0, &dense);
    w.weight_zero_vec = 1; /* every weight vector all zero: every weight VMAC skipped */
    w.weight_density = 0;
    eb_hw_layer_cost(&m, 16, &w, 0, &zero);
    assert_true(zero.pu_cycles == dense.pu_cycles);
    assert_true(zero.sfu_cycles == dense.sfu_cycles);
    assert_true(zero.mac_energy_units < dense.mac_energy_units);
    assert_true(zero.vmacs_skipped > 0);
    /* attention matmuls (no weights) are untouched: skipped = weight-matmul VMACs */
    double wmacs = 64.0 * 768 * 768 * 4 + 2 * 64.0 * 768 * 3072;
    assert_float_equal(zero.vmacs_skipped, wmacs / 16, 1e-6);
}

static void test_calibration_86mw(void **state) {
    (void)state;
    eb_hw_model m = model_default();
    eb_layer_work w = eb_layer_work_dense(128);
    eb_hw_report r;
    memset(&r, 0, sizeof r);
    eb_hw_cost c;
    eb_hw_embed_cost(&m, 16, &w, &c);
    eb_hw_charge(&m, 16, &c, 0.8, 1000, &r);
    eb_hw_layer_cost(&m, 16, &w, 0, &c);
    for (int l = 0; l < 12; l++)
        eb_hw_charge(&m, 16, &c, 0.8, 1000, &r);
    eb_hw_classifier_cost(&m, 16, &c);
    eb_hw_charge(&m, 16, &c, 0.8, 1000, &r);
    double mw = r.energy_uj / r.time_ms;
    assert_float_equal(mw, 86.0, 1e-6);
    double sum = r.energy.pu_uj + r.energy.sfu_uj + r.energy.sram_uj + r.energy.emb_mem_uj +
                 r.energy.dvfs_uj + r.energy.leakage_uj;
    assert_float_equal(sum, r.energy_uj, 1e-6);
    /* leakage is leak_share of the power, ADPLL 2.46 mW at 1 GHz */
    assert_float_equal(r.energy.leakage_uj / r.time_ms, 0.08 * 86, 1e-6);
    assert_float_equal(eb_hw_area_mm2(&m, 16), 1.4, 1e-12);
    /* dynamic energy scales with V^2 */
    eb_hw_report a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    eb_hw_charge(&m, 16, &c, 0.8, 500, &a);
    eb_hw_charge(&m, 16, &c, 0.5, 500, &b);
    assert_float_equal(b.energy.pu_uj / a.energy.pu_uj, 0.25 / 0.64, 1e-9);
    assert_float_equal(b.energy.sram_uj / a.energy.sram_uj, 0.25 / 0.64, 1e-9);
    assert_float_equal(a.time_ms, b.time_ms, 1e-12);
    assert_true(b.energy.leakage_uj < a.energy.leakage_uj);
}

static void test_vf_law_and_choice(void **state) {
    (void)state;
    eb_hw_model m = model_default();
    assert_float_equal(eb_hw_fmax_mhz(&m, 0.8), 1000, 1e-9);
    double f05 = 1000 * (pow(0.15, 1.3) / 0.5) / (pow(0.45, 1.3) / 0.8);
    assert_float_equal(eb_hw_fmax_mhz(&m, 0.5), f05, 1e-9);
    assert_true(fabs(f05 - 383) < 1);
    double v, f;
    /* exactly fmax(0.5): lowest level */
    assert_int_equal(eb_hw_choose_vf(&m, floor(f05), &v, &f), 1);
    assert_float_equal(v, 0.5, 1e-12);
    /* just above fmax(0.5): next 25 mV level */
    assert_int_equal(eb_hw_choose_vf(&m, f05 + 1, &v, &f), 1);
    assert_float_equal(v, 0.525, 1e-12);
    assert_true(eb_hw_fmax_mhz(&m, 0.525) >= f);
    /* every choice is the lowest level reaching f */
    for (double req = 60; req <= 1000; req += 37) {
        assert_int_equal(eb_hw_choose_vf(&m, req, &v, &f), 1);
        assert_true(f >= req && f < req + 1.000001);
        assert_true(eb_hw_fmax_mhz(&m, v) >= f);
        if (v > 0.5 + 1e-9) assert_true(eb_hw_fmax_mhz(&m, v - 0.025) < f);
    }
    /* ADPLL rounding up to 1 MHz, lower bound 50 MHz */
    eb_hw_choose_vf(&m, 400.2, &v, &f);
    assert_float_equal(f, 401, 1e-9);
    eb_hw_choose_vf(&m, 10, &v, &f);
    assert_float_equal(f, 50, 1e-9);
    assert_float_equal(v, 0.5, 1e-12);
    /* the top and beyond */
    assert_int_equal(eb_hw_choose_vf(&m, 1000, &v, &f), 1);
    assert_float_equal(v, 0.8, 1e-12);
    assert_int_equal(eb_hw_choose_vf(&m, 1000.5, &v, &f), 0);
    assert_float_equal(v, 0.8, 1e-12);
    assert_float_equal(f, 1000, 1e-12);
}

static void test_ldo_timing(void **state) {
    (void)state;
    eb_hw_model m = model_default();
    /* full range 0.3 V: 6 x 3.8 ns ramp, settled within 100 ns */
    assert_float_equal(eb_hw_ldo_ns(&m, 0.8, 0.5), 100, 1e-9);
    assert_float_equal(eb_hw_ldo_ns(&m, 0.5, 0.8), 100, 1e-9);
    /* one 25 mV step: 1.9 ns ramp + the same 77.2 ns settling tail */
    assert_float_equal(eb_hw_ldo_ns(&m, 0.8, 0.775), 1.9 + (100 - 22.8), 1e-9);
    assert_float_equal(eb_hw_ldo_ns(&m, 0.6, 0.6), 0, 1e-12);
    /* pure ramp when no settling budget is given */
    eb_hw_params p = m.p;
    p.ldo_settle_ns = 0;
    p.adpll_relock_ns = 0;
    eb_hw_model m2;
    eb_error err;
    assert_int_equal(eb_hw_model_init(&m2, &p, NULL, &err), EB_OK);
    assert_float_equal(eb_hw_ldo_ns(&m2, 0.8, 0.5), 22.8, 1e-9);
    assert_float_equal(eb_hw_ldo_ns(&m2, 0.75, 0.7), 3.8, 1e-9);
    /* a frequency-only change costs the ADPLL relock */
    assert_float_equal(eb_hw_transition_ns(&m, 0.8, 0.8, 1000, 500), 100, 1e-9);
    assert_float_equal(eb_hw_transition_ns(&m, 0.8, 0.8, 500, 500), 0, 1e-12);
}

static void test_poweron_by_hand(void **state) {
    (void)state;
    eb_hw_model m = model_default();
    eb_hw_poweron po;
    eb_hw_poweron_cost(&m, EB_EMB_RERAM_MLC2, &po);
    double elems = 30000.0 * 128;
    double mask_cells = elems, nz_cells = ceil(elems * 0.4 * 8 / 2);
    double t = ceil(mask_cells / 128) * 1.21 + ceil(nz_cells / 128) * 1.54;
    assert_float_equal(po.time_us, t / 1000, 1e-9);
    assert_float_equal(po.energy_uj, (mask_cells * 0.25 + nz_cells * 0.45) * 1e-6, 1e-9);
    eb_hw_poweron d;
    eb_hw_poweron_cost(&m, EB_EMB_DRAM, &d);
    assert_true(d.energy_uj > po.energy_uj && d.time_us > po.time_us);
    /* ReRAM area from Table 2 densities */
    double mb = 1048576.0;
    assert_float_equal(eb_hw_reram_area_mm2(&m, EB_EMB_RERAM_MLC2),
                       elems / 8 / mb * 0.28 + elems * 0.4 / mb * 0.08, 1e-12);
}

static void expect_parse_error(const char *text, const char *needle) {
    eb_hw_params p;
    eb_hw_params_default(&p);
    eb_error err = {0, ""};
    eb_status st = eb_hw_params_parse(&p, text, strlen(text), "acc.params", &err);
    if (st == EB_OK || !strstr(err.msg, needle)) {
        fprintf(stderr, "text: %s\nmessage: %s\nexpected: %s\n", text, err.msg, needle);
        fail();
    }
}

static void test_params_parse_errors(void **state) {
    (void)state;
    expect_parse_error("# c\n\nbogus = 1\n", "acc.params:3: unknown key 'bogus'");
    expect_parse_error("mac_size 16\n", "acc.params:1: expected 'key = value'");
    expect_parse_error("vdd_nom = 0.8V\n", "acc.params:1: 'vdd_nom' is not a number");
    expect_parse_error("mac_size = 128\n", "out of range");
    expect_parse_error("mac_size = 16.5\n", "must be an integer");
    expect_parse_error("vdd_nom =\n", "acc.params:1: missing value");
    expect_parse_error(" = 3\n", "missing key");
    expect_parse_error("emb_storage = flash\n", "must be slc, mlc2, mlc3 or dram");
    expect_parse_error("vf_table = 0.5:300, 0.6\n", "vf_table entry 2");
    expect_parse_error("vf_table = 0.6:300, 0.5:400\n", "must increase");
    expect_parse_error("vf_table = 0.6:300, 0.8:1000\n", "must cover");
    expect_parse_error("share_sfu = 0.5\n", "must be 1");
    expect_parse_error("vdd_min = 0.9\n", "must not exceed vdd_nom");
    expect_parse_error("freq_max_mhz = nan\n", "not a number");
    /* a failed parse leaves the parameters untouched */
    eb_hw_params p, d;
    eb_hw_params_default(&p);
    d = p;
    eb_error err;
    const char *t = "mac_size = 32\nbogus = 2\n";
    assert_int_not_equal(eb_hw_params_parse(&p, t, strlen(t), "x", &err), EB_OK);
    assert_memory_equal(&p, &d, sizeof p);
    assert_int_not_equal(eb_hw_params_load(&p, "/nonexistent/acc.params", &err), EB_OK);
}

static void test_params_parse_ok_and_table(void **state) {
    (void)state;
    eb_hw_params p;
    eb_hw_params_default(&p);
    const char *t = "mac_size = 32   # comment\r\n\tvdd_step=0.05\nemb_storage = dram\n"
                    "vf_table = 0.5:300, 0.6:500 ,0.8:1000\n";
    eb_error err = {0, ""};
    assert_int_equal(eb_hw_params_parse(&p, t, strlen(t), "x", &err), EB_OK);
    assert_int_equal(p.mac_size, 32);
    assert_float_equal(p.vdd_step, 0.05, 1e-12);
    assert_int_equal(p.emb_storage, EB_EMB_DRAM);
    assert_int_equal(p.vf_table_n, 3);
    eb_hw_model m;
    assert_int_equal(eb_hw_model_init(&m, &p, NULL, &err), EB_OK);
    assert_float_equal(eb_hw_fmax_mhz(&m, 0.55), 400, 1e-9);
    assert_float_equal(eb_hw_fmax_mhz(&m, 0.7), 750, 1e-9);
    double v, f;
    eb_hw_choose_vf(&m, 450, &v, &f); /* 0.55 reaches 400 only: next 50 mV level 0.6 */
    assert_float_equal(v, 0.6, 1e-12);
    assert_int_equal(eb_hw_params_set(&p, "vdd_nom", "0.9", &err), EB_OK);
    assert_int_not_equal(eb_hw_params_set(&p, "nope", "1", &err), EB_OK);
}

static void test_shipped_params_are_defaults(void **state) {
    (void)state;
    eb_hw_params d, p;
    eb_hw_params_default(&d);
    eb_hw_params_default(&p);
    eb_error err = {0, ""};
    eb_status st = eb_hw_params_load(&p, "models/accelerator.params", &err);
    if (st) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, EB_OK);
    assert_memory_equal(&p, &d, sizeof p);
}

static void test_config_dimensions(void **state) {
    (void)state;
    eb_hw_params p;
    eb_hw_params_default(&p);
    eb_config c = eb_hw_albert_base_config();
    c.hidden_size = 256;
    c.num_attention_heads = 4;
    c.intermediate_size = 1024;
    eb_hw_model m;
    eb_error err;
    assert_int_equal(eb_hw_model_init(&m, &p, &c, &err), EB_OK);
    eb_layer_work w = eb_layer_work_dense(32);
    eb_hw_cost cost;
    eb_hw_layer_cost(&m, 16, &w, 0, &cost);
    double pu = 4 * eb_hw_matmul_cycles(16, 32, 256, 256) +
                4 * 2 * eb_hw_matmul_cycles(16, 32, 64, 32) +
                2 * eb_hw_matmul_cycles(16, 32, 256, 1024);
    assert_true(cost.pu_cycles == pu);
    c.num_attention_heads = 5; /* 256 not divisible by 5 */
    assert_int_not_equal(eb_hw_model_init(&m, &p, &c, &err), EB_OK);
}

static void test_svg_writer(void **state) {
    (void)state;
    const char *cats[2] = {"a<b", "c"};
    const char *ser[2] = {"s&1", "s2"};
    double vals[4] = {1, 2, 3, NAN};
    eb_svg_panel p = {"T", "y", 2, cats, 2, ser, vals, 0, 0, 0, 0};
    char *s = NULL;
    size_t n = 0;
    eb_error err;
    assert_int_equal(eb_svg_render("title", &p, 1, &s, &n, &err), EB_OK);
    assert_non_null(strstr(s, "<svg"));
    assert_non_null(strstr(s, "</svg>"));
    assert_non_null(strstr(s, "a&lt;b"));
    assert_non_null(strstr(s, "s&amp;1"));
    int bars = 0;
    for (const char *q = s; (q = strstr(q, "<title>")); q++)
        bars++;
    assert_int_equal(bars, 3); /* the NaN is not drawn */
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_cycles_by_hand),
        cmocka_unit_test(test_sfu_cycles_by_hand),
        cmocka_unit_test(test_layer_cycles_albert_base),
        cmocka_unit_test(test_sparsity_saves_energy_not_cycles),
        cmocka_unit_test(test_calibration_86mw),
        cmocka_unit_test(test_vf_law_and_choice),
        cmocka_unit_test(test_ldo_timing),
        cmocka_unit_test(test_poweron_by_hand),
        cmocka_unit_test(test_params_parse_errors),
        cmocka_unit_test(test_params_parse_ok_and_table),
        cmocka_unit_test(test_shipped_params_are_defaults),
        cmocka_unit_test(test_config_dimensions),
        cmocka_unit_test(test_svg_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
