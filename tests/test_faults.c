/* test_faults.c - the ReRAM fault study: the model fork, the decoding rule of
 * faulty bitmasks (by hand), seeds -> identical faults, one trial recomputed
 * step by step, resume == uninterrupted, bitmask in SLC vs the same kind. */
#include "testutil.h"

#include <math.h>
#include <unistd.h>

#include "edgebert.h"
#include "edgebert/data.h"
#include "edgebert/faults.h"
#include "edgebert/quant.h"
#include "model/bundle.h"
#include "model/model_internal.h"
#include "tinymodel.h"

enum { V = 30000, E = 16, H = 16, NH = 2, I = 24, L = 2, P = 32, C = 2 };

/* ---- a tiny random checkpoint (and bundle) written here -------------- */

typedef struct fixture {
    char dir[64]; /* tiny_make's size */
} fixture;

/* Weights from `seed`, word embeddings from `emb_seed`; no off-ramps. */
static void make_checkpoint(fixture *fx, uint64_t seed, uint64_t emb_seed) {
    static const char *const label_names[C] = {"negative", "positive"};
    tiny_spec s = tiny_default();
    s.vocab = V, s.E = E, s.H = H, s.heads = NH, s.I = I, s.layers = L, s.P = P, s.labels = C;
    s.seed = seed, s.emb_seed = emb_seed, s.words_only = 1, s.ramps = 0;
    s.label_names = label_names;
    s.sc = (tiny_scales){0.1f, 0.4f, 0.4f, 0.4f, 0.4f, 0.6f, 1.5f, 0.05f, 0, 0};
    tiny_make(fx->dir, &s);
}

static void drop(fixture *fx) {
    tiny_remove(fx->dir);
}

/* ---- fork ------------------------------------------------------------- */

static void classify_set(eb_model *m, eb_result *out, int n) {
    eb_context *ctx;
    eb_error err = {0};
    assert_int_equal(eb_context_new(m, &ctx, &err), EB_OK);
    eb_run_params p = eb_run_params_default();
    p.policy = EB_POLICY_BASE;
    for (int k = 0; k < n; k++) {
        int32_t ids[7] = {
            2, (int32_t)(100 + 37 * k), (int32_t)(5000 + k), 17, (int32_t)(29000 - k), 40, 3};
        assert_int_equal(eb_classify_ids(ctx, ids, NULL, 7, &p, &out[k], &err), EB_OK);
    }
    eb_context_free(ctx);
}

/* A fork of A reading B's embeddings answers like B (same other weights,
 * other embeddings), and A is untouched. */
static void test_fork(void **state) {
    (void)state;
    fixture a, b;
    make_checkpoint(&a, 11, 100);
    make_checkpoint(&b, 11, 200);
    eb_error err = {0};
    eb_model *ma, *mb, *fork;
    assert_int_equal(eb_model_load(a.dir, NULL, &ma, &err), EB_OK);
    assert_int_equal(eb_model_load(b.dir, NULL, &mb, &err), EB_OK);
    enum { N = 12 };
    eb_result ra[N], rb[N], rf[N], ra2[N];
    classify_set(ma, ra, N);
    classify_set(mb, rb, N);
    /* the fork gets its own copy of B's embeddings */
    float *emb = malloc(sizeof(float) * V * E);
    memcpy(emb, mb->tasks[0].w.word_emb, sizeof(float) * V * E);
    assert_int_equal(eb_model_fork_embeddings(ma, emb, &fork, &err), EB_OK);
    assert_ptr_equal(fork->tasks[0].w.word_emb, emb);
    assert_ptr_not_equal(ma->tasks[0].w.word_emb, emb);
    assert_ptr_equal(fork->tasks[0].w.layers, ma->tasks[0].w.layers); /* shared, not copied */
    classify_set(fork, rf, N);
    int differ = 0;
    for (int k = 0; k < N; k++) {
        assert_memory_equal(rf[k].logits, rb[k].logits, sizeof(float) * C);
        differ += memcmp(ra[k].logits, rb[k].logits, sizeof(float) * C) != 0;
    }
    assert_true(differ > N / 2); /* the embeddings matter */
    eb_model_free(fork);         /* frees only the clone's table */
    classify_set(ma, ra2, N);
    for (int k = 0; k < N; k++)
        assert_memory_equal(ra[k].logits, ra2[k].logits, sizeof(float) * C);
    /* argument errors */
    assert_int_equal(eb_model_fork_embeddings(ma, NULL, &fork, &err), EB_ERR_ARG);
    assert_null(fork);
    free(emb);
    eb_model_free(ma);
    eb_model_free(mb);
    drop(&a);
    drop(&b);
}

