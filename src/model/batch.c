/* batch.c - batched classification with early exit (edgebert/batch.h).
 *
 * Sentences are packed row after row in one [rows, H] hidden state and run
 * through the engine's own forward (eb_albert_embed_ex,
 * eb_albert_layer_apply_ex, eb_albert_classify_row_ex in albert.c) with the
 * sentences described in the exec state: every linear runs once over all
 * rows, attention runs per sentence on its own rows, and every AdaptivFloat8
 * quantisation chooses its bias per sentence, so adapters, spans, sparse
 * kernels and every precision are the per-sentence path's.  Each sentence
 * has its own policy state (eb_policy_begin / eb_policy_step, the steps of
 * eb_policy_run): after each layer it reads the sentence's off-ramp and the
 * work the layer did for that sentence (the exec state's per-sentence
 * statistics), charges the accelerator model and applies the exit rules;
 * the sentences that stop are dropped and the rows of the rest are moved
 * down so that the next layer computes only what is still needed.  The
 * result of a stopped sentence is filled by eb_model_fill_result, as
 * eb_classify_ids fills it. */
#include "edgebert/batch.h"

#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "model/model_internal.h"
#include "util/util.h"

/* One sentence of a call, by its index in the call. */
typedef struct sent {
    eb_run_params p;
    eb_policy_params pp;
    eb_policy_state ps;
    eb_sentence_report rep;
    int need_ramps;
    float logits[EB_MAX_LABELS]; /* of the layer it stopped at */
    double flops, flops_dense;
} sent;

struct eb_batch {
    const eb_model *model;
    int max_sentences, max_rows, max_len;
    eb_albert_scratch s;
    eb_albert_exec ex;
    void *block;
    int32_t *ids, *types;         /* [max_rows] packed like the rows */
    int *sid, *off, *len;         /* live sentences: index in the call, first row, rows */
    sent *st;                     /* [max_sentences] by index in the call */
    eb_exec_stats *stats;         /* [max_sentences] by live position: one layer's work */
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
    const size_t ints = 2 * (size_t)max_rows + 3 * (size_t)max_sentences;
    b->block = eb_malloc(&m->alloc, ints * sizeof(int32_t));
    b->st = eb_calloc(&m->alloc, (size_t)max_sentences, sizeof *b->st);
    b->stats = eb_calloc(&m->alloc, (size_t)max_sentences, sizeof *b->stats);
    int ok = b->block && b->st && b->stats &&
             eb_albert_scratch_init_rows(&b->s, &big, max_rows, P, &m->alloc);
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
    *out = b;
    return EB_OK;
}

