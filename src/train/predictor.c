/* predictor.c - phase 3: the early-exit predictor.
 *
 * The entropy of every off-ramp over the training set; a ReLU MLP
 * 1 -> 64 -> 64 -> 64 -> 64 -> (L-1-p) from the entropy after layer p to the
 * entropies after layers p+1..L-1 (Adam lr 1e-3, MSE, 3 epochs, batch 32);
 * the table exit_lut.csv: 100 rows for entropy 0.00..0.99, column 0 the
 * entropy, then the predictions (negative ones set to 0). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "edgebert/train.h"
#include "train/tmodel.h"
#include "train/trainer_internal.h"
#include "util/util.h"

#define HID 64
#define NLAY 5 /* linear layers */

typedef struct mlp {
    int dims[NLAY + 1];
    float *w[NLAY], *b[NLAY]; /* w[l]: [dims[l+1], dims[l]] */
    float *gw[NLAY], *gb[NLAY];
    float *mw[NLAY], *vw[NLAY], *mb[NLAY], *vb[NLAY];
    float *block;
} mlp;

static size_t mlp_size(const int *d) {
    size_t n = 0;
    for (int l = 0; l < NLAY; l++)
        n += (size_t)d[l + 1] * d[l] + d[l + 1];
    return n;
}

static int mlp_init(mlp *m, int out, uint64_t seed) {
    memset(m, 0, sizeof *m);
    int d[NLAY + 1] = {1, HID, HID, HID, HID, out};
    memcpy(m->dims, d, sizeof d);
    size_t n = mlp_size(d);
    m->block = eb_calloc(NULL, 6 * n, sizeof(float));
    if (!m->block) return 0;
    float *p = m->block;
    float **sets[6][2] = {{m->w, m->b}, {m->gw, m->gb}, {m->mw, m->mb}, {m->vw, m->vb}};
    for (int s = 0; s < 4; s++)
        for (int l = 0; l < NLAY; l++) {
            sets[s][0][l] = p;
            p += (size_t)d[l + 1] * d[l];
            sets[s][1][l] = p;
            p += d[l + 1];
        }
    uint64_t r = seed;
    for (int l = 0; l < NLAY; l++) {
        float sd = sqrtf(2.0f / d[l]);
        for (int i = 0; i < d[l + 1] * d[l]; i++)
            m->w[l][i] = sd * eb_rng_normal(&r);
    }
    return 1;
}

/* Forward of one input; acts[l] holds the input of layer l (post-ReLU). */
static void mlp_forward(const mlp *m, float x, float acts[NLAY + 1][HID], float *out) {
    acts[0][0] = x;
    for (int l = 0; l < NLAY; l++) {
        const int in = m->dims[l], o = m->dims[l + 1];
        float *y = l == NLAY - 1 ? out : acts[l + 1];
        for (int j = 0; j < o; j++) {
            float s = m->b[l][j];
            for (int i = 0; i < in; i++)
                s += m->w[l][j * in + i] * acts[l][i];
            y[j] = l == NLAY - 1 ? s : (s > 0 ? s : 0);
        }
    }
}

/* Accumulate the gradient of 0.5*|out - target|^2 * scale. */
static double mlp_backward(mlp *m, float x, const float *target, float scale) {
    float acts[NLAY + 1][HID], out[HID], d[HID], dn[HID];
    mlp_forward(m, x, acts, out);
    const int D = m->dims[NLAY];
    double loss = 0;
    for (int j = 0; j < D; j++) {
        d[j] = (out[j] - target[j]) * scale;
        loss += 0.5 * (out[j] - target[j]) * (out[j] - target[j]);
    }
    for (int l = NLAY - 1; l >= 0; l--) {
        const int in = m->dims[l], o = m->dims[l + 1];
        for (int i = 0; i < in; i++)
            dn[i] = 0;
        for (int j = 0; j < o; j++) {
            m->gb[l][j] += d[j];
            for (int i = 0; i < in; i++) {
                m->gw[l][j * in + i] += d[j] * acts[l][i];
                dn[i] += d[j] * m->w[l][j * in + i];
            }
        }
        for (int i = 0; i < in; i++)
            d[i] = (l > 0 && acts[l][i] <= 0) ? 0 : dn[i];
    }
    return loss / D;
}

static void mlp_adam(mlp *m, long step, float lr) {
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-7f;
    const float c1 = 1 - powf(b1, (float)step), c2 = 1 - powf(b2, (float)step);
    for (int l = 0; l < NLAY; l++) {
        int nw = m->dims[l + 1] * m->dims[l], nb = m->dims[l + 1];
        float *ps[2] = {m->w[l], m->b[l]}, *gs[2] = {m->gw[l], m->gb[l]};
        float *ms[2] = {m->mw[l], m->mb[l]}, *vs[2] = {m->vw[l], m->vb[l]};
        int ns[2] = {nw, nb};
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < ns[k]; i++) {
                float g = gs[k][i];
                ms[k][i] = b1 * ms[k][i] + (1 - b1) * g;
                vs[k][i] = b2 * vs[k][i] + (1 - b2) * g * g;
                ps[k][i] -= lr * (ms[k][i] / c1) / (sqrtf(vs[k][i] / c2) + eps);
                gs[k][i] = 0;
            }
    }
}

