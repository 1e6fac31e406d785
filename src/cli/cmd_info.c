/* cmd_info.c - edgebert info: what a checkpoint or bundle holds. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/fixedmem_info.h"
#include "model/bundle.h"

static const char INTRO[] =
    "Every tensor with its format, density and bytes; the shared embeddings and each task's\n"
    "part.  MODEL (or -m MODEL): checkpoint directory or .ebb bundle (default as for\n"
    "classify).  A bundle also shows its format version and checksums (verified by the load)\n"
    "and its fixed-memory sizes (include/edgebert/fixedmem.h).\n";

static double num(cJSON *o, const char *k) {
    cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void print_tensors(cJSON *list) {
    for (cJSON *t = list ? list->child : NULL; t; t = t->next) {
        char shape[64] = "";
        cJSON *sh = cJSON_GetObjectItem(t, "shape");
        for (cJSON *d = sh ? sh->child : NULL; d; d = d->next)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%.0f",
                     d == sh->child ? "" : "x", d->valuedouble);
        printf("  %-80s %-7s %-11s %6.1f%% %10.0f\n", cJSON_GetObjectItem(t, "name")->valuestring,
               cJSON_GetObjectItem(t, "format")->valuestring, shape, 100 * num(t, "density"),
               num(t, "bytes"));
    }
}

int eb_cmd_info(int argc, char **argv) {
    const char *model = NULL;
    int json = 0, max_tokens = 0;
    const char *pos[1] = {NULL};
    int npos = 0;
    eb_opt rows[] = {
        {"-m|--model", EB_OPT_STR, &model, 0, 0, 0, "MODEL", "the model (or as the argument)",
         NULL},
        {"--max-tokens", EB_OPT_INT, &max_tokens, 1, EB_MAX_TOKENS, 0, "N",
         "size the fixed-memory arena for N tokens (default: the model's maximum)", NULL},
        {"--json", EB_OPT_FLAG, &json, 0, 0, 0, NULL,
         "the same as one JSON object (tensors, file_bytes, shared_bytes, tasks,\n"
         "and for a bundle format, format_version, checksums (\"xxh3-64\" or\n"
         "\"none\"), checksums_verified and fixed_memory: max_tokens,\n"
         "image_bytes, heap_bytes, heap_peak_bytes, arena_bytes_fp32,\n"
         "arena_bytes_af8)",
         NULL},
    };
    eb_opt_spec spec = {.cmd = "info",
                        .synopsis = "[options] [MODEL]",
                        .intro = INTRO,
                        .opts = rows,
                        .nopts = EB_OPT_COUNT(rows),
                        .pos = pos,
                        .max_pos = 1,
                        .npos = &npos,
                        .too_many = "one MODEL at most"};
    int prc = eb_opt_parse(&spec, argc, argv);
    if (prc >= 0) return prc;
    if (npos) {
        if (model) {
            fprintf(stderr, "edgebert info: both -m %s and %s name the model\n", model, pos[0]);
            return 2;
        }
        model = pos[0];
    }
    char buf[PATH_MAX];
    const char *path = eb_cli_model_path(model, buf, sizeof buf);
    char *js;
    eb_error err = {0};
    if (eb_model_info_json(path, &js, &err) != EB_OK) {
        fprintf(stderr, "edgebert info: %s\n", err.msg);
        return 1;
    }
    eb_cli_fixedmem fm;
    int have_fm =
        eb_bundle_is_bundle(path) && eb_cli_fixedmem_info(path, max_tokens, &fm, &err) == EB_OK;
    if (json) {
        cJSON *jr = cJSON_Parse(js);
        free(js);
        if (have_fm) {
            cJSON *o = cJSON_AddObjectToObject(jr, "fixed_memory");
            cJSON_AddNumberToObject(o, "max_tokens", fm.max_tokens);
            cJSON_AddNumberToObject(o, "image_bytes", (double)fm.image_bytes);
            cJSON_AddNumberToObject(o, "heap_bytes", (double)fm.heap_bytes);
            cJSON_AddNumberToObject(o, "heap_peak_bytes", (double)fm.heap_peak_bytes);
            cJSON_AddNumberToObject(o, "arena_bytes_fp32", (double)fm.arena_fp32);
            cJSON_AddNumberToObject(o, "arena_bytes_af8", (double)fm.arena_af8);
        }
        char *out = cJSON_PrintUnformatted(jr);
        printf("%s\n", out);
        free(out);
        cJSON_Delete(jr);
        return 0;
    }
    cJSON *r = cJSON_Parse(js);
    free(js);
    printf("%s: %s, %.0f bytes\n", path, cJSON_GetObjectItem(r, "kind")->valuestring,
           num(r, "file_bytes"));
    if (cJSON_IsString(cJSON_GetObjectItem(r, "format")))
        printf("format: %s version %.0f, checksums: %s%s\n",
               cJSON_GetObjectItem(r, "format")->valuestring, num(r, "format_version"),
               cJSON_GetObjectItem(r, "checksums")->valuestring,
               cJSON_IsTrue(cJSON_GetObjectItem(r, "checksums_verified"))
                   ? " (every byte verified)"
                   : " (an older format: damage cannot be detected)");
    cJSON *we = cJSON_GetObjectItem(r, "word_embeddings");
    if (we)
        printf("word embeddings: %s, %.1f%% dense, %.3f MB\n",
               cJSON_GetObjectItem(we, "format")->valuestring, 100 * num(we, "density"),
               num(we, "bytes") / 1e6);
    printf("shared (%s): %.0f bytes",
           num(r, "shared_bytes") > num(r, "embedding_bytes") ? "embeddings and backbone"
                                                              : "embeddings",
           num(r, "shared_bytes"));
    if (num(r, "tokenizer_bytes") > 0) printf(", tokenizer %.0f bytes", num(r, "tokenizer_bytes"));
    printf("\n  %-80s %-7s %-11s %7s %10s\n", "tensor", "format", "shape", "density", "bytes");
    print_tensors(cJSON_GetObjectItem(r, "shared"));
    cJSON *tasks = cJSON_GetObjectItem(r, "tasks");
    for (cJSON *t = tasks ? tasks->child : NULL; t; t = t->next) {
        printf("\ntask %s: %.0f bytes, %.0f layers, hidden %.0f, %.0f heads, %.0f off-ramps, "
               "encoder density %.1f%%",
               cJSON_GetObjectItem(t, "name")->valuestring, num(t, "task_bytes"),
               num(t, "num_layers"), num(t, "hidden_size"), num(t, "num_heads"), num(t, "offramps"),
               100 * num(t, "encoder_weight_density"));
        if (cJSON_GetObjectItem(t, "threshold")) printf(", threshold %.3g", num(t, "threshold"));
        if (cJSON_IsTrue(cJSON_GetObjectItem(t, "has_exit_predictor")))
            printf(", exit predictor after layer %.0f", num(t, "predict_after"));
        if (cJSON_GetObjectItem(t, "heads_off"))
            printf(", %.0f heads off (empty span)", num(t, "heads_off"));
        if (num(t, "adapter_size") > 0)
            printf(", adapters of size %.0f (%.0f bytes)", num(t, "adapter_size"),
                   num(t, "adapter_bytes"));
        if (num(t, "truncate_head") > 0)
            printf(", long texts cut to their first %.0f and last tokens", num(t, "truncate_head"));
        cJSON *sw = cJSON_GetObjectItem(t, "task_switch");
        if (sw)
            printf(
                "\n  switching to it reloads %.0f bytes (%.1f us, %.2f uJ); with its own encoder "
                "(EdgeBERT) %.0f bytes (%.1f us, %.2f uJ)",
                num(cJSON_GetObjectItem(sw, "adapter"), "bytes"),
                num(cJSON_GetObjectItem(sw, "adapter"), "time_us"),
                num(cJSON_GetObjectItem(sw, "adapter"), "energy_uj"),
                num(cJSON_GetObjectItem(sw, "edgebert"), "bytes"),
                num(cJSON_GetObjectItem(sw, "edgebert"), "time_us"),
                num(cJSON_GetObjectItem(sw, "edgebert"), "energy_uj"));
        printf("\n");
        print_tensors(cJSON_GetObjectItem(t, "tensors"));
    }
    printf("\nall tasks: %.0f bytes stored; as separate models %.0f bytes; EdgeBERT arrangement "
           "(shared embeddings, an encoder per task) %.0f bytes\n",
           num(r, "multi_task_bytes"), num(r, "separate_bytes"), num(r, "edgebert_bytes"));
    if (have_fm)
        printf(
            "\nfixed memory (%d tokens): image %zu bytes read-only, model heap %zu bytes (peak %zu "
            "while loading), arena %zu bytes fp32 / %zu bytes af8\n",
            fm.max_tokens, fm.image_bytes, fm.heap_bytes, fm.heap_peak_bytes, fm.arena_fp32,
            fm.arena_af8);
    cJSON_Delete(r);
    return 0;
}
