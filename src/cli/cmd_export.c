/* cmd_export.c - edgebert export: one task of a bundle (or a checkpoint) as a
 * HuggingFace ALBERT checkpoint directory. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

static const char INTRO[] =
    "Writes one task of a bundle (or a checkpoint) as a HuggingFace ALBERT checkpoint\n"
    "directory: config.json (with the task's thresholds, predictor layer and truncation as\n"
    "edgebert_* keys), model.safetensors (F32, AdaptivFloat8 and bitmask forms decoded),\n"
    "spiece.model and exit_lut.csv.  The directory can be evaluated, fine-tuned\n"
    "(train --init DIR) or packed again.\n";

int eb_cmd_export(int argc, char **argv) {
    const char *model = NULL, *task = NULL, *out = NULL;
    int force = 0;
    const eb_opt rows[] = {
        {"-m|--model", EB_OPT_STR, &model, 0, 0, 0, "MODEL",
         ".ebb bundle or checkpoint directory (default as for classify)", NULL},
        {"--task", EB_OPT_STR, &task, 0, 0, 0, "NAME", "the bundle task (default: the first)",
         NULL},
        {"-o|--out", EB_OPT_STR, &out, 0, 0, 0, "DIR", "created when missing", NULL},
        {"--force", EB_OPT_FLAG, &force, 0, 0, 0, NULL, "replace a checkpoint already in DIR",
         NULL},
    };
    eb_opt_spec spec = {.cmd = "export",
                        .synopsis = "[-m MODEL] [--task NAME] --out DIR [--force]",
                        .intro = INTRO,
                        .opts = rows,
                        .nopts = EB_OPT_COUNT(rows)};
    int prc = eb_opt_parse(&spec, argc, argv);
    if (prc >= 0) return prc;
    if (!out) {
        fprintf(stderr, "edgebert export: --out DIR is required\n");
        eb_opt_usage(&spec, stderr);
        return 2;
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
