/* cli_tokenize.h - the tokenize-and-print part of `edgebert tokenize`, shared with
 * subcommands that load a tokenizer another way (e.g. from a model). */
#ifndef EB_CLI_TOKENIZE_H
#define EB_CLI_TOKENIZE_H

#include "edgebert.h"

/* Tokenize a (and b, may be NULL) with [CLS]/[SEP] and longest-first truncation to
 * max_len, print the result on stdout: with json one line
 * {"ids":[...],"pieces":[...],"type_ids":[...],"truncated":false}, else a readable
 * table.  Errors go to stderr as "edgebert tokenize: ..." (with json also
 * {"error":"..."} on stdout).  Returns 0, or 1 on error. */
int eb_cli_print_tokens(const eb_tokenizer *tok, const char *a, const char *b, int max_len,
                        int json);

#endif
