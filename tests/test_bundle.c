/* test_bundle.c - bundle integrity: the checksums cover every byte of the
 * file (checked here with xxHash directly and with the test's own section
 * walk), a changed byte in any section is refused with an error naming that
 * section, truncation and wrong format or version fields are refused, and a
 * version 1 bundle (no checksums) still loads, with a warning through the log
 * callback, and is resealed into exactly what the packer writes. */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "edgebert.h"
#include "edgebert/fixedmem.h"
#include "model/bundle.h"
#include "tinymodel.h"

#define A64(x) (((x) + 63) & ~(size_t)63)

typedef struct packed {
    char dir[64];
    uint8_t *d; /* the packed (current version) file */
    size_t n, h, p;
} packed;

static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A tiny model with off-ramps and an exit-predictor table, packed with
 * sparse embeddings (so every kind of section is there).  0 when the shared
 * tokenizer is missing (a bundle carries one). */
static int make_packed(packed *b) {
    char spm[400];
    if (!eb_test_data_path(spm, sizeof spm, "albert/spiece.model")) return 0;
    char lut[64];
    snprintf(lut, sizeof lut, "/tmp/eb_test_bundle_lut_%d.csv", (int)getpid());
    FILE *f = fopen(lut, "w");
    assert_non_null(f);
    fputs("0.0,0.05,0.02\n0.3,0.4,0.1\n0.6,0.7,0.5\n", f);
    fclose(f);
    tiny_spec s = tiny_default();
    s.spiece = spm;
    s.lut = lut;
    tiny_make(b->dir, &s);
    unlink(lut);
    char out[200];
    snprintf(out, sizeof out, "%s/m.ebb", b->dir);
    eb_pack_task t = {"sst2", b->dir};
    eb_pack_params pp = eb_pack_params_default();
    pp.emb_keep = 0.5;
    eb_error err = {0};
    if (eb_bundle_pack(out, &t, 1, &pp, &err) != EB_OK) fail_msg("pack: %s", err.msg);
    char *d;
    assert_int_equal(eb_read_file(out, NULL, 0, &d, &b->n, NULL), EB_OK);
    b->d = (uint8_t *)d;
    assert_true(b->n > 64);
    b->h = rd64(b->d + 16);
    b->p = rd64(b->d + 24);
    return 1;
}

static void drop_packed(packed *b) {
    free(b->d);
    tiny_remove(b->dir);
}

/* ---- the test's own reading of the directory --------------------------- */

typedef struct sect {
    size_t off, bytes, end;
    cJSON *desc;
    char label[200]; /* what the loader's message must name */
} sect;

