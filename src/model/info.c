/* info.c - describe a checkpoint or bundle as JSON: every tensor with its
 * storage format, density and bytes; shared and per-task footprints. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "edgebert/quant.h"
#include "edgebert/taskswitch.h"
#include "model/bundle.h"
#include "model/model_internal.h"
#include "model/tensors.h"
#include "util/util.h"

static size_t count_nonzero_f32(const float *x, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += x[i] != 0.0f;
    return k;
}

static cJSON *tensor_entry(const char *name, const char *fmt, const int64_t *shape, int nd,
                           size_t numel, size_t nnz, size_t bytes) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "name", name);
    cJSON_AddStringToObject(t, "format", fmt);
    cJSON *sh = cJSON_AddArrayToObject(t, "shape");
    for (int d = 0; d < nd; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)shape[d]));
    cJSON_AddNumberToObject(t, "values", (double)numel);
    cJSON_AddNumberToObject(t, "nonzero", (double)nnz);
    cJSON_AddNumberToObject(t, "density", numel ? (double)nnz / (double)numel : 0);
    cJSON_AddNumberToObject(t, "bytes", (double)bytes);
    return t;
}

static void add_task_summary(cJSON *jt, const eb_model_task *t) {
    const eb_config *c = &t->cfg;
    cJSON_AddNumberToObject(jt, "num_layers", c->num_hidden_layers);
    cJSON_AddNumberToObject(jt, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(jt, "num_heads", c->num_attention_heads);
    cJSON_AddNumberToObject(jt, "num_labels", c->num_labels);
    cJSON *labels = cJSON_AddArrayToObject(jt, "labels");
    for (int i = 0; i < c->num_labels; i++) cJSON_AddItemToArray(labels, cJSON_CreateString(c->id2label[i]));
    cJSON_AddNumberToObject(jt, "offramps", t->w.num_ramps);
    cJSON_AddNumberToObject(jt, "adapter_size", t->w.adapters ? t->w.adapter_size : 0);
    cJSON_AddNumberToObject(jt, "truncate_head", t->extras.truncate_head);
    const eb_policy_info *pol = eb_policy_table(NULL);
    for (int p = 0; p < EB_NUM_POLICIES; p++)
        if (pol[p].info_key && t->extras.threshold[p] >= 0)
            cJSON_AddNumberToObject(jt, pol[p].info_key, t->extras.threshold[p]);
    cJSON_AddBoolToObject(jt, "has_exit_predictor", t->lut_view.data != NULL);
    if (t->lut_view.data) cJSON_AddNumberToObject(jt, "predict_after", t->lut_view.predict_after);
    cJSON_AddNumberToObject(jt, "encoder_weight_density", t->weight_density);
    /* learned spans per head (per layer of the group), and heads switched off */
    int nl = c->num_hidden_groups * c->inner_group_num, off = 0, any = 0;
    cJSON *spans = cJSON_CreateArray();
    for (int i = 0; i < nl; i++) {
        const float *z = t->layers[i].span_z;
        if (!z) continue;
        any = 1;
        cJSON *row = cJSON_CreateArray();
        for (int h = 0; h < c->num_attention_heads; h++) {
            float span = z[h] + t->extras.span_ramp; /* tokens with a non-zero mask */
            cJSON_AddItemToArray(row, cJSON_CreateNumber(span > 0 ? span : 0));
            off += span <= 0;
        }
        cJSON_AddItemToArray(spans, row);
    }
    if (any) {
        cJSON_AddItemToObject(jt, "span_tokens", spans);
        cJSON_AddNumberToObject(jt, "heads_off", off);
        cJSON_AddNumberToObject(jt, "span_ramp", t->extras.span_ramp);
    } else {
        cJSON_Delete(spans);
    }
}

static eb_status info_checkpoint(const char *dir, cJSON *root, eb_error *err) {
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    eb_safetensors st;
    eb_status s = eb_st_open(path, NULL, 1, &st, err);
    if (s != EB_OK) return s;
    cJSON_AddStringToObject(root, "kind", "checkpoint");
    cJSON_AddNumberToObject(root, "file_bytes", (double)st.map.size);
    cJSON *shared = cJSON_AddArrayToObject(root, "shared");
    cJSON *tensors = cJSON_CreateArray();
    size_t shared_bytes = 0, task_bytes = 0;
    for (int i = 0; i < st.n; i++) {
        const eb_st_tensor *t = &st.tensors[i];
        float *x = malloc(t->numel * sizeof(float) + 1);
        if (!x) {
            eb_st_close(&st);
            cJSON_Delete(tensors);
            return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", path);
        }
        eb_st_to_f32(t, x);
        size_t nnz = count_nonzero_f32(x, t->numel);
        free(x);
        const char *fmt = t->dtype == EB_DTYPE_F32 ? "f32" : t->dtype == EB_DTYPE_F16 ? "f16" : "bf16";
        cJSON *e = tensor_entry(t->name, fmt, t->shape, t->ndim, t->numel, nnz, t->nbytes);
        if (eb_tensor_role_of(t->name) == EB_ROLE_EMBEDDING) {
            cJSON_AddItemToArray(shared, e);
            shared_bytes += t->nbytes;
        } else {
            cJSON_AddItemToArray(tensors, e);
            task_bytes += t->nbytes;
        }
    }
    eb_st_close(&st);
    cJSON_AddNumberToObject(root, "shared_bytes", (double)shared_bytes);
    cJSON *tasks = cJSON_AddArrayToObject(root, "tasks");
    cJSON *jt = cJSON_CreateObject();
    cJSON_AddItemToArray(tasks, jt);
    cJSON_AddStringToObject(jt, "name", "default");
    cJSON_AddNumberToObject(jt, "task_bytes", (double)task_bytes);
    cJSON_AddItemToObject(jt, "tensors", tensors);
    return EB_OK;
}

