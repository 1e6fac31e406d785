/* config.c - parse and check config.json (AlbertConfig). */
#include "model/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgebert/runtime.h"
#include "util/util.h"

void eb_config_default(eb_config *c, eb_model_extras *x) {
    memset(c, 0, sizeof *c);
    c->vocab_size = 30000;
    c->embedding_size = 128;
    c->hidden_size = 4096;
    c->num_hidden_layers = 12;
    c->num_hidden_groups = 1;
    c->inner_group_num = 1;
    c->num_attention_heads = 64;
    c->intermediate_size = 16384;
    c->max_position_embeddings = 512;
    c->type_vocab_size = 2;
    c->num_labels = 2;
    c->hidden_act = EB_ACT_GELU_NEW;
    c->layer_norm_eps = 1e-12f;
    if (x) {
        x->span_ramp = 32.0f;
        for (int p = 0; p < EB_NUM_POLICIES; p++)
            x->threshold[p] = -1.0f;
        x->predict_after = 1;
        x->adapter_size = 0;
        x->truncate_head = 0;
        x->initializer_range = 0.02f;
        x->mimetic_init = 0;
    }
}

const char *eb_activation_name(eb_activation a) {
    return a == EB_ACT_GELU ? "gelu" : a == EB_ACT_RELU ? "relu" : "gelu_new";
}

static eb_status get_int(cJSON *root, const char *key, int *out, long lo, long hi, const char *name,
                         eb_error *err) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return EB_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return eb_fail(err, EB_ERR_FORMAT, "%s: \"%s\" must be an integer in %ld..%ld", name, key, lo, hi);
    *out = (int)v->valuedouble;
    return EB_OK;
}

