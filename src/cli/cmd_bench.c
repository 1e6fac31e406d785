/* cmd_bench.c - edgebert bench: edgebert's own speed, in the way of llama-bench.
 *
 * Every measurement is one row of one type (bench_row): what was run (test,
 * model, engine path, precision, policy, threads, batch, tokens or sentences)
 * and what was measured (mean, standard deviation and number of samples, with
 * the median and the best), printed as a markdown table, CSV or JSON from one
 * column table.  Three tests:
 *   dense  random token ids at batch 1, per length: eb_classify_ids (engine
 *          `edgebert`) and the batched engine at batch 1 (`edgebert-batch`);
 *   gemm   the GEMM implementations on the model's shapes and OpenBLAS's
 *          1024^3 SGEMM (the ceiling); with the dense test unless --no-gemm;
 *   e2e    (--e2e) a GLUE dev set: latency per sentence with early exit and
 *          with all layers, and batched early exit.
 * The comparison with PyTorch and ONNX Runtime is tools/bench/compare.py,
 * which reads `edgebert bench --json`; this command runs edgebert only.
 * `bench --kernels` is cmd_bench_kernels.c. */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "edgebert/batch.h"
#include "edgebert/data.h"
#include "edgebert/runtime.h"
#include "kernels/kernels.h"

#define CMD "bench"
#define MAXV 16
#define MAXP 3 /* precisions in one run */

typedef struct opts {
    const char *model, *data, *engines, *ids_out;
    int tokens[MAXV], ntokens, threads[MAXV], nthreads, batches[MAXV], nbatches;
    eb_precision prec[MAXP];
    int nprec;
    int runs, warmup, rounds, json, csv, e2e, gemm, limit, rss, cpu_clock;
    eb_run_params rp;
} opts;

/* ---- the row --------------------------------------------------------- */

enum { T_DENSE = 1, T_GEMM = 2, T_E2E = 4 };

typedef struct bench_row {
    int test;        /* T_DENSE, T_GEMM or T_E2E */
    char engine[24]; /* edgebert | edgebert-batch; gemm: the GEMM implementation */
    eb_precision precision;
    eb_policy policy;
    int threads, batch;
    int tokens;    /* dense: the sentence length; gemm: M (rows) */
    int gn, gk;    /* gemm: N and K */
    int sentences; /* e2e */
    int n;         /* samples */
    double mean_ms, stddev_ms, median_ms, min_ms;
    double gflops, accuracy, exit_layer, agree, sent_s; /* NAN where it does not apply */
} bench_row;

typedef struct rows {
    bench_row r[512];
    int n;
    const char *model;
    cJSON *skipped; /* [{engine, threads, reason}] */
} rows;

static const char *test_name(int t) {
    return t == T_DENSE ? "dense" : t == T_GEMM ? "gemm" : "e2e";
}


/* One printed value of a row: none (does not apply), text, integer or number. */
typedef struct cval {
    enum { V_NONE, V_STR, V_INT, V_NUM } kind;
    const char *s;
    long i;
    double d;
} cval;

#define VS(x) ((cval){V_STR, (x), 0, 0})
#define VI(x) ((cval){V_INT, NULL, (long)(x), 0})
#define VN(x) (isfinite(x) ? (cval){V_NUM, NULL, 0, (x)} : (cval){V_NONE, NULL, 0, 0})
#define V0 ((cval){V_NONE, NULL, 0, 0})

typedef struct column {
    const char *key;    /* JSON key and CSV header */
    const char *header; /* markdown header */
    int md;             /* the tests whose markdown table shows it */
    const char *fmt;    /* markdown format of a number (\"\": an integer); NULL: text */
    cval (*get)(const rows *R, const bench_row *r);
} column;

static cval c_test(const rows *R, const bench_row *r) {
    return VS(test_name(r->test));
}
static cval c_model(const rows *R, const bench_row *r) {
    return r->test == T_GEMM ? V0 : VS(R->model);
}
static cval c_engine(const rows *R, const bench_row *r) {
    return VS(r->engine);
}
static cval c_precision(const rows *R, const bench_row *r) {
    return r->test == T_GEMM ? V0 : VS(eb_precision_name(r->precision));
}
static cval c_policy(const rows *R, const bench_row *r) {
    return r->test == T_GEMM ? V0 : VS(eb_policy_name(r->policy));
}
static cval c_threads(const rows *R, const bench_row *r) {
    return VI(r->threads);
}
static cval c_batch(const rows *R, const bench_row *r) {
    return r->test == T_GEMM ? V0 : VI(r->batch);
}
static cval c_tokens(const rows *R, const bench_row *r) {
    return r->test == T_E2E ? V0 : VI(r->tokens);
}
static cval c_gn(const rows *R, const bench_row *r) {
    return r->test == T_GEMM ? VI(r->gn) : V0;
}
static cval c_gk(const rows *R, const bench_row *r) {
    return r->test == T_GEMM ? VI(r->gk) : V0;
}
static cval c_sentences(const rows *R, const bench_row *r) {
    return r->test == T_E2E ? VI(r->sentences) : V0;
}
static cval c_mean(const rows *R, const bench_row *r) {
    return VN(r->mean_ms);
}
static cval c_stddev(const rows *R, const bench_row *r) {
    return VN(r->stddev_ms);
}
static cval c_n(const rows *R, const bench_row *r) {
    return VI(r->n);
}
static cval c_median(const rows *R, const bench_row *r) {
    return VN(r->median_ms);
}
static cval c_min(const rows *R, const bench_row *r) {
    return VN(r->min_ms);
}
static cval c_gflops(const rows *R, const bench_row *r) {
    return VN(r->gflops);
}
static cval c_sent_s(const rows *R, const bench_row *r) {
    return VN(r->sent_s);
}
static cval c_accuracy(const rows *R, const bench_row *r) {
    return VN(r->accuracy);
}
static cval c_exit(const rows *R, const bench_row *r) {
    return VN(r->exit_layer);
}
static cval c_agree(const rows *R, const bench_row *r) {
    return VN(r->agree);
}

/* Every column of every printer: JSON and CSV print all of them (a value that
 * does not apply is left out of JSON and empty in CSV); markdown prints one
 * table per test with the columns of that test. */
