/* cmd_bench_kernels.c - `edgebert bench --kernels`: each dispatched kernel (AVX-512 / NEON where
 * the CPU has it) against its scalar reference, side by side in one process, on the shapes of
 * the default model's training batch (batch 32 x 64 tokens, H 256, FFN 1024, 4 heads) and of
 * one inference sentence.  Per kernel, rounds alternate fast and reference; a round times each
 * call on its own and keeps the median, the best round counts.  The clock is the thread's CPU
 * time (the kernels run on one thread here), which other load on a shared machine inflates
 * far less than wall time. */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/opts.h"
#include "kernels/backward.h"
#include "kernels/kernels.h"

#define CMD "bench --kernels"

static double cpu_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec * 1e-3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Uniform in [-scale, scale) from a 64-bit LCG (repeatable inputs). */
static void fill(float *x, size_t n, uint64_t *s, float scale) {
    for (size_t i = 0; i < n; i++) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = scale * ((float)(*s >> 40) / (float)(1 << 24) * 2.0f - 1.0f);
    }
}

/* One kernel's buffers and its two implementations; reset() restores in-place inputs before
 * each call (outside the timed region). */
typedef struct kcase {
    const char *name, *shape;
    int N, C, OC, NH, HS;
    size_t n;
    float *a, *b, *d, *g, *beta, *src;
    uint8_t *valid;
    float span[8];
    void (*fast)(struct kcase *);
    void (*ref)(struct kcase *);
    void (*reset)(struct kcase *);
} kcase;

static void gelu_reset(kcase *k) {
    memcpy(k->a, k->src, sizeof(float) * k->n);
}
static void gelu_fast(kcase *k) {
    eb_gelu_new(k->a, k->n);
}
static void gelu_ref(kcase *k) {
    eb_gelu_new_ref(k->a, k->n);
}
static void gelu_bwd_reset(kcase *k) {
    memset(k->a, 0, sizeof(float) * k->n);
}
static void gelu_bwd_fast(kcase *k) {
    eb_gelu_new_backward(k->a, k->b, k->src, k->n);
}
static void gelu_bwd_ref(kcase *k) {
    eb_gelu_new_backward_ref(k->a, k->b, k->src, k->n);
}
static void no_reset(kcase *k) {
    (void)k;
}
static void ln_fast(kcase *k) {
    eb_layernorm(k->a, k->src, k->g, k->beta, k->N, k->C, 1e-12f);
}
static void ln_ref(kcase *k) {
    eb_layernorm_ref(k->a, k->src, k->g, k->beta, k->N, k->C, 1e-12f);
}
static void addln_fast(kcase *k) {
    eb_add_layernorm(k->a, k->src, k->b, k->g, k->beta, k->N, k->C, 1e-12f);
}
static void addln_ref(kcase *k) {
    eb_add_layernorm_ref(k->a, k->src, k->b, k->g, k->beta, k->N, k->C, 1e-12f);
}
static void att_fast(kcase *k) {
    const int H = k->NH * k->HS;
    eb_attention(k->a, k->d, k->src, k->src + (size_t)k->N * H, k->src + (size_t)2 * k->N * H, k->N,
                 k->NH, k->HS, k->valid, k->span, 8.0f, NULL, 1);
}
static void att_ref(kcase *k) {
    const int H = k->NH * k->HS;
    eb_attention_ref(k->a, k->d, k->src, k->src + (size_t)k->N * H, k->src + (size_t)2 * k->N * H,
                     k->N, k->NH, k->HS, k->valid, k->span, 8.0f, NULL);
}
static void mm_fast(kcase *k) {
    eb_matmul(k->a, k->src, k->b, k->g, k->N, k->C, k->OC);
}
static void mm_ref(kcase *k) {
    eb_matmul_ref(k->a, k->src, k->b, k->g, k->N, k->C, k->OC);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "edgebert " CMD ": out of memory (%zu bytes)\n", n);
        exit(1); /* the CLI owns the process */
    }
    return p;
}

