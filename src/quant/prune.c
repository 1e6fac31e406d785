/* prune.c - magnitude pruning (top fraction of |W| per matrix, or zeroing
 * below a percentile of |W|) and the pruning schedules. */
#include "quant/prune.h"

#include <math.h>
#include <stdlib.h>

#include "util/util.h"

typedef struct mag_idx {
    float a;
    uint32_t i;
} mag_idx;

/* Larger magnitude first; on equal magnitudes the lower index first. */
static int cmp_desc(const void *pa, const void *pb) {
    const mag_idx *a = pa, *b = pb;
    if (a->a != b->a) return a->a > b->a ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static eb_status check_finite(const float *w, size_t n, const char *what, eb_error *err) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(w[i]))
            return eb_fail(err, EB_ERR_NUMERIC, "%s: entry %zu is not finite", what, i);
    return EB_OK;
}

eb_status eb_prune_magnitude(float *w, size_t n, double keep_frac, const eb_allocator *alloc,
                             size_t *kept, eb_error *err) {
    if (!(keep_frac >= 0 && keep_frac <= 1))
        return eb_fail(err, EB_ERR_ARG, "prune: keep fraction %g outside 0..1", keep_frac);
    if (n > UINT32_MAX) return eb_fail(err, EB_ERR_ARG, "prune: tensor of %zu entries", n);
    eb_status st = check_finite(w, n, "prune", err);
    if (st) return st;
    size_t k = (size_t)llround(keep_frac * (double)n);
    if (k > n) k = n;
    if (kept) *kept = k;
    if (k == n) return EB_OK;
    mag_idx *v = eb_calloc(alloc, n, sizeof *v);
    if (!v) return eb_fail(err, EB_ERR_NOMEM, "prune: out of memory for %zu entries", n);
    for (size_t i = 0; i < n; i++)
        v[i].a = fabsf(w[i]), v[i].i = (uint32_t)i;
    qsort(v, n, sizeof *v, cmp_desc);
    for (size_t r = k; r < n; r++)
        w[v[r].i] = 0.0f;
    eb_free(alloc, v);
    return EB_OK;
}

static int cmp_float(const void *pa, const void *pb) {
    float a = *(const float *)pa, b = *(const float *)pb;
    return (a > b) - (a < b);
}

eb_status eb_abs_percentile(const float *w, size_t n, double p, const eb_allocator *alloc,
                            float *out, eb_error *err) {
    if (!(p >= 0 && p <= 100)) return eb_fail(err, EB_ERR_ARG, "percentile: %g outside 0..100", p);
    if (n == 0) return eb_fail(err, EB_ERR_ARG, "percentile: empty tensor");
    eb_status st = check_finite(w, n, "percentile", err);
    if (st) return st;
    float *a = eb_malloc(alloc, n * sizeof(float));
    if (!a) return eb_fail(err, EB_ERR_NOMEM, "percentile: out of memory for %zu entries", n);
    for (size_t i = 0; i < n; i++)
        a[i] = fabsf(w[i]);
    qsort(a, n, sizeof(float), cmp_float);
    double pos = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
    double frac = pos - (double)lo;
    *out = (float)((double)a[lo] + ((double)a[hi] - (double)a[lo]) * frac);
    eb_free(alloc, a);
    return EB_OK;
}

eb_status eb_prune_percentile(float *w, size_t n, double p, const eb_allocator *alloc,
                              size_t *zeroed, eb_error *err) {
    float thr = 0;
    size_t z = 0;
    if (n) {
        eb_status st = eb_abs_percentile(w, n, p, alloc, &thr, err);
        if (st) return st;
    }
    for (size_t i = 0; i < n; i++) {
        if (fabsf(w[i]) < thr) w[i] = 0.0f;
        z += w[i] == 0.0f;
    }
    if (zeroed) *zeroed = z;
    return EB_OK;
}

double eb_prune_cubic_kept(long step, long total_steps, long warmup_steps, double t0, double tf,
                           double iw, double fw) {
    double s = (double)step, T = (double)total_steps, ws = (double)warmup_steps;
    if (s <= iw * ws) return t0;
    if (s > T - fw * ws) return tf;
    double span = T - (iw + fw) * ws;
    if (!(span > 0)) return tf;
    double r = 1.0 - (s - iw * ws) / span;
    return tf + (t0 - tf) * r * r * r;
}

double eb_prune_embedding_percentile(int epoch, int n_epochs, double p_final, double start_frac,
                                     double end_frac) {
    if (n_epochs <= 0) return 0;
    double f = (double)(epoch + 1) / (double)n_epochs;
    if (f <= start_frac) return 0;
    if (f >= end_frac || end_frac <= start_frac) return p_final;
    return p_final * (f - start_frac) / (end_frac - start_frac);
}
