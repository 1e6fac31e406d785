/* cmd_pack.c - edgebert pack: build a multi-task bundle from checkpoints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/bundle.h"

static const char INTRO[] =
    "       edgebert pack -o OUT.ebb --from BUNDLE.ebb\n"
    "Each DIR is a HuggingFace ALBERT checkpoint (config.json, model.safetensors, spiece.model,\n"
    "optionally exit_lut.csv).  The tasks must share bit-identical embeddings (trained frozen);\n"
    "the bundle stores them once, as AdaptivFloat8 non-zeros plus a bitmask.\n"
    "--from rewrites an existing bundle (an older format version too) in the current format,\n"
    "with its checksums; every tensor, the tokenizer and the predictor tables stay byte for\n"
    "byte the same.  The input is loaded and verified first; OUT may be the input itself.\n";

typedef struct pack_tasks {
    eb_pack_task t[64];
    int n;
} pack_tasks;

static int task_fn(void *dst, const char *cmd, const char *opt, const char *val) {
    pack_tasks *pt = dst;
    char *eq = strchr(val, '=');
    if (!eq || eq == val || !eq[1] || pt->n == 64) {
        fprintf(stderr, "edgebert %s: %s needs NAME=DIR (at most 64 tasks), got '%s'\n", cmd, opt,
                val);
        return 0;
    }
    *eq = 0; /* argv's own storage */
    pt->t[pt->n].name = val;
    pt->t[pt->n++].dir = eq + 1;
    return 1;
}

int eb_cmd_pack(int argc, char **argv) {
    const char *out = NULL, *from = NULL;
    pack_tasks pt = {.n = 0};
    int weights = 0, diff = 0;
    eb_pack_params pp = eb_pack_params_default();
    pp.log = eb_cli_log;
    eb_opt rows[] = {
        {"-o|--out", EB_OPT_STR, &out, 0, 0, 0, "OUT.ebb", "the bundle to write", NULL},
        {"--from", EB_OPT_STR, &from, 0, 0, 0, "BUNDLE.ebb",
         "rewrite this bundle in the current format, with checksums", NULL},
        {"--task", EB_OPT_FN, &pt, 0, 0, 0, "NAME=DIR", "a task and its checkpoint (repeatable)",
         task_fn},
        {"--weights", EB_OPT_CHOICE, &weights, 0, 0, 0, "af8|f32",
         "af8 (default): every matrix as AdaptivFloat8 (bitmask where smaller)", NULL},
        {"--emb-keep", EB_OPT_DOUBLE, &pp.emb_keep, 0, 1, EB_OPT_GT, "FRAC",
         "keep that fraction of the word-embedding values by magnitude,\n"
         "in (0, 1] (default 1)",
         NULL},
        {"--allow-different-embeddings", EB_OPT_FLAG, &diff, 0, 0, 0, NULL,
         "pack tasks whose embeddings differ: all use the first task's", NULL},
    };
    eb_opt_spec spec = {.cmd = "pack",
                        .synopsis = "-o OUT.ebb --task NAME=DIR [--task NAME=DIR ...] [options]",
                        .intro = INTRO,
                        .opts = rows,
                        .nopts = EB_OPT_COUNT(rows)};
    int prc = eb_opt_parse(&spec, argc, argv);
    if (prc >= 0) return prc;
    pp.weights = weights == 0 ? EB_WEIGHTS_AF8 : EB_WEIGHTS_F32;
    pp.allow_different_embeddings = diff;
    eb_pack_task *tasks = pt.t;
    int nt = pt.n;
    if (from && (!out || nt)) {
        fprintf(stderr, "edgebert pack: --from needs -o OUT.ebb and no --task\n");
        eb_opt_usage(&spec, stderr);
        return 2;
    }
    if (!from && (!out || nt == 0)) {
        fprintf(stderr, "edgebert pack: -o and at least one --task (or --from) are required\n");
        eb_opt_usage(&spec, stderr);
        return 2;
    }
    eb_error err = {0};
    if (from) {
        if (eb_bundle_rewrite(from, out, eb_cli_log, NULL, &err) != EB_OK) {
            fprintf(stderr, "edgebert pack: %s\n", err.msg);
            return 1;
        }
        fprintf(stderr, "edgebert pack: wrote %s (format version %d, with checksums) from %s\n",
                out, EB_BUNDLE_VERSION, from);
        return 0;
    }
    if (eb_bundle_pack(out, tasks, nt, &pp, &err) != EB_OK) {
        fprintf(stderr, "edgebert pack: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "edgebert pack: wrote %s (%d task%s)\n", out, nt, nt == 1 ? "" : "s");
    return 0;
}
