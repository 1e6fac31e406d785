/* tsv.c - GLUE TSV files (read by the data module) tokenized into training
 * examples, labels mapped to the model's label order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgebert/data.h"
#include "edgebert/tokenizer.h"

#include "edgebert/train.h"
#include "train/tdata.h"
#include "util/util.h"

eb_status eb_train_data_read_tsv(const char *path, const char *task, const eb_tokenizer *tok,
                                 int max_len, char label_names[][EB_LABEL_NAME_MAX], int num_labels,
                                 eb_train_data *out, eb_error *err) {
    return eb_train_data_read_tsv_ex(path, task, tok, max_len, 0, label_names, num_labels, out,
                                     err);
}

eb_status eb_train_data_read_tsv_ex(const char *path, const char *task, const eb_tokenizer *tok,
                                    int max_len, int head_tokens,
                                    char label_names[][EB_LABEL_NAME_MAX], int num_labels,
                                    eb_train_data *out, eb_error *err) {
    memset(out, 0, sizeof *out);
    eb_dataset *ds = NULL;
    eb_status s = eb_dataset_load(path, task ? task : "sst2", NULL, &ds, err);
    if (s != EB_OK) return s;
    int map[EB_MAX_LABELS];
    s = eb_task_label_map(ds->task, (const char(*)[EB_LABEL_NAME_MAX])label_names, num_labels, map,
                          err);
    eb_encoding *enc = eb_malloc(NULL, sizeof *enc);
    if (s == EB_OK && !enc) s = eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", path);
    if (s == EB_OK && !ds->labeled)
        s = eb_fail(err, EB_ERR_FORMAT, "%s: no labels (a test file?)", path);
    eb_tokenizer_options opt = eb_tokenizer_options_default();
    opt.head_tokens = head_tokens;
    eb_tdata_builder b = {0};
    for (int i = 0; i < (s == EB_OK ? ds->n : 0); i++) {
        const eb_example *x = &ds->rows[i];
        if (num_labels > 1 && x->label < 0) continue; /* MNLI rows without a gold label */
        s = eb_tokenize_ex(tok, x->text_a, x->text_b, max_len, &opt, enc, err);
        if (s == EB_ERR_INPUT) { /* empty text: skip the row */
            s = EB_OK;
            continue;
        }
        if (s != EB_OK) {
            eb_fail_prefix(err, "%s:%ld", path, x->line);
            break;
        }
        int label = num_labels > 1 ? map[x->label] : 0;
        s = eb_tdata_add(&b, enc->ids, enc->type_ids, enc->n, label, x->score, err);
        if (s != EB_OK) break;
    }
    eb_tdata_finish(&b, out);
    eb_free(NULL, enc);
    eb_dataset_free(ds);
    if (s == EB_OK && out->n == 0) s = eb_fail(err, EB_ERR_FORMAT, "%s: no examples", path);
    if (s != EB_OK) eb_train_data_free(out);
    return s;
}

/* Masked-LM windows of one document: its SentencePiece ids cut into
 * consecutive runs of max_len - 2, each as [CLS] run [SEP]; the last run may
 * be shorter.  Every token is in exactly one window.  Returns EB_ERR_INPUT
 * for a document without tokens. */
static eb_status add_windows(eb_tdata_builder *b, const eb_tokenizer *tok, const char *text,
                             int max_len, int32_t **buf, int *cap, int32_t *win, eb_error *err) {
    int n = 0;
    eb_status s = eb_tokenizer_encode(tok, text, *buf, *cap, &n, err);
    if (s == EB_OK && n > *cap) { /* longer than the buffer: grow it and encode again */
        int32_t *nb = eb_realloc(NULL, *buf, sizeof(int32_t) * (size_t)n);
        if (!nb) return eb_fail(err, EB_ERR_NOMEM, "out of memory for %d tokens", n);
        *buf = nb;
        *cap = n;
        s = eb_tokenizer_encode(tok, text, *buf, *cap, &n, err);
    }
    if (s != EB_OK) return s;
    if (n == 0) return EB_ERR_INPUT;
    const int W = max_len - 2, cls = eb_tokenizer_cls_id(tok), sep = eb_tokenizer_sep_id(tok);
    if (cls < 0 || sep < 0)
        return eb_fail(err, EB_ERR_UNSUPPORTED, "the tokenizer has no [CLS]/[SEP] pieces");
    for (int at = 0; at < n && s == EB_OK; at += W) {
        int k = n - at < W ? n - at : W;
        win[0] = cls;
        memcpy(win + 1, *buf + at, sizeof(int32_t) * (size_t)k);
        win[k + 1] = sep;
        s = eb_tdata_add(b, win, NULL, k + 2, 0, 0.0f, err);
    }
    return s;
}

