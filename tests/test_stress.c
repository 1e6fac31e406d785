/* test_stress.c - one loaded checkpoint and one two-task bundle served by
 * many threads at once, each with its own context, classifying different
 * sentences with different policies (base, ee, lai), thresholds and tasks;
 * every result equals the single-threaded one bit for bit.  Run under
 * ThreadSanitizer by `make TSAN=1 test-threads`. */
#include "testutil.h"

#include <pthread.h>

#include "edgebert.h"
#include "model/bundle.h"
#include "tinymodel.h"

enum { NT = 8, JOBS = 24 };

static const char *const k_sentences[] = {
    "a gorgeous, witty, seductive movie.",
    "the film is strictly routine.",
    "it's a charming and often affecting journey.",
    "unflinchingly bleak and desperate",
    "it's slow -- very, very slow.",
    "a sometimes tedious film.",
    "the mesmerizing performances of the leads keep the film grounded.",
    "What came into force after the new constitution was herald?",
    "or doing last year's taxes with your ex-wife.",
    "you don't have to know about music to appreciate the film's easygoing blend of comedy and "
    "romance.",
};
#define NS ((int)(sizeof k_sentences / sizeof k_sentences[0]))

typedef struct server {
    const eb_model *m;
    int n_tasks;
    const char *tasks[2];
    int n_policies; /* 3 with an exit predictor table (lai), else 2 */
} server;

typedef struct job_out {
    eb_status s;
    eb_result r;
} job_out;

typedef struct worker {
    const server *srv; /* [2]: checkpoint, bundle */
    int id;
    job_out out[JOBS];
} worker;

/* What job j of worker w does: deterministic, different per worker. */
static void run_job(const server *srv, int w, int j, eb_context *ctx[2], job_out *o) {
    int which = (w + j) % 2;
    const server *s = &srv[which];
    eb_run_params p = eb_run_params_default();
    p.policy = (eb_policy)((w * 7 + j) % s->n_policies);
    p.threshold = (j % 4 == 0) ? -1.0f : 0.1f + 0.15f * (float)((w + 3 * j) % 5);
    p.latency_target_ms = (j % 2) ? 50.0 : 0.05;
    p.task = s->tasks[(w + j / 2) % s->n_tasks];
    const char *a = k_sentences[(w * 3 + j) % NS];
    const char *b = (j % 3 == 0) ? k_sentences[(w + j + 1) % NS] : NULL;
    eb_error err = {0};
    memset(&o->r, 0, sizeof o->r);
    if (eb_model_tokenizer(s->m)) {
        o->s = eb_classify(ctx[which], a, b, &p, &o->r, &err);
    } else {
        int32_t ids[12] = {2};
        int n = 1 + (w + j) % 10;
        for (int i = 1; i < n; i++)
            ids[i] = (int32_t)(5 + (w * 31 + j * 17 + i * 7) % 90);
        ids[n++] = 3;
        o->s = eb_classify_ids(ctx[which], ids, NULL, n, &p, &o->r, &err);
    }
}

static void *worker_main(void *arg) {
    worker *wk = arg;
    eb_context *ctx[2] = {NULL, NULL};
    eb_error err = {0};
    for (int i = 0; i < 2; i++)
        if (eb_context_new(wk->srv[i].m, &ctx[i], &err) != EB_OK) goto out;
    for (int j = 0; j < JOBS; j++)
        run_job(wk->srv, wk->id, j, ctx, &wk->out[j]);
out:
    eb_context_free(ctx[0]);
    eb_context_free(ctx[1]);
    return NULL;
}

