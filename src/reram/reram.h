/* reram.h - ReRAM cell fault model (internal header; the public API is
 * include/edgebert/reram.h). */
#ifndef EB_RERAM_RERAM_H
#define EB_RERAM_RERAM_H

#include "edgebert/reram.h"

/* Upper tail 1 - Phi(z) and Phi(z), accurate far in the tails. */
double eb_reram_normal_sf(double z);
double eb_reram_normal_cdf(double z);

#endif
