/* test_runtime.c - traces, the exit predictor, the policies (Algorithm 2
 * deadline arithmetic) and the power backends; the SST-2 figures of the
 * paper's Table 3 on the real recorded trace. */
#include "testutil.h"

#include <math.h>
#include <time.h>
#include <unistd.h>

#include "edgebert/runtime.h"

static eb_hw_model model_default(void) {
    eb_hw_params p;
    eb_hw_params_default(&p);
    eb_hw_model m;
    eb_error err;
    assert_int_equal(eb_hw_model_init(&m, &p, NULL, &err), EB_OK);
    return m;
}

/* ---- SST-2 trace: the paper's Table 3 ---------------------------------- */

static void test_sst2_early_exit_means(void **state) {
    (void)state;
    char path[512];
    EB_REQUIRE_DATA(path, "edgebert/sst2_dev_layer_entropies.txt");
    eb_entropy_trace t;
    eb_error err = {0, ""};
    assert_int_equal(eb_entropy_trace_load(path, NULL, &t, &err), EB_OK);
    assert_int_equal(t.rows, 872);
    assert_int_equal(t.layers, 12);
    const double thr[3] = {0.23, 0.28, 0.46}, want[3] = {4.30, 3.94, 2.70};
    for (int i = 0; i < 3; i++) {
        eb_sim_stats s;
        assert_int_equal(eb_trace_replay(&t, thr[i], &s, &err), EB_OK);
        assert_true(fabs(s.mean_exit_layer - want[i]) < 0.005);
        int tot = 0;
        for (int l = 1; l <= 12; l++)
            tot += s.exit_hist[l];
        assert_int_equal(tot, 872);
    }
    eb_entropy_trace_free(&t);
}

static void test_sst2_predicted_layers(void **state) {
    (void)state;
    char path[512], lpath[512];
    EB_REQUIRE_DATA(path, "edgebert/sst2_dev_layer_entropies.txt");
    EB_REQUIRE_DATA(lpath, "edgebert/sst2_exit_lut.csv");
    eb_entropy_trace t;
    eb_exit_lut lut;
    eb_error err = {0, ""};
    assert_int_equal(eb_entropy_trace_load(path, NULL, &t, &err), EB_OK);
    assert_int_equal(eb_exit_lut_load(lpath, 1, NULL, &lut, &err), EB_OK);
    assert_int_equal(lut.rows, 100);
    assert_int_equal(lut.cols, 11);
    eb_hw_model m = model_default();
    /* paper: 4.91 / 3.65 at 0.16 / 0.28; 0.09 gives 7.69 (paper prints 7.78) */
    const double thr[3] = {0.16, 0.28, 0.09}, want[3] = {4.91, 3.65, 7.69};
    for (int i = 0; i < 3; i++) {
        eb_policy_params pp = eb_policy_params_default();
        pp.policy = EB_POLICY_LAI;
        pp.threshold = thr[i];
        pp.lut = &lut;
        pp.latency_target_ms = 100;
        eb_layer_work w = eb_layer_work_dense(128);
        eb_sim_stats s;
        assert_int_equal(eb_trace_simulate(&m, &pp, &t, &w, &s, &err), EB_OK);
        assert_true(fabs(s.mean_predicted_layer - want[i]) < 0.005);
        /* LAI never exits later than its prediction nor later than early exit would */
        assert_true(s.mean_exit_layer <= s.mean_predicted_layer + 1e-12);
    }
    eb_exit_lut_free(&lut);
    eb_entropy_trace_free(&t);
}