static const column COLS[] = {
    {"test", "test", 0, NULL, c_test},
    {"model", "model", 0, NULL, c_model},
    {"engine", "engine", T_DENSE | T_GEMM | T_E2E, NULL, c_engine},
    {"precision", "precision", T_DENSE | T_E2E, NULL, c_precision},
    {"policy", "policy", T_DENSE | T_E2E, NULL, c_policy},
    {"threads", "threads", T_DENSE | T_GEMM | T_E2E, "", c_threads},
    {"batch", "batch", T_DENSE | T_E2E, "", c_batch},
    {"tokens", "tokens (M)", T_DENSE | T_GEMM, "", c_tokens},
    {"gemm_n", "N", T_GEMM, "", c_gn},
    {"gemm_k", "K", T_GEMM, "", c_gk},
    {"sentences", "sentences", T_E2E, "", c_sentences},
    {"mean_ms", "mean ms", T_DENSE | T_GEMM | T_E2E, "%.3f", c_mean},
    {"stddev_ms", "stddev ms", T_DENSE | T_GEMM | T_E2E, "%.3f", c_stddev},
    {"n", "n", T_DENSE | T_GEMM | T_E2E, "", c_n},
    {"median_ms", "median ms", T_DENSE | T_GEMM, "%.3f", c_median},
    {"min_ms", "min ms", T_DENSE | T_GEMM, "%.3f", c_min},
    {"gflops", "GFLOP/s", T_DENSE | T_GEMM, "%.1f", c_gflops},
    {"sentences_per_s", "sentences/s", T_E2E, "%.1f", c_sent_s},
    {"accuracy", "accuracy", T_E2E, "%.4f", c_accuracy},
    {"mean_exit_layer", "mean exit layer", T_E2E, "%.3f", c_exit},
    {"agree_with_unbatched", "same label as unbatched", T_E2E, "%.4f", c_agree},
};
#define NCOLS ((int)(sizeof COLS / sizeof COLS[0]))

static const char INTRO[] =
    "                      [--engines edgebert,edgebert-batch] [--precision fp32[,af8,...]]\n"
    "                      [--runs N] [--warmup N] [--rounds R] [--clock wall|cpu]\n"
    "                      [--no-gemm] [--no-rss] [--quick] [--json | --csv]\n"
    "       edgebert bench --e2e --data DEV.tsv [--task sst2] [-m MODEL] [--threads 1]\n"
    "                      [--batches 1,8,32] [--limit N] [--threshold T] [--policy ee|lai]\n"
    "                      [--precision fp32[,af8,...]] [--ids-out FILE] [--no-rss]\n"
    "                      [--json | --csv]\n"
    "       edgebert bench --kernels [--rounds R] [--calls N] [--json | --csv]\n"
    "Measures edgebert only; every row is what was run (test, model, engine, precision,\n"
    "policy, threads, batch, tokens) and what was measured (mean ms, stddev ms, n samples,\n"
    "median, min), as a markdown table, --csv or --json. MODEL defaults to the default\n"
    "model (EDGEBERT_MODEL, else models/default.ebb).\n"
    "dense (the default): random token ids at batch 1, --runs timed runs after --warmup per\n"
    "length; engines: edgebert = eb_classify_ids (the per-sentence path, base policy),\n"
    "edgebert-batch = the batched engine (edgebert/batch.h) at batch 1. With it the gemm\n"
    "rows (unless --no-gemm): edgebert's GEMMs and OpenBLAS on the model's shapes and\n"
    "OpenBLAS's 1024^3 SGEMM (the ceiling). --precision takes a list.\n"
    "--e2e: every sentence of DEV.tsv (GLUE layout of --task), in ms per sentence: early\n"
    "exit (--policy, default ee), all layers (base), and batched at each of --batches;\n"
    "--ids-out FILE writes each sentence's gold label (the model's index, -1 unlabelled),\n"
    "a TAB and its token ids, one sentence a line, so other engines can run the same input.\n"
    "--rounds R repeats every measurement R times in turn and keeps each one's round with\n"
    "the best median (for a shared, noisy machine). --clock cpu: process CPU time (all\n"
    "threads) instead of wall time: robust to other load, meaningful for 1 thread.\n"
    "--no-rss leaves out the peak memory of `edgebert classify` (JSON and markdown only).\n"
    "--kernels: each SIMD kernel against its scalar reference, side by side (one thread).\n"
    "PyTorch and ONNX Runtime side by side with edgebert (--hf, --engines torch,ort of\n"
    "older versions): tools/bench/compare.py, which runs `edgebert bench --json`.\n";

/* ---- small helpers ------------------------------------------------ */

/* snprintf that truncates silently (the texts here are far below the limits). */
__attribute__((format(printf, 3, 4))) static void sfmt(char *buf, size_t cap, const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, cap, f, ap);
    va_end(ap);
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

/* The clock of the runs: wall time, or (--clock cpu) the process's CPU
 * time, which other load on a shared machine inflates far less. */
static double run_ms(int cpu) {
    if (!cpu) return now_ms();
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int parse_list(const char *s, int *out, int cap) {
    int n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0 || v > 100000 || n == cap) return -1;
        out[n++] = (int)v;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return n;
}

/* A comma-separated list of precisions; 0 (with the message printed) when bad. */
static int parse_precisions(const char *s, opts *o) {
    o->nprec = 0;
    for (const char *p = s;;) {
        size_t n = strcspn(p, ",");
        char one[32];
        if (o->nprec == MAXP || n == 0 || n >= sizeof one) {
            fprintf(stderr,
                    "edgebert bench: --precision: a list of at most %d of fp32, af8, af8-bf16, "
                    "commas between, not '%s'\n",
                    MAXP, s);
            return 0;
        }
        memcpy(one, p, n);
        one[n] = 0;
        if (!eb_cli_parse_precision(CMD, one, &o->prec[o->nprec++])) return 0;
        if (!p[n]) return 1;
        p += n + 1;
    }
}

/* --engines: a comma-separated subset of edgebert,edgebert-batch. */
static int check_engines(const char *s) {
    const char *known[] = {"edgebert", "edgebert-batch"};
    for (const char *p = s; p && *p;) {
        size_t n = strcspn(p, ",");
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            ok |= strlen(known[k]) == n && !strncmp(p, known[k], n);
        if (!ok) {
            fprintf(stderr,
                    "edgebert bench: --engines: unknown engine '%.*s' (edgebert, "
                    "edgebert-batch; PyTorch and ONNX Runtime: tools/bench/compare.py)\n",
                    (int)n, p);
            return 0;
        }
        p += n;
        if (*p) p++;
    }
    return s && *s;
}

static int has_engine(const opts *o, const char *e) {
    const char *p = o->engines;
    size_t n = strlen(e);
    while (p && *p) {
        if (!strncmp(p, e, n) && (p[n] == ',' || !p[n])) return 1;
        p = strchr(p, ',');
        if (p) p++;
    }
    return 0;
}

static void set_threads(int t) {
    omp_set_num_threads(t);
    openblas_set_num_threads(t);
}

/* FLOPs of one ALBERT forward pass of n tokens (multiply-adds count 2). */
static double albert_flops(const eb_config *c, int n) {
    const double N = n, E = c->embedding_size, H = c->hidden_size, FF = c->intermediate_size;
    double layer = 2 * N * H * H * 4 + 2 * 2 * N * N * H + 2 * 2 * N * H * FF;
    return 2 * N * E * H + layer * c->num_hidden_layers * c->inner_group_num + 2 * H * H;
}

