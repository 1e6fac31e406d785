/* eb_forward - run every layer of a model on token ids, for the Python
 * reference test.  Usage: eb_forward MODEL_DIR < lines
 * --task NAME picks a task of a bundle (default: the first).
 * With --ex fp32|af8 first, the engine's *_ex path (sparse kernel allowed /
 * AdaptivFloat8 arithmetic) runs instead of the plain one.
 * Each stdin line: ids<TAB>type_ids<TAB>valid (space-separated ints; the
 * last two fields may be empty or absent).  Prints one JSON object per line:
 * {"logits": [[...] per layer], "entropies": [... per layer]}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "model/model_internal.h"

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
    int ex = 0; /* 0: plain path, 1: *_ex fp32, 2: *_ex af8 */
    const char *task = NULL;
    while (argc >= 4 && (!strcmp(argv[1], "--ex") || !strcmp(argv[1], "--task"))) {
        if (!strcmp(argv[1], "--task"))
            task = argv[2];
        else
            ex = !strcmp(argv[2], "af8") ? 2 : !strcmp(argv[2], "fp32") ? 1 : -1;
        argc -= 2, argv += 2;
    }
    if (argc != 2 || ex < 0) {
        fprintf(stderr, "usage: eb_forward [--ex fp32|af8] [--task NAME] MODEL < ids.tsv\n");
        return 2;
    }
    eb_error err = {0};
    eb_model *m;
    if (eb_model_load(argv[1], NULL, &m, &err) != EB_OK) {
        fprintf(stderr, "eb_forward: %s\n", err.msg);
        return 1;
    }
    eb_context *ctx;
    if (eb_context_new(m, &ctx, &err) != EB_OK) {
        fprintf(stderr, "eb_forward: %s\n", err.msg);
        return 1;
    }
    const eb_model_task *t = eb_model_find_task(m, task);
    if (!t) {
        fprintf(stderr, "eb_forward: no task %s\n", task);
        return 1;
    }
    const eb_config *c = &t->cfg;
    static char line[1 << 16];
    static int32_t ids[EB_MAX_TOKENS], types[EB_MAX_TOKENS], valid[EB_MAX_TOKENS];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        char *f2 = strchr(line, '\t'), *f3 = NULL;
        if (f2) {
            *f2++ = 0;
            f3 = strchr(f2, '\t');
            if (f3) *f3++ = 0;
        }
        int n = parse_ints(line, ids, ctx->s.max_n);
        int nt = parse_ints(f2, types, n), nv = parse_ints(f3, valid, n);
        for (int i = nt; i < n; i++) types[i] = 0;
        for (int i = 0; i < n; i++) ctx->s.key_valid[i] = (uint8_t)(i < nv ? valid[i] != 0 : 1);
        if (ex) {
            ctx->ex.precision = ex == 2 ? EB_PRECISION_AF8 : EB_PRECISION_FP32;
            if (ex == 2 && !eb_albert_exec_need_af8(&ctx->ex, &m->alloc)) {
                fprintf(stderr, "eb_forward: out of memory\n");
                return 1;
            }
            if (eb_albert_embed_ex(&ctx->s, &ctx->ex, c, &t->w, ids, types, n, &err) != EB_OK) {
                fprintf(stderr, "eb_forward: %s\n", err.msg);
                return 1;
            }
        } else {
            eb_albert_embed(&ctx->s, c, &t->w, ids, types, n);
        }
        printf("{\"logits\": [");
        float ent[EB_MAX_LAYERS];
        for (int l = 0; l < c->num_hidden_layers; l++) {
            float lg[EB_MAX_LABELS];
            if (ex) {
                if (eb_albert_layer_apply_ex(&ctx->s, &ctx->ex, c, &t->w, &t->extras, l, n, NULL,
                                             NULL, &err) != EB_OK ||
                    eb_albert_classify_at_ex(lg, &ctx->s, &ctx->ex, c, &t->w, l, &err) != EB_OK) {
                    fprintf(stderr, "eb_forward: %s\n", err.msg);
                    return 1;
                }
            } else {
                eb_albert_layer_apply(&ctx->s, c, &t->w, &t->extras, l, n, NULL, NULL);
                eb_albert_classify_at(lg, &ctx->s, c, &t->w, l);
            }
            ent[l] = eb_entropy_logits(lg, c->num_labels);
            printf("%s[", l ? ", " : "");
            for (int k = 0; k < c->num_labels; k++) printf("%s%.9g", k ? ", " : "", lg[k]);
            printf("]");
        }
        printf("], \"entropies\": [");
        for (int l = 0; l < c->num_hidden_layers; l++) printf("%s%.9g", l ? ", " : "", ent[l]);
        printf("]}\n");
        fflush(stdout);
    }
    eb_context_free(ctx);
    eb_model_free(m);
    return 0;
}
