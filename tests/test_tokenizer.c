/* test_tokenizer.c - the ALBERT SentencePiece tokenizer: upstream expected ids, all
 * SST-2 dev sentences, hand-built models checked by hand, hostile model files. */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <time.h>

#include "edgebert/tokenizer.h"
#include "tokenizer/tok_internal.h"

#define MODEL_REL "albert/spiece.model"

static eb_tokenizer *load_real(char *path, size_t cap) {
    if (!eb_test_data_path(path, cap, MODEL_REL)) return NULL;
    eb_error err;
    eb_tokenizer *tok = NULL;
    eb_status s = eb_tokenizer_load(path, NULL, &tok, &err);
    if (s != EB_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(s, EB_OK);
    return tok;
}

#define REQUIRE_REAL(tok)                                                                          \
    char path_[1024];                                                                              \
    eb_tokenizer *tok = load_real(path_, sizeof path_);                                            \
    if (!tok) {                                                                                    \
        fprintf(stderr, "SKIP: %s missing (shared data not present)\n", path_);                    \
        skip();                                                                                    \
    }

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    size_t got = fread(b, 1, (size_t)sz, f);
    fclose(f);
    b[got] = 0;
    *n = got;
    return b;
}

/* ------------------------------------------------------------------ */
/* Upstream test suites' expected values                               */
/* ------------------------------------------------------------------ */

static void test_upstream_cases(void **state) {
    (void)state;
    char jp[1024];
    EB_REQUIRE_DATA(jp, "albert/tokenizer_cases.json");
    REQUIRE_REAL(tok);
    size_t n;
    char *js = slurp(jp, &n);
    cJSON *root = cJSON_Parse(js);
    assert_non_null(root);
    cJSON *cases = cJSON_GetObjectItem(root, "cases");
    assert_true(cJSON_IsArray(cases));
    int ncase = 0, special = 1;
    cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *src = cJSON_GetStringValue(cJSON_GetObjectItem(c, "src"));
        const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(c, "text"));
        const char *pair = cJSON_GetStringValue(cJSON_GetObjectItem(c, "text_pair"));
        cJSON *ka = cJSON_GetObjectItem(c, "keep_accents");
        cJSON *want = cJSON_GetObjectItem(c, "ids");
        cJSON *want_types = cJSON_GetObjectItem(c, "token_type_ids");
        cJSON *want_pieces = cJSON_GetObjectItem(c, "pieces");
        assert_non_null(text);
        assert_non_null(src);
        eb_tokenizer_options opt = eb_tokenizer_options_default();
        opt.keep_accents = cJSON_IsTrue(ka);
        /* "same..." cases come from the same upstream test as the case before */
        if (strncmp(src, "same", 4) != 0) special = strstr(src, "no special tokens") == NULL;
        static eb_encoding enc;
        eb_error err;
        int nw = cJSON_GetArraySize(want);
        if (special) {
            assert_int_equal(eb_tokenize_ex(tok, text, pair, EB_MAX_TOKENS, &opt, &enc, &err),
                             EB_OK);
            assert_int_equal(enc.truncated, 0);
        } else {
            assert_null(pair);
            int got = 0;
            assert_int_equal(
                eb_tokenizer_encode_ex(tok, text, &opt, enc.ids, EB_MAX_TOKENS, &got, &err), EB_OK);
            enc.n = got;
        }
        if (enc.n != nw) fprintf(stderr, "case %d (%s): %d ids, want %d\n", ncase, text, enc.n, nw);
        assert_int_equal(enc.n, nw);
        for (int i = 0; i < nw; i++) {
            int w = cJSON_GetArrayItem(want, i)->valueint;
            if (enc.ids[i] != w)
                fprintf(stderr, "case %d: id %d is %d, want %d\n", ncase, i, enc.ids[i], w);
            assert_int_equal(enc.ids[i], w);
            if (want_types)
                assert_int_equal(enc.type_ids[i], cJSON_GetArrayItem(want_types, i)->valueint);
            else if (special)
                assert_int_equal(enc.type_ids[i], 0);
            if (want_pieces && w != eb_tokenizer_unk_id(tok))
                assert_string_equal(eb_tokenizer_piece(tok, enc.ids[i]),
                                    cJSON_GetStringValue(cJSON_GetArrayItem(want_pieces, i)));
        }
        ncase++;
    }
    assert_true(ncase >= 8);
    cJSON_Delete(root);
    free(js);
    eb_tokenizer_free(tok);
}

/* ------------------------------------------------------------------ */
/* All 872 SST-2 dev sentences                                         */
/* ------------------------------------------------------------------ */

