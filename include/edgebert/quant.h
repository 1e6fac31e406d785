/*
 * edgebert/quant.h - numeric formats and sparse storage of EdgeBERT.
 *
 *  - AdaptivFloat<8,3>, the 8-bit format of the EdgeBERT accelerator
 *    (sign | 3-bit exponent | 4-bit mantissa, per-tensor exponent bias 0..7);
 *  - the general AdaptivFloat<n, n_exp> of the AdaptivFloat paper for design
 *    studies, with a per-tensor exponent-width search;
 *  - bitmask sparse tensors (the accelerator's layout: one 16-bit mask per
 *    16-element vector plus the packed non-zeros), fp32 or AF8 payloads;
 *  - sparse x dense matmul kernels and the AF8 "accelerator arithmetic" matmul;
 *  - magnitude pruning helpers and the cubic kept-fraction schedule.
 */
#ifndef EDGEBERT_QUANT_H
#define EDGEBERT_QUANT_H

#include "edgebert.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* AdaptivFloat<8,3> (accelerator format)                               */
/* ------------------------------------------------------------------ */
/*
 * Byte: sign (bit 7) | exponent e (bits 6..4) | mantissa m (bits 3..0).
 * value = (-1)^s * (1 + m/16) * 2^(e + b - 10), b = per-tensor bias 0..7.
 * 0x00 and 0x80 are zero (the code e = 0, m = 0 is not a number); no
 * denormals.  Largest magnitude 1.9375 * 2^(b-3), smallest normal
 * 1.0625 * 2^(b-10).
 *
 * From float (both modes):  |v| < smallest/2 -> 0 (always the code 0x00);
 * smallest/2 <= |v| < smallest -> +-smallest; |v| > max -> +-max (the sign is
 * kept, unlike the published hardware).  In between, the mantissa is
 * rounded to nearest, ties away from zero (EB_AF8_NEAREST, the fixed-point
 * path) or truncated toward zero (EB_AF8_TRUNC, the float path).  NaN gives
 * 0x00, +-Inf gives +-max.  With EB_AF8_NEAREST the result is always a
 * nearest representable value.
 */
#define EB_AF8_BIAS_MAX 7

typedef enum eb_af8_round { EB_AF8_NEAREST = 0, EB_AF8_TRUNC = 1 } eb_af8_round;

/* Bias for a tensor whose largest magnitude is maxabs:
 * clamp(floor(log2 maxabs) + 3, 0, 7); 0 for maxabs == 0 or NaN, 7 for Inf. */
EB_API int eb_af8_bias_for_max(float maxabs);
/* Largest finite |x[i]| (NaN ignored; Inf counts as Inf). */
EB_API float eb_af8_maxabs(const float *x, size_t n);
/* eb_af8_bias_for_max(eb_af8_maxabs(x, n)). */
EB_API int eb_af8_choose_bias(const float *x, size_t n);

/* Largest and smallest non-zero magnitude of a bias (bias clamped to 0..7). */
EB_API float eb_af8_max_value(int bias);
EB_API float eb_af8_min_normal(int bias);

/* Scalar conversions (bias clamped to 0..7). */
EB_API uint8_t eb_af8_from_float(float v, int bias, eb_af8_round mode);
EB_API float eb_af8_to_float(uint8_t code, int bias);
/* 1 if the code is one of the two zeros. */
static inline int eb_af8_is_zero(uint8_t code) {
    return (code & 0x7f) == 0;
}

/* Tensor conversions with a given bias. */
EB_API void eb_af8_encode(uint8_t *out, const float *x, size_t n, int bias, eb_af8_round mode);
EB_API void eb_af8_decode(float *out, const uint8_t *codes, size_t n, int bias);
/* Encode with the bias chosen from x (eb_af8_choose_bias); returns it. */
EB_API int eb_af8_encode_auto(uint8_t *out, const float *x, size_t n, eb_af8_round mode);
/* Fake quantisation out[i] = decode(encode(x[i])); out may alias x.
 * Chooses the bias from x and returns it. */
EB_API int eb_af8_quantize(float *out, const float *x, size_t n, eb_af8_round mode);
/* The 256 decoded values of a bias: table[code]. */
EB_API void eb_af8_decode_table(float table[256], int bias);

