/* cmd_bench.c - edgebert bench: edgebert, PyTorch and ONNX Runtime side by
 * side on the same ALBERT checkpoint (dense fp32, batch 1), the GEMM ceiling
 * of the machine's BLAS, and (--e2e) EdgeBERT's end-to-end latency with
 * early exit on a GLUE dev set, batched early exit and peak memory.
 *
 * edgebert runs in-process; PyTorch (tools/bench/torch_albert.py through
 * /usr/bin/python3) and ONNX Runtime (tools/bench/ort_runner.js through node,
 * onnxruntime-node installed under build/bench/ort) run as subprocesses that
 * print their timings as JSON.  A missing engine gives skipped rows with the
 * reason, never a failure. */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "edgebert/batch.h"
#include "edgebert/data.h"
#include "kernels/kernels.h"

#define CMD "bench"
#define MAXV 16
#define ORT_VERSION "1.30.0"

typedef struct opts {
    const char *model, *data, *task, *hf, *engines;
    int tokens[MAXV], ntokens, threads[MAXV], nthreads, batches[MAXV], nbatches;
    int runs, warmup, rounds, json, csv, e2e, gemm, limit, rss, cpu_clock;
    eb_run_params rp;
} opts;

typedef struct row {
    char engine[16];
    int threads, tokens;
    double median_ms, min_ms;
} row;

typedef struct rows {
    row r[256];
    int n;
    cJSON *skipped; /* [{engine, threads, reason}] */
    cJSON *info;    /* engine details: versions, BLAS */
} rows;

static void usage(void) {
    fprintf(
        stderr,
        "usage: edgebert bench [-m MODEL] [--tokens 16,32,64,128] [--threads 1,2]\n"
        "                      [--engines edgebert,edgebert-batch,torch,ort] [--runs N] [--warmup "
        "N]\n"
        "                      [--rounds R] [--clock wall|cpu] [--no-gemm] [--no-rss] [--quick]\n"
        "                      [--json | --csv]\n"
        "       edgebert bench --e2e --data DEV.tsv [--task sst2] [-m MODEL] [--hf DIR]\n"
        "                      [--threads 1] [--batches 1,8,32] [--limit N] [--engines ...]\n"
        "                      [--threshold T] [--precision fp32|af8|af8-bf16] [--json]\n"
        "       edgebert bench --kernels [--rounds R] [--calls N] [--json | --csv]\n"
        "Engines: edgebert = eb_classify_ids (the per-sentence path), edgebert-batch = the\n"
        "batched engine at batch 1 (packed weights, fused epilogues), torch, ort.\n"
        "Dense: batch 1, random token ids, median of --runs runs after --warmup runs. Without\n"
        "-m a random-weight ALBERT-base (E 128, H 768, 12 layers, 12 heads, FFN 3072, vocab\n"
        "30000) is generated under build/bench/albert-base. PyTorch and ONNX Runtime need a\n"
        "HuggingFace checkpoint directory (--hf DIR for --e2e when -m is a bundle).\n"
        "--rounds R repeats every engine R times in turn and keeps each one's best median\n"
        "(for a shared, noisy machine). --clock cpu times every run in process CPU time\n"
        "(all threads) instead of wall time: robust to other load, meaningful for 1 thread.\n"
        "--kernels: each SIMD kernel against its scalar reference, side by side (one thread).\n");
}

/* ---- small helpers ------------------------------------------------ */

/* snprintf that truncates silently (paths here are far below the limits). */
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

/* The clock of the dense runs: wall time, or (--clock cpu) the process's
 * CPU time, which other load on a shared machine inflates far less. */
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

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static double mtime(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (double)st.st_mtime : -1;
}

/* The repository root: the executable's ../ (build/edgebert), else ".". */
static void repo_root(char *buf, size_t cap) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            char up[PATH_MAX + 4], probe[PATH_MAX + 64];
            sfmt(up, sizeof up, "%s/..", exe);
            sfmt(probe, sizeof probe, "%s/tools/bench/torch_albert.py", up);
            if (exists(probe) && realpath(up, buf)) return;
        }
    }
    sfmt(buf, cap, ".");
}

/* Single-quote s for /bin/sh into out. */
static void shq(char *out, size_t cap, const char *s) {
    size_t k = 0;
    if (cap < 3) return;
    out[k++] = '\'';
    for (; *s && k + 5 < cap; s++) {
        if (*s == '\'') {
            memcpy(out + k, "'\\''", 4);
            k += 4;
        } else
            out[k++] = *s;
    }
    out[k++] = '\'';
    out[k] = 0;
}