static void test_simulation_speed(void **state) {
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    fprintf(stderr, "SKIP: speed is not measured under sanitizers\n");
    skip();
#endif
    char path[512], lpath[512];
    EB_REQUIRE_DATA(path, "edgebert/sst2_dev_layer_entropies.txt");
    EB_REQUIRE_DATA(lpath, "edgebert/sst2_exit_lut.csv");
    eb_entropy_trace t;
    eb_exit_lut lut;
    eb_error err = {0, ""};
    assert_int_equal(eb_entropy_trace_load(path, NULL, &t, &err), EB_OK);
    assert_int_equal(eb_exit_lut_load(lpath, 1, NULL, &lut, &err), EB_OK);
    eb_hw_model m = model_default();
    eb_policy_params pp = eb_policy_params_default();
    pp.policy = EB_POLICY_LAI;
    pp.threshold = 0.16;
    pp.lut = &lut;
    eb_layer_work w = eb_layer_work_dense(128);
    eb_sim_stats s;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rounds = 10;
    for (int i = 0; i < rounds; i++)
        assert_int_equal(eb_trace_simulate(&m, &pp, &t, &w, &s, &err), EB_OK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double sec = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
    double rate = rounds * t.rows / sec;
    fprintf(stderr, "simulated %.0f sentences/s\n", rate);
    assert_true(rate >= 10000);
    eb_exit_lut_free(&lut);
    eb_entropy_trace_free(&t);
}

/* ---- readers ------------------------------------------------------------ */

static void expect_trace_error(const char *text, const char *needle) {
    eb_entropy_trace t;
    eb_error err = {0, ""};
    eb_status st = eb_entropy_trace_parse(text, strlen(text), "tr.txt", NULL, &t, &err);
    if (st == EB_OK || !strstr(err.msg, needle)) {
        fprintf(stderr, "text: %s\nmessage: %s\nexpected: %s\n", text, err.msg, needle);
        fail();
    }
}

static void test_trace_reader(void **state) {
    (void)state;
    eb_entropy_trace t;
    eb_error err = {0, ""};
    const char *ok = "\xEF\xBB\xBF 0.5, 0.25 ,0.125\r\n\n  \n1e-3,2,3\n";
    assert_int_equal(eb_entropy_trace_parse(ok, strlen(ok), "x", NULL, &t, &err), EB_OK);
    assert_int_equal(t.rows, 2);
    assert_int_equal(t.layers, 3);
    assert_float_equal(t.data[1], 0.25f, 0);
    assert_float_equal(t.data[3], 0.001f, 1e-9);
    eb_entropy_trace_free(&t);
    expect_trace_error("0.1,0.2\n0.1,abc\n", "tr.txt:2: field 2 is not a finite number");
    expect_trace_error("0.1,0.2\n0.1,0.2,0.3\n", "tr.txt:2: 3 fields where the first row has 2");
    expect_trace_error("0.1,,0.2\n", "tr.txt:1: empty field 2");
    expect_trace_error("0.1,0.2,\n", "tr.txt:1: empty field 3");
    expect_trace_error("0.1,nan\n", "not a finite number");
    expect_trace_error("0.1,inf\n", "not a finite number");
    expect_trace_error("0.1,0.2\n\n0.1,-0.5\n", "tr.txt:3: field 2: negative entropy");
    expect_trace_error("\n\n", "no data rows");
    expect_trace_error("", "no data rows");
    expect_trace_error("0.1,0.2x\n", "not a finite number");
    char nul[] = "0.1,0.2\n0.3\0,4\n";
    assert_int_not_equal(eb_entropy_trace_parse(nul, sizeof nul - 1, "n", NULL, &t, &err), EB_OK);
    /* more fields than EB_MAX_LAYERS */
    char big[8192];
    size_t n = 0;
    for (int i = 0; i < EB_MAX_LAYERS + 1; i++)
        n += snprintf(big + n, sizeof big - n, "0.1,");
    big[n - 1] = '\n';
    big[n] = 0;
    expect_trace_error(big, "more than");
    assert_int_not_equal(eb_entropy_trace_load("/nonexistent/t.txt", NULL, &t, &err), EB_OK);
}

static void test_lut_reader_and_predict(void **state) {
    (void)state;
    eb_exit_lut l;
    eb_error err = {0, ""};
    /* predictor after layer 3 of a 6-layer model: predictions for layers 4, 5 */
    const char *txt = "0.0, 0.05, 0.01\n0.5, 0.4, 0.2\n1.0, 0.9, 0.8\n";
    assert_int_equal(eb_exit_lut_parse(txt, strlen(txt), "l.csv", 3, NULL, &l, &err), EB_OK);
    assert_int_equal(l.rows, 3);
    assert_int_equal(l.cols, 3);
    assert_int_equal(eb_exit_lut_predict(&l, 0.1, 0.1, 6), 4);   /* row 0: 0.05 < 0.1 */
    assert_int_equal(eb_exit_lut_predict(&l, 0.1, 0.03, 6), 5);  /* row 0: 0.01 < 0.03 */
    assert_int_equal(eb_exit_lut_predict(&l, 0.1, 0.005, 6), 6); /* none below: last layer */
    assert_int_equal(eb_exit_lut_predict(&l, 0.6, 0.3, 6), 5);   /* nearest row 0.5 */
    assert_int_equal(eb_exit_lut_predict(&l, 7.0, 0.85, 6), 5);  /* clamped to the last row */
    assert_int_equal(eb_exit_lut_predict(&l, -1, 0.06, 6), 4);
    /* predictions beyond the model's layers are ignored */
    assert_int_equal(eb_exit_lut_predict(&l, 1.0, 0.85, 4), 4);
    eb_exit_lut_free(&l);
    const char *one = "0.1\n0.2\n";
    assert_int_not_equal(eb_exit_lut_parse(one, strlen(one), "l.csv", 1, NULL, &l, &err), EB_OK);
    assert_non_null(strstr(err.msg, "l.csv"));
    const char *bad = "0.1,0.2\n0.2,x\n";
    assert_int_not_equal(eb_exit_lut_parse(bad, strlen(bad), "l.csv", 1, NULL, &l, &err), EB_OK);
    assert_non_null(strstr(err.msg, "l.csv:2:"));
    assert_int_not_equal(eb_exit_lut_parse(txt, strlen(txt), "l.csv", 0, NULL, &l, &err), EB_OK);
}

/* ---- policies ----------------------------------------------------------- */

typedef struct fake {
    float e[EB_MAX_LAYERS];
    int layers, calls;
    eb_layer_work w;
} fake;

static eb_status fake_run(void *ud, int layer, float *entropy, eb_layer_work *work, eb_error *err) {
    fake *f = ud;
    f->calls++;
    assert_int_equal(layer, f->calls); /* called in order */
    *entropy = f->e[layer - 1];
    *work = f->w;
    return EB_OK;
}

static eb_layer_source fake_source(fake *f, int layers, float e) {
    memset(f, 0, sizeof *f);
    f->layers = layers;
    for (int i = 0; i < layers; i++)
        f->e[i] = e;
    f->w = eb_layer_work_dense(128);
    eb_layer_source s = {layers, 128, f, fake_run};
    return s;
}

/* LUT whose every row predicts exit after layer `pred` for threshold 0.1 */
static void const_lut(eb_exit_lut *l, double *buf, int pred) {
    for (int r = 0; r < 100; r++) {
        buf[r * 12] = r / 100.0;
        for (int j = 1; j < 12; j++)
            buf[r * 12 + j] = (1 + j >= pred) ? 0.0 : 1.0;
    }
    l->rows = 100;
    l->cols = 12;
    l->predict_after = 1;
    l->data = buf;
    l->alloc = NULL;
}

static double layer_cycles(const eb_hw_model *m, int offramp) {
    eb_layer_work w = eb_layer_work_dense(128);
    eb_hw_cost c;
    eb_hw_layer_cost(m, 16, &w, offramp, &c);
    return c.pu_cycles + c.sfu_cycles;
}

static double embed_cycles(const eb_hw_model *m) {
    eb_layer_work w = eb_layer_work_dense(128);
    eb_hw_cost c;
    eb_hw_embed_cost(m, 16, &w, &c);
    return c.pu_cycles + c.sfu_cycles;
}

static void test_lai_deadline_arithmetic(void **state) {
    (void)state;
    eb_hw_model m = model_default();
    double buf[1200];
    eb_exit_lut lut;
    const_lut(&lut, buf, 5);
    assert_int_equal(eb_exit_lut_predict(&lut, 0.5, 0.1, 12), 5);
    fake f;
    eb_layer_source src = fake_source(&f, 12, 0.6f);
    eb_power_sim_state ps;
    eb_power_backend pb = eb_power_sim_make(&ps);
    eb_policy_params pp = eb_policy_params_default();
    pp.policy = EB_POLICY_LAI;
    pp.threshold = 0.1;
    pp.lut = &lut;
    pp.latency_target_ms = 50;
    pp.power = &pb;
    eb_sentence_report r;
    eb_error err = {0, ""};
    assert_int_equal(eb_policy_run(&m, &pp, &src, &r, &err), EB_OK);
    assert_int_equal(r.predicted_layer, 5);
    assert_int_equal(r.exit_layer, 5);
    assert_int_equal(r.layers_run, 5);
    /* independent arithmetic: wake-up ramp 100 ns, embedding + layer 1 at 1 GHz */
    double L = layer_cycles(&m, 1);
    double t_el = 100e-6 + embed_cycles(&m) / 1e6 + L / 1e6 + m.calib_time_ms * 0; /* ms */
    /* the embedding ReRAM reads add their own ns */
    eb_layer_work w = eb_layer_work_dense(128);
    eb_hw_cost ce;
    eb_hw_embed_cost(&m, 16, &w, &ce);
    t_el += ce.emb_ns * 1e-6;
    assert_float_equal(r.t_elapsed_ms, t_el, 1e-9);
    assert_float_equal(r.n_cycles, 4 * L, 1e-6);
    double freq = 4 * L / ((50 - t_el - 100e-6) * 1e3);
    assert_float_equal(r.freq_req_mhz, freq, 1e-6);
    assert_float_equal(r.hw.freq_mhz, ceil(freq), 1e-9);
    /* the lowest 25 mV level whose fmax reaches f */
    assert_true(eb_hw_fmax_mhz(&m, r.hw.vdd) >= r.hw.freq_mhz);
    if (r.hw.vdd > 0.5 + 1e-9) assert_true(eb_hw_fmax_mhz(&m, r.hw.vdd - 0.025) < r.hw.freq_mhz);
    /* total: t_el + switch + 4 layers at f */
    double v_stall = 100e-6; /* 0.8 -> lower: ramp + tail = 100 ns for the full range at most */
    double t_total = t_el + eb_hw_transition_ns(&m, 0.8, r.hw.vdd, 1000, r.hw.freq_mhz) * 1e-6 +
                     4 * L / (r.hw.freq_mhz * 1e3);
    assert_float_equal(r.hw.time_ms, t_total, 1e-9);
    assert_true(r.hw.time_ms <= 50 && r.hw.deadline_met);
    assert_true(50 - r.hw.time_ms < v_stall + 4 * L / (r.hw.freq_mhz * 1e3) * 0.01);
    /* the backend saw the nominal setting then the DVFS decision */
    assert_float_equal(ps.vdd, r.hw.vdd, 1e-12);
    assert_float_equal(ps.freq_mhz, r.hw.freq_mhz, 1e-12);
    assert_int_equal(ps.changes, 2);
    assert_true(r.standby_uj > 0);

    /* early exit inside the window: entropy falls below at layer 3 */
    src = fake_source(&f, 12, 0.6f);
    f.e[2] = 0.05f;
    assert_int_equal(eb_policy_run(&m, &pp, &src, &r, &err), EB_OK);
    assert_int_equal(r.exit_layer, 3);
    assert_int_equal(r.predicted_layer, 5);
    assert_int_equal(f.calls, 3);

    /* exit at layer 1: predicted layer 1, never leaves nominal */
    src = fake_source(&f, 12, 0.6f);
    f.e[0] = 0.01f;
    assert_int_equal(eb_policy_run(&m, &pp, &src, &r, &err), EB_OK);
    assert_int_equal(r.exit_layer, 1);
    assert_int_equal(r.predicted_layer, 1);
    assert_float_equal(r.hw.vdd, 0.8, 1e-12);

    /* a target too tight: top V/F and a missed deadline */
    src = fake_source(&f, 12, 0.6f);
    pp.latency_target_ms = 10;
    assert_int_equal(eb_policy_run(&m, &pp, &src, &r, &err), EB_OK);
    assert_float_equal(r.hw.vdd, 0.8, 1e-12);
    assert_float_equal(r.hw.freq_mhz, 1000, 1e-12);
    assert_false(r.hw.deadline_met);
    assert_float_equal(r.standby_uj, 0, 0);

    /* a loose target bottoms out at vdd_min */
    src = fake_source(&f, 12, 0.6f);
    pp.latency_target_ms = 1000;
    assert_int_equal(eb_policy_run(&m, &pp, &src, &r, &err), EB_OK);
    assert_float_equal(r.hw.vdd, 0.5, 1e-12);
}

static void test_base_and_ee(void **state) {
    (void)state;
    eb_hw_model m = model_default();
    fake f;
    eb_layer_source src = fake_source(&f, 12, 0.01f);
    eb_policy_params pp = eb_policy_params_default();
    pp.policy = EB_POLICY_BASE;
    pp.latency_target_ms = 100;
    pp.count_wakeup = 0;
    eb_sentence_report r;
    eb_error err = {0, ""};
    assert_int_equal(eb_policy_run(&m, &pp, &src, &r, &err), EB_OK);
    assert_int_equal(r.exit_layer, 12);
    assert_int_equal(r.predicted_layer, 0);
    /* base without wake-up is the calibration workload: 86 mW */
    assert_float_equal(r.hw.energy_uj / r.hw.time_ms, 86, 1e-6);
    assert_float_equal(r.hw.time_ms, m.calib_time_ms, 1e-9);
    /* EE: strict comparison */
    src = fake_source(&f, 12, 0.5f);
    f.e[3] = 0.2f;
    pp.policy = EB_POLICY_EE;
    pp.threshold = 0.2;
    assert_int_equal(eb_policy_run(&m, &pp, &src, &r, &err), EB_OK);
    assert_int_equal(r.exit_layer, 12);
    pp.threshold = 0.2001;
    src = fake_source(&f, 12, 0.5f);
    f.e[3] = 0.2f;
    assert_int_equal(eb_policy_run(&m, &pp, &src, &r, &err), EB_OK);
    assert_int_equal(r.exit_layer, 4);
    /* argument errors */
    pp.policy = EB_POLICY_LAI;
    pp.lut = NULL;
    assert_int_equal(eb_policy_run(&m, &pp, &src, &r, &err), EB_ERR_ARG);
    pp.policy = EB_POLICY_EE;
    pp.mac_size = 3;
    assert_int_equal(eb_policy_run(&m, &pp, &src, &r, &err), EB_ERR_ARG);
    pp.mac_size = 16;
    pp.latency_target_ms = 0;
    assert_int_equal(eb_policy_run(&m, &pp, &src, &r, &err), EB_ERR_ARG);
    eb_run_params rp;
    memset(&rp, 0, sizeof rp);
    rp.policy = EB_POLICY_LAI;
    rp.threshold = 0.3f;
    rp.latency_target_ms = 75;
    rp.mac_size = 32;
    eb_policy_params q = eb_policy_params_from_run(&rp, NULL);
    assert_int_equal(q.policy, EB_POLICY_LAI);
    assert_float_equal(q.threshold, 0.3, 1e-6);
    assert_int_equal(q.predict_after, 1); /* 0 keeps the default */
    assert_float_equal(q.latency_target_ms, 75, 0);
    assert_int_equal(q.mac_size, 32);
    assert_int_equal(eb_policy_parse("lai"), EB_POLICY_LAI);
    assert_int_equal(eb_policy_parse("fast"), -1);
}

/* The policy one layer at a time (the batched engine's form): three
 * sentences stepped side by side, each with its own policy, target and
 * entropies, give the reports eb_policy_run gives each alone; limit follows
 * lai's prediction; a step after the stop is refused. */
static void test_policy_steps(void **state) {
    (void)state;
    eb_hw_model m = model_default();
    double buf[1200];
    eb_exit_lut lut;
    const_lut(&lut, buf, 5);
    eb_policy_params pp[3] = {eb_policy_params_default(), eb_policy_params_default(),
                              eb_policy_params_default()};
    pp[0].policy = EB_POLICY_LAI, pp[0].threshold = 0.1, pp[0].lut = &lut;
    pp[0].latency_target_ms = 30;
    pp[1].policy = EB_POLICY_EE, pp[1].threshold = 0.3;
    pp[2].policy = EB_POLICY_BASE, pp[2].latency_target_ms = 2;
    const float e[3][12] = {{0.6f, 0.6f, 0.6f, 0.6f, 0.6f, 0.6f, 0.6f, 0.6f, 0.6f, 0.6f, 0.6f, 0.6f},
                            {0.9f, 0.8f, 0.7f, 0.5f, 0.25f, 0.2f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f},
                            {0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f}};
    const int lens[3] = {128, 40, 7};
    eb_error err = {0, ""};
    eb_policy_state st[3];
    eb_sentence_report rep[3];
    for (int s = 0; s < 3; s++)
        assert_int_equal(eb_policy_begin(&m, &pp[s], 12, lens[s], &st[s], &rep[s], &err), EB_OK);
    for (int l = 1; l <= 12; l++)
        for (int s = 0; s < 3; s++) {
            if (st[s].done) continue;
            eb_layer_work w = eb_layer_work_dense(lens[s]);
            w.act_density = 0.5 + 0.03 * l; /* work that changes from layer to layer */
            assert_int_equal(eb_policy_step(&m, &pp[s], &st[s], e[s][l - 1], &w, &rep[s], &err),
                             EB_OK);
            if (s == 0 && l == 1) assert_int_equal(st[0].limit, 5); /* lai: the prediction */
        }
    for (int s = 0; s < 3; s++) {
        assert_true(st[s].done);
        fake f;
        eb_layer_source src = fake_source(&f, 12, 0);
        src.seq_len = lens[s];
        for (int l = 0; l < 12; l++)
            f.e[l] = e[s][l];
        f.w = eb_layer_work_dense(lens[s]);
        eb_sentence_report r;
        /* the same work per layer through a source */
        eb_sentence_report alone;
        memset(&alone, 0, sizeof alone);
        {
            eb_policy_state one;
            assert_int_equal(eb_policy_begin(&m, &pp[s], 12, lens[s], &one, &alone, &err), EB_OK);
            for (int l = 1; !one.done; l++) {
                eb_layer_work w = eb_layer_work_dense(lens[s]);
                w.act_density = 0.5 + 0.03 * l;
                assert_int_equal(
                    eb_policy_step(&m, &pp[s], &one, e[s][l - 1], &w, &alone, &err), EB_OK);
            }
        }
        assert_memory_equal(&alone, &rep[s], sizeof alone);
        /* and with constant work, eb_policy_run equals the steps */
        assert_int_equal(eb_policy_run(&m, &pp[s], &src, &r, &err), EB_OK);
        eb_policy_state one;
        eb_sentence_report stepped;
        assert_int_equal(eb_policy_begin(&m, &pp[s], 12, lens[s], &one, &stepped, &err), EB_OK);
        for (int l = 1; !one.done; l++)
            assert_int_equal(eb_policy_step(&m, &pp[s], &one, e[s][l - 1], &f.w, &stepped, &err),
                             EB_OK);
        assert_memory_equal(&r, &stepped, sizeof r);
    }
    assert_int_equal(rep[0].exit_layer, 5);
    assert_int_equal(rep[0].predicted_layer, 5);
    assert_true(rep[0].hw.vdd < 0.8); /* the loose target let lai lower the voltage */
    assert_int_equal(rep[1].exit_layer, 5);
    assert_int_equal(rep[2].exit_layer, 12);
    assert_false(rep[2].hw.deadline_met);
    /* no step after the stop, nor a non-finite entropy */
    eb_layer_work w = eb_layer_work_dense(7);
    assert_int_equal(eb_policy_step(&m, &pp[2], &st[2], 0.1f, &w, &rep[2], &err), EB_ERR_ARG);
    assert_int_equal(eb_policy_begin(&m, &pp[1], 12, 40, &st[1], &rep[1], &err), EB_OK);
    assert_int_equal(eb_policy_step(&m, &pp[1], &st[1], NAN, &w, &rep[1], &err), EB_ERR_NUMERIC);
    pp[1].mac_size = 65;
    assert_int_equal(eb_policy_begin(&m, &pp[1], 12, 40, &st[1], &rep[1], &err), EB_ERR_ARG);
}

/* ---- cpufreq against a fake sysfs tree ---------------------------------- */

static void put(const char *dir, const char *name, const char *text) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void get(const char *dir, const char *name, char *buf, size_t cap) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
}

