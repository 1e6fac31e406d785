/* export.c - write one task of a loaded model (a bundle's task or a
 * checkpoint) back as a HuggingFace ALBERT checkpoint directory.
 *
 * The tensors written are the fp32 values the engine runs (a bundle's
 * AdaptivFloat8 and bitmask forms decoded), under the names the loader binds
 * (eb_model_bind_task): the embeddings, the encoder groups with their spans
 * and adapters, pooler, classifier and the off-ramps.  config.json carries
 * the task's thresholds, predictor layer, span ramp, adapter size and
 * truncation as the edgebert_* keys; exit_lut.csv the predictor table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/config.h"
#include "model/model_internal.h"
#include "model/safetensors.h"
#include "model/tensors.h"
#include "util/util.h"

typedef struct out_list {
    eb_st_entry *e;
    char (*names)[200];
    int n, cap;
} out_list;

static void add(out_list *o, const char *name, const float *x, int d0, int d1) {
    if (!x || o->n >= o->cap) return;
    eb_st_entry *e = &o->e[o->n];
    snprintf(o->names[o->n], sizeof o->names[0], "%s", name);
    e->name = o->names[o->n];
    e->data = x;
    e->ndim = d1 ? 2 : 1;
    e->shape[0] = d0;
    e->shape[1] = d1;
    o->n++;
}

static void add_linear(out_list *o, const char *prefix, const eb_linear *l) {
    char n[240];
    if (!l->w) return;
    snprintf(n, sizeof n, "%s.weight", prefix);
    add(o, n, l->w, l->out, l->in);
    snprintf(n, sizeof n, "%s.bias", prefix);
    add(o, n, l->b, l->out, 0);
}

static void add_norm(out_list *o, const char *prefix, const eb_norm *nm) {
    char n[240];
    snprintf(n, sizeof n, "%s.weight", prefix);
    add(o, n, nm->g, nm->n, 0);
    snprintf(n, sizeof n, "%s.bias", prefix);
    add(o, n, nm->b, nm->n, 0);
}

typedef struct export_state {
    out_list *o;
    eb_albert_weights *w; /* read only: eb_albert_slot wants a writable view */
} export_state;

/* One tensor of the table, when the task has it. */
static int add_item(void *ud, const eb_tensor_item *it) {
    export_state *es = ud;
    void *slot = eb_albert_slot(es->w, it);
    if (!slot) return 0;
    switch (it->row->kind) {
    case EB_TK_LINEAR: add_linear(es->o, it->name, slot); break;
    case EB_TK_NORM: add_norm(es->o, it->name, slot); break;
    case EB_TK_MATRIX:
    case EB_TK_VECTOR: add(es->o, it->name, *(const float **)slot, it->d0, it->d1); break;
    }
    return 0;
}

static eb_status copy_file(const char *from, const char *to, eb_error *err) {
    char *data;
    size_t n;
    eb_status s = eb_read_file(from, NULL, 64u << 20, &data, &n, err);
    if (s != EB_OK) return s;
    s = eb_write_file_atomic(to, data, n, err);
    free(data);
    return s;
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

eb_status eb_model_export(const eb_model *m, const char *task, const char *out_dir, eb_error *err) {
    if (!m || !out_dir || !*out_dir) return eb_fail(err, EB_ERR_ARG, "export: no model or directory");
    if (m->fork_of) return eb_fail(err, EB_ERR_ARG, "export: a forked model cannot be exported");
    const eb_model_task *t = eb_model_find_task(m, task);
    if (!t) {
        char names[256] = "";
        for (int i = 0; i < m->n_tasks; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     m->tasks[i].name);
        return eb_fail(err, EB_ERR_ARG, "%s: unknown task '%s' (this model has: %s)", m->path,
                       task ? task : "", names);
    }
    if (!m->tok) return eb_fail(err, EB_ERR_ARG, "%s: the model has no tokenizer to export", m->path);
    const eb_config *c = &t->cfg;
    const eb_albert_weights *w = &t->w;
    const int nl = c->num_hidden_groups * c->inner_group_num;
    const int na = w->adapters ? c->num_hidden_layers * c->inner_group_num : 0;
    out_list o = {0};
    o.cap = 16 + nl * 20 + na * 8 + w->num_ramps * 4;
    o.e = calloc((size_t)o.cap, sizeof *o.e);
    o.names = calloc((size_t)o.cap, sizeof *o.names);
    char *js = NULL, *csv = NULL;
    eb_status s = EB_OK;
    if (!o.e || !o.names) {
        s = eb_fail(err, EB_ERR_NOMEM, "export: out of memory");
        goto done;
    }
    eb_tensor_plan plan = {c, 1, na ? w->adapter_size : 0, w->num_ramps, 0};
    export_state es = {&o, (eb_albert_weights *)w};
    eb_tensor_walk(&plan, add_item, &es);
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        s = eb_fail(err, EB_ERR_IO, "%s: cannot create the directory: %s", out_dir, strerror(errno));
        goto done;
    }
    struct stat sb;
    if (stat(out_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        s = eb_fail(err, EB_ERR_IO, "%s: not a directory", out_dir);
        goto done;
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
    s = eb_st_write(path, o.e, o.n, EB_DTYPE_F32, "{\"format\": \"pt\"}", err);
    if (s != EB_OK) goto done;
    /* the predictor table's layer wins over the config's (a bundle keeps it
     * with the table) */
    eb_model_extras x = t->extras;
    if (t->lut) x.predict_after = t->lut_predict_after;
    js = eb_config_to_json(c, &x);
    if (!js) {
        s = eb_fail(err, EB_ERR_NOMEM, "export: out of memory");
        goto done;
    }
    snprintf(path, sizeof path, "%s/config.json", out_dir);
    if ((s = eb_write_file_atomic(path, js, strlen(js), err)) != EB_OK) goto done;
    snprintf(path, sizeof path, "%s/spiece.model", out_dir);
    if (m->spm) {
        s = eb_write_file_atomic(path, m->spm, m->spm_bytes, err);
    } else {
        char from[1100];
        snprintf(from, sizeof from, "%s/spiece.model", m->path);
        if (!is_file(from)) {
            s = eb_fail(err, EB_ERR_IO, "%s: no spiece.model to export", m->path);
            goto done;
        }
        s = copy_file(from, path, err);
    }
    if (s != EB_OK) goto done;
    snprintf(path, sizeof path, "%s/exit_lut.csv", out_dir);
    if (t->lut) {
        size_t cap = (size_t)t->lut_rows * ((size_t)t->lut_cols * 26 + 2) + 1, len = 0;
        csv = malloc(cap);
        if (!csv) {
            s = eb_fail(err, EB_ERR_NOMEM, "export: out of memory");
            goto done;
        }
        for (int r = 0; r < t->lut_rows; r++) {
            for (int k = 0; k < t->lut_cols; k++)
                len += (size_t)snprintf(csv + len, cap - len, "%s%.17g", k ? "," : "",
                                        t->lut[(size_t)r * t->lut_cols + k]);
            len += (size_t)snprintf(csv + len, cap - len, "\n");
        }
        s = eb_write_file_atomic(path, csv, len, err);
    } else if (is_file(path) && remove(path) != 0) {
        /* a stale table of an earlier export would be read with this model */
        s = eb_fail(err, EB_ERR_IO, "%s: cannot remove the old table: %s", path, strerror(errno));
    }
done:
    free(js);
    free(csv);
    free(o.e);
    free(o.names);
    return s;
}