static const char *python(void) {
    const char *p = getenv("EB_PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

static const char *node(void) {
    const char *p = getenv("EB_NODE");
    return p && *p ? p : "node";
}

/* Run a shell command; its stdout (up to cap bytes) into out, stderr into
 * log.  Returns the exit status (-1 when it could not run). */
static int run_capture(const char *cmd, const char *log, char *out, size_t cap) {
    char full[8192];
    char ql[PATH_MAX + 8];
    shq(ql, sizeof ql, log);
    sfmt(full, sizeof full, "(%s) 2>>%s", cmd, ql);
    FILE *f = popen(full, "r");
    if (!f) return -1;
    size_t n = 0;
    if (out && cap) {
        size_t k;
        while (n + 1 < cap && (k = fread(out + n, 1, cap - 1 - n, f)) > 0)
            n += k;
        out[n] = 0;
    }
    char sink[4096];
    while (fread(sink, 1, sizeof sink, f) > 0) {
    }
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The last line of a file (for skip reasons). */
static void last_line(const char *path, char *buf, size_t cap) {
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (n) sfmt(buf, cap, "%s", line);
    }
    fclose(f);
}

/* Run cmd (stderr appended to log): 0 when it succeeds and `made` exists,
 * else -1 with why = "WHAT failed (RC): the log's last line". */
static int run_making(const char *cmd, const char *log, const char *made, const char *what,
                      char *why, size_t cap) {
    int rc = run_capture(cmd, log, NULL, 0);
    if (rc == 0 && exists(made)) return 0;
    char l[400];
    last_line(log, l, sizeof l);
    sfmt(why, cap, "%s failed (%d): %s", what, rc, l);
    return -1;
}

/* Parse the last JSON object line of out. */
static cJSON *parse_last_json(char *out) {
    char *p = out + strlen(out);
    while (p > out) {
        char *line = p;
        while (line > out && line[-1] != '\n')
            line--;
        if (*line == '{') return cJSON_Parse(line);
        p = line > out ? line - 1 : out;
        *p = 0;
    }
    return NULL;
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
    fprintf(stderr, "edgebert bench: %s skipped%s: %s\n", engine, threads > 0 ? "" : "", reason);
}

static row *find_row_mut(rows *R, const char *engine, int threads, int tokens);

/* Add a row; with --rounds, a repeated (engine, threads, tokens) keeps the
 * lowest median and minimum over the rounds. */
static void add_row(rows *R, const char *engine, int threads, int tokens, double med, double mn) {
    row *old = find_row_mut(R, engine, threads, tokens);
    if (old) {
        if (med < old->median_ms) old->median_ms = med;
        if (mn < old->min_ms) old->min_ms = mn;
        return;
    }
    if (R->n >= (int)(sizeof R->r / sizeof R->r[0])) return;
    row *r = &R->r[R->n++];
    sfmt(r->engine, sizeof r->engine, "%s", engine);
    r->threads = threads;
    r->tokens = tokens;
    r->median_ms = med;
    r->min_ms = mn;
}

static row *find_row_mut(rows *R, const char *engine, int threads, int tokens) {
    for (int i = 0; i < R->n; i++)
        if (!strcmp(R->r[i].engine, engine) && R->r[i].threads == threads &&
            R->r[i].tokens == tokens)
            return &R->r[i];
    return NULL;
}

static const row *find_row(const rows *R, const char *engine, int threads, int tokens) {
    for (int i = 0; i < R->n; i++)
        if (!strcmp(R->r[i].engine, engine) && R->r[i].threads == threads &&
            R->r[i].tokens == tokens)
            return &R->r[i];
    return NULL;
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

/* ---- the random ALBERT-base checkpoint ----------------------------- */

static int ensure_model(const char *root, char *path, size_t cap) {
    sfmt(path, cap, "%s/build/bench/albert-base", root);
    char cfg[PATH_MAX + 32];
    sfmt(cfg, sizeof cfg, "%s/model.safetensors", path);
    if (exists(cfg)) return 0;
    fprintf(stderr, "edgebert bench: writing a random-weight ALBERT-base to %s\n", path);
    char qp[PATH_MAX + 8], qs[PATH_MAX + 64], cmd[4 * PATH_MAX], log[PATH_MAX + 32];
    char sc[PATH_MAX + 40];
    sfmt(sc, sizeof sc, "%s/tests/py/albert_ref.py", root);
    shq(qp, sizeof qp, path);
    shq(qs, sizeof qs, sc);
    sfmt(cmd, sizeof cmd,
         "%s %s make %s --layers 12 --hidden 768 --heads 12 --embedding 128 "
         "--intermediate 3072 --max-pos 512 --seed 1 >/dev/null",
         python(), qs, qp);
    sfmt(log, sizeof log, "%s/build/bench/make-model.log", root);
    if (run_capture(cmd, log, NULL, 0) != 0) {
        char why[512];
        last_line(log, why, sizeof why);
        fprintf(stderr, "edgebert bench: could not write the model (%s); give one with -m\n", why);
        return -1;
    }
    return 0;
}

/* ---- edgebert, in-process ------------------------------------------ */

/* The longest of o's lengths that the model takes. */
static int max_len(const opts *o, const eb_config *c) {
    int maxn = 1;
    for (int ki = 0; ki < o->ntokens; ki++)
        maxn = o->tokens[ki] > maxn ? o->tokens[ki] : maxn;
    return maxn < c->max_position_embeddings ? maxn : c->max_position_embeddings;
}

/* Classify ids[0..n) once, in this process. */
typedef eb_status (*classify_fn)(void *ud, const int32_t *ids, int n, const eb_run_params *p,
                                 eb_error *err);

/* Time fn at each thread count and length of o (random ids from one
 * xorshift stream; the base policy): the median and the best of o->runs
 * after o->warmup runs, as `engine` rows of R.  A length past the model's
 * positions gets a skip row when say_skips.  Returns 0 or -1. */
static int time_inproc(const opts *o, const eb_config *c, const char *engine, int say_skips,
                       classify_fn fn, void *ud, rows *R) {
    eb_run_params p = o->rp;
    p.policy = EB_POLICY_BASE;
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
                    fprintf(stderr, "edgebert bench: %s\n", err.msg);
                    goto done;
                }
                if (i >= o->warmup) ts[i - o->warmup] = run_ms(o->cpu_clock) - t0;
            }
            qsort(ts, (size_t)o->runs, sizeof *ts, cmp_double);
            add_row(R, engine, o->threads[ti], n, ts[o->runs / 2], ts[0]);
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

static int bench_edgebert(const opts *o, eb_model *m, rows *R) {
    eb_context *ctx;
    eb_error err = {0};
    if (eb_context_new(m, &ctx, &err) != EB_OK) {
        fprintf(stderr, "edgebert bench: %s\n", err.msg);
        return -1;
    }
    int rc =
        time_inproc(o, eb_model_task_config(m, o->rp.task), "edgebert", 1, classify_ctx, ctx, R);
    eb_context_free(ctx);
    return rc;
}

static eb_status classify_batch(void *ud, const int32_t *ids, int n, const eb_run_params *p,
                                eb_error *err) {
    const int32_t *ptr[1] = {ids};
    eb_batch_result r;
    return eb_batch_classify_ids(ud, ptr, &n, 1, p, &r, err);
}

/* The batched engine (edgebert/batch.h) at batch 1: packed weights, fused
 * epilogues, all layers. */
static int bench_edgebert_batch(const opts *o, eb_model *m, rows *R) {
    const eb_config *c = eb_model_task_config(m, o->rp.task);
    eb_error err = {0};
    eb_batch *b = NULL;
    if (eb_batch_new(m, 1, max_len(o, c), &b, &err) != EB_OK) {
        fprintf(stderr, "edgebert bench: %s\n", err.msg);
        return -1;
    }
    /* lengths past the positions: the edgebert row says why */
    int rc = time_inproc(o, c, "edgebert-batch", 0, classify_batch, b, R);
    eb_batch_free(b);
    return rc;
}

/* ---- subprocess engines -------------------------------------------- */

/* Absorb a runner's {"rows": [...]} into R; returns 0 or -1 with why. */
static int absorb(rows *R, cJSON *j, const char *engine, char *why, size_t cap) {
    cJSON *err = cJSON_GetObjectItem(j, "error");
    if (cJSON_IsString(err)) {
        sfmt(why, cap, "%s", err->valuestring);
        return -1;
    }
    cJSON *rs = cJSON_GetObjectItem(j, "rows"), *it;
    if (!cJSON_IsArray(rs)) {
        sfmt(why, cap, "no rows in the runner's output");
        return -1;
    }
    cJSON_ArrayForEach(it, rs) {
        cJSON *t = cJSON_GetObjectItem(it, "threads"), *n = cJSON_GetObjectItem(it, "tokens");
        cJSON *md = cJSON_GetObjectItem(it, "median_ms"), *mn = cJSON_GetObjectItem(it, "min_ms");
        if (cJSON_IsNumber(t) && cJSON_IsNumber(n) && cJSON_IsNumber(md))
            add_row(R, engine, t->valueint, n->valueint, md->valuedouble,
                    cJSON_IsNumber(mn) ? mn->valuedouble : md->valuedouble);
    }
    return 0;
}

static void tokens_csv(const opts *o, char *buf, size_t cap) {
    buf[0] = 0;
    for (int i = 0; i < o->ntokens; i++)
        sfmt(buf + strlen(buf), cap - strlen(buf), "%s%d", i ? "," : "", o->tokens[i]);
}

static void note_info(rows *R, const char *engine, cJSON *j) {
    if (cJSON_GetObjectItem(R->info, engine)) return;
    cJSON *e = cJSON_CreateObject();
    const char *keys[] = {"version", "blas", "blas_libs"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        cJSON *v = cJSON_GetObjectItem(j, keys[i]);
        if (v) cJSON_AddItemToObject(e, keys[i], cJSON_Duplicate(v, 1));
    }
    cJSON_AddItemToObject(R->info, engine, e);
}

static void bench_torch(const opts *o, const char *root, const char *hf, rows *R) {
    char qs[PATH_MAX + 8], qm[PATH_MAX + 8], sc[PATH_MAX + 40], log[PATH_MAX + 40], tk[256];
    sfmt(sc, sizeof sc, "%s/tools/bench/torch_albert.py", root);
    sfmt(log, sizeof log, "%s/build/bench/torch.log", root);
    shq(qs, sizeof qs, sc);
    shq(qm, sizeof qm, hf);
    tokens_csv(o, tk, sizeof tk);
    for (int ti = 0; ti < o->nthreads; ti++) {
        int t = o->threads[ti];
        char cmd[4 * PATH_MAX], *out = malloc(1 << 20), why[512];
        if (!out) return;
        sfmt(cmd, sizeof cmd,
             "OMP_NUM_THREADS=%d OPENBLAS_NUM_THREADS=%d %s %s bench --model %s --tokens %s "
             "--threads %d --runs %d --warmup %d --clock %s",
             t, t, python(), qs, qm, tk, t, o->runs, o->warmup, o->cpu_clock ? "cpu" : "wall");
        int rc = run_capture(cmd, log, out, 1 << 20);
        cJSON *j = parse_last_json(out);
        if (!j) {
            last_line(log, why, sizeof why);
            char msg[700];
            sfmt(msg, sizeof msg, "%s exited %d: %s", python(), rc, why[0] ? why : "no output");
            skip(R, "torch", t, msg);
        } else {
            if (absorb(R, j, "torch", why, sizeof why))
                skip(R, "torch", t, why);
            else
                note_info(R, "torch", j);
            cJSON *b = cJSON_GetObjectItem(j, "blas");
            if (cJSON_IsString(b) && strcmp(b->valuestring, "openblas") && ti == 0)
                fprintf(stderr,
                        "edgebert bench: warning: PyTorch runs over the %s BLAS, not OpenBLAS "
                        "(install libopenblas0 for a fair baseline)\n",
                        b->valuestring);
            cJSON_Delete(j);
        }
        free(out);
    }
}

/* npm install onnxruntime-node into build/bench/ort (once). */
static int ensure_ort(const char *root, char *why, size_t cap) {
    char dir[PATH_MAX + 32], pk[PATH_MAX + 96], log[PATH_MAX + 40];
    sfmt(dir, sizeof dir, "%s/build/bench/ort", root);
    sfmt(pk, sizeof pk, "%s/node_modules/onnxruntime-node/package.json", dir);
    if (exists(pk)) return 0;
    sfmt(log, sizeof log, "%s/build/bench/npm.log", root);
    char qd[PATH_MAX + 40], cmd[3 * PATH_MAX];
    shq(qd, sizeof qd, dir);
    const char *ver = getenv("EB_ORT_VERSION");
    fprintf(stderr, "edgebert bench: installing onnxruntime-node into %s (npm)\n", dir);
    sfmt(cmd, sizeof cmd,
         "mkdir -p %s && cd %s && { [ -f package.json ] || echo '{\"name\":\"eb-ort-bench\","
         "\"private\":true}' > package.json; } && ONNXRUNTIME_NODE_INSTALL=skip npm install "
         "--no-audit --no-fund onnxruntime-node@%s >/dev/null",
         qd, qd, ver && *ver ? ver : ORT_VERSION);
    return run_making(cmd, log, pk, "npm install onnxruntime-node", why, cap);
}

/* Export hf to ONNX (opset 13) under build/bench/onnx (when stale). */
static int ensure_onnx(const char *root, const char *hf, char *onnx, size_t cap, char *why,
                       size_t wcap) {
    char name[256], st[PATH_MAX + 32];
    char absb[PATH_MAX];
    const char *src = realpath(hf, absb) ? absb : hf;
    size_t k = 0;
    for (const char *p = src; *p && k + 1 < sizeof name; p++)
        name[k++] = (*p == '/' || *p == ' ') ? '_' : *p;
    name[k] = 0;
    sfmt(onnx, cap, "%s/build/bench/onnx/%s.onnx", root, name);
    sfmt(st, sizeof st, "%s/model.safetensors", hf);
    char qs[PATH_MAX + 8], qm[PATH_MAX + 8], qo[PATH_MAX + 8], sc[PATH_MAX + 40];
    char cmd[4 * PATH_MAX], log[PATH_MAX + 40];
    sfmt(sc, sizeof sc, "%s/tools/bench/torch_albert.py", root);
    /* the export is current if newer than both the weights and the exporter */
    if (exists(onnx) && mtime(onnx) >= mtime(st) && mtime(onnx) >= mtime(sc)) return 0;
    sfmt(log, sizeof log, "%s/build/bench/export.log", root);
    shq(qs, sizeof qs, sc);
    shq(qm, sizeof qm, hf);
    shq(qo, sizeof qo, onnx);
    sfmt(cmd, sizeof cmd, "%s %s export --model %s --out %s", python(), qs, qm, qo);
    fprintf(stderr, "edgebert bench: exporting %s to ONNX (opset 13)\n", hf);
    return run_making(cmd, log, onnx, "ONNX export with torch", why, wcap);
}

static int ort_ready(const char *root, const char *hf, char *onnx, size_t cap, char *why,
                     size_t wcap) {
    char cmd[256], out[256], log[PATH_MAX + 40];
    sfmt(log, sizeof log, "%s/build/bench/ort.log", root);
    sfmt(cmd, sizeof cmd, "%s --version", node());
    if (run_capture(cmd, log, out, sizeof out) != 0) {
        sfmt(why, wcap, "node is not installed (needed for onnxruntime-node)");
        return -1;
    }
    if (ensure_ort(root, why, wcap)) return -1;
    return ensure_onnx(root, hf, onnx, cap, why, wcap);
}

static void bench_ort(const opts *o, const char *root, const char *hf, int vocab, rows *R) {
    char onnx[PATH_MAX + 300], why[700];
    if (ort_ready(root, hf, onnx, sizeof onnx, why, sizeof why)) {
        skip(R, "ort", 0, why);
        return;
    }
    char qs[PATH_MAX + 8], qo[PATH_MAX + 308], qd[PATH_MAX + 40], sc[PATH_MAX + 40];
    char log[PATH_MAX + 40], dir[PATH_MAX + 32], tk[256];
    sfmt(sc, sizeof sc, "%s/tools/bench/ort_runner.js", root);
    sfmt(dir, sizeof dir, "%s/build/bench/ort", root);
    sfmt(log, sizeof log, "%s/build/bench/ort.log", root);
    shq(qs, sizeof qs, sc);
    shq(qo, sizeof qo, onnx);
    shq(qd, sizeof qd, dir);
    tokens_csv(o, tk, sizeof tk);
    for (int ti = 0; ti < o->nthreads; ti++) {
        int t = o->threads[ti];
        char cmd[4 * PATH_MAX], *out = malloc(1 << 20);
        if (!out) return;
        sfmt(cmd, sizeof cmd,
             "OMP_NUM_THREADS=%d %s %s --ort %s --model %s --threads %d --tokens %s --runs %d "
             "--warmup %d --vocab %d --clock %s",
             t, node(), qs, qd, qo, t, tk, o->runs, o->warmup, vocab,
             o->cpu_clock ? "cpu" : "wall");
        int rc = run_capture(cmd, log, out, 1 << 20);
        cJSON *j = parse_last_json(out);
        if (!j) {
            last_line(log, why, sizeof why);
            char msg[800];
            sfmt(msg, sizeof msg, "node exited %d: %s", rc, why[0] ? why : "no output");
            skip(R, "ort", t, msg);
        } else {
            if (absorb(R, j, "ort", why, sizeof why))
                skip(R, "ort", t, why);
            else
                note_info(R, "ort", j);
            cJSON_Delete(j);
        }
        free(out);
    }
}

/* ---- GEMM ceiling ---------------------------------------------------- */

typedef struct gemm_row {
    const char *impl;
    int threads, M, N, K;
    double gflops;
} gemm_row;

/* Median GFLOP/s of out[M,N] = a[M,K] b[N,K]^T with impl. */
static double time_gemm(eb_gemm_impl impl, float *a, float *b, float *c, int M, int N, int K,
                        int runs) {
    double ts[64] = {0};
    if (runs > 64) runs = 64;
    if (runs < 1) runs = 1;
    for (int i = 0; i < 2; i++)
        eb_gemm_nt(impl, c, a, b, NULL, M, K, N, EB_EPI_NONE);
    for (int i = 0; i < runs; i++) {
        double t0 = now_ms();
        eb_gemm_nt(impl, c, a, b, NULL, M, K, N, EB_EPI_NONE);
        ts[i] = now_ms() - t0;
    }
    qsort(ts, (size_t)runs, sizeof *ts, cmp_double);
    return 2.0 * M * (double)N * K / (ts[runs / 2] * 1e6);
}

static double time_gemm_packed(const float *a, const float *pk, float *c, int M, int N, int K,
                               int runs) {
    double ts[64] = {0};
    if (runs > 64) runs = 64;
    if (runs < 1) runs = 1;
    for (int i = 0; i < 2; i++)
        eb_gemm_packed(c, a, pk, NULL, M, K, N, EB_EPI_NONE, 0);
    for (int i = 0; i < runs; i++) {
        double t0 = now_ms();
        eb_gemm_packed(c, a, pk, NULL, M, K, N, EB_EPI_NONE, 0);
        ts[i] = now_ms() - t0;
    }
    qsort(ts, (size_t)runs, sizeof *ts, cmp_double);
    return 2.0 * M * (double)N * K / (ts[runs / 2] * 1e6);
}

/* the packed bf16 kernel the af8-bf16 engine runs (eb_pack_bf16 weights) */
static double time_gemm_bf16(const float *a, const uint16_t *wb, uint16_t *xb, float *c, int M,
                             int N, int K, int runs) {
    double ts[64] = {0};
    if (runs > 64) runs = 64;
    if (runs < 1) runs = 1;
    for (int i = 0; i < 2; i++)
        eb_gemm_packed_bf16(c, a, wb, NULL, M, K, N, EB_EPI_NONE, xb, 0);
    for (int i = 0; i < runs; i++) {
        double t0 = now_ms();
        eb_gemm_packed_bf16(c, a, wb, NULL, M, K, N, EB_EPI_NONE, xb, 0);
        ts[i] = now_ms() - t0;
    }
    qsort(ts, (size_t)runs, sizeof *ts, cmp_double);
    return 2.0 * M * (double)N * K / (ts[runs / 2] * 1e6);
}

static int bench_gemm(const opts *o, const eb_config *c, gemm_row *g, int cap) {
    const int H = c->hidden_size, FF = c->intermediate_size;
    const int maxn = 1024;
    const size_t big = (size_t)maxn * (size_t)(FF > maxn ? FF : maxn);
    float *a = malloc(sizeof(float) * big), *b = malloc(sizeof(float) * big);
    float *y = malloc(sizeof(float) * big);
    if (!a || !b || !y) {
        free(a), free(b), free(y);
        return 0;
    }
    for (size_t i = 0; i < big; i++)
        a[i] = (float)((i * 7) % 13) * 0.01f, b[i] = (float)((i * 3) % 11) * 0.01f;
    int n = 0;
    const eb_gemm_impl mine = eb_gemm_best_impl();
    /* bf16 weights (AVX512-BF16), packed per shape outside the timing */
    const int bf16 = eb_cpu_has_avx512_bf16();
    uint16_t *xb = bf16 ? malloc(sizeof(uint16_t) * big) : NULL;
    for (int ti = 0; ti < o->nthreads && n < cap; ti++) {
        set_threads(o->threads[ti]);
        /* the ceiling: a large square SGEMM in OpenBLAS */
        g[n++] = (gemm_row){"openblas", o->threads[ti],
                            maxn,       maxn,
                            maxn,       time_gemm(EB_GEMM_BLAS, a, b, y, maxn, maxn, maxn, 7)};
        for (int ki = 0; ki < o->ntokens && n + 8 <= cap; ki++) {
            int N = o->tokens[ki];
            if (N > maxn) continue;
            const int shapes[2][2] = {{H, FF}, {FF, H}};
            for (int s = 0; s < 2; s++) {
                int K = shapes[s][0], OC = shapes[s][1];
                if ((size_t)OC * K > big) continue;
                g[n++] =
                    (gemm_row){"openblas", o->threads[ti],
                               N,          OC,
                               K,          time_gemm(EB_GEMM_BLAS, a, b, y, N, OC, K, o->runs)};
                if (mine != EB_GEMM_BLAS)
                    g[n++] = (gemm_row){eb_gemm_impl_name(mine),
                                        o->threads[ti],
                                        N,
                                        OC,
                                        K,
                                        time_gemm(mine, a, b, y, N, OC, K, o->runs)};
                float *pk =
                    eb_cpu_has_avx512() && n < cap
                        ? aligned_alloc(64, (eb_pack_floats(K, OC) * sizeof(float) + 63) / 64 * 64)
                        : NULL;
                if (pk) {
                    eb_pack_weights(pk, b, K, OC);
                    g[n++] = (gemm_row){"avx512-packed",
                                        o->threads[ti],
                                        N,
                                        OC,
                                        K,
                                        time_gemm_packed(a, pk, y, N, OC, K, o->runs)};
                    free(pk);
                }
                uint16_t *wb =
                    xb && n < cap && K % 2 == 0
                        ? aligned_alloc(64, (eb_pack_bf16_count(K, OC) * 2 + 63) / 64 * 64)
                        : NULL;
                if (wb) {
                    eb_pack_bf16(wb, b, K, OC);
                    g[n++] = (gemm_row){"avx512-bf16",
                                        o->threads[ti],
                                        N,
                                        OC,
                                        K,
                                        time_gemm_bf16(a, wb, xb, y, N, OC, K, o->runs)};
                    free(wb);
                }
            }
        }
    }
    free(a), free(b), free(y), free(xb);
    return n;
}

/* ---- peak memory of classify ---------------------------------------- */

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

/* ---- dense output ----------------------------------------------------- */

static double ratio(const rows *R, const row *r, const char *base) {
    const row *b = find_row(R, base, r->threads, r->tokens);
    return b && r->median_ms > 0 ? b->median_ms / r->median_ms : NAN;
}

static void print_dense(const opts *o, const char *model, const eb_config *c, rows *R,
                        const gemm_row *g, int ng, long rss) {
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", model);
        cJSON_AddStringToObject(j, "gemm_impl", eb_gemm_impl_name(eb_gemm_best_impl()));
        cJSON_AddStringToObject(j, "openblas_kernels", openblas_get_corename());
        cJSON_AddNumberToObject(j, "runs", o->runs);
        cJSON_AddNumberToObject(j, "warmup", o->warmup);
        cJSON_AddNumberToObject(j, "rounds", o->rounds);
        cJSON_AddStringToObject(j, "clock", o->cpu_clock ? "cpu" : "wall");
        cJSON *rs = cJSON_AddArrayToObject(j, "rows");
        for (int i = 0; i < R->n; i++) {
            const row *r = &R->r[i];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "engine", r->engine);
            cJSON_AddNumberToObject(x, "threads", r->threads);
            cJSON_AddNumberToObject(x, "tokens", r->tokens);
            cJSON_AddNumberToObject(x, "median_ms", r->median_ms);
            cJSON_AddNumberToObject(x, "min_ms", r->min_ms);
            cJSON_AddNumberToObject(x, "gflops", albert_flops(c, r->tokens) / (r->median_ms * 1e6));
            double vt = ratio(R, r, "torch"), vo = ratio(R, r, "ort");
            if (isfinite(vt)) cJSON_AddNumberToObject(x, "vs_torch", vt);
            if (isfinite(vo)) cJSON_AddNumberToObject(x, "vs_ort", vo);
            cJSON_AddItemToArray(rs, x);
        }
        cJSON *ga = cJSON_AddArrayToObject(j, "gemm");
        for (int i = 0; i < ng; i++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "impl", g[i].impl);
            cJSON_AddNumberToObject(x, "threads", g[i].threads);
            cJSON_AddNumberToObject(x, "M", g[i].M);
            cJSON_AddNumberToObject(x, "N", g[i].N);
            cJSON_AddNumberToObject(x, "K", g[i].K);
            cJSON_AddNumberToObject(x, "gflops", g[i].gflops);
            cJSON_AddItemToArray(ga, x);
        }
        if (rss >= 0) cJSON_AddNumberToObject(j, "classify_peak_rss_kb", (double)rss);
        cJSON_AddItemToObject(j, "engines", cJSON_Duplicate(R->info, 1));
        cJSON_AddItemToObject(j, "skipped", cJSON_Duplicate(R->skipped, 1));
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
        return;
    }
    if (o->csv) {
        printf("engine,threads,tokens,median_ms,min_ms,gflops,vs_torch,vs_ort\n");
        for (int i = 0; i < R->n; i++) {
            const row *r = &R->r[i];
            printf("%s,%d,%d,%.3f,%.3f,%.2f,", r->engine, r->threads, r->tokens, r->median_ms,
                   r->min_ms, albert_flops(c, r->tokens) / (r->median_ms * 1e6));
            double vt = ratio(R, r, "torch"), vo = ratio(R, r, "ort");
            if (isfinite(vt)) printf("%.3f", vt);
            printf(",");
            if (isfinite(vo)) printf("%.3f", vo);
            printf("\n");
        }
        return;
    }
    printf("model: %s (H %d, %d layers, FFN %d); batch 1; median of %d runs after %d warm-up%s; "
           "%s\n\n",
           model, c->hidden_size, c->num_hidden_layers, c->intermediate_size, o->runs, o->warmup,
           o->rounds > 1 ? " (best of the rounds)" : "",
           o->cpu_clock ? "process CPU time per run (--clock cpu)" : "wall-clock");
    printf(
        "| engine | threads | tokens | median ms | min ms | GFLOP/s | x vs torch | x vs ort |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int ti = 0; ti < o->nthreads; ti++)
        for (int ki = 0; ki < o->ntokens; ki++)
            for (int i = 0; i < R->n; i++) {
                const row *r = &R->r[i];
                if (r->threads != o->threads[ti] || r->tokens != o->tokens[ki]) continue;
                printf("| %s | %d | %d | %.2f | %.2f | %.1f | ", r->engine, r->threads, r->tokens,
                       r->median_ms, r->min_ms, albert_flops(c, r->tokens) / (r->median_ms * 1e6));
                double vt = ratio(R, r, "torch"), vo = ratio(R, r, "ort");
                if (isfinite(vt))
                    printf("%.2f", vt);
                else
                    printf("-");
                printf(" | ");
                if (isfinite(vo))
                    printf("%.2f", vo);
                else
                    printf("-");
                printf(" |\n");
            }
    if (ng) {
        printf("\nGEMM (out[M,N] = A[M,K] B[N,K]^T, median GFLOP/s; the 1024^3 OpenBLAS row is "
               "the ceiling; OpenBLAS's kernels: %s%s)\n\n| impl | threads | M | N | K | GFLOP/s "
               "|\n|---|---:|---:|---:|---:|---:|\n",
               openblas_get_corename(),
               getenv("OPENBLAS_CORETYPE") ? ", chosen by OPENBLAS_CORETYPE" : "");
        for (int i = 0; i < ng; i++)
            printf("| %s | %d | %d | %d | %d | %.1f |\n", g[i].impl, g[i].threads, g[i].M, g[i].N,
                   g[i].K, g[i].gflops);
    }
    if (rss >= 0)
        printf("\npeak RSS of `edgebert classify -m %s`: %.1f MiB\n", model, rss / 1024.0);
    cJSON *it;
    cJSON_ArrayForEach(it, R->info) {
        cJSON *v = cJSON_GetObjectItem(it, "version"), *b = cJSON_GetObjectItem(it, "blas");
        printf("%s%s %s%s%s\n", it == R->info->child ? "\n" : "", it->string,
               cJSON_IsString(v) ? v->valuestring : "", cJSON_IsString(b) ? ", BLAS: " : "",
               cJSON_IsString(b) ? b->valuestring : "");
    }
    cJSON_ArrayForEach(it, R->skipped) {
        cJSON *e = cJSON_GetObjectItem(it, "engine"), *t = cJSON_GetObjectItem(it, "threads");
        cJSON *w = cJSON_GetObjectItem(it, "reason");
        printf("skipped %s", e->valuestring);
        if (t) printf(" (%d threads)", t->valueint);
        printf(": %s\n", w->valuestring);
    }
}

