/* tensors.c - the table of ALBERT's tensor names and roles, its walk over
 * one model's shape, and the lookup of a name (see tensors.h). */
#include "model/tensors.h"

#include <stdio.h>
#include <string.h>

#define LAYER "albert.encoder.albert_layer_groups.{g}.albert_layers.{i}."
#define ADAPTER LAYER "adapters.{l}."
#define RAMP "albert.encoder.highway.{j}."

static const eb_tensor_row ROWS[EB_NUM_TENSOR_IDS] = {
    {EB_T_WORD, "albert.embeddings.word_embeddings.weight", NULL, EB_TK_MATRIX, EB_TS_ONCE,
     EB_ROLE_EMBEDDING, EB_ROLE_EMBEDDING, EB_D_VOCAB, EB_D_E},
    {EB_T_POS, "albert.embeddings.position_embeddings.weight", NULL, EB_TK_MATRIX, EB_TS_ONCE,
     EB_ROLE_EMBEDDING, EB_ROLE_EMBEDDING, EB_D_POSITIONS, EB_D_E},
    {EB_T_TYPE, "albert.embeddings.token_type_embeddings.weight", NULL, EB_TK_MATRIX, EB_TS_ONCE,
     EB_ROLE_EMBEDDING, EB_ROLE_EMBEDDING, EB_D_TYPES, EB_D_E},
    {EB_T_EMB_LN, "albert.embeddings.LayerNorm", NULL, EB_TK_NORM, EB_TS_ONCE, EB_ROLE_EMB_NORM,
     EB_ROLE_EMB_NORM, EB_D_E, EB_D_NONE},
    {EB_T_MAP, "albert.encoder.embedding_hidden_mapping_in", NULL, EB_TK_LINEAR, EB_TS_ONCE,
     EB_ROLE_MAPPING, EB_ROLE_MAPPING, EB_D_H, EB_D_E},
    {EB_T_Q, LAYER "attention.query", NULL, EB_TK_LINEAR, EB_TS_LAYER, EB_ROLE_ENC_MATRIX,
     EB_ROLE_ENC_VECTOR, EB_D_H, EB_D_H},
    {EB_T_K, LAYER "attention.key", NULL, EB_TK_LINEAR, EB_TS_LAYER, EB_ROLE_ENC_MATRIX,
     EB_ROLE_ENC_VECTOR, EB_D_H, EB_D_H},
    {EB_T_V, LAYER "attention.value", NULL, EB_TK_LINEAR, EB_TS_LAYER, EB_ROLE_ENC_MATRIX,
     EB_ROLE_ENC_VECTOR, EB_D_H, EB_D_H},
    {EB_T_O, LAYER "attention.dense", NULL, EB_TK_LINEAR, EB_TS_LAYER, EB_ROLE_ENC_MATRIX,
     EB_ROLE_ENC_VECTOR, EB_D_H, EB_D_H},
    {EB_T_ATTN_LN, LAYER "attention.LayerNorm", NULL, EB_TK_NORM, EB_TS_LAYER, EB_ROLE_ENC_VECTOR,
     EB_ROLE_ENC_VECTOR, EB_D_H, EB_D_NONE},
    {EB_T_FFN, LAYER "ffn", NULL, EB_TK_LINEAR, EB_TS_LAYER, EB_ROLE_ENC_MATRIX, EB_ROLE_ENC_VECTOR,
     EB_D_I, EB_D_H},
    {EB_T_FFN_OUT, LAYER "ffn_output", NULL, EB_TK_LINEAR, EB_TS_LAYER, EB_ROLE_ENC_MATRIX,
     EB_ROLE_ENC_VECTOR, EB_D_H, EB_D_I},
    {EB_T_OUT_LN, LAYER "full_layer_layer_norm", NULL, EB_TK_NORM, EB_TS_LAYER, EB_ROLE_ENC_VECTOR,
     EB_ROLE_ENC_VECTOR, EB_D_H, EB_D_NONE},
    {EB_T_SPAN, LAYER "attention.span", NULL, EB_TK_VECTOR, EB_TS_LAYER, EB_ROLE_SPAN,
     EB_ROLE_SPAN, EB_D_HEADS, EB_D_NONE},
    {EB_T_AD_ATTN_DOWN, ADAPTER "attn.down", NULL, EB_TK_LINEAR, EB_TS_ADAPTER, EB_ROLE_ADAPTER,
     EB_ROLE_ADAPTER, EB_D_ADAPTER, EB_D_H},
    {EB_T_AD_ATTN_UP, ADAPTER "attn.up", NULL, EB_TK_LINEAR, EB_TS_ADAPTER, EB_ROLE_ADAPTER,
     EB_ROLE_ADAPTER, EB_D_H, EB_D_ADAPTER},
    {EB_T_AD_FFN_DOWN, ADAPTER "ffn.down", NULL, EB_TK_LINEAR, EB_TS_ADAPTER, EB_ROLE_ADAPTER,
     EB_ROLE_ADAPTER, EB_D_ADAPTER, EB_D_H},
    {EB_T_AD_FFN_UP, ADAPTER "ffn.up", NULL, EB_TK_LINEAR, EB_TS_ADAPTER, EB_ROLE_ADAPTER,
     EB_ROLE_ADAPTER, EB_D_H, EB_D_ADAPTER},
    {EB_T_POOLER, "albert.pooler", NULL, EB_TK_LINEAR, EB_TS_ONCE, EB_ROLE_HEAD, EB_ROLE_HEAD,
     EB_D_H, EB_D_H},
    {EB_T_CLS, "classifier", NULL, EB_TK_LINEAR, EB_TS_ONCE, EB_ROLE_HEAD, EB_ROLE_HEAD,
     EB_D_LABELS, EB_D_H},
    {EB_T_RAMP_POOLER, RAMP "pooler", RAMP "pooler.dense", EB_TK_LINEAR, EB_TS_RAMP, EB_ROLE_RAMP,
     EB_ROLE_RAMP, EB_D_H, EB_D_H},
    {EB_T_RAMP_CLS, RAMP "classifier", NULL, EB_TK_LINEAR, EB_TS_RAMP, EB_ROLE_RAMP, EB_ROLE_RAMP,
     EB_D_LABELS, EB_D_H},
    /* HuggingFace AlbertForMaskedLM; predictions.decoder.weight is the word embeddings (tied) */
    {EB_T_MLM_DENSE, "predictions.dense", NULL, EB_TK_LINEAR, EB_TS_MLM, EB_ROLE_MLM, EB_ROLE_MLM,
     EB_D_E, EB_D_H},
    {EB_T_MLM_LN, "predictions.LayerNorm", NULL, EB_TK_NORM, EB_TS_MLM, EB_ROLE_MLM, EB_ROLE_MLM,
     EB_D_E, EB_D_NONE},
    {EB_T_MLM_BIAS, "predictions.bias", NULL, EB_TK_VECTOR, EB_TS_MLM, EB_ROLE_MLM, EB_ROLE_MLM,
     EB_D_VOCAB, EB_D_NONE},
};

