/* test_model.c - loading checkpoints and bundles, bad input of every kind,
 * policies on the real engine, and threads sharing one model. */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "edgebert.h"
#include "edgebert/quant.h"
#include "model/bundle.h"
#include "model/config.h"
#include "model/model_internal.h"
#include "model/safetensors.h"
#include "tinymodel.h"

/* ---- a tiny random checkpoint written by the test ------------------- */

enum { V = 30000, E = 8, H = 16, NH = 2, I = 24, L = 3, P = 32, C = 2 };

typedef struct fixture {
    char dir[64]; /* tiny_make's size */
    int has_spm;
} fixture;

/* Write config.json + model.safetensors (+ spiece.model copy when the shared
 * one exists) into a fresh temp dir.  ramps: add off-ramps. */
static void make_model_emb(fixture *fx, int ramps, uint64_t seed, uint64_t emb_seed) {
    static const char *const label_names[C] = {"negative", "positive"};
    tiny_spec s = tiny_default();
    s.vocab = V, s.E = E, s.H = H, s.heads = NH, s.I = I, s.layers = L, s.P = P, s.labels = C;
    s.seed = seed, s.emb_seed = emb_seed, s.ramps = ramps;
    s.label_names = label_names;
    /* the real ALBERT tokenizer when the shared data is there */
    char spm[400];
    fx->has_spm = eb_test_data_path(spm, sizeof spm, "albert/spiece.model");
    s.spiece = fx->has_spm ? spm : NULL;
    tiny_make(fx->dir, &s);
}

static void make_model(fixture *fx, int ramps, uint64_t seed) {
    make_model_emb(fx, ramps, seed, seed);
}

