/* tsv.c - GLUE TSV files (read by the data module) tokenized into training
 * examples, labels mapped to the model's label order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgebert/data.h"

#include "edgebert/train.h"
#include "train/tdata.h"
#include "util/util.h"

eb_status eb_train_data_read_tsv(const char *path, const char *task, const eb_tokenizer *tok,
                                 int max_len, char label_names[][EB_LABEL_NAME_MAX], int num_labels,
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
    eb_tdata_builder b = {0};
    for (int i = 0; i < (s == EB_OK ? ds->n : 0); i++) {
        const eb_example *x = &ds->rows[i];
        if (num_labels > 1 && x->label < 0) continue; /* MNLI rows without a gold label */
        s = eb_tokenize(tok, x->text_a, x->text_b, max_len, enc, err);
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

eb_status eb_train_data_read_text(const char *path, const eb_tokenizer *tok, int max_len,
                                  eb_train_data *out, eb_error *err) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return eb_fail(err, EB_ERR_IO, "%s: cannot open", path);
    eb_encoding *enc = eb_malloc(NULL, sizeof *enc);
    eb_status s = enc ? EB_OK : eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", path);
    eb_tdata_builder b = {0};
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    ssize_t len;
    while (s == EB_OK && (len = getline(&line, &cap, f)) >= 0) {
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
        s = eb_tokenize(tok, line, tab && tab[0] ? tab : NULL, max_len, enc, err);
        if (s == EB_ERR_INPUT) { /* nothing left after normalisation: skip */
            s = EB_OK;
            continue;
        }
        if (s != EB_OK) {
            eb_fail_prefix(err, "%s:%ld", path, lineno);
            break;
        }
        s = eb_tdata_add(&b, enc->ids, enc->type_ids, enc->n, 0, 0.0f, err);
    }
    free(line);
    fclose(f);
    eb_free(NULL, enc);
    eb_tdata_finish(&b, out);
    if (s == EB_OK && out->n == 0) s = eb_fail(err, EB_ERR_FORMAT, "%s: no text", path);
    if (s != EB_OK) eb_train_data_free(out);
    return s;
}
