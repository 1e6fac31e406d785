/* study.c - the Monte Carlo ReRAM fault study of the stored word embeddings
 * (rules in include/edgebert/faults.h). */
#include "edgebert/faults.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "edgebert/quant.h"
#include "edgebert/runtime.h"
#include "model/model_access.h"
#include "quant/bitmask.h"
#include "reram/reram.h"
#include "util/util.h"

#define CHECKPOINT_MAGIC "edgebert-faults-checkpoint 1"

eb_status eb_fault_kind_builtin(eb_cell_kind k, eb_fault_kind *out, eb_error *err) {
    const eb_reram_table *t = eb_reram_default_table(k);
    if (!t) return eb_fail(err, EB_ERR_ARG, "faults: unknown cell kind %d", (int)k);
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", eb_cell_kind_name(k));
    out->cell = k;
    out->table = *t;
    return EB_OK;
}

/* ---- the stored embeddings ------------------------------------------- */

eb_status eb_fault_stored_embeddings(const eb_model *m, eb_stored_embeddings *out, eb_error *err) {
    memset(out, 0, sizeof *out);
    if (!m || eb_model_num_tasks(m) < 1) return eb_fail(err, EB_ERR_ARG, "faults: no model");
    const float *w;
    const eb_bitmask *bm = eb_model_stored_word_embeddings(m, &w);
    if (!bm)
        return eb_fail(err, EB_ERR_UNSUPPORTED,
                       "%s: the word embeddings are not stored as AdaptivFloat8 (build a bundle "
                       "with `edgebert pack --weights af8`)",
                       eb_model_path(m));
    out->rows = bm->rows;
    out->cols = bm->cols;
    out->vpr = bm->vpr;
    out->bias = bm->af8_bias;
    out->nnz = bm->nnz;
    out->masks = bm->masks;
    out->codes = bm->values;
    return EB_OK;
}

eb_status eb_fault_inject_embeddings(const eb_stored_embeddings *src,
                                     const eb_reram_model *value_model,
                                     const eb_reram_model *mask_model, eb_fault_mode mode,
                                     uint64_t value_seed, uint64_t mask_seed, uint8_t *codes_out,
                                     uint16_t *masks_out, eb_fault_stats *value_stats,
                                     eb_fault_stats *mask_stats, const eb_allocator *alloc,
                                     eb_error *err) {
    size_t n_masks = (size_t)src->rows * (size_t)src->vpr;
    if (src->nnz) memcpy(codes_out, src->codes, src->nnz);
    eb_status s = eb_reram_inject_bytes(codes_out, src->nnz, value_model, mode, value_seed, alloc,
                                        value_stats, err);
    if (s != EB_OK) return s;
    memcpy(masks_out, src->masks, n_masks * sizeof *masks_out);
    if (!mask_model) {
        if (mask_stats) memset(mask_stats, 0, sizeof *mask_stats);
        return EB_OK;
    }
    /* the masks as the bundle stores them: u16 little-endian */
    uint8_t *bytes = eb_malloc(alloc, n_masks * 2 + 1);
    if (!bytes) return eb_fail(err, EB_ERR_NOMEM, "faults: out of memory for %zu masks", n_masks);
    for (size_t i = 0; i < n_masks; i++) {
        bytes[2 * i] = (uint8_t)(masks_out[i] & 0xff);
        bytes[2 * i + 1] = (uint8_t)(masks_out[i] >> 8);
    }
    s = eb_reram_inject_bytes(bytes, n_masks * 2, mask_model, mode, mask_seed, alloc, mask_stats,
                              err);
    for (size_t i = 0; s == EB_OK && i < n_masks; i++)
        masks_out[i] = (uint16_t)(bytes[2 * i] | (unsigned)bytes[2 * i + 1] << 8);
    eb_free(alloc, bytes);
    return s;
}

void eb_fault_decode_embeddings(const eb_stored_embeddings *shape, const uint16_t *masks,
                                const uint8_t *codes, float *out) {
    float table[256];
    eb_af8_decode_table(table, shape->bias);
    const int R = shape->rows, C = shape->cols, vpr = shape->vpr;
    size_t pos = 0;
    for (int r = 0; r < R; r++) {
        float *row = out + (size_t)r * (size_t)C;
        for (int v = 0; v < vpr; v++) {
            uint16_t mk = masks[(size_t)r * (size_t)vpr + (size_t)v];
            for (int b = 0; b < 16; b++) {
                int c = v * 16 + b;
                float x = 0.0f;
                if (mk >> b & 1) {
                    x = pos < shape->nnz ? table[codes[pos]] : 0.0f;
                    pos++;
                }
                if (c < C) row[c] = x;
            }
        }
    }
}

