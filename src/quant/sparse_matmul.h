/* sparse_matmul.h - sparse x dense kernels (internal header; the public API
 * is include/edgebert/quant.h). */
#ifndef EB_QUANT_SPARSE_MATMUL_H
#define EB_QUANT_SPARSE_MATMUL_H

#include "edgebert/quant.h"

/* Rows of x handled per accumulator block by the sparse kernel. */
#define EB_SPARSE_NB 128

#endif