/* ---- decoding rule, by hand ------------------------------------------- */

static void test_decode_rule(void **state) {
    (void)state;
    /* 2 rows x 20 columns: vpr = 2, padding bits 20..31 of each row */
    const int bias = 3;
    uint16_t masks[4] = {0x0005, 0x0001, 0x8000, 0x0000}; /* (0,0) (0,2) (0,16) (1,15) */
    uint8_t codes[4] = {0x30, 0xb8, 0x41, 0x2f};
    eb_stored_embeddings se = {2, 20, 2, bias, 4, masks, codes};
    float out[40], want[40];
    float v0 = eb_af8_to_float(0x30, bias), v1 = eb_af8_to_float(0xb8, bias);
    float v2 = eb_af8_to_float(0x41, bias), v3 = eb_af8_to_float(0x2f, bias);
    /* value by hand: 0x30 = e 3, m 0: 2^(3+3-10) = 1/16 */
    assert_true(v0 == 0.0625f);
    memset(want, 0, sizeof want);
    want[0] = v0, want[2] = v1, want[16] = v2, want[20 + 15] = v3;
    eb_fault_decode_embeddings(&se, masks, codes, out);
    assert_memory_equal(out, want, sizeof want);
    /* bit 1 of the first mask flipped 0 -> 1: position 1 takes 0xb8 and
     * every later value shifts one place; the last set bit runs past the
     * stored values and reads 0 */
    uint16_t m2[4] = {0x0007, 0x0001, 0x8000, 0x0000};
    memset(want, 0, sizeof want);
    want[0] = v0, want[1] = v1, want[2] = v2, want[16] = v3, want[35] = 0.0f;
    eb_fault_decode_embeddings(&se, m2, codes, out);
    assert_memory_equal(out, want, sizeof want);
    /* bit 2 flipped 1 -> 0: values shift back, the last stored one is unused */
    uint16_t m3[4] = {0x0001, 0x0001, 0x8000, 0x0000};
    memset(want, 0, sizeof want);
    want[0] = v0, want[16] = v1, want[35] = v2;
    eb_fault_decode_embeddings(&se, m3, codes, out);
    assert_memory_equal(out, want, sizeof want);
    /* a padding bit (column 20 of row 0 = bit 4 of vector 1) consumes a value */
    uint16_t m4[4] = {0x0005, 0x0011, 0x8000, 0x0000};
    memset(want, 0, sizeof want);
    want[0] = v0, want[2] = v1, want[16] = v2, want[35] = 0.0f;
    eb_fault_decode_embeddings(&se, m4, codes, out);
    assert_memory_equal(out, want, sizeof want);
    /* a code fault to 0x80 is a zero */
    uint8_t c2[4] = {0x30, 0x80, 0x41, 0x2f};
    memset(want, 0, sizeof want);
    want[0] = v0, want[16] = v2, want[35] = v3;
    eb_fault_decode_embeddings(&se, masks, c2, out);
    for (int i = 0; i < 40; i++)
        assert_true(out[i] == want[i]);
}

/* ---- injection: seeds and the SLC mask ---------------------------------- */

