/* testutil.h - shared helpers for the C tests (cmocka). */
#ifndef EB_TESTUTIL_H
#define EB_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

/* Path of the shared data folder: $EB_SHARED_DATA or ../shared/data. */
static inline const char *eb_test_data_dir(void) {
    const char *d = getenv("EB_SHARED_DATA");
    return d ? d : "../shared/data";
}

/* Fill buf with <data dir>/<rel>; return 1 if it exists. */
static inline int eb_test_data_path(char *buf, size_t cap, const char *rel) {
    snprintf(buf, cap, "%s/%s", eb_test_data_dir(), rel);
    struct stat st;
    return stat(buf, &st) == 0;
}

/* Skip the current test with a reason when shared data is missing. */
#define EB_REQUIRE_DATA(buf, rel)                                                          \
    do {                                                                                   \
        if (!eb_test_data_path(buf, sizeof buf, rel)) {                                    \
            fprintf(stderr, "SKIP: %s missing (shared data not present)\n", buf);          \
            skip();                                                                        \
        }                                                                                  \
    } while (0)

/* Deterministic test RNG (xorshift64*). */
static inline uint64_t eb_test_rng(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}
static inline float eb_test_uniform(uint64_t *s) {
    return (float)((eb_test_rng(s) >> 40) * (1.0 / 16777216.0));
}

#endif
