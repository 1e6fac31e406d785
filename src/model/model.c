/* model.c - load a HuggingFace ALBERT checkpoint directory; contexts;
 * classification with the runtime policies. */
#include "model/model_internal.h"
#include "model/tensors.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernels/kernels.h"
#include "model/bundle.h"
#include "model/config.h"
#include "edgebert/quant.h"
#include "edgebert/tokenizer.h"
#include "util/util.h"

eb_load_params eb_load_params_default(void) {
    eb_load_params p;
    memset(&p, 0, sizeof p);
    p.use_mmap = 1;
    p.pack_weights = 1;
    return p;
}

eb_run_params eb_run_params_default(void) {
    eb_run_params p;
    memset(&p, 0, sizeof p);
    p.policy = EB_POLICY_EE;
    p.threshold = -1.0f;
    p.predict_after = 1;
    p.latency_target_ms = 50.0;
    p.mac_size = 16;
    p.precision = EB_PRECISION_FP32;
    return p;
}

float eb_entropy(const float *logits, int n) {
    return eb_entropy_logits(logits, n);
}

/* ---- tensor fetching ------------------------------------------------ */

int eb_model_own(eb_model *m, float *p) {
    if (m->n_owned == m->cap_owned) {
        int nc = m->cap_owned ? m->cap_owned * 2 : 64;
        float **np = eb_realloc(&m->alloc, m->owned, sizeof(float *) * (size_t)nc);
        if (!np) return 0;
        m->owned = np;
        m->cap_owned = nc;
    }
    m->owned[m->n_owned++] = p;
    return 1;
}

static const eb_st_tensor *find_any(const eb_safetensors *st, const char *name) {
    const eb_st_tensor *t = eb_st_find(st, name);
    if (!t && !strncmp(name, "albert.", 7)) t = eb_st_find(st, name + 7);
    return t;
}

/* Get tensor `name` with the given shape (d1 = 0 for 1-D) as fp32.
 * Returns NULL and sets the error when missing (unless optional) or wrong. */
static const float *get(loader *L, const char *name, int d0, int d1, int optional) {
    if (L->err->status != EB_OK) return NULL;
    const eb_st_tensor *t = find_any(L->st, name);
    if (!t) {
        if (optional) return NULL;
        if (!strncmp(name, "classifier.", 11) && eb_st_find(L->st, "predictions.dense.weight"))
            eb_fail(L->err, EB_ERR_FORMAT,
                    "%s: a pretrained masked-LM backbone with no classifier: fine-tune it on a "
                    "task first (edgebert train --init DIR --task NAME ...)",
                    L->file);
        else
            eb_fail(L->err, EB_ERR_FORMAT, "%s: tensor '%s' is missing", L->file, name);
        return NULL;
    }
    int want_nd = d1 ? 2 : 1;
    if (t->ndim != want_nd || t->shape[0] != d0 || (d1 && t->shape[1] != d1)) {
        char got[64] = "";
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "",
                     (long long)t->shape[i]);
        if (d1)
            eb_fail(L->err, EB_ERR_FORMAT, "%s: tensor '%s' has shape [%s], expected [%d,%d]",
                    L->file, name, got, d0, d1);
        else
            eb_fail(L->err, EB_ERR_FORMAT, "%s: tensor '%s' has shape [%s], expected [%d]", L->file,
                    name, got, d0);
        return NULL;
    }
    if (t->dtype == EB_DTYPE_F32 && ((uintptr_t)t->data & 3) == 0) return (const float *)t->data;
    float *buf = eb_malloc_aligned(&L->m->alloc, t->numel * sizeof(float));
    if (!buf || !eb_model_own(L->m, buf)) {
        eb_free_aligned(&L->m->alloc, buf);
        eb_fail(L->err, EB_ERR_NOMEM, "%s: out of memory converting '%s'", L->file, name);
        return NULL;
    }
    eb_st_to_f32(t, buf);
    return buf;
}

static void get_linear(loader *L, eb_linear *lin, const char *prefix, int out, int in) {
    char n[256];
    snprintf(n, sizeof n, "%s.weight", prefix);
    lin->w = get(L, n, out, in, 0);
    snprintf(n, sizeof n, "%s.bias", prefix);
    lin->b = get(L, n, out, 0, 0);
    lin->out = out;
    lin->in = in;
}

static void get_norm(loader *L, eb_norm *nm, const char *prefix, int n) {
    char b[256];
    snprintf(b, sizeof b, "%s.weight", prefix);
    nm->g = get(L, b, n, 0, 0);
    snprintf(b, sizeof b, "%s.bias", prefix);
    nm->b = get(L, b, n, 0, 0);
    nm->n = n;
}

typedef struct bind_state {
    loader *L;
    eb_albert_weights *w;
    int skip_ramp; /* the last off-ramp is absent */
} bind_state;

static int bind_one(void *ud, const eb_tensor_item *it) {
    bind_state *b = ud;
    loader *L = b->L;
    const eb_tensor_row *r = it->row;
    void *slot = eb_albert_slot(b->w, it);
    char prefix[sizeof it->name + 16];
    snprintf(prefix, sizeof prefix, "%s", it->name);
    if (r->id == EB_T_RAMP_POOLER) {
        /* either spelling; the off-ramp after the last layer is optional (the main head
         * answers there) */
        char wn[sizeof prefix + 8];
        snprintf(wn, sizeof wn, "%s.weight", prefix);
        if (!find_any(L->st, wn)) snprintf(prefix, sizeof prefix, "%s", it->alt);
        snprintf(wn, sizeof wn, "%s.weight", prefix);
        const int last = it->j == b->w->num_ramps - 1;
        b->skip_ramp = last && !find_any(L->st, wn);
    }
    if (r->scope == EB_TS_RAMP && b->skip_ramp) return 0;
    switch (r->kind) {
    case EB_TK_LINEAR: get_linear(L, slot, prefix, it->d0, it->d1); break;
    case EB_TK_NORM: get_norm(L, slot, prefix, it->d0); break;
    case EB_TK_MATRIX:
    case EB_TK_VECTOR:
        *(const float **)slot = get(L, prefix, it->d0, it->d1, r->role == EB_ROLE_SPAN);
        break;
    }
    return 0;
}

/* Bind all ALBERT weights of a task from the open safetensors file: every
 * tensor of the table (tensors.h) that this task's config has. */