/* ---- the study ------------------------------------------------------- */

eb_fault_study_params eb_fault_study_params_default(void) {
    eb_fault_study_params p;
    memset(&p, 0, sizeof p);
    p.trials = 100;
    p.mask = EB_MASK_SLC;
    p.mode = EB_FAULT_COUNT;
    p.run = eb_run_params_default();
    p.run.policy = EB_POLICY_BASE;
    p.reuse_clean = 1;
    return p;
}

void eb_fault_study_free(eb_fault_study *s) {
    if (!s) return;
    eb_allocator a = s->alloc;
    eb_free(&a, s->kinds);
    eb_free(&a, s->value_models);
    eb_free(&a, s->mask_models);
    eb_free(&a, s->trial);
    eb_free(&a, s->done);
    eb_free(&a, s->summary);
    eb_free(&a, s);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

typedef struct study {
    const eb_model *m;
    const eb_config *cfg; /* the task's */
    const char *task;     /* its name (the model's string) */
    eb_fault_study *S;
    eb_fault_study_params p;
    eb_dataset dsv; /* ds limited to n examples */
    int n;
    const eb_fault_input *in;
    int inv[EB_MAX_LABELS];
    eb_stored_embeddings se;
    const float *clean_emb;
    int *clean_pred;
    float *clean_score;
    float *clean_logits; /* [n * C] */
    char *options;
    /* shared state under mu */
    pthread_mutex_t mu;
    int *jobs, n_jobs, next_job;
    int started, finished, done_total, total;
    double t0, busy;
    int cancel; /* the progress callback asked to stop */
    eb_status status;
    eb_error err;
    int clean_next;
} study;

static void fail_shared(study *st, const eb_error *e) {
    if (st->status == EB_OK) {
        st->status = e->status ? e->status : EB_ERR_ARG;
        st->err = *e;
    }
}

/* Model label -> task label. */
static void score_example(const study *st, const eb_result *r, int *pred, float *score) {
    *pred = st->inv[r->label] >= 0 ? st->inv[r->label] : 0;
    *score = r->logits[0];
}

/* ---- fault-free pass (examples spread over the threads) ---- */

static void *clean_main(void *arg) {
    study *st = arg;
    eb_context *ctx = NULL;
    eb_error e = {0};
    if (eb_context_new(st->m, &ctx, &e) != EB_OK) {
        pthread_mutex_lock(&st->mu);
        fail_shared(st, &e);
        pthread_mutex_unlock(&st->mu);
        return NULL;
    }
    const int C = st->cfg->num_labels;
    for (;;) {
        pthread_mutex_lock(&st->mu);
        int i = st->status == EB_OK && st->clean_next < st->n ? st->clean_next++ : -1;
        pthread_mutex_unlock(&st->mu);
        if (i < 0) break;
        eb_result r;
        const eb_fault_input *x = &st->in[i];
        if (eb_classify_ids(ctx, x->ids, x->type_ids, x->n, &st->p.run, &r, &e) != EB_OK) {
            eb_fail_prefix(&e, "example %d (line %ld)", i + 1, st->dsv.rows[i].line);
            pthread_mutex_lock(&st->mu);
            fail_shared(st, &e);
            pthread_mutex_unlock(&st->mu);
            break;
        }
        score_example(st, &r, &st->clean_pred[i], &st->clean_score[i]);
        memcpy(st->clean_logits + (size_t)i * (size_t)C, r.logits, sizeof(float) * (size_t)C);
    }
    eb_context_free(ctx);
    return NULL;
}

/* ---- checkpoint ---- */

static void format_trial(eb_strbuf *b, int k, int i, const eb_fault_trial *t) {
    eb_strbuf_printf(b, "trial %d %d %.17g %.17g %.17g %.17g %.17g %ld %ld %ld %ld %d\n", k, i,
              t->accuracy, t->f1, t->matthews, t->pearson, t->spearman, t->value_faults,
              t->mask_faults, t->changed_codes, t->changed_rows, t->reevaluated);
}

static eb_status write_checkpoint(study *st, eb_error *err) {
    eb_fault_study *S = st->S;
    eb_strbuf b = {NULL, 0, 0, 0, &S->alloc};
    eb_strbuf_printf(&b, "%s\noptions %s\n", CHECKPOINT_MAGIC, st->options);
    for (int k = 0; k < S->n_kinds; k++)
        for (int i = 0; i < S->trials; i++) {
            size_t j = (size_t)k * (size_t)S->trials + (size_t)i;
            if (S->done[j]) format_trial(&b, k, i, &S->trial[j]);
        }
    eb_status s = b.oom ? eb_fail(err, EB_ERR_NOMEM, "faults: out of memory for the checkpoint")
                        : eb_write_file_atomic(st->p.checkpoint, b.s, b.n, err);
    eb_free(&S->alloc, b.s);
    return s;
}

static eb_status read_checkpoint(study *st, eb_error *err) {
    eb_fault_study *S = st->S;
    const char *path = st->p.checkpoint;
    if (access(path, F_OK) != 0) return EB_OK; /* nothing to resume */
    char *d;
    size_t n;
    eb_status s = eb_read_file(path, &S->alloc, 256u << 20, &d, &n, err);
    if (s != EB_OK) return s;
    char *save = NULL, *line = strtok_r(d, "\n", &save);
    long ln = 1;
    if (!line || strcmp(line, CHECKPOINT_MAGIC)) {
        s = eb_fail(err, EB_ERR_FORMAT, "%s: not an edgebert faults checkpoint", path);
        goto done;
    }
    line = strtok_r(NULL, "\n", &save);
    ln++;
    if (!line || strncmp(line, "options ", 8)) {
        s = eb_fail(err, EB_ERR_FORMAT, "%s:2: the options line is missing", path);
        goto done;
    }
    if (strcmp(line + 8, st->options)) {
        s = eb_fail(err, EB_ERR_ARG,
                    "%s: made with other options (model, data, cells, trials, seed, mask storage "
                    "or policy); use the same ones or start afresh without --resume",
                    path);
        goto done;
    }
    while ((line = strtok_r(NULL, "\n", &save))) {
        ln++;
        int k, i, used = 0;
        eb_fault_trial t;
        if (sscanf(line, "trial %d %d %lf %lf %lf %lf %lf %ld %ld %ld %ld %d%n", &k, &i,
                   &t.accuracy, &t.f1, &t.matthews, &t.pearson, &t.spearman, &t.value_faults,
                   &t.mask_faults, &t.changed_codes, &t.changed_rows, &t.reevaluated,
                   &used) != 12 ||
            line[used] || k < 0 || k >= S->n_kinds || i < 0 || i >= S->trials) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s:%ld: malformed trial line", path, ln);
            goto done;
        }
        size_t j = (size_t)k * (size_t)S->trials + (size_t)i;
        if (S->done[j]) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s:%ld: trial %d of kind %d appears twice", path, ln,
                        i, k);
            goto done;
        }
        S->trial[j] = t;
        S->done[j] = 1;
        S->resumed++;
    }
