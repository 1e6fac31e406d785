/* albert.c - ALBERT forward pass, one layer application at a time. */
#include "model/albert.h"

#include <cblas.h>
#undef I /* cblas.h may bring complex.h's I */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "edgebert/quant.h"
#include "quant/sparse_matmul.h"
#include "kernels/kernels.h"
#include "util/util.h"

int eb_albert_scratch_init(eb_albert_scratch *s, const eb_config *c, int max_n,
                           const eb_allocator *a) {
    return eb_albert_scratch_init_rows(s, c, max_n, max_n, a);
}

int eb_albert_scratch_init_rows(eb_albert_scratch *s, const eb_config *c, int max_rows,
                                int max_len, const eb_allocator *a) {
    memset(s, 0, sizeof *s);
    const size_t N = (size_t)max_rows, H = (size_t)c->hidden_size, E = (size_t)c->embedding_size;
    const size_t I = (size_t)c->intermediate_size, NH = (size_t)c->num_attention_heads;
    const size_t P = (size_t)EB_MIN(max_len, max_rows);
    size_t sizes[] = {N * H, N * E, N * H, N * H, N * H, N * H, N * H, NH * P * P, N * I, H, N};
    size_t total = 0, off[11];
    for (int i = 0; i < 11; i++) {
        off[i] = total;
        total += (sizes[i] * sizeof(float) + 63) & ~(size_t)63;
    }
    uint8_t *block = eb_malloc_aligned(a, total);
    if (!block) return 0;
    memset(block, 0, total);
    s->block = block;
    s->max_n = max_rows;
    s->max_len = (int)P;
    s->hidden = (float *)(block + off[0]);
    s->emb = (float *)(block + off[1]);
    s->q = (float *)(block + off[2]);
    s->k = (float *)(block + off[3]);
    s->v = (float *)(block + off[4]);
    s->ctx = (float *)(block + off[5]);
    s->attn_out = (float *)(block + off[6]);
    s->att = (float *)(block + off[7]);
    s->ffn = (float *)(block + off[8]);
    s->pooled = (float *)(block + off[9]);
    s->key_valid = block + off[10];
    return 1;
}

void eb_albert_scratch_free(eb_albert_scratch *s, const eb_allocator *a) {
    eb_free_aligned(a, s->block);
    memset(s, 0, sizeof *s);
}

void eb_albert_embed_sum(float *out, const float *word, const float *pos, const float *type, int E,
                         const int32_t *ids, const int32_t *types, int N, int T) {
    for (int i = 0; i < N; i++) {
        const float *we = word + (size_t)ids[i] * E;
        const float *pe = pos + (size_t)(i % T) * E;
        const float *te = type + (size_t)(types ? types[i] : 0) * E;
        float *o = out + (size_t)i * E;
        for (int e = 0; e < E; e++)
            o[e] = we[e] + pe[e] + te[e];
    }
}

/* The same from the AdaptivFloat8 codes of the three tables (biases wb, pb, tb). */
static void embed_sum_af8(float *out, const eb_albert_weights *w, int E, const int32_t *ids,
                          const int32_t *types, int N) {
    float tw[256], tp[256], tt[256];
    eb_af8_decode_table(tw, w->word_q8_bias);
    eb_af8_decode_table(tp, w->pos_q8_bias);
    eb_af8_decode_table(tt, w->type_q8_bias);
    for (int i = 0; i < N; i++) {
        const uint8_t *we = w->word_q8 + (size_t)ids[i] * E;
        const uint8_t *pe = w->pos_q8 + (size_t)i * E;
        const uint8_t *te = w->type_q8 + (size_t)(types ? types[i] : 0) * E;
        float *o = out + (size_t)i * E;
        for (int k = 0; k < E; k++)
            o[k] = tw[we[k]] + tp[pe[k]] + tt[te[k]];
    }
}

void eb_albert_activation(float *x, size_t n, eb_activation act) {
    if (act == EB_ACT_GELU)
        eb_gelu_erf(x, n);
    else if (act == EB_ACT_RELU)
        eb_relu(x, n);
    else
        eb_gelu_new(x, n);
}

/* ---- compressed execution ------------------------------------------------ */

