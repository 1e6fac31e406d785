/* bundle.h - the edgebert multi-task bundle: one versioned, aligned,
 * mmap-able file with one copy of the shared embeddings and, per task, its
 * encoder, heads, off-ramps, spans, exit-predictor table, thresholds and
 * label names, plus the tokenizer.
 *
 * Layout (all integers little-endian):
 *   0  char[8]  magic "EBBUNDLE"
 *   8  u32      format version (2)
 *  12  u32      flags (0)
 *  16  u64      header length h
 *  24  u64      payload offset p (64-aligned, >= 64 + h)
 *  32  u64      total file size (a truncated file is caught here)
 *  40  u64      XXH3-64 of bytes [64, p): the JSON header and its padding (spaces)
 *  48  u64      reserved (0)
 *  56  u64      XXH3-64 of bytes [0, 56): this fixed header
 *  64  h bytes  JSON header (below)
 *   p  payload: sections (the tokenizer, every tensor, every predictor table),
 *      each 64-byte aligned; offsets are relative to p.
 * Version 1 (still read, with a warning) had a 40-byte fixed header (up to
 * the total size), no checksums, and the JSON header at 40.
 *
 * Checksums (XXH3-64, seed 0; xxHash): every payload section's descriptor
 * has "xxh3": 16 hex digits, over its bytes and the zero padding after them
 * up to the next section (the last one: to the end of the file).  The
 * sections, sorted by offset, must tile the payload (the first at 0, each
 * next at the 64-aligned end of the one before, the last ending the file),
 * so the checksums cover every byte; a mismatch names the section.
 *
 * JSON header:
 *  {"format": "edgebert-bundle", "version": 2,        must match the fixed header
 *   "tokenizer": {"off": O, "bytes": B, "xxh3": X},  spiece.model bytes
 *   "shared": {NAME: TENSOR, ...},                 word/position/type embeddings
 *   "tasks": [{"name": "sst2", "config": {...config.json...},
 *              "tensors": {NAME: TENSOR, ...},
 *              "lut": {"predict_after": p, "rows": r, "cols": c, "off": O, "bytes": B, "xxh3": X},  (f64)
 *              "thresholds": {"ee": [t1, t2, t5], "lai": [...]}}, ...]}
 * TENSOR: {"fmt": "f32" | "af8" | "f32_bm" | "af8_bm", "shape": [rows(, cols)],
 *          "off": O, "bytes": B, "xxh3": X, "bias": b (af8 formats), "nnz": k (bitmask formats)}
 *   f32: rows*cols floats.  af8: rows*cols AdaptivFloat8 codes with bias b.
 *   *_bm: rows*ceil(cols/16) u16 masks, padded to 64 bytes, then k packed
 *         non-zeros (floats or codes) in row-major order.
 * Tensor names are the HuggingFace ones (see albert.h). */
#ifndef EB_MODEL_BUNDLE_H
#define EB_MODEL_BUNDLE_H

#include "edgebert.h"
#include "model/model_internal.h"

#define EB_BUNDLE_MAGIC "EBBUNDLE"
#define EB_BUNDLE_VERSION 2

typedef enum eb_weight_format {
    EB_WEIGHTS_F32 = 0, /* everything fp32 (lossless) */
    EB_WEIGHTS_AF8 = 1  /* matrices AdaptivFloat8, bitmask where smaller; vectors fp32 */
} eb_weight_format;

typedef struct eb_pack_task {
    const char *name; /* task name, e.g. "sst2" */
    const char *dir;  /* HuggingFace checkpoint directory (exit_lut.csv optional) */
} eb_pack_task;

typedef struct eb_pack_params {
    eb_weight_format weights;
    double emb_keep; /* keep this fraction of embedding values by magnitude (1 = all) */
    int allow_different_embeddings; /* 0: tasks must share bit-identical embeddings */
    eb_log_fn log;
    void *log_ud;
} eb_pack_params;

eb_pack_params eb_pack_params_default(void);

/* Build a bundle from checkpoint directories. */
eb_status eb_bundle_pack(const char *out_path, const eb_pack_task *tasks, int n_tasks,
                         const eb_pack_params *params, eb_error *err);

/* Is the file a bundle (by its magic)? */
int eb_bundle_is_bundle(const char *path);

/* The image of a bundle (version 1 or 2) in the current version: the
 * payload bytes unchanged, the JSON directory given the current version and
 * every section's checksum, the fixed header its own.  Nothing is decoded or
 * verified (see eb_bundle_rewrite); *out is malloc'ed.  The fuzz harness uses
 * it to get mutated bundles past the checksums to the decoders. */
eb_status eb_bundle_reseal(const char *name, const uint8_t *data, size_t size, uint8_t **out,
                           size_t *out_n, eb_error *err);

/* Rewrite the bundle in_path as the current version at out_path (may be the
 * same file): loaded and verified first, then resealed (every tensor, the
 * tokenizer and the predictor tables byte for byte the same). */
eb_status eb_bundle_rewrite(const char *in_path, const char *out_path, eb_log_fn log, void *log_ud,
                            eb_error *err);

/* Load a bundle into a model (used by eb_model_load). */
eb_status eb_bundle_load(eb_model *m, const char *path, int use_mmap, eb_error *err);
/* The same from an image in memory that the caller keeps alive and unchanged
 * as long as the model (fixed-memory mode: nothing is copied). */
eb_status eb_bundle_load_buffer(eb_model *m, const char *name, const void *data, size_t size,
                                eb_error *err);

#endif
