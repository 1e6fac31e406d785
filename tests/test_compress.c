/* test_compress.c - the engine's compressed execution paths: the af8 path
 * against a scalar AdaptivFloat8 reference written here, fp32 vs af8 on a
 * random model, the bitmask sparse kernel against the dense path on a
 * pruned model, attention heads skipped by their spans (same logits as the
 * full computation, weights never read, FLOPs counted by hand), and bundles. */
#include "testutil.h"

#include <math.h>
#include <unistd.h>

#include "edgebert.h"
#include "edgebert/quant.h"
#include "kernels/kernels.h"
#include "model/bundle.h"
#include "model/config.h"
#include "model/model_internal.h"
#include "model/safetensors.h"
#include "util/util.h"

/* ---- a random checkpoint written by the test ------------------------- */

typedef struct spec {
    int V, E, H, NH, I, L, P, C;
    double keep;         /* encoder matrices: keep this fraction by magnitude (1 = dense) */
    const float *span_z; /* [NH] or NULL (shared by the one layer group) */
    float span_ramp;
    const uint8_t *poison; /* [NH]: NaN into the Q/K/V rows and O columns of these heads */
    uint64_t seed;
    eb_activation act;
    int adapter; /* adapter bottleneck size r (0 = no adapters) */
} spec;

typedef struct fixture {
    char dir[256];
} fixture;

static void fill(float *p, size_t n, uint64_t *rng, float scale, float offset) {
    for (size_t i = 0; i < n; i++)
        p[i] = offset + scale * (eb_test_uniform(rng) * 2 - 1);
}