static const char *const ROLE_NAMES[EB_NUM_ROLES] = {
    "embedding", "embedding norm", "embedding mapping", "encoder matrix", "encoder vector",
    "span",      "adapter",        "head",              "off-ramp",       "masked-LM head"};

const eb_tensor_row *eb_tensor_rows(int *n) {
    if (n) *n = EB_NUM_TENSOR_IDS;
    return ROWS;
}

const char *eb_tensor_role_name(eb_tensor_role r) {
    return (unsigned)r < EB_NUM_ROLES ? ROLE_NAMES[r] : "?";
}

static int dim(const eb_tensor_plan *p, eb_tensor_dim d) {
    const eb_config *c = p->cfg;
    switch (d) {
    case EB_D_VOCAB: return c->vocab_size;
    case EB_D_POSITIONS: return c->max_position_embeddings;
    case EB_D_TYPES: return c->type_vocab_size;
    case EB_D_E: return c->embedding_size;
    case EB_D_H: return c->hidden_size;
    case EB_D_I: return c->intermediate_size;
    case EB_D_HEADS: return c->num_attention_heads;
    case EB_D_LABELS: return c->num_labels;
    case EB_D_ADAPTER: return p->adapter_size;
    case EB_D_NONE: break;
    }
    return 0;
}

/* The pattern with its {x} replaced by the indices. */
static void expand(const char *pat, const int idx[4], char *out, size_t cap) {
    size_t n = 0;
    for (const char *s = pat; *s && n + 1 < cap; s++) {
        const char *k = s[0] == '{' && s[1] && s[2] == '}' ? strchr("gilj", s[1]) : NULL;
        if (k) {
            n += (size_t)snprintf(out + n, cap - n, "%d", idx[k - "gilj"]);
            if (n >= cap) n = cap - 1;
            s += 2;
        } else {
            out[n++] = *s;
        }
    }
    out[n] = 0;
}