int eb_albert_exec_init(eb_albert_exec *e, const eb_config *c, int max_n, const eb_allocator *a) {
    memset(e, 0, sizeof *e);
    e->max_n = max_n;
    e->max_c = EB_MAX(c->hidden_size, EB_MAX(c->intermediate_size, c->embedding_size));
    e->xT = eb_malloc_aligned(a, (size_t)max_n * (size_t)e->max_c * sizeof(float) + 64);
    e->sparse = 1;
    return e->xT != NULL;
}

int eb_albert_exec_need_af8(eb_albert_exec *e, const eb_allocator *a) {
    if (e->block) return 1;
    const size_t N = (size_t)e->max_n, CC = (size_t)e->max_c, RB = EB_EXEC_RB;
    size_t sizes[4] = {N * CC * sizeof(float), N * CC * sizeof(double), RB * CC * sizeof(double),
                       N * RB * sizeof(double)};
    size_t off[4], total = 0;
    for (int i = 0; i < 4; i++) {
        off[i] = total;
        total += (sizes[i] + 63) & ~(size_t)63;
    }
    uint8_t *b = eb_malloc_aligned(a, total);
    if (!b) return 0;
    e->block = b;
    e->xq = (float *)(b + off[0]);
    e->xd = (double *)(b + off[1]);
    e->wd = (double *)(b + off[2]);
    e->yd = (double *)(b + off[3]);
    return 1;
}

void eb_albert_exec_free(eb_albert_exec *e, const eb_allocator *a) {
    eb_free_aligned(a, e->block);
    eb_free_aligned(a, e->xT);
    memset(e, 0, sizeof *e);
}

void eb_albert_exec_reset_stats(eb_albert_exec *e) {
    e->flops = e->flops_dense = 0;
    e->act_n = e->act_nz = e->act_vec = e->act_zvec = 0;
    e->attn_n = e->attn_nz = 0;
    e->sparse_calls = e->dense_calls = e->bf16_calls = 0;
}

/* A run of input columns [c0, c1). */
typedef struct colseg {
    int c0, c1;
} colseg;

/* The batched engine's per-sentence statistics: how many sentences an N-row
 * call splits its counts between (0: none, the call is not over the packed
 * rows or nobody reads them). */
static int seq_split(const eb_albert_exec *e, int N) {
    return e->seq_stats && e->nseq > 0 && N == e->seq_rows ? e->nseq : 0;
}

/* Adds per_row for each of a sentence's rows to its statistic `field`. */
static void seq_rows_add(eb_albert_exec *e, int N, size_t field, double per_row) {
    const int ns = seq_split(e, N);
    for (int j = 0; j < ns; j++) {
        double *v = (double *)(void *)((char *)&e->seq_stats[j] + field);
        *v += (double)e->seq_len[j] * per_row;
    }
}
#define SEQ_ROWS(e, N, f, per_row) seq_rows_add(e, N, offsetof(eb_exec_stats, f), per_row)

/* Zero statistics of a matmul input x[N, C] over the used columns (and, for
 * the batched engine, of each sentence's rows). */
static void act_stats(eb_albert_exec *e, const float *x, int N, int C, const colseg *sg, int nseg) {
    if (e->no_stats) return;
    colseg full = {0, C};
    const int is_full = sg == NULL;
    const int ns = seq_split(e, N);
    if (is_full && !ns && e->reuse_stats && e->have_last && e->last_x == x && e->last_N == N &&
        e->last_C == C) {
        e->act_n += e->last[0];
        e->act_nz += e->last[1];
        e->act_vec += e->last[2];
        e->act_zvec += e->last[3];
        return;
    }
    if (!sg) sg = &full, nseg = 1;
    for (int j = 0; j < (ns ? ns : 1); j++) {
        const int r0 = ns ? e->seq_off[j] : 0, rows = ns ? e->seq_len[j] : N;
        double nz = 0, n = 0, vec = 0, zvec = 0;
        for (int s = 0; s < nseg; s++) {
            const int w = sg[s].c1 - sg[s].c0;
            n += (double)rows * w;
            const int nvec = (w + EB_BM_VEC - 1) / EB_BM_VEC; /* whole vectors */
            vec += (double)rows * nvec;
            for (int r = r0; r < r0 + rows; r++)
                eb_count_nonzero16(x + (size_t)r * C + sg[s].c0, (size_t)w, &nz, &zvec);
        }
        e->act_n += n;
        e->act_nz += nz;
        e->act_vec += vec;
        e->act_zvec += zvec;
        if (ns) {
            eb_exec_stats *t = &e->seq_stats[j];
            t->act_n += n, t->act_nz += nz, t->act_vec += vec, t->act_zvec += zvec;
        } else if (is_full) {
            e->have_last = 1, e->last_x = x, e->last_N = N, e->last_C = C;
            e->last[0] = n, e->last[1] = nz, e->last[2] = vec, e->last[3] = zvec;
        }
    }
}