static void test_sst2_dev_all(void **state) {
    (void)state;
    char tp[1024];
    EB_REQUIRE_DATA(tp, "albert/sst2_dev_ids.tsv");
    REQUIRE_REAL(tok);
    size_t n;
    char *data = slurp(tp, &n);
    char *save = NULL, *line = strtok_r(data, "\n", &save); /* header */
    int rows = 0, bad = 0;
    static eb_encoding enc;
    struct timespec t0, t1;
    double secs = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *t1p = strchr(line, '\t');
        assert_non_null(t1p);
        *t1p = 0;
        char *t2p = strchr(t1p + 1, '\t');
        assert_non_null(t2p);
        eb_error err;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(eb_tokenize(tok, line, NULL, EB_MAX_TOKENS, &enc, &err), EB_OK);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        secs += (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        char *p = t2p + 1, *end;
        int k = 0, ok = 1;
        for (;;) {
            long v = strtol(p, &end, 10);
            if (end == p) break;
            if (k >= enc.n || enc.ids[k] != v) ok = 0;
            k++;
            p = end;
        }
        if (k != enc.n) ok = 0;
        if (!ok && bad++ < 5) fprintf(stderr, "SST-2 row %d differs: %s\n", rows + 1, line);
        rows++;
    }
    fprintf(stderr, "SST-2 dev: %d sentences tokenized in %.3f s\n", rows, secs);
    assert_int_equal(rows, 872);
    assert_int_equal(bad, 0);
    free(data);
    eb_tokenizer_free(tok);
}

/* ------------------------------------------------------------------ */
/* Real model: lookups, truncation, bad input                           */
/* ------------------------------------------------------------------ */

static void test_lookups(void **state) {
    (void)state;
    REQUIRE_REAL(tok);
    assert_int_equal(eb_tokenizer_vocab_size(tok), 30000);
    assert_string_equal(eb_tokenizer_piece(tok, 0), "<pad>");
    assert_string_equal(eb_tokenizer_piece(tok, 1), "<unk>");
    assert_string_equal(eb_tokenizer_piece(tok, 13), "\xe2\x96\x81");
    assert_string_equal(eb_tokenizer_piece(tok, 14), "\xe2\x96\x81the");
    assert_null(eb_tokenizer_piece(tok, -1));
    assert_null(eb_tokenizer_piece(tok, 30000));
    assert_int_equal(eb_tokenizer_piece_id(tok, "[CLS]"), 2);
    assert_int_equal(eb_tokenizer_piece_id(tok, "\xe2\x96\x81the"), 14);
    assert_int_equal(eb_tokenizer_piece_id(tok, "no-such-piece"), -1);
    assert_int_equal(eb_tokenizer_piece_id(tok, ""), -1);
    assert_int_equal(eb_tokenizer_cls_id(tok), 2);
    assert_int_equal(eb_tokenizer_sep_id(tok), 3);
    assert_int_equal(eb_tokenizer_mask_id(tok), 4);
    assert_int_equal(eb_tokenizer_pad_id(tok), 0);
    assert_int_equal(eb_tokenizer_unk_id(tok), 1);
    assert_int_equal(eb_tokenizer_piece_type(tok, 2), EB_PIECE_CONTROL);
    assert_int_equal(eb_tokenizer_piece_type(tok, 9), EB_PIECE_USER_DEFINED);
    /* every piece maps back to its own id */
    for (int i = 0; i < 30000; i++)
        assert_int_equal(eb_tokenizer_piece_id(tok, eb_tokenizer_piece(tok, i)), i);
    eb_tokenizer_free(tok);
}

static void check_ids(const eb_encoding *e, const int *ids, const int *types, int n) {
    assert_int_equal(e->n, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(e->ids[i], ids[i]);
        assert_int_equal(e->type_ids[i], types[i]);
    }
}

