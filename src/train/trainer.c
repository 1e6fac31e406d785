/* trainer.c - the training loop: batches, losses (CE, KD, span penalty,
 * off-ramps), AdamW with warm-up and linear decay, clipping, pruning,
 * checkpoints, resume, interruption (formulas in include/edgebert/train.h).
 * A run: eb_train_options_check, setup_model, teacher_pass (with a teacher),
 * setup_run, step_loop. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgebert/dist.h"
#include "edgebert/train.h"
#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "train/tmodel.h"
#include "train/trainer_internal.h"
#include "util/util.h"

eb_train_options eb_train_options_default(void) {
    eb_train_options o;
    memset(&o, 0, sizeof o);
    o.epochs = 3;
    o.lr = 5e-4f;
    o.batch = 32;
    o.seed = 42;
    o.max_len = 128;
    o.warmup = 0.1f;
    o.weight_decay = 0.01f;
    o.clip = 1.0f;
    o.dropout = 0.1f;
    o.kd_temperature = 2.0f;
    o.kd_alpha_distil = 0.9f;
    o.kd_alpha_ce = 0.1f;
    o.keep = 0.5f;
    o.prune_iw = 2.0f;
    o.prune_fw = 3.0f;
    o.score_lr = 1e-2f;
    o.span_coeff = 1e-3f;
    o.span_lr = 0.1f;
    o.predict_after = 1;
    o.mlm_prob = 0.15f;
    o.mask_id = 4;
    o.save_every = 500;
    o.log_every = 20;
    return o;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void tlog(const eb_train_options *o, const char *fmt, ...) EB_PRINTF(2, 3);
static void tlog(const eb_train_options *o, const char *fmt, ...) {
    if (!o->log || eb_dist_rank(o->dist) != 0) return; /* data-parallel: rank 0 alone logs */
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    o->log(o->log_ud, EB_LOG_INFO, buf);
}

/* ---------------- model setup ---------------- */

static int st_has(const char *path, const char *needle) {
    eb_safetensors st;
    eb_error e;
    if (eb_st_open(path, NULL, 1, &st, &e) != EB_OK) return 0;
    int found = 0;
    for (int i = 0; i < st.n && !found; i++)
        found = strstr(st.tensors[i].name, needle) != NULL;
    eb_st_close(&st);
    return found;
}

eb_status eb_trainer_load_model(eb_tmodel *m, const char *config_path, const char *init_dir,
                                int want_span, int want_ramps, float span_ramp, float span_init,
                                uint64_t seed, eb_error *err) {
    return eb_trainer_load_model_ad(m, config_path, init_dir, want_span, want_ramps, span_ramp,
                                    span_init, 0, 0, NULL, seed, err);
}

eb_status eb_trainer_load_model_ad(eb_tmodel *m, const char *config_path, const char *init_dir,
                                   int want_span, int want_ramps, float span_ramp, float span_init,
                                   int adapter_size, int head_num_labels,
                                   const char (*head_labels)[EB_LABEL_NAME_MAX], uint64_t seed,
                                   eb_error *err) {
    char path[1024];
    eb_config cfg;
    eb_model_extras x;
    if (init_dir)
        snprintf(path, sizeof path, "%s/config.json", init_dir);
    else if (config_path)
        snprintf(path, sizeof path, "%s", config_path);
    else
        return eb_fail(err, EB_ERR_ARG, "train: give a config.json or an initial checkpoint");
    eb_status s = eb_config_load(path, &cfg, &x, err);
    if (s != EB_OK) return s;
    if (span_ramp > 0) x.span_ramp = span_ramp;
    if (adapter_size > 0) {
        if (x.adapter_size > 0 && x.adapter_size != adapter_size)
            return eb_fail(err, EB_ERR_ARG, "train: %s has adapters of size %d, not %d", path,
                           x.adapter_size, adapter_size);
        if (adapter_size > cfg.hidden_size)
            return eb_fail(err, EB_ERR_ARG, "train: adapter_size %d exceeds hidden_size %d",
                           adapter_size, cfg.hidden_size);
        x.adapter_size = adapter_size;
    }
    if (head_num_labels > 0 && head_labels) {
        cfg.num_labels = head_num_labels;
        memset(cfg.id2label, 0, sizeof cfg.id2label);
        for (int i = 0; i < head_num_labels && i < EB_MAX_LABELS; i++)
            snprintf(cfg.id2label[i], EB_LABEL_NAME_MAX, "%s", head_labels[i]);
    }
    int has_span = want_span, has_ramps = want_ramps;
    if (init_dir) {
        snprintf(path, sizeof path, "%s/model.safetensors", init_dir);
        has_span |= st_has(path, "attention.span");
        has_ramps |= st_has(path, "encoder.highway.");
    }
    s = eb_tm_create(m, &cfg, &x, has_span, has_ramps, span_init, seed, NULL, err);
    if (s != EB_OK) return s;
    m->new_head = head_num_labels > 0;
    if (init_dir) {
        s = eb_tm_load_safetensors(m, path, err);
        if (s != EB_OK) eb_tm_free(m);
    }
    return s;
}

/* ---------------- pruning helpers ---------------- */

