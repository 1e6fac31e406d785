/* test_batch.c - batched early exit (edgebert/batch.h) gives, sentence by
 * sentence, what eb_classify_ids gives one sentence at a time (label, exit
 * layer, logits), whatever the mix of exits in a batch; bad input. */
#include "testutil.h"

#include <math.h>
#include <unistd.h>

#include "edgebert.h"
#include "edgebert/batch.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "util/util.h"

enum { V = 500, E = 8, H = 32, NH = 2, I = 48, L = 4, P = 40, T = 2, C = 2 };

static char names[256][128];

static void add(eb_st_entry *e, int *n, float **p, uint64_t *rng, const char *name, int d0, int d1,
                float scale, float offset) {
    snprintf(names[*n], sizeof names[*n], "%s", name);
    size_t cnt = (size_t)d0 * (d1 ? d1 : 1);
    for (size_t i = 0; i < cnt; i++)
        (*p)[i] = offset + scale * (eb_test_uniform(rng) * 2 - 1);
    e[*n].name = names[*n];
    e[*n].data = *p;
    e[*n].ndim = d1 ? 2 : 1;
    e[*n].shape[0] = d0;
    e[*n].shape[1] = d1;
    (*p) += cnt;
    (*n)++;
}

/* A random 4-layer model with off-ramps after layers 1..3 (and spans when
 * asked) in a fresh temp dir. */
static void make_model(char *dir, size_t cap, float **buf, uint64_t seed, int spans) {
    snprintf(dir, cap, "/tmp/eb_test_batch_XXXXXX");
    assert_non_null(mkdtemp(dir));
    *buf = malloc(sizeof(float) * 200000);
    float *p = *buf;
    eb_st_entry e[64];
    int n = 0;
    uint64_t rng = seed;
    char nm[200];
    add(e, &n, &p, &rng, "albert.embeddings.word_embeddings.weight", V, E, 1, 0);
    add(e, &n, &p, &rng, "albert.embeddings.position_embeddings.weight", P, E, 0.3f, 0);
    add(e, &n, &p, &rng, "albert.embeddings.token_type_embeddings.weight", T, E, 0.1f, 0);
    add(e, &n, &p, &rng, "albert.embeddings.LayerNorm.weight", E, 0, 0.1f, 1);
    add(e, &n, &p, &rng, "albert.embeddings.LayerNorm.bias", E, 0, 0.1f, 0);
    add(e, &n, &p, &rng, "albert.encoder.embedding_hidden_mapping_in.weight", H, E, 0.5f, 0);
    add(e, &n, &p, &rng, "albert.encoder.embedding_hidden_mapping_in.bias", H, 0, 0.1f, 0);
    const char *pre = "albert.encoder.albert_layer_groups.0.albert_layers.0.";
    const char *lin[] = {"attention.query", "attention.key", "attention.value", "attention.dense"};
    for (int k = 0; k < 4; k++) {
        snprintf(nm, sizeof nm, "%s%s.weight", pre, lin[k]);
        add(e, &n, &p, &rng, nm, H, H, 0.4f, 0);
        snprintf(nm, sizeof nm, "%s%s.bias", pre, lin[k]);
        add(e, &n, &p, &rng, nm, H, 0, 0.1f, 0);
    }
    const char *lns[] = {"attention.LayerNorm", "full_layer_layer_norm"};
    for (int k = 0; k < 2; k++) {
        snprintf(nm, sizeof nm, "%s%s.weight", pre, lns[k]);
        add(e, &n, &p, &rng, nm, H, 0, 0.1f, 1);
        snprintf(nm, sizeof nm, "%s%s.bias", pre, lns[k]);
        add(e, &n, &p, &rng, nm, H, 0, 0.1f, 0);
    }
    snprintf(nm, sizeof nm, "%sffn.weight", pre);
    add(e, &n, &p, &rng, nm, I, H, 0.4f, 0);
    snprintf(nm, sizeof nm, "%sffn.bias", pre);
    add(e, &n, &p, &rng, nm, I, 0, 0.1f, 0);
    snprintf(nm, sizeof nm, "%sffn_output.weight", pre);
    add(e, &n, &p, &rng, nm, H, I, 0.3f, 0);
    snprintf(nm, sizeof nm, "%sffn_output.bias", pre);
    add(e, &n, &p, &rng, nm, H, 0, 0.1f, 0);
    if (spans) {
        snprintf(nm, sizeof nm, "%sattention.span", pre);
        add(e, &n, &p, &rng, nm, NH, 0, 2.0f, 3.0f); /* z in 1..5 with R = 4 */
    }
    add(e, &n, &p, &rng, "albert.pooler.weight", H, H, 0.5f, 0);
    add(e, &n, &p, &rng, "albert.pooler.bias", H, 0, 0.1f, 0);
    add(e, &n, &p, &rng, "classifier.weight", C, H, 1.0f, 0);
    add(e, &n, &p, &rng, "classifier.bias", C, 0, 0.5f, 0);
    for (int j = 0; j < L - 1; j++) {
        snprintf(nm, sizeof nm, "albert.encoder.highway.%d.pooler.weight", j);
        add(e, &n, &p, &rng, nm, H, H, 0.5f, 0);
        snprintf(nm, sizeof nm, "albert.encoder.highway.%d.pooler.bias", j);
        add(e, &n, &p, &rng, nm, H, 0, 0.1f, 0);
        snprintf(nm, sizeof nm, "albert.encoder.highway.%d.classifier.weight", j);
        add(e, &n, &p, &rng, nm, C, H, 0.6f, 0);
        snprintf(nm, sizeof nm, "albert.encoder.highway.%d.classifier.bias", j);
        add(e, &n, &p, &rng, nm, C, 0, 0.3f, 0);
    }
    char path[400];
    eb_error err = {0};
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(eb_st_write(path, e, n, EB_DTYPE_F32, NULL, &err), EB_OK);
    eb_config cfg;
    eb_model_extras x;
    eb_config_default(&cfg, &x);
    cfg.vocab_size = V, cfg.embedding_size = E, cfg.hidden_size = H, cfg.num_hidden_layers = L;
    cfg.num_attention_heads = NH, cfg.intermediate_size = I, cfg.max_position_embeddings = P;
    cfg.num_labels = C;
    x.span_ramp = 4.0f;
    char *js = eb_config_to_json(&cfg, &x);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(eb_write_file_atomic(path, js, strlen(js), &err), EB_OK);
    free(js);
}

