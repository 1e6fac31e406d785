/* adaptivfloat.h - AdaptivFloat formats (internal header; the public API is
 * include/edgebert/quant.h). */
#ifndef EB_QUANT_ADAPTIVFLOAT_H
#define EB_QUANT_ADAPTIVFLOAT_H

#include "edgebert/quant.h"

/* Highest exponent width the general format supports (wider ones make the
 * adaptive range leave the double range). */
#define EB_AF_MAX_EXP 8

#endif
