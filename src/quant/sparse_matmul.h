/* sparse_matmul.h - sparse x dense kernels (internal header; the public API
 * is include/edgebert/quant.h). */
#ifndef EB_QUANT_SPARSE_MATMUL_H
#define EB_QUANT_SPARSE_MATMUL_H

#include "edgebert/quant.h"

/* Rows of x handled per accumulator block by the sparse kernel. */
#define EB_SPARSE_NB 128

/* eb_sparse_matmul with the mask decoder chosen: isa 0 scalar, -1 the best
 * the CPU has (tests use 0 to cover the portable path), and threads as for
 * the kernels (kernels/kernels.h: 0 OpenMP's default, 1 the calling thread
 * only, n at most n). */
eb_status eb_sparse_matmul_isa(float *y, const float *x, const eb_bitmask *w, const float *bias,
                               int N, float *scratch, const eb_allocator *alloc, eb_error *err,
                               int isa, int threads);

#endif