static void test_seeded_injection(void **state) {
    (void)state;
    enum { R = 500, NNZ = 4000 };
    const int vpr = 1;
    uint16_t *masks = malloc(sizeof(uint16_t) * R);
    uint8_t *codes = malloc(NNZ);
    uint64_t rng = 5;
    size_t nnz = 0;
    for (int r = 0; r < R; r++) {
        masks[r] = (uint16_t)(eb_test_rng(&rng) & 0xffff);
        nnz += (size_t)__builtin_popcount(masks[r]);
    }
    assert_true(nnz <= NNZ);
    for (size_t i = 0; i < nnz; i++)
        codes[i] = (uint8_t)(1 + eb_test_rng(&rng) % 127) | (eb_test_rng(&rng) & 0x80);
    eb_stored_embeddings se = {R, 16, vpr, 4, nnz, masks, codes};
    eb_fault_kind k3, k1;
    eb_error err = {0};
    assert_int_equal(eb_fault_kind_builtin(EB_CELL_MLC3, &k3, &err), EB_OK);
    assert_int_equal(eb_fault_kind_builtin(EB_CELL_SLC, &k1, &err), EB_OK);
    eb_reram_model m3, m1;
    assert_int_equal(eb_reram_model_init(&m3, &k3.table, &err), EB_OK);
    assert_int_equal(eb_reram_model_init(&m1, &k1.table, &err), EB_OK);
    uint8_t *c1 = malloc(nnz), *c2 = malloc(nnz), *c3 = malloc(nnz), *ref = malloc(nnz);
    uint16_t *k1m = malloc(sizeof(uint16_t) * R), *k2m = malloc(sizeof(uint16_t) * R),
             *k3m = malloc(sizeof(uint16_t) * R);
    eb_fault_stats vs, ms, vs2, ms2;
    assert_int_equal(eb_fault_inject_embeddings(&se, &m3, &m3, EB_FAULT_COUNT, 42, 43, c1, k1m, &vs,
                                                &ms, NULL, &err),
                     EB_OK);
    assert_int_equal(eb_fault_inject_embeddings(&se, &m3, &m3, EB_FAULT_COUNT, 42, 43, c2, k2m,
                                                &vs2, &ms2, NULL, &err),
                     EB_OK);
    assert_memory_equal(c1, c2, nnz);
    assert_memory_equal(k1m, k2m, sizeof(uint16_t) * R);
    assert_int_equal(vs.faults, vs2.faults);
    assert_true(vs.faults > 0 && ms.faults > 0);
    /* the values are the code bytes cut into 3-bit cells: the same as
     * injecting the byte stream directly with that seed */
    memcpy(ref, codes, nnz);
    assert_int_equal(eb_reram_inject_bytes(ref, nnz, &m3, EB_FAULT_COUNT, 42, NULL, NULL, &err),
                     EB_OK);
    assert_memory_equal(c1, ref, nnz);
    /* the masks as little-endian bytes, 3-bit cells, seed 43 */
    uint8_t *mb = malloc(2 * R);
    for (int r = 0; r < R; r++)
        mb[2 * r] = (uint8_t)masks[r], mb[2 * r + 1] = (uint8_t)(masks[r] >> 8);
    assert_int_equal(eb_reram_inject_bytes(mb, 2 * R, &m3, EB_FAULT_COUNT, 43, NULL, NULL, &err),
                     EB_OK);
    for (int r = 0; r < R; r++)
        assert_int_equal(k1m[r], mb[2 * r] | mb[2 * r + 1] << 8);
    /* another seed: other faults */
    assert_int_equal(eb_fault_inject_embeddings(&se, &m3, &m3, EB_FAULT_COUNT, 44, 43, c3, k3m,
                                                NULL, NULL, NULL, &err),
                     EB_OK);
    assert_true(memcmp(c1, c3, nnz) != 0);
    /* SLC masks: the rates are ~1e-20, so the count injector flips none */
    assert_int_equal(eb_fault_inject_embeddings(&se, &m3, &m1, EB_FAULT_COUNT, 42, 43, c3, k3m,
                                                &vs2, &ms2, NULL, &err),
                     EB_OK);
    assert_memory_equal(k3m, masks, sizeof(uint16_t) * R);
    assert_int_equal(ms2.faults, 0);
    assert_int_equal(ms2.cells, 2 * R * 8);
    /* no mask model: copied as is */
    assert_int_equal(eb_fault_inject_embeddings(&se, &m3, NULL, EB_FAULT_COUNT, 42, 43, c3, k3m,
                                                NULL, &ms2, NULL, &err),
                     EB_OK);
    assert_memory_equal(k3m, masks, sizeof(uint16_t) * R);
    assert_int_equal(ms2.faults, 0);
    free(mb), free(c1), free(c2), free(c3), free(ref), free(k1m), free(k2m), free(k3m), free(masks),
        free(codes);
}

/* ---- the study on a bundle -------------------------------------------- */

