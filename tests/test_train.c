/* test_train.c - the trainer end to end on a tiny model and a synthetic task
 * (label = whether token 7 occurs): the loss falls, the engine's forward over
 * the trained weights agrees with the trainer's, --resume reproduces an
 * uninterrupted run bit for bit, pruning reaches its sparsity, spans switch
 * heads off, phase 2 touches only the off-ramps, the predictor table has the
 * published layout, NaN and interruption stop cleanly. */
#include "testutil.h"

#include <math.h>
#include <unistd.h>

#include "edgebert/dist.h"
#include "edgebert/train.h"
#include "kernels/backward.h"
#include "model/config.h"
#include "kernels/kernels.h"
#include "model/albert.h"
#include "model/safetensors.h"
#include "train/tdata.h"
#include "train/tmodel.h"
#include "train/trainer_internal.h"

static char tmpdir[256];

static void rm_rf(const char *d) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
}

static void write_config(const char *path, int layers, int groups) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"vocab_size\": 20, \"embedding_size\": 8, \"hidden_size\": 16, "
            "\"num_hidden_layers\": %d, \"num_hidden_groups\": %d, \"inner_group_num\": 1, "
            "\"num_attention_heads\": 2, \"intermediate_size\": 32, "
            "\"max_position_embeddings\": 32, \"type_vocab_size\": 2, \"num_labels\": 2, "
            "\"hidden_act\": \"gelu_new\", \"layer_norm_eps\": 1e-12, "
            "\"edgebert_span_ramp\": 4}",
            layers, groups);
    fclose(f);
}

/* n examples of length 3..12; label 1 iff token 7 occurs. */
static void synth(eb_train_data *d, int n, uint64_t seed) {
    eb_tdata_builder b = {0};
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        int32_t ids[16];
        int len = 3 + (int)(eb_test_rng(&s) % 10), has = 0;
        ids[0] = 2;
        for (int k = 1; k < len; k++) {
            ids[k] = 8 + (int)(eb_test_rng(&s) % 12);
            if (eb_test_rng(&s) % 9 == 0) ids[k] = 7;
            has |= ids[k] == 7;
        }
        eb_error err;
        assert_int_equal(eb_tdata_add(&b, ids, NULL, len, has, (float)has, &err), EB_OK);
    }
    eb_tdata_finish(&b, d);
}

static eb_train_options opts(const char *cfg, const char *out) {
    eb_train_options o = eb_train_options_default();
    o.config_path = cfg;
    o.out_dir = out;
    o.epochs = 4;
    o.batch = 16;
    o.lr = 3e-3f;
    o.max_len = 16;
    o.seed = 5;
    o.dropout = 0.1f;
    return o;
}

enum { PATH_CAP = 300 };

/* tmpdir/name into buf (PATH_CAP bytes). */
static void tmp_path(char *buf, const char *name) {
    snprintf(buf, PATH_CAP, "%s/%s", tmpdir, name);
}

/* A test's start: a fresh tmpdir holding config.json (`layers` layers, one
 * group), its path in cfg (PATH_CAP bytes), and when d is not NULL, n
 * synthetic examples from seed. */
static void start(char *cfg, int layers, eb_train_data *d, int n, uint64_t seed) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/eb_test_train_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    tmp_path(cfg, "config.json");
    write_config(cfg, layers, 1);
    if (d) synth(d, n, seed);
}

/* start() without data, and the 3-layer config loaded into c and x. */
static void start_config(char *cfg, eb_config *c, eb_model_extras *x) {
    eb_error err;
    start(cfg, 3, NULL, 0, 0);
    assert_int_equal(eb_config_load(cfg, c, x, &err), EB_OK);
}

/* A test's end: free d, remove tmpdir. */
static void finish(eb_train_data *d) {
    eb_train_data_free(d);
    rm_rf(tmpdir);
}

/* Two steps of a run (r1), then, from scratch, the whole run of `epochs` epochs (r2). */
static void before_and_after(eb_train_options *o, const eb_train_data *d, int epochs,
                             eb_train_report *r1, eb_train_report *r2) {
    eb_error err;
    o->epochs = 1;
    o->max_steps = 2;
    assert_int_equal(eb_train_run(o, d, d, r1, &err), EB_OK);
    rm_rf(o->out_dir);
    o->epochs = epochs;
    o->max_steps = 0;
    assert_int_equal(eb_train_run(o, d, d, r2, &err), EB_OK);
}

static float *load_tensor(const char *dir, const char *name, size_t *n) {
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    eb_safetensors st;
    eb_error err;
    assert_int_equal(eb_st_open(path, NULL, 0, &st, &err), EB_OK);
    const eb_st_tensor *t = eb_st_find(&st, name);
    assert_non_null(t);
    float *x = malloc(sizeof(float) * t->numel);
    eb_st_to_f32(t, x);
    *n = t->numel;
    eb_st_close(&st);
    return x;
}

static void test_schedules(void **state) {
    (void)state;
    /* warm-up ws = 10, iw = 2, fw = 3, total 100: flat to 20, keep after 70 */
    assert_float_equal(eb_prune_schedule(20, 100, 10, 2, 3, 0.5), 1.0, 1e-12);
    assert_float_equal(eb_prune_schedule(71, 100, 10, 2, 3, 0.5), 0.5, 1e-12);
    /* halfway through (45 of 20..70): 0.5 + 0.5 * 0.5^3 */
    assert_float_equal(eb_prune_schedule(45, 100, 10, 2, 3, 0.5), 0.5625, 1e-12);
    assert_float_equal(eb_emb_prune_percentile(0, 10, 60), 0, 1e-12);
    assert_float_equal(eb_emb_prune_percentile(1, 10, 60), 0, 1e-12);
    assert_float_equal(eb_emb_prune_percentile(8, 10, 60), 60, 1e-9);
    assert_float_equal(eb_emb_prune_percentile(45, 100, 60), 30, 1e-9);
}

static void test_loss_falls_and_engine_agrees(void **state) {
    (void)state;
    char cfg[PATH_CAP], out[PATH_CAP];
    eb_train_data d;
    start(cfg, 3, &d, 256, 1);
    tmp_path(out, "m");
    eb_train_options o = opts(cfg, out);
    eb_train_report r1, r2;
    eb_error err;
    before_and_after(&o, &d, 15, &r1, &r2);
    fprintf(stderr, "loss %g -> %g, dev accuracy %g\n", r1.final_loss, r2.final_loss,
            r2.dev_accuracy);
    assert_true(r2.final_loss < 0.5 * r1.final_loss);
    assert_true(r2.dev_accuracy > 0.9);
    char st_path[400];
    snprintf(st_path, sizeof st_path, "%s/train_state.safetensors", out);
    assert_int_not_equal(access(st_path, F_OK), 0); /* a finished run leaves no resume state */
    /* engine forward (albert.c) over the saved weights == trainer forward */
    eb_tmodel m;
    assert_int_equal(eb_trainer_load_model(&m, NULL, out, 0, 0, 0, 0, 0, &err), EB_OK);
    assert_int_equal(eb_tm_alloc_acts(&m, 4, 16, &err), EB_OK);
    eb_albert_scratch s;
    assert_true(eb_albert_scratch_init(&s, &m.cfg, 16, NULL));
    for (int e = 0; e < 4; e++) {
        const eb_train_example *x = &d.ex[e];
        uint8_t valid[16];
        memset(valid, 1, sizeof valid);
        eb_tm_forward(&m, x->ids, x->type_ids, valid, 1, x->n, 0, 0, 0);
        memset(s.key_valid, 1, (size_t)x->n);
        eb_albert_embed(&s, &m.cfg, &m.view, x->ids, x->type_ids, x->n);
        for (int l = 0; l < m.cfg.num_hidden_layers; l++)
            eb_albert_layer_apply(&s, &m.cfg, &m.view, &m.x, l, x->n, NULL, NULL);
        float lg[2];
        eb_albert_classify_at(lg, &s, &m.cfg, &m.view, m.cfg.num_hidden_layers - 1);
        for (int k = 0; k < 2; k++)
            assert_float_equal(lg[k], m.head.logits[k], 1e-4);
    }
    eb_albert_scratch_free(&s, NULL);
    eb_tm_free(&m);
    finish(&d);
}

