/* trace.c - readers for recorded entropy traces and exit-predictor tables,
 * and the predictor lookup.  Both are comma-separated numbers, one row a
 * line; every problem is reported as "FILE:LINE: what". */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "edgebert/runtime.h"
#include "util/util.h"

#define MAX_COLS 4096
#define MAX_ROWS 10000000

/* Parse one line of comma-separated numbers into vals (cap entries).
 * Returns the count, or -1 with err filled. */
static int parse_row(const char *s, size_t n, double *vals, int cap, const char *name, int lineno,
                     eb_error *err) {
    char buf[64];
    int count = 0;
    size_t i = 0;
    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        size_t st = i;
        while (i < n && s[i] != ',')
            i++;
        size_t en = i;
        while (en > st && (s[en - 1] == ' ' || s[en - 1] == '\t'))
            en--;
        if (en == st) {
            eb_fail(err, EB_ERR_FORMAT, "%.200s:%d: empty field %d", name, lineno, count + 1);
            return -1;
        }
        if (en - st >= sizeof buf) {
            eb_fail(err, EB_ERR_FORMAT, "%.200s:%d: field %d is too long", name, lineno, count + 1);
            return -1;
        }
        memcpy(buf, s + st, en - st);
        buf[en - st] = 0;
        char *end;
        errno = 0;
        double v = strtod(buf, &end);
        if (end == buf || *end || !isfinite(v)) {
            eb_fail(err, EB_ERR_FORMAT, "%.200s:%d: field %d is not a finite number: '%s'", name,
                    lineno, count + 1, buf);
            return -1;
        }
        if (count >= cap) {
            eb_fail(err, EB_ERR_FORMAT, "%.200s:%d: more than %d fields", name, lineno, cap);
            return -1;
        }
        vals[count++] = v;
        if (i >= n) break;
        i++; /* comma */
    }
    return count;
}

typedef struct table {
    int rows, cols;
    double *data;
} table;

/* Generic reader: all rows the same width, at most max_cols. */
static eb_status parse_table(const char *text, size_t len, const char *name, int max_cols,
                             int nonneg, const eb_allocator *alloc, table *out, eb_error *err) {
    memset(out, 0, sizeof *out);
    double *row = eb_malloc(alloc, sizeof(double) * (size_t)max_cols);
    if (!row) return eb_fail(err, EB_ERR_NOMEM, "%.200s: out of memory", name);
    size_t cap = 0;
    double *data = NULL;
    int rows = 0, cols = 0, lineno = 0;
    size_t pos = 0;
    eb_status st = EB_OK;
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
        (unsigned char)text[2] == 0xBF)
        pos = 3;
    while (pos < len) {
        size_t e = pos;
        while (e < len && text[e] != '\n')
            e++;
        lineno++;
        size_t n = e - pos;
        const char *s = text + pos;
        pos = e + 1;
        if (n && s[n - 1] == '\r') n--;
        if (memchr(s, 0, n)) {
            st = eb_fail(err, EB_ERR_FORMAT, "%.200s:%d: NUL byte in a text file", name, lineno);
            goto done;
        }
        size_t k = 0;
        while (k < n && isspace((unsigned char)s[k]))
            k++;
        if (k == n) continue; /* blank line */
        int c = parse_row(s, n, row, max_cols, name, lineno, err);
        if (c < 0) {
            st = err ? err->status : EB_ERR_FORMAT;
            goto done;
        }
        for (int j = 0; nonneg && j < c; j++)
            if (row[j] < 0) {
                st = eb_fail(err, EB_ERR_FORMAT, "%.200s:%d: field %d: negative entropy %g", name,
                             lineno, j + 1, row[j]);
                goto done;
            }
        if (rows == 0)
            cols = c;
        else if (c != cols) {
            st = eb_fail(err, EB_ERR_FORMAT, "%.200s:%d: %d fields where the first row has %d",
                         name, lineno, c, cols);
            goto done;
        }
        if (rows >= MAX_ROWS) {
            st =
                eb_fail(err, EB_ERR_FORMAT, "%.200s:%d: more than %d rows", name, lineno, MAX_ROWS);
            goto done;
        }
        if ((size_t)(rows + 1) * cols > cap) {
            size_t ncap = cap ? cap * 2 : (size_t)cols * 256;
            double *nd = eb_realloc(alloc, data, ncap * sizeof(double));
            if (!nd) {
                st = eb_fail(err, EB_ERR_NOMEM, "%.200s: out of memory", name);
                goto done;
            }
            data = nd;
            cap = ncap;
        }
        memcpy(data + (size_t)rows * cols, row, sizeof(double) * cols);
        rows++;
    }
    if (rows == 0) st = eb_fail(err, EB_ERR_FORMAT, "%.200s: no data rows", name);