typedef struct study_fx {
    fixture ck;
    char bundle[300], ckpt[300];
    eb_model *m;
    eb_dataset *ds;
    int32_t ids[60][12];
    eb_fault_input in[60];
} study_fx;

enum { NEX = 60 };

static int study_setup(void **state) {
    char spm[400];
    if (!eb_test_data_path(spm, sizeof spm, "albert/spiece.model")) {
        fprintf(stderr, "SKIP: %s missing (a bundle needs the shared spiece.model)\n", spm);
        *state = NULL;
        return 0;
    }
    study_fx *f = calloc(1, sizeof *f);
    make_checkpoint(&f->ck, 21, 22);
    char path[400], *d;
    size_t n;
    eb_error err = {0};
    if (eb_read_file(spm, NULL, 0, &d, &n, &err) != EB_OK) return -1;
    snprintf(path, sizeof path, "%s/spiece.model", f->ck.dir);
    if (eb_write_file_atomic(path, d, n, &err) != EB_OK) return -1;
    free(d);
    snprintf(f->bundle, sizeof f->bundle, "%s/m.ebb", f->ck.dir);
    snprintf(f->ckpt, sizeof f->ckpt, "%s/study.ckpt", f->ck.dir);
    eb_pack_task t = {"sst2", f->ck.dir};
    eb_pack_params pp = eb_pack_params_default();
    pp.emb_keep = 0.5;
    if (eb_bundle_pack(f->bundle, &t, 1, &pp, &err) != EB_OK) return -1;
    if (eb_model_load(f->bundle, NULL, &f->m, &err) != EB_OK) return -1;
    /* a labeled SST-2 file; the token ids come from the test (tokens from
     * a few hundred ids so that faults hit some examples and not others) */
    char tsv[8192] = "sentence\tlabel\n";
    uint64_t rng = 77;
    for (int i = 0; i < NEX; i++) {
        snprintf(tsv + strlen(tsv), sizeof tsv - strlen(tsv), "s %d\t%d\n", i,
                 (int)(eb_test_rng(&rng) % 2));
        /* no [CLS]/[SEP]: ids shared by every example would make a
         * trial all-or-nothing */
        int len = 2 + (int)(eb_test_rng(&rng) % 8);
        for (int j = 0; j < len; j++)
            f->ids[i][j] = (int32_t)(5 + eb_test_rng(&rng) % 400);
        f->in[i].ids = f->ids[i];
        f->in[i].type_ids = NULL;
        f->in[i].n = len;
    }
    if (eb_dataset_load_buffer(tsv, strlen(tsv), "test.tsv", "sst2", NULL, &f->ds, &err) != EB_OK)
        return -1;
    *state = f;
    return 0;
}

static int study_teardown(void **state) {
    study_fx *f = *state;
    if (!f) return 0;
    eb_dataset_free(f->ds);
    eb_model_free(f->m);
    drop(&f->ck);
    free(f);
    return 0;
}

static eb_fault_kind g_kinds[2];

static eb_fault_study_params base_params(void) {
    eb_error err = {0};
    eb_fault_kind_builtin(EB_CELL_SLC, &g_kinds[0], &err);
    eb_fault_kind_builtin(EB_CELL_MLC3, &g_kinds[1], &err);
    eb_fault_study_params p = eb_fault_study_params_default();
    p.kinds = g_kinds;
    p.n_kinds = 2;
    p.trials = 6;
    p.seed = 1234;
    p.threads = 2;
    return p;
}

static void assert_same_trials(const eb_fault_study *a, const eb_fault_study *b) {
    assert_int_equal(a->n_kinds * a->trials, b->n_kinds * b->trials);
    for (int j = 0; j < a->n_kinds * a->trials; j++) {
        const eb_fault_trial *x = &a->trial[j], *y = &b->trial[j];
        assert_true(a->done[j] && b->done[j]);
        assert_true(x->accuracy == y->accuracy);
        assert_int_equal(x->value_faults, y->value_faults);
        assert_int_equal(x->mask_faults, y->mask_faults);
        assert_int_equal(x->changed_codes, y->changed_codes);
        assert_int_equal(x->changed_rows, y->changed_rows);
    }
}

/* One trial recomputed step by step from the documented seeds, with the
 * accuracy counted here; SLC never changes anything. */