eb_epilogue eb_albert_epilogue(eb_activation act) {
    return act == EB_ACT_GELU   ? EB_EPI_GELU_ERF
           : act == EB_ACT_RELU ? EB_EPI_RELU
                                : EB_EPI_GELU_NEW;
}

static void apply_epilogue(float *y, int ldy, int N, int OC, eb_epilogue ep) {
    if (ep == EB_EPI_NONE) return;
    const eb_activation act = ep == EB_EPI_GELU_ERF ? EB_ACT_GELU
                              : ep == EB_EPI_RELU   ? EB_ACT_RELU
                                                    : EB_ACT_GELU_NEW;
    for (int n = 0; n < N; n++)
        eb_albert_activation(y + (size_t)n * ldy, (size_t)OC, act);
}

/* The sentences of a call over N rows: how many, and the rows of the j-th. */
static int seq_count(const eb_albert_exec *e, int N) {
    return e->nseq > 0 && N == e->seq_rows ? e->nseq : 1;
}

static void seq_at(const eb_albert_exec *e, int N, int j, int *off, int *len) {
    if (e->nseq > 0 && N == e->seq_rows)
        *off = e->seq_off[j], *len = e->seq_len[j];
    else
        *off = 0, *len = N;
}

/* dst[N, C] = AF8 of src[N, C] (may alias), one per-tensor bias per sentence. */
static void af8_rows(const eb_albert_exec *e, float *dst, const float *src, int N, int C) {
    const int ns = seq_count(e, N);
    for (int j = 0; j < ns; j++) {
        int off, len;
        seq_at(e, N, j, &off, &len);
        const size_t o = (size_t)off * C;
        eb_af8_quantize(dst + o, src + o, (size_t)len * C, EB_AF8_NEAREST);
    }
}

/* lin_run with the activation ep applied to the output (fused into the
 * packed or tiled fp32 kernels; not for AF8, whose caller re-quantises the
 * product before its activation). */
static eb_status lin_run_ep(eb_albert_exec *e, float *y, int ldy, const float *x, int N,
                            const eb_linear *L, int r0, int r1, const colseg *sg, int nseg,
                            eb_epilogue ep, eb_error *err);

/* y[n, o - r0] (row stride ldy) = x[N, C] . W[r0..r1)^T + b over the input
 * columns of the segments (sg == NULL: all).  AF8: x is quantised here; the
 * caller re-quantises the output tensor once it is complete. */
static eb_status lin_run(eb_albert_exec *e, float *y, int ldy, const float *x, int N,
                         const eb_linear *L, int r0, int r1, const colseg *sg, int nseg,
                         eb_error *err) {
    return lin_run_ep(e, y, ldy, x, N, L, r0, r1, sg, nseg, EB_EPI_NONE, err);
}