/* k-th largest (1-based k) of x[n] by quickselect; x is reordered. */
static float kth_largest(float *x, size_t n, size_t k) {
    size_t lo = 0, hi = n - 1, want = k - 1;
    while (lo < hi) {
        float pivot = x[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (x[i] > pivot)
                i++;
            while (x[j] < pivot)
                j--;
            if (i <= j) {
                float t = x[i];
                x[i] = x[j];
                x[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (want <= j)
            hi = j;
        else if (want >= i)
            lo = i;
        else
            return x[want];
    }
    return x[want];
}

/* mask[n] = 1 for the `keep` largest of val[n] (ties at the threshold kept). */
static void topk_mask(float *mask, const float *val, size_t n, double keep, float *tmp,
                      int absval) {
    size_t k = (size_t)llround(keep * (double)n);
    if (k >= n) {
        for (size_t i = 0; i < n; i++)
            mask[i] = 1;
        return;
    }
    for (size_t i = 0; i < n; i++)
        tmp[i] = absval ? fabsf(val[i]) : val[i];
    if (k == 0) {
        for (size_t i = 0; i < n; i++)
            mask[i] = 0;
        return;
    }
    float thr = kth_largest(tmp, n, k);
    for (size_t i = 0; i < n; i++)
        mask[i] = (absval ? fabsf(val[i]) : val[i]) >= thr ? 1.0f : 0.0f;
}

double eb_prune_schedule(long step, long total, long ws, double iw, double fw, double keep) {
    double a = iw * ws, b = (double)total - fw * ws;
    if (step <= a) return 1.0;
    if (step > b || b <= a) return keep;
    double r = 1.0 - (step - a) / (b - a);
    return keep + (1.0 - keep) * r * r * r;
}

double eb_emb_prune_percentile(long step, long total, double pct) {
    double f = total > 0 ? (double)step / (double)total : 1.0;
    double r = (f - 0.1) / 0.7;
    return pct * (r < 0 ? 0 : (r > 1 ? 1 : r));
}

/* ---------------- the trainer ---------------- */

typedef struct trainer {
    const eb_train_options *o;
    eb_tmodel m, teacher;
    int has_teacher, teacher_loaded;
    float *tlogits; /* [n_train, K] teacher logits, computed once (eval mode) */
    float *m1, *m2, *mask, *scores, *s1, *s2, *tmp;
    float *ema, *raw; /* --ema: the averaged weights; raw holds the trained ones while ema is in */
    int *trainable;   /* per tensor */
    long step, total, spe, ws, warm;
    int epochs; /* epochs the run spans (the last may be partial with --steps) */
    int *order, order_epoch;
    uint64_t *keys; /* length grouping scratch, NULL = plain shuffle */
    int32_t *bids, *btypes;
    uint8_t *bvalid;
    float *dmain, *dramp[EB_MAX_LAYERS];
    int32_t *mlab; /* masked-LM labels of the batch [B*T], -1 = not chosen */
    double kept;
    char fp[512]; /* options fingerprint */
    int masking;  /* some weights are masked: effective weights differ from the parameters */
    /* data-parallel training (o->dist): this process's rank of size; each computes the gradients
     * of its shard of every global batch, the sums go round before clipping and the optimiser,
     * so every rank takes the same step; rank 0 alone writes checkpoints, logs and evaluates */
    const eb_dist *D;
    int rank, size;
    int agreed; /* the ranks have agreed that the set-up succeeded (dist_agree) */
    int *idx;   /* the examples of the batch [batch] */
    int cancel; /* the progress callback asked to stop */
    eb_progress last; /* the last report */
} trainer;

static void trainer_free(trainer *t) {
    eb_tm_free(&t->m);
    if (t->teacher_loaded) eb_tm_free(&t->teacher);
    eb_free(NULL, t->tlogits);
    float *bufs[] = {t->m1, t->m2,  t->mask,  t->scores, t->s1,
                     t->s2, t->tmp, t->dmain, t->ema,    t->raw};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        eb_free(NULL, bufs[i]);
    for (int j = 0; j < EB_MAX_LAYERS; j++)
        eb_free(NULL, t->dramp[j]);
    eb_free(NULL, t->trainable);
    eb_free(NULL, t->order);
    eb_free(NULL, t->keys);
    eb_free(NULL, t->bids);
    eb_free(NULL, t->btypes);
    eb_free(NULL, t->bvalid);
    eb_free(NULL, t->mlab);
    eb_free(NULL, t->idx);
}

static int is_masked(const eb_tparam *p) {
    return p->ndim == 2 && (p->flags & (EB_TP_PRUNE | EB_TP_EMBPRUNE));
}

/* Recompute the pruning masks for this step and the effective weights. */
static void update_masks(trainer *t) {
    const eb_train_options *o = t->o;
    eb_tmodel *m = &t->m;
    if (o->prune != EB_PRUNE_NONE && o->phase == EB_PHASE_BACKBONE) {
        t->kept = eb_prune_schedule(t->step, t->total, t->ws, o->prune_iw, o->prune_fw, o->keep);
        for (int i = 0; i < m->nt; i++) {
            const eb_tparam *p = &m->t[i];
            if (!(p->flags & EB_TP_PRUNE) || p->ndim != 2) continue;
            if (o->prune == EB_PRUNE_MOVEMENT)
                topk_mask(t->mask + p->off, t->scores + p->off, p->numel, t->kept, t->tmp, 0);
            else
                topk_mask(t->mask + p->off, m->params + p->off, p->numel, t->kept, t->tmp, 1);
        }
    }
    if (t->masking) eb_tm_apply_mask(m, t->mask);
}

/* Embedding pruning on its own schedule, by the step: at 20 points of the run (and its end)
 * the embeddings are cut to eb_emb_prune_percentile(step, total), which reaches --emb-prune at
 * 80 % of the run, so the rest of the network trains on the pruned (frozen) embeddings for
 * the last fifth (a one-epoch student used to be pruned after its last step). */
static void emb_prune(trainer *t) {
    const eb_train_options *o = t->o;
    const long every = t->total >= 20 ? t->total / 20 : 1;
    if (t->step % every != 0 && t->step != t->total) return;
    double pct = eb_emb_prune_percentile(t->step, t->total, o->emb_prune_pct);
    if (pct <= 0) return;
    eb_tmodel *m = &t->m;
    for (int i = 0; i < m->nt; i++) {
        const eb_tparam *p = &m->t[i];
        if (!(p->flags & EB_TP_EMBPRUNE) || p->ndim != 2) continue;
        /* effective values (already pruned ones stay pruned) */
        float *val = t->tmp + p->numel; /* second half of tmp */
        for (size_t k = 0; k < p->numel; k++)
            val[k] = m->params[p->off + k] * t->mask[p->off + k];
        topk_mask(t->mask + p->off, val, p->numel, 1.0 - pct / 100.0, t->tmp, 1);
    }
    if (t->step % t->spe == 0 || t->step == t->total)
        tlog(o, "step %ld: embeddings pruned to the %.1fth percentile", t->step, pct);
}

/* Which tensors this phase trains. */
static void set_trainable(trainer *t) {
    const eb_train_options *o = t->o;
    eb_tmodel *m = &t->m;
    for (int i = 0; i < m->nt; i++) {
        unsigned f = m->t[i].flags;
        int on;
        if (o->phase == EB_PHASE_OFFRAMPS)
            on = (f & EB_TP_RAMP) != 0;
        else if (o->phase == EB_PHASE_MLM)
            on = !(f & (EB_TP_RAMP | EB_TP_HEAD)) && (!(f & EB_TP_SPAN) || o->span);
        else if (o->adapter_size > 0)
            on = (f & (EB_TP_ADAPTER | EB_TP_HEAD | EB_TP_RAMP)) != 0;
        else {
            on = !(f & EB_TP_RAMP);
            if ((f & EB_TP_EMB) && o->freeze_embeddings) on = 0;
            if ((f & EB_TP_SPAN) && !o->span) on = 0;
        }
        t->trainable[i] = on;
    }
}

static double lr_at(const trainer *t, long step) {
    double base = t->o->lr;
    if (step < t->warm) return base * (double)(step + 1) / (double)t->warm;
    long rest = t->total - t->warm;
    return rest > 0 ? base * (double)(t->total - step) / (double)rest : base;
}

static void adam(float *p, const float *g, float *m1, float *m2, size_t n, float lr, float wd,
                 long step) {
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    const float c1 = 1.0f - powf(b1, (float)step), c2 = 1.0f - powf(b2, (float)step);
    for (size_t i = 0; i < n; i++) {
        m1[i] = b1 * m1[i] + (1 - b1) * g[i];
        m2[i] = b2 * m2[i] + (1 - b2) * g[i] * g[i];
        float upd = (m1[i] / c1) / (sqrtf(m2[i] / c2) + eps);
        p[i] -= lr * (upd + wd * p[i]);
    }
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The example order of an epoch: a seeded shuffle; then, with length
 * grouping, chunks of 64 batches sorted by length (less padding) and the
 * full batches shuffled again (the last partial batch stays last). */
static void shuffle_epoch(trainer *t, const eb_train_data *d, int epoch) {
    if (t->order_epoch == epoch) return;
    const int n = d->n, B = t->o->batch;
    uint64_t s = t->o->seed * 0x9E3779B97F4A7C15ULL + (uint64_t)epoch * 7919u + 1;
    for (int i = 0; i < n; i++)
        t->order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(eb_rng_next(&s) % (uint64_t)(i + 1));
        int x = t->order[i];
        t->order[i] = t->order[j];
        t->order[j] = x;
    }
    t->order_epoch = epoch;
    if (!t->keys) return;
    const int chunk = 64 * B;
    for (int c0 = 0; c0 < n; c0 += chunk) {
        int m = n - c0 < chunk ? n - c0 : chunk;
        for (int i = 0; i < m; i++) {
            int e = t->order[c0 + i], len = d->ex[e].n;
            t->keys[i] = ((uint64_t)(uint32_t)len << 32) | (uint32_t)i;
        }
        qsort(t->keys, (size_t)m, sizeof *t->keys, cmp_u64);
        for (int i = 0; i < m; i++)
            t->keys[i] = (uint64_t)t->order[c0 + (int)(t->keys[i] & 0xffffffffu)];
        for (int i = 0; i < m; i++)
            t->order[c0 + i] = (int)t->keys[i];
    }
    const int full = n / B;
    for (int i = full - 1; i > 0; i--) { /* swap whole batches */
        int j = (int)(eb_rng_next(&s) % (uint64_t)(i + 1));
        for (int k = 0; k < B; k++) {
            int x = t->order[i * B + k];
            t->order[i * B + k] = t->order[j * B + k];
            t->order[j * B + k] = x;
        }
    }
}

/* Fill the padded batch of examples idx[0..B); returns T. */
static int make_batch(trainer *t, const eb_train_data *d, const int *idx, int B) {
    int T = 1;
    for (int b = 0; b < B; b++) {
        int n = d->ex[idx[b]].n;
        if (n > t->o->max_len) n = t->o->max_len;
        if (n > T) T = n;
    }
    for (int b = 0; b < B; b++) {
        const eb_train_example *e = &d->ex[idx[b]];
        int n = e->n < T ? e->n : T;
        for (int i = 0; i < T; i++) {
            t->bids[b * T + i] = i < n ? e->ids[i] : 0;
            t->btypes[b * T + i] = i < n && e->type_ids ? e->type_ids[i] : 0;
            t->bvalid[b * T + i] = i < n;
        }
    }
    return T;
}

static eb_status check_data(const eb_tmodel *m, const eb_train_data *d, const char *what,
                            eb_error *err) {
    const eb_config *c = &m->cfg;
    for (int i = 0; i < d->n; i++) {
        const eb_train_example *e = &d->ex[i];
        for (int k = 0; k < e->n; k++) {
            if (e->ids[k] < 0 || e->ids[k] >= c->vocab_size)
                return eb_fail(err, EB_ERR_FORMAT,
                               "%s example %d: token id %d outside the "
                               "vocabulary (%d)",
                               what, i + 1, e->ids[k], c->vocab_size);
            if (e->type_ids && (e->type_ids[k] < 0 || e->type_ids[k] >= c->type_vocab_size))
                return eb_fail(err, EB_ERR_FORMAT, "%s example %d: bad token type %d", what, i + 1,
                               e->type_ids[k]);
        }
        if (c->num_labels > 1 && (e->label < 0 || e->label >= c->num_labels))
            return eb_fail(err, EB_ERR_FORMAT, "%s example %d: label %d outside 0..%d", what, i + 1,
                           e->label, c->num_labels - 1);
    }
    return EB_OK;
}

/* Accuracy of every exit over d (acc[L], main head at L-1; Pearson r of the
 * predictions for a regression model); model in eval mode. */
void eb_trainer_eval(eb_tmodel *m, const eb_train_data *d, int max_len, int max_b, double *acc,
                     float *entropies, float *logits) {
    const eb_config *c = &m->cfg;
    const int L = c->num_hidden_layers, K = c->num_labels;
    long correct[EB_MAX_LAYERS] = {0};
    double sx[EB_MAX_LAYERS] = {0}, sy[EB_MAX_LAYERS] = {0}, sxx[EB_MAX_LAYERS] = {0},
           syy[EB_MAX_LAYERS] = {0}, sxy[EB_MAX_LAYERS] = {0};
    int32_t *ids = eb_malloc(NULL, sizeof(int32_t) * (size_t)max_b * max_len);
    int32_t *ty = eb_malloc(NULL, sizeof(int32_t) * (size_t)max_b * max_len);
    uint8_t *va = eb_malloc(NULL, (size_t)max_b * max_len);
    /* batches of similar length (less padding); results go back to each example's index */
    uint64_t *ord = eb_malloc(NULL, sizeof(uint64_t) * (size_t)(d->n ? d->n : 1));
    if (!ids || !ty || !va || !ord) goto out;
    for (int i = 0; i < d->n; i++)
        ord[i] = ((uint64_t)(uint32_t)EB_MIN(d->ex[i].n, max_len) << 32) | (uint32_t)i;
    qsort(ord, (size_t)d->n, sizeof *ord, cmp_u64);
    for (int s = 0; s < d->n; s += max_b) {
        int B = d->n - s < max_b ? d->n - s : max_b, T = 1;
        for (int b = 0; b < B; b++)
            T = EB_MAX(T, (int)(ord[s + b] >> 32));
        for (int b = 0; b < B; b++) {
            const eb_train_example *e = &d->ex[(uint32_t)ord[s + b]];
            for (int i = 0; i < T; i++) {
                ids[b * T + i] = i < e->n ? e->ids[i] : 0;
                ty[b * T + i] = i < e->n && e->type_ids ? e->type_ids[i] : 0;
                va[b * T + i] = i < e->n;
            }
        }
        eb_tm_forward(m, ids, ty, va, B, T, m->num_ramps > 0 && (acc || entropies), 0.0f, 0);
        for (int b = 0; b < B && logits; b++)
            memcpy(logits + (size_t)(uint32_t)ord[s + b] * K, m->head.logits + b * K,
                   sizeof(float) * (size_t)K);
        if (!acc && !entropies) continue;
        for (int b = 0; b < B; b++) {
            const int ix = (int)(uint32_t)ord[s + b];
            for (int l = 0; l < L; l++) {
                const float *lg = l < m->num_ramps ? m->ramp[l].logits + b * K
                                                   : (l == L - 1 ? m->head.logits + b * K : NULL);
                if (!lg) continue;
                int best = 0;
                for (int k = 1; k < K; k++)
                    if (lg[k] > lg[best]) best = k;
                correct[l] += best == d->ex[ix].label;
                const double x = lg[0], y = d->ex[ix].target;
                sx[l] += x, sy[l] += y, sxx[l] += x * x, syy[l] += y * y, sxy[l] += x * y;
                if (entropies) entropies[(size_t)ix * L + l] = eb_entropy_logits(lg, K);
            }
        }
    }
    for (int l = 0; l < L && acc; l++) {
        acc[l] = d->n ? (double)correct[l] / d->n : 0;
        if (K == 1 && d->n > 1) {
            const double n = d->n, cxy = sxy[l] - sx[l] * sy[l] / n;
            const double cxx = sxx[l] - sx[l] * sx[l] / n, cyy = syy[l] - sy[l] * sy[l] / n;
            acc[l] = cxx > 0 && cyy > 0 ? cxy / sqrt(cxx * cyy) : 0;
        }
    }
out:
    eb_free(NULL, ids), eb_free(NULL, ty), eb_free(NULL, va), eb_free(NULL, ord);
}

/* ---------------- checkpoints ---------------- */

static eb_status copy_file(const char *from, const char *to, eb_error *err) {
    char *data;
    size_t size;
    eb_status s = eb_read_file(from, NULL, 0, &data, &size, err);
    if (s != EB_OK) return s;
    s = eb_write_file_atomic(to, data, size, err);
    eb_free(NULL, data);
    return s;
}

/* The options that decide a run's trajectory: --resume must see the same. */
static void fingerprint(const trainer *t, int n_train, char *buf, size_t cap) {
    const eb_train_options *o = t->o;
    snprintf(buf, cap,
             "phase %d epochs %d lr %g batch %d seed %llu max_len %d warmup %g wd %g clip %g "
             "dropout %g kd %d %g %g %g prune %d keep %g %g %g %g span %d %g %g %g %g emb %g %d "
             "group %d examples %d steps %ld adapters %d hdrop %g mlm %g %d tmask %g ema %g",
             (int)o->phase, o->epochs, o->lr, o->batch, (unsigned long long)o->seed, o->max_len,
             o->warmup, o->weight_decay, o->clip, o->dropout, t->has_teacher, o->kd_temperature,
             o->kd_alpha_distil, o->kd_alpha_ce, (int)o->prune, o->keep, o->prune_iw, o->prune_fw,
             o->score_lr, o->span, o->span_coeff, o->span_lr, o->span_max, t->m.x.span_ramp,
             o->emb_prune_pct, o->freeze_embeddings, !o->no_length_grouping, n_train, o->steps,
             o->adapter_size, o->hidden_dropout, o->mlm_prob, o->mask_id, o->mask_tokens, o->ema);
}

/* --ema: the running average of the weights after step t->step (the effective decay warms
 * up so that the random initialisation does not linger in it).  Attention spans are not
 * averaged: the saved model takes the trained ones. */
static void ema_update(trainer *t) {
    const double d = EB_MIN((double)t->o->ema, (1.0 + t->step) / (10.0 + t->step));
    const float a = (float)d, b = (float)(1.0 - d);
    float *e = t->ema;
    const float *p = t->m.params;
    for (int i = 0; i < t->m.nt; i++) {
        if (!t->trainable[i]) continue; /* frozen tensors: the average is the tensor */
        const size_t o0 = t->m.t[i].off, n = t->m.t[i].numel;
        if (t->m.t[i].flags & EB_TP_SPAN) { /* spans are structure, like the pruning masks: */
            memcpy(e + o0, p + o0, n * sizeof(float)); /* an average of a head clamped at -R */
            continue;                                  /* would only near -R, never switch it off */
        }
        for (size_t j = o0; j < o0 + n; j++)
            e[j] = a * e[j] + b * p[j];
    }
}

/* Swap the averaged weights in (for dev evaluation and the saved model) and out again;
 * both leave the effective (masked) weights up to date.  No-ops without --ema. */
static void ema_in(trainer *t) {
    eb_tmodel *m = &t->m;
    if (t->ema) {
        memcpy(t->raw, m->params, m->n_params * sizeof(float));
        memcpy(m->params, t->ema, m->n_params * sizeof(float));
    }
    if (t->masking) eb_tm_apply_mask(m, t->mask);
}

static void ema_out(trainer *t) {
    eb_tmodel *m = &t->m;
    if (!t->ema) return;
    memcpy(m->params, t->raw, m->n_params * sizeof(float));
    if (t->masking) eb_tm_apply_mask(m, t->mask);
}

static eb_status save_all(trainer *t, eb_error *err) {
    const eb_train_options *o = t->o;
    eb_tmodel *m = &t->m;
    ema_in(t);
    eb_status s = eb_tm_save_hf(m, o->out_dir, err);
    ema_out(t);
    if (s != EB_OK) return s;
    char path[1024];
    if (o->tokenizer_path) {
        snprintf(path, sizeof path, "%s/spiece.model", o->out_dir);
        if (strcmp(o->tokenizer_path, path) != 0) {
            s = copy_file(o->tokenizer_path, path, err);
            if (s != EB_OK) return s;
        }
    }
    float stepf[2] = {(float)(t->step % 16777216), (float)(t->step / 16777216)};
    eb_st_entry e[10];
    int n = 0;
    const float *bufs[] = {m->params, t->m1, t->m2, t->mask, t->scores, t->s1, t->s2, t->ema};
    const char *names[] = {"trainer.params", "trainer.adam_m",   "trainer.adam_v",   "trainer.mask",
                           "trainer.scores", "trainer.scores_m", "trainer.scores_v", "trainer.ema"};
    for (int i = 0; i < 8; i++) {
        if (!bufs[i]) continue;
        e[n] = (eb_st_entry){names[i], bufs[i], 1, {(int64_t)m->n_params}};
        n++;
    }
    e[n++] = (eb_st_entry){"trainer.step", stepf, 1, {2}};
    float fp[512];
    size_t fl = strlen(t->fp);
    for (size_t i = 0; i < fl; i++)
        fp[i] = (float)(unsigned char)t->fp[i];
    e[n++] = (eb_st_entry){"trainer.options", fp, 1, {(int64_t)fl}};
    snprintf(path, sizeof path, "%s/train_state.safetensors", o->out_dir);
    return eb_st_write(path, e, n, EB_DTYPE_F32, NULL, err);
}

static eb_status load_state(trainer *t, eb_error *err) {
    char path[1024];
    snprintf(path, sizeof path, "%s/train_state.safetensors", t->o->out_dir);
    eb_safetensors st;
    eb_status s = eb_st_open(path, NULL, 1, &st, err);
    if (s != EB_OK) return s;
    eb_tmodel *m = &t->m;
    float *bufs[] = {m->params, t->m1, t->m2, t->mask, t->scores, t->s1, t->s2, t->ema};
    const char *names[] = {"trainer.params", "trainer.adam_m",   "trainer.adam_v",   "trainer.mask",
                           "trainer.scores", "trainer.scores_m", "trainer.scores_v", "trainer.ema"};
    for (int i = 0; i < 8 && s == EB_OK; i++) {
        if (!bufs[i]) continue;
        const eb_st_tensor *x = eb_st_find(&st, names[i]);
        if (!x || x->numel != m->n_params)
            s = eb_fail(err, EB_ERR_FORMAT,
                        "%s: %s missing or of another model (run with the "
                        "same options as the interrupted one)",
                        path, names[i]);
        else
            eb_st_to_f32(x, bufs[i]);
    }
    const eb_st_tensor *fo = eb_st_find(&st, "trainer.options");
    if (s == EB_OK && fo && fo->numel < 512) {
        float fp[512];
        char was[513];
        eb_st_to_f32(fo, fp);
        for (size_t i = 0; i < fo->numel; i++)
            was[i] = (char)(int)fp[i];
        was[fo->numel] = 0;
        if (strcmp(was, t->fp) != 0)
            s = eb_fail(err, EB_ERR_ARG,
                        "%s: the interrupted run had other options or data; "
                        "resume with the same ones (saved: %s; now: %s)",
                        path, was, t->fp);
    }
    const eb_st_tensor *x = eb_st_find(&st, "trainer.step");
    if (s == EB_OK && (!x || x->numel != 2))
        s = eb_fail(err, EB_ERR_FORMAT, "%s: trainer.step missing", path);
    if (s == EB_OK) {
        float v[2];
        eb_st_to_f32(x, v);
        t->step = (long)v[0] + 16777216L * (long)v[1];
    }
    eb_st_close(&st);
    return s;
}

/* ---------------- one step ---------------- */

/* Sum over the off-ramps of their mean CE (MSE) over the global batch of Bg examples, of
 * which idx[0..B) are this forward's (a data-parallel shard; all of them with one process);
 * fills t->dramp. */
static double ramp_losses(trainer *t, const eb_train_data *d, const int *idx, int B, int Bg) {
    eb_tmodel *m = &t->m;
    const int K = m->cfg.num_labels;
    const float inv = 1.0f / (float)Bg;
    double loss = 0;
    for (int j = 0; j < m->num_ramps; j++) {
        memset(t->dramp[j], 0, sizeof(float) * (size_t)B * K);
        for (int b = 0; b < B; b++) {
            const eb_train_example *e = &d->ex[idx[b]];
            const float *s = m->ramp[j].logits + b * K;
            if (K == 1)
                loss += eb_mse_backward(t->dramp[j] + b, s[0], e->target, inv) / Bg;
            else
                loss += eb_xent_backward(t->dramp[j] + b * K, s, K, e->label, inv) / Bg;
        }
    }
    return loss;
}

/* BERT masking of the batch in t->bids (B x T): each real token other than
 * <pad>, <unk>, [CLS], [SEP], [MASK] (ids 0..4) is chosen with probability
 * mlm_prob; a chosen one becomes [MASK] (80 %), a random piece >= 5 (10 %) or
 * stays (10 %), and its label is the original id.  At least one per batch. */
static void mlm_mask(int32_t *ids, int32_t *lab, const uint8_t *valid, int N, int V, float prob,
                     int mask_id, uint64_t seed) {
    uint64_t r = seed;
    int any = 0, first = -1;
    for (int i = 0; i < N; i++) {
        lab[i] = -1;
        if (!valid[i] || ids[i] <= 4) continue;
        if (first < 0) first = i;
        if (eb_rng_uniform(&r) >= prob) continue;
        lab[i] = ids[i];
        any = 1;
        const float u = eb_rng_uniform(&r);
        if (u < 0.8f)
            ids[i] = mask_id;
        else if (u < 0.9f && V > 5)
            ids[i] = 5 + (int32_t)(eb_rng_next(&r) % (uint64_t)(V - 5));
    }
    if (!any && first >= 0) lab[first] = ids[first], ids[first] = mask_id;
}

/* Input masking of a training batch (--mask-tokens): each real token other
 * than ids 0..4 becomes [MASK] with probability prob.  The labels stay: the
 * model must classify from the rest (and a teacher's logits are those of the
 * whole sentence).  Returns the number masked. */
int eb_trainer_mask_tokens(int32_t *ids, const uint8_t *valid, int N, float prob, int mask_id,
                           uint64_t seed) {
    uint64_t r = seed;
    int n = 0;
    for (int i = 0; i < N; i++)
        if (valid[i] && ids[i] > 4 && eb_rng_uniform(&r) < prob) ids[i] = mask_id, n++;
    return n;
}

/* Masked-LM loss and accuracy over d with a fixed masking (eval mode). */
static void mlm_eval(trainer *t, const eb_train_data *d, double *loss, double *acc) {
    const eb_train_options *o = t->o;
    eb_tmodel *m = &t->m;
    double l = 0;
    long masked = 0, correct = 0;
    int *idx = eb_malloc(NULL, sizeof(int) * (size_t)o->batch);
    *loss = *acc = 0;
    if (!idx) return;
    for (int s = 0; s < d->n; s += o->batch) {
        int B = EB_MIN(o->batch, d->n - s);
        for (int b = 0; b < B; b++)
            idx[b] = s + b;
        const int T = make_batch(t, d, idx, B);
        mlm_mask(t->bids, t->mlab, t->bvalid, B * T, m->cfg.vocab_size, o->mlm_prob, o->mask_id,
                 0x5EEDULL + (uint64_t)s);
        /* scored at the [MASK] positions only: at a chosen position left as it was, copying
         * the input is right, which says nothing of the context */
        for (int i = 0; i < B * T; i++)
            if (t->bids[i] != o->mask_id) t->mlab[i] = -1;
        eb_tm_forward(m, t->bids, t->btypes, t->bvalid, B, T, 0, 0.0f, 0);
        int nm = 0, nc = 0;
        double bl = eb_tm_mlm_loss(m, t->mlab, 0, &nm, &nc);
        l += bl * nm;
        masked += nm;
        correct += nc;
    }
    eb_free(NULL, idx);
    *loss = masked ? l / masked : 0;
    *acc = masked ? (double)correct / masked : 0;
}

/* The loss of the global batch idx[0..B) and, in m->grads, its gradient; with data-parallel
 * ranks, this rank's part of both (the ranks' sums are the whole).  Every rank builds and masks
 * the whole batch (token masking draws the same as one process) and runs the forward and
 * backward over its shard: the contiguous rows [B r / size, B (r+1) / size), padded to the
 * batch's length, with the batch's dropout masks of those rows; losses divide by the global
 * batch's count (examples, or masked tokens in masked-LM pretraining). */
static double step_loss_and_grads(trainer *t, const eb_train_data *d, const int *idx, int B,
                                  long *tokens) {
    const eb_train_options *o = t->o;
    eb_tmodel *m = &t->m;
    const eb_config *c = &m->cfg;
    const int K = c->num_labels;
    int T = make_batch(t, d, idx, B);
    const int r0 = (int)((long)B * t->rank / t->size),
              r1 = (int)((long)B * (t->rank + 1) / t->size);
    const int Bg = B;
    for (int i = 0; i < B * T; i++)
        *tokens += t->bvalid[i];
    const int ramps = o->phase == EB_PHASE_OFFRAMPS;
    const int adapters = o->adapter_size > 0 && m->num_ramps > 0; /* main head and off-ramps */
    uint64_t dseed = o->seed * 0x2545F4914F6CDD1DULL + (uint64_t)t->step;
    if (o->phase == EB_PHASE_MLM)
        mlm_mask(t->bids, t->mlab, t->bvalid, B * T, c->vocab_size, o->mlm_prob, o->mask_id,
                 dseed ^ 0x9E3779B97F4A7C15ULL);
    else if (o->phase == EB_PHASE_BACKBONE && o->mask_tokens > 0)
        eb_trainer_mask_tokens(t->bids, t->bvalid, B * T, o->mask_tokens, o->mask_id,
                               dseed ^ 0xD1B54A32D192ED03ULL);
    int Mg = 0; /* masked-LM: the masked tokens of the global batch */
    for (int i = 0; o->phase == EB_PHASE_MLM && i < B * T; i++)
        Mg += t->mlab[i] >= 0 && t->mlab[i] < c->vocab_size && t->bvalid[i];
    double loss = 0;
    memset(m->grads, 0, m->n_params * sizeof(float));
    /* from here on, the shard: rows r0..r1 of the batch */
    idx += r0;
    B = r1 - r0;
    const size_t sh = (size_t)r0 * T;
    if (B > 0) {
        m->row0 = r0, m->rows_total = Bg, m->mlm_denom = Mg;
        eb_tm_forward(m, t->bids + sh, t->btypes + sh, t->bvalid + sh, B, T, ramps || adapters,
                      o->dropout, dseed);
    }
    const float inv = 1.0f / (float)Bg;
    if (B == 0) {
        /* a global batch smaller than the group: nothing here */
    } else if (o->phase == EB_PHASE_MLM) {
        int nm = 0;
        loss += eb_tm_mlm_loss(m, t->mlab + sh, 1, &nm, NULL);
        if (nm > 0) eb_tm_backward(m, NULL, NULL, 1);
    } else if (!ramps) {
        memset(t->dmain, 0, sizeof(float) * (size_t)B * K);
        for (int b = 0; b < B; b++) {
            const eb_train_example *e = &d->ex[idx[b]];
            const float *s = m->head.logits + b * K;
            float *ds = t->dmain + b * K;
            if (K == 1) {
                if (t->has_teacher) {
                    float tt = t->tlogits[idx[b]];
                    loss += o->kd_alpha_distil *
                            eb_mse_backward(ds, s[0], tt, inv * o->kd_alpha_distil) / Bg;
                    loss += o->kd_alpha_ce *
                            eb_mse_backward(ds, s[0], e->target, inv * o->kd_alpha_ce) / Bg;
                } else {
                    loss += eb_mse_backward(ds, s[0], e->target, inv) / Bg;
                }
            } else if (t->has_teacher) {
                loss += eb_kd_backward(ds, s, t->tlogits + (size_t)idx[b] * K, K, e->label,
                                       o->kd_temperature, o->kd_alpha_distil, o->kd_alpha_ce, inv) /
                        Bg;
            } else {
                loss += eb_xent_backward(ds, s, K, e->label, inv) / Bg;
            }
        }
        if (adapters) loss += ramp_losses(t, d, idx, B, Bg);
        eb_tm_backward(m, t->dmain, adapters ? t->dramp : NULL, 1);
    } else {
        loss += ramp_losses(t, d, idx, B, Bg);
        eb_tm_backward(m, NULL, t->dramp, 0);
    }
    m->row0 = m->rows_total = m->mlm_denom = 0; /* evaluation forwards are whole batches */
    /* span penalty: span_coeff * sum max(z + R, 0) (once: on rank 0) */
    if (o->span && !ramps && t->rank == 0) {
        const float R = m->x.span_ramp;
        for (int u = 0; u < m->n_unique; u++)
            for (int h = 0; h < c->num_attention_heads; h++) {
                float z = m->P.layers[u].span[h];
                if (z + R > 0) {
                    loss += o->span_coeff * (z + R);
                    m->G.layers[u].span[h] += o->span_coeff;
                }
            }
    }
    return loss;
}

static void optimizer_step(trainer *t) {
    const eb_train_options *o = t->o;
    eb_tmodel *m = &t->m;
    const long st = t->step + 1;
    const double sched = lr_at(t, t->step) / o->lr;
    /* straight-through pruning gradients: dS = dW' * W, dW = dW' * mask */
    for (int i = 0; i < m->nt; i++) {
        const eb_tparam *p = &m->t[i];
        if (!is_masked(p) || !t->trainable[i]) continue;
        float *g = m->grads + p->off;
        const float *w = m->params + p->off, *k = t->mask + p->off;
        if (t->scores && (p->flags & EB_TP_PRUNE)) {
            float *gs = t->tmp; /* score gradient, used right away */
            for (size_t j = 0; j < p->numel; j++)
                gs[j] = g[j] * w[j];
            adam(t->scores + p->off, gs, t->s1 + p->off, t->s2 + p->off, p->numel,
                 (float)(o->score_lr * sched), 0.0f, st);
        }
        for (size_t j = 0; j < p->numel; j++)
            g[j] *= k[j];
    }
    /* global norm clip over the trained tensors */
    double nrm = 0;
    for (int i = 0; i < m->nt; i++) {
        if (!t->trainable[i]) continue;
        const float *g = m->grads + m->t[i].off;
        for (size_t j = 0; j < m->t[i].numel; j++)
            nrm += (double)g[j] * g[j];
    }
    nrm = sqrt(nrm);
    float cscale = (o->clip > 0 && nrm > o->clip) ? (float)(o->clip / nrm) : 1.0f;
    for (int i = 0; i < m->nt; i++) {
        if (!t->trainable[i]) continue;
        const eb_tparam *p = &m->t[i];
        float *g = m->grads + p->off;
        if (cscale != 1.0f)
            for (size_t j = 0; j < p->numel; j++)
                g[j] *= cscale;
        float lr = (float)(o->lr * sched);
        float wd = (p->flags & EB_TP_DECAY) ? o->weight_decay : 0.0f;
        if (p->flags & EB_TP_SPAN) lr = (float)(o->span_lr * sched), wd = 0;
        adam(m->params + p->off, g, t->m1 + p->off, t->m2 + p->off, p->numel, lr, wd, st);
        if (p->flags & EB_TP_SPAN) {
            const float R = m->x.span_ramp, mx = o->span_max > 0 ? o->span_max : (float)o->max_len;
            float *z = m->params + p->off;
            for (size_t j = 0; j < p->numel; j++)
                z[j] = z[j] < -R ? -R : (z[j] > mx ? mx : z[j]);
        }
    }
}

static void fill_report(trainer *t, eb_train_report *r) {
    eb_tmodel *m = &t->m;
    size_t zeros = 0, total = 0;
    for (int i = 0; i < m->nt; i++) {
        const eb_tparam *p = &m->t[i];
        if (!(p->flags & EB_TP_PRUNE) || p->ndim != 2) continue;
        for (size_t j = 0; j < p->numel; j++)
            zeros += m->eff[p->off + j] == 0.0f;
        total += p->numel;
    }
    r->sparsity = total ? (double)zeros / total : 0;
    r->heads_off = 0;
    if (m->has_span)
        for (int u = 0; u < m->n_unique; u++)
            for (int h = 0; h < m->cfg.num_attention_heads; h++)
                r->heads_off += eb_span_head_off(m->P.layers[u].span[h], m->x.span_ramp);
}

/* ---------------- data-parallel ranks ---------------- */

/* Every rank calls this at the same points with its own status; all return failure when one
 * failed (a rank that did not takes that rank's status when the failed ones agree on one). */
static eb_status dist_agree(const trainer *t, eb_status s, eb_error *err) {
    if (t->size == 1) return s;
    double v[3] = {s != EB_OK, s != EB_OK ? (double)s : 0, s != EB_OK ? (double)s * s : 0};
    eb_error e2;
    if (eb_dist_allreduce_f64(t->D, v, 3, &e2) != EB_OK)
        return s != EB_OK ? s : eb_fail(err, e2.status, "train: %s", e2.msg);
    if (s != EB_OK || v[0] == 0) return s;
    const double mean = v[1] / v[0];
    const eb_status theirs = v[2] / v[0] - mean * mean < 1e-9 ? (eb_status)lround(mean) : EB_ERR_IO;
    return eb_fail(
        err, theirs, "train: %.0f of the %d ranks %s; this one stops with them", v[0], t->size,
        theirs == EB_ERR_INTERRUPTED ? "were interrupted" : "failed (their messages above)");
}

/* Rank 0's weights, optimiser state, masks, average and step to every rank. */
static eb_status dist_bcast_state(trainer *t, eb_error *err) {
    eb_tmodel *m = &t->m;
    float *bufs[] = {m->params, t->m1, t->m2, t->mask, t->scores, t->s1, t->s2, t->ema};
    eb_status s = EB_OK;
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0] && s == EB_OK; i++)
        if (bufs[i]) s = eb_dist_bcast(t->D, bufs[i], m->n_params * sizeof(float), 0, err);
    if (s == EB_OK) s = eb_dist_bcast(t->D, &t->step, sizeof t->step, 0, err);
    return s;
}

/* The sums over the ranks of the trained tensors' gradients (runs of adjacent ones at once). */
static eb_status dist_reduce_grads(trainer *t, eb_error *err) {
    const eb_tmodel *m = &t->m;
    for (int i = 0; i < m->nt;) {
        if (!t->trainable[i]) {
            i++;
            continue;
        }
        const size_t off = m->t[i].off;
        size_t end = off + m->t[i].numel;
        int j = i + 1;
        while (j < m->nt && t->trainable[j] && m->t[j].off == end)
            end += m->t[j++].numel;
        eb_status s = eb_dist_allreduce_f32(t->D, m->grads + off, end - off, err);
        if (s != EB_OK) return s;
        i = j;
    }
    return EB_OK;
}

/* ---------------- the options ---------------- */

#define FIELD_CHECK(field, cond, want)                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return eb_fail(err, EB_ERR_ARG, "train: " #field ": must be " want ", got %g",         \
                           (double)o->field);                                                      \
    } while (0)

