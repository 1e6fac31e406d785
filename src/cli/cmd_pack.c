/* cmd_pack.c - edgebert pack: build a multi-task bundle from checkpoints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/bundle.h"

static void usage(void) {
    fprintf(stderr,
            "usage: edgebert pack -o OUT.ebb --task NAME=DIR [--task NAME=DIR ...]\n"
            "                     [--weights af8|f32] [--emb-keep FRAC] [--allow-different-embeddings]\n"
            "       edgebert pack -o OUT.ebb --from BUNDLE.ebb\n"
            "Each DIR is a HuggingFace ALBERT checkpoint (config.json, model.safetensors, spiece.model,\n"
            "optionally exit_lut.csv).  The tasks must share bit-identical embeddings (trained frozen);\n"
            "the bundle stores them once, as AdaptivFloat8 non-zeros plus a bitmask.\n"
            "--weights af8 (default) stores every matrix as AdaptivFloat8 (bitmask where smaller),\n"
            "--emb-keep keeps that fraction of the word-embedding values by magnitude (default 1).\n"
            "--from rewrites an existing bundle (an older format version too) in the current format,\n"
            "with its checksums; every tensor, the tokenizer and the predictor tables stay byte for byte\n"
            "the same.  The input is loaded and verified first; OUT may be the input itself.\n");
}

int eb_cmd_pack(int argc, char **argv) {
    const char *out = NULL, *from = NULL;
    eb_pack_task tasks[64];
    int nt = 0;
    eb_pack_params pp = eb_pack_params_default();
    pp.log = eb_cli_log;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "-o") && v) out = argv[++i];
        else if (!strcmp(argv[i], "--from") && v) from = argv[++i];
        else if (!strcmp(argv[i], "--task") && v) {
            char *eq = strchr(argv[++i], '=');
            if (!eq || eq == argv[i] || !eq[1] || nt == 64) {
                fprintf(stderr, "edgebert pack: --task needs NAME=DIR (at most 64 tasks)\n");
                return 2;
            }
            *eq = 0;
            tasks[nt].name = argv[i];
            tasks[nt++].dir = eq + 1;
        } else if (!strcmp(argv[i], "--weights") && v) {
            i++;
            if (!strcmp(v, "af8")) pp.weights = EB_WEIGHTS_AF8;
            else if (!strcmp(v, "f32")) pp.weights = EB_WEIGHTS_F32;
            else {
                fprintf(stderr, "edgebert pack: --weights must be af8 or f32\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--emb-keep") && v) {
            if (!eb_cli_parse_double("pack", "--emb-keep", argv[++i], &pp.emb_keep)) return 2;
            if (pp.emb_keep <= 0 || pp.emb_keep > 1) {
                fprintf(stderr, "edgebert pack: --emb-keep must be in (0, 1]\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--allow-different-embeddings")) pp.allow_different_embeddings = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return usage(), 0;
        else {
            fprintf(stderr, "edgebert pack: unknown or incomplete option %s\n", argv[i]);
            return usage(), 2;
        }
    }
    eb_error err = {0};
    if (from) {
        if (!out || nt) {
            fprintf(stderr, "edgebert pack: --from needs -o OUT.ebb and no --task\n");
            return usage(), 2;
        }
        if (eb_bundle_rewrite(from, out, eb_cli_log, NULL, &err) != EB_OK) {
            fprintf(stderr, "edgebert pack: %s\n", err.msg);
            return 1;
        }
        fprintf(stderr, "edgebert pack: wrote %s (format version %d, with checksums) from %s\n", out,
                EB_BUNDLE_VERSION, from);
        return 0;
    }
    if (!out || nt == 0) return usage(), 2;
    if (eb_bundle_pack(out, tasks, nt, &pp, &err) != EB_OK) {
        fprintf(stderr, "edgebert pack: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "edgebert pack: wrote %s (%d task%s)\n", out, nt, nt == 1 ? "" : "s");
    return 0;
}