static eb_status lin_run_ep(eb_albert_exec *e, float *y, int ldy, const float *x, int N,
                            const eb_linear *L, int r0, int r1, const colseg *sg, int nseg,
                            eb_epilogue ep, eb_error *err) {
    const int C = L->in, OC = r1 - r0;
    colseg full = {0, C};
    int is_full = sg == NULL;
    if (!sg) sg = &full, nseg = 1;
    if (N <= 0 || OC <= 0) return EB_OK;
    if (N > e->max_n || C > e->max_c)
        return eb_fail(err, EB_ERR_ARG, "engine: a %dx%d input exceeds the scratch (%dx%d)", N, C,
                       e->max_n, e->max_c);
    double used = 0;
    for (int s = 0; s < nseg; s++)
        used += sg[s].c1 - sg[s].c0;
    if (nseg == 0 || used == 0) { /* no input: the bias alone */
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++)
                y[(size_t)n * ldy + o] = L->b ? L->b[r0 + o] : 0.0f;
        apply_epilogue(y, ldy, N, OC, ep);
        return EB_OK;
    }
    if (eb_precision_af8(e->precision)) {
        const eb_bitmask *q = L->q8;
        if (ep != EB_EPI_NONE)
            return eb_fail(err, EB_ERR_ARG, "engine: no fused activation in the af8 path");
        if (!e->block) return eb_fail(err, EB_ERR_ARG, "engine: af8 scratch not allocated");
        if (!q || q->payload != EB_BM_AF8 || q->rows != L->out || q->cols != C)
            return eb_fail(err, EB_ERR_ARG,
                           "engine: a %dx%d matrix has no AdaptivFloat8 form for --precision af8",
                           L->out, C);
        const size_t nx = (size_t)N * C;
        af8_rows(e, e->xq, x, N, C);
        act_stats(e, e->xq, N, C, is_full ? NULL : sg, nseg);
        if (eb_precision_bf16(e->precision) && L->bf16 && is_full && r0 == 0 &&
            r1 == L->out && ldy == L->out && eb_cpu_has_avx512_bf16()) {
            /* AF8 inputs and weights are exact in bf16: the products are exact,
             * only the fp32 sums round; e->xd is free scratch for the bf16 input */
            eb_gemm_packed_bf16(y, e->xq, L->bf16, L->b, N, C, OC, EB_EPI_NONE, (uint16_t *)e->xd,
                                e->threads);
            e->flops += 2.0 * N * OC * used;
            SEQ_ROWS(e, N, flops, 2.0 * OC * used);
            e->dense_calls++;
            e->bf16_calls++;
            return EB_OK;
        }
        for (size_t i = 0; i < nx; i++)
            e->xd[i] = e->xq[i];
        float wt[256];
        eb_af8_decode_table(wt, q->af8_bias);
        const uint8_t *codes = q->values;
        for (int rb0 = r0; rb0 < r1; rb0 += EB_EXEC_RB) {
            const int rb = EB_MIN(EB_EXEC_RB, r1 - rb0);
            double *wd = e->wd;
            memset(wd, 0, sizeof(double) * (size_t)rb * C);
            for (int o = 0; o < rb; o++) {
                size_t k = q->row_ptr[rb0 + o];
                const uint16_t *mrow = q->masks + (size_t)(rb0 + o) * q->vpr;
                double *wr = wd + (size_t)o * C;
                for (int j = 0; j < q->vpr; j++)
                    for (unsigned m = mrow[j]; m; m &= m - 1)
                        wr[j * EB_BM_VEC + __builtin_ctz(m)] = wt[codes[k++]];
            }
            /* Every product of two AF8 values is a multiple of 2^-28 below
             * 2^10 and every partial sum (C < 2^15 terms) stays below 2^25, so
             * all of them are exact in double whatever order BLAS sums in:
             * the result equals eb_af8_matmul's exact accumulation. */
            for (int s = 0; s < nseg; s++)
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, rb, sg[s].c1 - sg[s].c0,
                            1.0, e->xd + sg[s].c0, C, wd + sg[s].c0, C, s ? 1.0 : 0.0, e->yd, rb);
            for (int n = 0; n < N; n++)
                for (int o = 0; o < rb; o++) {
                    double acc = e->yd[(size_t)n * rb + o];
                    if (L->b) acc += L->b[rb0 + o];
                    y[(size_t)n * ldy + (rb0 - r0) + o] = (float)acc;
                }
        }
        e->flops += 2.0 * N * OC * used;
        SEQ_ROWS(e, N, flops, 2.0 * OC * used);
        e->dense_calls++;
        return EB_OK;
    }
    act_stats(e, x, N, C, is_full ? NULL : sg, nseg);
    const int whole = is_full && r0 == 0 && r1 == L->out && ldy == L->out;
    if (whole && e->sparse && L->sparse && L->sparse->rows == L->out && L->sparse->cols == C &&
        eb_sparse_prefer(N, C, L->out, (float)eb_bitmask_density(L->sparse))) {
        eb_status st =
            eb_sparse_matmul_isa(y, x, L->sparse, L->b, N, e->xT, NULL, err, -1, e->threads);
        if (st != EB_OK) return st;
        apply_epilogue(y, ldy, N, OC, ep);
        e->flops += 2.0 * N * (double)L->sparse->nnz;
        SEQ_ROWS(e, N, flops, 2.0 * (double)L->sparse->nnz);
        e->sparse_calls++;
        return EB_OK;
    }
    e->dense_calls++;
    e->flops += 2.0 * N * OC * used;
    SEQ_ROWS(e, N, flops, 2.0 * OC * used);
    if (whole) {
        if (L->packed)
            eb_gemm_packed(y, x, L->packed, L->b, N, C, OC, ep, e->threads);
        else
            eb_gemm_nt_ex(EB_GEMM_AUTO, y, OC, x, C, L->w, C, L->b, N, C, OC, ep, e->threads);
        return EB_OK;
    }
    /* Runs of rows and of input columns through the strided tiles: the first
     * run writes y (with the bias), every further one goes through e->xT (free
     * on the dense path: only the sparse kernel uses it) and is added. */
    const float *w0 = L->w + (size_t)r0 * C;
    eb_gemm_nt_ex(EB_GEMM_AUTO, y, ldy, x + sg[0].c0, C, w0 + sg[0].c0, C, L->b ? L->b + r0 : NULL,
                  N, sg[0].c1 - sg[0].c0, OC, nseg == 1 ? ep : EB_EPI_NONE, e->threads);
    for (int s = 1; s < nseg; s++) {
        float *t = e->xT;
        eb_gemm_nt_ex(EB_GEMM_AUTO, t, OC, x + sg[s].c0, C, w0 + sg[s].c0, C, NULL, N,
                      sg[s].c1 - sg[s].c0, OC, EB_EPI_NONE, e->threads);
        for (int n = 0; n < N; n++)
            eb_add_inplace(y + (size_t)n * ldy, t + (size_t)n * OC, (size_t)OC);
    }
    if (nseg > 1) apply_epilogue(y, ldy, N, OC, ep);
    return EB_OK;
}