eb_status eb_train_options_check(const eb_train_options *o, eb_error *err) {
    if (!o) return eb_fail(err, EB_ERR_ARG, "train: no options");
    if (!o->out_dir || !*o->out_dir)
        return eb_fail(err, EB_ERR_ARG, "train: out_dir: not given (where checkpoints go)");
    if (!o->config_path && !o->init_dir)
        return eb_fail(err, EB_ERR_ARG,
                       "train: config_path, init_dir: give one (a config.json for a random "
                       "start, or a checkpoint directory)");
    FIELD_CHECK(phase, (unsigned)o->phase <= EB_PHASE_MLM,
                "backbone (0), offramps (1), predictor (2) or mlm (3)");
    FIELD_CHECK(prune, (unsigned)o->prune <= EB_PRUNE_MAGNITUDE,
                "none (0), movement (1) or magnitude (2)");
    FIELD_CHECK(epochs, o->epochs >= 1, ">= 1");
    FIELD_CHECK(lr, o->lr > 0 && isfinite(o->lr), "> 0");
    FIELD_CHECK(batch, o->batch >= 1, ">= 1");
    FIELD_CHECK(max_len, o->max_len >= 2 && o->max_len <= EB_MAX_TOKENS, "in 2..4096");
    FIELD_CHECK(warmup, o->warmup >= 0 && isfinite(o->warmup), ">= 0");
    FIELD_CHECK(weight_decay, o->weight_decay >= 0 && isfinite(o->weight_decay), ">= 0");
    FIELD_CHECK(clip, o->clip >= 0 && isfinite(o->clip), ">= 0");
    FIELD_CHECK(dropout, o->dropout >= 0 && o->dropout < 1, "in [0, 1)");
    FIELD_CHECK(hidden_dropout, o->hidden_dropout >= 0 && o->hidden_dropout < 1, "in [0, 1)");
    FIELD_CHECK(kd_temperature, o->kd_temperature > 0 && isfinite(o->kd_temperature), "> 0");
    FIELD_CHECK(kd_alpha_distil, o->kd_alpha_distil >= 0 && isfinite(o->kd_alpha_distil), ">= 0");
    FIELD_CHECK(kd_alpha_ce, o->kd_alpha_ce >= 0 && isfinite(o->kd_alpha_ce), ">= 0");
    if (o->prune != EB_PRUNE_NONE) FIELD_CHECK(keep, o->keep > 0 && o->keep <= 1, "in (0, 1]");
    FIELD_CHECK(prune_iw, o->prune_iw >= 0 && isfinite(o->prune_iw), ">= 0");
    FIELD_CHECK(prune_fw, o->prune_fw >= 0 && isfinite(o->prune_fw), ">= 0");
    FIELD_CHECK(score_lr, o->score_lr >= 0 && isfinite(o->score_lr), ">= 0");
    FIELD_CHECK(span_coeff, o->span_coeff >= 0 && isfinite(o->span_coeff), ">= 0");
    FIELD_CHECK(span_lr, o->span_lr >= 0 && isfinite(o->span_lr), ">= 0");
    FIELD_CHECK(span_max, o->span_max >= 0 && isfinite(o->span_max), ">= 0");
    FIELD_CHECK(span_ramp, o->span_ramp >= 0 && isfinite(o->span_ramp), ">= 0");
    FIELD_CHECK(emb_prune_pct, o->emb_prune_pct >= 0 && o->emb_prune_pct < 100, "in [0, 100)");
    FIELD_CHECK(adapter_size, o->adapter_size >= 0, ">= 0");
    FIELD_CHECK(head_num_labels, o->head_num_labels >= 0 && o->head_num_labels <= EB_MAX_LABELS,
                "in 0..16");
    FIELD_CHECK(truncate_head, o->truncate_head >= 0, ">= 0");
    FIELD_CHECK(predict_after, o->predict_after >= 1 && o->predict_after < EB_MAX_LAYERS,
                "in 1..63");
    FIELD_CHECK(mlm_prob, o->mlm_prob > 0 && o->mlm_prob < 1, "in (0, 1)");
    FIELD_CHECK(mask_id, o->mask_id >= 0, ">= 0");
    FIELD_CHECK(mask_tokens, o->mask_tokens >= 0 && o->mask_tokens < 1, "in [0, 1)");
    FIELD_CHECK(ema, o->ema >= 0 && o->ema < 1, "in [0, 1)");
    FIELD_CHECK(eval_every, o->eval_every >= 0, ">= 0");
    FIELD_CHECK(save_every, o->save_every >= 0, ">= 0");
    FIELD_CHECK(steps, o->steps >= 0, ">= 0");
    FIELD_CHECK(max_steps, o->max_steps >= 0, ">= 0");
    FIELD_CHECK(log_every, o->log_every >= 1, ">= 1");
    FIELD_CHECK(bf16, o->bf16 == 0 || o->bf16 == 1, "0 or 1");
    if (o->adapter_size > 0) {
        if (!o->init_dir)
            return eb_fail(err, EB_ERR_ARG,
                           "train: adapter_size: needs init_dir (the frozen backbone)");
        if (o->phase != EB_PHASE_BACKBONE)
            return eb_fail(err, EB_ERR_ARG, "train: adapter_size: goes with phase backbone only");
        if (o->prune != EB_PRUNE_NONE || o->span || o->emb_prune_pct > 0)
            return eb_fail(err, EB_ERR_ARG,
                           "train: adapter_size: goes without prune, span and emb_prune_pct");
    }
    if (o->phase == EB_PHASE_MLM && o->teacher_dir)
        return eb_fail(err, EB_ERR_ARG, "train: teacher_dir: phase mlm has no teacher");
    if (o->phase == EB_PHASE_PREDICTOR && !o->init_dir)
        return eb_fail(err, EB_ERR_ARG,
                       "train: init_dir: the predictor is trained on a model with trained "
                       "off-ramps (phase offramps)");
    if (o->teacher_dir) { /* "DIR1,DIR2,...": no empty entry, each a path */
        const char *p = o->teacher_dir;
        do {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (len == 0 || len >= 1024)
                return eb_fail(err, EB_ERR_ARG,
                               "train: teacher_dir: \"%.400s\" is not a comma-separated list of "
                               "checkpoint directories (%s entry)",
                               o->teacher_dir, len ? "a too long" : "an empty");
            p += len + (comma != NULL);
            if (!comma) break;
        } while (1);
    }
    return EB_OK;
}

