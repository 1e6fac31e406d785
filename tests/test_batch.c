/* test_batch.c - batched early exit (edgebert/batch.h) gives, sentence by
 * sentence, what eb_classify_ids gives one sentence at a time (label, exit
 * layer, logits; and through eb_batch_classify_results every field of the
 * result, the accelerator model's V/F, time and energy included), whatever
 * the mix of exits in a batch, for every policy (base, ee, lai) and
 * precision (fp32, af8, af8-bf16), with settings (policy, threshold, latency
 * target) that differ from sentence to sentence, with spans, token types,
 * and on the shipped bundles (adapters included); bad input. */
#include "testutil.h"

#include <math.h>
#include <unistd.h>

#include "edgebert.h"
#include "edgebert/batch.h"
#include "edgebert/data.h"
#include "edgebert/runtime.h"
#include "util/util.h"
#include "tinymodel.h"

enum { V = 500, E = 8, H = 32, NH = 2, I = 48, L = 4, P = 40, C = 2 };

/* A random 4-layer model with off-ramps after layers 1..3 (and spans when
 * asked) in a fresh temp dir; every weight from one stream.  With an exit
 * predictor table (predicting after layer 1) of random entropies in 0..1. */
static void make_model(char *dir, uint64_t seed, int spans) {
    char lut[] = "/tmp/eb_lut_XXXXXX";
    int fd = mkstemp(lut);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    uint64_t r = seed * 13 + 5;
    for (int row = 0; row <= 20; row++) {
        fprintf(f, "%.3f", row * 0.05);
        for (int k = 0; k < L - 1; k++)
            fprintf(f, ",%.4f", eb_test_uniform(&r));
        fprintf(f, "\n");
    }
    fclose(f);
    tiny_spec s = tiny_default();
    s.vocab = V, s.E = E, s.H = H, s.heads = NH, s.I = I, s.layers = L, s.P = P, s.labels = C;
    s.emb_seed = seed, s.seed = 0, s.spans = spans, s.span_ramp = 4.0f; /* z in 1..5 with R = 4 */
    s.sc = (tiny_scales){0.3f, 0.5f, 0.4f, 0.4f, 0.3f, 0.5f, 1.0f, 0.5f, 0.6f, 0.3f};
    s.lut = lut;
    tiny_make(dir, &s);
    unlink(lut);
}

enum { NS = 23 };

/* Every field of a batched eb_result equals eb_classify_ids's: the integers
 * exactly (exit, predicted layer, labels, heads, flops, deadline), the
 * logits, probabilities and entropies to 1e-4, the accelerator model's
 * V/F, cycles, time and energy to 1e-6 relative (they come from what each
 * layer computed for the sentence; the fp32 kernels may round a product
 * differently for more rows).  flops, the work done on this CPU, is exact
 * too unless sparse_rows: a matrix sparse enough for the sparse kernel at
 * some row counts (adapters.ebb's 40 %-dense embedding mapping: 9..32 rows)
 * may run sparse alone and dense in the batch, which then counts more, never
 * more than flops_dense. */
static char where[160]; /* the settings of the comparison, for its failure message */

static void near(double a, double b, double rel, const char *what, int s) {
    if (fabs(a - b) <= rel * fmax(1.0, fabs(b))) return;
    fprintf(stderr, "%s, sentence %d: %s batched %.9g, alone %.9g\n", where, s, what, a, b);
    fail();
}

