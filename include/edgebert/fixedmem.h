/*
 * edgebert/fixedmem.h - fixed-memory mode for small devices: load a bundle
 * from a read-only image the caller owns (flash, ROM, an mmap) and run it in
 * a working arena the caller provides, with no allocation after load.
 *
 *   eb_model_load_buffer()      bundle image -> model (weights stay in the image;
 *                               tables and execution forms come from params->alloc)
 *   eb_context_arena_size()     the exact arena a context for max_tokens needs
 *   eb_context_new_in_arena()   a context whose every byte lies in the arena;
 *                               refuses (EB_ERR_NOMEM) an arena that is too small
 *   eb_classify_ids()           then runs without allocating (fp32, or af8 when
 *                               the arena was sized with EB_PRECISION_AF8)
 *
 * Text classification (eb_classify) tokenizes with the model's allocator:
 * fixed-memory callers tokenize elsewhere or ahead and pass ids.  An arena
 * context needs no eb_context_free (it is a no-op): drop the arena.
 *
 * Threads: in an OpenMP build, libgomp allocates its thread team the first
 * time a kernel splits over threads; eb_run_params.threads = 1 keeps every
 * kernel on the calling thread (no team, no allocation), as does the
 * EB_MINIMAL build (no threads).  The load-time execution forms (packed
 * fp32 / bf16 copies on AVX-512 CPUs) come from params->alloc;
 * params->pack_weights = 0 leaves them out.
 */
#ifndef EDGEBERT_FIXEDMEM_H
#define EDGEBERT_FIXEDMEM_H

#include "edgebert.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Alignment the image and the arena must have (bytes). */
#define EB_FIXEDMEM_ALIGN 64

/* Load an edgebert bundle from data[size] (EB_FIXEDMEM_ALIGN-aligned).  The
 * image is never written nor copied and must outlive the model.  `name` is
 * used in messages (NULL: "<memory>").  params->use_mmap is ignored. */
EB_API eb_status eb_model_load_buffer(const void *data, size_t size, const char *name,
                               const eb_load_params *params, eb_model **out, eb_error *err);

/* Bytes of arena a context needs for inputs of up to max_tokens tokens (<= 0:
 * the model's maximum); precision EB_PRECISION_AF8 also reserves the af8
 * path's scratch.  Computed by building such a context once on the heap
 * (call it before the fixed-memory phase, or read `edgebert info`). */
EB_API eb_status eb_context_arena_size(const eb_model *model, int max_tokens, eb_precision precision,
                                size_t *bytes, eb_error *err);

/* Make a context inside arena[arena_bytes] (EB_FIXEDMEM_ALIGN-aligned); the
 * arena must stay untouched while the context is used. */
EB_API eb_status eb_context_new_in_arena(const eb_model *model, int max_tokens, eb_precision precision,
                                  void *arena, size_t arena_bytes, eb_context **out, eb_error *err);

#ifdef __cplusplus
}
#endif

#endif
