/* fixedmem_info.c - the fixed-memory numbers `edgebert info` prints for a
 * bundle: the image (read-only, flash), the heap the load takes (peak), and
 * the exact arena a context needs for a token limit (fp32 and af8). */
#include "cli/fixedmem_info.h"

#include <stdlib.h>
#include <string.h>

#include "edgebert/fixedmem.h"
#include "util/util.h"

typedef struct counter {
    size_t live, peak;
} counter;

static void *cnt_alloc(void *ud, size_t n) {
    counter *c = ud;
    size_t *p = malloc(n + 16);
    if (!p) return NULL;
    p[0] = n;
    c->live += n;
    if (c->live > c->peak) c->peak = c->live;
    return (char *)p + 16;
}

static void cnt_free(void *ud, void *q) {
    if (!q) return;
    counter *c = ud;
    size_t *p = (size_t *)((char *)q - 16);
    c->live -= p[0];
    free(p);
}

static void *cnt_realloc(void *ud, void *q, size_t n) {
    void *r = cnt_alloc(ud, n);
    if (!r || !q) return r;
    size_t old = *(size_t *)((char *)q - 16);
    memcpy(r, q, old < n ? old : n);
    cnt_free(ud, q);
    return r;
}

eb_status eb_cli_fixedmem_info(const char *path, int max_tokens, eb_cli_fixedmem *out,
                               eb_error *err) {
    memset(out, 0, sizeof *out);
    char *d;
    size_t n;
    eb_status s = eb_read_file(path, NULL, (size_t)4 << 30, &d, &n, err);
    if (s != EB_OK) return s;
    void *img = aligned_alloc(EB_FIXEDMEM_ALIGN,
                              (n + EB_FIXEDMEM_ALIGN - 1) & ~(size_t)(EB_FIXEDMEM_ALIGN - 1));
    if (!img) {
        free(d);
        return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(img, d, n);
    free(d);
    counter c = {0};
    eb_load_params lp = eb_load_params_default();
    lp.alloc = (eb_allocator){cnt_alloc, cnt_realloc, cnt_free, &c};
    eb_model *m;
    s = eb_model_load_buffer(img, n, path, &lp, &m, err);
    if (s == EB_OK) {
        out->image_bytes = n;
        out->heap_peak_bytes = c.peak;
        out->heap_bytes = c.live;
        int cap = eb_model_config(m)->max_position_embeddings;
        out->max_tokens = max_tokens > 0 && max_tokens < cap ? max_tokens : cap;
        s = eb_context_arena_size(m, out->max_tokens, EB_PRECISION_FP32, &out->arena_fp32, err);
        if (s == EB_OK)
            s = eb_context_arena_size(m, out->max_tokens, EB_PRECISION_AF8, &out->arena_af8, err);
        eb_model_free(m);
    }
    free(img);
    return s;
}
