/* fuzz_spiece.c - libFuzzer harness for SentencePiece models
 * (eb_tokenizer_load_buffer); an accepted model tokenizes a few texts. */
#include <stddef.h>
#include <stdint.h>

#include "edgebert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    eb_tokenizer *tok = NULL;
    eb_error err;
    if (eb_tokenizer_load_buffer(data, size, "fuzz", NULL, &tok, &err) != EB_OK) return 0;
    static eb_encoding enc; /* large: not on the stack */
    eb_tokenize(tok, "Hello, World! It's a  gorgeous movie.", "Is it?", 64, &enc, &err);
    eb_tokenize(tok, "\xc3\xa9t\xc3\xa9 \xef\xbc\xa1 x", NULL, 8, &enc, &err);
    int32_t ids[16];
    int n;
    eb_tokenizer_encode(tok, "unflinchingly bleak", ids, 16, &n, &err);
    int v = eb_tokenizer_vocab_size(tok);
    for (int i = 0; i < v && i < 64; i++) {
        const char *p = eb_tokenizer_piece(tok, i);
        if (p) eb_tokenizer_piece_id(tok, p);
    }
    eb_tokenizer_free(tok);
    return 0;
}