/* ------------------------------------------------------------------ */
/* General AdaptivFloat<nbits, n_exp> (design studies)                  */
/* ------------------------------------------------------------------ */
/*
 * AdaptivFloat paper form: 1 sign bit, n_exp exponent bits, nbits-1-n_exp
 * mantissa bits.  The exponent range adapts to the tensor:
 * exp_max = floor(log2 max|x|), exp_min = exp_max - 2^n_exp + 1; the code
 * with the lowest exponent and a zero mantissa is zero.  Largest value
 * 2^exp_max * (2 - 2^-n_mant), smallest (1 + 2^-n_mant) * 2^exp_min.
 * |v| < smallest/2 -> 0, below smallest -> smallest, above largest ->
 * largest, otherwise the mantissa is rounded to nearest, ties to even.
 * AdaptivFloat<8,3> equals the accelerator format with b = exp_max + 3 (when
 * that is in 0..7) up to ties.
 */
typedef struct eb_af_format {
    int nbits; /* 2..16 */
    int n_exp; /* 1..nbits-1 */
    int exp_max;
} eb_af_format;

/* Format for a tensor (exp_max from its largest magnitude; 0 if all zero). */
EB_API eb_status eb_af_format_for(const float *x, size_t n, int nbits, int n_exp, eb_af_format *out,
                           eb_error *err);
/* Quantise one value in a format. */
EB_API float eb_af_quantize_value(float v, const eb_af_format *f);
/* Fake-quantise a tensor (format chosen from the tensor); out may alias x.
 * *fmt_out may be NULL. */
EB_API eb_status eb_af_quantize(float *out, const float *x, size_t n, int nbits, int n_exp,
                         eb_af_format *fmt_out, eb_error *err);
/* Root-mean-square error of quantising x with AdaptivFloat<nbits, e> for each
 * e = 1..nbits-1: rmse[e] (rmse[0] is set to NAN).  rmse must hold nbits
 * doubles.  *best (may be NULL) receives the e with the smallest error (the
 * smaller e on a tie).  The paper's per-layer exponent-width study. */
EB_API eb_status eb_af_search_exp(const float *x, size_t n, int nbits, double *rmse, int *best,
                           eb_error *err);

/* ------------------------------------------------------------------ */
/* Bitmask sparse tensors                                               */
/* ------------------------------------------------------------------ */
/*
 * A matrix [rows, cols] (row-major) is cut into 16-element vectors along
 * each row: vector j of row r holds columns 16j..16j+15; vpr = ceil(cols/16)
 * vectors per row (the last one padded with zeros when cols % 16 != 0).
 * Each vector has a 16-bit mask, bit i set when element i is non-zero
 * (padding bits are always 0).  masks[r * vpr + j].
 *
 * Row-packed order (EB_BM_ORDER_PACKED, used by our kernels and the bundle):
 * the non-zeros in vector order, and inside a vector by element index, i.e.
 * the non-zeros of the matrix in row-major order.
 *
 * Lane order (EB_BM_ORDER_LANES, the accelerator's decoder buffers): 16 lanes;
 * element i of the k-th vector (in vector order) that has bit i set goes to
 * lane i, slot k.  Serialised here as lane 0's slots, then lane 1's, ...;
 * lane i holds popcount of bit i over all masks.  Decoding replays one
 * counter per lane and inserts zeros.
 *
 * A zero is a value equal to 0.0f (both signs) for fp32 and a zero code
 * (0x00/0x80) for AF8; stored AF8 zeros never appear among the non-zeros.
 */
#define EB_BM_VEC 16

typedef enum eb_bm_payload { EB_BM_F32 = 0, EB_BM_AF8 = 1 } eb_bm_payload;
typedef enum eb_bm_order { EB_BM_ORDER_PACKED = 0, EB_BM_ORDER_LANES = 1 } eb_bm_order;

typedef struct eb_bitmask {
    int rows, cols;
    int vpr; /* vectors per row = ceil(cols / 16) */
    eb_bm_payload payload;
    int af8_bias;          /* AF8 payload: the tensor's bias */
    size_t nnz;            /* number of stored non-zeros */
    const uint16_t *masks; /* rows * vpr */
    const void *values;    /* nnz floats or nnz AF8 codes, packed order */
    uint32_t *row_ptr;     /* rows + 1 offsets into values (always owned) */
    uint16_t *own_masks;   /* owned storage (NULL for views) */
    void *own_values;
    const eb_allocator *alloc;
} eb_bitmask;

/* Encode a dense fp32 matrix with an fp32 payload. */
EB_API eb_status eb_bitmask_encode_f32(eb_bitmask *out, const float *w, int rows, int cols,
                                const eb_allocator *alloc, eb_error *err);