eb_status eb_model_bind_task(loader *L, eb_model_task *t) {
    eb_model *m = L->m;
    const eb_config *c = &t->cfg;
    eb_albert_weights *w = &t->w;
    int nl = c->num_hidden_groups * c->inner_group_num;
    t->layers = eb_calloc(&m->alloc, (size_t)nl, sizeof *t->layers);
    if (!t->layers) return eb_fail(L->err, EB_ERR_NOMEM, "%s: out of memory", L->file);
    w->layers = t->layers;
    /* adapters: one attention and one feed-forward adapter per application
     * l and inner layer i (named under the group that application uses) */
    const int r = t->extras.adapter_size;
    if (r > 0) {
        const int NA = c->num_hidden_layers * c->inner_group_num;
        t->adapters = eb_calloc(&m->alloc, (size_t)NA, sizeof *t->adapters);
        if (!t->adapters) return eb_fail(L->err, EB_ERR_NOMEM, "%s: out of memory", L->file);
        w->adapters = t->adapters;
        w->adapter_size = r;
    }
    /* off-ramps: all of layers 1..L-1 or none (the last one is optional:
     * after the last layer the main head answers) */
    const int NL = c->num_hidden_layers;
    const eb_tensor_match ramp0 = {&eb_tensor_rows(NULL)[EB_T_RAMP_POOLER], 0, EB_ROLE_RAMP,
                                   0, 0, 0, 0}; /* the first ramp's pooler weight */
    char spelt[2][256];
    eb_tensor_spell(&ramp0, 0, spelt[0], sizeof spelt[0]);
    eb_tensor_spell(&ramp0, 1, spelt[1], sizeof spelt[1]);
    if (find_any(L->st, spelt[0]) || find_any(L->st, spelt[1])) {
        t->ramps = eb_calloc(&m->alloc, (size_t)NL * 2, sizeof *t->ramps);
        if (!t->ramps) return eb_fail(L->err, EB_ERR_NOMEM, "%s: out of memory", L->file);
        w->num_ramps = NL;
        w->ramp_pooler = t->ramps;
        w->ramp_cls = t->ramps + NL;
    }
    eb_tensor_plan plan = {c, 1, r > 0 ? r : 0, w->num_ramps, 0};
    bind_state b = {L, w, 0};
    eb_tensor_walk(&plan, bind_one, &b);
    return L->err->status;
}

static void task_free(eb_model *m, eb_model_task *t) {
    for (int i = 0; i < t->n_xbms; i++)
        eb_bitmask_free(&t->xbms[i]);
    eb_free(&m->alloc, t->xbms);
    eb_free_aligned(&m->alloc, t->packed);
    eb_free_aligned(&m->alloc, t->packed_heads);
    eb_free_aligned(&m->alloc, t->bf16_heads);
    eb_free_aligned(&m->alloc, t->bf16);
    if (t->emb_q8_owned)
        for (int i = 0; i < 3; i++)
            eb_free(&m->alloc, t->emb_q8[i]);
    for (int i = 0; i < t->n_bms; i++)
        eb_bitmask_free(&t->bms[i]);
    eb_free(&m->alloc, t->bms);
    eb_free(&m->alloc, t->layers);
    eb_free(&m->alloc, t->ramps);
    eb_free(&m->alloc, t->adapters);
    eb_free(&m->alloc, t->lut);
}

void eb_model_free(eb_model *m) {
    if (!m) return;
    eb_allocator a = m->alloc;
    if (m->fork_of) { /* a clone owns only its task table */
        eb_free(&a, m->tasks);
        eb_free(&a, m);
        return;
    }
    for (int i = 0; i < m->n_tasks; i++)
        task_free(m, &m->tasks[i]);
    eb_free(&a, m->tasks);
    for (int i = 0; i < m->n_owned; i++)
        eb_free_aligned(&a, m->owned[i]);
    eb_free(&a, m->owned);
    eb_st_close(&m->st);
    if (m->tok) eb_tokenizer_free(m->tok);
    eb_free(&a, m);
}

/* Per-task state derived after loading: accelerator model, predictor view,
 * encoder weight density. */
static double count_density(const eb_linear *l, double *nz) {
    size_t n = (size_t)l->out * (size_t)l->in, k = 0;
    for (size_t i = 0; i < n; i++)
        k += l->w[i] != 0.0f;
    *nz += (double)k;
    return (double)n;
}

/* The execution forms of every linear: a bitmask for the sparse fp32 kernel
 * when the matrix is sparse enough for it to win at some length (the stored
 * bitmask of a bundle, whatever its payload: it decodes to the same values),
 * and the AdaptivFloat8 form for --precision af8 (the stored AF8 codes of a
 * bundle, else the weights quantised once here, round to nearest).  The
 * embedding tables get AF8 codes too (shared between the tasks of a bundle
 * that share the tables).  Out of memory leaves a form out: the fp32 path
 * then runs dense, the af8 path reports the missing form. */
/* Packed copies of the dense matrices for the AVX-512 outer-product kernel
 * (eb_gemm_packed), in one block: the per-sentence path then runs the same
 * kernel as the batched engine.  Skipped without AVX-512, when the caller
 * turned it off (eb_load_params.pack_weights = 0) or out of memory (the
 * dot-product tiles are used then); matrices narrower than 16 outputs (the
 * classifiers) stay unpacked. */
static int packable(const eb_linear *l) {
    return l->w && l->out >= 16 && l->in > 0;
}

static void pack_linears(eb_model *m, eb_model_task *t, eb_linear **lins, int n) {
    if (!m->pack_weights || !eb_cpu_has_avx512() || t->packed) return;
    size_t floats = 0;
    for (int i = 0; i < n; i++)
        if (packable(lins[i]))
            floats += (eb_pack_floats(lins[i]->in, lins[i]->out) + 15) & ~(size_t)15;
    if (!floats) return;
    t->packed = eb_malloc_aligned(&m->alloc, floats * sizeof(float));
    if (!t->packed) return;
    float *cur = t->packed;
    for (int i = 0; i < n; i++) {
        eb_linear *l = lins[i];
        if (!packable(l)) continue;
        eb_pack_weights(cur, l->w, l->in, l->out);
        l->packed = cur;
        cur += (eb_pack_floats(l->in, l->out) + 15) & ~(size_t)15;
    }
}