static void write_text(const char *dir, const char *file, const void *data, size_t n) {
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static char *read_all(const char *dir, const char *file, size_t *n) {
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *d;
    assert_int_equal(eb_read_file(path, NULL, 0, &d, n, NULL), EB_OK);
    return d;
}

static void drop_model(fixture *fx) {
    tiny_remove(fx->dir);
}

static eb_status try_load(const char *path, eb_error *err) {
    eb_model *m = NULL;
    eb_status s = eb_model_load(path, NULL, &m, err);
    eb_model_free(m);
    return s;
}

static const int32_t ids_a[] = {2, 17, 45, 99, 3};

/* ---- tests ------------------------------------------------------------ */

static void test_load_and_exit(void **state) {
    (void)state;
    fixture fx;
    make_model(&fx, 1, 11);
    eb_model *m;
    eb_error err = {0};
    assert_int_equal(eb_model_load(fx.dir, NULL, &m, &err), EB_OK);
    assert_int_equal(eb_model_num_offramps(m), L);
    eb_context *ctx;
    assert_int_equal(eb_context_new(m, &ctx, &err), EB_OK);
    eb_run_params p = eb_run_params_default();
    p.policy = EB_POLICY_BASE;
    eb_result base;
    assert_int_equal(eb_classify_ids(ctx, ids_a, NULL, 5, &p, &base, &err), EB_OK);
    assert_int_equal(base.exit_layer, L);
    double s = 0;
    for (int i = 0; i < C; i++)
        s += base.probs[i];
    assert_float_equal(s, 1.0, 1e-5);
    /* last_ramp_only: the same answer without the earlier off-ramps (fewer
     * FLOPs, no per-layer entropies before the last) */
    p.last_ramp_only = 1;
    eb_result plain;
    assert_int_equal(eb_classify_ids(ctx, ids_a, NULL, 5, &p, &plain, &err), EB_OK);
    p.last_ramp_only = 0;
    assert_int_equal(plain.exit_layer, L);
    for (int i = 0; i < C; i++)
        assert_true(plain.logits[i] == base.logits[i]);
    assert_true(plain.flops < base.flops);
    assert_true(plain.entropies[0] == 0 && base.entropies[0] > 0);
    assert_float_equal(plain.entropies[L - 1], base.entropies[L - 1], 1e-6);
    /* early exit: a threshold just above layer 1's entropy stops at layer 1,
     * one just below it goes further (strict comparison) */
    p.policy = EB_POLICY_EE;
    p.threshold = base.entropies[0] + 1e-4f;
    eb_result r;
    assert_int_equal(eb_classify_ids(ctx, ids_a, NULL, 5, &p, &r, &err), EB_OK);
    assert_int_equal(r.exit_layer, 1);
    p.threshold = base.entropies[0];
    assert_int_equal(eb_classify_ids(ctx, ids_a, NULL, 5, &p, &r, &err), EB_OK);
    assert_true(r.exit_layer > 1 || base.entropies[0] == 0);
    /* the energy of an early exit is below the full run's */
    p.threshold = 10;
    assert_int_equal(eb_classify_ids(ctx, ids_a, NULL, 5, &p, &r, &err), EB_OK);
    assert_int_equal(r.exit_layer, 1);
    assert_true(r.hw.energy_uj > 0 && r.hw.energy_uj < base.hw.energy_uj);
    /* bad ids */
    int32_t bad[] = {2, V, 3};
    assert_int_equal(eb_classify_ids(ctx, bad, NULL, 3, &p, &r, &err), EB_ERR_INPUT);
    assert_non_null(strstr(err.msg, "vocabulary"));
    assert_int_equal(eb_classify_ids(ctx, bad, NULL, 0, &p, &r, &err), EB_ERR_INPUT);
    int32_t longer[P + 1];
    for (int i = 0; i < P + 1; i++)
        longer[i] = 5;
    assert_int_equal(eb_classify_ids(ctx, longer, NULL, P + 1, &p, &r, &err), EB_ERR_INPUT);
    /* unknown task, LAI without a table */
    p.task = "nosuch";
    assert_int_equal(eb_classify_ids(ctx, ids_a, NULL, 5, &p, &r, &err), EB_ERR_ARG);
    assert_non_null(strstr(err.msg, "nosuch"));
    p.task = NULL;
    p.policy = EB_POLICY_LAI;
    assert_int_equal(eb_classify_ids(ctx, ids_a, NULL, 5, &p, &r, &err), EB_ERR_ARG);
    assert_non_null(strstr(err.msg, "predictor"));
    eb_context_free(ctx);
    eb_model_free(m);
    drop_model(&fx);
}

static void test_no_offramps_runs_all_layers(void **state) {
    (void)state;
    fixture fx;
    make_model(&fx, 0, 12);
    eb_model *m;
    eb_error err = {0};
    assert_int_equal(eb_model_load(fx.dir, NULL, &m, &err), EB_OK);
    assert_int_equal(eb_model_num_offramps(m), 0);
    eb_context *ctx;
    assert_int_equal(eb_context_new(m, &ctx, &err), EB_OK);
    eb_run_params p = eb_run_params_default();
    p.threshold = 5; /* no off-ramps: no early exit whatever the threshold */
    eb_result r;
    assert_int_equal(eb_classify_ids(ctx, ids_a, NULL, 5, &p, &r, &err), EB_OK);
    assert_int_equal(r.exit_layer, L);
    eb_context_free(ctx);
    eb_model_free(m);
    drop_model(&fx);
}

/* Every way config.json can be wrong gives a clear error naming the file. */
static void test_bad_config(void **state) {
    (void)state;
    fixture fx;
    make_model(&fx, 0, 13);
    size_t n;
    char *good = read_all(fx.dir, "config.json", &n);
    struct {
        const char *text;
        eb_status want;
        const char *needle;
    } cases[] = {
        {"", EB_ERR_FORMAT, "JSON"},
        {"{\"hidden_size\": ", EB_ERR_FORMAT, "JSON"},
        {"[1,2]", EB_ERR_FORMAT, "JSON"},
        {"{\"hidden_size\": -5}", EB_ERR_FORMAT, "hidden_size"},
        {"{\"hidden_size\": 16.5}", EB_ERR_FORMAT, "hidden_size"},
        {"{\"hidden_size\": \"big\"}", EB_ERR_FORMAT, "hidden_size"},
        {"{\"num_hidden_layers\": 1000}", EB_ERR_FORMAT, "num_hidden_layers"},
        {"{\"hidden_size\": 17, \"num_attention_heads\": 2}", EB_ERR_FORMAT, "multiple"},
        {"{\"hidden_act\": \"swish\"}", EB_ERR_UNSUPPORTED, "swish"},
        {"{\"layer_norm_eps\": 0}", EB_ERR_FORMAT, "layer_norm_eps"},
        {"{\"initializer_range\": -0.02}", EB_ERR_FORMAT, "initializer_range"},
        {"{\"initializer_range\": \"wide\"}", EB_ERR_FORMAT, "initializer_range"},
        {"{\"num_labels\": 99}", EB_ERR_FORMAT, "num_labels"},
        {"{\"id2label\": {\"x\": \"a\"}}", EB_ERR_FORMAT, "id2label"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(fx.dir, "config.json", cases[i].text, strlen(cases[i].text));
        eb_error err = {0};
        eb_status s = try_load(fx.dir, &err);
        if (s != cases[i].want || !strstr(err.msg, "config.json") ||
            !strstr(err.msg, cases[i].needle))
            fail_msg("case %zu (%s): status %d, message '%s'", i, cases[i].text, s, err.msg);
    }
    /* a config that disagrees with the tensors: shape errors name the tensor */
    const char *wrong =
        "{\"vocab_size\": 120, \"embedding_size\": 8, \"hidden_size\": 32, \"num_hidden_layers\": "
        "3,"
        " \"num_attention_heads\": 2, \"intermediate_size\": 24, \"max_position_embeddings\": 32}";
    write_text(fx.dir, "config.json", wrong, strlen(wrong));
    eb_error err = {0};
    assert_int_equal(try_load(fx.dir, &err), EB_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "shape"));
    write_text(fx.dir, "config.json", good, n);
    assert_int_equal(try_load(fx.dir, &err), EB_OK);
    free(good);
    drop_model(&fx);
}

static void put_u64(char *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (char)(v >> (8 * i));
}

/* Hostile safetensors files: truncation, bad header, offsets, overlap, dtype. */
static void test_bad_safetensors(void **state) {
    (void)state;
    fixture fx;
    make_model(&fx, 0, 14);
    size_t n;
    char *good = read_all(fx.dir, "model.safetensors", &n);
    eb_error err = {0};
    /* truncated at many lengths: never a crash, always an error naming the file */
    size_t cuts[] = {0, 4, 7, 8, 20, 100, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_text(fx.dir, "model.safetensors", good, cuts[i]);
        eb_status s = try_load(fx.dir, &err);
        if (s == EB_OK || !strstr(err.msg, "model.safetensors"))
            fail_msg("cut at %zu: %d %s", cuts[i], s, err.msg);
    }
    /* hand-made headers */
    const char *hdrs[] = {
        "not json at all",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 800]}}",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}",
        "{\"a\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [0, 8]}}",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
        " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1], \"data_offsets\": [0, 4]}}",
        "{\"a\": {\"dtype\": \"F32\"}}",
    };
    const char *want[] = {"JSON",  "out of range", "bytes",      "dtype",       "overlap",
                          "shape", "out of range", "dimensions", "dtype, shape"};
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
        char buf[1024];
        size_t hl = strlen(hdrs[i]);
        put_u64(buf, hl);
        memcpy(buf + 8, hdrs[i], hl);
        memset(buf + 8 + hl, 0, 16);
        write_text(fx.dir, "model.safetensors", buf, 8 + hl + 16);
        eb_status s = try_load(fx.dir, &err);
        if (s == EB_OK || !strstr(err.msg, want[i])) fail_msg("header %zu: %d '%s'", i, s, err.msg);
    }
    /* a header length beyond the file */
    char big[16];
    put_u64(big, 1u << 30);
    memcpy(big + 8, "{}{}{}{}", 8);
    write_text(fx.dir, "model.safetensors", big, 16);
    assert_int_equal(try_load(fx.dir, &err), EB_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "header length"));
    /* random bit flips in the header never crash */
    uint64_t rng = 99;
    for (int t = 0; t < 200; t++) {
        char *copy = malloc(n);
        memcpy(copy, good, n);
        size_t hl = 0;
        for (int i = 7; i >= 0; i--)
            hl = (hl << 8) | (unsigned char)good[i];
        for (int k = 0; k < 3; k++)
            copy[8 + eb_test_rng(&rng) % hl] ^= (char)(1 << (eb_test_rng(&rng) % 8));
        write_text(fx.dir, "model.safetensors", copy, n);
        eb_model *m = NULL;
        eb_error e2 = {0};
        if (eb_model_load(fx.dir, NULL, &m, &e2) == EB_OK) eb_model_free(m);
        free(copy);
    }
    /* a missing file */
    char path[400];
    snprintf(path, sizeof path, "%s/model.safetensors", fx.dir);
    remove(path);
    assert_int_equal(try_load(fx.dir, &err), EB_ERR_IO);
    assert_non_null(strstr(err.msg, "model.safetensors"));
    assert_int_equal(try_load("/nonexistent/model", &err), EB_ERR_IO);
    free(good);
    drop_model(&fx);
}

