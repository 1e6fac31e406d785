/* fuzz_hwparams.c - libFuzzer harness for the accelerator parameter file
 * (eb_hw_params_parse). */
#include <stddef.h>
#include <stdint.h>

#include "edgebert.h"
#include "edgebert/hw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    eb_hw_params p;
    eb_error err;
    eb_hw_params_default(&p);
    eb_hw_params_parse(&p, (const char *)data, size, "fuzz", &err);
    return 0;
}