#undef FIELD_CHECK

/* ---------------- progress and cancellation ---------------- */

/* Call the progress callback with p (report or check); returns nonzero when the run is to
 * stop.  A stop asked for once stays asked for. */
static int progress_call(trainer *t, eb_progress *p) {
    if (t->o->progress && t->o->progress(t->o->progress_ud, p)) t->cancel = 1;
    return t->cancel;
}

/* A check between reports: the numbers of the last report, the steps done now. */
static int train_check(trainer *t) {
    eb_progress p = t->last;
    p.phase = "train";
    p.report = 0;
    p.done = t->step;
    p.total = t->total;
    return progress_call(t, &p);
}

/* ---------------- the phases of a run ---------------- */

/* The student: loaded or initialised, checked against the options that need it, the data
 * checked against its vocabulary and labels. */
static eb_status setup_model(trainer *t, const eb_train_data *train, const eb_train_data *dev,
                             eb_error *err) {
    const eb_train_options *o = t->o;
    const float span_init = o->span_max > 0 ? o->span_max : (float)o->max_len;
    eb_status s = eb_trainer_load_model_ad(
        &t->m, o->config_path, o->init_dir, o->span,
        (o->phase == EB_PHASE_OFFRAMPS || o->adapter_size > 0 ? EB_TM_RAMPS : 0) |
            (o->phase == EB_PHASE_MLM ? EB_TM_MLM : 0),
        o->span_ramp, span_init, o->adapter_size,
        o->phase == EB_PHASE_BACKBONE ? o->head_num_labels : 0, o->head_labels, o->seed, err);
    if (s != EB_OK) return s;
    eb_tmodel *m = &t->m;
    m->frozen_backbone = o->adapter_size > 0;
    if (o->truncate_head > 0) m->x.truncate_head = o->truncate_head;
    if (o->max_len > m->cfg.max_position_embeddings)
        return eb_fail(err, EB_ERR_ARG, "train: max_len %d exceeds max_position_embeddings %d",
                       o->max_len, m->cfg.max_position_embeddings);
    if (o->phase == EB_PHASE_MLM && o->mask_id >= m->cfg.vocab_size)
        return eb_fail(err, EB_ERR_ARG, "train: mask_id %d outside the vocabulary (%d)", o->mask_id,
                       m->cfg.vocab_size);
    if (o->phase == EB_PHASE_OFFRAMPS && m->num_ramps == 0)
        return eb_fail(err, EB_ERR_ARG, "train: the model has a single layer: no off-ramps");
    s = check_data(m, train, "training", err);
    if (s == EB_OK && dev) s = check_data(m, dev, "dev", err);
    return s;
}

