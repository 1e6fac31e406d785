/* model_access.h - what other modules of the library may ask of a loaded
 * model beyond the public API, without seeing its insides
 * (model_internal.h is for src/model/ only). */
#ifndef EB_MODEL_ACCESS_H
#define EB_MODEL_ACCESS_H

#include "edgebert.h"

struct eb_bitmask;

/* The path the model was loaded from, and its allocator. */
const char *eb_model_path(const eb_model *m);
const eb_allocator *eb_model_allocator(const eb_model *m);

/* The stored form of the word embeddings (shared by every task, read through
 * the first): *fp32 gets the fp32 table [vocab_size, embedding_size] the
 * engine reads; the result is the bundle's AdaptivFloat8 bitmask whose
 * decoded values are exactly that table, or NULL when the model stores none
 * (a checkpoint directory, a bundle packed with other weights). */
const struct eb_bitmask *eb_model_stored_word_embeddings(const eb_model *m, const float **fp32);

/* A shallow clone of m whose tasks all read their word embeddings from
 * word_emb (fp32 [vocab_size, embedding_size], the shape every task of m
 * shares); everything else (encoders, heads, tokenizer, tables) is m's.
 * word_emb and m must outlive the clone; eb_model_free(clone) frees only the
 * clone's own task table.  Contexts are made from the clone as usual
 * (src/model/fork.c). */
eb_status eb_model_fork_embeddings(const eb_model *m, const float *word_emb, eb_model **out,
                                   eb_error *err);

#endif
