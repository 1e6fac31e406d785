/* fixedmem_info.h - fixed-memory sizes of a bundle for `edgebert info`. */
#ifndef EB_CLI_FIXEDMEM_INFO_H
#define EB_CLI_FIXEDMEM_INFO_H

#include <stddef.h>

#include "edgebert.h"

typedef struct eb_cli_fixedmem {
    size_t image_bytes;     /* the bundle image (read-only: flash or mmap) */
    size_t heap_bytes;      /* what the loaded model keeps from its allocator */
    size_t heap_peak_bytes; /* the most it held at once while loading */
    int max_tokens;         /* the token limit the arenas are for */
    size_t arena_fp32, arena_af8;
} eb_cli_fixedmem;

/* Load the bundle at path from memory with a counting allocator and size
 * its arenas for max_tokens (<= 0: the model's maximum). */
eb_status eb_cli_fixedmem_info(const char *path, int max_tokens, eb_cli_fixedmem *out,
                               eb_error *err);

#endif
