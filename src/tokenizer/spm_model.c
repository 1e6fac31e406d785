/* spm_model.c - read SentencePiece's spiece.model (protobuf ModelProto, proto2 wire
 * format, decoded by hand) into an eb_tokenizer.  The file is outside input: every
 * varint, length, id and table index is checked. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

/* ---------------------------------------------------------------- */
/* Protobuf wire format                                              */
/* ---------------------------------------------------------------- */

typedef struct pb_reader {
    const uint8_t *p, *end;
    const uint8_t *base; /* start of the file, for offsets in messages */
} pb_reader;

typedef struct pb_field {
    uint32_t num;
    int wt;
    uint64_t v;          /* wire types 0, 1, 5 */
    const uint8_t *data; /* wire type 2 */
    size_t len;
    size_t offset; /* of the key, from the start of the file */
} pb_field;

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

static int pb_varint(pb_reader *r, uint64_t *v) {
    uint64_t x = 0;
    for (int i = 0; i < 10; i++) {
        if (r->p >= r->end) return 0;
        uint8_t c = *r->p++;
        if (i == 9 && c > 1) return 0; /* more than 64 bits */
        x |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *v = x;
            return 1;
        }
    }
    return 0;
}

/* 1: a field was read; 0: end of the message; -1: malformed (*why says how). */
static int pb_next(pb_reader *r, pb_field *f, const char **why) {
    if (r->p >= r->end) return 0;
    f->offset = (size_t)(r->p - r->base);
    uint64_t key;
    if (!pb_varint(r, &key)) {
        *why = "bad or truncated field key varint";
        return -1;
    }
    if (key >> 3 == 0 || key >> 3 > 0x1fffffff) {
        *why = "invalid field number";
        return -1;
    }
    f->num = (uint32_t)(key >> 3);
    f->wt = (int)(key & 7);
    f->data = NULL;
    f->len = 0;
    f->v = 0;
    switch (f->wt) {
    case WT_VARINT:
        if (!pb_varint(r, &f->v)) {
            *why = "bad or truncated varint";
            return -1;
        }
        return 1;
    case WT_I64:
        if (r->end - r->p < 8) {
            *why = "truncated 64-bit field";
            return -1;
        }
        for (int i = 7; i >= 0; i--)
            f->v = (f->v << 8) | r->p[i];
        r->p += 8;
        return 1;
    case WT_I32:
        if (r->end - r->p < 4) {
            *why = "truncated 32-bit field";
            return -1;
        }
        for (int i = 3; i >= 0; i--)
            f->v = (f->v << 8) | r->p[i];
        r->p += 4;
        return 1;
    case WT_LEN: {
        uint64_t n;
        if (!pb_varint(r, &n)) {
            *why = "bad or truncated length varint";
            return -1;
        }
        if (n > (uint64_t)(r->end - r->p)) {
            *why = "length runs past the end of its message";
            return -1;
        }
        f->data = r->p;
        f->len = (size_t)n;
        r->p += n;
        return 1;
    }
    default: *why = "unsupported wire type (groups or invalid)"; return -1;
    }
}

static pb_reader pb_sub(const pb_reader *parent, const pb_field *f) {
    /* a field without a payload (not length-delimited) gives an empty reader */
    pb_reader r = {f->data, f->data ? f->data + f->len : NULL, parent->base};
    return r;
}

#define FAIL_AT(off, ...)                                                                          \
    do {                                                                                           \
        char m_[256];                                                                              \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                      \
        return eb_fail(err, EB_ERR_FORMAT, "%s: offset %zu: %s", name, (size_t)(off), m_);         \
    } while (0)

static eb_status want_wt(const char *name, const pb_field *f, int wt, const char *what,
                         eb_error *err) {
    if (f->wt != wt)
        FAIL_AT(f->offset, "%s (field %u) has wire type %d, expected %d", what, f->num, f->wt, wt);
    return EB_OK;
}

/* int32 field as written by protobuf (negative numbers are 64-bit two's complement). */
static int pb_int32(uint64_t v, int32_t *out) {
    int64_t s = (int64_t)v;
    if (s < INT32_MIN || s > INT32_MAX) return 0;
    *out = (int32_t)s;
    return 1;
}

