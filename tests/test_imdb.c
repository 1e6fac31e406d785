/* test_imdb.c - the imdb task (reader, labels, metric, bad input), head + tail
 * truncation (tokenizer, the model's edgebert_truncate_head in classify) and
 * the masked-LM windows of long documents.  The tokenizer is the shipped
 * models/default.ebb's (run from the repository root). */
#include "testutil.h"

#include <math.h>
#include <unistd.h>

#include "edgebert.h"
#include "edgebert/data.h"
#include "edgebert/tokenizer.h"
#include "edgebert/train.h"

#define SHIPPED "models/default.ebb"

static eb_model *shipped(void) {
    struct stat st;
    if (stat(SHIPPED, &st) != 0) {
        fprintf(stderr, "SKIP: %s missing (run from the repository root)\n", SHIPPED);
        return NULL;
    }
    eb_model *m = NULL;
    eb_error err = {0};
    eb_load_params lp = eb_load_params_default();
    lp.pack_weights = 0;
    assert_int_equal(eb_model_load(SHIPPED, &lp, &m, &err), EB_OK);
    return m;
}

/* A review of `words` distinct-ish words: "w0 w1 w2 ..." spelled with letters. */
static char *review(int words) {
    char *s = malloc((size_t)words * 12 + 1), *p = s;
    for (int i = 0; i < words; i++) {
        int v = i;
        *p++ = 'a' + (char)(v % 26);
        v /= 26;
        do {
            *p++ = 'a' + (char)(v % 26);
            v /= 26;
        } while (v);
        *p++ = ' ';
    }
    *p = 0;
    return s;
}

/* ---- task, reader, metric ---------------------------------------------- */

static void test_task_and_reader(void **state) {
    (void)state;
    const eb_task_info *t;
    eb_error err = {0};
    assert_int_equal(eb_task_lookup("IMDB", &t, &err), EB_OK);
    assert_int_equal(t->task, EB_TASK_IMDB);
    assert_string_equal(t->name, "imdb");
    assert_int_equal(t->is_pair, 0);
    assert_int_equal(t->num_labels, 2);
    assert_string_equal(t->label_names[0], "negative");
    assert_string_equal(t->label_names[1], "positive");
    assert_int_equal(t->head_tokens, 128);
    assert_ptr_equal(eb_task_get(EB_TASK_IMDB), t);
    assert_non_null(strstr(eb_task_names(), "imdb"));
    /* the layout of the released files: header, review<TAB>label, <br /> kept */
    const char *f = "sentence\tlabel\r\n"
                    "A \"great\" film.<br /><br />Loved it.\t1\n"
                    "Dull, \"dull\", dull.\t0";
    eb_dataset *ds = NULL;
    assert_int_equal(eb_dataset_load_buffer(f, strlen(f), "imdb.tsv", "imdb", NULL, &ds, &err),
                     EB_OK);
    assert_int_equal(ds->n, 2);
    assert_int_equal(ds->labeled, 1);
    assert_string_equal(ds->rows[0].text_a, "A \"great\" film.<br /><br />Loved it.");
    assert_null(ds->rows[0].text_b);
    assert_int_equal(ds->rows[0].label, 1);
    assert_int_equal(ds->rows[1].label, 0);
    assert_int_equal(ds->rows[1].line, 3);
    /* metric: accuracy only */
    int pred[2] = {1, 1};
    eb_glue_scores sc;
    assert_int_equal(eb_glue_score(ds, pred, NULL, &sc, &err), EB_OK);
    assert_true(fabs(sc.accuracy - 0.5) < 1e-12);
    assert_true(isnan(sc.f1) && isnan(sc.matthews) && isnan(sc.pearson));
    /* a model labelled negative/positive (SST-2's) maps onto it in order */
    char names[2][EB_LABEL_NAME_MAX] = {"positive", "negative"};
    int map[2];
    assert_int_equal(eb_task_label_map(t, (const char(*)[EB_LABEL_NAME_MAX])names, 2, map, &err),
                     EB_OK);
    assert_int_equal(map[0], 1);
    assert_int_equal(map[1], 0);
    eb_dataset_free(ds);
}

static void expect_bad(const char *text, const char *want) {
    eb_dataset *ds = NULL;
    eb_error err = {0};
    assert_int_equal(eb_dataset_load_buffer(text, strlen(text), "bad.tsv", "imdb", NULL, &ds, &err),
                     EB_ERR_FORMAT);
    assert_null(ds);
    if (!strstr(err.msg, want)) fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, want);
    assert_non_null(strstr(err.msg, want));
}

