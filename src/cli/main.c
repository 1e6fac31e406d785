/* main.c - the edgebert command: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include "edgebert.h"

int eb_cmd_cells(int argc, char **argv);

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        printf("edgebert %s\n", EB_VERSION_STRING);
        return 0;
    }
    if (!strcmp(argv[1], "cells")) return eb_cmd_cells(argc - 1, argv + 1);
    fprintf(stderr, "edgebert: unknown command '%s'\n", argv[1]);
    return 2;
}