/* One plain-text file (a document per line, a TAB between the segments of a
 * pair) into b. */
static eb_status read_text_into(eb_tdata_builder *b, const char *path, const eb_tokenizer *tok,
                                int max_len, eb_encoding *enc, int32_t **buf, int *cap,
                                int32_t *win, eb_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return eb_fail(err, EB_ERR_IO, "%s: cannot open", path);
    eb_status s = EB_OK;
    char *line = NULL;
    size_t lcap = 0;
    long lineno = 0;
    ssize_t len;
    while (s == EB_OK && (len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        if ((size_t)len != strlen(line)) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s:%ld: NUL byte in a text line", path, lineno);
            break;
        }
        line[strcspn(line, "\r\n")] = 0;
        if (!eb_utf8_valid(line, strlen(line))) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s:%ld: not valid UTF-8", path, lineno);
            break;
        }
        char *tab = strchr(line, '\t');
        if (tab) *tab++ = 0;
        if (!line[0] && (!tab || !tab[0])) continue;
        if (tab && tab[0]) /* a pair: one example, cut longest first */
            s = eb_tokenize(tok, line, tab, max_len, enc, err);
        else /* a document: windows of max_len tokens */
            s = add_windows(b, tok, line[0] ? line : tab, max_len, buf, cap, win, err);
        if (s == EB_ERR_INPUT) { /* nothing left after normalisation: skip */
            s = EB_OK;
            continue;
        }
        if (s != EB_OK) {
            eb_fail_prefix(err, "%s:%ld", path, lineno);
            break;
        }
        if (tab && tab[0]) s = eb_tdata_add(b, enc->ids, enc->type_ids, enc->n, 0, 0.0f, err);
    }
    free(line);
    fclose(f);
    return s;
}

/* The text column(s) of a TSV file in the task's layout, each a document. */
static eb_status read_docs_tsv_into(eb_tdata_builder *b, const char *path, const char *task,
                                    const eb_tokenizer *tok, int max_len, int32_t **buf, int *cap,
                                    int32_t *win, eb_error *err) {
    eb_dataset *ds = NULL;
    eb_status s = eb_dataset_load(path, task ? task : "sst2", NULL, &ds, err);
    for (int i = 0; s == EB_OK && i < ds->n; i++) {
        const char *txt[2] = {ds->rows[i].text_a, ds->rows[i].text_b};
        for (int j = 0; j < 2 && s == EB_OK; j++) {
            if (!txt[j]) continue;
            s = add_windows(b, tok, txt[j], max_len, buf, cap, win, err);
            if (s == EB_ERR_INPUT) s = EB_OK; /* an empty text: nothing to learn from */
            else if (s != EB_OK) eb_fail_prefix(err, "%s:%ld", path, ds->rows[i].line);
        }
    }
    eb_dataset_free(ds);
    return s;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

eb_status eb_train_data_read_mlm(const char *const *paths, int n_paths, const char *task,
                                 const eb_tokenizer *tok, int max_len, eb_train_data *out,
                                 eb_error *err) {
    memset(out, 0, sizeof *out);
    if (max_len < 3 || max_len > EB_MAX_TOKENS)
        return eb_fail(err, EB_ERR_ARG, "masked-LM text: max_len %d must be in 3..%d", max_len,
                       EB_MAX_TOKENS);
    eb_encoding *enc = eb_malloc(NULL, sizeof *enc);
    int cap = 4096;
    int32_t *buf = eb_malloc(NULL, sizeof(int32_t) * (size_t)cap);
    int32_t *win = eb_malloc(NULL, sizeof(int32_t) * (size_t)max_len);
    eb_status s = enc && buf && win ? EB_OK : eb_fail(err, EB_ERR_NOMEM, "out of memory");
    eb_tdata_builder b = {0};
    for (int i = 0; i < n_paths && s == EB_OK; i++) {
        if (ends_with(paths[i], ".tsv"))
            s = read_docs_tsv_into(&b, paths[i], task, tok, max_len, &buf, &cap, win, err);
        else
            s = read_text_into(&b, paths[i], tok, max_len, enc, &buf, &cap, win, err);
    }
    eb_free(NULL, enc);
    eb_free(NULL, buf);
    eb_free(NULL, win);
    eb_tdata_finish(&b, out);
    if (s == EB_OK && out->n == 0)
        s = eb_fail(err, EB_ERR_FORMAT, "%s: no text", n_paths ? paths[0] : "masked-LM data");
    if (s != EB_OK) eb_train_data_free(out);
    return s;
}

eb_status eb_train_data_read_text(const char *path, const eb_tokenizer *tok, int max_len,
                                  eb_train_data *out, eb_error *err) {
    return eb_train_data_read_mlm(&path, 1, NULL, tok, max_len, out, err);
}