static int emit(const eb_tensor_plan *p, const eb_tensor_row *r, int g, int i, int l, int j,
                int index, int (*fn)(void *, const eb_tensor_item *), void *ud) {
    if (r->id == EB_T_SPAN && !p->spans) return 0;
    eb_tensor_item it;
    it.row = r;
    it.g = g, it.i = i, it.l = l, it.j = j;
    it.index = index;
    const int idx[4] = {g, i, l, j};
    expand(r->pattern, idx, it.name, sizeof it.name);
    it.alt[0] = 0;
    if (r->alt) expand(r->alt, idx, it.alt, sizeof it.alt);
    it.d0 = dim(p, r->d0);
    it.d1 = dim(p, r->d1);
    return fn(ud, &it);
}

int eb_tensor_walk(const eb_tensor_plan *p, int (*fn)(void *ud, const eb_tensor_item *it),
                   void *ud) {
    const eb_config *c = p->cfg;
    const int G = c->num_hidden_groups, IN = c->inner_group_num, L = c->num_hidden_layers;
    const int per_group = G > 0 ? L / G : 1;
    for (int a = 0, b; a < EB_NUM_TENSOR_IDS; a = b) {
        const eb_tensor_scope sc = ROWS[a].scope;
        for (b = a + 1; b < EB_NUM_TENSOR_IDS && ROWS[b].scope == sc; b++) {}
        /* one run of rows of a scope, for every place of that scope */
        int n = sc == EB_TS_ONCE                                  ? 1
                : sc == EB_TS_LAYER                               ? G * IN
                : sc == EB_TS_ADAPTER                             ? (p->adapter_size > 0 ? L * IN : 0)
                : sc == EB_TS_RAMP                                ? p->ramps
                                                                  : (p->mlm ? 1 : 0);
        for (int k = 0; k < n; k++) {
            int g = 0, i = 0, l = 0, j = 0;
            if (sc == EB_TS_LAYER) g = k / IN, i = k % IN;
            if (sc == EB_TS_ADAPTER) l = k / IN, i = k % IN, g = l / per_group;
            if (sc == EB_TS_RAMP) j = k;
            for (int r = a; r < b; r++) {
                int rc = emit(p, &ROWS[r], g, i, l, j, k, fn, ud);
                if (rc) return rc;
            }
        }
    }
    return 0;
}

void *eb_albert_slot(eb_albert_weights *w, const eb_tensor_item *it) {
    eb_albert_layer *ly = w->layers ? &w->layers[it->index] : NULL;
    eb_layer_adapters *ad = w->adapters ? &w->adapters[it->index] : NULL;
    switch (it->row->id) {
    case EB_T_WORD: return &w->word_emb;
    case EB_T_POS: return &w->pos_emb;
    case EB_T_TYPE: return &w->type_emb;
    case EB_T_EMB_LN: return &w->emb_ln;
    case EB_T_MAP: return &w->map_in;
    case EB_T_Q: return ly ? &ly->q : NULL;
    case EB_T_K: return ly ? &ly->k : NULL;
    case EB_T_V: return ly ? &ly->v : NULL;
    case EB_T_O: return ly ? &ly->o : NULL;
    case EB_T_ATTN_LN: return ly ? &ly->attn_ln : NULL;
    case EB_T_FFN: return ly ? &ly->ffn : NULL;
    case EB_T_FFN_OUT: return ly ? &ly->ffn_out : NULL;
    case EB_T_OUT_LN: return ly ? &ly->out_ln : NULL;
    case EB_T_SPAN: return ly ? &ly->span_z : NULL;
    case EB_T_AD_ATTN_DOWN: return ad ? &ad->attn.down : NULL;
    case EB_T_AD_ATTN_UP: return ad ? &ad->attn.up : NULL;
    case EB_T_AD_FFN_DOWN: return ad ? &ad->ffn.down : NULL;
    case EB_T_AD_FFN_UP: return ad ? &ad->ffn.up : NULL;
    case EB_T_POOLER: return &w->pooler;
    case EB_T_CLS: return &w->classifier;
    case EB_T_RAMP_POOLER: return w->ramp_pooler ? &w->ramp_pooler[it->index] : NULL;
    case EB_T_RAMP_CLS: return w->ramp_cls ? &w->ramp_cls[it->index] : NULL;
    default: return NULL; /* the masked-LM head lives in the trainer only */
    }
}