/* AF8 re-quantisation of a complete output y[N, C] (fp32: nothing). */
static void requant(const eb_albert_exec *e, float *y, int N, int C) {
    if (eb_precision_af8(e->precision)) af8_rows(e, y, y, N, C);
}

eb_status eb_albert_embed_ex(eb_albert_scratch *s, eb_albert_exec *e, const eb_config *c,
                             const eb_albert_weights *w, const int32_t *ids,
                             const int32_t *type_ids, int N, eb_error *err) {
    const int E = c->embedding_size, H = c->hidden_size;
    if (e->nseq > 0 && N != e->seq_rows)
        return eb_fail(err, EB_ERR_ARG, "engine: %d rows, the sentences hold %d", N, e->seq_rows);
    const int af8 = eb_precision_af8(e->precision);
    if (af8 && (!w->word_q8 || !w->pos_q8 || !w->type_q8))
        return eb_fail(err, EB_ERR_ARG,
                       "engine: the embeddings have no AdaptivFloat8 form for --precision af8");
    /* every sentence's positions count from 0 */
    const int ns = seq_count(e, N);
    for (int j = 0; j < ns; j++) {
        int off, len;
        seq_at(e, N, j, &off, &len);
        const int32_t *tj = type_ids ? type_ids + off : NULL;
        float *o = s->emb + (size_t)off * E;
        if (af8)
            embed_sum_af8(o, w, E, ids + off, tj, len);
        else
            eb_albert_embed_sum(o, w->word_emb, w->pos_emb, w->type_emb, E, ids + off, tj, len,
                                len);
    }
    eb_layernorm(s->emb, s->emb, w->emb_ln.g, w->emb_ln.b, N, E, c->layer_norm_eps);
    e->flops_dense += eb_linear_flops(N, H, E);
    SEQ_ROWS(e, N, flops_dense, eb_linear_flops(1, H, E));
    eb_status st = lin_run(e, s->hidden, H, s->emb, N, &w->map_in, 0, H, NULL, 0, err);
    requant(e, s->hidden, N, H);
    return st;
}

#define EB_EXEC_MAX_HEADS 1024

/* The adapter in the engine's arithmetic: both projections through lin_run
 * (AF8: quantised inputs, AF8 weights, re-quantised outputs), gelu_new and the
 * adapter's residual add in fp32 like the other element-wise operations. */