static void test_truncation_by_hand(void **state) {
    (void)state;
    REQUIRE_REAL(tok);
    static eb_encoding e;
    eb_error err;
    const char *a = "the the the the the"; /* 5 x "▁the" (14) */
    const char *b = "a a a";               /* 3 x "▁a" (21) */
    /* fits exactly: 3 + 5 + 3 = 11 */
    assert_int_equal(eb_tokenize(tok, a, b, 11, &e, &err), EB_OK);
    int ids11[] = {2, 14, 14, 14, 14, 14, 3, 21, 21, 21, 3};
    int ty11[] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1};
    check_ids(&e, ids11, ty11, 11);
    assert_int_equal(e.truncated, 0);
    /* max 8: room 5 for 5+3 -> a 4, a 3, then a tie 3/3 cuts b -> 3 + 2 */
    assert_int_equal(eb_tokenize(tok, a, b, 8, &e, &err), EB_OK);
    int ids8[] = {2, 14, 14, 14, 3, 21, 21, 3};
    int ty8[] = {0, 0, 0, 0, 0, 1, 1, 1};
    check_ids(&e, ids8, ty8, 8);
    assert_int_equal(e.truncated, 1);
    /* max 5 with the longer second: b 3 vs a 1 -> room 2 -> b cut to 1 */
    assert_int_equal(eb_tokenize(tok, "a", b, 5, &e, &err), EB_OK);
    int ids5[] = {2, 21, 3, 21, 3};
    int ty5[] = {0, 0, 0, 1, 1};
    check_ids(&e, ids5, ty5, 5);
    assert_int_equal(e.truncated, 1);
    /* single text cut to 4 */
    assert_int_equal(eb_tokenize(tok, a, NULL, 4, &e, &err), EB_OK);
    int ids4[] = {2, 14, 14, 3};
    int ty4[] = {0, 0, 0, 0};
    check_ids(&e, ids4, ty4, 4);
    assert_int_equal(e.truncated, 1);
    /* bad max_len */
    assert_int_equal(eb_tokenize(tok, a, b, 4, &e, &err), EB_ERR_ARG);
    assert_int_equal(eb_tokenize(tok, a, NULL, EB_MAX_TOKENS + 1, &e, &err), EB_ERR_ARG);
    /* longer than EB_MAX_TOKENS is cut there */
    size_t big = 3 * 5000;
    char *t = malloc(big + 1);
    for (size_t i = 0; i < 5000; i++)
        memcpy(t + 3 * i, "ab ", 3);
    t[big] = 0;
    assert_int_equal(eb_tokenize(tok, t, NULL, 0, &e, &err), EB_OK);
    assert_int_equal(e.n, EB_MAX_TOKENS);
    assert_int_equal(e.truncated, 1);
    assert_int_equal(e.ids[EB_MAX_TOKENS - 1], 3);
    /* encode: count beyond cap, nothing written past it */
    int32_t few[3] = {-7, -7, -7};
    int cnt = 0;
    assert_int_equal(eb_tokenizer_encode(tok, a, few, 2, &cnt, &err), EB_OK);
    assert_int_equal(cnt, 5);
    assert_int_equal(few[0], 14);
    assert_int_equal(few[1], 14);
    assert_int_equal(few[2], -7);
    free(t);
    eb_tokenizer_free(tok);
}

static void test_bad_text(void **state) {
    (void)state;
    REQUIRE_REAL(tok);
    static eb_encoding e;
    eb_error err;
    const char *bad[] = {"abc\xff",      "\xc3",     "a\xc3(b",
                         "\xed\xa0\x80", "\xc0\xaf", "\xf8\x88\x80\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(eb_tokenize(tok, bad[i], NULL, 128, &e, &err), EB_ERR_INPUT);
        assert_non_null(strstr(err.msg, "UTF-8"));
        assert_int_equal(eb_tokenize(tok, "fine", bad[i], 128, &e, &err), EB_ERR_INPUT);
        int n;
        int32_t ids[8];
        assert_int_equal(eb_tokenizer_encode(tok, bad[i], ids, 8, &n, &err), EB_ERR_INPUT);
    }
    const char *empty[] = {"", " ", " \t\n  ", "\xe3\x80\x80"};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        assert_int_equal(eb_tokenize(tok, empty[i], NULL, 128, &e, &err), EB_ERR_INPUT);
        assert_non_null(strstr(err.msg, "empty"));
        assert_int_equal(eb_tokenize(tok, "fine", empty[i], 128, &e, &err), EB_ERR_INPUT);
    }
    assert_int_equal(eb_tokenize(tok, NULL, NULL, 128, &e, &err), EB_ERR_ARG);
    eb_tokenizer_free(tok);
}

/* ------------------------------------------------------------------ */
/* Hand-built models                                                    */
/* ------------------------------------------------------------------ */

typedef struct pbw {
    uint8_t b[4096];
    size_t n;
} pbw;

static void w_raw(pbw *w, const void *p, size_t n) {
    assert_true(w->n + n <= sizeof w->b);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void w_varint(pbw *w, uint64_t v) {
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) c |= 0x80;
        w_raw(w, &c, 1);
    } while (v);
}
static void w_key(pbw *w, int field, int wt) {
    w_varint(w, (uint64_t)field << 3 | (unsigned)wt);
}
static void w_bytes(pbw *w, int field, const void *p, size_t n) {
    w_key(w, field, 2);
    w_varint(w, n);
    w_raw(w, p, n);
}
static void w_int(pbw *w, int field, int64_t v) {
    w_key(w, field, 0);
    w_varint(w, (uint64_t)v);
}
static void w_float(pbw *w, int field, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    w_key(w, field, 5);
    w_raw(w, b, 4);
}
static void w_piece(pbw *w, const char *s, float score, int type) {
    pbw p = {.n = 0};
    w_bytes(&p, 1, s, strlen(s));
    w_float(&p, 2, score);
    if (type != 1) w_int(&p, 3, type);
    w_bytes(w, 1, p.b, p.n);
}