/* Masked-LM pretraining: each sequence repeats one random token (8..19), so a
 * masked token follows from the rest of the sequence; the
 * masked-token accuracy must climb far above chance (1/20), and a classifier
 * fine-tuned from the result loads the encoder and leaves the MLM head out. */
static void test_mlm_pretraining(void **state) {
    (void)state;
    char cfg[PATH_CAP], out[PATH_CAP], cls[PATH_CAP];
    start(cfg, 2, NULL, 0, 0);
    tmp_path(out, "mlm");
    tmp_path(cls, "cls");
    eb_tdata_builder b = {0};
    uint64_t rs = 3;
    for (int i = 0; i < 384; i++) {
        int32_t ids[16];
        int len = 6 + (int)(eb_test_rng(&rs) % 10), start = (int)(eb_test_rng(&rs) % 12);
        ids[0] = 2;
        for (int k = 1; k < len; k++)
            ids[k] = 8 + start;
        eb_error e;
        assert_int_equal(eb_tdata_add(&b, ids, NULL, len, 0, 0, &e), EB_OK);
    }
    eb_train_data d;
    eb_tdata_finish(&b, &d);
    eb_train_options o = opts(cfg, out);
    o.phase = EB_PHASE_MLM;
    eb_train_report r1, r2;
    eb_error err;
    before_and_after(&o, &d, 30, &r1, &r2);
    fprintf(stderr, "masked-LM loss %g -> %g, dev masked accuracy %g -> %g\n", r1.final_loss,
            r2.final_loss, r1.dev_accuracy, r2.dev_accuracy);
    assert_true(r2.final_loss < 0.5 * r1.final_loss);
    assert_true(r2.dev_accuracy > 0.6);
    size_t n;
    float *w = load_tensor(out, "predictions.dense.weight", &n);
    assert_int_equal(n, 8 * 16);
    free(w);
    /* fine-tuning from the pretrained encoder: the MLM head is not part of it */
    eb_train_data c;
    synth(&c, 64, 9);
    eb_train_options oc = opts(NULL, cls);
    oc.config_path = NULL;
    oc.init_dir = out;
    oc.epochs = 1;
    assert_int_equal(eb_train_run(&oc, &c, NULL, NULL, &err), EB_OK);
    eb_tmodel m;
    assert_int_equal(eb_trainer_load_model(&m, NULL, cls, 0, 0, 0, 0, 0, &err), EB_OK);
    assert_int_equal(eb_tm_find(&m, "predictions.dense.weight"), -1);
    float *we0 = load_tensor(out, "albert.embeddings.word_embeddings.weight", &n);
    assert_true(n > 0);
    eb_tm_free(&m);
    free(we0);
    /* --phase mlm refuses a teacher */
    o.teacher_dir = out;
    assert_int_equal(eb_train_run(&o, &d, NULL, NULL, &err), EB_ERR_ARG);
    eb_train_data_free(&c);
    finish(&d);
}

/* Cross-entropy of the main head after a training forward with fixed dropout masks. */
static double dropout_loss(eb_tmodel *m, const int32_t *ids, const uint8_t *valid, const int *lab,
                           int B, int T, float *dl) {
    eb_tm_forward(m, ids, NULL, valid, B, T, 0, 0.1f, 77);
    double loss = 0;
    memset(dl, 0, sizeof(float) * (size_t)B * 2);
    for (int b = 0; b < B; b++)
        loss += eb_xent_backward(dl + 2 * b, m->head.logits + 2 * b, 2, lab[b], 1.0f / B) / B;
    return loss;
}

/* Data-parallel shards (edgebert/dist.h): a batch's forward run as two shards (row0 /
 * rows_total) draws the same classifier and hidden dropout masks for each row as the whole
 * batch, gives the same logits, and the shards' gradients, each normalised by the whole
 * batch's count (examples; masked tokens for the masked-LM loss through mlm_denom), sum to the
 * whole batch's gradient.  The one-process group: rank 0 of 1, collectives leave data as is. */
static void shard_pass(eb_tmodel *m, const int32_t *ids, const uint8_t *valid, const int *lab,
                       const int32_t *mlab, int r0, int r1, int Bg, int T, int Mg, double *loss) {
    const int B = r1 - r0, L = m->num_ramps;
    m->row0 = r0, m->rows_total = Bg, m->mlm_denom = Mg;
    eb_tm_forward(m, ids + r0 * T, NULL, valid + r0 * T, B, T, 1, 0.2f, 77);
    float dl[16] = {0}, dr[4][16] = {{0}}; /* the loss backward adds into them */
    float *dramp[4] = {dr[0], dr[1], dr[2], dr[3]};
    for (int b = 0; b < B; b++) {
        *loss +=
            eb_xent_backward(dl + 2 * b, m->head.logits + 2 * b, 2, lab[r0 + b], 1.0f / Bg) / Bg;
        for (int j = 0; j < L; j++)
            *loss += eb_xent_backward(dr[j] + 2 * b, m->ramp[j].logits + 2 * b, 2, lab[r0 + b],
                                      1.0f / Bg) /
                     Bg;
    }
    int nm = 0;
    *loss += eb_tm_mlm_loss(m, mlab + r0 * T, 1, &nm, NULL);
    eb_tm_backward(m, dl, dramp, 1);
    m->row0 = m->rows_total = m->mlm_denom = 0;
}

