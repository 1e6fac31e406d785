/* metrics.c - the metrics GLUE reports, computed as scikit-learn and scipy
 * do: accuracy, F1 of the positive class, Matthews correlation, Pearson
 * and Spearman (average ranks for ties), plus the exit-layer histogram. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "util/util.h"

double eb_metric_accuracy(const int *pred, const int *gold, int n) {
    long used = 0, right = 0;
    for (int i = 0; i < n; i++) {
        if (gold[i] < 0) continue;
        used++;
        right += pred[i] == gold[i];
    }
    return used ? (double)right / (double)used : NAN;
}

double eb_metric_f1(const int *pred, const int *gold, int n, int positive) {
    long tp = 0, fp = 0, fn = 0;
    for (int i = 0; i < n; i++) {
        if (gold[i] < 0) continue;
        int p = pred[i] == positive, g = gold[i] == positive;
        tp += p && g;
        fp += p && !g;
        fn += !p && g;
    }
    long den = 2 * tp + fp + fn;
    return den ? 2.0 * (double)tp / (double)den : 0.0;
}

double eb_metric_matthews(const int *pred, const int *gold, int n, int num_classes) {
    if (num_classes < 2 || num_classes > EB_MAX_LABELS) return NAN;
    /* Class num_classes collects predictions outside 0..num_classes-1. */
    double t[EB_MAX_LABELS + 1] = {0}, p[EB_MAX_LABELS + 1] = {0};
    double s = 0, c = 0;
    for (int i = 0; i < n; i++) {
        if (gold[i] < 0) continue;
        int g = gold[i] < num_classes ? gold[i] : num_classes;
        int q = pred[i] >= 0 && pred[i] < num_classes ? pred[i] : num_classes;
        t[g] += 1;
        p[q] += 1;
        c += g == q && g < num_classes;
        s += 1;
    }
    double tp = 0, pp = 0, tt = 0;
    for (int k = 0; k <= num_classes; k++) {
        tp += t[k] * p[k];
        pp += p[k] * p[k];
        tt += t[k] * t[k];
    }
    double cov_tp = c * s - tp, cov_pp = s * s - pp, cov_tt = s * s - tt;
    if (cov_pp == 0 || cov_tt == 0) return 0.0;
    return cov_tp / sqrt(cov_tt * cov_pp);
}

/* Pearson of the pairs (x[i], y[i]) of double arrays, two passes. */
static double pearson_d(const double *x, const double *y, size_t n) {
    if (n < 2) return NAN;
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++)
        mx += x[i], my += y[i];
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (sxx == 0 || syy == 0) return NAN;
    double r = sxy / sqrt(sxx * syy);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

double eb_metric_pearson(const float *x, const float *y, int n) {
    /* Streaming form with a shift to stay exact enough without memory. */
    size_t m = 0;
    double x0 = 0, y0 = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(x[i]) || isnan(y[i])) continue;
        if (m == 0) x0 = x[i], y0 = y[i];
        double dx = (double)x[i] - x0, dy = (double)y[i] - y0;
        sx += dx, sy += dy, sxx += dx * dx, syy += dy * dy, sxy += dx * dy;
        m++;
    }
    if (m < 2) return NAN;
    double k = (double)m;
    double cxy = sxy - sx * sy / k, cxx = sxx - sx * sx / k, cyy = syy - sy * sy / k;
    if (cxx <= 0 || cyy <= 0) return NAN;
    double r = cxy / sqrt(cxx * cyy);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

typedef struct keyed {
    double v;
    size_t i;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
    const keyed *p = a, *q = b;
    if (p->v < q->v) return -1;
    if (p->v > q->v) return 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

/* Average ranks (1-based) of v[0..n) into rank; k is scratch [n]. */
static void average_ranks(const double *v, size_t n, keyed *k, double *rank) {
    for (size_t i = 0; i < n; i++)
        k[i] = (keyed){v[i], i};
    qsort(k, n, sizeof *k, cmp_keyed);
    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        while (b < n && k[b].v == k[a].v)
            b++;
        double r = 0.5 * (double)(a + 1 + b); /* mean of ranks a+1 .. b */
        for (size_t j = a; j < b; j++)
            rank[k[j].i] = r;
        a = b;
    }
}