static void skip(rows *R, const char *engine, int threads, const char *reason) {
    cJSON *it;
    cJSON_ArrayForEach(it, R->skipped) { /* once per engine, threads and reason */
        cJSON *e = cJSON_GetObjectItem(it, "engine"), *t = cJSON_GetObjectItem(it, "threads");
        cJSON *w = cJSON_GetObjectItem(it, "reason");
        if (!strcmp(e->valuestring, engine) &&
            (t ? t->valueint : 0) == (threads > 0 ? threads : 0) && !strcmp(w->valuestring, reason))
            return;
    }
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "engine", engine);
    if (threads > 0) cJSON_AddNumberToObject(s, "threads", threads);
    cJSON_AddStringToObject(s, "reason", reason);
    cJSON_AddItemToArray(R->skipped, s);
    fprintf(stderr, "edgebert bench: %s skipped: %s\n", engine, reason);
}

/* A row with what was run; the measurement comes from stats(). */
static bench_row new_row(int test, const char *engine, eb_precision prec, eb_policy pol,
                         int threads, int batch) {
    bench_row r;
    memset(&r, 0, sizeof r);
    r.test = test;
    sfmt(r.engine, sizeof r.engine, "%s", engine);
    r.precision = prec;
    r.policy = pol;
    r.threads = threads;
    r.batch = batch;
    r.gflops = r.accuracy = r.exit_layer = r.agree = r.sent_s = NAN;
    return r;
}

/* Mean, sample standard deviation, median and minimum of ts[0..n) (sorts ts). */
static void stats(double *ts, int n, bench_row *r) {
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++)
        s += ts[i];
    r->n = n;
    r->mean_ms = n ? s / n : NAN;
    for (int i = 0; i < n; i++)
        ss += (ts[i] - r->mean_ms) * (ts[i] - r->mean_ms);
    r->stddev_ms = n > 1 ? sqrt(ss / (n - 1)) : 0;
    qsort(ts, (size_t)n, sizeof *ts, cmp_double);
    r->median_ms = n ? ts[n / 2] : NAN;
    r->min_ms = n ? ts[0] : NAN;
}

static int same_setup(const bench_row *a, const bench_row *b) {
    return a->test == b->test && !strcmp(a->engine, b->engine) && a->precision == b->precision &&
           a->policy == b->policy && a->threads == b->threads && a->batch == b->batch &&
           a->tokens == b->tokens && a->gn == b->gn && a->gk == b->gk;
}

/* Add a row; with --rounds, a repeated setup keeps the round with the lower median. */
static void add_row(rows *R, const bench_row *r) {
    for (int i = 0; i < R->n; i++)
        if (same_setup(&R->r[i], r)) {
            if (r->median_ms < R->r[i].median_ms) R->r[i] = *r;
            return;
        }
    if (R->n < (int)(sizeof R->r / sizeof R->r[0])) R->r[R->n++] = *r;
}

/* ---- the printers ------------------------------------------------------ */

static void csv_str(const char *s) {
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"') putchar('"');
        putchar(*s);
    }
    putchar('"');
}

/* head: the run's settings (JSON: top-level keys; markdown: the line above
 * the tables, md_head).  rss < 0: not measured. */
static void print_rows(const opts *o, const rows *R, cJSON *head, const char *md_head, long rss) {
    if (o->json) {
        cJSON *rs = cJSON_AddArrayToObject(head, "rows");
        for (int i = 0; i < R->n; i++) {
            cJSON *x = cJSON_CreateObject();
            for (int c = 0; c < NCOLS; c++) {
                cval v = COLS[c].get(R, &R->r[i]);
                if (v.kind == V_STR)
                    cJSON_AddStringToObject(x, COLS[c].key, v.s);
                else if (v.kind == V_INT)
                    cJSON_AddNumberToObject(x, COLS[c].key, (double)v.i);
                else if (v.kind == V_NUM)
                    cJSON_AddNumberToObject(x, COLS[c].key, v.d);
            }
            cJSON_AddItemToArray(rs, x);
        }
        if (rss >= 0) cJSON_AddNumberToObject(head, "classify_peak_rss_kb", (double)rss);
        cJSON_AddItemToObject(head, "skipped", cJSON_Duplicate(R->skipped, 1));
        char *s = cJSON_PrintUnformatted(head);
        if (s) printf("%s\n", s);
        free(s);
        return;
    }
    if (o->csv) {
        for (int c = 0; c < NCOLS; c++)
            printf("%s%s", c ? "," : "", COLS[c].key);
        printf("\n");
        for (int i = 0; i < R->n; i++) {
            for (int c = 0; c < NCOLS; c++) {
                cval v = COLS[c].get(R, &R->r[i]);
                if (c) putchar(',');
                if (v.kind == V_STR)
                    csv_str(v.s);
                else if (v.kind == V_INT)
                    printf("%ld", v.i);
                else if (v.kind == V_NUM)
                    printf("%.9g", v.d);
            }
            printf("\n");
        }
        return;
    }
    printf("%s\n", md_head);
    const int tests[] = {T_DENSE, T_GEMM, T_E2E};
    const char *title[] = {"dense: random token ids, batch 1",
                           "gemm: out[M,N] = A[M,K] B[N,K]^T, GFLOP/s of the median; the 1024^3 "
                           "openblas row is the ceiling",
                           "e2e: ms per sentence"};
    for (int t = 0; t < 3; t++) {
        int any = 0;
        for (int i = 0; i < R->n; i++)
            any |= R->r[i].test == tests[t];
        if (!any) continue;
        printf("\n%s\n\n|", title[t]);
        for (int c = 0; c < NCOLS; c++)
            if (COLS[c].md & tests[t]) printf(" %s |", COLS[c].header);
        printf("\n|");
        for (int c = 0; c < NCOLS; c++)
            if (COLS[c].md & tests[t]) printf(COLS[c].fmt ? "---:|" : "---|");
        printf("\n");
        for (int i = 0; i < R->n; i++) {
            if (R->r[i].test != tests[t]) continue;
            printf("|");
            for (int c = 0; c < NCOLS; c++) {
                if (!(COLS[c].md & tests[t])) continue;
                cval v = COLS[c].get(R, &R->r[i]);
                if (v.kind == V_STR)
                    printf(" %s |", v.s);
                else if (v.kind == V_INT)
                    printf(" %ld |", v.i);
                else if (v.kind == V_NUM) {
                    printf(" ");
                    printf(COLS[c].fmt, v.d);
                    printf(" |");
                } else
                    printf(" - |");
            }
            printf("\n");
        }
    }
    if (rss >= 0)
        printf("\npeak RSS of `edgebert classify -m %s`: %.1f MiB\n", R->model, rss / 1024.0);
    cJSON *it;
    cJSON_ArrayForEach(it, R->skipped) {
        cJSON *t = cJSON_GetObjectItem(it, "threads");
        printf("%sskipped %s", it == R->skipped->child ? "\n" : "",
               cJSON_GetObjectItem(it, "engine")->valuestring);
        if (t) printf(" (%d threads)", t->valueint);
        printf(": %s\n", cJSON_GetObjectItem(it, "reason")->valuestring);
    }
}