/* An aligned block of `bytes` for an execution form and a scratch of
 * `scratch` floats to build it in; both or neither (returns 0, *block NULL). */
static int block_and_scratch(eb_model *m, size_t bytes, size_t scratch, void **block, float **tmp) {
    *block = eb_malloc_aligned(&m->alloc, bytes);
    *tmp = eb_malloc(&m->alloc, scratch * sizeof(float));
    if (*block && *tmp) return 1;
    eb_free_aligned(&m->alloc, *block);
    eb_free(&m->alloc, *tmp);
    *block = NULL;
    return 0;
}

/* bf16 copies of the AF8 forms (every AF8 value is exact in bf16) for the
 * af8-bf16 precision, on CPUs with AVX512-BF16 (the dot product needs an even
 * inner dimension), packed in 48-column panels for eb_gemm_packed_bf16. */
static int bf16able(const eb_linear *l) {
    return l->q8 && l->in % 2 == 0 && l->out > 0;
}

static void bf16_linears(eb_model *m, eb_model_task *t, eb_linear **lins, int n) {
    if (!m->pack_weights || !eb_cpu_has_avx512_bf16() || t->bf16) return;
    size_t count = 0, big = 0;
    for (int i = 0; i < n; i++)
        if (bf16able(lins[i])) {
            size_t c = eb_pack_bf16_count(lins[i]->in, lins[i]->out);
            count += (c + 31) & ~(size_t)31; /* 64-byte aligned panels */
            big = EB_MAX(big, (size_t)lins[i]->in * lins[i]->out);
        }
    if (!count) return;
    float *tmp;
    if (!block_and_scratch(m, count * sizeof(uint16_t), big, (void **)&t->bf16, &tmp)) return;
    uint16_t *cur = t->bf16;
    for (int i = 0; i < n; i++) {
        eb_linear *l = lins[i];
        if (!bf16able(l)) continue;
        eb_error e2 = {0};
        if (eb_bitmask_decode_f32(l->q8, tmp, &e2) != EB_OK) continue;
        eb_pack_bf16(cur, tmp, l->in, l->out);
        l->bf16 = cur;
        cur += (eb_pack_bf16_count(l->in, l->out) + 31) & ~(size_t)31;
    }
    eb_free(&m->alloc, tmp);
}

/* Which heads a layer's spans leave on (bit h), and how many; all on
 * without spans. */
static int heads_on(const eb_model_task *t, const eb_albert_layer *L, uint64_t *mask) {
    const int NH = t->cfg.num_attention_heads;
    int n = 0;
    *mask = 0;
    for (int h = 0; h < NH && h < 64; h++)
        if (!(L->span_z && eb_span_head_off(L->span_z[h], t->extras.span_ramp))) {
            *mask |= (uint64_t)1 << h;
            n++;
        }
    return n;
}

/* dst[W, H] = the rows of w[H, H] (Q, K or V) of the heads in mk, in order. */
static void on_head_rows(float *dst, const float *w, uint64_t mk, int NH, int HS) {
    const int H = NH * HS;
    for (int h = 0, r = 0; h < NH; h++)
        if (mk >> h & 1) {
            memcpy(dst + (size_t)r * H, w + (size_t)h * HS * H, sizeof(float) * (size_t)HS * H);
            r += HS;
        }
}

/* dst[H, W] = the input columns of w[H, H] (O) of the heads in mk, in order. */
static void on_head_cols(float *dst, const float *w, uint64_t mk, int NH, int HS, int W) {
    const int H = NH * HS;
    for (int o = 0; o < H; o++)
        for (int h = 0, r = 0; h < NH; h++)
            if (mk >> h & 1) {
                memcpy(dst + (size_t)o * W + r, w + (size_t)o * H + h * HS,
                       sizeof(float) * (size_t)HS);
                r += HS;
            }
}

/* For the layers whose spans switch some (not all) heads off: Q, K, V with
 * the rows of the heads that stay on, O with their input columns, packed
 * (the off heads' weights are never read, as in the unpacked path). */
static void pack_on_heads(eb_model *m, eb_model_task *t) {
    const int NH = t->cfg.num_attention_heads, H = t->cfg.hidden_size, HS = H / NH;
    const int nl = t->cfg.num_hidden_groups * t->cfg.inner_group_num;
    if (!m->pack_weights || !eb_cpu_has_avx512() || NH > 64 || t->packed_heads) return;
    size_t floats = 0;
    for (int i = 0; i < nl; i++) {
        uint64_t mk;
        const eb_albert_layer *L = &t->layers[i];
        const int n_on = heads_on(t, L, &mk), W = n_on * HS;
        if (n_on == 0 || n_on == NH || !L->q.w || !L->k.w || !L->v.w || !L->o.w) continue;
        floats += 3 * ((eb_pack_floats(H, W) + 15) & ~(size_t)15) + 3 * (((size_t)W + 15) & ~15u) +
                  ((eb_pack_floats(W, H) + 15) & ~(size_t)15);
    }
    if (!floats) return;
    float *tmp;
    if (!block_and_scratch(m, floats * sizeof(float), (size_t)H * H, (void **)&t->packed_heads,
                           &tmp))
        return;
    float *cur = t->packed_heads;
    for (int i = 0; i < nl; i++) {
        uint64_t mk;
        eb_albert_layer *L = &t->layers[i];
        const int n_on = heads_on(t, L, &mk), W = n_on * HS;
        if (n_on == 0 || n_on == NH || !L->q.w || !L->k.w || !L->v.w || !L->o.w) continue;
        const eb_linear *lq[3] = {&L->q, &L->k, &L->v};
        for (int j = 0; j < 3; j++) {
            float *bias = cur;
            cur += ((size_t)W + 15) & ~15u;
            on_head_rows(tmp, lq[j]->w, mk, NH, HS);
            for (int h = 0, r = 0; h < NH; h++)
                if (mk >> h & 1) {
                    for (int k = 0; k < HS; k++)
                        bias[r + k] = lq[j]->b ? lq[j]->b[h * HS + k] : 0.0f;
                    r += HS;
                }
            eb_pack_weights(cur, tmp, H, W);
            L->qkv_on_packed[j] = cur, L->qkv_on_bias[j] = bias;
            cur += (eb_pack_floats(H, W) + 15) & ~(size_t)15;
        }
        on_head_cols(tmp, L->o.w, mk, NH, HS, W); /* O: the on heads' input columns */
        eb_pack_weights(cur, tmp, W, H);
        L->o_on_packed = cur;
        cur += (eb_pack_floats(W, H) + 15) & ~(size_t)15;
        L->on_mask = mk;
    }
    eb_free(&m->alloc, tmp);
}

