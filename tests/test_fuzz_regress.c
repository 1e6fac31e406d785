/* test_fuzz_regress.c - every input the fuzzers (fuzz/) found a problem with
 * is kept in tests/data/fuzz/<reader>/; each is fed to its reader the same
 * way the harness does, and must give success or a clean error: a known
 * status with a message, nothing leaked (ASan/LSan in `make SAN=1 test`). */
#include "testutil.h"

#include <dirent.h>
#include <unistd.h>

#include "edgebert.h"
#include "edgebert/data.h"
#include "edgebert/hw.h"
#include "edgebert/runtime.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "util/util.h"

#define FUZZ_DIR "tests/data/fuzz"

static void check_status(const char *file, eb_status s, const eb_error *err) {
    if (s == EB_OK) return;
    if (s < EB_ERR_IO || s > EB_ERR_INTERRUPTED) fail_msg("%s: unknown status %d", file, (int)s);
    if (err->msg[0] == 0) fail_msg("%s: status %d without a message", file, (int)s);
}

static eb_status run_config(const uint8_t *d, size_t n, eb_error *err) {
    eb_config cfg;
    eb_model_extras x;
    return eb_config_parse((const char *)d, n, "fuzz", &cfg, &x, err);
}

static eb_status run_safetensors(const uint8_t *d, size_t n, eb_error *err) {
    eb_safetensors st;
    eb_status s = eb_st_parse(d, n, "fuzz", NULL, &st, err);
    if (s != EB_OK) return s;
    for (int i = 0; i < st.n; i++) {
        const eb_st_tensor *t = &st.tensors[i];
        assert_true(t->nbytes <= n);
        float *out = malloc(sizeof(float) * (t->numel ? t->numel : 1));
        assert_non_null(out);
        eb_st_to_f32(t, out);
        free(out);
    }
    eb_st_close(&st);
    return s;
}

static eb_status run_spiece(const uint8_t *d, size_t n, eb_error *err) {
    eb_tokenizer *tok = NULL;
    eb_status s = eb_tokenizer_load_buffer(d, n, "fuzz", NULL, &tok, err);
    if (s != EB_OK) return s;
    static eb_encoding enc;
    eb_error e2;
    eb_tokenize(tok, "Hello, World! It's a  gorgeous movie.", "Is it?", 64, &enc, &e2);
    eb_tokenizer_free(tok);
    return s;
}

static eb_status run_bundle(const uint8_t *d, size_t n, eb_error *err) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/eb_fuzz_regress_%d.ebb", (int)getpid());
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) fwrite(d, 1, n, f);
    fclose(f);
    eb_model *m = NULL;
    eb_status s = eb_model_load(path, NULL, &m, err);
    if (s == EB_OK) {
        eb_context *ctx;
        eb_error e2;
        if (eb_context_new(m, &ctx, &e2) == EB_OK) {
            static const int32_t ids[] = {2, 5, 7, 11, 3};
            eb_result r;
            for (int t = 0; t < eb_model_num_tasks(m); t++) {
                eb_run_params p = eb_run_params_default();
                p.task = eb_model_task_name(m, t);
                eb_classify_ids(ctx, ids, NULL, 5, &p, &r, &e2);
            }
            eb_context_free(ctx);
        }
    }
    eb_model_free(m);
    char *json = NULL;
    eb_error e3 = {0};
    eb_status si = eb_model_info_json(path, &json, &e3);
    check_status("info", si, &e3);
    free(json);
    unlink(path);
    return s;
}

static eb_status run_modeldir(const uint8_t *d, size_t n, eb_error *err) {
    if (n < 4) return EB_OK;
    size_t k = (size_t)d[0] | (size_t)d[1] << 8 | (size_t)d[2] << 16 | (size_t)d[3] << 24;
    if (k > n - 4) return EB_OK;
    char dir[64], path[128];
    snprintf(dir, sizeof dir, "/tmp/eb_fuzz_regress_dir_%d", (int)getpid());
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(eb_write_file_atomic(path, d + 4, k, NULL), EB_OK);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(eb_write_file_atomic(path, d + 4 + k, n - 4 - k, NULL), EB_OK);
    eb_model *m = NULL;
    eb_status s = eb_model_load(dir, NULL, &m, err);
    eb_model_free(m);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return s;
}

static eb_status run_glue(const uint8_t *d, size_t n, eb_error *err) {
    if (n < 1) return EB_OK;
    const eb_task_info *ti = eb_task_get((eb_task)(d[0] % EB_TASK_COUNT));
    eb_dataset *ds = NULL;
    eb_status s = eb_dataset_load_buffer(d + 1, n - 1, "fuzz", ti->name, NULL, &ds, err);
    if (s == EB_OK) eb_dataset_free(ds);
    return s;
}

static eb_status run_trace(const uint8_t *d, size_t n, eb_error *err) {
    eb_entropy_trace t;
    eb_status s = eb_entropy_trace_parse((const char *)d, n, "fuzz", NULL, &t, err);
    if (s == EB_OK) eb_entropy_trace_free(&t);
    return s;
}

static eb_status run_lut(const uint8_t *d, size_t n, eb_error *err) {
    if (n < 1) return EB_OK;
    eb_exit_lut l;
    eb_status s =
        eb_exit_lut_parse((const char *)d + 1, n - 1, "fuzz", (int)(d[0] % 16) - 1, NULL, &l, err);
    if (s == EB_OK) {
        eb_exit_lut_predict(&l, 0.5, 0.3, 12);
        eb_exit_lut_free(&l);
    }
    return s;
}

static eb_status run_hwparams(const uint8_t *d, size_t n, eb_error *err) {
    eb_hw_params p;
    eb_hw_params_default(&p);
    return eb_hw_params_parse(&p, (const char *)d, n, "fuzz", err);
}

typedef eb_status (*reader_fn)(const uint8_t *, size_t, eb_error *);

/* Feed every file of tests/data/fuzz/<reader> to fn; returns the count. */
static int feed_dir(const char *reader, reader_fn fn) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", FUZZ_DIR, reader);
    DIR *dp = opendir(dir);
    if (!dp) return 0;
    int count = 0;
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.') continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        char *data;
        size_t n;
        eb_error err = {0};
        assert_int_equal(eb_read_file(path, NULL, 0, &data, &n, &err), EB_OK);
        /* an exact-size copy, so ASan sees reads past the end (no NUL after it) */
        uint8_t *copy = malloc(n ? n : 1);
        assert_non_null(copy);
        memcpy(copy, data, n);
        free(data);
        memset(&err, 0, sizeof err);
        eb_status s = fn(copy, n, &err);
        check_status(path, s, &err);
        fprintf(stderr, "  %s: %s%s%s\n", path, eb_status_name(s), s ? ": " : "", s ? err.msg : "");
        free(copy);
        count++;
    }
    closedir(dp);
    return count;
}

static void test_regressions(void **state) {
    (void)state;
    static const struct {
        const char *name;
        reader_fn fn;
    } readers[] = {
        {"config", run_config},     {"safetensors", run_safetensors},
        {"spiece", run_spiece},     {"bundle", run_bundle},
        {"glue", run_glue},         {"trace", run_trace},
        {"lut", run_lut},           {"hwparams", run_hwparams},
        {"modeldir", run_modeldir},
    };
    int total = 0;
    for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++)
        total += feed_dir(readers[i].name, readers[i].fn);
    if (total == 0) fail_msg("no inputs under %s (run from the repository root)", FUZZ_DIR);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regressions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