static void make_model(fixture *fx, const spec *sp) {
    snprintf(fx->dir, sizeof fx->dir, "/tmp/eb_test_compress_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    const int V = sp->V, E = sp->E, H = sp->H, I = sp->I, P = sp->P, C = sp->C, NH = sp->NH;
    const int HS = H / NH;
    size_t total = (size_t)V * E + (size_t)P * E + 2 * E + 2 * E + (size_t)H * E + H +
                   4 * ((size_t)H * H + H) + 4 * H + (size_t)I * H + I + (size_t)H * I + H +
                   (size_t)H * H + H + (size_t)C * H + C + NH +
                   (size_t)sp->L * 2 * (2 * (size_t)sp->adapter * H + sp->adapter + H);
    float *buf = malloc(sizeof(float) * total), *p = buf;
    assert_non_null(buf);
    eb_st_entry e[128];
    static char names[128][256];
    int n = 0;
    uint64_t rng = sp->seed;
#define ADD(nm, d0, d1, scale, off)                                                                \
    do {                                                                                           \
        snprintf(names[n], sizeof names[n], "%s", nm);                                             \
        size_t cnt_ = (size_t)(d0) * ((d1) ? (d1) : 1);                                            \
        fill(p, cnt_, &rng, scale, off);                                                           \
        e[n].name = names[n];                                                                      \
        e[n].data = p;                                                                             \
        e[n].ndim = (d1) ? 2 : 1;                                                                  \
        e[n].shape[0] = d0;                                                                        \
        e[n].shape[1] = d1;                                                                        \
        p += cnt_;                                                                                 \
        n++;                                                                                       \
    } while (0)
    ADD("albert.embeddings.word_embeddings.weight", V, E, 1.0f, 0);
    ADD("albert.embeddings.position_embeddings.weight", P, E, 0.3f, 0);
    ADD("albert.embeddings.token_type_embeddings.weight", 2, E, 0.3f, 0);
    ADD("albert.embeddings.LayerNorm.weight", E, 0, 0.1f, 1);
    ADD("albert.embeddings.LayerNorm.bias", E, 0, 0.1f, 0);
    ADD("albert.encoder.embedding_hidden_mapping_in.weight", H, E, 0.5f, 0);
    ADD("albert.encoder.embedding_hidden_mapping_in.bias", H, 0, 0.1f, 0);
    const char *pre = "albert.encoder.albert_layer_groups.0.albert_layers.0.";
    const char *lin[] = {"attention.query", "attention.key", "attention.value", "attention.dense"};
    char nm[200];
    float *wq[4];
    for (int k = 0; k < 4; k++) {
        snprintf(nm, sizeof nm, "%s%s.weight", pre, lin[k]);
        wq[k] = p;
        ADD(nm, H, H, 0.6f, 0);
        snprintf(nm, sizeof nm, "%s%s.bias", pre, lin[k]);
        ADD(nm, H, 0, 0.1f, 0);
    }
    float *wffn[2];
    snprintf(nm, sizeof nm, "%sattention.LayerNorm.weight", pre);
    ADD(nm, H, 0, 0.1f, 1);
    snprintf(nm, sizeof nm, "%sattention.LayerNorm.bias", pre);
    ADD(nm, H, 0, 0.1f, 0);
    snprintf(nm, sizeof nm, "%sffn.weight", pre);
    wffn[0] = p;
    ADD(nm, I, H, 0.5f, 0);
    snprintf(nm, sizeof nm, "%sffn.bias", pre);
    ADD(nm, I, 0, 0.1f, 0);
    snprintf(nm, sizeof nm, "%sffn_output.weight", pre);
    wffn[1] = p;
    ADD(nm, H, I, 0.4f, 0);
    snprintf(nm, sizeof nm, "%sffn_output.bias", pre);
    ADD(nm, H, 0, 0.1f, 0);
    snprintf(nm, sizeof nm, "%sfull_layer_layer_norm.weight", pre);
    ADD(nm, H, 0, 0.1f, 1);
    snprintf(nm, sizeof nm, "%sfull_layer_layer_norm.bias", pre);
    ADD(nm, H, 0, 0.1f, 0);
    ADD("albert.pooler.weight", H, H, 0.5f, 0);
    ADD("albert.pooler.bias", H, 0, 0.1f, 0);
    ADD("classifier.weight", C, H, 1.0f, 0);
    ADD("classifier.bias", C, 0, 0.5f, 0);
    if (sp->span_z) {
        snprintf(nm, sizeof nm, "%sattention.span", pre);
        ADD(nm, NH, 0, 0, 0);
        memcpy(p - NH, sp->span_z, sizeof(float) * (size_t)NH);
    }
    for (int l = 0; l < (sp->adapter ? sp->L : 0); l++) {
        const char *part[2] = {"attn", "ffn"};
        for (int k = 0; k < 2; k++) {
            snprintf(nm, sizeof nm, "%sadapters.%d.%s.down.weight", pre, l, part[k]);
            ADD(nm, sp->adapter, H, 0.6f, 0);
            snprintf(nm, sizeof nm, "%sadapters.%d.%s.down.bias", pre, l, part[k]);
            ADD(nm, sp->adapter, 0, 0.1f, 0);
            snprintf(nm, sizeof nm, "%sadapters.%d.%s.up.weight", pre, l, part[k]);
            ADD(nm, H, sp->adapter, 0.6f, 0);
            snprintf(nm, sizeof nm, "%sadapters.%d.%s.up.bias", pre, l, part[k]);
            ADD(nm, H, 0, 0.1f, 0);
        }
    }
#undef ADD
    eb_error err = {0};
    if (sp->keep < 1.0) {
        for (int k = 0; k < 4; k++)
            assert_int_equal(eb_prune_magnitude(wq[k], (size_t)H * H, sp->keep, NULL, NULL, &err),
                             EB_OK);
        for (int k = 0; k < 2; k++)
            assert_int_equal(eb_prune_magnitude(wffn[k], (size_t)H * I, sp->keep, NULL, NULL, &err),
                             EB_OK);
    }
    if (sp->poison) {
        for (int h = 0; h < NH; h++) {
            if (!sp->poison[h]) continue;
            for (int k = 0; k < 3; k++)
                for (int r = h * HS; r < h * HS + HS; r++)
                    for (int c = 0; c < H; c++)
                        wq[k][(size_t)r * H + c] = NAN;
            for (int r = 0; r < H; r++)
                for (int c = h * HS; c < h * HS + HS; c++)
                    wq[3][(size_t)r * H + c] = NAN;
        }
    }
    char path[400];
    snprintf(path, sizeof path, "%s/model.safetensors", fx->dir);
    assert_int_equal(eb_st_write(path, e, n, EB_DTYPE_F32, NULL, &err), EB_OK);
    free(buf);
    eb_config cfg;
    eb_model_extras x;
    eb_config_default(&cfg, &x);
    cfg.vocab_size = V, cfg.embedding_size = E, cfg.hidden_size = H, cfg.num_hidden_layers = sp->L;
    cfg.num_attention_heads = NH, cfg.intermediate_size = I, cfg.max_position_embeddings = P;
    cfg.num_labels = C;
    cfg.hidden_act = sp->act;
    if (sp->span_z) x.span_ramp = sp->span_ramp;
    x.adapter_size = sp->adapter;
    char *js = eb_config_to_json(&cfg, &x);
    snprintf(path, sizeof path, "%s/config.json", fx->dir);
    assert_int_equal(eb_write_file_atomic(path, js, strlen(js), &err), EB_OK);
    free(js);
}

static void drop_model(fixture *fx) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
}

static spec small_spec(uint64_t seed) {
    spec s = {50, 8, 16, 2, 24, 2, 16, 3, 1.0, NULL, 4.0f, NULL, seed, EB_ACT_GELU_NEW, 0};
    return s;
}

static void random_ids(int32_t *ids, int n, int V, uint64_t *rng) {
    for (int i = 0; i < n; i++)
        ids[i] = (int32_t)(eb_test_rng(rng) % (uint64_t)V);
}

/* ---- scalar AdaptivFloat8 reference ---------------------------------- */

/* bias = clamp(floor(log2 max|x|) + 3, 0, 7), written out again here */
static int ref_bias(const float *x, size_t n) {
    float mx = 0;
    for (size_t i = 0; i < n; i++)
        mx = fabsf(x[i]) > mx ? fabsf(x[i]) : mx;
    if (mx == 0) return 0;
    int b = (int)floor(log2((double)mx)) + 3;
    return b < 0 ? 0 : b > 7 ? 7 : b;
}

