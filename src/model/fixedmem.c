/* fixedmem.c - fixed-memory mode: bundles from caller images, contexts in
 * caller arenas (include/edgebert/fixedmem.h). */
#include "edgebert/fixedmem.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model/bundle.h"
#include "model/model_internal.h"
#include "util/util.h"

eb_status eb_model_load_buffer(const void *data, size_t size, const char *name,
                               const eb_load_params *params, eb_model **out, eb_error *err) {
    eb_load_params p = params ? *params : eb_load_params_default();
    *out = NULL;
    if (!name) name = "<memory>";
    if (!data || size == 0) return eb_fail(err, EB_ERR_ARG, "%s: empty bundle image", name);
    if ((uintptr_t)data % EB_FIXEDMEM_ALIGN)
        return eb_fail(err, EB_ERR_ARG, "%s: bundle image at %p is not %d-byte aligned", name, data,
                       EB_FIXEDMEM_ALIGN);
    eb_model *m = eb_calloc(&p.alloc, 1, sizeof *m);
    if (!m) return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", name);
    m->alloc = p.alloc;
    m->log = p.log;
    m->log_ud = p.log_ud;
    m->pack_weights = p.pack_weights;
    snprintf(m->path, sizeof m->path, "%s", name);
    eb_status s = eb_bundle_load_buffer(m, m->path, data, size, err);
    for (int i = 0; s == EB_OK && i < m->n_tasks; i++)
        s = eb_model_finish_task(m, &m->tasks[i], err);
    if (s != EB_OK) {
        eb_model_free(m);
        return s;
    }
    *out = m;
    return EB_OK;
}

/* The allocation sequence of a context (eb_context_new's, with a token limit and the af8
 * scratch made up front). */
static int build_context(const eb_model *m, int max_tokens, eb_precision precision,
                         const eb_allocator *a, eb_context **out) {
    eb_context *c = eb_calloc(a, 1, sizeof *c);
    if (!c) return 0;
    c->model = m;
    *out = c;
    int max_n;
    return eb_context_alloc_scratch(c, max_tokens, eb_precision_af8(precision), a, &max_n);
}

/* Bump allocation over the arena: 16-byte steps, frees are no-ops. */
typedef struct arena {
    uint8_t *base;
    size_t cap, used;
    int measure; /* 1: count only, the blocks come from malloc (kept in blocks[]) */
    void *blocks[16];
    int n_blocks;
} arena;

static void *arena_alloc(void *ud, size_t size) {
    arena *A = ud;
    size_t off = (A->used + 15) & ~(size_t)15;
    if (off > SIZE_MAX - size) return NULL;
    if (A->measure) {
        if (A->n_blocks == (int)(sizeof A->blocks / sizeof A->blocks[0])) return NULL;
        void *p = eb_malloc(NULL, size);
        if (!p) return NULL;
        A->blocks[A->n_blocks++] = p;
        A->used = off + size;
        return p;
    }
    if (off + size > A->cap) return NULL;
    A->used = off + size;
    return A->base + off;
}

static void arena_free(void *ud, void *p) {
    (void)ud, (void)p;
}

/* The arena's own bookkeeping sits at its start. */
#define ARENA_HEAD (((sizeof(arena) + sizeof(eb_allocator)) + 63) & ~(size_t)63)

static eb_status check_args(const eb_model *m, eb_precision precision, eb_error *err) {
    if (!m || m->n_tasks < 1) return eb_fail(err, EB_ERR_ARG, "fixed-memory context: no model");
    if (!eb_precision_info_of(precision))
        return eb_fail(err, EB_ERR_ARG, "fixed-memory context: unknown precision %d",
                       (int)precision);
    return EB_OK;
}

eb_status eb_context_arena_size(const eb_model *m, int max_tokens, eb_precision precision,
                                size_t *bytes, eb_error *err) {
    *bytes = 0;
    eb_status s = check_args(m, precision, err);
    if (s != EB_OK) return s;
    arena A = {0};
    A.measure = 1;
    eb_allocator al = {arena_alloc, NULL, arena_free, &A};
    eb_context *c = NULL;
    int ok = build_context(m, max_tokens, precision, &al, &c);
    for (int i = 0; i < A.n_blocks; i++)
        eb_free(NULL, A.blocks[i]);
    if (!ok)
        return eb_fail(err, EB_ERR_NOMEM, "out of memory sizing a context of %d tokens",
                       max_tokens);
    *bytes = ARENA_HEAD + A.used;
    return EB_OK;
}

eb_status eb_context_new_in_arena(const eb_model *m, int max_tokens, eb_precision precision,
                                  void *mem, size_t arena_bytes, eb_context **out, eb_error *err) {
    *out = NULL;
    eb_status s = check_args(m, precision, err);
    if (s != EB_OK) return s;
    if (!mem || (uintptr_t)mem % EB_FIXEDMEM_ALIGN)
        return eb_fail(err, EB_ERR_ARG, "fixed-memory context: the arena must be %d-byte aligned",
                       EB_FIXEDMEM_ALIGN);
    if (arena_bytes < ARENA_HEAD)
        return eb_fail(err, EB_ERR_NOMEM,
                       "fixed-memory context: an arena of %zu bytes is too small", arena_bytes);
    arena *A = mem;
    memset(A, 0, sizeof *A);
    A->base = (uint8_t *)mem + ARENA_HEAD;
    A->cap = arena_bytes - ARENA_HEAD;
    eb_allocator *al = (eb_allocator *)(A + 1);
    *al = (eb_allocator){arena_alloc, NULL, arena_free, A};
    eb_context *c = NULL;
    if (!build_context(m, max_tokens, precision, al, &c))
        return eb_fail(err, EB_ERR_NOMEM,
                       "fixed-memory context: an arena of %zu bytes is too small for %d tokens "
                       "(eb_context_arena_size / edgebert info tell the size)",
                       arena_bytes, max_tokens);
    c->in_arena = 1;
    *out = c;
    return EB_OK;
}
