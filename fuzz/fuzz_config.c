/* fuzz_config.c - libFuzzer harness for config.json (eb_config_parse). */
#include <stddef.h>
#include <stdint.h>

#include "edgebert.h"
#include "model/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    eb_config cfg;
    eb_model_extras x;
    eb_error err;
    eb_config_parse((const char *)data, size, "fuzz", &cfg, &x, &err);
    return 0;
}