/* F16 and BF16 checkpoints load and agree with F32 within their precision. */
static void test_half_dtypes(void **state) {
    (void)state;
    fixture fx;
    make_model(&fx, 1, 15);
    eb_error err = {0};
    eb_model *m32, *mh;
    assert_int_equal(eb_model_load(fx.dir, NULL, &m32, &err), EB_OK);
    eb_safetensors st;
    char path[400];
    snprintf(path, sizeof path, "%s/model.safetensors", fx.dir);
    assert_int_equal(eb_st_open(path, NULL, 0, &st, &err), EB_OK);
    eb_st_entry e[128];
    float *copies[128];
    for (int i = 0; i < st.n; i++) {
        copies[i] = malloc(st.tensors[i].numel * sizeof(float));
        eb_st_to_f32(&st.tensors[i], copies[i]);
        e[i].name = st.tensors[i].name;
        e[i].data = copies[i];
        e[i].ndim = st.tensors[i].ndim;
        memcpy(e[i].shape, st.tensors[i].shape, sizeof e[i].shape);
    }
    eb_dtype dts[2] = {EB_DTYPE_F16, EB_DTYPE_BF16};
    double tol[2] = {0.02, 0.15};
    for (int d = 0; d < 2; d++) {
        char dir2[300];
        snprintf(dir2, sizeof dir2, "%s/half%d", fx.dir, d);
        mkdir(dir2, 0700);
        snprintf(path, sizeof path, "%s/model.safetensors", dir2);
        assert_int_equal(eb_st_write(path, e, st.n, dts[d], "{\"format\": \"pt\"}", &err), EB_OK);
        size_t n;
        char *cfg = read_all(fx.dir, "config.json", &n);
        write_text(dir2, "config.json", cfg, n);
        free(cfg);
        assert_int_equal(eb_model_load(dir2, NULL, &mh, &err), EB_OK);
        eb_context *c1, *c2;
        eb_context_new(m32, &c1, &err);
        eb_context_new(mh, &c2, &err);
        eb_run_params p = eb_run_params_default();
        p.policy = EB_POLICY_BASE;
        eb_result r1, r2;
        assert_int_equal(eb_classify_ids(c1, ids_a, NULL, 5, &p, &r1, &err), EB_OK);
        assert_int_equal(eb_classify_ids(c2, ids_a, NULL, 5, &p, &r2, &err), EB_OK);
        for (int k = 0; k < C; k++)
            assert_float_equal(r1.logits[k], r2.logits[k], tol[d]);
        /* not bit-identical: the half weights really were used */
        assert_true(r1.logits[0] != r2.logits[0] || r1.logits[1] != r2.logits[1]);
        eb_context_free(c1);
        eb_context_free(c2);
        eb_model_free(mh);
    }
    for (int i = 0; i < st.n; i++)
        free(copies[i]);
    eb_st_close(&st);
    eb_model_free(m32);
    drop_model(&fx);
}