static void test_shards_match_the_batch(void **state) {
    (void)state;
    char cfg[PATH_CAP];
    eb_config c;
    eb_model_extras x;
    eb_error err;
    start_config(cfg, &c, &x);
    eb_tmodel m;
    assert_int_equal(eb_tm_create(&m, &c, &x, 0, EB_TM_RAMPS | EB_TM_MLM, 0, 3, NULL, &err), EB_OK);
    m.hidden_dropout = 0.3f;
    enum { B = 5, T = 6 };
    assert_int_equal(eb_tm_alloc_acts(&m, B, T, &err), EB_OK);
    assert_true(m.num_ramps == 2);
    int32_t ids[B * T], mlab[B * T];
    uint8_t valid[B * T];
    const int lab[B] = {0, 1, 1, 0, 1};
    uint64_t r = 5;
    int Mg = 0;
    for (int i = 0; i < B * T; i++) {
        ids[i] = 5 + (int)(eb_test_rng(&r) % 15);
        valid[i] = i % T < 3 + i / T % 4;
        mlab[i] = valid[i] && eb_test_rng(&r) % 3 == 0 ? 5 + (int)(eb_test_rng(&r) % 15) : -1;
        Mg += mlab[i] >= 0;
    }
    const size_t NP = m.n_params, H = (size_t)c.hidden_size;
    float *g_all = malloc(NP * sizeof(float)), *logits = malloc(B * 2 * sizeof(float));
    float *dm = malloc(B * T * H * sizeof(float)), *hm = malloc(B * H * sizeof(float));
    double loss_all = 0, loss_sh = 0;
    memset(m.grads, 0, NP * sizeof(float));
    shard_pass(&m, ids, valid, lab, mlab, 0, B, B, T, Mg, &loss_all);
    memcpy(g_all, m.grads, NP * sizeof(float));
    /* the whole batch's last hidden dropout mask and classifier mask; logits after the pass */
    const int A = c.num_hidden_layers;
    memcpy(dm, m.acts[A - 1].dm[1], B * T * H * sizeof(float));
    memcpy(hm, m.head.dmask, B * H * sizeof(float));
    eb_tm_forward(&m, ids, NULL, valid, B, T, 1, 0.2f, 77);
    memcpy(logits, m.head.logits, B * 2 * sizeof(float));
    int masks_differ = 0; /* the masks of the two shards' rows are not one and the same draw */
    memset(m.grads, 0, NP * sizeof(float));
    const int cut[3] = {0, 2, B};
    for (int k = 0; k < 2; k++) {
        shard_pass(&m, ids, valid, lab, mlab, cut[k], cut[k + 1], B, T, Mg, &loss_sh);
        const int r0 = cut[k], nb = cut[k + 1] - cut[k];
        for (int b = 0; b < nb; b++) {
            for (int i = 0; i < T; i++) /* hidden masks of the real tokens */
                if (valid[(r0 + b) * T + i])
                    assert_memory_equal(m.acts[A - 1].dm[1] + ((size_t)b * T + i) * H,
                                        dm + ((size_t)(r0 + b) * T + i) * H, H * sizeof(float));
            assert_memory_equal(m.head.dmask + b * H, hm + (r0 + b) * H, H * sizeof(float));
            masks_differ |= memcmp(hm + (r0 + b) * H, hm + b * H, H * sizeof(float)) != 0;
        }
        m.row0 = r0, m.rows_total = B;
        eb_tm_forward(&m, ids + r0 * T, NULL, valid + r0 * T, nb, T, 1, 0.2f, 77);
        m.row0 = m.rows_total = 0;
        for (int i = 0; i < nb * 2; i++)
            assert_float_equal(m.head.logits[i], logits[r0 * 2 + i],
                               1e-5 * (1 + fabsf(logits[r0 * 2 + i])));
    }
    assert_true(masks_differ);
    assert_true(fabs(loss_all - loss_sh) < 1e-5 * (1 + fabs(loss_all)));
    double gmax = 0, dmax = 0;
    for (size_t j = 0; j < NP; j++) {
        gmax = fmax(gmax, fabsf(g_all[j]));
        dmax = fmax(dmax, fabsf(g_all[j] - m.grads[j]));
    }
    if (!(gmax > 0 && dmax <= 1e-5 * gmax))
        fail_msg("shard gradients sum to %g off the batch's (largest %g; loss %g and %g)", dmax,
                 gmax, loss_all, loss_sh);
    free(g_all), free(logits), free(dm), free(hm);
    eb_tm_free(&m);
    /* the group of one */
    eb_dist *D = NULL;
    assert_int_equal(eb_dist_init(NULL, NULL, &D, &err), EB_OK);
    assert_int_equal(eb_dist_rank(D), 0);
    assert_int_equal(eb_dist_size(D), 1);
    assert_int_equal(eb_dist_rank(NULL), 0);
    assert_int_equal(eb_dist_size(NULL), 1);
    float v[3] = {1, 2, 3};
    double w[2] = {4, 5};
    assert_int_equal(eb_dist_allreduce_f32(D, v, 3, &err), EB_OK);
    assert_int_equal(eb_dist_allreduce_f64(D, w, 2, &err), EB_OK);
    assert_int_equal(eb_dist_bcast(D, v, sizeof v, 0, &err), EB_OK);
    assert_true(v[0] == 1 && v[1] == 2 && v[2] == 3 && w[0] == 4 && w[1] == 5);
    eb_dist_finalize(D);
    finish(NULL);
}

/* The initialisation a config asks for.  The random matrices follow its initializer_range
 * (HF's key, default 0.02): the sample standard deviation of the word embeddings is within
 * 5 % of it. */
static void test_init_from_config(void **state) {
    (void)state;
    char cfg[PATH_CAP];
    eb_config c;
    eb_model_extras x;
    eb_error err;
    start_config(cfg, &c, &x);
    assert_true(x.initializer_range == 0.02f);
    const float want[2] = {0.02f, 0.1f};
    for (int k = 0; k < 2; k++) {
        x.initializer_range = want[k];
        c.vocab_size = 4000; /* 32,000 samples */
        eb_tmodel m;
        assert_int_equal(eb_tm_create(&m, &c, &x, 0, 0, 0, 3, NULL, &err), EB_OK);
        const int i = eb_tm_find(&m, "albert.embeddings.word_embeddings.weight");
        assert_true(i >= 0);
        const float *d = m.params + m.t[i].off;
        double s2 = 0;
        for (size_t j = 0; j < m.t[i].numel; j++)
            s2 += (double)d[j] * d[j];
        const double sd = sqrt(s2 / (double)m.t[i].numel);
        if (fabs(sd / want[k] - 1) > 0.05) fail_msg("initializer_range %g: std %g", want[k], sd);
        eb_tm_free(&m);
    }
    /* edgebert_mimetic_init: each layer's query and key weights are the same, their rows
     * orthonormal times the setting (W W^T = s^2 I); the position embeddings sinusoidal */
    c.vocab_size = 20;
    x.initializer_range = 0.02f;
    assert_true(x.mimetic_init == 0);
    x.mimetic_init = 1.5f;
    eb_tmodel m;
    assert_int_equal(eb_tm_create(&m, &c, &x, 0, 0, 0, 3, NULL, &err), EB_OK);
    const int H = c.hidden_size, E = c.embedding_size;
    for (int u = 0; u < m.n_unique; u++) {
        const float *q = m.P.layers[u].q.w, *k = m.P.layers[u].k.w;
        assert_memory_equal(q, k, sizeof(float) * (size_t)H * H);
        for (int i = 0; i < H; i++)
            for (int j = 0; j < H; j++) {
                double d = 0;
                for (int t = 0; t < H; t++) d += (double)q[i * H + t] * q[j * H + t];
                if (fabs(d - (i == j ? 2.25 : 0)) > 1e-5)
                    fail_msg("layer %d: rows %d, %d: dot %g", u, i, j, d);
            }
    }
    /* position 3, frequency 2: sin(3 / 10000^(4/E)) at std 0.02, and its cosine */
    const double a = 3 / pow(10000.0, 4.0 / E);
    assert_float_equal(m.P.pos[3 * E + 2], 0.02 * sin(a), 1e-7);
    assert_float_equal(m.P.pos[3 * E + E / 2 + 2], 0.02 * cos(a), 1e-7);
    eb_tm_free(&m);
    /* the setting is read from config.json */
    FILE *f = fopen(cfg, "r+");
    assert_non_null(f);
    fseek(f, -1, SEEK_END); /* over the closing brace */
    fputs(", \"edgebert_mimetic_init\": 0.75}", f);
    fclose(f);
    assert_int_equal(eb_config_load(cfg, &c, &x, &err), EB_OK);
    assert_true(x.mimetic_init == 0.75f);
    finish(NULL);
}