static void ref_q(float *x, size_t n) {
    int b = ref_bias(x, n);
    for (size_t i = 0; i < n; i++)
        x[i] = eb_af8_to_float(eb_af8_from_float(x[i], b, EB_AF8_NEAREST), b);
}

/* y[N,OC] = q(q(x) . q(W)^T + b), products and sums in double, a copy of x */
static void ref_lin(float *y, const float *x, const eb_linear *l, int N) {
    const int C = l->in, OC = l->out;
    float *xq = malloc(sizeof(float) * (size_t)N * C), *wq = malloc(sizeof(float) * (size_t)OC * C);
    memcpy(xq, x, sizeof(float) * (size_t)N * C);
    memcpy(wq, l->w, sizeof(float) * (size_t)OC * C);
    ref_q(xq, (size_t)N * C);
    ref_q(wq, (size_t)OC * C);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double acc = 0;
            for (int c = 0; c < C; c++)
                acc += (double)xq[(size_t)n * C + c] * (double)wq[(size_t)o * C + c];
            if (l->b) acc += l->b[o];
            y[(size_t)n * OC + o] = (float)acc;
        }
    ref_q(y, (size_t)N * OC);
    free(xq);
    free(wq);
}

/* a[N,H] += q(up(gelu_new(q(down(a))))), the adapter in AF8 arithmetic */
static void ref_adapter(float *a, const eb_adapter *A, int N, int H) {
    const int r = A->down.out;
    float *t = malloc(sizeof(float) * (size_t)N * r), *u = malloc(sizeof(float) * (size_t)N * H);
    ref_lin(t, a, &A->down, N);
    eb_gelu_new(t, (size_t)N * r);
    ref_lin(u, t, &A->up, N);
    for (int i = 0; i < N * H; i++)
        a[i] += u[i];
    free(t), free(u);
}

/* The whole af8 forward of a one-group model without off-ramps; the fp32
 * steps (LayerNorm, softmax, GELU, tanh) use the engine's fp32 kernels,
 * which are tested against numpy elsewhere. */
static void ref_forward_af8(float *logits, const eb_model_task *t, const int32_t *ids, int N) {
    const eb_config *c = &t->cfg;
    const eb_albert_weights *w = &t->w;
    const int E = c->embedding_size, H = c->hidden_size, I = c->intermediate_size,
              NH = c->num_attention_heads;
    const int HS = H / NH;
    float *we = malloc(sizeof(float) * (size_t)c->vocab_size * E),
          *pe = malloc(sizeof(float) * (size_t)c->max_position_embeddings * E);
    float te[64];
    memcpy(we, w->word_emb, sizeof(float) * (size_t)c->vocab_size * E);
    memcpy(pe, w->pos_emb, sizeof(float) * (size_t)c->max_position_embeddings * E);
    memcpy(te, w->type_emb, sizeof(float) * (size_t)2 * E);
    ref_q(we, (size_t)c->vocab_size * E);
    ref_q(pe, (size_t)c->max_position_embeddings * E);
    ref_q(te, (size_t)2 * E);
    float *emb = malloc(sizeof(float) * (size_t)N * E), *h = malloc(sizeof(float) * (size_t)N * H);
    float *q = malloc(sizeof(float) * (size_t)N * H), *k = malloc(sizeof(float) * (size_t)N * H);
    float *v = malloc(sizeof(float) * (size_t)N * H), *ctx = malloc(sizeof(float) * (size_t)N * H);
    float *a = malloc(sizeof(float) * (size_t)N * H), *f = malloc(sizeof(float) * (size_t)N * I);
    float *A = malloc(sizeof(float) * (size_t)N * N);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < E; j++)
            emb[i * E + j] = we[ids[i] * E + j] + pe[i * E + j] + te[j];
    eb_layernorm(emb, emb, w->emb_ln.g, w->emb_ln.b, N, E, c->layer_norm_eps);
    ref_lin(h, emb, &w->map_in, N);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        const eb_albert_layer *L = &w->layers[0];
        ref_lin(q, h, &L->q, N);
        ref_lin(k, h, &L->k, N);
        ref_lin(v, h, &L->v, N);
        memset(ctx, 0, sizeof(float) * (size_t)N * H);
        for (int hd = 0; hd < NH; hd++) {
            for (int i = 0; i < N; i++) {
                double mx = -1e30;
                for (int j = 0; j < N; j++) {
                    double s = 0;
                    for (int d = 0; d < HS; d++)
                        s += (double)q[i * H + hd * HS + d] * k[j * H + hd * HS + d];
                    A[i * N + j] = (float)(s / sqrt((double)HS));
                    mx = fmax(mx, A[i * N + j]);
                }
                double sum = 0;
                for (int j = 0; j < N; j++)
                    sum += exp(A[i * N + j] - mx);
                for (int j = 0; j < N; j++)
                    A[i * N + j] = (float)(exp(A[i * N + j] - mx) / sum);
            }
            ref_q(A, (size_t)N * N);
            for (int i = 0; i < N; i++)
                for (int d = 0; d < HS; d++) {
                    double s = 0;
                    for (int j = 0; j < N; j++)
                        s += (double)A[i * N + j] * v[j * H + hd * HS + d];
                    ctx[i * H + hd * HS + d] = (float)s;
                }
        }
        ref_lin(a, ctx, &L->o, N);
        if (w->adapters) ref_adapter(a, &w->adapters[l].attn, N, H);
        eb_add_layernorm(h, h, a, L->attn_ln.g, L->attn_ln.b, N, H, c->layer_norm_eps);
        ref_lin(f, h, &L->ffn, N);
        eb_gelu_new(f, (size_t)N * I);
        ref_lin(a, f, &L->ffn_out, N);
        if (w->adapters) ref_adapter(a, &w->adapters[l].ffn, N, H);
        eb_add_layernorm(h, h, a, L->out_ln.g, L->out_ln.b, N, H, c->layer_norm_eps);
    }
    float pooled[256];
    ref_lin(pooled, h, &w->pooler, 1);
    eb_tanh_inplace(pooled, (size_t)H);
    ref_lin(logits, pooled, &w->classifier, 1);
    free(we), free(pe), free(emb), free(h), free(q), free(k), free(v), free(ctx), free(a), free(f),
        free(A);
}