static void expect_same_result(const eb_result *a, const eb_result *r, int s, int sparse_rows) {
    assert_int_equal(a->label, r->label);
    assert_int_equal(a->num_labels, r->num_labels);
    assert_int_equal(a->exit_layer, r->exit_layer);
    assert_int_equal(a->predicted_layer, r->predicted_layer);
    assert_int_equal(a->num_layers, r->num_layers);
    assert_int_equal(a->n_tokens, r->n_tokens);
    assert_int_equal(a->truncated, r->truncated);
    for (int k = 0; k < r->num_labels; k++) {
        near(a->logits[k], r->logits[k], 1e-4, "logit", s);
        near(a->probs[k], r->probs[k], 1e-4, "probability", s);
    }
    for (int l = 0; l < r->exit_layer; l++) {
        near(a->entropies[l], r->entropies[l], 1e-4, "entropy", s);
        assert_int_equal(a->active_heads[l], r->active_heads[l]);
        assert_int_equal(a->layer_labels[l], r->layer_labels[l]);
    }
    const eb_hw_report *x = &a->hw, *y = &r->hw;
    assert_true(y->energy_uj > 0 && y->time_ms > 0);
    near(x->vdd, y->vdd, 1e-12, "vdd", s);
    near(x->freq_mhz, y->freq_mhz, 1e-12, "freq_mhz", s);
    near(x->cycles, y->cycles, 1e-6, "cycles", s);
    near(x->time_ms, y->time_ms, 1e-6, "time_ms", s);
    near(x->energy_uj, y->energy_uj, 1e-6, "energy_uj", s);
    near(x->energy.pu_uj, y->energy.pu_uj, 1e-6, "pu_uj", s);
    near(x->energy.sfu_uj, y->energy.sfu_uj, 1e-6, "sfu_uj", s);
    near(x->energy.sram_uj, y->energy.sram_uj, 1e-6, "sram_uj", s);
    near(x->energy.emb_mem_uj, y->energy.emb_mem_uj, 1e-6, "emb_mem_uj", s);
    near(x->energy.dvfs_uj, y->energy.dvfs_uj, 1e-6, "dvfs_uj", s);
    near(x->energy.leakage_uj, y->energy.leakage_uj, 1e-6, "leakage_uj", s);
    assert_int_equal(x->deadline_met, y->deadline_met);
    if (sparse_rows && a->flops != r->flops) {
        assert_true(a->flops > r->flops);
        assert_true(a->flops <= a->flops_dense);
    } else
        near(a->flops, r->flops, 0, "flops", s);
    near(a->flops_dense, r->flops_dense, 0, "flops_dense", s);
}

/* eb_batch_classify_results in batches of B, params[s] per sentence, against
 * eb_classify_ids with the same params[s]. */
static int sparse_rows; /* the model in test has a matrix of that kind */

static void expect_same_full(eb_context *ctx, const eb_model *m, const int32_t *const *ptr,
                             const int32_t *const *types, const int *lens, int ns, int B,
                             const eb_run_params *params) {
    eb_error err = {0};
    eb_batch *b = NULL;
    int maxl = 0;
    for (int s = 0; s < ns; s++)
        maxl = lens[s] > maxl ? lens[s] : maxl;
    assert_int_equal(eb_batch_new(m, B, B * maxl, &b, &err), EB_OK);
    eb_result *out = calloc((size_t)(ns > 0 ? ns : 1), sizeof *out);
    assert_non_null(out);
    for (int s0 = 0; s0 < ns; s0 += B) {
        int k = ns - s0 < B ? ns - s0 : B;
        eb_status st = eb_batch_classify_results(b, ptr + s0, types ? types + s0 : NULL,
                                                 lens + s0, k, params + s0, out + s0, &err);
        if (st != EB_OK) fprintf(stderr, "batch: %s\n", err.msg);
        assert_int_equal(st, EB_OK);
    }
    for (int s = 0; s < ns; s++) {
        eb_result res;
        assert_int_equal(eb_classify_ids(ctx, ptr[s], types ? types[s] : NULL, lens[s],
                                         &params[s], &res, &err),
                         EB_OK);
        snprintf(where, sizeof where, "task %s policy %d precision %d threshold %g target %g",
                 params[s].task ? params[s].task : "-", (int)params[s].policy,
                 (int)params[s].precision, (double)params[s].threshold,
                 params[s].latency_target_ms);
        expect_same_result(&out[s], &res, s, sparse_rows);
    }
    free(out);
    eb_batch_free(b);
}

/* Sentence s gets settings of its own: policy, threshold, latency target
 * (tight ones make lai lower the V/F less, or miss the deadline). */