static void test_cpufreq_fake_sysfs(void **state) {
    (void)state;
    char root[] = "/tmp/eb_sysfs_XXXXXX";
    assert_non_null(mkdtemp(root));
    char dir[512], cmd[700];
    snprintf(dir, sizeof dir, "%s/devices/system/cpu/cpu1/cpufreq", root);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    assert_int_equal(system(cmd), 0);
    put(dir, "scaling_governor", "performance\n");
    put(dir, "scaling_min_freq", "400000\n");
    put(dir, "scaling_max_freq", "1200000\n");
    put(dir, "scaling_available_frequencies", "400000 800000 1200000 1600000 \n");
    put(dir, "scaling_setspeed", "<unsupported>\n");
    eb_power_backend b;
    eb_error err = {0, ""};
    /* cpu0 does not exist in the fake tree */
    assert_int_not_equal(eb_power_cpufreq_open(root, 0, NULL, &b, &err), EB_OK);
    assert_non_null(strstr(err.msg, "cpu0"));
    assert_int_equal(eb_power_cpufreq_open(root, 1, NULL, &b, &err), EB_OK);
    char buf[64];
    get(dir, "scaling_governor", buf, sizeof buf);
    assert_string_equal(buf, "userspace\n");
    assert_int_equal(b.set(b.ud, 0.6, 500, &err), EB_OK);
    get(dir, "scaling_setspeed", buf, sizeof buf);
    assert_string_equal(buf, "800000\n"); /* lowest available >= 500 MHz */
    assert_int_equal(b.set(b.ud, 0.8, 2000, &err), EB_OK);
    get(dir, "scaling_setspeed", buf, sizeof buf);
    assert_string_equal(buf, "1200000\n"); /* clamped to scaling_max_freq */
    assert_int_equal(b.set(b.ud, 0.5, 100, &err), EB_OK);
    get(dir, "scaling_setspeed", buf, sizeof buf);
    assert_string_equal(buf, "400000\n");
    assert_int_equal(b.set(b.ud, 0.5, 800, &err), EB_OK);
    get(dir, "scaling_setspeed", buf, sizeof buf);
    assert_string_equal(buf, "800000\n");
    b.close(b.ud);
    /* hostile content */
    put(dir, "scaling_max_freq", "lots\n");
    put(dir, "cpuinfo_max_freq", "-5\n");
    assert_int_not_equal(eb_power_cpufreq_open(root, 1, NULL, &b, &err), EB_OK);
    assert_non_null(strstr(err.msg, "cpuinfo_max_freq"));
    put(dir, "scaling_max_freq", "1200000\n");
    put(dir, "scaling_available_frequencies", "400000 fast\n");
    assert_int_not_equal(eb_power_cpufreq_open(root, 1, NULL, &b, &err), EB_OK);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sst2_early_exit_means),
        cmocka_unit_test(test_sst2_predicted_layers),
        cmocka_unit_test(test_simulation_speed),
        cmocka_unit_test(test_trace_reader),
        cmocka_unit_test(test_lut_reader_and_predict),
        cmocka_unit_test(test_lai_deadline_arithmetic),
        cmocka_unit_test(test_base_and_ee),
        cmocka_unit_test(test_policy_steps),
        cmocka_unit_test(test_cpufreq_fake_sysfs),
    };
    /* EB_TEST_SKIP=PATTERN leaves cases out (tools/cross-test.sh: the speed check under qemu) */
    const char *skip_pat = getenv("EB_TEST_SKIP");
    if (skip_pat && *skip_pat) cmocka_set_skip_filter(skip_pat);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