eb_status eb_metric_spearman(const float *x, const float *y, int n, const eb_allocator *alloc,
                             double *out, eb_error *err) {
    if (!out || n < 0 || (n && (!x || !y)))
        return eb_fail(err, EB_ERR_ARG, "spearman: bad arguments");
    *out = NAN;
    size_t cap = n ? (size_t)n : 1;
    double *buf = eb_calloc(alloc, cap, 4 * sizeof(double));
    keyed *k = eb_calloc(alloc, cap, sizeof *k);
    if (!buf || !k) {
        eb_free(alloc, buf);
        eb_free(alloc, k);
        return eb_fail(err, EB_ERR_NOMEM, "spearman: no memory for %d pairs", n);
    }
    double *vx = buf, *vy = buf + cap, *rx = buf + 2 * cap, *ry = buf + 3 * cap;
    size_t m = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(x[i]) || isnan(y[i])) continue;
        vx[m] = x[i];
        vy[m] = y[i];
        m++;
    }
    average_ranks(vx, m, k, rx);
    average_ranks(vy, m, k, ry);
    *out = pearson_d(rx, ry, m);
    eb_free(alloc, buf);
    eb_free(alloc, k);
    return EB_OK;
}

eb_status eb_glue_score(const eb_dataset *ds, const int *pred, const float *pred_score,
                        eb_glue_scores *out, eb_error *err) {
    if (!ds || !out) return eb_fail(err, EB_ERR_ARG, "glue score: no data set or output");
    *out = (eb_glue_scores){0, NAN, NAN, NAN, NAN, NAN};
    if (!ds->labeled)
        return eb_fail(err, EB_ERR_ARG, "glue score: the %s data set has no labels",
                       ds->task->display);
    const eb_task_info *t = ds->task;
    int n = ds->n;
    size_t cap = n ? (size_t)n : 1;
    const eb_allocator *a = &ds->alloc;
    if (t->num_labels == 1) {
        if (!pred_score) return eb_fail(err, EB_ERR_ARG, "glue score: STS-B needs pred_score");
        float *gold = eb_calloc(a, cap, sizeof *gold);
        if (!gold) return eb_fail(err, EB_ERR_NOMEM, "glue score: no memory");
        for (int i = 0; i < n; i++)
            gold[i] = ds->rows[i].score;
        out->n = n;
        out->pearson = eb_metric_pearson(pred_score, gold, n);
        eb_status s = eb_metric_spearman(pred_score, gold, n, a, &out->spearman, err);
        eb_free(a, gold);
        return s;
    }
    if (!pred) return eb_fail(err, EB_ERR_ARG, "glue score: %s needs pred", t->display);
    int *gold = eb_calloc(a, cap, sizeof *gold);
    if (!gold) return eb_fail(err, EB_ERR_NOMEM, "glue score: no memory");
    int used = 0;
    for (int i = 0; i < n; i++) {
        gold[i] = ds->rows[i].label;
        used += gold[i] >= 0;
    }
    out->n = used;
    out->accuracy = eb_metric_accuracy(pred, gold, n);
    if (t->has_f1) out->f1 = eb_metric_f1(pred, gold, n, 1);
    if (t->has_matthews) out->matthews = eb_metric_matthews(pred, gold, n, t->num_labels);
    eb_free(a, gold);
    return EB_OK;
}

eb_status eb_exit_histogram(const int *exit_layers, int n, int num_layers, long *hist, double *mean,
                            eb_error *err) {
    if (mean) *mean = NAN;
    if (!hist || num_layers < 1 || n < 0 || (n && !exit_layers))
        return eb_fail(err, EB_ERR_ARG, "exit histogram: bad arguments");
    memset(hist, 0, sizeof *hist * (size_t)num_layers);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        int l = exit_layers[i];
        if (l < 1 || l > num_layers)
            return eb_fail(err, EB_ERR_ARG,
                           "exit histogram: exit layer %d of item %d is outside 1..%d", l, i,
                           num_layers);
        hist[l - 1]++;
        sum += l;
    }
    if (mean && n) *mean = sum / n;
    return EB_OK;
}