#define U "\xe2\x96\x81"
/* Toy vocabulary; the best segmentations below are worked out by hand. */
static const struct {
    const char *s;
    float score;
    int type;
} toy[] = {
    {"<unk>", 0, 2},   {"[CLS]", 0, 3},   {"[SEP]", 0, 3},     {U, -1.25f, 1},    {"a", -2, 1},
    {"b", -2.5f, 1},   {"ab", -3, 1},     {U "ab", -4.25f, 1}, {U "a", -1.5f, 1}, {"bb", -4, 1},
    {"<U>", 0, 4},     {"c", -0.1f, 5},   {"x", -3, 1},        {"z", -1, 1},      {"1", -1, 1},
    {",", -1, 1},      {"z1,", -0.5f, 1}, {U "z", -1, 1},      {"y1,", -0.5f, 1}, {"q1,", -0.5f, 1},
    {U "q", -0.5f, 1},
};
enum {
    T_UNK,
    T_CLS,
    T_SEP,
    T_WS,
    T_A,
    T_B,
    T_AB,
    T_WSAB,
    T_WSA,
    T_BB,
    T_USER,
    T_C,
    T_X,
    T_Z,
    T_1,
    T_COMMA
};

/* The toy model; charsmap (may be NULL) and extra raw bytes appended to the
 * normalizer_spec / the file for the hostile variants. */
static void build_toy(pbw *w, const void *charsmap, size_t cm_len, int model_type) {
    w->n = 0;
    for (size_t i = 0; i < sizeof toy / sizeof toy[0]; i++)
        w_piece(w, toy[i].s, toy[i].score, toy[i].type);
    pbw t = {.n = 0};
    w_int(&t, 3, model_type);
    w_int(&t, 40, 0);
    w_int(&t, 41, -1);
    w_int(&t, 99, 12345); /* unknown fields are skipped */
    w_key(&t, 98, 1);     /* fixed64 */
    w_raw(&t, "12345678", 8);
    w_bytes(w, 2, t.b, t.n);
    pbw nz = {.n = 0};
    w_bytes(&nz, 1, "toy", 3);
    if (charsmap) w_bytes(&nz, 2, charsmap, cm_len);
    w_bytes(w, 3, nz.b, nz.n);
}

static eb_tokenizer *load_pbw(const pbw *w, eb_status want) {
    eb_tokenizer *tok = NULL;
    eb_error err;
    eb_status s = eb_tokenizer_load_buffer(w->b, w->n, "toy.model", NULL, &tok, &err);
    if (s != want) fprintf(stderr, "status %d (%s), want %d\n", s, err.msg, want);
    assert_int_equal(s, want);
    if (s != EB_OK) {
        assert_null(tok);
        assert_non_null(strstr(err.msg, "toy.model"));
    }
    return tok;
}

static void raw_ids(const eb_tokenizer *tok, const char *text, const int *want, int nw) {
    eb_tokenizer_options o = eb_tokenizer_options_default();
    o.albert = 0;
    int32_t ids[64];
    int n = 0;
    eb_error err;
    assert_int_equal(eb_tokenizer_encode_ex(tok, text, &o, ids, 64, &n, &err), EB_OK);
    if (n != nw) fprintf(stderr, "'%s': %d ids, want %d\n", text, n, nw);
    assert_int_equal(n, nw);
    for (int i = 0; i < nw; i++)
        assert_int_equal(ids[i], want[i]);
}