/* The bf16 twins of the on-head forms, from the AF8 forms (exact in bf16),
 * for the layers pack_on_heads packed. */
static void pack_on_heads_bf16(eb_model *m, eb_model_task *t) {
    const int NH = t->cfg.num_attention_heads, H = t->cfg.hidden_size, HS = H / NH;
    const int nl = t->cfg.num_hidden_groups * t->cfg.inner_group_num;
    if (!t->packed_heads || !eb_cpu_has_avx512_bf16() || t->bf16_heads || H % 2) return;
    size_t count = 0;
    for (int i = 0; i < nl; i++) {
        const eb_albert_layer *L = &t->layers[i];
        const int W = __builtin_popcountll(L->on_mask) * HS;
        if (!L->o_on_packed || W % 2 || !L->q.q8 || !L->k.q8 || !L->v.q8 || !L->o.q8) continue;
        count += 3 * ((eb_pack_bf16_count(H, W) + 31) & ~(size_t)31) +
                 ((eb_pack_bf16_count(W, H) + 31) & ~(size_t)31);
    }
    if (!count) return;
    float *full, *sel;
    if (!block_and_scratch(m, count * sizeof(uint16_t), 2 * (size_t)H * H, (void **)&t->bf16_heads,
                           &full))
        return;
    sel = full + (size_t)H * H;
    uint16_t *cur = t->bf16_heads;
    for (int i = 0; i < nl; i++) {
        eb_albert_layer *L = &t->layers[i];
        const uint64_t mk = L->on_mask;
        const int W = __builtin_popcountll(mk) * HS;
        if (!L->o_on_packed || W % 2 || !L->q.q8 || !L->k.q8 || !L->v.q8 || !L->o.q8) continue;
        const eb_linear *lq[3] = {&L->q, &L->k, &L->v};
        eb_error e2 = {0};
        int ok = 1;
        const uint16_t *made[3] = {NULL, NULL, NULL};
        for (int j = 0; j < 3 && ok; j++) {
            ok = eb_bitmask_decode_f32(lq[j]->q8, full, &e2) == EB_OK;
            if (!ok) break;
            on_head_rows(sel, full, mk, NH, HS);
            eb_pack_bf16(cur, sel, H, W);
            made[j] = cur;
            cur += (eb_pack_bf16_count(H, W) + 31) & ~(size_t)31;
        }
        ok = ok && eb_bitmask_decode_f32(L->o.q8, full, &e2) == EB_OK;
        if (!ok) continue; /* this layer keeps the af8 path */
        on_head_cols(sel, full, mk, NH, HS, W);
        eb_pack_bf16(cur, sel, W, H);
        L->o_on_bf16 = cur;
        cur += (eb_pack_bf16_count(W, H) + 31) & ~(size_t)31;
        for (int j = 0; j < 3; j++)
            L->qkv_on_bf16[j] = made[j];
    }
    eb_free(&m->alloc, full);
}

static void build_exec_forms(eb_model *m, eb_model_task *t) {
    int cap = eb_albert_linears(&t->w, &t->cfg, NULL, 0);
    eb_linear **lins = eb_calloc(&m->alloc, (size_t)cap, sizeof *lins);
    int n = lins ? eb_albert_linears(&t->w, &t->cfg, lins, cap) : 0;
    t->xbms = eb_calloc(&m->alloc, (size_t)(2 * n + 1), sizeof(eb_bitmask));
    t->cap_xbms = t->xbms ? 2 * n : 0;
    for (int i = 0; i < n; i++) {
        eb_linear *l = lins[i];
        l->sparse = l->q8 = NULL;
        l->packed = NULL;
        l->bf16 = NULL;
        if (!l->w) continue;
        if (l->bm) {
            l->sparse = l->bm;
            if (l->bm->payload == EB_BM_AF8) l->q8 = l->bm;
        } else if (t->n_xbms < t->cap_xbms) {
            size_t cnt = (size_t)l->out * l->in, nz = 0;
            for (size_t k = 0; k < cnt; k++)
                nz += l->w[k] != 0.0f;
            float dens = (float)((double)nz / (double)cnt);
            int wins = 0; /* the sparse kernel wins at some sentence length */
            for (int len = 1; len <= 128 && !wins; len *= 2)
                wins = eb_sparse_prefer(len, l->in, l->out, dens);
            if (wins) {
                eb_error e2 = {0};
                if (eb_bitmask_encode_f32(&t->xbms[t->n_xbms], l->w, l->out, l->in, &m->alloc,
                                          &e2) == EB_OK)
                    l->sparse = &t->xbms[t->n_xbms++];
            }
        }
        if (!l->q8 && t->n_xbms < t->cap_xbms) {
            eb_error e2 = {0};
            if (eb_bitmask_encode_af8(&t->xbms[t->n_xbms], l->w, l->out, l->in, -1, EB_AF8_NEAREST,
                                      &m->alloc, &e2) == EB_OK)
                l->q8 = &t->xbms[t->n_xbms++];
        }
    }
    pack_linears(m, t, lins, n);
    bf16_linears(m, t, lins, n);
    pack_on_heads(m, t);
    pack_on_heads_bf16(m, t);
    eb_free(&m->alloc, lins);
    eb_albert_weights *w = &t->w;
    for (const eb_model_task *p = m->tasks; p < t; p++)
        if (p->w.word_emb == w->word_emb && p->w.pos_emb == w->pos_emb &&
            p->w.type_emb == w->type_emb && p->emb_q8[0] && p->emb_q8[1] && p->emb_q8[2]) {
            for (int i = 0; i < 3; i++)
                t->emb_q8[i] = p->emb_q8[i];
            w->word_q8 = p->w.word_q8, w->pos_q8 = p->w.pos_q8, w->type_q8 = p->w.type_q8;
            w->word_q8_bias = p->w.word_q8_bias, w->pos_q8_bias = p->w.pos_q8_bias;
            w->type_q8_bias = p->w.type_q8_bias;
            return;
        }
    const float *tabs[3] = {w->word_emb, w->pos_emb, w->type_emb};
    size_t rows[3] = {(size_t)t->cfg.vocab_size, (size_t)t->cfg.max_position_embeddings,
                      (size_t)t->cfg.type_vocab_size};
    int bias[3];
    t->emb_q8_owned = 1;
    for (int i = 0; i < 3; i++) {
        size_t cnt = rows[i] * (size_t)t->cfg.embedding_size;
        t->emb_q8[i] = eb_malloc(&m->alloc, cnt + 1);
        if (!t->emb_q8[i] || !tabs[i]) return;
        bias[i] = eb_af8_choose_bias(tabs[i], cnt);
        eb_af8_encode(t->emb_q8[i], tabs[i], cnt, bias[i], EB_AF8_NEAREST);
    }
    w->word_q8 = t->emb_q8[0], w->pos_q8 = t->emb_q8[1], w->type_q8 = t->emb_q8[2];
    w->word_q8_bias = bias[0], w->pos_q8_bias = bias[1], w->type_q8_bias = bias[2];
}