eb_status eb_config_parse(const char *json, size_t len, const char *name, eb_config *c,
                          eb_model_extras *x, eb_error *err) {
    eb_model_extras xx;
    if (!x) x = &xx;
    eb_config_default(c, x);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return eb_fail(err, EB_ERR_FORMAT, "%s: not a JSON object", name);
    }
    eb_status s = EB_OK;
    struct { const char *k; int *p; long lo, hi; } ints[] = {
        {"vocab_size", &c->vocab_size, 1, 10000000},
        {"embedding_size", &c->embedding_size, 1, 65536},
        {"hidden_size", &c->hidden_size, 1, 65536},
        {"num_hidden_layers", &c->num_hidden_layers, 1, EB_MAX_LAYERS},
        {"num_hidden_groups", &c->num_hidden_groups, 1, EB_MAX_LAYERS},
        {"inner_group_num", &c->inner_group_num, 1, 64},
        {"num_attention_heads", &c->num_attention_heads, 1, 1024},
        {"intermediate_size", &c->intermediate_size, 1, 262144},
        {"max_position_embeddings", &c->max_position_embeddings, 1, 1 << 20},
        {"type_vocab_size", &c->type_vocab_size, 1, 1024},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0] && s == EB_OK; i++)
        s = get_int(root, ints[i].k, ints[i].p, ints[i].lo, ints[i].hi, name, err);
    if (s != EB_OK) goto done;
    cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act) {
        if (!cJSON_IsString(act)) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s: \"hidden_act\" must be a string", name);
            goto done;
        }
        const char *a = act->valuestring;
        if (!strcmp(a, "gelu_new") || !strcmp(a, "gelu_pytorch_tanh")) c->hidden_act = EB_ACT_GELU_NEW;
        else if (!strcmp(a, "gelu")) c->hidden_act = EB_ACT_GELU;
        else if (!strcmp(a, "relu")) c->hidden_act = EB_ACT_RELU;
        else {
            s = eb_fail(err, EB_ERR_UNSUPPORTED, "%s: hidden_act \"%.40s\" is not supported (gelu_new, gelu, relu)", name, a);
            goto done;
        }
    }
    cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps");
    if (eps) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0) || eps->valuedouble > 1) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s: \"layer_norm_eps\" must be a number in (0, 1]", name);
            goto done;
        }
        c->layer_norm_eps = (float)eps->valuedouble;
    }
    /* labels: num_labels, else the size of id2label */
    cJSON *id2 = cJSON_GetObjectItemCaseSensitive(root, "id2label");
    int have_nl = cJSON_GetObjectItemCaseSensitive(root, "num_labels") != NULL;
    s = get_int(root, "num_labels", &c->num_labels, 1, EB_MAX_LABELS, name, err);
    if (s != EB_OK) goto done;
    if (id2 && cJSON_IsObject(id2)) {
        int n = cJSON_GetArraySize(id2);
        if (n < 1 || n > EB_MAX_LABELS) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s: id2label has %d entries (1..%d supported)", name, n, EB_MAX_LABELS);
            goto done;
        }
        if (!have_nl) c->num_labels = n;
        for (cJSON *it = id2->child; it; it = it->next) {
            char *end;
            long k = strtol(it->string, &end, 10);
            if (*end || k < 0 || k >= c->num_labels || !cJSON_IsString(it)) {
                s = eb_fail(err, EB_ERR_FORMAT, "%s: id2label key \"%.20s\" is not a label index below %d", name,
                            it->string, c->num_labels);
                goto done;
            }
            snprintf(c->id2label[k], EB_LABEL_NAME_MAX, "%s", it->valuestring);
        }
    }
    for (int i = 0; i < c->num_labels; i++)
        if (!c->id2label[i][0]) snprintf(c->id2label[i], EB_LABEL_NAME_MAX, "LABEL_%d", i);
    cJSON *ramp = cJSON_GetObjectItemCaseSensitive(root, "edgebert_span_ramp");
    if (ramp && cJSON_IsNumber(ramp)) {
        if (!(ramp->valuedouble > 0) || ramp->valuedouble > 1e6) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s: edgebert_span_ramp must be positive", name);
            goto done;
        }
        x->span_ramp = (float)ramp->valuedouble;
    }
    cJSON *ir = cJSON_GetObjectItemCaseSensitive(root, "initializer_range");
    if (ir) {
        if (!cJSON_IsNumber(ir) || !(ir->valuedouble > 0) || ir->valuedouble > 1) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s: \"initializer_range\" must be a number in (0, 1]", name);
            goto done;
        }
        x->initializer_range = (float)ir->valuedouble;
    }
    cJSON *mi = cJSON_GetObjectItemCaseSensitive(root, "edgebert_mimetic_init");
    if (mi) {
        if (!cJSON_IsNumber(mi) || !(mi->valuedouble >= 0) || mi->valuedouble > 100) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s: \"edgebert_mimetic_init\" must be a number in [0, 100]", name);
            goto done;
        }
        x->mimetic_init = (float)mi->valuedouble;
    }
    const eb_policy_info *pol = eb_policy_table(NULL);
    for (int p = 0; p < EB_NUM_POLICIES; p++) {
        if (!pol[p].config_key) continue;
        cJSON *thr = cJSON_GetObjectItemCaseSensitive(root, pol[p].config_key);
        if (thr && cJSON_IsNumber(thr)) x->threshold[p] = (float)thr->valuedouble;
    }
    s = get_int(root, "edgebert_predict_after", &x->predict_after, 1, EB_MAX_LAYERS - 1, name, err);
    if (s != EB_OK) goto done;
    s = get_int(root, "edgebert_adapter_size", &x->adapter_size, 0, 1 << 20, name, err);
    if (s != EB_OK) goto done;
    s = get_int(root, "edgebert_truncate_head", &x->truncate_head, 0, EB_MAX_TOKENS, name, err);
    if (s != EB_OK) goto done;
    /* consistency */
    if (c->hidden_size % c->num_attention_heads) {
        s = eb_fail(err, EB_ERR_FORMAT, "%s: hidden_size %d is not a multiple of num_attention_heads %d", name,
                    c->hidden_size, c->num_attention_heads);
    } else if (c->num_hidden_layers % c->num_hidden_groups) {
        s = eb_fail(err, EB_ERR_FORMAT, "%s: num_hidden_layers %d is not a multiple of num_hidden_groups %d", name,
                    c->num_hidden_layers, c->num_hidden_groups);
    } else if (x->adapter_size > c->hidden_size) {
        s = eb_fail(err, EB_ERR_FORMAT,
                    "%s: edgebert_adapter_size %d is larger than hidden_size %d (an adapter is a "
                    "bottleneck)",
                    name, x->adapter_size, c->hidden_size);
    }