static eb_status adapter_apply_ex(eb_albert_scratch *s, eb_albert_exec *e, const eb_adapter *A,
                                  int N, int H, eb_error *err) {
    const int r = A->down.out;
    e->flops_dense += 2 * eb_linear_flops(N, r, H);
    SEQ_ROWS(e, N, flops_dense, 2 * eb_linear_flops(1, r, H));
    eb_status st = lin_run(e, s->q, r, s->attn_out, N, &A->down, 0, r, NULL, 0, err);
    if (st != EB_OK) return st;
    requant(e, s->q, N, r);
    eb_gelu_new(s->q, (size_t)N * r);
    st = lin_run(e, s->ctx, H, s->q, N, &A->up, 0, H, NULL, 0, err);
    if (st != EB_OK) return st;
    requant(e, s->ctx, N, H);
    for (size_t i = 0; i < (size_t)N * H; i++)
        s->attn_out[i] += s->ctx[i];
    return EB_OK;
}

/* Attention of every sentence on its own rows of s->q, s->k, s->v into
 * s->ctx (AF8: P.V again with the probabilities quantised per head). */
static void attention_ex(eb_albert_scratch *s, eb_albert_exec *e, const eb_albert_layer *L, int N,
                         int NH, int HS, float R, const uint8_t *on, int n_on) {
    const int H = NH * HS;
    const int ns = seq_count(e, N), split = seq_split(e, N);
    for (int j = 0; j < ns; j++) {
        int off, n;
        seq_at(e, N, j, &off, &n);
        const size_t o = (size_t)off * H;
        eb_attention(s->ctx + o, s->att, s->q + o, s->k + o, s->v + o, n, NH, HS, s->key_valid + off,
                     L->span_z, R, on, e->threads);
        e->flops += 4.0 * n * n * HS * n_on;
        if (split) e->seq_stats[j].flops += 4.0 * n * n * HS * n_on;
        for (int h = 0; h < NH; h++) {
            if (!on[h]) continue;
            float *A = s->att + (size_t)h * n * n;
            if (eb_precision_af8(e->precision)) { /* P.V with AF8 probabilities */
                eb_af8_quantize(A, A, (size_t)n * n, EB_AF8_NEAREST);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, HS, n, 1.0f, A, n,
                            s->v + o + h * HS, H, 0.0f, s->ctx + o + h * HS, H);
            }
            if (e->no_stats) continue;
            double zv = 0, nz = 0;
            eb_count_nonzero16(A, (size_t)n * n, &nz, &zv);
            e->attn_nz += nz;
            e->attn_n += (double)n * n;
            if (split) e->seq_stats[j].attn_nz += nz, e->seq_stats[j].attn_n += (double)n * n;
        }
    }
}