/* ---- end to end -------------------------------------------------------- */

typedef struct e2e_row {
    char engine[16], mode[24];
    int threads;
    double mean_ms, accuracy, mean_exit;
} e2e_row;

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

static int write_ids(const sents *S, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    for (int i = 0; i < S->n; i++) {
        for (int j = 0; j < S->len[i]; j++)
            fprintf(f, "%s%d", j ? " " : "", S->ptr[i][j]);
        fprintf(f, "\n");
    }
    return fclose(f);
}

/* Per-sentence edgebert; fills pred, returns mean ms (or -1). */
static double e2e_edgebert(eb_context *ctx, const sents *S, const eb_run_params *p, int *pred,
                           double *mean_exit, int cpu) {
    eb_result r;
    eb_error err = {0};
    for (int i = 0; i < S->n && i < 3; i++)
        if (eb_classify_ids(ctx, S->ptr[i], NULL, S->len[i], p, &r, &err) != EB_OK) break;
    double total = 0, ex = 0;
    for (int i = 0; i < S->n; i++) {
        double t0 = run_ms(cpu);
        if (eb_classify_ids(ctx, S->ptr[i], NULL, S->len[i], p, &r, &err) != EB_OK) {
            fprintf(stderr, "edgebert bench: sentence %d: %s\n", i + 1, err.msg);
            return -1;
        }
        total += run_ms(cpu) - t0;
        pred[i] = r.label;
        ex += r.exit_layer;
    }
    *mean_exit = S->n ? ex / S->n : 0;
    return S->n ? total / S->n : 0;
}

