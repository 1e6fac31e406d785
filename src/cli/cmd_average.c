/* cmd_average.c - edgebert average: the uniform average of checkpoints
 * fine-tuned from one initialisation (a model soup; src/train/average.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "edgebert/train.h"

static const char INTRO[] =
    "Writes the uniform average of the checkpoints' weights (a model soup) to DIR:\n"
    "model.safetensors (F32) with the first checkpoint's config.json and spiece.model.\n"
    "The checkpoints must share the architecture, tensors and tokenizer; average models\n"
    "fine-tuned from one initialisation (e.g. one pretrained model, several seeds).\n"
    "Every weight is averaged: average before pruning (masks average to their union).\n"
    "An exit_lut.csv is not copied: train the predictor on the average.\n";

int eb_cmd_average(int argc, char **argv) {
    const char *out = NULL;
    int json = 0, n = 0;
    const char **dirs = calloc((size_t)argc + 1, sizeof *dirs);
    if (!dirs) {
        fprintf(stderr, "edgebert average: out of memory\n");
        return 1;
    }
    eb_opt rows[] = {
        {"-o|--out", EB_OPT_STR, &out, 0, 0, 0, "DIR", "the averaged checkpoint to write", NULL},
        {"--json", EB_OPT_FLAG, &json, 0, 0, 0, NULL, "the report as one JSON object", NULL},
    };
    eb_opt_spec spec = {.cmd = "average",
                        .synopsis = "--out DIR [--json] [--] CHECKPOINT CHECKPOINT...",
                        .intro = INTRO,
                        .opts = rows,
                        .nopts = EB_OPT_COUNT(rows),
                        .pos = dirs,
                        .max_pos = argc,
                        .npos = &n};
    int prc = eb_opt_parse(&spec, argc, argv);
    if (prc >= 0) {
        free(dirs);
        return prc;
    }
    if (!out || n < 1) {
        fprintf(stderr, "edgebert average: --out and at least one checkpoint are required\n");
        free(dirs);
        eb_opt_usage(&spec, stderr);
        return 2;
    }
    eb_error err = {0};
    eb_average_report rep;
    eb_status s = eb_average_checkpoints(dirs, n, out, &rep, &err);
    free(dirs);
    if (s != EB_OK) {
        /* the library's own messages start "average: " */
        fprintf(stderr, "edgebert %s%s\n", strncmp(err.msg, "average: ", 9) ? "average: " : "",
                err.msg);
        return 1;
    }
    if (json)
        printf("{\"checkpoints\": %d, \"tensors\": %d, \"parameters\": %zu}\n", rep.checkpoints,
               rep.tensors, rep.parameters);
    else
        printf("%s: the average of %d checkpoints (%d tensors, %zu parameters)\n", out,
               rep.checkpoints, rep.tensors, rep.parameters);
    return 0;
}
