/* cell.c - ReRAM level tables, sense thresholds and read-error
 * probabilities. */
#include "reram/reram.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* Per-level read distributions of 28 nm ReRAM programmed at 1, 2 and 3 bits
 * per cell (normalised mean, sigma), the characterisation behind the paper's
 * Table 2. */
static const eb_reram_table k_tables[3] = {
    {1, 2, {{0, 0.008646}, {1, 0.0034}}},
    {2, 4, {{0, 0.008646}, {0.384644, 0.033511}, {0.721657, 0.027417}, {1, 0.0034}}},
    {3,
     8,
     {{0, 0.008646},
      {0.078262, 0.013458},
      {0.20382, 0.030416},
      {0.384644, 0.033511},
      {0.54212, 0.024829},
      {0.721657, 0.027417},
      {0.886116, 0.037191},
      {1, 0.0034}}},
};

static const double k_area[3] = {0.28, 0.08, 0.04};    /* mm^2 / MB */
static const double k_latency[3] = {1.21, 1.54, 2.96}; /* ns */

static int kind_ok(eb_cell_kind k) {
    return k >= EB_CELL_SLC && k <= EB_CELL_MLC3;
}

const char *eb_cell_kind_name(eb_cell_kind k) {
    static const char *const names[3] = {"slc", "mlc2", "mlc3"};
    return kind_ok(k) ? names[k - 1] : NULL;
}

eb_status eb_cell_kind_parse(const char *s, eb_cell_kind *out, eb_error *err) {
    char low[8];
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= sizeof low) goto bad;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    if (!strcmp(low, "slc") || !strcmp(low, "1"))
        *out = EB_CELL_SLC;
    else if (!strcmp(low, "mlc2") || !strcmp(low, "2"))
        *out = EB_CELL_MLC2;
    else if (!strcmp(low, "mlc3") || !strcmp(low, "3"))
        *out = EB_CELL_MLC3;
    else
        goto bad;
    return EB_OK;
bad:
    return eb_fail(err, EB_ERR_ARG, "reram: unknown cell kind '%s' (slc, mlc2, mlc3)",
                   s ? s : "(null)");
}

const eb_reram_table *eb_reram_default_table(eb_cell_kind k) {
    return kind_ok(k) ? &k_tables[k - 1] : NULL;
}

double eb_reram_area_mm2_per_mb(eb_cell_kind k) {
    return kind_ok(k) ? k_area[k - 1] : NAN;
}

double eb_reram_read_latency_ns(eb_cell_kind k) {
    return kind_ok(k) ? k_latency[k - 1] : NAN;
}

static eb_status check_table(const eb_reram_table *t, const char *name, eb_error *err) {
    if (t->bits < 1 || t->bits > EB_RERAM_MAX_BITS || t->n_levels != 1 << t->bits)
        return eb_fail(err, EB_ERR_FORMAT, "%s: %d levels (need 2, 4, 8 or 16)", name, t->n_levels);
    for (int j = 0; j < t->n_levels; j++) {
        const eb_reram_level *l = &t->level[j];
        if (!isfinite(l->mean) || !isfinite(l->sigma) || !(l->sigma > 0))
            return eb_fail(err, EB_ERR_FORMAT, "%s: level %d has mean %g sigma %g", name, j,
                           l->mean, l->sigma);
        if (j && !(l->mean > t->level[j - 1].mean))
            return eb_fail(err, EB_ERR_FORMAT, "%s: level means must increase (level %d)", name, j);
    }
    return EB_OK;
}

eb_status eb_reram_table_parse(const char *text, size_t len, const char *name, eb_reram_table *out,
                               eb_error *err) {
    if (!name) name = "reram table";
    memset(out, 0, sizeof *out);
    int n = 0, line_no = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        line_no++;
        char line[256];
        size_t ll = end - pos;
        if (ll >= sizeof line)
            return eb_fail(err, EB_ERR_FORMAT, "%s:%d: line too long", name, line_no);
        memcpy(line, text + pos, ll);
        line[ll] = 0;
        pos = end + 1;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        for (char *c = line; *c; c++)
            if (*c == ',' || *c == '\r' || *c == '\t') *c = ' ';
        char *p = line;
        while (*p == ' ')
            p++;
        if (!*p) continue;
        char *e1, *e2;
        double mean = strtod(p, &e1);
        if (e1 == p) goto bad;
        double sigma = strtod(e1, &e2);
        if (e2 == e1) goto bad;
        while (*e2 == ' ')
            e2++;
        if (*e2) goto bad;
        if (n >= EB_RERAM_MAX_LEVELS)
            return eb_fail(err, EB_ERR_FORMAT, "%s:%d: more than %d levels", name, line_no,
                           EB_RERAM_MAX_LEVELS);
        out->level[n].mean = mean;
        out->level[n].sigma = sigma;
        n++;
        continue;
    bad:
        return eb_fail(err, EB_ERR_FORMAT, "%s:%d: expected 'mean sigma'", name, line_no);
    }
    out->n_levels = n;
    out->bits = 0;
    while (out->bits < EB_RERAM_MAX_BITS && (1 << out->bits) < n)
        out->bits++;
    return check_table(out, name, err);
}