/* Knowledge distillation: the teachers' logits over the training set, once.  One teacher,
 * or an ensemble "DIR1,DIR2,...": the mean of their logits.  Each teacher is deterministic
 * (eval mode): its logits once, then it goes. */
static eb_status teacher_pass(trainer *t, const eb_train_data *train, eb_error *err) {
    const eb_train_options *o = t->o;
    const eb_tmodel *m = &t->m;
    const size_t NK = (size_t)train->n * m->cfg.num_labels;
    float *one = NULL;
    int nt = 0;
    eb_status s = EB_OK;
    t->tlogits = eb_calloc(NULL, NK, sizeof(float));
    if (!t->tlogits) return eb_fail(err, EB_ERR_NOMEM, "train: out of memory");
    for (const char *p = o->teacher_dir; s == EB_OK && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char dir[1024];
        memcpy(dir, p, len); /* eb_train_options_check: 0 < len < sizeof dir */
        dir[len] = 0;
        p += len + (comma != NULL);
        s = eb_trainer_load_model(&t->teacher, NULL, dir, 0, 0, 0, 0, 0, err);
        t->teacher_loaded = s == EB_OK;
        if (s == EB_OK && o->max_len > t->teacher.cfg.max_position_embeddings)
            s = eb_fail(err, EB_ERR_ARG,
                        "train: max_len %d exceeds the teacher's (%s) "
                        "max_position_embeddings %d",
                        o->max_len, dir, t->teacher.cfg.max_position_embeddings);
        else if (s == EB_OK && t->teacher.cfg.num_labels != m->cfg.num_labels)
            s = eb_fail(err, EB_ERR_ARG, "train: teacher %s has %d labels, student %d", dir,
                        t->teacher.cfg.num_labels, m->cfg.num_labels);
        if (s == EB_OK) s = eb_tm_alloc_acts(&t->teacher, o->batch, o->max_len, err);
        if (s == EB_OK) s = eb_tm_set_bf16(&t->teacher, o->bf16, err);
        if (s == EB_OK) s = check_data(&t->teacher, train, "training (teacher)", err);
        if (s == EB_OK && !one && !(one = eb_malloc(NULL, NK * sizeof(float))))
            s = eb_fail(err, EB_ERR_NOMEM, "train: out of memory");
        if (t->size > 1) { /* data-parallel: every rank has this teacher, or all stop */
            s = dist_agree(t, s, err);
            t->agreed = s != EB_OK;
            if (s == EB_OK) memset(one, 0, NK * sizeof(float));
        }
        /* in chunks, so that a stop need not wait for a whole pass; data-parallel ranks
         * label every size-th chunk each and sum their logits (zeros elsewhere) */
        const double t0 = now_s();
        for (int c0 = 0, ci = 0; s == EB_OK && one && c0 < train->n; c0 += 4096, ci++) {
            if (ci % t->size != t->rank) continue;
            const eb_train_data chunk = {train->ex + c0, EB_MIN(4096, train->n - c0), NULL};
            eb_trainer_eval(&t->teacher, &chunk, o->max_len, o->batch, NULL, NULL,
                            one + (size_t)c0 * m->cfg.num_labels);
            eb_progress pr = {0};
            pr.phase = "teacher";
            pr.report = 1;
            pr.done = c0 + chunk.n;
            pr.total = train->n;
            pr.elapsed_s = now_s() - t0;
            pr.eta_s = pr.elapsed_s / (double)pr.done * (double)(pr.total - pr.done);
            if (progress_call(t, &pr))
                s = eb_fail(err, EB_ERR_INTERRUPTED,
                            "train: interrupted while the teacher %s labelled the training set "
                            "(nothing to save yet: run the same command again)",
                            dir);
        }
        if (t->size > 1 && !t->agreed) { /* the sum, and a stop anywhere stops all */
            eb_error e2;
            eb_status s2 = eb_dist_allreduce_f32(t->D, one, NK, &e2);
            if (s == EB_OK && s2 != EB_OK) s = eb_fail(err, s2, "train: %s", e2.msg);
            s = dist_agree(t, s, err);
            t->agreed = s != EB_OK;
        }
        if (s == EB_OK && one) {
            for (size_t i = 0; i < NK; i++)
                t->tlogits[i] += one[i];
            nt++;
        }
        eb_tm_free(&t->teacher);
        t->teacher_loaded = 0;
    }
    eb_free(NULL, one);
    if (s != EB_OK) return s;
    if (nt == 0) return eb_fail(err, EB_ERR_ARG, "train: teacher_dir: names no checkpoint");
    for (size_t i = 0; i < NK; i++)
        t->tlogits[i] /= (float)nt;
    t->has_teacher = 1;
    tlog(o, "teacher logits computed for %d examples (mean of %d teacher%s)", train->n, nt,
         nt > 1 ? "s" : "");
    return EB_OK;
}

