/* fuzz_safetensors.c - libFuzzer harness for safetensors files (eb_st_parse):
 * header JSON, dtypes, shapes and payload offsets; every accepted tensor is
 * converted to fp32, which reads all of its bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "edgebert.h"
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    eb_safetensors st;
    eb_error err;
    if (eb_st_parse(data, size, "fuzz", NULL, &st, &err) != EB_OK) return 0;
    for (int i = 0; i < st.n; i++) {
        const eb_st_tensor *t = &st.tensors[i];
        if (eb_st_find(&st, t->name) == NULL) abort(); /* every name is found */
        float *out = malloc(sizeof(float) * (t->numel ? t->numel : 1));
        if (out) eb_st_to_f32(t, out);
        free(out);
    }
    eb_st_close(&st);
    return 0;
}
