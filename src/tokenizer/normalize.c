/* normalize.c - SentencePiece normalisation (precompiled charsmap, whitespace, dummy
 * prefix, U+2581) and ALBERT's preprocessing before it. */
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

/* ---------------------------------------------------------------- */
/* Buffers and UTF-8                                                 */
/* ---------------------------------------------------------------- */

eb_status eb_buf_reserve(const eb_allocator *a, eb_buf *b, size_t extra, eb_error *err) {
    if (extra > ((size_t)1 << 40))
        return eb_fail(err, EB_ERR_NOMEM, "tokenizer: text buffer would be too large");
    if (b->n + extra + 1 <= b->cap) return EB_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1)
        cap *= 2;
    char *p = eb_realloc(a, b->p, cap);
    if (!p) return eb_fail(err, EB_ERR_NOMEM, "tokenizer: cannot allocate %zu bytes", cap);
    b->p = p;
    b->cap = cap;
    return EB_OK;
}

eb_status eb_buf_append(const eb_allocator *a, eb_buf *b, const void *data, size_t n,
                        eb_error *err) {
    eb_status s = eb_buf_reserve(a, b, n, err);
    if (s) return s;
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = 0;
    return EB_OK;
}

/* Decode one character of text already known to be valid UTF-8. */
int eb_utf8_decode(const char *str, size_t n, int32_t *cp) {
    const uint8_t *s = (const uint8_t *)str;
    if (n == 0) {
        *cp = 0;
        return 0;
    }
    if (s[0] < 0x80 || n < 2) {
        *cp = s[0];
        return 1;
    }
    if (s[0] < 0xe0) {
        *cp = (s[0] & 0x1f) << 6 | (s[1] & 0x3f);
        return 2;
    }
    if (s[0] < 0xf0 || n < 4) {
        if (n < 3) {
            *cp = s[0];
            return 1;
        }
        *cp = (s[0] & 0x0f) << 12 | (s[1] & 0x3f) << 6 | (s[2] & 0x3f);
        return 3;
    }
    *cp = (s[0] & 0x07) << 18 | (s[1] & 0x3f) << 12 | (s[2] & 0x3f) << 6 | (s[3] & 0x3f);
    return 4;
}