static int sect_cmp(const void *a, const void *b) {
    const sect *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static void add(sect *s, int *n, cJSON *desc, const char *label) {
    assert_true(*n < 512);
    s[*n].off = (size_t)cJSON_GetObjectItem(desc, "off")->valuedouble;
    s[*n].bytes = (size_t)cJSON_GetObjectItem(desc, "bytes")->valuedouble;
    s[*n].desc = desc;
    snprintf(s[*n].label, sizeof s[*n].label, "%s", label);
    (*n)++;
}

/* Every section the JSON names, sorted, with its checksummed end (the next
 * section's start, the last one the payload's end). */
static int sections(cJSON *root, size_t psize, sect *s) {
    int n = 0;
    char label[200];
    cJSON *tok = cJSON_GetObjectItem(root, "tokenizer");
    if (tok) add(s, &n, tok, "the tokenizer");
    for (cJSON *it = cJSON_GetObjectItem(root, "shared")->child; it; it = it->next) {
        snprintf(label, sizeof label, "shared tensor '%s'", it->string);
        add(s, &n, it, label);
    }
    for (cJSON *jt = cJSON_GetObjectItem(root, "tasks")->child; jt; jt = jt->next) {
        const char *tn = cJSON_GetObjectItem(jt, "name")->valuestring;
        for (cJSON *it = cJSON_GetObjectItem(jt, "tensors")->child; it; it = it->next) {
            snprintf(label, sizeof label, "tensor '%s' of task %s", it->string, tn);
            add(s, &n, it, label);
        }
        cJSON *lut = cJSON_GetObjectItem(jt, "lut");
        if (lut) {
            snprintf(label, sizeof label, "the exit-predictor table of task %s", tn);
            add(s, &n, lut, label);
        }
    }
    qsort(s, (size_t)n, sizeof *s, sect_cmp);
    for (int i = 0; i < n; i++) s[i].end = i + 1 < n ? s[i + 1].off : psize;
    return n;
}

/* An image written by the test itself: version 1 (40-byte header, no
 * checksums) or 2 (checksums computed here), with the given version numbers
 * in the fixed header and in the JSON. */
static uint8_t *make_image(const packed *b, int version, int fixed_version, int json_version,
                           const char *format, size_t *n_out) {
    cJSON *root = cJSON_ParseWithLength((const char *)b->d + 64, b->h);
    assert_non_null(root);
    size_t psize = b->n - b->p;
    const uint8_t *payload = b->d + b->p;
    sect s[512];
    int n = sections(root, psize, s);
    for (int i = 0; i < n; i++) {
        cJSON_DeleteItemFromObject(s[i].desc, "xxh3");
        if (version >= 2) {
            char hex[17];
            snprintf(hex, sizeof hex, "%016llx",
                     (unsigned long long)XXH3_64bits(payload + s[i].off, s[i].end - s[i].off));
            cJSON_AddStringToObject(s[i].desc, "xxh3", hex);
        }
    }
    cJSON_ReplaceItemInObject(root, "version", cJSON_CreateNumber(json_version));
    if (format) cJSON_ReplaceItemInObject(root, "format", cJSON_CreateString(format));
    else cJSON_DeleteItemFromObject(root, "format");
    char *js = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t fixed = version == 1 ? 40 : 64, h = strlen(js), p = A64(fixed + h), total = p + psize;
    uint8_t *d = calloc(1, total);
    assert_non_null(d);
    memcpy(d, "EBBUNDLE", 8);
    d[8] = (uint8_t)fixed_version;
    wr64(d + 16, h);
    wr64(d + 24, p);
    wr64(d + 32, total);
    memcpy(d + fixed, js, h);
    memset(d + fixed + h, ' ', p - fixed - h);
    memcpy(d + p, payload, psize);
    if (version >= 2) {
        wr64(d + 40, XXH3_64bits(d + 64, p - 64));
        wr64(d + 56, XXH3_64bits(d, 56));
    }
    free(js);
    *n_out = total;
    return d;
}

/* ---- loading from memory, with the log captured ----------------------- */

typedef struct logbuf {
    int warnings;
    char last[1024];
} logbuf;

static void capture(void *ud, eb_log_level level, const char *msg) {
    logbuf *l = ud;
    if (level != EB_LOG_WARN) return;
    l->warnings++;
    snprintf(l->last, sizeof l->last, "%s", msg);
}

/* Load an image (copied to a 64-aligned buffer) and return the status; the
 * model is kept in *keep (when not NULL) with its buffer in *buf. */
static eb_status load_image(const uint8_t *d, size_t n, eb_error *err, logbuf *log, eb_model **keep,
                            void **buf) {
    void *a = aligned_alloc(64, A64(n ? n : 1));
    assert_non_null(a);
    memcpy(a, d, n);
    eb_load_params lp = eb_load_params_default();
    lp.pack_weights = 0;
    if (log) {
        lp.log = capture;
        lp.log_ud = log;
    }
    eb_model *m = NULL;
    eb_status s = eb_model_load_buffer(a, n, "img.ebb", &lp, &m, err);
    if (s == EB_OK && keep) {
        *keep = m;
        *buf = a;
        return s;
    }
    eb_model_free(m);
    free(a);
    return s;
}

/* Change byte `at` (xor x) of a copy; the load must fail naming `needle`. */
static void flip_check(const packed *b, size_t at, uint8_t x, const char *needle) {
    uint8_t *c = malloc(b->n);
    memcpy(c, b->d, b->n);
    c[at] ^= x;
    eb_error err = {0};
    eb_status s = load_image(c, b->n, &err, NULL, NULL, NULL);
    free(c);
    if (s == EB_OK || !strstr(err.msg, needle))
        fail_msg("byte %zu ^ 0x%02x: status %d, '%s' (wanted '%s')", at, x, s, err.msg, needle);
}

/* ---- tests ------------------------------------------------------------- */

/* The stored checksums are XXH3-64 of exactly the documented ranges, and
 * the ranges cover every byte of the file once. */
static void test_checksums_cover_every_byte(void **state) {
    (void)state;
    packed b;
    if (!make_packed(&b)) {
        fprintf(stderr, "SKIP: shared albert/spiece.model missing: bundles need a tokenizer\n");
        skip();
    }
    assert_int_equal(b.d[8], EB_BUNDLE_VERSION);
    assert_int_equal(EB_BUNDLE_VERSION, 2);
    assert_true(rd64(b.d + 56) == XXH3_64bits(b.d, 56));
    assert_true(rd64(b.d + 40) == XXH3_64bits(b.d + 64, b.p - 64));
    assert_true(rd64(b.d + 48) == 0);
    assert_true(b.p % 64 == 0 && b.p >= 64 + b.h);
    cJSON *root = cJSON_ParseWithLength((const char *)b.d + 64, b.h);
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItem(root, "format")->valuestring, "edgebert-bundle");
    assert_int_equal((int)cJSON_GetObjectItem(root, "version")->valuedouble, 2);
    sect s[512];
    size_t psize = b.n - b.p;
    int n = sections(root, psize, s), kinds[4] = {0, 0, 0, 0};
    size_t covered = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(s[i].off, covered); /* no gap, no overlap */
        assert_true(s[i].end >= s[i].off + s[i].bytes && s[i].end - s[i].off - s[i].bytes < 64);
        for (size_t k = s[i].off + s[i].bytes; k < s[i].end; k++) assert_int_equal(b.d[b.p + k], 0);
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx",
                 (unsigned long long)XXH3_64bits(b.d + b.p + s[i].off, s[i].end - s[i].off));
        assert_string_equal(cJSON_GetObjectItem(s[i].desc, "xxh3")->valuestring, hex);
        covered = s[i].end;
        kinds[0] += !strncmp(s[i].label, "the tokenizer", 13);
        kinds[1] += !strncmp(s[i].label, "shared", 6);
        kinds[2] += !strncmp(s[i].label, "tensor", 6);
        kinds[3] += !strncmp(s[i].label, "the exit-predictor", 18);
    }
    assert_int_equal(covered, psize);
    assert_int_equal(kinds[0], 1);
    assert_int_equal(kinds[1], 3);
    assert_true(kinds[2] > 10);
    assert_int_equal(kinds[3], 1);
    cJSON_Delete(root);
    /* and the file as packed loads */
    eb_error err = {0};
    logbuf log = {0};
    assert_int_equal(load_image(b.d, b.n, &err, &log, NULL, NULL), EB_OK);
    assert_int_equal(log.warnings, 0);
    drop_packed(&b);
}

