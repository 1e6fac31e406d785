/* batch.c - batched classification with early exit (edgebert/batch.h).
 *
 * Sentences are packed row after row in one [rows, H] hidden state and run
 * through the engine's own forward (eb_albert_embed_ex,
 * eb_albert_layer_apply_ex, eb_albert_classify_row_ex in albert.c) with the
 * sentences described in the exec state: every linear runs once over all
 * rows, attention runs per sentence on its own rows, and every AdaptivFloat8
 * quantisation chooses its bias per sentence, so adapters, spans, sparse
 * kernels and every precision are the per-sentence path's.  After each layer
 * every remaining sentence reads its off-ramp; the sentences that exit (the
 * rules of eb_policy_run: entropy below the threshold, the lai predictor's
 * layer, the last layer) are dropped and the rows of the rest are moved down
 * so that the next layer computes only what is still needed. */
#include "edgebert/batch.h"

#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "model/model_internal.h"
#include "util/util.h"

struct eb_batch {
    const eb_model *model;
    int max_sentences, max_rows, max_len;
    eb_albert_scratch s;
    eb_albert_exec ex;
    void *block;
    int32_t *ids, *types;         /* [max_rows] packed like the rows */
    int *sid, *off, *len, *limit; /* live sentences: original index, first row, rows, last layer */
};

eb_status eb_batch_new(const eb_model *m, int max_sentences, int max_rows, eb_batch **out,
                       eb_error *err) {
    *out = NULL;
    if (max_sentences < 1 || max_rows < 1)
        return eb_fail(err, EB_ERR_ARG, "batch: %d sentences, %d rows: both must be positive",
                       max_sentences, max_rows);
    /* scratch sized for the largest task */
    eb_config big = m->tasks[0].cfg;
    for (int i = 1; i < m->n_tasks; i++) {
        const eb_config *c = &m->tasks[i].cfg;
        big.hidden_size = EB_MAX(big.hidden_size, c->hidden_size);
        big.embedding_size = EB_MAX(big.embedding_size, c->embedding_size);
        big.intermediate_size = EB_MAX(big.intermediate_size, c->intermediate_size);
        big.num_attention_heads = EB_MAX(big.num_attention_heads, c->num_attention_heads);
        big.max_position_embeddings =
            EB_MAX(big.max_position_embeddings, c->max_position_embeddings);
    }
    const int P = EB_MIN(EB_MIN(big.max_position_embeddings, EB_MAX_TOKENS), max_rows);
    const double widest = EB_MAX(big.hidden_size, EB_MAX(big.intermediate_size, big.embedding_size));
    if ((double)max_rows * widest > (double)((size_t)1 << 40) / sizeof(double) ||
        (double)max_sentences > (double)((size_t)1 << 40) / (4 * sizeof(int)))
        return eb_fail(err, EB_ERR_NOMEM, "batch: %d rows is too large", max_rows);
    eb_batch *b = eb_calloc(&m->alloc, 1, sizeof *b);
    if (!b) return eb_fail(err, EB_ERR_NOMEM, "batch: out of memory");
    b->model = m;
    b->max_sentences = max_sentences;
    b->max_rows = max_rows;
    b->max_len = P;
    const size_t ints = 2 * (size_t)max_rows + 4 * (size_t)max_sentences;
    b->block = eb_malloc(&m->alloc, ints * sizeof(int32_t));
    int ok = b->block && eb_albert_scratch_init_rows(&b->s, &big, max_rows, P, &m->alloc);
    ok = ok && eb_albert_exec_init(&b->ex, &big, max_rows, &m->alloc);
    if (!ok) {
        eb_batch_free(b);
        return eb_fail(err, EB_ERR_NOMEM, "batch: out of memory for %d rows", max_rows);
    }
    b->ids = b->block;
    b->types = b->ids + max_rows;
    b->sid = (int *)(b->types + max_rows);
    b->off = b->sid + max_sentences;
    b->len = b->off + max_sentences;
    b->limit = b->len + max_sentences;
    *out = b;
    return EB_OK;
}

void eb_batch_free(eb_batch *b) {
    if (!b) return;
    const eb_allocator *a = &b->model->alloc;
    eb_albert_scratch_free(&b->s, a);
    eb_albert_exec_free(&b->ex, a);
    eb_free(a, b->block);
    eb_free(a, b);
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
    return eb_batch_classify_typed(b, ids, NULL, lens, n, params, out, err);
}

