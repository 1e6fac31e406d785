/* albert_ref.c - the plain ALBERT forward (eb_albert_embed,
 * eb_albert_layer_apply, eb_albert_classify_at): fp32 through eb_matmul, no
 * execution forms, no statistics.  The engine never calls it: it is the
 * oracle the tests compare the engine's forward (albert.c, the *_ex
 * functions that the per-sentence and the batched paths share) against. */
#include "model/albert.h"

#include "kernels/kernels.h"

void eb_albert_embed(eb_albert_scratch *s, const eb_config *c, const eb_albert_weights *w,
                     const int32_t *ids, const int32_t *type_ids, int N) {
    const int E = c->embedding_size;
    eb_albert_embed_sum(s->emb, w->word_emb, w->pos_emb, w->type_emb, E, ids, type_ids, N, N);
    eb_layernorm(s->emb, s->emb, w->emb_ln.g, w->emb_ln.b, N, E, c->layer_norm_eps);
    eb_matmul(s->hidden, s->emb, w->map_in.w, w->map_in.b, N, E, c->hidden_size);
}


/* s->attn_out[N,H] += up(gelu_new(down(s->attn_out))).  Scratch: s->q holds
 * the [N, r] bottleneck (r <= H), s->ctx the up-projection; both are free
 * after the attention and after the feed-forward projections. */
static void adapter_apply(eb_albert_scratch *s, const eb_adapter *A, int N, int H) {
    const int r = A->down.out;
    eb_matmul(s->q, s->attn_out, A->down.w, A->down.b, N, H, r);
    eb_gelu_new(s->q, (size_t)N * r);
    eb_matmul(s->ctx, s->q, A->up.w, A->up.b, N, r, H);
    for (size_t i = 0; i < (size_t)N * H; i++)
        s->attn_out[i] += s->ctx[i];
}

void eb_albert_layer_apply(eb_albert_scratch *s, const eb_config *c, const eb_albert_weights *w,
                           const eb_model_extras *x, int l, int N, const uint8_t *head_on,
                           int *active_heads) {
    const int H = c->hidden_size, I = c->intermediate_size, NH = c->num_attention_heads;
    const int HS = H / NH;
    const int per_group = c->num_hidden_layers / c->num_hidden_groups;
    const int g = l / per_group;
    const float eps = c->layer_norm_eps;
    int active = 0;
    for (int inner = 0; inner < c->inner_group_num; inner++) {
        const eb_albert_layer *L = &w->layers[g * c->inner_group_num + inner];
        eb_matmul(s->q, s->hidden, L->q.w, L->q.b, N, H, H);
        eb_matmul(s->k, s->hidden, L->k.w, L->k.b, N, H, H);
        eb_matmul(s->v, s->hidden, L->v.w, L->v.b, N, H, H);
        eb_attention(s->ctx, s->att, s->q, s->k, s->v, N, NH, HS, s->key_valid, L->span_z,
                     x ? x->span_ramp : 1.0f, head_on, 0);
        for (int h = 0; h < NH; h++)
            active += !((head_on && !head_on[h]) ||
                        (L->span_z && eb_span_head_off(L->span_z[h], x ? x->span_ramp : 1.0f)));
        const eb_layer_adapters *A = eb_albert_adapters(w, c, l, inner);
        eb_matmul(s->attn_out, s->ctx, L->o.w, L->o.b, N, H, H);
        if (A) adapter_apply(s, &A->attn, N, H);
        eb_add_layernorm(s->hidden, s->hidden, s->attn_out, L->attn_ln.g, L->attn_ln.b, N, H, eps);
        eb_matmul(s->ffn, s->hidden, L->ffn.w, L->ffn.b, N, H, I);
        eb_albert_activation(s->ffn, (size_t)N * I, c->hidden_act);
        eb_matmul(s->attn_out, s->ffn, L->ffn_out.w, L->ffn_out.b, N, I, H);
        if (A) adapter_apply(s, &A->ffn, N, H);
        eb_add_layernorm(s->hidden, s->hidden, s->attn_out, L->out_ln.g, L->out_ln.b, N, H, eps);
    }
    if (active_heads) *active_heads = active;
}

void eb_albert_classify_at(float *logits, eb_albert_scratch *s, const eb_config *c,
                           const eb_albert_weights *w, int l) {
    const int H = c->hidden_size;
    const eb_linear *pool = &w->pooler, *cls = &w->classifier;
    if (l < c->num_hidden_layers - 1 && l < w->num_ramps && w->ramp_pooler[l].w) {
        pool = &w->ramp_pooler[l];
        cls = &w->ramp_cls[l];
    }
    eb_matmul(s->pooled, s->hidden, pool->w, pool->b, 1, H, H);
    eb_tanh_inplace(s->pooled, (size_t)H);
    eb_matmul(logits, s->pooled, cls->w, cls->b, 1, H, c->num_labels);
}