static void test_study_trial_by_hand(void **state) {
    study_fx *f = *state;
    if (!f) skip();
    eb_error err = {0};
    eb_fault_study_params p = base_params();
    eb_fault_study *S;
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &S, &err), EB_OK);
    assert_true(S->complete);
    assert_int_equal(S->n_examples, NEX);
    assert_string_equal(S->metric, "accuracy");
    eb_stored_embeddings se;
    assert_int_equal(eb_fault_stored_embeddings(f->m, &se, &err), EB_OK);
    assert_int_equal(se.rows, V);
    assert_int_equal(se.cols, E);
    assert_int_equal(se.nnz, (size_t)V * E / 2); /* --emb-keep 0.5 */
    /* fault-free accuracy counted here */
    eb_context *ctx;
    eb_run_params rp = eb_run_params_default();
    rp.policy = EB_POLICY_BASE;
    assert_int_equal(eb_context_new(f->m, &ctx, &err), EB_OK);
    int right = 0;
    for (int i = 0; i < NEX; i++) {
        eb_result r;
        assert_int_equal(eb_classify_ids(ctx, f->in[i].ids, NULL, f->in[i].n, &rp, &r, &err),
                         EB_OK);
        right += r.label == f->ds->rows[i].label;
    }
    eb_context_free(ctx);
    assert_true(fabs(S->clean.accuracy - (double)right / NEX) < 1e-12);
    for (int i = 0; i < p.trials; i++) { /* SLC */
        assert_true(S->trial[i].accuracy == S->clean.accuracy);
        assert_int_equal(S->trial[i].value_faults, 0);
        assert_int_equal(S->trial[i].changed_rows, 0);
        assert_int_equal(S->trial[i].reevaluated, 0);
    }
    /* MLC3 trial 4 by hand */
    const int ti = 4;
    eb_reram_model vm, mm;
    assert_int_equal(eb_reram_model_init(&vm, &g_kinds[1].table, &err), EB_OK);
    assert_int_equal(eb_reram_model_init(&mm, &g_kinds[0].table, &err), EB_OK);
    uint8_t *codes = malloc(se.nnz);
    uint16_t *masks = malloc(sizeof(uint16_t) * V);
    float *emb = malloc(sizeof(float) * V * E);
    eb_fault_stats vs;
    assert_int_equal(
        eb_fault_inject_embeddings(&se, &vm, &mm, EB_FAULT_COUNT, eb_reram_trial_seed(1234, ti),
                                   eb_reram_trial_seed(1234 ^ EB_FAULT_MASK_SEED_SALT, ti), codes,
                                   masks, &vs, NULL, NULL, &err),
        EB_OK);
    eb_fault_decode_embeddings(&se, masks, codes, emb);
    long changed = 0;
    for (int r = 0; r < V; r++)
        changed += memcmp(emb + (size_t)r * E, f->m->tasks[0].w.word_emb + (size_t)r * E,
                          sizeof(float) * E) != 0;
    eb_model *fork;
    assert_int_equal(eb_model_fork_embeddings(f->m, emb, &fork, &err), EB_OK);
    assert_int_equal(eb_context_new(fork, &ctx, &err), EB_OK);
    right = 0;
    for (int i = 0; i < NEX; i++) {
        eb_result r;
        assert_int_equal(eb_classify_ids(ctx, f->in[i].ids, NULL, f->in[i].n, &rp, &r, &err),
                         EB_OK);
        right += r.label == f->ds->rows[i].label;
    }
    eb_context_free(ctx);
    eb_model_free(fork);
    const eb_fault_trial *t = &S->trial[p.trials + ti];
    assert_true(fabs(t->accuracy - (double)right / NEX) < 1e-12);
    assert_int_equal(t->value_faults, (long)vs.faults);
    assert_int_equal(t->changed_rows, changed);
    assert_true(changed > 0);
    assert_true(t->reevaluated > 0 && t->reevaluated < NEX); /* some examples kept their answer */
    /* summary by hand */
    double sum = 0, mn = 1;
    for (int i = 0; i < p.trials; i++) {
        sum += S->trial[p.trials + i].accuracy;
        mn = fmin(mn, S->trial[p.trials + i].accuracy);
    }
    assert_true(fabs(S->summary[1].mean_accuracy - sum / p.trials) < 1e-12);
    assert_true(S->summary[1].min_accuracy == mn);
    assert_true(S->summary[1].fault_rate > 1e-3 && S->summary[1].fault_rate < 1e-2);
    assert_int_equal(S->summary[1].value_cells, (se.nnz * 8 + 2) / 3);
    free(codes), free(masks), free(emb);
    eb_fault_study_free(S);
}

