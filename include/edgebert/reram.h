/*
 * edgebert/reram.h - the ReRAM cell fault model used to study how densely the
 * shared embeddings can be stored (paper section 4, Table 2).
 *
 * A cell stores one of 2^bits levels.  Reading level j gives a Gaussian
 * value (mean_j, sigma_j) (normalised conductance); the sense threshold
 * between levels j and j+1 is where their two densities cross, between the
 * means.  Level j is read one level up with P_up(j) = 1 - Phi((th_j - mu_j) /
 * sigma_j) and one level down with P_down(j) = Phi((th_{j-1} - mu_j) /
 * sigma_j); nothing else fails.
 *
 * Data are cut into cells most-significant bit first: the byte stream is one
 * bit string, each group of `bits` bits read as a binary number is a cell's
 * level (the last cell is padded with zero bits).
 *
 * Injection (one trial) with EB_FAULT_COUNT, as the injector the paper used:
 * for each level j holding count_j cells, floor((P_up + P_down) * count_j)
 * cells chosen uniformly at random get an error, round(n * P_up / (P_up +
 * P_down)) of them up and the rest down.  EB_FAULT_BERNOULLI instead fails
 * every cell independently with its probabilities.  The random stream comes
 * from an explicit xoshiro256** state seeded by splitmix64: the same seed
 * gives the same faults.
 */
#ifndef EDGEBERT_RERAM_H
#define EDGEBERT_RERAM_H

#include "edgebert.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EB_RERAM_MAX_BITS 4
#define EB_RERAM_MAX_LEVELS 16

typedef enum eb_cell_kind { EB_CELL_SLC = 1, EB_CELL_MLC2 = 2, EB_CELL_MLC3 = 3 } eb_cell_kind;

typedef struct eb_reram_level {
    double mean, sigma;
} eb_reram_level;

typedef struct eb_reram_table {
    int bits;     /* bits per cell, 1..4 */
    int n_levels; /* 2^bits */
    eb_reram_level level[EB_RERAM_MAX_LEVELS];
} eb_reram_table;

typedef struct eb_reram_model {
    eb_reram_table table;
    double threshold[EB_RERAM_MAX_LEVELS - 1]; /* between level j and j+1 */
    double p_up[EB_RERAM_MAX_LEVELS];          /* level j read as j+1 (0 for the top) */
    double p_down[EB_RERAM_MAX_LEVELS];        /* level j read as j-1 (0 for level 0) */
} eb_reram_model;

/* "slc", "mlc2", "mlc3" (NULL for other values). */
EB_API const char *eb_cell_kind_name(eb_cell_kind k);
/* Accepts slc, mlc2, mlc3 (any case), or 1, 2, 3. */
EB_API eb_status eb_cell_kind_parse(const char *s, eb_cell_kind *out, eb_error *err);
/* The compiled-in level table of a kind (NULL for an unknown kind). */
EB_API const eb_reram_table *eb_reram_default_table(eb_cell_kind k);

/* User tables, text: one level per line, "mean sigma" (blanks or a comma
 * between), lowest level first; '#' starts a comment; 2, 4, 8 or 16 levels;
 * means strictly increasing, sigmas > 0.  `name` is used in messages. */
EB_API eb_status eb_reram_table_parse(const char *text, size_t len, const char *name, eb_reram_table *out,
                               eb_error *err);
EB_API eb_status eb_reram_table_load(const char *path, const eb_allocator *alloc, eb_reram_table *out,
                              eb_error *err);

/* Where the densities of two levels cross, between their means (lo.mean <
 * hi.mean).  EB_ERR_ARG when they do not cross there. */
EB_API eb_status eb_reram_threshold(const eb_reram_level *lo, const eb_reram_level *hi, double *out,
                             eb_error *err);
