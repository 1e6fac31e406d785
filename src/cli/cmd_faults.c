/* cmd_faults.c - edgebert faults: the Monte Carlo study of storing the word
 * embeddings in SLC/MLC ReRAM (paper Table 2): fault probabilities, the
 * table, CSV/JSON files and an SVG plot of the accuracy distributions. */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "edgebert/runtime.h"
#include "edgebert/data.h"
#include "edgebert/faults.h"

#define MAX_KINDS 16

static const char INTRO[] =
    "Injects ReRAM read faults into the stored AdaptivFloat8 word embeddings of a bundle,\n"
    "--trials times per storage kind, and evaluates the task on the dev set each time.\n";

static int seed_fn(void *dst, const char *cmd, const char *opt, const char *v) {
    char *end;
    errno = 0;
    unsigned long long s = strtoull(v, &end, 0);
    if (end == v || *end || errno || v[0] == '-') {
        fprintf(stderr, "edgebert %s: %s must be a non-negative integer, got '%s'\n", cmd, opt, v);
        return 0;
    }
    *(uint64_t *)dst = (uint64_t)s;
    return 1;
}

typedef struct levels_list {
    const char *v[MAX_KINDS];
    int n;
} levels_list;

static int levels_fn(void *dst, const char *cmd, const char *opt, const char *v) {
    levels_list *l = dst;
    if (l->n == MAX_KINDS) {
        fprintf(stderr, "edgebert %s: too many %s (at most %d)\n", cmd, opt, MAX_KINDS);
        return 0;
    }
    l->v[l->n++] = v;
    return 1;
}

static int mask_fn(void *dst, const char *cmd, const char *opt, const char *v) {
    if (!strcmp(v, "slc"))
        *(eb_mask_storage *)dst = EB_MASK_SLC;
    else if (!strcmp(v, "same"))
        *(eb_mask_storage *)dst = EB_MASK_SAME;
    else {
        fprintf(stderr, "edgebert %s: %s must be slc or same, got '%s'\n", cmd, opt, v);
        return 0;
    }
    return 1;
}

static int mode_fn(void *dst, const char *cmd, const char *opt, const char *v) {
    if (!strcmp(v, "count"))
        *(eb_fault_mode *)dst = EB_FAULT_COUNT;
    else if (!strcmp(v, "bernoulli"))
        *(eb_fault_mode *)dst = EB_FAULT_BERNOULLI;
    else {
        fprintf(stderr, "edgebert %s: %s must be count or bernoulli, got '%s'\n", cmd, opt, v);
        return 0;
    }
    return 1;
}

static volatile int g_stop = 0; /* set by SIGINT/SIGTERM: finish the running trials and stop */