/* Largest working memory one context may need (eb_albert_scratch_init):
 * shapes that ask for more are refused at load time, before any context. */
#define EB_MAX_CONTEXT_BYTES (4.0 * 1024 * 1024 * 1024)

eb_status eb_model_finish_task(eb_model *m, eb_model_task *t, eb_error *err) {
    const eb_config *c = &t->cfg;
    double N = EB_MIN(c->max_position_embeddings, EB_MAX_TOKENS), H = c->hidden_size;
    double need = 4.0 * (N * (6 * H + c->embedding_size + c->intermediate_size) +
                         (double)c->num_attention_heads * N * N + H + N);
    if (need > EB_MAX_CONTEXT_BYTES)
        return eb_fail(
            err, EB_ERR_NOMEM,
            "%s: task %s: %.0f tokens x %d heads would need %.1f GiB of working memory per "
            "context (at most %.0f GiB)",
            m->path, t->name, N, c->num_attention_heads, need / (1 << 30),
            EB_MAX_CONTEXT_BYTES / (1 << 30));
    build_exec_forms(m, t);
    eb_hw_params hp;
    eb_hw_params_default(&hp);
    eb_status s = eb_hw_model_init(&t->hw, &hp, &t->cfg, err);
    if (s != EB_OK) return eb_fail_prefix(err, "%s: task %s", m->path, t->name);
    t->hw.adapter_size = t->extras.adapter_size;
    double nz = 0, all = 0;
    int nl = t->cfg.num_hidden_groups * t->cfg.inner_group_num;
    for (int i = 0; i < nl; i++) {
        const eb_albert_layer *L = &t->layers[i];
        all += count_density(&L->q, &nz) + count_density(&L->k, &nz) + count_density(&L->v, &nz) +
               count_density(&L->o, &nz) + count_density(&L->ffn, &nz) +
               count_density(&L->ffn_out, &nz);
    }
    t->weight_density = all > 0 ? nz / all : 1.0;
    memset(&t->lut_view, 0, sizeof t->lut_view);
    if (t->lut) {
        if (t->lut_cols - 1 > t->cfg.num_hidden_layers - t->lut_predict_after ||
            t->lut_predict_after < 1 || t->lut_predict_after >= t->cfg.num_hidden_layers)
            return eb_fail(err, EB_ERR_FORMAT,
                           "%s: task %s: the exit predictor table (%d columns, after layer %d) "
                           "does not fit %d layers",
                           m->path, t->name, t->lut_cols, t->lut_predict_after,
                           t->cfg.num_hidden_layers);
        t->lut_view.rows = t->lut_rows;
        t->lut_view.cols = t->lut_cols;
        t->lut_view.predict_after = t->lut_predict_after;
        t->lut_view.data = t->lut;
    }
    return EB_OK;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static eb_status load_hf_dir(eb_model *m, const char *dir, int use_mmap, eb_error *err) {
    char path[1024];
    m->tasks = eb_calloc(&m->alloc, 1, sizeof *m->tasks);
    if (!m->tasks) return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", dir);
    m->n_tasks = 1;
    eb_model_task *t = &m->tasks[0];
    snprintf(t->name, sizeof t->name, "default");
    snprintf(path, sizeof path, "%s/config.json", dir);
    eb_status s = eb_config_load(path, &t->cfg, &t->extras, err);
    if (s != EB_OK) return s;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    s = eb_st_open(path, &m->alloc, use_mmap, &m->st, err);
    if (s != EB_OK) return s;
    loader L = {m, &m->st, err, path};
    eb_error_clear(err);
    s = eb_model_bind_task(&L, t);
    if (s != EB_OK) return s;
    snprintf(path, sizeof path, "%s/spiece.model", dir);
    if (file_exists(path)) {
        s = eb_tokenizer_load(path, &m->alloc, &m->tok, err);
        if (s != EB_OK) return s;
        if (eb_tokenizer_vocab_size(m->tok) > t->cfg.vocab_size)
            return eb_fail(err, EB_ERR_FORMAT, "%s: %d pieces but config.json vocab_size is %d",
                           path, eb_tokenizer_vocab_size(m->tok), t->cfg.vocab_size);
    } else {
        eb_log(m->log, m->log_ud, EB_LOG_WARN,
               "%s: no spiece.model; only token ids can be classified", dir);
    }
    snprintf(path, sizeof path, "%s/exit_lut.csv", dir);
    if (file_exists(path)) {
        eb_exit_lut lut;
        s = eb_exit_lut_load(path, t->extras.predict_after, &m->alloc, &lut, err);
        if (s != EB_OK) return s;
        size_t bytes = sizeof(double) * (size_t)lut.rows * (size_t)lut.cols;
        t->lut = eb_malloc(&m->alloc, bytes);
        if (t->lut) memcpy(t->lut, lut.data, bytes);
        t->lut_rows = lut.rows;
        t->lut_cols = lut.cols;
        t->lut_predict_after = lut.predict_after;
        eb_exit_lut_free(&lut);
        if (!t->lut) return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", path);
    }
    return EB_OK;
}

eb_status eb_model_load(const char *path, const eb_load_params *params, eb_model **out,
                        eb_error *err) {
    eb_load_params p = params ? *params : eb_load_params_default();
    *out = NULL;
    if (!path || !*path) return eb_fail(err, EB_ERR_ARG, "no model path given");
    eb_model *m = eb_calloc(&p.alloc, 1, sizeof *m);
    if (!m) return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", path);
    m->alloc = p.alloc;
    m->log = p.log;
    m->log_ud = p.log_ud;
    m->pack_weights = p.pack_weights;
    snprintf(m->path, sizeof m->path, "%s", path);
    eb_status s;
    if (is_dir(path))
        s = load_hf_dir(m, path, p.use_mmap, err);
    else if (file_exists(path) && eb_bundle_is_bundle(path))
        s = eb_bundle_load(m, path, p.use_mmap, err);
    else if (file_exists(path))
        s = eb_fail(err, EB_ERR_FORMAT,
                    "%s: neither a model directory (config.json, model.safetensors, spiece.model) "
                    "nor an edgebert bundle (bad magic)",
                    path);
    else
        s = eb_fail(err, EB_ERR_IO, "%s: no such model directory or bundle", path);
    for (int i = 0; s == EB_OK && i < m->n_tasks; i++)
        s = eb_model_finish_task(m, &m->tasks[i], err);
    if (s != EB_OK) {
        eb_model_free(m);
        return s;
    }
    *out = m;
    return EB_OK;
}

const char *eb_model_path(const eb_model *m) {
    return m->path;
}

const eb_allocator *eb_model_allocator(const eb_model *m) {
    return &m->alloc;
}

const eb_bitmask *eb_model_stored_word_embeddings(const eb_model *m, const float **fp32) {
    *fp32 = NULL;
    if (!m || m->n_tasks < 1) return NULL;
    const eb_model_task *t = &m->tasks[0];
    const int V = t->cfg.vocab_size, E = t->cfg.embedding_size;
    const float *w = t->w.word_emb;
    *fp32 = w;
    for (int k = 0; k < t->n_bms; k++) {
        const eb_bitmask *bm = &t->bms[k];
        if (bm->rows != V || bm->cols != E || bm->payload != EB_BM_AF8) continue;
        /* the position embeddings may have the same shape: compare values */
        float table[256];
        eb_af8_decode_table(table, bm->af8_bias);
        const uint8_t *codes = bm->values;
        size_t pos = 0;
        int same = 1;
        for (int r = 0; r < V && same; r++)
            for (int c = 0; c < E && same; c++) {
                uint16_t mk = bm->masks[(size_t)r * (size_t)bm->vpr + (size_t)(c / 16)];
                float v = 0.0f;
                if (mk >> (c % 16) & 1) v = pos < bm->nnz ? table[codes[pos++]] : NAN;
                same = v == w[(size_t)r * (size_t)E + (size_t)c];
            }
        if (same && pos == bm->nnz) return bm;
    }
    return NULL;
}

const eb_model_task *eb_model_find_task(const eb_model *m, const char *name) {
    if (!name || !*name) return m->n_tasks ? &m->tasks[0] : NULL;
    for (int i = 0; i < m->n_tasks; i++)
        if (!strcmp(m->tasks[i].name, name)) return &m->tasks[i];
    return NULL;
}

const eb_config *eb_model_config(const eb_model *m) {
    return &m->tasks[0].cfg;
}

const eb_tokenizer *eb_model_tokenizer(const eb_model *m) {
    return m->tok;
}

int eb_model_num_tasks(const eb_model *m) {
    return m->n_tasks;
}

const char *eb_model_task_name(const eb_model *m, int i) {
    return i >= 0 && i < m->n_tasks ? m->tasks[i].name : NULL;
}

const eb_config *eb_model_task_config(const eb_model *m, const char *task) {
    const eb_model_task *t = eb_model_find_task(m, task);
    return t ? &t->cfg : NULL;
}

const eb_exit_lut *eb_model_task_lut(const eb_model *m, const char *task) {
    const eb_model_task *t = eb_model_find_task(m, task);
    return t && t->lut_view.data ? &t->lut_view : NULL;
}

static eb_status unknown_task(const eb_model *m, const char *task, eb_error *err) {
    char names[256] = "";
    for (int i = 0; i < m->n_tasks; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                 m->tasks[i].name);
    return eb_fail(err, EB_ERR_ARG, "%s: unknown task '%s' (this model has: %s)", m->path, task,
                   names);
}

int eb_model_num_offramps(const eb_model *m) {
    return m->tasks[0].w.num_ramps;
}

/* ---- contexts and classification ------------------------------------ */

int eb_context_alloc_scratch(eb_context *c, int max_tokens, int af8, const eb_allocator *a,
                             int *max_n) {
    const eb_model *m = c->model;
    eb_config big = m->tasks[0].cfg; /* the widest of every size over the tasks */
    for (int i = 1; i < m->n_tasks; i++) {
        const eb_config *t = &m->tasks[i].cfg;
        big.hidden_size = EB_MAX(big.hidden_size, t->hidden_size);
        big.intermediate_size = EB_MAX(big.intermediate_size, t->intermediate_size);
        big.num_attention_heads = EB_MAX(big.num_attention_heads, t->num_attention_heads);
        big.max_position_embeddings =
            EB_MAX(big.max_position_embeddings, t->max_position_embeddings);
        big.embedding_size = EB_MAX(big.embedding_size, t->embedding_size);
    }
    *max_n = EB_MIN(big.max_position_embeddings, EB_MAX_TOKENS);
    if (max_tokens > 0) *max_n = EB_MIN(*max_n, max_tokens);
    if (!eb_albert_scratch_init(&c->s, &big, *max_n, a)) return 0;
    if (!eb_albert_exec_init(&c->ex, &big, *max_n, a)) return 0;
    return !af8 || eb_albert_exec_need_af8(&c->ex, a);
}

eb_status eb_context_new(const eb_model *m, eb_context **out, eb_error *err) {
    *out = NULL;
    eb_context *c = eb_calloc(&m->alloc, 1, sizeof *c);
    if (!c) return eb_fail(err, EB_ERR_NOMEM, "out of memory for a context");
    c->model = m;
    int max_n = 0;
    if (!eb_context_alloc_scratch(c, 0, 0, &m->alloc, &max_n)) {
        eb_albert_scratch_free(&c->s, &m->alloc);
        eb_albert_exec_free(&c->ex, &m->alloc);
        eb_free(&m->alloc, c);
        return eb_fail(err, EB_ERR_NOMEM, "out of memory for a context of %d tokens", max_n);
    }
    *out = c;
    return EB_OK;
}

void eb_context_free(eb_context *c) {
    if (!c || c->in_arena) return; /* an arena context is the caller's memory */
    const eb_allocator *a = &c->model->alloc;
    eb_albert_scratch_free(&c->s, a);
    eb_albert_exec_free(&c->ex, a);
    eb_free(a, c);
}

static void finish_result(eb_result *r, const float *logits, int C) {
    r->num_labels = C;
    float mx = logits[0];
    int best = 0;
    for (int i = 0; i < C; i++) {
        r->logits[i] = logits[i];
        if (logits[i] > mx) mx = logits[i], best = i;
    }
    double s = 0;
    for (int i = 0; i < C; i++)
        s += exp((double)logits[i] - mx);
    for (int i = 0; i < C; i++)
        r->probs[i] = (float)(exp((double)logits[i] - mx) / s);
    r->label = C == 1 ? 0 : best;
}

/* The real encoder as a layer source for the runtime policies. */
typedef struct engine_source {
    eb_context *ctx;
    const eb_model_task *t;
    int n;
    int need_ramps; /* compute the off-ramp at every layer (not only the last) */
    float logits[EB_MAX_LABELS];
    int logits_layer;
    int *active_heads;
    int *layer_labels;
} engine_source;

static eb_status engine_run_layer(void *ud, int layer, float *entropy, eb_layer_work *work,
                                  eb_error *err) {
    engine_source *es = ud;
    const eb_model_task *t = es->t;
    const eb_config *c = &t->cfg;
    int l = layer - 1, heads = 0;
    eb_albert_exec *ex = &es->ctx->ex;
    eb_exec_stats d = {0, 0, ex->act_n, ex->act_nz, ex->act_vec, ex->act_zvec, ex->attn_n,
                       ex->attn_nz};
    eb_status st = eb_albert_layer_apply_ex(&es->ctx->s, ex, c, &t->w, &t->extras, l, es->n, NULL,
                                            &heads, err);
    if (st != EB_OK) return st;
    es->active_heads[l] = heads;
    /* what the layer's matmuls really saw (the accelerator model's inputs) */
    d.act_n = ex->act_n - d.act_n, d.act_nz = ex->act_nz - d.act_nz;
    d.act_vec = ex->act_vec - d.act_vec, d.act_zvec = ex->act_zvec - d.act_zvec;
    d.attn_n = ex->attn_n - d.attn_n, d.attn_nz = ex->attn_nz - d.attn_nz;
    eb_model_layer_work(t, es->n, heads, &d, work);
    *entropy = 0;
    if (es->need_ramps || l == c->num_hidden_layers - 1) {
        st = eb_albert_classify_at_ex(es->logits, &es->ctx->s, ex, c, &t->w, l, err);
        if (st != EB_OK) return st;
        es->logits_layer = layer;
        for (int i = 0; i < c->num_labels; i++)
            if (!isfinite(es->logits[i]))
                return eb_fail(err, EB_ERR_NUMERIC,
                               "the model produced a non-finite logit at layer %d", layer);
        *entropy = c->num_labels > 1 ? eb_entropy_logits(es->logits, c->num_labels) : 0.0f;
        int best = 0;
        for (int i = 1; i < c->num_labels; i++)
            if (es->logits[i] > es->logits[best]) best = i;
        es->layer_labels[l] = best;
    }
    return EB_OK;
}

int eb_model_need_ramps(const eb_model_task *t, const eb_run_params *p) {
    const eb_policy_info *pi = eb_policy_info_of(p->policy);
    return t->w.num_ramps > 0 &&
           !(pi && !(pi->needs & EB_POLICY_NEEDS_THRESHOLD) && p->last_ramp_only);
}

void eb_model_layer_work(const eb_model_task *t, int n, int heads, const eb_exec_stats *d,
                         eb_layer_work *w) {
    const eb_config *c = &t->cfg;
    if (d->act_n > 0) w->act_density = d->act_nz / d->act_n;
    if (d->act_vec > 0) w->act_zero_vec = d->act_zvec / d->act_vec;
    if (d->attn_n > 0) w->attn_density = d->attn_nz / d->attn_n;
    w->seq_len = n;
    w->active_heads = heads / (c->inner_group_num > 0 ? c->inner_group_num : 1);
    w->weight_density = t->weight_density;
}

void eb_model_fill_result(eb_result *r, const eb_model_task *t, const eb_run_params *p,
                          const eb_sentence_report *rep, const float *logits, int n_tokens,
                          int need_ramps, double flops, double flops_dense) {
    const eb_config *c = &t->cfg;
    r->num_layers = c->num_hidden_layers;
    r->n_tokens = n_tokens;
    r->exit_layer = rep->layers_run;
    const eb_policy_info *pi = eb_policy_info_of(p->policy);
    r->predicted_layer = pi && (pi->needs & EB_POLICY_NEEDS_LUT) ? rep->predicted_layer : 0;
    for (int l = 0; l < rep->layers_run; l++)
        r->entropies[l] = rep->entropies[l];
    if (!need_ramps)
        r->entropies[rep->layers_run - 1] =
            c->num_labels > 1 ? eb_entropy_logits(logits, c->num_labels) : 0;
    r->hw = rep->hw;
    r->flops = flops;
    r->flops_dense = flops_dense;
    finish_result(r, logits, c->num_labels);
    r->layer_labels[rep->layers_run - 1] = r->label;
}

eb_status eb_model_run_settings(const eb_model *m, const eb_model_task *t,
                                const eb_run_params *params, eb_run_params *p, float *thr,
                                eb_error *err) {
    const eb_policy_info *pi = eb_policy_info_of(p->policy);
    if (!pi) return eb_fail(err, EB_ERR_ARG, "unknown policy %d", (int)p->policy);
    const int predicts = (pi->needs & EB_POLICY_NEEDS_LUT) != 0;
    if (predicts && !t->lut_view.data)
        return eb_fail(
            err, EB_ERR_ARG,
            "%s: task %s has no exit predictor table (exit_lut.csv), needed by --policy %s",
            m->path, t->name, pi->name);
    if (predicts && p->predict_after != t->lut_view.predict_after) {
        if (params && params->predict_after != 1) /* the user asked for another p */
            return eb_fail(err, EB_ERR_ARG, "%s: task %s predicts after layer %d, not %d", m->path,
                           t->name, t->lut_view.predict_after, p->predict_after);
        p->predict_after = t->lut_view.predict_after;
    }
    float th = p->threshold;
    if (th < 0) { /* the model's own: the policy's calibrated threshold, or the one it falls
                     back to */
        th = t->extras.threshold[pi->id];
        if (th < 0) th = t->extras.threshold[pi->threshold_from];
    }
    if (t->w.num_ramps == 0 || th < 0) th = 0; /* entropy < 0 never holds: no early exit */
    *thr = th;
    if (!eb_precision_info_of(p->precision))
        return eb_fail(err, EB_ERR_ARG, "unknown precision %d", (int)p->precision);
    if (p->threads < 0)
        return eb_fail(err, EB_ERR_ARG, "threads must be >= 0 (got %d)", p->threads);
    return EB_OK;
}

eb_status eb_classify_ids(eb_context *ctx, const int32_t *ids, const int32_t *type_ids, int n,
                          const eb_run_params *params, eb_result *r, eb_error *err) {
    eb_run_params p = params ? *params : eb_run_params_default();
    const eb_model *m = ctx->model;
    const eb_model_task *t = eb_model_find_task(m, p.task);
    if (!t) return unknown_task(m, p.task, err);
    const eb_config *c = &t->cfg;
    memset(r, 0, sizeof *r);
    int max_n = EB_MIN(ctx->s.max_n, c->max_position_embeddings);
    if (n <= 0) return eb_fail(err, EB_ERR_INPUT, "empty input (no tokens)");
    if (n > max_n)
        return eb_fail(err, EB_ERR_INPUT, "%d tokens, more than the model's %d", n, max_n);
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return eb_fail(err, EB_ERR_INPUT,
                           "token id %d at position %d outside the vocabulary (0..%d)", ids[i], i,
                           c->vocab_size - 1);
        if (type_ids && (type_ids[i] < 0 || type_ids[i] >= c->type_vocab_size))
            return eb_fail(err, EB_ERR_INPUT, "token type %d at position %d outside 0..%d",
                           type_ids[i], i, c->type_vocab_size - 1);
    }
    float thr;
    eb_status s = eb_model_run_settings(m, t, params, &p, &thr, err);
    if (s != EB_OK) return s;
    memset(ctx->s.key_valid, 1, (size_t)n);
    eb_albert_exec *ex = &ctx->ex;
    if (eb_precision_af8(p.precision) && !eb_albert_exec_need_af8(ex, &m->alloc))
        return eb_fail(err, EB_ERR_NOMEM, "out of memory for the af8 path's scratch");
    ex->precision = p.precision;
    ex->threads = p.threads;
    eb_albert_exec_reset_stats(ex);
    s = eb_albert_embed_ex(&ctx->s, ex, c, &t->w, ids, type_ids, n, err);
    if (s != EB_OK) return s;
    const int ramps = eb_model_need_ramps(t, &p);
    engine_source es = {ctx, t, n, ramps, {0}, 0, r->active_heads, r->layer_labels};
    eb_layer_source src = {c->num_hidden_layers, n, &es, engine_run_layer};
    eb_policy_params pp = eb_policy_params_from_run(&p, t->lut_view.data ? &t->lut_view : NULL);
    pp.threshold = thr;
    eb_sentence_report rep;
    s = eb_policy_run(&t->hw, &pp, &src, &rep, err);
    if (s != EB_OK) return s;
    if (es.logits_layer != rep.layers_run) { /* the answer comes from the last layer run */
        s = eb_albert_classify_at_ex(es.logits, &ctx->s, ex, c, &t->w, rep.layers_run - 1, err);
        if (s != EB_OK) return s;
    }
    eb_model_fill_result(r, t, &p, &rep, es.logits, n, es.need_ramps, ex->flops, ex->flops_dense);
    return EB_OK;
}

