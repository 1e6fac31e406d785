/* bitmask.h - bitmask sparse tensors (internal header; the public API is
 * include/edgebert/quant.h). */
#ifndef EB_QUANT_BITMASK_H
#define EB_QUANT_BITMASK_H

#include "edgebert/quant.h"

static inline int eb_bm_popcount16(uint16_t m) {
    return __builtin_popcount((unsigned)m);
}

/* Mask of the valid element bits of vector j of a row of `cols` columns. */
static inline uint16_t eb_bm_valid_bits(int cols, int j) {
    int left = cols - j * EB_BM_VEC;
    return left >= EB_BM_VEC ? (uint16_t)0xffff : (uint16_t)((1u << left) - 1u);
}

#endif