static void on_signal(int sig) {
    if (g_stop) { /* a second one: stop now (the checkpoint is always whole) */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_stop = 1;
}

typedef struct progress {
    int tty;
    double last;
} progress;

static void fmt_time(char *b, size_t n, double s) {
    if (!(s >= 0))
        snprintf(b, n, "?");
    else if (s < 60)
        snprintf(b, n, "%.0fs", s);
    else if (s < 3600)
        snprintf(b, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(b, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

/* A line per report (on a terminal, one rewritten line; else at most one per 30 s); a
 * signal's stop request ends the study after the running trials. */
static int on_progress(void *ud, const eb_progress *pr) {
    progress *p = ud;
    const long done = pr->done, total = pr->total;
    const double el = pr->elapsed_s, eta = pr->eta_s;
    if (!pr->report || (!p->tty && done < total && el - p->last < 30)) return g_stop != 0;
    p->last = el;
    char a[32], b[32];
    fmt_time(a, sizeof a, el);
    fmt_time(b, sizeof b, eta);
    fprintf(stderr, "%sedgebert faults: %ld/%ld trials, %s elapsed, ETA %s%s", p->tty ? "\r" : "",
            done, total, a, b, p->tty ? (done == total ? "\n" : "   ") : "\n");
    fflush(stderr);
    return g_stop != 0;
}

static int add_kind(eb_fault_kind *kinds, int *n, const eb_fault_kind *k) {
    if (*n >= MAX_KINDS) {
        fprintf(stderr, "edgebert faults: at most %d cell kinds\n", MAX_KINDS);
        return 0;
    }
    for (int i = 0; i < *n; i++)
        if (!strcmp(kinds[i].name, k->name)) {
            fprintf(stderr, "edgebert faults: cell kind '%s' given twice\n", k->name);
            return 0;
        }
    kinds[(*n)++] = *k;
    return 1;
}

static int parse_cells(const char *list, eb_fault_kind *kinds, int *n) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    int any = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        eb_cell_kind c;
        eb_fault_kind k;
        eb_error err = {0};
        if (eb_cell_kind_parse(tok, &c, &err) != EB_OK ||
            eb_fault_kind_builtin(c, &k, &err) != EB_OK) {
            fprintf(stderr, "edgebert faults: --cells: %s\n", err.msg);
            return 0;
        }
        if (!add_kind(kinds, n, &k)) return 0;
        any = 1;
    }
    if (!any) fprintf(stderr, "edgebert faults: --cells needs a list like slc,mlc2,mlc3\n");
    return any;
}

static int load_levels(const char *path, eb_fault_kind *kinds, int *n) {
    eb_fault_kind k;
    memset(&k, 0, sizeof k);
    eb_error err = {0};
    if (eb_reram_table_load(path, NULL, &k.table, &err) != EB_OK) {
        fprintf(stderr, "edgebert faults: %s\n", err.msg);
        return 0;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(k.name, sizeof k.name, "%s", base);
    char *dot = strrchr(k.name, '.');
    if (dot && dot != k.name) *dot = 0;
    for (char *c = k.name; *c; c++)
        if (*c == ',' || *c == '"' || *c == '\n' || *c == '\r' || *c == '\t') *c = '_';
    return add_kind(kinds, n, &k);
}

/* ---- output ------------------------------------------------------- */

static const char *display_name(const eb_fault_kind *k, char *buf, size_t n) {
    if (k->cell) {
        snprintf(buf, n, "%s", k->name);
        for (char *c = buf; *c; c++)
            if (*c >= 'a' && *c <= 'z') *c = (char)(*c - 'a' + 'A');
    } else {
        snprintf(buf, n, "%s", k->name);
    }
    return buf;
}

static void print_num_cell(const char *fmt, double v, int width) {
    char b[64];
    if (isnan(v))
        snprintf(b, sizeof b, "-");
    else
        snprintf(b, sizeof b, fmt, v);
    printf(" %*s", width, b);
}

static const char *metric_label(const char *m) {
    return !strcmp(m, "f1")         ? "F1"
           : !strcmp(m, "matthews") ? "Matthews corr."
           : !strcmp(m, "pearson")  ? "Pearson"
                                    : "accuracy";
}

static void print_table(const eb_fault_study *S, const eb_fault_study_params *p, const char *data) {
    const int W = 12;
    char nm[64];
    printf("\nReRAM storage of the word embeddings: %s, %s, %d examples, %d trial%s per kind, seed "
           "%llu\n",
           S->task->display, data, S->n_examples, S->trials, S->trials == 1 ? "" : "s",
           (unsigned long long)p->seed);
    printf("stored: %zu non-zero AF8 codes of %dx%d (density %.1f %%), bitmask %zu bytes in %s "
           "cells\n",
           S->nnz, S->rows, S->cols, 100.0 * (double)S->nnz / ((double)S->rows * S->cols),
           S->mask_bytes, p->mask == EB_MASK_SAME ? "the values' kind of" : "SLC");
    if (!isnan(S->clean.accuracy)) printf("fault-free accuracy %.2f %%", 100 * S->clean.accuracy);
    if (strcmp(S->metric, "accuracy")) {
        double v = !strcmp(S->metric, "f1")         ? S->clean.f1
                   : !strcmp(S->metric, "matthews") ? S->clean.matthews
                                                    : S->clean.pearson;
        printf("%sfault-free %s %.4f", isnan(S->clean.accuracy) ? "" : ", ",
               metric_label(S->metric), v);
    }
    printf("\n\n%-28s", "");
    for (int k = 0; k < S->n_kinds; k++)
        printf(" %*s", W, display_name(&S->kinds[k], nm, sizeof nm));
    printf("\n%-28s", "bits per cell");
    for (int k = 0; k < S->n_kinds; k++)
        print_num_cell("%.0f", S->kinds[k].table.bits, W);
    printf("\n%-28s", "fault rate (per cell)");
    for (int k = 0; k < S->n_kinds; k++)
        print_num_cell("%.2e", S->summary[k].fault_rate, W);
    const char *rows[] = {"mean accuracy (%)", "min accuracy (%)", "max accuracy (%)",
                          "std accuracy (%-pt)"};
    for (int r = 0; r < 4 && S->task->num_labels > 1; r++) {
        printf("\n%-28s", rows[r]);
        for (int k = 0; k < S->n_kinds; k++) {
            const eb_fault_summary *u = &S->summary[k];
            double v = r == 0   ? u->mean_accuracy
                       : r == 1 ? u->min_accuracy
                       : r == 2 ? u->max_accuracy
                                : u->std_accuracy;
            print_num_cell("%.2f", 100 * v, W);
        }
    }
    if (strcmp(S->metric, "accuracy")) {
        char lab[64];
        for (int r = 0; r < 2; r++) {
            snprintf(lab, sizeof lab, "%s %s", r ? "min" : "mean", metric_label(S->metric));
            printf("\n%-28s", lab);
            for (int k = 0; k < S->n_kinds; k++)
                print_num_cell("%.4f", r ? S->summary[k].min_metric : S->summary[k].mean_metric, W);
        }
    }
    printf("\n%-28s", "faulty value cells / trial");
    for (int k = 0; k < S->n_kinds; k++)
        print_num_cell("%.1f", S->summary[k].mean_value_faults, W);
    printf("\n%-28s", "faulty mask cells / trial");
    for (int k = 0; k < S->n_kinds; k++)
        print_num_cell("%.1f", S->summary[k].mean_mask_faults, W);
    printf("\n%-28s", "changed vocab rows / trial");
    for (int k = 0; k < S->n_kinds; k++)
        print_num_cell("%.1f", S->summary[k].mean_changed_rows, W);
    printf("\n%-28s", "area density (mm2/MB)");
    for (int k = 0; k < S->n_kinds; k++)
        print_num_cell("%.2f", S->kinds[k].cell ? eb_reram_area_mm2_per_mb(S->kinds[k].cell) : NAN,
                       W);
    printf("\n%-28s", "read latency (ns)");
    for (int k = 0; k < S->n_kinds; k++)
        print_num_cell("%.2f", S->kinds[k].cell ? eb_reram_read_latency_ns(S->kinds[k].cell) : NAN,
                       W);
    printf("\n%-28s", "trials");
    for (int k = 0; k < S->n_kinds; k++)
        print_num_cell("%.0f", S->summary[k].trials_done, W);
    printf("\n");
}

static cJSON *num(double v) {
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *scores_json(const eb_glue_scores *g) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "accuracy", num(g->accuracy));
    cJSON_AddItemToObject(o, "f1", num(g->f1));
    cJSON_AddItemToObject(o, "matthews", num(g->matthews));
    cJSON_AddItemToObject(o, "pearson", num(g->pearson));
    cJSON_AddItemToObject(o, "spearman", num(g->spearman));
    return o;
}

static double trial_metric(const eb_fault_study *S, const eb_fault_trial *t) {
    if (!strcmp(S->metric, "f1")) return t->f1;
    if (!strcmp(S->metric, "matthews")) return t->matthews;
    if (!strcmp(S->metric, "pearson")) return t->pearson;
    return t->accuracy;
}

static cJSON *study_json(const eb_fault_study *S, const eb_fault_study_params *p, const char *model,
                         const char *data) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddStringToObject(o, "task", S->task->name);
    cJSON_AddStringToObject(o, "data", data);
    cJSON_AddNumberToObject(o, "n_examples", S->n_examples);
    cJSON_AddNumberToObject(o, "trials", S->trials);
    cJSON_AddNumberToObject(o, "seed", (double)p->seed);
    cJSON_AddStringToObject(o, "mask_cells", p->mask == EB_MASK_SAME ? "same" : "slc");
    cJSON_AddStringToObject(o, "mode", p->mode == EB_FAULT_COUNT ? "count" : "bernoulli");
    cJSON_AddStringToObject(o, "policy", eb_policy_name(p->run.policy));
    cJSON_AddStringToObject(o, "metric", S->metric);
    cJSON *e = cJSON_AddObjectToObject(o, "embeddings");
    cJSON_AddNumberToObject(e, "rows", S->rows);
    cJSON_AddNumberToObject(e, "cols", S->cols);
    cJSON_AddNumberToObject(e, "nnz", (double)S->nnz);
    cJSON_AddNumberToObject(e, "density", (double)S->nnz / ((double)S->rows * S->cols));
    cJSON_AddNumberToObject(e, "mask_bytes", (double)S->mask_bytes);
    cJSON_AddItemToObject(o, "fault_free", scores_json(&S->clean));
    cJSON *res = cJSON_AddArrayToObject(o, "results");
    for (int k = 0; k < S->n_kinds; k++) {
        const eb_fault_summary *u = &S->summary[k];
        const eb_reram_model *vm = &S->value_models[k];
        cJSON *r = cJSON_CreateObject();
        cJSON_AddItemToArray(res, r);
        cJSON_AddStringToObject(r, "cells", S->kinds[k].name);
        cJSON_AddNumberToObject(r, "bits_per_cell", vm->table.bits);
        cJSON_AddItemToObject(r, "fault_rate", num(u->fault_rate));
        cJSON_AddItemToObject(r, "mask_fault_rate", num(u->mask_fault_rate));
        cJSON_AddItemToObject(r, "mean_accuracy", num(u->mean_accuracy));
        cJSON_AddItemToObject(r, "min_accuracy", num(u->min_accuracy));
        cJSON_AddItemToObject(r, "max_accuracy", num(u->max_accuracy));
        cJSON_AddItemToObject(r, "std_accuracy", num(u->std_accuracy));
        cJSON_AddItemToObject(r, "mean_metric", num(u->mean_metric));
        cJSON_AddItemToObject(r, "min_metric", num(u->min_metric));
        cJSON_AddItemToObject(
            r, "area_mm2_per_mb",
            num(S->kinds[k].cell ? eb_reram_area_mm2_per_mb(S->kinds[k].cell) : NAN));
        cJSON_AddItemToObject(
            r, "read_latency_ns",
            num(S->kinds[k].cell ? eb_reram_read_latency_ns(S->kinds[k].cell) : NAN));
        cJSON_AddNumberToObject(r, "value_cells", (double)u->value_cells);
        cJSON_AddNumberToObject(r, "mask_cells", (double)u->mask_cells);
        cJSON_AddItemToObject(r, "mean_value_faults", num(u->mean_value_faults));
        cJSON_AddItemToObject(r, "mean_mask_faults", num(u->mean_mask_faults));
        cJSON_AddItemToObject(r, "mean_changed_codes", num(u->mean_changed_codes));
        cJSON_AddItemToObject(r, "mean_changed_rows", num(u->mean_changed_rows));
        cJSON_AddNumberToObject(r, "trials_done", u->trials_done);
        cJSON *b = cJSON_AddArrayToObject(r, "boundaries");
        for (int j = 0; j + 1 < vm->table.n_levels; j++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "threshold", vm->threshold[j]);
            cJSON_AddNumberToObject(x, "p_up", vm->p_up[j]);
            cJSON_AddNumberToObject(x, "p_down", vm->p_down[j + 1]);
            cJSON_AddItemToArray(b, x);
        }
        cJSON *acc = cJSON_AddArrayToObject(r, "accuracies");
        cJSON *met = cJSON_AddArrayToObject(r, "metrics");
        for (int i = 0; i < S->trials; i++) {
            size_t j = (size_t)k * S->trials + i;
            if (!S->done[j]) continue;
            cJSON_AddItemToArray(acc, num(S->trial[j].accuracy));
            cJSON_AddItemToArray(met, num(trial_metric(S, &S->trial[j])));
        }
    }
    cJSON_AddBoolToObject(o, "complete", S->complete);
    cJSON_AddNumberToObject(o, "resumed_trials", S->resumed);
    cJSON_AddNumberToObject(o, "threads", S->threads);
    cJSON_AddNumberToObject(o, "seconds", S->seconds);
    cJSON_AddItemToObject(o, "seconds_per_trial", num(S->trial_seconds));
    return o;
}

