/* tdata.c - training examples: storage and the pre-tokenized ids reader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgebert/train.h"
#include "train/tdata.h"
#include "util/util.h"

eb_status eb_tdata_add(eb_tdata_builder *b, const int32_t *ids, const int32_t *types, int n,
                       int label, float target, eb_error *err) {
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 1024;
        eb_train_example *e = eb_realloc(NULL, b->ex, sizeof *e * (size_t)cap);
        if (!e) return eb_fail(err, EB_ERR_NOMEM, "train data: out of memory");
        b->ex = e;
        b->cap = cap;
    }
    size_t need = b->used + 2 * (size_t)n;
    if (need > b->pool_cap) {
        size_t cap = b->pool_cap ? b->pool_cap : 65536;
        while (cap < need)
            cap *= 2;
        int32_t *p = eb_realloc(NULL, b->pool, sizeof *p * cap);
        if (!p) return eb_fail(err, EB_ERR_NOMEM, "train data: out of memory");
        b->pool = p;
        b->pool_cap = cap;
    }
    eb_train_example *e = &b->ex[b->n++];
    memcpy(b->pool + b->used, ids, sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++)
        b->pool[b->used + (size_t)n + i] = types ? types[i] : 0;
    /* pointers are fixed up in eb_tdata_finish (the pool may move) */
    e->ids = (int32_t *)(uintptr_t)b->used;
    e->type_ids = NULL;
    e->n = n;
    e->label = label;
    e->target = target;
    b->used = need;
    return EB_OK;
}

void eb_tdata_finish(eb_tdata_builder *b, eb_train_data *out) {
    for (int i = 0; i < b->n; i++) {
        size_t off = (size_t)(uintptr_t)b->ex[i].ids;
        b->ex[i].ids = b->pool + off;
        b->ex[i].type_ids = b->pool + off + b->ex[i].n;
    }
    /* one block owns both: ex first, the pool is kept in storage */
    out->ex = b->ex;
    out->n = b->n;
    out->storage = b->pool;
    memset(b, 0, sizeof *b);
}

void eb_train_data_free(eb_train_data *d) {
    if (!d) return;
    eb_free(NULL, d->ex);
    eb_free(NULL, d->storage);
    memset(d, 0, sizeof *d);
}

static int parse_ints(char *s, int32_t *out, int cap, int *bad) {
    int n = 0;
    char *end;
    while (s && *s) {
        while (*s == ' ')
            s++;
        if (!*s) break;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > 100000000) {
            *bad = 1;
            break;
        }
        if (n < cap) out[n] = (int32_t)v;
        n++;
        s = end;
    }
    return n < cap ? n : cap;
}

eb_status eb_train_data_read_ids(const char *path, int max_len, eb_train_data *out, eb_error *err) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) return eb_fail(err, EB_ERR_IO, "%s: cannot open", path);
    eb_tdata_builder b = {0};
    static const size_t LINE = 1 << 20;
    char *line = eb_malloc(NULL, LINE);
    int32_t *ids = eb_malloc(NULL, sizeof(int32_t) * (size_t)max_len);
    int32_t *types = eb_malloc(NULL, sizeof(int32_t) * (size_t)max_len);
    eb_status s = (line && ids && types) ? EB_OK : eb_fail(err, EB_ERR_NOMEM, "out of memory");
    int lineno = 0;
    while (s == EB_OK && fgets(line, (int)LINE, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        char *f2 = strchr(line, '\t'), *f3 = NULL;
        if (!f2) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s:%d: expected label<TAB>ids", path, lineno);
            break;
        }
        *f2++ = 0;
        f3 = strchr(f2, '\t');
        if (f3) *f3++ = 0;
        char *end;
        double lab = strtod(line, &end);
        int bad = 0;
        int n = parse_ints(f2, ids, max_len, &bad);
        int nt = parse_ints(f3, types, n, &bad);
        for (int i = nt; i < n; i++)
            types[i] = 0;
        if (*end || bad || n == 0) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s:%d: bad label or token ids", path, lineno);
            break;
        }
        s = eb_tdata_add(&b, ids, types, n, (int)lab, (float)lab, err);
    }
    fclose(f);
    eb_free(NULL, line), eb_free(NULL, ids), eb_free(NULL, types);
    eb_tdata_finish(&b, out);
    if (s == EB_OK && out->n == 0) s = eb_fail(err, EB_ERR_FORMAT, "%s: no examples", path);
    if (s != EB_OK) eb_train_data_free(out);
    return s;
}
