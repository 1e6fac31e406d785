/* checksum.c - XXH3-64 (xxHash, header-only: no library to link, so the
 * minimal and cross builds need nothing new), the bundle's checksum. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "util/util.h"

uint64_t eb_xxh3_64(const void *data, size_t n) {
    return (uint64_t)XXH3_64bits(data, n);
}