/* The settings every JSON output starts with. */
static cJSON *json_head(const opts *o, const char *model) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "edgebert", EB_VERSION_STRING);
    cJSON_AddStringToObject(j, "model", model);
    cJSON_AddStringToObject(j, "gemm_impl", eb_gemm_impl_name(eb_gemm_best_impl()));
    cJSON_AddStringToObject(j, "openblas_kernels", openblas_get_corename());
    cJSON_AddNumberToObject(j, "runs", o->runs);
    cJSON_AddNumberToObject(j, "warmup", o->warmup);
    cJSON_AddNumberToObject(j, "rounds", o->rounds);
    cJSON_AddStringToObject(j, "clock", o->cpu_clock ? "cpu" : "wall");
    return j;
}

/* ---- dense: edgebert in this process --------------------------------- */

/* The longest of o's lengths that the model takes. */
static int max_len(const opts *o, const eb_config *c) {
    int maxn = 1;
    for (int ki = 0; ki < o->ntokens; ki++)
        maxn = o->tokens[ki] > maxn ? o->tokens[ki] : maxn;
    return maxn < c->max_position_embeddings ? maxn : c->max_position_embeddings;
}

/* Classify ids[0..n) once. */
typedef eb_status (*classify_fn)(void *ud, const int32_t *ids, int n, const eb_run_params *p,
                                 eb_error *err);

/* Time fn at each thread count and length of o (random ids from one
 * xorshift stream; the base policy, precision prec): o->runs samples after
 * o->warmup runs, as `engine` rows of R.  A length past the model's
 * positions gets a skip when say_skips.  An error of fn is a skip with the
 * library's message when soft (0 returned), else printed (-1). */
static int time_inproc(const opts *o, const eb_config *c, eb_precision prec, const char *engine,
                       int say_skips, int soft, classify_fn fn, void *ud, rows *R) {
    eb_run_params p = o->rp;
    p.policy = EB_POLICY_BASE;
    p.precision = prec;
    eb_error err = {0};
    uint64_t s = 88172645463325252ull;
    int rc = -1;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)max_len(o, c));
    double *ts = malloc(sizeof(double) * (size_t)o->runs);
    if (!ids || !ts) goto done;
    for (int ti = 0; ti < o->nthreads; ti++) {
        set_threads(o->threads[ti]);
        for (int ki = 0; ki < o->ntokens; ki++) {
            int n = o->tokens[ki];
            if (n > c->max_position_embeddings) {
                if (say_skips) {
                    char why[128];
                    sfmt(why, sizeof why, "%d tokens: more than the model's %d positions", n,
                         c->max_position_embeddings);
                    skip(R, engine, o->threads[ti], why);
                }
                continue;
            }
            ids[0] = 2;
            for (int i = 1; i < n; i++) {
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                ids[i] = 5 + (int32_t)(s % (uint64_t)(c->vocab_size - 5));
            }
            if (n > 1) ids[n - 1] = 3;
            for (int i = 0; i < o->warmup + o->runs; i++) {
                double t0 = run_ms(o->cpu_clock);
                if (fn(ud, ids, n, &p, &err) != EB_OK) {
                    if (soft) {
                        char why[sizeof err.msg + 32];
                        sfmt(why, sizeof why, "%s: %s", eb_precision_name(prec), err.msg);
                        skip(R, engine, 0, why);
                        rc = 0;
                    } else
                        fprintf(stderr, "edgebert bench: %s\n", err.msg);
                    goto done;
                }
                if (i >= o->warmup) ts[i - o->warmup] = run_ms(o->cpu_clock) - t0;
            }
            bench_row r = new_row(T_DENSE, engine, prec, EB_POLICY_BASE, o->threads[ti], 1);
            r.tokens = n;
            stats(ts, o->runs, &r);
            r.gflops = albert_flops(c, n) / (r.median_ms * 1e6);
            add_row(R, &r);
        }
    }
    rc = 0;
done:
    free(ids), free(ts);
    return rc;
}

static eb_status classify_ctx(void *ud, const int32_t *ids, int n, const eb_run_params *p,
                              eb_error *err) {
    eb_result r;
    return eb_classify_ids(ud, ids, NULL, n, p, &r, err);
}

static int bench_edgebert(const opts *o, eb_model *m, eb_precision prec, rows *R) {
    eb_context *ctx;
    eb_error err = {0};
    if (eb_context_new(m, &ctx, &err) != EB_OK) {
        fprintf(stderr, "edgebert bench: %s\n", err.msg);
        return -1;
    }
    int rc = time_inproc(o, eb_model_task_config(m, o->rp.task), prec, "edgebert", 1, 0,
                         classify_ctx, ctx, R);
    eb_context_free(ctx);
    return rc;
}

static eb_status classify_batch(void *ud, const int32_t *ids, int n, const eb_run_params *p,
                                eb_error *err) {
    const int32_t *ptr[1] = {ids};
    eb_batch_result r;
    return eb_batch_classify_ids(ud, ptr, &n, 1, p, &r, err);
}

/* The batched engine (edgebert/batch.h) at batch 1; a precision it does
 * not take is a skip with its message. */
static int bench_edgebert_batch(const opts *o, eb_model *m, eb_precision prec, rows *R) {
    const eb_config *c = eb_model_task_config(m, o->rp.task);
    eb_error err = {0};
    eb_batch *b = NULL;
    if (eb_batch_new(m, 1, max_len(o, c), &b, &err) != EB_OK) {
        fprintf(stderr, "edgebert bench: %s\n", err.msg);
        return -1;
    }
    /* lengths past the positions: the edgebert rows say why */
    int rc = time_inproc(o, c, prec, "edgebert-batch", 0, 1, classify_batch, b, R);
    eb_batch_free(b);
    return rc;
}

/* ---- gemm ---------------------------------------------------------------- */

enum { G_IMPL, G_PACKED, G_BF16 };

typedef struct gemm_case {
    int kind;
    eb_gemm_impl impl;
    const float *a, *b, *pk;
    const uint16_t *wb;
    uint16_t *xb;
    float *c;
    int M, N, K;
} gemm_case;