/* Hidden dropout (attention and FFN outputs): the analytic gradients with the
 * masks of a fixed seed match central differences with the same masks, the
 * masks do change the output, and an eval forward (dropout_p 0) ignores them. */
static void test_hidden_dropout_gradients(void **state) {
    (void)state;
    char cfg[PATH_CAP];
    eb_config c;
    eb_model_extras x;
    eb_error err;
    start_config(cfg, &c, &x);
    eb_tmodel m, ref;
    assert_int_equal(eb_tm_create(&m, &c, &x, 0, 0, 0, 3, NULL, &err), EB_OK);
    assert_int_equal(eb_tm_create(&ref, &c, &x, 0, 0, 0, 3, NULL, &err), EB_OK);
    for (size_t j = 0; j < m.n_params; j++) /* out of the near-linear initial regime */
        m.params[j] = ref.params[j] *= 5.0f;
    m.hidden_dropout = 0.3f;
    assert_int_equal(eb_tm_alloc_acts(&m, 3, 6, &err), EB_OK);
    assert_int_equal(eb_tm_alloc_acts(&ref, 3, 6, &err), EB_OK);
    const int B = 3, T = 6, lab[3] = {0, 1, 1};
    int32_t ids[18];
    uint8_t valid[18];
    uint64_t r = 11;
    for (int i = 0; i < B * T; i++) {
        ids[i] = 5 + (int)(eb_test_rng(&r) % 15);
        valid[i] = i % T < 4 + i / T % 2;
    }
    float dl[6];
    /* eval forwards agree; training forwards differ (the masks) */
    eb_tm_forward(&m, ids, NULL, valid, B, T, 0, 0.0f, 77);
    eb_tm_forward(&ref, ids, NULL, valid, B, T, 0, 0.0f, 77);
    assert_float_equal(m.head.logits[0], ref.head.logits[0], 0);
    dropout_loss(&ref, ids, valid, lab, B, T, dl);
    float ref_logit = ref.head.logits[0];
    dropout_loss(&m, ids, valid, lab, B, T, dl);
    assert_true(fabsf(m.head.logits[0] - ref_logit) > 1e-2f * fabsf(ref_logit));
    memset(m.grads, 0, m.n_params * sizeof(float));
    dropout_loss(&m, ids, valid, lab, B, T, dl);
    eb_tm_backward(&m, dl, NULL, 1);
    const char *names[] = {
        "albert.encoder.albert_layer_groups.0.albert_layers.0.attention.dense.weight",
        "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn_output.weight",
        "albert.encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight",
        "albert.encoder.embedding_hidden_mapping_in.weight"};
    float *g = malloc(m.n_params * sizeof(float));
    memcpy(g, m.grads, m.n_params * sizeof(float));
    int checked = 0;
    for (size_t t = 0; t < sizeof names / sizeof names[0]; t++) {
        int ti = eb_tm_find(&m, names[t]);
        assert_true(ti >= 0);
        for (int k = 0; k < 6; k++) {
            size_t j = m.t[ti].off + (size_t)(k * 37) % m.t[ti].numel;
            const float w0 = m.params[j], h = 3e-3f;
            m.params[j] = w0 + h;
            double lp = dropout_loss(&m, ids, valid, lab, B, T, dl);
            m.params[j] = w0 - h;
            double lm = dropout_loss(&m, ids, valid, lab, B, T, dl);
            m.params[j] = w0;
            double fd = (lp - lm) / (2 * h);
            if (fabs(fd - g[j]) > 1e-4 + 0.03 * fabs(fd))
                fail_msg("%s[%zu]: analytic %g, central difference %g", names[t], j - m.t[ti].off,
                         g[j], fd);
            checked++;
        }
    }
    assert_int_equal(checked, 24);
    free(g);
    eb_tm_free(&m);
    eb_tm_free(&ref);
    finish(NULL);
}

typedef struct cancel_at {
    long step;      /* ask to stop once this many steps are done */
    int reports;    /* report calls seen */
    long last_done; /* done of the last call */
} cancel_at;
static int cancel_after(void *ud, const eb_progress *p) {
    cancel_at *c = ud;
    assert_string_equal(p->phase, "train");
    c->reports += p->report;
    c->last_done = p->done;
    return p->done >= c->step;
}

static void test_resume_is_exact(void **state) {
    (void)state;
    char cfg[PATH_CAP], a[PATH_CAP], b[PATH_CAP];
    eb_train_data d;
    start(cfg, 2, &d, 100, 2);
    tmp_path(a, "a");
    tmp_path(b, "b");
    eb_error err;
    eb_train_options o = opts(cfg, a);
    o.epochs = 2;
    o.span = 1;
    o.prune = EB_PRUNE_MOVEMENT;
    o.emb_prune_pct = 30;
    o.mask_tokens = 0.2f; /* its draws, too, must continue where they stopped */
    o.ema = 0.9f;         /* and the weight average */
    assert_int_equal(eb_train_run(&o, &d, NULL, NULL, &err), EB_OK);
    o.out_dir = b;
    /* the progress callback stops the run after step 3: saved there, EB_ERR_INTERRUPTED */
    cancel_at c = {3, 0, 0};
    o.progress = cancel_after;
    o.progress_ud = &c;
    o.log_every = 2; /* reports at steps 2, 4, ...: the stop comes from a check between them */
    eb_train_report r;
    assert_int_equal(eb_train_run(&o, &d, NULL, &r, &err), EB_ERR_INTERRUPTED);
    assert_int_equal(r.steps, 3);
    assert_int_equal(c.reports, 1); /* step 2 */
    assert_int_equal(c.last_done, 3);
    assert_non_null(strstr(err.msg, "step 3 of 14"));
    o.progress = NULL;
    o.resume = 1;
    o.max_steps = 2; /* 7 steps per epoch: stops inside epoch 1 */
    assert_int_equal(eb_train_run(&o, &d, NULL, &r, &err), EB_OK);
    assert_int_equal(r.steps, 5);
    o.max_steps = 4; /* crosses the epoch end */
    assert_int_equal(eb_train_run(&o, &d, NULL, NULL, &err), EB_OK);
    o.max_steps = 0;
    o.lr *= 2; /* other options: refused */
    assert_int_equal(eb_train_run(&o, &d, NULL, NULL, &err), EB_ERR_ARG);
    assert_non_null(strstr(err.msg, "other options"));
    o.lr /= 2;
    assert_int_equal(eb_train_run(&o, &d, NULL, NULL, &err), EB_OK);
    const char *names[] = {"albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight",
                           "albert.embeddings.word_embeddings.weight", "classifier.weight",
                           "albert.encoder.albert_layer_groups.0.albert_layers.0.attention.span"};
    for (int i = 0; i < 4; i++) {
        size_t na, nb;
        float *x = load_tensor(a, names[i], &na), *y = load_tensor(b, names[i], &nb);
        assert_int_equal(na, nb);
        assert_memory_equal(x, y, na * sizeof(float));
        free(x), free(y);
    }
    finish(&d);
}