/* ---- tests ------------------------------------------------------------ */

/* the scalar reference's quantised matmul is the library's accelerator
 * matmul (a check of the reference itself) */
static void test_ref_lin_is_af8_matmul(void **state) {
    (void)state;
    enum { N = 5, C = 37, OC = 11 };
    uint64_t rng = 7;
    float x[N * C], w[OC * C], b[OC], y[N * OC], xq[N * C];
    fill(x, N * C, &rng, 3.0f, 0);
    fill(w, OC * C, &rng, 0.5f, 0);
    fill(b, OC, &rng, 0.2f, 0);
    for (int i = 0; i < OC * C; i += 3)
        w[i] = 0;
    eb_linear l = {w, b, OC, C, NULL, NULL, NULL, NULL, NULL};
    ref_lin(y, x, &l, N);
    eb_error err = {0};
    eb_bitmask bm;
    assert_int_equal(eb_bitmask_encode_af8(&bm, w, OC, C, -1, EB_AF8_NEAREST, NULL, &err), EB_OK);
    uint8_t xc[N * C], yc[N * OC];
    memcpy(xq, x, sizeof x);
    int xb = ref_bias(x, N * C);
    eb_af8_encode(xc, x, N * C, xb, EB_AF8_NEAREST);
    int yb;
    assert_int_equal(eb_af8_matmul(yc, &yb, NULL, xc, xb, &bm, b, N, NULL, &err), EB_OK);
    for (int i = 0; i < N * OC; i++)
        assert_true(eb_af8_to_float(yc[i], yb) == y[i]);
    eb_bitmask_free(&bm);
}

static void af8_vs_scalar_reference(spec sp) {
    fixture fx;
    make_model(&fx, &sp);
    eb_model *m;
    eb_error err = {0};
    assert_int_equal(eb_model_load(fx.dir, NULL, &m, &err), EB_OK);
    eb_context *ctx;
    assert_int_equal(eb_context_new(m, &ctx, &err), EB_OK);
    eb_run_params p = eb_run_params_default();
    p.policy = EB_POLICY_BASE;
    p.precision = EB_PRECISION_AF8;
    uint64_t rng = 99;
    int exact = 0, trials = 20;
    for (int t = 0; t < trials; t++) {
        int32_t ids[12];
        int n = 3 + t % 10;
        random_ids(ids, n, sp.V, &rng);
        eb_result r;
        assert_int_equal(eb_classify_ids(ctx, ids, NULL, n, &p, &r, &err), EB_OK);
        float ref[EB_MAX_LABELS];
        ref_forward_af8(ref, &m->tasks[0], ids, n);
        int same = 1;
        for (int c = 0; c < sp.C; c++) {
            /* the logits are AF8 values: equal, or (when an fp32 rounding
             * inside attention tipped one quantisation) within a few steps */
            assert_float_equal(r.logits[c], ref[c], 0.15 * fabsf(ref[c]) + 1e-6);
            same &= r.logits[c] == ref[c];
        }
        exact += same;
    }
    print_message("af8 path vs scalar reference: %d of %d sentences bit-identical\n", exact,
                  trials);
    assert_true(exact >= trials - 2);
    eb_context_free(ctx);
    eb_model_free(m);
    drop_model(&fx);
}

static void test_af8_path_matches_scalar_reference(void **state) {
    (void)state;
    af8_vs_scalar_reference(small_spec(21));
}

/* adapter-ALBERT: the adapters of every layer application in AF8 */
static void test_af8_path_with_adapters(void **state) {
    (void)state;
    spec sp = small_spec(23);
    sp.adapter = 4;
    sp.L = 3;
    af8_vs_scalar_reference(sp);
}