done:
    eb_free(&S->alloc, d);
    return s;
}

/* ---- one trial ---- */

typedef struct worker {
    study *st;
    float *emb;
    uint8_t *codes;
    uint16_t *masks;
    uint8_t *changed;
    int *pred;
    float *score;
    eb_model *fork;
    eb_context *ctx;
} worker;

static eb_status run_trial(worker *w, int job, eb_fault_trial *out, eb_error *err) {
    study *st = w->st;
    eb_fault_study *S = st->S;
    int k = job / S->trials, i = job % S->trials;
    const eb_stored_embeddings *se = &st->se;
    uint64_t vseed = eb_reram_trial_seed(st->p.seed, (uint64_t)i);
    uint64_t mseed = eb_reram_trial_seed(st->p.seed ^ EB_FAULT_MASK_SEED_SALT, (uint64_t)i);
    eb_fault_stats vs, ms;
    eb_status s =
        eb_fault_inject_embeddings(se, &S->value_models[k], &S->mask_models[k], st->p.mode, vseed,
                                   mseed, w->codes, w->masks, &vs, &ms, &S->alloc, err);
    if (s != EB_OK) return s;
    memset(out, 0, sizeof *out);
    out->value_faults = (long)vs.faults;
    out->mask_faults = (long)ms.faults;
    for (size_t j = 0; j < se->nnz; j++)
        out->changed_codes += w->codes[j] != se->codes[j];
    eb_fault_decode_embeddings(se, w->masks, w->codes, w->emb);
    const size_t E = (size_t)se->cols;
    for (int r = 0; r < se->rows; r++) {
        const float *a = w->emb + (size_t)r * E, *b = st->clean_emb + (size_t)r * E;
        int ch = 0;
        for (size_t c = 0; c < E && !ch; c++)
            ch = a[c] != b[c];
        w->changed[r] = (uint8_t)ch;
        out->changed_rows += ch;
    }
    for (int x = 0; x < st->n; x++) {
        const eb_fault_input *in = &st->in[x];
        int need = !st->p.reuse_clean;
        for (int j = 0; j < in->n && !need; j++)
            need = w->changed[in->ids[j]];
        if (!need) {
            w->pred[x] = st->clean_pred[x];
            w->score[x] = st->clean_score[x];
            continue;
        }
        eb_result r;
        s = eb_classify_ids(w->ctx, in->ids, in->type_ids, in->n, &st->p.run, &r, err);
        if (s != EB_OK)
            return eb_fail_prefix(err, "%s trial %d, example %d", S->kinds[k].name, i, x + 1);
        score_example(st, &r, &w->pred[x], &w->score[x]);
        out->reevaluated++;
    }
    eb_glue_scores g;
    int reg = st->dsv.task->num_labels == 1;
    s = eb_glue_score(&st->dsv, reg ? NULL : w->pred, reg ? w->score : NULL, &g, err);
    if (s != EB_OK) return s;
    out->accuracy = g.accuracy;
    out->f1 = g.f1;
    out->matthews = g.matthews;
    out->pearson = g.pearson;
    out->spearman = g.spearman;
    return EB_OK;
}

