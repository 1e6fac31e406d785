/* test_tables.c - the descriptor tables are complete: every policy and
 * precision has a row that parses and round-trips; every tensor of a
 * checkpoint (the tests' own writer, the trainer's) has exactly one row and
 * role; the trainer saves and the loader + export write back the same
 * names. */
#include "testutil.h"
#include "tinymodel.h"

#include "edgebert/runtime.h"
#include "model/tensors.h"
#include "train/tmodel.h"

/* ---- policies -------------------------------------------------------- */

static void test_policy_table(void **state) {
    (void)state;
    /* every value of the enum (edgebert.h) */
    const eb_policy all[] = {EB_POLICY_BASE, EB_POLICY_EE, EB_POLICY_LAI};
    const int n_enum = (int)(sizeof all / sizeof all[0]);
    int n = 0;
    const eb_policy_info *rows = eb_policy_table(&n);
    assert_int_equal(n, EB_NUM_POLICIES);
    assert_int_equal(n_enum, EB_NUM_POLICIES);
    for (int k = 0; k < n_enum; k++) {
        const eb_policy_info *r = eb_policy_info_of(all[k]);
        assert_non_null(r);
        assert_ptr_equal(r, &rows[all[k]]);
        assert_int_equal(r->id, all[k]);
        assert_true(r->name && *r->name && r->summary && *r->summary);
        assert_int_equal(eb_policy_parse(r->name), all[k]);
        assert_string_equal(eb_policy_name(all[k]), r->name);
        for (int j = 0; j < k; j++) assert_string_not_equal(rows[all[j]].name, r->name);
        /* a policy that exits on entropy has a calibrated threshold in config.json and
         * info; its fallback is a policy with one, or itself */
        const int thr = (r->needs & EB_POLICY_NEEDS_THRESHOLD) != 0;
        assert_int_equal(r->config_key != NULL, thr);
        assert_int_equal(r->info_key != NULL, thr);
        const eb_policy_info *f = eb_policy_info_of(r->threshold_from);
        assert_non_null(f);
        assert_true(f == r || f->config_key);
        if (r->needs & (EB_POLICY_NEEDS_LUT | EB_POLICY_NEEDS_LATENCY)) assert_true(thr);
        /* a policy that stops early or changes V/F plugs in the function that decides it */
        if (r->needs & (EB_POLICY_NEEDS_THRESHOLD | EB_POLICY_NEEDS_DVFS))
            assert_non_null(r->after_layer);
    }
    assert_null(eb_policy_info_of(EB_POLICY_BASE)->after_layer); /* every layer */
    /* the names existing checkpoints, scripts and requests use */
    assert_int_equal(eb_policy_parse("base"), EB_POLICY_BASE);
    assert_int_equal(eb_policy_parse("ee"), EB_POLICY_EE);
    assert_int_equal(eb_policy_parse("lai"), EB_POLICY_LAI);
    assert_string_equal(eb_policy_info_of(EB_POLICY_EE)->config_key, "edgebert_threshold");
    assert_string_equal(eb_policy_info_of(EB_POLICY_LAI)->config_key, "edgebert_lai_threshold");
    assert_int_equal(eb_policy_parse("EE"), -1);
    assert_int_equal(eb_policy_parse(""), -1);
    assert_int_equal(eb_policy_parse(NULL), -1);
    assert_null(eb_policy_info_of((eb_policy)EB_NUM_POLICIES));
    assert_string_equal(eb_policy_name((eb_policy)EB_NUM_POLICIES), "?");
    char buf[128], want[128] = "";
    for (int k = 0; k < n; k++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s",
                 k == 0 ? "" : k == n - 1 ? " or " : ", ", rows[k].name);
    assert_string_equal(eb_policy_names(buf, sizeof buf, ", ", " or "), want);
}