/* Two precisions on the same random sentences (4..31 tokens): how often the
 * labels agree, how often the logits are identical, the largest probability
 * change, the bf16 products run; the FLOPs must not depend on the precision. */
typedef struct prec_cmp {
    int agree, same, bf16_calls;
    double dp;
} prec_cmp;

static prec_cmp compare_precisions(eb_context *ctx, const spec *sp, uint64_t seed, eb_precision pa,
                                   eb_precision pb, int trials) {
    prec_cmp r = {0, 0, 0, 0};
    eb_error err = {0};
    eb_run_params p = eb_run_params_default();
    p.policy = EB_POLICY_BASE;
    for (int t = 0; t < trials; t++) {
        int32_t ids[32];
        int n = 4 + t % 28;
        random_ids(ids, n, sp->V, &seed);
        eb_result a, b;
        p.precision = pa;
        assert_int_equal(eb_classify_ids(ctx, ids, NULL, n, &p, &a, &err), EB_OK);
        p.precision = pb;
        assert_int_equal(eb_classify_ids(ctx, ids, NULL, n, &p, &b, &err), EB_OK);
        r.bf16_calls += ctx->ex.bf16_calls;
        r.agree += a.label == b.label;
        int eq = 1;
        for (int c = 0; c < sp->C; c++) {
            r.dp = fmax(r.dp, fabs(a.probs[c] - b.probs[c]));
            eq &= a.logits[c] == b.logits[c];
        }
        r.same += eq;
        assert_true(a.flops == b.flops && a.flops == a.flops_dense);
    }
    return r;
}

/* fp32 vs af8 on a random model: how often the label agrees, how far the
 * probabilities move */
static void test_af8_vs_fp32_random_model(void **state) {
    (void)state;
    spec sp = small_spec(5);
    sp.H = 32, sp.NH = 4, sp.I = 64, sp.E = 16, sp.L = 4, sp.P = 32;
    fixture fx;
    make_model(&fx, &sp);
    eb_model *m;
    eb_error err = {0};
    assert_int_equal(eb_model_load(fx.dir, NULL, &m, &err), EB_OK);
    eb_context *ctx;
    assert_int_equal(eb_context_new(m, &ctx, &err), EB_OK);
    const int trials = 200;
    prec_cmp r = compare_precisions(ctx, &sp, 3, EB_PRECISION_FP32, EB_PRECISION_AF8, trials);
    const int agree = r.agree;
    const double dp = r.dp;
    print_message(
        "random model, %d sentences: fp32 and af8 labels agree on %.1f %%, max |dprob| %.3f\n",
        trials, 100.0 * agree / trials, dp);
    assert_true(agree >= trials * 85 / 100);
    assert_true(dp > 0); /* the af8 path really is another computation */
    eb_context_free(ctx);
    eb_model_free(m);
    drop_model(&fx);
}

/* af8-bf16 against af8 on a random model: the same AF8 values through
 * AVX512-BF16 dot products with fp32 sums.  With AVX512-BF16 the outputs
 * differ from the exact sums only by rounding (and what re-quantisation makes
 * of it); without it, or without the bf16 copies (pack_weights = 0), af8-bf16
 * is af8 exactly. */
static void test_af8_bf16_path(void **state) {
    (void)state;
    spec sp = small_spec(6);
    sp.H = 32, sp.NH = 4, sp.I = 64, sp.E = 16, sp.L = 4, sp.P = 32;
    fixture fx;
    make_model(&fx, &sp);
    for (int pack = 1; pack >= 0; pack--) {
        eb_load_params lp = eb_load_params_default();
        lp.pack_weights = pack;
        eb_model *m;
        eb_error err = {0};
        assert_int_equal(eb_model_load(fx.dir, &lp, &m, &err), EB_OK);
        eb_context *ctx;
        assert_int_equal(eb_context_new(m, &ctx, &err), EB_OK);
        const int trials = 200;
        prec_cmp r =
            compare_precisions(ctx, &sp, 9, EB_PRECISION_AF8, EB_PRECISION_AF8_BF16, trials);
        const int agree = r.agree, same = r.same, bf16_calls = r.bf16_calls;
        const double dp = r.dp;
        const int fast = pack && eb_cpu_has_avx512_bf16();
        print_message("af8-bf16 vs af8 (%s): labels agree on %.1f %%, logits identical on %.1f %%, "
                      "max |dprob| %.4f\n",
                      fast ? "AVX512-BF16" : "fallback", 100.0 * agree / trials,
                      100.0 * same / trials, dp);
        if (fast) {
            assert_true(agree >= trials * 97 / 100);
            assert_true(dp < 0.05);
            assert_true(bf16_calls > 0); /* the bf16 kernel really ran */
        } else {
            assert_int_equal(same, trials);
            assert_int_equal(bf16_calls, 0);
        }
        eb_context_free(ctx);
        eb_model_free(m);
    }
    drop_model(&fx);
}