/* --ema: the saved model is the moving average of the trajectory the same run takes
 * without it (rebuilt here step by step from checkpoints), and the average does not
 * change the trajectory. */
static void test_weight_average(void **state) {
    (void)state;
    char cfg[PATH_CAP], a[PATH_CAP], b[PATH_CAP], c[PATH_CAP];
    eb_train_data d;
    start(cfg, 2, &d, 100, 3);
    tmp_path(a, "init");
    tmp_path(b, "plain");
    tmp_path(c, "ema");
    eb_error err;
    eb_train_options o = opts(cfg, a);
    o.epochs = 1;
    assert_int_equal(eb_train_run(&o, &d, NULL, NULL, &err), EB_OK);
    const char *names[] = {"albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight",
                           "classifier.bias", "albert.embeddings.word_embeddings.weight"};
    enum { NN = 3, STEPS = 7 }; /* 100 examples, batch 16: 7 steps */
    float *traj[NN][STEPS + 1];
    size_t n[NN];
    for (int i = 0; i < NN; i++)
        traj[i][0] = load_tensor(a, names[i], &n[i]);
    o = opts(NULL, b);
    o.init_dir = a;
    o.epochs = 1;
    o.max_steps = 1;
    for (int k = 1; k <= STEPS; k++) {
        o.resume = k > 1;
        assert_int_equal(eb_train_run(&o, &d, NULL, NULL, &err), EB_OK);
        for (int i = 0; i < NN; i++) {
            size_t m;
            traj[i][k] = load_tensor(b, names[i], &m);
            assert_int_equal(m, n[i]);
        }
    }
    o.out_dir = c;
    o.max_steps = 0;
    o.resume = 0;
    o.ema = 0.8f;
    assert_int_equal(eb_train_run(&o, &d, NULL, NULL, &err), EB_OK);
    for (int i = 0; i < NN; i++) {
        size_t m;
        float *got = load_tensor(c, names[i], &m);
        assert_int_equal(m, n[i]);
        double worst = 0, moved = 0;
        for (size_t j = 0; j < m; j++) {
            double e = traj[i][0][j];
            for (int k = 0; k < STEPS; k++) { /* the update after step k+1 */
                double dk = (1.0 + k) / (10.0 + k);
                if (dk > 0.8) dk = 0.8;
                e = dk * e + (1 - dk) * traj[i][k + 1][j];
            }
            worst = fmax(worst, fabs(got[j] - e) / (1e-6 + fabs(e)));
            moved = fmax(moved, fabs(got[j] - traj[i][STEPS][j]));
        }
        if (worst > 1e-4) fail_msg("%s: averaged weights off by %g (relative)", names[i], worst);
        assert_true(moved > 1e-6); /* the average is not just the last weights */
        free(got);
        for (int k = 0; k <= STEPS; k++)
            free(traj[i][k]);
    }
    o.ema = 1.0f; /* not an average */
    assert_int_equal(eb_train_run(&o, &d, NULL, NULL, &err), EB_ERR_ARG);
    finish(&d);
}

/* --mask-tokens: only real tokens with ids > 4 are masked, at the asked rate,
 * the same for the same seed. */
static void test_mask_tokens(void **state) {
    (void)state;
    enum { N = 20000 };
    int32_t *ids = malloc(sizeof(int32_t) * N), *again = malloc(sizeof(int32_t) * N);
    int32_t *orig = malloc(sizeof(int32_t) * N);
    uint8_t *valid = malloc(N);
    uint64_t s = 3;
    int eligible = 0;
    for (int i = 0; i < N; i++) {
        orig[i] = (int32_t)(eb_test_rng(&s) % 40); /* ids 0..4 too */
        valid[i] = eb_test_rng(&s) % 5 != 0;
        eligible += valid[i] && orig[i] > 4;
    }
    memcpy(ids, orig, sizeof(int32_t) * N);
    int n = eb_trainer_mask_tokens(ids, valid, N, 0.25f, 4, 99);
    int changed = 0;
    for (int i = 0; i < N; i++) {
        if (ids[i] == orig[i]) continue;
        changed++;
        assert_int_equal(ids[i], 4);
        assert_true(valid[i] && orig[i] > 4);
    }
    assert_int_equal(changed, n);
    /* binomial(eligible, 0.25): within 5 standard deviations */
    const double mean = 0.25 * eligible, sd = sqrt(eligible * 0.25 * 0.75);
    assert_true(fabs(n - mean) < 5 * sd);
    memcpy(again, orig, sizeof(int32_t) * N);
    assert_int_equal(eb_trainer_mask_tokens(again, valid, N, 0.25f, 4, 99), n);
    assert_memory_equal(again, ids, sizeof(int32_t) * N);
    memcpy(again, orig, sizeof(int32_t) * N);
    assert_int_equal(eb_trainer_mask_tokens(again, valid, N, 0.0f, 4, 99), 0);
    assert_memory_equal(again, orig, sizeof(int32_t) * N);
    free(ids), free(again), free(orig), free(valid);
    /* and the trainer applies it: two steps with and without differ */
    char cfg[PATH_CAP], a[PATH_CAP], b[PATH_CAP];
    eb_train_data d;
    start(cfg, 2, &d, 64, 4);
    tmp_path(a, "a");
    tmp_path(b, "b");
    eb_error err;
    eb_train_options o = opts(cfg, a);
    o.max_steps = 2;
    assert_int_equal(eb_train_run(&o, &d, NULL, NULL, &err), EB_OK);
    o.out_dir = b;
    o.mask_tokens = 0.5f;
    assert_int_equal(eb_train_run(&o, &d, NULL, NULL, &err), EB_OK);
    size_t na, nb;
    float *x = load_tensor(a, "classifier.weight", &na),
          *y = load_tensor(b, "classifier.weight", &nb);
    assert_int_equal(na, nb);
    assert_true(memcmp(x, y, na * sizeof(float)) != 0);
    free(x), free(y);
    o.mask_tokens = 1.0f;
    assert_int_equal(eb_train_run(&o, &d, NULL, NULL, &err), EB_ERR_ARG);
    assert_non_null(strstr(err.msg, "mask_tokens:"));
    finish(&d);
}

