/* adaptivfloat.h - AdaptivFloat formats (internal header; the public API is
 * include/edgebert/quant.h). */
#ifndef EB_QUANT_ADAPTIVFLOAT_H
#define EB_QUANT_ADAPTIVFLOAT_H

#include "edgebert/quant.h"

/* Highest exponent width the general format supports (wider ones make the
 * adaptive range leave the double range). */
#define EB_AF_MAX_EXP 8

/* Scalar references of the AVX-512 eb_af8_maxabs / eb_af8_quantize (tests). */
float eb_af8_maxabs_ref(const float *x, size_t n);
int eb_af8_quantize_ref(float *out, const float *x, size_t n, eb_af8_round mode);

#endif