/* A changed byte anywhere is refused, the error naming its section: every
 * byte of the fixed header, bytes of the JSON directory and its padding, and
 * in every payload section its first, middle and last bytes and padding. */
static void test_flip_any_section(void **state) {
    (void)state;
    packed b;
    if (!make_packed(&b)) {
        fprintf(stderr, "SKIP: shared albert/spiece.model missing: bundles need a tokenizer\n");
        skip();
    }
    for (size_t at = 0; at < 64; at++)
        flip_check(&b, at, 0xff, at < 8 ? "magic" : at < 12 ? "version" : "fixed header");
    for (size_t at = 16; at < 64; at++) flip_check(&b, at, 0x01, "checksum mismatch in the fixed header");
    for (size_t at = 64; at < b.p; at += (at < 64 + b.h ? 7 : 1))
        flip_check(&b, at, 0x04, "checksum mismatch in the JSON header");
    flip_check(&b, 64 + b.h - 1, 0x04, "JSON header"); /* its closing brace */
    cJSON *root = cJSON_ParseWithLength((const char *)b.d + 64, b.h);
    sect s[512];
    int n = sections(root, b.n - b.p, s), pads = 0;
    for (int i = 0; i < n; i++) {
        char needle[260];
        snprintf(needle, sizeof needle, "checksum mismatch in %s", s[i].label);
        size_t at[5] = {s[i].off, s[i].off + s[i].bytes / 2, s[i].off + s[i].bytes - 1,
                        s[i].off + s[i].bytes, s[i].end - 1};
        for (int k = 0; k < 5; k++) {
            if (at[k] >= s[i].end) continue; /* no padding after it */
            pads += k >= 3;
            flip_check(&b, b.p + at[k], k % 2 ? 0x80 : 0x01, needle);
        }
    }
    assert_true(pads > 0); /* padding was among them */
    cJSON_Delete(root);
    drop_packed(&b);
}

