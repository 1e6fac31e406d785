/* average.c - the uniform average of checkpoints fine-tuned from one
 * initialisation (a "model soup", Wortsman et al. 2022).
 *
 * Models fine-tuned from the same pretrained weights with different seeds
 * usually stay in one basin of the loss, so the mean of their weights is a
 * single model that scores like (often better than) each of them, at the
 * cost of one.  The default-model recipe averages its SST-2 teachers this
 * way (tools/make-default-model.sh).
 *
 * What must agree: the architecture in config.json (sizes, layers, heads,
 * labels, activation), the tensors of model.safetensors (the same names and
 * shapes; F32/F16/BF16 may mix, the output is F32) and spiece.model (the same
 * bytes, or absent everywhere).  The output directory gets config.json and
 * spiece.model of the first checkpoint and the averaged model.safetensors;
 * an exit_lut.csv is not copied (a table trained on one model's entropies
 * does not describe the average).  Every float tensor is averaged, spans and
 * classifiers included; checkpoints pruned with different masks average to
 * the union of their masks, so average before pruning. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "edgebert/train.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "util/util.h"

#define EB_AVG_MAX_CHECKPOINTS 64

static int same_architecture(const eb_config *a, const eb_config *b) {
    if (a->vocab_size != b->vocab_size || a->embedding_size != b->embedding_size ||
        a->hidden_size != b->hidden_size || a->num_hidden_layers != b->num_hidden_layers ||
        a->num_hidden_groups != b->num_hidden_groups || a->inner_group_num != b->inner_group_num ||
        a->num_attention_heads != b->num_attention_heads ||
        a->intermediate_size != b->intermediate_size ||
        a->max_position_embeddings != b->max_position_embeddings ||
        a->type_vocab_size != b->type_vocab_size || a->num_labels != b->num_labels ||
        a->hidden_act != b->hidden_act)
        return 0;
    for (int k = 0; k < a->num_labels && k < EB_MAX_LABELS; k++)
        if (strcmp(a->id2label[k], b->id2label[k]) != 0) return 0;
    return 1;
}

static int regular_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* spiece.model: the same bytes in every checkpoint, or in none; *first gets
 * the first one's bytes (NULL when none has it). */
static eb_status check_tokenizers(const char *const *dirs, int n, char **first, size_t *first_n,
                                  eb_error *err) {
    char path[1024];
    *first = NULL;
    *first_n = 0;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/spiece.model", dirs[i]);
        int has = regular_file(path);
        if (i > 0 && has != (*first != NULL))
            return eb_fail(err, EB_ERR_FORMAT,
                           "average: %s has %s spiece.model but %s %s: the checkpoints must share "
                           "one tokenizer",
                           dirs[i], has ? "a" : "no", dirs[0], has ? "has none" : "has one");
        if (!has) continue;
        char *d = NULL;
        size_t dn = 0;
        eb_status s = eb_read_file(path, NULL, 0, &d, &dn, err);
        if (s != EB_OK) {
            free(*first);
            *first = NULL;
            return s;
        }
        if (i == 0) {
            *first = d;
            *first_n = dn;
            continue;
        }
        int same = dn == *first_n && memcmp(d, *first, dn) == 0;
        free(d);
        if (!same) {
            free(*first);
            *first = NULL;
            return eb_fail(err, EB_ERR_FORMAT,
                           "average: %s/spiece.model differs from %s/spiece.model: the "
                           "checkpoints must share one tokenizer",
                           dirs[i], dirs[0]);
        }
    }
    return EB_OK;
}