/* `name` against a pattern: the rest of the name after it, or NULL. */
static const char *match_pattern(const char *pat, const char *name, int idx[4]) {
    const char *s = name;
    for (const char *p = pat; *p; p++) {
        const char *k = p[0] == '{' && p[1] && p[2] == '}' ? strchr("gilj", p[1]) : NULL;
        if (k) {
            if (*s < '0' || *s > '9') return NULL;
            long v = 0;
            for (; *s >= '0' && *s <= '9'; s++)
                if ((v = v * 10 + (*s - '0')) > 1000000) return NULL;
            idx[k - "gilj"] = (int)v;
            p += 2;
        } else if (*s++ != *p) {
            return NULL;
        }
    }
    return s;
}

static int match_one(const eb_tensor_row *r, const char *pat, const char *name,
                     eb_tensor_match *m) {
    int idx[4] = {0, 0, 0, 0};
    const char *rest = pat ? match_pattern(pat, name, idx) : NULL;
    if (!rest) return 0;
    int part;
    if (r->kind == EB_TK_MATRIX || r->kind == EB_TK_VECTOR)
        part = *rest ? -1 : 0;
    else
        part = !strcmp(rest, ".weight") ? 0 : !strcmp(rest, ".bias") ? 1 : -1;
    if (part < 0) return 0;
    m->row = r;
    m->part = part;
    m->role = part ? r->bias_role : r->role;
    m->g = idx[0], m->i = idx[1], m->l = idx[2], m->j = idx[3];
    return 1;
}

int eb_tensor_row_match(const eb_tensor_row *r, const char *name, eb_tensor_match *m) {
    if (match_one(r, r->pattern, name, m) || match_one(r, r->alt, name, m)) return 1;
    /* checkpoints of AlbertModel carry the names without "albert." */
    if (strncmp(name, "albert.", 7) && !strncmp(r->pattern, "albert.", 7)) {
        char full[256];
        if (snprintf(full, sizeof full, "albert.%s", name) >= (int)sizeof full) return 0;
        return match_one(r, r->pattern, full, m) || match_one(r, r->alt, full, m);
    }
    return 0;
}

int eb_tensor_lookup(const char *name, eb_tensor_match *m) {
    for (int k = 0; k < EB_NUM_TENSOR_IDS; k++)
        if (eb_tensor_row_match(&ROWS[k], name, m)) return 1;
    return 0;
}

int eb_tensor_spell(const eb_tensor_match *m, int alt, char *buf, size_t cap) {
    const char *pat = alt ? m->row->alt : m->row->pattern;
    if (!pat || cap < 2) return 0;
    const int idx[4] = {m->g, m->i, m->l, m->j};
    expand(pat, idx, buf, cap);
    size_t n = strlen(buf);
    if (m->row->kind == EB_TK_LINEAR || m->row->kind == EB_TK_NORM)
        n += (size_t)snprintf(buf + n, cap - n, "%s", m->part ? ".bias" : ".weight");
    return n < cap - 1;
}

int eb_tensor_role_of(const char *name) {
    eb_tensor_match m;
    return eb_tensor_lookup(name, &m) ? (int)m.role : -1;
}

typedef struct lin_list {
    eb_albert_weights *w;
    eb_linear **lins;
    int n, cap;
} lin_list;

static int add_linear(void *ud, const eb_tensor_item *it) {
    lin_list *l = ud;
    if (it->row->kind != EB_TK_LINEAR) return 0;
    eb_linear *lin = eb_albert_slot(l->w, it);
    if (lin && l->lins && l->n < l->cap) l->lins[l->n] = lin;
    if (lin) l->n++;
    return 0;
}

int eb_albert_linears(eb_albert_weights *w, const eb_config *c, eb_linear **lins, int cap) {
    eb_tensor_plan plan = {c, 0, w->adapters ? w->adapter_size : 0, w->num_ramps, 0};
    lin_list l = {w, lins, 0, cap};
    eb_tensor_walk(&plan, add_linear, &l);
    return l.n;
}