/* Each policy's threshold goes through config.json under its key and back. */
static void test_policy_thresholds_config(void **state) {
    (void)state;
    eb_config c;
    eb_model_extras x, y;
    eb_config_default(&c, &x);
    for (int p = 0; p < EB_NUM_POLICIES; p++)
        x.threshold[p] = eb_policy_table(NULL)[p].config_key ? 0.125f * (float)(p + 1) : -1.0f;
    char *js = eb_config_to_json(&c, &x);
    assert_non_null(js);
    for (int p = 0; p < EB_NUM_POLICIES; p++) {
        const char *key = eb_policy_table(NULL)[p].config_key;
        if (key) assert_non_null(strstr(js, key));
    }
    char dir[] = "/tmp/eb_tables_XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(eb_write_file_atomic(path, js, strlen(js), NULL), EB_OK);
    free(js);
    eb_config c2;
    eb_error err = {0};
    assert_int_equal(eb_config_load(path, &c2, &y, &err), EB_OK);
    for (int p = 0; p < EB_NUM_POLICIES; p++) assert_true(y.threshold[p] == x.threshold[p]);
    tiny_remove(dir);
}

/* ---- precisions ------------------------------------------------------ */

static void test_precision_table(void **state) {
    (void)state;
    const eb_precision all[] = {EB_PRECISION_FP32, EB_PRECISION_AF8, EB_PRECISION_AF8_BF16};
    const int n_enum = (int)(sizeof all / sizeof all[0]);
    int n = 0;
    const eb_precision_info *rows = eb_precision_table(&n);
    assert_int_equal(n, EB_NUM_PRECISIONS);
    assert_int_equal(n_enum, EB_NUM_PRECISIONS);
    for (int k = 0; k < n_enum; k++) {
        const eb_precision_info *r = eb_precision_info_of(all[k]);
        assert_non_null(r);
        assert_ptr_equal(r, &rows[all[k]]);
        assert_int_equal(r->id, all[k]);
        assert_true(r->name && *r->name && r->summary && *r->summary);
        assert_int_equal(eb_precision_parse(r->name), all[k]);
        assert_string_equal(eb_precision_name(all[k]), r->name);
        for (int j = 0; j < k; j++) assert_string_not_equal(rows[all[j]].name, r->name);
        /* the AF8 formats compute on one byte a weight, stored as af8; bf16 products are
         * a way of computing the AF8 values */
        assert_int_equal(r->weight_bytes, r->af8 ? 1 : 4);
        assert_string_equal(r->store, r->af8 ? "af8" : "f32");
        if (r->bf16) assert_true(r->af8);
    }
    assert_int_equal(eb_precision_parse("fp32"), EB_PRECISION_FP32);
    assert_int_equal(eb_precision_parse("af8"), EB_PRECISION_AF8);
    assert_int_equal(eb_precision_parse("af8-bf16"), EB_PRECISION_AF8_BF16);
    assert_int_equal(eb_precision_parse("bf16"), -1);
    assert_int_equal(eb_precision_parse(NULL), -1);
    assert_null(eb_precision_info_of((eb_precision)EB_NUM_PRECISIONS));
    assert_string_equal(eb_precision_name((eb_precision)-1), "?");
    char buf[128];
    assert_string_equal(eb_precision_names(buf, sizeof buf, "|", NULL), "fp32|af8|af8-bf16");
}

/* ---- tensors --------------------------------------------------------- */