static eb_status copy_if_other(const char *from_dir, const char *to_dir, const char *name,
                               int required, eb_error *err) {
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/%s", from_dir, name);
    snprintf(b, sizeof b, "%s/%s", to_dir, name);
    if (!strcmp(a, b)) return EB_OK;
    FILE *f = fopen(a, "rb");
    if (!f) return required ? eb_fail(err, EB_ERR_IO, "%s: cannot open", a) : EB_OK;
    fclose(f);
    char *data;
    size_t size;
    eb_status s = eb_read_file(a, NULL, 0, &data, &size, err);
    if (s != EB_OK) return s;
    s = eb_write_file_atomic(b, data, size, err);
    eb_free(NULL, data);
    return s;
}

eb_status eb_train_predictor(const eb_train_options *o, const eb_train_data *train,
                             eb_train_report *rep, eb_error *err) {
    if (!o->init_dir) /* eb_train_options_check says so first */
        return eb_fail(err, EB_ERR_ARG, "train: init_dir: the predictor needs a model");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    eb_tmodel m;
    eb_status s = eb_trainer_load_model(&m, NULL, o->init_dir, 0, 0, 0, 0, 0, err);
    if (s != EB_OK) return s;
    const int L = m.cfg.num_hidden_layers, p = o->predict_after, D = L - 1 - p;
    float *ent = NULL;
    mlp net;
    memset(&net, 0, sizeof net);
    if (o->max_len > m.cfg.max_position_embeddings) {
        s = eb_fail(err, EB_ERR_ARG, "train: max_len %d exceeds max_position_embeddings %d",
                    o->max_len, m.cfg.max_position_embeddings);
        goto done;
    }
    if (m.num_ramps == 0) {
        s = eb_fail(err, EB_ERR_ARG, "%s: no off-ramps: train them first (phase offramps)",
                    o->init_dir);
        goto done;
    }
    if (p < 1 || D < 1) {
        s = eb_fail(err, EB_ERR_ARG,
                    "train: predict_after: must be in 1..%d for this model, got %d", L - 2, p);
        goto done;
    }
    s = eb_tm_alloc_acts(&m, o->batch, o->max_len, err);
    if (s != EB_OK) goto done;
    ent = eb_malloc(NULL, sizeof(float) * (size_t)train->n * L);
    if (!ent || !mlp_init(&net, D, o->seed)) {
        s = eb_fail(err, EB_ERR_NOMEM, "train: out of memory");
        goto done;
    }
    double acc[EB_MAX_LAYERS];
    eb_trainer_eval(&m, train, o->max_len, o->batch, acc, ent, NULL);
    /* 3 epochs (or --epochs), batch 32, shuffled */
    const int bs = 32;
    const int N = train->n;
    int *order = eb_malloc(NULL, sizeof(int) * (size_t)N);
    if (!order) {
        s = eb_fail(err, EB_ERR_NOMEM, "train: out of memory");
        goto done;
    }
    uint64_t r = o->seed + 17;
    long step = 0;
    double loss = 0;
    for (int ep = 0; ep < o->epochs; ep++) {
        for (int i = 0; i < N; i++)
            order[i] = i;
        for (int i = N - 1; i > 0; i--) {
            int j = (int)(eb_rng_next(&r) % (uint64_t)(i + 1)), x = order[i];
            order[i] = order[j];
            order[j] = x;
        }
        loss = 0;
        for (int b0 = 0; b0 < N; b0 += bs) {
            int B = EB_MIN(bs, N - b0);
            for (int b = 0; b < B; b++) {
                const float *e = ent + (size_t)order[b0 + b] * L;
                loss += mlp_backward(&net, e[p - 1], e + p, 1.0f / B);
            }
            mlp_adam(&net, ++step, 1e-3f);
        }
        if (o->log) {
            char msg[128];
            snprintf(msg, sizeof msg, "predictor epoch %d: mse %.5f", ep + 1, loss / N);
            o->log(o->log_ud, EB_LOG_INFO, msg);
        }
    }
    eb_free(NULL, order);
    rep->final_loss = loss / N;
    rep->tokens_per_s = 0;
    {
        size_t zeros = 0, total = 0;
        for (int i = 0; i < m.nt; i++) {
            if (!(m.t[i].flags & EB_TP_PRUNE) || m.t[i].ndim != 2) continue;
            for (size_t j = 0; j < m.t[i].numel; j++)
                zeros += m.params[m.t[i].off + j] == 0.0f;
            total += m.t[i].numel;
        }
        rep->sparsity = total ? (double)zeros / total : 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    rep->seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    rep->steps = step;
    /* the table */
    size_t cap = 100 * (size_t)(D + 1) * 32 + 16, len = 0;
    char *csv = eb_malloc(NULL, cap);
    if (!csv) {
        s = eb_fail(err, EB_ERR_NOMEM, "train: out of memory");
        goto done;
    }
    for (int row = 0; row < 100; row++) {
        float acts[NLAY + 1][HID], out[HID];
        double e = row / 100.0;
        mlp_forward(&net, (float)e, acts, out);
        len += (size_t)snprintf(csv + len, cap - len, "%.18e", e);
        for (int j = 0; j < D; j++)
            len +=
                (size_t)snprintf(csv + len, cap - len, ",%.18e", out[j] > 0 ? (double)out[j] : 0.0);
        len += (size_t)snprintf(csv + len, cap - len, "\n");
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/exit_lut.csv", o->out_dir);
    m.x.predict_after = p;                  /* config.json: edgebert_predict_after */
    s = eb_tm_save_hf(&m, o->out_dir, err); /* makes the directory a complete model */
    if (s == EB_OK) s = copy_if_other(o->init_dir, o->out_dir, "spiece.model", 0, err);
    if (s == EB_OK) s = eb_write_file_atomic(path, csv, len, err);
    eb_free(NULL, csv);
done:
    eb_free(NULL, ent);
    eb_free(NULL, net.block);
    eb_tm_free(&m);
    return s;
}
