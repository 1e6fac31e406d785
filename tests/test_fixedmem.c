/* test_fixedmem.c - fixed-memory mode: a bundle loaded from an aligned,
 * read-only image and run in a caller arena.  After load every allocation
 * fails (the model's allocator and, outside the sanitizer builds, libc's
 * malloc family itself), so a hidden allocation fails the run.  The results
 * must be bit-identical to the ordinary file-loaded model; the arena size is
 * exact (one byte less is refused); nothing is written past the arena. */
#include "testutil.h"
#include "tinymodel.h"

#include <sys/mman.h>

#include "edgebert/fixedmem.h"
#include "model/bundle.h"

/* ---- a hard limit on libc's allocator (glibc: __libc_* are the real ones).
 * OpenBLAS's small-matrix sgemm kernels malloc a packing buffer on every call,
 * so the libc-level limit is enforced only in builds without it (NOBLAS=1,
 * EB_MINIMAL=1: the fixed-memory targets); with OpenBLAS its calls are counted
 * and reported.  The model's own allocator is held to zero in every build. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define EB_TEST_INTERPOSE 0
#else
#define EB_TEST_INTERPOSE 1
#endif
#ifdef EB_NO_BLAS
#define EB_TEST_LIBC_HARD 1
#else
#define EB_TEST_LIBC_HARD 0
#endif
static volatile int g_forbid;   /* 1: every allocation fails (counted only, see above) */
static volatile long g_refused; /* libc allocations while forbidden */
#define LIBC_GUARD()                                                                               \
    do {                                                                                           \
        if (g_forbid) {                                                                            \
            g_refused++;                                                                           \
            if (EB_TEST_LIBC_HARD) return NULL;                                                    \
        }                                                                                          \
    } while (0)
#if EB_TEST_INTERPOSE
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
void *malloc(size_t n) {
    LIBC_GUARD();
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    LIBC_GUARD();
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    LIBC_GUARD();
    return __libc_realloc(p, n);
}
void *memalign(size_t al, size_t n) {
    LIBC_GUARD();
    return __libc_memalign(al, n);
}
void *aligned_alloc(size_t al, size_t n) {
    return memalign(al, n);
}
int posix_memalign(void **out, size_t al, size_t n) {
    void *p = memalign(al, n);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}
#endif

/* ---- the model's allocator: counts bytes live, fails when forbidden */
typedef struct counting {
    size_t live, peak;
    long calls_after;
} counting;

static void *c_alloc(void *ud, size_t n) {
    counting *c = ud;
    if (g_forbid) return c->calls_after++, NULL;
    size_t *p = malloc(n + 16);
    if (!p) return NULL;
    p[0] = n;
    c->live += n;
    if (c->live > c->peak) c->peak = c->live;
    return (char *)p + 16;
}
static void c_free(void *ud, void *q) {
    counting *c = ud;
    if (!q) return;
    size_t *p = (size_t *)((char *)q - 16);
    c->live -= p[0];
    free(p);
}
static void *c_realloc(void *ud, void *q, size_t n) {
    if (!q) return c_alloc(ud, n);
    void *r = c_alloc(ud, n);
    if (!r) return NULL;
    size_t old = *(size_t *)((char *)q - 16);
    memcpy(r, q, old < n ? old : n);
    c_free(ud, q);
    return r;
}

/* A bundle of a tiny random model, read into a read-only 64-aligned image. */
typedef struct image {
    char dir[64];
    char path[128];
    void *data;
    size_t size, mapped;
} image;

