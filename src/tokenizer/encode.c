/* encode.c - unigram Viterbi segmentation, ALBERT's digit-comma rule, special
 * tokens, [CLS] a [SEP] (b [SEP]) with longest-first truncation. */
#include <string.h>

#include "tokenizer/tok_internal.h"

static eb_status spans_push(const eb_allocator *a, eb_spans *v, uint32_t start, uint32_t len,
                            int32_t id, eb_error *err) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        eb_span *p = eb_realloc(a, v->v, cap * sizeof *p);
        if (!p) return eb_fail(err, EB_ERR_NOMEM, "tokenizer: out of memory");
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n].start = start, v->v[v->n].len = len, v->v[v->n].id = id;
    v->n++;
    return EB_OK;
}

/* Byte length of the UTF-8 character that starts with c, as SentencePiece counts it. */
static size_t one_char_len(uint8_t c) {
    static const uint8_t t[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return t[c >> 4];
}

typedef struct best_node {
    float score;
    int32_t id;
    int64_t start; /* -1: not reached */
} best_node;

eb_status eb_unigram_segment(const eb_tokenizer *tok, const char *s, size_t n, eb_spans *out,
                             eb_error *err) {
    const eb_allocator *a = tok->alloc;
    if (n == 0) return EB_OK;
    if (n > UINT32_MAX / 2) return eb_fail(err, EB_ERR_INPUT, "tokenizer: text too long");
    best_node *best = eb_malloc(a, (n + 1) * sizeof *best);
    if (!best) return eb_fail(err, EB_ERR_NOMEM, "tokenizer: out of memory (%zu bytes)", n);
    for (size_t i = 0; i <= n; i++)
        best[i].score = 0, best[i].id = -1, best[i].start = -1;
    const float unk_score = tok->min_score - 10.0f;
    for (size_t start = 0; start < n;) {
        const float here = best[start].score;
        size_t mblen = one_char_len((uint8_t)s[start]);
        if (mblen > n - start) mblen = n - start;
        int has_single = 0;
        uint32_t h = EB_FNV_INIT;
        for (size_t k = start; k < n && k - start < tok->max_piece_len; k++) {
            h = eb_fnv_step(h, (uint8_t)s[k]);
            size_t len = k + 1 - start;
            const eb_prefix_slot *sl = eb_prefix_find(tok, h, s + start, len);
            if (!sl) break; /* no piece starts with these bytes */
            int32_t id = sl->full;
            if (id < 0) continue;
            int type = tok->pieces[id].type;
            if (type != EB_PIECE_NORMAL && type != EB_PIECE_USER_DEFINED) continue;
            best_node *t = &best[k + 1];
            /* As SentencePiece does: the candidate is summed and compared in double and
             * stored as float, so ties are broken by the unrounded sums.  User symbols
             * get a bonus so that they always win. */
            double sc = type == EB_PIECE_USER_DEFINED ? (double)((float)len * tok->max_score) - 0.1
                                                      : (double)tok->pieces[id].score;
            double cand = sc + (double)here;
            if (t->start < 0 || cand > (double)t->score)
                t->score = (float)cand, t->start = (int64_t)start, t->id = id;
            if (len == mblen) has_single = 1;
        }
        if (!has_single) {
            best_node *t = &best[start + mblen];
            float cand = unk_score + here;
            if (t->start < 0 || cand > t->score)
                t->score = cand, t->start = (int64_t)start, t->id = tok->unk_id;
        }
        start += mblen;
    }
    /* Backtrack (into the tail of out, reversed in place afterwards). */
    size_t first = out->n;
    eb_status st = EB_OK;
    for (size_t end = n; end > 0;) {
        const best_node *b = &best[end];
        if (b->start < 0 || (size_t)b->start >= end) {
            st = eb_fail(err, EB_ERR_FORMAT, "%s: segmentation found no path", tok->name);
            break;
        }
        if ((st = spans_push(a, out, (uint32_t)b->start, (uint32_t)(end - (size_t)b->start), b->id,
                             err)))
            break;
        end = (size_t)b->start;
    }
    eb_free(a, best);
    if (st) return st;
    for (size_t i = first, j = out->n - 1; i < j; i++, j--) {
        eb_span t = out->v[i];
        out->v[i] = out->v[j];
        out->v[j] = t;
    }
    /* Merge runs of unknown pieces. */
    size_t k = first;
    for (size_t i = first; i < out->n; i++) {
        if (k > first && out->v[i].id == tok->unk_id && out->v[k - 1].id == tok->unk_id &&
            out->v[k - 1].start + out->v[k - 1].len == out->v[i].start) {
            out->v[k - 1].len += out->v[i].len;
        } else {
            out->v[k++] = out->v[i];
        }
    }
    out->n = k;
    return EB_OK;
}

/* ---------------------------------------------------------------- */
/* ALBERT encoding of one segment                                    */
/* ---------------------------------------------------------------- */

typedef struct id_vec {
    int32_t *v;
    size_t n, cap;
} id_vec;

static eb_status ids_push(const eb_allocator *a, id_vec *v, int32_t id, eb_error *err) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        int32_t *p = eb_realloc(a, v->v, cap * sizeof *p);
        if (!p) return eb_fail(err, EB_ERR_NOMEM, "tokenizer: out of memory");
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = id;
    return EB_OK;
}