static void test_toy_viterbi_by_hand(void **state) {
    (void)state;
    pbw w;
    build_toy(&w, NULL, 0, 1);
    eb_tokenizer *tok = load_pbw(&w, EB_OK);
    assert_int_equal(eb_tokenizer_vocab_size(tok), 21);
    /* "▁ab": ▁a+b = -4.0 beats ▁ab = -4.25, ▁+ab = -4.25, ▁+a+b = -5.75 */
    raw_ids(tok, "ab", (int[]){T_WSA, T_B}, 2);
    /* "▁abb": ▁a+bb = -5.5 beats ▁a+b+b = -6.5, ▁ab+b = -6.75 */
    raw_ids(tok, "abb", (int[]){T_WSA, T_BB}, 2);
    /* unknown "yv" merges into one <unk>; "▁" alone stays */
    raw_ids(tok, "yv", (int[]){T_WS, T_UNK}, 2);
    /* "▁x" is no piece: ▁ + x; "é" unknown between */
    raw_ids(tok, "x\xc3\xa9y x", (int[]){T_WS, T_X, T_UNK, T_WS, T_X}, 5);
    /* UNUSED "c" is never produced: unknown */
    raw_ids(tok, "ac", (int[]){T_WSA, T_UNK}, 2);
    /* USER_DEFINED "<U>" as a whole piece */
    raw_ids(tok, "a<U>b", (int[]){T_WSA, T_USER, T_B}, 3);
    /* control strings never come out of segmentation; split_special maps them */
    raw_ids(tok, "a[CLS]b", (int[]){T_WSA, T_CLS, T_WS, T_B}, 4);
    /* whitespace: leading/trailing removed, runs collapsed, dummy prefix */
    raw_ids(tok, "   a    b  ", (int[]){T_WSA, T_WS, T_B}, 3);
    static eb_encoding e;
    eb_error err;
    assert_int_equal(eb_tokenize(tok, "AB", "ab b", 16, &e, &err), EB_OK); /* lower-cased */
    int ids[] = {T_CLS, T_WSA, T_B, T_SEP, T_WSA, T_B, T_WS, T_B, T_SEP};
    int ty[] = {0, 0, 0, 0, 1, 1, 1, 1, 1};
    check_ids(&e, ids, ty, 9);

    /* ALBERT's digit-comma rule on pieces without a leading U+2581:
     * "▁az1," = ▁a + z1, (-2.0); "z1" re-encoded is "▁z1" = ▁z + 1 (-2.0, beats
     * ▁ + z + 1 = -3.25); ▁ is stripped from "▁z" (giving "z"), then ",". */
    int32_t got[16];
    int n = 0;
    assert_int_equal(eb_tokenizer_encode(tok, "az1,", got, 16, &n, &err), EB_OK);
    int w1[] = {T_WSA, T_Z, T_1, T_COMMA};
    assert_int_equal(n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(got[i], w1[i]);
    /* "y1" -> "▁" + <unk> y + 1: the lone "▁" is dropped */
    assert_int_equal(eb_tokenizer_encode(tok, "ay1,", got, 16, &n, &err), EB_OK);
    int w2[] = {T_WSA, T_UNK, T_1, T_COMMA};
    assert_int_equal(n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(got[i], w2[i]);
    /* "q1" -> ▁q + 1; "q" without ▁ is no piece: <unk> */
    assert_int_equal(eb_tokenizer_encode(tok, "aq1,", got, 16, &n, &err), EB_OK);
    assert_int_equal(n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(got[i], w2[i]);
    /* raw SentencePiece keeps the piece "z1," (id 16) */
    raw_ids(tok, "az1,", (int[]){T_WSA, 16}, 2);
    eb_tokenizer_free(tok);
}

static void test_digit_comma_real(void **state) {
    (void)state;
    REQUIRE_REAL(tok);
    /* SentencePiece alone: ▁in ▁1,000 ▁and ▁9, ▁yes (19 5925 17 3359 1643); ALBERT
     * splits "▁9," (ends in digit + comma) into ▁9 (561) and , (15); "▁1,000" stays. */
    int32_t ids[16];
    int n = 0;
    eb_error err;
    eb_tokenizer_options o = eb_tokenizer_options_default();
    o.albert = 0;
    assert_int_equal(eb_tokenizer_encode_ex(tok, "in 1,000 and 9, yes", &o, ids, 16, &n, &err),
                     EB_OK);
    int raw[] = {19, 5925, 17, 3359, 1643};
    assert_int_equal(n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ids[i], raw[i]);
    assert_int_equal(eb_tokenizer_encode(tok, "in 1,000 and 9, yes", ids, 16, &n, &err), EB_OK);
    int alb[] = {19, 5925, 17, 561, 15, 1643};
    assert_int_equal(n, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(ids[i], alb[i]);
    eb_tokenizer_free(tok);
}

static void test_python_char_classes(void **state) {
    (void)state;
    /* values of Python's str.isdigit() / str.isspace() */
    int32_t digit[] = {'0', '9', 0x663, 0x966, 0xb2, 0x2460, 0xff10, 0x1d7d8};
    int32_t nodigit[] = {'a', ',', 0xbd, 0x2155, 0x2160, 0x3007, 0};
    for (size_t i = 0; i < sizeof digit / sizeof digit[0]; i++)
        assert_true(eb_py_isdigit(digit[i]));
    for (size_t i = 0; i < sizeof nodigit / sizeof nodigit[0]; i++)
        assert_false(eb_py_isdigit(nodigit[i]));
    int32_t space[] = {' ',  '\t',   '\n',   0x0b,   0x0c,   '\r',   0x1c,   0x1f,   0x85,
                       0xa0, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000};
    int32_t nospace[] = {'a', 0x200b, 0xfeff, 0x180e, 0x1b, 0x2581};
    for (size_t i = 0; i < sizeof space / sizeof space[0]; i++)
        assert_true(eb_py_isspace(space[i]));
    for (size_t i = 0; i < sizeof nospace / sizeof nospace[0]; i++)
        assert_false(eb_py_isspace(nospace[i]));
}

/* A double array built by hand: "A" -> "a", "AB" -> "x".
 * unit[0]: root, offset 1.  'A' (0x41): pos 1^0x41 = 64, label 'A', leaf, offset 1 ->
 * value unit 65 (pool offset 0 = "a").  Then 'B' (0x42): pos 65^0x42 = 3, label 'B',
 * leaf, offset 4 -> value unit 7 (pool offset 2 = "x"). */
static size_t build_charsmap(uint8_t *out, uint32_t trie_bytes_override, int pool_nul) {
    uint32_t units[66] = {0};
    units[0] = 1u << 10;
    units[64] = (1u << 10) | (1u << 8) | 0x41;
    units[65] = (1u << 31) | 0;
    units[3] = (4u << 10) | (1u << 8) | 0x42;
    units[7] = (1u << 31) | 2;
    uint32_t tb = trie_bytes_override ? trie_bytes_override : (uint32_t)sizeof units;
    size_t n = 0;
    for (int i = 0; i < 4; i++)
        out[n++] = (uint8_t)(tb >> (8 * i));
    for (int u = 0; u < 66; u++)
        for (int i = 0; i < 4; i++)
            out[n++] = (uint8_t)(units[u] >> (8 * i));
    memcpy(out + n, "a\0x", 3);
    n += 3;
    out[n++] = pool_nul ? 0 : 'z';
    return n;
}

static void test_charsmap_by_hand(void **state) {
    (void)state;
    uint8_t cm[512];
    size_t cn = build_charsmap(cm, 0, 1);
    pbw w;
    build_toy(&w, cm, cn, 1);
    eb_tokenizer *tok = load_pbw(&w, EB_OK);
    eb_buf out = {0};
    eb_error err;
    assert_int_equal(eb_spm_normalize(tok, "AABA", 4, &out, &err), EB_OK);
    assert_string_equal(out.p, U "axa");
    assert_int_equal(eb_spm_normalize(tok, "  BAB  C ", 9, &out, &err), EB_OK);
    assert_string_equal(out.p, U "Bx" U "C");
    assert_int_equal(eb_spm_normalize(tok, "   ", 3, &out, &err), EB_OK);
    assert_int_equal(out.n, 0);
    /* raw SentencePiece: "AB" -> "▁x" -> ▁ + x */
    raw_ids(tok, "AB", (int[]){T_WS, T_X}, 2);
    free(out.p);
    eb_tokenizer_free(tok);

    /* bad charsmap sizes */
    size_t bad_sizes[] = {0, 3, 7, 264 + 4, 100000, 0xfffffffcu};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        cn = build_charsmap(cm, bad_sizes[i] ? (uint32_t)bad_sizes[i] : 0xffffffffu, 1);
        if (bad_sizes[i] == 0) memset(cm, 0, 4); /* trie size 0 */
        build_toy(&w, cm, cn, 1);
        load_pbw(&w, EB_ERR_FORMAT);
    }
    /* header only, pool without NUL */
    build_toy(&w, cm, 3, 1);
    load_pbw(&w, EB_ERR_FORMAT);
    cn = build_charsmap(cm, 0, 0);
    build_toy(&w, cm, cn, 1);
    load_pbw(&w, EB_ERR_FORMAT);
    /* a value unit pointing past the pool: found when used, a format error, no crash */
    cn = build_charsmap(cm, 0, 1);
    cm[4 + 7 * 4] = 200;
    build_toy(&w, cm, cn, 1);
    tok = load_pbw(&w, EB_OK);
    static eb_encoding e;
    assert_int_equal(eb_tokenize(tok, "AB", NULL, 16, &e, &err), EB_OK); /* lower-cased: no match */
    eb_tokenizer_options o = eb_tokenizer_options_default();
    o.albert = 0;
    assert_int_equal(eb_tokenize_ex(tok, "AB", NULL, 16, &o, &e, &err), EB_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "toy.model"));
    eb_tokenizer_free(tok);
}

static void test_bad_models(void **state) {
    (void)state;
    pbw w;
    /* unsupported model types */
    build_toy(&w, NULL, 0, 2);
    load_pbw(&w, EB_ERR_UNSUPPORTED);
    /* hand-made broken buffers */
    static const struct {
        const char *b;
        size_t n;
    } bad[] = {
        {"", 0},
        {"\x0a", 1},                                          /* key, no length */
        {"\x0a\x80", 2},                                      /* truncated varint */
        {"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11}, /* 70-bit varint */
        {"\x0a\x10"
         "ab",
         4},                                     /* length past the end */
        {"\x0a\x02\x0a\x05", 4},                 /* inner length past end */
        {"\x08\x01", 2},                         /* pieces as a varint */
        {"\x0b\x0c", 2},                         /* group wire type */
        {"\x00\x01", 2},                         /* field number 0 */
        {"\x0a\x00", 2},                         /* empty piece */
        {"\x0a\x03\x0a\x01x", 5},                /* no <unk>, no specs */
        {"\x0d\x01\x02\x03", 4},                 /* truncated fixed32 */
        {"\x09\x01\x02\x03\x04\x05\x06\x07", 8}, /* truncated fixed64 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        eb_tokenizer *tok = (eb_tokenizer *)&w;
        eb_error err;
        assert_int_equal(
            eb_tokenizer_load_buffer(bad[i].b, bad[i].n, "toy.model", NULL, &tok, &err),
            EB_ERR_FORMAT);
        assert_null(tok);
        assert_non_null(strstr(err.msg, "toy.model"));
    }
    /* structurally valid but wrong: each built from the toy model */
    struct {
        const char *what;
        int piece;
        const char *s;
        float score;
        int type;
    } mut[] = {
        {"duplicate piece", 12, "a", -3, 1}, {"second unknown", 12, "<unk2>", 0, 2},
        {"no unknown", 0, "<unk>", 0, 1},    {"NaN score", 4, "a", NAN, 1},
        {"type 7", 4, "a", -2, 7},           {"byte piece", 4, "<0x41>", 0, 6},
    };
    for (size_t m = 0; m < sizeof mut / sizeof mut[0]; m++) {
        w.n = 0;
        for (size_t i = 0; i < sizeof toy / sizeof toy[0]; i++) {
            if ((int)i == mut[m].piece)
                w_piece(&w, mut[m].s, mut[m].score, mut[m].type);
            else
                w_piece(&w, toy[i].s, toy[i].score, toy[i].type);
        }
        pbw t = {.n = 0};
        w_int(&t, 3, 1);
        w_bytes(&w, 2, t.b, t.n);
        w_bytes(&w, 3, "", 0);
        fprintf(stderr, "hostile: %s\n", mut[m].what);
        load_pbw(&w, mut[m].type == 6 ? EB_ERR_UNSUPPORTED : EB_ERR_FORMAT);
    }
    /* ids in trainer_spec out of range / not the unknown piece */
    int64_t idv[][2] = {{40, 5}, {43, 21}, {41, -2}, {42, 1LL << 40}};
    for (size_t m = 0; m < 4; m++) {
        build_toy(&w, NULL, 0, 1);
        pbw t = {.n = 0};
        w_int(&t, (int)idv[m][0], idv[m][1]);
        w_bytes(&w, 2, t.b, t.n); /* a second trainer_spec merges into the first */
        load_pbw(&w, EB_ERR_FORMAT);
    }
    /* missing file */
    eb_tokenizer *tok = NULL;
    eb_error err;
    assert_int_equal(eb_tokenizer_load("/nonexistent/dir/spiece.model", NULL, &tok, &err),
                     EB_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/spiece.model"));
    assert_null(tok);
}

/* Truncations, bit flips and random bytes of the real file: never crash, always a
 * format error naming the file (or, for flips, maybe a valid model that still works). */
static void test_hostile_real_file(void **state) {
    (void)state;
    char path[1024];
    EB_REQUIRE_DATA(path, MODEL_REL);
    size_t n;
    uint8_t *data = (uint8_t *)slurp(path, &n);
    assert_non_null(data);
    eb_tokenizer *tok = NULL;
    eb_error err;
    /* truncated: all of the first 300 offsets, then every 1009th, and the last 300 */
    int tried = 0;
    for (size_t cut = 0; cut < n; cut = cut < 300 ? cut + 1 : cut + 1009) {
        assert_int_equal(eb_tokenizer_load_buffer(data, cut, "cut.model", NULL, &tok, &err),
                         EB_ERR_FORMAT);
        assert_null(tok);
        assert_non_null(strstr(err.msg, "cut.model"));
        tried++;
    }
    for (size_t cut = n - 300; cut < n; cut++) {
        assert_int_equal(eb_tokenizer_load_buffer(data, cut, "cut.model", NULL, &tok, &err),
                         EB_ERR_FORMAT);
        tried++;
    }
    /* random bytes */
    uint64_t s = 99;
    uint8_t *rnd = malloc(4096);
    for (int t = 0; t < 300; t++) {
        size_t len = (size_t)(eb_test_rng(&s) % 4096);
        for (size_t i = 0; i < len; i++)
            rnd[i] = (uint8_t)eb_test_rng(&s);
        if (t % 3 == 0 && len) rnd[0] = 0x0a; /* look like a piece */
        eb_status st = eb_tokenizer_load_buffer(rnd, len, "rnd.model", NULL, &tok, &err);
        assert_int_equal(st, EB_ERR_FORMAT);
        assert_non_null(strstr(err.msg, "rnd.model"));
    }
    /* bit flips: any outcome but a crash; a model that loads must still tokenize */
    uint8_t *copy = malloc(n);
    static eb_encoding e;
    int loaded = 0;
    for (int t = 0; t < 200; t++) {
        memcpy(copy, data, n);
        for (int k = 0; k < 4; k++) {
            size_t at = (size_t)(eb_test_rng(&s) % n);
            if (t % 2) at = n - 1 - (size_t)(eb_test_rng(&s) % 240000); /* the charsmap */
            copy[at] ^= (uint8_t)(1u << (eb_test_rng(&s) % 8));
        }
        eb_status st = eb_tokenizer_load_buffer(copy, n, "flip.model", NULL, &tok, &err);
        if (st == EB_OK) {
            loaded++;
            eb_status t2 = eb_tokenize(tok, "Héllo, wörld! 12,000 ﬁne ＡＢＣ", "x y", 64, &e, &err);
            assert_true(t2 == EB_OK || t2 == EB_ERR_FORMAT);
            eb_tokenizer_free(tok);
        } else {
            assert_non_null(strstr(err.msg, "flip.model"));
        }
    }
    fprintf(stderr, "hostile: %d truncations, 300 random, 200 flipped (%d loaded)\n", tried,
            loaded);
    free(copy);
    free(rnd);
    free(data);
}

/* Random code points from every plane: never a crash, ids always in range. */
static void test_random_text(void **state) {
    (void)state;
    REQUIRE_REAL(tok);
    uint64_t s = 12345;
    static eb_encoding e;
    char text[512];
    int ok = 0;
    for (int t = 0; t < 1500; t++) {
        size_t n = 0;
        int len = 1 + (int)(eb_test_rng(&s) % 60);
        for (int i = 0; i < len; i++) {
            uint32_t r = (uint32_t)eb_test_rng(&s), c;
            switch (r % 5) {
            case 0:
            case 1: c = 0x20 + (r >> 8) % 0x5f; break;
            case 2: c = 0x80 + (r >> 8) % 0x780; break;
            case 3: c = 0x800 + (r >> 8) % 0xf800; break;
            default: c = 0x10000 + (r >> 8) % 0x100000; break;
            }
            if (c >= 0xd800 && c <= 0xdfff) c = 'x';
            n += (size_t)eb_utf8_encode((int32_t)c, text + n);
        }
        text[n] = 0;
        eb_error err;
        eb_status st = eb_tokenize(tok, text, (t & 1) ? "b" : NULL, 128, &e, &err);
        assert_true(st == EB_OK || st == EB_ERR_INPUT);
        if (st != EB_OK) continue;
        ok++;
        for (int i = 0; i < e.n; i++)
            assert_true(e.ids[i] >= 0 && e.ids[i] < 30000);
    }
    assert_true(ok > 1400);
    eb_tokenizer_free(tok);
}

/* ------------------------------------------------------------------ */
/* Allocator                                                            */
/* ------------------------------------------------------------------ */

typedef struct counting {
    long allocs, frees;
} counting;
static void *c_alloc(void *ud, size_t n) {
    ((counting *)ud)->allocs++;
    return malloc(n);
}
static void *c_realloc(void *ud, void *p, size_t n) {
    if (!p) ((counting *)ud)->allocs++;
    return realloc(p, n);
}
static void c_free(void *ud, void *p) {
    if (p) ((counting *)ud)->frees++;
    free(p);
}

static void test_allocator(void **state) {
    (void)state;
    char path[1024];
    EB_REQUIRE_DATA(path, MODEL_REL);
    counting c = {0, 0};
    eb_allocator a = {c_alloc, c_realloc, c_free, &c};
    eb_tokenizer *tok = NULL;
    eb_error err;
    assert_int_equal(eb_tokenizer_load(path, &a, &tok, &err), EB_OK);
    static eb_encoding e;
    assert_int_equal(eb_tokenize(tok, "Counting 1,000 allocations.", "Fine.", 64, &e, &err), EB_OK);
    assert_true(c.allocs > 0);
    eb_tokenizer_free(tok);
    assert_int_equal(c.allocs, c.frees);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upstream_cases),    cmocka_unit_test(test_sst2_dev_all),
        cmocka_unit_test(test_lookups),           cmocka_unit_test(test_truncation_by_hand),
        cmocka_unit_test(test_bad_text),          cmocka_unit_test(test_toy_viterbi_by_hand),
        cmocka_unit_test(test_charsmap_by_hand),  cmocka_unit_test(test_bad_models),
        cmocka_unit_test(test_hostile_real_file), cmocka_unit_test(test_allocator),
        cmocka_unit_test(test_digit_comma_real),  cmocka_unit_test(test_python_char_classes),
        cmocka_unit_test(test_random_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