/* ---------------------------------------------------------------- */
/* Parsed pieces of the file                                         */
/* ---------------------------------------------------------------- */

typedef struct spec_info {
    int model_type;
    int32_t unk_id, bos_id, eos_id, pad_id;
    int has_unk_id;
    int treat_ws_as_suffix, byte_fallback;
    const uint8_t *charsmap;
    size_t charsmap_len;
    size_t charsmap_off;
    int add_dummy_prefix, remove_extra_ws, escape_ws;
} spec_info;

static eb_status parse_piece(const char *name, pb_reader *r, eb_tokenizer *tok, int id,
                             eb_error *err) {
    const uint8_t *str = NULL;
    size_t len = 0;
    int has_str = 0;
    float score = 0;
    int type = EB_PIECE_NORMAL;
    pb_field f;
    const char *why = NULL;
    int rc;
    size_t start = (size_t)(r->p - r->base);
    while ((rc = pb_next(r, &f, &why)) > 0) {
        eb_status s;
        switch (f.num) {
        case 1:
            if ((s = want_wt(name, &f, WT_LEN, "piece", err))) return s;
            str = f.data, len = f.len, has_str = 1;
            break;
        case 2: {
            if ((s = want_wt(name, &f, WT_I32, "score", err))) return s;
            uint32_t u = (uint32_t)f.v;
            memcpy(&score, &u, 4);
            if (!isfinite(score)) FAIL_AT(f.offset, "piece %d: score is not finite", id);
            break;
        }
        case 3:
            if ((s = want_wt(name, &f, WT_VARINT, "type", err))) return s;
            if (f.v < 1 || f.v > 6)
                FAIL_AT(f.offset, "piece %d: unknown type %llu", id, (unsigned long long)f.v);
            type = (int)f.v;
            break;
        default: break; /* unknown field: skipped */
        }
    }
    if (rc < 0) FAIL_AT(f.offset, "piece %d: %s", id, why);
    if (!has_str || len == 0) FAIL_AT(start, "piece %d has an empty string", id);
    if (len > 0xffffff) FAIL_AT(start, "piece %d is %zu bytes long", id, len);
    if (tok->strings_size + len + 1 > UINT32_MAX) FAIL_AT(start, "pieces too large");
    eb_piece *p = &tok->pieces[id];
    p->off = (uint32_t)tok->strings_size;
    p->len = (uint32_t)len;
    p->score = score;
    p->type = type;
    memcpy(tok->strings + tok->strings_size, str, len);
    tok->strings[tok->strings_size + len] = 0;
    tok->strings_size += len + 1;
    return EB_OK;
}

static eb_status parse_trainer(const char *name, pb_reader *r, spec_info *si, eb_error *err) {
    pb_field f;
    const char *why = NULL;
    int rc;
    while ((rc = pb_next(r, &f, &why)) > 0) {
        eb_status s;
        int32_t v;
        switch (f.num) {
        case 3:
            if ((s = want_wt(name, &f, WT_VARINT, "trainer_spec.model_type", err))) return s;
            if (!pb_int32(f.v, &v)) FAIL_AT(f.offset, "trainer_spec.model_type out of range");
            si->model_type = v;
            break;
        case 24:
            if ((s = want_wt(name, &f, WT_VARINT, "treat_whitespace_as_suffix", err))) return s;
            si->treat_ws_as_suffix = f.v != 0;
            break;
        case 35:
            if ((s = want_wt(name, &f, WT_VARINT, "byte_fallback", err))) return s;
            si->byte_fallback = f.v != 0;
            break;
        case 40:
        case 41:
        case 42:
        case 43:
            if ((s = want_wt(name, &f, WT_VARINT, "trainer_spec id", err))) return s;
            if (!pb_int32(f.v, &v)) FAIL_AT(f.offset, "trainer_spec field %u out of range", f.num);
            if (f.num == 40) si->unk_id = v, si->has_unk_id = 1;
            if (f.num == 41) si->bos_id = v;
            if (f.num == 42) si->eos_id = v;
            if (f.num == 43) si->pad_id = v;
            break;
        default: break;
        }
    }
    if (rc < 0) FAIL_AT(f.offset, "trainer_spec: %s", why);
    return EB_OK;
}

