/* eb_grad - loss and gradients of the trainer's ALBERT on one batch, for the
 * PyTorch autograd reference test (tests/py/test_train_grad.py).
 *
 * Usage: eb_grad MODEL_DIR < batch
 * MODEL_DIR holds config.json and model.safetensors; spans
 * (attention.span) and off-ramps (albert.encoder.highway.*) are used when
 * the file has them.  Each stdin line is one sequence:
 *   label<TAB>ids (space-separated)<TAB>type ids (optional)<TAB>masked-LM labels (optional,
 *   -1 = not a masked position; used when the file has the predictions.* head)
 * Sequences are padded with id 0 to the longest (padding masked as keys).
 * Loss = mean over the batch of CE(main head) + sum_j CE(off-ramp j)
 *        + span_coeff * sum over heads of max(z + R, 0)   (span_coeff 0.01)
 *        + mean CE of the masked-LM head over the masked positions.
 * Prints {"loss": x, "logits": [[..]], "grads": {"name": [values], ...}}.
 *
 * eb_grad --mlm MODEL_DIR < batch: the masked-LM head alone, no gradients (a
 * checkpoint without a classifier, such as a pretrained backbone, is fine).
 * Prints {"mlm_loss": x, "n_masked": M, "n_correct": C, "mlm_logits": [[V values]
 * for each masked position in row-major order]}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backward.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "train/tmodel.h"

#define MAXB 64
#define MAXT 512

static int parse_ints(char *s, int32_t *out, int cap) {
    int n = 0;
    char *end;
    while (s && *s && n < cap) {
        long v = strtol(s, &end, 10);
        if (end == s) break;
        out[n++] = (int32_t)v;
        s = end;
    }
    return n;
}

int main(int argc, char **argv) {
    int mlm_only = 0;
    if (argc == 3 && !strcmp(argv[1], "--mlm")) {
        mlm_only = 1;
        argc--, argv++;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: eb_grad [--mlm] MODEL_DIR < batch\n");
        return 2;
    }
    eb_error err = {0};
    char path[1024];
    eb_config cfg;
    eb_model_extras x;
    snprintf(path, sizeof path, "%s/config.json", argv[1]);
    if (eb_config_load(path, &cfg, &x, &err) != EB_OK) {
        fprintf(stderr, "eb_grad: %s\n", err.msg);
        return 1;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", argv[1]);
    eb_safetensors st;
    if (eb_st_open(path, NULL, 0, &st, &err) != EB_OK) {
        fprintf(stderr, "eb_grad: %s\n", err.msg);
        return 1;
    }
    int has_span = 0, has_ramps = 0, has_mlm = 0;
    for (int i = 0; i < st.n; i++) {
        if (strstr(st.tensors[i].name, "attention.span")) has_span = 1;
        if (strstr(st.tensors[i].name, "encoder.highway.")) has_ramps = 1;
        if (!strcmp(st.tensors[i].name, "predictions.dense.weight")) has_mlm = 1;
    }
    eb_st_close(&st);
    eb_tmodel m;
    if (eb_tm_create(&m, &cfg, &x, has_span,
                     (has_ramps ? EB_TM_RAMPS : 0) | (has_mlm ? EB_TM_MLM : 0), 0, 1, NULL,
                     &err) != EB_OK ||
        eb_tm_load_safetensors(&m, path, &err) != EB_OK) {
        fprintf(stderr, "eb_grad: %s\n", err.msg);
        return 1;
    }
    static int32_t ids[MAXB][MAXT], types[MAXB][MAXT], mlab[MAXB][MAXT];
    static int len[MAXB], label[MAXB];
    static char line[1 << 16];
    int B = 0, T = 0;
    while (B < MAXB && fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        char *f2 = strchr(line, '\t'), *f3 = NULL, *f4 = NULL;
        if (!f2) continue;
        *f2++ = 0;
        f3 = strchr(f2, '\t');
        if (f3) *f3++ = 0;
        f4 = f3 ? strchr(f3, '\t') : NULL;
        if (f4) *f4++ = 0;
        for (int i = 0; i < MAXT; i++)
            mlab[B][i] = -1;
        parse_ints(f4, mlab[B], MAXT);
        label[B] = atoi(line);
        len[B] = parse_ints(f2, ids[B], MAXT);
        int nt = parse_ints(f3, types[B], len[B]);
        for (int i = nt; i < MAXT; i++)
            types[B][i] = 0;
        if (len[B] > T) T = len[B];
        B++;
    }
    if (B == 0) {
        fprintf(stderr, "eb_grad: empty batch\n");
        return 2;
    }
    int32_t *fid = calloc((size_t)B * T, sizeof *fid), *fty = calloc((size_t)B * T, sizeof *fty);
    uint8_t *val = calloc((size_t)B * T, 1);
    int32_t *flab = calloc((size_t)B * T, sizeof *flab);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            fid[b * T + t] = t < len[b] ? ids[b][t] : 0;
            fty[b * T + t] = t < len[b] ? types[b][t] : 0;
            val[b * T + t] = t < len[b];
            flab[b * T + t] = t < len[b] ? mlab[b][t] : -1;
        }
    if (eb_tm_alloc_acts(&m, B, T, &err) != EB_OK) {
        fprintf(stderr, "eb_grad: %s\n", err.msg);
        return 1;
    }
    eb_tm_forward(&m, fid, fty, val, B, T, has_ramps, 0.0f, 0);
    if (mlm_only) {
        if (!has_mlm) {
            fprintf(stderr, "eb_grad: %s has no masked-LM head (predictions.*)\n", argv[1]);
            free(flab), free(fid), free(fty), free(val);
            eb_tm_free(&m);
            return 1;
        }
        int M = 0, C = 0;
        const double l = eb_tm_mlm_loss(&m, flab, 0, &M, &C);
        printf("{\"mlm_loss\": %.9g, \"n_masked\": %d, \"n_correct\": %d, \"mlm_logits\": [", l,
               M, C);
        for (int r = 0; r < M; r++) {
            printf("%s[", r ? ", " : "");
            for (int v = 0; v < cfg.vocab_size; v++)
                printf("%s%.7g", v ? ", " : "", m.mlm_logits[(size_t)r * cfg.vocab_size + v]);
            printf("]");
        }
        printf("]}\n");
        free(flab), free(fid), free(fty), free(val);
        eb_tm_free(&m);
        return 0;
    }
    const int K = cfg.num_labels, NR = m.num_ramps;
    float *dmain = calloc((size_t)B * K, sizeof(float));
    float *dr[EB_MAX_LAYERS] = {0};
    double loss = 0;
    for (int b = 0; b < B; b++)
        loss += eb_xent_backward(dmain + b * K, m.head.logits + b * K, K, label[b], 1.0f / B) / B;
    for (int j = 0; j < NR; j++) {
        dr[j] = calloc((size_t)B * K, sizeof(float));
        for (int b = 0; b < B; b++)
            loss +=
                eb_xent_backward(dr[j] + b * K, m.ramp[j].logits + b * K, K, label[b], 1.0f / B) /
                B;
    }
    const float coeff = 0.01f;
    if (has_span) {
        for (int u = 0; u < m.n_unique; u++)
            for (int h = 0; h < cfg.num_attention_heads; h++) {
                float z = m.P.layers[u].span[h];
                if (z + x.span_ramp > 0) {
                    loss += coeff * (z + x.span_ramp);
                    m.G.layers[u].span[h] += coeff;
                }
            }
    }
    if (has_mlm) loss += eb_tm_mlm_loss(&m, flab, 1, NULL, NULL);
    eb_tm_backward(&m, dmain, dr, 1);
    printf("{\"loss\": %.9g, \"logits\": [", loss);
    for (int b = 0; b < B; b++) {
        printf("%s[", b ? ", " : "");
        for (int k = 0; k < K; k++)
            printf("%s%.9g", k ? ", " : "", m.head.logits[b * K + k]);
        printf("]");
    }
    printf("], \"grads\": {");
    for (int i = 0; i < m.nt; i++) {
        printf("%s\"%s\": [", i ? ", " : "", m.t[i].name);
        const float *g = m.grads + m.t[i].off;
        for (size_t k = 0; k < m.t[i].numel; k++)
            printf("%s%.9g", k ? "," : "", g[k]);
        printf("]");
    }
    printf("}}\n");
    for (int j = 0; j < NR; j++)
        free(dr[j]);
    free(flab), free(dmain), free(fid), free(fty), free(val);
    eb_tm_free(&m);
    return 0;
}