/* The progress callback (under st->mu): a report after a trial, or a check before one;
 * nonzero when the study is to stop (once asked, for good). */
static int progress(study *st, int report) {
    if (st->cancel || !st->p.progress) return st->cancel;
    eb_progress p = {0};
    p.phase = "faults";
    p.report = report;
    p.done = st->done_total;
    p.total = st->total;
    p.elapsed_s = now_s() - st->t0;
    p.eta_s = st->finished > 0 ? p.elapsed_s / st->finished * (st->total - st->done_total) : -1;
    st->cancel = st->p.progress(st->p.progress_ud, &p) != 0;
    return st->cancel;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    study *st = w->st;
    eb_fault_study *S = st->S;
    for (;;) {
        pthread_mutex_lock(&st->mu);
        int job = -1;
        int stop = st->status != EB_OK || progress(st, 0) ||
                   (st->p.stop_after > 0 && st->started >= st->p.stop_after);
        if (!stop && st->next_job < st->n_jobs) {
            job = st->jobs[st->next_job++];
            st->started++;
        }
        pthread_mutex_unlock(&st->mu);
        if (job < 0) break;
        eb_error e = {0};
        eb_fault_trial t;
        double t0 = now_s();
        eb_status s = run_trial(w, job, &t, &e);
        double dt = now_s() - t0;
        pthread_mutex_lock(&st->mu);
        if (s != EB_OK)
            fail_shared(st, &e);
        else {
            S->trial[job] = t;
            S->done[job] = 1;
            st->finished++;
            st->done_total++;
            st->busy += dt;
            if (st->p.checkpoint && write_checkpoint(st, &e) != EB_OK) fail_shared(st, &e);
            progress(st, 1);
        }
        pthread_mutex_unlock(&st->mu);
    }
    return NULL;
}

/* ---- setup ---- */

static eb_status build_options(study *st, uint64_t model_hash, uint64_t data_hash, eb_error *err) {
    const eb_fault_study_params *p = &st->p;
    const eb_run_params *r = &p->run;
    eb_strbuf b = {NULL, 0, 0, 0, &st->S->alloc};
    eb_strbuf_printf(&b,
              "model=%016llx emb=%dx%d nnz=%zu data=%016llx task=%s n=%d trials=%d seed=%llu "
              "mask=%s mode=%s policy=%s threshold=%.9g predict_after=%d latency=%.17g mac=%d "
              "precision=%d max_tokens=%d kinds=",
              (unsigned long long)model_hash, st->se.rows, st->se.cols, st->se.nnz,
              (unsigned long long)data_hash, st->task, st->n, p->trials,
              (unsigned long long)p->seed, p->mask == EB_MASK_SAME ? "same" : "slc",
              p->mode == EB_FAULT_COUNT ? "count" : "bernoulli", eb_policy_name(r->policy),
              (double)r->threshold, r->predict_after, r->latency_target_ms, r->mac_size,
              (int)r->precision, r->max_tokens);
    for (int k = 0; k < p->n_kinds; k++) {
        const eb_reram_table *t = &p->kinds[k].table;
        eb_strbuf_printf(&b, "%s%s:%d:", k ? ";" : "", p->kinds[k].name, t->bits);
        for (int j = 0; j < t->n_levels; j++)
            eb_strbuf_printf(&b, "%s%.17g,%.17g", j ? "/" : "", t->level[j].mean, t->level[j].sigma);
    }
    if (b.oom) {
        eb_free(&st->S->alloc, b.s);
        return eb_fail(err, EB_ERR_NOMEM, "faults: out of memory");
    }
    for (size_t i = 0; i < b.n; i++)
        if (b.s[i] == '\n' || b.s[i] == '\r') b.s[i] = ' ';
    st->options = b.s;
    return EB_OK;
}