/* Run a reference engine over the ids file; fills pred, returns mean ms. */
static double e2e_sub(const char *engine, const char *cmd, const char *log, const sents *S,
                      int *pred, char *why, size_t cap) {
    char *out = malloc(1 << 22);
    if (!out) return -1;
    int rc = run_capture(cmd, log, out, 1 << 22);
    cJSON *j = parse_last_json(out);
    free(out);
    double ms = -1;
    if (!j) {
        char l[400];
        last_line(log, l, sizeof l);
        sfmt(why, cap, "%s exited %d: %s", engine, rc, l[0] ? l : "no output");
        return -1;
    }
    cJSON *e = cJSON_GetObjectItem(j, "error"), *mm = cJSON_GetObjectItem(j, "mean_ms");
    cJSON *lb = cJSON_GetObjectItem(j, "labels");
    if (cJSON_IsString(e))
        sfmt(why, cap, "%s", e->valuestring);
    else if (!cJSON_IsNumber(mm) || !cJSON_IsArray(lb) || cJSON_GetArraySize(lb) != S->n)
        sfmt(why, cap, "%s: unexpected output", engine);
    else {
        ms = mm->valuedouble;
        for (int i = 0; i < S->n; i++)
            pred[i] = cJSON_GetArrayItem(lb, i)->valueint;
    }
    cJSON_Delete(j);
    return ms;
}