static void gemm_once(const gemm_case *g) {
    if (g->kind == G_IMPL)
        eb_gemm_nt(g->impl, g->c, g->a, g->b, NULL, g->M, g->K, g->N, EB_EPI_NONE);
    else if (g->kind == G_PACKED)
        eb_gemm_packed(g->c, g->a, g->pk, NULL, g->M, g->K, g->N, EB_EPI_NONE, 0);
    else
        eb_gemm_packed_bf16(g->c, g->a, g->wb, NULL, g->M, g->K, g->N, EB_EPI_NONE, g->xb, 0);
}

/* A gemm row: runs calls (wall clock) after two, GFLOP/s of the median. */
static void time_gemm(const gemm_case *g, const char *name, int threads, int runs, rows *R) {
    double ts[64] = {0};
    if (runs > 64) runs = 64;
    if (runs < 1) runs = 1;
    for (int i = 0; i < 2; i++)
        gemm_once(g);
    for (int i = 0; i < runs; i++) {
        double t0 = now_ms();
        gemm_once(g);
        ts[i] = now_ms() - t0;
    }
    bench_row r = new_row(T_GEMM, name, EB_PRECISION_FP32, EB_POLICY_BASE, threads, 1);
    r.tokens = g->M, r.gn = g->N, r.gk = g->K;
    stats(ts, runs, &r);
    r.gflops = 2.0 * g->M * (double)g->N * g->K / (r.median_ms * 1e6);
    add_row(R, &r);
}

static int bench_gemm(const opts *o, const eb_config *c, rows *R) {
    const int H = c->hidden_size, FF = c->intermediate_size;
    const int maxn = 1024;
    const size_t big = (size_t)maxn * (size_t)(FF > maxn ? FF : maxn);
    float *a = malloc(sizeof(float) * big), *b = malloc(sizeof(float) * big);
    float *y = malloc(sizeof(float) * big);
    const int bf16 = eb_cpu_has_avx512_bf16();
    uint16_t *xb = bf16 ? malloc(sizeof(uint16_t) * big) : NULL;
    if (!a || !b || !y || (bf16 && !xb)) {
        free(a), free(b), free(y), free(xb);
        fprintf(stderr, "edgebert bench: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < big; i++)
        a[i] = (float)((i * 7) % 13) * 0.01f, b[i] = (float)((i * 3) % 11) * 0.01f;
    const eb_gemm_impl mine = eb_gemm_best_impl();
    for (int ti = 0; ti < o->nthreads; ti++) {
        const int t = o->threads[ti];
        set_threads(t);
        /* the ceiling: a large square SGEMM in OpenBLAS */
        gemm_case g = {G_IMPL, EB_GEMM_BLAS, a, b, NULL, NULL, NULL, y, maxn, maxn, maxn};
        time_gemm(&g, "openblas", t, 7, R);
        for (int ki = 0; ki < o->ntokens; ki++) {
            int N = o->tokens[ki];
            if (N > maxn) continue;
            const int shapes[2][2] = {{H, FF}, {FF, H}};
            for (int s = 0; s < 2; s++) {
                int K = shapes[s][0], OC = shapes[s][1];
                if ((size_t)OC * K > big) continue;
                gemm_case x = {G_IMPL, EB_GEMM_BLAS, a, b, NULL, NULL, NULL, y, N, OC, K};
                time_gemm(&x, "openblas", t, o->runs, R);
                if (mine != EB_GEMM_BLAS) {
                    x.impl = mine;
                    time_gemm(&x, eb_gemm_impl_name(mine), t, o->runs, R);
                }
                float *pk =
                    eb_cpu_has_avx512()
                        ? aligned_alloc(64, (eb_pack_floats(K, OC) * sizeof(float) + 63) / 64 * 64)
                        : NULL;
                if (pk) {
                    eb_pack_weights(pk, b, K, OC);
                    x.kind = G_PACKED, x.pk = pk;
                    time_gemm(&x, "avx512-packed", t, o->runs, R);
                    free(pk);
                }
                uint16_t *wb =
                    xb && K % 2 == 0
                        ? aligned_alloc(64, (eb_pack_bf16_count(K, OC) * 2 + 63) / 64 * 64)
                        : NULL;
                if (wb) {
                    eb_pack_bf16(wb, b, K, OC);
                    x.kind = G_BF16, x.wb = wb, x.xb = xb;
                    time_gemm(&x, "avx512-bf16", t, o->runs, R);
                    free(wb);
                }
            }
        }
    }
    free(a), free(b), free(y), free(xb);
    return 0;
}

/* ---- peak memory of classify ------------------------------------------- */

/* The peak resident memory (KiB) of `edgebert classify -m model` on one
 * sentence, run as a child of this very executable; -1 when it fails. */
static long classify_rss_kb(const char *model) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = 0;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
        execl(exe, exe, "classify", "-m", model, "the film is a quiet, moving triumph",
              (char *)NULL);
        _exit(127);
    }
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
    return ru.ru_maxrss;
}

static int run_dense(const opts *o) {
    char mbuf[PATH_MAX];
    const char *mpath = eb_cli_model_path(o->model, mbuf, sizeof mbuf);
    eb_model *m = eb_cli_load_model(CMD, o->model);
    if (!m) return 1;
    const eb_config *c = eb_model_task_config(m, o->rp.task);
    if (!c) {
        fprintf(stderr, "edgebert bench: unknown task '%s'\n", o->rp.task);
        eb_model_free(m);
        return 2;
    }
    rows *R = calloc(1, sizeof *R);
    if (!R) {
        eb_model_free(m);
        return 1;
    }
    R->model = mpath;
    R->skipped = cJSON_CreateArray();
    int rc = 0;
    /* rounds: every measurement once per round, so that load that comes and
     * goes on a shared machine hits all of them alike */
    for (int round = 0; round < o->rounds && !rc; round++) {
        for (int pi = 0; pi < o->nprec && !rc; pi++) {
            if (has_engine(o, "edgebert") && bench_edgebert(o, m, o->prec[pi], R)) rc = 1;
            if (!rc && has_engine(o, "edgebert-batch") &&
                bench_edgebert_batch(o, m, o->prec[pi], R))
                rc = 1;
        }
        if (!rc && o->gemm && bench_gemm(o, c, R)) rc = 1;
        if (o->rounds > 1 && !o->json && !o->csv)
            fprintf(stderr, "edgebert bench: round %d of %d done\n", round + 1, o->rounds);
    }
    if (!rc) {
        long rss = o->rss && !o->csv ? classify_rss_kb(mpath) : -1;
        char head[PATH_MAX + 400];
        sfmt(head, sizeof head,
             "model: %s (H %d, %d layers, FFN %d); edgebert %s, GEMM %s, OpenBLAS's kernels: "
             "%s%s; %d runs after %d warm-up%s; %s",
             mpath, c->hidden_size, c->num_hidden_layers, c->intermediate_size, EB_VERSION_STRING,
             eb_gemm_impl_name(eb_gemm_best_impl()), openblas_get_corename(),
             getenv("OPENBLAS_CORETYPE") ? " (chosen by OPENBLAS_CORETYPE)" : "", o->runs,
             o->warmup, o->rounds > 1 ? ", the best median of the rounds" : "",
             o->cpu_clock ? "process CPU time per run (--clock cpu)" : "wall-clock");
        cJSON *j = json_head(o, mpath);
        print_rows(o, R, j, head, rss);
        cJSON_Delete(j);
    }
    cJSON_Delete(R->skipped);
    free(R);
    eb_model_free(m);
    return rc;
}