eb_status eb_albert_layer_apply_ex(eb_albert_scratch *s, eb_albert_exec *e, const eb_config *c,
                                   const eb_albert_weights *w, const eb_model_extras *x, int l,
                                   int N, const uint8_t *head_on, int *active_heads,
                                   eb_error *err) {
    const int H = c->hidden_size, I = c->intermediate_size, NH = c->num_attention_heads;
    const int HS = H / NH;
    const int per_group = c->num_hidden_layers / c->num_hidden_groups;
    const int g = l / per_group;
    const float eps = c->layer_norm_eps, R = x ? x->span_ramp : 1.0f;
    if (NH > EB_EXEC_MAX_HEADS)
        return eb_fail(err, EB_ERR_UNSUPPORTED, "engine: more than %d heads", EB_EXEC_MAX_HEADS);
    if (e->nseq > 0 && N != e->seq_rows)
        return eb_fail(err, EB_ERR_ARG, "engine: %d rows, the sentences hold %d", N, e->seq_rows);
    double sq = 0; /* sum of the sentences' squared lengths: the attention's size */
    for (int j = 0, ns = seq_count(e, N); j < ns; j++) {
        int off, len;
        seq_at(e, N, j, &off, &len);
        sq += (double)len * len;
    }
    uint8_t on[EB_EXEC_MAX_HEADS];
    colseg segs[EB_EXEC_MAX_HEADS];
    int active = 0;
    eb_status st = EB_OK;
    for (int inner = 0; inner < c->inner_group_num && st == EB_OK; inner++) {
        const eb_albert_layer *L = &w->layers[g * c->inner_group_num + inner];
        const eb_layer_adapters *AD = eb_albert_adapters(w, c, l, inner);
        int n_on = 0, nseg = 0;
        for (int h = 0; h < NH; h++) {
            on[h] = !((head_on && !head_on[h]) || (L->span_z && eb_span_head_off(L->span_z[h], R)));
            n_on += on[h];
            if (!on[h]) continue;
            if (nseg && segs[nseg - 1].c1 == h * HS)
                segs[nseg - 1].c1 += HS;
            else
                segs[nseg++] = (colseg){h * HS, h * HS + HS};
        }
        active += n_on;
        e->flops_dense += 4 * eb_linear_flops(N, H, H) + 2 * eb_linear_flops(N, I, H) + 4.0 * sq * H;
        SEQ_ROWS(e, N, flops_dense, 4 * eb_linear_flops(1, H, H) + 2 * eb_linear_flops(1, I, H));
        for (int j = 0, nj = seq_split(e, N); j < nj; j++)
            e->seq_stats[j].flops_dense += 4.0 * e->seq_len[j] * e->seq_len[j] * H;
        float *qkv[3] = {s->q, s->k, s->v};
        const eb_linear *lq[3] = {&L->q, &L->k, &L->v};
        /* Q, K and V (and every head segment of them) read the same input:
         * its zero statistics are counted once */
        e->reuse_stats = 1, e->have_last = 0;
        /* fp32 with the heads the spans switch off: the packed on-head form */
        uint64_t mask = 0;
        for (int h = 0; h < NH && h < 64; h++)
            mask |= (uint64_t)on[h] << h;
        const int some_off = n_on > 0 && n_on < NH && NH <= 64 && mask == L->on_mask;
        /* af8-bf16: the same selections of the AF8 forms in bf16, on the AF8
         * input (quantised as a whole, as the af8 path does) */
        const int compact_bf16 = some_off && eb_precision_bf16(e->precision) &&
                                 L->o_on_bf16 && e->block && eb_cpu_has_avx512_bf16();
        const int compact =
            compact_bf16 || (some_off && !eb_precision_af8(e->precision) && L->o_on_packed);
        const int W = n_on * HS;
        for (int j = 0; j < 3 && st == EB_OK; j++) {
            if (compact) {
                float *t = e->xT; /* [N, W], then scattered to the heads' columns */
                if (compact_bf16) {
                    af8_rows(e, e->xq, s->hidden, N, H);
                    act_stats(e, e->xq, N, H, NULL, 0);
                    eb_gemm_packed_bf16(t, e->xq, L->qkv_on_bf16[j], L->qkv_on_bias[j], N, H, W,
                                        EB_EPI_NONE, (uint16_t *)e->xd, e->threads);
                    e->bf16_calls++;
                } else {
                    act_stats(e, s->hidden, N, H, NULL, 0);
                    eb_gemm_packed(t, s->hidden, L->qkv_on_packed[j], L->qkv_on_bias[j], N, H, W,
                                   EB_EPI_NONE, e->threads);
                }
                e->flops += 2.0 * N * W * H;
                SEQ_ROWS(e, N, flops, 2.0 * W * H);
                e->dense_calls++;
                for (int i = 0; i < N; i++) {
                    float *row = qkv[j] + (size_t)i * H;
                    memset(row, 0, sizeof(float) * (size_t)H);
                    for (int k = 0, off = 0; k < nseg; off += segs[k].c1 - segs[k].c0, k++)
                        memcpy(row + segs[k].c0, t + (size_t)i * W + off,
                               sizeof(float) * (size_t)(segs[k].c1 - segs[k].c0));
                }
            } else if (n_on == NH) {
                st = lin_run(e, qkv[j], H, s->hidden, N, lq[j], 0, H, NULL, 0, err);
            } else {
                /* only the rows of the heads that are on; the others' slices are zero */
                for (int i = 0; i < N; i++)
                    memset(qkv[j] + (size_t)i * H, 0, sizeof(float) * (size_t)H);
                for (int k = 0; k < nseg && st == EB_OK; k++)
                    st = lin_run(e, qkv[j] + segs[k].c0, H, s->hidden, N, lq[j], segs[k].c0,
                                 segs[k].c1, NULL, 0, err);
            }
            requant(e, qkv[j], N, H);
        }
        e->reuse_stats = 0, e->have_last = 0;
        if (st != EB_OK) break;
        attention_ex(s, e, L, N, NH, HS, R, on, n_on);
        if (compact) { /* gather the on heads' context columns, then the packed O */
            float *t = e->xT;
            const float *src = s->ctx;
            if (compact_bf16) { /* AF8 of the whole context, as the af8 path quantises it */
                af8_rows(e, e->xq, s->ctx, N, H);
                src = e->xq;
            }
            for (int i = 0; i < N; i++)
                for (int k = 0, off = 0; k < nseg; off += segs[k].c1 - segs[k].c0, k++)
                    memcpy(t + (size_t)i * W + off, src + (size_t)i * H + segs[k].c0,
                           sizeof(float) * (size_t)(segs[k].c1 - segs[k].c0));
            act_stats(e, src, N, H, segs, nseg);
            if (compact_bf16) {
                eb_gemm_packed_bf16(s->attn_out, t, L->o_on_bf16, L->o.b, N, W, H, EB_EPI_NONE,
                                    (uint16_t *)e->xd, e->threads);
                e->bf16_calls++;
            } else
                eb_gemm_packed(s->attn_out, t, L->o_on_packed, L->o.b, N, W, H, EB_EPI_NONE,
                               e->threads);
            e->flops += 2.0 * N * H * W;
            SEQ_ROWS(e, N, flops, 2.0 * H * W);
            e->dense_calls++;
        } else if (n_on == NH)
            st = lin_run(e, s->attn_out, H, s->ctx, N, &L->o, 0, H, NULL, 0, err);
        else
            st = lin_run(e, s->attn_out, H, s->ctx, N, &L->o, 0, H, segs, nseg, err);
        if (st != EB_OK) break;
        requant(e, s->attn_out, N, H);
        if (AD) st = adapter_apply_ex(s, e, &AD->attn, N, H, err);
        if (st != EB_OK) break;
        eb_add_layernorm(s->hidden, s->hidden, s->attn_out, L->attn_ln.g, L->attn_ln.b, N, H, eps);
        /* fp32: the activation fused into the product; af8: after re-quantising */
        const int fuse = !eb_precision_af8(e->precision);
        st = lin_run_ep(e, s->ffn, I, s->hidden, N, &L->ffn, 0, I, NULL, 0,
                        fuse ? eb_albert_epilogue(c->hidden_act) : EB_EPI_NONE, err);
        if (st != EB_OK) break;
        if (!fuse) {
            requant(e, s->ffn, N, I);
            eb_albert_activation(s->ffn, (size_t)N * I, c->hidden_act);
        }
        st = lin_run(e, s->attn_out, H, s->ffn, N, &L->ffn_out, 0, H, NULL, 0, err);
        if (st != EB_OK) break;
        requant(e, s->attn_out, N, H);
        if (AD) st = adapter_apply_ex(s, e, &AD->ffn, N, H, err);
        if (st != EB_OK) break;
        eb_add_layernorm(s->hidden, s->hidden, s->attn_out, L->out_ln.g, L->out_ln.b, N, H, eps);
    }
    if (active_heads) *active_heads = active;
    return st;
}

