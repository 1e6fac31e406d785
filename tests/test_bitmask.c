/* test_bitmask.c - bitmask sparse layout: masks and packed values checked
 * element by element, lane order against a hand-worked example, decoding,
 * and rejection of inconsistent streams. */
#include "testutil.h"

#include <math.h>

#include "edgebert/quant.h"

static float *random_sparse(int rows, int cols, double density, uint64_t *s) {
    float *w = malloc(sizeof(float) * (size_t)(rows * cols + 1));
    for (int i = 0; i < rows * cols; i++)
        w[i] = eb_test_uniform(s) < density ? (eb_test_uniform(s) * 2 - 1) : 0.0f;
    return w;
}

/* Checks masks and packed values of an fp32 encoding element by element. */
static void check_layout_f32(const eb_bitmask *bm, const float *w, int rows, int cols) {
    int vpr = (cols + 15) / 16;
    assert_int_equal(bm->vpr, vpr);
    size_t k = 0;
    const float *v = bm->values;
    for (int r = 0; r < rows; r++) {
        assert_int_equal(bm->row_ptr[r], k);
        for (int j = 0; j < vpr; j++) {
            uint16_t m = bm->masks[r * vpr + j];
            for (int i = 0; i < 16; i++) {
                int c = 16 * j + i;
                int nz = c < cols && w[r * cols + c] != 0.0f;
                assert_int_equal((m >> i) & 1, nz);
                if (nz) {
                    assert_true(v[k] == w[r * cols + c]);
                    k++;
                }
            }
        }
    }
    assert_int_equal(bm->nnz, k);
    assert_int_equal(bm->row_ptr[rows], k);
}

static void test_encode_decode_f32(void **state) {
    (void)state;
    uint64_t s = 3;
    const int shapes[][2] = {{7, 16}, {5, 17}, {3, 33}, {4, 1}, {6, 100}, {1, 768}, {0, 5}};
    const double dens[] = {0.0, 0.05, 0.3, 0.7, 1.0};
    for (size_t a = 0; a < sizeof shapes / sizeof shapes[0]; a++) {
        for (size_t d = 0; d < sizeof dens / sizeof dens[0]; d++) {
            int rows = shapes[a][0], cols = shapes[a][1];
            float *w = random_sparse(rows, cols, dens[d], &s);
            eb_bitmask bm;
            assert_int_equal(eb_bitmask_encode_f32(&bm, w, rows, cols, NULL, NULL), EB_OK);
            check_layout_f32(&bm, w, rows, cols);
            float *back = malloc(sizeof(float) * (size_t)(rows * cols + 1));
            assert_int_equal(eb_bitmask_decode_f32(&bm, back, NULL), EB_OK);
            for (int i = 0; i < rows * cols; i++)
                assert_true(back[i] == w[i]);
            if (dens[d] == 0.0) assert_int_equal(bm.nnz, 0);
            if (dens[d] == 1.0 && rows) {
                /* every mask full except the padded tail */
                for (int j = 0; j < bm.vpr; j++) {
                    int left = cols - 16 * j;
                    uint16_t want = left >= 16 ? 0xffff : (uint16_t)((1u << left) - 1);
                    assert_int_equal(bm.masks[j], want);
                }
                assert_true(eb_bitmask_density(&bm) == 1.0);
            }
            assert_int_equal(eb_bitmask_bytes(&bm), (size_t)rows * bm.vpr * 2 + bm.nnz * 4);
            free(w), free(back);
            eb_bitmask_free(&bm);
        }
    }
}

