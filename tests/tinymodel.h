/* tinymodel.h - a tiny random ALBERT checkpoint written by a C test:
 * config.json, model.safetensors (off-ramps after every layer and attention
 * spans when asked), and optionally spiece.model and exit_lut.csv copied in.
 * The tests' fixtures all come from here.  Include after testutil.h. */
#ifndef EB_TINYMODEL_H
#define EB_TINYMODEL_H

#include <unistd.h>

#include "edgebert.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "util/util.h"

/* Each random value is offset + scale * U(-1, 1); these are the scales
 * that differ between the tests' models (the rest are fixed below). */
typedef struct tiny_scales {
    float pos;                     /* position embeddings */
    float map;                     /* embedding_hidden_mapping_in.weight */
    float lin, ffn, ffn_out;       /* attention q/k/v/dense, ffn, ffn_output weights */
    float pooler, cls, cls_bias;   /* the final pooler and classifier */
    float ramp_cls, ramp_cls_bias; /* the off-ramps' classifiers */
} tiny_scales;

typedef struct tiny_spec {
    int vocab, E, H, heads, I, layers, P, labels;
    uint64_t seed, emb_seed;        /* encoder/heads and embedding weights */
                                    /* (seed 0: one stream from emb_seed) */
    const char *spiece;             /* copied to DIR/spiece.model when not NULL */
    const char *lut;                /* copied to DIR/exit_lut.csv when not NULL */
    int ramps;                      /* off-ramps after layers 1..layers-1 */
    int words_only;                 /* emb_seed draws only the word embeddings */
    int spans;                      /* an attention.span tensor, z in 1..5 */
    float span_ramp;                /* config's span_ramp; 0: the default */
    const char *const *label_names; /* NULL: label0, label1, ... */
    tiny_scales sc;
} tiny_spec;

static inline tiny_spec tiny_default(void) {
    tiny_spec s = {.vocab = 30000,
                   .E = 4,
                   .H = 8,
                   .heads = 2,
                   .I = 12,
                   .layers = 3,
                   .P = 32,
                   .labels = 2,
                   .seed = 1,
                   .emb_seed = 1,
                   .ramps = 1,
                   .sc = {0.1f, 0.3f, 0.3f, 0.3f, 0.3f, 0.5f, 1.0f, 0.5f, 1.0f, 0.5f}};
    return s;
}

static inline void tiny_copy(const char *src, const char *dir, const char *file) {
    char path[600];
    char *d;
    size_t n;
    assert_int_equal(eb_read_file(src, NULL, 0, &d, &n, NULL), EB_OK);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    assert_int_equal(eb_write_file_atomic(path, d, n, NULL), EB_OK);
    free(d);
}

typedef struct tiny_writer {
    eb_st_entry e[512];
    char names[512][200];
    float *buf, *p;
    int n;
    uint64_t rng;
} tiny_writer;

static inline void tiny_add(tiny_writer *w, const char *name, int d0, int d1, float scale,
                            float offset) {
    snprintf(w->names[w->n], sizeof w->names[w->n], "%s", name);
    size_t cnt = (size_t)d0 * (d1 ? d1 : 1);
    for (size_t i = 0; i < cnt; i++)
        w->p[i] = offset + scale * (eb_test_uniform(&w->rng) * 2 - 1);
    eb_st_entry *e = &w->e[w->n++];
    e->name = w->names[w->n - 1];
    e->data = w->p;
    e->ndim = d1 ? 2 : 1;
    e->shape[0] = d0;
    e->shape[1] = d1;
    w->p += cnt;
}