done:
    cJSON_Delete(root);
    return s;
}

eb_status eb_config_load(const char *path, eb_config *cfg, eb_model_extras *extras, eb_error *err) {
    char *txt;
    size_t n;
    eb_status s = eb_read_file(path, NULL, 16u << 20, &txt, &n, err);
    if (s != EB_OK) return s;
    s = eb_config_parse(txt, n, path, cfg, extras, err);
    free(txt);
    return s;
}

char *eb_config_to_json(const eb_config *c, const eb_model_extras *x) {
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    cJSON *arch = cJSON_AddArrayToObject(r, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("AlbertForSequenceClassification"));
    cJSON_AddStringToObject(r, "model_type", "albert");
    cJSON_AddNumberToObject(r, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(r, "embedding_size", c->embedding_size);
    cJSON_AddNumberToObject(r, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(r, "num_hidden_layers", c->num_hidden_layers);
    cJSON_AddNumberToObject(r, "num_hidden_groups", c->num_hidden_groups);
    cJSON_AddNumberToObject(r, "inner_group_num", c->inner_group_num);
    cJSON_AddNumberToObject(r, "num_attention_heads", c->num_attention_heads);
    cJSON_AddNumberToObject(r, "intermediate_size", c->intermediate_size);
    cJSON_AddStringToObject(r, "hidden_act", eb_activation_name(c->hidden_act));
    cJSON_AddNumberToObject(r, "max_position_embeddings", c->max_position_embeddings);
    cJSON_AddNumberToObject(r, "type_vocab_size", c->type_vocab_size);
    cJSON_AddNumberToObject(r, "layer_norm_eps", c->layer_norm_eps);
    cJSON_AddNumberToObject(r, "hidden_dropout_prob", 0);
    cJSON_AddNumberToObject(r, "attention_probs_dropout_prob", 0);
    cJSON_AddNumberToObject(r, "classifier_dropout_prob", 0.1);
    cJSON_AddNumberToObject(r, "num_labels", c->num_labels);
    cJSON *id2 = cJSON_AddObjectToObject(r, "id2label");
    cJSON *l2i = cJSON_AddObjectToObject(r, "label2id");
    for (int i = 0; i < c->num_labels; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        cJSON_AddStringToObject(id2, k, c->id2label[i]);
        cJSON_AddNumberToObject(l2i, c->id2label[i], i);
    }
    cJSON_AddNumberToObject(r, "pad_token_id", 0);
    cJSON_AddNumberToObject(r, "bos_token_id", 2);
    cJSON_AddNumberToObject(r, "eos_token_id", 3);
    if (x) {
        cJSON_AddNumberToObject(r, "initializer_range", x->initializer_range);
        if (x->mimetic_init > 0) cJSON_AddNumberToObject(r, "edgebert_mimetic_init", x->mimetic_init);
        cJSON_AddNumberToObject(r, "edgebert_span_ramp", x->span_ramp);
        const eb_policy_info *pol = eb_policy_table(NULL);
        for (int p = 0; p < EB_NUM_POLICIES; p++)
            if (pol[p].config_key && x->threshold[p] >= 0)
                cJSON_AddNumberToObject(r, pol[p].config_key, x->threshold[p]);
        cJSON_AddNumberToObject(r, "edgebert_predict_after", x->predict_after);
        if (x->adapter_size > 0)
            cJSON_AddNumberToObject(r, "edgebert_adapter_size", x->adapter_size);
        if (x->truncate_head > 0)
            cJSON_AddNumberToObject(r, "edgebert_truncate_head", x->truncate_head);
    }
    char *s = cJSON_Print(r);
    cJSON_Delete(r);
    return s;
}
