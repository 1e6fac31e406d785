/*
 * edgebert/tokenizer.h - options and helpers of the ALBERT SentencePiece tokenizer
 * beyond the basic calls declared in edgebert.h.
 */
#ifndef EDGEBERT_TOKENIZER_H
#define EDGEBERT_TOKENIZER_H

#include "edgebert.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What happens to the text before SentencePiece.  The defaults are those of
 * HuggingFace's AlbertTokenizer (keep_accents=False, do_lower_case=True). */
typedef struct eb_tokenizer_options {
    int albert;        /* 1: ALBERT preprocessing (collapse whitespace, `` and '' to ",
                          accents and lower case as below, digit-comma split); 0: raw
                          SentencePiece (the two fields below are then ignored) */
    int keep_accents;  /* 0: NFKD and drop combining marks */
    int lower_case;    /* 1: Python str.lower() */
    int split_special; /* 1: the strings of control/unknown pieces ("[CLS]", "[SEP]",
                          "[MASK]", "<pad>", "<unk>") in the text become those ids */
    int head_tokens;   /* eb_tokenize_ex, single texts longer than max_len - 2 tokens:
                          0 keeps the first tokens; k > 0 keeps the first min(k, room)
                          and the last room - min(k, room) (head + tail truncation,
                          room = max_len - 2).  Pairs are cut longest first. */
} eb_tokenizer_options;

EB_API eb_tokenizer_options eb_tokenizer_options_default(void);

/* eb_tokenizer_encode / eb_tokenize with explicit options (NULL = defaults). */
EB_API eb_status eb_tokenizer_encode_ex(const eb_tokenizer *tok, const char *text,
                                 const eb_tokenizer_options *opt, int32_t *ids, int cap, int *n,
                                 eb_error *err);
/* opt->head_tokens > 0: head + tail truncation of a single text (above). */
EB_API eb_status eb_tokenize_ex(const eb_tokenizer *tok, const char *text_a, const char *text_b,
                         int max_len, const eb_tokenizer_options *opt, eb_encoding *out,
                         eb_error *err);

/* Ids of the special pieces, looked up by name; -1 when the model lacks them. */
EB_API int eb_tokenizer_cls_id(const eb_tokenizer *tok);  /* "[CLS]" */
EB_API int eb_tokenizer_sep_id(const eb_tokenizer *tok);  /* "[SEP]" */
EB_API int eb_tokenizer_mask_id(const eb_tokenizer *tok); /* "[MASK]" */
EB_API int eb_tokenizer_pad_id(const eb_tokenizer *tok);  /* trainer_spec pad_id, else "<pad>" */
EB_API int eb_tokenizer_unk_id(const eb_tokenizer *tok);  /* the UNKNOWN piece */

/* Piece types of the model file (SentencePiece's ModelProto.SentencePiece.Type). */
typedef enum eb_piece_type {
    EB_PIECE_NORMAL = 1,
    EB_PIECE_UNKNOWN = 2,
    EB_PIECE_CONTROL = 3,
    EB_PIECE_USER_DEFINED = 4,
    EB_PIECE_UNUSED = 5,
    EB_PIECE_BYTE = 6
} eb_piece_type;

/* Score and type of a piece; 0 / 0 when id is out of range. */
EB_API float eb_tokenizer_piece_score(const eb_tokenizer *tok, int id);
EB_API int eb_tokenizer_piece_type(const eb_tokenizer *tok, int id);

#ifdef __cplusplus
}
#endif

#endif
