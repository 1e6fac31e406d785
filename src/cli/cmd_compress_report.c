/* cmd_compress_report.c - edgebert compress-report: what compression does
 * to a model, for the README's table: sizes (fp32 vs stored), densities,
 * and the task metric of the fp32 and af8 paths over a GLUE TSV file, with
 * the FLOPs per sentence the engine really did. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "edgebert/data.h"
#include "model/tensors.h"

#define CMD "compress-report"

static const char INTRO[] =
    "MODEL is a bundle or a HuggingFace checkpoint directory.  Reports the model's size in\n"
    "fp32 and as stored, the word-embedding and encoder densities, and the task metric over\n"
    "the file with --precision fp32 and af8 (policy base by default).\n";

typedef struct sizes {
    double fp32_bytes, stored_bytes, shared_bytes, task_bytes, file_bytes;
    double emb_values, emb_nonzero, emb_bytes;
    double enc_values, enc_nonzero, enc_bytes;
    char emb_format[16];
} sizes;

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void add_tensors(sizes *s, const cJSON *arr) {
    const cJSON *t;
    cJSON_ArrayForEach(t, arr) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(t, "name");
        const char *name = cJSON_IsString(nm) ? nm->valuestring : "";
        double values = num(t, "values"), nz = num(t, "nonzero"), bytes = num(t, "bytes");
        s->fp32_bytes += 4 * values;
        eb_tensor_match tm;
        const int known = eb_tensor_lookup(name, &tm);
        if (known && tm.row->id == EB_T_WORD) {
            s->emb_values += values, s->emb_nonzero += nz, s->emb_bytes += bytes;
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(t, "format");
            snprintf(s->emb_format, sizeof s->emb_format, "%s",
                     cJSON_IsString(f) ? f->valuestring : "?");
        }
        if (known && tm.role == EB_ROLE_ENC_MATRIX)
            s->enc_values += values, s->enc_nonzero += nz, s->enc_bytes += bytes;
    }
}

/* Sizes of one task (shared tensors + its own) from eb_model_info_json. */
static int model_sizes(const char *path, const char *task, sizes *s) {
    memset(s, 0, sizeof *s);
    char *js = NULL;
    eb_error err = {0};
    if (eb_model_info_json(path, &js, &err) != EB_OK) {
        fprintf(stderr, "edgebert compress-report: %s\n", err.msg);
        return 0;
    }
    cJSON *root = cJSON_Parse(js);
    free(js);
    if (!root) {
        fprintf(stderr, "edgebert compress-report: %s: unreadable model description\n", path);
        return 0;
    }
    s->file_bytes = num(root, "file_bytes");
    s->shared_bytes = num(root, "shared_bytes");
    add_tensors(s, cJSON_GetObjectItemCaseSensitive(root, "shared"));
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(root, "tasks"), *t, *found = NULL;
    cJSON_ArrayForEach(t, tasks) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(t, "name");
        if (!found || (task && cJSON_IsString(nm) && !strcmp(nm->valuestring, task))) found = t;
    }
    if (found) {
        s->task_bytes = num(found, "task_bytes");
        add_tensors(s, cJSON_GetObjectItemCaseSensitive(found, "tensors"));
    }
    s->stored_bytes = s->shared_bytes + s->task_bytes;
    cJSON_Delete(root);
    return 1;
}

typedef struct run_stats {
    eb_glue_scores sc;
    double mean_flops, mean_flops_dense, mean_exit;
    int *pred;
} run_stats;