static int write_str(const char *dir, const char *name, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "edgebert faults: cannot write %s: %s\n", path, strerror(errno));
        return 0;
    }
    return 1;
}

typedef struct tbuf {
    char *p;
    size_t len, cap;
} tbuf;

static void tb(tbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb(tbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + (size_t)n + 1)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            fprintf(stderr, "edgebert faults: out of memory\n");
            exit(1);
        }
        b->p = np;
        b->cap = nc;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void csv_num(tbuf *b, double v) {
    if (isnan(v))
        tb(b, ",");
    else
        tb(b, ",%.10g", v);
}

static char *trials_csv(const eb_fault_study *S) {
    tbuf b = {0};
    tb(&b, "cells,trial,accuracy,f1,matthews,pearson,spearman,value_faults,mask_faults,changed_"
           "codes,changed_rows,reevaluated\n");
    for (int k = 0; k < S->n_kinds; k++)
        for (int i = 0; i < S->trials; i++) {
            size_t j = (size_t)k * S->trials + i;
            if (!S->done[j]) continue;
            const eb_fault_trial *t = &S->trial[j];
            tb(&b, "%s,%d", S->kinds[k].name, i);
            csv_num(&b, t->accuracy), csv_num(&b, t->f1), csv_num(&b, t->matthews);
            csv_num(&b, t->pearson), csv_num(&b, t->spearman);
            tb(&b, ",%ld,%ld,%ld,%ld,%d\n", t->value_faults, t->mask_faults, t->changed_codes,
               t->changed_rows, t->reevaluated);
        }
    return b.p;
}