static void test_bad_input(void **state) {
    (void)state;
    /* a review line with no label */
    expect_bad("sentence\tlabel\nfine film\t1\na review and no label\n",
               "bad.tsv:3: expected 2 tab-separated fields, found 1");
    /* a label that is not 0/1 */
    expect_bad("sentence\tlabel\nfine film\tpos\n", "bad.tsv:2: bad IMDB label 'pos'");
    /* no header */
    expect_bad("fine film\t1\n", "bad.tsv:1: no column 'sentence'");
    /* an empty review is read (its label is data) and refused by the
     * tokenizer with a clear error, never a crash */
    eb_model *m = shipped();
    if (!m) skip();
    const char *f = "sentence\tlabel\n\t1\n";
    eb_dataset *ds = NULL;
    eb_error err = {0};
    assert_int_equal(eb_dataset_load_buffer(f, strlen(f), "e.tsv", "imdb", NULL, &ds, &err), EB_OK);
    assert_int_equal(ds->n, 1);
    assert_string_equal(ds->rows[0].text_a, "");
    eb_context *ctx = NULL;
    assert_int_equal(eb_context_new(m, &ctx, &err), EB_OK);
    eb_run_params p = eb_run_params_default();
    eb_result r;
    assert_int_equal(eb_classify(ctx, ds->rows[0].text_a, NULL, &p, &r, &err), EB_ERR_INPUT);
    assert_non_null(strstr(err.msg, "empty"));
    /* a 100,000-character review: read, cut to the model's length, classified */
    char *big = malloc(100000 + 64);
    strcpy(big, "sentence\tlabel\n");
    size_t at = strlen(big);
    for (int i = 0; at < 15 + 100000; i++) {
        const char *w = i % 7 == 6 ? "boring. " : "movie ";
        size_t k = strlen(w);
        if (at + k > 15 + 100000) k = 15 + 100000 - at;
        memcpy(big + at, w, k);
        at += k;
    }
    strcpy(big + at, "\t0\n");
    eb_dataset_free(ds);
    ds = NULL;
    assert_int_equal(eb_dataset_load_buffer(big, strlen(big), "big.tsv", "imdb", NULL, &ds, &err),
                     EB_OK);
    assert_int_equal(ds->n, 1);
    assert_int_equal((int)strlen(ds->rows[0].text_a), 100000);
    assert_int_equal(eb_classify(ctx, ds->rows[0].text_a, NULL, &p, &r, &err), EB_OK);
    assert_int_equal(r.truncated, 1);
    assert_int_equal(r.n_tokens, eb_model_config(m)->max_position_embeddings);
    free(big);
    eb_dataset_free(ds);
    eb_context_free(ctx);
    eb_model_free(m);
}

/* ---- head + tail truncation --------------------------------------------- */

static void test_head_tail_tokenizer(void **state) {
    (void)state;
    eb_model *m = shipped();
    if (!m) skip();
    const eb_tokenizer *tok = eb_model_tokenizer(m);
    char *txt = review(400);
    int32_t all[4096];
    int n = 0;
    eb_error err = {0};
    assert_int_equal(eb_tokenizer_encode(tok, txt, all, 4096, &n, &err), EB_OK);
    assert_true(n > 300);
    eb_tokenizer_options o = eb_tokenizer_options_default();
    static eb_encoding e;
    const int cls = eb_tokenizer_cls_id(tok), sep = eb_tokenizer_sep_id(tok);
    const int heads[] = {1, 32, 100, 126, 500};
    for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++) {
        o.head_tokens = heads[h];
        assert_int_equal(eb_tokenize_ex(tok, txt, NULL, 128, &o, &e, &err), EB_OK);
        int head = heads[h] < 126 ? heads[h] : 126, tail = 126 - head;
        assert_int_equal(e.n, 128);
        assert_int_equal(e.truncated, 1);
        assert_int_equal(e.ids[0], cls);
        assert_int_equal(e.ids[127], sep);
        for (int i = 0; i < head; i++) assert_int_equal(e.ids[1 + i], all[i]);
        for (int i = 0; i < tail; i++) assert_int_equal(e.ids[1 + head + i], all[n - tail + i]);
    }
    /* 0 keeps the head (the old cut); a text that fits is never changed */
    o.head_tokens = 0;
    assert_int_equal(eb_tokenize_ex(tok, txt, NULL, 128, &o, &e, &err), EB_OK);
    for (int i = 0; i < 126; i++) assert_int_equal(e.ids[1 + i], all[i]);
    o.head_tokens = 10;
    assert_int_equal(eb_tokenize_ex(tok, txt, NULL, 4096, &o, &e, &err), EB_OK);
    assert_int_equal(e.truncated, 0);
    assert_int_equal(e.n, n + 2);
    for (int i = 0; i < n; i++) assert_int_equal(e.ids[1 + i], all[i]);
    /* pairs: longest first as before, whatever head_tokens says */
    static eb_encoding e2;
    assert_int_equal(eb_tokenize_ex(tok, txt, "a short one", 64, &o, &e, &err), EB_OK);
    assert_int_equal(eb_tokenize(tok, txt, "a short one", 64, &e2, &err), EB_OK);
    assert_int_equal(e.n, e2.n);
    assert_memory_equal(e.ids, e2.ids, sizeof(int32_t) * (size_t)e.n);
    free(txt);
    eb_model_free(m);
}