static void make_image(image *im, eb_weight_format wf, const tiny_spec *sp) {
    tiny_make(im->dir, sp);
    snprintf(im->path, sizeof im->path, "%s/b.ebb", im->dir);
    eb_pack_task pt[1] = {{"t", im->dir}};
    eb_pack_params pp = eb_pack_params_default();
    pp.weights = wf;
    eb_error err = {0};
    if (eb_bundle_pack(im->path, pt, 1, &pp, &err) != EB_OK) fail_msg("pack: %s", err.msg);
    char *d;
    assert_int_equal(eb_read_file(im->path, NULL, 0, &d, &im->size, &err), EB_OK);
    im->mapped = (im->size + 4095) & ~(size_t)4095;
    im->data = mmap(NULL, im->mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(im->data != MAP_FAILED);
    memcpy(im->data, d, im->size);
    free(d);
    assert_int_equal(mprotect(im->data, im->mapped, PROT_READ), 0); /* a write would fault */
}

static void drop_image(image *im) {
    munmap(im->data, im->mapped);
    tiny_remove(im->dir);
}

static void run_fixed(eb_weight_format wf, eb_precision prec, int max_tokens) {
    char spm[400];
    EB_REQUIRE_DATA(spm, "albert/spiece.model"); /* a bundle carries the tokenizer */
    tiny_spec sp = tiny_default();
    sp.spiece = spm;
    sp.vocab = 30000, sp.E = 16, sp.H = 32, sp.heads = 4, sp.I = 64, sp.layers = 3, sp.P = 40;
    sp.labels = 3;
    image im;
    make_image(&im, wf, &sp);
    eb_error err = {0};
    /* the reference: the ordinary loader and context */
    eb_model *ref;
    assert_int_equal(eb_model_load(im.path, NULL, &ref, &err), EB_OK);
    eb_context *rctx;
    assert_int_equal(eb_context_new(ref, &rctx, &err), EB_OK);

    counting cnt = {0};
    eb_load_params lp = eb_load_params_default();
    lp.alloc = (eb_allocator){c_alloc, c_realloc, c_free, &cnt};
    eb_model *m;
    if (eb_model_load_buffer(im.data, im.size, "tiny", &lp, &m, &err) != EB_OK)
        fail_msg("load_buffer: %s", err.msg);
    size_t need;
    assert_int_equal(eb_context_arena_size(m, max_tokens, prec, &need, &err), EB_OK);
    assert_true(need > 0);
    size_t load_bytes = cnt.live;

    /* the arena with a guard tail */
    const size_t guard = 256;
    uint8_t *arena = aligned_alloc(64, (need + guard + 63) & ~(size_t)63);
    assert_non_null(arena);
    memset(arena, 0x5a, need + guard);
    eb_context *ctx;
    /* one byte short is refused cleanly, then the exact size works */
    assert_int_equal(eb_context_new_in_arena(m, max_tokens, prec, arena, need - 1, &ctx, &err),
                     EB_ERR_NOMEM);
    assert_null(ctx);
    assert_non_null(strstr(err.msg, "too small"));
    assert_int_equal(eb_context_new_in_arena(m, max_tokens, prec, arena + 8, need, &ctx, &err),
                     EB_ERR_ARG); /* misaligned */

    uint64_t rng = 77;
    int32_t ids[64];
    eb_run_params p = eb_run_params_default();
    p.policy = EB_POLICY_BASE;
    p.precision = prec;
    eb_result r[6], rr;
    eb_status st[6];
    memset(arena, 0x5a, need + guard);
    fflush(stdout);
    fflush(stderr);
    /* from here on: no allocation may succeed */
    g_refused = 0;
    g_forbid = 1;
    eb_status cs = eb_context_new_in_arena(m, max_tokens, prec, arena, need, &ctx, &err);
    for (int t = 0; t < 6 && cs == EB_OK; t++) {
        int n = 2 + (max_tokens - 2) * t / 5;
        for (int i = 0; i < n; i++)
            ids[t * 0 + i] = (int32_t)(eb_test_rng(&rng) % (uint64_t)sp.vocab);
        p.policy = t % 2 ? EB_POLICY_EE : EB_POLICY_BASE;
        st[t] = eb_classify_ids(ctx, ids, NULL, n, &p, &r[t], &err);
        if (st[t] != EB_OK) break;
    }
    g_forbid = 0;
    if (cs != EB_OK) fail_msg("arena context: %s", err.msg);
    assert_int_equal(cnt.calls_after, 0);
    if (EB_TEST_LIBC_HARD || !EB_TEST_INTERPOSE)
        assert_int_equal(g_refused, 0);
    else if (g_refused)
        printf("note: OpenBLAS allocated %ld times inside sgemm (build with NOBLAS=1 for none)\n",
               (long)g_refused);
    for (size_t i = 0; i < guard; i++)
        assert_int_equal(arena[need + i], 0x5a);
    /* the same sentences through the ordinary path: identical results */
    rng = 77;
    for (int t = 0; t < 6; t++) {
        if (st[t] != EB_OK) fail_msg("fixed-memory classify %d: %s", t, err.msg);
        int n = 2 + (max_tokens - 2) * t / 5;
        for (int i = 0; i < n; i++)
            ids[i] = (int32_t)(eb_test_rng(&rng) % (uint64_t)sp.vocab);
        p.policy = t % 2 ? EB_POLICY_EE : EB_POLICY_BASE;
        assert_int_equal(eb_classify_ids(rctx, ids, NULL, n, &p, &rr, &err), EB_OK);
        assert_int_equal(r[t].label, rr.label);
        assert_int_equal(r[t].exit_layer, rr.exit_layer);
        assert_memory_equal(r[t].logits, rr.logits, sizeof rr.logits);
    }
    /* longer than the arena was sized for: refused, no overflow */
    int32_t many[80] = {0};
    assert_int_equal(eb_classify_ids(ctx, many, NULL, max_tokens + 1, &p, &rr, &err), EB_ERR_INPUT);
    printf(
        "fixed-memory %s/%s, %d tokens: arena %zu bytes, model heap %zu bytes, image %zu bytes\n",
        wf == EB_WEIGHTS_AF8 ? "af8" : "f32", prec == EB_PRECISION_AF8 ? "af8" : "fp32", max_tokens,
        need, load_bytes, im.size);
    eb_context_free(ctx); /* a no-op for arena contexts */
    free(arena);
    eb_model_free(m);
    assert_int_equal(cnt.live, 0);
    eb_context_free(rctx);
    eb_model_free(ref);
    drop_image(&im);
}

static void test_fixed_f32(void **state) {
    (void)state;
    run_fixed(EB_WEIGHTS_F32, EB_PRECISION_FP32, 40);
}

static void test_fixed_af8(void **state) {
    (void)state;
    run_fixed(EB_WEIGHTS_AF8, EB_PRECISION_AF8, 24);
}

/* Bad images and arguments are refused with a status, not a crash. */
static void test_refusals(void **state) {
    (void)state;
    eb_error err = {0};
    eb_model *m = NULL;
    static _Alignas(64) const uint8_t junk[128] = {'N', 'O', 'T', 'A', 'B', 'N', 'D', 'L'};
    assert_int_equal(eb_model_load_buffer(junk, sizeof junk, NULL, NULL, &m, &err), EB_ERR_FORMAT);
    assert_null(m);
    assert_int_equal(eb_model_load_buffer(junk + 1, 64, NULL, NULL, &m, &err), EB_ERR_ARG);
    assert_int_equal(eb_model_load_buffer(NULL, 0, NULL, NULL, &m, &err), EB_ERR_ARG);
}

/* The shipped bundle, when present, under the same hard limit. */
static void test_shipped_bundle(void **state) {
    (void)state;
    const char *path = "models/default.ebb";
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "SKIP: %s not present yet (the shipped bundle)\n", path);
        skip();
    }
    eb_error err = {0};
    char *d;
    size_t size;
    assert_int_equal(eb_read_file(path, NULL, 0, &d, &size, &err), EB_OK);
    void *img = aligned_alloc(64, (size + 63) & ~(size_t)63);
    memcpy(img, d, size);
    free(d);
    eb_model *m, *ref;
    if (eb_model_load_buffer(img, size, path, NULL, &m, &err) != EB_OK) fail_msg("%s", err.msg);
    assert_int_equal(eb_model_load(path, NULL, &ref, &err), EB_OK);
    const int maxt = 64;
    size_t need;
    assert_int_equal(eb_context_arena_size(m, maxt, EB_PRECISION_AF8, &need, &err), EB_OK);
    uint8_t *arena = aligned_alloc(64, (need + 63) & ~(size_t)63);
    eb_context *ctx, *rctx;
    assert_int_equal(eb_context_new(ref, &rctx, &err), EB_OK);
    const eb_config *cfg = eb_model_config(m);
    eb_run_params p = eb_run_params_default();
    p.precision = EB_PRECISION_AF8;
    int32_t ids[64];
    uint64_t rng = 5;
    ids[0] = 2;
    for (int i = 1; i < maxt; i++)
        ids[i] = (int32_t)(5 + eb_test_rng(&rng) % (uint64_t)(cfg->vocab_size - 5));
    eb_result r, rr;
    /* one thread: no OpenMP team, whose libgomp allocation (at the first
     * parallel region of the process) would fall in the allocation-free phase */
    p.threads = 1;
    fflush(stdout);
    g_forbid = 1;
    eb_status cs = eb_context_new_in_arena(m, maxt, EB_PRECISION_AF8, arena, need, &ctx, &err);
    eb_status s = cs == EB_OK ? eb_classify_ids(ctx, ids, NULL, maxt, &p, &r, &err) : cs;
    g_forbid = 0;
    if (s != EB_OK) fail_msg("%s", err.msg);
    if (EB_TEST_LIBC_HARD) assert_int_equal(g_refused, 0);
    p.threads = 0; /* the reference: the ordinary context, OpenMP's team */
    assert_int_equal(eb_classify_ids(rctx, ids, NULL, maxt, &p, &rr, &err), EB_OK);
    assert_int_equal(r.label, rr.label);
    assert_memory_equal(r.logits, rr.logits, sizeof rr.logits);
    printf("shipped bundle: arena %zu bytes for %d tokens (af8)\n", need, maxt);
    eb_context_free(rctx);
    eb_model_free(ref);
    eb_model_free(m);
    free(arena);
    free(img);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_f32),
        cmocka_unit_test(test_fixed_af8),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_shipped_bundle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