static int bench_e2e(const opts *o, const char *root) {
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
    if (tokenize_all(m, c, ds, map, o->limit, &S)) {
        sents_free(&S);
        eb_dataset_free(ds);
        eb_model_free(m);
        return 1;
    }
    eb_dataset_free(ds);
    int *pred = malloc(sizeof(int) * (size_t)(S.n + 1)),
        *pee = malloc(sizeof(int) * (size_t)(S.n + 1));
    e2e_row rws[64];
    int nr = 0, rc = 0;
    cJSON *skipped = cJSON_CreateArray(), *batched = cJSON_CreateArray();
    rows dummy;
    dummy.skipped = skipped;
    eb_context *ctx = NULL;
    char idsf[PATH_MAX + 40];
    idsf[0] = 0;
    if (!pred || !pee || eb_context_new(m, &ctx, &err) != EB_OK) {
        fprintf(stderr, "edgebert bench: out of memory\n");
        rc = 1;
        goto done;
    }
    const char *hf = o->hf ? o->hf : (is_dir(mpath) ? mpath : NULL);
    sfmt(idsf, sizeof idsf, "%s/build/bench/e2e_ids.%ld.txt", root, (long)getpid());
    if (write_ids(&S, idsf)) {
        fprintf(stderr, "edgebert bench: cannot write %s\n", idsf);
        rc = 1;
        goto done;
    }
    char onnx[PATH_MAX + 300], why[800];
    int ort_ok = 0;
    if (has_engine(o, "ort")) {
        if (!hf)
            skip(&dummy, "ort", 0, "needs a HuggingFace checkpoint directory (--hf DIR)");
        else if (ort_ready(root, hf, onnx, sizeof onnx, why, sizeof why))
            skip(&dummy, "ort", 0, why);
        else
            ort_ok = 1;
    }
    if (has_engine(o, "torch") && !hf)
        skip(&dummy, "torch", 0, "needs a HuggingFace checkpoint directory (--hf DIR)");
    for (int ti2 = 0; ti2 < o->nthreads; ti2++) {
        const int t = o->threads[ti2];
        set_threads(t);
        if (has_engine(o, "edgebert")) {
            eb_run_params ee = rp, base = rp;
            if (ee.policy == EB_POLICY_BASE) ee.policy = EB_POLICY_EE;
            base.policy = EB_POLICY_BASE;
            base.last_ramp_only = 1; /* all layers, no off-ramps: what torch/ort compute */
            double mex;
            double ms = e2e_edgebert(ctx, &S, &ee, pee, &mex, o->cpu_clock);
            if (ms < 0) {
                rc = 1;
                goto done;
            }
            rws[nr++] = (e2e_row){"edgebert", "", t, ms, accuracy(&S, pee), mex};
            sfmt(rws[nr - 1].mode, sizeof rws[0].mode, "%s",
                 ee.policy == EB_POLICY_LAI ? "lai" : "early-exit");
            ms = e2e_edgebert(ctx, &S, &base, pred, &mex, o->cpu_clock);
            if (ms < 0) {
                rc = 1;
                goto done;
            }
            rws[nr++] = (e2e_row){"edgebert", "full", t, ms, accuracy(&S, pred), mex};
            /* batched early exit (fp32 only: edgebert/batch.h has no AdaptivFloat8 path) */
            if (rp.precision != EB_PRECISION_FP32 && t == o->threads[0])
                fprintf(stderr, "edgebert bench: batched early exit skipped: fp32 only\n");
            for (int bi = 0; rp.precision == EB_PRECISION_FP32 && bi < o->nbatches; bi++) {
                int B = o->batches[bi], maxl = 0;
                for (int i = 0; i < S.n; i++)
                    maxl = S.len[i] > maxl ? S.len[i] : maxl;
                eb_batch *bt = NULL;
                eb_batch_result *br = malloc(sizeof *br * (size_t)B);
                if (!br || eb_batch_new(m, B, B * maxl, &bt, &err) != EB_OK) {
                    free(br);
                    fprintf(stderr, "edgebert bench: %s\n", err.msg);
                    rc = 1;
                    goto done;
                }
                eb_run_params bp = ee;
                bp.policy = EB_POLICY_EE;
                int agree = 0, cnt = 0;
                double t0 = run_ms(o->cpu_clock), ex = 0;
                for (int i = 0; i < S.n; i += B) {
                    int k = S.n - i < B ? S.n - i : B;
                    if (eb_batch_classify_ids(bt, S.ptr + i, S.len + i, k, &bp, br, &err) !=
                        EB_OK) {
                        fprintf(stderr, "edgebert bench: %s\n", err.msg);
                        rc = 1;
                        break;
                    }
                    for (int j = 0; j < k; j++) {
                        agree += br[j].label == pee[i + j];
                        pred[i + j] = br[j].label;
                        ex += br[j].exit_layer;
                    }
                    cnt += k;
                }
                double sec = (run_ms(o->cpu_clock) - t0) / 1e3;
                cJSON *x = cJSON_CreateObject();
                cJSON_AddNumberToObject(x, "batch", B);
                cJSON_AddNumberToObject(x, "threads", t);
                cJSON_AddNumberToObject(x, "sentences_per_s", sec > 0 ? cnt / sec : 0);
                cJSON_AddNumberToObject(x, "mean_exit_layer", cnt ? ex / cnt : 0);
                cJSON_AddNumberToObject(x, "agree_with_unbatched", cnt ? (double)agree / cnt : 0);
                cJSON_AddNumberToObject(x, "accuracy", accuracy(&S, pred));
                cJSON_AddItemToArray(batched, x);
                eb_batch_free(bt);
                free(br);
                if (rc) goto done;
            }
        }
        char qi[PATH_MAX + 48], qm[PATH_MAX + 8], qs[PATH_MAX + 8], sc[PATH_MAX + 40];
        char cmd[4 * PATH_MAX + 400], log[PATH_MAX + 40];
        shq(qi, sizeof qi, idsf);
        if (has_engine(o, "torch") && hf) {
            sfmt(sc, sizeof sc, "%s/tools/bench/torch_albert.py", root);
            sfmt(log, sizeof log, "%s/build/bench/torch.log", root);
            shq(qs, sizeof qs, sc);
            shq(qm, sizeof qm, hf);
            sfmt(cmd, sizeof cmd,
                 "OMP_NUM_THREADS=%d OPENBLAS_NUM_THREADS=%d %s %s ids --model %s --ids %s "
                 "--threads %d",
                 t, t, python(), qs, qm, qi, t);
            double ms = e2e_sub("torch", cmd, log, &S, pred, why, sizeof why);
            if (ms < 0)
                skip(&dummy, "torch", t, why);
            else
                rws[nr++] =
                    (e2e_row){"torch", "full", t, ms, accuracy(&S, pred), c->num_hidden_layers};
        }
        if (ort_ok) {
            char qo[PATH_MAX + 308], qd[PATH_MAX + 40], dir[PATH_MAX + 32];
            sfmt(sc, sizeof sc, "%s/tools/bench/ort_runner.js", root);
            sfmt(dir, sizeof dir, "%s/build/bench/ort", root);
            sfmt(log, sizeof log, "%s/build/bench/ort.log", root);
            shq(qs, sizeof qs, sc);
            shq(qo, sizeof qo, onnx);
            shq(qd, sizeof qd, dir);
            sfmt(cmd, sizeof cmd,
                 "OMP_NUM_THREADS=%d %s %s --ort %s --model %s --threads %d --ids %s", t, node(),
                 qs, qd, qo, t, qi);
            double ms = e2e_sub("ort", cmd, log, &S, pred, why, sizeof why);
            if (ms < 0)
                skip(&dummy, "ort", t, why);
            else
                rws[nr++] =
                    (e2e_row){"ort", "full", t, ms, accuracy(&S, pred), c->num_hidden_layers};
        }
    }
    long rss = o->rss ? classify_rss_kb(mpath) : -1;
    /* output */
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", mpath);
        cJSON_AddStringToObject(j, "data", o->data);
        cJSON_AddStringToObject(j, "task", task);
        cJSON_AddNumberToObject(j, "sentences", S.n);
        cJSON_AddStringToObject(j, "clock", o->cpu_clock ? "cpu" : "wall");
        cJSON *ra = cJSON_AddArrayToObject(j, "rows");
        for (int i = 0; i < nr; i++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "engine", rws[i].engine);
            cJSON_AddStringToObject(x, "mode", rws[i].mode);
            cJSON_AddNumberToObject(x, "threads", rws[i].threads);
            cJSON_AddNumberToObject(x, "mean_ms", rws[i].mean_ms);
            if (isfinite(rws[i].accuracy)) cJSON_AddNumberToObject(x, "accuracy", rws[i].accuracy);
            cJSON_AddNumberToObject(x, "mean_exit_layer", rws[i].mean_exit);
            for (int k = 0; k < nr; k++)
                if (rws[k].threads == rws[i].threads && !strcmp(rws[k].mode, "full") &&
                    strcmp(rws[k].engine, "edgebert")) {
                    char key[32];
                    sfmt(key, sizeof key, "vs_%s", rws[k].engine);
                    cJSON_AddNumberToObject(x, key, rws[k].mean_ms / rws[i].mean_ms);
                }
            cJSON_AddItemToArray(ra, x);
        }
        cJSON_AddItemToObject(j, "batched", cJSON_Duplicate(batched, 1));
        if (rss >= 0) cJSON_AddNumberToObject(j, "classify_peak_rss_kb", (double)rss);
        cJSON_AddItemToObject(j, "skipped", cJSON_Duplicate(skipped, 1));
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("model: %s; %s, %d sentences (%s); mean %s per sentence, token ids given\n\n", mpath,
               task, S.n, o->data, o->cpu_clock ? "process CPU time" : "wall-clock");
        printf("| engine | mode | threads | mean ms | accuracy | mean exit layer | x vs torch full "
               "| x vs ort full |\n");
        printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
        for (int i = 0; i < nr; i++) {
            double vt = NAN, vo = NAN;
            for (int k = 0; k < nr; k++)
                if (rws[k].threads == rws[i].threads && !strcmp(rws[k].mode, "full")) {
                    if (!strcmp(rws[k].engine, "torch")) vt = rws[k].mean_ms / rws[i].mean_ms;
                    if (!strcmp(rws[k].engine, "ort")) vo = rws[k].mean_ms / rws[i].mean_ms;
                }
            printf("| %s | %s | %d | %.2f | %.2f %% | %.2f | ", rws[i].engine, rws[i].mode,
                   rws[i].threads, rws[i].mean_ms, 100 * rws[i].accuracy, rws[i].mean_exit);
            if (isfinite(vt))
                printf("%.2f", vt);
            else
                printf("-");
            printf(" | ");
            if (isfinite(vo))
                printf("%.2f", vo);
            else
                printf("-");
            printf(" |\n");
        }
        cJSON *it;
        if (cJSON_GetArraySize(batched)) {
            printf("\nbatched early exit (edgebert/batch.h)\n\n| batch | threads | sentences/s | "
                   "mean exit layer | same label as unbatched | accuracy "
                   "|\n|---:|---:|---:|---:|---:|---:|\n");
            cJSON_ArrayForEach(it, batched) {
                printf("| %d | %d | %.1f | %.2f | %.1f %% | %.2f %% |\n",
                       cJSON_GetObjectItem(it, "batch")->valueint,
                       cJSON_GetObjectItem(it, "threads")->valueint,
                       cJSON_GetObjectItem(it, "sentences_per_s")->valuedouble,
                       cJSON_GetObjectItem(it, "mean_exit_layer")->valuedouble,
                       100 * cJSON_GetObjectItem(it, "agree_with_unbatched")->valuedouble,
                       100 * cJSON_GetObjectItem(it, "accuracy")->valuedouble);
            }
        }
        if (rss >= 0)
            printf("\npeak RSS of `edgebert classify -m %s`: %.1f MiB\n", mpath, rss / 1024.0);
        cJSON_ArrayForEach(it, skipped) {
            cJSON *t = cJSON_GetObjectItem(it, "threads");
            printf("skipped %s", cJSON_GetObjectItem(it, "engine")->valuestring);
            if (t) printf(" (%d threads)", t->valueint);
            printf(": %s\n", cJSON_GetObjectItem(it, "reason")->valuestring);
        }
    }