eb_status eb_albert_classify_row_ex(float *logits, eb_albert_scratch *s, eb_albert_exec *e,
                                    const eb_config *c, const eb_albert_weights *w, int l,
                                    const float *row, eb_error *err) {
    const int H = c->hidden_size, C = c->num_labels;
    const eb_linear *pool = &w->pooler, *cls = &w->classifier;
    if (l < c->num_hidden_layers - 1 && l < w->num_ramps && w->ramp_pooler[l].w) {
        pool = &w->ramp_pooler[l];
        cls = &w->ramp_cls[l];
    }
    e->flops_dense += eb_linear_flops(1, H, H) + eb_linear_flops(1, C, H);
    eb_status st = lin_run(e, s->pooled, H, row, 1, pool, 0, H, NULL, 0, err);
    if (st != EB_OK) return st;
    requant(e, s->pooled, 1, H);
    eb_tanh_inplace(s->pooled, (size_t)H);
    st = lin_run(e, logits, C, s->pooled, 1, cls, 0, C, NULL, 0, err);
    requant(e, logits, 1, C);
    return st;
}

eb_status eb_albert_classify_at_ex(float *logits, eb_albert_scratch *s, eb_albert_exec *e,
                                   const eb_config *c, const eb_albert_weights *w, int l,
                                   eb_error *err) {
    return eb_albert_classify_row_ex(logits, s, e, c, w, l, s->hidden, err);
}
