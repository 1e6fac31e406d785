/* fuzz_serve_request.c - libFuzzer harness for the body of POST /v1/classify
 * (eb_serve_req_parse, the request parser of edgebert serve).  The parser is
 * part of the command, not the library, so its source is compiled in here. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cli/serve_req.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* the first byte picks small limits now and then, so the limit paths run too */
    eb_serve_limits lim = {1 << 20, 256, 16384};
    if (size > 0 && data[0] == 0xff) lim = (eb_serve_limits){64, 2, 8};
    eb_serve_req r;
    char msg[512];
    int s = eb_serve_req_parse((const char *)data, size, &lim, &r, msg, sizeof msg);
    if (s == 0) {
        /* every accepted item is non-empty valid UTF-8 within the limit */
        for (int i = 0; i < r.n; i++) {
            size_t n = strlen(r.items[i].a);
            if (n == 0 || n > lim.max_text_bytes || !eb_utf8_valid(r.items[i].a, n))
                __builtin_trap();
        }
        if (r.n < 1 || r.n > lim.max_texts) __builtin_trap();
        eb_serve_req_free(&r);
    } else if (s < 400 || s > 500 || !msg[0]) {
        __builtin_trap();
    }
    return 0;
}