int eb_cmd_compress_report(int argc, char **argv) {
    eb_cli_scoring ev = {.p = eb_run_params_default()};
    ev.p.policy = EB_POLICY_BASE;
    eb_opt rows[EB_CLI_SCORING_OPTS];
    eb_opt_spec spec = {.cmd = CMD,
                        .synopsis = "-m MODEL --data DEV.tsv --task NAME [options]",
                        .intro = INTRO,
                        .outro = EB_CLI_SCORING_HELP,
                        .opts = rows};
    spec.nopts = eb_cli_scoring_opts(rows, &ev);
    int rc = eb_opt_parse(&spec, argc, argv);
    if (rc < 0) rc = eb_cli_scoring_check(CMD, &ev);
    if (rc >= 0) return rc;
    rc = eb_cli_scoring_open("compress-report", &ev);
    if (rc) {
        eb_cli_scoring_close(&ev);
        return rc;
    }
    char mbuf[1024];
    const char *mpath = eb_cli_model_path(ev.model, mbuf, sizeof mbuf);
    const eb_task_info *ti = ev.ti;
    const eb_config *cfg = ev.cfg;
    const int *inv = ev.inv;
    eb_run_params p = ev.p;
    const int n = ev.n;
    eb_error err = {0};
    run_stats rs[2];
    memset(rs, 0, sizeof rs);
    float *score = NULL;
    int *exits = NULL;
    rc = 1;
    score = calloc((size_t)n + 1, sizeof *score);
    exits = calloc((size_t)n + 1, sizeof *exits);
    for (int k = 0; k < 2; k++)
        rs[k].pred = calloc((size_t)n + 1, sizeof(int));
    if (!score || !exits || !rs[0].pred || !rs[1].pred) {
        fprintf(stderr, "edgebert compress-report: out of memory\n");
        goto done;
    }
    const eb_precision precs[2] = {EB_PRECISION_FP32, EB_PRECISION_AF8};
    for (int k = 0; k < 2; k++) {
        p.precision = precs[k];
        double fl = 0, fd = 0;
        for (int i = 0; i < n; i++) {
            eb_result r;
            const eb_example *ex = &ev.ds->rows[i];
            if (eb_classify(ev.ctx, ex->text_a, ex->text_b, &p, &r, &err) != EB_OK) {
                fprintf(stderr, "edgebert compress-report: %s:%ld: %s\n", ev.data, ex->line,
                        err.msg);
                goto done;
            }
            rs[k].pred[i] = inv[r.label] >= 0 ? inv[r.label] : 0;
            score[i] = r.logits[0];
            exits[i] = r.exit_layer;
            fl += r.flops;
            fd += r.flops_dense;
        }
        eb_dataset saved = *ev.ds;
        saved.n = n;
        if (eb_glue_score(&saved, ti->num_labels == 1 ? NULL : rs[k].pred,
                          ti->num_labels == 1 ? score : NULL, &rs[k].sc, &err) != EB_OK) {
            fprintf(stderr, "edgebert compress-report: %s\n", err.msg);
            goto done;
        }
        long hist[EB_MAX_LAYERS] = {0};
        eb_exit_histogram(exits, n, cfg->num_hidden_layers, hist, &rs[k].mean_exit, NULL);
        rs[k].mean_flops = fl / n;
        rs[k].mean_flops_dense = fd / n;
    }
    int agree = 0;
    for (int i = 0; i < n; i++)
        agree += rs[0].pred[i] == rs[1].pred[i];
    sizes sz;
    if (!model_sizes(mpath, p.task, &sz)) goto done;
    const char *names[2] = {eb_precision_name(precs[0]), eb_precision_name(precs[1])};
    if (ev.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", mpath);
        cJSON_AddStringToObject(o, "task", ti->name);
        cJSON_AddStringToObject(o, "model_task", p.task ? p.task : eb_model_task_name(ev.m, 0));
        cJSON_AddNumberToObject(o, "n", n);
        cJSON_AddNumberToObject(o, "file_bytes", sz.file_bytes);
        cJSON_AddNumberToObject(o, "fp32_bytes", sz.fp32_bytes);
        cJSON_AddNumberToObject(o, "stored_bytes", sz.stored_bytes);
        cJSON_AddNumberToObject(o, "shared_bytes", sz.shared_bytes);
        cJSON_AddNumberToObject(o, "task_bytes", sz.task_bytes);
        cJSON_AddNumberToObject(o, "compression",
                                sz.stored_bytes > 0 ? sz.fp32_bytes / sz.stored_bytes : 0);
        cJSON *e = cJSON_AddObjectToObject(o, "word_embeddings");
        cJSON_AddStringToObject(e, "format", sz.emb_format);
        cJSON_AddNumberToObject(e, "density",
                                sz.emb_values > 0 ? sz.emb_nonzero / sz.emb_values : 0);
        cJSON_AddNumberToObject(e, "fp32_bytes", 4 * sz.emb_values);
        cJSON_AddNumberToObject(e, "bytes", sz.emb_bytes);
        cJSON *en = cJSON_AddObjectToObject(o, "encoder");
        cJSON_AddNumberToObject(en, "density",
                                sz.enc_values > 0 ? sz.enc_nonzero / sz.enc_values : 0);
        cJSON_AddNumberToObject(en, "fp32_bytes", 4 * sz.enc_values);
        cJSON_AddNumberToObject(en, "bytes", sz.enc_bytes);
        for (int k = 0; k < 2; k++) {
            cJSON *r = cJSON_AddObjectToObject(o, names[k]);
            const eb_glue_scores *sc = &rs[k].sc;
            double vals[5] = {sc->accuracy, sc->f1, sc->matthews, sc->pearson, sc->spearman};
            const char *keys[5] = {"accuracy", "f1", "matthews", "pearson", "spearman"};
            for (int j = 0; j < 5; j++)
                if (isnan(vals[j]))
                    cJSON_AddNullToObject(r, keys[j]);
                else
                    cJSON_AddNumberToObject(r, keys[j], vals[j]);
            cJSON_AddNumberToObject(r, "mean_exit_layer", rs[k].mean_exit);
            cJSON_AddNumberToObject(r, "mean_flops", rs[k].mean_flops);
            cJSON_AddNumberToObject(r, "mean_flops_dense", rs[k].mean_flops_dense);
        }
        cJSON_AddNumberToObject(o, "label_agreement", (double)agree / n);
        char *s = cJSON_PrintUnformatted(o);
        if (s) printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("model %s, task %s (%s), %d examples\n", mpath,
               p.task ? p.task : eb_model_task_name(ev.m, 0), ti->display, n);
        printf("size              fp32 %.3f MB, stored %.3f MB (%.1fx); file %.3f MB, shared %.3f "
               "MB, task %.3f MB\n",
               sz.fp32_bytes / 1e6, sz.stored_bytes / 1e6,
               sz.stored_bytes > 0 ? sz.fp32_bytes / sz.stored_bytes : 0, sz.file_bytes / 1e6,
               sz.shared_bytes / 1e6, sz.task_bytes / 1e6);
        printf("word embeddings   %s, density %.3f, fp32 %.3f MB, stored %.3f MB\n", sz.emb_format,
               sz.emb_values > 0 ? sz.emb_nonzero / sz.emb_values : 0, 4 * sz.emb_values / 1e6,
               sz.emb_bytes / 1e6);
        printf("encoder matrices  density %.3f, fp32 %.3f MB, stored %.3f MB\n",
               sz.enc_values > 0 ? sz.enc_nonzero / sz.enc_values : 0, 4 * sz.enc_values / 1e6,
               sz.enc_bytes / 1e6);
        for (int k = 0; k < 2; k++) {
            const eb_glue_scores *sc = &rs[k].sc;
            printf("%-4s              ", names[k]);
            if (!isnan(sc->accuracy)) printf("accuracy %.4f  ", sc->accuracy);
            if (!isnan(sc->f1)) printf("F1 %.4f  ", sc->f1);
            if (!isnan(sc->matthews)) printf("MCC %.4f  ", sc->matthews);
            if (!isnan(sc->pearson)) printf("Pearson %.4f  ", sc->pearson);
            printf("exit %.2f  GFLOP/sentence %.4f (dense %.4f)\n", rs[k].mean_exit,
                   rs[k].mean_flops / 1e9, rs[k].mean_flops_dense / 1e9);
        }
        printf("labels agree      %.2f %%\n", 100.0 * agree / n);
    }
    rc = 0;
done:
    free(score);
    free(exits);
    free(rs[0].pred);
    free(rs[1].pred);
    eb_cli_scoring_close(&ev);
    return rc;
}