/* plain fp32 forward (dense BLAS everywhere, all heads computed) */
static void dense_forward(float *logits, eb_context *ctx, const eb_model_task *t,
                          const int32_t *ids, int n) {
    memset(ctx->s.key_valid, 1, (size_t)n);
    eb_albert_embed(&ctx->s, &t->cfg, &t->w, ids, NULL, n);
    for (int l = 0; l < t->cfg.num_hidden_layers; l++)
        eb_albert_layer_apply(&ctx->s, &t->cfg, &t->w, &t->extras, l, n, NULL, NULL);
    eb_albert_classify_at(logits, &ctx->s, &t->cfg, &t->w, t->cfg.num_hidden_layers - 1);
}

static void test_sparse_kernel_equals_dense(void **state) {
    (void)state;
    spec sp = small_spec(8);
    sp.H = 64, sp.NH = 4, sp.I = 128, sp.E = 16, sp.L = 3, sp.P = 160, sp.keep = 0.05;
    fixture fx;
    make_model(&fx, &sp);
    eb_model *m;
    eb_error err = {0};
    assert_int_equal(eb_model_load(fx.dir, NULL, &m, &err), EB_OK);
    const eb_model_task *t = &m->tasks[0];
    const eb_albert_layer *L0 = &t->layers[0];
    assert_non_null(L0->q.sparse);
    assert_non_null(L0->ffn_out.sparse);
    assert_null(t->w.map_in.sparse); /* dense matrices keep no bitmask */
    assert_float_equal(eb_bitmask_density(L0->ffn.sparse), 0.05, 1e-3);
    eb_context *ctx;
    assert_int_equal(eb_context_new(m, &ctx, &err), EB_OK);
    eb_run_params p = eb_run_params_default();
    p.policy = EB_POLICY_BASE;
    uint64_t rng = 4;
    int lens[] = {5, 16, 33, 150};
    for (int k = 0; k < 4; k++) {
        int n = lens[k];
        int32_t ids[160];
        random_ids(ids, n, sp.V, &rng);
        eb_result r;
        assert_int_equal(eb_classify_ids(ctx, ids, NULL, n, &p, &r, &err), EB_OK);
        assert_true(ctx->ex.sparse_calls == 6 * sp.L); /* every encoder matrix, every layer */
        float ref[EB_MAX_LABELS];
        dense_forward(ref, ctx, t, ids, n);
        for (int c = 0; c < sp.C; c++)
            assert_float_equal(r.logits[c], ref[c], 1e-5 * (1 + fabsf(ref[c])));
        /* FLOPs: the sparse kernel does 2 N nnz for the encoder matrices */
        double enc_dense = sp.L * (2.0 * n * (4.0 * 64 * 64 + 2.0 * 64 * 128));
        double enc_sparse =
            sp.L * (2.0 * n * (4.0 * round(0.05 * 64 * 64) + 2.0 * round(0.05 * 64 * 128)));
        assert_float_equal(r.flops_dense - r.flops, enc_dense - enc_sparse, 0.5);
    }
    eb_context_free(ctx);
    eb_model_free(m);
    drop_model(&fx);
}

/* Heads whose span is empty: the same logits as the full computation with
 * their context zeroed, their weights never read, and the FLOPs by hand. */
