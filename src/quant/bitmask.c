/* bitmask.c - the accelerator's bitmask sparse layout: per 16-element vector
 * a 16-bit mask and the non-zeros packed (row-major order, or per lane). */
#include "quant/bitmask.h"

#include <string.h>

#include "util/util.h"

static eb_status check_shape(int rows, int cols, eb_error *err) {
    if (rows < 0 || cols < 0 || (size_t)rows * (size_t)cols > ((size_t)1 << 40))
        return eb_fail(err, EB_ERR_ARG, "bitmask: bad shape %d x %d", rows, cols);
    return EB_OK;
}

static void init(eb_bitmask *bm, int rows, int cols, eb_bm_payload p, int bias,
                 const eb_allocator *alloc) {
    memset(bm, 0, sizeof *bm);
    bm->rows = rows;
    bm->cols = cols;
    bm->vpr = (cols + EB_BM_VEC - 1) / EB_BM_VEC;
    bm->payload = p;
    bm->af8_bias = bias;
    bm->alloc = alloc;
}

void eb_bitmask_free(eb_bitmask *bm) {
    if (!bm) return;
    eb_free(bm->alloc, bm->row_ptr);
    eb_free(bm->alloc, bm->own_masks);
    eb_free(bm->alloc, bm->own_values);
    bm->row_ptr = NULL;
    bm->own_masks = NULL;
    bm->own_values = NULL;
    bm->masks = NULL;
    bm->values = NULL;
}

/* Shared encoder: is_nz(i) over the dense matrix, copy element i to slot k. */
typedef struct enc_src {
    const float *f;
    const uint8_t *c;
} enc_src;

static int src_nonzero(const enc_src *s, size_t i) {
    return s->f ? s->f[i] != 0.0f : !eb_af8_is_zero(s->c[i]);
}

static eb_status encode(eb_bitmask *out, const enc_src *src, int rows, int cols, eb_bm_payload p,
                        int bias, const eb_allocator *alloc, eb_error *err) {
    eb_status st = check_shape(rows, cols, err);
    if (st) return st;
    init(out, rows, cols, p, bias, alloc);
    size_t n_masks = (size_t)rows * (size_t)out->vpr, nnz = 0;
    size_t total = (size_t)rows * (size_t)cols;
    for (size_t i = 0; i < total; i++)
        nnz += src_nonzero(src, i);
    if (nnz > UINT32_MAX) return eb_fail(err, EB_ERR_NOMEM, "bitmask: too many non-zeros");
    size_t esz = p == EB_BM_F32 ? sizeof(float) : 1;
    out->own_masks = eb_calloc(alloc, n_masks ? n_masks : 1, sizeof(uint16_t));
    out->own_values = eb_malloc(alloc, nnz ? nnz * esz : 1);
    out->row_ptr = eb_calloc(alloc, (size_t)rows + 1, sizeof(uint32_t));
    if (!out->own_masks || !out->own_values || !out->row_ptr) {
        eb_bitmask_free(out);
        return eb_fail(err, EB_ERR_NOMEM, "bitmask: out of memory for %d x %d", rows, cols);
    }
    float *vf = out->own_values;
    uint8_t *vc = out->own_values;
    size_t k = 0;
    for (int r = 0; r < rows; r++) {
        out->row_ptr[r] = (uint32_t)k;
        for (int c = 0; c < cols; c++) {
            size_t i = (size_t)r * cols + c;
            if (!src_nonzero(src, i)) continue;
            out->own_masks[(size_t)r * out->vpr + c / EB_BM_VEC] |=
                (uint16_t)(1u << (c % EB_BM_VEC));
            if (p == EB_BM_F32)
                vf[k] = src->f[i];
            else
                vc[k] = src->c[i];
            k++;
        }
    }
    out->row_ptr[rows] = (uint32_t)k;
    out->nnz = nnz;
    out->masks = out->own_masks;
    out->values = out->own_values;
    return EB_OK;
}

eb_status eb_bitmask_encode_f32(eb_bitmask *out, const float *w, int rows, int cols,
                                const eb_allocator *alloc, eb_error *err) {
    enc_src s = {w, NULL};
    return encode(out, &s, rows, cols, EB_BM_F32, 0, alloc, err);
}

eb_status eb_bitmask_encode_codes(eb_bitmask *out, const uint8_t *codes, int rows, int cols,
                                  int bias, const eb_allocator *alloc, eb_error *err) {
    if (bias < 0 || bias > EB_AF8_BIAS_MAX)
        return eb_fail(err, EB_ERR_ARG, "bitmask: AF8 bias %d out of 0..7", bias);
    enc_src s = {NULL, codes};
    return encode(out, &s, rows, cols, EB_BM_AF8, bias, alloc, err);
}

