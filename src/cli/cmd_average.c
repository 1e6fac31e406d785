/* cmd_average.c - edgebert average: the uniform average of checkpoints
 * fine-tuned from one initialisation (a model soup; src/train/average.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "edgebert/train.h"

static void usage(void) {
    fprintf(stderr,
            "usage: edgebert average --out DIR [--json] CHECKPOINT CHECKPOINT...\n"
            "Writes the uniform average of the checkpoints' weights (a model soup) to DIR:\n"
            "model.safetensors (F32) with the first checkpoint's config.json and spiece.model.\n"
            "The checkpoints must share the architecture, tensors and tokenizer; average models\n"
            "fine-tuned from one initialisation (e.g. one pretrained model, several seeds).\n"
            "Every weight is averaged: average before pruning (masks average to their union).\n"
            "An exit_lut.csv is not copied: train the predictor on the average.\n");
}

int eb_cmd_average(int argc, char **argv) {
    const char *out = NULL;
    int json = 0, n = 0;
    const char **dirs = calloc((size_t)argc + 1, sizeof *dirs);
    if (!dirs) {
        fprintf(stderr, "edgebert average: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "--out") || !strcmp(argv[i], "-o")) && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            free(dirs);
            return usage(), 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "edgebert average: unknown or incomplete option %s\n", argv[i]);
            free(dirs);
            return usage(), 2;
        } else
            dirs[n++] = argv[i];
    }
    if (!out || n < 1) {
        fprintf(stderr, "edgebert average: --out and at least one checkpoint are required\n");
        free(dirs);
        return usage(), 2;
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