static double metric_of(const eb_fault_study *S, const eb_fault_trial *t) {
    if (!strcmp(S->metric, "f1")) return t->f1;
    if (!strcmp(S->metric, "matthews")) return t->matthews;
    if (!strcmp(S->metric, "pearson")) return t->pearson;
    return t->accuracy;
}

static void summarise(eb_fault_study *S) {
    S->complete = 1;
    for (int k = 0; k < S->n_kinds; k++) {
        eb_fault_summary *u = &S->summary[k];
        double sa = 0, sa2 = 0, sm = 0, svf = 0, smf = 0, scc = 0, scr = 0;
        double mina = INFINITY, maxa = -INFINITY, minm = INFINITY;
        int n = 0;
        for (int i = 0; i < S->trials; i++) {
            size_t j = (size_t)k * (size_t)S->trials + (size_t)i;
            if (!S->done[j]) continue;
            const eb_fault_trial *t = &S->trial[j];
            double mv = metric_of(S, t);
            n++;
            sa += t->accuracy, sa2 += t->accuracy * t->accuracy;
            mina = fmin(mina, t->accuracy), maxa = fmax(maxa, t->accuracy);
            sm += mv, minm = fmin(minm, mv);
            svf += (double)t->value_faults, smf += (double)t->mask_faults;
            scc += (double)t->changed_codes, scr += (double)t->changed_rows;
        }
        if (n < S->trials) S->complete = 0;
        u->trials_done = n;
        u->fault_rate = eb_reram_fault_rate(&S->value_models[k]);
        u->mask_fault_rate = eb_reram_fault_rate(&S->mask_models[k]);
        u->value_cells = eb_reram_cells_for(S->nnz, S->value_models[k].table.bits);
        u->mask_cells = eb_reram_cells_for(S->mask_bytes, S->mask_models[k].table.bits);
        int reg = S->task->num_labels == 1;
        if (n == 0 || reg) {
            u->mean_accuracy = u->min_accuracy = u->max_accuracy = u->std_accuracy = NAN;
        } else {
            u->mean_accuracy = sa / n;
            u->min_accuracy = mina;
            u->max_accuracy = maxa;
            double var = n > 1 ? (sa2 - sa * sa / n) / (n - 1) : 0;
            u->std_accuracy = var > 0 ? sqrt(var) : 0;
        }
        u->mean_metric = n ? sm / n : NAN;
        u->min_metric = n ? minm : NAN;
        u->mean_value_faults = n ? svf / n : NAN;
        u->mean_mask_faults = n ? smf / n : NAN;
        u->mean_changed_codes = n ? scc / n : NAN;
        u->mean_changed_rows = n ? scr / n : NAN;
    }
}

/* Tokenize the first n examples into one id block. */
static eb_status tokenize_all(study *st, int32_t **ids_out, eb_fault_input **in_out,
                              eb_error *err) {
    const eb_model *m = st->m;
    const eb_allocator *a = &st->S->alloc;
    if (!eb_model_tokenizer(m))
        return eb_fail(err, EB_ERR_ARG, "%s: the model has no tokenizer (spiece.model)",
                       eb_model_path(m));
    int max_len = EB_MIN(st->cfg->max_position_embeddings, EB_MAX_TOKENS);
    if (st->p.run.max_tokens > 0) max_len = EB_MIN(max_len, st->p.run.max_tokens);
    eb_encoding *enc = eb_malloc(a, sizeof *enc);
    eb_fault_input *in = eb_calloc(a, (size_t)st->n + 1, sizeof *in);
    size_t *off = eb_calloc(a, (size_t)st->n + 1, sizeof *off);
    int32_t *ids = NULL;
    size_t cap = 0, used = 0;
    eb_status s = EB_OK;
    if (!enc || !in || !off) s = eb_fail(err, EB_ERR_NOMEM, "faults: out of memory");
    for (int i = 0; s == EB_OK && i < st->n; i++) {
        const eb_example *ex = &st->dsv.rows[i];
        s = eb_model_tokenize(m, st->task, ex->text_a, ex->text_b, max_len, enc, err);
        if (s != EB_OK) {
            eb_fail_prefix(err, "line %ld", ex->line);
            break;
        }
        if (used + 2 * (size_t)enc->n > cap) {
            size_t nc = cap ? cap * 2 : 1 << 16;
            while (nc < used + 2 * (size_t)enc->n)
                nc *= 2;
            int32_t *p = eb_realloc(a, ids, nc * sizeof *ids);
            if (!p) {
                s = eb_fail(err, EB_ERR_NOMEM, "faults: out of memory");
                break;
            }
            ids = p;
            cap = nc;
        }
        memcpy(ids + used, enc->ids, sizeof(int32_t) * (size_t)enc->n);
        memcpy(ids + used + enc->n, enc->type_ids, sizeof(int32_t) * (size_t)enc->n);
        off[i] = used;
        in[i].n = enc->n;
        used += 2 * (size_t)enc->n;
    }
    for (int i = 0; s == EB_OK && i < st->n; i++) {
        in[i].ids = ids + off[i];
        in[i].type_ids = ids + off[i] + in[i].n;
    }
    eb_free(a, enc);
    eb_free(a, off);
    if (s != EB_OK) {
        eb_free(a, in);
        eb_free(a, ids);
        return s;
    }
    *ids_out = ids;
    *in_out = in;
    return EB_OK;
}