int eb_utf8_encode(int32_t c, char *o) {
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xc0 | c >> 6);
        o[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xe0 | c >> 12);
        o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        o[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | c >> 18);
    o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    o[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* ---------------------------------------------------------------- */
/* Python character predicates                                       */
/* ---------------------------------------------------------------- */

int eb_py_isspace(int32_t c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

int eb_py_isdigit(int32_t c) {
    if (c >= '0' && c <= '9') return 1;
    if (c < 0x80) return 0;
    if (utf8proc_category(c) == UTF8PROC_CATEGORY_ND) return 1;
    /* Numeric_Type=Digit characters outside Nd (superscripts, circled digits...). */
    static const int32_t r[][2] = {
        {0xb2, 0xb3},       {0xb9, 0xb9},       {0x1369, 0x1371},   {0x19da, 0x19da},
        {0x2070, 0x2070},   {0x2074, 0x2079},   {0x2080, 0x2089},   {0x2460, 0x2468},
        {0x2474, 0x247c},   {0x2488, 0x2490},   {0x24ea, 0x24ea},   {0x24f5, 0x24fd},
        {0x24ff, 0x24ff},   {0x2776, 0x277e},   {0x2780, 0x2788},   {0x278a, 0x2792},
        {0x10a40, 0x10a43}, {0x10e60, 0x10e68}, {0x11052, 0x1105a}, {0x1e8c7, 0x1e8cf},
        {0x1f100, 0x1f10a},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (c >= r[i][0] && c <= r[i][1]) return 1;
    return 0;
}

static int is_cased(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           utf8proc_islower(c) || utf8proc_isupper(c);
}

static int is_case_ignorable(int32_t c) {
    switch (c) {
    case 0x27:
    case 0x2e:
    case 0x3a:
    case 0xb7:
    case 0x387:
    case 0x55f:
    case 0x5f4:
    case 0x2018:
    case 0x2019:
    case 0x2024:
    case 0x2027:
    case 0xfe13:
    case 0xfe52:
    case 0xfe55:
    case 0xff07:
    case 0xff0e:
    case 0xff1a: return 1;
    default: break;
    }
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK;
}

/* Python's str.lower() of cp[i] in context: U+0130 becomes "i" U+0307 and a capital
 * sigma at the end of a word becomes final sigma. Writes 1 or 2 code points. */
static int py_lower(const int32_t *cp, size_t n, size_t i, int32_t out[2]) {
    int32_t c = cp[i];
    if (c < 0x80) {
        out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        return 1;
    }
    if (c == 0x130) {
        out[0] = 'i', out[1] = 0x307;
        return 2;
    }
    if (c == 0x3a3) {
        size_t j = i;
        int32_t prev = 0;
        int found = 0;
        while (j > 0) {
            prev = cp[--j];
            if (!is_case_ignorable(prev)) {
                found = 1;
                break;
            }
        }
        int fin = found && is_cased(prev);
        if (fin) {
            for (j = i + 1; j < n && is_case_ignorable(cp[j]); j++) {
            }
            fin = j == n || !is_cased(cp[j]);
        }
        out[0] = fin ? 0x3c2 : 0x3c3;
        return 1;
    }
    out[0] = utf8proc_tolower(c);
    return 1;
}

/* ---------------------------------------------------------------- */
/* ALBERT preprocessing                                              */
/* ---------------------------------------------------------------- */

eb_status eb_albert_preprocess(const eb_tokenizer *tok, const char *s, size_t n,
                               const eb_tokenizer_options *opt, eb_buf *out, eb_error *err) {
    const eb_allocator *a = tok->alloc;
    eb_status st = EB_OK;
    /* Worst case growth: NFKD expands one code point to at most 18; lower to 2. */
    size_t cap = n + 1;
    int32_t *cp = eb_calloc(a, cap, sizeof *cp);
    int32_t *tmp = NULL;
    if (!cp) return eb_fail(err, EB_ERR_NOMEM, "tokenizer: out of memory (%zu chars)", n);
    /* 1. " ".join(text.strip().split()) */
    size_t m = 0;
    int pending_space = 0;
    for (size_t i = 0; i < n;) {
        int32_t c;
        i += (size_t)eb_utf8_decode(s + i, n - i, &c);
        if (eb_py_isspace(c)) {
            if (m) pending_space = 1;
            continue;
        }
        if (pending_space) cp[m++] = ' ', pending_space = 0;
        cp[m++] = c;
    }
    /* 2. `` -> " then '' -> " */
    for (int pass = 0; pass < 2; pass++) {
        int32_t q = pass == 0 ? '`' : '\'';
        size_t k = 0;
        for (size_t i = 0; i < m; i++) {
            if (cp[i] == q && i + 1 < m && cp[i + 1] == q) {
                cp[k++] = '"';
                i++;
            } else {
                cp[k++] = cp[i];
            }
        }
        m = k;
    }
    /* 3. NFKD, drop combining marks (canonical combining class != 0).  Canonical
     * reordering only permutes marks among themselves, so dropping them makes a
     * per-character decomposition enough. */
    if (!opt->keep_accents) {
        size_t tcap = m + 16, k = 0;
        tmp = eb_malloc(a, tcap * sizeof *tmp);
        if (!tmp) {
            st = eb_fail(err, EB_ERR_NOMEM, "tokenizer: out of memory");
            goto done;
        }
        for (size_t i = 0; i < m; i++) {
            utf8proc_int32_t d[32];
            int lbc = 0;
            utf8proc_ssize_t nd =
                utf8proc_decompose_char(cp[i], d, 32, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &lbc);
            if (nd < 0 || nd > 32) {
                st = eb_fail(err, EB_ERR_INPUT, "tokenizer: cannot decompose U+%04X",
                             (unsigned)cp[i]);
                goto done;
            }
            for (utf8proc_ssize_t j = 0; j < nd; j++) {
                if (utf8proc_get_property(d[j])->combining_class != 0) continue;
                if (k == tcap) {
                    tcap *= 2;
                    int32_t *t2 = eb_realloc(a, tmp, tcap * sizeof *tmp);
                    if (!t2) {
                        st = eb_fail(err, EB_ERR_NOMEM, "tokenizer: out of memory");
                        goto done;
                    }
                    tmp = t2;
                }
                tmp[k++] = d[j];
            }
        }
        eb_free(a, cp);
        cp = tmp;
        tmp = NULL;
        m = k;
    }
    /* 4. lower case, then 5. UTF-8 */
    out->n = 0;
    if ((st = eb_buf_reserve(a, out, m * 8 + 1, err))) goto done;
    for (size_t i = 0; i < m; i++) {
        int32_t lc[2] = {cp[i], 0};
        int nl = opt->lower_case ? py_lower(cp, m, i, lc) : 1;
        for (int j = 0; j < nl; j++)
            out->n += (size_t)eb_utf8_encode(lc[j], out->p + out->n);
    }
    out->p[out->n] = 0;
done:
    eb_free(a, cp);
    eb_free(a, tmp);
    return st;
}

/* ---------------------------------------------------------------- */
/* SentencePiece normaliser                                          */
/* ---------------------------------------------------------------- */

/* Longest match of the darts-clone double array at the start of s. */
static int charsmap_match(const eb_tokenizer *tok, const uint8_t *s, size_t n, size_t *mlen,
                          uint32_t *value) {
    const uint32_t *u = tok->charsmap_units;
    size_t nu = tok->n_units;
    if (!nu) return 0;
#define DA_OFFSET(x) (((x) >> 10) << (((x) & (1u << 9)) >> 6))
#define DA_LABEL(x) ((x)&0x800000ffu)
#define DA_LEAF(x) (((x) >> 8) & 1u)
#define DA_VALUE(x) ((x)&0x7fffffffu)
    uint32_t pos = DA_OFFSET(u[0]);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        pos ^= s[i];
        if (pos >= nu) break;
        uint32_t unit = u[pos];
        if (DA_LABEL(unit) != s[i]) break;
        pos ^= DA_OFFSET(unit);
        if (DA_LEAF(unit)) {
            if (pos >= nu) break;
            *value = DA_VALUE(u[pos]);
            *mlen = i + 1;
            found = 1;
        }
    }
    return found;
}

/* Longest USER_DEFINED piece at the start of s (they bypass normalisation). */
static size_t user_defined_match(const eb_tokenizer *tok, const char *s, size_t n) {
    size_t best = 0;
    uint32_t h = EB_FNV_INIT;
    for (size_t k = 0; k < n && k < tok->max_piece_len; k++) {
        h = eb_fnv_step(h, (uint8_t)s[k]);
        const eb_prefix_slot *sl = eb_prefix_find(tok, h, s, k + 1);
        if (!sl) break;
        if (sl->full >= 0 && tok->pieces[sl->full].type == EB_PIECE_USER_DEFINED) best = k + 1;
    }
    return best;
}

/* One normalisation step: replacement (*r, *rn) for the *consumed bytes at s. */
static eb_status normalize_prefix(const eb_tokenizer *tok, const char *s, size_t n, const char **r,
                                  size_t *rn, size_t *consumed, eb_error *err) {
    if (tok->n_user_defined) {
        size_t u = user_defined_match(tok, s, n);
        if (u) {
            *r = s, *rn = u, *consumed = u;
            return EB_OK;
        }
    }
    size_t ml = 0;
    uint32_t v = 0;
    if (charsmap_match(tok, (const uint8_t *)s, n, &ml, &v)) {
        if (v >= tok->pool_size)
            return eb_fail(err, EB_ERR_FORMAT,
                           "%s: precompiled_charsmap entry %u is past its %zu-byte pool", tok->name,
                           v, tok->pool_size);
        *r = tok->charsmap_pool + v;
        *rn = strlen(*r); /* the pool ends with NUL */
        *consumed = ml;
        return EB_OK;
    }
    /* One character, or U+FFFD for one byte of malformed UTF-8. */
    size_t len = eb_utf8_valid(s, 1) ? 1 : 0;
    for (size_t k = 2; !len && k <= 4 && k <= n; k++)
        if (eb_utf8_valid(s, k)) len = k;
    if (!len) {
        *r = "\xef\xbf\xbd", *rn = 3, *consumed = 1;
    } else {
        *r = s, *rn = len, *consumed = len;
    }
    return EB_OK;
}

eb_status eb_spm_normalize(const eb_tokenizer *tok, const char *s, size_t n, eb_buf *out,
                           eb_error *err) {
    const eb_allocator *a = tok->alloc;
    static const char ws[] = "\xe2\x96\x81"; /* U+2581 */
    eb_status st;
    const char *r;
    size_t rn, used;
    out->n = 0;
    if ((st = eb_buf_reserve(a, out, n * 3 + 4, err))) return st;
    out->p[0] = 0;
    if (tok->remove_extra_whitespaces) {
        while (n) {
            if ((st = normalize_prefix(tok, s, n, &r, &rn, &used, err))) return st;
            if (!(rn == 1 && r[0] == ' ')) break;
            s += used, n -= used;
        }
    }
    if (!n) return EB_OK;
    if (tok->add_dummy_prefix) {
        if (tok->escape_whitespaces)
            st = eb_buf_append(a, out, ws, 3, err);
        else
            st = eb_buf_append(a, out, " ", 1, err);
        if (st) return st;
    }
    int prev_space = tok->remove_extra_whitespaces;
    while (n) {
        if ((st = normalize_prefix(tok, s, n, &r, &rn, &used, err))) return st;
        if (prev_space)
            while (rn && r[0] == ' ')
                r++, rn--;
        if (rn) {
            for (size_t i = 0; i < rn; i++) {
                if (tok->escape_whitespaces && r[i] == ' ')
                    st = eb_buf_append(a, out, ws, 3, err);
                else
                    st = eb_buf_append(a, out, r + i, 1, err);
                if (st) return st;
            }
            prev_space = r[rn - 1] == ' ';
        }
        s += used, n -= used;
        if (!tok->remove_extra_whitespaces) prev_space = 0;
    }
    if (tok->remove_extra_whitespaces) {
        const char *sp = tok->escape_whitespaces ? ws : " ";
        size_t sl = tok->escape_whitespaces ? 3 : 1;
        while (out->n >= sl && !memcmp(out->p + out->n - sl, sp, sl))
            out->n -= sl;
        out->p[out->n] = 0;
    }
    return EB_OK;
}