typedef struct fault_stop {
    long at;             /* ask to stop once this many trials are done */
    int reports, checks; /* calls seen */
} fault_stop;
static int stop_at_trial(void *ud, const eb_progress *p) {
    fault_stop *s = ud;
    assert_string_equal(p->phase, "faults");
    assert_int_equal(p->total, 12);
    s->reports += p->report;
    s->checks += !p->report;
    return p->done >= s->at;
}

/* Interrupted after half the trials and resumed == one uninterrupted run;
 * thread count and the clean-answer reuse do not change anything; another
 * seed refuses the checkpoint; a stop through the progress callback resumes too. */
static void test_study_resume(void **state) {
    study_fx *f = *state;
    if (!f) skip();
    eb_error err = {0};
    eb_fault_study_params p = base_params();
    eb_fault_study *full, *half, *resumed, *one, *noreuse;
    p.threads = 1;
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &full, &err), EB_OK);
    assert_true(full->complete);
    unlink(f->ckpt);
    p.threads = 2;
    p.checkpoint = f->ckpt;
    p.stop_after = 6; /* of 12 */
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &half, &err), EB_OK);
    assert_false(half->complete);
    int done = 0;
    for (int j = 0; j < 12; j++)
        done += half->done[j];
    assert_int_equal(done, 6);
    eb_fault_study_free(half);
    p.stop_after = 0;
    p.resume = 1;
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &resumed, &err), EB_OK);
    assert_true(resumed->complete);
    assert_int_equal(resumed->resumed, 6);
    assert_same_trials(full, resumed);
    assert_true(resumed->summary[1].mean_accuracy == full->summary[1].mean_accuracy);
    assert_true(resumed->summary[1].min_accuracy == full->summary[1].min_accuracy);
    eb_fault_study_free(resumed);
    /* resuming a finished study runs nothing and gives the same */
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &one, &err), EB_OK);
    assert_int_equal(one->resumed, 12);
    assert_same_trials(full, one);
    eb_fault_study_free(one);
    /* other options: refused */
    p.seed = 99;
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &one, &err), EB_ERR_ARG);
    assert_non_null(strstr(err.msg, "other options"));
    p.seed = 1234;
    p.trials = 7;
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &one, &err), EB_ERR_ARG);
    p.trials = 6;
    p.mask = EB_MASK_SAME;
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &one, &err), EB_ERR_ARG);
    /* a damaged checkpoint is a format error */
    p.mask = EB_MASK_SLC;
    FILE *fp = fopen(f->ckpt, "a");
    fputs("trial 9 0 0.5\n", fp);
    fclose(fp);
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &one, &err), EB_ERR_FORMAT);
    /* a stop asked for by the progress callback: the study ends after that trial, resumably */
    unlink(f->ckpt);
    p.resume = 0;
    p.threads = 1;
    fault_stop fs = {4, 0, 0};
    p.progress = stop_at_trial;
    p.progress_ud = &fs;
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &half, &err), EB_OK);
    assert_false(half->complete);
    done = 0;
    for (int j = 0; j < 12; j++)
        done += half->done[j];
    assert_int_equal(done, 4);
    assert_int_equal(fs.reports, 4);
    assert_true(fs.checks >= 4); /* one before each trial */
    eb_fault_study_free(half);
    p.progress = NULL;
    p.resume = 1;
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &resumed, &err), EB_OK);
    assert_true(resumed->complete);
    assert_int_equal(resumed->resumed, 4);
    assert_same_trials(full, resumed);
    eb_fault_study_free(resumed);
    /* every example re-run: identical */
    p.resume = 0;
    p.checkpoint = NULL;
    p.reuse_clean = 0;
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &noreuse, &err), EB_OK);
    assert_same_trials(full, noreuse);
    for (int j = 0; j < 12; j++)
        assert_int_equal(noreuse->trial[j].reevaluated, NEX);
    eb_fault_study_free(noreuse);
    eb_fault_study_free(full);
}