static void worker_free(worker *w, const eb_allocator *a) {
    eb_context_free(w->ctx);
    eb_model_free(w->fork);
    eb_free_aligned(a, w->emb);
    eb_free(a, w->codes);
    eb_free(a, w->masks);
    eb_free(a, w->changed);
    eb_free(a, w->pred);
    eb_free(a, w->score);
}

static eb_status worker_init(worker *w, study *st, eb_error *err) {
    const eb_allocator *a = &st->S->alloc;
    const eb_stored_embeddings *se = &st->se;
    memset(w, 0, sizeof *w);
    w->st = st;
    size_t ne;
    if (!eb_mul_size((size_t)se->rows, (size_t)se->cols, &ne) || !eb_mul_size(ne, 4, &ne))
        return eb_fail(err, EB_ERR_NOMEM, "faults: embeddings too large");
    w->emb = eb_malloc_aligned(a, ne);
    w->codes = eb_malloc(a, se->nnz + 1);
    w->masks = eb_calloc(a, (size_t)se->rows * (size_t)se->vpr + 1, sizeof *w->masks);
    w->changed = eb_calloc(a, (size_t)se->rows, 1);
    w->pred = eb_calloc(a, (size_t)st->n + 1, sizeof *w->pred);
    w->score = eb_calloc(a, (size_t)st->n + 1, sizeof *w->score);
    if (!w->emb || !w->codes || !w->masks || !w->changed || !w->pred || !w->score)
        return eb_fail(err, EB_ERR_NOMEM, "faults: out of memory for a worker");
    eb_status s = eb_model_fork_embeddings(st->m, w->emb, &w->fork, err);
    if (s == EB_OK) s = eb_context_new(w->fork, &w->ctx, err);
    return s;
}

