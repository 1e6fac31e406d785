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
    const int E = c->embedding_size;
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
    add(&o, "albert.embeddings.word_embeddings.weight", w->word_emb, c->vocab_size, E);
    add(&o, "albert.embeddings.position_embeddings.weight", w->pos_emb,
        c->max_position_embeddings, E);
    add(&o, "albert.embeddings.token_type_embeddings.weight", w->type_emb, c->type_vocab_size, E);
    add_norm(&o, "albert.embeddings.LayerNorm", &w->emb_ln);
    add_linear(&o, "albert.encoder.embedding_hidden_mapping_in", &w->map_in);
    for (int g = 0; g < c->num_hidden_groups; g++)
        for (int i = 0; i < c->inner_group_num; i++) {
            const eb_albert_layer *ly = &w->layers[g * c->inner_group_num + i];
            char p[160], q[200];
            snprintf(p, sizeof p, "albert.encoder.albert_layer_groups.%d.albert_layers.%d", g, i);
            snprintf(q, sizeof q, "%s.attention.query", p);
            add_linear(&o, q, &ly->q);
            snprintf(q, sizeof q, "%s.attention.key", p);
            add_linear(&o, q, &ly->k);
            snprintf(q, sizeof q, "%s.attention.value", p);
            add_linear(&o, q, &ly->v);
            snprintf(q, sizeof q, "%s.attention.dense", p);
            add_linear(&o, q, &ly->o);
            snprintf(q, sizeof q, "%s.attention.LayerNorm", p);
            add_norm(&o, q, &ly->attn_ln);
            snprintf(q, sizeof q, "%s.ffn", p);
            add_linear(&o, q, &ly->ffn);
            snprintf(q, sizeof q, "%s.ffn_output", p);
            add_linear(&o, q, &ly->ffn_out);
            snprintf(q, sizeof q, "%s.full_layer_layer_norm", p);
            add_norm(&o, q, &ly->out_ln);
            snprintf(q, sizeof q, "%s.attention.span", p);
            add(&o, q, ly->span_z, c->num_attention_heads, 0);
        }
    const int per_group = c->num_hidden_layers / c->num_hidden_groups;
    for (int l = 0; l < (na ? c->num_hidden_layers : 0); l++)
        for (int i = 0; i < c->inner_group_num; i++) {
            const eb_layer_adapters *A = &w->adapters[l * c->inner_group_num + i];
            char p[200], q[240];
            snprintf(p, sizeof p, "albert.encoder.albert_layer_groups.%d.albert_layers.%d.adapters.%d",
                     l / per_group, i, l);
            snprintf(q, sizeof q, "%s.attn.down", p);
            add_linear(&o, q, &A->attn.down);
            snprintf(q, sizeof q, "%s.attn.up", p);
            add_linear(&o, q, &A->attn.up);
            snprintf(q, sizeof q, "%s.ffn.down", p);
            add_linear(&o, q, &A->ffn.down);
            snprintf(q, sizeof q, "%s.ffn.up", p);
            add_linear(&o, q, &A->ffn.up);
        }
    add_linear(&o, "albert.pooler", &w->pooler);
    add_linear(&o, "classifier", &w->classifier);
    for (int j = 0; j < w->num_ramps; j++) {
        char p[160];
        snprintf(p, sizeof p, "albert.encoder.highway.%d.pooler", j);
        add_linear(&o, p, &w->ramp_pooler[j]);
        snprintf(p, sizeof p, "albert.encoder.highway.%d.classifier", j);
        add_linear(&o, p, &w->ramp_cls[j]);
    }
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