/* Activations, optimiser state, masks, the trainable set, the schedule, the resume state;
 * data-parallel: the ranks agree that all of them succeeded and take rank 0's state. */
static eb_status setup_run(trainer *t, const eb_train_data *train, eb_error *err) {
    const eb_train_options *o = t->o;
    eb_tmodel *m = &t->m;
    m->hidden_dropout = o->phase == EB_PHASE_OFFRAMPS ? 0.0f : o->hidden_dropout;
    eb_status s = eb_tm_alloc_acts(m, o->batch, o->max_len, err);
    if (s == EB_OK) s = eb_tm_set_bf16(m, o->bf16, err);
    if (s != EB_OK) return s;
    const size_t NP = m->n_params;
    int ok_keys = 1;
    size_t maxt = 0;
    for (int i = 0; i < m->nt; i++)
        maxt = EB_MAX(maxt, m->t[i].numel);
    t->m1 = eb_calloc(NULL, NP, sizeof(float));
    t->m2 = eb_calloc(NULL, NP, sizeof(float));
    t->mask = eb_malloc(NULL, NP * sizeof(float));
    t->tmp = eb_malloc(NULL, 2 * maxt * sizeof(float));
    t->trainable = eb_calloc(NULL, (size_t)m->nt, sizeof(int));
    t->order = eb_malloc(NULL, sizeof(int) * (size_t)train->n);
    if (!o->no_length_grouping) {
        t->keys = eb_malloc(NULL, sizeof(uint64_t) * (size_t)EB_MIN(train->n, 64 * o->batch));
        ok_keys = t->keys != NULL;
    }
    t->bids = eb_malloc(NULL, sizeof(int32_t) * (size_t)o->batch * o->max_len);
    t->btypes = eb_malloc(NULL, sizeof(int32_t) * (size_t)o->batch * o->max_len);
    t->bvalid = eb_malloc(NULL, (size_t)o->batch * o->max_len);
    t->dmain = eb_malloc(NULL, sizeof(float) * (size_t)o->batch * m->cfg.num_labels);
    t->mlab = eb_malloc(NULL, sizeof(int32_t) * (size_t)o->batch * o->max_len);
    int ok = ok_keys && t->m1 && t->m2 && t->mask && t->tmp && t->trainable && t->order &&
             t->bids && t->btypes && t->bvalid && t->dmain && t->mlab;
    for (int j = 0; j < m->num_ramps && ok; j++)
        ok = (t->dramp[j] =
                  eb_malloc(NULL, sizeof(float) * (size_t)o->batch * m->cfg.num_labels)) != NULL;
    if (o->prune == EB_PRUNE_MOVEMENT && o->phase == EB_PHASE_BACKBONE) {
        t->scores = eb_calloc(NULL, NP, sizeof(float));
        t->s1 = eb_calloc(NULL, NP, sizeof(float));
        t->s2 = eb_calloc(NULL, NP, sizeof(float));
        ok = ok && t->scores && t->s1 && t->s2;
    }
    if (o->ema > 0) {
        t->ema = eb_malloc(NULL, NP * sizeof(float));
        t->raw = eb_malloc(NULL, NP * sizeof(float));
        ok = ok && t->ema && t->raw;
        if (t->ema) memcpy(t->ema, m->params, NP * sizeof(float));
    }
    if (!ok) return eb_fail(err, EB_ERR_NOMEM, "train: out of memory");
    /* masks start from what the weights already have: zeros stay zeros in a
     * pruned initial checkpoint's embeddings and matrices when frozen */
    for (size_t i = 0; i < NP; i++)
        t->mask[i] = 1.0f;
    /* zeros in the loaded embeddings stay zero (pruned by an earlier phase); emb_prune_pct cuts
     * more in the backbone phase and in masked-LM pretraining (the embeddings all tasks share) */
    if (o->phase == EB_PHASE_BACKBONE || o->phase == EB_PHASE_MLM) {
        for (int i = 0; i < m->nt; i++) {
            const eb_tparam *p = &m->t[i];
            if (!is_masked(p) || !(p->flags & EB_TP_EMBPRUNE)) continue;
            for (size_t j = 0; j < p->numel; j++)
                if (m->params[p->off + j] == 0.0f) t->mask[p->off + j] = 0.0f, t->masking = 1;
        }
        if (o->prune != EB_PRUNE_NONE || o->emb_prune_pct > 0) t->masking = 1;
    }
    set_trainable(t);
    t->spe = (train->n + o->batch - 1) / o->batch;
    t->total = o->steps > 0 ? o->steps : t->spe * o->epochs;
    t->epochs = (int)((t->total + t->spe - 1) / t->spe);
    t->warm = o->warmup < 1 ? (long)(o->warmup * t->total) : (long)o->warmup;
    if (t->warm < 1) t->warm = 1;
    if (t->warm > t->total) t->warm = t->total;
    t->ws = t->warm;
    if ((o->prune_iw + o->prune_fw) * t->ws > 0.8 * t->total)
        t->ws = (long)(0.8 * t->total / (o->prune_iw + o->prune_fw));
    t->kept = 1.0;
    fingerprint(t, train->n, t->fp, sizeof t->fp);
    t->idx = eb_malloc(NULL, sizeof(int) * (size_t)o->batch);
    if (!t->idx) s = eb_fail(err, EB_ERR_NOMEM, "train: out of memory");
    if (s == EB_OK && o->resume && t->rank == 0) s = load_state(t, err);
    /* data-parallel: all ranks set up (or all stop), then take rank 0's state */
    s = dist_agree(t, s, err);
    t->agreed = 1;
    if (s == EB_OK && t->size > 1) s = dist_bcast_state(t, err);
    if (s != EB_OK) return s;
    if (o->resume) tlog(o, "resuming at step %ld of %ld", t->step, t->total);
    if (t->size > 1)
        tlog(o, "data-parallel: %d ranks, each a shard of every batch of %d", t->size, o->batch);
    return EB_OK;
}

