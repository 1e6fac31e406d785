/* eb_tokenize - helper for the Python reference test.
 *   eb_tokenize SPIECE_MODEL < lines
 * Each input line is "text" or "text_a<TAB>text_b"; prints one line of
 * space-separated ids ([CLS] a [SEP] (b [SEP]), untruncated up to EB_MAX_TOKENS) per
 * line, or "ERROR <message>" when the line cannot be encoded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgebert.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: eb_tokenize SPIECE_MODEL < lines\n");
        return 2;
    }
    eb_error err;
    eb_tokenizer *tok = NULL;
    if (eb_tokenizer_load(argv[1], NULL, &tok, &err) != EB_OK) {
        fprintf(stderr, "eb_tokenize: %s\n", err.msg);
        return 1;
    }
    static eb_encoding enc;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        char *b = strchr(line, '\t');
        if (b) *b++ = 0;
        if (eb_tokenize(tok, line, b, EB_MAX_TOKENS, &enc, &err) != EB_OK) {
            printf("ERROR %s\n", err.msg);
            continue;
        }
        for (int i = 0; i < enc.n; i++)
            printf(i ? " %d" : "%d", enc.ids[i]);
        printf("\n");
    }
    free(line);
    eb_tokenizer_free(tok);
    return 0;
}
