/* tensors.h - the one table of ALBERT's tensors: their HuggingFace names,
 * shapes and roles.
 *
 * Every place that names a checkpoint's tensors reads it: the loader binds
 * them (model.c), the trainer lays out and saves its parameters
 * (src/train/tmodel.c), export writes them back (export.c), and prune,
 * compress-report, the bundle and `edgebert info` ask a name's role.  A row
 * is one weight/bias pair (a linear layer or a LayerNorm) or one plain
 * tensor; its scope says how often it repeats: once, per unique layer
 * (group g, inner layer i), per adapter (layer application l, inner layer i,
 * under the group g that application uses), per off-ramp j, or in the
 * masked-LM head.  Patterns spell the indices {g}, {i}, {l} and {j}. */
#ifndef EB_MODEL_TENSORS_H
#define EB_MODEL_TENSORS_H

#include "model/albert.h"

typedef enum eb_tensor_role {
    EB_ROLE_EMBEDDING,  /* the word, position and token-type tables */
    EB_ROLE_EMB_NORM,   /* the embeddings' LayerNorm */
    EB_ROLE_MAPPING,    /* embedding_hidden_mapping_in (E -> H) */
    EB_ROLE_ENC_MATRIX, /* an encoder matrix: attention query/key/value/dense, ffn, ffn_output */
    EB_ROLE_ENC_VECTOR, /* the encoder's biases and LayerNorms */
    EB_ROLE_SPAN,       /* adaptive attention span, one z per head */
    EB_ROLE_ADAPTER,    /* adapter-ALBERT bottleneck adapters */
    EB_ROLE_HEAD,       /* the task head: albert.pooler and classifier */
    EB_ROLE_RAMP,       /* the off-ramps (highway) */
    EB_ROLE_MLM,        /* the masked-LM head of pretraining (predictions.*) */
    EB_NUM_ROLES
} eb_tensor_role;

typedef enum eb_tensor_id {
    EB_T_WORD,
    EB_T_POS,
    EB_T_TYPE,
    EB_T_EMB_LN,
    EB_T_MAP,
    EB_T_Q,
    EB_T_K,
    EB_T_V,
    EB_T_O,
    EB_T_ATTN_LN,
    EB_T_FFN,
    EB_T_FFN_OUT,
    EB_T_OUT_LN,
    EB_T_SPAN,
    EB_T_AD_ATTN_DOWN,
    EB_T_AD_ATTN_UP,
    EB_T_AD_FFN_DOWN,
    EB_T_AD_FFN_UP,
    EB_T_POOLER,
    EB_T_CLS,
    EB_T_RAMP_POOLER,
    EB_T_RAMP_CLS,
    EB_T_MLM_DENSE,
    EB_T_MLM_LN,
    EB_T_MLM_BIAS,
    EB_NUM_TENSOR_IDS
} eb_tensor_id;

typedef enum eb_tensor_kind {
    EB_TK_MATRIX, /* one 2-D tensor, named by the pattern */
    EB_TK_VECTOR, /* one 1-D tensor, named by the pattern */
    EB_TK_LINEAR, /* pattern.weight [d0, d1] and pattern.bias [d0] */
    EB_TK_NORM    /* pattern.weight and pattern.bias, both [d0] */
} eb_tensor_kind;

typedef enum eb_tensor_scope {
    EB_TS_ONCE,    /* one per model */
    EB_TS_LAYER,   /* per unique layer {g}, {i} */
    EB_TS_ADAPTER, /* per layer application and inner layer {g}, {i}, {l} */
    EB_TS_RAMP,    /* per off-ramp {j} (after layer j + 1) */
    EB_TS_MLM      /* the masked-LM head */
} eb_tensor_scope;

/* The dimensions a shape is made of. */
typedef enum eb_tensor_dim {
    EB_D_NONE,
    EB_D_VOCAB,
    EB_D_POSITIONS,
    EB_D_TYPES,
    EB_D_E,
    EB_D_H,
    EB_D_I,
    EB_D_HEADS,
    EB_D_LABELS,
    EB_D_ADAPTER
} eb_tensor_dim;

typedef struct eb_tensor_row {
    eb_tensor_id id;
    const char *pattern; /* the HuggingFace name (or prefix of .weight/.bias) */
    const char *alt;     /* another spelling the loader accepts, or NULL */
    eb_tensor_kind kind;
    eb_tensor_scope scope;
    eb_tensor_role role;      /* of the tensor, or of .weight */
    eb_tensor_role bias_role; /* of .bias (LINEAR, NORM) */
    eb_tensor_dim d0, d1;
} eb_tensor_row;

/* Row k is id k. */
const eb_tensor_row *eb_tensor_rows(int *n);
const char *eb_tensor_role_name(eb_tensor_role r);

/* Which tensors a model has besides the fixed ones. */
typedef struct eb_tensor_plan {
    const eb_config *cfg;
    int spans;        /* an attention.span per unique layer */
    int adapter_size; /* r of the adapters; 0: none */
    int ramps;        /* off-ramps 0..ramps-1 */
    int mlm;          /* the masked-LM head */
} eb_tensor_plan;

/* One row at one place: the name (LINEAR, NORM: the prefix), the shape
 * (LINEAR: out, in; NORM and VECTOR: n, 0) and the indices. */
typedef struct eb_tensor_item {
    const eb_tensor_row *row;
    char name[192];
    char alt[192]; /* the row's other spelling, "" when it has none */
    int d0, d1;
    int g, i, l, j;
    int index; /* LAYER: g * inner_group_num + i; ADAPTER: l * inner_group_num + i; RAMP: j */
} eb_tensor_item;

/* Calls fn for every item of the plan, in the one order of the table (the
 * trainer's parameter layout); stops when fn returns nonzero and returns
 * that value, else 0. */
int eb_tensor_walk(const eb_tensor_plan *p, int (*fn)(void *ud, const eb_tensor_item *it),
                   void *ud);

/* Where an item lives in an eb_albert_weights whose layers, adapters and
 * ramp arrays are allocated: an eb_linear * (LINEAR), eb_norm * (NORM) or
 * const float ** (MATRIX, VECTOR); NULL for the masked-LM head. */
void *eb_albert_slot(eb_albert_weights *w, const eb_tensor_item *it);

/* Every eb_linear of w (allocated as for eb_albert_slot), in the table's
 * order, into lins[0..cap-1] (lins may be NULL); returns how many w has. */
int eb_albert_linears(eb_albert_weights *w, const eb_config *c, eb_linear **lins, int cap);

/* A full tensor name (with or without the leading "albert.", either
 * spelling) against the table: 1 and the row, the part (0: the tensor or
 * .weight, 1: .bias) and the role, or 0 for a name no row has. */
typedef struct eb_tensor_match {
    const eb_tensor_row *row;
    int part;
    eb_tensor_role role;
    int g, i, l, j;
} eb_tensor_match;
int eb_tensor_lookup(const char *name, eb_tensor_match *m);
/* The same against one row only (for tests: every name matches one row). */
int eb_tensor_row_match(const eb_tensor_row *row, const char *name, eb_tensor_match *m);

/* The full name of a match in the row's own spelling (alt = 0) or its other
 * one (alt = 1; NULL row alt: 0 returned); 1 when it fits in buf. */
int eb_tensor_spell(const eb_tensor_match *m, int alt, char *buf, size_t cap);

/* Shorthands: the role of a name, or -1 when no row has it. */
int eb_tensor_role_of(const char *name);

#endif