static void mixed_params(eb_run_params *ps, int ns, const eb_run_params *p, int has_lut,
                         float thr) {
    static const double targets[] = {0.01, 0.05, 0.3, 50};
    for (int s = 0; s < ns; s++) {
        ps[s] = *p;
        ps[s].policy = (eb_policy)(s % (has_lut ? 3 : 2));
        ps[s].latency_target_ms = targets[(s / 3) % 4];
        ps[s].threshold = s % 5 == 4 ? thr : -1.0f;
    }
}

/* Batched answers equal the per-sentence ones: label and exit layer exactly,
 * logits to 1e-4 (the fp32 kernels may sum in another order for more rows). */
static void expect_same(eb_context *ctx, const eb_model *m, const int32_t *const *ptr,
                        const int32_t *const *types, const int *lens, int ns, int B,
                        const eb_run_params *p, int *early) {
    eb_error err = {0};
    eb_batch *b = NULL;
    int maxl = 0;
    for (int s = 0; s < ns; s++)
        maxl = lens[s] > maxl ? lens[s] : maxl;
    assert_int_equal(eb_batch_new(m, B, B * maxl, &b, &err), EB_OK);
    eb_batch_result *out = calloc((size_t)(ns > 0 ? ns : 1), sizeof *out);
    assert_non_null(out);
    for (int s0 = 0; s0 < ns; s0 += B) {
        int k = ns - s0 < B ? ns - s0 : B;
        eb_status st =
            eb_batch_classify_typed(b, ptr + s0, types ? types + s0 : NULL, lens + s0, k, p,
                                    out + s0, &err);
        if (st != EB_OK) fprintf(stderr, "batch: %s\n", err.msg);
        assert_int_equal(st, EB_OK);
    }
    const eb_config *c = eb_model_task_config(m, p->task);
    for (int s = 0; s < ns; s++) {
        eb_result res;
        assert_int_equal(
            eb_classify_ids(ctx, ptr[s], types ? types[s] : NULL, lens[s], p, &res, &err), EB_OK);
        if (out[s].exit_layer != res.exit_layer || out[s].label != res.label)
            fprintf(stderr, "sentence %d (%d tokens), policy %d precision %d: batched label %d "
                            "exit %d, alone label %d exit %d\n",
                    s, lens[s], (int)p->policy, (int)p->precision, out[s].label,
                    out[s].exit_layer, res.label, res.exit_layer);
        assert_int_equal(out[s].exit_layer, res.exit_layer);
        assert_int_equal(out[s].label, res.label);
        assert_int_equal(out[s].num_labels, c->num_labels);
        for (int k = 0; k < c->num_labels; k++)
            assert_float_equal(out[s].logits[k], res.logits[k], 1e-4);
        if (early) *early += res.exit_layer < c->num_hidden_layers;
    }
    free(out);
    eb_batch_free(b);
    /* the whole result, every sentence with these settings */
    eb_run_params *ps = calloc((size_t)(ns > 0 ? ns : 1), sizeof *ps);
    assert_non_null(ps);
    for (int s = 0; s < ns; s++)
        ps[s] = *p;
    expect_same_full(ctx, m, ptr, types, lens, ns, B, ps);
    free(ps);
}