static void test_head_skipping(void **state) {
    (void)state;
    const float R = 4.0f;
    float z[4] = {-R - 1, 100.0f, -R, 2.0f}; /* heads 0 and 2 are off (z <= -R) */
    uint8_t poison[4] = {1, 0, 1, 0};
    spec sp = small_spec(31);
    sp.H = 32, sp.NH = 4, sp.I = 48, sp.L = 3, sp.P = 24, sp.span_z = z, sp.span_ramp = R;
    fixture fx, fxp;
    make_model(&fx, &sp);
    sp.poison = poison;
    make_model(&fxp, &sp);
    eb_model *m, *mp;
    eb_error err = {0};
    assert_int_equal(eb_model_load(fx.dir, NULL, &m, &err), EB_OK);
    assert_int_equal(eb_model_load(fxp.dir, NULL, &mp, &err), EB_OK);
    eb_context *ctx, *ctxp;
    assert_int_equal(eb_context_new(m, &ctx, &err), EB_OK);
    assert_int_equal(eb_context_new(mp, &ctxp, &err), EB_OK);
    eb_run_params p = eb_run_params_default();
    p.policy = EB_POLICY_BASE;
    uint64_t rng = 12;
    for (int trial = 0; trial < 6; trial++) {
        int n = 3 + 4 * trial;
        int32_t ids[24];
        random_ids(ids, n, sp.V, &rng);
        eb_result r, rp;
        assert_int_equal(eb_classify_ids(ctx, ids, NULL, n, &p, &r, &err), EB_OK);
        float ref[EB_MAX_LABELS];
        dense_forward(ref, ctx, &m->tasks[0], ids,
                      n); /* computes every head, zero context when off */
        for (int c = 0; c < sp.C; c++)
            assert_float_equal(r.logits[c], ref[c],
                               1e-5 * (1 + fabsf(ref[c]))); /* fp32 sums in another order */
        for (int l = 0; l < sp.L; l++)
            assert_int_equal(r.active_heads[l], 2);
        /* NaN in the skipped heads' weights changes nothing: never read */
        assert_int_equal(eb_classify_ids(ctxp, ids, NULL, n, &p, &rp, &err), EB_OK);
        for (int c = 0; c < sp.C; c++)
            assert_true(rp.logits[c] == r.logits[c]);
        /* by hand: E=8, H=32, HS=8, I=48, C=3, 2 of 4 heads */
        double N = n;
        double emb = 2 * N * 8 * 32;
        double qkv_done = 3 * 2 * N * 16 * 32, qkv_all = 3 * 2 * N * 32 * 32;
        double att_done = 4 * N * N * 8 * 2, att_all = 4 * N * N * 8 * 4;
        double o_done = 2 * N * 32 * 16, o_all = 2 * N * 32 * 32;
        double ffn = 2 * (2 * N * 48 * 32);
        double cls = 2 * 32 * 32 + 2 * 3 * 32;
        assert_float_equal(r.flops, emb + 3 * (qkv_done + att_done + o_done + ffn) + cls, 0.5);
        assert_float_equal(r.flops_dense, emb + 3 * (qkv_all + att_all + o_all + ffn) + cls, 0.5);
        /* the af8 path skips them too */
        p.precision = EB_PRECISION_AF8;
        assert_int_equal(eb_classify_ids(ctx, ids, NULL, n, &p, &r, &err), EB_OK);
        assert_float_equal(r.flops, emb + 3 * (qkv_done + att_done + o_done + ffn) + cls, 0.5);
        /* and af8-bf16, through the bf16 on-head forms: Q, K, V, O and the FFN
         * of every layer in bf16, close to exact af8 (fp32 sums), off heads
         * never read */
        eb_result rb, rbp;
        p.precision = EB_PRECISION_AF8_BF16;
        assert_int_equal(eb_classify_ids(ctx, ids, NULL, n, &p, &rb, &err), EB_OK);
        assert_float_equal(rb.flops, r.flops, 0.5);
        if (eb_cpu_has_avx512_bf16()) {
            assert_non_null(m->tasks[0].layers[0].o_on_bf16);
            assert_true(ctx->ex.bf16_calls >= 6 * sp.L);
        }
        for (int c = 0; c < sp.C; c++)
            assert_float_equal(rb.probs[c], r.probs[c], 0.05);
        assert_int_equal(eb_classify_ids(ctxp, ids, NULL, n, &p, &rbp, &err), EB_OK);
        for (int c = 0; c < sp.C; c++)
            assert_true(rbp.logits[c] == rb.logits[c]);
        p.precision = EB_PRECISION_FP32;
    }
    /* without the packed forms (the on-head form included): the same logits */
    eb_load_params lp = eb_load_params_default();
    lp.pack_weights = 0;
    eb_model *mu;
    eb_context *cu;
    assert_int_equal(eb_model_load(fx.dir, &lp, &mu, &err), EB_OK);
    assert_int_equal(eb_context_new(mu, &cu, &err), EB_OK);
    assert_true(mu->tasks[0].layers[0].o_on_packed == NULL);
    assert_true(m->tasks[0].layers[0].o_on_packed != NULL || !eb_cpu_has_avx512());
    for (int trial = 0; trial < 4; trial++) {
        int n = 5 + 5 * trial;
        int32_t ids[24];
        random_ids(ids, n, sp.V, &rng);
        eb_result a, b;
        assert_int_equal(eb_classify_ids(ctx, ids, NULL, n, &p, &a, &err), EB_OK);
        assert_int_equal(eb_classify_ids(cu, ids, NULL, n, &p, &b, &err), EB_OK);
        for (int c = 0; c < sp.C; c++)
            assert_float_equal(a.logits[c], b.logits[c], 1e-5 * (1 + fabsf(b.logits[c])));
        assert_true(a.flops == b.flops);
    }
    eb_context_free(cu);
    eb_model_free(mu);
    eb_context_free(ctx);
    eb_context_free(ctxp);
    eb_model_free(m);
    eb_model_free(mp);
    drop_model(&fx);
    drop_model(&fxp);
}

/* An AF8 bundle runs the stored codes: its af8 path equals the checkpoint's
 * (quantised at load the same way), its fp32 path runs the decoded values. */
