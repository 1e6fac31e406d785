/* batch.c - batched classification with early exit (edgebert/batch.h).
 *
 * Sentences are packed row after row in one [rows, H] hidden state.  A layer
 * is: Q, K, V projections over all rows (one GEMM each), attention per
 * sentence on its own rows, output projection, residual + LayerNorm, FFN with
 * the activation fused into the GEMM, residual + LayerNorm.  After the layer
 * each remaining sentence reads its off-ramp (through eb_albert_classify_at on
 * a view of its [CLS] row); the sentences that exit are dropped and the rows
 * of the rest are moved down so that the next layer's GEMMs see only live
 * rows. */
#include "edgebert/batch.h"

#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "model/model_internal.h"
#include "util/util.h"

struct eb_batch {
    const eb_model *model;
    int max_sentences, max_rows, max_len;
    int H, E, I, NH; /* sizes the scratch was made for */
    void *block;
    float *hidden, *emb, *q, *k, *v, *ctx, *tmp, *ffn, *att, *pooled;
    int *sid, *off, *len; /* live sentences: original index, first row, rows */
    int threads;          /* of the current call (eb_run_params.threads) */
};

/* out = act(inp @ l^T + bias), through the packed copy the model loader made
 * (eb_load_params.pack_weights) when there is one. */
static void linear(float *out, const float *inp, const eb_linear *l, int rows, eb_epilogue ep,
                   int threads) {
    if (l->packed)
        eb_gemm_packed(out, inp, l->packed, l->b, rows, l->in, l->out, ep, threads);
    else
        eb_gemm_nt_ex(EB_GEMM_AUTO, out, l->out, inp, l->in, l->w, l->in, l->b, rows, l->in, l->out,
                      ep, threads);
}

eb_status eb_batch_new(const eb_model *m, int max_sentences, int max_rows, eb_batch **out,
                       eb_error *err) {
    *out = NULL;
    if (max_sentences < 1 || max_rows < 1)
        return eb_fail(err, EB_ERR_ARG, "batch: %d sentences, %d rows: both must be positive",
                       max_sentences, max_rows);
    int H = 0, E = 0, I = 0, NH = 0, P = 0;
    for (int i = 0; i < eb_model_num_tasks(m); i++) {
        const eb_config *c = &m->tasks[i].cfg;
        H = EB_MAX(H, c->hidden_size);
        E = EB_MAX(E, c->embedding_size);
        I = EB_MAX(I, c->intermediate_size);
        NH = EB_MAX(NH, c->num_attention_heads);
        P = EB_MAX(P, c->max_position_embeddings);
    }
    P = EB_MIN(P, EB_MAX_TOKENS);
    const size_t R = (size_t)max_rows, Pn = (size_t)EB_MIN(P, max_rows);
    const size_t sizes[] = {
        R * H, R * E, R * H, R * H, R * H, R * H, R * H, R * I, (size_t)NH * Pn * Pn, (size_t)H};
    enum { NBUF = sizeof sizes / sizeof sizes[0] };
    size_t off[NBUF + 1], total = 0;
    for (int i = 0; i < NBUF; i++) {
        off[i] = total;
        if (sizes[i] > ((size_t)1 << 40) / sizeof(float))
            return eb_fail(err, EB_ERR_NOMEM, "batch: %d rows is too large", max_rows);
        total += (sizes[i] * sizeof(float) + 63) & ~(size_t)63;
    }
    off[NBUF] = total;
    total += 3 * sizeof(int) * (size_t)max_sentences;
    eb_batch *b = eb_calloc(&m->alloc, 1, sizeof *b);
    if (!b) return eb_fail(err, EB_ERR_NOMEM, "batch: out of memory");
    uint8_t *blk = eb_malloc_aligned(&m->alloc, total);
    if (!blk) {
        eb_free(&m->alloc, b);
        return eb_fail(err, EB_ERR_NOMEM, "batch: out of memory for %d rows", max_rows);
    }
    memset(blk, 0, total);
    b->model = m;
    b->max_sentences = max_sentences;
    b->max_rows = max_rows;
    b->max_len = (int)Pn;
    b->H = H, b->E = E, b->I = I, b->NH = NH;
    b->block = blk;
    float **bufs[NBUF] = {&b->hidden, &b->emb, &b->q,   &b->k,   &b->v,
                          &b->ctx,    &b->tmp, &b->ffn, &b->att, &b->pooled};
    for (int i = 0; i < NBUF; i++)
        *bufs[i] = (float *)(blk + off[i]);
    b->sid = (int *)(blk + off[NBUF]);
    b->off = b->sid + max_sentences;
    b->len = b->off + max_sentences;
    *out = b;
    return EB_OK;
}