/* ---- e2e: a dev set, end to end ------------------------------------------ */

typedef struct sents {
    int n;
    int32_t *ids; /* all ids, sentence after sentence */
    int *off, *len, *gold;
    const int32_t **ptr;
} sents;

static void sents_free(sents *S) {
    free(S->ids), free(S->off), free(S->len), free(S->gold), free(S->ptr);
}

static int tokenize_all(const eb_model *m, const eb_config *c, const eb_dataset *ds, const int *map,
                        int limit, sents *S) {
    memset(S, 0, sizeof *S);
    const eb_tokenizer *tok = eb_model_tokenizer(m);
    if (!tok) {
        fprintf(stderr, "edgebert bench: the model has no tokenizer (spiece.model)\n");
        return -1;
    }
    int n = limit > 0 && limit < ds->n ? limit : ds->n;
    int maxlen =
        EB_MAX_TOKENS < c->max_position_embeddings ? EB_MAX_TOKENS : c->max_position_embeddings;
    size_t cap = 1 << 16, used = 0;
    S->ids = malloc(sizeof(int32_t) * cap);
    S->off = malloc(sizeof(int) * (size_t)(n + 1));
    S->len = malloc(sizeof(int) * (size_t)(n + 1));
    S->gold = malloc(sizeof(int) * (size_t)(n + 1));
    S->ptr = malloc(sizeof(int32_t *) * (size_t)(n + 1));
    eb_encoding *enc = malloc(sizeof *enc);
    if (!S->ids || !S->off || !S->len || !S->gold || !S->ptr || !enc) {
        free(enc);
        fprintf(stderr, "edgebert bench: out of memory\n");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const eb_example *e = &ds->rows[i];
        eb_error err = {0};
        if (eb_tokenize(tok, e->text_a, e->text_b, maxlen, enc, &err) != EB_OK) {
            fprintf(stderr, "edgebert bench: line %ld: %s\n", e->line, err.msg);
            free(enc);
            return -1;
        }
        if (used + (size_t)enc->n > cap) {
            while (used + (size_t)enc->n > cap)
                cap *= 2;
            int32_t *nb = realloc(S->ids, sizeof(int32_t) * cap);
            if (!nb) {
                free(enc);
                fprintf(stderr, "edgebert bench: out of memory\n");
                return -1;
            }
            S->ids = nb;
        }
        memcpy(S->ids + used, enc->ids, sizeof(int32_t) * (size_t)enc->n);
        S->off[i] = (int)used;
        S->len[i] = enc->n;
        S->gold[i] = e->label >= 0 ? map[e->label] : -1;
        used += (size_t)enc->n;
    }
    for (int i = 0; i < n; i++)
        S->ptr[i] = S->ids + S->off[i];
    S->n = n;
    free(enc);
    return 0;
}

static double accuracy(const sents *S, const int *pred) {
    int k = 0, t = 0;
    for (int i = 0; i < S->n; i++)
        if (S->gold[i] >= 0) t++, k += pred[i] == S->gold[i];
    return t ? (double)k / t : NAN;
}

/* --ids-out: "GOLD<TAB>id id id" per sentence. */
static int write_ids(const sents *S, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    for (int i = 0; i < S->n; i++) {
        fprintf(f, "%d\t", S->gold[i]);
        for (int j = 0; j < S->len[i]; j++)
            fprintf(f, "%s%d", j ? " " : "", S->ptr[i][j]);
        fprintf(f, "\n");
    }
    return fclose(f);
}

/* Every sentence once through eb_classify_ids (after 3 warm-up sentences):
 * an e2e row (ms per sentence), pred[] filled.  -1 on an error (printed). */
static int e2e_edgebert(eb_context *ctx, const sents *S, const eb_run_params *p, int cpu,
                        int threads, int *pred, rows *R) {
    eb_result r;
    eb_error err = {0};
    double *ts = malloc(sizeof(double) * (size_t)(S->n + 1));
    if (!ts) return -1;
    for (int i = 0; i < S->n && i < 3; i++)
        if (eb_classify_ids(ctx, S->ptr[i], NULL, S->len[i], p, &r, &err) != EB_OK) break;
    double ex = 0, total = 0;
    for (int i = 0; i < S->n; i++) {
        double t0 = run_ms(cpu);
        if (eb_classify_ids(ctx, S->ptr[i], NULL, S->len[i], p, &r, &err) != EB_OK) {
            fprintf(stderr, "edgebert bench: sentence %d: %s\n", i + 1, err.msg);
            free(ts);
            return -1;
        }
        ts[i] = run_ms(cpu) - t0;
        total += ts[i];
        pred[i] = r.label;
        ex += r.exit_layer;
    }
    bench_row row = new_row(T_E2E, "edgebert", p->precision, p->policy, threads, 1);
    row.sentences = S->n;
    stats(ts, S->n, &row);
    row.accuracy = accuracy(S, pred);
    row.exit_layer = S->n ? ex / S->n : NAN;
    row.sent_s = total > 0 ? S->n / (total / 1e3) : NAN;
    if (R) add_row(R, &row);
    free(ts);
    return 0;
}

/* Batched at batch B: an e2e row whose samples are the batches' times per
 * sentence, its mean the whole time over the sentences; agreement with
 * the unbatched labels pee.  A setting the batched engine refuses is a
 * skip with its message; -1 on other errors. */