eb_status eb_fault_study_run(const eb_model *m, const eb_dataset *ds, const eb_fault_input *inputs,
                             const eb_fault_study_params *params, eb_fault_study **out,
                             eb_error *err) {
    *out = NULL;
    eb_fault_study_params p = params ? *params : eb_fault_study_params_default();
    if (!m || !ds) return eb_fail(err, EB_ERR_ARG, "faults: no model or data set");
    if (p.n_kinds < 1 || !p.kinds) return eb_fail(err, EB_ERR_ARG, "faults: no cell kinds given");
    if (p.trials < 1 || p.trials > 1000000)
        return eb_fail(err, EB_ERR_ARG, "faults: %d trials (1..1000000)", p.trials);
    if (!ds->labeled) return eb_fail(err, EB_ERR_ARG, "faults: the data set has no labels");
    if (p.resume && !p.checkpoint)
        return eb_fail(err, EB_ERR_ARG, "faults: resuming needs a checkpoint file");
    const char *task = NULL; /* the task p.run.task names (NULL: the first) */
    for (int k = 0; k < eb_model_num_tasks(m) && !task; k++)
        if (!p.run.task || !*p.run.task || !strcmp(p.run.task, eb_model_task_name(m, k)))
            task = eb_model_task_name(m, k);
    if (!task)
        return eb_fail(err, EB_ERR_ARG, "%s: unknown task '%s'", eb_model_path(m), p.run.task);
    p.run.task = task;

    study st;
    memset(&st, 0, sizeof st);
    st.m = m;
    st.task = task;
    st.cfg = eb_model_task_config(m, task);
    st.p = p;
    st.dsv = *ds;
    st.n = p.limit > 0 && p.limit < ds->n ? p.limit : ds->n;
    st.dsv.n = st.n;
    if (st.n < 1) return eb_fail(err, EB_ERR_ARG, "faults: the data set is empty");
    eb_status s = eb_fault_stored_embeddings(m, &st.se, err);
    if (s != EB_OK) return s;
    eb_model_stored_word_embeddings(m, &st.clean_emb);
    const eb_config *cfg = st.cfg;
    int map[EB_MAX_LABELS];
    s = eb_task_label_map(ds->task, (const char(*)[EB_LABEL_NAME_MAX])cfg->id2label,
                          cfg->num_labels, map, err);
    if (s != EB_OK) return s;
    for (int k = 0; k < EB_MAX_LABELS; k++)
        st.inv[k] = -1;
    for (int k = 0; k < ds->task->num_labels; k++)
        st.inv[map[k]] = k;

    eb_fault_study *S = eb_calloc(eb_model_allocator(m), 1, sizeof *S);
    if (!S) return eb_fail(err, EB_ERR_NOMEM, "faults: out of memory");
    S->alloc = *eb_model_allocator(m);
    st.S = S;
    const eb_allocator *a = &S->alloc;
    size_t nt = (size_t)p.n_kinds * (size_t)p.trials;
    S->n_kinds = p.n_kinds;
    S->trials = p.trials;
    S->task = ds->task;
    S->metric = ds->task->num_labels == 1 ? "pearson"
                : ds->task->has_matthews  ? "matthews"
                : ds->task->has_f1        ? "f1"
                                          : "accuracy";
    S->n_examples = st.n;
    S->rows = st.se.rows;
    S->cols = st.se.cols;
    S->nnz = st.se.nnz;
    S->mask_bytes = (size_t)st.se.rows * (size_t)st.se.vpr * 2;
    S->kinds = eb_calloc(a, (size_t)p.n_kinds, sizeof *S->kinds);
    S->value_models = eb_calloc(a, (size_t)p.n_kinds, sizeof *S->value_models);
    S->mask_models = eb_calloc(a, (size_t)p.n_kinds, sizeof *S->mask_models);
    S->summary = eb_calloc(a, (size_t)p.n_kinds, sizeof *S->summary);
    S->trial = eb_calloc(a, nt, sizeof *S->trial);
    S->done = eb_calloc(a, nt, 1);
    st.jobs = eb_calloc(a, nt, sizeof *st.jobs);
    st.clean_pred = eb_calloc(a, (size_t)st.n, sizeof *st.clean_pred);
    st.clean_score = eb_calloc(a, (size_t)st.n, sizeof *st.clean_score);
    st.clean_logits = eb_calloc(a, (size_t)st.n * (size_t)cfg->num_labels, sizeof(float));
    int32_t *tok_ids = NULL;
    eb_fault_input *tok_in = NULL;
    worker *ws = NULL;
    pthread_t *th = NULL;
    int n_workers = 0, mu_ok = 0;
    if (!S->kinds || !S->value_models || !S->mask_models || !S->summary || !S->trial || !S->done ||
        !st.jobs || !st.clean_pred || !st.clean_score || !st.clean_logits) {
        s = eb_fail(err, EB_ERR_NOMEM, "faults: out of memory for %zu trials", nt);
        goto done;
    }
    eb_fault_kind slc;
    if ((s = eb_fault_kind_builtin(EB_CELL_SLC, &slc, err)) != EB_OK) goto done;
    for (int k = 0; k < p.n_kinds; k++) {
        S->kinds[k] = p.kinds[k];
        S->kinds[k].name[EB_FAULT_KIND_NAME_MAX - 1] = 0;
        for (int j = 0; j < k; j++)
            if (!strcmp(S->kinds[j].name, S->kinds[k].name)) {
                s = eb_fail(err, EB_ERR_ARG, "faults: cell kind '%s' given twice",
                            S->kinds[k].name);
                goto done;
            }
        if ((s = eb_reram_model_init(&S->value_models[k], &p.kinds[k].table, err)) != EB_OK ||
            (s = eb_reram_model_init(&S->mask_models[k],
                                     p.mask == EB_MASK_SAME ? &p.kinds[k].table : &slc.table,
                                     err)) != EB_OK) {
            eb_fail_prefix(err, "faults: cell kind %s", S->kinds[k].name);
            goto done;
        }
    }
    /* inputs */
    if (!inputs) {
        if ((s = tokenize_all(&st, &tok_ids, &tok_in, err)) != EB_OK) goto done;
        inputs = tok_in;
    }
    st.in = inputs;
    for (int i = 0; i < st.n; i++)
        for (int j = 0; j < inputs[i].n; j++)
            if (inputs[i].ids[j] < 0 || inputs[i].ids[j] >= st.se.rows) {
                s = eb_fail(err, EB_ERR_INPUT, "faults: example %d: token id %d outside 0..%d",
                            i + 1, inputs[i].ids[j], st.se.rows - 1);
                goto done;
            }
    if (pthread_mutex_init(&st.mu, NULL) != 0) {
        s = eb_fail(err, EB_ERR_NOMEM, "faults: cannot make a mutex");
        goto done;
    }
    mu_ok = 1;
    int T = p.threads > 0 ? p.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (T < 1) T = 1;
    if (T > 256) T = 256;
    S->threads = T;
    th = eb_calloc(a, (size_t)T, sizeof *th);
    ws = eb_calloc(a, (size_t)T, sizeof *ws);
    if (!th || !ws) {
        s = eb_fail(err, EB_ERR_NOMEM, "faults: out of memory");
        goto done;
    }
    double t_start = now_s();
    /* fault-free pass: the reference answers and the study's fingerprint */
    {
        int nc = EB_MIN(T, st.n), started = 0;
        for (int i = 0; i < nc; i++, started++)
            if (pthread_create(&th[i], NULL, clean_main, &st) != 0) break;
        if (started == 0) clean_main(&st);
        for (int i = 0; i < started; i++)
            pthread_join(th[i], NULL);
        if (st.status != EB_OK) {
            *err = st.err;
            s = st.status;
            goto done;
        }
        int reg = ds->task->num_labels == 1;
        if ((s = eb_glue_score(&st.dsv, reg ? NULL : st.clean_pred, reg ? st.clean_score : NULL,
                               &S->clean, err)) != EB_OK)
            goto done;
    }
    uint64_t mh = 0xcbf29ce484222325ULL, dh = 0xcbf29ce484222325ULL;
    mh = fnv(mh, &st.se.bias, sizeof st.se.bias);
    mh = fnv(mh, st.se.masks, (size_t)st.se.rows * (size_t)st.se.vpr * 2);
    mh = fnv(mh, st.se.codes, st.se.nnz);
    mh = fnv(mh, st.clean_logits, sizeof(float) * (size_t)st.n * (size_t)cfg->num_labels);
    for (int i = 0; i < st.n; i++) {
        dh = fnv(dh, &inputs[i].n, sizeof inputs[i].n);
        dh = fnv(dh, inputs[i].ids, sizeof(int32_t) * (size_t)inputs[i].n);
        if (inputs[i].type_ids)
            dh = fnv(dh, inputs[i].type_ids, sizeof(int32_t) * (size_t)inputs[i].n);
        dh = fnv(dh, &st.dsv.rows[i].label, sizeof st.dsv.rows[i].label);
        dh = fnv(dh, &st.dsv.rows[i].score, sizeof st.dsv.rows[i].score);
    }
    if ((s = build_options(&st, mh, dh, err)) != EB_OK) goto done;
    if (p.resume && (s = read_checkpoint(&st, err)) != EB_OK) goto done;
    for (size_t j = 0; j < nt; j++)
        if (!S->done[j]) st.jobs[st.n_jobs++] = (int)j;
    st.total = (int)nt;
    st.done_total = (int)nt - st.n_jobs;
    st.t0 = now_s();
    if (st.n_jobs > 0 && p.checkpoint && (s = write_checkpoint(&st, err)) != EB_OK) goto done;
    int nw = EB_MIN(T, st.n_jobs);
    for (int i = 0; i < nw; i++, n_workers++)
        if ((s = worker_init(&ws[i], &st, err)) != EB_OK) {
            n_workers++;
            goto done;
        }
    int running = 0;
    for (int i = 0; i < nw; i++, running++)
        if (pthread_create(&th[i], NULL, worker_main, &ws[i]) != 0) break;
    if (running == 0 && nw > 0) worker_main(&ws[0]);
    for (int i = 0; i < running; i++)
        pthread_join(th[i], NULL);
    if (st.status != EB_OK) {
        *err = st.err;
        s = st.status;
        goto done;
    }
    S->seconds = now_s() - t_start;
    S->trial_seconds = st.finished ? st.busy / st.finished : NAN;
    summarise(S);
done:
    for (int i = 0; ws && i < n_workers; i++)
        worker_free(&ws[i], a);
    eb_free(a, ws);
    eb_free(a, th);
    if (mu_ok) pthread_mutex_destroy(&st.mu);
    eb_free(a, tok_ids);
    eb_free(a, tok_in);
    eb_free(a, st.jobs);
    eb_free(a, st.clean_pred);
    eb_free(a, st.clean_score);
    eb_free(a, st.clean_logits);
    eb_free(a, st.options);
    if (s != EB_OK) {
        eb_fault_study_free(S);
        return s;
    }
    *out = S;
    return EB_OK;
}