/* SentencePiece's PieceToId: the piece's id, else the unknown id. */
static int32_t piece_to_id(const eb_tokenizer *tok, const char *s, size_t n) {
    int id = eb_tok_lookup(tok, s, n);
    return id >= 0 ? id : tok->unk_id;
}

typedef struct scratch {
    eb_buf pre, norm, norm2, sub;
    eb_spans spans, spans2;
} scratch;

static void scratch_free(const eb_allocator *a, scratch *w) {
    eb_free(a, w->pre.p);
    eb_free(a, w->norm.p);
    eb_free(a, w->norm2.p);
    eb_free(a, w->sub.p);
    eb_free(a, w->spans.v);
    eb_free(a, w->spans2.v);
}

static const char WS[] = "\xe2\x96\x81";

/* Code points of a UTF-8 piece: the last one and the one before it. */
static int piece_tail(const char *p, size_t n, int32_t *last, int32_t *prev) {
    int count = 0;
    *last = *prev = -1;
    for (size_t i = 0; i < n;) {
        int32_t c;
        int l = eb_utf8_decode(p + i, n - i, &c);
        if (l <= 0) break;
        i += (size_t)l;
        *prev = *last;
        *last = c;
        count++;
    }
    return count;
}

static eb_status encode_segment(const eb_tokenizer *tok, const char *text, size_t n,
                                const eb_tokenizer_options *opt, scratch *w, id_vec *ids,
                                eb_error *err) {
    const eb_allocator *a = tok->alloc;
    eb_status st;
    const char *src = text;
    size_t sn = n;
    if (opt->albert) {
        if ((st = eb_albert_preprocess(tok, text, n, opt, &w->pre, err))) return st;
        src = w->pre.p, sn = w->pre.n;
    }
    if ((st = eb_spm_normalize(tok, src, sn, &w->norm, err))) return st;
    w->spans.n = 0;
    if ((st = eb_unigram_segment(tok, w->norm.p, w->norm.n, &w->spans, err))) return st;
    for (size_t i = 0; i < w->spans.n; i++) {
        const char *p = w->norm.p + w->spans.v[i].start;
        size_t pl = w->spans.v[i].len;
        int32_t last, prev;
        if (!opt->albert || piece_tail(p, pl, &last, &prev) < 2 || last != ',' ||
            !eb_py_isdigit(prev)) {
            if ((st = ids_push(a, ids, w->spans.v[i].id, err))) return st;
            continue;
        }
        /* ALBERT: "...9," -> re-encode "...9" without any U+2581, then ",". */
        w->sub.n = 0;
        for (size_t k = 0; k + 1 < pl;) {
            if (k + 3 <= pl - 1 && !memcmp(p + k, WS, 3)) {
                k += 3;
                continue;
            }
            if ((st = eb_buf_append(a, &w->sub, p + k, 1, err))) return st;
            k++;
        }
        if ((st = eb_spm_normalize(tok, w->sub.p ? w->sub.p : "", w->sub.n, &w->norm2, err)))
            return st;
        w->spans2.n = 0;
        if ((st = eb_unigram_segment(tok, w->norm2.p, w->norm2.n, &w->spans2, err))) return st;
        int piece_has_ws = pl >= 3 && !memcmp(p, WS, 3);
        for (size_t j = 0; j < w->spans2.n; j++) {
            const char *q = w->norm2.p + w->spans2.v[j].start;
            size_t ql = w->spans2.v[j].len;
            int32_t id = w->spans2.v[j].id;
            if (j == 0 && !piece_has_ws && ql >= 3 && !memcmp(q, WS, 3)) {
                if (ql == 3) continue; /* a lone U+2581 is dropped */
                /* HuggingFace looks the shortened string up; absent means unknown */
                id = piece_to_id(tok, q + 3, ql - 3);
            }
            if ((st = ids_push(a, ids, id, err))) return st;
        }
        if ((st = ids_push(a, ids, piece_to_id(tok, ",", 1), err))) return st;
    }
    return EB_OK;
}