static char *summary_csv(const eb_fault_study *S) {
    tbuf b = {0};
    tb(&b,
       "cells,bits_per_cell,fault_rate,mask_fault_rate,mean_accuracy,min_accuracy,max_accuracy,std_"
       "accuracy,"
       "mean_metric,min_metric,area_mm2_per_mb,read_latency_ns,mean_value_faults,mean_mask_faults,"
       "mean_changed_rows,trials\n");
    for (int k = 0; k < S->n_kinds; k++) {
        const eb_fault_summary *u = &S->summary[k];
        eb_cell_kind c = S->kinds[k].cell;
        tb(&b, "%s,%d", S->kinds[k].name, S->kinds[k].table.bits);
        csv_num(&b, u->fault_rate), csv_num(&b, u->mask_fault_rate);
        csv_num(&b, u->mean_accuracy), csv_num(&b, u->min_accuracy), csv_num(&b, u->max_accuracy);
        csv_num(&b, u->std_accuracy), csv_num(&b, u->mean_metric), csv_num(&b, u->min_metric);
        csv_num(&b, c ? eb_reram_area_mm2_per_mb(c) : NAN),
            csv_num(&b, c ? eb_reram_read_latency_ns(c) : NAN);
        csv_num(&b, u->mean_value_faults), csv_num(&b, u->mean_mask_faults),
            csv_num(&b, u->mean_changed_rows);
        tb(&b, ",%d\n", u->trials_done);
    }
    return b.p;
}