done:
    if (idsf[0]) unlink(idsf);
    eb_context_free(ctx);
    free(pred), free(pee);
    cJSON_Delete(skipped);
    cJSON_Delete(batched);
    sents_free(&S);
    eb_model_free(m);
    return rc;
}

static int run_dense(const opts *o, const char *root) {
    char gen[PATH_MAX + 64];
    const char *model = o->model;
    if (!model) {
        if (ensure_model(root, gen, sizeof gen)) return 1;
        model = gen;
    }
    eb_model *m = eb_cli_load_model(CMD, model);
    if (!m) return 1;
    const eb_config *c = eb_model_task_config(m, o->rp.task);
    if (!c) {
        fprintf(stderr, "edgebert bench: unknown task '%s'\n", o->rp.task);
        eb_model_free(m);
        return 2;
    }
    rows *R = calloc(1, sizeof *R);
    if (!R) return 1;
    R->skipped = cJSON_CreateArray();
    R->info = cJSON_CreateObject();
    int rc = 0;
    const int hf = is_dir(model);
    /* rounds: every engine once per round, so that load that comes and goes
     * on a shared machine hits all of them alike */
    for (int round = 0; round < o->rounds && !rc; round++) {
        if (has_engine(o, "edgebert") && bench_edgebert(o, m, R)) rc = 1;
        if (has_engine(o, "edgebert-batch") && o->rp.precision != EB_PRECISION_FP32)
            skip(R, "edgebert-batch", 0, "fp32 only (no AdaptivFloat8 path in edgebert/batch.h)");
        else if (has_engine(o, "edgebert-batch") && bench_edgebert_batch(o, m, R))
            rc = 1;
        if (has_engine(o, "torch")) {
            if (hf)
                bench_torch(o, root, model, R);
            else if (!round)
                skip(R, "torch", 0, "needs a HuggingFace checkpoint directory, not a bundle");
        }
        if (has_engine(o, "ort")) {
            if (hf)
                bench_ort(o, root, model, c->vocab_size, R);
            else if (!round)
                skip(R, "ort", 0, "needs a HuggingFace checkpoint directory, not a bundle");
        }
        if (o->rounds > 1 && !o->json && !o->csv)
            fprintf(stderr, "edgebert bench: round %d of %d done\n", round + 1, o->rounds);
    }
    gemm_row g[256];
    int ng = o->gemm ? bench_gemm(o, c, g, 256) : 0;
    long rss = o->rss ? classify_rss_kb(model) : -1;
    print_dense(o, model, c, R, g, ng, rss);
    cJSON_Delete(R->skipped);
    cJSON_Delete(R->info);
    free(R);
    eb_model_free(m);
    return rc;
}

