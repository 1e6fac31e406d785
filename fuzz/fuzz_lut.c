/* fuzz_lut.c - libFuzzer harness for exit predictor tables
 * (eb_exit_lut_parse); the first byte picks predict_after, an accepted
 * table answers a few predictions. */
#include <stddef.h>
#include <stdint.h>

#include "edgebert.h"
#include "edgebert/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int predict_after = (int)(data[0] % 16) - 1; /* -1..14: bad values too */
    eb_exit_lut l;
    eb_error err;
    if (eb_exit_lut_parse((const char *)data + 1, size - 1, "fuzz", predict_after, NULL, &l,
                          &err) != EB_OK)
        return 0;
    static const double e[] = {-1.0, 0.0, 0.05, 0.5, 0.99, 3.0, 1e300};
    for (int i = 0; i < 7; i++)
        eb_exit_lut_predict(&l, e[i], 0.3, 12);
    eb_exit_lut_free(&l);
    return 0;
}