/* Append the listing entry of one stored bundle tensor (its JSON
 * descriptor `it`) to `list`; returns its stored bytes. */
static double add_stored(cJSON *list, cJSON *it) {
    cJSON *b = cJSON_GetObjectItem(it, "bytes"), *f = cJSON_GetObjectItem(it, "fmt");
    cJSON *sh = cJSON_GetObjectItem(it, "shape"), *nz = cJSON_GetObjectItem(it, "nnz");
    int64_t shape[2] = {0, 0};
    int nd = cJSON_GetArraySize(sh);
    size_t numel = 1;
    for (int k = 0; k < nd && k < 2; k++)
        numel *= (size_t)(shape[k] = (int64_t)cJSON_GetArrayItem(sh, k)->valuedouble);
    size_t nnz = cJSON_IsNumber(nz) ? (size_t)nz->valuedouble : numel;
    double bytes = cJSON_IsNumber(b) ? b->valuedouble : 0;
    cJSON_AddItemToArray(list, tensor_entry(it->string, cJSON_IsString(f) ? f->valuestring : "?", shape,
                                            nd < 2 ? nd : 2, numel, nnz, (size_t)bytes));
    return bytes;
}

static eb_status info_bundle(const char *path, cJSON *root, eb_error *err) {
    char *d;
    size_t n;
    eb_status s = eb_read_file(path, NULL, (size_t)1 << 33, &d, &n, err);
    if (s != EB_OK) return s;
    /* the loader has checked it: version 1 (40-byte fixed header) or 2 (64) */
    uint32_t version = n >= 12 ? (uint32_t)(uint8_t)d[8] | (uint32_t)(uint8_t)d[9] << 8 |
                                     (uint32_t)(uint8_t)d[10] << 16 | (uint32_t)(uint8_t)d[11] << 24
                               : 0;
    size_t fixed = version == 1 ? 40 : 64;
    uint64_t h = 0;
    for (int i = 7; i >= 0 && n >= fixed; i--) h = (h << 8) | (uint8_t)d[16 + i];
    cJSON *hdr = n >= fixed && h <= n - fixed ? cJSON_ParseWithLength(d + fixed, (size_t)h) : NULL;
    free(d);
    if (!hdr) return eb_fail(err, EB_ERR_FORMAT, "%s: bad bundle header", path);
    cJSON_AddStringToObject(root, "kind", "bundle");
    cJSON_AddNumberToObject(root, "file_bytes", (double)n);
    cJSON *fmt = cJSON_GetObjectItem(hdr, "format");
    cJSON_AddStringToObject(root, "format", cJSON_IsString(fmt) ? fmt->valuestring : "?");
    cJSON_AddNumberToObject(root, "format_version", version);
    /* the load verified them: every byte is covered */
    cJSON_AddStringToObject(root, "checksums", version >= 2 ? "xxh3-64" : "none");
    cJSON_AddBoolToObject(root, "checksums_verified", version >= 2);
    cJSON *tok = cJSON_GetObjectItem(hdr, "tokenizer");
    cJSON *tb = tok ? cJSON_GetObjectItem(tok, "bytes") : NULL;
    cJSON_AddNumberToObject(root, "tokenizer_bytes", cJSON_IsNumber(tb) ? tb->valuedouble : 0);
    /* one JSON entry per stored tensor */
    cJSON *lists[2] = {cJSON_GetObjectItem(hdr, "shared"), NULL};
    cJSON *shared = cJSON_AddArrayToObject(root, "shared");
    double shared_bytes = 0;
    for (cJSON *it = lists[0] ? lists[0]->child : NULL; it; it = it->next)
        shared_bytes += add_stored(shared, it);
    cJSON_AddNumberToObject(root, "shared_bytes", shared_bytes);
    cJSON *tasks = cJSON_AddArrayToObject(root, "tasks");
    cJSON *jtasks = cJSON_GetObjectItem(hdr, "tasks");
    for (cJSON *jt = jtasks ? jtasks->child : NULL; jt; jt = jt->next) {
        cJSON *o = cJSON_CreateObject(), *ts = cJSON_CreateArray();
        cJSON *nm = cJSON_GetObjectItem(jt, "name");
        cJSON_AddStringToObject(o, "name", cJSON_IsString(nm) ? nm->valuestring : "?");
        double bytes = 0;
        cJSON *ten = cJSON_GetObjectItem(jt, "tensors");
        for (cJSON *it = ten ? ten->child : NULL; it; it = it->next)
            bytes += add_stored(ts, it);
        cJSON *lut = cJSON_GetObjectItem(jt, "lut");
        cJSON *lb = lut ? cJSON_GetObjectItem(lut, "bytes") : NULL;
        if (cJSON_IsNumber(lb)) bytes += lb->valuedouble;
        cJSON_AddNumberToObject(o, "task_bytes", bytes);
        cJSON_AddItemToObject(o, "tensors", ts);
        cJSON_AddItemToArray(tasks, o);
    }
    cJSON_Delete(hdr);
    return EB_OK;
}

