/* util.h - internal helpers shared by every module: errors, allocation,
 * files, logging.  Not part of the public API. */
#ifndef EB_UTIL_H
#define EB_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "edgebert.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__)
#define EB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define EB_PRINTF(a, b)
#endif

/* Fill *err (when not NULL) and return status. */
eb_status eb_fail(eb_error *err, eb_status status, const char *fmt, ...) EB_PRINTF(3, 4);
/* Prefix an existing message: "<prefix>: <old message>". */
eb_status eb_fail_prefix(eb_error *err, const char *fmt, ...) EB_PRINTF(2, 3);
void eb_error_clear(eb_error *err);

/* Allocation through an optional user allocator (NULL = libc). */
void *eb_malloc(const eb_allocator *a, size_t size);
void *eb_calloc(const eb_allocator *a, size_t count, size_t size); /* overflow-checked */
void *eb_realloc(const eb_allocator *a, void *p, size_t size);
void eb_free(const eb_allocator *a, void *p);
/* 64-byte aligned allocation for kernels (free with eb_free_aligned). */
void *eb_malloc_aligned(const eb_allocator *a, size_t size);
void eb_free_aligned(const eb_allocator *a, void *p);
char *eb_strdup(const eb_allocator *a, const char *s);

/* a*b with overflow check; returns 0 on overflow. */
int eb_mul_size(size_t a, size_t b, size_t *out);

/* Whole file into memory (NUL-terminated, size excludes the NUL).
 * max_size bounds what is accepted (0 = 1 GiB). */
eb_status eb_read_file(const char *path, const eb_allocator *a, size_t max_size, char **data,
                       size_t *size, eb_error *err);

/* A read-only file image: mmap'ed when possible, else read. */
typedef struct eb_file_map {
    const uint8_t *data;
    size_t size;
    int mapped; /* 1: munmap on close; 0: eb_free */
} eb_file_map;
eb_status eb_file_map_open(const char *path, const eb_allocator *a, int use_mmap, eb_file_map *out,
                           eb_error *err);
void eb_file_map_close(const eb_allocator *a, eb_file_map *m);

/* Write a file atomically: <path>.tmp then rename. */
eb_status eb_write_file_atomic(const char *path, const void *data, size_t size, eb_error *err);

/* XXH3-64 of n bytes (xxHash, seed 0): the bundle's checksum. */
uint64_t eb_xxh3_64(const void *data, size_t n);

/* Logging through an optional callback. */
void eb_log(eb_log_fn fn, void *ud, eb_log_level level, const char *fmt, ...) EB_PRINTF(4, 5);

/* UTF-8: 1 if s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
int eb_utf8_valid(const char *s, size_t n);

/* name(0) .. name(n-1) joined by sep, with `last` (when not NULL) before the
 * last one, into buf (cut to cap); returns buf.  For the descriptor tables. */
const char *eb_join_names(char *buf, size_t cap, int n, const char *(*name)(int i),
                          const char *sep, const char *last);

/* Half-precision conversions. */
float eb_f16_to_f32(uint16_t h);
float eb_bf16_to_f32(uint16_t h);
uint16_t eb_f32_to_f16(float f);
uint16_t eb_f32_to_bf16(float f);

/* A growable string; oom is set (and later appends ignored) when memory runs out. */
typedef struct eb_strbuf {
    char *s;
    size_t n, cap;
    int oom;
    const eb_allocator *a;
} eb_strbuf;
void eb_strbuf_printf(eb_strbuf *b, const char *fmt, ...) EB_PRINTF(2, 3);

/* A loop over independent blocks that runs as an OpenMP team of at most
 * `nt` threads (0: OpenMP's default, OMP_NUM_THREADS or every core) only when
 * `cond` holds and nt != 1; otherwise it is a plain loop and libgomp is not
 * entered at all (no thread team, no allocation: fixed-memory mode and
 * eb_run_params.threads = 1 rely on this).
 *   EB_PAR_FOR(threads, work > X, (int b = 0; b < n; b++), { ...body... });   */
/* Work (flops) below which a kernel stays on the calling thread: an OpenMP
 * fork/join costs a few microseconds on a quiet machine (docs/perf.md). */
#define EB_PAR_MIN_FLOPS 4.0e6

#ifdef _OPENMP
/* nt caps OpenMP's team (never more threads than it would start itself) */
#define EB_PAR_TEAM(nt) ((nt) > 0 && (nt) < omp_get_max_threads() ? (nt) : omp_get_max_threads())
#else
#define EB_PAR_TEAM(nt) 1
#endif
#define EB_PAR_FOR(nt, cond, header, ...)                                                          \
    do {                                                                                           \
        const int eb_par_nt_ = (nt);                                                               \
        if ((cond) && eb_par_nt_ != 1) {                                                           \
            const int eb_par_team_ = EB_PAR_TEAM(eb_par_nt_);                                      \
            (void)eb_par_team_;                                                                    \
            _Pragma("omp parallel for schedule(dynamic, 1) num_threads(eb_par_team_)") for header   \
                __VA_ARGS__                                                                        \
        } else {                                                                                   \
            for                                                                                    \
                header __VA_ARGS__                                                                 \
        }                                                                                          \
    } while (0)

#define EB_MIN(a, b) ((a) < (b) ? (a) : (b))
#define EB_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
