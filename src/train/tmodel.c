/* tmodel.c - trainable ALBERT: layout, init, load/save, forward with saved
 * activations, backward (see tmodel.h). */
#include "train/tmodel.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "model/tensors.h"
#include "util/util.h"

/* ---------------- RNG ---------------- */

uint64_t eb_rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void eb_rng_skip(uint64_t *s, uint64_t n) {
    *s += n * 0x9E3779B97F4A7C15ULL; /* splitmix64 counts: n draws ahead at once */
}

float eb_rng_uniform(uint64_t *s) {
    return (float)((eb_rng_next(s) >> 40) * (1.0 / 16777216.0));
}

float eb_rng_normal(uint64_t *s) {
    double u1 = ((eb_rng_next(s) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (eb_rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* ---------------- layout ---------------- */

typedef struct lay {
    eb_tmodel *m;
    float *base;
    int record;
    size_t off;
    int ok;
} lay;

static float *take(lay *L, const char *name, int d0, int d1, unsigned flags) {
    size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    if (L->record) {
        eb_tparam *p = &L->m->t[L->m->nt++];
        snprintf(p->name, sizeof p->name, "%s", name);
        p->off = L->off;
        p->numel = n;
        p->ndim = d1 ? 2 : 1;
        p->shape[0] = d0;
        p->shape[1] = d1;
        p->flags = flags;
    }
    float *r = L->base ? L->base + L->off : NULL;
    L->off += (n + 15) & ~(size_t)15; /* keep every tensor 64-byte aligned */
    return r;
}

static void take_lin(lay *L, eb_tlin *l, const char *prefix, int out, int in, unsigned flags,
                     unsigned bias_flags) {
    char n[224];
    snprintf(n, sizeof n, "%s.weight", prefix);
    l->w = take(L, n, out, in, flags | EB_TP_DECAY);
    snprintf(n, sizeof n, "%s.bias", prefix);
    l->b = take(L, n, out, 0, bias_flags & ~(EB_TP_PRUNE | EB_TP_EMBPRUNE));
}

static void take_norm(lay *L, eb_tnorm *nm, const char *prefix, int n, unsigned flags) {
    char s[224];
    snprintf(s, sizeof s, "%s.weight", prefix);
    nm->g = take(L, s, n, 0, flags);
    snprintf(s, sizeof s, "%s.bias", prefix);
    nm->b = take(L, s, n, 0, flags);
}

/* The trainer's flags of a tensor role (tensors.h); 2-D weights also decay. */
static unsigned role_flags(eb_tensor_role r) {
    switch (r) {
    case EB_ROLE_EMBEDDING: return EB_TP_EMB | EB_TP_EMBPRUNE;
    case EB_ROLE_EMB_NORM: return EB_TP_EMB;
    case EB_ROLE_MAPPING: return EB_TP_EMBPRUNE;
    case EB_ROLE_ENC_MATRIX: return EB_TP_PRUNE;
    case EB_ROLE_SPAN: return EB_TP_SPAN;
    case EB_ROLE_ADAPTER: return EB_TP_ADAPTER;
    case EB_ROLE_HEAD: return EB_TP_HEAD;
    case EB_ROLE_RAMP: return EB_TP_RAMP;
    case EB_ROLE_MLM: return EB_TP_MLM;
    default: return 0;
    }
}

/* Where a tensor of the table lives in the trainer's view. */
static void *tw_slot(eb_tw *w, const eb_tensor_item *it) {
    eb_tlayer *ly = &w->layers[it->index];
    switch (it->row->id) {
    case EB_T_WORD: return &w->word;
    case EB_T_POS: return &w->pos;
    case EB_T_TYPE: return &w->type;
    case EB_T_EMB_LN: return &w->eln;
    case EB_T_MAP: return &w->map;
    case EB_T_Q: return &ly->q;
    case EB_T_K: return &ly->k;
    case EB_T_V: return &ly->v;
    case EB_T_O: return &ly->o;
    case EB_T_ATTN_LN: return &ly->aln;
    case EB_T_FFN: return &ly->ffn;
    case EB_T_FFN_OUT: return &ly->ffn_out;
    case EB_T_OUT_LN: return &ly->oln;
    case EB_T_SPAN: return &ly->span;
    case EB_T_AD_ATTN_DOWN: return &w->ad[it->index][EB_AD_ATTN_DOWN];
    case EB_T_AD_ATTN_UP: return &w->ad[it->index][EB_AD_ATTN_UP];
    case EB_T_AD_FFN_DOWN: return &w->ad[it->index][EB_AD_FFN_DOWN];
    case EB_T_AD_FFN_UP: return &w->ad[it->index][EB_AD_FFN_UP];
    case EB_T_POOLER: return &w->pooler;
    case EB_T_CLS: return &w->cls;
    case EB_T_RAMP_POOLER: return &w->rpool[it->index];
    case EB_T_RAMP_CLS: return &w->rcls[it->index];
    case EB_T_MLM_DENSE: return &w->mlm_dense;
    case EB_T_MLM_LN: return &w->mlm_ln;
    case EB_T_MLM_BIAS: return &w->mlm_bias;
    default: return NULL;
    }
}

typedef struct lay_walk {
    lay *L;
    eb_tw *w;
} lay_walk;

static int take_item(void *ud, const eb_tensor_item *it) {
    lay_walk *lw = ud;
    const eb_tensor_row *r = it->row;
    void *slot = tw_slot(lw->w, it);
    const unsigned f = role_flags(r->role);
    switch (r->kind) {
    case EB_TK_LINEAR:
        take_lin(lw->L, slot, it->name, it->d0, it->d1, f, role_flags(r->bias_role));
        break;
    case EB_TK_NORM: take_norm(lw->L, slot, it->name, it->d0, f); break;
    case EB_TK_MATRIX: *(float **)slot = take(lw->L, it->name, it->d0, it->d1, f | EB_TP_DECAY); break;
    case EB_TK_VECTOR: *(float **)slot = take(lw->L, it->name, it->d0, 0, f); break;
    }
    return 0;
}

/* Walk every tensor in the table's order; record = fill the table. */
static size_t layout(eb_tmodel *m, float *base, eb_tw *w, int record) {
    lay L = {m, base, record, 0, 1};
    memset(w, 0, sizeof *w);
    eb_tensor_plan plan = {&m->cfg, m->has_span, m->x.adapter_size > 0 ? m->x.adapter_size : 0,
                           m->num_ramps, m->has_mlm};
    lay_walk lw = {&L, w};
    eb_tensor_walk(&plan, take_item, &lw);
    return L.off;
}

static void set_lin(eb_linear *l, const eb_tlin *t, int out, int in) {
    l->w = t->w;
    l->b = t->b;
    l->out = out;
    l->in = in;
}

static void build_view(eb_tmodel *m) {
    const eb_config *c = &m->cfg;
    const int E = c->embedding_size, H = c->hidden_size, I = c->intermediate_size;
    eb_albert_weights *v = &m->view;
    const eb_tw *w = &m->W;
    memset(v, 0, sizeof *v);
    v->word_emb = w->word;
    v->pos_emb = w->pos;
    v->type_emb = w->type;
    v->emb_ln = (eb_norm){w->eln.g, w->eln.b, E};
    set_lin(&v->map_in, &w->map, H, E);
    for (int u = 0; u < m->n_unique; u++) {
        eb_albert_layer *l = &m->view_layers[u];
        const eb_tlayer *t = &w->layers[u];
        set_lin(&l->q, &t->q, H, H);
        set_lin(&l->k, &t->k, H, H);
        set_lin(&l->v, &t->v, H, H);
        set_lin(&l->o, &t->o, H, H);
        l->attn_ln = (eb_norm){t->aln.g, t->aln.b, H};
        set_lin(&l->ffn, &t->ffn, I, H);
        set_lin(&l->ffn_out, &t->ffn_out, H, I);
        l->out_ln = (eb_norm){t->oln.g, t->oln.b, H};
        l->span_z = t->span;
    }
    v->layers = m->view_layers;
    if (m->x.adapter_size > 0) {
        const int r = m->x.adapter_size, NA = c->num_hidden_layers * c->inner_group_num;
        for (int a = 0; a < NA; a++) {
            eb_layer_adapters *A = &m->view_adapters[a];
            set_lin(&A->attn.down, &w->ad[a][EB_AD_ATTN_DOWN], r, H);
            set_lin(&A->attn.up, &w->ad[a][EB_AD_ATTN_UP], H, r);
            set_lin(&A->ffn.down, &w->ad[a][EB_AD_FFN_DOWN], r, H);
            set_lin(&A->ffn.up, &w->ad[a][EB_AD_FFN_UP], H, r);
        }
        v->adapters = m->view_adapters;
        v->adapter_size = r;
    }
    set_lin(&v->pooler, &w->pooler, H, H);
    set_lin(&v->classifier, &w->cls, c->num_labels, H);
    if (m->num_ramps) {
        const int NL = c->num_hidden_layers;
        memset(m->view_ramps, 0, sizeof m->view_ramps);
        v->num_ramps = NL;
        v->ramp_pooler = m->view_ramps;
        v->ramp_cls = m->view_ramps + NL;
        for (int j = 0; j < m->num_ramps; j++) {
            set_lin(&v->ramp_pooler[j], &w->rpool[j], H, H);
            set_lin(&v->ramp_cls[j], &w->rcls[j], c->num_labels, H);
        }
    }
}

int eb_tm_find(const eb_tmodel *m, const char *name) {
    for (int i = 0; i < m->nt; i++)
        if (!strcmp(m->t[i].name, name)) return i;
    return -1;
}

/* Mimetic initialisation (after Trockman and Kolter 2023, "Mimetic initialization of
 * self-attention layers"): each layer's query and key weights [H,H] start as the same H
 * orthonormal rows times x.mimetic_init, so that W_q^T W_k is a multiple of the identity and
 * every head starts by attending to tokens like the one it reads; the position embeddings
 * start sinusoidal (Vaswani et al. 2017) at the initializer_range scale, so nearby positions
 * are alike and the heads start local.  On a masked-LM toy task (each piece fixed by its
 * neighbour) the loss after 400 steps is 4x lower than from HF's random init; on the IMDB text
 * it made no measured difference (docs/training.md).  The rows: Gram-Schmidt on Gaussian rows,
 * O(H^3).  Biases stay zero. */
static eb_status mimetic_init(eb_tmodel *m, float std, uint64_t *rng, eb_error *err) {
    const eb_config *c = &m->cfg;
    const int H = c->hidden_size, E = c->embedding_size, P = c->max_position_embeddings;
    float *pe = m->P.pos;
    for (int p = 0; p < P; p++)
        for (int i = 0; i < E / 2; i++) {
            const double a = p / pow(10000.0, 2.0 * i / E);
            pe[(size_t)p * E + i] = std * (float)sin(a);
            pe[(size_t)p * E + E / 2 + i] = std * (float)cos(a);
        }
    if (E % 2) /* an odd width: the last column stays Gaussian */
        for (int p = 0; p < P; p++) pe[(size_t)p * E + E - 1] = std * eb_rng_normal(rng);
    double *r = eb_malloc(m->alloc, sizeof(double) * (size_t)H * H);
    if (!r) return eb_fail(err, EB_ERR_NOMEM, "train: out of memory for the mimetic init");
    for (int u = 0; u < m->n_unique; u++) {
        for (size_t k = 0; k < (size_t)H * H; k++) r[k] = eb_rng_normal(rng);
        for (int i = 0; i < H; i++) { /* row i: orthogonal to rows 0..i-1, unit length */
            double *ri = r + (size_t)i * H;
            for (int pass = 0; pass < 2; pass++) /* twice: exact to rounding */
                for (int j = 0; j < i; j++) {
                    const double *rj = r + (size_t)j * H;
                    double d = 0;
                    for (int k = 0; k < H; k++) d += ri[k] * rj[k];
                    for (int k = 0; k < H; k++) ri[k] -= d * rj[k];
                }
            double n = 0;
            for (int k = 0; k < H; k++) n += ri[k] * ri[k];
            n = 1 / sqrt(n);
            for (int k = 0; k < H; k++) ri[k] *= n;
        }
        for (size_t k = 0; k < (size_t)H * H; k++)
            m->P.layers[u].q.w[k] = m->P.layers[u].k.w[k] = (float)(m->x.mimetic_init * r[k]);
    }
    eb_free(m->alloc, r);
    return EB_OK;
}

eb_status eb_tm_create(eb_tmodel *m, const eb_config *cfg, const eb_model_extras *x, int with_span,
                       int heads, float span_init, uint64_t seed, const eb_allocator *a,
                       eb_error *err) {
    memset(m, 0, sizeof *m);
    m->alloc = a;
    m->cfg = *cfg;
    m->x = *x;
    const eb_config *c = &m->cfg;
    m->n_unique = c->num_hidden_groups * c->inner_group_num;
    if (m->n_unique > EB_TRAIN_MAX_UNIQUE_LAYERS || c->num_hidden_layers > EB_MAX_LAYERS ||
        c->num_labels > 64)
        return eb_fail(err, EB_ERR_UNSUPPORTED,
                       "train: model too large for the trainer "
                       "(layer groups x inner layers <= %d)",
                       EB_TRAIN_MAX_UNIQUE_LAYERS);
    if (m->x.adapter_size > 0 &&
        (c->num_hidden_layers * c->inner_group_num > EB_TRAIN_MAX_ADAPTERS ||
         m->x.adapter_size > c->hidden_size))
        return eb_fail(err, EB_ERR_UNSUPPORTED,
                       "train: adapters need layers x inner layers <= %d and a size <= hidden_size",
                       EB_TRAIN_MAX_ADAPTERS);
    m->has_span = with_span;
    m->num_ramps = (heads & EB_TM_RAMPS) ? c->num_hidden_layers - 1 : 0;
    m->has_mlm = (heads & EB_TM_MLM) != 0;
    m->t = eb_calloc(
        a, (size_t)(16 + 17 * m->n_unique + 4 * EB_MAX_LAYERS + 8 * EB_TRAIN_MAX_ADAPTERS),
        sizeof *m->t);
    if (!m->t) return eb_fail(err, EB_ERR_NOMEM, "train: out of memory");
    m->n_params = layout(m, NULL, &m->P, 1);
    m->params = eb_malloc_aligned(a, m->n_params * sizeof(float));
    m->grads = eb_malloc_aligned(a, m->n_params * sizeof(float));
    if (!m->params || !m->grads) {
        eb_tm_free(m);
        return eb_fail(err, EB_ERR_NOMEM, "train: out of memory for %zu parameters", m->n_params);
    }
    memset(m->params, 0, m->n_params * sizeof(float));
    memset(m->grads, 0, m->n_params * sizeof(float));
    m->eff = m->params;
    layout(m, m->params, &m->P, 0);
    layout(m, m->grads, &m->G, 0);
    layout(m, m->eff, &m->W, 0);
    /* init: HF AlbertPreTrainedModel._init_weights with the config's initializer_range */
    const float init_std = m->x.initializer_range > 0 ? m->x.initializer_range : 0.02f;
    uint64_t s = seed;
    for (int i = 0; i < m->nt; i++) {
        const eb_tparam *p = &m->t[i];
        float *d = m->params + p->off;
        eb_tensor_match tm;
        const int known = eb_tensor_lookup(p->name, &tm);
        if (p->flags & EB_TP_SPAN) {
            for (size_t k = 0; k < p->numel; k++)
                d[k] = span_init;
        } else if (p->ndim == 2) {
            for (size_t k = 0; k < p->numel; k++)
                d[k] = init_std * eb_rng_normal(&s);
        } else if (known && tm.row->kind == EB_TK_NORM) {
            float v = tm.part == 0 ? 1.0f : 0.0f; /* gain 1, bias 0 */
            for (size_t k = 0; k < p->numel; k++)
                d[k] = v;
        }
    }
    /* a new adapter is the identity: its up-projection starts at zero */
    for (int i = 0; i < m->nt; i++) {
        eb_tensor_match tm;
        if (eb_tensor_lookup(m->t[i].name, &tm) && tm.part == 0 &&
            (tm.row->id == EB_T_AD_ATTN_UP || tm.row->id == EB_T_AD_FFN_UP))
            memset(m->params + m->t[i].off, 0, m->t[i].numel * sizeof(float));
    }
    if (m->x.mimetic_init > 0) {
        eb_status st = mimetic_init(m, init_std, &s, err);
        if (st != EB_OK) return st;
    }
    /* off-ramp poolers start as copies of the main pooler */
    const size_t HH = (size_t)c->hidden_size * c->hidden_size;
    for (int j = 0; j < m->num_ramps; j++) {
        memcpy(m->P.rpool[j].w, m->P.pooler.w, HH * sizeof(float));
        memcpy(m->P.rpool[j].b, m->P.pooler.b, (size_t)c->hidden_size * sizeof(float));
    }
    build_view(m);
    return EB_OK;
}

eb_status eb_tm_load_safetensors(eb_tmodel *m, const char *path, eb_error *err) {
    eb_safetensors st;
    eb_status s = eb_st_open(path, m->alloc, 1, &st, err);
    if (s != EB_OK) return s;
    int loaded_pooler = 0, ramps_found = 0;
    for (int i = 0; i < m->nt && s == EB_OK; i++) {
        const eb_tparam *p = &m->t[i];
        eb_tensor_match tm; /* every layout name has its row */
        const eb_tensor_id id = eb_tensor_lookup(p->name, &tm) ? tm.row->id : EB_NUM_TENSOR_IDS;
        if (m->new_head && (id == EB_T_CLS || id == EB_T_RAMP_CLS)) continue;
        const eb_st_tensor *t = eb_st_find(&st, p->name);
        char alt[224]; /* the row's other spelling ("highway.j.pooler.dense.weight") */
        if (!t && id != EB_NUM_TENSOR_IDS && eb_tensor_spell(&tm, 1, alt, sizeof alt))
            t = eb_st_find(&st, alt);
        if (!t) {
            int optional = (p->flags & (EB_TP_RAMP | EB_TP_SPAN | EB_TP_ADAPTER | EB_TP_MLM)) ||
                           id == EB_T_CLS;
            if (!optional) s = eb_fail(err, EB_ERR_FORMAT, "%s: tensor %s missing", path, p->name);
            continue;
        }
        if (t->numel != p->numel) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s: tensor %s has %zu values, the config needs %zu",
                        path, p->name, t->numel, p->numel);
            continue;
        }
        eb_st_to_f32(t, m->params + p->off);
        if (id == EB_T_POOLER) loaded_pooler = 1;
        if (p->flags & EB_TP_RAMP) ramps_found = 1;
    }
    eb_st_close(&st);
    if (s != EB_OK) return s;
    if (loaded_pooler && !ramps_found) {
        const eb_config *c = &m->cfg;
        for (int j = 0; j < m->num_ramps; j++) {
            memcpy(m->P.rpool[j].w, m->P.pooler.w,
                   (size_t)c->hidden_size * c->hidden_size * sizeof(float));
            memcpy(m->P.rpool[j].b, m->P.pooler.b, (size_t)c->hidden_size * sizeof(float));
        }
    }
    if (m->eff != m->params) memcpy(m->eff, m->params, m->n_params * sizeof(float));
    return EB_OK;
}

void eb_tm_apply_mask(eb_tmodel *m, const float *mask) {
    if (!mask) {
        if (m->eff != m->params) memcpy(m->eff, m->params, m->n_params * sizeof(float));
        return;
    }
    if (m->eff == m->params) {
        m->eff = eb_malloc_aligned(m->alloc, m->n_params * sizeof(float));
        if (!m->eff) { /* cannot happen silently: fall back to in-place masking */
            m->eff = m->params;
        }
        layout(m, m->eff, &m->W, 0);
        build_view(m);
    }
    if (m->eff != m->params) memcpy(m->eff, m->params, m->n_params * sizeof(float));
    for (int i = 0; i < m->nt; i++) {
        const eb_tparam *p = &m->t[i];
        if (!(p->flags & (EB_TP_PRUNE | EB_TP_EMBPRUNE)) || p->ndim != 2) continue;
        float *e = m->eff + p->off;
        const float *k = mask + p->off;
        for (size_t j = 0; j < p->numel; j++)
            e[j] *= k[j];
    }
}

/* ---------------- activations ---------------- */

/* The next n floats of a block, keeping 64-byte alignment. */
static float *carve(float **p, size_t n) {
    float *r = *p;
    *p += (n + 15) & ~(size_t)15;
    return r;
}

eb_status eb_tm_alloc_acts(eb_tmodel *m, int max_b, int max_t, eb_error *err) {
    const eb_config *c = &m->cfg;
    const size_t N = (size_t)max_b * max_t, H = (size_t)c->hidden_size;
    const size_t E = (size_t)c->embedding_size, I = (size_t)c->intermediate_size;
    const size_t NH = (size_t)c->num_attention_heads, T = (size_t)max_t, B = (size_t)max_b;
    const size_t K = (size_t)c->num_labels;
    const int A = c->num_hidden_layers * c->inner_group_num;
    eb_free_aligned(m->alloc, m->act_block);
    eb_free(m->alloc, m->acts);
    eb_free(m->alloc, m->ramp);
    m->acts = eb_calloc(m->alloc, (size_t)A, sizeof *m->acts);
    m->ramp = eb_calloc(m->alloc, (size_t)(m->num_ramps ? m->num_ramps : 1), sizeof *m->ramp);
    const size_t R = (size_t)(m->x.adapter_size > 0 ? m->x.adapter_size : 0);
    const int HD = m->hidden_dropout > 0;
    size_t per_app = 8 * N * H + 2 * N * I + (R ? 2 * (N * H + 2 * N * R) + 6 * 16 : 0) +
                     (HD ? 2 * N * H + 2 * 16 : 0);
    size_t per_head = 4 * B * H + B * K;
    size_t total = 2 * N * E + (size_t)A * per_app + N * H + (size_t)(1 + m->num_ramps) * per_head +
                   NH * T * T + 2 * T * T +
                   /* grads */ 7 * N * H + 2 * N * I + 2 * N * E + B * K + 3 * B * H +
                   /* ids, types, valid */ 3 * N +
                   /* adapter backward */ (R ? N * H + 2 * N * R : 0);
    total += 64 * 64; /* alignment slack */
    m->act_block = eb_malloc_aligned(m->alloc, total * sizeof(float));
    if (!m->acts || !m->ramp || !m->act_block)
        return eb_fail(err, EB_ERR_NOMEM, "train: out of memory for activations (%zu MB)",
                       total * 4 >> 20);
    memset(m->act_block, 0, total * sizeof(float));
    float *p = m->act_block;
#define GRAB(dst, n) ((dst) = carve(&p, (n)))
    GRAB(m->emb_sum, N * E);
    GRAB(m->emb_ln, N * E);
    for (int a = 0; a < A; a++) {
        eb_tact *s = &m->acts[a];
        GRAB(s->xin, N * H);
        GRAB(s->q, N * H);
        GRAB(s->k, N * H);
        GRAB(s->v, N * H);
        GRAB(s->ctx, N * H);
        GRAB(s->res1, N * H);
        GRAB(s->h1, N * H);
        GRAB(s->res2, N * H);
        GRAB(s->fpre, N * I);
        GRAB(s->fact, N * I);
        for (int k = 0; k < 2 && R; k++) {
            GRAB(s->ad_in[k], N * H);
            GRAB(s->ad_pre[k], N * R);
            GRAB(s->ad_act[k], N * R);
        }
        for (int k = 0; k < 2 && HD; k++)
            GRAB(s->dm[k], N * H);
    }
    GRAB(m->final_out, N * H);
    for (int j = -1; j < m->num_ramps; j++) {
        eb_thead *h = j < 0 ? &m->head : &m->ramp[j];
        GRAB(h->cls, B * H);
        GRAB(h->pooled, B * H);
        GRAB(h->drop, B * H);
        GRAB(h->dmask, B * H);
        GRAB(h->logits, B * K);
    }
    GRAB(m->att, NH * T * T);
    GRAB(m->scratch, 2 * T * T);
    GRAB(m->dh, N * H);
    GRAB(m->dtmp, N * H);
    GRAB(m->dres, N * H);
    GRAB(m->dq, N * H);
    GRAB(m->dk, N * H);
    GRAB(m->dv, N * H);
    GRAB(m->dctx, N * H);
    GRAB(m->dffn, N * I);
    GRAB(m->dffn2, N * I);
    GRAB(m->demb, N * E);
    GRAB(m->demb2, N * E);
    GRAB(m->dlogits, B * K);
    if (R) {
        GRAB(m->dad, N * H);
        GRAB(m->dad_r1, N * R);
        GRAB(m->dad_r2, N * R);
    }
    float *hb;
    GRAB(hb, 3 * B * H);
    (void)hb;
    m->ids = (int32_t *)p;
    p += N;
    m->types = (int32_t *)p;
    p += N;
    m->key_valid = (uint8_t *)p;
    if (m->has_mlm) {
        const size_t V = (size_t)c->vocab_size;
        eb_free_aligned(m->alloc, m->mlm_block);
        size_t mt = N * H + 3 * N * E + N * V + 2 * N * E + N * H + N * H + N + 10 * 16;
        m->mlm_block = eb_malloc_aligned(m->alloc, mt * sizeof(float));
        if (!m->mlm_block)
            return eb_fail(err, EB_ERR_NOMEM,
                           "train: out of memory for the masked-LM head (%zu MB)", mt * 4 >> 20);
        memset(m->mlm_block, 0, mt * sizeof(float));
        p = m->mlm_block;
        GRAB(m->mlm_h, N * H);
        GRAB(m->mlm_pre, N * E);
        GRAB(m->mlm_act, N * E);
        GRAB(m->mlm_y, N * E);
        GRAB(m->mlm_logits, N * V);
        GRAB(m->mlm_dy, N * E);
        GRAB(m->mlm_dx, N * E);
        GRAB(m->mlm_dh, N * H);
        GRAB(m->mlm_dfinal, N * H);
        m->mlm_rows = (int32_t *)p;
    }
#undef GRAB
    m->max_b = max_b;
    m->max_t = max_t;
    return EB_OK;
}

eb_status eb_tm_set_bf16(eb_tmodel *m, int on, eb_error *err) {
    if (on && !m->pk) {
        /* every matrix the products use: 6 per unique layer, the embedding mapping, the
           masked-LM dense and decoder, 4 per adapter application */
        m->cap_pk = 6 * m->n_unique + 3 + 4 * EB_TRAIN_MAX_ADAPTERS;
        m->pk = eb_calloc(m->alloc, (size_t)m->cap_pk, sizeof *m->pk);
        if (!m->pk) return eb_fail(err, EB_ERR_NOMEM, "train: out of memory (bf16 weights)");
    }
    m->bf16 = on != 0;
    return EB_OK;
}

void eb_tm_free(eb_tmodel *m) {
    for (int i = 0; i < m->npk; i++) {
        eb_free_aligned(m->alloc, m->pk[i].f);
        eb_free_aligned(m->alloc, m->pk[i].b);
    }
    eb_free(m->alloc, m->pk);
    eb_free_aligned(m->alloc, m->bf_a);
    eb_free_aligned(m->alloc, m->bf_b);
    if (m->eff && m->eff != m->params) eb_free_aligned(m->alloc, m->eff);
    eb_free_aligned(m->alloc, m->params);
    eb_free_aligned(m->alloc, m->grads);
    eb_free_aligned(m->alloc, m->act_block);
    eb_free_aligned(m->alloc, m->mlm_block);
    eb_free(m->alloc, m->acts);
    eb_free(m->alloc, m->ramp);
    eb_free(m->alloc, m->t);
    memset(m, 0, sizeof *m);
}

/* ---------------- products ---------------- */
/* y[N,OC] = x[N,C] w[OC,C]^T + b and its backward.  fp32: OpenBLAS (as fast
 * as edgebert's packed fp32 kernel at these shapes: docs/training.md).
 * bf16: edgebert's AVX512-BF16 panels; the weight is packed once per
 * forward (ALBERT applies one layer's weights num_hidden_layers times), the
 * other operand rounded to bf16 into scratch.  Where scratch cannot be had
 * the product runs in fp32. */

static int even_up(int k) {
    return k + (k & 1);
}

static uint16_t *scratch(eb_tmodel *m, uint16_t **buf, size_t *cap, size_t n) {
    if (n <= *cap) return *buf;
    eb_free_aligned(m->alloc, *buf);
    *buf = eb_malloc_aligned(m->alloc, n * sizeof(uint16_t));
    *cap = *buf ? n : 0;
    return *buf;
}

/* w's panels for the forward (bwd = 0) or backward-data product, packed at
 * this forward; NULL when out of memory or slots. */
static const uint16_t *packed(eb_tmodel *m, const float *w, int C, int OC, int bwd) {
    eb_tpack *e = NULL;
    for (int i = 0; i < m->npk && !e; i++)
        if (m->pk[i].w == w && m->pk[i].C == C && m->pk[i].OC == OC) e = &m->pk[i];
    if (!e) {
        if (m->npk == m->cap_pk) return NULL;
        e = &m->pk[m->npk++];
        memset(e, 0, sizeof *e);
        e->w = w, e->C = C, e->OC = OC;
    }
    uint16_t *d = bwd ? e->b : e->f;
    unsigned *gen = bwd ? &e->gen_b : &e->gen_f;
    if (d && *gen == m->pack_gen) return d;
    if (!d) {
        const size_t n = bwd ? eb_pack_bf16_ex_count(OC, C) : eb_pack_bf16_ex_count(C, OC);
        if (!(d = eb_malloc_aligned(m->alloc, n * sizeof(uint16_t)))) return NULL;
        *(bwd ? &e->b : &e->f) = d;
    }
    if (bwd)
        eb_pack_bf16_ex(d, w, OC, C, 1, (size_t)C); /* B(k=o, j=c) = w[o][c] */
    else
        eb_pack_bf16_ex(d, w, C, OC, (size_t)C, 1); /* B(k=c, j=o) = w[o][c] */
    *gen = m->pack_gen;
    return d;
}

static void lin_fwd(eb_tmodel *m, float *out, const float *x, const eb_tlin *l, int N, int C,
                    int OC) {
    if (m->bf16) {
        const uint16_t *bp = packed(m, l->w, C, OC, 0);
        uint16_t *a = bp ? scratch(m, &m->bf_a, &m->bf_a_cap, (size_t)N * even_up(C)) : NULL;
        if (a) {
            eb_bf16_rows(a, x, N, C, (size_t)C, 1);
            eb_gemm_bf16_pp(out, OC, a, bp, l->b, N, C, OC, 0, 0);
            return;
        }
    }
    eb_matmul(out, x, l->w, l->b, N, C, OC);
}

/* dx[N,C] += dy w, gw->w[OC,C] += dy^T x, gw->b[OC] += column sums of dy
 * (NULL outputs skipped). */
static void lin_bwd(eb_tmodel *m, float *dx, const eb_tlin *gw, const float *dy, const float *x,
                    const eb_tlin *l, int N, int C, int OC) {
    float *dw = gw ? gw->w : NULL, *db = gw ? gw->b : NULL;
    if (!m->bf16) {
        eb_matmul_backward(dx, dw, db, dy, x, l->w, N, C, OC);
        return;
    }
    if (dx) {
        const uint16_t *bp = packed(m, l->w, C, OC, 1);
        uint16_t *a = bp ? scratch(m, &m->bf_a, &m->bf_a_cap, (size_t)N * even_up(OC)) : NULL;
        if (a) {
            eb_bf16_rows(a, dy, N, OC, (size_t)OC, 1);
            eb_gemm_bf16_pp(dx, C, a, bp, NULL, N, OC, C, 1, 0);
        } else {
            eb_matmul_backward(dx, NULL, NULL, dy, x, l->w, N, C, OC);
        }
    }
    if (dw) {
        uint16_t *a = scratch(m, &m->bf_a, &m->bf_a_cap, (size_t)OC * even_up(N));
        uint16_t *bp = scratch(m, &m->bf_b, &m->bf_b_cap, eb_pack_bf16_ex_count(N, C));
        if (a && bp) {
            eb_bf16_rows(a, dy, OC, N, 1, (size_t)OC);  /* A(o, n) = dy[n][o] */
            eb_pack_bf16_ex(bp, x, N, C, 1, (size_t)C); /* B(n, c) = x[n][c] */
            eb_gemm_bf16_pp(dw, C, a, bp, NULL, OC, N, C, 1, 0);
        } else {
            eb_matmul_backward(NULL, dw, NULL, dy, x, l->w, N, C, OC);
        }
    }
    if (db)
        eb_matmul_backward(NULL, NULL, db, dy, x, l->w, N, C, OC);
}

/* ---------------- forward ---------------- */

static void activation_backward(float *dx, const float *dy, const float *x, size_t n,
                                eb_activation act) {
    if (act == EB_ACT_GELU)
        eb_gelu_erf_backward(dx, dy, x, n);
    else if (act == EB_ACT_RELU)
        eb_relu_backward(dx, dy, x, n);
    else
        eb_gelu_new_backward(dx, dy, x, n);
}

static void head_forward(eb_tmodel *m, eb_thead *hd, const float *hidden, const eb_tlin *pool,
                         const eb_tlin *cls, float p, uint64_t seed) {
    const int B = m->B, T = m->T, H = m->cfg.hidden_size, K = m->cfg.num_labels;
    for (int b = 0; b < B; b++)
        memcpy(hd->cls + (size_t)b * H, hidden + (size_t)b * T * H, sizeof(float) * H);
    eb_matmul(hd->pooled, hd->cls, pool->w, pool->b, B, H, H);
    eb_tanh_inplace(hd->pooled, (size_t)B * H);
    uint64_t s = seed;
    eb_rng_skip(&s, (uint64_t)m->row0 * H); /* a shard: the global batch's masks of its rows */
    for (size_t i = 0; i < (size_t)B * H; i++) {
        hd->dmask[i] = p > 0 ? (eb_rng_uniform(&s) < p ? 0.0f : 1.0f / (1.0f - p)) : 1.0f;
        hd->drop[i] = hd->pooled[i] * hd->dmask[i];
    }
    eb_matmul(hd->logits, hd->drop, cls->w, cls->b, B, H, K);
}

/* y[N,H] += up(gelu_new(down(y))), saving the adapter's activations */
static void adapter_forward(eb_tmodel *m, float *y, const eb_tlin *down, const eb_tlin *up,
                            float *in, float *pre, float *act, int N) {
    const int H = m->cfg.hidden_size, r = m->x.adapter_size;
    memcpy(in, y, sizeof(float) * (size_t)N * H);
    lin_fwd(m, pre, in, down, N, H, r);
    memcpy(act, pre, sizeof(float) * (size_t)N * r);
    eb_gelu_new(act, (size_t)N * r);
    lin_fwd(m, m->dad, act, up, N, r, H);
    eb_add_inplace(y, m->dad, (size_t)N * H);
}

/* x[n] *= mask[n], a fresh dropout mask of rate p (0 or 1/(1-p)): the draws after `before`
 * ones of the stream, which then moves on past `after` more (a shard's rows of a global batch) */
static void dropout_fwd(float *x, float *mask, size_t n, float p, uint64_t *rng, uint64_t before,
                        uint64_t after) {
    const float keep = 1.0f / (1.0f - p);
    eb_rng_skip(rng, before);
    for (size_t i = 0; i < n; i++) {
        mask[i] = eb_rng_uniform(rng) < p ? 0.0f : keep;
        x[i] *= mask[i];
    }
    eb_rng_skip(rng, after);
}

static void mul_inplace(float *x, const float *m, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] *= m[i];
}

void eb_tm_forward(eb_tmodel *m, const int32_t *ids, const int32_t *types, const uint8_t *valid,
                   int B, int T, int ramps, float dropout_p, uint64_t rng_seed) {
    const eb_config *c = &m->cfg;
    const int E = c->embedding_size, H = c->hidden_size, I = c->intermediate_size;
    const int NH = c->num_attention_heads, HS = H / NH, N = B * T;
    const int per_group = c->num_hidden_layers / c->num_hidden_groups;
    const float eps = c->layer_norm_eps;
    m->B = B;
    m->T = T;
    m->pack_gen++; /* the weights may have changed since the last forward */
    memcpy(m->ids, ids, sizeof(int32_t) * (size_t)N);
    for (int i = 0; i < N; i++)
        m->types[i] = types ? types[i] : 0;
    memcpy(m->key_valid, valid, (size_t)N);
    const eb_tw *w = &m->W;
    const float hp = dropout_p > 0 && m->acts[0].dm[0] ? m->hidden_dropout : 0.0f;
    m->hd_active = hp > 0;
    uint64_t hrng = rng_seed * 0x2545F4914F6CDD1DULL + 0x5DEECE66DULL;
    /* a shard (rows row0.. of a global batch of rows_total): the whole batch's mask stream */
    const int Bg = m->rows_total > B ? m->rows_total : B;
    const uint64_t hpre = (uint64_t)m->row0 * T * H,
                   hpost = (uint64_t)(Bg - m->row0 - B > 0 ? Bg - m->row0 - B : 0) * T * H;
    eb_albert_embed_sum(m->emb_sum, w->word, w->pos, w->type, E, m->ids, m->types, N, T);
    eb_layernorm(m->emb_ln, m->emb_sum, w->eln.g, w->eln.b, N, E, eps);
    const int A = c->num_hidden_layers * c->inner_group_num;
    lin_fwd(m, m->acts[0].xin, m->emb_ln, &w->map, N, E, H);
    for (int a = 0; a < A; a++) {
        const int l = a / c->inner_group_num, inner = a % c->inner_group_num;
        const eb_tlayer *L = &w->layers[(l / per_group) * c->inner_group_num + inner];
        eb_tact *s = &m->acts[a];
        float *out = a + 1 < A ? m->acts[a + 1].xin : m->final_out;
        lin_fwd(m, s->q, s->xin, &L->q, N, H, H);
        lin_fwd(m, s->k, s->xin, &L->k, N, H, H);
        lin_fwd(m, s->v, s->xin, &L->v, N, H, H);
        for (int b = 0; b < B; b++) {
            size_t o = (size_t)b * T * H;
            eb_attention(s->ctx + o, m->att, s->q + o, s->k + o, s->v + o, T, NH, HS,
                         m->key_valid + (size_t)b * T, L->span, m->x.span_ramp, NULL, 0);
        }
        lin_fwd(m, s->res1, s->ctx, &L->o, N, H, H);
        const eb_tlin *ad = m->x.adapter_size > 0 ? w->ad[a] : NULL;
        if (ad)
            adapter_forward(m, s->res1, &ad[EB_AD_ATTN_DOWN], &ad[EB_AD_ATTN_UP], s->ad_in[0],
                            s->ad_pre[0], s->ad_act[0], N);
        if (hp > 0) dropout_fwd(s->res1, s->dm[0], (size_t)N * H, hp, &hrng, hpre, hpost);
        eb_add_inplace(s->res1, s->xin, (size_t)N * H);
        eb_layernorm(s->h1, s->res1, L->aln.g, L->aln.b, N, H, eps);
        lin_fwd(m, s->fpre, s->h1, &L->ffn, N, H, I);
        memcpy(s->fact, s->fpre, sizeof(float) * (size_t)N * I);
        eb_albert_activation(s->fact, (size_t)N * I, c->hidden_act);
        lin_fwd(m, s->res2, s->fact, &L->ffn_out, N, I, H);
        if (ad)
            adapter_forward(m, s->res2, &ad[EB_AD_FFN_DOWN], &ad[EB_AD_FFN_UP], s->ad_in[1],
                            s->ad_pre[1], s->ad_act[1], N);
        if (hp > 0) dropout_fwd(s->res2, s->dm[1], (size_t)N * H, hp, &hrng, hpre, hpost);
        eb_add_inplace(s->res2, s->h1, (size_t)N * H);
        eb_layernorm(out, s->res2, L->oln.g, L->oln.b, N, H, eps);
        if (ramps && inner == c->inner_group_num - 1 && l < m->num_ramps)
            head_forward(m, &m->ramp[l], out, &w->rpool[l], &w->rcls[l], dropout_p,
                         rng_seed * 1000003u + (uint64_t)l + 1);
    }
    head_forward(m, &m->head, m->final_out, &w->pooler, &w->cls, dropout_p, rng_seed * 1000003u);
}

/* ---------------- backward ---------------- */

static void zero(float *x, size_t n) {
    memset(x, 0, n * sizeof(float));
}

/* Add the gradient of a head into dh (rows b*T). */
static void head_backward(eb_tmodel *m, const eb_thead *hd, const float *dlogits,
                          const eb_tlin *pool, const eb_tlin *cls, eb_tlin *gpool, eb_tlin *gcls,
                          float *dh) {
    const int B = m->B, T = m->T, H = m->cfg.hidden_size, K = m->cfg.num_labels;
    float *t1 = m->dq, *t2 = m->dk, *t3 = m->dv; /* free at this point, [B,H] each */
    zero(t1, (size_t)B * H);
    eb_matmul_backward(t1, gcls->w, gcls->b, dlogits, hd->drop, cls->w, B, H, K);
    for (size_t i = 0; i < (size_t)B * H; i++)
        t1[i] *= hd->dmask[i];
    zero(t2, (size_t)B * H);
    eb_tanh_backward(t2, t1, hd->pooled, (size_t)B * H);
    zero(t3, (size_t)B * H);
    eb_matmul_backward(t3, gpool->w, gpool->b, t2, hd->cls, pool->w, B, H, H);
    for (int b = 0; b < B; b++)
        eb_add_inplace(dh + (size_t)b * T * H, t3 + (size_t)b * H, H);
}

/* Backward of y = z + up(gelu_new(down(z))): from dy, m->dad = dz; the
 * adapter's gradients accumulate into gdown/gup. */
static void adapter_backward(eb_tmodel *m, const float *dy, const eb_tlin *down, const eb_tlin *up,
                             eb_tlin *gdown, eb_tlin *gup, const float *in, const float *pre,
                             const float *act) {
    const int H = m->cfg.hidden_size, r = m->x.adapter_size, N = m->B * m->T;
    memcpy(m->dad, dy, sizeof(float) * (size_t)N * H);
    zero(m->dad_r1, (size_t)N * r);
    lin_bwd(m, m->dad_r1, gup, dy, act, up, N, r, H);
    zero(m->dad_r2, (size_t)N * r);
    eb_gelu_new_backward(m->dad_r2, m->dad_r1, pre, (size_t)N * r);
    lin_bwd(m, m->dad, gdown, m->dad_r2, in, down, N, H, r);
}

void eb_tm_backward(eb_tmodel *m, const float *dmain, float *const *dramp, int backbone) {
    const eb_config *c = &m->cfg;
    const int E = c->embedding_size, H = c->hidden_size, I = c->intermediate_size;
    const int NH = c->num_attention_heads, HS = H / NH, B = m->B, T = m->T, N = B * T;
    const int per_group = c->num_hidden_layers / c->num_hidden_groups;
    const float eps = c->layer_norm_eps;
    const eb_tw *w = &m->W;
    eb_tw *g = &m->G;
    zero(m->dh, (size_t)N * H);
    if (m->dfinal_extra) eb_add_inplace(m->dh, m->dfinal_extra, (size_t)N * H);
    m->dfinal_extra = NULL;
    if (dmain) head_backward(m, &m->head, dmain, &w->pooler, &w->cls, &g->pooler, &g->cls, m->dh);
    const int A = c->num_hidden_layers * c->inner_group_num;
    for (int a = A - 1; a >= 0; a--) {
        const int l = a / c->inner_group_num, inner = a % c->inner_group_num;
        if (dramp && inner == c->inner_group_num - 1 && l < m->num_ramps && dramp[l])
            head_backward(m, &m->ramp[l], dramp[l], &w->rpool[l], &w->rcls[l], &g->rpool[l],
                          &g->rcls[l], m->dh);
        if (!backbone) continue;
        const int u = (l / per_group) * c->inner_group_num + inner;
        const eb_tlayer *L = &w->layers[u];
        eb_tlayer none; /* frozen backbone: NULL gradient outputs are skipped */
        memset(&none, 0, sizeof none);
        eb_tlayer *G = m->frozen_backbone ? &none : &g->layers[u];
        const eb_tact *s = &m->acts[a];
        const size_t NHs = (size_t)N * H, NI = (size_t)N * I;
        const eb_tlin *ad = m->x.adapter_size > 0 ? w->ad[a] : NULL;
        eb_tlin *gad = m->x.adapter_size > 0 ? g->ad[a] : NULL;
        /* out = LN(res2), res2 = ffn_out(act(ffn(h1))) + h1 */
        zero(m->dres, NHs);
        eb_layernorm_backward(m->dres, G->oln.g, G->oln.b, m->dh, s->res2, L->oln.g, N, H, eps);
        memcpy(m->dtmp, m->dres, NHs * sizeof(float));
        if (m->hd_active) mul_inplace(m->dres, s->dm[1], NHs);
        const float *dz = m->dres;
        if (ad) {
            adapter_backward(m, m->dres, &ad[EB_AD_FFN_DOWN], &ad[EB_AD_FFN_UP],
                             &gad[EB_AD_FFN_DOWN], &gad[EB_AD_FFN_UP], s->ad_in[1], s->ad_pre[1],
                             s->ad_act[1]);
            dz = m->dad;
        }
        zero(m->dffn2, NI);
        lin_bwd(m, m->dffn2, &G->ffn_out, dz, s->fact, &L->ffn_out, N, I, H);
        zero(m->dffn, NI);
        activation_backward(m->dffn, m->dffn2, s->fpre, NI, c->hidden_act);
        lin_bwd(m, m->dtmp, &G->ffn, m->dffn, s->h1, &L->ffn, N, H, I);
        /* h1 = LN(res1), res1 = o(attention(q, k, v)) + xin */
        zero(m->dres, NHs);
        eb_layernorm_backward(m->dres, G->aln.g, G->aln.b, m->dtmp, s->res1, L->aln.g, N, H, eps);
        memcpy(m->dh, m->dres, NHs * sizeof(float));
        if (m->hd_active) mul_inplace(m->dres, s->dm[0], NHs);
        dz = m->dres;
        if (ad) {
            adapter_backward(m, m->dres, &ad[EB_AD_ATTN_DOWN], &ad[EB_AD_ATTN_UP],
                             &gad[EB_AD_ATTN_DOWN], &gad[EB_AD_ATTN_UP], s->ad_in[0], s->ad_pre[0],
                             s->ad_act[0]);
            dz = m->dad;
        }
        zero(m->dctx, NHs);
        lin_bwd(m, m->dctx, &G->o, dz, s->ctx, &L->o, N, H, H);
        zero(m->dq, NHs);
        zero(m->dk, NHs);
        zero(m->dv, NHs);
        for (int b = 0; b < B; b++) {
            size_t o = (size_t)b * T * H;
            eb_attention_backward(m->dq + o, m->dk + o, m->dv + o, G->span, m->scratch, m->dctx + o,
                                  s->q + o, s->k + o, s->v + o, T, NH, HS,
                                  m->key_valid + (size_t)b * T, L->span, m->x.span_ramp, NULL);
        }
        lin_bwd(m, m->dh, &G->q, m->dq, s->xin, &L->q, N, H, H);
        lin_bwd(m, m->dh, &G->k, m->dk, s->xin, &L->k, N, H, H);
        lin_bwd(m, m->dh, &G->v, m->dv, s->xin, &L->v, N, H, H);
    }
    if (!backbone || m->frozen_backbone) return;
    zero(m->demb, (size_t)N * E);
    lin_bwd(m, m->demb, &g->map, m->dh, m->emb_ln, &w->map, N, E, H);
    zero(m->demb2, (size_t)N * E);
    eb_layernorm_backward(m->demb2, g->eln.g, g->eln.b, m->demb, m->emb_sum, w->eln.g, N, E, eps);
    eb_embedding_backward(g->word, m->demb2, m->ids, N, E);
    eb_embedding_backward(g->type, m->demb2, m->types, N, E);
    for (int i = 0; i < N; i++)
        eb_add_inplace(g->pos + (size_t)(i % T) * E, m->demb2 + (size_t)i * E, E);
}

/* ---------------- masked-LM head ---------------- */

double eb_tm_mlm_loss(eb_tmodel *m, const int32_t *labels, int backward, int *n_masked,
                      int *n_correct) {
    const eb_config *c = &m->cfg;
    const int E = c->embedding_size, H = c->hidden_size, V = c->vocab_size, N = m->B * m->T;
    const float eps = c->layer_norm_eps;
    const eb_tw *w = &m->W;
    eb_tw *g = &m->G;
    int M = 0;
    for (int i = 0; i < N; i++)
        if (labels[i] >= 0 && labels[i] < V && m->key_valid[i]) m->mlm_rows[M++] = i;
    if (n_masked) *n_masked = M;
    if (n_correct) *n_correct = 0;
    if (!m->has_mlm || M == 0) return 0;
    for (int r = 0; r < M; r++)
        memcpy(m->mlm_h + (size_t)r * H, m->final_out + (size_t)m->mlm_rows[r] * H,
               sizeof(float) * H);
    lin_fwd(m, m->mlm_pre, m->mlm_h, &w->mlm_dense, M, H, E);
    memcpy(m->mlm_act, m->mlm_pre, sizeof(float) * (size_t)M * E);
    eb_albert_activation(m->mlm_act, (size_t)M * E, c->hidden_act);
    eb_layernorm(m->mlm_y, m->mlm_act, w->mlm_ln.g, w->mlm_ln.b, M, E, eps);
    const eb_tlin dec = {w->word, w->mlm_bias}; /* decoder tied to the word embeddings */
    lin_fwd(m, m->mlm_logits, m->mlm_y, &dec, M, E, V);
    double loss = 0;
    const int den = m->mlm_denom > 0 ? m->mlm_denom : M; /* a shard: the global batch's count */
    const float inv = 1.0f / (float)den;
    for (int r = 0; r < M; r++) {
        float *lg = m->mlm_logits + (size_t)r * V;
        const int y = labels[m->mlm_rows[r]];
        if (n_correct) {
            int best = 0;
            for (int v = 1; v < V; v++)
                if (lg[v] > lg[best]) best = v;
            *n_correct += best == y;
        }
        /* the logits row is replaced by its gradient (mean over the rows) */
        float mx = lg[0];
        for (int v = 1; v < V; v++)
            mx = lg[v] > mx ? lg[v] : mx;
        double z = exp((double)lg[0] - mx); /* >= 1: lg[0] <= mx, and mx is one of the terms */
        for (int v = 1; v < V; v++)
            z += exp((double)lg[v] - mx);
        loss += (log(z) + mx - lg[y]) / den;
        if (backward) {
            for (int v = 0; v < V; v++)
                lg[v] = (float)(exp((double)lg[v] - mx) / z) * inv;
            lg[y] -= inv;
        }
    }
    if (!backward) return loss;
    /* logits = y word^T + bias */
    zero(m->mlm_dy, (size_t)M * E);
    eb_tlin gdec = {m->frozen_backbone ? NULL : g->word, g->mlm_bias};
    lin_bwd(m, m->mlm_dy, &gdec, m->mlm_logits, m->mlm_y, &dec, M, E, V);
    zero(m->mlm_dx, (size_t)M * E);
    eb_layernorm_backward(m->mlm_dx, g->mlm_ln.g, g->mlm_ln.b, m->mlm_dy, m->mlm_act, w->mlm_ln.g,
                          M, E, eps);
    zero(m->mlm_dy, (size_t)M * E);
    activation_backward(m->mlm_dy, m->mlm_dx, m->mlm_pre, (size_t)M * E, c->hidden_act);
    zero(m->mlm_dh, (size_t)M * H);
    lin_bwd(m, m->mlm_dh, &g->mlm_dense, m->mlm_dy, m->mlm_h, &w->mlm_dense, M, H, E);
    zero(m->mlm_dfinal, (size_t)N * H);
    for (int r = 0; r < M; r++)
        memcpy(m->mlm_dfinal + (size_t)m->mlm_rows[r] * H, m->mlm_dh + (size_t)r * H,
               sizeof(float) * H);
    m->dfinal_extra = m->mlm_dfinal;
    return loss;
}

/* ---------------- save ---------------- */

eb_status eb_tm_save_hf(const eb_tmodel *m, const char *dir, eb_error *err) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return eb_fail(err, EB_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    char path[1024];
    char *json = eb_config_to_json(&m->cfg, &m->x);
    if (!json) return eb_fail(err, EB_ERR_NOMEM, "train: out of memory");
    snprintf(path, sizeof path, "%s/config.json", dir);
    eb_status s = eb_write_file_atomic(path, json, strlen(json), err);
    free(json);
    if (s != EB_OK) return s;
    eb_st_entry *e = eb_calloc(m->alloc, (size_t)m->nt, sizeof *e);
    if (!e) return eb_fail(err, EB_ERR_NOMEM, "train: out of memory");
    for (int i = 0; i < m->nt; i++) {
        e[i].name = m->t[i].name;
        e[i].data = m->eff + m->t[i].off;
        e[i].ndim = m->t[i].ndim;
        e[i].shape[0] = m->t[i].shape[0];
        e[i].shape[1] = m->t[i].shape[1];
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    s = eb_st_write(path, e, m->nt, EB_DTYPE_F32, "{\"format\": \"pt\"}", err);
    eb_free(m->alloc, e);
    return s;
}