void eb_batch_free(eb_batch *b) {
    if (!b) return;
    const eb_allocator *a = &b->model->alloc;
    eb_albert_scratch_free(&b->s, a);
    eb_albert_exec_free(&b->ex, a);
    eb_free(a, b->block);
    eb_free(a, b->st);
    eb_free(a, b->stats);
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

/* The off-ramp (or head) of layer l for live sentence j: logits and their
 * flops, counted to the sentence. */
static eb_status ramp(eb_batch *b, const eb_model_task *t, int l, int j, float *logits,
                      eb_error *err) {
    eb_albert_exec *ex = &b->ex;
    const eb_config *c = &t->cfg;
    sent *q = &b->st[b->sid[j]];
    const double f0 = ex->flops, fd0 = ex->flops_dense;
    eb_status st = eb_albert_classify_row_ex(logits, &b->s, ex, c, &t->w, l,
                                             b->s.hidden + (size_t)b->off[j] * c->hidden_size, err);
    if (st != EB_OK) return st;
    q->flops += ex->flops - f0;
    q->flops_dense += ex->flops_dense - fd0;
    for (int i = 0; i < c->num_labels; i++)
        if (!isfinite(logits[i]))
            return eb_fail(err, EB_ERR_NUMERIC, "sentence %d: non-finite logit at layer %d",
                           b->sid[j], l + 1);
    return EB_OK;
}

/* Every sentence of the call through the layers.  params: one per sentence
 * (each) or one for all; full: the whole result into res (statistics
 * counted per sentence), else the short one into out. */
static eb_status run(eb_batch *b, const int32_t *const *ids, const int32_t *const *type_ids,
                     const int *lens, int n, const eb_run_params *params, int each, int full,
                     eb_result *res, eb_batch_result *out, eb_error *err) {
    const eb_model *m = b->model;
    const eb_run_params def = eb_run_params_default();
    const eb_run_params *p0 = params ? params : &def;
    const eb_model_task *t = eb_model_find_task(m, p0->task);
    if (!t) return eb_fail(err, EB_ERR_ARG, "%s: unknown task '%s'", m->path, p0->task);
    const eb_config *c = &t->cfg;
    if (n < 0 || n > b->max_sentences)
        return eb_fail(err, EB_ERR_ARG, "batch: %d sentences, this batch holds %d", n,
                       b->max_sentences);
    const int H = c->hidden_size, L = c->num_hidden_layers;
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
        /* the settings of each sentence; one task, precision and thread count for all */
        const eb_run_params *ps = each ? &params[s] : p0;
        sent *q = &b->st[s];
        if (each && s > 0 &&
            (eb_model_find_task(m, ps->task) != t || ps->precision != p0->precision ||
             ps->threads != p0->threads))
            return eb_fail(err, EB_ERR_ARG,
                           "batch: sentence %d has another task, precision or thread count than "
                           "sentence 0 (a batch runs one task at one precision)",
                           s);
        float thr;
        q->p = *ps;
        eb_status st = eb_model_run_settings(m, t, params ? ps : NULL, &q->p, &thr, err);
        if (st != EB_OK) return eb_fail_prefix(err, "batch: sentence %d", s);
        q->pp = eb_policy_params_from_run(&q->p, t->lut_view.data ? &t->lut_view : NULL);
        q->pp.threshold = thr;
        q->need_ramps = full ? eb_model_need_ramps(t, &q->p)
                             : (eb_policy_info_of(q->p.policy)->needs & EB_POLICY_NEEDS_THRESHOLD) &&
                                   t->w.num_ramps > 0;
        st = eb_policy_begin(&t->hw, &q->pp, L, lens[s], &q->ps, &q->rep, err);
        if (st != EB_OK) return eb_fail_prefix(err, "batch: sentence %d", s);
        q->flops = q->flops_dense = 0;
        if (full) memset(&res[s], 0, sizeof res[s]);
        b->sid[s] = s;
        b->off[s] = rows;
        b->len[s] = lens[s];
        memcpy(b->ids + rows, ids[s], sizeof(int32_t) * (size_t)lens[s]);
        if (type_ids && type_ids[s])
            memcpy(b->types + rows, type_ids[s], sizeof(int32_t) * (size_t)lens[s]);
        else
            memset(b->types + rows, 0, sizeof(int32_t) * (size_t)lens[s]);
        rows += lens[s];
    }
    if (n == 0) return EB_OK;
    eb_albert_exec *ex = &b->ex;
    const eb_precision prec = b->st[0].p.precision;
    if (eb_precision_af8(prec) && !eb_albert_exec_need_af8(ex, &m->alloc))
        return eb_fail(err, EB_ERR_NOMEM, "batch: out of memory for the af8 path's scratch");
    ex->precision = prec;
    ex->threads = b->st[0].p.threads;
    ex->no_stats = !full;
    eb_albert_exec_reset_stats(ex);
    ex->nseq = n, ex->seq_rows = rows, ex->seq_off = b->off, ex->seq_len = b->len;
    memset(b->s.key_valid, 1, (size_t)rows);
    memset(b->stats, 0, sizeof *b->stats * (size_t)n);
    ex->seq_stats = b->stats;
    eb_status st = eb_albert_embed_ex(&b->s, ex, c, &t->w, b->ids, b->types, rows, err);
    for (int s = 0; s < n; s++) {
        b->st[s].flops += b->stats[s].flops;
        b->st[s].flops_dense += b->stats[s].flops_dense;
    }
    int ns = n;
    for (int l = 0; l < L && ns > 0 && st == EB_OK; l++) {
        int heads = 0;
        memset(b->stats, 0, sizeof *b->stats * (size_t)ns);
        ex->seq_stats = b->stats;
        st = eb_albert_layer_apply_ex(&b->s, ex, c, &t->w, &t->extras, l, rows, NULL, &heads, err);
        ex->seq_stats = NULL;
        if (st != EB_OK) break;
        int keep = 0, dst = 0;
        for (int j = 0; j < ns; j++) {
            const int s = b->sid[j];
            sent *q = &b->st[s];
            q->flops += b->stats[j].flops;
            q->flops_dense += b->stats[j].flops_dense;
            if (full) res[s].active_heads[l] = heads;
            /* the off-ramp where the per-sentence engine computes it: every layer, the
             * last; and where the sentence will stop (the layer it answers from) */
            const int last = l == L - 1;
            const int answer = q->need_ramps || last || l + 1 == q->ps.limit;
            float logits[EB_MAX_LABELS], e = 0;
            if (answer) {
                st = ramp(b, t, l, j, logits, err);
                if (st != EB_OK) break;
            }
            if ((q->need_ramps || last) && c->num_labels > 1)
                e = eb_entropy_logits(logits, c->num_labels);
            if (full && (q->need_ramps || last)) {
                int best = 0;
                for (int i = 1; i < c->num_labels; i++)
                    if (logits[i] > logits[best]) best = i;
                res[s].layer_labels[l] = best;
            }
            eb_layer_work w = eb_layer_work_dense(b->len[j]);
            eb_model_layer_work(t, b->len[j], heads, &b->stats[j], &w);
            st = eb_policy_step(&t->hw, &q->pp, &q->ps, e, &w, &q->rep, err);
            if (st != EB_OK) {
                st = eb_fail_prefix(err, "batch: sentence %d", s);
                break;
            }
            if (q->ps.done) {
                if (!answer) { /* cannot happen: a sentence stops where it answers */
                    st = ramp(b, t, l, j, logits, err);
                    if (st != EB_OK) break;
                }
                memcpy(q->logits, logits, sizeof(float) * (size_t)c->num_labels);
                continue;
            }
            /* keep: move its rows down to dst */
            if (b->off[j] != dst)
                memmove(b->s.hidden + (size_t)dst * H, b->s.hidden + (size_t)b->off[j] * H,
                        sizeof(float) * (size_t)b->len[j] * H);
            b->sid[keep] = s;
            b->off[keep] = dst;
            b->len[keep] = b->len[j];
            dst += b->len[j];
            keep++;
        }
        ns = keep;
        rows = dst;
        ex->nseq = ns, ex->seq_rows = rows;
    }
    ex->nseq = 0;
    ex->seq_stats = NULL;
    if (st != EB_OK) return st;
    for (int s = 0; s < n; s++) {
        const sent *q = &b->st[s];
        if (full)
            eb_model_fill_result(&res[s], t, &q->p, &q->rep, q->logits, lens[s], q->need_ramps,
                                 q->flops, q->flops_dense);
        else
            finish(&out[s], q->logits, c->num_labels, q->rep.layers_run);
    }
    return EB_OK;
}

eb_status eb_batch_classify_ids(eb_batch *b, const int32_t *const *ids, const int *lens, int n,
                                const eb_run_params *params, eb_batch_result *out, eb_error *err) {
    return run(b, ids, NULL, lens, n, params, 0, 0, NULL, out, err);
}

eb_status eb_batch_classify_typed(eb_batch *b, const int32_t *const *ids,
                                  const int32_t *const *type_ids, const int *lens, int n,
                                  const eb_run_params *params, eb_batch_result *out,
                                  eb_error *err) {
    return run(b, ids, type_ids, lens, n, params, 0, 0, NULL, out, err);
}

eb_status eb_batch_classify_results(eb_batch *b, const int32_t *const *ids,
                                    const int32_t *const *type_ids, const int *lens, int n,
                                    const eb_run_params *params, eb_result *out, eb_error *err) {
    if (!params && n > 0)
        return eb_fail(err, EB_ERR_ARG, "batch: no run parameters (one per sentence)");
    return run(b, ids, type_ids, lens, n, params, 1, 1, out, NULL, err);
}