static void classify_all(const char *path, const char *task, eb_result *out, int policy) {
    eb_model *m;
    eb_error err = {0};
    if (eb_model_load(path, NULL, &m, &err) != EB_OK) fail_msg("%s", err.msg);
    eb_context *ctx;
    assert_int_equal(eb_context_new(m, &ctx, &err), EB_OK);
    eb_run_params p = eb_run_params_default();
    p.policy = policy;
    p.threshold = 0.3f;
    p.task = task;
    assert_int_equal(eb_classify_ids(ctx, ids_a, NULL, 5, &p, &out[0], &err), EB_OK);
    assert_int_equal(
        eb_classify(ctx, "A gorgeous, witty, seductive movie.", NULL, &p, &out[1], &err), EB_OK);
    assert_int_equal(eb_classify(ctx, "Is it?", "It is not.", &p, &out[2], &err), EB_OK);
    eb_context_free(ctx);
    eb_model_free(m);
}

/* fp32 bundles reproduce the checkpoint bit for bit, AF8 ones closely;
 * several tasks share one copy of the embeddings. */
static void test_bundle_roundtrip(void **state) {
    (void)state;
    fixture a, b, c;
    make_model_emb(&a, 1, 21, 7);
    if (!a.has_spm) {
        drop_model(&a);
        fprintf(stderr, "SKIP: shared albert/spiece.model missing: bundles need a tokenizer\n");
        skip();
    }
    make_model_emb(&b, 1, 22, 7); /* same embeddings, other encoder */
    make_model_emb(&c, 1, 23, 8); /* other embeddings */
    char out32[400], out8[400], bad[400];
    snprintf(out32, sizeof out32, "%s/b32.ebb", a.dir);
    snprintf(out8, sizeof out8, "%s/b8.ebb", a.dir);
    snprintf(bad, sizeof bad, "%s/bad.ebb", a.dir);
    eb_error err = {0};
    eb_pack_task tasks[2] = {{"sst2", a.dir}, {"cola", b.dir}};
    eb_pack_params pp = eb_pack_params_default();
    pp.weights = EB_WEIGHTS_F32;
    assert_int_equal(eb_bundle_pack(out32, tasks, 2, &pp, &err), EB_OK);
    pp.weights = EB_WEIGHTS_AF8;
    assert_int_equal(eb_bundle_pack(out8, tasks, 2, &pp, &err), EB_OK);
    eb_pack_task wrong[2] = {{"sst2", a.dir}, {"rte", c.dir}};
    assert_int_equal(eb_bundle_pack(bad, wrong, 2, &pp, &err), EB_ERR_ARG);
    assert_non_null(strstr(err.msg, "share"));
    eb_pack_task twice[2] = {{"sst2", a.dir}, {"sst2", b.dir}};
    assert_int_equal(eb_bundle_pack(bad, twice, 2, &pp, &err), EB_ERR_ARG);
    for (int pol = 0; pol < 2; pol++) {
        eb_result ra[3], rb[3], r32a[3], r32b[3], r8a[3];
        classify_all(a.dir, NULL, ra, pol);
        classify_all(b.dir, NULL, rb, pol);
        classify_all(out32, "sst2", r32a, pol);
        classify_all(out32, "cola", r32b, pol);
        classify_all(out8, "sst2", r8a, pol);
        for (int i = 0; i < 3; i++) {
            assert_memory_equal(ra[i].logits, r32a[i].logits, sizeof(float) * C);
            assert_memory_equal(rb[i].logits, r32b[i].logits, sizeof(float) * C);
            assert_int_equal(ra[i].exit_layer, r32a[i].exit_layer);
            for (int k = 0; k < C; k++)
                assert_float_equal(ra[i].logits[k], r8a[i].logits[k], 0.25);
        }
    }
    /* the AF8 bundle is smaller, the two tasks differ */
    struct stat s32, s8;
    stat(out32, &s32);
    stat(out8, &s8);
    assert_true(s32.st_size - s8.st_size > (off_t)V * E * 2);
    eb_model *m;
    assert_int_equal(eb_model_load(out8, NULL, &m, &err), EB_OK);
    assert_int_equal(eb_model_num_tasks(m), 2);
    assert_string_equal(eb_model_task_name(m, 1), "cola");
    /* the shared embeddings are one copy */
    assert_ptr_equal(m->tasks[0].w.word_emb, m->tasks[1].w.word_emb);
    assert_ptr_not_equal(m->tasks[0].w.layers[0].q.w, m->tasks[1].w.layers[0].q.w);
    eb_model_free(m);
    drop_model(&a);
    drop_model(&b);
    drop_model(&c);
}