/* Whole text: special-token strings split out first (as HuggingFace does), every
 * other stretch encoded on its own. */
static eb_status encode_all(const eb_tokenizer *tok, const char *text,
                            const eb_tokenizer_options *opt, id_vec *ids, eb_error *err) {
    if (!tok) return eb_fail(err, EB_ERR_ARG, "tokenizer: tok is NULL");
    if (!text) return eb_fail(err, EB_ERR_ARG, "tokenizer: text is NULL");
    size_t n = strlen(text);
    if (!eb_utf8_valid(text, n)) {
        size_t i = 0;
        while (i < n) {
            uint8_t c = (uint8_t)text[i];
            size_t l = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
            if (l > n - i || !eb_utf8_valid(text + i, l)) break;
            i += l;
        }
        return eb_fail(err, EB_ERR_INPUT, "tokenizer: text is not valid UTF-8 (byte %zu)", i);
    }
    scratch w;
    memset(&w, 0, sizeof w);
    eb_status st = EB_OK;
    size_t seg = 0;
    for (size_t i = 0; i <= n;) {
        int sp = -1;
        if (i < n && opt->split_special) {
            for (int k = 0; k < tok->n_specials; k++) {
                const eb_piece *p = &tok->pieces[tok->specials[k]];
                if (p->len <= n - i && !memcmp(text + i, tok->strings + p->off, p->len)) {
                    sp = tok->specials[k];
                    break;
                }
            }
        }
        if (sp < 0 && i < n) {
            i++;
            continue;
        }
        if (i > seg && (st = encode_segment(tok, text + seg, i - seg, opt, &w, ids, err))) break;
        if (i == n) break;
        if ((st = ids_push(tok->alloc, ids, sp, err))) break;
        i += tok->pieces[sp].len;
        seg = i;
    }
    scratch_free(tok->alloc, &w);
    return st;
}

eb_tokenizer_options eb_tokenizer_options_default(void) {
    eb_tokenizer_options o;
    o.albert = 1;
    o.keep_accents = 0;
    o.lower_case = 1;
    o.split_special = 1;
    o.head_tokens = 0;
    return o;
}

eb_status eb_tokenizer_encode_ex(const eb_tokenizer *tok, const char *text,
                                 const eb_tokenizer_options *opt, int32_t *ids, int cap, int *n,
                                 eb_error *err) {
    eb_tokenizer_options def = eb_tokenizer_options_default();
    if (!opt) opt = &def;
    if (n) *n = 0;
    if (cap < 0 || (cap > 0 && !ids))
        return eb_fail(err, EB_ERR_ARG, "eb_tokenizer_encode: bad ids buffer");
    id_vec v = {0};
    eb_status st = encode_all(tok, text, opt, &v, err);
    if (st == EB_OK) {
        if (v.n > (size_t)INT32_MAX) {
            st = eb_fail(err, EB_ERR_INPUT, "tokenizer: text has too many tokens");
        } else {
            size_t c = v.n < (size_t)cap ? v.n : (size_t)cap;
            if (c) memcpy(ids, v.v, c * sizeof *ids);
            if (n) *n = (int)v.n;
        }
    }
    eb_free(tok ? tok->alloc : NULL, v.v);
    return st;
}