/* Dev evaluation after a step: masked-LM loss and accuracy (phase mlm), or the accuracy
 * (Pearson r) of the main head, per exit layer for off-ramps and adapters; logged. */
static void dev_eval(trainer *t, const eb_train_data *dev, int epoch, int epoch_end,
                     eb_train_report *rep) {
    const eb_train_options *o = t->o;
    eb_tmodel *m = &t->m;
    if (o->phase == EB_PHASE_MLM) {
        double ml, ma;
        ema_in(t);
        mlm_eval(t, dev, &ml, &ma);
        ema_out(t);
        rep->dev_accuracy = ma;
        if (epoch_end)
            tlog(o, "epoch %d: dev masked-LM loss %.4f, accuracy %.4f", epoch + 1, ml, ma);
        else
            tlog(o, "step %ld: dev masked-LM loss %.4f, accuracy %.4f", t->step, ml, ma);
        return;
    }
    double acc[EB_MAX_LAYERS];
    const int L = m->cfg.num_hidden_layers;
    char rawpart[64] = "";
    if (t->ema) { /* the trained weights too, so that the average's gain shows */
        if (t->masking) eb_tm_apply_mask(m, t->mask);
        eb_trainer_eval(m, dev, o->max_len, o->batch, acc, NULL, NULL);
        snprintf(rawpart, sizeof rawpart, " (averaged weights; trained weights %.4f)", acc[L - 1]);
    }
    ema_in(t);
    eb_trainer_eval(m, dev, o->max_len, o->batch, acc, NULL, NULL);
    ema_out(t);
    rep->dev_accuracy = acc[L - 1];
    if (o->phase == EB_PHASE_OFFRAMPS || o->adapter_size > 0) {
        char line[400];
        int n = 0;
        for (int l = 0; l < L && n < (int)sizeof line - 16; l++)
            n += snprintf(line + n, sizeof line - n, " %.3f", acc[l]);
        if (epoch_end)
            tlog(o, "epoch %d: dev accuracy per exit layer:%s", epoch + 1, line);
        else
            tlog(o, "step %ld: dev accuracy per exit layer:%s", t->step, line);
    } else if (epoch_end) {
        tlog(o, "epoch %d: dev %s %.4f%s", epoch + 1,
             m->cfg.num_labels == 1 ? "Pearson r" : "accuracy", acc[L - 1], rawpart);
    } else {
        tlog(o, "step %ld: dev %s %.4f%s", t->step,
             m->cfg.num_labels == 1 ? "Pearson r" : "accuracy", acc[L - 1], rawpart);
    }
}