static void write_bytes(const char *path, const char *d, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(d, 1, n, f), n);
    fclose(f);
}

/* Corrupt a copy (xor one byte, cut it to new_len), optionally reseal it
 * (fresh checksums, so the damage reaches the decoders), load it: the error
 * must name `needle` and the file. */
static void corrupt_and_check(const char *path, const char *src, size_t n, size_t at,
                              uint8_t xor_val, size_t new_len, int reseal, const char *needle) {
    char *copy = malloc(n);
    memcpy(copy, src, n);
    if (at < n) copy[at] ^= (char)xor_val;
    if (reseal) {
        uint8_t *img;
        size_t img_n;
        eb_error e = {0};
        if (eb_bundle_reseal(path, (const uint8_t *)copy, new_len, &img, &img_n, &e) != EB_OK)
            fail_msg("reseal after corrupting %zu: %s", at, e.msg);
        write_bytes(path, (const char *)img, img_n);
        free(img);
    } else {
        write_bytes(path, copy, new_len);
    }
    free(copy);
    eb_error err = {0};
    eb_status s = try_load(path, &err);
    if (s == EB_OK || !strstr(err.msg, needle) || !strstr(err.msg, path))
        fail_msg("corruption at %zu (len %zu): status %d, '%s' (wanted '%s')", at, new_len, s,
                 err.msg, needle);
}