static int e2e_batched(const eb_model *m, const sents *S, const eb_run_params *p, int B, int cpu,
                       int threads, const int *pee, rows *R) {
    int maxl = 1, rc = -1, nb = 0, agree = 0;
    for (int i = 0; i < S->n; i++)
        maxl = S->len[i] > maxl ? S->len[i] : maxl;
    eb_error err = {0};
    eb_batch *bt = NULL;
    eb_batch_result *br = malloc(sizeof *br * (size_t)B);
    double *ts = malloc(sizeof(double) * (size_t)(S->n / B + 2));
    int *pred = malloc(sizeof(int) * (size_t)(S->n + 1));
    if (!br || !ts || !pred || eb_batch_new(m, B, B * maxl, &bt, &err) != EB_OK) {
        fprintf(stderr, "edgebert bench: %s\n", err.msg[0] ? err.msg : "out of memory");
        goto done;
    }
    double total = 0, ex = 0;
    for (int i = 0; i < S->n; i += B) {
        int k = S->n - i < B ? S->n - i : B;
        double t0 = run_ms(cpu);
        if (eb_batch_classify_ids(bt, S->ptr + i, S->len + i, k, p, br, &err) != EB_OK) {
            if (i == 0 && err.status == EB_ERR_ARG) {
                char why[sizeof err.msg + 40];
                sfmt(why, sizeof why, "%s, %s: %s", eb_precision_name(p->precision),
                     eb_policy_name(p->policy), err.msg);
                skip(R, "edgebert-batch", 0, why);
                rc = 0;
            } else
                fprintf(stderr, "edgebert bench: %s\n", err.msg);
            goto done;
        }
        double dt = run_ms(cpu) - t0;
        ts[nb++] = dt / k;
        total += dt;
        for (int j = 0; j < k; j++) {
            pred[i + j] = br[j].label;
            agree += br[j].label == pee[i + j];
            ex += br[j].exit_layer;
        }
    }
    bench_row row = new_row(T_E2E, "edgebert-batch", p->precision, p->policy, threads, B);
    row.sentences = S->n;
    stats(ts, nb, &row);
    row.mean_ms = S->n ? total / S->n : NAN;
    row.accuracy = accuracy(S, pred);
    row.exit_layer = S->n ? ex / S->n : NAN;
    row.agree = S->n ? (double)agree / S->n : NAN;
    row.sent_s = total > 0 ? S->n / (total / 1e3) : NAN;
    add_row(R, &row);
    rc = 0;
done:
    eb_batch_free(bt);
    free(br), free(ts), free(pred);
    return rc;
}

static int bench_e2e(const opts *o) {
    char mbuf[PATH_MAX];
    const char *mpath = eb_cli_model_path(o->model, mbuf, sizeof mbuf);
    eb_model *m = eb_cli_load_model(CMD, o->model);
    if (!m) return 1;
    const char *task = o->rp.task ? o->rp.task : "sst2";
    eb_run_params rp = o->rp;
    rp.task = eb_model_task_config(m, task) ? task : NULL;
    const eb_config *c = eb_model_task_config(m, rp.task);
    eb_error err = {0};
    eb_dataset *ds = NULL;
    int map[EB_MAX_LABELS];
    const eb_task_info *ti = NULL;
    if (eb_task_lookup(task, &ti, &err) != EB_OK ||
        eb_dataset_load(o->data, task, NULL, &ds, &err) != EB_OK ||
        eb_task_label_map(ti, c->id2label, c->num_labels, map, &err) != EB_OK) {
        fprintf(stderr, "edgebert bench: %s\n", err.msg);
        eb_dataset_free(ds);
        eb_model_free(m);
        return 1;
    }
    sents S;
    int rc = tokenize_all(m, c, ds, map, o->limit, &S) ? 1 : 0;
    eb_dataset_free(ds);
    if (!rc && o->ids_out && write_ids(&S, o->ids_out)) {
        fprintf(stderr, "edgebert bench: --ids-out: cannot write %s\n", o->ids_out);
        rc = 1;
    }
    int *pred = malloc(sizeof(int) * (size_t)(S.n + 1)),
        *pee = malloc(sizeof(int) * (size_t)(S.n + 1));
    rows *R = calloc(1, sizeof *R);
    eb_context *ctx = NULL;
    if (!rc && (!pred || !pee || !R || eb_context_new(m, &ctx, &err) != EB_OK)) {
        fprintf(stderr, "edgebert bench: %s\n", err.msg[0] ? err.msg : "out of memory");
        rc = 1;
    }
    if (R) {
        R->model = mpath;
        R->skipped = cJSON_CreateArray();
    }
    const int ee_only = has_engine(o, "edgebert"), batched = has_engine(o, "edgebert-batch");
    for (int round = 0; round < o->rounds && !rc; round++)
        for (int ti2 = 0; ti2 < o->nthreads && !rc; ti2++) {
            const int t = o->threads[ti2];
            set_threads(t);
            for (int pi = 0; pi < o->nprec && !rc; pi++) {
                eb_run_params ee = rp, base = rp;
                ee.precision = base.precision = o->prec[pi];
                if (ee.policy == EB_POLICY_BASE) ee.policy = EB_POLICY_EE;
                base.policy = EB_POLICY_BASE;
                base.last_ramp_only = 1; /* all layers, the final classifier: the full model */
                /* the per-sentence labels are what the batched ones are checked against */
                if ((ee_only || batched) &&
                    e2e_edgebert(ctx, &S, &ee, o->cpu_clock, t, pee, ee_only ? R : NULL) < 0)
                    rc = 1;
                if (!rc && ee_only && e2e_edgebert(ctx, &S, &base, o->cpu_clock, t, pred, R) < 0)
                    rc = 1;
                for (int bi = 0; !rc && batched && bi < o->nbatches; bi++)
                    if (e2e_batched(m, &S, &ee, o->batches[bi], o->cpu_clock, t, pee, R) < 0)
                        rc = 1;
            }
        }
    if (!rc) {
        long rss = o->rss && !o->csv ? classify_rss_kb(mpath) : -1;
        char head[2 * PATH_MAX + 200];
        sfmt(head, sizeof head, "model: %s; %s, %d sentences of %s, token ids given; %s", mpath,
             task, S.n, o->data, o->cpu_clock ? "process CPU time" : "wall-clock");
        cJSON *j = json_head(o, mpath);
        cJSON_DeleteItemFromObject(j, "runs"); /* every sentence once */
        cJSON_DeleteItemFromObject(j, "warmup");
        cJSON_AddStringToObject(j, "data", o->data);
        cJSON_AddStringToObject(j, "task", task);
        cJSON_AddNumberToObject(j, "sentences", S.n);
        print_rows(o, R, j, head, rss);
        cJSON_Delete(j);
    }
    eb_context_free(ctx);
    free(pred), free(pee);
    if (R) cJSON_Delete(R->skipped);
    free(R);
    sents_free(&S);
    eb_model_free(m);
    return rc;
}

typedef struct int_list {
    int *v, *n, max;
} int_list;

static int list_fn(void *dst, const char *cmd, const char *opt, const char *val) {
    int_list *l = dst;
    int tmp[MAXV];
    int n = parse_list(val, tmp, MAXV);
    for (int k = 0; k < n; k++)
        if (tmp[k] > l->max) n = -1;
    if (n <= 0) {
        fprintf(stderr,
                "edgebert %s: %s must be a list of integers in 1..%d, commas between (at most "
                "%d), got '%s'\n",
                cmd, opt, l->max, MAXV, val);
        return 0;
    }
    memcpy(l->v, tmp, (size_t)n * sizeof *tmp);
    *l->n = n;
    return 1;
}