static void check_model(int spans, uint64_t seed, eb_precision prec) {
    char dir[64];
    make_model(dir, seed, spans);
    eb_model *m = NULL;
    eb_error err = {0};
    assert_int_equal(eb_model_load(dir, NULL, &m, &err), EB_OK);
    eb_context *ctx;
    assert_int_equal(eb_context_new(m, &ctx, &err), EB_OK);
    /* sentences of 1..P tokens */
    int32_t ids[NS][P];
    int lens[NS];
    const int32_t *ptr[NS];
    uint64_t r = seed * 7 + 1;
    for (int s = 0; s < NS; s++) {
        lens[s] = 1 + (int)(eb_test_rng(&r) % P);
        if (s == 0) lens[s] = 1;
        if (s == 1) lens[s] = P;
        for (int i = 0; i < lens[s]; i++)
            ids[s][i] = (int32_t)(eb_test_rng(&r) % V);
        ptr[s] = ids[s];
    }
    /* entropies after layer 1 for choosing thresholds that split the set */
    eb_result res;
    eb_run_params base = eb_run_params_default();
    base.policy = EB_POLICY_BASE;
    base.precision = prec;
    base.threads = 1;
    /* thresholds at quantiles of the off-ramp entropies of layers 1..L-1 */
    float ent[NS * (L - 1)];
    for (int s = 0; s < NS; s++) {
        assert_int_equal(eb_classify_ids(ctx, ptr[s], NULL, lens[s], &base, &res, &err), EB_OK);
        for (int l = 0; l < L - 1; l++)
            ent[s * (L - 1) + l] = res.entropies[l];
    }
    for (int i = 1; i < NS * (L - 1); i++) /* insertion sort */
        for (int j = i; j > 0 && ent[j - 1] > ent[j]; j--) {
            float t = ent[j];
            ent[j] = ent[j - 1], ent[j - 1] = t;
        }
    const int ne = NS * (L - 1);
    const float thrs[] = {0.0f,
                          ent[ne / 10] + 1e-6f,
                          ent[ne / 4] + 1e-6f,
                          ent[ne / 2] + 1e-6f,
                          ent[3 * ne / 4] + 1e-6f,
                          2.0f};
    const int batches[] = {1, 4, NS};
    int mixed = 0;
    eb_batch_result out[NS];
    for (size_t ti = 0; ti < sizeof thrs / sizeof thrs[0]; ti++)
        for (int lai = 0; lai < 2; lai++) {
            eb_run_params p = eb_run_params_default();
            p.policy = lai ? EB_POLICY_LAI : EB_POLICY_EE;
            p.threshold = thrs[ti];
            p.precision = prec;
            p.threads = 1;
            for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
                int early = 0;
                expect_same(ctx, m, ptr, NULL, lens, NS, batches[bi], &p, &early);
                mixed += early > 0 && early < NS;
            }
        }
    assert_true(mixed >= 2); /* some batches had sentences leave while others stayed */
    /* base policy: every sentence runs all layers */
    expect_same(ctx, m, ptr, NULL, lens, NS, NS, &base, NULL);
    /* sentence pairs: token types */
    int32_t types[NS][P];
    const int32_t *tptr[NS];
    for (int s = 0; s < NS; s++) {
        for (int i = 0; i < lens[s]; i++)
            types[s][i] = i >= lens[s] / 2;
        tptr[s] = types[s];
    }
    eb_run_params ee = base;
    ee.policy = EB_POLICY_EE;
    ee.threshold = thrs[3];
    expect_same(ctx, m, ptr, tptr, lens, NS, 5, &ee, NULL);
    /* settings per sentence in one batch */
    eb_run_params ps[NS];
    mixed_params(ps, NS, &base, 1, thrs[2]);
    expect_same_full(ctx, m, ptr, NULL, lens, NS, NS, ps);
    expect_same_full(ctx, m, ptr, tptr, lens, NS, 6, ps);
    eb_batch *b = NULL;
    assert_int_equal(eb_batch_new(m, NS, NS * P, &b, &err), EB_OK);
    eb_result full[2];
    ps[1].precision = prec == EB_PRECISION_FP32 ? EB_PRECISION_AF8 : EB_PRECISION_FP32;
    assert_int_equal(eb_batch_classify_results(b, ptr, NULL, lens, 2, ps, full, &err), EB_ERR_ARG);
    assert_non_null(strstr(err.msg, "sentence 1"));
    ps[1] = ps[0];
    ps[1].mac_size = 3; /* the policy's own check, naming the sentence */
    assert_int_equal(eb_batch_classify_results(b, ptr, NULL, lens, 2, ps, full, &err), EB_ERR_ARG);
    assert_non_null(strstr(err.msg, "sentence 1"));
    assert_int_equal(eb_batch_classify_results(b, ptr, NULL, lens, 2, NULL, full, &err),
                     EB_ERR_ARG);
    assert_int_equal(eb_batch_classify_ids(b, ptr, lens, NS, &base, out, &err), EB_OK);
    for (int s = 0; s < NS; s++)
        assert_int_equal(out[s].exit_layer, L);
    /* bad input */
    int32_t bad[2] = {1, V};
    const int32_t *bp[1] = {bad};
    int bl[1] = {2};
    assert_int_equal(eb_batch_classify_ids(b, bp, bl, 1, &base, out, &err), EB_ERR_INPUT);
    bl[0] = 0;
    assert_int_equal(eb_batch_classify_ids(b, bp, bl, 1, &base, out, &err), EB_ERR_INPUT);
    bl[0] = P + 1;
    assert_int_equal(eb_batch_classify_ids(b, bp, bl, 1, &base, out, &err), EB_ERR_INPUT);
    assert_int_equal(eb_batch_classify_ids(b, ptr, lens, NS + 1, &base, out, &err), EB_ERR_ARG);
    int32_t badt[2] = {0, 2}; /* type_vocab_size is 2 */
    const int32_t *btp[1] = {badt};
    bl[0] = 2, bad[1] = 1;
    assert_int_equal(eb_batch_classify_typed(b, bp, btp, bl, 1, &base, out, &err), EB_ERR_INPUT);
    assert_non_null(strstr(err.msg, "token type"));
    eb_run_params lai = base;
    lai.policy = EB_POLICY_LAI;
    lai.predict_after = 2; /* the table predicts after layer 1 */
    assert_int_equal(eb_batch_classify_ids(b, ptr, lens, 1, &lai, out, &err), EB_ERR_ARG);
    eb_run_params odd = base;
    odd.precision = (eb_precision)7;
    assert_int_equal(eb_batch_classify_ids(b, ptr, lens, 1, &odd, out, &err), EB_ERR_ARG);
    eb_batch_free(b);
    /* a batch too small in rows */
    assert_int_equal(eb_batch_new(m, 2, 3, &b, &err), EB_OK);
    assert_int_equal(eb_batch_classify_ids(b, ptr, lens, 2, &base, out, &err), EB_ERR_INPUT);
    eb_batch_free(b);
    assert_int_equal(eb_batch_new(m, 0, 10, &b, &err), EB_ERR_ARG);
    eb_context_free(ctx);
    eb_model_free(m);
    tiny_remove(dir);
}