static void test_encode_af8(void **state) {
    (void)state;
    uint64_t s = 4;
    int rows = 9, cols = 37;
    float *w = random_sparse(rows, cols, 0.4, &s);
    w[3] = 1e-6f; /* quantises to zero: must leave the mask */
    eb_bitmask bm;
    assert_int_equal(eb_bitmask_encode_af8(&bm, w, rows, cols, -1, EB_AF8_NEAREST, NULL, NULL),
                     EB_OK);
    assert_int_equal(bm.af8_bias, eb_af8_choose_bias(w, (size_t)rows * cols));
    assert_int_equal(bm.masks[0] >> 3 & 1, 0);
    uint8_t *codes = malloc((size_t)rows * cols), *back = malloc((size_t)rows * cols);
    eb_af8_encode(codes, w, (size_t)rows * cols, bm.af8_bias, EB_AF8_NEAREST);
    assert_int_equal(eb_bitmask_decode_codes(&bm, back, NULL), EB_OK);
    assert_memory_equal(codes, back, (size_t)rows * cols);
    float *f = malloc(sizeof(float) * rows * cols);
    assert_int_equal(eb_bitmask_decode_f32(&bm, f, NULL), EB_OK);
    size_t nz = 0;
    for (int i = 0; i < rows * cols; i++) {
        assert_true(f[i] == eb_af8_to_float(codes[i], bm.af8_bias));
        nz += !eb_af8_is_zero(codes[i]);
    }
    assert_int_equal(bm.nnz, nz);
    assert_int_equal(eb_bitmask_bytes(&bm), (size_t)rows * bm.vpr * 2 + nz);
    /* gather rows 8, 0, 8, 3 (an embedding lookup) */
    int32_t ids[4] = {8, 0, 8, 3};
    float *g = malloc(sizeof(float) * 4 * cols);
    assert_int_equal(eb_bitmask_gather_rows(&bm, ids, 4, g, NULL), EB_OK);
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < cols; c++)
            assert_true(g[i * cols + c] == f[ids[i] * cols + c]);
    int32_t bad_id[1] = {rows};
    eb_error gerr;
    assert_int_equal(eb_bitmask_gather_rows(&bm, bad_id, 1, g, &gerr), EB_ERR_ARG);
    bad_id[0] = -1;
    assert_int_equal(eb_bitmask_gather_rows(&bm, bad_id, 1, g, &gerr), EB_ERR_ARG);
    free(g);
    eb_error err;
    eb_bitmask bf;
    assert_int_equal(eb_bitmask_encode_f32(&bf, w, rows, cols, NULL, NULL), EB_OK);
    assert_int_equal(eb_bitmask_decode_codes(&bf, back, &err), EB_ERR_ARG);
    eb_bitmask_free(&bf);
    free(w), free(codes), free(back), free(f);
    eb_bitmask_free(&bm);
}

static void test_lane_order_by_hand(void **state) {
    (void)state;
    /* three vectors: v0 has elements 0 and 2, v1 elements 2 and 15, v2 element 0 */
    uint16_t masks[3] = {0x0005, 0x8004, 0x0001};
    uint8_t packed[5] = {10, 12, 22, 35, 40}; /* v0e0 v0e2 v1e2 v1e15 v2e0 */
    /* lane 0: v0e0, v2e0; lane 2: v0e2, v1e2; lane 15: v1e15 */
    uint8_t want[5] = {10, 40, 12, 22, 35};
    uint8_t lanes[5], again[5], dense[48];
    assert_int_equal(eb_bitmask_packed_to_lanes(lanes, packed, 5, 1, masks, 3, NULL), EB_OK);
    assert_memory_equal(lanes, want, 5);
    assert_int_equal(eb_bitmask_lanes_to_packed(again, lanes, 5, 1, masks, 3, NULL), EB_OK);
    assert_memory_equal(again, packed, 5);
    assert_int_equal(eb_bitmask_lanes_decode(dense, lanes, 5, 1, masks, 3, NULL), EB_OK);
    for (int i = 0; i < 48; i++) {
        int want_v = i == 0 ? 10 : i == 2 ? 12 : i == 18 ? 22 : i == 31 ? 35 : i == 32 ? 40 : 0;
        assert_int_equal(dense[i], want_v);
    }
    eb_error err;
    assert_int_equal(eb_bitmask_packed_to_lanes(lanes, packed, 4, 1, masks, 3, &err),
                     EB_ERR_FORMAT);
    assert_int_equal(eb_bitmask_lanes_decode(dense, lanes, 6, 1, masks, 3, &err), EB_ERR_FORMAT);
    assert_int_equal(eb_bitmask_packed_to_lanes(lanes, packed, 5, 2, masks, 3, &err), EB_ERR_ARG);
}