/* Encode a dense fp32 matrix as AF8 (bias chosen from w when bias < 0);
 * values that quantise to zero become zeros of the mask. */
EB_API eb_status eb_bitmask_encode_af8(eb_bitmask *out, const float *w, int rows, int cols, int bias,
                                eb_af8_round mode, const eb_allocator *alloc, eb_error *err);
/* Encode dense AF8 codes [rows, cols]. */
EB_API eb_status eb_bitmask_encode_codes(eb_bitmask *out, const uint8_t *codes, int rows, int cols,
                                  int bias, const eb_allocator *alloc, eb_error *err);
/* A view over stored masks and packed values (e.g. a mapped bundle): checks
 * shapes, that the mask popcounts sum to nnz, that padding bits are clear and
 * (AF8) that no stored value is a zero code; builds row_ptr.  masks and
 * values must outlive the view.  Errors are EB_ERR_FORMAT, never a crash. */
EB_API eb_status eb_bitmask_view(eb_bitmask *out, int rows, int cols, eb_bm_payload payload, int bias,
                          const uint16_t *masks, size_t n_masks, const void *values, size_t nnz,
                          const eb_allocator *alloc, eb_error *err);
EB_API void eb_bitmask_free(eb_bitmask *bm);

/* Dense fp32 [rows, cols] (AF8 payloads decoded). */
EB_API eb_status eb_bitmask_decode_f32(const eb_bitmask *bm, float *out, eb_error *err);
/* Gather rows (an embedding lookup): out[i, :] = row ids[i] decoded to fp32,
 * out is [n, cols].  An id outside 0..rows-1 is EB_ERR_ARG. */
EB_API eb_status eb_bitmask_gather_rows(const eb_bitmask *bm, const int32_t *ids, int n, float *out,
                                 eb_error *err);
/* Dense AF8 codes (AF8 payload only). */
EB_API eb_status eb_bitmask_decode_codes(const eb_bitmask *bm, uint8_t *out, eb_error *err);
/* Fraction of non-zeros (nnz / (rows*cols)). */
EB_API double eb_bitmask_density(const eb_bitmask *bm);
/* Bytes of masks + values as stored. */
EB_API size_t eb_bitmask_bytes(const eb_bitmask *bm);

/* Order conversion over n_vec masks and elements of elem_size bytes (1 or
 * 4).  Both return EB_ERR_FORMAT when the popcounts disagree with nnz. */
EB_API eb_status eb_bitmask_packed_to_lanes(void *lanes, const void *packed, size_t nnz, size_t elem_size,
                                     const uint16_t *masks, size_t n_vec, eb_error *err);
EB_API eb_status eb_bitmask_lanes_to_packed(void *packed, const void *lanes, size_t nnz, size_t elem_size,
                                     const uint16_t *masks, size_t n_vec, eb_error *err);
/* Decode lane-ordered non-zeros straight to dense vectors: dense has
 * n_vec * 16 elements of elem_size bytes (zeros inserted). */
EB_API eb_status eb_bitmask_lanes_decode(void *dense, const void *lanes, size_t nnz, size_t elem_size,
                                  const uint16_t *masks, size_t n_vec, eb_error *err);

/* Decode a possibly corrupted stream the way the hardware replays it, never
 * failing on content: in packed order the masks consume the values in
 * sequence; in lane order each lane has its own counter, so a flipped mask
 * bit only shifts that lane.  lane_count (16 entries, may be NULL) gives the
 * number of values each lane really holds (the separate banks of the
 * hardware; take them with eb_bitmask_lane_counts from the clean masks); NULL
 * derives them from the masks given.  A slot past the stored values (or past
 * its lane) reads as zero, values left over are ignored, mask bits past
 * `cols` are ignored.  For AF8 payloads values are codes decoded with `bias`.
 * dense is [rows, cols]. */
EB_API eb_status eb_bitmask_decode_tolerant(float *dense, int rows, int cols, eb_bm_payload payload,
                                     int bias, const uint16_t *masks, const void *values,
                                     size_t nnz, eb_bm_order order, const size_t *lane_count,
                                     eb_error *err);
/* Per-lane counts (popcount of bit i over n_vec masks). */
EB_API void eb_bitmask_lane_counts(const uint16_t *masks, size_t n_vec, size_t counts[EB_BM_VEC]);

/* ------------------------------------------------------------------ */
/* Sparse kernels                                                       */
/* ------------------------------------------------------------------ */

