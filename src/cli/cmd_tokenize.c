/* cmd_tokenize.c - `edgebert tokenize`: show ALBERT token ids and pieces. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_tokenize.h"
#include "edgebert.h"

static const char INTRO[] =
    "Without -m or --spm, the default model's tokenizer is used.  Prints [CLS] TEXT [SEP]\n"
    "(TEXT_B [SEP]) as ids and pieces, cut longest-first to the length limit.  Without TEXT,\n"
    "reads lines from stdin, each \"text\" or \"text_a<TAB>text_b\".  A TEXT starting with\n"
    "'-' goes after --.\n";

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
    int npos = 0, json = 0, max_len = 0;
    eb_opt rows[] = {
        {"-m|--model", EB_OPT_STR, &model, 0, 0, 0, "MODEL", "the model whose tokenizer to use", NULL},
        {"--spm", EB_OPT_STR, &spm, 0, 0, 0, "SPIECE_MODEL", "a SentencePiece model file instead",
         NULL},
        {"--max-len", EB_OPT_INT, &max_len, 3, EB_MAX_TOKENS, 0, "N",
         "cut to N tokens (default: the model's positions; 512 with --spm)", NULL},
        {"--json", EB_OPT_FLAG, &json, 0, 0, 0, NULL,
         "one JSON object per input:\n"
         "{\"ids\":[...],\"pieces\":[...],\"type_ids\":[...],\"truncated\":false}",
         NULL},
    };
    eb_opt_spec spec = {.cmd = "tokenize",
                        .synopsis = "[-m MODEL | --spm SPIECE_MODEL] [options] [--] [TEXT [TEXT_B]]",
                        .intro = INTRO,
                        .opts = rows,
                        .nopts = EB_OPT_COUNT(rows),
                        .pos = pos,
                        .max_pos = 2,
                        .npos = &npos,
                        .too_many = "at most two texts (TEXT TEXT_B)"};
    int prc = eb_opt_parse(&spec, argc, argv);
    if (prc >= 0) return prc;
    int max_len_given = max_len > 0;
    if (!max_len_given) max_len = 512;
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