eb_status eb_bitmask_encode_af8(eb_bitmask *out, const float *w, int rows, int cols, int bias,
                                eb_af8_round mode, const eb_allocator *alloc, eb_error *err) {
    eb_status st = check_shape(rows, cols, err);
    if (st) return st;
    size_t n = (size_t)rows * (size_t)cols;
    if (bias < 0) bias = eb_af8_choose_bias(w, n);
    if (bias > EB_AF8_BIAS_MAX)
        return eb_fail(err, EB_ERR_ARG, "bitmask: AF8 bias %d out of 0..7", bias);
    uint8_t *codes = eb_malloc(alloc, n ? n : 1);
    if (!codes) return eb_fail(err, EB_ERR_NOMEM, "bitmask: out of memory for %d x %d", rows, cols);
    eb_af8_encode(codes, w, n, bias, mode);
    st = eb_bitmask_encode_codes(out, codes, rows, cols, bias, alloc, err);
    eb_free(alloc, codes);
    return st;
}

eb_status eb_bitmask_view(eb_bitmask *out, int rows, int cols, eb_bm_payload payload, int bias,
                          const uint16_t *masks, size_t n_masks, const void *values, size_t nnz,
                          const eb_allocator *alloc, eb_error *err) {
    memset(out, 0, sizeof *out);
    eb_status st = check_shape(rows, cols, err);
    if (st) return st;
    if (payload != EB_BM_F32 && payload != EB_BM_AF8)
        return eb_fail(err, EB_ERR_FORMAT, "bitmask: unknown payload type %d", (int)payload);
    if (payload == EB_BM_AF8 && (bias < 0 || bias > EB_AF8_BIAS_MAX))
        return eb_fail(err, EB_ERR_FORMAT, "bitmask: AF8 bias %d out of 0..7", bias);
    init(out, rows, cols, payload, bias, alloc);
    size_t want = (size_t)rows * (size_t)out->vpr;
    if (n_masks != want)
        return eb_fail(err, EB_ERR_FORMAT, "bitmask: %zu masks stored, %d x %d needs %zu", n_masks,
                       rows, cols, want);
    if (nnz > UINT32_MAX) return eb_fail(err, EB_ERR_FORMAT, "bitmask: %zu non-zeros", nnz);
    if ((want && !masks) || (nnz && !values))
        return eb_fail(err, EB_ERR_ARG, "bitmask: missing masks or values");
    out->row_ptr = eb_calloc(alloc, (size_t)rows + 1, sizeof(uint32_t));
    if (!out->row_ptr) return eb_fail(err, EB_ERR_NOMEM, "bitmask: out of memory");
    size_t k = 0;
    for (int r = 0; r < rows; r++) {
        out->row_ptr[r] = (uint32_t)(k > UINT32_MAX ? UINT32_MAX : k);
        for (int j = 0; j < out->vpr; j++) {
            uint16_t m = masks[(size_t)r * out->vpr + j];
            if (m & (uint16_t)~eb_bm_valid_bits(cols, j)) {
                eb_bitmask_free(out);
                return eb_fail(err, EB_ERR_FORMAT,
                               "bitmask: mask of row %d vector %d has bits past column %d", r, j,
                               cols);
            }
            k += (size_t)eb_bm_popcount16(m);
        }
    }
    if (k != nnz) {
        eb_bitmask_free(out);
        return eb_fail(err, EB_ERR_FORMAT,
                       "bitmask: masks mark %zu non-zeros but %zu values are stored", k, nnz);
    }
    out->row_ptr[rows] = (uint32_t)k;
    if (payload == EB_BM_AF8) {
        const uint8_t *c = values;
        for (size_t i = 0; i < nnz; i++) {
            if (eb_af8_is_zero(c[i])) {
                eb_bitmask_free(out);
                return eb_fail(err, EB_ERR_FORMAT, "bitmask: stored non-zero %zu is a zero code",
                               i);
            }
        }
    }
    out->nnz = nnz;
    out->masks = masks;
    out->values = values;
    return EB_OK;
}

eb_status eb_bitmask_decode_f32(const eb_bitmask *bm, float *out, eb_error *err) {
    float table[256];
    if (bm->payload == EB_BM_AF8) eb_af8_decode_table(table, bm->af8_bias);
    const float *vf = bm->values;
    const uint8_t *vc = bm->values;
    size_t k = 0;
    for (int r = 0; r < bm->rows; r++) {
        float *row = out + (size_t)r * bm->cols;
        memset(row, 0, sizeof(float) * (size_t)bm->cols);
        for (int j = 0; j < bm->vpr; j++) {
            unsigned m = bm->masks[(size_t)r * bm->vpr + j];
            while (m) {
                int i = __builtin_ctz(m);
                m &= m - 1;
                int c = j * EB_BM_VEC + i;
                if (k >= bm->nnz || c >= bm->cols)
                    return eb_fail(err, EB_ERR_FORMAT, "bitmask: masks disagree with the values");
                row[c] = bm->payload == EB_BM_F32 ? vf[k] : table[vc[k]];
                k++;
            }
        }
    }
    if (k != bm->nnz) return eb_fail(err, EB_ERR_FORMAT, "bitmask: masks disagree with the values");
    return EB_OK;
}