static void test_batch_matches_single(void **state) {
    (void)state;
    check_model(0, 5, EB_PRECISION_FP32);
}

static void test_batch_with_spans(void **state) {
    (void)state;
    check_model(1, 9, EB_PRECISION_FP32);
}

static void test_batch_af8(void **state) {
    (void)state;
    check_model(1, 11, EB_PRECISION_AF8);
    check_model(0, 12, EB_PRECISION_AF8_BF16);
}

/* Sentences for the shipped bundles: SST-2 dev when the shared data is
 * there, else a few of our own. */
static const char *const OWN[] = {
    "a gorgeous , witty , seductive movie .",
    "the story is bogus and its characters are flat .",
    "it 's a charming and often affecting journey .",
    "unflinchingly bleak and desperate",
    "the acting , costumes , music , cinematography and sound are all astounding given the "
    "production 's austere locales .",
    "it 's slow -- very , very slow .",
    "a sometimes tedious film .",
    "or doing last year 's taxes with your ex-wife .",
    "you do n't have to know about music to appreciate the film 's easygoing blend of comedy and "
    "romance .",
    "in exactly 89 minutes , most of which passed as slowly as if i 'd been sitting naked on an "
    "igloo , formula 51 sank from quirky to jerky to utter turkey .",
    "the mesmerizing performances of the leads keep the film grounded and keep the audience "
    "riveted .",
    "it takes a strange kind of laziness to waste the talents of robert forster , anne meara , "
    "eugene levy , and reginald veljohnson all in the same movie .",
    "good",
    "bad",
    "not bad at all",
    "i did n't hate it , but i would not watch it again .",
};

