/* tasks.c - the GLUE tasks: names, label orders, model label matching. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/data_internal.h"
#include "util/util.h"

static const char *const k_cola_labels[] = {"unacceptable", "acceptable"};
static const char *const k_sst2_labels[] = {"negative", "positive"};
static const char *const k_mrpc_labels[] = {"not_equivalent", "equivalent"};
static const char *const k_qqp_labels[] = {"not_duplicate", "duplicate"};
static const char *const k_mnli_labels[] = {"entailment", "neutral", "contradiction"};
static const char *const k_nli2_labels[] = {"entailment", "not_entailment"};
static const char *const k_wnli_labels[] = {"not_entailment", "entailment"};

/* Labels as they are written in the files, in the same order. */
static const char *const k_raw01[] = {"0", "1"};

static const eb_task_info k_tasks[EB_TASK_COUNT] = {
    {EB_TASK_COLA, "cola", "CoLA", 0, 2, k_cola_labels, 0, 1, 0},
    {EB_TASK_SST2, "sst2", "SST-2", 0, 2, k_sst2_labels, 0, 0, 0},
    {EB_TASK_MRPC, "mrpc", "MRPC", 1, 2, k_mrpc_labels, 1, 0, 0},
    {EB_TASK_QQP, "qqp", "QQP", 1, 2, k_qqp_labels, 1, 0, 0},
    {EB_TASK_STSB, "stsb", "STS-B", 1, 1, NULL, 0, 0, 0},
    {EB_TASK_MNLI, "mnli", "MNLI", 1, 3, k_mnli_labels, 0, 0, 0},
    {EB_TASK_QNLI, "qnli", "QNLI", 1, 2, k_nli2_labels, 0, 0, 0},
    {EB_TASK_RTE, "rte", "RTE", 1, 2, k_nli2_labels, 0, 0, 0},
    {EB_TASK_WNLI, "wnli", "WNLI", 1, 2, k_wnli_labels, 0, 0, 0},
    /* reviews of 230 words on average, 13 % longer than 512 tokens: the first
     * quarter of the room from the head, the rest from the tail (Sun et al.
     * 2019: 128 + 382 of 512 is the best cut for IMDb) */
    {EB_TASK_IMDB, "imdb", "IMDB", 0, 2, k_sst2_labels, 0, 0, 128},
};

static const struct {
    const char *name;
    eb_task task;
} k_aliases[] = {
    {"cola", EB_TASK_COLA},         {"sst2", EB_TASK_SST2},
    {"sst-2", EB_TASK_SST2},        {"sst_2", EB_TASK_SST2},
    {"mrpc", EB_TASK_MRPC},         {"qqp", EB_TASK_QQP},
    {"stsb", EB_TASK_STSB},         {"sts-b", EB_TASK_STSB},
    {"sts_b", EB_TASK_STSB},        {"mnli", EB_TASK_MNLI},
    {"mnli-m", EB_TASK_MNLI},       {"mnli-mm", EB_TASK_MNLI},
    {"mnli_matched", EB_TASK_MNLI}, {"mnli_mismatched", EB_TASK_MNLI},
    {"qnli", EB_TASK_QNLI},         {"rte", EB_TASK_RTE},
    {"wnli", EB_TASK_WNLI},         {"imdb", EB_TASK_IMDB},
};

const char *eb_task_names(void) {
    return "cola, sst2 (sst-2), mrpc, qqp, stsb (sts-b), mnli (mnli-m, mnli-mm), qnli, rte, wnli, "
           "imdb";
}

const eb_task_info *eb_task_get(eb_task task) {
    if ((int)task < 0 || task >= EB_TASK_COUNT) return NULL;
    return &k_tasks[task];
}

eb_status eb_task_lookup(const char *name, const eb_task_info **out, eb_error *err) {
    if (out) *out = NULL;
    if (!name || !out) return eb_fail(err, EB_ERR_ARG, "task: no task name given");
    for (size_t i = 0; i < sizeof k_aliases / sizeof k_aliases[0]; i++) {
        if (!strcasecmp(name, k_aliases[i].name)) {
            *out = &k_tasks[k_aliases[i].task];
            return EB_OK;
        }
    }
    return eb_fail(err, EB_ERR_ARG, "unknown task '%.60s' (known tasks: %s)", name,
                   eb_task_names());
}

const char *const *eb_task_raw_labels(const eb_task_info *t) {
    switch (t->task) {
    case EB_TASK_COLA:
    case EB_TASK_SST2:
    case EB_TASK_MRPC:
    case EB_TASK_QQP:
    case EB_TASK_IMDB:
    case EB_TASK_WNLI: return k_raw01;
    case EB_TASK_MNLI:
    case EB_TASK_QNLI:
    case EB_TASK_RTE: return t->label_names;
    default: return NULL;
    }
}

/* 1 when `s` is "LABEL_k" or "k" for this k, or empty. */
static int generic_name(const char *s, int k) {
    if (!s[0]) return 1;
    char buf[32];
    snprintf(buf, sizeof buf, "%d", k);
    if (!strcmp(s, buf)) return 1;
    snprintf(buf, sizeof buf, "LABEL_%d", k);
    return !strcasecmp(s, buf);
}

eb_status eb_task_label_map(const eb_task_info *task, const char (*id2label)[EB_LABEL_NAME_MAX],
                            int num_labels, int *map, eb_error *err) {
    if (!task || !map || num_labels < 1 || num_labels > EB_MAX_LABELS)
        return eb_fail(err, EB_ERR_ARG, "label map: bad arguments");
    if (task->num_labels != num_labels)
        return eb_fail(err, EB_ERR_ARG, "model has %d output label%s, task %s needs %d", num_labels,
                       num_labels == 1 ? "" : "s", task->display, task->num_labels);
    if (task->num_labels == 1) {
        map[0] = 0;
        return EB_OK;
    }
    const char *const *raw = eb_task_raw_labels(task);
    int used[EB_MAX_LABELS] = {0};
    int ok = id2label != NULL;
    for (int i = 0; ok && i < task->num_labels; i++) {
        int found = -1;
        for (int j = 0; j < num_labels; j++) {
            const char *s = id2label[j];
            if (!strcasecmp(s, task->label_names[i]) || !strcasecmp(s, raw[i])) {
                found = j;
                break;
            }
        }
        if (found < 0 || used[found])
            ok = 0;
        else {
            used[found] = 1;
            map[i] = found;
        }
    }
    if (ok) return EB_OK;
    int generic = 1;
    for (int j = 0; j < num_labels; j++)
        if (id2label && !generic_name(id2label[j], j)) generic = 0;
    if (generic) {
        for (int i = 0; i < num_labels; i++)
            map[i] = i;
        return EB_OK;
    }
    char names[256] = "", want[256] = "";
    for (int j = 0; j < num_labels; j++) {
        size_t len = strlen(names);
        snprintf(names + len, sizeof names - len, "%s%.32s", j ? ", " : "", id2label[j]);
        len = strlen(want);
        snprintf(want + len, sizeof want - len, "%s%s", j ? ", " : "", task->label_names[j]);
    }
    return eb_fail(err, EB_ERR_ARG, "model labels (%s) do not match the labels of %s (%s)", names,
                   task->display, want);
}