static void test_bundle_af8_paths(void **state) {
    (void)state;
    char spm[400];
    EB_REQUIRE_DATA(spm, "albert/spiece.model"); /* a bundle carries the tokenizer */
    spec sp = small_spec(44);
    sp.keep = 0.2;
    sp.V = 30000; /* the tokenizer's vocabulary */
    fixture fx;
    make_model(&fx, &sp);
    char bpath[400], cmd[1000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/spiece.model'", spm, fx.dir);
    assert_int_equal(system(cmd), 0);
    snprintf(bpath, sizeof bpath, "%s/b.ebundle", fx.dir);
    eb_pack_task pt[2] = {{"t1", fx.dir}, {"t2", fx.dir}};
    eb_pack_params pp = eb_pack_params_default();
    pp.weights = EB_WEIGHTS_AF8;
    eb_error err = {0};
    if (eb_bundle_pack(bpath, pt, 2, &pp, &err) != EB_OK) fail_msg("pack: %s", err.msg);
    eb_model *m, *b;
    assert_int_equal(eb_model_load(fx.dir, NULL, &m, &err), EB_OK);
    assert_int_equal(eb_model_load(bpath, NULL, &b, &err), EB_OK);
    const eb_model_task *tb = &b->tasks[0];
    assert_true(tb->layers[0].q.q8 == tb->layers[0].q.bm); /* the stored codes, no copy */
    assert_true(tb->layers[0].q.sparse == tb->layers[0].q.bm);
    /* the second task re-uses the first one's AF8 embedding codes */
    assert_true(b->tasks[1].w.word_q8 == tb->w.word_q8 && !b->tasks[1].emb_q8_owned &&
                tb->emb_q8_owned);
    eb_context *cm, *cb;
    assert_int_equal(eb_context_new(m, &cm, &err), EB_OK);
    assert_int_equal(eb_context_new(b, &cb, &err), EB_OK);
    eb_run_params p = eb_run_params_default();
    p.policy = EB_POLICY_BASE;
    uint64_t rng = 5;
    for (int t = 0; t < 8; t++) {
        int32_t ids[16];
        int n = 2 + t;
        random_ids(ids, n, sp.V, &rng);
        eb_result a, c, d;
        p.precision = EB_PRECISION_AF8;
        assert_int_equal(eb_classify_ids(cm, ids, NULL, n, &p, &a, &err), EB_OK);
        assert_int_equal(eb_classify_ids(cb, ids, NULL, n, &p, &c, &err), EB_OK);
        for (int k = 0; k < sp.C; k++)
            assert_true(a.logits[k] == c.logits[k]);
        p.task = "t2";
        assert_int_equal(eb_classify_ids(cb, ids, NULL, n, &p, &c, &err), EB_OK);
        for (int k = 0; k < sp.C; k++)
            assert_true(a.logits[k] == c.logits[k]);
        p.task = NULL;
        p.precision = EB_PRECISION_FP32;
        assert_int_equal(eb_classify_ids(cb, ids, NULL, n, &p, &d, &err), EB_OK);
        float ref[EB_MAX_LABELS];
        dense_forward(ref, cb, tb, ids, n);
        for (int k = 0; k < sp.C; k++)
            assert_float_equal(d.logits[k], ref[k], 1e-5 * (1 + fabsf(ref[k])));
    }
    /* an unknown precision is an argument error */
    p.precision = (eb_precision)7;
    eb_result r;
    int32_t one[] = {1, 2};
    assert_int_equal(eb_classify_ids(cb, one, NULL, 2, &p, &r, &err), EB_ERR_ARG);
    eb_context_free(cm);
    eb_context_free(cb);
    eb_model_free(m);
    eb_model_free(b);
    drop_model(&fx);
}

/* What the accelerator model is told: the activations the matmuls saw. */
static void test_activation_statistics(void **state) {
    (void)state;
    spec sp = small_spec(17);
    sp.act = EB_ACT_RELU;
    fixture fx;
    make_model(&fx, &sp);
    eb_model *m;
    eb_error err = {0};
    assert_int_equal(eb_model_load(fx.dir, NULL, &m, &err), EB_OK);
    eb_context *ctx;
    assert_int_equal(eb_context_new(m, &ctx, &err), EB_OK);
    eb_run_params p = eb_run_params_default();
    p.policy = EB_POLICY_BASE;
    int32_t ids[] = {1, 7, 9, 11, 13, 2, 40, 3};
    const int n = 8, E = 8, H = 16, I = 24, L = 2;
    eb_result r;
    assert_int_equal(eb_classify_ids(ctx, ids, NULL, n, &p, &r, &err), EB_OK);
    /* inputs of: mapping, 3 projections + output + FFN in + FFN out per
     * layer, pooler and classifier */
    double want = n * E + L * (3.0 * n * H + n * H + n * H + n * I) + 2.0 * H;
    assert_float_equal(ctx->ex.act_n, want, 0.5);
    /* ReLU zeroes about half of the FFN-out inputs: L*n*I of them */
    double zeros = ctx->ex.act_n - ctx->ex.act_nz;
    assert_true(zeros > 0.25 * L * n * I && zeros <= L * n * I);
    assert_true(ctx->ex.attn_n == L * 2.0 * n * n);
    eb_context_free(ctx);
    eb_model_free(m);
    drop_model(&fx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_lin_is_af8_matmul),
        cmocka_unit_test(test_af8_path_matches_scalar_reference),
        cmocka_unit_test(test_af8_path_with_adapters),
        cmocka_unit_test(test_af8_vs_fp32_random_model),
        cmocka_unit_test(test_af8_bf16_path),
        cmocka_unit_test(test_sparse_kernel_equals_dense),
        cmocka_unit_test(test_head_skipping),
        cmocka_unit_test(test_bundle_af8_paths),
        cmocka_unit_test(test_activation_statistics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