/* Cut files: refused before anything is decoded. */
static void test_truncated(void **state) {
    (void)state;
    packed b;
    if (!make_packed(&b)) {
        fprintf(stderr, "SKIP: shared albert/spiece.model missing: bundles need a tokenizer\n");
        skip();
    }
    size_t lens[] = {b.n - 1, b.n - 64, b.n / 2, b.p, 64 + b.h / 2, 64, 63, 40};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        eb_error err = {0};
        assert_int_equal(load_image(b.d, lens[i], &err, NULL, NULL, NULL), EB_ERR_FORMAT);
        if (!strstr(err.msg, "truncated")) fail_msg("%zu bytes: '%s'", lens[i], err.msg);
    }
    /* and one byte more than the header says */
    uint8_t *c = calloc(1, b.n + 1);
    memcpy(c, b.d, b.n);
    eb_error err = {0};
    assert_int_equal(load_image(c, b.n + 1, &err, NULL, NULL, NULL), EB_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "truncated"));
    free(c);
    drop_packed(&b);
}

/* Format and version fields (with valid checksums: the fields themselves
 * are checked). */
static void test_format_and_version(void **state) {
    (void)state;
    packed b;
    if (!make_packed(&b)) {
        fprintf(stderr, "SKIP: shared albert/spiece.model missing: bundles need a tokenizer\n");
        skip();
    }
    struct {
        int version, fixed, json;
        const char *format, *needle;
    } cases[] = {
        {2, 2, 2, "edgebert-bundle", NULL}, /* the test's writer agrees with the packer */
        {2, 3, 2, "edgebert-bundle", "version 3"},
        {2, 0, 2, "edgebert-bundle", "version 0"},
        {2, 2, 1, "edgebert-bundle", "\"version\" is 1"},
        {2, 2, 3, "edgebert-bundle", "\"version\" is 3"},
        {2, 2, 2, "edgebert-model", "\"format\" is \"edgebert-model\""},
        {2, 2, 2, NULL, "\"format\" is missing"},
        {1, 1, 2, "edgebert-bundle", "\"version\" is 2"},
        {1, 1, 1, "something", "\"format\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        uint8_t *d = make_image(&b, cases[i].version, cases[i].fixed, cases[i].json, cases[i].format, &n);
        if (!cases[i].needle) {
            assert_int_equal(n, b.n);
            assert_memory_equal(d, b.d, n);
        }
        eb_error err = {0};
        eb_status s = load_image(d, n, &err, NULL, NULL, NULL);
        free(d);
        if (!cases[i].needle) {
            assert_int_equal(s, EB_OK);
            continue;
        }
        if (s != EB_ERR_FORMAT || !strstr(err.msg, cases[i].needle))
            fail_msg("case %zu: status %d, '%s' (wanted '%s')", i, s, err.msg, cases[i].needle);
    }
    drop_packed(&b);
}

/* A version 1 bundle (no checksums) loads with a warning, answers as the
 * current one does, and is resealed (from memory and by
 * eb_bundle_rewrite from a file) into exactly the packer's file. */
static void test_old_format(void **state) {
    (void)state;
    packed b;
    if (!make_packed(&b)) {
        fprintf(stderr, "SKIP: shared albert/spiece.model missing: bundles need a tokenizer\n");
        skip();
    }
    size_t n1;
    uint8_t *v1 = make_image(&b, 1, 1, 1, "edgebert-bundle", &n1);
    assert_true(n1 < b.n); /* shorter header, no checksums */
    eb_error err = {0};
    logbuf log = {0};
    eb_model *m1 = NULL, *m2 = NULL;
    void *buf1 = NULL, *buf2 = NULL;
    assert_int_equal(load_image(v1, n1, &err, &log, &m1, &buf1), EB_OK);
    assert_int_equal(log.warnings, 1);
    assert_non_null(strstr(log.last, "version 1"));
    assert_non_null(strstr(log.last, "no checksums"));
    assert_non_null(strstr(log.last, "img.ebb"));
    logbuf log2 = {0};
    assert_int_equal(load_image(b.d, b.n, &err, &log2, &m2, &buf2), EB_OK);
    assert_int_equal(log2.warnings, 0);
    /* same answers */
    eb_context *c1, *c2;
    assert_int_equal(eb_context_new(m1, &c1, &err), EB_OK);
    assert_int_equal(eb_context_new(m2, &c2, &err), EB_OK);
    static const int32_t ids[] = {2, 17, 45, 99, 3};
    eb_run_params rp = eb_run_params_default();
    rp.policy = EB_POLICY_BASE;
    eb_result r1, r2;
    assert_int_equal(eb_classify_ids(c1, ids, NULL, 5, &rp, &r1, &err), EB_OK);
    assert_int_equal(eb_classify_ids(c2, ids, NULL, 5, &rp, &r2, &err), EB_OK);
    assert_int_equal(r1.label, r2.label);
    assert_memory_equal(r1.logits, r2.logits, sizeof r1.logits);
    eb_context_free(c1);
    eb_context_free(c2);
    eb_model_free(m1);
    eb_model_free(m2);
    free(buf1);
    free(buf2);
    uint8_t *img;
    size_t img_n;
    assert_int_equal(eb_bundle_reseal("v1", v1, n1, &img, &img_n, &err), EB_OK);
    assert_int_equal(img_n, b.n);
    assert_memory_equal(img, b.d, b.n);
    free(img);
    /* through a file, as `edgebert pack --from` does, in place */
    char path[200];
    snprintf(path, sizeof path, "%s/old.ebb", b.dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(v1, 1, n1, f), n1);
    fclose(f);
    log.warnings = 0;
    assert_int_equal(eb_bundle_rewrite(path, path, capture, &log, &err), EB_OK);
    assert_int_equal(log.warnings, 1); /* the input was read as version 1 */
    char *d;
    size_t n;
    assert_int_equal(eb_read_file(path, NULL, 0, &d, &n, NULL), EB_OK);
    assert_int_equal(n, b.n);
    assert_memory_equal(d, b.d, n);
    free(d);
    /* a damaged input is refused, never given fresh checksums */
    f = fopen(path, "wb"); /* the packed file with its last payload byte changed */
    b.d[b.n - 1] ^= 1;
    assert_int_equal(fwrite(b.d, 1, b.n, f), b.n);
    b.d[b.n - 1] ^= 1;
    fclose(f);
    char out[220];
    snprintf(out, sizeof out, "%s/new.ebb", b.dir);
    assert_int_equal(eb_bundle_rewrite(path, out, NULL, NULL, &err), EB_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "checksum mismatch"));
    assert_int_equal(access(out, F_OK), -1);
    free(v1);
    drop_packed(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checksums_cover_every_byte),
        cmocka_unit_test(test_flip_any_section),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_format_and_version),
        cmocka_unit_test(test_old_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