static void remove_model(const char *dir, float *buf) {
    char path[400];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    rmdir(dir);
    free(buf);
}

enum { NS = 23 };

static void check_model(int spans, uint64_t seed) {
    char dir[64];
    float *buf;
    make_model(dir, sizeof dir, &buf, seed, spans);
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
    for (size_t ti = 0; ti < sizeof thrs / sizeof thrs[0]; ti++) {
        eb_run_params p = eb_run_params_default();
        p.policy = EB_POLICY_EE;
        p.threshold = thrs[ti];
        int want_label[NS], want_exit[NS];
        float want_logits[NS][C];
        for (int s = 0; s < NS; s++) {
            assert_int_equal(eb_classify_ids(ctx, ptr[s], NULL, lens[s], &p, &res, &err), EB_OK);
            want_label[s] = res.label;
            want_exit[s] = res.exit_layer;
            for (int c = 0; c < C; c++)
                want_logits[s][c] = res.logits[c];
        }
        int early = 0;
        for (int s = 0; s < NS; s++)
            early += want_exit[s] < L;
        mixed += early > 0 && early < NS;
        for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
            const int B = batches[bi];
            eb_batch *b = NULL;
            assert_int_equal(eb_batch_new(m, B, B * P, &b, &err), EB_OK);
            for (int s0 = 0; s0 < NS; s0 += B) {
                int k = NS - s0 < B ? NS - s0 : B;
                assert_int_equal(
                    eb_batch_classify_ids(b, ptr + s0, lens + s0, k, &p, out + s0, &err), EB_OK);
            }
            for (int s = 0; s < NS; s++) {
                assert_int_equal(out[s].exit_layer, want_exit[s]);
                assert_int_equal(out[s].label, want_label[s]);
                assert_int_equal(out[s].num_labels, C);
                for (int c = 0; c < C; c++)
                    assert_float_equal(out[s].logits[c], want_logits[s][c], 1e-4);
            }
            eb_batch_free(b);
        }
    }
    assert_true(mixed >= 2); /* some batches had sentences leave while others stayed */
    /* base policy: every sentence runs all layers */
    eb_batch *b = NULL;
    assert_int_equal(eb_batch_new(m, NS, NS * P, &b, &err), EB_OK);
    assert_int_equal(eb_batch_classify_ids(b, ptr, lens, NS, &base, out, &err), EB_OK);
    for (int s = 0; s < NS; s++) {
        assert_int_equal(eb_classify_ids(ctx, ptr[s], NULL, lens[s], &base, &res, &err), EB_OK);
        assert_int_equal(out[s].exit_layer, L);
        assert_int_equal(out[s].label, res.label);
        for (int c = 0; c < C; c++)
            assert_float_equal(out[s].logits[c], res.logits[c], 1e-4);
    }
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
    eb_run_params lai = base;
    lai.policy = EB_POLICY_LAI;
    assert_int_equal(eb_batch_classify_ids(b, ptr, lens, 1, &lai, out, &err), EB_ERR_ARG);
    eb_batch_free(b);
    /* a batch too small in rows */
    assert_int_equal(eb_batch_new(m, 2, 3, &b, &err), EB_OK);
    assert_int_equal(eb_batch_classify_ids(b, ptr, lens, 2, &base, out, &err), EB_ERR_INPUT);
    eb_batch_free(b);
    assert_int_equal(eb_batch_new(m, 0, 10, &b, &err), EB_ERR_ARG);
    eb_context_free(ctx);
    eb_model_free(m);
    remove_model(dir, buf);
}

static void test_batch_matches_single(void **state) {
    (void)state;
    check_model(0, 5);
}

static void test_batch_with_spans(void **state) {
    (void)state;
    check_model(1, 9);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_matches_single),
        cmocka_unit_test(test_batch_with_spans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
