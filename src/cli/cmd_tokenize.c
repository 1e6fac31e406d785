/* cmd_tokenize.c - `edgebert tokenize`: show ALBERT token ids and pieces. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_tokenize.h"
#include "edgebert.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: edgebert tokenize [-m MODEL | --spm SPIECE_MODEL] [--max-len N] [--json] [TEXT [TEXT_B]]\n"
            "Without -m or --spm, the default model's tokenizer is used.\n"
            "  Prints [CLS] TEXT [SEP] (TEXT_B [SEP]) as ids and pieces, cut longest-first\n"
            "  to N tokens (default 512, at most %d).  Without TEXT, reads lines from stdin,\n"
            "  each \"text\" or \"text_a<TAB>text_b\".  --json: one JSON object per input:\n"
            "  {\"ids\":[...],\"pieces\":[...],\"type_ids\":[...],\"truncated\":false}\n",
            EB_MAX_TOKENS);
}

int eb_cli_print_tokens(const eb_tokenizer *tok, const char *a, const char *b, int max_len,
                        int json) {
    eb_encoding *e = malloc(sizeof *e);
    if (!e) {
        fprintf(stderr, "edgebert tokenize: out of memory\n");
        return 1;
    }
    eb_error err;
    eb_status s = eb_tokenize(tok, a, b, max_len, e, &err);
    if (s != EB_OK) {
        fprintf(stderr, "edgebert tokenize: %s\n", err.msg);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "error", err.msg);
            char *txt = cJSON_PrintUnformatted(o);
            if (txt) printf("%s\n", txt);
            free(txt);
            cJSON_Delete(o);
        }
        free(e);
        return 1;
    }
    int rc = 0;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON *ids = cJSON_AddArrayToObject(o, "ids");
        cJSON *pieces = cJSON_AddArrayToObject(o, "pieces");
        cJSON *types = cJSON_AddArrayToObject(o, "type_ids");
        for (int i = 0; i < e->n; i++) {
            const char *p = eb_tokenizer_piece(tok, e->ids[i]);
            cJSON_AddItemToArray(ids, cJSON_CreateNumber(e->ids[i]));
            cJSON_AddItemToArray(pieces, cJSON_CreateString(p ? p : ""));
            cJSON_AddItemToArray(types, cJSON_CreateNumber(e->type_ids[i]));
        }
        cJSON_AddBoolToObject(o, "truncated", e->truncated);
        char *txt = cJSON_PrintUnformatted(o);
        if (txt)
            printf("%s\n", txt);
        else
            rc = 1, fprintf(stderr, "edgebert tokenize: out of memory\n");
        free(txt);
        cJSON_Delete(o);
    } else {
        printf("%d tokens%s\n", e->n, e->truncated ? " (truncated)" : "");
        printf("%5s %7s %4s  %s\n", "pos", "id", "type", "piece");
        for (int i = 0; i < e->n; i++) {
            const char *p = eb_tokenizer_piece(tok, e->ids[i]);
            printf("%5d %7d %4d  %s\n", i, e->ids[i], e->type_ids[i], p ? p : "?");
        }
    }
    free(e);
    return rc;
}

int eb_cmd_tokenize(int argc, char **argv) {
    const char *spm = NULL, *model = NULL, *pos[2] = {NULL, NULL};
    int max_len_given = 0;
    int npos = 0, json = 0, max_len = 512;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "edgebert tokenize: %s needs a value\n", a);
                return 2;
            }
            model = argv[++i];
        } else if (!strcmp(a, "--spm") || !strcmp(a, "--max-len")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "edgebert tokenize: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--spm")) {
                spm = v;
            } else {
                char *end;
                long n = strtol(v, &end, 10);
                if (*v == 0 || *end || n < 3 || n > EB_MAX_TOKENS) {
                    fprintf(stderr, "edgebert tokenize: --max-len must be 3..%d, not '%s'\n",
                            EB_MAX_TOKENS, v);
                    return 2;
                }
                max_len = (int)n;
                max_len_given = 1;
            }
        } else if (a[0] == '-' && a[1] == '-' && a[2] != 0) {
            fprintf(stderr, "edgebert tokenize: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else {
            if (npos == 2) {
                fprintf(stderr, "edgebert tokenize: at most two texts (TEXT TEXT_B)\n");
                return 2;
            }
            pos[npos++] = a;
        }
    }
    eb_tokenizer *tok = NULL;
    eb_model *m = NULL;
    const eb_tokenizer *use;
    eb_error err;
    if (spm) {
        if (eb_tokenizer_load(spm, NULL, &tok, &err) != EB_OK) {
            fprintf(stderr, "edgebert tokenize: %s\n", err.msg);
            return 1;
        }
        use = tok;
    } else {
        m = eb_cli_load_model("tokenize", model);
        if (!m) return 1;
        use = eb_model_tokenizer(m);
        if (!use) {
            fprintf(stderr, "edgebert tokenize: the model has no tokenizer (spiece.model)\n");
            eb_model_free(m);
            return 1;
        }
        int mp = eb_model_config(m)->max_position_embeddings;
        if (!max_len_given || max_len > mp) max_len = mp < EB_MAX_TOKENS ? mp : EB_MAX_TOKENS;
    }
    int rc = 0;
    if (npos) {
        rc = eb_cli_print_tokens(use, pos[0], pos[1], max_len, json);
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, stdin)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = 0;
            char *b = strchr(line, '\t');
            if (b) *b++ = 0;
            if (eb_cli_print_tokens(use, line, b, max_len, json)) rc = 1;
        }
        free(line);
    }
    eb_tokenizer_free(tok);
    eb_model_free(m);
    return rc;
}