static void check_bundle(const char *path, int sparse) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "SKIP: %s not present (a shipped bundle)\n", path);
        return;
    }
    eb_model *m = NULL;
    eb_error err = {0};
    assert_int_equal(eb_model_load(path, NULL, &m, &err), EB_OK);
    eb_context *ctx;
    assert_int_equal(eb_context_new(m, &ctx, &err), EB_OK);
    sparse_rows = sparse;
    char data[512];
    eb_dataset *ds = NULL;
    int nsent = (int)(sizeof OWN / sizeof OWN[0]);
    if (eb_test_data_path(data, sizeof data, "glue/SST-2/dev.tsv")) {
        assert_int_equal(eb_dataset_load(data, "sst2", NULL, &ds, &err), EB_OK);
        nsent = ds->n < 80 ? (int)ds->n : 80;
    } else
        fprintf(stderr, "note: %s missing, %d sentences of the test's own\n", data, nsent);
    const eb_tokenizer *tok = eb_model_tokenizer(m);
    assert_non_null(tok);
    int32_t *ids = calloc((size_t)nsent * 128, sizeof *ids);
    const int32_t **ptr = calloc((size_t)nsent, sizeof *ptr);
    int *lens = calloc((size_t)nsent, sizeof *lens);
    eb_encoding *enc = malloc(sizeof *enc);
    assert_true(ids && ptr && lens && enc);
    for (int s = 0; s < nsent; s++) {
        assert_int_equal(eb_tokenize(tok, ds ? ds->rows[s].text_a : OWN[s], NULL, 128, enc, &err),
                         EB_OK);
        memcpy(ids + (size_t)s * 128, enc->ids, sizeof(int32_t) * (size_t)enc->n);
        ptr[s] = ids + (size_t)s * 128;
        lens[s] = enc->n;
    }
    for (int k = 0; k < eb_model_num_tasks(m); k++) {
        eb_run_params p = eb_run_params_default();
        p.task = eb_model_task_name(m, k);
        p.threads = 1;
        const int has_lut = eb_model_task_lut(m, p.task) != NULL;
        const eb_precision precs[] = {EB_PRECISION_FP32, EB_PRECISION_AF8,
                                      EB_PRECISION_AF8_BF16};
        for (int pi = 0; pi < 3; pi++)
            for (int pol = 0; pol < 3; pol++) {
                if (pol == EB_POLICY_LAI && !has_lut) continue;
                p.precision = precs[pi];
                p.policy = (eb_policy)pol;
                int early = 0;
                /* the AF8 paths are slower: fewer sentences */
                const int n = pi == 0 ? nsent : (nsent < 16 ? nsent : 16);
                expect_same(ctx, m, ptr, NULL, lens, n, 8, &p, &early);
                if (pol == EB_POLICY_EE) assert_true(early > 0);
            }
        /* every precision with settings that differ from sentence to sentence */
        for (int pi = 0; pi < 3; pi++) {
            const int n = pi == 0 ? nsent : (nsent < 16 ? nsent : 16);
            eb_run_params *ps = calloc((size_t)n, sizeof *ps);
            assert_non_null(ps);
            p.precision = precs[pi];
            mixed_params(ps, n, &p, has_lut, 0.2f);
            expect_same_full(ctx, m, ptr, NULL, lens, n, 8, ps);
            free(ps);
        }
    }
    free(ids), free(ptr), free(lens), free(enc);
    eb_dataset_free(ds);
    eb_context_free(ctx);
    eb_model_free(m);
}

/* Every shipped bundle (the default model, the adapter model) answers the
 * same batched as one sentence at a time. */
static void test_shipped_bundles(void **state) {
    (void)state;
    check_bundle("models/default.ebb", 0);
    check_bundle("models/adapters.ebb", 1);
    sparse_rows = 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_matches_single),
        cmocka_unit_test(test_batch_with_spans),
        cmocka_unit_test(test_batch_af8),
        cmocka_unit_test(test_shipped_bundles),
    };
    /* EB_TEST_SKIP=PATTERN leaves cases out (tools/cross-test.sh: the shipped bundles under
     * qemu, where their hundreds of real-size sentences take longer than the time limit) */
    const char *skip_pat = getenv("EB_TEST_SKIP");
    if (skip_pat && *skip_pat) cmocka_set_skip_filter(skip_pat);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