done:
    eb_free(alloc, row);
    if (st) {
        eb_free(alloc, data);
        return st;
    }
    out->rows = rows;
    out->cols = cols;
    out->data = data;
    return EB_OK;
}

eb_status eb_entropy_trace_parse(const char *text, size_t len, const char *name,
                                 const eb_allocator *alloc, eb_entropy_trace *out, eb_error *err) {
    memset(out, 0, sizeof *out);
    table t;
    eb_status st = parse_table(text, len, name, EB_MAX_LAYERS, 1, alloc, &t, err);
    if (st) return st;
    float *f = eb_malloc(alloc, sizeof(float) * (size_t)t.rows * t.cols);
    if (!f) {
        eb_free(alloc, t.data);
        return eb_fail(err, EB_ERR_NOMEM, "%.200s: out of memory", name);
    }
    for (size_t i = 0; i < (size_t)t.rows * t.cols; i++)
        f[i] = (float)t.data[i];
    eb_free(alloc, t.data);
    out->rows = t.rows;
    out->layers = t.cols;
    out->data = f;
    out->alloc = alloc;
    return EB_OK;
}

eb_status eb_entropy_trace_load(const char *path, const eb_allocator *alloc, eb_entropy_trace *out,
                                eb_error *err) {
    char *data = NULL;
    size_t size = 0;
    memset(out, 0, sizeof *out);
    eb_status st = eb_read_file(path, alloc, 0, &data, &size, err);
    if (st) return st;
    st = eb_entropy_trace_parse(data, size, path, alloc, out, err);
    eb_free(alloc, data);
    return st;
}

void eb_entropy_trace_free(eb_entropy_trace *t) {
    if (!t) return;
    eb_free(t->alloc, t->data);
    memset(t, 0, sizeof *t);
}

eb_status eb_exit_lut_parse(const char *text, size_t len, const char *name, int predict_after,
                            const eb_allocator *alloc, eb_exit_lut *out, eb_error *err) {
    memset(out, 0, sizeof *out);
    if (predict_after < 1 || predict_after >= EB_MAX_LAYERS)
        return eb_fail(err, EB_ERR_ARG, "%.200s: predict_after %d must be at least 1", name,
                       predict_after);
    table t;
    eb_status st = parse_table(text, len, name, EB_MAX_LAYERS + 1, 0, alloc, &t, err);
    if (st) return st;
    if (t.cols < 2) {
        eb_free(alloc, t.data);
        return eb_fail(err, EB_ERR_FORMAT,
                       "%.200s: a predictor table needs an entropy column and at least one "
                       "prediction column, found %d column(s)",
                       name, t.cols);
    }
    if (predict_after + t.cols - 1 > EB_MAX_LAYERS) {
        eb_free(alloc, t.data);
        return eb_fail(err, EB_ERR_FORMAT,
                       "%.200s: predict_after %d + %d predictions exceed %d layers", name,
                       predict_after, t.cols - 1, EB_MAX_LAYERS);
    }
    out->rows = t.rows;
    out->cols = t.cols;
    out->data = t.data;
    out->predict_after = predict_after;
    out->alloc = alloc;
    return EB_OK;
}

eb_status eb_exit_lut_load(const char *path, int predict_after, const eb_allocator *alloc,
                           eb_exit_lut *out, eb_error *err) {
    char *data = NULL;
    size_t size = 0;
    memset(out, 0, sizeof *out);
    eb_status st = eb_read_file(path, alloc, 0, &data, &size, err);
    if (st) return st;
    st = eb_exit_lut_parse(data, size, path, predict_after, alloc, out, err);
    eb_free(alloc, data);
    return st;
}

void eb_exit_lut_free(eb_exit_lut *l) {
    if (!l) return;
    eb_free(l->alloc, l->data);
    memset(l, 0, sizeof *l);
}

int eb_exit_lut_predict(const eb_exit_lut *l, double entropy, double threshold, int num_layers) {
    int best = 0;
    double bd = INFINITY;
    for (int r = 0; r < l->rows; r++) {
        double d = fabs(entropy - l->data[(size_t)r * l->cols]);
        if (d < bd) {
            bd = d;
            best = r;
        }
    }
    const double *row = l->data + (size_t)best * l->cols;
    for (int j = 1; j < l->cols; j++) {
        int layer = l->predict_after + j;
        if (layer > num_layers) break;
        if (row[j] < threshold) return layer;
    }
    return num_layers;
}