static int engines_fn(void *dst, const char *cmd, const char *opt, const char *val) {
    (void)cmd, (void)opt;
    if (!check_engines(val)) return 0;
    *(const char **)dst = val;
    return 1;
}

static int precision_list_fn(void *dst, const char *cmd, const char *opt, const char *val) {
    (void)cmd, (void)opt;
    return parse_precisions(val, dst);
}

static int hf_fn(void *dst, const char *cmd, const char *opt, const char *val) {
    (void)dst, (void)val;
    fprintf(stderr,
            "edgebert %s: %s: edgebert bench measures edgebert only; tools/bench/compare.py runs "
            "PyTorch and ONNX Runtime on a HuggingFace checkpoint beside it\n",
            cmd, opt);
    return 0;
}

int eb_cmd_bench(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--kernels")) return eb_cmd_bench_kernels(argc, argv);
    opts o;
    memset(&o, 0, sizeof o);
    o.rp = eb_run_params_default();
    o.engines = "edgebert,edgebert-batch";
    o.runs = 20;
    o.rounds = 1;
    o.warmup = 3;
    o.gemm = 1;
    o.rss = 1;
    o.prec[0] = EB_PRECISION_FP32;
    o.nprec = 1;
    o.ntokens = parse_list("16,32,64,128", o.tokens, MAXV);
    o.nthreads = -1; /* dense: 1,2; --e2e: 1 */
    o.nbatches = parse_list("1,8,32", o.batches, MAXV);
    int quick = 0, no_gemm = 0, no_rss = 0, kernels = 0;
    int_list tokens = {o.tokens, &o.ntokens, 100000},
             threads = {o.threads, &o.nthreads, EB_CLI_MAX_THREADS},
             batches = {o.batches, &o.nbatches, 100000};
    eb_opt orows[24 + EB_CLI_RUN_OPTS] = {
        {"-m|--model", EB_OPT_STR, &o.model, 0, 0, 0, "MODEL",
         "checkpoint directory or .ebb bundle (default as for classify)", NULL},
        {"--e2e", EB_OPT_FLAG, &o.e2e, 0, 0, 0, NULL,
         "early exit end to end on a GLUE dev set (--data)", NULL},
        {"--kernels", EB_OPT_FLAG, &kernels, 0, 0, 0, NULL,
         "each SIMD kernel against its scalar reference (--kernels --help)", NULL},
        {"--data", EB_OPT_STR, &o.data, 0, 0, 0, "DEV.tsv", "--e2e: the dev set", NULL},
        {"--ids-out", EB_OPT_STR, &o.ids_out, 0, 0, 0, "FILE",
         "--e2e: each sentence's gold label and token ids", NULL},
        {"--hf", EB_OPT_FN, NULL, 0, 0, EB_OPT_HIDDEN, "DIR", NULL, hf_fn},
        {"--engines", EB_OPT_FN, &o.engines, 0, 0, 0, "LIST",
         "edgebert,edgebert-batch (default both)", engines_fn},
        {"--precision", EB_OPT_FN, &o, 0, 0, 0, "LIST",
         "fp32,af8,af8-bf16: one or more (default fp32)", precision_list_fn},
        {"--tokens", EB_OPT_FN, &tokens, 0, 0, 0, "LIST",
         "dense: sentence lengths (default 16,32,64,128)", list_fn},
        {"--threads", EB_OPT_FN, &threads, 0, 0, 0, "LIST",
         "team sizes, each 1..256 (default 1,2; --e2e: 1)", list_fn},
        {"--batches", EB_OPT_FN, &batches, 0, 0, 0, "LIST", "--e2e: batch sizes (default 1,8,32)",
         list_fn},
        {"--runs", EB_OPT_INT, &o.runs, 1, 100000, 0, "N", "timed runs, 1..100000 (default 20)",
         NULL},
        {"--warmup", EB_OPT_INT, &o.warmup, 0, 100000, 0, "N",
         "untimed runs first, 0..100000 (default 3)", NULL},
        {"--rounds", EB_OPT_INT, &o.rounds, 1, 1000, 0, "R", "rounds, 1..1000 (default 1)", NULL},
        {"--limit", EB_OPT_INT, &o.limit, 1, 100000, 0, "N", "--e2e: the first N sentences only",
         NULL},
        {"--clock", EB_OPT_CHOICE, &o.cpu_clock, 0, 0, 0, "wall|cpu", "the clock (default wall)",
         NULL},
        {"--no-gemm", EB_OPT_FLAG, &no_gemm, 0, 0, 0, NULL, "leave out the gemm rows", NULL},
        {"--no-rss", EB_OPT_FLAG, &no_rss, 0, 0, 0, NULL, "leave out the peak memory", NULL},
        {"--quick", EB_OPT_FLAG, &quick, 0, 0, 0, NULL,
         "5 runs after 1, 16 and 32 tokens, 1 thread", NULL},
        {"--json", EB_OPT_FLAG, &o.json, 0, 0, 0, NULL, "one JSON object", NULL},
        {"--csv", EB_OPT_FLAG, &o.csv, 0, 0, 0, NULL, "CSV rows", NULL},
    };
    int nrows = 21;
    eb_opt run_rows[EB_CLI_RUN_OPTS];
    int nrun = eb_cli_run_opts(run_rows, &o.rp, 1);
    for (int k = 0; k < nrun; k++) /* --threads and --precision are the bench's lists */
        if (strcmp(run_rows[k].names, "--threads") && strcmp(run_rows[k].names, "--precision"))
            orows[nrows++] = run_rows[k];
    eb_opt_spec spec = {.cmd = CMD,
                        .synopsis = "[-m MODEL] [--tokens 16,32,64,128] [--threads 1,2]",
                        .intro = INTRO,
                        .opts = orows,
                        .nopts = nrows};
    int prc = eb_opt_parse(&spec, argc, argv);
    if (prc >= 0) return prc;
    if (no_gemm) o.gemm = 0;
    if (no_rss) o.rss = 0;
    if (o.json && o.csv) {
        fprintf(stderr, "edgebert bench: --json and --csv exclude each other\n");
        return 2;
    }
    if (o.nthreads < 0) o.nthreads = parse_list(o.e2e ? "1" : "1,2", o.threads, MAXV);
    if (quick) {
        o.runs = 5, o.warmup = 1;
        o.ntokens = parse_list("16,32", o.tokens, MAXV);
        o.nthreads = parse_list("1", o.threads, MAXV);
    }
    if (o.e2e) {
        if (!o.data) {
            fprintf(stderr, "edgebert bench: --e2e needs --data DEV.tsv\n");
            return 2;
        }
        return bench_e2e(&o);
    }
    if (o.data || o.ids_out) {
        fprintf(stderr, "edgebert bench: %s goes with --e2e\n", o.data ? "--data" : "--ids-out");
        return 2;
    }
    return run_dense(&o);
}