/* Corrupted bundles: truncated, bad magic or version, offsets out of range,
 * bitmask counts that disagree with the non-zeros (resealed: the checksums
 * catch any change first, tests/test_bundle.c checks that). */
static void test_bundle_corrupt(void **state) {
    (void)state;
    fixture a;
    make_model(&a, 1, 31);
    if (!a.has_spm) {
        drop_model(&a);
        fprintf(stderr, "SKIP: shared albert/spiece.model missing: bundles need a tokenizer\n");
        skip();
    }
    char out[400], bad[400];
    snprintf(out, sizeof out, "%s/b.ebb", a.dir);
    snprintf(bad, sizeof bad, "%s/bad.ebb", a.dir);
    eb_error err = {0};
    eb_pack_task t = {"sst2", a.dir};
    eb_pack_params pp = eb_pack_params_default();
    pp.emb_keep = 0.4; /* sparse embeddings: stored with a bitmask */
    assert_int_equal(eb_bundle_pack(out, &t, 1, &pp, &err), EB_OK);
    size_t n;
    char *d;
    assert_int_equal(eb_read_file(out, NULL, 0, &d, &n, NULL), EB_OK);
    corrupt_and_check(bad, d, n, 0, 0x01, n, 0, "magic");
    corrupt_and_check(bad, d, n, 8, 0x01, n, 0, "version");
    corrupt_and_check(bad, d, n, n, 0, n - 1, 0, "truncated");
    corrupt_and_check(bad, d, n, n, 0, 20, 0, "magic");
    corrupt_and_check(bad, d, n, 17, 0x40, n, 0, "fixed header");
    /* find the word embeddings' entry in the JSON header */
    uint64_t h = 0, p = 0;
    for (int i = 7; i >= 0; i--)
        h = (h << 8) | (uint8_t)d[16 + i], p = (p << 8) | (uint8_t)d[24 + i];
    char *hdr = strndup(d + 64, h);
    char *we = strstr(hdr, "word_embeddings");
    assert_non_null(we);
    assert_non_null(strstr(we, "af8_bm"));
    char *offp = strstr(we, "\"off\":");
    assert_non_null(offp);
    size_t off = strtoull(offp + 6, NULL, 10);
    /* a mask bit flipped: the checksum names the tensor; resealed, the
     * popcounts no longer match nnz */
    corrupt_and_check(bad, d, n, p + off + 1, 0x10, n, 0, "word_embeddings");
    corrupt_and_check(bad, d, n, p + off + 1, 0x10, n, 1, "word_embeddings");
    /* an offset pointing past the payload */
    size_t digit = (size_t)(offp + 6 - hdr) + 64;
    char *copy = malloc(n);
    memcpy(copy, d, n);
    copy[digit] = '9';
    copy[digit + 1] = copy[digit + 1] >= '0' && copy[digit + 1] <= '9' ? '9' : copy[digit + 1];
    write_bytes(bad, copy, n);
    eb_status s = try_load(bad, &err);
    assert_int_not_equal(s, EB_OK);
    free(copy);
    /* random bit flips anywhere never crash, as they are and resealed */
    uint64_t rng = 5;
    for (int k = 0; k < 150; k++) {
        size_t at = eb_test_rng(&rng) % (p + 64 < n ? p + 64 : n);
        copy = malloc(n);
        memcpy(copy, d, n);
        copy[at] ^= (char)(1u << (eb_test_rng(&rng) % 8));
        uint8_t *img = NULL;
        size_t img_n = 0;
        for (int r = 0; r < 2; r++) {
            if (r == 1 && eb_bundle_reseal(bad, (const uint8_t *)copy, n, &img, &img_n, &err) != EB_OK) break;
            write_bytes(bad, r ? (const char *)img : copy, r ? img_n : n);
            eb_model *m = NULL;
            eb_status ls = eb_model_load(bad, NULL, &m, &err);
            if (r == 0) assert_int_not_equal(ls, EB_OK); /* every flip is caught */
            if (ls == EB_OK) eb_model_free(m);
        }
        free(img);
        free(copy);
    }
    free(hdr);
    free(d);
    drop_model(&a);
}