static eb_status parse_normalizer(const char *name, pb_reader *r, spec_info *si, eb_error *err) {
    pb_field f;
    const char *why = NULL;
    int rc;
    while ((rc = pb_next(r, &f, &why)) > 0) {
        eb_status s;
        switch (f.num) {
        case 1:
            if ((s = want_wt(name, &f, WT_LEN, "normalizer_spec.name", err))) return s;
            break;
        case 2:
            if ((s = want_wt(name, &f, WT_LEN, "precompiled_charsmap", err))) return s;
            si->charsmap = f.data, si->charsmap_len = f.len;
            si->charsmap_off = (size_t)(f.data - r->base);
            break;
        case 3:
        case 4:
        case 5:
            if ((s = want_wt(name, &f, WT_VARINT, "normalizer_spec flag", err))) return s;
            if (f.num == 3) si->add_dummy_prefix = f.v != 0;
            if (f.num == 4) si->remove_extra_ws = f.v != 0;
            if (f.num == 5) si->escape_ws = f.v != 0;
            break;
        default: break;
        }
    }
    if (rc < 0) FAIL_AT(f.offset, "normalizer_spec: %s", why);
    return EB_OK;
}

static eb_status load_charsmap(const char *name, eb_tokenizer *tok, const spec_info *si,
                               eb_error *err) {
    if (!si->charsmap || si->charsmap_len == 0) return EB_OK; /* identity */
    const uint8_t *b = si->charsmap;
    size_t n = si->charsmap_len, off = si->charsmap_off;
    if (n < 4) FAIL_AT(off, "precompiled_charsmap is %zu bytes, too short for its header", n);
    uint32_t trie =
        (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    if (trie == 0 || trie % 4 != 0 || (size_t)trie >= n - 4)
        FAIL_AT(off, "precompiled_charsmap: trie size %u does not fit its %zu bytes", trie, n);
    size_t pool = n - 4 - trie;
    if (b[n - 1] != 0) FAIL_AT(off, "precompiled_charsmap: replacement pool does not end with NUL");
    tok->n_units = trie / 4;
    tok->charsmap_units = eb_malloc(tok->alloc, trie);
    tok->charsmap_pool = eb_malloc(tok->alloc, pool + 1);
    if (!tok->charsmap_units || !tok->charsmap_pool)
        return eb_fail(err, EB_ERR_NOMEM, "%s: cannot allocate the charsmap", name);
    for (size_t i = 0; i < tok->n_units; i++) {
        const uint8_t *u = b + 4 + 4 * i;
        tok->charsmap_units[i] =
            (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
    }
    memcpy(tok->charsmap_pool, b + 4 + trie, pool);
    tok->charsmap_pool[pool] = 0;
    tok->pool_size = pool;
    return EB_OK;
}

/* ---------------------------------------------------------------- */
/* Prefix table                                                      */
/* ---------------------------------------------------------------- */

static eb_status build_prefix_table(const char *name, eb_tokenizer *tok, eb_error *err) {
    size_t total = 0;
    for (int i = 0; i < tok->n_pieces; i++)
        total += tok->pieces[i].len;
    size_t cap = 16;
    while (cap < 2 * total)
        cap *= 2;
    tok->prefix = eb_malloc(tok->alloc, cap * sizeof *tok->prefix);
    if (!tok->prefix)
        return eb_fail(err, EB_ERR_NOMEM, "%s: cannot allocate the piece table", name);
    tok->prefix_cap = cap;
    for (size_t i = 0; i < cap; i++)
        tok->prefix[i].src = -1;
    for (int id = 0; id < tok->n_pieces; id++) {
        const eb_piece *pc = &tok->pieces[id];
        const uint8_t *s = (const uint8_t *)tok->strings + pc->off;
        uint32_t h = EB_FNV_INIT;
        if (pc->len > tok->max_piece_len) tok->max_piece_len = pc->len;
        for (uint32_t k = 1; k <= pc->len; k++) {
            h = eb_fnv_step(h, s[k - 1]);
            size_t j = h & (cap - 1);
            for (;;) {
                eb_prefix_slot *sl = &tok->prefix[j];
                if (sl->src < 0) {
                    sl->hash = h, sl->src = id, sl->len = k, sl->full = k == pc->len ? id : -1;
                    break;
                }
                if (sl->hash == h && sl->len == k &&
                    !memcmp(tok->strings + tok->pieces[sl->src].off, s, k)) {
                    if (k == pc->len) {
                        if (sl->full >= 0)
                            return eb_fail(err, EB_ERR_FORMAT,
                                           "%s: piece %d \"%.40s\" duplicates piece %d", name, id,
                                           (const char *)s, sl->full);
                        sl->full = id;
                    }
                    break;
                }
                j = (j + 1) & (cap - 1);
            }
        }
    }
    return EB_OK;
}

int eb_tok_lookup(const eb_tokenizer *tok, const char *s, size_t n) {
    if (!tok || !s || n == 0 || n > tok->max_piece_len) return -1;
    uint32_t h = EB_FNV_INIT;
    for (size_t k = 0; k < n; k++)
        h = eb_fnv_step(h, (uint8_t)s[k]);
    const eb_prefix_slot *sl = eb_prefix_find(tok, h, s, n);
    return sl ? sl->full : -1;
}

/* ---------------------------------------------------------------- */
/* Loading                                                           */
/* ---------------------------------------------------------------- */

static eb_status parse_model(eb_tokenizer *tok, const uint8_t *data, size_t size, eb_error *err) {
    const char *name = tok->name;
    if (size == 0)
        return eb_fail(err, EB_ERR_FORMAT, "%s: empty file, not a SentencePiece model", name);
    pb_reader top = {data, data + size, data};
    pb_field f;
    const char *why = NULL;
    int rc;
    /* Pass 1: check the top-level structure, count the pieces. */
    size_t n_pieces = 0, piece_bytes = 0;
    while ((rc = pb_next(&top, &f, &why)) > 0) {
        if (f.num == 1) {
            eb_status s = want_wt(name, &f, WT_LEN, "pieces", err);
            if (s) return s;
            n_pieces++;
            piece_bytes += f.len + 1;
        }
    }
    if (rc < 0) FAIL_AT(f.offset, "%s", why);
    if (n_pieces == 0)
        return eb_fail(err, EB_ERR_FORMAT, "%s: no pieces, not a SentencePiece model", name);
    if (piece_bytes > ((size_t)32 << 20))
        return eb_fail(err, EB_ERR_FORMAT,
                       "%s: %zu bytes of pieces is more than the 32 MiB accepted", name,
                       piece_bytes);
    if (n_pieces > 0x7fffffff)
        return eb_fail(err, EB_ERR_FORMAT, "%s: %zu pieces is too many", name, n_pieces);
    tok->pieces = eb_calloc(tok->alloc, n_pieces, sizeof *tok->pieces);
    tok->strings = eb_malloc(tok->alloc, piece_bytes);
    if (!tok->pieces || !tok->strings)
        return eb_fail(err, EB_ERR_NOMEM, "%s: cannot allocate %zu pieces", name, n_pieces);

    spec_info si;
    memset(&si, 0, sizeof si);
    si.model_type = 1; /* UNIGRAM */
    si.unk_id = 0, si.bos_id = 1, si.eos_id = 2, si.pad_id = -1;
    si.add_dummy_prefix = si.remove_extra_ws = si.escape_ws = 1;

    /* Pass 2: the contents. */
    top.p = data;
    int id = 0, has_trainer = 0, has_normalizer = 0;
    while ((rc = pb_next(&top, &f, &why)) > 0) {
        eb_status s = EB_OK;
        pb_reader sub = pb_sub(&top, &f);
        if (f.num == 1) {
            s = parse_piece(name, &sub, tok, id++, err);
        } else if (f.num == 2) {
            if (!(s = want_wt(name, &f, WT_LEN, "trainer_spec", err)))
                s = parse_trainer(name, &sub, &si, err);
            has_trainer = 1;
        } else if (f.num == 3) {
            if (!(s = want_wt(name, &f, WT_LEN, "normalizer_spec", err)))
                s = parse_normalizer(name, &sub, &si, err);
            has_normalizer = 1;
        }
        if (s) return s;
    }
    if (rc < 0) FAIL_AT(f.offset, "%s", why);
    tok->n_pieces = (int)n_pieces;
    /* SentencePiece always writes both; without them the file is cut short. */
    if (!has_trainer || !has_normalizer)
        return eb_fail(err, EB_ERR_FORMAT, "%s: no %s (truncated file?)", name,
                       has_trainer ? "normalizer_spec" : "trainer_spec");

    if (si.model_type != 1)
        return eb_fail(err, EB_ERR_UNSUPPORTED,
                       "%s: model_type %d is not UNIGRAM (1); only unigram models are supported",
                       name, si.model_type);
    if (si.treat_ws_as_suffix)
        return eb_fail(err, EB_ERR_UNSUPPORTED, "%s: treat_whitespace_as_suffix is not supported",
                       name);
    if (si.byte_fallback)
        return eb_fail(err, EB_ERR_UNSUPPORTED, "%s: byte_fallback is not supported", name);
    int32_t ids[4] = {si.unk_id, si.bos_id, si.eos_id, si.pad_id};
    const char *idn[4] = {"unk_id", "bos_id", "eos_id", "pad_id"};
    for (int i = 0; i < 4; i++)
        if (ids[i] < -1 || ids[i] >= tok->n_pieces)
            return eb_fail(err, EB_ERR_FORMAT, "%s: trainer_spec.%s %d is not a piece id (0..%d)",
                           name, idn[i], ids[i], tok->n_pieces - 1);

    /* The UNKNOWN piece; score range over NORMAL pieces; specials. */
    tok->unk_id = -1;
    tok->min_score = FLT_MAX;
    tok->max_score = FLT_MIN;
    int n_normal = 0, n_special = 0;
    for (int i = 0; i < tok->n_pieces; i++) {
        const eb_piece *p = &tok->pieces[i];
        if (p->type == EB_PIECE_UNKNOWN) {
            if (tok->unk_id >= 0)
                return eb_fail(err, EB_ERR_FORMAT, "%s: pieces %d and %d are both UNKNOWN", name,
                               tok->unk_id, i);
            tok->unk_id = i;
        }
        if (p->type == EB_PIECE_NORMAL) {
            n_normal++;
            if (p->score < tok->min_score) tok->min_score = p->score;
            if (p->score > tok->max_score) tok->max_score = p->score;
        }
        if (p->type == EB_PIECE_USER_DEFINED) tok->n_user_defined++;
        if (p->type == EB_PIECE_BYTE)
            return eb_fail(err, EB_ERR_UNSUPPORTED,
                           "%s: piece %d is a BYTE piece (byte fallback is not supported)", name,
                           i);
        if (p->type == EB_PIECE_UNKNOWN || p->type == EB_PIECE_CONTROL) n_special++;
    }
    if (tok->unk_id < 0) return eb_fail(err, EB_ERR_FORMAT, "%s: no UNKNOWN (<unk>) piece", name);
    if (si.has_unk_id && si.unk_id != tok->unk_id)
        return eb_fail(err, EB_ERR_FORMAT, "%s: trainer_spec.unk_id %d but the UNKNOWN piece is %d",
                       name, si.unk_id, tok->unk_id);
    if (n_normal == 0) tok->min_score = tok->max_score = 0;
    tok->bos_id = si.bos_id, tok->eos_id = si.eos_id;

    tok->specials = eb_malloc(tok->alloc, sizeof(int32_t) * (size_t)(n_special ? n_special : 1));
    if (!tok->specials) return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", name);
    for (int i = 0; i < tok->n_pieces; i++) {
        int t = tok->pieces[i].type;
        if (t != EB_PIECE_UNKNOWN && t != EB_PIECE_CONTROL) continue;
        int k = tok->n_specials++; /* insertion sort, longest first */
        while (k > 0 && tok->pieces[tok->specials[k - 1]].len < tok->pieces[i].len) {
            tok->specials[k] = tok->specials[k - 1];
            k--;
        }
        tok->specials[k] = i;
    }

    tok->add_dummy_prefix = si.add_dummy_prefix;
    tok->remove_extra_whitespaces = si.remove_extra_ws;
    tok->escape_whitespaces = si.escape_ws;
    eb_status s = load_charsmap(name, tok, &si, err);
    if (s) return s;
    if ((s = build_prefix_table(name, tok, err))) return s;

    tok->cls_id = eb_tok_lookup(tok, "[CLS]", 5);
    tok->sep_id = eb_tok_lookup(tok, "[SEP]", 5);
    tok->mask_id = eb_tok_lookup(tok, "[MASK]", 6);
    tok->pad_id = si.pad_id >= 0 ? si.pad_id : eb_tok_lookup(tok, "<pad>", 5);
    return EB_OK;
}

eb_status eb_tokenizer_load_buffer(const void *data, size_t size, const char *name,
                                   const eb_allocator *alloc, eb_tokenizer **out, eb_error *err) {
    if (!out) return eb_fail(err, EB_ERR_ARG, "eb_tokenizer_load_buffer: out is NULL");
    *out = NULL;
    if (!name) name = "(buffer)";
    if (!data && size) return eb_fail(err, EB_ERR_ARG, "%s: data is NULL", name);
    eb_tokenizer *tok = eb_calloc(alloc, 1, sizeof *tok);
    if (!tok) return eb_fail(err, EB_ERR_NOMEM, "%s: cannot allocate the tokenizer", name);
    if (alloc) {
        tok->alloc_copy = *alloc;
        tok->alloc = &tok->alloc_copy;
    }
    tok->name = eb_strdup(tok->alloc, name);
    if (!tok->name) {
        eb_free(tok->alloc, tok);
        return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", name);
    }
    eb_status s = parse_model(tok, (const uint8_t *)data, size, err);
    if (s != EB_OK) {
        eb_tokenizer_free(tok);
        return s;
    }
    *out = tok;
    return EB_OK;
}

eb_status eb_tokenizer_load(const char *path, const eb_allocator *alloc, eb_tokenizer **out,
                            eb_error *err) {
    if (!out) return eb_fail(err, EB_ERR_ARG, "eb_tokenizer_load: out is NULL");
    *out = NULL;
    if (!path) return eb_fail(err, EB_ERR_ARG, "eb_tokenizer_load: path is NULL");
    char *buf = NULL;
    size_t n = 0;
    eb_status s = eb_read_file(path, alloc, (size_t)256 << 20, &buf, &n, err);
    if (s != EB_OK) return s;
    s = eb_tokenizer_load_buffer(buf, n, path, alloc, out, err);
    eb_free(alloc, buf);
    return s;
}

void eb_tokenizer_free(eb_tokenizer *tok) {
    if (!tok) return;
    const eb_allocator *a = tok->alloc;
    eb_allocator copy = tok->alloc_copy; /* tok itself is freed last */
    if (a) a = &copy;
    eb_free(a, tok->name);
    eb_free(a, tok->pieces);
    eb_free(a, tok->strings);
    eb_free(a, tok->prefix);
    eb_free(a, tok->charsmap_units);
    eb_free(a, tok->charsmap_pool);
    eb_free(a, tok->specials);
    eb_free(a, tok);
}

int eb_tokenizer_vocab_size(const eb_tokenizer *tok) {
    return tok ? tok->n_pieces : 0;
}

const char *eb_tokenizer_piece(const eb_tokenizer *tok, int id) {
    if (!tok || id < 0 || id >= tok->n_pieces) return NULL;
    return tok->strings + tok->pieces[id].off;
}

int eb_tokenizer_piece_id(const eb_tokenizer *tok, const char *piece) {
    if (!tok || !piece) return -1;
    return eb_tok_lookup(tok, piece, strlen(piece));
}

float eb_tokenizer_piece_score(const eb_tokenizer *tok, int id) {
    if (!tok || id < 0 || id >= tok->n_pieces) return 0;
    return tok->pieces[id].score;
}

int eb_tokenizer_piece_type(const eb_tokenizer *tok, int id) {
    if (!tok || id < 0 || id >= tok->n_pieces) return 0;
    return tok->pieces[id].type;
}

int eb_tokenizer_cls_id(const eb_tokenizer *tok) {
    return tok ? tok->cls_id : -1;
}
int eb_tokenizer_sep_id(const eb_tokenizer *tok) {
    return tok ? tok->sep_id : -1;
}
int eb_tokenizer_mask_id(const eb_tokenizer *tok) {
    return tok ? tok->mask_id : -1;
}
int eb_tokenizer_pad_id(const eb_tokenizer *tok) {
    return tok ? tok->pad_id : -1;
}
int eb_tokenizer_unk_id(const eb_tokenizer *tok) {
    return tok ? tok->unk_id : -1;
}