/* The steps from t->step to the end of the run (or max_steps more, or a stop): batch, loss and
 * gradients, the optimiser, reports, dev evaluation, checkpoints. */
static eb_status step_loop(trainer *t, const eb_train_data *train, const eb_train_data *dev,
                           eb_train_report *rep, eb_error *err) {
    const eb_train_options *o = t->o;
    eb_status s = EB_OK;
    int *idx = t->idx;
    long stop_at = o->max_steps > 0 ? EB_MIN(t->total, t->step + o->max_steps) : t->total;
    double t0 = now_s(), tlast = t0, loss_acc = 0, last_loss = 0, t_other = 0;
    long tokens = 0, tok_last = 0, n_acc = 0, steps_done = 0;
    const eb_train_data *edev = t->rank == 0 ? dev : NULL; /* rank 0 alone evaluates */
    while (t->step < stop_at) {
        const int epoch = (int)(t->step / t->spe);
        const long bi = t->step % t->spe;
        shuffle_epoch(t, train, epoch);
        int B = 0;
        for (long k = bi * o->batch; k < train->n && B < o->batch; k++)
            idx[B++] = t->order[k];
        update_masks(t);
        double loss = step_loss_and_grads(t, train, idx, B, &tokens);
        int interrupted = 0;
        if (t->size > 1) { /* the whole batch's gradient and loss; a stop anywhere stops all */
            double v[2] = {loss, train_check(t)};
            s = dist_reduce_grads(t, err);
            if (s == EB_OK) s = eb_dist_allreduce_f64(t->D, v, 2, err);
            if (s != EB_OK) break;
            loss = v[0];
            interrupted = v[1] > 0;
        }
        if (!isfinite(loss)) {
            s = eb_fail(err, EB_ERR_NUMERIC,
                        "train: the loss became %s at step %ld (epoch %d); stopping. The last "
                        "checkpoint in %s (if any) is from before it; try a lower lr",
                        isnan(loss) ? "NaN" : "infinite", t->step + 1, epoch + 1, o->out_dir);
            break;
        }
        optimizer_step(t);
        if (t->ema) ema_update(t);
        t->step++;
        steps_done++;
        loss_acc += loss;
        n_acc++;
        last_loss = loss;
        const int epoch_end = t->step % t->spe == 0 || t->step == t->total;
        if (o->emb_prune_pct > 0 && (o->phase == EB_PHASE_BACKBONE || o->phase == EB_PHASE_MLM))
            emb_prune(t);
        if (o->progress && (t->step % o->log_every == 0 || t->step == t->total)) {
            double tn = now_s();
            eb_progress p = {0};
            p.phase = "train";
            p.report = 1;
            p.done = t->step;
            p.total = t->total;
            p.elapsed_s = tn - t0;
            p.eta_s = (tn - t0) / steps_done * (double)(t->total - t->step);
            p.epoch = (int)((t->step - 1) / t->spe) + 1;
            p.epochs = t->epochs;
            p.loss = loss_acc / n_acc;
            p.lr = lr_at(t, t->step - 1);
            p.tokens_per_s = (tokens - tok_last) / (tn - tlast > 1e-9 ? tn - tlast : 1e-9);
            p.kept = t->kept;
            t->last = p;
            progress_call(t, &p);
            tlast = tn;
            tok_last = tokens;
            loss_acc = 0;
            n_acc = 0;
        }
        if (edev && (epoch_end || (o->eval_every > 0 && t->step % o->eval_every == 0))) {
            double te = now_s();
            dev_eval(t, edev, epoch, epoch_end, rep);
            t_other += now_s() - te;
        }
        if (t->size == 1) interrupted = train_check(t);
        if (interrupted || epoch_end || t->step == stop_at ||
            (o->save_every > 0 && t->step % o->save_every == 0)) {
            double ts = now_s();
            if (t->rank == 0) s = save_all(t, err); /* rank 0 alone writes */
            s = dist_agree(t, s, err);
            t_other += now_s() - ts;
            if (s != EB_OK) break;
        }
        if (interrupted) {
            s = eb_fail(err, EB_ERR_INTERRUPTED,
                        "train: interrupted at step %ld of %ld; saved to %s (resume continues "
                        "it)",
                        t->step, t->total, o->out_dir);
            break;
        }
    }
    if (s == EB_OK && t->step == t->total && t->rank == 0) {
        /* finished: the resume state is no longer needed (and must not ship) */
        char path[1024];
        snprintf(path, sizeof path, "%s/train_state.safetensors", o->out_dir);
        remove(path);
    }
    rep->steps = t->step;
    rep->final_loss = last_loss;
    rep->seconds = now_s() - t0;
    /* training speed: without checkpoint writing and dev evaluation */
    rep->tokens_per_s = rep->seconds - t_other > 0 ? tokens / (rep->seconds - t_other) : 0;
    fill_report(t, rep);
    return s;
}

eb_status eb_train_run(const eb_train_options *o, const eb_train_data *train,
                       const eb_train_data *dev, eb_train_report *rep, eb_error *err) {
    eb_train_report dummy;
    if (!rep) rep = &dummy;
    memset(rep, 0, sizeof *rep);
    rep->dev_accuracy = -1;
    eb_status s = eb_train_options_check(o, err);
    if (s != EB_OK) return s;
    if (!train || train->n == 0) return eb_fail(err, EB_ERR_ARG, "train: no training data");
    if (o->phase == EB_PHASE_PREDICTOR) /* one process's work: rank 0's */
        return eb_dist_rank(o->dist) == 0 ? eb_train_predictor(o, train, rep, err) : EB_OK;
    trainer t;
    memset(&t, 0, sizeof t);
    t.o = o;
    t.D = o->dist;
    t.rank = eb_dist_rank(o->dist);
    t.size = eb_dist_size(o->dist);
    t.order_epoch = -1;
    s = setup_model(&t, train, dev, err);
    if (s == EB_OK && o->teacher_dir && o->phase == EB_PHASE_BACKBONE)
        s = teacher_pass(&t, train, err);
    if (s == EB_OK) s = setup_run(&t, train, err);
    if (s == EB_OK) s = step_loop(&t, train, dev, rep, err);
    if (!t.agreed) s = dist_agree(&t, s, err); /* a set-up failure: the others learn of it */
    trainer_free(&t);
    return s;
}