/* Text input errors through eb_classify. */
static void test_text_errors(void **state) {
    (void)state;
    fixture a;
    make_model(&a, 1, 41);
    if (!a.has_spm) {
        drop_model(&a);
        fprintf(stderr, "SKIP: shared albert/spiece.model missing\n");
        skip();
    }
    eb_model *m;
    eb_error err = {0};
    assert_int_equal(eb_model_load(a.dir, NULL, &m, &err), EB_OK);
    eb_context *ctx;
    assert_int_equal(eb_context_new(m, &ctx, &err), EB_OK);
    eb_result r;
    assert_int_equal(eb_classify(ctx, "", NULL, NULL, &r, &err), EB_ERR_INPUT);
    assert_int_equal(eb_classify(ctx, "   ", NULL, NULL, &r, &err), EB_ERR_INPUT);
    assert_int_equal(eb_classify(ctx, "bad \xff utf8", NULL, NULL, &r, &err), EB_ERR_INPUT);
    assert_non_null(strstr(err.msg, "UTF-8"));
    /* longer than the model's 32 positions: truncated, flagged */
    char longtext[2000] = "";
    for (int i = 0; i < 100; i++)
        strcat(longtext, "word ");
    assert_int_equal(eb_classify(ctx, longtext, NULL, NULL, &r, &err), EB_OK);
    assert_true(r.truncated);
    assert_int_equal(r.n_tokens, P);
    eb_context_free(ctx);
    eb_model_free(m);
    drop_model(&a);
}

/* Threads: one model, many contexts, results equal the single-threaded ones. */
typedef struct thread_job {
    eb_model *m;
    int which;
    eb_result r[20];
    int ok;
} thread_job;

static void *thread_main(void *arg) {
    thread_job *j = arg;
    eb_context *ctx;
    eb_error err = {0};
    if (eb_context_new(j->m, &ctx, &err) != EB_OK) return NULL;
    j->ok = 1;
    for (int k = 0; k < 20; k++) {
        int32_t ids[6] = {2, (int32_t)(5 + (k * 7 + j->which) % 100), (int32_t)(10 + k), 40, 60, 3};
        eb_run_params p = eb_run_params_default();
        p.policy = k % 2 ? EB_POLICY_EE : EB_POLICY_BASE;
        p.threshold = 0.5f;
        if (eb_classify_ids(ctx, ids, NULL, 6, &p, &j->r[k], &err) != EB_OK) j->ok = 0;
    }
    eb_context_free(ctx);
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    fixture fx;
    make_model(&fx, 1, 18);
    eb_error err = {0};
    eb_model *m;
    assert_int_equal(eb_model_load(fx.dir, NULL, &m, &err), EB_OK);
    enum { NT = 6 };
    thread_job single[NT], multi[NT];
    for (int t = 0; t < NT; t++) {
        single[t] = (thread_job){m, t, {{0}}, 0};
        thread_main(&single[t]);
        multi[t] = (thread_job){m, t, {{0}}, 0};
    }
    pthread_t th[NT];
    for (int t = 0; t < NT; t++)
        pthread_create(&th[t], NULL, thread_main, &multi[t]);
    for (int t = 0; t < NT; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < NT; t++) {
        assert_true(single[t].ok && multi[t].ok);
        for (int k = 0; k < 20; k++) {
            assert_int_equal(single[t].r[k].exit_layer, multi[t].r[k].exit_layer);
            assert_memory_equal(single[t].r[k].logits, multi[t].r[k].logits, sizeof(float) * C);
        }
    }
    eb_model_free(m);
    drop_model(&fx);
}

