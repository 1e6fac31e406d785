/* prune.h - magnitude pruning helpers (internal header; the public API is
 * include/edgebert/quant.h). */
#ifndef EB_QUANT_PRUNE_H
#define EB_QUANT_PRUNE_H

#include "edgebert/quant.h"

#endif