/* The bitmask in SLC is never hit; in MLC3 its faults shift the values of
 * the rest of the matrix, so far more vocabulary rows change. */
static void test_study_mask_storage(void **state) {
    study_fx *f = *state;
    if (!f) skip();
    eb_error err = {0};
    eb_fault_study_params p = base_params();
    p.kinds = &g_kinds[1]; /* mlc3 only */
    p.n_kinds = 1;
    eb_fault_study *slc, *same;
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &slc, &err), EB_OK);
    p.mask = EB_MASK_SAME;
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &same, &err), EB_OK);
    /* the values' faults are the same draws in both (same seeds) */
    for (int i = 0; i < p.trials; i++) {
        assert_int_equal(slc->trial[i].mask_faults, 0);
        assert_true(same->trial[i].mask_faults > 0);
        assert_int_equal(slc->trial[i].value_faults, same->trial[i].value_faults);
        assert_int_equal(slc->trial[i].changed_codes, same->trial[i].changed_codes);
        assert_true(same->trial[i].changed_rows > 5 * slc->trial[i].changed_rows);
    }
    assert_true(same->summary[0].mean_mask_faults > 0);
    assert_true(same->summary[0].mask_fault_rate == same->summary[0].fault_rate);
    assert_true(slc->summary[0].mask_fault_rate < 1e-12);
    /* kinds studied alone give the same trials as in a group */
    p.mask = EB_MASK_SLC;
    p.kinds = g_kinds;
    p.n_kinds = 2;
    eb_fault_study *both;
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &both, &err), EB_OK);
    for (int i = 0; i < p.trials; i++) {
        assert_true(both->trial[p.trials + i].accuracy == slc->trial[i].accuracy);
        assert_int_equal(both->trial[p.trials + i].changed_rows, slc->trial[i].changed_rows);
    }
    eb_fault_study_free(both);
    eb_fault_study_free(slc);
    eb_fault_study_free(same);
}

/* An fp32 bundle has no AF8 embeddings to study. */
static void test_study_needs_af8(void **state) {
    study_fx *f = *state;
    if (!f) skip();
    char path[400];
    snprintf(path, sizeof path, "%s/f32.ebb", f->ck.dir);
    eb_pack_task t = {"sst2", f->ck.dir};
    eb_pack_params pp = eb_pack_params_default();
    pp.weights = EB_WEIGHTS_F32;
    eb_error err = {0};
    assert_int_equal(eb_bundle_pack(path, &t, 1, &pp, &err), EB_OK);
    eb_model *m;
    assert_int_equal(eb_model_load(path, NULL, &m, &err), EB_OK);
    eb_stored_embeddings se;
    assert_int_equal(eb_fault_stored_embeddings(m, &se, &err), EB_ERR_UNSUPPORTED);
    eb_fault_study_params p = base_params();
    eb_fault_study *S;
    assert_int_equal(eb_fault_study_run(m, f->ds, f->in, &p, &S, &err), EB_ERR_UNSUPPORTED);
    eb_model_free(m);
    /* bad parameters */
    p.trials = 0;
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &S, &err), EB_ERR_ARG);
    p = base_params();
    p.resume = 1;
    assert_int_equal(eb_fault_study_run(f->m, f->ds, f->in, &p, &S, &err), EB_ERR_ARG);
    p = base_params();
    eb_fault_input bad[NEX];
    memcpy(bad, f->in, sizeof bad);
    int32_t big[3] = {2, V, 3};
    bad[5].ids = big;
    bad[5].n = 3;
    assert_int_equal(eb_fault_study_run(f->m, f->ds, bad, &p, &S, &err), EB_ERR_INPUT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork),
        cmocka_unit_test(test_decode_rule),
        cmocka_unit_test(test_seeded_injection),
        cmocka_unit_test_setup_teardown(test_study_trial_by_hand, study_setup, study_teardown),
        cmocka_unit_test_setup_teardown(test_study_resume, study_setup, study_teardown),
        cmocka_unit_test_setup_teardown(test_study_mask_storage, study_setup, study_teardown),
        cmocka_unit_test_setup_teardown(test_study_needs_af8, study_setup, study_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