/* Threads of this process (Linux /proc), -1 when unknown. */
static int process_threads(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1) break;
    fclose(f);
    return n;
}

/* In a fresh child process: the threads the process has after classifying
 * (fp32) with params.threads = nt, minus those it had before
 * (sanitizer or emulator threads); logits of the fp32 run into out[C]
 * through a pipe.  Returns -1 when it cannot tell. */
static int threads_started(const char *dir, int nt, float *out) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fd[0]);
        int before = process_threads(), ok = before > 0;
        eb_error err;
        eb_model *m = NULL;
        eb_context *ctx = NULL;
        ok = ok && eb_model_load(dir, NULL, &m, &err) == EB_OK &&
             eb_context_new(m, &ctx, &err) == EB_OK;
        int32_t ids[100];
        for (int i = 0; i < 100; i++)
            ids[i] = i == 0 ? 2 : 5 + (i * 37) % 900;
        float logits[C] = {0};
        eb_run_params p = eb_run_params_default();
        p.policy = EB_POLICY_BASE;
        p.threads = nt;
        eb_result r;
        ok = ok && eb_classify_ids(ctx, ids, NULL, 100, &p, &r, &err) == EB_OK;
        if (ok) memcpy(logits, r.logits, sizeof logits);
        int after = process_threads();
        int started = ok && after > 0 ? after - before : -1;
        ok = write(fd[1], &started, sizeof started) == (ssize_t)sizeof started &&
             write(fd[1], logits, sizeof logits) == (ssize_t)sizeof logits;
        _exit(ok ? 0 : 1);
    }
    close(fd[1]);
    int started = -1, status = 0;
    if (read(fd[0], &started, sizeof started) != (ssize_t)sizeof started ||
        read(fd[0], out, sizeof(float) * C) != (ssize_t)(sizeof(float) * C))
        started = -1;
    close(fd[0]);
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? started : -1;
}

/* eb_run_params.threads = 1 never starts a thread (products of 50 MFLOP, far
 * above the parallel threshold); the default team does, where there is more
 * than one core; the answers are the same. */
static void test_threads_team(void **state) {
    (void)state;
    tiny_spec s = tiny_default();
    s.vocab = 1000, s.E = 64, s.H = 256, s.heads = 4, s.I = 1024, s.layers = 2, s.P = 128;
    s.spans = 0, s.ramps = 1;
    char dir[64];
    tiny_make(dir, &s);
    float one[C], dflt[C];
    const int started_one = threads_started(dir, 1, one);
    const int started_dflt = threads_started(dir, 0, dflt);
    tiny_remove(dir);
    if (started_one < 0 || started_dflt < 0) {
        fprintf(stderr, "SKIP: no /proc/self/status, or fork failed\n");
        skip();
    }
    assert_int_equal(started_one, 0);
#ifdef _OPENMP
    if (sysconf(_SC_NPROCESSORS_ONLN) > 1 && !getenv("OMP_NUM_THREADS"))
        assert_true(started_dflt > 0); /* the measurement sees a team when there is one */
#endif
    assert_memory_equal(one, dflt, sizeof one);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_team),
        cmocka_unit_test(test_load_and_exit),
        cmocka_unit_test(test_no_offramps_runs_all_layers),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_bad_safetensors),
        cmocka_unit_test(test_half_dtypes),
        cmocka_unit_test(test_bundle_roundtrip),
        cmocka_unit_test(test_bundle_corrupt),
        cmocka_unit_test(test_text_errors),
        cmocka_unit_test(test_threads),
    };
    /* EB_TEST_SKIP=PATTERN leaves cases out (tools/cross-test.sh: test_threads* under qemu) */
    const char *skip_pat = getenv("EB_TEST_SKIP");
    if (skip_pat && *skip_pat) cmocka_set_skip_filter(skip_pat);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
