/* test_limits.c - resource limits: out-of-memory is a clean EB_ERR_NOMEM at
 * every allocation of loading a model or a bundle and making a context (a
 * user allocator failing after k allocations, k = 0, 1, ...), nothing
 * leaks; shapes that would need absurd memory are refused before
 * allocating. */
#include "testutil.h"

#include "edgebert.h"
#include "model/bundle.h"
#include "tinymodel.h"

/* ---- a user allocator that fails after `budget` allocations ----------- */

typedef struct counting {
    long budget; /* allocations allowed; < 0: unlimited */
    long calls;  /* allocation calls made */
    long live;   /* blocks allocated and not freed */
} counting;

static void *c_alloc(void *ud, size_t n) {
    counting *c = ud;
    c->calls++;
    if (c->budget >= 0 && c->calls > c->budget) return NULL;
    void *p = malloc(n);
    if (p) c->live++;
    return p;
}

static void *c_realloc(void *ud, void *p, size_t n) {
    counting *c = ud;
    c->calls++;
    if (c->budget >= 0 && c->calls > c->budget) return NULL;
    void *q = realloc(p, n);
    if (q && !p) c->live++;
    return q;
}

static void c_free(void *ud, void *p) {
    counting *c = ud;
    if (p) c->live--;
    free(p);
}

/* Load path, make a context, classify ids (and a sentence when there is a
 * tokenizer) with allocations limited to budget.  Returns the first
 * failing status (EB_OK when everything succeeded); checks nothing leaked. */
static eb_status pipeline(const char *path, long budget, int use_mmap, long *calls, eb_error *err) {
    counting c = {budget, 0, 0};
    eb_load_params lp = eb_load_params_default();
    lp.alloc = (eb_allocator){c_alloc, c_realloc, c_free, &c};
    lp.use_mmap = use_mmap;
    eb_model *m = NULL;
    eb_context *ctx = NULL;
    eb_status s = eb_model_load(path, &lp, &m, err);
    if (s == EB_OK) s = eb_context_new(m, &ctx, err);
    if (s == EB_OK) {
        static const int32_t ids[] = {2, 17, 45, 99, 3};
        eb_result r;
        for (int t = 0; s == EB_OK && t < eb_model_num_tasks(m); t++) {
            eb_run_params p = eb_run_params_default();
            p.task = eb_model_task_name(m, t);
            p.policy = EB_POLICY_EE;
            s = eb_classify_ids(ctx, ids, NULL, 5, &p, &r, err);
            if (s == EB_OK && eb_model_tokenizer(m))
                s = eb_classify(ctx, "a gorgeous movie", NULL, &p, &r, err);
        }
    }
    eb_context_free(ctx);
    eb_model_free(m);
    if (c.live != 0)
        fail_msg("%s: budget %ld: %ld blocks leaked (status %d: %s)", path, budget, c.live, s,
                 err->msg);
    *calls = c.calls;
    return s;
}

/* k = 0, 1, ...: every failure is EB_ERR_NOMEM with a message, until the
 * whole pipeline succeeds. */
static void oom_sweep(const char *path, int use_mmap) {
    eb_error err = {0};
    long calls = 0;
    assert_int_equal(pipeline(path, -1, use_mmap, &calls, &err), EB_OK);
    long total = calls, k;
    assert_true(total > 0);
    for (k = 0; k <= total; k++) {
        memset(&err, 0, sizeof err);
        eb_status s = pipeline(path, k, use_mmap, &calls, &err);
        if (s == EB_OK) break;
        if (s != EB_ERR_NOMEM)
            fail_msg("%s: allocation %ld failing gave status %d: %s", path, k + 1, s, err.msg);
        assert_true(err.msg[0] != 0);
    }
    assert_int_equal(k, total); /* only the full budget succeeds */
    fprintf(stderr, "  %s (mmap %d): %ld allocations, each failure a clean EB_ERR_NOMEM\n", path,
            use_mmap, total);
}

static void test_oom_model(void **state) {
    (void)state;
    char dir[64], sp[512];
    tiny_spec s = tiny_default();
    int has_spm = eb_test_data_path(sp, sizeof sp, "albert/spiece.model");
    s.spiece = has_spm ? sp : NULL;
    char lut[512];
    if (eb_test_data_path(lut, sizeof lut, "edgebert/sst2_exit_lut.csv")) {
        s.layers = 12;
        s.lut = lut;
    }
    tiny_make(dir, &s);
    oom_sweep(dir, 1);
    oom_sweep(dir, 0);
    tiny_remove(dir);
}

