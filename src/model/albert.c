/* albert.c - ALBERT forward pass, one layer application at a time. */
#include "model/albert.h"

#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "util/util.h"

int eb_albert_scratch_init(eb_albert_scratch *s, const eb_config *c, int max_n,
                           const eb_allocator *a) {
    memset(s, 0, sizeof *s);
    const size_t N = (size_t)max_n, H = (size_t)c->hidden_size, E = (size_t)c->embedding_size;
    const size_t I = (size_t)c->intermediate_size, NH = (size_t)c->num_attention_heads;
    size_t sizes[] = {N * H, N * E, N * H, N * H, N * H, N * H, N * H, NH * N * N, N * I, H, N};
    size_t total = 0, off[11];
    for (int i = 0; i < 11; i++) {
        off[i] = total;
        total += (sizes[i] * sizeof(float) + 63) & ~(size_t)63;
    }
    uint8_t *block = eb_malloc_aligned(a, total);
    if (!block) return 0;
    memset(block, 0, total);
    s->block = block;
    s->max_n = max_n;
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

void eb_albert_embed(eb_albert_scratch *s, const eb_config *c, const eb_albert_weights *w,
                     const int32_t *ids, const int32_t *type_ids, int N) {
    const int E = c->embedding_size;
    for (int i = 0; i < N; i++) {
        const float *we = w->word_emb + (size_t)ids[i] * E;
        const float *pe = w->pos_emb + (size_t)i * E;
        const float *te = w->type_emb + (size_t)(type_ids ? type_ids[i] : 0) * E;
        float *o = s->emb + (size_t)i * E;
        for (int e = 0; e < E; e++) o[e] = we[e] + pe[e] + te[e];
    }
    eb_layernorm(s->emb, s->emb, w->emb_ln.g, w->emb_ln.b, N, E, c->layer_norm_eps);
    eb_matmul(s->hidden, s->emb, w->map_in.w, w->map_in.b, N, E, c->hidden_size);
}

static void activation(float *x, size_t n, eb_activation act) {
    if (act == EB_ACT_GELU) eb_gelu_erf(x, n);
    else if (act == EB_ACT_RELU) eb_relu(x, n);
    else eb_gelu_new(x, n);
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
                     x ? x->span_ramp : 1.0f, head_on);
        for (int h = 0; h < NH; h++)
            active += !((head_on && !head_on[h]) ||
                        (L->span_z && eb_span_head_off(L->span_z[h], x ? x->span_ramp : 1.0f)));
        eb_matmul(s->attn_out, s->ctx, L->o.w, L->o.b, N, H, H);
        eb_add_layernorm(s->hidden, s->hidden, s->attn_out, L->attn_ln.g, L->attn_ln.b, N, H, eps);
        eb_matmul(s->ffn, s->hidden, L->ffn.w, L->ffn.b, N, H, I);
        activation(s->ffn, (size_t)N * I, c->hidden_act);
        eb_matmul(s->attn_out, s->ffn, L->ffn_out.w, L->ffn_out.b, N, I, H);
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