/* Write the checkpoint into the existing directory dir. */
static inline void tiny_write(const char *dir, const tiny_spec *s) {
    const int V = s->vocab, E = s->E, H = s->H, I = s->I, C = s->labels;
    const tiny_scales *sc = &s->sc;
    size_t total = (size_t)V * E + (size_t)s->P * E + 2 * E + 2 * E + H * E + H + 4 * (H * H + H) +
                   4 * H + I * H + I + H * I + H + s->heads + H * H + H + C * H + C +
                   (size_t)s->layers * (H * H + H + C * H + C);
    tiny_writer *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->buf = w->p = malloc(sizeof(float) * total);
    assert_non_null(w->buf);
    w->rng = s->emb_seed ? s->emb_seed : 1;
    tiny_add(w, "albert.embeddings.word_embeddings.weight", V, E, 1, 0);
    if (s->words_only && s->seed) w->rng = s->seed;
    tiny_add(w, "albert.embeddings.position_embeddings.weight", s->P, E, sc->pos, 0);
    tiny_add(w, "albert.embeddings.token_type_embeddings.weight", 2, E, 0.1f, 0);
    if (!s->words_only && s->seed) w->rng = s->seed;
    tiny_add(w, "albert.embeddings.LayerNorm.weight", E, 0, 0.1f, 1);
    tiny_add(w, "albert.embeddings.LayerNorm.bias", E, 0, 0.1f, 0);
    tiny_add(w, "albert.encoder.embedding_hidden_mapping_in.weight", H, E, sc->map, 0);
    tiny_add(w, "albert.encoder.embedding_hidden_mapping_in.bias", H, 0, 0.1f, 0);
    const char *pre = "albert.encoder.albert_layer_groups.0.albert_layers.0.";
    char nm[200];
    struct {
        const char *name;
        int d0, d1;
        float scale, offset;
    } lt[] = {{"attention.query", H, H, sc->lin, 0},
              {"attention.key", H, H, sc->lin, 0},
              {"attention.value", H, H, sc->lin, 0},
              {"attention.dense", H, H, sc->lin, 0},
              {"attention.LayerNorm", H, 0, 0.1f, 1},
              {"full_layer_layer_norm", H, 0, 0.1f, 1},
              {"ffn", I, H, sc->ffn, 0},
              {"ffn_output", H, I, sc->ffn_out, 0}};
    for (size_t k = 0; k < sizeof lt / sizeof lt[0]; k++) {
        snprintf(nm, sizeof nm, "%s%s.weight", pre, lt[k].name);
        tiny_add(w, nm, lt[k].d0, lt[k].d1, lt[k].scale, lt[k].offset);
        snprintf(nm, sizeof nm, "%s%s.bias", pre, lt[k].name);
        tiny_add(w, nm, lt[k].d0, 0, 0.1f, 0);
    }
    if (s->spans) {
        snprintf(nm, sizeof nm, "%sattention.span", pre);
        tiny_add(w, nm, s->heads, 0, 2.0f, 3.0f); /* z in 1..5 */
    }
    tiny_add(w, "albert.pooler.weight", H, H, sc->pooler, 0);
    tiny_add(w, "albert.pooler.bias", H, 0, 0.1f, 0);
    tiny_add(w, "classifier.weight", C, H, sc->cls, 0);
    tiny_add(w, "classifier.bias", C, 0, sc->cls_bias, 0);
    for (int j = 0; s->ramps && j < s->layers - 1; j++) {
        snprintf(nm, sizeof nm, "albert.encoder.highway.%d.pooler.weight", j);
        tiny_add(w, nm, H, H, 0.5f, 0);
        snprintf(nm, sizeof nm, "albert.encoder.highway.%d.pooler.bias", j);
        tiny_add(w, nm, H, 0, 0.1f, 0);
        snprintf(nm, sizeof nm, "albert.encoder.highway.%d.classifier.weight", j);
        tiny_add(w, nm, C, H, sc->ramp_cls, 0);
        snprintf(nm, sizeof nm, "albert.encoder.highway.%d.classifier.bias", j);
        tiny_add(w, nm, C, 0, sc->ramp_cls_bias, 0);
    }
    assert_true((size_t)(w->p - w->buf) <= total);
    char path[600];
    eb_error err = {0};
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(eb_st_write(path, w->e, w->n, EB_DTYPE_F32, NULL, &err), EB_OK);
    eb_config cfg;
    eb_model_extras x;
    eb_config_default(&cfg, &x);
    cfg.vocab_size = V, cfg.embedding_size = E, cfg.hidden_size = H,
    cfg.num_hidden_layers = s->layers;
    cfg.num_attention_heads = s->heads, cfg.intermediate_size = I,
    cfg.max_position_embeddings = s->P;
    cfg.num_labels = C;
    for (int i = 0; i < C && i < EB_MAX_LABELS; i++) {
        if (s->label_names)
            snprintf(cfg.id2label[i], EB_LABEL_NAME_MAX, "%s", s->label_names[i]);
        else
            snprintf(cfg.id2label[i], EB_LABEL_NAME_MAX, "label%d", i);
    }
    if (s->span_ramp) x.span_ramp = s->span_ramp;
    char *js = eb_config_to_json(&cfg, &x);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(eb_write_file_atomic(path, js, strlen(js), &err), EB_OK);
    free(js);
    if (s->spiece) tiny_copy(s->spiece, dir, "spiece.model");
    if (s->lut) tiny_copy(s->lut, dir, "exit_lut.csv");
    free(w->buf);
    free(w);
}

/* mkdtemp + tiny_write; dir must hold 64 bytes. */
static inline void tiny_make(char *dir, const tiny_spec *s) {
    snprintf(dir, 64, "/tmp/eb_tiny_XXXXXX");
    assert_non_null(mkdtemp(dir));
    tiny_write(dir, s);
}

static inline void tiny_remove(const char *dir) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

#endif