static double zero_frac(const char *dir, const char *name) {
    size_t n;
    float *x = load_tensor(dir, name, &n);
    size_t z = 0;
    for (size_t i = 0; i < n; i++)
        z += x[i] == 0.0f;
    free(x);
    return (double)z / n;
}

static void test_pruning_and_spans(void **state) {
    (void)state;
    char cfg[PATH_CAP], out[PATH_CAP];
    eb_train_data d;
    start(cfg, 2, &d, 128, 3);
    tmp_path(out, "m");
    eb_error err;
    /* method 3: movement pruning with the huge span penalty and --ema: the average must not
     * keep a head a hair above -R (the trained span sits at -R; an average only nears it) */
    for (int method = 1; method <= 3; method++) {
        eb_train_options o = opts(cfg, out);
        o.prune = method == 3 ? EB_PRUNE_MOVEMENT : (eb_prune_method)method;
        o.ema = method == 3 ? 0.9f : 0.0f;
        o.keep = 0.3f;
        o.emb_prune_pct = 50;
        o.freeze_embeddings = 1;
        o.span = 1;
        o.span_coeff = method != 2 ? 10.0f : 0.0f; /* a huge penalty switches every head off */
        o.span_lr = 2.0f;
        eb_train_report r;
        assert_int_equal(eb_train_run(&o, &d, NULL, &r, &err), EB_OK);
        const char *q =
            "albert.encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight";
        assert_float_equal(zero_frac(out, q), 0.7, 0.01);
        assert_float_equal(r.sparsity, 0.7, 0.01);
        /* embeddings: 50th percentile at the end (p = 50 * min(1, 0.9/0.7)) */
        assert_float_equal(zero_frac(out, "albert.embeddings.word_embeddings.weight"), 0.5, 0.02);
        size_t n;
        float *z = load_tensor(
            out, "albert.encoder.albert_layer_groups.0.albert_layers.0.attention.span", &n);
        for (size_t h = 0; h < n; h++) {
            if (method != 2)
                assert_float_equal(z[h], -4.0f, 0); /* clamped at -R: off */
            else
                assert_true(z[h] > 0);
        }
        assert_int_equal(r.heads_off, method != 2 ? 2 : 0);
        free(z);
        rm_rf(out);
    }
    finish(&d);
}

/* The embeddings reach their percentile at 80 % of the run, not after its last step, so the
 * network trains on them pruned: a one-epoch run stopped at 6 of 7 steps is already pruned. */
static void test_embedding_prune_schedule(void **state) {
    (void)state;
    char cfg[PATH_CAP], out[PATH_CAP];
    eb_train_data d;
    start(cfg, 2, &d, 100, 3); /* batch 16: 7 steps */
    tmp_path(out, "m");
    eb_error err;
    eb_train_options o = opts(cfg, out);
    o.epochs = 1;
    o.emb_prune_pct = 40;
    o.freeze_embeddings = 1;
    o.max_steps = 1; /* f = 1/7 < 0.1 + 0.7 * (some): 40 * (1/7 - 0.1) / 0.7 = 2.4th percentile */
    assert_int_equal(eb_train_run(&o, &d, NULL, NULL, &err), EB_OK);
    double z1 = zero_frac(out, "albert.embeddings.word_embeddings.weight");
    assert_true(z1 < 0.06);
    o.max_steps = 5; /* step 6 of 7: f = 0.857 > 0.8, the whole 40th percentile */
    o.resume = 1;
    assert_int_equal(eb_train_run(&o, &d, NULL, NULL, &err), EB_OK);
    assert_float_equal(zero_frac(out, "albert.embeddings.word_embeddings.weight"), 0.4, 0.02);
    assert_float_equal(eb_emb_prune_percentile(6, 7, 40), 40, 1e-12);
    assert_float_equal(eb_emb_prune_percentile(1, 7, 40), 40 * (1.0 / 7 - 0.1) / 0.7, 1e-9);
    finish(&d);
}

/* --emb-prune in masked-LM pretraining: the shared embeddings reach their percentile there,
 * and a classifier fine-tuned from them (embeddings trainable) keeps every pruned one zero. */
static void test_mlm_embedding_prune(void **state) {
    (void)state;
    char cfg[PATH_CAP], out[PATH_CAP], cls[PATH_CAP];
    eb_train_data d;
    start(cfg, 2, &d, 96, 11);
    tmp_path(out, "mlm");
    tmp_path(cls, "cls");
    eb_error err;
    eb_train_options o = opts(cfg, out);
    o.phase = EB_PHASE_MLM;
    o.epochs = 2;
    o.emb_prune_pct = 50;
    assert_int_equal(eb_train_run(&o, &d, NULL, NULL, &err), EB_OK);
    const char *we = "albert.embeddings.word_embeddings.weight";
    assert_float_equal(zero_frac(out, we), 0.5, 0.02);
    assert_float_equal(zero_frac(out, "albert.encoder.embedding_hidden_mapping_in.weight"), 0.5,
                       0.02);
    eb_train_options oc = opts(NULL, cls);
    oc.init_dir = out;
    oc.epochs = 1;
    assert_int_equal(eb_train_run(&oc, &d, NULL, NULL, &err), EB_OK);
    size_t na, nb, moved = 0;
    float *a = load_tensor(out, we, &na), *b = load_tensor(cls, we, &nb);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        if (a[i] == 0.0f) assert_true(b[i] == 0.0f);
        moved += a[i] != b[i];
    }
    assert_true(moved > 0); /* the kept ones did train */
    free(a), free(b);
    finish(&d);
}

static void test_offramps_predictor(void **state) {
    (void)state;
    char cfg[PATH_CAP], a[PATH_CAP], b[PATH_CAP], c[PATH_CAP];
    eb_train_data d;
    start(cfg, 4, &d, 128, 4);
    tmp_path(a, "a");
    tmp_path(b, "b");
    tmp_path(c, "c");
    eb_error err;
    eb_train_options o = opts(cfg, a);
    o.epochs = 2;
    assert_int_equal(eb_train_run(&o, &d, NULL, NULL, &err), EB_OK);
    o.config_path = NULL;
    o.init_dir = a;
    o.out_dir = b;
    o.phase = EB_PHASE_OFFRAMPS;
    o.epochs = 3;
    eb_train_report r;
    assert_int_equal(eb_train_run(&o, &d, &d, &r, &err), EB_OK);
    const char *same[] = {"albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight",
                          "albert.pooler.weight", "classifier.bias"};
    for (int i = 0; i < 3; i++) {
        size_t na, nb;
        float *x = load_tensor(a, same[i], &na), *y = load_tensor(b, same[i], &nb);
        assert_memory_equal(x, y, na * sizeof(float));
        free(x), free(y);
    }
    size_t n;
    float *r0 = load_tensor(b, "albert.encoder.highway.0.classifier.weight", &n);
    free(r0);
    /* predictor after layer 1: 100 rows x (1 + L-1-p) = 3 columns */
    o.init_dir = b;
    o.out_dir = c;
    o.phase = EB_PHASE_PREDICTOR;
    assert_int_equal(eb_train_run(&o, &d, NULL, &r, &err), EB_OK);
    char path[400], line[1000];
    snprintf(path, sizeof path, "%s/exit_lut.csv", c);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        int cols = 1;
        for (char *p = line; *p; p++)
            cols += *p == ',';
        assert_int_equal(cols, 3);
        double v[3];
        assert_int_equal(sscanf(line, "%lf,%lf,%lf", &v[0], &v[1], &v[2]), 3);
        assert_float_equal(v[0], rows * 0.01, 1e-12);
        assert_true(v[1] >= 0 && v[2] >= 0);
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 100);
    finish(&d);
}

