/* inject.c - bits-to-cells packing, the explicit-state random generator and
 * deterministic fault injection. */
#include "reram/reram.h"

#include <math.h>
#include <string.h>

#include "util/util.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void eb_reram_rng_seed(eb_reram_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t eb_reram_rng_next(eb_reram_rng *r) { /* xoshiro256** */
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double eb_reram_rng_uniform(eb_reram_rng *r) {
    return (double)(eb_reram_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t eb_reram_trial_seed(uint64_t seed, uint64_t trial) {
    uint64_t x = seed;
    uint64_t a = splitmix64(&x);
    x = a ^ (trial * 0xd1b54a32d192ed03ULL);
    return splitmix64(&x);
}

size_t eb_reram_cells_for(size_t nbytes, int bits) {
    if (bits < 1 || bits > 8) return 0;
    return (nbytes * 8 + (size_t)bits - 1) / (size_t)bits;
}

static eb_status check_bits(int bits, eb_error *err) {
    if (bits < 1 || bits > EB_RERAM_MAX_BITS)
        return eb_fail(err, EB_ERR_ARG, "reram: %d bits per cell (need 1..%d)", bits,
                       EB_RERAM_MAX_BITS);
    return EB_OK;
}

eb_status eb_reram_pack(uint8_t *cells, size_t n_cells, const uint8_t *bytes, size_t nbytes,
                        int bits, eb_error *err) {
    eb_status st = check_bits(bits, err);
    if (st) return st;
    size_t need = eb_reram_cells_for(nbytes, bits);
    if (n_cells < need)
        return eb_fail(err, EB_ERR_ARG, "reram: %zu cells for %zu bytes (need %zu)", n_cells,
                       nbytes, need);
    /* A bit accumulator: the stream's bits enter at the bottom, cells leave
     * from the top, most significant first. */
    uint32_t acc = 0;
    int have = 0;
    size_t c = 0;
    for (size_t i = 0; i < nbytes; i++) {
        acc = (acc << 8) | bytes[i];
        have += 8;
        while (have >= bits) {
            have -= bits;
            cells[c++] = (uint8_t)((acc >> have) & ((1u << bits) - 1));
        }
        acc &= (1u << have) - 1;
    }
    if (have) cells[c++] = (uint8_t)((acc << (bits - have)) & ((1u << bits) - 1));
    for (; c < n_cells; c++)
        cells[c] = 0;
    return EB_OK;
}

eb_status eb_reram_unpack(uint8_t *bytes, size_t nbytes, const uint8_t *cells, size_t n_cells,
                          int bits, eb_error *err) {
    eb_status st = check_bits(bits, err);
    if (st) return st;
    if (n_cells < eb_reram_cells_for(nbytes, bits))
        return eb_fail(err, EB_ERR_ARG, "reram: %zu cells cannot hold %zu bytes", n_cells, nbytes);
    uint32_t acc = 0;
    int have = 0;
    size_t c = 0;
    for (size_t i = 0; i < nbytes; i++) {
        while (have < 8) {
            acc = (acc << bits) | (cells[c++] & ((1u << bits) - 1));
            have += bits;
        }
        have -= 8;
        bytes[i] = (uint8_t)(acc >> have);
        acc &= (1u << have) - 1;
    }
    return EB_OK;
}

eb_status eb_reram_inject_cells(uint8_t *cells, size_t n_cells, const eb_reram_model *m,
                                eb_fault_mode mode, eb_reram_rng *rng, eb_fault_stats *stats,
                                eb_error *err) {
    const int L = m->table.n_levels;
    if (L < 2 || L > EB_RERAM_MAX_LEVELS)
        return eb_fail(err, EB_ERR_ARG, "reram: model not initialised");
    if (mode != EB_FAULT_COUNT && mode != EB_FAULT_BERNOULLI)
        return eb_fail(err, EB_ERR_ARG, "reram: unknown fault mode %d", (int)mode);
    eb_fault_stats s;
    memset(&s, 0, sizeof s);
    s.cells = n_cells;
    for (size_t i = 0; i < n_cells; i++) {
        if (cells[i] >= L)
            return eb_fail(err, EB_ERR_ARG, "reram: cell %zu holds level %d of %d", i, cells[i], L);
        s.level_cells[cells[i]]++;
    }
    if (mode == EB_FAULT_COUNT) {
        /* Selection sampling (Knuth's algorithm S) in one pass: each cell of
         * level j is taken with probability need/remaining, which picks
         * exactly need cells, every subset equally likely; the up/down split
         * is drawn the same way among the picked ones. */
        size_t need[EB_RERAM_MAX_LEVELS], up[EB_RERAM_MAX_LEVELS], left[EB_RERAM_MAX_LEVELS];
        for (int j = 0; j < L; j++) {
            double p = m->p_up[j] + m->p_down[j];
            double nf = floor(p * (double)s.level_cells[j]);
            need[j] = nf > 0 ? (size_t)nf : 0;
            if (need[j] > s.level_cells[j]) need[j] = s.level_cells[j];
            up[j] = p > 0 ? (size_t)llround((double)need[j] * m->p_up[j] / p) : 0;
            if (j == L - 1) up[j] = 0;
            if (j == 0) up[j] = need[j];
            left[j] = s.level_cells[j];
        }
        for (size_t i = 0; i < n_cells; i++) {
            int j = cells[i];
            if (!need[j]) continue;
            double u = eb_reram_rng_uniform(rng);
            if (u * (double)left[j] < (double)need[j]) {
                double v = eb_reram_rng_uniform(rng);
                int go_up = v * (double)need[j] < (double)up[j];
                if (go_up) {
                    up[j]--;
                    cells[i] = (uint8_t)(j + 1);
                    s.up++;
                } else {
                    cells[i] = (uint8_t)(j - 1);
                    s.down++;
                }
                need[j]--;
                s.level_faults[j]++;
            }
            left[j]--;
        }
    } else {
        for (size_t i = 0; i < n_cells; i++) {
            int j = cells[i];
            double pu = m->p_up[j], pd = m->p_down[j];
            if (pu + pd <= 0) continue;
            double u = eb_reram_rng_uniform(rng);
            if (u < pu) {
                cells[i] = (uint8_t)(j + 1);
                s.up++;
            } else if (u < pu + pd) {
                cells[i] = (uint8_t)(j - 1);
                s.down++;
            } else {
                continue;
            }
            s.level_faults[j]++;
        }
    }
    s.faults = s.up + s.down;
    if (stats) *stats = s;
    return EB_OK;
}

eb_status eb_reram_inject_bytes(uint8_t *bytes, size_t nbytes, const eb_reram_model *m,
                                eb_fault_mode mode, uint64_t seed, const eb_allocator *alloc,
                                eb_fault_stats *stats, eb_error *err) {
    int bits = m->table.bits;
    eb_status st = check_bits(bits, err);
    if (st) return st;
    size_t n = eb_reram_cells_for(nbytes, bits);
    uint8_t *cells = eb_malloc(alloc, n ? n : 1);
    if (!cells) return eb_fail(err, EB_ERR_NOMEM, "reram: out of memory for %zu cells", n);
    eb_reram_rng rng;
    eb_reram_rng_seed(&rng, seed);
    if (!(st = eb_reram_pack(cells, n, bytes, nbytes, bits, err)) &&
        !(st = eb_reram_inject_cells(cells, n, m, mode, &rng, stats, err)))
        st = eb_reram_unpack(bytes, nbytes, cells, n, bits, err);
    eb_free(alloc, cells);
    return st;
}

eb_status eb_reram_inject_sparse(uint8_t *values, size_t nnz, uint16_t *masks, size_t n_masks,
                                 const eb_reram_model *value_model,
                                 const eb_reram_model *mask_model, eb_fault_mode mode,
                                 uint64_t seed, const eb_allocator *alloc,
                                 eb_fault_stats *value_stats, eb_fault_stats *mask_stats,
                                 eb_error *err) {
    eb_status st;
    if (mask_stats) memset(mask_stats, 0, sizeof *mask_stats);
    if (!value_model) return eb_fail(err, EB_ERR_ARG, "reram: no model for the values");
    st = eb_reram_inject_bytes(values, nnz, value_model, mode, eb_reram_trial_seed(seed, 0), alloc,
                               value_stats, err);
    if (st || !mask_model || !n_masks) return st;
    if (n_masks > SIZE_MAX / 2) return eb_fail(err, EB_ERR_NOMEM, "reram: too many masks");
    uint8_t *b = eb_malloc(alloc, n_masks * 2);
    if (!b) return eb_fail(err, EB_ERR_NOMEM, "reram: out of memory for %zu masks", n_masks);
    for (size_t i = 0; i < n_masks; i++) {
        b[2 * i] = (uint8_t)(masks[i] >> 8);
        b[2 * i + 1] = (uint8_t)(masks[i] & 0xff);
    }
    st = eb_reram_inject_bytes(b, n_masks * 2, mask_model, mode, eb_reram_trial_seed(seed, 1),
                               alloc, mask_stats, err);
    if (!st)
        for (size_t i = 0; i < n_masks; i++)
            masks[i] = (uint16_t)(b[2 * i] << 8 | b[2 * i + 1]);
    eb_free(alloc, b);
    return st;
}