static void test_oom_bundle(void **state) {
    (void)state;
    char sp[512];
    EB_REQUIRE_DATA(sp, "albert/spiece.model");
    char a[64], b[64], out[128];
    tiny_spec s = tiny_default();
    s.spiece = sp;
    tiny_make(a, &s);
    s.seed = 2;
    s.labels = 3;
    tiny_make(b, &s);
    eb_pack_task tasks[2] = {{"sst2", a}, {"mnli", b}};
    eb_pack_params pp = eb_pack_params_default();
    eb_error err = {0};
    for (int w = 0; w < 2; w++) {
        pp.weights = w ? EB_WEIGHTS_AF8 : EB_WEIGHTS_F32;
        snprintf(out, sizeof out, "%s/b%d.ebb", a, w);
        if (eb_bundle_pack(out, tasks, 2, &pp, &err) != EB_OK) fail_msg("%s", err.msg);
        oom_sweep(out, 1);
    }
    oom_sweep(out, 0);
    tiny_remove(a);
    tiny_remove(b);
}

/* A small checkpoint whose shapes ask for > 4 GiB of working memory per
 * context (128 heads x 4096 positions squared) is refused at load. */
static void test_absurd_context(void **state) {
    (void)state;
    char dir[64];
    tiny_spec s = tiny_default();
    s.vocab = 100, s.H = 128, s.heads = 128, s.P = 4096, s.layers = 2;
    tiny_make(dir, &s);
    counting c = {-1, 0, 0};
    eb_load_params lp = eb_load_params_default();
    lp.alloc = (eb_allocator){c_alloc, c_realloc, c_free, &c};
    eb_model *m = NULL;
    eb_error err = {0};
    assert_int_equal(eb_model_load(dir, &lp, &m, &err), EB_ERR_NOMEM);
    assert_null(m);
    assert_non_null(strstr(err.msg, "working memory"));
    assert_int_equal(c.live, 0);
    /* 16 heads is fine (1 GiB of attention scores would be allowed) */
    tiny_remove(dir);
    s.heads = 16, s.P = 1024;
    tiny_make(dir, &s);
    assert_int_equal(eb_model_load(dir, &lp, &m, &err), EB_OK);
    eb_model_free(m);
    tiny_remove(dir);
}

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Write a bundle with the given JSON header and a zero payload of psize bytes. */
static void write_bundle(const char *path, const char *json, size_t psize) {
    size_t h = strlen(json), p = (40 + h + 63) / 64 * 64, total = p + psize;
    uint8_t *d = calloc(1, total);
    assert_non_null(d);
    memcpy(d, "EBBUNDLE", 8);
    put_le(d + 8, 1, 4);
    put_le(d + 16, h, 8);
    put_le(d + 24, p, 8);
    put_le(d + 32, total, 8);
    memcpy(d + 40, json, h);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, total, f), total);
    fclose(f);
    free(d);
}

/* One payload region named by many tensors would decode to far more than
 * the file: refused (EB_ERR_NOMEM) before those allocations. */
static void test_bundle_bomb(void **state) {
    (void)state;
    enum { PSIZE = 1 << 16, NT = 200 };
    char *json = malloc(NT * 120 + 1024);
    assert_non_null(json);
    int o = sprintf(
        json,
        "{\"format\":\"edgebert-bundle\",\"version\":1,\"shared\":{},\"tasks\":[{\"name\":\"x\","
        "\"config\":{\"vocab_size\":10},\"tensors\":{");
    for (int i = 0; i < NT; i++)
        o += sprintf(json + o, "%s\"t%d\":{\"fmt\":\"f32\",\"shape\":[%d],\"off\":0,\"bytes\":%d}",
                     i ? "," : "", i, PSIZE / 4, PSIZE);
    sprintf(json + o, "}}]}");
    char path[64];
    snprintf(path, sizeof path, "/tmp/eb_bomb_%d.ebb", (int)getpid());
    write_bundle(path, json, PSIZE);
    free(json);
    counting c = {-1, 0, 0};
    eb_load_params lp = eb_load_params_default();
    lp.alloc = (eb_allocator){c_alloc, c_realloc, c_free, &c};
    eb_model *m = NULL;
    eb_error err = {0};
    assert_int_equal(eb_model_load(path, &lp, &m, &err), EB_ERR_NOMEM);
    assert_non_null(strstr(err.msg, "would decode"));
    assert_int_equal(c.live, 0);
    assert_true(c.calls < 2 * NT); /* stopped early: not every tensor was allocated */
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_model),
        cmocka_unit_test(test_oom_bundle),
        cmocka_unit_test(test_absurd_context),
        cmocka_unit_test(test_bundle_bomb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
