/* main.c - the edgebert command: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include "edgebert.h"

#ifndef EB_NO_BLAS
#include <cblas.h>
#define EB_REPORT_OPENBLAS 1 /* --version names the kernels OpenBLAS picked (OPENBLAS_CORETYPE) */
#endif

int eb_cmd_classify(int argc, char **argv);
int eb_cmd_eval(int argc, char **argv);
int eb_cmd_tokenize(int argc, char **argv);
int eb_cmd_pack(int argc, char **argv);
int eb_cmd_export(int argc, char **argv);
int eb_cmd_info(int argc, char **argv);
int eb_cmd_calibrate(int argc, char **argv);
int eb_cmd_cells(int argc, char **argv);
int eb_cmd_trace(int argc, char **argv);
int eb_cmd_sim(int argc, char **argv);
int eb_cmd_sweep(int argc, char **argv);
int eb_cmd_train(int argc, char **argv);
int eb_cmd_faults(int argc, char **argv);
int eb_cmd_prune(int argc, char **argv);
int eb_cmd_average(int argc, char **argv);
int eb_cmd_compress_report(int argc, char **argv);
int eb_cmd_bench(int argc, char **argv);
int eb_cmd_serve(int argc, char **argv);

typedef struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} command;

static const command commands[] = {
    {"classify", eb_cmd_classify,
     "label, probabilities, exit layer, V/F and energy of a sentence (pair)"},
    {"serve", eb_cmd_serve,
     "HTTP/JSON server: classify with dynamic batching, models, health, Prometheus metrics"},
    {"eval", eb_cmd_eval, "accuracy, exit layers, energy and deadline misses on a GLUE TSV file"},
    {"tokenize", eb_cmd_tokenize, "the token ids (and pieces) the model would see"},
    {"info", eb_cmd_info,
     "every tensor with its format, density and bytes; shared and per-task sizes"},
    {"calibrate", eb_cmd_calibrate,
     "thresholds for 1/2/5 %-pt accuracy drops, ee and lai (Table 3)"},
    {"trace", eb_cmd_trace, "replay recorded per-layer entropies: mean exit (and predicted) layer"},
    {"sim", eb_cmd_sim, "run a recorded trace through the accelerator model (cycles, V/F, energy)"},
    {"sweep", eb_cmd_sweep,
     "the paper's figures: CSV, JSON and SVG plots over MAC sizes, policies, targets"},
    {"bench", eb_cmd_bench,
     "edgebert's speed, one row per setting (markdown, CSV, JSON); --e2e: a dev set"},
    {"train", eb_cmd_train,
     "train a model: backbone (KD, spans, pruning), off-ramps, exit predictor"},
    {"prune", eb_cmd_prune,
     "magnitude-prune a fine-tuned checkpoint (encoder keep fraction, embedding percentile)"},
    {"average", eb_cmd_average,
     "average checkpoints fine-tuned from one initialisation (a model soup)"},
    {"pack", eb_cmd_pack, "build a multi-task bundle (shared embeddings, AdaptivFloat8, bitmasks)"},
    {"export", eb_cmd_export,
     "write a task of a bundle as a HuggingFace ALBERT checkpoint directory"},
    {"compress-report", eb_cmd_compress_report,
     "sizes, densities and accuracy fp32 vs af8 of a bundle or checkpoint"},
    {"cells", eb_cmd_cells, "ReRAM cell fault model: thresholds and fault rates per storage kind"},
    {"faults", eb_cmd_faults,
     "ReRAM fault injection into the stored word embeddings (paper Table 2)"},
};

static void usage(FILE *f) {
    fprintf(f,
            "edgebert %s - EdgeBERT: latency-aware multi-task ALBERT inference\n\n"
            "usage: edgebert COMMAND [options]   (edgebert COMMAND --help for its options)\n\n",
            EB_VERSION_STRING);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
#ifdef EB_REPORT_OPENBLAS
        printf("edgebert %s (OpenBLAS kernels: %s)\n", EB_VERSION_STRING, openblas_get_corename());
#else
        printf("edgebert %s\n", EB_VERSION_STRING);
#endif
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "edgebert: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