eb_status eb_bitmask_gather_rows(const eb_bitmask *bm, const int32_t *ids, int n, float *out,
                                 eb_error *err) {
    float table[256];
    if (bm->payload == EB_BM_AF8) eb_af8_decode_table(table, bm->af8_bias);
    const float *vf = bm->values;
    const uint8_t *vc = bm->values;
    for (int i = 0; i < n; i++) {
        int r = ids[i];
        if (r < 0 || r >= bm->rows)
            return eb_fail(err, EB_ERR_ARG, "bitmask: row %d out of 0..%d", r, bm->rows - 1);
        float *row = out + (size_t)i * bm->cols;
        memset(row, 0, sizeof(float) * (size_t)bm->cols);
        size_t k = bm->row_ptr[r], end = bm->row_ptr[r + 1];
        for (int j = 0; j < bm->vpr; j++) {
            unsigned m = bm->masks[(size_t)r * bm->vpr + j];
            while (m) {
                int c = j * EB_BM_VEC + __builtin_ctz(m);
                m &= m - 1;
                if (k >= end || c >= bm->cols)
                    return eb_fail(err, EB_ERR_FORMAT, "bitmask: masks disagree with the values");
                row[c] = bm->payload == EB_BM_F32 ? vf[k] : table[vc[k]];
                k++;
            }
        }
    }
    return EB_OK;
}

eb_status eb_bitmask_decode_codes(const eb_bitmask *bm, uint8_t *out, eb_error *err) {
    if (bm->payload != EB_BM_AF8)
        return eb_fail(err, EB_ERR_ARG, "bitmask: decode to AF8 codes of an fp32 tensor");
    const uint8_t *vc = bm->values;
    size_t k = 0;
    memset(out, 0, (size_t)bm->rows * (size_t)bm->cols);
    for (int r = 0; r < bm->rows; r++) {
        for (int j = 0; j < bm->vpr; j++) {
            unsigned m = bm->masks[(size_t)r * bm->vpr + j];
            while (m) {
                int c = j * EB_BM_VEC + __builtin_ctz(m);
                m &= m - 1;
                if (k >= bm->nnz || c >= bm->cols)
                    return eb_fail(err, EB_ERR_FORMAT, "bitmask: masks disagree with the values");
                out[(size_t)r * bm->cols + c] = vc[k++];
            }
        }
    }
    if (k != bm->nnz) return eb_fail(err, EB_ERR_FORMAT, "bitmask: masks disagree with the values");
    return EB_OK;
}

double eb_bitmask_density(const eb_bitmask *bm) {
    size_t n = (size_t)bm->rows * (size_t)bm->cols;
    return n ? (double)bm->nnz / (double)n : 0.0;
}

size_t eb_bitmask_bytes(const eb_bitmask *bm) {
    return (size_t)bm->rows * (size_t)bm->vpr * sizeof(uint16_t) +
           bm->nnz * (bm->payload == EB_BM_F32 ? sizeof(float) : 1);
}

/* ---- lane order ---- */

/* Per-lane counts and start offsets; checks the total against nnz. */
static eb_status lane_starts(size_t start[EB_BM_VEC], const uint16_t *masks, size_t n_vec,
                             size_t nnz, eb_error *err) {
    size_t cnt[EB_BM_VEC] = {0}, total = 0;
    for (size_t v = 0; v < n_vec; v++) {
        unsigned m = masks[v];
        while (m) {
            cnt[__builtin_ctz(m)]++;
            m &= m - 1;
        }
    }
    for (int i = 0; i < EB_BM_VEC; i++) {
        start[i] = total;
        total += cnt[i];
    }
    if (total != nnz)
        return eb_fail(err, EB_ERR_FORMAT,
                       "bitmask: masks mark %zu non-zeros but %zu values are stored", total, nnz);
    return EB_OK;
}

static eb_status check_esz(size_t esz, eb_error *err) {
    if (esz != 1 && esz != 4)
        return eb_fail(err, EB_ERR_ARG, "bitmask: element size %zu (need 1 or 4)", esz);
    return EB_OK;
}

