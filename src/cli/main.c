/* main.c - the edgebert command: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include "edgebert.h"

int eb_cmd_trace(int argc, char **argv);
int eb_cmd_sim(int argc, char **argv);
int eb_cmd_sweep(int argc, char **argv);

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        printf("edgebert %s\n", EB_VERSION_STRING);
        return 0;
    }
    if (!strcmp(argv[1], "trace")) return eb_cmd_trace(argc - 1, argv + 1);
    if (!strcmp(argv[1], "sim")) return eb_cmd_sim(argc - 1, argv + 1);
    if (!strcmp(argv[1], "sweep")) return eb_cmd_sweep(argc - 1, argv + 1);
    fprintf(stderr, "edgebert: unknown command '%s'\n", argv[1]);
    return 2;
}