/* A checkpoint whose config says edgebert_truncate_head: classify cuts long
 * texts head + tail without being told (same logits as the ids cut by hand). */
static void test_classify_applies_model_truncation(void **state) {
    (void)state;
    eb_model *m = shipped();
    if (!m) skip();
    char dir[] = "/tmp/eb_imdb_XXXXXX";
    assert_non_null(mkdtemp(dir));
    eb_error err = {0};
    assert_int_equal(eb_model_export(m, "sst2", dir, &err), EB_OK);
    char path[400];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char cfg[1 << 16];
    size_t k = fread(cfg, 1, sizeof cfg - 64, f);
    fclose(f);
    cfg[k] = 0;
    char *brace = strchr(cfg, '{');
    assert_non_null(brace);
    static char cfg2[1 << 16];
    snprintf(cfg2, sizeof cfg2, "{\"edgebert_truncate_head\": 20, %s", brace + 1);
    f = fopen(path, "wb");
    fputs(cfg2, f);
    fclose(f);
    eb_model *m2 = NULL;
    eb_load_params lp = eb_load_params_default();
    assert_int_equal(eb_model_load(dir, &lp, &m2, &err), EB_OK);
    eb_context *ctx = NULL;
    assert_int_equal(eb_context_new(m2, &ctx, &err), EB_OK);
    /* the review: its head positive, its tail negative */
    static char txt[20000];
    strcpy(txt, "a wonderful , moving , beautiful film . ");
    for (int i = 0; i < 200; i++) strcat(txt, "the plot goes on . ");
    strcat(txt, "boring , dull , a waste of time , the worst film of the year .");
    eb_run_params p = eb_run_params_default();
    p.policy = EB_POLICY_BASE;
    eb_result r, r2;
    assert_int_equal(eb_classify(ctx, txt, NULL, &p, &r, &err), EB_OK);
    eb_tokenizer_options o = eb_tokenizer_options_default();
    o.head_tokens = 20;
    static eb_encoding e;
    assert_int_equal(eb_tokenize_ex(eb_model_tokenizer(m2), txt, NULL, 128, &o, &e, &err), EB_OK);
    assert_int_equal(r.n_tokens, 128);
    assert_int_equal(eb_classify_ids(ctx, e.ids, e.type_ids, e.n, &p, &r2, &err), EB_OK);
    assert_memory_equal(r.logits, r2.logits, sizeof(float) * 2);
    /* and not the head-only cut (it would be told apart: its tail is gone) */
    o.head_tokens = 0;
    assert_int_equal(eb_tokenize_ex(eb_model_tokenizer(m2), txt, NULL, 128, &o, &e, &err), EB_OK);
    assert_int_equal(eb_classify_ids(ctx, e.ids, e.type_ids, e.n, &p, &r2, &err), EB_OK);
    assert_true(memcmp(r.logits, r2.logits, sizeof(float) * 2) != 0);
    /* export keeps the key */
    char dir2[300];
    snprintf(dir2, sizeof dir2, "%s/again", dir);
    assert_int_equal(eb_model_export(m2, NULL, dir2, &err), EB_OK);
    snprintf(path, sizeof path, "%s/config.json", dir2);
    f = fopen(path, "rb");
    k = fread(cfg, 1, sizeof cfg - 1, f);
    fclose(f);
    cfg[k] = 0;
    assert_non_null(strstr(cfg, "\"edgebert_truncate_head\":\t20"));
    eb_context_free(ctx);
    eb_model_free(m2);
    eb_model_free(m);
    const char *files[] = {"config.json", "model.safetensors", "spiece.model", "exit_lut.csv"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir2, files[i]);
        unlink(path);
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir2);
    rmdir(dir);
}