/* y[N,OC] = x[N,C] . W^T + bias (bias may be NULL) with W [OC,C] bitmask
 * sparse (fp32 or AF8 payload).  scratch: at least eb_sparse_scratch(N, C)
 * floats (NULL: allocated through alloc). */
EB_API size_t eb_sparse_scratch(int N, int C);
EB_API eb_status eb_sparse_matmul(float *y, const float *x, const eb_bitmask *w, const float *bias, int N,
                           float *scratch, const eb_allocator *alloc, eb_error *err);
/* 1 if the sparse kernel is expected to beat the dense (BLAS) one for this
 * shape and weight density (measured rule, see sparse_matmul.c). */
EB_API int eb_sparse_prefer(int N, int C, int OC, float density);
/* Picks the faster path: sparse kernel, or decode to dense_tmp (OC*C floats,
 * may be NULL when the sparse path is certain) and BLAS. */
EB_API eb_status eb_linear_auto(float *y, const float *x, const eb_bitmask *w, const float *bias, int N,
                         float *dense_tmp, float *scratch, const eb_allocator *alloc,
                         eb_error *err);

/* Accelerator arithmetic: AF8 weights (bitmask, AF8 payload) times AF8
 * activations x_codes [N,C] with bias x_bias; exact products summed exactly
 * (double accumulation equals the hardware's wide fixed-point accumulator for
 * C < 32768), plus the fp32 bias, then re-quantised to AF8 with a per-tensor
 * bias chosen from the result (round to nearest).  y_codes [N,OC];
 * *y_bias receives the output bias; y_float (may be NULL) receives the
 * unquantised sums. */
EB_API eb_status eb_af8_matmul(uint8_t *y_codes, int *y_bias, float *y_float, const uint8_t *x_codes,
                        int x_bias, const eb_bitmask *w, const float *bias, int N,
                        const eb_allocator *alloc, eb_error *err);

/* The same computed fast: operands decoded to fp32 (exactly), products
 * summed in fp32 by the sparse kernel or BLAS (whichever eb_sparse_prefer
 * picks), then re-quantised.  Differs from eb_af8_matmul only where the fp32
 * rounding of a sum moves it across an AF8 rounding boundary (then by one
 * AF8 step); use it for whole-model evaluation. */
EB_API eb_status eb_af8_matmul_fast(uint8_t *y_codes, int *y_bias, float *y_float, const uint8_t *x_codes,
                             int x_bias, const eb_bitmask *w, const float *bias, int N,
                             const eb_allocator *alloc, eb_error *err);

/* ------------------------------------------------------------------ */
/* Pruning                                                              */
/* ------------------------------------------------------------------ */

/* Keep exactly k = round(keep_frac * n) entries of largest |w| (on equal
 * magnitudes the lower index is kept), zero the rest.  *kept may be NULL. */
EB_API eb_status eb_prune_magnitude(float *w, size_t n, double keep_frac, const eb_allocator *alloc,
                             size_t *kept, eb_error *err);
/* p-th percentile (0..100) of |w|, numpy's default linear interpolation. */
EB_API eb_status eb_abs_percentile(const float *w, size_t n, double p, const eb_allocator *alloc,
                            float *out, eb_error *err);
/* Zero every entry with |w| below the p-th percentile of |w| (embeddings).
 * *zeroed (may be NULL) receives how many entries are zero afterwards. */
EB_API eb_status eb_prune_percentile(float *w, size_t n, double p, const eb_allocator *alloc,
                              size_t *zeroed, eb_error *err);
/* Movement pruning's cubic kept fraction at `step` of T steps with warm-up
 * ws: t0 for step <= iw*ws, tf for step > T - fw*ws, in between
 * tf + (t0 - tf) * (1 - (step - iw*ws) / (T - (iw+fw)*ws))^3. */
EB_API double eb_prune_cubic_kept(long step, long total_steps, long warmup_steps, double t0, double tf,
                           double iw, double fw);
/* Embedding percentile schedule: 0 before start_frac of the epochs, p_final
 * after end_frac, linear between (EdgeBERT: 0 -> 60 between 10 % and 80 %).
 * epoch counts from 0; the fraction is (epoch + 1) / n_epochs. */
EB_API double eb_prune_embedding_percentile(int epoch, int n_epochs, double p_final, double start_frac,
                                     double end_frac);

#ifdef __cplusplus
}
#endif

#endif /* EDGEBERT_QUANT_H */