static void xml_text(tbuf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '<')
            tb(b, "&lt;");
        else if (*s == '>')
            tb(b, "&gt;");
        else if (*s == '&')
            tb(b, "&amp;");
        else if (*s == '"')
            tb(b, "&quot;");
        else
            tb(b, "%c", *s);
    }
}

/* One column per kind: every trial's score as a dot (spread sideways by a
 * fixed sequence), the mean as a bar, the minimum as a red tick and the
 * fault-free score as a dashed line across the plot. */
static char *plot_svg(const eb_fault_study *S) {
    const double Wd = 160.0 * S->n_kinds + 120, Ht = 400, L = 80, R = 20, T = 50, B = 80;
    double lo = INFINITY, hi = -INFINITY, clean;
    int use_acc = S->task->num_labels > 1;
    clean = use_acc ? S->clean.accuracy : S->clean.pearson;
    double scale = use_acc ? 100 : 1;
    for (size_t j = 0; j < (size_t)S->n_kinds * S->trials; j++) {
        if (!S->done[j]) continue;
        double v = use_acc ? S->trial[j].accuracy : S->trial[j].pearson;
        if (isfinite(v)) lo = fmin(lo, v), hi = fmax(hi, v);
    }
    if (isfinite(clean)) lo = fmin(lo, clean), hi = fmax(hi, clean);
    if (!isfinite(lo)) lo = 0, hi = 1;
    lo *= scale, hi *= scale;
    double pad = fmax((hi - lo) * 0.08, 0.05 * (use_acc ? 1 : 0.01));
    lo -= pad, hi += pad;
    double pw = Wd - L - R, ph = Ht - T - B, colw = pw / S->n_kinds;
#define YP(v) (T + ph * (1 - ((v)*scale - lo) / (hi - lo)))
    tbuf b = {0};
    tb(&b,
       "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
       "font-family=\"sans-serif\" font-size=\"12\">\n",
       Wd, Ht);
    tb(&b, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    tb(&b,
       "<text x=\"%.1f\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">ReRAM word-embedding "
       "storage: %s %s over %d trials per kind</text>\n",
       Wd / 2, S->task->display, use_acc ? "accuracy" : "Pearson", S->trials);
    /* axes and grid */
    tb(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", L, T, L,
       T + ph);
    tb(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", L, T + ph,
       L + pw, T + ph);
    double step = pow(10, floor(log10((hi - lo) / 4)));
    if ((hi - lo) / step > 10) step *= 2;
    if ((hi - lo) / step > 10) step *= 2.5;
    for (double y = ceil(lo / step) * step; y <= hi + 1e-9; y += step) {
        double py = T + ph * (1 - (y - lo) / (hi - lo));
        tb(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, py,
           L + pw, py);
        tb(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>\n", L - 6, py + 4,
           step < 0.1 ? 3
           : step < 1 ? 2
                      : 1,
           y);
    }
    tb(&b, "<text transform=\"translate(18,%.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
       T + ph / 2, use_acc ? "accuracy (%)" : "Pearson correlation");
    if (isfinite(clean)) {
        tb(&b,
           "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" "
           "stroke-dasharray=\"6,4\"/>\n",
           L, YP(clean), L + pw, YP(clean));
        tb(&b, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#555\">fault-free</text>\n", L + 4,
           YP(clean) - 5);
    }
    static const char *colors[] = {"#4e79a7", "#f28e2b", "#59a14f",
                                   "#b07aa1", "#76b7b2", "#edc948"};
    for (int k = 0; k < S->n_kinds; k++) {
        double cx = L + colw * (k + 0.5);
        const char *col = colors[k % 6];
        char nm[64];
        tb(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">", cx,
           T + ph + 20);
        xml_text(&b, display_name(&S->kinds[k], nm, sizeof nm));
        tb(&b,
           "</text>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\">%d "
           "bit%s/cell, p=%.1e</text>\n",
           cx, T + ph + 38, S->kinds[k].table.bits, S->kinds[k].table.bits == 1 ? "" : "s",
           S->summary[k].fault_rate);
        for (int i = 0; i < S->trials; i++) {
            size_t j = (size_t)k * S->trials + i;
            if (!S->done[j]) continue;
            double v = use_acc ? S->trial[j].accuracy : S->trial[j].pearson;
            if (!isfinite(v)) continue;
            double jit = fmod(i * 0.6180339887498949, 1.0) - 0.5;
            tb(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\" fill-opacity=\"0.55\"/>\n",
               cx + jit * colw * 0.5, YP(v), col);
        }
        const eb_fault_summary *u = &S->summary[k];
        double mean = use_acc ? u->mean_accuracy : u->mean_metric,
               mn = use_acc ? u->min_accuracy : u->min_metric;
        if (isfinite(mean))
            tb(&b,
               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\" "
               "stroke-width=\"2.5\"><title>mean %.4g</title></line>\n",
               cx - colw * 0.35, YP(mean), cx + colw * 0.35, YP(mean), mean * scale);
        if (isfinite(mn))
            tb(&b,
               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e15759\" "
               "stroke-width=\"2.5\"><title>min %.4g</title></line>\n",
               cx - colw * 0.2, YP(mn), cx + colw * 0.2, YP(mn), mn * scale);
    }
    tb(&b,
       "<text x=\"%.1f\" y=\"%.1f\" fill=\"#555\">dots: trials; black bar: mean; red bar: "
       "minimum</text>\n",
       L, Ht - 8);
    tb(&b, "</svg>\n");
#undef YP
    return b.p;
}

/* ---- main --------------------------------------------------------- */

int eb_cmd_faults(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *task = NULL, *out = "faults-out";
    int json = 0, have_cells = 0, n_kinds = 0, levels_given = 0;
    eb_fault_kind kinds[MAX_KINDS];
    eb_fault_study_params p = eb_fault_study_params_default();
    p.seed = 1;
    const char *cells = "slc,mlc2,mlc3";
    const char *layout = NULL, *cells_opt = NULL;
    levels_list lv = {.n = 0};
    int resume = 0, no_reuse = 0;
    eb_opt rows[] = {
        {"-m|--model", EB_OPT_STR, &model, 0, 0, 0, "BUNDLE",
         "the bundle (default as for classify)", NULL},
        {"--data", EB_OPT_STR, &data, 0, 0, 0, "DEV.tsv", "a labeled GLUE dev file", NULL},
        {"--task", EB_OPT_STR, &task, 0, 0, 0, "NAME",
         "the bundle task (and the data layout, unless --layout)", NULL},
        {"--layout", EB_OPT_STR, &layout, 0, 0, 0, "GLUE_TASK",
         "the data's layout when the bundle task is named otherwise", NULL},
        {"--model-task", EB_OPT_STR, &p.run.task, 0, 0, EB_OPT_HIDDEN, "NAME", NULL, NULL},
        {"--cells", EB_OPT_STR, &cells_opt, 0, 0, 0, "LIST",
         "built-in kinds (default slc,mlc2,mlc3)", NULL},
        {"--levels", EB_OPT_FN, &lv, 0, 0, 0, "FILE",
         "adds a kind from a level table (one 'mean sigma' line per level,\n"
         "lowest first; named after the file; repeatable)",
         levels_fn},
        {"--trials", EB_OPT_INT, &p.trials, 1, 1000000, 0, "N", "trials per kind, 1..1000000",
         NULL},
        {"--seed", EB_OPT_FN, &p.seed, 0, 0, 0, "S", "the study's random seed (default 1)",
         seed_fn},
        {"--mask-cells", EB_OPT_FN, &p.mask, 0, 0, 0, "slc|same",
         "where the bitmask lives: slc (default, as the paper) or the values' kind", mask_fn},
        {"--mode", EB_OPT_FN, &p.mode, 0, 0, 0, "count|bernoulli",
         "the injector (default count, the paper's)", mode_fn},
        {"--out", EB_OPT_STR, &out, 0, 0, 0, "DIR",
         "faults.csv (per trial), faults_summary.csv, faults.json, faults.svg\n"
         "and the checkpoint faults.ckpt (default faults-out)",
         NULL},
        {"--resume", EB_OPT_FLAG, &resume, 0, 0, 0, NULL, "continue a stopped study", NULL},
        {"--threads", EB_OPT_INT, &p.threads, 0, EB_CLI_MAX_THREADS, 0, "N",
         "trials run side by side (default 0: every core)", NULL},
        {"--limit", EB_OPT_INT, &p.limit, 1, EB_OPT_INF, 0, "N",
         "only the first N examples (N >= 1)", NULL},
        {"--policy", EB_OPT_FN, &p.run.policy, 0, 0, 0, eb_cli_policy_meta(), "default base (every layer)",
         eb_cli_policy_opt},
        {"--threshold", EB_OPT_FLOAT, &p.run.threshold, 0, EB_OPT_INF, EB_OPT_MODEL, "T|model",
         "ee/lai: exit threshold in [0, ln C] (default: the model's own)", NULL},
        {"--max-len", EB_OPT_INT, &p.run.max_tokens, 1, EB_MAX_TOKENS, 0, "N",
         "cut the input to N tokens (default: the model's positions)", NULL},
        {"--no-reuse", EB_OPT_FLAG, &no_reuse, 0, 0, 0, NULL,
         "re-run every example in every trial (default: examples whose\n"
         "tokens' embeddings did not change keep the fault-free answer;\n"
         "same results, faster)",
         NULL},
        {"--json", EB_OPT_FLAG, &json, 0, 0, 0, NULL, "one JSON object on stdout", NULL},
    };
    eb_opt_spec spec = {.cmd = "faults",
                        .synopsis = "[-m BUNDLE] --task T --data DEV.tsv [options]",
                        .intro = INTRO,
                        .opts = rows,
                        .nopts = EB_OPT_COUNT(rows)};
    int prc = eb_opt_parse(&spec, argc, argv);
    if (prc >= 0) return prc;
    if (resume) p.resume = 1;
    if (no_reuse) p.reuse_clean = 0;
    if (cells_opt) cells = cells_opt, have_cells = 1;
    const char **levels = lv.v;
    levels_given = lv.n;
    if (!data || !task) {
        fprintf(stderr, "edgebert faults: --data and --task are required\n");
        eb_opt_usage(&spec, stderr);
        return 2;
    }
    if (layout) { /* --task then names the bundle task only */
        if (!p.run.task) p.run.task = task;
        task = layout;
    }
    if (have_cells || !levels_given)
        if (!parse_cells(cells, kinds, &n_kinds)) return 2;
    for (int i = 0; i < levels_given; i++)
        if (!load_levels(levels[i], kinds, &n_kinds)) return 2;
    p.kinds = kinds;
    p.n_kinds = n_kinds;
    eb_error err = {0};
    const eb_task_info *ti;
    if (eb_task_lookup(task, &ti, &err) != EB_OK) {
        fprintf(stderr, "edgebert faults: %s\n", err.msg);
        return 2;
    }
    if (mkdir(out, 0777) && errno != EEXIST) {
        fprintf(stderr, "edgebert faults: cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }
    char ckpt[4096];
    snprintf(ckpt, sizeof ckpt, "%s/faults.ckpt", out);
    p.checkpoint = ckpt;
    eb_model *m = eb_cli_load_model("faults", model);
    if (!m) return 1;
    char mbuf[4096];
    const char *mpath = eb_cli_model_path(model, mbuf, sizeof mbuf);
    eb_dataset *ds = NULL;
    eb_fault_study *S = NULL;
    int rc = 1;
    if (eb_dataset_load(data, task, NULL, &ds, &err) != EB_OK) {
        fprintf(stderr, "edgebert faults: %s\n", err.msg);
        goto done;
    }
    if (!p.run.task) { /* a bundle task named like the data task, else the only task */
        if (eb_model_task_config(m, ti->name))
            p.run.task = ti->name;
        else if (eb_model_num_tasks(m) > 1) {
            fprintf(stderr,
                    "edgebert faults: the bundle has no task '%s'; name one with --task and the "
                    "data's layout with --layout\n",
                    ti->name);
            goto done;
        }
    }
    if (!eb_cli_check_threshold("faults", m, &p.run)) {
        rc = 2;
        goto done;
    }
    /* per-boundary probabilities of every kind */
    for (int k = 0; k < n_kinds; k++) {
        eb_reram_model rm;
        if (eb_reram_model_init(&rm, &kinds[k].table, &err) != EB_OK) {
            fprintf(stderr, "edgebert faults: %s: %s\n", kinds[k].name, err.msg);
            goto done;
        }
        char desc[4096], nm[64];
        eb_reram_describe(&rm, desc, sizeof desc);
        if (!json) printf("%s: %s", display_name(&kinds[k], nm, sizeof nm), desc);
    }
    progress pr = {isatty(2), 0};
    p.progress = on_progress;
    p.progress_ud = &pr;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* the trials are the parallelism: BLAS threads on top only contend */
    openblas_set_num_threads(1);
    if (eb_fault_study_run(m, ds, NULL, &p, &S, &err) != EB_OK) {
        fprintf(stderr, "edgebert faults: %s\n", err.msg);
        goto done;
    }
    if (!S->complete) {
        int done_n = 0;
        for (int k = 0; k < S->n_kinds; k++)
            done_n += S->summary[k].trials_done;
        fprintf(
            stderr,
            "edgebert faults: stopped after %d of %d trials; the checkpoint is %s: run the same "
            "command with --resume to continue\n",
            done_n, S->n_kinds * S->trials, ckpt);
        rc = 1;
        goto done;
    }
    if (S->resumed) fprintf(stderr, "edgebert faults: %d trials came from %s\n", S->resumed, ckpt);
    cJSON *o = study_json(S, &p, mpath, data);
    char *js = cJSON_Print(o);
    char *csv = trials_csv(S), *sum = summary_csv(S), *svg = plot_svg(S);
    int ok = js && csv && sum && svg && write_str(out, "faults.json", js) &&
             write_str(out, "faults.csv", csv) && write_str(out, "faults_summary.csv", sum) &&
             write_str(out, "faults.svg", svg);
    if (ok && !json) {
        print_table(S, &p, data);
        printf("\nfiles: %s/faults.csv, faults_summary.csv, faults.json, faults.svg (checkpoint "
               "faults.ckpt)\n",
               out);
        if (isfinite(S->trial_seconds))
            printf("time: %.1f s with %d thread%s, %.2f s per trial on one thread\n", S->seconds,
                   S->threads, S->threads == 1 ? "" : "s", S->trial_seconds);
    } else if (ok) {
        char *line = cJSON_PrintUnformatted(o);
        if (line) printf("%s\n", line);
        free(line);
    }
    cJSON_Delete(o);
    free(js), free(csv), free(sum), free(svg);
    rc = ok ? 0 : 1;
done:
    eb_fault_study_free(S);
    eb_dataset_free(ds);
    eb_model_free(m);
    return rc;
}
