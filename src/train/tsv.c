/* tsv.c - a minimal GLUE TSV reader for training (until the data module is
 * used here): finds the text and label columns by header name, tokenizes
 * with the ALBERT encoding. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edgebert/train.h"
#include "train/tdata.h"
#include "util/util.h"

#define MAXCOLS 32

static int split(char *line, char **cols) {
    int n = 0;
    cols[n++] = line;
    for (char *p = line; *p; p++)
        if (*p == '\t' && n < MAXCOLS) {
            *p = 0;
            cols[n++] = p + 1;
        }
    return n;
}

static int find_col(char **cols, int n, const char *const *names) {
    for (int k = 0; names[k]; k++)
        for (int i = 0; i < n; i++)
            if (!strcmp(cols[i], names[k])) return i;
    return -1;
}

/* Label names of the GLUE tasks whose labels are words (HF datasets order). */
static int task_label(const char *task, const char *v) {
    static const char *const mnli[] = {"entailment", "neutral", "contradiction", NULL};
    static const char *const two[] = {"entailment", "not_entailment", NULL};
    const char *const *names = NULL;
    if (task && !strncasecmp(task, "mnli", 4)) names = mnli;
    else names = two;
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], v)) return i;
    return -1;
}

eb_status eb_train_data_read_tsv(const char *path, const char *task, const eb_tokenizer *tok,
                                 int max_len, char label_names[][EB_LABEL_NAME_MAX],
                                 int num_labels, eb_train_data *out, eb_error *err) {
    memset(out, 0, sizeof *out);
    char *data;
    size_t size;
    eb_status s = eb_read_file(path, NULL, 0, &data, &size, err);
    if (s != EB_OK) return s;
    eb_encoding *enc = eb_malloc(NULL, sizeof *enc);
    if (!enc) {
        eb_free(NULL, data);
        return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", path);
    }
    eb_tdata_builder b = {0};
    char *cols[MAXCOLS];
    int ca = -1, cb = -1, cl = -1, lineno = 0;
    const int cola = task && !strcasecmp(task, "cola");
    char *p = data;
    if (cola) {
        cl = 1;
        ca = 3;
    } else {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        char *hdr = p;
        p = nl ? nl + 1 : p + strlen(p);
        lineno = 1;
        size_t hl = strlen(hdr);
        if (hl && hdr[hl - 1] == '\r') hdr[hl - 1] = 0;
        int n = split(hdr, cols);
        static const char *const A[] = {"sentence1", "question1", "#1 String", "question",
                                        "sentence", NULL};
        static const char *const Bn[] = {"sentence2", "question2", "#2 String", NULL};
        static const char *const S[] = {"sentence", NULL};
        static const char *const Lb[] = {"gold_label", "label", "is_duplicate", "Quality", "score",
                                         NULL};
        ca = find_col(cols, n, A);
        cb = find_col(cols, n, Bn);
        if (cb < 0 && ca >= 0 && !strcmp(cols[ca], "question")) cb = find_col(cols, n, S);
        cl = find_col(cols, n, Lb);
        if (ca < 0 || cl < 0) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s: header has no sentence/label columns (for CoLA "
                        "give --task cola)", path);
            goto out;
        }
    }
    while (*p && s == EB_OK) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        char *line = p;
        p = nl ? nl + 1 : p + strlen(p);
        lineno++;
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r') line[--ll] = 0;
        if (!ll) continue;
        int n = split(line, cols);
        if (ca >= n || cl >= n || (cb >= 0 && cb >= n)) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s:%d: %d columns, expected more", path, lineno, n);
            break;
        }
        const char *lv = cols[cl];
        int label = 0;
        float target = 0;
        if (num_labels == 1) {
            char *end;
            target = strtof(lv, &end);
            if (end == lv) {
                s = eb_fail(err, EB_ERR_FORMAT, "%s:%d: score \"%.20s\" is not a number", path,
                            lineno, lv);
                break;
            }
        } else {
            char *end;
            long v = strtol(lv, &end, 10);
            if (end != lv && !*end) label = (int)v;
            else {
                label = -1;
                for (int k = 0; k < num_labels && label < 0; k++)
                    if (label_names && !strcasecmp(label_names[k], lv)) label = k;
                if (label < 0) label = task_label(task, lv);
                if (label < 0 && !strcmp(lv, "-")) continue; /* MNLI: no gold label */
                if (label < 0) {
                    s = eb_fail(err, EB_ERR_FORMAT, "%s:%d: unknown label \"%.30s\"", path,
                                lineno, lv);
                    break;
                }
            }
            if (label < 0 || label >= num_labels) {
                s = eb_fail(err, EB_ERR_FORMAT, "%s:%d: label %d outside 0..%d", path, lineno,
                            label, num_labels - 1);
                break;
            }
        }
        s = eb_tokenize(tok, cols[ca], cb >= 0 ? cols[cb] : NULL, max_len, enc, err);
        if (s == EB_ERR_INPUT) { /* empty text: skip the row */
            s = EB_OK;
            continue;
        }
        if (s != EB_OK) {
            eb_fail_prefix(err, "%s:%d", path, lineno);
            break;
        }
        s = eb_tdata_add(&b, enc->ids, enc->type_ids, enc->n, label, target, err);
    }
out:
    eb_tdata_finish(&b, out);
    eb_free(NULL, enc);
    eb_free(NULL, data);
    if (s == EB_OK && out->n == 0) s = eb_fail(err, EB_ERR_FORMAT, "%s: no examples", path);
    if (s != EB_OK) eb_train_data_free(out);
    return s;
}
