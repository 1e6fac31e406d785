/* fuzz_trace.c - libFuzzer harness for recorded entropy traces
 * (eb_entropy_trace_parse). */
#include <stddef.h>
#include <stdint.h>

#include "edgebert.h"
#include "edgebert/runtime.h"

static volatile double g_sink; /* keeps the reads */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    eb_entropy_trace t;
    eb_error err;
    if (eb_entropy_trace_parse((const char *)data, size, "fuzz", NULL, &t, &err) != EB_OK) return 0;
    float sum = 0;
    for (long i = 0; i < (long)t.rows * t.layers; i++)
        sum += t.data[i];
    g_sink = sum;
    eb_entropy_trace_free(&t);
    return 0;
}