static void test_lane_round_trip_f32(void **state) {
    (void)state;
    uint64_t s = 11;
    int rows = 13, cols = 64;
    float *w = random_sparse(rows, cols, 0.35, &s);
    eb_bitmask bm;
    assert_int_equal(eb_bitmask_encode_f32(&bm, w, rows, cols, NULL, NULL), EB_OK);
    size_t nv = (size_t)rows * bm.vpr;
    float *lanes = malloc(sizeof(float) * (bm.nnz + 1)),
          *packed = malloc(sizeof(float) * (bm.nnz + 1));
    float *dense = malloc(sizeof(float) * nv * 16);
    assert_int_equal(eb_bitmask_packed_to_lanes(lanes, bm.values, bm.nnz, 4, bm.masks, nv, NULL),
                     EB_OK);
    /* lane i holds element i of the vectors in order */
    size_t k = 0;
    for (int i = 0; i < 16; i++)
        for (size_t v = 0; v < nv; v++)
            if (w[v * 16 + i] != 0.0f) assert_true(lanes[k++] == w[v * 16 + i]);
    assert_int_equal(k, bm.nnz);
    assert_int_equal(eb_bitmask_lanes_to_packed(packed, lanes, bm.nnz, 4, bm.masks, nv, NULL),
                     EB_OK);
    assert_memory_equal(packed, bm.values, bm.nnz * 4);
    assert_int_equal(eb_bitmask_lanes_decode(dense, lanes, bm.nnz, 4, bm.masks, nv, NULL), EB_OK);
    for (int i = 0; i < rows * cols; i++)
        assert_true(dense[i] == w[i]);
    free(w), free(lanes), free(packed), free(dense);
    eb_bitmask_free(&bm);
}

static void test_view_validation(void **state) {
    (void)state;
    /* 2 x 20: two vectors per row, the second with 4 valid columns */
    uint16_t masks[4] = {0x0003, 0x0008, 0x8000, 0x0000};
    float vals[4] = {1, 2, 3, 4};
    eb_bitmask bm;
    eb_error err;
    assert_int_equal(eb_bitmask_view(&bm, 2, 20, EB_BM_F32, 0, masks, 4, vals, 4, NULL, &err),
                     EB_OK);
    assert_int_equal(bm.row_ptr[1], 3);
    float d[40];
    assert_int_equal(eb_bitmask_decode_f32(&bm, d, NULL), EB_OK);
    assert_true(d[0] == 1 && d[1] == 2 && d[19] == 3 && d[20 + 15] == 4 && d[2] == 0);
    eb_bitmask_free(&bm);
    /* stored count disagrees with the popcounts */
    assert_int_equal(eb_bitmask_view(&bm, 2, 20, EB_BM_F32, 0, masks, 4, vals, 3, NULL, &err),
                     EB_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "non-zeros"));
    /* a bit past the last column */
    uint16_t bad[4] = {0x0003, 0x0010, 0x8000, 0x0000};
    assert_int_equal(eb_bitmask_view(&bm, 2, 20, EB_BM_F32, 0, bad, 4, vals, 4, NULL, &err),
                     EB_ERR_FORMAT);
    /* wrong number of masks */
    assert_int_equal(eb_bitmask_view(&bm, 2, 20, EB_BM_F32, 0, masks, 3, vals, 4, NULL, &err),
                     EB_ERR_FORMAT);
    /* AF8: a stored zero code, a bad bias */
    uint8_t codes[4] = {0x11, 0x80, 0x22, 0x33};
    assert_int_equal(eb_bitmask_view(&bm, 2, 20, EB_BM_AF8, 3, masks, 4, codes, 4, NULL, &err),
                     EB_ERR_FORMAT);
    codes[1] = 0x81;
    assert_int_equal(eb_bitmask_view(&bm, 2, 20, EB_BM_AF8, 9, masks, 4, codes, 4, NULL, &err),
                     EB_ERR_FORMAT);
    assert_int_equal(eb_bitmask_view(&bm, 2, 20, EB_BM_AF8, 3, masks, 4, codes, 4, NULL, &err),
                     EB_OK);
    uint8_t dc[40];
    assert_int_equal(eb_bitmask_decode_codes(&bm, dc, NULL), EB_OK);
    assert_int_equal(dc[1], 0x81);
    assert_int_equal(dc[35], 0x33);
    eb_bitmask_free(&bm);
    assert_int_equal(eb_bitmask_view(&bm, -1, 20, EB_BM_F32, 0, masks, 4, vals, 4, NULL, &err),
                     EB_ERR_ARG);
    /* random garbage masks never crash: either accepted (count matches) or rejected */
    uint64_t s = 1;
    for (int it = 0; it < 2000; it++) {
        uint16_t gm[6];
        for (int i = 0; i < 6; i++)
            gm[i] = (uint16_t)eb_test_rng(&s);
        float gv[64] = {0};
        size_t n = eb_test_rng(&s) % 64;
        eb_status st = eb_bitmask_view(&bm, 3, 40, EB_BM_F32, 0, gm, 6, gv, n, NULL, &err);
        if (st == EB_OK) {
            float out[120];
            assert_int_equal(eb_bitmask_decode_f32(&bm, out, NULL), EB_OK);
            eb_bitmask_free(&bm);
        } else {
            assert_int_equal(st, EB_ERR_FORMAT);
        }
    }
}

