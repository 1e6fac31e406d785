/* tok_internal.h - the tokenizer's internal structures (not public API). */
#ifndef EB_TOK_INTERNAL_H
#define EB_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgebert/tokenizer.h"
#include "util/util.h"

typedef struct eb_piece {
    uint32_t off; /* into tok->strings (NUL-terminated) */
    uint32_t len; /* bytes */
    float score;
    int type; /* eb_piece_type */
} eb_piece;

/* Open-addressing table over every byte prefix of every piece: an incremental
 * FNV-1a hash lets the Viterbi walk a prefix one byte at a time like a trie. */
typedef struct eb_prefix_slot {
    uint32_t hash;
    int32_t src;  /* a piece having this prefix; -1 = empty slot */
    uint32_t len; /* prefix length in bytes */
    int32_t full; /* id of the piece equal to the prefix, -1 if none */
} eb_prefix_slot;

struct eb_tokenizer {
    eb_allocator alloc_copy;
    const eb_allocator *alloc; /* &alloc_copy or NULL */
    char *name;

    int n_pieces;
    eb_piece *pieces;
    char *strings;
    size_t strings_size;

    eb_prefix_slot *prefix; /* size prefix_cap (power of two) */
    size_t prefix_cap;
    uint32_t max_piece_len;

    /* normalizer_spec */
    uint32_t *charsmap_units; /* darts-clone double array, host order */
    size_t n_units;
    char *charsmap_pool; /* replacement strings, last byte NUL */
    size_t pool_size;
    int add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;

    /* trainer_spec and looked-up ids */
    int unk_id, bos_id, eos_id, pad_id;
    int cls_id, sep_id, mask_id;
    float min_score, max_score; /* over NORMAL pieces, as SentencePiece does */
    int n_user_defined;
    int32_t *specials; /* ids of CONTROL/UNKNOWN pieces, longest string first */
    int n_specials;
};

/* A growable byte buffer. */
typedef struct eb_buf {
    char *p;
    size_t n, cap;
} eb_buf;
eb_status eb_buf_reserve(const eb_allocator *a, eb_buf *b, size_t extra, eb_error *err);
eb_status eb_buf_append(const eb_allocator *a, eb_buf *b, const void *data, size_t n,
                        eb_error *err);

/* FNV-1a step. */
static inline uint32_t eb_fnv_step(uint32_t h, uint8_t c) {
    return (h ^ c) * 16777619u;
}
#define EB_FNV_INIT 2166136261u

/* The slot of prefix s[0..len) whose FNV-1a hash is h; NULL when no piece starts so. */
static inline const eb_prefix_slot *eb_prefix_find(const eb_tokenizer *tok, uint32_t h,
                                                   const char *s, size_t len) {
    size_t mask = tok->prefix_cap - 1;
    for (size_t j = h & mask;; j = (j + 1) & mask) {
        const eb_prefix_slot *c = &tok->prefix[j];
        if (c->src < 0) return NULL;
        if (c->hash == h && c->len == len &&
            !memcmp(tok->strings + tok->pieces[c->src].off, s, len))
            return c;
    }
}

/* Piece id for a byte string, -1 when absent. */
int eb_tok_lookup(const eb_tokenizer *tok, const char *s, size_t n);

/* SentencePiece normalisation (charsmap, whitespace, dummy prefix, "▁"). */
eb_status eb_spm_normalize(const eb_tokenizer *tok, const char *s, size_t n, eb_buf *out,
                           eb_error *err);
/* ALBERT preprocessing of valid UTF-8 text into out (NUL-terminated). */
eb_status eb_albert_preprocess(const eb_tokenizer *tok, const char *s, size_t n,
                               const eb_tokenizer_options *opt, eb_buf *out, eb_error *err);

/* One segmentation result: a piece of the normalised string. */
typedef struct eb_span {
    uint32_t start, len;
    int32_t id;
} eb_span;
typedef struct eb_spans {
    eb_span *v;
    size_t n, cap;
} eb_spans;
/* Viterbi over normalised text; consecutive unknowns merged. Appends to out. */
eb_status eb_unigram_segment(const eb_tokenizer *tok, const char *s, size_t n, eb_spans *out,
                             eb_error *err);

/* Python's str.isdigit() for one code point. */
int eb_py_isdigit(int32_t c);
/* Python's str.isspace() for one code point. */
int eb_py_isspace(int32_t c);
/* Decode one UTF-8 char of valid text; returns its length. */
int eb_utf8_decode(const char *s, size_t n, int32_t *cp);
/* Encode one code point; returns the byte count (1..4). */
int eb_utf8_encode(int32_t cp, char *out);

#endif