/* dir 0: packed -> lanes; 1: lanes -> packed; 2: lanes -> dense. */
static eb_status lanes_convert(int dir, void *dst, const void *src, size_t nnz, size_t esz,
                               const uint16_t *masks, size_t n_vec, eb_error *err) {
    size_t pos[EB_BM_VEC];
    eb_status st = check_esz(esz, err);
    if (st) return st;
    if ((st = lane_starts(pos, masks, n_vec, nnz, err))) return st;
    uint8_t *d = dst;
    const uint8_t *s = src;
    if (dir == 2) memset(d, 0, n_vec * EB_BM_VEC * esz);
    size_t k = 0;
    for (size_t v = 0; v < n_vec; v++) {
        unsigned m = masks[v];
        while (m) {
            int i = __builtin_ctz(m);
            m &= m - 1;
            size_t lane_slot = pos[i]++;
            if (dir == 0)
                memcpy(d + lane_slot * esz, s + k * esz, esz);
            else if (dir == 1)
                memcpy(d + k * esz, s + lane_slot * esz, esz);
            else
                memcpy(d + (v * EB_BM_VEC + (size_t)i) * esz, s + lane_slot * esz, esz);
            k++;
        }
    }
    return EB_OK;
}

eb_status eb_bitmask_packed_to_lanes(void *lanes, const void *packed, size_t nnz, size_t elem_size,
                                     const uint16_t *masks, size_t n_vec, eb_error *err) {
    return lanes_convert(0, lanes, packed, nnz, elem_size, masks, n_vec, err);
}

eb_status eb_bitmask_lanes_to_packed(void *packed, const void *lanes, size_t nnz, size_t elem_size,
                                     const uint16_t *masks, size_t n_vec, eb_error *err) {
    return lanes_convert(1, packed, lanes, nnz, elem_size, masks, n_vec, err);
}

eb_status eb_bitmask_lanes_decode(void *dense, const void *lanes, size_t nnz, size_t elem_size,
                                  const uint16_t *masks, size_t n_vec, eb_error *err) {
    return lanes_convert(2, dense, lanes, nnz, elem_size, masks, n_vec, err);
}

eb_status eb_bitmask_decode_tolerant(float *dense, int rows, int cols, eb_bm_payload payload,
                                     int bias, const uint16_t *masks, const void *values,
                                     size_t nnz, eb_bm_order order, const size_t *lane_count,
                                     eb_error *err) {
    eb_status st = check_shape(rows, cols, err);
    if (st) return st;
    if (payload != EB_BM_F32 && payload != EB_BM_AF8)
        return eb_fail(err, EB_ERR_ARG, "bitmask: unknown payload type %d", (int)payload);
    if (order != EB_BM_ORDER_PACKED && order != EB_BM_ORDER_LANES)
        return eb_fail(err, EB_ERR_ARG, "bitmask: unknown order %d", (int)order);
    float table[256];
    eb_af8_decode_table(table, bias);
    const float *vf = values;
    const uint8_t *vc = values;
    int vpr = (cols + EB_BM_VEC - 1) / EB_BM_VEC;
    size_t n_vec = (size_t)rows * (size_t)vpr;
    /* lane order: lane i starts after the slots of lanes 0..i-1 */
    size_t pos[EB_BM_VEC] = {0}, end[EB_BM_VEC] = {0};
    if (order == EB_BM_ORDER_LANES) {
        size_t cnt[EB_BM_VEC], total = 0;
        if (lane_count)
            memcpy(cnt, lane_count, sizeof cnt);
        else
            eb_bitmask_lane_counts(masks, n_vec, cnt);
        for (int i = 0; i < EB_BM_VEC; i++) {
            pos[i] = total;
            total += cnt[i];
            end[i] = total;
        }
    }
    size_t k = 0;
    for (int r = 0; r < rows; r++) {
        float *row = dense + (size_t)r * cols;
        memset(row, 0, sizeof(float) * (size_t)cols);
        for (int j = 0; j < vpr; j++) {
            unsigned m = masks[(size_t)r * vpr + j];
            while (m) {
                int i = __builtin_ctz(m);
                m &= m - 1;
                size_t slot = order == EB_BM_ORDER_LANES ? pos[i]++ : k++;
                if (order == EB_BM_ORDER_LANES && slot >= end[i]) continue;
                int c = j * EB_BM_VEC + i;
                if (c >= cols || slot >= nnz) continue;
                row[c] = payload == EB_BM_F32 ? vf[slot] : table[vc[slot]];
            }
        }
    }
    return EB_OK;
}

void eb_bitmask_lane_counts(const uint16_t *masks, size_t n_vec, size_t counts[EB_BM_VEC]) {
    for (int i = 0; i < EB_BM_VEC; i++)
        counts[i] = 0;
    for (size_t v = 0; v < n_vec; v++) {
        unsigned m = masks[v];
        while (m) {
            counts[__builtin_ctz(m)]++;
            m &= m - 1;
        }
    }
}
