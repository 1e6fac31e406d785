/* fuzz_glue.c - libFuzzer harness for GLUE TSV files
 * (eb_dataset_load_buffer); the first byte picks the task layout. */
#include <stddef.h>
#include <stdint.h>

#include "edgebert.h"
#include "edgebert/data.h"

static volatile double g_sink; /* keeps the reads */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const eb_task_info *ti = eb_task_get((eb_task)(data[0] % EB_TASK_COUNT));
    eb_dataset *ds = NULL;
    eb_error err;
    if (eb_dataset_load_buffer(data + 1, size - 1, "fuzz", ti->name, NULL, &ds, &err) == EB_OK) {
        size_t sum = 0;
        for (int i = 0; i < ds->n; i++) {
            for (const char *p = ds->rows[i].text_a; p && *p; p++)
                sum += (unsigned char)*p;
            for (const char *p = ds->rows[i].text_b; p && *p; p++)
                sum += (unsigned char)*p;
        }
        g_sink = (double)sum;
        eb_dataset_free(ds);
    }
    return 0;
}
