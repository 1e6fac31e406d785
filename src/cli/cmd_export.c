/* cmd_export.c - edgebert export: one task of a bundle (or a checkpoint) as a
 * HuggingFace ALBERT checkpoint directory. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

static void usage(void) {
    fprintf(stderr,
            "usage: edgebert export [-m MODEL] [--task NAME] --out DIR [--force]\n"
            "Writes one task of a bundle (or a checkpoint) as a HuggingFace ALBERT checkpoint\n"
            "directory: config.json (with the task's thresholds, predictor layer and truncation as\n"
            "edgebert_* keys), model.safetensors (F32, AdaptivFloat8 and bitmask forms decoded),\n"
            "spiece.model and exit_lut.csv.  The directory can be evaluated, fine-tuned\n"
            "(train --init DIR) or packed again.\n"
            "  -m MODEL      .ebb bundle or checkpoint directory (default as for classify)\n"
            "  --task NAME   the bundle task (default: the first)\n"
            "  --out DIR     created when missing\n"
            "  --force       replace a checkpoint already in DIR\n");
}

int eb_cmd_export(int argc, char **argv) {
    const char *model = NULL, *task = NULL, *out = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if ((!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) && v) model = argv[++i];
        else if (!strcmp(argv[i], "--task") && v) task = argv[++i];
        else if ((!strcmp(argv[i], "--out") || !strcmp(argv[i], "-o")) && v) out = argv[++i];
        else if (!strcmp(argv[i], "--force")) force = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return usage(), 0;
        else {
            fprintf(stderr, "edgebert export: unknown or incomplete option %s\n", argv[i]);
            return usage(), 2;
        }
    }
    if (!out) {
        fprintf(stderr, "edgebert export: --out DIR is required\n");
        return usage(), 2;
    }
    char buf[1024], probe[1100];
    const char *path = eb_cli_model_path(model, buf, sizeof buf);
    snprintf(probe, sizeof probe, "%s/model.safetensors", out);
    struct stat st;
    if (!force && stat(probe, &st) == 0) {
        fprintf(stderr, "edgebert export: %s already holds a checkpoint (--force replaces it)\n",
                out);
        return 2;
    }
    eb_error err = {0};
    eb_load_params lp = eb_load_params_default();
    lp.pack_weights = 0;
    lp.log = eb_cli_log;
    eb_model *m = NULL;
    if (eb_model_load(path, &lp, &m, &err) != EB_OK) {
        fprintf(stderr, "edgebert export: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    if (eb_model_export(m, task, out, &err) != EB_OK) {
        fprintf(stderr, "edgebert export: %s\n", err.msg);
        rc = err.status == EB_ERR_ARG ? 2 : 1;
    } else {
        fprintf(stderr, "edgebert export: wrote task %s of %s to %s\n",
                task ? task : eb_model_task_name(m, 0), path, out);
    }
    eb_model_free(m);
    return rc;
}