static void test_tolerant_decode(void **state) {
    (void)state;
    uint64_t s = 31;
    int rows = 6, cols = 64; /* 4 vectors per row, 24 vectors */
    float *w = random_sparse(rows, cols, 0.5, &s);
    for (int i = 0; i < rows * cols; i++)
        if (w[i] != 0) w[i] = 1.0f + (float)i; /* distinct values */
    eb_bitmask bm;
    assert_int_equal(eb_bitmask_encode_f32(&bm, w, rows, cols, NULL, NULL), EB_OK);
    size_t nv = (size_t)rows * bm.vpr, counts[16];
    float *lanes = malloc(sizeof(float) * (bm.nnz + 1)), *d = malloc(sizeof(float) * rows * cols);
    assert_int_equal(eb_bitmask_packed_to_lanes(lanes, bm.values, bm.nnz, 4, bm.masks, nv, NULL),
                     EB_OK);
    eb_bitmask_lane_counts(bm.masks, nv, counts);
    size_t tot = 0;
    for (int i = 0; i < 16; i++)
        tot += counts[i];
    assert_int_equal(tot, bm.nnz);
    /* clean streams decode exactly, both orders */
    assert_int_equal(eb_bitmask_decode_tolerant(d, rows, cols, EB_BM_F32, 0, bm.masks, bm.values,
                                                bm.nnz, EB_BM_ORDER_PACKED, NULL, NULL),
                     EB_OK);
    assert_memory_equal(d, w, sizeof(float) * rows * cols);
    assert_int_equal(eb_bitmask_decode_tolerant(d, rows, cols, EB_BM_F32, 0, bm.masks, lanes,
                                                bm.nnz, EB_BM_ORDER_LANES, counts, NULL),
                     EB_OK);
    assert_memory_equal(d, w, sizeof(float) * rows * cols);
    /* set one mask bit that was clear: vector 5, element i */
    uint16_t *bad = malloc(sizeof(uint16_t) * nv);
    memcpy(bad, bm.masks, sizeof(uint16_t) * nv);
    int i = 0;
    while ((bad[5] >> i) & 1)
        i++;
    assert_true(i < 16);
    bad[5] |= (uint16_t)(1u << i);
    /* lane order: only lane i (elements i, i+16, ... of the stream) from
     * vector 5 on can change */
    assert_int_equal(eb_bitmask_decode_tolerant(d, rows, cols, EB_BM_F32, 0, bad, lanes, bm.nnz,
                                                EB_BM_ORDER_LANES, counts, NULL),
                     EB_OK);
    int changed = 0;
    for (int e = 0; e < rows * cols; e++) {
        if (d[e] != w[e]) {
            changed++;
            assert_int_equal(e % 16, i);
            assert_true(e / 16 >= 5);
        }
    }
    assert_true(changed >= 1);
    /* packed order: everything before the flipped element is intact, and
     * the stream runs one short at the end */
    assert_int_equal(eb_bitmask_decode_tolerant(d, rows, cols, EB_BM_F32, 0, bad, bm.values, bm.nnz,
                                                EB_BM_ORDER_PACKED, NULL, NULL),
                     EB_OK);
    for (int e = 0; e < 5 * 16 + i; e++)
        assert_true(d[e] == w[e]);
    /* too few stored values read as zero, never out of bounds */
    assert_int_equal(eb_bitmask_decode_tolerant(d, rows, cols, EB_BM_F32, 0, bm.masks, bm.values, 3,
                                                EB_BM_ORDER_PACKED, NULL, NULL),
                     EB_OK);
    size_t nz = 0;
    for (int e = 0; e < rows * cols; e++)
        nz += d[e] != 0;
    assert_int_equal(nz, 3);
    free(w), free(lanes), free(d), free(bad);
    eb_bitmask_free(&bm);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_decode_f32),  cmocka_unit_test(test_encode_af8),
        cmocka_unit_test(test_lane_order_by_hand), cmocka_unit_test(test_lane_round_trip_f32),
        cmocka_unit_test(test_view_validation),    cmocka_unit_test(test_tolerant_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