/* Median CPU time (us) of `calls` calls of f, each after reset(). */
static double time_median(kcase *k, void (*f)(kcase *), int calls) {
    double *t = xmalloc(sizeof(double) * (size_t)calls);
    for (int i = 0; i < calls; i++) {
        k->reset(k);
        double t0 = cpu_us();
        f(k);
        t[i] = cpu_us() - t0;
    }
    qsort(t, (size_t)calls, sizeof(double), cmp_double);
    double m = t[calls / 2];
    free(t);
    return m;
}

static const char *simd_name(void) {
    if (eb_cpu_has_avx512()) return "avx512";
    if (eb_cpu_has_neon()) return "neon";
    if (eb_cpu_has_avx2()) return "avx2";
    return "scalar";
}

static const char INTRO[] =
    "Each dispatched kernel against its scalar reference (_ref), alternately in one process,\n"
    "one thread, thread CPU time: the median of N calls, best of R rounds.  Shapes: a\n"
    "training batch of the default model (32 x 64 tokens, H 256, FFN 1024, 4 heads of 64)\n"
    "and one 128-token sentence.\n";

int eb_cmd_bench_kernels(int argc, char **argv) {
    int rounds = 3, calls = 15, json = 0, csv = 0;
    int kernels = 0;
    eb_opt rows[] = {
        {"--kernels", EB_OPT_FLAG, &kernels, 0, 0, 0, NULL, "this benchmark", NULL},
        {"--rounds", EB_OPT_INT, &rounds, 1, 10000, 0, "R", "rounds, 1..10000 (default 3)", NULL},
        {"--calls", EB_OPT_INT, &calls, 1, 10000, 0, "N", "calls per timing, 1..10000 (default 15)",
         NULL},
        {"--json", EB_OPT_FLAG, &json, 0, 0, 0, NULL, "one JSON object", NULL},
        {"--csv", EB_OPT_FLAG, &csv, 0, 0, 0, NULL, "CSV rows", NULL},
    };
    eb_opt_spec spec = {.cmd = CMD,
                        .synopsis = "--kernels [--rounds R] [--calls N] [--json | --csv]",
                        .intro = INTRO,
                        .opts = rows,
                        .nopts = EB_OPT_COUNT(rows)};
    int prc = eb_opt_parse(&spec, argc, argv);
    if (prc >= 0) return prc;

    /* one thread everywhere: the thread CPU clock sees all the work */
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    enum { B = 32, T = 64, H = 256, FFN = 1024, NH = 4, HS = 64, TA = 128 };
    const size_t big = (size_t)B * T * FFN; /* FFN activations of a training batch */
    uint64_t seed = 7;
    float *src = xmalloc(sizeof(float) * big), *a = xmalloc(sizeof(float) * big);
    float *b = xmalloc(sizeof(float) * big), *g = xmalloc(sizeof(float) * FFN);
    float *beta = xmalloc(sizeof(float) * FFN), *d = xmalloc(sizeof(float) * NH * TA * TA);
    uint8_t valid[TA];
    fill(src, big, &seed, 4.0f);
    fill(b, big, &seed, 0.1f);
    fill(g, FFN, &seed, 1.0f);
    fill(beta, FFN, &seed, 0.1f);
    for (int i = 0; i < TA; i++)
        valid[i] = i < 100; /* 28 padding keys */
    char sh_act[64], sh_ln[64], sh_att[64], sh_mm[64];
    snprintf(sh_act, sizeof sh_act, "%zu (%dx%dx%d)", big, B, T, FFN);
    snprintf(sh_ln, sizeof sh_ln, "%dx%d", B * T, H);
    snprintf(sh_att, sizeof sh_att, "T %d, %d heads of %d, spans", TA, NH, HS);
    snprintf(sh_mm, sizeof sh_mm, "%dx%d @ %dx%d", TA, H, FFN, H);
    kcase ks[] = {
        {.name = "gelu_new",
         .shape = sh_act,
         .n = big,
         .fast = gelu_fast,
         .ref = gelu_ref,
         .reset = gelu_reset},
        {.name = "gelu_new_backward",
         .shape = sh_act,
         .n = big,
         .fast = gelu_bwd_fast,
         .ref = gelu_bwd_ref,
         .reset = gelu_bwd_reset},
        {.name = "layernorm",
         .shape = sh_ln,
         .N = B * T,
         .C = H,
         .fast = ln_fast,
         .ref = ln_ref,
         .reset = no_reset},
        {.name = "add_layernorm",
         .shape = sh_ln,
         .N = B * T,
         .C = H,
         .fast = addln_fast,
         .ref = addln_ref,
         .reset = no_reset},
        {.name = "attention",
         .shape = sh_att,
         .N = TA,
         .NH = NH,
         .HS = HS,
         .fast = att_fast,
         .ref = att_ref,
         .reset = no_reset},
        {.name = "matmul",
         .shape = sh_mm,
         .N = TA,
         .C = H,
         .OC = FFN,
         .fast = mm_fast,
         .ref = mm_ref,
         .reset = no_reset},
    };
    const int nk = (int)(sizeof ks / sizeof ks[0]);
    double fast_us[8], ref_us[8];
    for (int i = 0; i < nk; i++) {
        kcase *k = &ks[i];
        k->a = a, k->b = b, k->d = d, k->g = g, k->beta = beta, k->src = src, k->valid = valid;
        for (int h = 0; h < NH; h++)
            k->span[h] = 16.0f + 24.0f * (float)h; /* spans 16..88 tokens */
        fast_us[i] = ref_us[i] = INFINITY;
        k->reset(k), k->fast(k), k->reset(k), k->ref(k); /* warm the caches and the code */
        for (int r = 0; r < rounds; r++) {
            double f = time_median(k, k->fast, calls), s = time_median(k, k->ref, calls);
            if (f < fast_us[i]) fast_us[i] = f;
            if (s < ref_us[i]) ref_us[i] = s;
        }
    }

    const char *impl = simd_name();
    if (json) {
        cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "kernels");
        cJSON_AddStringToObject(root, "simd", impl);
        cJSON_AddNumberToObject(root, "rounds", rounds);
        cJSON_AddNumberToObject(root, "calls", calls);
        for (int i = 0; i < nk; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "kernel", ks[i].name);
            cJSON_AddStringToObject(o, "shape", ks[i].shape);
            cJSON_AddNumberToObject(o, "fast_us", fast_us[i]);
            cJSON_AddNumberToObject(o, "ref_us", ref_us[i]);
            cJSON_AddNumberToObject(o, "speedup", ref_us[i] / fast_us[i]);
            cJSON_AddItemToArray(arr, o);
        }
        char *s = cJSON_PrintUnformatted(root);
        if (s) puts(s);
        free(s);
        cJSON_Delete(root);
    } else if (csv) {
        printf("kernel,shape,simd,fast_us,ref_us,speedup\n");
        for (int i = 0; i < nk; i++)
            printf("%s,\"%s\",%s,%.1f,%.1f,%.2f\n", ks[i].name, ks[i].shape, impl, fast_us[i],
                   ref_us[i], ref_us[i] / fast_us[i]);
    } else {
        printf(
            "kernels on this CPU: %s (median of %d calls, best of %d rounds, thread CPU time)\n\n",
            impl, calls, rounds);
        printf("| kernel | shape | dispatched (us) | scalar _ref (us) | speed-up |\n");
        printf("|---|---|---|---|---|\n");
        for (int i = 0; i < nk; i++)
            printf("| %s | %s | %.1f | %.1f | %.2fx |\n", ks[i].name, ks[i].shape, fast_us[i],
                   ref_us[i], ref_us[i] / fast_us[i]);
    }
    free(src), free(a), free(b), free(g), free(beta), free(d);
    return 0;
}