static double num_item(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Multi-task footprints (adapter-ALBERT vs EdgeBERT vs separate models):
 *  per task adapter_bytes (its adapter tensors);
 *  multi_task_bytes = shared_bytes + sum of task_bytes (what is stored);
 *  separate_bytes = sum over tasks of a standalone fine-tuned model of the
 *    same format: the shared part + the task's own part - its adapters;
 *  edgebert_bytes = the EdgeBERT arrangement: the embedding tables once, every
 *    task with its own encoder (the rest of the shared part), head, ramps.
 * The tokenizer is left out of all three. */
static void add_cost(cJSON *o, const char *key, const eb_mem_cost *c) {
    cJSON *j = cJSON_AddObjectToObject(o, key);
    cJSON_AddNumberToObject(j, "bytes", c->bytes);
    cJSON_AddNumberToObject(j, "time_us", c->time_us);
    cJSON_AddNumberToObject(j, "energy_uj", c->energy_uj);
}

static void add_footprints(cJSON *root, const eb_model *m) {
    const double shared = num_item(root, "shared_bytes");
    double emb = 0, stored = shared, separate = 0, edgebert = 0;
    const cJSON *sh = cJSON_GetObjectItem(root, "shared");
    for (const cJSON *it = sh ? sh->child : NULL; it; it = it->next) {
        const cJSON *nm = cJSON_GetObjectItem(it, "name");
        if (cJSON_IsString(nm) && eb_tensor_role_of(nm->valuestring) == EB_ROLE_EMBEDDING)
            emb += num_item(it, "bytes");
    }
    cJSON *tasks = cJSON_GetObjectItem(root, "tasks");
    for (cJSON *jt = tasks ? tasks->child : NULL; jt; jt = jt->next) {
        double ad = 0, tb = num_item(jt, "task_bytes");
        const cJSON *ts = cJSON_GetObjectItem(jt, "tensors");
        for (const cJSON *it = ts ? ts->child : NULL; it; it = it->next) {
            const cJSON *nm = cJSON_GetObjectItem(it, "name");
            if (cJSON_IsString(nm) && eb_tensor_role_of(nm->valuestring) == EB_ROLE_ADAPTER)
                ad += num_item(it, "bytes");
        }
        cJSON_AddNumberToObject(jt, "adapter_bytes", ad);
        /* task switch: what must come into SRAM from DRAM */
        const eb_hw_model *hw = &m->tasks[0].hw;
        eb_mem_cost ca, ce;
        eb_hw_reload_cost(hw, tb, &ca);
        eb_hw_reload_cost(hw, shared - emb + tb - ad, &ce);
        cJSON *sw = cJSON_AddObjectToObject(jt, "task_switch");
        add_cost(sw, "adapter", &ca);
        add_cost(sw, "edgebert", &ce);
        stored += tb;
        separate += shared + tb - ad;
        edgebert += shared - emb + tb - ad;
    }
    cJSON_AddNumberToObject(root, "embedding_bytes", emb);
    cJSON_AddNumberToObject(root, "multi_task_bytes", stored);
    cJSON_AddNumberToObject(root, "separate_bytes", separate);
    cJSON_AddNumberToObject(root, "edgebert_bytes", edgebert + emb);
    /* the memories of the two arrangements and the weight reads of one
     * sentence through every layer (the first task's shapes and parameters) */
    const eb_hw_model *hw = &m->tasks[0].hw;
    const eb_emb_storage cell =
        hw->p.emb_storage == EB_EMB_DRAM ? EB_EMB_RERAM_MLC2 : hw->p.emb_storage;
    double max_task = 0, max_eb = 0, sum_task = 0, ad0 = 0;
    int k = 0;
    for (cJSON *jt = tasks ? tasks->child : NULL; jt; jt = jt->next, k++) {
        double tb = num_item(jt, "task_bytes"), ad = num_item(jt, "adapter_bytes");
        sum_task += tb;
        max_task = tb > max_task ? tb : max_task;
        max_eb = shared - emb + tb - ad > max_eb ? shared - emb + tb - ad : max_eb;
        if (k == 0) ad0 = ad;
    }
    cJSON *mem = cJSON_AddObjectToObject(root, "accelerator_memory");
    cJSON_AddStringToObject(mem, "reram_cells", eb_emb_storage_name(cell));
    cJSON *ja = cJSON_AddObjectToObject(mem, "adapter");
    cJSON_AddNumberToObject(ja, "reram_bytes", shared);
    cJSON_AddNumberToObject(ja, "reram_mm2", eb_hw_reram_bytes_area_mm2(hw, cell, shared));
    cJSON_AddNumberToObject(ja, "sram_bytes_one_task", max_task);
    cJSON_AddNumberToObject(ja, "sram_bytes_all_tasks", sum_task);
    cJSON *je = cJSON_AddObjectToObject(mem, "edgebert");
    cJSON_AddNumberToObject(je, "reram_bytes", emb);
    cJSON_AddNumberToObject(je, "reram_mm2", eb_hw_reram_bytes_area_mm2(hw, cell, emb));
    cJSON_AddNumberToObject(je, "sram_bytes_one_task", max_eb);
    cJSON_AddNumberToObject(je, "sram_bytes_all_tasks", separate - k * emb);
    const double L = m->tasks[0].cfg.num_hidden_layers, enc = shared - emb;
    eb_mem_cost rr, rs, re;
    eb_hw_weight_read_cost(hw, cell, L * enc, &rr);
    eb_hw_weight_read_cost(hw, EB_EMB_DRAM, L * ad0, &rs);
    eb_hw_weight_read_cost(hw, EB_EMB_DRAM, L * enc, &re);
    cJSON *wr = cJSON_AddObjectToObject(root, "weight_reads_per_sentence");
    cJSON_AddNumberToObject(wr, "layers", L);
    cJSON *wa = cJSON_AddObjectToObject(wr, "adapter");
    cJSON_AddNumberToObject(wa, "reram_bytes", rr.bytes);
    cJSON_AddNumberToObject(wa, "sram_bytes", rs.bytes);
    cJSON_AddNumberToObject(wa, "reram_time_us", rr.time_us);
    cJSON_AddNumberToObject(wa, "energy_uj", rr.energy_uj + rs.energy_uj);
    cJSON *we = cJSON_AddObjectToObject(wr, "edgebert");
    cJSON_AddNumberToObject(we, "sram_bytes", re.bytes);
    cJSON_AddNumberToObject(we, "energy_uj", re.energy_uj);
}

eb_status eb_model_info_json(const char *path, char **out, eb_error *err) {
    *out = NULL;
    /* load first: this validates everything and gives the task summaries */
    eb_model *m;
    eb_status s = eb_model_load(path, NULL, &m, err);
    if (s != EB_OK) return s;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "path", path);
    struct stat st;
    s = (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) ? info_checkpoint(path, root, err) : info_bundle(path, root, err);
    if (s == EB_OK) {
        /* the word embedding footprint (the paper: 1.73 MB at 40 % density for ALBERT-base) */
        cJSON *sh = cJSON_GetObjectItem(root, "shared");
        for (cJSON *it = sh ? sh->child : NULL; it; it = it->next) {
            cJSON *nm = cJSON_GetObjectItem(it, "name");
            eb_tensor_match tm;
            if (cJSON_IsString(nm) && eb_tensor_lookup(nm->valuestring, &tm) &&
                tm.row->id == EB_T_WORD) {
                cJSON *e = cJSON_AddObjectToObject(root, "word_embeddings");
                cJSON_AddNumberToObject(e, "bytes", cJSON_GetObjectItem(it, "bytes")->valuedouble);
                cJSON_AddNumberToObject(e, "density", cJSON_GetObjectItem(it, "density")->valuedouble);
                cJSON_AddStringToObject(e, "format", cJSON_GetObjectItem(it, "format")->valuestring);
            }
        }
        cJSON *tasks = cJSON_GetObjectItem(root, "tasks");
        int i = 0;
        for (cJSON *jt = tasks ? tasks->child : NULL; jt && i < m->n_tasks; jt = jt->next, i++)
            add_task_summary(jt, &m->tasks[i]);
        add_footprints(root, m);
        *out = cJSON_Print(root);
        if (!*out) s = eb_fail(err, EB_ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(root);
    eb_model_free(m);
    return s;
}