int eb_cmd_bench(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--kernels")) return eb_cmd_bench_kernels(argc, argv);
    opts o;
    memset(&o, 0, sizeof o);
    o.rp = eb_run_params_default();
    o.engines = "edgebert,edgebert-batch,torch,ort";
    o.runs = 20;
    o.rounds = 1;
    o.warmup = 3;
    o.gemm = 1;
    o.rss = 1;
    o.ntokens = parse_list("16,32,64,128", o.tokens, MAXV);
    o.nthreads = parse_list("1,2", o.threads, MAXV);
    o.nbatches = parse_list("1,8,32", o.batches, MAXV);
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        /* --threads is the bench's list of team sizes, not the run option */
        int r = strcmp(argv[i], "--threads") ? eb_cli_run_option(CMD, argc, argv, &i, &o.rp) : 0;
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV()                                                                                    \
    do {                                                                                           \
        if (!v) {                                                                                  \
            fprintf(stderr, "edgebert bench: %s needs a value\n", a);                              \
            return usage(), 2;                                                                     \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            NEEDV();
            o.model = v;
        } else if (!strcmp(a, "--data")) {
            NEEDV();
            o.data = v;
        } else if (!strcmp(a, "--hf")) {
            NEEDV();
            o.hf = v;
        } else if (!strcmp(a, "--engines")) {
            NEEDV();
            o.engines = v;
        } else if (!strcmp(a, "--tokens") || !strcmp(a, "--threads") || !strcmp(a, "--batches")) {
            NEEDV();
            int *dst = a[2] == 't' ? (a[3] == 'o' ? o.tokens : o.threads) : o.batches;
            int *cnt = a[2] == 't' ? (a[3] == 'o' ? &o.ntokens : &o.nthreads) : &o.nbatches;
            if ((*cnt = parse_list(v, dst, MAXV)) <= 0) {
                fprintf(stderr, "edgebert bench: %s: bad list '%s' (positive integers, commas)\n",
                        a, v);
                return 2;
            }
        } else if (!strcmp(a, "--rounds")) {
            NEEDV();
            if (!eb_cli_parse_int(CMD, a, v, &o.rounds)) return 2;
            if (o.rounds < 1 || o.rounds > 1000) {
                fprintf(stderr, "edgebert bench: --rounds: out of range: %s\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--runs") || !strcmp(a, "--warmup") || !strcmp(a, "--limit")) {
            NEEDV();
            int x;
            if (!eb_cli_parse_int(CMD, a, v, &x)) return 2;
            if (x < (a[2] == 'r' ? 1 : 0) || x > 100000) {
                fprintf(stderr, "edgebert bench: %s: out of range: %s\n", a, v);
                return 2;
            }
            if (a[2] == 'r')
                o.runs = x;
            else if (a[2] == 'w')
                o.warmup = x;
            else
                o.limit = x;
        } else if (!strcmp(a, "--clock")) {
            NEEDV();
            if (!strcmp(v, "cpu"))
                o.cpu_clock = 1;
            else if (!strcmp(v, "wall"))
                o.cpu_clock = 0;
            else {
                fprintf(stderr, "edgebert bench: --clock: wall or cpu, not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--json"))
            o.json = 1;
        else if (!strcmp(a, "--csv"))
            o.csv = 1;
        else if (!strcmp(a, "--e2e"))
            o.e2e = 1;
        else if (!strcmp(a, "--no-gemm"))
            o.gemm = 0;
        else if (!strcmp(a, "--no-rss"))
            o.rss = 0;
        else if (!strcmp(a, "--quick"))
            quick = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return usage(), 0;
        else {
            fprintf(stderr, "edgebert bench: unknown option %s\n", a);
            return usage(), 2;
        }
#undef NEEDV
    }
    if (o.json && o.csv) {
        fprintf(stderr, "edgebert bench: --json and --csv exclude each other\n");
        return 2;
    }
    if (quick) {
        o.runs = 5, o.warmup = 1;
        o.ntokens = parse_list("16,32", o.tokens, MAXV);
        o.nthreads = parse_list("1", o.threads, MAXV);
    }
    char root[PATH_MAX];
    repo_root(root, sizeof root);
    char bdir[PATH_MAX + 32];
    sfmt(bdir, sizeof bdir, "%s/build/bench", root);
    mkdir(bdir, 0755);
    if (o.e2e) {
        if (!o.data) {
            fprintf(stderr, "edgebert bench: --e2e needs --data DEV.tsv\n");
            return 2;
        }
        return bench_e2e(&o, root);
    }
    return run_dense(&o, root);
}