void eb_batch_free(eb_batch *b) {
    if (!b) return;
    const eb_allocator *a = &b->model->alloc;
    eb_free_aligned(a, b->block);
    eb_free(a, b);
}

/* One layer application over the `rows` packed rows of `ns` sentences. */
static void layer(eb_batch *b, const eb_model_task *t, int l, int ns, int rows) {
    const eb_config *c = &t->cfg;
    const int H = c->hidden_size, NH = c->num_attention_heads;
    const int HS = H / NH;
    const int g = l / (c->num_hidden_layers / c->num_hidden_groups);
    const float eps = c->layer_norm_eps, R = t->extras.span_ramp;
    for (int inner = 0; inner < c->inner_group_num; inner++) {
        const int li = g * c->inner_group_num + inner;
        const eb_albert_layer *L = &t->w.layers[li];
        linear(b->q, b->hidden, &L->q, rows, EB_EPI_NONE, b->threads);
        linear(b->k, b->hidden, &L->k, rows, EB_EPI_NONE, b->threads);
        linear(b->v, b->hidden, &L->v, rows, EB_EPI_NONE, b->threads);
        for (int s = 0; s < ns; s++) {
            const size_t o = (size_t)b->off[s] * H;
            eb_attention(b->ctx + o, b->att, b->q + o, b->k + o, b->v + o, b->len[s], NH, HS, NULL,
                         L->span_z, R, NULL, b->threads);
        }
        linear(b->tmp, b->ctx, &L->o, rows, EB_EPI_NONE, b->threads);
        eb_add_layernorm(b->hidden, b->hidden, b->tmp, L->attn_ln.g, L->attn_ln.b, rows, H, eps);
        linear(b->ffn, b->hidden, &L->ffn, rows, eb_albert_epilogue(c->hidden_act), b->threads);
        linear(b->tmp, b->ffn, &L->ffn_out, rows, EB_EPI_NONE, b->threads);
        eb_add_layernorm(b->hidden, b->hidden, b->tmp, L->out_ln.g, L->out_ln.b, rows, H, eps);
    }
}

static void finish(eb_batch_result *r, const float *logits, int C, int layer) {
    memset(r, 0, sizeof *r);
    r->num_labels = C;
    int best = 0;
    for (int i = 0; i < C; i++) {
        r->logits[i] = logits[i];
        if (logits[i] > logits[best]) best = i;
    }
    r->label = C == 1 ? 0 : best;
    r->exit_layer = layer;
    r->entropy = C > 1 ? eb_entropy_logits(logits, C) : 0.0f;
}