static void test_tensor_rows(void **state) {
    (void)state;
    int n = 0, seen[EB_NUM_ROLES] = {0};
    const eb_tensor_row *rows = eb_tensor_rows(&n);
    assert_int_equal(n, EB_NUM_TENSOR_IDS);
    for (int k = 0; k < n; k++) {
        const eb_tensor_row *r = &rows[k];
        assert_int_equal(r->id, k);
        assert_true((unsigned)r->role < EB_NUM_ROLES && (unsigned)r->bias_role < EB_NUM_ROLES);
        seen[r->role]++, seen[r->bias_role]++;
        const int two = r->kind == EB_TK_MATRIX || r->kind == EB_TK_LINEAR;
        assert_true(r->d0 != EB_D_NONE);
        assert_int_equal(r->d1 != EB_D_NONE, two);
        for (int j = 0; j < k; j++) assert_string_not_equal(rows[j].pattern, r->pattern);
    }
    for (int r = 0; r < EB_NUM_ROLES; r++) {
        assert_true(seen[r] > 0);
        assert_string_not_equal(eb_tensor_role_name((eb_tensor_role)r), "?");
    }
    /* names spelled here, independently of the table */
    static const struct {
        const char *name;
        int role;
    } cases[] = {
        {"albert.embeddings.word_embeddings.weight", EB_ROLE_EMBEDDING},
        {"embeddings.token_type_embeddings.weight", EB_ROLE_EMBEDDING},
        {"albert.embeddings.LayerNorm.bias", EB_ROLE_EMB_NORM},
        {"albert.encoder.embedding_hidden_mapping_in.weight", EB_ROLE_MAPPING},
        {"albert.encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight",
         EB_ROLE_ENC_MATRIX},
        {"encoder.albert_layer_groups.1.albert_layers.2.ffn_output.weight", EB_ROLE_ENC_MATRIX},
        {"albert.encoder.albert_layer_groups.0.albert_layers.0.ffn_output.bias", EB_ROLE_ENC_VECTOR},
        {"albert.encoder.albert_layer_groups.0.albert_layers.0.full_layer_layer_norm.weight",
         EB_ROLE_ENC_VECTOR},
        {"albert.encoder.albert_layer_groups.0.albert_layers.0.attention.span", EB_ROLE_SPAN},
        {"albert.encoder.albert_layer_groups.0.albert_layers.0.adapters.11.ffn.up.bias",
         EB_ROLE_ADAPTER},
        {"albert.pooler.weight", EB_ROLE_HEAD},
        {"classifier.bias", EB_ROLE_HEAD},
        {"albert.encoder.highway.3.classifier.weight", EB_ROLE_RAMP},
        {"albert.encoder.highway.0.pooler.dense.weight", EB_ROLE_RAMP},
        {"predictions.LayerNorm.weight", EB_ROLE_MLM},
        {"predictions.bias", EB_ROLE_MLM},
        {"predictions.decoder.weight", -1}, /* tied to the word embeddings: never stored */
        {"albert.encoder.albert_layer_groups.0.albert_layers.0.ffn_outputs.weight", -1},
        {"albert.encoder.albert_layer_groups.x.albert_layers.0.ffn.weight", -1},
        {"albert.pooler.weight.extra", -1},
        {"classifier", -1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        if (eb_tensor_role_of(cases[k].name) != cases[k].role)
            fail_msg("%s: role %d, expected %d", cases[k].name, eb_tensor_role_of(cases[k].name),
                     cases[k].role);
    }
}

/* Exactly one row matches `name`; returns it (and the match). */
static const eb_tensor_row *one_row(const char *name, eb_tensor_match *m) {
    int n, hits = 0;
    const eb_tensor_row *rows = eb_tensor_rows(&n), *hit = NULL;
    for (int k = 0; k < n; k++) {
        eb_tensor_match t;
        if (eb_tensor_row_match(&rows[k], name, &t)) hits++, hit = &rows[k], *m = t;
    }
    if (hits != 1) fail_msg("%s: %d rows of the tensor table match, not one", name, hits);
    return hit;
}

/* The names (and shapes) of a walk, as whole tensor names. */
typedef struct name_set {
    char names[1024][256];
    int64_t shape[1024][2];
    int n;
} name_set;

static void put(name_set *s, const char *name, int d0, int d1) {
    assert_true(s->n < 1024);
    snprintf(s->names[s->n], sizeof s->names[0], "%s", name);
    s->shape[s->n][0] = d0;
    s->shape[s->n][1] = d1;
    s->n++;
}

static int walk_put(void *ud, const eb_tensor_item *it) {
    name_set *s = ud;
    char n[240];
    switch (it->row->kind) {
    case EB_TK_MATRIX:
    case EB_TK_VECTOR: put(s, it->name, it->d0, it->d1); break;
    case EB_TK_LINEAR:
    case EB_TK_NORM:
        snprintf(n, sizeof n, "%s.weight", it->name);
        put(s, n, it->d0, it->d1);
        snprintf(n, sizeof n, "%s.bias", it->name);
        put(s, n, it->d0, 0);
        break;
    }
    return 0;
}

static void file_names(const char *path, name_set *s) {
    eb_safetensors st;
    eb_error err = {0};
    assert_int_equal(eb_st_open(path, NULL, 1, &st, &err), EB_OK);
    s->n = 0;
    for (int k = 0; k < st.n; k++)
        put(s, st.tensors[k].name, (int)st.tensors[k].shape[0],
            st.tensors[k].ndim == 2 ? (int)st.tensors[k].shape[1] : 0);
    eb_st_close(&st);
}

static int find(const name_set *s, const char *name) {
    for (int k = 0; k < s->n; k++)
        if (!strcmp(s->names[k], name)) return k;
    return -1;
}

/* The same names with the same shapes, in any order. */
static void same_names(const name_set *a, const name_set *b, const char *what) {
    for (int k = 0; k < a->n; k++) {
        int j = find(b, a->names[k]);
        if (j < 0) fail_msg("%s: %s is in one list only", what, a->names[k]);
        assert_true(a->shape[k][0] == b->shape[j][0] && a->shape[k][1] == b->shape[j][1]);
    }
    assert_int_equal(a->n, b->n);
}

/* The tests' own checkpoint writer (tinymodel.h spells every name itself):
 * each tensor has exactly one row, and the table's walk of that config
 * names exactly the tensors it wrote. */
static void test_tiny_checkpoint_roles(void **state) {
    (void)state;
    tiny_spec sp = tiny_default();
    sp.vocab = 64;
    sp.spans = 1;
    char dir[64], path[128];
    tiny_make(dir, &sp);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    name_set *file = calloc(1, sizeof *file), *walk = calloc(1, sizeof *walk);
    assert_true(file && walk);
    file_names(path, file);
    for (int k = 0; k < file->n; k++) {
        eb_tensor_match m;
        one_row(file->names[k], &m);
    }
    eb_config c;
    eb_model_extras x;
    eb_error err = {0};
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(eb_config_load(path, &c, &x, &err), EB_OK);
    eb_tensor_plan plan = {&c, 1, 0, c.num_hidden_layers - 1, 0};
    eb_tensor_walk(&plan, walk_put, walk);
    same_names(file, walk, "tinymodel.h vs the table");
    free(file), free(walk);
    tiny_remove(dir);
}

/* The trainer's checkpoint with every optional part: each tensor has one row; the
 * loader binds all but the masked-LM head, and export writes back exactly those. */
static void test_trainer_load_export_agree(void **state) {
    (void)state;
    eb_config c;
    eb_model_extras x;
    eb_config_default(&c, &x);
    c.vocab_size = 30000, c.embedding_size = 4, c.hidden_size = 8, c.num_attention_heads = 2;
    c.intermediate_size = 12, c.num_hidden_layers = 4, c.num_hidden_groups = 2;
    c.inner_group_num = 2, c.max_position_embeddings = 16, c.num_labels = 3;
    x.adapter_size = 2;
    eb_tmodel tm;
    eb_error err = {0};
    assert_int_equal(eb_tm_create(&tm, &c, &x, 1, EB_TM_RAMPS | EB_TM_MLM, 2.0f, 7, NULL, &err),
                     EB_OK);
    char dir[] = "/tmp/eb_tables_XXXXXX", out[64], path[128], spm[512];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(eb_tm_save_hf(&tm, dir, &err), EB_OK);
    eb_tm_free(&tm);
    name_set *saved = calloc(1, sizeof *saved), *walk = calloc(1, sizeof *walk);
    assert_true(saved && walk);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    file_names(path, saved);
    int per_role[EB_NUM_ROLES] = {0};
    for (int k = 0; k < saved->n; k++) {
        eb_tensor_match m;
        one_row(saved->names[k], &m);
        per_role[m.role]++;
    }
    for (int r = 0; r < EB_NUM_ROLES; r++) assert_true(per_role[r] > 0); /* every part saved */
    eb_tensor_plan plan = {&c, 1, 2, c.num_hidden_layers - 1, 1};
    eb_tensor_walk(&plan, walk_put, walk);
    same_names(saved, walk, "trainer save vs the table");

    /* load (model.c binds by the table) and export (export.c writes by it) */
    int have_spm = eb_test_data_path(spm, sizeof spm, "albert/spiece.model");
    if (have_spm) tiny_copy(spm, dir, "spiece.model");
    eb_model *m = NULL;
    assert_int_equal(eb_model_load(dir, NULL, &m, &err), EB_OK);
    assert_int_equal(eb_model_num_offramps(m), c.num_hidden_layers);
    if (!have_spm) {
        eb_model_free(m);
        free(saved), free(walk);
        tiny_remove(dir);
        fprintf(stderr, "SKIP: %s missing (shared data not present): export needs a tokenizer\n",
                spm);
        skip();
    }
    snprintf(out, sizeof out, "%s/export", dir);
    assert_int_equal(eb_model_export(m, NULL, out, &err), EB_OK);
    eb_model_free(m);
    name_set *exported = calloc(1, sizeof *exported);
    assert_non_null(exported);
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    file_names(path, exported);
    /* the saved list without the masked-LM head, which only the trainer has */
    name_set *bound = calloc(1, sizeof *bound);
    assert_non_null(bound);
    for (int k = 0; k < saved->n; k++)
        if (eb_tensor_role_of(saved->names[k]) != EB_ROLE_MLM)
            put(bound, saved->names[k], (int)saved->shape[k][0], (int)saved->shape[k][1]);
    assert_true(bound->n < saved->n);
    same_names(bound, exported, "trainer save vs load + export");
    free(saved), free(walk), free(exported), free(bound);
    tiny_remove(dir);
}

/* Off-ramp poolers spelled "highway.j.pooler.dense.*" (the row's other spelling): the
 * engine's loader and the trainer's read the same values as under the usual names. */
static void test_other_ramp_spelling(void **state) {
    (void)state;
    eb_config c;
    eb_model_extras x;
    eb_config_default(&c, &x);
    c.vocab_size = 64, c.embedding_size = 4, c.hidden_size = 8, c.num_attention_heads = 2;
    c.intermediate_size = 12, c.num_hidden_layers = 3, c.num_hidden_groups = 1;
    c.inner_group_num = 1, c.max_position_embeddings = 16, c.num_labels = 2;
    eb_tmodel tm, t2;
    eb_error err = {0};
    assert_int_equal(eb_tm_create(&tm, &c, &x, 0, EB_TM_RAMPS, 0, 11, NULL, &err), EB_OK);
    /* the ramps' poolers differ from the main one */
    for (int i = 0; i < tm.nt; i++)
        for (size_t k = 0; k < tm.t[i].numel; k++)
            tm.params[tm.t[i].off + k] += 0.001f * (float)(k % 7);
    eb_tm_apply_mask(&tm, NULL);
    char a[] = "/tmp/eb_tables_XXXXXX", b[] = "/tmp/eb_tables_XXXXXX", path[128], from[128];
    assert_non_null(mkdtemp(a));
    assert_non_null(mkdtemp(b));
    assert_int_equal(eb_tm_save_hf(&tm, a, &err), EB_OK);
    snprintf(from, sizeof from, "%s/config.json", a);
    tiny_copy(from, b, "config.json");
    /* B: the same tensors, the ramp poolers under the other spelling */
    eb_safetensors st;
    snprintf(path, sizeof path, "%s/model.safetensors", a);
    assert_int_equal(eb_st_open(path, NULL, 1, &st, &err), EB_OK);
    eb_st_entry *e = calloc((size_t)st.n, sizeof *e);
    char(*names)[256] = calloc((size_t)st.n, sizeof *names);
    assert_true(e && names);
    int renamed = 0;
    for (int k = 0; k < st.n; k++) {
        eb_tensor_match m;
        const eb_st_tensor *t = &st.tensors[k];
        assert_true(eb_tensor_lookup(t->name, &m));
        if (m.row->id == EB_T_RAMP_POOLER) {
            assert_true(eb_tensor_spell(&m, 1, names[k], sizeof names[k]));
            assert_non_null(strstr(names[k], ".pooler.dense."));
            renamed++;
        } else {
            assert_true(eb_tensor_spell(&m, 0, names[k], sizeof names[k]));
            assert_string_equal(names[k], t->name); /* the usual spelling, spelled again */
        }
        e[k].name = names[k];
        e[k].data = (const float *)t->data;
        e[k].ndim = t->ndim;
        e[k].shape[0] = t->shape[0];
        e[k].shape[1] = t->ndim == 2 ? t->shape[1] : 0;
    }
    assert_int_equal(renamed, 2 * (c.num_hidden_layers - 1)); /* weight and bias */
    snprintf(path, sizeof path, "%s/model.safetensors", b);
    assert_int_equal(eb_st_write(path, e, st.n, EB_DTYPE_F32, NULL, &err), EB_OK);
    eb_st_close(&st);
    free(e), free(names);
    /* the trainer reads B into a model of another seed: the same parameters */
    assert_int_equal(eb_tm_create(&t2, &c, &x, 0, EB_TM_RAMPS, 0, 12, NULL, &err), EB_OK);
    assert_int_equal(eb_tm_load_safetensors(&t2, path, &err), EB_OK);
    assert_int_equal(t2.nt, tm.nt);
    for (int i = 0; i < tm.nt; i++)
        assert_memory_equal(t2.params + tm.t[i].off, tm.params + tm.t[i].off,
                            tm.t[i].numel * sizeof(float));
    eb_tm_free(&tm), eb_tm_free(&t2);
    /* the engine: the same entropy after every layer from A and from B */
    eb_result r[2];
    const char *dirs[2] = {a, b};
    const int32_t ids[4] = {2, 17, 40, 3};
    for (int k = 0; k < 2; k++) {
        eb_model *m = NULL;
        eb_context *ctx = NULL;
        assert_int_equal(eb_model_load(dirs[k], NULL, &m, &err), EB_OK);
        assert_int_equal(eb_model_num_offramps(m), c.num_hidden_layers);
        assert_int_equal(eb_context_new(m, &ctx, &err), EB_OK);
        eb_run_params p = eb_run_params_default();
        p.policy = EB_POLICY_EE;
        p.threshold = 0; /* no exit: every off-ramp answers */
        assert_int_equal(eb_classify_ids(ctx, ids, NULL, 4, &p, &r[k], &err), EB_OK);
        eb_context_free(ctx);
        eb_model_free(m);
    }
    assert_int_equal(r[0].exit_layer, c.num_hidden_layers);
    assert_memory_equal(r[0].entropies, r[1].entropies, sizeof(float) * (size_t)c.num_hidden_layers);
    tiny_remove(a), tiny_remove(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_table),
        cmocka_unit_test(test_policy_thresholds_config),
        cmocka_unit_test(test_precision_table),
        cmocka_unit_test(test_tensor_rows),
        cmocka_unit_test(test_tiny_checkpoint_roles),
        cmocka_unit_test(test_trainer_load_export_agree),
        cmocka_unit_test(test_other_ramp_spelling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
