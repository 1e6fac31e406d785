/* rtos_demo.c - what an RTOS-class program does with edgebert (make EB_MINIMAL=1
 * minimal-check links it with --gc-sections and checks that it references no
 * file I/O and no thread functions).
 *
 * The bundle lives in flash: link in a C file that defines
 *     _Alignas(64) const unsigned char eb_rtos_image[] = {...};   (xxd -i default.ebb)
 *     const unsigned long eb_rtos_image_size = sizeof eb_rtos_image;
 * The model's tables come from a static heap region (a bump allocator here),
 * the working arena from a static buffer; after load nothing is allocated. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "edgebert.h"
#include "edgebert/fixedmem.h"

__attribute__((weak)) extern const unsigned char eb_rtos_image[];
__attribute__((weak)) extern const unsigned long eb_rtos_image_size;

#ifndef RTOS_HEAP_BYTES
#define RTOS_HEAP_BYTES (32u << 20)
#endif
#ifndef RTOS_ARENA_BYTES
#define RTOS_ARENA_BYTES (4u << 20)
#endif
#ifndef RTOS_MAX_TOKENS
#define RTOS_MAX_TOKENS 64
#endif

static _Alignas(64) unsigned char heap[RTOS_HEAP_BYTES];
static _Alignas(64) unsigned char arena[RTOS_ARENA_BYTES];

typedef struct bump {
    size_t used;
} bump;

static void *bump_alloc(void *ud, size_t n) {
    bump *b = ud;
    size_t off = (b->used + 15) & ~(size_t)15;
    if (off + n > sizeof heap || off + n < off) return NULL;
    b->used = off + n;
    return heap + off;
}

static void bump_free(void *ud, void *p) {
    (void)ud, (void)p;
}

int main(void) {
    if (!eb_rtos_image || !&eb_rtos_image_size) {
        printf("rtos_demo: linked without a bundle image (define eb_rtos_image to run one)\n");
        return 0;
    }
    static bump b;
    eb_load_params lp = eb_load_params_default();
    lp.alloc = (eb_allocator){bump_alloc, NULL, bump_free, &b};
    eb_error err = {0};
    eb_model *m;
    if (eb_model_load_buffer(eb_rtos_image, eb_rtos_image_size, "flash", &lp, &m, &err) != EB_OK) {
        printf("rtos_demo: %s\n", err.msg);
        return 1;
    }
    eb_context *ctx;
    if (eb_context_new_in_arena(m, RTOS_MAX_TOKENS, EB_PRECISION_AF8, arena, sizeof arena, &ctx,
                                &err) != EB_OK) {
        printf("rtos_demo: %s\n", err.msg);
        return 1;
    }
    int32_t ids[4] = {2, 100, 200, 3}; /* [CLS] .. [SEP]: tokenized on the host */
    eb_run_params p = eb_run_params_default();
    p.precision = EB_PRECISION_AF8;
    eb_result r;
    if (eb_classify_ids(ctx, ids, NULL, 4, &p, &r, &err) != EB_OK) {
        printf("rtos_demo: %s\n", err.msg);
        return 1;
    }
    printf("rtos_demo: label %d, exit layer %d, heap %zu bytes\n", r.label, r.exit_layer, b.used);
    return 0;
}