eb_status eb_batch_classify_typed(eb_batch *b, const int32_t *const *ids,
                                  const int32_t *const *type_ids, const int *lens, int n,
                                  const eb_run_params *params, eb_batch_result *out,
                                  eb_error *err) {
    eb_run_params p = params ? *params : eb_run_params_default();
    const eb_model *m = b->model;
    const eb_model_task *t = eb_model_find_task(m, p.task);
    if (!t) return eb_fail(err, EB_ERR_ARG, "%s: unknown task '%s'", m->path, p.task);
    const eb_config *c = &t->cfg;
    float thr;
    eb_status st = eb_model_run_settings(m, t, params, &p, &thr, err);
    if (st != EB_OK) return eb_fail_prefix(err, "batch");
    if (n < 0 || n > b->max_sentences)
        return eb_fail(err, EB_ERR_ARG, "batch: %d sentences, this batch holds %d", n,
                       b->max_sentences);
    const int H = c->hidden_size;
    const int maxlen = EB_MIN(b->max_len, c->max_position_embeddings);
    int rows = 0;
    for (int s = 0; s < n; s++) {
        if (lens[s] <= 0) return eb_fail(err, EB_ERR_INPUT, "sentence %d: no tokens", s);
        if (lens[s] > maxlen)
            return eb_fail(err, EB_ERR_INPUT, "sentence %d: %d tokens, more than %d", s, lens[s],
                           maxlen);
        for (int i = 0; i < lens[s]; i++) {
            if (ids[s][i] < 0 || ids[s][i] >= c->vocab_size)
                return eb_fail(err, EB_ERR_INPUT,
                               "sentence %d: token id %d at position %d outside 0..%d", s,
                               ids[s][i], i, c->vocab_size - 1);
            if (type_ids && type_ids[s] &&
                (type_ids[s][i] < 0 || type_ids[s][i] >= c->type_vocab_size))
                return eb_fail(err, EB_ERR_INPUT,
                               "sentence %d: token type %d at position %d outside 0..%d", s,
                               type_ids[s][i], i, c->type_vocab_size - 1);
        }
        if (rows > b->max_rows - lens[s])
            return eb_fail(err, EB_ERR_ARG, "batch: more than %d tokens in all", b->max_rows);
        b->sid[s] = s;
        b->off[s] = rows;
        b->len[s] = lens[s];
        b->limit[s] = c->num_hidden_layers;
        memcpy(b->ids + rows, ids[s], sizeof(int32_t) * (size_t)lens[s]);
        if (type_ids && type_ids[s])
            memcpy(b->types + rows, type_ids[s], sizeof(int32_t) * (size_t)lens[s]);
        else
            memset(b->types + rows, 0, sizeof(int32_t) * (size_t)lens[s]);
        rows += lens[s];
    }
    if (n == 0) return EB_OK;
    eb_albert_exec *ex = &b->ex;
    if (eb_precision_af8(p.precision) && !eb_albert_exec_need_af8(ex, &m->alloc))
        return eb_fail(err, EB_ERR_NOMEM, "batch: out of memory for the af8 path's scratch");
    ex->precision = p.precision;
    ex->threads = p.threads;
    ex->no_stats = 1;
    ex->nseq = n, ex->seq_rows = rows, ex->seq_off = b->off, ex->seq_len = b->len;
    memset(b->s.key_valid, 1, (size_t)rows);
    st = eb_albert_embed_ex(&b->s, ex, c, &t->w, b->ids, b->types, rows, err);
    /* the exit rules of eb_policy_run for each sentence */
    const int L = c->num_hidden_layers;
    const unsigned needs = eb_policy_info_of(p.policy)->needs; /* checked by run_settings */
    const int offramps = (needs & EB_POLICY_NEEDS_THRESHOLD) != 0;
    const int ramps = offramps && t->w.num_ramps > 0; /* an entropy at every layer */
    const int lai = (needs & EB_POLICY_NEEDS_LUT) != 0;
    int ns = n;
    for (int l = 0; l < L && ns > 0 && st == EB_OK; l++) {
        st = eb_albert_layer_apply_ex(&b->s, ex, c, &t->w, &t->extras, l, rows, NULL, NULL, err);
        if (st != EB_OK) break;
        const int last = l == L - 1;
        if (!ramps && !last && !lai) continue;
        int keep = 0, dst = 0;
        for (int s = 0; s < ns; s++) {
            const int stop = last || l + 1 == b->limit[s];
            float logits[EB_MAX_LABELS], e = 0;
            if (ramps || stop) {
                st = eb_albert_classify_row_ex(logits, &b->s, ex, c, &t->w, l,
                                               b->s.hidden + (size_t)b->off[s] * H, err);
                if (st != EB_OK) break;
                for (int i = 0; i < c->num_labels; i++)
                    if (!isfinite(logits[i]))
                        return eb_fail(err, EB_ERR_NUMERIC,
                                       "sentence %d: non-finite logit at layer %d", b->sid[s],
                                       l + 1);
                if (ramps && c->num_labels > 1) e = eb_entropy_logits(logits, c->num_labels);
            }
            if (stop || (offramps && (double)e < thr)) {
                finish(&out[b->sid[s]], logits, c->num_labels, l + 1);
                continue;
            }
            if (lai && l + 1 == p.predict_after) {
                int pred = eb_exit_lut_predict(&t->lut_view, e, thr, L);
                b->limit[s] = EB_MIN(EB_MAX(pred, p.predict_after + 1), L);
            }
            /* keep: move its rows down to dst */
            if (b->off[s] != dst)
                memmove(b->s.hidden + (size_t)dst * H, b->s.hidden + (size_t)b->off[s] * H,
                        sizeof(float) * (size_t)b->len[s] * H);
            b->sid[keep] = b->sid[s];
            b->off[keep] = dst;
            b->len[keep] = b->len[s];
            b->limit[keep] = b->limit[s];
            dst += b->len[s];
            keep++;
        }
        ns = keep;
        rows = dst;
        ex->nseq = ns, ex->seq_rows = rows;
    }
    ex->nseq = 0;
    return st;
}
