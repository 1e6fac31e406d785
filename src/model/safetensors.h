/* safetensors.h - reader and writer of the safetensors format.
 *
 * File: 8-byte little-endian header length n, n bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"k": "v"}}
 * then the payload; offsets are relative to the payload start.  The reader
 * checks everything against the file: JSON well-formed, dtype known, shape
 * product * element size == end - begin, offsets inside the payload, no two
 * tensors overlapping. */
#ifndef EB_MODEL_SAFETENSORS_H
#define EB_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "edgebert.h"
#include "util/util.h"

typedef enum eb_dtype { EB_DTYPE_F32 = 0, EB_DTYPE_F16 = 1, EB_DTYPE_BF16 = 2 } eb_dtype;

#define EB_ST_MAX_DIMS 4
typedef struct eb_st_tensor {
    char *name;
    eb_dtype dtype;
    int ndim;
    int64_t shape[EB_ST_MAX_DIMS];
    size_t numel;
    const uint8_t *data; /* into the file image */
    size_t nbytes;
} eb_st_tensor;

typedef struct eb_safetensors {
    eb_file_map map;
    eb_st_tensor *tensors;
    int n;
    const eb_allocator *alloc;
    char path[512];
} eb_safetensors;

eb_status eb_st_open(const char *path, const eb_allocator *a, int use_mmap, eb_safetensors *st,
                     eb_error *err);
/* Parse an in-memory image (not copied; must outlive st). */
eb_status eb_st_parse(const uint8_t *data, size_t size, const char *name, const eb_allocator *a,
                      eb_safetensors *st, eb_error *err);
void eb_st_close(eb_safetensors *st);
const eb_st_tensor *eb_st_find(const eb_safetensors *st, const char *name);
/* Convert a tensor to fp32 into out[numel]. */
void eb_st_to_f32(const eb_st_tensor *t, float *out);

/* Writer: collect named fp32 tensors, then write atomically as F32 (or
 * converted to F16/BF16). */
typedef struct eb_st_entry {
    const char *name;
    const float *data;
    int ndim;
    int64_t shape[EB_ST_MAX_DIMS];
} eb_st_entry;
eb_status eb_st_write(const char *path, const eb_st_entry *entries, int n, eb_dtype dtype,
                      const char *metadata_json, eb_error *err);

#endif