eb_status eb_reram_table_load(const char *path, const eb_allocator *alloc, eb_reram_table *out,
                              eb_error *err) {
    char *data = NULL;
    size_t size = 0;
    eb_status st = eb_read_file(path, alloc, 1 << 20, &data, &size, err);
    if (st) return st;
    st = eb_reram_table_parse(data, size, path, out, err);
    eb_free(alloc, data);
    return st;
}

double eb_reram_normal_sf(double z) {
    return 0.5 * erfc(z / sqrt(2.0));
}

double eb_reram_normal_cdf(double z) {
    return 0.5 * erfc(-z / sqrt(2.0));
}

eb_status eb_reram_threshold(const eb_reram_level *lo, const eb_reram_level *hi, double *out,
                             eb_error *err) {
    double m1 = lo->mean, s1 = lo->sigma, m2 = hi->mean, s2 = hi->sigma;
    if (!(m1 < m2) || !(s1 > 0) || !(s2 > 0))
        return eb_fail(err, EB_ERR_ARG, "reram: levels (%g, %g) and (%g, %g) are not ordered", m1,
                       s1, m2, s2);
    /* ln pdf1(x) = ln pdf2(x)  <=>  a x^2 + b x + c = 0 */
    double i1 = 1.0 / (s1 * s1), i2 = 1.0 / (s2 * s2);
    double a = 0.5 * (i1 - i2), b = m2 * i2 - m1 * i1;
    double c = 0.5 * (m1 * m1 * i1 - m2 * m2 * i2) + log(s1 / s2);
    double roots[2];
    int nr = 0;
    if (fabs(a) <= 1e-12 * (i1 + i2)) { /* equal sigmas: the midpoint */
        if (b != 0) roots[nr++] = -c / b;
    } else {
        double disc = b * b - 4 * a * c;
        if (disc >= 0) {
            double q = -0.5 * (b + copysign(sqrt(disc), b));
            roots[nr++] = q / a;
            if (q != 0) roots[nr++] = c / q;
        }
    }
    for (int i = 0; i < nr; i++) {
        if (roots[i] >= m1 && roots[i] <= m2) {
            *out = roots[i];
            return EB_OK;
        }
    }
    return eb_fail(err, EB_ERR_ARG,
                   "reram: the densities of levels (%g, %g) and (%g, %g) do not cross between "
                   "their means",
                   m1, s1, m2, s2);
}

eb_status eb_reram_model_init(eb_reram_model *m, const eb_reram_table *t, eb_error *err) {
    eb_status st = check_table(t, "reram table", err);
    if (st) return st;
    memset(m, 0, sizeof *m);
    m->table = *t;
    for (int j = 0; j + 1 < t->n_levels; j++) {
        const eb_reram_level *lo = &t->level[j], *hi = &t->level[j + 1];
        if ((st = eb_reram_threshold(lo, hi, &m->threshold[j], err))) return st;
        m->p_up[j] = eb_reram_normal_sf((m->threshold[j] - lo->mean) / lo->sigma);
        m->p_down[j + 1] = eb_reram_normal_cdf((m->threshold[j] - hi->mean) / hi->sigma);
    }
    return EB_OK;
}

double eb_reram_fault_rate(const eb_reram_model *m) {
    double s = 0;
    for (int j = 0; j < m->table.n_levels; j++)
        s += m->p_up[j] + m->p_down[j];
    return m->table.n_levels ? s / m->table.n_levels : 0;
}

int eb_reram_describe(const eb_reram_model *m, char *buf, size_t cap) {
    size_t used = 0;
    int total = 0;
#define EB_APPEND(...)                                                                             \
    do {                                                                                           \
        int w_ =                                                                                   \
            snprintf(buf ? buf + used : NULL, buf && used < cap ? cap - used : 0, __VA_ARGS__);    \
        if (w_ > 0) {                                                                              \
            total += w_;                                                                           \
            used = EB_MIN(cap, used + (size_t)w_);                                                 \
        }                                                                                          \
    } while (0)
    EB_APPEND("%d bits per cell, %d levels, mean fault rate per cell %.3e\n", m->table.bits,
              m->table.n_levels, eb_reram_fault_rate(m));
    EB_APPEND("boundary  threshold   P(lower->upper)  P(upper->lower)\n");
    for (int j = 0; j + 1 < m->table.n_levels; j++)
        EB_APPEND("%2d|%-2d     %.6f    %.3e        %.3e\n", j, j + 1, m->threshold[j], m->p_up[j],
                  m->p_down[j + 1]);
#undef EB_APPEND
    return total;
}