eb_status eb_average_checkpoints(const char *const *dirs, int n, const char *out_dir,
                                 eb_average_report *report, eb_error *err) {
    if (report) memset(report, 0, sizeof *report);
    if (!dirs || n < 1 || !out_dir)
        return eb_fail(err, EB_ERR_ARG, "average: give at least one checkpoint and an output");
    if (n > EB_AVG_MAX_CHECKPOINTS)
        return eb_fail(err, EB_ERR_ARG, "average: at most %d checkpoints (got %d)",
                       EB_AVG_MAX_CHECKPOINTS, n);
    char path[1024];
    for (int i = 0; i < n; i++) {
        if (!dirs[i] || !*dirs[i])
            return eb_fail(err, EB_ERR_ARG, "average: empty checkpoint name");
        /* the same directory under another spelling ("m1/", "./m1") counts too */
        char ri[PATH_MAX], ro[PATH_MAX];
        if (!strcmp(dirs[i], out_dir) ||
            (realpath(dirs[i], ri) && realpath(out_dir, ro) && !strcmp(ri, ro)))
            return eb_fail(err, EB_ERR_ARG, "average: the output %s is also an input", out_dir);
    }
    eb_config cfg0, cfg;
    eb_model_extras x0, x;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/config.json", dirs[i]);
        eb_status s = eb_config_load(path, i == 0 ? &cfg0 : &cfg, i == 0 ? &x0 : &x, err);
        if (s != EB_OK) return s;
        if (i > 0 && !same_architecture(&cfg0, &cfg))
            return eb_fail(err, EB_ERR_FORMAT,
                           "average: %s and %s/config.json describe different models (sizes, "
                           "layers, heads, labels or activation differ)",
                           path, dirs[0]);
    }
    char *tok = NULL;
    size_t tok_n = 0;
    eb_status s = check_tokenizers(dirs, n, &tok, &tok_n, err);
    if (s != EB_OK) return s;

    eb_safetensors st[EB_AVG_MAX_CHECKPOINTS];
    int opened = 0;
    eb_st_entry *e = NULL;
    float *buf = NULL, *tmp = NULL;
    size_t total = 0, max_numel = 0;
    for (; opened < n; opened++) {
        snprintf(path, sizeof path, "%s/model.safetensors", dirs[opened]);
        s = eb_st_open(path, NULL, 1, &st[opened], err);
        if (s != EB_OK) goto done;
    }
    const eb_safetensors *a = &st[0];
    for (int i = 1; i < n; i++)
        if (st[i].n != a->n) {
            s = eb_fail(err, EB_ERR_FORMAT,
                        "average: %s has %d tensors, %s %d: not the same kind of checkpoint",
                        st[i].path, st[i].n, a->path, a->n);
            goto done;
        }
    for (int k = 0; k < a->n; k++) {
        const eb_st_tensor *t = &a->tensors[k];
        for (int i = 1; i < n; i++) {
            const eb_st_tensor *u = eb_st_find(&st[i], t->name);
            int same = u && u->ndim == t->ndim && u->numel == t->numel;
            for (int d = 0; same && d < t->ndim; d++)
                same = u->shape[d] == t->shape[d];
            if (!same) {
                s = eb_fail(err, EB_ERR_FORMAT, "average: %s: tensor %s %s than in %s", st[i].path,
                            t->name, u ? "has another shape" : "is missing, or named otherwise",
                            a->path);
                goto done;
            }
        }
        if (t->numel > max_numel) max_numel = t->numel;
        if (total + t->numel < total) {
            s = eb_fail(err, EB_ERR_FORMAT, "average: %s: tensors too large", a->path);
            goto done;
        }
        total += t->numel;
    }
    e = eb_calloc(NULL, (size_t)a->n + 1, sizeof *e);
    buf = eb_calloc(NULL, total + 1, sizeof(float));
    tmp = eb_calloc(NULL, max_numel + 1, sizeof(float));
    if (!e || !buf || !tmp) {
        s = eb_fail(err, EB_ERR_NOMEM, "average: out of memory (%zu parameters)", total);
        goto done;
    }
    size_t off = 0;
    for (int k = 0; k < a->n; k++) {
        const eb_st_tensor *t = &a->tensors[k];
        float *dst = buf + off;
        /* sum in double per element would cost a second buffer; float sums of
         * <= 64 terms of similar size lose < 1e-6 relative */
        eb_st_to_f32(t, dst);
        for (int i = 1; i < n; i++) {
            eb_st_to_f32(eb_st_find(&st[i], t->name), tmp);
            for (size_t j = 0; j < t->numel; j++)
                dst[j] += tmp[j];
        }
        const float inv = 1.0f / (float)n;
        for (size_t j = 0; j < t->numel; j++)
            dst[j] *= inv;
        e[k].name = t->name;
        e[k].data = dst;
        e[k].ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++)
            e[k].shape[d] = t->shape[d];
        off += t->numel;
    }
    if (mkdir(out_dir, 0777) != 0) {
        struct stat sb;
        if (stat(out_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            s = eb_fail(err, EB_ERR_IO, "average: %s: cannot create the output directory", out_dir);
            goto done;
        }
    }
    snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
    s = eb_st_write(path, e, a->n, EB_DTYPE_F32, "{\"format\": \"pt\"}", err);
    if (s != EB_OK) goto done;
    char *js = eb_config_to_json(&cfg0, &x0);
    if (!js) {
        s = eb_fail(err, EB_ERR_NOMEM, "average: out of memory");
        goto done;
    }
    snprintf(path, sizeof path, "%s/config.json", out_dir);
    s = eb_write_file_atomic(path, js, strlen(js), err);
    free(js);
    if (s != EB_OK) goto done;
    if (tok) {
        snprintf(path, sizeof path, "%s/spiece.model", out_dir);
        s = eb_write_file_atomic(path, tok, tok_n, err);
        if (s != EB_OK) goto done;
    }
    if (report) {
        report->checkpoints = n;
        report->tensors = a->n;
        report->parameters = total;
    }
done:
    for (int i = 0; i < opened; i++)
        eb_st_close(&st[i]);
    eb_free(NULL, e);
    eb_free(NULL, buf);
    eb_free(NULL, tmp);
    free(tok);
    return s;
}