/* Pure distillation (a_ce = 0) from a trained teacher into a fresh student
 * that never sees the labels: it learns the teacher's answers. */
static void test_distillation(void **state) {
    (void)state;
    char cfg[PATH_CAP], a[PATH_CAP], b[PATH_CAP];
    eb_train_data d;
    start(cfg, 2, &d, 256, 6);
    tmp_path(a, "teacher");
    tmp_path(b, "student");
    eb_error err;
    eb_train_options o = opts(cfg, a);
    o.epochs = 15;
    eb_train_report r;
    assert_int_equal(eb_train_run(&o, &d, &d, &r, &err), EB_OK);
    assert_true(r.dev_accuracy > 0.9);
    /* the labels are scrambled for the student: only the teacher can teach */
    eb_train_data wrong;
    synth(&wrong, 256, 6);
    for (int i = 0; i < wrong.n; i++)
        wrong.ex[i].label = i & 1;
    o.out_dir = b;
    o.teacher_dir = a;
    o.seed = 99;
    o.kd_alpha_distil = 1.0f;
    o.kd_alpha_ce = 0.0f;
    o.kd_temperature = 2.0f;
    assert_int_equal(eb_train_run(&o, &wrong, &d, &r, &err), EB_OK);
    assert_true(r.dev_accuracy > 0.85); /* measured against the true labels */
    /* an ensemble "a,a" is the mean of equal logits: the same student, bit for bit */
    char b2[PATH_CAP], pair[2 * PATH_CAP + 2];
    tmp_path(b2, "student2");
    snprintf(pair, sizeof pair, "%s,%s", a, a);
    o.out_dir = b2;
    o.teacher_dir = pair;
    assert_int_equal(eb_train_run(&o, &wrong, &d, &r, &err), EB_OK);
    size_t n1, n2;
    float *w1 = load_tensor(b, "classifier.weight", &n1),
          *w2 = load_tensor(b2, "classifier.weight", &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(w1, w2, n1 * sizeof(float));
    free(w1), free(w2);
    /* a second, different teacher changes what is distilled: "a,c" != "a" */
    char c[PATH_CAP];
    tmp_path(c, "teacher_c");
    eb_train_options oc = opts(cfg, c);
    oc.epochs = 2;
    oc.seed = 7;
    assert_int_equal(eb_train_run(&oc, &wrong, NULL, NULL, &err), EB_OK);
    snprintf(pair, sizeof pair, "%s,%s", a, c);
    assert_int_equal(eb_train_run(&o, &wrong, &d, &r, &err), EB_OK);
    w1 = load_tensor(b, "classifier.weight", &n1), w2 = load_tensor(b2, "classifier.weight", &n2);
    assert_true(memcmp(w1, w2, n1 * sizeof(float)) != 0);
    free(w1), free(w2);
    /* an empty list, an empty entry or a missing teacher is an error */
    pair[0] = 0;
    assert_int_equal(eb_train_run(&o, &wrong, &d, &r, &err), EB_ERR_ARG);
    snprintf(pair, sizeof pair, "%s,,%s", a, a);
    assert_int_equal(eb_train_run(&o, &wrong, &d, &r, &err), EB_ERR_ARG);
    snprintf(pair, sizeof pair, "%s,%s/nope", a, tmpdir);
    assert_int_not_equal(eb_train_run(&o, &wrong, &d, &r, &err), EB_OK);
    eb_train_data_free(&wrong);
    finish(&d);
}

/* eb_train_options_check refuses b with a message naming field ("field: ..."). */
static void check_bad(const eb_train_options *b, const char *field) {
    eb_error err = {0};
    char want[64];
    snprintf(want, sizeof want, "%s:", field);
    if (eb_train_options_check(b, &err) != EB_ERR_ARG || !strstr(err.msg, want))
        fail_msg("%s: status %d, message \"%s\"", field, (int)err.status, err.msg);
}

/* Every option checked before any work: each bad field refused by name, no file read (the
 * paths below do not exist), and eb_train_run refuses the same before it loads anything. */
static void test_options_check(void **state) {
    (void)state;
    eb_error err = {0};
    const eb_train_options o = opts("/nonexistent/config.json", "/nonexistent/out");
    assert_int_equal(eb_train_options_check(&o, &err), EB_OK);
#define BAD(field, stmt)                                                                           \
    do {                                                                                           \
        eb_train_options b = o;                                                                    \
        stmt;                                                                                      \
        check_bad(&b, field);                                                                      \
    } while (0)
    BAD("out_dir", b.out_dir = NULL);
    BAD("out_dir", b.out_dir = "");
    BAD("init_dir", b.config_path = NULL);
    BAD("phase", b.phase = (eb_train_phase)7);
    BAD("prune", b.prune = (eb_prune_method)3);
    BAD("epochs", b.epochs = 0);
    BAD("lr", b.lr = 0);
    BAD("lr", b.lr = NAN);
    BAD("lr", b.lr = INFINITY);
    BAD("batch", b.batch = 0);
    BAD("max_len", b.max_len = 1);
    BAD("max_len", b.max_len = EB_MAX_TOKENS + 1);
    BAD("warmup", b.warmup = -1);
    BAD("weight_decay", b.weight_decay = -0.1f);
    BAD("clip", b.clip = -1);
    BAD("dropout", b.dropout = 1);
    BAD("hidden_dropout", b.hidden_dropout = 1);
    BAD("hidden_dropout", b.hidden_dropout = -0.1f);
    BAD("hidden_dropout", b.hidden_dropout = NAN);
    BAD("kd_temperature", b.kd_temperature = 0);
    BAD("kd_alpha_distil", b.kd_alpha_distil = -1);
    BAD("kd_alpha_ce", b.kd_alpha_ce = NAN);
    BAD("keep", (b.prune = EB_PRUNE_MOVEMENT, b.keep = 0));
    BAD("keep", (b.prune = EB_PRUNE_MAGNITUDE, b.keep = 1.5f));
    BAD("prune_iw", b.prune_iw = -1);
    BAD("prune_fw", b.prune_fw = -1);
    BAD("score_lr", b.score_lr = -1);
    BAD("span_coeff", b.span_coeff = -1);
    BAD("span_lr", b.span_lr = -1);
    BAD("span_max", b.span_max = -1);
    BAD("span_ramp", b.span_ramp = -1);
    BAD("emb_prune_pct", b.emb_prune_pct = 100);
    BAD("adapter_size", b.adapter_size = -1);
    BAD("head_num_labels", b.head_num_labels = EB_MAX_LABELS + 1);
    BAD("truncate_head", b.truncate_head = -1);
    BAD("predict_after", b.predict_after = 0);
    BAD("mlm_prob", b.mlm_prob = 0);
    BAD("mlm_prob", b.mlm_prob = 1);
    BAD("mask_id", b.mask_id = -1);
    BAD("mask_tokens", b.mask_tokens = 1);
    BAD("ema", b.ema = 1);
    BAD("ema", b.ema = -0.5f);
    BAD("eval_every", b.eval_every = -1);
    BAD("save_every", b.save_every = -1);
    BAD("steps", b.steps = -1);
    BAD("max_steps", b.max_steps = -1);
    BAD("log_every", b.log_every = 0);
    BAD("bf16", b.bf16 = 2);
    /* combinations */
    BAD("adapter_size", b.adapter_size = 8); /* no init_dir */
    BAD("adapter_size",
        (b.adapter_size = 8, b.init_dir = "/nonexistent/m", b.phase = EB_PHASE_OFFRAMPS));
    BAD("adapter_size", (b.adapter_size = 8, b.init_dir = "/nonexistent/m", b.span = 1));
    BAD("adapter_size",
        (b.adapter_size = 8, b.init_dir = "/nonexistent/m", b.prune = EB_PRUNE_MOVEMENT));
    BAD("teacher_dir", (b.phase = EB_PHASE_MLM, b.teacher_dir = "/nonexistent/t"));
    BAD("init_dir", b.phase = EB_PHASE_PREDICTOR);
    BAD("teacher_dir", b.teacher_dir = "");
    BAD("teacher_dir", b.teacher_dir = "/nonexistent/a,,/nonexistent/b");
    BAD("teacher_dir", b.teacher_dir = "/nonexistent/a,");
#undef BAD
    /* what is fine */
    eb_train_options g = o;
    g.keep = 0; /* without pruning, keep is not used */
    g.teacher_dir = "/nonexistent/a,/nonexistent/b";
    g.adapter_size = 8;
    g.init_dir = "/nonexistent/m";
    assert_int_equal(eb_train_options_check(&g, &err), EB_OK);
    /* the message: the field, the rule, the value */
    g = o;
    g.hidden_dropout = 1.5f;
    assert_int_equal(eb_train_options_check(&g, &err), EB_ERR_ARG);
    assert_string_equal(err.msg, "train: hidden_dropout: must be in [0, 1), got 1.5");
    /* eb_train_run: the same refusal before the model, the data or the teacher is read */
    eb_train_data d;
    synth(&d, 8, 1);
    g.teacher_dir = "/nonexistent/t";
    assert_int_equal(eb_train_run(&g, &d, NULL, NULL, &err), EB_ERR_ARG);
    assert_string_equal(err.msg, "train: hidden_dropout: must be in [0, 1), got 1.5");
    eb_train_data_free(&d);
}

typedef struct last_progress {
    long step, total;
    double lr;
} last_progress;
static int keep_progress(void *ud, const eb_progress *p) {
    last_progress *l = ud;
    if (p->report && !strcmp(p->phase, "train"))
        l->step = p->done, l->total = p->total, l->lr = p->lr;
    return 0;
}

/* --steps: exactly that many steps, the schedule spanning them (warm-up 1 step,
 * then linear decay: the last step's rate is lr * 1/9). */
static void test_steps_option(void **state) {
    (void)state;
    char cfg[PATH_CAP], out[PATH_CAP];
    eb_train_data d;
    start(cfg, 2, &d, 256, 7);
    tmp_path(out, "m");
    eb_error err;
    eb_train_options o = opts(cfg, out);
    o.steps = 10;
    o.log_every = 1;
    last_progress lp = {0};
    o.progress = keep_progress;
    o.progress_ud = &lp;
    eb_train_report r;
    assert_int_equal(eb_train_run(&o, &d, NULL, &r, &err), EB_OK);
    assert_int_equal(r.steps, 10);
    assert_int_equal(lp.total, 10);
    assert_int_equal(lp.step, 10);
    assert_float_equal(lp.lr, o.lr / 9.0, 1e-9);
    finish(&d);
}

static int stop_now(void *ud, const eb_progress *p) {
    (void)ud, (void)p;
    return 1;
}

static void test_nan_and_interrupt(void **state) {
    (void)state;
    char cfg[PATH_CAP], a[PATH_CAP], b[PATH_CAP], path[400];
    eb_train_data d;
    start(cfg, 2, &d, 64, 5);
    tmp_path(a, "a");
    tmp_path(b, "b");
    eb_error err;
    /* interruption: the callback asks to stop at once -> one step, saved, EB_ERR_INTERRUPTED */
    eb_train_options o = opts(cfg, a);
    o.progress = stop_now;
    eb_train_report r;
    assert_int_equal(eb_train_run(&o, &d, NULL, &r, &err), EB_ERR_INTERRUPTED);
    assert_int_equal(r.steps, 1);
    assert_non_null(strstr(err.msg, "resume continues"));
    snprintf(path, sizeof path, "%s/train_state.safetensors", a);
    assert_int_equal(access(path, R_OK), 0);
    /* a stop while the teacher labels the training set: no step, nothing saved */
    char c[PATH_CAP];
    tmp_path(c, "c");
    eb_train_options ot = opts(cfg, c);
    ot.teacher_dir = a;
    ot.progress = stop_now;
    assert_int_equal(eb_train_run(&ot, &d, NULL, &r, &err), EB_ERR_INTERRUPTED);
    assert_non_null(strstr(err.msg, "teacher"));
    snprintf(path, sizeof path, "%s/train_state.safetensors", c);
    assert_int_not_equal(access(path, R_OK), 0);
    /* NaN in a weight -> EB_ERR_NUMERIC with a clear message */
    eb_tmodel m;
    assert_int_equal(eb_trainer_load_model(&m, NULL, a, 0, 0, 0, 0, 0, &err), EB_OK);
    m.P.pooler.w[3] = NAN;
    assert_int_equal(eb_tm_save_hf(&m, b, &err), EB_OK);
    eb_tm_free(&m);
    o = opts(NULL, a);
    o.init_dir = b;
    assert_int_equal(eb_train_run(&o, &d, NULL, &r, &err), EB_ERR_NUMERIC);
    assert_non_null(strstr(err.msg, "NaN"));
    finish(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_options_check),
        cmocka_unit_test(test_loss_falls_and_engine_agrees),
        cmocka_unit_test(test_mlm_pretraining),
        cmocka_unit_test(test_init_from_config),
        cmocka_unit_test(test_hidden_dropout_gradients),
        cmocka_unit_test(test_shards_match_the_batch),
        cmocka_unit_test(test_resume_is_exact),
        cmocka_unit_test(test_mask_tokens),
        cmocka_unit_test(test_weight_average),
        cmocka_unit_test(test_pruning_and_spans),
        cmocka_unit_test(test_embedding_prune_schedule),
        cmocka_unit_test(test_mlm_embedding_prune),
        cmocka_unit_test(test_offramps_predictor),
        cmocka_unit_test(test_distillation),
        cmocka_unit_test(test_steps_option),
        cmocka_unit_test(test_nan_and_interrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