/* ---- masked-LM windows ---------------------------------------------------- */

static void test_mlm_windows(void **state) {
    (void)state;
    eb_model *m = shipped();
    if (!m) skip();
    const eb_tokenizer *tok = eb_model_tokenizer(m);
    const int cls = eb_tokenizer_cls_id(tok), sep = eb_tokenizer_sep_id(tok);
    char path[] = "/tmp/eb_mlm_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    char *docs[4];
    docs[0] = review(700); /* several full windows and a short last one */
    docs[1] = review(3);   /* one short window */
    docs[2] = NULL;        /* a blank line: skipped */
    docs[3] = review(200);
    for (int i = 0; i < 4; i++) fprintf(f, "%s\n", docs[i] ? docs[i] : "");
    fprintf(f, "first segment\tsecond segment\n"); /* a pair stays one example */
    fclose(f);
    eb_train_data d;
    eb_error err = {0};
    const int max_len = 128, W = max_len - 2;
    assert_int_equal(eb_train_data_read_text(path, tok, max_len, &d, &err), EB_OK);
    int ex = 0;
    static int32_t all[8192];
    for (int i = 0; i < 4; i++) {
        if (!docs[i]) continue;
        int n = 0;
        assert_int_equal(eb_tokenizer_encode(tok, docs[i], all, 8192, &n, &err), EB_OK);
        int windows = (n + W - 1) / W, at = 0;
        for (int w = 0; w < windows; w++, ex++) {
            assert_true(ex < d.n);
            const eb_train_example *e = &d.ex[ex];
            int want = w < windows - 1 ? W : n - W * (windows - 1); /* the last one short */
            assert_int_equal(e->n, want + 2);
            assert_int_equal(e->ids[0], cls);
            assert_int_equal(e->ids[e->n - 1], sep);
            for (int j = 0; j < want; j++) /* in order: none lost, none twice */
                assert_int_equal(e->ids[1 + j], all[at + j]);
            for (int j = 0; j < e->n; j++) assert_int_equal(e->type_ids[j], 0);
            at += want;
        }
        assert_int_equal(at, n);
    }
    assert_int_equal(d.n, ex + 1);
    assert_int_equal(d.ex[ex].type_ids[d.ex[ex].n - 1], 1); /* the pair */
    eb_train_data_free(&d);
    /* a .tsv file: its review column, labels ignored; the same windows */
    char tsv[64];
    snprintf(tsv, sizeof tsv, "%s.tsv", path);
    f = fopen(tsv, "w");
    fprintf(f, "sentence\tlabel\n%s\t1\n\t0\n%s\t0\n", docs[0], docs[1]);
    fclose(f);
    const char *paths[2] = {tsv, path};
    assert_int_equal(eb_train_data_read_mlm(paths, 2, "imdb", tok, max_len, &d, &err), EB_OK);
    int n0 = 0, n1 = 0;
    eb_tokenizer_encode(tok, docs[0], all, 8192, &n0, &err);
    eb_tokenizer_encode(tok, docs[1], all, 8192, &n1, &err);
    int first = (n0 + W - 1) / W + (n1 + W - 1) / W;
    assert_int_equal(d.n, first + ex + 1); /* the tsv's windows, then the text file's */
    assert_int_equal(d.ex[first - 1].n, n1 + 2);
    eb_train_data_free(&d);
    /* 256-token windows: fewer, longer */
    assert_int_equal(eb_train_data_read_text(path, tok, 256, &d, &err), EB_OK);
    assert_int_equal(d.ex[0].n, 256);
    eb_train_data_free(&d);
    /* max_len too small for a window */
    assert_int_equal(eb_train_data_read_text(path, tok, 2, &d, &err), EB_ERR_ARG);
    unlink(tsv);
    unlink(path);
    for (int i = 0; i < 4; i++) free(docs[i]);
    eb_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_and_reader),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_head_tail_tokenizer),
        cmocka_unit_test(test_classify_applies_model_truncation),
        cmocka_unit_test(test_mlm_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