eb_status eb_model_tokenize(const eb_model *m, const char *task, const char *a, const char *b,
                            int max_tokens, eb_encoding *out, eb_error *err) {
    if (!m->tok)
        return eb_fail(err, EB_ERR_ARG, "%s: the model has no spiece.model, cannot tokenize text",
                       m->path);
    const eb_model_task *t = eb_model_find_task(m, task);
    if (!t) return unknown_task(m, task, err);
    int max_len = EB_MIN(t->cfg.max_position_embeddings, EB_MAX_TOKENS);
    if (max_tokens > 0) max_len = EB_MIN(max_len, max_tokens);
    eb_tokenizer_options opt = eb_tokenizer_options_default();
    opt.head_tokens = t->extras.truncate_head; /* the task's head + tail truncation */
    return eb_tokenize_ex(m->tok, a, b, max_len, &opt, out, err);
}

eb_status eb_classify(eb_context *ctx, const char *a, const char *b, const eb_run_params *params,
                      eb_result *r, eb_error *err) {
    const eb_model *m = ctx->model;
    const char *task = params ? params->task : NULL;
    int max_len = EB_MIN(ctx->s.max_n, EB_MAX_TOKENS);
    if (params && params->max_tokens > 0) max_len = EB_MIN(max_len, params->max_tokens);
    eb_status s = eb_model_tokenize(m, task, a, b, max_len, &ctx->enc, err);
    if (s != EB_OK) return s;
    const eb_model_task *t = eb_model_find_task(m, task);
    max_len = EB_MIN(max_len, t->cfg.max_position_embeddings);
    eb_tokenizer_options opt = eb_tokenizer_options_default();
    opt.head_tokens = t->extras.truncate_head;
    if (ctx->enc.truncated && opt.head_tokens > 0 && !b)
        eb_log(m->log, m->log_ud, EB_LOG_INFO, "input cut to its first %d and last %d tokens",
               EB_MIN(opt.head_tokens, max_len - 2), max_len - 2 - EB_MIN(opt.head_tokens, max_len - 2));
    else if (ctx->enc.truncated)
        eb_log(m->log, m->log_ud, EB_LOG_WARN, "input truncated to %d tokens", max_len);
    s = eb_classify_ids(ctx, ctx->enc.ids, ctx->enc.type_ids, ctx->enc.n, params, r, err);
    r->truncated = ctx->enc.truncated;
    return s;
}