eb_status eb_tokenizer_encode(const eb_tokenizer *tok, const char *text, int32_t *ids, int cap,
                              int *n, eb_error *err) {
    return eb_tokenizer_encode_ex(tok, text, NULL, ids, cap, n, err);
}

eb_status eb_tokenize_ex(const eb_tokenizer *tok, const char *text_a, const char *text_b,
                         int max_len, const eb_tokenizer_options *opt, eb_encoding *out,
                         eb_error *err) {
    eb_tokenizer_options def = eb_tokenizer_options_default();
    if (!opt) opt = &def;
    if (!tok || !out) return eb_fail(err, EB_ERR_ARG, "eb_tokenize: tok or out is NULL");
    out->n = 0;
    out->truncated = 0;
    if (!text_a) return eb_fail(err, EB_ERR_ARG, "eb_tokenize: text is NULL");
    int pair = text_b != NULL;
    int nspecial = pair ? 3 : 2;
    if (max_len <= 0) max_len = EB_MAX_TOKENS;
    if (max_len > EB_MAX_TOKENS)
        return eb_fail(err, EB_ERR_ARG, "eb_tokenize: max_len %d is more than %d", max_len,
                       EB_MAX_TOKENS);
    if (max_len < nspecial + (pair ? 2 : 1))
        return eb_fail(err, EB_ERR_ARG, "eb_tokenize: max_len %d leaves no room for the text",
                       max_len);
    if (tok->cls_id < 0 || tok->sep_id < 0)
        return eb_fail(err, EB_ERR_UNSUPPORTED, "%s: the model has no [CLS]/[SEP] pieces",
                       tok->name);
    id_vec a = {0}, b = {0};
    eb_status st = encode_all(tok, text_a, opt, &a, err);
    if (!st && a.n == 0) st = eb_fail(err, EB_ERR_INPUT, "tokenizer: text is empty (no tokens)");
    if (!st && pair) {
        st = encode_all(tok, text_b, opt, &b, err);
        if (!st && b.n == 0)
            st = eb_fail(err, EB_ERR_INPUT, "tokenizer: second text is empty (no tokens)");
    }
    if (!st) {
        size_t na = a.n, nb = b.n, room = (size_t)(max_len - nspecial);
        /* longest first: one token at a time from the longer (the second on ties) */
        while (na + nb > room) {
            if (!pair || na > nb)
                na--;
            else
                nb--;
            out->truncated = 1;
        }
        /* head + tail: the first `head` tokens and the last na - head */
        size_t head = na, skip = 0;
        if (!pair && out->truncated && opt->head_tokens > 0) {
            head = (size_t)opt->head_tokens < na ? (size_t)opt->head_tokens : na;
            skip = a.n - na;
        }
        int k = 0;
        out->ids[k] = tok->cls_id, out->type_ids[k++] = 0;
        for (size_t i = 0; i < na; i++)
            out->ids[k] = a.v[i < head ? i : i + skip], out->type_ids[k++] = 0;
        out->ids[k] = tok->sep_id, out->type_ids[k++] = 0;
        if (pair) {
            for (size_t i = 0; i < nb; i++)
                out->ids[k] = b.v[i], out->type_ids[k++] = 1;
            out->ids[k] = tok->sep_id, out->type_ids[k++] = 1;
        }
        out->n = k;
    }
    eb_free(tok->alloc, a.v);
    eb_free(tok->alloc, b.v);
    return st;
}

eb_status eb_tokenize(const eb_tokenizer *tok, const char *text_a, const char *text_b, int max_len,
                      eb_encoding *out, eb_error *err) {
    return eb_tokenize_ex(tok, text_a, text_b, max_len, NULL, out, err);
}