/* Thresholds and per-level error probabilities of a table. */
EB_API eb_status eb_reram_model_init(eb_reram_model *m, const eb_reram_table *t, eb_error *err);
/* Mean per-cell error probability over equally likely levels. */
EB_API double eb_reram_fault_rate(const eb_reram_model *m);
/* Human-readable table of the boundaries (threshold, P(j->j+1), P(j+1->j))
 * into buf; returns what snprintf would (the full length). */
EB_API int eb_reram_describe(const eb_reram_model *m, char *buf, size_t cap);

/* Technology numbers of the paper's Table 2 (28 nm ReRAM). */
EB_API double eb_reram_area_mm2_per_mb(eb_cell_kind k); /* 0.28 / 0.08 / 0.04 */
EB_API double eb_reram_read_latency_ns(eb_cell_kind k); /* 1.21 / 1.54 / 2.96 */

/* ---- bits <-> cells ---- */

/* ceil(8 * nbytes / bits). */
EB_API size_t eb_reram_cells_for(size_t nbytes, int bits);
EB_API eb_status eb_reram_pack(uint8_t *cells, size_t n_cells, const uint8_t *bytes, size_t nbytes,
                        int bits, eb_error *err);
EB_API eb_status eb_reram_unpack(uint8_t *bytes, size_t nbytes, const uint8_t *cells, size_t n_cells,
                          int bits, eb_error *err);

/* ---- random numbers (explicit state) ---- */

typedef struct eb_reram_rng {
    uint64_t s[4];
} eb_reram_rng;

EB_API void eb_reram_rng_seed(eb_reram_rng *r, uint64_t seed);
EB_API uint64_t eb_reram_rng_next(eb_reram_rng *r);
EB_API double eb_reram_rng_uniform(eb_reram_rng *r); /* [0, 1), 53 bits */
/* A well-mixed seed for trial `trial` of a study seeded with `seed`. */
EB_API uint64_t eb_reram_trial_seed(uint64_t seed, uint64_t trial);

/* ---- fault injection ---- */

typedef enum eb_fault_mode { EB_FAULT_COUNT = 0, EB_FAULT_BERNOULLI = 1 } eb_fault_mode;

typedef struct eb_fault_stats {
    size_t cells;
    size_t faults, up, down;
    size_t level_cells[EB_RERAM_MAX_LEVELS];
    size_t level_faults[EB_RERAM_MAX_LEVELS];
} eb_fault_stats;

/* Inject into cell levels in place (every cell must be < n_levels).
 * stats may be NULL. */
EB_API eb_status eb_reram_inject_cells(uint8_t *cells, size_t n_cells, const eb_reram_model *m,
                                eb_fault_mode mode, eb_reram_rng *rng, eb_fault_stats *stats,
                                eb_error *err);
/* Pack bytes into cells of the model's width, inject with the given seed,
 * unpack back in place.  stats may be NULL. */
EB_API eb_status eb_reram_inject_bytes(uint8_t *bytes, size_t nbytes, const eb_reram_model *m,
                                eb_fault_mode mode, uint64_t seed, const eb_allocator *alloc,
                                eb_fault_stats *stats, eb_error *err);

/* Faults into a sparse tensor as EdgeBERT stores it, in place: the nnz AF8
 * codes of the non-zeros go to cells of value_model; the masks (each 16-bit
 * mask most significant bit first, i.e. element 15 first) to cells of
 * mask_model (NULL: the masks are not touched).  The two streams get
 * independent random streams derived from seed.  Stats may be NULL.  Decode
 * the result with eb_bitmask_decode_tolerant (masks may no longer agree
 * with the stored count). */
EB_API eb_status eb_reram_inject_sparse(uint8_t *values, size_t nnz, uint16_t *masks, size_t n_masks,
                                 const eb_reram_model *value_model,
                                 const eb_reram_model *mask_model, eb_fault_mode mode,
                                 uint64_t seed, const eb_allocator *alloc,
                                 eb_fault_stats *value_stats, eb_fault_stats *mask_stats,
                                 eb_error *err);

#ifdef __cplusplus
}
#endif

#endif /* EDGEBERT_RERAM_H */