static void same_result(const job_out *a, const job_out *b, int w, int j) {
    if (a->s != b->s) fail_msg("worker %d job %d: status %d vs %d", w, j, a->s, b->s);
    if (a->s != EB_OK) return;
    const eb_result *x = &a->r, *y = &b->r;
    if (x->label != y->label || x->exit_layer != y->exit_layer ||
        x->predicted_layer != y->predicted_layer || x->n_tokens != y->n_tokens)
        fail_msg("worker %d job %d: label/exit/predicted/tokens differ", w, j);
    assert_memory_equal(x->logits, y->logits, sizeof(float) * (size_t)x->num_labels);
    assert_memory_equal(x->entropies, y->entropies, sizeof(float) * (size_t)x->exit_layer);
    if (x->hw.energy_uj != y->hw.energy_uj || x->hw.vdd != y->hw.vdd ||
        x->hw.freq_mhz != y->hw.freq_mhz)
        fail_msg("worker %d job %d: accelerator report differs", w, j);
}

static void test_stress(void **state) {
    (void)state;
    char sp[512], lut[512];
    int has_spm = eb_test_data_path(sp, sizeof sp, "albert/spiece.model");
    int has_lut = eb_test_data_path(lut, sizeof lut, "edgebert/sst2_exit_lut.csv");
    if (!has_lut)
        fprintf(stderr, "note: %s missing: no LAI jobs (it needs an exit predictor table)\n", lut);
    if (!has_spm)
        fprintf(stderr, "note: %s missing: token ids instead of sentences, no bundle\n", sp);
    char a[64], b[64], bundle[128];
    tiny_spec s = tiny_default();
    s.layers = 12, s.spiece = has_spm ? sp : NULL, s.lut = has_lut ? lut : NULL, s.seed = 5,
    s.emb_seed = 9;
    int np = has_lut ? 3 : 2;
    tiny_make(a, &s);
    s.seed = 6, s.labels = 3;
    tiny_make(b, &s);
    eb_error err = {0};
    eb_model *m_ckpt = NULL, *m_bundle = NULL;
    assert_int_equal(eb_model_load(a, NULL, &m_ckpt, &err), EB_OK);
    server srv[2] = {{m_ckpt, 1, {NULL, NULL}, np}, {NULL, 0, {NULL, NULL}, np}};
    if (has_spm) {
        snprintf(bundle, sizeof bundle, "%s/two.ebb", a);
        eb_pack_task tasks[2] = {{"sst2", a}, {"mnli", b}};
        eb_pack_params pp = eb_pack_params_default();
        if (eb_bundle_pack(bundle, tasks, 2, &pp, &err) != EB_OK) fail_msg("%s", err.msg);
        assert_int_equal(eb_model_load(bundle, NULL, &m_bundle, &err), EB_OK);
        srv[1] = (server){m_bundle, 2, {"sst2", "mnli"}, np};
    } else {
        srv[1] = srv[0]; /* no tokenizer for a bundle: the checkpoint twice */
    }
    static worker single[NT], multi[NT];
    for (int w = 0; w < NT; w++) {
        single[w].srv = multi[w].srv = srv;
        single[w].id = multi[w].id = w;
        worker_main(&single[w]);
    }
    pthread_t th[NT];
    for (int w = 0; w < NT; w++)
        assert_int_equal(pthread_create(&th[w], NULL, worker_main, &multi[w]), 0);
    for (int w = 0; w < NT; w++)
        pthread_join(th[w], NULL);
    int ok = 0, lai = 0, early = 0;
    for (int w = 0; w < NT; w++)
        for (int j = 0; j < JOBS; j++) {
            same_result(&single[w].out[j], &multi[w].out[j], w, j);
            if (single[w].out[j].s == EB_OK) {
                ok++;
                lai += single[w].out[j].r.predicted_layer > 0;
                early += single[w].out[j].r.exit_layer < 12;
            }
        }
    /* the mix really exercised every path */
    assert_int_equal(ok, NT * JOBS);
    assert_true(lai > 0 || !has_lut);
    assert_true(early > 0);
    fprintf(stderr,
            "  %d threads x %d jobs: all equal to single-threaded (%d LAI, %d early exits)\n", NT,
            JOBS, lai, early);
    eb_model_free(m_bundle);
    eb_model_free(m_ckpt);
    tiny_remove(a);
    tiny_remove(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