eb_status eb_batch_classify_ids(eb_batch *b, const int32_t *const *ids, const int *lens, int n,
                                const eb_run_params *params, eb_batch_result *out, eb_error *err) {
    eb_run_params p = params ? *params : eb_run_params_default();
    const eb_model *m = b->model;
    const eb_model_task *t = eb_model_find_task(m, p.task);
    if (!t) return eb_fail(err, EB_ERR_ARG, "%s: unknown task '%s'", m->path, p.task);
    const eb_config *c = &t->cfg;
    if (p.policy != EB_POLICY_EE && p.policy != EB_POLICY_BASE)
        return eb_fail(err, EB_ERR_ARG, "batch: only the ee and base policies are batched");
    if (p.precision != EB_PRECISION_FP32)
        return eb_fail(err, EB_ERR_ARG,
                       "batch: only fp32 is batched (AdaptivFloat8 runs one sentence at a time: "
                       "eb_classify)");
    if (p.threads < 0) return eb_fail(err, EB_ERR_ARG, "batch: threads must be >= 0");
    b->threads = p.threads;
    if (n < 0 || n > b->max_sentences)
        return eb_fail(err, EB_ERR_ARG, "batch: %d sentences, this batch holds %d", n,
                       b->max_sentences);
    const int H = c->hidden_size, E = c->embedding_size;
    const int maxlen = EB_MIN(b->max_len, c->max_position_embeddings);
    int rows = 0;
    for (int s = 0; s < n; s++) {
        if (lens[s] <= 0) return eb_fail(err, EB_ERR_INPUT, "sentence %d: no tokens", s);
        if (lens[s] > maxlen)
            return eb_fail(err, EB_ERR_INPUT, "sentence %d: %d tokens, more than %d", s, lens[s],
                           maxlen);
        for (int i = 0; i < lens[s]; i++)
            if (ids[s][i] < 0 || ids[s][i] >= c->vocab_size)
                return eb_fail(err, EB_ERR_INPUT,
                               "sentence %d: token id %d at position %d outside 0..%d", s,
                               ids[s][i], i, c->vocab_size - 1);
        if (rows > b->max_rows - lens[s])
            return eb_fail(err, EB_ERR_ARG, "batch: more than %d tokens in all", b->max_rows);
        b->sid[s] = s;
        b->off[s] = rows;
        b->len[s] = lens[s];
        rows += lens[s];
    }
    float thr = p.threshold < 0 ? t->extras.default_threshold : p.threshold;
    const int ramps = p.policy == EB_POLICY_EE && t->w.num_ramps > 0 && thr >= 0;
    /* embeddings of every row, then one mapping GEMM */
    for (int s = 0; s < n; s++)
        for (int i = 0; i < lens[s]; i++) {
            const float *we = t->w.word_emb + (size_t)ids[s][i] * E;
            const float *pe = t->w.pos_emb + (size_t)i * E;
            const float *te = t->w.type_emb;
            float *o = b->emb + (size_t)(b->off[s] + i) * E;
            for (int e = 0; e < E; e++)
                o[e] = we[e] + pe[e] + te[e];
        }
    eb_layernorm(b->emb, b->emb, t->w.emb_ln.g, t->w.emb_ln.b, rows, E, c->layer_norm_eps);
    linear(b->hidden, b->emb, &t->w.map_in, rows, EB_EPI_NONE, b->threads);
    int ns = n;
    const int L = c->num_hidden_layers;
    for (int l = 0; l < L && ns > 0; l++) {
        layer(b, t, l, ns, rows);
        const int last = l == L - 1;
        if (!ramps && !last) continue;
        int keep = 0, dst = 0;
        for (int s = 0; s < ns; s++) {
            float logits[EB_MAX_LABELS];
            eb_albert_scratch view;
            memset(&view, 0, sizeof view);
            view.hidden = b->hidden + (size_t)b->off[s] * H;
            view.pooled = b->pooled;
            eb_albert_classify_at(logits, &view, c, &t->w, l);
            for (int i = 0; i < c->num_labels; i++)
                if (!isfinite(logits[i]))
                    return eb_fail(err, EB_ERR_NUMERIC, "sentence %d: non-finite logit at layer %d",
                                   b->sid[s], l + 1);
            float e = c->num_labels > 1 ? eb_entropy_logits(logits, c->num_labels) : 0.0f;
            if (last || (double)e < thr) {
                finish(&out[b->sid[s]], logits, c->num_labels, l + 1);
                continue;
            }
            /* keep: move its rows down to dst */
            if (b->off[s] != dst)
                memmove(b->hidden + (size_t)dst * H, b->hidden + (size_t)b->off[s] * H,
                        sizeof(float) * (size_t)b->len[s] * H);
            b->sid[keep] = b->sid[s];
            b->off[keep] = dst;
            b->len[keep] = b->len[s];
            dst += b->len[s];
            keep++;
        }
        ns = keep;
        rows = dst;
    }
    return EB_OK;
}
